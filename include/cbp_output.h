/*
 * cbp_output.h — output sinks: where records go.
 *
 * Every destination (text on a terminal, JSON Lines to a file, later an
 * HTTPS endpoint, a state database, an evidence bundle) is a sink behind
 * one interface.  struct cbp_output fans each record out to every sink and
 * serialises calls with a mutex, so worker threads can emit directly and a
 * sink never sees two records at once.  Sinks do not print anything else;
 * their errors come back as codes.
 */
#ifndef CBP_OUTPUT_H
#define CBP_OUTPUT_H

#include <pthread.h>
#include <stdio.h>

#include "cbp_buf.h"
#include "cbp_finding.h"

struct cbp_sink;

struct cbp_sink_ops {
	int (*finding)(struct cbp_sink *s, const struct cbp_finding *f);
	int (*problem)(struct cbp_sink *s, const struct cbp_problem *p);
	int (*summary)(struct cbp_sink *s, const struct cbp_summary *sum);
	/* Flush and free the sink (not the FILE it was given).  0 or a code. */
	int (*close)(struct cbp_sink *s);
	/* The run record (cbp_output_run); NULL: the sink does not take it. */
	int (*run)(struct cbp_sink *s, const struct cbp_summary *run);
};

/* Implementations embed this as their first member. */
struct cbp_sink {
	const struct cbp_sink_ops *ops;
};

#define CBP_OUTPUT_SINKS 8

/*
 * What went through the fan-out, whether or not every sink took it: the
 * summary's counts come from here (main.c), so "findings", "violations",
 * "unscannable" and "severity" count exactly the records written before
 * it.
 */
struct cbp_output_counts {
	uint64_t findings;
	uint64_t violations;		/* findings with cbp_finding_is_violation() */
	uint64_t unscannable;
	uint64_t severity[CBP_SEV_COUNT];	/* findings by severity */
	uint64_t disposition[CBP_DISP_REVIEW + 1];	/* findings by disposition */
};

struct cbp_output_seen;		/* output.c: record keys met in this run */

/*
 * A write that fails (full disk, reader gone, I/O error) stops the sink
 * that saw it: that sink writes nothing more, so its output ends with the
 * last whole record (see cbp_output_int.h for how a cut record is taken
 * back).  The fan-out then sets *cancel, if the caller gave one, so the
 * scan stops instead of producing records nobody will see, and counts
 * every record that did not reach every sink.  Set cancel directly after
 * cbp_output_init (main.c points it at the scan's cancel flag).
 */
struct cbp_output {
	pthread_mutex_t lock;
	struct cbp_sink *sinks[CBP_OUTPUT_SINKS];
	size_t nsinks;
	int first_error;		/* first non-zero sink return, kept */
	int write_errno;		/* errno of the first failed write (EPIPE, ENOSPC ...), 0 if none */
	unsigned long long lost;	/* records (summary included) some sink did not write */
	volatile int *cancel;		/* set to 1 on the first failed write; NULL: none */
	/*
	 * The run every record belongs to (cbp_output_identify), and what
	 * each record is stamped with (struct cbp_record_meta): the ids are
	 * computed here, under the lock, in the one process that writes
	 * records.  clock gives "time"; NULL is the real clock (tests fix it).
	 */
	char scan_id[37];
	char host_id[37];
	char *host;
	double (*clock)(void);
	void *md;			/* the SHA-256 context the ids are hashed with */
	struct cbp_output_seen *seen;
	unsigned long long nrecords;	/* records stamped so far */
	struct cbp_output_counts counts;
};

int cbp_output_init(struct cbp_output *o);
/*
 * Name the run: scan_id (a UUID, cbp_uuid_v4), the host name and the host
 * id (cbp_state.h), copied.  Call once, before the first record.
 * CBP_OK, CBP_EINVAL (not UUIDs), CBP_ENOMEM.
 */
int cbp_output_identify(struct cbp_output *o, const char *scan_id,
    const char *host, const char *host_id);
/* A copy of the counts so far, taken under the lock. */
void cbp_output_get_counts(struct cbp_output *o, struct cbp_output_counts *c);
/* Takes ownership of s (closed by cbp_output_close).  CBP_ELIMIT when full. */
int cbp_output_add(struct cbp_output *o, struct cbp_sink *s);
void cbp_output_finding(struct cbp_output *o, const struct cbp_finding *f);
void cbp_output_problem(struct cbp_output *o, const struct cbp_problem *p);
void cbp_output_summary(struct cbp_output *o, const struct cbp_summary *s);
/*
 * The "run" record, first of a run: scan id, host id, version, roots and
 * rules digest (from s: version, rules, roots, started), so that the
 * centre tells "did not finish" (a run without a summary) from "did not
 * run".  Only sinks with a run op take it (the delivery spool): the JSON
 * Lines and text outputs keep their first line a finding.
 */
void cbp_output_run(struct cbp_output *o, const struct cbp_summary *s);
/*
 * Close every sink; returns the first error seen during the run or on
 * close.  o->write_errno and o->lost stay readable afterwards.
 */
int cbp_output_close(struct cbp_output *o);

/*
 * One record of any type, for the JSON writer: the sink calls that take a
 * finding, a problem or a summary wrap it in this.
 */
enum cbp_output_type {
	CBP_OUT_FINDING,
	CBP_OUT_PROBLEM,		/* "unscannable" */
	CBP_OUT_SUMMARY,
	CBP_OUT_RUN,			/* "run": u.summary's version, rules, roots, started */
};

struct cbp_output_record {
	enum cbp_output_type type;
	union {
		const struct cbp_finding *finding;
		const struct cbp_problem *problem;
		const struct cbp_summary *summary;
	} u;
};

/* The record's "type" word in JSON ("finding", "unscannable", "summary"). */
const char *cbp_output_type_name(enum cbp_output_type t);

/*
 * The one JSON writer (docs/contract.md): append r to b as one compact
 * JSON object, without a newline, in the contract's key order, with the
 * fields every record carries (its meta).  Every sink that writes JSON
 * (JSON Lines here; later the HEC, bulk and report sinks, which wrap it)
 * calls this, so a field is added in one place.  Strings go through
 * cbp_json_string().  CBP_OK, or the buffer's error (CBP_ELIMIT over its
 * cap, CBP_ENOMEM); on error b holds a partial object the caller drops.
 */
int cbp_json_record(struct cbp_dynbuf *b, const struct cbp_output_record *r);

/*
 * JSON Lines sink (docs/contract.md): one cbp_json_record per line.
 * Writes to fp (not closed).
 */
struct cbp_sink *cbp_sink_jsonl_new(FILE *fp);

enum cbp_text_flags {
	CBP_TEXT_COLOR = 1 << 0,	/* ANSI colours; main.c decides (use_color) */
	CBP_TEXT_QUIET = 1 << 1,	/* findings only: no problems, no summary */
};
/*
 * Delivery sink: every record (the run record too) through cbp_json_record
 * into the spool (cbp_spool.h), nothing else on the record path.  Over the
 * spool's byte cap, unscannable records are dropped (counted by the spool)
 * and a finding, run or summary that cannot be spooled returns CBP_ELIMIT
 * (the scan then exits 2); every failure to spool returns CBP_EDELIVERY
 * (cbp_spool_refused counts them).  With mask_paths, the path and member
 * names of findings and unscannable records go through cbp_mask_plates
 * (their ids are already stamped from the real names).  The sender thread
 * polls the spool; the sink never waits for it.
 */
struct cbp_spool;
struct cbp_sink *cbp_sink_spool_new(struct cbp_spool *sp, int mask_paths);

/*
 * Mask the plate-like parts of a name into out (for centres whose SIEM
 * must not hold plate numbers): every run of 5 to 10 ASCII letters and
 * digits that holds both a letter and a digit keeps its first and last two
 * characters, the rest becomes '*' ("lane_7ABC123.jpg" ->
 * "lane_7A***23.jpg").  A run of letters alone or digits alone (a word, a
 * date) is kept; a mixed run that is not a plate ("lane07") is masked too:
 * the rule cannot tell, and one mask too many is the safe side.  CBP_OK or
 * the buffer's error.
 */
int cbp_mask_plates(const char *name, struct cbp_dynbuf *out);

/*
 * Human-readable sink: aligned columns, one finding a line, problems, then
 * a summary paragraph.  Control characters and invalid UTF-8 in names are
 * shown as \xNN so a hostile file name cannot drive the terminal.
 */
struct cbp_sink *cbp_sink_text_new(FILE *fp, unsigned flags);

/*
 * Append s[0..len) to b as a JSON string with quotes.  Valid UTF-8 passes
 * through (with the JSON escapes required); each byte that is not part of
 * valid UTF-8 becomes \udcXX (XX = the byte, 80..ff), the "surrogateescape"
 * convention, so the original bytes round-trip losslessly (Python:
 * json.loads(...).encode("utf-8", "surrogateescape")).
 */
int cbp_json_string(struct cbp_dynbuf *b, const char *s, size_t len);

/* Append s as terminal-safe text: printable UTF-8 as is, everything else \xNN. */
int cbp_text_escape(struct cbp_dynbuf *b, const char *s, size_t len);

/* ISO 8601 UTC "YYYY-MM-DDThh:mm:ssZ" into out (>= 21 bytes). */
void cbp_format_time(int64_t t, char out[32]);

#endif
