/*
 * buf.c — checked cursor getters and the capped growable buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_buf.h"
#include "cbp_err.h"

int
cbp_cur_skip(struct cbp_cursor *c, size_t n)
{
	if (n > c->left)
		return CBP_ETRUNC;
	c->p += n;
	c->left -= n;
	return CBP_OK;
}

int
cbp_cur_bytes(struct cbp_cursor *c, size_t n, const unsigned char **out)
{
	if (n > c->left)
		return CBP_ETRUNC;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return CBP_OK;
}

int
cbp_cur_sub(struct cbp_cursor *c, size_t n, struct cbp_cursor *sub)
{
	if (n > c->left)
		return CBP_ETRUNC;
	sub->p = c->p;
	sub->left = n;
	c->p += n;
	c->left -= n;
	return CBP_OK;
}

int
cbp_cur_peek_eq(const struct cbp_cursor *c, const void *s, size_t n)
{
	return n <= c->left && memcmp(c->p, s, n) == 0;
}

int
cbp_cur_u8(struct cbp_cursor *c, uint8_t *v)
{
	if (c->left < 1)
		return CBP_ETRUNC;
	*v = c->p[0];
	c->p++;
	c->left--;
	return CBP_OK;
}

/* Read n (<= 8) bytes as an unsigned integer in the given byte order. */
static int
cur_uint(struct cbp_cursor *c, size_t n, int big_endian, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (c->left < n)
		return CBP_ETRUNC;
	for (i = 0; i < n; i++) {
		size_t k = big_endian ? i : n - 1 - i;
		x = (x << 8) | c->p[k];
	}
	*v = x;
	c->p += n;
	c->left -= n;
	return CBP_OK;
}

#define CUR_GETTER(name, type, n, be)					\
int									\
name(struct cbp_cursor *c, type *v)					\
{									\
	uint64_t x;							\
	int r = cur_uint(c, n, be, &x);					\
	if (r == CBP_OK)						\
		*v = (type)x;						\
	return r;							\
}

CUR_GETTER(cbp_cur_be16, uint16_t, 2, 1)
CUR_GETTER(cbp_cur_be24, uint32_t, 3, 1)
CUR_GETTER(cbp_cur_be32, uint32_t, 4, 1)
CUR_GETTER(cbp_cur_be64, uint64_t, 8, 1)

void
cbp_dynbuf_init(struct cbp_dynbuf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	/*
	 * "No cap" (SIZE_MAX) would overflow cap + 1 and len + n + 1 below,
	 * turning a growth into realloc(p, 0), which frees the buffer; no
	 * buffer can reach half the address space anyway.
	 */
	b->cap = cap < SIZE_MAX / 2 ? cap : SIZE_MAX / 2;
}

/* Make room for n more bytes plus the NUL; grows geometrically, never past cap+1. */
static int
dynbuf_reserve(struct cbp_dynbuf *b, size_t n)
{
	size_t need, want;
	unsigned char *p;

	if (n > b->cap - b->len)
		return CBP_ELIMIT;
	need = b->len + n + 1;
	if (need <= b->alloc)
		return CBP_OK;
	want = b->alloc ? b->alloc : 256;
	while (want < need)
		want = want > SIZE_MAX / 2 ? need : want * 2;
	if (want > b->cap + 1)
		want = b->cap + 1;
	if ((p = realloc(b->data, want)) == NULL)
		return CBP_ENOMEM;
	b->data = p;
	b->alloc = want;
	return CBP_OK;
}

int
cbp_dynbuf_add(struct cbp_dynbuf *b, const void *p, size_t n)
{
	int r;

	if ((r = dynbuf_reserve(b, n)) != CBP_OK)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return CBP_OK;
}

int
cbp_dynbuf_addc(struct cbp_dynbuf *b, unsigned char ch)
{
	return cbp_dynbuf_add(b, &ch, 1);
}

int
cbp_dynbuf_printf(struct cbp_dynbuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	char *big = NULL;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return CBP_EINVAL;
	if ((size_t)n < sizeof(small))
		return cbp_dynbuf_add(b, small, (size_t)n);
	if ((big = malloc((size_t)n + 1)) == NULL)
		return CBP_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r = cbp_dynbuf_add(b, big, (size_t)n);
	free(big);
	return r;
}

int
cbp_dynbuf_reserve(struct cbp_dynbuf *b, size_t n)
{
	unsigned char *p;

	if (n == SIZE_MAX)
		return CBP_ENOMEM;
	if (b->alloc >= n + 1)
		return CBP_OK;
	if ((p = realloc(b->data, n + 1)) == NULL)
		return CBP_ENOMEM;
	b->data = p;
	b->alloc = n + 1;
	return CBP_OK;
}

void
cbp_dynbuf_reset(struct cbp_dynbuf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
cbp_dynbuf_free(struct cbp_dynbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

unsigned char *
cbp_dynbuf_take(struct cbp_dynbuf *b, size_t *len)
{
	unsigned char *p = b->data;

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}
