/*
 * test_read.c — the read stage: safe open (only what the walk listed is
 * opened), streams buffered in a memfd, head and load reads, mapped
 * windows, and files that shrink or vanish while being read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_limits.h"
#include "cbp_object.h"

static char dir[64];
static struct cbp_dynbuf scratch;	/* reused across calls, as a worker does */
static int dfd = -1;

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cbp-read-XXXXXX");
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	return dfd < 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	close(dfd);
	cbp_dynbuf_free(&scratch);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0;
}

/* A file of n bytes where byte i is (i * 7) & 0xff. */
static void
make_file(const char *name, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	unsigned char *b = malloc(n ? n : 1);
	size_t i;

	assert_true(fd >= 0);
	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 7);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
	free(b);
}

/* What a walk listing dfd/name would have seen. */
static struct cbp_open_want
listed(const char *name)
{
	struct cbp_open_want w = { 0 };
	struct stat st, dst;

	assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(fstat(dfd, &dst), 0);
	w.type = st.st_mode & S_IFMT;
	w.dev = dst.st_dev;
	w.ino = st.st_ino;
	return w;
}

static void
open_object(const char *name, struct cbp_object *o)
{
	struct cbp_open_want w = listed(name);
	struct stat st;
	struct cbp_error e = { 0 };
	int fd;

	assert_int_equal(cbp_read_open(dfd, name, &w, &fd, &st, &e), CBP_OK);
	cbp_object_init(o);
	o->fd = fd;
	o->path = name;
	o->name = name;
	o->size = (uint64_t)st.st_size;
}

static void
close_object(struct cbp_object *o)
{
	close(o->fd);
	cbp_object_release(o);
}

/* Count IN_OPEN events on a watched inode (an O_PATH open raises none). */
static int
opens(int ino)
{
	char buf[4096];
	ssize_t n = read(ino, buf, sizeof(buf));

	return n > 0 ? (int)(n / (ssize_t)sizeof(struct inotify_event)) : 0;
}

static void
test_open_refuses_special_files(void **state)
{
	struct cbp_open_want w = { .type = S_IFREG };
	struct stat st;
	struct cbp_error e = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, s, ino;
	char path[128];

	/* Each was listed as a regular file, and is something else now. */
	assert_int_equal(mkfifoat(dfd, "fifo", 0644), 0);
	assert_true((ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) >= 0);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_true(inotify_add_watch(ino, path, IN_OPEN) >= 0);
	/* Not even opened non-blocking: a FIFO's writer would notice. */
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "fifo", &w, &fd, &st, &e), CBP_ECHANGED);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(e.message, "was a regular file when listed, a FIFO"));
	assert_int_equal(opens(ino), 0);
	close(ino);
	assert_int_equal(symlinkat("/etc/passwd", dfd, "link"), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "link", &w, &fd, &st, &e), CBP_ECHANGED);
	assert_non_null(strstr(e.message, "a symbolic link"));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	assert_true((s = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "sock", &w, &fd, &st, &e), CBP_ECHANGED);
	close(s);
	assert_int_equal(mkdirat(dfd, "adir", 0755), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "adir", &w, &fd, &st, &e), CBP_ECHANGED);
	/* Gone since listed: vanished, not an error. */
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "missing", &w, &fd, &st, &e), CBP_ENOTFOUND);
	assert_non_null(strstr(e.message, "No such file"));
}

static void
test_open_checks_the_inode_listed(void **state)
{
	struct cbp_open_want w;
	struct stat st;
	struct cbp_error e = { 0 };
	int fd;

	make_file("ino-a", 10);
	make_file("ino-b", 20);
	w = listed("ino-a");
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "ino-a", &w, &fd, &st, &e), CBP_OK);
	assert_int_equal(st.st_size, 10);
	close(fd);
	/* Another file renamed over the listed name (RENAME_EXCHANGE, say). */
	assert_int_equal(renameat(dfd, "ino-b", dfd, "ino-a"), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "ino-a", &w, &fd, &st, &e), CBP_ECHANGED);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(e.message, "replaced by another file"));
	/* On another device (a bind mount over the name): not compared. */
	w.dev ^= 1;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "ino-a", &w, &fd, &st, &e), CBP_OK);
	close(fd);
	/* Inode not known (a filesystem whose d_ino cannot be trusted). */
	w = listed("ino-a");
	w.ino = 0;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "ino-a", &w, &fd, &st, &e), CBP_OK);
	close(fd);
}

/*
 * Where only root or we can change the directory (want.direct), one plain
 * open, then the same checks: a swap is still "changed", a name gone still
 * vanished.
 */
static void
test_open_direct_checks_the_same(void **state)
{
	struct cbp_open_want w;
	struct stat st;
	struct cbp_error e = { 0 };
	int fd;

	make_file("d-a", 10);
	make_file("d-b", 20);
	w = listed("d-a");
	w.direct = 1;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "d-a", &w, &fd, &st, &e), CBP_OK);
	assert_int_equal(st.st_size, 10);
	close(fd);
	assert_int_equal(renameat(dfd, "d-b", dfd, "d-a"), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "d-a", &w, &fd, &st, &e), CBP_ECHANGED);
	assert_int_equal(fd, -1);
	assert_int_equal(unlinkat(dfd, "d-a", 0), 0);
	assert_int_equal(symlinkat("/etc/passwd", dfd, "d-a"), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "d-a", &w, &fd, &st, &e), CBP_ECHANGED);
	assert_int_equal(unlinkat(dfd, "d-a", 0), 0);
	assert_int_equal(mkfifoat(dfd, "d-a", 0644), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "d-a", &w, &fd, &st, &e), CBP_ECHANGED);
	assert_non_null(strstr(e.message, "a FIFO when opened"));
	assert_int_equal(unlinkat(dfd, "d-a", 0), 0);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "d-a", &w, &fd, &st, &e), CBP_ENOTFOUND);
}

static void
test_open_root_follows_symlink(void **state)
{
	struct cbp_open_want w = { .type = S_IFREG, .root = 1, .follow = 1 };
	struct stat st, t;
	struct cbp_error e = { 0 };
	char path[128];
	int fd;

	make_file("target", 5);
	assert_int_equal(symlinkat("target", dfd, "rlink"), 0);
	snprintf(path, sizeof(path), "%s/rlink", dir);
	assert_int_equal(stat(path, &t), 0);
	w.dev = t.st_dev;
	w.ino = t.st_ino;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(AT_FDCWD, path, &w, &fd, &st, &e), CBP_OK);
	assert_int_equal(st.st_size, 5);
	close(fd);
	/* A root must be exactly what stat saw: another inode is a change. */
	w.ino++;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(AT_FDCWD, path, &w, &fd, &st, &e), CBP_ECHANGED);
	/* A root opened without follow (a stream root in a hostile directory). */
	w.ino--;
	w.follow = 0;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(AT_FDCWD, path, &w, &fd, &st, &e), CBP_ECHANGED);
	/* Below a root the same link is never followed. */
	w = listed("target");
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(dfd, "rlink", &w, &fd, &st, &e), CBP_ECHANGED);
}

static void
test_open_named_fifo(void **state)
{
	struct cbp_open_want w;
	struct stat st;
	struct cbp_error e = { 0 };
	int fd, wfd, fl;
	char path[128];

	assert_int_equal(mkfifoat(dfd, "nfifo", 0644), 0);
	snprintf(path, sizeof(path), "%s/nfifo", dir);
	/* A writer first (O_RDWR never blocks on Linux), so reads have data. */
	assert_true((wfd = open(path, O_RDWR | O_CLOEXEC)) >= 0);
	w = listed("nfifo");
	w.root = 1;
	w.follow = 1;
	assert_int_equal(fstatat(dfd, "nfifo", &st, 0), 0);
	w.dev = st.st_dev;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(AT_FDCWD, path, &w, &fd, &st, &e), CBP_OK);
	assert_true(S_ISFIFO(st.st_mode));
	/* Non-blocking: a silent writer is EAGAIN, polled (cancel is seen). */
	assert_true((fl = fcntl(fd, F_GETFL)) >= 0);
	assert_true(fl & O_NONBLOCK);
	assert_int_equal(write(wfd, "abc", 3), 3);
	close(wfd);
	{
		char b[8];
		assert_int_equal(read(fd, b, sizeof(b)), 3);
	}
	close(fd);
	/* Listed as a regular file, it is not opened. */
	w.type = S_IFREG;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_open(AT_FDCWD, path, &w, &fd, &st, &e), CBP_ECHANGED);
}

static void
test_stream_buffered_up_to_cap(void **state)
{
	struct cbp_error e = { 0 };
	unsigned char data[3000], back[3000];
	uint64_t len;
	int p[2], mfd, more;
	volatile int cancel = 0;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 13);
	/* Shorter than the cap: all of it, nothing more. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], data, sizeof(data)), (ssize_t)sizeof(data));
	close(p[1]);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_stream(p[0], 4096, &cancel, &mfd, &len, &more, &e),
	    CBP_OK);
	close(p[0]);
	assert_int_equal(len, sizeof(data));
	assert_false(more);
	/* Later stages read it more than once, at any offset. */
	assert_int_equal(pread(mfd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(pread(mfd, back, 10, 2990), 10);
	assert_memory_equal(back, data + 2990, 10);
	close(mfd);
	/* Longer than the cap: the cap's worth, and "more". */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], data, sizeof(data)), (ssize_t)sizeof(data));
	close(p[1]);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_stream(p[0], 1000, &cancel, &mfd, &len, &more, &e),
	    CBP_OK);
	close(p[0]);
	assert_int_equal(len, 1000);
	assert_true(more);
	close(mfd);
	/* Exactly the cap, then EOF: nothing more. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], data, 1000), 1000);
	close(p[1]);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_stream(p[0], 1000, &cancel, &mfd, &len, &more, &e),
	    CBP_OK);
	close(p[0]);
	assert_int_equal(len, 1000);
	assert_false(more);
	close(mfd);
	/* A writer that never writes, cancelled: returns, not scanned. */
	assert_int_equal(pipe(p), 0);
	cancel = 1;
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_stream(p[0], 1000, &cancel, &mfd, &len, &more, &e),
	    CBP_EIO);
	assert_int_equal(mfd, -1);
	assert_non_null(strstr(e.message, "interrupted"));
	close(p[0]);
	close(p[1]);
}

static void
test_head_and_load(void **state)
{
	struct cbp_object o;
	struct cbp_error e = { 0 };

	make_file("f", 100000);
	open_object("f", &o);
	assert_int_equal(cbp_read_head(&o, CBP_HEAD_BYTES, &e), CBP_OK);
	assert_int_equal(o.head_len, CBP_HEAD_BYTES);
	assert_int_equal(o.head[100], (unsigned char)700);
	assert_int_equal(cbp_read_load(&o, 50000, &e), CBP_OK);
	assert_int_equal(o.data_len, 50000);
	assert_false(o.data_complete);
	assert_int_equal(cbp_read_load(&o, 1 << 20, &e), CBP_OK);
	assert_int_equal(o.data_len, 100000);
	assert_true(o.data_complete);
	assert_int_equal(o.data[99999], (unsigned char)(99999 * 7));
	close_object(&o);
}

static void
shrink(const char *name, off_t to)
{
	int fd = openat(dfd, name, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, to), 0);
	close(fd);
}

static void
test_shrunk_file_is_io_error(void **state)
{
	struct cbp_object o;
	struct cbp_error e = { 0 };
	unsigned char d[32];
	struct cbp_hash_extent ext;

	make_file("s", 100000);
	open_object("s", &o);		/* fstat said 100000 bytes */
	shrink("s", 10);
	assert_int_equal(cbp_read_head(&o, CBP_HEAD_BYTES, &e), CBP_EIO);
	assert_non_null(strstr(e.message, "shrank"));
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_load(&o, 1 << 20, &e), CBP_EIO);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_sha256(&o, 0, NULL, d, &ext, &e), CBP_EIO);
	close_object(&o);
}

struct win {
	size_t calls;
	uint64_t bases[64];
	size_t lens[64];
	unsigned sum;
	const char *truncate_name;	/* truncate this file in the first call */
};

static int
on_window(void *arg, const unsigned char *p, size_t n, uint64_t base)
{
	struct win *w = arg;
	size_t i;

	if (w->calls < 64) {
		w->bases[w->calls] = base;
		w->lens[w->calls] = n;
	}
	w->calls++;
	if (w->truncate_name != NULL)
		shrink(w->truncate_name, 0);
	for (i = 0; i < n; i++)		/* touches every byte: SIGBUS if gone */
		w->sum += p[i];
	for (i = 0; i < n; i += 4093)
		if (p[i] != (unsigned char)((base + i) * 7))
			return 99;
	return 0;
}

static void
test_windows_overlap_and_cover(void **state)
{
	struct cbp_object o;
	struct cbp_error e = { 0 };
	struct win w = { 0 };
	long pg = sysconf(_SC_PAGESIZE);

	make_file("w", (size_t)pg * 10 + 123);
	open_object("w", &o);
	assert_int_equal(cbp_read_head(&o, CBP_HEAD_BYTES, &e), CBP_OK);
	assert_int_equal(cbp_read_windows(&o, o.size, (size_t)pg * 4, (size_t)pg,
	    &scratch, on_window, &w, &e), CBP_OK);
	/* Windows of 4 pages advancing by 3: 0, 3, 6, 9 pages. */
	assert_int_equal(w.calls, 4);
	assert_int_equal(w.bases[1], (uint64_t)pg * 3);
	assert_int_equal(w.bases[3], (uint64_t)pg * 9);
	assert_int_equal(w.bases[3] + w.lens[3], o.size);
	close_object(&o);

	/* A limit below the size stops there. */
	memset(&w, 0, sizeof(w));
	open_object("w", &o);
	assert_int_equal(cbp_read_head(&o, CBP_HEAD_BYTES, &e), CBP_OK);
	assert_int_equal(cbp_read_windows(&o, (uint64_t)pg * 5, (size_t)pg * 4,
	    (size_t)pg, &scratch, on_window, &w, &e), CBP_OK);
	assert_int_equal(w.calls, 2);
	assert_int_equal(w.bases[1] + w.lens[1], (uint64_t)pg * 5);
	close_object(&o);
}

static void
test_small_file_window_is_the_head(void **state)
{
	struct cbp_object o;
	struct cbp_error e = { 0 };
	struct win w = { 0 };

	make_file("small", 5000);
	open_object("small", &o);
	assert_int_equal(cbp_read_head(&o, CBP_HEAD_BYTES, &e), CBP_OK);
	assert_int_equal(cbp_read_windows(&o, o.size, 8 << 20, 64 << 10,
	    &scratch, on_window, &w, &e), CBP_OK);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.lens[0], 5000);
	close_object(&o);
}

static void
test_truncated_while_windowed_is_io(void **state)
{
	struct cbp_object o;
	struct cbp_error e = { 0 };
	struct win w = { 0 };

	make_file("t", 3 << 20);
	open_object("t", &o);
	w.truncate_name = "t";		/* shrinks to 0 after the first window */
	assert_int_equal(cbp_read_windows(&o, o.size, 256 << 10, 16 << 10,
	    &scratch, on_window, &w, &e), CBP_EIO);
	assert_non_null(strstr(e.message, "shrank"));
	close_object(&o);
	/* The scratch buffer is reused for the next file. */
	make_file("t2", 100000);
	memset(&w, 0, sizeof(w));
	open_object("t2", &o);
	cbp_error_clear(&e);
	assert_int_equal(cbp_read_windows(&o, o.size, 8 << 20, 64 << 10,
	    &scratch, on_window, &w, &e), CBP_OK);
	close_object(&o);
}

static void
test_memory_objects(void **state)
{
	static const unsigned char buf[] = "0123456789";
	struct cbp_object o;
	struct cbp_error e = { 0 };
	unsigned char d[32], x[4];
	struct cbp_hash_extent ext;
	size_t got;

	cbp_object_init(&o);
	o.mem = buf;
	o.mem_len = 10;
	o.size = 10;
	assert_int_equal(cbp_read_head(&o, 4, &e), CBP_OK);
	assert_int_equal(o.head_len, 4);
	assert_int_equal(cbp_read_load(&o, 100, &e), CBP_OK);
	assert_true(o.data_complete);
	assert_int_equal(cbp_read_at(&o, 8, x, 4, &got, &e), CBP_OK);
	assert_int_equal(got, 2);
	assert_int_equal(cbp_read_at(&o, 50, x, 4, &got, &e), CBP_OK);
	assert_int_equal(got, 0);
	assert_int_equal(cbp_read_sha256(&o, 0, NULL, d, &ext, &e), CBP_OK);
	assert_int_equal(ext.bytes, 10);
	assert_false(ext.partial);
	/* sha256("0123456789") */
	assert_int_equal(d[0], 0x84);
	assert_int_equal(d[31], 0x82);
	/* A cap, or a member held only in part, makes the hash partial. */
	assert_int_equal(cbp_read_sha256(&o, 4, NULL, d, &ext, &e), CBP_OK);
	assert_int_equal(ext.bytes, 4);
	assert_true(ext.partial);
	o.size = 20;	/* declared 20, 10 held (cut at member_max) */
	assert_int_equal(cbp_read_sha256(&o, 0, NULL, d, &ext, &e), CBP_OK);
	assert_int_equal(ext.bytes, 10);
	assert_true(ext.partial);
	cbp_object_release(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_refuses_special_files),
		cmocka_unit_test(test_open_checks_the_inode_listed),
		cmocka_unit_test(test_open_direct_checks_the_same),
		cmocka_unit_test(test_open_root_follows_symlink),
		cmocka_unit_test(test_open_named_fifo),
		cmocka_unit_test(test_stream_buffered_up_to_cap),
		cmocka_unit_test(test_head_and_load),
		cmocka_unit_test(test_shrunk_file_is_io_error),
		cmocka_unit_test(test_windows_overlap_and_cover),
		cmocka_unit_test(test_small_file_window_is_the_head),
		cmocka_unit_test(test_truncated_while_windowed_is_io),
		cmocka_unit_test(test_memory_objects),
	};
	return cmocka_run_group_tests_name("read", tests, setup, teardown);
}
