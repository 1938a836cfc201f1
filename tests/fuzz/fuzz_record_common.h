/*
 * fuzz_record_common.h — the harness of the record targets (fuzz_iso19794,
 * fuzz_ansinist): cbp_record_parse() on the input.
 *
 * The input is copied to an exact-size allocation so that ASan catches any
 * read past it, parsed, and every location the result reports is checked
 * to lie inside the input: a parser that "succeeds" with an image offset
 * past the end is as wrong as one that crashes.  The including target
 * defines FUZZ_RECORD_KEY, a field its format fills, to look up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cbp_record rec;

static void
check(const struct cbp_record *r, size_t len)
{
	size_t i;

	if (r->offset > len || r->length > len - r->offset ||
	    r->nimages > CBP_RECORD_IMAGES || r->nfields > CBP_RECORD_FIELDS)
		abort();
	for (i = 0; i < r->nimages; i++)
		if (r->images[i].offset > len ||
		    r->images[i].length > len - r->images[i].offset)
			abort();
	for (i = 0; i < r->nfields; i++)
		if (memchr(r->fields[i].value, 0, sizeof(r->fields[i].value)) ==
		    NULL || memchr(r->fields[i].key, 0,
		    sizeof(r->fields[i].key)) == NULL)
			abort();
	(void)cbp_record_get(r, FUZZ_RECORD_KEY);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *p = malloc(size ? size : 1);
	int r;

	if (p == NULL)
		return 0;
	if (size > 0)
		memcpy(p, data, size);
	r = cbp_record_parse(p, size, &rec);
	if (r != CBP_OK && r != CBP_ETRUNC && r != CBP_ECORRUPT &&
	    r != CBP_ENOTFOUND)
		abort();
	if (r == CBP_OK && rec.kind == CBP_REC_NONE)
		abort();
	check(&rec, size);
	free(p);
	return 0;
}
