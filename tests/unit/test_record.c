/*
 * test_record.c — cbp_record.h: ISO/IEC 19794-5 records, ANSI/NIST-ITL
 * transactions, the DG2 wrapper and carving.
 *
 * Exact-field checks against the minimal examples of docs/formats.md and
 * the real NIST samples of shared/testdata/biometric (read from
 * $CBP_TESTDATA, default ../shared/testdata; tests that need a sample skip
 * when it is absent, and fail under make, which sets CBP_TEST_STRICT).  Hostile inputs assert the exact return code, and
 * every prefix of every valid input must parse to a non-OK code without
 * reading out of bounds (the sanitizer build catches the latter).
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
#include "cbp_limits.h"
#include "cbp_record.h"

/* ---- fixtures ------------------------------------------------------------ */

/* docs/formats.md 3.1: 50-byte 2005 record, one 480x640 JPEG of SOI+EOI. */
static const unsigned char iso05_min[50] = {
	0x46, 0x41, 0x43, 0x00, 0x30, 0x31, 0x30, 0x00, 0x00, 0x00, 0x00, 0x32,
	0x00, 0x01,
	0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0xE0, 0x02, 0x80, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
	0xFF, 0xD8, 0xFF, 0xD9,
};

/* docs/formats.md 3.2: 72-byte 2011 record. */
static const unsigned char iso11_min[72] = {
	0x46, 0x41, 0x43, 0x00, 0x30, 0x33, 0x30, 0x00, 0x00, 0x00, 0x00, 0x48,
	0x00, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x37,
	0x07, 0xE4, 0x0A, 0x09, 0x10, 0x32, 0x01, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0xE0, 0x02, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x04, 0xFF, 0xD8, 0xFF, 0xD9,
};

/* docs/formats.md 3.3: DG2 head; the 50-byte record follows (81 bytes). */
static const unsigned char dg2_head[31] = {
	0x75, 0x4F, 0x7F, 0x61, 0x4C, 0x02, 0x01, 0x01, 0x7F, 0x60, 0x46,
	0xA1, 0x0F, 0x80, 0x02, 0x01, 0x01, 0x81, 0x01, 0x02, 0x87, 0x02, 0x01,
	0x01, 0x88, 0x02, 0x00, 0x08,
	0x5F, 0x2E, 0x32,
};

#define GS "\x1D"
#define FS "\x1C"
#define RS "\x1E"
#define US "\x1F"

/* docs/formats.md 4.4: Type-1 (132 bytes) + Type-10 (159 bytes). */
static const char an_t1[] =
    "1.001:132" GS "1.002:0400" GS "1.003:1" US "1" RS "10" US "01" GS
    "1.004:CAR" GS "1.005:20240101" GS "1.007:DAI000000" GS
    "1.008:ORI000000" GS "1.009:TCN0001" GS "1.011:00.00" GS
    "1.012:00.00" FS;
static const char an_t10[] =
    "10.001:159" GS "10.002:01" GS "10.003:FACE" GS "10.004:AGENCY01" GS
    "10.005:20240101" GS "10.006:480" GS "10.007:640" GS "10.008:0" GS
    "10.009:1" GS "10.010:1" GS "10.011:JPEGB" GS "10.012:YCC" GS
    "10.020:F" GS "10.999:\xFF\xD8\xFF\xD9" FS;

/* A growable byte string for building test inputs. */
struct bb {
	unsigned char *d;
	size_t n, cap;
};

static void
bb_put(struct bb *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t c = b->cap ? b->cap : 256;

		while (c < b->n + n)
			c *= 2;
		b->d = realloc(b->d, c);
		assert_non_null(b->d);
		b->cap = c;
	}
	if (n > 0)
		memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void
bb_str(struct bb *b, const char *s)
{
	bb_put(b, s, strlen(s));
}

static void
bb_be(struct bb *b, uint64_t v, int nbytes)
{
	unsigned char t[8];
	int i;

	for (i = 0; i < nbytes; i++)
		t[i] = (unsigned char)(v >> (8 * (nbytes - 1 - i)));
	bb_put(b, t, (size_t)nbytes);
}

static void
bb_free(struct bb *b)
{
	free(b->d);
	memset(b, 0, sizeof(*b));
}

/*
 * Append a tagged record <tag><LEN> GS body FS, tag being "<type>.001:" or
 * an old two-digit "<type>.01:", LEN computed so that it counts itself.
 */
static void
bb_tagged_as(struct bb *b, const char *tag, const void *body, size_t blen)
{
	char head[48];
	size_t len = 0;
	int d;

	for (d = 1; d < 12; d++) {
		len = strlen(tag) + (size_t)d + 1 + blen + 1;
		if ((size_t)snprintf(head, sizeof(head), "%zu", len) ==
		    (size_t)d)
			break;
	}
	(void)snprintf(head, sizeof(head), "%s%zu" GS, tag, len);
	bb_str(b, head);
	bb_put(b, body, blen);
	bb_str(b, FS);
}

static void
bb_tagged(struct bb *b, unsigned type, const void *body, size_t blen)
{
	char tag[16];

	(void)snprintf(tag, sizeof(tag), "%u.001:", type);
	bb_tagged_as(b, tag, body, blen);
}

/* A 2005 record with one face: npts points, image bytes img[0..ilen). */
static void
bb_iso05(struct bb *b, unsigned npts, uint8_t dtype, const void *img,
    size_t ilen)
{
	size_t fdl = 20 + 8 * (size_t)npts + 12 + ilen;
	unsigned i;

	bb_str(b, "FAC");
	bb_put(b, "\0" "010" "\0", 5);
	bb_be(b, 14 + fdl, 4);
	bb_be(b, 1, 2);
	bb_be(b, fdl, 4);
	bb_be(b, npts, 2);
	bb_put(b, "\x01\x03\x04\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00",
	    14);
	for (i = 0; i < npts; i++)
		bb_put(b, "\x01\x36\x00\x10\x00\x20\x00\x00", 8);
	bb_be(b, 1, 1);
	bb_be(b, dtype, 1);
	bb_be(b, 200, 2);
	bb_be(b, 300, 2);
	bb_put(b, "\x01\x02\x00\x00\x00\x00", 6);
	bb_put(b, img, ilen);
}

static unsigned char *
load(const char *rel, size_t *n)
{
	const char *dir = getenv("CBP_TESTDATA");
	char path[4096];
	unsigned char *p = NULL;
	FILE *f;
	long sz;

	if (dir == NULL || *dir == '\0')
		dir = "../shared/testdata";
	if ((size_t)snprintf(path, sizeof(path), "%s/biometric/%s", dir,
	    rel) >= sizeof(path))
		return NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		/* Under make a check that passes by skipping proves nothing. */
		if (getenv("CBP_TEST_STRICT") != NULL)
			fail_msg("test data %s missing: the checks need "
			    "../shared/testdata (or CBP_TESTDATA)", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)sz)) != NULL) {
		if (fread(p, 1, (size_t)sz, f) != (size_t)sz) {
			free(p);
			p = NULL;
		} else
			*n = (size_t)sz;
	}
	fclose(f);
	return p;
}

#define LOAD_OR_SKIP(var, n, rel)					\
	do {								\
		if (((var) = load((rel), &(n))) == NULL) {		\
			print_message("sample %s absent, skipped\n", rel); \
			skip();						\
		}							\
	} while (0)

/* Deterministic junk for carving tests (xorshift). */
static void
fill_random(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static struct cbp_record rec;	/* 17 KB: kept off the stack */

static void
assert_field(const struct cbp_record *r, const char *key, const char *want)
{
	const char *v = cbp_record_get(r, key);

	if (v == NULL)
		fail_msg("field %s missing", key);
	assert_string_equal(v, want);
}

/* Every location a result reports lies inside the buffer. */
static void
assert_in_bounds(const struct cbp_record *r, size_t base, size_t len)
{
	size_t i;

	assert_true(r->offset >= base && r->offset - base <= len);
	assert_true(r->length <= len - (r->offset - base));
	assert_true(r->nimages <= CBP_RECORD_IMAGES);
	assert_true(r->nfields <= CBP_RECORD_FIELDS);
	for (i = 0; i < r->nimages; i++) {
		assert_true(r->images[i].offset >= base);
		assert_true(r->images[i].offset - base <= len);
		assert_true(r->images[i].length <=
		    len - (r->images[i].offset - base));
	}
	for (i = 0; i < r->nfields; i++) {
		assert_non_null(memchr(r->fields[i].key, 0,
		    sizeof(r->fields[i].key)));
		assert_non_null(memchr(r->fields[i].value, 0,
		    sizeof(r->fields[i].value)));
	}
}

/*
 * Every proper prefix parses to ETRUNC, ECORRUPT or ENOTFOUND, with
 * results in bounds; each prefix is copied to an exact-size allocation so
 * that ASan sees any read past it.
 */
static void
check_prefixes(const unsigned char *p, size_t n, size_t step)
{
	size_t k;

	for (k = 0; k < n; k += (k < 4096 ? 1 : step)) {
		unsigned char *c = malloc(k ? k : 1);
		int r;

		assert_non_null(c);
		memcpy(c, p, k);
		r = cbp_record_parse(c, k, &rec);
		if (r != CBP_ETRUNC && r != CBP_ECORRUPT && r != CBP_ENOTFOUND)
			fail_msg("prefix %zu of %zu: %s", k, n, cbp_strerror(r));
		assert_in_bounds(&rec, 0, k);
		free(c);
	}
}

/* ---- ISO/IEC 19794-5 ----------------------------------------------------- */

static void
test_iso2005_minimal(void **state)
{
	(void)state;
	assert_int_equal(cbp_record_parse(iso05_min, sizeof(iso05_min), &rec),
	    CBP_OK);
	assert_int_equal(rec.kind, CBP_REC_ISO19794_5);
	assert_int_equal(rec.offset, 0);
	assert_int_equal(rec.length, 50);
	assert_int_equal(rec.embedded, 0);
	assert_int_equal(rec.truncated, 0);
	assert_string_equal(rec.version, "010");
	assert_int_equal(rec.nfaces, 1);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].offset, 46);
	assert_int_equal(rec.images[0].length, 4);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].width, 480);
	assert_int_equal(rec.images[0].height, 640);
	assert_field(&rec, "format", "ISO/IEC 19794-5");
	assert_field(&rec, "version", "010");
	assert_field(&rec, "length", "50");
	assert_field(&rec, "faces", "1");
	assert_field(&rec, "image_type", "jpeg");
	assert_field(&rec, "width", "480");
	assert_field(&rec, "height", "640");
	assert_field(&rec, "gender", "0");
	assert_field(&rec, "eye", "0");
	assert_field(&rec, "hair", "0");
	assert_field(&rec, "expression", "0");
	assert_field(&rec, "source", "2");
	assert_null(cbp_record_get(&rec, "nosuchkey"));
	assert_string_equal(cbp_record_kind_name(rec.kind), "iso19794-5");
}

static void
test_iso2011_minimal(void **state)
{
	(void)state;
	assert_int_equal(cbp_record_parse(iso11_min, sizeof(iso11_min), &rec),
	    CBP_OK);
	assert_int_equal(rec.kind, CBP_REC_ISO19794_5);
	assert_int_equal(rec.length, 72);
	assert_string_equal(rec.version, "030");
	assert_int_equal(rec.nfaces, 1);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].offset, 68);
	assert_int_equal(rec.images[0].length, 4);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].width, 480);
	assert_int_equal(rec.images[0].height, 640);
	assert_field(&rec, "version", "030");
	assert_field(&rec, "length", "72");
	assert_field(&rec, "faces", "1");
	assert_field(&rec, "image_type", "jpeg");
	assert_field(&rec, "gender", "0");
	assert_field(&rec, "source", "2");
}

static void
test_iso_face01(void **state)
{
	unsigned char *p;
	size_t n = 0;

	(void)state;
	LOAD_OR_SKIP(p, n, "iso19794-5/face01.iso2005");
	assert_int_equal(n, 26904);
	assert_int_equal(cbp_record_parse(p, n, &rec), CBP_OK);
	assert_int_equal(rec.kind, CBP_REC_ISO19794_5);
	assert_int_equal(rec.length, 26904);
	assert_int_equal(rec.nfaces, 1);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].offset, 0x4E);
	assert_int_equal(rec.images[0].length, 26904 - 0x4E);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].width, 280);
	assert_int_equal(rec.images[0].height, 320);
	assert_field(&rec, "length", "26904");
	assert_field(&rec, "faces", "1");
	assert_field(&rec, "gender", "2");
	assert_field(&rec, "eye", "1");
	assert_field(&rec, "hair", "6");
	assert_field(&rec, "expression", "3");
	assert_field(&rec, "source", "2");
	assert_field(&rec, "width", "280");
	assert_field(&rec, "height", "320");
	/* Cut inside the facial information: header fields, no face. */
	assert_int_equal(cbp_record_parse(p, 40, &rec), CBP_ETRUNC);
	assert_int_equal(rec.truncated, 1);
	assert_int_equal(rec.nfaces, 0);
	assert_int_equal(rec.nimages, 0);
	assert_field(&rec, "length", "26904");
	check_prefixes(p, n, 7);
	free(p);
}

static void
test_iso_iris_is_not_face(void **state)
{
	struct cbp_record_list l = { 0 };
	unsigned char *p;
	size_t n = 0;

	(void)state;
	LOAD_OR_SKIP(p, n, "iso19794-6/iris01.iso2011");
	assert_int_equal(cbp_record_parse(p, n, &rec), CBP_ENOTFOUND);
	assert_int_equal(rec.kind, CBP_REC_NONE);
	assert_int_equal(cbp_record_carve(p, n, 0, &l), CBP_OK);
	assert_int_equal(l.n, 0);
	cbp_record_list_free(&l);
	free(p);
}

static void
test_iso_trailing_bytes(void **state)
{
	unsigned char b[80];

	(void)state;
	memcpy(b, iso05_min, 50);
	memset(b + 50, 0xAA, 30);
	assert_int_equal(cbp_record_parse(b, sizeof(b), &rec), CBP_OK);
	assert_int_equal(rec.length, 50);
	assert_int_equal(rec.truncated, 0);
}

static void
test_iso_two_faces_and_jp2(void **state)
{
	static const unsigned char jp2[] = { 0x00, 0x00, 0x00, 0x0C, 0x6A,
	    0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A };
	static const unsigned char j2k[] = { 0xFF, 0x4F, 0xFF, 0x51, 0 };
	struct bb b = { 0 };
	size_t fdl1 = 20 + 12 + sizeof(jp2), fdl2 = 20 + 12 + sizeof(j2k);

	(void)state;
	bb_str(&b, "FAC");
	bb_put(&b, "\0" "010" "\0", 5);
	bb_be(&b, 14 + fdl1 + fdl2, 4);
	bb_be(&b, 2, 2);
	/* face 1: declared JPEG (0) but JP2 bytes: the bytes win */
	bb_be(&b, fdl1, 4);
	bb_put(&b, "\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00", 16);
	bb_put(&b, "\x00\x00\x00\x10\x00\x20\x01\x02\x00\x00\x00\x00", 12);
	bb_put(&b, jp2, sizeof(jp2));
	bb_be(&b, fdl2, 4);
	bb_put(&b, "\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00", 16);
	bb_put(&b, "\x00\x01\x00\x30\x00\x40\x01\x02\x00\x00\x00\x00", 12);
	bb_put(&b, j2k, sizeof(j2k));
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_OK);
	assert_int_equal(rec.nfaces, 2);
	assert_int_equal(rec.nimages, 2);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JP2);
	assert_int_equal(rec.images[0].offset, 14 + 32);
	assert_int_equal(rec.images[0].length, sizeof(jp2));
	assert_int_equal(rec.images[1].type, CBP_PAYLOAD_JP2);
	assert_int_equal(rec.images[1].offset, 14 + fdl1 + 32);
	assert_int_equal(rec.images[1].width, 0x30);
	assert_field(&rec, "faces", "2");
	assert_field(&rec, "gender", "1");	/* the first face's */
	assert_field(&rec, "image_type", "jp2");
	check_prefixes(b.d, b.n, 1);
	bb_free(&b);
}

static void
test_iso2011_png(void **state)
{
	unsigned char b[76];

	(void)state;
	/* The 72-byte record with an 8-byte PNG signature as its image. */
	memcpy(b, iso11_min, 68);
	memcpy(b + 68, "\x89PNG\r\n\x1A\n", 8);
	b[11] = 76;		/* record length */
	b[20] = 0x37 + 4;	/* representation length */
	b[53 + 1] = 3;		/* image data type PNG */
	b[67] = 8;		/* image length */
	assert_int_equal(cbp_record_parse(b, sizeof(b), &rec), CBP_OK);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_PNG);
	assert_int_equal(rec.images[0].offset, 68);
	assert_int_equal(rec.images[0].length, 8);
	assert_field(&rec, "image_type", "png");
}

/* Patch a copy of the 2005 minimal record and parse it. */
static int
parse05_patched(size_t at, const void *bytes, size_t n)
{
	static unsigned char b[50];

	memcpy(b, iso05_min, sizeof(b));
	memcpy(b + at, bytes, n);
	return cbp_record_parse(b, sizeof(b), &rec);
}

static int
parse11_patched(size_t at, const void *bytes, size_t n)
{
	static unsigned char b[72];

	memcpy(b, iso11_min, sizeof(b));
	memcpy(b + at, bytes, n);
	return cbp_record_parse(b, sizeof(b), &rec);
}

static void
test_iso_hostile(void **state)
{
	struct bb b = { 0 };

	(void)state;
	/* Record length smaller than the header. */
	assert_int_equal(parse05_patched(8, "\x00\x00\x00\x0A", 4),
	    CBP_ECORRUPT);
	assert_int_equal(rec.kind, CBP_REC_ISO19794_5);
	/* Smaller than header + one face. */
	assert_int_equal(parse05_patched(8, "\x00\x00\x00\x2D", 4),
	    CBP_ECORRUPT);
	/* Record length 0xFFFFFFFF: longer than the buffer, face still read. */
	assert_int_equal(parse05_patched(8, "\xFF\xFF\xFF\xFF", 4),
	    CBP_ETRUNC);
	assert_int_equal(rec.truncated, 1);
	assert_int_equal(rec.length, 50);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].offset, 46);
	/* No faces; 65535 faces in 50 bytes. */
	assert_int_equal(parse05_patched(12, "\x00\x00", 2), CBP_ECORRUPT);
	assert_int_equal(parse05_patched(12, "\xFF\xFF", 2), CBP_ECORRUPT);
	/* Facial record data length 0xFFFFFFFF, 0, and 1 past the record. */
	assert_int_equal(parse05_patched(14, "\xFF\xFF\xFF\xFF", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse05_patched(14, "\x00\x00\x00\x00", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse05_patched(14, "\x00\x00\x00\x25", 4),
	    CBP_ECORRUPT);
	/* Feature point count huge, or more than the data length allows. */
	assert_int_equal(parse05_patched(18, "\xFF\xFF", 2), CBP_ECORRUPT);
	assert_int_equal(parse05_patched(18, "\x00\x01", 2), CBP_ECORRUPT);
	/* Payload that is no picture. */
	assert_int_equal(parse05_patched(46, "GIF8", 4), CBP_ECORRUPT);
	assert_int_equal(rec.kind, CBP_REC_ISO19794_5);
	/* Unknown version, and a bare identifier: not ours. */
	assert_int_equal(parse05_patched(4, "020", 3), CBP_ENOTFOUND);
	assert_int_equal(cbp_record_parse((const unsigned char *)"FAC\0", 4,
	    &rec), CBP_ENOTFOUND);
	assert_int_equal(cbp_record_parse(iso05_min, 13, &rec), CBP_ETRUNC);
	assert_int_equal(cbp_record_parse(NULL, 0, &rec), CBP_ENOTFOUND);
	assert_int_equal(cbp_record_parse(iso05_min, 50, NULL), CBP_EINVAL);

	/* More feature points than CBP_RECORD_FEATURES, lengths consistent. */
	bb_iso05(&b, CBP_RECORD_FEATURES + 1, 0, "\xFF\xD8\xFF\xD9", 4);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	b.n = 0;
	bb_iso05(&b, CBP_RECORD_FEATURES, 0, "\xFF\xD8\xFF\xD9", 4);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_OK);
	assert_int_equal(rec.images[0].offset, 14 + 20 + 8 * 4096 + 12);
	bb_free(&b);

	/* 2011: representation length 0, past the record, image length past
	 * the representation, record length smaller than header + one rep. */
	assert_int_equal(parse11_patched(17, "\x00\x00\x00\x00", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse11_patched(17, "\x00\x00\x00\x38", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse11_patched(17, "\xFF\xFF\xFF\xFF", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse11_patched(64, "\x00\x00\x00\x05", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse11_patched(64, "\xFF\xFF\xFF\xFF", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse11_patched(8, "\x00\x00\x00\x40", 4),
	    CBP_ECORRUPT);
	assert_int_equal(parse11_patched(12, "\x00\x00", 2), CBP_ECORRUPT);
	assert_int_equal(parse11_patched(12, "\xFF\xFF", 2), CBP_ECORRUPT);
	/* Landmark count huge; quality block count eating the rep. */
	assert_int_equal(parse11_patched(36, "\xFF\xFF", 2), CBP_ECORRUPT);
	assert_int_equal(parse11_patched(35, "\xFF", 1), CBP_ECORRUPT);
	/* Image length 0: no picture. */
	assert_int_equal(parse11_patched(64, "\x00\x00\x00\x00", 4),
	    CBP_ECORRUPT);
	/* Record longer than the buffer. */
	assert_int_equal(parse11_patched(8, "\x00\x01\x00\x00", 4),
	    CBP_ETRUNC);
	assert_int_equal(rec.truncated, 1);
}

static void
test_iso_prefixes(void **state)
{
	(void)state;
	check_prefixes(iso05_min, sizeof(iso05_min), 1);
	check_prefixes(iso11_min, sizeof(iso11_min), 1);
}

/* ---- DG2 wrapper --------------------------------------------------------- */

static void
test_dg2_wrapped(void **state)
{
	unsigned char b[81];
	struct cbp_record_list l = { 0 };

	(void)state;
	memcpy(b, dg2_head, sizeof(dg2_head));
	memcpy(b + sizeof(dg2_head), iso05_min, sizeof(iso05_min));
	assert_int_equal(cbp_record_parse(b, sizeof(b), &rec), CBP_OK);
	assert_int_equal(rec.kind, CBP_REC_ISO19794_5);
	assert_int_equal(rec.offset, 31);
	assert_int_equal(rec.length, 50);
	assert_int_equal(rec.embedded, 0);
	assert_int_equal(rec.images[0].offset, 31 + 46);
	assert_int_equal(rec.images[0].length, 4);
	assert_field(&rec, "version", "010");
	check_prefixes(b, sizeof(b), 1);
	/* Carving sees the same record at offset 31. */
	assert_int_equal(cbp_record_carve(b, sizeof(b), 0, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].offset, 31);
	assert_int_equal(l.v[0].embedded, 1);
	cbp_record_list_free(&l);
	/* Encrypted (7D) instead of the data block: nothing to see. */
	b[28] = 0x7D;
	b[29] = 0x32;
	memmove(b + 30, b + 31, 50);
	assert_int_equal(cbp_record_parse(b, 80, &rec), CBP_ENOTFOUND);
	/* BER length 84 FF FF FF FF on the outer template: clipped, harmless. */
	memcpy(b, dg2_head, sizeof(dg2_head));
	memcpy(b + sizeof(dg2_head), iso05_min, sizeof(iso05_min));
	{
		unsigned char c[85];

		c[0] = 0x75;
		memcpy(c + 1, "\x84\xFF\xFF\xFF\xFF", 5);
		memcpy(c + 6, b + 2, 79);
		assert_int_equal(cbp_record_parse(c, sizeof(c), &rec), CBP_OK);
		assert_int_equal(rec.offset, 35);
		c[1] = 0x85;	/* length of length 5: refused */
		assert_int_equal(cbp_record_parse(c, sizeof(c), &rec),
		    CBP_ENOTFOUND);
	}
}

static void
test_dg2_tlvbit_header_only(void **state)
{
	unsigned char *p;
	size_t n = 0;

	(void)state;
	LOAD_OR_SKIP(p, n, "cbeff/TLVBIT.dat");
	assert_int_equal(cbp_record_parse(p, n, &rec), CBP_ENOTFOUND);
	check_prefixes(p, n, 1);
	free(p);
}

/* ---- ANSI/NIST-ITL -------------------------------------------------------- */

static void
bb_an_example(struct bb *b)
{
	bb_put(b, an_t1, sizeof(an_t1) - 1);
	bb_put(b, an_t10, sizeof(an_t10) - 1);
}

static void
test_ansi_example(void **state)
{
	struct bb b = { 0 };

	(void)state;
	assert_int_equal(sizeof(an_t1) - 1, 132);
	assert_int_equal(sizeof(an_t10) - 1, 159);
	bb_an_example(&b);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_OK);
	assert_int_equal(rec.kind, CBP_REC_ANSI_NIST);
	assert_int_equal(rec.offset, 0);
	assert_int_equal(rec.length, 291);
	assert_string_equal(rec.version, "0400");
	assert_int_equal(rec.nfaces, 1);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].offset, 291 - 5);
	assert_int_equal(rec.images[0].length, 4);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].width, 480);
	assert_int_equal(rec.images[0].height, 640);
	assert_field(&rec, "1.002", "0400");
	assert_field(&rec, "1.003", "1 1|10 01");
	assert_field(&rec, "1.004", "CAR");
	assert_field(&rec, "1.012", "00.00");
	assert_null(cbp_record_get(&rec, "1.006"));
	assert_field(&rec, "10.003", "FACE");
	assert_field(&rec, "10.005", "20240101");
	assert_field(&rec, "10.006", "480");
	assert_field(&rec, "10.007", "640");
	assert_field(&rec, "10.011", "JPEGB");
	assert_field(&rec, "10.020", "F");
	assert_null(cbp_record_get(&rec, "10.999"));
	assert_null(cbp_record_get(&rec, "10.004"));
	assert_string_equal(cbp_record_kind_name(rec.kind), "ansi-nist");
	check_prefixes(b.d, b.n, 1);
	bb_free(&b);
}

static void
test_ansi_face_jpb(void **state)
{
	unsigned char *p;
	size_t n = 0;

	(void)state;
	LOAD_OR_SKIP(p, n, "an2k/face_jpb_DOM_GMT_DCS.an2");
	assert_int_equal(cbp_record_parse(p, n, &rec), CBP_OK);
	assert_int_equal(rec.kind, CBP_REC_ANSI_NIST);
	assert_int_equal(rec.length, n);
	assert_string_equal(rec.version, "0400");
	assert_int_equal(rec.nfaces, 1);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].width, 768);
	assert_int_equal(rec.images[0].height, 1024);
	assert_int_equal(p[rec.images[0].offset], 0xFF);
	assert_int_equal(p[rec.images[0].offset + 1], 0xD8);
	/* The image runs to the byte before the record's FS, the file end. */
	assert_int_equal(rec.images[0].offset + rec.images[0].length, n - 1);
	assert_int_equal(p[n - 1], 0x1C);
	assert_memory_equal(p + rec.images[0].offset - 7, "10.999:", 7);
	assert_field(&rec, "1.004", "NISTDAAT");
	assert_field(&rec, "1.013", "NORAM 7.02");
	assert_field(&rec, "1.014", "20051105052500Z");
	assert_field(&rec, "1.015", "000 ASCII 7-bit English 000");
	assert_field(&rec, "10.003", "FACE");
	assert_field(&rec, "10.006", "768");
	assert_field(&rec, "10.007", "1024");
	assert_field(&rec, "10.011", "JPEGB");
	assert_field(&rec, "10.020", "F");
	check_prefixes(p, n, 13);
	free(p);
}

static void
test_ansi_valid1_9(void **state)
{
	unsigned char *p;
	size_t n = 0;

	(void)state;
	LOAD_OR_SKIP(p, n, "an2k/valid1.9.an2");
	assert_int_equal(cbp_record_parse(p, n, &rec), CBP_OK);
	assert_int_equal(rec.kind, CBP_REC_ANSI_NIST);
	assert_int_equal(rec.length, n);
	assert_string_equal(rec.version, "0201");
	assert_int_equal(rec.nfaces, 1);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].width, 452);
	assert_int_equal(rec.images[0].height, 343);
	/* Type-10 starts at 349940 (after binary Types 4, 7, 8), LEN 25035. */
	assert_int_equal(rec.images[0].offset, 350097 + 7);
	assert_int_equal(rec.images[0].offset + rec.images[0].length,
	    349940 + 25035 - 1);
	assert_int_equal(p[rec.images[0].offset], 0xFF);
	assert_int_equal(p[rec.images[0].offset + 1], 0xD8);
	/* Two-digit field numbers in Type-1 ("1.02:") keyed as "1.002". */
	assert_field(&rec, "1.002", "0201");
	assert_field(&rec, "1.004", "NFUF");
	assert_field(&rec, "1.003",
	    "1 7|2 00|4 01|7 02|8 09|10 03|14 10|17 07");
	assert_field(&rec, "10.003", "FACE");
	assert_field(&rec, "10.006", "452");
	assert_field(&rec, "10.007", "343");
	assert_field(&rec, "10.011", "JPEGB");
	check_prefixes(p, n, 61);
	free(p);
}

static void
test_ansi_no_type10(void **state)
{
	static const char *const files[] = { "an2k/valid1.15.an2",
	    "an2k/valid1.1.an2" };
	unsigned char *p;
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < 2; i++) {
		LOAD_OR_SKIP(p, n, files[i]);
		assert_int_equal(cbp_record_parse(p, n, &rec), CBP_ENOTFOUND);
		assert_int_equal(rec.kind, CBP_REC_NONE);
		check_prefixes(p, n, 3);
		free(p);
	}
}

/* Type-1 listing `list` (the 1.003 value), with old two-digit tags. */
static void
bb_type1(struct bb *b, const char *list)
{
	struct bb body = { 0 };

	bb_str(&body, "1.02:0300" GS "1.03:");
	bb_str(&body, list);
	bb_str(&body, GS "1.04:TEST");
	bb_tagged_as(b, "1.01:", body.d, body.n);
	bb_free(&body);
}

/* A Type-10 body with the given CGA and image bytes. */
static void
bb_type10(struct bb *b, const char *imt, const char *cga, const void *img,
    size_t ilen)
{
	struct bb body = { 0 };

	bb_str(&body, "10.002:02" GS "10.003:");
	bb_str(&body, imt);
	bb_str(&body, GS "10.006:12" GS "10.007:34" GS "10.011:");
	bb_str(&body, cga);
	bb_str(&body, GS "10.999:");
	bb_put(&body, img, ilen);
	bb_tagged(b, 10, body.d, body.n);
	bb_free(&body);
}

static void
test_ansi_binary_records_and_two_faces(void **state)
{
	struct bb b = { 0 };
	size_t t4_at, i;

	(void)state;
	bb_type1(&b, "1" US "4" RS "4" US "01" RS "10" US "02" RS "8" US "03"
	    RS "10" US "04");
	/* Type-4: 18-byte header + 7 bytes, full of separators and tags. */
	t4_at = b.n;
	bb_be(&b, 25, 4);
	bb_put(&b, "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	    14);
	bb_put(&b, FS GS "10.001", 7);
	bb_type10(&b, "FACE", "JPEGB", "\xFF\xD8\x1C\x1D\xFF\xD9", 6);
	/* Type-8: 12 bytes exactly. */
	bb_be(&b, 12, 4);
	bb_put(&b, "\x03\x00\x00\x00\x00\x00\x00\x00", 8);
	/* Second Type-10: CGA says JP2 but the bytes are PNG. */
	bb_type10(&b, "SCAR", "JP2", "\x89PNG\r\n\x1A\n", 8);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_OK);
	assert_int_equal(rec.length, b.n);
	assert_string_equal(rec.version, "0300");
	assert_int_equal(rec.nfaces, 2);
	assert_int_equal(rec.nimages, 2);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].length, 6);
	assert_memory_equal(b.d + rec.images[0].offset, "\xFF\xD8\x1C\x1D", 4);
	assert_int_equal(rec.images[0].width, 12);
	assert_int_equal(rec.images[0].height, 34);
	assert_int_equal(rec.images[1].type, CBP_PAYLOAD_PNG);
	assert_int_equal(rec.images[1].offset + 8 + 1, b.n);
	assert_field(&rec, "10.003", "FACE");	/* the first Type-10's */
	assert_field(&rec, "1.004", "TEST");
	check_prefixes(b.d, b.n, 1);

	/* Binary record length < 5, < its header, and past the end. */
	for (i = 0; i < 3; i++) {
		static const uint32_t bad[3] = { 4, 17, 0x7FFFFFFF };
		unsigned char *c = malloc(b.n);

		assert_non_null(c);
		memcpy(c, b.d, b.n);
		c[t4_at] = (unsigned char)(bad[i] >> 24);
		c[t4_at + 1] = (unsigned char)(bad[i] >> 16);
		c[t4_at + 2] = (unsigned char)(bad[i] >> 8);
		c[t4_at + 3] = (unsigned char)bad[i];
		assert_int_equal(cbp_record_parse(c, b.n, &rec),
		    i < 2 ? CBP_ECORRUPT : CBP_ETRUNC);
		free(c);
	}
	bb_free(&b);
}

static void
test_ansi_duplicate_data_field(void **state)
{
	struct bb b = { 0 }, body = { 0 };

	(void)state;
	/* valid1.11.an2 quirk: a first 10.999 with text, then the JPEG. */
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_str(&body, "10.002:00" GS "10.003:FACE" GS "10.011:JPEGB" GS
	    "10.999:010110" GS "10.999:");
	bb_put(&body, "\xFF\xD8\x1D\x1C\xFF\xD9", 6);
	bb_tagged(&b, 10, body.d, body.n);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_OK);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].length, 6);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_memory_equal(b.d + rec.images[0].offset, "\xFF\xD8", 2);
	bb_free(&body);
	bb_free(&b);
}

static void
test_ansi_raw_image(void **state)
{
	struct bb b = { 0 };

	(void)state;
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_type10(&b, "FACE", "NONE", "\x10\x20\x30", 3);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_OK);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_OTHER);
	assert_int_equal(rec.images[0].length, 3);
	bb_free(&b);
}

/* The 4.4 example with Type-1's LEN text replaced by `len`. */
static int
parse_an_len(const char *len)
{
	struct bb b = { 0 };
	int r;

	bb_str(&b, "1.001:");
	bb_str(&b, len);
	bb_put(&b, an_t1 + 9, sizeof(an_t1) - 1 - 9);
	bb_put(&b, an_t10, sizeof(an_t10) - 1);
	r = cbp_record_parse(b.d, b.n, &rec);
	bb_free(&b);
	return r;
}

static void
test_ansi_hostile(void **state)
{
	struct bb b = { 0 }, body = { 0 };
	int i;

	(void)state;
	/* LEN: not a number (no signature), absurd, zero, past the end,
	 * one short of the FS. */
	assert_int_equal(parse_an_len("abc"), CBP_ENOTFOUND);
	assert_int_equal(rec.kind, CBP_REC_NONE);
	assert_int_equal(parse_an_len("99999999999999999999"), CBP_ECORRUPT);
	assert_int_equal(rec.kind, CBP_REC_ANSI_NIST);
	assert_int_equal(parse_an_len("000"), CBP_ECORRUPT);
	assert_int_equal(parse_an_len("5000"), CBP_ETRUNC);
	assert_int_equal(rec.truncated, 1);
	assert_int_equal(parse_an_len("131"), CBP_ECORRUPT);
	assert_int_equal(parse_an_len("133"), CBP_ECORRUPT);
	assert_int_equal(cbp_record_parse((const unsigned char *)"1.01: intro"
	    " text\n", 17, &rec), CBP_ENOTFOUND);

	/* 1.003 listing 1000 records (more than CBP_RECORD_AN_RECORDS - 1). */
	bb_str(&body, "1" US "1000");
	for (i = 0; i < 1000; i++)
		bb_str(&body, RS "2" US "00");
	bb_str(&body, RS "10" US "01");
	bb_put(&body, "", 1);
	bb_type1(&b, (const char *)body.d);
	bb_free(&body);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);

	/* 1.003 listing 3 records, only the Type-10 present: truncated. */
	bb_type1(&b, "1" US "3" RS "10" US "00" RS "2" US "01" RS "2" US "02");
	bb_type10(&b, "FACE", "JPEGB", "\xFF\xD8\xFF\xD9", 4);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ETRUNC);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.truncated, 1);
	bb_free(&b);

	/* Malformed 1.003 entry; 1.003 missing. */
	bb_type1(&b, "1" US "1" RS "X" US "00");
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);
	bb_tagged(&b, 1, "1.002:0400", 10);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);

	/* Type-10 without 10.999. */
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_tagged(&b, 10, "10.002:00" GS "10.003:FACE", 21);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	assert_int_equal(rec.kind, CBP_REC_ANSI_NIST);
	assert_field(&rec, "10.003", "FACE");
	bb_free(&b);

	/* Type-10 with only its LEN field. */
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_str(&b, "10.001:10" FS);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);

	/* The record after Type-1 has another type than 1.003 says. */
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_tagged(&b, 2, "2.002:00", 8);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);

	/* A Type-10 field tag of another type; a garbage tag. */
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_tagged(&b, 10, "2.003:FACE" GS "10.999:\xFF\xD8", 20);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_tagged(&b, 10, "10003:FACE" GS "10.999:\xFF\xD8", 20);
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);

	/* Type-10 LEN one short: its last byte is image, not the FS. */
	bb_an_example(&b);
	b.d[132 + 9] = '8';	/* "10.001:159" -> "10.001:158" */
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ECORRUPT);
	bb_free(&b);

	/* Type-10 LEN past the end: the image is there, cut. */
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_str(&b, "10.001:9999" GS "10.003:FACE" GS "10.999:\xFF\xD8\xFF");
	assert_int_equal(cbp_record_parse(b.d, b.n, &rec), CBP_ETRUNC);
	assert_int_equal(rec.nimages, 1);
	assert_int_equal(rec.images[0].type, CBP_PAYLOAD_JPEG);
	assert_int_equal(rec.images[0].offset + rec.images[0].length, b.n);
	bb_free(&b);
}

/* ---- carving ------------------------------------------------------------- */

static void
test_carve_odd_offset(void **state)
{
	struct cbp_record_list l = { 0 };
	unsigned char *b = malloc(4096);

	(void)state;
	assert_non_null(b);
	fill_random(b, 4096, 7);
	memcpy(b + 1001, iso05_min, sizeof(iso05_min));
	assert_int_equal(cbp_record_carve(b, 4096, 0, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.limited, 0);
	assert_int_equal(l.v[0].kind, CBP_REC_ISO19794_5);
	assert_int_equal(l.v[0].offset, 1001);
	assert_int_equal(l.v[0].length, 50);
	assert_int_equal(l.v[0].embedded, 1);
	assert_int_equal(l.v[0].truncated, 0);
	assert_int_equal(l.v[0].nimages, 1);
	assert_int_equal(l.v[0].images[0].offset, 1001 + 46);
	assert_int_equal(l.v[0].images[0].length, 4);
	cbp_record_list_free(&l);

	/* A window at file offset 1 MiB: offsets carry the base. */
	assert_int_equal(cbp_record_carve(b, 4096, CBP_MIB, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].offset, CBP_MIB + 1001);
	assert_int_equal(l.v[0].images[0].offset, CBP_MIB + 1001 + 46);
	/* A second window appends. */
	assert_int_equal(cbp_record_carve(b, 4096, 2 * CBP_MIB, &l), CBP_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[1].offset, 2 * CBP_MIB + 1001);
	cbp_record_list_free(&l);

	/* At offset 0 it is parse()'s, not carve()'s. */
	assert_int_equal(cbp_record_carve(iso05_min, sizeof(iso05_min), 0,
	    &l), CBP_OK);
	assert_int_equal(l.n, 0);
	cbp_record_list_free(&l);
	free(b);
}

static void
test_carve_2011_and_face01(void **state)
{
	struct cbp_record_list l = { 0 };
	unsigned char *p, *b;
	size_t n = 0;

	(void)state;
	b = malloc(40000);
	assert_non_null(b);
	fill_random(b, 40000, 11);
	memcpy(b + 333, iso11_min, sizeof(iso11_min));
	assert_int_equal(cbp_record_carve(b, 40000, 0, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].offset, 333);
	assert_string_equal(l.v[0].version, "030");
	assert_int_equal(l.v[0].images[0].offset, 333 + 68);
	cbp_record_list_free(&l);

	LOAD_OR_SKIP(p, n, "iso19794-5/face01.iso2005");
	fill_random(b, 40000, 12);
	memcpy(b + 1001, p, n);
	assert_int_equal(cbp_record_carve(b, 40000, 0, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].offset, 1001);
	assert_int_equal(l.v[0].length, 26904);
	assert_int_equal(l.v[0].images[0].offset, 1001 + 0x4E);
	assert_field(&l.v[0], "gender", "2");
	cbp_record_list_free(&l);

	/* The window ends inside the JPEG: still reported, truncated. */
	assert_int_equal(cbp_record_carve(b, 1001 + 5000, 0, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].truncated, 1);
	assert_int_equal(l.v[0].nfaces, 1);
	assert_int_equal(l.v[0].length, 5000);
	assert_int_equal(l.v[0].images[0].offset, 1001 + 0x4E);
	assert_int_equal(l.v[0].images[0].length, 5000 - 0x4E);
	cbp_record_list_free(&l);
	/* The window ends inside the facial information: not enough. */
	assert_int_equal(cbp_record_carve(b, 1001 + 20, 0, &l), CBP_OK);
	assert_int_equal(l.n, 0);
	cbp_record_list_free(&l);
	free(p);
	free(b);
}

static void
test_carve_fac_in_text(void **state)
{
	struct cbp_record_list l = { 0 };
	char text[2048];
	unsigned char junk[4096];
	size_t n = 0;
	uint32_t seed;
	int i;

	(void)state;
	for (i = 0; i < 20; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "line %d: the FAC record format is described here.\n", i);
	memcpy(text + 500, "the FAC\0" "010\0 string", 19);
	memcpy(text + 900, "FAC\0" "030\0", 8);
	assert_int_equal(cbp_record_carve((unsigned char *)text, n, 0, &l),
	    CBP_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(cbp_record_parse((unsigned char *)text + 504,
	    n - 504, &rec), CBP_ECORRUPT);
	/* Header followed by junk, many times over: never a record. */
	for (seed = 1; seed < 200; seed++) {
		fill_random(junk, sizeof(junk), seed);
		memcpy(junk + 100, "FAC\0" "010\0", 8);
		memcpy(junk + 2000, "FAC\0" "030\0", 8);
		assert_int_equal(cbp_record_carve(junk, sizeof(junk), 0, &l),
		    CBP_OK);
		assert_int_equal(l.n, 0);
	}
	cbp_record_list_free(&l);
}

static void
test_carve_ansi_embedded(void **state)
{
	struct cbp_record_list l = { 0 };
	struct bb b = { 0 };
	unsigned char pad[777];

	(void)state;
	fill_random(pad, sizeof(pad), 3);
	bb_put(&b, pad, sizeof(pad));
	bb_an_example(&b);
	bb_put(&b, pad, sizeof(pad));
	/* Old two-digit transaction after it. */
	bb_type1(&b, "1" US "1" RS "10" US "00");
	bb_type10(&b, "FACE", "JPEGB", "\xFF\xD8\xFF\xD9", 4);
	assert_int_equal(cbp_record_carve(b.d, b.n, 0, &l), CBP_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].kind, CBP_REC_ANSI_NIST);
	assert_int_equal(l.v[0].offset, 777);
	assert_int_equal(l.v[0].length, 291);
	assert_int_equal(l.v[0].embedded, 1);
	assert_int_equal(l.v[0].images[0].offset, 777 + 291 - 5);
	assert_int_equal(l.v[1].kind, CBP_REC_ANSI_NIST);
	assert_int_equal(l.v[1].offset, 777 + 291 + 777);
	cbp_record_list_free(&l);
	/* Cut inside the Type-10 image: reported truncated. */
	assert_int_equal(cbp_record_carve(b.d, 777 + 289, 0, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].truncated, 1);
	cbp_record_list_free(&l);
	/* Cut inside Type-1: not enough to call it a transaction. */
	assert_int_equal(cbp_record_carve(b.d, 777 + 100, 0, &l), CBP_OK);
	assert_int_equal(l.n, 0);
	cbp_record_list_free(&l);
	bb_free(&b);
}

/*
 * Nested Type-1 candidates that all end at the same FS: each one is a
 * valid Type-1 up to its field list, so without the carver's budget every
 * candidate would rescan the rest of the region (quadratic).  The carve
 * must finish and still find the ISO record after the region.
 */
static void
test_carve_ansi_budget(void **state)
{
	static const char tail[] = "0400" FS;
	struct cbp_record_list l = { 0 };
	const size_t k = 3000, padlen = 300;
	size_t cap = k * (padlen + 64) + 200, pos, i;
	unsigned char *b = malloc(cap);
	char body[512], num[24];
	size_t blen;

	(void)state;
	assert_non_null(b);
	/* Build from the end: ISO record, then the shared tail, then levels. */
	pos = cap - sizeof(iso05_min);
	memcpy(b + pos, iso05_min, sizeof(iso05_min));
	pos -= 7;
	memcpy(b + pos, "padding", 7);
	pos -= sizeof(tail) - 1;
	memcpy(b + pos, tail, sizeof(tail) - 1);
	for (i = 0; i < k; i++) {
		size_t rest = cap - sizeof(iso05_min) - 7 - pos, len = 0;
		int d;

		blen = (size_t)snprintf(body, sizeof(body), GS "1.004:%.*s" GS
		    "1.003:1" US "0" GS "1.002:", (int)padlen,
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		for (d = 1; d < 12; d++) {
			len = 6 + (size_t)d + blen + rest;
			if ((size_t)snprintf(num, sizeof(num), "%zu", len) ==
			    (size_t)d)
				break;
		}
		pos -= blen;
		memcpy(b + pos, body, blen);
		pos -= strlen(num);
		memcpy(b + pos, num, strlen(num));
		pos -= 6;
		memcpy(b + pos, "1.001:", 6);
	}
	assert_true(pos >= 1);
	memset(b, 'z', pos);
	/* The outermost level holds more than CBP_RECORD_AN_FIELDS fields. */
	assert_int_equal(cbp_record_parse(b + pos, cap - pos - 57, &rec),
	    CBP_ECORRUPT);
	assert_int_equal(cbp_record_carve(b, cap, 0, &l), CBP_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].kind, CBP_REC_ISO19794_5);
	assert_int_equal(l.v[0].offset, cap - sizeof(iso05_min));
	cbp_record_list_free(&l);
	free(b);
}

static void
test_carve_limit(void **state)
{
	struct cbp_record_list l = { 0 };
	struct bb b = { 0 };
	int i;

	(void)state;
	bb_str(&b, "x");
	for (i = 0; i < CBP_CARVE_MAX_RECORDS + 6; i++)
		bb_put(&b, iso05_min, sizeof(iso05_min));
	assert_int_equal(cbp_record_carve(b.d, b.n, 0, &l), CBP_OK);
	assert_int_equal(l.n, CBP_CARVE_MAX_RECORDS);
	assert_int_equal(l.limited, 1);
	assert_int_equal(l.v[CBP_CARVE_MAX_RECORDS - 1].offset,
	    1 + 50 * (CBP_CARVE_MAX_RECORDS - 1));
	/* Once limited, further windows add nothing. */
	assert_int_equal(cbp_record_carve(b.d, b.n, 0, &l), CBP_OK);
	assert_int_equal(l.n, CBP_CARVE_MAX_RECORDS);
	cbp_record_list_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	cbp_record_list_free(NULL);

	/* Exactly the cap: all kept, not limited. */
	b.n = 1 + 50 * CBP_CARVE_MAX_RECORDS;
	assert_int_equal(cbp_record_carve(b.d, b.n, 0, &l), CBP_OK);
	assert_int_equal(l.n, CBP_CARVE_MAX_RECORDS);
	assert_int_equal(l.limited, 0);
	cbp_record_list_free(&l);
	bb_free(&b);
}

static void
test_carve_prefixes(void **state)
{
	struct cbp_record_list l = { 0 };
	struct bb b = { 0 };
	size_t k, i;

	(void)state;
	bb_str(&b, "zz");
	bb_put(&b, iso05_min, sizeof(iso05_min));
	bb_put(&b, iso11_min, sizeof(iso11_min));
	bb_put(&b, dg2_head, sizeof(dg2_head));
	bb_put(&b, iso05_min, sizeof(iso05_min));
	bb_an_example(&b);
	for (k = 0; k <= b.n; k++) {
		unsigned char *c = malloc(k ? k : 1);

		assert_non_null(c);
		memcpy(c, b.d, k);
		assert_int_equal(cbp_record_carve(c, k, 100, &l), CBP_OK);
		for (i = 0; i < l.n; i++)
			assert_in_bounds(&l.v[i], 100, k);
		cbp_record_list_free(&l);
		free(c);
	}
	assert_int_equal(cbp_record_carve(b.d, b.n, 0, &l), CBP_OK);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.v[0].offset, 2);
	assert_int_equal(l.v[1].offset, 52);
	assert_int_equal(l.v[2].offset, 124 + 31);
	assert_int_equal(l.v[3].offset, 124 + 81);
	assert_int_equal(l.v[3].kind, CBP_REC_ANSI_NIST);
	cbp_record_list_free(&l);
	bb_free(&b);
}

/* ---- base64-encoded records ----------------------------------------------- */

/* Standard base64 of p[0..n), wrapped every `wrap` characters (0: none). */
static char *
b64_encode(const unsigned char *p, size_t n, size_t wrap)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *o = malloc(n / 3 * 4 + n / 3 * 4 / (wrap ? wrap : 1) + 16);
	size_t i, k = 0, col = 0;

	assert_non_null(o);
	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 |
		    (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		    (i + 2 < n ? p[i + 2] : 0);
		char q[4] = { al[v >> 18 & 63], al[v >> 12 & 63],
		    i + 1 < n ? al[v >> 6 & 63] : '=', i + 2 < n ? al[v & 63] : '=' };
		int j;

		for (j = 0; j < 4; j++) {
			if (wrap && col == wrap) {
				o[k++] = '\n';
				col = 0;
			}
			o[k++] = q[j];
			col++;
		}
	}
	o[k] = '\0';
	return o;
}

static void
test_b64_runs(void **state)
{
	char doc[4096];
	char *e = b64_encode(iso05_min, sizeof(iso05_min), 0);
	char *w = b64_encode(iso05_min, sizeof(iso05_min), 16);
	unsigned char out[256];
	size_t s, en, n, len;
	struct cbp_record r;

	(void)state;
	assert_int_equal(strncmp(e, "RkFDADAxMA", 10), 0);
	len = (size_t)snprintf(doc, sizeof doc, "<BIR><BDB>%s</BDB>"
	    "<BDB>RkFDADAyMAAA</BDB>"		/* version 020: not a face record */
	    "<BDB>\n%s\n</BDB> the FAC format</BIR>", e, w);

	/* First run: exactly the base64 text, ending at '<'. */
	assert_int_equal(cbp_record_b64_next((unsigned char *)doc, len, 0, &s, &en), 1);
	assert_int_equal(s, 10);
	assert_int_equal(en - s, strlen(e));
	assert_int_equal(cbp_record_b64_decode((unsigned char *)doc + s, en - s,
	    out, sizeof out, &n), CBP_OK);
	assert_int_equal(n, sizeof(iso05_min));
	assert_memory_equal(out, iso05_min, n);
	assert_int_equal(cbp_record_parse(out, n, &r), CBP_OK);

	/* The second (wrapped) run; the 020 one is skipped. */
	assert_int_equal(cbp_record_b64_next((unsigned char *)doc, len, en, &s, &en), 1);
	assert_ptr_equal(doc + s, strstr(doc, w));
	assert_int_equal(cbp_record_b64_decode((unsigned char *)doc + s, en - s,
	    out, sizeof out, &n), CBP_OK);
	assert_int_equal(n, sizeof(iso05_min));
	assert_memory_equal(out, iso05_min, n);
	assert_int_equal(cbp_record_b64_next((unsigned char *)doc, len, en, &s, &en), 0);

	/* The output stops at cap. */
	assert_int_equal(cbp_record_b64_decode((unsigned char *)e, strlen(e),
	    out, 7, &n), CBP_OK);
	assert_int_equal(n, 7);
	assert_memory_equal(out, "FAC\0" "010", 7);
	/* Not base64. */
	assert_int_equal(cbp_record_b64_decode((unsigned char *)"RkFD*ADA", 8,
	    out, sizeof out, &n), CBP_ECORRUPT);
	/* Edges: a prefix cut short, empty input, NULL. */
	assert_int_equal(cbp_record_b64_next((unsigned char *)"RkFDADAxM", 9, 0, &s, &en), 0);
	assert_int_equal(cbp_record_b64_next((unsigned char *)"", 0, 0, &s, &en), 0);
	assert_int_equal(cbp_record_b64_next(NULL, 100, 0, &s, &en), 0);
	assert_int_equal(cbp_record_b64_next((unsigned char *)"RkFDADAzMA", 10, 0, &s, &en), 1);
	assert_int_equal(en, 10);
	free(e);
	free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso2005_minimal),
		cmocka_unit_test(test_iso2011_minimal),
		cmocka_unit_test(test_iso_face01),
		cmocka_unit_test(test_iso_iris_is_not_face),
		cmocka_unit_test(test_iso_trailing_bytes),
		cmocka_unit_test(test_iso_two_faces_and_jp2),
		cmocka_unit_test(test_iso2011_png),
		cmocka_unit_test(test_iso_hostile),
		cmocka_unit_test(test_iso_prefixes),
		cmocka_unit_test(test_dg2_wrapped),
		cmocka_unit_test(test_dg2_tlvbit_header_only),
		cmocka_unit_test(test_ansi_example),
		cmocka_unit_test(test_ansi_face_jpb),
		cmocka_unit_test(test_ansi_valid1_9),
		cmocka_unit_test(test_ansi_no_type10),
		cmocka_unit_test(test_ansi_binary_records_and_two_faces),
		cmocka_unit_test(test_ansi_duplicate_data_field),
		cmocka_unit_test(test_ansi_raw_image),
		cmocka_unit_test(test_ansi_hostile),
		cmocka_unit_test(test_carve_odd_offset),
		cmocka_unit_test(test_carve_2011_and_face01),
		cmocka_unit_test(test_carve_fac_in_text),
		cmocka_unit_test(test_carve_ansi_embedded),
		cmocka_unit_test(test_carve_ansi_budget),
		cmocka_unit_test(test_carve_limit),
		cmocka_unit_test(test_carve_prefixes),
		cmocka_unit_test(test_b64_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
