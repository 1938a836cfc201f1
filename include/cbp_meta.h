/*
 * cbp_meta.h — bounded image metadata extraction.
 *
 * From a buffer holding (a prefix of) an image, find its format, pixel size
 * and every text metadata field: JPEG (SOFn, COM, APP1 Exif, APP1 XMP and
 * extended XMP, APP13 IPTC), TIFF/Exif IFDs in both byte orders (IFD0, Exif
 * IFD, GPS IFD, IFD1), PNG (IHDR, tEXt, zTXt, iTXt, eXIf, legacy "Raw
 * profile" chunks), JPEG 2000 (JP2 boxes: ihdr, xml, uuid XMP/Exif; raw
 * codestream SIZ and COM).  Nothing in the input is trusted: every length
 * and offset is checked against what remains, loops are detected, and every
 * count is capped by cbp_limits.h.
 *
 * Field names (what rules select with globs, and what evidence shows):
 *   COM                      JPEG comment segment (one field per segment)
 *   EXIF:<TagName>           text tags of IFD0 / Exif IFD / GPS IFD, named as
 *                            in the Exif spec: ImageDescription, Make, Model,
 *                            Software, Artist, Copyright, DateTime,
 *                            DateTimeOriginal, UserComment (after its 8-byte
 *                            charset prefix, converted to UTF-8),
 *                            XPTitle, XPComment, XPAuthor, XPKeywords,
 *                            XPSubject (UCS-2LE converted to UTF-8),
 *                            ImageUniqueID, CameraOwnerName, BodySerialNumber
 *   XMP                      the XMP packet (JPEG APP1, extended XMP joined,
 *                            PNG iTXt XML:com.adobe.xmp, TIFF tag 700,
 *                            JP2 uuid box)
 *   IPTC:<Name>              APP13 IPTC-IIM text datasets (Caption, Keywords ...)
 *   PNG:tEXt:<keyword>       PNG text chunks, text converted to UTF-8
 *   PNG:zTXt:<keyword>       (inflated, capped)
 *   PNG:iTXt:<keyword>
 *   JP2:xml                  JP2 "xml " box
 *   J2K:COM                  codestream comment
 * Values are UTF-8 (Latin-1 and UCS-2 converted; invalid bytes kept as
 * they are), NUL-terminated, trailing NULs and spaces trimmed.
 */
#ifndef CBP_META_H
#define CBP_META_H

#include <stddef.h>
#include <stdint.h>

enum cbp_image_format {
	CBP_IMG_NONE = 0,	/* not an image format we parse */
	CBP_IMG_JPEG,
	CBP_IMG_PNG,
	CBP_IMG_TIFF,		/* TIFF or BigTIFF file */
	CBP_IMG_JP2,		/* JPEG 2000 JP2/JPX box file */
	CBP_IMG_J2K,		/* raw JPEG 2000 codestream */
};

struct cbp_meta_field {
	char *name;		/* e.g. "EXIF:UserComment" (owned) */
	char *value;		/* UTF-8 text, NUL-terminated (owned) */
	size_t len;		/* bytes in value, without the NUL */
};

struct cbp_meta {
	enum cbp_image_format format;
	uint32_t width, height;	/* pixels as stored; 0 = unknown */
	int orientation;	/* Exif Orientation 1..8, 0 = absent */
	struct cbp_meta_field *fields;
	size_t nfields;
	/*
	 * Non-zero when the structure was malformed or ended early (the
	 * fields found before the problem are still there); detail is a
	 * static string such as "PNG chunk length past end of data".
	 */
	int corrupt;
	const char *corrupt_detail;
	/* Non-zero when a cap of cbp_limits.h stopped the walk. */
	int limited;
	/* Exif IFD1 thumbnail (JPEGInterchangeFormat), offset/length in the
	 * input buffer; length 0 = none.  Scanned as a child object. */
	size_t thumb_offset, thumb_len;
};

/* Which image format the first bytes announce (CBP_IMG_NONE if none). */
enum cbp_image_format cbp_meta_sniff(const unsigned char *buf, size_t len);

/*
 * Parse buf[0..len) — the image's first len bytes; complete is non-zero
 * when that is the whole file.  Fills *out, which the caller later releases
 * with cbp_meta_free().  Returns CBP_OK (even for a corrupt image: see
 * out->corrupt), CBP_ENOTFOUND if buf is not an image format listed above,
 * or CBP_ENOMEM.  Never reads outside buf.  Thread-safe (no globals).
 */
int cbp_meta_extract(const unsigned char *buf, size_t len, int complete,
    struct cbp_meta *out);

/* Release what cbp_meta_extract() allocated; safe on a zeroed struct. */
void cbp_meta_free(struct cbp_meta *m);

/* "jpeg", "png", "tiff", "jp2", "j2k" or "none". */
const char *cbp_image_format_name(enum cbp_image_format f);

#endif
