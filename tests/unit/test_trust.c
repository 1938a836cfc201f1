/*
 * test_trust.c — cbp_trust.h: the ownership and mode check for files that
 * steer a verdict.
 *
 * Each test builds its tree in a fresh mkdtemp(3) directory under /tmp
 * (0700, ours; /tmp above it is sticky and root's, which the rule allows).
 * The checks run through cbp_trust_check_fd_as() with our own effective
 * uid, so the mode rules are tested by any user; the ownership cases need
 * chown(2) to another uid and are skipped when we are not root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_trust.h"

#define NOBODY 65534

struct tree {
	char root[64];
};

static int
setup(void **state)
{
	static struct tree t;

	snprintf(t.root, sizeof(t.root), "/tmp/cbp-trust-XXXXXX");
	if (mkdtemp(t.root) == NULL)
		return -1;
	*state = &t;
	return 0;
}

static int
teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path_in(const struct tree *t, const char *rel, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", t->root, rel);
}

static void
make_file(const char *p, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x: 1\n", 5), 5);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Open p and check it; returns the code, message in *e. */
static int
check(const char *p, struct cbp_error *e)
{
	int fd, r;

	memset(e, 0, sizeof(*e));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	r = cbp_trust_check_fd_as(fd, p, geteuid(), e);
	close(fd);
	return r;
}

/* Root's 0644 file in 0755 directories: accepted, and so is the directory. */
static void
test_good(void **state)
{
	struct tree *t = *state;
	struct cbp_error e;
	char d[128], f[160];

	path_in(t, "etc", d, sizeof(d));
	assert_int_equal(mkdir(d, 0755), 0);
	snprintf(f, sizeof(f), "%s/cbpscan.conf", d);
	make_file(f, 0644);
	assert_int_equal(check(f, &e), CBP_OK);
	assert_int_equal(check(d, &e), CBP_OK);
	assert_int_equal(check("/", &e), CBP_OK);
}

static void
test_file_writable(void **state)
{
	struct tree *t = *state;
	struct cbp_error e;
	char f[128];

	path_in(t, "world.yaml", f, sizeof(f));
	make_file(f, 0666);
	assert_int_equal(check(f, &e), CBP_EPERM);
	assert_non_null(strstr(e.message, "world-writable (mode 0666)"));
	assert_non_null(strstr(e.message, "chmod go-w"));
	assert_non_null(strstr(e.message, f));
	make_file(f, 0620);
	assert_int_equal(check(f, &e), CBP_EPERM);
	assert_non_null(strstr(e.message, "group-writable (mode 0620)"));
}

static void
test_file_owner(void **state)
{
	struct tree *t = *state;
	struct cbp_error e;
	char f[128];

	if (geteuid() != 0)
		skip();
	path_in(t, "nobody.conf", f, sizeof(f));
	make_file(f, 0644);
	assert_int_equal(chown(f, NOBODY, NOBODY), 0);
	assert_int_equal(check(f, &e), CBP_EPERM);
	assert_non_null(strstr(e.message, "owned by uid 65534"));
	assert_non_null(strstr(e.message, "chown root"));
}

/* A good file below a directory others can write, however deep. */
static void
test_dir_writable(void **state)
{
	struct tree *t = *state;
	struct cbp_error e;
	char d[128], d2[160], f[200];

	path_in(t, "open", d, sizeof(d));
	assert_int_equal(mkdir(d, 0755), 0);
	assert_int_equal(chmod(d, 0777), 0);
	snprintf(d2, sizeof(d2), "%s/sub", d);
	assert_int_equal(mkdir(d2, 0755), 0);
	snprintf(f, sizeof(f), "%s/rules.yaml", d2);
	make_file(f, 0644);
	assert_int_equal(check(f, &e), CBP_EPERM);
	assert_non_null(strstr(e.message, "the directory"));
	assert_non_null(strstr(e.message, "(mode 0777)"));
	assert_non_null(strstr(e.message, d));
	/* Sticky but not root's: its owner can still rename entries. */
	if (geteuid() == 0) {
		assert_int_equal(chmod(d, 01777), 0);
		assert_int_equal(chown(d, NOBODY, NOBODY), 0);
		assert_int_equal(check(f, &e), CBP_EPERM);
		assert_non_null(strstr(e.message, "owned by uid 65534"));
		/* Sticky and root's (like /tmp): accepted. */
		assert_int_equal(chown(d, 0, 0), 0);
		assert_int_equal(check(f, &e), CBP_OK);
	}
}

static void
test_dir_owner(void **state)
{
	struct tree *t = *state;
	struct cbp_error e;
	char d[128], f[160];

	if (geteuid() != 0)
		skip();
	path_in(t, "home", d, sizeof(d));
	assert_int_equal(mkdir(d, 0755), 0);
	snprintf(f, sizeof(f), "%s/cbpscan.mgc", d);
	make_file(f, 0644);
	assert_int_equal(chown(d, NOBODY, NOBODY), 0);
	assert_int_equal(check(f, &e), CBP_EPERM);
	assert_non_null(strstr(e.message, "the directory"));
	assert_non_null(strstr(e.message, "owned by uid 65534"));
}

/*
 * The directories checked are the real ones: a symbolic link from a good
 * place into a bad one does not hide the bad one.
 */
static void
test_symlink_resolved(void **state)
{
	struct tree *t = *state;
	struct cbp_error e;
	char bad[128], f[160], good[128], l[160];

	path_in(t, "bad", bad, sizeof(bad));
	assert_int_equal(mkdir(bad, 0755), 0);
	assert_int_equal(chmod(bad, 0777), 0);
	snprintf(f, sizeof(f), "%s/x.yaml", bad);
	make_file(f, 0644);
	path_in(t, "good", good, sizeof(good));
	assert_int_equal(mkdir(good, 0755), 0);
	snprintf(l, sizeof(l), "%s/x.yaml", good);
	assert_int_equal(symlink(f, l), 0);
	assert_int_equal(check(l, &e), CBP_EPERM);
	assert_non_null(strstr(e.message, bad));
}

/* A file removed after it was opened is not vouched for. */
static void
test_removed(void **state)
{
	struct tree *t = *state;
	struct cbp_error e = { 0 };
	char f[128];
	int fd;

	path_in(t, "gone.yaml", f, sizeof(f));
	make_file(f, 0644);
	fd = open(f, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(unlink(f), 0);
	assert_int_equal(cbp_trust_check_fd_as(fd, f, geteuid(), &e), CBP_EIO);
	close(fd);
}

/* cbp_trust_open: opens, checks, and a FIFO under the name does not block. */
static void
test_open(void **state)
{
	struct tree *t = *state;
	struct cbp_error e = { 0 };
	char f[128], p[128];
	int fd;

	path_in(t, "ok.conf", f, sizeof(f));
	make_file(f, 0644);
	assert_int_equal(cbp_trust_open(f, &fd, &e), CBP_OK);
	assert_true(fd >= 0);
	close(fd);
	path_in(t, "fifo", p, sizeof(p));
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(cbp_trust_open(p, &fd, &e), CBP_OK);
	close(fd);
	memset(&e, 0, sizeof(e));
	path_in(t, "missing", p, sizeof(p));
	assert_int_equal(cbp_trust_open(p, &fd, &e), CBP_EIO);
	assert_int_equal(fd, -1);
	assert_int_equal(e.sys_errno, ENOENT);
	if (geteuid() == 0) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(chmod(f, 0646), 0);
		assert_int_equal(cbp_trust_open(f, &fd, &e), CBP_EPERM);
		assert_int_equal(fd, -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_resolved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
