/*
 * facts.c — lazily computed facts about one object.
 *
 * Each getter computes its fact once, on first use, and keeps it: rules ask
 * in cost order (see scanner/match.c), so an object no rule can match never
 * gets past its head.  Costs, cheapest first: MIME type (libmagic on the
 * head already read); description (full libmagic database); image metadata
 * (only when the head announces an image: then the image is loaded whole, up
 * to caps->load_max); standalone biometric record (only when the head starts
 * like one); carving for embedded records (reads every byte, up to
 * caps->carve_max, in windows).
 *
 * Whatever could not be fully done becomes f->problem (first one kept), which
 * the scan reports as an unscannable record: nothing is skipped silently.
 * Memory running out also sets f->nomem, whatever came first, so that it is
 * reported as "nomem" even behind another problem.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cbp_decode.h"
#include "cbp_facts.h"
#include "cbp_limits.h"
#include "cbp_text.h"

static int
out_of_memory(struct cbp_facts *f, const char *what)
{
	f->nomem = 1;
	return cbp_error_set(&f->problem, CBP_ENOMEM, 0, "out of memory %s",
	    what);
}

void
cbp_facts_init(struct cbp_facts *f, struct cbp_object *o,
    struct cbp_identify *id, const struct cbp_scan_caps *caps,
    const char *display_path)
{
	memset(f, 0, sizeof(*f));
	f->obj = o;
	f->id = id;
	f->caps = caps;
	f->display_path = display_path;
	if (cbp_identify_object(id, o, &f->ident, &f->problem) == CBP_ENOMEM)
		f->nomem = 1;
	f->mime = f->ident.mime;
}

void
cbp_facts_free(struct cbp_facts *f)
{
	free(f->desc);
	cbp_meta_free(&f->meta);
	cbp_record_list_free(&f->carved);
	f->desc = NULL;
}

int
cbp_facts_description(struct cbp_facts *f, const char **out)
{
	const char *d;

	*out = NULL;
	if (f->desc_state == CBP_FACT_UNKNOWN) {
		struct cbp_error e = { 0 };
		f->desc_state = CBP_FACT_FAILED;
		d = cbp_identify_describe(f->id, f->obj->head, f->obj->head_len, &e);
		if (d == NULL && e.code == CBP_ENOMEM)
			return out_of_memory(f, "identifying the file type");
		if (d == NULL)
			return e.code ? e.code : CBP_EIO;
		if ((f->desc = strdup(d)) == NULL)
			return out_of_memory(f, "identifying the file type");
		f->desc_state = CBP_FACT_DONE;
	}
	if (f->desc_state != CBP_FACT_DONE)
		return CBP_EIO;
	*out = f->desc;
	return CBP_OK;
}

int
cbp_facts_content(struct cbp_facts *f, size_t cap, const unsigned char **p,
    size_t *n, int *complete)
{
	int r;

	if (cap == 0 || cap > f->caps->load_max)
		cap = f->caps->load_max;
	*p = NULL;
	*n = 0;
	if (complete != NULL)
		*complete = 0;
	r = cbp_read_load(f->obj, cap, &f->problem);
	if (r == CBP_ENOMEM)
		f->nomem = 1;
	if (r != CBP_OK)
		return r;
	*p = f->obj->data;
	*n = f->obj->data_len < cap ? f->obj->data_len : cap;
	if (complete != NULL)
		*complete = f->obj->data_complete && *n == f->obj->data_len;
	return CBP_OK;
}

/*
 * n bytes seen are all a member has that expand.c cut short (damage or
 * member_max): it has its own record, and "larger than load_max" would be
 * wrong.
 */
static int
cut_by_expand(const struct cbp_facts *f, size_t n)
{
	return f->obj->mem_partial && n >= f->obj->mem_len;
}

int
cbp_facts_meta(struct cbp_facts *f, const struct cbp_meta **out)
{
	const unsigned char *p;
	size_t n;
	int complete, r;

	*out = NULL;
	if (f->meta_state == CBP_FACT_UNKNOWN) {
		f->meta_state = CBP_FACT_FAILED;
		f->meta_rc = CBP_ENOTFOUND;
		if (f->ident.kind != CBP_KIND_IMAGE ||
		    f->ident.image == CBP_IMG_NONE)
			return CBP_ENOTFOUND;	/* not an image we parse: costs nothing */
		if ((r = cbp_facts_content(f, 0, &p, &n, &complete)) != CBP_OK)
			return f->meta_rc = r;
		r = cbp_meta_extract(p, n, complete, &f->meta);
		f->meta_rc = r;
		if (r == CBP_ENOMEM)
			return out_of_memory(f, "reading image metadata");
		if (r != CBP_OK)
			return r;
		f->meta_state = CBP_FACT_DONE;
		if (f->meta.corrupt)
			cbp_error_set(&f->problem, CBP_ECORRUPT, 0,
			    "corrupt %s image: %s",
			    cbp_image_format_name(f->meta.format),
			    f->meta.corrupt_detail ? f->meta.corrupt_detail : "malformed");
		else if (!complete && !cut_by_expand(f, n))
			cbp_error_set(&f->problem, CBP_ELIMIT, 0,
			    "image larger than %zu bytes: metadata read from the "
			    "first %zu bytes only", f->caps->load_max, n);
		else if (f->meta.limited)
			cbp_error_set(&f->problem, CBP_ELIMIT, 0,
			    "image metadata larger than the parser's caps: "
			    "only part of it was examined");
	}
	if (f->meta_state != CBP_FACT_DONE)
		return f->meta_rc;
	*out = &f->meta;
	return CBP_OK;
}

int
cbp_facts_record(struct cbp_facts *f, const struct cbp_record **out)
{
	const unsigned char *p;
	size_t n;
	int complete, r;

	*out = NULL;
	if (f->rec_state == CBP_FACT_UNKNOWN) {
		f->rec_state = CBP_FACT_FAILED;
		f->rec_rc = CBP_ENOTFOUND;
		/* Only the records cbp_record_parse() reads (identification
		 * names iris and finger records too). */
		if (f->ident.kind != CBP_KIND_RECORD ||
		    f->ident.record == CBP_IDREC_OTHER)
			return CBP_ENOTFOUND;
		if ((r = cbp_facts_content(f, 0, &p, &n, &complete)) != CBP_OK)
			return f->rec_rc = r;
		r = cbp_record_parse(p, n, &f->rec);
		f->rec_rc = r;
		if (r == CBP_ETRUNC && !complete && cut_by_expand(f, n))
			;	/* reported by expand.c */
		else if (r == CBP_ETRUNC && !complete)
			cbp_error_set(&f->problem, CBP_ELIMIT, 0,
			    "biometric record larger than %zu bytes: parsed "
			    "the first %zu bytes only", f->caps->load_max, n);
		else if (r == CBP_ETRUNC || r == CBP_ECORRUPT)
			cbp_error_set(&f->problem, CBP_ECORRUPT, 0,
			    "%s %s", cbp_record_kind_name(f->rec.kind),
			    r == CBP_ETRUNC ? "record is truncated" :
			    "record is malformed");
		/* A truncated record that still parsed its header counts. */
		if (r == CBP_OK || (r == CBP_ETRUNC && f->rec.kind != CBP_REC_NONE))
			f->rec_state = CBP_FACT_DONE;
	}
	if (f->rec_state != CBP_FACT_DONE)
		return f->rec_rc;
	*out = &f->rec;
	return CBP_OK;
}

/* Drop records already found in the previous window's overlap. */
static void
carve_dedupe(struct cbp_record_list *l, size_t first_new)
{
	size_t i, j, k = first_new;

	for (i = first_new; i < l->n; i++) {
		int dup = 0;
		for (j = 0; j < first_new && !dup; j++)
			dup = l->v[j].offset == l->v[i].offset;
		if (!dup)
			l->v[k++] = l->v[i];
	}
	l->n = k;
}

static int
carve_window(void *arg, const unsigned char *p, size_t n, uint64_t base)
{
	struct cbp_facts *f = arg;
	size_t before = f->carved.n;
	int r;

	if ((r = cbp_record_carve(p, n, (size_t)base, &f->carved)) != CBP_OK)
		return r;
	carve_dedupe(&f->carved, before);
	return f->carved.limited ? -1 : 0;	/* enough records: stop reading */
}

int
cbp_facts_carved(struct cbp_facts *f, const struct cbp_record_list **out)
{
	int r = CBP_OK;
	uint64_t limit, avail;

	*out = NULL;
	if (f->carve_state == CBP_FACT_UNKNOWN) {
		f->carve_state = CBP_FACT_FAILED;
		/* A member cut at the size cap holds mem_len bytes (expand.c
		 * reported the cut); its declared size is not ours to search. */
		avail = f->obj->fd < 0 ? f->obj->mem_len : f->obj->size;
		limit = avail < f->caps->carve_max ? avail : f->caps->carve_max;
		if (limit == 0 || f->no_carve)
			r = CBP_OK;	/* carving off (carve_max: 0), or an archive */
		else {
			struct cbp_dynbuf own, *sb = f->scratch;
			if (sb == NULL) {
				cbp_dynbuf_init(&own, 0);
				sb = &own;
			}
			r = cbp_read_windows(f->obj, limit, CBP_CARVE_WINDOW,
			    CBP_CARVE_OVERLAP, sb, carve_window, f, &f->problem);
			if (sb == &own)
				cbp_dynbuf_free(&own);
		}
		if (r == -1)
			r = CBP_OK;	/* stopped at the record cap */
		if (r == CBP_ENOMEM)
			return out_of_memory(f, "searching for embedded records");
		if (r != CBP_OK)
			return r;
		if (f->caps->carve_max > 0 && !f->no_carve &&
		    avail > f->caps->carve_max)
			cbp_error_set(&f->problem, CBP_ELIMIT, 0,
			    "searched the first %zu of %llu bytes for embedded "
			    "records", f->caps->carve_max,
			    (unsigned long long)avail);
		f->carve_state = CBP_FACT_DONE;
	}
	if (f->carve_state != CBP_FACT_DONE)
		return CBP_EIO;
	*out = &f->carved;
	return CBP_OK;
}

/* ---- SHA-256 ------------------------------------------------------------ */

int
cbp_facts_sha256(struct cbp_facts *f, const char **hex,
    struct cbp_hash_extent *ext)
{
	unsigned char digest[32];
	struct cbp_error e = { 0 };
	uint64_t max = f->caps->hash_max ? f->caps->hash_max : CBP_HASH_MAX;

	if (f->sha_state == CBP_FACT_UNKNOWN) {
		if (cbp_read_sha256(f->obj, max, f->caps->cancel, digest,
		    &f->sha_ext, &e) == CBP_OK) {
			cbp_hex_encode(digest, sizeof(digest), f->sha256);
			f->sha_state = CBP_FACT_DONE;
		} else {
			f->sha_state = CBP_FACT_FAILED;
			f->sha256[0] = '\0';
			memset(&f->sha_ext, 0, sizeof(f->sha_ext));
			if (e.code == CBP_ENOMEM)
				f->nomem = 1;
			cbp_error_set(&f->problem, e.code, e.sys_errno, "%s",
			    e.message);
			f->sha_rc = e.code;
		}
	}
	*hex = f->sha256;
	if (ext != NULL)
		*ext = f->sha_ext;
	return f->sha_state == CBP_FACT_DONE ? CBP_OK : f->sha_rc;
}

/* ---- PDQ ------------------------------------------------------------------ */

/*
 * PDQ hashes already computed in this process, by the SHA-256 of the whole
 * content: identical bytes decode to identical pixels, so a copy of an
 * image met again (the same photo in a folder and in an archive of it, a
 * backup of a backup: copies are what a scan looks for) is hashed once.
 * Used only when the object's SHA-256 is already known and covers all of
 * it; only successful hashes are kept.  Direct-mapped by the first hex
 * digits, a slot overwritten on collision; PDQ_MEMO_SLOTS * ~330 bytes
 * (1.3 MiB) per process, allocated on first use.  A mutex, since nothing
 * promises that one process hashes on one thread.
 */
#define PDQ_MEMO_SLOTS 4096

struct pdq_memo {
	char sha[65];		/* "" = empty */
	uint8_t full_scale;	/* decode setting the hash was made with */
	struct cbp_pdq pdq;
};

static struct pdq_memo *pdq_memo;
static pthread_mutex_t pdq_memo_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned
pdq_memo_slot(const char *sha)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 6; i++)
		v = v * 16 + (unsigned)(sha[i] <= '9' ? sha[i] - '0' : sha[i] - 'a' + 10);
	return v % PDQ_MEMO_SLOTS;
}

/* The whole-content SHA-256 when it is already known, else NULL. */
static const char *
pdq_memo_key(const struct cbp_facts *f)
{
	return f->sha_state == CBP_FACT_DONE && !f->sha_ext.partial &&
	    strlen(f->sha256) == 64 ? f->sha256 : NULL;
}

static int
pdq_memo_get(const char *sha, int full_scale, struct cbp_pdq *out)
{
	struct pdq_memo *m;
	int hit = 0;

	pthread_mutex_lock(&pdq_memo_lock);
	if (pdq_memo != NULL) {
		m = &pdq_memo[pdq_memo_slot(sha)];
		if (m->full_scale == full_scale && strcmp(m->sha, sha) == 0) {
			*out = m->pdq;
			hit = 1;
		}
	}
	pthread_mutex_unlock(&pdq_memo_lock);
	return hit;
}

static void
pdq_memo_put(const char *sha, int full_scale, const struct cbp_pdq *pdq)
{
	struct pdq_memo *m;

	pthread_mutex_lock(&pdq_memo_lock);
	if (pdq_memo == NULL)
		pdq_memo = calloc(PDQ_MEMO_SLOTS, sizeof(*pdq_memo));
	if (pdq_memo != NULL) {
		m = &pdq_memo[pdq_memo_slot(sha)];
		memcpy(m->sha, sha, sizeof(m->sha));
		m->full_scale = (uint8_t)full_scale;
		m->pdq = *pdq;
	}
	pthread_mutex_unlock(&pdq_memo_lock);
}

/*
 * Image types that are never a photograph (vector drawings, icons and
 * cursors, 1-bit and text bitmaps): not decoding them loses nothing.
 * Every other image type without a decoder here (HEIC, AVIF, JPEG XL,
 * Photoshop, camera raw ...) is a photograph that a PDQ list cannot see,
 * and says so (pdq_compute), instead of passing as clean.
 */
static int
never_a_photo(const char *mime)
{
	static const char *const types[] = {
		"image/svg+xml", "image/svg", "image/x-xpmi", "image/x-xpixmap",
		"image/x-xbitmap", "image/x-xbm", "image/vnd.microsoft.icon",
		"image/x-icon", "image/x-ico", "image/x-win-bitmap",
		"image/x-portable-bitmap", "image/x-award-bioslogo",
		"image/x-award-bmp", "image/x-cursor", "image/wmf", "image/emf",
		"image/x-wmf", "image/x-emf",
	};
	size_t i, n = strcspn(mime, "; \t");

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && strncasecmp(mime, types[i], n) == 0)
			return 1;
	return 0;
}

/*
 * Decode and hash.  The scan decodes JPEG and JPEG 2000 at the smallest DCT
 * scale with 512 pixels on the short side, a YCbCr JPEG's Y plane only
 * (luma_only), and keeps only PDQ's own 512 x 512 sample (cbp_decode.h), so
 * no full-size frame is ever held.  Measured against the full-scale RGB
 * hash (bench/pdq_scale.sh, the 240 test photos of quality >= 50): at most
 * 8 bits apart, 0.6 on average, in 0.63x the time.  `hash` decodes at full
 * scale in RGB (pdq_full_scale), so that list entries are the reference's.
 */
static int
pdq_compute(struct cbp_facts *f)
{
	struct cbp_decode_opts dopts = { 0 };
	struct cbp_image img = { 0 };
	enum cbp_decode_fmt fmt;
	const unsigned char *p;
	const char *key;
	size_t n;
	int complete, full_scale, r;

	if (f->ident.kind != CBP_KIND_IMAGE)
		return CBP_ENOTFOUND;
	if ((fmt = cbp_decode_fmt_from_mime(f->mime)) == CBP_FMT_UNKNOWN) {
		if (f->mime == NULL || never_a_photo(f->mime))
			return CBP_ENOTFOUND;
		return cbp_error_set(&f->problem, CBP_ELIMIT, 0, "%.*s image: "
		    "a format not decoded here, so not hashed (PDQ) for "
		    "known-image lists; only an exact copy (SHA-256) is found",
		    (int)strcspn(f->mime, "; \t"), f->mime);
	}
	full_scale = f->caps->pdq_full_scale != 0;
	if ((key = pdq_memo_key(f)) != NULL &&
	    pdq_memo_get(key, full_scale, &f->pdq))
		return CBP_OK;
	if ((r = cbp_facts_content(f, 0, &p, &n, &complete)) != CBP_OK)
		return r;
	if (!complete) {
		/* A member expand.c cut short has its own record already. */
		if (cut_by_expand(f, n))
			return CBP_ELIMIT;
		return cbp_error_set(&f->problem, CBP_ELIMIT, 0, "image larger "
		    "than %zu bytes: not hashed (PDQ) for known-image lists",
		    f->caps->load_max);
	}
	dopts.min_side = f->caps->pdq_full_scale ? 0 : CBP_PDQ_PRESCALE;
	dopts.luma_only = !f->caps->pdq_full_scale;
	dopts.sample_side = CBP_PDQ_PRESCALE;
	r = cbp_decode(p, n, fmt, &dopts, &img);
	switch (r) {
	case CBP_OK:
		break;
	case CBP_ENOMEM:
		return out_of_memory(f, "decoding an image");
	case CBP_ELIMIT:
		return cbp_error_set(&f->problem, r, 0, "%s image larger than "
		    "the pixel cap: not hashed (PDQ) for known-image lists",
		    cbp_decode_fmt_name(fmt));
	case CBP_EUNSUPPORTED:
		return cbp_error_set(&f->problem, CBP_ELIMIT, 0, "%s image of a "
		    "variant not decoded: not hashed (PDQ) for known-image "
		    "lists", cbp_decode_fmt_name(fmt));
	default:
		return cbp_error_set(&f->problem, CBP_ECORRUPT, 0, "corrupt %s "
		    "image: cannot be decoded for known-image lists",
		    cbp_decode_fmt_name(fmt));
	}
	r = cbp_pdq_hash(img.px, img.w, img.h, img.channels,
	    (size_t)img.w * img.channels, CBP_PDQ_DIHEDRAL, &f->pdq);
	cbp_image_free(&img);
	if (r == CBP_ENOMEM)
		return out_of_memory(f, "hashing an image");
	if (r != CBP_OK)
		return cbp_error_set(&f->problem, CBP_ECORRUPT, 0, "%s image "
		    "cannot be hashed (PDQ)", cbp_decode_fmt_name(fmt));
	if (key != NULL)
		pdq_memo_put(key, full_scale, &f->pdq);
	return CBP_OK;
}

int
cbp_facts_pdq(struct cbp_facts *f, const struct cbp_pdq **out)
{
	*out = NULL;
	if (f->pdq_state == CBP_FACT_UNKNOWN) {
		f->pdq_rc = pdq_compute(f);
		f->pdq_state = f->pdq_rc == CBP_OK ? CBP_FACT_DONE :
		    CBP_FACT_FAILED;
	}
	if (f->pdq_state != CBP_FACT_DONE)
		return f->pdq_rc;
	*out = &f->pdq;
	return CBP_OK;
}

/* ---- what was computed ---------------------------------------------------- */

const struct cbp_record *
cbp_facts_record_computed(const struct cbp_facts *f)
{
	return f->rec_state == CBP_FACT_DONE ? &f->rec : NULL;
}

const struct cbp_record_list *
cbp_facts_carved_computed(const struct cbp_facts *f)
{
	return f->carve_state == CBP_FACT_DONE ? &f->carved : NULL;
}

const struct cbp_meta *
cbp_facts_meta_computed(const struct cbp_facts *f)
{
	return f->meta_state == CBP_FACT_DONE ? &f->meta : NULL;
}
