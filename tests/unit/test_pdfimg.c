/*
 * test_pdfimg.c — cbp_pdfimg.h: FlateDecode pixel images found in PDFs
 * written here byte by byte (zlib for the data), with direct and indirect
 * /Length; every predictor (none, TIFF, PNG rows of each filter type)
 * undone to the very pixels written, RGB and grey; ICCBased colour spaces
 * resolved from the profile stream's /N; truncated and damaged data
 * corrupt; a declared 60000 x 60000 refused before any allocation; what is
 * not taken counted as skipped; dictionaries split oddly (comments, no
 * blanks, escaped names, "stream" and ">>" inside strings) still read.
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

#include "cbp_err.h"
#include "cbp_pdfimg.h"

/* ---- building PDFs -------------------------------------------------------- */

struct pdf {
	uint8_t *b;
	size_t n, cap;
};

static void
put(struct pdf *p, const void *d, size_t n)
{
	if (p->n + n > p->cap) {
		p->cap = (p->n + n) * 2 + 256;
		assert_non_null(p->b = realloc(p->b, p->cap));
	}
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

__attribute__((format(printf, 2, 3)))
static void
putf(struct pdf *p, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(k >= 0 && (size_t)k < sizeof(buf));
	put(p, buf, (size_t)k);
}

static void
start(struct pdf *p)
{
	memset(p, 0, sizeof(*p));
	putf(p, "%%PDF-1.5\n%%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog "
	    "/Pages 2 0 R >>\nendobj\n");
}

/* Stream data then "endstream"; returns the data's offset. */
static size_t
put_data(struct pdf *p, const uint8_t *d, size_t n)
{
	size_t at = p->n;

	put(p, d, n);
	putf(p, "\nendstream\nendobj\n");
	return at;
}

static void
finish(struct pdf *p)
{
	putf(p, "trailer\n<< /Root 1 0 R >>\n%%%%EOF\n");
}

/* A picture with edges and gradients: w x h x ch bytes. */
static uint8_t *
picture(uint32_t w, uint32_t h, unsigned ch)
{
	uint8_t *px = malloc((size_t)w * h * ch);
	uint32_t x, y;
	unsigned c;

	assert_non_null(px);
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			for (c = 0; c < ch; c++)
				px[((size_t)y * w + x) * ch + c] = (uint8_t)(x * 7 +
				    y * 13 + c * 50 + (x * y) % 17 +
				    ((x / 8 + y / 8) % 2) * 90);
	return px;
}

static uint8_t
paeth(int a, int b, int c)
{
	int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);

	return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/*
 * The bytes a PDF writer deflates for predictor pred: raw rows (1), TIFF
 * differences (2), or PNG rows each led by its filter type (10-15): type
 * pred - 10 for 10..14, and every type in turn for 15 ("optimum").
 */
static uint8_t *
predict(const uint8_t *px, uint32_t w, uint32_t h, unsigned ch, unsigned pred,
    size_t *n)
{
	size_t rb = (size_t)w * ch, x;
	uint32_t y;
	uint8_t *out;

	*n = (size_t)h * (rb + (pred >= 10));
	assert_non_null(out = malloc(*n));
	for (y = 0; y < h; y++) {
		const uint8_t *r = px + y * rb, *u = y > 0 ? r - rb : NULL;
		uint8_t *o = out + (size_t)y * (rb + (pred >= 10));
		unsigned tag = pred == 15 ? y % 5 : pred - 10;

		if (pred == 1) {
			memcpy(o, r, rb);
			continue;
		}
		if (pred == 2) {
			for (x = 0; x < rb; x++)
				o[x] = (uint8_t)(r[x] - (x >= ch ? r[x - ch] : 0));
			continue;
		}
		*o++ = (uint8_t)tag;
		for (x = 0; x < rb; x++) {
			int a = x >= ch ? r[x - ch] : 0, b = u ? u[x] : 0;
			int c = u && x >= ch ? u[x - ch] : 0;
			int pr[5] = { 0, a, b, (a + b) / 2, paeth(a, b, c) };

			o[x] = (uint8_t)(r[x] - pr[tag]);
		}
	}
	return out;
}

static uint8_t *
deflate_buf(const uint8_t *d, size_t n, size_t *zn)
{
	uLongf len = compressBound(n);
	uint8_t *z = malloc(len);

	assert_non_null(z);
	assert_int_equal(compress2(z, &len, d, n, 6), Z_OK);
	*zn = len;
	return z;
}

/*
 * One image XObject, object 5, with colour space cs ("/DeviceRGB" ...)
 * and DecodeParms parms ("" for none), direct /Length unless indirect.
 * *data_off: where its data starts; *zn: its length.
 */
static struct pdf
image_pdf(uint32_t w, uint32_t h, unsigned ch, const char *cs, unsigned pred,
    const char *parms, int indirect, size_t *data_off, size_t *zn,
    uint8_t **pixels)
{
	struct pdf p;
	size_t rn;
	uint8_t *px = picture(w, h, ch), *raw = predict(px, w, h, ch, pred, &rn);
	uint8_t *z = deflate_buf(raw, rn, zn);

	start(&p);
	putf(&p, "5 0 obj\n<< /Type /XObject /Subtype /Image /Width %u "
	    "/Height %u /ColorSpace %s /BitsPerComponent 8 /Filter /FlateDecode "
	    "%s /Length ", w, h, cs, parms);
	if (indirect)
		putf(&p, "9 0 R >>\nstream\n");
	else
		putf(&p, "%zu >>\nstream\n", *zn);
	*data_off = put_data(&p, z, *zn);
	if (indirect)
		putf(&p, "9 0 obj\n%zu\nendobj\n", *zn);
	finish(&p);
	free(raw);
	free(z);
	*pixels = px;
	return p;
}

/* The hit's PNM is the header and exactly these pixels. */
static void
pnm_is(const struct pdf *p, const struct cbp_pdfimg_hit *h, const uint8_t *px)
{
	char hdr[64];
	uint8_t *out;
	size_t n, hl;

	assert_int_equal(cbp_pdfimg_pnm(p->b, p->n, h, 0, 0, &out, &n), CBP_OK);
	hl = (size_t)snprintf(hdr, sizeof(hdr), "P%c\n%u %u\n255\n",
	    h->channels == 3 ? '6' : '5', h->w, h->h);
	assert_int_equal(n, hl + (size_t)h->w * h->h * h->channels);
	assert_memory_equal(out, hdr, hl);
	if (memcmp(out + hl, px, n - hl) != 0)
		fail_msg("pixels differ (%u channels, predictor %u)",
		    h->channels, h->predictor);
	free(out);
}

static size_t
find(const struct pdf *p, struct cbp_pdfimg_hit *hit, struct cbp_pdfimg_stats *st)
{
	return cbp_pdfimg_find(p->b, p->n, hit, CBP_PDFIMG_MAX, st);
}

/* ---- found and inflated ---------------------------------------------------- */

static void
test_direct_length_rgb(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	size_t off, zn;
	uint8_t *px;
	struct pdf p = image_pdf(40, 30, 3, "/DeviceRGB", 1, "", 0, &off, &zn, &px);

	(void)state;
	assert_int_equal(find(&p, hit, &st), 1);
	assert_int_equal(hit[0].offset, off);
	assert_int_equal(hit[0].length, zn);
	assert_int_equal(hit[0].w, 40);
	assert_int_equal(hit[0].h, 30);
	assert_int_equal(hit[0].channels, 3);
	assert_int_equal(hit[0].predictor, 1);
	assert_false(hit[0].truncated);
	assert_int_equal(st.skipped, 0);
	assert_false(st.more);
	assert_int_equal(cbp_pdfimg_raster_bytes(&hit[0]), 40 * 30 * 3);
	pnm_is(&p, &hit[0], px);
	free(px);
	free(p.b);
}

static void
test_indirect_length_grey(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	size_t off, zn;
	uint8_t *px;
	struct pdf p = image_pdf(33, 17, 1, "/DeviceGray", 1, "", 1, &off, &zn, &px);

	(void)state;
	assert_int_equal(find(&p, hit, NULL), 1);
	/* Up to "endstream", without the end of line before it. */
	assert_int_equal(hit[0].offset, off);
	assert_int_equal(hit[0].length, zn);
	assert_int_equal(hit[0].channels, 1);
	assert_false(hit[0].truncated);
	pnm_is(&p, &hit[0], px);
	free(px);
	free(p.b);
}

/* TIFF and every PNG predictor value, rows of each filter type (Sub, Up,
 * Average, Paeth, and all of them in turn), in RGB and grey. */
static void
test_predictors(void **state)
{
	static const unsigned preds[] = { 2, 10, 11, 12, 13, 14, 15 };
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	char parms[128];
	size_t i, off, zn;
	unsigned ch;

	(void)state;
	for (ch = 1; ch <= 3; ch += 2)
		for (i = 0; i < sizeof(preds) / sizeof(preds[0]); i++) {
			uint8_t *px;
			struct pdf p;

			snprintf(parms, sizeof(parms), "/DecodeParms << /Predictor "
			    "%u /Colors %u /BitsPerComponent 8 /Columns 45 >>",
			    preds[i], ch);
			p = image_pdf(45, 23, ch, ch == 3 ? "/DeviceRGB" :
			    "/DeviceGray", preds[i], parms, (int)(i % 2), &off,
			    &zn, &px);
			assert_int_equal(find(&p, hit, NULL), 1);
			assert_int_equal(hit[0].predictor, preds[i]);
			assert_int_equal(cbp_pdfimg_raster_bytes(&hit[0]),
			    23 * (45 * ch + (preds[i] >= 10)));
			pnm_is(&p, &hit[0], px);
			free(px);
			free(p.b);
		}
}

/* Several images, and the count cap. */
static void
test_several_and_cap(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	uint8_t *px = picture(16, 16, 1), *z;
	size_t zn, k, offs[5];
	struct pdf p;

	(void)state;
	z = deflate_buf(px, 16 * 16, &zn);
	start(&p);
	for (k = 0; k < 5; k++) {
		putf(&p, "%zu 0 obj\n<< /Subtype /Image /Width 16 /Height 16 "
		    "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter "
		    "/FlateDecode /Length %zu >>\nstream\n", 10 + k, zn);
		offs[k] = put_data(&p, z, zn);
	}
	finish(&p);
	assert_int_equal(find(&p, hit, &st), 5);
	for (k = 0; k < 5; k++)
		assert_int_equal(hit[k].offset, offs[k]);
	assert_false(st.more);
	assert_int_equal(cbp_pdfimg_find(p.b, p.n, hit, 3, &st), 3);
	assert_true(st.more);
	assert_int_equal(hit[2].offset, offs[2]);
	free(z);
	free(px);
	free(p.b);
}

/* ICCBased: resolved from the profile stream's /N, whichever comes first. */
static void
test_iccbased(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	uint8_t *rgb = picture(20, 20, 3), *z1, *z3;
	size_t n1, n3, at;
	struct pdf p;

	(void)state;
	z3 = deflate_buf(rgb, 20 * 20 * 3, &n3);
	z1 = deflate_buf(rgb, 20 * 20, &n1);
	start(&p);
	/* Object streams' /N is a count, not components: they never fill
	 * the table of profiles. */
	for (at = 0; at < CBP_PDFIMG_ICC_MAX + 1; at++) {
		putf(&p, "%zu 0 obj\n<< /Type /ObjStm /N 3 /First 4 /Length 4 >>"
		    "\nstream\n", 100 + at);
		put_data(&p, (const uint8_t *)"1 0 ", 4);
	}
	putf(&p, "7 0 obj\n<< /N 3 /Alternate /DeviceRGB /Length 4 >>\nstream\n");
	put_data(&p, (const uint8_t *)"icc3", 4);
	putf(&p, "5 0 obj\n<< /Subtype /Image /Width 20 /Height 20 /ColorSpace "
	    "[/ICCBased 7 0 R] /BitsPerComponent 8 /Filter /FlateDecode "
	    "/Length %zu >>\nstream\n", n3);
	at = put_data(&p, z3, n3);
	/* Grey, its profile after it. */
	putf(&p, "6 0 obj\n<< /Subtype /Image /Width 20 /Height 20 /ColorSpace "
	    "[/ICCBased 8 0 R] /BitsPerComponent 8 /Filter /FlateDecode "
	    "/Length %zu >>\nstream\n", n1);
	put_data(&p, z1, n1);
	putf(&p, "8 0 obj\n<< /N 1 /Length 4 >>\nstream\n");
	put_data(&p, (const uint8_t *)"icc1", 4);
	/* CMYK profile and a missing one: not taken. */
	putf(&p, "11 0 obj\n<< /N 4 /Length 4 >>\nstream\n");
	put_data(&p, (const uint8_t *)"icc4", 4);
	putf(&p, "12 0 obj\n<< /Subtype /Image /Width 20 /Height 20 /ColorSpace "
	    "[/ICCBased 11 0 R] /BitsPerComponent 8 /Filter /FlateDecode "
	    "/Length %zu >>\nstream\n", n3);
	put_data(&p, z3, n3);
	putf(&p, "13 0 obj\n<< /Subtype /Image /Width 20 /Height 20 /ColorSpace "
	    "[/ICCBased 99 0 R] /BitsPerComponent 8 /Filter /FlateDecode "
	    "/Length %zu >>\nstream\n", n3);
	put_data(&p, z3, n3);
	finish(&p);
	assert_int_equal(find(&p, hit, &st), 2);
	assert_int_equal(hit[0].offset, at);
	assert_int_equal(hit[0].channels, 3);
	assert_int_equal(hit[1].channels, 1);
	assert_int_equal(st.skipped, 2);
	pnm_is(&p, &hit[0], rgb);
	free(z1);
	free(z3);
	free(rgb);
	free(p.b);
}

/* ---- broken, hostile, not taken ------------------------------------------ */

static void
test_truncated_and_damaged(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	uint8_t *out = (uint8_t *)"x", *px;
	size_t off, zn, n;
	int indirect;

	(void)state;
	for (indirect = 0; indirect <= 1; indirect++) {
		struct pdf p = image_pdf(40, 30, 3, "/DeviceRGB", 1, "", indirect,
		    &off, &zn, &px);
		/* Cut half way through the data. */
		assert_int_equal(cbp_pdfimg_find(p.b, off + zn / 2, hit,
		    CBP_PDFIMG_MAX, NULL), 1);
		assert_true(hit[0].truncated);
		assert_int_equal(hit[0].length, zn / 2);
		assert_int_equal(cbp_pdfimg_pnm(p.b, off + zn / 2, &hit[0], 0, 0,
		    &out, &n), CBP_ECORRUPT);
		assert_null(out);
		/* Whole, but damaged in the middle. */
		assert_int_equal(find(&p, hit, NULL), 1);
		p.b[off + zn / 2] ^= 0x5a;
		p.b[off + zn / 2 + 1] ^= 0xa5;
		assert_int_equal(cbp_pdfimg_pnm(p.b, p.n, &hit[0], 0, 0, &out,
		    &n), CBP_ECORRUPT);
		free(px);
		free(p.b);
	}
}

/* A PNG row's filter type over 4 is damage, not a picture. */
static void
test_bad_png_filter_type(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	uint8_t raw[17 * 16] = { 0 }, *z, *out;
	size_t zn, n;
	struct pdf p;

	(void)state;
	raw[17 * 5] = 7;
	z = deflate_buf(raw, sizeof(raw), &zn);
	start(&p);
	putf(&p, "5 0 obj\n<< /Subtype /Image /Width 16 /Height 16 /ColorSpace "
	    "/DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms "
	    "<< /Predictor 15 /Columns 16 >> /Length %zu >>\nstream\n", zn);
	put_data(&p, z, zn);
	finish(&p);
	assert_int_equal(find(&p, hit, NULL), 1);
	assert_int_equal(cbp_pdfimg_pnm(p.b, p.n, &hit[0], 0, 0, &out, &n),
	    CBP_ECORRUPT);
	free(z);
	free(p.b);
}

/*
 * cbp_pdfimg_pnm under a data limit of 256 MiB (no sanitizer: ASan's
 * shadow would trip it): a buffer sized from the declared 60000 x 60000
 * (10.8 GB) before the check would fail there and come back CBP_ENOMEM.
 */
static int
pnm_limited(const struct pdf *p, const struct cbp_pdfimg_hit *h)
{
	uint8_t *out = NULL;
	size_t n;
#if defined(__SANITIZE_ADDRESS__)
	int r = cbp_pdfimg_pnm(p->b, p->n, h, 0, 0, &out, &n);

	free(out);
	return r;
#else
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { (rlim_t)256 << 20, (rlim_t)256 << 20 };
		int r;

		if (setrlimit(RLIMIT_DATA, &rl) != 0)
			_exit(100);
		r = cbp_pdfimg_pnm(p->b, p->n, h, 0, 0, &out, &n);
		_exit(r == CBP_OK || out != NULL ? 101 : r);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
#endif
}

static void
test_bomb_is_limit(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	uint8_t zeros[4096] = { 0 }, *z, *out;
	size_t zn, n, off;
	struct pdf p;

	(void)state;
	/* A few KB of zeros that would inflate to all of it. */
	z = deflate_buf(zeros, sizeof(zeros), &zn);
	start(&p);
	putf(&p, "5 0 obj\n<< /Subtype /Image /Width 60000 /Height 60000 "
	    "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
	    "/Length %zu >>\nstream\n", zn);
	put_data(&p, z, zn);
	finish(&p);
	assert_int_equal(find(&p, hit, NULL), 1);
	assert_int_equal(hit[0].w, 60000);
	assert_int_equal(pnm_limited(&p, &hit[0]), CBP_ELIMIT);
	free(z);
	free(p.b);
	/* The caller's caps: pixels, and the PNM's bytes. */
	{
		uint8_t *px;
		struct pdf q = image_pdf(40, 30, 3, "/DeviceRGB", 1, "", 0, &off,
		    &zn, &px);

		assert_int_equal(find(&q, hit, NULL), 1);
		assert_int_equal(cbp_pdfimg_pnm(q.b, q.n, &hit[0], 40 * 30 - 1,
		    0, &out, &n), CBP_ELIMIT);
		assert_int_equal(cbp_pdfimg_pnm(q.b, q.n, &hit[0], 0,
		    40 * 30 * 3, &out, &n), CBP_ELIMIT);
		assert_null(out);
		assert_int_equal(cbp_pdfimg_pnm(q.b, q.n, &hit[0], 40 * 30,
		    40 * 30 * 3 + 13, &out, &n), CBP_OK);
		free(out);
		free(px);
		free(q.b);
	}
}

/* Each dictionary is an image XObject we do not take: counted, not found. */
static void
test_not_taken(void **state)
{
	static const struct {
		const char *dict;
		size_t skipped;
	} cases[] = {
		{ "/ColorSpace /DeviceCMYK /BitsPerComponent 8 /Filter /FlateDecode", 1 },
		{ "/ColorSpace [/Indexed /DeviceRGB 255 4 0 R] /BitsPerComponent 8 "
		  "/Filter /FlateDecode", 1 },
		{ "/ColorSpace /Lab /BitsPerComponent 8 /Filter /FlateDecode", 1 },
		{ "/ColorSpace 7 0 R /BitsPerComponent 8 /Filter /FlateDecode", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 16 /Filter /FlateDecode", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
		  "/Decode [1 0]", 1 },
		{ "/ImageMask true /BitsPerComponent 8 /Filter /FlateDecode", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter "
		  "[/FlateDecode /DCTDecode]", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter "
		  "[/ASCIIHexDecode /FlateDecode]", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
		  "/DecodeParms << /Predictor 15 /Columns 20 >>", 1 },
		{ "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
		  "/DecodeParms << /Predictor 12 /Columns 32 >>", 1 },	/* Colors 1 */
		{ "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
		  "/DecodeParms << /Predictor 3 /Columns 32 >>", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
		  "/DecodeParms 9 0 R", 1 },
		{ "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
		  "/Width 3 0 R", 1 },	/* a second, indirect /Width */
		/* JPEGs are imgcarve's; raw and other codecs are not Flate. */
		{ "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", 0 },
		{ "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /JPXDecode", 0 },
		{ "/ColorSpace /DeviceRGB /BitsPerComponent 8", 0 },
		/* Broken after /Subtype /Image: counted. */
		{ "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
		  "/Bad (unterminated", 1 },
		{ "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
		  "/Bad [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", 1 },
	};
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	uint8_t *px = picture(32, 32, 3), *z;
	size_t i, zn;

	(void)state;
	z = deflate_buf(px, 32 * 32 * 3, &zn);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pdf p;

		start(&p);
		putf(&p, "5 0 obj\n<< /Subtype /Image /Width 32 /Height 32 %s "
		    "/Length %zu >>\nstream\n", cases[i].dict, zn);
		put_data(&p, z, zn);
		finish(&p);
		if (find(&p, hit, &st) != 0 || st.skipped != cases[i].skipped)
			fail_msg("case %zu (%s): %zu skipped, want %zu", i,
			    cases[i].dict, st.skipped, cases[i].skipped);
		free(p.b);
	}
	free(z);
	free(px);
}

/* Not images at all, or too small to be photographs: not counted. */
static void
test_not_images(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	uint8_t *px = picture(8, 8, 1), *z;
	size_t zn;
	struct pdf p;

	(void)state;
	z = deflate_buf(px, 64, &zn);
	start(&p);
	putf(&p, "4 0 obj\n<< /Length %zu /Filter /FlateDecode >>\nstream\n", zn);
	put_data(&p, z, zn);
	putf(&p, "5 0 obj\n<< /Subtype /Image /Width 8 /Height 8 /ColorSpace "
	    "/DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length %zu "
	    ">>\nstream\n", zn);
	put_data(&p, z, zn);
	putf(&p, "6 0 obj\n<< /Subtype /Form /Length 0 >>\nstream\n\nendstream\n"
	    "endobj\n");
	finish(&p);
	assert_int_equal(find(&p, hit, &st), 0);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(st.streams, 3);
	free(z);
	free(px);
	free(p.b);
}

/* Comments, no blanks, escaped names, CRLF, strings holding "stream" and
 * ">>", a one-element DecodeParms array, CalRGB with its dictionary. */
static void
test_odd_dictionary(void **state)
{
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	size_t rn, zn, off;
	uint8_t *px = picture(64, 64, 3), *raw, *z;
	struct pdf p;

	(void)state;
	raw = predict(px, 64, 64, 3, 15, &rn);
	z = deflate_buf(raw, rn, &zn);
	start(&p);
	putf(&p, "5 0 obj%% an image follows\r\n<</Type/XObject/Subtype/Image"
	    "/Width 64/Height 64/ColorSpace[/CalRGB<</WhitePoint[0.95 1 1.09]"
	    ">>]/BitsPerComponent 8/Filter[/Fl#61teDecode]/DecodeParms[<<"
	    "/Predictor 15/Colors 3/Columns 64>>]/Name (a >> stream\n(nested)"
	    " \\) endobj) %% >> stream\n/Alt <3e3e> /Length %zu>>stream\r\n", zn);
	off = put_data(&p, z, zn);
	finish(&p);
	assert_int_equal(find(&p, hit, &st), 1);
	assert_int_equal(hit[0].offset, off);
	assert_int_equal(hit[0].predictor, 15);
	assert_int_equal(st.skipped, 0);
	pnm_is(&p, &hit[0], px);
	free(raw);
	free(z);
	free(px);
	free(p.b);
}

/* Junk, stray keywords, and dictionaries cut anywhere never crash and
 * never give a hit outside the buffer. */
static void
test_hostile_bytes(void **state)
{
	static const char *const junk[] = {
		"", "obj", "stream\n", "1 0 obj", "1 0 obj <<", "1 0 obj << >>",
		"1 0 obj << >> stream", "1 0 obj << >> stream\n",
		"1 0 obj << /Subtype /Image /Width 99999999999999999999 >> stream\n",
		"1 0 obj << /Length -5 /Subtype /Image >> stream\r",
		"endobj endstream stream obj 0 obj 1 0 objective",
		"1 0 obj << ) >> stream\n", "1 0 obj << /A << /B [ ] >> stream\n",
	};
	struct cbp_pdfimg_hit hit[CBP_PDFIMG_MAX];
	struct cbp_pdfimg_stats st;
	size_t i, k, off, zn;
	uint8_t *px;
	struct pdf p = image_pdf(20, 20, 3, "/DeviceRGB", 12,
	    "/DecodeParms << /Predictor 12 /Colors 3 /Columns 20 >>", 0, &off,
	    &zn, &px);

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		(void)cbp_pdfimg_find((const uint8_t *)junk[i], strlen(junk[i]),
		    hit, CBP_PDFIMG_MAX, &st);
	assert_int_equal(cbp_pdfimg_find(NULL, 0, hit, CBP_PDFIMG_MAX, &st), 0);
	/* Every prefix of a good PDF: hits stay inside it. */
	for (k = 0; k <= p.n; k++) {
		size_t n = cbp_pdfimg_find(p.b, k, hit, CBP_PDFIMG_MAX, &st);

		for (i = 0; i < n; i++)
			assert_true(hit[i].offset <= k &&
			    hit[i].length <= k - hit[i].offset);
	}
	free(px);
	free(p.b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_length_rgb),
		cmocka_unit_test(test_indirect_length_grey),
		cmocka_unit_test(test_predictors),
		cmocka_unit_test(test_several_and_cap),
		cmocka_unit_test(test_iccbased),
		cmocka_unit_test(test_truncated_and_damaged),
		cmocka_unit_test(test_bad_png_filter_type),
		cmocka_unit_test(test_bomb_is_limit),
		cmocka_unit_test(test_not_taken),
		cmocka_unit_test(test_not_images),
		cmocka_unit_test(test_odd_dictionary),
		cmocka_unit_test(test_hostile_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
