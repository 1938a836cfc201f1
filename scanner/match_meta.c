/*
 * match_meta.c — conditions on image metadata and biometric records.
 *
 * meta, image and kv read cbp_facts_meta() (one bounded parse per object,
 * shared by every rule); record reads cbp_facts_record() and
 * cbp_facts_carved().  A fact that cannot be computed (not an image, no
 * record, corrupt input) makes the condition false; the reason, if any, is
 * already in f->problem.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cbp_err.h"
#include "cbp_kv.h"
#include "cbp_limits.h"
#include "cbp_meta.h"
#include "cbp_record.h"
#include "cbp_rules_int.h"

/* The object's metadata, or NULL (with *r set only for CBP_ENOMEM). */
static const struct cbp_meta *
get_meta(struct cbp_facts *f, int *r)
{
	const struct cbp_meta *meta = NULL;
	int rc = cbp_facts_meta(f, &meta);

	*r = rc == CBP_ENOMEM ? rc : CBP_OK;
	return rc == CBP_OK ? meta : NULL;
}

static void
field_prefix(char *buf, size_t sz, const char *name)
{
	snprintf(buf, sz, "%s: ", name);
}

int
cbp_eval_meta(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res)
{
	const struct cbp_meta *meta;
	struct cbp_rx_hit h;
	char prefix[128];
	size_t i, span[2];
	int r;

	*res = 0;
	if ((meta = get_meta(f, &r)) == NULL)
		return r;
	for (i = 0; i < meta->nfields; i++) {
		const struct cbp_meta_field *fd = &meta->fields[i];

		if (!cbp_globs_match(&c->u.meta.fields, fd->name) ||
		    !cbp_rx_test(m, f, c->u.meta.re, fd->value, fd->len, &h))
			continue;
		*res = 1;
		field_prefix(prefix, sizeof(prefix), fd->name);
		span[0] = h.mstart;
		span[1] = h.mend - h.mstart;
		return cbp_ev_add(m, 0, prefix, fd->value, fd->len, span,
		    span[1] > 0, h.start, 1);
	}
	return CBP_OK;
}

int
cbp_eval_image(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res)
{
	const struct cbp_meta *meta;
	uint32_t w, h;
	double aspect = 0;
	int r;

	*res = 0;
	if ((meta = get_meta(f, &r)) == NULL || meta->format == CBP_IMG_NONE)
		return r;
	if (c->u.image.formats != 0 &&
	    !(c->u.image.formats & (1u << meta->format)))
		return CBP_OK;
	w = meta->width;
	h = meta->height;
	if (w > 0 && h > 0)
		aspect = (double)w / (double)h;
	if (c->u.image.need_size) {
		if (w == 0 || h == 0 ||
		    w < c->u.image.wmin || w > c->u.image.wmax ||
		    h < c->u.image.hmin || h > c->u.image.hmax ||
		    aspect < c->u.image.amin || aspect > c->u.image.amax)
			return CBP_OK;
	}
	*res = 1;
	if (w == 0 || h == 0)
		return cbp_ev_printf(m, 0, "image: %s",
		    cbp_image_format_name(meta->format));
	return cbp_ev_printf(m, 0, "image: %s %ux%u (aspect %.2f)",
	    cbp_image_format_name(meta->format), (unsigned)w, (unsigned)h,
	    aspect);
}

/* ---- kv ------------------------------------------------------------------- */

struct kv_ctx {
	struct cbp_matcher *m;
	struct cbp_facts *f;
	const struct cbp_cond *c;
	const char *base;
	uint64_t done;		/* bit per satisfied require entry */
	size_t first;		/* offset of the first pair that satisfied one */
};

static int
kv_key_in(const struct cbp_kv_req *q, const struct cbp_kv_pair *p)
{
	size_t k;

	for (k = 0; k < q->nkeys; k++)
		if (strlen(q->keys[k]) == p->key_len &&
		    strncasecmp(q->keys[k], p->key, p->key_len) == 0)
			return 1;
	return 0;
}

static int
kv_pair(void *arg, const struct cbp_kv_pair *p)
{
	struct kv_ctx *x = arg;
	const struct cbp_cond *c = x->c;
	uint64_t all = c->u.kv.nreq >= 64 ? ~(uint64_t)0 :
	    ((uint64_t)1 << c->u.kv.nreq) - 1;
	size_t i, at;

	for (i = 0; i < c->u.kv.nreq; i++) {
		const struct cbp_kv_req *q = &c->u.kv.req[i];

		if ((x->done & ((uint64_t)1 << i)) || !kv_key_in(q, p))
			continue;
		if (q->value != NULL && !cbp_rx_test(x->m, x->f, q->value,
		    p->value, p->value_len, NULL))
			continue;
		x->done |= (uint64_t)1 << i;
		at = (size_t)(p->key - x->base);
		if (at < x->first)
			x->first = at;
	}
	return x->done == all;
}

int
cbp_eval_kv(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res)
{
	const struct cbp_meta *meta;
	struct kv_ctx x;
	char prefix[128];
	size_t i;
	int r;

	*res = 0;
	if ((meta = get_meta(f, &r)) == NULL)
		return r;
	for (i = 0; i < meta->nfields; i++) {
		const struct cbp_meta_field *fd = &meta->fields[i];

		if (!cbp_globs_match(&c->u.kv.fields, fd->name))
			continue;
		memset(&x, 0, sizeof(x));
		x.m = m;
		x.f = f;
		x.c = c;
		x.base = fd->value;
		x.first = fd->len;
		if (cbp_kv_each(fd->value, fd->len, kv_pair, &x) != 1)
			continue;
		*res = 1;
		field_prefix(prefix, sizeof(prefix), fd->name);
		return cbp_ev_add(m, 0, prefix, fd->value, fd->len, NULL, 0,
		    x.first, 1);
	}
	return CBP_OK;
}

/* ---- record --------------------------------------------------------------- */

static int
record_ok(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, const struct cbp_record *rec)
{
	size_t i;
	const char *v;

	if (rec == NULL || rec->kind == CBP_REC_NONE ||
	    (c->u.record.kind != CBP_REC_NONE && (int)rec->kind != c->u.record.kind))
		return 0;
	for (i = 0; i < c->u.record.nf; i++) {
		v = cbp_record_get(rec, c->u.record.f[i].key);
		if (v == NULL || !cbp_rx_test(m, f, c->u.record.f[i].re, v,
		    strlen(v), NULL))
			return 0;
	}
	return 1;
}

/* Append printf-style text to buf[*o..sz), never past sz. */
static void
cat(char *buf, size_t sz, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
cat(char *buf, size_t sz, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= sz)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, sz - *o, fmt, ap);
	va_end(ap);
	if (n > 0)
		*o += (size_t)n < sz - *o ? (size_t)n : sz - *o - 1;
}

/* "ISO/IEC 19794-5 v010 record at offset 1001: faces=1 image=jpeg 480x640" */
static void
describe_iso(const struct cbp_record *rec, char *buf, size_t sz, size_t *o)
{
	const char *it = cbp_record_get(rec, "image_type");
	const char *w = cbp_record_get(rec, "width");
	const char *h = cbp_record_get(rec, "height");
	char wb[16], hb[16];

	if (it == NULL && rec->nimages > 0 &&
	    rec->images[0].type != CBP_PAYLOAD_UNKNOWN)
		it = cbp_record_payload_name(rec->images[0].type);
	if (w == NULL && h == NULL && rec->nimages > 0 &&
	    rec->images[0].width > 0) {
		snprintf(wb, sizeof(wb), "%u", (unsigned)rec->images[0].width);
		snprintf(hb, sizeof(hb), "%u", (unsigned)rec->images[0].height);
		w = wb;
		h = hb;
	}
	cat(buf, sz, o, "ISO/IEC 19794-5 v%s record", rec->version[0] ?
	    rec->version : "?");
	if (rec->embedded)
		cat(buf, sz, o, " at offset %zu", rec->offset);
	cat(buf, sz, o, ": faces=%u", rec->nfaces);
	if (it != NULL)
		cat(buf, sz, o, " image=%s", it);
	if (w != NULL && h != NULL)
		cat(buf, sz, o, " %sx%s", w, h);
}

/* "ANSI/NIST-ITL 0400 transaction: TOT=CAR Type-10 IMT=FACE 768x1024 CGA=JPEGB" */
static void
describe_an(const struct cbp_record *rec, char *buf, size_t sz, size_t *o)
{
	const char *tot = cbp_record_get(rec, "1.004");
	const char *imt = cbp_record_get(rec, "10.003");
	const char *w = cbp_record_get(rec, "10.006");
	const char *h = cbp_record_get(rec, "10.007");
	const char *cga = cbp_record_get(rec, "10.011");
	const char *ver = rec->version[0] ? rec->version :
	    cbp_record_get(rec, "1.002");

	cat(buf, sz, o, "ANSI/NIST-ITL %s transaction", ver != NULL ? ver : "?");
	if (rec->embedded)
		cat(buf, sz, o, " at offset %zu", rec->offset);
	cat(buf, sz, o, ":");
	if (tot != NULL)
		cat(buf, sz, o, " TOT=%s", tot);
	cat(buf, sz, o, " Type-10");
	if (rec->nfaces > 1)
		cat(buf, sz, o, " x%u", rec->nfaces);
	if (imt != NULL)
		cat(buf, sz, o, " IMT=%s", imt);
	if (w != NULL && h != NULL)
		cat(buf, sz, o, " %sx%s", w, h);
	if (cga != NULL)
		cat(buf, sz, o, " CGA=%s", cga);
}

static int
record_evidence(struct cbp_matcher *m, const struct cbp_record *rec)
{
	char buf[CBP_EVIDENCE_MAX];
	size_t o = 0;

	buf[0] = '\0';
	if (rec->kind == CBP_REC_ISO19794_5)
		describe_iso(rec, buf, sizeof(buf), &o);
	else
		describe_an(rec, buf, sizeof(buf), &o);
	return cbp_ev_add(m, 0, "", buf, o, NULL, 0, 0, 1);
}

int
cbp_eval_record(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res)
{
	const struct cbp_record *rec = NULL;
	const struct cbp_record_list *list = NULL;
	size_t i;
	int rc;

	*res = 0;
	if (c->u.record.where & CBP_WHERE_STANDALONE) {
		rc = cbp_facts_record(f, &rec);
		if (rc == CBP_ENOMEM)
			return rc;
		if (rc == CBP_OK && record_ok(m, f, c, rec)) {
			*res = 1;
			return record_evidence(m, rec);
		}
	}
	if (c->u.record.where & CBP_WHERE_EMBEDDED) {
		rc = cbp_facts_carved(f, &list);
		if (rc == CBP_ENOMEM)
			return rc;
		for (i = 0; rc == CBP_OK && list != NULL && i < list->n; i++) {
			if (record_ok(m, f, c, &list->v[i])) {
				*res = 1;
				return record_evidence(m, &list->v[i]);
			}
		}
	}
	return CBP_OK;
}
