/*
 * cbp_walk.h — the parallel, physical filesystem walk.
 *
 * N worker threads share one queue of directories to read.  Traversal is by
 * directory fds (openat + fdopendir), so a path of any length works and no
 * syscall ever sees a full path.  Symlinks are never followed below the
 * roots (like find -P; a root that is itself a symlink is followed, like
 * find -H), so loops are impossible.  Only regular files reach the file
 * callback; FIFOs, sockets and devices are not opened at all.  With
 * one_fs, directories on another device are not entered; pseudo
 * filesystems (proc, sysfs, cgroup, debugfs, tracefs, securityfs, pstore,
 * bpf, configfs, devpts, mqueue, hugetlbfs, fusectl, binfmt_misc ...) are
 * skipped by statfs type unless named as a root.  An error on one directory
 * or file is reported through the error callback and the walk goes on.
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

struct cbp_walk_file {
	int dirfd;			/* directory holding the file (AT_FDCWD for a root given as a path) */
	const char *name;		/* name to openat() relative to dirfd */
	const char *path;		/* display path, raw bytes, NUL-terminated */
	size_t path_len;
};

struct cbp_walk_ops {
	/* A regular file (by d_type or fstatat) to scan, on worker thread `worker`. */
	void (*file)(void *arg, unsigned worker, const struct cbp_walk_file *f);
	/*
	 * A directory or root that could not be read: code is CBP_EPERM
	 * (permission) or CBP_EIO (anything else), detail a short text
	 * including strerror.  May run on any worker thread.
	 */
	void (*error)(void *arg, unsigned worker, const char *path, int code,
	    const char *detail);
};

/*
 * Walk every root.  A root that is a regular file goes straight to the
 * file callback.  Exclusion: a glob without '/' is matched against each
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

#endif
