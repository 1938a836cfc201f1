/*
 * test_spool.c — cbp_spool.h: framing, sealing, crash recovery, the cap.
 *
 * Each test works in a fresh directory under /tmp; nothing is mocked: the
 * spool's promises are about what is on disk.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <ftw.h>

#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_spool.h"

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static int
setup(void **state)
{
	char *d = strdup("/tmp/cbp-test-spool-XXXXXX");

	assert_non_null(mkdtemp(d));
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static void
path_in(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/sp/%s", dir, name);
}

static struct cbp_spool *
open_spool(const char *dir, uint64_t cap, struct cbp_spool_recovery *rec)
{
	char p[512];
	struct cbp_spool *s = NULL;
	struct cbp_error err = { 0 };
	struct cbp_spool_opts o = { .max_bytes = cap, .segment_bytes = 64 };

	snprintf(p, sizeof(p), "%s/sp", dir);
	assert_int_equal(cbp_spool_open(&s, p, &o, rec, &err), CBP_OK);
	return s;
}

static void
test_append_seal_load_remove(void **state)
{
	struct cbp_spool *s = open_spool(*state, 0, NULL);
	struct cbp_spool_seg seg;
	struct stat st;
	char p[512];
	uint64_t seq, first;
	size_t total = 0;
	int i;

	for (i = 0; i < 10; i++) {
		char rec[64];
		int n = snprintf(rec, sizeof(rec), "{\"n\":%d,\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}", i);

		assert_int_equal(cbp_spool_append(s, rec, (size_t)n, 0, NULL), CBP_OK);
	}
	/* Nothing sealed yet: the sender sees nothing. */
	assert_int_equal(cbp_spool_next(s, UINT64_MAX, &seq), CBP_ENOTFOUND);
	assert_int_equal(cbp_spool_seal(s), CBP_OK);
	/* 64-byte segments: each holds two records before rotating. */
	assert_int_equal(cbp_spool_next(s, UINT64_MAX, &first), CBP_OK);
	seq = first;
	i = 0;
	do {
		assert_int_equal(cbp_spool_load(s, seq, &seg), CBP_OK);
		assert_int_equal(seg.bad_bytes, 0);
		for (size_t k = 0; k < seg.n; k++, i++) {
			char want[64];

			snprintf(want, sizeof(want), "{\"n\":%d,", i);
			assert_memory_equal(seg.data + seg.off[k], want, strlen(want));
		}
		total += seg.n;
		cbp_spool_seg_free(&seg);
	} while (cbp_spool_next(s, seq, &seq) == CBP_OK);
	assert_int_equal(total, 10);
	/* Files are 0600, the directory 0700. */
	path_in(p, sizeof(p), *state, "");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/sp/%016llx.seg", (char *)*state,
	    (unsigned long long)first);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Removing every segment empties the byte count. */
	while (cbp_spool_next(s, UINT64_MAX, &seq) == CBP_OK)
		assert_int_equal(cbp_spool_remove(s, seq), CBP_OK);
	assert_int_equal(cbp_spool_bytes(s), 0);
	cbp_spool_close(s);
}

static void
test_parse_rejects_bad_frames(void **state)
{
	unsigned char buf[64];
	size_t off[4], len[4];
	uint64_t bad;
	struct cbp_spool *s;
	char p[512];
	int fd;

	(void)state;
	/* A length past the end, a bad magic, a bad checksum: nothing parsed. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "CBS1\xff\xff\x00\x00\0\0\0\0", 12);
	assert_int_equal(cbp_spool_parse(buf, sizeof(buf), off, len, 4, &bad), 0);
	assert_int_equal(bad, sizeof(buf));
	memcpy(buf, "XBS1\x01\x00\x00\x00\0\0\0\0x", 13);
	assert_int_equal(cbp_spool_parse(buf, 13, off, len, 4, &bad), 0);
	memcpy(buf, "CBS1\x01\x00\x00\x00\0\0\0\0x", 13);
	assert_int_equal(cbp_spool_parse(buf, 13, off, len, 4, &bad), 0);
	assert_int_equal(bad, 13);

	/* A good record followed by a flipped byte in the second. */
	s = open_spool(*state, 0, NULL);
	assert_int_equal(cbp_spool_append(s, "{\"a\":1}", 7, 0, NULL), CBP_OK);
	assert_int_equal(cbp_spool_append(s, "{\"b\":2}", 7, 0, NULL), CBP_OK);
	assert_int_equal(cbp_spool_seal(s), CBP_OK);
	snprintf(p, sizeof(p), "%s/sp/%016llx.seg", (char *)*state, 0ULL);
	assert_true((fd = open(p, O_RDWR)) >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 19 + 12 + 3), 1);
	close(fd);
	{
		struct cbp_spool_seg seg;

		assert_int_equal(cbp_spool_load(s, 0, &seg), CBP_OK);
		assert_int_equal(seg.n, 1);
		assert_int_equal(seg.bad_bytes, 19);
		cbp_spool_seg_free(&seg);
	}
	cbp_spool_close(s);
}

static void
test_crash_recovery_cuts_torn_tail(void **state)
{
	struct cbp_spool *s = open_spool(*state, 0, NULL);
	struct cbp_spool_recovery rec;
	struct cbp_spool_seg seg;
	char p[512];
	uint64_t seq;
	int fd;

	assert_int_equal(cbp_spool_append(s, "{\"a\":1}", 7, 0, NULL), CBP_OK);
	/* A crash: the open segment is never sealed; a torn frame follows. */
	snprintf(p, sizeof(p), "%s/sp/%016llx.open", (char *)*state, 0ULL);
	assert_true((fd = open(p, O_WRONLY | O_APPEND)) >= 0);
	assert_int_equal(write(fd, "CBS1\x50\x00\x00\x00zz", 10), 10);
	close(fd);
	cbp_spool_close(s);

	s = open_spool(*state, 0, &rec);
	assert_int_equal(rec.segments, 1);
	assert_int_equal(rec.torn_bytes, 10);
	assert_int_equal(cbp_spool_next(s, UINT64_MAX, &seq), CBP_OK);
	assert_int_equal(cbp_spool_load(s, seq, &seg), CBP_OK);
	assert_int_equal(seg.n, 1);
	assert_int_equal(seg.bad_bytes, 0);
	assert_memory_equal(seg.data + seg.off[0], "{\"a\":1}", 7);
	cbp_spool_seg_free(&seg);
	/* New records go to a new segment, after the recovered one. */
	assert_int_equal(cbp_spool_append(s, "{\"b\":2}", 7, 0, NULL), CBP_OK);
	assert_int_equal(cbp_spool_seal(s), CBP_OK);
	assert_int_equal(cbp_spool_next(s, seq, &seq), CBP_OK);
	assert_true(seq > 0);
	cbp_spool_close(s);
}

static void
test_one_process_at_a_time(void **state)
{
	struct cbp_spool *s = open_spool(*state, 0, NULL), *t = NULL;
	struct cbp_error err = { 0 };
	char p[512];

	snprintf(p, sizeof(p), "%s/sp", (char *)*state);
	assert_int_equal(cbp_spool_open(&t, p, NULL, NULL, &err), CBP_ELIMIT);
	assert_null(t);
	assert_non_null(strstr(err.message, "in use"));
	cbp_spool_close(s);
}

static void
test_cap_drops_only_droppable(void **state)
{
	/*
	 * 20 bytes a framed record; a cap of 48 lets droppable records fill
	 * 42 bytes (7/8) and keeps the rest for findings and summaries.
	 */
	struct cbp_spool *s = open_spool(*state, 48, NULL);
	int dropped;

	assert_int_equal(cbp_spool_append(s, "{\"a\":1}X", 8, 0, &dropped), CBP_OK);
	assert_int_equal(cbp_spool_append(s, "{\"a\":2}X", 8, 1, &dropped), CBP_OK);
	assert_int_equal(dropped, 0);
	assert_int_equal(cbp_spool_append(s, "{\"a\":3}X", 8, 1, &dropped), CBP_OK);
	assert_int_equal(dropped, 1);
	assert_int_equal(cbp_spool_dropped(s), 1);
	/* A finding or summary is never dropped silently. */
	assert_int_equal(cbp_spool_append(s, "{\"a\":4}X", 8, 0, &dropped), CBP_ELIMIT);
	assert_int_equal(cbp_spool_refused(s), 1);
	assert_int_equal(cbp_spool_bytes(s), 40);
	cbp_spool_close(s);
}

static void
test_refuses_open_directory(void **state)
{
	struct cbp_spool *s = NULL;
	struct cbp_error err = { 0 };
	char p[512];

	snprintf(p, sizeof(p), "%s/sp", (char *)*state);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(cbp_spool_open(&s, p, NULL, NULL, &err), CBP_EPERM);
	assert_non_null(strstr(err.message, "0700"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_seal_load_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_rejects_bad_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_recovery_cuts_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_process_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_drops_only_droppable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_open_directory, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
