/*
 * fuzz_carve.c — libFuzzer target for cbp_record_carve(): records at any
 * offset of a buffer, appended across windows.
 *
 * The input is carved twice, as two windows (the whole input at base 0,
 * then its second half at base size/2), into one list, to exercise
 * appending and the record cap.  Every record kept must validate where it
 * lies: inside its window, embedded, at an offset >= 1 of the window.
 * Then every base64 run the input holds is located, decoded and parsed
 * (cbp_record_b64_next, cbp_record_b64_decode): runs inside the input,
 * output inside its cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct cbp_record *r, size_t base, size_t len)
{
	size_t i;

	if (r->offset <= base || r->offset - base > len ||
	    r->length > len - (r->offset - base) || !r->embedded ||
	    r->kind == CBP_REC_NONE || r->nimages > CBP_RECORD_IMAGES ||
	    r->nfields > CBP_RECORD_FIELDS)
		abort();
	for (i = 0; i < r->nimages; i++)
		if (r->images[i].offset < base ||
		    r->images[i].offset - base > len ||
		    r->images[i].length > len - (r->images[i].offset - base))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbp_record_list l = { 0 };
	unsigned char *p = malloc(size ? size : 1);
	size_t half = size / 2, i, n0;

	if (p == NULL)
		return 0;
	if (size > 0)
		memcpy(p, data, size);
	if (cbp_record_carve(p, size, 0, &l) != CBP_OK)
		abort();
	n0 = l.n;
	for (i = 0; i < n0; i++)
		check(&l.v[i], 0, size);
	if (cbp_record_carve(p + half, size - half, 1000000, &l) != CBP_OK)
		abort();
	if (l.n > CBP_CARVE_MAX_RECORDS || l.n < n0)
		abort();
	for (i = n0; i < l.n; i++)
		check(&l.v[i], 1000000, size - half);
	cbp_record_list_free(&l);

	/* Base64 runs: each within the input, decoded within its cap. */
	{
		size_t from = 0, st, en, got, runs = 0;
		unsigned char out[512];
		struct cbp_record r;

		while (runs++ < 64 && cbp_record_b64_next(p, size, from, &st, &en)) {
			if (st < from || en <= st || en > size)
				abort();
			if (cbp_record_b64_decode(p + st, en - st, out, sizeof out,
			    &got) == CBP_OK) {
				if (got > sizeof out)
					abort();
				(void)cbp_record_parse(out, got, &r);
			}
			from = en;
		}
	}
	free(p);
	return 0;
}
