/*
 * cbp_finding.h — what the scan reports: findings, problems and the summary.
 *
 * These are the records of docs/contract.md, independent of how they are
 * written: the output sinks (cbp_output.h) turn them into text or JSON
 * Lines, delivery sends them on.  Everything in them is borrowed from the
 * scan for the duration of one emit call; evidence is already masked.
 */
#ifndef CBP_FINDING_H
#define CBP_FINDING_H

#include <stddef.h>
#include <stdint.h>

enum cbp_severity {
	CBP_SEV_INFO = 0,
	CBP_SEV_LOW,
	CBP_SEV_MEDIUM,
	CBP_SEV_HIGH,
	CBP_SEV_CRITICAL,
};

/* A finding at or above this severity is a violation (unless authorized). */
#define CBP_SEV_VIOLATION CBP_SEV_MEDIUM

enum cbp_disposition {
	CBP_DISP_VIOLATION = 0,	/* outside any authorized location */
	CBP_DISP_RETENTION,	/* authorized location, older than its retention */
	CBP_DISP_AUTHORIZED,	/* authorized location, within retention (severity info) */
};

enum cbp_reason {
	CBP_REASON_ENCRYPTED = 0,
	CBP_REASON_LIMIT,
	CBP_REASON_CORRUPT,
	CBP_REASON_PERMISSION,
	CBP_REASON_IO,
	CBP_REASON_TIMEOUT,
	CBP_REASON_CHANGED,	/* replaced (symlink, device, other file) between listing and opening, or while read */
	CBP_REASON_NOMEM,	/* memory ran out */
};

struct cbp_finding {
	const char *rule;		/* rule id, e.g. "cbp.plate.lpr-record" */
	const char *title;
	const char *category;		/* "plate", "traveler", "known" ... */
	enum cbp_severity severity;
	const char *path;		/* raw bytes */
	const char *const *member;
	size_t nmember;
	uint64_t size;
	int64_t mtime;			/* CBP_MTIME_UNKNOWN if unknown */
	char sha256[65];		/* lowercase hex */
	int sha256_partial;		/* hashed fewer bytes than the object holds */
	uint64_t sha256_bytes;		/* bytes hashed (written when partial) */
	const char *mime;
	const char *evidence;		/* masked; may be NULL */
	enum cbp_disposition disposition;
};

struct cbp_problem {
	const char *path;
	const char *const *member;
	size_t nmember;
	enum cbp_reason reason;
	const char *detail;
};

struct cbp_summary {
	char scan_id[37];		/* UUID v4 text */
	const char *host;
	double started, finished;	/* seconds since the epoch */
	uint64_t files, bytes, archives, members;
	uint64_t findings, violations, unscannable;
	double elapsed_s;
	int exit_status;
	int complete;			/* 0: stopped early, or a root could not be scanned */
	/* Entries not scanned, by why (docs/contract.md "skipped"). */
	struct cbp_skipped {
		uint64_t symlink, fifo, socket, device, excluded, other_fs, vanished;
	} skipped;
};

const char *cbp_severity_name(enum cbp_severity s);	/* "info" ... "critical" */
int cbp_severity_parse(const char *s, enum cbp_severity *out);	/* 0 or CBP_EINVAL */
const char *cbp_disposition_name(enum cbp_disposition d);
const char *cbp_reason_name(enum cbp_reason r);
enum cbp_reason cbp_reason_from_err(int code);	/* enum cbp_err -> reason */

/* 1 if this finding counts as a violation for the exit status. */
int cbp_finding_is_violation(const struct cbp_finding *f);

#endif
