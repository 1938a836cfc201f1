/*
 * test_supervise.c — confined workers that loop, allocate without end,
 * crash, lie on their channel, or die at start-up each cost one job (or a
 * throttled respawn), never the supervisor; and a thousand quick jobs all
 * come back, each with its own results before its end.
 *
 * The job function below is a small command interpreter: the job bytes
 * name what a misbehaving parser would do.  Timing asserts are generous
 * (the machine is shared): they prove "bounded", not "fast".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "cbp_identify.h"
#include "cbp_supervise.h"

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

#if SANITIZED
/* A capped worker must see malloc fail, as release builds do, instead of
 * ASan aborting on the failed mapping (see cbp_supervise.h). */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

#define T_TEXT 16	/* a result frame: text */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
spin_ms(double ms)
{
	double end = now_s() + ms / 1000.0;

	while (now_s() < end)
		;
}

/* ---- the worker's side -------------------------------------------------- */

static int
job(struct cbp_sv_worker *w, const unsigned char *p, size_t len,
    const int *fds, unsigned nfds, void *arg)
{
	char cmd[256], buf[256];
	size_t got = 0;
	ssize_t n;
	int i, fd = nfds > 0 ? fds[0] : -1;
	unsigned k;

	if (len >= sizeof(cmd))
		return CBP_EINVAL;
	memcpy(cmd, p, len);
	cmd[len] = '\0';
	if (strncmp(cmd, "echo:", 5) == 0)
		return cbp_sv_send(w, T_TEXT, cmd + 5, len - 5);
	if (strcmp(cmd, "fd") == 0) {
		/* Read what the parent handed over. */
		if (fd < 0 || (n = pread(fd, buf, sizeof(buf), 0)) < 0)
			return CBP_EIO;
		return cbp_sv_send(w, T_TEXT, buf, (size_t)n);
	}
	if (strcmp(cmd, "fds") == 0) {
		/* Several descriptors, in the order they were submitted. */
		for (k = 0; k < nfds; k++) {
			if ((n = pread(fds[k], buf + got, 16, 0)) < 0)
				return CBP_EIO;
			got += (size_t)n;
		}
		return cbp_sv_send(w, T_TEXT, buf, got);
	}
	if (strcmp(cmd, "open") == 0) {
		/* Open a file by name: refused when workers open nothing. */
		if ((i = open("/etc/hostname", O_RDONLY)) < 0)
			return errno == EACCES ? CBP_EPERM : CBP_EIO;
		close(i);
		return 0;
	}
	if (strcmp(cmd, "loop") == 0) {
		for (;;)
			spin_ms(1000);
	}
	if (strcmp(cmd, "hog") == 0) {
		/* Allocate and touch until malloc says no; the blocks are
		 * deliberately kept (a parser that never frees). */
		for (;;) {
			unsigned char *b = malloc(1 << 20);

			if (b == NULL)
				break;
			memset(b, 0xa5, 1 << 20);
			got++;
		}
		n = snprintf(buf, sizeof(buf), "%zu", got);
		cbp_sv_send(w, T_TEXT, buf, (size_t)n);
		return CBP_ENOMEM;
	}
	if (strcmp(cmd, "segv") == 0) {
		raise(SIGSEGV);
		return 0;
	}
	if (strcmp(cmd, "exec") == 0) {
		char *argv[] = { "/bin/sh", "-c", "true", NULL };

		execv("/bin/sh", argv);
		return 0;
	}
	if (strcmp(cmd, "socket") == 0) {
		(void)socket(AF_INET, SOCK_STREAM, 0);
		return 0;
	}
	if (strcmp(cmd, "badlen") == 0) {
		/* A header whose length disagrees with the message.  The
		 * channel is fd 3 in every worker. */
		uint32_t h[2] = { 1000, T_TEXT };

		(void)write(3, h, sizeof(h));
		spin_ms(10000);
		return 0;
	}
	if (strcmp(cmd, "badend") == 0) {
		/* An end for a job this worker does not hold. */
		struct {
			uint32_t len;
			uint16_t type, flags;
			uint64_t id;
			int32_t status;
		} __attribute__((packed)) f = { 12, 3, 0, 999999, 0 };

		(void)write(3, &f, sizeof(f));
		spin_ms(10000);
		return 0;
	}
	if (strcmp(cmd, "flood") == 0) {
		/* More frames than the socket holds: the worker blocks while
		 * the parent reads in batches; none may be lost. */
		for (i = 0; i < 5000; i++) {
			n = snprintf(buf, sizeof(buf), "%d", i);
			if (cbp_sv_send(w, T_TEXT, buf, (size_t)n) != CBP_OK)
				return CBP_EIO;
		}
		return 0;
	}
	if (strcmp(cmd, "pid") == 0) {
		n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
		return cbp_sv_send(w, T_TEXT, buf, (size_t)n);
	}
	if (strcmp(cmd, "marks") == 0) {
		/* Ten steps of 100 ms under a 400 ms step budget: fine. */
		for (i = 0; i < 10; i++) {
			cbp_sv_mark(w, &i, sizeof(i));
			spin_ms(100);
		}
		return 0;
	}
	if (strcmp(cmd, "frame-then-hang") == 0) {
		cbp_sv_send(w, T_TEXT, "before the hang", 15);
		for (;;)
			spin_ms(1000);
	}
	if (strcmp(cmd, "progress") == 0) {
		/* Ten steps of 100 ms under a 400 ms step budget, through the
		 * shared page: no frame, yet not a timeout. */
		for (i = 0; i < 10; i++) {
			cbp_sv_progress(w, &i, sizeof(i), i == 0);
			spin_ms(100);
		}
		return 0;
	}
	if (strcmp(cmd, "progress-then-hang") == 0) {
		i = 5;
		cbp_sv_progress(w, &i, sizeof(i), 1);
		for (;;)
			spin_ms(1000);
	}
	if (strcmp(cmd, "mark-then-hang") == 0) {
		i = 7;
		cbp_sv_mark(w, &i, sizeof(i));
		for (;;)
			spin_ms(1000);
	}
	return CBP_EINVAL;
}

static int
init_fails(void *arg)
{
	return 1;
}

/*
 * Real parsers in a confined worker that opens nothing: libmagic (our
 * database, loaded in init, before confinement) on the head, then
 * libarchive over every member of the archive handed over as a
 * descriptor.  Sends "mime members bytes".
 */
static struct cbp_identify *ident;

static int
init_identify(void *arg)
{
	struct cbp_error e = { 0 };

	ident = cbp_identify_new(getenv("CBPSCAN_MAGIC"), NULL, &e);
	return ident == NULL;
}

static int
job_archive(struct cbp_sv_worker *w, const unsigned char *p, size_t len,
    const int *fds, unsigned nfds, void *arg)
{
	int fd = nfds > 0 ? fds[0] : -1;
	static unsigned char buf[65536];
	struct archive *a;
	struct archive_entry *ent;
	char out[256];
	const char *mime;
	unsigned members = 0;
	size_t total = 0;
	ssize_t n;
	int r, rc = CBP_OK;

	if ((n = pread(fd, buf, 4096, 0)) <= 0)
		return CBP_EIO;
	mime = cbp_identify_mime(ident, buf, (size_t)n);
	snprintf(out, sizeof(out), "%s", mime);
	if ((a = archive_read_new()) == NULL)
		return CBP_ENOMEM;
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	if (archive_read_open_fd(a, fd, 16384) != ARCHIVE_OK) {
		archive_read_free(a);
		return CBP_ECORRUPT;
	}
	/* WARN: a name not convertible to the locale's codeset (the C
	 * locale and 7-Zip's UTF-16 names); the member is still read. */
	while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK ||
	    r == ARCHIVE_WARN) {
		members++;
		while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
			total += (size_t)n;
		if (n < 0) {
			rc = CBP_ECORRUPT;
			break;
		}
	}
	if (rc != CBP_OK || r != ARCHIVE_EOF)
		snprintf(out, sizeof(out), "%s: %s", mime,
		    archive_error_string(a));
	if (r != ARCHIVE_EOF && rc == CBP_OK)
		rc = CBP_ECORRUPT;
	archive_read_free(a);
	n = snprintf(out + strlen(out), sizeof(out) - strlen(out), " %u %zu",
	    members, total);
	cbp_sv_send(w, T_TEXT, out, strlen(out));
	return rc;
}

/* ---- the parent's side -------------------------------------------------- */

static struct cbp_sv *
start(unsigned n, unsigned depth, uint64_t job_ms, uint64_t step_ms,
    size_t cap)
{
	struct cbp_sv_opts o = { 0 };
	struct cbp_error e = { 0 };
	struct cbp_sv *s = NULL;

	o.nworkers = n;
	o.depth = depth;
	o.job_timeout_ms = job_ms;
	o.step_timeout_ms = step_ms;
	o.mem_cap = cap;
	o.job = job;
	if (cbp_sv_new(&o, &s, &e) != CBP_OK)
		fail_msg("cbp_sv_new: %s", e.message);
	return s;
}

static void
submit(struct cbp_sv *s, uint64_t id, const char *cmd)
{
	struct cbp_error e = { 0 };

	assert_int_equal(cbp_sv_submit(s, id, cmd, strlen(cmd), -1, &e), CBP_OK);
}

/*
 * Poll until job id is DONE (30 s at most); its DONE event goes to *done,
 * the text of its last frame to text.
 */
static void
wait_done(struct cbp_sv *s, uint64_t id, struct cbp_sv_event *done,
    char *text, size_t textlen)
{
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	double end = now_s() + 30;

	if (text != NULL)
		text[0] = '\0';
	while (now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		if (ev.kind == CBP_SV_FRAME && ev.job == id && text != NULL)
			snprintf(text, textlen, "%.*s", (int)ev.len,
			    (const char *)ev.data);
		if (ev.kind == CBP_SV_DONE && ev.job == id) {
			*done = ev;
			return;
		}
	}
	fail_msg("job %llu not done in 30 s", (unsigned long long)id);
}

static void
test_echo_fd_and_confinement(void **state)
{
	struct cbp_sv *s = start(2, 1, 10000, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_confine_info info;
	struct cbp_error e = { 0 };
	char text[64], path[] = "/tmp/cbp-sv-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "handed over", 11), 11);
	unlink(path);
	submit(s, 1, "echo:hello");
	wait_done(s, 1, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_int_equal(ev.status, 0);
	assert_string_equal(text, "hello");
	assert_string_equal(cbp_sv_outcome_reason(ev.outcome), "ok");

	/* A descriptor travels with the job; the supervisor closes it. */
	assert_int_equal(cbp_sv_submit(s, 2, "fd", 2, fd, &e), CBP_OK);
	wait_done(s, 2, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_string_equal(text, "handed over");
	assert_int_equal(fcntl(fd, F_GETFD), -1);

	/* Several travel in order (a batch spanning directories). */
	{
		int fds[CBP_SV_FDS_MAX];
		char want[CBP_SV_FDS_MAX + 1];
		unsigned k;

		for (k = 0; k < CBP_SV_FDS_MAX; k++) {
			char p2[] = "/tmp/cbp-sv-XXXXXX";

			assert_true((fds[k] = mkstemp(p2)) >= 0);
			unlink(p2);
			want[k] = (char)('a' + k);
			assert_int_equal(write(fds[k], &want[k], 1), 1);
		}
		want[k] = '\0';
		assert_int_equal(cbp_sv_submit_fds(s, 3, "fds", 3, fds,
		    CBP_SV_FDS_MAX, &e), CBP_OK);
		wait_done(s, 3, &ev, text, sizeof(text));
		assert_int_equal(ev.outcome, CBP_SV_OK);
		assert_string_equal(text, want);
		for (k = 0; k < CBP_SV_FDS_MAX; k++)
			assert_int_equal(fcntl(fds[k], F_GETFD), -1);
	}

	cbp_sv_confinement(s, &info);
	assert_int_equal(info.seccomp, 1);
	assert_int_equal(info.no_new_privs, 1);
	assert_int_equal(info.seccomp_loose, SANITIZED);
	assert_int_equal(info.landlock_abi, cbp_confine_landlock_abi());
	assert_int_equal(cbp_sv_pending(s), 0);
	cbp_sv_free(s);
}

/* Workers that open nothing still read what the parent hands over. */
static void
test_descriptors_only(void **state)
{
	struct cbp_sv_opts o = { 0 };
	struct cbp_error e = { 0 };
	struct cbp_sv_event ev;
	struct cbp_confine_info info;
	struct cbp_sv *s = NULL;
	char text[64], path[] = "/tmp/cbp-sv-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "by descriptor", 13), 13);
	unlink(path);
	o.nworkers = 1;
	o.job = job;
	o.no_files = 1;
	assert_int_equal(cbp_sv_new(&o, &s, &e), CBP_OK);
	assert_int_equal(cbp_sv_submit(s, 1, "fd", 2, fd, &e), CBP_OK);
	wait_done(s, 1, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_string_equal(text, "by descriptor");
	submit(s, 2, "open");
	wait_done(s, 2, &ev, NULL, 0);
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_int_equal(ev.status, CBP_EPERM);
	cbp_sv_confinement(s, &info);
	assert_int_equal(info.no_files, 1);
	cbp_sv_free(s);
}

static void
test_real_parsers_confined(void **state)
{
	static const struct {
		const char *name, *make, *mime;
	} cases[] = {
		{ "a.tar.gz", "tar czf a.tar.gz src", "application/gzip" },
		{ "a.tar.xz", "tar cJf a.tar.xz src", "application/x-xz" },
		{ "a.tar.bz2", "tar cjf a.tar.bz2 src", "application/x-bzip2" },
		{ "a.zip", "zip -qr a.zip src", "application/zip" },
		{ "a.7z", "7z a -bd a.7z src >/dev/null", "application/x-7z-compressed" },
		{ "a.tar.zst", "tar --zstd -cf a.tar.zst src", "application/zstd" },
	};
	struct cbp_sv_opts o = { 0 };
	struct cbp_error e = { 0 };
	struct cbp_sv_event ev;
	struct cbp_sv *s = NULL;
	char dir[] = "/tmp/cbp-svar-XXXXXX", cmd[512], path[256], text[256];
	char want[128];
	size_t i;
	int fd;

	assert_non_null(mkdtemp(dir));
	/* Three members, one with a non-ASCII name (7-Zip stores UTF-16:
	 * the converter must be there, preloaded). */
	snprintf(cmd, sizeof(cmd), "cd %s && mkdir src && "
	    "head -c 100000 /dev/urandom > src/one && printf 'PLATE=7AB123' "
	    "> src/two && printf x > \"src/\xc3\xa9t\xc3\xa9\"", dir);
	assert_int_equal(system(cmd), 0);
	o.nworkers = 1;
	o.job = job_archive;
	o.init = init_identify;
	o.no_files = 1;
	o.mem_cap = (size_t)512 << 20;
	o.job_timeout_ms = 30000;
	assert_int_equal(cbp_sv_new(&o, &s, &e), CBP_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), "cd %s && %s", dir, cases[i].make);
		if (system(cmd) != 0) {
			printf("%s: could not be made here, not tested\n",
			    cases[i].name);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, cases[i].name);
		assert_true((fd = open(path, O_RDONLY)) >= 0);
		assert_int_equal(cbp_sv_submit(s, i, "", 0, fd, &e), CBP_OK);
		wait_done(s, i, &ev, text, sizeof(text));
		if (ev.outcome != CBP_SV_OK || ev.status != CBP_OK)
			fail_msg("%s: %s (%s) status %d, \"%s\"", cases[i].name,
			    cbp_sv_outcome_reason(ev.outcome), ev.detail,
			    ev.status, text);
		/* tar lists the directory too: 4 members; zip and 7z too. */
		snprintf(want, sizeof(want), "%s 4 100013", cases[i].mime);
		assert_string_equal(text, want);
	}
	cbp_sv_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_loop_times_out_and_is_replaced(void **state)
{
	struct cbp_sv *s = start(1, 1, 500, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_sv_stats st;
	char text[64];
	double t0;

	submit(s, 1, "loop");
	submit(s, 2, "echo:after");	/* queued behind the hang */
	t0 = now_s();
	wait_done(s, 1, &ev, NULL, 0);
	assert_int_equal(ev.outcome, CBP_SV_TIMEOUT);
	assert_string_equal(cbp_sv_outcome_reason(ev.outcome), "timeout");
	assert_non_null(strstr(ev.detail, "job budget 500 ms"));
	assert_true(now_s() - t0 >= 0.4);
	assert_true(now_s() - t0 < 5.0);
	/* The job behind it went to the replacement and was answered. */
	wait_done(s, 2, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_string_equal(text, "after");
	/* What a job sent before it hung still arrives, then its end. */
	submit(s, 3, "frame-then-hang");
	wait_done(s, 3, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_TIMEOUT);
	assert_string_equal(text, "before the hang");
	cbp_sv_get_stats(s, &st);
	assert_int_equal(st.spawned, 2);	/* the next is forked when due */
	assert_int_equal(st.deaths, 2);
	assert_int_equal(st.done[CBP_SV_TIMEOUT], 2);
	cbp_sv_free(s);
}

/* A caller that does not poll for longer than the budget: the end that
 * waits unread is read before the worker is judged, so nothing times out. */
static void
test_late_poll_is_not_a_timeout(void **state)
{
	struct cbp_sv *s = start(1, 4, 300, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_sv_stats st;
	char text[64];

	submit(s, 0, "echo:warm");
	wait_done(s, 0, &ev, NULL, 0);
	submit(s, 1, "echo:one");
	submit(s, 2, "echo:two");
	usleep(800 * 1000);	/* both answered long ago, nobody read */
	wait_done(s, 1, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	wait_done(s, 2, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_string_equal(text, "two");
	cbp_sv_get_stats(s, &st);
	assert_int_equal(st.deaths, 0);
	cbp_sv_free(s);
}

static void
test_step_budget(void **state)
{
	struct cbp_sv *s = start(1, 1, 20000, 400, 0);
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	int marks = 0, last = -1;
	double end = now_s() + 30;

	/* Ten marks 100 ms apart: a second in all, never 400 ms silent. */
	submit(s, 1, "marks");
	while (now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		if (ev.kind == CBP_SV_MARK) {
			assert_int_equal(ev.len, sizeof(int));
			memcpy(&last, ev.data, sizeof(int));
			marks++;
		}
		if (ev.kind == CBP_SV_DONE)
			break;
	}
	assert_int_equal(ev.kind, CBP_SV_DONE);
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_int_equal(marks, 10);
	assert_int_equal(last, 9);
	/* Silent after its mark: the step budget ends it, and the mark
	 * (where it was) arrives first. */
	submit(s, 2, "mark-then-hang");
	last = -1;
	end = now_s() + 30;
	while (now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		if (ev.kind == CBP_SV_MARK)
			memcpy(&last, ev.data, sizeof(int));
		if (ev.kind == CBP_SV_DONE)
			break;
	}
	assert_int_equal(last, 7);
	assert_int_equal(ev.kind, CBP_SV_DONE);
	assert_int_equal(ev.outcome, CBP_SV_TIMEOUT);
	assert_non_null(strstr(ev.detail, "step budget 400 ms"));
	cbp_sv_free(s);
}

/*
 * Progress left in the shared page (cbp_sv_progress) restarts the step
 * budget without a frame, and a job that fails brings its last progress
 * in DONE, so the caller knows where it was.
 */
static void
test_progress_page(void **state)
{
	struct cbp_sv *s = start(1, 1, 20000, 400, 0);
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	double end = now_s() + 30;
	int last = -1;

	submit(s, 1, "progress");
	while (now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		assert_int_not_equal(ev.kind, CBP_SV_MARK);
		if (ev.kind == CBP_SV_DONE)
			break;
	}
	assert_int_equal(ev.kind, CBP_SV_DONE);
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_int_equal(ev.len, sizeof(int));	/* the last progress */
	memcpy(&last, ev.data, sizeof(int));
	assert_int_equal(last, 9);
	submit(s, 2, "progress-then-hang");
	end = now_s() + 30;
	while (now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		if (ev.kind == CBP_SV_DONE)
			break;
	}
	assert_int_equal(ev.kind, CBP_SV_DONE);
	assert_int_equal(ev.job, 2);
	assert_int_equal(ev.outcome, CBP_SV_TIMEOUT);
	assert_int_equal(ev.len, sizeof(int));
	memcpy(&last, ev.data, sizeof(int));
	assert_int_equal(last, 5);
	cbp_sv_free(s);
}

static long
max_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void
test_memory_hog_hits_the_cap(void **state)
{
	struct cbp_sv *s = start(1, 1, 30000, 0, (size_t)256 << 20);
	struct cbp_sv_event ev;
	char text[64];
	long before = max_rss_kib();
	unsigned long mib;

	submit(s, 1, "hog");
	wait_done(s, 1, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_LIMIT);
	assert_int_equal(ev.status, CBP_ENOMEM);
	assert_string_equal(cbp_sv_outcome_reason(ev.outcome), "limit");
	assert_non_null(strstr(ev.detail, "memory cap 256 MiB"));
	/* The worker got about its cap (less under ASan: its redzones,
	 * quarantine and metadata count too), the parent nothing. */
	mib = strtoul(text, NULL, 10);
	printf("hog: worker allocated %lu MiB under a 256 MiB cap\n", mib);
	assert_true(mib >= 64 && mib <= 256);
	assert_true(max_rss_kib() - before < 32 * 1024);
	/* The worker survived its failed mallocs and takes the next job. */
	submit(s, 2, "echo:still here");
	wait_done(s, 2, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	cbp_sv_free(s);
}

static void
test_crashes_are_reported_with_their_signal(void **state)
{
	struct cbp_sv *s = start(1, 1, 10000, 0, 0);
	struct cbp_sv_event ev;
	char text[64];

	submit(s, 1, "segv");
	wait_done(s, 1, &ev, NULL, 0);
	assert_int_equal(ev.outcome, CBP_SV_CRASH);
	assert_int_equal(ev.signal, SIGSEGV);
	assert_string_equal(ev.detail, "signal 11");
	assert_string_equal(cbp_sv_outcome_reason(ev.outcome), "corrupt");
	/* A parser that tries to exec or open a socket: seccomp kills it. */
	submit(s, 2, "exec");
	wait_done(s, 2, &ev, NULL, 0);
	assert_int_equal(ev.outcome, CBP_SV_CRASH);
	assert_int_equal(ev.signal, SIGSYS);
	assert_string_equal(ev.detail, "signal 31 (forbidden syscall)");
	submit(s, 3, "socket");
	wait_done(s, 3, &ev, NULL, 0);
	assert_int_equal(ev.signal, SIGSYS);
	/* And the scan goes on. */
	submit(s, 4, "echo:on");
	wait_done(s, 4, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_string_equal(text, "on");
	cbp_sv_free(s);
}

static void
test_malformed_frames_kill_the_worker(void **state)
{
	struct cbp_sv *s = start(1, 1, 30000, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_sv_stats st;
	char text[64];
	double t0 = now_s();

	submit(s, 1, "badlen");
	wait_done(s, 1, &ev, NULL, 0);
	assert_int_equal(ev.outcome, CBP_SV_PROTOCOL);
	assert_non_null(strstr(ev.detail, "malformed frame"));
	submit(s, 2, "badend");
	wait_done(s, 2, &ev, NULL, 0);
	assert_int_equal(ev.outcome, CBP_SV_PROTOCOL);
	assert_non_null(strstr(ev.detail, "out of place"));
	/* Killed at once, not after the job's 10 s spin. */
	assert_true(now_s() - t0 < 5.0);
	submit(s, 3, "echo:ok");
	wait_done(s, 3, &ev, text, sizeof(text));
	assert_int_equal(ev.outcome, CBP_SV_OK);
	cbp_sv_get_stats(s, &st);
	assert_int_equal(st.deaths, 2);
	assert_int_equal(st.done[CBP_SV_PROTOCOL], 2);
	cbp_sv_free(s);
}

/*
 * Jobs submitted together go to different workers, each to the one that
 * holds the fewest (a split archive's parts must run side by side), not
 * all written ahead to the first until its queue is full.
 */
static void
test_jobs_go_to_the_least_loaded_worker(void **state)
{
	struct cbp_sv *s = start(2, 8, 10000, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	struct cbp_sv_stats st;
	int worker[4] = { -1, -1, -1, -1 };
	unsigned i, ndone = 0;
	double end = now_s() + 30;

	/* Both workers up first: a worker still starting takes jobs too,
	 * but one not yet forked does not. */
	do {
		assert_int_equal(cbp_sv_poll(s, 100, &ev, &e), CBP_OK);
		cbp_sv_get_stats(s, &st);
	} while (st.ready < 2 && now_s() < end);
	assert_int_equal(st.ready, 2);
	for (i = 0; i < 4; i++)
		submit(s, i, "echo:x");
	while (ndone < 4 && now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		if (ev.kind != CBP_SV_DONE)
			continue;
		assert_true(ev.job < 4);
		assert_int_equal(ev.outcome, CBP_SV_OK);
		worker[ev.job] = (int)ev.worker;
		ndone++;
	}
	assert_int_equal(ndone, 4);
	/* 0 and 1 to the two idle workers, then 2 and 3 likewise. */
	assert_int_not_equal(worker[0], worker[1]);
	assert_int_not_equal(worker[2], worker[3]);
	cbp_sv_free(s);
}

static void
test_thousand_jobs_two_workers(void **state)
{
	enum { N = 1000 };
	struct cbp_sv *s = start(2, 4, 10000, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_sv_stats st;
	struct cbp_error e = { 0 };
	static unsigned char framed[N], done[N];
	char cmd[32];
	unsigned i, ndone = 0;
	double t0, t1, end;

	memset(framed, 0, sizeof(framed));
	memset(done, 0, sizeof(done));
	/* Wait for both workers, so the timing is of jobs alone. */
	submit(s, N, "echo:warm");
	wait_done(s, N, &ev, NULL, 0);
	t0 = now_s();
	for (i = 0; i < N; i++) {
		snprintf(cmd, sizeof(cmd), "echo:%u", i);
		submit(s, i, cmd);
	}
	end = now_s() + 60;
	while (ndone < N && now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		if (ev.kind == CBP_SV_NONE)
			continue;
		assert_true(ev.job < N);
		if (ev.kind == CBP_SV_FRAME) {
			/* Each job's result comes before its end, once. */
			snprintf(cmd, sizeof(cmd), "%llu",
			    (unsigned long long)ev.job);
			assert_int_equal(ev.len, strlen(cmd));
			assert_memory_equal(ev.data, cmd, ev.len);
			assert_int_equal(framed[ev.job], 0);
			assert_int_equal(done[ev.job], 0);
			framed[ev.job] = 1;
		} else if (ev.kind == CBP_SV_DONE) {
			assert_int_equal(ev.outcome, CBP_SV_OK);
			assert_int_equal(framed[ev.job], 1);
			assert_int_equal(done[ev.job], 0);
			done[ev.job] = 1;
			ndone++;
		}
	}
	t1 = now_s();
	assert_int_equal(ndone, N);
	assert_int_equal(cbp_sv_pending(s), 0);
	cbp_sv_get_stats(s, &st);
	assert_int_equal(st.spawned, 2);
	printf("%d jobs, 2 workers, depth 4: %.1f ms, %.1f us per job; "
	    "worker start (fork, confine, ready): mean %.2f ms, max %.2f ms\n",
	    N, (t1 - t0) * 1e3, (t1 - t0) * 1e6 / N,
	    st.start_us_sum / 1e3 / (double)st.ready, st.start_us_max / 1e3);
	cbp_sv_free(s);
}

static void
test_flood_of_frames_arrives_whole(void **state)
{
	struct cbp_sv *s = start(1, 1, 30000, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	char want[16];
	int next = 0;
	double end = now_s() + 30;

	submit(s, 1, "flood");
	while (now_s() < end) {
		assert_int_equal(cbp_sv_poll(s, 1000, &ev, &e), CBP_OK);
		if (ev.kind == CBP_SV_FRAME) {
			snprintf(want, sizeof(want), "%d", next++);
			assert_int_equal(ev.len, strlen(want));
			assert_memory_equal(ev.data, want, ev.len);
		}
		if (ev.kind == CBP_SV_DONE)
			break;
	}
	assert_int_equal(ev.kind, CBP_SV_DONE);
	assert_int_equal(ev.outcome, CBP_SV_OK);
	assert_int_equal(next, 5000);
	cbp_sv_free(s);
}

static void
test_round_trip_depth_one(void **state)
{
	enum { N = 300 };
	struct cbp_sv *s = start(1, 1, 10000, 0, 0);
	struct cbp_sv_event ev;
	unsigned i;
	double t0;

	submit(s, 0, "echo:warm");
	wait_done(s, 0, &ev, NULL, 0);
	t0 = now_s();
	for (i = 1; i <= N; i++) {
		submit(s, i, "echo:x");
		wait_done(s, i, &ev, NULL, 0);
		assert_int_equal(ev.outcome, CBP_SV_OK);
	}
	printf("round trip (submit, result frame, end; one worker): %.1f us\n",
	    (now_s() - t0) * 1e6 / N);
	cbp_sv_free(s);
}

static void
test_stop_during_hang_is_prompt(void **state)
{
	struct cbp_sv *s = start(2, 1, 600000, 0, 0);
	struct cbp_sv_event ev;
	struct cbp_error e = { 0 };
	double t0;
	int st;

	submit(s, 1, "loop");
	submit(s, 2, "loop");
	submit(s, 3, "echo:never");
	assert_int_equal(cbp_sv_poll(s, 300, &ev, &e), CBP_OK);
	t0 = now_s();
	cbp_sv_stop(s);
	assert_true(now_s() - t0 < 5.0);
	assert_int_equal(cbp_sv_pending(s), 0);
	assert_int_equal(cbp_sv_submit(s, 4, "echo:x", 6, -1, &e), CBP_EINVAL);
	/* Every worker was reaped: no child is left. */
	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	cbp_sv_free(s);
}

/* Gone, or a zombie nobody reaps (pid 1 in a container may not). */
static int
process_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	return p != NULL && (p = strrchr(buf, ')')) != NULL && p[2] == 'Z';
}

/* A parent that dies without stopping takes its workers with it. */
static void
test_workers_die_with_their_parent(void **state)
{
	int pfd[2], st;
	pid_t mid, worker = 0;
	char text[32] = "";
	ssize_t n;
	double end;

	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	if ((mid = fork()) == 0) {
		struct cbp_sv_opts o = { 0 };
		struct cbp_sv_event ev;
		struct cbp_error e = { 0 };
		struct cbp_sv *s = NULL;
		char t[32] = "";
		double stop = now_s() + 20;

		close(pfd[0]);
		o.nworkers = 1;
		o.job = job;
		if (cbp_sv_new(&o, &s, &e) != CBP_OK ||
		    cbp_sv_submit(s, 1, "pid", 3, -1, &e) != CBP_OK ||
		    cbp_sv_submit(s, 2, "loop", 4, -1, &e) != CBP_OK)
			_exit(1);
		while (now_s() < stop && cbp_sv_poll(s, 500, &ev, &e) == CBP_OK)
			if (ev.kind == CBP_SV_FRAME) {
				snprintf(t, sizeof(t), "%.*s", (int)ev.len,
				    (const char *)ev.data);
				break;
			}
		(void)write(pfd[1], t, strlen(t));
		_exit(0);	/* no stop, no free: a parent that dies */
	}
	close(pfd[1]);
	n = read(pfd[0], text, sizeof(text) - 1);
	close(pfd[0]);
	assert_true(n > 0);
	text[n] = '\0';
	worker = (pid_t)strtol(text, NULL, 10);
	assert_true(worker > 0);
	assert_int_equal(waitpid(mid, &st, 0), mid);
	end = now_s() + 5;
	while (!process_gone(worker) && now_s() < end)
		usleep(10000);
	assert_true(process_gone(worker));
}

static void
test_startup_deaths_are_throttled(void **state)
{
	struct cbp_sv_opts o = { 0 };
	struct cbp_error e = { 0 };
	struct cbp_sv_event ev;
	struct cbp_sv_stats st;
	struct cbp_sv *s = NULL;
	double t0 = now_s();
	int r = CBP_OK;

	o.nworkers = 2;
	o.job = job;
	o.init = init_fails;
	assert_int_equal(cbp_sv_new(&o, &s, &e), CBP_OK);
	submit(s, 1, "echo:never");
	while (r == CBP_OK && now_s() - t0 < 60)
		r = cbp_sv_poll(s, 1000, &ev, &e);
	assert_int_equal(r, CBP_EIO);
	assert_non_null(strstr(e.message, "start-up"));
	cbp_sv_get_stats(s, &st);
	/* Each slot forked GIVE_UP times, waiting 50, 100, 200 ... ms
	 * between: not a tight loop. */
	assert_int_equal(st.spawned, 2 * CBP_SV_GIVE_UP);
	assert_true(st.throttled >= 2 * (CBP_SV_GIVE_UP - 1));
	assert_true(now_s() - t0 >= 1.0);
	printf("start-up deaths: %llu forks in %.1f s before giving up\n",
	    (unsigned long long)st.spawned, now_s() - t0);
	/* The job was never blamed: still pending, never DONE. */
	assert_int_equal(cbp_sv_pending(s), 1);
	cbp_sv_free(s);
}

static void
test_bad_options(void **state)
{
	struct cbp_sv_opts o = { 0 };
	struct cbp_error e = { 0 };
	struct cbp_sv *s = (struct cbp_sv *)&o;

	o.nworkers = 0;
	o.job = job;
	assert_int_equal(cbp_sv_new(&o, &s, &e), CBP_EINVAL);
	assert_null(s);
	o.nworkers = 1;
	o.max_frame = CBP_SV_FRAME_MAX + 1;
	assert_int_equal(cbp_sv_new(&o, &s, &e), CBP_EINVAL);
	o.max_frame = 0;
	o.job = NULL;
	assert_int_equal(cbp_sv_new(&o, &s, &e), CBP_EINVAL);
	cbp_sv_free(NULL);
}

static void
test_oversized_job_refused(void **state)
{
	struct cbp_sv *s = start(1, 1, 10000, 0, 0);
	struct cbp_error e = { 0 };
	char *big = calloc(1, CBP_SV_FRAME_MAX);

	assert_non_null(big);
	assert_int_equal(cbp_sv_submit(s, 1, big, CBP_SV_FRAME_MAX, -1, &e),
	    CBP_EINVAL);
	assert_int_equal(cbp_sv_pending(s), 0);
	free(big);
	cbp_sv_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_fd_and_confinement),
		cmocka_unit_test(test_descriptors_only),
		cmocka_unit_test(test_real_parsers_confined),
		cmocka_unit_test(test_loop_times_out_and_is_replaced),
		cmocka_unit_test(test_late_poll_is_not_a_timeout),
		cmocka_unit_test(test_step_budget),
		cmocka_unit_test(test_progress_page),
		cmocka_unit_test(test_memory_hog_hits_the_cap),
		cmocka_unit_test(test_crashes_are_reported_with_their_signal),
		cmocka_unit_test(test_malformed_frames_kill_the_worker),
		cmocka_unit_test(test_jobs_go_to_the_least_loaded_worker),
		cmocka_unit_test(test_thousand_jobs_two_workers),
		cmocka_unit_test(test_flood_of_frames_arrives_whole),
		cmocka_unit_test(test_round_trip_depth_one),
		cmocka_unit_test(test_stop_during_hang_is_prompt),
		cmocka_unit_test(test_workers_die_with_their_parent),
		cmocka_unit_test(test_startup_deaths_are_throttled),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_oversized_job_refused),
	};
	struct cbp_error e = { 0 };

	(void)cbp_confine_preload(&e);
	return cmocka_run_group_tests_name("supervise", tests, NULL, NULL);
}
