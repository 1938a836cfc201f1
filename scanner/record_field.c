/*
 * record_field.c — what the biometric record parsers share (layer 1 of
 * record.c's layering; it calls nothing above it): a record's fields and
 * image list, the picture signatures an image payload is checked against,
 * and the accessors the parsers themselves also use.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_limits.h"
#include "cbp_record.h"
#include "cbp_record_int.h"

/* ---- shared helpers ---------------------------------------------------- */

void
cbp_rec_reset(struct cbp_record *r)
{
	r->kind = CBP_REC_NONE;
	r->offset = 0;
	r->length = 0;
	r->embedded = 0;
	r->truncated = 0;
	memset(r->version, 0, sizeof(r->version));
	r->nfaces = 0;
	r->nimages = 0;
	r->nfields = 0;
}

/* Claim the next field slot with its key, or NULL when all are used. */
static struct cbp_record_field *
field_slot(struct cbp_record *r, const char *key)
{
	struct cbp_record_field *f;
	size_t k = strlen(key);

	if (r->nfields >= CBP_RECORD_FIELDS)
		return NULL;
	f = &r->fields[r->nfields++];
	if (k >= sizeof(f->key))
		k = sizeof(f->key) - 1;
	memcpy(f->key, key, k);
	f->key[k] = '\0';
	f->value[0] = '\0';
	return f;
}

void
cbp_rec_field(struct cbp_record *r, const char *key, const char *fmt, ...)
{
	struct cbp_record_field *f;
	va_list ap;

	if ((f = field_slot(r, key)) == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(f->value, sizeof(f->value), fmt, ap);
	va_end(ap);
}

void
cbp_rec_field_text(struct cbp_record *r, const char *key,
    const unsigned char *p, size_t n)
{
	struct cbp_record_field *f;
	size_t i;

	if ((f = field_slot(r, key)) == NULL)
		return;
	if (n > sizeof(f->value) - 1)
		n = sizeof(f->value) - 1;
	for (i = 0; i < n; i++) {
		unsigned char ch = p[i];

		if (ch == 0x1E)
			ch = '|';	/* RS: between subfields */
		else if (ch == 0x1F)
			ch = ' ';	/* US: between items of a subfield */
		else if (ch < 0x20 || ch >= 0x7F)
			ch = '?';
		f->value[i] = (char)ch;
	}
	f->value[n] = '\0';
}

void
cbp_rec_add_image(struct cbp_record *r, size_t offset, size_t length,
    enum cbp_payload_type type, uint32_t width, uint32_t height)
{
	struct cbp_record_image *im;

	if (r->nimages >= CBP_RECORD_IMAGES)
		return;
	im = &r->images[r->nimages++];
	im->offset = offset;
	im->length = length;
	im->type = type;
	im->width = width;
	im->height = height;
}

static const unsigned char sig_jpeg[] = { 0xFF, 0xD8 };
static const unsigned char sig_j2k[] = { 0xFF, 0x4F, 0xFF, 0x51 };
static const unsigned char sig_jp2[] = {
	0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20 };
static const unsigned char sig_png[] = {
	0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };

static const struct {
	const unsigned char *sig;
	size_t n;
	enum cbp_payload_type type;
} sigs[] = {
	{ sig_jpeg, sizeof(sig_jpeg), CBP_PAYLOAD_JPEG },
	{ sig_j2k, sizeof(sig_j2k), CBP_PAYLOAD_JP2 },
	{ sig_jp2, sizeof(sig_jp2), CBP_PAYLOAD_JP2 },
	{ sig_png, sizeof(sig_png), CBP_PAYLOAD_PNG },
};

enum cbp_payload_type
cbp_rec_sniff(const unsigned char *p, size_t avail, size_t declared,
    int *undecided)
{
	size_t i;

	*undecided = 0;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (avail >= sigs[i].n && memcmp(p, sigs[i].sig, sigs[i].n) == 0)
			return sigs[i].type;
	/*
	 * Fewer bytes than a signature, and the payload goes on past the
	 * buffer: a prefix of a signature is "not known yet", not "wrong".
	 */
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (avail < sigs[i].n && avail < declared &&
		    (avail == 0 || memcmp(p, sigs[i].sig, avail) == 0))
			*undecided = 1;
	return CBP_PAYLOAD_UNKNOWN;
}

const char *
cbp_record_payload_name(enum cbp_payload_type t)
{
	switch (t) {
	case CBP_PAYLOAD_JPEG:
		return "jpeg";
	case CBP_PAYLOAD_JP2:
		return "jp2";
	case CBP_PAYLOAD_PNG:
		return "png";
	case CBP_PAYLOAD_OTHER:
		return "other";
	case CBP_PAYLOAD_UNKNOWN:
		break;
	}
	return "unknown";
}

/* ---- accessors ----------------------------------------------------------- */

const char *
cbp_record_get(const struct cbp_record *r, const char *key)
{
	size_t i;

	if (r == NULL || key == NULL)
		return NULL;
	for (i = 0; i < r->nfields && i < CBP_RECORD_FIELDS; i++)
		if (strcmp(r->fields[i].key, key) == 0)
			return r->fields[i].value;
	return NULL;
}
