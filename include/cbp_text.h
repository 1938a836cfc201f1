/*
 * cbp_text.h — the byte-level text helpers every parser and writer shares:
 * UTF-8 decoding, encoding, counting and cutting, and hex digits.
 *
 * One definition of "well-formed UTF-8" (Unicode Table 3-7) serves the
 * YAML checker, the JSON and terminal writers and the metadata converter,
 * so that what the rules loader accepts, what a record escapes and what a
 * metadata field holds never disagree about a byte.
 */
#ifndef CBP_TEXT_H
#define CBP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the well-formed UTF-8 sequence at p[0..n), its code
 * point in *cp when cp is not NULL; 0 if p does not start one (n == 0,
 * overlong forms, UTF-16 surrogates, past U+10FFFF, stray continuation
 * bytes, a sequence cut short).
 */
size_t cbp_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp);

/* Encode code point cp (<= U+10FFFF) as UTF-8 into d if it fits in room;
 * bytes written, or 0 when it does not fit. */
size_t cbp_utf8_put(unsigned char *d, size_t room, uint32_t cp);

/* Characters in s[0..n): bytes that are not continuation bytes. */
size_t cbp_utf8_chars(const void *s, size_t n);

/*
 * Largest n' <= n such that cutting t[0..len) at n' does not split a
 * UTF-8 sequence: backs off over at most three continuation bytes.  Bytes
 * that are not UTF-8 (more continuation bytes than any sequence has) are
 * cut at n as they are.
 */
size_t cbp_utf8_cut(const unsigned char *t, size_t len, size_t n);

/* Length of t[0..len) without a trailing incomplete UTF-8 sequence. */
size_t cbp_utf8_trim_end(const unsigned char *t, size_t len);

/* Value of hex digit c (0-9, a-f, A-F), or -1. */
int cbp_hexval(int c);

/* n bytes as 2n lowercase hex digits and a NUL (out holds 2n + 1). */
void cbp_hex_encode(const unsigned char *in, size_t n, char *out);

#endif
