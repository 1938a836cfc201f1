/*
 * config.c — cbpscan.conf(5): a YAML mapping read with libfyaml.
 *
 * Recognised keys (see man/cbpscan.conf.5):
 *   rules: PATH | [PATH...]          exclude: GLOB | [GLOB...]
 *   threads: N                       one_file_system: bool
 *   strict: bool                     max_depth: N
 *   limits: {load_max, carve_max, hash_max, member_max, archive_total,
 *            archive_members, archive_ratio}
 *   authorized: [{path: GLOB, retention: DURATION}...]
 * Unknown keys are errors (a typo must not silently disable a setting);
 * every error says file:line:col.  The first error stops loading: unlike
 * rules there is one file and an auditor fixes it once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libfyaml.h>

#include "cbp_config.h"
#include "cbp_limits.h"

void
cbp_config_defaults(struct cbp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->caps.load_max = CBP_LOAD_MAX;
	c->caps.carve_max = CBP_CARVE_MAX;
	c->caps.hash_max = CBP_HASH_MAX;
	c->expand.max_depth = CBP_ARCHIVE_DEPTH;
	c->expand.max_members = CBP_ARCHIVE_MEMBERS;
	c->expand.member_max = CBP_MEMBER_MAX;
	c->expand.total_max = CBP_ARCHIVE_TOTAL;
	c->expand.max_ratio = CBP_ARCHIVE_RATIO;
}

static void
free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
cbp_config_free(struct cbp_config *c)
{
	size_t i;

	free_list(c->rules, c->nrules);
	free_list(c->excludes, c->nexcludes);
	for (i = 0; i < c->nauthz; i++)
		free(c->authz[i].glob);
	free(c->authz);
	c->rules = c->excludes = NULL;
	c->authz = NULL;
	c->nrules = c->nexcludes = c->nauthz = 0;
}

int
cbp_config_add_list(char ***list, size_t *n, const char *const *v, size_t nv)
{
	char **nl;
	size_t i;

	if (*n + nv > CBP_CONFIG_LIST_MAX)
		return CBP_ELIMIT;
	if ((nl = realloc(*list, (*n + nv + 1) * sizeof(*nl))) == NULL)
		return CBP_ENOMEM;
	*list = nl;
	for (i = 0; i < nv; i++) {
		if ((nl[*n] = strdup(v[i])) == NULL)
			return CBP_ENOMEM;
		(*n)++;
	}
	nl[*n] = NULL;
	return CBP_OK;
}

int
cbp_config_set_list(char ***list, size_t *n, const char *const *v, size_t nv)
{
	free_list(*list, *n);
	*list = NULL;
	*n = 0;
	return cbp_config_add_list(list, n, v, nv);
}

int
cbp_config_parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		return CBP_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return CBP_EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ULL << 10;
		end++;
		break;
	case 'm': case 'M':
		mul = 1ULL << 20;
		end++;
		break;
	case 'g': case 'G':
		mul = 1ULL << 30;
		end++;
		break;
	case 't': case 'T':
		mul = 1ULL << 40;
		end++;
		break;
	default:
		return CBP_EINVAL;
	}
	if (*end == 'i' || *end == 'B')	/* accept "64MiB", "64MB" as the same */
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0' || (v != 0 && mul > ~0ULL / v))
		return CBP_EINVAL;
	*out = v * mul;
	return CBP_OK;
}

int
cbp_config_parse_duration(const char *s, long long *out)
{
	char *end;
	long long v, mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		return CBP_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return CBP_EINVAL;
	switch (*end) {
	case '\0': case 's':
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
	default:
		return CBP_EINVAL;
	}
	if (*end != '\0')
		end++;
	if (*end != '\0' || (v != 0 && mul > 0x7fffffffffffffffLL / v))
		return CBP_EINVAL;
	*out = v * mul;
	return CBP_OK;
}

/* ---- YAML walking ------------------------------------------------------------ */

struct cfg_ctx {
	const char *path;
	struct cbp_config_diag *diag;
	struct cbp_config *c;
};

/*
 * Where a node starts.  libfyaml 0.7 keeps marks on tokens, not nodes: a
 * scalar has its token; a collection is located by its first scalar.
 */
static const struct fy_mark *
node_mark(struct fy_node *n, int depth)
{
	struct fy_token *t;
	void *iter = NULL;
	struct fy_node_pair *p;

	if (n == NULL || depth > 64)
		return NULL;
	if (fy_node_is_scalar(n))
		return (t = fy_node_get_scalar_token(n)) ? fy_token_start_mark(t) : NULL;
	if (fy_node_is_mapping(n))
		return (p = fy_node_mapping_iterate(n, &iter)) ?
		    node_mark(fy_node_pair_key(p), depth + 1) : NULL;
	if (fy_node_is_sequence(n))
		return node_mark(fy_node_sequence_iterate(n, &iter), depth + 1);
	return NULL;
}

static int __attribute__((format(printf, 3, 4)))
cfg_error(struct cfg_ctx *x, struct fy_node *n, const char *fmt, ...)
{
	const struct fy_mark *m = node_mark(n, 0);
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m != NULL)
		snprintf(x->diag->message, sizeof(x->diag->message),
		    "%s:%d:%d: %s", x->path, m->line + 1, m->column + 1, msg);
	else
		snprintf(x->diag->message, sizeof(x->diag->message), "%s: %s",
		    x->path, msg);
	return CBP_ESYNTAX;
}

static const char *
scalar(struct fy_node *n)
{
	return fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;
}

static int
get_bool(struct cfg_ctx *x, struct fy_node *n, const char *key, int *out)
{
	const char *s = scalar(n);

	if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0))
		*out = 1;
	else if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0))
		*out = 0;
	else
		return cfg_error(x, n, "%s: expected true or false", key);
	return CBP_OK;
}

static int
get_uint(struct cfg_ctx *x, struct fy_node *n, const char *key,
    unsigned long long min, unsigned long long max, int sizes,
    unsigned long long *out)
{
	const char *s = scalar(n);
	unsigned long long v;
	char *end;

	if (s == NULL)
		return cfg_error(x, n, "%s: expected a number", key);
	if (sizes) {
		if (cbp_config_parse_size(s, &v) != CBP_OK)
			return cfg_error(x, n, "%s: '%s' is not a size "
			    "(a number with an optional K, M, G or T suffix)", key, s);
	} else {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (*s < '0' || *s > '9' || errno != 0 || *end != '\0')
			return cfg_error(x, n, "%s: '%s' is not a whole number", key, s);
	}
	if (v < min || v > max)
		return cfg_error(x, n, "%s: %llu is out of range (%llu to %llu)",
		    key, v, min, max);
	*out = v;
	return CBP_OK;
}

/* A string or a sequence of strings, into *list. */
static int
get_list(struct cfg_ctx *x, struct fy_node *n, const char *key, char ***list,
    size_t *nl)
{
	struct fy_node *it;
	void *iter = NULL;
	const char *s;
	int r;

	if ((s = scalar(n)) != NULL)
		return cbp_config_set_list(list, nl, &s, 1) == CBP_OK ? CBP_OK :
		    cfg_error(x, n, "%s: out of memory", key);
	if (!fy_node_is_sequence(n))
		return cfg_error(x, n, "%s: expected a string or a list of strings", key);
	if ((r = cbp_config_set_list(list, nl, NULL, 0)) != CBP_OK)
		return r;
	while ((it = fy_node_sequence_iterate(n, &iter)) != NULL) {
		if ((s = scalar(it)) == NULL)
			return cfg_error(x, it, "%s: expected a string", key);
		if (cbp_config_add_list(list, nl, &s, 1) != CBP_OK)
			return cfg_error(x, it, "%s: too many entries (at most %d)",
			    key, CBP_CONFIG_LIST_MAX);
	}
	return CBP_OK;
}

static int
get_limits(struct cfg_ctx *x, struct fy_node *map)
{
	struct fy_node_pair *p;
	void *iter = NULL;
	unsigned long long v;
	int r;

	if (!fy_node_is_mapping(map))
		return cfg_error(x, map, "limits: expected a mapping");
	while ((p = fy_node_mapping_iterate(map, &iter)) != NULL) {
		struct fy_node *k = fy_node_pair_key(p), *val = fy_node_pair_value(p);
		const char *key = scalar(k);
		if (key == NULL)
			return cfg_error(x, k, "limits: keys must be strings");
		if (strcmp(key, "load_max") == 0) {
			if ((r = get_uint(x, val, key, 64 * 1024, 1ULL << 32, 1, &v)))
				return r;
			x->c->caps.load_max = (size_t)v;
		} else if (strcmp(key, "carve_max") == 0) {
			if ((r = get_uint(x, val, key, 0, 1ULL << 44, 1, &v)))
				return r;
			x->c->caps.carve_max = (size_t)v;
		} else if (strcmp(key, "hash_max") == 0) {
			if ((r = get_uint(x, val, key, 64 * 1024, 1ULL << 44, 1, &v)))
				return r;
			x->c->caps.hash_max = v;
		} else if (strcmp(key, "member_max") == 0) {
			if ((r = get_uint(x, val, key, 64 * 1024, 1ULL << 32, 1, &v)))
				return r;
			x->c->expand.member_max = (size_t)v;
		} else if (strcmp(key, "archive_total") == 0) {
			if ((r = get_uint(x, val, key, 1 << 20, 1ULL << 44, 1, &v)))
				return r;
			x->c->expand.total_max = v;
		} else if (strcmp(key, "archive_members") == 0) {
			if ((r = get_uint(x, val, key, 1, 100000000, 0, &v)))
				return r;
			x->c->expand.max_members = v;
		} else if (strcmp(key, "archive_ratio") == 0) {
			if ((r = get_uint(x, val, key, 2, 1000000, 0, &v)))
				return r;
			x->c->expand.max_ratio = (unsigned)v;
		} else {
			return cfg_error(x, k, "limits: unknown key '%s' (known: "
			    "load_max, carve_max, hash_max, member_max, archive_total, "
			    "archive_members, archive_ratio)", key);
		}
	}
	return CBP_OK;
}

static int
get_authz(struct cfg_ctx *x, struct fy_node *seq)
{
	struct fy_node *it;
	void *iter = NULL;

	if (!fy_node_is_sequence(seq))
		return cfg_error(x, seq, "authorized: expected a list of "
		    "{path: GLOB, retention: DURATION}");
	while ((it = fy_node_sequence_iterate(seq, &iter)) != NULL) {
		struct fy_node *pn, *rn;
		struct cbp_authz *na, *a;
		const char *glob, *ret;
		long long secs = -1;

		if (!fy_node_is_mapping(it))
			return cfg_error(x, it, "authorized: each entry is a "
			    "mapping with path and retention");
		pn = fy_node_mapping_lookup_by_string(it, "path", FY_NT);
		rn = fy_node_mapping_lookup_by_string(it, "retention", FY_NT);
		if (pn == NULL || (glob = scalar(pn)) == NULL || *glob == '\0')
			return cfg_error(x, it, "authorized: 'path' (a glob) is required");
		if (fy_node_mapping_item_count(it) > 1 + (rn != NULL))
			return cfg_error(x, it, "authorized: only 'path' and "
			    "'retention' are allowed in an entry");
		if (rn != NULL && ((ret = scalar(rn)) == NULL ||
		    cbp_config_parse_duration(ret, &secs) != CBP_OK))
			return cfg_error(x, rn, "authorized: retention must be a "
			    "duration such as 30d, 12h, 90m or 3600s");
		if (x->c->nauthz == CBP_CONFIG_AUTHZ_MAX)
			return cfg_error(x, it, "authorized: at most %d entries",
			    CBP_CONFIG_AUTHZ_MAX);
		na = realloc(x->c->authz, (x->c->nauthz + 1) * sizeof(*na));
		if (na == NULL)
			return cfg_error(x, it, "out of memory");
		x->c->authz = na;
		a = &na[x->c->nauthz];
		if ((a->glob = strdup(glob)) == NULL)
			return cfg_error(x, it, "out of memory");
		a->retention_s = secs;
		x->c->nauthz++;
	}
	return CBP_OK;
}

static int
apply_key(struct cfg_ctx *x, struct fy_node *k, struct fy_node *v)
{
	const char *key = scalar(k);
	unsigned long long n;
	int r;

	if (key == NULL)
		return cfg_error(x, k, "keys must be strings");
	if (strcmp(key, "rules") == 0)
		return get_list(x, v, key, &x->c->rules, &x->c->nrules);
	if (strcmp(key, "exclude") == 0)
		return get_list(x, v, key, &x->c->excludes, &x->c->nexcludes);
	if (strcmp(key, "threads") == 0) {
		if ((r = get_uint(x, v, key, 0, 1024, 0, &n)) == CBP_OK)
			x->c->threads = (unsigned)n;
		return r;
	}
	if (strcmp(key, "max_depth") == 0) {
		if ((r = get_uint(x, v, key, 0, 64, 0, &n)) == CBP_OK)
			x->c->expand.max_depth = (unsigned)n;
		return r;
	}
	if (strcmp(key, "one_file_system") == 0)
		return get_bool(x, v, key, &x->c->one_file_system);
	if (strcmp(key, "strict") == 0)
		return get_bool(x, v, key, &x->c->strict);
	if (strcmp(key, "limits") == 0)
		return get_limits(x, v);
	if (strcmp(key, "authorized") == 0)
		return get_authz(x, v);
	return cfg_error(x, k, "unknown key '%s' (known: rules, exclude, threads, "
	    "one_file_system, strict, max_depth, limits, authorized)", key);
}

/* The first parse error libfyaml collected, as file:line:col. */
static int
yaml_error(struct cfg_ctx *x, struct fy_diag *diag)
{
	void *iter = NULL;
	struct fy_diag_error *e;

	if (diag != NULL && (e = fy_diag_errors_iterate(diag, &iter)) != NULL) {
		snprintf(x->diag->message, sizeof(x->diag->message),
		    "%s:%d:%d: YAML syntax error: %s", x->path, e->line,
		    e->column, e->msg);	/* already 1-based, unlike node marks */
		return CBP_ESYNTAX;
	}
	snprintf(x->diag->message, sizeof(x->diag->message),
	    "%s: cannot parse the file as YAML", x->path);
	return CBP_ESYNTAX;
}

int
cbp_config_load(struct cbp_config *c, const char *path,
    struct cbp_config_diag *diag)
{
	struct cfg_ctx x = { path, diag, c };
	struct fy_diag_cfg dcfg;
	struct fy_diag *fyd = NULL;
	struct fy_parse_cfg pcfg;
	struct fy_document *doc = NULL;
	struct fy_node *root;
	struct fy_node_pair *p;
	void *iter = NULL;
	struct stat st;
	int r = CBP_OK;

	if (stat(path, &st) != 0) {
		snprintf(diag->message, sizeof(diag->message), "%s: cannot read "
		    "the configuration: %s", path, strerror(errno));
		return CBP_EIO;
	}
	/* Others could rewrite the rules a cron job runs with.  (Only regular
	 * files: /dev/null or a pipe from the shell hold no settings to tamper
	 * with later.) */
	if (S_ISREG(st.st_mode) && (st.st_mode & S_IWOTH)) {
		snprintf(diag->message, sizeof(diag->message), "%s: refusing a "
		    "world-writable configuration file (chmod o-w it)", path);
		return CBP_EPERM;
	}
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.level = FYET_ERROR;
	if ((fyd = fy_diag_create(&dcfg)) == NULL) {
		snprintf(diag->message, sizeof(diag->message), "out of memory");
		return CBP_ENOMEM;
	}
	fy_diag_set_collect_errors(fyd, true);
	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
	pcfg.diag = fyd;
	if ((doc = fy_document_build_from_file(&pcfg, path)) == NULL) {
		void *it = NULL;
		/* No document and no error: an empty file means all defaults. */
		if (fy_diag_errors_iterate(fyd, &it) == NULL)
			goto out;
		r = yaml_error(&x, fyd);
		goto out;
	}
	root = fy_document_root(doc);
	if (root == NULL)
		goto out;			/* an empty file: all defaults */
	if (!fy_node_is_mapping(root)) {
		r = cfg_error(&x, root, "expected a mapping of settings at the top level");
		goto out;
	}
	while ((p = fy_node_mapping_iterate(root, &iter)) != NULL)
		if ((r = apply_key(&x, fy_node_pair_key(p), fy_node_pair_value(p))) != CBP_OK)
			goto out;
out:
	fy_document_destroy(doc);
	fy_diag_destroy(fyd);
	return r;
}
