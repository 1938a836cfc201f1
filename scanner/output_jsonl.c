/*
 * output_jsonl.c — the JSON writer (cbp_json_record) and the JSON Lines
 * sink (docs/contract.md, "JSON Lines records").
 *
 * cbp_json_record is the only code that turns a record into JSON: the
 * JSON Lines sink here adds a newline and writes it, and later sinks that
 * speak JSON (Splunk HEC, Elasticsearch bulk, a report) wrap the same
 * object, so a field is added once and every sink carries it.
 *
 * Each record is built whole in a buffer by a short list of field
 * calls, in the contract's key order, then written whole or not at all
 * (cbp_output_emit), so lines never interleave and a crash or a full disk
 * leaves only whole lines.  There is one small writer per kind of field
 * (string, optional string, string array, unsigned, int, time,
 * fixed-point); a new field such as "pdq" or "known" is one more call in
 * the record function, and a nested object one more writer pair.  The
 * writers share a sticky error: after the first failure the rest do
 * nothing, so a record function is a plain list of calls with a single
 * check at the end.
 *
 * Every record starts with "type" and the fields that let it stand alone
 * (its meta, filled by the output layer): "time", "scan_id", "host",
 * "host_id", "event_id", and on findings and unscannable records
 * "object_id".  The rest follows in the contract's order.
 *
 * Output is compact (no spaces) and every string goes through
 * cbp_json_string, so paths that are not UTF-8 come out as \udcXX
 * (surrogateescape) and decode back to the original bytes.
 *
 * Times: "mtime" is whole seconds, "YYYY-MM-DDThh:mm:ssZ", and is left out
 * when unknown.  "time" and the summary's "started"/"finished" carry
 * milliseconds, "YYYY-MM-DDThh:mm:ss.mmmZ", because a scan's start and end
 * are measured to better than a second and elapsed_s is given to three
 * decimals too.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_object.h"
#include "cbp_output.h"
#include "cbp_output_int.h"

struct jsonl_sink {
	struct cbp_sink base;	/* first: the fan-out sees only this */
	struct cbp_emitter em;	/* the stream, and whether a write to it failed */
	struct cbp_dynbuf buf;	/* one record; reused (calls are serialised) */
};

/* Record writer state: the buffer, the first error, commas. */
struct jw {
	struct cbp_dynbuf *b;
	int r;
	unsigned nfields;	/* fields written so far in the current object */
};

static void
jw_add(struct jw *w, const char *s, size_t n)
{
	if (w->r == CBP_OK)
		w->r = cbp_dynbuf_add(w->b, s, n);
}

/* Open an object at the end of b (which may hold other text before it). */
static void
jw_begin(struct jw *w, struct cbp_dynbuf *b)
{
	w->b = b;
	w->r = CBP_OK;
	w->nfields = 0;
	jw_add(w, "{", 1);
}

/* Close the object; returns the first error of the record. */
static int
jw_end(struct jw *w)
{
	jw_add(w, "}", 1);
	return w->r;
}

/* Keys are our own ASCII literals, so they need no escaping. */
static void
jw_key(struct jw *w, const char *key)
{
	if (w->nfields++ > 0)
		jw_add(w, ",", 1);
	jw_add(w, "\"", 1);
	jw_add(w, key, strlen(key));
	jw_add(w, "\":", 2);
}

static void
jw_strval(struct jw *w, const char *s)
{
	if (w->r != CBP_OK)
		return;
	if (s == NULL)
		w->r = cbp_dynbuf_add(w->b, "null", 4);
	else
		w->r = cbp_json_string(w->b, s, strlen(s));
}

/* A string the contract always carries; a missing one is written as null. */
static void
jw_str(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_strval(w, s);
}

/* An optional string: the key is left out when s is NULL. */
static void
jw_str_opt(struct jw *w, const char *key, const char *s)
{
	if (s != NULL)
		jw_str(w, key, s);
}

/* Array of strings; [] when n is 0 (a plain file has no member chain). */
static void
jw_strarray(struct jw *w, const char *key, const char *const *v, size_t n)
{
	size_t i;

	jw_key(w, key);
	jw_add(w, "[", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			jw_add(w, ",", 1);
		jw_strval(w, v[i]);
	}
	jw_add(w, "]", 1);
}

static void
jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	if (w->r == CBP_OK)
		w->r = cbp_dynbuf_printf(w->b, "%" PRIu64, v);
}

static void
jw_u64array(struct jw *w, const char *key, const uint64_t *v, size_t n)
{
	size_t i;

	jw_key(w, key);
	jw_add(w, "[", 1);
	for (i = 0; i < n && w->r == CBP_OK; i++)
		w->r = cbp_dynbuf_printf(w->b, i > 0 ? ",%" PRIu64 : "%" PRIu64,
		    v[i]);
	jw_add(w, "]", 1);
}

static void
jw_int(struct jw *w, const char *key, int v)
{
	jw_key(w, key);
	if (w->r == CBP_OK)
		w->r = cbp_dynbuf_printf(w->b, "%d", v);
}

/* Seconds with three decimals; JSON has no NaN or infinity, so those are 0. */
static void
jw_fixed3(struct jw *w, const char *key, double v)
{
	jw_key(w, key);
	if (!isfinite(v))
		v = 0.0;
	if (w->r == CBP_OK)
		w->r = cbp_dynbuf_printf(w->b, "%.3f", v);
}

/* Whole-second UTC time; left out when unknown. */
static void
jw_time_opt(struct jw *w, const char *key, int64_t t)
{
	char s[32];

	if (t == CBP_MTIME_UNKNOWN)
		return;
	cbp_format_time(t, s);
	jw_key(w, key);
	jw_add(w, "\"", 1);
	jw_add(w, s, strlen(s));
	jw_add(w, "\"", 1);
}

/* UTC time with milliseconds, from seconds since the epoch. */
static void
jw_time_ms(struct jw *w, const char *key, double t)
{
	char s[32];

	cbp_format_time_ms(t, s);
	jw_key(w, key);
	jw_add(w, "\"", 1);
	jw_add(w, s, strlen(s));
	jw_add(w, "\"", 1);
}

/* A string from a fixed array: bounded even if it lacks its NUL. */
static void
jw_fixed(struct jw *w, const char *key, const char *s, size_t max)
{
	jw_key(w, key);
	if (w->r == CBP_OK)
		w->r = cbp_json_string(w->b, s, strnlen(s, max));
}

static void
jw_bool(struct jw *w, const char *key, int v)
{
	jw_key(w, key);
	jw_add(w, v ? "true" : "false", v ? 4 : 5);
}

/* Start a nested object under key; returns what jw_close_obj needs. */
static unsigned
jw_open_obj(struct jw *w, const char *key)
{
	unsigned outer;

	jw_key(w, key);
	jw_add(w, "{", 1);
	outer = w->nfields;
	w->nfields = 0;
	return outer;
}

static void
jw_close_obj(struct jw *w, unsigned outer)
{
	jw_add(w, "}", 1);
	w->nfields = outer;
}

/* The fields every record carries, right after "type". */
static void
json_meta(struct jw *w, const struct cbp_record_meta *m, int has_object)
{
	jw_fixed(w, "time", m->time, sizeof(m->time));
	jw_str(w, "scan_id", m->scan_id);
	jw_str(w, "host", m->host);
	jw_str(w, "host_id", m->host_id);
	jw_fixed(w, "event_id", m->event_id, sizeof(m->event_id));
	if (has_object)
		jw_fixed(w, "object_id", m->object_id, sizeof(m->object_id));
}

/* A known-image match: the entry, and the object's PDQ hash when computed. */
static void
json_known(struct jw *w, const struct cbp_finding *f)
{
	unsigned outer;

	if (f->known.list != NULL) {
		outer = jw_open_obj(w, "known");
		jw_str(w, "list", f->known.list);
		jw_str(w, "id", f->known.id);
		jw_int(w, "distance", f->known.distance);
		jw_str(w, "category", f->known.category);
		jw_close_obj(w, outer);
	}
	if (f->pdq[0] != '\0') {
		jw_fixed(w, "pdq", f->pdq, sizeof(f->pdq));
		jw_int(w, "pdq_quality", f->pdq_quality);
	}
}

static void
json_finding(struct jw *w, const struct cbp_finding *f)
{
	jw_str(w, "type", "finding");
	json_meta(w, &f->meta, 1);
	jw_str(w, "rule", f->rule);
	jw_str_opt(w, "title", f->title);
	jw_str(w, "category", f->category);
	jw_str(w, "severity", cbp_severity_name(f->severity));
	jw_str(w, "path", f->path);
	jw_strarray(w, "member", f->member, f->nmember);
	jw_u64(w, "size", f->size);
	jw_time_opt(w, "mtime", f->mtime);
	jw_fixed(w, "sha256", f->sha256, sizeof(f->sha256));
	/* Only a hash over fewer bytes than the object holds says so. */
	if (f->sha256_partial) {
		jw_bool(w, "sha256_partial", 1);
		jw_u64(w, "sha256_bytes", f->sha256_bytes);
	}
	jw_str(w, "mime", f->mime);
	jw_str_opt(w, "evidence", f->evidence);
	jw_str(w, "disposition", cbp_disposition_name(f->disposition));
	json_known(w, f);
}

static void
json_problem(struct jw *w, const struct cbp_problem *p)
{
	jw_str(w, "type", "unscannable");
	json_meta(w, &p->meta, 1);
	jw_str(w, "path", p->path);
	jw_strarray(w, "member", p->member, p->nmember);
	jw_str(w, "reason", cbp_reason_name(p->reason));
	jw_str(w, "detail", p->detail);
}

static void
json_confinement(struct jw *w, const struct cbp_confinement *c)
{
	unsigned outer;

	outer = jw_open_obj(w, "confinement");
	jw_u64(w, "workers", c->workers);
	jw_bool(w, "seccomp", c->seccomp);
	if (c->seccomp_loose)
		jw_bool(w, "seccomp_sanitizer_filter", 1);
	jw_int(w, "landlock_abi", c->landlock_abi);
	jw_bool(w, "no_new_privs", c->no_new_privs);
	jw_u64(w, "replaced", c->replaced);
	if (c->objects != NULL)
		jw_u64array(w, "objects_per_worker", c->objects, c->nobjects);
	jw_close_obj(w, outer);
}

static void
json_summary(struct jw *w, const struct cbp_summary *sum)
{
	static const enum cbp_severity order[] = { CBP_SEV_CRITICAL,
	    CBP_SEV_HIGH, CBP_SEV_MEDIUM, CBP_SEV_LOW, CBP_SEV_INFO };
	unsigned outer;
	size_t i;

	jw_str(w, "type", "summary");
	json_meta(w, &sum->meta, 0);
	jw_time_ms(w, "started", sum->started);
	jw_time_ms(w, "finished", sum->finished);
	jw_u64(w, "files", sum->files);
	jw_u64(w, "bytes", sum->bytes);
	jw_u64(w, "archives", sum->archives);
	jw_u64(w, "members", sum->members);
	jw_u64(w, "findings", sum->findings);
	jw_u64(w, "violations", sum->violations);
	jw_u64(w, "unscannable", sum->unscannable);
	jw_fixed3(w, "elapsed_s", sum->elapsed_s);
	jw_int(w, "exit", sum->exit_status);
	jw_str(w, "version", sum->version != NULL ? sum->version : CBP_VERSION);
	jw_str(w, "rules", sum->rules);
	/* The known-image lists in force: null when none were loaded. */
	jw_str(w, "lists", sum->lists);
	if (sum->lists != NULL)
		jw_u64(w, "known_entries", sum->known_entries);
	if (sum->lists != NULL && sum->lists_cache != NULL)
		jw_str(w, "lists_cache", sum->lists_cache);
	jw_strarray(w, "roots", sum->roots, sum->nroots);
	jw_bool(w, "complete", sum->complete);
	outer = jw_open_obj(w, "severity");
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		jw_u64(w, cbp_severity_name(order[i]), sum->severity[order[i]]);
	jw_close_obj(w, outer);
	outer = jw_open_obj(w, "skipped");
	jw_u64(w, "symlink", sum->skipped.symlink);
	jw_u64(w, "fifo", sum->skipped.fifo);
	jw_u64(w, "socket", sum->skipped.socket);
	jw_u64(w, "device", sum->skipped.device);
	jw_u64(w, "excluded", sum->skipped.excluded);
	jw_u64(w, "other_fs", sum->skipped.other_fs);
	jw_u64(w, "vanished", sum->skipped.vanished);
	jw_close_obj(w, outer);
	json_confinement(w, &sum->confinement);
	/* The spool's drops are reported here, in the record that is never dropped. */
	if (sum->delivery_format != NULL) {
		outer = jw_open_obj(w, "delivery");
		jw_str(w, "format", sum->delivery_format);
		jw_u64(w, "spool_dropped", sum->spool_dropped);
		jw_close_obj(w, outer);
	}
}

/* The run record: what the centre needs to tell "did not finish". */
static void
json_run(struct jw *w, const struct cbp_summary *run)
{
	jw_str(w, "type", "run");
	json_meta(w, &run->meta, 0);
	jw_time_ms(w, "started", run->started);
	jw_str(w, "version", run->version != NULL ? run->version : CBP_VERSION);
	jw_str(w, "rules", run->rules);
	/* The lists in force, when there are any (the summary says null). */
	jw_str_opt(w, "lists", run->lists);
	jw_strarray(w, "roots", run->roots, run->nroots);
}

const char *
cbp_output_type_name(enum cbp_output_type t)
{
	switch (t) {
	case CBP_OUT_FINDING:
		return "finding";
	case CBP_OUT_PROBLEM:
		return "unscannable";
	case CBP_OUT_SUMMARY:
		return "summary";
	case CBP_OUT_RUN:
		return "run";
	}
	return "unknown";
}

int
cbp_json_record(struct cbp_dynbuf *b, const struct cbp_output_record *r)
{
	struct jw w;

	jw_begin(&w, b);
	switch (r->type) {
	case CBP_OUT_FINDING:
		json_finding(&w, r->u.finding);
		break;
	case CBP_OUT_PROBLEM:
		json_problem(&w, r->u.problem);
		break;
	case CBP_OUT_SUMMARY:
		json_summary(&w, r->u.summary);
		break;
	case CBP_OUT_RUN:
		json_run(&w, r->u.summary);
		break;
	default:
		return CBP_EINVAL;
	}
	return jw_end(&w);
}

/*
 * Build the record's line and write it.  A record that failed to build
 * (over the cap, out of memory) is dropped whole: half a line would break
 * every consumer, a missing one is reported through the returned code.
 */
static int
jsonl_write(struct jsonl_sink *js, const struct cbp_output_record *rec)
{
	int r;

	cbp_dynbuf_reset(&js->buf);
	if ((r = cbp_json_record(&js->buf, rec)) != CBP_OK ||
	    (r = cbp_dynbuf_addc(&js->buf, '\n')) != CBP_OK) {
		if (js->buf.alloc > CBP_OUTPUT_KEEP_MAX)
			cbp_dynbuf_free(&js->buf);
		else
			cbp_dynbuf_reset(&js->buf);
		return r;
	}
	return cbp_output_emit(&js->em, &js->buf);
}

static int
jsonl_finding(struct cbp_sink *s, const struct cbp_finding *f)
{
	struct cbp_output_record rec = { .type = CBP_OUT_FINDING, .u.finding = f };

	return jsonl_write((struct jsonl_sink *)s, &rec);
}

static int
jsonl_problem(struct cbp_sink *s, const struct cbp_problem *p)
{
	struct cbp_output_record rec = { .type = CBP_OUT_PROBLEM, .u.problem = p };

	return jsonl_write((struct jsonl_sink *)s, &rec);
}

static int
jsonl_summary(struct cbp_sink *s, const struct cbp_summary *sum)
{
	struct cbp_output_record rec = { .type = CBP_OUT_SUMMARY, .u.summary = sum };

	return jsonl_write((struct jsonl_sink *)s, &rec);
}

static int
jsonl_close(struct cbp_sink *s)
{
	struct jsonl_sink *js = (struct jsonl_sink *)s;
	int r = cbp_emitter_close(&js->em);

	cbp_dynbuf_free(&js->buf);
	free(js);
	return r;
}

static const struct cbp_sink_ops jsonl_ops = {
	.finding = jsonl_finding,
	.problem = jsonl_problem,
	.summary = jsonl_summary,
	.close = jsonl_close,
};

/* NULL if fp is NULL or memory is short. */
struct cbp_sink *
cbp_sink_jsonl_new(FILE *fp)
{
	struct jsonl_sink *js;

	if (fp == NULL || (js = calloc(1, sizeof(*js))) == NULL)
		return NULL;
	js->base.ops = &jsonl_ops;
	cbp_emitter_init(&js->em, fp);
	cbp_dynbuf_init(&js->buf, CBP_OUTPUT_RECORD_MAX);
	return &js->base;
}
