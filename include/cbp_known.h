/*
 * cbp_known.h — known-image lists: loading, and matching by SHA-256 and PDQ.
 *
 * A list is plain text, one entry a line, tab-separated, '#' comments
 * (docs: cbp-profile.md, "Known-image lists"):
 *
 *     sha256<TAB>pdq<TAB>category<TAB>id
 *
 * sha256 and pdq are 64 hex digits (either case) or "-" (not both "-");
 * category is "plate" or "traveler"; id is the agency's reference (1 to
 * CBP_KNOWN_ID_MAX bytes, no space, tab or control byte).  Blank lines and
 * lines whose first non-blank byte is '#' are skipped; a CR before the LF
 * is tolerated.
 *
 * Use: a builder takes list files one by one, each with its own options
 * (name, PDQ distance threshold), and records every malformed line as a
 * problem (file:line:column, what is wrong) instead of printing it; the
 * line is skipped.  cbp_known_build() then turns everything into an
 * immutable index that any number of threads may query at once, and that
 * forked workers share copy-on-write: after the build nothing writes to
 * its pages (no reference counts, no caches, no lazily built parts).
 *
 * Matching: exact SHA-256 through an open-addressing table (O(1)); PDQ
 * within each list's threshold through a multi-index hash (the 256 bits cut
 * into m substrings; see scanner/known.c for the argument and the
 * measurements).  Results are exactly those of a linear scan
 * (cbp_known_query_bruteforce, for tests and the benchmark).
 *
 * Duplicates are kept: an image listed twice (in one list or in two) gives
 * one match per entry, so an auditor sees every list that names it.
 */
#ifndef CBP_KNOWN_H
#define CBP_KNOWN_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_err.h"

/* ---- limits (each with its reason) ---------------------------------------- */

/*
 * Bytes in one line, LF excluded.  A well-formed line is at most
 * 64 + 1 + 64 + 1 + 8 + 1 + CBP_KNOWN_ID_MAX = 394 bytes; 1 KiB leaves room
 * for trailing blanks and still bounds what one bad line costs.  A longer
 * line is a problem ("line too long"), skipped to its end, never buffered.
 */
#define CBP_KNOWN_LINE_MAX 1024
/* Bytes in one id: agency references are short; this bounds the arena. */
#define CBP_KNOWN_ID_MAX 255
/*
 * Entries over all lists.  Indices are uint32; at ~190 bytes per entry
 * (peak RSS, measured: bench/known_bench.c) 50 M entries already need
 * ~10 GB, beyond what a scanning host should give.  More is CBP_ELIMIT.
 */
#define CBP_KNOWN_MAX_ENTRIES 50000000u
/* Lists (files) in one index; a list is a uint16 in every entry. */
#define CBP_KNOWN_MAX_LISTS 4096
/* Bytes in a list name (the "list" field of a finding). */
#define CBP_KNOWN_NAME_MAX 128
/*
 * Problems kept in full; the rest are only counted.  A list with a broken
 * generator can have millions of bad lines; the first ones say what is
 * wrong, the count says how much.
 */
#define CBP_KNOWN_PROBLEMS_KEPT 100
/* Files taken from one directory (sorted by name, not recursive). */
#define CBP_KNOWN_DIR_FILES_MAX 4096

/*
 * PDQ distance threshold: default (pdq/README.md and ThreatExchange's
 * PDQ_CONFIDENT_MATCH_THRESHOLD: a match when distance <= 31) and maximum.
 * The maximum is 48 (19% of the bits), for two reasons.  Meaning: 31 is
 * the reference's confident match; unrelated real photographs are far
 * closer to each other than the 128 +- 8 bits of random hashes, so each
 * bit of threshold above 31 buys near copies at the price of look-alikes.
 * Cost: the index's probe radius grows with the threshold; measured on
 * 10 M entries (bench/known_bench.c) a query at 31 is ~200x faster than a
 * linear scan, at 48 ~9x, at 64 no faster at all.
 */
#define CBP_KNOWN_PDQ_DEFAULT_THRESHOLD 31
#define CBP_KNOWN_PDQ_MAX_THRESHOLD 48
/*
 * Hashes of lower quality are not matched by PDQ (pdq/README.md: discard
 * quality <= 49; ThreatExchange QUALITY_THRESHOLD = 50): a featureless
 * image hashes to something close to every other featureless image.
 */
#define CBP_KNOWN_PDQ_MIN_QUALITY 50
/* Query hashes per query: the 8 dihedral variants of one image. */
#define CBP_KNOWN_MAX_VARIANTS 8

/* ---- types ---------------------------------------------------------------- */

enum cbp_known_category {
	CBP_KNOWN_PLATE = 0,
	CBP_KNOWN_TRAVELER = 1,
};

/* "plate" or "traveler". */
const char *cbp_known_category_name(enum cbp_known_category c);

/* What is wrong with a line. */
enum cbp_known_problem_kind {
	CBP_KNOWN_P_FIELDS = 1,		/* not exactly 4 tab-separated fields */
	CBP_KNOWN_P_SHA256,		/* sha256 not 64 hex digits or "-" */
	CBP_KNOWN_P_PDQ,		/* pdq not 64 hex digits or "-" */
	CBP_KNOWN_P_NO_HASH,		/* both hashes are "-" */
	CBP_KNOWN_P_CATEGORY,		/* not "plate" or "traveler" */
	CBP_KNOWN_P_ID,			/* id empty, too long, or with a blank/control byte */
	CBP_KNOWN_P_LONG_LINE,		/* more than CBP_KNOWN_LINE_MAX bytes */
	CBP_KNOWN_P_NUL,		/* a NUL byte in the line */
	CBP_KNOWN_P_SKIPPED,		/* a directory entry that is not a regular
					 * file (e.g. a symbolic link): line 0 */
};

/*
 * One malformed line.  file is the path (or name) the list was added under;
 * line is 1-based; column is the 1-based byte column where the problem
 * starts (the field, or the offending byte).  message says what is wrong
 * in words, without the position.  Owned by the builder.
 */
struct cbp_known_problem {
	const char *file;
	uint64_t line;
	uint32_t column;
	enum cbp_known_problem_kind kind;
	char message[96];
};

/* Per-list options.  Zero-initialise, then set what you need. */
struct cbp_known_list_opts {
	/*
	 * Name reported with a match ("list" in a finding), 1 to
	 * CBP_KNOWN_NAME_MAX printable bytes.  NULL: the file's base name
	 * without its last extension ("/etc/cbp/cbp-2019.tsv" -> "cbp-2019").
	 * Given for a directory, every file in it carries this name.
	 */
	const char *name;
	/* PDQ distance threshold 0..CBP_KNOWN_PDQ_MAX_THRESHOLD; -1: default. */
	int threshold;
	/*
	 * Optional: called on every file (and directory) opened, before it is
	 * read, e.g. with cbp_trust_check_fd so that root never loads a list
	 * another user could have written.  A non-zero return stops loading
	 * with that code; fill err.
	 */
	int (*check_fd)(void *arg, int fd, const char *path,
	    struct cbp_error *err);
	void *check_arg;
};

struct cbp_known_builder;
struct cbp_known;

/* ---- building ------------------------------------------------------------- */

/* NULL when out of memory.  Free with cbp_known_builder_free (NULL ok). */
struct cbp_known_builder *cbp_known_builder_new(void);
void cbp_known_builder_free(struct cbp_known_builder *b);

/*
 * Threads used to parse and to build the index: 0 = online CPUs (capped at
 * 8).  Results do not depend on it.
 */
void cbp_known_builder_set_threads(struct cbp_known_builder *b, unsigned n);

/*
 * Number of PDQ substrings m (11..32) for the index; 0 (the default):
 * chosen from the number of PDQ entries, substrings of about log2(entries)
 * bits (16 to 24; m = 11 at 10 M entries, 16 below 65 536).  Results do
 * not depend on it, only speed and memory (smaller m: faster queries,
 * larger offset tables; see scanner/known.c); for the benchmark and for
 * tests that check every layout against brute force.  CBP_EINVAL when out
 * of range.
 */
int cbp_known_builder_set_chunks(struct cbp_known_builder *b, unsigned m);

/*
 * Add the list(s) at path: a file (symbolic links in the name are
 * followed: the caller named it), or a directory, meaning every regular
 * file directly in it, in byte order of name, dot files excepted, not
 * recursive, symbolic links inside it not followed (skipped).  Each file is
 * one list.  opts may be NULL (defaults).
 *
 * Malformed lines do not fail the call: they are recorded as problems and
 * skipped (the caller decides whether any problem is fatal, e.g. under
 * --strict).  Returns CBP_OK; CBP_EINVAL (bad options: err says which);
 * CBP_EIO / CBP_EPERM (cannot open or read, or check_fd refused);
 * CBP_ELIMIT (too many entries, lists or directory files); CBP_ENOMEM.
 * After an error other than CBP_EINVAL the builder must not be built.
 */
int cbp_known_add_path(struct cbp_known_builder *b, const char *path,
    const struct cbp_known_list_opts *opts, struct cbp_error *err);

/*
 * The files of a list directory, as cbp_known_add_path takes them: every
 * entry whose name does not start with '.', in byte order of name, at most
 * CBP_KNOWN_DIR_FILES_MAX (more is CBP_ELIMIT), each opened read-only with
 * O_NOFOLLOW | O_NONBLOCK and handed to fn with its name and its path
 * (dir path + "/" + name); fd is -1 when the open failed, open_errno says
 * why (ELOOP: a symbolic link, ENXIO: a FIFO or socket).  fd is closed
 * after fn returns; a non-zero return stops the walk with that code.  The
 * one place that decides which files of a directory are lists, so that
 * the index cache's key (cbp_known_cache.h) covers exactly the files the
 * builder reads.
 */
typedef int (*cbp_known_dir_fn)(void *arg, int fd, int open_errno,
    const char *name, const char *path, struct cbp_error *err);
int cbp_known_dir_each(int dfd, const char *path, cbp_known_dir_fn fn,
    void *arg, struct cbp_error *err);

/* The same for one file already open on fd (not closed; read from its
 * current offset); path names it in problems and the default list name. */
int cbp_known_add_fd(struct cbp_known_builder *b, int fd, const char *path,
    const struct cbp_known_list_opts *opts, struct cbp_error *err);

/* The same from memory; name as path above. */
int cbp_known_add_buffer(struct cbp_known_builder *b, const char *name,
    const char *text, size_t len, const struct cbp_known_list_opts *opts,
    struct cbp_error *err);

/*
 * Problems recorded so far: the first CBP_KNOWN_PROBLEMS_KEPT in full
 * (cbp_known_problem(b, i), i < kept), and the total including those not
 * kept.  Pointers stay valid until the builder is freed.
 */
size_t cbp_known_problems_kept(const struct cbp_known_builder *b);
uint64_t cbp_known_problems_total(const struct cbp_known_builder *b);
const struct cbp_known_problem *cbp_known_problem(
    const struct cbp_known_builder *b, size_t i);

/*
 * Finish: build the index from everything added (an empty index is valid:
 * no list, or lists without entries).  On CBP_OK *out is the index, owned
 * by the caller (cbp_known_free); the builder keeps only its problems and
 * can then be freed.  CBP_ENOMEM, or CBP_EINVAL if an add failed earlier.
 */
int cbp_known_build(struct cbp_known_builder *b, struct cbp_known **out,
    struct cbp_error *err);

void cbp_known_free(struct cbp_known *k);

/* ---- the index -------------------------------------------------------------- */

size_t cbp_known_entries(const struct cbp_known *k);
size_t cbp_known_lists(const struct cbp_known *k);

/*
 * The lists in force, for the summary beside the rules digest: lowercase
 * hex SHA-256 over, for each list in load order, its name, a NUL byte, its
 * threshold as one byte, and the SHA-256 of its bytes.  Renaming a list,
 * changing its threshold or one byte of it, or reordering lists changes the
 * digest.  Owned by the index; never NULL.
 */
const char *cbp_known_digest(const struct cbp_known *k);

/* Name, threshold and entry count of list i (< cbp_known_lists). */
const char *cbp_known_list_name(const struct cbp_known *k, size_t i);
int cbp_known_list_threshold(const struct cbp_known *k, size_t i);
size_t cbp_known_list_entries(const struct cbp_known *k, size_t i);

/* What to look for. */
struct cbp_known_query {
	const uint8_t *sha256;		/* 32 bytes, or NULL */
	/*
	 * PDQ hashes of the image (32 bytes each, the hex text's byte order),
	 * e.g. the hash and its dihedral variants; 0 to
	 * CBP_KNOWN_MAX_VARIANTS.  Used only when quality >=
	 * CBP_KNOWN_PDQ_MIN_QUALITY.
	 */
	const uint8_t (*pdq)[32];
	size_t npdq;
	int quality;
};

/*
 * One matching entry.  Strings are owned by the index.  An entry appears at
 * most once: exact (its SHA-256 equals the query's; distance 0) if so,
 * otherwise with its least PDQ distance over the query's hashes, which is
 * within its list's threshold; variant says which hash gave it.
 */
struct cbp_known_match {
	const char *list;
	const char *id;
	enum cbp_known_category category;
	int exact;		/* 1: SHA-256 match */
	int distance;		/* PDQ distance; 0 for an exact match */
	int variant;		/* index into query->pdq; -1 for an exact match */
	uint32_t entry;		/* entry number: lists in load order, lines in order */
};

/*
 * Find every entry matching q.  The best cap of them are written to out
 * (may be NULL when cap is 0), best first: exact matches, then by distance,
 * then by entry number; *total (may be NULL) is how many entries matched
 * in all.  Returns the number written.  Thread-safe, allocation-free, and
 * reads the index only.
 */
size_t cbp_known_query(const struct cbp_known *k,
    const struct cbp_known_query *q, struct cbp_known_match *out, size_t cap,
    size_t *total);

/* The same by a linear scan over every entry: for tests and the benchmark. */
size_t cbp_known_query_bruteforce(const struct cbp_known *k,
    const struct cbp_known_query *q, struct cbp_known_match *out, size_t cap,
    size_t *total);

/*
 * The malformed lines met while the index was built (cbp_known_problem and
 * cbp_known_problems_total of its builder, kept with the index so that an
 * index read back from the cache reports them again): an array of *kept
 * (<= CBP_KNOWN_PROBLEMS_KEPT; NULL when 0), and *total counting those not
 * kept.  Owned by the index.
 */
const struct cbp_known_problem *cbp_known_index_problems(
    const struct cbp_known *k, size_t *kept, uint64_t *total);

/* ---- a flat view, for the on-disk cache (cbp_known_cache.h) ------------------ */

/* Most PDQ substrings of an index (cbp_known_builder_set_chunks). */
#define CBP_KNOWN_MAX_CHUNKS 32

struct cbp_known_view_list {
	const char *name;
	int threshold;
	uint32_t count;		/* entries; lists hold consecutive entries */
};

/*
 * Every array an index is made of, with its length in elements, so that it
 * can be written out and read back without parsing: entry e has pdq[e]
 * (four 64-bit words), sha[e], id_off[e] (into ids), list[e] and flags[e];
 * slots (nslots, a power of two) is the SHA-256 table, sha_next (n, or
 * NULL) its duplicate chains; off[c] (2^bits[c] + 1) and perm[c] (npdq)
 * for each of the m substrings.  Their meaning is known.c's business: a
 * reader needs only the lengths.  Host byte order.
 */
struct cbp_known_view {
	size_t n, npdq, nlists, ids_len, nslots;
	unsigned m, bits[CBP_KNOWN_MAX_CHUNKS];
	const uint64_t (*pdq)[4];
	const uint8_t (*sha)[32];
	const uint32_t *id_off;
	const uint16_t *list;
	const uint8_t *flags;
	const char *ids;
	const uint32_t *slots;
	const uint32_t *sha_next;
	const uint32_t *off[CBP_KNOWN_MAX_CHUNKS];
	const uint32_t *perm[CBP_KNOWN_MAX_CHUNKS];
	const struct cbp_known_view_list *lists;	/* nlists */
	const struct cbp_known_problem *prob;		/* nprob */
	size_t nprob;
	uint64_t prob_total;
	char digest[65];
};

/*
 * Fill v from k: pointers into k (valid while k is), except v->lists,
 * allocated here: free it with cbp_known_view_free.  CBP_OK or CBP_ENOMEM.
 */
int cbp_known_view(const struct cbp_known *k, struct cbp_known_view *v);
void cbp_known_view_free(struct cbp_known_view *v);

/*
 * An index over the arrays of v, used in place (not copied): they must
 * stay valid and unchanged until cbp_known_free, which then calls
 * release(release_arg) (may be NULL) instead of freeing them.  v's lists,
 * problems and digest are copied.  What is cheap is checked here (counts
 * within the limits, the layout for m, lengths consistent, list counts
 * summing to n, names, ids ending in NUL, the digest's form); the contents
 * of the large arrays are not read here but bounds-checked where queries
 * use them, so a corrupt view gives wrong answers at worst, never a read
 * out of bounds or an endless loop.  CBP_OK; CBP_ECORRUPT (err says what
 * is inconsistent; release is not called); CBP_ENOMEM.
 */
int cbp_known_from_view(const struct cbp_known_view *v,
    void (*release)(void *arg), void *release_arg, struct cbp_known **out,
    struct cbp_error *err);

/* ---- helpers ---------------------------------------------------------------- */

/* Parse 64 hex digits (either case) into 32 bytes: CBP_OK or CBP_EINVAL. */
int cbp_known_parse_hex32(const char *hex, size_t len, uint8_t out[32]);

/* PDQ distance: differing bits, 0..256. */
int cbp_known_pdq_distance(const uint8_t a[32], const uint8_t b[32]);

#endif
