/*
 * test_known_cache.c — cbp_known_cache.h: the built known-image index
 * written to disk and mapped back.
 *
 * The round trip must be invisible: every query on the mapped index gives
 * what brute force gives on the index built from the text (entry by entry,
 * ids and list names by value), with the same digest, lists and problems.
 * A damaged cache (truncated, a header byte flipped, a table outside the
 * file, ids not terminated) must be refused at load; one whose large
 * tables hold garbage (not checked at load, by design) must still answer
 * queries without reading out of bounds or looping: run under
 * `make unit-asan`.  The key must change with any change to a list, and a
 * cache another user could write must be refused.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_known.h"
#include "cbp_known_cache.h"

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void
rnd32(uint8_t h[32])
{
	uint64_t w;
	int i;

	for (i = 0; i < 4; i++) {
		w = rnd();
		memcpy(h + 8 * i, &w, 8);
	}
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
	o[64] = '\0';
}

static void
flip(uint8_t h[32], int d)
{
	uint8_t done[32] = { 0 };
	int n = 0, bit;

	while (n < d) {
		bit = (int)(rnd() % 256);
		if (done[bit / 8] & (1 << (bit % 8)))
			continue;
		done[bit / 8] |= (uint8_t)(1 << (bit % 8));
		h[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		n++;
	}
}

struct text {
	char *p;
	size_t len, cap;
};

static void
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL,
		    t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (t->p && (size_t)n < t->cap - t->len)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	t->len += (size_t)n;
}

#define NENT 20000
#define NBASE 40

/* Hashes the queries aim at (PDQ of the first NBASE entries, and SHA-256
 * of every tenth entry). */
static uint8_t base_pdq[NBASE][32], base_sha[NBASE][32];

/*
 * Two lists (thresholds 31 and 20): random entries, some SHA-256 only,
 * some PDQ only, SHA-256 duplicates (chains), near neighbours of the bases,
 * and malformed lines (problems).
 */
static void
make_lists(struct text *a, struct text *b, size_t nent)
{
	uint8_t sha[32], pdq[32];
	char hs[65], hp[65];
	size_t i;

	rng_state = 4242;
	put(a, "# list a\n");
	for (i = 0; i < nent; i++) {
		struct text *t = i % 3 == 2 ? b : a;

		rnd32(sha);
		rnd32(pdq);
		if (i < NBASE)
			memcpy(base_pdq[i], pdq, 32);
		if (i % 10 == 0 && i / 10 < NBASE)
			memcpy(base_sha[i / 10], sha, 32);
		if (i % 10 == 1 && i > NBASE * 10)
			memcpy(sha, base_sha[i % NBASE], 32);	/* a duplicate */
		hex(hs, sha);
		hex(hp, pdq);
		put(t, "%s\t%s\t%s\tE%zu\n", i % 7 == 3 ? "-" : hs,
		    i % 11 == 5 ? "-" : hp, i % 2 ? "plate" : "traveler", i);
		if (i < NBASE) {	/* a neighbour at 10 bits */
			flip(pdq, 10);
			hex(hp, pdq);
			put(t, "-\t%s\tplate\tN%zu\n", hp, i);
		}
		if (i % 4000 == 17)
			put(t, "not a line %zu\n", i);
	}
	put(b, "%s\tzz\tplate\tbad-pdq\n", hs);
}

static struct cbp_known *
build_from(const struct text *a, const struct text *b, unsigned chunks)
{
	struct cbp_known_builder *kb = cbp_known_builder_new();
	struct cbp_known_list_opts o;
	struct cbp_error err = { 0 };
	struct cbp_known *k = NULL;

	assert_non_null(kb);
	assert_int_equal(cbp_known_builder_set_chunks(kb, chunks), CBP_OK);
	memset(&o, 0, sizeof(o));
	o.name = "alpha";
	o.threshold = 31;
	assert_int_equal(cbp_known_add_buffer(kb, "a.tsv", a->p, a->len, &o,
	    &err), CBP_OK);
	o.name = "beta";
	o.threshold = 20;
	assert_int_equal(cbp_known_add_buffer(kb, "b.tsv", b->p, b->len, &o,
	    &err), CBP_OK);
	if (cbp_known_build(kb, &k, &err) != CBP_OK)
		fail_msg("build: %s", err.message);
	cbp_known_builder_free(kb);
	return k;
}

static const uint8_t test_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* k written to an unlinked temporary file; returns its fd. */
static int
write_cache(const struct cbp_known *k)
{
	char path[] = "/tmp/test_known_cache.XXXXXX";
	struct cbp_error err = { 0 };
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	if (cbp_known_cache_write_fd(fd, test_key, k, &err) != CBP_OK)
		fail_msg("write: %s", err.message);
	return fd;
}

/* The bytes of fd. */
static uint8_t *
slurp(int fd, size_t *len)
{
	struct stat st;
	uint8_t *p;

	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	p = malloc(*len);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, *len, 0), (ssize_t)*len);
	return p;
}

/* Load len bytes of p as a cache (through a new temporary file). */
static int
load_bytes(const uint8_t *p, size_t len, const uint8_t key[32],
    struct cbp_known **out, struct cbp_error *err)
{
	char path[] = "/tmp/test_known_cache.XXXXXX";
	int fd = mkstemp(path), r;

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	memset(err, 0, sizeof(*err));
	r = cbp_known_cache_load_fd(fd, key, out, err);
	close(fd);
	return r;
}

static int
same_matches(const struct cbp_known_match *a, size_t na,
    const struct cbp_known_match *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (a[i].entry != b[i].entry || a[i].distance != b[i].distance ||
		    a[i].exact != b[i].exact || a[i].variant != b[i].variant ||
		    a[i].category != b[i].category ||
		    strcmp(a[i].id, b[i].id) != 0 ||
		    strcmp(a[i].list, b[i].list) != 0)
			return 0;
	return 1;
}

/*
 * Random queries, each on the mapped index against brute force on the
 * built one (and the mapped one's brute force).  Returns the matches seen.
 * With check 0 the answers are not compared (an index of garbage).
 */
static size_t
run_queries(const struct cbp_known *built, const struct cbp_known *mapped,
    int check)
{
	struct cbp_known_match m1[64], m2[64], m3[64];
	struct cbp_known_query q;
	uint8_t qv[8][32], sha[32];
	size_t i, v, n1, n2, n3, t1, t2, t3, seen = 0;

	memset(&q, 0, sizeof(q));
	q.quality = 90;
	q.pdq = (const uint8_t (*)[32])qv;
	for (i = 0; i < 300; i++) {
		for (v = 0; v < 8; v++)
			rnd32(qv[v]);
		if (i % 3 != 2) {
			memcpy(qv[i % 8], base_pdq[i % NBASE], 32);
			flip(qv[i % 8], (int)(rnd() % 40));
		}
		q.npdq = i % 2 ? 8 : 1 + i % 8;
		q.sha256 = NULL;
		if (i % 5 == 0) {
			memcpy(sha, base_sha[i % NBASE], 32);
			q.sha256 = sha;
		} else if (i % 5 == 1) {
			rnd32(sha);
			q.sha256 = sha;
		}
		n1 = cbp_known_query(mapped, &q, m1, 64, &t1);
		n2 = cbp_known_query_bruteforce(built, &q, m2, 64, &t2);
		n3 = cbp_known_query_bruteforce(mapped, &q, m3, 64, &t3);
		if (check && (t1 != t2 || t1 != t3 ||
		    !same_matches(m1, n1, m2, n2) ||
		    !same_matches(m3, n3, m2, n2)))
			fail_msg("query %zu: mapped %zu of %zu, built %zu of %zu",
			    i, n1, t1, n2, t2);
		seen += t1;
	}
	return seen;
}

/* ---- round trip -------------------------------------------------------------- */

static void
round_trip(unsigned chunks)
{
	struct text a = { 0 }, b = { 0 };
	struct cbp_known *k, *c = NULL;
	const struct cbp_known_problem *pk, *pc;
	struct cbp_error err = { 0 };
	uint64_t tk, tc;
	size_t nk, nc, i;
	int fd;

	make_lists(&a, &b, NENT);
	k = build_from(&a, &b, chunks);
	fd = write_cache(k);
	if (cbp_known_cache_load_fd(fd, test_key, &c, &err) != CBP_OK)
		fail_msg("load: %s", err.message);
	close(fd);		/* the map outlives the descriptor */
	assert_int_equal(cbp_known_entries(c), cbp_known_entries(k));
	assert_int_equal(cbp_known_lists(c), 2);
	assert_string_equal(cbp_known_digest(c), cbp_known_digest(k));
	for (i = 0; i < 2; i++) {
		assert_string_equal(cbp_known_list_name(c, i),
		    cbp_known_list_name(k, i));
		assert_int_equal(cbp_known_list_threshold(c, i),
		    cbp_known_list_threshold(k, i));
		assert_int_equal(cbp_known_list_entries(c, i),
		    cbp_known_list_entries(k, i));
	}
	pk = cbp_known_index_problems(k, &nk, &tk);
	pc = cbp_known_index_problems(c, &nc, &tc);
	/* More problems than are kept: the count is kept too. */
	assert_int_equal(nk, CBP_KNOWN_PROBLEMS_KEPT);
	assert_true(tk > nk);
	assert_int_equal(nc, nk);
	assert_int_equal(tc, tk);
	for (i = 0; i < nk; i++) {
		assert_string_equal(pc[i].file, pk[i].file);
		assert_int_equal(pc[i].line, pk[i].line);
		assert_int_equal(pc[i].column, pk[i].column);
		assert_int_equal(pc[i].kind, pk[i].kind);
		assert_string_equal(pc[i].message, pk[i].message);
	}
	/* Matches do occur (exact, chained duplicates, near). */
	assert_true(run_queries(k, c, 1) > 300);
	cbp_known_free(c);
	cbp_known_free(k);
	free(a.p);
	free(b.p);
}

static void
test_cache_round_trip(void **state)
{
	(void)state;
	round_trip(0);		/* the automatic layout */
	round_trip(13);		/* radius 2 */
	round_trip(32);		/* 8-bit substrings, radius 0 */
}

/* An index without entries (lists of comments only) round-trips too. */
static void
test_cache_empty(void **state)
{
	struct cbp_known_builder *kb = cbp_known_builder_new();
	struct cbp_known *k = NULL, *c = NULL;
	struct cbp_error err = { 0 };
	struct cbp_known_match m[4];
	struct cbp_known_query q;
	uint8_t h[32] = { 0 };
	int fd;

	(void)state;
	assert_int_equal(cbp_known_add_buffer(kb, "e.tsv", "# none\n", 7, NULL,
	    &err), CBP_OK);
	assert_int_equal(cbp_known_build(kb, &k, &err), CBP_OK);
	cbp_known_builder_free(kb);
	fd = write_cache(k);
	assert_int_equal(cbp_known_cache_load_fd(fd, test_key, &c, &err),
	    CBP_OK);
	close(fd);
	assert_int_equal(cbp_known_entries(c), 0);
	assert_int_equal(cbp_known_lists(c), 1);
	assert_string_equal(cbp_known_digest(c), cbp_known_digest(k));
	memset(&q, 0, sizeof(q));
	q.sha256 = h;
	q.pdq = (const uint8_t (*)[32])&h;
	q.npdq = 1;
	q.quality = 100;
	assert_int_equal(cbp_known_query(c, &q, m, 4, NULL), 0);
	cbp_known_free(c);
	cbp_known_free(k);
}

/* ---- damaged caches ------------------------------------------------------------ */

/* Small enough that every header byte can be tried (8-bit substrings:
 * small offset tables). */
static struct cbp_known *
small_index(struct text *a, struct text *b)
{
	make_lists(a, b, 3000);
	return build_from(a, b, 32);
}

/* The offset of the 8-byte value v in the header (the first such), or -1. */
static long
find_u64(const uint8_t *p, size_t hdr, uint64_t v)
{
	size_t i;

	for (i = 0; i + 8 <= hdr; i += 8)
		if (memcmp(p + i, &v, 8) == 0)
			return (long)i;
	return -1;
}

static void
test_cache_rejects_damage(void **state)
{
	struct text a = { 0 }, b = { 0 };
	struct cbp_known *k, *c = NULL;
	struct cbp_error err;
	uint8_t *p, *q, other[32];
	size_t len, hdr, i, cuts[8];
	long at;
	int fd, r, okays = 0;
	uint64_t v, n;

	(void)state;
	k = small_index(&a, &b);
	n = cbp_known_entries(k);
	fd = write_cache(k);
	p = slurp(fd, &len);
	close(fd);
	q = malloc(len);
	assert_non_null(q);
	/* The header ends where the first table starts (the PDQ array: the
	 * first uint64 equal to its length n * 32 in the header is its
	 * length, the one before it its offset). */
	at = find_u64(p, 4096, n * 32);
	assert_true(at >= 8);
	memcpy(&v, p + at - 8, 8);
	hdr = (size_t)v;
	assert_true(hdr > 100 && hdr < 4096);

	/* Intact, it loads; with another key it is stale. */
	assert_int_equal(load_bytes(p, len, test_key, &c, &err), CBP_OK);
	cbp_known_free(c);
	memset(other, 9, sizeof(other));
	assert_int_equal(load_bytes(p, len, other, &c, &err), CBP_ENOTFOUND);
	assert_null(c);

	/* Truncated anywhere: refused. */
	cuts[0] = 0;
	cuts[1] = 7;
	cuts[2] = hdr - 1;
	cuts[3] = hdr;
	cuts[4] = len / 2;
	cuts[5] = len - 1;
	for (i = 0; i < 6; i++) {
		r = load_bytes(p, cuts[i], test_key, &c, &err);
		if (r != CBP_ETRUNC && r != CBP_ECORRUPT)
			fail_msg("cut at %zu: %d (%s)", cuts[i], r, err.message);
		assert_null(c);
	}

	/* Every header byte flipped: refused, or (a byte the index does not
	 * depend on, e.g. padding, or a digest digit that stays a digit)
	 * loaded and answering queries within bounds. */
	fd = write_cache(k);
	for (i = 0; i < hdr; i++) {
		uint8_t x = p[i] ^ 0x41;

		assert_int_equal(pwrite(fd, &x, 1, (off_t)i), 1);
		memset(&err, 0, sizeof(err));
		r = cbp_known_cache_load_fd(fd, test_key, &c, &err);
		if (r == CBP_OK) {
			okays++;
			(void)run_queries(k, c, 1);
			cbp_known_free(c);
			c = NULL;
		}
		assert_null(c);
		assert_int_equal(pwrite(fd, &p[i], 1, (off_t)i), 1);
	}
	close(fd);
	/* ... and the magic, the version, the key and the counts are among
	 * those refused, so most flips are. */
	assert_true(okays < (int)hdr / 4);
	for (i = 0; i < 12; i++) {	/* magic, version */
		memcpy(q, p, len);
		q[i] ^= 1;
		assert_int_not_equal(load_bytes(q, len, test_key, &c, &err),
		    CBP_OK);
	}

	/* A table outside the file, or misaligned: refused. */
	memcpy(q, p, len);
	v = len;
	memcpy(q + at - 8, &v, 8);
	assert_int_equal(load_bytes(q, len, test_key, &c, &err), CBP_ECORRUPT);
	v = hdr + 4;
	memcpy(q + at - 8, &v, 8);
	assert_int_equal(load_bytes(q, len, test_key, &c, &err), CBP_ECORRUPT);
	v = UINT64_MAX - 8;		/* offset + length overflows */
	memcpy(q + at - 8, &v, 8);
	assert_int_equal(load_bytes(q, len, test_key, &c, &err), CBP_ECORRUPT);
	/* A length that disagrees with the counts. */
	memcpy(q, p, len);
	v = n * 32 - 32;
	memcpy(q + at, &v, 8);
	assert_int_equal(load_bytes(q, len, test_key, &c, &err), CBP_ECORRUPT);
	assert_null(c);

	free(q);
	free(p);
	cbp_known_free(k);
	free(a.p);
	free(b.p);
}

/*
 * Garbage in the large tables (checked at query time, not at load): an
 * index whose arrays are scribbled over is written and mapped back, and
 * queries must stay in bounds and end (ASan/UBSan in `make unit-asan`).
 * The tables are the built index's own (cbp_known_view), scribbled in
 * place before writing; the test owns that index.
 */
static void
scribble(void *p, size_t len, uint64_t seed)
{
	uint8_t *b = p;
	size_t i;

	rng_state = seed;
	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(rnd() % 7 == 0 ? 0xff : rnd());
}

static void
test_cache_garbage_tables(void **state)
{
	struct text a = { 0 }, b = { 0 };
	struct cbp_known *k, *c = NULL;
	struct cbp_known_view v;
	struct cbp_error err = { 0 };
	unsigned i;
	int fd;

	(void)state;
	k = small_index(&a, &b);
	assert_int_equal(cbp_known_view(k, &v), CBP_OK);
	assert_non_null(v.sha_next);	/* the lists have duplicates */
	scribble((void *)v.slots, v.nslots * 4, 1);
	scribble((void *)v.sha_next, v.n * 4, 2);
	scribble((void *)v.id_off, v.n * 4, 3);
	scribble((void *)v.list, v.n * 2, 4);
	for (i = 0; i < v.m; i++) {
		scribble((void *)v.off[i], (((size_t)1 << v.bits[i]) + 1) * 4,
		    10 + i);
		scribble((void *)v.perm[i], v.npdq * 4, 50 + i);
	}
	/* A chain that loops: entry 0 -> 0. */
	((uint32_t *)v.sha_next)[0] = 0;
	fd = write_cache(k);
	if (cbp_known_cache_load_fd(fd, test_key, &c, &err) != CBP_OK)
		fail_msg("load: %s", err.message);
	close(fd);
	rng_state = 99;
	(void)run_queries(c, c, 0);
	/* The heap index, scribbled the same way, takes the same checks. */
	(void)run_queries(k, k, 0);
	cbp_known_free(c);

	/* An id arena that does not end in NUL is refused at load. */
	((char *)v.ids)[v.ids_len - 1] = 'x';
	fd = write_cache(k);
	assert_int_equal(cbp_known_cache_load_fd(fd, test_key, &c, &err),
	    CBP_ECORRUPT);
	assert_null(c);
	close(fd);
	cbp_known_view_free(&v);
	cbp_known_free(k);
	free(a.p);
	free(b.p);
}

/* ---- the key and the state directory ---------------------------------------------- */

static char tmpdir[] = "/tmp/test_known_cache.XXXXXX";

static int
setup_dir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_known_cache.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fputs(data, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/*
 * Wait until the coarse clock has passed path's stamps, so that a key
 * taken now is storable (cbp_known_cache.h).  A condition, not a delay:
 * typically one clock tick.
 */
static void
wait_past(const char *path)
{
	struct timespec now;
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	do {
		usleep(1000);
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
	} while (now.tv_sec < st.st_ctim.tv_sec ||
	    (now.tv_sec == st.st_ctim.tv_sec &&
	    now.tv_nsec <= st.st_ctim.tv_nsec));
}

static struct cbp_known *
build_path(const char *path)
{
	struct cbp_known_builder *kb = cbp_known_builder_new();
	struct cbp_error err = { 0 };
	struct cbp_known *k = NULL;

	assert_int_equal(cbp_known_add_path(kb, path, NULL, &err), CBP_OK);
	assert_int_equal(cbp_known_build(kb, &k, &err), CBP_OK);
	cbp_known_builder_free(kb);
	return k;
}

static int
count_caches(int dfd)
{
	char cmd[512];
	FILE *p;
	int n = -1;

	(void)dfd;
	snprintf(cmd, sizeof(cmd), "ls '%s/state' | grep -c '^known-.*\\.cache$'",
	    tmpdir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void
key_of(struct cbp_known_cache_list *l, size_t n,
    struct cbp_known_cache_key *key)
{
	struct cbp_error err = { 0 };

	if (cbp_known_cache_key(l, n, 0, NULL, NULL, key, &err) != CBP_OK)
		fail_msg("key: %s", err.message);
}

static void
test_cache_key_and_store(void **state)
{
	char list[512], dir[512], sdir[512], f2[512], cpath[1024];
	const char *line1 = "-\t0000000000000000000000000000000000000000000000"
	    "000000000000000001\tplate\tone\n";
	struct cbp_known_cache_list l[2];
	struct cbp_known_cache_key k1, k2, k3;
	struct cbp_known *k, *c = NULL;
	struct cbp_error err = { 0 };
	struct timespec ts[2];
	int dfd;

	(void)state;
	snprintf(list, sizeof(list), "%s/a.tsv", tmpdir);
	snprintf(dir, sizeof(dir), "%s/lists", tmpdir);
	snprintf(f2, sizeof(f2), "%s/lists/x.tsv", tmpdir);
	snprintf(sdir, sizeof(sdir), "%s/state", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mkdir(sdir, 0700), 0);
	write_file(list, line1);
	write_file(f2, line1);
	wait_past(list);
	wait_past(f2);
	dfd = open(sdir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);

	memset(l, 0, sizeof(l));
	l[0].path = list;
	l[0].threshold = -1;
	key_of(l, 1, &k1);
	assert_true(k1.storable);
	key_of(l, 1, &k2);
	assert_memory_equal(k1.key, k2.key, 32);
	assert_string_equal(k1.file, k2.file);

	/* Store, then load: the same index. */
	assert_int_equal(cbp_known_cache_load(dfd, &k1, &c, &err),
	    CBP_ENOTFOUND);
	k = build_path(list);
	assert_int_equal(cbp_known_cache_store(dfd, &k1, k, &err), CBP_OK);
	assert_int_equal(count_caches(dfd), 1);
	assert_int_equal(cbp_known_cache_load(dfd, &k1, &c, &err), CBP_OK);
	assert_string_equal(cbp_known_digest(c), cbp_known_digest(k));
	cbp_known_free(c);
	c = NULL;

	/* Options are in the key and the name; another threshold or name is
	 * another cache. */
	l[0].threshold = 20;
	key_of(l, 1, &k3);
	assert_memory_not_equal(k3.key, k1.key, 32);
	assert_string_not_equal(k3.file, k1.file);
	l[0].threshold = -1;
	l[0].name = "n";
	key_of(l, 1, &k3);
	assert_string_not_equal(k3.file, k1.file);
	l[0].name = NULL;

	/* A new mtime (same bytes): stale, rebuilt and stored over the old
	 * one; still one cache file. */
	ts[0].tv_sec = ts[1].tv_sec = 1000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, list, ts, 0), 0);
	wait_past(list);
	key_of(l, 1, &k2);
	assert_memory_not_equal(k2.key, k1.key, 32);
	assert_string_equal(k2.file, k1.file);
	assert_int_equal(cbp_known_cache_load(dfd, &k2, &c, &err),
	    CBP_ENOTFOUND);
	assert_int_equal(cbp_known_cache_store(dfd, &k2, k, &err), CBP_OK);
	assert_int_equal(count_caches(dfd), 1);
	assert_int_equal(cbp_known_cache_load(dfd, &k2, &c, &err), CBP_OK);
	cbp_known_free(c);
	c = NULL;
	/* A chmod changes the ctime: stale too. */
	assert_int_equal(chmod(list, 0640), 0);
	key_of(l, 1, &k3);
	assert_memory_not_equal(k3.key, k2.key, 32);

	/* A directory: a file added to it changes the key. */
	l[0].path = dir;
	key_of(l, 1, &k1);
	snprintf(f2, sizeof(f2), "%s/lists/y.tsv", tmpdir);
	write_file(f2, line1);
	key_of(l, 1, &k2);
	assert_memory_not_equal(k1.key, k2.key, 32);
	/* The list order is in the key. */
	l[0].path = list;
	l[1].path = dir;
	l[1].threshold = -1;
	key_of(l, 2, &k1);
	l[0].path = dir;
	l[1].path = list;
	key_of(l, 2, &k2);
	assert_memory_not_equal(k1.key, k2.key, 32);
	/* A list that is not there: no key. */
	l[0].path = "/nonexistent/list.tsv";
	assert_int_not_equal(cbp_known_cache_key(l, 1, 0, NULL, NULL, &k3,
	    &err), CBP_OK);

	/* Not storable: nothing written. */
	k3 = k2;
	k3.storable = 0;
	assert_int_equal(cbp_known_cache_store(dfd, &k3, k, &err),
	    CBP_ECHANGED);

	/* A cache others could write is refused, one that is not a regular
	 * file (a symbolic link) too. */
	l[0].path = list;
	l[0].threshold = -1;
	key_of(l, 1, &k1);
	k1.storable = 1;
	assert_int_equal(cbp_known_cache_store(dfd, &k1, k, &err), CBP_OK);
	snprintf(cpath, sizeof(cpath), "%s/%s", sdir, k1.file);
	assert_int_equal(chmod(cpath, 0620), 0);
	assert_int_equal(cbp_known_cache_load(dfd, &k1, &c, &err), CBP_EPERM);
	assert_null(c);
	assert_int_equal(chmod(cpath, 0600), 0);
	assert_int_equal(cbp_known_cache_load(dfd, &k1, &c, &err), CBP_OK);
	cbp_known_free(c);
	c = NULL;
	assert_int_equal(unlink(cpath), 0);
	assert_int_equal(symlink("/etc/passwd", cpath), 0);
	assert_int_not_equal(cbp_known_cache_load(dfd, &k1, &c, &err), CBP_OK);
	assert_null(c);

	cbp_known_free(k);
	close(dfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_round_trip),
		cmocka_unit_test(test_cache_empty),
		cmocka_unit_test(test_cache_rejects_damage),
		cmocka_unit_test(test_cache_garbage_tables),
		cmocka_unit_test_setup_teardown(test_cache_key_and_store,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
