/*
 * fuzz_rules.c — libFuzzer target for the rule loader and the KEY=VALUE
 * tokenizer.
 *
 * Each input is loaded as a rule file (cbp_ruleset_load_string, then
 * cbp_ruleset_compile when it loaded) and, since rule files and image
 * text metadata are both untrusted text, also tokenized and masked with
 * cbp_kv_each / cbp_kv_mask.  The sanitizers catch memory errors and
 * leaks; the checks below are the contract's invariants they cannot see:
 * every error is reported (and only errors), positions are never
 * negative, masking never lengthens text and is idempotent.  Seeds:
 * tests/fuzz/seeds/fuzz_rules/ (the shipped profile and tests/rules/).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_buf.h"
#include "cbp_err.h"
#include "cbp_kv.h"
#include "cbp_rules.h"

static void
diag(void *arg, const char *file, int line, int col, const char *msg)
{
	if (file == NULL || msg == NULL || msg[0] == '\0' || line < 0 || col < 0)
		abort();
	(*(int *)arg)++;
}

static int
pair(void *arg, const struct cbp_kv_pair *p)
{
	const uint8_t *const *bounds = arg;
	const uint8_t *k = (const uint8_t *)p->key, *v = (const uint8_t *)p->value;

	if (p->key_len == 0 || k < bounds[0] || k + p->key_len > bounds[1] ||
	    v < bounds[0] || v + p->value_len > bounds[1])
		abort();
	return 0;
}

static void
fuzz_kv(const uint8_t *d, size_t n)
{
	static const char *const keys[] = { "PLATE", "DOC_NUM", "a" };
	const uint8_t *bounds[2] = { d, d + n };
	struct cbp_dynbuf a, b;
	size_t spans[2] = { n / 3, n / 4 };

	if (cbp_kv_each((const char *)d, n, pair, bounds) != 0)
		abort();
	cbp_dynbuf_init(&a, n);
	cbp_dynbuf_init(&b, n);
	if (cbp_kv_mask((const char *)d, n, keys, 3, spans, 1, &a) != CBP_OK ||
	    a.len > n)
		abort();
	if (cbp_kv_mask((const char *)a.data, a.len, keys, 3, NULL, 0, &b) !=
	    CBP_OK || b.len > a.len)
		abort();
	cbp_dynbuf_free(&a);
	cbp_dynbuf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct cbp_ruleset *rs;
	int errors = 0, r;

	if ((rs = cbp_ruleset_new()) == NULL)
		return 0;
	r = cbp_ruleset_load_string(rs, "fuzz.yaml", (const char *)d, n, diag,
	    &errors);
	if ((r == CBP_OK) != (errors == 0) && r != CBP_ENOMEM)
		abort();
	if (r == CBP_OK) {
		r = cbp_ruleset_compile(rs, diag, &errors);
		if (r != CBP_OK && r != CBP_ESYNTAX)
			abort();
		if (r == CBP_OK && cbp_ruleset_count(rs) > 10000)
			abort();
	} else if (r != CBP_ESYNTAX && r != CBP_ENOMEM)
		abort();
	cbp_ruleset_free(rs);
	if (n > 0 && n <= 65536)
		fuzz_kv(d, n);
	return 0;
}
