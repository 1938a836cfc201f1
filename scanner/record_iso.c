/*
 * record_iso.c — ISO/IEC 19794-5 facial image records, 2005 ("010") and
 * 2011 ("030") editions.
 *
 * Design.  A record is a tree of length-prefixed blocks: the general header
 * gives the record length, each face (2005) or representation (2011)
 * gives its own length, and the image sits at a position computed from
 * those lengths.  Every position is kept as an offset from the record
 * start, and every block is checked twice before it is read, by need():
 *
 *   1. against the end of the innermost block that *declares* it (the
 *      face, the representation, the record) — failing that the record
 *      contradicts itself: CBP_ECORRUPT;
 *   2. against the bytes actually in the buffer — failing that the record
 *      is merely cut short: CBP_ETRUNC, and the caller keeps what was
 *      understood (the carver works in windows and must still see a
 *      record that runs past its window).
 *
 * Comparisons always subtract on the trusted side ("n > limit - pos" with
 * pos <= limit known), so no declared value can overflow the arithmetic,
 * and nothing is ever allocated from a declared size: the only output is
 * the fixed-size struct cbp_record.  Counts are capped (faces by
 * CBP_RECORD_FACES, feature points by CBP_RECORD_FEATURES) and each face
 * costs constant work (feature points are skipped, not read), so a parse is
 * O(faces) whatever the record says.
 *
 * The image is located exactly from the lengths — never by searching for a
 * JPEG marker — and its first bytes must then agree with a picture
 * signature: the declared type loses to the bytes when they disagree, and a
 * payload that is no picture at all makes the record corrupt.  That check is
 * what keeps "FAC\0" followed by junk from counting as a record.
 *
 * Code values are written as decimal text (gender "2", not "female"): the
 * rules compare numbers, and names would need a table per edition.
 */
#include <stdint.h>
#include <string.h>

#include "cbp_buf.h"
#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_record.h"
#include "cbp_record_int.h"

/* Fixed block sizes, 2005 edition. */
#define ISO05_HEADER 14
#define ISO05_FACIAL 20
#define ISO05_POINT 8
#define ISO05_IMAGE 12
/* The smallest face: facial information + image information, no image. */
#define ISO05_FACE_MIN (ISO05_FACIAL + ISO05_IMAGE)

/* Fixed block sizes, 2011 edition. */
#define ISO11_HEADER 17
#define ISO11_REPHEAD 19	/* length 4, date-time 9, tech 1, vendor 2, type 2, quality count 1 */
#define ISO11_QUALITY 5
#define ISO11_FACIAL 17
#define ISO11_POINT 8
#define ISO11_IMAGE 11
#define ISO11_IMGLEN 4
/* The smallest representation: every fixed block and an empty image. */
#define ISO11_REP_MIN (ISO11_REPHEAD + ISO11_FACIAL + ISO11_IMAGE + ISO11_IMGLEN)

/* Where a record lies: its declared length and the part the buffer holds. */
struct iso_span {
	const unsigned char *rec;	/* record start */
	size_t rl;			/* declared record length */
	size_t have;			/* min(rl, bytes in the buffer) */
};

/*
 * May n bytes at pos be read?  limit is the end of the innermost block
 * that declares them (<= rl).  Callers keep pos <= limit; pos may exceed
 * have only when the record is truncated.
 */
static int
need(const struct iso_span *s, size_t pos, size_t n, size_t limit)
{
	if (pos > limit || n > limit - pos)
		return CBP_ECORRUPT;
	if (pos > s->have || n > s->have - pos)
		return CBP_ETRUNC;
	return CBP_OK;
}

/* Defined code values; anything else is reserved and not written by encoders. */
static int
code_ok(uint8_t v, uint8_t max_defined)
{
	return v <= max_defined || v == 0xFF;
}

/*
 * Gender, eye and hair colour hold defined codes: the carver's evidence
 * that a truncated candidate is a record and not four lucky bytes.  Hair
 * codes end at 7 (red) in 2005 and 9 (blue) in 2011; the property mask
 * uses bits 0-10 (2005) or 0-11 (2011 adds head covering), the rest are
 * reserved as zero.
 */
static int
facial_plausible(uint8_t gender, uint8_t eye, uint8_t hair, uint8_t hair_max,
    uint32_t mask, uint32_t mask_reserved)
{
	return code_ok(gender, 2) && code_ok(eye, 7) &&
	    code_ok(hair, hair_max) && (mask & mask_reserved) == 0;
}

/*
 * Locate the image of one face and write it to out.  pos is the payload
 * start, plen its declared length.  The type comes from the payload's own
 * signature: when the declared image data type and the bytes disagree we
 * trust the bytes, since they are what a decoder (and the scan of the
 * payload as a child object) will see.
 * Returns CBP_OK, CBP_ETRUNC (payload cut by the buffer) or CBP_ECORRUPT
 * (payload is no picture we know).
 */
static int
iso_image(const struct iso_span *s, size_t off, size_t pos, size_t plen,
    uint16_t w, uint16_t h, struct cbp_record *out, int first)
{
	size_t avail = 0;
	enum cbp_payload_type t;
	int undecided = 0;

	if (pos < s->have)
		avail = s->have - pos < plen ? s->have - pos : plen;
	/* Not s->rec + pos when avail is 0: pos may lie past the buffer. */
	t = cbp_rec_sniff(avail > 0 ? s->rec + pos : s->rec, avail, plen,
	    &undecided);
	if (t == CBP_PAYLOAD_UNKNOWN)
		return undecided ? CBP_ETRUNC : CBP_ECORRUPT;
	cbp_rec_add_image(out, off + pos, avail, t, w, h);
	if (first) {
		cbp_rec_field(out, "image_type", "%s", cbp_record_payload_name(t));
		cbp_rec_field(out, "width", "%u", (unsigned)w);
		cbp_rec_field(out, "height", "%u", (unsigned)h);
	}
	return avail < plen ? CBP_ETRUNC : CBP_OK;
}

/*
 * One 2005 face at *pos (record-relative); advances *pos past it.  *seen
 * is set once its image has been located, even if the buffer cuts it.
 */
static int
iso05_face(const struct iso_span *s, size_t off, size_t *pos,
    struct cbp_record *out, int first, int *carvable, int *seen)
{
	struct cbp_cursor c;
	size_t p = *pos, face_end, plen;
	uint32_t fdl, mask;
	uint16_t npts, expr, w, h;
	uint8_t gender, eye, hair, dtype, fit, cs, src;
	int r;

	if ((r = need(s, p, ISO05_FACIAL, s->rl)) != CBP_OK)
		return r;
	c = cbp_cursor_make(s->rec + p, ISO05_FACIAL);
	if (cbp_cur_be32(&c, &fdl) || cbp_cur_be16(&c, &npts) ||
	    cbp_cur_u8(&c, &gender) || cbp_cur_u8(&c, &eye) ||
	    cbp_cur_u8(&c, &hair) || cbp_cur_be24(&c, &mask) ||
	    cbp_cur_be16(&c, &expr))
		return CBP_ETRUNC;	/* cannot happen: need() checked 20 bytes */
	/* The face must hold its own fixed blocks and fit in the record. */
	if (npts > CBP_RECORD_FEATURES)
		return CBP_ECORRUPT;
	if (fdl < (uint64_t)ISO05_FACE_MIN + (uint64_t)npts * ISO05_POINT ||
	    fdl > s->rl - p)
		return CBP_ECORRUPT;
	face_end = p + fdl;
	if (first) {
		cbp_rec_field(out, "gender", "%u", (unsigned)gender);
		cbp_rec_field(out, "eye", "%u", (unsigned)eye);
		cbp_rec_field(out, "hair", "%u", (unsigned)hair);
		cbp_rec_field(out, "expression", "%u", (unsigned)expr);
		*carvable = facial_plausible(gender, eye, hair, 7, mask,
		    0xFFF800);
	}
	p += ISO05_FACIAL;

	/* Feature points are not kept: skip them, bounded by the face length. */
	if ((r = need(s, p, (size_t)npts * ISO05_POINT, face_end)) != CBP_OK)
		return r;
	p += (size_t)npts * ISO05_POINT;

	if ((r = need(s, p, ISO05_IMAGE, face_end)) != CBP_OK)
		return r;
	c = cbp_cursor_make(s->rec + p, ISO05_IMAGE);
	if (cbp_cur_u8(&c, &fit) || cbp_cur_u8(&c, &dtype) ||
	    cbp_cur_be16(&c, &w) || cbp_cur_be16(&c, &h) ||
	    cbp_cur_u8(&c, &cs) || cbp_cur_u8(&c, &src))
		return CBP_ETRUNC;
	(void)fit;
	(void)cs;
	if (first)
		cbp_rec_field(out, "source", "%u", (unsigned)src);
	p += ISO05_IMAGE;
	plen = face_end - p;
	*pos = face_end;
	*seen = 1;
	(void)dtype;	/* the payload's signature decides, see iso_image() */
	return iso_image(s, off, p, plen, w, h, out, first);
}

/* One 2011 representation at *pos; advances *pos past it; *seen as above. */
static int
iso11_rep(const struct iso_span *s, size_t off, size_t *pos,
    struct cbp_record *out, int first, int *carvable, int *seen)
{
	struct cbp_cursor c;
	size_t p = *pos, rep_end;
	uint32_t replen, mask, ilen;
	uint16_t nlm, expr, w, h;
	uint8_t tech, nq, gender, eye, hair, dtype;
	int r;

	if ((r = need(s, p, 4, s->rl)) != CBP_OK)
		return r;
	c = cbp_cursor_make(s->rec + p, 4);
	if (cbp_cur_be32(&c, &replen))
		return CBP_ETRUNC;
	if (replen < ISO11_REP_MIN || replen > s->rl - p)
		return CBP_ECORRUPT;
	rep_end = p + replen;

	if ((r = need(s, p, ISO11_REPHEAD, rep_end)) != CBP_OK)
		return r;
	c = cbp_cursor_make(s->rec + p + 4, ISO11_REPHEAD - 4);
	if (cbp_cur_skip(&c, 9) || cbp_cur_u8(&c, &tech) ||
	    cbp_cur_skip(&c, 4) || cbp_cur_u8(&c, &nq))
		return CBP_ETRUNC;
	if (first)
		cbp_rec_field(out, "source", "%u", (unsigned)tech);
	p += ISO11_REPHEAD;
	if ((r = need(s, p, (size_t)nq * ISO11_QUALITY, rep_end)) != CBP_OK)
		return r;
	p += (size_t)nq * ISO11_QUALITY;

	if ((r = need(s, p, ISO11_FACIAL, rep_end)) != CBP_OK)
		return r;
	c = cbp_cursor_make(s->rec + p, ISO11_FACIAL);
	if (cbp_cur_be16(&c, &nlm) || cbp_cur_u8(&c, &gender) ||
	    cbp_cur_u8(&c, &eye) || cbp_cur_u8(&c, &hair) ||
	    cbp_cur_skip(&c, 1) || cbp_cur_be24(&c, &mask) ||
	    cbp_cur_be16(&c, &expr))
		return CBP_ETRUNC;
	if (nlm > CBP_RECORD_FEATURES)
		return CBP_ECORRUPT;
	if (first) {
		cbp_rec_field(out, "gender", "%u", (unsigned)gender);
		cbp_rec_field(out, "eye", "%u", (unsigned)eye);
		cbp_rec_field(out, "hair", "%u", (unsigned)hair);
		cbp_rec_field(out, "expression", "%u", (unsigned)expr);
		*carvable = facial_plausible(gender, eye, hair, 9, mask,
		    0xFFF000);
	}
	p += ISO11_FACIAL;

	if ((r = need(s, p, (size_t)nlm * ISO11_POINT, rep_end)) != CBP_OK)
		return r;
	p += (size_t)nlm * ISO11_POINT;

	if ((r = need(s, p, ISO11_IMAGE + ISO11_IMGLEN, rep_end)) != CBP_OK)
		return r;
	c = cbp_cursor_make(s->rec + p, ISO11_IMAGE + ISO11_IMGLEN);
	if (cbp_cur_skip(&c, 1) || cbp_cur_u8(&c, &dtype) ||
	    cbp_cur_be16(&c, &w) || cbp_cur_be16(&c, &h) ||
	    cbp_cur_skip(&c, 5) || cbp_cur_be32(&c, &ilen))
		return CBP_ETRUNC;
	p += ISO11_IMAGE + ISO11_IMGLEN;
	/* The image must fit in its representation (3-D data may follow it). */
	if (ilen > rep_end - p)
		return CBP_ECORRUPT;
	*pos = rep_end;
	*seen = 1;
	(void)dtype;	/* the payload's signature decides, see iso_image() */
	return iso_image(s, off, p, ilen, w, h, out, first);
}

int
cbp_rec_iso_parse(const unsigned char *buf, size_t len, size_t off,
    struct cbp_record *out, int *carvable)
{
	struct iso_span s;
	struct cbp_cursor c;
	size_t avail, pos, hdr, unit, i, nparse;
	uint32_t rl;
	uint16_t nfaces;
	int v2011, seen, r = CBP_OK;

	*carvable = 0;
	cbp_rec_reset(out);
	if (off > len || len - off < 8)
		return CBP_ENOTFOUND;
	avail = len - off;
	s.rec = buf + off;
	if (memcmp(s.rec, "FAC\0", 4) != 0)
		return CBP_ENOTFOUND;
	if (memcmp(s.rec + 4, "010\0", 4) == 0)
		v2011 = 0;
	else if (memcmp(s.rec + 4, "030\0", 4) == 0)
		v2011 = 1;
	else
		return CBP_ENOTFOUND;	/* another edition or another FAC: not ours */

	out->kind = CBP_REC_ISO19794_5;
	out->offset = off;
	memcpy(out->version, s.rec + 4, 4);	/* "010\0" / "030\0" */
	hdr = v2011 ? ISO11_HEADER : ISO05_HEADER;
	unit = v2011 ? ISO11_REP_MIN : ISO05_FACE_MIN;
	cbp_rec_field(out, "format", "ISO/IEC 19794-5");
	cbp_rec_field(out, "version", "%s", out->version);
	if (avail < hdr) {
		out->truncated = 1;
		out->length = avail;
		return CBP_ETRUNC;
	}
	c = cbp_cursor_make(s.rec + 8, 6);
	if (cbp_cur_be32(&c, &rl) || cbp_cur_be16(&c, &nfaces))
		return CBP_ETRUNC;
	cbp_rec_field(out, "length", "%lu", (unsigned long)rl);
	cbp_rec_field(out, "faces", "%u", (unsigned)nfaces);

	/* Header + the smallest possible face for every face announced. */
	if (rl < hdr + unit || nfaces == 0 ||
	    (uint64_t)nfaces * unit > rl - hdr)
		return CBP_ECORRUPT;
	s.rl = rl;
	s.have = rl < avail ? rl : avail;
	out->truncated = rl > avail;
	out->length = s.have;

	nparse = nfaces < CBP_RECORD_FACES ? nfaces : CBP_RECORD_FACES;
	pos = hdr;
	for (i = 0; i < nparse; i++) {
		seen = 0;
		r = v2011 ?
		    iso11_rep(&s, off, &pos, out, i == 0, carvable, &seen) :
		    iso05_face(&s, off, &pos, out, i == 0, carvable, &seen);
		/* A face whose image the buffer cuts still counts. */
		if (seen && (r == CBP_OK || r == CBP_ETRUNC))
			out->nfaces++;
		if (r != CBP_OK)
			break;
	}
	if (r == CBP_OK && out->truncated)
		r = CBP_ETRUNC;	/* bytes past the faces are still declared */
	return r;
}
