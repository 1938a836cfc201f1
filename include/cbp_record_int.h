/*
 * cbp_record_int.h — private interface between the parts of the record
 * module (scanner/record.c, record_iso.c, record_ansi.c).  Not for other
 * modules: they use cbp_record.h.
 *
 * Both format parsers take the whole buffer and the offset where the record
 * starts, so that every location they report (record offset, image
 * offsets) is already relative to the buffer the caller gave to
 * cbp_record_parse() or cbp_record_carve(); the DG2 unwrapping and the
 * carver then never have to fix offsets up, except for the carver's base.
 */
#ifndef CBP_RECORD_INT_H
#define CBP_RECORD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_record.h"

/*
 * Bytes a payload must show before we can say which picture format it is
 * (the longest magic we compare, the JP2 and PNG signatures, is 8 bytes).
 */
#define CBP_REC_MAGIC_MAX 8

/*
 * Printable characters scanned after a "10.999:" tag to recognise the
 * duplicate-DATA quirk (NBIS valid1.11.an2: a first 10.999 holding short
 * text, then GS and the real 10.999).  Real image data never starts with
 * printable text, so this short look never reads into a picture as text.
 */
#define CBP_REC_AN_QUIRK_MAX 128

/*
 * Decimal digits accepted in an ANSI/NIST LEN field: 12 digits is a
 * terabyte record, far past anything real, and keeps the value well inside
 * uint64_t so the conversion cannot overflow.
 */
#define CBP_REC_AN_LEN_DIGITS 12

/* Reset the scalar parts of a record (arrays are left, counts zeroed). */
void cbp_rec_reset(struct cbp_record *r);

/* Append key=value (printf-style value), silently dropped when full. */
void cbp_rec_field(struct cbp_record *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Append key=value from raw ANSI/NIST text: RS (subfield) becomes '|', US
 * (item) becomes ' ', any other control or non-ASCII byte '?'; truncated
 * to the value size.
 */
void cbp_rec_field_text(struct cbp_record *r, const char *key,
    const unsigned char *p, size_t n);

/* Append an image location; dropped (not an error) past CBP_RECORD_IMAGES. */
void cbp_rec_add_image(struct cbp_record *r, size_t offset, size_t length,
    enum cbp_payload_type type, uint32_t width, uint32_t height);

/*
 * Picture format from the first bytes of a payload.  p holds avail bytes of
 * a payload declared to be declared bytes long.  Returns the type, or
 * CBP_PAYLOAD_UNKNOWN; *undecided is set to 1 when the bytes seen so far
 * are a prefix of some signature but the buffer ends before the signature
 * could be completed (a truncated payload, not a wrong one).
 */
enum cbp_payload_type cbp_rec_sniff(const unsigned char *p, size_t avail,
    size_t declared, int *undecided);

/*
 * ISO/IEC 19794-5 record at buf[off] (2005 "010" or 2011 "030").  Returns
 * CBP_OK, CBP_ENOTFOUND (no "FAC\0" + known version), CBP_ECORRUPT or
 * CBP_ETRUNC (out filled with what was understood, out->kind set).  Does
 * not clear out's arrays (the carver calls it for every candidate).
 * *carvable is set to 1 once the general header and the first face's
 * facial information have been read, are consistent with each other, and
 * hold only defined code values (gender, eye, hair, property mask): the
 * evidence the carver asks of a record the buffer cuts short.
 */
int cbp_rec_iso_parse(const unsigned char *buf, size_t len, size_t off,
    struct cbp_record *out, int *carvable);

/*
 * ANSI/NIST-ITL transaction at buf[off].  Returns CBP_OK (at least one
 * Type-10 record), CBP_ENOTFOUND (no Type-1 signature, or no Type-10 in
 * the transaction; out is then reset), CBP_ECORRUPT, CBP_ETRUNC, or
 * CBP_ELIMIT when *budget (bytes the parse may still scan; the carver's
 * linear-time guarantee) runs out.  *type1_ok is set to 1 once the Type-1
 * record has validated completely (length, closing FS, fields, 1.003
 * listing a Type-10).
 */
int cbp_rec_ansi_parse(const unsigned char *buf, size_t len, size_t off,
    struct cbp_record *out, size_t *budget, int *type1_ok);

#endif
