/*
 * test_wire.c — cbp_wire.h: records survive the trip from a worker to the
 * parent exactly, and the parent refuses every malformed frame (short,
 * trailing bytes, enums out of range, NUL inside a name, too many members,
 * a length past the end) instead of passing it to the outputs.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_wire.h"

static unsigned char buf[65536];
static char scratch[65536 + CBP_WIRE_MEMBERS_MAX + 8];

static const char *const chain[] = { "a.zip", "b/c.jpg" };

static size_t
finding_frame(void)
{
	struct cbp_finding f = { 0 };
	size_t len;

	f.rule = "cbp.test";
	f.title = "Title";
	f.category = "plate";
	f.severity = CBP_SEV_HIGH;
	f.member = chain;
	f.nmember = 2;
	f.size = 1234;
	f.mtime = -5;
	memset(f.sha256, 'a', 64);
	f.sha256_partial = 1;
	f.sha256_bytes = 99;
	f.mime = "image/jpeg";
	f.evidence = NULL;
	f.disposition = CBP_DISP_RETENTION;
	assert_int_equal(cbp_wire_put_finding(buf, sizeof(buf), &len, 7, &f),
	    CBP_OK);
	return len;
}

static void
test_finding_round_trip(void **state)
{
	struct cbp_wire_record r;
	size_t len = finding_frame();

	(void)state;
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_OK);
	assert_int_equal(r.index, 7);
	assert_int_equal(r.finding.nmember, 2);
	assert_string_equal(r.finding.member[1], "b/c.jpg");
	assert_string_equal(r.finding.rule, "cbp.test");
	assert_int_equal(r.finding.severity, CBP_SEV_HIGH);
	assert_int_equal(r.finding.mtime, -5);
	assert_int_equal(strlen(r.finding.sha256), 64);
	assert_int_equal(r.finding.sha256_partial, 1);
	assert_int_equal(r.finding.sha256_bytes, 99);
	assert_string_equal(r.finding.mime, "image/jpeg");
	assert_null(r.finding.evidence);
	assert_int_equal(r.finding.disposition, CBP_DISP_RETENTION);
	assert_null(r.finding.path);	/* the parent supplies it */
}

static void
test_problem_and_mark_round_trip(void **state)
{
	struct cbp_problem p = { 0 };
	struct cbp_wire_record r;
	struct cbp_wire_mark m = { 3, 9, { 1, 2, 3, 4, 5 }, "x.txt" }, g;
	char longname[2000];
	size_t len;

	(void)state;
	p.member = chain;
	p.nmember = 1;
	p.reason = CBP_REASON_TIMEOUT;
	p.detail = "budget";
	assert_int_equal(cbp_wire_put_problem(buf, sizeof(buf), &len, 2, 1, &p),
	    CBP_OK);
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_PROBLEM, buf, len,
	    scratch, sizeof(scratch), &r), CBP_OK);
	assert_int_equal(r.index, 2);
	assert_int_equal(r.root, 1);
	assert_int_equal(r.problem.reason, CBP_REASON_TIMEOUT);
	assert_string_equal(r.problem.detail, "budget");
	assert_string_equal(r.problem.member[0], "a.zip");

	assert_int_equal(cbp_wire_put_mark(buf, sizeof(buf), &len, &m), CBP_OK);
	assert_int_equal(cbp_wire_get_mark(buf, len, scratch, sizeof(scratch),
	    &g), CBP_OK);
	assert_int_equal(g.index, 3);
	assert_int_equal(g.member, 9);
	assert_int_equal(g.stats.members, 4);
	assert_string_equal(g.name, "x.txt");
	/* A long member name is cut, never refused: the mark must go out. */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	m.name = longname;
	assert_int_equal(cbp_wire_put_mark(buf, sizeof(buf), &len, &m), CBP_OK);
	assert_int_equal(cbp_wire_get_mark(buf, len, scratch, sizeof(scratch),
	    &g), CBP_OK);
	assert_int_equal(strlen(g.name), CBP_WIRE_MARK_NAME_MAX);
}

/* A split: two numbers, exactly; anything shorter or longer is refused. */
static void
test_split_round_trip(void **state)
{
	uint32_t index = 0, stride = 0;
	size_t len;

	(void)state;
	assert_int_equal(cbp_wire_put_split(buf, sizeof(buf), &len, 7, 2), CBP_OK);
	assert_int_equal(len, 8);
	assert_int_equal(cbp_wire_get_split(buf, len, &index, &stride), CBP_OK);
	assert_int_equal(index, 7);
	assert_int_equal(stride, 2);
	assert_int_equal(cbp_wire_get_split(buf, len - 1, &index, &stride),
	    CBP_ECORRUPT);
	assert_int_equal(cbp_wire_get_split(buf, len + 1, &index, &stride),
	    CBP_ECORRUPT);
	assert_int_equal(cbp_wire_put_split(buf, 7, &len, 7, 2), CBP_ELIMIT);
}

static void
test_malformed_frames_refused(void **state)
{
	struct cbp_wire_record r;
	struct cbp_wire_stats st;
	size_t len = finding_frame(), i;
	unsigned char save;

	(void)state;
	/* Every truncation, and one trailing byte. */
	for (i = 0; i < len; i++)
		assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, i,
		    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	buf[len] = 0;
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len + 1,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	/* A NUL inside the first member name ("a.zip" at offset 12). */
	save = buf[13];
	buf[13] = '\0';
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	buf[13] = save;
	/* A member count past the cap. */
	buf[4] = CBP_WIRE_MEMBERS_MAX + 1;
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	buf[4] = 2;
	/* A string length past the end. */
	buf[8] = 0xff;
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	buf[8] = 5;
	/* Severity out of range (after index, members, rule, title, category). */
	{
		size_t sev = 4 + 4 + 4 + 5 + 4 + 7 + 4 + 8 + 4 + 5 + 4 + 5;

		assert_int_equal(buf[sev], CBP_SEV_HIGH);
		buf[sev] = 9;
		assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
		    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
		buf[sev] = CBP_SEV_HIGH;
	}
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_OK);
	/* An unknown type, and stats of the wrong size. */
	assert_int_equal(cbp_wire_get_record(99, buf, len, scratch,
	    sizeof(scratch), &r), CBP_ECORRUPT);
	assert_int_equal(cbp_wire_get_stats(buf, 39, &st), CBP_ECORRUPT);
	assert_int_equal(cbp_wire_get_stats(buf, 40, &st), CBP_OK);
}

/* A finding with a known-image match: list, id, category, distance, PDQ. */
static size_t
known_frame(const char *category, int distance, const char *pdq, int quality)
{
	struct cbp_finding f = { 0 };
	size_t len;

	f.rule = "cbp.known.near";
	f.title = "Near copy";
	f.category = "known";
	f.severity = CBP_SEV_HIGH;
	memset(f.sha256, 'b', 64);
	f.mime = "image/png";
	f.evidence = "pdq distance 12 (rot90)";
	f.known.list = "cbp-2019";
	f.known.id = "P-0001";
	f.known.category = category;
	f.known.distance = distance;
	snprintf(f.pdq, sizeof(f.pdq), "%s", pdq);
	f.pdq_quality = quality;
	assert_int_equal(cbp_wire_put_finding(buf, sizeof(buf), &len, 1, &f),
	    CBP_OK);
	return len;
}

static const char hex64[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void
test_known_fields(void **state)
{
	struct cbp_wire_record r;
	size_t len, i;

	(void)state;
	len = known_frame("traveler", 12, hex64, 87);
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_OK);
	assert_string_equal(r.finding.known.list, "cbp-2019");
	assert_string_equal(r.finding.known.id, "P-0001");
	assert_string_equal(r.finding.known.category, "traveler");
	assert_int_equal(r.finding.known.distance, 12);
	assert_string_equal(r.finding.pdq, hex64);
	assert_int_equal(r.finding.pdq_quality, 87);
	/* Every truncation of it is refused. */
	for (i = 0; i < len; i++)
		assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, i,
		    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	/* A finding without a match carries neither. */
	len = finding_frame();
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_OK);
	assert_null(r.finding.known.list);
	assert_string_equal(r.finding.pdq, "");
	/* A category no list may name, a distance past 256 bits, a quality
	 * past 100 and a hash with an upper-case digit are refused. */
	len = known_frame("other", 12, hex64, 87);
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	len = known_frame("plate", 257, hex64, 87);
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	len = known_frame("plate", 3, hex64, 101);
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
	len = known_frame("plate", 3, hex64, 50);
	buf[len - 2] = 'A';	/* the hash's last digit, before the quality */
	assert_int_equal(cbp_wire_get_record(CBP_WIRE_FINDING, buf, len,
	    scratch, sizeof(scratch), &r), CBP_ECORRUPT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finding_round_trip),
		cmocka_unit_test(test_problem_and_mark_round_trip),
		cmocka_unit_test(test_split_round_trip),
		cmocka_unit_test(test_malformed_frames_refused),
		cmocka_unit_test(test_known_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
