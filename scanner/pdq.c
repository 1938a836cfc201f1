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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_pdq.h"
#include "cbp_text.h"

#define PDQ_DIM 64		/* decimated image side (step 5) */
#define PDQ_FREQ 16		/* DCT coefficients kept per axis (step 7) */
#define PDQ_NCOEF (PDQ_FREQ * PDQ_FREQ)

/* Step 7's DCT matrix, built once: it depends on nothing but constants. */
static float dct[PDQ_FREQ][PDQ_DIM];
static pthread_once_t dct_once = PTHREAD_ONCE_INIT;

static void
dct_init(void)
{
	const float scale = (float)sqrt(2.0 / 64.0);
	int i, j;

	for (i = 0; i < PDQ_FREQ; i++)
		for (j = 0; j < PDQ_DIM; j++)
			dct[i][j] = (float)(scale *
			    cos((M_PI / 2 / 64) * (i + 1) * (2 * j + 1)));
}

/*
 * Steps 1 and 2: luminance of the (pre-scaled) image into L, lw x lh.
 * Nearest-neighbour, top-left aligned: output x takes source x*W/512.
 */
static void
luma(const uint8_t *px, uint32_t w, uint32_t h, unsigned ch, size_t stride,
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

/*
 * Step 4's box1d: centred moving average, window w clipped at the ends and
 * divided by the samples inside, with one running float sum as the
 * reference keeps it (add the newest, then subtract the oldest).
 */
static void
box1d(const float *in, float *out, uint32_t n, size_t step, uint32_t w)
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

/*
 * box1d down every column at once: row by row, one running sum per column
 * (sums[w]).  Each column sees exactly box1d's float operations in
 * box1d's order, so the result is bit-identical; but memory is read a row
 * at a time instead of one float per row per column, which at 512 x 512
 * took a third of a scan's time with lists loaded (perf, bench tree).
 */
static void
box_cols(const float *in, float *out, uint32_t w, uint32_t h, uint32_t win,
    float *sums)
{
	uint32_t half = (win + 2) / 2, k, c;
	size_t ri = 0, oi = 0, wi = 0;
	float cnt = 0.0f;
	int n = 0;

	for (c = 0; c < w; c++)
		sums[c] = 0.0f;
	for (k = 0; k + 1 < half; k++, ri++) {
		for (c = 0; c < w; c++)
			sums[c] += in[ri * w + c];
		n++;
	}
	for (k = 0; k < win - half + 1; k++, ri++, wi++) {
		n++;
		cnt = (float)n;
		for (c = 0; c < w; c++) {
			sums[c] += in[ri * w + c];
			out[wi * w + c] = sums[c] / cnt;
		}
	}
	for (k = 0; k < h - win; k++, ri++, oi++, wi++)
		for (c = 0; c < w; c++) {
			sums[c] += in[ri * w + c];
			sums[c] -= in[oi * w + c];
			out[wi * w + c] = sums[c] / cnt;
		}
	for (k = 0; k + 1 < half; k++, oi++, wi++) {
		n--;
		cnt = (float)n;
		for (c = 0; c < w; c++) {
			sums[c] -= in[oi * w + c];
			out[wi * w + c] = sums[c] / cnt;
		}
	}
}

/* Step 4: two passes of rows-then-columns box filtering, L -> T -> L.
 * sums: w floats of scratch for the column pass. */
static void
blur(float *L, float *T, uint32_t w, uint32_t h, float *sums)
{
	uint32_t wx = (w + 127) / 128, wy = (h + 127) / 128;
	uint32_t r;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (r = 0; r < h; r++)
			box1d(L + (size_t)r * w, T + (size_t)r * w, w, 1, wx);
		box_cols(T, L, w, h, wy, sums);
	}
}

/* Step 5: pick 64 x 64 samples at the centres of a 64 x 64 grid. */
static void
decimate(const float *L, uint32_t w, uint32_t h, float A[PDQ_DIM][PDQ_DIM])
{
	int i, j;

	for (i = 0; i < PDQ_DIM; i++) {
		int r = (int)(((i + 0.5) * h) / 64.0);
		for (j = 0; j < PDQ_DIM; j++) {
			int c = (int)(((j + 0.5) * w) / 64.0);
			A[i][j] = L[(size_t)r * w + (size_t)c];
		}
	}
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

static int
fcmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/*
 * Steps 8-10: bits above the lower median (the 128th smallest of 256) are
 * 1.  Bit k = 16*i + j of the 256-bit number sits in byte 31 - k/8.
 */
static void
to_bits(float B[PDQ_FREQ][PDQ_FREQ], uint8_t hash[CBP_PDQ_BYTES])
{
	float sorted[PDQ_NCOEF], m;
	int i, j;

	memcpy(sorted, B, sizeof(sorted));
	qsort(sorted, PDQ_NCOEF, sizeof(float), fcmp);
	m = sorted[PDQ_NCOEF / 2 - 1];
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

int
cbp_pdq_hash(const uint8_t *px, uint32_t w, uint32_t h, unsigned channels,
    size_t stride, unsigned flags, struct cbp_pdq *out)
{
	float A[PDQ_DIM][PDQ_DIM], B[PDQ_FREQ][PDQ_FREQ], O[PDQ_FREQ][PDQ_FREQ];
	float *L = NULL, *T = NULL, *sums = NULL;
	uint32_t lw, lh;
	int k, r = CBP_ENOMEM;

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

	/* Step 1: the reference resizes both sides when either is too big. */
	lw = w, lh = h;
	if (w > CBP_PDQ_PRESCALE || h > CBP_PDQ_PRESCALE)
		lw = lh = CBP_PDQ_PRESCALE;
	if ((L = malloc((size_t)lw * lh * sizeof(float))) == NULL ||
	    (T = malloc((size_t)lw * lh * sizeof(float))) == NULL ||
	    (sums = malloc((size_t)lw * sizeof(float))) == NULL)
		goto out;
	luma(px, w, h, channels, stride, L, lw, lh);
	/* A 64 x 64 input is already decimated; the reference skips the blur. */
	if (lw != PDQ_DIM || lh != PDQ_DIM)
		blur(L, T, lw, lh, sums);
	decimate(L, lw, lh, A);
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
	r = CBP_OK;
out:
	free(L);
	free(T);
	free(sums);
	return r;
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
