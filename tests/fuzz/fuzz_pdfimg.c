/*
 * fuzz_pdfimg.c — libFuzzer target for cbp_pdfimg_find() and
 * cbp_pdfimg_pnm(): FlateDecode images in arbitrary bytes taken as a PDF.
 * Every hit must lie inside the input, in order, RGB or grey, at least
 * CBP_PDFIMG_MIN_SIDE on a side, with a predictor the module takes; every
 * PNM it makes (under a 1 Mpx cap, so a large legal declaration cannot
 * make a run OOM) must be exactly its header plus w x h x channels bytes
 * and decode back through cbp_decode(CBP_FMT_PNM) to the same size.
 * Seeds: tests/fuzz/seeds/fuzz_pdfimg (RGB with a direct /Length, grey
 * PNG-predicted with an indirect one, ICCBased with its profile stream;
 * made by tests/fuzz/gen_pdfimg_seeds.py).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "cbp_decode.h"
#include "cbp_err.h"
#include "cbp_pdfimg.h"

#define FUZZ_MAX_PIXELS ((uint64_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_pnm(const uint8_t *data, size_t size, const struct cbp_pdfimg_hit *h)
{
	struct cbp_image img;
	uint8_t *pnm = NULL;
	size_t len = 0;
	int r;

	r = cbp_pdfimg_pnm(data, size, h, FUZZ_MAX_PIXELS, 0, &pnm, &len);
	if (r != CBP_OK) {
		assert(pnm == NULL && (r == CBP_ECORRUPT || r == CBP_ELIMIT ||
		    r == CBP_ENOMEM));
		assert(r != CBP_ELIMIT ||
		    (uint64_t)h->w * h->h > FUZZ_MAX_PIXELS);
		return;
	}
	assert((uint64_t)h->w * h->h <= FUZZ_MAX_PIXELS);
	assert(len > (size_t)h->w * h->h * h->channels);
	r = cbp_decode(pnm, len, CBP_FMT_PNM, NULL, &img);
	assert(r == CBP_OK && img.w == h->w && img.h == h->h &&
	    img.channels == h->channels);
	cbp_image_free(&img);
	free(pnm);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	size_t k, i, end = 0;

	k = cbp_pdfimg_find(data, size, hit, CBP_PDFIMG_MAX, &st);
	assert(k <= CBP_PDFIMG_MAX && st.streams >= k);
	for (i = 0; i < k; i++) {
		const struct cbp_pdfimg_hit *h = &hit[i];

		assert(h->offset >= end && h->offset <= size &&
		    h->length <= size - h->offset);
		assert(h->channels == 1 || h->channels == 3);
		assert(h->w >= CBP_PDFIMG_MIN_SIDE && h->h >= CBP_PDFIMG_MIN_SIDE);
		assert(h->predictor == 1 || h->predictor == 2 ||
		    (h->predictor >= 10 && h->predictor <= 15));
		end = h->offset + h->length;
		check_pnm(data, size, h);
	}
	return 0;
}
