/*
 * fuzz_known.c — libFuzzer target for the known-image list loader and the
 * PDQ index.
 *
 * Each input is loaded as a list (cbp_known_add_buffer), the index is
 * built, and a few queries made from the input's own bytes are run both
 * through the index and by brute force.  The sanitizers catch memory
 * errors and leaks; the checks below are the invariants they cannot see:
 * every problem has a position inside the input (line >= 1, column >= 1,
 * no more lines than the input has), the kept problems never exceed the
 * total, entries never exceed lines, and the index answers exactly what
 * the linear scan answers.  The first byte picks the list's threshold and
 * the substring layout.  Seeds: tests/fuzz/seeds/fuzz_known/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_known.h"

static void
check_problems(const struct cbp_known_builder *b, const uint8_t *d, size_t n)
{
	uint64_t lines = 1;
	size_t i;

	for (i = 0; i < n; i++)
		lines += d[i] == '\n';
	if (cbp_known_problems_kept(b) > cbp_known_problems_total(b) ||
	    cbp_known_problems_kept(b) > CBP_KNOWN_PROBLEMS_KEPT)
		abort();
	for (i = 0; i < cbp_known_problems_kept(b); i++) {
		const struct cbp_known_problem *p = cbp_known_problem(b, i);

		if (p == NULL || p->file == NULL || p->message[0] == '\0' ||
		    p->line < 1 || p->line > lines || p->column < 1 ||
		    p->column > CBP_KNOWN_LINE_MAX + 1)
			abort();
	}
}

static void
check_query(const struct cbp_known *k, const struct cbp_known_query *q)
{
	struct cbp_known_match a[8], b[8];
	size_t na, nb, ta, tb, i;

	na = cbp_known_query(k, q, a, 8, &ta);
	nb = cbp_known_query_bruteforce(k, q, b, 8, &tb);
	if (na != nb || ta != tb)
		abort();
	for (i = 0; i < na; i++)
		if (a[i].entry != b[i].entry || a[i].distance != b[i].distance ||
		    a[i].exact != b[i].exact || a[i].variant != b[i].variant ||
		    a[i].entry >= cbp_known_entries(k) || a[i].id == NULL ||
		    a[i].list == NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	/* Small tables: a 16-bit layout (what the index picks for small lists,
	 * covered by the unit tests) memsets 4 MB per input. */
	static const unsigned layouts[] = { 20, 24, 28, 32 };
	struct cbp_known_builder *b;
	struct cbp_known_list_opts o;
	struct cbp_known_query q;
	struct cbp_known *k = NULL;
	struct cbp_error err;
	uint8_t h[8][32];
	uint64_t lines = 1;
	size_t i, v;
	int r;

	if ((b = cbp_known_builder_new()) == NULL)
		return 0;
	cbp_known_builder_set_threads(b, 1);
	memset(&o, 0, sizeof(o));
	memset(&err, 0, sizeof(err));
	o.threshold = n > 0 ? d[0] % (CBP_KNOWN_PDQ_MAX_THRESHOLD + 1) : -1;
	if (cbp_known_builder_set_chunks(b, layouts[n > 0 ? d[0] % 4 : 0]) !=
	    CBP_OK)
		abort();
	r = cbp_known_add_buffer(b, "fuzz.tsv", (const char *)d, n, &o, &err);
	if (r != CBP_OK && r != CBP_ENOMEM)
		abort();
	check_problems(b, d, n);
	if (r == CBP_OK && cbp_known_build(b, &k, &err) == CBP_OK) {
		for (i = 0; i < n; i++)
			lines += d[i] == '\n';
		if (cbp_known_entries(k) > lines ||
		    strlen(cbp_known_digest(k)) != 64)
			abort();
		/* Queries: the input's bytes, and every listed hash is found
		 * when the query is made of the input from byte 0 on. */
		memset(h, 0, sizeof(h));
		for (v = 0; v < 8; v++)
			for (i = 0; i < 32 && v * 32 + i < n; i++)
				h[v][i] = d[v * 32 + i];
		memset(&q, 0, sizeof(q));
		q.quality = 100;
		q.pdq = (const uint8_t (*)[32])h;
		q.sha256 = h[1];
		for (q.npdq = 0; q.npdq <= 8; q.npdq += 4)
			check_query(k, &q);
		if (n >= 130 && cbp_known_parse_hex32((const char *)d + 65, 64,
		    h[0]) == CBP_OK) {
			q.npdq = 1;
			check_query(k, &q);
		}
	}
	cbp_known_free(k);
	cbp_known_builder_free(b);
	return 0;
}
