/*
 * test_walk.c — the parallel filesystem walk.
 *
 * Every test builds a fresh tree under a mkdtemp directory, walks it and
 * compares the exact set of display paths delivered to the file callback
 * (and the errors) with what it created; the tree is removed with fd-based
 * recursion because some paths are longer than PATH_MAX.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_walk.h"

/* Internal predicate of walk.c, exposed for this test only. */
int cbp_walk_pseudo_fs(unsigned long f_type);

#define MAX_WORKERS 64

struct werr {
	char *path;
	int code;
	char *detail;
	int root;
};

struct wstream {
	char *path;
	mode_t type;
	int fd;
	int root;
};

struct collect {
	pthread_mutex_t mu;
	char **paths;
	unsigned char *safe;	/* safe_dir of each path */
	size_t n, cap;
	struct werr *errs;
	size_t nerr, errcap;
	unsigned nthreads;
	int busy[MAX_WORKERS];	/* worker index in use (atomic builtins) */
	int bad_worker;		/* index out of range or used twice at once */
	int bad_len;		/* path_len != strlen(path) */
	int bad_open;		/* openat(dirfd, name) not a regular file */
	int verify_open;
	int cancel_after;	/* set *cancel after this many files (0: never) */
	volatile int *cancel;
	struct cbp_walk_file first_root;	/* copy of a dirfd == AT_FDCWD call */
	int saw_root_file;
	unsigned long skips[8];		/* by enum cbp_walk_skip (atomic builtins) */
	struct wstream streams[8];
	size_t nstreams;
	const char *swap_on;		/* file name whose callback ... */
	const char *swap_a, *swap_b;	/* ... exchanges these two paths */
	char *swap_away;		/* or, when set, renames swap_a to it */
	int bad_listing;		/* a file callback without the listed inode */
};

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

/* "a" + "/" + "b", heap. */
static char *
join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (p == NULL)
		abort();
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

static void
on_file(void *arg, unsigned worker, const struct cbp_walk_file *f)
{
	struct collect *c = arg;
	size_t n;

	if (worker >= c->nthreads || worker >= MAX_WORKERS ||
	    __atomic_exchange_n(&c->busy[worker], 1, __ATOMIC_ACQ_REL) != 0) {
		__atomic_store_n(&c->bad_worker, 1, __ATOMIC_RELAXED);
		worker = MAX_WORKERS;
	}
	if (strlen(f->path) != f->path_len)
		__atomic_store_n(&c->bad_len, 1, __ATOMIC_RELAXED);
	if (f->type != S_IFREG || f->fd != -1 || (f->root != (f->dirfd == AT_FDCWD)))
		__atomic_store_n(&c->bad_listing, 1, __ATOMIC_RELAXED);
	if (c->verify_open && f->ino != 0) {
		struct stat st;

		/* What the walk says readdir listed is what is there. */
		if (fstatat(f->dirfd, f->name, &st, f->root ? 0 :
		    AT_SYMLINK_NOFOLLOW) != 0 || st.st_ino != f->ino ||
		    (!f->root && st.st_dev != f->dev))
			__atomic_store_n(&c->bad_listing, 1, __ATOMIC_RELAXED);
	}
	if (c->swap_on != NULL && strcmp(f->name, c->swap_on) == 0 &&
	    (c->swap_away != NULL ? rename(c->swap_a, c->swap_away) :
	    renameat2(AT_FDCWD, c->swap_a, AT_FDCWD, c->swap_b,
	    RENAME_EXCHANGE)) != 0)
		fail_msg("rename: %s", strerror(errno));
	if (c->verify_open) {
		int fd = openat(f->dirfd, f->name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;

		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
			__atomic_store_n(&c->bad_open, 1, __ATOMIC_RELAXED);
		if (fd >= 0)
			close(fd);
	}
	pthread_mutex_lock(&c->mu);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->paths = realloc(c->paths, c->cap * sizeof(*c->paths));
		c->safe = realloc(c->safe, c->cap);
		if (c->paths == NULL || c->safe == NULL)
			abort();
	}
	c->safe[c->n] = (unsigned char)f->safe_dir;
	c->paths[c->n++] = xstrdup(f->path);
	n = c->n;
	if (f->dirfd == AT_FDCWD && !c->saw_root_file) {
		c->saw_root_file = 1;
		c->first_root.dirfd = f->dirfd;
		c->first_root.name = xstrdup(f->name);
		c->first_root.path = xstrdup(f->path);
		c->first_root.path_len = f->path_len;
	}
	pthread_mutex_unlock(&c->mu);
	if (c->cancel_after > 0 && n >= (size_t)c->cancel_after)
		__atomic_store_n(c->cancel, 1, __ATOMIC_RELAXED);
	if (worker < MAX_WORKERS)
		__atomic_store_n(&c->busy[worker], 0, __ATOMIC_RELEASE);
}

static void
on_error(void *arg, unsigned worker, const char *path, int code,
    const char *detail, int root)
{
	struct collect *c = arg;

	if (worker >= c->nthreads)
		__atomic_store_n(&c->bad_worker, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&c->mu);
	if (c->nerr == c->errcap) {
		c->errcap = c->errcap ? c->errcap * 2 : 8;
		c->errs = realloc(c->errs, c->errcap * sizeof(*c->errs));
		if (c->errs == NULL)
			abort();
	}
	c->errs[c->nerr].path = xstrdup(path);
	c->errs[c->nerr].code = code;
	c->errs[c->nerr].detail = xstrdup(detail);
	c->errs[c->nerr].root = root;
	c->nerr++;
	pthread_mutex_unlock(&c->mu);
}

static void
on_skip(void *arg, unsigned worker, enum cbp_walk_skip why)
{
	struct collect *c = arg;

	if ((unsigned)why < 8)
		__atomic_fetch_add(&c->skips[why], 1, __ATOMIC_RELAXED);
}

static void
on_stream(void *arg, unsigned worker, const struct cbp_walk_file *f)
{
	struct collect *c = arg;

	pthread_mutex_lock(&c->mu);
	if (c->nstreams < 8) {
		c->streams[c->nstreams].path = xstrdup(f->path);
		c->streams[c->nstreams].type = f->type;
		c->streams[c->nstreams].fd = f->fd;
		c->streams[c->nstreams].root = f->root;
		c->nstreams++;
	}
	pthread_mutex_unlock(&c->mu);
}

static const struct cbp_walk_ops ops = { on_file, on_error, on_skip, on_stream, NULL };

static void
collect_init(struct collect *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
}

static void
collect_free(struct collect *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->paths[i]);
	for (i = 0; i < c->nerr; i++) {
		free(c->errs[i].path);
		free(c->errs[i].detail);
	}
	for (i = 0; i < c->nstreams; i++)
		free(c->streams[i].path);
	free(c->paths);
	free(c->safe);
	free(c->errs);
	free((char *)c->first_root.name);
	free((char *)c->first_root.path);
	pthread_mutex_destroy(&c->mu);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the one opendir used */
}

/*
 * Walk roots with nthreads workers (and opts from *base if given) and
 * collect into c; checks the callback invariants and that no fd leaked.
 */
static void
walk(struct collect *c, const char *const *roots, size_t nroots,
    unsigned nthreads, const struct cbp_walk_opts *base)
{
	struct cbp_walk_opts o;
	int before, after;

	if (base != NULL)
		o = *base;
	else
		memset(&o, 0, sizeof(o));
	o.nthreads = nthreads;
	c->nthreads = nthreads;
	if (c->cancel != NULL && o.cancel == NULL)
		o.cancel = c->cancel;
	before = count_fds();
	assert_int_equal(cbp_walk_run(roots, nroots, &o, &ops, c), CBP_OK);
	after = count_fds();
	assert_int_equal(before, after);
	assert_false(c->bad_worker);
	assert_false(c->bad_len);
	assert_false(c->bad_open);
	assert_false(c->bad_listing);
}

/* Compare the collected set with expect[] (paths relative to base). */
static void
expect_set(struct collect *c, const char *base, const char *const *expect,
    size_t nexpect)
{
	char **want = calloc(nexpect + 1, sizeof(*want));
	size_t i;

	assert_non_null(want);
	for (i = 0; i < nexpect; i++)
		want[i] = base ? join(base, expect[i]) : xstrdup(expect[i]);
	qsort(want, nexpect, sizeof(*want), cmp_str);
	qsort(c->paths, c->n, sizeof(*c->paths), cmp_str);
	if (c->n != nexpect) {
		for (i = 0; i < c->n; i++)
			print_message("got  %s\n", c->paths[i]);
		for (i = 0; i < nexpect; i++)
			print_message("want %s\n", want[i]);
	}
	assert_int_equal(c->n, nexpect);
	for (i = 0; i < nexpect; i++)
		assert_string_equal(c->paths[i], want[i]);
	for (i = 0; i < nexpect; i++)
		free(want[i]);
	free(want);
}

static int
has_path(const struct collect *c, const char *p)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->paths[i], p) == 0)
			return 1;
	return 0;
}

/* --- tree helpers ------------------------------------------------------ */

static char *
mktree(void)
{
	char tmpl[] = "/tmp/cbpwalk.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

/* Create base/rel as a file (or a directory when rel ends in '/'), with parents. */
static void
put(const char *base, const char *rel)
{
	char *p = join(base, rel);
	size_t i, len = strlen(p);
	int fd;

	for (i = strlen(base) + 1; i < len; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", p, strerror(errno));
		p[i] = '/';
	}
	if (p[len - 1] != '/') {
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			fail_msg("create %s: %s", p, strerror(errno));
		close(fd);
	}
	free(p);
}

static void
rm_at(int dfd, const char *name)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlinkat(dfd, name, 0);
		return;
	}
	(void)fchmodat(dfd, name, 0700, 0);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			rm_at(dirfd(d), de->d_name);
		}
		closedir(d);
	} else if (fd >= 0)
		close(fd);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static void
rmtree(char *base)
{
	rm_at(AT_FDCWD, base);
	free(base);
}

/* --- tests ------------------------------------------------------------- */

static void
t_nested(void **state)
{
	static const char *const files[] = {
		"f0", "a/f1", "a/b/f2", "a/b/c/f3", "e/f4", "a/b/c/g/h/i/j/f5",
	};
	char *base = mktree();
	const char *roots[1];
	struct collect c;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		put(base, files[i]);
	put(base, "d/");
	put(base, "a/empty/");
	roots[0] = base;
	collect_init(&c);
	c.verify_open = 1;
	walk(&c, roots, 1, 1, NULL);
	expect_set(&c, base, files, sizeof(files) / sizeof(files[0]));
	assert_int_equal(c.nerr, 0);
	collect_free(&c);
	rmtree(base);
}

static void
t_symlinks(void **state)
{
	static const char *const files[] = { "a/file" };
	char *base = mktree();
	const char *roots[1];
	struct collect c;
	char *p;

	put(base, "a/file");
	p = join(base, "a/b");
	assert_int_equal(symlink("..", p), 0);		/* loop */
	free(p);
	p = join(base, "lnk_file");
	assert_int_equal(symlink("a/file", p), 0);
	free(p);
	p = join(base, "lnk_etc");
	assert_int_equal(symlink("/etc", p), 0);
	free(p);
	p = join(base, "a/lnk_self");
	assert_int_equal(symlink("lnk_self", p), 0);	/* ELOOP when followed */
	free(p);
	p = join(base, "dangling");
	assert_int_equal(symlink("/nonexistent/x", p), 0);
	free(p);
	roots[0] = base;
	collect_init(&c);
	c.verify_open = 1;
	walk(&c, roots, 1, 2, NULL);
	expect_set(&c, base, files, 1);
	assert_int_equal(c.nerr, 0);
	collect_free(&c);
	rmtree(base);
}

static void
t_root_symlink_followed(void **state)
{
	/* A root that is a symlink is followed (find -H); below it, no. */
	char *base = mktree();
	char *real, *link;
	const char *roots[1];
	struct collect c;

	put(base, "real/x");
	real = join(base, "real");
	link = join(base, "link");
	assert_int_equal(symlink(real, link), 0);
	roots[0] = link;
	collect_init(&c);
	walk(&c, roots, 1, 1, NULL);
	assert_int_equal(c.n, 1);
	assert_true(c.n == 1 && strncmp(c.paths[0], link, strlen(link)) == 0);
	assert_string_equal(c.paths[0] + strlen(link), "/x");
	collect_free(&c);
	free(real);
	free(link);
	rmtree(base);
}

static void
t_fifo_socket(void **state)
{
	static const char *const files[] = { "x", "sub/y" };
	char *base = mktree();
	char *fifo, *sockp;
	const char *roots[2];
	struct sockaddr_un sa;
	struct collect c;
	int s;

	put(base, "x");
	put(base, "sub/y");
	fifo = join(base, "sub/fifo");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	sockp = join(base, "sock");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(sockp) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sockp, strlen(sockp) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/*
	 * Below a root they are counted, never opened; a FIFO named as a root
	 * goes to the stream callback (the walk itself never opens it).
	 */
	roots[0] = base;
	roots[1] = fifo;
	collect_init(&c);
	walk(&c, roots, 2, 2, NULL);
	expect_set(&c, base, files, 2);
	assert_int_equal(c.nerr, 0);
	assert_int_equal(c.skips[CBP_WALK_SKIP_FIFO], 1);
	assert_int_equal(c.skips[CBP_WALK_SKIP_SOCKET], 1);
	assert_int_equal(c.nstreams, 1);
	assert_string_equal(c.streams[0].path, fifo);
	assert_int_equal(c.streams[0].type, S_IFIFO);
	assert_int_equal(c.streams[0].fd, -1);
	assert_true(c.streams[0].root);
	collect_free(&c);

	/* A socket named as a root cannot be read: a root error, counted. */
	roots[0] = sockp;
	roots[1] = "-";
	collect_init(&c);
	walk(&c, roots, 2, 1, NULL);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.nerr, 1);
	assert_string_equal(c.errs[0].path, sockp);
	assert_true(c.errs[0].root);
	assert_int_equal(c.skips[CBP_WALK_SKIP_SOCKET], 1);
	/* "-" is standard input, already open. */
	assert_int_equal(c.nstreams, 1);
	assert_string_equal(c.streams[0].path, "-");
	assert_int_equal(c.streams[0].fd, STDIN_FILENO);
	collect_free(&c);
	close(s);
	free(fifo);
	free(sockp);
	rmtree(base);
}

static void
t_long_path(void **state)
{
	char *base = mktree();
	char name[201];
	const char *roots[1];
	struct collect c;
	char *want;
	size_t wl, i;
	int fd, nfd, level;

	/* 30 levels of 200-byte names: a path of about 6 KB. */
	memset(name, 'd', 200);
	name[200] = '\0';
	want = malloc(strlen(base) + 31 * 201 + 16);
	assert_non_null(want);
	wl = strlen(base);
	memcpy(want, base, wl);
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	for (level = 0; level < 30; level++) {
		name[0] = (char)('a' + level % 26);
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(nfd >= 0);
		close(fd);
		fd = nfd;
		want[wl++] = '/';
		memcpy(want + wl, name, 200);
		wl += 200;
	}
	nfd = openat(fd, "deep.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(nfd >= 0);
	close(nfd);
	close(fd);
	memcpy(want + wl, "/deep.txt", 10);
	wl += 9;

	roots[0] = base;
	collect_init(&c);
	c.verify_open = 1;
	walk(&c, roots, 1, 2, NULL);
	assert_int_equal(c.nerr, 0);
	assert_int_equal(c.n, 1);
	assert_true(strlen(c.paths[0]) > 4096);
	assert_int_equal(strlen(c.paths[0]), wl);
	assert_memory_equal(c.paths[0], want, wl);
	for (i = 0; i < wl; i++)	/* no "//" anywhere */
		assert_false(want[i] == '/' && want[i + 1] == '/');
	collect_free(&c);
	free(want);
	rmtree(base);
}

static void
t_exclude(void **state)
{
	static const char *const files[] = {
		"keep.txt", "sub/z.txt", "other/q.txt", "subskip/k.txt",
	};
	static const char *const globs[] = { "*.log", "skip", "*/other/skip2" };
	char *base = mktree();
	const char *roots[1];
	struct cbp_walk_opts o;
	struct collect c;

	put(base, "keep.txt");
	put(base, "x.log");
	put(base, "sub/y.log");
	put(base, "sub/z.txt");
	put(base, "skip/inner.txt");
	put(base, "skip/deeper/w.txt");
	put(base, "sub/skip/v.txt");	/* name glob matches at any depth */
	put(base, "subskip/k.txt");	/* but only the whole name */
	put(base, "other/q.txt");
	put(base, "other/skip2/r.txt");
	memset(&o, 0, sizeof(o));
	o.excludes = globs;
	o.nexcludes = 3;
	roots[0] = base;
	collect_init(&c);
	walk(&c, roots, 1, 2, &o);
	expect_set(&c, base, files, 4);
	assert_int_equal(c.nerr, 0);
	collect_free(&c);
	rmtree(base);
}

static void
t_excluded_not_entered(void **state)
{
	/*
	 * An excluded directory is never opened: as a non-root user an
	 * unreadable excluded directory gives no error; a FIFO-laden one
	 * would not matter either way, so check the error count and that
	 * nothing under it appears.
	 */
	static const char *const globs[] = { "secret" };
	static const char *const files[] = { "ok" };
	char *base = mktree();
	char *p = join(base, "secret");
	const char *roots[1];
	struct cbp_walk_opts o;
	struct collect c;

	put(base, "ok");
	put(base, "secret/inside");
	assert_int_equal(chmod(p, 0), 0);
	memset(&o, 0, sizeof(o));
	o.excludes = globs;
	o.nexcludes = 1;
	roots[0] = base;
	collect_init(&c);
	walk(&c, roots, 1, 1, &o);
	expect_set(&c, base, files, 1);
	assert_int_equal(c.nerr, 0);
	collect_free(&c);
	free(p);
	rmtree(base);
}

static void
t_excluded_api(void **state)
{
	static const char *const globs[] = { "*.tmp", "/var/*/cache" };
	struct cbp_walk_opts o;

	memset(&o, 0, sizeof(o));
	o.excludes = globs;
	o.nexcludes = 2;
	assert_true(cbp_walk_excluded(&o, "/a/b.tmp", "b.tmp"));
	assert_false(cbp_walk_excluded(&o, "/a.tmp/b", "b"));
	assert_true(cbp_walk_excluded(&o, "/var/lib/cache", "cache"));
	/* FNM_PATHNAME off: '*' crosses '/'. */
	assert_true(cbp_walk_excluded(&o, "/var/lib/x/cache", "cache"));
	assert_false(cbp_walk_excluded(&o, "/srv/cache", "cache"));
	assert_false(cbp_walk_excluded(NULL, "/a/b.tmp", "b.tmp"));
}

static void
t_root_never_excluded(void **state)
{
	static const char *const files[] = { "f" };
	static const char *const globs[] = { "cbpwalk.*" };
	char *base = mktree();
	const char *roots[1];
	struct cbp_walk_opts o;
	struct collect c;

	put(base, "f");
	memset(&o, 0, sizeof(o));
	o.excludes = globs;
	o.nexcludes = 1;	/* a name glob matching the root's own name */
	roots[0] = base;
	collect_init(&c);
	walk(&c, roots, 1, 1, &o);
	expect_set(&c, base, files, 1);
	collect_free(&c);
	rmtree(base);
}

static void
build_wide(const char *base, int ndirs, int nfiles, char ***list, size_t *n)
{
	char rel[64];
	int d, f, dfd, fd;

	*list = calloc((size_t)ndirs * (size_t)nfiles, sizeof(**list));
	assert_non_null(*list);
	*n = 0;
	for (d = 0; d < ndirs; d++) {
		/* Nest every tenth directory a level deeper. */
		snprintf(rel, sizeof(rel), "d%03d/%s", d, d % 10 == 0 ? "n/" : "");
		put(base, rel);
		{
			char *p = join(base, rel);

			dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			free(p);
		}
		assert_true(dfd >= 0);
		for (f = 0; f < nfiles; f++) {
			snprintf(rel, sizeof(rel), "f%04d", f);
			fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_CLOEXEC,
			    0644);
			assert_true(fd >= 0);
			close(fd);
			snprintf(rel, sizeof(rel), "d%03d/%sf%04d", d,
			    d % 10 == 0 ? "n/" : "", f);
			(*list)[(*n)++] = xstrdup(rel);
		}
		close(dfd);
	}
}

static void
free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void
t_threads_same_set(void **state)
{
	char *base = mktree();
	const char *roots[1];
	struct collect c1, c4;
	char **list;
	size_t n, i;

	build_wide(base, 40, 25, &list, &n);
	roots[0] = base;
	collect_init(&c1);
	collect_init(&c4);
	c4.verify_open = 1;
	walk(&c1, roots, 1, 1, NULL);
	walk(&c4, roots, 1, 4, NULL);
	expect_set(&c1, base, (const char *const *)list, n);
	expect_set(&c4, base, (const char *const *)list, n);
	for (i = 0; i < n; i++)
		assert_string_equal(c1.paths[i], c4.paths[i]);
	collect_free(&c1);
	collect_free(&c4);
	free_list(list, n);
	rmtree(base);
}

static void
t_stress(void **state)
{
	static const unsigned threads[] = { 2, 8 };
	char *base = mktree();
	const char *roots[1];
	struct collect c;
	char **list;
	size_t n, t;

	build_wide(base, 200, 100, &list, &n);
	assert_int_equal(n, 20000);
	roots[0] = base;
	for (t = 0; t < 2; t++) {
		collect_init(&c);
		walk(&c, roots, 1, threads[t], NULL);
		/* Exact equality after sorting: every file exactly once. */
		expect_set(&c, base, (const char *const *)list, n);
		assert_int_equal(c.nerr, 0);
		collect_free(&c);
	}
	free_list(list, n);
	rmtree(base);
}

/* Runs in the (possibly unprivileged) child: 0 ok, else a failure code. */
static int
perm_child(void)
{
	const char *roots[] = { "." };
	struct cbp_walk_opts o;
	struct collect c;
	int rc = 0;

	memset(&o, 0, sizeof(o));
	o.nthreads = 2;
	collect_init(&c);
	c.nthreads = 2;
	if (cbp_walk_run(roots, 1, &o, &ops, &c) != CBP_OK)
		rc = 10;
	else if (c.n != 1 || strcmp(c.paths[0], "./ok/file") != 0)
		rc = 11;
	else if (c.nerr != 1)
		rc = 12;
	else if (strcmp(c.errs[0].path, "./forbidden") != 0)
		rc = 13;
	else if (c.errs[0].code != CBP_EPERM)
		rc = 14;
	else if (strcmp(c.errs[0].detail,
	    "cannot open directory: Permission denied") != 0)
		rc = 15;
	else if (c.errs[0].root)
		rc = 16;	/* below a root: not a failed root */
	collect_free(&c);
	if (rc != 0)
		return rc;
	/* The same directory named as a root: a failed root. */
	roots[0] = "forbidden";
	collect_init(&c);
	c.nthreads = 2;
	if (cbp_walk_run(roots, 1, &o, &ops, &c) != CBP_OK)
		rc = 17;
	else if (c.n != 0 || c.nerr != 1 || !c.errs[0].root ||
	    c.errs[0].code != CBP_EPERM)
		rc = 18;
	collect_free(&c);
	return rc;
}

static void
t_permission(void **state)
{
	char *base = mktree();
	char *forbidden = join(base, "forbidden");
	pid_t pid;
	int st;

	put(base, "ok/file");
	put(base, "forbidden/hidden");
	assert_int_equal(chmod(base, 0755), 0);
	assert_int_equal(chmod(forbidden, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (chdir(base) != 0)
			_exit(20);
		/* Root bypasses permission checks: become nobody first. */
		if (geteuid() == 0 && (setgroups(0, NULL) != 0 ||
		    setgid(65534) != 0 || setuid(65534) != 0))
			_exit(77);
		if (access("forbidden", R_OK) == 0)
			_exit(77);	/* still privileged (capabilities) */
		_exit(perm_child());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	free(forbidden);
	rmtree(base);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
t_odd_names(void **state)
{
	static const char *const files[] = {
		"new\nline", "bad\xff\xfe", "d\xff/in\x01side", "sp ace",
		"-dash", "*star?",
	};
	char *base = mktree();
	const char *roots[1];
	struct collect c;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		put(base, files[i]);
	roots[0] = base;
	collect_init(&c);
	c.verify_open = 1;
	walk(&c, roots, 1, 2, NULL);
	expect_set(&c, base, files, sizeof(files) / sizeof(files[0]));
	collect_free(&c);
	rmtree(base);
}

static void
t_roots(void **state)
{
	static const char *const files[] = { "a/x", "a/y", "b" };
	char *base = mktree();
	char *file = join(base, "b");
	char *missing = join(base, "missing");
	char *slashes, *want;
	const char *roots[3];
	struct collect c;
	size_t bl = strlen(base);

	put(base, "a/x");
	put(base, "a/y");
	put(base, "b");
	/* "base///" displays as "base". */
	slashes = malloc(bl + 4);
	assert_non_null(slashes);
	memcpy(slashes, base, bl);
	memcpy(slashes + bl, "///", 4);
	roots[0] = slashes;
	roots[1] = file;
	roots[2] = missing;
	collect_init(&c);
	walk(&c, roots, 3, 2, NULL);
	/* The file is seen twice: inside base and as a root. */
	assert_int_equal(c.n, 4);
	assert_true(c.saw_root_file);
	assert_int_equal(c.first_root.dirfd, AT_FDCWD);
	assert_string_equal(c.first_root.name, file);
	assert_string_equal(c.first_root.path, file);
	assert_int_equal(c.first_root.path_len, strlen(file));
	assert_int_equal(c.nerr, 1);
	assert_string_equal(c.errs[0].path, missing);
	assert_true(c.errs[0].root);	/* a root that could not be scanned */
	assert_int_equal(c.errs[0].code, CBP_EIO);
	assert_string_equal(c.errs[0].detail, "No such file or directory");
	want = join(base, "a/x");
	assert_true(has_path(&c, want));
	free(want);
	collect_free(&c);

	/* Only the directory root, for the exact set. */
	roots[0] = slashes;
	collect_init(&c);
	walk(&c, roots, 1, 1, NULL);
	expect_set(&c, base, files, 3);
	collect_free(&c);
	free(slashes);
	free(file);
	free(missing);
	rmtree(base);
}

static void
t_relative_root(void **state)
{
	static const char *const files[] = { "./f", "./s/g", "s/g" };
	char *base = mktree();
	const char *roots[] = { ".", "s/" };
	char cwd[PATH_MAX];
	struct collect c;

	put(base, "f");
	put(base, "s/g");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(base), 0);
	collect_init(&c);
	c.verify_open = 1;
	walk(&c, roots, 2, 2, NULL);
	assert_int_equal(chdir(cwd), 0);
	expect_set(&c, NULL, files, 3);
	collect_free(&c);
	rmtree(base);
}

static void
t_slash_root(void **state)
{
	/* "/" joins as "/etc", never "//etc"; stop after a few files. */
	const char *roots[] = { "/" };
	volatile int cancel = 0;
	struct cbp_walk_opts o;
	struct collect c;
	size_t i;

	/* Keep away from pseudo and foreign mounts; only names are read. */
	static const char *const globs[] = { "/proc", "/sys", "/dev", "/mnt",
	    "/run" };

	memset(&o, 0, sizeof(o));
	o.one_file_system = 1;
	o.excludes = globs;
	o.nexcludes = sizeof(globs) / sizeof(globs[0]);
	collect_init(&c);
	c.cancel = &cancel;
	c.cancel_after = 5;
	walk(&c, roots, 1, 1, &o);
	assert_true(c.n >= 1);
	for (i = 0; i < c.n; i++) {
		assert_true(c.paths[i][0] == '/');
		assert_true(c.paths[i][1] != '/');
	}
	for (i = 0; i < c.nerr; i++)
		assert_true(c.errs[i].path[1] != '/');
	collect_free(&c);
}

static void
t_cancel(void **state)
{
	char *base = mktree();
	const char *roots[1];
	volatile int cancel = 0;
	struct collect c;
	char **list;
	size_t n;

	build_wide(base, 20, 50, &list, &n);
	roots[0] = base;
	collect_init(&c);
	c.cancel = &cancel;
	c.cancel_after = 10;
	walk(&c, roots, 1, 2, NULL);
	assert_true(c.n >= 10);
	assert_true(c.n < n);
	collect_free(&c);

	/* Already cancelled: nothing at all, and still no leak or hang. */
	collect_init(&c);
	cancel = 1;
	c.cancel = &cancel;
	walk(&c, roots, 1, 4, NULL);
	assert_int_equal(c.n, 0);
	collect_free(&c);
	free_list(list, n);
	rmtree(base);
}

static void
t_one_fs(void **state)
{
	static const char *const files[] = { "a/b/c", "d" };
	char *base = mktree();
	const char *roots[1];
	struct cbp_walk_opts o;
	struct collect c;

	put(base, "a/b/c");
	put(base, "d");
	memset(&o, 0, sizeof(o));
	o.one_file_system = 1;
	roots[0] = base;
	collect_init(&c);
	walk(&c, roots, 1, 2, &o);
	expect_set(&c, base, files, 2);
	collect_free(&c);

	/* A root on a pseudo filesystem, named explicitly, is walked. */
	roots[0] = "/proc/self";
	collect_init(&c);
	walk(&c, roots, 1, 2, &o);
	assert_true(has_path(&c, "/proc/self/status"));
	assert_true(has_path(&c, "/proc/self/fdinfo/0"));
	collect_free(&c);
	rmtree(base);
}

/*
 * -x across a real mount: /dev/shm is usually a tmpfs mounted on /dev.
 * Put a file there; walking /dev finds it, walking /dev with -x does not.
 */
static void
t_one_fs_mount(void **state)
{
	char tmpl[] = "/dev/shm/cbpwalk.XXXXXX";
	const char *roots[] = { "/dev" };
	struct cbp_walk_opts o;
	struct stat a, b;
	struct statfs sfs;
	struct collect c;
	char *file;
	size_t i;

	if (stat("/dev", &a) != 0 || stat("/dev/shm", &b) != 0 ||
	    a.st_dev == b.st_dev || statfs("/dev/shm", &sfs) != 0 ||
	    cbp_walk_pseudo_fs((unsigned long)sfs.f_type) ||
	    mkdtemp(tmpl) == NULL)
		skip();
	put(tmpl, "x");
	file = join(tmpl, "x");

	memset(&o, 0, sizeof(o));
	collect_init(&c);
	walk(&c, roots, 1, 2, &o);
	assert_true(has_path(&c, file));
	collect_free(&c);

	o.one_file_system = 1;
	collect_init(&c);
	walk(&c, roots, 1, 2, &o);
	for (i = 0; i < c.n; i++)
		assert_false(strncmp(c.paths[i], "/dev/shm/", 9) == 0);
	assert_true(c.skips[CBP_WALK_SKIP_OTHER_FS] >= 1);	/* said, not silent */
	collect_free(&c);
	free(file);
	rmtree(xstrdup(tmpl));
}

static void
t_pseudo(void **state)
{
	struct statfs sfs;
	const char *roots[] = { "/proc/self/fdinfo" };
	struct collect c;

	assert_int_equal(statfs("/proc", &sfs), 0);
	assert_true(cbp_walk_pseudo_fs((unsigned long)sfs.f_type));
	if (statfs("/sys", &sfs) == 0)
		assert_true(cbp_walk_pseudo_fs((unsigned long)sfs.f_type));
	assert_int_equal(statfs("/tmp", &sfs), 0);
	assert_false(cbp_walk_pseudo_fs((unsigned long)sfs.f_type));
	assert_true(cbp_walk_pseudo_fs(0x62656570));	/* configfs */
	assert_true(cbp_walk_pseudo_fs(0x19800202));	/* mqueue */
	assert_true(cbp_walk_pseudo_fs(0x65735543));	/* fusectl */
	assert_true(cbp_walk_pseudo_fs(0xf97cff8c));	/* selinuxfs */
	assert_false(cbp_walk_pseudo_fs(0xef53));	/* ext4 */
	assert_false(cbp_walk_pseudo_fs(0x01021994));	/* tmpfs */

	collect_init(&c);
	walk(&c, roots, 1, 1, NULL);
	assert_true(has_path(&c, "/proc/self/fdinfo/0"));
	collect_free(&c);
}

/*
 * A pseudo filesystem mounted below a root is skipped; the same mount
 * named as a root is walked.  Uses a cgroup mount if the system has one.
 */
static void
t_pseudo_mount_skipped(void **state)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[4096], dev[1024], mnt[1024], type[256];
	char parent[1024];
	const char *roots[1];
	struct collect c;
	size_t i, ml;
	int found = 0;
	char *slash;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%1023s %1023s %255s", dev, mnt, type) != 3)
			continue;
		if ((strcmp(type, "cgroup") == 0 ||
		    strcmp(type, "cgroup2") == 0) &&
		    strncmp(mnt, "/sys/", 5) == 0 && strchr(mnt, '\\') == NULL) {
			found = 1;
			break;
		}
	}
	fclose(f);
	if (!found)
		skip();
	ml = strlen(mnt);
	memcpy(parent, mnt, ml + 1);
	slash = strrchr(parent, '/');
	assert_non_null(slash);
	*slash = '\0';

	roots[0] = parent;
	collect_init(&c);
	walk(&c, roots, 1, 2, NULL);
	for (i = 0; i < c.n; i++)
		assert_false(strncmp(c.paths[i], mnt, ml) == 0 &&
		    c.paths[i][ml] == '/');
	collect_free(&c);

	roots[0] = mnt;
	collect_init(&c);
	walk(&c, roots, 1, 2, NULL);
	assert_true(c.n > 0);
	collect_free(&c);
}

/*
 * With very few fds, directories that cannot be opened are reported (not
 * lost): every file is either seen or lies under a reported directory.
 */
static int
emfile_child(const char *base, const char *const *list, size_t n,
    unsigned nthreads)
{
	const char *roots[] = { base };
	struct cbp_walk_opts o;
	struct collect c;
	size_t i, j;
	int rc = 0, emfile = 0;

	memset(&o, 0, sizeof(o));
	o.nthreads = nthreads;
	collect_init(&c);
	c.nthreads = nthreads;
	if (cbp_walk_run(roots, 1, &o, &ops, &c) != CBP_OK)
		return 30;
	for (j = 0; j < c.nerr; j++)
		if (strstr(c.errs[j].detail, "Too many open files") != NULL)
			emfile = 1;
	if (!emfile)
		rc = 31;
	for (i = 0; i < n && rc == 0; i++) {
		char *p = join(base, list[i]);
		int ok = has_path(&c, p);

		for (j = 0; j < c.nerr && !ok; j++) {
			size_t el = strlen(c.errs[j].path);

			ok = strncmp(p, c.errs[j].path, el) == 0 && p[el] == '/';
		}
		if (!ok)
			rc = 32;
		free(p);
	}
	collect_free(&c);
	return rc;
}

static void
t_emfile(void **state)
{
	char *base = mktree();
	char rel[4096];
	char **list;
	size_t n = 0, pos = 0;
	int level, st;
	pid_t pid;

	/*
	 * A comb: each level has four leaf directories and the next level.
	 * A level stays open until all five children are opened, so whatever
	 * the readdir order, most levels hold an fd while the walk descends.
	 */
	list = calloc(40 * 4, sizeof(*list));
	assert_non_null(list);
	for (level = 0; level < 40; level++) {
		int leaf;

		for (leaf = 0; leaf < 4; leaf++) {
			snprintf(rel + pos, sizeof(rel) - pos, "l%d/f", leaf);
			put(base, rel);
			list[n++] = xstrdup(rel);
		}
		pos += (size_t)snprintf(rel + pos, sizeof(rel) - pos, "n%d/",
		    level);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;
		int fds = count_fds();
		int rc;

		rl.rlim_cur = rl.rlim_max = (rlim_t)fds + 8;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(77);
		rc = emfile_child(base, (const char *const *)list, n, 1);
		if (rc == 0)
			rc = emfile_child(base, (const char *const *)list, n, 3);
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	free_list(list, n);
	rmtree(base);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Every kind of entry the walk does not scan is counted, by kind. */
static void
t_skip_counts(void **state)
{
	static const char *const files[] = { "keep.jpg", "d/keep2" };
	char *base = mktree();
	const char *roots[1];
	const char *ex[] = { "*.tmp", "skipdir" };
	struct cbp_walk_opts o;
	struct collect c;
	char *p;

	put(base, "keep.jpg");
	put(base, "d/keep2");
	put(base, "x.tmp");
	put(base, "skipdir/inner");
	p = join(base, "d/l1");
	assert_int_equal(symlink("keep2", p), 0);
	free(p);
	p = join(base, "l2");
	assert_int_equal(symlink("/etc", p), 0);
	free(p);
	p = join(base, "d/f");
	assert_int_equal(mkfifo(p, 0644), 0);
	free(p);
	p = join(base, "dev");
	/* A device node needs CAP_MKNOD; without it the count stays 0. */
	int have_dev = mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0;
	free(p);
	memset(&o, 0, sizeof(o));
	o.excludes = ex;
	o.nexcludes = 2;
	roots[0] = base;
	collect_init(&c);
	c.verify_open = 1;
	walk(&c, roots, 1, 2, &o);
	expect_set(&c, base, files, 2);
	assert_int_equal(c.nerr, 0);
	assert_int_equal(c.skips[CBP_WALK_SKIP_SYMLINK], 2);
	assert_int_equal(c.skips[CBP_WALK_SKIP_FIFO], 1);
	assert_int_equal(c.skips[CBP_WALK_SKIP_DEVICE], have_dev);
	assert_int_equal(c.skips[CBP_WALK_SKIP_EXCLUDED], 2);
	assert_int_equal(c.skips[CBP_WALK_SKIP_SOCKET], 0);
	assert_int_equal(c.skips[CBP_WALK_SKIP_VANISHED], 0);
	collect_free(&c);
	rmtree(base);
}

/* Is dir on a filesystem whose readdir d_ino is fstat's st_ino? */
static int
dino_trusted(const char *dir)
{
	struct statfs sfs;

	if (statfs(dir, &sfs) != 0)
		return 0;
	switch ((uint32_t)sfs.f_type) {
	case 0xEF53:		/* ext2/3/4 */
	case 0x58465342:	/* xfs */
	case 0x9123683E:	/* btrfs */
	case 0x01021994:	/* tmpfs */
		return 1;
	default:
		return 0;
	}
}

/*
 * A directory listed by readdir, then swapped (RENAME_EXCHANGE) for another
 * directory or a symlink before it is opened: "changed", never a silent
 * loss of the subtree.  Deterministic: glibc reads the whole small directory
 * in one getdents call before the first callback, and the callback of
 * "trigger" does the swap, before any child directory is opened.
 */
static void
t_dir_swapped_is_changed(void **state)
{
	static const char *const files[] = { "trigger" };
	char *base = mktree();
	char *sub, *other, *lnk, *want;
	const char *roots[1];
	struct collect c;
	size_t i;

	if (!dino_trusted(base)) {
		rmtree(base);
		skip();
	}
	put(base, "trigger");
	put(base, "sub/s1");
	put(base, "other/o1");
	sub = join(base, "sub");
	other = join(base, "other");
	lnk = join(base, "lnk");
	assert_int_equal(symlink("/etc", lnk), 0);

	/* Two directories exchanged: each opens as the other's inode. */
	roots[0] = base;
	collect_init(&c);
	c.swap_on = "trigger";
	c.swap_a = sub;
	c.swap_b = other;
	walk(&c, roots, 1, 1, NULL);
	expect_set(&c, base, files, 1);
	assert_int_equal(c.nerr, 2);
	for (i = 0; i < c.nerr; i++) {
		assert_int_equal(c.errs[i].code, CBP_ECHANGED);
		assert_false(c.errs[i].root);
		assert_true(strcmp(c.errs[i].path, sub) == 0 ||
		    strcmp(c.errs[i].path, other) == 0);
	}
	collect_free(&c);

	/* A directory exchanged with a symlink: never followed, "changed". */
	collect_init(&c);
	c.swap_on = "trigger";
	c.swap_a = sub;
	c.swap_b = lnk;
	walk(&c, roots, 1, 1, NULL);
	want = join(base, "other/s1");	/* the first exchange moved it */
	assert_int_equal(c.n, 2);
	assert_true(has_path(&c, want));
	free(want);
	assert_int_equal(c.nerr, 1);
	assert_string_equal(c.errs[0].path, sub);
	assert_int_equal(c.errs[0].code, CBP_ECHANGED);
	assert_int_equal(c.skips[CBP_WALK_SKIP_SYMLINK], 1);	/* listed as one */
	collect_free(&c);

	/* A directory renamed away after listing: vanished, counted, no error. */
	assert_int_equal(renameat2(AT_FDCWD, sub, AT_FDCWD, lnk,
	    RENAME_EXCHANGE), 0);		/* back to the start */
	collect_init(&c);
	c.swap_on = "trigger";
	c.swap_a = sub;
	c.swap_b = "/nonexistent";	/* plain rename to outside the tree */
	c.swap_away = join(base, "../gone-cbpwalk");
	walk(&c, roots, 1, 1, NULL);
	assert_int_equal(c.nerr, 0);
	assert_int_equal(c.skips[CBP_WALK_SKIP_VANISHED], 1);
	assert_int_equal(rename(c.swap_away, sub), 0);
	free(c.swap_away);
	collect_free(&c);

	free(sub);
	free(other);
	free(lnk);
	rmtree(base);
}

/* safe_dir of the file at base/rel, as the walk delivered it. */
static int
safe_of(const struct collect *c, const char *base, const char *rel)
{
	char *p = join(base, rel);
	size_t i;
	int r = -1;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->paths[i], p) == 0)
			r = c->safe[i];
	free(p);
	return r;
}

/*
 * safe_dir (names only root or we can swap, opened directly) only for
 * directories owned by root or us and writable by nobody else.
 */
static void
t_safe_dir(void **state)
{
	static const char *const dirs[] = { "a", "b", "c", "d" };
	static const mode_t modes[] = { 0755, 0777, 01777, 0775 };
	char *base = mktree();
	const char *roots[1];
	struct collect c;
	size_t i;

	put(base, "a/x");
	put(base, "b/x");
	put(base, "c/x");
	put(base, "d/x");
	for (i = 0; i < 4; i++) {
		char *p = join(base, dirs[i]);

		assert_int_equal(chmod(p, modes[i]), 0);
		free(p);
	}
	roots[0] = base;
	collect_init(&c);
	walk(&c, roots, 1, 2, NULL);
	assert_int_equal(c.n, 4);
	assert_int_equal(safe_of(&c, base, "a/x"), 1);
	assert_int_equal(safe_of(&c, base, "b/x"), 0);
	assert_int_equal(safe_of(&c, base, "c/x"), 0);
	assert_int_equal(safe_of(&c, base, "d/x"), 0);
	collect_free(&c);
	rmtree(base);
}

static void
t_bad_args(void **state)
{
	const char *roots[] = { "/nonexistent" };
	struct cbp_walk_opts o;
	struct cbp_walk_ops no_file = { NULL, on_error, NULL, NULL, NULL };

	memset(&o, 0, sizeof(o));
	assert_int_equal(cbp_walk_run(roots, 1, &o, &ops, NULL), CBP_EINVAL);
	o.nthreads = 1;
	assert_int_equal(cbp_walk_run(roots, 1, &o, &no_file, NULL),
	    CBP_EINVAL);
	assert_int_equal(cbp_walk_run(NULL, 1, &o, &ops, NULL), CBP_EINVAL);
	assert_int_equal(cbp_walk_run(NULL, 0, &o, &ops, NULL), CBP_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_nested),
		cmocka_unit_test(t_symlinks),
		cmocka_unit_test(t_root_symlink_followed),
		cmocka_unit_test(t_fifo_socket),
		cmocka_unit_test(t_long_path),
		cmocka_unit_test(t_exclude),
		cmocka_unit_test(t_excluded_not_entered),
		cmocka_unit_test(t_excluded_api),
		cmocka_unit_test(t_root_never_excluded),
		cmocka_unit_test(t_threads_same_set),
		cmocka_unit_test(t_stress),
		cmocka_unit_test(t_permission),
		cmocka_unit_test(t_odd_names),
		cmocka_unit_test(t_roots),
		cmocka_unit_test(t_relative_root),
		cmocka_unit_test(t_slash_root),
		cmocka_unit_test(t_cancel),
		cmocka_unit_test(t_one_fs),
		cmocka_unit_test(t_one_fs_mount),
		cmocka_unit_test(t_pseudo),
		cmocka_unit_test(t_pseudo_mount_skipped),
		cmocka_unit_test(t_emfile),
		cmocka_unit_test(t_skip_counts),
		cmocka_unit_test(t_dir_swapped_is_changed),
		cmocka_unit_test(t_safe_dir),
		cmocka_unit_test(t_bad_args),
	};

	/* CBP_TEST_FILTER=t_stress runs one test (a glob over names). */
	if (getenv("CBP_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("CBP_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
