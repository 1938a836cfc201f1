/*
 * test_deliver.c — cbp_deliver.h without a network: the exact request
 * bodies of the three formats, the reading of HEC and _bulk answers, the
 * URL rules and the token file.
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

#include <cmocka.h>

#include "cbp_buf.h"
#include "cbp_deliver.h"
#include "cbp_err.h"
#include "cbp_output.h"

#define REC1 "{\"type\":\"finding\",\"time\":\"2026-01-02T03:04:05.678Z\"," \
	"\"host\":\"h1\",\"event_id\":\"11111111-2222-4333-8444-555555555555\"}"
#define REC2 "{\"type\":\"summary\",\"time\":\"1970-01-01T00:00:01.000Z\"," \
	"\"host\":\"h\\\"2\",\"event_id\":\"e2\"}"

static const struct cbp_deliver_rec recs[] = {
	{ REC1, sizeof(REC1) - 1 },
	{ REC2, sizeof(REC2) - 1 },
};

static void
body(struct cbp_deliver_config *c, int fmt, const char *want)
{
	struct cbp_dynbuf b;

	cbp_dynbuf_init(&b, 1 << 20);
	assert_int_equal(cbp_deliver_body(c, fmt, recs, 2, &b), CBP_OK);
	assert_string_equal((const char *)b.data, want);
	cbp_dynbuf_free(&b);
}

static void
test_ndjson_body(void **state)
{
	struct cbp_deliver_config c;

	(void)state;
	cbp_deliver_config_defaults(&c);
	body(&c, CBP_FMT_NDJSON, REC1 "\n" REC2 "\n");
}

/* Splunk HEC: envelopes one after another, no array, no separator needed. */
static void
test_hec_body(void **state)
{
	struct cbp_deliver_config c;

	(void)state;
	cbp_deliver_config_defaults(&c);
	body(&c, CBP_FMT_HEC,
	    "{\"time\":1767323045.678,\"host\":\"h1\",\"source\":\"cbpscan\","
	    "\"sourcetype\":\"cbpscan:finding\",\"event\":" REC1 "}"
	    "{\"time\":1.000,\"host\":\"h\\\"2\",\"source\":\"cbpscan\","
	    "\"sourcetype\":\"cbpscan:summary\",\"event\":" REC2 "}");
	c.index = "main";
	c.source = "src";
	c.sourcetype = "st";
	body(&c, CBP_FMT_HEC,
	    "{\"time\":1767323045.678,\"host\":\"h1\",\"source\":\"src\","
	    "\"sourcetype\":\"st\",\"index\":\"main\",\"event\":" REC1 "}"
	    "{\"time\":1.000,\"host\":\"h\\\"2\",\"source\":\"src\","
	    "\"sourcetype\":\"st\",\"index\":\"main\",\"event\":" REC2 "}");
}

/* Elasticsearch _bulk: action line, document line, each ending in \n. */
static void
test_bulk_body(void **state)
{
	struct cbp_deliver_config c;

	(void)state;
	cbp_deliver_config_defaults(&c);
	body(&c, CBP_FMT_BULK,
	    "{\"create\":{\"_id\":\"11111111-2222-4333-8444-555555555555\"}}\n" REC1 "\n"
	    "{\"create\":{\"_id\":\"e2\"}}\n" REC2 "\n");
	c.index = "cbp-findings";
	body(&c, CBP_FMT_BULK,
	    "{\"create\":{\"_index\":\"cbp-findings\",\"_id\":\"11111111-2222-4333-8444-555555555555\"}}\n"
	    REC1 "\n{\"create\":{\"_index\":\"cbp-findings\",\"_id\":\"e2\"}}\n" REC2 "\n");
}

static void
test_body_refuses_record_without_id(void **state)
{
	struct cbp_deliver_config c;
	struct cbp_deliver_rec bad = { "{\"type\":\"x\"}", 12 };
	struct cbp_dynbuf b;

	(void)state;
	cbp_deliver_config_defaults(&c);
	cbp_dynbuf_init(&b, 1 << 20);
	assert_int_equal(cbp_deliver_body(&c, CBP_FMT_BULK, &bad, 1, &b), CBP_ECORRUPT);
	cbp_dynbuf_reset(&b);
	assert_int_equal(cbp_deliver_body(&c, CBP_FMT_HEC, &bad, 1, &b), CBP_ECORRUPT);
	cbp_dynbuf_free(&b);
}

static void
test_parse_bulk(void **state)
{
	const char *ok = "{\"took\":3,\"errors\":true,\"items\":["
	    "{\"create\":{\"_id\":\"a\",\"status\":201}},"
	    "{\"create\":{\"_id\":\"b\",\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\"}}},"
	    "{\"create\":{\"_id\":\"c\",\"status\":429}},"
	    "{\"create\":{\"_id\":\"d\",\"status\":400}},"
	    "{\"create\":{\"_id\":\"e\"}}]}";
	int st[5];

	(void)state;
	assert_int_equal(cbp_deliver_parse_bulk(ok, strlen(ok), 5, st), CBP_OK);
	assert_int_equal(st[0], 201);
	assert_int_equal(st[1], 409);
	assert_int_equal(st[2], 429);
	assert_int_equal(st[3], 400);
	assert_int_equal(st[4], 0);
	/* Wrong count, not JSON, items not objects of one action. */
	assert_int_equal(cbp_deliver_parse_bulk(ok, strlen(ok), 4, st), CBP_ECORRUPT);
	assert_int_equal(cbp_deliver_parse_bulk("{\"items\":", 9, 1, st), CBP_ECORRUPT);
	assert_int_equal(cbp_deliver_parse_bulk("{\"items\":[1]}", 13, 1, st), CBP_ECORRUPT);
	assert_int_equal(cbp_deliver_parse_bulk("[]", 2, 0, st), CBP_ECORRUPT);
}

static void
test_parse_hec(void **state)
{
	int code;
	long long ack;
	const char *a = "{\"text\":\"Success\",\"code\":0,\"ackId\":7}";
	const char *b = "{\"text\":\"Server is busy\",\"code\":9}";

	(void)state;
	assert_int_equal(cbp_deliver_parse_hec(a, strlen(a), &code, &ack), CBP_OK);
	assert_int_equal(code, 0);
	assert_int_equal(ack, 7);
	assert_int_equal(cbp_deliver_parse_hec(b, strlen(b), &code, &ack), CBP_OK);
	assert_int_equal(code, 9);
	assert_int_equal(ack, -1);
	assert_int_equal(cbp_deliver_parse_hec("busy", 4, &code, &ack), CBP_ECORRUPT);
}

static void
test_check_url(void **state)
{
	struct cbp_error e = { 0 };

	(void)state;
	assert_int_equal(cbp_deliver_check_url("https://siem.example:8088/x", &e), CBP_OK);
	assert_int_equal(cbp_deliver_check_url("http://127.0.0.1:9/x", &e), CBP_OK);
	assert_int_equal(cbp_deliver_check_url("http://localhost/x", &e), CBP_OK);
	assert_int_equal(cbp_deliver_check_url("http://siem.example/x", &e), CBP_EINVAL);
	cbp_error_clear(&e);
	assert_int_equal(cbp_deliver_check_url("ftp://127.0.0.1/x", &e), CBP_EINVAL);
	cbp_error_clear(&e);
	assert_int_equal(cbp_deliver_check_url("https://u:p@siem.example/", &e), CBP_EINVAL);
	assert_non_null(strstr(e.message, "token"));
	assert_null(strstr(e.message, "u:p"));
}

static void
token_case(const char *content, mode_t mode, int want, const char *token)
{
	char p[] = "/tmp/cbp-test-token-XXXXXX";
	int fd = mkstemp(p);
	char *t = NULL;
	struct cbp_error e = { 0 };

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	chmod(p, mode);
	assert_int_equal(cbp_deliver_read_token(p, &t, &e), want);
	if (token != NULL)
		assert_string_equal(t, token);
	else
		assert_null(t);
	/* A message never carries the token. */
	assert_null(strstr(e.message, "abc"));
	free(t);
	unlink(p);
}

static void
test_token_file(void **state)
{
	(void)state;
	token_case("abc123\n", 0600, CBP_OK, "abc123");
	token_case("abc123\r\n", 0600, CBP_OK, "abc123");
	token_case("abc 123\n", 0600, CBP_ECORRUPT, NULL);
	token_case("abc\n123\n", 0600, CBP_ECORRUPT, NULL);
	token_case("\n", 0600, CBP_ECORRUPT, NULL);
	if (geteuid() == 0)
		token_case("abc123\n", 0640, CBP_EPERM, NULL);
}

static void
test_format_names(void **state)
{
	(void)state;
	assert_int_equal(cbp_deliver_format_parse("ndjson"), CBP_FMT_NDJSON);
	assert_int_equal(cbp_deliver_format_parse("splunk-hec"), CBP_FMT_HEC);
	assert_int_equal(cbp_deliver_format_parse("elastic-bulk"), CBP_FMT_BULK);
	assert_int_equal(cbp_deliver_format_parse("json"), -1);
	assert_string_equal(cbp_deliver_format_name(CBP_FMT_HEC), "splunk-hec");
}

static void
mask_case(const char *in, const char *want)
{
	struct cbp_dynbuf b;

	cbp_dynbuf_init(&b, 1 << 16);
	assert_int_equal(cbp_mask_plates(in, &b), CBP_OK);
	assert_string_equal(b.len ? (const char *)b.data : "", want);
	cbp_dynbuf_free(&b);
}

static void
test_mask_plates(void **state)
{
	(void)state;
	mask_case("/srv/lpr/lane_7ABC123_20190531.jpg",
	    "/srv/lpr/lane_7A***23_20190531.jpg");
	/* Any mixed run of 5 to 10 is taken for a plate: better one too many. */
	mask_case("lane07/x.jpg", "la**07/x.jpg");
	/* Words, dates and short runs stay; a mixed run of 11 is not a plate. */
	mask_case("/srv/export/2019/photos.tar", "/srv/export/2019/photos.tar");
	mask_case("AB12/abc12345678x", "AB12/abc12345678x");
	mask_case("ZZ9PLZ.jpg", "ZZ**LZ.jpg");
	mask_case("", "");
	/* Bytes that are not ASCII letters or digits pass through. */
	mask_case("\xff" "7ABC123" "\xfe", "\xff" "7A***23" "\xfe");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ndjson_body),
		cmocka_unit_test(test_hec_body),
		cmocka_unit_test(test_bulk_body),
		cmocka_unit_test(test_body_refuses_record_without_id),
		cmocka_unit_test(test_parse_bulk),
		cmocka_unit_test(test_parse_hec),
		cmocka_unit_test(test_check_url),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_mask_plates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
