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
 * expansion goes on where it can).  libarchive's warnings (a member's bad
 * CRC, data longer than its header says) are problems too, "corrupt", on
 * the member, whose bytes are still delivered.  An error that ends the
 * archive early says which member it hit and that the rest was not read.
 *
 * Problems about one top-level archive are capped (CBP_ARCHIVE_PROBLEMS,
 * shared by every nesting level through the budget): past the cap they are
 * counted, and when the top-level expansion ends, one more problem says how
 * many were left out.  The scan counts the problems it reports about
 * members through the same budget (cbp_expand_budget_problem).
 *
 * Member names come from libarchive converted to UTF-8 under a fixed
 * C.UTF-8 character type (this thread's, for the libarchive calls only;
 * callbacks run in the caller's locale), so that names, and the ids built
 * from them, are the same however the scan was started.
 */
#ifndef CBP_EXPAND_H
#define CBP_EXPAND_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_finding.h"
#include "cbp_identify.h"
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
	uint64_t problems;		/* problems reported about it so far */
	uint64_t problems_dropped;	/* ... and left out past the cap */
	unsigned active;		/* levels of cbp_expand_object running */
	/*
	 * Set by the caller before the top-level call, 0 otherwise.  shares
	 * > 1: this expansion is one of that many phases of one archive,
	 * each reading its own members (ops->want): the bytes budgets
	 * (total_max, and max_ratio times the archive's size) and the
	 * problem cap are divided by it (rounded up), so that the phases
	 * together spend what one expansion would.  members_only: problems
	 * about the top-level archive itself (member_name NULL: damage
	 * between members, more than max_members) are not reported; the
	 * phase that owns the archive reports them.  Problems about members
	 * are, by the phase that read the member.  In a damaged archive the
	 * phases may stop at different places: a member whose data one
	 * phase cannot read may be passed by (a seek) in another, which goes
	 * on after it, and a skip that fails is reported on that member by
	 * the phase that made it.
	 */
	unsigned shares;
	int members_only;
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
	/*
	 * Optional (NULL: every member is wanted).  Called for each entry of
	 * a top-level archive (o->depth 0) right after its header was read
	 * and counted against max_members, before its data: index counts the
	 * entries of that archive from 0 (every header, whatever its type,
	 * in archive order, the same for every caller that reads the same
	 * archive with the same limits), name is the entry's name.  Return 0
	 * to pass it by: its data is skipped with archive_read_data_skip
	 * (a seek for zip, tar, cpio, iso9660; decompression for a
	 * compressed stream or a solid archive), nothing about it is
	 * reported and member is not called.  The bytes after a gzip stream
	 * are an entry of their own, after the last.  Scanning an archive
	 * in phases, and resuming one after a member that failed, both use
	 * it.
	 */
	int (*want)(void *arg, uint64_t index, const char *name);
};

/*
 * Count one problem about a member of the archive that budget belongs to
 * (budget may be NULL: a plain file, not counted).  Returns 1 when it may
 * be reported, 0 when the per-archive cap is reached: then it is counted
 * in the one record that the top-level expansion writes at its end.
 */
int cbp_expand_budget_problem(struct cbp_expand_budget *budget);

/*
 * Expand o (disk fd or memory).  Returns CBP_OK when the archive was read to
 * its end (problems along the way were reported), CBP_ECORRUPT /
 * CBP_EENCRYPTED / CBP_ELIMIT / CBP_EIO when it could not be opened or
 * read at all (also reported via ops->problem), CBP_ENOMEM.

 *
 * id is the object's identification (cbp_identify_object): whether it is a
 * compressed stream (then a stream with no archive inside is one raw
 * member), gzip (decoded by cbp_gunzip), and where the container starts
 * (id->offset: a zip behind an executable stub is read from there, and a
 * container found by a probe, id->hidden, is offered to its own reader
 * only).  Which objects to expand is the caller's decision, from
 * id->kind.  NULL: not identified, every reader bids from offset 0.
 * CBP_EINVAL also when id->offset is past what the object holds.
 */
int cbp_expand_object(struct cbp_object *o, const struct cbp_ident *id,
    const struct cbp_expand_limits *lim, struct cbp_expand_budget *budget,
    const struct cbp_expand_ops *ops, void *arg);

#endif
