/*
 * imgcarve.c — JPEG and PNG streams inside other bytes (cbp_imgcarve.h).
 *
 * Hand-written: libjpeg and libspng decode a stream they are given but do
 * not find one in arbitrary bytes or say where it ends; walking the two
 * container structures is a few dozen lines, and every length read here
 * is checked against the bytes that remain before it is used.
 */
#include <stdint.h>
#include <string.h>

#include "cbp_imgcarve.h"

static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

/* After SOS: the entropy-coded data runs to the next marker (FF then
 * neither 00 (a stuffed FF) nor a restart marker, nor another FF, which is
 * fill).  Returns the marker's offset, or n when none. */
static size_t
jpeg_scan_end(const uint8_t *p, size_t n, size_t i)
{
	const uint8_t *q;
	uint8_t x;

	while (i < n) {
		if ((q = memchr(p + i, 0xff, n - i)) == NULL)
			return n;
		i = (size_t)(q - p);
		if (i + 1 >= n)
			return n;
		x = p[i + 1];
		if (x == 0x00 || (x >= 0xd0 && x <= 0xd7)) {
			i += 2;
			continue;
		}
		if (x == 0xff) {
			i++;
			continue;
		}
		return i;
	}
	return n;
}

/* *reached: how far the walk read, whether or not it found a whole stream
 * (the search's work budget is charged with it). */
static size_t
jpeg_walk(const uint8_t *p, size_t n, size_t *reached)
{
	size_t i = 2, len;
	uint8_t m;

	*reached = 1;
	if (n < 4 || p[0] != 0xff || p[1] != 0xd8 || p[2] != 0xff)
		return 0;
	for (;;) {
		*reached = i;
		/* A marker, after any fill bytes. */
		if (i >= n || p[i] != 0xff)
			return 0;
		while (i + 1 < n && p[i + 1] == 0xff)
			i++;
		if (i + 2 > n)
			return 0;
		m = p[i + 1];
		i += 2;
		if (m == 0xd9)
			return i;			/* EOI */
		if (m == 0x00 || m == 0xd8)
			return 0;			/* not a marker here */
		if ((m >= 0xd0 && m <= 0xd7) || m == 0x01)
			continue;			/* no length */
		if (n - i < 2)
			return 0;
		len = (size_t)p[i] << 8 | p[i + 1];
		if (len < 2 || len > n - i)
			return 0;
		i += len;
		if (m == 0xda && (i = jpeg_scan_end(p, n, i)) >= n) {
			*reached = n;
			return 0;
		}
	}
}

size_t
cbp_imgcarve_jpeg_len(const uint8_t *p, size_t n)
{
	size_t reached;

	return jpeg_walk(p, n, &reached);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
chunk_type_ok(const uint8_t *t)
{
	size_t k;

	for (k = 0; k < 4; k++)
		if (!((t[k] >= 'A' && t[k] <= 'Z') || (t[k] >= 'a' && t[k] <= 'z')))
			return 0;
	return 1;
}

static size_t
png_walk(const uint8_t *p, size_t n, size_t *reached)
{
	size_t i = 8;
	uint32_t len;
	int first = 1;

	*reached = 1;
	if (n < 8 || memcmp(p, png_sig, 8) != 0)
		return 0;
	for (;;) {
		*reached = i;
		if (n - i < 12)
			return 0;
		len = be32(p + i);
		/* The PNG spec caps a chunk at 2^31 - 1 bytes. */
		if (len > 0x7fffffffu || len > n - i - 12 ||
		    !chunk_type_ok(p + i + 4))
			return 0;
		if (first && (memcmp(p + i + 4, "IHDR", 4) != 0 || len != 13))
			return 0;
		first = 0;
		i += 12 + (size_t)len;
		if (memcmp(p + i - len - 8, "IEND", 4) == 0)
			return i;
	}
}

size_t
cbp_imgcarve_png_len(const uint8_t *p, size_t n)
{
	size_t reached;

	return png_walk(p, n, &reached);
}

/*
 * Work a search may do, in bytes walked: a stream that fails late is
 * walked again from every signature inside it, so crafted input (JPEG
 * starts nested in long segment chains) could make the search quadratic.
 * Real files walk each byte about once; past this budget the search stops
 * and says more may be there.
 */
#define WORK_FACTOR 8
#define WORK_FLOOR ((size_t)1 << 20)

size_t
cbp_imgcarve_find(const uint8_t *p, size_t n, size_t from,
    struct cbp_imgcarve_hit *out, size_t cap, int *more)
{
	size_t i = from, k = 0, len, reached;
	size_t budget = n > (SIZE_MAX - WORK_FLOOR) / WORK_FACTOR ? SIZE_MAX :
	    n * WORK_FACTOR + WORK_FLOOR;
	const uint8_t *q;
	enum cbp_imgcarve_type t;

	if (more != NULL)
		*more = 0;
	while (i < n) {
		/* Both signatures start with a byte rare in text: 0xFF, 0x89. */
		for (q = p + i; q < p + n && *q != 0xff && *q != 0x89; q++)
			;
		if (q >= p + n)
			break;
		i = (size_t)(q - p);
		if (*q == 0xff) {
			t = CBP_IMGCARVE_JPEG;
			len = jpeg_walk(q, n - i, &reached);
		} else {
			t = CBP_IMGCARVE_PNG;
			len = png_walk(q, n - i, &reached);
		}
		if (reached > budget) {
			if (more != NULL)
				*more = 1;
			break;
		}
		budget -= reached;
		if (len < CBP_IMGCARVE_MIN_BYTES) {
			i++;
			continue;
		}
		if (k == cap) {
			if (more != NULL)
				*more = 1;
			break;
		}
		out[k].offset = i;
		out[k].length = len;
		out[k].type = t;
		k++;
		i += len;
	}
	return k;
}

const char *
cbp_imgcarve_type_name(enum cbp_imgcarve_type t)
{
	return t == CBP_IMGCARVE_PNG ? "png" : "jpeg";
}
