/*
 * cbp_match.h — evaluating a compiled ruleset against one object.
 *
 * A matcher belongs to one worker thread: it holds the PCRE2 match data and
 * JIT stack, and scratch for evidence.  The ruleset it evaluates is shared.
 * Each condition kind is one entry of a table of matcher operations
 * (scanner/match.c); conditions pull what they need from struct cbp_facts,
 * which computes it lazily, so evaluation is cheap-first.
 */
#ifndef CBP_MATCH_H
#define CBP_MATCH_H

#include "cbp_err.h"
#include "cbp_facts.h"
#include "cbp_finding.h"
#include "cbp_rules.h"

struct cbp_matcher;

/* One rule that matched: valid during the callback only. */
struct cbp_rule_hit {
	const char *id;
	const char *title;
	const char *category;
	enum cbp_severity severity;
	const char *evidence;	/* masked (plate/document numbers), never image bytes */
};

typedef int (*cbp_hit_fn)(void *arg, const struct cbp_rule_hit *hit);

struct cbp_matcher *cbp_matcher_new(const struct cbp_ruleset *rs);
void cbp_matcher_free(struct cbp_matcher *m);

/*
 * Evaluate every rule on f; call hit() for each rule that matches, in rule
 * order.  A non-zero return from hit stops evaluation and is returned.
 * Problems computing facts do not fail matching (they stay in
 * f->problem); CBP_ENOMEM does.
 */
int cbp_match_object(struct cbp_matcher *m, struct cbp_facts *f,
    cbp_hit_fn hit, void *arg);

#endif
