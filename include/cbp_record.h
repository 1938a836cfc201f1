/*
 * cbp_record.h — structured biometric face records.
 *
 * ISO/IEC 19794-5 facial image records (2005 "010" and 2011 "030") and
 * ANSI/NIST-ITL transactions (Type-1 followed by tagged records; Type-10
 * facial records and their 10.999 image field; binary Types 3-8 skipped by
 * their header length as 1.003 announces them).  Parsing is from a buffer
 * with explicit bounds; lengths in headers are checked against each other
 * and against the buffer, never trusted to size anything.
 *
 * Two entry points:
 *   cbp_record_parse()  the buffer *starts* with a record (standalone);
 *   cbp_record_carve()  find records at any offset of a larger buffer
 *                       (database dump, disk image, concatenation), with
 *                       work bounded per buffer.
 * A record found by either gives its kind, where it is, a list of
 * key=value fields (for rules and evidence) and the exact location of each
 * embedded picture (JPEG / JPEG 2000 / PNG), so the scan can scan that
 * payload as a child object.
 */
#ifndef CBP_RECORD_H
#define CBP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_limits.h"

enum cbp_record_kind {
	CBP_REC_NONE = 0,
	CBP_REC_ISO19794_5,	/* "FAC\0" face image record */
	CBP_REC_ANSI_NIST,	/* ANSI/NIST-ITL transaction with a Type-10 record */
};

enum cbp_payload_type {
	CBP_PAYLOAD_UNKNOWN = 0,
	CBP_PAYLOAD_JPEG,
	CBP_PAYLOAD_JP2,	/* JP2 box file or raw J2K codestream */
	CBP_PAYLOAD_PNG,
	CBP_PAYLOAD_OTHER,	/* WSQ, raw ... */
};

#define CBP_RECORD_IMAGES 16	/* payloads located per record */

struct cbp_record_image {
	size_t offset;		/* from the start of the buffer given to parse/carve */
	size_t length;		/* bytes of the payload (within the buffer) */
	enum cbp_payload_type type;	/* from the declared type, checked against magic bytes */
	uint32_t width, height;	/* as declared by the record (0 = absent) */
};

struct cbp_record_field {
	char key[16];		/* "version", "faces", "1.004", "10.003" ... */
	char value[112];	/* printable text, truncated if longer */
};

struct cbp_record {
	enum cbp_record_kind kind;
	size_t offset;		/* where the record starts in the buffer */
	size_t length;		/* record length as validated (<= buffer end) */
	int embedded;		/* 1 when found at offset > 0 by carving */
	int truncated;		/* declared length runs past the buffer */
	char version[8];	/* "010", "030"; ANSI/NIST 1.002 ("0400") */
	unsigned nfaces;	/* faces / representations / Type-10 records */
	struct cbp_record_image images[CBP_RECORD_IMAGES];
	size_t nimages;
	/*
	 * Fields for rules and evidence.  ISO: version, length, faces,
	 * image_type (jpeg/jp2/png), width, height, gender, eye, hair,
	 * expression, source.  ANSI/NIST: the Type-1 fields 1.002-1.015 as
	 * found, and per Type-10 record 10.003 (IMT), 10.005, 10.006,
	 * 10.007, 10.011 (CGA), 10.020 (POS); never 10.999 (image bytes).
	 */
	struct cbp_record_field fields[CBP_RECORD_FIELDS];
	size_t nfields;
};

struct cbp_record_list {
	struct cbp_record *v;
	size_t n, alloc;
	int limited;		/* CBP_CARVE_MAX_RECORDS reached */
};

/*
 * Parse a record that starts at buf[0].  Returns CBP_OK and fills *out;
 * CBP_ENOTFOUND when buf does not start with a record (ordinary file, or
 * "FAC" in text that fails validation); CBP_ECORRUPT or CBP_ETRUNC when it
 * starts like one but is malformed or cut short (out is still filled with
 * what was understood, out->kind set).  For ANSI/NIST, a transaction
 * without a Type-10 record gives CBP_ENOTFOUND.
 */
int cbp_record_parse(const unsigned char *buf, size_t len,
    struct cbp_record *out);

/*
 * Find records at any offset >= 1 of buf (offset 0 is parse()'s job),
 * appending each validated one to *list with embedded = 1 and offsets
 * relative to buf plus base (the buffer's offset in the whole file, for
 * windowed carving).  Only candidates that validate (version, lengths
 * consistent, payload magic where it should be) are kept, so "FAC" in text
 * is not a record.  Returns CBP_OK or CBP_ENOMEM.
 */
int cbp_record_carve(const unsigned char *buf, size_t len, size_t base,
    struct cbp_record_list *list);

void cbp_record_list_free(struct cbp_record_list *list);

/*
 * Base64-encoded face records, as XML CBEFF carries them in <BDB> elements
 * (docs/formats.md 5): find the next run at or after from that begins with
 * the encoding of "FAC\0" "010" or "FAC\0" "030" ("RkFDADAxMA",
 * "RkFDADAzMA").  The run goes on over base64 characters, '=' and the
 * white space line-wrapped base64 carries.  Returns 1 with [*start, *end)
 * set, or 0 when there is no further run.  Only locates: the caller
 * decodes the run and parses the bytes like any record, so a prefix
 * followed by junk is not a record.
 */
int cbp_record_b64_next(const unsigned char *buf, size_t len, size_t from,
    size_t *start, size_t *end);

/*
 * Decode a base64 run (white space ignored) into out, which has room for
 * cap bytes; *n is the decoded length, at most cap (a longer decoding is
 * cut there).  Returns CBP_OK, CBP_ECORRUPT when the run is not base64,
 * CBP_ENOMEM.
 */
int cbp_record_b64_decode(const unsigned char *run, size_t len,
    unsigned char *out, size_t cap, size_t *n);

/* Value of a field, or NULL. */
const char *cbp_record_get(const struct cbp_record *r, const char *key);

/* "iso19794-5", "ansi-nist" or "none". */
const char *cbp_record_kind_name(enum cbp_record_kind k);

/* "jpeg", "jp2", "png", "other", "unknown". */
const char *cbp_record_payload_name(enum cbp_payload_type t);

#endif
