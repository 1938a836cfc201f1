/*
 * test_confine.c — a confined child is stopped when it tries what a parser
 * never does (exec, sockets, writes, ptrace, new processes, signals to
 * others), and still reads, maps memory and writes to its channel.
 *
 * Every check runs in a forked child, since confinement cannot be undone;
 * the child reports through its exit status (0, or the number of the step
 * that went wrong) and never calls cmocka.  Forbidden syscalls kill it
 * with SIGSYS (seccomp's default); the few the filter refuses softly, and
 * Landlock's refusals, come back as errno values, asserted exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_confine.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static char dir[64];
static int chan[2] = { -1, -1 };	/* pipe: [1] is the child's listed fd */

static int
setup(void **state)
{
	struct cbp_error e = { 0 };

	snprintf(dir, sizeof(dir), "/tmp/cbp-confine-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	/* Load iconv modules and the zone before any child confines. */
	return cbp_confine_preload(&e) != CBP_OK;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0;
}

/*
 * Fork; the child confines itself with `layers` (write allowed to the
 * pipe's write end and stderr), runs fn and exits with its result.  The
 * parent returns the wait status; what the child wrote to the pipe is put
 * in out (NUL-terminated).
 */
static int
run_child(unsigned layers, int (*fn)(void), char *out, size_t outlen)
{
	struct cbp_confine_opts o = { 0 };
	struct cbp_error e = { 0 };
	pid_t pid;
	ssize_t n;
	int st = -1;

	assert_int_equal(pipe(chan), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's handlers would catch the crashes under test. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGSYS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		close(chan[0]);
		o.layers = layers;
		o.write_fds[0] = chan[1];
		o.write_fds[1] = 2;
		o.nwrite_fds = 2;
		o.read_fd = -1;
		if (cbp_confine_apply(&o, NULL, &e) != CBP_OK) {
			fprintf(stderr, "confine: %s\n", e.message);
			_exit(99);
		}
		/* exit, not _exit: sanitizer builds check leaks at exit,
		 * which needs the looser filter's clone and ptrace. */
		exit(fn());
	}
	close(chan[1]);
	n = read(chan[0], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	close(chan[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

#define KILLED_BY_SECCOMP(st) (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
#define EXITED(st, code) (WIFEXITED(st) && WEXITSTATUS(st) == (code))

/* ---- what still works --------------------------------------------------- */

static int
child_allowed(void)
{
	char buf[64], path[128];
	struct stat st;
	unsigned char *m;
	void *big;
	int fd;

	snprintf(path, sizeof(path), "%s/in", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 1;
	if (fstat(fd, &st) != 0 || st.st_size != 5)
		return 2;
	if (pread(fd, buf, sizeof(buf), 0) != 5 || memcmp(buf, "hello", 5))
		return 3;
	close(fd);
	/* Anonymous memory, read-write, and a large malloc (mmap'd). */
	m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 4;
	m[12345] = 7;
	if (munmap(m, 1 << 20) != 0)
		return 5;
	if ((big = malloc(64 << 20)) == NULL)
		return 6;
	memset(big, 1, 64 << 20);
	free(big);
	/* A directory listing (getdents64) read-only. */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return 7;
	close(fd);
	/* openat2's flags are out of seccomp's sight: ENOSYS, so callers
	 * fall back to openat, which is checked. */
	if (syscall(SYS_openat2, AT_FDCWD, "/", NULL, 0) != -1 ||
	    errno != ENOSYS)
		return 10;
	/* isatty probes get ENOTTY, never reach a driver. */
	errno = 0;
	if (isatty(2) || errno != ENOTTY)
		return 8;
	/* The channel. */
	if (write(chan[1], "ok", 2) != 2)
		return 9;
	return 0;
}

static void
test_allowed_still_work(void **state)
{
	char path[128], out[16];
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/in", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("hello", f);
	fclose(f);
	st = run_child(CBP_CONFINE_ALL, child_allowed, out, sizeof(out));
	assert_true(EXITED(st, 0));
	assert_string_equal(out, "ok");
}

/* ---- what is stopped by seccomp ---------------------------------------- */

static int
child_execve(void)
{
	char *argv[] = { "/bin/true", NULL };

	execv("/bin/true", argv);
	return 1;
}

static int
child_socket(void)
{
	(void)socket(AF_INET, SOCK_STREAM, 0);
	return 1;
}

static int
child_socketpair(void)
{
	int sv[2];

	(void)socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	return 1;
}

static int
child_open_write(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/created", dir);
	(void)open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	return 1;
}

static int
child_open_rdwr(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/in", dir);
	(void)open(path, O_RDWR);
	return 1;
}

static int stray_fd = -1;

static int
child_write_unlisted(void)
{
	(void)write(stray_fd, "x", 1);
	return 1;
}

static int
child_unlink(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/in", dir);
	(void)unlink(path);
	return 1;
}

static void
test_seccomp_kills(void **state)
{
	char path[128], out[16];
	struct stat st;

	assert_true(KILLED_BY_SECCOMP(run_child(CBP_CONFINE_ALL, child_execve,
	    out, sizeof(out))));
	assert_true(KILLED_BY_SECCOMP(run_child(CBP_CONFINE_ALL, child_socket,
	    out, sizeof(out))));
	assert_true(KILLED_BY_SECCOMP(run_child(CBP_CONFINE_ALL,
	    child_socketpair, out, sizeof(out))));
	assert_true(KILLED_BY_SECCOMP(run_child(CBP_CONFINE_ALL,
	    child_open_write, out, sizeof(out))));
	snprintf(path, sizeof(path), "%s/created", dir);
	assert_int_equal(stat(path, &st), -1);	/* nothing was made */
	snprintf(path, sizeof(path), "%s/in", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	assert_true(KILLED_BY_SECCOMP(run_child(CBP_CONFINE_ALL,
	    child_open_rdwr, out, sizeof(out))));
	assert_true(KILLED_BY_SECCOMP(run_child(CBP_CONFINE_ALL, child_unlink,
	    out, sizeof(out))));
	assert_int_equal(stat(path, &st), 0);	/* still there */
	stray_fd = open("/dev/null", O_WRONLY);
	assert_true(stray_fd >= 0);
	assert_true(KILLED_BY_SECCOMP(run_child(CBP_CONFINE_ALL,
	    child_write_unlisted, out, sizeof(out))));
	close(stray_fd);
}

/*
 * ptrace, fork, kill of the parent: killed in release builds; in sanitizer
 * builds the filter lets LeakSanitizer's ptrace, CLONE_VM clone and kill
 * through, so the refusal there comes from elsewhere and is asserted as
 * such (Landlock's ptrace and signal scoping, or EPERM for a real fork).
 */
static int
child_ptrace(void)
{
	errno = 0;
	if (ptrace(PTRACE_ATTACH, getppid(), NULL, NULL) == 0)
		return 1;
	return errno == EPERM ? 0 : 2;
}

static int
child_fork(void)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	return p < 0 && errno == EPERM ? 0 : 1;
}

static int
child_kill_parent(void)
{
	if (kill(getppid(), 0) == 0)
		return 1;
	return errno == EPERM ? 0 : 2;
}

static int
child_raise(void)
{
	raise(SIGSEGV);
	return 1;
}

static void
test_processes_and_signals(void **state)
{
	char out[16];
	int st, abi = cbp_confine_landlock_abi();

	st = run_child(CBP_CONFINE_ALL, child_ptrace, out, sizeof(out));
	if (SANITIZED)
		assert_true(abi == 0 || EXITED(st, 0));
	else
		assert_true(KILLED_BY_SECCOMP(st));
	st = run_child(CBP_CONFINE_ALL, child_fork, out, sizeof(out));
	if (SANITIZED)
		assert_true(EXITED(st, 0));
	else
		assert_true(KILLED_BY_SECCOMP(st));
	st = run_child(CBP_CONFINE_ALL, child_kill_parent, out, sizeof(out));
	if (SANITIZED)
		assert_true(abi < 6 || EXITED(st, 0));
	else
		assert_true(KILLED_BY_SECCOMP(st));
	/* A signal to itself is a crash reported with its own signal. */
	st = run_child(CBP_CONFINE_ALL, child_raise, out, sizeof(out));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

/* New executable mappings fail with EPERM; the worker lives on. */
static int
child_exec_mapping(void)
{
	void *p;

	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED || errno != EPERM)
		return 1;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 || errno != EPERM)
		return 3;
	if (mprotect(p, 4096, PROT_READ) != 0)
		return 4;
	return 0;
}

static void
test_no_new_exec_mappings(void **state)
{
	char out[16];

	assert_true(EXITED(run_child(CBP_CONFINE_ALL, child_exec_mapping, out,
	    sizeof(out)), 0));
}

/* ---- Landlock alone ----------------------------------------------------- */

static int
child_landlock(void)
{
	char path[128], buf[8];
	struct sockaddr_in sa;
	int fd, s;

	snprintf(path, sizeof(path), "%s/in", dir);
	if ((fd = open(path, O_RDONLY)) < 0 || read(fd, buf, 5) != 5)
		return 1;
	close(fd);
	if (open(path, O_WRONLY) >= 0 || errno != EACCES)
		return 2;
	snprintf(path, sizeof(path), "%s/new", dir);
	if (open(path, O_WRONLY | O_CREAT, 0644) >= 0 || errno != EACCES)
		return 3;
	snprintf(path, sizeof(path), "%s/in", dir);
	if (unlink(path) == 0 || errno != EACCES)
		return 4;
	if (truncate(path, 0) == 0 || errno != EACCES)
		return 5;
	snprintf(path, sizeof(path), "%s/newdir", dir);
	if (mkdir(path, 0755) == 0 || errno != EACCES)
		return 6;
	/* TCP connect is refused before any packet (ABI >= 4). */
	if (cbp_confine_landlock_abi() >= 4) {
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return 7;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons(9);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		    errno != EACCES)
			return 8;
	}
	if (write(chan[1], "ok", 2) != 2)
		return 9;
	return 0;
}

static void
test_landlock_read_only(void **state)
{
	char path[128], out[16];
	struct stat st;
	FILE *f;
	int status, abi = cbp_confine_landlock_abi();

	if (abi == 0) {
		printf("landlock: not offered by this kernel (ENOSYS or "
		    "disabled at boot): skipped\n");
		skip();
	}
	snprintf(path, sizeof(path), "%s/in", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("hello", f);
	fclose(f);
	status = run_child(CBP_CONFINE_LANDLOCK, child_landlock, out,
	    sizeof(out));
	if (!EXITED(status, 0))
		printf("landlock child: status %#x\n", status);
	assert_true(EXITED(status, 0));
	assert_string_equal(out, "ok");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
}

/* ---- no file opens: descriptors only ------------------------------------ */

static int held_fd = -1;

static int
child_no_files(void)
{
	char buf[8];
	int fd;

	/* What was open before still reads. */
	if (pread(held_fd, buf, 5, 0) != 5 || memcmp(buf, "hello", 5) != 0)
		return 1;
	/* Nothing new opens, not even read-only. */
	if ((fd = open("/etc/hostname", O_RDONLY)) >= 0 || errno != EACCES)
		return 2;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0 || errno != EACCES)
		return 3;
	return 0;
}

static int
child_no_files_landlock(void)
{
	struct cbp_confine_opts o = { 0 };
	struct cbp_confine_info info;

	o.layers = CBP_CONFINE_LANDLOCK;
	o.no_files = 1;
	if (cbp_confine_apply(&o, &info, NULL) != CBP_OK || !info.no_files)
		return 10;
	return child_no_files();
}

static void
test_no_files(void **state)
{
	struct cbp_confine_opts o = { 0 };
	char path[128], out[16];
	pid_t pid;
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/in", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("hello", f);
	fclose(f);
	held_fd = open(path, O_RDONLY);
	assert_true(held_fd >= 0);
	/* Both layers (seccomp refuses openat in release builds). */
	fflush(NULL);
	if ((pid = fork()) == 0) {
		o.write_fds[0] = 2;
		o.nwrite_fds = 1;
		o.no_files = 1;
		if (cbp_confine_apply(&o, NULL, NULL) != CBP_OK)
			_exit(99);
		exit(child_no_files());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(EXITED(st, 0));
	/* Landlock alone grants nothing either. */
	if (cbp_confine_landlock_abi() > 0)
		assert_true(EXITED(run_child(CBP_CONFINE_LANDLOCK,
		    child_no_files_landlock, out, sizeof(out)), 0));
	close(held_fd);
}

/* ---- preload ------------------------------------------------------------ */

static int
child_preloaded(void)
{
	char in[] = "\x82\xa0", outb[16], *ip = in, *op = outb;
	size_t il = 2, ol = sizeof(outb);
	struct tm tm;
	time_t t = 0;
	iconv_t cd;

	/* Preloaded: CP932 (Shift-JIS) hiragana A to UTF-8. */
	if ((cd = iconv_open("UTF-8", "CP932")) == (iconv_t)-1)
		return 1;
	if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 ||
	    memcmp(outb, "\xe3\x81\x82", 3) != 0)
		return 2;
	iconv_close(cd);
	if (localtime_r(&t, &tm) == NULL)
		return 3;
	/* Not preloaded: the module cannot be mapped executable, so the
	 * open fails cleanly instead of killing the worker. */
	if ((cd = iconv_open("UTF-8", "EBCDIC-US")) != (iconv_t)-1)
		return 4;
	return 0;
}

static void
test_preload(void **state)
{
	char out[16];

	assert_true(EXITED(run_child(CBP_CONFINE_ALL, child_preloaded, out,
	    sizeof(out)), 0));
}

/* ---- info and arguments ------------------------------------------------- */

static int
child_info(void)
{
	struct cbp_confine_opts o = { 0 };
	struct cbp_confine_info info;
	struct cbp_error e = { 0 };
	char line[128];
	int abi = cbp_confine_landlock_abi();

	/* A second, nested confinement is allowed and reports itself. */
	o.write_fds[0] = chan[1];
	o.write_fds[1] = 2;
	o.nwrite_fds = 2;
	o.read_fd = -1;
	if (cbp_confine_apply(&o, &info, &e) != CBP_OK)
		return 1;
	if (!info.no_new_privs || !info.seccomp ||
	    info.seccomp_loose != SANITIZED || info.landlock_abi != abi ||
	    info.landlock_net != (abi >= 4) || info.landlock_scoped != (abi >= 6))
		return 2;
	cbp_confine_describe(&info, line, sizeof(line));
	if (write(chan[1], line, strlen(line)) != (ssize_t)strlen(line))
		return 3;
	return 0;
}

/* What a worker pays to confine itself: fork, apply, exit, wait. */
static void
print_confine_cost(void)
{
	struct cbp_confine_opts o = { 0 };
	struct timespec a, b, c;
	pid_t pid;
	int i, st;
	double bare = 0, confined = 0;

	o.write_fds[0] = 2;
	o.nwrite_fds = 1;
	for (i = 0; i < 40; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		if ((pid = fork()) == 0) {
			if (i % 2)
				_exit(cbp_confine_apply(&o, NULL, NULL));
			_exit(0);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(EXITED(st, 0));
		clock_gettime(CLOCK_MONOTONIC, &b);
		c.tv_sec = b.tv_sec - a.tv_sec;
		c.tv_nsec = b.tv_nsec - a.tv_nsec;
		*(i % 2 ? &confined : &bare) += (double)c.tv_sec * 1e3 +
		    (double)c.tv_nsec / 1e6;
	}
	printf("fork+exit+wait: %.2f ms; with confinement: %.2f ms\n",
	    bare / 20, confined / 20);
}

static void
test_info_and_describe(void **state)
{
	struct cbp_confine_opts o = { 0 };
	struct cbp_error e = { 0 };
	char out[128];

	/* Nothing to confine yet: only the landlock layer, which is
	 * harmless here; then the real check in a child. */
	assert_true(EXITED(run_child(CBP_CONFINE_LANDLOCK, child_info, out,
	    sizeof(out)), 0));
	assert_non_null(strstr(out, "seccomp"));
	if (cbp_confine_landlock_abi() > 0)
		assert_non_null(strstr(out, "landlock ABI"));
	else
		assert_non_null(strstr(out, "no landlock"));
	printf("confinement here: %s\n", out);

	print_confine_cost();
	o.nwrite_fds = CBP_CONFINE_MAX_FDS + 1;
	assert_int_equal(cbp_confine_apply(&o, NULL, &e), CBP_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_still_work),
		cmocka_unit_test(test_seccomp_kills),
		cmocka_unit_test(test_processes_and_signals),
		cmocka_unit_test(test_no_new_exec_mappings),
		cmocka_unit_test(test_landlock_read_only),
		cmocka_unit_test(test_no_files),
		cmocka_unit_test(test_preload),
		cmocka_unit_test(test_info_and_describe),
	};
	return cmocka_run_group_tests_name("confine", tests, setup, teardown);
}
