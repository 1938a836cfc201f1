/*
 * output_text.c — the human-readable sink, for a person at a terminal.
 *
 * A finding is one line of aligned columns:
 *
 *   high     cbp.plate.lpr-record               /srv/x/b.tar.gz :: lane07/0001.jpg  COM: LPR;...
 *
 * severity padded to SEV_WIDTH (coloured with CBP_TEXT_COLOR), the rule id
 * padded to RULE_WIDTH, the location (the path, then " :: " and each
 * member name, outermost first), then two spaces and the evidence, and
 * the disposition in brackets unless it is "violation": "[review]" marks
 * a low heuristic that is never a violation, "[authorized]" and
 * "[retention]" an authorized location.  An unscannable object is
 * "unscannable <reason> <location>: <detail>".  The summary is a blank
 * line, one sentence of counts, the findings by severity, the run's
 * identity (scan id, host, host id, version, ruleset digest: the values
 * the JSON records carry, so a text report can be matched with them) and,
 * when the exit status is not 0, a line naming it.  CBP_TEXT_QUIET keeps
 * only the findings.
 *
 * Every name, evidence and detail goes through cbp_text_escape, so a file
 * named with escape sequences, newlines or bidi overrides is shown as \xNN
 * instead of driving the terminal or faking a line.  Members are joined
 * with the ASCII " :: " so the line reads the same in any locale or font;
 * a name that itself contains " :: " is shown as it is, since this view is
 * for reading, and the JSON Lines "member" array is the exact form.
 *
 * Sizes use decimal units (B, kB, MB, GB, TB: powers of 1000) as df -H and
 * most file managers do, with one decimal above 1000 bytes.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_output.h"
#include "cbp_output_int.h"

/* "critical" is the longest severity name. */
#define SEV_WIDTH 8
/*
 * Wide enough for typical ids ("cbp.traveler.passport-mrz-td3" is 29);
 * a longer id pushes its line's location right rather than being cut.
 */
#define RULE_WIDTH 34

#define ANSI_RESET "\033[0m"

struct text_sink {
	struct cbp_sink base;	/* first: the fan-out sees only this */
	struct cbp_emitter em;	/* the stream, and whether a write to it failed */
	unsigned flags;		/* enum cbp_text_flags */
	struct cbp_dynbuf buf;	/* one record; reused (calls are serialised) */
};

static const char *
severity_color(enum cbp_severity s)
{
	switch (s) {
	case CBP_SEV_CRITICAL:
	case CBP_SEV_HIGH:
		return "\033[1;31m";	/* bold red */
	case CBP_SEV_MEDIUM:
		return "\033[33m";	/* yellow */
	case CBP_SEV_LOW:
		return "\033[36m";	/* cyan */
	default:
		return "\033[2m";	/* dim */
	}
}

static int
add_str(struct cbp_dynbuf *b, const char *s)
{
	return cbp_dynbuf_add(b, s, strlen(s));
}

static int
add_escaped(struct cbp_dynbuf *b, const char *s)
{
	if (s == NULL)
		return CBP_OK;
	return cbp_text_escape(b, s, strlen(s));
}

/* n spaces. */
static int
add_spaces(struct cbp_dynbuf *b, size_t n)
{
	static const char spaces[] = "                                        ";
	size_t k;
	int r;

	while (n > 0) {
		k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		if ((r = cbp_dynbuf_add(b, spaces, k)) != CBP_OK)
			return r;
		n -= k;
	}
	return CBP_OK;
}

/* Pad a column that started at byte offset from to width, plus one gap. */
static int
end_column(struct cbp_dynbuf *b, size_t from, size_t width)
{
	size_t used = b->len - from;

	return add_spaces(b, (used < width ? width - used : 0) + 1);
}

/* The path, then " :: member" for each member name, all escaped. */
static int
add_location(struct cbp_dynbuf *b, const char *path,
    const char *const *member, size_t nmember)
{
	size_t i;
	int r;

	if ((r = add_escaped(b, path)) != CBP_OK)
		return r;
	for (i = 0; i < nmember; i++) {
		if ((r = add_str(b, " :: ")) != CBP_OK ||
		    (r = add_escaped(b, member[i])) != CBP_OK)
			return r;
	}
	return CBP_OK;
}

/* Drop a record that failed to build, or write a complete one. */
static int
text_finish(struct text_sink *ts, int r)
{
	if (r != CBP_OK) {
		if (ts->buf.alloc > CBP_OUTPUT_KEEP_MAX)
			cbp_dynbuf_free(&ts->buf);
		else
			cbp_dynbuf_reset(&ts->buf);
		return r;
	}
	return cbp_output_emit(&ts->em, &ts->buf);
}

static int
text_finding(struct cbp_sink *s, const struct cbp_finding *f)
{
	struct text_sink *ts = (struct text_sink *)s;
	struct cbp_dynbuf *b = &ts->buf;
	const char *sev = cbp_severity_name(f->severity);
	size_t col, n;
	int r;

	cbp_dynbuf_reset(b);
	/* Colour codes go around the word only, so padding stays aligned. */
	if (ts->flags & CBP_TEXT_COLOR)
		r = cbp_dynbuf_printf(b, "%s%s" ANSI_RESET,
		    severity_color(f->severity), sev);
	else
		r = add_str(b, sev);
	if (r != CBP_OK)
		goto out;
	n = strlen(sev);
	if ((r = add_spaces(b, (n < SEV_WIDTH ? SEV_WIDTH - n : 0) + 1)) != CBP_OK)
		goto out;
	col = b->len;
	if ((r = add_escaped(b, f->rule)) != CBP_OK ||
	    (r = end_column(b, col, RULE_WIDTH)) != CBP_OK)
		goto out;
	if ((r = add_location(b, f->path, f->member, f->nmember)) != CBP_OK)
		goto out;
	if (f->evidence != NULL && f->evidence[0] != '\0') {
		if ((r = add_str(b, "  ")) != CBP_OK ||
		    (r = add_escaped(b, f->evidence)) != CBP_OK)
			goto out;
	}
	/* A known-image match names the list entry (id and list are the
	 * agency's text: escaped like everything else). */
	if (f->known.list != NULL &&
	    ((r = add_str(b, "  known ")) != CBP_OK ||
	    (r = add_escaped(b, f->known.category)) != CBP_OK ||
	    (r = add_str(b, " ")) != CBP_OK ||
	    (r = add_escaped(b, f->known.id)) != CBP_OK ||
	    (r = add_str(b, " in ")) != CBP_OK ||
	    (r = add_escaped(b, f->known.list)) != CBP_OK ||
	    (r = cbp_dynbuf_printf(b, ", distance %d", f->known.distance))
	    != CBP_OK))
		goto out;
	/* Violations are the default; say so only when it is something else. */
	if (f->disposition != CBP_DISP_VIOLATION &&
	    (r = cbp_dynbuf_printf(b, "  [%s]",
	    cbp_disposition_name(f->disposition))) != CBP_OK)
		goto out;
	r = cbp_dynbuf_addc(b, '\n');
out:
	return text_finish(ts, r);
}

static int
text_problem(struct cbp_sink *s, const struct cbp_problem *p)
{
	struct text_sink *ts = (struct text_sink *)s;
	struct cbp_dynbuf *b = &ts->buf;
	int r;

	if (ts->flags & CBP_TEXT_QUIET)
		return CBP_OK;
	cbp_dynbuf_reset(b);
	if ((r = add_str(b, "unscannable ")) != CBP_OK ||
	    (r = add_str(b, cbp_reason_name(p->reason))) != CBP_OK ||
	    (r = cbp_dynbuf_addc(b, ' ')) != CBP_OK ||
	    (r = add_location(b, p->path, p->member, p->nmember)) != CBP_OK ||
	    (r = add_str(b, ": ")) != CBP_OK ||
	    (r = add_escaped(b, p->detail)) != CBP_OK)
		goto out;
	r = cbp_dynbuf_addc(b, '\n');
out:
	return text_finish(ts, r);
}

/* "512 B", "1.5 kB", "56.7 MB" ...: decimal units, one decimal above 1 kB. */
static void
format_bytes(uint64_t n, char *out, size_t outsz)
{
	static const char *const unit[] = { "kB", "MB", "GB", "TB", "PB", "EB" };
	double v = (double)n / 1000.0;
	size_t u = 0;

	if (n < 1000) {
		snprintf(out, outsz, "%" PRIu64 " B", n);
		return;
	}
	/* Move up a unit while the value would print as "1000.0". */
	while (v >= 999.95 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1000.0;
		u++;
	}
	snprintf(out, outsz, "%.1f %s", v, unit[u]);
}

static const char *
plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* What each exit status of docs/contract.md means, for the closing line. */
static const char *
exit_meaning(int status)
{
	switch (status) {
	case 0:
		return "no violation";
	case 1:
		return "violations found";
	case 2:
		return "the scan did not finish, or a path could not be scanned";
	case 3:
		return "reports could not be delivered and are spooled";
	default:
		return "unknown";
	}
}

/* "Scan <id> on <host> (host id <id>), cbpscan <v>, rules sha256 <hex>." */
static int
run_line(struct cbp_dynbuf *b, const struct cbp_summary *sum)
{
	const struct cbp_record_meta *m = &sum->meta;
	int r;

	if ((r = add_str(b, "Scan ")) != CBP_OK ||
	    (r = add_escaped(b, m->scan_id)) != CBP_OK ||
	    (r = add_str(b, " on ")) != CBP_OK ||
	    (r = add_escaped(b, m->host)) != CBP_OK ||
	    (r = add_str(b, " (host id ")) != CBP_OK ||
	    (r = add_escaped(b, m->host_id)) != CBP_OK ||
	    (r = add_str(b, "), cbpscan ")) != CBP_OK ||
	    (r = add_escaped(b, sum->version != NULL ? sum->version :
	    CBP_VERSION)) != CBP_OK)
		return r;
	if (sum->rules != NULL &&
	    ((r = add_str(b, ", rules sha256 ")) != CBP_OK ||
	    (r = add_escaped(b, sum->rules)) != CBP_OK))
		return r;
	if (sum->lists != NULL &&
	    ((r = add_str(b, ", lists sha256 ")) != CBP_OK ||
	    (r = add_escaped(b, sum->lists)) != CBP_OK))
		return r;
	/* Where the lists' index came from (the JSON summary's lists_cache). */
	if (sum->lists != NULL && sum->lists_cache != NULL &&
	    ((r = add_str(b, strcmp(sum->lists_cache, "hit") == 0 ?
	    " (index from cache)" : strcmp(sum->lists_cache, "built") == 0 ?
	    " (index built from the lists)" : " (index built, cache off)")) != CBP_OK))
		return r;
	return add_str(b, ".\n");
}

/* "Parsers ran in 2 worker processes (seccomp, Landlock ABI 7); 1 replaced." */
static int
confinement_line(struct cbp_dynbuf *b, const struct cbp_confinement *c)
{
	char ll[32];

	if (c->workers == 0)
		return CBP_OK;
	if (c->landlock_abi > 0)
		snprintf(ll, sizeof(ll), "Landlock ABI %d", c->landlock_abi);
	else
		snprintf(ll, sizeof(ll), "no Landlock");
	return cbp_dynbuf_printf(b, "Parsers ran in %u worker %s (%s%s, %s)"
	    "%s%" PRIu64 " replaced.\n", c->workers,
	    c->workers == 1 ? "process" : "processes",
	    c->seccomp ? "seccomp" : "no seccomp",
	    c->seccomp_loose ? " sanitizer filter" : "", ll, "; ", c->replaced);
}

static int
text_summary(struct cbp_sink *s, const struct cbp_summary *sum)
{
	struct text_sink *ts = (struct text_sink *)s;
	struct cbp_dynbuf *b = &ts->buf;
	char bytes[32];
	double el = isfinite(sum->elapsed_s) ? sum->elapsed_s : 0.0;
	int r;

	if (ts->flags & CBP_TEXT_QUIET)
		return CBP_OK;
	cbp_dynbuf_reset(b);
	format_bytes(sum->bytes, bytes, sizeof(bytes));
	r = cbp_dynbuf_printf(b,
	    "\nScanned %" PRIu64 " %s (%s), %" PRIu64 " %s with %" PRIu64 " %s"
	    " in %.2f s: %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " unscannable.\n",
	    sum->files, plural(sum->files, "file", "files"), bytes,
	    sum->archives, plural(sum->archives, "archive", "archives"),
	    sum->members, plural(sum->members, "member", "members"),
	    el,
	    sum->findings, plural(sum->findings, "finding", "findings"),
	    sum->violations, plural(sum->violations, "violation", "violations"),
	    sum->unscannable);
	if (r != CBP_OK)
		goto out;
	r = cbp_dynbuf_printf(b, "By severity: %" PRIu64 " critical, %" PRIu64
	    " high, %" PRIu64 " medium, %" PRIu64 " low, %" PRIu64 " info.\n",
	    sum->severity[CBP_SEV_CRITICAL], sum->severity[CBP_SEV_HIGH],
	    sum->severity[CBP_SEV_MEDIUM], sum->severity[CBP_SEV_LOW],
	    sum->severity[CBP_SEV_INFO]);
	if (r != CBP_OK || (r = run_line(b, sum)) != CBP_OK ||
	    (r = confinement_line(b, &sum->confinement)) != CBP_OK)
		goto out;
	/*
	 * Name the exit status whenever it is not plain success: violations,
	 * but also --strict failures and undelivered reports.
	 */
	if (sum->violations > 0 || sum->exit_status != 0)
		r = cbp_dynbuf_printf(b, "Exit status %d: %s.\n",
		    sum->exit_status, sum->exit_status == 1 &&
		    sum->violations == 0 ? "unscannable objects (--strict), "
		    "no violation" : exit_meaning(sum->exit_status));
out:
	return text_finish(ts, r);
}

static int
text_close(struct cbp_sink *s)
{
	struct text_sink *ts = (struct text_sink *)s;
	int r = cbp_emitter_close(&ts->em);

	cbp_dynbuf_free(&ts->buf);
	free(ts);
	return r;
}

static const struct cbp_sink_ops text_ops = {
	.finding = text_finding,
	.problem = text_problem,
	.summary = text_summary,
	.close = text_close,
};

/* NULL if fp is NULL or memory is short. */
struct cbp_sink *
cbp_sink_text_new(FILE *fp, unsigned flags)
{
	struct text_sink *ts;

	if (fp == NULL || (ts = calloc(1, sizeof(*ts))) == NULL)
		return NULL;
	ts->base.ops = &text_ops;
	cbp_emitter_init(&ts->em, fp);
	ts->flags = flags;
	cbp_dynbuf_init(&ts->buf, CBP_OUTPUT_RECORD_MAX);
	return &ts->base;
}
