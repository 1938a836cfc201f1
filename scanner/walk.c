/*
 * walk.c — the parallel, physical filesystem walk (see cbp_walk.h).
 *
 * Design.
 *
 * Every directory still to be read is a node on one shared stack.  A node
 * knows its parent node, its own name and the length of its display path;
 * it does not store the whole path.  Storing full paths would cost
 * O(depth^2) bytes on a hostile tree (every pending sibling at every level
 * holding a copy of a path that may be megabytes long); storing names costs
 * O(depth).  A worker rebuilds a directory's display path into its own
 * reusable buffer when it takes the node, appends entry names to that for
 * files, and remembers the last node it built so that descending one level
 * (the common case with a stack) only appends a name.
 *
 * Nodes carry two reference counts:
 *   fd_refs   the open directory (DIR *, and its fd).  Held by the worker
 *             reading it and by every child node not yet opened, because a
 *             child is opened with openat(parent fd, name).  The last
 *             release closes it, so a directory stays open exactly as long
 *             as it is needed: for a chain a/a/a/... only two fds are open.
 *   mem_refs  the node's memory.  Held by the queue or worker that owns the
 *             node, by every child node (whose display path needs the
 *             parent's name), and by a worker's path cache.  Freed
 *             iteratively up the chain, so a deep tree cannot overflow the
 *             stack.
 *
 * A stack (LIFO), not a FIFO: depth-first order keeps the number of
 * directories that are open at once near the depth of the tree; breadth-
 * first order would keep a whole level open.
 *
 * Termination: a worker waits on the condition variable while the stack is
 * empty and some worker is still reading a directory (it may push more); when
 * the stack is empty and no worker is active, everyone leaves.
 *
 * Safety model (as OpenBSD du/fts -P): every openat below the roots has
 * O_NOFOLLOW and O_DIRECTORY, so a symlink is never followed and a directory
 * swapped for a symlink, a file or a device after readdir fails with
 * ELOOP/ENOTDIR before any driver is called.  That, and a directory whose
 * inode is not the one readdir listed (swapped for another directory, with
 * RENAME_EXCHANGE, to hide a subtree), is reported as CBP_ECHANGED: never
 * a silent loss.  A directory that is simply gone (ENOENT) is counted as
 * vanished.  Only directories are ever opened here; regular files go to
 * the file callback with the inode readdir gave (cbp_read_open checks it),
 * everything else (symlinks, FIFOs, sockets, devices) is counted through
 * the skip callback without a syscall when readdir gives d_type.  Errors go
 * to the error callback and the walk goes on; this module never prints.
 *
 * readdir's d_ino is compared with fstat's st_ino only on filesystems where
 * the two agree (dino_consistent): on vfat an uncached inode gets a fresh
 * number in readdir, FUSE daemons report what they like, and overlayfs
 * directories over several filesystems differ; there a swap for another
 * file of the same type goes unseen, a swap for another type still not.
 * At a mount point d_ino is the covered directory's: not compared either.
 *
 * Each directory also records whether anyone but root or the scanning user
 * can rename entries in it (safe); cbp_read_open takes the cheaper direct
 * open only where nobody else can swap a name (see read.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cbp_err.h"
#include "cbp_walk.h"

/* Magic numbers <linux/magic.h> does not define on every system. */
#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570
#endif
#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif
#ifndef FUSECTL_SUPER_MAGIC
#define FUSECTL_SUPER_MAGIC 0x65735543
#endif
#ifndef ZFS_SUPER_MAGIC
#define ZFS_SUPER_MAGIC 0x2fc12fc1
#endif

/*
 * EMFILE/ENFILE: wait this long for another worker to close a directory,
 * this many times without any close before giving up and reporting the
 * directory (never drop it silently).
 */
#define FD_WAIT_NS (10 * 1000 * 1000L)
#define FD_WAIT_IDLE_MAX 20
#define FD_WAIT_TOTAL_MAX 1000

/* First size of a worker's path buffer; it grows to the longest path seen. */
#define PATHBUF_INIT 4096

struct wnode {
	struct wnode *parent;	/* NULL for a root */
	struct wnode *next;	/* stack link while queued */
	atomic_size_t mem_refs;
	atomic_size_t fd_refs;
	DIR *dir;		/* set by the reader before any child is pushed */
	int fd;			/* dirfd(dir) */
	dev_t dev;		/* st_dev of this directory */
	dev_t root_dev;		/* st_dev of its root, for one_file_system */
	ino_t ino;		/* inode readdir listed (0: not known, not checked) */
	unsigned char dino_ok;	/* this filesystem's d_ino equals st_ino (files) */
	unsigned char dino_dir_ok;	/* ... for directories too */
	unsigned char safe;	/* only root or we can change its entries */
	size_t path_len;	/* length of the display path */
	size_t name_len;
	unsigned char is_root;
	unsigned char sep;	/* a '/' precedes name in the display path */
	char name[];		/* relative to parent; for a root the root itself */
};

struct walk {
	const struct cbp_walk_opts *opts;
	const struct cbp_walk_ops *ops;
	void *arg;

	pthread_mutex_t mu;
	pthread_cond_t work_cv;	/* stack became non-empty, or the walk ended */
	pthread_cond_t fd_cv;	/* a directory fd was closed (EMFILE waiters) */
	struct wnode *top;
	unsigned active;	/* workers holding a node */
	unsigned waiting;	/* workers sleeping on work_cv */
	unsigned long fd_closes;
	atomic_uint fd_waiters;
	uid_t euid;		/* the scanning user, for safe directories */
};

struct worker {
	struct walk *w;
	unsigned index;
	pthread_t tid;
	char *buf;		/* display path of the current directory + entry */
	size_t cap;
	struct wnode *cached;	/* node whose path is buf[0..path_len) (mem ref held) */
};

/* Exposed for the unit test only; not part of cbp_walk.h. */
int cbp_walk_pseudo_fs(unsigned long f_type);

int
cbp_walk_pseudo_fs(unsigned long f_type)
{
	/* f_type is a signed word; magics above INT_MAX are negative on ILP32. */
	switch ((uint32_t)f_type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case PSTOREFS_MAGIC:
	case BPF_FS_MAGIC:
	case CONFIGFS_MAGIC:
	case DEVPTS_SUPER_MAGIC:
	case MQUEUE_MAGIC:
	case HUGETLBFS_MAGIC:
	case FUSECTL_SUPER_MAGIC:
	case BINFMTFS_MAGIC:
	case SELINUX_MAGIC:
	case EFIVARFS_MAGIC:
	case NSFS_MAGIC:
	case AUTOFS_SUPER_MAGIC:
		return 1;
	default:
		return 0;
	}
}

/*
 * Filesystems whose readdir d_ino is the st_ino fstat gives (for
 * directories when dir is set).  Others are not compared: see the top.
 */
static int
dino_consistent(unsigned long f_type, int dir)
{
	switch ((uint32_t)f_type) {
	case EXT4_SUPER_MAGIC:		/* ext2, ext3 and ext4 share it */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case TMPFS_MAGIC:
	case F2FS_SUPER_MAGIC:
	case ZFS_SUPER_MAGIC:
		return 1;
	case OVERLAYFS_SUPER_MAGIC:
		/* Documentation/filesystems/overlayfs.rst, "Inode properties". */
		return !dir;
	default:
		return 0;
	}
}

int
cbp_walk_excluded(const struct cbp_walk_opts *opts, const char *path,
    const char *name)
{
	size_t i;

	if (opts == NULL || opts->excludes == NULL)
		return 0;
	for (i = 0; i < opts->nexcludes; i++) {
		const char *g = opts->excludes[i];

		if (g == NULL)
			continue;
		if (strchr(g, '/') != NULL) {
			if (path != NULL && fnmatch(g, path, 0) == 0)
				return 1;
		} else if (name != NULL && fnmatch(g, name, 0) == 0)
			return 1;
	}
	return 0;
}

static int
cancelled(const struct walk *w)
{
	/*
	 * The caller sets the flag from another thread or a signal handler;
	 * an atomic load keeps that well-defined (and quiet under TSan when
	 * the caller stores atomically too).
	 */
	return w->opts->cancel != NULL &&
	    __atomic_load_n(w->opts->cancel, __ATOMIC_RELAXED) != 0;
}

static void report(struct worker *k, const char *path, int code, int root,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report(struct worker *k, const char *path, int code, int root,
    const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	if (k->w->ops->error == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	k->w->ops->error(k->w->arg, k->index, path, code, detail, root);
}

static void
skipped(struct worker *k, enum cbp_walk_skip why)
{
	if (k->w->ops->skip != NULL)
		k->w->ops->skip(k->w->arg, k->index, why);
}

/* strerror is not required to be thread-safe; this is. */
static const char *
errtext(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

static int
errcode(int e)
{
	return (e == EACCES || e == EPERM) ? CBP_EPERM : CBP_EIO;
}

/* Can only root or the scanning user change the entries of st's directory? */
static int
safe_dir(const struct walk *w, const struct stat *st)
{
	/* A POSIX ACL granting write shows in the group bits (the mask). */
	return (st->st_uid == 0 || st->st_uid == w->euid) &&
	    (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/*
 * Is fd the root of a mount?  A directory or file bind-mounted over a name
 * on the same filesystem keeps the device but not the inode readdir gave
 * (d_ino is the covered one's): not a swap.  Only mounting makes one, so an
 * unprivileged user cannot use it to hide a swap.  read.c asks the same
 * when it checks an opened file against what the walk listed.
 */
int
cbp_walk_mount_root(int fd)
{
	struct statx stx;

	return statx(fd, "", AT_EMPTY_PATH, 0, &stx) == 0 &&
	    (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Drop a memory reference; free the node and, in turn, unreferenced parents. */
static void
mem_release(struct wnode *n)
{
	while (n != NULL) {
		struct wnode *p;

		if (atomic_fetch_sub_explicit(&n->mem_refs, 1,
		    memory_order_acq_rel) != 1)
			return;
		p = n->parent;
		free(n);
		n = p;
	}
}

/* Drop a reference to n's open directory; the last one closes it. */
static void
fd_release(struct walk *w, struct wnode *n)
{
	if (n == NULL)
		return;
	if (atomic_fetch_sub_explicit(&n->fd_refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	closedir(n->dir);
	/* Only pay for the lock when someone is waiting for an fd. */
	if (atomic_load_explicit(&w->fd_waiters, memory_order_relaxed) != 0) {
		pthread_mutex_lock(&w->mu);
		w->fd_closes++;
		pthread_cond_broadcast(&w->fd_cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static void
push(struct walk *w, struct wnode *n)
{
	pthread_mutex_lock(&w->mu);
	n->next = w->top;
	w->top = n;
	if (w->waiting > 0)
		pthread_cond_signal(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
}

/*
 * Finish the previous node (if any) and take the next one; NULL when the
 * stack is empty and no worker can push any more.
 */
static struct wnode *
take(struct walk *w, int finished)
{
	struct wnode *n = NULL;

	pthread_mutex_lock(&w->mu);
	if (finished)
		w->active--;
	for (;;) {
		if (w->top != NULL) {
			n = w->top;
			w->top = n->next;
			w->active++;
			break;
		}
		if (w->active == 0) {
			pthread_cond_broadcast(&w->work_cv);
			break;
		}
		w->waiting++;
		pthread_cond_wait(&w->work_cv, &w->mu);
		w->waiting--;
	}
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* Make room for need bytes in the worker's path buffer. */
static int
reserve(struct worker *k, size_t need)
{
	size_t ncap;
	char *p;

	if (need <= k->cap)
		return 0;
	ncap = k->cap ? k->cap : PATHBUF_INIT;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	if ((p = realloc(k->buf, ncap)) == NULL)
		return -1;
	k->buf = p;
	k->cap = ncap;
	return 0;
}

/*
 * Put n's display path in k->buf[0..n->path_len] (NUL-terminated) and make
 * n the cached node.  Descending one level from the cached node only
 * appends the name, so a deep chain costs linear, not quadratic, time.
 */
static int
build_path(struct worker *k, struct wnode *n)
{
	struct wnode *m, *old;
	size_t pos;

	/* Room for the path, '/', a NAME_MAX entry name and the NUL. */
	if (n->path_len > SIZE_MAX - NAME_MAX - 3 ||
	    reserve(k, n->path_len + NAME_MAX + 3) != 0) {
		old = k->cached;
		k->cached = NULL;
		mem_release(old);
		return -1;
	}
	if (k->cached != NULL && n->parent == k->cached) {
		pos = n->parent->path_len;
		if (n->sep)
			k->buf[pos++] = '/';
		memcpy(k->buf + pos, n->name, n->name_len);
	} else {
		pos = n->path_len;
		for (m = n; m != NULL; m = m->parent) {
			pos -= m->name_len;
			memcpy(k->buf + pos, m->name, m->name_len);
			if (m->sep)
				k->buf[--pos] = '/';
		}
	}
	k->buf[n->path_len] = '\0';
	/* Hold n so that its address cannot be reused by another node. */
	atomic_fetch_add_explicit(&n->mem_refs, 1, memory_order_relaxed);
	old = k->cached;
	k->cached = n;
	mem_release(old);
	return 0;
}

/* Wait (bounded) for another worker to close a directory fd. */
static int
wait_for_fd(struct walk *w, unsigned *idle, unsigned *total)
{
	struct timespec ts;
	unsigned long gen;
	int timed_out = 0;

	pthread_mutex_lock(&w->mu);
	/*
	 * When every active worker (this one included) is itself waiting for
	 * an fd, nobody will close one: give up at once instead of stalling.
	 */
	if (atomic_load(&w->fd_waiters) + 1 >= w->active ||
	    *idle >= FD_WAIT_IDLE_MAX || *total >= FD_WAIT_TOTAL_MAX) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	atomic_fetch_add(&w->fd_waiters, 1);
	gen = w->fd_closes;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += FD_WAIT_NS;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (gen == w->fd_closes && !timed_out)
		timed_out = pthread_cond_timedwait(&w->fd_cv, &w->mu,
		    &ts) == ETIMEDOUT;
	atomic_fetch_sub(&w->fd_waiters, 1);
	pthread_mutex_unlock(&w->mu);
	(*total)++;
	if (gen == w->fd_closes)
		(*idle)++;
	return 0;
}

/*
 * Open a directory.  Below the roots O_NOFOLLOW makes a symlink fail with
 * ELOOP; O_DIRECTORY makes anything but a directory fail with ENOTDIR
 * before it is opened (a FIFO is never opened); O_NONBLOCK is a second
 * guard for that.  O_NOATIME keeps an audit from touching atimes, but is
 * refused with EPERM on directories we do not own.
 */
static int
open_dir(struct walk *w, int parent_fd, const char *name, int is_root)
{
	int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | O_NOATIME;
	unsigned idle = 0, total = 0;
	int fd;

	if (!is_root)
		flags |= O_NOFOLLOW;
	for (;;) {
		fd = openat(parent_fd, name, flags);
		if (fd >= 0)
			return fd;
		if (errno == EPERM && (flags & O_NOATIME)) {
			flags &= ~O_NOATIME;
			continue;
		}
		if ((errno == EMFILE || errno == ENFILE) &&
		    wait_for_fd(w, &idle, &total) == 0)
			continue;
		return -1;
	}
}

static void
push_child(struct worker *k, struct wnode *n, const char *name,
    size_t name_len, int sep, size_t path_len, ino_t ino)
{
	struct wnode *c;

	if ((c = malloc(sizeof(*c) + name_len + 1)) == NULL) {
		report(k, k->buf, CBP_ENOMEM, 0, "cannot queue directory: %s",
		    "out of memory");
		return;
	}
	c->parent = n;
	c->next = NULL;
	atomic_init(&c->mem_refs, 1);
	atomic_init(&c->fd_refs, 0);
	c->dir = NULL;
	c->fd = -1;
	c->dev = 0;
	c->root_dev = n->root_dev;
	c->ino = ino;
	c->dino_ok = n->dino_ok;
	c->dino_dir_ok = n->dino_dir_ok;
	c->safe = 0;
	c->path_len = path_len;
	c->name_len = name_len;
	c->is_root = 0;
	c->sep = (unsigned char)sep;
	memcpy(c->name, name, name_len + 1);
	/* The child needs the parent's name (memory) and its fd (openat). */
	atomic_fetch_add_explicit(&n->mem_refs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->fd_refs, 1, memory_order_relaxed);
	push(k->w, c);
}

/* Read the open directory n: files to the callback, directories queued. */
static void
read_dir(struct worker *k, struct wnode *n)
{
	struct walk *w = k->w;
	const struct cbp_walk_opts *o = w->opts;
	struct cbp_walk_file f;
	struct dirent *de;
	struct stat st;
	size_t prefix;
	int sep;
	char eb[128];

	/* "/" + "etc" is "/etc", not "//etc". */
	prefix = n->path_len;
	sep = prefix == 0 || k->buf[prefix - 1] != '/';
	if (sep)
		k->buf[prefix++] = '/';

	for (;;) {
		const char *name;
		size_t nlen, plen;
		unsigned char type;

		if (cancelled(w))
			break;
		errno = 0;
		if ((de = readdir(n->dir)) == NULL) {
			if (errno != 0) {
				int e = errno;

				k->buf[n->path_len] = '\0';
				report(k, k->buf, CBP_EIO, 0,
				    "cannot read directory: %s",
				    errtext(e, eb, sizeof(eb)));
			}
			break;
		}
		name = de->d_name;
		if (name[0] == '.' && (name[1] == '\0' ||
		    (name[1] == '.' && name[2] == '\0')))
			continue;
		type = de->d_type;
		switch (type) {
		case DT_DIR:
		case DT_REG:
		case DT_UNKNOWN:
			break;
		case DT_LNK:
			skipped(k, CBP_WALK_SKIP_SYMLINK);
			continue;
		case DT_FIFO:
			skipped(k, CBP_WALK_SKIP_FIFO);
			continue;
		case DT_SOCK:
			skipped(k, CBP_WALK_SKIP_SOCKET);
			continue;
		case DT_CHR:
		case DT_BLK:
			skipped(k, CBP_WALK_SKIP_DEVICE);
			continue;
		default:		/* DT_WHT and the like: nothing to read */
			continue;
		}

		nlen = strlen(name);
		if (nlen > SIZE_MAX - prefix - 1 ||
		    reserve(k, prefix + nlen + 1) != 0) {
			/* Report on the directory; keep its '/' for later entries. */
			char c = k->buf[n->path_len];

			k->buf[n->path_len] = '\0';
			report(k, k->buf, CBP_ENOMEM, 0, "cannot list entry: %s",
			    "out of memory");
			k->buf[n->path_len] = c;
			continue;
		}
		memcpy(k->buf + prefix, name, nlen + 1);
		plen = prefix + nlen;

		if (o->nexcludes > 0 && cbp_walk_excluded(o, k->buf, name)) {
			skipped(k, CBP_WALK_SKIP_EXCLUDED);
			continue;
		}

		f.dev = n->dev;
		if (type == DT_UNKNOWN) {
			/* Some filesystems do not fill d_type: ask, never follow. */
			if (fstatat(n->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
				int e = errno;

				if (e == ENOENT)
					skipped(k, CBP_WALK_SKIP_VANISHED);
				else
					report(k, k->buf, errcode(e), 0,
					    "cannot stat: %s",
					    errtext(e, eb, sizeof(eb)));
				continue;
			}
			if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
				skipped(k, S_ISLNK(st.st_mode) ?
				    CBP_WALK_SKIP_SYMLINK : S_ISFIFO(st.st_mode) ?
				    CBP_WALK_SKIP_FIFO : S_ISSOCK(st.st_mode) ?
				    CBP_WALK_SKIP_SOCKET : CBP_WALK_SKIP_DEVICE);
				continue;
			}
			type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
			/* fstatat's own inode: comparable on any filesystem. */
			f.dev = st.st_dev;
			f.ino = st.st_ino;
		} else
			f.ino = (type == DT_DIR ? n->dino_dir_ok : n->dino_ok) ?
			    de->d_ino : 0;

		if (type == DT_REG) {
			f.dirfd = n->fd;
			f.name = name;
			f.path = k->buf;
			f.path_len = plen;
			f.type = S_IFREG;
			f.root = 0;
			f.safe_dir = n->safe;
			f.fd = -1;
			w->ops->file(w->arg, k->index, &f);
		} else
			push_child(k, n, name, nlen, sep, plen,
			    f.dev == n->dev ? f.ino : 0);
	}
}

/* Open, check and read directory node n (a root or a queued child). */
static void
do_dir(struct worker *k, struct wnode *n)
{
	struct walk *w = k->w;
	struct wnode *parent = n->parent;
	struct statfs sfs;
	struct stat st;
	DIR *dir;
	int fd, e, root = n->is_root;
	char eb[128];

	if (build_path(k, n) != 0) {
		report(k, n->name, CBP_ENOMEM, root, "cannot open directory: %s",
		    "out of memory");
		fd_release(w, parent);
		return;
	}
	fd = open_dir(w, parent ? parent->fd : AT_FDCWD, n->name, root);
	e = errno;
	/* The child is open (or failed): the parent's fd is not needed for it. */
	fd_release(w, parent);
	if (fd < 0) {
		if (!root && e == ENOENT) {
			skipped(k, CBP_WALK_SKIP_VANISHED);
			return;
		}
		/*
		 * Listed as a directory, now a symlink, a file or a device:
		 * what was there is not scanned, and must be said.
		 */
		if (!root && (e == ELOOP || e == ENOTDIR)) {
			report(k, k->buf, CBP_ECHANGED, 0, "listed as a directory, "
			    "no longer one when opened: not scanned");
			return;
		}
		report(k, k->buf, errcode(e), root, "cannot open directory: %s",
		    errtext(errcode(e) == CBP_EPERM ? EACCES : e, eb,
		    sizeof(eb)));
		return;
	}
	if (fstat(fd, &st) != 0) {
		e = errno;
		report(k, k->buf, CBP_EIO, root, "cannot stat directory: %s",
		    errtext(e, eb, sizeof(eb)));
		close(fd);
		return;
	}
	n->dev = st.st_dev;
	/*
	 * Can anyone but root or the scanning user rename entries here?  If
	 * not, nobody else can swap a listed name (cbp_read_open then opens
	 * it directly, cheaper).
	 */
	n->safe = safe_dir(w, &st);
	if (root) {
		n->root_dev = st.st_dev;
		if (fstatfs(fd, &sfs) == 0) {
			n->dino_ok = dino_consistent((unsigned long)sfs.f_type, 0);
			n->dino_dir_ok = dino_consistent((unsigned long)sfs.f_type, 1);
		}
	} else if (st.st_dev == parent->dev) {
		/* Another directory swapped in under the listed name. */
		if (n->ino != 0 && st.st_ino != n->ino && !cbp_walk_mount_root(fd)) {
			report(k, k->buf, CBP_ECHANGED, 0, "replaced by another "
			    "directory since it was listed: not scanned");
			close(fd);
			return;
		}
	} else {
		if (w->opts->one_file_system && st.st_dev != n->root_dev) {
			skipped(k, CBP_WALK_SKIP_OTHER_FS);
			close(fd);
			return;
		}
		/*
		 * Only a mount point can change the filesystem type, so statfs
		 * is needed only where the device changes.  Inside a pseudo
		 * filesystem named as a root, the device stays the same.
		 */
		n->dino_ok = n->dino_dir_ok = 0;
		if (fstatfs(fd, &sfs) == 0) {
			if (cbp_walk_pseudo_fs((unsigned long)sfs.f_type)) {
				skipped(k, CBP_WALK_SKIP_OTHER_FS);
				close(fd);
				return;
			}
			n->dino_ok = dino_consistent((unsigned long)sfs.f_type, 0);
			n->dino_dir_ok = dino_consistent((unsigned long)sfs.f_type, 1);
		}
	}
	if ((dir = fdopendir(fd)) == NULL) {
		e = errno;
		report(k, k->buf, e == ENOMEM ? CBP_ENOMEM : CBP_EIO, root,
		    "cannot read directory: %s", errtext(e, eb, sizeof(eb)));
		close(fd);
		return;
	}
	n->dir = dir;
	n->fd = fd;
	atomic_store_explicit(&n->fd_refs, 1, memory_order_relaxed);
	read_dir(k, n);
	if (w->ops->dir_done != NULL)
		w->ops->dir_done(w->arg, k->index);
	fd_release(w, n);
}

/* Is the directory holding the root path safe (see safe_dir)? */
static int
root_parent_safe(const struct walk *w, const char *path, size_t len)
{
	const char *slash = memrchr(path, '/', len);
	struct stat st;
	char *parent;
	int r;

	if (slash == NULL)
		return stat(".", &st) == 0 && safe_dir(w, &st);
	if (slash == path)
		return stat("/", &st) == 0 && safe_dir(w, &st);
	if ((parent = strndup(path, (size_t)(slash - path))) == NULL)
		return 0;
	r = stat(parent, &st) == 0 && safe_dir(w, &st);
	free(parent);
	return r;
}

/*
 * A root: stat it (following a symlink, like find -H) and dispatch.  A root
 * is never dropped silently: what cannot be scanned goes to the error
 * callback with root set.
 */
static void
do_root(struct worker *k, struct wnode *n)
{
	const struct cbp_walk_ops *ops = k->w->ops;
	struct cbp_walk_file f;
	struct stat st;
	char eb[128];

	memset(&f, 0, sizeof(f));
	f.dirfd = AT_FDCWD;
	f.name = n->name;
	f.path = n->name;
	f.path_len = n->path_len;
	f.root = 1;
	f.fd = -1;
	if (strcmp(n->name, "-") == 0) {
		/* Standard input, as one object named "-" (./- is a file). */
		f.fd = STDIN_FILENO;
		f.type = S_IFIFO;
		if (ops->stream != NULL)
			ops->stream(k->w->arg, k->index, &f);
		else
			report(k, n->name, CBP_EIO, 1, "%s",
			    "standard input cannot be scanned here");
		return;
	}
	if (stat(n->name, &st) != 0) {
		int e = errno;

		report(k, n->name, errcode(e), 1, "%s",
		    errtext(e, eb, sizeof(eb)));
		return;
	}
	f.type = st.st_mode & S_IFMT;
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	if (S_ISDIR(st.st_mode))
		do_dir(k, n);
	else if (S_ISREG(st.st_mode))
		ops->file(k->w->arg, k->index, &f);
	else if ((S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) ||
	    S_ISBLK(st.st_mode)) && ops->stream != NULL) {
		struct stat lst;

		/*
		 * Reading a device calls its driver.  A symlink to one, in a
		 * directory others can write (cbpscan scan /tmp/\*), may have
		 * been planted there: not followed (and the stream callback
		 * opens with O_NOFOLLOW, so a symlink swapped in after this
		 * check is refused too).  /dev/stdin (in /dev) is followed.
		 */
		f.safe_dir = root_parent_safe(k->w, n->name, n->path_len);
		if (!f.safe_dir && lstat(n->name, &lst) == 0 &&
		    S_ISLNK(lst.st_mode)) {
			report(k, n->name, CBP_EPERM, 1, "a symbolic link to %s "
			    "in a directory others can write: not followed; "
			    "name the FIFO or device itself",
			    S_ISFIFO(st.st_mode) ? "a FIFO" : "a device");
			return;
		}
		ops->stream(k->w->arg, k->index, &f);
	} else {
		if (S_ISSOCK(st.st_mode))
			skipped(k, CBP_WALK_SKIP_SOCKET);
		report(k, n->name, CBP_EIO, 1, "%s cannot be read; name a file, "
		    "a directory, a FIFO or a device", S_ISSOCK(st.st_mode) ?
		    "a socket" : "this type of file");
	}
}

static void *
worker_main(void *arg)
{
	struct worker *k = arg;
	struct walk *w = k->w;
	struct wnode *n = NULL;

	while ((n = take(w, n != NULL)) != NULL) {
		if (cancelled(w))
			fd_release(w, n->parent);	/* drain */
		else if (n->is_root)
			do_root(k, n);
		else
			do_dir(k, n);
		mem_release(n);
	}
	mem_release(k->cached);
	k->cached = NULL;
	free(k->buf);
	k->buf = NULL;
	return NULL;
}

static struct wnode *
root_node(const char *root)
{
	struct wnode *n;
	size_t len = strlen(root);

	/* "dir/" and "dir//" display as "dir"; "/" and "//" as "/". */
	while (len > 1 && root[len - 1] == '/')
		len--;
	if ((n = malloc(sizeof(*n) + len + 1)) == NULL)
		return NULL;
	n->parent = NULL;
	n->next = NULL;
	atomic_init(&n->mem_refs, 1);
	atomic_init(&n->fd_refs, 0);
	n->dir = NULL;
	n->fd = -1;
	n->dev = 0;
	n->root_dev = 0;
	n->ino = 0;
	n->dino_ok = 0;
	n->dino_dir_ok = 0;
	n->safe = 0;
	n->path_len = len;
	n->name_len = len;
	n->is_root = 1;
	n->sep = 0;
	memcpy(n->name, root, len);
	n->name[len] = '\0';
	return n;
}

int
cbp_walk_run(const char *const *roots, size_t nroots,
    const struct cbp_walk_opts *opts, const struct cbp_walk_ops *ops,
    void *arg)
{
	struct walk w;
	struct worker *ks = NULL;
	pthread_condattr_t ca;
	struct wnode *n;
	unsigned i, started = 0;
	size_t r;
	int mu_ok = 0, fdcv_ok = 0, workcv_ok = 0, ca_ok = 0;
	int rc = CBP_EINVAL;

	memset(&w, 0, sizeof(w));
	if (opts == NULL || ops == NULL || ops->file == NULL ||
	    opts->nthreads == 0 || (roots == NULL && nroots > 0) ||
	    (opts->excludes == NULL && opts->nexcludes > 0))
		goto out;
	for (r = 0; r < nroots; r++)
		if (roots[r] == NULL)
			goto out;

	w.opts = opts;
	w.ops = ops;
	w.arg = arg;
	w.euid = geteuid();
	atomic_init(&w.fd_waiters, 0);
	rc = CBP_ENOMEM;
	if (pthread_mutex_init(&w.mu, NULL) != 0)
		goto out;
	mu_ok = 1;
	if (pthread_condattr_init(&ca) != 0)
		goto out;
	ca_ok = 1;
	/* fd waits are timed; a monotonic clock is immune to clock changes. */
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&w.fd_cv, &ca) != 0)
		goto out;
	fdcv_ok = 1;
	if (pthread_cond_init(&w.work_cv, NULL) != 0)
		goto out;
	workcv_ok = 1;

	/* Pushed last to first so that roots are taken in the order given. */
	for (r = nroots; r-- > 0;) {
		if ((n = root_node(roots[r])) == NULL)
			goto out;
		n->next = w.top;
		w.top = n;
	}
	if ((ks = calloc(opts->nthreads, sizeof(*ks))) == NULL)
		goto out;

	for (i = 0; i < opts->nthreads; i++) {
		ks[i].w = &w;
		ks[i].index = i;
		/* Fewer threads than asked still finish the walk. */
		if (pthread_create(&ks[i].tid, NULL, worker_main, &ks[i]) != 0)
			break;
		started++;
	}
	if (started == 0)
		goto out;
	for (i = 0; i < started; i++)
		pthread_join(ks[i].tid, NULL);
	rc = CBP_OK;
out:
	/* Only on setup failure is anything left: roots not yet taken. */
	while ((n = w.top) != NULL) {
		w.top = n->next;
		free(n);
	}
	free(ks);
	if (workcv_ok)
		pthread_cond_destroy(&w.work_cv);
	if (fdcv_ok)
		pthread_cond_destroy(&w.fd_cv);
	if (ca_ok)
		pthread_condattr_destroy(&ca);
	if (mu_ok)
		pthread_mutex_destroy(&w.mu);
	return rc;
}
