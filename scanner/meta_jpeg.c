/*
 * meta_jpeg.c — JPEG marker walk (SOI to EOI): a container (layer 3 in
 * meta.c); Exif goes to meta_tiff.c, Photoshop / IPTC to meta_iim.c.
 *
 * The walk visits every segment, not just those before SOF: metadata may
 * follow the frame header, and progressive files have several scans with
 * segments between them.  Entropy-coded data after SOS is skipped with
 * memchr() for the next 0xFF that is neither a stuffed 0xFF00 nor a
 * restart marker, so a 64 MiB scan costs one linear pass.  Segments are
 * taken as sub-cursors of their declared length, so a parser of one
 * segment cannot read into the next.  Bytes after EOI are not ours (a
 * second MPF picture or a trailer) and are left to the caller.
 */
#include <string.h>

#include "cbp_err.h"
#include "cbp_meta_int.h"

static const char xmp_id[] = "http://ns.adobe.com/xap/1.0/";	/* + NUL: 29 bytes */
static const char xmp_ext_id[] = "http://ns.adobe.com/xmp/extension/";	/* + NUL: 35 */
static const char ps_id[] = "Photoshop 3.0";	/* + NUL: 14 */

/* Extended XMP being joined: the first GUID seen wins. */
struct xmp_ext {
	struct cbp_dynbuf b;
	unsigned char guid[32];
	int have;
};

static void
xmp_ext_add(struct meta_ctx *ctx, struct xmp_ext *x, struct cbp_cursor seg)
{
	const unsigned char *guid;
	uint32_t total, off;
	size_t room;
	int r;

	if (cbp_cur_bytes(&seg, 32, &guid) != CBP_OK ||
	    cbp_cur_be32(&seg, &total) != CBP_OK ||
	    cbp_cur_be32(&seg, &off) != CBP_OK) {
		meta_corrupt(ctx, "JPEG extended XMP segment too short");
		return;
	}
	if (!x->have) {
		memcpy(x->guid, guid, 32);
		x->have = 1;
	}
	/*
	 * Writers emit the slices in order; a repeated slice is dropped and a
	 * gap simply joined over (the text is for matching, not for an XML
	 * parser).  The declared total is never used to size anything.
	 */
	if (memcmp(x->guid, guid, 32) != 0 || off < x->b.len)
		return;
	room = x->b.cap - x->b.len;
	if (seg.left > room)
		meta_limited(ctx);
	r = cbp_dynbuf_add(&x->b, seg.p, seg.left > room ? room : seg.left);
	if (r == CBP_ENOMEM)
		ctx->nomem = 1;
	(void)total;
}

static void
app1(struct meta_ctx *ctx, struct cbp_cursor seg, struct xmp_ext *x)
{
	if (cbp_cur_peek_eq(&seg, "Exif\0", 5) && seg.left >= 6) {
		/* "Exif\0\0" (some writers put 0xFF as the 6th byte). */
		meta_tiff(ctx, seg.p + 6, seg.left - 6, META_TIFF_INPUT);
	} else if (cbp_cur_peek_eq(&seg, xmp_id, sizeof(xmp_id))) {
		meta_add(ctx, "XMP", NULL, 0, 0, seg.p + sizeof(xmp_id),
		    seg.left - sizeof(xmp_id), META_RAW);
	} else if (cbp_cur_peek_eq(&seg, xmp_ext_id, sizeof(xmp_ext_id))) {
		(void)cbp_cur_skip(&seg, sizeof(xmp_ext_id));
		xmp_ext_add(ctx, x, seg);
	}
}

static int
is_sof(uint8_t code)
{
	/* C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames. */
	return code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 &&
	    code != 0xCC;
}

static void
sof(struct meta_ctx *ctx, struct cbp_cursor seg)
{
	uint16_t h, w;

	if (seg.left < 5) {
		meta_corrupt(ctx, "JPEG SOF segment too short");
		return;
	}
	/* The first frame header wins (hierarchical files have several). */
	if (ctx->m->width != 0 || ctx->m->height != 0)
		return;
	(void)cbp_cur_skip(&seg, 1);
	(void)cbp_cur_be16(&seg, &h);
	(void)cbp_cur_be16(&seg, &w);
	ctx->m->height = h;
	ctx->m->width = w;
}

static void
segment(struct meta_ctx *ctx, uint8_t code, struct cbp_cursor seg,
    struct xmp_ext *x)
{
	if (is_sof(code))
		sof(ctx, seg);
	else if (code == 0xFE)
		meta_add(ctx, "COM", NULL, 0, 0, seg.p, seg.left, META_RAW);
	else if (code == 0xE1)
		app1(ctx, seg, x);
	else if (code == 0xED && cbp_cur_peek_eq(&seg, ps_id, sizeof(ps_id)))
		meta_psir(ctx, seg.p + sizeof(ps_id), seg.left - sizeof(ps_id));
}

/*
 * Move to the next marker code: skip fill bytes (FF FF ...) and, as
 * corruption, anything that is not a marker.  Returns -1 at end of data.
 */
static int
next_marker(struct meta_ctx *ctx, struct cbp_cursor *c, uint8_t *code)
{
	const unsigned char *ff;

	for (;;) {
		if (c->left == 0)
			return -1;
		if (c->p[0] != 0xFF) {
			meta_corrupt(ctx, "JPEG data between segments is not a marker");
			if ((ff = memchr(c->p, 0xFF, c->left)) == NULL) {
				(void)cbp_cur_skip(c, c->left);
				return -1;
			}
			(void)cbp_cur_skip(c, (size_t)(ff - c->p));
		}
		while (c->left > 0 && c->p[0] == 0xFF)
			(void)cbp_cur_skip(c, 1);
		if (c->left == 0)
			return -1;
		if (c->p[0] != 0x00)
			break;
		/* FF 00 outside a scan is not a marker. */
		meta_corrupt(ctx, "JPEG data between segments is not a marker");
	}
	(void)cbp_cur_u8(c, code);
	return 0;
}

/* Skip entropy-coded data up to the next real marker; -1 at end of data. */
static int
skip_scan(struct cbp_cursor *c)
{
	const unsigned char *ff;
	uint8_t b;

	for (;;) {
		if ((ff = memchr(c->p, 0xFF, c->left)) == NULL) {
			(void)cbp_cur_skip(c, c->left);
			return -1;
		}
		(void)cbp_cur_skip(c, (size_t)(ff - c->p));
		if (c->left < 2)
			return -1;
		b = c->p[1];
		/* Stuffed FF00 and RST0-7 belong to the scan. */
		if (b == 0x00 || (b >= 0xD0 && b <= 0xD7)) {
			(void)cbp_cur_skip(c, 2);
			continue;
		}
		return 0;
	}
}

static int
standalone(uint8_t code)
{
	return code == 0x01 || (code >= 0xD0 && code <= 0xD8);
}

/* One step of the walk; 1 to go on, 0 to stop. */
static int
walk_one(struct meta_ctx *ctx, struct cbp_cursor *c, struct xmp_ext *x)
{
	struct cbp_cursor seg;
	uint16_t len;
	uint8_t code;

	if (next_marker(ctx, c, &code) != 0) {
		meta_short(ctx, ctx->complete, "JPEG ends before EOI marker");
		return 0;
	}
	if (code == 0xD9 || !meta_segment(ctx))
		return 0;
	if (standalone(code))
		return 1;
	if (cbp_cur_be16(c, &len) != CBP_OK) {
		meta_short(ctx, ctx->complete, "JPEG segment length runs past end of data");
		return 0;
	}
	if (len < 2) {
		meta_corrupt(ctx, "JPEG segment length below 2");
		return 0;
	}
	if (cbp_cur_sub(c, (size_t)len - 2, &seg) != CBP_OK) {
		meta_short(ctx, ctx->complete, "JPEG segment length runs past end of data");
		/*
		 * A head-only buffer often ends inside a large Exif segment; its
		 * IFDs are bounds-checked one by one, so the part that is there
		 * is still worth reading.
		 */
		if (code == 0xE1 && cbp_cur_peek_eq(c, "Exif\0", 5) && c->left >= 6)
			meta_tiff(ctx, c->p + 6, c->left - 6,
			    META_TIFF_INPUT | META_TIFF_PREFIX);
		return 0;
	}
	segment(ctx, code, seg, x);
	if (code == 0xDA && skip_scan(c) != 0) {
		meta_short(ctx, ctx->complete, "JPEG scan data runs past end of data");
		return 0;
	}
	return !ctx->nomem;
}

void
meta_jpeg(struct meta_ctx *ctx)
{
	struct cbp_cursor c = cbp_cursor_make(ctx->buf + 2, ctx->len - 2);
	struct xmp_ext x;

	memset(&x, 0, sizeof(x));
	cbp_dynbuf_init(&x.b, CBP_META_FIELD_MAX);
	while (walk_one(ctx, &c, &x))
		;
	if (x.b.len > 0)
		meta_add(ctx, "XMP", NULL, 0, 0, x.b.data, x.b.len, META_RAW);
	cbp_dynbuf_free(&x.b);
}
