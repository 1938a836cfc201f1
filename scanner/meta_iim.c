/*
 * meta_iim.c — Photoshop image resources (8BIM) and IPTC-IIM: a payload
 * parser (layer 2 in meta.c) that JPEG APP13, TIFF tags, PNG raw profiles
 * and JP2 uuid boxes share.  It calls only meta_field.c.
 */
#include <string.h>

#include "cbp_err.h"
#include "cbp_meta_int.h"

/* IPTC-IIM record 2 datasets kept, with their IPTC names. */
static const struct {
	uint8_t dataset;
	const char *name;
} iim_names[] = {
	{ 5, "IPTC:ObjectName" },
	{ 25, "IPTC:Keywords" },
	{ 40, "IPTC:SpecialInstructions" },
	{ 80, "IPTC:By-line" },
	{ 85, "IPTC:By-lineTitle" },
	{ 90, "IPTC:City" },
	{ 95, "IPTC:Province-State" },
	{ 101, "IPTC:Country" },
	{ 105, "IPTC:Headline" },
	{ 110, "IPTC:Credit" },
	{ 115, "IPTC:Source" },
	{ 116, "IPTC:CopyrightNotice" },
	{ 120, "IPTC:Caption" },
	{ 122, "IPTC:Writer-Editor" },
};

static void
iim_dataset(struct meta_ctx *ctx, uint8_t record, uint8_t dataset,
    const unsigned char *d, size_t n)
{
	size_t i;

	if (record != 2)
		return;
	for (i = 0; i < sizeof(iim_names) / sizeof(iim_names[0]); i++) {
		if (iim_names[i].dataset == dataset) {
			/* IIM text is UTF-8 (1:90) or an unknown 8-bit set: kept as is. */
			meta_add(ctx, iim_names[i].name, NULL, 0, 0, d, n, META_RAW);
			return;
		}
	}
}

/* Length of a dataset: 15 bits, or (high bit set) a 1..4-byte length. */
static int
iim_length(struct cbp_cursor *c, size_t *len)
{
	uint16_t l;
	uint8_t b;
	size_t i, k;

	if (cbp_cur_be16(c, &l) != CBP_OK)
		return -1;
	if (!(l & 0x8000)) {
		*len = l;
		return 0;
	}
	k = l & 0x7FFF;
	if (k == 0 || k > 4)
		return -1;
	for (*len = 0, i = 0; i < k; i++) {
		if (cbp_cur_u8(c, &b) != CBP_OK)
			return -1;
		*len = *len << 8 | b;
	}
	return 0;
}

void
meta_iim(struct meta_ctx *ctx, const unsigned char *p, size_t n)
{
	struct cbp_cursor c = cbp_cursor_make(p, n);
	const unsigned char *d;
	uint8_t mark, record, dataset;
	size_t len;

	/* Each dataset takes at least 5 bytes: the loop is linear in n. */
	while (c.left > 0 && !ctx->nomem) {
		if (cbp_cur_u8(&c, &mark) != CBP_OK || mark != 0x1C)
			return;	/* padding after the last dataset */
		if (cbp_cur_u8(&c, &record) != CBP_OK ||
		    cbp_cur_u8(&c, &dataset) != CBP_OK ||
		    iim_length(&c, &len) != 0) {
			meta_corrupt(ctx, "IPTC dataset header is truncated");
			return;
		}
		if (cbp_cur_bytes(&c, len, &d) != CBP_OK) {
			meta_corrupt(ctx, "IPTC dataset length runs past end of data");
			return;
		}
		iim_dataset(ctx, record, dataset, d, len);
	}
}

/* One Photoshop resource: "8BIM", id, padded Pascal name, size, data. */
static int
psir_one(struct meta_ctx *ctx, struct cbp_cursor *c)
{
	const unsigned char *d;
	uint16_t id;
	uint32_t size;
	uint8_t namelen;

	if (cbp_cur_skip(c, 4) != CBP_OK || cbp_cur_be16(c, &id) != CBP_OK ||
	    cbp_cur_u8(c, &namelen) != CBP_OK ||
	    cbp_cur_skip(c, (size_t)namelen + !(namelen & 1)) != CBP_OK ||
	    cbp_cur_be32(c, &size) != CBP_OK) {
		meta_corrupt(ctx, "Photoshop resource header is truncated");
		return -1;
	}
	if (cbp_cur_bytes(c, size, &d) != CBP_OK) {
		meta_corrupt(ctx, "Photoshop resource length runs past end of data");
		return -1;
	}
	(void)cbp_cur_skip(c, size & 1);	/* padding, often missing at the end */
	if (id == 0x0404)
		meta_iim(ctx, d, size);
	return 0;
}

void
meta_psir(struct meta_ctx *ctx, const unsigned char *p, size_t n)
{
	struct cbp_cursor c = cbp_cursor_make(p, n);

	/* Each resource takes at least 12 bytes: the loop is linear in n. */
	while (c.left >= 4 && !ctx->nomem) {
		if (!cbp_cur_peek_eq(&c, "8BIM", 4))
			return;	/* other signatures carry no text we read */
		if (psir_one(ctx, &c) != 0)
			return;
	}
}
