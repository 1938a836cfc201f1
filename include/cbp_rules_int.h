/*
 * cbp_rules_int.h — the compiled ruleset, shared by rules.c (which builds
 * it) and match*.c (which evaluate it).  Private: nothing outside the rule
 * engine includes this.
 *
 * A rule's condition is a tree of struct cbp_cond.  Leaves carry what was
 * compiled from YAML (PCRE2 code, globs, hex signatures, ranges); the
 * children of all/any are sorted cheapest-first by cost (CBP_COST_*) when
 * built, so evaluation asks for expensive facts only when cheap ones did not
 * already decide.  Everything here is read-only after cbp_ruleset_compile().
 */
#ifndef CBP_RULES_INT_H
#define CBP_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "cbp_buf.h"
#include "cbp_facts.h"
#include "cbp_finding.h"
#include "cbp_match.h"
#include "cbp_rules.h"

/*
 * Evaluation cost, lowest first: what each kind of condition makes the
 * facts layer compute.  Composite conditions cost their dearest child.
 */
enum cbp_cost {
	CBP_COST_FREE = 0,	/* name, path, size, mime: known before matching */
	CBP_COST_HEAD_BYTES,	/* bytes at an offset inside the head */
	CBP_COST_HEAD_SCAN,	/* regex / byte search over the head */
	CBP_COST_MAGIC,		/* full libmagic description */
	CBP_COST_META,		/* image metadata parse (image, meta, kv) */
	CBP_COST_RECORD,	/* standalone biometric record parse */
	CBP_COST_FILE,		/* whole-content regex / bytes */
	CBP_COST_CARVE,		/* carving for embedded records */
};

enum cbp_cond_kind {
	CBP_C_ALL = 0,
	CBP_C_ANY,
	CBP_C_NOT,
	CBP_C_MIME,
	CBP_C_MAGIC,
	CBP_C_NAME,
	CBP_C_PATH,
	CBP_C_SIZE,
	CBP_C_CONTENT,
	CBP_C_BYTES,
	CBP_C_META,
	CBP_C_IMAGE,
	CBP_C_RECORD,
	CBP_C_KV,
	CBP_C_KINDS
};

enum cbp_scope { CBP_SCOPE_HEAD = 0, CBP_SCOPE_FILE };

#define CBP_WHERE_STANDALONE 1u
#define CBP_WHERE_EMBEDDED 2u

/* Caps on what one condition may hold (checked while loading). */
#define CBP_RULE_HEX_MAX 4096		/* bytes in one hex signature */
#define CBP_RULE_KV_REQUIRE 32		/* require entries in one kv condition */
#define CBP_RULE_REC_FIELDS 64		/* fields in one record condition */

struct cbp_regex {
	pcre2_code *code;
	uint32_t mask_group;		/* number of (?<mask>...), 0 if none */
	uint32_t ngroups;		/* capture groups */
	unsigned char *lit;		/* literal every match contains (prefilter) */
	size_t lit_len;
	int unit;			/* one required byte (weaker prefilter), or -1 */
};

struct cbp_globs {
	char **v;
	size_t n;			/* 0: every name */
};

struct cbp_kv_req {
	char **keys;			/* compared case-insensitively */
	size_t nkeys;
	struct cbp_regex *value;	/* NULL: any value */
};

struct cbp_rec_field {
	char *key;
	struct cbp_regex *re;
};

struct cbp_cond {
	enum cbp_cond_kind kind;
	enum cbp_cost cost;
	union {
		struct {
			struct cbp_cond **v;
			size_t n;
		} list;				/* all, any */
		struct cbp_cond *child;		/* not */
		struct cbp_globs mime;
		struct cbp_regex *re;		/* magic, name, path */
		struct {
			uint64_t min, max;
		} size;
		struct {
			struct cbp_regex *re;
			enum cbp_scope scope;
			size_t max;
		} content;
		struct {
			unsigned char *pat;
			unsigned char *care;	/* 0 where the hex said ?? */
			size_t len;
			uint64_t offset;
			int anywhere;
			enum cbp_scope scope;
			size_t max;
		} bytes;
		struct {
			struct cbp_globs fields;
			struct cbp_regex *re;
		} meta;
		struct {
			unsigned formats;	/* bit per enum cbp_image_format; 0 = any */
			uint64_t wmin, wmax, hmin, hmax;
			double amin, amax;
			int need_size;		/* width, height or aspect given */
		} image;
		struct {
			int kind;		/* enum cbp_record_kind; CBP_REC_NONE = any */
			unsigned where;		/* CBP_WHERE_* bits */
			struct cbp_rec_field *f;
			size_t nf;
		} record;
		struct {
			struct cbp_globs fields;
			struct cbp_kv_req *req;
			size_t nreq;
		} kv;
	} u;
};

struct cbp_rule {
	char *id, *title, *category, *description;
	enum cbp_severity severity;
	int enabled;
	struct cbp_cond *when;
};

struct cbp_rule_id {			/* id table entry, for duplicates */
	char *id;
	char *file;
	int line, col;
};

struct cbp_ruleset {
	struct cbp_rule *rules;
	size_t nrules, alloc;
	char **mask_keys;		/* union over all files */
	size_t nmask, mask_alloc;
	struct cbp_rule_id *ids;	/* open addressing, power-of-two size */
	size_t nids, ids_size;
	uint32_t max_groups;		/* sizes each matcher's match data */
	unsigned needs;
	int failed;			/* an error was reported: unusable */
	int compiled;
	void *digest_ctx;		/* SHA-256 over every source loaded (cbp_ruleset_digest) */
	int digest_failed;		/* hashing a source failed: no digest */
	char digest[65];		/* its hex, set by compile; "" if none */
};

/* ---- shared with the matcher --------------------------------------------- */

/* Result of running one regex. */
enum cbp_rx_result { CBP_RX_NOMATCH = 0, CBP_RX_MATCH, CBP_RX_LIMIT };

struct cbp_rx_hit {
	size_t start, end;		/* whole match */
	size_t mstart, mend;		/* group "mask", if matched (else equal) */
};

struct cbp_ev_item {
	size_t off, len;		/* in cbp_matcher.ev */
	int weak;			/* shown only when nothing stronger matched */
};

struct cbp_matcher {
	const struct cbp_ruleset *rs;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;
	struct cbp_ev_item *items;
	size_t nitems, items_alloc;
	struct cbp_dynbuf ev;		/* texts of the items */
	struct cbp_dynbuf tmp;		/* masking scratch */
	struct cbp_dynbuf out;		/* the evidence handed to hit() */
};

/* match_regex.c */
int cbp_rx_search(struct cbp_matcher *m, const struct cbp_regex *re,
    const void *s, size_t n, struct cbp_rx_hit *hit);
int cbp_rx_test(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_regex *re, const void *s, size_t n,
    struct cbp_rx_hit *hit);

/* match.c: evidence items (text is masked with the ruleset's mask keys
 * plus the given spans; collapse squeezes whitespace runs to one space). */
int cbp_ev_add(struct cbp_matcher *m, int weak, const char *prefix,
    const char *text, size_t len, const size_t *spans, size_t nspans,
    size_t focus, int collapse);
int cbp_ev_printf(struct cbp_matcher *m, int weak, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* match_meta.c: leaves that read image metadata and records. */
int cbp_eval_meta(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res);
int cbp_eval_image(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res);
int cbp_eval_kv(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res);
int cbp_eval_record(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_cond *c, int *res);

/* 1 if name matches one of the globs (or the list is empty). */
int cbp_globs_match(const struct cbp_globs *g, const char *name);

#endif
