/*
 * text.c — UTF-8 and hex helpers shared by the parsers and writers.
 *
 * Hand-written rather than taken from libunistring (u8_mbtoucr, u8_check):
 * the writers need, per rejected sequence, exactly how many bytes to
 * escape (one, then look again; the same bytes-to-escape as Python's
 * decoder, which the tests compare against), the cutters need "do not
 * split a sequence" rather than validation, and the whole is some sixty
 * lines.  A library the confined worker must also map is not worth that.
 */
#include "cbp_text.h"

/*
 * Per Unicode Table 3-7 the second byte's range depends on the lead byte:
 * that rejects overlongs (C0, C1, E0 80..9F, F0 80..8F), surrogates
 * (ED A0..BF) and code points past U+10FFFF (F4 90..BF, F5..FF) without
 * decoding first.  On rejection every byte of the prefix after p[0] is a
 * continuation byte, which can never start a sequence, so a caller that
 * escapes p[0] and looks again at p[1] escapes what Python's decoder does.
 */
size_t
cbp_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c, lo = 0x80, hi = 0xBF;
	size_t len, i;
	uint32_t v;

	if (n == 0)
		return 0;
	c = p[0];
	if (c < 0x80) {
		v = c;
		len = 1;
		goto out;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	v = (v << 6) | (p[1] & 0x3F);
	for (i = 2; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
out:
	if (cp != NULL)
		*cp = v;
	return len;
}

size_t
cbp_utf8_put(unsigned char *d, size_t room, uint32_t cp)
{
	if (cp < 0x80) {
		if (room < 1)
			return 0;
		d[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		if (room < 2)
			return 0;
		d[0] = (unsigned char)(0xC0 | cp >> 6);
		d[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		if (room < 3)
			return 0;
		d[0] = (unsigned char)(0xE0 | cp >> 12);
		d[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		d[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (room < 4)
		return 0;
	d[0] = (unsigned char)(0xF0 | cp >> 18);
	d[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	d[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	d[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

size_t
cbp_utf8_chars(const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			c++;
	return c;
}

size_t
cbp_utf8_cut(const unsigned char *t, size_t len, size_t n)
{
	size_t o = n, k;

	if (n >= len)
		return len;
	for (k = 0; k < 3 && o > 0 && (t[o] & 0xC0) == 0x80; k++)
		o--;
	/* Still inside continuation bytes: not UTF-8, cut where asked. */
	if ((t[o] & 0xC0) == 0x80)
		return n;
	return o;
}

size_t
cbp_utf8_trim_end(const unsigned char *t, size_t len)
{
	size_t k = len, want;
	unsigned char lead;

	while (k > 0 && len - k < 3 && (t[k - 1] & 0xC0) == 0x80)
		k--;
	if (k == 0 || (lead = t[k - 1]) < 0xC0)
		return len;
	want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	return len - (k - 1) < want ? k - 1 : len;
}

int
cbp_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
cbp_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}
