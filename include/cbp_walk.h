/*
 * cbp_walk.h — the parallel, physical filesystem walk.
 *
 * N worker threads share one queue of directories to read.  Traversal is by
 * directory fds (openat + fdopendir), so a path of any length works and no
 * syscall ever sees a full path.  Symlinks are never followed below the
 * roots (like find -P; a root that is itself a symlink is followed, like
 * find -H), so loops are impossible.  Only regular files reach the file
 * callback; FIFOs, sockets, devices and symlinks found below a root are
 * never opened, only counted (skip callback).  A root that is a FIFO, a
 * character or block device, or "-" (standard input) goes to the stream
 * callback instead.  With one_fs, directories on another device are not
 * entered; pseudo filesystems (proc, sysfs, cgroup, debugfs, tracefs,
 * securityfs, pstore, bpf, configfs, devpts, mqueue, hugetlbfs, fusectl,
 * binfmt_misc ...) are skipped by statfs type unless named as a root.  An
 * error on one directory or file is reported through the error callback
 * and the walk goes on.
 *
 * What readdir saw of each entry (its inode, where the filesystem's readdir
 * inodes are those fstat gives) travels with it, so that whoever opens it
 * can tell a listed file from one swapped in since (cbp_read_open).
 *
 * The file callback runs on the worker thread that found the file, so the
 * scan of the file happens there too: every core walks and scans.
 */
#ifndef CBP_WALK_H
#define CBP_WALK_H

#include <stddef.h>
#include <sys/stat.h>

struct cbp_walk_opts {
	unsigned nthreads;		/* >= 1 */
	int one_file_system;		/* -x */
	const char *const *excludes;	/* --exclude globs (fnmatch) */
	size_t nexcludes;
	volatile int *cancel;		/* when non-NULL and set, stop early */
};

/* Why an entry found by the walk was not scanned (the summary's "skipped"). */
enum cbp_walk_skip {
	CBP_WALK_SKIP_SYMLINK,		/* a symbolic link below a root */
	CBP_WALK_SKIP_FIFO,		/* a FIFO below a root */
	CBP_WALK_SKIP_SOCKET,		/* a socket (below a root or named) */
	CBP_WALK_SKIP_DEVICE,		/* a character or block device below a root */
	CBP_WALK_SKIP_EXCLUDED,		/* a file or directory matching --exclude */
	CBP_WALK_SKIP_OTHER_FS,		/* a directory on another filesystem (-x) or a pseudo filesystem */
	CBP_WALK_SKIP_VANISHED,		/* gone between listing and opening */
};

struct cbp_walk_file {
	int dirfd;			/* directory holding the file (AT_FDCWD for a root given as a path) */
	const char *name;		/* name to openat() relative to dirfd */
	const char *path;		/* display path, raw bytes, NUL-terminated */
	size_t path_len;
	mode_t type;			/* S_IFREG, or for a stream S_IFIFO, S_IFCHR or S_IFBLK */
	dev_t dev;			/* the directory's device (the file's own for a root) */
	ino_t ino;			/* inode the listing saw; 0 when not known */
	int root;			/* named on the command line (follow a symlink; a
					   failure means the root could not be scanned) */
	int safe_dir;			/* only root or the scanning user can change the
					   directory's entries: nobody else can swap the name
					   (for a stream root: the directory holding it) */
	int fd;				/* stream already open (standard input for "-"), else -1 */
};

struct cbp_walk_ops {
	/* A regular file (by d_type or fstatat) to scan, on worker thread `worker`. */
	void (*file)(void *arg, unsigned worker, const struct cbp_walk_file *f);
	/*
	 * A directory or root that could not be read: code is CBP_EPERM
	 * (permission), CBP_ECHANGED (a directory replaced by a symlink, a
	 * file or another directory since it was listed) or CBP_EIO
	 * (anything else), detail a short text including strerror.  root is
	 * set when the path is a root named on the command line, which then
	 * could not be scanned at all.  May run on any worker thread.
	 */
	void (*error)(void *arg, unsigned worker, const char *path, int code,
	    const char *detail, int root);
	/* An entry not scanned, and why (may be NULL). */
	void (*skip)(void *arg, unsigned worker, enum cbp_walk_skip why);
	/*
	 * A root that is a FIFO, a character or block device, or "-"
	 * (f->fd = standard input), to be read as one object (may be NULL:
	 * then such a root is reported through error, as not scannable).
	 */
	void (*stream)(void *arg, unsigned worker, const struct cbp_walk_file *f);
	/*
	 * Every entry of one directory has gone to the file callback on this
	 * worker thread, and its descriptor (the files' dirfd) is about to
	 * be released (may be NULL).  The scan sends its batch here.
	 */
	void (*dir_done)(void *arg, unsigned worker);
};

/*
 * Walk every root.  A root that is a regular file goes straight to the
 * file callback, a FIFO, device or "-" to the stream callback, and one that
 * is missing, unreadable or a socket to the error callback with root set.  Exclusion: a glob without '/' is matched against each
 * entry's name, one with '/' against its whole display path (fnmatch,
 * FNM_PATHNAME off); an excluded directory is not entered.  Returns CBP_OK
 * when the walk finished (even with per-object errors), CBP_ENOMEM or
 * CBP_EINVAL on setup failure.  Blocks until every worker is done.
 */
int cbp_walk_run(const char *const *roots, size_t nroots,
    const struct cbp_walk_opts *opts, const struct cbp_walk_ops *ops,
    void *arg);

/* 1 if name/path is excluded by opts (exposed for archive members too). */
int cbp_walk_excluded(const struct cbp_walk_opts *opts, const char *path,
    const char *name);

/*
 * 1 if fd is the root of a mount (statx STATX_ATTR_MOUNT_ROOT): a name
 * bind-mounted over shows another inode than readdir gave without being a
 * swap.  Used by the walk and by read.c's check of an opened file.
 */
int cbp_walk_mount_root(int fd);

#endif
