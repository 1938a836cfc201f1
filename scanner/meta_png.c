/*
 * meta_png.c — PNG chunk walk: IHDR size, tEXt / zTXt / iTXt text, eXIf
 * (and the pre-registration exIf), and the legacy "Raw profile type"
 * hex dumps ImageMagick and ExifTool wrote before eXIf existed.
 *
 * Every chunk up to IEND is visited, because text and eXIf may follow
 * IDAT.  Chunk lengths are checked against what remains before a chunk is
 * looked at; CRCs are not verified (a bad CRC says nothing about where the
 * next chunk starts, and the text is still worth matching).
 *
 * Compressed text is inflated with zlib in fixed 16 KiB steps into a
 * capped buffer: the output stops at CBP_META_INFLATE_MAX per chunk and at
 * META_INFLATE_BUDGET per image, whatever the stream claims, so a zlib
 * bomb costs a bounded amount of memory and time and sets "limited".
 */
#include <string.h>
#include <zlib.h>

#include "cbp_err.h"
#include "cbp_meta_int.h"
#include "cbp_text.h"

#define PNG_KEYWORD_MAX 79	/* PNG spec: keywords are 1..79 bytes */
#define RAW_PROFILE "Raw profile type "

struct png_text {
	const unsigned char *key;	/* keyword, Latin-1, not NUL-terminated */
	size_t keylen;
	const unsigned char *text;	/* text bytes (inflated if it was compressed) */
	size_t len;
};

/*
 * Inflate z[0..n) into out (initialised here; the caller frees it).  Sets
 * corrupt for a broken stream but keeps what came out before.
 */
static void
inflate_capped(struct meta_ctx *ctx, const unsigned char *z, size_t n,
    struct cbp_dynbuf *out)
{
	unsigned char step[16384];
	size_t cap = CBP_META_INFLATE_MAX, got, room;
	z_stream s;
	int zr;

	if (ctx->inflated >= META_INFLATE_BUDGET) {
		cbp_dynbuf_init(out, 0);
		meta_limited(ctx);
		return;
	}
	if (cap > META_INFLATE_BUDGET - ctx->inflated)
		cap = META_INFLATE_BUDGET - ctx->inflated;
	cbp_dynbuf_init(out, cap);
	memset(&s, 0, sizeof(s));
	if (inflateInit(&s) != Z_OK) {
		ctx->nomem = 1;
		return;
	}
	/* A PNG chunk is at most 2^31-1 bytes, so n fits in uInt. */
	s.next_in = (Bytef *)(uintptr_t)z;
	s.avail_in = (uInt)n;
	do {
		s.next_out = step;
		s.avail_out = sizeof(step);
		zr = inflate(&s, Z_NO_FLUSH);
		got = sizeof(step) - s.avail_out;
		room = out->cap - out->len;
		if (got > room) {
			/* The stream wants to go on past the cap: cut it here. */
			meta_limited(ctx);
			got = room;
			zr = Z_STREAM_END;
		}
		if (cbp_dynbuf_add(out, step, got) != CBP_OK) {
			ctx->nomem = 1;
			break;
		}
		if (zr == Z_MEM_ERROR) {
			ctx->nomem = 1;
			break;
		}
		if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR) {
			meta_corrupt(ctx, "PNG compressed text is not a valid zlib stream");
			break;
		}
		if (zr == Z_BUF_ERROR || (zr == Z_OK && s.avail_in == 0 &&
		    s.avail_out != 0)) {
			meta_corrupt(ctx, "PNG compressed text ends early");
			break;
		}
	} while (zr != Z_STREAM_END);
	ctx->inflated += out->len;
	inflateEnd(&s);
}

static int
is_space(unsigned char ch)
{
	return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

/*
 * Decode the hex dump of a raw profile: "\n<name>\n<decimal length>\n"
 * then hex digits with line breaks.  The declared length only limits the
 * output; the output buffer grows with the digits actually present.
 */
static int
raw_profile_decode(struct meta_ctx *ctx, const unsigned char *s, size_t n,
    struct cbp_dynbuf *out)
{
	size_t i = 0, want = 0;
	int hi, lo, r;

	cbp_dynbuf_init(out, CBP_META_INFLATE_MAX);
	while (i < n && is_space(s[i]))
		i++;
	while (i < n && !is_space(s[i]))
		i++;		/* profile name */
	while (i < n && is_space(s[i]))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		if (want <= CBP_META_INFLATE_MAX)
			want = want * 10 + (size_t)(s[i] - '0');
	if (want > CBP_META_INFLATE_MAX) {
		meta_limited(ctx);
		want = CBP_META_INFLATE_MAX;
	}
	while (out->len < want) {
		while (i < n && is_space(s[i]))
			i++;
		if (i + 2 > n)
			break;
		if ((hi = cbp_hexval(s[i])) < 0 || (lo = cbp_hexval(s[i + 1])) < 0) {
			meta_corrupt(ctx, "PNG raw profile hex dump is malformed");
			return -1;
		}
		i += 2;
		if ((r = cbp_dynbuf_addc(out, (unsigned char)(hi << 4 | lo))) != CBP_OK) {
			if (r == CBP_ENOMEM)
				ctx->nomem = 1;
			return -1;
		}
	}
	return 0;
}

static int
key_is(const struct png_text *t, const char *s)
{
	size_t n = strlen(s);

	return t->keylen == n && memcmp(t->key, s, n) == 0;
}

enum raw_kind { RAW_NONE, RAW_EXIF, RAW_XMP, RAW_IPTC };

/* Which profiles we decode; others (icc, icm ...) carry no text. */
static enum raw_kind
raw_kind(const struct png_text *t)
{
	const unsigned char *k = t->key + strlen(RAW_PROFILE);
	size_t n = t->keylen - strlen(RAW_PROFILE);

	if (n == 4 && (memcmp(k, "exif", 4) == 0 || memcmp(k, "APP1", 4) == 0))
		return RAW_EXIF;
	if (n == 3 && memcmp(k, "xmp", 3) == 0)
		return RAW_XMP;
	if (n == 4 && (memcmp(k, "iptc", 4) == 0 || memcmp(k, "8bim", 4) == 0))
		return RAW_IPTC;
	return RAW_NONE;
}

/* A legacy raw profile: parse the Exif / XMP / IPTC it carries. */
static void
raw_profile(struct meta_ctx *ctx, const struct png_text *t)
{
	static const char xap[] = "http://ns.adobe.com/xap/1.0/";
	enum raw_kind kind = raw_kind(t);
	const unsigned char *p;
	struct cbp_dynbuf d;
	size_t n;

	cbp_dynbuf_init(&d, 0);
	if (kind == RAW_NONE ||
	    raw_profile_decode(ctx, t->text, t->len, &d) != 0 || d.len == 0)
		goto out;
	p = d.data;
	n = d.len;
	if (kind == RAW_XMP) {
		meta_add(ctx, "XMP", NULL, 0, 0, p, n, META_RAW);
	} else if (kind == RAW_IPTC) {
		if (n >= 4 && memcmp(p, "8BIM", 4) == 0)
			meta_psir(ctx, p, n);
		else
			meta_iim(ctx, p, n);
	} else if (n >= sizeof(xap) && memcmp(p, xap, sizeof(xap)) == 0) {
		/* An APP1 profile may be the XMP segment rather than Exif. */
		meta_add(ctx, "XMP", NULL, 0, 0, p + sizeof(xap),
		    n - sizeof(xap), META_RAW);
	} else {
		if (n >= 6 && memcmp(p, "Exif\0", 5) == 0) {
			p += 6;
			n -= 6;
		}
		/* Decoded bytes are not in the input: no thumbnail offset. */
		meta_tiff(ctx, p, n, 0);
	}
out:
	cbp_dynbuf_free(&d);
}

/* Keep a text chunk: as a field, or decoded if it is a raw profile. */
static void
add_text(struct meta_ctx *ctx, const char *prefix, const struct png_text *t,
    enum meta_enc enc)
{
	size_t rp = strlen(RAW_PROFILE);

	if (t->keylen > rp && memcmp(t->key, RAW_PROFILE, rp) == 0) {
		/* A hex dump is useless to match: keep what it decodes to. */
		raw_profile(ctx, t);
		return;
	}
	meta_add(ctx, prefix, t->key, t->keylen > PNG_KEYWORD_MAX ?
	    PNG_KEYWORD_MAX : t->keylen, META_LATIN1, t->text, t->len, enc);
	if (enc == META_RAW && key_is(t, "XML:com.adobe.xmp"))
		meta_add(ctx, "XMP", NULL, 0, 0, t->text, t->len, META_RAW);
}

/* Split "keyword\0rest"; -1 if there is no separator. */
static int
split_key(struct cbp_cursor *c, struct png_text *t)
{
	const unsigned char *nul = memchr(c->p, 0, c->left);

	if (nul == NULL || nul == c->p)
		return -1;
	t->key = c->p;
	t->keylen = (size_t)(nul - c->p);
	(void)cbp_cur_skip(c, t->keylen + 1);
	return 0;
}

static void
chunk_text(struct meta_ctx *ctx, struct cbp_cursor c)
{
	struct png_text t;

	if (split_key(&c, &t) != 0) {
		meta_corrupt(ctx, "PNG tEXt chunk has no keyword");
		return;
	}
	t.text = c.p;
	t.len = c.left;
	add_text(ctx, "PNG:tEXt:", &t, META_LATIN1);
}

static void
chunk_ztxt(struct meta_ctx *ctx, struct cbp_cursor c)
{
	struct cbp_dynbuf z;
	struct png_text t;
	uint8_t method;

	if (split_key(&c, &t) != 0 || cbp_cur_u8(&c, &method) != CBP_OK) {
		meta_corrupt(ctx, "PNG zTXt chunk has no keyword");
		return;
	}
	if (method != 0) {
		meta_corrupt(ctx, "PNG zTXt compression method is not zlib");
		return;
	}
	inflate_capped(ctx, c.p, c.left, &z);
	t.text = z.data;
	t.len = z.len;
	if (t.len > 0)
		add_text(ctx, "PNG:zTXt:", &t, META_LATIN1);
	cbp_dynbuf_free(&z);
}

static void
chunk_itxt(struct meta_ctx *ctx, struct cbp_cursor c)
{
	struct cbp_dynbuf z;
	struct png_text t, lang, tkey;
	uint8_t flag, method;

	cbp_dynbuf_init(&z, 0);
	/* Language and translated keyword may be empty: split by hand. */
	if (split_key(&c, &t) != 0 || cbp_cur_u8(&c, &flag) != CBP_OK ||
	    cbp_cur_u8(&c, &method) != CBP_OK ||
	    (lang.key = memchr(c.p, 0, c.left)) == NULL ||
	    cbp_cur_skip(&c, (size_t)(lang.key - c.p) + 1) != CBP_OK ||
	    (tkey.key = memchr(c.p, 0, c.left)) == NULL ||
	    cbp_cur_skip(&c, (size_t)(tkey.key - c.p) + 1) != CBP_OK) {
		meta_corrupt(ctx, "PNG iTXt chunk is malformed");
		return;
	}
	if (flag == 0) {
		t.text = c.p;
		t.len = c.left;
	} else if (method == 0) {
		inflate_capped(ctx, c.p, c.left, &z);
		t.text = z.data;
		t.len = z.len;
	} else {
		meta_corrupt(ctx, "PNG iTXt compression method is not zlib");
		return;
	}
	if (t.len > 0)
		add_text(ctx, "PNG:iTXt:", &t, META_RAW);
	cbp_dynbuf_free(&z);
}

static void
chunk_exif(struct meta_ctx *ctx, struct cbp_cursor c)
{
	/* The spec says no "Exif\0\0" prefix; some writers add it anyway. */
	if (cbp_cur_peek_eq(&c, "Exif\0", 5) && c.left >= 6)
		(void)cbp_cur_skip(&c, 6);
	meta_tiff(ctx, c.p, c.left, META_TIFF_INPUT);
}

static void
chunk_ihdr(struct meta_ctx *ctx, struct cbp_cursor c)
{
	uint32_t w, h;

	if (c.left < 13) {
		meta_corrupt(ctx, "PNG IHDR chunk too short");
		return;
	}
	(void)cbp_cur_be32(&c, &w);
	(void)cbp_cur_be32(&c, &h);
	if (ctx->m->width == 0 && ctx->m->height == 0) {
		ctx->m->width = w;
		ctx->m->height = h;
	}
}

static void
chunk(struct meta_ctx *ctx, const unsigned char *type, struct cbp_cursor data)
{
	if (memcmp(type, "IHDR", 4) == 0)
		chunk_ihdr(ctx, data);
	else if (memcmp(type, "tEXt", 4) == 0)
		chunk_text(ctx, data);
	else if (memcmp(type, "zTXt", 4) == 0)
		chunk_ztxt(ctx, data);
	else if (memcmp(type, "iTXt", 4) == 0)
		chunk_itxt(ctx, data);
	else if (memcmp(type, "eXIf", 4) == 0 || memcmp(type, "exIf", 4) == 0)
		chunk_exif(ctx, data);
}

/* One chunk; 1 to go on, 0 to stop. */
static int
walk_one(struct meta_ctx *ctx, struct cbp_cursor *c, int first)
{
	struct cbp_cursor data;
	const unsigned char *type;
	uint32_t len;

	if (c->left == 0) {
		meta_short(ctx, ctx->complete, "PNG ends before IEND chunk");
		return 0;
	}
	if (cbp_cur_be32(c, &len) != CBP_OK || cbp_cur_bytes(c, 4, &type) != CBP_OK) {
		meta_short(ctx, ctx->complete, "PNG chunk header runs past end of data");
		return 0;
	}
	if (len > 0x7FFFFFFFu) {
		meta_corrupt(ctx, "PNG chunk length exceeds 2^31-1");
		return 0;
	}
	/*
	 * IDAT is not counted: encoders split image data into thousands of
	 * 8 KiB chunks and skipping one costs nothing.
	 */
	if (memcmp(type, "IDAT", 4) != 0 && !meta_segment(ctx))
		return 0;
	if (cbp_cur_sub(c, len, &data) != CBP_OK) {
		meta_short(ctx, ctx->complete, "PNG chunk length runs past end of data");
		return 0;
	}
	if (first && memcmp(type, "IHDR", 4) != 0)
		meta_corrupt(ctx, "PNG first chunk is not IHDR");
	chunk(ctx, type, data);
	if (ctx->nomem || memcmp(type, "IEND", 4) == 0)
		return 0;
	if (cbp_cur_skip(c, 4) != CBP_OK) {
		meta_short(ctx, ctx->complete, "PNG chunk CRC runs past end of data");
		return 0;
	}
	return 1;
}

void
meta_png(struct meta_ctx *ctx)
{
	struct cbp_cursor c = cbp_cursor_make(ctx->buf + 8, ctx->len - 8);
	int first = 1;

	while (walk_one(ctx, &c, first))
		first = 0;
}
