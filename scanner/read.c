/*
 * read.c — open files safely and read them head-first.
 *
 * The walk hands us a directory fd and a name.  We open relative to that fd
 * with O_NOFOLLOW (a symlink swapped in after readdir is refused, not
 * followed), O_NONBLOCK (a FIFO or device swapped in cannot block the open)
 * and O_NOATIME (auditing must not change access times; the kernel allows
 * it only to the owner or CAP_FOWNER, so EPERM retries without it), then
 * fstat the fd and scan only regular files.
 *
 * All reads are pread() at explicit offsets, so nothing depends on the fd's
 * file position.  A file that returns fewer bytes than fstat promised has
 * shrunk (or is being rewritten) while we read it: that is an "io" problem,
 * reported, never a silent partial scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cbp_limits.h"
#include "cbp_object.h"

void
cbp_object_init(struct cbp_object *o)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->mtime = CBP_MTIME_UNKNOWN;
	cbp_dynbuf_init(&o->load_store, 0);
}

void
cbp_object_release(struct cbp_object *o)
{
	free(o->head_store);
	o->head_store = NULL;
	cbp_dynbuf_free(&o->load_store);
	o->head = NULL;
	o->head_len = 0;
	o->data = NULL;
	o->data_len = 0;
	o->data_complete = 0;
}

int
cbp_read_open(int dirfd, const char *name, int *fdp, struct stat *st,
    struct cbp_error *err)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	int fd;

	*fdp = -1;
	fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM)
			return cbp_error_set(err, CBP_EPERM, errno,
			    "cannot open: %s", strerror(errno));
		if (errno == ELOOP || errno == ENXIO || errno == ENODEV)
			return CBP_EUNSUPPORTED;	/* now a symlink, socket or device */
		return cbp_error_set(err, CBP_EIO, errno, "cannot open: %s",
		    strerror(errno));
	}
	if (fstat(fd, st) != 0) {
		int e = errno;
		close(fd);
		return cbp_error_set(err, CBP_EIO, e, "cannot stat: %s",
		    strerror(e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return CBP_EUNSUPPORTED;
	}
	*fdp = fd;
	return CBP_OK;
}

/* Read exactly len bytes at off unless EOF comes first; *got says how many. */
static int
pread_full(int fd, unsigned char *buf, size_t len, uint64_t off, size_t *got,
    struct cbp_error *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)	/* O_NONBLOCK on a regular file: retry */
				continue;
			*got = done;
			return cbp_error_set(err, CBP_EIO, errno,
			    "read error at offset %llu: %s",
			    (unsigned long long)(off + done), strerror(errno));
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return CBP_OK;
}

int
cbp_read_at(struct cbp_object *o, uint64_t off, void *buf, size_t len,
    size_t *got, struct cbp_error *err)
{
	*got = 0;
	if (o->fd >= 0)
		return pread_full(o->fd, buf, len, off, got, err);
	if (off >= o->mem_len)
		return CBP_OK;
	if (len > o->mem_len - off)
		len = o->mem_len - (size_t)off;
	memcpy(buf, o->mem + off, len);
	*got = len;
	return CBP_OK;
}

static size_t
want_bytes(const struct cbp_object *o, size_t cap)
{
	return o->size < cap ? (size_t)o->size : cap;
}

int
cbp_read_head(struct cbp_object *o, size_t cap, struct cbp_error *err)
{
	size_t want, got;
	int r;

	if (o->fd < 0) {
		o->head = o->mem;
		o->head_len = o->mem_len < cap ? o->mem_len : cap;
		return CBP_OK;
	}
	want = want_bytes(o, cap);
	if (o->head_store == NULL && (o->head_store = malloc(cap ? cap : 1)) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
	if ((r = pread_full(o->fd, o->head_store, want, 0, &got, err)) != CBP_OK)
		return r;
	o->head = o->head_store;
	o->head_len = got;
	if (got < want)
		return cbp_error_set(err, CBP_EIO, 0,
		    "file shrank while being read (%zu of %zu bytes)", got, want);
	return CBP_OK;
}

int
cbp_read_load(struct cbp_object *o, size_t cap, struct cbp_error *err)
{
	size_t want, got;
	int r;

	want = want_bytes(o, cap);
	if (o->fd < 0) {
		o->data = o->mem;
		o->data_len = o->mem_len < want ? o->mem_len : want;
		o->data_complete = !o->mem_partial && o->data_len == o->size;
		return CBP_OK;
	}
	if (o->data != NULL && o->data_len >= want)
		return CBP_OK;
	/* Reuse the head when it already holds everything wanted. */
	if (o->head != NULL && o->head_len >= want) {
		o->data = o->head;
		o->data_len = want;
		o->data_complete = want == o->size;
		return CBP_OK;
	}
	o->load_store.cap = want;
	if (cbp_dynbuf_reserve(&o->load_store, want) != CBP_OK)
		return cbp_error_set(err, CBP_ENOMEM, 0,
		    "out of memory loading %zu bytes", want);
	if ((r = pread_full(o->fd, o->load_store.data, want, 0, &got, err)) != CBP_OK)
		return r;
	o->load_store.len = got;
	o->load_store.data[got] = '\0';
	o->data = o->load_store.data;
	o->data_len = got;
	o->data_complete = got == o->size;
	if (got < want)
		return cbp_error_set(err, CBP_EIO, 0,
		    "file shrank while being read (%zu of %zu bytes)", got, want);
	return CBP_OK;
}

/* ---- windows ------------------------------------------------------------ */

/*
 * Carving reads every byte of every file, so how it reads matters.  Measured
 * on the benchmark tree (146k files, 6 GB, warm cache, 2 threads): reading
 * into one reused 256 KiB buffer, which stays in cache, cost 0.9 s over a
 * scan without carving; mapping 8 MiB windows (MAP_POPULATE) cost 1.7 s
 * (page-table work), and 8 MiB malloc'd windows more (fresh pages zeroed
 * per file).
 */
int
cbp_read_windows(struct cbp_object *o, uint64_t limit, size_t window,
    size_t overlap, struct cbp_dynbuf *scratch, cbp_window_fn fn, void *arg,
    struct cbp_error *err)
{
	uint64_t base = 0, pos;
	size_t have = 0, want, got, n;
	int r, stop;

	if (limit > o->size)
		limit = o->size;
	if (o->fd < 0)
		return fn(arg, o->mem, limit < o->mem_len ? (size_t)limit : o->mem_len, 0);
	if (o->data != NULL && (o->data_complete || o->data_len >= limit))
		return fn(arg, o->data, limit < o->data_len ? (size_t)limit : o->data_len, 0);
	if (o->head != NULL && o->head_len >= limit)	/* small file: the head is all of it */
		return fn(arg, o->head, (size_t)limit, 0);
	if (window <= overlap)
		return CBP_EINVAL;
	if (cbp_dynbuf_reserve(scratch, window) != CBP_OK)
		return cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
	/*
	 * Every byte is read once: the head already read starts the first
	 * window, and each next window starts with the last `overlap` bytes
	 * of the one before, moved down rather than read again.
	 */
	if (o->head != NULL && o->head_len > 0) {
		have = o->head_len < window ? o->head_len : window;
		memcpy(scratch->data, o->head, have);
	}
	pos = have;
	for (;;) {
		want = window - have;
		if (want > limit - pos)
			want = (size_t)(limit - pos);
		if ((r = pread_full(o->fd, scratch->data + have, want, pos, &got,
		    err)) != CBP_OK)
			return r;
		if (got < want)
			return cbp_error_set(err, CBP_EIO, 0,
			    "file shrank while being read (at offset %llu)",
			    (unsigned long long)(pos + got));
		n = have + got;
		if ((stop = fn(arg, scratch->data, n, base)) != 0)
			return stop;
		pos += got;
		if (pos >= limit)
			break;
		memmove(scratch->data, scratch->data + n - overlap, overlap);
		base += n - overlap;
		have = overlap;
	}
	return CBP_OK;
}

static int
hash_cancelled(const volatile int *cancel)
{
	return cancel != NULL && __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0;
}

/* Bytes already in memory, in the same chunks as a file: *off advances. */
static int
hash_mem(EVP_MD_CTX *ctx, const unsigned char *p, uint64_t len,
    const volatile int *cancel, uint64_t *off)
{
	while (*off < len && !hash_cancelled(cancel)) {
		size_t n = len - *off < CBP_HASH_CHUNK ? (size_t)(len - *off) :
		    CBP_HASH_CHUNK;

		if (EVP_DigestUpdate(ctx, p + *off, n) != 1)
			return CBP_EIO;
		*off += n;
	}
	return CBP_OK;
}

/*
 * The bytes hashed are the object as it was when opened, no further than
 * max: o->size (fstat at open, or a member's real length) bounds a file
 * that keeps growing while it is read, max bounds a huge or sparse one,
 * and a member held only in part (cut at member_max) is hashed as far as
 * it is held.  Whatever falls short of the object's size is partial, and
 * so is a hash stopped by *cancel between chunks: the caller marks the
 * finding.  Files are read in CBP_HASH_CHUNK pieces; bytes already in
 * memory (head, loaded content) are hashed in place.
 */
int
cbp_read_sha256(struct cbp_object *o, uint64_t max, const volatile int *cancel,
    unsigned char digest[32], struct cbp_hash_extent *ext,
    struct cbp_error *err)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	unsigned int dlen = 0;
	uint64_t off = 0, limit;
	size_t got, want;
	int r = CBP_ENOMEM;

	ext->bytes = 0;
	ext->partial = 0;
	limit = o->fd < 0 ? o->mem_len : o->size;
	if (max > 0 && limit > max)
		limit = max;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = cbp_error_set(err, CBP_ENOMEM, 0, "out of memory for SHA-256");
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = cbp_error_set(err, CBP_EIO, 0, "SHA-256 unavailable");
		goto out;
	}
	if (o->fd < 0) {
		if (hash_mem(ctx, o->mem, limit, cancel, &off) != CBP_OK)
			goto digest_failed;
	} else if (o->data != NULL && o->data_len >= limit) {
		if (hash_mem(ctx, o->data, limit, cancel, &off) != CBP_OK)
			goto digest_failed;
	} else if (o->head != NULL && o->head_len >= limit) {
		if (hash_mem(ctx, o->head, limit, cancel, &off) != CBP_OK)
			goto digest_failed;
	} else {
		if ((buf = malloc(CBP_HASH_CHUNK)) == NULL) {
			r = cbp_error_set(err, CBP_ENOMEM, 0,
			    "out of memory for SHA-256");
			goto out;
		}
		while (off < limit && !hash_cancelled(cancel)) {
			want = limit - off < CBP_HASH_CHUNK ?
			    (size_t)(limit - off) : CBP_HASH_CHUNK;
			if ((r = pread_full(o->fd, buf, want, off, &got,
			    err)) != CBP_OK)
				goto out;
			if (got < want) {
				r = cbp_error_set(err, CBP_EIO, 0,
				    "file shrank while being hashed (%llu of "
				    "%llu bytes)", (unsigned long long)(off + got),
				    (unsigned long long)o->size);
				goto out;
			}
			if (EVP_DigestUpdate(ctx, buf, got) != 1)
				goto digest_failed;
			off += got;
		}
	}
	if (EVP_DigestFinal_ex(ctx, digest, &dlen) != 1)
		goto digest_failed;
	ext->bytes = off;
	ext->partial = off < o->size || (o->fd < 0 && o->mem_partial);
	r = CBP_OK;
	goto out;
digest_failed:
	r = cbp_error_set(err, CBP_EIO, 0, "SHA-256 failed");
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}
