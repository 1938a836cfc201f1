/*
 * output_spool.c — the delivery sink (cbp_output.h): each record, written
 * by the one JSON writer, appended to the spool.  The append is a write(2)
 * to a local file under the spool's own lock; the network is the sender
 * thread's business (deliver.c), so a slow endpoint never holds the
 * output lock the scan's workers emit through.
 */
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_output.h"
#include "cbp_output_int.h"
#include "cbp_spool.h"

struct spool_sink {
	struct cbp_sink base;
	struct cbp_spool *sp;		/* not owned */
	struct cbp_dynbuf buf;
	int mask;
	struct cbp_dynbuf names;	/* masked path and members, NUL-separated */
};

/* Names of at most this many members are masked; a longer chain is cut. */
#define MASK_MEMBERS_MAX 128

static int
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z');
}

int
cbp_mask_plates(const char *name, struct cbp_dynbuf *out)
{
	size_t i = 0, j, k, n = strlen(name);
	int r = CBP_OK, alpha, digit;

	while (i < n && r == CBP_OK) {
		if (!is_alnum((unsigned char)name[i])) {
			r = cbp_dynbuf_addc(out, (unsigned char)name[i++]);
			continue;
		}
		alpha = digit = 0;
		for (j = i; j < n && is_alnum((unsigned char)name[j]); j++) {
			if (name[j] >= '0' && name[j] <= '9')
				digit = 1;
			else
				alpha = 1;
		}
		/* A plate mixes letters and digits and is 5 to 10 long. */
		for (k = i; k < j && r == CBP_OK; k++)
			r = cbp_dynbuf_addc(out, alpha && digit && j - i >= 5 &&
			    j - i <= 10 && k >= i + 2 && k + 2 < j ? '*' :
			    (unsigned char)name[k]);
		i = j;
	}
	return r;
}

/* Mask *path and members[0..n) into ss->names; point them there. */
static int
mask_names(struct spool_sink *ss, const char **path, const char **members,
    size_t n)
{
	size_t off[MASK_MEMBERS_MAX + 1], i;
	int r;

	cbp_dynbuf_reset(&ss->names);
	off[0] = 0;
	if ((r = cbp_mask_plates(*path, &ss->names)) != CBP_OK ||
	    (r = cbp_dynbuf_addc(&ss->names, '\0')) != CBP_OK)
		return r;
	for (i = 0; i < n; i++) {
		off[i + 1] = ss->names.len;
		if ((r = cbp_mask_plates(members[i], &ss->names)) != CBP_OK ||
		    (r = cbp_dynbuf_addc(&ss->names, '\0')) != CBP_OK)
			return r;
	}
	/* Pointers only once the buffer stopped moving. */
	*path = (const char *)ss->names.data;
	for (i = 0; i < n; i++)
		members[i] = (const char *)ss->names.data + off[i + 1];
	return CBP_OK;
}

/*
 * Only unscannable records may be dropped for the cap: findings and the
 * run's first and last records are what the centre must have.
 */
static int
spool_write(struct spool_sink *ss, const struct cbp_output_record *rec)
{
	int r;

	cbp_dynbuf_reset(&ss->buf);
	if ((r = cbp_json_record(&ss->buf, rec)) == CBP_OK)
		r = cbp_spool_append(ss->sp, ss->buf.data, ss->buf.len,
		    rec->type == CBP_OUT_PROBLEM, NULL);
	if (ss->buf.alloc > CBP_OUTPUT_KEEP_MAX)
		cbp_dynbuf_free(&ss->buf);
	/* One code for "not spooled": main.c reports it from the spool's count. */
	return r == CBP_OK ? CBP_OK : CBP_EDELIVERY;
}

static int
spool_finding(struct cbp_sink *s, const struct cbp_finding *f)
{
	struct spool_sink *ss = (struct spool_sink *)s;
	struct cbp_output_record rec = { .type = CBP_OUT_FINDING, .u.finding = f };
	struct cbp_finding c;
	const char *m[MASK_MEMBERS_MAX];

	if (ss->mask && f->path != NULL) {
		c = *f;
		c.nmember = f->nmember < MASK_MEMBERS_MAX ? f->nmember : MASK_MEMBERS_MAX;
		if (c.nmember > 0)
			memcpy(m, f->member, c.nmember * sizeof(*m));
		c.member = m;
		if (mask_names(ss, &c.path, m, c.nmember) != CBP_OK)
			return CBP_EDELIVERY;
		rec.u.finding = &c;
	}
	return spool_write(ss, &rec);
}

static int
spool_problem(struct cbp_sink *s, const struct cbp_problem *p)
{
	struct spool_sink *ss = (struct spool_sink *)s;
	struct cbp_output_record rec = { .type = CBP_OUT_PROBLEM, .u.problem = p };
	struct cbp_problem c;
	const char *m[MASK_MEMBERS_MAX];

	if (ss->mask && p->path != NULL) {
		c = *p;
		c.nmember = p->nmember < MASK_MEMBERS_MAX ? p->nmember : MASK_MEMBERS_MAX;
		if (c.nmember > 0)
			memcpy(m, p->member, c.nmember * sizeof(*m));
		c.member = m;
		if (mask_names(ss, &c.path, m, c.nmember) != CBP_OK)
			return CBP_EDELIVERY;
		rec.u.problem = &c;
	}
	return spool_write(ss, &rec);
}

static int
spool_summary(struct cbp_sink *s, const struct cbp_summary *sum)
{
	struct cbp_output_record rec = { .type = CBP_OUT_SUMMARY, .u.summary = sum };

	return spool_write((struct spool_sink *)s, &rec);
}

static int
spool_run(struct cbp_sink *s, const struct cbp_summary *run)
{
	struct cbp_output_record rec = { .type = CBP_OUT_RUN, .u.summary = run };

	return spool_write((struct spool_sink *)s, &rec);
}

static int
spool_close(struct cbp_sink *s)
{
	struct spool_sink *ss = (struct spool_sink *)s;

	cbp_dynbuf_free(&ss->buf);
	cbp_dynbuf_free(&ss->names);
	free(ss);
	return CBP_OK;
}

static const struct cbp_sink_ops spool_ops = {
	.finding = spool_finding,
	.problem = spool_problem,
	.summary = spool_summary,
	.close = spool_close,
	.run = spool_run,
};

struct cbp_sink *
cbp_sink_spool_new(struct cbp_spool *sp, int mask_paths)
{
	struct spool_sink *ss;

	if (sp == NULL || (ss = calloc(1, sizeof(*ss))) == NULL)
		return NULL;
	ss->base.ops = &spool_ops;
	ss->sp = sp;
	cbp_dynbuf_init(&ss->buf, CBP_OUTPUT_RECORD_MAX);
	cbp_dynbuf_init(&ss->names, CBP_OUTPUT_RECORD_MAX);
	ss->mask = mask_paths;
	return &ss->base;
}
