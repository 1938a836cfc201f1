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

#include "cbp_limits.h"
#include "cbp_match.h"
#include "cbp_scan.h"

struct cbp_worker {
	struct cbp_scan *scan;
	struct cbp_identify *id;
	struct cbp_matcher *matcher;
	unsigned char *head_buf;	/* CBP_HEAD_BYTES, reused for every disk file */
	struct cbp_dynbuf window_buf;	/* carving windows, reused for every file */
};

struct cbp_scan {
	struct cbp_scan_opts opts;
	const struct cbp_ruleset *rules;
	struct cbp_output *out;
	struct cbp_worker *workers;
	unsigned nworkers;
	struct cbp_walk_opts walk;
	struct cbp_scan_stats stats;
	int64_t now;
	atomic_ulong allocs;		/* counted only when opts.fail_alloc is set */
};

/* Everything about the object being scanned that the callbacks need. */
struct obj_ctx {
	struct cbp_worker *w;
	struct cbp_object *o;
	struct cbp_facts *f;
	struct cbp_expand_budget *budget;	/* of the enclosing top-level archive */
	int sha_state;				/* 0 not yet, 1 done, -1 failed */
	char sha[65];
	struct cbp_hash_extent sha_ext;		/* bytes hashed, partial or not */
	int markup;				/* XML/JSON-like text: base64 searched */
};

static void scan_object(struct cbp_worker *w, struct cbp_object *o,
    struct cbp_expand_budget *budget);

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

/* ---- records out ------------------------------------------------------- */

/* Member chains this long are built on the stack: reporting a problem must
 * not itself depend on memory being left. */
#define CHAIN_ON_STACK 16

static void
emit_problem(struct cbp_scan *s, const struct cbp_object *o,
    const char *extra_member, enum cbp_reason reason, const char *detail)
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
	/* Never a violation, even with --strict (docs/contract.md): strict
	 * raises the exit status from the summary's "unscannable". */
	atomic_fetch_add(&s->stats.unscannable, 1);
	cbp_output_problem(s->out, &p);
	if (chain != stack)
		free(chain);
}

static const char *
hex_digest(const unsigned char d[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = '\0';
	return out;
}

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

static int
on_hit(void *arg, const struct cbp_rule_hit *hit)
{
	struct obj_ctx *c = arg;
	struct cbp_scan *s = c->w->scan;
	struct cbp_finding fd = { 0 };
	unsigned char digest[32];
	struct cbp_error e = { 0 };

	/*
	 * Hashed once per object, however many rules hit, and no further than
	 * hash_max: a huge file is hashed in part and the finding says so.
	 */
	if (c->sha_state == 0) {
		uint64_t max = s->opts.caps.hash_max ? s->opts.caps.hash_max :
		    CBP_HASH_MAX;

		if (cbp_read_sha256(c->o, max, s->walk.cancel, digest,
		    &c->sha_ext, &e) == CBP_OK) {
			hex_digest(digest, c->sha);
			c->sha_state = 1;
		} else {
			c->sha_state = -1;
			c->sha[0] = '\0';
			memset(&c->sha_ext, 0, sizeof(c->sha_ext));
			if (e.code == CBP_ENOMEM)
				c->f->nomem = 1;
			cbp_error_set(&c->f->problem, e.code, e.sys_errno,
			    "%s", e.message);
		}
	}
	fd.rule = hit->id;
	fd.title = hit->title;
	fd.category = hit->category;
	fd.severity = hit->severity;
	fd.path = c->o->path;
	fd.member = c->o->member;
	fd.nmember = c->o->nmember;
	fd.size = c->o->size;
	fd.mtime = c->o->mtime;
	memcpy(fd.sha256, c->sha, sizeof(fd.sha256));
	fd.sha256_partial = c->sha_ext.partial;
	fd.sha256_bytes = c->sha_ext.bytes;
	fd.mime = c->f->mime;
	fd.evidence = hit->evidence;
	fd.disposition = disposition_of(s, c->o, fd.severity);
	if (fd.disposition == CBP_DISP_AUTHORIZED)
		fd.severity = CBP_SEV_INFO;
	atomic_fetch_add(&s->stats.findings, 1);
	if (cbp_finding_is_violation(&fd))
		atomic_fetch_add(&s->stats.violations, 1);
	cbp_output_finding(s->out, &fd);
	return 0;
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
	atomic_fetch_add(&c->w->scan->stats.members, 1);
	scan_object(c->w, m, c->budget);
	return 0;
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

static void
scan_children(struct obj_ctx *c)
{
	static const struct cbp_expand_ops ops = { on_member, on_expand_problem };
	struct cbp_scan *s = c->w->scan;
	struct cbp_facts *f = c->f;
	struct cbp_expand_budget top = { 0 };
	size_t i;
	int r;

	if (f->ident.kind == CBP_KIND_ARCHIVE ||
	    f->ident.kind == CBP_KIND_COMPRESSED) {
		if (c->budget == NULL) {
			top.top_size = c->o->size;
			c->budget = &top;
		}
		atomic_fetch_add(&s->stats.archives, 1);
		/* expand.c reports every cause but its own lack of memory. */
		r = cbp_expand_object(c->o, &f->ident, &s->opts.expand,
		    c->budget, &ops, c);
		if (r == CBP_ENOMEM)
			emit_problem(s, c->o, NULL, CBP_REASON_NOMEM, "out of "
			    "memory expanding the archive: the rest of its "
			    "members not scanned");
		if (c->budget == &top)
			c->budget = NULL;
	}
	if (f->rec_state == CBP_FACT_DONE && c->o->data != NULL)
		scan_record_payloads(c, &f->rec, c->o->data, c->o->data_len, 0);
	if (f->carve_state == CBP_FACT_DONE && f->carved.n > 0 &&
	    c->o->data == NULL) {
		/* Carving mapped the file; its pictures need the bytes. */
		const unsigned char *p;
		size_t n;
		(void)cbp_facts_content(f, 0, &p, &n, NULL);
	}
	if (f->carve_state == CBP_FACT_DONE && c->o->data != NULL)
		for (i = 0; i < f->carved.n; i++)
			scan_record_payloads(c, &f->carved.v[i], c->o->data,
			    c->o->data_len, 1);
	scan_base64_records(c);
	if (f->meta_state == CBP_FACT_DONE && f->meta.thumb_len > 0 &&
	    c->o->data != NULL && f->meta.thumb_offset <= c->o->data_len &&
	    f->meta.thumb_len <= c->o->data_len - f->meta.thumb_offset)
		scan_child(c, c->o->data + f->meta.thumb_offset,
		    f->meta.thumb_len, "exif:thumbnail.jpg");
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
		emit_problem(s, o, NULL, cbp_reason_from_err(r), e.message);
		return;
	}
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
	r = cbp_match_object(w->matcher, &facts, on_hit, &c);
	if (r == CBP_ENOMEM) {
		facts.nomem = 1;
		cbp_error_set(&facts.problem, CBP_ENOMEM, 0,
		    "out of memory while matching rules");
	}
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
	cbp_facts_free(&facts);
	free(dpath);
}

/* ---- walk callbacks -------------------------------------------------------- */

/* A root that could not be scanned at all: exit 2, complete:false. */
static void
root_failed(struct cbp_scan *s, const char *path, enum cbp_reason reason,
    const char *detail)
{
	atomic_fetch_add(&s->stats.roots_failed, 1);
	if (s->opts.root_failed != NULL)
		s->opts.root_failed(s->opts.root_failed_arg, path, reason, detail);
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

static void
on_file(void *arg, unsigned worker, const struct cbp_walk_file *wf)
{
	struct cbp_scan *s = arg;
	struct cbp_worker *w = &s->workers[worker];
	/* A root named as a symlink to a regular file is followed (find -H). */
	struct cbp_open_want want = {
		.type = wf->type, .dev = wf->dev, .ino = wf->ino,
		.root = wf->root, .follow = wf->root, .direct = wf->safe_dir,
	};
	struct cbp_object o;
	struct cbp_error e = { 0 };
	struct stat st;
	int fd, r;

	cbp_object_init(&o);
	o.path = wf->path;
	o.name = base_name(wf->path);
	r = cbp_read_open(wf->dirfd, wf->name, &want, &fd, &st, &e);
	if (r == CBP_ENOTFOUND && !wf->root) {
		/* Deleted since it was listed: normal on a live host. */
		atomic_fetch_add(&s->stats.skip_vanished, 1);
		return;
	}
	atomic_fetch_add(&s->stats.files, 1);
	if (r != CBP_OK) {
		emit_problem(s, &o, NULL, cbp_reason_from_err(r), e.message);
		if (wf->root)
			root_failed(s, wf->path, cbp_reason_from_err(r), e.message);
		return;
	}
	o.fd = fd;
	o.size = (uint64_t)st.st_size;
	o.mtime = (int64_t)st.st_mtime;
	o.head_store = w->head_buf;	/* borrowed: taken back before release */
	atomic_fetch_add(&s->stats.bytes, o.size);
	scan_object(w, &o, NULL);
	o.head_store = NULL;
	cbp_object_release(&o);
	close(fd);
}

/*
 * A root that is a FIFO, a device or "-": read once into a memfd, up to
 * member_max (a stream cannot be read twice, and later stages do), then
 * scanned like a file.  A longer stream is scanned that far: a limit record.
 */
static void
on_stream(void *arg, unsigned worker, const struct cbp_walk_file *wf)
{
	struct cbp_scan *s = arg;
	struct cbp_worker *w = &s->workers[worker];
	/*
	 * A symlink to a device is followed only where nobody else could
	 * have put it (the walk checked the directory holding the name).
	 */
	struct cbp_open_want want = {
		.type = wf->type, .dev = wf->dev, .ino = wf->ino,
		.root = 1, .follow = wf->safe_dir,
	};
	struct cbp_object o;
	struct cbp_error e = { 0 };
	struct stat st;
	uint64_t len = 0;
	int fd = wf->fd, mfd = -1, more = 0, r = CBP_OK;
	char detail[192];

	cbp_object_init(&o);
	o.path = wf->path;
	o.name = base_name(wf->path);
	atomic_fetch_add(&s->stats.files, 1);
	if (fd < 0)
		r = cbp_read_open(wf->dirfd, wf->name, &want, &fd, &st, &e);
	else if (fstat(fd, &st) != 0)
		r = cbp_error_set(&e, CBP_EIO, errno, "cannot stat: %s",
		    strerror(errno));
	if (r == CBP_OK) {
		/* A FIFO's or a pipe's last write: when the data was made. */
		o.mtime = (int64_t)st.st_mtime;
		r = cbp_read_stream(fd, s->opts.expand.member_max, s->walk.cancel,
		    &mfd, &len, &more, &e);
		if (fd != wf->fd)
			close(fd);
	}
	if (r != CBP_OK) {
		emit_problem(s, &o, NULL, cbp_reason_from_err(r), e.message);
		/* Interrupted: the run already says it did not finish. */
		if (e.sys_errno != EINTR)
			root_failed(s, wf->path, cbp_reason_from_err(r), e.message);
		return;
	}
	o.fd = mfd;
	o.size = len;
	o.head_store = w->head_buf;
	atomic_fetch_add(&s->stats.bytes, o.size);
	scan_object(w, &o, NULL);
	o.head_store = NULL;
	if (more) {
		snprintf(detail, sizeof(detail), "a stream longer than member_max "
		    "(%zu bytes): only its first %llu bytes were scanned",
		    s->opts.expand.member_max, (unsigned long long)len);
		emit_problem(s, &o, NULL, CBP_REASON_LIMIT, detail);
	}
	cbp_object_release(&o);
	close(mfd);
}

static void
on_walk_error(void *arg, unsigned worker, const char *path, int code,
    const char *detail, int root)
{
	struct cbp_scan *s = arg;
	struct cbp_object o;

	cbp_object_init(&o);
	o.path = path;
	emit_problem(s, &o, NULL, cbp_reason_from_err(code), detail);
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

/* ---- setup ------------------------------------------------------------------- */

int
cbp_scan_new(const struct cbp_scan_opts *opts, const struct cbp_ruleset *rules,
    struct cbp_output *out, struct cbp_scan **scanp, struct cbp_error *err)
{
	struct cbp_scan *s;
	unsigned i;

	*scanp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
	s->opts = *opts;
	s->rules = rules;
	s->out = out;
	s->nworkers = opts->nthreads > 0 ? opts->nthreads : 1;
	s->now = (int64_t)time(NULL);
	if ((s->workers = calloc(s->nworkers, sizeof(*s->workers))) == NULL)
		goto nomem;
	for (i = 0; i < s->nworkers; i++) {
		struct cbp_worker *w = &s->workers[i];
		w->scan = s;
		if ((w->id = cbp_identify_new(opts->magic_db, NULL, err)) == NULL)
			goto fail;
		if ((w->matcher = cbp_matcher_new(rules)) == NULL)
			goto nomem;
		if ((w->head_buf = malloc(CBP_HEAD_BYTES)) == NULL)
			goto nomem;
	}
	s->walk.nthreads = s->nworkers;
	s->walk.one_file_system = opts->one_file_system;
	s->walk.excludes = opts->excludes;
	s->walk.nexcludes = opts->nexcludes;
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
	static const struct cbp_walk_ops ops = {
		on_file, on_walk_error, on_skip, on_stream
	};

	s->walk.cancel = cancel;
	return cbp_walk_run(s->opts.roots, s->opts.nroots, &s->walk, &ops, s);
}

const struct cbp_scan_stats *
cbp_scan_stats(const struct cbp_scan *s)
{
	return &s->stats;
}

void
cbp_scan_free(struct cbp_scan *s)
{
	unsigned i;

	if (s == NULL)
		return;
	for (i = 0; s->workers != NULL && i < s->nworkers; i++) {
		cbp_identify_free(s->workers[i].id);
		cbp_matcher_free(s->workers[i].matcher);
		free(s->workers[i].head_buf);
		cbp_dynbuf_free(&s->workers[i].window_buf);
	}
	free(s->workers);
	free(s);
}
