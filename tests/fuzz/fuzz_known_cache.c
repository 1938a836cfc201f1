/*
 * fuzz_known_cache.c — libFuzzer target for the known-image index cache
 * reader (cbp_known_cache_load_fd: header, section table, string arena,
 * lists and problems) and for queries on whatever it accepts.
 *
 * Each input is put in a memfd and loaded as a cache for the all-zero key
 * (the seeds are real caches written for that key, so mutations get past
 * the key check).  The sanitizers catch out-of-bounds reads; the checks
 * below are what they cannot see: an accepted cache's counts are within
 * the limits, every match names an entry below the entry count with a
 * list and an id, and queries end (libFuzzer's -timeout catches a loop).
 * The tables' contents are not checked at load by design (known_cache.c),
 * so the index and brute force may disagree on a mutated cache; both run.
 * Seeds: tests/fuzz/seeds/fuzz_known_cache/, written by
 * tests/fuzz/gen_known_cache_seeds.c (see there).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cbp_err.h"
#include "cbp_known.h"
#include "cbp_known_cache.h"

static void
check_matches(const struct cbp_known *k, const struct cbp_known_match *m,
    size_t n, size_t total)
{
	size_t i;

	if (n > total)
		abort();
	for (i = 0; i < n; i++)
		if (m[i].entry >= cbp_known_entries(k) || m[i].id == NULL ||
		    m[i].list == NULL || strlen(m[i].list) == 0)
			abort();
}

static void
queries(const struct cbp_known *k, const uint8_t *d, size_t n)
{
	struct cbp_known_match m[8];
	struct cbp_known_query q;
	uint8_t h[8][32];
	size_t i, got, total;

	/* Query hashes from the input's tail: likely to hit its own entries. */
	for (i = 0; i < 8; i++)
		memcpy(h[i], n >= 32 * (i + 1) ? d + n - 32 * (i + 1) : d,
		    n >= 32 ? 32 : 0);
	memset(&q, 0, sizeof(q));
	q.sha256 = h[0];
	q.pdq = (const uint8_t (*)[32])h;
	q.npdq = 8;
	q.quality = 100;
	got = cbp_known_query(k, &q, m, 8, &total);
	check_matches(k, m, got, total);
	got = cbp_known_query_bruteforce(k, &q, m, 8, &total);
	check_matches(k, m, got, total);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32];
	const struct cbp_known_problem *p;
	struct cbp_error err = { 0 };
	struct cbp_known *k = NULL;
	uint64_t total;
	size_t kept, i, l;
	int fd;

	if ((fd = memfd_create("fuzz_known_cache", MFD_CLOEXEC)) < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	if (cbp_known_cache_load_fd(fd, key, &k, &err) != CBP_OK) {
		close(fd);
		if (k != NULL || err.message[0] == '\0')
			abort();
		return 0;
	}
	close(fd);
	if (cbp_known_entries(k) > CBP_KNOWN_MAX_ENTRIES ||
	    cbp_known_lists(k) > CBP_KNOWN_MAX_LISTS ||
	    strlen(cbp_known_digest(k)) != 64)
		abort();
	for (l = 0; l < cbp_known_lists(k); l++)
		if (cbp_known_list_name(k, l) == NULL ||
		    cbp_known_list_threshold(k, l) < 0 ||
		    cbp_known_list_threshold(k, l) > CBP_KNOWN_PDQ_MAX_THRESHOLD)
			abort();
	p = cbp_known_index_problems(k, &kept, &total);
	if (kept > CBP_KNOWN_PROBLEMS_KEPT || kept > total)
		abort();
	for (i = 0; i < kept; i++)
		if (p[i].file == NULL || strlen(p[i].message) >= 96)
			abort();
	queries(k, data, size);
	cbp_known_free(k);
	return 0;
}
