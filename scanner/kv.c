/*
 * kv.c — the KEY=VALUE tokenizer and value masking.
 *
 * Design.  Plate and traveler reads hide in free text (JPEG COM, Exif
 * strings, PNG text chunks) and in XML (XMP).  Rather than a grammar per
 * container, one forgiving scanner walks the text once, left to right, and
 * reports three shapes as (key, value) pairs:
 *
 *   KEY=VALUE        VALUE runs to the next separator: ; | , & < > " '
 *                    or whitespace; or is quoted ("..." / '...').  This also
 *                    covers XML attributes, ns:KEY="value".
 *   <ns:KEY>text<    an XML element: its text up to the next '<', trimmed.
 *
 * Keys are [A-Za-z_][A-Za-z0-9_:.-]*, must not start inside a longer word,
 * and lose an XML namespace prefix (everything up to the last ':').
 * Scanning goes on *inside* quoted values and element text, so
 * dc:description="PLATE=7ABC123;PORT=1" yields the description and the two
 * inner pairs.  No regex engine would give us the same tokens for matching
 * and masking with a linear bound, which is why this is hand-written.
 *
 * Cost.  Every byte is visited a bounded number of times: the main cursor
 * only moves forward except for one step back into a quoted value, and the
 * forward searches (closing quote, end of tag, end of element text) each
 * stop at the next quote of the same kind or the next '<', so their ranges
 * never overlap.  Work is O(len) whatever the input.
 *
 * Masking keeps the first and last two characters of a value (UTF-8 aware,
 * one '*' per hidden character); values of four characters or fewer are
 * hidden whole.  Masking an already masked text gives the same text, so
 * callers may mask a piece and then the whole.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cbp_err.h"
#include "cbp_kv.h"
#include "cbp_text.h"

static int
is_key_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int
is_key_char(unsigned char c)
{
	return is_key_start(c) || (c >= '0' && c <= '9') || c == ':' ||
	    c == '.' || c == '-';
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v';
}

/* Characters that end an unquoted value. */
static int
is_value_end(unsigned char c)
{
	return is_space(c) || c == ';' || c == '|' || c == ',' || c == '&' ||
	    c == '<' || c == '>' || c == '"' || c == '\'' || c == '\0';
}

/* Position after the key that starts at i. */
static size_t
key_end(const unsigned char *t, size_t len, size_t i)
{
	while (i < len && is_key_char(t[i]))
		i++;
	return i;
}

/* Emit (key, value) with the namespace prefix stripped; empty keys are skipped. */
static int
emit(const unsigned char *t, size_t ks, size_t ke, size_t vs, size_t ve,
    cbp_kv_fn fn, void *arg)
{
	struct cbp_kv_pair p;
	size_t i;

	for (i = ke; i > ks; i--) {
		if (t[i - 1] == ':')
			break;
	}
	if (i >= ke)
		return 0;
	p.key = (const char *)t + i;
	p.key_len = ke - i;
	p.value = (const char *)t + vs;
	p.value_len = ve - vs;
	return fn(arg, &p);
}

/*
 * An XML start tag at t[lt] == '<' whose name spans [ns, ne).  Emit the
 * element's trimmed text when the tag closes with '>' (not "/>") before any
 * other '<'.  The scan of the tag and of the text both stop at the next '<',
 * so each '<' costs at most the bytes up to the following one.
 */
static int
xml_element(const unsigned char *t, size_t len, size_t ns, size_t ne,
    cbp_kv_fn fn, void *arg)
{
	size_t i = ne, vs, ve;

	while (i < len && t[i] != '>' && t[i] != '<')
		i++;
	if (i >= len || t[i] != '>' || t[i - 1] == '/')
		return 0;
	vs = i + 1;
	ve = vs;
	while (ve < len && t[ve] != '<')
		ve++;
	while (vs < ve && is_space(t[vs]))
		vs++;
	while (ve > vs && is_space(t[ve - 1]))
		ve--;
	if (ve == vs)
		return 0;
	return emit(t, ns, ne, vs, ve, fn, arg);
}

/*
 * KEY=VALUE with the key at [ks, ke) and t[ke] == '='.  Returns where the
 * main scan resumes through *next: just inside an opening quote (so pairs
 * inside quoted values are found too), else at the end of the value.
 */
static int
key_value(const unsigned char *t, size_t len, size_t ks, size_t ke,
    size_t *next, cbp_kv_fn fn, void *arg)
{
	size_t vs = ke + 1, ve;
	const unsigned char *q;

	if (vs < len && (t[vs] == '"' || t[vs] == '\'')) {
		q = memchr(t + vs + 1, t[vs], len - vs - 1);
		if (q != NULL) {
			*next = vs + 1;
			return emit(t, ks, ke, vs + 1, (size_t)(q - t), fn, arg);
		}
		/* No closing quote: take the rest as an unquoted value. */
		vs++;
	}
	ve = vs;
	while (ve < len && !is_value_end(t[ve]))
		ve++;
	*next = ve > ke + 1 ? ve : ke + 1;
	return emit(t, ks, ke, vs, ve, fn, arg);
}

int
cbp_kv_each(const char *text, size_t len, cbp_kv_fn fn, void *arg)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0, ke, next;
	int r;

	if (text == NULL)
		return 0;
	while (i < len) {
		if (t[i] == '<' && i + 1 < len && is_key_start(t[i + 1])) {
			ke = key_end(t, len, i + 1);
			if ((r = xml_element(t, len, i + 1, ke, fn, arg)) != 0)
				return r;
			i = ke;
			continue;
		}
		if (!is_key_start(t[i]) || (i > 0 && is_key_char(t[i - 1]))) {
			i++;
			continue;
		}
		ke = key_end(t, len, i);
		if (ke < len && t[ke] == '=') {
			if ((r = key_value(t, len, i, ke, &next, fn, arg)) != 0)
				return r;
			i = next;
		} else
			i = ke;
	}
	return 0;
}

/* ---- masking ------------------------------------------------------------ */

/*
 * Mark in hide[] the bytes of span [s, e) of t that masking hides: all of
 * it for four characters or fewer, else all but the first and last two.
 */
static void
mark_span(const unsigned char *t, size_t s, size_t e, unsigned char *hide)
{
	size_t nch = cbp_utf8_chars(t + s, e - s), ch = 0, i;

	for (i = s; i < e; i++) {
		if ((t[i] & 0xC0) != 0x80)
			ch++;
		/* ch is the 1-based number of the character byte i belongs to. */
		if (nch <= 4 || (ch > 2 && ch + 2 <= nch))
			hide[i] = 1;
	}
}

struct mask_ctx {
	const unsigned char *base;
	size_t len;
	const char *const *keys;
	size_t nkeys;
	unsigned char *hide;
};

/*
 * Plate and document numbers may contain spaces ("PLATE=7AB C123"), while a
 * space also separates pairs, so the tokenizer ends such a value at the
 * space.  For masking, extend the value over following words that cannot be
 * pairs of their own (letters, digits and '-' only, no '=') while the whole
 * stays within MASK_SPACED_MAX characters: hiding a little too much is
 * better than showing half a plate.
 */
#define MASK_SPACED_MAX 20

static int
plate_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

static size_t
extend_spaced_value(const unsigned char *t, size_t len, size_t s, size_t e)
{
	size_t w, j;

	while (e < len && t[e] == ' ') {
		for (w = e; w < len && t[w] == ' '; w++)
			;
		for (j = w; j < len && plate_char(t[j]); j++)
			;
		/* The word must end at a separator, not run into "KEY=". */
		if (j == w || (j < len && t[j] != ';' && t[j] != '|' &&
		    t[j] != ',' && t[j] != ' ' && t[j] != '\n' && t[j] != '\r' &&
		    t[j] != '\t' && t[j] != '<' && t[j] != '"' && t[j] != '\'') ||
		    j - s > MASK_SPACED_MAX)
			break;
		e = j;
	}
	return e;
}

static int
mask_pair(void *arg, const struct cbp_kv_pair *p)
{
	struct mask_ctx *m = arg;
	size_t k, s;

	for (k = 0; k < m->nkeys; k++) {
		if (strlen(m->keys[k]) == p->key_len &&
		    strncasecmp(m->keys[k], p->key, p->key_len) == 0)
			break;
	}
	if (k == m->nkeys || p->value_len == 0)
		return 0;
	s = (size_t)((const unsigned char *)p->value - m->base);
	mark_span(m->base, s, extend_spaced_value(m->base, m->len, s,
	    s + p->value_len), m->hide);
	return 0;
}

/* Append as much of p[0..n) as the cap allows (truncation is not an error). */
static int
add_capped(struct cbp_dynbuf *out, const void *p, size_t n)
{
	size_t room = out->cap - out->len;

	if (n > room)
		n = room;
	if (n == 0)
		return CBP_OK;
	return cbp_dynbuf_add(out, p, n);
}

/* Copy t to out, one '*' for each character whose lead byte is hidden. */
static int
emit_masked(const unsigned char *t, size_t len, const unsigned char *hide,
    struct cbp_dynbuf *out)
{
	size_t i = 0, run;
	int r;

	while (i < len && out->len < out->cap) {
		if (!hide[i]) {
			for (run = i; run < len && !hide[run]; run++)
				;
			if ((r = add_capped(out, t + i, run - i)) != CBP_OK)
				return r;
			i = run;
			continue;
		}
		if ((t[i] & 0xC0) != 0x80 &&
		    (r = add_capped(out, "*", 1)) != CBP_OK)
			return r;
		i++;
	}
	return CBP_OK;
}

/*
 * extra holds nextra (offset, length) pairs, i.e. 2 * nextra size_t values;
 * spans reaching past len are clipped.
 */
int
cbp_kv_mask(const char *text, size_t len, const char *const *keys,
    size_t nkeys, const size_t *extra, size_t nextra,
    struct cbp_dynbuf *out)
{
	const unsigned char *t = (const unsigned char *)text;
	struct mask_ctx m;
	size_t i, s, e;
	int r;

	if (len == 0)
		return CBP_OK;
	if ((m.hide = calloc(len, 1)) == NULL)
		return CBP_ENOMEM;
	m.base = t;
	m.len = len;
	m.keys = keys;
	m.nkeys = keys != NULL ? nkeys : 0;
	if (m.nkeys > 0)
		(void)cbp_kv_each(text, len, mask_pair, &m);
	for (i = 0; extra != NULL && i < nextra; i++) {
		s = extra[2 * i];
		if (s >= len)
			continue;
		e = extra[2 * i + 1] > len - s ? len : s + extra[2 * i + 1];
		mark_span(t, s, e, m.hide);
	}
	r = emit_masked(t, len, m.hide, out);
	free(m.hide);
	return r;
}
