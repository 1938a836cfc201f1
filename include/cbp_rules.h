/*
 * cbp_rules.h — loading and compiling rule files (YAML, libfyaml).
 *
 * The language is documented in man/cbpscan-rules.5.  Rules are compiled
 * once into an immutable ruleset that every worker shares read-only
 * (regexes compiled and JIT-compiled by PCRE2, globs and hex signatures
 * parsed, conditions ordered cheapest first).  Every error is reported with
 * file:line:col through the diagnostic callback, and loading goes on to
 * find the others, so `cbpscan rules check` can list them all.
 */
#ifndef CBP_RULES_H
#define CBP_RULES_H

#include <stddef.h>

#include "cbp_finding.h"

struct cbp_ruleset;

/* One diagnostic: file, 1-based line and column (0 if unknown), message. */
typedef void (*cbp_rules_diag_fn)(void *arg, const char *file, int line,
    int col, const char *msg);

struct cbp_ruleset *cbp_ruleset_new(void);
void cbp_ruleset_free(struct cbp_ruleset *rs);

/*
 * Add the rules of path: a .yaml/.yml file, or a directory whose *.yaml and
 * *.yml files are loaded in name order (not recursive).  Returns CBP_OK, or
 * CBP_ESYNTAX after reporting every error through diag (the ruleset must
 * then not be used), or CBP_EIO / CBP_ENOMEM.  Duplicate rule ids across
 * files are errors.
 */
int cbp_ruleset_load(struct cbp_ruleset *rs, const char *path,
    cbp_rules_diag_fn diag, void *arg);

/*
 * 1 if a directory entry of this name is a rule file that
 * cbp_ruleset_load would read from a directory (*.yaml, *.yml, not a dot
 * file): main.c checks the ownership of exactly those files.
 */
int cbp_rules_is_rule_file(const char *name);

/* Same, from memory; name is used in diagnostics. */
int cbp_ruleset_load_string(struct cbp_ruleset *rs, const char *name,
    const char *text, size_t len, cbp_rules_diag_fn diag, void *arg);

/* Finish: after this the ruleset is read-only.  CBP_ESYNTAX if empty. */
int cbp_ruleset_compile(struct cbp_ruleset *rs, cbp_rules_diag_fn diag,
    void *arg);

size_t cbp_ruleset_count(const struct cbp_ruleset *rs);

/* What `cbpscan rules list` shows of one rule; strings owned by the ruleset. */
struct cbp_rule_info {
	const char *id, *category, *title;
	enum cbp_severity severity;
	int enabled;		/* 0: enabled: false in its file, never evaluated */
};

/*
 * The i-th rule of a compiled ruleset, in load order (files in the order
 * given, a directory's files in name order), disabled ones included.
 * CBP_OK, or CBP_EINVAL when i is past the last rule (or rs is not
 * compiled).
 */
int cbp_ruleset_rule(const struct cbp_ruleset *rs, size_t i,
    struct cbp_rule_info *out);

/*
 * The ruleset in force, as the summary's "rules": SHA-256 (lowercase hex)
 * of the bytes of every rule source, concatenated in the order they were
 * loaded (files named one by one as given, a directory's files in name
 * order), so `cat FILES | sha256sum` in that order gives the same value.
 * NULL before cbp_ruleset_compile succeeded (or if hashing failed).
 */
const char *cbp_ruleset_digest(const struct cbp_ruleset *rs);

/* What the compiled rules may ask for (bitmask), so the scan can plan. */
enum cbp_ruleset_need {
	CBP_NEED_DESCRIPTION = 1 << 0,	/* full libmagic description */
	CBP_NEED_CONTENT = 1 << 1,	/* whole-content regex/bytes */
	CBP_NEED_META = 1 << 2,		/* image metadata */
	CBP_NEED_RECORD = 1 << 3,	/* standalone biometric record */
	CBP_NEED_CARVE = 1 << 4,	/* embedded biometric records */
};
unsigned cbp_ruleset_needs(const struct cbp_ruleset *rs);

#endif
