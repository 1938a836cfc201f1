/*
 * known_cache.c — the known-image index on disk (cbp_known_cache.h).
 *
 * Format (host byte order; the header says which, and a reader of another
 * order or word size rejects it):
 *
 *     header (struct kc_header): magic, version, byte-order tag, word
 *         sizes, header size, file size, the key, the counts, the digest,
 *         and a table of sections (offset, length in bytes);
 *     sections, each at a multiple of SEC_ALIGN (2 MiB for the large
 *         ones: they are read at random and may then be mapped with huge
 *         pages), the gaps left as holes: the entry arrays, the id arena,
 *         the SHA-256 table and its chains, the m offset tables and
 *         permutations, the lists (kc_list records), their names and the
 *         problems' file names (a string arena), and the problems
 *         (kc_prob records).
 *
 * Loading checks, before anything is used: the magic, version, byte order,
 * word and header sizes; that the file is as long as the header says; every
 * count within the index's limits (so no length computed from them can
 * overflow); that every section lies inside the file, is aligned, and is
 * exactly as long as its counts say; that strings end inside their arena.
 * cbp_known_from_view then checks the layout and lists.  The large arrays'
 * contents are not read at load (that would page in the whole file): the
 * queries bound every index they take from them (known.c).
 *
 * Hand-written rather than a serialisation library: the point is a layout
 * that is used in place by mmap, which no Debian library gives for these
 * arrays, and the format is a header and a table of (offset, length).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cbp_known_cache.h"
#include "cbp_trust.h"

#define KC_MAGIC "CBPKIDX\0"
#define KC_ENDIAN 0x01020304u
#define KC_WORD ((uint32_t)(sizeof(size_t) | sizeof(void *) << 8))
/* Every section starts at a multiple of this (the reader needs 8). */
#define SEC_ALIGN ((uint64_t)64)
/* Sections this large start at a 2 MiB boundary (huge pages). */
#define SEC_HUGE ((uint64_t)4 << 20)
#define HUGE_ALIGN ((uint64_t)2 << 20)

enum {
	S_PDQ, S_SHA, S_ID_OFF, S_LIST, S_FLAGS, S_IDS, S_SLOTS, S_SHA_NEXT,
	S_LISTS, S_STRINGS, S_PROBS,
	S_OFF0,
	S_PERM0 = S_OFF0 + CBP_KNOWN_MAX_CHUNKS,
	S_COUNT = S_PERM0 + CBP_KNOWN_MAX_CHUNKS
};

struct kc_sec {
	uint64_t off, len;	/* bytes */
};

struct kc_header {
	char magic[8];
	uint32_t version, endian, word, header_size;
	uint64_t file_size;
	uint8_t key[32];
	uint64_t n, npdq, nlists, ids_len, nslots, nprob, prob_total;
	uint32_t m, has_sha_next;
	char digest[72];	/* 64 hex digits, NUL-padded */
	struct kc_sec sec[S_COUNT];
};

struct kc_list {
	uint32_t name;		/* offset in the string arena */
	int32_t threshold;
	uint32_t count, pad;
};

struct kc_prob {
	uint64_t line;
	uint32_t file;		/* offset in the string arena */
	uint32_t column, kind, pad;
	char message[96];
};

/* ---- the key ------------------------------------------------------------------ */

struct keyctx {
	EVP_MD_CTX *md;
	struct timespec taken;
	int storable, ok;
	int (*check_fd)(void *, int, const char *, struct cbp_error *);
	void *check_arg;
};

static void
upd(struct keyctx *kc, const void *p, size_t len)
{
	if (kc->ok && EVP_DigestUpdate(kc->md, p, len) != 1)
		kc->ok = 0;
}

static int
not_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/* What the file system says about one file or directory. */
static void
stamp(struct keyctx *kc, const struct stat *st)
{
	uint64_t r[9];

	r[0] = (uint64_t)st->st_dev;
	r[1] = (uint64_t)st->st_ino;
	r[2] = (uint64_t)st->st_size;
	r[3] = (uint64_t)st->st_mode;
	r[4] = (uint64_t)st->st_mtim.tv_sec;
	r[5] = (uint64_t)st->st_mtim.tv_nsec;
	r[6] = (uint64_t)st->st_ctim.tv_sec;
	r[7] = (uint64_t)st->st_ctim.tv_nsec;
	r[8] = (uint64_t)st->st_uid << 32 | (uint64_t)st->st_gid;
	upd(kc, r, sizeof(r));
	/* A change within the same clock tick would keep this stamp. */
	if (not_before(&st->st_mtim, &kc->taken) ||
	    not_before(&st->st_ctim, &kc->taken))
		kc->storable = 0;
}

static int
check(struct keyctx *kc, int fd, const char *path, struct cbp_error *err)
{
	return kc->check_fd ? kc->check_fd(kc->check_arg, fd, path, err) :
	    CBP_OK;
}

/* One directory entry into the key, as known.c's add_dir takes it. */
static int
key_dir_entry(void *arg, int fd, int open_errno, const char *name,
    const char *path, struct cbp_error *err)
{
	struct keyctx *kc = arg;
	struct stat st;
	char mark;
	int r;

	upd(kc, name, strlen(name) + 1);
	if (fd < 0 && (open_errno == ELOOP || open_errno == ENXIO)) {
		mark = open_errno == ELOOP ? 'L' : 'X';	/* skipped */
		upd(kc, &mark, 1);
		return CBP_OK;
	}
	if (fd < 0)
		return cbp_error_set(err, CBP_EIO, open_errno, "%s: %s", path,
		    strerror(open_errno));
	if (fstat(fd, &st) != 0)
		return cbp_error_set(err, CBP_EIO, errno, "%s: %s", path,
		    strerror(errno));
	if (!S_ISREG(st.st_mode)) {
		mark = 'N';				/* skipped */
		upd(kc, &mark, 1);
		return CBP_OK;
	}
	if ((r = check(kc, fd, path, err)) != CBP_OK)
		return r;
	mark = 'F';
	upd(kc, &mark, 1);
	stamp(kc, &st);
	return CBP_OK;
}

/* A directory's entries, through the walk cbp_known_add_path uses. */
static int
key_dir(struct keyctx *kc, int dfd, const char *path, struct cbp_error *err)
{
	return cbp_known_dir_each(dfd, path, key_dir_entry, kc, err);
}

static int
key_path(struct keyctx *kc, const char *path, struct cbp_error *err)
{
	struct stat st;
	int fd, r = CBP_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return cbp_error_set(err, CBP_EIO, errno, "%s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0)
		r = cbp_error_set(err, CBP_EIO, errno, "%s: %s", path,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		r = cbp_error_set(err, CBP_EIO, 0, "%s: not a regular file or "
		    "directory", path);
	else if ((r = check(kc, fd, path, err)) == CBP_OK) {
		stamp(kc, &st);
		if (S_ISDIR(st.st_mode))
			r = key_dir(kc, fd, path, err);
	}
	close(fd);
	return r;
}

static void
hex(char *out, const uint8_t *b, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* SHA-256 of what names the cache file: the lists and their options. */
static int
name_hash(const struct cbp_known_cache_list *l, size_t n, unsigned chunks,
    uint8_t out[32])
{
	static const char tag[] = "cbpscan known-image cache name";
	struct keyctx kc = { .ok = 1 };
	unsigned len = 0;
	int32_t v[2];
	size_t i;

	if ((kc.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(kc.md, EVP_sha256(), NULL) != 1)
		kc.ok = 0;
	upd(&kc, tag, sizeof(tag));
	upd(&kc, &chunks, sizeof(chunks));
	for (i = 0; i < n; i++) {
		upd(&kc, l[i].path, strlen(l[i].path) + 1);
		v[0] = l[i].name != NULL;
		v[1] = l[i].threshold;
		upd(&kc, v, sizeof(v));
		if (l[i].name != NULL)
			upd(&kc, l[i].name, strlen(l[i].name) + 1);
	}
	if (kc.ok && (EVP_DigestFinal_ex(kc.md, out, &len) != 1 || len != 32))
		kc.ok = 0;
	EVP_MD_CTX_free(kc.md);
	return kc.ok ? CBP_OK : CBP_ENOMEM;
}

int
cbp_known_cache_key(const struct cbp_known_cache_list *l, size_t n,
    unsigned chunks,
    int (*check_fd)(void *arg, int fd, const char *path,
    struct cbp_error *err), void *check_arg,
    struct cbp_known_cache_key *key, struct cbp_error *err)
{
	static const char tag[] = "cbpscan known-image cache key";
	struct keyctx kc = { .ok = 1, .storable = 1, .check_fd = check_fd,
	    .check_arg = check_arg };
	uint32_t fmt[3] = { CBP_KNOWN_CACHE_VERSION, KC_ENDIAN, KC_WORD };
	uint8_t nh[32];
	unsigned len = 0;
	size_t i;
	int r;

	memset(key, 0, sizeof(*key));
	if (l == NULL || n == 0)
		return cbp_error_set(err, CBP_EINVAL, 0, "no lists");
	for (i = 0; i < n; i++)
		if (l[i].path == NULL)
			return cbp_error_set(err, CBP_EINVAL, 0, "bad argument");
	if (name_hash(l, n, chunks, nh) != CBP_OK)
		return cbp_error_set(err, CBP_ENOMEM, 0, "SHA-256 failed");
	/* The clock file times come from (coarse: it may lag the fine one,
	 * never lead it, so "older than taken" stays true). */
	clock_gettime(CLOCK_REALTIME_COARSE, &kc.taken);
	if ((kc.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(kc.md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(kc.md);
		return cbp_error_set(err, CBP_ENOMEM, 0, "SHA-256 failed");
	}
	upd(&kc, tag, sizeof(tag));
	upd(&kc, fmt, sizeof(fmt));
	upd(&kc, nh, sizeof(nh));
	r = CBP_OK;
	for (i = 0; i < n && r == CBP_OK; i++)
		r = key_path(&kc, l[i].path, err);
	if (r == CBP_OK && (!kc.ok ||
	    EVP_DigestFinal_ex(kc.md, key->key, &len) != 1 || len != 32))
		r = cbp_error_set(err, CBP_ENOMEM, 0, "SHA-256 failed");
	EVP_MD_CTX_free(kc.md);
	if (r != CBP_OK)
		return r;
	memcpy(key->file, "known-", 6);
	hex(key->file + 6, nh, 16);
	memcpy(key->file + 38, ".cache", 7);
	key->storable = kc.storable;
	return CBP_OK;
}

/* ---- writing ---------------------------------------------------------------------- */

struct wsec {
	const void *p;
	uint64_t len;
};

/* The strings of the lists and problems, and their records. */
struct meta {
	char *str;
	size_t len, cap;
	struct kc_list *lists;
	struct kc_prob *probs;
};

static int
add_str(struct meta *m, const char *s, uint32_t *at)
{
	size_t l = strlen(s) + 1;
	char *p;

	if (m->len + l > UINT32_MAX)
		return CBP_ELIMIT;
	if (m->len + l > m->cap) {
		m->cap = (m->len + l) * 2;
		if ((p = realloc(m->str, m->cap)) == NULL)
			return CBP_ENOMEM;
		m->str = p;
	}
	memcpy(m->str + m->len, s, l);
	*at = (uint32_t)m->len;
	m->len += l;
	return CBP_OK;
}

static int
make_meta(const struct cbp_known_view *v, struct meta *m)
{
	size_t i;
	int r;

	memset(m, 0, sizeof(*m));
	if ((m->lists = calloc(v->nlists ? v->nlists : 1,
	    sizeof(*m->lists))) == NULL ||
	    (m->probs = calloc(v->nprob ? v->nprob : 1,
	    sizeof(*m->probs))) == NULL)
		return CBP_ENOMEM;
	for (i = 0; i < v->nlists; i++) {
		if ((r = add_str(m, v->lists[i].name, &m->lists[i].name)) !=
		    CBP_OK)
			return r;
		m->lists[i].threshold = v->lists[i].threshold;
		m->lists[i].count = v->lists[i].count;
	}
	for (i = 0; i < v->nprob; i++) {
		if ((r = add_str(m, v->prob[i].file, &m->probs[i].file)) !=
		    CBP_OK)
			return r;
		m->probs[i].line = v->prob[i].line;
		m->probs[i].column = v->prob[i].column;
		m->probs[i].kind = (uint32_t)v->prob[i].kind;
		memcpy(m->probs[i].message, v->prob[i].message,
		    sizeof(m->probs[i].message));
	}
	return add_str(m, "", &(uint32_t){ 0 });	/* never empty */
}

static void
free_meta(struct meta *m)
{
	free(m->str);
	free(m->lists);
	free(m->probs);
}

static int
pwrite_all(int fd, const void *p, uint64_t len, uint64_t off)
{
	const char *c = p;
	ssize_t w;

	while (len > 0) {
		w = pwrite(fd, c, len > ((size_t)1 << 30) ? (size_t)1 << 30 :
		    (size_t)len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		len -= (uint64_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static uint64_t
align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Where a section of len bytes goes after offset at (sections are laid
 * out in the order of their numbers; the reader checks exactly this). */
static uint64_t
place(uint64_t at, uint64_t len)
{
	return align_up(at, len >= SEC_HUGE ? HUGE_ALIGN : SEC_ALIGN);
}

int
cbp_known_cache_write_fd(int fd, const uint8_t key[32],
    const struct cbp_known *k, struct cbp_error *err)
{
	struct cbp_known_view v;
	struct kc_header *h = NULL;
	struct wsec s[S_COUNT];
	struct meta m = { 0 };
	uint64_t at;
	unsigned c;
	int i, r;

	if (cbp_known_view(k, &v) != CBP_OK)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (r = make_meta(&v, &m)) == CBP_ENOMEM) {
		r = cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
		goto out;
	}
	if (r != CBP_OK) {
		r = cbp_error_set(err, r, 0, "list names too long");
		goto out;
	}
	memset(s, 0, sizeof(s));
	s[S_PDQ] = (struct wsec){ v.pdq, v.n * sizeof(*v.pdq) };
	s[S_SHA] = (struct wsec){ v.sha, v.n * sizeof(*v.sha) };
	s[S_ID_OFF] = (struct wsec){ v.id_off, v.n * sizeof(*v.id_off) };
	s[S_LIST] = (struct wsec){ v.list, v.n * sizeof(*v.list) };
	s[S_FLAGS] = (struct wsec){ v.flags, v.n * sizeof(*v.flags) };
	s[S_IDS] = (struct wsec){ v.ids, v.ids_len };
	s[S_SLOTS] = (struct wsec){ v.slots, v.nslots * sizeof(*v.slots) };
	if (v.sha_next != NULL)
		s[S_SHA_NEXT] = (struct wsec){ v.sha_next,
		    v.n * sizeof(*v.sha_next) };
	s[S_LISTS] = (struct wsec){ m.lists, v.nlists * sizeof(*m.lists) };
	s[S_STRINGS] = (struct wsec){ m.str, m.len };
	s[S_PROBS] = (struct wsec){ m.probs, v.nprob * sizeof(*m.probs) };
	for (c = 0; c < v.m; c++) {
		s[S_OFF0 + c] = (struct wsec){ v.off[c],
		    (((uint64_t)1 << v.bits[c]) + 1) * sizeof(uint32_t) };
		s[S_PERM0 + c] = (struct wsec){ v.perm[c],
		    v.npdq * sizeof(uint32_t) };
	}
	memcpy(h->magic, KC_MAGIC, 8);
	h->version = CBP_KNOWN_CACHE_VERSION;
	h->endian = KC_ENDIAN;
	h->word = KC_WORD;
	h->header_size = sizeof(*h);
	memcpy(h->key, key, 32);
	h->n = v.n;
	h->npdq = v.npdq;
	h->nlists = v.nlists;
	h->ids_len = v.ids_len;
	h->nslots = v.nslots;
	h->nprob = v.nprob;
	h->prob_total = v.prob_total;
	h->m = v.m;
	h->has_sha_next = v.sha_next != NULL;
	memcpy(h->digest, v.digest, 65);
	at = sizeof(*h);
	for (i = 0; i < S_COUNT; i++) {
		if (s[i].len == 0)
			continue;
		at = place(at, s[i].len);
		h->sec[i].off = at;
		h->sec[i].len = s[i].len;
		at += s[i].len;
	}
	h->file_size = at;
	/* The gaps are holes: extend first, then write each section. */
	if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)at) != 0 ||
	    pwrite_all(fd, h, sizeof(*h), 0) != 0)
		goto io;
	for (i = 0; i < S_COUNT; i++)
		if (s[i].len > 0 &&
		    pwrite_all(fd, s[i].p, s[i].len, h->sec[i].off) != 0)
			goto io;
	r = CBP_OK;
	goto out;
io:
	r = cbp_error_set(err, CBP_EIO, errno, "writing the known-image "
	    "cache: %s", strerror(errno));
out:
	free_meta(&m);
	free(h);
	cbp_known_view_free(&v);
	return r;
}

/*
 * The file being written has no name until it is complete (O_TMPFILE): a
 * run killed half-way through writing 2 GB leaves nothing behind.  Then
 * it gets a temporary name (linkat cannot replace a name) and is renamed
 * over the cache, so a reader sees the old file or the new one, whole.
 * A file system without O_TMPFILE gets a named temporary file instead.
 */
static int
open_unnamed(int dirfd, const char *tmp, int *named)
{
	int fd;

	*named = 0;
	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	*named = 1;
	(void)unlinkat(dirfd, tmp, 0);
	return openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
}

/* Give the unnamed file open on fd the name tmp in dirfd. */
static int
name_it(int fd, int dirfd, const char *tmp)
{
	char proc[64];

	(void)unlinkat(dirfd, tmp, 0);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, tmp, AT_SYMLINK_FOLLOW);
}

int
cbp_known_cache_store(int dirfd, const struct cbp_known_cache_key *key,
    const struct cbp_known *k, struct cbp_error *err)
{
	char tmp[96];
	int fd, r, named;

	if (!key->storable)
		return cbp_error_set(err, CBP_ECHANGED, 0, "a known-image list "
		    "changed moments ago; not cached this time");
	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", key->file, (long)getpid());
	if ((fd = open_unnamed(dirfd, tmp, &named)) < 0)
		return cbp_error_set(err, CBP_EIO, errno, "creating the "
		    "known-image cache: %s", strerror(errno));
	r = cbp_known_cache_write_fd(fd, key->key, k, err);
	if (r == CBP_OK && fsync(fd) != 0)
		r = cbp_error_set(err, CBP_EIO, errno, "writing the known-image "
		    "cache: %s", strerror(errno));
	if (r == CBP_OK && !named) {
		if (name_it(fd, dirfd, tmp) != 0)
			r = cbp_error_set(err, CBP_EIO, errno, "naming the "
			    "known-image cache: %s", strerror(errno));
		else
			named = 1;
	}
	if (close(fd) != 0 && r == CBP_OK)
		r = cbp_error_set(err, CBP_EIO, errno, "writing the known-image "
		    "cache: %s", strerror(errno));
	/* Replaces the previous cache for these lists (a stale one) whole;
	 * a scan that has it mapped keeps its inode. */
	if (r == CBP_OK && renameat(dirfd, tmp, dirfd, key->file) != 0)
		r = cbp_error_set(err, CBP_EIO, errno, "installing the "
		    "known-image cache: %s", strerror(errno));
	if (r != CBP_OK) {
		if (named)
			(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	(void)fsync(dirfd);
	return CBP_OK;
}

/* ---- reading ---------------------------------------------------------------------- */

struct kc_map {
	void *p;
	size_t len;
};

static void
unmap(void *arg)
{
	struct kc_map *m = arg;

	munmap(m->p, m->len);
	free(m);
}

/*
 * Section i of the mapped file, of exactly want bytes (0: absent).  The
 * offsets are not taken on trust either: each must be exactly where the
 * writer puts it after the sections before (*at, advanced here), so a
 * damaged offset cannot make a table overlap another (wrong answers).
 */
static const void *
sec(const struct kc_header *h, const uint8_t *base, int i, uint64_t want,
    uint64_t *at, int *bad)
{
	const struct kc_sec *s = &h->sec[i];

	if (s->len != want) {
		*bad = 1;
		return NULL;
	}
	if (want == 0) {
		if (s->off != 0)
			*bad = 1;
		return NULL;
	}
	if (s->off != place(*at, want) || s->off > h->file_size ||
	    s->len > h->file_size - s->off) {
		*bad = 1;
		return NULL;
	}
	*at = s->off + s->len;
	return base + s->off;
}

/* The counts first: every length below is computed from them. */
static int
header_check(const struct kc_header *h, size_t size, const uint8_t key[32],
    struct cbp_error *err)
{
#define BAD(...) return cbp_error_set(err, CBP_ECORRUPT, 0, __VA_ARGS__)
	if (memcmp(h->magic, KC_MAGIC, 8) != 0)
		BAD("not a known-image cache");
	if (h->version != CBP_KNOWN_CACHE_VERSION || h->endian != KC_ENDIAN ||
	    h->word != KC_WORD || h->header_size != sizeof(*h))
		return cbp_error_set(err, CBP_ENOTFOUND, 0, "written by "
		    "another version or machine");
	if (h->file_size != size)
		return cbp_error_set(err, CBP_ETRUNC, 0, "size %zu, header "
		    "says %llu", size, (unsigned long long)h->file_size);
	if (memcmp(h->key, key, 32) != 0)
		return cbp_error_set(err, CBP_ENOTFOUND, 0, "stale: the lists "
		    "changed");
	if (h->n > CBP_KNOWN_MAX_ENTRIES || h->npdq > h->n ||
	    h->nlists > CBP_KNOWN_MAX_LISTS ||
	    h->nprob > CBP_KNOWN_PROBLEMS_KEPT || h->ids_len > UINT32_MAX ||
	    h->nslots > ((uint64_t)1 << 32) || h->m > CBP_KNOWN_MAX_CHUNKS ||
	    h->m == 0 || h->has_sha_next > 1 ||
	    memchr(h->digest, '\0', sizeof(h->digest)) == NULL)
		BAD("counts out of range");
#undef BAD
	return CBP_OK;
}

/* The lists and problems from their records; strings checked to end in
 * the arena (which ends in NUL). */
static int
read_meta(const struct kc_header *h, const struct kc_list *kl,
    const struct kc_prob *kp, const char *str, uint64_t slen,
    struct cbp_known_view_list *l, struct cbp_known_problem *p)
{
	size_t i;

	if (slen == 0 || str[slen - 1] != '\0')
		return CBP_ECORRUPT;
	for (i = 0; i < h->nlists; i++) {
		if (kl[i].name >= slen)
			return CBP_ECORRUPT;
		l[i].name = str + kl[i].name;
		l[i].threshold = kl[i].threshold;
		l[i].count = kl[i].count;
	}
	for (i = 0; i < h->nprob; i++) {
		if (kp[i].file >= slen)
			return CBP_ECORRUPT;
		memset(&p[i], 0, sizeof(p[i]));
		p[i].file = str + kp[i].file;
		p[i].line = kp[i].line;
		p[i].column = kp[i].column;
		p[i].kind = (enum cbp_known_problem_kind)kp[i].kind;
		memcpy(p[i].message, kp[i].message, sizeof(p[i].message));
	}
	return CBP_OK;
}

/* Check the mapped file and make the index over it. */
static int
parse_map(const uint8_t *base, size_t size, const uint8_t key[32],
    struct kc_map *map, struct cbp_known **out, struct cbp_error *err)
{
	const struct kc_header *h = (const void *)base;
	struct cbp_known_view_list l[1];
	struct cbp_known_view_list *lists = l;
	struct cbp_known_problem prob[CBP_KNOWN_PROBLEMS_KEPT];
	struct cbp_known_view v;
	const struct kc_list *kl;
	const struct kc_prob *kp;
	const char *str;
	uint64_t at = sizeof(*h);
	unsigned c;
	int bad = 0, r;

	if (size < sizeof(*h))
		return cbp_error_set(err, CBP_ETRUNC, 0, "shorter than its "
		    "header");
	if ((r = header_check(h, size, key, err)) != CBP_OK)
		return r;
	memset(&v, 0, sizeof(v));
	v.n = h->n;
	v.npdq = h->npdq;
	v.nlists = h->nlists;
	v.ids_len = h->ids_len;
	v.nslots = h->nslots;
	v.m = h->m;
	v.nprob = h->nprob;
	v.prob_total = h->prob_total;
	memcpy(v.digest, h->digest, 65);
	v.pdq = sec(h, base, S_PDQ, v.n * sizeof(*v.pdq), &at, &bad);
	v.sha = sec(h, base, S_SHA, v.n * sizeof(*v.sha), &at, &bad);
	v.id_off = sec(h, base, S_ID_OFF, v.n * sizeof(*v.id_off), &at, &bad);
	v.list = sec(h, base, S_LIST, v.n * sizeof(*v.list), &at, &bad);
	v.flags = sec(h, base, S_FLAGS, v.n * sizeof(*v.flags), &at, &bad);
	v.ids = sec(h, base, S_IDS, v.ids_len, &at, &bad);
	v.slots = sec(h, base, S_SLOTS, v.nslots * sizeof(*v.slots), &at, &bad);
	v.sha_next = sec(h, base, S_SHA_NEXT, h->has_sha_next ?
	    v.n * sizeof(*v.sha_next) : 0, &at, &bad);
	/* In the order of the section numbers (see place). */
	kl = sec(h, base, S_LISTS, v.nlists * sizeof(*kl), &at, &bad);
	str = sec(h, base, S_STRINGS, h->sec[S_STRINGS].len, &at, &bad);
	kp = sec(h, base, S_PROBS, v.nprob * sizeof(*kp), &at, &bad);
	for (c = 0; c < CBP_KNOWN_MAX_CHUNKS; c++) {
		if (c < v.m)
			v.bits[c] = 256 / v.m + (c < 256 % v.m);
		v.off[c] = sec(h, base, S_OFF0 + c, c < v.m ?
		    (((uint64_t)1 << v.bits[c]) + 1) * sizeof(uint32_t) : 0,
		    &at, &bad);
	}
	for (c = 0; c < CBP_KNOWN_MAX_CHUNKS; c++) {
		v.perm[c] = sec(h, base, S_PERM0 + c, c < v.m ?
		    v.npdq * sizeof(uint32_t) : 0, &at, &bad);
	}
	if (bad || at != h->file_size)
		return cbp_error_set(err, CBP_ECORRUPT, 0, "a table lies "
		    "outside the file, out of place, or has the wrong length");
	if (v.nlists > 0 &&
	    (lists = calloc(v.nlists, sizeof(*lists))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	if (read_meta(h, kl, kp, str, h->sec[S_STRINGS].len, lists, prob) !=
	    CBP_OK) {
		r = cbp_error_set(err, CBP_ECORRUPT, 0, "a name lies outside "
		    "the string table");
		goto out;
	}
	v.lists = lists;
	v.prob = prob;
	r = cbp_known_from_view(&v, map ? unmap : NULL, map, out, err);
out:
	if (lists != l)
		free(lists);
	return r;
}

int
cbp_known_cache_load_fd(int fd, const uint8_t key[32],
    struct cbp_known **out, struct cbp_error *err)
{
	struct kc_map *map;
	struct stat st;
	void *p;
	int r;

	*out = NULL;
	if (fstat(fd, &st) != 0)
		return cbp_error_set(err, CBP_EIO, errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cbp_error_set(err, CBP_ECORRUPT, 0, "not a regular file");
	if ((uint64_t)st.st_size < sizeof(struct kc_header))
		return cbp_error_set(err, CBP_ETRUNC, 0, "shorter than its "
		    "header");
	if ((uint64_t)st.st_size > SIZE_MAX)
		return cbp_error_set(err, CBP_ECORRUPT, 0, "too large");
	if ((map = calloc(1, sizeof(*map))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		free(map);
		return cbp_error_set(err, CBP_EIO, errno, "mmap: %s",
		    strerror(errno));
	}
	map->p = p;
	map->len = (size_t)st.st_size;
	/* Queries read the tables at random: huge pages where the file
	 * system gives large folios (advice only). */
	(void)madvise(p, map->len, MADV_HUGEPAGE);
	if ((r = parse_map(p, map->len, key, map, out, err)) != CBP_OK)
		unmap(map);
	return r;
}

int
cbp_known_cache_load(int dirfd, const struct cbp_known_cache_key *key,
    struct cbp_known **out, struct cbp_error *err)
{
	struct cbp_error e = { 0 };
	struct stat st;
	int fd, r;

	*out = NULL;
	fd = openat(dirfd, key->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return cbp_error_set(err, CBP_ENOTFOUND, 0, "%s: none",
		    key->file);
	if (fd < 0)
		return cbp_error_set(err, CBP_EIO, errno, "%s: %s", key->file,
		    strerror(errno));
	/*
	 * The cache decides what is reported as much as the lists do: only
	 * this user may have written it (the state directory is checked the
	 * same way by cbp_state_open; as root cbp_trust checks the rest).
	 */
	if (fstat(fd, &st) != 0)
		r = cbp_error_set(err, CBP_EIO, errno, "%s: %s", key->file,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		r = cbp_error_set(err, CBP_EPERM, 0, "%s: refused: not a "
		    "regular file of this user writable by nobody else",
		    key->file);
	else if ((r = cbp_trust_check_fd(fd, key->file, &e)) != CBP_OK)
		r = cbp_error_set(err, r, e.sys_errno, "%s", e.message);
	else if ((r = cbp_known_cache_load_fd(fd, key->key, out, &e)) !=
	    CBP_OK)
		r = cbp_error_set(err, r, e.sys_errno, "%s: %s", key->file,
		    e.message);
	close(fd);
	return r;
}
