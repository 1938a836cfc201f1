/*
 * test_decode.c — cbp_decode.h: every format decodes, lossless copies give
 * the same pixels, lossy ones hash within a few bits, a declared size over
 * the cap is CBP_ELIMIT before any pixel allocation, truncated and garbage
 * input is CBP_ECORRUPT, nothing is printed, and the DCT scaling and
 * decode-time sampling do what cbp_decode.h says.
 *
 * Fixtures: tests/data/decode/, one synthetic 80 x 60 picture in every
 * format, made by tests/data/decode/gen.py (Pillow).  Hostile variants are
 * made here by patching those bytes.  The tests run from the top of the
 * tree (make does); CBP_DECODE_FIXTURES overrides the folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "cbp_decode.h"
#include "cbp_err.h"
#include "cbp_pdq.h"

#define FW 80
#define FH 60

/* ---- fixtures ------------------------------------------------------------ */

static uint8_t *
load(const char *name, size_t *n)
{
	const char *dir = getenv("CBP_DECODE_FIXTURES");
	char path[4096];
	uint8_t *p = NULL;
	FILE *f;
	long sz;

	if (dir == NULL || *dir == '\0')
		dir = "tests/data/decode";
	assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("fixture %s missing (run from the top of the tree)", path);
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)sz)) != NULL) {
		*n = fread(p, 1, (size_t)sz, f);
		if (*n != (size_t)sz) {
			free(p);
			p = NULL;
		}
	}
	fclose(f);
	assert_non_null(p);
	return p;
}

static enum cbp_decode_fmt
fmt_of(const char *name)
{
	static const struct {
		const char *ext;
		enum cbp_decode_fmt fmt;
	} map[] = {
		{ ".jpg", CBP_FMT_JPEG }, { ".png", CBP_FMT_PNG }, { ".tif", CBP_FMT_TIFF },
		{ ".jp2", CBP_FMT_JP2 }, { ".j2k", CBP_FMT_JP2 }, { ".gif", CBP_FMT_GIF },
		{ ".webp", CBP_FMT_WEBP }, { ".bmp", CBP_FMT_BMP },
		{ ".ppm", CBP_FMT_PNM }, { ".pgm", CBP_FMT_PNM },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(dot, map[i].ext) == 0)
			return map[i].fmt;
	fail_msg("no format for %s", name);
	return CBP_FMT_UNKNOWN;
}

/* Decode a fixture; asserts success. */
static void
decode_ok(const char *name, const struct cbp_decode_opts *o, struct cbp_image *img)
{
	size_t n = 0;
	uint8_t *b = load(name, &n);
	int r = cbp_decode(b, n, fmt_of(name), o, img);

	free(b);
	if (r != CBP_OK)
		fail_msg("%s: %s", name, cbp_strerror(r));
}

static void
hash_img(const struct cbp_image *img, struct cbp_pdq *p)
{
	assert_int_equal(cbp_pdq_hash(img->px, img->w, img->h, img->channels,
	    (size_t)img->w * img->channels, 0, p), CBP_OK);
}

/* Same size, channels and pixels as ref. */
static void
same_pixels(const char *ref, const char *const *names, size_t count, unsigned ch)
{
	struct cbp_image a, b;
	size_t i;

	decode_ok(ref, NULL, &a);
	assert_int_equal(a.w, FW);
	assert_int_equal(a.h, FH);
	assert_int_equal(a.channels, ch);
	for (i = 0; i < count; i++) {
		decode_ok(names[i], NULL, &b);
		if (b.w != a.w || b.h != a.h || b.channels != a.channels ||
		    memcmp(a.px, b.px, (size_t)a.w * a.h * a.channels) != 0)
			fail_msg("%s: pixels differ from %s", names[i], ref);
		assert_int_equal(b.src_w, FW);
		assert_int_equal(b.src_h, FH);
		cbp_image_free(&b);
	}
	cbp_image_free(&a);
}

/* ---- every format ------------------------------------------------------- */

/* Lossless copies: alpha dropped, Adam7 and box/codestream forms alike. */
static void
test_lossless_same_pixels(void **state)
{
	static const char *const names[] = {
		"interlaced.png", "rgba.png", "base.bmp", "rgba.bmp", "raw.tif",
		"lzw.tif", "lossless.webp", "base.jp2", "base.j2k", "base.ppm",
		"fast-rgb.png", "fast-rgba.png", "fast-filter0.png", "fast-filter1.png",
		"fast-filter2.png", "fast-filter3.png", "fast-filter4.png",
		"fast-window9.png", "fast-split-header.png",
	};

	same_pixels("base.png", names, sizeof(names) / sizeof(names[0]), 3);
}

/*
 * PNG's two paths (ISA-L for the common types, libspng for the rest and
 * for png_reference) give the same result on every PNG fixture: the same
 * pixels at full size and sampled, and the same answer for every
 * truncation and for a broken filter byte.
 */
static void
png_both_ways(const char *name, const uint8_t *b, size_t n, uint32_t side)
{
	struct cbp_decode_opts fast = { .sample_side = side };
	struct cbp_decode_opts ref = { .sample_side = side, .png_reference = 1 };
	struct cbp_image x, y;
	int rx = cbp_decode(b, n, CBP_FMT_PNG, &fast, &x);
	int ry = cbp_decode(b, n, CBP_FMT_PNG, &ref, &y);

	if (rx != ry)
		fail_msg("%s (%zu bytes, side %u): fast path %s, libspng %s", name, n,
		    side, cbp_strerror(rx), cbp_strerror(ry));
	if (rx == CBP_OK && (x.w != y.w || x.h != y.h || x.channels != y.channels ||
	    x.src_w != y.src_w || x.src_h != y.src_h ||
	    memcmp(x.px, y.px, (size_t)x.w * x.h * x.channels) != 0))
		fail_msg("%s (%zu bytes, side %u): pixels differ", name, n, side);
	cbp_image_free(&x);
	cbp_image_free(&y);
}

static void
test_png_fast_equals_spng(void **state)
{
	static const char *const names[] = {
		"base.png", "grey.png", "la.png", "rgba.png", "grey16.png", "p.png",
		"interlaced.png", "fast-grey.png", "fast-la.png", "fast-rgb.png",
		"fast-rgba.png", "fast-filter0.png", "fast-filter1.png",
		"fast-filter2.png", "fast-filter3.png", "fast-filter4.png",
		"fast-wide.png", "fast-window9.png", "fast-split-header.png",
		"fast-big.png", "fast-damaged-tail.png", "fast-bad-distance.png",
		"fast-bad-distance-late.png",
	};
	struct cbp_image x;
	size_t i, n, cut;
	uint8_t *b;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		b = load(names[i], &n);
		png_both_ways(names[i], b, n, 0);
		png_both_ways(names[i], b, n, 512);
		png_both_ways(names[i], b, n, 16);
		for (cut = 1; cut < 40; cut++)
			png_both_ways(names[i], b, n * cut / 40, 0);
		free(b);
	}
	/* A filter type of 5 in a row: corrupt on both paths. */
	b = load("fast-badfilter.png", &n);
	png_both_ways("fast-badfilter.png", b, n, 0);
	assert_int_equal(cbp_decode(b, n, CBP_FMT_PNG, NULL, &x), CBP_ECORRUPT);
	free(b);
}

/* Grey stays one channel, whatever the depth or the alpha. */
static void
test_grey_same_pixels(void **state)
{
	static const char *const names[] = {
		"grey16.png", "la.png", "grey.tif", "grey.jp2", "grey.pgm",
		"fast-grey.png", "fast-la.png",
	};
	struct cbp_image img;

	same_pixels("grey.png", names, sizeof(names) / sizeof(names[0]), 1);
	decode_ok("grey.jpg", NULL, &img);
	assert_int_equal(img.channels, 1);
	cbp_image_free(&img);
}

/* Palettes expanded: the same indexed picture as PNG, GIF (both
 * interlacings) and 8-bit BMP. */
static void
test_palette_same_pixels(void **state)
{
	static const char *const names[] = {
		"base.gif", "noninterlaced.gif", "p8.bmp",
	};

	same_pixels("p.png", names, sizeof(names) / sizeof(names[0]), 3);
}

/* Lossy and converted copies hash within a few bits of the original. */
static void
test_lossy_hash_close(void **state)
{
	static const struct {
		const char *name;
		int max;
	} cases[] = {
		{ "base.jpg", 4 }, { "progressive.jpg", 4 }, { "grey.jpg", 4 },
		{ "cmyk.jpg", 4 }, { "jpeg.tif", 4 }, { "lossy.webp", 4 },
		{ "p.png", 12 }, { "base.gif", 12 },
		/* 8:1 irreversible JPEG 2000. */
		{ "lossy.jp2", 12 },
	};
	struct cbp_image img;
	struct cbp_pdq ref, p;
	size_t i;
	int d;

	decode_ok("base.png", NULL, &img);
	hash_img(&img, &ref);
	cbp_image_free(&img);
	assert_true(ref.quality >= CBP_PDQ_MIN_QUALITY);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		decode_ok(cases[i].name, NULL, &img);
		assert_int_equal(img.w, FW);
		assert_int_equal(img.h, FH);
		hash_img(&img, &p);
		cbp_image_free(&img);
		d = cbp_pdq_distance(ref.hash, p.hash);
		if (d > cases[i].max)
			fail_msg("%s: %d bits from base.png (max %d)", cases[i].name, d, cases[i].max);
	}
}

/*
 * luma_only: a YCbCr JPEG comes out as its Y plane (one channel, same
 * size), hashing within a few bits of the RGB decode; grey and CMYK JPEGs
 * and other formats are unaffected.
 */
static void
test_luma_only(void **state)
{
	struct cbp_decode_opts o = { .luma_only = 1 };
	struct cbp_image rgb, y;
	struct cbp_pdq a, b;
	int d;

	(void)state;
	decode_ok("base.jpg", NULL, &rgb);
	decode_ok("base.jpg", &o, &y);
	assert_int_equal(rgb.channels, 3);
	assert_int_equal(y.channels, 1);
	assert_int_equal(y.w, rgb.w);
	assert_int_equal(y.h, rgb.h);
	hash_img(&rgb, &a);
	hash_img(&y, &b);
	d = cbp_pdq_distance(a.hash, b.hash);
	if (d > 4)
		fail_msg("Y plane hashes %d bits from the RGB decode", d);
	cbp_image_free(&rgb);
	cbp_image_free(&y);
	decode_ok("cmyk.jpg", &o, &y);
	assert_int_equal(y.channels, 3);
	cbp_image_free(&y);
	decode_ok("base.png", &o, &y);
	assert_int_equal(y.channels, 3);
	cbp_image_free(&y);
}

/* 1-bit BMP: two colours from the palette, nothing else. */
static void
test_bmp_mono(void **state)
{
	struct cbp_image img;
	size_t i, black = 0, white = 0;

	decode_ok("mono.bmp", NULL, &img);
	assert_int_equal(img.channels, 3);
	for (i = 0; i < (size_t)FW * FH * 3; i++) {
		black += img.px[i] == 0;
		white += img.px[i] == 255;
	}
	assert_int_equal(black + white, (size_t)FW * FH * 3);
	assert_true(black > 0 && white > 0);
	cbp_image_free(&img);
}

/* A top-down BMP (negative height) is the same picture as bottom-up. */
static void
test_bmp_topdown(void **state)
{
	struct cbp_image a, b;
	uint8_t *buf, *td;
	size_t n = 0, stride = ((FW * 24 + 31) / 32) * 4, off, y;
	int32_t h = -FH;

	buf = load("base.bmp", &n);
	td = malloc(n);
	assert_non_null(td);
	memcpy(td, buf, n);
	off = buf[10] | buf[11] << 8 | buf[12] << 16 | (size_t)buf[13] << 24;
	assert_true(off + stride * FH <= n);
	for (y = 0; y < FH; y++)
		memcpy(td + off + y * stride, buf + off + (FH - 1 - y) * stride, stride);
	td[22] = (uint8_t)h, td[23] = (uint8_t)(h >> 8), td[24] = (uint8_t)(h >> 16),
	td[25] = (uint8_t)(h >> 24);
	assert_int_equal(cbp_decode(buf, n, CBP_FMT_BMP, NULL, &a), CBP_OK);
	assert_int_equal(cbp_decode(td, n, CBP_FMT_BMP, NULL, &b), CBP_OK);
	assert_memory_equal(a.px, b.px, (size_t)FW * FH * 3);
	cbp_image_free(&a);
	cbp_image_free(&b);
	free(buf);
	free(td);
}

static void
test_unsupported(void **state)
{
	struct cbp_image img;
	uint8_t *b;
	size_t n = 0;

	b = load("anim.webp", &n);
	assert_int_equal(cbp_decode(b, n, CBP_FMT_WEBP, NULL, &img), CBP_EUNSUPPORTED);
	assert_null(img.px);
	free(b);
	/* RLE8 BMP (compression 1). */
	b = load("p8.bmp", &n);
	b[30] = 1;
	assert_int_equal(cbp_decode(b, n, CBP_FMT_BMP, NULL, &img), CBP_EUNSUPPORTED);
	free(b);
}

/* ---- decompression bombs ------------------------------------------------ */

static void
be16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

static void
le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void
le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
	p[3] = (uint8_t)(v >> 24);
}

static size_t
find(const uint8_t *b, size_t n, const void *pat, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(b + i, pat, m) == 0)
			return i;
	fail_msg("pattern not found");
	return 0;
}

#define BOMB 60000u	/* 60000 x 60000 = 3.6 Gpx, 10.8 GB as RGB */

/* Fixture bytes patched to declare BOMB x BOMB (or the format's most). */
static uint8_t *
bomb(enum cbp_decode_fmt fmt, size_t *n)
{
	static const uint8_t sof0[2] = { 0xff, 0xc0 }, siz[4] = { 0xff, 0x4f, 0xff, 0x51 };
	uint8_t *b;
	size_t at;

	switch (fmt) {
	case CBP_FMT_JPEG:
		b = load("base.jpg", n);
		at = find(b, *n, sof0, 2);
		be16(b + at + 5, BOMB);
		be16(b + at + 7, BOMB);
		return b;
	case CBP_FMT_PNG:
		b = load("base.png", n);
		be32(b + 16, BOMB);
		be32(b + 20, BOMB);
		be32(b + 29, (uint32_t)crc32(0, b + 12, 17));
		return b;
	case CBP_FMT_GIF: {
		/* The frame, not the screen: walk past the colour table and any
		 * extension blocks to the image descriptor. */
		b = load("base.gif", n);
		at = 13 + (b[10] & 0x80 ? 3u << ((b[10] & 7) + 1) : 0);
		while (at < *n && b[at] == 0x21) {
			at += 2;
			while (at < *n && b[at] != 0)
				at += b[at] + 1u;
			at++;
		}
		assert_true(at + 9 < *n && b[at] == 0x2c);
		le16(b + at + 5, BOMB);
		le16(b + at + 7, BOMB);
		return b;
	}
	case CBP_FMT_BMP:
		b = load("base.bmp", n);
		le32(b + 18, BOMB);
		le32(b + 22, BOMB);
		return b;
	case CBP_FMT_WEBP:
		/* VP8L holds 14-bit sizes: 16384 x 16384 = 268 Mpx, over the cap. */
		b = load("lossless.webp", n);
		assert_memory_equal(b + 12, "VP8L", 4);
		assert_int_equal(b[20], 0x2f);
		le32(b + 21, (b[24] & 0xf0u) << 24 | 16383u << 14 | 16383u);
		return b;
	case CBP_FMT_JP2:
		/* SIZ: image and tile size (one tile, so OpenJPEG's per-tile
		 * bookkeeping stays small: only the pixel check is tested). */
		b = load("base.jp2", n);
		at = find(b, *n, siz, 4) + 2;
		be32(b + at + 6, BOMB);
		be32(b + at + 10, BOMB);
		be32(b + at + 22, BOMB);
		be32(b + at + 26, BOMB);
		/* The JP2 header box repeats the size (OpenJPEG checks they agree). */
		at = find(b, *n, "ihdr", 4);
		be32(b + at + 4, BOMB);
		be32(b + at + 8, BOMB);
		return b;
	case CBP_FMT_TIFF: {
		/* Built by hand: a grey strip image whose IFD declares the size. */
		static const uint16_t tags[][2] = {
			{ 256, 4 }, { 257, 4 }, { 258, 3 }, { 259, 3 }, { 262, 3 },
			{ 273, 4 }, { 277, 3 }, { 278, 4 }, { 279, 4 },
		};
		const uint32_t vals[] = { BOMB, BOMB, 8, 1, 1, 200, 1, BOMB, BOMB * BOMB / 1000 };
		size_t i, k = sizeof(tags) / sizeof(tags[0]);

		*n = 8 + 2 + 12 * k + 4 + 64;
		b = calloc(1, *n);
		assert_non_null(b);
		memcpy(b, "II*\0", 4);
		le32(b + 4, 8);
		le16(b + 8, (unsigned)k);
		for (i = 0; i < k; i++) {
			uint8_t *e = b + 10 + 12 * i;
			le16(e, tags[i][0]);
			le16(e + 2, tags[i][1]);
			le32(e + 4, 1);
			if (tags[i][1] == 3)
				le16(e + 8, vals[i]);
			else
				le32(e + 8, vals[i]);
		}
		return b;
	}
	case CBP_FMT_PNM: {
		/* 60000 x 60000 declared, the 80 x 60 picture's bytes after. */
		static const char hdr[] = "P6\n60000 60000\n255\n";
		uint8_t *src = load("base.ppm", n);

		assert_non_null(b = malloc(*n + sizeof(hdr)));
		memcpy(b, hdr, sizeof(hdr) - 1);
		memcpy(b + sizeof(hdr) - 1, src, *n);
		*n += sizeof(hdr) - 1;
		free(src);
		return b;
	}
	default:
		fail_msg("no bomb for format %d", fmt);
		return NULL;
	}
}

/*
 * Under a small data limit (no sanitizer: ASan's shadow memory would trip
 * it) the bomb must come back as CBP_ELIMIT: an allocation sized from the
 * header before the check would fail there and come back as CBP_ENOMEM.
 */
static int
decode_limited(const uint8_t *b, size_t n, enum cbp_decode_fmt fmt)
{
#if defined(__SANITIZE_ADDRESS__)
	struct cbp_image img;

	return cbp_decode(b, n, fmt, NULL, &img);
#else
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { (rlim_t)512 << 20, (rlim_t)512 << 20 };
		struct cbp_image img;
		int r;

		if (setrlimit(RLIMIT_DATA, &rl) != 0)
			_exit(100);
		r = cbp_decode(b, n, fmt, NULL, &img);
		cbp_image_free(&img);
		_exit(r);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
#endif
}

static void
test_bombs_are_limit(void **state)
{
	int fmt, r;

	for (fmt = CBP_FMT_JPEG; fmt < CBP_FMT_MAX; fmt++) {
		size_t n = 0;
		uint8_t *b = bomb(fmt, &n);

		r = decode_limited(b, n, fmt);
		if (r != CBP_ELIMIT)
			fail_msg("%s bomb: %s, want limit", cbp_decode_fmt_name(fmt), cbp_strerror(r));
		free(b);
	}
}

/* The cap is the caller's: an 80 x 60 picture over a 4000-pixel cap. */
static void
test_cap_parameter(void **state)
{
	struct cbp_decode_opts o = { 0 };
	struct cbp_image img;
	uint8_t *b;
	size_t n = 0;

	b = load("base.png", &n);
	o.max_pixels = FW * FH - 1;
	assert_int_equal(cbp_decode(b, n, CBP_FMT_PNG, &o, &img), CBP_ELIMIT);
	assert_null(img.px);
	o.max_pixels = FW * FH;
	assert_int_equal(cbp_decode(b, n, CBP_FMT_PNG, &o, &img), CBP_OK);
	cbp_image_free(&img);
	free(b);
}

/* ---- broken input ------------------------------------------------------- */

static const char *const every_fixture[] = {
	"base.jpg", "progressive.jpg", "cmyk.jpg", "base.png", "interlaced.png",
	"raw.tif", "lzw.tif", "jpeg.tif", "base.jp2", "base.j2k", "base.gif",
	"noninterlaced.gif", "lossless.webp", "lossy.webp", "base.bmp", "p8.bmp",
	"base.ppm", "grey.pgm",
};
#define NFIX (sizeof(every_fixture) / sizeof(every_fixture[0]))

/* Every fixture cut at 1/4, 1/2 and 3/4 is corrupt, never an image. */
static void
test_truncated_is_corrupt(void **state)
{
	struct cbp_image img;
	size_t i, n = 0, k;
	int r;

	for (i = 0; i < NFIX; i++) {
		uint8_t *b = load(every_fixture[i], &n);
		for (k = 1; k <= 3; k++) {
			r = cbp_decode(b, n * k / 4, fmt_of(every_fixture[i]), NULL, &img);
			if (r != CBP_ECORRUPT)
				fail_msg("%s cut to %zu/4: %s", every_fixture[i], k, cbp_strerror(r));
			assert_null(img.px);
		}
		free(b);
	}
}

/* Random bytes, and each fixture's header followed by random bytes. */
static void
test_garbage_is_corrupt(void **state)
{
	struct cbp_image img;
	uint8_t junk[4096];
	uint32_t x = 12345;
	size_t i, n = 0;
	int fmt, r;

	for (i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	for (fmt = CBP_FMT_JPEG; fmt < CBP_FMT_MAX; fmt++) {
		assert_int_equal(cbp_decode(junk, sizeof(junk), fmt, NULL, &img), CBP_ECORRUPT);
		assert_int_equal(cbp_decode(junk, 0, fmt, NULL, &img), CBP_ECORRUPT);
	}
	for (i = 0; i < NFIX; i++) {
		uint8_t *b = load(every_fixture[i], &n);
		size_t keep = n < 64 ? n / 2 : 64;
		memcpy(b + keep, junk, n - keep < sizeof(junk) ? n - keep : sizeof(junk));
		r = cbp_decode(b, n, fmt_of(every_fixture[i]), NULL, &img);
		/* The PNG and GIF headers end before 64 bytes; what follows is
		 * noise, so only "not an image" is sure; a decoder that reads past
		 * the noise as pixels would be a bug caught by the sanitizers. */
		if (r == CBP_OK)
			cbp_image_free(&img);
		else if (r != CBP_ECORRUPT && r != CBP_EUNSUPPORTED)
			fail_msg("%s + noise: %s", every_fixture[i], cbp_strerror(r));
		free(b);
	}
}

/* The libraries' messages never reach stderr. */
static void
test_silent(void **state)
{
	struct cbp_image img;
	FILE *tmp = tmpfile();
	size_t i, n = 0;
	int saved;
	long len;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(tmp), 2), 2);
	for (i = 0; i < NFIX; i++) {
		uint8_t *b = load(every_fixture[i], &n);
		(void)cbp_decode(b, n / 2, fmt_of(every_fixture[i]), NULL, &img);
		b[n / 3] ^= 0x55;
		b[n / 2] ^= 0xaa;
		if (cbp_decode(b, n, fmt_of(every_fixture[i]), NULL, &img) == CBP_OK)
			cbp_image_free(&img);
		free(b);
	}
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	len = ftell(tmp);
	fclose(tmp);
	assert_int_equal(len, 0);
}

/* ---- scaling and sampling ----------------------------------------------- */

static void
test_dct_scale(void **state)
{
	static const struct {
		uint32_t min_side;
		unsigned num, w, h;
	} cases[] = {
		{ 0, 8, 80, 60 }, { 60, 8, 80, 60 }, { 100, 8, 80, 60 },
		{ 30, 4, 40, 30 }, { 31, 8, 80, 60 }, { 15, 2, 20, 15 }, { 16, 4, 40, 30 },
		{ 8, 1, 10, 8 }, { 9, 2, 20, 15 },
	};
	struct cbp_decode_opts o = { 0 };
	struct cbp_image img;
	struct cbp_pdq full, p;
	size_t i;

	decode_ok("base.jpg", NULL, &img);
	hash_img(&img, &full);
	cbp_image_free(&img);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o.min_side = cases[i].min_side;
		decode_ok("base.jpg", &o, &img);
		assert_int_equal(img.scale_num, cases[i].num);
		assert_int_equal(img.w, cases[i].w);
		assert_int_equal(img.h, cases[i].h);
		assert_int_equal(img.src_w, FW);
		assert_int_equal(img.src_h, FH);
		/* Same picture at a lower resolution; how close the hash stays
		 * on real photos is bench/pdq_scale's job, not a unit test's. */
		if (cases[i].num >= 4) {
			hash_img(&img, &p);
			assert_true(cbp_pdq_distance(full.hash, p.hash) <= 64);
		}
		cbp_image_free(&img);
	}
	/* JPEG 2000 skips wavelet levels the same way. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o.min_side = cases[i].min_side;
		decode_ok("base.jp2", &o, &img);
		assert_int_equal(img.scale_num, cases[i].num);
		assert_int_equal(img.w, cases[i].w);
		assert_int_equal(img.h, cases[i].h);
		assert_int_equal(img.src_w, FW);
		cbp_image_free(&img);
	}
	/* Other formats ignore it. */
	o.min_side = 8;
	decode_ok("base.png", &o, &img);
	assert_int_equal(img.w, FW);
	assert_int_equal(img.scale_num, 8);
	cbp_image_free(&img);
}

/* sample_side keeps PDQ's nearest-neighbour sample of both sides. */
static void
test_sample_side(void **state)
{
	static const char *const names[] = { "base.png", "interlaced.png", "base.jpg",
	    "raw.tif", "base.jp2", "base.gif", "lossless.webp", "base.bmp" };
	struct cbp_decode_opts o = { 0 };
	struct cbp_image full, s;
	struct cbp_pdq pf, ps;
	size_t i;
	uint32_t x, y;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		decode_ok(names[i], NULL, &full);
		o.sample_side = 32;
		decode_ok(names[i], &o, &s);
		assert_int_equal(s.w, 32);
		assert_int_equal(s.h, 32);
		assert_int_equal(s.src_w, FW);
		for (y = 0; y < 32; y++)
			for (x = 0; x < 32; x++)
				assert_memory_equal(s.px + ((size_t)y * 32 + x) * 3,
				    full.px + ((size_t)(y * FH / 32) * FW + x * FW / 32) * 3, 3);
		cbp_image_free(&s);
		/* Not over the side: untouched, and the same hash. */
		o.sample_side = 80;
		decode_ok(names[i], &o, &s);
		assert_int_equal(s.w, FW);
		assert_int_equal(s.h, FH);
		hash_img(&full, &pf);
		hash_img(&s, &ps);
		assert_memory_equal(pf.hash, ps.hash, CBP_PDQ_BYTES);
		cbp_image_free(&s);
		cbp_image_free(&full);
	}
}

/* The one-call form gives what decode then hash gives, errors included. */
static void
test_decode_pdq(void **state)
{
	static const char *const names[] = { "base.jpg", "grey.png", "base.gif", "base.jp2" };
	struct cbp_decode_opts o = { 0 };
	struct cbp_image img;
	struct cbp_pdq a, b;
	uint8_t *buf;
	size_t i, n = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		decode_ok(names[i], NULL, &img);
		assert_int_equal(cbp_pdq_hash(img.px, img.w, img.h, img.channels,
		    (size_t)img.w * img.channels, CBP_PDQ_DIHEDRAL, &a), CBP_OK);
		cbp_image_free(&img);
		buf = load(names[i], &n);
		assert_int_equal(cbp_decode_pdq(buf, n, fmt_of(names[i]), NULL,
		    CBP_PDQ_DIHEDRAL, &b), CBP_OK);
		assert_memory_equal(&a, &b, sizeof(a));
		o.max_pixels = 100;
		assert_int_equal(cbp_decode_pdq(buf, n, fmt_of(names[i]), &o, 0, &b), CBP_ELIMIT);
		o.max_pixels = 0;
		assert_int_equal(cbp_decode_pdq(buf, n / 2, fmt_of(names[i]), &o, 0, &b), CBP_ECORRUPT);
		assert_int_equal(b.quality, 0);
		free(buf);
	}
	assert_int_equal(cbp_decode_pdq((const uint8_t *)"x", 1, CBP_FMT_PNG, NULL, 0, NULL), CBP_EINVAL);
}

/*
 * PNM by hand: comments and any blanks in the header, a maxval under 255
 * scaled to 8 bits, the forms not decoded (16-bit, ASCII, bitmap) said to
 * be unsupported, a header without its closing blank or with a width that
 * does not fit 32 bits corrupt.
 */
static void
test_pnm_forms(void **state)
{
	static const uint8_t grey4[] = "P5 # comment\n# another\r\n 2\t2 15\n"
	    "\x00\x0f\x05\x10";
	static const uint8_t wide[] = "P6\n2 1\n65535\n\0\0\0\0\0\0\0\0\0\0\0\0";
	static const uint8_t ascii[] = "P3\n1 1\n255\n1 2 3\n";
	static const uint8_t nosep[] = "P5\n1 1\n255";
	static const uint8_t big[] = "P5\n99999999999 1\n255\n\0";
	struct cbp_image img;

	assert_int_equal(cbp_decode(grey4, sizeof(grey4) - 1, CBP_FMT_PNM, NULL,
	    &img), CBP_OK);
	assert_int_equal(img.w, 2);
	assert_int_equal(img.h, 2);
	assert_int_equal(img.channels, 1);
	/* 0, 15 (max), 5 -> 85, and 16 (over maxval) held at 255. */
	assert_int_equal(img.px[0], 0);
	assert_int_equal(img.px[1], 255);
	assert_int_equal(img.px[2], 85);
	assert_int_equal(img.px[3], 255);
	cbp_image_free(&img);
	assert_int_equal(cbp_decode(wide, sizeof(wide) - 1, CBP_FMT_PNM, NULL,
	    &img), CBP_EUNSUPPORTED);
	assert_int_equal(cbp_decode(ascii, sizeof(ascii) - 1, CBP_FMT_PNM, NULL,
	    &img), CBP_EUNSUPPORTED);
	assert_int_equal(cbp_decode(nosep, sizeof(nosep) - 1, CBP_FMT_PNM, NULL,
	    &img), CBP_ECORRUPT);
	assert_int_equal(cbp_decode(big, sizeof(big) - 1, CBP_FMT_PNM, NULL,
	    &img), CBP_ECORRUPT);
	assert_null(img.px);
}

/* ---- API edges ----------------------------------------------------------- */

static void
test_mime(void **state)
{
	assert_int_equal(cbp_decode_fmt_from_mime("image/jpeg"), CBP_FMT_JPEG);
	assert_int_equal(cbp_decode_fmt_from_mime("image/png; charset=binary"), CBP_FMT_PNG);
	assert_int_equal(cbp_decode_fmt_from_mime("IMAGE/TIFF"), CBP_FMT_TIFF);
	assert_int_equal(cbp_decode_fmt_from_mime("image/jp2"), CBP_FMT_JP2);
	assert_int_equal(cbp_decode_fmt_from_mime("image/x-jp2-codestream"), CBP_FMT_JP2);
	assert_int_equal(cbp_decode_fmt_from_mime("image/gif"), CBP_FMT_GIF);
	assert_int_equal(cbp_decode_fmt_from_mime("image/webp"), CBP_FMT_WEBP);
	assert_int_equal(cbp_decode_fmt_from_mime("image/bmp"), CBP_FMT_BMP);
	assert_int_equal(cbp_decode_fmt_from_mime("image/x-ms-bmp"), CBP_FMT_BMP);
	assert_int_equal(cbp_decode_fmt_from_mime("image/x-portable-pixmap"), CBP_FMT_PNM);
	assert_int_equal(cbp_decode_fmt_from_mime("image/x-portable-greymap"), CBP_FMT_PNM);
	assert_int_equal(cbp_decode_fmt_from_mime("image/x-portable-bitmap"), CBP_FMT_UNKNOWN);
	assert_int_equal(cbp_decode_fmt_from_mime("image/jpegx"), CBP_FMT_UNKNOWN);
	assert_int_equal(cbp_decode_fmt_from_mime("image/jpe"), CBP_FMT_UNKNOWN);
	assert_int_equal(cbp_decode_fmt_from_mime("text/plain"), CBP_FMT_UNKNOWN);
	assert_int_equal(cbp_decode_fmt_from_mime(""), CBP_FMT_UNKNOWN);
	assert_int_equal(cbp_decode_fmt_from_mime(NULL), CBP_FMT_UNKNOWN);
	assert_string_equal(cbp_decode_fmt_name(CBP_FMT_JP2), "jp2");
	assert_string_equal(cbp_decode_fmt_name(CBP_FMT_MAX), "unknown");
}

static void
test_bad_args(void **state)
{
	struct cbp_image img;
	uint8_t b[16] = { 0 };

	assert_int_equal(cbp_decode(b, sizeof(b), CBP_FMT_UNKNOWN, NULL, &img), CBP_EINVAL);
	assert_int_equal(cbp_decode(b, sizeof(b), CBP_FMT_MAX, NULL, &img), CBP_EINVAL);
	assert_int_equal(cbp_decode(b, sizeof(b), CBP_FMT_PNG, NULL, NULL), CBP_EINVAL);
	assert_int_equal(cbp_decode(NULL, 5, CBP_FMT_PNG, NULL, &img), CBP_EINVAL);
	cbp_image_free(NULL);
	memset(&img, 0, sizeof(img));
	cbp_image_free(&img);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lossless_same_pixels),
		cmocka_unit_test(test_grey_same_pixels),
		cmocka_unit_test(test_palette_same_pixels),
		cmocka_unit_test(test_lossy_hash_close),
		cmocka_unit_test(test_luma_only),
		cmocka_unit_test(test_bmp_mono),
		cmocka_unit_test(test_bmp_topdown),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_bombs_are_limit),
		cmocka_unit_test(test_cap_parameter),
		cmocka_unit_test(test_truncated_is_corrupt),
		cmocka_unit_test(test_garbage_is_corrupt),
		cmocka_unit_test(test_silent),
		cmocka_unit_test(test_dct_scale),
		cmocka_unit_test(test_sample_side),
		cmocka_unit_test(test_decode_pdq),
		cmocka_unit_test(test_pnm_forms),
		cmocka_unit_test(test_png_fast_equals_spng),
		cmocka_unit_test(test_mime),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
