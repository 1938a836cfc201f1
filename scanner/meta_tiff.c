/*
 * meta_tiff.c — TIFF / Exif IFD walk (classic TIFF in both byte orders,
 * BigTIFF for TIFF files).
 *
 * The same code reads a TIFF file, the Exif block of a JPEG APP1 segment,
 * a PNG eXIf chunk and a JP2 Exif uuid box; all offsets count from the
 * TIFF header at p[0].
 *
 * Hostile-input model: an IFD is a list of offsets that can point anywhere,
 * including back at itself.  So IFDs are visited from a fixed-size queue
 * (CBP_META_IFDS) that doubles as the visited set: an offset seen twice is
 * a loop and is reported instead of followed, and no recursion is needed.
 * CBP_META_IFDS also caps the IFDs walked over all TIFF structures of one
 * image, so the entries read per image are at most CBP_META_IFDS *
 * CBP_META_IFD_ENTRIES however many Exif blocks a file repeats.
 * Entries per IFD are capped (CBP_META_IFD_ENTRIES), every count is
 * multiplied only after checking it against the data size (so count * size
 * cannot overflow), and a value is read only when offset + bytes lies
 * inside p[0..n).
 */
#include <string.h>

#include "cbp_meta_int.h"

enum ifd_kind { IFD_MAIN, IFD_EXIF, IFD_GPS, IFD_INTEROP };

/* How a text tag's bytes are turned into a value. */
enum tag_text {
	TXT_PLAIN,		/* ASCII / UTF-8 bytes */
	TXT_UTF16LE,		/* Windows XP* tags */
	TXT_CHARSET,		/* 8-byte character code prefix (UserComment) */
};

struct tag_name {
	uint16_t tag;
	uint8_t gps;		/* 1: GPS IFD tag, 0: IFD0 / Exif IFD tag */
	uint8_t how;		/* enum tag_text */
	const char *name;	/* field name */
};

/*
 * IFD0 and Exif IFD tag numbers do not overlap, so both tables are
 * accepted in both IFDs: writers that misplace a tag still get it read.
 */
static const struct tag_name text_tags[] = {
	{ 0x010D, 0, TXT_PLAIN, "EXIF:DocumentName" },
	{ 0x010E, 0, TXT_PLAIN, "EXIF:ImageDescription" },
	{ 0x010F, 0, TXT_PLAIN, "EXIF:Make" },
	{ 0x0110, 0, TXT_PLAIN, "EXIF:Model" },
	{ 0x011D, 0, TXT_PLAIN, "EXIF:PageName" },
	{ 0x0131, 0, TXT_PLAIN, "EXIF:Software" },
	{ 0x0132, 0, TXT_PLAIN, "EXIF:DateTime" },
	{ 0x013B, 0, TXT_PLAIN, "EXIF:Artist" },
	{ 0x013C, 0, TXT_PLAIN, "EXIF:HostComputer" },
	{ 0x8298, 0, TXT_PLAIN, "EXIF:Copyright" },
	{ 0x9003, 0, TXT_PLAIN, "EXIF:DateTimeOriginal" },
	{ 0x9004, 0, TXT_PLAIN, "EXIF:DateTimeDigitized" },
	{ 0x9286, 0, TXT_CHARSET, "EXIF:UserComment" },
	{ 0x9C9B, 0, TXT_UTF16LE, "EXIF:XPTitle" },
	{ 0x9C9C, 0, TXT_UTF16LE, "EXIF:XPComment" },
	{ 0x9C9D, 0, TXT_UTF16LE, "EXIF:XPAuthor" },
	{ 0x9C9E, 0, TXT_UTF16LE, "EXIF:XPKeywords" },
	{ 0x9C9F, 0, TXT_UTF16LE, "EXIF:XPSubject" },
	{ 0xA420, 0, TXT_PLAIN, "EXIF:ImageUniqueID" },
	{ 0xA430, 0, TXT_PLAIN, "EXIF:CameraOwnerName" },
	{ 0xA431, 0, TXT_PLAIN, "EXIF:BodySerialNumber" },
	{ 0xA433, 0, TXT_PLAIN, "EXIF:LensMake" },
	{ 0xA434, 0, TXT_PLAIN, "EXIF:LensModel" },
	{ 0xA435, 0, TXT_PLAIN, "EXIF:LensSerialNumber" },
	{ 0xA436, 0, TXT_PLAIN, "EXIF:ImageTitle" },
	{ 0xA437, 0, TXT_PLAIN, "EXIF:Photographer" },
	{ 0xA438, 0, TXT_PLAIN, "EXIF:ImageEditor" },
	{ 0x001B, 1, TXT_CHARSET, "EXIF:GPSProcessingMethod" },
	{ 0x001C, 1, TXT_CHARSET, "EXIF:GPSAreaInformation" },
};

#define TAG_WIDTH	0x0100
#define TAG_HEIGHT	0x0101
#define TAG_XMP		0x02BC
#define TAG_ORIENT	0x0112
#define TAG_THUMB_OFF	0x0201
#define TAG_THUMB_LEN	0x0202
#define TAG_IPTC	0x83BB
#define TAG_PSIR	0x8649
#define TAG_EXIF_IFD	0x8769
#define TAG_GPS_IFD	0x8825
#define TAG_INTEROP_IFD	0xA005

struct tiff {
	struct meta_ctx *ctx;
	const unsigned char *p;
	size_t n;
	int be;			/* "MM" */
	int big;		/* BigTIFF: 8-byte counts and offsets */
	int flags;		/* META_TIFF_* */
	int complete;		/* running out of p[0..n) is corruption */
	/* The IFD queue, which is also the visited set. */
	uint64_t q_off[CBP_META_IFDS];
	uint8_t q_kind[CBP_META_IFDS];
	uint8_t q_chain[CBP_META_IFDS];	/* position in the IFD0 -> IFD1 chain */
	int nq;
	/* Blob tags parsed so far (bit per tag): each is parsed once. */
	unsigned blobs;
	/* IFD1 thumbnail, committed only when both tags are sane. */
	uint64_t thumb_off, thumb_len;
};

struct tiff_entry {
	uint16_t tag, type;
	uint64_t count;
	const unsigned char *val;	/* the 4- or 8-byte value field */
};

static uint64_t
rd(const struct tiff *t, const unsigned char *p, size_t size)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < size; i++)
		v = v << 8 | p[t->be ? i : size - 1 - i];
	return v;
}

/* Bytes per value of a TIFF field type; 0 for types we do not know. */
static size_t
type_size(uint16_t type)
{
	switch (type) {
	case 1: case 2: case 6: case 7: case 129:
		return 1;
	case 3: case 8:
		return 2;
	case 4: case 9: case 11: case 13:
		return 4;
	case 5: case 10: case 12: case 16: case 17: case 18:
		return 8;
	default:
		return 0;
	}
}

static int
one_byte_type(uint16_t type)
{
	return type_size(type) == 1;
}

/*
 * Locate an entry's value bytes.  Returns 0 and sets *data / *bytes, or -1
 * (unknown type, or the value lies outside the data: reported).
 */
static int
entry_data(struct tiff *t, const struct tiff_entry *e,
    const unsigned char **data, size_t *bytes)
{
	size_t size = type_size(e->type), inl = t->big ? 8 : 4;
	uint64_t off;

	if (size == 0)
		return -1;	/* TIFF 6.0: readers skip unknown types */
	/* Checked before multiplying: the product then fits in size_t. */
	if (e->count > t->n / size) {
		meta_short(t->ctx, t->complete, "TIFF tag value past end of data");
		return -1;
	}
	*bytes = (size_t)e->count * size;
	if (*bytes <= inl) {
		*data = e->val;
		return 0;
	}
	off = rd(t, e->val, inl);
	if (off > t->n || *bytes > t->n - (size_t)off) {
		meta_short(t->ctx, t->complete, "TIFF tag value past end of data");
		return -1;
	}
	*data = t->p + off;
	return 0;
}

/* First value of a SHORT / LONG / LONG8 / IFD entry, as an unsigned number. */
static int
entry_uint(struct tiff *t, const struct tiff_entry *e, uint64_t *v)
{
	const unsigned char *d;
	size_t bytes, size = type_size(e->type);

	if (e->count == 0 || (e->type != 3 && e->type != 4 && e->type != 13 &&
	    e->type != 16 && e->type != 18))
		return -1;
	if (entry_data(t, e, &d, &bytes) != 0)
		return -1;
	*v = rd(t, d, size);
	return 0;
}

static void
enqueue(struct tiff *t, uint64_t off, enum ifd_kind kind, int chain)
{
	int i;

	if (off == 0)
		return;		/* "no IFD" */
	for (i = 0; i < t->nq; i++) {
		if (t->q_off[i] == off) {
			meta_corrupt(t->ctx, "TIFF IFD offsets form a loop");
			return;
		}
	}
	if (t->nq >= CBP_META_IFDS) {
		meta_limited(t->ctx);
		return;
	}
	t->q_off[t->nq] = off;
	t->q_kind[t->nq] = (uint8_t)kind;
	t->q_chain[t->nq] = (uint8_t)(chain > 255 ? 255 : chain);
	t->nq++;
}

/* Order with more ASCII-range characters, for UCS-2 of unknown order. */
static enum meta_enc
guess_utf16(const unsigned char *s, size_t n, enum meta_enc dflt)
{
	size_t i, le = 0, be = 0;
	unsigned u;

	if (n >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) ||
	    (s[0] == 0xFE && s[1] == 0xFF)))
		return s[0] == 0xFF ? META_UTF16LE : META_UTF16BE;
	/* A sample is enough to tell; keeps this O(1) per tag. */
	for (i = 0; i + 2 <= n && i < 512; i += 2) {
		u = (unsigned)s[i] | (unsigned)s[i + 1] << 8;
		le += (u >= 0x09 && u < 0x7F);
		u = (unsigned)s[i] << 8 | (unsigned)s[i + 1];
		be += (u >= 0x09 && u < 0x7F);
	}
	if (dflt == META_UTF16LE)
		return be > le ? META_UTF16BE : META_UTF16LE;
	return le > be ? META_UTF16LE : META_UTF16BE;
}

/*
 * UserComment-style text: an 8-byte character code, then the text.  An
 * unknown prefix is kept with the text: many writers store plain text.
 */
static void
add_charset_text(struct tiff *t, const char *name, const unsigned char *d,
    size_t n)
{
	static const unsigned char undef[8];
	enum meta_enc enc;

	if (n < 8) {
		meta_add(t->ctx, name, NULL, 0, 0, d, n, META_RAW);
		return;
	}
	if (memcmp(d, "UNICODE", 7) == 0) {
		d += 8;
		n -= 8;
		/* Writers disagree on the order: TIFF order unless the text says otherwise. */
		enc = guess_utf16(d, n, t->be ? META_UTF16BE : META_UTF16LE);
		if (n >= 2 && ((d[0] == 0xFF && d[1] == 0xFE) ||
		    (d[0] == 0xFE && d[1] == 0xFF))) {
			d += 2;
			n -= 2;
		}
		meta_add(t->ctx, name, NULL, 0, 0, d, n, enc);
		return;
	}
	/* ASCII, JIS (kept as bytes) and "undefined" (taken as UTF-8). */
	if (memcmp(d, "ASCII", 5) == 0 || memcmp(d, "JIS", 3) == 0 ||
	    memcmp(d, undef, 8) == 0) {
		d += 8;
		n -= 8;
	}
	meta_add(t->ctx, name, NULL, 0, 0, d, n, META_RAW);
}

static void
text_tag(struct tiff *t, const struct tag_name *tn, const struct tiff_entry *e)
{
	const unsigned char *d;
	size_t n;

	if (!one_byte_type(e->type) || entry_data(t, e, &d, &n) != 0)
		return;
	/* Exif 3.0 type 129 declares UTF-8, whatever the tag used to hold. */
	switch (e->type == 129 && tn->how == TXT_UTF16LE ? TXT_PLAIN : tn->how) {
	case TXT_UTF16LE:
		meta_add(t->ctx, tn->name, NULL, 0, 0, d, n, META_UTF16LE);
		break;
	case TXT_CHARSET:
		add_charset_text(t, tn->name, d, n);
		break;
	default:
		meta_add(t->ctx, tn->name, NULL, 0, 0, d, n, META_RAW);
		break;
	}
}

/* Blobs that hold other metadata formats: XMP, IPTC-IIM, Photoshop. */
static void
blob_tag(struct tiff *t, const struct tiff_entry *e)
{
	unsigned bit = e->tag == TAG_XMP ? 1 : e->tag == TAG_IPTC ? 2 : 4;
	const unsigned char *d;
	size_t n;

	/*
	 * Once per TIFF: a thousand tags pointing at one big blob would
	 * otherwise parse it a thousand times.
	 */
	if (t->blobs & bit)
		return;
	t->blobs |= bit;
	/* IPTC is often typed LONG; the bytes are what matter. */
	if (type_size(e->type) == 0 || entry_data(t, e, &d, &n) != 0)
		return;
	if (e->tag == TAG_XMP)
		meta_add(t->ctx, "XMP", NULL, 0, 0, d, n, META_RAW);
	else if (e->tag == TAG_IPTC)
		meta_iim(t->ctx, d, n);
	else
		meta_psir(t->ctx, d, n);
}

static void
size_tag(struct tiff *t, const struct tiff_entry *e)
{
	uint64_t v;

	if (entry_uint(t, e, &v) != 0 || v > UINT32_MAX)
		return;
	if (e->tag == TAG_WIDTH && t->ctx->m->width == 0)
		t->ctx->m->width = (uint32_t)v;
	else if (e->tag == TAG_HEIGHT && t->ctx->m->height == 0)
		t->ctx->m->height = (uint32_t)v;
}

static void
entry(struct tiff *t, const struct tiff_entry *e, enum ifd_kind kind,
    int chain)
{
	struct cbp_meta *m = t->ctx->m;
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(text_tags) / sizeof(text_tags[0]); i++) {
		if (text_tags[i].tag == e->tag &&
		    text_tags[i].gps == (kind == IFD_GPS)) {
			text_tag(t, &text_tags[i], e);
			return;
		}
	}
	if (kind == IFD_GPS)
		return;		/* GPS tag numbers collide with IFD0 ones */
	switch (e->tag) {
	case TAG_EXIF_IFD:
	case TAG_GPS_IFD:
	case TAG_INTEROP_IFD:
		/* Followed from any IFD; the visited set catches loops. */
		if (entry_uint(t, e, &v) == 0)
			enqueue(t, v, e->tag == TAG_EXIF_IFD ? IFD_EXIF :
			    e->tag == TAG_GPS_IFD ? IFD_GPS : IFD_INTEROP, 0);
		break;
	case TAG_ORIENT:
		if (kind == IFD_MAIN && chain == 0 && m->orientation == 0 &&
		    entry_uint(t, e, &v) == 0 && v >= 1 && v <= 8)
			m->orientation = (int)v;
		break;
	case TAG_WIDTH:
	case TAG_HEIGHT:
		if ((t->flags & META_TIFF_FILE) && kind == IFD_MAIN && chain == 0)
			size_tag(t, e);
		break;
	case TAG_THUMB_OFF:
	case TAG_THUMB_LEN:
		if (kind == IFD_MAIN && chain == 1 && entry_uint(t, e, &v) == 0) {
			if (e->tag == TAG_THUMB_OFF)
				t->thumb_off = v;
			else
				t->thumb_len = v;
		}
		break;
	case TAG_XMP:
	case TAG_IPTC:
	case TAG_PSIR:
		if (kind == IFD_MAIN)
			blob_tag(t, e);
		break;
	default:
		break;
	}
}

/* Walk one IFD; queue what it points to. */
static void
ifd(struct tiff *t, uint64_t off, enum ifd_kind kind, int chain)
{
	size_t hdr = t->big ? 8 : 2, esz = t->big ? 20 : 12;
	size_t osz = t->big ? 8 : 4, fit, i, left;
	const unsigned char *p;
	uint64_t declared, count;
	struct tiff_entry e;

	if (off > t->n || hdr > t->n - (size_t)off) {
		meta_short(t->ctx, t->complete, "TIFF IFD offset past end of data");
		return;
	}
	p = t->p + off;
	declared = rd(t, p, hdr);
	p += hdr;
	left = t->n - (size_t)off - hdr;
	fit = left / esz;
	count = declared;
	if (count > fit) {
		meta_short(t->ctx, t->complete,
		    "TIFF IFD entries run past end of data");
		count = fit;
	}
	if (count > CBP_META_IFD_ENTRIES) {
		meta_limited(t->ctx);
		count = CBP_META_IFD_ENTRIES;
	}
	for (i = 0; i < count && !t->ctx->nomem; i++) {
		e.tag = (uint16_t)rd(t, p + i * esz, 2);
		e.type = (uint16_t)rd(t, p + i * esz + 2, 2);
		e.count = rd(t, p + i * esz + 4, t->big ? 8 : 4);
		e.val = p + i * esz + (t->big ? 12 : 8);
		entry(t, &e, kind, chain);
	}
	/* Only the IFD0 chain continues (IFD1 = thumbnail, then pages). */
	if (kind != IFD_MAIN || declared > fit)
		return;
	left -= (size_t)declared * esz;
	if (left < osz) {
		meta_short(t->ctx, t->complete,
		    "TIFF IFD next offset past end of data");
		return;
	}
	enqueue(t, rd(t, p + (size_t)declared * esz, osz), IFD_MAIN, chain + 1);
}

/* Record the IFD1 thumbnail if it lies wholly inside the input buffer. */
static void
commit_thumb(struct tiff *t)
{
	struct cbp_meta *m = t->ctx->m;

	if (!(t->flags & META_TIFF_INPUT) || m->thumb_len != 0 ||
	    t->thumb_len == 0 || t->thumb_off > t->n ||
	    t->thumb_len > t->n - (size_t)t->thumb_off)
		return;
	m->thumb_offset = (size_t)(t->p - t->ctx->buf) + (size_t)t->thumb_off;
	m->thumb_len = (size_t)t->thumb_len;
}

/* Read the header and the IFD0 offset; -1 if unusable (reported). */
static int
header(struct tiff *t, uint64_t *off)
{
	uint16_t magic;

	if (t->n < 8) {
		meta_short(t->ctx, t->complete, "TIFF header runs past end of data");
		return -1;
	}
	if (t->p[0] == 'I' && t->p[1] == 'I')
		t->be = 0;
	else if (t->p[0] == 'M' && t->p[1] == 'M')
		t->be = 1;
	else {
		meta_corrupt(t->ctx, "TIFF header has no byte order mark");
		return -1;
	}
	magic = (uint16_t)rd(t, t->p + 2, 2);
	if (magic == 43 && (t->flags & META_TIFF_FILE)) {
		/* BigTIFF: offset size 8, reserved 0, 8-byte IFD0 offset. */
		if (t->n < 16) {
			meta_short(t->ctx, t->complete,
			    "TIFF header runs past end of data");
			return -1;
		}
		if (rd(t, t->p + 4, 2) != 8 || rd(t, t->p + 6, 2) != 0) {
			meta_corrupt(t->ctx, "BigTIFF header is invalid");
			return -1;
		}
		t->big = 1;
		*off = rd(t, t->p + 8, 8);
	} else if (magic == 42) {
		*off = rd(t, t->p + 4, 4);
	} else {
		meta_corrupt(t->ctx, "TIFF header magic is not 42");
		return -1;
	}
	if (*off == 0) {
		meta_corrupt(t->ctx, "TIFF header has no IFD0");
		return -1;
	}
	return 0;
}

void
meta_tiff(struct meta_ctx *ctx, const unsigned char *p, size_t n, int flags)
{
	struct tiff t;
	uint64_t off;
	int i;

	memset(&t, 0, sizeof(t));
	t.ctx = ctx;
	t.p = p;
	t.n = n;
	t.flags = flags;
	t.complete = !(flags & META_TIFF_PREFIX);
	if (header(&t, &off) != 0)
		return;
	enqueue(&t, off, IFD_MAIN, 0);
	/* The queue grows while it is walked; it is bounded by CBP_META_IFDS. */
	for (i = 0; i < t.nq && !ctx->nomem; i++) {
		/*
		 * The IFD cap counts over the whole image: a JPEG with a
		 * thousand Exif segments must not cost a thousand TIFFs.
		 */
		if (ctx->ifds >= CBP_META_IFDS) {
			meta_limited(ctx);
			break;
		}
		ctx->ifds++;
		ifd(&t, t.q_off[i], (enum ifd_kind)t.q_kind[i], t.q_chain[i]);
	}
	commit_thumb(&t);
}
