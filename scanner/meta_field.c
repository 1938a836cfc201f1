/*
 * meta_field.c — the one place where metadata fields are added, and the
 * problem flags every parser sets (layer 1 of meta.c's layering: it calls
 * nothing above it).
 *
 * Parsers never allocate text themselves: they point meta_add() at bytes
 * inside the input (or inside a bounded inflate buffer) and meta_add()
 * converts to UTF-8, trims and copies only what the caps allow.  So the
 * input is never copied whole, and CBP_META_FIELD_MAX, CBP_META_TOTAL and
 * CBP_META_FIELDS hold whatever the parsers do.
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
#include "cbp_text.h"

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
		if (n <= room) {
			memcpy(d, s, n);
			return n;
		}
		/* Do not end inside a UTF-8 sequence of the input. */
		o = cbp_utf8_cut(s, n, room);
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
		if ((w = cbp_utf8_put(d + o, room - o, cp)) == 0) {
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
