/*
 * scan.c — the worker pool and the per-object pipeline.
 *
 * The walk (walk.c) runs N threads; each regular file it finds is scanned
 * right there on the finding thread by scan_object(), so every core both
 * walks and scans.  scan_object() is recursive: archive members, pictures
 * inside biometric records and Exif thumbnails are objects too, scanned
 * with the same rules, each one level deeper, up to the nesting limit.
 *
 * Per object: head read -> identify (facts_init) -> rules (cheap-first,
 * facts computed on demand) -> findings -> children -> problems.  Nothing
 * is printed here: findings and problems go to the outputs, which serialise
 * themselves.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "cbp_confine.h"
#include "cbp_decode.h"
#include "cbp_imgcarve.h"
#include "cbp_limits.h"
#include "cbp_match.h"
#include "cbp_pdfimg.h"
#include "cbp_scan.h"
#include "cbp_supervise.h"
#include "cbp_wire.h"

/* Objects per batch, and bytes of a batch's job description: a batch
 * is one round trip, so its cost is spread over this many objects. */
#define CBP_BATCH_MAX 32
/*
 * A batch spans directories (one descriptor each, up to CBP_SV_FDS_MAX):
 * with one directory a batch, a tree of small folders cost a round trip to
 * a worker per folder (13.6k on the bench tree, about 13 us each).  At the
 * end of a directory the batch goes to the dispatcher once it holds this
 * many objects, or, when the dispatcher waits for work, once it is
 * BATCH_WAIT_MS old: handing over every small batch at once whenever the
 * queue ran dry cost 15-20% on the bench tree (measured), and a walk slow
 * to list must not leave the workers idle for long either.
 */
#define BATCH_FILL (CBP_BATCH_MAX / 2)
#define BATCH_WAIT_MS 20
#define BATCH_DIR_CWD 255		/* batch_obj.dir: relative to the cwd */
#define BATCH_BYTES_MAX (CBP_SV_FRAME_MAX - 1024)

enum { JOB_FILES = 1, JOB_STREAM = 2 };

/*
 * The pipeline's state in a worker process.  One is made in the parent
 * before the workers are forked (libmagic loaded, rules compiled), so each
 * worker inherits it copy-on-write and loads nothing after confinement.
 */
struct cbp_worker {
	struct cbp_scan *scan;
	struct cbp_identify *id;
	struct cbp_matcher *matcher;
	unsigned char *head_buf;	/* CBP_HEAD_BYTES, reused for every disk file */
	struct cbp_dynbuf window_buf;	/* carving windows, reused for every file */
	/* The batch being scanned (worker process only). */
	struct cbp_sv_worker *chan;
	unsigned char *frame;		/* CBP_SV_FRAME_MAX: one record encoded */
	uint32_t index;			/* object of the batch being scanned */
	uint64_t ordinal;		/* its top-level members delivered so far */
	uint64_t from;			/* top-level members passed by (resume) */
	uint32_t phase, stride;		/* the object's part of a split archive:
					 * members index % stride == phase */
	int may_split;			/* the object may be read in parts */
	const char *mname;		/* the top-level member being scanned */
	struct cbp_wire_stats st;	/* counters of this batch so far */
};

/* A batch of objects in the parent: what a worker was given, with paths. */
struct batch_obj {
	char *path;			/* display path; the name is its tail */
	size_t path_len, name_len;
	dev_t dev;
	ino_t ino;
	mode_t type;
	unsigned char root, follow, direct;
	unsigned char dir;		/* index in batch.fds, or BATCH_DIR_CWD */
	/* Read in parts (split_parts): this job's part, of stride; 0 0: whole. */
	uint16_t phase, stride;
};

struct batch {
	uint64_t id;
	int kind;			/* JOB_FILES, JOB_STREAM */
	int fds[CBP_SV_FDS_MAX];	/* directories, or the stream's memfd */
	unsigned nfds;
	uint64_t born_ms;		/* when its first object was added */
	int dir_open;			/* the walk still lists the directory of */
	unsigned char cur_dir;		/* the last object added (its index) */
	struct batch_obj obj[CBP_BATCH_MAX];
	unsigned n;			/* objects */
	unsigned first;			/* the job in flight starts here */
	size_t bytes;			/* job size so far */
	uint64_t resume;		/* members of obj[first] to skip */
	unsigned resumed;		/* obj[resumed - 1] was resumed once */
	uint64_t stream_len;
	int stream_more;
	/* Progress of the job in flight, from its marks. */
	int cur;			/* object (absolute index), -1: none yet */
	uint64_t cur_member;		/* 0: the object itself */
	char cur_name[CBP_WIRE_MARK_NAME_MAX + 1];
	struct cbp_wire_stats mark_st;
	struct batch *next;
};

struct cbp_scan {
	struct cbp_scan_opts opts;
	const struct cbp_ruleset *rules;
	struct cbp_output *out;
	struct cbp_worker worker;	/* copied into every worker process */
	unsigned nworkers;
	struct cbp_walk_opts walk;
	struct cbp_scan_stats stats;
	int64_t now;
	atomic_ulong allocs;		/* counted only when opts.fail_alloc is set */
	/* Parent: walk threads -> dispatcher. */
	struct batch **cur;		/* per walk thread, being filled */
	pthread_mutex_t qlock;
	pthread_cond_t qroom;
	struct batch *qhead, *qtail;
	unsigned qlen, qcap;
	int wake_fd;			/* eventfd: a batch was queued */
	atomic_int walk_done;
	atomic_int want_wake;		/* the dispatcher waits for batches */
	volatile int own_cancel;	/* when the caller gave no cancel flag */
	struct cbp_sv *sv;
	struct batch *inflight;		/* submitted, not DONE */
	uint64_t next_id;
	char *scratch;			/* decoding records */
	struct cbp_confine_info confinement;
	struct cbp_sv_stats sv_stats;
	uint64_t *per_worker;		/* objects each worker slot finished */
};

/* This process's worker (NULL in the parent): where records go. */
static struct cbp_worker *w_cur;

/* Everything about the object being scanned that the callbacks need. */
struct obj_ctx {
	struct cbp_worker *w;
	struct cbp_object *o;
	struct cbp_facts *f;
	struct cbp_expand_budget *budget;	/* of the enclosing top-level archive */
	int markup;				/* XML/JSON-like text: base64 searched */
};

static void scan_object(struct cbp_worker *w, struct cbp_object *o,
    struct cbp_expand_budget *budget);
static void expand_archive(struct obj_ctx *c);
static int is_part(const struct cbp_worker *w, const struct cbp_object *o);
static void send_finding(struct cbp_worker *w, const struct cbp_finding *f);
static void send_mark(struct cbp_worker *w, int major);
#ifdef CBP_FAULT_HOOKS
static void fault_hook(const struct cbp_object *o);
#endif

/* ---- memory ------------------------------------------------------------ */

/*
 * Every allocation the scan makes for itself goes through here, so that a
 * test can make the nth one fail (opts.fail_alloc; 0, the default, never)
 * and see that each failure is reported as "nomem", never silent.
 */
static int
alloc_fails(struct cbp_scan *s)
{
	return s->opts.fail_alloc != 0 &&
	    atomic_fetch_add(&s->allocs, 1) + 1 == s->opts.fail_alloc;
}

static void *
scan_malloc(struct cbp_scan *s, size_t n)
{
	return alloc_fails(s) ? NULL : malloc(n ? n : 1);
}

static void *
scan_calloc(struct cbp_scan *s, size_t n, size_t size)
{
	return alloc_fails(s) ? NULL : calloc(n ? n : 1, size);
}

static const char *
base_name_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

/* ---- records out ------------------------------------------------------- */

/* Member chains this long are built on the stack: reporting a problem must
 * not itself depend on memory being left. */
#define CHAIN_ON_STACK 16

static void send_problem(struct cbp_worker *w, const struct cbp_problem *p);

/*
 * In a worker (w != NULL) the record goes to the parent as a frame; in the
 * parent (walk errors) straight to the outputs, counted here.
 */
static void
emit_problem_w(struct cbp_scan *s, struct cbp_worker *w,
    const struct cbp_object *o, const char *extra_member,
    enum cbp_reason reason, const char *detail)
{
	struct cbp_problem p = { 0 };
	const char *stack[CHAIN_ON_STACK], **chain = NULL;
	char named[1024];
	size_t n = o != NULL ? o->nmember : 0;

	if (o != NULL && extra_member != NULL) {
		chain = n + 1 <= CHAIN_ON_STACK ? stack :
		    scan_calloc(s, n + 1, sizeof(*chain));
		if (chain != NULL) {
			if (n > 0)
				memcpy(chain, o->member, n * sizeof(*chain));
			chain[n++] = extra_member;
		} else {
			/* The parent's chain, and the member named in the
			 * detail: shortened, but said. */
			snprintf(named, sizeof(named), "%s (in member %s; out of "
			    "memory for its full member chain)", detail,
			    extra_member);
			detail = named;
		}
	}
	p.path = o != NULL ? o->path : "";
	p.member = chain != NULL ? (const char *const *)chain :
	    (o != NULL ? o->member : NULL);
	p.nmember = n;
	p.reason = reason;
	p.detail = detail;
	if (w != NULL) {
		send_problem(w, &p);
	} else {
		/* Never a violation, even with --strict (docs/contract.md):
		 * strict raises the exit status from the summary's
		 * "unscannable". */
		atomic_fetch_add(&s->stats.unscannable, 1);
		cbp_output_problem(s->out, &p);
	}
	if (chain != stack)
		free(chain);
}

/* Most callers are in the worker, scanning one object. */
#define emit_problem(s, o, m, r, d) emit_problem_w((s), w_cur, (o), (m), (r), (d))

/*
 * The severity and where the object lives (authorized locations) decide
 * its disposition (cbp_disposition_for).
 */
static enum cbp_disposition
disposition_of(const struct cbp_scan *s, const struct cbp_object *o,
    enum cbp_severity sev)
{
	size_t i;

	for (i = 0; i < s->opts.nauthz; i++) {
		const struct cbp_authz *a = &s->opts.authz[i];
		if (fnmatch(a->glob, o->path, 0) != 0)
			continue;
		return cbp_disposition_for(sev, 1, a->retention_s < 0 ||
		    o->mtime == CBP_MTIME_UNKNOWN ||
		    s->now - o->mtime <= a->retention_s);
	}
	return cbp_disposition_for(sev, 0, 0);
}

/*
 * What every finding says of its object: where it is, its size, time,
 * type and SHA-256 (hashed once per object, however many findings, and no
 * further than hash_max: a huge file is hashed in part and says so).
 */
static void
finding_object(struct obj_ctx *c, struct cbp_finding *fd)
{
	struct cbp_hash_extent ext;
	const char *sha;

	(void)cbp_facts_sha256(c->f, &sha, &ext);
	fd->path = c->o->path;
	fd->member = c->o->member;
	fd->nmember = c->o->nmember;
	fd->size = c->o->size;
	fd->mtime = c->o->mtime;
	snprintf(fd->sha256, sizeof(fd->sha256), "%s", sha);
	fd->sha256_partial = ext.partial;
	fd->sha256_bytes = ext.bytes;
	fd->mime = c->f->mime;
}

static int
on_hit(void *arg, const struct cbp_rule_hit *hit)
{
	struct obj_ctx *c = arg;
	struct cbp_scan *s = c->w->scan;
	struct cbp_finding fd = { 0 };

	finding_object(c, &fd);
	fd.rule = hit->id;
	fd.title = hit->title;
	fd.category = hit->category;
	fd.severity = hit->severity;
	fd.evidence = hit->evidence;
	fd.disposition = disposition_of(s, c->o, fd.severity);
	if (fd.disposition == CBP_DISP_AUTHORIZED)
		fd.severity = CBP_SEV_INFO;
	send_finding(c->w, &fd);
	return 0;
}

/* ---- known-image lists ---------------------------------------------------- */

/* One finding per matched list entry. */
static void
known_finding(struct obj_ctx *c, const struct cbp_known_match *m,
    const struct cbp_pdq *pdq, size_t more)
{
	struct cbp_scan *s = c->w->scan;
	struct cbp_finding fd = { 0 };
	char ev[160];
	size_t n;

	finding_object(c, &fd);
	fd.rule = m->exact ? "cbp.known.exact" : "cbp.known.near";
	fd.title = m->exact ? "Exact copy of a listed known image" :
	    "Near copy of a listed known image";
	fd.category = "known";
	/* Profile P2/P3/T4: exact is critical, near high. */
	fd.severity = m->exact ? CBP_SEV_CRITICAL : CBP_SEV_HIGH;
	if (m->exact)
		n = (size_t)snprintf(ev, sizeof(ev), "sha256 equal to the "
		    "listed entry's");
	else
		n = (size_t)snprintf(ev, sizeof(ev), "pdq distance %d (%s)",
		    m->distance, cbp_pdq_dih_name(m->variant));
	if (more > 0 && n < sizeof(ev))
		snprintf(ev + n, sizeof(ev) - n, "; %zu more list entr%s matched, "
		    "not reported", more, more == 1 ? "y" : "ies");
	fd.evidence = ev;
	fd.known.list = m->list;
	fd.known.id = m->id;
	fd.known.category = cbp_known_category_name(m->category);
	fd.known.distance = m->distance;
	if (pdq != NULL) {
		cbp_pdq_to_hex(pdq->hash, fd.pdq);
		fd.pdq_quality = pdq->quality;
	}
	fd.disposition = disposition_of(s, c->o, fd.severity);
	if (fd.disposition == CBP_DISP_AUTHORIZED)
		fd.severity = CBP_SEV_INFO;
	send_finding(c->w, &fd);
}

/*
 * Look an image up in the known lists: by SHA-256 (exact) and by the PDQ
 * hashes of its 8 rotations and flips (near), in one query, so an entry is
 * reported once, exact if it can be.  Only objects identified as images:
 * no text or binary is hashed for the lists or decoded.  An image that
 * cannot be decoded is still looked up by SHA-256; its problem (corrupt,
 * limit) is reported by scan_object with the object's other problems.
 */
static void
match_known(struct obj_ctx *c)
{
	const struct cbp_known *k = c->w->scan->opts.known;
	struct cbp_known_match m[CBP_SCAN_KNOWN_MATCHES];
	struct cbp_known_query q = { 0 };
	const struct cbp_pdq *pdq = NULL;
	uint8_t sha[32];
	const char *hex;
	size_t n, i, total = 0;

	if (k == NULL || c->f->ident.kind != CBP_KIND_IMAGE)
		return;
	if (cbp_facts_sha256(c->f, &hex, NULL) == CBP_OK &&
	    c->f->sha_ext.partial == 0 &&
	    cbp_known_parse_hex32(hex, strlen(hex), sha) == CBP_OK)
		q.sha256 = sha;
	if (cbp_facts_pdq(c->f, &pdq) == CBP_OK) {
		q.pdq = (const uint8_t (*)[32])pdq->dih;
		q.npdq = pdq->has_dih ? CBP_PDQ_NDIH : 1;
		if (!pdq->has_dih)
			q.pdq = (const uint8_t (*)[32])&pdq->hash;
		q.quality = pdq->quality;
	}
	if (q.sha256 == NULL && q.npdq == 0)
		return;
	n = cbp_known_query(k, &q, m, CBP_SCAN_KNOWN_MATCHES, &total);
	for (i = 0; i < n; i++)
		known_finding(c, &m[i], pdq, i + 1 == n ? total - n : 0);
}

/*
 * cbpscan hash: one record per image with its SHA-256 and PDQ (struct
 * cbp_scan_opts hash_mode).  A hash over part of the object is no hash of
 * the image: it is left empty, as is the PDQ of an image that could not be
 * decoded; with neither there is nothing to list (the problems say why).
 */
static void
hash_object(struct obj_ctx *c)
{
	struct cbp_finding fd = { 0 };
	struct cbp_hash_extent ext = { 0 };
	const struct cbp_pdq *pdq = NULL;
	const char *sha;

	if (c->f->ident.kind != CBP_KIND_IMAGE)
		return;
	if (cbp_facts_sha256(c->f, &sha, &ext) == CBP_OK && !ext.partial)
		snprintf(fd.sha256, sizeof(fd.sha256), "%s", sha);
	if (cbp_facts_pdq(c->f, &pdq) == CBP_OK) {
		cbp_pdq_to_hex(pdq->hash, fd.pdq);
		fd.pdq_quality = pdq->quality;
	}
	if (fd.sha256[0] == '\0' && fd.pdq[0] == '\0')
		return;
	fd.rule = CBP_SCAN_HASH_RULE;
	fd.title = "Image hashed for a known-image list";
	fd.category = "known";
	fd.severity = CBP_SEV_INFO;
	fd.path = c->o->path;
	fd.member = c->o->member;
	fd.nmember = c->o->nmember;
	fd.size = c->o->size;
	fd.mtime = c->o->mtime;
	fd.mime = c->f->mime;
	fd.disposition = CBP_DISP_REVIEW;
	send_finding(c->w, &fd);
}

/* ---- children ------------------------------------------------------------ */

/*
 * Scan buf[0..len) of parent as a child object named name (appended to the
 * parent's member chain).
 */
static void
scan_child(struct obj_ctx *c, const unsigned char *buf, size_t len,
    const char *name)
{
	struct cbp_object child;
	const char **chain;
	size_t n = c->o->nmember;

	if (c->o->depth >= c->w->scan->opts.expand.max_depth) {
		emit_problem(c->w->scan, c->o, name, CBP_REASON_LIMIT,
		    "nesting deeper than the depth limit: not scanned");
		return;
	}
	if ((chain = scan_calloc(c->w->scan, n + 1, sizeof(*chain))) == NULL) {
		emit_problem(c->w->scan, c->o, name, CBP_REASON_NOMEM,
		    "out of memory: not scanned");
		return;
	}
	if (n > 0)
		memcpy(chain, c->o->member, n * sizeof(*chain));
	chain[n] = name;
	cbp_object_init(&child);
	child.path = c->o->path;
	child.member = chain;
	child.nmember = n + 1;
	child.name = name;
	child.size = len;
	child.mtime = c->o->mtime;
	child.depth = c->o->depth + 1;
	child.mem = buf;
	child.mem_len = len;
	scan_object(c->w, &child, c->budget);
	cbp_object_release(&child);
	free(chain);
}

static const char *
payload_ext(enum cbp_payload_type t)
{
	switch (t) {
	case CBP_PAYLOAD_JPEG:
		return "jpg";
	case CBP_PAYLOAD_JP2:
		return "jp2";
	case CBP_PAYLOAD_PNG:
		return "png";
	default:
		return "bin";
	}
}

/* Pictures inside a record located within the loaded bytes. */
static void
scan_record_payloads(struct obj_ctx *c, const struct cbp_record *r,
    const unsigned char *data, size_t len, int carved)
{
	char name[96];
	size_t i;

	for (i = 0; i < r->nimages; i++) {
		const struct cbp_record_image *im = &r->images[i];
		if (im->offset > len || im->length > len - im->offset ||
		    im->length == 0)
			continue;
		if (carved)
			snprintf(name, sizeof(name), "@%zu:%s:image%zu.%s",
			    r->offset, cbp_record_kind_name(r->kind), i + 1,
			    payload_ext(im->type));
		else
			snprintf(name, sizeof(name), "%s:image%zu.%s",
			    cbp_record_kind_name(r->kind), i + 1,
			    payload_ext(im->type));
		scan_child(c, data + im->offset, im->length, name);
	}
}

static int
on_member(void *arg, struct cbp_object *m)
{
	struct obj_ctx *c = arg;

	const char *slash;

	/* Name rules see the member's file name; path rules see the chain. */
	if (m->name != NULL && (slash = strrchr(m->name, '/')) != NULL &&
	    slash[1] != '\0')
		m->name = slash + 1;
	if (m->depth == 1)
		c->w->mname = m->nmember > 0 ? m->member[m->nmember - 1] : "";
	c->w->st.members++;
	send_mark(c->w, 0);
	scan_object(c->w, m, c->budget);
	return 0;
}

/*
 * Which entries of the top-level archive this job scans (cbp_expand.h:
 * want): those from w->from on (a job resumed after a member that killed
 * its predecessor passes by the ones before, which that one scanned, and
 * the member itself, already reported), and of those, in a split archive,
 * the ones whose index is this phase's modulo the stride.  Passing by
 * costs a seek.  A member begins here, before its data is read: the mark
 * names it, so a parser that dies in the data is blamed on this member.
 */
static int
on_want(void *arg, uint64_t index, const char *name)
{
	struct obj_ctx *c = arg;
	struct cbp_worker *w = c->w;

	if (index < w->from || index % w->stride != w->phase)
		return 0;
	w->ordinal = index + 1;
	w->mname = name;
	send_mark(w, 0);
	return 1;
}

static void
on_expand_problem(void *arg, const struct cbp_object *where,
    const char *member_name, enum cbp_reason reason, const char *detail)
{
	struct obj_ctx *c = arg;

	emit_problem(c->w->scan, where, member_name, reason, detail);
}

/*
 * Face records carried base64-encoded in XML or JSON (XML CBEFF <BDB>
 * elements, docs/formats.md 5): each run is decoded and scanned as a child
 * "@OFFSET:base64", where the record rules see the record itself.  Only
 * text whose first non-blank character opens markup or JSON is searched,
 * which is where such records live; C sources and logs, most of a host's
 * text, are not read again for it.  At most CBP_CARVE_MAX_RECORDS records
 * are scanned and CBP_B64_MAX_RUNS runs examined (cbp_limits.h).
 */
static int
is_markup_text(const struct cbp_facts *f, const struct cbp_object *o)
{
	const unsigned char *h = o->head;
	size_t i;

	if (f->ident.kind != CBP_KIND_TEXT)
		return 0;
	for (i = 0; i < o->head_len && (h[i] == ' ' || h[i] == '\t' ||
	    h[i] == '\r' || h[i] == '\n' || h[i] == 0xEF || h[i] == 0xBB ||
	    h[i] == 0xBF); i++)
		;	/* blanks and a UTF-8 byte order mark */
	return i < o->head_len && (h[i] == '<' || h[i] == '{' || h[i] == '[');
}

/*
 * Only runs that decode to a record spend the record budget: decoys (the
 * prefix, then anything) must not use it up and hide a record placed after
 * them.  They are bounded by the run budget instead, and either budget, when
 * there is more to look at, is a "limit" record: never silent.
 */
static void
scan_base64_records(struct obj_ctx *c)
{
	struct cbp_scan *s = c->w->scan;
	struct cbp_facts *f = c->f;
	const unsigned char *p;
	size_t n, from = 0, start, end, runs = 0, records = 0;
	char name[48], msg[160];
	int complete;

	if (!c->markup || cbp_facts_content(f, 0, &p, &n, &complete) != CBP_OK)
		return;
	if (!complete)
		cbp_error_set(&f->problem, CBP_ELIMIT, 0, "searched the first "
		    "%zu bytes for base64-encoded records", n);
	while (cbp_record_b64_next(p, n, from, &start, &end)) {
		size_t cap = (end - start) / 4 * 3 + 3, got;
		unsigned char *buf;

		if (records == CBP_CARVE_MAX_RECORDS || runs == CBP_B64_MAX_RUNS) {
			if (records == CBP_CARVE_MAX_RECORDS)
				snprintf(msg, sizeof(msg), "%d base64-encoded "
				    "records scanned: from offset %zu on not "
				    "searched for more", CBP_CARVE_MAX_RECORDS,
				    start);
			else
				snprintf(msg, sizeof(msg), "%d base64 runs "
				    "examined: from offset %zu on not searched "
				    "for records", CBP_B64_MAX_RUNS, start);
			emit_problem(s, c->o, NULL, CBP_REASON_LIMIT, msg);
			return;
		}
		runs++;
		if (cap > f->caps->load_max)
			cap = f->caps->load_max;
		if ((buf = scan_malloc(s, cap)) == NULL) {
			snprintf(msg, sizeof(msg), "out of memory decoding "
			    "base64: from offset %zu on not searched for "
			    "records", start);
			emit_problem(s, c->o, NULL, CBP_REASON_NOMEM, msg);
			return;
		}
		/*
		 * Only a run that decodes to a valid record is scanned (a
		 * record cut by the load limit is still one): "RkFDADAxMA"
		 * followed by anything else is a FAC string in text, which
		 * the profile says must not be reported.
		 */
		if (cbp_record_b64_decode(p + start, end - start, buf, cap,
		    &got) == CBP_OK && got > 0) {
			struct cbp_record rec;
			int pr = cbp_record_parse(buf, got, &rec);

			if (pr == CBP_OK || (pr == CBP_ETRUNC && got == cap &&
			    rec.kind != CBP_REC_NONE)) {
				snprintf(name, sizeof name, "@%zu:base64", start);
				records++;
				scan_child(c, buf, got, name);
			}
		}
		free(buf);
		from = end;
	}
}

/*
 * Pictures stored whole inside a PDF (DCTDecode streams are JPEG files) or
 * a binary blob (a database, a disk image, a memory dump): carved and
 * scanned as children, so known-image lists see them.  Only when lists are
 * loaded or hashing (an ordinary scan reads no more than before), only in
 * PDFs and unidentified binaries (text has no raw JPEG; archives are
 * searched member by member; executables' icons are not photographs), and
 * within the bytes loaded for whole-content work (limits.load_max).
 */
static void
scan_carved_images(struct obj_ctx *c)
{
	struct cbp_scan *s = c->w->scan;
	struct cbp_imgcarve_hit hit[CBP_IMGCARVE_MAX];
	const unsigned char *p;
	char name[64];
	size_t n, k, i;
	int complete, more;

	if (s->opts.known == NULL && !s->opts.hash_mode)
		return;
	if (c->f->ident.kind != CBP_KIND_PDF && c->f->ident.kind != CBP_KIND_OTHER)
		return;
	if (c->o->size < CBP_IMGCARVE_MIN_BYTES ||
	    cbp_facts_content(c->f, 0, &p, &n, &complete) != CBP_OK)
		return;		/* a read failure is already the object's problem */
	/* Offset 0 is the object itself, identified as what it is. */
	k = cbp_imgcarve_find(p, n, 1, hit, CBP_IMGCARVE_MAX, &more);
	if (more)
		emit_problem(s, c->o, NULL, CBP_REASON_LIMIT, "more embedded "
		    "pictures than are searched (64 per object): the rest "
		    "not compared with known-image lists");
	if (!complete && !c->o->mem_partial)
		emit_problem(s, c->o, NULL, CBP_REASON_LIMIT, "larger than "
		    "limits.load_max: embedded pictures searched in the first "
		    "part only");
	for (i = 0; i < k; i++) {
		snprintf(name, sizeof(name), "carved:%s@%zu",
		    cbp_imgcarve_type_name(hit[i].type), hit[i].offset);
		scan_child(c, p + hit[i].offset, hit[i].length, name);
	}
}

/* Is o one part of a file read in parts (offer_split)? */
static int
is_part(const struct cbp_worker *w, const struct cbp_object *o)
{
	return o->depth == 0 && w->stride > 1;
}

/*
 * Archives worth reading in parts: those where passing a member by is a
 * seek (cbp_expand.h: want): zip and its kin (jar, apk, docx ...),
 * uncompressed tar, cpio, iso9660.  Anything compressed as a whole (tar.gz,
 * tar.xz) or solid (7z, rar) costs the same decompression to pass a member
 * by as to read it: each part would decompress all of it.
 */
static int
splittable(const struct cbp_ident *id)
{
	if (id->kind != CBP_KIND_ARCHIVE)
		return 0;
	switch (id->format) {
	case CBP_FMT_ZIP:
	case CBP_FMT_TAR:
	case CBP_FMT_CPIO:
	case CBP_FMT_ISO9660:
		return 1;
	default:
		return 0;
	}
}

static void
expand_archive(struct obj_ctx *c)
{
	static const struct cbp_expand_ops ops = {
		on_member, on_expand_problem, on_want
	};
	struct cbp_scan *s = c->w->scan;
	struct cbp_expand_budget top = { 0 };
	int r;

	if (c->budget == NULL) {
		top.top_size = c->o->size;
		/*
		 * A phase of a split archive gets its share of the bytes
		 * budgets and of the problem cap (cbp_expand.h: shares), so
		 * the phases together spend what one reading would: with
		 * members spread evenly by index, a bomb or an oversized
		 * archive still stops at about the same point.  The archive
		 * itself (damage between members, too many members) is
		 * reported by phase 0 only.
		 */
		if (is_part(c->w, c->o)) {
			top.shares = c->w->stride;
			top.members_only = c->w->phase > 0;
		}
		c->budget = &top;
	}
	/*
	 * One archive, counted once: by phase 0 of a split one, and not
	 * again by a job resumed after a member that killed a worker (the
	 * parent took that one's counters from its last mark).
	 */
	if (c->o->depth > 0 || (c->w->from == 0 && (!is_part(c->w, c->o) ||
	    c->w->phase == 0)))
		c->w->st.archives++;
	/* expand.c reports every cause but its own lack of memory. */
	r = cbp_expand_object(c->o, &c->f->ident, &s->opts.expand, c->budget,
	    &ops, c);
	if (r == CBP_ENOMEM)
		emit_problem(s, c->o, NULL, CBP_REASON_NOMEM, "out of memory "
		    "expanding the archive: the rest of its members not "
		    "scanned");
	if (c->budget == &top)
		c->budget = NULL;
}

/*
 * Pixel images a PDF stores FlateDecode (RGB or grey, 8 bits): inflated
 * and scanned as a binary PNM child "pdf-image@OFFSET" (OFFSET: the stream
 * data's first byte in the PDF), so the lists see them like any picture
 * (cbp_pdfimg.h).  Same conditions as scan_carved_images, PDFs only; at
 * most CBP_PDFIMG_MAX images and CBP_PDFIMG_INFLATE_MAX pixel bytes per
 * PDF, each image under the decoder's pixel cap and no larger than
 * limits.load_max as a PNM (the most a child object is read).  The part
 * of a PDF beyond load_max is scan_carved_images' "limit" record.
 */
static void
scan_pdf_images(struct obj_ctx *c)
{
	struct cbp_scan *s = c->w->scan;
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	const unsigned char *p;
	uint64_t left = CBP_PDFIMG_INFLATE_MAX, raster;
	uint8_t *pnm;
	char name[64], msg[200];
	size_t n, k, i, len;
	int complete, r, over;

	if (s->opts.known == NULL && !s->opts.hash_mode)
		return;
	if (c->f->ident.kind != CBP_KIND_PDF ||
	    cbp_facts_content(c->f, 0, &p, &n, &complete) != CBP_OK)
		return;		/* a read failure is already the object's problem */
	k = cbp_pdfimg_find(p, n, hit, CBP_PDFIMG_MAX, &st);
	if (st.more)
		emit_problem(s, c->o, NULL, CBP_REASON_LIMIT, "more FlateDecode "
		    "images than are searched (64 per PDF): the rest not "
		    "compared with known-image lists");
	for (i = 0; i < k; i++) {
		snprintf(name, sizeof(name), "pdf-image@%zu", hit[i].offset);
		/* Cut by load_max, not damaged: said once for the PDF. */
		if (hit[i].truncated && !complete)
			continue;
		raster = cbp_pdfimg_raster_bytes(&hit[i]);
		/* One image over the caps is its own record, not the PDF's
		 * budget used up (cbp_pdfimg_pnm checks the caps exactly). */
		over = raster == 0 || raster > c->f->caps->load_max ||
		    (uint64_t)hit[i].w * hit[i].h > CBP_DECODE_MAX_PIXELS;
		if (!over && raster > left) {
			snprintf(msg, sizeof(msg), "FlateDecode images past %zu "
			    "MiB of pixels: from offset %zu on not compared "
			    "with known-image lists",
			    CBP_PDFIMG_INFLATE_MAX >> 20, hit[i].offset);
			emit_problem(s, c->o, NULL, CBP_REASON_LIMIT, msg);
			return;
		}
		if (!over)
			left -= raster;
		r = over ? CBP_ELIMIT : cbp_pdfimg_pnm(p, n, &hit[i], 0,
		    c->f->caps->load_max, &pnm, &len);
		if (r == CBP_OK) {
			scan_child(c, pnm, len, name);
			free(pnm);
			continue;
		}
		if (r == CBP_ENOMEM) {
			emit_problem(s, c->o, name, CBP_REASON_NOMEM, "out of "
			    "memory inflating the image: not compared with "
			    "known-image lists");
			continue;
		}
		snprintf(msg, sizeof(msg), r == CBP_ELIMIT ?
		    "FlateDecode image of %u x %u pixels, over the pixel cap "
		    "or limits.load_max: not compared with known-image lists" :
		    "FlateDecode image of %u x %u pixels whose data does not "
		    "inflate to them: not compared with known-image lists",
		    hit[i].w, hit[i].h);
		emit_problem(s, c->o, name, r == CBP_ELIMIT ? CBP_REASON_LIMIT :
		    CBP_REASON_CORRUPT, msg);
	}
}

static void
scan_children(struct obj_ctx *c)
{
	struct cbp_scan *s = c->w->scan;
	struct cbp_facts *f = c->f;
	const struct cbp_record *rec;
	const struct cbp_record_list *carved;
	const struct cbp_meta *meta;
	size_t i;

	if (f->ident.kind == CBP_KIND_ARCHIVE ||
	    f->ident.kind == CBP_KIND_COMPRESSED)
		expand_archive(c);
	/* Without rules nothing parsed a record: hash mode asks for it, so
	 * the pictures inside biometric records are hashed too. */
	if (s->opts.hash_mode && f->ident.kind == CBP_KIND_RECORD)
		(void)cbp_facts_record(f, &rec);
	if ((rec = cbp_facts_record_computed(f)) != NULL && c->o->data != NULL)
		scan_record_payloads(c, rec, c->o->data, c->o->data_len, 0);
	if ((carved = cbp_facts_carved_computed(f)) != NULL && carved->n > 0 &&
	    c->o->data == NULL) {
		/* Carving mapped the file; its pictures need the bytes. */
		const unsigned char *p;
		size_t n;
		(void)cbp_facts_content(f, 0, &p, &n, NULL);
	}
	if (carved != NULL && c->o->data != NULL)
		for (i = 0; i < carved->n; i++)
			scan_record_payloads(c, &carved->v[i], c->o->data,
			    c->o->data_len, 1);
	scan_base64_records(c);
	if ((meta = cbp_facts_meta_computed(f)) != NULL && meta->thumb_len > 0 &&
	    c->o->data != NULL && meta->thumb_offset <= c->o->data_len &&
	    meta->thumb_len <= c->o->data_len - meta->thumb_offset)
		scan_child(c, c->o->data + meta->thumb_offset,
		    meta->thumb_len, "exif:thumbnail.jpg");
	scan_carved_images(c);
	scan_pdf_images(c);
}

/* ---- one object ------------------------------------------------------------ */

/* The longest display path built; longer is a "limit", not a crash. */
#define DISPLAY_PATH_MAX ((size_t)1 << 20)

/*
 * path, then "/" and each member: what rules' "path" condition sees.  NULL
 * with *r CBP_ENOMEM, or CBP_ELIMIT past DISPLAY_PATH_MAX.
 */
static char *
display_path(struct cbp_scan *s, const struct cbp_object *o, int *r)
{
	struct cbp_dynbuf b;
	size_t i;

	*r = CBP_ENOMEM;
	if (alloc_fails(s))
		return NULL;
	cbp_dynbuf_init(&b, DISPLAY_PATH_MAX);
	if ((*r = cbp_dynbuf_add(&b, o->path, strlen(o->path))) != CBP_OK)
		goto fail;
	for (i = 0; i < o->nmember; i++)
		if ((*r = cbp_dynbuf_addc(&b, '/')) != CBP_OK ||
		    (*r = cbp_dynbuf_add(&b, o->member[i],
		    strlen(o->member[i]))) != CBP_OK)
			goto fail;
	return (char *)cbp_dynbuf_take(&b, NULL);
fail:
	cbp_dynbuf_free(&b);
	return NULL;
}

/*
 * Issue 8 section 4: one huge archive must not leave the other cores idle.
 * A top-level archive worth it (splittable) of at least split_min bytes,
 * when there are several workers, is read in as many parts: this worker
 * says so to the parent (a SPLIT frame) and goes on as part 0, scanning
 * the members whose index is 0 modulo the stride and everything about the
 * file itself; the parent hands parts 1 .. n-1 to the other workers at
 * once (split_parts), each its own job.  Decided here, after identification, rather than in the
 * parent from the size alone: the parent would need a stat per file (on
 * the bench tree, 145k files, that was about 0.25 s of system time in
 * 8.5 s of CPU), and only archives worth it cost extra jobs.  Not for
 * streams (the parent read them into one memfd: nothing to gain) nor for
 * a job that resumes an object after a failure (a part keeps its part).
 */
static void
offer_split(struct cbp_worker *w, const struct cbp_object *o,
    const struct cbp_facts *f)
{
	struct cbp_scan *s = w->scan;
	size_t len;

	if (o->depth != 0 || !w->may_split || w->stride != 1 || w->from != 0 ||
	    s->nworkers < 2 || s->opts.split_min == 0 ||
	    o->size < s->opts.split_min || !splittable(&f->ident) ||
	    o->depth >= s->opts.expand.max_depth)
		return;
	if (cbp_wire_put_split(w->frame, CBP_SV_FRAME_MAX, &len, w->index,
	    s->nworkers) != CBP_OK ||
	    cbp_sv_send(w->chan, CBP_WIRE_SPLIT, w->frame, len) != CBP_OK)
		return;		/* then it is read whole, here */
	w->phase = 0;
	w->stride = s->nworkers;
}

/*
 * This job is one part (phase) of a file read in parts (offer_split).
 * Phase 0 is the file's owner: everything about the file itself (its
 * rules, findings, hashes, counters and records about it) is its; phases
 * > 0 only expand the archive and scan their members.  Should the file not
 * be an archive worth reading in parts after all (a resumed part sees
 * what the first reading saw, so this is defensive), phase 0 scans all of
 * it and the others stop here.  Returns 1 when the object is done with, 0
 * when scan_object goes on as usual.
 */
static int
scan_part(struct cbp_worker *w, struct cbp_object *o, struct cbp_facts *f,
    struct cbp_expand_budget *budget)
{
	struct obj_ctx c = { 0 };

	if (!splittable(&f->ident) || o->depth >= w->scan->opts.expand.max_depth) {
		if (w->phase > 0)
			return 1;
		w->stride = 1;		/* phase 0 takes all of it */
		return 0;
	}
	if (w->phase == 0)
		return 0;
	f->no_carve = 1;
	f->scratch = &w->window_buf;
	c.w = w;
	c.o = o;
	c.f = f;
	c.budget = budget;
	expand_archive(&c);
	return 1;
}

static void
scan_object(struct cbp_worker *w, struct cbp_object *o,
    struct cbp_expand_budget *budget)
{
	struct cbp_scan *s = w->scan;
	struct cbp_facts facts;
	struct obj_ctx c = { 0 };
	struct cbp_error e = { 0 };
	char *dpath = NULL;
	int r;

	if ((r = cbp_read_head(o, CBP_HEAD_BYTES, &e)) != CBP_OK) {
		/* The file's own record: phase 0's (scan_part). */
		if (!is_part(w, o) || w->phase == 0)
			emit_problem(s, o, NULL, cbp_reason_from_err(r), e.message);
		return;
	}
#ifdef CBP_FAULT_HOOKS
	fault_hook(o);
#endif
	/* A file on disk is its own display path: no copy per file. */
	if (o->nmember > 0 && (dpath = display_path(s, o, &r)) == NULL) {
		if (r == CBP_ENOMEM)
			emit_problem(s, o, NULL, CBP_REASON_NOMEM,
			    "out of memory: not scanned");
		else
			emit_problem(s, o, NULL, CBP_REASON_LIMIT, "path and "
			    "member names longer than 1 MiB: not scanned");
		return;
	}
	cbp_facts_init(&facts, o, w->id, &s->opts.caps, dpath ? dpath : o->path);
	offer_split(w, o, &facts);
	if (is_part(w, o) && scan_part(w, o, &facts, budget))
		goto out;
	/*
	 * An archive we are about to open is searched member by member;
	 * carving its raw bytes too would report every record in an
	 * uncompressed tar or zip twice.
	 */
	if (o->depth < s->opts.expand.max_depth &&
	    (facts.ident.kind == CBP_KIND_ARCHIVE ||
	    facts.ident.kind == CBP_KIND_COMPRESSED))
		facts.no_carve = 1;
	facts.scratch = &w->window_buf;
	/*
	 * Markup and JSON are searched whole for base64 records after
	 * matching: load them now, so carving during matching reads the
	 * loaded bytes instead of reading the file a second time.
	 */
	c.markup = is_markup_text(&facts, o);
	if (c.markup && o->fd >= 0 && o->size > o->head_len) {
		const unsigned char *p;
		size_t n;

		(void)cbp_facts_content(&facts, 0, &p, &n, NULL);
	}
	c.w = w;
	c.o = o;
	c.f = &facts;
	c.budget = budget;
	r = s->opts.hash_mode ? CBP_OK :
	    cbp_match_object(w->matcher, &facts, on_hit, &c);
	if (r == CBP_ENOMEM) {
		facts.nomem = 1;
		cbp_error_set(&facts.problem, CBP_ENOMEM, 0,
		    "out of memory while matching rules");
	}
	if (s->opts.hash_mode)
		hash_object(&c);
	else
		match_known(&c);
	scan_children(&c);
	/* A member cut at the size limit was already reported by expand.c.
	 * Records about one archive's members are capped (cbp_expand.h). */
	if (facts.problem.code != CBP_OK && cbp_expand_budget_problem(budget))
		emit_problem(s, o, NULL, cbp_reason_from_err(facts.problem.code),
		    facts.problem.message);
	/* Memory that ran out after an earlier problem: said all the same. */
	if (facts.nomem && facts.problem.code != CBP_ENOMEM)
		emit_problem(s, o, NULL, CBP_REASON_NOMEM, "out of memory: "
		    "not all of it could be examined");
out:
	cbp_facts_free(&facts);
	free(dpath);
}

/* ---- the worker side: records out as frames -------------------------------- */

static void
send_problem(struct cbp_worker *w, const struct cbp_problem *p)
{
	struct cbp_problem cut = *p;
	size_t len;
	int r;

	r = cbp_wire_put_problem(w->frame, CBP_SV_FRAME_MAX, &len, w->index,
	    0, p);
	if (r != CBP_OK) {
		/* Names too long for one frame: the record still goes out,
		 * on the object, saying so. */
		cut.member = NULL;
		cut.nmember = 0;
		cut.detail = "a record about a member whose names do not fit "
		    "one frame (64 KiB): member chain left out";
		r = cbp_wire_put_problem(w->frame, CBP_SV_FRAME_MAX, &len,
		    w->index, 0, &cut);
	}
	if (r == CBP_OK)
		(void)cbp_sv_send(w->chan, CBP_WIRE_PROBLEM, w->frame, len);
}

/* A root that could not be opened: the parent says so on stderr too. */
static void
send_root_problem(struct cbp_worker *w, const struct cbp_problem *p)
{
	size_t len;

	if (cbp_wire_put_problem(w->frame, CBP_SV_FRAME_MAX, &len, w->index,
	    1, p) == CBP_OK)
		(void)cbp_sv_send(w->chan, CBP_WIRE_PROBLEM, w->frame, len);
}

static void
send_finding(struct cbp_worker *w, const struct cbp_finding *f)
{
	struct cbp_problem p = { 0 };
	size_t len;

	if (cbp_wire_put_finding(w->frame, CBP_SV_FRAME_MAX, &len, w->index,
	    f) == CBP_OK) {
		(void)cbp_sv_send(w->chan, CBP_WIRE_FINDING, w->frame, len);
		return;
	}
	p.path = f->path;
	p.reason = CBP_REASON_LIMIT;
	p.detail = "a finding whose names and evidence do not fit one frame "
	    "(64 KiB): not reported";
	send_problem(w, &p);
}

/* Where this worker is: the object (major) or a member of it. */
static void
send_mark(struct cbp_worker *w, int major)
{
	struct cbp_wire_mark m;
	unsigned char buf[CBP_WIRE_MARK_NAME_MAX + 64];	/* < CBP_SV_PROGRESS_MAX */
	size_t len;

	m.index = w->index;
	m.member = major ? 0 : w->ordinal;
	m.stats = w->st;
	m.name = major || w->mname == NULL ? "" : w->mname;
	if (cbp_wire_put_mark(buf, sizeof(buf), &len, &m) != CBP_OK)
		return;
	/*
	 * Through the shared progress page, not a frame: a frame per object
	 * cost 5 us per file on trees of small files (a writev here, a wake-up
	 * and a recvmsg in the parent); the page costs a memcpy, and the
	 * parent reads it only when a budget is due or the job failed.
	 */
	(void)cbp_sv_progress(w->chan, buf, len, major);
}

#ifdef CBP_FAULT_HOOKS
static jmp_buf fault_jmp;

/*
 * Test builds only (build/cbpscan-faults, never installed): a file that
 * starts with "CBPSCAN-FAULT:<what>\n" makes the worker misbehave the way
 * a broken parser would, so the tests can show what the parent does.
 */
static void
fault_hook(const struct cbp_object *o)
{
	static const char tag[] = "CBPSCAN-FAULT:";
	const char *h = (const char *)o->head, *what;
	volatile char *p;
	size_t n = sizeof(tag) - 1;

	if (o->head_len < n || memcmp(h, tag, n) != 0)
		return;
	what = h + n;
	if (o->head_len >= n + 5 && memcmp(what, "loop\n", 5) == 0) {
		for (;;)
			;
	} else if (o->head_len >= n + 6 && memcmp(what, "alloc\n", 6) == 0) {
		/* Touch every page, as a runaway decoder does, until the
		 * cap makes malloc fail; then give it all back and end the
		 * job as a parser that checks would: CBP_ENOMEM. */
		void **chunk, **list = NULL;

		while ((chunk = malloc(1 << 20)) != NULL) {
			memset(chunk, 1, 1 << 20);
			*chunk = list;
			list = chunk;
		}
		while (list != NULL) {
			chunk = *list;
			free(list);
			list = chunk;
		}
		longjmp(fault_jmp, 1);
	} else if (o->head_len >= n + 5 && memcmp(what, "segv\n", 5) == 0) {
		p = NULL;
		*p = 1;
	} else if (o->head_len >= n + 5 && memcmp(what, "exec\n", 5) == 0) {
		char *argv[] = { "/bin/true", NULL };

		execv(argv[0], argv);
	} else if (o->head_len >= n + 7 && memcmp(what, "socket\n", 7) == 0) {
		(void)socket(AF_INET, SOCK_STREAM, 0);
	} else if (o->head_len >= n + 6 && memcmp(what, "write\n", 6) == 0) {
		int fd = open("/tmp/cbpscan-fault-write", O_WRONLY | O_CREAT, 0600);

		if (fd >= 0)
			(void)write(fd, "x", 1);
	}
}
#endif

/* ---- the worker side: one batch ------------------------------------------------ */

/*
 * A job, as the parent writes it (the worker trusts its parent): header,
 * then per object a struct job_obj and its path (the name is its tail).
 */
struct job_hdr {
	uint32_t kind, count;
	uint64_t resume;	/* object 0: entries before this one passed by */
	uint64_t stream_len;
	uint32_t stream_more, pad;
	uint32_t phase, stride;	/* object 0: one part of a split file */
};

struct job_obj {
	uint64_t dev, ino;
	uint32_t type, path_len, name_len;
	uint8_t root, follow, direct;
	uint8_t dir;		/* index of its directory's descriptor, or BATCH_DIR_CWD */
};

static void
worker_file(struct cbp_worker *w, int dirfd, const struct job_obj *jo,
    const char *path, uint64_t resume)
{
	struct cbp_open_want want = {
		.type = jo->type, .dev = (dev_t)jo->dev, .ino = (ino_t)jo->ino,
		.root = jo->root, .follow = jo->follow, .direct = jo->direct,
	};
	const char *name = path + jo->path_len - jo->name_len;
	struct cbp_object o;
	struct cbp_error e = { 0 };
	struct cbp_problem p = { 0 };
	struct stat st;
	int fd, r;

	cbp_object_init(&o);
	o.path = path;
	o.name = base_name_of(path);
	r = cbp_read_open(dirfd < 0 ? AT_FDCWD : dirfd, name, &want, &fd, &st,
	    &e);
	if (r == CBP_ENOTFOUND && !jo->root) {
		/* Deleted since it was listed: normal on a live host. */
		if (w->phase == 0)
			w->st.vanished++;
		return;
	}
	/* The file's counters and its own records: phase 0's. */
	if (resume == 0 && w->phase == 0)
		w->st.files++;
	if (r != CBP_OK && w->phase > 0)
		return;
	if (r != CBP_OK) {
		p.path = path;
		p.reason = cbp_reason_from_err(r);
		p.detail = e.message;
		if (jo->root)
			send_root_problem(w, &p);
		else
			send_problem(w, &p);
		return;
	}
	o.fd = fd;
	o.size = (uint64_t)st.st_size;
	o.mtime = (int64_t)st.st_mtime;
	o.head_store = w->head_buf;	/* borrowed: taken back before release */
	if (resume == 0 && w->phase == 0)
		w->st.bytes += o.size;
	w->from = resume;
	w->may_split = 1;
	scan_object(w, &o, NULL);
	w->may_split = 0;
	w->from = 0;
	o.head_store = NULL;
	cbp_object_release(&o);
	close(fd);
}

static void
worker_stream(struct cbp_worker *w, int mfd, const struct job_hdr *jh,
    const char *path, uint64_t resume)
{
	struct cbp_scan *s = w->scan;
	struct cbp_object o;
	struct stat st;
	char detail[192];

	cbp_object_init(&o);
	o.path = path;
	o.name = base_name_of(path);
	if (resume == 0) {
		w->st.files++;
		w->st.bytes += jh->stream_len;
	}
	o.fd = mfd;
	o.size = jh->stream_len;
	/* The memfd was made by the parent; its mtime is the stream's own
	 * (set with futimens): a FIFO's last write, when the data was made. */
	o.mtime = fstat(mfd, &st) == 0 ? (int64_t)st.st_mtime : CBP_MTIME_UNKNOWN;
	o.head_store = w->head_buf;
	w->from = resume;
	scan_object(w, &o, NULL);
	w->from = 0;
	o.head_store = NULL;
	if (jh->stream_more) {
		snprintf(detail, sizeof(detail), "a stream longer than member_max "
		    "(%zu bytes): only its first %llu bytes were scanned",
		    s->opts.expand.member_max,
		    (unsigned long long)jh->stream_len);
		emit_problem(s, &o, NULL, CBP_REASON_LIMIT, detail);
	}
	cbp_object_release(&o);
}

/* One object of a batch (the fault hooks' memory test unwinds to here). */
static int
worker_one(struct cbp_worker *w, int fd, const struct job_hdr *jh,
    const struct job_obj *jo, const char *path, uint64_t resume)
{
#ifdef CBP_FAULT_HOOKS
	if (setjmp(fault_jmp) != 0)
		return CBP_ENOMEM;
#endif
	if (jh->kind == JOB_STREAM)
		worker_stream(w, fd, jh, path, resume);
	else
		worker_file(w, fd, jo, path, resume);
	return CBP_OK;
}

/* In a worker: the scan's cancel flag, at the same address as the
 * parent's (a fork's copy), set by SIGTERM from the parent. */
static volatile int *worker_cancel;

static void
worker_on_term(int sig)
{
	(void)sig;
	if (worker_cancel != NULL)
		*worker_cancel = 1;
}

/* Before confinement: a polite stop finishes the object's records (a
 * partial hash is still a finding) instead of losing them. */
static int
worker_init(void *arg)
{
	struct cbp_scan *s = arg;
	struct sigaction sa;

	worker_cancel = s->walk.cancel;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_term;
	return sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0;
}

static int
worker_job(struct cbp_sv_worker *chan, const unsigned char *job, size_t len,
    const int *fds, unsigned nfds, void *arg)
{
	struct cbp_scan *s = arg;
	struct cbp_worker *w = &s->worker;
	struct job_hdr jh;
	struct job_obj jo;
	size_t off = sizeof(jh);
	uint32_t i;
	char *path;
	int r, fd = -1;

	w_cur = w;
	w->chan = chan;
	memset(&w->st, 0, sizeof(w->st));
	if (len < sizeof(jh))
		return CBP_EINVAL;
	memcpy(&jh, job, sizeof(jh));
	if (jh.stride == 0 || jh.phase >= jh.stride)
		return CBP_EINVAL;	/* not what the parent writes */
	for (i = 0; i < jh.count && !*s->walk.cancel; i++) {
		if (len - off < sizeof(jo))
			return CBP_EINVAL;
		memcpy(&jo, job + off, sizeof(jo));
		off += sizeof(jo);
		if (len - off < jo.path_len || jo.name_len > jo.path_len)
			return CBP_EINVAL;
		if ((path = malloc((size_t)jo.path_len + 1)) == NULL)
			return CBP_ENOMEM;
		memcpy(path, job + off, jo.path_len);
		path[jo.path_len] = '\0';
		off += jo.path_len;
		w->index = i;
		w->ordinal = 0;
		w->mname = NULL;
		w->phase = i == 0 ? jh.phase : 0;
		w->stride = i == 0 ? jh.stride : 1;
		send_mark(w, 1);
		r = CBP_OK;
		if (jh.kind == JOB_STREAM)
			fd = nfds > 0 ? fds[0] : -1;
		else if (jo.dir == BATCH_DIR_CWD)
			fd = -1;
		else if (jo.dir < nfds)
			fd = fds[jo.dir];
		else
			r = CBP_EINVAL;	/* not what the parent writes */
		if (r == CBP_OK)
			r = worker_one(w, fd, &jh, &jo, path,
			    i == 0 ? jh.resume : 0);
		free(path);
		w->phase = 0;
		w->stride = 1;
		if (r != CBP_OK)
			return r;
	}
	/*
	 * The batch's counters, as a frame: not left in the progress page,
	 * which the worker reuses for its next job (written ahead) before
	 * the parent may have read this one's end.
	 */
	{
		size_t n;

		if (cbp_wire_put_stats(w->frame, CBP_SV_FRAME_MAX, &n,
		    &w->st) == CBP_OK)
			(void)cbp_sv_send(chan, CBP_WIRE_STATS, w->frame, n);
	}
	return CBP_OK;
}

/* ---- the parent: batches from the walk --------------------------------------- */

/* A root that could not be scanned at all: exit 2, complete:false. */
static void
root_failed(struct cbp_scan *s, const char *path, enum cbp_reason reason,
    const char *detail)
{
	atomic_fetch_add(&s->stats.roots_failed, 1);
	if (s->opts.root_failed != NULL)
		s->opts.root_failed(s->opts.root_failed_arg, path, reason, detail);
}

static void
batch_free(struct batch *b)
{
	unsigned i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		free(b->obj[i].path);
	for (i = 0; i < b->nfds; i++)
		close(b->fds[i]);
	free(b);
}

static uint64_t
mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static struct batch *
batch_new(int kind, int fd)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->kind = kind;
	b->born_ms = mono_ms();
	if (fd >= 0)
		b->fds[b->nfds++] = fd;
	b->cur = -1;
	b->bytes = sizeof(struct job_hdr);
	return b;
}

static int
cancelled(const struct cbp_scan *s)
{
	return *s->walk.cancel != 0;
}

/* Only when the dispatcher said it waits for batches: a wake-up per
 * batch was a measurable share of the context switches. */
static void
wake(struct cbp_scan *s)
{
	uint64_t one = 1;

	if (atomic_exchange(&s->want_wake, 0))
		(void)!write(s->wake_fd, &one, sizeof(one));
}

/* Hand a full batch to the dispatcher; waits while the queue is full
 * (backpressure: memory stays bounded however large the tree). */
static void
batch_push(struct cbp_scan *s, struct batch *b)
{
	struct timespec ts;

	pthread_mutex_lock(&s->qlock);
	while (s->qlen >= s->qcap && !cancelled(s)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->qroom, &s->qlock, &ts);
	}
	if (cancelled(s)) {
		pthread_mutex_unlock(&s->qlock);
		batch_free(b);
		return;
	}
	if (s->qtail != NULL)
		s->qtail->next = b;
	else
		s->qhead = b;
	s->qtail = b;
	s->qlen++;
	pthread_mutex_unlock(&s->qlock);
	wake(s);
}

static struct batch *
batch_pop(struct cbp_scan *s)
{
	struct batch *b;

	pthread_mutex_lock(&s->qlock);
	if ((b = s->qhead) != NULL) {
		s->qhead = b->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		s->qlen--;
		b->next = NULL;
		pthread_cond_signal(&s->qroom);
	}
	pthread_mutex_unlock(&s->qlock);
	return b;
}

/* Add one object; CBP_ENOMEM, or CBP_ELIMIT when its path cannot travel. */
static int
batch_add(struct batch *b, const char *path, size_t path_len,
    size_t name_len, mode_t type, dev_t dev, ino_t ino, int root,
    int follow, int direct, unsigned dir)
{
	struct batch_obj *bo = &b->obj[b->n];

	if (path_len > BATCH_BYTES_MAX - sizeof(struct job_obj) -
	    sizeof(struct job_hdr))
		return CBP_ELIMIT;
	if ((bo->path = malloc(path_len + 1)) == NULL)
		return CBP_ENOMEM;
	memcpy(bo->path, path, path_len);
	bo->path[path_len] = '\0';
	bo->path_len = path_len;
	bo->name_len = name_len;
	bo->type = type;
	bo->dev = dev;
	bo->ino = ino;
	bo->root = (unsigned char)root;
	bo->follow = (unsigned char)follow;
	bo->direct = (unsigned char)direct;
	bo->dir = (unsigned char)dir;
	b->bytes += sizeof(struct job_obj) + path_len;
	b->n++;
	return CBP_OK;
}

/* A file the parent could not even hand over: its record, from here. */
static void
parent_problem(struct cbp_scan *s, const char *path, int root, int code,
    const char *detail)
{
	struct cbp_object o;

	cbp_object_init(&o);
	o.path = path;
	atomic_fetch_add(&s->stats.files, 1);
	emit_problem_w(s, NULL, &o, NULL, cbp_reason_from_err(code), detail);
	if (root)
		root_failed(s, path, cbp_reason_from_err(code), detail);
}

/* Hand walk thread worker's batch to the dispatcher (if it holds any). */
static void
push_current(struct cbp_scan *s, unsigned worker)
{
	struct batch *b = s->cur[worker];

	s->cur[worker] = NULL;
	if (b != NULL && b->n > 0)
		batch_push(s, b);
	else
		batch_free(b);
}

/*
 * The walk is done with a directory.  Its batch goes on to the next
 * directory unless it is full enough to be worth a round trip, holds as
 * many descriptors as a job can carry, or a worker is waiting.
 */
static void
end_of_dir(void *arg, unsigned worker)
{
	struct cbp_scan *s = arg;
	struct batch *b = s->cur[worker];

	if (b == NULL)
		return;
	b->dir_open = 0;
	if (b->n >= BATCH_FILL || b->nfds == CBP_SV_FDS_MAX ||
	    (atomic_load(&s->want_wake) && mono_ms() - b->born_ms >=
	    BATCH_WAIT_MS))
		push_current(s, worker);
}

/*
 * The descriptor of wf's directory in b: the one taken for the previous
 * object while the walk still lists that directory, else a new one (the
 * walk closes its own when it is done; the batch keeps a copy until the
 * job is over).  CBP_OK, CBP_ELIMIT when b carries all it can, CBP_EIO.
 */
static int
batch_dir(struct batch *b, const struct cbp_walk_file *wf, unsigned *dir)
{
	int fd;

	if (b->dir_open) {
		*dir = b->cur_dir;
		return CBP_OK;
	}
	if (wf->dirfd == AT_FDCWD) {
		*dir = BATCH_DIR_CWD;
	} else {
		if (b->nfds == CBP_SV_FDS_MAX)
			return CBP_ELIMIT;
		if ((fd = fcntl(wf->dirfd, F_DUPFD_CLOEXEC, 0)) < 0)
			return CBP_EIO;
		*dir = b->nfds;
		b->fds[b->nfds++] = fd;
	}
	b->cur_dir = (unsigned char)*dir;
	b->dir_open = 1;
	return CBP_OK;
}

static void
on_file(void *arg, unsigned worker, const struct cbp_walk_file *wf)
{
	struct cbp_scan *s = arg;
	struct batch *b = wf->root ? NULL : s->cur[worker];
	size_t nlen = strlen(wf->name);
	unsigned dir = BATCH_DIR_CWD;
	int r;

	if (b != NULL && (b->bytes + sizeof(struct job_obj) + wf->path_len >
	    BATCH_BYTES_MAX || (!b->dir_open && b->nfds == CBP_SV_FDS_MAX)))
		push_current(s, worker), b = NULL;
	if (b == NULL) {
		if ((b = batch_new(JOB_FILES, -1)) == NULL) {
			parent_problem(s, wf->path, wf->root, CBP_ENOMEM,
			    "out of memory: not scanned");
			return;
		}
		if (!wf->root)
			s->cur[worker] = b;
	}
	if ((r = batch_dir(b, wf, &dir)) != CBP_OK) {
		parent_problem(s, wf->path, wf->root, CBP_EIO, "cannot "
		    "hold its directory open for a worker: too many "
		    "open files");
		if (wf->root)
			batch_free(b);
		return;
	}
	/* A root named as a symlink to a regular file is followed (find -H). */
	r = batch_add(b, wf->path, wf->path_len, nlen > wf->path_len ?
	    wf->path_len : nlen, wf->type, wf->dev, wf->ino, wf->root,
	    wf->root, wf->safe_dir, dir);
	if (r != CBP_OK)
		parent_problem(s, wf->path, wf->root, r, r == CBP_ENOMEM ?
		    "out of memory: not scanned" : "a path longer than a "
		    "worker's job can carry (63 KiB): not scanned");
	if (wf->root) {
		if (b->n > 0)
			batch_push(s, b);
		else
			batch_free(b);
	} else if (b->n == CBP_BATCH_MAX) {
		push_current(s, worker);
	}
}

/*
 * A root that is a FIFO, a device or "-": read once into a memfd, up to
 * member_max (a stream cannot be read twice, and later stages do), then
 * scanned like a file by a worker.  Reading stays in the parent: a worker
 * opens nothing that is not a regular file.  A longer stream is scanned
 * that far: a limit record.
 */
static void
on_stream(void *arg, unsigned worker, const struct cbp_walk_file *wf)
{
	struct cbp_scan *s = arg;
	/*
	 * A symlink to a device is followed only where nobody else could
	 * have put it (the walk checked the directory holding the name).
	 */
	struct cbp_open_want want = {
		.type = wf->type, .dev = wf->dev, .ino = wf->ino,
		.root = 1, .follow = wf->safe_dir,
	};
	struct cbp_error e = { 0 };
	struct stat st;
	struct batch *b;
	uint64_t len = 0;
	int fd = wf->fd, mfd = -1, more = 0, r = CBP_OK;

	if (fd < 0)
		r = cbp_read_open(wf->dirfd, wf->name, &want, &fd, &st, &e);
	else if (fstat(fd, &st) != 0)
		r = cbp_error_set(&e, CBP_EIO, errno, "cannot stat: %s",
		    strerror(errno));
	if (r == CBP_OK) {
		r = cbp_read_stream(fd, s->opts.expand.member_max, s->walk.cancel,
		    &mfd, &len, &more, &e);
		if (fd != wf->fd)
			close(fd);
	}
	if (r == CBP_OK) {
		/* A FIFO's or a pipe's last write: when the data was made;
		 * the worker reads it from the memfd. */
		struct timespec t[2] = { st.st_atim, st.st_mtim };

		(void)futimens(mfd, t);
	}
	if (r == CBP_OK && (b = batch_new(JOB_STREAM, mfd)) != NULL) {
		b->stream_len = len;
		b->stream_more = more;
		if (batch_add(b, wf->path, wf->path_len, wf->path_len, wf->type,
		    wf->dev, wf->ino, 1, 0, 0, 0) == CBP_OK) {
			batch_push(s, b);
			return;
		}
		batch_free(b);
		mfd = -1;
		r = cbp_error_set(&e, CBP_ENOMEM, 0, "out of memory");
	} else if (r == CBP_OK) {
		close(mfd);
		r = cbp_error_set(&e, CBP_ENOMEM, 0, "out of memory");
	}
	atomic_fetch_add(&s->stats.files, 1);
	{
		struct cbp_object o;

		cbp_object_init(&o);
		o.path = wf->path;
		emit_problem_w(s, NULL, &o, NULL, cbp_reason_from_err(r),
		    e.message);
	}
	/* Interrupted: the run already says it did not finish. */
	if (e.sys_errno != EINTR)
		root_failed(s, wf->path, cbp_reason_from_err(r), e.message);
}

static void
on_walk_error(void *arg, unsigned worker, const char *path, int code,
    const char *detail, int root)
{
	struct cbp_scan *s = arg;
	struct cbp_object o;

	cbp_object_init(&o);
	o.path = path;
	emit_problem_w(s, NULL, &o, NULL, cbp_reason_from_err(code), detail);
	if (root)
		root_failed(s, path, cbp_reason_from_err(code), detail);
}

static void
on_skip(void *arg, unsigned worker, enum cbp_walk_skip why)
{
	struct cbp_scan_stats *st = &((struct cbp_scan *)arg)->stats;

	switch (why) {
	case CBP_WALK_SKIP_SYMLINK:
		atomic_fetch_add(&st->skip_symlink, 1);
		break;
	case CBP_WALK_SKIP_FIFO:
		atomic_fetch_add(&st->skip_fifo, 1);
		break;
	case CBP_WALK_SKIP_SOCKET:
		atomic_fetch_add(&st->skip_socket, 1);
		break;
	case CBP_WALK_SKIP_DEVICE:
		atomic_fetch_add(&st->skip_device, 1);
		break;
	case CBP_WALK_SKIP_EXCLUDED:
		atomic_fetch_add(&st->skip_excluded, 1);
		break;
	case CBP_WALK_SKIP_OTHER_FS:
		atomic_fetch_add(&st->skip_other_fs, 1);
		break;
	case CBP_WALK_SKIP_VANISHED:
		atomic_fetch_add(&st->skip_vanished, 1);
		break;
	}
}

static void *
walk_thread(void *arg)
{
	static const struct cbp_walk_ops ops = {
		on_file, on_walk_error, on_skip, on_stream, end_of_dir
	};
	struct cbp_scan *s = arg;
	unsigned i;

	(void)cbp_walk_run(s->opts.roots, s->opts.nroots, &s->walk, &ops, s);
	for (i = 0; i < s->nworkers; i++)
		push_current(s, i);
	atomic_store(&s->walk_done, 1);
	atomic_store(&s->want_wake, 1);
	wake(s);
	return NULL;
}

/* ---- the parent: the dispatcher ----------------------------------------------- */

/* Submit objects [b->first, b->n) of b as one job. */
static int
batch_submit(struct cbp_scan *s, struct batch *b)
{
	unsigned char *job;
	struct job_hdr jh = { 0 };
	struct job_obj jo;
	size_t off = sizeof(jh);
	unsigned i, nfds;
	int fds[CBP_SV_FDS_MAX], r;
	struct cbp_error e = { 0 };

	if ((job = malloc(b->bytes)) == NULL)
		return CBP_ENOMEM;
	jh.kind = (uint32_t)b->kind;
	jh.count = b->n - b->first;
	jh.resume = b->resume;
	jh.stream_len = b->stream_len;
	jh.stream_more = (uint32_t)b->stream_more;
	/* A resumed object read in parts stays its part (split_parts). */
	jh.phase = b->obj[b->first].phase;
	jh.stride = b->obj[b->first].stride > 1 ? b->obj[b->first].stride : 1;
	memcpy(job, &jh, sizeof(jh));
	for (i = b->first; i < b->n; i++) {
		const struct batch_obj *bo = &b->obj[i];

		memset(&jo, 0, sizeof(jo));
		jo.dev = (uint64_t)bo->dev;
		jo.ino = (uint64_t)bo->ino;
		jo.type = (uint32_t)bo->type;
		jo.path_len = (uint32_t)bo->path_len;
		jo.name_len = (uint32_t)bo->name_len;
		jo.root = bo->root;
		jo.follow = bo->follow;
		jo.direct = bo->direct;
		jo.dir = bo->dir;
		memcpy(job + off, &jo, sizeof(jo));
		off += sizeof(jo);
		memcpy(job + off, bo->path, bo->path_len);
		off += bo->path_len;
	}
	/* The supervisor closes what it is given: the batch keeps its own
	 * (a failed job is submitted again from where it stopped). */
	for (nfds = 0; nfds < b->nfds; nfds++) {
		if ((fds[nfds] = fcntl(b->fds[nfds], F_DUPFD_CLOEXEC, 0)) < 0) {
			while (nfds > 0)
				close(fds[--nfds]);
			free(job);
			return CBP_EIO;
		}
	}
	if (b->kind == JOB_STREAM && nfds > 0)
		(void)lseek(fds[0], 0, SEEK_SET);
	b->id = ++s->next_id;
	b->cur = -1;
	b->cur_member = 0;
	b->cur_name[0] = '\0';
	memset(&b->mark_st, 0, sizeof(b->mark_st));
	r = cbp_sv_submit_fds(s->sv, b->id, job, off, fds, nfds, &e);
	free(job);
	if (r != CBP_OK)
		return r;	/* the descriptors are closed */
	b->next = s->inflight;
	s->inflight = b;
	return CBP_OK;
}

static struct batch *
inflight_find(struct cbp_scan *s, uint64_t id, int unlink)
{
	struct batch **pp, *b;

	for (pp = &s->inflight; (b = *pp) != NULL; pp = &b->next)
		if (b->id == id) {
			if (unlink) {
				*pp = b->next;
				b->next = NULL;
			}
			return b;
		}
	return NULL;
}

static size_t
inflight_count(const struct cbp_scan *s)
{
	const struct batch *b;
	size_t n = 0;

	for (b = s->inflight; b != NULL; b = b->next)
		n++;
	return n;
}

static void
add_stats(struct cbp_scan *s, const struct cbp_wire_stats *st)
{
	atomic_fetch_add(&s->stats.files, st->files);
	atomic_fetch_add(&s->stats.bytes, st->bytes);
	atomic_fetch_add(&s->stats.archives, st->archives);
	atomic_fetch_add(&s->stats.members, st->members);
	atomic_fetch_add(&s->stats.skip_vanished, st->vanished);
}

/*
 * Part k of object idx of b (offer_split), as a job of its own: a copy of
 * the object and of its directory's descriptor.
 */
static int
submit_part(struct cbp_scan *s, const struct batch *b, unsigned idx,
    unsigned k, unsigned stride)
{
	const struct batch_obj *bo = &b->obj[idx];
	struct batch *p;
	unsigned dir = BATCH_DIR_CWD;
	int fd, r;

	if ((p = batch_new(JOB_FILES, -1)) == NULL)
		return CBP_ENOMEM;
	if (bo->dir != BATCH_DIR_CWD) {
		if ((fd = fcntl(b->fds[bo->dir], F_DUPFD_CLOEXEC, 0)) < 0) {
			batch_free(p);
			return CBP_EIO;
		}
		p->fds[p->nfds++] = fd;
		dir = 0;
	}
	r = batch_add(p, bo->path, bo->path_len, bo->name_len, bo->type,
	    bo->dev, bo->ino, bo->root, bo->follow, bo->direct, dir);
	if (r == CBP_OK) {
		p->obj[0].phase = (uint16_t)k;
		p->obj[0].stride = (uint16_t)stride;
		r = batch_submit(s, p);
	}
	if (r != CBP_OK)
		batch_free(p);
	return r;
}

/*
 * A worker reads object idx of b in stride parts and has taken part 0
 * (offer_split): parts 1 .. stride-1 go out now, straight to the
 * supervisor (not through the walk's queue, whose consumer is this
 * thread), which writes each job to the worker holding the fewest.  The
 * object remembers it is part 0, so that a job resumed after a failure in
 * it stays part 0.  A part that cannot be handed out leaves its members
 * unscanned: one record says which.  The frame is a worker's word, so it
 * is held to what offer_split sends: once per object, for exactly as many
 * parts as there are workers (a hostile worker cannot make the parent
 * multiply jobs), and only for a file of a batch of files.
 */
static int
split_parts(struct cbp_scan *s, struct batch *b, const struct cbp_sv_event *ev)
{
	uint32_t index, stride;
	struct batch_obj *bo;
	unsigned k;

	if (cbp_wire_get_split(ev->data, ev->len, &index, &stride) != CBP_OK ||
	    index >= b->n - b->first || b->kind != JOB_FILES ||
	    stride != s->nworkers || stride < 2 ||
	    b->obj[b->first + index].stride > 1)
		return CBP_ECORRUPT;
	bo = &b->obj[b->first + index];
	bo->phase = 0;
	bo->stride = (uint16_t)stride;
	/* Stopping: the summary says the scan did not finish. */
	for (k = 1; k < stride && !cancelled(s); k++) {
		struct cbp_problem p = { 0 };
		char detail[192];
		int r = submit_part(s, b, b->first + index, k, stride);

		if (r == CBP_OK)
			continue;
		snprintf(detail, sizeof(detail), "%s: the members whose index "
		    "is %u modulo %u could not be handed to a worker and were "
		    "not scanned", r == CBP_ENOMEM ? "out of memory" :
		    "too many open files", k, stride);
		p.path = bo->path;
		p.reason = r == CBP_ENOMEM ? CBP_REASON_NOMEM : CBP_REASON_IO;
		p.detail = detail;
		atomic_fetch_add(&s->stats.unscannable, 1);
		cbp_output_problem(s->out, &p);
	}
	return CBP_OK;
}

/* A record from a worker: checked, completed with the path, written.
 * CBP_ECORRUPT when the worker sent something it could not have meant. */
static int
on_frame(struct cbp_scan *s, struct batch *b, const struct cbp_sv_event *ev)
{
	struct cbp_wire_record rec;
	struct cbp_wire_stats st;
	const char *path;
	unsigned idx;

	if (ev->type == CBP_WIRE_STATS) {
		if (cbp_wire_get_stats(ev->data, ev->len, &st) != CBP_OK)
			return CBP_ECORRUPT;
		add_stats(s, &st);
		return CBP_OK;
	}
	if (ev->type == CBP_WIRE_SPLIT)
		return split_parts(s, b, ev);
	if (cbp_wire_get_record((int)ev->type, ev->data, ev->len, s->scratch,
	    CBP_SV_FRAME_MAX + CBP_WIRE_MEMBERS_MAX + 8, &rec) != CBP_OK)
		return CBP_ECORRUPT;
	idx = b->first + rec.index;
	if (rec.index >= b->n - b->first)
		return CBP_ECORRUPT;
	path = b->obj[idx].path;
	if (rec.type == CBP_WIRE_FINDING) {
		rec.finding.path = path;
		atomic_fetch_add(&s->stats.findings, 1);
		if (cbp_finding_is_violation(&rec.finding))
			atomic_fetch_add(&s->stats.violations, 1);
		cbp_output_finding(s->out, &rec.finding);
		return CBP_OK;
	}
	rec.problem.path = path;
	atomic_fetch_add(&s->stats.unscannable, 1);
	cbp_output_problem(s->out, &rec.problem);
	if (rec.root && b->obj[idx].root)
		root_failed(s, path, rec.problem.reason, rec.problem.detail);
	return CBP_OK;
}

static int
on_mark(struct cbp_scan *s, struct batch *b, const struct cbp_sv_event *ev)
{
	struct cbp_wire_mark m;
	char name[CBP_WIRE_MARK_NAME_MAX + 1];

	if (cbp_wire_get_mark(ev->data, ev->len, name, sizeof(name), &m) !=
	    CBP_OK || m.index >= b->n - b->first)
		return CBP_ECORRUPT;
	b->cur = (int)(b->first + m.index);
	b->cur_member = m.member;
	snprintf(b->cur_name, sizeof(b->cur_name), "%s", m.name);
	b->mark_st = m.stats;
	return CBP_OK;
}

/*
 * The job died (timeout, memory cap, crash, bad frame): one record for the
 * object in flight, then the rest of the batch again.  An archive that
 * failed in a member is resumed after that member, once.
 */
static void
on_failure(struct cbp_scan *s, struct batch *b, const struct cbp_sv_event *ev)
{
	struct cbp_problem p = { 0 };
	const char *chain[1];
	enum cbp_reason reason;
	char detail[512];
	const char *what;
	unsigned cur = b->cur >= 0 ? (unsigned)b->cur : b->first;
	int resume = 0, again = b->resumed == cur + 1;

	switch (ev->outcome) {
	case CBP_SV_TIMEOUT:
		reason = CBP_REASON_TIMEOUT;
		what = "the parser did not finish within its time budget";
		break;
	case CBP_SV_LIMIT:
		reason = CBP_REASON_LIMIT;
		what = "the parser ran into the worker's memory cap";
		break;
	case CBP_SV_PROTOCOL:
		reason = CBP_REASON_CORRUPT;
		what = "the parser's worker sent a malformed record";
		break;
	default:
		reason = CBP_REASON_CORRUPT;
		what = "the parser crashed";
		break;
	}
	/* What the job counted before it died. */
	add_stats(s, &b->mark_st);
	if (b->cur_member == 0 && b->resume == 0 && b->obj[cur].phase == 0)
		atomic_fetch_add(&s->stats.files, 1);
	/*
	 * A phase > 0 of a split file that failed before any member of its
	 * own: the file's record is phase 0's, which reads the same bytes
	 * the same way up to there and fails the same.
	 */
	if (b->obj[cur].phase > 0 && b->cur_member == 0 && !again) {
		b->resume = 0;
		b->first = cur + 1;
		return;
	}
	if (b->cur_member > 0 && !again) {
		resume = 1;
		snprintf(detail, sizeof(detail), "%s (%s): this member not "
		    "scanned; the archive goes on after it", what, ev->detail);
		chain[0] = b->cur_name;
		p.member = chain;
		p.nmember = 1;
	} else if (again) {
		snprintf(detail, sizeof(detail), "%s (%s) a second time in this "
		    "archive: the rest of it not scanned", what, ev->detail);
	} else {
		snprintf(detail, sizeof(detail), "%s (%s): not scanned", what,
		    ev->detail);
	}
	p.path = b->obj[cur].path;
	p.reason = reason;
	p.detail = detail;
	atomic_fetch_add(&s->stats.unscannable, 1);
	cbp_output_problem(s->out, &p);
	if (resume) {
		/* The member's index in the archive (marks carry index + 1):
		 * the replacement passes by every entry up to it. */
		b->resume = b->cur_member;
		b->resumed = cur + 1;
		b->first = cur;
	} else {
		b->resume = 0;
		b->first = cur + 1;
	}
}

static int
queue_empty(struct cbp_scan *s)
{
	int empty;

	pthread_mutex_lock(&s->qlock);
	empty = s->qhead == NULL;
	pthread_mutex_unlock(&s->qlock);
	return empty;
}

static void
drain_queue(struct cbp_scan *s)
{
	struct batch *b;

	while ((b = batch_pop(s)) != NULL)
		batch_free(b);
}

/* Batches in flight per worker (one scanning, the rest written ahead to
 * its channel), and the dispatcher's pause before it blocks. */
#define JOBS_AHEAD 8
#define COALESCE_US 0

/* How long workers get to send what they have after a stop (a partial
 * hash's finding); then they are killed, whatever they are doing. */
#define STOP_GRACE_MS 400

/*
 * Stopped (SIGTERM, SIGINT, a failed write): workers are told, and what
 * they send within STOP_GRACE_MS is still written; a job that does not end
 * in time is killed with the rest by cbp_sv_stop.  No new record is made
 * for what a stop cut short: the summary says the scan did not finish.
 */
static int
finish_stop(struct cbp_scan *s)
{
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	struct timespec t0, t;
	struct batch *b;
	long ms;

	cbp_sv_signal(s->sv, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (s->inflight != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= STOP_GRACE_MS || cbp_sv_poll(s->sv,
		    (int)(STOP_GRACE_MS - ms), &ev, &e) != CBP_OK)
			break;
		if ((b = inflight_find(s, ev.job, ev.kind == CBP_SV_DONE)) ==
		    NULL)
			continue;
		if (ev.kind == CBP_SV_FRAME)
			(void)on_frame(s, b, &ev);
		else if (ev.kind == CBP_SV_DONE)
			batch_free(b);
	}
	return CBP_OK;
}

static int
dispatch(struct cbp_scan *s)
{
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	struct batch *b;
	size_t cap = (size_t)s->nworkers * JOBS_AHEAD;
	uint64_t junk;
	int r, slept = 0;

	for (;;) {
		if (cancelled(s))
			return finish_stop(s);
		while (inflight_count(s) < cap && (b = batch_pop(s)) != NULL)
			if (batch_submit(s, b) != CBP_OK) {
				unsigned i;

				for (i = b->first; i < b->n; i++)
					parent_problem(s, b->obj[i].path,
					    b->obj[i].root, CBP_ENOMEM, "could "
					    "not be handed to a worker: not "
					    "scanned");
				batch_free(b);
			}
		/* Not cbp_sv_pending: a job can be over in the supervisor
		 * while its records still wait in the event queue. */
		if (atomic_load(&s->walk_done) && s->inflight == NULL &&
		    queue_empty(s))
			return CBP_OK;
		/*
		 * Coalesce: when nothing is waiting, pause COALESCE_US before
		 * blocking, so that the marks and records workers send in the
		 * meantime are read in one go.  Without it the parent woke for
		 * every frame, a mark per object: 12 us per file on a tree of
		 * small files (measured, 20,000 files, one worker).  Workers do
		 * not wait for the parent: each holds jobs written ahead.
		 */
		if ((r = cbp_sv_poll(s->sv, 0, &ev, &e)) != CBP_OK)
			return r;
		if (ev.kind == CBP_SV_NONE && !slept && COALESCE_US > 0) {
			struct timespec ts = { 0, COALESCE_US * 1000L };

			nanosleep(&ts, NULL);
			slept = 1;
			continue;
		}
		if (ev.kind == CBP_SV_NONE) {
			/* Ask the walk to wake us, then look once more (a
			 * batch queued in between is not missed). */
			if (inflight_count(s) < cap) {
				atomic_store(&s->want_wake, 1);
				if (!queue_empty(s))
					continue;
			}
			if ((r = cbp_sv_poll(s->sv, 100, &ev, &e)) != CBP_OK)
				return r;
		}
		slept = ev.kind != CBP_SV_NONE ? 0 : slept;
		switch (ev.kind) {
		case CBP_SV_NONE:
			(void)!read(s->wake_fd, &junk, sizeof(junk));
			break;
		case CBP_SV_FRAME:
			/* A record that does not decode is dropped, never
			 * written half-checked; the supervisor already kills
			 * a worker whose frames are malformed as frames. */
			if ((b = inflight_find(s, ev.job, 0)) != NULL)
				(void)on_frame(s, b, &ev);
			break;
		case CBP_SV_MARK:
			if ((b = inflight_find(s, ev.job, 0)) != NULL)
				(void)on_mark(s, b, &ev);
			break;
		case CBP_SV_DONE:
			if ((b = inflight_find(s, ev.job, 1)) == NULL)
				break;
			if (ev.worker < s->nworkers)
				s->per_worker[ev.worker] += b->n - b->first;
			if (ev.outcome == CBP_SV_OK) {
				batch_free(b);
				break;
			}
			/* Where the job was: its last progress (untrusted). */
			if (ev.len > 0)
				(void)on_mark(s, b, &ev);
			on_failure(s, b, &ev);
			if (b->first < b->n && batch_submit(s, b) == CBP_OK)
				break;
			batch_free(b);
			break;
		}
	}
}

/* ---- setup ------------------------------------------------------------------- */

/*
 * The supervisor and its zygote, forked here: cbp_scan_new is called before
 * the caller starts threads (progress, the reader watcher) or loads
 * secrets, so every worker, the replacements too, is a copy of this
 * moment's process (cbp_supervise.h).
 */
static int
start_workers(struct cbp_scan *s, struct cbp_error *err)
{
	struct cbp_sv_opts so = { 0 };
	int fd;

	s->walk.cancel = &s->own_cancel;
	s->opts.caps.cancel = &s->own_cancel;	/* the workers' copy */
	if ((fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return cbp_error_set(err, CBP_EIO, errno, "eventfd: %s",
		    strerror(errno));
	if (fd == 0) {
		/* Never standard input's number (cbp_supervise.h). */
		s->wake_fd = fcntl(fd, F_DUPFD_CLOEXEC, 1);
		close(fd);
		if (s->wake_fd < 0)
			return cbp_error_set(err, CBP_EIO, errno, "fcntl: %s",
			    strerror(errno));
	} else {
		s->wake_fd = fd;
	}
	so.nworkers = s->nworkers;
	so.depth = JOBS_AHEAD;
	so.major_timeout_ms = s->opts.object_timeout_ms;
	so.step_timeout_ms = s->opts.member_timeout_ms;
	so.mem_cap = s->opts.worker_memory;
	so.init = worker_init;
	so.job = worker_job;
	so.arg = s;
	so.wake_fd = s->wake_fd;
	return cbp_sv_new(&so, &s->sv, err);
}

int
cbp_scan_new(const struct cbp_scan_opts *opts, const struct cbp_ruleset *rules,
    struct cbp_output *out, struct cbp_scan **scanp, struct cbp_error *err)
{
	struct cbp_scan *s;
	struct cbp_worker *w;

	*scanp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
	s->opts = *opts;
	s->rules = rules;
	s->out = out;
	s->wake_fd = -1;
	s->nworkers = opts->nthreads > 0 ? opts->nthreads : 1;
	if (s->nworkers > CBP_SV_WORKERS_MAX)
		s->nworkers = CBP_SV_WORKERS_MAX;
	s->now = (int64_t)time(NULL);
	w = &s->worker;
	w->scan = s;
	if ((w->id = cbp_identify_new(opts->magic_db, NULL, err)) == NULL)
		goto fail;
	if ((w->matcher = cbp_matcher_new(rules)) == NULL)
		goto nomem;
	if ((w->head_buf = malloc(CBP_HEAD_BYTES)) == NULL ||
	    (w->frame = malloc(CBP_SV_FRAME_MAX)) == NULL ||
	    (s->scratch = malloc(CBP_SV_FRAME_MAX + CBP_WIRE_MEMBERS_MAX +
	    8)) == NULL ||
	    (s->cur = calloc(s->nworkers, sizeof(*s->cur))) == NULL ||
	    (s->per_worker = calloc(s->nworkers, sizeof(uint64_t))) == NULL)
		goto nomem;
	/* Converters for member names, the time zone: loaded before the
	 * workers are confined (a missing one only leaves names raw). */
	(void)cbp_confine_preload(NULL);
	/*
	 * The walk's threads only list directories now; one per four
	 * workers keeps them fed (measured on the bench tree with two
	 * workers: two walk threads competing for the cores cost 10%).
	 */
	s->walk.nthreads = s->nworkers >= 8 ? s->nworkers / 4 : 1;
	s->walk.one_file_system = opts->one_file_system;
	s->walk.excludes = opts->excludes;
	s->walk.nexcludes = opts->nexcludes;
	if (start_workers(s, err) != CBP_OK)
		goto fail;
	*scanp = s;
	return CBP_OK;
nomem:
	cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
fail:
	cbp_scan_free(s);
	return err != NULL && err->code ? err->code : CBP_ENOMEM;
}

int
cbp_scan_run(struct cbp_scan *s, volatile int *cancel)
{
	pthread_t tid;
	int r;

	if (s->sv == NULL)
		return CBP_EINVAL;	/* run once per cbp_scan_new */
	/*
	 * The workers (from a zygote forked in cbp_scan_new) watch their
	 * own copy of own_cancel, which SIGTERM from the supervisor sets;
	 * the parent's walk and dispatcher watch the caller's flag.
	 */
	s->walk.cancel = cancel != NULL ? cancel : &s->own_cancel;
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qroom, NULL);
	s->qcap = 4 * s->nworkers + 4;
	if (pthread_create(&tid, NULL, walk_thread, s) != 0) {
		cbp_sv_free(s->sv);
		s->sv = NULL;
		return CBP_ENOMEM;
	}
	r = dispatch(s);
	if (r != CBP_OK)
		*s->walk.cancel = 1;	/* workers cannot be kept alive */
	/* Stopped or done: workers go first (a second at most), then the
	 * walk, which sees the cancel flag or has already finished. */
	cbp_sv_get_stats(s->sv, &s->sv_stats);
	cbp_sv_confinement(s->sv, &s->confinement);
	cbp_sv_stop(s->sv);
	pthread_mutex_lock(&s->qlock);
	pthread_cond_broadcast(&s->qroom);
	pthread_mutex_unlock(&s->qlock);
	while (!atomic_load(&s->walk_done)) {
		drain_queue(s);
		pthread_mutex_lock(&s->qlock);
		pthread_cond_broadcast(&s->qroom);
		pthread_mutex_unlock(&s->qlock);
		usleep(1000);
	}
	pthread_join(tid, NULL);
	drain_queue(s);
	while (s->inflight != NULL) {
		struct batch *b = s->inflight;

		s->inflight = b->next;
		batch_free(b);
	}
	cbp_sv_free(s->sv);
	s->sv = NULL;
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qroom);
	return r == CBP_OK ? CBP_OK : CBP_EIO;
}

const struct cbp_scan_stats *
cbp_scan_stats(const struct cbp_scan *s)
{
	return &s->stats;
}

void
cbp_scan_confinement(const struct cbp_scan *s, struct cbp_confine_info *info,
    struct cbp_sv_stats *st)
{
	if (info != NULL)
		*info = s->confinement;
	if (st != NULL)
		*st = s->sv_stats;
}

unsigned
cbp_scan_per_worker(const struct cbp_scan *s, const uint64_t **objects)
{
	*objects = s->per_worker;
	return s->nworkers;
}

void
cbp_scan_free(struct cbp_scan *s)
{
	if (s == NULL)
		return;
	cbp_sv_free(s->sv);	/* not run: its workers and zygote go */
	cbp_identify_free(s->worker.id);
	cbp_matcher_free(s->worker.matcher);
	free(s->worker.head_buf);
	free(s->worker.frame);
	cbp_dynbuf_free(&s->worker.window_buf);
	free(s->scratch);
	free(s->cur);
	free(s->per_worker);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s);
}
