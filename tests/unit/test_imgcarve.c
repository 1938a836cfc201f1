/*
 * test_imgcarve.c — cbp_imgcarve.h: JPEG and PNG streams found inside other
 * bytes exactly where they are and no longer than they are (a thumbnail in
 * a JPEG's APP1 does not end it early), progressive and baseline JPEG,
 * PNG; truncated or broken streams not taken; the count cap says so.
 * Fixtures: tests/data/decode (real encoder output).
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbp_imgcarve.h"

static uint8_t *
load(const char *name, size_t *n)
{
	char path[512];
	uint8_t *p = NULL;
	FILE *f;
	long sz;

	snprintf(path, sizeof(path), "tests/data/decode/%s", name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("fixture %s missing (run from the top of the tree)", path);
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)sz)) != NULL &&
	    fread(p, 1, (size_t)sz, f) == (size_t)sz)
		*n = (size_t)sz;
	fclose(f);
	assert_non_null(p);
	return p;
}

/* junk (pdf-like text and binary noise with 0xFF and 0x89 bytes) +
 * streams, each followed by more junk; returns the blob and offsets. */
static uint8_t *
blob(const uint8_t *const *v, const size_t *len, size_t k, size_t *off,
    size_t *n)
{
	static const uint8_t junk[] = "%PDF-1.4\n1 0 obj<< /Filter /DCTDecode "
	    ">>stream\n\xff\xd8\xff\x00\x89PNG\xff\xff\xd9 trailing";
	size_t total = 0, i;
	uint8_t *b;

	for (i = 0; i < k; i++)
		total += sizeof(junk) + len[i];
	total += sizeof(junk);
	assert_non_null(b = malloc(total));
	*n = 0;
	for (i = 0; i < k; i++) {
		memcpy(b + *n, junk, sizeof(junk));
		*n += sizeof(junk);
		off[i] = *n;
		memcpy(b + *n, v[i], len[i]);
		*n += len[i];
	}
	memcpy(b + *n, junk, sizeof(junk));
	*n += sizeof(junk);
	return b;
}

static void
test_streams_found_exactly(void **state)
{
	static const char *const names[] = { "base.jpg", "progressive.jpg",
	    "base.png", "interlaced.png", "cmyk.jpg" };
	const uint8_t *v[5];
	size_t len[5], off[5], n, k, i;
	struct cbp_imgcarve_hit hit[8];
	uint8_t *b;
	int more;

	(void)state;
	for (i = 0; i < 5; i++) {
		v[i] = load(names[i], &len[i]);
		/* Each fixture is itself one whole stream. */
		if (names[i][strlen(names[i]) - 1] == 'g' &&
		    strstr(names[i], ".png") != NULL)
			assert_int_equal(cbp_imgcarve_png_len(v[i], len[i]), len[i]);
		else
			assert_int_equal(cbp_imgcarve_jpeg_len(v[i], len[i]), len[i]);
	}
	b = blob(v, len, 5, off, &n);
	k = cbp_imgcarve_find(b, n, 1, hit, 8, &more);
	assert_int_equal(k, 5);
	assert_false(more);
	for (i = 0; i < 5; i++) {
		assert_int_equal(hit[i].offset, off[i]);
		assert_int_equal(hit[i].length, len[i]);
		assert_int_equal(hit[i].type, strstr(names[i], ".png") ?
		    CBP_IMGCARVE_PNG : CBP_IMGCARVE_JPEG);
	}
	/* The cap: two kept, and more says there were others. */
	assert_int_equal(cbp_imgcarve_find(b, n, 1, hit, 2, &more), 2);
	assert_true(more);
	free(b);
	for (i = 0; i < 5; i++)
		free((void *)v[i]);
}

static void
test_broken_streams_not_taken(void **state)
{
	size_t n, cut, off[1], bn;
	uint8_t *jpg = load("base.jpg", &n), *b;
	struct cbp_imgcarve_hit hit[4];
	const uint8_t *v[1] = { jpg };

	(void)state;
	/* Every truncation of the JPEG: no stream. */
	for (cut = 0; cut < n; cut++)
		assert_int_equal(cbp_imgcarve_jpeg_len(jpg, cut), 0);
	/* A segment length past the end (the APP0/DQT after SOI). */
	jpg[4] = 0xff;
	assert_int_equal(cbp_imgcarve_jpeg_len(jpg, n), 0);
	v[0] = jpg;
	b = blob(v, &n, 1, off, &bn);
	assert_int_equal(cbp_imgcarve_find(b, bn, 0, hit, 4, NULL), 0);
	free(b);
	free(jpg);

	jpg = load("base.png", &n);
	for (cut = 0; cut < n; cut++)
		assert_int_equal(cbp_imgcarve_png_len(jpg, cut), 0);
	/* IHDR must come first. */
	memcpy(jpg + 12, "IDAT", 4);
	assert_int_equal(cbp_imgcarve_png_len(jpg, n), 0);
	free(jpg);
}

/* A JPEG with an APP1 holding a whole smaller JPEG (an Exif thumbnail):
 * the outer stream is found whole, the inner one is not reported apart. */
static void
test_thumbnail_inside_app1(void **state)
{
	size_t n, m, i;
	uint8_t *jpg = load("base.jpg", &n), *outer;
	struct cbp_imgcarve_hit hit[4];
	size_t seg = 2 + 6 + n;	/* length field + "Exif\0\0" + the thumbnail */

	(void)state;
	assert_true(seg < 65536);
	m = n + 2 + seg;
	assert_non_null(outer = malloc(m + 3));
	outer[0] = 'x';
	i = 1;
	memcpy(outer + i, jpg, 2);		/* SOI */
	i += 2;
	outer[i++] = 0xff;
	outer[i++] = 0xe1;			/* APP1 */
	outer[i++] = (uint8_t)(seg >> 8);
	outer[i++] = (uint8_t)seg;
	memcpy(outer + i, "Exif\0\0", 6);
	i += 6;
	memcpy(outer + i, jpg, n);		/* the thumbnail */
	i += n;
	memcpy(outer + i, jpg + 2, n - 2);	/* the rest of the picture */
	i += n - 2;
	outer[i++] = 'y';
	outer[i++] = 'z';
	assert_int_equal(cbp_imgcarve_find(outer, i, 1, hit, 4, NULL), 1);
	assert_int_equal(hit[0].offset, 1);
	assert_int_equal(hit[0].length, m);
	free(outer);
	free(jpg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_streams_found_exactly),
		cmocka_unit_test(test_broken_streams_not_taken),
		cmocka_unit_test(test_thumbnail_inside_app1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
