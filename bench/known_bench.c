/*
 * known_bench.c — load and query a large synthetic known-image list.
 *
 *   make build/known_bench
 *   build/known_bench [-n ENTRIES] [-m CHUNKS] [-t THRESHOLD] [-q QUERIES]
 *                     [-b BRUTE_QUERIES] [-j THREADS] [-f FILE] [-k]
 *                     [-C CACHE]
 *
 * Writes FILE (default /tmp/cbp-known-bench.tsv: ENTRIES lines, both hashes
 * on every line, random bits), loads it with the real loader and builds
 * the index, then times:
 *   - load + build (wall clock) and peak RSS (getrusage, this process only:
 *     the generator streams and keeps nothing);
 *   - PDQ queries through the index and by brute force, on the same query
 *     hashes: copies of listed hashes with 0..40 bits flipped (so both
 *     matches and near-threshold misses occur), and unrelated hashes; the
 *     two result lists are compared entry by entry;
 *   - the same with 8 query hashes (an image's dihedral variants);
 *   - exact SHA-256 lookups (half present, half absent) against a linear
 *     scan.
 * Speeds are printed as ratios within this run.  The file is removed at
 * the end unless -k is given (it is ~1.4 GB at 10 M entries).
 *
 * With -C CACHE (cbp_known_cache.h): when CACHE holds the index of FILE as
 * it is now, the index is mapped from it instead of built (load time, CPU
 * and peak RSS of that), and the queries run on the mapped arrays; when
 * not, the index is built and then written to CACHE (time printed).  Run
 * twice with -k -C to compare a text load with a cache load, queries
 * included; the final line gives this process's resident memory split
 * into anonymous (heap) and file-backed (the mapped cache) pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cbp_err.h"
#include "cbp_known.h"
#include "cbp_known_cache.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next64(void)
{
	/* xorshift64*: fast, and the bits are uniform enough for hashes. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

/*
 * Queries are timed in this thread's CPU time, not wall-clock time: the
 * benchmark host is shared, and a query descheduled half-way would count
 * someone else's work.  Memory stalls are still CPU time.
 */
static double
cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
hex(char *o, const uint8_t *b)
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		o[2 * i] = hx[b[i] >> 4];
		o[2 * i + 1] = hx[b[i] & 15];
	}
}

static void
random32(uint8_t *b)
{
	uint64_t w;
	int i;

	for (i = 0; i < 4; i++) {
		w = next64();
		memcpy(b + 8 * i, &w, 8);
	}
}

/* The generator: entry i's hashes come from a seeded stream, so the query
 * side can regenerate any entry without keeping them. */
static void
entry_hashes(size_t i, uint8_t sha[32], uint8_t pdq[32])
{
	uint64_t save = rng;

	rng = 0x51ed270b27a1f5c3ull ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull);
	if (rng == 0)
		rng = 1;
	next64();
	random32(sha);
	random32(pdq);
	rng = save;
}

static int
write_list(const char *path, size_t n)
{
	char line[256];
	uint8_t sha[32], pdq[32];
	FILE *f;
	size_t i;
	int len;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	fputs("# synthetic known-image list (bench/known_bench.c)\n", f);
	for (i = 0; i < n; i++) {
		entry_hashes(i, sha, pdq);
		hex(line, sha);
		line[64] = '\t';
		hex(line + 65, pdq);
		len = snprintf(line + 129, sizeof(line) - 129, "\t%s\tIMG-%09zu\n",
		    i % 3 ? "plate" : "traveler", i);
		fwrite(line, 1, 129 + (size_t)len, f);
	}
	return fclose(f);
}

static double
cpu_all(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* "VmRSS ... RssAnon ... RssFile" of this process, in MiB. */
static void
print_rss(const char *when)
{
	char line[256];
	long v, rss = 0, anon = 0, file = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			rss = v;
		else if (sscanf(line, "RssAnon: %ld", &v) == 1)
			anon = v;
		else if (sscanf(line, "RssFile: %ld", &v) == 1)
			file = v;
	}
	fclose(f);
	printf("RSS %s: %.0f MiB (anonymous %.0f, file-backed %.0f)\n", when,
	    rss / 1024.0, anon / 1024.0, file / 1024.0);
}

/* -C: the index from the cache when it matches the list; 0 on a miss. */
static int
cache_load(const char *cache, const char *list, int thr, unsigned m,
    struct cbp_known_cache_key *key, struct cbp_known **k)
{
	struct cbp_known_cache_list l = { list, NULL, thr };
	struct cbp_error err = { 0 };
	struct rusage ru;
	double t0 = now(), c0 = cpu_all();
	int fd, r;

	if (cbp_known_cache_key(&l, 1, m, NULL, NULL, key, &err) != CBP_OK) {
		fprintf(stderr, "cache key: %s\n", err.message);
		return -1;
	}
	if ((fd = open(cache, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	r = cbp_known_cache_load_fd(fd, key->key, k, &err);
	close(fd);
	if (r != CBP_OK) {
		printf("cache %s not used: %s\n", cache, err.message);
		return 0;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("index from cache %s: key + load %.3f s wall, %.3f s CPU; "
	    "peak RSS %.0f MiB\n", cache, now() - t0, cpu_all() - c0,
	    ru.ru_maxrss / 1024.0);
	return 1;
}

static int
cache_store(const char *cache, const struct cbp_known_cache_key *key,
    const struct cbp_known *k)
{
	struct cbp_error err = { 0 };
	char tmp[4096];
	double t0 = now();
	int fd, r;

	snprintf(tmp, sizeof(tmp), "%s.tmp", cache);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		return -1;
	r = cbp_known_cache_write_fd(fd, key->key, k, &err);
	if (r == CBP_OK && fsync(fd) != 0)
		r = CBP_EIO;
	close(fd);
	if (r != CBP_OK || rename(tmp, cache) != 0) {
		fprintf(stderr, "cache write: %s\n", err.message);
		unlink(tmp);
		return -1;
	}
	printf("cache written to %s: %.2f s wall (fsync included)\n", cache,
	    now() - t0);
	return 0;
}

static int
same(const struct cbp_known_match *a, size_t na, size_t ta,
    const struct cbp_known_match *b, size_t nb, size_t tb)
{
	size_t i;

	if (na != nb || ta != tb)
		return 0;
	for (i = 0; i < na; i++)
		if (a[i].entry != b[i].entry || a[i].distance != b[i].distance ||
		    a[i].exact != b[i].exact || a[i].variant != b[i].variant)
			return 0;
	return 1;
}

static void
flip(uint8_t h[32], int d)
{
	int done = 0, bit;
	uint8_t seen[32] = { 0 };

	while (done < d) {
		bit = (int)(next64() % 256);
		if (seen[bit / 8] & (1 << (bit % 8)))
			continue;
		seen[bit / 8] |= (uint8_t)(1 << (bit % 8));
		h[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		done++;
	}
}

int
main(int argc, char **argv)
{
	const char *path = "/tmp/cbp-known-bench.tsv", *cache = NULL;
	struct cbp_known_cache_key ckey;
	int cached = 0;
	size_t n = 10000000, nq = 2000, nb = 20, i, j, ni, nbf, ti, tb;
	unsigned m = 0, threads = 0;
	int thr = 31, keep = 0, c, mism = 0;
	struct cbp_known_list_opts o;
	struct cbp_known_builder *b;
	struct cbp_known *k = NULL;
	struct cbp_known_match mi[64], mb[64];
	struct cbp_known_query q;
	struct cbp_error err;
	struct rusage ru;
	uint8_t (*qh)[8][32], sha[32], pdq[32];
	double t0, t_gen, t_load, t_add, c_load, c_add, c_gen, t_idx, t_brute, t_idx8, t_brute8, t_ex, t_exl;
	size_t found = 0, found8 = 0, exhit = 0;

	while ((c = getopt(argc, argv, "n:m:t:q:b:j:f:kC:")) != -1) {
		switch (c) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'm': m = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': thr = (int)strtol(optarg, NULL, 10); break;
		case 'q': nq = strtoull(optarg, NULL, 10); break;
		case 'b': nb = strtoull(optarg, NULL, 10); break;
		case 'j': threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': path = optarg; break;
		case 'k': keep = 1; break;
		case 'C': cache = optarg; break;
		default:
			fprintf(stderr, "usage: known_bench [-n N] [-m M] [-t THR] "
			    "[-q Q] [-b B] [-j T] [-f FILE] [-k] [-C CACHE]\n");
			return 2;
		}
	}
	if (n == 0 || nq == 0 || nb == 0 || nb > nq)
		return 2;

	t0 = now();
	if (access(path, R_OK) == 0 && keep) {
		printf("reusing %s\n", path);
	} else if (write_list(path, n) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	t_gen = now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	c_gen = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

	if (cache != NULL &&
	    (cached = cache_load(cache, path, thr, m, &ckey, &k)) < 0)
		return 1;
	if (cached)
		goto queries;
	memset(&err, 0, sizeof(err));
	memset(&o, 0, sizeof(o));
	o.threshold = thr;
	t0 = now();
	if ((b = cbp_known_builder_new()) == NULL)
		return 1;
	cbp_known_builder_set_threads(b, threads);
	if (cbp_known_builder_set_chunks(b, m) != CBP_OK ||
	    cbp_known_add_path(b, path, &o, &err) != CBP_OK) {
		fprintf(stderr, "load: %s\n", err.message);
		return 1;
	}
	t_add = now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	c_add = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	if (cbp_known_build(b, &k, &err) != CBP_OK) {
		fprintf(stderr, "build: %s\n", err.message);
		return 1;
	}
	t_load = now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	c_load = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("entries %zu, problems %llu, threads %u, chunks %u, threshold %d\n",
	    cbp_known_entries(k),
	    (unsigned long long)cbp_known_problems_total(b), threads, m, thr);
	cbp_known_builder_free(b);
	printf("generate %.2f s; load %.2f s + build %.2f s = %.2f s wall "
	    "(%.0f entries/s); CPU over all threads: load %.2f s + build "
	    "%.2f s; peak RSS %.0f MiB (%.1f bytes/entry)\n", t_gen, t_add,
	    t_load - t_add, t_load, (double)n / t_load, c_add - c_gen,
	    c_load - c_add, ru.ru_maxrss / 1024.0,
	    ru.ru_maxrss * 1024.0 / (double)n);
	if (cache != NULL && cache_store(cache, &ckey, k) != 0)
		return 1;
queries:
	printf("digest %s\n", cbp_known_digest(k));
	print_rss("before queries");

	/* Query hashes: every other one a listed hash with 0..40 flips. */
	if ((qh = calloc(nq, sizeof(*qh))) == NULL)
		return 1;
	for (i = 0; i < nq; i++) {
		for (j = 0; j < 8; j++)
			random32(qh[i][j]);
		if (i % 2 == 0) {
			entry_hashes(next64() % n, sha, qh[i][0]);
			flip(qh[i][0], (int)(i / 2 % 41));
		}
	}
	memset(&q, 0, sizeof(q));
	q.quality = 100;

	/* One hash per query. */
	q.npdq = 1;
	t0 = cpu();
	for (i = 0; i < nq; i++) {
		q.pdq = (const uint8_t (*)[32])qh[i];
		cbp_known_query(k, &q, mi, 64, &ti);
		found += ti;
	}
	t_idx = (cpu() - t0) / (double)nq;
	t0 = cpu();
	for (i = 0; i < nb; i++) {
		q.pdq = (const uint8_t (*)[32])qh[i];
		nbf = cbp_known_query_bruteforce(k, &q, mb, 64, &tb);
		ni = cbp_known_query(k, &q, mi, 64, &ti);
		mism += !same(mi, ni, ti, mb, nbf, tb);
	}
	t_brute = (cpu() - t0) / (double)nb - t_idx;

	/* Eight hashes per query (dihedral variants). */
	q.npdq = 8;
	t0 = cpu();
	for (i = 0; i < nq; i++) {
		q.pdq = (const uint8_t (*)[32])qh[i];
		cbp_known_query(k, &q, mi, 64, &ti);
		found8 += ti;
	}
	t_idx8 = (cpu() - t0) / (double)nq;
	t0 = cpu();
	for (i = 0; i < nb; i++) {
		q.pdq = (const uint8_t (*)[32])qh[i];
		nbf = cbp_known_query_bruteforce(k, &q, mb, 64, &tb);
		ni = cbp_known_query(k, &q, mi, 64, &ti);
		mism += !same(mi, ni, ti, mb, nbf, tb);
	}
	t_brute8 = (cpu() - t0) / (double)nb - t_idx8;

	/* Exact lookups. */
	memset(&q, 0, sizeof(q));
	q.sha256 = sha;
	t0 = cpu();
	for (i = 0; i < nq; i++) {
		if (i % 2)
			random32(sha);
		else
			entry_hashes(next64() % n, sha, pdq);
		cbp_known_query(k, &q, mi, 64, &ti);
		exhit += ti;
	}
	t_ex = (cpu() - t0) / (double)nq;
	t0 = cpu();
	for (i = 0; i < nb; i++) {
		entry_hashes(next64() % n, sha, pdq);
		nbf = cbp_known_query_bruteforce(k, &q, mb, 64, &tb);
		ni = cbp_known_query(k, &q, mi, 64, &ti);
		mism += !same(mi, ni, ti, mb, nbf, tb);
	}
	t_exl = (cpu() - t0) / (double)nb - t_ex;

	printf("pdq, 1 hash:  index %.1f us/query, brute force %.1f us/query, "
	    "ratio %.0fx (%zu matches over %zu queries)\n", t_idx * 1e6,
	    t_brute * 1e6, t_brute / t_idx, found, nq);
	printf("pdq, 8 hashes: index %.1f us/query, brute force %.1f us/query, "
	    "ratio %.0fx (%zu matches)\n", t_idx8 * 1e6, t_brute8 * 1e6,
	    t_brute8 / t_idx8, found8);
	printf("sha256: table %.2f us/query, linear %.1f us/query, ratio %.0fx "
	    "(%zu hits over %zu queries)\n", t_ex * 1e6, t_exl * 1e6,
	    t_exl / t_ex, exhit, nq);
	printf("index vs brute force: %d of %zu compared queries differ\n", mism,
	    3 * nb);
	print_rss("after queries");
	free(qh);
	cbp_known_free(k);
	if (!keep)
		unlink(path);
	return mism ? 1 : 0;
}
