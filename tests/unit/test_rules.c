/*
 * test_rules.c — cbp_rules.h: loading, diagnostics and compilation.
 *
 * One-liners in the style of yara's tests/util.h: assert_rule_error(yaml,
 * "x.yaml:L:C: message") loads yaml as "x.yaml" and checks the exact first
 * diagnostic; assert_rule_errors() checks all of them.  The rule cases in
 * tests/rules/ (bad/NAME.yaml next to the expected bad/NAME.err, and
 * good/NAME.yaml) and the shipped rules/cbp-profile.yaml are run from the source tree
 * (the current directory when run by make; skipped when not there).
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_rules.h"
#include "cbp_rules_int.h"

/* ---- helpers ------------------------------------------------------------------- */

struct diags {
	char text[16384];
	size_t n;
	int count;
};

/* Collect "file:line:col: msg" lines, file reduced to its base name. */
static void
diag_collect(void *arg, const char *file, int line, int col, const char *msg)
{
	struct diags *d = arg;
	const char *base = strrchr(file, '/');
	int w;

	base = base != NULL ? base + 1 : file;
	w = snprintf(d->text + d->n, sizeof(d->text) - d->n, "%s%s:%d:%d: %s",
	    d->n ? "\n" : "", base, line, col, msg);
	if (w > 0 && (size_t)w < sizeof(d->text) - d->n)
		d->n += (size_t)w;
	d->count++;
}

/* Load yaml as x.yaml (then compile if it loaded); return the code. */
static int
load(const char *yaml, struct diags *d)
{
	struct cbp_ruleset *rs = cbp_ruleset_new();
	int r;

	memset(d, 0, sizeof(*d));
	assert_non_null(rs);
	r = cbp_ruleset_load_string(rs, "x.yaml", yaml, strlen(yaml),
	    diag_collect, d);
	if (r == CBP_OK)
		r = cbp_ruleset_compile(rs, diag_collect, d);
	cbp_ruleset_free(rs);
	return r;
}

#define assert_rule_errors(yaml, want) do {				\
	struct diags d_;						\
	assert_int_equal(load((yaml), &d_), CBP_ESYNTAX);		\
	if (strcmp(d_.text, (want)) != 0)				\
		fail_msg("diagnostics:\n%s\nwanted:\n%s", d_.text, (want)); \
} while (0)

#define assert_rule_error(yaml, want) do {				\
	struct diags d_;						\
	char *nl_;							\
	assert_int_equal(load((yaml), &d_), CBP_ESYNTAX);		\
	if ((nl_ = strchr(d_.text, '\n')) != NULL)			\
		*nl_ = '\0';						\
	if (strcmp(d_.text, (want)) != 0)				\
		fail_msg("first diagnostic:\n%s\nwanted:\n%s", d_.text, (want)); \
} while (0)

#define assert_rule_ok(yaml) do {					\
	struct diags d_;						\
	int r_ = load((yaml), &d_);					\
	if (r_ != CBP_OK)						\
		fail_msg("rule failed (%d):\n%s", r_, d_.text);		\
} while (0)

/* A rule file with one rule whose condition is COND (a flow mapping). */
#define RULE(cond)							\
	"rules:\n"							\
	"  - id: t.x\n"							\
	"    title: T\n"						\
	"    category: plate\n"						\
	"    severity: high\n"						\
	"    when: " cond "\n"

/* ---- diagnostics, one kind each ------------------------------------------------- */

static void
test_bad_regex_column(void **state)
{
	(void)state;
	/* 'L' of the pattern is column 19; PCRE2 reports offset 8 (the end). */
	assert_rule_error(RULE("{name: 'LPR_(\\d+'}"),
	    "x.yaml:6:27: bad regex: missing closing parenthesis");
	/* Plain scalar in block style. */
	assert_rule_error(
	    "rules:\n"
	    "  - id: t.x\n"
	    "    title: T\n"
	    "    category: plate\n"
	    "    severity: high\n"
	    "    when:\n"
	    "      meta:\n"
	    "        regex: ab[c\n",
	    "x.yaml:8:20: bad regex: missing terminating ] for character class");
	/* Quantifier without operand: column of the '*'. */
	assert_rule_error(RULE("{path: \"x|*y\"}"),
	    "x.yaml:6:21: bad regex: quantifier does not follow a repeatable item");
	/* Escapes in a double-quoted scalar: the scalar's own column. */
	assert_rule_error(RULE("{name: \"\\t(\"}"),
	    "x.yaml:6:19: bad regex: missing closing parenthesis");
	/* Regex in the mapping form, inside kv. */
	assert_rule_error(RULE("{kv: {require: [{keys: [A], value: {regex: '(?<x'}}]}}"),
	    "x.yaml:6:59: bad regex: syntax error in subpattern name (missing terminator?)");
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	assert_rule_error(RULE("{nam: x}"),
	    "x.yaml:6:12: unknown key 'nam' in a condition (allowed: all, any, "
	    "not, mime, magic, name, path, size, content, bytes, meta, image, "
	    "record, kv)");
	assert_rule_error(
	    "rules:\n"
	    "  - id: t.x\n"
	    "    titel: T\n",
	    "x.yaml:3:5: unknown key 'titel' in a rule (allowed: id, title, "
	    "category, severity, description, enabled, when)");
	assert_rule_error("rule: []\n",
	    "x.yaml:1:1: unknown key 'rule' in the rule file (allowed: version, "
	    "mask_keys, rules)");
	assert_rule_error(RULE("{content: {regexp: x}}"),
	    "x.yaml:6:22: unknown key 'regexp' in 'content' (allowed: regex, "
	    "scope, max, caseless)");
	assert_rule_error(RULE("{name: {regex: x, nocase: true}}"),
	    "x.yaml:6:29: unknown key 'nocase' in a regex (allowed: regex, "
	    "caseless)");
}

static void
test_bad_values(void **state)
{
	(void)state;
	assert_rule_error(
	    "rules:\n"
	    "  - id: t.x\n"
	    "    title: T\n"
	    "    category: plate\n"
	    "    severity: severe\n"
	    "    when: {name: x}\n",
	    "x.yaml:5:15: bad severity 'severe' (expected info, low, medium, "
	    "high or critical)");
	assert_rule_error(
	    "rules:\n"
	    "  - id: T.X\n"
	    "    title: T\n"
	    "    category: plate\n"
	    "    severity: low\n"
	    "    when: {name: x}\n",
	    "x.yaml:2:9: bad rule id 'T.X' (use a-z, 0-9, '.', '_' and '-', at "
	    "most 128)");
	assert_rule_error(RULE("[name, x]"),
	    "x.yaml:6:11: a condition must be a mapping, not a list");
	assert_rule_error(RULE("{mime: {a: b}}"),
	    "x.yaml:6:18: 'mime' must be a string or a list of strings");
	assert_rule_error(RULE("{size: {min: 10Q}}"),
	    "x.yaml:6:24: 'min': '10Q' is not a size (a whole number with an "
	    "optional K, M, G or T suffix, powers of 1024: 64M, 64MiB and 64MB "
	    "are the same)");
	assert_rule_error(RULE("{size: {max: 99999999999999999999}}"),
	    "x.yaml:6:24: 'max': 99999999999999999999 is out of range (0 to "
	    "18446744073709551615 bytes)");
	assert_rule_error(RULE("{size: {min: -1}}"),
	    "x.yaml:6:24: 'min': '-1' is not a size (a whole number with an "
	    "optional K, M, G or T suffix, powers of 1024: 64M, 64MiB and 64MB "
	    "are the same)");
	assert_rule_error(RULE("{size: {min: 2k, max: 1k}}"),
	    "x.yaml:6:18: 'size': min is greater than max");
	assert_rule_error(RULE("{image: {width: {min: 5000000000}}}"),
	    "x.yaml:6:33: 'min': 5000000000 is out of range (0 to 4294967295 "
	    "bytes)");
	assert_rule_error(RULE("{image: {aspect: {min: 2.5x}}}"),
	    "x.yaml:6:34: 'min' must be a non-negative number");
	assert_rule_error(RULE("{bytes: {hex: '46 4 1'}}"),
	    "x.yaml:6:29: bad hex: expected pairs of hex digits or ??");
	assert_rule_error(RULE("{bytes: {hex: '?\? ?\?'}}"),
	    "x.yaml:6:26: bad hex: no fixed byte to look for");
	assert_rule_error(RULE("{bytes: {hex: '46', offset: 1, anywhere: true}}"),
	    "x.yaml:6:39: 'offset' and 'anywhere: true' exclude each other");
	assert_rule_error(RULE("{record: {type: iso, where: embedded}}"),
	    "x.yaml:6:27: 'type' must be iso19794-5, ansi-nist or any");
	assert_rule_error(RULE("{content: {regex: x, scope: disk}}"),
	    "x.yaml:6:39: 'scope' must be head or file");
	assert_rule_error(RULE("{kv: {require: []}}"),
	    "x.yaml:6:26: 'require' needs 1 to 32 entries");
	assert_rule_error(RULE("{all: []}"),
	    "x.yaml:6:17: 'all' needs at least one condition");
	assert_rule_error(RULE("{}"), "x.yaml:6:11: empty condition");
	assert_rule_error("version: 2\nrules: []\n",
	    "x.yaml:1:10: unsupported version (expected 1)");
}

static void
test_missing_keys(void **state)
{
	(void)state;
	assert_rule_errors(
	    "rules:\n"
	    "  - title: no id\n"
	    "    when: {name: x}\n",
	    "x.yaml:2:5: rule is missing required key 'id'\n"
	    "x.yaml:2:5: rule is missing required key 'category'\n"
	    "x.yaml:2:5: rule is missing required key 'severity'");
	assert_rule_error("version: 1\n",
	    "x.yaml:1:1: rule file is missing required key 'rules'");
	assert_rule_error(RULE("{content: {scope: head}}"),
	    "x.yaml:6:21: 'content' is missing required key 'regex'");
}

static void
test_duplicate_id(void **state)
{
	struct cbp_ruleset *rs = cbp_ruleset_new();
	struct diags d;
	const char *one = RULE("{name: x}");

	(void)state;
	assert_rule_error(
	    "rules:\n"
	    "  - {id: a.b, title: T, category: c, severity: low, when: {name: x}}\n"
	    "  - {id: a.b, title: U, category: c, severity: low, when: {name: y}}\n",
	    "x.yaml:3:10: duplicate rule id 'a.b' (first defined at x.yaml:2:10)");
	/* Across files. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(cbp_ruleset_load_string(rs, "one.yaml", one,
	    strlen(one), diag_collect, &d), CBP_OK);
	assert_int_equal(cbp_ruleset_load_string(rs, "two.yaml", one,
	    strlen(one), diag_collect, &d), CBP_ESYNTAX);
	assert_string_equal(d.text, "two.yaml:2:9: duplicate rule id 't.x' "
	    "(first defined at one.yaml:2:9)");
	assert_int_equal(cbp_ruleset_compile(rs, diag_collect, &d), CBP_ESYNTAX);
	cbp_ruleset_free(rs);
}

static void
test_duplicate_key(void **state)
{
	(void)state;
	assert_rule_error(RULE("{name: x, name: y}"),
	    "x.yaml:6:21: duplicate key 'name'");
}

static void
test_yaml_syntax(void **state)
{
	(void)state;
	assert_rule_error(
	    "rules:\n"
	    "  - id: a\n"
	    "   bad: [1\n",
	    "x.yaml:3:4: YAML syntax error: did not find expected '-' indicator");
	assert_rule_error("rules: [\n",
	    "x.yaml:2:1: YAML syntax error: flow sequence without a closing "
	    "bracket");
	assert_rule_error("rules: {a: 1\n",
	    "x.yaml:2:1: YAML syntax error: missing comma in flow mapping");
	assert_rule_error("a: &x [1]\nrules: *x\n",
	    "x.yaml:2:8: YAML aliases are not supported (write the value out)");
	assert_rule_error("rules: []\n---\nrules: []\n",
	    "x.yaml:2:1: a rule file holds one YAML document");
	assert_rule_error("", "x.yaml:1:1: empty rule file (expected a mapping "
	    "with 'rules')");
	assert_rule_error("- a\n", "x.yaml:1:1: a rule file must be a mapping "
	    "with 'rules', not a list");
	/* Complex keys are refused before libfyaml is asked for any text. */
	assert_rule_error("rules: []\n? [a]\n: b\n",
	    "x.yaml:2:3: mapping keys must be strings");
	assert_rule_error("{{['x''y'],r:[]}}", "x.yaml:1:2: mapping keys must "
	    "be strings");
	/* Malformed UTF-8 never reaches libfyaml (0.7.x hangs or crashes). */
	assert_rule_error("rules: []\n%x\xbb\n",
	    "x.yaml:2:3: invalid UTF-8 (byte 0xBB):"
	    " a rule file must be UTF-8 text (convert it, e.g. with iconv)");
	assert_rule_error("a: \xc3\xa9\xed\xa0\x80\n",
	    "x.yaml:1:5: invalid UTF-8 (byte 0xED):"
	    " a rule file must be UTF-8 text (convert it, e.g. with iconv)");
	assert_rule_error("a: \xf4\x90\x80\x80\n",
	    "x.yaml:1:4: invalid UTF-8 (byte 0xF4):"
	    " a rule file must be UTF-8 text (convert it, e.g. with iconv)");
	assert_rule_error("a: \xc0\xaf\n",
	    "x.yaml:1:4: invalid UTF-8 (byte 0xC0):"
	    " a rule file must be UTF-8 text (convert it, e.g. with iconv)");
}

/* Build a rule whose condition nests `levels` not: around a name. */
static char *
nested_not(int levels)
{
	size_t cap = 256 + (size_t)levels * 16, o;
	char *s = malloc(cap);
	int i;

	assert_non_null(s);
	o = (size_t)snprintf(s, cap, "rules:\n  - id: t.x\n    title: T\n"
	    "    category: c\n    severity: low\n    when: ");
	for (i = 0; i < levels; i++)
		o += (size_t)snprintf(s + o, cap - o, "{not: ");
	o += (size_t)snprintf(s + o, cap - o, "{name: x}");
	for (i = 0; i < levels; i++)
		o += (size_t)snprintf(s + o, cap - o, "}");
	snprintf(s + o, cap - o, "\n");
	return s;
}

static void
test_depth(void **state)
{
	char *ok = nested_not(CBP_RULE_DEPTH), *bad = nested_not(CBP_RULE_DEPTH + 1);
	char want[128];

	(void)state;
	assert_rule_ok(ok);
	/* The mapping under the 33rd not: starts at column 11 + 33 * 6. */
	snprintf(want, sizeof(want), "x.yaml:6:%d: conditions nested deeper "
	    "than %d levels", 11 + (CBP_RULE_DEPTH + 1) * 6, CBP_RULE_DEPTH);
	assert_rule_error(bad, want);
	free(ok);
	free(bad);
}

static void
test_three_errors(void **state)
{
	(void)state;
	assert_rule_errors(
	    "rules:\n"
	    "  - id: a.one\n"
	    "    title: T\n"
	    "    category: plate\n"
	    "    severity: hihg\n"
	    "    when: {name: x}\n"
	    "  - id: a.two\n"
	    "    title: T\n"
	    "    category: plate\n"
	    "    severity: low\n"
	    "    when: {name: '(x'}\n"
	    "  - id: a.three\n"
	    "    title: T\n"
	    "    category: plate\n"
	    "    severity: low\n"
	    "    when: {size: {min: 1X}}\n",
	    "x.yaml:5:15: bad severity 'hihg' (expected info, low, medium, high "
	    "or critical)\n"
	    "x.yaml:11:21: bad regex: missing closing parenthesis\n"
	    "x.yaml:16:24: 'min': '1X' is not a size (a whole number with an "
	    "optional K, M, G or T suffix, powers of 1024: 64M, 64MiB and 64MB "
	    "are the same)");
}

/* ---- compiling -------------------------------------------------------------------- */

static struct cbp_ruleset *
compile_ok(const char *yaml)
{
	struct cbp_ruleset *rs = cbp_ruleset_new();
	struct diags d;

	memset(&d, 0, sizeof(d));
	assert_non_null(rs);
	if (cbp_ruleset_load_string(rs, "x.yaml", yaml, strlen(yaml),
	    diag_collect, &d) != CBP_OK ||
	    cbp_ruleset_compile(rs, diag_collect, &d) != CBP_OK)
		fail_msg("did not compile:\n%s", d.text);
	return rs;
}

static unsigned
needs_of(const char *cond)
{
	char yaml[1024];
	struct cbp_ruleset *rs;
	unsigned n;

	snprintf(yaml, sizeof(yaml), RULE("%s"), cond);
	rs = compile_ok(yaml);
	n = cbp_ruleset_needs(rs);
	cbp_ruleset_free(rs);
	return n;
}

static void
test_needs(void **state)
{
	(void)state;
	assert_int_equal(needs_of("{name: x, mime: 'image/*', size: {min: 1}}"), 0);
	assert_int_equal(needs_of("{magic: JPEG}"), CBP_NEED_DESCRIPTION);
	assert_int_equal(needs_of("{content: {regex: x}}"), CBP_NEED_CONTENT);
	assert_int_equal(needs_of("{content: {regex: x, scope: head}}"), 0);
	assert_int_equal(needs_of("{bytes: {hex: '46 41 43 00'}}"), 0);
	assert_int_equal(needs_of("{bytes: {hex: '46', offset: 1M}}"),
	    CBP_NEED_CONTENT);
	assert_int_equal(needs_of("{bytes: {hex: '46', anywhere: true}}"),
	    CBP_NEED_CONTENT);
	assert_int_equal(needs_of("{meta: {regex: x}}"), CBP_NEED_META);
	assert_int_equal(needs_of("{image: {}}"), CBP_NEED_META);
	assert_int_equal(needs_of("{kv: {require: [{keys: [A]}]}}"), CBP_NEED_META);
	assert_int_equal(needs_of("{record: {}}"), CBP_NEED_RECORD);
	assert_int_equal(needs_of("{record: {where: embedded}}"), CBP_NEED_CARVE);
	assert_int_equal(needs_of("{record: {where: any}}"),
	    CBP_NEED_RECORD | CBP_NEED_CARVE);
	assert_int_equal(needs_of("{not: {any: [{magic: x}, {image: {}}]}}"),
	    CBP_NEED_DESCRIPTION | CBP_NEED_META);
}

static void
test_disabled_rules(void **state)
{
	struct cbp_ruleset *rs;

	(void)state;
	rs = compile_ok(
	    "rules:\n"
	    "  - {id: a, title: T, category: c, severity: low, when: {magic: x}}\n"
	    "  - {id: b, title: T, category: c, severity: low, enabled: false,\n"
	    "     when: {record: {where: any}}}\n");
	assert_int_equal(cbp_ruleset_count(rs), 1);
	assert_int_equal(cbp_ruleset_needs(rs), CBP_NEED_DESCRIPTION);
	cbp_ruleset_free(rs);
}

/* all/any children are stored cheapest first, stable among equals. */
static void
test_cheap_first_order(void **state)
{
	struct cbp_ruleset *rs;
	const struct cbp_cond *c;

	(void)state;
	rs = compile_ok(RULE("{all: [{record: {where: embedded}}, "
	    "{content: {regex: y}}, {kv: {require: [{keys: [A]}]}}, "
	    "{magic: m}, {content: {regex: h, scope: head}}, "
	    "{bytes: {hex: '00'}}, {name: n}, {size: {max: 1}}]}"));
	c = rs->rules[0].when;
	assert_int_equal(c->kind, CBP_C_ALL);
	assert_int_equal(c->u.list.n, 8);
	assert_int_equal(c->u.list.v[0]->kind, CBP_C_NAME);
	assert_int_equal(c->u.list.v[1]->kind, CBP_C_SIZE);
	assert_int_equal(c->u.list.v[2]->kind, CBP_C_BYTES);
	assert_int_equal(c->u.list.v[3]->kind, CBP_C_CONTENT);
	assert_int_equal(c->u.list.v[4]->kind, CBP_C_MAGIC);
	assert_int_equal(c->u.list.v[5]->kind, CBP_C_KV);
	assert_int_equal(c->u.list.v[6]->kind, CBP_C_CONTENT);
	assert_int_equal(c->u.list.v[7]->kind, CBP_C_RECORD);
	assert_int_equal(c->cost, CBP_COST_CARVE);
	cbp_ruleset_free(rs);
	/* Several keys in one mapping are an all, sorted the same way. */
	rs = compile_ok(RULE("{kv: {require: [{keys: [A]}]}, mime: 'image/*'}"));
	c = rs->rules[0].when;
	assert_int_equal(c->kind, CBP_C_ALL);
	assert_int_equal(c->u.list.v[0]->kind, CBP_C_MIME);
	assert_int_equal(c->u.list.v[1]->kind, CBP_C_KV);
	cbp_ruleset_free(rs);
}

static void
test_regex_prefilter(void **state)
{
	struct cbp_ruleset *rs;
	const struct cbp_regex *re;

	(void)state;
	rs = compile_ok(
	    "rules:\n"
	    "  - {id: a, title: T, category: c, severity: low, when: {name: '^LPR_\\d+'}}\n"
	    "  - {id: b, title: T, category: c, severity: low, when: {name: 'ab|cd'}}\n"
	    "  - {id: c, title: T, category: c, severity: low, when: {name: 'FACX?'}}\n"
	    "  - {id: d, title: T, category: c, severity: low, when: {name: {regex: 'abc', caseless: true}}}\n"
	    "  - {id: e, title: T, category: c, severity: low, when: {name: 'a\\.b\\x41'}}\n");
	re = rs->rules[0].when->u.re;
	assert_int_equal(re->lit_len, 4);
	assert_memory_equal(re->lit, "LPR_", 4);
	assert_null(rs->rules[1].when->u.re->lit);
	re = rs->rules[2].when->u.re;
	assert_int_equal(re->lit_len, 3);
	assert_memory_equal(re->lit, "FAC", 3);
	assert_null(rs->rules[3].when->u.re->lit);
	assert_int_equal(rs->rules[3].when->u.re->unit, -1);
	re = rs->rules[4].when->u.re;
	assert_int_equal(re->lit_len, 3);
	assert_memory_equal(re->lit, "a.b", 3);
	cbp_ruleset_free(rs);
}

static void
test_mask_group_and_keys(void **state)
{
	struct cbp_ruleset *rs;

	(void)state;
	rs = compile_ok(
	    "mask_keys: [PLATE, plate, DOC]\n"
	    "rules:\n"
	    "  - {id: a, title: T, category: c, severity: low,\n"
	    "     when: {name: 'x_(?<mask>[A-Z]+)'}}\n");
	assert_int_equal(rs->nmask, 2);
	assert_int_equal(rs->rules[0].when->u.re->mask_group, 1);
	cbp_ruleset_free(rs);
}

static void
test_empty_and_misuse(void **state)
{
	struct cbp_ruleset *rs = cbp_ruleset_new();
	struct diags d;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_int_equal(cbp_ruleset_compile(rs, diag_collect, &d), CBP_ESYNTAX);
	assert_string_equal(d.text, "(rules):0:0: no rules loaded");
	cbp_ruleset_free(rs);
	cbp_ruleset_free(NULL);
	assert_int_equal(cbp_ruleset_count(NULL), 0);
	/* No diag callback: errors still counted. */
	rs = cbp_ruleset_new();
	assert_int_equal(cbp_ruleset_load_string(rs, "n", "rules: [1]", 10,
	    NULL, NULL), CBP_ESYNTAX);
	cbp_ruleset_free(rs);
	/* Loading after compiling is refused. */
	rs = compile_ok(RULE("{name: x}"));
	assert_int_equal(cbp_ruleset_load_string(rs, "n", "rules: []", 9,
	    NULL, NULL), CBP_EINVAL);
	cbp_ruleset_free(rs);
}

/* ---- files and directories ------------------------------------------------------ */

static int
have_tree(void)
{
	struct stat st;

	if (stat("rules/cbp-profile.yaml", &st) == 0 &&
	    stat("tests/rules", &st) == 0)
		return 1;
	/* Under make (CBP_TEST_STRICT) a skip would let the check pass unseen. */
	if (getenv("CBP_TEST_STRICT") != NULL)
		fail_msg("rules/ and tests/rules not found: run from the "
		    "source tree");
	return 0;
}

static void
test_profile_compiles(void **state)
{
	struct cbp_ruleset *rs;
	struct diags d;

	(void)state;
	if (!have_tree())
		skip();
	memset(&d, 0, sizeof(d));
	rs = cbp_ruleset_new();
	assert_int_equal(cbp_ruleset_load(rs, "rules/cbp-profile.yaml",
	    diag_collect, &d), CBP_OK);
	assert_int_equal(cbp_ruleset_compile(rs, diag_collect, &d), CBP_OK);
	assert_int_equal(d.count, 0);
	assert_int_equal(cbp_ruleset_count(rs), 9);
	assert_int_equal(cbp_ruleset_needs(rs),
	    CBP_NEED_META | CBP_NEED_RECORD | CBP_NEED_CARVE);
	assert_int_equal(rs->nmask, 12);
	cbp_ruleset_free(rs);
	/* The rules directory loads the same (and only *.yaml / *.yml). */
	memset(&d, 0, sizeof(d));
	rs = cbp_ruleset_new();
	assert_int_equal(cbp_ruleset_load(rs, "rules", diag_collect, &d), CBP_OK);
	assert_int_equal(cbp_ruleset_compile(rs, diag_collect, &d), CBP_OK);
	assert_true(cbp_ruleset_count(rs) >= 9);
	cbp_ruleset_free(rs);
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	size_t n;

	if (fp == NULL)
		return NULL;
	buf = calloc(1, 65536);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, fp);
	fclose(fp);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

/* Every tests/rules/bad/NAME.yaml gives exactly the lines of NAME.err. */
static void
test_rule_cases(void **state)
{
	char path[512], *want;
	struct dirent *de;
	struct diags d;
	DIR *dir;
	int nbad = 0, ngood = 0;

	(void)state;
	if (!have_tree())
		skip();
	assert_non_null(dir = opendir("tests/rules/bad"));
	while ((de = readdir(dir)) != NULL) {
		struct cbp_ruleset *rs;
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "tests/rules/bad/%.*s.err",
		    (int)(l - 5), de->d_name);
		assert_non_null(want = slurp(path));
		snprintf(path, sizeof(path), "tests/rules/bad/%s", de->d_name);
		memset(&d, 0, sizeof(d));
		rs = cbp_ruleset_new();
		assert_int_equal(cbp_ruleset_load(rs, path, diag_collect, &d),
		    CBP_ESYNTAX);
		cbp_ruleset_free(rs);
		if (strcmp(d.text, want) != 0)
			fail_msg("%s:\n%s\nwanted:\n%s", path, d.text, want);
		free(want);
		nbad++;
	}
	closedir(dir);
	assert_non_null(dir = opendir("tests/rules/good"));
	while ((de = readdir(dir)) != NULL) {
		struct cbp_ruleset *rs;
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "tests/rules/good/%s", de->d_name);
		memset(&d, 0, sizeof(d));
		rs = cbp_ruleset_new();
		if (cbp_ruleset_load(rs, path, diag_collect, &d) != CBP_OK ||
		    cbp_ruleset_compile(rs, diag_collect, &d) != CBP_OK)
			fail_msg("%s:\n%s", path, d.text);
		cbp_ruleset_free(rs);
		ngood++;
	}
	closedir(dir);
	assert_true(nbad > 0 && ngood > 0);
}

static void
test_load_dir(void **state)
{
	char dir[] = "/tmp/cbp-rules-XXXXXX", p[256];
	struct cbp_ruleset *rs;
	struct diags d;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/b.yaml", dir);
	assert_non_null(fp = fopen(p, "w"));
	fputs(RULE("{name: x}"), fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/a.yml", dir);
	assert_non_null(fp = fopen(p, "w"));
	fputs(RULE("{name: y}"), fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/c.txt", dir);
	assert_non_null(fp = fopen(p, "w"));
	fputs("not yaml: [", fp);
	fclose(fp);
	/* Name order: a.yml first, so the duplicate is reported in b.yaml. */
	memset(&d, 0, sizeof(d));
	rs = cbp_ruleset_new();
	assert_int_equal(cbp_ruleset_load(rs, dir, diag_collect, &d), CBP_ESYNTAX);
	snprintf(p, sizeof(p), "b.yaml:2:9: duplicate rule id 't.x' (first "
	    "defined at %s/a.yml:2:9)", dir);
	assert_string_equal(d.text, p);
	cbp_ruleset_free(rs);
	/* A missing file: CBP_EIO, reported with line 0. */
	memset(&d, 0, sizeof(d));
	rs = cbp_ruleset_new();
	snprintf(p, sizeof(p), "%s/none.yaml", dir);
	assert_int_equal(cbp_ruleset_load(rs, p, diag_collect, &d), CBP_EIO);
	assert_string_equal(d.text, "none.yaml:0:0: cannot open: No such file "
	    "or directory");
	cbp_ruleset_free(rs);
	snprintf(p, sizeof(p), "%s/a.yml", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/b.yaml", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/c.txt", dir);
	unlink(p);
	rmdir(dir);
}

/*
 * The rule snippets in man/cbpscan-rules.5 EXAMPLES compile: each literal
 * display is a rule file, or a list of rules (then "rules:" is prefixed);
 * shell transcripts are skipped.  mdoc's \e is a backslash.
 */
static void
test_man_examples(void **state)
{
	char *man, *p, *end, *blk, *o;
	struct cbp_ruleset *rs;
	struct diags d;
	int nblocks = 0;

	(void)state;
	if ((man = slurp("man/cbpscan-rules.5")) == NULL) {
		if (getenv("CBP_TEST_STRICT") != NULL)
			fail_msg("man/cbpscan-rules.5 not found: run from the "
			    "source tree");
		skip();
	}
	assert_non_null(p = strstr(man, ".Sh EXAMPLES"));
	if ((end = strstr(p, ".Sh SEE ALSO")) != NULL)
		*end = '\0';
	while ((p = strstr(p, ".Bd -literal")) != NULL) {
		p = strchr(p, '\n') + 1;
		assert_non_null(end = strstr(p, "\n.Ed"));
		assert_non_null(blk = calloc(1, (size_t)(end - p) + 16));
		o = blk;
		if (strncmp(p, "  - ", 4) == 0)
			o += snprintf(o, 16, "rules:\n");
		for (; p < end; p++) {
			if (p[0] == '\\' && p[1] == 'e') {
				*o++ = '\\';
				p++;
			} else
				*o++ = *p;
		}
		*o++ = '\n';
		p = end + 4;
		if (blk[0] == '$') {
			free(blk);
			continue;
		}
		memset(&d, 0, sizeof(d));
		rs = cbp_ruleset_new();
		if (cbp_ruleset_load_string(rs, "example.yaml", blk, strlen(blk),
		    diag_collect, &d) != CBP_OK ||
		    cbp_ruleset_compile(rs, diag_collect, &d) != CBP_OK)
			fail_msg("man page example:\n%s\n%s", blk, d.text);
		cbp_ruleset_free(rs);
		free(blk);
		nblocks++;
	}
	assert_int_equal(nblocks, 2);
	free(man);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_regex_column),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_duplicate_id),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_yaml_syntax),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_three_errors),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_disabled_rules),
		cmocka_unit_test(test_cheap_first_order),
		cmocka_unit_test(test_regex_prefilter),
		cmocka_unit_test(test_mask_group_and_keys),
		cmocka_unit_test(test_empty_and_misuse),
		cmocka_unit_test(test_profile_compiles),
		cmocka_unit_test(test_rule_cases),
		cmocka_unit_test(test_load_dir),
		cmocka_unit_test(test_man_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
