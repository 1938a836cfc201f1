/*
 * test_config.c — cbpscan.conf(5) parsing: values, overrides, and every
 * error naming file:line:col.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_config.h"
#include "cbp_limits.h"

static char tmpdir[64];

static int
setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cbp-config-XXXXXX");
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

/* Write text to a fresh file in tmpdir and return its path (static buffer). */
static const char *
write_conf(const char *text, mode_t mode)
{
	static char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/c.yaml", tmpdir);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void
assert_conf_error(const char *text, const char *expect_suffix)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };
	const char *path = write_conf(text, 0644);
	char want[1200];

	cbp_config_defaults(&c);
	assert_int_not_equal(cbp_config_load(&c, path, &d), CBP_OK);
	snprintf(want, sizeof(want), "%s:%s", path, expect_suffix);
	if (strncmp(d.message, want, strlen(want)) != 0)
		fail_msg("got '%s', want prefix '%s'", d.message, want);
	cbp_config_free(&c);
}

static void
test_defaults(void **state)
{
	struct cbp_config c;

	cbp_config_defaults(&c);
	assert_int_equal(c.caps.load_max, CBP_LOAD_MAX);
	assert_int_equal(c.caps.carve_max, CBP_CARVE_MAX);
	assert_int_equal(c.expand.max_depth, CBP_ARCHIVE_DEPTH);
	assert_int_equal(c.expand.member_max, CBP_MEMBER_MAX);
	assert_int_equal(c.nrules, 0);
	cbp_config_free(&c);
}

static void
test_full_file(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };
	const char *path = write_conf(
	    "rules: [/a, /b]\n"
	    "exclude: '*.iso'\n"
	    "threads: 3\n"
	    "one_file_system: true\n"
	    "strict: True\n"
	    "max_depth: 2\n"
	    "limits:\n"
	    "  load_max: 2M\n"
	    "  carve_max: 0\n"
	    "  member_max: 1MiB\n"
	    "  archive_total: 1G\n"
	    "  archive_members: 10\n"
	    "  archive_ratio: 50\n"
	    "authorized:\n"
	    "  - path: /srv/lpr/*\n"
	    "    retention: 30d\n"
	    "  - path: /srv/evidence/*\n", 0644);

	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, path, &d), CBP_OK);
	assert_int_equal(c.nrules, 2);
	assert_string_equal(c.rules[1], "/b");
	assert_int_equal(c.nexcludes, 1);
	assert_string_equal(c.excludes[0], "*.iso");
	assert_int_equal(c.threads, 3);
	assert_true(c.one_file_system);
	assert_true(c.strict);
	assert_int_equal(c.expand.max_depth, 2);
	assert_int_equal(c.caps.load_max, 2 << 20);
	assert_int_equal(c.caps.carve_max, 0);
	assert_int_equal(c.expand.member_max, 1 << 20);
	assert_int_equal(c.expand.total_max, 1ULL << 30);
	assert_int_equal(c.expand.max_members, 10);
	assert_int_equal(c.expand.max_ratio, 50);
	assert_int_equal(c.nauthz, 2);
	assert_string_equal(c.authz[0].glob, "/srv/lpr/*");
	assert_int_equal(c.authz[0].retention_s, 30 * 86400);
	assert_int_equal(c.authz[1].retention_s, -1);
	cbp_config_free(&c);
}

static void
test_errors_name_line_and_column(void **state)
{
	assert_conf_error("threads: 2\nthraeds: 3\n", "2:1: unknown key 'thraeds'");
	assert_conf_error("threads: two\n", "1:10: threads: 'two' is not a whole number");
	assert_conf_error("threads: 5000\n", "1:10: threads: 5000 is out of range");
	assert_conf_error("limits:\n  load_max: 12Q\n", "2:13: load_max: '12Q' is not a size");
	assert_conf_error("limits:\n  bogus: 1\n", "2:3: limits: unknown key 'bogus'");
	assert_conf_error("strict: maybe\n", "1:9: strict: 'maybe' is not true or false");
	assert_conf_error("authorized:\n  - path: /x\n    retention: soon\n",
	    "3:16: authorized: retention must be a duration");
	assert_conf_error("authorized:\n  - retention: 1d\n", "2:5: authorized: 'path' (a glob) is required");
	/* A node's position is where it starts: the '[' or the '-'. */
	assert_conf_error("rules: [a, [b]]\n", "1:12: rules: expected a string");
	assert_conf_error("- a\n- b\n", "1:1: expected a mapping");
	/* A YAML syntax error: unterminated flow sequence. */
	assert_conf_error("threads: 2\nrules: [a, b\n", "");
}

static void
test_yaml_syntax_error_has_position(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };
	const char *path = write_conf("threads: 2\nexclude: \"abc\n", 0644);
	int line = 0, col = 0;
	const char *p;

	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, path, &d), CBP_ESYNTAX);
	p = d.message + strlen(path);
	assert_int_equal(sscanf(p, ":%d:%d:", &line, &col), 2);
	assert_true(line >= 2);
	assert_true(col >= 1);
	assert_non_null(strstr(d.message, "YAML syntax error"));
	cbp_config_free(&c);
}

static void
test_world_writable_refused(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };
	const char *path = write_conf("threads: 2\n", 0666);

	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, path, &d), CBP_EPERM);
	assert_non_null(strstr(d.message, "world-writable"));
	cbp_config_free(&c);
}

static void
test_empty_file_is_defaults(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };
	const char *path = write_conf("", 0644);

	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, path, &d), CBP_OK);
	path = write_conf("# nothing set\n", 0644);
	assert_int_equal(cbp_config_load(&c, path, &d), CBP_OK);
	assert_int_equal(c.caps.load_max, CBP_LOAD_MAX);
	cbp_config_free(&c);
}

static void
test_missing_file(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };

	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, "/nonexistent/cbp.conf", &d), CBP_EIO);
	assert_non_null(strstr(d.message, "/nonexistent/cbp.conf"));
	cbp_config_free(&c);
}

/* Issue 7: the config goes through the shared YAML layer and grammar. */
static void
test_hardened_yaml(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };
	char link[160], want[300];
	const char *path;

	/* The bytes that made libfyaml loop for ever: refused, positioned. */
	assert_conf_error("threads: 2\n%x: \xbb\n", "2:5: invalid UTF-8 "
	    "(byte 0xBB): a configuration file must be UTF-8 text");
	assert_conf_error("a: &x 1\nthreads: *x\n", "2:10: YAML aliases are "
	    "not supported");
	assert_conf_error("threads: 2\nstrict: true\nthreads: 3\n",
	    "3:1: duplicate key 'threads' (first at line 1; keep one)");
	assert_conf_error("authorized:\n  - path: /a\n    path: /b\n",
	    "3:5: authorized: duplicate key 'path'");
	assert_conf_error("threads: 2\n---\nthreads: 3\n",
	    "2:1: a configuration file holds one YAML document");
	/* threads: 0 is refused, as --threads 0 is. */
	assert_conf_error("threads: 0\n", "1:10: threads: 0 is out of range (1 to "
	    "1024; leave threads out to use one per online CPU)");
	assert_conf_error("threads: 00\n", "1:10: threads: 0 is out of range");
	assert_conf_error("strict: yes\n", "1:9: strict: 'yes' is not true or false");
	assert_conf_error("one_file_system: [true]\n", "1:18: one_file_system: "
	    "expected true or false, not a list");
	assert_conf_error("max_depth: 65\n", "1:12: max_depth: 65 is out of range "
	    "(0 to 64)");
	assert_conf_error("limits:\n  load_max: 63K\n", "2:13: load_max: 63K is "
	    "out of range (65536 to 4294967296 bytes)");
	/* A NUL from an escape must not cut a value short. */
	assert_conf_error("threads: \"2\\0x\"\n", "1:11: threads: expected a "
	    "number, not a string with a NUL character");
	/* A symlink to a good file, a FIFO, a device: refused. */
	path = write_conf("threads: 2\n", 0644);
	snprintf(link, sizeof(link), "%s/link.yaml", tmpdir);
	assert_int_equal(symlink(path, link), 0);
	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, link, &d), CBP_EPERM);
	snprintf(want, sizeof(want), "%s: refusing a symbolic link as the "
	    "configuration file", link);
	assert_true(strncmp(d.message, want, strlen(want)) == 0);
	snprintf(link, sizeof(link), "%s/fifo.yaml", tmpdir);
	assert_int_equal(mkfifo(link, 0600), 0);
	assert_int_equal(cbp_config_load(&c, link, &d), CBP_EIO);
	assert_non_null(strstr(d.message, "is not a regular file"));
	assert_int_equal(cbp_config_load(&c, "/dev/null", &d), CBP_EIO);
	assert_int_equal(c.threads, 0);
	/* From memory, as the fuzz target loads it. */
	assert_int_equal(cbp_config_load_string(&c, "m.yaml", "threads: 7\n", 11,
	    &d), CBP_OK);
	assert_int_equal(c.threads, 7);
	assert_int_equal(cbp_config_load_string(&c, "m.yaml", "x: 1\n", 5, &d),
	    CBP_ESYNTAX);
	assert_string_equal(d.message, "m.yaml:1:1: unknown key 'x' (known: rules, "
	    "exclude, threads, one_file_system, strict, max_depth, limits, "
	    "authorized, delivery, known, known_cache)");
	cbp_config_free(&c);
}

/* known_cache: on by default, a bool like the others (issue 10 §4). */
static void
test_known_cache_key(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d;

	(void)state;
	cbp_config_defaults(&c);
	assert_int_equal(c.known_cache, 1);
	assert_int_equal(cbp_config_load_string(&c, "m.yaml",
	    "known_cache: false\n", 19, &d), CBP_OK);
	assert_int_equal(c.known_cache, 0);
	cbp_config_free(&c);
	assert_int_equal(cbp_config_load_string(&c, "m.yaml",
	    "known_cache: maybe\n", 19, &d), CBP_ESYNTAX);
	assert_non_null(strstr(d.message, "known_cache"));
	cbp_config_free(&c);
}

/* Parser workers' budgets (issue 8): defaults from cbp_limits.h, durations
 * and sizes in the config's grammar, out-of-range values refused. */
static void
test_worker_limits(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d;
	static const char ok[] = "limits:\n  object_timeout: 2m\n"
	    "  member_timeout: 5s\n  worker_memory: 512M\n";
	static const char zero[] = "limits:\n  member_timeout: 0\n";
	static const char small[] = "limits:\n  worker_memory: 1M\n";

	(void)state;
	cbp_config_defaults(&c);
	assert_int_equal(c.object_timeout_ms, CBP_OBJECT_TIMEOUT * 1000ULL);
	assert_int_equal(c.member_timeout_ms, CBP_MEMBER_TIMEOUT * 1000ULL);
	assert_int_equal(c.worker_memory, CBP_WORKER_MEMORY);
	assert_int_equal(cbp_config_load_string(&c, "m.yaml", ok, sizeof(ok) - 1,
	    &d), CBP_OK);
	assert_int_equal(c.object_timeout_ms, 120000);
	assert_int_equal(c.member_timeout_ms, 5000);
	assert_int_equal(c.worker_memory, 512 * CBP_MIB);
	assert_int_equal(cbp_config_load_string(&c, "m.yaml", zero,
	    sizeof(zero) - 1, &d), CBP_ESYNTAX);
	assert_non_null(strstr(d.message, "member_timeout"));
	assert_int_equal(cbp_config_load_string(&c, "m.yaml", small,
	    sizeof(small) - 1, &d), CBP_ESYNTAX);
	cbp_config_free(&c);
}

/* known: a path, or entries {path, name, threshold}, each checked. */
static void
test_known_lists(void **state)
{
	struct cbp_config c;
	struct cbp_config_diag d = { { 0 } };
	const char *path;

	(void)state;
	path = write_conf("known:\n  - /etc/cbp/a.tsv\n"
	    "  - {path: /etc/cbp/lists, name: agency-2019, threshold: 20}\n",
	    0644);
	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, path, &d), CBP_OK);
	assert_int_equal(c.nknown, 2);
	assert_string_equal(c.known[0].path, "/etc/cbp/a.tsv");
	assert_null(c.known[0].name);
	assert_int_equal(c.known[0].threshold, -1);
	assert_string_equal(c.known[1].path, "/etc/cbp/lists");
	assert_string_equal(c.known[1].name, "agency-2019");
	assert_int_equal(c.known[1].threshold, 20);
	/* The command line adds to them. */
	assert_int_equal(cbp_config_add_known(&c, "x.tsv", NULL, -1), CBP_OK);
	assert_int_equal(c.nknown, 3);
	cbp_config_free(&c);
	assert_int_equal(c.nknown, 0);

	path = write_conf("known: single.tsv\n", 0644);
	cbp_config_defaults(&c);
	assert_int_equal(cbp_config_load(&c, path, &d), CBP_OK);
	assert_int_equal(c.nknown, 1);
	assert_string_equal(c.known[0].path, "single.tsv");
	cbp_config_free(&c);

	assert_conf_error("known:\n  - {path: a, threshold: 49}\n",
	    "2:26: known: threshold: 49 is out of range");
	assert_conf_error("known:\n  - {name: a}\n",
	    "2:5: known: 'path' (a list file or directory) is required");
	assert_conf_error("known:\n  - {path: a, colour: red}\n",
	    "2:15: known: unknown key 'colour'");
	assert_conf_error("known:\n  - {path: a, name: 'a b'}\n",
	    "2:22: known: name: no blanks");
	assert_conf_error("known: [[a]]\n", "1:9: known: each entry is a path");
}

static void
test_command_line_lists(void **state)
{
	char **list = NULL;
	size_t n = 0;
	const char *a[] = { "x", "y" };
	const char *many[CBP_CONFIG_LIST_MAX + 1];
	size_t i;

	assert_int_equal(cbp_config_add_list(&list, &n, a, 2), CBP_OK);
	assert_int_equal(cbp_config_set_list(&list, &n, a + 1, 1), CBP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0], "y");
	for (i = 0; i < CBP_CONFIG_LIST_MAX + 1; i++)
		many[i] = "z";
	assert_int_equal(cbp_config_add_list(&list, &n, many, CBP_CONFIG_LIST_MAX), CBP_ELIMIT);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_errors_name_line_and_column),
		cmocka_unit_test(test_yaml_syntax_error_has_position),
		cmocka_unit_test(test_world_writable_refused),
		cmocka_unit_test(test_empty_file_is_defaults),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_worker_limits),
		cmocka_unit_test(test_command_line_lists),
		cmocka_unit_test(test_known_lists),
		cmocka_unit_test(test_known_cache_key),
		cmocka_unit_test(test_hardened_yaml),
	};
	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
