/*
 * decode.c — bounded image decoding for PDQ (see cbp_decode.h).
 *
 * Every decoder follows the same shape: read the header, check the declared
 * size against the pixel cap, then hand rows, top to bottom, to a "sink"
 * that converts them to 1 or 3 channels and keeps either every pixel or the
 * nearest-neighbour sample PDQ would take anyway (sample_side).  With a
 * sample side set, JPEG and non-interlaced PNG never hold more than one
 * source row; the others hold the decoded image once (the libraries offer
 * no cheaper way), bounded by the pixel cap.
 *
 * Libraries: libjpeg-turbo, libspng, libtiff, OpenJPEG, giflib, libwebp —
 * each the Debian-packaged reference decoder of its format, each fed from
 * memory and kept quiet (their messages go to handlers that drop them; the
 * result is a return code).  BMP and PNM are decoded here by hand: see
 * bmp_decode and pnm_decode; so are the IDAT streams of the common PNGs,
 * with ISA-L's inflate: see png_fast.
 */
#include <stdio.h>	/* before jpeglib.h, which uses FILE */
#include <gif_lib.h>
#include <isa-l/igzip_lib.h>
#include <jpeglib.h>
#include <jerror.h>
#include <limits.h>
#include <openjpeg.h>
#include <setjmp.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tiffio.h>
#include <webp/decode.h>

#include "cbp_buf.h"
#include "cbp_decode.h"
#include "cbp_err.h"

/* ---- the row sink ------------------------------------------------------ */

struct sink {
	uint32_t sw, sh;	/* rows arriving: width and count */
	uint32_t ow, oh;	/* kept */
	unsigned ch;		/* 1 or 3 */
	uint32_t next;		/* next kept row to fill */
	uint8_t *px;
	/* Byte offset in a source row of each kept pixel, when sampling
	 * (ow < sw): computed once, not with a division per pixel, which
	 * was a fifth of the hashing time with lists loaded (perf). */
	uint32_t *xoff;
};

static int
sink_open(struct sink *s, uint32_t sw, uint32_t sh, unsigned ch, uint32_t side)
{
	memset(s, 0, sizeof(*s));
	s->sw = s->ow = sw;
	s->sh = s->oh = sh;
	s->ch = ch;
	/* Both sides, as the PDQ reference resizes (not aspect-preserving). */
	if (side != 0 && (sw > side || sh > side))
		s->ow = s->oh = side;
	if (sw == 0 || sh == 0)
		return CBP_ECORRUPT;
	if ((s->px = malloc((size_t)s->ow * s->oh * ch)) == NULL)
		return CBP_ENOMEM;
	if (s->ow != s->sw) {
		uint32_t x;

		if ((s->xoff = malloc((size_t)s->ow * sizeof(*s->xoff))) == NULL)
			return CBP_ENOMEM;
		for (x = 0; x < s->ow; x++)
			s->xoff[x] = (uint32_t)((uint64_t)x * s->sw / s->ow) * ch;
	}
	return CBP_OK;
}

/* Source row or column for kept index i of n, out of src (top-left aligned). */
static uint32_t
pick(uint32_t i, uint32_t n, uint32_t src)
{
	return n == src ? i : (uint32_t)((uint64_t)i * src / n);
}

/* Whether sink_row would keep source row y: spare converting the others. */
static int
sink_wants(const struct sink *s, uint32_t y)
{
	return s->next < s->oh && pick(s->next, s->oh, s->sh) == y;
}

/*
 * Source row y (sw * ch bytes, already 1 or 3 channels) has arrived.  Rows
 * must come in increasing order; a kept row may repeat a source row when an
 * image is stretched up to the sample side.
 */
static void
sink_row(struct sink *s, uint32_t y, const uint8_t *row)
{
	while (s->next < s->oh && pick(s->next, s->oh, s->sh) == y) {
		uint8_t *o = s->px + (size_t)s->next * s->ow * s->ch;
		uint32_t x;

		/*
		 * Sampled: one to three bytes a pixel, copied by hand; a
		 * memcpy call per pixel of a variable count was a quarter of
		 * a scan's time with known-image lists loaded (perf).
		 */
		if (s->ow == s->sw)
			memcpy(o, row, (size_t)s->sw * s->ch);
		else if (s->ch == 3)
			for (x = 0; x < s->ow; x++) {
				const uint8_t *p = row + s->xoff[x];

				o[3 * (size_t)x] = p[0];
				o[3 * (size_t)x + 1] = p[1];
				o[3 * (size_t)x + 2] = p[2];
			}
		else if (s->ch == 1)
			for (x = 0; x < s->ow; x++)
				o[x] = row[s->xoff[x]];
		else
			for (x = 0; x < s->ow; x++)
				memcpy(o + (size_t)x * s->ch, row + s->xoff[x], s->ch);
		s->next++;
	}
}

/* Move the pixels into img; CBP_ECORRUPT if rows are missing. */
static int
sink_finish(struct sink *s, uint32_t src_w, uint32_t src_h, struct cbp_image *img)
{
	if (s->next != s->oh)
		return CBP_ECORRUPT;
	img->w = s->ow;
	img->h = s->oh;
	img->src_w = src_w;
	img->src_h = src_h;
	img->channels = s->ch;
	img->px = s->px;
	s->px = NULL;
	free(s->xoff);
	s->xoff = NULL;
	return CBP_OK;
}

static void
sink_close(struct sink *s)
{
	free(s->px);
	s->px = NULL;
	free(s->xoff);
	s->xoff = NULL;
}

/* Declared size against the cap, before any pixel allocation. */
static int
check_size(uint64_t w, uint64_t h, uint64_t cap)
{
	if (w == 0 || h == 0)
		return CBP_ECORRUPT;
	if (w > UINT32_MAX || h > UINT32_MAX || w * h > cap)
		return CBP_ELIMIT;
	return CBP_OK;
}

/*
 * Drop every other channel after the first ch of each n-channel pixel.
 * Grey-alpha and RGBA by hand: a memcpy call of a variable count per
 * pixel was as slow as in sink_row.
 */
static void
keep_channels(const uint8_t *in, unsigned n, uint8_t *out, unsigned ch, uint32_t w)
{
	uint32_t x;

	if (n == 2 && ch == 1)
		for (x = 0; x < w; x++)
			out[x] = in[2 * (size_t)x];
	else if (n == 4 && ch == 3)
		for (x = 0; x < w; x++) {
			out[3 * (size_t)x] = in[4 * (size_t)x];
			out[3 * (size_t)x + 1] = in[4 * (size_t)x + 1];
			out[3 * (size_t)x + 2] = in[4 * (size_t)x + 2];
		}
	else
		for (x = 0; x < w; x++)
			memcpy(out + (size_t)x * ch, in + (size_t)x * n, ch);
}

/* ---- JPEG (libjpeg-turbo) ---------------------------------------------- */

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	int eof;		/* the data ended early (libjpeg only warns) */
	int limit;		/* too many progressive scans */
};

/* libjpeg's default error_exit calls exit(); ours returns to cbp_decode. */
static void
jpeg_fail(j_common_ptr cinfo)
{
	struct jerr *e = (struct jerr *)cinfo->err;

	longjmp(e->jb, 1);
}

/*
 * Warnings (level -1) are swallowed; a premature end of data is noted
 * because libjpeg pads the missing rows with grey and calls it success.
 */
static void
jpeg_message(j_common_ptr cinfo, int level)
{
	struct jerr *e = (struct jerr *)cinfo->err;

	if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
		e->eof = 1;
}

static void
jpeg_silent(j_common_ptr cinfo)
{
}

/* Stop a progressive file that keeps adding scans (cbp_decode.h). */
static void
jpeg_progress(j_common_ptr cinfo)
{
	if (cinfo->is_decompressor &&
	    ((j_decompress_ptr)cinfo)->input_scan_number > CBP_DECODE_JPEG_MAX_SCANS) {
		((struct jerr *)cinfo->err)->limit = 1;
		jpeg_fail(cinfo);
	}
}

/*
 * Smallest n of 1/8, 2/8, 4/8 whose scaled short side is still >= min_side
 * (libjpeg rounds scaled sizes up: ceil(side * n / 8)); 8 = full scale.
 * Only powers of two: libjpeg-turbo has SIMD inverse DCTs for those, the
 * other n/8 go through plain C, and bench/pdq_scale.sh measured them
 * slower than no scaling at all for min_side 512 (1.13x the full-scale
 * time over the test photos), for 3-4 times the hash drift.
 */
static unsigned
jpeg_scale(uint32_t w, uint32_t h, uint32_t min_side)
{
	uint64_t s = w < h ? w : h;
	unsigned n;

	if (min_side == 0)
		return 8;
	for (n = 1; n < 8; n *= 2)
		if ((s * n + 7) / 8 >= min_side)
			return n;
	return 8;
}

/*
 * Adobe CMYK JPEGs store the inks inverted (255 = no ink), which libjpeg
 * passes through.  R = (255-C)(255-K)/255 in the form Pillow and
 * ImageMagick use, so a CMYK copy hashes like its RGB original.
 */
static uint8_t
muldiv255(unsigned a, unsigned b)
{
	unsigned t = a * b + 128;

	return (uint8_t)((t + (t >> 8)) >> 8);
}

static void
cmyk_row(const uint8_t *in, uint8_t *out, uint32_t w, int inverted)
{
	uint32_t x;
	unsigned c, k, nk;

	for (x = 0; x < w; x++) {
		nk = inverted ? in[4 * x + 3] : 255u - in[4 * x + 3];
		for (c = 0; c < 3; c++) {
			k = inverted ? 255u - in[4 * x + c] : in[4 * x + c];
			out[3 * x + c] = (uint8_t)(nk - muldiv255(k, nk));
		}
	}
}

/* One JPEG decode: on the heap, so nothing longjmp crosses is a local. */
struct jdec {
	struct jpeg_decompress_struct ci;
	struct jerr je;
	struct jpeg_progress_mgr prog;
	struct sink s;
	uint8_t *raw, *conv;
};

static int
jpeg_run(struct jdec *d, const uint8_t *buf, size_t len,
    const struct cbp_decode_opts *o, struct cbp_image *img)
{
	j_decompress_ptr ci = &d->ci;
	unsigned ch = 3;
	int r, cmyk = 0;

	jpeg_create_decompress(ci);
	ci->mem->max_memory_to_use = CBP_DECODE_JPEG_MEMORY;
	d->prog.progress_monitor = jpeg_progress;
	ci->progress = &d->prog;
	jpeg_mem_src(ci, buf, (unsigned long)len);
	if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK)
		return CBP_ECORRUPT;
	if ((r = check_size(ci->image_width, ci->image_height, o->max_pixels)) != CBP_OK)
		return r;
	switch (ci->jpeg_color_space) {
	case JCS_GRAYSCALE:
		ci->out_color_space = JCS_GRAYSCALE;
		ch = 1;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		ci->out_color_space = JCS_CMYK;
		cmyk = 1;
		break;
	case JCS_YCbCr:
		/* Y is the luminance PDQ computes from R, G, B (the same
		 * weights): decoding it alone skips the colour planes. */
		if (o->luma_only) {
			ci->out_color_space = JCS_GRAYSCALE;
			ch = 1;
			break;
		}
		ci->out_color_space = JCS_RGB;
		break;
	default:
		ci->out_color_space = JCS_RGB;
		break;
	}
	img->scale_num = jpeg_scale(ci->image_width, ci->image_height, o->min_side);
	ci->scale_num = img->scale_num;
	ci->scale_denom = 8;
	jpeg_start_decompress(ci);
	if (ci->output_components != (cmyk ? 4 : (int)ch))
		return CBP_ECORRUPT;
	if ((d->raw = malloc((size_t)ci->output_width * ci->output_components)) == NULL ||
	    (cmyk && (d->conv = malloc((size_t)ci->output_width * 3)) == NULL))
		return CBP_ENOMEM;
	if ((r = sink_open(&d->s, ci->output_width, ci->output_height, ch, o->sample_side)) != CBP_OK)
		return r;
	while (ci->output_scanline < ci->output_height) {
		JSAMPROW rows[1] = { d->raw };
		uint32_t y = ci->output_scanline;

		if (jpeg_read_scanlines(ci, rows, 1) != 1)
			return CBP_ECORRUPT;
		if (cmyk) {
			cmyk_row(d->raw, d->conv, ci->output_width, ci->saw_Adobe_marker);
			sink_row(&d->s, y, d->conv);
		} else {
			sink_row(&d->s, y, d->raw);
		}
	}
	/* libjpeg fills a truncated image with grey and calls it a warning. */
	if (d->je.eof)
		return CBP_ECORRUPT;
	(void)jpeg_finish_decompress(ci);
	return sink_finish(&d->s, ci->image_width, ci->image_height, img);
}

static int
jpeg_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	struct jdec *d;
	int r;

	if (len > ULONG_MAX)
		return CBP_ELIMIT;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return CBP_ENOMEM;
	d->ci.err = jpeg_std_error(&d->je.pub);
	d->je.pub.error_exit = jpeg_fail;
	d->je.pub.emit_message = jpeg_message;
	d->je.pub.output_message = jpeg_silent;
	if (setjmp(d->je.jb) == 0)
		r = jpeg_run(d, buf, len, o, img);
	else if (d->je.limit)
		r = CBP_ELIMIT;
	else if (d->je.pub.msg_code == JERR_OUT_OF_MEMORY)
		r = CBP_ENOMEM;
	else if (d->je.pub.msg_code == JERR_NO_BACKING_STORE)
		r = CBP_ELIMIT;		/* over CBP_DECODE_JPEG_MEMORY */
	else
		r = CBP_ECORRUPT;
	/* Safe on a struct jpeg_create_decompress never finished. */
	jpeg_destroy_decompress(&d->ci);
	free(d->raw);
	free(d->conv);
	sink_close(&d->s);
	free(d);
	return r;
}

/* ---- PNG (libspng) ----------------------------------------------------- */

/* 16-bit sample to 8 bits, rounded (v * 255 / 65535). */
static uint8_t
to8(uint16_t v)
{
	return (uint8_t)(((uint32_t)v * 255 + 32767) / 65535);
}

/*
 * One decoded row to 1 or 3 channels.  bpp is the bytes a pixel takes in
 * the decoded row: 1 (G8) and 3 (RGB8) pass through; 2 and 4 are grey (+
 * alpha) in spng's untouched host-endian form, where 2 is 8-bit grey-alpha
 * when depth8 is set and 16-bit grey otherwise.
 */
static void
png_row(const uint8_t *in, unsigned bpp, int depth8, uint8_t *out, uint32_t w)
{
	uint32_t x;
	uint16_t v;

	if (bpp == 1 || bpp == 3) {
		memcpy(out, in, (size_t)w * bpp);
	} else if (bpp == 2 && depth8) {
		keep_channels(in, 2, out, 1, w);
	} else {
		for (x = 0; x < w; x++) {
			memcpy(&v, in + (size_t)x * bpp, 2);
			out[x] = to8(v);
		}
	}
}


/*
 * The fast path for the PNGs most images are: 8 bits a sample, not
 * interlaced, grey, grey-alpha, RGB or RGBA.  Hand-written around ISA-L's
 * inflate because libspng inflates through zlib, whose byte-at-a-time copy
 * of overlapping matches was over half of a PNG's decode time on
 * screenshot-like images (perf); ISA-L inflated the same IDAT streams five
 * times as fast (640x480 RGB: 1.55 ms against 0.31 ms), and libspng has
 * no way to plug in another inflater.  libspng still reads and checks
 * everything before the first IDAT (signature, IHDR, chunk order and
 * lengths, PLTE); here the IDAT chunks are walked with explicit bounds,
 * the zlib header is checked, the stream is inflated as raw deflate (no
 * Adler-32, and no chunk CRC, as on the spng path: see png_decode) into a
 * window of whole rows, and each row is unfiltered against the one before.
 * Only a clean image is taken from here; anything else goes to the spng
 * path (PNG_DECLINED), which decides as it always did: a split zlib
 * header, a window under 32 KiB (zlib enforces it, ISA-L does not), a
 * damaged or short stream, a bad filter type.  So a broken PNG costs two
 * attempts, and the answer and the pixels are the spng path's, with one
 * known exception: a stream that refers back before its own start, which
 * zlib refuses and ISA-L (2.30) answers from its zeroed history buffer
 * unless it also meets another error.  The unit tests and fuzz_decode_png
 * decode both ways (png_reference) and compare.  Two decoders of one
 * hostile format are a risk when they can disagree on what a file holds
 * (why `expand` has no zip parser of its own); here they cannot on any
 * PNG a viewer shows: the chunks before IDAT are spng's, and a deflate
 * stream that inflates cleanly has one meaning, whichever library reads it.
 */
#define PNG_DECLINED 1
#define PNG_WINDOW_BYTES ((size_t)256 * 1024)	/* inflated per batch */

struct png_idat {
	struct cbp_cursor c;	/* at the next chunk's length field */
	int ended;		/* no IDAT follows */
	int broken;		/* inflate failed: nothing more comes */
};

/* Whether the chunk at c (length, then type) is an IDAT. */
static int
at_idat(struct cbp_cursor c)
{
	return cbp_cur_skip(&c, 4) == CBP_OK && cbp_cur_peek_eq(&c, "IDAT", 4);
}

/* Move to the first IDAT chunk; 0 if there is none. */
static int
idat_first(struct png_idat *it)
{
	struct cbp_cursor c = it->c;
	uint32_t l;

	if (cbp_cur_skip(&c, 8) != CBP_OK)	/* the signature */
		return 0;
	while (!at_idat(c))
		if (cbp_cur_be32(&c, &l) != CBP_OK ||
		    cbp_cur_skip(&c, 4 + (size_t)l + 4) != CBP_OK)
			return 0;
	it->c = c;
	return 1;
}

/* The next IDAT chunk's data: 1, or 0 when the IDATs have ended. */
static int
idat_next(struct png_idat *it, const uint8_t **data, uint32_t *n)
{
	struct cbp_cursor c = it->c;
	const unsigned char *d;
	uint32_t l;

	/* A truncated chunk ends the IDATs: rows will be missing. */
	if (!at_idat(c) || cbp_cur_be32(&c, &l) != CBP_OK || l > INT32_MAX ||
	    cbp_cur_skip(&c, 4) != CBP_OK || cbp_cur_bytes(&c, l, &d) != CBP_OK)
		return 0;
	(void)cbp_cur_skip(&c, c.left < 4 ? c.left : 4);	/* the CRC */
	it->c = c;
	*data = d;
	*n = l;
	return 1;
}

static uint8_t
paeth(uint8_t a, uint8_t b, uint8_t c)
{
	int p = (int)a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

	if (pa <= pb && pa <= pc)
		return a;
	return pb <= pc ? b : c;
}

int
cbp_png_unfilter(uint8_t *cur, const uint8_t *prev, size_t n, unsigned bpp, unsigned f)
{
	size_t i;

	if (bpp == 0)
		return CBP_EINVAL;
	if (prev == NULL && (f == 2 || f == 4))
		f = f == 2 ? 0 : 1;	/* above is 0: Up is None, Paeth is Sub */
	switch (f) {
	case 0:
		break;
	case 1:		/* Sub */
		for (i = bpp; i < n; i++)
			cur[i] = (uint8_t)(cur[i] + cur[i - bpp]);
		break;
	case 2:		/* Up */
		for (i = 0; i < n; i++)
			cur[i] = (uint8_t)(cur[i] + prev[i]);
		break;
	case 3:		/* Average */
		if (prev == NULL) {
			for (i = bpp; i < n; i++)
				cur[i] = (uint8_t)(cur[i] + (cur[i - bpp] >> 1));
			break;
		}
		for (i = 0; i < bpp && i < n; i++)
			cur[i] = (uint8_t)(cur[i] + (prev[i] >> 1));
		for (; i < n; i++)
			cur[i] = (uint8_t)(cur[i] + ((cur[i - bpp] + prev[i]) >> 1));
		break;
	case 4:		/* Paeth: left and upper-left are 0 in the first pixel */
		for (i = 0; i < bpp && i < n; i++)
			cur[i] = (uint8_t)(cur[i] + prev[i]);
		for (; i < n; i++)
			cur[i] = (uint8_t)(cur[i] + paeth(cur[i - bpp], prev[i], prev[i - bpp]));
		break;
	default:
		return CBP_ECORRUPT;
	}
	return CBP_OK;
}

/* An unfiltered row of bpp bytes a pixel to the sink's 1 or 3 channels. */
static void
png_fast_row(struct sink *s, uint32_t y, const uint8_t *in, unsigned bpp,
    uint8_t *conv, uint32_t w)
{
	if (bpp == 1 || bpp == 3) {
		sink_row(s, y, in);
	} else if (sink_wants(s, y)) {
		/* grey-alpha: the grey; RGBA: R, G, B */
		keep_channels(in, bpp, conv, bpp - 1, w);
		sink_row(s, y, conv);
	}
}

/*
 * Inflate into the window until it holds want bytes or the stream, the
 * IDATs or the valid data end; the bytes held.  An error from ISA-L, or a
 * call that neither used input nor gave output, sets it->broken.
 */
static size_t
png_fill(struct inflate_state *st, struct png_idat *it, uint8_t *win, size_t want)
{
	const uint8_t *data;
	uint32_t n, in, out;

	st->next_out = win;
	st->avail_out = (uint32_t)want;
	while (!it->broken && st->avail_out > 0 && st->block_state != ISAL_BLOCK_FINISH) {
		if (st->avail_in == 0 && !it->ended) {
			if (idat_next(it, &data, &n)) {
				st->next_in = (uint8_t *)(uintptr_t)data;
				st->avail_in = n;
				continue;
			}
			/* Still call it: it may hold bits and bytes of its own. */
			it->ended = 1;
		}
		in = st->avail_in;
		out = st->avail_out;
		if (isal_inflate(st) != ISAL_DECOMP_OK)
			it->broken = 1;
		else if (st->avail_in == in && st->avail_out == out &&
		    st->block_state != ISAL_BLOCK_FINISH) {
			/* It returns with the input used up or the output full. */
			if (!it->ended)
				it->broken = 1;
			break;
		}
	}
	return want - st->avail_out;
}

static int
png_fast(const uint8_t *buf, size_t len, const struct spng_ihdr *ih,
    const struct cbp_decode_opts *o, struct cbp_image *img)
{
	struct png_idat it = { cbp_cursor_make(buf, len), 0, 0 };
	struct inflate_state *st = NULL;
	struct sink s;
	uint8_t *win = NULL, *prev = NULL, *conv = NULL, *row, *above;
	const uint8_t *data;
	unsigned bpp = ih->color_type == SPNG_COLOR_TYPE_GRAYSCALE ? 1 :
	    ih->color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2 :
	    ih->color_type == SPNG_COLOR_TYPE_TRUECOLOR ? 3 : 4;
	unsigned ch = bpp <= 2 ? 1 : 3;
	size_t rowlen = (size_t)ih->width * bpp, stride = rowlen + 1, nrows, k, full, got;
	uint32_t y = 0, n;
	int r;

	memset(&s, 0, sizeof(s));
	if (!idat_first(&it) || !idat_next(&it, &data, &n) || n < 2 ||
	    (data[0] & 0x0f) != 8 || (data[0] >> 4) != 7 || (data[1] & 0x20) != 0 ||
	    ((unsigned)data[0] << 8 | data[1]) % 31 != 0)
		return PNG_DECLINED;
	nrows = PNG_WINDOW_BYTES / stride;
	if (nrows == 0)
		nrows = 1;
	if (nrows > ih->height)
		nrows = ih->height;
	if ((r = sink_open(&s, ih->width, ih->height, ch, o->sample_side)) != CBP_OK)
		goto out;
	r = CBP_ENOMEM;
	/*
	 * The inflate state is ~80 KiB of tables: not for the stack.  Zeroed:
	 * ISA-L answers a stream that refers back before its own start from
	 * its history buffer where zlib fails, so those bytes must not be
	 * whatever malloc returned.
	 */
	if ((st = calloc(1, sizeof(*st))) == NULL || (win = malloc(nrows * stride)) == NULL ||
	    (prev = calloc(1, rowlen)) == NULL ||
	    (bpp % 2 == 0 && (conv = malloc((size_t)ih->width * ch)) == NULL))
		goto out;
	isal_inflate_init(st);
	st->crc_flag = ISAL_DEFLATE;
	st->next_in = (uint8_t *)(uintptr_t)data + 2;
	st->avail_in = n - 2;
	r = PNG_DECLINED;
	while (y < ih->height) {
		k = ih->height - y < nrows ? ih->height - y : nrows;
		got = png_fill(st, &it, win, k * stride);
		full = got / stride;
		for (k = 0; k < full; k++, y++) {
			row = win + k * stride;
			above = k == 0 ? prev : row - stride + 1;
			if (cbp_png_unfilter(row + 1, above, rowlen, bpp, row[0]) != CBP_OK)
				goto out;
			png_fast_row(&s, y, row + 1, bpp, conv, ih->width);
		}
		if (full == 0 || got != full * stride)
			break;		/* the stream or the data ended early */
		memcpy(prev, win + (full - 1) * stride + 1, rowlen);
	}
	/*
	 * Only a clean stream is taken: every row, and the deflate stream
	 * ended within a window after them, with no error from ISA-L.  Every
	 * other case (missing rows, a damaged stream, a bad filter type) is
	 * decoded again by libspng, which decides: a broken PNG gets the same
	 * answer either way, at the cost of a second decode of broken files.
	 */
	if (y == ih->height && !it.broken && st->block_state != ISAL_BLOCK_FINISH)
		(void)png_fill(st, &it, win, nrows * stride);
	if (y != ih->height || it.broken || st->block_state != ISAL_BLOCK_FINISH)
		goto out;
	r = sink_finish(&s, ih->width, ih->height, img);
out:
	free(st);
	free(win);
	free(prev);
	free(conv);
	sink_close(&s);
	return r;
}

static int
png_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	spng_ctx *ctx = NULL;
	struct spng_ihdr ih;
	struct spng_plte plte;
	struct sink s;
	uint8_t *raw = NULL, *row = NULL;
	size_t rowlen, imglen;
	int r = CBP_ECORRUPT, fmt, e;
	unsigned ch, bpp;
	uint32_t y;

	memset(&s, 0, sizeof(s));
	/*
	 * Checksums (zlib's Adler-32, every chunk's CRC-32) are not checked:
	 * a copy whose checksum was damaged, by accident or to slip past a
	 * scanner, shows the same pixels in any viewer and must match the
	 * same list entry; structure and lengths are still checked.  And they
	 * were a sixth of a PNG's decode time (perf).
	 */
	if ((ctx = spng_ctx_new(SPNG_CTX_IGNORE_ADLER32)) == NULL)
		return CBP_ENOMEM;
	if (spng_set_crc_action(ctx, SPNG_CRC_USE, SPNG_CRC_USE) != 0 ||
	    spng_set_png_buffer(ctx, buf, len) != 0 ||
	    spng_set_chunk_limits(ctx, CBP_DECODE_PNG_CHUNK_MAX, 4 * CBP_DECODE_PNG_CHUNK_MAX) != 0 ||
	    spng_get_ihdr(ctx, &ih) != 0)
		goto out;
	if ((r = check_size(ih.width, ih.height, o->max_pixels)) != CBP_OK)
		goto out;
	r = CBP_ECORRUPT;
	if (!o->png_reference && ih.bit_depth == 8 &&
	    ih.interlace_method == SPNG_INTERLACE_NONE &&
	    ih.color_type != SPNG_COLOR_TYPE_INDEXED) {
		/* spng reads and checks every chunk before the first IDAT */
		e = spng_get_plte(ctx, &plte);
		if (e != 0 && e != SPNG_ECHUNKAVAIL)
			goto out;
		if ((r = png_fast(buf, len, &ih, o, img)) != PNG_DECLINED)
			goto out;
		r = CBP_ECORRUPT;
	}
	/*
	 * Grey stays one channel (PDQ's luminance of grey is the sample
	 * itself); spng converts grey only to G8, so grey-alpha and 16-bit
	 * grey come untouched (SPNG_FMT_PNG) and are reduced here.
	 */
	ch = 1;
	if (ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE && ih.bit_depth <= 8) {
		fmt = SPNG_FMT_G8;
		bpp = 1;
	} else if (ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
		fmt = SPNG_FMT_PNG;
		bpp = 2;
	} else if (ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA) {
		fmt = SPNG_FMT_PNG;
		bpp = ih.bit_depth == 8 ? 2 : 4;
	} else {
		fmt = SPNG_FMT_RGB8;
		bpp = ch = 3;
	}
	if (spng_decoded_image_size(ctx, fmt, &imglen) != 0)
		goto out;
	rowlen = imglen / ih.height;
	if (rowlen != (size_t)ih.width * bpp)
		goto out;
	if ((r = sink_open(&s, ih.width, ih.height, ch, o->sample_side)) != CBP_OK)
		goto out;
	r = CBP_ENOMEM;
	if ((row = malloc((size_t)ih.width * ch)) == NULL)
		goto out;
	if (ih.interlace_method != SPNG_INTERLACE_NONE) {
		/* Adam7 rows arrive pass by pass: the whole image is needed. */
		if ((raw = malloc(imglen)) == NULL)
			goto out;
		r = CBP_ECORRUPT;
		if (spng_decode_image(ctx, raw, imglen, fmt, 0) != 0)
			goto out;
		for (y = 0; y < ih.height; y++) {
			png_row(raw + (size_t)y * rowlen, bpp, ih.bit_depth == 8, row, ih.width);
			sink_row(&s, y, row);
		}
	} else {
		if ((raw = malloc(rowlen)) == NULL)
			goto out;
		r = CBP_ECORRUPT;
		if (spng_decode_image(ctx, NULL, 0, fmt, SPNG_DECODE_PROGRESSIVE) != 0)
			goto out;
		for (y = 0; y < ih.height; y++) {
			e = spng_decode_row(ctx, raw, rowlen);
			if (e != 0 && e != SPNG_EOI)
				goto out;
			png_row(raw, bpp, ih.bit_depth == 8, row, ih.width);
			sink_row(&s, y, row);
			if (e == SPNG_EOI)
				break;
		}
	}
	r = sink_finish(&s, ih.width, ih.height, img);
out:
	spng_ctx_free(ctx);
	free(raw);
	free(row);
	sink_close(&s);
	return r;
}

/* ---- TIFF (libtiff, memory I/O) ---------------------------------------- */

struct memio {
	const uint8_t *p;
	size_t len, pos;
};

static tmsize_t
tif_read(thandle_t h, void *buf, tmsize_t n)
{
	struct memio *m = (struct memio *)h;
	size_t k;

	if (n <= 0 || m->pos >= m->len)
		return 0;
	k = m->len - m->pos < (size_t)n ? m->len - m->pos : (size_t)n;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (tmsize_t)k;
}

static tmsize_t
tif_write(thandle_t h, void *buf, tmsize_t n)
{
	return -1;
}

static toff_t
tif_seek(thandle_t h, toff_t off, int whence)
{
	struct memio *m = (struct memio *)h;
	uint64_t base;

	switch (whence) {
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = m->pos; break;
	case SEEK_END: base = m->len; break;
	default: return (toff_t)-1;
	}
	/* Offsets come from the file: refuse wrap-around, allow past-the-end. */
	if (off > UINT64_MAX - base)
		return (toff_t)-1;
	m->pos = (size_t)(base + off > SIZE_MAX ? SIZE_MAX : base + off);
	return (toff_t)m->pos;
}

static int
tif_close(thandle_t h)
{
	return 0;
}

static toff_t
tif_size(thandle_t h)
{
	return ((struct memio *)h)->len;
}

static int
tif_map(thandle_t h, void **base, toff_t *size)
{
	return 0;	/* no mapping: libtiff then reads through tif_read */
}

static void
tif_unmap(thandle_t h, void *base, toff_t size)
{
}

/* libtiff's per-handle message hook: returning 1 means "handled, quiet". */
static int
tif_quiet(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
	return 1;
}

static int
tiff_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	struct memio m = { buf, len, 0 };
	TIFFOpenOptions *opts = NULL;
	TIFFRGBAImage ri;
	TIFF *tif = NULL;
	struct sink s;
	uint32_t *raster = NULL, w = 0, h = 0, rps = 0, y, n, i, x;
	uint16_t spp = 1, photo = 0;
	uint8_t *row = NULL;
	int r = CBP_ENOMEM, began = 0;
	unsigned ch;
	char emsg[1024];

	memset(&s, 0, sizeof(s));
	if ((opts = TIFFOpenOptionsAlloc()) == NULL)
		goto out;
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)CBP_DECODE_TIFF_MAX_ALLOC);
	TIFFOpenOptionsSetErrorHandlerExtR(opts, tif_quiet, NULL);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, tif_quiet, NULL);
	r = CBP_ECORRUPT;
	/* "m": never map; the buffer is ours and may not be page-aligned. */
	if ((tif = TIFFClientOpenExt("image", "rm", (thandle_t)&m, tif_read, tif_write,
	    tif_seek, tif_close, tif_size, tif_map, tif_unmap, opts)) == NULL)
		goto out;
	if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) ||
	    !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
		goto out;
	if ((r = check_size(w, h, o->max_pixels)) != CBP_OK)
		goto out;
	r = CBP_ECORRUPT;
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PHOTOMETRIC, &photo);
	/* Grey stays one channel, as PDQ's reference sees it. */
	ch = spp <= 2 && (photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE) ? 1 : 3;
	if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&ri, tif, 0, emsg))
		goto out;
	began = 1;
	/* Rows in stored order: ask for the orientation the file has. */
	ri.req_orientation = ri.orientation;
	/* Fetch a strip's (or tile row's) worth at a time: each call decodes
	 * whole strips, so a row at a time would decode each strip many times. */
	if (TIFFIsTiled(tif))
		TIFFGetField(tif, TIFFTAG_TILELENGTH, &rps);
	else
		TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
	if (rps == 0 || rps > h)
		rps = h;
	if ((uint64_t)rps * w * 4 > CBP_DECODE_TIFF_MAX_ALLOC)
		rps = (uint32_t)(CBP_DECODE_TIFF_MAX_ALLOC / 4 / w);
	if (rps == 0)
		rps = 1;
	r = CBP_ENOMEM;
	if ((raster = malloc((size_t)rps * w * 4)) == NULL || (row = malloc((size_t)w * 3)) == NULL)
		goto out;
	if ((r = sink_open(&s, w, h, ch, o->sample_side)) != CBP_OK)
		goto out;
	r = CBP_ECORRUPT;
	for (y = 0; y < h; y += n) {
		n = h - y < rps ? h - y : rps;
		ri.row_offset = (int)y;
		ri.col_offset = 0;
		if (!TIFFRGBAImageGet(&ri, raster, w, n))
			goto out;
		/* Orientation as requested above: raster row i is stored row y+i. */
		for (i = 0; i < n; i++) {
			const uint32_t *p = raster + (size_t)i * w;
			for (x = 0; x < w; x++) {
				if (ch == 1) {
					row[x] = (uint8_t)TIFFGetR(p[x]);
				} else {
					row[3 * x] = (uint8_t)TIFFGetR(p[x]);
					row[3 * x + 1] = (uint8_t)TIFFGetG(p[x]);
					row[3 * x + 2] = (uint8_t)TIFFGetB(p[x]);
				}
			}
			sink_row(&s, y + i, row);
		}
	}
	r = sink_finish(&s, w, h, img);
out:
	if (began)
		TIFFRGBAImageEnd(&ri);
	if (tif != NULL)
		TIFFClose(tif);
	TIFFOpenOptionsFree(opts);
	free(raster);
	free(row);
	sink_close(&s);
	return r;
}

/* ---- JPEG 2000 (OpenJPEG, memory stream) -------------------------------- */

static OPJ_SIZE_T
opj_mem_read(void *buf, OPJ_SIZE_T n, void *u)
{
	struct memio *m = u;
	size_t k;

	if (m->pos >= m->len)
		return (OPJ_SIZE_T)-1;	/* OpenJPEG's end-of-stream value */
	k = m->len - m->pos < n ? m->len - m->pos : n;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T
opj_mem_skip(OPJ_OFF_T n, void *u)
{
	struct memio *m = u;

	if (n < 0) {
		if ((uint64_t)-n > m->pos)
			return -1;
		m->pos -= (size_t)-n;
		return n;
	}
	if ((uint64_t)n > m->len - (m->pos < m->len ? m->pos : m->len))
		n = (OPJ_OFF_T)(m->len - (m->pos < m->len ? m->pos : m->len));
	m->pos += (size_t)n;
	return n;
}

static OPJ_BOOL
opj_mem_seek(OPJ_OFF_T off, void *u)
{
	struct memio *m = u;

	if (off < 0 || (uint64_t)off > m->len)
		return OPJ_FALSE;
	m->pos = (size_t)off;
	return OPJ_TRUE;
}

static void
opj_quiet(const char *msg, void *u)
{
}

/* One component sample to 8 bits (precision 1..31, signed or not). */
static uint8_t
opj_sample(const opj_image_comp_t *c, size_t i)
{
	int64_t v = c->data[i];

	if (c->sgnd)
		v += (int64_t)1 << (c->prec - 1);
	if (c->prec > 8)
		v >>= c->prec - 8;
	else if (c->prec < 8)
		v = v * 255 / (((int64_t)1 << c->prec) - 1);
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/*
 * Like JPEG's DCT scaling: skip the finest wavelet levels, halving both
 * sides per level (1/2, 1/4, 1/8 at most), while the short side stays at
 * least min_side.  Cheaper, and OpenJPEG then holds a quarter of the
 * int32 planes per level skipped.
 */
static int
jp2_reduce(opj_codec_t *codec, const opj_image_t *im, uint32_t min_side, unsigned *scale_num)
{
	opj_codestream_info_v2_t *ci;
	uint32_t w = im->x1 - im->x0, h = im->y1 - im->y0, s = w < h ? w : h, k;
	uint32_t levels = 32, r = 0;

	*scale_num = 8;
	if (min_side == 0)
		return CBP_OK;
	if ((ci = opj_get_cstr_info(codec)) == NULL)
		return CBP_ENOMEM;
	/* A component may have fewer levels than another; none may be passed. */
	if (ci->m_default_tile_info.tccp_info != NULL)
		for (k = 0; k < ci->nbcomps; k++)
			if (ci->m_default_tile_info.tccp_info[k].numresolutions < levels)
				levels = ci->m_default_tile_info.tccp_info[k].numresolutions;
	opj_destroy_cstr_info(&ci);
	if (levels == 32)
		return CBP_OK;
	while (r < 3 && r + 1 < levels && ((uint64_t)s + (2u << r) - 1) / (2u << r) >= min_side)
		r++;
	if (r > 0 && !opj_set_decoded_resolution_factor(codec, r))
		return CBP_ECORRUPT;
	*scale_num = 8 >> r;
	return CBP_OK;
}

static int
jp2_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	static const uint8_t j2k_magic[4] = { 0xff, 0x4f, 0xff, 0x51 };
	struct memio m = { buf, len, 0 };
	opj_stream_t *st = NULL;
	opj_codec_t *codec = NULL;
	opj_image_t *im = NULL;
	opj_dparameters_t par;
	struct sink s;
	uint8_t *row = NULL;
	uint32_t w, h, y, x, k;
	unsigned ch;
	int r = CBP_ENOMEM;

	memset(&s, 0, sizeof(s));
	/* The caller says "JPEG 2000"; which wrapper it is, the bytes say. */
	codec = opj_create_decompress(len >= 4 && memcmp(buf, j2k_magic, 4) == 0 ?
	    OPJ_CODEC_J2K : OPJ_CODEC_JP2);
	if (codec == NULL || (st = opj_stream_create(64 * 1024, OPJ_TRUE)) == NULL)
		goto out;
	opj_set_info_handler(codec, opj_quiet, NULL);
	opj_set_warning_handler(codec, opj_quiet, NULL);
	opj_set_error_handler(codec, opj_quiet, NULL);
	opj_stream_set_user_data(st, &m, NULL);
	opj_stream_set_user_data_length(st, len);
	opj_stream_set_read_function(st, opj_mem_read);
	opj_stream_set_skip_function(st, opj_mem_skip);
	opj_stream_set_seek_function(st, opj_mem_seek);
	opj_set_default_decoder_parameters(&par);
	r = CBP_ECORRUPT;
	/* Strict: a truncated codestream is an error, not a partial image. */
	if (!opj_setup_decoder(codec, &par) || !opj_decoder_set_strict_mode(codec, OPJ_TRUE) ||
	    !opj_read_header(st, codec, &im) || im == NULL)
		goto out;
	if (im->x1 <= im->x0 || im->y1 <= im->y0 || im->numcomps == 0)
		goto out;
	if ((r = check_size(im->x1 - im->x0, im->y1 - im->y0, o->max_pixels)) != CBP_OK)
		goto out;
	if ((r = jp2_reduce(codec, im, o->min_side, &img->scale_num)) != CBP_OK)
		goto out;
	r = CBP_ECORRUPT;
	/* Decode only what is hashed (grey, or the first three): an alpha or
	 * extra channel would cost a full int32 plane for nothing. */
	if (im->numcomps == 2 || im->numcomps > 3) {
		static const OPJ_UINT32 want[3] = { 0, 1, 2 };
		if (!opj_set_decoded_components(codec, im->numcomps > 3 ? 3 : 1, want, OPJ_FALSE))
			goto out;
	}
	if (!opj_decode(codec, st, im) || !opj_end_decompress(codec, st))
		goto out;
	if (im->numcomps == 0 || im->comps == NULL)
		goto out;
	w = im->comps[0].w;
	h = im->comps[0].h;
	ch = im->numcomps >= 3 ? 3 : 1;
	/* Subsampled chroma would need upsampling; such files are rare. */
	for (k = 0; k < ch; k++)
		if (im->comps[k].data == NULL || im->comps[k].w != w || im->comps[k].h != h ||
		    im->comps[k].prec == 0 || im->comps[k].prec > 31) {
			r = k == 0 ? CBP_ECORRUPT : CBP_EUNSUPPORTED;
			goto out;
		}
	if ((r = check_size(w, h, o->max_pixels)) != CBP_OK ||
	    (r = sink_open(&s, w, h, ch, o->sample_side)) != CBP_OK)
		goto out;
	if ((row = malloc((size_t)w * ch)) == NULL) {
		r = CBP_ENOMEM;
		goto out;
	}
	for (y = 0; y < h; y++) {
		for (x = 0; x < w; x++)
			for (k = 0; k < ch; k++)
				row[(size_t)x * ch + k] = opj_sample(&im->comps[k], (size_t)y * w + x);
		sink_row(&s, y, row);
	}
	r = sink_finish(&s, im->x1 - im->x0, im->y1 - im->y0, img);
out:
	if (im != NULL)
		opj_image_destroy(im);
	if (st != NULL)
		opj_stream_destroy(st);
	if (codec != NULL)
		opj_destroy_codec(codec);
	free(row);
	sink_close(&s);
	return r;
}

/* ---- GIF (giflib, first frame) ----------------------------------------- */

static int
gif_read(GifFileType *g, GifByteType *buf, int n)
{
	struct memio *m = g->UserData;
	size_t k;

	if (n <= 0 || m->pos >= m->len)
		return 0;
	k = m->len - m->pos < (size_t)n ? m->len - m->pos : (size_t)n;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (int)k;
}

/* Skip extension blocks up to the first image descriptor. */
static int
gif_first_image(GifFileType *g)
{
	GifRecordType rt;
	GifByteType *ext;
	int code;

	for (;;) {
		if (DGifGetRecordType(g, &rt) != GIF_OK)
			return CBP_ECORRUPT;
		if (rt == IMAGE_DESC_RECORD_TYPE)
			return DGifGetImageDesc(g) == GIF_OK ? CBP_OK : CBP_ECORRUPT;
		if (rt == TERMINATE_RECORD_TYPE)
			return CBP_ECORRUPT;
		if (rt == EXTENSION_RECORD_TYPE) {
			if (DGifGetExtension(g, &code, &ext) != GIF_OK)
				return CBP_ECORRUPT;
			while (ext != NULL)
				if (DGifGetExtensionNext(g, &ext) != GIF_OK)
					return CBP_ECORRUPT;
		}
	}
}

static int
gif_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	/* Adam-style interlace of GIF89a: start row and step of each pass. */
	static const int istart[4] = { 0, 4, 2, 1 }, istep[4] = { 8, 8, 4, 2 };
	struct memio m = { buf, len, 0 };
	GifFileType *g = NULL;
	ColorMapObject *cmap;
	struct sink s;
	uint8_t *idx = NULL, *row = NULL;
	uint32_t w, h, y, x;
	int r = CBP_ECORRUPT, err = 0, pass, gy;

	memset(&s, 0, sizeof(s));
	if ((g = DGifOpen(&m, gif_read, &err)) == NULL) {
		r = err == D_GIF_ERR_NOT_ENOUGH_MEM ? CBP_ENOMEM : CBP_ECORRUPT;
		goto out;
	}
	/* The logical screen is declared first: a bomb is refused there. */
	if (check_size((uint64_t)g->SWidth, (uint64_t)g->SHeight, o->max_pixels) == CBP_ELIMIT) {
		r = CBP_ELIMIT;
		goto out;
	}
	if ((r = gif_first_image(g)) != CBP_OK)
		goto out;
	if (g->Image.Width <= 0 || g->Image.Height <= 0) {
		r = CBP_ECORRUPT;
		goto out;
	}
	w = (uint32_t)g->Image.Width;
	h = (uint32_t)g->Image.Height;
	if ((r = check_size(w, h, o->max_pixels)) != CBP_OK)
		goto out;
	cmap = g->Image.ColorMap != NULL ? g->Image.ColorMap : g->SColorMap;
	if (cmap == NULL || cmap->Colors == NULL || cmap->ColorCount <= 0) {
		r = CBP_ECORRUPT;
		goto out;
	}
	r = CBP_ENOMEM;
	/* Indices, one byte a pixel: interlaced rows come out of order. */
	if ((idx = malloc((size_t)w * h)) == NULL || (row = malloc((size_t)w * 3)) == NULL)
		goto out;
	r = CBP_ECORRUPT;
	if (g->Image.Interlace) {
		for (pass = 0; pass < 4; pass++)
			for (gy = istart[pass]; gy < (int)h; gy += istep[pass])
				if (DGifGetLine(g, idx + (size_t)gy * w, (int)w) != GIF_OK)
					goto out;
	} else {
		for (y = 0; y < h; y++)
			if (DGifGetLine(g, idx + (size_t)y * w, (int)w) != GIF_OK)
				goto out;
	}
	if ((r = sink_open(&s, w, h, 3, o->sample_side)) != CBP_OK)
		goto out;
	for (y = 0; y < h; y++) {
		const uint8_t *in = idx + (size_t)y * w;
		for (x = 0; x < w; x++) {
			/* An index past the palette shows black, as browsers do. */
			if (in[x] < cmap->ColorCount) {
				const GifColorType *c = &cmap->Colors[in[x]];
				row[3 * x] = c->Red;
				row[3 * x + 1] = c->Green;
				row[3 * x + 2] = c->Blue;
			} else {
				memset(row + 3 * x, 0, 3);
			}
		}
		sink_row(&s, y, row);
	}
	r = sink_finish(&s, w, h, img);
out:
	if (g != NULL)
		DGifCloseFile(g, &err);
	free(idx);
	free(row);
	sink_close(&s);
	return r;
}

/* ---- WebP (libwebp) ---------------------------------------------------- */

static int
webp_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	WebPBitstreamFeatures f;
	struct sink s;
	uint8_t *rgb = NULL;
	uint32_t y;
	int r = CBP_ECORRUPT;

	memset(&s, 0, sizeof(s));
	if (WebPGetFeatures(buf, len, &f) != VP8_STATUS_OK)
		goto out;
	if ((r = check_size((uint64_t)f.width, (uint64_t)f.height, o->max_pixels)) != CBP_OK)
		goto out;
	if (f.has_animation) {
		r = CBP_EUNSUPPORTED;
		goto out;
	}
	r = CBP_ENOMEM;
	if ((rgb = malloc((size_t)f.width * f.height * 3)) == NULL)
		goto out;
	r = CBP_ECORRUPT;
	/* Alpha is dropped (RGB output), as for every other format. */
	if (WebPDecodeRGBInto(buf, len, rgb, (size_t)f.width * f.height * 3, f.width * 3) == NULL)
		goto out;
	if ((r = sink_open(&s, (uint32_t)f.width, (uint32_t)f.height, 3, o->sample_side)) != CBP_OK)
		goto out;
	for (y = 0; y < (uint32_t)f.height; y++)
		sink_row(&s, y, rgb + (size_t)y * f.width * 3);
	r = sink_finish(&s, (uint32_t)f.width, (uint32_t)f.height, img);
out:
	free(rgb);
	sink_close(&s);
	return r;
}

/* ---- BMP (by hand) ----------------------------------------------------- */

/*
 * Why by hand: Debian has no library for BMP alone.  The candidates decode
 * it as one format of many behind a large attack surface (ImageMagick,
 * GraphicsMagick, gdk-pixbuf, SDL_image, FreeImage) or say they are not
 * for untrusted input (stb_image).  The uncompressed forms are a few
 * fields and padded rows, small enough to bound completely here.  RLE and
 * embedded JPEG/PNG forms are CBP_EUNSUPPORTED.
 */

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Bit field (mask) of v scaled to 8 bits; mask 0 gives 0. */
static uint8_t
bmp_field(uint32_t v, uint32_t mask)
{
	unsigned shift = 0, bits = 0;
	uint32_t f;

	if (mask == 0)
		return 0;
	while (!(mask & (1u << shift)))
		shift++;
	while (shift + bits < 32 && (mask & (1u << (shift + bits))))
		bits++;
	f = (v & mask) >> shift;
	if (bits >= 8)
		return (uint8_t)(f >> (bits - 8));
	return (uint8_t)(f * 255 / ((1u << bits) - 1));
}

struct bmp {
	uint32_t w, h, off, comp, masks[3], ncolors;
	int topdown;
	unsigned bpp;
	const uint8_t *pal;	/* 4 bytes an entry (3 for the OS/2 core header) */
	unsigned palent;
};

static int
bmp_header(const uint8_t *b, size_t len, struct bmp *h)
{
	uint32_t hs;
	int32_t sh;

	memset(h, 0, sizeof(*h));
	if (len < 26 || b[0] != 'B' || b[1] != 'M')
		return CBP_ECORRUPT;
	h->off = le32(b + 10);
	hs = le32(b + 14);
	if (hs == 12) {		/* OS/2 BITMAPCOREHEADER: 16-bit sizes */
		h->w = le16(b + 18);
		h->h = le16(b + 20);
		h->bpp = le16(b + 24);
		h->palent = 3;
	} else if (hs >= 40 && hs <= 124 && len >= 14 + (size_t)hs) {
		h->w = le32(b + 18);
		sh = (int32_t)le32(b + 22);
		if (sh == INT32_MIN || (int32_t)h->w <= 0)
			return CBP_ECORRUPT;
		h->topdown = sh < 0;
		h->h = (uint32_t)(sh < 0 ? -sh : sh);
		h->bpp = le16(b + 28);
		h->comp = le32(b + 30);
		h->ncolors = le32(b + 46);
		h->palent = 4;
		if (h->comp == 3 && hs >= 52) {		/* BI_BITFIELDS in the header */
			h->masks[0] = le32(b + 54);
			h->masks[1] = le32(b + 58);
			h->masks[2] = le32(b + 62);
		} else if (h->comp == 3 && len >= 14 + (size_t)hs + 12) {	/* after it */
			h->masks[0] = le32(b + 14 + hs);
			h->masks[1] = le32(b + 14 + hs + 4);
			h->masks[2] = le32(b + 14 + hs + 8);
		} else if (h->comp == 3) {
			return CBP_ECORRUPT;
		}
	} else {
		return CBP_ECORRUPT;
	}
	if (h->comp != 0 && !(h->comp == 3 && (h->bpp == 16 || h->bpp == 32)))
		return CBP_EUNSUPPORTED;	/* RLE4/RLE8, embedded JPEG/PNG */
	if (h->bpp != 1 && h->bpp != 4 && h->bpp != 8 && h->bpp != 16 &&
	    h->bpp != 24 && h->bpp != 32)
		return CBP_ECORRUPT;
	if (h->comp == 0 && h->bpp == 16) {	/* 5-5-5 */
		h->masks[0] = 0x7c00;
		h->masks[1] = 0x03e0;
		h->masks[2] = 0x001f;
	} else if (h->comp == 0 && h->bpp == 32) {
		h->masks[0] = 0xff0000;
		h->masks[1] = 0x00ff00;
		h->masks[2] = 0x0000ff;
	}
	if (h->bpp <= 8) {
		uint32_t max = 1u << h->bpp;
		size_t at = 14 + (size_t)hs + (h->comp == 3 && hs < 52 ? 12 : 0);
		if (h->ncolors == 0 || h->ncolors > max)
			h->ncolors = max;
		if (at > len || (len - at) / h->palent < h->ncolors)
			return CBP_ECORRUPT;
		h->pal = b + at;
	}
	return CBP_OK;
}

static int
bmp_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	struct bmp hd;
	struct sink s;
	uint8_t *row = NULL;
	uint64_t stride;
	uint32_t y, x, sy, v;
	int r;

	memset(&s, 0, sizeof(s));
	if ((r = bmp_header(buf, len, &hd)) != CBP_OK)
		return r;
	if ((r = check_size(hd.w, hd.h, o->max_pixels)) != CBP_OK)
		return r;
	/* Rows are padded to 4 bytes; every row must be in the file. */
	stride = (((uint64_t)hd.w * hd.bpp + 31) / 32) * 4;
	if (hd.off > len || (len - hd.off) / stride < hd.h)
		return CBP_ECORRUPT;
	if ((r = sink_open(&s, hd.w, hd.h, 3, o->sample_side)) != CBP_OK)
		goto out;
	if ((row = malloc((size_t)hd.w * 3)) == NULL) {
		r = CBP_ENOMEM;
		goto out;
	}
	for (y = 0; y < hd.h; y++) {
		/* Bottom-up is the format's normal storage, not an orientation. */
		sy = hd.topdown ? y : hd.h - 1 - y;
		const uint8_t *in = buf + hd.off + (size_t)sy * stride;
		for (x = 0; x < hd.w; x++) {
			uint8_t *p = row + 3 * (size_t)x;
			if (hd.bpp <= 8) {
				unsigned per = 8 / hd.bpp, bit = (per - 1 - x % per) * hd.bpp;
				uint32_t i = (in[x / per] >> bit) & ((1u << hd.bpp) - 1);
				if (i < hd.ncolors) {
					const uint8_t *c = hd.pal + (size_t)i * hd.palent;
					p[0] = c[2], p[1] = c[1], p[2] = c[0];
				} else {
					p[0] = p[1] = p[2] = 0;
				}
			} else if (hd.bpp == 24) {
				p[0] = in[3 * x + 2], p[1] = in[3 * x + 1], p[2] = in[3 * x];
			} else {
				v = hd.bpp == 16 ? le16(in + 2 * x) : le32(in + 4 * (size_t)x);
				p[0] = bmp_field(v, hd.masks[0]);
				p[1] = bmp_field(v, hd.masks[1]);
				p[2] = bmp_field(v, hd.masks[2]);
			}
		}
		sink_row(&s, y, row);
	}
	r = sink_finish(&s, hd.w, hd.h, img);
out:
	free(row);
	sink_close(&s);
	return r;
}

/* ---- PNM (by hand) ------------------------------------------------------ */

/*
 * Why by hand: binary PGM/PPM is a text header ("P6", width, height,
 * maxval, with # comments) and then raw rows; Debian's libnetpbm would
 * bring its own error handling (it exits the process on a bad file) for
 * twenty lines of parsing.  Only the binary forms at 8 bits: P5 grey, P6
 * RGB, maxval 1..255 (scaled to 255).  16-bit samples and the ASCII and
 * bitmap forms are CBP_EUNSUPPORTED.  The scan also makes P5/P6 from the
 * FlateDecode pixel images in PDFs (cbp_pdfimg.h).
 */

/* Header bytes read before the first sample; real headers are ~15 bytes
 * plus comments (GIMP writes one line). */
#define PNM_HEADER_MAX 4096

/* A decimal field after blanks and comments; *i ends after its digits. */
static int
pnm_field(const uint8_t *b, size_t len, size_t *i, uint32_t *v)
{
	uint64_t x = 0;
	size_t d = 0;

	for (;;) {
		if (*i >= len || *i >= PNM_HEADER_MAX)
			return CBP_ECORRUPT;
		if (b[*i] == '#') {
			while (*i < len && *i < PNM_HEADER_MAX && b[*i] != '\n' &&
			    b[*i] != '\r')
				(*i)++;
		} else if (b[*i] == ' ' || b[*i] == '\t' || b[*i] == '\n' ||
		    b[*i] == '\r' || b[*i] == '\v' || b[*i] == '\f') {
			(*i)++;
		} else {
			break;
		}
	}
	while (*i < len && b[*i] >= '0' && b[*i] <= '9') {
		if (++d > 10)
			return CBP_ECORRUPT;
		x = x * 10 + (uint64_t)(b[(*i)++] - '0');
	}
	if (d == 0 || x > UINT32_MAX)
		return CBP_ECORRUPT;
	*v = (uint32_t)x;
	return CBP_OK;
}

static int
pnm_decode(const uint8_t *buf, size_t len, const struct cbp_decode_opts *o,
    struct cbp_image *img)
{
	struct sink s;
	uint8_t *row = NULL;
	uint32_t w, h, maxval, y, x;
	unsigned ch;
	size_t i = 2, rb;
	int r;

	memset(&s, 0, sizeof(s));
	if (len < 3 || buf[0] != 'P')
		return CBP_ECORRUPT;
	if (buf[1] == '5' || buf[1] == '6')
		ch = buf[1] == '6' ? 3 : 1;
	else if (buf[1] >= '1' && buf[1] <= '7')
		return CBP_EUNSUPPORTED;	/* ASCII, bitmap, PAM */
	else
		return CBP_ECORRUPT;
	if ((r = pnm_field(buf, len, &i, &w)) != CBP_OK ||
	    (r = pnm_field(buf, len, &i, &h)) != CBP_OK ||
	    (r = pnm_field(buf, len, &i, &maxval)) != CBP_OK)
		return r;
	/* Exactly one blank ends the header; then the samples. */
	if (i >= len || !(buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' ||
	    buf[i] == '\r'))
		return CBP_ECORRUPT;
	i++;
	if (maxval == 0)
		return CBP_ECORRUPT;
	if (maxval > 255)
		return CBP_EUNSUPPORTED;	/* 2 bytes a sample */
	if ((r = check_size(w, h, o->max_pixels)) != CBP_OK)
		return r;
	rb = (size_t)w * ch;
	if ((len - i) / rb < h)
		return CBP_ECORRUPT;		/* rows missing */
	if ((r = sink_open(&s, w, h, ch, o->sample_side)) != CBP_OK)
		goto out;
	if (maxval != 255 && (row = malloc(rb)) == NULL) {
		r = CBP_ENOMEM;
		goto out;
	}
	for (y = 0; y < h; y++) {
		const uint8_t *in = buf + i + (size_t)y * rb;

		if (row != NULL) {
			for (x = 0; x < rb; x++)
				row[x] = (uint8_t)(in[x] > maxval ? 255 :
				    (in[x] * 255u + maxval / 2) / maxval);
			in = row;
		}
		sink_row(&s, y, in);
	}
	r = sink_finish(&s, w, h, img);
out:
	free(row);
	sink_close(&s);
	return r;
}

/* ---- entry points ------------------------------------------------------ */

int
cbp_decode(const uint8_t *buf, size_t len, enum cbp_decode_fmt fmt,
    const struct cbp_decode_opts *opts, struct cbp_image *img)
{
	struct cbp_decode_opts o = { 0 };
	int r;

	if (img == NULL)
		return CBP_EINVAL;
	memset(img, 0, sizeof(*img));
	img->scale_num = 8;
	if (buf == NULL && len != 0)
		return CBP_EINVAL;
	if (opts != NULL)
		o = *opts;
	if (o.max_pixels == 0)
		o.max_pixels = CBP_DECODE_MAX_PIXELS;
	if (len == 0)
		return CBP_ECORRUPT;
	switch (fmt) {
	case CBP_FMT_JPEG: r = jpeg_decode(buf, len, &o, img); break;
	case CBP_FMT_PNG:  r = png_decode(buf, len, &o, img); break;
	case CBP_FMT_TIFF: r = tiff_decode(buf, len, &o, img); break;
	case CBP_FMT_JP2:  r = jp2_decode(buf, len, &o, img); break;
	case CBP_FMT_GIF:  r = gif_decode(buf, len, &o, img); break;
	case CBP_FMT_WEBP: r = webp_decode(buf, len, &o, img); break;
	case CBP_FMT_BMP:  r = bmp_decode(buf, len, &o, img); break;
	case CBP_FMT_PNM:  r = pnm_decode(buf, len, &o, img); break;
	default:           return CBP_EINVAL;
	}
	if (r != CBP_OK) {
		cbp_image_free(img);
		img->scale_num = 8;
	}
	return r;
}

int
cbp_decode_pdq(const uint8_t *buf, size_t len, enum cbp_decode_fmt fmt,
    const struct cbp_decode_opts *opts, unsigned flags, struct cbp_pdq *out)
{
	struct cbp_decode_opts o = { 0 };
	struct cbp_image img;
	int r;

	if (out == NULL)
		return CBP_EINVAL;
	memset(out, 0, sizeof(*out));
	if (opts != NULL)
		o = *opts;
	o.sample_side = CBP_PDQ_PRESCALE;
	if ((r = cbp_decode(buf, len, fmt, &o, &img)) != CBP_OK)
		return r;
	r = cbp_pdq_hash(img.px, img.w, img.h, img.channels,
	    (size_t)img.w * img.channels, flags, out);
	cbp_image_free(&img);
	return r;
}

void
cbp_image_free(struct cbp_image *img)
{
	if (img == NULL)
		return;
	free(img->px);
	memset(img, 0, sizeof(*img));
}

enum cbp_decode_fmt
cbp_decode_fmt_from_mime(const char *mime)
{
	static const struct {
		const char *mime;
		enum cbp_decode_fmt fmt;
	} map[] = {
		{ "image/jpeg", CBP_FMT_JPEG },
		{ "image/pjpeg", CBP_FMT_JPEG },
		{ "image/png", CBP_FMT_PNG },
		{ "image/tiff", CBP_FMT_TIFF },
		{ "image/jp2", CBP_FMT_JP2 },
		{ "image/jpx", CBP_FMT_JP2 },
		{ "image/jpm", CBP_FMT_JP2 },
		{ "image/x-jp2-codestream", CBP_FMT_JP2 },
		{ "image/gif", CBP_FMT_GIF },
		{ "image/webp", CBP_FMT_WEBP },
		{ "image/bmp", CBP_FMT_BMP },
		{ "image/x-ms-bmp", CBP_FMT_BMP },
		{ "image/x-bmp", CBP_FMT_BMP },
		/* libmagic's names (file --mime-type on P6 and P5 files). */
		{ "image/x-portable-pixmap", CBP_FMT_PNM },
		{ "image/x-portable-greymap", CBP_FMT_PNM },
	};
	size_t i, n;

	if (mime == NULL)
		return CBP_FMT_UNKNOWN;
	/* The type ends at ';' ("image/png; charset=binary") or a space. */
	n = strcspn(mime, "; \t");
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].mime) == n && strncasecmp(mime, map[i].mime, n) == 0)
			return map[i].fmt;
	return CBP_FMT_UNKNOWN;
}

const char *
cbp_decode_fmt_name(enum cbp_decode_fmt fmt)
{
	static const char *const names[CBP_FMT_MAX] = {
		"unknown", "jpeg", "png", "tiff", "jp2", "gif", "webp", "bmp",
		"pnm"
	};

	return (unsigned)fmt < CBP_FMT_MAX ? names[fmt] : "unknown";
}
