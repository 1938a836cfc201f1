/*
 * cbp_scan.h — one scan: the worker pool that drives every stage.
 *
 * struct cbp_scan is set up by main.c from options and configuration, then
 * read-only while workers run (except the counters, which are atomic).
 * Each worker owns its libmagic handles, matcher and scratch; the ruleset
 * and the outputs are shared (outputs serialise themselves).
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
#include "cbp_output.h"
#include "cbp_rules.h"
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
};

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

void cbp_scan_free(struct cbp_scan *s);

#endif
