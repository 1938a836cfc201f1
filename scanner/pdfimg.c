/*
 * pdfimg.c — FlateDecode pixel images in a PDF (cbp_pdfimg.h).
 *
 * Hand-written, not libqpdf or poppler, for three reasons.
 *  - What we need is a handful of keys from image dictionaries.  Both
 *    libraries build the whole document's object model first (xref table
 *    or streams, object streams, repair of broken xrefs), which costs time
 *    and memory proportional to the document on every PDF a scan meets,
 *    where a forward pass over bytes already loaded costs one memmem.
 *  - Hostile input: a PDF object model is a large parser surface (xref
 *    repair, object-stream decoding, encryption, linearisation hints),
 *    C++ exceptions to contain in a C scanner (libqpdf), and in poppler's
 *    case a library that warns on stderr and is not meant to be embedded
 *    with a stable API.  The few keys parsed here are bounded by hand: a
 *    tokenizer over at most CBP_PDFIMG_DICT_MAX bytes a dictionary, depth
 *    CBP_PDFIMG_DEPTH, no allocation.
 *  - Stream objects are never inside object streams (PDF 32000-1 7.5.7),
 *    so a byte scan sees every image dictionary without the xref; the
 *    model buys us nothing here.  Encrypted PDFs are out of reach either
 *    way without a password (their streams are ciphertext: zlib rejects
 *    them, and they are reported corrupt, not silently lost).
 * Inflating is zlib's (already linked); the TIFF predictor is a few lines
 * done here in place, the PNG ones are the PNG decoder's unfilter
 * (cbp_png_unfilter).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cbp_decode.h"
#include "cbp_err.h"
#include "cbp_pdfimg.h"
#include "cbp_text.h"

/* ---- tokens ----------------------------------------------------------- */

enum tok_type {
	T_END, T_ERR, T_INT, T_REAL, T_NAME, T_STR, T_KW,
	T_DICT, T_DICT_END, T_ARR, T_ARR_END
};

struct lex {
	const uint8_t *p;
	size_t i, n;		/* position; end of the region parsed */
};

#define TOK_S 32
struct tok {
	enum tok_type t;
	int64_t v;		/* T_INT, saturated at INT_CAP */
	char s[TOK_S];		/* T_NAME (decoded, no '/') and T_KW; "" if too long */
};

#define INT_CAP ((int64_t)1 << 40)

static int
is_ws(uint8_t c)
{
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' ||
	    c == ' ';
}

static int
is_delim(uint8_t c)
{
	return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' ||
	    c == ']' || c == '{' || c == '}' || c == '/' || c == '%';
}

static int
is_regular(uint8_t c)
{
	return !is_ws(c) && !is_delim(c);
}

static void
skip_ws(struct lex *lx)
{
	while (lx->i < lx->n) {
		uint8_t c = lx->p[lx->i];

		if (is_ws(c)) {
			lx->i++;
		} else if (c == '%') {
			while (lx->i < lx->n && lx->p[lx->i] != '\n' &&
			    lx->p[lx->i] != '\r')
				lx->i++;
		} else {
			return;
		}
	}
}

/* A literal string: balanced parentheses, backslash escapes. */
static int
lex_string(struct lex *lx)
{
	size_t depth = 1;

	lx->i++;
	while (lx->i < lx->n) {
		uint8_t c = lx->p[lx->i++];

		if (c == '\\')
			lx->i++;	/* the escaped byte, whatever it is */
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0)
			return T_STR;
	}
	return T_ERR;
}

/* A name after '/': regular bytes, #xx escapes decoded. */
static int
lex_name(struct lex *lx, struct tok *t)
{
	size_t k = 0;
	int long_name = 0;

	lx->i++;
	while (lx->i < lx->n && is_regular(lx->p[lx->i])) {
		int c = lx->p[lx->i++];

		if (c == '#' && lx->i + 2 <= lx->n &&
		    cbp_hexval(lx->p[lx->i]) >= 0 && cbp_hexval(lx->p[lx->i + 1]) >= 0) {
			c = cbp_hexval(lx->p[lx->i]) << 4 | cbp_hexval(lx->p[lx->i + 1]);
			lx->i += 2;
		}
		if (k + 1 < TOK_S)
			t->s[k++] = (char)c;
		else
			long_name = 1;
	}
	t->s[long_name ? 0 : k] = '\0';
	return T_NAME;
}

static int
lex_number(struct lex *lx, struct tok *t)
{
	int neg = 0, real = 0, digits = 0;

	if (lx->p[lx->i] == '+' || lx->p[lx->i] == '-')
		neg = lx->p[lx->i++] == '-';
	t->v = 0;
	for (; lx->i < lx->n; lx->i++) {
		uint8_t c = lx->p[lx->i];

		if (c >= '0' && c <= '9') {
			digits = 1;
			if (!real && t->v < INT_CAP)
				t->v = t->v * 10 + (c - '0');
		} else if (c == '.' && !real) {
			real = 1;
		} else {
			break;
		}
	}
	if (lx->i < lx->n && is_regular(lx->p[lx->i]))
		return T_ERR;		/* "12abc" */
	if (t->v > INT_CAP)
		t->v = INT_CAP;
	if (neg)
		t->v = -t->v;
	return real || !digits ? T_REAL : T_INT;
}

static int
lex_keyword(struct lex *lx, struct tok *t)
{
	size_t k = 0;

	while (lx->i < lx->n && is_regular(lx->p[lx->i])) {
		if (k + 1 < TOK_S)
			t->s[k++] = (char)lx->p[lx->i];
		lx->i++;
	}
	t->s[k] = '\0';
	return T_KW;
}

static enum tok_type
lex_next(struct lex *lx, struct tok *t)
{
	uint8_t c;

	t->s[0] = '\0';
	t->v = 0;
	skip_ws(lx);
	if (lx->i >= lx->n)
		return t->t = T_END;
	c = lx->p[lx->i];
	switch (c) {
	case '<':
		if (lx->i + 1 < lx->n && lx->p[lx->i + 1] == '<') {
			lx->i += 2;
			return t->t = T_DICT;
		}
		while (++lx->i < lx->n && lx->p[lx->i] != '>')
			;
		if (lx->i >= lx->n)
			return t->t = T_ERR;
		lx->i++;
		return t->t = T_STR;
	case '>':
		if (lx->i + 1 < lx->n && lx->p[lx->i + 1] == '>') {
			lx->i += 2;
			return t->t = T_DICT_END;
		}
		return t->t = T_ERR;
	case '[':
		lx->i++;
		return t->t = T_ARR;
	case ']':
		lx->i++;
		return t->t = T_ARR_END;
	case '(':
		return t->t = (enum tok_type)lex_string(lx);
	case ')':
	case '{':
	case '}':
		lx->i++;
		return t->t = T_ERR;	/* not in an image dictionary */
	case '/':
		return t->t = (enum tok_type)lex_name(lx, t);
	default:
		break;
	}
	if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')
		return t->t = (enum tok_type)lex_number(lx, t);
	return t->t = (enum tok_type)lex_keyword(lx, t);
}

/* ---- values --------------------------------------------------------- */

enum val_type { V_BAD, V_INT, V_REF, V_NAME, V_OTHER };

struct val {
	enum val_type t;
	int64_t v;		/* V_INT; V_REF: object number */
	char s[TOK_S];		/* V_NAME */
};

/* Skip the rest of a value whose first token is t. */
static int
skip_value(struct lex *lx, const struct tok *t, unsigned depth)
{
	enum tok_type close;
	struct tok u;

	if (t->t == T_DICT)
		close = T_DICT_END;
	else if (t->t == T_ARR)
		close = T_ARR_END;
	else
		return t->t == T_ERR || t->t == T_END || t->t == T_DICT_END ||
		    t->t == T_ARR_END ? CBP_ECORRUPT : CBP_OK;
	if (depth >= CBP_PDFIMG_DEPTH)
		return CBP_ECORRUPT;
	for (;;) {
		if (lex_next(lx, &u) == close)
			return CBP_OK;
		if (skip_value(lx, &u, depth + 1) != CBP_OK)
			return CBP_ECORRUPT;
	}
}

/*
 * One value whose first token is t: an integer, a reference "N G R", a
 * name, or anything else (skipped whole, V_OTHER).
 */
static int
read_value(struct lex *lx, const struct tok *t, unsigned depth, struct val *v)
{
	struct tok g, r;
	size_t at;

	memset(v, 0, sizeof(*v));
	switch (t->t) {
	case T_INT:
		v->t = V_INT;
		v->v = t->v;
		at = lx->i;
		if (lex_next(lx, &g) == T_INT && lex_next(lx, &r) == T_KW &&
		    strcmp(r.s, "R") == 0)
			v->t = V_REF;
		else
			lx->i = at;
		return CBP_OK;
	case T_NAME:
		v->t = V_NAME;
		memcpy(v->s, t->s, sizeof(v->s));
		return CBP_OK;
	default:
		v->t = V_OTHER;
		return skip_value(lx, t, depth);
	}
}

/* ---- the stream dictionary ------------------------------------------ */

struct dict {
	int image, imagemask, decode;
	int objstm;		/* /Type /ObjStm: its /N counts objects */
	int filters;		/* how many filters */
	int flate;		/* the only filter is FlateDecode */
	struct val w, h, bpc, length, n;
	int cs_channels;	/* 1, 3; 0 unknown; -1 not taken */
	int64_t cs_icc;		/* [/ICCBased N 0 R]: N, else -1 */
	int parms;		/* /DecodeParms seen */
	int64_t pred, colors, pbpc, columns;
};

static int
name_is(const struct val *v, const char *s)
{
	return v->t == V_NAME && strcmp(v->s, s) == 0;
}

static int
filter_value(struct lex *lx, const struct tok *t, unsigned depth, struct dict *d)
{
	struct tok u;
	struct val v;

	if (t->t == T_NAME) {
		d->filters = 1;
		d->flate = strcmp(t->s, "FlateDecode") == 0;
		return CBP_OK;
	}
	if (t->t != T_ARR)
		return read_value(lx, t, depth, &v);	/* a reference: not taken */
	while (lex_next(lx, &u) != T_ARR_END) {
		if (read_value(lx, &u, depth + 1, &v) != CBP_OK)
			return CBP_ECORRUPT;
		d->filters++;
		d->flate = d->filters == 1 && name_is(&v, "FlateDecode");
	}
	return CBP_OK;
}

static int
colorspace_family(const char *s)
{
	if (strcmp(s, "DeviceRGB") == 0 || strcmp(s, "CalRGB") == 0)
		return 3;
	if (strcmp(s, "DeviceGray") == 0 || strcmp(s, "CalGray") == 0)
		return 1;
	return -1;
}

static int
colorspace_value(struct lex *lx, const struct tok *t, unsigned depth,
    struct dict *d)
{
	struct tok u;
	struct val fam, v;
	int k = 0;

	d->cs_channels = -1;
	if (t->t == T_NAME) {
		d->cs_channels = colorspace_family(t->s);
		return CBP_OK;
	}
	if (t->t != T_ARR)
		return read_value(lx, t, depth, &v);	/* by reference: not taken */
	while (lex_next(lx, &u) != T_ARR_END) {
		if (read_value(lx, &u, depth + 1, k == 0 ? &fam : &v) != CBP_OK)
			return CBP_ECORRUPT;
		if (k == 0 && fam.t == V_NAME)
			d->cs_channels = colorspace_family(fam.s);
		else if (k == 1 && name_is(&fam, "ICCBased") && v.t == V_REF) {
			d->cs_icc = v.v;
			d->cs_channels = 0;
		}
		k++;
	}
	/* [/CalRGB <<...>>] and [/ICCBased ref] have two elements. */
	if (k != 2 && !(k == 1 && d->cs_channels > 0))
		d->cs_channels = -1;
	return CBP_OK;
}

static int
parms_dict(struct lex *lx, unsigned depth, struct dict *d)
{
	struct tok k, u;
	struct val v;

	if (depth >= CBP_PDFIMG_DEPTH)
		return CBP_ECORRUPT;
	d->parms = 1;
	while (lex_next(lx, &k) != T_DICT_END) {
		if (k.t != T_NAME)
			return CBP_ECORRUPT;
		lex_next(lx, &u);
		if (read_value(lx, &u, depth + 1, &v) != CBP_OK)
			return CBP_ECORRUPT;
		if (v.t != V_INT)
			v.v = -1;	/* not a direct integer: disagrees below */
		if (strcmp(k.s, "Predictor") == 0)
			d->pred = v.v;
		else if (strcmp(k.s, "Colors") == 0)
			d->colors = v.v;
		else if (strcmp(k.s, "BitsPerComponent") == 0)
			d->pbpc = v.v;
		else if (strcmp(k.s, "Columns") == 0)
			d->columns = v.v;
	}
	return CBP_OK;
}

static int
parms_value(struct lex *lx, const struct tok *t, unsigned depth, struct dict *d)
{
	struct tok u;
	struct val v;
	int k = 0;

	if (t->t == T_DICT)
		return parms_dict(lx, depth + 1, d);
	if (t->t != T_ARR) {
		if (t->t == T_KW && strcmp(t->s, "null") == 0)
			return CBP_OK;
		d->parms = 1;
		d->pred = -1;		/* by reference: not taken */
		return read_value(lx, t, depth, &v);
	}
	while (lex_next(lx, &u) != T_ARR_END) {
		if (k++ == 0 && u.t == T_DICT) {
			if (parms_dict(lx, depth + 2, d) != CBP_OK)
				return CBP_ECORRUPT;
		} else if (read_value(lx, &u, depth + 1, &v) != CBP_OK) {
			return CBP_ECORRUPT;
		}
	}
	return CBP_OK;
}

static int
dict_entry(struct lex *lx, const char *key, struct dict *d)
{
	struct tok t;
	struct val v;

	lex_next(lx, &t);
	if (strcmp(key, "Filter") == 0)
		return filter_value(lx, &t, 1, d);
	if (strcmp(key, "ColorSpace") == 0)
		return colorspace_value(lx, &t, 1, d);
	if (strcmp(key, "DecodeParms") == 0)
		return parms_value(lx, &t, 1, d);
	if (read_value(lx, &t, 1, &v) != CBP_OK)
		return CBP_ECORRUPT;
	if (strcmp(key, "Subtype") == 0)
		d->image = name_is(&v, "Image");
	else if (strcmp(key, "Type") == 0)
		d->objstm = name_is(&v, "ObjStm");
	else if (strcmp(key, "Width") == 0)
		d->w = v;
	else if (strcmp(key, "Height") == 0)
		d->h = v;
	else if (strcmp(key, "BitsPerComponent") == 0)
		d->bpc = v;
	else if (strcmp(key, "Length") == 0)
		d->length = v;
	else if (strcmp(key, "N") == 0)
		d->n = v;
	else if (strcmp(key, "ImageMask") == 0)
		d->imagemask = t.t == T_KW && strcmp(t.s, "true") == 0;
	else if (strcmp(key, "Decode") == 0)
		d->decode = 1;
	return CBP_OK;
}

/*
 * The dictionary starting at lx (its "<<" next): the keys we read into d.
 * On return lx->i is past what was parsed, so a failed parse is never
 * parsed again from inside.
 */
static int
parse_dict(struct lex *lx, struct dict *d)
{
	struct tok k;

	memset(d, 0, sizeof(*d));
	d->cs_icc = -1;
	d->pred = 1;
	d->colors = 1;
	d->pbpc = 8;
	d->columns = 1;
	if (lex_next(lx, &k) != T_DICT)
		return CBP_ECORRUPT;
	while (lex_next(lx, &k) != T_DICT_END) {
		if (k.t != T_NAME || dict_entry(lx, k.s, d) != CBP_OK)
			return CBP_ECORRUPT;
	}
	return CBP_OK;
}

/* ---- the pass over the file ----------------------------------------- */

/* Blanks looked back over between "N", "G" and "obj": real files have one. */
#define HEADER_BLANKS 16

/* Back over the digits ending just before *i (at most 10); -1 if none. */
static int64_t
digits_before(const uint8_t *p, size_t *i)
{
	size_t e = *i, b = e;
	int64_t v = 0;

	while (b > 0 && p[b - 1] >= '0' && p[b - 1] <= '9' && e - b < 10)
		b--;
	if (b == e)
		return -1;
	for (*i = b; b < e; b++)
		v = v * 10 + (p[b] - '0');
	return v;
}

/* Back over at most HEADER_BLANKS blanks before *i; 0 if there are none. */
static int
blanks_before(const uint8_t *p, size_t *i)
{
	size_t e = *i;

	while (*i > 0 && e - *i < HEADER_BLANKS && is_ws(p[*i - 1]))
		(*i)--;
	return *i < e;
}

/*
 * "N G obj" whose keyword starts at k: the object number, or -1.  Looks
 * back a bounded number of bytes, so the pass stays linear.
 */
static int64_t
obj_header(const uint8_t *p, size_t n, size_t k)
{
	size_t i = k;
	int64_t num;

	if (k + 3 < n && is_regular(p[k + 3]))
		return -1;		/* "objective" */
	if (!blanks_before(p, &i) || digits_before(p, &i) < 0 ||
	    !blanks_before(p, &i) || (num = digits_before(p, &i)) < 0)
		return -1;
	if (i > 0 && is_regular(p[i - 1]))
		return -1;		/* "x12 0 obj", "endobj" */
	return num;
}

/* Where "endstream" follows p[at..], after at most an end-of-line. */
static int
endstream_at(const uint8_t *p, size_t n, size_t at)
{
	while (at < n && (p[at] == '\r' || p[at] == '\n' || p[at] == ' '))
		at++;
	return n - at >= 9 && memcmp(p + at, "endstream", 9) == 0;
}

/*
 * The data of a stream starting at d: by a direct /Length when
 * "endstream" follows it, else up to the next "endstream".  Sets *len,
 * *trunc, and returns where the search resumes.
 */
static size_t
stream_extent(const uint8_t *p, size_t n, size_t d, const struct dict *di,
    size_t *len, int *trunc)
{
	const uint8_t *q;
	size_t e;

	*trunc = 0;
	if (di->length.t == V_INT && di->length.v >= 0 &&
	    (uint64_t)di->length.v <= n - d &&
	    endstream_at(p, n, d + (size_t)di->length.v)) {
		*len = (size_t)di->length.v;
		return d + *len;
	}
	if ((q = memmem(p + d, n - d, "endstream", 9)) == NULL) {
		*len = n - d;
		*trunc = 1;
		return n;
	}
	e = (size_t)(q - p);
	*len = e - d;
	/* The end-of-line before "endstream" is not data. */
	if (*len > 0 && p[d + *len - 1] == '\n')
		(*len)--;
	if (*len > 0 && p[d + *len - 1] == '\r')
		(*len)--;
	if (di->length.t == V_INT && di->length.v >= 0 &&
	    (uint64_t)di->length.v > n - d)
		*trunc = 1;	/* declared longer than what is here */
	return e + 9;
}

struct icc {
	int64_t obj;
	int n;
};

/* Per hit, until its ICC profile is resolved. */
struct pend {
	int64_t icc;		/* profile object, -1 when none */
	int64_t colors;		/* a predictor's /Colors, checked against /N */
};

struct pass {
	struct cbp_pdfimg_hit *out;
	struct pend *pend;
	size_t cap, k;
	struct icc icc[CBP_PDFIMG_ICC_MAX];
	size_t nicc;
	struct cbp_pdfimg_stats st;
};

static int
valid_side(const struct val *v)
{
	return v->t == V_INT && v->v > 0 && v->v <= UINT32_MAX;
}

/* Whether dictionary d (an image) is one we take; its channels or 0 for
 * an ICC profile to resolve later. */
static int
image_taken(const struct dict *d, int *channels)
{
	*channels = d->cs_channels;
	if (!d->flate || d->filters != 1 || d->imagemask || d->decode)
		return 0;
	if (d->bpc.t != V_INT || d->bpc.v != 8 || !valid_side(&d->w) ||
	    !valid_side(&d->h) || d->cs_channels < 0)
		return 0;
	if (d->cs_channels == 0 && d->cs_icc < 0)
		return 0;
	if (!(d->pred == 1 || d->pred == 2 || (d->pred >= 10 && d->pred <= 15)))
		return 0;
	/* A predictor works on rows of Columns x Colors samples: they must
	 * be the image's (checked for ICC once its /N is known). */
	if (d->pred != 1 && (d->pbpc != 8 || d->columns != d->w.v ||
	    (d->cs_channels > 0 && d->colors != d->cs_channels)))
		return 0;
	return 1;
}

static void
take(struct pass *ps, const struct dict *d, size_t data, size_t len, int trunc)
{
	struct cbp_pdfimg_hit *h;
	int ch;

	if (!d->image)
		return;
	if (!image_taken(d, &ch)) {
		/* DCTDecode and friends are not ours to count. */
		if (d->flate || d->filters > 1)
			ps->st.skipped++;
		return;
	}
	if (d->w.v < CBP_PDFIMG_MIN_SIDE || d->h.v < CBP_PDFIMG_MIN_SIDE)
		return;
	if (ps->k == ps->cap) {
		ps->st.more = 1;
		return;
	}
	h = &ps->out[ps->k];
	memset(h, 0, sizeof(*h));
	h->offset = data;
	h->length = len;
	h->w = (uint32_t)d->w.v;
	h->h = (uint32_t)d->h.v;
	h->channels = (unsigned)ch;
	h->predictor = (unsigned)d->pred;
	h->truncated = trunc;
	ps->pend[ps->k].icc = ch == 0 ? d->cs_icc : -1;
	ps->pend[ps->k].colors = d->pred != 1 ? d->colors : 0;
	ps->k++;
}

/* [/ICCBased n 0 R]: /N of profile n, 3 or 1; else the hit is dropped. */
static void
resolve_icc(struct pass *ps)
{
	size_t i, j, k = 0;

	for (i = 0; i < ps->k; i++) {
		struct cbp_pdfimg_hit *h = &ps->out[i];
		int n = 0;

		if (ps->pend[i].icc >= 0) {
			for (j = 0; j < ps->nicc; j++)
				if (ps->icc[j].obj == ps->pend[i].icc)
					n = ps->icc[j].n;
			if ((n != 1 && n != 3) ||
			    (ps->pend[i].colors != 0 && ps->pend[i].colors != n)) {
				ps->st.skipped++;
				continue;
			}
			h->channels = (unsigned)n;
		}
		ps->out[k] = *h;
		ps->pend[k] = ps->pend[i];
		k++;
	}
	ps->k = k;
}

/*
 * The object whose "obj" keyword starts at k: when it is a stream, its
 * dictionary and extent.  Returns where the pass resumes: after the data
 * of a stream, else after what was parsed (never before k + 3).
 */
static size_t
one_object(struct pass *ps, const uint8_t *p, size_t n, size_t k)
{
	struct lex lx;
	struct dict d;
	struct tok t;
	size_t data, len, next;
	int64_t num;
	int trunc, r;

	if ((num = obj_header(p, n, k)) < 0)
		return k + 3;
	lx.p = p;
	lx.i = k + 3;
	lx.n = n - lx.i > CBP_PDFIMG_DICT_MAX ? lx.i + CBP_PDFIMG_DICT_MAX : n;
	skip_ws(&lx);
	if (lx.i + 2 > lx.n || p[lx.i] != '<' || p[lx.i + 1] != '<')
		return lx.i;		/* not a dictionary: an array, a number ... */
	r = parse_dict(&lx, &d);
	if (r != CBP_OK) {
		/* Counted when it said it was an image before it broke. */
		ps->st.skipped += d.image != 0;
		return lx.i > k + 3 ? lx.i : k + 3;
	}
	/* "stream" and one end of line (CRLF or LF; a lone CR tolerated). */
	if (lex_next(&lx, &t) != T_KW || strcmp(t.s, "stream") != 0 ||
	    lx.i >= n || (p[lx.i] != '\n' && p[lx.i] != '\r'))
		return lx.i;		/* a dictionary object, not a stream */
	data = lx.i + 1;
	if (p[lx.i] == '\r' && data < n && p[data] == '\n')
		data++;
	ps->st.streams++;
	next = stream_extent(p, n, data, &d, &len, &trunc);
	/* An ICC profile stream (an object stream's /N is a count). */
	if (d.n.t == V_INT && (d.n.v == 1 || d.n.v == 3) && !d.objstm &&
	    !d.image && ps->nicc < CBP_PDFIMG_ICC_MAX) {
		ps->icc[ps->nicc].obj = num;
		ps->icc[ps->nicc].n = (int)d.n.v;
		ps->nicc++;
	}
	take(ps, &d, data, len, trunc);
	return next;
}

size_t
cbp_pdfimg_find(const uint8_t *p, size_t n, struct cbp_pdfimg_hit *out,
    size_t cap, struct cbp_pdfimg_stats *st)
{
	struct pend pend[CBP_PDFIMG_MAX];
	struct pass ps;
	const uint8_t *q;
	size_t i = 0;

	memset(&ps, 0, sizeof(ps));
	ps.out = out;
	ps.pend = pend;
	ps.cap = cap < CBP_PDFIMG_MAX ? cap : CBP_PDFIMG_MAX;
	/* Every step moves forward: each byte is searched or parsed once. */
	while (p != NULL && i < n && (q = memmem(p + i, n - i, "obj", 3)) != NULL)
		i = one_object(&ps, p, n, (size_t)(q - p));
	resolve_icc(&ps);
	if (st != NULL)
		*st = ps.st;
	return ps.k;
}

/* ---- pixels --------------------------------------------------------- */

/* Undo the predictor over h rows of rb bytes at px (PNG rows carry a tag
 * byte first and are packed down to rb bytes). */
static int
unpredict(uint8_t *px, uint32_t h, size_t rb, unsigned ch, unsigned pred)
{
	uint32_t y;
	size_t x;

	if (pred == 2) {
		for (y = 0; y < h; y++) {
			uint8_t *row = px + (size_t)y * rb;

			for (x = ch; x < rb; x++)
				row[x] = (uint8_t)(row[x] + row[x - ch]);
		}
		return CBP_OK;
	}
	if (pred < 10)
		return CBP_OK;
	for (y = 0; y < h; y++) {
		uint8_t *o = px + (size_t)y * rb;
		const uint8_t *r = px + (size_t)y * (rb + 1) + 1;
		unsigned tag = r[-1];

		/* Packed down in place (o is at or before r), then unfiltered
		 * against the row above, already final. */
		memmove(o, r, rb);
		if (cbp_png_unfilter(o, y > 0 ? o - rb : NULL, rb, ch, tag) != CBP_OK)
			return CBP_ECORRUPT;
	}
	return CBP_OK;
}

/* Inflate src into exactly want bytes at dst. */
static int
inflate_all(const uint8_t *src, size_t len, uint8_t *dst, size_t want)
{
	z_stream z;
	size_t got = 0;
	int zr = Z_OK, r = CBP_ECORRUPT;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return CBP_ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)src;
	while (got < want) {
		size_t in_left = len - (size_t)((const uint8_t *)z.next_in - src);

		if (z.avail_in == 0)
			z.avail_in = (uInt)(in_left < UINT_MAX ? in_left : UINT_MAX);
		z.next_out = dst + got;
		z.avail_out = (uInt)(want - got < UINT_MAX ? want - got : UINT_MAX);
		zr = inflate(&z, Z_NO_FLUSH);
		got = (size_t)(z.next_out - dst);
		if (zr == Z_MEM_ERROR) {
			r = CBP_ENOMEM;
			goto out;
		}
		if (zr == Z_STREAM_END || (zr != Z_OK && got < want))
			break;	/* ended, damaged, or out of input */
	}
	/* Bytes past the raster (padding some writers add) are ignored. */
	r = got == want ? CBP_OK : CBP_ECORRUPT;
out:
	inflateEnd(&z);
	return r;
}

uint64_t
cbp_pdfimg_raster_bytes(const struct cbp_pdfimg_hit *h)
{
	uint64_t rb = (uint64_t)h->w * h->channels;

	if (h->w == 0 || h->h == 0 || (h->channels != 1 && h->channels != 3))
		return 0;
	rb += h->predictor >= 10;
	if (rb > UINT64_MAX / h->h || (uint64_t)(size_t)(rb * h->h) != rb * h->h)
		return 0;
	return rb * h->h;
}

int
cbp_pdfimg_pnm(const uint8_t *p, size_t n, const struct cbp_pdfimg_hit *h,
    uint64_t max_pixels, size_t max_bytes, uint8_t **out, size_t *out_len)
{
	char hdr[48];
	uint8_t *buf;
	size_t rb, raw, pnm;
	uint64_t rawb;
	int hl, r;

	if (out == NULL || out_len == NULL || h == NULL || p == NULL)
		return CBP_EINVAL;
	*out = NULL;
	*out_len = 0;
	if (h->offset > n || h->length > n - h->offset ||
	    (h->channels != 1 && h->channels != 3) || h->w == 0 || h->h == 0)
		return CBP_EINVAL;
	if (max_pixels == 0)
		max_pixels = CBP_DECODE_MAX_PIXELS;
	/* Before any allocation: a few bytes may declare 60000 x 60000. */
	if ((uint64_t)h->w * h->h > max_pixels ||
	    (rawb = cbp_pdfimg_raster_bytes(h)) == 0)
		return CBP_ELIMIT;
	hl = snprintf(hdr, sizeof(hdr), "P%c\n%u %u\n255\n",
	    h->channels == 3 ? '6' : '5', h->w, h->h);
	rb = (size_t)h->w * h->channels;
	raw = (size_t)rawb;
	pnm = (size_t)hl + rb * h->h;
	if (max_bytes != 0 && pnm > max_bytes)
		return CBP_ELIMIT;
	if ((buf = malloc((size_t)hl + raw)) == NULL)
		return CBP_ENOMEM;
	if ((r = inflate_all(p + h->offset, h->length, buf + hl, raw)) != CBP_OK ||
	    (r = unpredict(buf + hl, h->h, rb, h->channels, h->predictor)) != CBP_OK) {
		free(buf);
		return r;
	}
	memcpy(buf, hdr, (size_t)hl);
	*out = buf;
	*out_len = pnm;
	return CBP_OK;
}
