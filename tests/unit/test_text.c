/*
 * test_text.c — cbp_text.h: the one UTF-8 decoder, encoder, counter and
 * cutters, and the one hex digit helper.
 *
 * The decoder cases follow Unicode Table 3-7 at each of its edges: the
 * first and last well-formed sequence of each length, overlongs,
 * surrogates, past U+10FFFF, stray continuation bytes and truncation.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cbp_text.h"

struct seq_case {
	const char *bytes;
	size_t n;
	size_t len;		/* expected length, 0 = rejected */
	uint32_t cp;
};

#define C(b, l, c) { b, sizeof(b) - 1, l, c }

static void
test_utf8_seq_valid(void **state)
{
	static const struct seq_case cases[] = {
		C("A", 1, 0x41),
		C("\x7F", 1, 0x7F),
		C("\xC2\x80", 2, 0x80),
		C("\xDF\xBF", 2, 0x7FF),
		C("\xE0\xA0\x80", 3, 0x800),
		C("\xED\x9F\xBF", 3, 0xD7FF),
		C("\xEE\x80\x80", 3, 0xE000),
		C("\xEF\xBF\xBF", 3, 0xFFFF),
		C("\xF0\x90\x80\x80", 4, 0x10000),
		C("\xF4\x8F\xBF\xBF", 4, 0x10FFFF),
		C("\xE2\x80\xA8tail", 3, 0x2028),
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0xFFFFFFFF;

		assert_int_equal(cbp_utf8_seq((const unsigned char *)
		    cases[i].bytes, cases[i].n, &cp), cases[i].len);
		assert_int_equal(cp, cases[i].cp);
		/* The code point is optional. */
		assert_int_equal(cbp_utf8_seq((const unsigned char *)
		    cases[i].bytes, cases[i].n, NULL), cases[i].len);
	}
}

static void
test_utf8_seq_invalid(void **state)
{
	static const struct seq_case cases[] = {
		C("\x80", 0, 0),			/* stray continuation */
		C("\xBF", 0, 0),
		C("\xC0\xAF", 0, 0),			/* overlong '/' */
		C("\xC1\xBF", 0, 0),
		C("\xE0\x80\xAF", 0, 0),		/* overlong 3-byte */
		C("\xE0\x9F\xBF", 0, 0),
		C("\xF0\x80\x80\xAF", 0, 0),		/* overlong 4-byte */
		C("\xF0\x8F\xBF\xBF", 0, 0),
		C("\xED\xA0\x80", 0, 0),		/* U+D800 */
		C("\xED\xBF\xBF", 0, 0),		/* U+DFFF */
		C("\xF4\x90\x80\x80", 0, 0),		/* U+110000 */
		C("\xF5\x80\x80\x80", 0, 0),
		C("\xFF", 0, 0),
		C("\xC3", 0, 0),			/* truncated */
		C("\xE2\x82", 0, 0),
		C("\xF0\x9F\x98", 0, 0),
		C("\xC3(", 0, 0),			/* bad continuation */
		C("\xE2\x28\xA1", 0, 0),
		C("\xF0\x9F\x98(", 0, 0),
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(cbp_utf8_seq((const unsigned char *)
		    cases[i].bytes, cases[i].n, NULL), 0);
	assert_int_equal(cbp_utf8_seq((const unsigned char *)"A", 0, NULL), 0);
}

static void
test_utf8_put(void **state)
{
	static const uint32_t cps[] = { 0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFD,
	    0xFFFF, 0x10000, 0x10FFFF };
	unsigned char d[4];
	size_t i, w;
	uint32_t cp;

	(void)state;
	for (i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		w = cbp_utf8_put(d, sizeof(d), cps[i]);
		assert_true(w >= 1 && w <= 4);
		/* Round trip through the decoder, and no room for one less. */
		assert_int_equal(cbp_utf8_seq(d, w, &cp), w);
		assert_int_equal(cp, cps[i]);
		assert_int_equal(cbp_utf8_put(d, w - 1, cps[i]), 0);
	}
}

static void
test_utf8_chars(void **state)
{
	(void)state;
	assert_int_equal(cbp_utf8_chars("", 0), 0);
	assert_int_equal(cbp_utf8_chars("abc", 3), 3);
	assert_int_equal(cbp_utf8_chars("a\xC3\xA9\xE2\x82\xAC", 6), 3);
	/* A lone lead byte counts; stray continuation bytes do not. */
	assert_int_equal(cbp_utf8_chars("\xC3" "a\x80", 3), 2);
}

static void
test_utf8_cut(void **state)
{
	const unsigned char *e = (const unsigned char *)"a\xE2\x82\xAC" "b";
	const unsigned char *bad = (const unsigned char *)"\x80\x80\x80\x80\x80\x80";

	(void)state;
	assert_int_equal(cbp_utf8_cut(e, 5, 9), 5);
	assert_int_equal(cbp_utf8_cut(e, 5, 5), 5);
	assert_int_equal(cbp_utf8_cut(e, 5, 4), 4);	/* before 'b' */
	assert_int_equal(cbp_utf8_cut(e, 5, 3), 1);	/* not inside the euro */
	assert_int_equal(cbp_utf8_cut(e, 5, 2), 1);
	assert_int_equal(cbp_utf8_cut(e, 5, 1), 1);
	assert_int_equal(cbp_utf8_cut(e, 5, 0), 0);
	/* Not UTF-8: at most three bytes are given up, then cut as asked. */
	assert_int_equal(cbp_utf8_cut(bad, 6, 5), 5);
}

static void
test_utf8_trim_end(void **state)
{
	(void)state;
	assert_int_equal(cbp_utf8_trim_end((const unsigned char *)"ab", 2), 2);
	assert_int_equal(cbp_utf8_trim_end((const unsigned char *)
	    "a\xE2\x82\xAC", 4), 4);
	assert_int_equal(cbp_utf8_trim_end((const unsigned char *)
	    "a\xE2\x82", 3), 1);
	assert_int_equal(cbp_utf8_trim_end((const unsigned char *)
	    "a\xF0\x9F\x98", 4), 1);
	assert_int_equal(cbp_utf8_trim_end((const unsigned char *)"a\xC3", 2), 1);
	/* Continuation bytes with no lead are not a sequence to trim. */
	assert_int_equal(cbp_utf8_trim_end((const unsigned char *)
	    "a\x80\x80", 3), 3);
}

static void
test_hexval(void **state)
{
	int c, want;

	(void)state;
	for (c = -1; c < 256; c++) {
		if (c >= '0' && c <= '9')
			want = c - '0';
		else if (c >= 'a' && c <= 'f')
			want = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			want = c - 'A' + 10;
		else
			want = -1;
		assert_int_equal(cbp_hexval(c), want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_seq_valid),
		cmocka_unit_test(test_utf8_seq_invalid),
		cmocka_unit_test(test_utf8_put),
		cmocka_unit_test(test_utf8_chars),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_utf8_trim_end),
		cmocka_unit_test(test_hexval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
