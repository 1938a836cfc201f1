/*
 * config.c — cbpscan.conf(5): a YAML mapping, read and parsed by the
 * shared YAML layer (yaml.c: size cap, UTF-8 check, no aliases, positions)
 * and checked here with the shared grammar of scalars (cbp_parse_*), the
 * same code that judges the rules' values and the command line's numbers.
 *
 * Recognised keys (see man/cbpscan.conf.5):
 *   rules: PATH | [PATH...]          exclude: GLOB | [GLOB...]
 *   threads: N                       one_file_system: bool
 *   strict: bool                     max_depth: N
 *   limits: {load_max, carve_max, hash_max, member_max, archive_total,
 *            object_timeout, member_timeout, worker_memory, split_min,
 *            archive_members, archive_ratio}
 *   authorized: [{path: GLOB, retention: DURATION}...]
 *   known: PATH | [PATH | {path: PATH, name: NAME, threshold: N}...]
 *   known_cache: bool
 * Unknown and duplicate keys are errors (a typo must not silently disable
 * a setting); every error says file:line:col.  The first error stops
 * loading: unlike rules there is one file and an auditor fixes it once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cbp_config.h"
#include "cbp_err.h"
#include "cbp_known.h"
#include "cbp_limits.h"
#include "cbp_yaml.h"

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
	c->object_timeout_ms = (uint64_t)CBP_OBJECT_TIMEOUT * 1000;
	c->member_timeout_ms = (uint64_t)CBP_MEMBER_TIMEOUT * 1000;
	c->worker_memory = CBP_WORKER_MEMORY;
	c->split_min = CBP_SPLIT_MIN;
	c->known_cache = 1;
	cbp_deliver_config_defaults(&c->delivery);
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
	cbp_deliver_config_free(&c->delivery);
	for (i = 0; i < c->nauthz; i++)
		free(c->authz[i].glob);
	free(c->authz);
	for (i = 0; i < c->nknown; i++) {
		free(c->known[i].path);
		free(c->known[i].name);
	}
	free(c->known);
	c->known = NULL;
	c->nknown = 0;
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
cbp_config_add_known(struct cbp_config *c, const char *path, const char *name,
    int threshold)
{
	struct cbp_config_known *nk, *k;

	if (c->nknown == CBP_CONFIG_KNOWN_MAX)
		return CBP_ELIMIT;
	if ((nk = realloc(c->known, (c->nknown + 1) * sizeof(*nk))) == NULL)
		return CBP_ENOMEM;
	c->known = nk;
	k = &nk[c->nknown];
	k->path = strdup(path);
	k->name = name != NULL ? strdup(name) : NULL;
	k->threshold = threshold;
	if (k->path == NULL || (name != NULL && k->name == NULL)) {
		free(k->path);
		free(k->name);
		return CBP_ENOMEM;
	}
	c->nknown++;
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

/* ---- walking the tree -------------------------------------------------------- */

/*
 * The first error stops loading (unlike rules, there is one file and an
 * auditor fixes it once): the YAML layer's diagnostics and ours land in
 * diag->message as "file:line:col: message".
 */
struct cfg_ctx {
	const char *path;
	struct cbp_config_diag *diag;
	struct cbp_config *c;
	int failed;
};

static void
cfg_diag(void *arg, const char *file, int line, int col, const char *msg)
{
	struct cfg_ctx *x = arg;

	if (x->failed++)
		return;
	if (line > 0)
		snprintf(x->diag->message, sizeof(x->diag->message),
		    "%s:%d:%d: %s", file, line, col, msg);
	else
		snprintf(x->diag->message, sizeof(x->diag->message), "%s: %s",
		    file, msg);
}

static int __attribute__((format(printf, 3, 4)))
cfg_error(struct cfg_ctx *x, const struct cbp_ynode *n, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_diag(x, x->path, n != NULL ? n->line : 0, n != NULL ? n->col : 0,
	    msg);
	return CBP_ESYNTAX;
}

/* A scalar's text, or NULL for anything else (and for text with a NUL). */
static const char *
scalar(const struct cbp_ynode *n)
{
	if (n == NULL || n->type != CBP_Y_SCALAR || strlen(n->s) != n->len)
		return NULL;
	return n->s;
}

/* What n is, for "expected X, not Y". */
static const char *
what_is(const struct cbp_ynode *n)
{
	if (n->type == CBP_Y_SCALAR && strlen(n->s) != n->len)
		return "a string with a NUL character";
	return cbp_ynode_type_name(n->type);
}

static int
get_bool(struct cfg_ctx *x, const struct cbp_ynode *n, const char *key, int *out)
{
	const char *s = scalar(n);
	char why[256];

	if (s == NULL)
		return cfg_error(x, n, "%s: expected true or false, not %s", key,
		    what_is(n));
	if (cbp_parse_bool(s, out, why, sizeof(why)) != CBP_OK)
		return cfg_error(x, n, "%s: %s", key, why);
	return CBP_OK;
}

/* A count in [min, max] (sizes: with the size grammar's suffixes). */
static int
get_uint(struct cfg_ctx *x, const struct cbp_ynode *n, const char *key,
    uint64_t min, uint64_t max, int sizes, uint64_t *out)
{
	const char *s = scalar(n);
	char why[256];
	int r;

	if (s == NULL)
		return cfg_error(x, n, "%s: expected a number, not %s", key,
		    what_is(n));
	r = sizes ? cbp_parse_size(s, min, max, out, why, sizeof(why)) :
	    cbp_parse_uint(s, min, max, out, why, sizeof(why));
	if (r != CBP_OK)
		return cfg_error(x, n, "%s: %s", key, why);
	return CBP_OK;
}

/* A string or a sequence of strings, into *list. */
static int
get_list(struct cfg_ctx *x, const struct cbp_ynode *n, const char *key,
    char ***list, size_t *nl)
{
	const char *s;
	size_t i;
	int r;

	if ((s = scalar(n)) != NULL)
		return cbp_config_set_list(list, nl, &s, 1) == CBP_OK ? CBP_OK :
		    cfg_error(x, n, "%s: out of memory", key);
	if (n->type != CBP_Y_SEQ)
		return cfg_error(x, n, "%s: expected a string or a list of "
		    "strings, not %s", key, what_is(n));
	if ((r = cbp_config_set_list(list, nl, NULL, 0)) != CBP_OK)
		return r;
	for (i = 0; i < n->n; i++) {
		if ((s = scalar(n->kid[i])) == NULL)
			return cfg_error(x, n->kid[i], "%s: expected a string, "
			    "not %s", key, what_is(n->kid[i]));
		if (cbp_config_add_list(list, nl, &s, 1) != CBP_OK)
			return cfg_error(x, n->kid[i], "%s: too many entries "
			    "(at most %d)", key, CBP_CONFIG_LIST_MAX);
	}
	return CBP_OK;
}

/*
 * Keys of map: strings, each once.  The YAML layer does not reject
 * duplicate keys (libfyaml's event parser does not see them), and with a
 * duplicate the later value would silently win.
 */
static int
check_keys(struct cfg_ctx *x, const struct cbp_ynode *map, const char *what)
{
	size_t i, j;
	char sb[64];

	for (i = 0; i + 1 < map->n; i += 2) {
		const struct cbp_ynode *k = map->kid[i];

		if (scalar(k) == NULL)
			return cfg_error(x, k, "%skeys must be strings", what);
		for (j = 0; j < i; j += 2)
			if (strcmp(map->kid[j]->s, k->s) == 0)
				return cfg_error(x, k, "%sduplicate key '%s' "
				    "(first at line %d; keep one)", what,
				    cbp_yaml_shown(k->s, k->len, sb, sizeof(sb)),
				    map->kid[j]->line);
	}
	return CBP_OK;
}

static int
get_limits(struct cfg_ctx *x, const struct cbp_ynode *map)
{
	uint64_t v;
	size_t i;
	char sb[64];
	int r;

	if (map->type != CBP_Y_MAP)
		return cfg_error(x, map, "limits: expected a mapping, not %s",
		    cbp_ynode_type_name(map->type));
	if ((r = check_keys(x, map, "limits: ")) != CBP_OK)
		return r;
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct cbp_ynode *k = map->kid[i], *val = map->kid[i + 1];
		const char *key = k->s;

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
		} else if (strcmp(key, "object_timeout") == 0 ||
		    strcmp(key, "member_timeout") == 0) {
			const char *t = scalar(val);
			int64_t secs;
			char why[160];

			if (t == NULL || cbp_parse_duration(t, &secs, why,
			    sizeof(why)) != CBP_OK || secs < 1 ||
			    secs > 7 * 24 * 3600)
				return cfg_error(x, val, "%s: expected a duration "
				    "from 1s to 7d (e.g. 30s, 10m)", key);
			if (key[0] == 'o')
				x->c->object_timeout_ms = (uint64_t)secs * 1000;
			else
				x->c->member_timeout_ms = (uint64_t)secs * 1000;
		} else if (strcmp(key, "worker_memory") == 0) {
			if ((r = get_uint(x, val, key, 64 << 20, 1ULL << 44, 1, &v)))
				return r;
			x->c->worker_memory = (size_t)v;
		} else if (strcmp(key, "split_min") == 0) {
			if ((r = get_uint(x, val, key, 0, 1ULL << 50, 1, &v)))
				return r;
			x->c->split_min = v;
		} else {
			return cfg_error(x, k, "limits: unknown key '%s' (known: "
			    "load_max, carve_max, hash_max, member_max, archive_total, "
			    "archive_members, archive_ratio, object_timeout, "
			    "member_timeout, worker_memory, split_min)",
			    cbp_yaml_shown(key, k->len, sb, sizeof(sb)));
		}
	}
	return CBP_OK;
}

static int
get_authz(struct cfg_ctx *x, const struct cbp_ynode *seq)
{
	size_t i, j;
	char sb[64];
	int r;

	if (seq->type != CBP_Y_SEQ)
		return cfg_error(x, seq, "authorized: expected a list of "
		    "{path: GLOB, retention: DURATION}");
	for (i = 0; i < seq->n; i++) {
		const struct cbp_ynode *it = seq->kid[i], *pn = NULL, *rn = NULL;
		struct cbp_authz *na, *a;
		const char *glob, *ret;
		int64_t secs = -1;

		if (it->type != CBP_Y_MAP)
			return cfg_error(x, it, "authorized: each entry is a "
			    "mapping with path and retention");
		if ((r = check_keys(x, it, "authorized: ")) != CBP_OK)
			return r;
		for (j = 0; j + 1 < it->n; j += 2) {
			const struct cbp_ynode *k = it->kid[j];

			if (strcmp(k->s, "path") == 0)
				pn = it->kid[j + 1];
			else if (strcmp(k->s, "retention") == 0)
				rn = it->kid[j + 1];
			else
				return cfg_error(x, k, "authorized: unknown key "
				    "'%s' (only 'path' and 'retention' are "
				    "allowed in an entry)",
				    cbp_yaml_shown(k->s, k->len, sb, sizeof(sb)));
		}
		if (pn == NULL || (glob = scalar(pn)) == NULL || *glob == '\0')
			return cfg_error(x, it, "authorized: 'path' (a glob) is required");
		if (rn != NULL && ((ret = scalar(rn)) == NULL ||
		    cbp_parse_duration(ret, &secs, NULL, 0) != CBP_OK))
			return cfg_error(x, rn, "authorized: retention must be a "
			    "duration such as 30d, 12h, 90m or 3600s (a whole "
			    "number with an optional s, m, h, d, w or y suffix)");
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

/* A string setting, replacing an earlier one. */
static int
get_str(struct cfg_ctx *x, const struct cbp_ynode *n, const char *key,
    char **out)
{
	const char *s = scalar(n);
	char *c;

	if (s == NULL || *s == '\0')
		return cfg_error(x, n, "delivery: %s: expected a non-empty "
		    "string", key);
	if ((c = strdup(s)) == NULL)
		return cfg_error(x, n, "out of memory");
	free(*out);
	*out = c;
	return CBP_OK;
}

static int
get_ms(struct cfg_ctx *x, const struct cbp_ynode *n, const char *key,
    uint64_t min, unsigned *out)
{
	uint64_t v;
	int r;

	if ((r = get_uint(x, n, key, min, 86400000, 0, &v)) == CBP_OK)
		*out = (unsigned)v;
	return r;
}

/* "delivery:" (cbpscan.conf(5) DELIVERY; struct cbp_deliver_config). */
static int
get_delivery(struct cfg_ctx *x, const struct cbp_ynode *map)
{
	struct cbp_deliver_config *d = &x->c->delivery;
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "endpoint", offsetof(struct cbp_deliver_config, endpoint) },
		{ "token_file", offsetof(struct cbp_deliver_config, token_file) },
		{ "ca_file", offsetof(struct cbp_deliver_config, ca_file) },
		{ "client_cert", offsetof(struct cbp_deliver_config, client_cert) },
		{ "client_key", offsetof(struct cbp_deliver_config, client_key) },
		{ "pinned_public_key", offsetof(struct cbp_deliver_config, pinned_pubkey) },
		{ "spool", offsetof(struct cbp_deliver_config, spool) },
		{ "index", offsetof(struct cbp_deliver_config, index) },
		{ "source", offsetof(struct cbp_deliver_config, source) },
		{ "sourcetype", offsetof(struct cbp_deliver_config, sourcetype) },
	};
	static const struct {
		const char *key;
		uint64_t min;
		size_t off;
	} ms[] = {
		{ "timeout_ms", 100, offsetof(struct cbp_deliver_config, timeout_ms) },
		{ "connect_timeout_ms", 100, offsetof(struct cbp_deliver_config, connect_timeout_ms) },
		{ "retry_min_ms", 1, offsetof(struct cbp_deliver_config, retry_min_ms) },
		{ "retry_max_ms", 1, offsetof(struct cbp_deliver_config, retry_max_ms) },
		{ "exit_wait_ms", 0, offsetof(struct cbp_deliver_config, exit_wait_ms) },
		{ "flush_wait_ms", 0, offsetof(struct cbp_deliver_config, flush_wait_ms) },
		{ "linger_ms", 1, offsetof(struct cbp_deliver_config, linger_ms) },
		{ "replay_rate", 0, offsetof(struct cbp_deliver_config, replay_rate) },
		{ "batch_records", 1, offsetof(struct cbp_deliver_config, batch_records) },
		{ "ack_wait_ms", 1, offsetof(struct cbp_deliver_config, ack_wait_ms) },
		{ "ack_poll_ms", 1, offsetof(struct cbp_deliver_config, ack_poll_ms) },
	};
	uint64_t v;
	size_t i, j;
	char sb[64];
	int r, f;

	if (map->type != CBP_Y_MAP)
		return cfg_error(x, map, "delivery: expected a mapping, not %s",
		    cbp_ynode_type_name(map->type));
	if ((r = check_keys(x, map, "delivery: ")) != CBP_OK)
		return r;
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct cbp_ynode *k = map->kid[i], *val = map->kid[i + 1];
		const char *key = k->s;
		int done = 0;

		for (j = 0; j < sizeof(strs) / sizeof(strs[0]) && !done; j++)
			if (strcmp(key, strs[j].key) == 0) {
				if ((r = get_str(x, val, key,
				    (char **)((char *)d + strs[j].off))) != CBP_OK)
					return r;
				done = 1;
			}
		for (j = 0; j < sizeof(ms) / sizeof(ms[0]) && !done; j++)
			if (strcmp(key, ms[j].key) == 0) {
				if ((r = get_ms(x, val, key, ms[j].min,
				    (unsigned *)((char *)d + ms[j].off))) != CBP_OK)
					return r;
				done = 1;
			}
		if (done)
			continue;
		if (strcmp(key, "format") == 0) {
			if (scalar(val) == NULL ||
			    (f = cbp_deliver_format_parse(val->s)) < 0)
				return cfg_error(x, val, "delivery: format: expected "
				    "ndjson, splunk-hec or elastic-bulk");
			d->format = f;
		} else if (strcmp(key, "gzip") == 0) {
			if ((r = get_bool(x, val, key, &d->gzip)) != CBP_OK)
				return r;
		} else if (strcmp(key, "mask_paths") == 0) {
			if ((r = get_bool(x, val, key, &d->mask_paths)) != CBP_OK)
				return r;
		} else if (strcmp(key, "ack") == 0) {
			if ((r = get_bool(x, val, key, &d->hec_ack)) != CBP_OK)
				return r;
		} else if (strcmp(key, "spool_max") == 0) {
			if ((r = get_uint(x, val, key, 64 * 1024, 1ULL << 44, 1,
			    &d->spool_max)) != CBP_OK)
				return r;
		} else if (strcmp(key, "batch_bytes") == 0) {
			if ((r = get_uint(x, val, key, 1024, 1ULL << 28, 1, &v)) != CBP_OK)
				return r;
			d->batch_bytes = v;
		} else {
			return cfg_error(x, k, "delivery: unknown key '%s' (see "
			    "cbpscan.conf(5) DELIVERY)",
			    cbp_yaml_shown(key, k->len, sb, sizeof(sb)));
		}
	}
	if (d->retry_max_ms < d->retry_min_ms)
		return cfg_error(x, map, "delivery: retry_max_ms is below "
		    "retry_min_ms");
	return CBP_OK;
}

/* One known: entry, a path or {path, name, threshold}. */
static int
get_known_entry(struct cfg_ctx *x, const struct cbp_ynode *it)
{
	const struct cbp_ynode *pn = NULL, *nn = NULL, *tn = NULL;
	const char *path, *name = NULL;
	uint64_t t;
	int threshold = -1, r;
	size_t j;
	char sb[64];

	if ((path = scalar(it)) == NULL) {
		if (it->type != CBP_Y_MAP)
			return cfg_error(x, it, "known: each entry is a path or "
			    "a mapping {path, name, threshold}, not %s",
			    what_is(it));
		if ((r = check_keys(x, it, "known: ")) != CBP_OK)
			return r;
		for (j = 0; j + 1 < it->n; j += 2) {
			const struct cbp_ynode *k = it->kid[j];

			if (strcmp(k->s, "path") == 0)
				pn = it->kid[j + 1];
			else if (strcmp(k->s, "name") == 0)
				nn = it->kid[j + 1];
			else if (strcmp(k->s, "threshold") == 0)
				tn = it->kid[j + 1];
			else
				return cfg_error(x, k, "known: unknown key '%s' "
				    "(only 'path', 'name' and 'threshold' are "
				    "allowed in an entry)",
				    cbp_yaml_shown(k->s, k->len, sb, sizeof(sb)));
		}
		if (pn == NULL || (path = scalar(pn)) == NULL)
			return cfg_error(x, it, "known: 'path' (a list file or "
			    "directory) is required");
		if (nn != NULL) {
			size_t i, n;

			if ((name = scalar(nn)) == NULL || (n = strlen(name)) == 0 ||
			    n > CBP_KNOWN_NAME_MAX)
				return cfg_error(x, nn, "known: name: expected 1 "
				    "to %d characters", CBP_KNOWN_NAME_MAX);
			for (i = 0; i < n; i++)
				if ((unsigned char)name[i] <= ' ' ||
				    name[i] == 0x7f)
					return cfg_error(x, nn, "known: name: no "
					    "blanks or control characters");
		}
		if (tn != NULL) {
			if ((r = get_uint(x, tn, "known: threshold", 0,
			    CBP_KNOWN_PDQ_MAX_THRESHOLD, 0, &t)) != CBP_OK)
				return r;
			threshold = (int)t;
		}
	}
	if (*path == '\0')
		return cfg_error(x, pn != NULL ? pn : it, "known: empty path");
	r = cbp_config_add_known(x->c, path, name, threshold);
	if (r == CBP_ELIMIT)
		return cfg_error(x, it, "known: at most %d entries",
		    CBP_CONFIG_KNOWN_MAX);
	if (r != CBP_OK)
		return cfg_error(x, it, "out of memory");
	return CBP_OK;
}

static int
get_known(struct cfg_ctx *x, const struct cbp_ynode *v)
{
	size_t i;
	int r;

	if (v->type != CBP_Y_SEQ)
		return get_known_entry(x, v);
	for (i = 0; i < v->n; i++)
		if ((r = get_known_entry(x, v->kid[i])) != CBP_OK)
			return r;
	return CBP_OK;
}

static int
apply_key(struct cfg_ctx *x, const struct cbp_ynode *k,
    const struct cbp_ynode *v)
{
	const char *key = k->s;
	uint64_t n;
	char sb[64];
	int r;

	if (strcmp(key, "rules") == 0)
		return get_list(x, v, key, &x->c->rules, &x->c->nrules);
	if (strcmp(key, "exclude") == 0)
		return get_list(x, v, key, &x->c->excludes, &x->c->nexcludes);
	if (strcmp(key, "threads") == 0) {
		/*
		 * 1 to 1024, as --threads: 0 is not a number of threads.  One
		 * per online CPU is what leaving the key out means.
		 */
		if (scalar(v) != NULL &&
		    cbp_parse_uint(v->s, 0, 0, &n, NULL, 0) == CBP_OK)
			return cfg_error(x, v, "threads: 0 is out of range (1 to "
			    "1024; leave threads out to use one per online CPU)");
		if ((r = get_uint(x, v, key, 1, 1024, 0, &n)) == CBP_OK)
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
	if (strcmp(key, "delivery") == 0)
		return get_delivery(x, v);
	if (strcmp(key, "known") == 0)
		return get_known(x, v);
	if (strcmp(key, "known_cache") == 0)
		return get_bool(x, v, key, &x->c->known_cache);
	return cfg_error(x, k, "unknown key '%s' (known: rules, exclude, threads, "
	    "one_file_system, strict, max_depth, limits, authorized, delivery, "
	    "known, known_cache)",
	    cbp_yaml_shown(key, k->len, sb, sizeof(sb)));
}

/* Apply the settings in text; x->path names it in messages. */
static int
load_text(struct cfg_ctx *x, const struct cbp_yaml_src *src, const char *text,
    size_t len)
{
	struct cbp_ynode *root = NULL;
	size_t i;
	int r;

	if ((r = cbp_yaml_parse(src, text, len, &root)) != CBP_OK)
		goto out;
	if (root == NULL)
		goto out;			/* an empty file: all defaults */
	if (root->type != CBP_Y_MAP) {
		r = cfg_error(x, root, "expected a mapping of settings at the "
		    "top level, not %s", cbp_ynode_type_name(root->type));
		goto out;
	}
	if ((r = check_keys(x, root, "")) != CBP_OK)
		goto out;
	for (i = 0; i + 1 < root->n; i += 2)
		if ((r = apply_key(x, root->kid[i], root->kid[i + 1])) != CBP_OK)
			goto out;
out:
	if (r == CBP_ENOMEM && x->diag->message[0] == '\0')
		snprintf(x->diag->message, sizeof(x->diag->message),
		    "%s: out of memory", x->path);
	cbp_ynode_free(root);
	return r;
}

int
cbp_config_load_string(struct cbp_config *c, const char *name,
    const char *text, size_t len, struct cbp_config_diag *diag)
{
	struct cfg_ctx x = { name != NULL ? name : "(string)", diag, c, 0 };
	struct cbp_yaml_src src = { x.path, "configuration file", cfg_diag, &x };

	diag->message[0] = '\0';
	return load_text(&x, &src, text, len);
}

int
cbp_config_load(struct cbp_config *c, const char *path,
    struct cbp_config_diag *diag)
{
	struct cfg_ctx x = { path, diag, c, 0 };
	struct cbp_yaml_src src = { path, "configuration file", cfg_diag, &x };
	struct stat st;
	char *text = NULL;
	size_t len;
	int r;

	diag->message[0] = '\0';
	if ((r = cbp_yaml_read_file(&src, &text, &len, &st)) != CBP_OK)
		goto out;
	/* Others could rewrite the settings a cron job runs with.  Checked
	 * on the descriptor that was read, not on the name. */
	if (st.st_mode & S_IWOTH) {
		snprintf(diag->message, sizeof(diag->message), "%s: refusing a "
		    "world-writable configuration file (chmod o-w it)", path);
		r = CBP_EPERM;
		goto out;
	}
	r = load_text(&x, &src, text, len);
out:
	if (r == CBP_ENOMEM && diag->message[0] == '\0')
		snprintf(diag->message, sizeof(diag->message), "%s: out of memory",
		    path);
	free(text);
	return r;
}
