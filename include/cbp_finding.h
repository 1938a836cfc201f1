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

/*
 * What a finding means for the auditor (docs/contract.md).  Only
 * VIOLATION and RETENTION count in the summary's "violations" and the exit
 * status; cbp_finding_is_violation() is the one test.
 */
enum cbp_disposition {
	CBP_DISP_VIOLATION = 0,	/* medium or above, outside any authorized location */
	CBP_DISP_RETENTION,	/* medium or above, authorized location, older than its retention */
	CBP_DISP_AUTHORIZED,	/* medium or above, authorized location, within retention (severity info) */
	CBP_DISP_REVIEW,	/* low (or info) heuristic, wherever it is: never a violation */
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

/*
 * What makes each record stand alone in a SIEM (docs/contract.md, "Every
 * record also carries").  The scan leaves this zeroed: the output layer
 * (cbp_output_finding/_problem/_summary) fills it in its own copy of the
 * record, in the one process that writes records, from the run's identity
 * (cbp_output_identify) and the record itself.  Sinks read it.
 */
struct cbp_record_meta {
	const char *scan_id;		/* UUID, one per run */
	const char *host;		/* host name at the start of the run */
	const char *host_id;		/* UUID kept in the state directory */
	char time[32];			/* when the record was made: RFC 3339 UTC, ms */
	char event_id[37];		/* this record of this run (UUID text) */
	char object_id[37];		/* this object and rule across runs; "" if none */
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
	/*
	 * A known-image match (rules cbp.known.exact / cbp.known.near): the
	 * list entry matched (list name, the agency's id, the entry's own
	 * category "plate" or "traveler", PDQ distance, 0 when exact).
	 * known.list NULL for every other finding.
	 */
	struct cbp_finding_known {
		const char *list;
		const char *id;
		const char *category;
		int distance;		/* 0..256 */
	} known;
	/* The object's PDQ hash (lowercase hex) and its quality 0..100, when
	 * computed (known-image matching); pdq[0] == '\0' otherwise. */
	char pdq[65];
	int pdq_quality;
	struct cbp_record_meta meta;	/* filled by the output layer */
};

struct cbp_problem {
	const char *path;
	const char *const *member;
	size_t nmember;
	enum cbp_reason reason;
	const char *detail;
	struct cbp_record_meta meta;	/* filled by the output layer */
};

#define CBP_SEV_COUNT (CBP_SEV_CRITICAL + 1)

struct cbp_summary {
	/* scan_id, host, host_id, time and event_id are in meta. */
	const char *version;		/* cbpscan version; NULL: this binary's */
	const char *rules;		/* sha256 hex of the ruleset in force (cbp_ruleset_digest) */
	const char *lists;		/* cbp_known_digest of the known-image lists; NULL: none loaded */
	uint64_t known_entries;		/* entries in those lists */
	/* Where their index came from: "hit" (the state directory's cache),
	 * "built" (from the text, then cached), "off" (from the text, cache
	 * disabled); NULL when no lists. */
	const char *lists_cache;
	const char *const *roots;	/* each PATH as given, raw bytes */
	size_t nroots;
	double started, finished;	/* seconds since the epoch */
	uint64_t files, bytes, archives, members;
	uint64_t findings, violations, unscannable;
	double elapsed_s;
	int exit_status;
	int complete;			/* 0: stopped early, or a root could not be scanned */
	uint64_t severity[CBP_SEV_COUNT];	/* findings by severity, indexed by enum cbp_severity */
	/* Entries not scanned, by why (docs/contract.md "skipped"). */
	struct cbp_skipped {
		uint64_t symlink, fifo, socket, device, excluded, other_fs, vanished;
	} skipped;
	/*
	 * What isolated the parsers (docs/contract.md "confinement"): older
	 * kernels lack Landlock, so the summary says what was in force.
	 * workers 0: no worker was started (nothing to scan).
	 */
	struct cbp_confinement {
		unsigned workers;	/* worker processes (--threads) */
		int seccomp;		/* 1: the allow-list filter was loaded */
		int seccomp_loose;	/* 1: the sanitizer builds' looser filter */
		int landlock_abi;	/* Landlock ABI in force, 0: none */
		int no_new_privs;
		uint64_t replaced;	/* workers that died or were killed */
		const uint64_t *objects;	/* objects each worker took; NULL: not known */
		size_t nobjects;
	} confinement;
	/* With delivery: its format name (NULL: no delivery, no "delivery" key). */
	const char *delivery_format;
	uint64_t spool_dropped;		/* unscannable records the spool cap dropped */
	struct cbp_record_meta meta;	/* filled by the output layer */
};

const char *cbp_severity_name(enum cbp_severity s);	/* "info" ... "critical" */
int cbp_severity_parse(const char *s, enum cbp_severity *out);	/* 0 or CBP_EINVAL */
const char *cbp_disposition_name(enum cbp_disposition d);
const char *cbp_reason_name(enum cbp_reason r);
enum cbp_reason cbp_reason_from_err(int code);	/* enum cbp_err -> reason */

/*
 * The disposition of a finding of severity sev: a low (or info) heuristic
 * is "review" wherever it is; otherwise the location decides: outside
 * every authorized location "violation", inside one "authorized" when
 * within its retention (within = 1), "retention" past it (within = 0).
 * authorized: the object is in an authorized location.
 */
enum cbp_disposition cbp_disposition_for(enum cbp_severity sev, int authorized,
    int within);

/*
 * 1 if this finding counts in the summary's "violations" and the exit
 * status: its disposition is violation or retention, nothing else.
 */
int cbp_finding_is_violation(const struct cbp_finding *f);

/* ---- ids ------------------------------------------------------------------ */

/* A random (version 4) UUID as lowercase text. */
void cbp_uuid_v4(char out[37]);

/*
 * The name-based UUID of RFC 9562 section 5.8 (version 8) taken from a
 * SHA-256 digest: its first 16 bytes, with the version nibble set to 8
 * and the variant bits to 10, as lowercase text.
 */
void cbp_uuid_from_sha256(const unsigned char digest[32], char out[37]);

/* 1 if s is a UUID in lowercase text form (8-4-4-4-12 hex digits). */
int cbp_uuid_valid(const char *s);

#endif
