/*
 * cbp_config.h — the configuration file (cbpscan.conf(5)), YAML.
 *
 * Values a scan needs that do not belong on a command line or that an
 * agency wants fixed for cron: rule paths, exclusions, threads, limits and
 * the authorized locations with their retention.  Options given on the
 * command line override the file.  Errors name file:line:col.
 */
#ifndef CBP_CONFIG_H
#define CBP_CONFIG_H

#include <stddef.h>

#include "cbp_deliver.h"
#include "cbp_expand.h"
#include "cbp_facts.h"
#include "cbp_scan.h"

#define CBP_CONFIG_LIST_MAX 64		/* entries in rules / exclude lists */
#define CBP_CONFIG_AUTHZ_MAX 256	/* authorized locations */
#define CBP_CONFIG_KNOWN_MAX 64		/* known-image list entries (known:) */

/*
 * One known-image list (known: PATH, or {path, name, threshold}): a file
 * or a directory of list files (cbp_known.h).  name NULL: the file's base
 * name; threshold -1: the default (CBP_KNOWN_PDQ_DEFAULT_THRESHOLD).
 */
struct cbp_config_known {
	char *path;
	char *name;
	int threshold;
};

struct cbp_config {
	char **rules;
	size_t nrules;
	char **excludes;
	size_t nexcludes;
	unsigned threads;		/* 1..1024; 0 = not set: online CPUs */
	int one_file_system;
	int strict;
	struct cbp_scan_caps caps;
	struct cbp_expand_limits expand;
	/* Parser workers (limits.object_timeout, member_timeout, worker_memory). */
	uint64_t object_timeout_ms, member_timeout_ms;
	size_t worker_memory;
	uint64_t split_min;		/* limits.split_min (CBP_SPLIT_MIN) */
	struct cbp_authz *authz;
	size_t nauthz;
	/* Known-image lists (known:); --known adds to them. */
	struct cbp_config_known *known;
	size_t nknown;
	/* Keep the built index in the state directory (known_cache:, default
	 * true; cbp_known_cache.h); --no-known-cache clears it. */
	int known_cache;
	struct cbp_deliver_config delivery;	/* "delivery:" (cbp_deliver.h) */
};

struct cbp_config_diag {
	char message[1024];		/* "file:line:col: what is wrong" */
};

/* Defaults from cbp_limits.h; no allocation. */
void cbp_config_defaults(struct cbp_config *c);

/*
 * Read path into c (over the defaults), through the YAML layer
 * (cbp_yaml.h: a regular file, not a symlink, at most CBP_YAML_FILE_MAX
 * bytes, UTF-8).  CBP_OK, or CBP_ESYNTAX / CBP_EIO / CBP_ELIMIT /
 * CBP_ENOMEM / CBP_EPERM (a file others can write: a cron job must not
 * take its rules from a world-writable file) with diag->message set to
 * "file:line:col: what is wrong" (no line:col when there is no position).
 */
int cbp_config_load(struct cbp_config *c, const char *path,
    struct cbp_config_diag *diag);

/* Same, from memory (the fuzz target); name is used in messages. */
int cbp_config_load_string(struct cbp_config *c, const char *name,
    const char *text, size_t len, struct cbp_config_diag *diag);

/* Replace *list with copies of v[0..n). */
int cbp_config_set_list(char ***list, size_t *n, const char *const *v, size_t nv);
/* Append copies of v[0..n). */
int cbp_config_add_list(char ***list, size_t *n, const char *const *v, size_t nv);

/* Append a known list (name may be NULL, threshold -1 = default). */
int cbp_config_add_known(struct cbp_config *c, const char *path,
    const char *name, int threshold);

void cbp_config_free(struct cbp_config *c);

#endif
