/*
 * test_output.c — the JSON Lines and text sinks, the escapers, the time
 * format, the record enums and the fan-out (cbp_output.h, cbp_finding.h).
 *
 * Records are captured with open_memstream and compared with the exact
 * expected line.  The escapers are checked against a table of every class
 * of input (controls, quotes, U+2028, each kind of invalid UTF-8) and by a
 * round trip: random bytes go through cbp_json_string and come back through
 * an independent decoder written here, which also insists that the output
 * is strict JSON in valid UTF-8.
 *
 * The run's identity and clock are fixed (identify(), fixed_clock), so the
 * record ids are known: the expected object_id and event_id values below
 * were computed from the man page's definition by an independent
 * implementation (tests/cli/conftest.py object_id/event_id), so these
 * tests hold C and the documentation to the same answer.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_finding.h"
#include "cbp_object.h"
#include "cbp_output.h"
#include "cbp_text.h"

/* ---- helpers ---------------------------------------------------------- */

struct capture {
	FILE *fp;
	char *data;
	size_t len;
};

static void
capture_open(struct capture *c)
{
	c->data = NULL;
	c->len = 0;
	c->fp = open_memstream(&c->data, &c->len);
	assert_non_null(c->fp);
}

/* Close the stream; c->data is then the NUL-terminated text (free it). */
static void
capture_close(struct capture *c)
{
	assert_int_equal(fclose(c->fp), 0);
	c->fp = NULL;
}

#define SCAN_ID "3f1c2a9e-5b7d-4e21-9c3a-0d8e6f4b2a17"
#define HOST_ID "5b0e7c1d-2f4a-4c3b-9d8e-1a2b3c4d5e6f"
/* 2026-11-29T19:50:40.250Z */
#define FIXED_TIME 1795981840.25
#define META(ev) "\"time\":\"2026-11-29T19:50:40.250Z\",\"scan_id\":\"" SCAN_ID \
	"\",\"host\":\"auditbox\",\"host_id\":\"" HOST_ID "\",\"event_id\":\"" ev "\""

static double
fixed_clock(void)
{
	return FIXED_TIME;
}

static void
identify(struct cbp_output *o)
{
	assert_int_equal(cbp_output_identify(o, SCAN_ID, "auditbox", HOST_ID), CBP_OK);
	o->clock = fixed_clock;
}

static const char *const chain[] = { "exports/2019.zip", "lane07/0001.jpg" };

static void
finding_with_members(struct cbp_finding *f)
{
	memset(f, 0, sizeof(*f));
	f->rule = "cbp.plate.lpr-record";
	f->title = "LPR capture record";
	f->category = "plate";
	f->severity = CBP_SEV_HIGH;
	f->path = "/srv/x/backup.tar.gz";
	f->member = chain;
	f->nmember = 2;
	f->size = 48213;
	f->mtime = 1559304794;		/* 2019-05-31T12:13:14Z */
	memset(f->sha256, 'a', 64);
	f->sha256[64] = '\0';
	f->mime = "image/jpeg";
	f->evidence = "COM: LPR;PORT=2304;LANE=07;PLATE=7A***23";
	f->disposition = CBP_DISP_VIOLATION;
}

/* A plain file: no members, unknown mtime, no title or evidence, a name
 * with a newline and a Latin-1 byte. */
static void
finding_plain(struct cbp_finding *f)
{
	memset(f, 0, sizeof(*f));
	f->rule = "cbp.traveler.mrz";
	f->category = "traveler";
	f->severity = CBP_SEV_MEDIUM;
	f->path = "/home/u/caf\xe9\nscan.txt";
	f->size = 7;
	f->mtime = CBP_MTIME_UNKNOWN;
	memset(f->sha256, '0', 64);
	f->mime = "text/plain";
	f->disposition = CBP_DISP_RETENTION;
}

static const char *const problem_chain[] = { "inner.zip" };

static void
problem_example(struct cbp_problem *p)
{
	memset(p, 0, sizeof(*p));
	p->path = "/srv/a.zip";
	p->member = problem_chain;
	p->nmember = 1;
	p->reason = CBP_REASON_ENCRYPTED;
	p->detail = "entry \"secret.jpg\" is encrypted";
}

static const uint64_t per_worker[2] = { 700, 534 };

static void
summary_example(struct cbp_summary *s)
{
	static const char *const roots[] = { "/srv", "/home/caf\xe9" };

	memset(s, 0, sizeof(*s));
	s->version = "9.8.7";
	s->rules = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	s->roots = roots;
	s->nroots = 2;
	s->severity[CBP_SEV_HIGH] = 1;
	s->severity[CBP_SEV_LOW] = 1;
	s->started = 1795981836.8;
	s->finished = 1795981839.123;
	s->files = 1234;
	s->bytes = 56700000;
	s->archives = 3;
	s->members = 40;
	s->findings = 2;
	s->violations = 1;
	s->unscannable = 0;
	s->elapsed_s = 2.3125;
	s->exit_status = 1;
	s->complete = 1;
	s->skipped.symlink = 5;
	s->skipped.vanished = 2;
	s->confinement.workers = 2;
	s->confinement.seccomp = 1;
	s->confinement.landlock_abi = 7;
	s->confinement.no_new_privs = 1;
	s->confinement.replaced = 1;
	s->confinement.objects = per_worker;
	s->confinement.nobjects = 2;
}

/* Run one record of each kind given (NULL to skip) through a sink. */
static void
render(struct cbp_sink *sink, const struct cbp_finding *f,
    const struct cbp_problem *p, const struct cbp_summary *s)
{
	struct cbp_output o;

	assert_int_equal(cbp_output_init(&o), CBP_OK);
	identify(&o);
	assert_int_equal(cbp_output_add(&o, sink), CBP_OK);
	if (f != NULL)
		cbp_output_finding(&o, f);
	if (p != NULL)
		cbp_output_problem(&o, p);
	if (s != NULL)
		cbp_output_summary(&o, s);
	assert_int_equal(cbp_output_close(&o), CBP_OK);
}

static char *
jsonl_of(const struct cbp_finding *f, const struct cbp_problem *p,
    const struct cbp_summary *s)
{
	struct capture c;

	capture_open(&c);
	render(cbp_sink_jsonl_new(c.fp), f, p, s);
	capture_close(&c);
	return c.data;
}

static char *
text_of(unsigned flags, const struct cbp_finding *f,
    const struct cbp_problem *p, const struct cbp_summary *s)
{
	struct capture c;

	capture_open(&c);
	render(cbp_sink_text_new(c.fp, flags), f, p, s);
	capture_close(&c);
	return c.data;
}

static char *
json_escape(const char *s, size_t len)
{
	struct cbp_dynbuf b;

	cbp_dynbuf_init(&b, 1 << 20);
	assert_int_equal(cbp_json_string(&b, s, len), CBP_OK);
	return (char *)cbp_dynbuf_take(&b, NULL);
}

static char *
text_escape(const char *s, size_t len)
{
	struct cbp_dynbuf b;

	cbp_dynbuf_init(&b, 1 << 20);
	assert_int_equal(cbp_text_escape(&b, s, len), CBP_OK);
	if (b.data == NULL)	/* nothing appended: empty string */
		return strdup("");
	return (char *)cbp_dynbuf_take(&b, NULL);
}

/* ---- JSON Lines records ----------------------------------------------- */

static void
test_jsonl_finding_members(void **state)
{
	struct cbp_finding f;
	char *out;

	(void)state;
	finding_with_members(&f);
	out = jsonl_of(&f, NULL, NULL);
	assert_string_equal(out,
	    "{\"type\":\"finding\","
	    META("b29d3d80-5919-8b40-996c-9e5a85336469") ","
	    "\"object_id\":\"52f6a562-a935-84b0-8984-5866eec55252\","
	    "\"rule\":\"cbp.plate.lpr-record\","
	    "\"title\":\"LPR capture record\",\"category\":\"plate\","
	    "\"severity\":\"high\",\"path\":\"/srv/x/backup.tar.gz\","
	    "\"member\":[\"exports/2019.zip\",\"lane07/0001.jpg\"],"
	    "\"size\":48213,\"mtime\":\"2019-05-31T12:13:14Z\","
	    "\"sha256\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	    "\"mime\":\"image/jpeg\","
	    "\"evidence\":\"COM: LPR;PORT=2304;LANE=07;PLATE=7A***23\","
	    "\"disposition\":\"violation\"}\n");
	free(out);
}

static void
test_jsonl_finding_plain(void **state)
{
	struct cbp_finding f;
	char *out;

	(void)state;
	finding_plain(&f);
	out = jsonl_of(&f, NULL, NULL);
	/* No title, no mtime, no evidence; member is []. */
	assert_string_equal(out,
	    "{\"type\":\"finding\","
	    META("b076562a-8c6a-8d34-8830-4a65211abea9") ","
	    "\"object_id\":\"c473533f-6800-8f91-be71-4c5400e0e21c\","
	    "\"rule\":\"cbp.traveler.mrz\","
	    "\"category\":\"traveler\",\"severity\":\"medium\","
	    "\"path\":\"/home/u/caf\\udce9\\nscan.txt\",\"member\":[],"
	    "\"size\":7,"
	    "\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"mime\":\"text/plain\",\"disposition\":\"retention\"}\n");
	free(out);
}

static void
test_jsonl_problem(void **state)
{
	struct cbp_problem p;
	char *out;

	(void)state;
	problem_example(&p);
	out = jsonl_of(NULL, &p, NULL);
	assert_string_equal(out,
	    "{\"type\":\"unscannable\","
	    META("bc45f416-bd67-8fbc-977c-864ba56e76e4") ","
	    "\"object_id\":\"24c0b411-97d7-8074-8788-72497bc60d67\","
	    "\"path\":\"/srv/a.zip\","
	    "\"member\":[\"inner.zip\"],\"reason\":\"encrypted\","
	    "\"detail\":\"entry \\\"secret.jpg\\\" is encrypted\"}\n");
	free(out);
}

static void
test_jsonl_summary(void **state)
{
	struct cbp_summary s;
	char *out;

	(void)state;
	summary_example(&s);
	out = jsonl_of(NULL, NULL, &s);
	assert_string_equal(out,
	    "{\"type\":\"summary\","
	    META("af703ee8-b76a-83d1-bea7-e2271817ae9a") ","
	    "\"started\":\"2026-11-29T19:50:36.800Z\","
	    "\"finished\":\"2026-11-29T19:50:39.123Z\","
	    "\"files\":1234,\"bytes\":56700000,\"archives\":3,\"members\":40,"
	    "\"findings\":2,\"violations\":1,\"unscannable\":0,"
	    "\"elapsed_s\":2.312,\"exit\":1,\"version\":\"9.8.7\","
	    "\"rules\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
	    "\"lists\":null,"
	    "\"roots\":[\"/srv\",\"/home/caf\\udce9\"],\"complete\":true,"
	    "\"severity\":{\"critical\":0,\"high\":1,\"medium\":0,\"low\":1,\"info\":0},"
	    "\"skipped\":{\"symlink\":5,\"fifo\":0,\"socket\":0,\"device\":0,"
	    "\"excluded\":0,\"other_fs\":0,\"vanished\":2},"
	    "\"confinement\":{\"workers\":2,\"seccomp\":true,"
	    "\"landlock_abi\":7,\"no_new_privs\":true,\"replaced\":1,"
	    "\"objects_per_worker\":[700,534]}}\n");
	free(out);
}

/* All three records in one stream, in order, each on its own line. */
static void
test_jsonl_sequence(void **state)
{
	struct cbp_finding f;
	struct cbp_problem p;
	struct cbp_summary s;
	char *out, *nl;
	int lines = 0;

	(void)state;
	finding_with_members(&f);
	problem_example(&p);
	summary_example(&s);
	out = jsonl_of(&f, &p, &s);
	for (nl = out; (nl = strchr(nl, '\n')) != NULL; nl++)
		lines++;
	assert_int_equal(lines, 3);
	assert_non_null(strstr(out, "}\n{\"type\":\"unscannable\""));
	assert_non_null(strstr(out, "}\n{\"type\":\"summary\""));
	free(out);
}

/* ---- text records ----------------------------------------------------- */

static void
test_text_finding(void **state)
{
	struct cbp_finding f;
	char *out;

	(void)state;
	finding_with_members(&f);
	out = text_of(0, &f, NULL, NULL);
	assert_string_equal(out,
	    "high     cbp.plate.lpr-record               "
	    "/srv/x/backup.tar.gz :: exports/2019.zip :: lane07/0001.jpg"
	    "  COM: LPR;PORT=2304;LANE=07;PLATE=7A***23\n");
	free(out);

	finding_plain(&f);
	out = text_of(0, &f, NULL, NULL);
	assert_string_equal(out,
	    "medium   cbp.traveler.mrz                   "
	    "/home/u/caf\\xe9\\x0ascan.txt  [retention]\n");
	free(out);
}

static void
test_text_color(void **state)
{
	struct cbp_finding f;
	char *out;

	(void)state;
	finding_plain(&f);
	f.path = "/a";
	out = text_of(CBP_TEXT_COLOR, &f, NULL, NULL);
	assert_string_equal(out,
	    "\033[33mmedium\033[0m   cbp.traveler.mrz                   /a  [retention]\n");
	free(out);
	f.severity = CBP_SEV_CRITICAL;
	out = text_of(CBP_TEXT_COLOR, &f, NULL, NULL);
	assert_string_equal(out,
	    "\033[1;31mcritical\033[0m cbp.traveler.mrz                   /a  [retention]\n");
	free(out);
}

static void
test_text_problem_summary(void **state)
{
	struct cbp_problem p;
	struct cbp_summary s;
	char *out;

	(void)state;
	problem_example(&p);
	summary_example(&s);
	out = text_of(0, NULL, &p, &s);
	assert_string_equal(out,
	    "unscannable encrypted /srv/a.zip :: inner.zip: "
	    "entry \"secret.jpg\" is encrypted\n"
	    "\n"
	    "Scanned 1234 files (56.7 MB), 3 archives with 40 members in 2.31 s: "
	    "2 findings, 1 violation, 0 unscannable.\n"
	    "By severity: 0 critical, 1 high, 0 medium, 1 low, 0 info.\n"
	    "Scan " SCAN_ID " on auditbox (host id " HOST_ID "), cbpscan 9.8.7, "
	    "rules sha256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.\n"
	    "Parsers ran in 2 worker processes (seccomp, Landlock ABI 7); 1 replaced.\n"
	    "Exit status 1: violations found.\n");
	free(out);

	/* Singulars, small byte counts, exit 0: no exit line. */
	memset(&s, 0, sizeof(s));
	s.files = 1;
	s.bytes = 999;
	s.archives = 1;
	s.members = 1;
	s.findings = 1;
	s.elapsed_s = 0.004;
	s.severity[CBP_SEV_LOW] = 1;
	out = text_of(0, NULL, NULL, &s);
	assert_string_equal(out,
	    "\nScanned 1 file (999 B), 1 archive with 1 member in 0.00 s: "
	    "1 finding, 0 violations, 0 unscannable.\n"
	    "By severity: 0 critical, 0 high, 0 medium, 1 low, 0 info.\n"
	    "Scan " SCAN_ID " on auditbox (host id " HOST_ID "), cbpscan "
	    CBP_VERSION ".\n");
	free(out);

	/* --strict with only unscannable objects: status 1, no violation. */
	s.unscannable = 2;
	s.exit_status = 1;
	out = text_of(0, NULL, NULL, &s);
	assert_non_null(strstr(out, "\nExit status 1: unscannable objects "
	    "(--strict), no violation.\n"));
	free(out);
	s.unscannable = 0;
	s.exit_status = 0;

	/* 999 950 bytes would print as "1000.0 kB": move to MB. */
	s.bytes = 999950;
	s.files = 2;
	out = text_of(0, NULL, NULL, &s);
	assert_non_null(strstr(out, "Scanned 2 files (1.0 MB),"));
	free(out);
	s.bytes = 1500;
	out = text_of(0, NULL, NULL, &s);
	assert_non_null(strstr(out, "(1.5 kB)"));
	free(out);
	s.bytes = UINT64_MAX;
	out = text_of(0, NULL, NULL, &s);
	assert_non_null(strstr(out, "(18.4 EB)"));
	free(out);
}

static void
test_text_quiet(void **state)
{
	struct cbp_finding f;
	struct cbp_problem p;
	struct cbp_summary s;
	char *out;

	(void)state;
	finding_plain(&f);
	f.path = "/q";
	problem_example(&p);
	summary_example(&s);
	out = text_of(CBP_TEXT_QUIET, &f, &p, &s);
	assert_string_equal(out,
	    "medium   cbp.traveler.mrz                   /q  [retention]\n");
	free(out);
}

/* ---- JSON escaping table ---------------------------------------------- */

struct esc_case {
	const char *in;
	size_t len;
	const char *out;
};

#define C(s, o) { s, sizeof(s) - 1, o }

static const struct esc_case json_cases[] = {
	C("", "\"\""),
	C("plain /path/ok", "\"plain /path/ok\""),
	C("\"q\" \\b", "\"\\\"q\\\" \\\\b\""),
	C("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""),
	C("\x00\x01\x1f", "\"\\u0000\\u0001\\u001f\""),
	C("a\x00z", "\"a\\u0000z\""),
	C("\x7f", "\"\\u007f\""),
	C("\x1b[31m", "\"\\u001b[31m\""),
	C("\xe2\x80\xa8|\xe2\x80\xa9", "\"\\u2028|\\u2029\""),
	/* Valid UTF-8 passes through, including C1 controls and the extremes. */
	C("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\""),
	C("\xc2\x80\xc2\x9f", "\"\xc2\x80\xc2\x9f\""),
	C("\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\""),
	C("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""),
	C("\xe2\x80\xae", "\"\xe2\x80\xae\""),
	/* Lone continuation bytes. */
	C("\x80", "\"\\udc80\""),
	C("a\xbfz", "\"a\\udcbfz\""),
	/* Overlongs. */
	C("\xc0\x80", "\"\\udcc0\\udc80\""),
	C("\xc1\xbf", "\"\\udcc1\\udcbf\""),
	C("\xe0\x80\xaf", "\"\\udce0\\udc80\\udcaf\""),
	C("\xf0\x8f\xbf\xbf", "\"\\udcf0\\udc8f\\udcbf\\udcbf\""),
	/* UTF-16 surrogates encoded in UTF-8. */
	C("\xed\xa0\x80", "\"\\udced\\udca0\\udc80\""),
	C("\xed\xbf\xbf", "\"\\udced\\udcbf\\udcbf\""),
	/* Past U+10FFFF. */
	C("\xf4\x90\x80\x80", "\"\\udcf4\\udc90\\udc80\\udc80\""),
	C("\xf5\x80\x80\x80", "\"\\udcf5\\udc80\\udc80\\udc80\""),
	/* Truncated sequences: at the end, and followed by ASCII or a lead. */
	C("\xe2\x82", "\"\\udce2\\udc82\""),
	C("x\xe2\x82", "\"x\\udce2\\udc82\""),
	C("\xe2\x82" "A", "\"\\udce2\\udc82A\""),
	C("\xf0\x9f\x98", "\"\\udcf0\\udc9f\\udc98\""),
	C("\xc3\xc3\xa9", "\"\\udcc3\xc3\xa9\""),
	/* Bytes that never occur in UTF-8. */
	C("\xfe\xff", "\"\\udcfe\\udcff\""),
};

static void
test_json_escape_table(void **state)
{
	size_t i;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		out = json_escape(json_cases[i].in, json_cases[i].len);
		if (strcmp(out, json_cases[i].out) != 0)
			print_error("case %zu: got %s want %s\n", i, out,
			    json_cases[i].out);
		assert_string_equal(out, json_cases[i].out);
		free(out);
	}
}

/* ---- JSON round trip -------------------------------------------------- */

/* Code point of the well-formed UTF-8 sequence at p, its length in *n;
 * -1 if ill-formed.  Written from the definition (minimum value per
 * length), independently of the scanner's table-driven validator. */
static long
dec_utf8(const unsigned char *p, size_t left, size_t *n)
{
	static const long minval[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len, i;
	long cp;

	if (p[0] < 0x80) {
		*n = 1;
		return p[0];
	}
	if ((p[0] & 0xE0) == 0xC0) {
		len = 2;
		cp = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		len = 3;
		cp = p[0] & 0x0F;
	} else if ((p[0] & 0xF8) == 0xF0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return -1;
	if (left < len)
		return -1;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < minval[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*n = len;
	return cp;
}

static size_t
put_utf8(unsigned char *o, long cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decode one JSON string literal (the whole of in) with surrogateescape,
 * into out (room for len bytes is enough: decoding never grows).  0, or -1
 * if in is not strict JSON in valid UTF-8, or carries a raw DEL, U+2028 or
 * U+2029 (which our escaper promises never to emit).
 */
static int
json_decode(const unsigned char *in, size_t len, unsigned char *out,
    size_t *outlen)
{
	size_t i = 1, o = 0, n;
	long cp;
	int k, h;

	if (len < 2 || in[0] != '"' || in[len - 1] != '"')
		return -1;
	len--;
	while (i < len) {
		if (in[i] == '"' || in[i] < 0x20 || in[i] == 0x7F)
			return -1;
		if (in[i] != '\\') {
			if ((cp = dec_utf8(in + i, len - i, &n)) < 0 ||
			    cp == 0x2028 || cp == 0x2029)
				return -1;
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
			continue;
		}
		if (++i >= len)
			return -1;
		switch (in[i++]) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (len - i < 4)
				return -1;
			for (cp = 0, k = 0; k < 4; k++) {
				if ((h = cbp_hexval(in[i + k])) < 0)
					return -1;
				cp = cp * 16 + h;
			}
			i += 4;
			if (cp >= 0xDC80 && cp <= 0xDCFF)
				out[o++] = (unsigned char)(cp - 0xDC00);
			else if (cp >= 0xD800 && cp <= 0xDFFF)
				return -1;	/* we never emit pairs */
			else
				o += put_utf8(out + o, cp);
			break;
		default:
			return -1;
		}
	}
	*outlen = o;
	return 0;
}

/* Bytes biased towards the interesting ones: lead and continuation bytes,
 * controls, quotes, and pieces of valid sequences. */
static size_t
random_bytes(unsigned char *p, size_t max, unsigned *seed)
{
	static const char *const frag[] = {
		"\xc3\xa9", "\xe2\x80\xa8", "\xe2\x80\xae", "\xf0\x9f\x98\x80",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\x80", "\"", "\\", "\n",
	};
	size_t n = (size_t)rand_r(seed) % (max + 1), i = 0, k;

	while (i < n) {
		if (rand_r(seed) % 4 == 0) {
			const char *f = frag[(size_t)rand_r(seed) % 10];
			for (k = 0; f[k] != '\0' && i < n; k++)
				p[i++] = (unsigned char)f[k];
		} else {
			p[i++] = (unsigned char)rand_r(seed);
		}
	}
	return n;
}

static void
test_json_roundtrip(void **state)
{
	unsigned char in[96], dec[96 * 6];
	unsigned seed = 12345;
	size_t n, dlen;
	char *out;
	int iter;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		n = random_bytes(in, sizeof(in), &seed);
		out = json_escape((const char *)in, n);
		assert_int_equal(json_decode((unsigned char *)out, strlen(out),
		    dec, &dlen), 0);
		assert_int_equal(dlen, n);
		assert_memory_equal(dec, in, n);
		free(out);
	}
}

/* ---- text escaping ---------------------------------------------------- */

static const struct esc_case text_cases[] = {
	C("", ""),
	C("a\nb\x1b[31m", "a\\x0ab\\x1b[31m"),
	C("tab\there\r", "tab\\x09here\\x0d"),
	C("\x7f\x01", "\\x7f\\x01"),
	C("back\\slash", "back\\\\slash"),
	C("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
	/* Invalid UTF-8, byte by byte. */
	C("caf\xe9", "caf\\xe9"),
	C("\xc0\x80", "\\xc0\\x80"),
	C("\xed\xa0\x80", "\\xed\\xa0\\x80"),
	C("\xe2\x82", "\\xe2\\x82"),
	C("\xff", "\\xff"),
	/* C1 control (CSI) and the line separator, valid but unsafe. */
	C("\xc2\x9b" "2J", "\\xc2\\x9b2J"),
	C("\xe2\x80\xa8", "\\xe2\\x80\\xa8"),
	/* Bidi: right-to-left override, isolates, marks. */
	C("evil\xe2\x80\xaetxt.exe", "evil\\xe2\\x80\\xaetxt.exe"),
	C("\xe2\x81\xa6x\xe2\x81\xa9", "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9"),
	C("\xe2\x80\x8f\xd8\x9c", "\\xe2\\x80\\x8f\\xd8\\x9c"),
	/* Neighbours of the unsafe ranges stay as they are. */
	C("\xc2\xa0\xe2\x80\xa7\xe2\x80\xaf", "\xc2\xa0\xe2\x80\xa7\xe2\x80\xaf"),
};

static void
test_text_escape_table(void **state)
{
	size_t i;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		out = text_escape(text_cases[i].in, text_cases[i].len);
		if (strcmp(out, text_cases[i].out) != 0)
			print_error("case %zu: got %s want %s\n", i, out,
			    text_cases[i].out);
		assert_string_equal(out, text_cases[i].out);
		free(out);
	}
}

/* ---- time ------------------------------------------------------------- */

static void
test_format_time(void **state)
{
	static const struct {
		int64_t t;
		const char *s;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ 1559304794, "2019-05-31T12:13:14Z" },
		{ 951868799, "2000-02-29T23:59:59Z" },
		{ -1, "1969-12-31T23:59:59Z" },
		{ -62167219200LL, "0000-01-01T00:00:00Z" },
		{ -62167219201LL, "0000-01-01T00:00:00Z" },
		{ 253402300799LL, "9999-12-31T23:59:59Z" },
		{ 253402300800LL, "9999-12-31T23:59:59Z" },
		{ INT64_MAX, "9999-12-31T23:59:59Z" },
		{ INT64_MIN, "0000-01-01T00:00:00Z" },
	};
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		cbp_format_time(cases[i].t, buf);
		assert_string_equal(buf, cases[i].s);
	}
}

/* Milliseconds in the summary: rounding carries into the seconds. */
static void
test_summary_times(void **state)
{
	struct cbp_summary s;
	char *out;

	(void)state;
	summary_example(&s);
	s.started = 1795981839.9996;
	s.finished = NAN;		/* must still be valid JSON */
	s.elapsed_s = INFINITY;
	out = jsonl_of(NULL, NULL, &s);
	assert_non_null(strstr(out, "\"started\":\"2026-11-29T19:50:40.000Z\""));
	assert_non_null(strstr(out, "\"finished\":\"1970-01-01T00:00:00.000Z\""));
	assert_non_null(strstr(out, "\"elapsed_s\":0.000,"));
	free(out);
	s.started = -0.5;
	s.finished = 1e300;
	out = jsonl_of(NULL, NULL, &s);
	assert_non_null(strstr(out, "\"started\":\"1969-12-31T23:59:59.500Z\""));
	assert_non_null(strstr(out, "\"finished\":\"9999-12-31T23:59:59.000Z\""));
	free(out);
}

/* ---- record enums ----------------------------------------------------- */

static void
test_names(void **state)
{
	static const char *const sev[] = { "info", "low", "medium", "high", "critical" };
	enum cbp_severity v;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_string_equal(cbp_severity_name((enum cbp_severity)i), sev[i]);
		assert_int_equal(cbp_severity_parse(sev[i], &v), CBP_OK);
		assert_int_equal(v, (int)i);
	}
	assert_int_equal(cbp_severity_parse("HIGH", &v), CBP_EINVAL);
	assert_int_equal(cbp_severity_parse("", &v), CBP_EINVAL);
	assert_int_equal(cbp_severity_parse(NULL, &v), CBP_EINVAL);
	assert_string_equal(cbp_severity_name((enum cbp_severity)99), "unknown");

	assert_string_equal(cbp_disposition_name(CBP_DISP_VIOLATION), "violation");
	assert_string_equal(cbp_disposition_name(CBP_DISP_RETENTION), "retention");
	assert_string_equal(cbp_disposition_name(CBP_DISP_AUTHORIZED), "authorized");
	assert_string_equal(cbp_disposition_name(CBP_DISP_REVIEW), "review");

	assert_string_equal(cbp_reason_name(CBP_REASON_ENCRYPTED), "encrypted");
	assert_string_equal(cbp_reason_name(CBP_REASON_LIMIT), "limit");
	assert_string_equal(cbp_reason_name(CBP_REASON_CORRUPT), "corrupt");
	assert_string_equal(cbp_reason_name(CBP_REASON_PERMISSION), "permission");
	assert_string_equal(cbp_reason_name(CBP_REASON_IO), "io");
	assert_string_equal(cbp_reason_name(CBP_REASON_TIMEOUT), "timeout");
}

static void
test_reason_from_err(void **state)
{
	int code;

	(void)state;
	assert_int_equal(cbp_reason_from_err(CBP_EPERM), CBP_REASON_PERMISSION);
	assert_int_equal(cbp_reason_from_err(CBP_ETRUNC), CBP_REASON_CORRUPT);
	assert_int_equal(cbp_reason_from_err(CBP_ECORRUPT), CBP_REASON_CORRUPT);
	assert_int_equal(cbp_reason_from_err(CBP_ELIMIT), CBP_REASON_LIMIT);
	assert_int_equal(cbp_reason_from_err(CBP_ENOMEM), CBP_REASON_NOMEM);
	assert_int_equal(cbp_reason_from_err(CBP_ECHANGED), CBP_REASON_CHANGED);
	assert_int_equal(cbp_reason_from_err(CBP_EENCRYPTED), CBP_REASON_ENCRYPTED);
	assert_int_equal(cbp_reason_from_err(CBP_ETIMEOUT), CBP_REASON_TIMEOUT);
	assert_int_equal(cbp_reason_from_err(CBP_EIO), CBP_REASON_IO);
	assert_int_equal(cbp_reason_from_err(CBP_EUNSUPPORTED), CBP_REASON_IO);
	assert_int_equal(cbp_reason_from_err(-1), CBP_REASON_IO);
	/* Every code maps to a reason with a name. */
	for (code = 0; code < CBP_ERR_MAX; code++)
		assert_non_null(cbp_reason_name(cbp_reason_from_err(code)));
}

/* The disposition alone decides (docs/contract.md), whatever the severity. */
static void
test_is_violation(void **state)
{
	struct cbp_finding f;
	int s, d;

	(void)state;
	memset(&f, 0, sizeof(f));
	for (s = CBP_SEV_INFO; s <= CBP_SEV_CRITICAL; s++) {
		for (d = CBP_DISP_VIOLATION; d <= CBP_DISP_REVIEW; d++) {
			f.severity = (enum cbp_severity)s;
			f.disposition = (enum cbp_disposition)d;
			assert_int_equal(cbp_finding_is_violation(&f),
			    d == CBP_DISP_VIOLATION || d == CBP_DISP_RETENTION);
		}
	}
}

/* Low and info are "review" wherever they are; the location decides the rest. */
static void
test_disposition_for(void **state)
{
	int s;

	(void)state;
	for (s = CBP_SEV_INFO; s <= CBP_SEV_CRITICAL; s++) {
		enum cbp_severity v = (enum cbp_severity)s;
		int low = s < CBP_SEV_MEDIUM;

		assert_int_equal(cbp_disposition_for(v, 0, 0),
		    low ? CBP_DISP_REVIEW : CBP_DISP_VIOLATION);
		assert_int_equal(cbp_disposition_for(v, 1, 1),
		    low ? CBP_DISP_REVIEW : CBP_DISP_AUTHORIZED);
		assert_int_equal(cbp_disposition_for(v, 1, 0),
		    low ? CBP_DISP_REVIEW : CBP_DISP_RETENTION);
	}
}

/* ---- record ids and counts -------------------------------------------- */

/* The quoted value of key in line, copied to out. */
static void
field(const char *line, const char *key, char *out, size_t outsz)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	assert_non_null(p = strstr(line, pat));
	p += strlen(pat);
	assert_non_null(e = strchr(p, '"'));
	assert_true((size_t)(e - p) < outsz);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

/*
 * The same finding twice in one run (an archive with two members of one
 * name) keeps its object_id but gets a new event_id (seq 1); an
 * unscannable record of the same object is another key; a different run
 * (scan id) gives new event ids and the same object ids; another host id
 * gives new object ids.
 */
static void
test_record_ids(void **state)
{
	struct cbp_output o;
	struct cbp_finding f;
	struct cbp_problem p;
	struct capture c;
	char ev[3][64], obj[3][64], line2[64], *l[4], *save = NULL;
	int i;

	(void)state;
	finding_with_members(&f);
	problem_example(&p);
	p.path = f.path;
	p.member = f.member;
	p.nmember = f.nmember;
	for (i = 0; i < 3; i++) {
		capture_open(&c);
		assert_int_equal(cbp_output_init(&o), CBP_OK);
		identify(&o);
		if (i == 1)
			assert_int_equal(cbp_output_identify(&o,
			    "00000000-0000-4000-8000-000000000001", "auditbox",
			    HOST_ID), CBP_OK);
		if (i == 2)
			assert_int_equal(cbp_output_identify(&o, SCAN_ID,
			    "renamed", "00000000-0000-4000-8000-000000000002"), CBP_OK);
		assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(c.fp)), CBP_OK);
		cbp_output_finding(&o, &f);
		cbp_output_finding(&o, &f);
		cbp_output_problem(&o, &p);
		assert_int_equal(cbp_output_close(&o), CBP_OK);
		capture_close(&c);
		l[0] = strtok_r(c.data, "\n", &save);
		l[1] = strtok_r(NULL, "\n", &save);
		l[2] = strtok_r(NULL, "\n", &save);
		assert_non_null(l[2]);
		field(l[0], "event_id", ev[i], sizeof(ev[i]));
		field(l[0], "object_id", obj[i], sizeof(obj[i]));
		field(l[1], "object_id", line2, sizeof(line2));
		assert_string_equal(line2, obj[i]);
		field(l[1], "event_id", line2, sizeof(line2));
		assert_string_not_equal(line2, ev[i]);
		if (i == 0) {
			/* seq 1 of the finding, seq 0 of the problem (conftest). */
			assert_string_equal(line2, "a9dd05a3-bc8e-88e5-bade-7b08e527c2bc");
			field(l[2], "object_id", line2, sizeof(line2));
			assert_string_equal(line2, "dd521acb-bd8c-8cd1-8c66-f7ceaa4a4f0f");
		}
		field(l[2], "object_id", line2, sizeof(line2));
		assert_string_not_equal(line2, obj[i]);
		free(c.data);
		save = NULL;
	}
	assert_string_equal(ev[0], "b29d3d80-5919-8b40-996c-9e5a85336469");
	assert_string_not_equal(ev[1], ev[0]);		/* another run */
	assert_string_equal(obj[1], obj[0]);		/* same object and rule */
	assert_string_not_equal(obj[2], obj[0]);	/* another host */
}

static void
test_identify_checks(void **state)
{
	struct cbp_output o;

	(void)state;
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	assert_int_equal(cbp_output_identify(&o, "not-a-uuid", "h", HOST_ID), CBP_EINVAL);
	assert_int_equal(cbp_output_identify(&o, SCAN_ID, "h",
	    "5B0E7C1D-2F4A-4C3B-9D8E-1A2B3C4D5E6F"), CBP_EINVAL);
	assert_int_equal(cbp_output_identify(&o, SCAN_ID, NULL, HOST_ID), CBP_EINVAL);
	assert_int_equal(cbp_output_close(&o), CBP_OK);
}

/* UUID helpers: v4 is random and well formed; v8 from a digest is fixed. */
static void
test_uuids(void **state)
{
	unsigned char d[32];
	char a[37], b[37];
	int i;

	(void)state;
	cbp_uuid_v4(a);
	cbp_uuid_v4(b);
	assert_true(cbp_uuid_valid(a) && cbp_uuid_valid(b));
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
	for (i = 0; i < 32; i++)
		d[i] = (unsigned char)(0xff - i);
	cbp_uuid_from_sha256(d, a);
	assert_string_equal(a, "fffefdfc-fbfa-89f8-b7f6-f5f4f3f2f1f0");
	assert_false(cbp_uuid_valid("fffefdfc-fbfa-89f8-b7f6-f5f4f3f2f1f"));
	assert_false(cbp_uuid_valid("fffefdfc-fbfa-89f8-b7f6-f5f4f3f2f1f00"));
	assert_false(cbp_uuid_valid("fffefdfcxfbfa-89f8-b7f6-f5f4f3f2f1f0"));
	assert_false(cbp_uuid_valid(NULL));
}

/*
 * The counts the summary takes: every finding by severity and
 * disposition, violations exactly the violation and retention ones,
 * unscannable records apart.
 */
static void
test_counts(void **state)
{
	static const struct { int sev, disp; } mix[] = {
		{ CBP_SEV_LOW, CBP_DISP_REVIEW }, { CBP_SEV_LOW, CBP_DISP_REVIEW },
		{ CBP_SEV_MEDIUM, CBP_DISP_VIOLATION }, { CBP_SEV_HIGH, CBP_DISP_RETENTION },
		{ CBP_SEV_INFO, CBP_DISP_AUTHORIZED }, { CBP_SEV_CRITICAL, CBP_DISP_VIOLATION },
	};
	struct cbp_output o;
	struct cbp_output_counts n;
	struct cbp_finding f;
	struct cbp_problem p;
	struct capture c;
	size_t i;

	(void)state;
	capture_open(&c);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	identify(&o);
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(c.fp)), CBP_OK);
	finding_with_members(&f);
	problem_example(&p);
	for (i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
		f.severity = (enum cbp_severity)mix[i].sev;
		f.disposition = (enum cbp_disposition)mix[i].disp;
		cbp_output_finding(&o, &f);
	}
	cbp_output_problem(&o, &p);
	cbp_output_get_counts(&o, &n);
	assert_int_equal(n.findings, 6);
	assert_int_equal(n.violations, 3);
	assert_int_equal(n.unscannable, 1);
	assert_int_equal(n.severity[CBP_SEV_LOW], 2);
	assert_int_equal(n.severity[CBP_SEV_MEDIUM], 1);
	assert_int_equal(n.severity[CBP_SEV_HIGH], 1);
	assert_int_equal(n.severity[CBP_SEV_CRITICAL], 1);
	assert_int_equal(n.severity[CBP_SEV_INFO], 1);
	assert_int_equal(n.disposition[CBP_DISP_REVIEW], 2);
	assert_int_equal(n.disposition[CBP_DISP_AUTHORIZED], 1);
	assert_int_equal(cbp_output_close(&o), CBP_OK);
	capture_close(&c);
	free(c.data);
}

/* The JSON writer on its own gives the JSON Lines record without "\n". */
static void
test_json_record(void **state)
{
	struct cbp_finding f;
	struct cbp_output_record rec = { .type = CBP_OUT_FINDING };
	struct cbp_dynbuf b;
	char *line, *obj;

	(void)state;
	finding_with_members(&f);
	line = jsonl_of(&f, NULL, NULL);
	/* The sink wrote a stamped copy; stamp ours the same way. */
	memcpy(f.meta.time, "2026-11-29T19:50:40.250Z", 25);
	f.meta.scan_id = SCAN_ID;
	f.meta.host = "auditbox";
	f.meta.host_id = HOST_ID;
	memcpy(f.meta.event_id, "b29d3d80-5919-8b40-996c-9e5a85336469", 37);
	memcpy(f.meta.object_id, "52f6a562-a935-84b0-8984-5866eec55252", 37);
	rec.u.finding = &f;
	cbp_dynbuf_init(&b, 1 << 20);
	assert_int_equal(cbp_json_record(&b, &rec), CBP_OK);
	assert_int_equal(cbp_dynbuf_addc(&b, '\0'), CBP_OK);
	obj = (char *)cbp_dynbuf_take(&b, NULL);
	assert_int_equal(strlen(line), strlen(obj) + 1);
	assert_int_equal(strncmp(line, obj, strlen(obj)), 0);
	assert_string_equal(cbp_output_type_name(CBP_OUT_PROBLEM), "unscannable");
	free(obj);
	free(line);
}

/* Review findings are shown as such in text. */
static void
test_text_review(void **state)
{
	struct cbp_finding f;
	char *out;

	(void)state;
	finding_plain(&f);
	f.path = "/r";
	f.severity = CBP_SEV_LOW;
	f.disposition = CBP_DISP_REVIEW;
	out = text_of(0, &f, NULL, NULL);
	assert_string_equal(out,
	    "low      cbp.traveler.mrz                   /r  [review]\n");
	free(out);
}

/* ---- fan-out and errors ----------------------------------------------- */

/* A full disk: the write fails, the first error is kept, other sinks
 * still get the record; the failing sink stops, the caller's cancel flag
 * is set, and every record it did not take is counted. */
static void
test_write_error_full(void **state)
{
	struct cbp_output o;
	struct cbp_finding f;
	struct capture c;
	volatile int cancel = 0;
	FILE *full;

	(void)state;
	if ((full = fopen("/dev/full", "w")) == NULL)
		skip();
	finding_with_members(&f);
	capture_open(&c);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	o.cancel = &cancel;
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(full)), CBP_OK);
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(c.fp)), CBP_OK);
	cbp_output_finding(&o, &f);
	assert_int_equal(o.first_error, CBP_EIO);
	assert_int_equal(o.write_errno, ENOSPC);
	assert_int_equal(cancel, 1);
	cbp_output_finding(&o, &f);
	assert_int_equal(cbp_output_close(&o), CBP_EIO);
	assert_int_equal(o.lost, 2);
	assert_int_equal(o.write_errno, ENOSPC);
	capture_close(&c);
	assert_non_null(strstr(c.data, "}\n{\"type\":\"finding\""));
	free(c.data);
	fclose(full);
}

/* A reader that went away: EPIPE (SIGPIPE ignored, as main.c does); the
 * scan is cancelled so that "cbpscan scan / | head -1" stops at once. */
static void
test_write_error_pipe(void **state)
{
	struct cbp_output o;
	struct cbp_summary s;
	volatile int cancel = 0;
	void (*old)(int);
	int fds[2];
	FILE *w;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	old = signal(SIGPIPE, SIG_IGN);
	w = fdopen(fds[1], "w");
	assert_non_null(w);
	summary_example(&s);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	o.cancel = &cancel;
	assert_int_equal(cbp_output_add(&o, cbp_sink_text_new(w, 0)), CBP_OK);
	cbp_output_summary(&o, &s);
	assert_int_equal(cancel, 1);
	assert_int_equal(o.write_errno, EPIPE);
	assert_int_equal(cbp_output_close(&o), CBP_EIO);
	assert_int_equal(o.lost, 1);
	fclose(w);
	signal(SIGPIPE, old);
}

/* Every line of path a whole JSON Lines record; returns how many. */
static int
whole_lines(const char *path)
{
	char line[8192];
	FILE *fp = fopen(path, "r");
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t len = strlen(line);
		assert_true(len > 2 && line[len - 1] == '\n');
		assert_int_equal(strncmp(line, "{\"type\":\"finding\",", 18), 0);
		assert_int_equal(strcmp(line + len - 28, ",\"disposition\":\"violation\"}\n"), 0);
		n++;
	}
	fclose(fp);
	return n;
}

/*
 * A regular file that fills up in the middle of a record (RLIMIT_FSIZE:
 * the kernel writes up to the limit, then refuses with EFBIG, just as a
 * full disk gives a short write and then ENOSPC).  The part of the record
 * that went out is taken back, so the file ends with the last whole
 * record; raising the limit again ("space comes back") writes nothing
 * more, so no cut or later line can sit among the valid ones.  The text
 * sink shares the same writer.
 */
static void
test_write_partial_taken_back(void **state)
{
	char path[] = "/tmp/cbp-output-XXXXXX";
	struct rlimit old_rl, rl;
	struct cbp_output o;
	struct cbp_finding f;
	struct stat st;
	volatile int cancel = 0;
	void (*old_sig)(int);
	FILE *fp;
	int fd, i, lines;

	(void)state;
	finding_with_members(&f);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
	old_sig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	o.cancel = &cancel;
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(fp)), CBP_OK);
	rl = old_rl;
	rl.rlim_cur = 1000;		/* not a multiple of a record's length */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < 10; i++)
		cbp_output_finding(&o, &f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
	for (i = 0; i < 3; i++)
		cbp_output_finding(&o, &f);
	assert_int_equal(cbp_output_close(&o), CBP_EIO);
	signal(SIGXFSZ, old_sig);
	assert_int_equal(o.write_errno, EFBIG);
	assert_int_equal(cancel, 1);
	assert_int_equal(fstat(fd, &st), 0);
	lines = whole_lines(path);
	assert_true(lines >= 1 && lines < 10);
	assert_int_equal(o.lost, 13 - lines);
	assert_true(st.st_size < 1000 && st.st_size % lines == 0);
	fclose(fp);
	unlink(path);
}

/* The same through a descriptor opened O_APPEND (--append). */
static void
test_write_partial_append(void **state)
{
	char path[] = "/tmp/cbp-output-XXXXXX";
	struct rlimit old_rl, rl;
	struct cbp_output o;
	struct cbp_finding f;
	void (*old_sig)(int);
	FILE *fp;
	int fd, i, lines;

	(void)state;
	finding_with_members(&f);
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	/* One whole record already there, as from an earlier run. */
	assert_non_null(fp = fopen(path, "a"));
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(fp)), CBP_OK);
	cbp_output_finding(&o, &f);
	assert_int_equal(cbp_output_close(&o), CBP_OK);
	fclose(fp);
	assert_non_null(fp = fopen(path, "a"));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
	old_sig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(fp)), CBP_OK);
	rl = old_rl;
	rl.rlim_cur = 1500;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < 10; i++)
		cbp_output_finding(&o, &f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
	assert_int_equal(cbp_output_close(&o), CBP_EIO);
	signal(SIGXFSZ, old_sig);
	lines = whole_lines(path);
	assert_true(lines >= 2 && lines < 11);
	assert_int_equal(o.lost, 11 - lines);
	fclose(fp);
	unlink(path);
}

static void
test_add_limits(void **state)
{
	struct cbp_output o;
	struct capture c;
	int i;

	(void)state;
	capture_open(&c);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	assert_int_equal(cbp_output_add(&o, NULL), CBP_ENOMEM);
	for (i = 0; i < CBP_OUTPUT_SINKS; i++)
		assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(c.fp)), CBP_OK);
	/* Full: the extra sink is closed here (ASan would see a leak). */
	assert_int_equal(cbp_output_add(&o, cbp_sink_text_new(c.fp, 0)), CBP_ELIMIT);
	assert_int_equal(cbp_output_close(&o), CBP_OK);
	capture_close(&c);
	free(c.data);
	assert_null(cbp_sink_jsonl_new(NULL));
	assert_null(cbp_sink_text_new(NULL, 0));
}

/* A record over the cap is dropped whole; the next one is written. */
static void
test_record_cap(void **state)
{
	struct cbp_output o;
	struct cbp_finding f;
	struct capture c;
	size_t n = 17 * 1024 * 1024;
	char *big;

	(void)state;
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'p', n);
	big[n] = '\0';
	capture_open(&c);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(c.fp)), CBP_OK);
	assert_int_equal(cbp_output_add(&o, cbp_sink_text_new(c.fp, 0)), CBP_OK);
	finding_plain(&f);
	f.path = big;
	cbp_output_finding(&o, &f);
	assert_int_equal(o.first_error, CBP_ELIMIT);
	f.path = "/small";
	cbp_output_finding(&o, &f);
	assert_int_equal(cbp_output_close(&o), CBP_ELIMIT);
	capture_close(&c);
	assert_int_equal(strncmp(c.data, "{\"type\":\"finding\"", 17), 0);
	assert_non_null(strstr(c.data, "\"path\":\"/small\""));
	assert_null(strstr(c.data, "ppp"));
	free(c.data);
	free(big);
}

/* Many threads emitting at once: every line whole, none lost. */
#define THREADS 8
#define PER_THREAD 400

static void *
emit_thread(void *arg)
{
	struct cbp_output *o = ((void **)arg)[0];
	int id = *(int *)((void **)arg)[1];
	struct cbp_finding f;
	char path[64];
	int i;

	finding_with_members(&f);
	for (i = 0; i < PER_THREAD; i++) {
		snprintf(path, sizeof(path), "/t/%d/%d", id, i);
		f.path = path;
		cbp_output_finding(o, &f);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct cbp_output o;
	struct capture cj, ct;
	pthread_t tid[THREADS];
	void *args[THREADS][2];
	int ids[THREADS], i, lines = 0;
	char *line, *save = NULL;
	char expect_tail[512];

	(void)state;
	capture_open(&cj);
	capture_open(&ct);
	assert_int_equal(cbp_output_init(&o), CBP_OK);
	assert_int_equal(cbp_output_add(&o, cbp_sink_jsonl_new(cj.fp)), CBP_OK);
	assert_int_equal(cbp_output_add(&o, cbp_sink_text_new(ct.fp, 0)), CBP_OK);
	for (i = 0; i < THREADS; i++) {
		ids[i] = i;
		args[i][0] = &o;
		args[i][1] = &ids[i];
		assert_int_equal(pthread_create(&tid[i], NULL, emit_thread, args[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	assert_int_equal(cbp_output_close(&o), CBP_OK);
	capture_close(&cj);
	capture_close(&ct);

	snprintf(expect_tail, sizeof(expect_tail),
	    "\"member\":[\"exports/2019.zip\",\"lane07/0001.jpg\"],\"size\":48213,");
	for (line = strtok_r(cj.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(strncmp(line, "{\"type\":\"finding\",", 18), 0);
		assert_non_null(strstr(line, expect_tail));
		assert_string_equal(line + strlen(line) - 27,
		    ",\"disposition\":\"violation\"}");
		lines++;
	}
	assert_int_equal(lines, THREADS * PER_THREAD);
	lines = 0;
	save = NULL;
	for (line = strtok_r(ct.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(strncmp(line, "high     cbp.plate.lpr-record", 29), 0);
		lines++;
	}
	assert_int_equal(lines, THREADS * PER_THREAD);
	free(cj.data);
	free(ct.data);
}

/* A buffer with no cap (SIZE_MAX) grows like any other and refuses an
 * impossible size instead of freeing its data (it used to realloc to 0). */
static void
test_dynbuf_uncapped(void **state)
{
	struct cbp_dynbuf b;
	char chunk[1000];
	int i;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	cbp_dynbuf_init(&b, SIZE_MAX);
	for (i = 0; i < 100; i++)
		assert_int_equal(cbp_dynbuf_add(&b, chunk, sizeof(chunk)), CBP_OK);
	assert_int_equal(b.len, 100 * sizeof(chunk));
	assert_int_not_equal(cbp_dynbuf_add(&b, chunk, SIZE_MAX - 10), CBP_OK);
	assert_int_equal(b.len, 100 * sizeof(chunk));
	assert_int_equal(cbp_dynbuf_add(&b, "y", 1), CBP_OK);
	assert_int_equal(b.data[b.len - 1], 'y');
	cbp_dynbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonl_finding_members),
		cmocka_unit_test(test_jsonl_finding_plain),
		cmocka_unit_test(test_jsonl_problem),
		cmocka_unit_test(test_jsonl_summary),
		cmocka_unit_test(test_jsonl_sequence),
		cmocka_unit_test(test_text_finding),
		cmocka_unit_test(test_text_color),
		cmocka_unit_test(test_text_problem_summary),
		cmocka_unit_test(test_text_quiet),
		cmocka_unit_test(test_json_escape_table),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_text_escape_table),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_summary_times),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_reason_from_err),
		cmocka_unit_test(test_is_violation),
		cmocka_unit_test(test_disposition_for),
		cmocka_unit_test(test_record_ids),
		cmocka_unit_test(test_identify_checks),
		cmocka_unit_test(test_uuids),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_json_record),
		cmocka_unit_test(test_text_review),
		cmocka_unit_test(test_write_error_full),
		cmocka_unit_test(test_write_error_pipe),
		cmocka_unit_test(test_write_partial_taken_back),
		cmocka_unit_test(test_write_partial_append),
		cmocka_unit_test(test_add_limits),
		cmocka_unit_test(test_dynbuf_uncapped),
		cmocka_unit_test(test_record_cap),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
