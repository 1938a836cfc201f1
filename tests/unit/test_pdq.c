/*
 * test_pdq.c — cbp_pdq.h: bit-exact PDQ hashes and qualities against the
 * published vectors in $CBP_TESTDATA/pdq (default ../shared/testdata), the
 * 8 dihedral hashes, our own computed values, the near-duplicate distances,
 * and the hex/distance helpers.
 *
 * Pixels come from cbp_decode (libjpeg-turbo, libspng, libtiff, giflib,
 * libwebp, our BMP reader) at full scale, as the `hash` command decodes.  Missing data skips a test, except under make
 * (CBP_TEST_STRICT), where it fails: a check that passes by skipping proves
 * nothing.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbp_decode.h"
#include "cbp_err.h"
#include "cbp_pdq.h"

#define MAX_ROWS 64

/* ---- test data ----------------------------------------------------------- */

static const char *
datadir(void)
{
	const char *d = getenv("CBP_TESTDATA");

	return d != NULL && *d != '\0' ? d : "../shared/testdata";
}

/* Files are under $CBP_TESTDATA/<dir>: "pdq" unless a test says "faces". */
static const char *subdir = "pdq";

/* Whole file under $CBP_TESTDATA/<subdir>, or NULL (skip; fail when strict). */
static uint8_t *
load(const char *rel, size_t *n)
{
	char path[4096];
	uint8_t *p = NULL;
	FILE *f;
	long sz;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", datadir(), subdir, rel) >= sizeof(path))
		return NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		if (getenv("CBP_TEST_STRICT") != NULL)
			fail_msg("test data %s missing: the checks need "
			    "../shared/testdata (or CBP_TESTDATA)", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)sz + 1)) != NULL) {
		*n = fread(p, 1, (size_t)sz, f);
		if (*n != (size_t)sz) {
			free(p);
			p = NULL;
		}
		else
			p[*n] = '\0';
	}
	fclose(f);
	return p;
}

/* A TSV table: rows of up to 4 tab-separated fields, header skipped. */
struct table {
	char *text;
	size_t nrows;
	char *f[MAX_ROWS][4];
};

static int
load_table(const char *rel, struct table *t)
{
	size_t n;
	char *line, *save = NULL;
	int first = 1;

	memset(t, 0, sizeof(*t));
	if ((t->text = (char *)load(rel, &n)) == NULL)
		return -1;
	for (line = strtok_r(t->text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *fs = NULL, *field;
		int k = 0;

		if (first) {
			first = 0;
			continue;
		}
		assert_true(t->nrows < MAX_ROWS);
		for (field = strtok_r(line, "\t", &fs); field != NULL && k < 4;
		    field = strtok_r(NULL, "\t", &fs))
			t->f[t->nrows][k++] = field;
		assert_true(k >= 3);
		t->nrows++;
	}
	return 0;
}

static enum cbp_decode_fmt
fmt_of(const char *name)
{
	static const struct {
		const char *ext;
		enum cbp_decode_fmt fmt;
	} map[] = {
		{ ".png", CBP_FMT_PNG }, { ".bmp", CBP_FMT_BMP }, { ".gif", CBP_FMT_GIF },
		{ ".tif", CBP_FMT_TIFF }, { ".webp", CBP_FMT_WEBP }, { ".jpg", CBP_FMT_JPEG },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(dot, map[i].ext) == 0)
			return map[i].fmt;
	fail_msg("%s: no format for this extension", name);
	return CBP_FMT_UNKNOWN;
}

/* Decode a test image at full scale (sample_side as given) and hash it. */
static int
hash_file(const char *rel, uint32_t sample_side, struct cbp_pdq *out)
{
	struct cbp_decode_opts o = { 0 };
	struct cbp_image img;
	uint8_t *buf;
	size_t n = 0;
	int r;

	if ((buf = load(rel, &n)) == NULL)
		return -1;
	o.sample_side = sample_side;
	r = cbp_decode(buf, n, fmt_of(rel), &o, &img);
	free(buf);
	assert_int_equal(r, CBP_OK);
	assert_int_equal(cbp_pdq_hash(img.px, img.w, img.h, img.channels,
	    (size_t)img.w * img.channels, CBP_PDQ_DIHEDRAL, out), CBP_OK);
	cbp_image_free(&img);
	return 0;
}

/* Every row's hash and quality, exactly. */
static void
check_table(const char *rel, uint32_t sample_side)
{
	struct table t;
	struct cbp_pdq p;
	char hex[CBP_PDQ_HEX + 1];
	size_t i;

	if (load_table(rel, &t) != 0)
		skip();
	assert_true(t.nrows > 0);
	for (i = 0; i < t.nrows; i++) {
		if (hash_file(t.f[i][0], sample_side, &p) != 0)
			skip();
		cbp_pdq_to_hex(p.hash, hex);
		if (strcmp(hex, t.f[i][1]) != 0 || p.quality != atoi(t.f[i][2]))
			fail_msg("%s: got %s q%d, want %s q%s", t.f[i][0], hex,
			    p.quality, t.f[i][1], t.f[i][2]);
	}
	free(t.text);
}

/* ---- the published and computed vectors ---------------------------------- */

static void
test_expected_tsv(void **state)
{
	check_table("expected.tsv", 0);
}

/* Decode-time sampling to 512 x 512 is the reference's pre-scale: same bits. */
static void
test_expected_tsv_sampled(void **state)
{
	check_table("expected.tsv", CBP_PDQ_PRESCALE);
}

static void
test_computed_tsv(void **state)
{
	check_table("computed.tsv", 0);
}

/*
 * testdata/faces: the same pipeline's values for BMP, GIF, TIFF, WebP and
 * PNG copies of one picture, grey and 16-bit-table JPEGs and the EXIF
 * orientation set (stored pixels, not rotated).
 */
static void
test_faces_computed_tsv(void **state)
{
	subdir = "faces";
	check_table("pdq-computed.tsv", 0);
	subdir = "pdq";
}

static void
test_dihedral_tsv(void **state)
{
	struct table t;
	struct cbp_pdq p;
	char hex[CBP_PDQ_HEX + 1];
	size_t i;
	int k, seen = 0;

	if (load_table("dihedral.tsv", &t) != 0)
		skip();
	assert_int_equal(t.nrows, CBP_PDQ_NDIH);
	for (i = 0; i < t.nrows; i++) {
		if (hash_file(t.f[i][0], 0, &p) != 0)
			skip();
		assert_true(p.has_dih);
		for (k = 0; k < CBP_PDQ_NDIH; k++)
			if (strcmp(cbp_pdq_dih_name(k), t.f[i][1]) == 0)
				break;
		assert_true(k < CBP_PDQ_NDIH);
		seen |= 1 << k;
		cbp_pdq_to_hex(p.dih[k], hex);
		if (strcmp(hex, t.f[i][2]) != 0)
			fail_msg("%s %s: got %s, want %s", t.f[i][0], t.f[i][1], hex, t.f[i][2]);
	}
	assert_int_equal(seen, (1 << CBP_PDQ_NDIH) - 1);
	free(t.text);
}

/* "file" or "file#variant": the plain hash or a dihedral variant. */
static void
hash_ref(const char *ref, uint8_t hash[CBP_PDQ_BYTES])
{
	char name[512];
	const char *h = strchr(ref, '#');
	struct cbp_pdq p;
	int k = CBP_PDQ_ORIG;

	assert_true(strlen(ref) < sizeof(name));
	memcpy(name, ref, strlen(ref) + 1);
	if (h != NULL) {
		name[h - ref] = '\0';
		for (k = 0; k < CBP_PDQ_NDIH; k++)
			if (strcmp(cbp_pdq_dih_name(k), h + 1) == 0)
				break;
		assert_true(k < CBP_PDQ_NDIH);
	}
	if (hash_file(name, 0, &p) != 0)
		skip();
	memcpy(hash, p.dih[k], CBP_PDQ_BYTES);
}

static void
test_pairs_tsv(void **state)
{
	struct table t;
	uint8_t a[CBP_PDQ_BYTES], b[CBP_PDQ_BYTES];
	size_t i;

	if (load_table("pairs.tsv", &t) != 0)
		skip();
	assert_true(t.nrows >= 30);
	for (i = 0; i < t.nrows; i++) {
		assert_non_null(t.f[i][3]);
		hash_ref(t.f[i][0], a);
		hash_ref(t.f[i][1], b);
		if (cbp_pdq_distance(a, b) != atoi(t.f[i][3]))
			fail_msg("%s vs %s: distance %d, want %s", t.f[i][0], t.f[i][1],
			    cbp_pdq_distance(a, b), t.f[i][3]);
	}
	free(t.text);
}

/* ---- helpers and edge cases ---------------------------------------------- */

static void
test_hex_roundtrip(void **state)
{
	static const char *h =
	    "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
	uint8_t b[CBP_PDQ_BYTES], c[CBP_PDQ_BYTES];
	char hex[CBP_PDQ_HEX + 1];

	assert_int_equal(cbp_pdq_from_hex(h, strlen(h), b), CBP_OK);
	/* Big-endian bytes of the 256-bit number: first digit pair first. */
	assert_int_equal(b[0], 0xd8);
	assert_int_equal(b[31], 0x22);
	cbp_pdq_to_hex(b, hex);
	assert_string_equal(hex, h);
	assert_int_equal(cbp_pdq_from_hex("D8F8F0CEE0F4A84F0637022A078F67F0B36E2ED596621E1D33E6339C4E9C9B22",
	    64, c), CBP_OK);
	assert_memory_equal(b, c, CBP_PDQ_BYTES);
	assert_int_equal(cbp_pdq_distance(b, c), 0);
}

static void
test_hex_rejects(void **state)
{
	static const char *h =
	    "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
	uint8_t b[CBP_PDQ_BYTES];
	char bad[CBP_PDQ_HEX + 1];

	memset(b, 0x5a, sizeof(b));
	assert_int_equal(cbp_pdq_from_hex(h, 63, b), CBP_ECORRUPT);
	assert_int_equal(cbp_pdq_from_hex(h, 65, b), CBP_ECORRUPT);
	assert_int_equal(cbp_pdq_from_hex(NULL, 64, b), CBP_ECORRUPT);
	memcpy(bad, h, sizeof(bad));
	bad[40] = 'g';
	assert_int_equal(cbp_pdq_from_hex(bad, 64, b), CBP_ECORRUPT);
	bad[40] = ' ';
	assert_int_equal(cbp_pdq_from_hex(bad, 64, b), CBP_ECORRUPT);
	/* A failed parse leaves the output alone. */
	assert_int_equal(b[0], 0x5a);
	assert_int_equal(b[31], 0x5a);
}

static void
test_distance(void **state)
{
	uint8_t a[CBP_PDQ_BYTES] = { 0 }, b[CBP_PDQ_BYTES] = { 0 };

	assert_int_equal(cbp_pdq_distance(a, b), 0);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(cbp_pdq_distance(a, b), 256);
	memset(b, 0, sizeof(b));
	b[0] = 0x80;
	b[17] = 0x11;
	b[31] = 0x01;
	assert_int_equal(cbp_pdq_distance(a, b), 4);
}

/* Below 5 pixels on a side: zero hash, quality 0 (reference step 3). */
static void
test_tiny_is_zero(void **state)
{
	uint8_t px[4 * 100 * 3];
	uint8_t zero[CBP_PDQ_BYTES] = { 0 };
	struct cbp_pdq p;
	size_t i;

	for (i = 0; i < sizeof(px); i++)
		px[i] = (uint8_t)(i * 37);
	assert_int_equal(cbp_pdq_hash(px, 100, 4, 3, 300, CBP_PDQ_DIHEDRAL, &p), CBP_OK);
	assert_memory_equal(p.hash, zero, CBP_PDQ_BYTES);
	assert_memory_equal(p.dih[CBP_PDQ_ROT90], zero, CBP_PDQ_BYTES);
	assert_int_equal(p.quality, 0);
	assert_int_equal(cbp_pdq_hash(px, 4, 100, 3, 12, 0, &p), CBP_OK);
	assert_memory_equal(p.hash, zero, CBP_PDQ_BYTES);
}

static void
test_bad_args(void **state)
{
	uint8_t px[64 * 64];
	struct cbp_pdq p;

	memset(px, 7, sizeof(px));
	assert_int_equal(cbp_pdq_hash(px, 64, 64, 2, 128, 0, &p), CBP_EINVAL);
	assert_int_equal(cbp_pdq_hash(px, 64, 64, 1, 63, 0, &p), CBP_EINVAL);
	assert_int_equal(cbp_pdq_hash(NULL, 64, 64, 1, 64, 0, &p), CBP_EINVAL);
	assert_int_equal(cbp_pdq_hash(px, 0, 64, 1, 64, 0, &p), CBP_EINVAL);
	assert_int_equal(cbp_pdq_hash(px, 64, 64, 1, 64, 0, NULL), CBP_EINVAL);
	assert_int_equal(cbp_pdq_hash(px, 64, 64, 1, 64, 0, &p), CBP_OK);
	assert_int_equal(p.has_dih, 0);
}

/*
 * A synthetic image, transformed in pixel space: its own hash lands close
 * to the matching variant derived from the original's DCT (exact for the
 * transpose of a 64 x 64 image, which needs no blur or resampling).
 */
static void
test_dihedral_synthetic(void **state)
{
	enum { N = 64 };
	static uint8_t a[N * N], t[N * N];
	struct cbp_pdq pa, pt;
	int x, y;

	for (y = 0; y < N; y++)
		for (x = 0; x < N; x++)
			a[y * N + x] = (uint8_t)((x * 7 + y * y * 3 + (x * y) % 23) & 0xff);
	for (y = 0; y < N; y++)
		for (x = 0; x < N; x++)
			t[x * N + y] = a[y * N + x];
	assert_int_equal(cbp_pdq_hash(a, N, N, 1, N, CBP_PDQ_DIHEDRAL, &pa), CBP_OK);
	assert_int_equal(cbp_pdq_hash(t, N, N, 1, N, 0, &pt), CBP_OK);
	assert_int_equal(cbp_pdq_distance(pa.dih[CBP_PDQ_FLIPP], pt.hash), 0);
	assert_true(cbp_pdq_distance(pa.hash, pt.hash) > 32);
	for (y = 0; y < N; y++)
		for (x = 0; x < N; x++)
			t[y * N + (N - 1 - x)] = a[y * N + x];
	assert_int_equal(cbp_pdq_hash(t, N, N, 1, N, 0, &pt), CBP_OK);
	assert_true(cbp_pdq_distance(pa.dih[CBP_PDQ_FLIPY], pt.hash) <= 8);
}

/* ---- the straightforward pipeline, as a yardstick for the fast one -------- */

/*
 * scanner/pdq.c vectorises the blur, stores only what the samples read and
 * selects the median instead of sorting.  This is the plain form of the same
 * steps (pdq.md): one running sum per row, then per column, twice; a full
 * sort.  Any difference in a float operation or its order shows as a hash
 * that differs from it.
 */
static float ref_dct[16][64];

static void
ref_dct_init(void)
{
	const float scale = (float)sqrt(2.0 / 64.0);
	int i, j;

	for (i = 0; i < 16; i++)
		for (j = 0; j < 64; j++)
			ref_dct[i][j] = (float)(scale *
			    cos((M_PI / 2 / 64) * (i + 1) * (2 * j + 1)));
}

static void
ref_luma(const uint8_t *px, uint32_t w, uint32_t h, unsigned ch, size_t stride,
    float *L, uint32_t lw, uint32_t lh)
{
	uint32_t x, y;

	for (y = 0; y < lh; y++) {
		uint32_t sy = lh == h ? y : (uint32_t)((uint64_t)y * h / lh);
		const uint8_t *row = px + (size_t)sy * stride;
		float *o = L + (size_t)y * lw;

		for (x = 0; x < lw; x++) {
			uint32_t sx = lw == w ? x : (uint32_t)((uint64_t)x * w / lw);
			const uint8_t *p = row + (size_t)sx * ch;

			if (ch == 1)
				o[x] = (float)p[0];
			else
				o[x] = 0.299f * (float)p[0] + 0.587f * (float)p[1] +
				    0.114f * (float)p[2];
		}
	}
}

static void
ref_box1d(const float *in, float *out, uint32_t n, size_t step, uint32_t w)
{
	uint32_t half = (w + 2) / 2, k;
	size_t ri = 0, oi = 0, wi = 0;
	float s = 0.0f;
	int c = 0;

	for (k = 0; k + 1 < half; k++) {
		s += in[ri++ * step];
		c++;
	}
	for (k = 0; k < w - half + 1; k++) {
		s += in[ri++ * step];
		c++;
		out[wi++ * step] = s / (float)c;
	}
	for (k = 0; k < n - w; k++) {
		s += in[ri++ * step];
		s -= in[oi++ * step];
		out[wi++ * step] = s / (float)c;
	}
	for (k = 0; k + 1 < half; k++) {
		s -= in[oi++ * step];
		c--;
		out[wi++ * step] = s / (float)c;
	}
}

static void
ref_blur(float *L, float *T, uint32_t w, uint32_t h)
{
	uint32_t wx = (w + 127) / 128, wy = (h + 127) / 128;
	uint32_t r, c;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (r = 0; r < h; r++)
			ref_box1d(L + (size_t)r * w, T + (size_t)r * w, w, 1, wx);
		for (c = 0; c < w; c++)
			ref_box1d(T + c, L + c, h, w, wy);
	}
}

static void
ref_decimate(const float *L, uint32_t w, uint32_t h, float A[64][64])
{
	int i, j;

	for (i = 0; i < 64; i++) {
		int r = (int)(((i + 0.5) * h) / 64.0);
		for (j = 0; j < 64; j++) {
			int c = (int)(((j + 0.5) * w) / 64.0);
			A[i][j] = L[(size_t)r * w + (size_t)c];
		}
	}
}

static void
ref_dct2(float A[64][64], float B[16][16])
{
	float Tm[16][64];
	int i, j, k;

	for (i = 0; i < 16; i++)
		for (j = 0; j < 64; j++) {
			float s = 0.0f;
			for (k = 0; k < 64; k++)
				s += ref_dct[i][k] * A[k][j];
			Tm[i][j] = s;
		}
	for (i = 0; i < 16; i++)
		for (j = 0; j < 16; j++) {
			float s = 0.0f;
			for (k = 0; k < 64; k++)
				s += Tm[i][k] * ref_dct[j][k];
			B[i][j] = s;
		}
}

static int
ref_fcmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static void
ref_to_bits(float B[16][16], uint8_t hash[CBP_PDQ_BYTES])
{
	float sorted[256], m;
	int i, j;

	memcpy(sorted, B, sizeof(sorted));
	qsort(sorted, 256, sizeof(float), ref_fcmp);
	m = sorted[256 / 2 - 1];
	memset(hash, 0, CBP_PDQ_BYTES);
	for (i = 0; i < 16; i++)
		for (j = 0; j < 16; j++)
			if (B[i][j] > m) {
				int k = 16 * i + j;
				hash[CBP_PDQ_BYTES - 1 - k / 8] |= (uint8_t)(1u << (k % 8));
			}
}

/* Hash of an RGB or grey image by the straightforward steps (the original
 * orientation; the variants are permutations of the same DCT), and the
 * 64 x 64 samples it was computed from. */
static void
ref_hash(const uint8_t *px, uint32_t w, uint32_t h, unsigned ch,
    uint8_t hash[CBP_PDQ_BYTES], float A[64][64])
{
	uint32_t lw = w, lh = h;
	float *L, *T, B[16][16];

	if (w > 512 || h > 512)
		lw = lh = 512;
	L = malloc((size_t)lw * lh * sizeof(float));
	T = malloc((size_t)lw * lh * sizeof(float));
	assert_non_null(L);
	assert_non_null(T);
	ref_luma(px, w, h, ch, (size_t)w * ch, L, lw, lh);
	if (lw != 64 || lh != 64)
		ref_blur(L, T, lw, lh);
	ref_decimate(L, lw, lh, A);
	ref_dct2(A, B);
	ref_to_bits(B, hash);
	free(L);
	free(T);
}

/*
 * Smooth random images (so that the hash has structure, not noise) at
 * sizes that exercise every edge of the vectorised code: widths and
 * heights not multiples of 4, below 64 (the 64-column gather is wider than
 * the image), exactly 64, windows of 1 to 4, and the 512 pre-scale.
 */
static void
test_fast_equals_straightforward(void **state)
{
	static const uint32_t sides[][2] = {
		{ 5, 5 }, { 5, 9 }, { 7, 13 }, { 13, 7 }, { 63, 64 }, { 64, 63 },
		{ 64, 64 }, { 65, 65 }, { 66, 130 }, { 129, 127 }, { 130, 7 },
		{ 7, 300 }, { 255, 257 }, { 383, 129 }, { 511, 509 },
		{ 512, 512 }, { 513, 200 }, { 700, 515 }, { 1024, 768 },
	};
	unsigned seed = 12345, ch, i;

	(void)state;
	ref_dct_init();
	for (i = 0; i < sizeof(sides) / sizeof(sides[0]); i++)
		for (ch = 1; ch <= 3; ch += 2) {
			uint32_t w = sides[i][0], h = sides[i][1], x, y, c;
			uint8_t *px = malloc((size_t)w * h * ch), want[CBP_PDQ_BYTES];
			float wantA[64][64], gotA[64][64];
			struct cbp_pdq got;

			assert_non_null(px);
			for (y = 0; y < h; y++)
				for (x = 0; x < w; x++)
					for (c = 0; c < ch; c++) {
						seed = seed * 1103515245u + 12345u;
						px[((size_t)y * w + x) * ch + c] = (uint8_t)(
						    (x * (3 + c) + y * (5 + i)) / 3 +
						    ((seed >> 16) & 31));
					}
			ref_hash(px, w, h, ch, want, wantA);
			assert_int_equal(cbp_pdq_hash(px, w, h, ch, (size_t)w * ch,
			    0, &got), CBP_OK);
			/* Bit for bit: every float sample, not only the hash. */
			assert_int_equal(cbp_pdq_downsample(px, w, h, ch,
			    (size_t)w * ch, gotA), CBP_OK);
			if (memcmp(gotA, wantA, sizeof(gotA)) != 0)
				fail_msg("%ux%u, %u channel(s): the fast blur's "
				    "samples differ from the straightforward "
				    "ones", w, h, ch);
			if (memcmp(got.hash, want, CBP_PDQ_BYTES) != 0)
				fail_msg("%ux%u, %u channel(s): the fast hash differs "
				    "from the straightforward one by %d bits", w, h,
				    ch, cbp_pdq_distance(got.hash, want));
			free(px);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expected_tsv),
		cmocka_unit_test(test_expected_tsv_sampled),
		cmocka_unit_test(test_computed_tsv),
		cmocka_unit_test(test_faces_computed_tsv),
		cmocka_unit_test(test_dihedral_tsv),
		cmocka_unit_test(test_pairs_tsv),
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_hex_rejects),
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_tiny_is_zero),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_dihedral_synthetic),
		cmocka_unit_test(test_fast_equals_straightforward),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
