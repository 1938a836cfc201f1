/*
 * spool.c — the durable outbox (cbp_spool.h).
 *
 * Checksums are zlib's crc32: it is already linked for gzip, and the frame
 * checksum only has to catch a torn or flipped write, not an attacker (the
 * directory is 0700 and owned by us).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "cbp_spool.h"

struct cbp_spool {
	pthread_mutex_t lock;
	char dir[4096];
	int dirfd;
	int lockfd;
	uint64_t max_bytes;
	size_t segment_bytes;
	/* Guarded by lock: */
	int fd;				/* the open segment, -1 before the first append */
	uint64_t seq;			/* its number (or the next one, with fd -1) */
	uint64_t open_size;
	uint64_t total;			/* bytes of every segment */
	uint64_t dropped;
	uint64_t refused;		/* records that are not droppable, over the cap */
	uint64_t first_seq;		/* s->seq when opened: older segments are a backlog */
};

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

size_t
cbp_spool_parse(const unsigned char *buf, size_t size, size_t *off,
    size_t *len, size_t cap, uint64_t *bad)
{
	size_t pos = 0, n = 0;

	while (size - pos >= CBP_SPOOL_HDR && n < cap) {
		uint32_t magic = get32(buf + pos), l = get32(buf + pos + 4);
		uint32_t crc = get32(buf + pos + 8);

		/* Never trust the length: it must fit the cap and the file. */
		if (magic != CBP_SPOOL_MAGIC || l == 0 || l > CBP_SPOOL_RECORD_MAX ||
		    l > size - pos - CBP_SPOOL_HDR)
			break;
		if ((uint32_t)crc32(0L, buf + pos + CBP_SPOOL_HDR, l) != crc)
			break;
		if (off != NULL) {
			off[n] = pos + CBP_SPOOL_HDR;
			len[n] = l;
		}
		n++;
		pos += CBP_SPOOL_HDR + l;
	}
	*bad = size - pos;
	return n;
}

static void
seg_name(char *out, size_t outsz, uint64_t seq, const char *ext)
{
	snprintf(out, outsz, "%016" PRIx64 ".%s", seq, ext);
}

/* "NNNN.ext" with 16 hex digits: its number, or -1. */
static int
seg_parse(const char *name, const char *ext, uint64_t *seq)
{
	char *end;

	if (strlen(name) != 17 + strlen(ext) || name[16] != '.' ||
	    strcmp(name + 17, ext) != 0 || strspn(name, "0123456789abcdef") != 16)
		return -1;
	*seq = strtoull(name, &end, 16);
	return 0;
}

static int
sync_dir(struct cbp_spool *s)
{
	return fsync(s->dirfd) == 0 ? CBP_OK : CBP_EIO;
}

/*
 * Seal one open segment (not the one being appended to): cut a torn tail,
 * fsync, rename to .seg.  *torn gets the bytes cut.
 */
static int
seal_file(struct cbp_spool *s, uint64_t seq, uint64_t *torn)
{
	char from[64], to[64];
	struct stat st;
	unsigned char *buf = NULL;
	uint64_t bad = 0;
	int fd, r = CBP_EIO;

	seg_name(from, sizeof(from), seq, "open");
	seg_name(to, sizeof(to), seq, "seg");
	if ((fd = openat(s->dirfd, from, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? CBP_OK : CBP_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	if (st.st_size > 0) {
		if ((buf = malloc((size_t)st.st_size)) == NULL) {
			r = CBP_ENOMEM;
			goto out;
		}
		if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
			goto out;
		(void)cbp_spool_parse(buf, (size_t)st.st_size, NULL, NULL,
		    SIZE_MAX, &bad);
		if (bad > 0 && ftruncate(fd, st.st_size - (off_t)bad) != 0)
			goto out;
	}
	if (fsync(fd) != 0)
		goto out;
	if (st.st_size - (off_t)bad == 0) {
		if (unlinkat(s->dirfd, from, 0) != 0)
			goto out;
	} else if (renameat(s->dirfd, from, s->dirfd, to) != 0) {
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	s->total -= bad <= s->total ? bad : s->total;
	pthread_mutex_unlock(&s->lock);
	if (torn != NULL)
		*torn += bad;
	r = sync_dir(s);
out:
	free(buf);
	close(fd);
	return r;
}

/*
 * Walk the directory: with rec (at open), count the bytes and find the
 * highest number; seal every .open numbered below `below` (segments are
 * numbered in order, so one an append may still be writing is never below
 * the number read under the lock).
 */
static int
scan_dir(struct cbp_spool *s, struct cbp_spool_recovery *rec, uint64_t below)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	uint64_t seq, opens[256];
	size_t nopen = 0, i;
	int fd, r = CBP_OK;

	if ((fd = dup(s->dirfd)) < 0)
		return CBP_EIO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return CBP_EIO;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		int open = seg_parse(e->d_name, "open", &seq) == 0;

		if (!open && seg_parse(e->d_name, "seg", &seq) != 0)
			continue;
		if (rec != NULL && fstatat(s->dirfd, e->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0) {
			s->total += (uint64_t)st.st_size;
			if (seq >= s->seq)
				s->seq = seq + 1;
		}
		/* Bounded per pass; a later seal picks up the rest. */
		if (open && seq < below && nopen < sizeof(opens) / sizeof(opens[0]))
			opens[nopen++] = seq;
	}
	closedir(d);
	for (i = 0; i < nopen && r == CBP_OK; i++) {
		uint64_t torn = 0;

		r = seal_file(s, opens[i], &torn);
		if (rec != NULL && r == CBP_OK) {
			rec->segments++;
			rec->torn_bytes += torn;
		}
	}
	return r;
}

int
cbp_spool_open(struct cbp_spool **out, const char *dir,
    const struct cbp_spool_opts *o, struct cbp_spool_recovery *rec,
    struct cbp_error *err)
{
	struct cbp_spool *s;
	struct cbp_spool_recovery dummy;
	struct stat st;
	int r;

	*out = NULL;
	if (rec == NULL)
		rec = &dummy;
	memset(rec, 0, sizeof(*rec));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	s->dirfd = s->lockfd = s->fd = -1;
	s->max_bytes = o != NULL && o->max_bytes ? o->max_bytes : CBP_SPOOL_MAX_DEFAULT;
	s->segment_bytes = o != NULL && o->segment_bytes ? o->segment_bytes :
	    CBP_SPOOL_SEGMENT_DEFAULT;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	pthread_mutex_init(&s->lock, NULL);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		r = cbp_error_set(err, CBP_EIO, errno, "spool %s: cannot create: %s",
		    dir, strerror(errno));
		goto fail;
	}
	if ((s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0 || fstat(s->dirfd, &st) != 0) {
		r = cbp_error_set(err, CBP_EIO, errno, "spool %s: cannot open: %s "
		    "(it must be a directory, not a symlink)", dir, strerror(errno));
		goto fail;
	}
	/* Others must neither read the records nor plant segments to send. */
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		r = cbp_error_set(err, CBP_EPERM, 0, "spool %s: must be owned by "
		    "uid %u with mode 0700 (it is uid %u, mode %04o); fix with "
		    "chown and chmod 700", dir, (unsigned)geteuid(),
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if ((s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) < 0) {
		r = cbp_error_set(err, CBP_EIO, errno, "spool %s/lock: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
		r = cbp_error_set(err, CBP_ELIMIT, errno, "spool %s: in use by "
		    "another cbpscan (scan or flush); try again when it ends", dir);
		goto fail;
	}
	if ((r = scan_dir(s, rec, UINT64_MAX)) != CBP_OK) {
		cbp_error_set(err, r, errno, "spool %s: cannot recover the "
		    "segments of an earlier run: %s", dir, strerror(errno));
		goto fail;
	}
	s->first_seq = s->seq;
	*out = s;
	return CBP_OK;
fail:
	cbp_spool_close(s);
	return r;
}

uint64_t
cbp_spool_first_seq(const struct cbp_spool *s)
{
	return s->first_seq;
}

const char *
cbp_spool_dir(const struct cbp_spool *s)
{
	return s->dir;
}

/* Start segment s->seq (lock held). */
static int
open_segment(struct cbp_spool *s)
{
	char name[64];

	seg_name(name, sizeof(name), s->seq, "open");
	s->fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->fd < 0)
		return CBP_EIO;
	s->open_size = 0;
	return CBP_OK;
}

/* The open segment is full: leave it for the next seal, start another. */
static void
retire_segment(struct cbp_spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->seq++;
	s->open_size = 0;
}

int
cbp_spool_append(struct cbp_spool *s, const void *rec, size_t len,
    int droppable, int *dropped)
{
	unsigned char hdr[CBP_SPOOL_HDR];
	struct iovec iov[2];
	size_t want = CBP_SPOOL_HDR + len, done = 0;
	ssize_t w;
	int r = CBP_OK, e;

	if (dropped != NULL)
		*dropped = 0;
	if (len == 0 || len > CBP_SPOOL_RECORD_MAX)
		return CBP_EINVAL;
	put32(hdr, CBP_SPOOL_MAGIC);
	put32(hdr + 4, (uint32_t)len);
	put32(hdr + 8, (uint32_t)crc32(0L, rec, (uInt)len));
	pthread_mutex_lock(&s->lock);
	/*
	 * Droppable records stop short of the cap by an eighth, so that
	 * findings and the summary still find room after a flood of them.
	 */
	if (s->total + want > (droppable ? s->max_bytes - s->max_bytes / 8 :
	    s->max_bytes)) {
		if (droppable) {
			s->dropped++;
			if (dropped != NULL)
				*dropped = 1;
		} else {
			s->refused++;
			r = CBP_ELIMIT;
		}
		goto out;
	}
	if (s->fd >= 0 && s->open_size >= s->segment_bytes)
		retire_segment(s);
	if (s->fd < 0 && (r = open_segment(s)) != CBP_OK)
		goto out;
	/* One writev: O_APPEND keeps the frame in one piece at the end. */
	while (done < want) {
		iov[0].iov_base = hdr + (done < CBP_SPOOL_HDR ? done : CBP_SPOOL_HDR);
		iov[0].iov_len = done < CBP_SPOOL_HDR ? CBP_SPOOL_HDR - done : 0;
		iov[1].iov_base = (unsigned char *)rec +
		    (done > CBP_SPOOL_HDR ? done - CBP_SPOOL_HDR : 0);
		iov[1].iov_len = len - (done > CBP_SPOOL_HDR ? done - CBP_SPOOL_HDR : 0);
		w = writev(s->fd, iov, 2);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? errno : EIO;
			/* Take back a cut frame so the segment ends whole. */
			if (done > 0)
				(void)!ftruncate(s->fd, (off_t)s->open_size);
			errno = e;
			r = CBP_EIO;
			goto out;
		}
		done += (size_t)w;
	}
	s->open_size += want;
	s->total += want;
out:
	e = errno;
	if (r == CBP_EIO)
		s->refused++;
	pthread_mutex_unlock(&s->lock);
	errno = e;
	return r;
}

uint64_t
cbp_spool_dropped(struct cbp_spool *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	v = s->dropped;
	pthread_mutex_unlock(&s->lock);
	return v;
}

uint64_t
cbp_spool_refused(struct cbp_spool *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	v = s->refused;
	pthread_mutex_unlock(&s->lock);
	return v;
}

uint64_t
cbp_spool_bytes(struct cbp_spool *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	v = s->total;
	pthread_mutex_unlock(&s->lock);
	return v;
}

uint64_t
cbp_spool_open_bytes(struct cbp_spool *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	v = s->fd >= 0 ? s->open_size : 0;
	pthread_mutex_unlock(&s->lock);
	return v;
}

int
cbp_spool_seal(struct cbp_spool *s)
{
	uint64_t seq;
	int had;

	/* Swap the open segment out under the lock; sync it outside. */
	pthread_mutex_lock(&s->lock);
	had = s->fd >= 0;
	seq = s->seq;
	if (had)
		retire_segment(s);
	pthread_mutex_unlock(&s->lock);
	if (had) {
		int r = seal_file(s, seq, NULL);

		if (r != CBP_OK)
			return r;
	}
	/* Segments retired by append when full. */
	pthread_mutex_lock(&s->lock);
	seq = s->seq;
	pthread_mutex_unlock(&s->lock);
	return scan_dir(s, NULL, seq);
}

int
cbp_spool_next(struct cbp_spool *s, uint64_t after, uint64_t *seq)
{
	DIR *d;
	struct dirent *e;
	uint64_t v, best = UINT64_MAX;
	int fd, found = 0;

	if ((fd = dup(s->dirfd)) < 0)
		return CBP_EIO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return CBP_EIO;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL)
		if (seg_parse(e->d_name, "seg", &v) == 0 &&
		    (after == UINT64_MAX || v > after) && v <= best) {
			best = v;
			found = 1;
		}
	closedir(d);
	if (!found)
		return CBP_ENOTFOUND;
	*seq = best;
	return CBP_OK;
}

void
cbp_spool_seg_free(struct cbp_spool_seg *seg)
{
	free(seg->data);
	free(seg->off);
	free(seg->len);
	memset(seg, 0, sizeof(*seg));
}

int
cbp_spool_load(struct cbp_spool *s, uint64_t seq, struct cbp_spool_seg *seg)
{
	char name[64];
	struct stat st;
	size_t n;
	int fd, r = CBP_EIO;

	memset(seg, 0, sizeof(*seg));
	seg->seq = seq;
	seg_name(name, sizeof(name), seq, "seg");
	if ((fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? CBP_ENOTFOUND : CBP_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	/* A segment holds at most segment_bytes plus the record that crossed it. */
	if ((uint64_t)st.st_size > (uint64_t)s->segment_bytes +
	    CBP_SPOOL_RECORD_MAX + CBP_SPOOL_HDR && (uint64_t)st.st_size >
	    (uint64_t)CBP_SPOOL_SEGMENT_DEFAULT * 64) {
		r = CBP_ELIMIT;
		goto out;
	}
	seg->size = (size_t)st.st_size;
	r = CBP_ENOMEM;
	if ((seg->data = malloc(seg->size ? seg->size : 1)) == NULL)
		goto out;
	r = CBP_EIO;
	if (pread(fd, seg->data, seg->size, 0) != (ssize_t)seg->size)
		goto out;
	n = cbp_spool_parse(seg->data, seg->size, NULL, NULL, SIZE_MAX,
	    &seg->bad_bytes);
	r = CBP_ENOMEM;
	if ((seg->off = calloc(n + 1, sizeof(size_t))) == NULL ||
	    (seg->len = calloc(n + 1, sizeof(size_t))) == NULL)
		goto out;
	seg->n = cbp_spool_parse(seg->data, seg->size, seg->off, seg->len, n,
	    &seg->bad_bytes);
	r = CBP_OK;
out:
	close(fd);
	if (r != CBP_OK)
		cbp_spool_seg_free(seg);
	return r;
}

int
cbp_spool_put_side(struct cbp_spool *s, uint64_t seq, const char *ext,
    const void *data, size_t len)
{
	char name[64], tmp[80];
	int fd, r = CBP_EIO;

	seg_name(name, sizeof(name), seq, ext);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0)
		return CBP_EIO;
	if (write(fd, data, len) == (ssize_t)len && fsync(fd) == 0 &&
	    renameat(s->dirfd, tmp, s->dirfd, name) == 0)
		r = sync_dir(s);
	close(fd);
	if (r != CBP_OK)
		(void)unlinkat(s->dirfd, tmp, 0);
	return r;
}

int
cbp_spool_get_side(struct cbp_spool *s, uint64_t seq, const char *ext,
    char *buf, size_t cap, size_t *len)
{
	char name[64];
	ssize_t n;
	int fd;

	seg_name(name, sizeof(name), seq, ext);
	if ((fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? CBP_ENOTFOUND : CBP_EIO;
	n = read(fd, buf, cap);
	close(fd);
	if (n < 0)
		return CBP_EIO;
	if ((size_t)n == cap)
		return CBP_ELIMIT;
	*len = (size_t)n;
	return CBP_OK;
}

int
cbp_spool_remove(struct cbp_spool *s, uint64_t seq)
{
	char name[64];
	struct stat st;

	seg_name(name, sizeof(name), seq, "ack");
	(void)unlinkat(s->dirfd, name, 0);

	seg_name(name, sizeof(name), seq, "seg");
	if (fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? CBP_OK : CBP_EIO;
	if (unlinkat(s->dirfd, name, 0) != 0)
		return CBP_EIO;
	pthread_mutex_lock(&s->lock);
	s->total -= (uint64_t)st.st_size <= s->total ? (uint64_t)st.st_size : s->total;
	pthread_mutex_unlock(&s->lock);
	return sync_dir(s);
}

int
cbp_spool_reject(struct cbp_spool *s, const void *rec, size_t len)
{
	struct iovec iov[2] = { { (void *)rec, len }, { "\n", 1 } };
	int fd, r = CBP_OK;

	fd = openat(s->dirfd, "rejected", O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return CBP_EIO;
	if (writev(fd, iov, 2) != (ssize_t)(len + 1) || fsync(fd) != 0)
		r = CBP_EIO;
	close(fd);
	return r;
}

void
cbp_spool_close(struct cbp_spool *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->lockfd >= 0)
		close(s->lockfd);		/* drops the flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
