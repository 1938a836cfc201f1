/*
 * meta.c — entry points of image metadata extraction.
 *
 * Design: cbp_meta_extract() sniffs the format from the first bytes and
 * hands a struct meta_ctx to the format's container parser.  Calls only go
 * down these layers, never up or sideways between containers (to check:
 * gcc -fcallgraph-info over scanner/meta*.c and read the edges):
 *
 *   4 entry       meta.c        cbp_meta_extract, sniff, get, free
 *   3 containers  meta_jpeg.c   JPEG marker walk (APP1 Exif/XMP, APP13)
 *                 meta_png.c    PNG chunks (eXIf, tEXt/zTXt/iTXt, raw profiles)
 *                 meta_jp2.c    JP2 boxes and raw J2K codestreams
 *   2 payloads    meta_tiff.c   TIFF / Exif IFDs (a tag may hold IPTC or PSIR)
 *                 meta_iim.c    Photoshop resources and IPTC-IIM
 *   1 fields      meta_field.c  meta_add() and the problem flags
 *
 * A payload found in several containers (Exif in JPEG APP1, PNG eXIf and
 * JP2 uuid boxes; IPTC in APP13, TIFF tags, PNG raw profiles and JP2)
 * lives in layer 2 once; the containers call it, it never calls them.
 */
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_meta_int.h"

static const unsigned char sig_png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
static const unsigned char sig_jp2[12] = { 0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', '\r', '\n', 0x87, '\n' };
static const unsigned char sig_j2k[4] = { 0xFF, 0x4F, 0xFF, 0x51 };

enum cbp_image_format
cbp_meta_sniff(const unsigned char *buf, size_t len)
{
	if (buf == NULL)
		return CBP_IMG_NONE;
	if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
		return CBP_IMG_JPEG;
	if (len >= sizeof(sig_png) && memcmp(buf, sig_png, sizeof(sig_png)) == 0)
		return CBP_IMG_PNG;
	/* Classic TIFF (42) and BigTIFF (43), in either byte order. */
	if (len >= 4 && ((buf[0] == 'I' && buf[1] == 'I' && buf[3] == 0 &&
	    (buf[2] == 42 || buf[2] == 43)) || (buf[0] == 'M' &&
	    buf[1] == 'M' && buf[2] == 0 && (buf[3] == 42 || buf[3] == 43))))
		return CBP_IMG_TIFF;
	if (len >= sizeof(sig_jp2) && memcmp(buf, sig_jp2, sizeof(sig_jp2)) == 0)
		return CBP_IMG_JP2;
	if (len >= sizeof(sig_j2k) && memcmp(buf, sig_j2k, sizeof(sig_j2k)) == 0)
		return CBP_IMG_J2K;
	return CBP_IMG_NONE;
}

int
cbp_meta_extract(const unsigned char *buf, size_t len, int complete,
    struct cbp_meta *out)
{
	struct meta_ctx ctx;

	if (out == NULL)
		return CBP_EINVAL;
	memset(out, 0, sizeof(*out));
	out->format = cbp_meta_sniff(buf, len);
	if (out->format == CBP_IMG_NONE)
		return CBP_ENOTFOUND;
	memset(&ctx, 0, sizeof(ctx));
	ctx.m = out;
	ctx.buf = buf;
	ctx.len = len;
	ctx.complete = complete != 0;
	/* Linear in the input, plus room for text that was inflated or decoded. */
	ctx.scan_left = (len > SIZE_MAX / 4 ? SIZE_MAX / 2 : 2 * len) +
	    4 * CBP_META_TOTAL;
	switch (out->format) {
	case CBP_IMG_JPEG:
		meta_jpeg(&ctx);
		break;
	case CBP_IMG_PNG:
		meta_png(&ctx);
		break;
	case CBP_IMG_TIFF:
		meta_tiff(&ctx, buf, len, META_TIFF_FILE | META_TIFF_INPUT |
		    (ctx.complete ? 0 : META_TIFF_PREFIX));
		break;
	case CBP_IMG_JP2:
		meta_jp2(&ctx);
		break;
	case CBP_IMG_J2K:
		meta_j2k(&ctx, buf, len, ctx.complete);
		break;
	default:
		break;
	}
	if (ctx.nomem) {
		/* Leave nothing half-made behind: the caller may not free. */
		cbp_meta_free(out);
		return CBP_ENOMEM;
	}
	return CBP_OK;
}

void
cbp_meta_free(struct cbp_meta *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nfields; i++) {
		free(m->fields[i].name);
		free(m->fields[i].value);
	}
	free(m->fields);
	memset(m, 0, sizeof(*m));
}

const char *
cbp_image_format_name(enum cbp_image_format f)
{
	switch (f) {
	case CBP_IMG_JPEG:
		return "jpeg";
	case CBP_IMG_PNG:
		return "png";
	case CBP_IMG_TIFF:
		return "tiff";
	case CBP_IMG_JP2:
		return "jp2";
	case CBP_IMG_J2K:
		return "j2k";
	default:
		return "none";
	}
}
