/*
 * cbp_known_cache.h — the built known-image index, kept on disk between
 * runs so that a scan with the same lists maps it instead of parsing them.
 *
 * Why: a 10 M-line list is 1.4 GB of text; parsing it and building the
 * index takes seconds of CPU and ~190 bytes of memory per entry on every
 * run, while nightly runs load the same lists every night.  The cache is
 * the index's arrays (cbp_known_view) written once, each at an aligned
 * offset, and mapped read-only on later runs: loading is an open, a few
 * checks and an mmap, the pages come from the page cache as queries touch
 * them, and forked workers share them (a read-only file map is neither
 * copied nor counted in their RLIMIT_DATA).
 *
 * The key.  The index depends on the lists' bytes, their options and the
 * substring count.  Hashing the bytes would cost what the cache saves, so
 * the key is what the file system says about them: for each list in order
 * its path, name and threshold, then dev, inode, size, mtime and ctime (in
 * nanoseconds) and mode of the file — for a directory of lists, of the
 * directory and of each entry in it — plus the chunk count, the format
 * version and the build's byte order and word size.  Any change to a list
 * (written in place, replaced by a rename, chmod, chown, a file added to
 * a directory) changes a time or an inode, so the index is built from the
 * text again and the cache rewritten.  One blind spot is closed: a change
 * within the file system's timestamp granularity of the state that was
 * keyed would keep every stamp; so an index is stored only when every
 * stamp in the key is older than the time the key was taken (otherwise
 * the next run builds again and stores then).
 *
 * Files: STATEDIR/known-<32 hex>.cache, one per set of lists and options
 * (the name hashes the paths, names, thresholds and chunk count; the
 * stamps are checked inside), so a changed list replaces its cache rather
 * than adding one.  Written whole: an unnamed file in the directory
 * (O_TMPFILE, 0600; a run killed while writing leaves nothing), fsync,
 * linked to a temporary name, renamed over the cache, fsync of the
 * directory.  Read: opened with
 * O_NOFOLLOW, refused unless owned by the effective user and writable by
 * nobody else (and, as root, cbp_trust), then its header and tables are
 * checked against the file's size before anything is used (see
 * known_cache.c); whatever fails, the caller builds from the text.  The
 * cache is never replaced in place, so a mapped cache never changes under
 * a running scan.
 *
 * The module never prints; results come back as codes with a message.
 */
#ifndef CBP_KNOWN_CACHE_H
#define CBP_KNOWN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_err.h"
#include "cbp_known.h"

/* Format version: bump when the layout or the meaning of an array changes. */
#define CBP_KNOWN_CACHE_VERSION 1

/* One list as configured (cbp_known_add_path's arguments). */
struct cbp_known_cache_list {
	const char *path;
	const char *name;	/* NULL: the default */
	int threshold;		/* -1: the default */
};

struct cbp_known_cache_key {
	uint8_t key[32];	/* SHA-256 of everything the index depends on */
	char file[64];		/* the cache's name in the state directory */
	int storable;		/* every stamp older than the key: may store */
};

/*
 * Compute the key of the lists l[0..n) with substring count chunks (0:
 * automatic) by looking at them as cbp_known_add_path would, check_fd
 * (may be NULL) applied to every file and directory opened.  CBP_OK;
 * otherwise (a list missing, refused, ...) no cache can be used, and
 * building from the text will report the problem.
 */
int cbp_known_cache_key(const struct cbp_known_cache_list *l, size_t n,
    unsigned chunks,
    int (*check_fd)(void *arg, int fd, const char *path,
    struct cbp_error *err), void *check_arg,
    struct cbp_known_cache_key *key, struct cbp_error *err);

/*
 * Map the cache for key from the directory open on dirfd.  CBP_OK: *out is
 * the index (cbp_known_free unmaps it).  CBP_ENOTFOUND: no cache, or one
 * for other versions of the lists (stale).  CBP_EPERM: refused (owner or
 * mode).  CBP_ECORRUPT / CBP_ETRUNC: inconsistent.  CBP_EIO, CBP_ENOMEM.
 */
int cbp_known_cache_load(int dirfd, const struct cbp_known_cache_key *key,
    struct cbp_known **out, struct cbp_error *err);

/*
 * Write k as the cache for key into the directory open on dirfd,
 * atomically.  CBP_OK; CBP_ECHANGED when key is not storable (nothing
 * written); CBP_EIO (err says why, e.g. no space), CBP_ENOMEM.
 */
int cbp_known_cache_store(int dirfd, const struct cbp_known_cache_key *key,
    const struct cbp_known *k, struct cbp_error *err);

/*
 * The same on an open file, without the owner and mode checks: for tests
 * and the fuzzer.  load_fd maps fd (which may then be closed); write_fd
 * writes from offset 0 and does not sync.
 */
int cbp_known_cache_load_fd(int fd, const uint8_t key[32],
    struct cbp_known **out, struct cbp_error *err);
int cbp_known_cache_write_fd(int fd, const uint8_t key[32],
    const struct cbp_known *k, struct cbp_error *err);

#endif
