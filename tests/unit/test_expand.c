/*
 * test_expand.c — archive expansion (cbp_expand.h).
 *
 * Each test gets a fresh temp dir and builds its archives there at test
 * time with the real tools (zip, tar, 7z, cpio, genisoimage, gzip, ...), so
 * what we check is what users' files look like; a test whose tool is
 * missing is skipped.  Hostile names that no tool will write (../, /abs,
 * non-UTF-8) are written with libarchive's writer.  Every archive is
 * expanded twice, from an fd and from memory, and both must give exactly
 * the same members, bytes and problems.
 */
#include <errno.h>
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
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

#include "cbp_expand.h"
#include "cbp_limits.h"

#define MAXREC 64

struct rec_member {
	char *chain;		/* member chain joined with '|' */
	uint64_t size;
	unsigned char *data;
	size_t len;
	int partial;
	unsigned depth;
	int64_t mtime;
};

struct rec_problem {
	char *chain;		/* where's chain, plus member_name if any */
	int has_member;
	enum cbp_reason reason;
	char *detail;
};

struct rec {
	struct rec_member m[MAXREC];
	size_t nm;
	struct rec_problem p[MAXREC];
	size_t np;
	/* For recursion, as the scan does it. */
	int recurse;
	const struct cbp_expand_limits *lim;
	struct cbp_expand_budget *budget;
	int stop_after;		/* stop the archive after this many members (0: never) */
	int last_inner_ret;
	/* ops.want: members index % stride == phase from `from` on (stride
	 * 0: no want callback); what it was asked, in order. */
	unsigned stride, phase;
	uint64_t from;
	uint64_t asked[MAXREC];
	char *asked_name[MAXREC];
	size_t nasked;
	/* The budget's shares and members_only for the top level. */
	unsigned shares;
	int members_only;
};

struct fix {
	char dir[64];
};

/* ---- helpers -------------------------------------------------------- */

static char *
join_chain(const char *const *member, size_t n, const char *extra)
{
	size_t len = 1, i, off = 0, k;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(member[i]) + 1;
	if (extra != NULL)
		len += strlen(extra) + 1;
	s = malloc(len);
	assert_non_null(s);
	for (i = 0; i <= n; i++) {
		const char *part = i < n ? member[i] : extra;

		if (part == NULL)
			break;
		if (off > 0)
			s[off++] = '|';
		k = strlen(part);
		memcpy(s + off, part, k);
		off += k;
	}
	s[off] = '\0';
	return s;
}

static void
rec_free(struct rec *r)
{
	size_t i;

	for (i = 0; i < r->nm; i++) {
		free(r->m[i].chain);
		free(r->m[i].data);
	}
	for (i = 0; i < r->np; i++) {
		free(r->p[i].chain);
		free(r->p[i].detail);
	}
	for (i = 0; i < r->nasked; i++)
		free(r->asked_name[i]);
	r->nm = r->np = r->nasked = 0;
}

static int
on_member(void *arg, struct cbp_object *m)
{
	struct rec *r = arg;
	struct rec_member *rm;

	assert_true(r->nm < MAXREC);
	assert_int_equal(m->fd, -1);
	assert_non_null(m->mem);
	assert_true(m->nmember >= 1);
	assert_string_equal(m->name, m->member[m->nmember - 1]);
	rm = &r->m[r->nm++];
	rm->chain = join_chain(m->member, m->nmember, NULL);
	rm->size = m->size;
	rm->len = m->mem_len;
	rm->data = malloc(m->mem_len + 1);
	assert_non_null(rm->data);
	memcpy(rm->data, m->mem, m->mem_len);
	rm->partial = m->mem_partial;
	rm->depth = m->depth;
	rm->mtime = m->mtime;
	return r->stop_after > 0 && r->nm >= (size_t)r->stop_after;
}

static void
on_problem(void *arg, const struct cbp_object *where, const char *member_name,
    enum cbp_reason reason, const char *detail)
{
	struct rec *r = arg;
	struct rec_problem *rp;

	assert_true(r->np < MAXREC);
	assert_non_null(detail);
	rp = &r->p[r->np++];
	rp->chain = join_chain(where->member, where->nmember, member_name);
	rp->has_member = member_name != NULL;
	rp->reason = reason;
	rp->detail = strdup(detail);
}

static int on_member_recursive(void *arg, struct cbp_object *m);

/*
 * Identification, as the scan does it (cbp_identify_object with the
 * database make unit names in CBPSCAN_MAGIC).  The expand stage is given
 * its answer; which objects to expand is decided from its kind.
 */
static struct cbp_identify *g_id;

static const struct cbp_ident *
identify(struct cbp_object *o, struct cbp_ident *out)
{
	struct cbp_error e = { 0 };

	if (g_id == NULL)
		fail_msg("no magic database: set CBPSCAN_MAGIC");
	(void)cbp_identify_object(g_id, o, out, &e);
	return out;
}

static int
is_container(const struct cbp_ident *id)
{
	return id->kind == CBP_KIND_ARCHIVE || id->kind == CBP_KIND_COMPRESSED;
}

static const struct cbp_expand_ops plain_ops = { on_member, on_problem, NULL };

/* ops.want as a phase of a split archive, or a resumed job, takes it. */
static int
on_want(void *arg, uint64_t index, const char *name)
{
	struct rec *r = arg;

	assert_true(r->nasked < MAXREC);
	r->asked[r->nasked] = index;
	r->asked_name[r->nasked] = strdup(name);
	assert_non_null(r->asked_name[r->nasked]);
	r->nasked++;
	return index >= r->from && index % r->stride == r->phase;
}

static const struct cbp_expand_ops want_ops = { on_member, on_problem, on_want };
static const struct cbp_expand_ops recursive_ops = { on_member_recursive, on_problem, NULL };

/* The scan's way: record the member, then expand it if it is an archive. */
static int
on_member_recursive(void *arg, struct cbp_object *m)
{
	struct rec *r = arg;
	int stop = on_member(arg, m);

	/* The scan reads a member's head before anything else (cbp_read_head). */
	m->head = m->mem;
	m->head_len = m->mem_len < CBP_HEAD_BYTES ? m->mem_len : CBP_HEAD_BYTES;
	if (!stop) {
		struct cbp_ident id;

		if (is_container(identify(m, &id)))
			r->last_inner_ret = cbp_expand_object(m, &id, r->lim,
			    r->budget, &recursive_ops, r);
	}
	return stop;
}

static struct cbp_expand_limits
default_limits(void)
{
	struct cbp_expand_limits l = {
		CBP_ARCHIVE_DEPTH, CBP_ARCHIVE_MEMBERS, CBP_MEMBER_MAX,
		CBP_ARCHIVE_TOTAL, CBP_ARCHIVE_RATIO,
	};
	return l;
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/*
 * Expand the file at path from its fd (use_fd) or from memory, with a new
 * budget; return cbp_expand_object's code.  size_override, when non-zero,
 * is the size the object claims (a file that "shrank").
 */
static int
expand_file_ex(const char *path, int use_fd, const struct cbp_expand_limits *lim,
    struct rec *r, uint64_t size_override)
{
	struct cbp_expand_budget budget = { 0 };
	struct cbp_object o;
	struct cbp_ident ident;
	const char *slash = strrchr(path, '/');
	unsigned char *mem = NULL, head[CBP_HEAD_BYTES];
	size_t len = 0;
	ssize_t hn;
	int fd = -1, ret;

	memset(&o, 0, sizeof o);
	o.fd = -1;
	o.path = path;
	o.name = slash != NULL ? slash + 1 : path;
	o.mtime = CBP_MTIME_UNKNOWN;
	if (use_fd) {
		struct stat st;

		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		/* The fd's position must not matter and must not move. */
		assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
		o.fd = fd;
		o.size = (uint64_t)st.st_size;
		/* As the scan does: the head first (cbp_read_head). */
		hn = pread(fd, head, sizeof head, 0);
		assert_true(hn >= 0);
		o.head = head;
		o.head_len = (size_t)hn;
	} else {
		mem = slurp(path, &len);
		o.mem = mem;
		o.mem_len = len;
		o.size = len;
		o.head = mem;
		o.head_len = len < sizeof head ? len : sizeof head;
	}
	if (size_override != 0)
		o.size = size_override;
	r->lim = lim;
	r->budget = &budget;
	budget.shares = r->shares;
	budget.members_only = r->members_only;
	ret = cbp_expand_object(&o, identify(&o, &ident), lim, &budget,
	    r->stride > 0 ? &want_ops : r->recurse ? &recursive_ops : &plain_ops,
	    r);
	if (use_fd) {
		assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);
		close(fd);
	}
	free(mem);
	return ret;
}

static int
expand_file(const char *path, int use_fd, const struct cbp_expand_limits *lim,
    struct rec *r)
{
	return expand_file_ex(path, use_fd, lim, r, 0);
}

static int
have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

#define NEED(tool) do { if (!have(tool)) { skip(); } } while (0)

/* Run a shell command inside the fixture dir; fail the test if it fails. */
static void sh(const struct fix *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
sh(const struct fix *f, const char *fmt, ...)
{
	char body[3072], cmd[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof body);
	n = snprintf(cmd, sizeof cmd, "cd '%s' && (%s) >/dev/null 2>&1", f->dir, body);
	assert_true(n > 0 && (size_t)n < sizeof cmd);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", body);
}

static void
pth(const struct fix *f, const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", f->dir, name);

	assert_true(n > 0 && (size_t)n < outlen);
}

static void
write_file(const struct fix *f, const char *name, const void *data, size_t len)
{
	char p[256];
	FILE *fp;

	pth(f, name, p, sizeof p);
	fp = fopen(p, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Deterministic filler: easy to check, not something a bidder knows. */
static void
pattern(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 7 + seed + (i >> 8)) & 0xff);
}

static const struct rec_member *
find_member(const struct rec *r, const char *chain)
{
	size_t i;

	for (i = 0; i < r->nm; i++)
		if (strcmp(r->m[i].chain, chain) == 0)
			return &r->m[i];
	return NULL;
}

static const struct rec_problem *
find_problem(const struct rec *r, enum cbp_reason reason)
{
	size_t i;

	for (i = 0; i < r->np; i++)
		if (r->p[i].reason == reason)
			return &r->p[i];
	return NULL;
}

static void
check_member(const struct rec *r, const char *chain, const void *data,
    size_t len)
{
	const struct rec_member *m = find_member(r, chain);

	if (m == NULL)
		fail_msg("member %s not delivered", chain);
	assert_int_equal(m->size, len);
	assert_int_equal(m->len, len);
	assert_int_equal(m->partial, 0);
	assert_memory_equal(m->data, data, len);
}

/* The fixture tree most tests archive: a.txt and dir/b.bin. */
static unsigned char b_bin[3000];

static void
make_tree(const struct fix *f)
{
	sh(f, "mkdir -p src/dir");
	pattern(b_bin, sizeof b_bin, 3);
	write_file(f, "src/a.txt", "hello\n", 6);
	write_file(f, "src/dir/b.bin", b_bin, sizeof b_bin);
	/* A fixed mtime, to check that it comes through. */
	sh(f, "touch -d @1500000000 src/a.txt src/dir/b.bin");
}

/* Expand path both ways and check the two-member tree came out. */
static void
check_tree_archive(const struct fix *f, const char *name, int check_mtime)
{
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;

	pth(f, name, p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;
		const struct rec_member *m;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 0);
		assert_int_equal(r.nm, 2);	/* directories are not members */
		check_member(&r, "a.txt", "hello\n", 6);
		check_member(&r, "dir/b.bin", b_bin, sizeof b_bin);
		m = find_member(&r, "a.txt");
		assert_int_equal(m->depth, 1);
		if (check_mtime)
			assert_int_equal(m->mtime, 1500000000);
		rec_free(&r);
	}
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/cbp_expand_XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* ---- formats -------------------------------------------------------- */

static void
test_zip(void **state)
{
	struct fix *f = *state;

	NEED("zip");
	make_tree(f);
	sh(f, "cd src && zip -q -r ../t.zip a.txt dir");
	check_tree_archive(f, "t.zip", 1);
}

static void
test_tar_family(void **state)
{
	struct fix *f = *state;

	NEED("tar");
	make_tree(f);
	sh(f, "tar -C src -cf t.tar a.txt dir");
	check_tree_archive(f, "t.tar", 1);
	if (have("gzip")) {
		sh(f, "tar -C src -czf t.tar.gz a.txt dir");
		check_tree_archive(f, "t.tar.gz", 1);
	}
	if (have("xz")) {
		sh(f, "tar -C src -cJf t.tar.xz a.txt dir");
		check_tree_archive(f, "t.tar.xz", 1);
	}
	if (have("zstd")) {
		sh(f, "tar -C src --zstd -cf t.tar.zst a.txt dir");
		check_tree_archive(f, "t.tar.zst", 1);
	}
	if (have("bzip2")) {
		sh(f, "tar -C src -cjf t.tar.bz2 a.txt dir");
		check_tree_archive(f, "t.tar.bz2", 1);
	}
}

static void
test_7z(void **state)
{
	struct fix *f = *state;

	NEED("7z");
	make_tree(f);
	sh(f, "cd src && 7z a -bd -y ../t.7z a.txt dir");
	check_tree_archive(f, "t.7z", 1);
}

static void
test_cpio(void **state)
{
	struct fix *f = *state;

	NEED("cpio");
	make_tree(f);
	sh(f, "cd src && printf 'a.txt\\ndir\\ndir/b.bin\\n' | cpio -o -H newc > ../t.cpio");
	check_tree_archive(f, "t.cpio", 1);
	sh(f, "cd src && printf 'a.txt\\ndir\\ndir/b.bin\\n' | cpio -o -H odc > ../t.odc");
	check_tree_archive(f, "t.odc", 1);
}

static void
test_iso9660(void **state)
{
	struct fix *f = *state;

	NEED("genisoimage");
	make_tree(f);
	sh(f, "genisoimage -quiet -R -o t.iso src");
	check_tree_archive(f, "t.iso", 1);
}

static void
test_ar(void **state)
{
	struct fix *f = *state;

	NEED("ar");
	make_tree(f);
	/* ar has no directories: b.bin goes in under its basename. */
	sh(f, "cd src && cp dir/b.bin b.bin && ar rc ../t.a a.txt b.bin");
	{
		struct cbp_expand_limits lim = default_limits();
		char p[256];
		int mode;

		pth(f, "t.a", p, sizeof p);
		for (mode = 0; mode < 2; mode++) {
			struct rec r;

			memset(&r, 0, sizeof r);
			assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
			assert_int_equal(r.np, 0);
			assert_int_equal(r.nm, 2);
			check_member(&r, "a.txt", "hello\n", 6);
			check_member(&r, "b.bin", b_bin, sizeof b_bin);
			rec_free(&r);
		}
	}
}

/* ---- single compressed streams -------------------------------------- */

static void
check_single(const struct fix *f, const char *file, const char *want_name,
    const void *data, size_t len)
{
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;

	pth(f, file, p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 0);
		assert_int_equal(r.nm, 1);
		check_member(&r, want_name, data, len);
		/* Only gzip records the file's mtime (photo.jpg's). */
		if (r.m[0].mtime != CBP_MTIME_UNKNOWN)
			assert_int_equal(r.m[0].mtime, 1500000000);
		rec_free(&r);
	}
}

static void
test_single_streams(void **state)
{
	static const struct {
		const char *tool, *cmd, *file;
	} c[] = {
		{ "gzip", "gzip -c photo.jpg > photo.jpg.gz", "photo.jpg.gz" },
		{ "bzip2", "bzip2 -c photo.jpg > photo.jpg.bz2", "photo.jpg.bz2" },
		{ "xz", "xz -c photo.jpg > photo.jpg.xz", "photo.jpg.xz" },
		{ "zstd", "zstd -q -c photo.jpg > photo.jpg.zst", "photo.jpg.zst" },
		{ "lz4", "lz4 -q -c photo.jpg > photo.jpg.lz4", "photo.jpg.lz4" },
		{ "xz", "xz --format=lzma -c photo.jpg > photo.jpg.lzma", "photo.jpg.lzma" },
		{ "gzip", "xz -c photo.jpg | gzip -c > photo.jpg.xz.gz", "photo.jpg.xz.gz" },
	};
	struct fix *f = *state;
	unsigned char jpg[5000];
	size_t i;

	memcpy(jpg, "\xff\xd8\xff\xe0\0\x10JFIF", 10);
	pattern(jpg + 10, sizeof jpg - 10, 11);
	write_file(f, "photo.jpg", jpg, sizeof jpg);
	sh(f, "touch -d @1500000000 photo.jpg");
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (!have(c[i].tool))
			continue;
		sh(f, "%s", c[i].cmd);
		if (strcmp(c[i].tool, "gzip") == 0 &&
		    strstr(c[i].cmd, "xz") == NULL) {
			/* gzip keeps the mtime, and it must come through. */
			struct cbp_expand_limits lim = default_limits();
			struct rec r;
			char p[256];

			memset(&r, 0, sizeof r);
			pth(f, c[i].file, p, sizeof p);
			assert_int_equal(expand_file(p, 0, &lim, &r), CBP_OK);
			assert_int_equal(r.nm, 1);
			assert_int_equal(r.m[0].mtime, 1500000000);
			rec_free(&r);
		}
		check_single(f, c[i].file, "photo.jpg", jpg, sizeof jpg);
	}
	/* No compression suffix: the member is "data". */
	if (have("gzip")) {
		sh(f, "gzip -c photo.jpg > blob");
		check_single(f, "blob", "data", jpg, sizeof jpg);
	}
}

/*
 * A gzipped text must come out as that text.  libarchive's mtree reader
 * (left out on purpose) would take it for an mtree spec, and mtree specs
 * name local files.
 */
static void
test_compressed_text_is_not_mtree(void **state)
{
	static const char spec[] = "#mtree\n./etc/hostname type=file\nhello\n";
	struct fix *f = *state;

	NEED("gzip");
	write_file(f, "notes.txt", spec, sizeof spec - 1);
	sh(f, "touch -d @1500000000 notes.txt && gzip -c notes.txt > notes.txt.gz");
	check_single(f, "notes.txt.gz", "notes.txt", spec, sizeof spec - 1);
}

/*
 * Bytes appended after a gzip stream (gzip -d ignores them) are scanned as
 * a member "@OFFSET:after-gzip"; zero padding is not; a tar.gz is decoded
 * past the tar's end marker to find them.
 */
static void
test_bytes_after_gzip(void **state)
{
	static const char hidden[] = "FAC\0" "010\0 appended after the stream";
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256], want[64];
	struct stat st;
	int mode, k;

	NEED("gzip");
	NEED("tar");
	make_tree(f);
	write_file(f, "hidden.bin", hidden, sizeof hidden - 1);
	sh(f, "gzip -c src/a.txt > plain.gz && cp plain.gz appended.gz && "
	    "cat hidden.bin >> appended.gz && cp plain.gz padded.gz && "
	    "head -c 4096 /dev/zero >> padded.gz && "
	    "tar -C src -czf t.tar.gz a.txt && cp t.tar.gz t-appended.tar.gz && "
	    "cat hidden.bin >> t-appended.tar.gz");
	for (k = 0; k < 3; k++) {
		static const char *const file[] = { "appended.gz", "padded.gz",
		    "t-appended.tar.gz" };
		static const char *const base[] = { "plain.gz", "plain.gz", "t.tar.gz" };

		pth(f, base[k], p, sizeof p);
		assert_int_equal(stat(p, &st), 0);
		snprintf(want, sizeof want, "@%lld:after-gzip", (long long)st.st_size);
		pth(f, file[k], p, sizeof p);
		for (mode = 0; mode < 2; mode++) {
			struct rec r;

			memset(&r, 0, sizeof r);
			assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
			assert_int_equal(r.np, 0);
			if (k == 1) {
				assert_int_equal(r.nm, 1);
				assert_null(find_member(&r, want));
			} else {
				assert_int_equal(r.nm, 2);
				check_member(&r, want, hidden, sizeof hidden - 1);
			}
			rec_free(&r);
		}
	}

	/* Zeros as far as member_max reaches, then data: said, not skipped. */
	sh(f, "cp plain.gz deep.gz && head -c 2000 /dev/zero >> deep.gz && "
	    "cat hidden.bin >> deep.gz");
	lim.member_max = 1024;
	pth(f, "deep.gz", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_ELIMIT);
		assert_int_equal(r.nm, 1);
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_LIMIT);
		assert_non_null(strstr(r.p[0].detail, "after the gzip stream"));
		rec_free(&r);
	}
}

/* ---- nesting, encryption, damage ------------------------------------ */

static void
test_nested_zip_in_tar_gz(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;

	NEED("zip");
	NEED("tar");
	make_tree(f);
	sh(f, "cd src && zip -q ../inner.zip a.txt && cd .. && tar -czf x.tar.gz inner.zip");
	pth(f, "x.tar.gz", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;
		const struct rec_member *m;

		memset(&r, 0, sizeof r);
		r.recurse = 1;
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.last_inner_ret, CBP_OK);
		assert_int_equal(r.np, 0);
		assert_int_equal(r.nm, 2);
		assert_non_null(find_member(&r, "inner.zip"));
		check_member(&r, "inner.zip|a.txt", "hello\n", 6);
		m = find_member(&r, "inner.zip|a.txt");
		assert_int_equal(m->depth, 2);
		rec_free(&r);
	}
}

static void
test_encrypted_zip(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;

	NEED("zip");
	make_tree(f);
	/* a.txt encrypted, b.bin not: the plain one must still be scanned. */
	sh(f, "cd src && zip -q -P secret ../enc.zip a.txt && zip -q ../enc.zip dir/b.bin");
	pth(f, "enc.zip", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;
		const struct rec_problem *pr;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 1);
		pr = find_problem(&r, CBP_REASON_ENCRYPTED);
		assert_non_null(pr);
		assert_string_equal(pr->chain, "a.txt");
		assert_int_equal(r.nm, 1);
		check_member(&r, "dir/b.bin", b_bin, sizeof b_bin);
		rec_free(&r);
	}
}

static void
test_encrypted_7z(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256], q[256];
	int mode;

	NEED("7z");
	make_tree(f);
	sh(f, "cd src && 7z a -bd -y -psecret -mhe=on ../he.7z a.txt dir");
	sh(f, "cd src && 7z a -bd -y -psecret ../data.7z a.txt");
	pth(f, "he.7z", p, sizeof p);
	pth(f, "data.7z", q, sizeof q);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		/* Encrypted headers: the archive itself is unreadable. */
		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_EENCRYPTED);
		assert_int_equal(r.nm, 0);
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_ENCRYPTED);
		assert_int_equal(r.p[0].has_member, 0);
		assert_string_equal(r.p[0].chain, "");
		rec_free(&r);

		/* Encrypted content, readable names: reported per member. */
		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(q, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.nm, 0);
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_ENCRYPTED);
		assert_string_equal(r.p[0].chain, "a.txt");
		rec_free(&r);
	}
}

static void
test_truncated_tar_gz(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	static unsigned char big[300000];
	char p[256];
	struct stat st;
	size_t i;
	int mode;
	uint32_t x = 12345;

	NEED("tar");
	NEED("gzip");
	/* Incompressible, so the damage falls inside big.bin. */
	for (i = 0; i < sizeof big; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (unsigned char)(x >> 24);
	}
	write_file(f, "a.txt", "hello\n", 6);
	write_file(f, "big.bin", big, sizeof big);
	write_file(f, "c.txt", "after\n", 6);
	sh(f, "tar -cf - a.txt big.bin c.txt | gzip -c > t.tar.gz");
	pth(f, "t.tar.gz", p, sizeof p);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(truncate(p, st.st_size / 2), 0);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;
		const struct rec_member *m;
		const struct rec_problem *pr;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_ECORRUPT);
		check_member(&r, "a.txt", "hello\n", 6);
		/* The damaged member's readable start is scanned too. */
		m = find_member(&r, "big.bin");
		assert_non_null(m);
		assert_int_equal(m->partial, 1);
		assert_int_equal(m->size, sizeof big);
		assert_true(m->len > 0 && m->len < sizeof big);
		assert_memory_equal(m->data, big, m->len);
		assert_null(find_member(&r, "c.txt"));
		assert_int_equal(r.np, 1);
		pr = find_problem(&r, CBP_REASON_CORRUPT);
		assert_non_null(pr);
		assert_string_equal(pr->chain, "big.bin");
		rec_free(&r);
	}

	/* The same file seen through an fd whose fstat said it was longer:
	 * it shrank under us, which is "io", not "corrupt". */
	{
		struct rec r;
		const struct rec_problem *pr;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file_ex(p, 1, &lim, &r,
		    (uint64_t)st.st_size), CBP_EIO);
		pr = find_problem(&r, CBP_REASON_IO);
		if (pr == NULL)
			fail_msg("no io problem; got %d: %s", r.p[0].reason, r.p[0].detail);
		assert_non_null(strstr(pr->detail, "shrank"));
		rec_free(&r);
	}
}

static void
test_not_an_archive(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	unsigned char junk[4096];
	char p[256];
	int mode;

	pattern(junk, sizeof junk, 99);
	write_file(f, "junk.bin", junk, sizeof junk);
	pth(f, "junk.bin", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_ECORRUPT);
		assert_int_equal(r.nm, 0);
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_CORRUPT);
		assert_int_equal(r.p[0].has_member, 0);
		rec_free(&r);
	}
}

/* ---- budgets -------------------------------------------------------- */

static void
make_bomb(const struct fix *f)
{
	sh(f, "truncate -s 10485760 zeros.bin && zip -q bomb.zip zeros.bin");
}

static void
test_member_max(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;
	size_t i;

	NEED("zip");
	make_bomb(f);
	lim.member_max = CBP_MIB;
	pth(f, "bomb.zip", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_LIMIT);
		assert_string_equal(r.p[0].chain, "zeros.bin");
		assert_string_equal(r.p[0].detail,
		    "member larger than 1048576 bytes: scanned the first 1048576");
		assert_int_equal(r.nm, 1);
		assert_int_equal(r.m[0].partial, 1);
		assert_int_equal(r.m[0].len, CBP_MIB);
		assert_int_equal(r.m[0].size, 10485760);
		for (i = 0; i < r.m[0].len; i++)
			assert_int_equal(r.m[0].data[i], 0);
		rec_free(&r);
	}
}

static void
test_ratio_and_total(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;

	NEED("zip");
	make_bomb(f);
	pth(f, "bomb.zip", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		/* 10 MiB out of ~10 KiB: above 2 x the 1 MiB floor. */
		lim = default_limits();
		lim.max_ratio = 2;
		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_ELIMIT);
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_LIMIT);
		assert_string_equal(r.p[0].detail,
		    "expansion ratio above 2: possible archive bomb");
		/* What was read is still scanned. */
		assert_int_equal(r.nm, 1);
		assert_int_equal(r.m[0].partial, 1);
		assert_int_equal(r.m[0].size, 10485760);
		/* Overshot by at most one of libarchive's blocks (zip
		 * inflates into 256 KiB). */
		assert_true(r.m[0].len > 2 * CBP_MIB &&
		    r.m[0].len <= 2 * CBP_MIB + 256 * CBP_KIB);
		rec_free(&r);

		lim = default_limits();
		lim.total_max = 3 * CBP_MIB;
		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_ELIMIT);
		assert_int_equal(r.np, 1);
		assert_string_equal(r.p[0].detail, "more than 3145728 bytes "
		    "expanded from one archive: the rest is not scanned");
		rec_free(&r);
	}
}

static void
test_max_members(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode, i;

	NEED("zip");
	for (i = 0; i < 10; i++) {
		char name[32];

		snprintf(name, sizeof name, "f%d.txt", i);
		write_file(f, name, name, strlen(name));
	}
	sh(f, "zip -q ten.zip f0.txt f1.txt f2.txt f3.txt f4.txt f5.txt f6.txt "
	    "f7.txt f8.txt f9.txt");
	lim.max_members = 3;
	pth(f, "ten.zip", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_ELIMIT);
		assert_int_equal(r.nm, 3);
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_LIMIT);
		assert_int_equal(r.p[0].has_member, 0);
		assert_string_equal(r.p[0].detail,
		    "more than 3 members in one archive: the rest is not scanned");
		rec_free(&r);
	}

	/* Shared by nesting levels, and reported once: where it ran out. */
	sh(f, "tar -cf outer.tar ten.zip f0.txt f1.txt");
	lim.max_members = 5;
	pth(f, "outer.tar", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		r.recurse = 1;
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_ELIMIT);
		assert_int_equal(r.last_inner_ret, CBP_ELIMIT);
		/* ten.zip + 4 of its members; f0/f1 of outer.tar not reached */
		assert_int_equal(r.nm, 5);
		assert_int_equal(r.np, 1);
		assert_string_equal(r.p[0].chain, "ten.zip");
		rec_free(&r);
	}
}

static void
test_depth_limit(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;

	NEED("zip");
	write_file(f, "x.txt", "deep\n", 5);
	sh(f, "zip -q a.zip x.txt && zip -q b.zip a.zip && zip -q c.zip b.zip");
	lim.max_depth = 2;
	pth(f, "c.zip", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		r.recurse = 1;
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.last_inner_ret, CBP_OK);
		assert_int_equal(r.nm, 2);
		assert_non_null(find_member(&r, "b.zip"));
		assert_non_null(find_member(&r, "b.zip|a.zip"));
		assert_int_equal(r.np, 1);
		assert_int_equal(r.p[0].reason, CBP_REASON_LIMIT);
		assert_string_equal(r.p[0].chain, "b.zip|a.zip");
		assert_string_equal(r.p[0].detail, "archive nesting deeper than 2");
		rec_free(&r);
	}
	/* One more level allowed: everything is reached. */
	lim.max_depth = 3;
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		r.recurse = 1;
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 0);
		check_member(&r, "b.zip|a.zip|x.txt", "deep\n", 5);
		assert_int_equal(find_member(&r, "b.zip|a.zip|x.txt")->depth, 3);
		rec_free(&r);
	}
}

static void
test_callback_stop(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];

	NEED("zip");
	make_tree(f);
	sh(f, "cd src && zip -q -r ../t.zip a.txt dir");
	pth(f, "t.zip", p, sizeof p);
	{
		struct rec r;

		memset(&r, 0, sizeof r);
		r.stop_after = 1;
		assert_int_equal(expand_file(p, 0, &lim, &r), CBP_OK);
		assert_int_equal(r.nm, 1);
		assert_int_equal(r.np, 0);
		rec_free(&r);
	}
}

/* ---- links and hostile names ---------------------------------------- */

static void
test_tar_links_not_followed(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	int mode;

	NEED("tar");
	write_file(f, "a.txt", "hello\n", 6);
	sh(f, "ln -s /etc/passwd evil && ln -s a.txt link && ln a.txt hard && "
	    "tar -cf l.tar a.txt evil link hard");
	pth(f, "l.tar", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 0);
		/* Symlinks and the data-less hard link are not members. */
		assert_int_equal(r.nm, 1);
		check_member(&r, "a.txt", "hello\n", 6);
		rec_free(&r);
	}
}

static void
add_entry(struct archive *w, const char *name, const char *data)
{
	struct archive_entry *e = archive_entry_new();
	size_t len = strlen(data);

	assert_non_null(e);
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(w, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void
test_hostile_names(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	struct archive *w;
	char p[256];
	int mode;

	pth(f, "names.tar", p, sizeof p);
	w = archive_write_new();
	assert_non_null(w);
	assert_int_equal(archive_write_set_format_ustar(w), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(w, p), ARCHIVE_OK);
	add_entry(w, "../../evil.txt", "up\n");
	add_entry(w, "/etc/abs.txt", "abs\n");
	add_entry(w, "./lead.txt", "lead\n");
	add_entry(w, "bad\xff\xfe.txt", "raw\n");
	assert_int_equal(archive_write_close(w), ARCHIVE_OK);
	archive_write_free(w);

	for (mode = 0; mode < 2; mode++) {
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 0);
		assert_int_equal(r.nm, 4);
		/* Names are display strings, kept as they are ... */
		check_member(&r, "../../evil.txt", "up\n", 3);
		check_member(&r, "/etc/abs.txt", "abs\n", 4);
		check_member(&r, "lead.txt", "lead\n", 5);	/* "./" dropped */
		check_member(&r, "bad\xff\xfe.txt", "raw\n", 4);	/* raw bytes */
		rec_free(&r);
	}
	/* ... and never used as paths: nothing was written anywhere. */
	assert_int_equal(access("/tmp/evil.txt", F_OK), -1);
	pth(f, "../evil.txt", p, sizeof p);
	assert_int_equal(access(p, F_OK), -1);
}

/* ---- libarchive warnings and the record cap ----------------------------- */

static uint32_t
crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

static unsigned char *
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *
put32(unsigned char *p, uint32_t v)
{
	p = put16(p, v & 0xFFFF);
	return put16(p, v >> 16);
}

/* One stored zip member as written: its header may lie. */
struct zmember {
	const char *name;
	const unsigned char *data;
	size_t len;
	uint32_t crc;		/* as declared */
	uint32_t usize;		/* uncompressed size as declared */
};

/*
 * A zip of stored members, field by field (APPNOTE 4.3.7, 4.3.12, 4.3.16),
 * so that a header can declare a CRC or a size the data does not have.
 * Returns a malloc'd buffer of *len bytes.
 */
static unsigned char *
raw_zip(const struct zmember *zm, size_t n, size_t *len)
{
	size_t total = 22, i, off = 0;
	unsigned char *buf, *p, *cd;

	for (i = 0; i < n; i++)
		total += 30 + 46 + 2 * strlen(zm[i].name) + zm[i].len;
	buf = malloc(total);
	assert_non_null(buf);
	p = buf;
	for (i = 0; i < n; i++) {
		size_t nl = strlen(zm[i].name);

		p = put32(p, 0x04034B50);
		p = put16(p, 20);
		p = put16(p, 0);		/* flags */
		p = put16(p, 0);		/* stored */
		p = put32(p, 0x4EBF0000);	/* DOS time and date */
		p = put32(p, zm[i].crc);
		p = put32(p, (uint32_t)zm[i].len);
		p = put32(p, zm[i].usize);
		p = put16(p, (unsigned)nl);
		p = put16(p, 0);
		memcpy(p, zm[i].name, nl);
		p += nl;
		memcpy(p, zm[i].data, zm[i].len);
		p += zm[i].len;
	}
	cd = p;
	for (i = 0; i < n; i++) {
		size_t nl = strlen(zm[i].name);

		p = put32(p, 0x02014B50);
		p = put16(p, 20);
		p = put16(p, 20);
		p = put16(p, 0);
		p = put16(p, 0);
		p = put32(p, 0x4EBF0000);
		p = put32(p, zm[i].crc);
		p = put32(p, (uint32_t)zm[i].len);
		p = put32(p, zm[i].usize);
		p = put16(p, (unsigned)nl);
		memset(p, 0, 12);		/* extra, comment, disk, attributes */
		p += 12;
		p = put32(p, (uint32_t)off);
		memcpy(p, zm[i].name, nl);
		p += nl;
		off += 30 + nl + zm[i].len;
	}
	off = (size_t)(p - cd);			/* the central directory's size */
	p = put32(p, 0x06054B50);
	p = put32(p, 0);			/* disk numbers */
	p = put16(p, (unsigned)n);
	p = put16(p, (unsigned)n);
	p = put32(p, (uint32_t)off);
	p = put32(p, (uint32_t)(cd - buf));
	p = put16(p, 0);
	assert_int_equal((size_t)(p - buf), total);
	*len = total;
	return buf;
}

static void
test_zip_warnings_are_member_problems(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	unsigned char a[3000], b[700];
	struct zmember zm[3];
	unsigned char *zip;
	size_t zlen;
	char p[256];
	int mode;

	pattern(a, sizeof a, 1);
	pattern(b, sizeof b, 2);
	zm[0] = (struct zmember){ "bad-crc.bin", a, sizeof a, 1, sizeof a };
	/* libarchive's size_exceeds_declared: 10 bytes declared, 700 held. */
	zm[1] = (struct zmember){ "longer.bin", b, sizeof b, crc32_of(b, sizeof b), 10 };
	zm[2] = (struct zmember){ "good.bin", b, sizeof b, crc32_of(b, sizeof b), sizeof b };
	zip = raw_zip(zm, 3, &zlen);
	write_file(f, "w.zip", zip, zlen);
	free(zip);
	pth(f, "w.zip", p, sizeof p);
	for (mode = 0; mode < 2; mode++) {
		const struct rec_member *m;
		struct rec r;

		memset(&r, 0, sizeof r);
		assert_int_equal(expand_file(p, mode, &lim, &r), CBP_OK);
		assert_int_equal(r.np, 2);
		assert_string_equal(r.p[0].chain, "bad-crc.bin");
		assert_int_equal(r.p[0].reason, CBP_REASON_CORRUPT);
		assert_non_null(strstr(r.p[0].detail, "CRC"));
		assert_string_equal(r.p[1].chain, "longer.bin");
		assert_int_equal(r.p[1].reason, CBP_REASON_CORRUPT);
		assert_null(strchr(r.p[1].detail, '\n'));
		/* The bytes are scanned all the same: every one of them. */
		assert_int_equal(r.nm, 3);
		m = find_member(&r, "bad-crc.bin");
		assert_non_null(m);
		assert_int_equal(m->len, sizeof a);
		assert_memory_equal(m->data, a, sizeof a);
		m = find_member(&r, "longer.bin");
		assert_non_null(m);
		assert_int_equal(m->len, sizeof b);
		assert_int_equal(m->size, sizeof b);
		assert_int_equal(m->partial, 0);
		assert_memory_equal(m->data, b, sizeof b);
		rec_free(&r);
	}
}

struct counts {
	uint64_t problems, members;
	char last[256];
	enum cbp_reason last_reason;
	int last_has_member;
};

static int
count_member(void *arg, struct cbp_object *m)
{
	((struct counts *)arg)->members++;
	return 0;
}

static void
count_problem(void *arg, const struct cbp_object *where, const char *member_name,
    enum cbp_reason reason, const char *detail)
{
	struct counts *c = arg;

	c->problems++;
	c->last_reason = reason;
	c->last_has_member = member_name != NULL;
	snprintf(c->last, sizeof c->last, "%s", detail);
}

static void
test_problem_cap(void **state)
{
	static const struct cbp_expand_ops ops = { count_member, count_problem, NULL };
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	struct cbp_expand_budget b = { 0 };
	size_t n = CBP_ARCHIVE_PROBLEMS + 123, i, zlen;
	struct zmember *zm = calloc(n, sizeof *zm);
	char (*names)[16] = calloc(n, sizeof *names), want[160];
	struct cbp_object o;
	struct cbp_ident oid;
	struct counts c = { 0 };
	unsigned char *zip;
	int mode;

	assert_non_null(zm);
	assert_non_null(names);
	/* Not counted: a plain file has no archive budget. */
	assert_int_equal(cbp_expand_budget_problem(NULL), 1);
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "m%05zu", i);
		zm[i] = (struct zmember){ names[i], (const unsigned char *)"x", 1, 0, 1 };
	}
	zip = raw_zip(zm, n, &zlen);
	snprintf(want, sizeof want, "123 more unscannable records about this "
	    "archive were not written (at most %d per archive)",
	    CBP_ARCHIVE_PROBLEMS);
	for (mode = 0; mode < 2; mode++) {
		memset(&o, 0, sizeof o);
		memset(&b, 0, sizeof b);
		memset(&c, 0, sizeof c);
		o.fd = -1;
		o.path = "many.zip";
		o.name = "many.zip";
		o.mem = zip;
		o.mem_len = zlen;
		o.size = zlen;
		o.head = zip;
		o.head_len = zlen < CBP_HEAD_BYTES ? zlen : CBP_HEAD_BYTES;
		if (mode == 1) {
			/* Records the scan makes about members share the cap:
			 * the archive's own then find it nearly spent. */
			for (i = 0; i < CBP_ARCHIVE_PROBLEMS - 10; i++)
				assert_int_equal(cbp_expand_budget_problem(&b), 1);
		}
		assert_int_equal(cbp_expand_object(&o, identify(&o, &oid), &lim, &b, &ops, &c), CBP_OK);
		assert_int_equal(c.members, n);
		assert_int_equal(c.problems, mode == 0 ? CBP_ARCHIVE_PROBLEMS + 1 : 11);
		assert_int_equal(c.last_reason, CBP_REASON_LIMIT);
		assert_int_equal(c.last_has_member, 0);
		if (mode == 0)
			assert_string_equal(c.last, want);
		assert_int_equal(b.active, 0);
		assert_int_equal(b.problems_dropped, 0);
		/* Past the cap, the budget says no. */
		assert_int_equal(cbp_expand_budget_problem(&b), 0);
	}
	(void)f;
	free(zip);
	free(zm);
	free(names);
}

/*
 * LHA level-2, stored, one member named in CP932 ("\x8a\xbf\x8e\x9a.txt",
 * kanji "kanji" + .txt) with the code page extended header (0x46 = 932),
 * as libarchive's lha reader parses it (header CRC-16 in extended header 0).
 */
static unsigned
crc16_arc(const unsigned char *p, size_t n, unsigned crc)
{
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0xA001 : crc >> 1;
	}
	return crc & 0xFFFF;
}

static size_t
lha_cp932(unsigned char *out, const unsigned char *data, size_t len)
{
	static const unsigned char name[] = "\x8a\xbf\x8e\x9a.txt";
	unsigned char *p = out, *crc_at;
	size_t hl;

	p += 2;					/* header size, below */
	memcpy(p, "-lh0-", 5);
	p += 5;
	p = put32(p, (uint32_t)len);
	p = put32(p, (uint32_t)len);
	p = put32(p, 1500000000);
	*p++ = 0x20;
	*p++ = 2;				/* level */
	p = put16(p, crc16_arc(data, len, 0));
	*p++ = 'U';
	p = put16(p, 6);			/* header CRC */
	*p++ = 0x00;
	crc_at = p;
	p = put16(p, 0);
	*p++ = 0;
	p = put16(p, 3 + 4);			/* code page */
	*p++ = 0x46;
	p = put32(p, 932);
	p = put16(p, (unsigned)(3 + sizeof name - 1));
	*p++ = 0x01;				/* file name */
	memcpy(p, name, sizeof name - 1);
	p += sizeof name - 1;
	p = put16(p, 0);			/* end of extended headers */
	hl = (size_t)(p - out);
	put16(out, (unsigned)hl);
	put16(crc_at, crc16_arc(out, hl, 0));
	memcpy(p, data, len);
	p += len;
	*p++ = 0;				/* end of archive */
	return (size_t)(p - out);
}

static int
member_sees_caller_locale(void *arg, struct cbp_object *m)
{
	/* The scan's own work runs in the caller's locale, not ours. */
	assert_true(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
	return on_member(arg, m);
}

static void
test_names_in_utf8_whatever_the_locale(void **state)
{
	static const struct cbp_expand_ops ops = { member_sees_caller_locale,
	    on_problem, NULL };
	struct cbp_expand_limits lim = default_limits();
	struct cbp_expand_budget b = { 0 };
	unsigned char lzh[256];
	struct cbp_object o;
	struct cbp_ident oid;
	struct rec r;
	size_t n;

	/* This process never set a locale: it runs in C, as cron's scan. */
	assert_true(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
	n = lha_cp932(lzh, (const unsigned char *)"hello\n", 6);
	memset(&o, 0, sizeof o);
	memset(&r, 0, sizeof r);
	o.fd = -1;
	o.path = "names.lzh";
	o.name = "names.lzh";
	o.mem = lzh;
	o.mem_len = n;
	o.size = n;
	o.head = lzh;
	o.head_len = n;
	assert_int_equal(cbp_expand_object(&o, identify(&o, &oid), &lim, &b, &ops, &r), CBP_OK);
	assert_int_equal(r.np, 0);
	assert_int_equal(r.nm, 1);
	assert_string_equal(r.m[0].chain, "\xe6\xbc\xa2\xe5\xad\x97.txt");
	check_member(&r, "\xe6\xbc\xa2\xe5\xad\x97.txt", "hello\n", 6);
	/* ... and is left in it. */
	assert_true(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
	rec_free(&r);
}

static void
test_bad_arguments(void **state)
{
	struct cbp_expand_limits lim = default_limits();
	struct cbp_expand_budget b = { 0 };
	struct cbp_object o;
	struct rec r;

	memset(&o, 0, sizeof o);
	memset(&r, 0, sizeof r);
	o.fd = -1;	/* neither fd nor memory */
	assert_int_equal(cbp_expand_object(&o, NULL, &lim, &b, &plain_ops, &r), CBP_EINVAL);
	assert_int_equal(cbp_expand_object(NULL, NULL, &lim, &b, &plain_ops, &r), CBP_EINVAL);
	assert_int_equal(r.np, 0);
}

/*
 * libarchive exits the process ("No memory") when a name does not convert
 * and errno says ENOMEM, and an invalid name does not always set errno: a
 * stale ENOMEM from before must not end the scan (fuzz_expand found it).
 */
static void
test_invalid_name_with_stale_enomem(void **state)
{
	static const struct cbp_expand_ops ops = { on_member, on_problem, NULL };
	static const unsigned char ar[] =
	    "!<arch>\n"
	    "a\xea" "txt/" "          " "0           " "0     " "0     " "644     " "6         " "`\n"
	    "hello\n";
	struct cbp_expand_limits lim = default_limits();
	struct cbp_expand_budget b = { 0 };
	struct cbp_object o;
	struct cbp_ident oid;
	struct rec r;

	(void)state;
	memset(&o, 0, sizeof o);
	memset(&r, 0, sizeof r);
	o.fd = -1;
	o.path = o.name = "names.a";
	o.mem = o.head = ar;
	o.mem_len = o.size = o.head_len = sizeof(ar) - 1;
	errno = ENOMEM;
	assert_int_equal(cbp_expand_object(&o, identify(&o, &oid), &lim, &b, &ops, &r), CBP_OK);
	assert_int_equal(r.nm, 1);
	rec_free(&r);
}

/* ---- ops.want: passing members by (split archives, resume) ----------- */

/* Ten members f0.txt .. f9.txt of i + 1 hundred bytes each, in archive
 * `name` made by `cmd` (run in the fixture's directory). */
static void
make_ten(struct fix *f, const char *cmd)
{
	char name[32], data[1000];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "f%d.txt", i);
		memset(data, 'a' + i, sizeof data);
		write_file(f, name, data, (size_t)(i + 1) * 100);
	}
	sh(f, "%s", cmd);
}

/* Phases 0 .. stride-1 of path: each member once, in the phase whose
 * index it is modulo stride; every phase asked about every entry. */
static void
check_phases(const char *path, unsigned stride)
{
	struct cbp_expand_limits lim = default_limits();
	unsigned phase, seen[10] = { 0 };
	int mode;
	size_t i;

	for (mode = 0; mode < 2; mode++) {
		memset(seen, 0, sizeof seen);
		for (phase = 0; phase < stride; phase++) {
			struct rec r;

			memset(&r, 0, sizeof r);
			r.stride = stride;
			r.phase = phase;
			r.shares = stride;
			r.members_only = phase > 0;
			assert_int_equal(expand_file(path, mode, &lim, &r), CBP_OK);
			assert_int_equal(r.np, 0);
			assert_int_equal(r.nasked, 10);
			for (i = 0; i < r.nasked; i++) {
				char want[32];

				snprintf(want, sizeof want, "f%zu.txt", i);
				assert_int_equal(r.asked[i], i);
				assert_string_equal(r.asked_name[i], want);
			}
			for (i = 0; i < r.nm; i++) {
				unsigned k = (unsigned)(r.m[i].chain[1] - '0');

				assert_int_equal(k % stride, phase);
				assert_int_equal(r.m[i].len, (k + 1) * 100);
				assert_int_equal(r.m[i].data[0], 'a' + k);
				seen[k]++;
			}
			rec_free(&r);
		}
		for (i = 0; i < 10; i++)
			assert_int_equal(seen[i], 1);
	}
}

static void
test_want_phases(void **state)
{
	struct fix *f = *state;
	char p[256];

	NEED("zip");
	make_ten(f, "zip -q ten.zip f0.txt f1.txt f2.txt f3.txt f4.txt f5.txt "
	    "f6.txt f7.txt f8.txt f9.txt && tar -cf ten.tar f?.txt && "
	    "tar -czf ten.tgz f?.txt");
	pth(f, "ten.zip", p, sizeof p);
	check_phases(p, 1);
	check_phases(p, 2);
	check_phases(p, 3);
	pth(f, "ten.tar", p, sizeof p);
	check_phases(p, 2);
	/* Works for a compressed tar too, where passing by decompresses. */
	pth(f, "ten.tgz", p, sizeof p);
	check_phases(p, 4);
}

/* A resumed job passes by the entries before `from`: not delivered, not
 * read (the bytes budget sees only the rest), nothing reported. */
static void
test_want_resume(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	struct cbp_expand_budget budget = { 0 };
	struct cbp_object o;
	struct cbp_ident id;
	struct rec r;
	struct stat st;
	char p[256];
	unsigned char head[CBP_HEAD_BYTES];
	int fd;
	size_t i;

	NEED("zip");
	make_ten(f, "zip -q -0 ten.zip f0.txt f1.txt f2.txt f3.txt f4.txt "
	    "f5.txt f6.txt f7.txt f8.txt f9.txt");
	pth(f, "ten.zip", p, sizeof p);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	memset(&o, 0, sizeof o);
	o.fd = fd;
	o.path = p;
	o.name = "ten.zip";
	o.size = (uint64_t)st.st_size;
	o.mtime = CBP_MTIME_UNKNOWN;
	o.head = head;
	o.head_len = (size_t)pread(fd, head, sizeof head, 0);
	memset(&r, 0, sizeof r);
	r.stride = 1;
	r.from = 7;
	assert_int_equal(cbp_expand_object(&o, identify(&o, &id), &lim, &budget,
	    &want_ops, &r), CBP_OK);
	close(fd);
	assert_int_equal(r.nm, 3);
	for (i = 0; i < 3; i++) {
		char want[32];

		snprintf(want, sizeof want, "f%zu.txt", i + 7);
		assert_string_equal(r.m[i].chain, want);
	}
	assert_int_equal(r.np, 0);
	assert_int_equal(budget.members, 10);		/* every entry counted */
	assert_int_equal(budget.bytes, 800 + 900 + 1000);	/* only those read */
	rec_free(&r);
}

/*
 * Every phase counts every entry against max_members, so all stop at the
 * same entry; the archive-level record about it is the owner's only
 * (members_only), and each phase gets its share of the bytes budget.
 */
static void
test_want_limits_in_phases(void **state)
{
	struct fix *f = *state;
	struct cbp_expand_limits lim = default_limits();
	char p[256];
	struct rec r;
	size_t i;

	NEED("zip");
	make_ten(f, "zip -q -0 ten.zip f0.txt f1.txt f2.txt f3.txt f4.txt "
	    "f5.txt f6.txt f7.txt f8.txt f9.txt");
	pth(f, "ten.zip", p, sizeof p);
	lim.max_members = 5;
	memset(&r, 0, sizeof r);
	r.stride = 2;
	r.shares = 2;
	assert_int_equal(expand_file(p, 1, &lim, &r), CBP_ELIMIT);
	assert_int_equal(r.nm, 3);			/* f0 f2 f4 */
	assert_int_equal(r.np, 1);
	assert_int_equal(r.p[0].has_member, 0);
	rec_free(&r);
	r.phase = 1;
	r.members_only = 1;
	assert_int_equal(expand_file(p, 1, &lim, &r), CBP_ELIMIT);
	assert_int_equal(r.nm, 2);			/* f1 f3 */
	assert_int_equal(r.np, 0);			/* phase 0 said it */
	rec_free(&r);

	/*
	 * Bytes: phase 1 of 2 reads f1 f3 f5 f7 f9, 3000 bytes.  Half of a
	 * total_max of 6400 holds them; half of 4400 stops at f9 (the
	 * phase's bytes reach 2000 before it, 3000 with it: past 2200),
	 * reported on that member.
	 */
	lim = default_limits();
	lim.total_max = 6400;
	memset(&r, 0, sizeof r);
	r.stride = 2;
	r.phase = 1;
	r.shares = 2;
	r.members_only = 1;
	assert_int_equal(expand_file(p, 1, &lim, &r), CBP_OK);
	assert_int_equal(r.nm, 5);
	assert_int_equal(r.np, 0);
	rec_free(&r);
	lim.total_max = 4400;
	assert_int_equal(expand_file(p, 1, &lim, &r), CBP_ELIMIT);
	assert_int_equal(r.np, 1);
	assert_int_equal(r.p[0].reason, CBP_REASON_LIMIT);
	assert_string_equal(r.p[0].chain, "f9.txt");
	assert_non_null(strstr(r.p[0].detail, "2 parts, 2200 bytes each"));
	for (i = 0; i < r.nm; i++)
		assert_int_equal((r.m[i].chain[1] - '0') % 2, 1);
	rec_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tar_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_7z, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iso9660, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes_after_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compressed_text_is_not_mtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_zip_in_tar_gz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encrypted_zip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encrypted_7z, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_tar_gz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_an_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratio_and_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tar_links_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zip_warnings_are_member_problems, setup, teardown),
		cmocka_unit_test_setup_teardown(test_problem_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_want_phases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_want_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_want_limits_in_phases, setup, teardown),
		cmocka_unit_test(test_names_in_utf8_whatever_the_locale),
		cmocka_unit_test(test_invalid_name_with_stale_enomem),
		cmocka_unit_test(test_bad_arguments),
	};

	struct cbp_error e = { 0 };
	int failed;

	if (getenv("CBPSCAN_MAGIC") != NULL)
		g_id = cbp_identify_new(getenv("CBPSCAN_MAGIC"), NULL, &e);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	cbp_identify_free(g_id);
	return failed;
}
