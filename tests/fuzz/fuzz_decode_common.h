/*
 * fuzz_decode_common.h — the harness of the decoder targets
 * (fuzz_decode_jpeg, _png, _tiff, _jp2, _gif, _webp, _bmp, _pnm): one target per
 * decoder entry point, each defining FUZZ_DECODE_FMT before including this.
 *
 * Each input is decoded three ways, as the scanner and `hash` call it: full
 * size, with PDQ's decode-time sample (and, for JPEG, DCT scaling and the
 * Y plane alone, as `scan` asks), and
 * under a pixel cap just below what the first decode found, and every
 * image that comes out is hashed.  A target whose format has two paths
 * defines FUZZ_DECODE_REFERENCE(opts) to switch an options struct to the
 * second, and each input is also decoded both ways and compared.  The pixel cap is 1 Mpx so a header
 * declaring a large but legal image cannot make a run OOM or time out; the
 * decoders' own caps are what is tested, not the machine's memory.  The
 * sanitizers do the checking; the aborts below check the contract of
 * cbp_decode.h that a sanitizer cannot see.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_decode.h"
#include "cbp_err.h"
#include "cbp_pdq.h"

#define FUZZ_MAX_PIXELS ((uint64_t)1 << 20)

static void
check(int r, const struct cbp_image *img, const struct cbp_decode_opts *o)
{
	struct cbp_pdq p;

	if (r != CBP_OK) {
		if (img->px != NULL || (r != CBP_ECORRUPT && r != CBP_ELIMIT &&
		    r != CBP_EUNSUPPORTED && r != CBP_ENOMEM))
			abort();
		return;
	}
	if (img->px == NULL || img->w == 0 || img->h == 0 ||
	    (img->channels != 1 && img->channels != 3) ||
	    (uint64_t)img->src_w * img->src_h > o->max_pixels ||
	    (o->sample_side != 0 && (img->w > o->sample_side || img->h > o->sample_side)))
		abort();
	if (cbp_pdq_hash(img->px, img->w, img->h, img->channels,
	    (size_t)img->w * img->channels, CBP_PDQ_DIHEDRAL, &p) != CBP_OK ||
	    p.quality < 0 || p.quality > 100)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct cbp_decode_opts o = { .max_pixels = FUZZ_MAX_PIXELS };
	struct cbp_image img;
	uint64_t got = 0;
	int r;

	r = cbp_decode(d, n, FUZZ_DECODE_FMT, &o, &img);
	check(r, &img, &o);
	if (r == CBP_OK)
		got = (uint64_t)img.src_w * img.src_h;
	cbp_image_free(&img);

	o.sample_side = 16;
	o.min_side = 8;
	o.luma_only = 1;
	r = cbp_decode(d, n, FUZZ_DECODE_FMT, &o, &img);
	check(r, &img, &o);
	cbp_image_free(&img);

#ifdef FUZZ_DECODE_REFERENCE
	/*
	 * Differential: the format's second path must give the same answer
	 * and, when both decode, the same pixels (PNG: ISA-L against
	 * libspng).  The one documented leniency (decode.c, png_fast: a
	 * back-reference before the stream's start that zlib refuses) lets
	 * the first path decode where the second finds the file corrupt.
	 */
	{
		struct cbp_decode_opts a = { .max_pixels = FUZZ_MAX_PIXELS };
		struct cbp_decode_opts b = a;
		struct cbp_image x, y;
		int rx, ry;

		FUZZ_DECODE_REFERENCE(b);
		rx = cbp_decode(d, n, FUZZ_DECODE_FMT, &a, &x);
		ry = cbp_decode(d, n, FUZZ_DECODE_FMT, &b, &y);
		if ((rx != ry && !(rx == CBP_OK && ry == CBP_ECORRUPT)) ||
		    (rx == CBP_OK && ry == CBP_OK && (x.w != y.w || x.h != y.h ||
		    x.channels != y.channels ||
		    memcmp(x.px, y.px, (size_t)x.w * x.h * x.channels) != 0)))
			abort();
		cbp_image_free(&x);
		cbp_image_free(&y);
	}
#endif

	/* Just under the size the image has: must be refused as a limit. */
	if (got > 1) {
		o.max_pixels = got - 1;
		o.sample_side = 0;
		o.min_side = 0;
		o.luma_only = 0;
		r = cbp_decode(d, n, FUZZ_DECODE_FMT, &o, &img);
		if (r == CBP_OK)
			abort();
		check(r, &img, &o);
	}
	return 0;
}
