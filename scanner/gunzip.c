/*
 * gunzip.c — streaming gzip decompression with ISA-L (see cbp_gunzip.h
 * for why not zlib).
 *
 * ISA-L decodes each member's deflate data and checks its trailer (CRC-32
 * and length, crc_flag ISAL_GZIP_NO_HDR_VER).  The member header is parsed
 * here, byte by byte as the bytes arrive: ISA-L 2.30's own header parser
 * rejects a valid header carrying a header CRC (FHCRC) whenever the header
 * arrives in more than one piece, which a streaming source cannot avoid
 * (tests/unit/test_gunzip.c cuts headers at every byte).  At the end of a
 * member up to eight bytes that follow it may sit in the decoder's bit
 * buffer; they are put back in front of the input before the next member's
 * header is looked for.
 */
#include <isa-l/igzip_lib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cbp_gunzip.h"

/* Where the header parser is: its parts in their order (RFC 1952 2.3). */
enum hdr_state {
	HDR_FIXED, HDR_XLEN, HDR_EXTRA, HDR_NAME, HDR_COMMENT, HDR_HCRC, HDR_BODY
};

/* isal_inflate() counts in uint32_t: feed and fill at most this at once. */
#define GUNZIP_MAX_STEP ((size_t)1 << 30)

struct cbp_gunzip {
	cbp_gunzip_source src;
	void *arg;

	const unsigned char *chunk;	/* start of the bytes the source gave last */
	size_t rest;			/* of them, bytes beyond st.avail_in */
	unsigned char *stage;		/* owned copy when bytes must be joined */
	size_t stage_alloc;

	/* The current member's header (RFC 1952 2.3), parsed as it arrives. */
	int hstate;			/* enum hdr_state */
	unsigned char fixed[10];	/* ID1 ID2 CM FLG MTIME(4) XFL OS */
	unsigned hlen;			/* bytes of the current header part seen */
	unsigned xlen;			/* FEXTRA length */
	uint16_t hcrc_got;		/* the FHCRC field */
	uLong hcrc;			/* CRC-32 of the header bytes so far */

	uint64_t in_total;		/* bytes the source has given */
	uint64_t end_off;		/* where the stream ended (once done) */
	unsigned members;		/* members decoded to their end */
	int between;			/* at a member boundary */
	int in_eof;			/* the source has no more bytes */
	int done;			/* end of the stream: read returns 0 */
	int failed;			/* read returns -1 from now on */
	int src_failed;
	char err[128];

	/* Last: about 80 KiB that isal_inflate_init() sets up, not zeroed by us. */
	struct inflate_state st;
};

struct cbp_gunzip *
cbp_gunzip_new(cbp_gunzip_source src, void *arg)
{
	struct cbp_gunzip *gz;

	if (src == NULL || (gz = malloc(sizeof *gz)) == NULL)
		return NULL;
	/* Not calloc: zeroing the decoder's buffers for every .gz costs more
	 * than decoding a small one. */
	memset(gz, 0, offsetof(struct cbp_gunzip, st));
	isal_inflate_init(&gz->st);
	gz->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
	gz->hcrc = crc32(0L, Z_NULL, 0);
	gz->src = src;
	gz->arg = arg;
	return gz;
}

void
cbp_gunzip_free(struct cbp_gunzip *gz)
{
	if (gz == NULL)
		return;
	free(gz->stage);
	free(gz);
}

const char *
cbp_gunzip_error(const struct cbp_gunzip *gz)
{
	return gz->err[0] != '\0' ? gz->err : "gzip stream is damaged";
}

int
cbp_gunzip_source_failed(const struct cbp_gunzip *gz)
{
	return gz->src_failed;
}

unsigned
cbp_gunzip_members(const struct cbp_gunzip *gz)
{
	return gz->members;
}

int
cbp_gunzip_end(const struct cbp_gunzip *gz, uint64_t *offset)
{
	if (!gz->done)
		return 0;
	*offset = gz->end_off;
	return 1;
}

static ssize_t
fail(struct cbp_gunzip *gz, const char *what)
{
	if (gz->err[0] == '\0')
		snprintf(gz->err, sizeof gz->err, "gzip member %u: %s",
		    gz->members + 1, what);
	gz->failed = 1;
	return -1;
}

static const char *
isal_error_text(int r)
{
	switch (r) {
	case ISAL_INVALID_WRAPPER:
		return "invalid header";
	case ISAL_UNSUPPORTED_METHOD:
		return "unsupported compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "CRC or length check failed: the data is corrupt";
	case ISAL_INVALID_BLOCK:
	case ISAL_INVALID_SYMBOL:
	case ISAL_INVALID_LOOKBACK:
		return "invalid deflate data";
	default:
		return "decoder error";
	}
}

/* Put the next step of input in st.next_in/avail_in; -1 if the source failed. */
static int
feed(struct cbp_gunzip *gz)
{
	const unsigned char *p;
	ssize_t n;
	size_t step;

	if (gz->st.avail_in > 0)
		return 0;
	if (gz->rest == 0) {
		if (gz->in_eof)
			return 0;
		if ((n = gz->src(gz->arg, &p)) < 0) {
			gz->src_failed = 1;
			return -1;
		}
		if (n == 0) {
			gz->in_eof = 1;
			return 0;
		}
		gz->chunk = gz->st.next_in = (uint8_t *)(uintptr_t)p;
		gz->rest = (size_t)n;
		gz->in_total += (uint64_t)n;
	}
	step = gz->rest < GUNZIP_MAX_STEP ? gz->rest : GUNZIP_MAX_STEP;
	gz->st.avail_in = (uint32_t)step;
	gz->rest -= step;
	return 0;
}

/*
 * Replace the input with head[0..hn) followed by what is left of it, in
 * the stage buffer: for bytes that are not contiguous in the source's
 * memory (the bit buffer's, or a header split across two source reads).
 */
static int
stage_input(struct cbp_gunzip *gz, const unsigned char *head, size_t hn)
{
	size_t left = gz->st.avail_in + gz->rest, need = hn + left;
	unsigned char *s = gz->stage;

	if (need > gz->stage_alloc || (left > 0 && gz->st.next_in >= s &&
	    gz->st.next_in < s + gz->stage_alloc)) {
		/* A new buffer: the old one may hold the bytes being moved. */
		if ((s = malloc(need > 64 ? need : 64)) == NULL)
			return -1;
	}
	if (left > 0)
		memmove(s + hn, gz->st.next_in, left);
	if (hn > 0)
		memcpy(s, head, hn);
	if (s != gz->stage) {
		free(gz->stage);
		gz->stage = s;
		gz->stage_alloc = need > 64 ? need : 64;
	}
	gz->chunk = gz->st.next_in = s;
	gz->rest = need;
	gz->st.avail_in = 0;
	(void)feed(gz);		/* rest > 0: cannot call the source */
	return 0;
}

/*
 * At the end of a member: give back the bytes the decoder buffered beyond
 * it.  They are the last ones consumed, so normally they are right before
 * next_in; otherwise they are rebuilt from the bit buffer itself.
 */
static int
unread_bit_buffer(struct cbp_gunzip *gz)
{
	size_t k = gz->st.read_in_length > 0 ? (size_t)gz->st.read_in_length / 8 : 0;
	unsigned char bytes[8];
	size_t i;

	if (k == 0)
		return 0;
	if (k > sizeof bytes)
		k = sizeof bytes;
	if ((size_t)(gz->st.next_in - gz->chunk) >= k) {
		gz->st.next_in -= k;
		gz->st.avail_in += (uint32_t)k;
		return 0;
	}
	for (i = 0; i < k; i++)
		bytes[i] = (unsigned char)(gz->st.read_in >> (8 * i));
	return stage_input(gz, bytes, k);
}

/*
 * Between members: 1 if another member begins (the decoder is reset for
 * it), 0 if the stream ends here (end of input, zero padding or trailing
 * bytes that are not gzip, which gzip -d and libarchive also stop at),
 * -1 on a source or memory failure.
 */
static int
next_member(struct cbp_gunzip *gz)
{
	static const unsigned char magic[3] = { 0x1f, 0x8b, 0x08 };

	for (;;) {
		if (feed(gz) < 0)
			return -1;
		if (gz->st.avail_in >= sizeof magic || gz->in_eof)
			break;
		/* Fewer than three bytes here: join them with the next read. */
		{
			unsigned char part[sizeof magic];
			size_t n = gz->st.avail_in;
			const unsigned char *p;
			ssize_t got;

			memcpy(part, gz->st.next_in, n);
			gz->st.avail_in = 0;
			if ((got = gz->src(gz->arg, &p)) < 0) {
				gz->src_failed = 1;
				return -1;
			}
			if (got == 0) {
				/* Fewer bytes than a header: the stream ends. */
				gz->in_eof = 1;
				gz->end_off = gz->in_total - n;
				return 0;
			}
			gz->in_total += (uint64_t)got;
			gz->chunk = gz->st.next_in = (uint8_t *)(uintptr_t)p;
			gz->rest = (size_t)got;
			gz->st.avail_in = 0;
			if (stage_input(gz, part, n) < 0)
				return -1;
		}
	}
	if (gz->st.avail_in < sizeof magic ||
	    memcmp(gz->st.next_in, magic, sizeof magic) != 0) {
		/* What is in hand and not consumed is a suffix of the input. */
		gz->end_off = gz->in_total - gz->st.avail_in - gz->rest;
		gz->st.avail_in = 0;
		gz->rest = 0;
		return 0;
	}
	isal_inflate_reset(&gz->st);
	gz->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
	gz->hstate = HDR_FIXED;
	gz->hlen = gz->xlen = 0;
	gz->hcrc_got = 0;
	gz->hcrc = crc32(0L, Z_NULL, 0);
	return 1;
}

/*
 * Consume header bytes from the input.  Returns 1 when the header is
 * complete, 0 when the input ran out first, -1 when it is not a valid gzip
 * header (the message is set).
 */
static int
parse_header(struct cbp_gunzip *gz)
{
	enum { FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16 };

	while (gz->hstate != HDR_BODY) {
		unsigned char c;

		if (gz->st.avail_in == 0)
			return 0;
		c = *gz->st.next_in++;
		gz->st.avail_in--;
		if (gz->hstate != HDR_HCRC)
			gz->hcrc = crc32(gz->hcrc, &c, 1);
		switch (gz->hstate) {
		case HDR_FIXED:
			gz->fixed[gz->hlen++] = c;
			if (gz->hlen < sizeof gz->fixed)
				break;
			if (gz->fixed[0] != 0x1f || gz->fixed[1] != 0x8b) {
				(void)fail(gz, "invalid header");
				return -1;
			}
			if (gz->fixed[2] != 8) {
				(void)fail(gz, "unsupported compression method");
				return -1;
			}
			if (gz->fixed[3] & 0xE0) {
				(void)fail(gz, "invalid header (reserved flags set)");
				return -1;
			}
			gz->hlen = 0;
			gz->hstate = HDR_XLEN;
			if (!(gz->fixed[3] & FEXTRA))
				gz->hstate = HDR_NAME;
			break;
		case HDR_XLEN:
			gz->xlen |= (unsigned)c << (8 * gz->hlen++);
			if (gz->hlen == 2) {
				gz->hlen = 0;
				gz->hstate = gz->xlen > 0 ? HDR_EXTRA : HDR_NAME;
			}
			break;
		case HDR_EXTRA:
			if (++gz->hlen == gz->xlen) {
				gz->hlen = 0;
				gz->hstate = HDR_NAME;
			}
			break;
		case HDR_NAME:
		case HDR_COMMENT:
			if (c == 0)
				gz->hstate++;
			break;
		case HDR_HCRC:
			gz->hcrc_got |= (uint16_t)(c << (8 * gz->hlen++));
			if (gz->hlen == 2 &&
			    gz->hcrc_got != (uint16_t)(gz->hcrc & 0xFFFF)) {
				(void)fail(gz, "header CRC mismatch: the header is corrupt");
				return -1;
			}
			if (gz->hlen == 2)
				gz->hstate = HDR_BODY;
			break;
		}
		/* Skip the optional parts the flags say are absent. */
		if (gz->hstate == HDR_NAME && !(gz->fixed[3] & FNAME))
			gz->hstate = HDR_COMMENT;
		if (gz->hstate == HDR_COMMENT && !(gz->fixed[3] & FCOMMENT))
			gz->hstate = HDR_HCRC;
		if (gz->hstate == HDR_HCRC && !(gz->fixed[3] & FHCRC))
			gz->hstate = HDR_BODY;
	}
	return 1;
}

ssize_t
cbp_gunzip_read(struct cbp_gunzip *gz, unsigned char *out, size_t cap)
{
	if (gz->failed)
		return -1;
	if (gz->done || cap == 0)
		return 0;
	if (cap > GUNZIP_MAX_STEP)
		cap = GUNZIP_MAX_STEP;

	for (;;) {
		uint32_t in_before;
		size_t made;
		int r;

		if (gz->between) {
			r = next_member(gz);
			if (r < 0)
				return fail(gz, gz->src_failed ? "read failed" :
				    "out of memory");
			if (r == 0) {
				gz->done = 1;
				return 0;
			}
			gz->between = 0;
		}
		if (feed(gz) < 0)
			return fail(gz, "read failed");
		if (gz->hstate != HDR_BODY) {
			r = parse_header(gz);
			if (r < 0)
				return -1;
			if (r == 0) {
				if (gz->in_eof && gz->rest == 0)
					return fail(gz, "truncated: the stream ends "
					    "inside the header");
				continue;
			}
		}
		in_before = gz->st.avail_in;
		gz->st.next_out = out;
		gz->st.avail_out = (uint32_t)cap;
		r = isal_inflate(&gz->st);
		made = cap - gz->st.avail_out;
		if (r < 0 || r == ISAL_NEED_DICT) {
			/* The bytes before the damage are real: they go out
			 * first, the -1 with the next call. */
			(void)fail(gz, isal_error_text(r));
			return made > 0 ? (ssize_t)made : -1;
		}
		if (gz->st.block_state == ISAL_BLOCK_FINISH) {
			gz->members++;
			gz->between = 1;
			if (unread_bit_buffer(gz) < 0)
				return fail(gz, "out of memory");
			if (made > 0)
				return (ssize_t)made;
			continue;
		}
		if (made > 0)
			return (ssize_t)made;
		if (gz->st.avail_in == 0 && gz->rest == 0 && gz->in_eof)
			return fail(gz, "truncated: the stream ends inside the member");
		if (gz->st.avail_in == in_before && in_before > 0)
			return fail(gz, "decoder made no progress");
	}
}
