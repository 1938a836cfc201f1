/*
 * yaml.c — the one hardened YAML layer (see cbp_yaml.h) and the grammar
 * of scalars shared by the configuration, the rules and the command line.
 *
 * Design.  A file goes through four steps.  It is read whole, with a size
 * cap, from a descriptor opened without following symlinks and checked to
 * be a regular file (a FIFO would block, a device could be endless).  Its
 * bytes are checked to be UTF-8 without control characters: libfyaml
 * 0.7.12 loops for ever in fy_scan_directive() on a '%' directive line
 * holding an invalid byte (the configuration used to hang on
 * tests/fuzz/seeds/fuzz_rules/libfyaml-directive-bad-utf8-hang.yaml) and
 * crashes on other malformed sequences, so libfyaml never sees such
 * bytes.  libfyaml's event parser then reads the text twice: once only to
 * check the syntax (errors are collected by a libfyaml diag object, never
 * printed, and handed to the caller with their position) and the caps on
 * depth and node count, then to build a small private tree (struct
 * cbp_ynode) that keeps, for every node, its 1-based line and column: the
 * document API does not expose the position of mappings and sequences.
 * The document API is not used at all: it resolves aliases, which is how
 * a few hundred bytes of "billion laughs" become gigabytes; here an alias
 * is an error and nothing is ever expanded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbp_buf.h"
#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_text.h"
#include "cbp_yaml.h"

/* ---- diagnostics --------------------------------------------------------- */

struct yctx {
	const struct cbp_yaml_src *src;
	struct fy_parser *fyp;
	unsigned errors;
	size_t nodes;
	int oom;
};

static void report(struct yctx *Y, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(struct yctx *Y, int line, int col, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	Y->errors++;
	if (Y->src->diag == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	Y->src->diag(Y->src->arg, Y->src->file, line > 0 ? line : 0,
	    col > 0 ? col : 0, msg);
}

static const char *
kind(const struct cbp_yaml_src *src)
{
	return src->kind != NULL ? src->kind : "YAML file";
}

const char *
cbp_yaml_shown(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t i, o = 0;

	if (bufsz == 0)
		return "";
	for (i = 0; i < len && o + 4 < bufsz; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < len && o + 3 < bufsz) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- reading a file -------------------------------------------------------- */

static int
io_error(const struct cbp_yaml_src *src, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
io_error(const struct cbp_yaml_src *src, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (src->diag != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		src->diag(src->arg, src->file, 0, 0, msg);
	}
	return code;
}

int
cbp_yaml_read_file(const struct cbp_yaml_src *src, char **text, size_t *len,
    struct stat *stp)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, e, r = CBP_EIO;

	*text = NULL;
	*len = 0;
	/*
	 * O_NOFOLLOW: the file read is the file named, not whatever a link
	 * points to at the moment.  O_NONBLOCK: opening a FIFO planted under
	 * the name must not block (it is then refused as not regular).
	 */
	if ((fd = open(src->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) < 0) {
		e = errno;
		if (e == ELOOP)
			return io_error(src, CBP_EPERM, "refusing a symbolic "
			    "link as the %s (name the file it points to)",
			    kind(src));
		return io_error(src, e == EACCES || e == EPERM ? CBP_EPERM :
		    CBP_EIO, "cannot read the %s: %s", kind(src), strerror(e));
	}
	if (fstat(fd, &st) != 0) {
		r = io_error(src, CBP_EIO, "cannot read the %s: %s", kind(src),
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = io_error(src, CBP_EIO, "the %s is not a regular file "
		    "(name a regular file)", kind(src));
		goto out;
	}
	/*
	 * Ownership is not checked here: main.c runs cbp_trust (trust.c) on
	 * every config and rule file before loading it, on the opened
	 * descriptor and every directory above, and hands us the real path it
	 * checked.  Those directories can then be changed by root alone, so
	 * this second open reaches the same file.  Keeping the check in one
	 * place lets main.c apply the one exception (a build tree owned by
	 * the binary's owner) that only it knows about.
	 */
	if ((uint64_t)st.st_size > CBP_YAML_FILE_MAX) {
		r = io_error(src, CBP_ELIMIT, "the %s is too large (%jd bytes; "
		    "at most %zu MiB): split it", kind(src),
		    (intmax_t)st.st_size, CBP_YAML_FILE_MAX / CBP_MIB);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = io_error(src, CBP_ENOMEM, "out of memory");
		goto out;
	}
	/* Read what is there now, never more than the size seen by fstat. */
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = io_error(src, CBP_EIO, "cannot read the %s: %s",
			    kind(src), strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	if (stp != NULL)
		*stp = st;
	buf = NULL;
	r = CBP_OK;
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- checking the bytes ------------------------------------------------------ */

/*
 * YAML is UTF-8 here, and the libfyaml we build against (0.7.x) loops or
 * crashes on some malformed sequences, so the text is checked before
 * libfyaml sees it.  Control characters other than tab, newline and
 * carriage return are not allowed in a YAML stream either (YAML 1.2,
 * 5.1); a NUL would also cut the text short for libfyaml.  Reports the
 * first bad byte with its line and column (in characters); -1 if any.
 */
static int
check_text(struct yctx *Y, const char *text, size_t len)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0, k;
	int line = 1, col = 1;

	while (i < len) {
		if ((k = cbp_utf8_seq(t + i, len - i, NULL)) == 0) {
			report(Y, line, col, "invalid UTF-8 (byte 0x%02X): a %s "
			    "must be UTF-8 text (convert it, e.g. with iconv)",
			    t[i], kind(Y->src));
			return -1;
		}
		if ((t[i] < 0x20 && t[i] != '\t' && t[i] != '\n' &&
		    t[i] != '\r') || t[i] == 0x7f) {
			report(Y, line, col, "control character 0x%02X: a %s "
			    "must be text (remove it)", t[i], kind(Y->src));
			return -1;
		}
		if (t[i] == '\n') {
			line++;
			col = 1;
		} else
			col++;
		i += k;
	}
	return 0;
}

/* ---- the tree ------------------------------------------------------------------ */

void
cbp_ynode_free(struct cbp_ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		cbp_ynode_free(n->kid[i]);
	free(n->kid);
	free(n->s);
	free(n);
}

const char *
cbp_ynode_type_name(enum cbp_ytype t)
{
	switch (t) {
	case CBP_Y_MAP:
		return "a mapping";
	case CBP_Y_SEQ:
		return "a list";
	case CBP_Y_NULL:
		return "nothing";
	default:
		return "a scalar";
	}
}

static struct cbp_ynode *
y_new(struct yctx *Y, enum cbp_ytype t, const struct fy_mark *m)
{
	struct cbp_ynode *n = calloc(1, sizeof(*n));

	if (n == NULL) {
		Y->oom = 1;
		return NULL;
	}
	n->type = t;
	if (m != NULL && m->line >= 0) {
		n->line = m->line + 1;
		n->col = m->column + 1;
	}
	return n;
}

static int
y_append(struct yctx *Y, struct cbp_ynode *p, struct cbp_ynode *k)
{
	struct cbp_ynode **v;
	size_t na;

	if (p->n == p->alloc) {
		na = p->alloc ? p->alloc * 2 : 8;
		if ((v = realloc(p->kid, na * sizeof(*v))) == NULL) {
			Y->oom = 1;
			return -1;
		}
		p->kid = v;
		p->alloc = na;
	}
	p->kid[p->n++] = k;
	return 0;
}

/*
 * The scalar's text, escapes processed, into a NUL-terminated copy.  Read
 * through a token iterator rather than fy_token_get_text(): libfyaml 0.7.x
 * caches get_text's result in the token and, for some tokens (quoted
 * scalars with escapes in flow keys, or before a syntax error), never frees
 * it.  The iterator keeps no cache.
 */
static int
y_text(struct yctx *Y, struct fy_token *tok, char **out, size_t *len)
{
	const struct fy_iter_chunk *c = NULL;
	struct fy_token_iter *it;
	struct cbp_dynbuf b;
	int err = 0, r = 0;

	*out = NULL;
	*len = 0;
	cbp_dynbuf_init(&b, 2 * CBP_YAML_FILE_MAX);
	if (tok != NULL) {
		if ((it = fy_token_iter_create(tok)) == NULL) {
			Y->oom = 1;
			return -1;
		}
		while (r == 0 && (c = fy_token_iter_chunk_next(it, c, &err)) != NULL)
			r = cbp_dynbuf_add(&b, c->str, c->len);
		fy_token_iter_destroy(it);
		if (r != 0 || err != 0) {
			cbp_dynbuf_free(&b);
			Y->oom = 1;
			return -1;
		}
	}
	if (b.data == NULL && cbp_dynbuf_add(&b, "", 0) != 0) {
		Y->oom = 1;
		return -1;
	}
	*out = (char *)cbp_dynbuf_take(&b, len);
	return 0;
}

static struct cbp_ynode *
y_scalar(struct yctx *Y, struct fy_event *ev)
{
	struct fy_token *tok = ev->scalar.value;
	const struct fy_mark *sm, *em;
	struct cbp_ynode *n;

	sm = tok != NULL ? fy_token_start_mark(tok) : NULL;
	if ((n = y_new(Y, CBP_Y_SCALAR, sm)) == NULL)
		return NULL;
	if (y_text(Y, tok, &n->s, &n->len) != 0) {
		free(n);
		return NULL;
	}
	if (tok == NULL || (fy_token_scalar_style(tok) == FYSS_PLAIN &&
	    (n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
	    strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0)))
		n->type = CBP_Y_NULL;
	if (tok != NULL && (em = fy_token_end_mark(tok)) != NULL &&
	    em->line >= 0) {
		n->eline = em->line + 1;
		n->ecol = em->column + 1;
	}
	return n;
}

/* Values without a position (empty scalars) take their key's. */
static void
y_fix_positions(struct cbp_ynode *n)
{
	size_t i;

	for (i = 0; i < n->n; i++) {
		struct cbp_ynode *k = n->kid[i];
		const struct cbp_ynode *from = n;

		if (n->type == CBP_Y_MAP && i % 2 == 1)
			from = n->kid[i - 1];
		if (k->line == 0) {
			k->line = from->line;
			k->col = from->col;
		}
	}
}

/*
 * Build the node that starts with ev (consumed); -1 on a stream error.
 * Depth and node count were checked by pass 1; the depth test here only
 * keeps the recursion bounded whatever pass 1 did.
 */
static int
y_build(struct yctx *Y, struct fy_event *ev, int depth, struct cbp_ynode **out)
{
	enum fy_event_type t = ev->type, end;
	struct cbp_ynode *n = NULL, *k;
	struct fy_event *e;

	*out = NULL;
	if (t == FYET_SCALAR) {
		n = y_scalar(Y, ev);
		fy_parser_event_free(Y->fyp, ev);
		*out = n;
		return n != NULL ? 0 : -1;
	}
	if (t == FYET_ALIAS) {
		n = y_new(Y, CBP_Y_BAD, fy_event_start_mark(ev));
		fy_parser_event_free(Y->fyp, ev);
		if (n == NULL)
			return -1;
		/* libfyaml marks the alias name; point at its '*'. */
		if (n->col > 1)
			n->col--;
		report(Y, n->line, n->col, "YAML aliases are not supported "
		    "(write the value out)");
		*out = n;
		return 0;
	}
	if (t != FYET_MAPPING_START && t != FYET_SEQUENCE_START) {
		fy_parser_event_free(Y->fyp, ev);
		return -1;
	}
	n = y_new(Y, t == FYET_MAPPING_START ? CBP_Y_MAP : CBP_Y_SEQ,
	    fy_event_start_mark(ev));
	fy_parser_event_free(Y->fyp, ev);
	if (n == NULL)
		return -1;
	if (depth >= CBP_YAML_DEPTH) {
		report(Y, n->line, n->col, "YAML nested deeper than %d levels",
		    CBP_YAML_DEPTH);
		goto fail;
	}
	end = t == FYET_MAPPING_START ? FYET_MAPPING_END : FYET_SEQUENCE_END;
	for (;;) {
		if ((e = fy_parser_parse(Y->fyp)) == NULL)
			goto fail;
		if (e->type == end) {
			fy_parser_event_free(Y->fyp, e);
			break;
		}
		if (y_build(Y, e, depth + 1, &k) != 0)
			goto fail;
		if (y_append(Y, n, k) != 0) {
			cbp_ynode_free(k);
			goto fail;
		}
	}
	y_fix_positions(n);
	*out = n;
	return 0;
fail:
	cbp_ynode_free(n);
	return -1;
}

/* Expect the next event to be of type t; consumes it. */
static int
y_expect(struct yctx *Y, enum fy_event_type t, struct fy_event **keep)
{
	struct fy_event *e = fy_parser_parse(Y->fyp);

	if (e == NULL)
		return -1;
	if (e->type != t) {
		if (keep != NULL) {
			*keep = e;
			return 1;
		}
		fy_parser_event_free(Y->fyp, e);
		return 1;
	}
	fy_parser_event_free(Y->fyp, e);
	return 0;
}

/* Hand libfyaml's collected errors to the callback. */
static void
y_report_diag(struct yctx *Y, struct fy_diag *d)
{
	struct fy_diag_error *de;
	void *it = NULL;
	unsigned before = Y->errors;

	while ((de = fy_diag_errors_iterate(d, &it)) != NULL) {
		if (de->type < FYET_ERROR)
			continue;
		report(Y, de->line, de->column, "YAML syntax error: %s",
		    de->msg != NULL ? de->msg : "unknown");
	}
	if (Y->errors == before)
		report(Y, 0, 0, "YAML syntax error");
}

/* A parser over text whose errors are collected in *d, never printed. */
static int
y_open(struct yctx *Y, const char *text, size_t len, struct fy_diag **d)
{
	struct fy_diag_cfg dc;
	struct fy_parse_cfg pc;

	fy_diag_cfg_default(&dc);
	dc.fp = NULL;
	dc.output_fn = NULL;
	dc.colorize = false;
	if ((*d = fy_diag_create(&dc)) == NULL) {
		Y->oom = 1;
		return -1;
	}
	fy_diag_set_collect_errors(*d, true);
	memset(&pc, 0, sizeof(pc));
	pc.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
	pc.diag = *d;
	if ((Y->fyp = fy_parser_create(&pc)) == NULL ||
	    fy_parser_set_string(Y->fyp, text, len) != 0) {
		Y->oom = 1;
		return -1;
	}
	return 0;
}

static void
y_close(struct yctx *Y, struct fy_diag *d)
{
	if (Y->fyp != NULL)
		fy_parser_destroy(Y->fyp);
	Y->fyp = NULL;
	if (d != NULL)
		fy_diag_destroy(d);
}

/*
 * Pass 1 bookkeeping: one frame per open mapping or sequence; a mapping
 * frame knows whether its next node is a key.
 */
struct y_frame {
	unsigned char map, want_key;
};

/*
 * Track event e; -1 (reported) on a non-scalar key, too much nesting or
 * too many nodes.
 */
static int
y_track(struct yctx *Y, struct y_frame *st, int *depth, struct fy_event *e)
{
	const struct fy_mark *m = fy_event_start_mark(e);
	struct y_frame *top = *depth > 0 ? &st[*depth - 1] : NULL;
	int open = e->type == FYET_MAPPING_START ||
	    e->type == FYET_SEQUENCE_START;
	int line = m != NULL ? m->line + 1 : 0, col = m != NULL ? m->column + 1 : 0;

	if (e->type == FYET_MAPPING_END || e->type == FYET_SEQUENCE_END) {
		(*depth)--;
		return 0;
	}
	if (!open && e->type != FYET_SCALAR && e->type != FYET_ALIAS)
		return 0;
	if (++Y->nodes > CBP_YAML_NODES) {
		report(Y, line, col, "more than %d YAML nodes in one %s "
		    "(split it)", CBP_YAML_NODES, kind(Y->src));
		return -1;
	}
	if (top != NULL && top->map && top->want_key && open) {
		report(Y, line, col, "mapping keys must be strings");
		return -1;
	}
	if (top != NULL && top->map)
		top->want_key = !top->want_key;
	if (!open)
		return 0;
	if (*depth >= CBP_YAML_DEPTH) {
		report(Y, line, col, "YAML nested deeper than %d levels",
		    CBP_YAML_DEPTH);
		return -1;
	}
	st[*depth].map = e->type == FYET_MAPPING_START;
	st[*depth].want_key = 1;
	(*depth)++;
	return 0;
}

/*
 * Pass 1: is the stream well formed and within the caps?  Reports
 * libfyaml's errors, too deep nesting, too many nodes and complex
 * (non-scalar) mapping keys, which our files never need.  Only then is
 * the tree built (pass 2), so the builder sees no syntax errors and
 * libfyaml's error paths, where 0.7.x has leaked token memory, are taken
 * with no scalar text fetched.
 */
static int
y_check(struct yctx *Y, const char *text, size_t len)
{
	struct y_frame st[CBP_YAML_DEPTH];
	struct fy_diag *d = NULL;
	struct fy_event *e;
	int end = 0, depth = 0, bad = 0, r = -1;

	if (y_open(Y, text, len, &d) != 0)
		goto out;
	while (!bad && (e = fy_parser_parse(Y->fyp)) != NULL) {
		end = e->type == FYET_STREAM_END;
		bad = y_track(Y, st, &depth, e) != 0;
		fy_parser_event_free(Y->fyp, e);
	}
	if (bad)
		goto out;
	if (end && !fy_parser_get_stream_error(Y->fyp))
		r = 0;
	else
		y_report_diag(Y, d);
out:
	y_close(Y, d);
	return r;
}

/* Pass 2: build the tree of the one document. */
static int
y_parse(struct yctx *Y, const char *text, size_t len, struct cbp_ynode **root)
{
	struct fy_diag *d = NULL;
	struct fy_event *e = NULL, *doc2 = NULL;
	unsigned before = Y->errors;
	int r = -1, x;

	*root = NULL;
	if (y_open(Y, text, len, &d) != 0)
		goto out;
	if (y_expect(Y, FYET_STREAM_START, NULL) != 0)
		goto syntax;
	if ((x = y_expect(Y, FYET_DOCUMENT_START, &e)) < 0)
		goto syntax;
	if (x == 1) {
		/* No document: an empty file (STREAM_END). */
		x = e->type == FYET_STREAM_END ? 0 : -1;
		fy_parser_event_free(Y->fyp, e);
		if (x != 0)
			goto syntax;
		r = 0;
		goto out;
	}
	if ((e = fy_parser_parse(Y->fyp)) == NULL)
		goto syntax;
	if (y_build(Y, e, 0, root) != 0)
		goto syntax;
	if (y_expect(Y, FYET_DOCUMENT_END, NULL) != 0)
		goto syntax;
	if ((x = y_expect(Y, FYET_STREAM_END, &doc2)) < 0)
		goto syntax;
	if (x == 1) {
		const struct fy_mark *m = fy_event_start_mark(doc2);

		report(Y, m != NULL ? m->line + 1 : 0, m != NULL ? m->column + 1 : 0,
		    "a %s holds one YAML document", kind(Y->src));
		fy_parser_event_free(Y->fyp, doc2);
		goto fail;
	}
	r = 0;
	goto out;
syntax:
	/* Pass 1 found no error, so this is ours (depth) or memory. */
	if (!Y->oom && Y->errors == before)
		y_report_diag(Y, d);
fail:
	cbp_ynode_free(*root);
	*root = NULL;
out:
	y_close(Y, d);
	return r;
}

int
cbp_yaml_parse(const struct cbp_yaml_src *src, const char *text, size_t len,
    struct cbp_ynode **root)
{
	struct yctx Y;

	*root = NULL;
	if (text == NULL && len > 0)
		return CBP_EINVAL;
	memset(&Y, 0, sizeof(Y));
	Y.src = src;
	if (text == NULL)
		text = "";
	if (len > CBP_YAML_FILE_MAX) {
		report(&Y, 0, 0, "the %s is too large (at most %zu MiB): split it",
		    kind(src), CBP_YAML_FILE_MAX / CBP_MIB);
		return CBP_ESYNTAX;
	}
	if (check_text(&Y, text, len) == 0 && y_check(&Y, text, len) == 0)
		(void)y_parse(&Y, text, len, root);
	if (Y.oom) {
		cbp_ynode_free(*root);
		*root = NULL;
		return CBP_ENOMEM;
	}
	return Y.errors > 0 ? CBP_ESYNTAX : CBP_OK;
}

/* ---- the grammar of scalars ------------------------------------------------------ */

static int
why_set(char *why, size_t whysz, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
why_set(char *why, size_t whysz, int code, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whysz > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	return code;
}

#define SHOWN(s) cbp_yaml_shown((s), strlen(s), sb, sizeof(sb))

int
cbp_parse_bool(const char *s, int *out, char *why, size_t whysz)
{
	char sb[48];

	if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
	    strcmp(s, "TRUE") == 0)) {
		*out = 1;
		return CBP_OK;
	}
	if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
	    strcmp(s, "FALSE") == 0)) {
		*out = 0;
		return CBP_OK;
	}
	return why_set(why, whysz, CBP_EINVAL, "'%s' is not true or false "
	    "(write true or false; yes, no, on and off are not accepted)",
	    SHOWN(s != NULL ? s : ""));
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The digits at *s: decimal, or 0x hex when hex_ok.  Advances *s past
 * them.  CBP_EINVAL if there are none, CBP_ELIMIT on overflow (the digits
 * are still consumed, so the caller can tell "too big" from "not a
 * number" by what follows).
 */
static int
digits(const char **sp, int hex_ok, uint64_t *out, int *was_hex)
{
	const char *s = *sp;
	uint64_t v = 0;
	int over = 0, d;

	*was_hex = 0;
	if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
	    cbp_hexval(s[2]) >= 0) {
		*was_hex = 1;
		for (s += 2; (d = cbp_hexval(*s)) >= 0; s++) {
			if (v > (UINT64_MAX >> 4))
				over = 1;
			v = v << 4 | (uint64_t)d;
		}
	} else {
		if (!is_digit(*s))
			return CBP_EINVAL;
		for (; is_digit(*s); s++) {
			d = *s - '0';
			if (v > (UINT64_MAX - (uint64_t)d) / 10)
				over = 1;
			v = v * 10 + (uint64_t)d;
		}
	}
	*sp = s;
	*out = v;
	return over ? CBP_ELIMIT : CBP_OK;
}

int
cbp_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    char *why, size_t whysz)
{
	const char *p = s;
	uint64_t v = 0;
	int r, hex;
	char sb[48];

	if (s == NULL)
		s = p = "";
	r = digits(&p, 1, &v, &hex);
	if (r == CBP_EINVAL || *p != '\0')
		return why_set(why, whysz, CBP_EINVAL, "'%s' is not a whole "
		    "number (decimal digits, or 0x and hex digits)", SHOWN(s));
	if (r == CBP_ELIMIT || v < min || v > max)
		return why_set(why, whysz, CBP_ELIMIT, "%s is out of range "
		    "(%" PRIu64 " to %" PRIu64 ")", SHOWN(s), min, max);
	*out = v;
	return CBP_OK;
}

int
cbp_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    char *why, size_t whysz)
{
	const char *p = s;
	uint64_t v = 0, mul = 1;
	int r, hex;
	char sb[48];

	if (s == NULL)
		s = p = "";
	r = digits(&p, 1, &v, &hex);
	if (r == CBP_EINVAL)
		goto bad;
	if (!hex) {
		switch (*p) {
		case 'k': case 'K':
			mul = (uint64_t)1 << 10;
			break;
		case 'm': case 'M':
			mul = (uint64_t)1 << 20;
			break;
		case 'g': case 'G':
			mul = (uint64_t)1 << 30;
			break;
		case 't': case 'T':
			mul = (uint64_t)1 << 40;
			break;
		}
		if (mul > 1)
			p++;
		if (mul > 1 && p[0] == 'i' && p[1] == 'B')
			p += 2;
		else if (*p == 'B')
			p++;
	}
	if (*p != '\0')
		goto bad;
	if (r == CBP_ELIMIT || (v != 0 && mul > UINT64_MAX / v) ||
	    v * mul < min || v * mul > max)
		return why_set(why, whysz, CBP_ELIMIT, "%s is out of range "
		    "(%" PRIu64 " to %" PRIu64 " bytes)", SHOWN(s), min, max);
	*out = v * mul;
	return CBP_OK;
bad:
	return why_set(why, whysz, CBP_EINVAL, "'%s' is not a size (a whole "
	    "number with an optional K, M, G or T suffix, powers of 1024: "
	    "64M, 64MiB and 64MB are the same)", SHOWN(s));
}

int
cbp_parse_duration(const char *s, int64_t *out, char *why, size_t whysz)
{
	const char *p = s;
	uint64_t v = 0, mul = 1;
	int r, hex;
	char sb[48];

	if (s == NULL)
		s = p = "";
	r = digits(&p, 0, &v, &hex);
	if (r == CBP_EINVAL)
		goto bad;
	switch (*p) {
	case 's':
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	case 'w':
		mul = 7 * 86400;
		break;
	case 'y':
		mul = 365 * 86400;
		break;
	case '\0':
		break;
	default:
		goto bad;
	}
	if (*p != '\0')
		p++;
	if (*p != '\0')
		goto bad;
	if (r == CBP_ELIMIT || (v != 0 && mul > (uint64_t)INT64_MAX / v))
		return why_set(why, whysz, CBP_ELIMIT, "%s is out of range "
		    "(at most %" PRId64 " seconds)", SHOWN(s), INT64_MAX);
	*out = (int64_t)(v * mul);
	return CBP_OK;
bad:
	return why_set(why, whysz, CBP_EINVAL, "'%s' is not a duration (a "
	    "whole number with an optional s, m, h, d, w or y suffix, such as "
	    "30d or 12h)", SHOWN(s));
}
