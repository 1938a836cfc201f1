/*
 * cbp_meta_int.h — internals shared by scanner/meta*.c (not a public API).
 *
 * One struct meta_ctx travels through every parser of one extraction: it
 * holds the input, the output being filled and the budgets that are
 * global to the image (kept text bytes, segments walked, bytes inflated).
 * The per-format parsers (meta_jpeg.c, meta_png.c, meta_tiff.c,
 * meta_iim.c, meta_jp2.c) only read through bounds-checked cursors and only
 * produce output through meta_add() (meta_field.c), so every cap is
 * enforced in one place.  The declarations below go by layer, lowest
 * first; scanner/meta.c draws the layering.
 */
#ifndef CBP_META_INT_H
#define CBP_META_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_buf.h"
#include "cbp_limits.h"
#include "cbp_meta.h"

/*
 * Bytes inflated per image over all zTXt/iTXt chunks together.  Each chunk
 * is capped at CBP_META_INFLATE_MAX, but a PNG may hold thousands of small
 * zlib bombs; without a total, 4096 chunks x 1 MiB would cost seconds of
 * CPU.  Four chunks' worth is more than the text we can keep anyway
 * (CBP_META_TOTAL).  Candidate for cbp_limits.h.
 */
#define META_INFLATE_BUDGET (4 * CBP_META_INFLATE_MAX)

/* How the bytes handed to meta_add() are encoded. */
enum meta_enc {
	META_RAW = 0,		/* UTF-8 (or unknown): kept as is */
	META_LATIN1,		/* ISO 8859-1, converted to UTF-8 */
	META_UTF16LE,		/* UTF-16/UCS-2, converted to UTF-8 */
	META_UTF16BE,
};

struct meta_ctx {
	struct cbp_meta *m;		/* the output */
	const unsigned char *buf;	/* the whole input */
	size_t len;
	int complete;			/* buf is the whole file */
	size_t kept;			/* value bytes kept, for CBP_META_TOTAL */
	size_t inflated;		/* bytes inflated, for META_INFLATE_BUDGET */
	unsigned segments;		/* for CBP_META_SEGMENTS */
	size_t scan_left;		/* bytes meta_add() may still look at */
	unsigned ifds;			/* TIFF IFDs walked, for CBP_META_IFDS */
	size_t fields_alloc;		/* slots allocated in m->fields */
	int nomem;			/* an allocation failed: stop everything */
};

/* Flags of meta_tiff(). */
#define META_TIFF_FILE	 0x1	/* a TIFF file: size tags, BigTIFF allowed */
#define META_TIFF_INPUT	 0x2	/* data points into ctx->buf (thumbnail offsets usable) */
#define META_TIFF_PREFIX 0x4	/* data may be cut short: running out is not corruption */

/* ---- layer 1: fields and problem flags (meta_field.c) ---- */

/* Record the first problem (detail must be a static string). */
void meta_corrupt(struct meta_ctx *ctx, const char *detail);
/* Data ran out: corruption if the data was complete, else just the end. */
void meta_short(struct meta_ctx *ctx, int complete, const char *detail);
void meta_limited(struct meta_ctx *ctx);
/* Count one segment/chunk/box; 0 (and limited set) once the cap is reached. */
int meta_segment(struct meta_ctx *ctx);

/*
 * Add a field named prefix + suffix (suffix may be NULL; it is converted
 * from suffix_enc) whose value is val[0..n) converted from enc.  Trailing
 * NULs and spaces are trimmed; an empty value adds nothing.  Applies
 * CBP_META_FIELD_MAX, CBP_META_TOTAL and CBP_META_FIELDS, setting limited
 * when one cuts.  Returns CBP_OK or CBP_ENOMEM (also sets ctx->nomem).
 */
int meta_add(struct meta_ctx *ctx, const char *prefix,
    const unsigned char *suffix, size_t suffix_len, enum meta_enc suffix_enc,
    const unsigned char *val, size_t n, enum meta_enc enc);

/* ---- layer 2: payloads (meta_iim.c, meta_tiff.c) ---- */

/* Parse a TIFF structure (Exif block or TIFF file) at p[0..n). */
void meta_tiff(struct meta_ctx *ctx, const unsigned char *p, size_t n,
    int flags);
/* Photoshop image resources (8BIM ...): IPTC-IIM of resource 0x0404. */
void meta_psir(struct meta_ctx *ctx, const unsigned char *p, size_t n);
/* IPTC-IIM datasets: record 2 text datasets as IPTC:<Name>. */
void meta_iim(struct meta_ctx *ctx, const unsigned char *p, size_t n);
/* ---- layer 3: containers (meta_jp2.c, meta_jpeg.c, meta_png.c) ---- */

/* Raw JPEG 2000 codestream: SIZ size (if none yet) and COM comments. */
void meta_j2k(struct meta_ctx *ctx, const unsigned char *p, size_t n,
    int complete);

void meta_jpeg(struct meta_ctx *ctx);
void meta_png(struct meta_ctx *ctx);
void meta_jp2(struct meta_ctx *ctx);

#endif
