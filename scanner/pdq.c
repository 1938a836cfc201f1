/*
 * pdq.c — PDQ perceptual hash, from the published algorithm as restated in
 * ../shared/docs/pdq.md (step numbers below refer to it).
 *
 * Why hand-written: Debian ships no PDQ library; the reference C++ is not
 * packaged and pulls in CImg.  The code follows the notes, not the
 * reference source.
 *
 * Bit-exactness depends on doing every operation in IEEE binary32 in the
 * order the notes give: a different summation order, double intermediates
 * or fused multiply-add change roundings and flip bits.  gcc in ISO C mode
 * (-std=c11) does not contract a*b+c into an FMA, and x86-64 without -march
 * has no FMA instruction, so the build as configured is exact; the unit test
 * proves it on every published vector.
 *
 * The step 1 pre-scale (sides above 512 sampled to 512 x 512) is folded
 * into the luminance step: only the sampled pixels are ever read, so a
 * 64-megapixel input costs no more memory than a 512 x 512 one.
 */
#include <math.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_pdq.h"
#include "cbp_text.h"

#define PDQ_DIM 64		/* decimated image side (step 5) */
#define PDQ_FREQ 16		/* DCT coefficients kept per axis (step 7) */
#define PDQ_NCOEF (PDQ_FREQ * PDQ_FREQ)

/* Step 7's DCT matrix and step 2's products, built once: they depend on
 * nothing but constants. */
static float dct[PDQ_FREQ][PDQ_DIM];
/* Step 2's products, 0.299f * R and so on, for every 8-bit value. */
static float luma_r[256], luma_g[256], luma_b[256];
static pthread_once_t dct_once = PTHREAD_ONCE_INIT;

static void
dct_init(void)
{
	const float scale = (float)sqrt(2.0 / 64.0);
	int i, j, v;

	for (v = 0; v < 256; v++) {
		luma_r[v] = 0.299f * (float)v;
		luma_g[v] = 0.587f * (float)v;
		luma_b[v] = 0.114f * (float)v;
	}
	for (i = 0; i < PDQ_FREQ; i++)
		for (j = 0; j < PDQ_DIM; j++)
			dct[i][j] = (float)(scale *
			    cos((M_PI / 2 / 64) * (i + 1) * (2 * j + 1)));
}

/* Four floats, for the loops below (GCC and Clang vector extensions: SSE
 * on x86-64, NEON on arm64, plain code elsewhere; IEEE ops per lane). */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f
v4_load(const float *p)
{
	v4f v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
v4_store(float *p, v4f v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * Steps 1 and 2: luminance of the (pre-scaled) image into L, lw x lh.
 * Nearest-neighbour, top-left aligned: output x takes source x*W/512.
 */
static void
luma(const uint8_t *px, uint32_t w, uint32_t h, unsigned ch, size_t stride,
    float *L, uint32_t lw, uint32_t lh)
{
	uint32_t sx[CBP_PDQ_PRESCALE], x, y;

	/* Source columns, once (lw <= 512): no division per pixel. */
	for (x = 0; x < lw; x++)
		sx[x] = lw == w ? x : (uint32_t)((uint64_t)x * w / lw);
	for (y = 0; y < lh; y++) {
		uint32_t sy = lh == h ? y : (uint32_t)((uint64_t)y * h / lh);
		const uint8_t *row = px + (size_t)sy * stride;
		float *o = L + (size_t)y * lw;

		x = 0;
		if (ch == 1) {
			for (; x < lw; x++)
				o[x] = (float)row[sx[x]];
			continue;
		}
		/* (0.299 R + 0.587 G) + 0.114 B, each product from a table
		 * of the same float products: the same sums, no multiply. */
		for (; x < lw; x++) {
			const uint8_t *p = row + (size_t)sx[x] * 3;

			o[x] = luma_r[p[0]] + luma_g[p[1]] + luma_b[p[2]];
		}
	}
}

/*
 * Step 4's box1d: centred moving average, window w clipped at the ends and
 * divided by the samples inside, with one running float sum as the
 * reference keeps it (add the newest, then subtract the oldest).
 *
 * Here it runs down the columns of a rows x cols matrix, every column at
 * once (one running sum per column, 4 columns a vector): each column sees
 * exactly box1d's float operations in box1d's order, so the result is
 * bit-identical to filtering the columns one by one, but the work is
 * vectorised and memory is read a row at a time.  A box along rows is
 * this applied to the transposed matrix (see blur).
 *
 * keep (may be NULL: every row): only output rows with keep[row] set are
 * divided and stored; the running sums still pass every row, so what is
 * stored is unchanged.  The second pass needs 64 of 512 rows.
 */
static void
box_down(const float *restrict in, float *restrict out, uint32_t cols,
    uint32_t rows, uint32_t win, const uint8_t *keep, float *restrict sums)
{
	uint32_t half = (win + 2) / 2, k, c;
	uint32_t vcols = cols & ~3u;
	size_t ri = 0, oi = 0, wi = 0;
	int n = 0;

	for (c = 0; c < cols; c++)
		sums[c] = 0.0f;
	/* Phase 1: fill the left half of the window, no output yet. */
	for (k = 0; k + 1 < half; k++, ri++, n++)
		for (c = 0; c < cols; c++)
			sums[c] += in[ri * cols + c];
	/* Phase 2: the window grows to full size. */
	for (k = 0; k < win - half + 1; k++, ri++, wi++) {
		float cnt = (float)++n;
		v4f vc = { cnt, cnt, cnt, cnt };
		int store = keep == NULL || keep[wi];

		for (c = 0; c < vcols; c += 4) {
			v4f s = v4_load(sums + c) + v4_load(in + ri * cols + c);
			v4_store(sums + c, s);
			if (store)
				v4_store(out + wi * cols + c, s / vc);
		}
		for (; c < cols; c++) {
			sums[c] += in[ri * cols + c];
			if (store)
				out[wi * cols + c] = sums[c] / cnt;
		}
	}
	/* Phase 3: full window sliding: add the newest, drop the oldest. */
	for (k = 0; k < rows - win; k++, ri++, oi++, wi++) {
		float cnt = (float)n;
		v4f vc = { cnt, cnt, cnt, cnt };
		int store = keep == NULL || keep[wi];

		for (c = 0; c < vcols; c += 4) {
			v4f s = v4_load(sums + c) + v4_load(in + ri * cols + c);
			s = s - v4_load(in + oi * cols + c);
			v4_store(sums + c, s);
			if (store)
				v4_store(out + wi * cols + c, s / vc);
		}
		for (; c < cols; c++) {
			sums[c] += in[ri * cols + c];
			sums[c] -= in[oi * cols + c];
			if (store)
				out[wi * cols + c] = sums[c] / cnt;
		}
	}
	/* Phase 4: the window shrinks at the far end. */
	for (k = 0; k + 1 < half; k++, oi++, wi++) {
		float cnt = (float)--n;
		v4f vc = { cnt, cnt, cnt, cnt };
		int store = keep == NULL || keep[wi];

		for (c = 0; c < vcols; c += 4) {
			v4f s = v4_load(sums + c) - v4_load(in + oi * cols + c);
			v4_store(sums + c, s);
			if (store)
				v4_store(out + wi * cols + c, s / vc);
		}
		for (; c < cols; c++) {
			sums[c] -= in[oi * cols + c];
			if (store)
				out[wi * cols + c] = sums[c] / cnt;
		}
	}
}

/*
 * The rows of the h x w matrix in, box-filtered along the row (window
 * win), into out; with keep (may be NULL) only the columns with keep[x]
 * set are stored.  STRIP rows at a time are transposed into a strip of
 * w x STRIP floats (32 KiB at w = 512, in L1/L2), filtered there by box_down
 * with one row per vector lane, and transposed back: the same float
 * operations as box1d on each row, vectorised, without a whole-image
 * transpose (whose 2 KiB stride thrashed the cache).  Sixteen rows, four
 * vectors a step, because one row's running sum is a chain of dependent
 * adds: with a single vector the filter waited on its own latency (CPU
 * time per 512 x 512 hash, 4 runs each: 4 rows 1.08 ms, 8 rows 0.81 ms,
 * 16 rows 0.73 ms).
 */
#define STRIP 16

static void
box_rows(const float *restrict in, float *restrict out, uint32_t w,
    uint32_t h, uint32_t win, const uint8_t *keep, float *restrict strip,
    float *restrict sums)
{
	float *filt = strip + (size_t)w * STRIP;
	uint32_t y, x, k, q;

	for (y = 0; y < h; y += STRIP) {
		uint32_t nr = h - y < STRIP ? h - y : STRIP;
		const float *r[STRIP];
		float *o[STRIP];

		for (k = 0; k < STRIP; k++) {
			/* A short last strip repeats its last row; not stored. */
			r[k] = in + (size_t)(y + (k < nr ? k : nr - 1)) * w;
			o[k] = out + (size_t)(y + (k < nr ? k : nr - 1)) * w;
		}
		x = 0;
#ifdef __SSE__
		for (; x + 4 <= w; x += 4)
			for (q = 0; q < STRIP; q += 4) {
				float *d = strip + (size_t)x * STRIP + q;
				__m128 a = _mm_loadu_ps(r[q] + x);
				__m128 b = _mm_loadu_ps(r[q + 1] + x);
				__m128 c = _mm_loadu_ps(r[q + 2] + x);
				__m128 e = _mm_loadu_ps(r[q + 3] + x);

				_MM_TRANSPOSE4_PS(a, b, c, e);
				_mm_storeu_ps(d, a);
				_mm_storeu_ps(d + STRIP, b);
				_mm_storeu_ps(d + 2 * STRIP, c);
				_mm_storeu_ps(d + 3 * STRIP, e);
			}
#endif
		for (; x < w; x++)
			for (k = 0; k < STRIP; k++)
				strip[(size_t)x * STRIP + k] = r[k][x];
		box_down(strip, filt, STRIP, w, win, keep, sums);
		x = 0;
#ifdef __SSE__
		if (keep == NULL && nr == STRIP)
			for (; x + 4 <= w; x += 4)
				for (q = 0; q < STRIP; q += 4) {
					const float *d = filt + (size_t)x * STRIP + q;
					__m128 a = _mm_loadu_ps(d);
					__m128 b = _mm_loadu_ps(d + STRIP);
					__m128 c = _mm_loadu_ps(d + 2 * STRIP);
					__m128 e = _mm_loadu_ps(d + 3 * STRIP);

					_MM_TRANSPOSE4_PS(a, b, c, e);
					_mm_storeu_ps(o[q] + x, a);
					_mm_storeu_ps(o[q + 1] + x, b);
					_mm_storeu_ps(o[q + 2] + x, c);
					_mm_storeu_ps(o[q + 3] + x, e);
				}
#endif
		for (; x < w; x++)
			if (keep == NULL || keep[x])
				for (k = 0; k < nr; k++)
					o[k][x] = filt[(size_t)x * STRIP + k];
	}
}

/* Step 5's sample positions: the centres of a 64-cell grid over n. */
static uint32_t
grid_centre(int i, uint32_t n)
{
	return (uint32_t)(int)(((i + 0.5) * n) / 64.0);
}

/*
 * Steps 4 and 5: two passes of rows-then-columns box filtering (windows
 * ceil(w/128) along rows, ceil(h/128) along columns), then the 64 x 64
 * samples at the grid centres, into A.
 *
 * Rows are filtered as the columns of the transposed image, so every
 * filter runs vectorised (box_down).  Only what the samples depend on is
 * stored in the second pass: its row filter is kept at the 64 sampled
 * columns, its column filter at the 64 sampled rows.  Every stored value
 * is computed by the same float operations in the same order as a
 * straightforward whole-image filter, so the hash is bit-identical
 * (tests/unit/test_pdq.c; every reference vector).
 *
 * L holds the luminance (h x w) on entry; L and T (max(w, 64) * h floats
 * each), strip (2 * STRIP * w floats) and sums (max(w, h, 64) floats) are scratch.
 */
static void
blur_decimate(float *L, float *T, uint32_t w, uint32_t h, float *strip,
    float *sums, float A[PDQ_DIM][PDQ_DIM])
{
	uint32_t wx = (w + 127) / 128, wy = (h + 127) / 128;
	uint8_t keep_x[CBP_PDQ_PRESCALE], keep_y[CBP_PDQ_PRESCALE];
	uint32_t col[PDQ_DIM], row[PDQ_DIM];
	int i, j;

	memset(keep_x, 0, sizeof(keep_x));
	memset(keep_y, 0, sizeof(keep_y));
	for (i = 0; i < PDQ_DIM; i++) {
		col[i] = grid_centre(i, w);
		row[i] = grid_centre(i, h);
		keep_x[col[i]] = 1;
		keep_y[row[i]] = 1;
	}
	/* Pass 1: rows, then columns. */
	box_rows(L, T, w, h, wx, NULL, strip, sums);
	box_down(T, L, w, h, wy, NULL, sums);
	/* Pass 2: rows, stored at the sampled columns only ... */
	box_rows(L, T, w, h, wx, keep_x, strip, sums);
	/* ... gathered into a 64-column image (h x 64), whose columns are
	 * then filtered and stored at the sampled rows only. */
	for (i = 0; i < (int)h; i++)
		for (j = 0; j < PDQ_DIM; j++)
			L[(size_t)i * PDQ_DIM + j] = T[(size_t)i * w + col[j]];
	box_down(L, T, PDQ_DIM, h, wy, keep_y, sums);
	for (i = 0; i < PDQ_DIM; i++)
		for (j = 0; j < PDQ_DIM; j++)
			A[i][j] = T[(size_t)row[i] * PDQ_DIM + j];
}

/* Step 5 alone, for an input already 64 x 64 (the reference skips the blur). */
static void
decimate(const float *L, uint32_t w, uint32_t h, float A[PDQ_DIM][PDQ_DIM])
{
	int i, j;

	for (i = 0; i < PDQ_DIM; i++)
		for (j = 0; j < PDQ_DIM; j++)
			A[i][j] = L[(size_t)grid_centre(i, h) * w + grid_centre(j, w)];
}

/* Step 6: gradient sum, scaled to 0..100. */
static int
quality(float A[PDQ_DIM][PDQ_DIM])
{
	int i, j, sum = 0, d;

	for (i = 0; i < PDQ_DIM - 1; i++)
		for (j = 0; j < PDQ_DIM; j++) {
			d = (int)(((A[i][j] - A[i + 1][j]) * 100) / 255);
			sum += abs(d);
		}
	for (i = 0; i < PDQ_DIM; i++)
		for (j = 0; j < PDQ_DIM - 1; j++) {
			d = (int)(((A[i][j] - A[i][j + 1]) * 100) / 255);
			sum += abs(d);
		}
	sum /= 90;
	return sum > 100 ? 100 : sum;
}

/* Step 7: B = D A D^T, sums in float in index order. */
static void
dct2(float A[PDQ_DIM][PDQ_DIM], float B[PDQ_FREQ][PDQ_FREQ])
{
	float Tm[PDQ_FREQ][PDQ_DIM];
	int i, j, k;

	for (i = 0; i < PDQ_FREQ; i++)
		for (j = 0; j < PDQ_DIM; j++) {
			float s = 0.0f;
			for (k = 0; k < PDQ_DIM; k++)
				s += dct[i][k] * A[k][j];
			Tm[i][j] = s;
		}
	for (i = 0; i < PDQ_FREQ; i++)
		for (j = 0; j < PDQ_FREQ; j++) {
			float s = 0.0f;
			for (k = 0; k < PDQ_DIM; k++)
				s += Tm[i][k] * dct[j][k];
			B[i][j] = s;
		}
}

/*
 * The k-th smallest of v[0..n) (0-based), by quickselect; v is reordered.
 * The value is unique whatever the method, so the hash is the same as with
 * a full sort (the reference uses Torben's method); a sort per dihedral
 * variant was a few per cent of a scan with lists loaded (perf).
 */
static float
kth_smallest(float *v, int n, int k)
{
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		float pivot = v[(lo + hi) / 2];
		int i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (pivot < v[j])
				j--;
			if (i <= j) {
				float t = v[i];

				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/*
 * Steps 8-10: bits above the lower median (the 128th smallest of 256) are
 * 1.  Bit k = 16*i + j of the 256-bit number sits in byte 31 - k/8.
 */
static void
to_bits(float B[PDQ_FREQ][PDQ_FREQ], uint8_t hash[CBP_PDQ_BYTES])
{
	float work[PDQ_NCOEF], m;
	int i, j;

	memcpy(work, B, sizeof(work));
	m = kth_smallest(work, PDQ_NCOEF, PDQ_NCOEF / 2 - 1);
	memset(hash, 0, CBP_PDQ_BYTES);
	for (i = 0; i < PDQ_FREQ; i++)
		for (j = 0; j < PDQ_FREQ; j++)
			if (B[i][j] > m) {
				int k = PDQ_FREQ * i + j;
				hash[CBP_PDQ_BYTES - 1 - k / 8] |= (uint8_t)(1u << (k % 8));
			}
}

/*
 * The dihedral variant k of B (pdq.md, "Dihedral variants"): a
 * transposition for the quarter turns and diagonal flips, and a sign change
 * of the coefficients whose frequency makes them odd under the mirror.
 * Indices are 0-based, so "odd" index means even frequency number.
 */
static void
dihedral(float B[PDQ_FREQ][PDQ_FREQ], int k, float O[PDQ_FREQ][PDQ_FREQ])
{
	int i, j;

	for (i = 0; i < PDQ_FREQ; i++)
		for (j = 0; j < PDQ_FREQ; j++) {
			float v = B[i][j], nv = -B[i][j];
			switch (k) {
			case CBP_PDQ_ROT90:  O[j][i] = (j & 1) ? v : nv; break;
			case CBP_PDQ_ROT180: O[i][j] = ((i + j) & 1) ? nv : v; break;
			case CBP_PDQ_ROT270: O[j][i] = (i & 1) ? v : nv; break;
			case CBP_PDQ_FLIPX:  O[i][j] = (i & 1) ? v : nv; break;
			case CBP_PDQ_FLIPY:  O[i][j] = (j & 1) ? v : nv; break;
			case CBP_PDQ_FLIPP:  O[j][i] = v; break;
			case CBP_PDQ_FLIPM:  O[j][i] = ((i + j) & 1) ? nv : v; break;
			default:             O[i][j] = v; break;
			}
		}
}

/*
 * Working memory of one hash, at its largest (a 512 x 512 pre-scaled
 * image; the second pass's 64-column gather fits in the same h x 512).
 * Kept per thread and reused: allocating and freeing 2 MiB per image made
 * the kernel clear fresh pages for every hash (a tenth of a scan's time
 * with lists loaded, perf).  Freed when the thread exits.
 */
struct scratch {
	float L[CBP_PDQ_PRESCALE * CBP_PDQ_PRESCALE];
	float T[CBP_PDQ_PRESCALE * CBP_PDQ_PRESCALE];
	float strip[2 * STRIP * CBP_PDQ_PRESCALE];
	float sums[CBP_PDQ_PRESCALE];
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void
scratch_init(void)
{
	scratch_key_ok = pthread_key_create(&scratch_key, free) == 0;
}

static struct scratch *
scratch_get(void)
{
	struct scratch *sc;

	pthread_once(&scratch_once, scratch_init);
	if (!scratch_key_ok)
		return NULL;
	if ((sc = pthread_getspecific(scratch_key)) != NULL)
		return sc;
	if ((sc = malloc(sizeof(*sc))) == NULL)
		return NULL;
	if (pthread_setspecific(scratch_key, sc) != 0) {
		free(sc);
		return NULL;
	}
	return sc;
}

int
cbp_pdq_downsample(const uint8_t *px, uint32_t w, uint32_t h,
    unsigned channels, size_t stride, float A[64][64])
{
	struct scratch *sc;
	uint32_t lw, lh;

	if ((channels != 1 && channels != 3) || w < 5 || h < 5 ||
	    px == NULL || stride / channels < w)
		return CBP_EINVAL;
	/* Step 1: the reference resizes both sides when either is too big. */
	lw = w, lh = h;
	if (w > CBP_PDQ_PRESCALE || h > CBP_PDQ_PRESCALE)
		lw = lh = CBP_PDQ_PRESCALE;
	if ((sc = scratch_get()) == NULL)
		return CBP_ENOMEM;
	pthread_once(&dct_once, dct_init);
	luma(px, w, h, channels, stride, sc->L, lw, lh);
	/* A 64 x 64 input is already decimated; the reference skips the blur. */
	if (lw != PDQ_DIM || lh != PDQ_DIM)
		blur_decimate(sc->L, sc->T, lw, lh, sc->strip, sc->sums, A);
	else
		decimate(sc->L, lw, lh, A);
	return CBP_OK;
}

int
cbp_pdq_hash(const uint8_t *px, uint32_t w, uint32_t h, unsigned channels,
    size_t stride, unsigned flags, struct cbp_pdq *out)
{
	float A[PDQ_DIM][PDQ_DIM], B[PDQ_FREQ][PDQ_FREQ], O[PDQ_FREQ][PDQ_FREQ];
	int k, r;

	if (out == NULL)
		return CBP_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((channels != 1 && channels != 3) || w == 0 || h == 0 || px == NULL ||
	    stride / channels < w)
		return CBP_EINVAL;
	out->has_dih = (flags & CBP_PDQ_DIHEDRAL) != 0;
	/* Step 3: too small to say anything; zero hash, quality 0. */
	if (w < 5 || h < 5)
		return CBP_OK;
	pthread_once(&dct_once, dct_init);
	if ((r = cbp_pdq_downsample(px, w, h, channels, stride, A)) != CBP_OK)
		return r;
	out->quality = quality(A);
	dct2(A, B);
	to_bits(B, out->hash);
	if (out->has_dih) {
		memcpy(out->dih[CBP_PDQ_ORIG], out->hash, CBP_PDQ_BYTES);
		for (k = CBP_PDQ_ROT90; k < CBP_PDQ_NDIH; k++) {
			dihedral(B, k, O);
			to_bits(O, out->dih[k]);
		}
	}
	return CBP_OK;
}

void
cbp_pdq_to_hex(const uint8_t hash[CBP_PDQ_BYTES], char hex[CBP_PDQ_HEX + 1])
{
	cbp_hex_encode(hash, CBP_PDQ_BYTES, hex);
}

int
cbp_pdq_from_hex(const char *hex, size_t len, uint8_t hash[CBP_PDQ_BYTES])
{
	uint8_t tmp[CBP_PDQ_BYTES];
	int i;

	if (hex == NULL || len != CBP_PDQ_HEX)
		return CBP_ECORRUPT;
	for (i = 0; i < CBP_PDQ_BYTES; i++) {
		int hi = cbp_hexval((unsigned char)hex[2 * i]);
		int lo = cbp_hexval((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return CBP_ECORRUPT;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(hash, tmp, CBP_PDQ_BYTES);
	return CBP_OK;
}

int
cbp_pdq_distance(const uint8_t a[CBP_PDQ_BYTES], const uint8_t b[CBP_PDQ_BYTES])
{
	uint64_t x, y;
	int i, d = 0;

	for (i = 0; i < CBP_PDQ_BYTES; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		d += __builtin_popcountll(x ^ y);
	}
	return d;
}

const char *
cbp_pdq_dih_name(int k)
{
	static const char *const names[CBP_PDQ_NDIH] = {
		"orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipp", "flipm"
	};

	return k >= 0 && k < CBP_PDQ_NDIH ? names[k] : "?";
}
