/*
 * rules.c — load YAML rule files and compile them into a ruleset.
 *
 * Design.  A file is read and parsed by the shared YAML layer (yaml.c,
 * cbp_yaml.h): size cap, UTF-8 check before libfyaml sees a byte, event
 * parsing with no alias expansion, caps on depth and nodes, and a small
 * tree in which every node keeps its 1-based line and column, since every
 * message of `cbpscan rules check` must point somewhere exact.  A
 * validator then walks the tree and compiles each rule: unknown keys,
 * wrong types, bad numbers (the grammar of cbp_parse_*, the same as the
 * configuration's and the command line's), bad regexes (the column points
 * inside the pattern when the scalar is on one line and has no escapes),
 * duplicate keys and ids, nesting depth.  After an error it goes on with
 * the next key or rule, so one run lists every problem; a file with any
 * error marks the ruleset failed (CBP_ESYNTAX).
 *
 * Compiling means: PCRE2 with JIT where available (the interpreter
 * otherwise, silently), a literal prefilter per regex, hex signatures to
 * byte/mask arrays, and the children of all/any sorted cheapest-first (a
 * stable counting sort on enum cbp_cost).  The result is immutable and
 * shared by every worker; per-thread state lives in the matcher (match.c).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_meta.h"
#include "cbp_record.h"
#include "cbp_rules.h"
#include "cbp_rules_int.h"
#include "cbp_text.h"
#include "cbp_yaml.h"

/* Messages per file; after that one "too many errors" and silence. */
#define RULES_ERRORS_MAX 100
/* Longest rule id, category or record field key we accept. */
#define RULES_NAME_MAX 128

/* ---- diagnostics --------------------------------------------------------- */

struct loader {
	struct cbp_ruleset *rs;
	const char *file;
	cbp_rules_diag_fn diag;
	void *arg;
	unsigned errors;
	int oom;
};

static void report(struct loader *L, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(struct loader *L, int line, int col, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	L->errors++;
	if (L->diag == NULL || L->errors > RULES_ERRORS_MAX + 1)
		return;
	if (L->errors == RULES_ERRORS_MAX + 1) {
		L->diag(L->arg, L->file, line, col,
		    "too many errors, not reporting more");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	L->diag(L->arg, L->file, line > 0 ? line : 0, col > 0 ? col : 0, msg);
}

static char *
xstrndup(struct loader *L, const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL) {
		L->oom = 1;
		return NULL;
	}
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- scalar helpers ------------------------------------------------------ */

/* Check n's type; CBP_Y_BAD (already reported) fails silently. */
static int
want(struct loader *L, const struct cbp_ynode *n, enum cbp_ytype t, const char *what)
{
	if (n->type == t)
		return 0;
	if (n->type != CBP_Y_BAD)
		report(L, n->line, n->col, "'%s' must be %s, not %s", what,
		    t == CBP_Y_SCALAR ? "a string" : cbp_ynode_type_name(t),
		    cbp_ynode_type_name(n->type));
	return -1;
}

/* A non-empty string scalar (borrowed). */
static int
want_str(struct loader *L, const struct cbp_ynode *n, const char *what)
{
	if (want(L, n, CBP_Y_SCALAR, what) != 0)
		return -1;
	if (n->len == 0 || memchr(n->s, '\0', n->len) != NULL) {
		report(L, n->line, n->col, "'%s' must be a non-empty string",
		    what);
		return -1;
	}
	return 0;
}

/*
 * Scalar text for the grammar functions: a NUL from an escape ("1\0x")
 * would end the C string early and pass for a number, so such text is
 * given as "" (which no grammar accepts).
 */
static const char *
grammar_text(const struct cbp_ynode *n)
{
	return strlen(n->s) == n->len ? n->s : "";
}

/* A boolean, in the grammar of cbp_parse_bool (true or false). */
static int
want_bool(struct loader *L, const struct cbp_ynode *n, const char *what, int *out)
{
	char why[256];

	if (want(L, n, CBP_Y_SCALAR, what) != 0)
		return -1;
	if (cbp_parse_bool(grammar_text(n), out, why, sizeof(why)) != CBP_OK) {
		report(L, n->line, n->col, "'%s': %s", what, why);
		return -1;
	}
	return 0;
}

/*
 * A number of bytes (or pixels), in the grammar of cbp_parse_size: an
 * integer, decimal or 0x hex, or decimal with a K, M, G or T suffix, at
 * most lim.
 */
static int
want_num(struct loader *L, const struct cbp_ynode *n, const char *what,
    uint64_t lim, uint64_t *out)
{
	char why[256];

	if (want(L, n, CBP_Y_SCALAR, what) != 0)
		return -1;
	if (cbp_parse_size(grammar_text(n), 0, lim, out, why,
	    sizeof(why)) != CBP_OK) {
		report(L, n->line, n->col, "'%s': %s", what, why);
		return -1;
	}
	return 0;
}

static int
want_double(struct loader *L, const struct cbp_ynode *n, const char *what,
    double *out)
{
	char *end;
	double v;

	if (want(L, n, CBP_Y_SCALAR, what) != 0)
		return -1;
	errno = 0;
	v = strtod(n->s, &end);
	if (n->len == 0 || end != n->s + n->len || errno == ERANGE ||
	    !isfinite(v) || v < 0 || isspace((unsigned char)n->s[0])) {
		report(L, n->line, n->col, "'%s' must be a non-negative number",
		    what);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Column of byte off inside scalar n.  Exact when the scalar sits on one
 * line and its source spans as many characters as its value (no escapes,
 * no folding); otherwise the scalar's own column.
 */
static int
scalar_col(const struct cbp_ynode *n, size_t off)
{
	size_t c = cbp_utf8_chars(n->s, n->len);

	if (n->line > 0 && n->line == n->eline && n->ecol > n->col &&
	    (size_t)(n->ecol - n->col) == c)
		return n->col + (int)cbp_utf8_chars(n->s, off < n->len ? off : n->len);
	return n->col;
}

/* ---- mapping keys -------------------------------------------------------- */

/*
 * Match the keys of map against names[]: vals[i] gets the value of
 * names[i] (or NULL).  Reports unknown (listing the allowed ones),
 * duplicate and non-scalar keys.  Returns the number of errors.
 */
static int
map_fields(struct loader *L, const struct cbp_ynode *map, const char *what,
    const char *const *names, size_t nnames, struct cbp_ynode **vals)
{
	char allowed[512], sb[64];
	size_t i, j, o;
	int bad = 0;

	for (j = 0; j < nnames; j++)
		vals[j] = NULL;
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct cbp_ynode *k = map->kid[i];

		if (k->type != CBP_Y_SCALAR) {
			if (k->type != CBP_Y_BAD)
				report(L, k->line, k->col,
				    "keys in %s must be strings", what);
			bad++;
			continue;
		}
		for (j = 0; j < nnames; j++)
			if (strcmp(k->s, names[j]) == 0)
				break;
		if (j == nnames) {
			for (o = 0, allowed[0] = '\0', j = 0; j < nnames; j++)
				o += (size_t)snprintf(allowed + o,
				    o < sizeof(allowed) ? sizeof(allowed) - o : 0,
				    "%s%s", j ? ", " : "", names[j]);
			report(L, k->line, k->col,
			    "unknown key '%s' in %s (allowed: %s)",
			    cbp_yaml_shown(k->s, k->len, sb, sizeof(sb)), what, allowed);
			bad++;
			continue;
		}
		if (vals[j] != NULL) {
			report(L, k->line, k->col, "duplicate key '%s'",
			    names[j]);
			bad++;
			continue;
		}
		vals[j] = map->kid[i + 1];
	}
	return bad;
}

static int
require(struct loader *L, const struct cbp_ynode *map, struct cbp_ynode *v,
    const char *key, const char *what)
{
	if (v != NULL)
		return 0;
	report(L, map->line, map->col, "%s is missing required key '%s'",
	    what, key);
	return -1;
}

/* ---- regexes, globs, hex --------------------------------------------------- */

static void
regex_free(struct cbp_regex *re)
{
	if (re == NULL)
		return;
	pcre2_code_free(re->code);
	free(re->lit);
	free(re);
}

static int
is_meta_char(unsigned char c)
{
	return strchr(".[]()*+?{}^$|\\", c) != NULL;
}

/*
 * The literal every match must contain, taken from the start of the
 * pattern: plain characters and escaped punctuation up to the first
 * metacharacter, minus a character made optional by a following quantifier.
 * Patterns with an alternation anywhere are skipped (the prefix would not
 * be required).  Caseless patterns get none: memmem is case-sensitive.
 */
static void
regex_literal(struct loader *L, struct cbp_regex *re, const char *p,
    size_t len, int caseless)
{
	unsigned char buf[256];
	size_t i = 0, o = 0, adv;
	unsigned char ch;

	if (caseless || memchr(p, '|', len) != NULL)
		return;
	if (i < len && p[i] == '^')
		i++;
	while (i < len && o < sizeof(buf)) {
		if (p[i] == '\\') {
			if (i + 1 >= len || isalnum((unsigned char)p[i + 1]) ||
			    !isprint((unsigned char)p[i + 1]))
				break;
			ch = (unsigned char)p[i + 1];
			adv = 2;
		} else if (is_meta_char((unsigned char)p[i]))
			break;
		else {
			ch = (unsigned char)p[i];
			adv = 1;
		}
		if (i + adv < len && strchr("*?{", p[i + adv]) != NULL)
			break;
		buf[o++] = ch;
		i += adv;
		if (i < len && p[i] == '+')
			break;
	}
	if (o < 2)
		return;
	if ((re->lit = malloc(o)) == NULL) {
		L->oom = 1;
		return;
	}
	memcpy(re->lit, buf, o);
	re->lit_len = o;
}

/* One byte every match contains (PCRE2's own analysis), for memchr. */
static void
regex_unit(struct cbp_regex *re, const char *p, size_t len, int caseless)
{
	uint32_t type = 0, unit = 0, opts = 0;

	re->unit = -1;
	/* An inline (?i) could make the unit caseless: skip those. */
	if (caseless || memmem(p, len, "(?", 2) != NULL)
		return;
	if (pcre2_pattern_info(re->code, PCRE2_INFO_ALLOPTIONS, &opts) != 0 ||
	    (opts & PCRE2_CASELESS))
		return;
	if (pcre2_pattern_info(re->code, PCRE2_INFO_LASTCODETYPE, &type) == 0 &&
	    type == 1 &&
	    pcre2_pattern_info(re->code, PCRE2_INFO_LASTCODEUNIT, &unit) == 0)
		re->unit = (int)(unit & 0xff);
}

/* Compile scalar n as a PCRE2 pattern (bytes, no UTF). */
static struct cbp_regex *
regex_compile(struct loader *L, const struct cbp_ynode *n, int caseless,
    const char *what)
{
	struct cbp_regex *re;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE eoff = 0;
	int ec = 0, g;

	if (want(L, n, CBP_Y_SCALAR, what) != 0)
		return NULL;
	if ((re = calloc(1, sizeof(*re))) == NULL) {
		L->oom = 1;
		return NULL;
	}
	re->code = pcre2_compile((PCRE2_SPTR)n->s, n->len,
	    caseless ? PCRE2_CASELESS : 0, &ec, &eoff, NULL);
	if (re->code == NULL) {
		if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", ec);
		report(L, n->line, scalar_col(n, eoff), "bad regex: %s",
		    (const char *)msg);
		free(re);
		return NULL;
	}
	/* Without JIT (unsupported CPU, or no memory) PCRE2 interprets. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	if ((g = pcre2_substring_number_from_name(re->code,
	    (PCRE2_SPTR)"mask")) > 0)
		re->mask_group = (uint32_t)g;
	(void)pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT,
	    &re->ngroups);
	if (re->ngroups + 1 > L->rs->max_groups)
		L->rs->max_groups = re->ngroups + 1;
	regex_literal(L, re, n->s, n->len, caseless);
	regex_unit(re, n->s, n->len, caseless);
	return re;
}

/* A regex: a string, or {regex: R, caseless: BOOL}. */
static struct cbp_regex *
want_regex(struct loader *L, const struct cbp_ynode *n, const char *what,
    int caseless)
{
	static const char *const names[] = { "regex", "caseless" };
	struct cbp_ynode *v[2];

	if (n->type == CBP_Y_SCALAR)
		return regex_compile(L, n, caseless, what);
	if (n->type != CBP_Y_MAP) {
		if (n->type != CBP_Y_BAD)
			report(L, n->line, n->col, "'%s' must be a regex: a "
			    "string, or a mapping with regex and caseless",
			    what);
		return NULL;
	}
	if (map_fields(L, n, "a regex", names, 2, v) != 0 ||
	    require(L, n, v[0], "regex", "regex") != 0)
		return NULL;
	if (v[1] != NULL && want_bool(L, v[1], "caseless", &caseless) != 0)
		return NULL;
	return regex_compile(L, v[0], caseless, "regex");
}

static void
globs_free(struct cbp_globs *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->v[i]);
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

/* One string or a non-empty list of strings. */
static int
want_globs(struct loader *L, const struct cbp_ynode *n, const char *what,
    struct cbp_globs *g)
{
	const struct cbp_ynode *const *items = (const struct cbp_ynode *const *)&n;
	size_t i, cnt = 1;
	int bad = 0;

	g->v = NULL;
	g->n = 0;
	if (n->type == CBP_Y_SEQ) {
		items = (const struct cbp_ynode *const *)n->kid;
		cnt = n->n;
		if (cnt == 0) {
			report(L, n->line, n->col, "'%s' must not be empty",
			    what);
			return -1;
		}
	} else if (n->type != CBP_Y_SCALAR) {
		if (n->type != CBP_Y_BAD)
			report(L, n->line, n->col, "'%s' must be a string or "
			    "a list of strings", what);
		return -1;
	}
	for (i = 0; i < cnt; i++)
		if (want_str(L, items[i], what) != 0)
			bad++;
	if (bad)
		return -1;
	if ((g->v = calloc(cnt, sizeof(*g->v))) == NULL) {
		L->oom = 1;
		return -1;
	}
	for (i = 0; i < cnt; i++) {
		if ((g->v[i] = xstrndup(L, items[i]->s, items[i]->len)) == NULL) {
			globs_free(g);
			return -1;
		}
		g->n++;
	}
	return 0;
}

/* "46 41 43 00", "464143??00": pairs of hex digits or "??", spaces between. */
static int
want_hex(struct loader *L, const struct cbp_ynode *n, struct cbp_cond *c)
{
	unsigned char *pat = NULL, *care = NULL;
	size_t i = 0, o = 0, fixed = 0;
	int hi, lo;

	if (want_str(L, n, "hex") != 0)
		return -1;
	if ((pat = malloc(n->len / 2 + 1)) == NULL ||
	    (care = malloc(n->len / 2 + 1)) == NULL) {
		L->oom = 1;
		goto fail;
	}
	while (i < n->len) {
		if (isspace((unsigned char)n->s[i])) {
			i++;
			continue;
		}
		if (i + 1 < n->len && n->s[i] == '?' && n->s[i + 1] == '?') {
			pat[o] = 0;
			care[o++] = 0;
			i += 2;
			continue;
		}
		if ((hi = cbp_hexval((unsigned char)n->s[i])) < 0 ||
		    i + 1 >= n->len ||
		    (lo = cbp_hexval((unsigned char)n->s[i + 1])) < 0) {
			/* Point at the bad digit, or at a lone one. */
			size_t at = hi < 0 || i + 1 >= n->len ||
			    isspace((unsigned char)n->s[i + 1]) ? i : i + 1;

			report(L, n->line, scalar_col(n, at), "bad hex: "
			    "expected pairs of hex digits or ??");
			goto fail;
		}
		pat[o] = (unsigned char)(hi << 4 | lo);
		care[o++] = 1;
		fixed++;
		i += 2;
	}
	if (fixed == 0 || o > CBP_RULE_HEX_MAX) {
		report(L, n->line, n->col, fixed == 0 ? "bad hex: no fixed "
		    "byte to look for" : "bad hex: longer than %d bytes",
		    CBP_RULE_HEX_MAX);
		goto fail;
	}
	c->u.bytes.pat = pat;
	c->u.bytes.care = care;
	c->u.bytes.len = o;
	return 0;
fail:
	free(pat);
	free(care);
	return -1;
}

static int
want_scope(struct loader *L, const struct cbp_ynode *n, enum cbp_scope *out)
{
	if (want(L, n, CBP_Y_SCALAR, "scope") != 0)
		return -1;
	if (strcmp(n->s, "head") == 0)
		*out = CBP_SCOPE_HEAD;
	else if (strcmp(n->s, "file") == 0)
		*out = CBP_SCOPE_FILE;
	else {
		report(L, n->line, n->col, "'scope' must be head or file");
		return -1;
	}
	return 0;
}

/* {min: N, max: N}, at least one; min <= max. */
static int
want_range(struct loader *L, const struct cbp_ynode *n, const char *what,
    uint64_t lim, uint64_t *min, uint64_t *max)
{
	static const char *const names[] = { "min", "max" };
	struct cbp_ynode *v[2];
	char ctx[64];

	*min = 0;
	*max = lim;
	if (want(L, n, CBP_Y_MAP, what) != 0)
		return -1;
	snprintf(ctx, sizeof(ctx), "'%s'", what);
	if (map_fields(L, n, ctx, names, 2, v) != 0)
		return -1;
	if (v[0] == NULL && v[1] == NULL) {
		report(L, n->line, n->col, "'%s' needs min or max", what);
		return -1;
	}
	if ((v[0] != NULL && want_num(L, v[0], "min", lim, min) != 0) ||
	    (v[1] != NULL && want_num(L, v[1], "max", lim, max) != 0))
		return -1;
	if (*min > *max) {
		report(L, n->line, n->col, "'%s': min is greater than max",
		    what);
		return -1;
	}
	return 0;
}

/* ---- conditions ------------------------------------------------------------ */

static const char *const cond_names[CBP_C_KINDS] = {
	"all", "any", "not", "mime", "magic", "name", "path", "size",
	"content", "bytes", "meta", "image", "record", "kv",
};

static void cond_free(struct cbp_cond *c);

static void
kv_free(struct cbp_cond *c)
{
	size_t i, k;

	globs_free(&c->u.kv.fields);
	for (i = 0; i < c->u.kv.nreq; i++) {
		for (k = 0; k < c->u.kv.req[i].nkeys; k++)
			free(c->u.kv.req[i].keys[k]);
		free(c->u.kv.req[i].keys);
		regex_free(c->u.kv.req[i].value);
	}
	free(c->u.kv.req);
}

static void
cond_free(struct cbp_cond *c)
{
	size_t i;

	if (c == NULL)
		return;
	switch (c->kind) {
	case CBP_C_ALL:
	case CBP_C_ANY:
		for (i = 0; i < c->u.list.n; i++)
			cond_free(c->u.list.v[i]);
		free(c->u.list.v);
		break;
	case CBP_C_NOT:
		cond_free(c->u.child);
		break;
	case CBP_C_MIME:
		globs_free(&c->u.mime);
		break;
	case CBP_C_MAGIC:
	case CBP_C_NAME:
	case CBP_C_PATH:
		regex_free(c->u.re);
		break;
	case CBP_C_CONTENT:
		regex_free(c->u.content.re);
		break;
	case CBP_C_BYTES:
		free(c->u.bytes.pat);
		free(c->u.bytes.care);
		break;
	case CBP_C_META:
		globs_free(&c->u.meta.fields);
		regex_free(c->u.meta.re);
		break;
	case CBP_C_RECORD:
		for (i = 0; i < c->u.record.nf; i++) {
			free(c->u.record.f[i].key);
			regex_free(c->u.record.f[i].re);
		}
		free(c->u.record.f);
		break;
	case CBP_C_KV:
		kv_free(c);
		break;
	default:
		break;
	}
	free(c);
}

static struct cbp_cond *
cond_new(struct loader *L, enum cbp_cond_kind kind, enum cbp_cost cost)
{
	struct cbp_cond *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		L->oom = 1;
		return NULL;
	}
	c->kind = kind;
	c->cost = cost;
	return c;
}

/*
 * Make an all/any node of v[0..n) (taken over), sorted cheapest-first by a
 * stable counting sort, costing its dearest child.
 */
static struct cbp_cond *
cond_list(struct loader *L, enum cbp_cond_kind kind, struct cbp_cond **v,
    size_t n)
{
	struct cbp_cond *c, **sorted;
	size_t i, o = 0;
	int k;

	if ((c = cond_new(L, kind, CBP_COST_FREE)) == NULL ||
	    (sorted = malloc(n * sizeof(*sorted))) == NULL) {
		L->oom = 1;
		free(c);
		for (i = 0; i < n; i++)
			cond_free(v[i]);
		free(v);
		return NULL;
	}
	for (k = CBP_COST_FREE; k <= CBP_COST_CARVE; k++)
		for (i = 0; i < n; i++)
			if ((int)v[i]->cost == k)
				sorted[o++] = v[i];
	c->cost = sorted[n - 1]->cost;
	c->u.list.v = sorted;
	c->u.list.n = n;
	free(v);
	return c;
}

static struct cbp_cond *parse_cond(struct loader *L, const struct cbp_ynode *n,
    int depth);

static struct cbp_cond *
p_list(struct loader *L, enum cbp_cond_kind kind, const struct cbp_ynode *n,
    int depth)
{
	struct cbp_cond **v, *c;
	size_t i, got = 0;
	int bad = 0;

	if (want(L, n, CBP_Y_SEQ, cond_names[kind]) != 0)
		return NULL;
	if (n->n == 0) {
		report(L, n->line, n->col, "'%s' needs at least one condition",
		    cond_names[kind]);
		return NULL;
	}
	if ((v = calloc(n->n, sizeof(*v))) == NULL) {
		L->oom = 1;
		return NULL;
	}
	for (i = 0; i < n->n; i++) {
		if ((c = parse_cond(L, n->kid[i], depth + 1)) == NULL)
			bad++;
		else
			v[got++] = c;
	}
	if (bad) {
		for (i = 0; i < got; i++)
			cond_free(v[i]);
		free(v);
		return NULL;
	}
	return cond_list(L, kind, v, got);
}

static struct cbp_cond *
p_all(struct loader *L, const struct cbp_ynode *n, int depth)
{
	return p_list(L, CBP_C_ALL, n, depth);
}

static struct cbp_cond *
p_any(struct loader *L, const struct cbp_ynode *n, int depth)
{
	return p_list(L, CBP_C_ANY, n, depth);
}

static struct cbp_cond *
p_not(struct loader *L, const struct cbp_ynode *n, int depth)
{
	struct cbp_cond *child, *c;

	if ((child = parse_cond(L, n, depth + 1)) == NULL)
		return NULL;
	if ((c = cond_new(L, CBP_C_NOT, child->cost)) == NULL) {
		cond_free(child);
		return NULL;
	}
	c->u.child = child;
	return c;
}

static struct cbp_cond *
p_mime(struct loader *L, const struct cbp_ynode *n, int depth)
{
	struct cbp_cond *c;
	struct cbp_globs g;

	if (want_globs(L, n, "mime", &g) != 0)
		return NULL;
	if ((c = cond_new(L, CBP_C_MIME, CBP_COST_FREE)) == NULL) {
		globs_free(&g);
		return NULL;
	}
	c->u.mime = g;
	return c;
}

static struct cbp_cond *
p_regex_leaf(struct loader *L, enum cbp_cond_kind kind, enum cbp_cost cost,
    const struct cbp_ynode *n)
{
	struct cbp_regex *re;
	struct cbp_cond *c;

	if ((re = want_regex(L, n, cond_names[kind], 0)) == NULL)
		return NULL;
	if ((c = cond_new(L, kind, cost)) == NULL) {
		regex_free(re);
		return NULL;
	}
	c->u.re = re;
	return c;
}

static struct cbp_cond *
p_magic(struct loader *L, const struct cbp_ynode *n, int depth)
{
	return p_regex_leaf(L, CBP_C_MAGIC, CBP_COST_MAGIC, n);
}

static struct cbp_cond *
p_name(struct loader *L, const struct cbp_ynode *n, int depth)
{
	return p_regex_leaf(L, CBP_C_NAME, CBP_COST_FREE, n);
}

static struct cbp_cond *
p_path(struct loader *L, const struct cbp_ynode *n, int depth)
{
	return p_regex_leaf(L, CBP_C_PATH, CBP_COST_FREE, n);
}

static struct cbp_cond *
p_size(struct loader *L, const struct cbp_ynode *n, int depth)
{
	uint64_t min, max;
	struct cbp_cond *c;

	if (want_range(L, n, "size", UINT64_MAX, &min, &max) != 0)
		return NULL;
	if ((c = cond_new(L, CBP_C_SIZE, CBP_COST_FREE)) == NULL)
		return NULL;
	c->u.size.min = min;
	c->u.size.max = max;
	return c;
}

/* Cost of searching a scope: the head, or up to max bytes of content. */
static enum cbp_cost
scope_cost(enum cbp_scope scope, size_t max)
{
	return scope == CBP_SCOPE_HEAD || max <= CBP_HEAD_BYTES ?
	    CBP_COST_HEAD_SCAN : CBP_COST_FILE;
}

static struct cbp_cond *
p_content(struct loader *L, const struct cbp_ynode *n, int depth)
{
	static const char *const names[] = { "regex", "scope", "max",
	    "caseless" };
	enum cbp_scope scope = CBP_SCOPE_FILE;
	uint64_t max = CBP_CONTENT_MAX;
	struct cbp_ynode *v[4];
	struct cbp_regex *re;
	struct cbp_cond *c;
	int caseless = 0, bad;

	if (want(L, n, CBP_Y_MAP, "content") != 0)
		return NULL;
	bad = map_fields(L, n, "'content'", names, 4, v);
	bad += require(L, n, v[0], "regex", "'content'") != 0;
	bad += v[1] != NULL && want_scope(L, v[1], &scope) != 0;
	bad += v[2] != NULL && want_num(L, v[2], "max", SIZE_MAX, &max) != 0;
	bad += v[3] != NULL && want_bool(L, v[3], "caseless", &caseless) != 0;
	if (v[2] != NULL && max == 0) {
		report(L, v[2]->line, v[2]->col, "'max' must be at least 1");
		bad++;
	}
	if (bad || (re = want_regex(L, v[0], "regex", caseless)) == NULL)
		return NULL;
	if ((c = cond_new(L, CBP_C_CONTENT, scope_cost(scope, max))) == NULL) {
		regex_free(re);
		return NULL;
	}
	c->u.content.re = re;
	c->u.content.scope = scope;
	c->u.content.max = (size_t)max;
	return c;
}

static struct cbp_cond *
p_bytes(struct loader *L, const struct cbp_ynode *n, int depth)
{
	static const char *const names[] = { "hex", "offset", "anywhere",
	    "scope", "max" };
	struct cbp_ynode *v[5];
	struct cbp_cond *c;
	uint64_t off = 0, max = CBP_CONTENT_MAX;
	enum cbp_scope scope = CBP_SCOPE_FILE;
	int anywhere = 0, bad;

	if (want(L, n, CBP_Y_MAP, "bytes") != 0)
		return NULL;
	bad = map_fields(L, n, "'bytes'", names, 5, v);
	bad += require(L, n, v[0], "hex", "'bytes'") != 0;
	bad += v[1] != NULL && want_num(L, v[1], "offset", UINT64_MAX, &off) != 0;
	bad += v[2] != NULL && want_bool(L, v[2], "anywhere", &anywhere) != 0;
	bad += v[3] != NULL && want_scope(L, v[3], &scope) != 0;
	bad += v[4] != NULL && want_num(L, v[4], "max", SIZE_MAX, &max) != 0;
	if (bad)
		return NULL;
	if (anywhere && v[1] != NULL) {
		report(L, v[1]->line, v[1]->col,
		    "'offset' and 'anywhere: true' exclude each other");
		return NULL;
	}
	if (!anywhere && (v[3] != NULL || v[4] != NULL)) {
		const struct cbp_ynode *w = v[3] != NULL ? v[3] : v[4];

		report(L, w->line, w->col,
		    "'scope' and 'max' apply only with 'anywhere: true'");
		return NULL;
	}
	if ((c = cond_new(L, CBP_C_BYTES, CBP_COST_FREE)) == NULL)
		return NULL;
	if (want_hex(L, v[0], c) != 0) {
		cond_free(c);
		return NULL;
	}
	if (!anywhere && off > UINT64_MAX - c->u.bytes.len) {
		report(L, v[1]->line, v[1]->col, "'offset' out of range");
		cond_free(c);
		return NULL;
	}
	c->u.bytes.offset = off;
	c->u.bytes.anywhere = anywhere;
	c->u.bytes.scope = scope;
	c->u.bytes.max = (size_t)max;
	if (anywhere)
		c->cost = scope_cost(scope, (size_t)max);
	else
		c->cost = off + c->u.bytes.len <= CBP_HEAD_BYTES ?
		    CBP_COST_HEAD_BYTES : CBP_COST_FILE;
	return c;
}

/* flags: [caseless] */
static int
want_flags(struct loader *L, const struct cbp_ynode *n, int *caseless)
{
	size_t i;

	if (want(L, n, CBP_Y_SEQ, "flags") != 0)
		return -1;
	for (i = 0; i < n->n; i++) {
		if (want_str(L, n->kid[i], "flags") != 0)
			return -1;
		if (strcmp(n->kid[i]->s, "caseless") != 0) {
			report(L, n->kid[i]->line, n->kid[i]->col,
			    "unknown flag (allowed: caseless)");
			return -1;
		}
		*caseless = 1;
	}
	return 0;
}

static struct cbp_cond *
p_meta(struct loader *L, const struct cbp_ynode *n, int depth)
{
	static const char *const names[] = { "fields", "regex", "flags",
	    "caseless" };
	struct cbp_globs g = { NULL, 0 };
	struct cbp_ynode *v[4];
	struct cbp_regex *re = NULL;
	struct cbp_cond *c;
	int caseless = 0, bad;

	if (want(L, n, CBP_Y_MAP, "meta") != 0)
		return NULL;
	bad = map_fields(L, n, "'meta'", names, 4, v);
	bad += require(L, n, v[1], "regex", "'meta'") != 0;
	bad += v[2] != NULL && want_flags(L, v[2], &caseless) != 0;
	bad += v[3] != NULL && want_bool(L, v[3], "caseless", &caseless) != 0;
	if (bad)
		return NULL;
	if (v[0] != NULL && want_globs(L, v[0], "fields", &g) != 0)
		return NULL;
	if ((re = want_regex(L, v[1], "regex", caseless)) == NULL ||
	    (c = cond_new(L, CBP_C_META, CBP_COST_META)) == NULL) {
		regex_free(re);
		globs_free(&g);
		return NULL;
	}
	c->u.meta.fields = g;
	c->u.meta.re = re;
	return c;
}

static int
want_formats(struct loader *L, const struct cbp_ynode *n, unsigned *out)
{
	static const struct { const char *name; enum cbp_image_format f; } fm[] = {
		{ "jpeg", CBP_IMG_JPEG }, { "png", CBP_IMG_PNG },
		{ "tiff", CBP_IMG_TIFF }, { "jp2", CBP_IMG_JP2 },
		{ "j2k", CBP_IMG_J2K },
	};
	struct cbp_globs g;
	size_t i, j;
	int bad = 0;

	if (want_globs(L, n, "format", &g) != 0)
		return -1;
	*out = 0;
	for (i = 0; i < g.n; i++) {
		for (j = 0; j < sizeof(fm) / sizeof(fm[0]); j++)
			if (strcmp(g.v[i], fm[j].name) == 0)
				break;
		if (j == sizeof(fm) / sizeof(fm[0])) {
			const struct cbp_ynode *at = n->type == CBP_Y_SEQ ? n->kid[i] : n;
			char sb[64];

			report(L, at->line, at->col, "unknown image format '%s' "
			    "(allowed: jpeg, png, tiff, jp2, j2k)",
			    cbp_yaml_shown(g.v[i], strlen(g.v[i]), sb, sizeof(sb)));
			bad++;
			continue;
		}
		*out |= 1u << fm[j].f;
	}
	globs_free(&g);
	return bad ? -1 : 0;
}

static int
want_aspect(struct loader *L, const struct cbp_ynode *n, double *min, double *max)
{
	static const char *const names[] = { "min", "max" };
	struct cbp_ynode *v[2];

	*min = 0;
	*max = HUGE_VAL;
	if (want(L, n, CBP_Y_MAP, "aspect") != 0 ||
	    map_fields(L, n, "'aspect'", names, 2, v) != 0)
		return -1;
	if (v[0] == NULL && v[1] == NULL) {
		report(L, n->line, n->col, "'aspect' needs min or max");
		return -1;
	}
	if ((v[0] != NULL && want_double(L, v[0], "min", min) != 0) ||
	    (v[1] != NULL && want_double(L, v[1], "max", max) != 0))
		return -1;
	if (*min > *max) {
		report(L, n->line, n->col, "'aspect': min is greater than max");
		return -1;
	}
	return 0;
}

static struct cbp_cond *
p_image(struct loader *L, const struct cbp_ynode *n, int depth)
{
	static const char *const names[] = { "format", "width", "height",
	    "aspect" };
	struct cbp_ynode *v[4];
	struct cbp_cond *c;
	int bad;

	if (want(L, n, CBP_Y_MAP, "image") != 0 ||
	    (c = cond_new(L, CBP_C_IMAGE, CBP_COST_META)) == NULL)
		return NULL;
	bad = map_fields(L, n, "'image'", names, 4, v);
	bad += v[0] != NULL && want_formats(L, v[0], &c->u.image.formats) != 0;
	if (v[1] != NULL)
		bad += want_range(L, v[1], "width", UINT32_MAX,
		    &c->u.image.wmin, &c->u.image.wmax) != 0;
	else
		c->u.image.wmax = UINT32_MAX;
	if (v[2] != NULL)
		bad += want_range(L, v[2], "height", UINT32_MAX,
		    &c->u.image.hmin, &c->u.image.hmax) != 0;
	else
		c->u.image.hmax = UINT32_MAX;
	if (v[3] != NULL)
		bad += want_aspect(L, v[3], &c->u.image.amin,
		    &c->u.image.amax) != 0;
	else
		c->u.image.amax = HUGE_VAL;
	c->u.image.need_size = v[1] != NULL || v[2] != NULL || v[3] != NULL;
	if (bad) {
		cond_free(c);
		return NULL;
	}
	return c;
}

static int
want_rec_kind(struct loader *L, const struct cbp_ynode *n, int *out)
{
	if (want(L, n, CBP_Y_SCALAR, "type") != 0)
		return -1;
	if (strcmp(n->s, "iso19794-5") == 0)
		*out = CBP_REC_ISO19794_5;
	else if (strcmp(n->s, "ansi-nist") == 0)
		*out = CBP_REC_ANSI_NIST;
	else if (strcmp(n->s, "any") == 0)
		*out = CBP_REC_NONE;
	else {
		report(L, n->line, n->col,
		    "'type' must be iso19794-5, ansi-nist or any");
		return -1;
	}
	return 0;
}

static int
want_where(struct loader *L, const struct cbp_ynode *n, unsigned *out)
{
	if (want(L, n, CBP_Y_SCALAR, "where") != 0)
		return -1;
	if (strcmp(n->s, "standalone") == 0)
		*out = CBP_WHERE_STANDALONE;
	else if (strcmp(n->s, "embedded") == 0)
		*out = CBP_WHERE_EMBEDDED;
	else if (strcmp(n->s, "any") == 0)
		*out = CBP_WHERE_STANDALONE | CBP_WHERE_EMBEDDED;
	else {
		report(L, n->line, n->col,
		    "'where' must be standalone, embedded or any");
		return -1;
	}
	return 0;
}

/* fields: {KEY: regex, ...} of a record condition. */
static int
want_rec_fields(struct loader *L, const struct cbp_ynode *n, struct cbp_cond *c)
{
	size_t i, j, np = n->n / 2;
	int bad = 0;

	if (want(L, n, CBP_Y_MAP, "fields") != 0)
		return -1;
	if (np == 0 || np > CBP_RULE_REC_FIELDS) {
		report(L, n->line, n->col, "'fields' needs 1 to %d entries",
		    CBP_RULE_REC_FIELDS);
		return -1;
	}
	if ((c->u.record.f = calloc(np, sizeof(*c->u.record.f))) == NULL) {
		L->oom = 1;
		return -1;
	}
	for (i = 0; i < np; i++) {
		const struct cbp_ynode *k = n->kid[2 * i], *v = n->kid[2 * i + 1];
		struct cbp_rec_field *f = &c->u.record.f[c->u.record.nf];

		if (want_str(L, k, "record field name") != 0) {
			bad++;
			continue;
		}
		if (k->len >= sizeof(((struct cbp_record_field *)0)->key)) {
			report(L, k->line, k->col, "record field name too long");
			bad++;
			continue;
		}
		for (j = 0; j < i; j++)
			if (strcmp(n->kid[2 * j]->s, k->s) == 0)
				break;
		if (j < i) {
			report(L, k->line, k->col, "duplicate key '%s'", k->s);
			bad++;
			continue;
		}
		if ((f->re = want_regex(L, v, k->s, 0)) == NULL) {
			bad++;
			continue;
		}
		if ((f->key = xstrndup(L, k->s, k->len)) == NULL) {
			regex_free(f->re);
			return -1;
		}
		c->u.record.nf++;
	}
	return bad ? -1 : 0;
}

static struct cbp_cond *
p_record(struct loader *L, const struct cbp_ynode *n, int depth)
{
	static const char *const names[] = { "type", "where", "fields" };
	struct cbp_ynode *v[3];
	struct cbp_cond *c;
	int bad;

	if (want(L, n, CBP_Y_MAP, "record") != 0 ||
	    (c = cond_new(L, CBP_C_RECORD, CBP_COST_RECORD)) == NULL)
		return NULL;
	c->u.record.kind = CBP_REC_NONE;
	c->u.record.where = CBP_WHERE_STANDALONE;
	bad = map_fields(L, n, "'record'", names, 3, v);
	bad += v[0] != NULL && want_rec_kind(L, v[0], &c->u.record.kind) != 0;
	bad += v[1] != NULL && want_where(L, v[1], &c->u.record.where) != 0;
	bad += v[2] != NULL && want_rec_fields(L, v[2], c) != 0;
	if (c->u.record.where & CBP_WHERE_EMBEDDED)
		c->cost = CBP_COST_CARVE;
	if (bad) {
		cond_free(c);
		return NULL;
	}
	return c;
}

/* One require entry: {keys: [K, ...], value: R}. */
static int
want_kv_req(struct loader *L, const struct cbp_ynode *n, struct cbp_kv_req *r)
{
	static const char *const names[] = { "keys", "value" };
	struct cbp_ynode *v[2];
	struct cbp_globs g;

	if (want(L, n, CBP_Y_MAP, "require") != 0 ||
	    map_fields(L, n, "a require entry", names, 2, v) != 0 ||
	    require(L, n, v[0], "keys", "require entry") != 0 ||
	    want_globs(L, v[0], "keys", &g) != 0)
		return -1;
	r->keys = g.v;
	r->nkeys = g.n;
	if (v[1] != NULL && (r->value = want_regex(L, v[1], "value", 0)) == NULL)
		return -1;
	return 0;
}

static struct cbp_cond *
p_kv(struct loader *L, const struct cbp_ynode *n, int depth)
{
	static const char *const names[] = { "fields", "require" };
	struct cbp_ynode *v[2];
	struct cbp_cond *c;
	size_t i;
	int bad;

	if (want(L, n, CBP_Y_MAP, "kv") != 0 ||
	    (c = cond_new(L, CBP_C_KV, CBP_COST_META)) == NULL)
		return NULL;
	bad = map_fields(L, n, "'kv'", names, 2, v);
	bad += require(L, n, v[1], "require", "'kv'") != 0;
	bad += v[0] != NULL && want_globs(L, v[0], "fields", &c->u.kv.fields) != 0;
	if (bad || want(L, v[1], CBP_Y_SEQ, "require") != 0)
		goto fail;
	if (v[1]->n == 0 || v[1]->n > CBP_RULE_KV_REQUIRE) {
		report(L, v[1]->line, v[1]->col,
		    "'require' needs 1 to %d entries", CBP_RULE_KV_REQUIRE);
		goto fail;
	}
	if ((c->u.kv.req = calloc(v[1]->n, sizeof(*c->u.kv.req))) == NULL) {
		L->oom = 1;
		goto fail;
	}
	c->u.kv.nreq = v[1]->n;
	for (i = 0; i < v[1]->n; i++)
		bad += want_kv_req(L, v[1]->kid[i], &c->u.kv.req[i]) != 0;
	if (bad)
		goto fail;
	return c;
fail:
	cond_free(c);
	return NULL;
}

typedef struct cbp_cond *(*cond_parser)(struct loader *, const struct cbp_ynode *,
    int);

/* The table of condition kinds: name (cond_names) and parser. */
static const cond_parser cond_parsers[CBP_C_KINDS] = {
	p_all, p_any, p_not, p_mime, p_magic, p_name, p_path, p_size,
	p_content, p_bytes, p_meta, p_image, p_record, p_kv,
};

/*
 * A condition: a mapping of condition kinds, ANDed.  depth counts the
 * all/any/not levels above n.
 */
static struct cbp_cond *
parse_cond(struct loader *L, const struct cbp_ynode *n, int depth)
{
	struct cbp_cond **v, *c;
	struct cbp_ynode *vals[CBP_C_KINDS];
	size_t i, got = 0;
	int bad;

	if (n->type != CBP_Y_MAP) {
		if (n->type != CBP_Y_BAD)
			report(L, n->line, n->col, "a condition must be a "
			    "mapping, not %s", cbp_ynode_type_name(n->type));
		return NULL;
	}
	if (depth > CBP_RULE_DEPTH) {
		report(L, n->line, n->col, "conditions nested deeper than %d "
		    "levels", CBP_RULE_DEPTH);
		return NULL;
	}
	if (n->n == 0) {
		report(L, n->line, n->col, "empty condition");
		return NULL;
	}
	bad = map_fields(L, n, "a condition", cond_names, CBP_C_KINDS, vals);
	if ((v = calloc(CBP_C_KINDS, sizeof(*v))) == NULL) {
		L->oom = 1;
		return NULL;
	}
	/* Keep the file's order; cond_list sorts by cost. */
	for (i = 0; i + 1 < n->n; i += 2) {
		const struct cbp_ynode *k = n->kid[i];
		size_t kind;

		if (k->type != CBP_Y_SCALAR)
			continue;
		for (kind = 0; kind < CBP_C_KINDS; kind++)
			if (strcmp(k->s, cond_names[kind]) == 0)
				break;
		if (kind == CBP_C_KINDS || vals[kind] != n->kid[i + 1])
			continue;
		if ((c = cond_parsers[kind](L, n->kid[i + 1], depth)) == NULL)
			bad++;
		else
			v[got++] = c;
	}
	if (bad || got == 0) {
		for (i = 0; i < got; i++)
			cond_free(v[i]);
		free(v);
		return NULL;
	}
	if (got == 1) {
		c = v[0];
		free(v);
		return c;
	}
	return cond_list(L, CBP_C_ALL, v, got);
}

/* ---- rules and files --------------------------------------------------------- */

static int
name_ok(const char *s, size_t len, const char *extra)
{
	size_t i;

	if (len == 0 || len > RULES_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr(extra, c) != NULL)))
			return 0;
	}
	return 1;
}

static uint64_t
id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The id table slot of id: its entry, or the empty slot for it. */
static struct cbp_rule_id *
id_slot(struct cbp_ruleset *rs, const char *id)
{
	size_t i = (size_t)id_hash(id) & (rs->ids_size - 1);

	while (rs->ids[i].id != NULL && strcmp(rs->ids[i].id, id) != 0)
		i = (i + 1) & (rs->ids_size - 1);
	return &rs->ids[i];
}

static int
id_grow(struct cbp_ruleset *rs)
{
	struct cbp_rule_id *old = rs->ids;
	size_t i, osz = rs->ids_size, nsz = osz ? osz * 2 : 64;

	if ((rs->ids = calloc(nsz, sizeof(*rs->ids))) == NULL) {
		rs->ids = old;
		return CBP_ENOMEM;
	}
	rs->ids_size = nsz;
	for (i = 0; i < osz; i++)
		if (old[i].id != NULL)
			*id_slot(rs, old[i].id) = old[i];
	free(old);
	return CBP_OK;
}

/* Register id; report it when it is taken.  -1 on a duplicate. */
static int
id_claim(struct loader *L, const struct cbp_ynode *n)
{
	struct cbp_ruleset *rs = L->rs;
	struct cbp_rule_id *e;

	if ((rs->nids + 1) * 2 > rs->ids_size && id_grow(rs) != CBP_OK) {
		L->oom = 1;
		return -1;
	}
	e = id_slot(rs, n->s);
	if (e->id != NULL) {
		report(L, n->line, n->col, "duplicate rule id '%s' (first "
		    "defined at %s:%d:%d)", n->s, e->file, e->line, e->col);
		return -1;
	}
	if ((e->id = xstrndup(L, n->s, n->len)) == NULL)
		return -1;
	if ((e->file = xstrndup(L, L->file, strlen(L->file))) == NULL) {
		free(e->id);
		e->id = NULL;
		return -1;
	}
	e->line = n->line;
	e->col = n->col;
	rs->nids++;
	return 0;
}

static int
want_severity(struct loader *L, const struct cbp_ynode *n, enum cbp_severity *out)
{
	char sb[64];

	if (want(L, n, CBP_Y_SCALAR, "severity") != 0)
		return -1;
	/* The names live once, in finding.c. */
	if (cbp_severity_parse(n->s, out) == CBP_OK)
		return 0;
	report(L, n->line, n->col, "bad severity '%s' (expected info, low, "
	    "medium, high or critical)", cbp_yaml_shown(n->s, n->len, sb, sizeof(sb)));
	return -1;
}

static void
rule_clear(struct cbp_rule *r)
{
	free(r->id);
	free(r->title);
	free(r->category);
	free(r->description);
	cond_free(r->when);
	memset(r, 0, sizeof(*r));
}

static int
rules_push(struct loader *L, struct cbp_rule *r)
{
	struct cbp_ruleset *rs = L->rs;
	struct cbp_rule *v;
	size_t na;

	if (rs->nrules == rs->alloc) {
		na = rs->alloc ? rs->alloc * 2 : 16;
		if ((v = realloc(rs->rules, na * sizeof(*v))) == NULL) {
			L->oom = 1;
			return -1;
		}
		rs->rules = v;
		rs->alloc = na;
	}
	rs->rules[rs->nrules++] = *r;
	return 0;
}

static int
copy_str(struct loader *L, const struct cbp_ynode *n, char **out)
{
	return (*out = xstrndup(L, n->s, n->len)) != NULL ? 0 : -1;
}

static void
parse_rule(struct loader *L, const struct cbp_ynode *n)
{
	static const char *const names[] = { "id", "title", "category",
	    "severity", "description", "enabled", "when" };
	static const char *const req[] = { "id", "title", "category",
	    "severity", NULL, NULL, "when" };
	struct cbp_rule r;
	struct cbp_ynode *v[7];
	char sb[64];
	size_t i;
	int bad;

	memset(&r, 0, sizeof(r));
	r.enabled = 1;
	if (want(L, n, CBP_Y_MAP, "rules entry") != 0)
		return;
	bad = map_fields(L, n, "a rule", names, 7, v);
	for (i = 0; i < 7; i++)
		if (req[i] != NULL)
			bad += require(L, n, v[i], req[i], "rule") != 0;
	if (v[0] != NULL && want_str(L, v[0], "id") == 0) {
		if (!name_ok(v[0]->s, v[0]->len, "._-")) {
			report(L, v[0]->line, v[0]->col, "bad rule id '%s' "
			    "(use a-z, 0-9, '.', '_' and '-', at most %d)",
			    cbp_yaml_shown(v[0]->s, v[0]->len, sb, sizeof(sb)),
			    RULES_NAME_MAX);
			bad++;
		} else if (id_claim(L, v[0]) != 0)
			bad++;
		else
			bad += copy_str(L, v[0], &r.id) != 0;
	} else if (v[0] != NULL)
		bad++;
	if (v[1] != NULL)
		bad += want_str(L, v[1], "title") != 0 ||
		    copy_str(L, v[1], &r.title) != 0;
	if (v[2] != NULL && want_str(L, v[2], "category") == 0) {
		if (!name_ok(v[2]->s, v[2]->len, "_-")) {
			report(L, v[2]->line, v[2]->col, "bad category '%s' "
			    "(use a-z, 0-9, '_' and '-')",
			    cbp_yaml_shown(v[2]->s, v[2]->len, sb, sizeof(sb)));
			bad++;
		} else
			bad += copy_str(L, v[2], &r.category) != 0;
	} else if (v[2] != NULL)
		bad++;
	if (v[3] != NULL)
		bad += want_severity(L, v[3], &r.severity) != 0;
	if (v[4] != NULL)
		bad += want(L, v[4], CBP_Y_SCALAR, "description") != 0 ||
		    copy_str(L, v[4], &r.description) != 0;
	if (v[5] != NULL)
		bad += want_bool(L, v[5], "enabled", &r.enabled) != 0;
	if (v[6] != NULL && (r.when = parse_cond(L, v[6], 0)) == NULL)
		bad++;
	if (bad || L->rs->nrules >= CBP_RULES_MAX || rules_push(L, &r) != 0) {
		if (!bad && L->rs->nrules >= CBP_RULES_MAX)
			report(L, n->line, n->col, "too many rules (limit %d)",
			    CBP_RULES_MAX);
		rule_clear(&r);
	}
}

static int
add_mask_key(struct loader *L, const struct cbp_ynode *n)
{
	struct cbp_ruleset *rs = L->rs;
	char **v;
	size_t i, na;

	for (i = 0; i < rs->nmask; i++)
		if (strcasecmp(rs->mask_keys[i], n->s) == 0)
			return 0;
	if (rs->nmask == rs->mask_alloc) {
		na = rs->mask_alloc ? rs->mask_alloc * 2 : 16;
		if ((v = realloc(rs->mask_keys, na * sizeof(*v))) == NULL) {
			L->oom = 1;
			return -1;
		}
		rs->mask_keys = v;
		rs->mask_alloc = na;
	}
	if ((rs->mask_keys[rs->nmask] = xstrndup(L, n->s, n->len)) == NULL)
		return -1;
	rs->nmask++;
	return 0;
}

static void
parse_mask_keys(struct loader *L, const struct cbp_ynode *n)
{
	size_t i, j;

	if (want(L, n, CBP_Y_SEQ, "mask_keys") != 0)
		return;
	for (i = 0; i < n->n; i++) {
		const struct cbp_ynode *k = n->kid[i];

		if (want_str(L, k, "mask_keys") != 0)
			continue;
		for (j = 0; j < k->len; j++) {
			unsigned char c = (unsigned char)k->s[j];

			if (!(isalnum(c) || c == '_' || c == '.' || c == '-') ||
			    (j == 0 && !(isalpha(c) || c == '_')))
				break;
		}
		if (j < k->len) {
			report(L, k->line, k->col, "bad key name in mask_keys "
			    "(letters, digits, '_', '.', '-'; not a digit first)");
			continue;
		}
		(void)add_mask_key(L, k);
	}
}

static void
parse_file(struct loader *L, const struct cbp_ynode *root)
{
	static const char *const names[] = { "version", "mask_keys", "rules" };
	struct cbp_ynode *v[3];
	size_t i;

	if (root == NULL) {
		report(L, 1, 1, "empty rule file (expected a mapping with "
		    "'rules')");
		return;
	}
	if (root->type != CBP_Y_MAP) {
		if (root->type != CBP_Y_BAD)
			report(L, root->line, root->col, "a rule file must be "
			    "a mapping with 'rules', not %s",
			    cbp_ynode_type_name(root->type));
		return;
	}
	(void)map_fields(L, root, "the rule file", names, 3, v);
	if (v[0] != NULL && want(L, v[0], CBP_Y_SCALAR, "version") == 0 &&
	    strcmp(v[0]->s, "1") != 0)
		report(L, v[0]->line, v[0]->col, "unsupported version "
		    "(expected 1)");
	if (v[1] != NULL)
		parse_mask_keys(L, v[1]);
	if (require(L, root, v[2], "rules", "rule file") != 0 ||
	    want(L, v[2], CBP_Y_SEQ, "rules") != 0)
		return;
	for (i = 0; i < v[2]->n && !L->oom; i++)
		parse_rule(L, v[2]->kid[i]);
}

/* ---- the ruleset ------------------------------------------------------------------ */

struct cbp_ruleset *
cbp_ruleset_new(void)
{
	return calloc(1, sizeof(struct cbp_ruleset));
}

void
cbp_ruleset_free(struct cbp_ruleset *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nrules; i++)
		rule_clear(&rs->rules[i]);
	free(rs->rules);
	for (i = 0; i < rs->nmask; i++)
		free(rs->mask_keys[i]);
	free(rs->mask_keys);
	for (i = 0; i < rs->ids_size; i++) {
		free(rs->ids[i].id);
		free(rs->ids[i].file);
	}
	free(rs->ids);
	EVP_MD_CTX_free(rs->digest_ctx);
	free(rs);
}

/* The YAML layer's messages go through report(), counted and capped. */
static void
yaml_diag(void *arg, const char *file, int line, int col, const char *msg)
{
	(void)file;
	report(arg, line, col, "%s", msg);
}

int
cbp_ruleset_load_string(struct cbp_ruleset *rs, const char *name,
    const char *text, size_t len, cbp_rules_diag_fn diag, void *arg)
{
	struct loader L;
	struct cbp_yaml_src src;
	struct cbp_ynode *root = NULL;
	int r;

	if (rs == NULL || rs->compiled || (text == NULL && len > 0))
		return CBP_EINVAL;
	memset(&L, 0, sizeof(L));
	L.rs = rs;
	L.file = name != NULL ? name : "(string)";
	L.diag = diag;
	L.arg = arg;
	if (text == NULL)
		text = "";
	src.file = L.file;
	src.kind = "rule file";
	src.diag = yaml_diag;
	src.arg = &L;
	/* Every source loaded is part of the digest, in load order. */
	if (rs->digest_ctx == NULL && (rs->digest_ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(rs->digest_ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(rs->digest_ctx);
		rs->digest_ctx = NULL;
	}
	if (rs->digest_ctx == NULL || EVP_DigestUpdate(rs->digest_ctx, text, len) != 1)
		rs->digest_failed = 1;
	/* On CBP_ESYNTAX a tree may still come back (an alias is a CBP_Y_BAD
	 * node): check it too, so one run lists every problem. */
	r = cbp_yaml_parse(&src, text, len, &root);
	if (r == CBP_ENOMEM)
		L.oom = 1;
	else if (root != NULL || r == CBP_OK)
		parse_file(&L, root);
	cbp_ynode_free(root);
	if (L.oom) {
		rs->failed = 1;
		return CBP_ENOMEM;
	}
	if (L.errors > 0) {
		rs->failed = 1;
		return CBP_ESYNTAX;
	}
	return CBP_OK;
}

static void
io_diag(cbp_rules_diag_fn diag, void *arg, const char *path, const char *what,
    int e)
{
	char msg[256];

	if (diag == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(e));
	diag(arg, path, 0, 0, msg);
}

static int
load_file(struct cbp_ruleset *rs, const char *path, cbp_rules_diag_fn diag,
    void *arg)
{
	struct cbp_yaml_src src = { path, "rule file", diag, arg };
	char *text;
	size_t len;
	int r;

	if ((r = cbp_yaml_read_file(&src, &text, &len, NULL)) != CBP_OK) {
		rs->failed = 1;
		return r;
	}
	r = cbp_ruleset_load_string(rs, path, text, len, diag, arg);
	free(text);
	return r;
}

int
cbp_rules_is_rule_file(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return 0;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep the most serious outcome: I/O and memory over syntax over OK. */
static int
worse(int a, int b)
{
	if (a == CBP_OK || (a == CBP_ESYNTAX && b != CBP_OK))
		return b;
	return a;
}

static int
load_dir(struct cbp_ruleset *rs, const char *path, cbp_rules_diag_fn diag,
    void *arg)
{
	struct dirent *de;
	char **names = NULL, **nv, *full;
	size_t n = 0, alloc = 0, i, plen = strlen(path);
	DIR *d;
	int r = CBP_OK;

	if ((d = opendir(path)) == NULL) {
		io_diag(diag, arg, path, "cannot open directory", errno);
		rs->failed = 1;
		return CBP_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (!cbp_rules_is_rule_file(de->d_name))
			continue;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			if ((nv = realloc(names, alloc * sizeof(*nv))) == NULL) {
				r = CBP_ENOMEM;
				goto out;
			}
			names = nv;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			r = CBP_ENOMEM;
			goto out;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && r != CBP_ENOMEM; i++) {
		size_t fl = plen + 1 + strlen(names[i]) + 1;

		if ((full = malloc(fl)) == NULL) {
			r = CBP_ENOMEM;
			break;
		}
		snprintf(full, fl, "%s%s%s", path,
		    plen > 0 && path[plen - 1] == '/' ? "" : "/", names[i]);
		r = worse(r, load_file(rs, full, diag, arg));
		free(full);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	if (r != CBP_OK)
		rs->failed = 1;
	return r;
}

int
cbp_ruleset_load(struct cbp_ruleset *rs, const char *path,
    cbp_rules_diag_fn diag, void *arg)
{
	struct stat st;

	if (rs == NULL || path == NULL || rs->compiled)
		return CBP_EINVAL;
	if (stat(path, &st) != 0) {
		io_diag(diag, arg, path, "cannot open", errno);
		rs->failed = 1;
		return CBP_EIO;
	}
	if (S_ISDIR(st.st_mode))
		return load_dir(rs, path, diag, arg);
	return load_file(rs, path, diag, arg);
}

static unsigned
cond_needs(const struct cbp_cond *c)
{
	unsigned n = 0;
	size_t i;

	switch (c->kind) {
	case CBP_C_ALL:
	case CBP_C_ANY:
		for (i = 0; i < c->u.list.n; i++)
			n |= cond_needs(c->u.list.v[i]);
		return n;
	case CBP_C_NOT:
		return cond_needs(c->u.child);
	case CBP_C_MAGIC:
		return CBP_NEED_DESCRIPTION;
	case CBP_C_CONTENT:
	case CBP_C_BYTES:
		return c->cost == CBP_COST_FILE ? CBP_NEED_CONTENT : 0;
	case CBP_C_META:
	case CBP_C_IMAGE:
	case CBP_C_KV:
		return CBP_NEED_META;
	case CBP_C_RECORD:
		if (c->u.record.where & CBP_WHERE_STANDALONE)
			n |= CBP_NEED_RECORD;
		if (c->u.record.where & CBP_WHERE_EMBEDDED)
			n |= CBP_NEED_CARVE;
		return n;
	default:
		return 0;
	}
}

/* The hex of the sources' SHA-256, or "" when hashing failed on the way. */
static void
finish_digest(struct cbp_ruleset *rs)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	rs->digest[0] = '\0';
	if (rs->digest_failed || rs->digest_ctx == NULL ||
	    EVP_DigestFinal_ex(rs->digest_ctx, d, &n) != 1 || n != 32)
		return;
	cbp_hex_encode(d, 32, rs->digest);
}

int
cbp_ruleset_compile(struct cbp_ruleset *rs, cbp_rules_diag_fn diag, void *arg)
{
	size_t i;

	if (rs == NULL)
		return CBP_EINVAL;
	if (rs->compiled)
		return CBP_OK;
	if (rs->failed)
		return CBP_ESYNTAX;
	if (rs->nrules == 0) {
		if (diag != NULL)
			diag(arg, "(rules)", 0, 0, "no rules loaded");
		return CBP_ESYNTAX;
	}
	rs->needs = 0;
	for (i = 0; i < rs->nrules; i++)
		if (rs->rules[i].enabled)
			rs->needs |= cond_needs(rs->rules[i].when);
	if (rs->max_groups == 0)
		rs->max_groups = 1;
	finish_digest(rs);
	rs->compiled = 1;
	return CBP_OK;
}

const char *
cbp_ruleset_digest(const struct cbp_ruleset *rs)
{
	return rs != NULL && rs->compiled && rs->digest[0] != '\0' ?
	    rs->digest : NULL;
}

size_t
cbp_ruleset_count(const struct cbp_ruleset *rs)
{
	size_t i, n = 0;

	if (rs == NULL)
		return 0;
	for (i = 0; i < rs->nrules; i++)
		n += rs->rules[i].enabled != 0;
	return n;
}

int
cbp_ruleset_rule(const struct cbp_ruleset *rs, size_t i,
    struct cbp_rule_info *out)
{
	const struct cbp_rule *r;

	if (rs == NULL || !rs->compiled || i >= rs->nrules || out == NULL)
		return CBP_EINVAL;
	r = &rs->rules[i];
	out->id = r->id;
	out->category = r->category;
	out->title = r->title;
	out->severity = r->severity;
	out->enabled = r->enabled;
	return CBP_OK;
}

unsigned
cbp_ruleset_needs(const struct cbp_ruleset *rs)
{
	return rs != NULL ? rs->needs : 0;
}
