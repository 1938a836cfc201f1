/*
 * known.c — known-image lists: a parallel loader, an exact SHA-256 table and
 * a multi-index hash for PDQ near matches.
 *
 * Layout.  Entries are kept as a structure of arrays, indexed by a uint32
 * entry number (lists in load order, lines in order): PDQ as four 64-bit
 * words, SHA-256 as 32 bytes, a uint32 offset into one arena of
 * NUL-terminated ids, a uint16 list number and a flag byte.  That is ~71
 * bytes plus the id per entry, no pointer per entry and no per-entry
 * allocation, so 10 M entries load with a handful of large reallocs.
 *
 * Loading reads the file with read(2) in blocks (not mmap: a list replaced
 * or truncated while we read it must give an I/O result, not SIGBUS), cuts
 * each block at line ends into one part per thread, parses the parts in
 * parallel into per-thread arrays and appends them in order, so entry
 * numbers and problem line numbers do not depend on the thread count.
 *
 * SHA-256: open addressing with linear probing on the first 8 bytes of the
 * hash (uniform: it is a cryptographic hash, and a list holding crafted
 * collisions on 8 bytes only slows its own lookups), storing entry numbers;
 * load factor <= 0.75.  One slot per distinct hash; entries listing the
 * same hash again are chained from it (sha_next), and all are reported.
 *
 * PDQ: multi-index hashing (Norouzi, Punjani, Fleet, "Fast search in
 * Hamming space with multi-index hashing", CVPR 2012).  The 256 bits are
 * cut into m substrings of b = 256/m bits (23 or 24 for m = 11).  If two
 * hashes differ in at most r bits, the differences fall into m substrings,
 * so at least one substring differs in at most floor(r/m) bits
 * (pigeonhole; set_radii takes one bit off some substrings by the general
 * form of it).  So for each substring c we enumerate every value within
 * R = floor(rmax/m) bits of the query's substring (sum over t <= R of
 * C(b, t) probes) and look the value up in a table that lists, per value,
 * the entries having it (a counting sort: an offset table of 2^b + 1
 * uint32 and a permutation of the entry numbers, sorted by a counting sort,
 * or by radix passes for wide substrings).  Every candidate is then
 * checked with the full 256-bit distance.  Nothing is a linear scan, and
 * the result is exactly the linear scan's.
 *
 * Choosing m (bench/known_bench.c, 10 M random entries, r = 31, CPU time
 * per query hash, on the shared 2-core build host): with m = 16 (16-bit
 * substrings, R = 1, the layout of Meta's PDQ MIH) each probe hits a bucket
 * of ~150 entries, ~41 k candidates a query: 1080 us; m = 12 (R = 2): ~13 k
 * candidates and ~2.8 k probes: 370 us; m = 11 (23-24 bits): ~3.7 k
 * candidates and ~3 k probes: 145-200 us, against 28-54 ms for the linear
 * scan (160-280x), for 448 MB of offset tables (peak RSS 1.83 GB against
 * 1.5 GB with m = 12).  Every probe and candidate is a cache miss, so
 * choose_chunks() minimises probes + candidates over the substring widths
 * the entry count allows.  Two things made the misses cheap: the arrays
 * read at random are 2 MiB-aligned and on huge pages (huge_alloc: without
 * them every miss was also a TLB miss, m = 12 took 1200-1600 us), and the
 * probes are batched with prefetches (probe_chunk).  The threshold bounds
 * the radius: at r = 48 (R = 4) a query takes ~5.9 ms (9x faster than the
 * scan), at 64 (R = 5) as long as the scan, hence
 * CBP_KNOWN_PDQ_MAX_THRESHOLD = 48.
 *
 * Per-list thresholds: R comes from the largest threshold among lists with
 * PDQ entries; each candidate is checked against its own list's threshold.
 *
 * Dihedral variants and duplicates without a set: one entry can be reached
 * from several substrings and several query hashes.  It is accepted only at
 * the first (variant v, substring c) that reaches it with v within the
 * threshold: no earlier variant is within the threshold (pigeonhole: it
 * would have reached it), and no earlier substring of v is within its
 * radius.  So queries need no scratch memory and stay allocation-free.
 *
 * Hand-written: Debian's libfaiss has a multi-hash binary index, but it is
 * C++ with BLAS and OpenMP behind it, for what is here a few hundred lines
 * of C whose results the tests check against the linear scan.
 *
 * Known limit: entries sharing one PDQ hash share a bucket, so a list that
 * holds one hash a million times makes every query probing that bucket
 * check a million candidates (each a real match if the query is near).
 * Lists come from the agency's own hashing command, which leaves
 * low-quality (featureless, look-alike) hashes out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cbp_known.h"

#define F_SHA 0x01
#define F_PDQ 0x02
#define F_TRAVELER 0x04

#define MIN_CHUNKS 11		/* b <= 24: offset tables of at most 64 MiB */
#define MAX_CHUNKS 32		/* b >= 8 */
#define MAX_THREADS 8
/* Bytes read per block: large enough that thread start-up is noise, small
 * enough that the read buffer is a small part of the index. */
#define BLOCK_BYTES ((size_t)32 << 20)
/* Below this, a block is parsed by one thread. */
#define PARALLEL_MIN ((size_t)1 << 20)
#define IDS_MAX ((size_t)UINT32_MAX)

struct klist {
	char *name;
	char *path;		/* as added, for problems */
	int threshold;
	uint8_t sha[32];	/* of the list's bytes */
	uint32_t first, count;
};

/* Entries parsed by one thread from one part of a block. */
struct kpart {
	uint64_t (*pdq)[4];
	uint8_t (*sha)[32];
	uint32_t *id_off;
	uint8_t *flags;
	size_t n, cap;
	char *ids;
	size_t ids_len, ids_cap;
	uint64_t lines;		/* lines parsed */
	struct cbp_known_problem prob[CBP_KNOWN_PROBLEMS_KEPT];
	size_t nprob;
	uint64_t prob_total;
	int nomem;
	/* job */
	const char *text;
	size_t len;
};

struct cbp_known_builder {
	unsigned threads, chunks;
	int failed;
	struct klist *lists;
	size_t nlists;
	uint64_t (*pdq)[4];
	uint8_t (*sha)[32];
	uint32_t *id_off;
	uint16_t *list;
	uint8_t *flags;
	size_t n, cap;
	char *ids;
	size_t ids_len, ids_cap;
	struct cbp_known_problem prob[CBP_KNOWN_PROBLEMS_KEPT];
	size_t nprob;
	uint64_t prob_total;
	struct kpart *parts;	/* threads of them, reused */
	char *buf;		/* read buffer, reused */
};

struct cbp_known {
	struct klist *lists;
	size_t nlists;
	uint64_t (*pdq)[4];
	uint8_t (*sha)[32];
	uint32_t *id_off;
	uint16_t *list;
	uint8_t *flags;
	size_t n;
	char *ids;
	/* SHA-256 table */
	uint32_t *slots;
	size_t slot_mask;
	uint32_t *sha_next;	/* next entry with the same SHA-256, or NULL */
	/* PDQ multi-index */
	unsigned m, maxthr;
	unsigned start[MAX_CHUNKS], bits[MAX_CHUNKS];
	int radius[MAX_CHUNKS];	/* probed within; -1: not probed (set_radii) */
	uint32_t *off[MAX_CHUNKS];	/* 2^bits + 1 each */
	uint32_t *perm[MAX_CHUNKS];	/* npdq each */
	size_t npdq;
	char digest[65];
	size_t ids_len;		/* bytes in ids: every id_off[] is below it */
	/* The builder's problems, kept so that a cached index reports them
	 * again; file strings owned here. */
	struct cbp_known_problem *prob;
	size_t nprob;
	uint64_t prob_total;
	/*
	 * Set when the arrays are borrowed (cbp_known_from_view, e.g. a
	 * mapped cache): cbp_known_free calls release(release_arg) instead of
	 * freeing them.  The lists and problems are always the index's own.
	 */
	void (*release)(void *arg);
	void *release_arg;
};

/* ---- small helpers ---------------------------------------------------------- */

static const signed char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
	['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};	/* value + 1; 0 = not a hex digit */

/* Index of the first non-hex byte in s[0..64), or 64. */
static size_t
hex32(const char *s, uint8_t out[32])
{
	size_t i;
	int hi, lo;

	for (i = 0; i < 32; i++) {
		hi = hexval[(unsigned char)s[2 * i]];
		lo = hexval[(unsigned char)s[2 * i + 1]];
		if (hi == 0)
			return 2 * i;
		if (lo == 0)
			return 2 * i + 1;
		out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	return 64;
}

int
cbp_known_parse_hex32(const char *hex, size_t len, uint8_t out[32])
{
	uint8_t tmp[32];

	if (hex == NULL || len != 64 || hex32(hex, tmp) != 64)
		return CBP_EINVAL;
	memcpy(out, tmp, 32);
	return CBP_OK;
}

static void
bytes_to_words(const uint8_t b[32], uint64_t w[4])
{
	int i, j;

	for (i = 0; i < 4; i++) {
		w[i] = 0;
		for (j = 0; j < 8; j++)
			w[i] = w[i] << 8 | b[8 * i + j];
	}
}

/*
 * The hot loops: the query functions are compiled twice, with and without
 * the POPCNT instruction (Debian's amd64 baseline lacks it, and without it
 * __builtin_popcountll is a library call), and the CPU picks one at run
 * time (see cbp_known_query); the helpers they call are always inlined so
 * that they are compiled both ways too.  (Not target_clones: clang 14, the
 * fuzzing compiler, does not link them.)
 */
#if defined(__x86_64__) && !defined(__POPCNT__)
#define HAVE_POPCNT_DISPATCH 1
#endif
#define HOT_INLINE static inline __attribute__((always_inline))

HOT_INLINE int
dist4(const uint64_t a[4], const uint64_t b[4])
{
	return __builtin_popcountll(a[0] ^ b[0]) +
	    __builtin_popcountll(a[1] ^ b[1]) +
	    __builtin_popcountll(a[2] ^ b[2]) +
	    __builtin_popcountll(a[3] ^ b[3]);
}

int
cbp_known_pdq_distance(const uint8_t a[32], const uint8_t b[32])
{
	uint64_t x[4], y[4];

	bytes_to_words(a, x);
	bytes_to_words(b, y);
	return dist4(x, y);
}

/* bits (<= 32) of w starting at bit start (0 = most significant of w[0]). */
HOT_INLINE uint32_t
chunk_of(const uint64_t w[4], unsigned start, unsigned bits)
{
	unsigned i = start >> 6, o = start & 63;
	uint64_t x = w[i] << o;

	if (o != 0 && i < 3)
		x |= w[i + 1] >> (64 - o);
	return (uint32_t)(x >> (64 - bits));
}

const char *
cbp_known_category_name(enum cbp_known_category c)
{
	return c == CBP_KNOWN_TRAVELER ? "traveler" : "plate";
}

/*
 * Ask for transparent huge pages on a large array before it is filled
 * (THP is "madvise" on Debian): the index is probed at random, and with 4
 * KiB pages every probe is also a TLB miss.  Advice only; failure is fine.
 */
static void
advise_huge(void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;

	if (len >= ((size_t)4 << 20) && a < (uintptr_t)p + len)
		(void)madvise((void *)a, (uintptr_t)p + len - a, MADV_HUGEPAGE);
}

/*
 * An array the queries read at random: 2 MiB-aligned and advised before
 * the first write, so that it is backed by huge pages from the start
 * (madvise on an array that realloc grew and moved comes too late: its
 * pages are already small, and a moved mapping is no longer aligned).
 * Measured: see the top of this file.  Freed with free().
 */
#define HUGE_PAGE ((size_t)2 << 20)

static void *
huge_alloc(size_t len)
{
	void *p;

	if (len == 0)
		len = 1;
	if (len < 2 * HUGE_PAGE)
		return malloc(len);
	len = (len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	if (posix_memalign(&p, HUGE_PAGE, len) != 0)
		return NULL;
	(void)madvise(p, len, MADV_HUGEPAGE);
	return p;
}

static int
grow(void **p, size_t *cap, size_t need, size_t elem, size_t max)
{
	size_t nc;
	void *q;

	if (need <= *cap)
		return CBP_OK;
	if (need > max)
		return CBP_ELIMIT;
	nc = *cap ? *cap : 1024;
	while (nc < need)
		nc = nc > max / 2 ? max : nc * 2;
	if ((q = realloc(*p, nc * elem)) == NULL)
		return CBP_ENOMEM;
	*p = q;
	*cap = nc;
	return CBP_OK;
}

/* ---- parsing one part --------------------------------------------------------- */

static int
kpart_reserve(struct kpart *kp, size_t n)
{
	size_t cap;

	if (n <= kp->cap)
		return CBP_OK;
	cap = kp->cap;
	if (grow((void **)&kp->pdq, &cap, n, sizeof(*kp->pdq), SIZE_MAX / 64))
		return CBP_ENOMEM;
	cap = kp->cap;
	if (grow((void **)&kp->sha, &cap, n, sizeof(*kp->sha), SIZE_MAX / 64))
		return CBP_ENOMEM;
	cap = kp->cap;
	if (grow((void **)&kp->id_off, &cap, n, sizeof(*kp->id_off),
	    SIZE_MAX / 64))
		return CBP_ENOMEM;
	cap = kp->cap;
	if (grow((void **)&kp->flags, &cap, n, 1, SIZE_MAX / 64))
		return CBP_ENOMEM;
	kp->cap = cap;
	return CBP_OK;
}

static void
kpart_free(struct kpart *kp)
{
	free(kp->pdq);
	free(kp->sha);
	free(kp->id_off);
	free(kp->flags);
	free(kp->ids);
}

static void
kpart_reset(struct kpart *kp)
{
	kp->n = kp->ids_len = kp->nprob = 0;
	kp->lines = kp->prob_total = 0;
	kp->nomem = 0;
}

static void problem_at(struct kpart *kp, uint64_t line, size_t col,
    enum cbp_known_problem_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Record a problem; the message is only formatted for the ones kept. */
static void
problem_at(struct kpart *kp, uint64_t line, size_t col,
    enum cbp_known_problem_kind kind, const char *fmt, ...)
{
	struct cbp_known_problem *p;
	va_list ap;

	kp->prob_total++;
	if (kp->nprob >= CBP_KNOWN_PROBLEMS_KEPT)
		return;
	p = &kp->prob[kp->nprob++];
	p->file = NULL;
	p->line = line;
	p->column = (uint32_t)col;
	p->kind = kind;
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
}

/* A hash field: "-" (0), 64 hex digits (1), or a problem (-1). */
static int
hash_field(struct kpart *kp, uint64_t line, const char *s, size_t len,
    size_t col, const char *what, enum cbp_known_problem_kind kind,
    uint8_t out[32])
{
	size_t bad;

	if (len == 1 && s[0] == '-')
		return 0;
	if (len != 64) {
		problem_at(kp, line, col, kind, "%s: expected 64 hex digits or "
		    "'-', found %zu bytes", what, len);
		return -1;
	}
	if ((bad = hex32(s, out)) != 64) {
		problem_at(kp, line, col + bad, kind, "%s: not a hex digit "
		    "(byte 0x%02x)", what, (unsigned char)s[bad]);
		return -1;
	}
	return 1;
}

/*
 * One line (LF removed; a trailing CR and trailing blanks are dropped
 * here).  line is 1-based within the part.
 */
static void
parse_line(struct kpart *kp, const char *s, size_t len, uint64_t line)
{
	const char *f[4], *t, *e;
	size_t fl[4], i, nf, col[4];
	uint8_t sha[32], pdq[32];
	int hs, hp, trav;
	const char *z;

	/* The CR of a CRLF line end is not part of the line's length (the
	 * reader's carry-over check allows for it the same way). */
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len > CBP_KNOWN_LINE_MAX) {
		problem_at(kp, line, CBP_KNOWN_LINE_MAX + 1,
		    CBP_KNOWN_P_LONG_LINE, "line longer than %d bytes",
		    CBP_KNOWN_LINE_MAX);
		return;
	}
	if ((z = memchr(s, '\0', len)) != NULL) {
		problem_at(kp, line, (size_t)(z - s) + 1, CBP_KNOWN_P_NUL,
		    "NUL byte in line");
		return;
	}
	while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' ||
	    s[len - 1] == '\t'))
		len--;
	for (i = 0; i < len && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	if (i == len || s[i] == '#')
		return;		/* blank or comment */

	/* Split on tabs: exactly four fields. */
	e = s + len;
	t = s;
	for (nf = 0; nf < 4; nf++) {
		const char *tab = memchr(t, '\t', (size_t)(e - t));

		f[nf] = t;
		col[nf] = (size_t)(t - s) + 1;
		fl[nf] = (size_t)((tab ? tab : e) - t);
		if (tab == NULL) {
			nf++;
			t = NULL;
			break;
		}
		t = tab + 1;
	}
	if (nf < 4 || t != NULL) {
		problem_at(kp, line, t != NULL ? (size_t)(t - s) : len + 1,
		    CBP_KNOWN_P_FIELDS, "expected 4 tab-separated fields "
		    "(sha256, pdq, category, id), found %s%zu",
		    t != NULL ? "more than " : "", nf);
		return;
	}
	if ((hs = hash_field(kp, line, f[0], fl[0], col[0], "sha256",
	    CBP_KNOWN_P_SHA256, sha)) < 0)
		return;
	if ((hp = hash_field(kp, line, f[1], fl[1], col[1], "pdq",
	    CBP_KNOWN_P_PDQ, pdq)) < 0)
		return;
	if (hs == 0 && hp == 0) {
		problem_at(kp, line, 1, CBP_KNOWN_P_NO_HASH,
		    "neither a sha256 nor a pdq hash ('-' in both)");
		return;
	}
	if (fl[2] == 5 && memcmp(f[2], "plate", 5) == 0)
		trav = 0;
	else if (fl[2] == 8 && memcmp(f[2], "traveler", 8) == 0)
		trav = 1;
	else {
		problem_at(kp, line, col[2], CBP_KNOWN_P_CATEGORY,
		    "category: expected 'plate' or 'traveler'");
		return;
	}
	if (fl[3] == 0 || fl[3] > CBP_KNOWN_ID_MAX) {
		problem_at(kp, line, col[3], CBP_KNOWN_P_ID,
		    "id: expected 1 to %d bytes, found %zu", CBP_KNOWN_ID_MAX,
		    fl[3]);
		return;
	}
	for (i = 0; i < fl[3]; i++) {
		unsigned char c = (unsigned char)f[3][i];

		if (c <= 0x20 || c == 0x7f) {
			problem_at(kp, line, col[3] + i, CBP_KNOWN_P_ID,
			    "id: blank or control byte 0x%02x", c);
			return;
		}
	}

	if (kpart_reserve(kp, kp->n + 1) != CBP_OK ||
	    grow((void **)&kp->ids, &kp->ids_cap, kp->ids_len + fl[3] + 1, 1,
	    SIZE_MAX / 2) != CBP_OK) {
		kp->nomem = 1;
		return;
	}
	i = kp->n++;
	kp->flags[i] = (uint8_t)((hs ? F_SHA : 0) | (hp ? F_PDQ : 0) |
	    (trav ? F_TRAVELER : 0));
	if (hs)
		memcpy(kp->sha[i], sha, 32);
	else
		memset(kp->sha[i], 0, 32);
	if (hp)
		bytes_to_words(pdq, kp->pdq[i]);
	else
		memset(kp->pdq[i], 0, sizeof(kp->pdq[i]));
	/* Relative to the part's arena: rebased when appended. */
	kp->id_off[i] = (uint32_t)kp->ids_len;
	memcpy(kp->ids + kp->ids_len, f[3], fl[3]);
	kp->ids[kp->ids_len + fl[3]] = '\0';
	kp->ids_len += fl[3] + 1;
}

/* Every line of kp->text (the last one may lack its LF). */
static void *
parse_part(void *arg)
{
	struct kpart *kp = arg;
	const char *p = kp->text, *end = kp->text + kp->len, *nl;

	while (p < end && !kp->nomem) {
		nl = memchr(p, '\n', (size_t)(end - p));
		kp->lines++;
		parse_line(kp, p, (size_t)((nl ? nl : end) - p), kp->lines);
		p = nl ? nl + 1 : end;
	}
	return NULL;
}

/* ---- builder ------------------------------------------------------------------ */

struct cbp_known_builder *
cbp_known_builder_new(void)
{
	struct cbp_known_builder *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	cbp_known_builder_set_threads(b, 0);
	return b;
}

static void
free_lists(struct klist *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].name);
		free(l[i].path);
	}
	free(l);
}

static void
free_parts(struct cbp_known_builder *b)
{
	unsigned i;

	if (b->parts != NULL)
		for (i = 0; i < b->threads; i++)
			kpart_free(&b->parts[i]);
	free(b->parts);
	b->parts = NULL;
	free(b->buf);
	b->buf = NULL;
}

static void
free_entries(struct cbp_known_builder *b)
{
	free(b->pdq);
	free(b->sha);
	free(b->id_off);
	free(b->list);
	free(b->flags);
	free(b->ids);
	b->pdq = NULL;
	b->sha = NULL;
	b->id_off = NULL;
	b->list = NULL;
	b->flags = NULL;
	b->ids = NULL;
	b->n = b->cap = b->ids_len = b->ids_cap = 0;
}

void
cbp_known_builder_free(struct cbp_known_builder *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nprob; i++)
		if (b->prob[i].kind == CBP_KNOWN_P_SKIPPED)
			free((char *)b->prob[i].file);
	free_parts(b);
	free_entries(b);
	free_lists(b->lists, b->nlists);
	free(b);
}

void
cbp_known_builder_set_threads(struct cbp_known_builder *b, unsigned n)
{
	long c;

	if (b == NULL || b->parts != NULL)
		return;		/* fixed once loading started */
	if (n == 0) {
		c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (unsigned)c : 1;
	}
	b->threads = n > MAX_THREADS ? MAX_THREADS : n;
}

int
cbp_known_builder_set_chunks(struct cbp_known_builder *b, unsigned m)
{
	if (b == NULL || (m != 0 && (m < MIN_CHUNKS || m > MAX_CHUNKS)))
		return CBP_EINVAL;
	b->chunks = m;
	return CBP_OK;
}

size_t
cbp_known_problems_kept(const struct cbp_known_builder *b)
{
	return b ? b->nprob : 0;
}

uint64_t
cbp_known_problems_total(const struct cbp_known_builder *b)
{
	return b ? b->prob_total : 0;
}

const struct cbp_known_problem *
cbp_known_problem(const struct cbp_known_builder *b, size_t i)
{
	return b && i < b->nprob ? &b->prob[i] : NULL;
}

static int
entries_reserve(struct cbp_known_builder *b, size_t n)
{
	size_t cap;

	if (n <= b->cap)
		return CBP_OK;
	if (n > CBP_KNOWN_MAX_ENTRIES)
		return CBP_ELIMIT;
#define GROW(a) do { cap = b->cap; \
	if (grow((void **)&b->a, &cap, n, sizeof(*b->a), \
	    CBP_KNOWN_MAX_ENTRIES) != CBP_OK) return CBP_ENOMEM; } while (0)
	GROW(pdq);
	GROW(sha);
	GROW(id_off);
	GROW(list);
	GROW(flags);
#undef GROW
	b->cap = cap;
	advise_huge(b->sha, cap * sizeof(*b->sha));
	return CBP_OK;
}

/* Append a part's entries and problems (line numbers shifted by base). */
static int
append_part(struct cbp_known_builder *b, struct kpart *kp, uint64_t base,
    struct klist *l, struct cbp_error *err)
{
	size_t i, n = b->n;
	int r;

	if (kp->nomem)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "%s: out of "
		    "memory loading the list", l->path);
	for (i = 0; i < kp->nprob && b->nprob < CBP_KNOWN_PROBLEMS_KEPT; i++) {
		b->prob[b->nprob] = kp->prob[i];
		b->prob[b->nprob].file = l->path;
		b->prob[b->nprob].line += base;
		b->nprob++;
	}
	b->prob_total += kp->prob_total;
	if (kp->n == 0)
		return CBP_OK;
	if ((r = entries_reserve(b, n + kp->n)) != CBP_OK)
		return cbp_error_set(err, r, 0, "%s: %s", l->path,
		    r == CBP_ELIMIT ? "more than the maximum of entries over "
		    "all lists" : "out of memory loading the list");
	if (b->ids_len + kp->ids_len > IDS_MAX)
		return cbp_error_set(err, CBP_ELIMIT, 0, "%s: ids exceed %zu "
		    "bytes over all lists", l->path, IDS_MAX);
	if (grow((void **)&b->ids, &b->ids_cap, b->ids_len + kp->ids_len, 1,
	    IDS_MAX) != CBP_OK)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "%s: out of "
		    "memory loading the list", l->path);
	memcpy(b->pdq + n, kp->pdq, kp->n * sizeof(*kp->pdq));
	memcpy(b->sha + n, kp->sha, kp->n * sizeof(*kp->sha));
	memcpy(b->flags + n, kp->flags, kp->n);
	for (i = 0; i < kp->n; i++) {
		b->id_off[n + i] = kp->id_off[i] + (uint32_t)b->ids_len;
		b->list[n + i] = (uint16_t)b->nlists - 1;
	}
	memcpy(b->ids + b->ids_len, kp->ids, kp->ids_len);
	b->ids_len += kp->ids_len;
	b->n += kp->n;
	l->count += (uint32_t)kp->n;
	return CBP_OK;
}

/*
 * Parse text (whole lines; the last may lack its LF) with up to b->threads
 * threads, then append in order.  *lines (1-based count so far) advances.
 */
static int
parse_block(struct cbp_known_builder *b, const char *text, size_t len,
    uint64_t *lines, struct klist *l, struct cbp_error *err)
{
	pthread_t tid[MAX_THREADS];
	int started[MAX_THREADS] = { 0 };
	unsigned np = 1, i;
	size_t at = 0, cut;
	const char *nl;
	int r = CBP_OK;

	if (len >= PARALLEL_MIN && b->threads > 1)
		np = b->threads;
	for (i = 0; i < np; i++) {
		struct kpart *kp = &b->parts[i];

		kpart_reset(kp);
		cut = i + 1 == np ? len : len / np * (i + 1);
		if (cut < at)
			cut = at;
		if (i + 1 < np && cut < len &&
		    (nl = memchr(text + cut, '\n', len - cut)) != NULL)
			cut = (size_t)(nl - text) + 1;
		else if (i + 1 < np)
			cut = len;
		kp->text = text + at;
		kp->len = cut - at;
		at = cut;
	}
	for (i = 1; i < np; i++)
		started[i] = pthread_create(&tid[i], NULL, parse_part,
		    &b->parts[i]) == 0;
	parse_part(&b->parts[0]);
	for (i = 1; i < np; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			parse_part(&b->parts[i]);
	}
	for (i = 0; i < np && r == CBP_OK; i++) {
		r = append_part(b, &b->parts[i], *lines, l, err);
		*lines += b->parts[i].lines;
	}
	return r;
}

static int
list_name_from_path(const char *path, char **out)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t n, i;
	char *s;

	base = base ? base + 1 : path;
	n = strlen(base);
	dot = strrchr(base, '.');
	if (dot != NULL && dot != base)
		n = (size_t)(dot - base);
	if (n == 0) {
		base = "list";
		n = 4;
	}
	if (n > CBP_KNOWN_NAME_MAX)
		n = CBP_KNOWN_NAME_MAX;
	if ((s = malloc(n + 1)) == NULL)
		return CBP_ENOMEM;
	/* A file name may hold any byte; a list name is printed in records. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)base[i];

		s[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	s[n] = '\0';
	*out = s;
	return CBP_OK;
}

static int
check_opts(const struct cbp_known_list_opts *o, struct cbp_error *err)
{
	size_t n, i;

	if (o == NULL)
		return CBP_OK;
	if (o->threshold < -1 || o->threshold > CBP_KNOWN_PDQ_MAX_THRESHOLD)
		return cbp_error_set(err, CBP_EINVAL, 0, "known list threshold "
		    "%d out of range 0..%d", o->threshold,
		    CBP_KNOWN_PDQ_MAX_THRESHOLD);
	if (o->name == NULL)
		return CBP_OK;
	n = strlen(o->name);
	if (n == 0 || n > CBP_KNOWN_NAME_MAX)
		return cbp_error_set(err, CBP_EINVAL, 0, "known list name must "
		    "be 1 to %d bytes", CBP_KNOWN_NAME_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)o->name[i] < 0x20 || o->name[i] == 0x7f)
			return cbp_error_set(err, CBP_EINVAL, 0, "known list "
			    "name holds a control byte");
	return CBP_OK;
}

/* Start a list: name, threshold, digest context. */
static int
begin_list(struct cbp_known_builder *b, const char *path,
    const struct cbp_known_list_opts *o, struct klist **out,
    struct cbp_error *err)
{
	struct klist *l, *nl;
	int r;

	if (b->nlists >= CBP_KNOWN_MAX_LISTS)
		return cbp_error_set(err, CBP_ELIMIT, 0, "%s: more than %d "
		    "known lists", path, CBP_KNOWN_MAX_LISTS);
	if ((nl = realloc(b->lists, (b->nlists + 1) * sizeof(*nl))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	b->lists = nl;
	l = &b->lists[b->nlists];
	memset(l, 0, sizeof(*l));
	if ((l->path = strdup(path)) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	b->nlists++;
	l->threshold = o && o->threshold >= 0 ? o->threshold :
	    CBP_KNOWN_PDQ_DEFAULT_THRESHOLD;
	l->first = (uint32_t)b->n;
	if (o && o->name)
		r = (l->name = strdup(o->name)) ? CBP_OK : CBP_ENOMEM;
	else
		r = list_name_from_path(path, &l->name);
	if (r != CBP_OK)
		return cbp_error_set(err, r, ENOMEM, "out of memory");
	if (b->parts == NULL &&
	    (b->parts = calloc(b->threads, sizeof(*b->parts))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	*out = l;
	return CBP_OK;
}

static int
digest_done(EVP_MD_CTX *md, struct klist *l, struct cbp_error *err)
{
	unsigned n = 0;

	if (EVP_DigestFinal_ex(md, l->sha, &n) != 1 || n != 32)
		return cbp_error_set(err, CBP_ENOMEM, 0, "%s: SHA-256 failed",
		    l->path);
	return CBP_OK;
}

int
cbp_known_add_buffer(struct cbp_known_builder *b, const char *name,
    const char *text, size_t len, const struct cbp_known_list_opts *opts,
    struct cbp_error *err)
{
	EVP_MD_CTX *md = NULL;
	struct klist *l;
	uint64_t lines = 0;
	int r;

	if (b == NULL || name == NULL || (text == NULL && len > 0))
		return cbp_error_set(err, CBP_EINVAL, 0, "bad argument");
	if ((r = check_opts(opts, err)) != CBP_OK)
		return r;
	if (b->failed)
		return cbp_error_set(err, CBP_EINVAL, 0, "an earlier list "
		    "failed to load");
	if ((r = begin_list(b, name, opts, &l, err)) != CBP_OK)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    (len > 0 && EVP_DigestUpdate(md, text, len) != 1)) {
		r = cbp_error_set(err, CBP_ENOMEM, 0, "%s: SHA-256 failed",
		    name);
		goto out;
	}
	if ((r = parse_block(b, text, len, &lines, l, err)) != CBP_OK)
		goto out;
	r = digest_done(md, l, err);
out:
	EVP_MD_CTX_free(md);
	if (r != CBP_OK)
		b->failed = 1;
	return r;
}

/*
 * Read fd in blocks: parse the whole lines of each block, carry the
 * partial last line over.  A partial line longer than CBP_KNOWN_LINE_MAX
 * is reported once and skipped up to its LF without being kept.
 */
static int
read_list(struct cbp_known_builder *b, int fd, struct klist *l,
    EVP_MD_CTX *md, struct cbp_error *err)
{
	size_t have = 0, cut;
	uint64_t lines = 0;
	int skipping = 0, r;
	ssize_t got;
	char *nl;

	if (b->buf == NULL && (b->buf = malloc(BLOCK_BYTES)) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	for (;;) {
		got = read(fd, b->buf + have, BLOCK_BYTES - have);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return cbp_error_set(err, CBP_EIO, errno, "%s: read: %s",
			    l->path, strerror(errno));
		if (got > 0 && EVP_DigestUpdate(md, b->buf + have,
		    (size_t)got) != 1)
			return cbp_error_set(err, CBP_ENOMEM, 0, "%s: SHA-256 "
			    "failed", l->path);
		have += (size_t)got;
		if (skipping) {
			if ((nl = memchr(b->buf, '\n', have)) == NULL) {
				have = 0;
				if (got == 0)
					break;
				continue;
			}
			cut = (size_t)(nl - b->buf) + 1;
			memmove(b->buf, b->buf + cut, have - cut);
			have -= cut;
			lines++;
			skipping = 0;
		}
		if (got == 0) {
			/* End of file: the rest is one line without LF. */
			if (have > 0 && (r = parse_block(b, b->buf, have,
			    &lines, l, err)) != CBP_OK)
				return r;
			break;
		}
		nl = memrchr(b->buf, '\n', have);
		cut = nl ? (size_t)(nl - b->buf) + 1 : 0;
		if (cut > 0 && (r = parse_block(b, b->buf, cut, &lines, l,
		    err)) != CBP_OK)
			return r;
		memmove(b->buf, b->buf + cut, have - cut);
		have -= cut;
		if (have > CBP_KNOWN_LINE_MAX + 1) {
			/* A CR may follow the limit; more is too long. */
			struct kpart *kp = &b->parts[0];

			kpart_reset(kp);
			problem_at(kp, 1, CBP_KNOWN_LINE_MAX + 1,
			    CBP_KNOWN_P_LONG_LINE, "line longer than %d bytes",
			    CBP_KNOWN_LINE_MAX);
			if ((r = append_part(b, kp, lines, l, err)) != CBP_OK)
				return r;
			have = 0;
			skipping = 1;
		}
	}
	return CBP_OK;
}

int
cbp_known_add_fd(struct cbp_known_builder *b, int fd, const char *path,
    const struct cbp_known_list_opts *opts, struct cbp_error *err)
{
	EVP_MD_CTX *md = NULL;
	struct klist *l;
	int r;

	if (b == NULL || path == NULL || fd < 0)
		return cbp_error_set(err, CBP_EINVAL, 0, "bad argument");
	if ((r = check_opts(opts, err)) != CBP_OK)
		return r;
	if (b->failed)
		return cbp_error_set(err, CBP_EINVAL, 0, "an earlier list "
		    "failed to load");
	if ((r = begin_list(b, path, opts, &l, err)) != CBP_OK)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		r = cbp_error_set(err, CBP_ENOMEM, 0, "%s: SHA-256 failed",
		    path);
		goto out;
	}
	if ((r = read_list(b, fd, l, md, err)) != CBP_OK)
		goto out;
	r = digest_done(md, l, err);
out:
	EVP_MD_CTX_free(md);
	if (r != CBP_OK)
		b->failed = 1;
	return r;
}

static int
check(const struct cbp_known_list_opts *o, int fd, const char *path,
    struct cbp_error *err)
{
	if (o == NULL || o->check_fd == NULL)
		return CBP_OK;
	return o->check_fd(o->check_arg, fd, path, err);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A problem about a whole file (line 0), e.g. a skipped directory entry. */
static int
file_problem(struct cbp_known_builder *b, const char *path, const char *what)
{
	struct cbp_known_problem *p;
	char *keep;

	b->prob_total++;
	if (b->nprob >= CBP_KNOWN_PROBLEMS_KEPT)
		return CBP_OK;
	/* The path must outlive this call and the file is no list (it would
	 * change the digest), so the problem owns its copy (freed with the
	 * builder: kind CBP_KNOWN_P_SKIPPED). */
	if ((keep = strdup(path)) == NULL)
		return CBP_ENOMEM;
	p = &b->prob[b->nprob++];
	memset(p, 0, sizeof(*p));
	p->file = keep;
	p->kind = CBP_KNOWN_P_SKIPPED;
	snprintf(p->message, sizeof(p->message), "%s: skipped", what);
	return CBP_OK;
}

int
cbp_known_dir_each(int dfd, const char *path, cbp_known_dir_fn fn, void *arg,
    struct cbp_error *err)
{
	char **names = NULL, *full = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d = NULL;
	int fd, nfd, r = CBP_OK;

	if ((nfd = dup(dfd)) < 0 || (d = fdopendir(nfd)) == NULL) {
		if (nfd >= 0)
			close(nfd);
		return cbp_error_set(err, CBP_EIO, errno, "%s: %s", path,
		    strerror(errno));
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n >= CBP_KNOWN_DIR_FILES_MAX) {
			r = cbp_error_set(err, CBP_ELIMIT, 0, "%s: more than %d "
			    "files", path, CBP_KNOWN_DIR_FILES_MAX);
			goto out;
		}
		if (grow((void **)&names, &cap, n + 1, sizeof(*names),
		    CBP_KNOWN_DIR_FILES_MAX) != CBP_OK ||
		    (names[n] = strdup(de->d_name)) == NULL) {
			r = cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (errno != 0) {
		r = cbp_error_set(err, CBP_EIO, errno, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n && r == CBP_OK; i++) {
		int open_errno = 0;

		free(full);
		if (asprintf(&full, "%s%s%s", path,
		    path[strlen(path) - 1] == '/' ? "" : "/", names[i]) < 0) {
			full = NULL;
			r = cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
			break;
		}
		fd = openat(dirfd(d), names[i], O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0)
			open_errno = errno;
		r = fn(arg, fd, open_errno, names[i], full, err);
		if (fd >= 0)
			close(fd);
	}
out:
	free(full);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

struct add_dir_ctx {
	struct cbp_known_builder *b;
	const struct cbp_known_list_opts *o;
};

static int
add_dir_entry(void *arg, int fd, int open_errno, const char *name,
    const char *full, struct cbp_error *err)
{
	struct add_dir_ctx *ctx = arg;
	struct stat st;
	int r;

	(void)name;
	if (fd < 0 && (open_errno == ELOOP || open_errno == ENXIO))
		return file_problem(ctx->b, full, open_errno == ELOOP ?
		    "symbolic link" : "not a regular file");
	if (fd < 0)
		return cbp_error_set(err, open_errno == EACCES ? CBP_EPERM :
		    CBP_EIO, open_errno, "%s: %s", full, strerror(open_errno));
	if (fstat(fd, &st) != 0)
		return cbp_error_set(err, CBP_EIO, errno, "%s: %s", full,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return file_problem(ctx->b, full, "not a regular file");
	if ((r = check(ctx->o, fd, full, err)) != CBP_OK)
		return r;
	return cbp_known_add_fd(ctx->b, fd, full, ctx->o, err);
}

static int
add_dir(struct cbp_known_builder *b, int dfd, const char *path,
    const struct cbp_known_list_opts *o, struct cbp_error *err)
{
	struct add_dir_ctx ctx = { b, o };
	int r;

	r = cbp_known_dir_each(dfd, path, add_dir_entry, &ctx, err);
	if (r == CBP_ENOMEM && err != NULL && err->code == 0)
		cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	return r;
}

int
cbp_known_add_path(struct cbp_known_builder *b, const char *path,
    const struct cbp_known_list_opts *opts, struct cbp_error *err)
{
	struct stat st;
	int fd, r;

	if (b == NULL || path == NULL || path[0] == '\0')
		return cbp_error_set(err, CBP_EINVAL, 0, "bad argument");
	if ((r = check_opts(opts, err)) != CBP_OK)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		b->failed = 1;
		return cbp_error_set(err, errno == EACCES ? CBP_EPERM : CBP_EIO,
		    errno, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0)
		r = cbp_error_set(err, CBP_EIO, errno, "%s: %s", path,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		r = cbp_error_set(err, CBP_EIO, 0, "%s: not a regular file or "
		    "directory", path);
	else if ((r = check(opts, fd, path, err)) != CBP_OK)
		;
	else if (S_ISDIR(st.st_mode))
		r = add_dir(b, fd, path, opts, err);
	else
		r = cbp_known_add_fd(b, fd, path, opts, err);
	close(fd);
	if (r != CBP_OK)
		b->failed = 1;
	return r;
}

/* ---- build ---------------------------------------------------------------------- */

#define EMPTY_SLOT UINT32_MAX

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Substrings wider than this are sorted by build_chunk_radix.  A counting
 * sort touches its 2^b-entry table at random twice per entry (count, then
 * scatter): with b = 23 or 24 that is 32-64 MB, a cache miss each time,
 * measured at ~40% of the build's CPU on 10 M entries.
 */
#define DIRECT_BITS 16
#define RADIX_BITS 12

/*
 * The same result as build_chunk's counting sort, by two stable LSD radix
 * passes over (key, entry) pairs, low half of the bits then high half
 * (each at most RADIX_BITS, so the counters stay in L1), then the offset
 * table in one sequential sweep.  Costs two more uint32 arrays of npdq
 * while it runs.
 */
static int
build_chunk_radix(struct cbp_known *k, unsigned c)
{
	unsigned st = k->start[c], bits = k->bits[c], lob = bits / 2;
	size_t size = (size_t)1 << bits, n = k->npdq, i, j, p, key;
	uint32_t *off, *perm, *keys, *tk, *ti, cnt[1u << RADIX_BITS], sum, t;
	uint32_t lmask = (1u << lob) - 1;
	int r = CBP_ENOMEM;

	off = huge_alloc((size + 1) * sizeof(*off));
	perm = huge_alloc(n * sizeof(*perm));
	keys = malloc((n ? n : 1) * sizeof(*keys));
	tk = malloc((n ? n : 1) * sizeof(*tk));
	ti = malloc((n ? n : 1) * sizeof(*ti));
	if (off == NULL || perm == NULL || keys == NULL || tk == NULL ||
	    ti == NULL)
		goto out;
	for (i = j = 0; i < k->n; i++)
		if (k->flags[i] & F_PDQ)
			keys[j++] = chunk_of(k->pdq[i], st, bits);
	/* Pass 1: by the low bits, entries in order. */
	memset(cnt, 0, sizeof(cnt));
	for (j = 0; j < n; j++)
		cnt[keys[j] & lmask]++;
	for (sum = 0, p = 0; p <= lmask; p++) {
		t = cnt[p];
		cnt[p] = sum;
		sum += t;
	}
	for (i = j = 0; i < k->n; i++)
		if (k->flags[i] & F_PDQ) {
			p = cnt[keys[j] & lmask]++;
			tk[p] = keys[j++];
			ti[p] = (uint32_t)i;
		}
	/* Pass 2: by the high bits; stable, so sorted by the whole key. */
	memset(cnt, 0, sizeof(cnt));
	for (j = 0; j < n; j++)
		cnt[tk[j] >> lob]++;
	for (sum = 0, p = 0; p < ((size_t)1 << (bits - lob)); p++) {
		t = cnt[p];
		cnt[p] = sum;
		sum += t;
	}
	for (j = 0; j < n; j++) {
		p = cnt[tk[j] >> lob]++;
		keys[p] = tk[j];
		perm[p] = ti[j];
	}
	/* off[key] = how many sorted keys are below key. */
	for (key = 0, p = 0; key <= size; key++) {
		while (p < n && keys[p] < key)
			p++;
		off[key] = (uint32_t)p;
	}
	k->off[c] = off;
	k->perm[c] = perm;
	off = perm = NULL;
	r = CBP_OK;
out:
	free(off);
	free(perm);
	free(keys);
	free(tk);
	free(ti);
	return r;
}

/* Counting sort of the PDQ entries by substring c. */
static int
build_chunk(struct cbp_known *k, unsigned c)
{
	unsigned st = k->start[c], bits = k->bits[c];
	size_t size = (size_t)1 << bits, i, j;
	uint32_t *off, *keys, *perm;

	off = huge_alloc((size + 1) * sizeof(*off));
	perm = huge_alloc(k->npdq * sizeof(*perm));
	keys = malloc((k->npdq ? k->npdq : 1) * sizeof(*keys));
	if (off == NULL || perm == NULL || keys == NULL) {
		free(off);
		free(perm);
		free(keys);
		return CBP_ENOMEM;
	}
	memset(off, 0, (size + 1) * sizeof(*off));
	for (i = j = 0; i < k->n; i++) {
		if (!(k->flags[i] & F_PDQ))
			continue;
		keys[j] = chunk_of(k->pdq[i], st, bits);
		off[keys[j] + 1]++;
		j++;
	}
	for (i = 1; i <= size; i++)
		off[i] += off[i - 1];
	/* Scatter with off[key] as the cursor; afterwards off[key] holds the
	 * old off[key + 1], so shifting by one restores the bucket starts. */
	for (i = j = 0; i < k->n; i++)
		if (k->flags[i] & F_PDQ)
			perm[off[keys[j++]]++] = (uint32_t)i;
	memmove(off + 1, off, size * sizeof(*off));
	off[0] = 0;
	free(keys);
	k->off[c] = off;
	k->perm[c] = perm;
	return CBP_OK;
}

static int
build_sha(struct cbp_known *k)
{
	size_t nsha = 0, size = 16, i, h;

	for (i = 0; i < k->n; i++)
		nsha += (k->flags[i] & F_SHA) != 0;
	while (size < nsha + nsha / 3 + 1)	/* load factor <= 0.75 */
		size *= 2;
	if ((k->slots = huge_alloc(size * sizeof(*k->slots))) == NULL)
		return CBP_ENOMEM;
	memset(k->slots, 0xff, size * sizeof(*k->slots));
	k->slot_mask = size - 1;
	/*
	 * One slot per distinct hash; duplicates hang off it in sha_next, in
	 * entry order (inserting from the last entry down puts each new one at
	 * the head).  A slot per duplicate would make a list holding one hash
	 * many times quadratic to load.  sha_next is made only when needed.
	 */
	for (i = k->n; i-- > 0;) {
		if (!(k->flags[i] & F_SHA))
			continue;
		h = (size_t)load64(k->sha[i]) & k->slot_mask;
		while (k->slots[h] != EMPTY_SLOT &&
		    memcmp(k->sha[k->slots[h]], k->sha[i], 32) != 0)
			h = (h + 1) & k->slot_mask;
		if (k->slots[h] != EMPTY_SLOT) {
			if (k->sha_next == NULL) {
				if ((k->sha_next = malloc(k->n *
				    sizeof(*k->sha_next))) == NULL)
					return CBP_ENOMEM;
				memset(k->sha_next, 0xff, k->n *
				    sizeof(*k->sha_next));
			}
			k->sha_next[i] = k->slots[h];
		}
		k->slots[h] = (uint32_t)i;
	}
	return CBP_OK;
}

struct build_job {
	struct cbp_known *k;
	atomic_uint next;
	atomic_int fail;
};

/* Tasks 0..m-1: one substring table each; task m: the SHA-256 table. */
static void *
build_worker(void *arg)
{
	struct build_job *j = arg;
	unsigned t;
	int r;

	while ((t = atomic_fetch_add(&j->next, 1)) <= j->k->m) {
		if (atomic_load(&j->fail))
			break;
		if (t == j->k->m)
			r = build_sha(j->k);
		else if (j->k->bits[t] > DIRECT_BITS)
			r = build_chunk_radix(j->k, t);
		else
			r = build_chunk(j->k, t);
		if (r != CBP_OK)
			atomic_store(&j->fail, r);
	}
	return NULL;
}

static int
make_digest(struct cbp_known *k)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE], thr;
	unsigned n = 0, i;
	EVP_MD_CTX *md;
	size_t l;
	int ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return CBP_ENOMEM;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	for (l = 0; ok && l < k->nlists; l++) {
		thr = (unsigned char)k->lists[l].threshold;
		ok = EVP_DigestUpdate(md, k->lists[l].name,
		    strlen(k->lists[l].name) + 1) == 1 &&
		    EVP_DigestUpdate(md, &thr, 1) == 1 &&
		    EVP_DigestUpdate(md, k->lists[l].sha, 32) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, d, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	if (!ok)
		return CBP_ENOMEM;
	for (i = 0; i < 32; i++) {
		k->digest[2 * i] = hx[d[i] >> 4];
		k->digest[2 * i + 1] = hx[d[i] & 15];
	}
	k->digest[64] = '\0';
	return CBP_OK;
}

/* Give back the slack of doubling (realloc of a large block is mremap). */
#define SHRINK(p, n) do { void *q_ = realloc((p), \
	((n) ? (n) : 1) * sizeof(*(p))); if (q_ != NULL) (p) = q_; } while (0)

/* Move the builder's entries and lists into k. */
static int
take_entries(struct cbp_known_builder *b, struct cbp_known *k)
{
	size_t i;

	if ((k->lists = calloc(b->nlists ? b->nlists : 1,
	    sizeof(*k->lists))) == NULL)
		return CBP_ENOMEM;
	for (i = 0; i < b->nlists; i++) {
		k->lists[i] = b->lists[i];
		k->lists[i].path = NULL;	/* the builder's problems use it */
		b->lists[i].name = NULL;
	}
	k->nlists = b->nlists;
	k->n = b->n;
	k->ids_len = b->ids_len;
	if (b->n == 0) {
		free_entries(b);
		return CBP_OK;
	}
	/* The PDQ array is read at random by every query: a huge-page copy
	 * (the grown one is small pages); the others shrink in place. */
	if ((k->pdq = huge_alloc(b->n * sizeof(*b->pdq))) == NULL)
		return CBP_ENOMEM;
	memcpy(k->pdq, b->pdq, b->n * sizeof(*b->pdq));
	SHRINK(b->sha, b->n);
	SHRINK(b->id_off, b->n);
	SHRINK(b->list, b->n);
	SHRINK(b->flags, b->n);
	SHRINK(b->ids, b->ids_len);
	k->sha = b->sha;
	k->id_off = b->id_off;
	k->list = b->list;
	k->flags = b->flags;
	k->ids = b->ids;
	b->sha = NULL;
	b->id_off = NULL;
	b->list = NULL;
	b->flags = NULL;
	b->ids = NULL;
	free_entries(b);
	return CBP_OK;
}

/* sum over t <= r of C(b, t): the values within r bits of a b-bit one. */
static double
ball(unsigned b, unsigned r)
{
	double c = 1, sum = 1;
	unsigned t;

	for (t = 1; t <= r && t <= b; t++) {
		c = c * (b - t + 1) / t;
		sum += c;
	}
	return sum;
}

/*
 * Pick m for npdq entries and the largest threshold.  Substrings of b bits
 * need offset tables of 2^b entries, so b stays at most ~log2(npdq) (then
 * tables cost no more than the permutations) and at most 24.  Among the few
 * m from there up, take the one with the fewest memory touches per query:
 * probes (one offset lookup each) plus candidates (probes times the mean
 * bucket, npdq / 2^b).  At threshold 31 that is the largest b (m = 11 at
 * 10 M entries); at 48, where the radius grows, a smaller b wins.  Only
 * speed depends on this, never results.
 */
/*
 * How many substrings may be probed one bit narrower than floor(maxthr /
 * m) (set_radii): m x floor(maxthr / m) - (maxthr - m + 1), in [0, m).
 */
static unsigned
radii_surplus(unsigned m, unsigned maxthr)
{
	return m - 1 - maxthr % m;
}

static unsigned
choose_chunks(size_t npdq, unsigned maxthr)
{
	unsigned bmax, m, mmin, best = 0, b, r, s;
	double cost, best_cost = 0, probes;

	for (bmax = 16; bmax < 24 && ((size_t)1 << bmax) < npdq; bmax++)
		;
	mmin = (256 + bmax - 1) / bmax;
	for (m = mmin; m <= mmin + 4 && m <= MAX_CHUNKS; m++) {
		b = 256 / m;
		/* set_radii: m - s substrings within r bits, s within r - 1 */
		r = maxthr / m;
		s = radii_surplus(m, maxthr);
		probes = (m - s) * ball(b, r) + (r > 0 ? s * ball(b, r - 1) : 0);
		cost = probes + probes * (double)npdq / (double)((size_t)1 << b);
		if (best == 0 || cost < best_cost) {
			best = m;
			best_cost = cost;
		}
	}
	return best;
}

/*
 * The probe radius of each substring.  Plain pigeonhole gives every one
 * R = floor(maxthr / m).  The general form (Qin, Xiao, Wang, Zhang, "GPH:
 * Similarity search in Hamming space", ICDE 2018) needs only radii t_c
 * with sum(t_c) >= maxthr - m + 1: if every substring of an entry
 * differed by t_c + 1 or more, the whole would differ by at least
 * sum(t_c) + m > maxthr.  So the surplus, R * m - (maxthr - m + 1), goes
 * off the widest substrings one bit each (-1 = not probed at all, when the
 * threshold is below m): at 31 with m = 11, one 24-bit substring is
 * probed within 1 bit instead of 2, 276 of ~3300 probes fewer.  Results
 * are unchanged (the tests compare with the linear scan).
 */
static void
set_radii(struct cbp_known *k)
{
	unsigned c, r = k->maxthr / k->m, surplus = radii_surplus(k->m, k->maxthr);

	for (c = 0; c < k->m; c++)
		k->radius[c] = (int)r;
	/* Widest first: the leading 256 % m substrings have one bit more. */
	for (c = 0; c < k->m && surplus > 0; c++, surplus--)
		k->radius[c]--;
}

static void
set_layout(struct cbp_known *k, unsigned m)
{
	unsigned c, at = 0, maxthr = 0;
	size_t l, i;

	for (i = 0; i < k->n; i++)
		k->npdq += (k->flags[i] & F_PDQ) != 0;
	for (l = 0; l < k->nlists; l++)
		if (k->lists[l].count > 0 && (unsigned)k->lists[l].threshold >
		    maxthr)
			maxthr = (unsigned)k->lists[l].threshold;
	if (m == 0)
		m = choose_chunks(k->npdq, maxthr);
	k->m = m;
	for (c = 0; c < m; c++) {
		k->start[c] = at;
		k->bits[c] = 256 / m + (c < 256 % m);
		at += k->bits[c];
	}
	k->maxthr = maxthr;
	set_radii(k);
}

/* Copy the builder's problems (and their file names) into k. */
static int
take_problems(const struct cbp_known_builder *b, struct cbp_known *k)
{
	size_t i;

	k->prob_total = b->prob_total;
	if (b->nprob == 0)
		return CBP_OK;
	if ((k->prob = calloc(b->nprob, sizeof(*k->prob))) == NULL)
		return CBP_ENOMEM;
	for (i = 0; i < b->nprob; i++) {
		k->prob[i] = b->prob[i];
		if ((k->prob[i].file = strdup(b->prob[i].file)) == NULL)
			return CBP_ENOMEM;
		k->nprob = i + 1;
	}
	return CBP_OK;
}

int
cbp_known_build(struct cbp_known_builder *b, struct cbp_known **out,
    struct cbp_error *err)
{
	pthread_t tid[MAX_THREADS];
	int started[MAX_THREADS] = { 0 };
	struct build_job job;
	struct cbp_known *k = NULL;
	unsigned i;
	int r;

	if (out != NULL)
		*out = NULL;
	if (b == NULL || out == NULL)
		return cbp_error_set(err, CBP_EINVAL, 0, "bad argument");
	if (b->failed)
		return cbp_error_set(err, CBP_EINVAL, 0, "a known list failed "
		    "to load; the index cannot be built");
	free_parts(b);
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (r = take_entries(b, k)) != CBP_OK) {
		r = CBP_ENOMEM;
		goto out;
	}
	set_layout(k, b->chunks);
	job.k = k;
	atomic_init(&job.next, 0);
	atomic_init(&job.fail, 0);
	for (i = 1; i < b->threads; i++)
		started[i] = pthread_create(&tid[i], NULL, build_worker,
		    &job) == 0;
	build_worker(&job);
	for (i = 1; i < b->threads; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	if ((r = atomic_load(&job.fail)) != CBP_OK)
		goto out;
	if ((r = make_digest(k)) != CBP_OK ||
	    (r = take_problems(b, k)) != CBP_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	cbp_known_free(k);
	if (r != CBP_OK) {
		b->failed = 1;
		cbp_error_set(err, r, r == CBP_ENOMEM ? ENOMEM : 0, "building "
		    "the known-image index: %s", cbp_strerror(r));
	}
	return r;
}

void
cbp_known_free(struct cbp_known *k)
{
	unsigned c;
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nlists; i++)
		free(k->lists[i].name);
	free(k->lists);
	for (i = 0; i < k->nprob; i++)
		free((char *)k->prob[i].file);
	free(k->prob);
	if (k->release != NULL) {
		k->release(k->release_arg);
		free(k);
		return;
	}
	free(k->pdq);
	free(k->sha);
	free(k->id_off);
	free(k->list);
	free(k->flags);
	free(k->ids);
	free(k->slots);
	free(k->sha_next);
	for (c = 0; c < MAX_CHUNKS; c++) {
		free(k->off[c]);
		free(k->perm[c]);
	}
	free(k);
}

/* ---- the index ------------------------------------------------------------------- */

size_t
cbp_known_entries(const struct cbp_known *k)
{
	return k ? k->n : 0;
}

size_t
cbp_known_lists(const struct cbp_known *k)
{
	return k ? k->nlists : 0;
}

const char *
cbp_known_digest(const struct cbp_known *k)
{
	return k ? k->digest : "";
}

const char *
cbp_known_list_name(const struct cbp_known *k, size_t i)
{
	return k && i < k->nlists ? k->lists[i].name : NULL;
}

int
cbp_known_list_threshold(const struct cbp_known *k, size_t i)
{
	return k && i < k->nlists ? k->lists[i].threshold : -1;
}

size_t
cbp_known_list_entries(const struct cbp_known *k, size_t i)
{
	return k && i < k->nlists ? k->lists[i].count : 0;
}

const struct cbp_known_problem *
cbp_known_index_problems(const struct cbp_known *k, size_t *kept,
    uint64_t *total)
{
	if (kept != NULL)
		*kept = k ? k->nprob : 0;
	if (total != NULL)
		*total = k ? k->prob_total : 0;
	return k && k->nprob > 0 ? k->prob : NULL;
}

/* ---- a flat view (the on-disk cache) ---------------------------------------------- */

int
cbp_known_view(const struct cbp_known *k, struct cbp_known_view *v)
{
	struct cbp_known_view_list *l;
	unsigned c;
	size_t i;

	memset(v, 0, sizeof(*v));
	if ((l = calloc(k->nlists ? k->nlists : 1, sizeof(*l))) == NULL)
		return CBP_ENOMEM;
	for (i = 0; i < k->nlists; i++) {
		l[i].name = k->lists[i].name;
		l[i].threshold = k->lists[i].threshold;
		l[i].count = k->lists[i].count;
	}
	v->lists = l;
	v->n = k->n;
	v->npdq = k->npdq;
	v->nlists = k->nlists;
	v->ids_len = k->ids_len;
	v->nslots = k->slots != NULL ? k->slot_mask + 1 : 0;
	v->m = k->m;
	v->pdq = (const uint64_t (*)[4])k->pdq;
	v->sha = (const uint8_t (*)[32])k->sha;
	v->id_off = k->id_off;
	v->list = k->list;
	v->flags = k->flags;
	v->ids = k->ids;
	v->slots = k->slots;
	v->sha_next = k->sha_next;
	for (c = 0; c < k->m; c++) {
		v->bits[c] = k->bits[c];
		v->off[c] = k->off[c];
		v->perm[c] = k->perm[c];
	}
	v->prob = k->prob;
	v->nprob = k->nprob;
	v->prob_total = k->prob_total;
	memcpy(v->digest, k->digest, sizeof(v->digest));
	return CBP_OK;
}

void
cbp_known_view_free(struct cbp_known_view *v)
{
	if (v != NULL) {
		free((void *)v->lists);
		v->lists = NULL;
	}
}

/* The cheap checks of cbp_known_from_view, on the scalars and lists. */
static int
view_check(const struct cbp_known_view *v, struct cbp_error *err)
{
	size_t i, sum = 0, len;
	unsigned c;

#define BAD(...) return cbp_error_set(err, CBP_ECORRUPT, 0, __VA_ARGS__)
	if (v->n > CBP_KNOWN_MAX_ENTRIES || v->npdq > v->n)
		BAD("entry counts out of range");
	if (v->nlists > CBP_KNOWN_MAX_LISTS || (v->n > 0 && v->nlists == 0))
		BAD("list count out of range");
	if (v->m < MIN_CHUNKS || v->m > MAX_CHUNKS)
		BAD("substring count out of range");
	for (c = 0; c < v->m; c++)
		if (v->bits[c] != 256 / v->m + (c < 256 % v->m))
			BAD("substring layout inconsistent");
	if (v->nslots < 16 || v->nslots > ((size_t)1 << 32) ||
	    (v->nslots & (v->nslots - 1)) != 0)
		BAD("SHA-256 table size not a power of two");
	if (v->ids_len > IDS_MAX ||
	    (v->n > 0 && (v->ids_len == 0 || v->ids[v->ids_len - 1] != '\0')))
		BAD("id arena not terminated");
	if (v->lists == NULL && v->nlists > 0)
		BAD("lists missing");
	for (i = 0; i < v->nlists; i++) {
		if (v->lists[i].name == NULL ||
		    (len = strnlen(v->lists[i].name, CBP_KNOWN_NAME_MAX + 1)) ==
		    0 || len > CBP_KNOWN_NAME_MAX)
			BAD("list %zu: bad name", i);
		if (v->lists[i].threshold < 0 ||
		    v->lists[i].threshold > CBP_KNOWN_PDQ_MAX_THRESHOLD)
			BAD("list %zu: threshold out of range", i);
		sum += v->lists[i].count;
	}
	if (sum != v->n)
		BAD("list entry counts do not add up");
	if (v->nprob > CBP_KNOWN_PROBLEMS_KEPT || v->prob_total < v->nprob ||
	    (v->nprob > 0 && v->prob == NULL))
		BAD("problem counts out of range");
	for (i = 0; i < v->nprob; i++)
		if (v->prob[i].file == NULL ||
		    memchr(v->prob[i].message, '\0',
		    sizeof(v->prob[i].message)) == NULL ||
		    v->prob[i].kind < CBP_KNOWN_P_FIELDS ||
		    v->prob[i].kind > CBP_KNOWN_P_SKIPPED)
			BAD("problem %zu malformed", i);
	for (i = 0; i < 64; i++)
		if (hexval[(unsigned char)v->digest[i]] == 0 ||
		    (v->digest[i] >= 'A' && v->digest[i] <= 'F'))
			BAD("digest malformed");
	if (v->digest[64] != '\0')
		BAD("digest malformed");
	if (v->n > 0 && (v->pdq == NULL || v->sha == NULL ||
	    v->id_off == NULL || v->list == NULL || v->flags == NULL))
		BAD("entry arrays missing");
	if (v->slots == NULL)
		BAD("SHA-256 table missing");
	for (c = 0; c < v->m; c++)
		if (v->off[c] == NULL || (v->npdq > 0 && v->perm[c] == NULL))
			BAD("substring tables missing");
#undef BAD
	return CBP_OK;
}

static int
view_copy_meta(const struct cbp_known_view *v, struct cbp_known *k)
{
	size_t i;
	uint32_t first = 0;

	if ((k->lists = calloc(v->nlists ? v->nlists : 1,
	    sizeof(*k->lists))) == NULL)
		return CBP_ENOMEM;
	for (i = 0; i < v->nlists; i++) {
		if ((k->lists[i].name = strdup(v->lists[i].name)) == NULL)
			return CBP_ENOMEM;
		k->nlists = i + 1;
		k->lists[i].threshold = v->lists[i].threshold;
		k->lists[i].first = first;
		k->lists[i].count = v->lists[i].count;
		first += v->lists[i].count;
	}
	k->prob_total = v->prob_total;
	if (v->nprob > 0 &&
	    (k->prob = calloc(v->nprob, sizeof(*k->prob))) == NULL)
		return CBP_ENOMEM;
	for (i = 0; i < v->nprob; i++) {
		k->prob[i] = v->prob[i];
		if ((k->prob[i].file = strdup(v->prob[i].file)) == NULL)
			return CBP_ENOMEM;
		k->nprob = i + 1;
	}
	memcpy(k->digest, v->digest, sizeof(k->digest));
	return CBP_OK;
}

int
cbp_known_from_view(const struct cbp_known_view *v,
    void (*release)(void *arg), void *release_arg, struct cbp_known **out,
    struct cbp_error *err)
{
	struct cbp_known *k;
	unsigned c, at = 0;
	size_t l;
	int r;

	*out = NULL;
	if ((r = view_check(v, err)) != CBP_OK)
		return r;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	if ((r = view_copy_meta(v, k)) != CBP_OK) {
		cbp_known_free(k);
		return cbp_error_set(err, r, ENOMEM, "out of memory");
	}
	/* Borrowed from here on: the arrays are the caller's. */
	k->release = release;
	k->release_arg = release_arg;
	k->n = v->n;
	k->npdq = v->npdq;
	k->ids_len = v->ids_len;
	k->pdq = (uint64_t (*)[4])v->pdq;
	k->sha = (uint8_t (*)[32])v->sha;
	k->id_off = (uint32_t *)v->id_off;
	k->list = (uint16_t *)v->list;
	k->flags = (uint8_t *)v->flags;
	k->ids = (char *)v->ids;
	k->slots = (uint32_t *)v->slots;
	k->slot_mask = v->nslots - 1;
	k->sha_next = (uint32_t *)v->sha_next;
	/* The layout as set_layout makes it for m. */
	k->m = v->m;
	for (c = 0; c < v->m; c++) {
		k->start[c] = at;
		k->bits[c] = v->bits[c];
		at += k->bits[c];
		k->off[c] = (uint32_t *)v->off[c];
		k->perm[c] = (uint32_t *)v->perm[c];
	}
	for (l = 0; l < k->nlists; l++)
		if (k->lists[l].count > 0 &&
		    (unsigned)k->lists[l].threshold > k->maxthr)
			k->maxthr = (unsigned)k->lists[l].threshold;
	set_radii(k);
	*out = k;
	return CBP_OK;
}

/* ---- queries --------------------------------------------------------------------- */

struct qstate {
	const struct cbp_known *k;
	const struct cbp_known_query *q;
	struct cbp_known_match *out;
	size_t cap, nout, total;
	uint64_t w[CBP_KNOWN_MAX_VARIANTS][4];
	uint32_t key[CBP_KNOWN_MAX_VARIANTS][MAX_CHUNKS];
	size_t nv;
};

/* a ranks before b: exact first, then nearer, then earlier entry. */
static int
better(const struct cbp_known_match *a, const struct cbp_known_match *b)
{
	if (a->exact != b->exact)
		return a->exact > b->exact;
	if (a->distance != b->distance)
		return a->distance < b->distance;
	return a->entry < b->entry;
}

HOT_INLINE void
add_match(struct qstate *s, uint32_t e, int exact, int dist, int variant)
{
	const struct cbp_known *k = s->k;
	struct cbp_known_match m;
	size_t i;

	/* Cannot fail on an index built here; a mapped cache is checked at
	 * load only as far as that is cheap (known_cache.c), so an entry
	 * naming no list or an id outside the arena is dropped here. */
	if (k->list[e] >= k->nlists || k->id_off[e] >= k->ids_len)
		return;
	s->total++;
	if (s->cap == 0)
		return;
	m.list = k->lists[k->list[e]].name;
	m.id = k->ids + k->id_off[e];
	m.category = k->flags[e] & F_TRAVELER ? CBP_KNOWN_TRAVELER :
	    CBP_KNOWN_PLATE;
	m.exact = exact;
	m.distance = dist;
	m.variant = variant;
	m.entry = e;
	if (s->nout == s->cap && !better(&m, &s->out[s->cap - 1]))
		return;
	i = s->nout < s->cap ? s->nout++ : s->cap - 1;
	while (i > 0 && better(&m, &s->out[i - 1])) {
		s->out[i] = s->out[i - 1];
		i--;
	}
	s->out[i] = m;
}

static int
qstate_init(struct qstate *s, const struct cbp_known *k,
    const struct cbp_known_query *q, struct cbp_known_match *out, size_t cap)
{
	size_t v;
	unsigned c;

	memset(s, 0, sizeof(*s));
	s->k = k;
	s->q = q;
	s->out = out;
	s->cap = out != NULL ? cap : 0;
	if (q->pdq != NULL && q->quality >= CBP_KNOWN_PDQ_MIN_QUALITY)
		s->nv = q->npdq > CBP_KNOWN_MAX_VARIANTS ?
		    CBP_KNOWN_MAX_VARIANTS : q->npdq;
	for (v = 0; v < s->nv; v++) {
		bytes_to_words(q->pdq[v], s->w[v]);
		for (c = 0; c < k->m; c++)
			s->key[v][c] = chunk_of(s->w[v], k->start[c],
			    k->bits[c]);
	}
	return 0;
}

HOT_INLINE int
is_exact(const struct qstate *s, uint32_t e)
{
	return s->q->sha256 != NULL && (s->k->flags[e] & F_SHA) &&
	    memcmp(s->k->sha[e], s->q->sha256, 32) == 0;
}

/* e is within its threshold of variant v: record it with its best. */
HOT_INLINE void
add_near(struct qstate *s, uint32_t e, size_t v, int d)
{
	int best = d, bv = (int)v, x;
	size_t u;

	if (is_exact(s, e))
		return;		/* already reported as exact */
	for (u = v + 1; u < s->nv; u++)
		if ((x = dist4(s->w[u], s->k->pdq[e])) < best) {
			best = x;
			bv = (int)u;
		}
	add_match(s, e, 0, best, bv);
}

/*
 * Candidate e, reached through substring c of variant v: check it, and
 * accept it only at the first (variant, substring) that reaches it.
 */
HOT_INLINE void
candidate(struct qstate *s, uint32_t e, size_t v, unsigned c)
{
	const struct cbp_known *k = s->k;
	unsigned c2;
	size_t u;
	int thr, d;

	/* The largest threshold first: the list number is one more cache
	 * miss, worth paying only for the rare near candidate. */
	if ((d = dist4(s->w[v], k->pdq[e])) > (int)k->maxthr ||
	    k->list[e] >= k->nlists ||
	    d > (thr = k->lists[k->list[e]].threshold))
		return;
	for (u = 0; u < v; u++)
		if (dist4(s->w[u], k->pdq[e]) <= thr)
			return;
	for (c2 = 0; c2 < c; c2++)
		if (__builtin_popcount(s->key[v][c2] ^
		    chunk_of(k->pdq[e], k->start[c2], k->bits[c2])) <=
		    k->radius[c2])
			return;
	add_near(s, e, v, d);
}

/*
 * The values within radius bits of a substring value: every combination of
 * t <= radius bit positions, t ascending, as a resumable generator.
 */
struct combo {
	unsigned bits, radius, t, pos[MAX_CHUNKS];
	int more;		/* 0: the current t is exhausted */
};

HOT_INLINE void
combo_init(struct combo *g, unsigned bits, unsigned radius)
{
	g->bits = bits;
	g->radius = radius < bits ? radius : bits;
	g->t = 0;
	g->more = 1;
}

/* Next flip mask into *mask: 1, or 0 when every mask was given. */
HOT_INLINE int
combo_next(struct combo *g, uint32_t *mask)
{
	unsigned i, j, t;

	if (!g->more) {
		if (g->t >= g->radius)
			return 0;
		g->t++;
		for (i = 0; i < g->t; i++)
			g->pos[i] = i;
		g->more = 1;
	}
	t = g->t;
	for (*mask = 0, i = 0; i < t; i++)
		*mask |= 1u << g->pos[i];
	/* Advance to the next combination of t positions out of bits. */
	for (i = t; i > 0 && g->pos[i - 1] == g->bits - t + i - 1; i--)
		;
	if (i == 0)
		g->more = 0;
	else {
		g->pos[i - 1]++;
		for (j = i; j < t; j++)
			g->pos[j] = g->pos[j - 1] + 1;
	}
	return 1;
}

/*
 * Probes and candidates are cache misses (the offset tables, the
 * permutations and the hashes are hundreds of MB, read at random), and
 * each depends on the one before.  Done one at a time the CPU waits for
 * each in turn; so they are taken in batches: prefetch the offsets of
 * PROBE_BATCH probes, then their permutation slots, then the hashes of
 * their candidates, and only then compute.  Measured on 10 M entries
 * (bench/known_bench.c, m = 12, before huge pages): 1600 -> 1240 us per
 * query; most of the rest was TLB misses, which huge_alloc removed.
 */
#define PROBE_BATCH 512
#define CAND_BATCH 2048

HOT_INLINE void
flush_candidates(struct qstate *s, const uint32_t *cand, size_t n, size_t v,
    unsigned c)
{
	size_t i;

	for (i = 0; i < n; i++)
		candidate(s, cand[i], v, c);
}

/* Every bucket within k->radius[c] bits of the query's substring c. */
HOT_INLINE void
probe_chunk(struct qstate *s, size_t v, unsigned c)
{
	const struct cbp_known *k = s->k;
	const uint32_t *off = k->off[c], *perm = k->perm[c];
	uint32_t keys[PROBE_BATCH], lo[PROBE_BATCH], hi[PROBE_BATCH];
	uint32_t cand[CAND_BATCH], mask, p, e;
	size_t nk, nc = 0, i;
	struct combo g;

	if (k->radius[c] < 0)
		return;
	combo_init(&g, k->bits[c], (unsigned)k->radius[c]);
	for (;;) {
		for (nk = 0; nk < PROBE_BATCH && combo_next(&g, &mask); nk++) {
			keys[nk] = s->key[v][c] ^ mask;
			__builtin_prefetch(&off[keys[nk]]);
		}
		if (nk == 0)
			break;
		for (i = 0; i < nk; i++) {
			lo[i] = off[keys[i]];
			hi[i] = off[keys[i] + 1];
			/* Only a corrupt mapped cache breaks this (see
			 * add_match): never read past perm. */
			if (hi[i] > k->npdq)
				hi[i] = (uint32_t)k->npdq;
			if (lo[i] < hi[i])
				__builtin_prefetch(&perm[lo[i]]);
		}
		for (i = 0; i < nk; i++)
			for (p = lo[i]; p < hi[i]; p++) {
				if ((e = perm[p]) >= k->n)
					continue;	/* as above */
				__builtin_prefetch(k->pdq[e]);
				cand[nc++] = e;
				if (nc == CAND_BATCH) {
					flush_candidates(s, cand, nc, v, c);
					nc = 0;
				}
			}
	}
	flush_candidates(s, cand, nc, v, c);
}

HOT_INLINE size_t
query_index(const struct cbp_known *k, const struct cbp_known_query *q,
    struct cbp_known_match *out, size_t cap, size_t *total)
{
	struct qstate s;
	size_t h, v, steps;
	unsigned c;
	uint32_t e;

	if (total != NULL)
		*total = 0;
	if (k == NULL || q == NULL || k->n == 0)
		return 0;
	qstate_init(&s, k, q, out, cap);
	if (q->sha256 != NULL) {
		/*
		 * The bounds (probes <= slots, a chain <= n entries, entry
		 * numbers < n) never bind on an index built here; they keep
		 * a corrupt mapped cache (a full table, a cycle) from looping
		 * or reading out of bounds.
		 */
		h = (size_t)load64(q->sha256) & k->slot_mask;
		for (steps = 0; steps <= k->slot_mask; steps++) {
			if ((e = k->slots[h]) == EMPTY_SLOT || e >= k->n) {
				e = EMPTY_SLOT;
				break;
			}
			if (memcmp(k->sha[e], q->sha256, 32) == 0)
				break;
			h = (h + 1) & k->slot_mask;
		}
		if (steps > k->slot_mask)
			e = EMPTY_SLOT;
		for (steps = 0; e != EMPTY_SLOT && e < k->n && steps < k->n;
		    steps++) {
			add_match(&s, e, 1, 0, -1);
			e = k->sha_next ? k->sha_next[e] : EMPTY_SLOT;
		}
	}
	if (k->npdq > 0)
		for (v = 0; v < s.nv; v++)
			for (c = 0; c < k->m; c++)
				probe_chunk(&s, v, c);
	if (total != NULL)
		*total = s.total;
	return s.nout;
}

HOT_INLINE size_t
query_linear(const struct cbp_known *k, const struct cbp_known_query *q,
    struct cbp_known_match *out, size_t cap, size_t *total)
{
	struct qstate s;
	size_t e, v;
	int d;

	if (total != NULL)
		*total = 0;
	if (k == NULL || q == NULL || k->n == 0)
		return 0;
	qstate_init(&s, k, q, out, cap);
	for (e = 0; e < k->n; e++)
		if (is_exact(&s, (uint32_t)e))
			add_match(&s, (uint32_t)e, 1, 0, -1);
	for (e = 0; e < k->n; e++) {
		if (!(k->flags[e] & F_PDQ))
			continue;
		for (v = 0; v < s.nv; v++) {
			d = dist4(s.w[v], k->pdq[e]);
			if (k->list[e] < k->nlists &&
			    d <= k->lists[k->list[e]].threshold) {
				add_near(&s, (uint32_t)e, v, d);
				break;
			}
		}
	}
	if (total != NULL)
		*total = s.total;
	return s.nout;
}

#ifdef HAVE_POPCNT_DISPATCH
__attribute__((target("popcnt"))) static size_t
query_index_popcnt(const struct cbp_known *k, const struct cbp_known_query *q,
    struct cbp_known_match *out, size_t cap, size_t *total)
{
	return query_index(k, q, out, cap, total);
}

__attribute__((target("popcnt"))) static size_t
query_linear_popcnt(const struct cbp_known *k,
    const struct cbp_known_query *q, struct cbp_known_match *out, size_t cap,
    size_t *total)
{
	return query_linear(k, q, out, cap, total);
}
#endif

size_t
cbp_known_query(const struct cbp_known *k, const struct cbp_known_query *q,
    struct cbp_known_match *out, size_t cap, size_t *total)
{
#ifdef HAVE_POPCNT_DISPATCH
	if (__builtin_cpu_supports("popcnt"))
		return query_index_popcnt(k, q, out, cap, total);
#endif
	return query_index(k, q, out, cap, total);
}

size_t
cbp_known_query_bruteforce(const struct cbp_known *k,
    const struct cbp_known_query *q, struct cbp_known_match *out, size_t cap,
    size_t *total)
{
#ifdef HAVE_POPCNT_DISPATCH
	if (__builtin_cpu_supports("popcnt"))
		return query_linear_popcnt(k, q, out, cap, total);
#endif
	return query_linear(k, q, out, cap, total);
}
