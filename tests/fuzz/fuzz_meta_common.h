/*
 * fuzz_meta_common.h — the harness of the metadata targets (fuzz_jpeg,
 * fuzz_png, fuzz_tiff, fuzz_jp2).
 *
 * The parser picks the format from the first bytes, so the harness is the
 * same for every format; each target's seed corpus
 * (tests/fuzz/seeds/<target>/, made by gen_meta_seeds.py) is what steers
 * it.  Each input is parsed as a whole file and as a prefix (complete =
 * 0), the two ways the scanner calls it.  The sanitizers do the checking;
 * the asserts below check the contract's invariants that a sanitizer
 * cannot see.  Included once, by one target's .c file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_meta.h"

static void
check(const struct cbp_meta *m, size_t n)
{
	size_t i, total = 0;

	if (m->nfields > CBP_META_FIELDS || (m->corrupt && m->corrupt_detail == NULL))
		abort();
	for (i = 0; i < m->nfields; i++) {
		const struct cbp_meta_field *f = &m->fields[i];
		if (f->len == 0 || f->len > CBP_META_FIELD_MAX ||
		    f->value[f->len] != '\0' || strlen(f->name) == 0)
			abort();
		total += f->len;
	}
	if (total > CBP_META_TOTAL)
		abort();
	if (m->thumb_len != 0 && (m->thumb_offset > n || m->thumb_len > n - m->thumb_offset))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct cbp_meta m;
	int complete;

	for (complete = 1; complete >= 0; complete--) {
		int r = cbp_meta_extract(d, n, complete, &m);
		if (r != CBP_OK && r != CBP_ENOTFOUND)
			abort();
		check(&m, n);
		cbp_meta_free(&m);
	}
	return 0;
}
