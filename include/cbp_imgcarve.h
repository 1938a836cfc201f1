/*
 * cbp_imgcarve.h — JPEG and PNG streams embedded in other bytes.
 *
 * A PDF stores a JPEG picture as a DCTDecode stream: the JPEG file's bytes
 * unchanged.  Database files, disk images and memory dumps hold pictures
 * the same way.  To match such pictures against known-image lists (and to
 * hash them into lists), the scan carves them out and scans each one as a
 * child object named "carved:jpeg@OFFSET" or "carved:png@OFFSET".
 *
 * A stream is taken only when its structure holds from start to end, not
 * from a start and an end signature alone: JPEG segments by their lengths
 * up to the scan data, then the entropy-coded data up to the next marker,
 * until EOI (a thumbnail inside an APP1 segment is skipped with its
 * segment, so it does not end the outer picture early); PNG chunks by their
 * lengths from IHDR (first, 13 bytes) to IEND.  The search resumes after
 * each stream found, so streams never overlap.
 *
 * Bounds: the caller's buffer only (the scan passes the object's loaded
 * bytes, at most limits.load_max); at most `cap` streams, then *more says
 * some were left (or that the search stopped at its work budget, 8 bytes
 * walked per byte searched, which crafted input could otherwise make
 * quadratic); each stream's length is checked against what remains
 * before it is used.  No allocation; thread-safe.
 */
#ifndef CBP_IMGCARVE_H
#define CBP_IMGCARVE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Streams carved from one object.  A PDF of scanned pages holds one per
 * page; 64 covers a long document, and an auditor needs one match, not a
 * thousand.  More is reported as "limit".
 */
#define CBP_IMGCARVE_MAX 64
/*
 * Smallest stream kept: below this a picture has too few pixels for PDQ
 * (it needs more than 4 x 4, and a JPEG's headers alone are ~150 bytes);
 * tiny icons would only cost child scans.
 */
#define CBP_IMGCARVE_MIN_BYTES 128

enum cbp_imgcarve_type { CBP_IMGCARVE_JPEG = 1, CBP_IMGCARVE_PNG };

struct cbp_imgcarve_hit {
	size_t offset;
	size_t length;
	enum cbp_imgcarve_type type;
};

/*
 * Find the streams in p[0..n), the first one at or after offset `from`
 * (the scan passes 1 for an object that is not itself an image stream:
 * offset 0 is the object).  Writes up to cap hits to out, in order of
 * offset; returns how many.  *more (may be NULL) is set when a further
 * stream was found beyond cap.
 */
size_t cbp_imgcarve_find(const uint8_t *p, size_t n, size_t from,
    struct cbp_imgcarve_hit *out, size_t cap, int *more);

/* The length of a JPEG stream starting at p (FF D8), 0 if none is whole. */
size_t cbp_imgcarve_jpeg_len(const uint8_t *p, size_t n);
/* The length of a PNG stream starting at p (signature), 0 if none is whole. */
size_t cbp_imgcarve_png_len(const uint8_t *p, size_t n);

/* "jpeg" or "png". */
const char *cbp_imgcarve_type_name(enum cbp_imgcarve_type t);

#endif
