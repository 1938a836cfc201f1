/*
 * fuzz_imgcarve.c — libFuzzer target for cbp_imgcarve_find(): JPEG and PNG
 * streams in arbitrary bytes.  Every hit must lie inside the input, in
 * order, without overlap, at or after the start offset, at least
 * CBP_IMGCARVE_MIN_BYTES long, and re-measure to the same length from its
 * own offset (the walk depends on nothing before the stream).
 * Seeds: tests/fuzz/seeds/fuzz_imgcarve (a PDF with a JPEG, a blob with a
 * PNG).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "cbp_imgcarve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbp_imgcarve_hit hit[CBP_IMGCARVE_MAX];
	size_t k, i, end = 1, len;
	int more;

	k = cbp_imgcarve_find(data, size, 1, hit, CBP_IMGCARVE_MAX, &more);
	assert(k <= CBP_IMGCARVE_MAX);
	for (i = 0; i < k; i++) {
		assert(hit[i].offset >= end && hit[i].offset < size);
		assert(hit[i].length >= CBP_IMGCARVE_MIN_BYTES &&
		    hit[i].length <= size - hit[i].offset);
		len = hit[i].type == CBP_IMGCARVE_JPEG ?
		    cbp_imgcarve_jpeg_len(data + hit[i].offset,
		    size - hit[i].offset) :
		    cbp_imgcarve_png_len(data + hit[i].offset,
		    size - hit[i].offset);
		assert(len == hit[i].length);
		end = hit[i].offset + hit[i].length;
	}
	return 0;
}
