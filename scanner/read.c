/*
 * read.c — open files safely and read them head-first.
 *
 * Opening.  The walk hands us a directory fd, a name, and what readdir saw
 * there (type, inode).  Between readdir and open a hostile user can swap
 * the name (rename, RENAME_EXCHANGE) for a symlink, a FIFO, a device or
 * another file.  Opening such a name for reading would follow the link, or
 * call a device driver's open (a tape rewinds, a watchdog arms) with our
 * privileges.  So a name is first opened with O_PATH|O_NOFOLLOW, which
 * calls no driver, cannot block on a FIFO and does not follow the link;
 * fstat says what it is now.  Only when that is still the type (and inode)
 * the walk listed is the very same inode opened for reading, through the
 * O_PATH descriptor ("/proc/self/fd/N", a reopen of the inode the
 * descriptor holds, not a second lookup of the name), and fstat'd again to
 * confirm.  Anything else is CBP_ECHANGED ("changed"), a name that is gone
 * CBP_ENOTFOUND (vanished, normal on a busy host).
 *
 * That reopen costs 4 us a file (a third of a small file's whole scan), and
 * only guards against a swap by someone who may write the directory.  When
 * the walk says nobody but root or the scanning user can (want->direct:
 * the directory is theirs and not writable by group or others, as in
 * /usr or /etc), the name is opened once, O_NOFOLLOW|O_NONBLOCK, and the
 * same checks run on that descriptor: nothing but the owner could have
 * put a device or a FIFO there.  Measured on a copy of /usr/share (57k
 * files): plain open 5.7 us a file with its read, O_PATH and reopen 9.7.
 *
 * Without a usable /proc (a chroot or a container without it), the name is
 * opened a second time with O_NOFOLLOW|O_NONBLOCK and the result compared
 * with the O_PATH descriptor: a swap is still reported as "changed", but
 * in the window between the two opens a device node could be opened.
 * Mount /proc to close it (see cbpscan(1), SECURITY CONSIDERATIONS).
 *
 * O_NOATIME: auditing must not change access times; the kernel allows it
 * only to the owner or CAP_FOWNER, so EPERM retries without it.
 *
 * All reads are pread() at explicit offsets, so nothing depends on the fd's
 * file position.  A file that returns fewer bytes than fstat promised has
 * shrunk (or is being rewritten) while we read it: that is an "io" problem,
 * reported, never a silent partial scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cbp_limits.h"
#include "cbp_object.h"
#include "cbp_walk.h"

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

/* ---- opening ------------------------------------------------------------ */

/*
 * "/proc/self/fd" opened once (O_PATH), so a reopen is one openat of a
 * number relative to it instead of a lookup of /proc, self and fd per file
 * (1 us of the 4 us a reopen costs).  Checked to be procfs, so nothing
 * mounted or planted there can stand in for it.  A forked child would still
 * hold the parent's fd directory: the child handler forgets it.
 */
static pthread_mutex_t proc_mu = PTHREAD_MUTEX_INITIALIZER;
static int proc_state;		/* 0 not tried yet, 1 proc_fd usable, -1 no /proc */
static int proc_fd = -1;

static void
proc_forget(void)
{
	if (proc_fd >= 0)
		close(proc_fd);
	proc_fd = -1;
	proc_state = 0;
}

static int
proc_fd_dir(void)
{
	static int registered;
	struct statfs sfs;
	int fd;

	if (__atomic_load_n(&proc_state, __ATOMIC_ACQUIRE) != 0)
		return proc_fd;
	pthread_mutex_lock(&proc_mu);
	if (proc_state == 0) {
		if (!registered && pthread_atfork(NULL, NULL, proc_forget) == 0)
			registered = 1;
		fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && (fstatfs(fd, &sfs) != 0 ||
		    (unsigned long)sfs.f_type != PROC_SUPER_MAGIC)) {
			close(fd);
			fd = -1;
		}
		proc_fd = fd;
		__atomic_store_n(&proc_state, fd >= 0 ? 1 : -1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&proc_mu);
	return proc_fd;
}

/* Open for reading the inode the O_PATH descriptor pfd holds. */
static int
reopen(int pfd, int dirfd, const char *name, int flags)
{
	char num[16];
	int dir = proc_fd_dir(), fd;

	if (dir >= 0) {
		/* The magic link is the point: following it, not O_NOFOLLOW. */
		flags &= ~O_NOFOLLOW;
		snprintf(num, sizeof(num), "%d", pfd);
		fd = openat(dir, num, flags | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = openat(dir, num, flags);
		return fd;
	}
	/* No /proc: by name again; the caller compares dev/ino (see above). */
	fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	return fd;
}

static const char *
type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFLNK:
		return "a symbolic link";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	default:
		return "of an unknown type";
	}
}

static int
open_failed(int e, struct cbp_error *err)
{
	if (e == EACCES || e == EPERM)
		return cbp_error_set(err, CBP_EPERM, e, "cannot open: %s",
		    strerror(e));
	if (e == ENOENT)
		return cbp_error_set(err, CBP_ENOTFOUND, e,
		    "vanished before it could be opened: %s", strerror(e));
	if (e == ENOMEM)
		return cbp_error_set(err, CBP_ENOMEM, e, "cannot open: %s",
		    strerror(e));
	return cbp_error_set(err, CBP_EIO, e, "cannot open: %s", strerror(e));
}

/* Is st (of fd) still what the walk saw (want)?  CBP_OK or CBP_ECHANGED. */
static int
same_object(int fd, const struct stat *st, const struct cbp_open_want *want,
    struct cbp_error *err)
{
	if ((st->st_mode & S_IFMT) != (want->type & S_IFMT))
		return cbp_error_set(err, CBP_ECHANGED, 0,
		    "was %s when listed, %s when opened: not opened",
		    type_name(want->type), type_name(st->st_mode));
	/*
	 * Below a root the inode is compared only on the directory's own
	 * device, and not at a mount root: a file mounted over a name shows
	 * an inode readdir does not (the covered one's), while a rename (the
	 * attack) neither crosses devices nor makes a mount.
	 */
	if (want->ino != 0 && (want->root ? (st->st_dev != want->dev ||
	    st->st_ino != want->ino) : (st->st_dev == want->dev &&
	    st->st_ino != want->ino && !cbp_walk_mount_root(fd))))
		return cbp_error_set(err, CBP_ECHANGED, 0,
		    "replaced by another file (inode %llu, listed as %llu): "
		    "not scanned", (unsigned long long)st->st_ino,
		    (unsigned long long)want->ino);
	return CBP_OK;
}

/*
 * One open where nobody else can swap the name (see the top): the same
 * checks as the O_PATH route, on the descriptor itself.
 */
static int
open_direct(int dirfd, const char *name, const struct cbp_open_want *want,
    int flags, int *fdp, struct stat *st, struct cbp_error *err)
{
	int fd, r;

	fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	if (fd < 0) {
		/* A symlink (O_NOFOLLOW) or a socket now: not what was listed. */
		if (errno == ELOOP || errno == ENXIO)
			return cbp_error_set(err, CBP_ECHANGED, errno,
			    "was %s when listed, not when opened: not scanned",
			    type_name(want->type));
		return open_failed(errno, err);
	}
	if (fstat(fd, st) != 0)
		r = cbp_error_set(err, CBP_EIO, errno, "cannot stat: %s",
		    strerror(errno));
	else if ((r = same_object(fd, st, want, err)) == CBP_OK) {
		*fdp = fd;
		return CBP_OK;
	}
	close(fd);
	return r;
}

int
cbp_read_open(int dirfd, const char *name, const struct cbp_open_want *want,
    int *fdp, struct stat *st, struct cbp_error *err)
{
	int nofollow = want->follow ? 0 : O_NOFOLLOW;
	int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | nofollow;
	struct stat st2;
	int pfd, fd = -1, r, fl;

	*fdp = -1;
	if (want->direct && !want->root)
		return open_direct(dirfd, name, want, flags, fdp, st, err);
	if ((pfd = openat(dirfd, name, O_PATH | O_CLOEXEC | nofollow)) < 0)
		return open_failed(errno, err);
	if (fstat(pfd, st) != 0) {
		r = cbp_error_set(err, CBP_EIO, errno, "cannot stat: %s",
		    strerror(errno));
		goto out;
	}
	if ((r = same_object(pfd, st, want, err)) != CBP_OK)
		goto out;
	if ((fd = reopen(pfd, dirfd, name, flags)) < 0) {
		r = errno == ELOOP || errno == ENXIO ? cbp_error_set(err,
		    CBP_ECHANGED, errno, "replaced while being opened: %s",
		    strerror(errno)) : open_failed(errno, err);
		goto out;
	}
	if (fstat(fd, &st2) != 0) {
		r = cbp_error_set(err, CBP_EIO, errno, "cannot stat: %s",
		    strerror(errno));
		goto out;
	}
	/* Through /proc this is the same inode by construction; by name not. */
	if (st2.st_dev != st->st_dev || st2.st_ino != st->st_ino ||
	    (st2.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
		r = cbp_error_set(err, CBP_ECHANGED, 0,
		    "replaced while being opened: not scanned");
		goto out;
	}
	/*
	 * A device named on purpose is read blocking; the open never was.  A
	 * FIFO stays non-blocking: a read with no writer is then EOF, not a
	 * wait for a writer that may never come, and one with a silent
	 * writer is EAGAIN, on which cbp_read_stream polls a second at a
	 * time, so a cancel (SIGTERM) is still seen.
	 */
	if ((S_ISCHR(st2.st_mode) || S_ISBLK(st2.st_mode)) &&
	    ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)) {
		r = cbp_error_set(err, CBP_EIO, errno, "cannot set up reading: %s",
		    strerror(errno));
		goto out;
	}
	*st = st2;
	*fdp = fd;
	fd = -1;
	r = CBP_OK;
out:
	if (fd >= 0)
		close(fd);
	close(pfd);
	return r;
}

/* Bytes copied from a stream per read (a pipe gives at most 64 KiB). */
#define STREAM_CHUNK (256 * 1024)

/*
 * read(), but never stuck past a cancel: a FIFO whose writer never writes
 * (EAGAIN: it stays non-blocking) or a blocking pipe or terminal is polled
 * a second at a time, so SIGINT/SIGTERM stop the scan within a second
 * whichever thread the signal reached.  A blocking descriptor is polled
 * before the read, a non-blocking one after EAGAIN, so that a FIFO with no
 * writer at all reads as EOF at once.  One poll per chunk at most.
 */
static ssize_t
read_wait(int fd, int nonblock, unsigned char *buf, size_t len,
    volatile int *cancel)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t n;

		if (cancel != NULL && __atomic_load_n(cancel, __ATOMIC_RELAXED)) {
			errno = EINTR;
			return -1;
		}
		if (!nonblock && poll(&p, 1, 1000) == 0)
			continue;	/* nothing yet: look at cancel again */
		if ((n = read(fd, buf, len)) >= 0)
			return n;
		if (errno == EAGAIN)
			(void)poll(&p, 1, 1000);
		else if (errno != EINTR)
			return -1;
	}
}

int
cbp_read_stream(int fd, size_t cap, volatile int *cancel, int *memfdp,
    uint64_t *lenp, int *morep, struct cbp_error *err)
{
	unsigned char *buf = NULL;
	uint64_t total = 0;
	int mfd, r, eof = 0, fl, nonblock;
	ssize_t n, w;

	*memfdp = -1;
	*lenp = 0;
	*morep = 0;
	if ((mfd = memfd_create("cbpscan-stream", MFD_CLOEXEC)) < 0)
		return cbp_error_set(err, errno == ENOMEM || errno == EMFILE ||
		    errno == ENFILE ? CBP_ENOMEM : CBP_EIO, errno,
		    "cannot buffer the stream in memory: %s", strerror(errno));
	if ((buf = malloc(STREAM_CHUNK)) == NULL) {
		r = cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	nonblock = (fl = fcntl(fd, F_GETFL)) >= 0 && (fl & O_NONBLOCK);
	while (total < cap) {
		size_t want = cap - total < STREAM_CHUNK ? (size_t)(cap - total) :
		    STREAM_CHUNK;
		size_t done = 0;

		if ((n = read_wait(fd, nonblock, buf, want, cancel)) < 0) {
			if (errno == EINTR) {	/* cancelled: the run is over */
				r = cbp_error_set(err, CBP_EIO, EINTR,
				    "interrupted after %llu bytes: not scanned",
				    (unsigned long long)total);
				goto fail;
			}
			r = cbp_error_set(err, CBP_EIO, errno,
			    "read error after %llu bytes: %s",
			    (unsigned long long)total, strerror(errno));
			goto fail;
		}
		if (n == 0) {
			eof = 1;
			break;
		}
		while (done < (size_t)n) {
			if ((w = write(mfd, buf + done, (size_t)n - done)) < 0) {
				if (errno == EINTR)
					continue;
				r = cbp_error_set(err, errno == ENOSPC ||
				    errno == ENOMEM ? CBP_ENOMEM : CBP_EIO, errno,
				    "cannot buffer the stream in memory: %s",
				    strerror(errno));
				goto fail;
			}
			done += (size_t)w;
		}
		total += (uint64_t)n;
	}
	/* At the cap: one byte more says whether anything was left unread. */
	if (!eof && read_wait(fd, nonblock, buf, 1, cancel) != 0)
		*morep = 1;
	free(buf);
	*memfdp = mfd;
	*lenp = total;
	return CBP_OK;
fail:
	free(buf);
	close(mfd);
	return r;
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
