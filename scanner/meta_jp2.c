/*
 * meta_jp2.c — JPEG 2000: JP2/JPX box walk and raw codestream main header.
 *
 * Boxes nest (jp2h holds ihdr, asoc holds xml ...), so the walk recurses
 * into known superboxes only, with the depth capped at CBP_META_BOX_DEPTH
 * and every box counted against CBP_META_SEGMENTS.  A box is handed to its
 * reader as a sub-cursor of its declared length, clipped to what is there:
 * a box that claims more than remains is reported, and what it does hold is
 * still read (a truncated file keeps its xml; a prefix still gives the
 * codestream's SIZ).
 *
 * The codestream reader walks only the main header (SOC, SIZ, ... up to the
 * first SOT): SIZ gives the size when there is no ihdr, COM segments with
 * Latin-1 registration give J2K:COM.  Tile data is never looked at.
 */
#include <string.h>

#include "cbp_err.h"
#include "cbp_meta_int.h"

static const unsigned char uuid_xmp[16] = {
	0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8,
	0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
};
static const unsigned char uuid_iptc[16] = {
	0x33, 0xC7, 0xA4, 0xD2, 0xB8, 0x1D, 0x47, 0x23,
	0xA0, 0xBA, 0xF1, 0xA3, 0xE0, 0x97, 0xAD, 0x38,
};
static const char uuid_exif[] = "JpgTiffExif->JP2";	/* 16 bytes used */

#define J2K_SOC 0xFF4F
#define J2K_SIZ 0xFF51
#define J2K_COM 0xFF64
#define J2K_SOT 0xFF90
#define J2K_SOD 0xFF93
#define J2K_EOC 0xFFD9

static void boxes(struct meta_ctx *ctx, struct cbp_cursor c, int depth,
    int complete);

/* SIZ: Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, ...  (marker already read) */
static int
j2k_siz(struct meta_ctx *ctx, struct cbp_cursor *c, int complete)
{
	struct cbp_cursor seg;
	uint32_t x, y, xo, yo;
	uint16_t len;

	if (cbp_cur_be16(c, &len) != CBP_OK) {
		meta_short(ctx, complete, "J2K SIZ segment runs past end of data");
		return -1;
	}
	if (len < 38) {
		meta_corrupt(ctx, "J2K SIZ segment too short");
		return -1;
	}
	if (cbp_cur_sub(c, (size_t)len - 2, &seg) != CBP_OK) {
		meta_short(ctx, complete, "J2K SIZ segment runs past end of data");
		return -1;
	}
	(void)cbp_cur_skip(&seg, 2);
	(void)cbp_cur_be32(&seg, &x);
	(void)cbp_cur_be32(&seg, &y);
	(void)cbp_cur_be32(&seg, &xo);
	(void)cbp_cur_be32(&seg, &yo);
	if (xo >= x || yo >= y) {
		meta_corrupt(ctx, "J2K SIZ image offset is beyond its extent");
		return 0;
	}
	/* ihdr, when there is one, came first and wins. */
	if (ctx->m->width == 0 && ctx->m->height == 0) {
		ctx->m->width = x - xo;
		ctx->m->height = y - yo;
	}
	return 0;
}

static void
j2k_com(struct meta_ctx *ctx, struct cbp_cursor seg)
{
	uint16_t reg;

	/* Registration 1 = Latin-1 text; 0 = binary, not text. */
	if (cbp_cur_be16(&seg, &reg) == CBP_OK && reg == 1)
		meta_add(ctx, "J2K:COM", NULL, 0, 0, seg.p, seg.left, META_LATIN1);
}

void
meta_j2k(struct meta_ctx *ctx, const unsigned char *p, size_t n, int complete)
{
	struct cbp_cursor c = cbp_cursor_make(p, n), seg;
	uint16_t marker, len;

	if (!cbp_cur_peek_eq(&c, "\xFF\x4F\xFF\x51", 4)) {
		if (n < 4)
			meta_short(ctx, complete, "J2K codestream runs past end of data");
		else
			meta_corrupt(ctx, "J2K codestream does not start with SOC and SIZ");
		return;
	}
	(void)cbp_cur_skip(&c, 4);
	if (j2k_siz(ctx, &c, complete) != 0)
		return;
	while (!ctx->nomem) {
		if (cbp_cur_be16(&c, &marker) != CBP_OK) {
			meta_short(ctx, complete, "J2K main header runs past end of data");
			return;
		}
		if (marker == J2K_SOT || marker == J2K_SOD || marker == J2K_EOC)
			return;		/* end of the main header */
		if ((marker & 0xFF00) != 0xFF00) {
			meta_corrupt(ctx, "J2K main header marker expected");
			return;
		}
		if (!meta_segment(ctx))
			return;
		if (cbp_cur_be16(&c, &len) != CBP_OK) {
			meta_short(ctx, complete, "J2K main header runs past end of data");
			return;
		}
		if (len < 2) {
			meta_corrupt(ctx, "J2K segment length below 2");
			return;
		}
		if (cbp_cur_sub(&c, (size_t)len - 2, &seg) != CBP_OK) {
			meta_short(ctx, complete,
			    "J2K segment length runs past end of data");
			return;
		}
		if (marker == J2K_COM)
			j2k_com(ctx, seg);
	}
}

static void
ihdr(struct meta_ctx *ctx, struct cbp_cursor c)
{
	uint32_t h, w;

	if (cbp_cur_be32(&c, &h) != CBP_OK || cbp_cur_be32(&c, &w) != CBP_OK) {
		meta_corrupt(ctx, "JP2 ihdr box too short");
		return;
	}
	/* Height first: the one JP2 field order that trips parsers. */
	if (ctx->m->width == 0 && ctx->m->height == 0) {
		ctx->m->height = h;
		ctx->m->width = w;
	}
}

static void
uuid_box(struct meta_ctx *ctx, struct cbp_cursor c, int complete)
{
	const unsigned char *id;

	if (cbp_cur_bytes(&c, 16, &id) != CBP_OK)
		return;		/* too short to be anything we read */
	if (memcmp(id, uuid_xmp, 16) == 0) {
		meta_add(ctx, "XMP", NULL, 0, 0, c.p, c.left, META_RAW);
	} else if (memcmp(id, uuid_exif, 16) == 0) {
		/* Some writers keep the JPEG "Exif\0\0" prefix. */
		if (cbp_cur_peek_eq(&c, "Exif\0", 5) && c.left >= 6)
			(void)cbp_cur_skip(&c, 6);
		meta_tiff(ctx, c.p, c.left, META_TIFF_INPUT |
		    (complete ? 0 : META_TIFF_PREFIX));
	} else if (memcmp(id, uuid_iptc, 16) == 0) {
		meta_iim(ctx, c.p, c.left);
	}
}

static int
is_superbox(const unsigned char *type)
{
	static const char super[][4] = {
		{ 'j', 'p', '2', 'h' }, { 'a', 's', 'o', 'c' },
		{ 'u', 'i', 'n', 'f' }, { 'r', 'e', 's', ' ' },
		{ 'j', 'p', 'c', 'h' }, { 'j', 'p', 'l', 'h' },
	};
	size_t i;

	for (i = 0; i < sizeof(super) / sizeof(super[0]); i++)
		if (memcmp(type, super[i], 4) == 0)
			return 1;
	return 0;
}

static void
box(struct meta_ctx *ctx, const unsigned char *type, struct cbp_cursor c,
    int depth, int complete)
{
	if (is_superbox(type)) {
		if (depth + 1 >= CBP_META_BOX_DEPTH) {
			meta_limited(ctx);
			return;
		}
		boxes(ctx, c, depth + 1, complete);
	} else if (memcmp(type, "ihdr", 4) == 0) {
		ihdr(ctx, c);
	} else if (memcmp(type, "xml ", 4) == 0) {
		meta_add(ctx, "JP2:xml", NULL, 0, 0, c.p, c.left, META_RAW);
	} else if (memcmp(type, "uuid", 4) == 0) {
		uuid_box(ctx, c, complete);
	} else if (memcmp(type, "jp2c", 4) == 0) {
		meta_j2k(ctx, c.p, c.left, complete);
	}
}

/*
 * Read one box header; sets *content to the box's bytes (clipped to what
 * remains) and *whole to 1 if the box was all there.  -1 to stop.
 */
static int
box_header(struct meta_ctx *ctx, struct cbp_cursor *c, int complete,
    const unsigned char **type, struct cbp_cursor *content, int *whole)
{
	uint32_t len32;
	uint64_t len;
	size_t hdr = 8;

	if (cbp_cur_be32(c, &len32) != CBP_OK || cbp_cur_bytes(c, 4, type) != CBP_OK) {
		meta_short(ctx, complete, "JP2 box header runs past end of data");
		return -1;
	}
	len = len32;
	if (len32 == 1) {
		if (cbp_cur_be64(c, &len) != CBP_OK) {
			meta_short(ctx, complete, "JP2 box header runs past end of data");
			return -1;
		}
		hdr = 16;
	} else if (len32 == 0) {
		/* "To the end": whole only if the data we have is the file. */
		(void)cbp_cur_sub(c, c->left, content);
		*whole = complete;
		return 0;
	}
	if (len < hdr) {
		meta_corrupt(ctx, "JP2 box length smaller than its header");
		return -1;
	}
	len -= hdr;
	*whole = len <= c->left;
	if (!*whole) {
		meta_short(ctx, complete, "JP2 box length runs past end of data");
		len = c->left;
	}
	(void)cbp_cur_sub(c, (size_t)len, content);
	return 0;
}

static void
boxes(struct meta_ctx *ctx, struct cbp_cursor c, int depth, int complete)
{
	struct cbp_cursor content;
	const unsigned char *type;
	int whole;

	while (c.left > 0 && !ctx->nomem) {
		if (!meta_segment(ctx))
			return;
		if (box_header(ctx, &c, complete, &type, &content, &whole) != 0)
			return;
		/* A clipped box ends the data; its reader knows it is cut short. */
		box(ctx, type, content, depth, whole);
		if (!whole)
			return;
	}
}

void
meta_jp2(struct meta_ctx *ctx)
{
	boxes(ctx, cbp_cursor_make(ctx->buf, ctx->len), 0, ctx->complete);
}
