/*
 * test_meta.c — cbp_meta.h: image size and text metadata from JPEG, TIFF,
 * PNG and JPEG 2000, and the exact outcome for hostile inputs.
 *
 * Fixtures are built here, byte by byte, with small builders (the JPEG
 * and PNG examples of docs/formats.md are checked as given).  Real files
 * are read from $CBP_TESTDATA (default ../shared/testdata) and the test is
 * skipped when one is absent — except under make (CBP_TEST_STRICT), where a
 * missing sample is a failure: a check that passes by skipping proves nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include <cmocka.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_meta.h"

/* ---- byte builder -------------------------------------------------------- */

/* The first field whose name equals name, or NULL. */
static const struct cbp_meta_field *
meta_get(const struct cbp_meta *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].name, name) == 0)
			return &m->fields[i];
	return NULL;
}

struct bb {
	unsigned char *p;
	size_t n, cap;
};

static void
bb_put(struct bb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t want = b->cap ? b->cap : 256;
		while (want < b->n + n)
			want *= 2;
		b->p = realloc(b->p, want);
		assert_non_null(b->p);
		b->cap = want;
	}
	if (n > 0)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void
bb_u8(struct bb *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	bb_put(b, &c, 1);
}

static void
bb_16(struct bb *b, int be, unsigned v)
{
	unsigned char c[2];
	c[be ? 0 : 1] = (unsigned char)(v >> 8);
	c[be ? 1 : 0] = (unsigned char)v;
	bb_put(b, c, 2);
}

static void
bb_32(struct bb *b, int be, uint32_t v)
{
	int i;
	for (i = 0; i < 4; i++)
		bb_u8(b, (v >> (be ? 24 - 8 * i : 8 * i)) & 0xFF);
}

static void
bb_64(struct bb *b, int be, uint64_t v)
{
	int i;
	for (i = 0; i < 8; i++)
		bb_u8(b, (unsigned)(v >> (be ? 56 - 8 * i : 8 * i)) & 0xFF);
}

static void
bb_str(struct bb *b, const char *s)
{
	bb_put(b, s, strlen(s));
}

static void
bb_fill(struct bb *b, unsigned char c, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		bb_u8(b, c);
}

static void
bb_free(struct bb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- TIFF builder -------------------------------------------------------- */

/*
 * One IFD entry.  Values of more than 4 bytes go after the IFD; with
 * `inl` set, the 4-byte value field is written as the number v (SHORT
 * left-aligned), whatever count says, so tests can forge offsets.
 */
struct tent {
	uint16_t tag, type;
	uint32_t count;
	const void *val;
	size_t vlen;
	int inl;
	uint32_t v;
};

#define T_ASCII(tag, s) { tag, 2, (uint32_t)sizeof(s), s, sizeof(s), 0, 0 }
#define T_UNDEF(tag, s, n) { tag, 7, (uint32_t)(n), s, n, 0, 0 }
#define T_BYTE(tag, s, n) { tag, 1, (uint32_t)(n), s, n, 0, 0 }
#define T_SHORT(tag, x) { tag, 3, 1, NULL, 0, 1, x }
#define T_LONG(tag, x) { tag, 4, 1, NULL, 0, 1, x }
#define T_RAW(tag, type, count, x) { tag, type, count, NULL, 0, 1, x }

/* Bytes an IFD with these entries takes, values included. */
static size_t
ifd_size(const struct tent *e, int n)
{
	size_t s = 2 + 12 * (size_t)n + 4;
	int i;

	for (i = 0; i < n; i++)
		if (!e[i].inl && e[i].vlen > 4)
			s += e[i].vlen + (e[i].vlen & 1);
	return s;
}

/* Write an IFD at the end of b; offsets count from b->p + start. */
static void
tiff_ifd(struct bb *b, size_t start, int be, const struct tent *e, int n,
    uint32_t next)
{
	size_t data = b->n - start + 2 + 12 * (size_t)n + 4;
	int i;

	bb_16(b, be, (unsigned)n);
	for (i = 0; i < n; i++) {
		bb_16(b, be, e[i].tag);
		bb_16(b, be, e[i].type);
		bb_32(b, be, e[i].count);
		if (e[i].inl && e[i].type == 3) {
			bb_16(b, be, e[i].v);
			bb_16(b, be, 0);
		} else if (e[i].inl) {
			bb_32(b, be, e[i].v);
		} else if (e[i].vlen <= 4) {
			bb_put(b, e[i].val, e[i].vlen);
			bb_fill(b, 0, 4 - e[i].vlen);
		} else {
			bb_32(b, be, (uint32_t)data);
			data += e[i].vlen + (e[i].vlen & 1);
		}
	}
	bb_32(b, be, next);
	for (i = 0; i < n; i++) {
		if (!e[i].inl && e[i].vlen > 4) {
			bb_put(b, e[i].val, e[i].vlen);
			bb_fill(b, 0, e[i].vlen & 1);
		}
	}
}

static void
tiff_header(struct bb *b, int be, uint32_t ifd0)
{
	bb_str(b, be ? "MM" : "II");
	bb_16(b, be, 42);
	bb_32(b, be, ifd0);
}

/* The Exif of formats.md 1.5 (Make ACME, Orientation 6, UserComment "hi"). */
static void
exif_skeleton(struct bb *b, int be)
{
	static const unsigned char uc[] = "ASCII\0\0\0hi";
	struct tent ifd0[] = {
		T_ASCII(0x010F, "ACME"),
		T_SHORT(0x0112, 6),
		T_LONG(0x8769, 0),
	};
	struct tent exif[] = { T_UNDEF(0x9286, uc, 10) };
	size_t start = b->n;

	ifd0[2].v = (uint32_t)(8 + ifd_size(ifd0, 3));
	tiff_header(b, be, 8);
	tiff_ifd(b, start, be, ifd0, 3, 0);
	tiff_ifd(b, start, be, exif, 1, 0);
}

/* ---- JPEG / PNG / JP2 builders ------------------------------------------- */

static void
jpeg_seg(struct bb *b, unsigned marker, const void *d, size_t n)
{
	bb_u8(b, 0xFF);
	bb_u8(b, marker);
	bb_16(b, 1, (unsigned)(n + 2));
	bb_put(b, d, n);
}

/* APP1 "Exif\0\0" + TIFF */
static void
jpeg_exif(struct bb *b, const struct bb *tiff)
{
	struct bb s = { 0 };

	bb_put(&s, "Exif\0\0", 6);
	bb_put(&s, tiff->p, tiff->n);
	jpeg_seg(b, 0xE1, s.p, s.n);
	bb_free(&s);
}

static void
jpeg_sof(struct bb *b, unsigned w, unsigned h)
{
	static const unsigned char comp[9] = { 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1 };
	struct bb s = { 0 };

	bb_u8(&s, 8);
	bb_16(&s, 1, h);
	bb_16(&s, 1, w);
	bb_u8(&s, 3);
	bb_put(&s, comp, sizeof(comp));
	jpeg_seg(b, 0xC0, s.p, s.n);
	bb_free(&s);
}

static void
jpeg_xmp(struct bb *b, const char *xml)
{
	struct bb s = { 0 };

	bb_put(&s, "http://ns.adobe.com/xap/1.0/", 29);
	bb_str(&s, xml);
	jpeg_seg(b, 0xE1, s.p, s.n);
	bb_free(&s);
}

static void
png_chunk(struct bb *b, const char *type, const void *d, size_t n)
{
	uLong crc = crc32(0L, (const Bytef *)type, 4);

	crc = crc32(crc, (const Bytef *)d, (uInt)n);
	bb_32(b, 1, (uint32_t)n);
	bb_put(b, type, 4);
	bb_put(b, d, n);
	bb_32(b, 1, (uint32_t)crc);
}

static void
png_start(struct bb *b, uint32_t w, uint32_t h)
{
	struct bb s = { 0 };

	bb_put(b, "\x89PNG\r\n\x1a\n", 8);
	bb_32(&s, 1, w);
	bb_32(&s, 1, h);
	bb_put(&s, "\x08\x00\x00\x00\x00", 5);
	png_chunk(b, "IHDR", s.p, s.n);
	bb_free(&s);
}

static void
png_end(struct bb *b)
{
	static const unsigned char idat[] = { 0x78, 0x9C, 0x63, 0x68, 0x00, 0x00, 0x00, 0x82, 0x00, 0x81 };

	png_chunk(b, "IDAT", idat, sizeof(idat));
	png_chunk(b, "IEND", "", 0);
}

/* zlib-compress src into s (appended). */
static void
bb_zlib(struct bb *s, const void *src, size_t n)
{
	uLongf zn = compressBound((uLong)n);
	unsigned char *z = malloc(zn);

	assert_non_null(z);
	assert_int_equal(compress2(z, &zn, src, (uLong)n, 9), Z_OK);
	bb_put(s, z, zn);
	free(z);
}

static void
png_ztxt(struct bb *b, const char *key, const void *text, size_t n)
{
	struct bb s = { 0 };

	bb_put(&s, key, strlen(key) + 1);
	bb_u8(&s, 0);
	bb_zlib(&s, text, n);
	png_chunk(b, "zTXt", s.p, s.n);
	bb_free(&s);
}

static void
png_text(struct bb *b, const char *key, const char *text)
{
	struct bb s = { 0 };

	bb_put(&s, key, strlen(key) + 1);
	bb_str(&s, text);
	png_chunk(b, "tEXt", s.p, s.n);
	bb_free(&s);
}

static void
png_itxt(struct bb *b, const char *key, const char *text, int compress)
{
	struct bb s = { 0 };

	bb_put(&s, key, strlen(key) + 1);
	bb_u8(&s, compress ? 1 : 0);
	bb_u8(&s, 0);
	bb_put(&s, "en\0\0", 4);
	if (compress)
		bb_zlib(&s, text, strlen(text));
	else
		bb_str(&s, text);
	png_chunk(b, "iTXt", s.p, s.n);
	bb_free(&s);
}

static const unsigned char jp2_sig[] = {
	0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A,
	0, 0, 0, 0x14, 'f', 't', 'y', 'p', 'j', 'p', '2', ' ', 0, 0, 0, 0,
	'j', 'p', '2', ' ',
};

static void
jp2_box(struct bb *b, const char *type, const void *d, size_t n)
{
	bb_32(b, 1, (uint32_t)(n + 8));
	bb_put(b, type, 4);
	bb_put(b, d, n);
}

static void
jp2_ihdr_box(struct bb *jp2h, uint32_t w, uint32_t h)
{
	struct bb s = { 0 };

	bb_32(&s, 1, h);
	bb_32(&s, 1, w);
	bb_put(&s, "\x00\x01\x07\x07\x00\x00", 6);
	jp2_box(jp2h, "ihdr", s.p, s.n);
	bb_free(&s);
}

/* SOC, SIZ (one component), optional COM, SOT, EOC. */
static void
j2k_codestream(struct bb *b, uint32_t x, uint32_t y, uint32_t xo, uint32_t yo,
    const char *com, unsigned rcom)
{
	bb_put(b, "\xFF\x4F\xFF\x51", 4);
	bb_16(b, 1, 41);
	bb_16(b, 1, 0);
	bb_32(b, 1, x);
	bb_32(b, 1, y);
	bb_32(b, 1, xo);
	bb_32(b, 1, yo);
	bb_32(b, 1, x);
	bb_32(b, 1, y);
	bb_32(b, 1, 0);
	bb_32(b, 1, 0);
	bb_16(b, 1, 1);
	bb_put(b, "\x07\x01\x01", 3);
	if (com != NULL) {
		bb_put(b, "\xFF\x64", 2);
		bb_16(b, 1, (unsigned)(strlen(com) + 4));
		bb_16(b, 1, rcom);
		bb_str(b, com);
	}
	bb_put(b, "\xFF\x90\x00\x0A\x00\x00\x00\x00\x00\x0E\x00\x01", 12);
	bb_put(b, "\xFF\x93\xFF\xD9", 4);
}

/* ---- helpers --------------------------------------------------------------- */

static void
assert_field(const struct cbp_meta *m, const char *name, const char *want)
{
	const struct cbp_meta_field *f = meta_get(m, name);

	if (f == NULL)
		fail_msg("field %s missing", name);
	assert_string_equal(f->value, want);
	assert_int_equal(f->len, strlen(want));
}

static void
assert_field_has(const struct cbp_meta *m, const char *name, const char *part)
{
	const struct cbp_meta_field *f = meta_get(m, name);

	if (f == NULL)
		fail_msg("field %s missing", name);
	if (strstr(f->value, part) == NULL)
		fail_msg("field %s lacks %s", name, part);
}

static void
assert_corrupt(const struct cbp_meta *m, const char *detail)
{
	assert_int_equal(m->corrupt, 1);
	assert_non_null(m->corrupt_detail);
	assert_string_equal(m->corrupt_detail, detail);
}

static int
extract(const struct bb *b, int complete, struct cbp_meta *m)
{
	return cbp_meta_extract(b->p, b->n, complete, m);
}

static size_t
count_fields(const struct cbp_meta *m, const char *name)
{
	size_t i, k = 0;

	for (i = 0; i < m->nfields; i++)
		k += strcmp(m->fields[i].name, name) == 0;
	return k;
}

/* A real sample file, or NULL (the test then skips; under CBP_TEST_STRICT
 * the test fails here instead). */
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
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path))
		return NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		if (getenv("CBP_TEST_STRICT") != NULL)
			fail_msg("test data %s missing: the checks need "
			    "../shared/testdata (or CBP_TESTDATA)", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)sz)) != NULL) {
		*n = fread(p, 1, (size_t)sz, f);
		if (*n != (size_t)sz) {
			free(p);
			p = NULL;
		}
	}
	fclose(f);
	return p;
}

/* ---- formats.md examples --------------------------------------------------- */

static const unsigned char jpeg_196[] = {
	0xFF, 0xD8,
	0xFF, 0xE1, 0x00, 0x5C,
	0x45, 0x78, 0x69, 0x66, 0x00, 0x00,
	0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00,
	0x03, 0x00,
	0x0F, 0x01, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00,
	0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
	0x69, 0x87, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x41, 0x43, 0x4D, 0x45, 0x00, 0x00,
	0x01, 0x00,
	0x86, 0x92, 0x07, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x4A, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x41, 0x53, 0x43, 0x49, 0x49, 0x00, 0x00, 0x00, 0x68, 0x69,
	0xFF, 0xE1, 0x00, 0x44,
	0x68, 0x74, 0x74, 0x70, 0x3A, 0x2F, 0x2F, 0x6E, 0x73, 0x2E, 0x61, 0x64,
	0x6F, 0x62, 0x65, 0x2E, 0x63, 0x6F, 0x6D, 0x2F,
	0x78, 0x61, 0x70, 0x2F, 0x31, 0x2E, 0x30, 0x2F, 0x00,
	0x3C, 0x78, 0x3A, 0x78, 0x6D, 0x70, 0x6D, 0x65, 0x74, 0x61, 0x20, 0x78,
	0x6D, 0x6C, 0x6E, 0x73, 0x3A, 0x78, 0x3D, 0x22,
	0x61, 0x64, 0x6F, 0x62, 0x65, 0x3A, 0x6E, 0x73, 0x3A, 0x6D, 0x65, 0x74,
	0x61, 0x2F, 0x22, 0x2F, 0x3E,
	0xFF, 0xFE, 0x00, 0x07, 0x68, 0x65, 0x6C, 0x6C, 0x6F,
	0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0xF0, 0x01, 0x40, 0x03,
	0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
	0xFF, 0xD9,
};

static void
test_jpeg_skeleton(void **state)
{
	struct cbp_meta m;

	(void)state;
	assert_int_equal(sizeof(jpeg_196), 196);
	assert_int_equal(cbp_meta_sniff(jpeg_196, sizeof(jpeg_196)), CBP_IMG_JPEG);
	assert_int_equal(cbp_meta_extract(jpeg_196, sizeof(jpeg_196), 1, &m), CBP_OK);
	assert_int_equal(m.format, CBP_IMG_JPEG);
	assert_int_equal(m.width, 320);
	assert_int_equal(m.height, 240);
	assert_int_equal(m.orientation, 6);
	assert_field(&m, "EXIF:Make", "ACME");
	assert_field(&m, "EXIF:UserComment", "hi");
	assert_field(&m, "COM", "hello");
	assert_field(&m, "XMP", "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/>");
	assert_int_equal(m.nfields, 4);
	assert_int_equal(m.corrupt, 0);
	assert_null(m.corrupt_detail);
	assert_int_equal(m.limited, 0);
	assert_int_equal(m.thumb_len, 0);
	cbp_meta_free(&m);
	/* Freed means zeroed: a second free is harmless. */
	assert_int_equal(m.nfields, 0);
	cbp_meta_free(&m);
}

/* Every prefix of the skeleton: no corruption when complete = 0. */
static void
test_jpeg_prefixes(void **state)
{
	struct cbp_meta m;
	size_t n;

	(void)state;
	for (n = 0; n <= sizeof(jpeg_196); n++) {
		int r = cbp_meta_extract(jpeg_196, n, 0, &m);
		assert_int_equal(r, n < 3 ? CBP_ENOTFOUND : CBP_OK);
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		r = cbp_meta_extract(jpeg_196, n, 1, &m);
		if (n >= 3 && n < sizeof(jpeg_196))
			assert_int_equal(m.corrupt, 1);
		cbp_meta_free(&m);
	}
	/* A head that ends inside the Exif segment still gives what it holds. */
	assert_int_equal(cbp_meta_extract(jpeg_196, 80, 0, &m), CBP_OK);
	assert_int_equal(m.corrupt, 0);
	assert_field(&m, "EXIF:Make", "ACME");
	assert_int_equal(m.orientation, 6);
	assert_null(meta_get(&m, "EXIF:UserComment"));
	cbp_meta_free(&m);
	assert_int_equal(cbp_meta_extract(jpeg_196, 80, 1, &m), CBP_OK);
	assert_corrupt(&m, "JPEG segment length runs past end of data");
	assert_field(&m, "EXIF:Make", "ACME");
	cbp_meta_free(&m);
	/* Cut in the middle of the COM segment: Exif and XMP are kept. */
	assert_int_equal(cbp_meta_extract(jpeg_196, 170, 1, &m), CBP_OK);
	assert_corrupt(&m, "JPEG segment length runs past end of data");
	assert_field(&m, "EXIF:Make", "ACME");
	assert_null(meta_get(&m, "COM"));
	cbp_meta_free(&m);
}

static void
test_jpeg_big_endian(void **state)
{
	struct bb t = { 0 }, b = { 0 };
	struct cbp_meta m;

	(void)state;
	exif_skeleton(&t, 1);
	assert_memory_equal(t.p, "MM\0\x2a\0\0\0\x08", 8);
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_exif(&b, &t);
	jpeg_seg(&b, 0xFE, "hello", 5);
	jpeg_sof(&b, 320, 240);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.orientation, 6);
	assert_int_equal(m.width, 320);
	assert_int_equal(m.height, 240);
	assert_field(&m, "EXIF:Make", "ACME");
	assert_field(&m, "EXIF:UserComment", "hi");
	assert_field(&m, "COM", "hello");
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&t);
	bb_free(&b);
}

static void
test_png_example(void **state)
{
	static const unsigned char idat[] = { 0x78, 0x9C, 0x63, 0x68, 0x00, 0x00, 0x00, 0x82, 0x00, 0x81 };
	struct bb b = { 0 }, t = { 0 };
	struct cbp_meta m;

	(void)state;
	png_start(&b, 1, 1);
	/* The IHDR and tEXt CRCs of formats.md 2.4. */
	assert_memory_equal(b.p + 29, "\x3A\x7E\x9B\x55", 4);
	png_text(&b, "Comment", "hello");
	assert_memory_equal(b.p + b.n - 4, "\xE6\xFF\xAE\x24", 4);
	png_chunk(&b, "zTXt", "Comment\0\0\x78\x9C\xCB\x48\xCD\xC9\xC9\x07\x00\x06\x2C\x02\x15", 22);
	assert_memory_equal(b.p + b.n - 4, "\x1D\x40\xFD\x62", 4);
	png_chunk(&b, "iTXt", "Comment\0\0\0en\0\0h\xC3\xA9llo", 20);
	assert_memory_equal(b.p + b.n - 4, "\x98\xB0\x0D\x26", 4);
	exif_skeleton(&t, 0);
	assert_int_equal(t.n, 84);
	assert_memory_equal(t.p, jpeg_196 + 12, 84);
	png_chunk(&b, "eXIf", t.p, t.n);
	png_chunk(&b, "IDAT", idat, sizeof(idat));
	assert_memory_equal(b.p + b.n - 4, "\x77\xCD\x72\xB6", 4);
	png_chunk(&b, "IEND", "", 0);
	assert_memory_equal(b.p + b.n - 12, "\0\0\0\0IEND\xAE\x42\x60\x82", 12);

	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.format, CBP_IMG_PNG);
	assert_int_equal(m.width, 1);
	assert_int_equal(m.height, 1);
	assert_int_equal(m.orientation, 6);
	assert_field(&m, "PNG:tEXt:Comment", "hello");
	assert_field(&m, "PNG:zTXt:Comment", "hello");
	assert_field(&m, "PNG:iTXt:Comment", "h\xC3\xA9llo");
	assert_field(&m, "EXIF:Make", "ACME");
	assert_field(&m, "EXIF:UserComment", "hi");
	assert_int_equal(m.nfields, 5);
	assert_int_equal(m.corrupt, 0);
	assert_int_equal(m.limited, 0);
	cbp_meta_free(&m);
	bb_free(&t);
	bb_free(&b);
}

/* ---- XMP and text encodings ------------------------------------------------ */

static const char xmp_elem[] =
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><rdf:Description "
    "xmlns:lpr=\"urn:example:lpr\"><lpr:PORT>2304</lpr:PORT>"
    "<lpr:PLATE>7ABC123</lpr:PLATE></rdf:Description></rdf:RDF></x:xmpmeta>";
static const char xmp_attr[] =
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><rdf:Description "
    "lpr:PORT=\"2304\" lpr:LANE=\"07\" lpr:PLATE=\"7ABC123\"/></rdf:RDF></x:xmpmeta>";

static void
test_xmp_everywhere(void **state)
{
	struct bb b = { 0 }, t = { 0 }, h = { 0 }, u = { 0 };
	struct tent e[] = { T_BYTE(0x02BC, xmp_attr, sizeof(xmp_attr) - 1) };
	struct cbp_meta m;

	(void)state;
	/* JPEG APP1, elements and attributes. */
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_xmp(&b, xmp_elem);
	jpeg_xmp(&b, xmp_attr);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(count_fields(&m, "XMP"), 2);
	assert_string_equal(m.fields[0].value, xmp_elem);
	assert_string_equal(m.fields[1].value, xmp_attr);
	assert_true(strstr(m.fields[0].value, "<lpr:PLATE>7ABC123</lpr:PLATE>") != NULL);
	assert_true(strstr(m.fields[1].value, "lpr:PLATE=\"7ABC123\"") != NULL);
	cbp_meta_free(&m);
	bb_free(&b);

	/* PNG iTXt, plain and compressed. */
	png_start(&b, 2, 2);
	png_itxt(&b, "XML:com.adobe.xmp", xmp_elem, 1);
	png_end(&b);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_field(&m, "XMP", xmp_elem);
	assert_field_has(&m, "XMP", "<lpr:PLATE>7ABC123</lpr:PLATE>");
	assert_field(&m, "PNG:iTXt:XML:com.adobe.xmp", xmp_elem);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);

	/* TIFF tag 700. */
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, e, 1, 0);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	assert_int_equal(m.format, CBP_IMG_TIFF);
	assert_field(&m, "XMP", xmp_attr);
	assert_field_has(&m, "XMP", "lpr:PLATE=\"7ABC123\"");
	cbp_meta_free(&m);

	/* JP2 uuid box. */
	bb_put(&b, jp2_sig, sizeof(jp2_sig));
	jp2_ihdr_box(&h, 30, 20);
	jp2_box(&b, "jp2h", h.p, h.n);
	bb_put(&u, "\xBE\x7A\xCF\xCB\x97\xA9\x42\xE8\x9C\x71\x99\x94\x91\xE3\xAF\xAC", 16);
	bb_str(&u, xmp_elem);
	jp2_box(&b, "uuid", u.p, u.n);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.width, 30);
	assert_int_equal(m.height, 20);
	assert_field(&m, "XMP", xmp_elem);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);
	bb_free(&h);
	bb_free(&u);
}

/* TIFF with one Exif IFD holding entry e; byte order be. */
static void
tiff_with_exif_entry(struct bb *t, int be, const struct tent *e)
{
	struct tent ifd0[] = { T_LONG(0x8769, 8 + 18) };

	tiff_header(t, be, 8);
	tiff_ifd(t, 0, be, ifd0, 1, 0);
	tiff_ifd(t, 0, be, e, 1, 0);
}

static void
test_usercomment_unicode(void **state)
{
	static const char want[] = "LPR;PORT=2304;PLATE=7ABC123";
	unsigned char le[8 + 2 * sizeof(want)], be[sizeof(le)];
	struct cbp_meta m;
	struct bb t = { 0 };
	size_t i, n = 8 + 2 * (sizeof(want) - 1);

	(void)state;
	memcpy(le, "UNICODE\0", 8);
	memcpy(be, "UNICODE\0", 8);
	for (i = 0; i + 1 < sizeof(want); i++) {
		le[8 + 2 * i] = (unsigned char)want[i];
		le[9 + 2 * i] = 0;
		be[8 + 2 * i] = 0;
		be[9 + 2 * i] = (unsigned char)want[i];
	}
	{
		/* II + LE text, MM + BE text: the byte order of the TIFF. */
		struct tent e1[] = { T_UNDEF(0x9286, le, n) };
		struct tent e2[] = { T_UNDEF(0x9286, be, n) };
		/* MM + LE text: writers disagree; the text decides. */
		struct tent e3[] = { T_UNDEF(0x9286, le, n) };

		tiff_with_exif_entry(&t, 0, e1);
		assert_int_equal(extract(&t, 1, &m), CBP_OK);
		assert_field(&m, "EXIF:UserComment", want);
		cbp_meta_free(&m);
		bb_free(&t);
		tiff_with_exif_entry(&t, 1, e2);
		assert_int_equal(extract(&t, 1, &m), CBP_OK);
		assert_field(&m, "EXIF:UserComment", want);
		cbp_meta_free(&m);
		bb_free(&t);
		tiff_with_exif_entry(&t, 1, e3);
		assert_int_equal(extract(&t, 1, &m), CBP_OK);
		assert_field(&m, "EXIF:UserComment", want);
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		bb_free(&t);
	}
}

static void
test_usercomment_prefixes(void **state)
{
	static const unsigned char jis[] = "JIS\0\0\0\0\0\x1b$B";
	static const unsigned char undef[] = "\0\0\0\0\0\0\0\0PLATE=7ABC123  \0\0";
	static const unsigned char none[] = "PLATE=7ABC123";
	static const unsigned char bin[] = "ASCII\0\0\0\n\0\0\0JKJK'\x10\x1a\0\0\0 ";
	struct cbp_meta m;
	struct bb t = { 0 };
	const struct cbp_meta_field *f;
	struct tent e1[] = { T_UNDEF(0x9286, jis, sizeof(jis) - 1) };
	struct tent e2[] = { T_UNDEF(0x9286, undef, sizeof(undef) - 1) };
	struct tent e3[] = { T_UNDEF(0x9286, none, sizeof(none) - 1) };
	struct tent e4[] = { T_UNDEF(0x9286, bin, sizeof(bin) - 1) };

	(void)state;
	tiff_with_exif_entry(&t, 0, e1);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	assert_field(&m, "EXIF:UserComment", "\x1b$B");
	cbp_meta_free(&m);
	bb_free(&t);
	tiff_with_exif_entry(&t, 0, e2);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	assert_field(&m, "EXIF:UserComment", "PLATE=7ABC123");
	cbp_meta_free(&m);
	bb_free(&t);
	tiff_with_exif_entry(&t, 0, e3);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	assert_field(&m, "EXIF:UserComment", "PLATE=7ABC123");
	cbp_meta_free(&m);
	bb_free(&t);
	/* Samsung-style binary after the ASCII prefix: kept, NULs and all. */
	tiff_with_exif_entry(&t, 0, e4);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	f = meta_get(&m, "EXIF:UserComment");
	assert_non_null(f);
	assert_int_equal(f->len, 11);
	assert_memory_equal(f->value, "\n\0\0\0JKJK'\x10\x1a", 12);
	cbp_meta_free(&m);
	bb_free(&t);
}

static void
test_xpcomment_utf16(void **state)
{
	/* "é😀" then a lone high surrogate, then "P", trailing NUL pair. */
	static const unsigned char xp[] = {
		0xE9, 0x00, 0x3D, 0xD8, 0x00, 0xDE, 0x00, 0xD8, 'P', 0, 0, 0,
	};
	static const unsigned char title[] = { 'L', 0, 'P', 0, 'R', 0, 0, 0 };
	struct tent ifd0[] = {
		T_BYTE(0x9C9B, title, sizeof(title)),
		T_BYTE(0x9C9C, xp, sizeof(xp)),
	};
	struct cbp_meta m;
	struct bb t = { 0 };
	int be;

	(void)state;
	/* XP tags are UTF-16LE in both TIFF byte orders. */
	for (be = 0; be <= 1; be++) {
		tiff_header(&t, be, 8);
		tiff_ifd(&t, 0, be, ifd0, 2, 0);
		assert_int_equal(extract(&t, 1, &m), CBP_OK);
		assert_field(&m, "EXIF:XPComment",
		    "\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBDP");
		assert_field(&m, "EXIF:XPTitle", "LPR");
		cbp_meta_free(&m);
		bb_free(&t);
	}
}

static void
test_text_tags_and_latin1(void **state)
{
	static const unsigned char utf8[] = "\xC3\xA9t\xC3\xA9";
	struct tent ifd0[] = {
		T_ASCII(0x010E, "LPR;PORT=2304;LANE=07;PLATE=7ABC123"),
		T_ASCII(0x0110, "Model X"),
		T_ASCII(0x0131, "fw 1.0"),
		T_ASCII(0x013B, "me"),
		T_ASCII(0x8298, "(c) us"),
		T_ASCII(0x0132, "2024:01:01 00:00:00"),
		{ 0x9C9F, 129, sizeof(utf8), utf8, sizeof(utf8), 0, 0 },
		T_LONG(0x8769, 0),
	};
	struct tent exif[] = {
		T_ASCII(0x9003, "2024:01:02 00:00:00"),
		T_ASCII(0x9004, "2024:01:03 00:00:00"),
		T_ASCII(0xA420, "uid"),
		T_ASCII(0xA430, "owner"),
		T_ASCII(0xA431, "SN1"),
	};
	struct cbp_meta m;
	struct bb t = { 0 }, p = { 0 };

	(void)state;
	ifd0[7].v = (uint32_t)(8 + ifd_size(ifd0, 8));
	tiff_header(&t, 1, 8);
	tiff_ifd(&t, 0, 1, ifd0, 8, 0);
	tiff_ifd(&t, 0, 1, exif, 5, 0);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	assert_field(&m, "EXIF:ImageDescription", "LPR;PORT=2304;LANE=07;PLATE=7ABC123");
	assert_field(&m, "EXIF:Model", "Model X");
	assert_field(&m, "EXIF:Software", "fw 1.0");
	assert_field(&m, "EXIF:Artist", "me");
	assert_field(&m, "EXIF:Copyright", "(c) us");
	assert_field(&m, "EXIF:DateTime", "2024:01:01 00:00:00");
	assert_field(&m, "EXIF:XPSubject", "\xC3\xA9t\xC3\xA9");
	assert_field(&m, "EXIF:DateTimeOriginal", "2024:01:02 00:00:00");
	assert_field(&m, "EXIF:DateTimeDigitized", "2024:01:03 00:00:00");
	assert_field(&m, "EXIF:ImageUniqueID", "uid");
	assert_field(&m, "EXIF:CameraOwnerName", "owner");
	assert_field(&m, "EXIF:BodySerialNumber", "SN1");
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);

	/* PNG tEXt is Latin-1; keywords too. */
	png_start(&p, 4, 4);
	png_text(&p, "caf\xe9", "na\xefve \xa9 ");
	png_end(&p);
	assert_int_equal(extract(&p, 1, &m), CBP_OK);
	assert_field(&m, "PNG:tEXt:caf\xC3\xA9", "na\xC3\xAFve \xC2\xA9");
	cbp_meta_free(&m);
	bb_free(&t);
	bb_free(&p);
}

/* ---- JPEG structure ------------------------------------------------------- */

static void
test_jpeg_scans_and_fill(void **state)
{
	static const unsigned char sos[] = { 1, 1, 0, 0, 63, 0 };
	static const unsigned char ecs[] = {
		0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0x00, 0xFF, 0xD7, 0x78,
	};
	struct cbp_meta m;
	struct bb b = { 0 };

	(void)state;
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_sof(&b, 640, 480);
	jpeg_seg(&b, 0xDA, sos, sizeof(sos));
	bb_put(&b, ecs, sizeof(ecs));
	/* Progressive: segments between scans, with fill bytes. */
	bb_put(&b, "\xFF\xFF\xFF", 3);
	jpeg_seg(&b, 0xFE, "after scan 1", 12);
	jpeg_seg(&b, 0xC4, "\0\0\0\0", 4);	/* DHT: not a frame */
	jpeg_seg(&b, 0xDA, sos, sizeof(sos));
	bb_put(&b, ecs, sizeof(ecs));
	jpeg_seg(&b, 0xFE, "after scan 2", 12);
	bb_put(&b, "\xFF\xD9", 2);
	/* Bytes after EOI are not parsed. */
	jpeg_seg(&b, 0xFE, "trailer", 7);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.width, 640);
	assert_int_equal(m.height, 480);
	assert_int_equal(count_fields(&m, "COM"), 2);
	assert_string_equal(m.fields[0].value, "after scan 1");
	assert_string_equal(m.fields[1].value, "after scan 2");
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);

	/* The scan runs to the end: corrupt only if the buffer is the file. */
	b.n -= 2 + 11 + 2 + 16;
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "JPEG scan data runs past end of data");
	assert_int_equal(count_fields(&m, "COM"), 1);
	cbp_meta_free(&m);
	assert_int_equal(extract(&b, 0, &m), CBP_OK);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);
}

static void
test_jpeg_sof_kinds(void **state)
{
	static const unsigned sofs[] = { 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF };
	static const unsigned char frame[] = { 8, 0, 20, 0, 10, 1, 1, 0x11, 0 };
	struct cbp_meta m;
	struct bb b = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sofs) / sizeof(sofs[0]); i++) {
		bb_put(&b, "\xFF\xD8", 2);
		jpeg_seg(&b, 0xC4, frame, sizeof(frame));
		jpeg_seg(&b, 0xC8, frame, sizeof(frame));
		jpeg_seg(&b, 0xCC, frame, sizeof(frame));
		jpeg_seg(&b, sofs[i], frame, sizeof(frame));
		bb_put(&b, "\xFF\xD9", 2);
		assert_int_equal(extract(&b, 1, &m), CBP_OK);
		assert_int_equal(m.width, 10);
		assert_int_equal(m.height, 20);
		cbp_meta_free(&m);
		bb_free(&b);
	}
}

static void
test_jpeg_extended_xmp(void **state)
{
	static const char guid[] = "0123456789ABCDEF0123456789ABCDEF";
	static const char *part[] = { "<x:xmpmeta><lpr:PLATE>", "7ABC123</lpr:PLATE>", "</x:xmpmeta>" };
	struct cbp_meta m;
	struct bb b = { 0 }, s = { 0 };
	uint32_t off = 0;
	int i;

	(void)state;
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_xmp(&b, "<x:xmpmeta xmpNote:HasExtendedXMP=\"0123\"/>");
	for (i = 0; i < 4; i++) {
		/* Slice 1 is sent twice: the repeat is dropped. */
		const char *p = part[i < 2 ? i : i - 1];
		uint32_t at = i == 2 ? off - (uint32_t)strlen(part[1]) : off;

		bb_put(&s, "http://ns.adobe.com/xmp/extension/", 35);
		bb_put(&s, guid, 32);
		bb_32(&s, 1, 53);
		bb_32(&s, 1, at);
		bb_str(&s, p);
		jpeg_seg(&b, 0xE1, s.p, s.n);
		s.n = 0;
		if (i != 2)
			off += (uint32_t)strlen(p);
	}
	/* A different GUID is not joined in. */
	bb_put(&s, "http://ns.adobe.com/xmp/extension/", 35);
	bb_fill(&s, 'Z', 32);
	bb_32(&s, 1, 5);
	bb_32(&s, 1, 53);
	bb_str(&s, "OTHER");
	jpeg_seg(&b, 0xE1, s.p, s.n);
	/* Too short to hold GUID, length and offset. */
	s.n = 0;
	bb_put(&s, "http://ns.adobe.com/xmp/extension/", 35);
	bb_str(&s, "short");
	jpeg_seg(&b, 0xE1, s.p, s.n);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(count_fields(&m, "XMP"), 2);
	assert_string_equal(m.fields[1].value,
	    "<x:xmpmeta><lpr:PLATE>7ABC123</lpr:PLATE></x:xmpmeta>");
	assert_corrupt(&m, "JPEG extended XMP segment too short");
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&s);
}

static void
test_jpeg_iptc(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 }, s = { 0 }, iim = { 0 };

	(void)state;
	bb_put(&iim, "\x1C\x01\x5A\x00\x03\x1B\x25\x47", 8);	/* 1:90 UTF-8 */
	bb_put(&iim, "\x1C\x02\x78", 3);
	bb_16(&iim, 1, 36);
	bb_str(&iim, "LPR;PORT=2304;LANE=07;PLATE=7ABC123 ");
	bb_put(&iim, "\x1C\x02\x19\x00\x03" "one", 8);
	bb_put(&iim, "\x1C\x02\x19\x00\x03" "two", 8);
	bb_put(&iim, "\x1C\x02\x05\x00\x04" "name", 9);
	/* Extended length form: 2 bytes of length follow. */
	bb_put(&iim, "\x1C\x02\x50\x80\x02\x00\x02" "me", 9);

	bb_str(&s, "Photoshop 3.0");
	bb_u8(&s, 0);
	bb_str(&s, "8BIM");
	bb_16(&s, 1, 0x03ED);		/* another resource, odd size + pad */
	bb_put(&s, "\x00\x00", 2);
	bb_32(&s, 1, 3);
	bb_put(&s, "abc\0", 4);
	bb_str(&s, "8BIM");
	bb_16(&s, 1, 0x0404);
	bb_put(&s, "\x03" "abc", 4);	/* Pascal name, even total */
	bb_32(&s, 1, (uint32_t)iim.n);
	bb_put(&s, iim.p, iim.n);
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_seg(&b, 0xED, s.p, s.n);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_field(&m, "IPTC:Caption", "LPR;PORT=2304;LANE=07;PLATE=7ABC123");
	assert_int_equal(count_fields(&m, "IPTC:Keywords"), 2);
	assert_field(&m, "IPTC:Keywords", "one");
	assert_field(&m, "IPTC:ObjectName", "name");
	assert_field(&m, "IPTC:By-line", "me");
	assert_int_equal(m.nfields, 5);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);

	/* A dataset longer than its resource. */
	iim.p[12] = 0x7F;
	bb_free(&b);
	bb_put(&b, "\xFF\xD8", 2);
	s.n -= iim.n;
	bb_put(&s, iim.p, iim.n);
	jpeg_seg(&b, 0xED, s.p, s.n);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "IPTC dataset length runs past end of data");
	assert_null(meta_get(&m, "IPTC:Caption"));
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&s);
	bb_free(&iim);
}

static void
test_jpeg_thumbnail(void **state)
{
	static const unsigned char thumb[] = { 0xFF, 0xD8, 0xFF, 0xD9 };
	struct tent ifd0[] = { T_ASCII(0x010F, "ACME") };
	struct tent ifd1[] = { T_LONG(0x0201, 0), T_LONG(0x0202, 4) };
	struct cbp_meta m;
	struct bb b = { 0 }, t = { 0 };
	size_t ifd1_off = 8 + ifd_size(ifd0, 1), at;

	(void)state;
	ifd1[0].v = (uint32_t)(ifd1_off + ifd_size(ifd1, 2));
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, ifd0, 1, (uint32_t)ifd1_off);
	tiff_ifd(&t, 0, 0, ifd1, 2, 0);
	bb_put(&t, thumb, sizeof(thumb));
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_exif(&b, &t);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	at = 2 + 4 + 6 + ifd1[0].v;
	assert_int_equal(m.thumb_offset, at);
	assert_int_equal(m.thumb_len, 4);
	assert_memory_equal(b.p + m.thumb_offset, thumb, 4);
	assert_field(&m, "EXIF:Make", "ACME");
	cbp_meta_free(&m);
	bb_free(&b);

	/* A thumbnail one byte past the TIFF data is not reported. */
	t.n = 0;
	ifd1[1].v = 5;
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, ifd0, 1, (uint32_t)ifd1_off);
	tiff_ifd(&t, 0, 0, ifd1, 2, 0);
	bb_put(&t, thumb, sizeof(thumb));
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_exif(&b, &t);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.thumb_len, 0);
	assert_int_equal(m.thumb_offset, 0);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);
}

/* ---- TIFF files ------------------------------------------------------------ */

static void
test_tiff_file(void **state)
{
	struct tent ifd0[] = {
		T_SHORT(0x0100, 640),
		T_LONG(0x0101, 70000),
		T_SHORT(0x0112, 8),
		T_ASCII(0x010E, "LPR;PORT=2304;PLATE=7ABC123"),
	};
	struct tent page2[] = { T_SHORT(0x0100, 1), T_ASCII(0x010F, "page two") };
	struct cbp_meta m;
	struct bb t = { 0 };
	size_t n;
	int be;

	(void)state;
	for (be = 0; be <= 1; be++) {
		tiff_header(&t, be, 8);
		tiff_ifd(&t, 0, be, ifd0, 4, (uint32_t)(8 + ifd_size(ifd0, 4)));
		tiff_ifd(&t, 0, be, page2, 2, 0);
		assert_int_equal(extract(&t, 1, &m), CBP_OK);
		assert_int_equal(m.format, CBP_IMG_TIFF);
		assert_int_equal(m.width, 640);
		assert_int_equal(m.height, 70000);
		assert_int_equal(m.orientation, 8);
		assert_field(&m, "EXIF:ImageDescription", "LPR;PORT=2304;PLATE=7ABC123");
		assert_field(&m, "EXIF:Make", "page two");
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		/* Every prefix: never corrupt when complete = 0. */
		for (n = 0; n < t.n; n++) {
			assert_int_equal(cbp_meta_extract(t.p, n, 0, &m),
			    n < 4 ? CBP_ENOTFOUND : CBP_OK);
			assert_int_equal(m.corrupt, 0);
			cbp_meta_free(&m);
		}
		bb_free(&t);
	}
}

static void
test_bigtiff(void **state)
{
	struct cbp_meta m;
	struct bb t = { 0 };
	int be;

	(void)state;
	for (be = 0; be <= 1; be++) {
		bb_str(&t, be ? "MM" : "II");
		bb_16(&t, be, 43);
		bb_16(&t, be, 8);
		bb_16(&t, be, 0);
		bb_64(&t, be, 16);
		bb_64(&t, be, 3);		/* 3 entries of 20 bytes */
		bb_16(&t, be, 0x0100);
		bb_16(&t, be, 16);		/* LONG8 */
		bb_64(&t, be, 1);
		bb_64(&t, be, 1234);
		bb_16(&t, be, 0x0101);
		bb_16(&t, be, 3);		/* SHORT, inline in 8 bytes */
		bb_64(&t, be, 1);
		bb_16(&t, be, 567);
		bb_fill(&t, 0, 6);
		bb_16(&t, be, 0x010E);
		bb_16(&t, be, 2);
		bb_64(&t, be, 12);		/* 12 bytes: at an offset */
		bb_64(&t, be, 16 + 8 + 60 + 8);
		bb_64(&t, be, 0);		/* next IFD */
		bb_put(&t, "PLATE=7ABC1\0", 12);
		assert_int_equal(extract(&t, 1, &m), CBP_OK);
		assert_int_equal(m.width, 1234);
		assert_int_equal(m.height, 567);
		assert_field(&m, "EXIF:ImageDescription", "PLATE=7ABC1");
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		bb_free(&t);
	}
}

/* ---- PNG -------------------------------------------------------------------- */

static void
test_png_text_after_idat_and_bad_crc(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 };
	static const unsigned char idat[] = { 0x78, 0x9C, 0x63, 0x68, 0x00, 0x00, 0x00, 0x82, 0x00, 0x81 };

	(void)state;
	png_start(&b, 200, 50);
	png_chunk(&b, "IDAT", idat, sizeof(idat));
	png_text(&b, "Comment", "LPR;PORT=2304;PLATE=7ABC123");
	b.p[b.n - 1] ^= 0xFF;		/* wrong CRC: not fatal */
	png_itxt(&b, "Description", "PLATE=7ABC123 LANE=07", 1);
	png_chunk(&b, "IEND", "", 0);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.width, 200);
	assert_int_equal(m.height, 50);
	assert_field(&m, "PNG:tEXt:Comment", "LPR;PORT=2304;PLATE=7ABC123");
	assert_field(&m, "PNG:iTXt:Description", "PLATE=7ABC123 LANE=07");
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);

	/* Without IEND: corrupt when complete, fine as a prefix. */
	b.n -= 12;
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "PNG ends before IEND chunk");
	assert_int_equal(m.nfields, 2);
	cbp_meta_free(&m);
	b.n -= 5;
	assert_int_equal(extract(&b, 0, &m), CBP_OK);
	assert_int_equal(m.corrupt, 0);
	assert_int_equal(m.nfields, 1);
	cbp_meta_free(&m);
	bb_free(&b);
}

/* Hex dump as ImageMagick writes it. */
static void
hexdump(struct bb *s, const char *name, const unsigned char *p, size_t n)
{
	char line[64];
	size_t i;

	snprintf(line, sizeof(line), "\n%s\n%8zu\n", name, n);
	bb_str(s, line);
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%02x", p[i]);
		bb_str(s, line);
		if (i % 36 == 35)
			bb_u8(s, '\n');
	}
	bb_u8(s, '\n');
}

static void
test_png_raw_profiles(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 }, t = { 0 }, s = { 0 }, e = { 0 };

	(void)state;
	exif_skeleton(&t, 1);
	bb_put(&e, "Exif\0\0", 6);
	bb_put(&e, t.p, t.n);
	png_start(&b, 3, 3);
	hexdump(&s, "exif", e.p, e.n);
	png_ztxt(&b, "Raw profile type exif", s.p, s.n);
	s.n = 0;
	hexdump(&s, "xmp", (const unsigned char *)xmp_attr, strlen(xmp_attr));
	png_chunk(&b, "tEXt", "Raw profile type xmp", 21);
	b.n -= 4 + 21 + 4 + 4;
	{
		struct bb c = { 0 };
		bb_put(&c, "Raw profile type xmp", 21);
		bb_put(&c, s.p, s.n);
		png_chunk(&b, "tEXt", c.p, c.n);
		bb_free(&c);
	}
	/* Other profiles (ICC) carry no text: nothing is added. */
	png_text(&b, "Raw profile type icc", "\nicc\n2\nabcd\n");
	png_end(&b);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_field(&m, "EXIF:Make", "ACME");
	assert_field(&m, "EXIF:UserComment", "hi");
	assert_int_equal(m.orientation, 6);
	assert_field(&m, "XMP", xmp_attr);
	assert_int_equal(m.nfields, 3);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);

	/* Lower-case exIf of old ImageMagick, and a bad hex digit. */
	png_start(&b, 3, 3);
	png_chunk(&b, "exIf", t.p, t.n);
	png_text(&b, "Raw profile type exif", "\nexif\n4\n45zz\n");
	png_end(&b);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_field(&m, "EXIF:Make", "ACME");
	assert_corrupt(&m, "PNG raw profile hex dump is malformed");
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);
	bb_free(&s);
	bb_free(&e);
}

static void
test_png_ztxt_over_cap(void **state)
{
	size_t n = 2 * CBP_META_INFLATE_MAX;
	unsigned char *big = malloc(n);
	const struct cbp_meta_field *f;
	struct cbp_meta m;
	struct bb b = { 0 };

	(void)state;
	assert_non_null(big);
	memset(big, 'A', n);
	memcpy(big, "PLATE=7ABC123 PORT=2304 ", 24);
	png_start(&b, 8, 8);
	png_ztxt(&b, "Comment", big, n);
	png_end(&b);
	assert_true(b.n < 64 * 1024);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	f = meta_get(&m, "PNG:zTXt:Comment");
	assert_non_null(f);
	assert_int_equal(f->len, CBP_META_FIELD_MAX);
	assert_memory_equal(f->value, "PLATE=7ABC123 PORT=2304 AAAA", 28);
	assert_int_equal(f->value[f->len], '\0');
	assert_int_equal(m.limited, 1);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);
	free(big);
}

/* ---- hostile inputs ----------------------------------------------------- */

static void
test_hostile_jpeg_truncated_segment(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 };

	(void)state;
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_seg(&b, 0xFE, "PLATE=7ABC123", 13);
	bb_put(&b, "\xFF\xE1\x10\x00" "Exif\0\0II*\0", 14);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "JPEG segment length runs past end of data");
	assert_field(&m, "COM", "PLATE=7ABC123");
	assert_int_equal(m.nfields, 1);
	cbp_meta_free(&m);
	assert_int_equal(extract(&b, 0, &m), CBP_OK);
	assert_int_equal(m.corrupt, 0);
	assert_null(m.corrupt_detail);
	assert_field(&m, "COM", "PLATE=7ABC123");
	cbp_meta_free(&m);
	bb_free(&b);
}

static void
test_hostile_jpeg_sof_lengths(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 };
	unsigned len;

	(void)state;
	for (len = 0; len <= 1; len++) {
		bb_put(&b, "\xFF\xD8", 2);
		jpeg_seg(&b, 0xFE, "kept", 4);
		bb_put(&b, "\xFF\xC0", 2);
		bb_16(&b, 1, len);
		bb_put(&b, "\x08\x00\xF0\x01\x40\x03\xFF\xD9", 8);
		assert_int_equal(extract(&b, 1, &m), CBP_OK);
		assert_corrupt(&m, "JPEG segment length below 2");
		assert_int_equal(m.width, 0);
		assert_int_equal(m.height, 0);
		assert_field(&m, "COM", "kept");
		cbp_meta_free(&m);
		bb_free(&b);
	}
	/* Length 4: a frame header of 2 bytes. */
	bb_put(&b, "\xFF\xD8\xFF\xC0\x00\x04\x08\x00\xFF\xD9", 10);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "JPEG SOF segment too short");
	assert_int_equal(m.width, 0);
	cbp_meta_free(&m);
	bb_free(&b);
}

static void
test_hostile_jpeg_garbage(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 };

	(void)state;
	bb_put(&b, "\xFF\xD8", 2);
	jpeg_seg(&b, 0xFE, "one", 3);
	bb_put(&b, "junk\xFF\x00", 6);
	jpeg_seg(&b, 0xFE, "two", 3);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "JPEG data between segments is not a marker");
	assert_int_equal(count_fields(&m, "COM"), 2);
	cbp_meta_free(&m);
	bb_free(&b);
}

/* JPEG with the given TIFF as Exif and nothing else. */
static void
exif_jpeg(struct bb *b, const struct bb *t)
{
	bb_put(b, "\xFF\xD8", 2);
	jpeg_exif(b, t);
	jpeg_sof(b, 16, 16);
	bb_put(b, "\xFF\xD9", 2);
}

static void
test_hostile_ifd_count(void **state)
{
	struct tent ifd0[] = { T_ASCII(0x010F, "ACME"), T_SHORT(0x0112, 3) };
	struct cbp_meta m;
	struct bb t = { 0 }, b = { 0 };
	int i;

	(void)state;
	/* Count 0xFFFF, two real entries, then the data ends. */
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, ifd0, 2, 0);
	t.p[8] = 0xFF;
	t.p[9] = 0xFF;
	exif_jpeg(&b, &t);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF IFD entries run past end of data");
	assert_field(&m, "EXIF:Make", "ACME");
	assert_int_equal(m.orientation, 3);
	assert_int_equal(m.limited, 0);
	assert_int_equal(m.width, 16);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);

	/* 1500 real entries: the first CBP_META_IFD_ENTRIES are read. */
	tiff_header(&t, 0, 8);
	bb_16(&t, 0, 1500);
	for (i = 0; i < 1500; i++) {
		bb_16(&t, 0, i == 1023 ? 0x010F : i == 1024 ? 0x0110 : 0x9999);
		bb_16(&t, 0, 2);
		bb_32(&t, 0, 2);
		bb_32(&t, 0, 'x');
	}
	bb_32(&t, 0, 0);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	assert_int_equal(m.limited, 1);
	assert_int_equal(m.corrupt, 0);
	assert_field(&m, "EXIF:Make", "x");
	assert_null(meta_get(&m, "EXIF:Model"));
	cbp_meta_free(&m);
	bb_free(&t);
}

static void
test_hostile_ifd_loops(void **state)
{
	static const unsigned char uc[] = "ASCII\0\0\0PLATE=1";
	struct tent ifd0[] = { T_ASCII(0x010F, "ACME"), T_LONG(0x8769, 0) };
	struct tent exif[] = { T_UNDEF(0x9286, uc, 15), T_LONG(0x8769, 0) };
	struct cbp_meta m;
	struct bb t = { 0 }, b = { 0 };

	(void)state;
	/* IFD0's next IFD is IFD0. */
	ifd0[1].tag = 0x9999;
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, ifd0, 2, 8);
	exif_jpeg(&b, &t);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF IFD offsets form a loop");
	assert_int_equal(count_fields(&m, "EXIF:Make"), 1);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);

	/* The Exif IFD points at itself. */
	ifd0[1].tag = 0x8769;
	ifd0[1].v = (uint32_t)(8 + ifd_size(ifd0, 2));
	exif[1].v = ifd0[1].v;
	tiff_header(&t, 1, 8);
	tiff_ifd(&t, 0, 1, ifd0, 2, 0);
	tiff_ifd(&t, 0, 1, exif, 2, 0);
	exif_jpeg(&b, &t);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF IFD offsets form a loop");
	assert_field(&m, "EXIF:Make", "ACME");
	assert_field(&m, "EXIF:UserComment", "PLATE=1");
	assert_int_equal(m.nfields, 2);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);
}

static void
test_hostile_offsets(void **state)
{
	struct tent a[] = { T_ASCII(0x010F, "ACME"), T_LONG(0x8769, 0x10000) };
	struct tent c[] = { T_ASCII(0x010F, "ACME"), T_RAW(0x0110, 2, 40, 0x7FFFFFF0) };
	struct tent d[] = { T_ASCII(0x010F, "ACME"), T_RAW(0x8769, 4, 0x40000000, 8) };
	struct tent e[] = { T_ASCII(0x010F, "ACME"), T_RAW(0x010E, 2, 0xFFFFFFFF, 8) };
	struct cbp_meta m;
	struct bb t = { 0 }, b = { 0 };

	(void)state;
	/* Exif IFD offset past the end. */
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, a, 2, 0);
	exif_jpeg(&b, &t);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF IFD offset past end of data");
	assert_field(&m, "EXIF:Make", "ACME");
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);

	/* IFD0 itself past the end. */
	tiff_header(&t, 0, 0x1000);
	bb_fill(&t, 0, 8);
	exif_jpeg(&b, &t);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF IFD offset past end of data");
	assert_int_equal(m.width, 16);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);

	/* A value offset past the end; the value after it is still read. */
	tiff_header(&t, 1, 8);
	tiff_ifd(&t, 0, 1, c, 2, 0);
	exif_jpeg(&b, &t);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF tag value past end of data");
	assert_field(&m, "EXIF:Make", "ACME");
	assert_null(meta_get(&m, "EXIF:Model"));
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);

	/* count * size overflows 32 bits: LONG x 0x40000000. */
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, d, 2, 0);
	exif_jpeg(&b, &t);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF tag value past end of data");
	assert_field(&m, "EXIF:Make", "ACME");
	assert_int_equal(m.nfields, 1);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&t);

	/* ASCII count 0xFFFFFFFF. */
	tiff_header(&t, 0, 8);
	tiff_ifd(&t, 0, 0, e, 2, 0);
	assert_int_equal(extract(&t, 1, &m), CBP_OK);
	assert_corrupt(&m, "TIFF tag value past end of data");
	assert_field(&m, "EXIF:Make", "ACME");
	cbp_meta_free(&m);
	/* ... but in a prefix of a TIFF file, that is just data not read yet. */
	assert_int_equal(extract(&t, 0, &m), CBP_OK);
	assert_int_equal(m.corrupt, 0);
	assert_field(&m, "EXIF:Make", "ACME");
	cbp_meta_free(&m);
	bb_free(&t);
}

static void
test_hostile_png(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 };

	(void)state;
	png_start(&b, 5, 5);
	png_text(&b, "Comment", "kept");
	bb_put(&b, "\xFF\xFF\xFF\xFFtEXt", 8);
	bb_str(&b, "Comment\0x");
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "PNG chunk length exceeds 2^31-1");
	assert_field(&m, "PNG:tEXt:Comment", "kept");
	assert_int_equal(m.width, 5);
	cbp_meta_free(&m);
	bb_free(&b);

	/* Length 0x7FFFFFFF: legal, but past the end. */
	png_start(&b, 5, 5);
	bb_put(&b, "\x7F\xFF\xFF\xFFtEXt", 8);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "PNG chunk length runs past end of data");
	cbp_meta_free(&m);
	assert_int_equal(extract(&b, 0, &m), CBP_OK);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);

	/* IHDR not first, tEXt with no keyword separator, bad zlib. */
	bb_put(&b, "\x89PNG\r\n\x1a\n", 8);
	png_chunk(&b, "tEXt", "nokeyword", 9);
	png_chunk(&b, "zTXt", "k\0\0\x78\x9C\xFF\xFF\xFF", 8);
	png_chunk(&b, "IEND", "", 0);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "PNG first chunk is not IHDR");
	assert_int_equal(m.nfields, 0);
	cbp_meta_free(&m);
	bb_free(&b);
	png_start(&b, 5, 5);
	png_chunk(&b, "zTXt", "k\0\0\x78\x9C\xFF\xFF\xFF", 8);
	png_end(&b);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "PNG compressed text is not a valid zlib stream");
	cbp_meta_free(&m);
	bb_free(&b);
}

static void
test_hostile_zlib_bomb(void **state)
{
	size_t n = 64 * CBP_MIB, i, total = 0;
	unsigned char *big = malloc(n);
	struct cbp_meta m;
	struct bb b = { 0 }, z = { 0 }, c = { 0 };

	(void)state;
	assert_non_null(big);
	memset(big, 'B', n);
	bb_zlib(&z, big, n);
	free(big);
	assert_true(z.n < 128 * 1024);
	/* Many bombs: the per-image inflate budget stops them. */
	bb_put(&c, "Comment\0\0", 9);
	bb_put(&c, z.p, z.n);
	png_start(&b, 1, 1);
	for (i = 0; i < 16; i++)
		png_chunk(&b, "zTXt", c.p, c.n);
	/* A stream cut short is corrupt, what came out is kept. */
	png_end(&b);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.limited, 1);
	assert_int_equal(m.corrupt, 0);
	assert_true(m.nfields >= 4 && m.nfields <= 8);
	for (i = 0; i < m.nfields; i++) {
		assert_true(m.fields[i].len <= CBP_META_FIELD_MAX);
		total += m.fields[i].len;
	}
	assert_true(total <= CBP_META_TOTAL);
	cbp_meta_free(&m);
	bb_free(&b);

	png_start(&b, 1, 1);
	bb_free(&c);
	bb_put(&c, "Comment\0\0", 9);
	bb_put(&c, z.p, 200);
	png_chunk(&b, "zTXt", c.p, c.n);
	png_end(&b);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "PNG compressed text ends early");
	assert_non_null(meta_get(&m, "PNG:zTXt:Comment"));
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&c);
	bb_free(&z);
}

static void
test_hostile_jp2(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 }, h = { 0 }, in = { 0 }, out = { 0 };
	int i;

	(void)state;
	/* Box length smaller than its header. */
	bb_put(&b, jp2_sig, sizeof(jp2_sig));
	jp2_box(&b, "xml ", "<PLATE>7ABC123</PLATE>", 22);
	bb_put(&b, "\x00\x00\x00\x04xml ", 8);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "JP2 box length smaller than its header");
	assert_field(&m, "JP2:xml", "<PLATE>7ABC123</PLATE>");
	cbp_meta_free(&m);
	bb_free(&b);

	/* Length 1 and a 64-bit length far past the end. */
	bb_put(&b, jp2_sig, sizeof(jp2_sig));
	bb_put(&b, "\x00\x00\x00\x01xml \xFF\xFF\xFF\xFF\xFF\xFF\xFF\xF0", 16);
	bb_str(&b, "<a>LANE=07</a>");
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "JP2 box length runs past end of data");
	assert_field(&m, "JP2:xml", "<a>LANE=07</a>");
	cbp_meta_free(&m);
	assert_int_equal(extract(&b, 0, &m), CBP_OK);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);

	/* Length 1 with a 64-bit length below 16. */
	bb_put(&b, jp2_sig, sizeof(jp2_sig));
	bb_put(&b, "\x00\x00\x00\x01xml \x00\x00\x00\x00\x00\x00\x00\x0F", 16);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "JP2 box length smaller than its header");
	cbp_meta_free(&m);
	bb_free(&b);

	/* jp2h nested 20 deep around an ihdr: the depth cap stops it. */
	jp2_ihdr_box(&in, 7, 9);
	for (i = 0; i < 20; i++) {
		out.n = 0;
		jp2_box(&out, "jp2h", in.p, in.n);
		in.n = 0;
		bb_put(&in, out.p, out.n);
	}
	bb_put(&b, jp2_sig, sizeof(jp2_sig));
	bb_put(&b, in.p, in.n);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.limited, 1);
	assert_int_equal(m.corrupt, 0);
	assert_int_equal(m.width, 0);
	cbp_meta_free(&m);
	bb_free(&b);

	/* ... while within the cap the ihdr is found. */
	jp2_ihdr_box(&h, 7, 9);
	for (i = 0; i < CBP_META_BOX_DEPTH - 1; i++) {
		out.n = 0;
		jp2_box(&out, i % 2 ? "asoc" : "jp2h", h.p, h.n);
		h.n = 0;
		bb_put(&h, out.p, out.n);
	}
	bb_put(&b, jp2_sig, sizeof(jp2_sig));
	bb_put(&b, h.p, h.n);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.limited, 0);
	assert_int_equal(m.width, 7);
	assert_int_equal(m.height, 9);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&h);
	bb_free(&in);
	bb_free(&out);
}

/* ---- JPEG 2000 --------------------------------------------------------- */

static void
test_jp2_boxes(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 }, h = { 0 }, cs = { 0 }, u = { 0 }, t = { 0 };
	int prefix;

	(void)state;
	exif_skeleton(&t, 0);
	for (prefix = 0; prefix <= 1; prefix++) {
		bb_put(&b, jp2_sig, sizeof(jp2_sig));
		jp2_ihdr_box(&h, 908, 1007);
		jp2_box(&b, "jp2h", h.p, h.n);
		jp2_box(&b, "xml ", "<lpr PLATE=\"7ABC123\"/>", 22);
		bb_str(&u, "JpgTiffExif->JP2");
		if (prefix)
			bb_put(&u, "Exif\0\0", 6);
		bb_put(&u, t.p, t.n);
		jp2_box(&b, "uuid", u.p, u.n);
		j2k_codestream(&cs, 100, 100, 0, 0, "codestream \xe9", 1);
		/* jp2c to the end of the file. */
		bb_put(&b, "\0\0\0\0jp2c", 8);
		bb_put(&b, cs.p, cs.n);
		assert_int_equal(extract(&b, 1, &m), CBP_OK);
		assert_int_equal(m.format, CBP_IMG_JP2);
		assert_int_equal(m.width, 908);	/* ihdr wins over SIZ */
		assert_int_equal(m.height, 1007);
		assert_field(&m, "JP2:xml", "<lpr PLATE=\"7ABC123\"/>");
		assert_field(&m, "EXIF:Make", "ACME");
		assert_int_equal(m.orientation, 6);
		assert_field(&m, "J2K:COM", "codestream \xC3\xA9");
		assert_int_equal(m.corrupt, 0);
		/* The Exif is in the input: IFD offsets are fine, no thumbnail. */
		assert_int_equal(m.thumb_len, 0);
		cbp_meta_free(&m);
		bb_free(&b);
		bb_free(&h);
		bb_free(&cs);
		bb_free(&u);
	}
	bb_free(&t);
}

static void
test_j2k_codestream(void **state)
{
	struct cbp_meta m;
	struct bb b = { 0 }, j = { 0 };
	size_t n;

	(void)state;
	j2k_codestream(&b, 1000, 800, 40, 30, "PLATE=7ABC123", 1);
	assert_int_equal(cbp_meta_sniff(b.p, b.n), CBP_IMG_J2K);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.format, CBP_IMG_J2K);
	assert_int_equal(m.width, 960);
	assert_int_equal(m.height, 770);
	assert_field(&m, "J2K:COM", "PLATE=7ABC123");
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	for (n = 0; n < b.n; n++) {
		assert_int_equal(cbp_meta_extract(b.p, n, 0, &m),
		    n < 4 ? CBP_ENOTFOUND : CBP_OK);
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
	}
	bb_free(&b);

	/* Binary comments (Rcom 0) are not text. */
	j2k_codestream(&b, 10, 10, 0, 0, "\x01\x02", 0);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.nfields, 0);
	cbp_meta_free(&m);
	bb_free(&b);

	/* Offset beyond extent; SIZ too short. */
	j2k_codestream(&b, 10, 10, 20, 0, NULL, 0);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_corrupt(&m, "J2K SIZ image offset is beyond its extent");
	assert_int_equal(m.width, 0);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_put(&j, "\xFF\x4F\xFF\x51\x00\x05\x00\x00\x00", 9);
	assert_int_equal(extract(&j, 1, &m), CBP_OK);
	assert_corrupt(&m, "J2K SIZ segment too short");
	cbp_meta_free(&m);
	bb_free(&j);
}

/* ---- caps -------------------------------------------------------------------- */

static void
test_caps(void **state)
{
	const struct cbp_meta_field *f;
	struct cbp_meta m;
	struct bb b = { 0 }, s = { 0 };
	size_t i, total = 0;
	char com[16];

	(void)state;
	/* Field count. */
	bb_put(&b, "\xFF\xD8", 2);
	for (i = 0; i < CBP_META_FIELDS + 10; i++) {
		int k = snprintf(com, sizeof(com), "c%zu", i);
		jpeg_seg(&b, 0xFE, com, (size_t)k);
	}
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.nfields, CBP_META_FIELDS);
	assert_int_equal(m.limited, 1);
	assert_int_equal(m.corrupt, 0);
	assert_string_equal(m.fields[CBP_META_FIELDS - 1].value, "c255");
	cbp_meta_free(&m);
	bb_free(&b);

	/* Total bytes: 40 COM segments of 65533 bytes > 2 MiB. */
	bb_fill(&s, 'x', 65533);
	bb_put(&b, "\xFF\xD8", 2);
	for (i = 0; i < 40; i++)
		jpeg_seg(&b, 0xFE, s.p, s.n);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	for (i = 0; i < m.nfields; i++)
		total += m.fields[i].len;
	assert_int_equal(total, CBP_META_TOTAL);
	assert_int_equal(m.limited, 1);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&s);

	/* One field: CBP_META_FIELD_MAX, cut between UTF-8 characters. */
	png_start(&b, 1, 1);
	bb_put(&s, "Comment\0", 8);
	bb_fill(&s, 0xE9, CBP_META_FIELD_MAX);	/* Latin-1 é: 2 bytes each */
	png_chunk(&b, "tEXt", s.p, s.n);
	png_end(&b);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	f = meta_get(&m, "PNG:tEXt:Comment");
	assert_non_null(f);
	assert_int_equal(f->len, CBP_META_FIELD_MAX);
	assert_memory_equal(f->value + f->len - 2, "\xC3\xA9", 2);
	assert_int_equal(m.limited, 1);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&s);

	/* IFDs are counted over the whole image: 20 Exif blocks, 16 read. */
	exif_skeleton(&s, 0);
	bb_put(&b, "\xFF\xD8", 2);
	for (i = 0; i < 20; i++)
		jpeg_exif(&b, &s);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(count_fields(&m, "EXIF:Make"), 8);
	assert_int_equal(count_fields(&m, "EXIF:UserComment"), 8);
	assert_int_equal(m.limited, 1);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	bb_free(&b);
	bb_free(&s);

	/* Segment cap. */
	bb_put(&b, "\xFF\xD8", 2);
	for (i = 0; i < CBP_META_SEGMENTS + 5; i++)
		bb_put(&b, "\xFF\xD0", 2);
	jpeg_seg(&b, 0xFE, "late", 4);
	bb_put(&b, "\xFF\xD9", 2);
	assert_int_equal(extract(&b, 1, &m), CBP_OK);
	assert_int_equal(m.limited, 1);
	assert_int_equal(m.nfields, 0);
	cbp_meta_free(&m);
	bb_free(&b);
}

/* ---- API ------------------------------------------------------------------ */

static void
test_not_images(void **state)
{
	static const unsigned char elf[] = "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
	static const unsigned char zip[] = "PK\x03\x04\x14\0\0\0";
	static const unsigned char txt[] = "PLATE=7ABC123;PORT=2304\n";
	struct cbp_meta m;

	(void)state;
	assert_int_equal(cbp_meta_extract(elf, sizeof(elf), 1, &m), CBP_ENOTFOUND);
	assert_int_equal(m.format, CBP_IMG_NONE);
	assert_int_equal(m.nfields, 0);
	cbp_meta_free(&m);
	assert_int_equal(cbp_meta_extract(zip, sizeof(zip), 1, &m), CBP_ENOTFOUND);
	assert_int_equal(cbp_meta_extract(txt, sizeof(txt), 1, &m), CBP_ENOTFOUND);
	assert_int_equal(cbp_meta_extract(txt, 0, 1, &m), CBP_ENOTFOUND);
	assert_int_equal(cbp_meta_extract(NULL, 0, 1, &m), CBP_ENOTFOUND);
	assert_int_equal(cbp_meta_extract(txt, 3, 1, NULL), CBP_EINVAL);
	assert_int_equal(cbp_meta_sniff(elf, sizeof(elf)), CBP_IMG_NONE);
	assert_int_equal(cbp_meta_sniff((const unsigned char *)"\xFF\xD8", 2), CBP_IMG_NONE);
	assert_int_equal(cbp_meta_sniff((const unsigned char *)"II*\0", 4), CBP_IMG_TIFF);
	assert_int_equal(cbp_meta_sniff((const unsigned char *)"MM\0*", 4), CBP_IMG_TIFF);
	assert_int_equal(cbp_meta_sniff((const unsigned char *)"II+\0", 4), CBP_IMG_TIFF);
	assert_int_equal(cbp_meta_sniff(jp2_sig, sizeof(jp2_sig)), CBP_IMG_JP2);
	assert_int_equal(cbp_meta_sniff(jp2_sig, 11), CBP_IMG_NONE);
	assert_string_equal(cbp_image_format_name(CBP_IMG_NONE), "none");
	assert_string_equal(cbp_image_format_name(CBP_IMG_JPEG), "jpeg");
	assert_string_equal(cbp_image_format_name(CBP_IMG_PNG), "png");
	assert_string_equal(cbp_image_format_name(CBP_IMG_TIFF), "tiff");
	assert_string_equal(cbp_image_format_name(CBP_IMG_JP2), "jp2");
	assert_string_equal(cbp_image_format_name(CBP_IMG_J2K), "j2k");
	assert_string_equal(cbp_image_format_name((enum cbp_image_format)99), "none");
	memset(&m, 0, sizeof(m));
	cbp_meta_free(&m);
	cbp_meta_free(NULL);
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 64 MiB inputs of the costly shapes parse in linear time. */
static void
test_big_inputs_linear(void **state)
{
	size_t n = 64 * CBP_MIB, i;
	unsigned char *p = malloc(n);
	struct cbp_meta m;
	double t0, worst = 0;
	int shape;

	(void)state;
	assert_non_null(p);
	for (shape = 0; shape < 6; shape++) {
		switch (shape) {
		case 0:	/* one huge scan full of FF00 and RST */
			memcpy(p, "\xFF\xD8\xFF\xDA\x00\x02", 6);
			for (i = 6; i + 1 < n; i += 2) {
				p[i] = 0xFF;
				p[i + 1] = (i & 2) ? 0x00 : 0xD3;
			}
			break;
		case 1:	/* fill bytes only */
			memset(p, 0xFF, n);
			p[1] = 0xD8;
			break;
		case 2:	/* PNG made of empty IDAT chunks (not counted) */
			memcpy(p, "\x89PNG\r\n\x1a\n", 8);
			for (i = 8; i + 12 <= n; i += 12)
				memcpy(p + i, "\0\0\0\0IDAT\0\0\0\0", 12);
			break;
		case 3:	/* TIFF: IFD with 0xFFFF entries of tag Make */
			memcpy(p, "II*\0\x08\0\0\0\xFF\xFF", 10);
			for (i = 10; i + 12 <= n; i += 12)
				memcpy(p + i, "\x0F\x01\x02\0\xF0\xFF\xFF\x03\x10\0\0\0", 12);
			break;
		case 4:	/* TIFF: 1024 text tags on one 64 MiB run of NULs */
			memset(p, 0, n);
			memcpy(p, "II*\0\x08\0\0\0\x00\x04", 10);
			for (i = 0; i < 1024; i++) {
				unsigned char *e = p + 10 + 12 * i;
				uint32_t c = (uint32_t)(n - 0x10000);
				e[0] = i % 2 ? 0x0E : 0x86;
				e[1] = i % 2 ? 0x01 : 0x92;
				e[2] = i % 2 ? 2 : 7;
				memcpy(e + 4, "\0\0\0\0\0\0\x01\0", 8);
				e[4] = (unsigned char)c;
				e[5] = (unsigned char)(c >> 8);
				e[6] = (unsigned char)(c >> 16);
				e[7] = (unsigned char)(c >> 24);
			}
			break;
		default: /* JP2: jP box then empty boxes */
			memcpy(p, jp2_sig, sizeof(jp2_sig));
			for (i = sizeof(jp2_sig); i + 8 <= n; i += 8)
				memcpy(p + i, "\0\0\0\x08xml ", 8);
			break;
		}
		t0 = seconds();
		assert_int_equal(cbp_meta_extract(p, n, 1, &m), CBP_OK);
		t0 = seconds() - t0;
		if (t0 > worst)
			worst = t0;
		cbp_meta_free(&m);
	}
	free(p);
	/* Generous: the sanitizer build is several times slower. */
	assert_true(worst < 5.0);
}

/* ---- real files ------------------------------------------------------------ */

static void
test_real_samsung(void **state)
{
	const struct cbp_meta_field *f;
	struct cbp_meta m;
	unsigned char *p;
	size_t n;

	(void)state;
	if ((p = load("pdq/exif-rotn/exif-rotn-1.jpg", &n)) == NULL)
		skip();
	assert_int_equal(cbp_meta_extract(p, n, 1, &m), CBP_OK);
	assert_int_equal(m.format, CBP_IMG_JPEG);
	assert_int_equal(m.width, 4032);
	assert_int_equal(m.height, 3024);
	assert_int_equal(m.orientation, 1);
	assert_field(&m, "EXIF:Make", "samsung");
	assert_field(&m, "EXIF:Model", "SM-G930V");
	assert_field(&m, "EXIF:DateTimeOriginal", "2017:11:07 22:14:15");
	assert_field(&m, "EXIF:ImageUniqueID", "C12QSJK01SM");
	f = meta_get(&m, "EXIF:UserComment");
	assert_non_null(f);
	/* 4980 bytes - 8 prefix, trailing NULs trimmed; binary kept. */
	assert_true(f->len > 4000 && f->len <= 4972);
	assert_memory_equal(f->value, "\n\0\0\0JKJK", 8);
	assert_true(m.thumb_len > 0);
	assert_memory_equal(p + m.thumb_offset, "\xFF\xD8", 2);
	assert_memory_equal(p + m.thumb_offset + m.thumb_len - 2, "\xFF\xD9", 2);
	assert_int_equal(m.corrupt, 0);
	assert_int_equal(m.limited, 0);
	cbp_meta_free(&m);
	/* A 4 KiB head ends inside the 15 KB Exif segment: IFD0 still read. */
	assert_int_equal(cbp_meta_extract(p, 4096, 0, &m), CBP_OK);
	assert_field(&m, "EXIF:Make", "samsung");
	assert_int_equal(m.corrupt, 0);
	assert_int_equal(m.thumb_len, 0);
	cbp_meta_free(&m);
	/* The first 16 KiB as a prefix: Exif and nothing corrupt. */
	assert_int_equal(cbp_meta_extract(p, CBP_HEAD_BYTES, 0, &m), CBP_OK);
	assert_field(&m, "EXIF:Make", "samsung");
	assert_int_equal(m.width, 4032);
	assert_int_equal(m.corrupt, 0);
	cbp_meta_free(&m);
	free(p);
}

static void
test_real_others(void **state)
{
	struct cbp_meta m;
	unsigned char *p;
	size_t n;
	int found = 0;

	(void)state;
	if ((p = load("faces/hopper/hopper_orientation_6.jpg", &n)) != NULL) {
		assert_int_equal(cbp_meta_extract(p, n, 1, &m), CBP_OK);
		assert_int_equal(m.orientation, 6);
		assert_int_equal(m.width, 128);
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		free(p);
		found++;
	}
	if ((p = load("biometric/jp2/img.jp2", &n)) != NULL) {
		assert_int_equal(cbp_meta_extract(p, n, 1, &m), CBP_OK);
		assert_int_equal(m.format, CBP_IMG_JP2);
		assert_int_equal(m.width, 908);
		assert_int_equal(m.height, 1007);
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		/* jp2c runs "to the end": a prefix is not corrupt. */
		assert_int_equal(cbp_meta_extract(p, 4096, 0, &m), CBP_OK);
		assert_int_equal(m.width, 908);
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		free(p);
		found++;
	}
	if ((p = load("faces/nasa/astronaut.png", &n)) != NULL) {
		assert_int_equal(cbp_meta_extract(p, n, 1, &m), CBP_OK);
		assert_int_equal(m.format, CBP_IMG_PNG);
		assert_int_equal(m.width, 512);
		assert_int_equal(m.height, 512);
		assert_field(&m, "PNG:tEXt:Comment", "File written by Adobe Photoshop? 5.0");
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		free(p);
		found++;
	}
	if ((p = load("faces/hopper/hopper.tif", &n)) != NULL) {
		assert_int_equal(cbp_meta_extract(p, n, 1, &m), CBP_OK);
		assert_int_equal(m.format, CBP_IMG_TIFF);
		assert_int_equal(m.width, 128);
		assert_int_equal(m.height, 128);
		assert_field(&m, "EXIF:ImageDescription", "File written by Adobe Photoshop. 4.0");
		assert_int_equal(m.corrupt, 0);
		cbp_meta_free(&m);
		free(p);
		found++;
	}
	if (found == 0)
		skip();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jpeg_skeleton),
		cmocka_unit_test(test_jpeg_prefixes),
		cmocka_unit_test(test_jpeg_big_endian),
		cmocka_unit_test(test_png_example),
		cmocka_unit_test(test_xmp_everywhere),
		cmocka_unit_test(test_usercomment_unicode),
		cmocka_unit_test(test_usercomment_prefixes),
		cmocka_unit_test(test_xpcomment_utf16),
		cmocka_unit_test(test_text_tags_and_latin1),
		cmocka_unit_test(test_jpeg_scans_and_fill),
		cmocka_unit_test(test_jpeg_sof_kinds),
		cmocka_unit_test(test_jpeg_extended_xmp),
		cmocka_unit_test(test_jpeg_iptc),
		cmocka_unit_test(test_jpeg_thumbnail),
		cmocka_unit_test(test_tiff_file),
		cmocka_unit_test(test_bigtiff),
		cmocka_unit_test(test_png_text_after_idat_and_bad_crc),
		cmocka_unit_test(test_png_raw_profiles),
		cmocka_unit_test(test_png_ztxt_over_cap),
		cmocka_unit_test(test_hostile_jpeg_truncated_segment),
		cmocka_unit_test(test_hostile_jpeg_sof_lengths),
		cmocka_unit_test(test_hostile_jpeg_garbage),
		cmocka_unit_test(test_hostile_ifd_count),
		cmocka_unit_test(test_hostile_ifd_loops),
		cmocka_unit_test(test_hostile_offsets),
		cmocka_unit_test(test_hostile_png),
		cmocka_unit_test(test_hostile_zlib_bomb),
		cmocka_unit_test(test_hostile_jp2),
		cmocka_unit_test(test_jp2_boxes),
		cmocka_unit_test(test_j2k_codestream),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_not_images),
		cmocka_unit_test(test_big_inputs_linear),
		cmocka_unit_test(test_real_samsung),
		cmocka_unit_test(test_real_others),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
