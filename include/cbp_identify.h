/*
 * cbp_identify.h — what an object is, decided once, by content.
 *
 * cbp_identify_object() gives one answer per object (struct cbp_ident):
 * the MIME type, what kind of thing it is, the container or compression
 * format, the image format or biometric record type, and the offset at
 * which a container starts when that is not 0 (a zip behind an executable
 * stub or padding, a zstd stream behind skippable frames).  Every later
 * stage branches on that answer: the rules (mime), the facts (image
 * metadata, record parse), the scan (expand or carve) and the expand stage
 * (which libarchive formats to offer, from where).  Nobody else sniffs
 * magic numbers.
 *
 * How, cheapest first:
 *   1. libmagic on the head with our own compiled database
 *      (rules/cbpscan.magic -> cbpscan.mgc): every type the rules and the
 *      expand stage need, with libmagic's built-in slow tests (text
 *      encoding beyond 256 bytes, CDF, JSON, CSV, ELF details) off.  The
 *      MIME type it gives is mapped to the kind by one table here.
 *   2. Only when libmagic could not name a container from the head, a few
 *      bounded probes, each justified where it is written (identify.c):
 *      ISO 9660's volume descriptor at 32 KiB, zstd/LZ4 skippable frames,
 *      the overlay after an ELF or PE stub, the zip end-of-central-directory
 *      record in the tail.  A plain executable or an unknown binary costs
 *      at most one small read of its tail; never a full read.
 * The file name never decides the type.
 *
 * Two libmagic handles per worker thread (libmagic handles are not
 * thread-safe): fast (above) and full, the system database, loaded on first
 * use, only for rules that ask for libmagic's description ("magic").
 */
#ifndef CBP_IDENTIFY_H
#define CBP_IDENTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_err.h"
#include "cbp_meta.h"
#include "cbp_object.h"

struct cbp_identify;

/* What kind of thing an object is: what the later stages branch on. */
enum cbp_kind {
	CBP_KIND_OTHER = 0,	/* nothing a later stage treats specially */
	CBP_KIND_ARCHIVE,	/* a container libarchive reads: .format */
	CBP_KIND_COMPRESSED,	/* one compressed stream (maybe a tar inside): .format */
	CBP_KIND_IMAGE,		/* an image: .image (NONE for formats we do not parse) */
	CBP_KIND_RECORD,	/* a biometric record: .record */
	CBP_KIND_TEXT,		/* text, markup, JSON */
	CBP_KIND_PDF,
	CBP_KIND_EXECUTABLE,	/* ELF, PE, Mach-O with nothing we read appended */
};

/* Container and compression formats (libarchive's readers and filters). */
enum cbp_format {
	CBP_FMT_NONE = 0,
	/* archives */
	CBP_FMT_ZIP, CBP_FMT_TAR, CBP_FMT_7Z, CBP_FMT_RAR, CBP_FMT_CPIO,
	CBP_FMT_ISO9660, CBP_FMT_CAB, CBP_FMT_AR, CBP_FMT_XAR, CBP_FMT_LHA,
	CBP_FMT_WARC, CBP_FMT_RPM,
	/* compressed streams */
	CBP_FMT_GZIP, CBP_FMT_BZIP2, CBP_FMT_XZ, CBP_FMT_ZSTD, CBP_FMT_LZ4,
	CBP_FMT_LZMA, CBP_FMT_LZIP, CBP_FMT_COMPRESS,
};

/* Biometric record types the magic database names. */
enum cbp_ident_record {
	CBP_IDREC_NONE = 0,
	CBP_IDREC_ISO19794_5,	/* face: the records cbp_record_parse() reads */
	CBP_IDREC_ANSI_NIST,	/* ANSI/NIST-ITL transaction */
	CBP_IDREC_ICAO_DG2,	/* ICAO 9303 DG2 (face inside) */
	CBP_IDREC_OTHER,	/* iris, finger: named, not parsed */
};

struct cbp_ident {
	char mime[96];			/* type/subtype only, never empty */
	enum cbp_kind kind;
	enum cbp_format format;		/* ARCHIVE and COMPRESSED */
	enum cbp_image_format image;	/* IMAGE */
	enum cbp_ident_record record;	/* RECORD */
	/*
	 * Where the container starts in the object (ARCHIVE, COMPRESSED):
	 * 0 normally; past an executable stub, padding or skippable frames
	 * when found by a probe.  The expand stage reads from here.
	 */
	uint64_t offset;
	int hidden;			/* found by a probe, not by libmagic */
};

/* Work counters of one handle, for benchmarks (bench/microbench.c). */
struct cbp_identify_stats {
	uint64_t objects;	/* cbp_identify_object calls */
	uint64_t magic_calls;	/* magic_buffer() calls (fast and full) */
	uint64_t probes;	/* objects that needed a probe past the head */
	uint64_t probe_reads;	/* reads past the head (pread or memory peek) */
	uint64_t probe_bytes;	/* bytes those reads asked for */
};

/*
 * fast_db: path of cbpscan.mgc, required (NULL gives CBP_EINVAL; main.c
 * decides where it comes from and checks it).  full_db: NULL for the
 * system default.  Loads the fast database now, the full one lazily.
 */
struct cbp_identify *cbp_identify_new(const char *fast_db, const char *full_db,
    struct cbp_error *err);
void cbp_identify_free(struct cbp_identify *id);

/*
 * The one identification of o (head already read by cbp_read_head).
 * Always fills *out (an object that cannot be probed is what its head
 * says).  Returns CBP_OK, or CBP_EIO when a probe read failed: *out is
 * still usable and err says what failed (the caller may report it).
 */
int cbp_identify_object(struct cbp_identify *id, struct cbp_object *o,
    struct cbp_ident *out, struct cbp_error *err);

/*
 * The kind, format, image and record for a MIME type from the fast
 * database (the table cbp_identify_object uses; offset 0, not hidden).
 * For callers that have bytes but no object, and for tests.
 */
void cbp_identify_classify(const char *mime, struct cbp_ident *out);

/* The format's name ("zip", "gzip" ...), for messages and tests. */
const char *cbp_identify_format_name(enum cbp_format f);

/* MIME type of the head bytes; never NULL ("application/octet-stream").
 * The string is valid until the next call on this handle.  No probes:
 * cbp_identify_object is the answer for objects. */
const char *cbp_identify_mime(struct cbp_identify *id, const void *head,
    size_t len);

/* libmagic's full description (system database); NULL on error (err set).
 * Valid until the next call on this handle. */
const char *cbp_identify_describe(struct cbp_identify *id, const void *head,
    size_t len, struct cbp_error *err);

void cbp_identify_get_stats(const struct cbp_identify *id,
    struct cbp_identify_stats *st);

#endif
