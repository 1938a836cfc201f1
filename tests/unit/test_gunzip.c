/*
 * test_gunzip.c — the ISA-L gzip decoder (cbp_gunzip.h).
 *
 * Streams are made at test time with zlib's gzip writer (an independent
 * implementation) and fed back through sources that cut them at every
 * size from one byte up, so member boundaries, headers with every optional
 * field and the bytes ISA-L keeps in its bit buffer all fall across reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "cbp_gunzip.h"

/* A source over memory handing out at most step bytes per call. */
struct src {
	const unsigned char *p;
	size_t len, off, step;
	int fail_at_end;	/* -1 instead of 0 at the end */
	unsigned char copy[4096];	/* bytes are handed from here when step fits */
};

static ssize_t
src_read(void *arg, const unsigned char **p)
{
	struct src *s = arg;
	size_t n = s->len - s->off;

	if (n == 0)
		return s->fail_at_end ? -1 : 0;
	if (n > s->step)
		n = s->step;
	/*
	 * Small steps are copied to a buffer that the next call overwrites, as
	 * a pread() source does: the decoder must not look back into bytes of
	 * an earlier read.
	 */
	if (n <= sizeof s->copy) {
		memset(s->copy, 0xA5, sizeof s->copy);
		memcpy(s->copy, s->p + s->off, n);
		*p = s->copy;
	} else {
		*p = s->p + s->off;
	}
	s->off += n;
	return (ssize_t)n;
}

/* One gzip member of data[0..len) with zlib; with_header adds every optional field. */
static unsigned char *
gzip_member(const unsigned char *data, size_t len, int with_header, size_t *out_len)
{
	static unsigned char extra[] = "XY" "\x04\x00" "abcd";
	static char name[] = "plate_0001.jpg";
	static char comment[] = "captured by lane 3";
	gz_header h;
	z_stream z;
	size_t cap = len + len / 100 + 1024;
	unsigned char *out = malloc(cap);

	assert_non_null(out);
	memset(&z, 0, sizeof z);
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	if (with_header) {
		memset(&h, 0, sizeof h);
		h.time = 1500000000;
		h.extra = extra;
		h.extra_len = sizeof extra - 1;
		h.name = (Bytef *)name;
		h.comment = (Bytef *)comment;
		h.hcrc = 1;
		assert_int_equal(deflateSetHeader(&z, &h), Z_OK);
	}
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = z.total_out;
	deflateEnd(&z);
	return out;
}

/* Mixed content: text runs (long matches) and noise (literals, stored blocks). */
static unsigned char *
sample(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (i / 4096) % 2 ? (unsigned char)(seed >> 16) :
		    (unsigned char)("PLATE=ABC1234 lane 3 "[i % 21]);
	}
	return p;
}

/*
 * Decode everything with source steps of `step` and output caps of `cap`;
 * returns the bytes made (owned) and the last return of cbp_gunzip_read.
 */
static unsigned char *
decode(const unsigned char *gz_bytes, size_t gz_len, size_t step, size_t cap,
    size_t *made, ssize_t *last, struct cbp_gunzip **keep)
{
	struct src s = { gz_bytes, gz_len, 0, step, 0, { 0 } };
	struct cbp_gunzip *gz = cbp_gunzip_new(src_read, &s);
	unsigned char *out = NULL, *buf = malloc(cap);
	size_t n = 0;
	ssize_t r;

	assert_non_null(gz);
	assert_non_null(buf);
	while ((r = cbp_gunzip_read(gz, buf, cap)) > 0) {
		out = realloc(out, n + (size_t)r);
		assert_non_null(out);
		memcpy(out + n, buf, (size_t)r);
		n += (size_t)r;
	}
	/* The end is sticky. */
	assert_int_equal(cbp_gunzip_read(gz, buf, cap), r < 0 ? -1 : 0);
	free(buf);
	*made = n;
	*last = r;
	if (keep != NULL)
		*keep = gz;
	else
		cbp_gunzip_free(gz);
	return out;
}

static void
test_round_trip_every_step(void **state)
{
	static const size_t steps[] = { 1, 2, 3, 7, 8, 9, 64, 4093, 65536, 1 << 24 };
	static const size_t caps[] = { 1, 13, 65536 };
	size_t len = 300 * 1024, zl, made, i, j;
	unsigned char *data = sample(len, 7), *z;
	ssize_t last;

	(void)state;
	for (j = 0; j < 2; j++) {
		z = gzip_member(data, len, (int)j, &zl);
		for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
			size_t c = caps[i % 3];
			unsigned char *out;

			/* One-byte outputs over 300 KiB are slow: fewer bytes then. */
			if (c == 1 && steps[i] > 1)
				c = 13;
			out = decode(z, zl, steps[i], c, &made, &last, NULL);
			assert_int_equal(last, 0);
			assert_int_equal(made, len);
			assert_memory_equal(out, data, len);
			free(out);
		}
		free(z);
	}
	free(data);
}

static void
test_concatenated_members(void **state)
{
	size_t l1 = 70000, l2 = 10, l3 = 123457, z1, z2, z3, zl, made, step;
	unsigned char *a = sample(l1, 1), *b = sample(l2, 2), *c = sample(l3, 3);
	unsigned char *g1 = gzip_member(a, l1, 1, &z1), *g2 = gzip_member(b, l2, 0, &z2),
	    *g3 = gzip_member(c, l3, 1, &z3);
	unsigned char *all = malloc(z1 + z2 + z3), *want = malloc(l1 + l2 + l3), *out;
	struct cbp_gunzip *gz;
	ssize_t last;

	(void)state;
	memcpy(all, g1, z1);
	memcpy(all + z1, g2, z2);
	memcpy(all + z1 + z2, g3, z3);
	zl = z1 + z2 + z3;
	memcpy(want, a, l1);
	memcpy(want + l1, b, l2);
	memcpy(want + l1 + l2, c, l3);
	/* Every small step puts the boundaries at another place in a read. */
	for (step = 1; step <= 24; step++) {
		out = decode(all, zl, step, 4096, &made, &last, &gz);
		assert_int_equal(last, 0);
		assert_int_equal(made, l1 + l2 + l3);
		assert_memory_equal(out, want, made);
		assert_int_equal(cbp_gunzip_members(gz), 3);
		cbp_gunzip_free(gz);
		free(out);
	}
	out = decode(all, zl, zl, 65536, &made, &last, NULL);
	assert_int_equal(made, l1 + l2 + l3);
	free(out);
	free(a), free(b), free(c), free(g1), free(g2), free(g3), free(all), free(want);
}

/* Zero padding and non-gzip bytes after the last member end the stream. */
static void
test_trailing_bytes(void **state)
{
	static const char *tails[] = { "\0\0\0\0\0\0\0\0\0\0\0\0", "garbage after",
	    "\x1f", "\x1f\x8b", "\x1f\x8b\x07xxxxxxx" };
	size_t len = 5000, zl, made, i, step;
	unsigned char *data = sample(len, 9), *z = gzip_member(data, len, 0, &zl);

	(void)state;
	for (i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		size_t tl = i == 0 ? 12 : strlen(tails[i]);
		unsigned char *all = malloc(zl + tl), *out;
		ssize_t last;

		memcpy(all, z, zl);
		memcpy(all + zl, tails[i], tl);
		for (step = 1; step <= 9; step += 4) {
			out = decode(all, zl + tl, step, 777, &made, &last, NULL);
			assert_int_equal(last, 0);
			assert_int_equal(made, len);
			assert_memory_equal(out, data, len);
			free(out);
		}
		free(all);
	}
	free(data);
	free(z);
}

static void
test_truncated(void **state)
{
	size_t len = 200000, zl, made, cut;
	unsigned char *data = sample(len, 4), *z = gzip_member(data, len, 1, &zl), *out;
	struct cbp_gunzip *gz;
	ssize_t last;

	(void)state;
	for (cut = 1; cut < zl - 8; cut += zl / 7) {	/* before the trailer */
		out = decode(z, cut, 4096, 65536, &made, &last, &gz);
		assert_int_equal(last, -1);
		assert_false(cbp_gunzip_source_failed(gz));
		assert_true(made < len);
		/* What came out before the cut is the real data. */
		if (made > 0)
			assert_memory_equal(out, data, made);
		cbp_gunzip_free(gz);
		free(out);
	}
	/* Without its trailer: every byte out, then the error. */
	out = decode(z, zl - 8, 4096, 65536, &made, &last, &gz);
	assert_int_equal(last, -1);
	assert_non_null(strstr(cbp_gunzip_error(gz), "truncated"));
	cbp_gunzip_free(gz);
	free(out);
	free(data);
	free(z);
}

static void
test_corrupt(void **state)
{
	size_t len = 100000, zl, made, i;
	unsigned char *data = sample(len, 5), *z = gzip_member(data, len, 0, &zl), *out;
	struct cbp_gunzip *gz;
	ssize_t last;

	(void)state;
	/* A CRC that does not match: the data comes out, then the error. */
	z[zl - 6] ^= 0x40;
	out = decode(z, zl, 1 << 20, 65536, &made, &last, &gz);
	assert_int_equal(last, -1);
	assert_int_equal(made, len);
	assert_non_null(strstr(cbp_gunzip_error(gz), "CRC"));
	cbp_gunzip_free(gz);
	free(out);
	z[zl - 6] ^= 0x40;

	/*
	 * Damage anywhere in the deflate data: never a crash (ASan runs this
	 * too), and never a clean end with other bytes: the CRC-32 and length
	 * in the trailer are checked.
	 */
	for (i = 10; i < zl - 8; i += 97) {
		z[i] ^= 0xFF;
		out = decode(z, zl, 1000, 4096, &made, &last, NULL);
		assert_true(last == -1 ||
		    (made == len && memcmp(out, data, len) == 0));
		free(out);
		z[i] ^= 0xFF;
	}

	/* Headers: a damaged name under a header CRC; reserved flag bits. */
	{
		size_t hl;
		unsigned char *h = gzip_member(data, 1000, 1, &hl);
		unsigned char *name = memmem(h, hl, "plate_0001", 10);

		assert_non_null(name);
		name[0] = 'X';
		out = decode(h, hl, 3, 4096, &made, &last, &gz);
		assert_int_equal(last, -1);
		assert_int_equal(made, 0);
		assert_non_null(strstr(cbp_gunzip_error(gz), "header CRC"));
		cbp_gunzip_free(gz);
		free(out);
		name[0] = 'p';
		h[3] |= 0x80;
		out = decode(h, hl, 1 << 20, 4096, &made, &last, &gz);
		assert_int_equal(last, -1);
		assert_non_null(strstr(cbp_gunzip_error(gz), "reserved"));
		cbp_gunzip_free(gz);
		free(out);
		free(h);
	}

	/* Not gzip at all. */
	memcpy(z, "\x1f\x8b\x09", 3);
	out = decode(z, zl, 1 << 20, 65536, &made, &last, &gz);
	assert_int_equal(last, -1);
	assert_int_equal(made, 0);
	cbp_gunzip_free(gz);
	free(out);
	free(data);
	free(z);
}

static void
test_source_failure(void **state)
{
	size_t len = 50000, zl;
	unsigned char *data = sample(len, 6), *z = gzip_member(data, len, 0, &zl);
	unsigned char buf[4096];
	struct src s = { z, zl / 2, 0, 1000, 1, { 0 } };
	struct cbp_gunzip *gz = cbp_gunzip_new(src_read, &s);
	ssize_t r;

	(void)state;
	assert_non_null(gz);
	while ((r = cbp_gunzip_read(gz, buf, sizeof buf)) > 0)
		;
	assert_int_equal(r, -1);
	assert_true(cbp_gunzip_source_failed(gz));
	assert_int_equal(cbp_gunzip_read(gz, buf, sizeof buf), -1);
	cbp_gunzip_free(gz);
	assert_null(cbp_gunzip_new(NULL, NULL));
	free(data);
	free(z);
}

static void
test_empty_member(void **state)
{
	size_t zl, made;
	unsigned char *z = gzip_member((const unsigned char *)"", 0, 0, &zl), *out;
	ssize_t last;

	(void)state;
	out = decode(z, zl, 3, 100, &made, &last, NULL);
	assert_int_equal(last, 0);
	assert_int_equal(made, 0);
	free(out);
	free(z);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_step),
		cmocka_unit_test(test_concatenated_members),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_source_failure),
		cmocka_unit_test(test_empty_member),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
