/*
 * cbp_expand.h — archive expansion with libarchive.
 *
 * An object whose content is an archive (zip, tar and its compressed forms,
 * 7z, rar, cpio, iso9660, cab, ar, xar, lha) or a single compressed stream
 * (gzip, bzip2, xz, zstd, lz4, lzma, compress) is opened with libarchive
 * from its fd or its memory and each member is handed to a callback as a
 * new in-memory object (member chain extended by the member's name), which
 * the scan scans like any file — including archives inside it, to the depth
 * limit.  Members are never written to disk; their names are display
 * strings only, never used as paths.
 *
 * Budgets (cbp_limits.h, overridable): nesting depth, members per
 * top-level archive, bytes of one member held in memory, total bytes
 * expanded per top-level archive, and the expanded/compressed ratio that
 * marks a bomb.  A budget hit, an encrypted member or archive, and a corrupt
 * or truncated archive each become a problem for the problem callback (and
 * expansion goes on where it can).
 */
#ifndef CBP_EXPAND_H
#define CBP_EXPAND_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_finding.h"
#include "cbp_object.h"

struct cbp_expand_limits {
	unsigned max_depth;		/* archives nested deeper than this are not opened */
	uint64_t max_members;		/* per top-level archive */
	size_t member_max;		/* bytes of one member read into memory */
	uint64_t total_max;		/* bytes expanded per top-level archive */
	unsigned max_ratio;		/* expanded bytes / archive bytes */
};

/* Shared by every level of one top-level archive. */
struct cbp_expand_budget {
	uint64_t members;		/* members seen so far */
	uint64_t bytes;			/* bytes expanded so far */
	uint64_t top_size;		/* size of the top-level archive on disk */
};

struct cbp_expand_ops {
	/*
	 * Scan one member.  m is fully set up (identity, mem/mem_len, size,
	 * mtime, depth = parent depth + 1); valid only during the call.
	 * Return non-zero to stop expanding this archive.
	 */
	int (*member)(void *arg, struct cbp_object *m);
	/* Something could not be fully expanded; member chain as in cbp_problem. */
	void (*problem)(void *arg, const struct cbp_object *where,
	    const char *member_name, enum cbp_reason reason, const char *detail);
};

/*
 * 1 if the head bytes (and libmagic's MIME type, may be NULL) say this is
 * something libarchive should open: an archive or a compressed stream.
 * Cheap: decides from magic numbers only.
 */
int cbp_expand_is_archive(const char *mime, const unsigned char *head,
    size_t len);

/*
 * Expand o (disk fd or memory).  Returns CBP_OK when the archive was read to
 * its end (problems along the way were reported), CBP_ECORRUPT /
 * CBP_EENCRYPTED / CBP_ELIMIT / CBP_EIO when it could not be opened or
 * read at all (also reported via ops->problem), CBP_ENOMEM.
 */
int cbp_expand_object(struct cbp_object *o, const struct cbp_expand_limits *lim,
    struct cbp_expand_budget *budget, const struct cbp_expand_ops *ops,
    void *arg);

#endif
