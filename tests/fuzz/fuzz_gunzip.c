/*
 * fuzz_gunzip.c — libFuzzer target for the ISA-L gzip decoder
 * (scanner/gunzip.c).
 *
 * The first input byte picks how the rest is cut into source reads (1 to
 * 255 bytes, 0: all at once) and the output size per call, so header
 * parsing, member boundaries and the bit-buffer give-back meet every
 * split.  Each read is copied to a buffer the next read overwrites, as a
 * pread() source does.  Must never crash, hang, leak or read out of
 * bounds, must end with 0 or -1 that then stays, and at 0 must place the
 * stream's end inside the input.
 * Seeds: tests/fuzz/seeds/fuzz_gunzip/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_gunzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
	const uint8_t *p;
	size_t len, off, step;
	unsigned char copy[256];
};

static ssize_t
src_read(void *arg, const unsigned char **p)
{
	struct src *s = arg;
	size_t n = s->len - s->off;

	if (n == 0)
		return 0;
	if (s->step != 0 && n > s->step)
		n = s->step;
	if (n <= sizeof s->copy) {
		memcpy(s->copy, s->p + s->off, n);
		*p = s->copy;
	} else {
		*p = s->p + s->off;
	}
	s->off += n;
	return (ssize_t)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char out[65536];
	struct src s;
	struct cbp_gunzip *gz;
	size_t cap, total = 0;
	ssize_t r;

	if (size < 1)
		return 0;
	memset(&s, 0, sizeof s);
	s.p = data + 1;
	s.len = size - 1;
	s.step = data[0];
	cap = data[0] % 2 ? 1 + data[0] * 13u : sizeof out;
	if ((gz = cbp_gunzip_new(src_read, &s)) == NULL)
		return 0;
	while ((r = cbp_gunzip_read(gz, out, cap)) > 0) {
		if ((size_t)r > cap)
			abort();
		total += (size_t)r;
		/* Bombs: the scan caps what it takes; so does this target. */
		if (total > 64u << 20)
			break;
	}
	if (r <= 0 && cbp_gunzip_read(gz, out, cap) != (r < 0 ? -1 : 0))
		abort();
	/* At the end, where it ended lies within the input. */
	if (r == 0) {
		uint64_t end;

		if (!cbp_gunzip_end(gz, &end) || end > s.len)
			abort();
	}
	cbp_gunzip_free(gz);
	return 0;
}
