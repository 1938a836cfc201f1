/*
 * expand.c — archive expansion with libarchive (contract: cbp_expand.h).
 *
 * Design
 *
 * An archive is opened with libarchive, either from memory (a member that
 * is itself an archive) or from the object's fd.  The fd is shared with
 * the rest of the scan, so it is never lseek()ed and its file position is
 * never relied on: our own read/skip/seek callbacks pread() at an offset
 * kept here, into a 64 KiB buffer, and treat the size fstat() gave as the
 * end (a file that grows while we read cannot make us read for ever; one
 * that shrinks is an "io" problem, not "corrupt").  The seek callback is
 * what lets libarchive read 7z and zip by their central directories.
 *
 * Formats and filters are registered one by one instead of with the *_all
 * helpers, on purpose:
 *   - mtree is left out.  Its reader bids on almost any text (a gzipped
 *     "hello" comes out as an mtree entry called "hello"), and with its
 *     checkfs option (or in older libarchive, always) it opens the paths
 *     named in the spec on the local filesystem — a hostile archive must
 *     never make us read local files.
 *   - lrzip, lzop and grzip are left out: libarchive runs external
 *     programs for them, and a scanner must not fork on hostile input.
 * Everything else that format_all/filter_all give is here.
 *
 * A single compressed stream (photo.jpg.gz) has a filter but no archive
 * format, so the first open fails with "Unrecognized archive format"; when
 * a compression filter was detected we reopen with only the raw format,
 * which yields the decompressed stream as one member, named after the
 * object minus its compression suffixes.
 *
 * Each member is read into a buffer that grows as bytes arrive (never from
 * the size a header declares), up to member_max; beyond that the rest is
 * still read and counted but not kept, so the budgets see every byte that
 * was decompressed and a bomb hidden behind a large member is still caught.
 * Members are never written anywhere; their names are display strings.
 *
 * Errors follow bsdtar's read loop: ARCHIVE_WARN is noted and ignored,
 * ARCHIVE_FAILED costs the current entry (reported, then on to the next),
 * ARCHIVE_FATAL ends the archive (reported).  Every problem goes to
 * ops->problem exactly once; members read before the damage are delivered,
 * and the damaged member's first bytes too (mem_partial).
 *
 * Budgets are shared by every nesting level of one top-level archive
 * (budget->top_size is taken from the object when it is 0 at depth 0; the
 * ratio compares with at least EXPAND_RATIO_FLOOR, and a max_ratio of 0
 * lets nothing expand).  Every entry header counts as a member, and every
 * decompressed byte counts, delivered or not.  The level that exceeds a
 * budget reports it; the counters are left past the limit (members >
 * max_members, bytes > total_max or above the ratio), which is how
 * enclosing levels know it was spent and already reported, and stop
 * without a second report.
 *
 * No static or global mutable state: the member callback calls us again
 * for archives inside archives, and scan workers run in parallel.
 *
 * Return codes (cbp_expand.h): CBP_OK when the archive was read to its end
 * or the member callback asked to stop.  CBP_ELIMIT, CBP_ECORRUPT, CBP_EIO
 * or CBP_EENCRYPTED when it could not be opened, or was not read to its end
 * because of that cause — always already reported through ops->problem, so
 * the caller must not report it again.  Not reported: CBP_EINVAL (bad
 * arguments) and CBP_ENOMEM (our own allocation failed; libarchive running
 * out of memory on a hostile header is reported as a "limit" instead).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cbp_expand.h"
#include "cbp_gunzip.h"
#include "cbp_limits.h"

/* Bytes asked of pread() per libarchive read callback. */
#define EXPAND_READ_BUF (64 * CBP_KIB)
/*
 * Bytes asked of archive_read_data() per call.  Small enough that a budget
 * is overshot by at most this much, large enough that the per-call cost
 * is nothing next to decompression.
 */
#define EXPAND_CHUNK (64 * CBP_KIB)
/* Decompressed gzip bytes per libarchive read callback: under glibc's
 * mmap threshold, so the buffer is not a fresh mapping for every .gz. */
#define EXPAND_GZ_OUT (64 * CBP_KIB)
/*
 * The ratio check compares expanded bytes with the top-level archive's
 * size, but never with less than this: a 2 KiB zip holding a 1 MiB text
 * file is normal, not a bomb.
 */
#define EXPAND_RATIO_FLOOR ((uint64_t)CBP_MIB)
/* A member buffer larger than this is freed after its member, so a big
 * member does not keep its memory while later siblings are expanded. */
#define EXPAND_KEEP_BUF CBP_MIB
/*
 * ARCHIVE_RETRY from next_header in a row before we call the archive
 * corrupt.  tar answers RETRY per damaged 512-byte block it steps over, so
 * this is how much garbage (here 512 KiB) we wade through to resynchronise.
 */
#define EXPAND_MAX_HDR_RETRIES 1024
/* ARCHIVE_WARN / ARCHIVE_RETRY from read_data in a row with no bytes. */
#define EXPAND_MAX_DATA_RETRIES 16

/*
 * archive.h leaves ARCHIVE_ERRNO_FILE_FORMAT private; on POSIX systems it
 * is EILSEQ, which is what "Unrecognized archive format" carries.
 */
#define EXPAND_ERRNO_FILE_FORMAT EILSEQ

/* Source for the fd path: pread() at our own offset, never the fd's. */
struct rd {
	int fd;
	uint64_t off;
	uint64_t size;		/* end of the object as fstat() saw it */
	unsigned char *buf;	/* EXPAND_READ_BUF bytes */
	int err;		/* errno of a read failure, 0 if none */
	char msg[128];		/* its text: libarchive may overwrite its own copy */
};

struct xctx {
	struct cbp_object *o;
	const struct cbp_expand_limits *lim;
	struct cbp_expand_budget *budget;
	const struct cbp_expand_ops *ops;
	void *arg;

	struct archive *a;
	struct rd rd;
	struct cbp_gunzip *gz;		/* gzip decoded by us, or NULL */
	unsigned char *gz_out;		/* its output, EXPAND_GZ_OUT bytes */
	int gz_mem_given;		/* the memory source has given its bytes */
	int use_gz;			/* the object is gzip: decode it ourselves */
	int gz_failed;			/* the gzip data is damaged (ended early) */
	int gz_reported;		/* ... and that has been reported */
	int raw;			/* opened as a single compressed stream */
	char *raw_name;			/* member name in raw mode (owned) */

	unsigned char *scratch;		/* EXPAND_CHUNK: bytes read but not kept */
	unsigned char *mbuf;		/* the current member (owned, reused) */
	size_t mbuf_alloc;
};

/* What reading one entry's data produced. */
struct mread {
	size_t len;		/* bytes kept in x->mbuf */
	uint64_t total;		/* bytes libarchive produced */
	int end;		/* the entry's data was read to its end */
	int cap_hit;		/* more than member_max bytes: only len kept */
	int spent;		/* a shared budget ran out while reading */
	int la;			/* libarchive error that ended the read, or 0 */
};

static const unsigned char empty_member[1];

/* ---- identification ------------------------------------------------- */

static int
at(const unsigned char *h, size_t len, size_t off, const void *s, size_t n)
{
	return len >= off && len - off >= n && memcmp(h + off, s, n) == 0;
}

/* Length of the type/subtype token of a MIME string ("x/y; charset=..."). */
static size_t
mime_token_len(const char *mime)
{
	size_t n = 0;

	while (mime[n] != '\0' && mime[n] != ';' && mime[n] != ' ' &&
	    mime[n] != '\t')
		n++;
	return n;
}

static int
mime_is(const char *mime, size_t n, const char *t)
{
	return strlen(t) == n && strncasecmp(mime, t, n) == 0;
}

static int
mime_prefix(const char *mime, size_t n, const char *p)
{
	size_t pl = strlen(p);

	return n >= pl && strncasecmp(mime, p, pl) == 0;
}

static const char *const archive_mimes[] = {
	"application/zip", "application/x-zip-compressed",
	"application/x-tar", "application/x-gtar", "application/x-ustar",
	"application/gzip", "application/x-gzip",
	"application/x-bzip2", "application/x-bzip",
	"application/x-xz", "application/zstd", "application/x-zstd",
	"application/x-lz4", "application/x-lzma", "application/x-lzip",
	"application/x-compress",
	"application/x-7z-compressed",
	"application/x-rar", "application/x-rar-compressed", "application/vnd.rar",
	"application/x-cpio", "application/x-iso9660-image",
	"application/vnd.ms-cab-compressed",
	"application/x-archive", "application/x-debian-package",
	"application/vnd.debian.binary-package",
	"application/x-xar", "application/x-lha", "application/x-lzh-compressed",
	"application/x-rpm",
	/* Zips under another name: images hide inside documents and apps. */
	"application/java-archive", "application/x-java-archive",
	"application/vnd.android.package-archive", "application/epub+zip",
};

static int
mime_says_archive(const char *mime)
{
	size_t n, i;

	if (mime == NULL)
		return 0;
	n = mime_token_len(mime);
	for (i = 0; i < sizeof(archive_mimes) / sizeof(archive_mimes[0]); i++)
		if (mime_is(mime, n, archive_mimes[i]))
			return 1;
	/* OOXML (docx, xlsx ...), ODF, and every "+zip" type are zips. */
	if (mime_prefix(mime, n, "application/vnd.openxmlformats-officedocument.") ||
	    mime_prefix(mime, n, "application/vnd.oasis.opendocument.") ||
	    (n >= 4 && strncasecmp(mime + n - 4, "+zip", 4) == 0))
		return 1;
	return 0;
}

/*
 * A MIME type that says the content is something else.  Only used to veto
 * the weak (2-3 byte, or low-entropy) magic numbers: a false "archive"
 * costs a failed open and a spurious "corrupt" problem.
 */
static int
mime_vetoes(const char *mime)
{
	size_t n;

	if (mime == NULL)
		return 0;
	n = mime_token_len(mime);
	return mime_prefix(mime, n, "image/") || mime_prefix(mime, n, "text/") ||
	    mime_prefix(mime, n, "audio/") || mime_prefix(mime, n, "video/") ||
	    mime_is(mime, n, "application/pdf");
}

/* Old (v7) tar has no magic: accept a header whose checksum adds up. */
static int
tar_checksum_ok(const unsigned char *h, size_t len)
{
	unsigned long want = 0, sum = 0;
	long ssum = 0;
	size_t i;
	int digits = 0;

	if (len < 512 || h[0] == '\0')
		return 0;
	for (i = 148; i < 156; i++) {
		unsigned char c = h[i];

		if (c >= '0' && c <= '7') {
			want = want * 8 + (unsigned long)(c - '0');
			digits++;
		} else if (c == ' ' || c == '\0') {
			if (digits > 0)
				break;
		} else {
			return 0;
		}
	}
	if (digits == 0)
		return 0;
	for (i = 0; i < 512; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];

		sum += c;
		ssum += (signed char)c;
	}
	/* An all-blank header sums to 256: that is not a tar. */
	return want != 256 && (want == sum || (long)want == ssum);
}

/* Binary cpio (magic 070707 as a 16-bit word in either byte order). */
static int
cpio_binary_ok(const unsigned char *h, size_t len)
{
	unsigned namesize;
	int le;

	if (len < 26)
		return 0;
	if (h[0] == 0xC7 && h[1] == 0x71)
		le = 1;
	else if (h[0] == 0x71 && h[1] == 0xC7)
		le = 0;
	else
		return 0;
	namesize = le ? (unsigned)h[20] | (unsigned)h[21] << 8 :
	    (unsigned)h[20] << 8 | (unsigned)h[21];
	if (namesize == 0 || namesize > 4096)
		return 0;
	/* The name is NUL-terminated; check it when the head holds it. */
	if (26 + (size_t)namesize <= len && h[26 + namesize - 1] != '\0')
		return 0;
	return 1;
}

/* Does the head start a single compressed stream (not an archive format)? */
static int
compressed_stream(const unsigned char *h, size_t len)
{
	if (h == NULL)
		return 0;
	return at(h, len, 0, "\x1f\x8b\x08", 3) ||		/* gzip */
	    (len >= 4 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h' &&
	    h[3] >= '1' && h[3] <= '9') ||			/* bzip2 */
	    at(h, len, 0, "\xfd\x37\x7a\x58\x5a\x00", 6) ||	/* xz */
	    at(h, len, 0, "\x28\xb5\x2f\xfd", 4) ||		/* zstd */
	    at(h, len, 0, "\x04\x22\x4d\x18", 4) ||		/* lz4 frame */
	    at(h, len, 0, "\x02\x21\x4c\x18", 4) ||		/* lz4 legacy */
	    at(h, len, 0, "LZIP\x01", 5) ||			/* lzip */
	    at(h, len, 0, "\x1f\x9d", 2) ||			/* compress */
	    at(h, len, 0, "\x5d\x00\x00", 3);		/* lzma alone */
}

int
cbp_expand_is_archive(const char *mime, const unsigned char *head, size_t len)
{
	static const unsigned char bz_block[6] = { 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 };
	static const unsigned char bz_end[6] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };
	const unsigned char *h = head;
	int weak = 0;

	if (h == NULL)
		len = 0;

	/* Strong magic numbers: four or more distinctive bytes. */
	if (at(h, len, 0, "PK\3\4", 4) || at(h, len, 0, "PK\5\6", 4) ||
	    at(h, len, 0, "PK\7\x08PK\3\4", 8) || at(h, len, 0, "PK00PK\3\4", 8))
		return 1;
	if (at(h, len, 257, "ustar", 5))	/* POSIX "ustar\0", GNU "ustar  \0" */
		return 1;
	if (at(h, len, 0, "\x1f\x8b\x08", 3))	/* gzip, deflate: the only method */
		return 1;
	if (len >= 10 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h' &&
	    h[3] >= '1' && h[3] <= '9' &&
	    (memcmp(h + 4, bz_block, 6) == 0 || memcmp(h + 4, bz_end, 6) == 0))
		return 1;
	if (at(h, len, 0, "\xfd\x37\x7a\x58\x5a\x00", 6) ||	/* xz */
	    at(h, len, 0, "\x28\xb5\x2f\xfd", 4) ||		/* zstd */
	    at(h, len, 0, "\x04\x22\x4d\x18", 4) ||		/* lz4 frame */
	    at(h, len, 0, "\x02\x21\x4c\x18", 4) ||		/* lz4 legacy */
	    at(h, len, 0, "LZIP\x01", 5) ||			/* lzip */
	    at(h, len, 0, "\x37\x7a\xbc\xaf\x27\x1c", 6) ||	/* 7z */
	    at(h, len, 0, "Rar!\x1a\x07", 6) ||			/* rar 4 and 5 */
	    at(h, len, 0, "070707", 6) ||			/* cpio odc */
	    at(h, len, 0, "070701", 6) ||			/* cpio newc */
	    at(h, len, 0, "070702", 6) ||			/* cpio crc */
	    at(h, len, 32769, "CD001", 5) ||			/* iso9660 PVD */
	    at(h, len, 0, "MSCF\0\0\0\0", 8) ||			/* cab */
	    at(h, len, 0, "!<arch>\n", 8) ||			/* ar, .deb */
	    at(h, len, 0, "xar!", 4) ||				/* xar */
	    at(h, len, 0, "\xed\xab\xee\xdb", 4))		/* rpm */
		return 1;
	if (mime_says_archive(mime))
		return 1;

	/* Weak magic numbers: believed unless the MIME type says otherwise. */
	if (tar_checksum_ok(h, len))
		weak = 1;
	else if (len >= 13 && h[0] == 0x5d && h[1] == 0 && h[2] == 0) {
		/* lzma-alone: dictionary 2^n or 2^n+2^(n-1), size known or -1. */
		uint32_t dict = (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
		uint32_t low = dict & (~dict + 1);
		int unknown_size = 1;
		size_t i;

		for (i = 5; i < 13; i++)
			if (h[i] != 0xff)
				unknown_size = 0;
		if ((dict == low || dict == low * 3) &&
		    (unknown_size || h[12] == 0))
			weak = 1;
	} else if (len >= 3 && h[0] == 0x1f && h[1] == 0x9d &&
	    (h[2] & 0x60) == 0 && (h[2] & 0x1f) >= 9 && (h[2] & 0x1f) <= 16) {
		weak = 1;	/* compress (.Z) */
	} else if (cpio_binary_ok(h, len)) {
		weak = 1;
	} else if (len >= 21 && h[2] == '-' && h[3] == 'l' && h[6] == '-' &&
	    ((h[4] == 'h' && ((h[5] >= '0' && h[5] <= '7') || h[5] == 'd')) ||
	    (h[4] == 'z' && (h[5] == 's' || h[5] == '4' || h[5] == '5'))) &&
	    h[20] <= 3) {
		weak = 1;	/* lha: "-lh5-" at 2, header level 0..3 at 20 */
	}
	return weak && !mime_vetoes(mime);
}

/* ---- libarchive source callbacks (fd path) -------------------------- */

/*
 * The next bytes of the file at our own offset into r->buf.  Returns the
 * count, 0 at the size fstat() gave (a growing file cannot keep us), or -1
 * with r->err and r->msg set.
 */
static ssize_t
rd_pread(struct rd *r)
{
	size_t want = EXPAND_READ_BUF;
	ssize_t n;

	if (r->off >= r->size || r->off > (uint64_t)INT64_MAX)
		return 0;
	if (r->size - r->off < want)
		want = (size_t)(r->size - r->off);
	do
		n = pread(r->fd, r->buf, want, (off_t)r->off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = errno;
		snprintf(r->msg, sizeof r->msg, "read error at offset %llu: %s",
		    (unsigned long long)r->off, strerror(r->err));
		return -1;
	}
	if (n == 0) {
		/* Short of the size fstat() reported: the file shrank. */
		r->err = EIO;
		snprintf(r->msg, sizeof r->msg, "file shrank while reading "
		    "(ends at %llu of %llu bytes)", (unsigned long long)r->off,
		    (unsigned long long)r->size);
		return -1;
	}
	r->off += (uint64_t)n;
	return n;
}

static la_ssize_t
rd_read(struct archive *a, void *cd, const void **out)
{
	struct rd *r = cd;
	ssize_t n;

	*out = r->buf;
	if ((n = rd_pread(r)) < 0)
		archive_set_error(a, r->err, "%s", r->msg);
	return n;
}

/* ---- gzip decoded by us (cbp_gunzip.h says why) --------------------- */

/* The compressed bytes for the decoder: the fd's, or the object's memory. */
static ssize_t
gz_source(void *arg, const unsigned char **p)
{
	struct xctx *x = arg;
	size_t n;

	if (x->o->mem == NULL) {
		*p = x->rd.buf;
		return rd_pread(&x->rd);
	}
	if (x->gz_mem_given)
		return 0;
	x->gz_mem_given = 1;
	*p = x->o->mem;
	n = x->o->mem_len;
	return n > (size_t)SSIZE_MAX ? SSIZE_MAX : (ssize_t)n;
}

static la_ssize_t
gz_read(struct archive *a, void *cd, const void **out)
{
	struct xctx *x = cd;
	ssize_t n;

	*out = x->gz_out;
	n = cbp_gunzip_read(x->gz, x->gz_out, EXPAND_GZ_OUT);
	if (n < 0 && cbp_gunzip_source_failed(x->gz)) {
		archive_set_error(a, x->rd.err, "%s", x->rd.msg);
		return ARCHIVE_FATAL;
	}
	if (n < 0) {
		/*
		 * Damaged gzip: libarchive gets an end of data, not an error.
		 * Its bidders read far ahead, so an error would often surface
		 * before the first header and lose every byte decoded before
		 * the damage; as an end, those bytes are scanned and the damage
		 * is reported once by gz_report() (report_error() defers to it).
		 */
		x->gz_failed = 1;
		return 0;
	}
	return n;
}

/* The gzip header's mtime (0: none), from the object's first bytes. */
static int64_t
gz_header_mtime(const struct cbp_object *o)
{
	const unsigned char *h = o->head;

	if (h == NULL || o->head_len < 8)
		return 0;
	return (int64_t)((uint32_t)h[4] | (uint32_t)h[5] << 8 |
	    (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24);
}

static la_int64_t
rd_skip(struct archive *a, void *cd, la_int64_t request)
{
	struct rd *r = cd;
	uint64_t n;

	if (request <= 0 || r->off >= r->size)
		return 0;
	/* Never past the end: libarchive then reads, and reports truncation. */
	n = (uint64_t)request;
	if (n > r->size - r->off)
		n = r->size - r->off;
	r->off += n;
	return (la_int64_t)n;
}

static la_int64_t
rd_seek(struct archive *a, void *cd, la_int64_t offset, int whence)
{
	struct rd *r = cd;
	int64_t base;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)r->off;
		break;
	case SEEK_END:
		base = r->size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)r->size;
		break;
	default:
		return ARCHIVE_FATAL;
	}
	if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0) {
		archive_set_error(a, EINVAL, "seek out of range");
		return ARCHIVE_FATAL;
	}
	r->off = (uint64_t)(base + offset);
	return (la_int64_t)r->off;
}

/* ---- problems and budgets ------------------------------------------- */

static void
problem(struct xctx *x, const char *member, enum cbp_reason reason,
    const char *detail)
{
	x->ops->problem(x->arg, x->o, member, reason, detail);
}

static uint64_t
ratio_cap(const struct xctx *x)
{
	uint64_t base = x->budget->top_size;

	if (base < EXPAND_RATIO_FLOOR)
		base = EXPAND_RATIO_FLOOR;
	if (x->lim->max_ratio != 0 && base > UINT64_MAX / x->lim->max_ratio)
		return UINT64_MAX;
	return base * x->lim->max_ratio;
}

/* 1 if a shared budget is spent (and was reported where it ran out). */
static int
budget_spent(const struct xctx *x)
{
	const struct cbp_expand_budget *b = x->budget;

	return b->members > x->lim->max_members || b->bytes > x->lim->total_max ||
	    b->bytes > ratio_cap(x);
}

static void
report_bytes_spent(struct xctx *x, const char *member)
{
	char msg[160];

	if (x->budget->bytes > x->lim->total_max)
		snprintf(msg, sizeof msg, "more than %llu bytes expanded from "
		    "one archive: the rest is not scanned",
		    (unsigned long long)x->lim->total_max);
	else
		snprintf(msg, sizeof msg, "expansion ratio above %u: possible "
		    "archive bomb", x->lim->max_ratio);
	problem(x, member, CBP_REASON_LIMIT, msg);
}

static int
icontains(const char *s, const char *w)
{
	return s != NULL && strcasestr(s, w) != NULL;
}

/*
 * Map the archive's current error to a reason and a code.  Our own read
 * error wins (the archive is fine, the file is not); libarchive has no
 * encryption errno, so encryption is recognised by its messages
 * ("Passphrase required", "...is encrypted, but currently not supported"),
 * and, when the first header failed, by the format's own answer.
 *
 * first_header must be 0 when the open failed: libarchive 3.6 then leaves
 * its format pointer one past its format table, and
 * archive_read_has_encrypted_entries() reads and calls through it (found
 * by fuzz_expand).
 */
static int
classify(struct xctx *x, enum cbp_reason *reason, int first_header)
{
	const char *msg = archive_error_string(x->a);

	if (x->rd.err != 0) {
		*reason = CBP_REASON_IO;
		return CBP_EIO;
	}
	if (icontains(msg, "encrypt") || icontains(msg, "passphrase") ||
	    (first_header && archive_read_has_encrypted_entries(x->a) > 0)) {
		*reason = CBP_REASON_ENCRYPTED;
		return CBP_EENCRYPTED;
	}
	if (archive_errno(x->a) == ENOMEM) {
		*reason = CBP_REASON_LIMIT;
		return CBP_ELIMIT;
	}
	*reason = CBP_REASON_CORRUPT;
	return CBP_ECORRUPT;
}

/*
 * Report damaged gzip data once: on the member being read when it showed
 * (as libarchive's own errors are), else on the raw member when the stream
 * held one, else on the archive.
 */
static int
gz_report(struct xctx *x, const char *member)
{
	int raw = x->raw || (x->a != NULL && archive_format(x->a) != 0 &&
	    (archive_format(x->a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW);

	if (member == NULL && raw)
		member = x->raw_name;
	if (!x->gz_reported) {
		x->gz_reported = 1;
		problem(x, member, CBP_REASON_CORRUPT, cbp_gunzip_error(x->gz));
	}
	return CBP_ECORRUPT;
}

/* Report the archive's current error; returns the code for it. */
static int
report_error(struct xctx *x, const char *member, int first_header)
{
	enum cbp_reason reason;
	const char *msg = x->rd.err != 0 ? x->rd.msg : archive_error_string(x->a);
	int code;

	/* What libarchive says after damaged gzip ended its input early
	 * ("truncated tar archive") is that damage: say it once, as such. */
	if (x->gz_failed && x->rd.err == 0)
		return gz_report(x, member);
	code = classify(x, &reason, first_header);

	if (msg == NULL || *msg == '\0')
		msg = "archive is damaged";
	problem(x, member, reason, msg);
	return code;
}

/* ---- opening -------------------------------------------------------- */

static int
is_compression(int code)
{
	switch (code) {
	case ARCHIVE_FILTER_GZIP:
	case ARCHIVE_FILTER_BZIP2:
	case ARCHIVE_FILTER_COMPRESS:
	case ARCHIVE_FILTER_LZMA:
	case ARCHIVE_FILTER_XZ:
	case ARCHIVE_FILTER_LZIP:
	case ARCHIVE_FILTER_LZ4:
	case ARCHIVE_FILTER_ZSTD:
		return 1;
	default:
		return 0;
	}
}

/* Compression layers over the content (gz of xz: 2): ours and libarchive's. */
static int
compression_layers(const struct xctx *x)
{
	struct archive *a = x->a;
	int i, n = archive_filter_count(a), layers = x->use_gz;

	for (i = 0; i < n; i++)
		if (is_compression(archive_filter_code(a, i)))
			layers++;
	return layers;
}

/*
 * Create x->a and open it on the object.  Returns the libarchive status of
 * the open, or ARCHIVE_FATAL with *nomem set when archive_read_new or a
 * registration ran out of memory.
 */
/*
 * What an open may find.  A compressed stream (gzip, xz ...) is opened with
 * every archive format plus "raw" in one pass: a tar inside wins the bid,
 * anything else comes out as one raw member.  Trying the archive formats
 * first and reopening raw after they failed decompressed the head of every
 * plain .gz twice; /usr/share alone holds 24k of them.
 */
enum open_mode { OPEN_FORMATS, OPEN_RAW, OPEN_FORMATS_OR_RAW };

static int
open_archive(struct xctx *x, enum open_mode mode, int *nomem)
{
	/* Filters: everything of filter_all except the external programs. */
	static int (*const filters[])(struct archive *) = {
		archive_read_support_filter_gzip, archive_read_support_filter_bzip2,
		archive_read_support_filter_xz, archive_read_support_filter_lzma,
		archive_read_support_filter_lzip, archive_read_support_filter_zstd,
		archive_read_support_filter_lz4, archive_read_support_filter_compress,
		archive_read_support_filter_uu, archive_read_support_filter_rpm,
	};
	/* Formats: everything of format_all except mtree (see the top). */
	static int (*const formats[])(struct archive *) = {
		archive_read_support_format_ar, archive_read_support_format_cpio,
		archive_read_support_format_empty, archive_read_support_format_lha,
		archive_read_support_format_tar, archive_read_support_format_xar,
		archive_read_support_format_7zip, archive_read_support_format_cab,
		archive_read_support_format_rar, archive_read_support_format_rar5,
		archive_read_support_format_iso9660, archive_read_support_format_zip,
		archive_read_support_format_warc,
	};
	struct archive *a;
	size_t i;

	*nomem = 0;
	x->a = a = archive_read_new();
	if (a == NULL)
		goto nomem;
	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if (filters[i](a) == ARCHIVE_FATAL)
			goto nomem;
	if (mode == OPEN_RAW) {
		if (archive_read_support_format_raw(a) == ARCHIVE_FATAL ||
		    archive_read_support_format_empty(a) == ARCHIVE_FATAL)
			goto nomem;
	} else {
		for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
			if (formats[i](a) == ARCHIVE_FATAL)
				goto nomem;
		/* raw bids lowest: it wins only when no archive format does. */
		if (mode == OPEN_FORMATS_OR_RAW &&
		    archive_read_support_format_raw(a) == ARCHIVE_FATAL)
			goto nomem;
	}

	/* Each open reads from the start: a reopen must not inherit the offset. */
	x->rd.off = 0;
	x->rd.err = 0;
	if (x->use_gz) {
		/* libarchive sees the decompressed bytes; no seeking in those. */
		cbp_gunzip_free(x->gz);
		x->gz_mem_given = 0;
		if ((x->gz = cbp_gunzip_new(gz_source, x)) == NULL ||
		    (x->gz_out == NULL &&
		    (x->gz_out = malloc(EXPAND_GZ_OUT)) == NULL))
			goto nomem;
		if (archive_read_set_callback_data(a, x) != ARCHIVE_OK ||
		    archive_read_set_read_callback(a, gz_read) != ARCHIVE_OK)
			return ARCHIVE_FATAL;
		return archive_read_open1(a);
	}
	if (x->o->mem != NULL)
		return archive_read_open_memory(a, x->o->mem, x->o->mem_len);
	if (archive_read_set_callback_data(a, &x->rd) != ARCHIVE_OK ||
	    archive_read_set_read_callback(a, rd_read) != ARCHIVE_OK ||
	    archive_read_set_skip_callback(a, rd_skip) != ARCHIVE_OK ||
	    archive_read_set_seek_callback(a, rd_seek) != ARCHIVE_OK)
		return ARCHIVE_FATAL;
	return archive_read_open1(a);

nomem:
	*nomem = 1;
	return ARCHIVE_FATAL;
}

/* Does name end in suffix (ignoring case) with something before it? */
static int
ends_with(const char *name, size_t len, const char *suffix)
{
	size_t sl = strlen(suffix);

	return len > sl && strncasecmp(name + len - sl, suffix, sl) == 0;
}

/*
 * The raw member's name: the object's name minus one compression suffix
 * per compression layer ("a.txt.xz.gz" -> "a.txt"; "x.tgz" -> "x.tar"),
 * or "data" when the name has none.  Returns NULL only on ENOMEM.
 */
static char *
raw_member_name(const char *name, int layers)
{
	static const struct {
		const char *suffix, *becomes;
	} sfx[] = {
		{ ".tgz", ".tar" }, { ".taz", ".tar" }, { ".tbz", ".tar" },
		{ ".tbz2", ".tar" }, { ".tb2", ".tar" }, { ".txz", ".tar" },
		{ ".tlz", ".tar" }, { ".tzst", ".tar" },
		{ ".gz", "" }, { ".gzip", "" }, { ".z", "" }, { ".bz2", "" },
		{ ".bz", "" }, { ".bzip2", "" }, { ".xz", "" }, { ".lzma", "" },
		{ ".lz", "" }, { ".zst", "" }, { ".zstd", "" }, { ".lz4", "" },
	};
	const char *becomes = "";
	size_t len, i, bl;
	int stripped = 0;
	char *out;

	len = name != NULL ? strlen(name) : 0;
	while (stripped < layers && *becomes == '\0') {
		for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
			if (ends_with(name, len, sfx[i].suffix))
				break;
		if (i == sizeof(sfx) / sizeof(sfx[0]))
			break;
		len -= strlen(sfx[i].suffix);
		becomes = sfx[i].becomes;
		stripped++;
	}
	if (stripped == 0)
		return strdup("data");
	bl = strlen(becomes);
	if ((out = malloc(len + bl + 1)) == NULL)
		return NULL;
	memcpy(out, name, len);
	memcpy(out + len, becomes, bl + 1);
	return out;
}

/* ---- members -------------------------------------------------------- */

static const char *
entry_name(struct xctx *x, struct archive_entry *e)
{
	const char *p;

	if (x->raw || (x->raw_name != NULL &&
	    (archive_format(x->a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW))
		return x->raw_name;
	p = archive_entry_pathname_utf8(e);
	if (p == NULL)
		p = archive_entry_pathname(e);
	if (p == NULL)
		return "?";
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	return *p != '\0' ? p : "?";
}

/* Make room for at least one more byte in the member buffer. */
static int
grow_member_buf(struct xctx *x, size_t len)
{
	size_t cap = x->lim->member_max, want;
	unsigned char *p;

	if (len < x->mbuf_alloc)
		return CBP_OK;
	want = x->mbuf_alloc < EXPAND_CHUNK ? EXPAND_CHUNK :
	    x->mbuf_alloc > SIZE_MAX / 2 ? SIZE_MAX : x->mbuf_alloc * 2;
	if (want > cap)
		want = cap;
	if (want <= len)
		return CBP_ELIMIT;	/* caller checks the cap first; defensive */
	if ((p = realloc(x->mbuf, want)) == NULL)
		return CBP_ENOMEM;
	x->mbuf = p;
	x->mbuf_alloc = want;
	return CBP_OK;
}

/*
 * Read the current entry's data.  With keep, up to member_max bytes go to
 * x->mbuf; everything else is read into scratch and dropped, but counted,
 * because that is what decompression cost.  Stops at the end of the data,
 * at an error (m->la) or when a shared budget runs out (m->spent).
 */
static int
read_entry_data(struct xctx *x, int keep, struct mread *m)
{
	int retries = 0;

	memset(m, 0, sizeof *m);
	for (;;) {
		unsigned char *dst;
		size_t want;
		la_ssize_t n;
		int r;

		if (keep && m->len < x->lim->member_max) {
			if ((r = grow_member_buf(x, m->len)) != CBP_OK)
				return r;
			dst = x->mbuf + m->len;
			want = x->mbuf_alloc - m->len;
			if (want > EXPAND_CHUNK)
				want = EXPAND_CHUNK;
		} else {
			dst = x->scratch;
			want = EXPAND_CHUNK;
		}
		n = archive_read_data(x->a, dst, want);
		if (n == 0) {
			m->end = 1;
			break;
		}
		if (n < 0) {
			if ((n == ARCHIVE_WARN || n == ARCHIVE_RETRY) &&
			    ++retries <= EXPAND_MAX_DATA_RETRIES)
				continue;
			m->la = n == ARCHIVE_FATAL ? ARCHIVE_FATAL : ARCHIVE_FAILED;
			break;
		}
		retries = 0;
		m->total += (uint64_t)n;
		x->budget->bytes = x->budget->bytes > UINT64_MAX - (uint64_t)n ?
		    UINT64_MAX : x->budget->bytes + (uint64_t)n;
		if (dst != x->scratch)
			m->len += (size_t)n;
		else if (keep)
			m->cap_hit = 1;
		if (budget_spent(x)) {
			m->spent = 1;
			break;
		}
	}
	return CBP_OK;
}

/*
 * Hand bytes to the callback as an in-memory member object.  Its member
 * chain is the parent's plus name, allocated for the call and freed after.
 */
static int
deliver_mem(struct xctx *x, const char *name, const unsigned char *mem,
    size_t len, uint64_t size, int partial, int64_t mtime, int *stop)
{
	struct cbp_object mo;
	const char **chain;
	size_t n = x->o->nmember;

	if (n >= SIZE_MAX / sizeof(*chain) - 1)
		return CBP_ENOMEM;
	if ((chain = malloc((n + 1) * sizeof(*chain))) == NULL)
		return CBP_ENOMEM;
	if (n > 0)
		memcpy(chain, x->o->member, n * sizeof(*chain));
	chain[n] = name;

	memset(&mo, 0, sizeof mo);
	mo.fd = -1;
	mo.path = x->o->path;
	mo.member = chain;
	mo.nmember = n + 1;
	mo.name = name;
	mo.depth = x->o->depth + 1;
	mo.mtime = mtime;
	mo.mem = len > 0 ? mem : empty_member;
	mo.mem_len = len;
	mo.mem_partial = partial;
	mo.size = size;

	*stop = x->ops->member(x->arg, &mo) != 0;
	free(chain);
	return CBP_OK;
}

/* Hand one archive entry's data (x->mbuf) to the callback. */
static int
deliver(struct xctx *x, const char *name, struct archive_entry *e,
    const struct mread *m, int *stop)
{
	int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
	int64_t mtime = archive_entry_mtime_is_set(e) ?
	    (int64_t)archive_entry_mtime(e) : CBP_MTIME_UNKNOWN;
	uint64_t size;

	/* A raw member of our gzip: its header's time, as libarchive gives. */
	if (mtime == CBP_MTIME_UNKNOWN && x->use_gz && name == x->raw_name &&
	    gz_header_mtime(x->o) != 0)
		mtime = gz_header_mtime(x->o);
	/* The real length when we saw it all, else what the header declares. */
	if (m->end || declared < 0 || (uint64_t)declared < m->total)
		size = m->total;
	else
		size = (uint64_t)declared;
	return deliver_mem(x, name, x->mbuf, m->len, size,
	    !m->end || m->cap_hit, mtime, stop);
}

/*
 * Bytes after the end of a gzip stream: gzip -d and libarchive ignore
 * them, which makes them a place to hide a file.  Unless they are zero
 * padding they are scanned as a member of their own, "@OFFSET:after-gzip"
 * (up to member_max of them).
 */
static int
scan_after_gzip(struct xctx *x)
{
	uint64_t end, have = x->o->mem != NULL ? x->o->mem_len : x->rd.size;
	const unsigned char *p;
	unsigned char *buf = NULL;
	size_t len, i, got = 0;
	char name[48];
	int stop = 0, r;

	/* A tar inside stops reading at its end marker: decode the rest
	 * (padding, normally), counted like any expanded bytes. */
	while (!cbp_gunzip_end(x->gz, &end)) {
		ssize_t n = cbp_gunzip_read(x->gz, x->gz_out, EXPAND_GZ_OUT);

		if (n < 0) {
			if (cbp_gunzip_source_failed(x->gz)) {
				problem(x, NULL, CBP_REASON_IO, x->rd.msg);
				return CBP_EIO;
			}
			x->gz_failed = 1;	/* reported by the caller */
			return CBP_OK;
		}
		x->budget->bytes += (uint64_t)n;
		if (budget_spent(x)) {
			report_bytes_spent(x, NULL);
			return CBP_ELIMIT;
		}
	}
	if (end >= have)
		return CBP_OK;
	len = have - end > x->lim->member_max ? x->lim->member_max :
	    (size_t)(have - end);
	if (x->o->mem != NULL) {
		p = x->o->mem + end;
	} else {
		struct cbp_error err = { 0 };

		if ((buf = malloc(len ? len : 1)) == NULL)
			return CBP_ENOMEM;
		r = cbp_read_at(x->o, end, buf, len, &got, &err);
		if (r == CBP_ENOMEM) {
			free(buf);
			return r;
		}
		if (r != CBP_OK || got < len) {
			problem(x, NULL, CBP_REASON_IO, r != CBP_OK ? err.message :
			    "file shrank while reading");
			free(buf);
			return CBP_EIO;
		}
		p = buf;
	}
	for (i = 0; i < len && p[i] == 0; i++)
		;
	r = CBP_OK;
	if (i == len && len < have - end) {
		/* Zeros as far as member_max reaches: the rest is unseen. */
		problem(x, NULL, CBP_REASON_LIMIT, "more than member_max bytes "
		    "after the gzip stream: the rest is not scanned");
		r = CBP_ELIMIT;
	} else if (i < len) {
		if (x->budget->members++ >= x->lim->max_members) {
			problem(x, NULL, CBP_REASON_LIMIT, "too many members: the "
			    "bytes after the gzip stream are not scanned");
			r = CBP_ELIMIT;
		} else {
			snprintf(name, sizeof name, "@%llu:after-gzip",
			    (unsigned long long)end);
			r = deliver_mem(x, name, p, len, have - end,
			    len < have - end, x->o->mtime, &stop);
			if (r == CBP_OK && len < have - end)
				problem(x, name, CBP_REASON_LIMIT, "more bytes "
				    "after the gzip stream than member_max: "
				    "scanned the first member_max");
		}
	}
	free(buf);
	return r;
}

/* Entries we deliver: regular files, and hard links that carry the data. */
static int
is_deliverable(struct archive_entry *e)
{
	mode_t type = archive_entry_filetype(e);

	if (archive_entry_hardlink(e) != NULL &&
	    (!archive_entry_size_is_set(e) || archive_entry_size(e) <= 0))
		return 0;	/* the data is delivered with its target */
	return type == AE_IFREG || type == 0;
}

/*
 * Process the current entry.  *stop is set when this archive must not go
 * on; the return is the code for that (or CBP_OK).
 */
static int
do_entry(struct xctx *x, struct archive_entry *e, int hdr, int *stop)
{
	const char *name = entry_name(x, e);
	struct mread m;
	char msg[160];
	int keep, r, code = CBP_OK;

	*stop = 0;
	/* The (max+1)th member is counted so enclosing levels see "spent". */
	if (x->budget->members >= x->lim->max_members) {
		x->budget->members++;
		snprintf(msg, sizeof msg, "more than %llu members in one archive: "
		    "the rest is not scanned", (unsigned long long)x->lim->max_members);
		problem(x, NULL, CBP_REASON_LIMIT, msg);
		*stop = 1;
		return CBP_ELIMIT;
	}
	x->budget->members++;

	if (hdr == ARCHIVE_FAILED) {
		/* This entry is unusable; the next may be fine. */
		(void)report_error(x, name, 0);
		return CBP_OK;
	}
	if (archive_entry_is_encrypted(e)) {
		/* No passphrase: report, and let libarchive skip the data. */
		problem(x, name, CBP_REASON_ENCRYPTED,
		    "encrypted member: content not scanned");
		return CBP_OK;
	}

	keep = is_deliverable(e);
	/* Directories, links and devices are not delivered, but whatever data
	 * they carry is still read and counted: skipping costs decompression
	 * as much as reading does. */
	if ((r = read_entry_data(x, keep, &m)) != CBP_OK) {
		*stop = 1;
		return r;
	}
	/* One record per member: a bomb usually hits both caps at once. */
	if (m.spent) {
		report_bytes_spent(x, name);
		*stop = 1;
		code = CBP_ELIMIT;
	} else if (m.cap_hit) {
		snprintf(msg, sizeof msg, "member larger than %zu bytes: scanned "
		    "the first %zu", x->lim->member_max, x->lim->member_max);
		problem(x, name, CBP_REASON_LIMIT, msg);
	}
	if (m.la != 0) {
		code = report_error(x, name, 0);
		if (m.la == ARCHIVE_FATAL)
			*stop = 1;
		else
			code = CBP_OK;	/* only this entry was lost */
	}
	/* Complete members, and the readable start of broken or cut ones. */
	if (keep && (m.end || m.len > 0)) {
		int cb_stop = 0;

		if ((r = deliver(x, name, e, &m, &cb_stop)) != CBP_OK) {
			*stop = 1;
			return r;
		}
		if (cb_stop && !*stop) {
			*stop = 1;
			code = CBP_OK;
		}
	}
	if (x->mbuf_alloc > EXPAND_KEEP_BUF) {
		free(x->mbuf);
		x->mbuf = NULL;
		x->mbuf_alloc = 0;
	}
	return code;
}

int
cbp_expand_object(struct cbp_object *o, const struct cbp_expand_limits *lim,
    struct cbp_expand_budget *budget, const struct cbp_expand_ops *ops,
    void *arg)
{
	struct xctx x;
	struct archive_entry *e;
	char msg[96];
	int r, ret = CBP_OK, nomem, retries = 0, headers = 0, stop;

	if (o == NULL || lim == NULL || budget == NULL || ops == NULL ||
	    ops->member == NULL || ops->problem == NULL ||
	    (o->fd < 0 && o->mem == NULL))
		return CBP_EINVAL;

	memset(&x, 0, sizeof x);
	x.o = o;
	x.lim = lim;
	x.budget = budget;
	x.ops = ops;
	x.arg = arg;
	x.rd.fd = o->fd;
	x.rd.size = o->size;

	if (budget->top_size == 0 && o->depth == 0)
		budget->top_size = o->size;
	/* Spent at an inner level: already reported there. */
	if (budget_spent(&x))
		return CBP_ELIMIT;
	if (o->depth >= lim->max_depth) {
		snprintf(msg, sizeof msg, "archive nesting deeper than %u",
		    lim->max_depth);
		problem(&x, NULL, CBP_REASON_LIMIT, msg);
		return CBP_ELIMIT;
	}

	if ((x.scratch = malloc(EXPAND_CHUNK)) == NULL ||
	    (o->mem == NULL && (x.rd.buf = malloc(EXPAND_READ_BUF)) == NULL)) {
		ret = CBP_ENOMEM;
		goto out;
	}

	x.use_gz = at(o->head, o->head_len, 0, "\x1f\x8b\x08", 3);
	r = open_archive(&x, compressed_stream(o->head, o->head_len) ?
	    OPEN_FORMATS_OR_RAW : OPEN_FORMATS, &nomem);
	if (r >= ARCHIVE_WARN && !nomem && compression_layers(&x) > 0 &&
	    (x.raw_name = raw_member_name(o->name, compression_layers(&x))) == NULL) {
		ret = CBP_ENOMEM;
		goto out;
	}
	if (r == ARCHIVE_FATAL && !nomem && x.rd.err == 0 &&
	    archive_errno(x.a) == EXPAND_ERRNO_FILE_FORMAT &&
	    compression_layers(&x) > 0) {
		int layers;
raw:
		/* A compressed stream with no archive inside: one raw member. */
		layers = compression_layers(&x);

		archive_read_free(x.a);
		x.a = NULL;
		x.raw = 1;
		free(x.raw_name);
		if ((x.raw_name = raw_member_name(o->name, layers)) == NULL) {
			ret = CBP_ENOMEM;
			goto out;
		}
		r = open_archive(&x, OPEN_RAW, &nomem);
	}
	if (nomem) {
		ret = CBP_ENOMEM;
		goto out;
	}
	if (r < ARCHIVE_WARN) {
		ret = report_error(&x, NULL, 0);	/* not 1: see classify() */
		goto out;
	}

	for (;;) {
		if (budget_spent(&x)) {
			ret = CBP_ELIMIT;	/* reported by the level that spent it */
			break;
		}
		r = archive_read_next_header(x.a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_RETRY) {
			/* tar resynchronising after garbage: say so once. */
			if (retries++ == 0)
				(void)report_error(&x, NULL, 0);
			if (retries > EXPAND_MAX_HDR_RETRIES) {
				ret = CBP_ECORRUPT;
				break;
			}
			continue;
		}
		if (r == ARCHIVE_FATAL) {
			ret = report_error(&x, NULL, headers == 0);
			break;
		}
		retries = 0;
		headers++;
		ret = do_entry(&x, e, r, &stop);
		if (stop)
			break;
	}
	/*
	 * A compressed stream whose data begins with 1 KiB of zeros reads as
	 * an empty tar (two zero blocks end a tar archive).  An empty tar
	 * inside gzip is rare; hiding content behind zeros must not work:
	 * read the stream again as one raw member.
	 */
	if (ret == CBP_OK && r == ARCHIVE_EOF && headers == 0 && !x.raw &&
	    compression_layers(&x) > 0 &&
	    (archive_format(x.a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR) {
		x.rd.off = 0;
		goto raw;
	}

	if (ret == CBP_OK && x.use_gz && !x.gz_failed)
		ret = scan_after_gzip(&x);
	if (x.gz_failed && !x.gz_reported && x.rd.err == 0) {
		int r2 = gz_report(&x, NULL);

		if (ret == CBP_OK)
			ret = r2;
	}
out:
	if (x.a != NULL)
		archive_read_free(x.a);
	cbp_gunzip_free(x.gz);
	free(x.gz_out);
	free(x.raw_name);
	free(x.mbuf);
	free(x.rd.buf);
	free(x.scratch);
	return ret;
}
