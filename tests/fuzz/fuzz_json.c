/*
 * fuzz_json.c — libFuzzer harness for the output escapers and sinks.
 *
 * Properties checked on every input (abort() on a violation, so libFuzzer
 * keeps the input as a crasher):
 *
 *  1. cbp_json_string's output is one strict JSON string literal in valid
 *     UTF-8, with no raw DEL, U+2028 or U+2029, and decoding it with
 *     surrogateescape (\udcXX -> byte XX) gives back exactly the input.
 *     The decoder below is written from the JSON and UTF-8 definitions,
 *     independently of scanner/output.c.
 *  2. cbp_text_escape's output has no control byte, is valid UTF-8 without
 *     C1, separator or bidi control code points, and un-escaping it
 *     (\\ -> \, \xNN -> byte) gives back exactly the input.
 *  3. A finding built from the input (split at NUL into path, members and
 *     evidence) comes out of the JSON Lines and text sinks as exactly one
 *     line each.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_finding.h"
#include "cbp_output.h"
#include "cbp_text.h"

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_json: %s:%d: %s\n",	\
			    __FILE__, __LINE__, #cond);			\
			abort();					\
		}							\
	} while (0)

/* Code point of the well-formed sequence at p, its length in *n; -1 if
 * ill-formed (overlong, surrogate, > U+10FFFF, cut short). */
static long
dec_utf8(const unsigned char *p, size_t left, size_t *n)
{
	static const long minval[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len, i;
	long cp;

	if (p[0] < 0x80) {
		*n = 1;
		return p[0];
	}
	if ((p[0] & 0xE0) == 0xC0) {
		len = 2;
		cp = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		len = 3;
		cp = p[0] & 0x0F;
	} else if ((p[0] & 0xF8) == 0xF0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return -1;
	if (left < len)
		return -1;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < minval[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*n = len;
	return cp;
}

static size_t
put_utf8(unsigned char *o, long cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	o[0] = (unsigned char)(0xE0 | (cp >> 12));
	o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[2] = (unsigned char)(0x80 | (cp & 0x3F));
	return 3;
}

/* Decode the JSON string literal in[0..len) into out (len bytes suffice). */
static int
json_decode(const unsigned char *in, size_t len, unsigned char *out,
    size_t *outlen)
{
	size_t i = 1, o = 0, n;
	long cp;
	int k, h;

	if (len < 2 || in[0] != '"' || in[len - 1] != '"')
		return -1;
	len--;
	while (i < len) {
		if (in[i] == '"' || in[i] < 0x20 || in[i] == 0x7F)
			return -1;
		if (in[i] != '\\') {
			if ((cp = dec_utf8(in + i, len - i, &n)) < 0 ||
			    cp == 0x2028 || cp == 0x2029)
				return -1;
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
			continue;
		}
		if (++i >= len)
			return -1;
		switch (in[i++]) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (len - i < 4)
				return -1;
			for (cp = 0, k = 0; k < 4; k++) {
				if ((h = cbp_hexval(in[i + k])) < 0)
					return -1;
				cp = cp * 16 + h;
			}
			i += 4;
			if (cp >= 0xDC80 && cp <= 0xDCFF)
				out[o++] = (unsigned char)(cp - 0xDC00);
			else if (cp >= 0xD800 && cp <= 0xDFFF)
				return -1;	/* the escaper never emits pairs */
			else
				o += put_utf8(out + o, cp);
			break;
		default:
			return -1;
		}
	}
	*outlen = o;
	return 0;
}

static int
text_unsafe(long cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
	    cp == 0x061C || cp == 0x200E || cp == 0x200F ||
	    (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Check and undo cbp_text_escape; out needs len bytes. */
static int
text_unescape(const unsigned char *in, size_t len, unsigned char *out,
    size_t *outlen)
{
	size_t i = 0, o = 0, n;
	long cp;
	int hi, lo;

	while (i < len) {
		if ((cp = dec_utf8(in + i, len - i, &n)) < 0 || text_unsafe(cp))
			return -1;
		if (cp != '\\') {
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
			continue;
		}
		if (len - i >= 2 && in[i + 1] == '\\') {
			out[o++] = '\\';
			i += 2;
		} else if (len - i >= 4 && in[i + 1] == 'x' &&
		    (hi = cbp_hexval(in[i + 2])) >= 0 && (lo = cbp_hexval(in[i + 3])) >= 0) {
			out[o++] = (unsigned char)(hi * 16 + lo);
			i += 4;
		} else
			return -1;
	}
	*outlen = o;
	return 0;
}

static size_t
count_nl(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += s[i] == '\n';
	return c;
}

/* Property 3: the input as a finding, through both sinks. */
static void
check_sinks(const uint8_t *data, size_t size)
{
	const char *parts[8];
	char *copy, *mem = NULL;
	size_t np = 0, i, mlen = 0;
	struct cbp_finding f;
	struct cbp_output o;
	FILE *fp;

	if ((copy = malloc(size + 1)) == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	parts[np++] = copy;
	for (i = 0; i < size && np < 8; i++)
		if (copy[i] == '\0')
			parts[np++] = copy + i + 1;

	memset(&f, 0, sizeof(f));
	f.rule = "cbp.fuzz";
	f.category = "fuzz";
	f.severity = (enum cbp_severity)(size % 5);
	f.path = parts[0];
	f.member = parts + 1;
	f.nmember = np > 2 ? np - 2 : 0;
	f.evidence = np > 1 ? parts[np - 1] : NULL;
	/* Any 64-bit time, including CBP_MTIME_UNKNOWN and far out of range. */
	if (size >= sizeof(f.mtime))
		memcpy(&f.mtime, data, sizeof(f.mtime));
	f.mime = "application/octet-stream";

	CHECK((fp = open_memstream(&mem, &mlen)) != NULL);
	CHECK(cbp_output_init(&o) == CBP_OK);
	CHECK(cbp_output_add(&o, cbp_sink_jsonl_new(fp)) == CBP_OK);
	CHECK(cbp_output_add(&o, cbp_sink_text_new(fp, CBP_TEXT_COLOR)) == CBP_OK);
	cbp_output_finding(&o, &f);
	CHECK(cbp_output_close(&o) == CBP_OK);
	CHECK(fclose(fp) == 0);
	CHECK(count_nl(mem, mlen) == 2);
	CHECK(mlen > 0 && mem[mlen - 1] == '\n');
	free(mem);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbp_dynbuf b;
	unsigned char *dec;
	size_t dlen = 0;

	/* 1: JSON round trip. */
	cbp_dynbuf_init(&b, 8 * size + 16);
	CHECK(cbp_json_string(&b, (const char *)data, size) == CBP_OK);
	CHECK((dec = malloc(b.len + 1)) != NULL);
	CHECK(json_decode(b.data, b.len, dec, &dlen) == 0);
	CHECK(dlen == size && (size == 0 || memcmp(dec, data, size) == 0));
	free(dec);

	/* 2: text round trip. */
	cbp_dynbuf_reset(&b);
	CHECK(cbp_text_escape(&b, (const char *)data, size) == CBP_OK);
	CHECK((dec = malloc(b.len + 1)) != NULL);
	CHECK(text_unescape(b.data, b.len, dec, &dlen) == 0);
	CHECK(dlen == size && (size == 0 || memcmp(dec, data, size) == 0));
	free(dec);
	cbp_dynbuf_free(&b);

	/* 3: whole records. */
	check_sinks(data, size);
	return 0;
}
