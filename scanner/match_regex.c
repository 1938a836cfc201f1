/*
 * match_regex.c — running one compiled regex with the matcher's state.
 *
 * Every search goes through here so that the same guards apply everywhere:
 * the literal prefilter (memmem for a literal every match must contain, or
 * memchr for one required byte) rejects most subjects without entering
 * PCRE2; the match context carries the backtracking, depth and heap limits
 * and the worker's own JIT stack; the match data is the worker's own.  A
 * search that hits a limit counts as no match and is noted as the object's
 * problem, so the scan reports it ("limit") instead of hanging on a hostile
 * file.
 */
#include <string.h>

#include "cbp_err.h"
#include "cbp_rules_int.h"

int
cbp_rx_search(struct cbp_matcher *m, const struct cbp_regex *re,
    const void *s, size_t n, struct cbp_rx_hit *hit)
{
	const unsigned char *p = s != NULL ? s : (const unsigned char *)"";
	PCRE2_SIZE *ov;
	uint32_t g;
	int rc;

	if (s == NULL)
		n = 0;
	if (re->lit != NULL &&
	    (n < re->lit_len || memmem(p, n, re->lit, re->lit_len) == NULL))
		return CBP_RX_NOMATCH;
	if (re->lit == NULL && re->unit >= 0 && memchr(p, re->unit, n) == NULL)
		return CBP_RX_NOMATCH;
	rc = pcre2_match(re->code, p, n, 0, 0, m->md, m->mctx);
	if (rc < 0) {
		switch (rc) {
		case PCRE2_ERROR_MATCHLIMIT:
		case PCRE2_ERROR_DEPTHLIMIT:
		case PCRE2_ERROR_HEAPLIMIT:
		case PCRE2_ERROR_JIT_STACKLIMIT:
		case PCRE2_ERROR_NOMEMORY:
			return CBP_RX_LIMIT;
		default:
			return CBP_RX_NOMATCH;
		}
	}
	if (hit == NULL)
		return CBP_RX_MATCH;
	ov = pcre2_get_ovector_pointer(m->md);
	hit->start = ov[0] <= n ? ov[0] : n;
	/* \K can put the start after the end; keep the span well formed. */
	hit->end = ov[1] >= hit->start && ov[1] <= n ? ov[1] : hit->start;
	hit->mstart = hit->mend = 0;
	g = re->mask_group;
	if (g > 0 && g < pcre2_get_ovector_count(m->md) &&
	    ov[2 * g] != PCRE2_UNSET && ov[2 * g] <= ov[2 * g + 1] &&
	    ov[2 * g + 1] <= n) {
		hit->mstart = ov[2 * g];
		hit->mend = ov[2 * g + 1];
	}
	return CBP_RX_MATCH;
}

int
cbp_rx_test(struct cbp_matcher *m, struct cbp_facts *f,
    const struct cbp_regex *re, const void *s, size_t n,
    struct cbp_rx_hit *hit)
{
	switch (cbp_rx_search(m, re, s, n, hit)) {
	case CBP_RX_MATCH:
		return 1;
	case CBP_RX_LIMIT:
		if (f != NULL)
			(void)cbp_error_set(&f->problem, CBP_ELIMIT, 0,
			    "regex match limit reached; rules evaluated as "
			    "not matching");
		return 0;
	default:
		return 0;
	}
}
