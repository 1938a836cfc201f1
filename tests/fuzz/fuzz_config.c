/*
 * fuzz_config.c — libFuzzer target for the configuration path: the shared
 * YAML layer (byte checks, caps, event parser, tree) and config.c's
 * checks on top of it, through cbp_config_load_string.
 *
 * The sanitizers catch memory errors and leaks; libFuzzer's -timeout
 * catches a hang (the invalid-UTF-8 seed used to make libfyaml loop for
 * ever).  The checks below are what they cannot see: a load fails with
 * ESYNTAX or ENOMEM, never anything else; a failure always says
 * "name:line:col: message" or "name: message", a success says nothing;
 * every value that loaded is within the range the man page gives, and
 * threads is never 0 once set (0 means "not set").  Each input is also
 * put through the grammar functions, which must agree with themselves.
 * Seeds: tests/fuzz/seeds/fuzz_config/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_config.h"
#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_yaml.h"

#define NAME "fuzz.yaml"

static void
check_config(const struct cbp_config *c)
{
	size_t i;

	if (c->threads > 1024 || c->expand.max_depth > 64 ||
	    c->caps.load_max < 64 * 1024 ||
	    c->expand.member_max < 64 * 1024 ||
	    c->expand.max_ratio < 2 || c->expand.max_members < 1 ||
	    c->nrules > CBP_CONFIG_LIST_MAX ||
	    c->nexcludes > CBP_CONFIG_LIST_MAX ||
	    c->nauthz > CBP_CONFIG_AUTHZ_MAX)
		abort();
	for (i = 0; i < c->nauthz; i++)
		if (c->authz[i].glob == NULL || c->authz[i].glob[0] == '\0' ||
		    c->authz[i].retention_s < -1)
			abort();
}

/* The grammar on the input's first line, as a C string. */
static void
fuzz_grammar(const uint8_t *d, size_t n)
{
	char s[64];
	uint64_t u, z;
	int64_t t;
	int b, r;

	if (n >= sizeof(s))
		n = sizeof(s) - 1;
	memcpy(s, d, n);
	s[n] = '\0';
	r = cbp_parse_uint(s, 0, UINT64_MAX, &u, NULL, 0);
	/* Every integer is a size, and means the same there. */
	if (r == CBP_OK && (cbp_parse_size(s, 0, UINT64_MAX, &z, NULL, 0) !=
	    CBP_OK || z != u))
		abort();
	if (r == CBP_OK && u > 0 &&
	    cbp_parse_uint(s, 0, u - 1, &z, NULL, 0) != CBP_ELIMIT)
		abort();
	(void)cbp_parse_size(s, 1, 1000, &z, NULL, 0);
	if (cbp_parse_duration(s, &t, NULL, 0) == CBP_OK && t < 0)
		abort();
	if (cbp_parse_bool(s, &b, NULL, 0) == CBP_OK && b != 0 && b != 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct cbp_config c;
	struct cbp_config_diag diag;
	int r;

	cbp_config_defaults(&c);
	memset(&diag, 0, sizeof(diag));
	r = cbp_config_load_string(&c, NAME, (const char *)d, n, &diag);
	if (r == CBP_OK) {
		if (diag.message[0] != '\0')
			abort();
		check_config(&c);
	} else {
		if (r != CBP_ESYNTAX && r != CBP_ENOMEM)
			abort();
		if (strncmp(diag.message, NAME ":", sizeof(NAME)) != 0 ||
		    strlen(diag.message) <= sizeof(NAME))
			abort();
	}
	cbp_config_free(&c);
	fuzz_grammar(d, n);
	return 0;
}
