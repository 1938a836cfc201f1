/*
 * test_known.c — cbp_known.h: list parsing, directories, exact and PDQ
 * lookups (against brute force), per-list thresholds, the digest.
 *
 * Every malformed-line case checks the exact kind, line and column.  PDQ
 * lookups are compared with cbp_known_query_bruteforce entry by entry on
 * 200 000 random entries with planted neighbours at known distances, for
 * several substring layouts, so an index that misses or invents a match
 * fails.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "cbp_err.h"
#include "cbp_known.h"

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void
rnd32(uint8_t h[32])
{
	uint64_t w;
	int i;

	for (i = 0; i < 4; i++) {
		w = rnd();
		memcpy(h + 8 * i, &w, 8);
	}
}

static void
hex(char *o, const uint8_t *b)
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		o[2 * i] = hx[b[i] >> 4];
		o[2 * i + 1] = hx[b[i] & 15];
	}
	o[64] = '\0';
}

/* Flip exactly d distinct bits of h. */
static void
flip(uint8_t h[32], int d)
{
	uint8_t done[32] = { 0 };
	int n = 0, bit;

	while (n < d) {
		bit = (int)(rnd() % 256);
		if (done[bit / 8] & (1 << (bit % 8)))
			continue;
		done[bit / 8] |= (uint8_t)(1 << (bit % 8));
		h[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		n++;
	}
}

/* A growable text buffer for building lists. */
struct text {
	char *p;
	size_t len, cap;
};

static void
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL,
		    t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (t->p && (size_t)n < t->cap - t->len)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	t->len += (size_t)n;
}

static void
put_entry(struct text *t, const uint8_t *sha, const uint8_t *pdq,
    const char *cat, const char *id)
{
	char a[65], b[65];

	if (sha)
		hex(a, sha);
	if (pdq)
		hex(b, pdq);
	put(t, "%s\t%s\t%s\t%s\n", sha ? a : "-", pdq ? b : "-", cat, id);
}

static struct cbp_known_builder *
builder(void)
{
	struct cbp_known_builder *b = cbp_known_builder_new();

	assert_non_null(b);
	return b;
}

static struct cbp_known *
build(struct cbp_known_builder *b)
{
	struct cbp_error err;
	struct cbp_known *k = NULL;

	memset(&err, 0, sizeof(err));
	if (cbp_known_build(b, &k, &err) != CBP_OK)
		fail_msg("build: %s", err.message);
	assert_non_null(k);
	return k;
}

static void
add_text(struct cbp_known_builder *b, const char *name, const char *text,
    int threshold)
{
	struct cbp_known_list_opts o;
	struct cbp_error err;

	memset(&o, 0, sizeof(o));
	memset(&err, 0, sizeof(err));
	o.name = name;
	o.threshold = threshold;
	if (cbp_known_add_buffer(b, name, text, strlen(text), &o, &err) !=
	    CBP_OK)
		fail_msg("add %s: %s", name, err.message);
}

static size_t
query_sha(const struct cbp_known *k, const uint8_t sha[32],
    struct cbp_known_match *m, size_t cap)
{
	struct cbp_known_query q;
	size_t total;

	memset(&q, 0, sizeof(q));
	q.sha256 = sha;
	(void)cbp_known_query(k, &q, m, cap, &total);
	return total;
}

static char tmpdir[] = "/tmp/test_known.XXXXXX";

static int
setup_dir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_known.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* ---- parsing ------------------------------------------------------------------- */

static void
test_known_parse_good(void **state)
{
	const char *sha = "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff";
	const char *SHA = "00112233445566778899AABBCCDDEEFF"
	    "00112233445566778899AABBCCDDEEFF";
	const char *pdq = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"
	    "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";
	struct cbp_known_builder *b = builder();
	struct cbp_known_match m[4];
	struct cbp_known *k;
	struct text t = { 0 };
	uint8_t h[32];

	(void)state;
	put(&t, "# a comment\n\n   \n\t# indented comment\n");
	put(&t, "%s\t%s\tplate\tIMG-1\r\n", sha, pdq);	/* CRLF */
	put(&t, "%s\t-\ttraveler\tT-2 \n", SHA);		/* upper, trailing blank */
	put(&t, "-\t%s\tplate\tP#3\n", pdq);
	put(&t, "%s\t%s\ttraveler\tlast-no-lf", SHA, pdq);	/* no final LF */
	add_text(b, "good", t.p, -1);
	assert_int_equal(cbp_known_problems_total(b), 0);
	k = build(b);
	assert_int_equal(cbp_known_entries(k), 4);
	assert_int_equal(cbp_known_lists(k), 1);
	assert_string_equal(cbp_known_list_name(k, 0), "good");
	assert_int_equal(cbp_known_list_threshold(k, 0), 31);
	assert_int_equal(cbp_known_list_entries(k, 0), 4);

	assert_int_equal(cbp_known_parse_hex32(sha, 64, h), CBP_OK);
	assert_int_equal(query_sha(k, h, m, 4), 3);
	assert_string_equal(m[0].id, "IMG-1");
	assert_int_equal(m[0].category, CBP_KNOWN_PLATE);
	assert_string_equal(m[0].list, "good");
	assert_true(m[0].exact);
	assert_int_equal(m[0].distance, 0);
	assert_int_equal(m[0].variant, -1);
	assert_string_equal(m[1].id, "T-2");
	assert_int_equal(m[1].category, CBP_KNOWN_TRAVELER);
	assert_string_equal(m[2].id, "last-no-lf");
	assert_string_equal(cbp_known_category_name(m[2].category), "traveler");
	cbp_known_free(k);
	cbp_known_builder_free(b);
	free(t.p);
}

struct bad_case {
	const char *line;	/* %S = 64 hex digits, %P = another 64 */
	enum cbp_known_problem_kind kind;
	unsigned column;
};

/* Expand %S / %P in a template line. */
static void
expand(struct text *t, const char *tmpl)
{
	const char *s;

	for (s = tmpl; *s; s++) {
		if (s[0] == '%' && s[1] == 'S') {
			put(t, "%s", "0123456789abcdef0123456789abcdef"
			    "0123456789abcdef0123456789abcdef");
			s++;
		} else if (s[0] == '%' && s[1] == 'P') {
			put(t, "%s", "ffffffffffffffff0000000000000000"
			    "ffffffffffffffff0000000000000000");
			s++;
		} else
			put(t, "%c", *s);
	}
}

static void
test_known_parse_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "just-one-field", CBP_KNOWN_P_FIELDS, 15 },
		{ "%S\t%P\tplate", CBP_KNOWN_P_FIELDS, 136 },
		{ "%S\t%P\tplate\tid\textra", CBP_KNOWN_P_FIELDS, 139 },
		{ "abc\t%P\tplate\tid", CBP_KNOWN_P_SHA256, 1 },
		{ "0123456789g123456789abcdef0123456789abcdef0123456789"
		  "abcdef012345\t%P\tplate\tid", CBP_KNOWN_P_SHA256, 11 },
		{ "%S\t0123\tplate\tid", CBP_KNOWN_P_PDQ, 66 },
		{ "%S\tffffffffffffffff0000000000000000ffffffffffffffff"
		  "00000000000000z0\tplate\tid", CBP_KNOWN_P_PDQ, 128 },
		{ "-\t-\tplate\tid", CBP_KNOWN_P_NO_HASH, 1 },
		{ "%S\t%P\tPlate\tid", CBP_KNOWN_P_CATEGORY, 131 },
		{ "%S\t%P\t\tid", CBP_KNOWN_P_CATEGORY, 131 },
		{ "%S\t%P\tplate\tA B", CBP_KNOWN_P_ID, 138 },
		{ "%S\t%P\tplate\tA\x01", CBP_KNOWN_P_ID, 138 },
		/* Trailing blanks go first: three fields remain. */
		{ "%S\t%P\tplate\t", CBP_KNOWN_P_FIELDS, 136 },
		/* A leading tab is an empty first field: five fields. */
		{ "\t%S\t%P\tplate\tid", CBP_KNOWN_P_FIELDS, 137 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cbp_known_builder *b = builder();
		const struct cbp_known_problem *p;
		struct text t = { 0 };

		put(&t, "%%S\t%%P\tplate\tgood-first\n");
		t.len = 0;
		expand(&t, "%S\t%P\tplate\tgood-first\n");
		expand(&t, cases[i].line);
		put(&t, "\n");
		expand(&t, "%S\t%P\ttraveler\tgood-last\n");
		add_text(b, "bad.tsv", t.p, -1);
		if (cbp_known_problems_total(b) != 1)
			fail_msg("case %zu: %llu problems", i,
			    (unsigned long long)cbp_known_problems_total(b));
		p = cbp_known_problem(b, 0);
		assert_non_null(p);
		if (p->kind != cases[i].kind || p->line != 2 ||
		    p->column != cases[i].column)
			fail_msg("case %zu: kind %d line %llu column %u (%s), "
			    "want kind %d line 2 column %u", i, p->kind,
			    (unsigned long long)p->line, p->column, p->message,
			    cases[i].kind, cases[i].column);
		assert_string_equal(p->file, "bad.tsv");
		assert_true(p->message[0] != '\0');
		cbp_known_builder_free(b);
		free(t.p);
	}
}

static void
test_known_parse_long_nul_id(void **state)
{
	struct cbp_known_builder *b = builder();
	const struct cbp_known_problem *p;
	struct text t = { 0 };
	char id[300];
	struct cbp_error err;
	size_t i;

	(void)state;
	/* An over-long line in a buffer. */
	expand(&t, "%S\t%P\tplate\t");
	for (i = 0; i < 2000; i++)
		put(&t, "x");
	put(&t, "\n");
	/* A NUL byte at column 5. */
	put(&t, "abcd");
	t.p[t.len++] = '\0';
	put(&t, "ef\n");
	/* An id of 256 bytes. */
	memset(id, 'i', 256);
	id[256] = '\0';
	expand(&t, "%S\t%P\tplate\t");
	put(&t, "%s\n", id);
	/* An id of 255 bytes is fine. */
	id[255] = '\0';
	expand(&t, "%S\t%P\tplate\t");
	put(&t, "%s\n", id);
	/* A line of exactly CBP_KNOWN_LINE_MAX bytes is fine, with a CR too:
	 * a comment padded to the limit. */
	put(&t, "#");
	for (i = 1; i < CBP_KNOWN_LINE_MAX; i++)
		put(&t, "c");
	put(&t, "\r\n");
	memset(&err, 0, sizeof(err));
	assert_int_equal(cbp_known_add_buffer(b, "x", t.p, t.len, NULL, &err),
	    CBP_OK);
	assert_int_equal(cbp_known_problems_total(b), 3);
	p = cbp_known_problem(b, 0);
	assert_int_equal(p->kind, CBP_KNOWN_P_LONG_LINE);
	assert_int_equal(p->line, 1);
	assert_int_equal(p->column, CBP_KNOWN_LINE_MAX + 1);
	p = cbp_known_problem(b, 1);
	assert_int_equal(p->kind, CBP_KNOWN_P_NUL);
	assert_int_equal(p->line, 2);
	assert_int_equal(p->column, 5);
	p = cbp_known_problem(b, 2);
	assert_int_equal(p->kind, CBP_KNOWN_P_ID);
	assert_int_equal(p->line, 3);
	assert_int_equal(p->column, 137);
	cbp_known_builder_free(b);
	free(t.p);
}

static void
test_known_problems_capped(void **state)
{
	struct cbp_known_builder *b = builder();
	struct text t = { 0 };
	struct cbp_known *k;
	size_t i;

	(void)state;
	for (i = 0; i < 250; i++) {
		put(&t, "bad line %zu\n", i);
		expand(&t, "%S\t%P\tplate\tok\n");
	}
	add_text(b, "many", t.p, -1);
	assert_int_equal(cbp_known_problems_total(b), 250);
	assert_int_equal(cbp_known_problems_kept(b), CBP_KNOWN_PROBLEMS_KEPT);
	/* Kept in order: the last kept is bad line 99, on line 199. */
	assert_int_equal(cbp_known_problem(b, CBP_KNOWN_PROBLEMS_KEPT - 1)->line,
	    2 * CBP_KNOWN_PROBLEMS_KEPT - 1);
	assert_null(cbp_known_problem(b, CBP_KNOWN_PROBLEMS_KEPT));
	k = build(b);
	assert_int_equal(cbp_known_entries(k), 250);
	cbp_known_free(k);
	cbp_known_builder_free(b);
	free(t.p);
}

/* Big buffers are parsed by several threads: same entries, same problems
 * (line numbers included) whatever the thread count. */
static void
test_known_threads_same_result(void **state)
{
	struct cbp_known_builder *b1 = builder(), *b2 = builder();
	struct cbp_known *k1, *k2;
	struct text t = { 0 };
	uint8_t sha[32], pdq[32], probe[32] = { 0 };
	char id[32];
	size_t i;

	(void)state;
	rng_state = 12345;
	for (i = 0; i < 30000; i++) {
		rnd32(sha);
		rnd32(pdq);
		if (i == 20000)
			memcpy(probe, sha, 32);
		if (i % 997 == 0)
			put(&t, "broken\tline\n");
		snprintf(id, sizeof(id), "E%zu", i);
		put_entry(&t, sha, pdq, i % 2 ? "plate" : "traveler", id);
	}
	assert_true(t.len > ((size_t)2 << 20));
	cbp_known_builder_set_threads(b1, 1);
	cbp_known_builder_set_threads(b2, 4);
	add_text(b1, "t", t.p, -1);
	add_text(b2, "t", t.p, -1);
	assert_int_equal(cbp_known_problems_total(b1), 31);
	assert_int_equal(cbp_known_problems_total(b2), 31);
	for (i = 0; i < 31; i++)
		assert_int_equal(cbp_known_problem(b1, i)->line,
		    cbp_known_problem(b2, i)->line);
	assert_int_equal(cbp_known_problem(b1, 30)->line, 30 * 998 + 1);
	k1 = build(b1);
	k2 = build(b2);
	assert_int_equal(cbp_known_entries(k1), 30000);
	assert_int_equal(cbp_known_entries(k2), 30000);
	assert_string_equal(cbp_known_digest(k1), cbp_known_digest(k2));
	{
		struct cbp_known_match m1[2], m2[2];

		assert_int_equal(query_sha(k1, probe, m1, 2), 1);
		assert_int_equal(query_sha(k2, probe, m2, 2), 1);
		assert_string_equal(m1[0].id, "E20000");
		assert_int_equal(m1[0].entry, m2[0].entry);
		assert_int_equal(m1[0].entry, 20000);
	}
	cbp_known_free(k1);
	cbp_known_free(k2);
	cbp_known_builder_free(b1);
	cbp_known_builder_free(b2);
	free(t.p);
}

static void
test_known_empty(void **state)
{
	struct cbp_known_builder *b = builder();
	struct cbp_known_match m[2];
	struct cbp_known_query q;
	struct cbp_known *k;
	uint8_t h[32] = { 0 };
	size_t total = 9;

	(void)state;
	add_text(b, "empty", "", -1);
	add_text(b, "comments", "# nothing\n\n", -1);
	k = build(b);
	assert_int_equal(cbp_known_entries(k), 0);
	assert_int_equal(cbp_known_lists(k), 2);
	memset(&q, 0, sizeof(q));
	q.sha256 = h;
	q.pdq = (const uint8_t (*)[32])h;
	q.npdq = 1;
	q.quality = 100;
	assert_int_equal(cbp_known_query(k, &q, m, 2, &total), 0);
	assert_int_equal(total, 0);
	assert_int_equal(strlen(cbp_known_digest(k)), 64);
	cbp_known_free(k);
	cbp_known_builder_free(b);

	/* No list at all: the digest of nothing. */
	b = builder();
	k = build(b);
	assert_string_equal(cbp_known_digest(k), "e3b0c44298fc1c149afbf4c8996fb9"
	    "2427ae41e4649b934ca495991b7852b855");
	cbp_known_free(k);
	cbp_known_builder_free(b);
}

static void
test_known_bad_options(void **state)
{
	struct cbp_known_builder *b = builder();
	struct cbp_known_list_opts o;
	struct cbp_error err;
	struct cbp_known *k = NULL;

	(void)state;
	memset(&o, 0, sizeof(o));
	memset(&err, 0, sizeof(err));
	o.threshold = CBP_KNOWN_PDQ_MAX_THRESHOLD + 1;
	assert_int_equal(cbp_known_add_buffer(b, "x", "", 0, &o, &err),
	    CBP_EINVAL);
	assert_non_null(strstr(err.message, "threshold"));
	cbp_error_clear(&err);
	o.threshold = -2;
	assert_int_equal(cbp_known_add_buffer(b, "x", "", 0, &o, &err),
	    CBP_EINVAL);
	cbp_error_clear(&err);
	o.threshold = CBP_KNOWN_PDQ_MAX_THRESHOLD;
	o.name = "bad\nname";
	assert_int_equal(cbp_known_add_buffer(b, "x", "", 0, &o, &err),
	    CBP_EINVAL);
	cbp_error_clear(&err);
	o.name = "";
	assert_int_equal(cbp_known_add_buffer(b, "x", "", 0, &o, &err),
	    CBP_EINVAL);
	/* Bad options are refused without harm: the builder still works. */
	o.name = "fine";
	cbp_error_clear(&err);
	assert_int_equal(cbp_known_add_buffer(b, "x", "", 0, &o, &err), CBP_OK);
	assert_int_equal(cbp_known_builder_set_chunks(b, 10), CBP_EINVAL);
	assert_int_equal(cbp_known_builder_set_chunks(b, 33), CBP_EINVAL);
	assert_int_equal(cbp_known_build(b, &k, &err), CBP_OK);
	assert_int_equal(cbp_known_list_threshold(k, 0),
	    CBP_KNOWN_PDQ_MAX_THRESHOLD);
	cbp_known_free(k);
	cbp_known_builder_free(b);
}

/* ---- files and directories --------------------------------------------------------- */

static int
refuse_b(void *arg, int fd, const char *path, struct cbp_error *err)
{
	(void)fd;
	(*(int *)arg)++;
	if (strstr(path, "refused") != NULL)
		return cbp_error_set(err, CBP_EPERM, 0, "%s: refused", path);
	return CBP_OK;
}

static void
test_known_directory(void **state)
{
	char p[512], q[512];
	struct cbp_known_builder *b = builder();
	const struct cbp_known_problem *pr;
	struct cbp_known_list_opts o;
	struct cbp_known_match m[4];
	struct cbp_error err;
	struct cbp_known *k;
	struct text t = { 0 };
	uint8_t sha[32];
	int checked = 0;

	(void)state;
	expand(&t, "%S\t%P\tplate\tfrom-b\n");
	snprintf(p, sizeof(p), "%s/b.tsv", tmpdir);
	write_file(p, t.p, t.len);
	t.len = 0;
	expand(&t, "%S\t-\ttraveler\tfrom-a\r\nbad\n");
	snprintf(p, sizeof(p), "%s/a.list.txt", tmpdir);
	write_file(p, t.p, t.len);
	snprintf(p, sizeof(p), "%s/.hidden", tmpdir);
	write_file(p, "junk\n", 5);
	snprintf(p, sizeof(p), "%s/sub", tmpdir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/c.tsv", tmpdir);
	write_file(p, t.p, t.len);
	snprintf(p, sizeof(p), "%s/b.tsv", tmpdir);
	snprintf(q, sizeof(q), "%s/link.tsv", tmpdir);
	assert_int_equal(symlink(p, q), 0);

	memset(&o, 0, sizeof(o));
	memset(&err, 0, sizeof(err));
	o.threshold = -1;
	o.check_fd = refuse_b;
	o.check_arg = &checked;
	if (cbp_known_add_path(b, tmpdir, &o, &err) != CBP_OK)
		fail_msg("%s", err.message);
	/* The directory and its two regular files were checked. */
	assert_int_equal(checked, 3);
	/* a.list.txt line 2; then link.tsv and sub, skipped. */
	assert_int_equal(cbp_known_problems_total(b), 3);
	pr = cbp_known_problem(b, 0);
	assert_int_equal(pr->line, 2);
	assert_non_null(strstr(pr->file, "/a.list.txt"));
	pr = cbp_known_problem(b, 1);
	assert_int_equal(pr->kind, CBP_KNOWN_P_SKIPPED);
	assert_non_null(strstr(pr->file, "/link.tsv"));
	assert_non_null(strstr(pr->message, "symbolic link"));
	pr = cbp_known_problem(b, 2);
	assert_int_equal(pr->kind, CBP_KNOWN_P_SKIPPED);
	assert_non_null(strstr(pr->file, "/sub"));

	/* A symbolic link named directly is followed: the caller named it. */
	if (cbp_known_add_path(b, q, NULL, &err) != CBP_OK)
		fail_msg("%s", err.message);
	k = build(b);
	assert_int_equal(cbp_known_lists(k), 3);
	assert_string_equal(cbp_known_list_name(k, 0), "a.list");
	assert_string_equal(cbp_known_list_name(k, 1), "b");
	assert_string_equal(cbp_known_list_name(k, 2), "link");
	assert_int_equal(cbp_known_entries(k), 3);
	/* The same SHA-256 in three lists: three exact matches, list order. */
	assert_int_equal(cbp_known_parse_hex32("0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef", 64, sha), CBP_OK);
	assert_int_equal(query_sha(k, sha, m, 4), 3);
	assert_string_equal(m[0].list, "a.list");
	assert_string_equal(m[0].id, "from-a");
	assert_string_equal(m[1].list, "b");
	assert_string_equal(m[2].list, "link");
	cbp_known_free(k);
	cbp_known_builder_free(b);

	/* A refused file fails the load with the checker's code. */
	b = builder();
	snprintf(p, sizeof(p), "%s/refused.tsv", tmpdir);
	write_file(p, t.p, t.len);
	cbp_error_clear(&err);
	assert_int_equal(cbp_known_add_path(b, tmpdir, &o, &err), CBP_EPERM);
	assert_non_null(strstr(err.message, "refused"));
	/* After a failed add, the builder refuses more and cannot build. */
	cbp_error_clear(&err);
	assert_int_equal(cbp_known_add_buffer(b, "x", "", 0, NULL, &err),
	    CBP_EINVAL);
	k = NULL;
	assert_int_equal(cbp_known_build(b, &k, &err), CBP_EINVAL);
	assert_null(k);
	cbp_known_builder_free(b);

	/* A name given for a directory names every list in it; missing paths
	 * are CBP_EIO. */
	b = builder();
	unlink(p);
	o.name = "agency";
	o.check_fd = NULL;
	cbp_error_clear(&err);
	assert_int_equal(cbp_known_add_path(b, tmpdir, &o, &err), CBP_OK);
	k = build(b);
	assert_string_equal(cbp_known_list_name(k, 0), "agency");
	assert_string_equal(cbp_known_list_name(k, 1), "agency");
	cbp_known_free(k);
	cbp_known_builder_free(b);
	b = builder();
	snprintf(p, sizeof(p), "%s/missing.tsv", tmpdir);
	assert_int_equal(cbp_known_add_path(b, p, NULL, &err), CBP_EIO);
	cbp_known_builder_free(b);
	free(t.p);
}

/* Lines longer than the read block, and lines cut by block ends. */
static void
test_known_file_long_lines(void **state)
{
	char p[512];
	struct cbp_known_builder *b = builder();
	const struct cbp_known_problem *pr;
	struct cbp_error err;
	struct cbp_known *k;
	struct text t = { 0 };
	size_t big = ((size_t)40 << 20), i;
	char *line;

	(void)state;
	expand(&t, "%S\t%P\tplate\tfirst\n");
	line = malloc(big + 2);
	assert_non_null(line);
	memset(line, 'x', big);
	line[big] = '\n';
	line[big + 1] = '\0';
	put(&t, "%s", line);
	put(&t, "%s", line + big - 5000);	/* 5000 bytes: long, inside a block */
	free(line);
	{
		/* ~40 MB of good lines: crosses block ends. */
		size_t at = t.len, l;

		expand(&t, "%S\t%P\ttraveler\tafter\n");
		l = t.len - at;
		line = malloc(l + 1);
		assert_non_null(line);
		memcpy(line, t.p + at, l);
		line[l] = '\0';
		for (i = 1; i < 300000; i++)
			put(&t, "%s", line);
		free(line);
	}
	snprintf(p, sizeof(p), "%s/long.tsv", tmpdir);
	write_file(p, t.p, t.len);
	memset(&err, 0, sizeof(err));
	if (cbp_known_add_path(b, p, NULL, &err) != CBP_OK)
		fail_msg("%s", err.message);
	assert_int_equal(cbp_known_problems_total(b), 2);
	pr = cbp_known_problem(b, 0);
	assert_int_equal(pr->kind, CBP_KNOWN_P_LONG_LINE);
	assert_int_equal(pr->line, 2);
	assert_int_equal(pr->column, CBP_KNOWN_LINE_MAX + 1);
	pr = cbp_known_problem(b, 1);
	assert_int_equal(pr->kind, CBP_KNOWN_P_LONG_LINE);
	assert_int_equal(pr->line, 3);
	k = build(b);
	assert_int_equal(cbp_known_entries(k), 300001);
	cbp_known_free(k);
	cbp_known_builder_free(b);

	/* The same bytes from memory give the same digest. */
	b = builder();
	add_text(b, "long", t.p, -1);
	k = build(b);
	{
		struct cbp_known_builder *b2 = builder();
		struct cbp_known_list_opts o;
		struct cbp_known *k2;

		memset(&o, 0, sizeof(o));
		o.threshold = -1;
		o.name = "long";
		assert_int_equal(cbp_known_add_path(b2, p, &o, &err), CBP_OK);
		k2 = build(b2);
		assert_string_equal(cbp_known_digest(k), cbp_known_digest(k2));
		cbp_known_free(k2);
		cbp_known_builder_free(b2);
	}
	cbp_known_free(k);
	cbp_known_builder_free(b);
	free(t.p);
}

/* ---- digest -------------------------------------------------------------------------- */

static void
expected_digest(char out[65], const char *const *names, const int *thr,
    const char *const *texts, size_t n)
{
	unsigned char d[32], c[32], t;
	unsigned len;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t i;

	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	for (i = 0; i < n; i++) {
		assert_int_equal(EVP_Digest(texts[i], strlen(texts[i]), c, &len,
		    EVP_sha256(), NULL), 1);
		t = (unsigned char)thr[i];
		EVP_DigestUpdate(md, names[i], strlen(names[i]) + 1);
		EVP_DigestUpdate(md, &t, 1);
		EVP_DigestUpdate(md, c, 32);
	}
	EVP_DigestFinal_ex(md, d, &len);
	EVP_MD_CTX_free(md);
	hex(out, d);
}

static void
digest_of(char out[65], const char *const *names, const int *thr,
    const char *const *texts, size_t n)
{
	struct cbp_known_builder *b = builder();
	struct cbp_known *k;
	size_t i;

	for (i = 0; i < n; i++)
		add_text(b, names[i], texts[i], thr[i]);
	k = build(b);
	memcpy(out, cbp_known_digest(k), 65);
	cbp_known_free(k);
	cbp_known_builder_free(b);
}

static void
test_known_digest(void **state)
{
	const char *names[2] = { "one", "two" }, *texts[2];
	int thr[2] = { 31, 20 };
	char d0[65], d1[65], want[65];
	struct text a = { 0 }, c = { 0 };

	(void)state;
	expand(&a, "%S\t%P\tplate\tA\n");
	expand(&c, "%S\t%P\tplate\tB\n");
	texts[0] = a.p;
	texts[1] = c.p;
	digest_of(d0, names, thr, texts, 2);
	expected_digest(want, names, thr, texts, 2);
	assert_string_equal(d0, want);
	digest_of(d1, names, thr, texts, 2);
	assert_string_equal(d0, d1);		/* deterministic */
	/* One byte of content. */
	c.p[c.len - 2] = 'C';
	digest_of(d1, names, thr, texts, 2);
	assert_string_not_equal(d0, d1);
	c.p[c.len - 2] = 'B';
	/* A name. */
	names[1] = "TWO";
	digest_of(d1, names, thr, texts, 2);
	assert_string_not_equal(d0, d1);
	names[1] = "two";
	/* A threshold. */
	thr[1] = 21;
	digest_of(d1, names, thr, texts, 2);
	assert_string_not_equal(d0, d1);
	thr[1] = 20;
	/* The order of the lists. */
	{
		const char *rn[2] = { "two", "one" }, *rt[2] = { c.p, a.p };
		int rthr[2] = { 20, 31 };

		digest_of(d1, rn, rthr, rt, 2);
		assert_string_not_equal(d0, d1);
	}
	digest_of(d1, names, thr, texts, 2);
	assert_string_equal(d0, d1);
	free(a.p);
	free(c.p);
}

/* ---- PDQ against brute force ------------------------------------------------------------ */

static int
same_matches(const struct cbp_known_match *a, size_t na,
    const struct cbp_known_match *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (a[i].entry != b[i].entry || a[i].distance != b[i].distance ||
		    a[i].exact != b[i].exact || a[i].variant != b[i].variant ||
		    strcmp(a[i].id, b[i].id) != 0 || a[i].list != b[i].list)
			return 0;
	return 1;
}

/* Query both ways; fail unless identical.  Returns the matches. */
static size_t
check_query(const struct cbp_known *k, const struct cbp_known_query *q,
    struct cbp_known_match *out, size_t cap)
{
	struct cbp_known_match bf[64];
	size_t ni, nb, ti, tb;

	assert_true(cap <= 64);
	ni = cbp_known_query(k, q, out, cap, &ti);
	nb = cbp_known_query_bruteforce(k, q, bf, cap, &tb);
	if (ti != tb || !same_matches(out, ni, bf, nb))
		fail_msg("index: %zu of %zu matches, brute force: %zu of %zu",
		    ni, ti, nb, tb);
	return ti;
}

#define NRAND 200000

/* The match of random entry i (id "R<i>") among m; fails if absent. */
static const struct cbp_known_match *
base_match(const struct cbp_known_match *m, size_t n, size_t i)
{
	char id[32];
	size_t j;

	snprintf(id, sizeof(id), "R%zu", i);
	for (j = 0; j < n && j < 64; j++)
		if (strcmp(m[j].id, id) == 0)
			return &m[j];
	fail_msg("entry %s not matched", id);
	return NULL;
}

static const int planted[] = { 0, 1, 15, 31, 32, 40 };
#define NPLANT (sizeof(planted) / sizeof(planted[0]))

static void
pdq_vs_bruteforce(unsigned chunks)
{
	struct cbp_known_builder *b = builder();
	struct cbp_known_match m[64];
	struct cbp_known_query q;
	struct cbp_known *k;
	struct text t = { 0 };
	uint8_t (*bases)[32], h[32], sha[32], qv[8][32];
	size_t i, j, n, v;
	char id[32];

	rng_state = 0x1234567 + chunks;
	bases = calloc(20, sizeof(*bases));
	assert_non_null(bases);
	for (i = 0; i < NRAND; i++) {
		rnd32(h);
		rnd32(sha);
		if (i < 20)
			memcpy(bases[i], h, 32);
		snprintf(id, sizeof(id), "R%zu", i);
		put_entry(&t, i % 5 ? sha : NULL, h, "plate", id);
	}
	/* Planted neighbours of base i: one at each distance. */
	for (i = 0; i < 20; i++)
		for (j = 0; j < NPLANT; j++) {
			memcpy(h, bases[i], 32);
			flip(h, planted[j]);
			snprintf(id, sizeof(id), "N%zu-%d", i, planted[j]);
			put_entry(&t, NULL, h, "traveler", id);
		}
	assert_int_equal(cbp_known_builder_set_chunks(b, chunks), CBP_OK);
	add_text(b, "rand", t.p, 31);
	k = build(b);
	memset(&q, 0, sizeof(q));
	q.quality = 100;
	q.npdq = 1;

	/* Each base finds itself and its neighbours at 0, 1, 15 and 31 bits,
	 * not those at 32 and 40. */
	for (i = 0; i < 20; i++) {
		int want[] = { 0, 0, 1, 15, 31 };

		q.pdq = (const uint8_t (*)[32])bases[i];
		n = check_query(k, &q, m, 64);
		if (n != 5)
			fail_msg("base %zu (m=%u): %zu matches", i, chunks, n);
		for (j = 0; j < 5; j++)
			assert_int_equal(m[j].distance, want[j]);
		assert_false(m[0].exact);
	}
	/* Queries near a base, and unrelated ones. */
	for (i = 0; i < 200; i++) {
		memcpy(qv[0], bases[i % 20], 32);
		if (i % 4 == 3)
			rnd32(qv[0]);
		else
			flip(qv[0], (int)(rnd() % 48));
		q.pdq = (const uint8_t (*)[32])qv;
		(void)check_query(k, &q, m, 64);
		(void)check_query(k, &q, m, 3);		/* capped: the best 3 */
	}
	/* Eight variants, the near one in sixth place. */
	for (i = 0; i < 20; i++) {
		for (v = 0; v < 8; v++)
			rnd32(qv[v]);
		memcpy(qv[5], bases[i], 32);
		flip(qv[5], 20);
		q.pdq = (const uint8_t (*)[32])qv;
		q.npdq = 8;
		n = check_query(k, &q, m, 64);
		assert_true(n >= 3);	/* base (20), N-0 (20), N-1 (19..21) */
		assert_int_equal(base_match(m, n, i)->variant, 5);
		/* The base also in variant 1, farther: still one match each,
		 * with the best distance and its variant. */
		memcpy(qv[1], bases[i], 32);
		flip(qv[1], 25);
		n = check_query(k, &q, m, 64);
		assert_int_equal(base_match(m, n, i)->variant, 5);
		assert_int_equal(base_match(m, n, i)->distance, 20);
		q.npdq = 1;
	}
	/* Low quality: no PDQ matching at all. */
	q.pdq = (const uint8_t (*)[32])bases[0];
	q.quality = CBP_KNOWN_PDQ_MIN_QUALITY - 1;
	assert_int_equal(check_query(k, &q, m, 64), 0);
	cbp_known_free(k);
	cbp_known_builder_free(b);
	free(bases);
	free(t.p);
}

/*
 * Neighbours at exactly the threshold whose differences sit where only one
 * substring can find them: every substring differs by one bit more than
 * its probe radius (known.c, set_radii: the generalised pigeonhole), but
 * substring j, which differs by its radius exactly.  Each must be found,
 * for every j, layout and threshold; a radius one too small anywhere, or
 * a substring skipped that should not be, loses one.  A neighbour one bit
 * farther (every substring one over its radius) is beyond the threshold.
 */
static void
test_known_pdq_pigeonhole_edges(void **state)
{
	static const unsigned layouts[] = { 11, 12, 13, 16, 20, 32 };
	static const int thresholds[] = { 31, 48, 20, 5, 0 };
	struct cbp_known_match m[64];
	struct cbp_known_query q;
	unsigned li, ti, mm, c, j, start[32], bits[32], r, surplus, at, want;
	int t[32], d, thr, x;
	uint8_t base[32], h[32];
	char id[32];

	(void)state;
	rng_state = 0x5eed;
	for (li = 0; li < sizeof(layouts) / sizeof(layouts[0]); li++)
		for (ti = 0; ti < sizeof(thresholds) / sizeof(thresholds[0]); ti++) {
			struct cbp_known_builder *b = builder();
			struct text tx = { 0 };
			struct cbp_known *k;

			mm = layouts[li];
			thr = thresholds[ti];
			for (c = 0, at = 0; c < mm; c++) {
				start[c] = at;
				bits[c] = 256 / mm + (c < 256 % mm);
				at += bits[c];
			}
			r = (unsigned)thr / mm;
			surplus = mm - 1 - (unsigned)thr % mm;
			for (c = 0; c < mm; c++)
				t[c] = (int)r - (c < surplus);
			rnd32(base);
			put_entry(&tx, NULL, base, "plate", "base");
			want = 1;
			for (j = 0; j <= mm; j++) {	/* j == mm: the far one */
				if (j < mm && t[j] < 0)
					continue;	/* not probed: cannot be the one */
				memcpy(h, base, 32);
				for (c = 0; c < mm; c++) {
					d = t[c] + (c != j);
					for (x = 0; x < d; x++) {
						unsigned p = start[c] + (unsigned)x;

						h[p / 8] ^= (uint8_t)(0x80 >> (p % 8));
					}
				}
				snprintf(id, sizeof(id), j < mm ? "edge%u" : "far", j);
				put_entry(&tx, NULL, h, "plate", id);
				want += j < mm;
			}
			assert_int_equal(cbp_known_builder_set_chunks(b, mm), CBP_OK);
			add_text(b, "edges", tx.p, thr);
			k = build(b);
			memset(&q, 0, sizeof(q));
			q.quality = 100;
			q.npdq = 1;
			q.pdq = (const uint8_t (*)[32])base;
			if (check_query(k, &q, m, 64) != want)
				fail_msg("m=%u threshold %d: %zu matches, want %u", mm,
				    thr, check_query(k, &q, m, 64), want);
			for (j = 1; j < want; j++)
				assert_int_equal(m[j].distance, thr);
			cbp_known_free(k);
			cbp_known_builder_free(b);
			free(tx.p);
		}
}

/* The layout the index picks itself (16-bit substrings, radius 1). */
static void
test_known_pdq_auto(void **state)
{
	(void)state;
	pdq_vs_bruteforce(0);
}

static void
test_known_pdq_layouts(void **state)
{
	(void)state;
	pdq_vs_bruteforce(13);	/* 19/20-bit substrings, radius 2 */
	pdq_vs_bruteforce(20);	/* 12/13 bits, radius 1 */
	pdq_vs_bruteforce(32);	/* 8 bits, radius 0 */
}

/* A list's own threshold; exact and near matches of one entry merge. */
static void
test_known_pdq_per_list_threshold(void **state)
{
	struct cbp_known_builder *b = builder();
	struct cbp_known_match m[8];
	struct cbp_known_query q;
	struct cbp_known *k;
	struct text t10 = { 0 }, t40 = { 0 };
	uint8_t base[32], sha[32], qh[32], other[32];
	int d;

	(void)state;
	rng_state = 777;
	rnd32(base);
	rnd32(sha);
	rnd32(other);
	put_entry(&t10, sha, base, "plate", "tight");
	put_entry(&t40, NULL, base, "traveler", "loose");
	put_entry(&t40, other, NULL, "plate", "sha-only");
	add_text(b, "ten", t10.p, 10);
	add_text(b, "forty", t40.p, 40);
	k = build(b);
	memset(&q, 0, sizeof(q));
	q.quality = 80;
	q.npdq = 1;
	q.pdq = (const uint8_t (*)[32])&qh;
	for (d = 0; d <= 44; d++) {
		size_t n;

		memcpy(qh, base, 32);
		flip(qh, d);
		n = check_query(k, &q, m, 8);
		if (n != (size_t)(d <= 10) + (d <= 40))
			fail_msg("distance %d: %zu matches", d, n);
		if (d <= 40)
			assert_string_equal(m[n - 1].id, d <= 10 && n == 2 &&
			    m[1].entry == 0 ? "tight" : "loose");
	}
	/* SHA-256 and PDQ of the same entry: one exact match, first. */
	memcpy(qh, base, 32);
	flip(qh, 5);
	q.sha256 = sha;
	assert_int_equal(check_query(k, &q, m, 8), 2);
	assert_true(m[0].exact);
	assert_string_equal(m[0].id, "tight");
	assert_false(m[1].exact);
	assert_string_equal(m[1].list, "forty");
	assert_int_equal(m[1].distance, 5);
	/* Entries without a PDQ never match by PDQ. */
	q.sha256 = NULL;
	memcpy(qh, other, 32);
	assert_int_equal(check_query(k, &q, m, 8), 0);
	cbp_known_free(k);
	cbp_known_builder_free(b);
	free(t10.p);
	free(t40.p);
}

static void
test_known_helpers(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	assert_int_equal(cbp_known_parse_hex32("00", 2, a), CBP_EINVAL);
	memset(b, 0xab, 32);
	assert_int_equal(cbp_known_parse_hex32("ABABABABABABABABABABABABABABABAB"
	    "abababababababababababababababab", 64, a), CBP_OK);
	assert_memory_equal(a, b, 32);
	assert_int_equal(cbp_known_parse_hex32("ABABABABABABABABABABABABABABABAB"
	    "ababababababababababababababab-b", 64, a), CBP_EINVAL);
	assert_int_equal(cbp_known_pdq_distance(a, b), 0);
	memset(b, 0, 32);
	assert_int_equal(cbp_known_pdq_distance(a, b), 5 * 32);
	assert_string_equal(cbp_known_category_name(CBP_KNOWN_PLATE), "plate");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_parse_good),
		cmocka_unit_test(test_known_parse_errors),
		cmocka_unit_test(test_known_parse_long_nul_id),
		cmocka_unit_test(test_known_problems_capped),
		cmocka_unit_test(test_known_threads_same_result),
		cmocka_unit_test(test_known_empty),
		cmocka_unit_test(test_known_bad_options),
		cmocka_unit_test_setup_teardown(test_known_directory, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_known_file_long_lines,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_known_digest),
		cmocka_unit_test(test_known_pdq_auto),
		cmocka_unit_test(test_known_pdq_layouts),
		cmocka_unit_test(test_known_pdq_pigeonhole_edges),
		cmocka_unit_test(test_known_pdq_per_list_threshold),
		cmocka_unit_test(test_known_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
