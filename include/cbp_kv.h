/*
 * cbp_kv.h — KEY=VALUE records inside text, and masking their values.
 *
 * The profile's plate and traveler reads are sets of KEY=VALUE pairs in
 * image text metadata, separated by ';', '|', ',', whitespace or newlines,
 * keys case-insensitive, in any order; in XML (XMP) the same keys appear as
 * element names (<ns:PLATE>7ABC123</ns:PLATE>) or attribute names
 * (ns:PLATE="7ABC123").  One tokenizer finds them for matching and for
 * masking, so what a rule matched is exactly what evidence masks.
 */
#ifndef CBP_KV_H
#define CBP_KV_H

#include <stddef.h>

#include "cbp_buf.h"

struct cbp_kv_pair {
	const char *key;	/* local name (XML prefix removed); not NUL-terminated */
	size_t key_len;
	const char *value;	/* not NUL-terminated; points into the text */
	size_t value_len;
};

/* Call fn for each pair in text (in order); stop and return fn's non-zero. */
typedef int (*cbp_kv_fn)(void *arg, const struct cbp_kv_pair *p);
int cbp_kv_each(const char *text, size_t len, cbp_kv_fn fn, void *arg);

/*
 * Append text to out with the value of every pair whose key is in keys
 * (case-insensitive) masked: first and last two characters kept, the rest
 * '*' (values of 4 characters or fewer are masked whole).  Also masks the
 * spans given in extra (offset/length pairs, e.g. a regex group named
 * "mask").  out keeps its cap (truncation is not an error).
 */
int cbp_kv_mask(const char *text, size_t len, const char *const *keys,
    size_t nkeys, const size_t *extra, size_t nextra,
    struct cbp_dynbuf *out);

#endif
