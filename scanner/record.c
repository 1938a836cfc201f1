/*
 * record.c — structured biometric face records: entry points, the ICAO DG2
 * wrapper, and carving records out of larger files.
 *
 * Design.  The two formats are parsed in record_iso.c (ISO/IEC 19794-5) and
 * record_ansi.c (ANSI/NIST-ITL); this file decides which parser a buffer
 * goes to.  Calls only go down these layers:
 *
 *   3 entry     record.c        parse (and the DG2 wrapper), carve, list
 *   2 formats   record_iso.c    ISO/IEC 19794-5 (2005 and 2011)
 *               record_ansi.c   ANSI/NIST-ITL Type-1 / Type-10
 *   1 fields    record_field.c  fields, image list, picture signatures,
 *                               cbp_record_get(), payload names
 *
 * The formats never call each other nor the entry.  No library fits: libbiomeval is C++ and reports bad input
 * by exceptions, NBIS's an2k reads a transaction into structures it
 * allocates field by field; we need an allocation-free locator over bytes
 * we already hold, safe on hostile input.  So both parsers are our own,
 * small, and only locate: they never decode or copy an image.
 *
 * parse(): the buffer starts with the record — "FAC\0" (ISO), a BER-TLV
 * DG2 / ISO 7816-11 template holding a "FAC\0" data block, or an
 * ANSI/NIST Type-1 record.
 *
 * carve(): records at any offset >= 1.  This runs over every byte of every
 * large file, so candidates are found with memchr() on one byte of a fixed
 * needle ("FAC\0" for ISO; for ANSI/NIST the GS byte that ends the
 * "1.001:<digits>" LEN field) and checked with memcmp(); where that byte is
 * dense (hex dumps, binary tables) the finder switches to memmem()
 * for a while, which is slower on sparse data but does not restart every
 * few bytes.  Each candidate is then validated by the same parser as
 * parse(); a mere "FAC\0010\0" followed by junk fails its length
 * cross-checks or its payload signature.  A candidate the buffer cuts
 * short (the caller carves in windows) is still kept, with truncated = 1,
 * when what the buffer holds is convincing: for ISO the general header and
 * the first facial information block, consistent and with defined code
 * values; for ANSI/NIST a complete Type-1 announcing a Type-10.  A
 * validated record is skipped as a whole, so a record inside a record is
 * not reported twice.
 *
 * Linear time: an ISO candidate costs O(CBP_RECORD_FACES) whatever it
 * declares.  An ANSI/NIST candidate can scan up to its Type-1 and Type-10
 * text, and candidates may overlap, so the carver gives the ANSI/NIST
 * parser one byte budget per call (a few times the buffer size); when
 * hostile input exhausts it, ANSI/NIST carving stops for that buffer while
 * ISO carving goes on.  The list grows geometrically up to
 * CBP_CARVE_MAX_RECORDS entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_record.h"
#include "cbp_record_int.h"

/* ---- ICAO DG2 / ISO 7816-11 BER-TLV wrapper ---------------------------- */

/*
 * TLVs looked at before giving up, and template nesting followed
 * (75 > 7F61 > 7F60 > 5F2E is depth 3): a real DG2 reaches its first data
 * block within a dozen TLVs.
 */
#define DG2_STEPS 64
#define DG2_DEPTH 4

/*
 * One BER-TLV head at p[0..n): tag of up to 3 bytes, definite length of
 * up to 4 bytes (81 xx, 82 xx xx, 83 .., 84 ..).  Indefinite length (80)
 * does not occur in these templates and is refused.
 */
static int
ber_head(const unsigned char *p, size_t n, unsigned *tag, size_t *hlen,
    size_t *vlen)
{
	size_t i = 0, k;
	uint32_t l;
	unsigned t;

	if (n < 2)
		return CBP_ETRUNC;
	t = p[i++];
	if ((t & 0x1F) == 0x1F) {
		for (;;) {
			if (i >= n)
				return CBP_ETRUNC;
			if (i >= 3)
				return CBP_ECORRUPT;
			t = (t << 8) | p[i];
			if ((p[i++] & 0x80) == 0)
				break;
		}
	}
	if (i >= n)
		return CBP_ETRUNC;
	l = p[i++];
	if (l & 0x80) {
		k = l & 0x7F;
		if (k == 0 || k > 4)
			return CBP_ECORRUPT;
		if (k > n - i)
			return CBP_ETRUNC;
		for (l = 0; k > 0; k--)
			l = (l << 8) | p[i++];
	}
	*tag = t;
	*hlen = i;
	*vlen = l;
	return CBP_OK;
}

/*
 * Offset of the "FAC\0" data block (tag 5F2E or 7F2E) inside a DG2 /
 * biometric information template that starts the buffer; descends into
 * 75, 7F61 and 7F60 and skips everything else, without recursion.
 */
static int
dg2_find(const unsigned char *buf, size_t len, size_t *fac)
{
	size_t pos = 0, end = len, hl, vl, v;
	unsigned tag, steps = 0, depth = 0;

	if (len < 2 || !(buf[0] == 0x75 ||
	    (buf[0] == 0x7F && (buf[1] == 0x61 || buf[1] == 0x60 ||
	    buf[1] == 0x2E)) || (buf[0] == 0x5F && buf[1] == 0x2E)))
		return CBP_ENOTFOUND;
	while (pos < end && steps++ < DG2_STEPS) {
		if (ber_head(buf + pos, end - pos, &tag, &hl, &vl) != CBP_OK)
			return CBP_ENOTFOUND;
		v = pos + hl;
		/* A value running past its template or the buffer is cut there:
		 * the record parser then reports the truncation itself. */
		if (vl > end - v)
			vl = end - v;
		switch (tag) {
		case 0x75:	/* EF.DG2 */
		case 0x7F61:	/* biometric information group template */
		case 0x7F60:	/* biometric information template */
			if (++depth > DG2_DEPTH)
				return CBP_ENOTFOUND;
			pos = v;
			end = v + vl;
			break;
		case 0x5F2E:	/* biometric data block */
		case 0x7F2E:
			*fac = v;
			return CBP_OK;
		default:	/* 02 count, A1 header, 7D encrypted ...: skip */
			pos = v + vl;
			break;
		}
	}
	return CBP_ENOTFOUND;
}

/* ---- parse --------------------------------------------------------------- */

int
cbp_record_parse(const unsigned char *buf, size_t len, struct cbp_record *out)
{
	size_t budget = SIZE_MAX, fac;
	int flag, r;

	if (out == NULL || (buf == NULL && len > 0))
		return CBP_EINVAL;
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return CBP_ENOTFOUND;
	if (len >= 4 && memcmp(buf, "FAC\0", 4) == 0)
		return cbp_rec_iso_parse(buf, len, 0, out, &flag);
	if (dg2_find(buf, len, &fac) == CBP_OK)
		return cbp_rec_iso_parse(buf, len, fac, out, &flag);
	/* A single parse reads every byte at most once: no budget needed. */
	r = cbp_rec_ansi_parse(buf, len, 0, out, &budget, &flag);
	return r == CBP_ELIMIT ? CBP_ECORRUPT : r;
}

/* ---- carve --------------------------------------------------------------- */

/*
 * A candidate finder: memchr() on the needle's anchor byte, memcmp() to
 * confirm.  memchr() runs at well over 10 GB/s but each call costs a few
 * nanoseconds to start, so when the anchor byte is common in the data
 * (hex dumps, text full of colons) the restarts dominate.  The finder
 * therefore measures: after FIND_SAMPLE false hits, if they came on
 * average less than FIND_DENSE_GAP bytes apart, the next FIND_DENSE_SPAN
 * bytes are searched with memmem() instead, whose speed (3-4 GB/s)
 * does not depend on the data; then memchr() is tried again.  64 bytes
 * is about where a memchr() restart (~20 ns) costs what memmem() spends
 * on the same bytes.
 */
#define FIND_SAMPLE 64
#define FIND_DENSE_GAP 64
#define FIND_DENSE_SPAN (64 * CBP_KIB)

struct finder {
	const unsigned char *buf;
	size_t len;
	const unsigned char *needle;
	size_t nlen, anchor;
	size_t dense_until;	/* memmem() below this offset */
	size_t sample_from;	/* where the current sample of false hits began */
	unsigned sample_hits;
};

/* Start of the first needle at or after from, or len when there is none. */
static size_t
find_next(struct finder *f, size_t from)
{
	const unsigned char *p;
	size_t i, end;

	while (from < f->len && f->len - from >= f->nlen) {
		if (from < f->dense_until) {
			end = f->len - f->dense_until >= f->nlen - 1 ?
			    f->dense_until + f->nlen - 1 : f->len;
			p = memmem(f->buf + from, end - from, f->needle,
			    f->nlen);
			if (p != NULL)
				return (size_t)(p - f->buf);
			from = f->dense_until;
			f->sample_hits = 0;
			continue;
		}
		if (f->sample_hits == 0)
			f->sample_from = from;
		p = memchr(f->buf + from + f->anchor, f->needle[f->anchor],
		    f->len - from - f->nlen + 1);
		if (p == NULL)
			return f->len;
		i = (size_t)(p - f->buf) - f->anchor;
		if (memcmp(f->buf + i, f->needle, f->nlen) == 0)
			return i;
		if (++f->sample_hits >= FIND_SAMPLE) {
			if (i - f->sample_from <
			    (size_t)FIND_SAMPLE * FIND_DENSE_GAP)
				f->dense_until = f->len - i > FIND_DENSE_SPAN ?
				    i + FIND_DENSE_SPAN : f->len;
			f->sample_hits = 0;
		}
		from = i + 1;
	}
	return f->len;
}

/*
 * Next ANSI/NIST candidate start >= from.  A transaction starts with the
 * Type-1 LEN field, "1.001:<digits>" (or "1.01:<digits>") followed by the
 * GS separator (0x1D).  The finder anchors on that GS byte, which is rare
 * in text, then looks back over the digits for the tag.  (Anchoring on the
 * ':' made C++ headers and logs, full of colons, the slowest files to carve.)
 */
static size_t
ansi_next(struct finder *f, size_t from)
{
	const unsigned char *b = f->buf;
	size_t h, d, s, at = from;

	while ((h = find_next(f, at)) < f->len) {
		d = h;
		while (d > 0 && h - d < 12 && b[d - 1] >= '0' && b[d - 1] <= '9')
			d--;
		s = SIZE_MAX;
		if (d < h && d >= 6 && memcmp(b + d - 6, "1.001:", 6) == 0)
			s = d - 6;
		else if (d < h && d >= 5 && memcmp(b + d - 5, "1.01:", 5) == 0)
			s = d - 5;
		if (s != SIZE_MAX && s >= from && s >= 1)
			return s;
		at = h + 1;
	}
	return f->len;
}

/* Room for one more record (the slot past the cap is scratch space). */
static int
list_reserve(struct cbp_record_list *list)
{
	struct cbp_record *v;
	size_t want;

	if (list->n < list->alloc)
		return CBP_OK;
	want = list->alloc ? list->alloc * 2 : 4;
	if (want > CBP_CARVE_MAX_RECORDS + 1)
		want = CBP_CARVE_MAX_RECORDS + 1;
	if (want <= list->n)
		return CBP_ENOMEM;	/* cannot happen: n <= cap */
	if ((v = realloc(list->v, want * sizeof(*v))) == NULL)
		return CBP_ENOMEM;
	list->v = v;
	list->alloc = want;
	return CBP_OK;
}

int
cbp_record_carve(const unsigned char *buf, size_t len, size_t base,
    struct cbp_record_list *list)
{
	struct finder ff = { buf, len, (const unsigned char *)"FAC\0", 4, 0,
	    0, 0, 0 };
	struct finder fa = { buf, len, (const unsigned char *)"\x1d", 1, 0,
	    0, 0, 0 };
	struct cbp_record *rec;
	size_t from = 1, fpos = 0, apos = 0, start, i, budget;
	int flag, ok, r, ansi_on = 1;

	if (list == NULL || (buf == NULL && len > 0))
		return CBP_EINVAL;
	if (list->limited || len < 2)
		return CBP_OK;
	/* ANSI/NIST candidates may scan this many bytes in all: see the top. */
	budget = len <= (SIZE_MAX - CBP_MIB) / 4 ? 4 * len + CBP_MIB :
	    SIZE_MAX;
	for (;;) {
		if (fpos < from)
			fpos = find_next(&ff, from);
		if (apos < from)
			apos = ansi_on ? ansi_next(&fa, from) : len;
		start = fpos < apos ? fpos : apos;
		if (start >= len)
			break;
		if ((r = list_reserve(list)) != CBP_OK)
			return r;
		rec = &list->v[list->n];
		if (start == fpos) {
			r = cbp_rec_iso_parse(buf, len, start, rec, &flag);
			ok = r == CBP_OK || (r == CBP_ETRUNC && flag);
		} else {
			r = cbp_rec_ansi_parse(buf, len, start, rec, &budget,
			    &flag);
			ok = r == CBP_OK || (r == CBP_ETRUNC && flag);
			if (r == CBP_ELIMIT) {
				ansi_on = 0;
				apos = len;
			}
		}
		if (!ok) {
			from = start + 1;
			continue;
		}
		if (list->n >= CBP_CARVE_MAX_RECORDS) {
			/* One more valid record than we may keep. */
			list->limited = 1;
			break;
		}
		rec->embedded = 1;
		rec->offset += base;
		for (i = 0; i < rec->nimages; i++)
			rec->images[i].offset += base;
		list->n++;
		/* Skip the record: what is inside it is part of it. */
		from = start + (rec->length > 0 ? rec->length : 1);
	}
	return CBP_OK;
}

/* ---- base64-encoded records ----------------------------------------------- */

static int
b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int
cbp_record_b64_next(const unsigned char *buf, size_t len, size_t from,
    size_t *start, size_t *end)
{
	static const char prefix[] = "RkFDADA";	/* "FAC\0" "0" */
	const size_t pl = sizeof prefix - 1;
	const unsigned char *p;
	size_t i;

	while (buf != NULL && from < len && len - from >= pl + 3) {
		p = memmem(buf + from, len - from, prefix, pl);
		if (p == NULL || (size_t)(p - buf) > len - pl - 3)
			return 0;
		i = (size_t)(p - buf);
		/* The version's next two digits: "10" (2005) or "30" (2011). */
		if ((p[pl] == 'x' || p[pl] == 'z') && p[pl + 1] == 'M' &&
		    p[pl + 2] == 'A') {
			size_t e = i + pl + 3;

			while (e < len && (b64_char(buf[e]) || buf[e] == '=' ||
			    buf[e] == '\n' || buf[e] == '\r' || buf[e] == ' ' ||
			    buf[e] == '\t'))
				e++;
			*start = i;
			*end = e;
			return 1;
		}
		from = i + 1;
	}
	return 0;
}

int
cbp_record_b64_decode(const unsigned char *run, size_t len,
    unsigned char *out, size_t cap, size_t *n)
{
	/*
	 * A loop of our own rather than OpenSSL's EVP_DecodeUpdate(): that
	 * one needs room for the decoding of all the input it is given, while
	 * here the output stops at cap (the caller's load limit) however long
	 * the run is.
	 */
	uint32_t acc = 0;
	size_t i, got = 0;
	int bits = 0;

	*n = 0;
	for (i = 0; i < len && got < cap; i++) {
		unsigned char c = run[i];
		int v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else if (c == '=')
			break;
		else if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		else
			return CBP_ECORRUPT;
		acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[got++] = (unsigned char)(acc >> bits);
		}
	}
	*n = got;
	return CBP_OK;
}

void
cbp_record_list_free(struct cbp_record_list *list)
{
	if (list == NULL)
		return;
	free(list->v);
	list->v = NULL;
	list->n = 0;
	list->alloc = 0;
	list->limited = 0;
}

const char *
cbp_record_kind_name(enum cbp_record_kind k)
{
	switch (k) {
	case CBP_REC_ISO19794_5:
		return "iso19794-5";
	case CBP_REC_ANSI_NIST:
		return "ansi-nist";
	case CBP_REC_NONE:
		break;
	}
	return "none";
}
