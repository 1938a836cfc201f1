/*
 * cbp_pdfimg.h — pixel images stored FlateDecode in a PDF.
 *
 * A PDF stores a photograph either as a JPEG file (DCTDecode: carved whole
 * by cbp_imgcarve.h) or as its raw pixels, zlib-compressed (FlateDecode),
 * which is what most PDF writers do with a PNG or a screenshot.  This
 * module finds the second kind and turns one into a binary PNM (P6 for
 * RGB, P5 for grey), which the scan hashes as a child object named
 * "pdf-image@OFFSET" like any picture on disk.
 *
 * Taken: image XObjects (/Subtype /Image) with /Filter /FlateDecode (or a
 * one-element array of it), /BitsPerComponent 8, /Width and /Height direct
 * integers, and a colour space of /DeviceRGB, /DeviceGray, [/CalRGB ...],
 * [/CalGray ...], or [/ICCBased N 0 R] whose profile stream (found by the
 * same pass, see below) says /N 3 or /N 1; /DecodeParms (dictionary or
 * one-element array) with /Predictor 1, 2 (TIFF) or 10-15 (PNG), whose
 * /Colors, /BitsPerComponent and /Columns agree with the image.
 * Everything else is counted as skipped and not taken: other filters or
 * chains of filters (DCTDecode is imgcarve's), 1/2/4/16-bit samples,
 * CMYK, Indexed, Lab, DeviceN, a colour space given by reference
 * (`/ColorSpace 7 0 R`), /Decode arrays, /ImageMask, a dictionary that does
 * not parse.  Images smaller than CBP_PDFIMG_MIN_SIDE on a side are
 * ignored without counting (icons and rules, not photographs).
 *
 * How they are found: stream objects cannot live in object streams (PDF
 * 32000-1 7.5.7), so every image's dictionary is in the file's bytes as
 * "N G obj << ... >> stream".  One forward pass looks for each "N G obj"
 * and parses what follows with a small tokenizer (comments, strings, hex
 * strings, names with #xx escapes, nested arrays and dictionaries to
 * CBP_PDFIMG_DEPTH levels); a dictionary followed by the keyword `stream`
 * and an end of line is a stream.  Its data is jumped over by a direct
 * /Length when "endstream" follows it there, else (an indirect /Length,
 * `12 0 R`, or a wrong one) up to the next "endstream".  Parsing forward
 * from the object, not back from "stream", means a "stream" inside a
 * string of the dictionary cannot hide the real one.  The same pass
 * records which objects are ICC profile streams with /N, so an
 * [/ICCBased n 0 R] image is resolved without a second search.
 *
 * Bounds: the caller's buffer only; the pass only moves forward (a failed
 * parse resumes where it stopped, "N G" is looked back for over a few
 * bytes), so it is linear; a dictionary longer than CBP_PDFIMG_DICT_MAX is
 * not parsed; at most `cap` hits, then
 * stats->more; CBP_PDFIMG_ICC_MAX profile objects remembered.  No
 * allocation in cbp_pdfimg_find; thread-safe.
 */
#ifndef CBP_PDFIMG_H
#define CBP_PDFIMG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Images taken from one PDF: the same count as carved JPEGs
 * (CBP_IMGCARVE_MAX, 64), for the same reason — a scanned document holds
 * one per page, and an auditor needs one match, not a thousand.
 */
#define CBP_PDFIMG_MAX 64
/*
 * Pixel bytes inflated from one PDF, all images together.  512 MiB is
 * twenty A4 pages scanned at 300 dpi in colour (26 MB each); zlib inflates
 * at a few hundred MB/s, so this keeps one PDF to a second or two of
 * inflating.  Past it the rest is reported as "limit".
 */
#define CBP_PDFIMG_INFLATE_MAX ((size_t)512 * 1024 * 1024)
/* Bytes from "obj" to "stream" parsed as one dictionary; image dictionaries
 * are a few hundred bytes (an inline /Decode or /Metadata reference at most). */
#define CBP_PDFIMG_DICT_MAX ((size_t)64 * 1024)
/* Nesting of arrays and dictionaries inside the stream dictionary. */
#define CBP_PDFIMG_DEPTH 16
/* ICC profile objects (number -> /N) remembered per PDF. */
#define CBP_PDFIMG_ICC_MAX 64
/* Smallest side taken: below it PDQ has too few pixels to say anything. */
#define CBP_PDFIMG_MIN_SIDE 16

struct cbp_pdfimg_hit {
	size_t offset;		/* first byte of the stream data */
	size_t length;		/* bytes of data found (clipped to the buffer) */
	uint32_t w, h;		/* declared */
	unsigned channels;	/* 1 (grey) or 3 (RGB) */
	unsigned predictor;	/* 1 none, 2 TIFF, 10..15 PNG */
	int truncated;		/* data ends before /Length, or no endstream */
};

struct cbp_pdfimg_stats {
	size_t streams;		/* stream dictionaries parsed */
	size_t skipped;		/* FlateDecode (or unparsable) image XObjects not taken */
	int more;		/* more images than cap */
};

/*
 * Find the images in p[0..n).  Writes up to cap hits (cap itself at most
 * CBP_PDFIMG_MAX) to out, in order of offset; returns how many.  st may be
 * NULL.
 */
size_t cbp_pdfimg_find(const uint8_t *p, size_t n,
    struct cbp_pdfimg_hit *out, size_t cap, struct cbp_pdfimg_stats *st);

/*
 * Bytes one image inflates to (its raster, with one PNG filter-type byte
 * per row under predictors 10-15); 0 when that does not fit a size_t.
 * What a caller charges to its CBP_PDFIMG_INFLATE_MAX budget.
 */
uint64_t cbp_pdfimg_raster_bytes(const struct cbp_pdfimg_hit *h);

/*
 * Inflate hit h of the PDF p[0..n), undo its predictor and return the
 * pixels as a binary PNM ("P6\nW H\n255\n" then rows; P5 for grey, the
 * header Pillow and netpbm write) in *out (malloc'd, the caller frees) of
 * *out_len bytes.  Checked before anything is allocated: w x h against
 * max_pixels (0 = CBP_DECODE_MAX_PIXELS) and the PNM's size against
 * max_bytes (0 = no cap; the scan passes limits.load_max, the most a child
 * object is read).  Errors: CBP_ELIMIT (over a cap), CBP_ECORRUPT (the data
 * does not inflate to the whole raster, or a PNG row's filter type is not
 * 0-4), CBP_ENOMEM, CBP_EINVAL.  Thread-safe.
 */
int cbp_pdfimg_pnm(const uint8_t *p, size_t n, const struct cbp_pdfimg_hit *h,
    uint64_t max_pixels, size_t max_bytes, uint8_t **out, size_t *out_len);

#endif
