/*
 * pdq_scale.c — what libjpeg's DCT scaling does to PDQ hashes, and what it
 * saves.  Built and run by bench/pdq_scale.sh.
 *
 *   pdq_scale [-r REPEAT] FILE.jpg...
 *
 * For every JPEG the hash at full scale (what `hash` computes, the
 * reference's value) is compared with the hash when decoding at the
 * smallest DCT scale leaving at least N pixels on the short side, for
 * N = 512, 256, 128, 64.  Every decode samples to PDQ's 512 x 512 as rows
 * arrive (sample_side), as the scanner will.  Printed per setting: files
 * actually scaled, max / mean / 95th-percentile Hamming distance to the
 * full-scale hash (all files, then only those whose full-scale quality is
 * at least 50, the reference's cut-off), how many stay within the match
 * threshold (31), and decode+hash time as a ratio to full scale (best of
 * REPEAT runs per file, summed; a ratio within one run, since the machine
 * is shared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbp_decode.h"
#include "cbp_err.h"
#include "cbp_pdq.h"

#define NSET 7
/* min_side, and whether only the Y plane is decoded (luma_only, what
 * `scan` does): "512+Y" is the scan's setting. */
static const struct { uint32_t min_side; int luma; } settings[NSET] = {
	{ 0, 0 }, { 512, 0 }, { 256, 0 }, { 128, 0 }, { 64, 0 },
	{ 512, 1 }, { 256, 1 },
};

struct file_result {
	int ok;
	int quality;			/* at full scale */
	uint32_t short_side;		/* of the stored image */
	int scaled[NSET];		/* decoded below full scale */
	int dist[NSET];
	double secs[NSET];
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long sz;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)sz)) != NULL &&
	    fread(p, 1, (size_t)sz, f) != (size_t)sz) {
		free(p);
		p = NULL;
	}
	*n = p != NULL ? (size_t)sz : 0;
	fclose(f);
	return p;
}

/* Decode at min_side and hash; best time of rep runs. */
static int
run(const uint8_t *b, size_t n, uint32_t min_side, int luma, int rep, struct cbp_pdq *p,
    unsigned *scale, uint32_t *short_side, double *best)
{
	struct cbp_decode_opts o = { 0 };
	struct cbp_image img;
	int i, r;

	o.min_side = min_side;
	o.luma_only = luma;
	o.sample_side = CBP_PDQ_PRESCALE;
	*best = 1e30;
	for (i = 0; i < rep; i++) {
		double t0 = now(), t;
		if ((r = cbp_decode(b, n, CBP_FMT_JPEG, &o, &img)) != CBP_OK)
			return r;
		r = cbp_pdq_hash(img.px, img.w, img.h, img.channels,
		    (size_t)img.w * img.channels, 0, p);
		*scale = img.scale_num;
		*short_side = img.src_w < img.src_h ? img.src_w : img.src_h;
		cbp_image_free(&img);
		if (r != CBP_OK)
			return r;
		t = now() - t0;
		if (t < *best)
			*best = t;
	}
	return CBP_OK;
}

static int
cmpint(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Rows over the files with quality >= min_quality and a short side in
 * [lo, hi). */
static int
keep(const struct file_result *r, int min_quality, uint32_t lo, uint32_t hi)
{
	return r->ok && r->quality >= min_quality && r->short_side >= lo && r->short_side < hi;
}

static void
report(struct file_result *res, int nf, int min_quality, uint32_t lo, uint32_t hi)
{
	int s, i;
	double base = 0;

	for (i = 0; i < nf; i++)
		if (keep(&res[i], min_quality, lo, hi))
			base += res[i].secs[0];
	printf("%-9s %7s %7s %5s %6s %4s %7s %10s\n", "min_side", "files", "scaled",
	    "max", "mean", "p95", "<=31", "time");
	for (s = 0; s < NSET; s++) {
		int *d = malloc(sizeof(int) * (size_t)nf), k = 0, scaled = 0, within = 0, mx = 0;
		double sum = 0, secs = 0;

		if (d == NULL)
			exit(2);
		for (i = 0; i < nf; i++) {
			if (!keep(&res[i], min_quality, lo, hi))
				continue;
			d[k++] = res[i].dist[s];
			sum += res[i].dist[s];
			secs += res[i].secs[s];
			scaled += res[i].scaled[s];
			within += res[i].dist[s] <= CBP_PDQ_MATCH_DISTANCE;
			if (res[i].dist[s] > mx)
				mx = res[i].dist[s];
		}
		qsort(d, (size_t)k, sizeof(int), cmpint);
		if (settings[s].min_side == 0)
			printf("%-9s", "full");
		else
			printf("%u%-*s", settings[s].min_side,
			    settings[s].min_side >= 100 ? 6 : 7,
			    settings[s].luma ? "+Y" : "");
		printf(" %7d %7d %5d %6.2f %4d %3d/%-3d %9.3fx\n", k, scaled, mx,
		    k ? sum / k : 0.0, k ? d[(k * 95 + 99) / 100 - 1] : 0, within, k,
		    base > 0 ? secs / base : 0.0);
		free(d);
	}
}

int
main(int argc, char **argv)
{
	struct file_result *res;
	int rep = 3, i = 1, s, nf, failed = 0;
	double total = 0;

	if (argc > 2 && strcmp(argv[1], "-r") == 0) {
		rep = (int)strtol(argv[2], NULL, 10);
		if (rep < 1)
			rep = 1;
		i = 3;
	}
	nf = argc - i;
	if (nf <= 0) {
		fprintf(stderr, "usage: pdq_scale [-r REPEAT] FILE.jpg...\n");
		return 2;
	}
	if ((res = calloc((size_t)nf, sizeof(*res))) == NULL)
		return 2;
	for (int f = 0; f < nf; f++, i++) {
		struct cbp_pdq full, p;
		unsigned scale;
		size_t n;
		uint8_t *b = slurp(argv[i], &n);

		if (b == NULL || run(b, n, 0, 0, rep, &full, &scale, &res[f].short_side, &res[f].secs[0]) != CBP_OK) {
			fprintf(stderr, "pdq_scale: %s: not decoded, left out\n", argv[i]);
			failed++;
			free(b);
			continue;
		}
		res[f].quality = full.quality;
		total += res[f].secs[0];
		for (s = 1; s < NSET; s++) {
			uint32_t side;
			if (run(b, n, settings[s].min_side, settings[s].luma, rep, &p, &scale, &side, &res[f].secs[s]) != CBP_OK)
				break;
			res[f].dist[s] = cbp_pdq_distance(full.hash, p.hash);
			res[f].scaled[s] = scale < 8 || settings[s].luma;
		}
		res[f].ok = s == NSET;
		free(b);
	}
	printf("%d JPEG files (%d left out), %d run(s) each, full-scale decode+hash %.3f s in all\n",
	    nf - failed, failed, rep, total);
	printf("\nall files (distance to the full-scale hash, in bits):\n");
	report(res, nf, 0, 0, UINT32_MAX);
	printf("\nfiles with full-scale quality >= %d:\n", CBP_PDQ_MIN_QUALITY);
	report(res, nf, CBP_PDQ_MIN_QUALITY, 0, UINT32_MAX);
	printf("\nfiles with a short side of 512..1023 pixels:\n");
	report(res, nf, 0, 512, 1024);
	printf("\nfiles with a short side >= 1024 pixels (camera-sized):\n");
	report(res, nf, 0, 1024, UINT32_MAX);
	free(res);
	return 0;
}
