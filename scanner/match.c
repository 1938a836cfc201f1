/*
 * match.c — evaluating the compiled ruleset against one object.
 *
 * Design.  Each condition kind is one entry of a table of operations
 * (ops[] below); evaluation walks a rule's condition tree, whose all/any
 * children were sorted cheapest-first when compiled, and short-circuits, so
 * facts that cost a content load, a metadata parse or carving are computed
 * (lazily, by cbp_facts) only when the cheap conditions did not already
 * decide.  Leaves that read image metadata and records are in
 * match_meta.c, regex execution in match_regex.c.
 *
 * Evidence.  A leaf that matches appends an item ("name: ...", "COM: ...")
 * to the matcher's scratch; a subtree that ends up false drops what it
 * appended, and "not" never contributes, so the items are exactly the
 * positive leaves in evaluation order.  Each item is masked as it is made,
 * over the full text it comes from (so cutting a window out of a long field
 * can never expose half a plate number), and the joined evidence is masked
 * once more (masking is idempotent).  Weak items (mime, size) are shown only
 * when nothing stronger matched.
 *
 * A matcher belongs to one thread: its PCRE2 match data, match context and
 * JIT stack are never shared.
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_kv.h"
#include "cbp_limits.h"
#include "cbp_match.h"
#include "cbp_rules_int.h"
#include "cbp_text.h"

/* Scratch for one rule's evidence items; more is dropped (the result is
 * capped at CBP_EVIDENCE_MAX anyway). */
#define EV_SCRATCH (64 * CBP_KIB)
#define EV_ITEMS 256
/* Bytes of context kept before the interesting spot of a long field. */
#define EV_CONTEXT 40
/* Verification work per byte searched by a wildcard hex signature. */
#define BYTES_WORK_PER_BYTE 16

/* ---- the matcher ------------------------------------------------------------ */

struct cbp_matcher *
cbp_matcher_new(const struct cbp_ruleset *rs)
{
	struct cbp_matcher *m;

	if (rs == NULL || !rs->compiled)
		return NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->rs = rs;
	cbp_dynbuf_init(&m->ev, EV_SCRATCH);
	cbp_dynbuf_init(&m->tmp, 0);
	cbp_dynbuf_init(&m->out, CBP_EVIDENCE_MAX - 1);
	if ((m->md = pcre2_match_data_create(rs->max_groups, NULL)) == NULL ||
	    (m->mctx = pcre2_match_context_create(NULL)) == NULL)
		goto fail;
	pcre2_set_match_limit(m->mctx, CBP_PCRE2_MATCH_LIMIT);
	pcre2_set_depth_limit(m->mctx, CBP_PCRE2_DEPTH_LIMIT);
	pcre2_set_heap_limit(m->mctx, CBP_PCRE2_HEAP_LIMIT_KIB);
	/*
	 * Without a JIT stack of its own, JIT code would run on 32 KiB of
	 * machine stack; with none at all (JIT unsupported) PCRE2 interprets.
	 */
	if ((m->jit = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL)) != NULL)
		pcre2_jit_stack_assign(m->mctx, NULL, m->jit);
	return m;
fail:
	cbp_matcher_free(m);
	return NULL;
}

void
cbp_matcher_free(struct cbp_matcher *m)
{
	if (m == NULL)
		return;
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	pcre2_jit_stack_free(m->jit);
	free(m->items);
	cbp_dynbuf_free(&m->ev);
	cbp_dynbuf_free(&m->tmp);
	cbp_dynbuf_free(&m->out);
	free(m);
}

/* ---- evidence ------------------------------------------------------------------- */

static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v' || c == '\0';
}

/*
 * Append t[0..n) to the item being built (which started at item_off), at
 * most room bytes in all, squeezing whitespace runs when collapse is set.
 * NUL bytes always become spaces: evidence is a C string.
 */
static int
ev_put(struct cbp_dynbuf *b, size_t item_off, const unsigned char *t,
    size_t n, size_t room, int collapse)
{
	size_t i, end = item_off + room;
	int pending = 0, r;

	for (i = 0; i < n && b->len < end; i++) {
		unsigned char c = t[i];

		if (collapse && is_blank(c)) {
			pending = b->len > item_off &&
			    b->data[b->len - 1] != ' ';
			continue;
		}
		if (pending) {
			pending = 0;
			if ((r = cbp_dynbuf_addc(b, ' ')) != CBP_OK)
				return r;
			if (b->len >= end)
				break;
		}
		if ((r = cbp_dynbuf_addc(b, c == '\0' ? ' ' : c)) != CBP_OK)
			return r;
	}
	if (i < n) {
		/* Cut short: do not leave half a UTF-8 character. */
		b->len = item_off + cbp_utf8_trim_end(b->data + item_off,
		    b->len - item_off);
		b->data[b->len] = '\0';
	}
	return CBP_OK;
}

/* Where to start showing a long text so that focus is in view. */
static size_t
ev_window(const unsigned char *t, size_t len, size_t focus, size_t room)
{
	size_t s, lim;

	if (len <= room || focus <= EV_CONTEXT)
		return 0;
	s = focus - EV_CONTEXT;
	if (s >= len)
		s = len > room ? len - room : 0;
	/* Start at a token boundary (after a separator) when one is near. */
	for (lim = s + EV_CONTEXT; s < len && s < lim; s++)
		if (strchr(" \t\r\n;|,<>\"'", t[s]) != NULL)
			break;
	if (s < len && s < lim)
		s++;
	while (s < len && (t[s] & 0xC0) == 0x80)
		s++;
	return s < len ? s : 0;
}

static int
items_push(struct cbp_matcher *m, size_t off, int weak)
{
	struct cbp_ev_item *v;
	size_t na;

	if (m->nitems == m->items_alloc) {
		na = m->items_alloc ? m->items_alloc * 2 : 16;
		if ((v = realloc(m->items, na * sizeof(*v))) == NULL)
			return CBP_ENOMEM;
		m->items = v;
		m->items_alloc = na;
	}
	m->items[m->nitems].off = off;
	m->items[m->nitems].len = m->ev.len - off;
	m->items[m->nitems].weak = weak;
	m->nitems++;
	return CBP_OK;
}

int
cbp_ev_add(struct cbp_matcher *m, int weak, const char *prefix,
    const char *text, size_t len, const size_t *spans, size_t nspans,
    size_t focus, int collapse)
{
	const struct cbp_ruleset *rs = m->rs;
	size_t off = m->ev.len, plen = strlen(prefix), room, start;
	int r;

	if (m->nitems >= EV_ITEMS)
		return CBP_OK;
	cbp_dynbuf_reset(&m->tmp);
	/* Masking never lengthens a text, so its length is the right cap. */
	m->tmp.cap = len;
	if ((r = cbp_kv_mask(text, len, (const char *const *)rs->mask_keys,
	    rs->nmask, spans, nspans, &m->tmp)) != CBP_OK)
		return r;
	room = CBP_EVIDENCE_MAX - 1;
	if ((r = ev_put(&m->ev, off, (const unsigned char *)prefix, plen, room,
	    0)) != CBP_OK)
		goto out;
	room = room > plen ? room - plen : 0;
	start = ev_window(m->tmp.data, m->tmp.len, focus, room);
	if (start > 0 && (r = ev_put(&m->ev, off, (const unsigned char *)"...",
	    3, plen + room, 0)) != CBP_OK)
		goto out;
	if (m->tmp.len > 0 && (r = ev_put(&m->ev, off, m->tmp.data + start,
	    m->tmp.len - start, plen + room, collapse)) != CBP_OK)
		goto out;
	/* Trailing blanks left by collapsing are noise. */
	while (m->ev.len > off && m->ev.data[m->ev.len - 1] == ' ')
		m->ev.data[--m->ev.len] = '\0';
	return items_push(m, off, weak);
out:
	/* A full scratch drops the item; only running out of memory fails. */
	m->ev.len = off;
	if (m->ev.data != NULL)
		m->ev.data[off] = '\0';
	return r == CBP_ENOMEM ? r : CBP_OK;
}

int
cbp_ev_printf(struct cbp_matcher *m, int weak, const char *fmt, ...)
{
	char buf[CBP_EVIDENCE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return CBP_OK;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	return cbp_ev_add(m, weak, "", buf, (size_t)n, NULL, 0, 0, 0);
}

/* Forget items added after a mark (a subtree that turned out false). */
static void
ev_rewind(struct cbp_matcher *m, size_t nitems)
{
	if (nitems >= m->nitems)
		return;
	m->ev.len = m->items[nitems].off;
	m->ev.data[m->ev.len] = '\0';
	m->nitems = nitems;
}

/*
 * Join the items ("; "), strong ones only unless there are none, cap at
 * CBP_EVIDENCE_MAX - 1 bytes, and mask the whole once more.  NULL when
 * there is nothing to say.
 */
static const char *
ev_finish(struct cbp_matcher *m)
{
	const struct cbp_ruleset *rs = m->rs;
	unsigned char buf[CBP_EVIDENCE_MAX];
	size_t i, n = 0, k;
	int strong = 0;

	for (i = 0; i < m->nitems; i++)
		strong |= !m->items[i].weak;
	for (i = 0; i < m->nitems && n < sizeof(buf) - 1; i++) {
		const struct cbp_ev_item *it = &m->items[i];

		if ((strong && it->weak) || it->len == 0)
			continue;
		if (n > 0) {
			k = sizeof(buf) - 1 - n < 2 ? sizeof(buf) - 1 - n : 2;
			memcpy(buf + n, "; ", k);
			n += k;
		}
		k = it->len < sizeof(buf) - 1 - n ? it->len : sizeof(buf) - 1 - n;
		k = cbp_utf8_cut(m->ev.data + it->off, it->len, k);
		memcpy(buf + n, m->ev.data + it->off, k);
		n += k;
	}
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == ';'))
		n--;
	if (n == 0)
		return NULL;
	cbp_dynbuf_reset(&m->out);
	if (cbp_kv_mask((const char *)buf, n, (const char *const *)rs->mask_keys,
	    rs->nmask, NULL, 0, &m->out) != CBP_OK || m->out.data == NULL)
		return NULL;
	return (const char *)m->out.data;
}

/* ---- leaves ------------------------------------------------------------------------ */

static int eval(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res);

int
cbp_globs_match(const struct cbp_globs *g, const char *name)
{
	size_t i;

	if (g->n == 0)
		return 1;
	for (i = 0; i < g->n; i++)
		if (fnmatch(g->v[i], name, 0) == 0)
			return 1;
	return 0;
}

static int
eval_all(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	size_t i;
	int r;

	for (i = 0; i < c->u.list.n; i++) {
		if ((r = eval(m, f, c->u.list.v[i], res)) != CBP_OK)
			return r;
		if (!*res)
			return CBP_OK;
	}
	return CBP_OK;
}

static int
eval_any(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	size_t i;
	int r;

	for (i = 0; i < c->u.list.n; i++) {
		if ((r = eval(m, f, c->u.list.v[i], res)) != CBP_OK)
			return r;
		if (*res)
			return CBP_OK;
	}
	return CBP_OK;
}

static int
eval_not(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	size_t mark = m->nitems;
	int r;

	if ((r = eval(m, f, c->u.child, res)) != CBP_OK)
		return r;
	ev_rewind(m, mark);
	*res = !*res;
	return CBP_OK;
}

static int
eval_mime(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	const char *mime = f->mime != NULL ? f->mime : "application/octet-stream";

	if (!(*res = cbp_globs_match(&c->u.mime, mime)))
		return CBP_OK;
	return cbp_ev_printf(m, 1, "mime: %s", mime);
}

/* A regex over a string; evidence "<label>: <text>" with the mask group. */
static int
eval_text(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_regex *re, const char *label, const char *s, int *res)
{
	struct cbp_rx_hit h;
	size_t len, span[2];

	*res = 0;
	if (s == NULL)
		return CBP_OK;
	len = strlen(s);
	if (!cbp_rx_test(m, f, re, s, len, &h))
		return CBP_OK;
	*res = 1;
	span[0] = h.mstart;
	span[1] = h.mend - h.mstart;
	return cbp_ev_add(m, 0, label, s, len, span, span[1] > 0, h.start, 1);
}

static int
eval_magic(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	const char *d = NULL;
	int r;

	*res = 0;
	if ((r = cbp_facts_description(f, &d)) != CBP_OK)
		return r == CBP_ENOMEM ? r : CBP_OK;
	return eval_text(m, f, c->u.re, "magic: ", d, res);
}

static int
eval_name(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	return eval_text(m, f, c->u.re, "name: ", f->obj->name, res);
}

static int
eval_path(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	return eval_text(m, f, c->u.re, "path: ", f->display_path, res);
}

static int
eval_size(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	uint64_t sz = f->obj->size;

	*res = sz >= c->u.size.min && sz <= c->u.size.max;
	if (!*res)
		return CBP_OK;
	return cbp_ev_printf(m, 1, "size: %llu", (unsigned long long)sz);
}

/*
 * The bytes a content search looks at: the head, or the first max bytes of
 * the object (the head when it already holds them).  *p = NULL when the
 * content could not be read (that problem is in f->problem).
 */
static int
content_buf(struct cbp_facts *f, enum cbp_scope scope, size_t max,
    const unsigned char **p, size_t *n)
{
	const struct cbp_object *o = f->obj;
	size_t cap = max;
	int complete = 0, r;

	*p = NULL;
	*n = 0;
	if (scope == CBP_SCOPE_HEAD || max <= o->head_len ||
	    (uint64_t)o->head_len >= o->size) {
		*p = o->head;
		*n = o->head_len < max ? o->head_len : max;
		return CBP_OK;
	}
	if (f->caps != NULL && f->caps->load_max > 0 && cap > f->caps->load_max)
		cap = f->caps->load_max;
	r = cbp_facts_content(f, cap, p, n, &complete);
	if (r != CBP_OK) {
		*p = NULL;
		*n = 0;
		return r == CBP_ENOMEM ? r : CBP_OK;
	}
	if (*n > max)
		*n = max;
	return CBP_OK;
}

static int
printable(const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return n > 0;
}

static int
eval_content(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res)
{
	const unsigned char *p;
	struct cbp_rx_hit h;
	char prefix[64];
	size_t n, span[2];
	int r;

	*res = 0;
	if ((r = content_buf(f, c->u.content.scope, c->u.content.max, &p, &n))
	    != CBP_OK || p == NULL)
		return r;
	if (!cbp_rx_test(m, f, c->u.content.re, p, n, &h))
		return CBP_OK;
	*res = 1;
	if (h.end - h.start > 64 || !printable(p + h.start, h.end - h.start))
		return cbp_ev_printf(m, 0, "content: match at offset %zu",
		    h.start);
	snprintf(prefix, sizeof(prefix), "content: match at offset %zu: ",
	    h.start);
	span[0] = h.mstart > h.start ? h.mstart - h.start : 0;
	span[1] = h.mend - h.mstart;
	return cbp_ev_add(m, 0, prefix, (const char *)p + h.start,
	    h.end - h.start, span, span[1] > 0, 0, 0);
}

static int
bytes_at(const struct cbp_cond *c, const unsigned char *p)
{
	size_t i;

	for (i = 0; i < c->u.bytes.len; i++)
		if (c->u.bytes.care[i] && p[i] != c->u.bytes.pat[i])
			return 0;
	return 1;
}

/*
 * Find the signature in p[0..n): memmem on its longest fixed run, then
 * check the rest.  Without wildcards memmem on the whole is linear; with
 * them the checking is bounded by a work budget (hitting it is noted).
 */
static int
bytes_find(struct cbp_facts *f, const struct cbp_cond *c,
    const unsigned char *p, size_t n, size_t *at)
{
	size_t len = c->u.bytes.len, i, rs = 0, rl = 0, s, work = 0, budget;
	const unsigned char *q;

	if (n < len)
		return 0;
	for (i = 0; i < len; i++) {
		size_t j = i;

		while (j < len && c->u.bytes.care[j])
			j++;
		if (j - i > rl) {
			rs = i;
			rl = j - i;
		}
		if (j > i)
			i = j - 1;
	}
	budget = n * BYTES_WORK_PER_BYTE + CBP_MIB;
	for (s = rs; s + rl <= n - (len - rs - rl);) {
		if ((q = memmem(p + s, n - (len - rs - rl) - s,
		    c->u.bytes.pat + rs, rl)) == NULL)
			return 0;
		s = (size_t)(q - p);
		if (rl == len || bytes_at(c, p + s - rs)) {
			*at = s - rs;
			return 1;
		}
		if ((work += len) > budget) {
			(void)cbp_error_set(&f->problem, CBP_ELIMIT, 0,
			    "byte signature search budget reached");
			return 0;
		}
		s++;
	}
	return 0;
}

static int
eval_bytes(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	const struct cbp_object *o = f->obj;
	uint64_t off = c->u.bytes.offset, end = off + c->u.bytes.len;
	const unsigned char *p;
	size_t n, at = 0;
	int r;

	*res = 0;
	if (c->u.bytes.anywhere) {
		if ((r = content_buf(f, c->u.bytes.scope, c->u.bytes.max, &p,
		    &n)) != CBP_OK || p == NULL)
			return r;
		if (!(*res = bytes_find(f, c, p, n, &at)))
			return CBP_OK;
		return cbp_ev_printf(m, 0, "content: bytes at offset %zu", at);
	}
	if (end > o->size)
		return CBP_OK;
	if (end <= o->head_len)
		p = o->head, n = o->head_len;
	else if (end > SIZE_MAX || (r = content_buf(f, CBP_SCOPE_FILE,
	    (size_t)end, &p, &n)) != CBP_OK || p == NULL)
		return end > SIZE_MAX ? CBP_OK : r;
	if (n < end || !bytes_at(c, p + off))
		return CBP_OK;
	*res = 1;
	return cbp_ev_printf(m, 0, "content: bytes at offset %llu",
	    (unsigned long long)off);
}

/* ---- evaluation ---------------------------------------------------------------------- */

typedef int (*cond_eval)(struct cbp_matcher *, struct cbp_facts *,
    const struct cbp_cond *, int *);

/* The table of matcher operations, one per condition kind. */
static const cond_eval ops[CBP_C_KINDS] = {
	[CBP_C_ALL] = eval_all,
	[CBP_C_ANY] = eval_any,
	[CBP_C_NOT] = eval_not,
	[CBP_C_MIME] = eval_mime,
	[CBP_C_MAGIC] = eval_magic,
	[CBP_C_NAME] = eval_name,
	[CBP_C_PATH] = eval_path,
	[CBP_C_SIZE] = eval_size,
	[CBP_C_CONTENT] = eval_content,
	[CBP_C_BYTES] = eval_bytes,
	[CBP_C_META] = cbp_eval_meta,
	[CBP_C_IMAGE] = cbp_eval_image,
	[CBP_C_RECORD] = cbp_eval_record,
	[CBP_C_KV] = cbp_eval_kv,
};

static int
eval(struct cbp_matcher *m, struct cbp_facts *f, const struct cbp_cond *c,
    int *res)
{
	size_t mark = m->nitems;
	int r;

	*res = 0;
	if ((r = ops[c->kind](m, f, c, res)) != CBP_OK)
		return r;
	if (!*res)
		ev_rewind(m, mark);
	return CBP_OK;
}

int
cbp_match_object(struct cbp_matcher *m, struct cbp_facts *f, cbp_hit_fn hit,
    void *arg)
{
	const struct cbp_ruleset *rs;
	struct cbp_rule_hit h;
	size_t i;
	int r, res;

	if (m == NULL || f == NULL || f->obj == NULL || hit == NULL)
		return CBP_EINVAL;
	rs = m->rs;
	for (i = 0; i < rs->nrules; i++) {
		const struct cbp_rule *rule = &rs->rules[i];

		if (!rule->enabled)
			continue;
		m->nitems = 0;
		cbp_dynbuf_reset(&m->ev);
		if ((r = eval(m, f, rule->when, &res)) != CBP_OK)
			return r;
		if (!res)
			continue;
		h.id = rule->id;
		h.title = rule->title;
		h.category = rule->category;
		h.severity = rule->severity;
		h.evidence = ev_finish(m);
		if ((r = hit(arg, &h)) != 0)
			return r;
	}
	return CBP_OK;
}
