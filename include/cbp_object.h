/*
 * cbp_object.h — one thing being scanned, and the read stage.
 *
 * An object is a regular file on disk (fd >= 0) or a buffer in memory (an
 * archive member, or an image payload inside a biometric record).  Either
 * way the scan sees it the same way: a head read first, whole content only
 * when a rule needs it (cheap-first evaluation).
 *
 * Disk files are read with pread() on an fd opened by cbp_read_open(),
 * which opens exactly the file the walk listed: O_PATH first (no driver is
 * called, a FIFO cannot block), fstat to check its type and inode against
 * what readdir saw, then a reopen of that same inode for reading -- so a
 * name swapped for a symlink, a device or another file after readdir() is
 * reported as "changed" and never opened for reading.  A FIFO or device
 * named on the command line (or standard input) is a stream: it is copied
 * into a memfd up to a cap by cbp_read_stream() and scanned from there,
 * since later stages read an object more than once.
 */
#ifndef CBP_OBJECT_H
#define CBP_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cbp_buf.h"
#include "cbp_err.h"

#define CBP_MTIME_UNKNOWN INT64_MIN

struct cbp_object {
	/* Identity: borrowed, valid for the object's lifetime. */
	const char *path;		/* file on disk, raw bytes (may exceed PATH_MAX) */
	const char *const *member;	/* names inside archives/records, outermost first */
	size_t nmember;
	const char *name;		/* basename of path, or the innermost member */
	uint64_t size;			/* bytes (fstat, or the member's real length) */
	int64_t mtime;			/* seconds since the epoch, or CBP_MTIME_UNKNOWN */
	unsigned depth;			/* nesting: 0 on disk, +1 per archive/record level */

	/* Content source: exactly one of fd >= 0 or mem != NULL. */
	int fd;
	const unsigned char *mem;	/* whole member in memory (borrowed) */
	size_t mem_len;
	int mem_partial;		/* mem holds only the first mem_len of size bytes */

	/* Head: the first bytes (set by cbp_read_head). */
	const unsigned char *head;
	size_t head_len;

	/* Whole content, up to a cap (set by cbp_read_load). */
	const unsigned char *data;
	size_t data_len;
	int data_complete;		/* data holds every byte of the object */

	/* Private storage. */
	unsigned char *head_store;	/* fd objects: head buffer (owned) */
	struct cbp_dynbuf load_store;	/* fd objects: loaded content (owned) */
};

/* Zero an object and set fd = -1.  Identity fields are filled by the caller. */
void cbp_object_init(struct cbp_object *o);

/* Free what the read stage allocated (head and load buffers); does not close fd. */
void cbp_object_release(struct cbp_object *o);

/* What the walk saw of an entry, to be checked again on the opened file. */
struct cbp_open_want {
	mode_t type;		/* S_IFREG; S_IFIFO, S_IFCHR or S_IFBLK for a named stream */
	dev_t dev;		/* device of the directory listing it (of the file for a root) */
	ino_t ino;		/* inode readdir or stat gave; 0: not known, not checked */
	int root;		/* named on the command line: dev/ino must match exactly */
	int follow;		/* a root: a symlink as the last component is followed */
	int direct;		/* below a root, nobody but root or us can swap the name
				   (the walk's safe_dir): one plain open, checked after */
};

/*
 * Open name relative to dirfd (AT_FDCWD for a root) for reading, only if it
 * is still what the walk listed (want).  Returns CBP_OK with *fd (blocking
 * for a device, O_NONBLOCK otherwise) and *st set; CBP_ENOTFOUND when the
 * name is gone (vanished); CBP_ECHANGED when it is now of another type
 * (symlink, directory, device, FIFO, socket) or another inode -- nothing but
 * an O_PATH descriptor was ever opened on it; CBP_EPERM on EACCES/EPERM;
 * CBP_EIO otherwise.  err gets the text.  Never blocks, never changes atime
 * where the kernel allows O_NOATIME.
 */
int cbp_read_open(int dirfd, const char *name, const struct cbp_open_want *want,
    int *fd, struct stat *st, struct cbp_error *err);

/*
 * Copy a stream (FIFO, device, standard input) into a new memfd, at most
 * cap bytes.  *memfd gets the copy (size *len); *more is set when the
 * stream held more than cap bytes (the rest is not read).  Waits for a
 * slow writer, but gives up with CBP_EIO within a second of *cancel
 * becoming non-zero.  CBP_ENOMEM when memory runs out, CBP_EIO on a read
 * error.
 */
int cbp_read_stream(int fd, size_t cap, volatile int *cancel, int *memfd,
    uint64_t *len, int *more, struct cbp_error *err);

/*
 * Read up to cap bytes from the start into o->head.  For a disk file a read
 * shorter than min(size, cap) means the file shrank: CBP_EIO.
 */
int cbp_read_head(struct cbp_object *o, size_t cap, struct cbp_error *err);

/*
 * Make o->data hold the first min(size, cap) bytes (the whole object when
 * it fits: o->data_complete).  Idempotent; a later call with a larger cap
 * reads more.  Shrinking files give CBP_EIO; CBP_ENOMEM; never reads more
 * than cap whatever the file claims.
 */
int cbp_read_load(struct cbp_object *o, size_t cap, struct cbp_error *err);

/* pread-like access at any offset (disk or memory); *got may be < len at EOF. */
int cbp_read_at(struct cbp_object *o, uint64_t off, void *buf, size_t len,
    size_t *got, struct cbp_error *err);

/*
 * Call fn on the object's first `limit` bytes in windows of `window` bytes
 * that overlap by `overlap` (base = the window's offset in the object).
 * Memory objects, loaded objects and files no larger than their head are
 * one window, without reading again.  Disk files are read window by window
 * into scratch (caller-owned, reused across files so it stays in cache).
 * A file that returns fewer bytes than fstat promised gives CBP_EIO.  fn
 * returns 0 to go on, non-zero to stop (that value is returned).
 */
typedef int (*cbp_window_fn)(void *arg, const unsigned char *p, size_t n,
    uint64_t base);
int cbp_read_windows(struct cbp_object *o, uint64_t limit, size_t window,
    size_t overlap, struct cbp_dynbuf *scratch, cbp_window_fn fn, void *arg,
    struct cbp_error *err);

/*
 * SHA-256 of the object's first min(size, max) bytes (max 0: no cap), never
 * more than the size seen at open however the file grows; a member held only
 * in part is hashed as far as it is held.  *cancel (may be NULL) is checked
 * between chunks: a set flag stops the hash where it is.  ext says how many
 * bytes were hashed and whether that is less than the object holds
 * (partial).  CBP_EIO when the file shrank or a read failed; CBP_ENOMEM.
 */
struct cbp_hash_extent {
	uint64_t bytes;		/* bytes hashed */
	int partial;		/* fewer than the object holds (cap, cut member, cancel) */
};
int cbp_read_sha256(struct cbp_object *o, uint64_t max,
    const volatile int *cancel, unsigned char digest[32],
    struct cbp_hash_extent *ext, struct cbp_error *err);

#endif
