/*
 * test_kv.c — cbp_kv.h: the KEY=VALUE tokenizer and masking.
 *
 * Each tokenizer case lists the exact pairs expected ("KEY=VALUE" strings,
 * in order); masking cases compare exact output strings, including the
 * contract's COM example.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbp_buf.h"
#include "cbp_err.h"
#include "cbp_kv.h"

/* ---- tokenizer ------------------------------------------------------------ */

struct collect {
	char out[4096];
	size_t n;
	int stop_after;		/* stop (return 7) after this many pairs; 0 = never */
	int count;
};

static int
collect_pair(void *arg, const struct cbp_kv_pair *p)
{
	struct collect *c = arg;
	int w;

	w = snprintf(c->out + c->n, sizeof(c->out) - c->n, "%s%.*s=%.*s",
	    c->n ? "|" : "", (int)p->key_len, p->key, (int)p->value_len,
	    p->value);
	if (w > 0 && (size_t)w < sizeof(c->out) - c->n)
		c->n += (size_t)w;
	c->count++;
	return c->stop_after && c->count >= c->stop_after ? 7 : 0;
}

/* Tokenize text and compare the pairs, joined with '|', to want. */
static void
check_pairs(const char *text, const char *want)
{
	struct collect c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(cbp_kv_each(text, strlen(text), collect_pair, &c), 0);
	if (strcmp(c.out, want) != 0)
		fail_msg("text \"%s\": got \"%s\", want \"%s\"", text, c.out, want);
}

static void
test_kv_separators(void **state)
{
	(void)state;
	check_pairs("A=1;B=2|C=3,D=4 E=5\tF=6\nG=7\r\nH=8",
	    "A=1|B=2|C=3|D=4|E=5|F=6|G=7|H=8");
	check_pairs("LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7ABC123;"
	    "ST=CA;CONF=93",
	    "PORT=2304|LANE=07|TS=20190531T121314Z|PLATE=7ABC123|ST=CA|CONF=93");
	/* Empty values are pairs too; the rule's regex decides. */
	check_pairs("A=;B=x", "A=|B=x");
	/* URL query strings. */
	check_pairs("http://cam/x?plate=AB12&lane=3", "plate=AB12|lane=3");
}

static void
test_kv_quoted(void **state)
{
	(void)state;
	check_pairs("PLATE=\"7ABC 123\";PORT=1", "PLATE=7ABC 123|PORT=1");
	check_pairs("PLATE='AB-12'", "PLATE=AB-12");
	/* Pairs inside a quoted value are found too. */
	check_pairs("dc:description=\"PLATE=7ABC123;PORT=1\"",
	    "description=PLATE=7ABC123;PORT=1|PLATE=7ABC123|PORT=1");
	/* No closing quote: the rest up to a separator. */
	check_pairs("PLATE=\"7ABC123;PORT=1", "PLATE=7ABC123|PORT=1");
}

static void
test_kv_xml(void **state)
{
	(void)state;
	check_pairs("<x:xmpmeta><rdf:Description lpr:PLATE=\"7ABC123\" "
	    "lpr:LANE='07'/></x:xmpmeta>", "PLATE=7ABC123|LANE=07");
	check_pairs("<lpr:PLATE> 7ABC123 </lpr:PLATE><lpr:PORT>2304</lpr:PORT>",
	    "PLATE=7ABC123|PORT=2304");
	/* Element text holding KEY=VALUE pairs gives both. */
	check_pairs("<dc:description>PLATE=AB12;PORT=9</dc:description>",
	    "description=PLATE=AB12;PORT=9|PLATE=AB12|PORT=9");
	/* Elements with only children or whitespace give no pair. */
	check_pairs("<a:Bag>\n  <a:li>X</a:li>\n</a:Bag><b/><c></c>", "li=X");
	/* Processing instructions and closing tags are not elements. */
	check_pairs("<?xpacket begin=\"\" id=\"W5M\"?></x:y>", "begin=|id=W5M");
	/* Namespace prefixes are dropped up to the last ':'. */
	check_pairs("a:b:PLATE=Z9", "PLATE=Z9");
}

static void
test_kv_boundaries(void **state)
{
	(void)state;
	/* A key never starts inside a word, nor with a digit. */
	check_pairs("xPLATE=1 9PLATE=2 _K=3 K-2.x=4", "xPLATE=1|_K=3|K-2.x=4");
	/* "key:" with an empty local name is skipped. */
	check_pairs("ns:=1", "");
	/* Spaces around '=' do not make a pair. */
	check_pairs("PLATE = 7ABC123", "");
	/* Garbage. */
	check_pairs("==;;<<>>\"\"''<=<a<b<c", "");
	check_pairs("", "");
}

static void
test_kv_binary_and_stop(void **state)
{
	static const char bin[] = "\x00\xff\xfe" "A=1\x00" "B=\x80\x81;C=2";
	struct collect c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(cbp_kv_each(bin, sizeof(bin) - 1, collect_pair, &c), 0);
	assert_int_equal(c.count, 3);
	/* A non-zero return from the callback stops and is returned. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(cbp_kv_each("A=1 B=2 C=3", 11, collect_pair, &c), 7);
	assert_int_equal(c.count, 2);
	assert_int_equal(cbp_kv_each(NULL, 0, collect_pair, &c), 0);
}

static int
count_pair(void *arg, const struct cbp_kv_pair *p)
{
	(void)p;
	(*(size_t *)arg)++;
	return 0;
}

/* Inputs built to make a careless tokenizer quadratic finish quickly. */
static void
test_kv_linear(void **state)
{
	static const char *const unit[] = { "<a", "a=\"", "a='x ", "<a b=\"",
	    "aaaa", "a=a=a=" };
	size_t n = 4 * 1024 * 1024, i, k, cnt;
	char *big = malloc(n);

	(void)state;
	assert_non_null(big);
	for (k = 0; k < sizeof(unit) / sizeof(unit[0]); k++) {
		size_t ul = strlen(unit[k]);

		for (i = 0; i + ul <= n; i += ul)
			memcpy(big + i, unit[k], ul);
		cnt = 0;
		assert_int_equal(cbp_kv_each(big, i, count_pair, &cnt), 0);
	}
	free(big);
}

/* ---- masking ---------------------------------------------------------------- */

static const char *const plate_keys[] = { "PLATE", "DOC_NUM" };

static void
check_mask(const char *text, const size_t *extra, size_t nextra,
    const char *want)
{
	struct cbp_dynbuf out;

	cbp_dynbuf_init(&out, 4096);
	assert_int_equal(cbp_kv_mask(text, strlen(text), plate_keys, 2, extra,
	    nextra, &out), CBP_OK);
	if (strcmp(out.data != NULL ? (char *)out.data : "", want) != 0)
		fail_msg("mask \"%s\": got \"%s\", want \"%s\"", text,
		    out.data != NULL ? (char *)out.data : "", want);
	cbp_dynbuf_free(&out);
}

static void
check_value(const char *v, const char *want)
{
	struct cbp_dynbuf out;

	size_t span[2] = { 0, strlen(v) };

	/* One whole value: the masking that cbp_kv_mask gives a span. */
	cbp_dynbuf_init(&out, 256);
	assert_int_equal(cbp_kv_mask(v, strlen(v), NULL, 0, span, 1, &out),
	    CBP_OK);
	assert_string_equal(out.data != NULL ? (char *)out.data : "", want);
	cbp_dynbuf_free(&out);
}

static void
test_mask_value(void **state)
{
	(void)state;
	check_value("7ABC123", "7A***23");
	check_value("AB", "**");
	check_value("ABCD", "****");
	check_value("ABCDE", "AB*DE");
	check_value("", "");
	/* Characters, not bytes: "ÄÖÜßéè" has 6. */
	check_value("\xc3\x84\xc3\x96\xc3\x9c\xc3\x9f\xc3\xa9\xc3\xa8",
	    "\xc3\x84\xc3\x96**\xc3\xa9\xc3\xa8");
}

static void
test_mask_text(void **state)
{
	size_t span[2];

	(void)state;
	check_mask("LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7ABC123;"
	    "ST=CA;CONF=93",
	    NULL, 0,
	    "LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7A***23;"
	    "ST=CA;CONF=93");
	/* Keys compare case-insensitively, in XML too. */
	check_mask("plate=AB <x:Plate>AB-1234</x:Plate> a:PLATE=\"7ABC123\"",
	    NULL, 0,
	    "plate=** <x:Plate>AB***34</x:Plate> a:PLATE=\"7A***23\"");
	check_mask("PORT=2304 DOC_NUM=X1234567", NULL, 0,
	    "PORT=2304 DOC_NUM=X1****67");
	/* Extra spans: (offset, length) pairs. */
	span[0] = 28;
	span[1] = 7;
	check_mask("LPR_2304_07_20190531T121314_7ABC123.jpg", span, 1,
	    "LPR_2304_07_20190531T121314_7A***23.jpg");
	/* Spans past the end are clipped. */
	span[0] = 2;
	span[1] = 100;
	check_mask("xyABCDEFG", span, 1, "xyAB***FG");
	/* Masking is idempotent. */
	check_mask("PLATE=7A***23", NULL, 0, "PLATE=7A***23");
	/* A plate with a space: the words after it that are not pairs. */
	check_mask("LPR;PORT=2304;PLATE=7AB C123;LANE=07", NULL, 0,
	    "LPR;PORT=2304;PLATE=7A****23;LANE=07");
	check_mask("PLATE=7ABC123 ST=CA", NULL, 0, "PLATE=7A***23 ST=CA");
	check_mask("PLATE=AB 12 CD LANE=07", NULL, 0, "PLATE=AB****CD LANE=07");
	/* ... but never past MASK_SPACED_MAX characters of words. */
	check_mask("PLATE=AB CDEFGHIJKLMNOPQRSTUVWXYZ", NULL, 0,
	    "PLATE=** CDEFGHIJKLMNOPQRSTUVWXYZ");
}

static void
test_mask_cap(void **state)
{
	struct cbp_dynbuf out;
	const char *t = "PLATE=7ABC123;PORT=1";

	(void)state;
	cbp_dynbuf_init(&out, 10);
	assert_int_equal(cbp_kv_mask(t, strlen(t), plate_keys, 2, NULL, 0, &out),
	    CBP_OK);
	assert_string_equal((char *)out.data, "PLATE=7A**");
	cbp_dynbuf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_separators),
		cmocka_unit_test(test_kv_quoted),
		cmocka_unit_test(test_kv_xml),
		cmocka_unit_test(test_kv_boundaries),
		cmocka_unit_test(test_kv_binary_and_stop),
		cmocka_unit_test(test_kv_linear),
		cmocka_unit_test(test_mask_value),
		cmocka_unit_test(test_mask_text),
		cmocka_unit_test(test_mask_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
