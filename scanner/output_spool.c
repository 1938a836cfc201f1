/*
 * output_spool.c — the delivery sink (cbp_output.h): each record, written
 * by the one JSON writer, appended to the spool.  The append is a write(2)
 * to a local file under the spool's own lock; the network is the sender
 * thread's business (deliver.c), so a slow endpoint never holds the
 * output lock the scan's workers emit through.
 */
#include <stdlib.h>

#include "cbp_err.h"
#include "cbp_output.h"
#include "cbp_output_int.h"
#include "cbp_spool.h"

struct spool_sink {
	struct cbp_sink base;
	struct cbp_spool *sp;		/* not owned */
	struct cbp_dynbuf buf;
};

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
	return r;
}

static int
spool_finding(struct cbp_sink *s, const struct cbp_finding *f)
{
	struct cbp_output_record rec = { .type = CBP_OUT_FINDING, .u.finding = f };

	return spool_write((struct spool_sink *)s, &rec);
}

static int
spool_problem(struct cbp_sink *s, const struct cbp_problem *p)
{
	struct cbp_output_record rec = { .type = CBP_OUT_PROBLEM, .u.problem = p };

	return spool_write((struct spool_sink *)s, &rec);
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
cbp_sink_spool_new(struct cbp_spool *sp)
{
	struct spool_sink *ss;

	if (sp == NULL || (ss = calloc(1, sizeof(*ss))) == NULL)
		return NULL;
	ss->base.ops = &spool_ops;
	ss->sp = sp;
	cbp_dynbuf_init(&ss->buf, CBP_OUTPUT_RECORD_MAX);
	return &ss->base;
}
