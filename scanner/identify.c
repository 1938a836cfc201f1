/*
 * identify.c — one identification answer per object (cbp_identify.h).
 *
 * libmagic on the head, two databases.  The fast handle loads only
 * cbpscan.mgc (compiled from rules/cbpscan.magic) and switches off
 * libmagic's built-in tests that cost time per file and that no shipped
 * rule needs: decompression, ELF details, CDF, CSV, JSON, tokens and
 * application type.  The text test stays on (over the first 256 bytes), so
 * plain text still comes out as text/plain.  Measured with
 * bench/microbench.c (see README, Performance): under 4 us per file, where
 * the system database takes about 550 us.
 *
 * The MIME type the fast database gives is turned into the answer (kind,
 * format, image, record) by one table, mime_table below; the database and
 * this table are the only places that know magic numbers.  Then, only for
 * what the head alone cannot name, the probes of the second half of this
 * file: each says what it costs and why it is bounded.
 *
 * The full handle (system database, description mode) is opened the first
 * time a rule asks for a description, on the thread that asks: libmagic
 * handles are not thread-safe, so each worker owns its pair.
 *
 * This module is given the path of cbpscan.mgc and never looks for one:
 * where data files may come from (the binary's own build tree or the
 * install prefix, never the current directory or the environment) and the
 * ownership check on them are decided in main.c alone.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <magic.h>
#include <zlib.h>

#include "cbp_identify.h"
#include "cbp_limits.h"

/*
 * The zip end-of-central-directory record is 22 bytes plus a comment of at
 * most 65535: the tail an executable's appended zip is looked for in.
 */
#define ZIP_EOCD_LEN 22
#define ZIP_TAIL_EXEC ((size_t)65535 + ZIP_EOCD_LEN)
/*
 * For a binary nothing else names (no stub to measure), only the last
 * 4 KiB: one page, an EOCD with a comment of up to 4074 bytes.  A padded
 * zip with a longer comment is missed; reading 64 KiB of every unknown
 * binary on a host is not worth that.
 */
#define ZIP_TAIL_UNKNOWN ((size_t)4096)
/*
 * An archive appended to an ELF or PE stub starts where the stub's own
 * data ends (the "overlay").  Signatures are looked for in this much of
 * the overlay: PE self-extractors put a certificate table or alignment
 * before the archive; 64 KiB covers those without reading the archive.
 */
#define OVERLAY_SCAN ((size_t)64 * 1024)
/* ISO 9660: 16 sectors of 2048 bytes of system area, then the volume
 * descriptors ("\1CD001\1" for the primary one). */
#define ISO_VD_OFFSET 32768
#define ISO_SECTOR 2048
/* zstd and LZ4 skippable frames in a row, before we stop looking. */
#define SKIPPABLE_MAX 16
/* The probe buffer: the largest single read a probe makes. */
#define PROBE_BUF (ZIP_TAIL_EXEC > OVERLAY_SCAN ? ZIP_TAIL_EXEC : OVERLAY_SCAN)

struct cbp_identify {
	magic_t fast;
	magic_t full;
	int full_failed;	/* loading the full database failed once: don't retry per file */
	char *full_db;
	unsigned char *probe;	/* PROBE_BUF bytes, allocated on first probe */
	struct cbp_identify_stats st;
};

#define FAST_FLAGS (MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | \
	MAGIC_NO_CHECK_ELF | MAGIC_NO_CHECK_CDF | MAGIC_NO_CHECK_CSV | \
	MAGIC_NO_CHECK_JSON | MAGIC_NO_CHECK_TOKENS | MAGIC_NO_CHECK_APPTYPE)
/* Decompression off in both: we never want libmagic to inflate hostile data. */
#define FULL_FLAGS (MAGIC_NO_CHECK_COMPRESS | MAGIC_RAW)

/*
 * The text test decodes the bytes it is given in several encodings; on the
 * whole 16 KiB head it dominated identification.  Measured with our
 * database on 13.7k files (/usr/share/doc, /usr/include, generated images),
 * CPU per file and files classified as text:
 *   16 KiB 27.9 us, 11011;  2 KiB 9.0 us, 11011;  512 B 4.5 us, 11012;
 *   256 B 3.6 us, 11013;  text test off 2.5 us, 0.
 * 256 bytes keeps text/plain for rules that want it at a cost of about a
 * microsecond; our own entries still see the whole head.
 */
#define FAST_TEXT_BYTES 256

static magic_t
open_handle(int flags, const char *db, int fast, struct cbp_error *err)
{
	magic_t m;
	size_t bytes = CBP_HEAD_BYTES, text_bytes = FAST_TEXT_BYTES;

	if ((m = magic_open(flags)) == NULL) {
		cbp_error_set(err, CBP_ENOMEM, 0, "libmagic: cannot open a handle");
		return NULL;
	}
	magic_setparam(m, MAGIC_PARAM_BYTES_MAX, &bytes);
	magic_setparam(m, MAGIC_PARAM_ENCODING_MAX, fast ? &text_bytes : &bytes);
	if (magic_load(m, db) != 0) {
		cbp_error_set(err, CBP_EIO, 0,
		    "libmagic: cannot load %s: %s", db ? db : "the system database",
		    magic_error(m) ? magic_error(m) : "unknown error");
		magic_close(m);
		return NULL;
	}
	return m;
}

struct cbp_identify *
cbp_identify_new(const char *fast_db, const char *full_db,
    struct cbp_error *err)
{
	struct cbp_identify *id;

	/* Where the database comes from is main.c's decision, not ours. */
	if (fast_db == NULL) {
		cbp_error_set(err, CBP_EINVAL, 0,
		    "no identification database (cbpscan.mgc) given");
		return NULL;
	}
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
		return NULL;
	}
	if (full_db != NULL && (id->full_db = strdup(full_db)) == NULL) {
		cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	if ((id->fast = open_handle(FAST_FLAGS, fast_db, 1, err)) == NULL)
		goto fail;
	return id;
fail:
	cbp_identify_free(id);
	return NULL;
}

void
cbp_identify_free(struct cbp_identify *id)
{
	if (id == NULL)
		return;
	if (id->fast != NULL)
		magic_close(id->fast);
	if (id->full != NULL)
		magic_close(id->full);
	free(id->full_db);
	free(id->probe);
	free(id);
}

void
cbp_identify_get_stats(const struct cbp_identify *id,
    struct cbp_identify_stats *st)
{
	*st = id->st;
}

const char *
cbp_identify_mime(struct cbp_identify *id, const void *head, size_t len)
{
	const char *m;

	if (len == 0)
		return "application/x-empty";
	id->st.magic_calls++;
	m = magic_buffer(id->fast, head, len);
	return m != NULL ? m : "application/octet-stream";
}

const char *
cbp_identify_describe(struct cbp_identify *id, const void *head, size_t len,
    struct cbp_error *err)
{
	const char *d;

	if (id->full == NULL) {
		if (id->full_failed) {
			cbp_error_set(err, CBP_EIO, 0,
			    "libmagic: the system database could not be loaded");
			return NULL;
		}
		if ((id->full = open_handle(FULL_FLAGS, id->full_db, 0, err)) == NULL) {
			id->full_failed = 1;
			return NULL;
		}
	}
	id->st.magic_calls++;
	if ((d = magic_buffer(id->full, head, len)) == NULL) {
		cbp_error_set(err, CBP_EIO, 0, "libmagic: %s",
		    magic_error(id->full) ? magic_error(id->full) : "failed");
		return NULL;
	}
	return d;
}

/* ---- the MIME table ------------------------------------------------- */

/*
 * Every MIME type rules/cbpscan.magic gives (and libmagic's built-in tar
 * test) that a later stage branches on.  Types not listed are OTHER, or
 * TEXT for text/.  Keep in step with rules/cbpscan.magic: test_identify
 * checks that each entry of the database comes out with its kind.
 */
struct mime_kind {
	const char *mime;
	enum cbp_kind kind;
	int sub;	/* enum cbp_format, cbp_image_format or cbp_ident_record */
};

static const struct mime_kind mime_table[] = {
	{ "application/zip", CBP_KIND_ARCHIVE, CBP_FMT_ZIP },
	{ "application/x-tar", CBP_KIND_ARCHIVE, CBP_FMT_TAR },
	{ "application/x-gtar", CBP_KIND_ARCHIVE, CBP_FMT_TAR },
	{ "application/x-ustar", CBP_KIND_ARCHIVE, CBP_FMT_TAR },
	{ "application/x-7z-compressed", CBP_KIND_ARCHIVE, CBP_FMT_7Z },
	{ "application/x-rar", CBP_KIND_ARCHIVE, CBP_FMT_RAR },
	{ "application/x-cpio", CBP_KIND_ARCHIVE, CBP_FMT_CPIO },
	{ "application/x-iso9660-image", CBP_KIND_ARCHIVE, CBP_FMT_ISO9660 },
	{ "application/vnd.ms-cab-compressed", CBP_KIND_ARCHIVE, CBP_FMT_CAB },
	{ "application/x-archive", CBP_KIND_ARCHIVE, CBP_FMT_AR },
	{ "application/x-xar", CBP_KIND_ARCHIVE, CBP_FMT_XAR },
	{ "application/x-lha", CBP_KIND_ARCHIVE, CBP_FMT_LHA },
	{ "application/warc", CBP_KIND_ARCHIVE, CBP_FMT_WARC },
	{ "application/x-rpm", CBP_KIND_ARCHIVE, CBP_FMT_RPM },
	{ "application/gzip", CBP_KIND_COMPRESSED, CBP_FMT_GZIP },
	{ "application/x-bzip2", CBP_KIND_COMPRESSED, CBP_FMT_BZIP2 },
	{ "application/x-xz", CBP_KIND_COMPRESSED, CBP_FMT_XZ },
	{ "application/zstd", CBP_KIND_COMPRESSED, CBP_FMT_ZSTD },
	{ "application/x-lz4", CBP_KIND_COMPRESSED, CBP_FMT_LZ4 },
	{ "application/x-lzma", CBP_KIND_COMPRESSED, CBP_FMT_LZMA },
	{ "application/x-lzip", CBP_KIND_COMPRESSED, CBP_FMT_LZIP },
	{ "application/x-compress", CBP_KIND_COMPRESSED, CBP_FMT_COMPRESS },
	{ "image/jpeg", CBP_KIND_IMAGE, CBP_IMG_JPEG },
	{ "image/png", CBP_KIND_IMAGE, CBP_IMG_PNG },
	{ "image/tiff", CBP_KIND_IMAGE, CBP_IMG_TIFF },
	/* One signature box for all of these: meta_jp2.c reads them all. */
	{ "image/jp2", CBP_KIND_IMAGE, CBP_IMG_JP2 },
	{ "image/jpx", CBP_KIND_IMAGE, CBP_IMG_JP2 },
	{ "image/jpm", CBP_KIND_IMAGE, CBP_IMG_JP2 },
	{ "video/mj2", CBP_KIND_IMAGE, CBP_IMG_JP2 },
	{ "image/x-jp2-codestream", CBP_KIND_IMAGE, CBP_IMG_J2K },
	/* Decoded for known-image lists (decode.c), no metadata to parse. */
	{ "image/x-portable-greymap", CBP_KIND_IMAGE, CBP_IMG_NONE },
	{ "image/x-portable-pixmap", CBP_KIND_IMAGE, CBP_IMG_NONE },
	{ "application/x-iso19794-5", CBP_KIND_RECORD, CBP_IDREC_ISO19794_5 },
	{ "application/x-ansi-nist-itl", CBP_KIND_RECORD, CBP_IDREC_ANSI_NIST },
	{ "application/x-icao-dg2", CBP_KIND_RECORD, CBP_IDREC_ICAO_DG2 },
	{ "application/x-iso19794-6", CBP_KIND_RECORD, CBP_IDREC_OTHER },
	{ "application/x-iso19794-4", CBP_KIND_RECORD, CBP_IDREC_OTHER },
	{ "application/pdf", CBP_KIND_PDF, 0 },
	{ "application/json", CBP_KIND_TEXT, 0 },
	{ "application/xml", CBP_KIND_TEXT, 0 },
	{ "application/x-executable", CBP_KIND_EXECUTABLE, 0 },
	{ "application/vnd.microsoft.portable-executable", CBP_KIND_EXECUTABLE, 0 },
	{ "application/x-mach-binary", CBP_KIND_EXECUTABLE, 0 },
};

static const char *const format_names[] = {
	[CBP_FMT_NONE] = "none", [CBP_FMT_ZIP] = "zip", [CBP_FMT_TAR] = "tar",
	[CBP_FMT_7Z] = "7z", [CBP_FMT_RAR] = "rar", [CBP_FMT_CPIO] = "cpio",
	[CBP_FMT_ISO9660] = "iso9660", [CBP_FMT_CAB] = "cab", [CBP_FMT_AR] = "ar",
	[CBP_FMT_XAR] = "xar", [CBP_FMT_LHA] = "lha", [CBP_FMT_WARC] = "warc",
	[CBP_FMT_RPM] = "rpm", [CBP_FMT_GZIP] = "gzip", [CBP_FMT_BZIP2] = "bzip2",
	[CBP_FMT_XZ] = "xz", [CBP_FMT_ZSTD] = "zstd", [CBP_FMT_LZ4] = "lz4",
	[CBP_FMT_LZMA] = "lzma", [CBP_FMT_LZIP] = "lzip",
	[CBP_FMT_COMPRESS] = "compress",
};

const char *
cbp_identify_format_name(enum cbp_format f)
{
	if ((unsigned)f >= sizeof(format_names) / sizeof(format_names[0]) ||
	    format_names[f] == NULL)
		return "?";
	return format_names[f];
}

#define MIME_TABLE_N (sizeof(mime_table) / sizeof(mime_table[0]))

/*
 * The table sorted by name, once per process, for a binary search: a
 * linear walk with strcasecmp() cost 0.8 us per object (most objects are
 * text/plain or octet-stream and missed every entry), as much as libmagic.
 */
static const struct mime_kind *mime_sorted[MIME_TABLE_N];
static pthread_once_t mime_once = PTHREAD_ONCE_INIT;

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp((*(const struct mime_kind *const *)a)->mime,
	    (*(const struct mime_kind *const *)b)->mime);
}

static void
mime_sort(void)
{
	size_t i;

	for (i = 0; i < MIME_TABLE_N; i++)
		mime_sorted[i] = &mime_table[i];
	qsort(mime_sorted, MIME_TABLE_N, sizeof(mime_sorted[0]), cmp_entry);
}

static int
cmp_key(const void *key, const void *e)
{
	return strcmp(key, (*(const struct mime_kind *const *)e)->mime);
}

static void
set_mime(struct cbp_ident *out, const char *m)
{
	/* libmagic may append "; charset=..." in some modes: the type only,
	 * lower case (MIME types are case-insensitive; the table is not). */
	size_t n = strcspn(m, "; \t"), i;

	if (n == 0) {
		m = "application/octet-stream";
		n = strlen(m);
	}
	if (n >= sizeof(out->mime))
		n = sizeof(out->mime) - 1;
	for (i = 0; i < n; i++)
		out->mime[i] = (char)(m[i] >= 'A' && m[i] <= 'Z' ? m[i] + 32 : m[i]);
	out->mime[n] = '\0';
}

void
cbp_identify_classify(const char *mime, struct cbp_ident *out)
{
	const struct mime_kind *const *hit;

	memset(out, 0, sizeof(*out));
	set_mime(out, mime != NULL ? mime : "application/octet-stream");
	(void)pthread_once(&mime_once, mime_sort);
	hit = bsearch(out->mime, mime_sorted, MIME_TABLE_N,
	    sizeof(mime_sorted[0]), cmp_key);
	if (hit != NULL) {
		out->kind = (*hit)->kind;
		switch (out->kind) {
		case CBP_KIND_ARCHIVE:
		case CBP_KIND_COMPRESSED:
			out->format = (enum cbp_format)(*hit)->sub;
			break;
		case CBP_KIND_IMAGE:
			out->image = (enum cbp_image_format)(*hit)->sub;
			break;
		case CBP_KIND_RECORD:
			out->record = (enum cbp_ident_record)(*hit)->sub;
			break;
		default:
			break;
		}
		return;
	}
	if (strncmp(out->mime, "text/", 5) == 0)
		out->kind = CBP_KIND_TEXT;
	else if (strncmp(out->mime, "image/", 6) == 0)
		out->kind = CBP_KIND_IMAGE;	/* gif, webp, bmp ...: not parsed */
}

/* ---- probes past the head ------------------------------------------- */

/* Bytes we may look at: the file's size, or what a member holds. */
static uint64_t
avail(const struct cbp_object *o)
{
	return o->fd >= 0 ? o->size : o->mem_len;
}

static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t
rd32(const unsigned char *p, int be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3] : le32(p);
}

static uint64_t
rd64(const unsigned char *p, int be)
{
	return be ? (uint64_t)rd32(p, 1) << 32 | rd32(p + 4, 1) : le64(p);
}

static uint32_t
rd16(const unsigned char *p, int be)
{
	return be ? (uint32_t)p[0] << 8 | p[1] : le16(p);
}

/*
 * Bytes [off, off + len) of o, clipped to what it holds: a pointer into the
 * head or the member's memory (no copy), else read into the probe buffer.
 * *got is how many bytes *p holds.  CBP_EIO (err set) on a read error.
 */
static int
peek(struct cbp_identify *id, struct cbp_object *o, uint64_t off, size_t len,
    const unsigned char **p, size_t *got, struct cbp_error *err)
{
	uint64_t have = avail(o);
	int r;

	*p = NULL;
	*got = 0;
	if (off >= have)
		return CBP_OK;
	if (len > have - off)
		len = (size_t)(have - off);
	if (len > PROBE_BUF)
		len = PROBE_BUF;
	if (off + len <= o->head_len) {
		*p = o->head + off;
		*got = len;
		return CBP_OK;
	}
	id->st.probe_reads++;
	id->st.probe_bytes += len;
	if (o->fd < 0) {
		*p = o->mem + off;
		*got = len;
		return CBP_OK;
	}
	if (id->probe == NULL && (id->probe = malloc(PROBE_BUF)) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, 0, "out of memory "
		    "identifying the file type");
	r = cbp_read_at(o, off, id->probe, len, got, err);
	*p = id->probe;
	return r;
}

static void
found(struct cbp_ident *out, enum cbp_kind kind, enum cbp_format fmt,
    uint64_t offset, const char *mime)
{
	out->kind = kind;
	out->format = fmt;
	out->image = CBP_IMG_NONE;
	out->record = CBP_IDREC_NONE;
	out->offset = offset;
	out->hidden = 1;
	set_mime(out, mime);
}

/*
 * ISO 9660.  Its first volume descriptor is at 32 KiB, past the 16 KiB
 * head libmagic sees, so the database cannot name it.  The 32 KiB before
 * it are the "system area": zeros as mkisofs/genisoimage write them, or an
 * MBR (boot code, 0x55AA at 510) on hybrid images.  Only a head like that
 * costs the read of one 7-byte descriptor tag; any other unknown binary
 * is dismissed at its first non-zero byte, without a read.
 */
static int
probe_iso9660(struct cbp_identify *id, struct cbp_object *o,
    struct cbp_ident *out, struct cbp_error *err)
{
	const unsigned char *h = o->head, *p;
	size_t i, got;
	int r;

	if (avail(o) < ISO_VD_OFFSET + ISO_SECTOR || o->head_len < 512)
		return CBP_OK;
	if (!(h[510] == 0x55 && h[511] == 0xAA)) {
		for (i = 0; i < o->head_len && h[i] == 0; i++)
			;
		if (i < o->head_len)
			return CBP_OK;
	}
	if ((r = peek(id, o, ISO_VD_OFFSET, 7, &p, &got, err)) != CBP_OK)
		return r;
	/* Type (0 boot, 1 primary, 2 supplementary, 3 partition, 255 end),
	 * "CD001", version 1. */
	if (got == 7 && (p[0] <= 3 || p[0] == 255) &&
	    memcmp(p + 1, "CD001", 5) == 0 && p[6] == 1)
		found(out, CBP_KIND_ARCHIVE, CBP_FMT_ISO9660, 0,
		    "application/x-iso9660-image");
	return CBP_OK;
}

/*
 * zstd and LZ4 frames may be preceded by skippable frames (magic
 * 0x184D2A50..5F, a 4-byte length, that many bytes of anything): tools
 * write metadata there.  The database names neither (what follows decides),
 * so we step over at most SKIPPABLE_MAX of them, 8 bytes read per frame,
 * and say where the real frame starts.
 */
static int
probe_skippable(struct cbp_identify *id, struct cbp_object *o,
    struct cbp_ident *out, struct cbp_error *err)
{
	const unsigned char *p;
	uint64_t off = 0;
	size_t got;
	unsigned n;
	int r;

	for (n = 0; n <= SKIPPABLE_MAX; n++) {
		if ((r = peek(id, o, off, 8, &p, &got, err)) != CBP_OK)
			return r;
		if (got < 4)
			return CBP_OK;
		if ((le32(p) & 0xFFFFFFF0u) == 0x184D2A50u) {
			if (got < 8 || n == SKIPPABLE_MAX)
				return CBP_OK;
			off += 8 + (uint64_t)le32(p + 4);
			continue;
		}
		if (n == 0)
			return CBP_OK;
		if (le32(p) == 0xFD2FB528u)
			found(out, CBP_KIND_COMPRESSED, CBP_FMT_ZSTD, off,
			    "application/zstd");
		else if (le32(p) == 0x184D2204u)
			found(out, CBP_KIND_COMPRESSED, CBP_FMT_LZ4, off,
			    "application/x-lz4");
		return CBP_OK;
	}
	return CBP_OK;
}

/*
 * Where an ELF file's own data ends: the furthest of its program header
 * table, section header table and segments (from the program headers that
 * the head holds).  Linkers put the section headers last, so a file with
 * something appended ("cat stub archive > sfx") is longer than this.  0
 * when the header does not add up (then the stub cannot be measured).
 * Hand-written: three fields of headers already in memory; libelf would
 * want the whole file and a parser of its own for hostile input.
 */
static uint64_t
elf_end(const unsigned char *h, size_t n)
{
	int is64, be;
	uint64_t phoff, shoff, end, e;
	uint32_t phent, phnum, shent, shnum, i;

	if (n < 52 || memcmp(h, "\x7f" "ELF", 4) != 0 ||
	    (h[4] != 1 && h[4] != 2) || (h[5] != 1 && h[5] != 2))
		return 0;
	is64 = h[4] == 2;
	be = h[5] == 2;
	if (is64 && n < 64)
		return 0;
	phoff = is64 ? rd64(h + 0x20, be) : rd32(h + 0x1C, be);
	shoff = is64 ? rd64(h + 0x28, be) : rd32(h + 0x20, be);
	phent = rd16(h + (is64 ? 0x36 : 0x2A), be);
	phnum = rd16(h + (is64 ? 0x38 : 0x2C), be);
	shent = rd16(h + (is64 ? 0x3A : 0x2E), be);
	shnum = rd16(h + (is64 ? 0x3C : 0x30), be);
	/* 16-bit counts and sizes: these products cannot overflow. */
	if (phoff > UINT64_MAX / 2 || shoff > UINT64_MAX / 2)
		return 0;
	end = is64 ? 64 : 52;
	if (phnum > 0 && phoff + (uint64_t)phent * phnum > end)
		end = phoff + (uint64_t)phent * phnum;
	if (shnum > 0 && shoff + (uint64_t)shent * shnum > end)
		end = shoff + (uint64_t)shent * shnum;
	if (phent < (is64 ? 56u : 32u))
		return end;
	for (i = 0; i < phnum && phoff + (uint64_t)(i + 1) * phent <= n; i++) {
		const unsigned char *ph = h + phoff + (uint64_t)i * phent;
		uint64_t off = is64 ? rd64(ph + 8, be) : rd32(ph + 4, be);
		uint64_t sz = is64 ? rd64(ph + 32, be) : rd32(ph + 16, be);

		if (off > UINT64_MAX / 2 || sz > UINT64_MAX / 2)
			return 0;
		e = off + sz;
		if (e > end)
			end = e;
	}
	return end;
}

/*
 * Where a PE file's sections end (the overlay starts there): the furthest
 * PointerToRawData + SizeOfRawData of its section table, which the head
 * holds for any PE a linker writes (at most 96 sections, 40 bytes each,
 * after headers of a few hundred bytes).  0 when it does not add up.
 */
static uint64_t
pe_end(const unsigned char *h, size_t n)
{
	uint32_t lfanew, nsec, opt, i;
	uint64_t table, end = 0;

	if (n < 64 || h[0] != 'M' || h[1] != 'Z')
		return 0;
	lfanew = le32(h + 0x3C);
	if (lfanew > n || n - lfanew < 24 || memcmp(h + lfanew, "PE\0\0", 4) != 0)
		return 0;
	nsec = le16(h + lfanew + 6);
	opt = le16(h + lfanew + 20);
	table = (uint64_t)lfanew + 24 + opt;
	if (nsec == 0 || nsec > 96 || table + (uint64_t)nsec * 40 > n)
		return 0;
	for (i = 0; i < nsec; i++) {
		const unsigned char *s = h + table + (uint64_t)i * 40;
		uint64_t e = (uint64_t)le32(s + 20) + le32(s + 16);

		if (e > end)
			end = e;
	}
	return end > table ? end : table + (uint64_t)nsec * 40;
}

/* 7z signature header: signature, version 0.x, and its CRC adds up. */
static int
is_7z_header(const unsigned char *p, size_t n)
{
	return n >= 32 && memcmp(p, "7z\xBC\xAF\x27\x1C", 6) == 0 &&
	    p[6] == 0 && crc32(0L, p + 12, 20) == le32(p + 8);
}

/*
 * A zip local file header, not only its 4-byte magic (data inside a stub
 * may hold "PK\3\4"): a compression method zip defines and a name of
 * sane length.
 */
static int
is_zip_local_header(const unsigned char *p, size_t n)
{
	uint32_t method, name;

	if (n < 30 || memcmp(p, "PK\3\4", 4) != 0)
		return 0;
	method = le16(p + 8);
	name = le16(p + 26);
	return (method == 0 || method == 8 || method == 9 || method == 12 ||
	    method == 14 || method == 93 || method == 95 || method == 98 ||
	    method == 99) && name > 0 && name <= 4096;
}

/* RAR 4 marker block followed by its main header (type 0x73), or RAR 5. */
static int
is_rar_header(const unsigned char *p, size_t n)
{
	return (n >= 10 && memcmp(p, "Rar!\x1a\x07\x00", 7) == 0 &&
	    p[9] == 0x73) ||
	    (n >= 8 && memcmp(p, "Rar!\x1a\x07\x01\x00", 8) == 0);
}

/*
 * An archive appended to a stub that ends at `end`: look for the start of
 * a zip, 7z or RAR in the first OVERLAY_SCAN bytes of the overlay.  The 7z
 * and RAR signatures are checked beyond their magic (CRC, header type), so
 * bytes that only look alike do not make an archive.
 */
static int
probe_overlay(struct cbp_identify *id, struct cbp_object *o, uint64_t end,
    struct cbp_ident *out, struct cbp_error *err)
{
	const unsigned char *p;
	size_t got, i;
	int r;

	if ((r = peek(id, o, end, OVERLAY_SCAN, &p, &got, err)) != CBP_OK)
		return r;
	for (i = 0; i + 4 <= got; i++) {
		const unsigned char *q = p + i;
		size_t left = got - i;

		if (q[0] == 'P' && is_zip_local_header(q, left)) {
			found(out, CBP_KIND_ARCHIVE, CBP_FMT_ZIP, end + i,
			    "application/zip");
			return CBP_OK;
		}
		if (q[0] == '7' && is_7z_header(q, left)) {
			found(out, CBP_KIND_ARCHIVE, CBP_FMT_7Z, end + i,
			    "application/x-7z-compressed");
			return CBP_OK;
		}
		if (q[0] == 'R' && is_rar_header(q, left)) {
			found(out, CBP_KIND_ARCHIVE, CBP_FMT_RAR, end + i,
			    "application/x-rar");
			return CBP_OK;
		}
	}
	return CBP_OK;
}

/*
 * A zip found from its end: the end-of-central-directory record in the
 * last `tail` bytes.  It is believed only when its comment reaches exactly
 * to the end of the object, it is not split over disks, and its central
 * directory starts with a central header where it says; the zip then
 * starts cd_size + cd_offset before the record, where its first local
 * header must be (entries stored relative to the zip's start, as "cat stub
 * a.zip" or padding leave them), or at 0 when the offsets already count
 * the prefix (zip -A): libarchive's seekable zip reader finds the entries
 * from the central directory then.
 * Zip64 is not followed (its counts are in another record).
 */
static int
probe_zip_tail(struct cbp_identify *id, struct cbp_object *o, size_t tail,
    struct cbp_ident *out, struct cbp_error *err)
{
	const unsigned char *p, *q;
	uint64_t size = avail(o), from, pos, cd_size, cd_off, start;
	size_t got, i, qn;
	int r;

	if (size < ZIP_EOCD_LEN)
		return CBP_OK;
	from = size > tail ? size - tail : 0;
	if ((r = peek(id, o, from, (size_t)(size - from), &p, &got, err)) != CBP_OK)
		return r;
	if (got < ZIP_EOCD_LEN)
		return CBP_OK;
	for (i = got - ZIP_EOCD_LEN + 1; i > 0;) {
		const unsigned char *e = memrchr(p, 'P', i);

		if (e == NULL)
			break;
		i = (size_t)(e - p);
		if (memcmp(e, "PK\5\6", 4) != 0 ||
		    le16(e + 20) != got - i - ZIP_EOCD_LEN)
			continue;
		if (le16(e + 4) != 0 || le16(e + 6) != 0 ||
		    le16(e + 8) != le16(e + 10) || le16(e + 10) == 0)
			return CBP_OK;	/* multi-disk or empty: not ours */
		pos = from + i;
		cd_size = le32(e + 12);
		cd_off = le32(e + 16);
		if (cd_size > pos)
			return CBP_OK;
		/* p is the probe buffer: the reads below may reuse it. */
		if ((r = peek(id, o, pos - cd_size, 4, &q, &qn, err)) != CBP_OK)
			return r;
		if (qn < 4 || memcmp(q, "PK\1\2", 4) != 0)
			return CBP_OK;
		if (cd_off > pos - cd_size)
			return CBP_OK;
		start = pos - cd_size - cd_off;
		if (start > 0) {
			if ((r = peek(id, o, start, 30, &q, &qn, err)) != CBP_OK)
				return r;
			if (!is_zip_local_header(q, qn))
				return CBP_OK;	/* offsets that add up to nothing */
		}
		found(out, CBP_KIND_ARCHIVE, CBP_FMT_ZIP, start,
		    "application/zip");
		return CBP_OK;
	}
	return CBP_OK;
}

/* An executable: what is appended to it, if anything. */
static int
probe_executable(struct cbp_identify *id, struct cbp_object *o,
    struct cbp_ident *out, struct cbp_error *err)
{
	uint64_t end = elf_end(o->head, o->head_len);
	int r;

	if (end == 0)
		end = pe_end(o->head, o->head_len);
	/* A stub measured to the end of the file: nothing appended, no read. */
	if (end != 0 && end >= avail(o))
		return CBP_OK;
	if (end != 0) {
		if ((r = probe_overlay(id, o, end, out, err)) != CBP_OK ||
		    out->hidden)
			return r;
	}
	return probe_zip_tail(id, o, ZIP_TAIL_EXEC, out, err);
}

int
cbp_identify_object(struct cbp_identify *id, struct cbp_object *o,
    struct cbp_ident *out, struct cbp_error *err)
{
	uint64_t reads = id->st.probe_reads;
	int r = CBP_OK;

	id->st.objects++;
	cbp_identify_classify(cbp_identify_mime(id, o->head, o->head_len), out);
	if (out->kind == CBP_KIND_EXECUTABLE) {
		r = probe_executable(id, o, out, err);
	} else if (out->kind == CBP_KIND_OTHER &&
	    strcmp(out->mime, "application/octet-stream") == 0) {
		/* Each probe returns at once when its first bytes do not fit. */
		if ((r = probe_iso9660(id, o, out, err)) == CBP_OK && !out->hidden &&
		    (r = probe_skippable(id, o, out, err)) == CBP_OK && !out->hidden)
			r = probe_zip_tail(id, o, ZIP_TAIL_UNKNOWN, out, err);
	}
	if (id->st.probe_reads != reads)
		id->st.probes++;
	return r;
}
