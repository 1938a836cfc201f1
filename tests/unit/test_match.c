/*
 * test_match.c — cbp_match.h: every condition kind true and false, the
 * exact evidence strings, cheap-first evaluation, and the shipped profile
 * (rules/cbp-profile.yaml) on the profile's must / must-not cases.
 *
 * Objects are built in memory (struct cbp_object with mem/mem_len), read
 * with cbp_read_head and identified with the real libmagic handles
 * (cbpscan.mgc: $CBPSCAN_MAGIC, else next to the test binary's build dir;
 * the tests skip when it cannot be found).
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

#include "cbp_err.h"
#include "cbp_facts.h"
#include "cbp_identify.h"
#include "cbp_limits.h"
#include "cbp_match.h"
#include "cbp_object.h"
#include "cbp_rules.h"

static struct cbp_identify *g_id;

/* Without cbpscan.mgc nothing here can run: skip, before allocating. */
/* Under `make` (CBP_TEST_STRICT=1) a missing database is a failure, not a skip. */
#define NEED_ID() do { if (g_id == NULL) { \
	if (getenv("CBP_TEST_STRICT") != NULL) fail_msg("cbpscan.mgc not found"); \
	skip(); } } while (0)
static const struct cbp_scan_caps g_caps = { CBP_LOAD_MAX, CBP_CARVE_MAX, CBP_HASH_MAX, NULL, 0 };

/* ---- building objects --------------------------------------------------------- */

struct bb {
	unsigned char *d;
	size_t n, cap;
};

static void
bb_add(struct bb *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->d = realloc(b->d, b->cap);
		assert_non_null(b->d);
	}
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void
bb_byte(struct bb *b, unsigned v)
{
	unsigned char c = (unsigned char)v;

	bb_add(b, &c, 1);
}

static void
bb_be16(struct bb *b, unsigned v)
{
	bb_byte(b, v >> 8);
	bb_byte(b, v & 0xff);
}

static void
bb_be32(struct bb *b, uint32_t v)
{
	bb_be16(b, v >> 16);
	bb_be16(b, v & 0xffff);
}

static void
bb_str(struct bb *b, const char *s)
{
	bb_add(b, s, strlen(s));
}

static void
bb_fill(struct bb *b, int c, size_t n)
{
	while (n-- > 0)
		bb_byte(b, (unsigned)c);
}

/* A JPEG segment: marker, length, payload. */
static void
jpeg_seg(struct bb *b, unsigned marker, const void *p, size_t n)
{
	bb_byte(b, 0xFF);
	bb_byte(b, marker);
	bb_be16(b, (unsigned)n + 2);
	bb_add(b, p, n);
}

/* A JPEG of w x h with optional COM and XMP text (no image data). */
static struct bb
jpeg(unsigned w, unsigned h, const char *com, const char *xmp)
{
	static const unsigned char comps[] = { 0x03, 0x01, 0x22, 0x00, 0x02,
	    0x11, 0x01, 0x03, 0x11, 0x01 };
	struct bb b = { 0 }, sof = { 0 }, x = { 0 };

	bb_byte(&b, 0xFF);
	bb_byte(&b, 0xD8);
	jpeg_seg(&b, 0xE0, "JFIF\0\1\1\0\0\1\0\1\0\0", 14);
	if (xmp != NULL) {
		bb_add(&x, "http://ns.adobe.com/xap/1.0/", 29);
		bb_str(&x, xmp);
		jpeg_seg(&b, 0xE1, x.d, x.n);
		free(x.d);
	}
	if (com != NULL)
		jpeg_seg(&b, 0xFE, com, strlen(com));
	bb_byte(&sof, 8);
	bb_be16(&sof, h);
	bb_be16(&sof, w);
	bb_add(&sof, comps, sizeof(comps));
	jpeg_seg(&b, 0xC0, sof.d, sof.n);
	free(sof.d);
	bb_byte(&b, 0xFF);
	bb_byte(&b, 0xD9);
	return b;
}

/* A JPEG with an Exif IFD0 holding Make (and nothing else). */
static struct bb
jpeg_exif_make(unsigned w, unsigned h, const char *make)
{
	struct bb b = jpeg(w, h, NULL, NULL), e = { 0 }, out = { 0 };
	size_t ml = strlen(make) + 1;

	bb_add(&e, "Exif\0\0II*\0\x08\0\0\0", 14);
	bb_add(&e, "\x01\x00", 2);		/* one entry */
	bb_add(&e, "\x0F\x01\x02\x00", 4);	/* Make, ASCII */
	bb_byte(&e, (unsigned)ml);
	bb_add(&e, "\0\0\0", 3);
	bb_add(&e, "\x1A\0\0\0", 4);		/* value at TIFF offset 26 */
	bb_add(&e, "\0\0\0\0", 4);		/* no IFD1 */
	bb_add(&e, make, ml);
	/* SOI, then APP1 Exif, then the rest. */
	bb_add(&out, b.d, 2);
	jpeg_seg(&out, 0xE1, e.d, e.n);
	bb_add(&out, b.d + 2, b.n - 2);
	free(b.d);
	free(e.d);
	return out;
}

/* A PNG of w x h with one tEXt chunk (CRCs are not checked by the parser). */
static struct bb
png(unsigned w, unsigned h, const char *key, const char *text)
{
	struct bb b = { 0 };

	bb_add(&b, "\x89PNG\r\n\x1a\n", 8);
	bb_be32(&b, 13);
	bb_str(&b, "IHDR");
	bb_be32(&b, w);
	bb_be32(&b, h);
	bb_add(&b, "\x08\x02\x00\x00\x00", 5);
	bb_be32(&b, 0);
	if (key != NULL) {
		bb_be32(&b, (uint32_t)(strlen(key) + 1 + strlen(text)));
		bb_str(&b, "tEXt");
		bb_add(&b, key, strlen(key) + 1);
		bb_str(&b, text);
		bb_be32(&b, 0);
	}
	bb_be32(&b, 0);
	bb_str(&b, "IEND");
	bb_be32(&b, 0xAE426082);
	return b;
}

/* docs/formats.md 3.1: 50-byte 2005 record, one 480x640 JPEG. */
static const unsigned char iso05[50] = {
	0x46, 0x41, 0x43, 0x00, 0x30, 0x31, 0x30, 0x00, 0x00, 0x00, 0x00, 0x32,
	0x00, 0x01,
	0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0xE0, 0x02, 0x80, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
	0xFF, 0xD8, 0xFF, 0xD9,
};

#define GS "\x1D"
#define FS "\x1C"
#define RS "\x1E"
#define US "\x1F"

/* docs/formats.md 4.4: Type-1 (132 bytes) + Type-10 (159 bytes). */
static const char an2[] =
    "1.001:132" GS "1.002:0400" GS "1.003:1" US "1" RS "10" US "01" GS
    "1.004:CAR" GS "1.005:20240101" GS "1.007:DAI000000" GS
    "1.008:ORI000000" GS "1.009:TCN0001" GS "1.011:00.00" GS
    "1.012:00.00" FS
    "10.001:159" GS "10.002:01" GS "10.003:FACE" GS "10.004:AGENCY01" GS
    "10.005:20240101" GS "10.006:480" GS "10.007:640" GS "10.008:0" GS
    "10.009:1" GS "10.010:1" GS "10.011:JPEGB" GS "10.012:YCC" GS
    "10.020:F" GS "10.999:\xFF\xD8\xFF\xD9" FS;

static struct bb
bytes_of(const void *p, size_t n)
{
	struct bb b = { 0 };

	bb_add(&b, p, n);
	return b;
}

static struct bb
text(const char *s)
{
	return bytes_of(s, strlen(s));
}

/* ---- running rules ----------------------------------------------------------------- */

#define MAX_HITS 16

struct hits {
	int n;
	char id[MAX_HITS][64];
	char ev[MAX_HITS][CBP_EVIDENCE_MAX + 1];
	enum cbp_severity sev[MAX_HITS];
	int stop_after;
};

static int
on_hit(void *arg, const struct cbp_rule_hit *h)
{
	struct hits *x = arg;

	assert_non_null(h->id);
	if (h->evidence != NULL) {
		assert_true(strlen(h->evidence) < CBP_EVIDENCE_MAX);
	}
	if (x->n < MAX_HITS) {
		snprintf(x->id[x->n], sizeof(x->id[0]), "%s", h->id);
		snprintf(x->ev[x->n], sizeof(x->ev[0]), "%s",
		    h->evidence != NULL ? h->evidence : "(null)");
		x->sev[x->n] = h->severity;
	}
	x->n++;
	return x->stop_after && x->n >= x->stop_after ? 42 : 0;
}

struct run {
	struct cbp_object o;
	struct cbp_facts f;
	struct hits h;
	int rc;
};

static void
diag_fail(void *arg, const char *file, int line, int col, const char *msg)
{
	fail_msg("%s:%d:%d: %s", file, line, col, msg);
}

static struct cbp_ruleset *
ruleset(const char *yaml)
{
	struct cbp_ruleset *rs = cbp_ruleset_new();

	assert_int_equal(cbp_ruleset_load_string(rs, "t.yaml", yaml,
	    strlen(yaml), diag_fail, NULL), CBP_OK);
	assert_int_equal(cbp_ruleset_compile(rs, diag_fail, NULL), CBP_OK);
	return rs;
}

/* Match rs against data named name; the caller frees with run_done. */
static void
run_rs(struct run *r, const struct cbp_ruleset *rs, const char *name,
    const struct bb *data)
{
	struct cbp_matcher *m;
	struct cbp_error e = { 0 };

	assert_non_null(g_id);
	memset(&r->h, 0, sizeof(r->h));
	cbp_object_init(&r->o);
	r->o.path = "/srv/x";
	r->o.name = name;
	r->o.size = data->n;
	r->o.mem = data->d != NULL ? data->d : (const unsigned char *)"";
	r->o.mem_len = data->n;
	assert_int_equal(cbp_read_head(&r->o, CBP_HEAD_BYTES, &e), CBP_OK);
	cbp_facts_init(&r->f, &r->o, g_id, &g_caps, "/srv/x/name");
	assert_non_null(m = cbp_matcher_new(rs));
	r->rc = cbp_match_object(m, &r->f, on_hit, &r->h);
	cbp_matcher_free(m);
}

static void
run_done(struct run *r)
{
	cbp_facts_free(&r->f);
	cbp_object_release(&r->o);
}

#define RULE(cond)							\
	"mask_keys: [PLATE, DOC_NUM]\n"					\
	"rules:\n"							\
	"  - id: t.x\n"							\
	"    title: T\n"						\
	"    category: plate\n"						\
	"    severity: high\n"						\
	"    when: " cond "\n"

/*
 * One rule with condition cond on data (freed here): assert it matches
 * with exactly evidence want (NULL: do not check), or does not match.
 */
static void
check(const char *cond, const char *name, struct bb data, int match,
    const char *want)
{
	char yaml[4096];
	struct cbp_ruleset *rs;
	struct run r;

	snprintf(yaml, sizeof(yaml), RULE("%s"), cond);
	rs = ruleset(yaml);
	run_rs(&r, rs, name, &data);
	assert_int_equal(r.rc, CBP_OK);
	if (r.h.n != match)
		fail_msg("%s on %s: %s", cond, name, match ? "no match" :
		    "unexpected match");
	if (match && want != NULL && strcmp(r.h.ev[0], want) != 0)
		fail_msg("%s on %s: evidence\n  %s\nwanted\n  %s", cond, name,
		    r.h.ev[0], want);
	run_done(&r);
	cbp_ruleset_free(rs);
	free(data.d);
}

#define assert_match(cond, name, data, want) check(cond, name, data, 1, want)
#define assert_no_match(cond, name, data) check(cond, name, data, 0, NULL)

/* ---- condition kinds ---------------------------------------------------------------- */

static const char contract_com[] =
    "LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7ABC123;ST=CA;CONF=93";

static void
test_mime(void **state)
{
	(void)state;
	NEED_ID();
	assert_match("{mime: 'image/*'}", "a.jpg", jpeg(10, 10, NULL, NULL),
	    "mime: image/jpeg");
	assert_match("{mime: [text/plain, image/png]}", "a", png(4, 4, NULL, NULL),
	    "mime: image/png");
	assert_no_match("{mime: 'image/*'}", "a.jpg", text("PLATE=AB12 PORT=1\n"));
}

static void
test_magic(void **state)
{
	(void)state;
	NEED_ID();
	assert_match("{magic: 'JPEG image data'}", "a", jpeg(10, 10, NULL, NULL),
	    NULL);
	assert_no_match("{magic: 'PNG image'}", "a", jpeg(10, 10, NULL, NULL));
}

static void
test_name_path_size(void **state)
{
	(void)state;
	NEED_ID();
	assert_match("{name: '^LPR_\\d{4}_\\d{2}_\\d{8}T\\d{6}_(?<mask>[A-Z0-9-]{2,10})\\.jpg$'}",
	    "LPR_2304_07_20190531T121314_7ABC123.jpg", text("x"),
	    "name: LPR_2304_07_20190531T121314_7A***23.jpg");
	assert_no_match("{name: '^LPR_'}", "lpr_x.jpg", text("x"));
	assert_match("{name: {regex: '^lpr_', caseless: true}}", "LPR_x.jpg",
	    text("x"), "name: LPR_x.jpg");
	assert_match("{path: '^/srv/x/'}", "n", text("x"), "path: /srv/x/name");
	assert_no_match("{path: '^/home/'}", "n", text("x"));
	assert_match("{size: {min: 3, max: 3}}", "n", text("abc"), "size: 3");
	assert_no_match("{size: {min: 1k}}", "n", text("abc"));
}

static void
test_content(void **state)
{
	struct bb big = { 0 };

	(void)state;
	NEED_ID();
	assert_match("{content: {regex: 'PLATE=\\w+', scope: head}}", "log.txt",
	    text("2019 lane 7 PLATE=7ABC123 seen\n"),
	    "content: match at offset 12: PLATE=7A***23");
	assert_no_match("{content: {regex: 'PLATE=\\d{9}', scope: head}}",
	    "log.txt", text("PLATE=7ABC123\n"));
	/* Binary or long matches are reported by offset only. */
	assert_match("{content: {regex: 'A\\x00B'}}", "b", bytes_of("zzA\0B", 5),
	    "content: match at offset 2");
	/* Past the head: scope head does not see it, scope file does. */
	bb_fill(&big, 'x', CBP_HEAD_BYTES + 100);
	bb_str(&big, "SECRET-MARK");
	assert_no_match("{content: {regex: 'SECRET-MARK', scope: head}}", "b",
	    bytes_of(big.d, big.n));
	assert_match("{content: {regex: 'SECRET-(?<mask>MARK)'}}", "b",
	    bytes_of(big.d, big.n), "content: match at offset 16484: SECRET-****");
	/* ... unless max stops short of it. */
	assert_no_match("{content: {regex: 'SECRET-MARK', max: 16k}}", "b",
	    bytes_of(big.d, big.n));
	free(big.d);
}

static void
test_bytes(void **state)
{
	struct bb big = { 0 };

	(void)state;
	NEED_ID();
	assert_match("{bytes: {hex: '46 41 43 00', offset: 0}}", "r",
	    bytes_of(iso05, sizeof(iso05)), "content: bytes at offset 0");
	assert_no_match("{bytes: {hex: '46 41 43 00', offset: 1}}", "r",
	    bytes_of(iso05, sizeof(iso05)));
	assert_match("{bytes: {hex: 'FF D8 ?? D9', anywhere: true}}", "r",
	    bytes_of(iso05, sizeof(iso05)), "content: bytes at offset 46");
	assert_no_match("{bytes: {hex: 'FF D8 ?? D8', anywhere: true}}", "r",
	    bytes_of(iso05, sizeof(iso05)));
	/* Offsets past the head load content; past the end are false. */
	bb_fill(&big, 0, 20000);
	bb_str(&big, "\xCA\xFE");
	assert_match("{bytes: {hex: 'CAFE', offset: 20000}}", "b",
	    bytes_of(big.d, big.n), "content: bytes at offset 20000");
	assert_no_match("{bytes: {hex: 'CAFE', offset: 20001}}", "b",
	    bytes_of(big.d, big.n));
	assert_match("{bytes: {hex: 'CA FE', anywhere: true, scope: file}}",
	    "b", bytes_of(big.d, big.n), "content: bytes at offset 20000");
	assert_no_match("{bytes: {hex: 'CA FE', anywhere: true, scope: head}}",
	    "b", bytes_of(big.d, big.n));
	free(big.d);
}

static void
test_meta(void **state)
{
	(void)state;
	NEED_ID();
	assert_match("{meta: {fields: [COM], regex: 'PORT=\\d+'}}", "a.jpg",
	    jpeg(640, 480, contract_com, NULL),
	    "COM: LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7A***23;"
	    "ST=CA;CONF=93");
	assert_no_match("{meta: {fields: ['EXIF:*'], regex: 'PORT'}}", "a.jpg",
	    jpeg(640, 480, contract_com, NULL));
	assert_match("{meta: {regex: 'canon', flags: [caseless]}}", "a.jpg",
	    jpeg_exif_make(640, 480, "Canon"), "EXIF:Make: Canon");
	assert_match("{meta: {fields: ['PNG:tEXt:*'], regex: 'hello'}}", "a.png",
	    png(4, 4, "Comment", "say\n\n  hello"),
	    "PNG:tEXt:Comment: say hello");
	assert_no_match("{meta: {regex: 'x'}}", "a.txt", text("x"));
}

static void
test_image(void **state)
{
	(void)state;
	NEED_ID();
	assert_match("{image: {width: {min: 120, max: 800}, aspect: {min: 2.0, max: 6.0}}}",
	    "a.jpg", jpeg(320, 80, NULL, NULL), "image: jpeg 320x80 (aspect 4.00)");
	assert_no_match("{image: {width: {min: 120, max: 800}, aspect: {min: 2.0, max: 6.0}}}",
	    "a.jpg", jpeg(1920, 1080, NULL, NULL));
	assert_match("{image: {format: png}}", "a", png(16, 16, NULL, NULL),
	    "image: png 16x16 (aspect 1.00)");
	assert_no_match("{image: {format: [jpeg, tiff]}}", "a",
	    png(16, 16, NULL, NULL));
	assert_no_match("{image: {height: {min: 1}}}", "a", jpeg(0, 0, NULL, NULL));
	assert_no_match("{image: {}}", "a", text("not an image"));
}

static void
test_record(void **state)
{
	struct bb emb = { 0 };

	(void)state;
	NEED_ID();
	assert_match("{record: {type: iso19794-5}}", "face.bin",
	    bytes_of(iso05, sizeof(iso05)),
	    "ISO/IEC 19794-5 v010 record: faces=1 image=jpeg 480x640");
	assert_match("{record: {type: any, fields: {version: '^010$', faces: '^1$'}}}",
	    "face.bin", bytes_of(iso05, sizeof(iso05)), NULL);
	assert_no_match("{record: {fields: {version: '^030$'}}}", "face.bin",
	    bytes_of(iso05, sizeof(iso05)));
	assert_no_match("{record: {type: ansi-nist}}", "face.bin",
	    bytes_of(iso05, sizeof(iso05)));
	assert_match("{record: {type: ansi-nist}}", "t.an2",
	    bytes_of(an2, sizeof(an2) - 1),
	    "ANSI/NIST-ITL 0400 transaction: TOT=CAR Type-10 IMT=FACE 480x640 "
	    "CGA=JPEGB");
	assert_match("{record: {fields: {'10.003': '^FACE$', '1.004': CAR}}}",
	    "t.an2", bytes_of(an2, sizeof(an2) - 1), NULL);
	/* Embedded: found by carving, not as standalone. */
	bb_fill(&emb, 'z', 1001);
	bb_add(&emb, iso05, sizeof(iso05));
	bb_fill(&emb, 'z', 100);
	assert_no_match("{record: {type: iso19794-5}}", "dump", bytes_of(emb.d, emb.n));
	assert_match("{record: {type: iso19794-5, where: embedded}}", "dump",
	    bytes_of(emb.d, emb.n),
	    "ISO/IEC 19794-5 v010 record at offset 1001: faces=1 image=jpeg 480x640");
	assert_match("{record: {where: any}}", "dump", bytes_of(emb.d, emb.n), NULL);
	assert_no_match("{record: {where: any}}", "fac.txt",
	    text("the FAC\\0 string and FAC 010 in text\n"));
	free(emb.d);
}

#define KV_PLATE							\
	"{kv: {fields: [COM, XMP], require: ["				\
	"{keys: [PLATE, LICENSE_PLATE], value: '^[A-Z0-9 -]{2,10}$'}, "	\
	"{keys: [PORT, LANE]}]}}"

static void
test_kv(void **state)
{
	char longcom[2048];
	size_t o;

	(void)state;
	NEED_ID();
	assert_match(KV_PLATE, "a.jpg", jpeg(640, 480, contract_com, NULL),
	    "COM: LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7A***23;"
	    "ST=CA;CONF=93");
	/* Keys case-insensitive; value regex as written (A-Z only). */
	assert_match(KV_PLATE, "a.jpg", jpeg(640, 480, "plate=AB12|lane=3", NULL),
	    "COM: plate=****|lane=3");
	assert_no_match(KV_PLATE, "a.jpg", jpeg(640, 480, "plate=ab12|lane=3", NULL));
	/* Both entries must be satisfied in the same field. */
	assert_no_match(KV_PLATE, "a.jpg", jpeg(640, 480, "PLATE=AB12", "PORT=1"));
	assert_no_match(KV_PLATE, "a.jpg", jpeg(640, 480, "PLATE=TOOLONGPLATE1 PORT=1", NULL));
	/* XMP elements and attributes. */
	assert_match(KV_PLATE, "a.jpg", jpeg(640, 480, NULL,
	    "<x:xmpmeta><rdf:Description lpr:LANE=\"07\">"
	    "<lpr:PLATE>7ABC123</lpr:PLATE></rdf:Description></x:xmpmeta>"),
	    "XMP: <x:xmpmeta><rdf:Description lpr:LANE=\"07\"><lpr:PLATE>7A***23"
	    "</lpr:PLATE></rdf:Description></x:xmpmeta>");
	/* A long field: the window shows the pair, masked, within the cap. */
	o = (size_t)snprintf(longcom, sizeof(longcom), "NOTE=");
	memset(longcom + o, 'n', 1500);
	o += 1500;
	snprintf(longcom + o, sizeof(longcom) - o, ";PORT=2304;PLATE=7ABC123;END");
	assert_match(KV_PLATE, "a.jpg", jpeg(640, 480, longcom, NULL),
	    "COM: ...PORT=2304;PLATE=7A***23;END");
}

static void
test_composite_evidence(void **state)
{
	(void)state;
	NEED_ID();
	/* all: every positive leaf in evaluation (cheapest-first) order. */
	assert_match("{all: [{image: {format: jpeg}}, {name: 'x'}]}", "x.jpg",
	    jpeg(8, 4, NULL, NULL), "name: x.jpg; image: jpeg 8x4 (aspect 2.00)");
	/* any: only the branch that matched; not: contributes nothing. */
	assert_match("{any: [{name: 'nomatch'}, {all: [{size: {min: 1}}, "
	    "{name: 'q'}]}], not: {name: 'zzz'}}", "q.bin", text("abc"),
	    "name: q.bin");
	/* A failed all drops what its first children added. */
	assert_match("{any: [{all: [{name: 'q'}, {size: {min: 100}}]}, "
	    "{path: 'srv'}]}", "q.bin", text("abc"), "path: /srv/x/name");
	/* Weak items (mime, size) only when nothing else matched. */
	assert_match("{mime: 'image/*', size: {min: 1}}", "a", jpeg(8, 4, NULL, NULL),
	    "mime: image/jpeg; size: 41");
	assert_match("{mime: 'image/*', name: a}", "a", jpeg(8, 4, NULL, NULL),
	    "name: a");
}

/* The cheap condition decides first: the content is never loaded. */
static void
test_cheap_first(void **state)
{
	struct cbp_ruleset *rs;
	struct bb big = { 0 };
	struct run r;

	(void)state;
	NEED_ID();
	bb_fill(&big, 'y', CBP_HEAD_BYTES * 2);
	rs = ruleset(RULE("{all: [{content: {scope: file, regex: 'y'}}, {name: 'x'}]}"));
	run_rs(&r, rs, "other", &big);
	assert_int_equal(r.h.n, 0);
	assert_null(r.o.data);
	run_done(&r);
	run_rs(&r, rs, "x", &big);
	assert_int_equal(r.h.n, 1);
	assert_non_null(r.o.data);
	run_done(&r);
	cbp_ruleset_free(rs);
	/* A name that does not match also keeps metadata and records unread. */
	rs = ruleset(RULE("{any: [{all: [{name: 'x'}, {kv: {require: [{keys: [A]}]}}]}, "
	    "{all: [{name: 'x'}, {record: {where: any}}]}]}"));
	run_rs(&r, rs, "other", &big);
	assert_int_equal(r.f.meta_state, CBP_FACT_UNKNOWN);
	assert_int_equal(r.f.rec_state, CBP_FACT_UNKNOWN);
	assert_int_equal(r.f.carve_state, CBP_FACT_UNKNOWN);
	assert_null(r.o.data);
	run_done(&r);
	cbp_ruleset_free(rs);
	free(big.d);
}

static void
test_regex_limit(void **state)
{
	struct cbp_ruleset *rs;
	struct bb b = { 0 };
	struct run r;

	(void)state;
	NEED_ID();
	bb_fill(&b, 'a', 5000);
	bb_str(&b, "!");
	rs = ruleset(RULE("{content: {regex: '^(a|aa)+$', scope: head}}"));
	run_rs(&r, rs, "n", &b);
	assert_int_equal(r.rc, CBP_OK);
	assert_int_equal(r.h.n, 0);
	assert_int_equal(r.f.problem.code, CBP_ELIMIT);
	run_done(&r);
	cbp_ruleset_free(rs);
	free(b.d);
}

static void
test_hit_stops(void **state)
{
	struct cbp_ruleset *rs;
	struct bb b;
	struct run r;
	struct cbp_matcher *m;
	struct cbp_error e = { 0 };

	(void)state;
	NEED_ID();
	b = text("abc");
	rs = ruleset("rules:\n"
	    "  - {id: a, title: T, category: c, severity: low, when: {name: n}}\n"
	    "  - {id: b, title: T, category: c, severity: low, enabled: false, when: {name: n}}\n"
	    "  - {id: c, title: T, category: c, severity: medium, when: {name: n}}\n");
	run_rs(&r, rs, "n", &b);
	assert_int_equal(r.h.n, 2);
	assert_string_equal(r.h.id[0], "a");
	assert_string_equal(r.h.id[1], "c");
	assert_int_equal(r.h.sev[1], CBP_SEV_MEDIUM);
	run_done(&r);
	/* A non-zero return from hit stops and is returned. */
	memset(&r, 0, sizeof(r));
	r.h.stop_after = 1;
	cbp_object_init(&r.o);
	r.o.name = "n";
	r.o.size = b.n;
	r.o.mem = b.d;
	r.o.mem_len = b.n;
	assert_int_equal(cbp_read_head(&r.o, CBP_HEAD_BYTES, &e), CBP_OK);
	cbp_facts_init(&r.f, &r.o, g_id, &g_caps, "n");
	assert_non_null(m = cbp_matcher_new(rs));
	assert_int_equal(cbp_match_object(m, &r.f, on_hit, &r.h), 42);
	assert_int_equal(r.h.n, 1);
	cbp_matcher_free(m);
	run_done(&r);
	cbp_ruleset_free(rs);
	free(b.d);
	/* An uncompiled ruleset gives no matcher. */
	rs = cbp_ruleset_new();
	assert_null(cbp_matcher_new(rs));
	cbp_ruleset_free(rs);
	cbp_matcher_free(NULL);
}

/* ---- the shipped profile -------------------------------------------------------- */

static struct cbp_ruleset *g_profile;

/* Run the profile on data; return the hits as "id=severity" joined by ' '. */
static void
profile(const char *name, struct bb data, const char *want_ids,
    const char *want_ev0)
{
	char got[1024];
	size_t o = 0;
	struct run r;
	int i;

	assert_non_null(g_profile);
	run_rs(&r, g_profile, name, &data);
	assert_int_equal(r.rc, CBP_OK);
	got[0] = '\0';
	for (i = 0; i < r.h.n && i < MAX_HITS; i++)
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s:%d",
		    i ? " " : "", r.h.id[i], (int)r.h.sev[i]);
	if (strcmp(got, want_ids) != 0)
		fail_msg("%s: hits \"%s\", wanted \"%s\"", name, got, want_ids);
	if (want_ev0 != NULL && strcmp(r.h.ev[0], want_ev0) != 0)
		fail_msg("%s: evidence\n  %s\nwanted\n  %s", name, r.h.ev[0],
		    want_ev0);
	run_done(&r);
	free(data.d);
}

static void
test_profile_plate(void **state)
{
	struct bb trunc;

	(void)state;
	NEED_ID();
	if (g_profile == NULL) {
		if (getenv("CBP_TEST_STRICT") != NULL)
			fail_msg("rules/cbp-profile.yaml did not load");
		skip();
	}
	/* P1, with the contract's evidence. */
	profile("0001.jpg", jpeg(1280, 720, contract_com, NULL),
	    "cbp.plate.lpr-record:3",
	    "COM: LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7A***23;"
	    "ST=CA;CONF=93");
	profile("0002.png", png(1280, 720, "Comment", "PLATE_NUMBER=AB-1234\nCAM=12"),
	    "cbp.plate.lpr-record:3", "PNG:tEXt:Comment: PLATE_NUMBER=AB***34 CAM=12");
	/* P4 alone: low; both together: medium too. */
	profile("LPR_2304_07_20190531T121314_7ABC123.jpg", jpeg(1280, 720, NULL, NULL),
	    "cbp.plate.lpr-filename:1",
	    "name: LPR_2304_07_20190531T121314_7A***23.jpg");
	profile("crop.png", png(320, 80, NULL, NULL), "cbp.plate.crop-shape:1",
	    "image: png 320x80 (aspect 4.00)");
	profile("LPR_2304_07_20190531T121314_7ABC123.jpg", jpeg(320, 80, NULL, NULL),
	    "cbp.plate.lpr-filename:1 cbp.plate.crop-shape:1 "
	    "cbp.plate.lpr-filename-crop:2",
	    NULL);
	/* Must not be reported at all. */
	profile("plates.log", text("2019-05-31 LPR;PORT=2304;LANE=07;PLATE=7ABC123\n"), "", NULL);
	profile("LPR_2304_07_20190531T121314_7ABC123.jpg", text("PLATE=7ABC123 PORT=1"), "", NULL);
	profile("IMG_0001.jpg", jpeg_exif_make(4000, 3000, "Canon"), "", NULL);
	profile("screenshot.png", png(1920, 1080, "Software", "gnome-screenshot"), "", NULL);
	profile("icon.png", png(16, 16, NULL, NULL), "", NULL);
	profile("plate.jpg", jpeg(1024, 768, "nice plate", NULL), "", NULL);
	profile("fac.txt", text("FAC\nFAC 010 FAC\\0 record\n"), "", NULL);
	/* A corrupt image (cut inside a segment) with no record. */
	trunc = jpeg(1024, 768, "hello", NULL);
	trunc.n -= 9;
	profile("bad.jpg", trunc, "", NULL);
}

static void
test_profile_traveler(void **state)
{
	struct bb emb = { 0 };

	(void)state;
	NEED_ID();
	if (g_profile == NULL) {
		if (getenv("CBP_TEST_STRICT") != NULL)
			fail_msg("rules/cbp-profile.yaml did not load");
		skip();
	}
	profile("face.iso", bytes_of(iso05, sizeof(iso05)),
	    "cbp.traveler.iso19794-5:3",
	    "ISO/IEC 19794-5 v010 record: faces=1 image=jpeg 480x640");
	bb_fill(&emb, 0, 1001);
	bb_add(&emb, iso05, sizeof(iso05));
	profile("dump.db", emb, "cbp.traveler.iso19794-5-embedded:2",
	    "ISO/IEC 19794-5 v010 record at offset 1001: faces=1 image=jpeg 480x640");
	profile("t.eft", bytes_of(an2, sizeof(an2) - 1),
	    "cbp.traveler.ansi-nist-type10:3",
	    "ANSI/NIST-ITL 0400 transaction: TOT=CAR Type-10 IMT=FACE 480x640 "
	    "CGA=JPEGB");
	profile("gate.jpg", jpeg(600, 800, NULL,
	    "<x:xmpmeta><rdf:Description cbp:GATE=\"B12\" "
	    "cbp:TRAVELER_ID=\"X12345678\"/></x:xmpmeta>"),
	    "cbp.traveler.capture-record:3",
	    "XMP: <x:xmpmeta><rdf:Description cbp:GATE=\"B12\" "
	    "cbp:TRAVELER_ID=\"X1*****78\"/></x:xmpmeta>");
	profile("notes.txt", text("TRAVELER_ID=X12345678 GATE=B12\n"), "", NULL);
}

/* ---- setup ------------------------------------------------------------------------- */

/* cbpscan.mgc: $CBPSCAN_MAGIC (set by make unit), else the build dir of this test. */
static struct cbp_identify *
open_identify(void)
{
	struct cbp_error e = { 0 };
	struct cbp_identify *id;
	char exe[4096], db[4200], *slash;
	ssize_t n;

	if (getenv("CBPSCAN_MAGIC") != NULL &&
	    (id = cbp_identify_new(getenv("CBPSCAN_MAGIC"), NULL, &e)) != NULL)
		return id;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return NULL;
	*slash = '\0';
	snprintf(db, sizeof(db), "%s/../cbpscan.mgc", exe);
	memset(&e, 0, sizeof(e));
	return cbp_identify_new(db, NULL, &e);
}

static int
setup(void **state)
{
	struct stat st;

	(void)state;
	g_id = open_identify();
	if (stat("rules/cbp-profile.yaml", &st) == 0) {
		g_profile = cbp_ruleset_new();
		if (cbp_ruleset_load(g_profile, "rules/cbp-profile.yaml", NULL,
		    NULL) != CBP_OK ||
		    cbp_ruleset_compile(g_profile, NULL, NULL) != CBP_OK) {
			cbp_ruleset_free(g_profile);
			g_profile = NULL;
			return -1;
		}
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cbp_identify_free(g_id);
	cbp_ruleset_free(g_profile);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime),
		cmocka_unit_test(test_magic),
		cmocka_unit_test(test_name_path_size),
		cmocka_unit_test(test_content),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_meta),
		cmocka_unit_test(test_image),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_composite_evidence),
		cmocka_unit_test(test_cheap_first),
		cmocka_unit_test(test_regex_limit),
		cmocka_unit_test(test_hit_stops),
		cmocka_unit_test(test_profile_plate),
		cmocka_unit_test(test_profile_traveler),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
