/*
 * cbp_scan.h — one scan: the worker pool that drives every stage.
 *
 * Execution model (issue 8): the parent walks (threads that only list
 * directories), batches the files it finds (up to 32 of one directory, a
 * descriptor of the directory and the names), and one dispatcher thread
 * (the caller of cbp_scan_run) hands batches to N worker processes
 * (cbp_supervise.h), forked after the rules are compiled and libmagic is
 * loaded, then confined (cbp_confine.h).  Workers run the per-object
 * pipeline below and send records back (cbp_wire.h); only the parent
 * writes outputs and keeps the counters.  A worker that overruns a time
 * budget or its memory cap, or crashes, costs one record for the object
 * in flight; the rest of its batch goes to a new worker, and an archive
 * that failed in a member is resumed after that member, once.
 *
 * Secrets: workers are forked in cbp_scan_run, and replacements later
 * during the scan, from this process; nothing secret (a delivery token,
 * keys) may be loaded before the scan ends, or workers must come from a
 * zygote forked before it is (not done: delivery does not exist yet).
 *
 * For every regular file the walk finds: open safely, read the head,
 * identify, match the rules (cheap-first), report findings, then descend:
 * archive members (libarchive) and pictures embedded in biometric records
 * or Exif thumbnails are scanned as child objects, with the same rules, to
 * the nesting limits.  Whatever cannot be fully scanned is reported as an
 * unscannable record.
 */
#ifndef CBP_SCAN_H
#define CBP_SCAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cbp_expand.h"
#include "cbp_facts.h"
#include "cbp_known.h"
#include "cbp_output.h"
#include "cbp_rules.h"
#include "cbp_supervise.h"
#include "cbp_walk.h"

/* An authorized location (docs/cbp-profile.md): path glob and retention. */
struct cbp_authz {
	char *glob;
	int64_t retention_s;		/* < 0: no retention limit */
};

struct cbp_scan_opts {
	const char *const *roots;
	size_t nroots;
	unsigned nthreads;
	int one_file_system;
	const char *const *excludes;
	size_t nexcludes;
	int strict;			/* --strict: main.c raises the exit status; never a violation */
	struct cbp_scan_caps caps;
	struct cbp_expand_limits expand;
	const struct cbp_authz *authz;
	size_t nauthz;
	const char *magic_db;		/* NULL: default search */
	/* Tests only: the nth allocation scan.c makes fails (0: never), to
	 * show each such failure gives a "nomem" record. */
	unsigned long fail_alloc;
	/*
	 * Called from any worker thread for each root (PATH on the command
	 * line) that could not be scanned at all, after its unscannable
	 * record, so main.c can say so on stderr; may be NULL.
	 */
	void (*root_failed)(void *arg, const char *path, enum cbp_reason reason,
	    const char *detail);
	void *root_failed_arg;
	/*
	 * Isolation (cbp_limits.h CBP_OBJECT_TIMEOUT, CBP_MEMBER_TIMEOUT,
	 * CBP_WORKER_MEMORY; 0: none): a worker that spends longer on one
	 * top-level object, or on one archive member, or grows its memory
	 * by more than worker_memory, is killed and the object reported.
	 */
	uint64_t object_timeout_ms;
	uint64_t member_timeout_ms;
	size_t worker_memory;
	/*
	 * With more than one thread, a top-level archive of at least this
	 * many bytes where passing a member by is a seek (zip and its kin,
	 * uncompressed tar, cpio, iso9660) is read in nthreads parts, each
	 * by another worker taking every n-th member.  0: never
	 * (CBP_SPLIT_MIN).
	 */
	uint64_t split_min;
	/*
	 * Known-image lists (cbp_known.h), or NULL: then no object is hashed
	 * by PDQ or decoded for it.  Built before cbp_scan_new, so that every
	 * worker (forked after) shares the index copy-on-write; borrowed,
	 * must outlive the scan.  Each object identified as an image is
	 * looked up by SHA-256 and by the PDQ hashes of its 8 rotations and
	 * flips: findings cbp.known.exact (critical) and cbp.known.near
	 * (high), category "known", at most CBP_SCAN_KNOWN_MATCHES each.
	 */
	const struct cbp_known *known;
	/*
	 * cbpscan hash: no rules, no lists.  Every object identified as an
	 * image (files, archive members, pictures in biometric records) is
	 * hashed instead, SHA-256 and PDQ at full scale (caps.pdq_full_scale),
	 * and sent as a finding of rule CBP_SCAN_HASH_RULE with sha256 (empty
	 * when only part of the object could be hashed), pdq and pdq_quality
	 * (pdq empty when the image could not be decoded: its problem is
	 * reported as usual).  The same workers, confinement and limits as a
	 * scan: an agency hashes its image store through the same parsers.
	 */
	int hash_mode;
};

#define CBP_SCAN_HASH_RULE "cbp.hash"

/* Known-list entries reported per object: the best ones; the evidence of
 * the last says how many more matched. */
#define CBP_SCAN_KNOWN_MATCHES 8

struct cbp_scan_stats {
	atomic_uint_fast64_t files, bytes, archives, members;
	atomic_uint_fast64_t findings, violations, unscannable;
	/* Walk entries not scanned, by why (the summary's "skipped"). */
	atomic_uint_fast64_t skip_symlink, skip_fifo, skip_socket, skip_device,
	    skip_excluded, skip_other_fs, skip_vanished;
	/* Roots named on the command line that could not be scanned at all. */
	atomic_uint_fast64_t roots_failed;
};

struct cbp_scan;

/*
 * Prepare a scan: checks the magic database loads (one handle per worker).
 * The ruleset and output are borrowed and must outlive the scan.
 */
int cbp_scan_new(const struct cbp_scan_opts *opts,
    const struct cbp_ruleset *rules, struct cbp_output *out,
    struct cbp_scan **scanp, struct cbp_error *err);

/* Run to completion (or until *cancel).  CBP_OK unless setup failed. */
int cbp_scan_run(struct cbp_scan *s, volatile int *cancel);

/* Live counters (progress) and final numbers. */
const struct cbp_scan_stats *cbp_scan_stats(const struct cbp_scan *s);

/*
 * After cbp_scan_run: what confinement the workers had (for the summary)
 * and the supervisor's counters (workers started, deaths).  Either may be
 * NULL.
 */
void cbp_scan_confinement(const struct cbp_scan *s,
    struct cbp_confine_info *info, struct cbp_sv_stats *st);

/* Objects each worker slot was given and finished (failures included):
 * *objects gets nworkers counters, valid until cbp_scan_free. */
unsigned cbp_scan_per_worker(const struct cbp_scan *s,
    const uint64_t **objects);

void cbp_scan_free(struct cbp_scan *s);

#endif
