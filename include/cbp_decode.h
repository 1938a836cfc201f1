/*
 * cbp_decode.h — bounded decoding of an in-memory image into the 8-bit
 * pixels PDQ hashes (see cbp_pdq.h).
 *
 * The format is the caller's (identification is libmagic's job, see
 * cbp_decode_fmt_from_mime); the bytes are never sniffed to pick a decoder,
 * except to tell a raw JPEG 2000 codestream from the JP2 box form.
 *
 * Pixels come out as stored: EXIF/TIFF orientation is not applied (the
 * reference hashes the stored grid), alpha is dropped, not composited,
 * palettes are expanded, grey stays one channel, CMYK becomes RGB.
 *
 * Bounds: the declared width x height is checked against a pixel cap before
 * anything is allocated for pixels (CBP_ELIMIT, an `unscannable` `limit`
 * record); a broken image is CBP_ECORRUPT (`corrupt`).  Libraries never
 * print: their warnings are swallowed and their errors returned.
 *
 * Memory per decode, at the default cap: the output (3 bytes a pixel kept,
 * 192 MiB at most; 768 KiB with sample_side 512) plus what the library
 * needs.  JPEG, non-interlaced PNG and BMP stream rows; TIFF holds a
 * strip at a time; interlaced PNG, GIF (1 byte a pixel) and WebP (3) hold
 * one copy of the whole image; OpenJPEG holds 4 bytes per sample
 * per component decoded (768 MiB for 64 Mpx of RGB at full scale; min_side
 * cuts it by 4 per level skipped).
 */
#ifndef CBP_DECODE_H
#define CBP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_pdq.h"

/*
 * Declared pixels (width x height) above which an image is not decoded.
 * 64 Mpx covers a 9248 x 6936 camera frame and any scan a phone or desktop
 * produces; an RGB buffer of that size is 192 MiB, the most one decode may
 * hold.  A "decompression bomb" (a few bytes declaring 60000 x 60000) is
 * refused here without touching the pixel data.  (option: the caller's
 * cbp_decode_opts.max_pixels)
 */
#define CBP_DECODE_MAX_PIXELS ((uint64_t)64 * 1000 * 1000)

/*
 * Working memory libjpeg may take for one image (a progressive JPEG keeps
 * every DCT coefficient: 2 bytes per sample, so 64 Mpx of 4:4:4 colour needs
 * 384 MiB).  Beyond it libjpeg fails cleanly ("insufficient memory").
 */
#define CBP_DECODE_JPEG_MEMORY ((long)512 * 1024 * 1024)

/*
 * Progressive JPEG scans read before giving up: a crafted file can repeat
 * scans without end, each one a full pass over the coefficients (the
 * "progressive scan bomb"; libjpeg-turbo's djpeg has -maxscans for it).
 * Real encoders write about 10.
 */
#define CBP_DECODE_JPEG_MAX_SCANS 500

/* Largest single allocation libtiff may make for one strip or tile. */
#define CBP_DECODE_TIFF_MAX_ALLOC ((size_t)256 * 1024 * 1024)

/* Largest PNG ancillary chunk spng will read (text, ICC, eXIf ...). */
#define CBP_DECODE_PNG_CHUNK_MAX ((size_t)16 * 1024 * 1024)

enum cbp_decode_fmt {
	CBP_FMT_UNKNOWN = 0,
	CBP_FMT_JPEG,
	CBP_FMT_PNG,
	CBP_FMT_TIFF,
	CBP_FMT_JP2,		/* JP2 box form or raw J2K codestream */
	CBP_FMT_GIF,		/* first frame */
	CBP_FMT_WEBP,		/* still images; animations are unsupported */
	CBP_FMT_BMP,
	CBP_FMT_PNM,		/* binary P5 (grey) and P6 (RGB), maxval <= 255 */
	CBP_FMT_MAX
};

struct cbp_decode_opts {
	/* Cap on the declared width x height; 0 = CBP_DECODE_MAX_PIXELS. */
	uint64_t max_pixels;
	/*
	 * JPEG and JPEG 2000: decode at the smallest scale of 1/8, 1/4, 1/2
	 * that still leaves at least this many pixels on the short side
	 * (libjpeg's DCT scaling; OpenJPEG's resolution levels); 0 = full
	 * scale.  Cheaper, but the hash moves a few bits:
	 * bench/pdq_scale.sh measures how many for JPEG (512: at most 4 bits
	 * on the test photos, 0.72x the time on camera-sized ones).
	 */
	uint32_t min_side;
	/*
	 * When either side (after any DCT scaling) exceeds this, keep only a
	 * nearest-neighbour sample of exactly sample_side x sample_side, taken
	 * as the decoder delivers rows: PDQ's own pre-scale, so pass
	 * CBP_PDQ_PRESCALE (512) for hashing and the full image is never
	 * held.  0 = keep every pixel.
	 */
	uint32_t sample_side;
	/*
	 * JPEG in YCbCr: deliver the Y plane as a grey image instead of
	 * R, G, B.  Y is 0.299 R + 0.587 G + 0.114 B, PDQ's own luminance,
	 * before the rounding of the colour conversion: the hash moves by a
	 * bit or two (bench/pdq_scale.sh), and the colour planes are never
	 * decoded.  For `scan`; `hash` decodes R, G, B for reference values.
	 */
	int luma_only;
	/*
	 * PNG: decode every image through libspng, also those the fast path
	 * (8-bit grey, grey-alpha, RGB, RGBA, not interlaced: inflated by
	 * ISA-L, see png_fast in decode.c) would take.  For the tests and
	 * the fuzz target that check the two give the same pixels.
	 */
	int png_reference;
};

struct cbp_image {
	uint32_t w, h;		/* of px */
	uint32_t src_w, src_h;	/* as the file declares them */
	unsigned channels;	/* 1 (grey) or 3 (R,G,B) */
	unsigned scale_num;	/* scale decoded at (min_side): scale_num/8, 8 = full */
	uint8_t *px;		/* w * h * channels bytes, rows packed; owned */
};

/*
 * Decode buf (len bytes) as fmt.  opts may be NULL (defaults).  On CBP_OK
 * img holds the pixels; free them with cbp_image_free.  On error img is
 * empty and nothing needs freeing.  Errors: CBP_ELIMIT (declared size over
 * the cap), CBP_ECORRUPT (broken or truncated), CBP_EUNSUPPORTED (a valid
 * variant not handled: animated WebP, BMP RLE, ...), CBP_ENOMEM,
 * CBP_EINVAL.  Thread-safe: no global state is touched.
 */
int cbp_decode(const uint8_t *buf, size_t len, enum cbp_decode_fmt fmt,
    const struct cbp_decode_opts *opts, struct cbp_image *img);

/*
 * Decode and PDQ-hash in one call, as `scan` and `hash` need it: the
 * decode keeps only PDQ's 512 x 512 sample (opts->sample_side is set to
 * CBP_PDQ_PRESCALE whatever it was), so the full image is never held.
 * flags as cbp_pdq_hash (CBP_PDQ_DIHEDRAL).  Errors as cbp_decode; out is
 * zeroed on error.
 */
int cbp_decode_pdq(const uint8_t *buf, size_t len, enum cbp_decode_fmt fmt,
    const struct cbp_decode_opts *opts, unsigned flags, struct cbp_pdq *out);

/* Free the pixels; accepts an empty or zeroed image. */
void cbp_image_free(struct cbp_image *img);

/*
 * The format for a MIME type as libmagic reports it ("image/jpeg",
 * "image/png; charset=binary" ...); CBP_FMT_UNKNOWN for anything else.
 */
enum cbp_decode_fmt cbp_decode_fmt_from_mime(const char *mime);

/* "jpeg", "png", ... ; "unknown" out of range. */
const char *cbp_decode_fmt_name(enum cbp_decode_fmt fmt);

/*
 * Undo PNG filter type f (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth: ISO/IEC
 * 15948 section 9) on one row of n bytes in place, bpp bytes a pixel, given
 * the unfiltered row above (NULL for the first row: zeros).  The one
 * unfilter of the PNG decoder and of PDF's PNG predictors (pdfimg.c).
 * CBP_ECORRUPT for another type; CBP_EINVAL for bpp 0.
 */
int cbp_png_unfilter(uint8_t *row, const uint8_t *above, size_t n, unsigned bpp, unsigned f);

#endif
