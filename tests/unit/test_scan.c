/*
 * test_scan.c — the scan pipeline (scanner/scan.c) through its API: when
 * memory runs out, the scan says so.
 *
 * Each allocation scan.c makes for itself can be made to fail in turn
 * (opts.fail_alloc = n: the nth one fails).  For every n up to the number
 * of allocations a scan makes, the run must carry an unscannable record
 * with reason "nomem" — a failure is never silent — and for a failure in
 * a child object (the picture inside a face record) that record names the
 * child.  Needs the shipped rules (rules/, the current directory under
 * make) and cbpscan.mgc ($CBPSCAN_MAGIC); skips without them, fails under
 * CBP_TEST_STRICT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cbp_limits.h"
#include "cbp_output.h"
#include "cbp_rules.h"
#include "cbp_scan.h"

#define NEED(cond, what) do { if (!(cond)) {				\
	if (getenv("CBP_TEST_STRICT") != NULL)				\
		fail_msg("%s not found", what);				\
	skip(); } } while (0)

static const char *
magic_db(void)
{
	const char *m = getenv("CBPSCAN_MAGIC");

	if (m != NULL && *m != '\0')
		return m;
	return access("build/cbpscan.mgc", R_OK) == 0 ? "build/cbpscan.mgc" : NULL;
}

static void
diag_ignore(void *arg, const char *file, int line, int col, const char *msg)
{
	(void)arg; (void)file; (void)line; (void)col; (void)msg;
}

static struct cbp_ruleset *
profile_rules(void)
{
	struct cbp_ruleset *rs;

	if (access("rules/cbp-profile.yaml", R_OK) != 0)
		return NULL;
	assert_non_null(rs = cbp_ruleset_new());
	assert_int_equal(cbp_ruleset_load(rs, "rules/cbp-profile.yaml",
	    diag_ignore, NULL), CBP_OK);
	assert_int_equal(cbp_ruleset_compile(rs, diag_ignore, NULL), CBP_OK);
	return rs;
}

/* ---- a face record with a picture inside ---------------------------------- */

static void
put_be(unsigned char **p, uint32_t v, int n)
{
	while (n-- > 0)
		*(*p)++ = (unsigned char)(v >> (8 * n));
}

static void
put(unsigned char **p, const void *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

/* ISO/IEC 19794-5:2005, one face, a JPEG-looking payload.  Returns length. */
static size_t
face_record(unsigned char *buf)
{
	static const unsigned char img[] = {
		0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1,
		0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9 };
	size_t fdl = 20 + 12 + sizeof(img);
	unsigned char *p = buf;

	put(&p, "FAC\0" "010\0", 8);
	put_be(&p, (uint32_t)(14 + fdl), 4);
	put_be(&p, 1, 2);
	put_be(&p, (uint32_t)fdl, 4);
	put_be(&p, 0, 2);
	put(&p, "\x01\x03\x04\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00", 14);
	put_be(&p, 1, 1);
	put_be(&p, 0, 1);		/* JPEG */
	put_be(&p, 200, 2);
	put_be(&p, 300, 2);
	put(&p, "\x01\x02\x00\x00\x00\x00", 6);
	put(&p, img, sizeof(img));
	return (size_t)(p - buf);
}

/* The same record base64-encoded in an XML CBEFF <BDB> element. */
static size_t
cbeff_xml(const unsigned char *rec, size_t n, char *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char xml_open[] = "<?xml version=\"1.0\"?>\n<BIR><BDB>";
	static const char xml_close[] = "</BDB></BIR>\n";
	char *p = out;
	size_t i;

	memcpy(p, xml_open, sizeof(xml_open) - 1);
	p += sizeof(xml_open) - 1;
	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)rec[i] << 16 |
		    (i + 1 < n ? (uint32_t)rec[i + 1] << 8 : 0) |
		    (i + 2 < n ? rec[i + 2] : 0);
		*p++ = b64[v >> 18 & 63];
		*p++ = b64[v >> 12 & 63];
		*p++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*p++ = i + 2 < n ? b64[v & 63] : '=';
	}
	memcpy(p, xml_close, sizeof(xml_close) - 1);
	p += sizeof(xml_close) - 1;
	return (size_t)(p - out);
}

static void
write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void
remove_file(const char *dir, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

/* ---- one scan, output captured ----------------------------------------------- */

struct run {
	char *out;
	size_t len;
};

/* Records carry the time they were made: fixed, so runs compare whole. */
static double
fixed_clock(void)
{
	return 0.0;
}

static void
scan_once(const struct cbp_ruleset *rs, const char *root, unsigned long fail,
    struct run *r)
{
	const char *roots[1] = { root };
	struct cbp_scan_opts so;
	struct cbp_output out;
	struct cbp_scan *s = NULL;
	struct cbp_error e = { 0 };
	FILE *fp;

	memset(&so, 0, sizeof(so));
	so.roots = roots;
	so.nroots = 1;
	so.nthreads = 1;		/* allocations counted in one order */
	so.caps.load_max = CBP_LOAD_MAX;
	so.caps.carve_max = CBP_CARVE_MAX;
	so.caps.hash_max = CBP_HASH_MAX;
	so.expand.max_depth = CBP_ARCHIVE_DEPTH;
	so.expand.max_members = CBP_ARCHIVE_MEMBERS;
	so.expand.member_max = CBP_MEMBER_MAX;
	so.expand.total_max = CBP_ARCHIVE_TOTAL;
	so.expand.max_ratio = CBP_ARCHIVE_RATIO;
	so.magic_db = magic_db();
	so.fail_alloc = fail;
	assert_non_null(fp = open_memstream(&r->out, &r->len));
	assert_int_equal(cbp_output_init(&out), CBP_OK);
	out.clock = fixed_clock;
	assert_int_equal(cbp_output_add(&out, cbp_sink_jsonl_new(fp)), CBP_OK);
	assert_int_equal(cbp_scan_new(&so, rs, &out, &s, &e), CBP_OK);
	assert_int_equal(cbp_scan_run(s, NULL), CBP_OK);
	cbp_scan_free(s);
	assert_int_equal(cbp_output_close(&out), CBP_OK);
	fclose(fp);
}

/* The records before the summary (which carries times and an id). */
static char *
records(const struct run *r)
{
	char *s = strdup(r->out != NULL ? r->out : ""), *sum;

	assert_non_null(s);
	if ((sum = strstr(s, "{\"type\":\"summary\"")) != NULL)
		*sum = '\0';
	return s;
}

static int
has(const struct run *r, const char *s)
{
	return r->out != NULL && strstr(r->out, s) != NULL;
}

#define NOMEM_CHILD \
	"\"member\":[\"iso19794-5:image1.jpg\"],\"reason\":\"nomem\""
#define NOMEM_B64 "base64\"],\"reason\":\"nomem\""
#define NOMEM_B64_CHILD "base64\",\"iso19794-5:image1.jpg\"],\"reason\":\"nomem\""
#define NOMEM_DECODE "\"reason\":\"nomem\",\"detail\":\"out of memory decoding base64"
#define FACE_FINDING "\"rule\":\"cbp.traveler.iso19794-5\""

static void
test_every_allocation_failure_is_a_nomem_record(void **state)
{
	struct cbp_ruleset *rs;
	char dir[] = "/tmp/cbp-test-scan-XXXXXX", xml[512];
	unsigned char rec[256];
	struct run r = { 0 };
	char *base, *got;
	unsigned long n;
	int child_failed = 0, b64_failed = 0, b64_child_failed = 0, decode_failed = 0;
	size_t len;

	(void)state;
	NEED(magic_db() != NULL, "cbpscan.mgc");
	NEED((rs = profile_rules()) != NULL, "rules/cbp-profile.yaml");
	assert_non_null(mkdtemp(dir));
	len = face_record(rec);
	write_file(dir, "face.iso", rec, len);
	write_file(dir, "cbeff.xml", xml, cbeff_xml(rec, len, xml));

	/* Without a failure: the record's finding, its picture scanned, no nomem. */
	scan_once(rs, dir, 0, &r);
	assert_true(has(&r, FACE_FINDING));
	assert_false(has(&r, "\"nomem\""));
	base = records(&r);
	free(r.out);

	/*
	 * Fail each allocation in turn until a run makes fewer allocations
	 * than n (nothing failed, so no record): every earlier run must say
	 * "nomem".  A scan without allocations here would test nothing.
	 */
	for (n = 1; n < 1000; n++) {
		memset(&r, 0, sizeof(r));
		scan_once(rs, dir, n, &r);
		if (!has(&r, "\"nomem\"")) {
			/* Nothing failed: the run is the baseline, whole (a
			 * failure that lost something silently differs). */
			got = records(&r);
			assert_string_equal(got, base);
			free(got);
			free(r.out);
			break;
		}
		b64_failed |= has(&r, NOMEM_B64);
		b64_child_failed |= has(&r, NOMEM_B64_CHILD);
		decode_failed |= has(&r, NOMEM_DECODE);
		if (has(&r, NOMEM_CHILD)) {
			/* The child was lost, not the record: its finding stays. */
			child_failed = 1;
			assert_true(has(&r, FACE_FINDING));
		}
		free(r.out);
	}
	assert_true(n > 1 && n < 1000);
	assert_true(child_failed && b64_failed && b64_child_failed &&
	    decode_failed);
	free(base);

	remove_file(dir, "face.iso");
	remove_file(dir, "cbeff.xml");
	rmdir(dir);
	cbp_ruleset_free(rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_failure_is_a_nomem_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
