/*
 * test_yaml.c — cbp_yaml.h: the shared YAML layer (reading, byte checks,
 * caps, positions) and the one grammar of scalars.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_yaml.h"

static char tmpdir[64];

static int
setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cbp-yaml-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------- */

struct diags {
	char text[4096];
	size_t n;
	int count;
};

static void
collect(void *arg, const char *file, int line, int col, const char *msg)
{
	struct diags *d = arg;
	int w;

	w = snprintf(d->text + d->n, sizeof(d->text) - d->n, "%s%s:%d:%d: %s",
	    d->n ? "\n" : "", file, line, col, msg);
	if (w > 0 && (size_t)w < sizeof(d->text) - d->n)
		d->n += (size_t)w;
	d->count++;
}

/* Parse text as t.yaml; returns the code, diagnostics in *d. */
static int
parse(const char *text, size_t len, struct diags *d, struct cbp_ynode **root)
{
	struct cbp_yaml_src src = { "t.yaml", "test file", collect, d };

	memset(d, 0, sizeof(*d));
	return cbp_yaml_parse(&src, text, len, root);
}

#define assert_parse_error(yaml, want) do {				\
	struct diags d_;						\
	struct cbp_ynode *r_ = NULL;					\
	assert_int_equal(parse((yaml), sizeof(yaml) - 1, &d_, &r_),	\
	    CBP_ESYNTAX);						\
	cbp_ynode_free(r_);						\
	if (strncmp(d_.text, (want), strlen(want)) != 0)		\
		fail_msg("got:\n%s\nwanted prefix:\n%s", d_.text, (want)); \
} while (0)

/* ---- the grammar ------------------------------------------------------------------ */

static void
test_bool(void **state)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };
	static const char *const bad[] = { "yes", "no", "on", "off", "y", "1",
	    "0", "tRuE", "true ", "", "truex" };
	char why[256];
	size_t i;
	int v;

	for (i = 0; i < 3; i++) {
		v = -1;
		assert_int_equal(cbp_parse_bool(yes[i], &v, NULL, 0), CBP_OK);
		assert_int_equal(v, 1);
		assert_int_equal(cbp_parse_bool(no[i], &v, NULL, 0), CBP_OK);
		assert_int_equal(v, 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cbp_parse_bool(bad[i], &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_bool("yes", &v, why, sizeof(why)), CBP_EINVAL);
	assert_string_equal(why, "'yes' is not true or false (write true or "
	    "false; yes, no, on and off are not accepted)");
	assert_int_equal(cbp_parse_bool(NULL, &v, NULL, 0), CBP_EINVAL);
}

static void
test_uint(void **state)
{
	char why[256];
	uint64_t v;

	assert_int_equal(cbp_parse_uint("0", 0, 10, &v, NULL, 0), CBP_OK);
	assert_int_equal(v, 0);
	assert_int_equal(cbp_parse_uint("0010", 0, 10, &v, NULL, 0), CBP_OK);
	assert_int_equal(v, 10);		/* leading zeros: still decimal */
	assert_int_equal(cbp_parse_uint("0x1F", 0, 100, &v, NULL, 0), CBP_OK);
	assert_int_equal(v, 31);
	assert_int_equal(cbp_parse_uint("18446744073709551615", 0, UINT64_MAX,
	    &v, NULL, 0), CBP_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cbp_parse_uint("18446744073709551616", 0, UINT64_MAX,
	    &v, NULL, 0), CBP_ELIMIT);
	assert_int_equal(cbp_parse_uint("0x10000000000000000", 0, UINT64_MAX,
	    &v, NULL, 0), CBP_ELIMIT);
	assert_int_equal(cbp_parse_uint("0", 1, 1024, &v, why, sizeof(why)),
	    CBP_ELIMIT);
	assert_string_equal(why, "0 is out of range (1 to 1024)");
	assert_int_equal(cbp_parse_uint("1025", 1, 1024, &v, NULL, 0), CBP_ELIMIT);
	assert_int_equal(cbp_parse_uint("two", 1, 1024, &v, why, sizeof(why)),
	    CBP_EINVAL);
	assert_string_equal(why, "'two' is not a whole number (decimal digits, "
	    "or 0x and hex digits)");
	/* strtoull would take all of these. */
	assert_int_equal(cbp_parse_uint("-1", 0, UINT64_MAX, &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_uint("+1", 0, 10, &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_uint(" 1", 0, 10, &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_uint("1 ", 0, 10, &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_uint("", 0, 10, &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_uint("0x", 0, 10, &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_uint("1k", 0, 10000, &v, NULL, 0), CBP_EINVAL);
	assert_int_equal(cbp_parse_uint(NULL, 0, 10, &v, NULL, 0), CBP_EINVAL);
	/* Control bytes never reach a terminal through the message. */
	assert_int_equal(cbp_parse_uint("\x1b[2J", 0, 10, &v, why, sizeof(why)),
	    CBP_EINVAL);
	assert_null(strchr(why, '\x1b'));
}

static void
test_size(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "4096", 4096 }, { "512B", 512 }, { "0x100", 256 },
		{ "1k", 1024 }, { "1K", 1024 }, { "1KB", 1024 }, { "1KiB", 1024 },
		{ "64m", 64ULL << 20 }, { "64M", 64ULL << 20 },
		{ "64MB", 64ULL << 20 }, { "64MiB", 64ULL << 20 },
		{ "1g", 1ULL << 30 }, { "1GB", 1ULL << 30 }, { "2GiB", 2ULL << 30 },
		{ "1T", 1ULL << 40 }, { "16777215TiB", 16777215ULL << 40 },
	};
	static const char *const bad[] = { "", "-1", "1X", "1Ki", "1iB", "1MM",
	    "1 M", "1.5G", "0x10M", "M", "1Mb", "1mib" };
	char why[256];
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (cbp_parse_size(ok[i].s, 0, UINT64_MAX, &v, NULL, 0) != CBP_OK)
			fail_msg("'%s' refused", ok[i].s);
		assert_true(v == ok[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cbp_parse_size(bad[i], 0, UINT64_MAX, &v, NULL, 0) != CBP_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(cbp_parse_size("16777216T", 0, UINT64_MAX, &v, NULL, 0),
	    CBP_ELIMIT);
	assert_int_equal(cbp_parse_size("99999999999999999999", 0, UINT64_MAX,
	    &v, NULL, 0), CBP_ELIMIT);
	assert_int_equal(cbp_parse_size("63K", 64 * 1024, 1ULL << 32, &v, why,
	    sizeof(why)), CBP_ELIMIT);
	assert_string_equal(why, "63K is out of range (65536 to 4294967296 bytes)");
	assert_int_equal(cbp_parse_size("12Q", 0, 10, &v, why, sizeof(why)),
	    CBP_EINVAL);
	assert_string_equal(why, "'12Q' is not a size (a whole number with an "
	    "optional K, M, G or T suffix, powers of 1024: 64M, 64MiB and 64MB "
	    "are the same)");
}

static void
test_duration(void **state)
{
	static const struct { const char *s; int64_t v; } ok[] = {
		{ "0", 0 }, { "3600", 3600 }, { "3600s", 3600 }, { "90m", 5400 },
		{ "12h", 43200 }, { "30d", 30 * 86400 }, { "2w", 14 * 86400 },
		{ "1y", 365 * 86400 },
	};
	static const char *const bad[] = { "", "d", "1dd", "30D", "1.5d", "-1d",
	    "+1d", "0x10", "1 d", "1ms" };
	char why[256];
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (cbp_parse_duration(ok[i].s, &v, NULL, 0) != CBP_OK)
			fail_msg("'%s' refused", ok[i].s);
		assert_true(v == ok[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cbp_parse_duration(bad[i], &v, NULL, 0) != CBP_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(cbp_parse_duration("9223372036854775807", &v, NULL, 0),
	    CBP_OK);
	assert_int_equal(cbp_parse_duration("9223372036854775808", &v, NULL, 0),
	    CBP_ELIMIT);
	assert_int_equal(cbp_parse_duration("292471208678y", &v, why,
	    sizeof(why)), CBP_ELIMIT);
	assert_int_equal(cbp_parse_duration("soon", &v, why, sizeof(why)),
	    CBP_EINVAL);
	assert_string_equal(why, "'soon' is not a duration (a whole number with "
	    "an optional s, m, h, d, w or y suffix, such as 30d or 12h)");
}

/* ---- parsing ------------------------------------------------------------------------ */

static void
test_tree_and_positions(void **state)
{
	static const char text[] = "a: 1\nb:\n  - x\n  - {c: \"d\\te\"}\ne:\n";
	struct cbp_ynode *root = NULL, *b, *m;
	struct diags d;

	assert_int_equal(parse(text, sizeof(text) - 1, &d, &root), CBP_OK);
	assert_non_null(root);
	assert_int_equal(root->type, CBP_Y_MAP);
	assert_int_equal(root->n, 6);
	assert_string_equal(root->kid[1]->s, "1");
	assert_int_equal(root->kid[1]->line, 1);
	assert_int_equal(root->kid[1]->col, 4);
	b = root->kid[3];
	assert_int_equal(b->type, CBP_Y_SEQ);
	assert_int_equal(b->n, 2);
	m = b->kid[1];
	assert_int_equal(m->type, CBP_Y_MAP);
	assert_int_equal(m->line, 4);
	assert_int_equal(m->col, 5);
	assert_string_equal(m->kid[1]->s, "d\te");	/* escapes processed */
	/* An empty value is null and takes its key's position. */
	assert_int_equal(root->kid[5]->type, CBP_Y_NULL);
	assert_int_equal(root->kid[5]->line, 5);
	assert_int_equal(root->kid[5]->col, 1);
	cbp_ynode_free(root);
	/* Empty and comment-only streams: no tree, no error. */
	assert_int_equal(parse("", 0, &d, &root), CBP_OK);
	assert_null(root);
	assert_int_equal(parse("# c\n", 4, &d, &root), CBP_OK);
	assert_null(root);
	assert_int_equal(parse(NULL, 0, &d, &root), CBP_OK);
}

static void
test_bytes_checked_before_libfyaml(void **state)
{
	/* The seed that hung `scan --config`: a '%' directive line with 0xBB. */
	assert_parse_error("a: 1\n%   x: y\xbb\xbb\n",
	    "t.yaml:2:9: invalid UTF-8 (byte 0xBB): a test file must be UTF-8 "
	    "text (convert it, e.g. with iconv)");
	assert_parse_error("a: \xed\xa0\x80\n", "t.yaml:1:4: invalid UTF-8 (byte 0xED)");
	assert_parse_error("a: \xe2\x82\n", "t.yaml:1:4: invalid UTF-8 (byte 0xE2)");
	assert_parse_error("a: \xe2\x82", "t.yaml:1:4: invalid UTF-8 (byte 0xE2)");
	assert_parse_error("a: b\0c\n", "t.yaml:1:5: control character 0x00");
	assert_parse_error("a: \x1b[31m\n", "t.yaml:1:4: control character 0x1B");
	assert_parse_error("\xc3\xa9\xc3\xa9: \x7f\n", "t.yaml:1:5: control character 0x7F");
	/* Tabs, CR LF and a BOM are text. */
	{
		static const char ok[] = "\xef\xbb\xbf" "a: \"x\ty\"\r\nb: 2\r\n";
		struct cbp_ynode *root = NULL;
		struct diags d;

		assert_int_equal(parse(ok, sizeof(ok) - 1, &d, &root), CBP_OK);
		assert_non_null(root);
		cbp_ynode_free(root);
	}
}

static void
test_aliases_refused(void **state)
{
	static const char laughs[] =
	    "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	    "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
	struct cbp_ynode *root = NULL;
	struct diags d;

	/* Every alias is reported, none expanded; the tree is still handed
	 * back, with the aliases as CBP_Y_BAD, for callers that go on. */
	assert_int_equal(parse(laughs, sizeof(laughs) - 1, &d, &root), CBP_ESYNTAX);
	assert_int_equal(d.count, 30);
	assert_true(strncmp(d.text, "t.yaml:2:8: YAML aliases are not supported "
	    "(write the value out)", 60) == 0);
	assert_non_null(root);
	assert_int_equal(root->kid[3]->kid[0]->type, CBP_Y_BAD);
	cbp_ynode_free(root);
	/* A merge key is an alias too. */
	assert_parse_error("a: &x {b: 1}\nc:\n  <<: *x\n", "t.yaml:3:7: YAML aliases");
}

static void
test_structure_errors(void **state)
{
	assert_parse_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: a test file holds one "
	    "YAML document");
	assert_parse_error("? [a]\n: b\n", "t.yaml:1:3: mapping keys must be strings");
	assert_parse_error("a: [1\n", "t.yaml:2:1: YAML syntax error: flow sequence "
	    "without a closing bracket");
}

static void
test_depth_cap(void **state)
{
	size_t n = CBP_YAML_DEPTH + 1, i;
	char *s = malloc(2 * n + 2), want[128];
	struct cbp_ynode *root = NULL;
	struct diags d;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		s[i] = '[';
		s[2 * n - 1 - i] = ']';
	}
	s[2 * n] = '\0';
	assert_int_equal(parse(s, 2 * n, &d, &root), CBP_ESYNTAX);
	assert_null(root);
	snprintf(want, sizeof(want), "t.yaml:1:%zu: YAML nested deeper than %d "
	    "levels", n, CBP_YAML_DEPTH);
	assert_string_equal(d.text, want);
	/* One level less is fine. */
	assert_int_equal(parse(s + 1, 2 * n - 2, &d, &root), CBP_OK);
	cbp_ynode_free(root);
	free(s);
}

static void
test_node_cap(void **state)
{
	size_t n = CBP_YAML_NODES, len = 1 + 2 * n, i;
	char *s = malloc(len + 2), want[128];
	struct cbp_ynode *root = NULL;
	struct diags d;

	/* [1,1,...,1]: n scalars and the list, one node too many. */
	assert_non_null(s);
	s[0] = '[';
	for (i = 0; i < n; i++) {
		s[1 + 2 * i] = '1';
		s[2 + 2 * i] = ',';
	}
	s[len - 1] = ']';
	s[len] = '\0';
	assert_int_equal(parse(s, len, &d, &root), CBP_ESYNTAX);
	assert_null(root);
	snprintf(want, sizeof(want), "t.yaml:1:%zu: more than %d YAML nodes in one "
	    "test file (split it)", 2 * n, CBP_YAML_NODES);
	assert_string_equal(d.text, want);
	/* Without the last scalar it is exactly at the cap. */
	s[len - 3] = ']';
	assert_int_equal(parse(s, len - 2, &d, &root), CBP_OK);
	assert_int_equal(root->n, n - 1);
	cbp_ynode_free(root);
	free(s);
}

/* ---- reading files ---------------------------------------------------------------- */

static int
read_path(const char *path, struct diags *d, char **text, size_t *len)
{
	struct cbp_yaml_src src = { path, "test file", collect, d };

	memset(d, 0, sizeof(*d));
	return cbp_yaml_read_file(&src, text, len, NULL);
}

static void
test_read_file(void **state)
{
	char p[128], q[128], want[300], *text = NULL;
	struct diags d;
	size_t len;
	FILE *fp;
	int fd;

	snprintf(p, sizeof(p), "%s/a.yaml", tmpdir);
	assert_non_null(fp = fopen(p, "w"));
	fputs("a: 1\n", fp);
	fclose(fp);
	assert_int_equal(read_path(p, &d, &text, &len), CBP_OK);
	assert_int_equal(len, 5);
	assert_string_equal(text, "a: 1\n");
	free(text);
	/* A symlink to it is refused: the file read is the file named. */
	snprintf(q, sizeof(q), "%s/link.yaml", tmpdir);
	assert_int_equal(symlink(p, q), 0);
	assert_int_equal(read_path(q, &d, &text, &len), CBP_EPERM);
	assert_null(text);
	snprintf(want, sizeof(want), "%s:0:0: refusing a symbolic link as the "
	    "test file (name the file it points to)", q);
	assert_string_equal(d.text, want);
	/* A FIFO: refused at once (O_NONBLOCK), never waited on. */
	snprintf(q, sizeof(q), "%s/fifo.yaml", tmpdir);
	assert_int_equal(mkfifo(q, 0600), 0);
	assert_int_equal(read_path(q, &d, &text, &len), CBP_EIO);
	snprintf(want, sizeof(want), "%s:0:0: the test file is not a regular "
	    "file (name a regular file)", q);
	assert_string_equal(d.text, want);
	/* A device and a directory. */
	assert_int_equal(read_path("/dev/zero", &d, &text, &len), CBP_EIO);
	assert_int_equal(read_path(tmpdir, &d, &text, &len), CBP_EIO);
	/* One byte over the cap (sparse: nothing is read). */
	snprintf(q, sizeof(q), "%s/big.yaml", tmpdir);
	assert_true((fd = open(q, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(ftruncate(fd, (off_t)CBP_YAML_FILE_MAX + 1), 0);
	close(fd);
	assert_int_equal(read_path(q, &d, &text, &len), CBP_ELIMIT);
	assert_non_null(strstr(d.text, "the test file is too large (16777217 "
	    "bytes; at most 16 MiB): split it"));
	/* Missing. */
	snprintf(q, sizeof(q), "%s/none.yaml", tmpdir);
	assert_int_equal(read_path(q, &d, &text, &len), CBP_EIO);
	assert_non_null(strstr(d.text, "cannot read the test file: No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_tree_and_positions),
		cmocka_unit_test(test_bytes_checked_before_libfyaml),
		cmocka_unit_test(test_aliases_refused),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_node_cap),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests_name("yaml", tests, setup, teardown);
}
