/*
 * cbp_buf.h — bounded byte access.
 *
 * struct cbp_cursor is a read-only view {pointer, remaining} over bytes we
 * do not trust.  Every getter checks what remains before it reads and
 * returns CBP_ETRUNC instead of reading past the end, so a parser written
 * with it cannot overrun, whatever a header declares.  On error the cursor
 * does not move.
 *
 * struct cbp_dynbuf is a growable buffer created with a cap: it grows as
 * real bytes arrive and refuses (CBP_ELIMIT) to grow past the cap, so no
 * allocation is ever sized from a length an input declares.
 */
#ifndef CBP_BUF_H
#define CBP_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cbp_cursor {
	const unsigned char *p;
	size_t left;
};

static inline struct cbp_cursor
cbp_cursor_make(const void *p, size_t len)
{
	struct cbp_cursor c = { (const unsigned char *)p, len };
	return c;
}

/* Each returns 0 or CBP_ETRUNC; values are big- (be) or little-endian (le). */
int cbp_cur_skip(struct cbp_cursor *c, size_t n);
int cbp_cur_u8(struct cbp_cursor *c, uint8_t *v);
int cbp_cur_be16(struct cbp_cursor *c, uint16_t *v);
int cbp_cur_be24(struct cbp_cursor *c, uint32_t *v);
int cbp_cur_be32(struct cbp_cursor *c, uint32_t *v);
int cbp_cur_be64(struct cbp_cursor *c, uint64_t *v);
/* Borrow n bytes (pointer into the cursor's memory) and advance past them. */
int cbp_cur_bytes(struct cbp_cursor *c, size_t n, const unsigned char **out);
/* Sub-cursor over the next n bytes, and advance past them. */
int cbp_cur_sub(struct cbp_cursor *c, size_t n, struct cbp_cursor *sub);
/* 1 if the next bytes equal s[0..n), without moving. */
int cbp_cur_peek_eq(const struct cbp_cursor *c, const void *s, size_t n);

struct cbp_dynbuf {
	unsigned char *data;	/* NUL-terminated for convenience (not counted in len) */
	size_t len;
	size_t alloc;
	size_t cap;		/* hard upper bound on len */
};

/* Start empty with a cap; no allocation until bytes arrive. */
void cbp_dynbuf_init(struct cbp_dynbuf *b, size_t cap);
/* Append; CBP_ELIMIT if len would pass cap (nothing appended), CBP_ENOMEM. */
int cbp_dynbuf_add(struct cbp_dynbuf *b, const void *p, size_t n);
int cbp_dynbuf_addc(struct cbp_dynbuf *b, unsigned char ch);
int cbp_dynbuf_printf(struct cbp_dynbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Make the allocation hold at least n bytes plus the NUL, for a caller that
 * fills data[] itself (a read buffer); len is unchanged.  Ignores the cap:
 * the caller sized n.  CBP_OK or CBP_ENOMEM.
 */
int cbp_dynbuf_reserve(struct cbp_dynbuf *b, size_t n);
/* Empty it but keep the allocation (and the cap). */
void cbp_dynbuf_reset(struct cbp_dynbuf *b);
/* Free the memory; safe on a zeroed or already-freed buffer. */
void cbp_dynbuf_free(struct cbp_dynbuf *b);
/* Hand the bytes to the caller (who frees them), leaving b empty. */
unsigned char *cbp_dynbuf_take(struct cbp_dynbuf *b, size_t *len);

#endif
