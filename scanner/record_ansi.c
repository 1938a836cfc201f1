/*
 * record_ansi.c — ANSI/NIST-ITL transactions (Type-1 + logical records),
 * looking for Type-10 facial records and their 10.999 image.
 *
 * Design.  A transaction is walked, never searched.  Type-1 comes first;
 * its LEN (1.001) must land exactly on a closing FS, and its CNT (1.003)
 * lists, in order, the type of every record that follows.  That list is
 * the only way to know how long the next record is:
 *
 *   - tagged records (2, 9, 10, 13-17, 99 ...) start "<type>.001:<LEN>" and
 *     are skipped by LEN, after checking that byte LEN-1 is the FS;
 *   - binary records (3-8) start with a 4-byte big-endian length.
 *
 * Only Type-1 and Type-10 are read field by field; field values are found
 * with memchr(GS) because text fields cannot contain separators, but the
 * DATA field (10.999) runs, raw, from its tag to the byte before the
 * record's FS and is never looked into: a JPEG is full of 1C-1F bytes.
 * Field numbers are parsed as numbers ("1.01:" in old NBIS files, "1.001:"
 * elsewhere), never matched as fixed-width strings.
 *
 * Bounds: every LEN is parsed with a digit cap (no overflow, no atoi), then
 * compared with what remains of the buffer by subtraction; 1.003 may list
 * at most CBP_RECORD_AN_RECORDS - 1 records and a record at most
 * CBP_RECORD_AN_FIELDS fields; the walk moves forward only, so a parse
 * reads each byte of Type-1 and of the Type-10 text fields once and skips
 * the rest in O(1) per record.  The carver additionally passes a byte
 * budget, because it may start a parse at many candidate offsets of the
 * same bytes; see record.c.
 *
 * Outcomes: no Type-1 signature ("1.<001>:" digits, then GS or FS) is
 * CBP_ENOTFOUND — a text file that happens to start "1.01: Introduction"
 * is not a transaction; once the signature is there, contradictions are
 * CBP_ECORRUPT and a buffer that ends before the declared records is
 * CBP_ETRUNC.  A well-formed transaction with no Type-10 is CBP_ENOTFOUND.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cbp_buf.h"
#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_record.h"
#include "cbp_record_int.h"

#define AN_FS 0x1C
#define AN_GS 0x1D
#define AN_RS 0x1E
#define AN_US 0x1F

/* Per-record work charged to the budget on top of the bytes scanned. */
#define AN_RECORD_COST 16

struct an {
	const unsigned char *buf;	/* whole buffer */
	size_t len;
	size_t off;			/* transaction start */
	struct cbp_record *out;
	size_t *budget;
};

static int
spend(struct an *a, size_t n)
{
	if (n > *a->budget)
		return CBP_ELIMIT;
	*a->budget -= n;
	return CBP_OK;
}

/* End of the field value starting at v: its GS separator, or rend. */
static size_t
field_end(const struct an *a, size_t v, size_t rend)
{
	const unsigned char *gs;

	if (v >= rend)
		return v;
	gs = memchr(a->buf + v, AN_GS, rend - v);
	return gs != NULL ? (size_t)(gs - a->buf) : rend;
}

/*
 * Decimal digits at p[0..n): returns how many (counting stops at
 * maxdig + 1, so "too many" is visible) and the value of the first maxdig
 * of them.  maxdig <= 19 keeps the value inside uint64_t.
 */
static size_t
dec(const unsigned char *p, size_t n, size_t maxdig, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	for (i = 0; i < n && i <= maxdig && p[i] >= '0' && p[i] <= '9'; i++)
		if (i < maxdig)
			x = x * 10 + (uint64_t)(p[i] - '0');
	*v = x;
	return i;
}

/*
 * A field tag "<type>.<field>:" at p[0..n).  CBP_ETRUNC when n ends inside
 * a tag that is well formed so far, CBP_ECORRUPT when it is not a tag.
 */
static int
parse_tag(const unsigned char *p, size_t n, unsigned *type, unsigned *field,
    size_t *taglen)
{
	uint64_t t, f;
	size_t i, k;

	k = dec(p, n, 3, &t);
	if (k == 0)
		return n == 0 ? CBP_ETRUNC : CBP_ECORRUPT;
	if (k > 3)
		return CBP_ECORRUPT;
	i = k;
	if (i == n)
		return CBP_ETRUNC;
	if (p[i++] != '.')
		return CBP_ECORRUPT;
	k = dec(p + i, n - i, 9, &f);
	if (k == 0)
		return i == n ? CBP_ETRUNC : CBP_ECORRUPT;
	if (k > 9)
		return CBP_ECORRUPT;
	i += k;
	if (i == n)
		return CBP_ETRUNC;
	if (p[i++] != ':')
		return CBP_ECORRUPT;
	*type = (unsigned)t;
	*field = (unsigned)f;
	*taglen = i;
	return CBP_OK;
}

/*
 * The head of a tagged record at buf[pos]: "<type>.<1>:<LEN>" then GS or FS.
 * Sets *reclen (LEN), *hdrlen (bytes up to and including the separator) and
 * *complete (the whole record is in the buffer, and then its last byte is
 * the FS).  CBP_ETRUNC when the head itself is cut; CBP_ECORRUPT otherwise.
 */
static int
record_head(const struct an *a, size_t pos, unsigned expect, size_t *reclen,
    size_t *hdrlen, int *complete)
{
	const unsigned char *p = a->buf + pos;
	size_t avail = a->len - pos, i, k;
	unsigned type, field;
	uint64_t l;
	int r;

	if ((r = parse_tag(p, avail, &type, &field, &i)) != CBP_OK)
		return r;
	if (type != expect || field != 1)
		return CBP_ECORRUPT;
	k = dec(p + i, avail - i, CBP_REC_AN_LEN_DIGITS, &l);
	if (k == 0)
		return i == avail ? CBP_ETRUNC : CBP_ECORRUPT;
	if (k > CBP_REC_AN_LEN_DIGITS)
		return CBP_ECORRUPT;
	i += k;
	if (i == avail)
		return CBP_ETRUNC;
	if (p[i] != AN_GS && p[i] != AN_FS)
		return CBP_ECORRUPT;
	i++;
	/* LEN counts from the tag's first digit to the FS: at least this head. */
	if (l < i || (p[i - 1] == AN_FS && l != i))
		return CBP_ECORRUPT;
	*hdrlen = i;
	*complete = l <= avail;
	*reclen = *complete ? (size_t)l : avail;
	if (*complete && p[*reclen - 1] != AN_FS)
		return CBP_ECORRUPT;
	return CBP_OK;
}

/* Iterator over the record types listed in 1.003 (CNT). */
struct cnt_iter {
	const unsigned char *p;
	size_t n, pos;
};

static void
cnt_start(struct cnt_iter *it, const unsigned char *p, size_t n)
{
	const unsigned char *rs = memchr(p, AN_RS, n);

	/* The first subfield is "1" US <count>: the list proper follows it. */
	it->p = p;
	it->n = n;
	it->pos = rs != NULL ? (size_t)(rs - p) + 1 : n;
}

/* CBP_OK with *type, CBP_ENOTFOUND at the end, CBP_ECORRUPT if malformed. */
static int
cnt_next(struct cnt_iter *it, unsigned *type)
{
	const unsigned char *s, *rs;
	size_t left, k;
	uint64_t v;

	if (it->pos >= it->n)
		return CBP_ENOTFOUND;
	s = it->p + it->pos;
	left = it->n - it->pos;
	k = dec(s, left, 3, &v);
	if (k == 0 || k > 3 || v == 0)
		return CBP_ECORRUPT;
	if (k < left && s[k] != AN_US && s[k] != AN_RS)
		return CBP_ECORRUPT;
	rs = memchr(s, AN_RS, left);
	it->pos = rs != NULL ? (size_t)(rs - it->p) + 1 : it->n;
	*type = (unsigned)v;
	return CBP_OK;
}

/* A whole field value of decimal digits (width, height), else 0. */
static uint32_t
dec_value(const unsigned char *p, size_t n)
{
	uint64_t v;

	if (n == 0 || n > 9 || dec(p, n, 9, &v) != n)
		return 0;
	return (uint32_t)v;
}

static int
value_is(const unsigned char *p, size_t n, const char *s)
{
	size_t i;

	if (n != strlen(s))
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = p[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (unsigned char)(ch - 'a' + 'A');
		if (ch != (unsigned char)s[i])
			return 0;
	}
	return 1;
}

/* 10.011 CGA: the declared compression of the image. */
static enum cbp_payload_type
cga_type(const unsigned char *p, size_t n)
{
	if (value_is(p, n, "JPEGB") || value_is(p, n, "JPEGL"))
		return CBP_PAYLOAD_JPEG;
	if (value_is(p, n, "JP2") || value_is(p, n, "JP2L"))
		return CBP_PAYLOAD_JP2;
	if (value_is(p, n, "PNG"))
		return CBP_PAYLOAD_PNG;
	return CBP_PAYLOAD_UNKNOWN;	/* NONE, WSQ20 ...: the bytes decide */
}

/*
 * After a "10.999:" tag at v: is this the short text of a duplicate DATA
 * field (printable bytes, GS, then another Type-10 tag)?  Returns the next
 * tag's position, or 0 when v starts the real data.
 */
static size_t
quirk_next_field(const struct an *a, size_t v, size_t rend)
{
	size_t q = v, taglen;
	unsigned type, field;

	while (q < rend && q - v < CBP_REC_AN_QUIRK_MAX &&
	    a->buf[q] >= 0x20 && a->buf[q] < 0x7F)
		q++;
	if (q >= rend || a->buf[q] != AN_GS || q + 1 >= rend)
		return 0;
	if (parse_tag(a->buf + q + 1, rend - q - 1, &type, &field,
	    &taglen) != CBP_OK || type != 10)
		return 0;
	return q + 1;
}

/*
 * The Type-10 record at s, LEN reclen (clipped to the buffer when not
 * complete), head of hdrlen bytes.  Keeps the first Type-10's fields,
 * adds every Type-10's image.
 */
static int
type10(struct an *a, size_t s, size_t reclen, size_t hdrlen, int complete)
{
	struct cbp_record *out = a->out;
	const unsigned char *cga = NULL;
	size_t rend, p, v, e, taglen, cga_len = 0, nf = 0, dlen, avail;
	uint32_t w = 0, h = 0;
	unsigned type, field;
	enum cbp_payload_type decl, t;
	int first = out->nfaces == 0, have999 = 0, undecided = 0, r;
	char key[16];

	out->nfaces++;
	/* Fields end at the FS (complete) or where the buffer does. */
	rend = complete ? s + reclen - 1 : s + reclen;
	p = s + hdrlen;
	if (p > rend)
		p = rend;	/* LEN alone, closed by FS: no fields */
	v = p;
	while (p < rend) {
		if (++nf > CBP_RECORD_AN_FIELDS)
			return CBP_ECORRUPT;
		r = parse_tag(a->buf + p, rend - p, &type, &field, &taglen);
		if (r != CBP_OK)
			return r == CBP_ETRUNC && !complete ? CBP_ETRUNC :
			    CBP_ECORRUPT;
		if (type != 10)
			return CBP_ECORRUPT;
		v = p + taglen;
		if (field == 999) {
			size_t q = quirk_next_field(a, v, rend);

			if ((r = spend(a, q != 0 ? q - p : taglen)) != CBP_OK)
				return r;
			if (q != 0) {
				p = q;
				continue;
			}
			have999 = 1;
			break;
		}
		e = field_end(a, v, rend);
		if ((r = spend(a, e - p)) != CBP_OK)
			return r;
		if (field == 6)
			w = dec_value(a->buf + v, e - v);
		else if (field == 7)
			h = dec_value(a->buf + v, e - v);
		else if (field == 11) {
			cga = a->buf + v;
			cga_len = e - v;
		}
		if (first && (field == 3 || field == 5 || field == 6 ||
		    field == 7 || field == 11 || field == 20)) {
			(void)snprintf(key, sizeof(key), "10.%03u", field);
			if (cbp_record_get(out, key) == NULL)
				cbp_rec_field_text(out, key, a->buf + v, e - v);
		}
		p = e < rend ? e + 1 : rend;
	}
	if (!have999)
		return complete ? CBP_ECORRUPT : CBP_ETRUNC;

	/* DATA: from after the tag to the byte before the FS, never searched. */
	avail = rend - v;
	dlen = complete ? avail : (size_t)-1;
	decl = cga != NULL ? cga_type(cga, cga_len) : CBP_PAYLOAD_UNKNOWN;
	t = cbp_rec_sniff(a->buf + v, avail, dlen, &undecided);
	if (t == CBP_PAYLOAD_UNKNOWN)
		t = undecided && decl != CBP_PAYLOAD_UNKNOWN ? decl :
		    CBP_PAYLOAD_OTHER;
	cbp_rec_add_image(out, v, avail, t, w, h);
	return complete ? CBP_OK : CBP_ETRUNC;
}

/* Type-1 signature: "1.<field 1>:" then digits then GS or FS. */
static int
type1_signature(const unsigned char *p, size_t n)
{
	unsigned type, field;
	size_t i, k;

	if (n < 2 || p[0] != '1' || p[1] != '.')
		return 0;
	if (parse_tag(p, n, &type, &field, &i) != CBP_OK || type != 1 ||
	    field != 1)
		return 0;
	/* Any number of digits: an absurd LEN is a corrupt transaction. */
	for (k = i; k < n && p[k] >= '0' && p[k] <= '9'; k++)
		;
	return k > i && k < n && (p[k] == AN_GS || p[k] == AN_FS);
}

/* 1.002 VER, printable characters only, as much as out->version holds. */
static void
version_from(struct cbp_record *out, const unsigned char *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k < sizeof(out->version) - 1; i++)
		if (p[i] > 0x20 && p[i] < 0x7F)
			out->version[k++] = (char)p[i];
	out->version[k] = '\0';
}

/* Type-1 fields; sets *cnt to the 1.003 value. */
static int
type1_fields(struct an *a, size_t s, size_t reclen, size_t hdrlen,
    const unsigned char **cnt, size_t *cnt_len)
{
	struct cbp_record *out = a->out;
	size_t rend = s + reclen - 1, p = s + hdrlen, v, e, taglen, nf = 0;
	unsigned type, field;
	char key[16];
	int r;

	*cnt = NULL;
	*cnt_len = 0;
	while (p < rend) {
		if (++nf > CBP_RECORD_AN_FIELDS)
			return CBP_ECORRUPT;
		if (parse_tag(a->buf + p, rend - p, &type, &field,
		    &taglen) != CBP_OK || type != 1)
			return CBP_ECORRUPT;
		v = p + taglen;
		e = field_end(a, v, rend);
		if ((r = spend(a, e - p)) != CBP_OK)
			return r;
		if (field >= 2 && field <= 15) {
			(void)snprintf(key, sizeof(key), "1.%03u", field);
			if (cbp_record_get(out, key) == NULL) {
				cbp_rec_field_text(out, key, a->buf + v, e - v);
				if (field == 2)
					version_from(out, a->buf + v, e - v);
				if (field == 3) {
					*cnt = a->buf + v;
					*cnt_len = e - v;
				}
			}
		}
		p = e < rend ? e + 1 : rend;
	}
	return *cnt != NULL ? CBP_OK : CBP_ECORRUPT;
}

/* Walk the records 1.003 lists, after Type-1; *pos ends past the last. */
static int
walk(struct an *a, const unsigned char *cnt, size_t cnt_len, size_t *pos)
{
	struct cnt_iter it;
	struct cbp_cursor c;
	size_t reclen, hdrlen, minlen;
	uint32_t blen;
	unsigned t;
	int complete, r;

	cnt_start(&it, cnt, cnt_len);
	while ((r = cnt_next(&it, &t)) == CBP_OK) {
		if ((r = spend(a, AN_RECORD_COST)) != CBP_OK)
			return r;
		if (*pos >= a->len)
			return CBP_ETRUNC;	/* 1.003 lists more records */
		if (t >= 3 && t <= 8) {
			/*
			 * Binary record: 4-byte length, IDC, then a header of
			 * a size fixed by the type (Type-4/3/5/6: 18 bytes,
			 * Type-8: 12; Type-7 is user-defined, LEN + IDC).
			 */
			minlen = t == 8 ? 12 : t == 7 ? 5 : 18;
			c = cbp_cursor_make(a->buf + *pos, a->len - *pos);
			if (cbp_cur_be32(&c, &blen) != CBP_OK)
				return CBP_ETRUNC;
			if (blen < minlen)
				return CBP_ECORRUPT;
			if (blen > a->len - *pos)
				return CBP_ETRUNC;
			*pos += blen;
			continue;
		}
		if ((r = record_head(a, *pos, t, &reclen, &hdrlen,
		    &complete)) != CBP_OK)
			return r;
		if (t == 10 && (r = type10(a, *pos, reclen, hdrlen,
		    complete)) != CBP_OK)
			return r;
		*pos += reclen;
		if (!complete)
			return CBP_ETRUNC;
	}
	return r == CBP_ENOTFOUND ? CBP_OK : r;
}

int
cbp_rec_ansi_parse(const unsigned char *buf, size_t len, size_t off,
    struct cbp_record *out, size_t *budget, int *type1_ok)
{
	struct an a = { buf, len, off, out, budget };
	struct cnt_iter it;
	const unsigned char *cnt;
	size_t reclen, hdrlen, cnt_len, nrec = 0, pos = off;
	unsigned t;
	int complete, has10 = 0, r;

	*type1_ok = 0;
	cbp_rec_reset(out);
	if (off > len || !type1_signature(buf + off, len - off))
		return CBP_ENOTFOUND;
	out->kind = CBP_REC_ANSI_NIST;
	out->offset = off;
	cbp_rec_field(out, "format", "ANSI/NIST-ITL");

	if ((r = record_head(&a, off, 1, &reclen, &hdrlen, &complete)) !=
	    CBP_OK)
		goto out;
	if (!complete) {
		pos = len;
		r = CBP_ETRUNC;
		goto out;
	}
	pos = off + reclen;
	if ((r = type1_fields(&a, off, reclen, hdrlen, &cnt, &cnt_len)) !=
	    CBP_OK)
		goto out;
	if ((r = spend(&a, cnt_len)) != CBP_OK)
		goto out;
	/* Validate the whole list first: a Type-10 must be announced. */
	cnt_start(&it, cnt, cnt_len);
	while ((r = cnt_next(&it, &t)) == CBP_OK) {
		if (++nrec > CBP_RECORD_AN_RECORDS - 1) {
			r = CBP_ECORRUPT;
			goto out;
		}
		has10 |= t == 10;
	}
	if (r != CBP_ENOTFOUND)
		goto out;
	if (!has10) {
		cbp_rec_reset(out);
		return CBP_ENOTFOUND;
	}
	*type1_ok = 1;
	r = walk(&a, cnt, cnt_len, &pos);
	if (r == CBP_OK && out->nfaces == 0)
		r = CBP_ECORRUPT;	/* cannot happen: the list has a Type-10 */
out:
	if (pos > len)
		pos = len;
	out->length = pos - off;
	if (r == CBP_ETRUNC)
		out->truncated = 1;
	return r;
}
