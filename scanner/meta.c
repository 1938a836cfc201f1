/*
 * meta.c — entry points of image metadata extraction, and the one place
 * where fields are added.
 *
 * Design: cbp_meta_extract() sniffs the format from the first bytes and
 * hands a struct meta_ctx to the format's parser (meta_jpeg.c, meta_png.c,
 * meta_tiff.c, meta_jp2.c).  Parsers never allocate text themselves: they
 * point meta_add() at bytes inside the input (or inside a bounded inflate
 * buffer) and meta_add() converts to UTF-8, trims and copies only what the
 * caps allow.  So the input is never copied whole, and CBP_META_FIELD_MAX,
 * CBP_META_TOTAL and CBP_META_FIELDS hold whatever the parsers do.
 *
 * Conversions write straight into an allocation bounded by both the input
 * bytes and the remaining budget; a cut never splits a UTF-8 sequence we
 * produced.  What meta_add() looks at is charged to a scan budget linear
 * in the input, because TIFF tags may all point at the same large region:
 * without it a hostile IFD could make trimming quadratic.
 */
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_meta_int.h"

/* Longest field name: "PNG:iTXt:" plus a 79-byte Latin-1 keyword doubled. */
#define META_NAME_MAX 256

void
meta_corrupt(struct meta_ctx *ctx, const char *detail)
{
	if (!ctx->m->corrupt) {
		ctx->m->corrupt = 1;
		ctx->m->corrupt_detail = detail;
	}
}

void
meta_short(struct meta_ctx *ctx, int complete, const char *detail)
{
	/* A prefix of a file is expected to end in the middle of something. */
	if (complete)
		meta_corrupt(ctx, detail);
}

void
meta_limited(struct meta_ctx *ctx)
{
	ctx->m->limited = 1;
}

int
meta_segment(struct meta_ctx *ctx)
{
	if (ctx->segments >= CBP_META_SEGMENTS) {
		meta_limited(ctx);
		return 0;
	}
	ctx->segments++;
	return 1;
}

/* Bytes per code unit: trimming and cutting work in whole units. */
static size_t
enc_unit(enum meta_enc enc)
{
	return (enc == META_UTF16LE || enc == META_UTF16BE) ? 2 : 1;
}

static unsigned
unit_at(const unsigned char *p, enum meta_enc enc)
{
	if (enc == META_UTF16LE)
		return (unsigned)p[0] | (unsigned)p[1] << 8;
	if (enc == META_UTF16BE)
		return (unsigned)p[0] << 8 | (unsigned)p[1];
	return p[0];
}

/* Length of val without trailing NUL and space units. */
static size_t
trim_len(const unsigned char *val, size_t n, enum meta_enc enc)
{
	size_t u = enc_unit(enc);

	n -= n % u;
	while (n >= u) {
		unsigned ch = unit_at(val + n - u, enc);
		if (ch != 0 && ch != ' ')
			break;
		n -= u;
	}
	return n;
}

/* Encode code point cp as UTF-8 into d if it fits in room; bytes written or 0. */
static size_t
put_utf8(unsigned char *d, size_t room, uint32_t cp)
{
	if (cp < 0x80) {
		if (room < 1)
			return 0;
		d[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		if (room < 2)
			return 0;
		d[0] = (unsigned char)(0xC0 | cp >> 6);
		d[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		if (room < 3)
			return 0;
		d[0] = (unsigned char)(0xE0 | cp >> 12);
		d[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		d[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (room < 4)
		return 0;
	d[0] = (unsigned char)(0xF0 | cp >> 18);
	d[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	d[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	d[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decode the next UTF-16 character at s[*i..n); lone or reversed
 * surrogates become U+FFFD so the output is always valid UTF-8.
 */
static uint32_t
utf16_next(const unsigned char *s, size_t n, size_t *i, enum meta_enc enc)
{
	uint32_t hi = unit_at(s + *i, enc), lo;

	*i += 2;
	if (hi < 0xD800 || hi > 0xDFFF)
		return hi;
	if (hi > 0xDBFF || *i + 2 > n)
		return 0xFFFD;
	lo = unit_at(s + *i, enc);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return 0xFFFD;
	*i += 2;
	return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
}

/*
 * Convert s[0..n) into d (room bytes).  Returns bytes written; *cut is set
 * when the input did not fit.
 */
static size_t
convert(unsigned char *d, size_t room, const unsigned char *s, size_t n,
    enum meta_enc enc, int *cut)
{
	size_t i = 0, o = 0, w;

	*cut = 0;
	if (enc == META_RAW) {
		size_t k;

		if (n <= room) {
			memcpy(d, s, n);
			return n;
		}
		/* Do not end inside a UTF-8 sequence of the input. */
		o = room;
		for (k = 0; k < 3 && o > 0 && (s[o] & 0xC0) == 0x80; k++)
			o--;
		if ((s[o] & 0xC0) == 0x80)
			o = room;	/* not UTF-8 anyway: cut anywhere */
		memcpy(d, s, o);
		*cut = 1;
		return o;
	}
	while (i < n) {
		size_t at = i;
		uint32_t cp;

		if (enc == META_LATIN1)
			cp = s[i++];
		else if (i + 2 <= n)
			cp = utf16_next(s, n, &i, enc);
		else
			break;	/* an odd last byte is not a character */
		if ((w = put_utf8(d + o, room - o, cp)) == 0) {
			i = at;
			*cut = 1;
			break;
		}
		o += w;
	}
	return o;
}

/* Build "prefix" + suffix (converted) as a NUL-terminated name. */
static char *
make_name(const char *prefix, const unsigned char *suffix, size_t suffix_len,
    enum meta_enc suffix_enc)
{
	size_t plen = strlen(prefix), o = plen;
	unsigned char *name;
	int cut;

	if (plen >= META_NAME_MAX || (name = malloc(META_NAME_MAX + 1)) == NULL)
		return NULL;
	memcpy(name, prefix, plen);
	if (suffix != NULL)
		o += convert(name + plen, META_NAME_MAX - plen, suffix,
		    suffix_len, suffix_enc, &cut);
	name[o] = '\0';
	return (char *)name;
}

/* Make room for one more field; the array doubles up to CBP_META_FIELDS. */
static int
grow_fields(struct meta_ctx *ctx)
{
	struct cbp_meta *m = ctx->m;
	struct cbp_meta_field *f;
	size_t want;

	if (m->nfields < ctx->fields_alloc)
		return CBP_OK;
	want = ctx->fields_alloc ? ctx->fields_alloc * 2 : 8;
	if (want > CBP_META_FIELDS)
		want = CBP_META_FIELDS;
	if ((f = realloc(m->fields, want * sizeof(*f))) == NULL)
		return CBP_ENOMEM;
	m->fields = f;
	ctx->fields_alloc = want;
	return CBP_OK;
}

/* Upper bound of the UTF-8 bytes n input bytes can become, capped at room. */
static size_t
out_bound(size_t n, enum meta_enc enc, size_t room)
{
	/* Latin-1 doubles at most; a UTF-16 unit gives at most 3 bytes. */
	size_t factor = enc == META_RAW ? 1 : 2;

	if (n > room / factor)
		return room;
	return n * factor;
}

/*
 * 1 if the last max bytes of p[0..n) hold more than NULs and spaces, or if
 * n > max (we did not look that far: assume text was there).
 */
static int
tail_has_text(const unsigned char *p, size_t n, size_t max, enum meta_enc enc)
{
	size_t from = n > max ? n - max : 0;

	from -= from % enc_unit(enc);
	return trim_len(p + from, n - from, enc) > 0 || from > 0;
}

/*
 * Charge the bytes meta_add() is about to look at against the image's
 * scan budget.  TIFF tags can all point at the same megabytes, so without
 * it 16 IFDs x 1024 tags could make us scan one region 16384 times.
 */
static int
charge(struct meta_ctx *ctx, size_t bytes)
{
	if (bytes > ctx->scan_left) {
		ctx->scan_left = 0;
		meta_limited(ctx);
		return 0;
	}
	ctx->scan_left -= bytes;
	return 1;
}

int
meta_add(struct meta_ctx *ctx, const char *prefix,
    const unsigned char *suffix, size_t suffix_len, enum meta_enc suffix_enc,
    const unsigned char *val, size_t n, enum meta_enc enc)
{
	struct cbp_meta *m = ctx->m;
	struct cbp_meta_field *f;
	unsigned char *v = NULL;
	char *name = NULL;
	size_t room, look, o;
	int cut = 0, cut2, r = CBP_ENOMEM;

	if (ctx->nomem)
		return CBP_ENOMEM;
	if (m->nfields >= CBP_META_FIELDS || ctx->kept >= CBP_META_TOTAL) {
		meta_limited(ctx);
		return CBP_OK;
	}
	room = CBP_META_TOTAL - ctx->kept;
	if (room > CBP_META_FIELD_MAX)
		room = CBP_META_FIELD_MAX;
	/*
	 * Every input unit yields at least one output byte, so no more than
	 * room units can be kept: look at those and (bounded) at the tail, to
	 * know whether cutting the tail drops text or just padding.
	 */
	look = room * enc_unit(enc);
	if (n > look) {
		if (!charge(ctx, 2 * look))
			return CBP_OK;
		cut = tail_has_text(val + look, n - look, look, enc);
		n = look;
	} else if (!charge(ctx, n)) {
		return CBP_OK;
	}
	if ((n = trim_len(val, n, enc)) == 0)
		return CBP_OK;
	room = out_bound(n, enc, room);
	if ((v = malloc(room + 1)) == NULL)
		goto out;
	o = convert(v, room, val, n, enc, &cut2);
	if (cut || cut2)
		meta_limited(ctx);
	/* A cut may leave new trailing spaces; the value stays trimmed. */
	o = trim_len(v, o, META_RAW);
	if (o == 0) {
		r = CBP_OK;
		goto out;
	}
	v[o] = '\0';
	if ((name = make_name(prefix, suffix, suffix_len, suffix_enc)) == NULL)
		goto out;
	if (grow_fields(ctx) != CBP_OK)
		goto out;
	f = &m->fields[m->nfields++];
	f->name = name;
	f->value = (char *)v;
	f->len = o;
	ctx->kept += o;
	name = NULL;
	v = NULL;
	r = CBP_OK;
out:
	free(v);
	free(name);
	if (r == CBP_ENOMEM)
		ctx->nomem = 1;
	return r;
}

static const unsigned char sig_png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
static const unsigned char sig_jp2[12] = { 0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', '\r', '\n', 0x87, '\n' };
static const unsigned char sig_j2k[4] = { 0xFF, 0x4F, 0xFF, 0x51 };

enum cbp_image_format
cbp_meta_sniff(const unsigned char *buf, size_t len)
{
	if (buf == NULL)
		return CBP_IMG_NONE;
	if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
		return CBP_IMG_JPEG;
	if (len >= sizeof(sig_png) && memcmp(buf, sig_png, sizeof(sig_png)) == 0)
		return CBP_IMG_PNG;
	/* Classic TIFF (42) and BigTIFF (43), in either byte order. */
	if (len >= 4 && ((buf[0] == 'I' && buf[1] == 'I' && buf[3] == 0 &&
	    (buf[2] == 42 || buf[2] == 43)) || (buf[0] == 'M' &&
	    buf[1] == 'M' && buf[2] == 0 && (buf[3] == 42 || buf[3] == 43))))
		return CBP_IMG_TIFF;
	if (len >= sizeof(sig_jp2) && memcmp(buf, sig_jp2, sizeof(sig_jp2)) == 0)
		return CBP_IMG_JP2;
	if (len >= sizeof(sig_j2k) && memcmp(buf, sig_j2k, sizeof(sig_j2k)) == 0)
		return CBP_IMG_J2K;
	return CBP_IMG_NONE;
}

int
cbp_meta_extract(const unsigned char *buf, size_t len, int complete,
    struct cbp_meta *out)
{
	struct meta_ctx ctx;

	if (out == NULL)
		return CBP_EINVAL;
	memset(out, 0, sizeof(*out));
	out->format = cbp_meta_sniff(buf, len);
	if (out->format == CBP_IMG_NONE)
		return CBP_ENOTFOUND;
	memset(&ctx, 0, sizeof(ctx));
	ctx.m = out;
	ctx.buf = buf;
	ctx.len = len;
	ctx.complete = complete != 0;
	/* Linear in the input, plus room for text that was inflated or decoded. */
	ctx.scan_left = (len > SIZE_MAX / 4 ? SIZE_MAX / 2 : 2 * len) +
	    4 * CBP_META_TOTAL;
	switch (out->format) {
	case CBP_IMG_JPEG:
		meta_jpeg(&ctx);
		break;
	case CBP_IMG_PNG:
		meta_png(&ctx);
		break;
	case CBP_IMG_TIFF:
		meta_tiff(&ctx, buf, len, META_TIFF_FILE | META_TIFF_INPUT |
		    (ctx.complete ? 0 : META_TIFF_PREFIX));
		break;
	case CBP_IMG_JP2:
		meta_jp2(&ctx);
		break;
	case CBP_IMG_J2K:
		meta_j2k(&ctx, buf, len, ctx.complete);
		break;
	default:
		break;
	}
	if (ctx.nomem) {
		/* Leave nothing half-made behind: the caller may not free. */
		cbp_meta_free(out);
		return CBP_ENOMEM;
	}
	return CBP_OK;
}

void
cbp_meta_free(struct cbp_meta *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nfields; i++) {
		free(m->fields[i].name);
		free(m->fields[i].value);
	}
	free(m->fields);
	memset(m, 0, sizeof(*m));
}

const struct cbp_meta_field *
cbp_meta_get(const struct cbp_meta *m, const char *name)
{
	size_t i;

	if (m == NULL || name == NULL)
		return NULL;
	for (i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].name, name) == 0)
			return &m->fields[i];
	return NULL;
}

const char *
cbp_image_format_name(enum cbp_image_format f)
{
	switch (f) {
	case CBP_IMG_JPEG:
		return "jpeg";
	case CBP_IMG_PNG:
		return "png";
	case CBP_IMG_TIFF:
		return "tiff";
	case CBP_IMG_JP2:
		return "jp2";
	case CBP_IMG_J2K:
		return "j2k";
	default:
		return "none";
	}
}
