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
 * What the object is comes from identification (cbp_identify.h), never
 * from magic numbers of our own: whether it is gzip (decoded by
 * cbp_gunzip), a compressed stream (a stream with no archive inside is one
 * raw member), and where the container starts.  A container behind an
 * executable stub or padding (id->offset > 0) is read from there: the fd
 * callbacks add the offset to every pread and take the object's size less
 * it as the end, a memory object is opened on the bytes from the offset,
 * so libarchive sees an archive that starts at 0 and the stub costs
 * nothing.  A container found by a probe (id->hidden) is offered to its
 * own reader only.
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
 * Member data is read with archive_read_data_block(), as bsdtar does:
 * archive_read_data() drops the bytes of a call that ends in a warning (a
 * stored zip member longer than its header says came out empty) and reads
 * freed memory on a RAR5 test file of libarchive's.  Each block is copied
 * into a buffer that grows as bytes arrive (never from the size a header
 * declares), up to member_max, at the offset the block names: the holes of
 * a sparse member are zeros, filled only as far as member_max.  Beyond
 * member_max the rest is still read and counted but not copied, so the
 * budgets see every byte that was decompressed and a bomb hidden behind a
 * large member is still caught.  A member of an archive held in memory
 * whose data is one block inside that memory (stored, uncompressed) is
 * delivered from there, with no copy.  Members are never written anywhere;
 * their names are display strings.
 *
 * Errors follow bsdtar's read loop: ARCHIVE_WARN is reported ("corrupt",
 * on the member: a bad CRC, data longer than declared) and the bytes it came
 * with are kept, ARCHIVE_FAILED costs the current entry (reported, then on
 * to the next), ARCHIVE_FATAL ends the archive (reported, naming the member
 * it hit or the last one read, and saying the rest was not read).  Every
 * problem goes to ops->problem exactly once; members read before the damage
 * are delivered, and the damaged member's first bytes too (mem_partial).
 * Problems about one top-level archive are capped (CBP_ARCHIVE_PROBLEMS in
 * the shared budget); the outermost level ends with one record counting
 * those left out.
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
 * Member names: libarchive converts them through the character type of
 * the calling thread's locale, and in the C locale (the process's, and
 * cron's) UTF-8 names become "?" and LHA names in CP932 or UTF-16 fail.
 * So every libarchive call runs under a fixed C.UTF-8 character type,
 * whatever the caller's environment says, set for this thread with
 * uselocale() and put back around each callback: the rest of the scan
 * keeps the C locale, where fnmatch() and libmagic work byte by byte (a
 * process-wide UTF-8 LC_CTYPE made fnmatch() convert every name to wide
 * characters: 9% more instructions on a tree of jars).
 *
 * Entries of a top-level archive can be passed by (ops->want, asked right
 * after the header and the max_members count, before any data is read):
 * their data is skipped with archive_read_data_skip, which for zip, tar,
 * cpio and iso9660 is a seek.  So one archive can be read in phases by
 * several workers, each taking its own members (scan.c), and a worker that
 * resumes an archive after a member that killed its predecessor passes the
 * members before it without decompressing them again.  Every phase reads
 * every header and counts it, so all of them stop at the same member when
 * max_members is reached, and each gets its share of the byte budgets and
 * of the problem cap (budget->shares).
 *
 * No static or global mutable state: the member callback calls us again
 * for archives inside archives, and scan workers run in parallel.  (The
 * one exception, that locale, is created once and never changes.)
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
#include <locale.h>
#include <pthread.h>
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
/* First size of the member buffer; it doubles from there. */
#define EXPAND_CHUNK (64 * CBP_KIB)
/* Zeros filled into a sparse member's hole between budget checks. */
#define EXPAND_HOLE_CHUNK CBP_MIB
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
/* Calls to read_data_block in a row that give ARCHIVE_RETRY or a warning
 * with no bytes. */
#define EXPAND_MAX_DATA_RETRIES 16
/*
 * ... and that give ARCHIVE_OK with no bytes.  RAR5 answers so while a
 * filter waits for its whole range (up to 4 MiB of window) to be decoded,
 * at least one byte per call, so a sound member never comes near this;
 * it only stops a reader that has stopped making progress.
 */
#define EXPAND_MAX_EMPTY_BLOCKS ((uint64_t)1 << 24)
/*
 * libarchive stacks at most this many filters (MAX_NUMBER_FILTERS in its
 * archive_read.c, not exported) and then fails the open with "Input
 * requires too many filters"; our own gzip decoder adds one layer.
 */
#define EXPAND_LA_MAX_FILTERS 25

/*
 * archive.h leaves ARCHIVE_ERRNO_FILE_FORMAT private; on POSIX systems it
 * is EILSEQ, which is what "Unrecognized archive format" carries.
 */
#define EXPAND_ERRNO_FILE_FORMAT EILSEQ

/* Source for the fd path: pread() at our own offset, never the fd's. */
struct rd {
	int fd;
	uint64_t base;		/* where the container starts in the file */
	uint64_t off;		/* from base */
	uint64_t size;		/* end of the object as fstat() saw it, less base */
	unsigned char *buf;	/* EXPAND_READ_BUF bytes */
	int err;		/* errno of a read failure, 0 if none */
	char msg[128];		/* its text: libarchive may overwrite its own copy */
};

struct xctx {
	struct cbp_object *o;
	const struct cbp_ident *id;	/* what identification said, or NULL */
	const unsigned char *mem;	/* memory object: from the container's start */
	size_t mem_len;
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

	unsigned char *mbuf;		/* the current member (owned, reused) */
	size_t mbuf_alloc;
	char *last;			/* name of the last member read (owned) */
	uint64_t entries;		/* entries of a top-level archive so far */
	size_t last_alloc;
	locale_t names;			/* C.UTF-8 for libarchive, or 0 */
	locale_t caller;		/* the thread's locale when we were called */
};

/* What reading one entry's data produced. */
struct mread {
	const unsigned char *data;	/* the bytes kept: x->mbuf, or direct */
	size_t len;		/* bytes kept (data and filled holes) */
	uint64_t total;		/* the member's length: end of its last block */
	int end;		/* the entry's data was read to its end */
	int cap_hit;		/* more than member_max bytes: only len kept */
	int spent;		/* a shared budget ran out while reading */
	int la;			/* libarchive error that ended the read, or 0 */
	int direct;		/* data is a block inside x->o->mem, not copied */
	int keep;		/* the data is wanted (else only counted) */
	uint64_t skipped;	/* bytes dropped from the front (HTTP headers) */
	char warn[160];		/* libarchive's first warning, "" if none */
};

static const unsigned char empty_member[1];

static int entry_wanted(struct xctx *x, const char *name);

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
		n = pread(r->fd, r->buf, want, (off_t)(r->base + r->off));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = errno;
		snprintf(r->msg, sizeof r->msg, "read error at offset %llu: %s",
		    (unsigned long long)(r->base + r->off), strerror(r->err));
		return -1;
	}
	if (n == 0) {
		/* Short of the size fstat() reported: the file shrank. */
		r->err = EIO;
		snprintf(r->msg, sizeof r->msg, "file shrank while reading "
		    "(ends at %llu of %llu bytes)",
		    (unsigned long long)(r->base + r->off),
		    (unsigned long long)(r->base + r->size));
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

/* ---- the character type for names ----------------------------------- */

static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static locale_t names_locale;		/* written once, by names_init */

static void
names_init(void)
{
	static const char *const utf8[] = { "C.UTF-8", "C.utf8", "en_US.UTF-8" };
	size_t i;

	/* Without any UTF-8 locale installed, names stay as C gives them. */
	for (i = 0; i < sizeof(utf8) / sizeof(utf8[0]) &&
	    names_locale == (locale_t)0; i++)
		names_locale = newlocale(LC_CTYPE_MASK, utf8[i], (locale_t)0);
}

/* Around a callback (enter = 1) the caller's locale, after it ours. */
static void
callback_locale(const struct xctx *x, int enter)
{
	if (x->names != (locale_t)0)
		(void)uselocale(enter ? x->caller : x->names);
}

/* One phase's part of a budget (cbp_expand.h: shares), rounded up. */
static uint64_t
share_of(uint64_t v, unsigned shares)
{
	if (shares <= 1)
		return v;
	return v / shares + (v % shares != 0);
}

int
cbp_expand_budget_problem(struct cbp_expand_budget *b)
{
	if (b == NULL)
		return 1;
	if (b->problems >= share_of(CBP_ARCHIVE_PROBLEMS, b->shares)) {
		b->problems_dropped++;
		return 0;
	}
	b->problems++;
	return 1;
}

static void
problem(struct xctx *x, const char *member, enum cbp_reason reason,
    const char *detail)
{
	char trimmed[512];
	size_t n = strlen(detail);

	/* The archive itself is another phase's to report (cbp_expand.h). */
	if (x->budget->members_only && member == NULL && x->o->depth == 0)
		return;
	if (!cbp_expand_budget_problem(x->budget))
		return;
	/* Some of libarchive's messages end in a newline. */
	if (n > 0 && n < sizeof trimmed && (detail[n - 1] == '\n' ||
	    detail[n - 1] == ' ')) {
		memcpy(trimmed, detail, n + 1);
		while (n > 0 && (trimmed[n - 1] == '\n' || trimmed[n - 1] == ' '))
			trimmed[--n] = '\0';
		detail = trimmed;
	}
	callback_locale(x, 1);
	x->ops->problem(x->arg, x->o, member, reason, detail);
	callback_locale(x, 0);
}

static uint64_t
ratio_cap(const struct xctx *x)
{
	uint64_t base = x->budget->top_size;

	if (base < EXPAND_RATIO_FLOOR)
		base = EXPAND_RATIO_FLOOR;
	if (x->lim->max_ratio != 0 && base > UINT64_MAX / x->lim->max_ratio)
		return UINT64_MAX;
	return share_of(base * x->lim->max_ratio, x->budget->shares);
}

static uint64_t
total_cap(const struct xctx *x)
{
	return share_of(x->lim->total_max, x->budget->shares);
}

/* 1 if a shared budget is spent (and was reported where it ran out). */
static int
budget_spent(const struct xctx *x)
{
	const struct cbp_expand_budget *b = x->budget;

	return b->members > x->lim->max_members || b->bytes > total_cap(x) ||
	    b->bytes > ratio_cap(x);
}

static void
report_bytes_spent(struct xctx *x, const char *member)
{
	char msg[160];

	if (x->budget->bytes > total_cap(x) && x->budget->shares > 1)
		snprintf(msg, sizeof msg, "more than %llu bytes expanded from "
		    "one archive (read in %u parts, %llu bytes each): the rest "
		    "is not scanned", (unsigned long long)x->lim->total_max,
		    x->budget->shares, (unsigned long long)total_cap(x));
	else if (x->budget->bytes > total_cap(x))
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

/* Compression nested deeper than libarchive stacks filters: a limit. */
static int
too_many_filters(struct xctx *x)
{
	return icontains(archive_error_string(x->a), "too many filters");
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
	if (archive_errno(x->a) == ENOMEM || too_many_filters(x)) {
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
		char detail[512];

		x->gz_reported = 1;
		/* An archive inside: nothing after the damage can be read. */
		snprintf(detail, sizeof detail, "%s%s", cbp_gunzip_error(x->gz),
		    raw ? "" : member != NULL ? "; the rest of the archive after "
		    "this member is not read" : "; the rest of the archive is "
		    "not read");
		problem(x, member, CBP_REASON_CORRUPT, detail);
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

	if (too_many_filters(x)) {
		char detail[160];

		snprintf(detail, sizeof detail, "more than %d nested compression "
		    "layers (the layer limit): not decompressed",
		    EXPAND_LA_MAX_FILTERS + x->use_gz);
		problem(x, member, reason, detail);
		return code;
	}
	if (msg == NULL || *msg == '\0')
		msg = "archive is damaged";
	problem(x, member, reason, msg);
	return code;
}

/*
 * Report the error that ended the archive before its end, after members
 * were read: on the member it hit (member != NULL) or, when the next header
 * could not be read, on the archive naming the last member read.  Either
 * way the record says the rest was not read.
 */
static int
report_fatal(struct xctx *x, const char *member)
{
	enum cbp_reason reason;
	const char *msg = x->rd.err != 0 ? x->rd.msg : archive_error_string(x->a);
	char detail[512];
	int code;

	if (x->gz_failed && x->rd.err == 0)
		return gz_report(x, member);
	code = classify(x, &reason, 0);
	if (msg == NULL || *msg == '\0')
		msg = "archive is damaged";
	if (member != NULL)
		snprintf(detail, sizeof detail, "%s; the rest of the archive "
		    "after this member is not read", msg);
	else
		snprintf(detail, sizeof detail, "%s, after member \"%s\"; the "
		    "rest of the archive is not read", msg,
		    x->last != NULL ? x->last : "?");
	problem(x, member, reason, detail);
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

/*
 * A container identification found by a probe (behind a stub, padding):
 * only its own reader is offered, from where it starts.  The others would
 * bid on the same bytes for nothing, and a stub's bytes must not be taken
 * for another format.  NULL for everything else: every reader bids, as
 * libarchive does for an archive named by its magic number.
 */
typedef int (*format_fn)(struct archive *);

static format_fn
hidden_format(const struct xctx *x)
{
	if (x->id == NULL || !x->id->hidden || x->id->kind != CBP_KIND_ARCHIVE)
		return NULL;
	switch (x->id->format) {
	case CBP_FMT_ZIP:
		return archive_read_support_format_zip;
	case CBP_FMT_7Z:
		return archive_read_support_format_7zip;
	case CBP_FMT_RAR:
		return archive_read_support_format_rar;	/* and rar5 */
	case CBP_FMT_ISO9660:
		return archive_read_support_format_iso9660;
	default:
		return NULL;
	}
}

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
	} else if (hidden_format(x) != NULL) {
		if (hidden_format(x)(a) == ARCHIVE_FATAL ||
		    (hidden_format(x) == archive_read_support_format_rar &&
		    archive_read_support_format_rar5(a) == ARCHIVE_FATAL))
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
	if (x->mem != NULL)
		return archive_read_open_memory(a, x->mem, x->mem_len);
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
	/*
	 * libarchive 3.6 reads errno after a failed name conversion and
	 * calls exit() when it says ENOMEM ("Fatal Internal Error in
	 * libarchive: No memory"), but an invalid name does not always set
	 * errno: a stale ENOMEM from any earlier failed allocation then ends
	 * the process.  Found by fuzz_expand (an ar member named "a\xeatxt").
	 */
	errno = 0;
	p = archive_entry_pathname_utf8(e);
	if (p == NULL)
		p = archive_entry_pathname(e);
	if (p == NULL)
		return "?";
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	return *p != '\0' ? p : "?";
}

/* Room for need bytes (need <= member_max) in the member buffer. */
static int
member_room(struct xctx *x, size_t need)
{
	size_t want;
	unsigned char *p;

	if (need <= x->mbuf_alloc)
		return CBP_OK;
	want = x->mbuf_alloc < EXPAND_CHUNK ? EXPAND_CHUNK : x->mbuf_alloc;
	while (want < need)
		want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
	if (want > x->lim->member_max)
		want = x->lim->member_max;
	if (want < need)
		return CBP_ELIMIT;	/* callers stay under the cap; defensive */
	if ((p = realloc(x->mbuf, want)) == NULL)
		return CBP_ENOMEM;
	x->mbuf = p;
	x->mbuf_alloc = want;
	return CBP_OK;
}

/* The member so far was delivered from the archive's memory: copy it. */
static int
member_undirect(struct xctx *x, struct mread *m)
{
	int r;

	if (!m->direct)
		return CBP_OK;
	if ((r = member_room(x, m->len)) != CBP_OK)
		return r;
	memcpy(x->mbuf, m->data, m->len);
	m->data = x->mbuf;
	m->direct = 0;
	return CBP_OK;
}

static void
count_bytes(struct xctx *x, uint64_t n)
{
	x->budget->bytes = x->budget->bytes > UINT64_MAX - n ? UINT64_MAX :
	    x->budget->bytes + n;
}

/*
 * Zeros for a hole of a sparse member, from m->len up to offset `to`, kept
 * only as far as cap.  Filled zeros count as expanded bytes (they cost
 * memory and every later stage reads them), a chunk at a time so that a
 * budget stops the filling (m->spent); a hole past the cap costs nothing
 * and is not counted.
 */
static int
member_hole(struct xctx *x, struct mread *m, size_t cap, uint64_t to)
{
	size_t end = to < cap ? (size_t)to : cap;
	int r;

	if (to > cap && m->keep)
		m->cap_hit = 1;
	if (end <= m->len)
		return CBP_OK;
	if ((r = member_undirect(x, m)) != CBP_OK)
		return r;
	while (m->len < end) {
		size_t n = end - m->len < EXPAND_HOLE_CHUNK ? end - m->len :
		    EXPAND_HOLE_CHUNK;

		if ((r = member_room(x, m->len + n)) != CBP_OK)
			return r;
		memset(x->mbuf + m->len, 0, n);
		count_bytes(x, n);
		m->len += n;
		m->data = x->mbuf;
		if (budget_spent(x)) {
			m->spent = 1;
			break;
		}
	}
	return CBP_OK;
}

/* Is p[0..n) inside the memory libarchive reads this archive from? */
static int
in_object_mem(const struct xctx *x, const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)x->o->mem;

	return x->o->mem != NULL && !x->use_gz && a >= lo &&
	    a - lo <= x->o->mem_len && n <= x->o->mem_len - (a - lo);
}

/*
 * One block of member data at offset off (off >= m->total, checked by the
 * caller).  With cap > 0, bytes below cap are kept.
 */
static int
member_block(struct xctx *x, struct mread *m, size_t cap, const void *buf,
    size_t size, uint64_t off)
{
	size_t n;
	int r;

	if ((r = member_hole(x, m, cap, off)) != CBP_OK || m->spent)
		return r;
	count_bytes(x, size);
	m->total = off + size;
	if (off >= cap) {
		m->cap_hit = m->keep;
		return CBP_OK;
	}
	n = size < cap - (size_t)off ? size : cap - (size_t)off;
	if (n < size)
		m->cap_hit = 1;
	/* The whole member so far is this block, inside our memory. */
	if (m->len == 0 && off == 0 && in_object_mem(x, buf, n)) {
		m->data = buf;
		m->len = n;
		m->direct = 1;
		return CBP_OK;
	}
	if ((r = member_undirect(x, m)) != CBP_OK ||
	    (r = member_room(x, (size_t)off + n)) != CBP_OK)
		return r;
	memcpy(x->mbuf + off, buf, n);
	m->len = (size_t)off + n;
	m->data = x->mbuf;
	return CBP_OK;
}

static int
is_format(const struct xctx *x, int base)
{
	return (archive_format(x->a) & ARCHIVE_FORMAT_BASE_MASK) == base;
}

/*
 * Read the current entry's data, block by block.  With keep, up to
 * member_max bytes are kept (m->data, m->len); everything else is only
 * counted, because that is what decompression cost.  Stops at the end of
 * the data, at an error (m->la) or when a shared budget runs out
 * (m->spent).  A warning is noted in m->warn and reading goes on.
 */
static int
read_entry_data(struct xctx *x, int keep, struct mread *m)
{
	size_t cap = keep ? x->lim->member_max : 0;
	uint64_t empty = 0;
	int idle = 0, r;

	memset(m, 0, sizeof *m);
	m->data = empty_member;
	m->keep = keep;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int st = archive_read_data_block(x->a, &buf, &size, &off);

		if (st == ARCHIVE_EOF) {
			/* tar names where a sparse file ends: a last hole. */
			if (is_format(x, ARCHIVE_FORMAT_TAR) && off > 0 &&
			    (uint64_t)off > m->total) {
				if ((r = member_hole(x, m, cap, (uint64_t)off)) != CBP_OK)
					return r;
				m->total = (uint64_t)off;
			}
			m->end = !m->spent;
			break;
		}
		if (st == ARCHIVE_WARN && m->warn[0] == '\0') {
			const char *w = archive_error_string(x->a);

			snprintf(m->warn, sizeof m->warn, "%s",
			    w != NULL && *w != '\0' ? w : "damaged member data");
		} else if (st < ARCHIVE_WARN) {
			m->la = st == ARCHIVE_FATAL ? ARCHIVE_FATAL : ARCHIVE_FAILED;
			break;
		}
		if (buf == NULL || size == 0) {
			/* ARCHIVE_RETRY, or no data yet (archive_read_data()
			 * loops on those too). */
			if ((st == ARCHIVE_OK ? ++empty > EXPAND_MAX_EMPTY_BLOCKS :
			    ++idle > EXPAND_MAX_DATA_RETRIES)) {
				archive_set_error(x->a, EXPAND_ERRNO_FILE_FORMAT,
				    "member data makes no progress");
				m->la = ARCHIVE_FAILED;
				break;
			}
			continue;
		}
		idle = 0;
		empty = 0;
		/* Offsets come from headers (sparse maps): check them. */
		if (off < 0 || (uint64_t)off < m->total ||
		    size > (uint64_t)INT64_MAX - (uint64_t)off) {
			archive_set_error(x->a, EXPAND_ERRNO_FILE_FORMAT,
			    "member data blocks out of order");
			m->la = ARCHIVE_FAILED;
			break;
		}
		if ((r = member_block(x, m, cap, buf, size, (uint64_t)off)) != CBP_OK)
			return r;
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

	callback_locale(x, 1);
	*stop = x->ops->member(x->arg, &mo) != 0;
	callback_locale(x, 0);
	free(chain);
	return CBP_OK;
}

/* Hand one archive entry's data (m->data) to the callback. */
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
	if (declared >= 0 && (uint64_t)declared >= m->skipped)
		declared -= (int64_t)m->skipped;
	/* The real length when we saw it all, else what the header declares. */
	if (m->end || declared < 0 || (uint64_t)declared < m->total)
		size = m->total;
	else
		size = (uint64_t)declared;
	return deliver_mem(x, name, m->data, m->len, size,
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
		snprintf(name, sizeof name, "@%llu:after-gzip",
		    (unsigned long long)end);
		if (x->budget->members++ >= x->lim->max_members) {
			problem(x, NULL, CBP_REASON_LIMIT, "too many members: the "
			    "bytes after the gzip stream are not scanned");
			r = CBP_ELIMIT;
		} else if (entry_wanted(x, name)) {
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

/*
 * A WARC response or request record holds the HTTP message as it was sent:
 * status line and headers, then the body, which is what was downloaded (the
 * picture).  The member is the body, so that it is identified by its own
 * first bytes; the headers end at the first empty line, looked for in the
 * first WARC_HTTP_HEAD bytes.  A chunked body stays as it is (its chunk
 * sizes would sit between the bytes); a compressed one is identified and
 * expanded as any member is.
 */
#define WARC_HTTP_HEAD (64 * CBP_KIB)

static void
warc_http_body(const struct xctx *x, struct mread *m)
{
	const unsigned char *end;
	size_t n, body;

	if (!is_format(x, ARCHIVE_FORMAT_WARC) || m->len < 5 ||
	    memcmp(m->data, "HTTP/", 5) != 0)
		return;
	n = m->len < WARC_HTTP_HEAD ? m->len : WARC_HTTP_HEAD;
	if ((end = memmem(m->data, n, "\r\n\r\n", 4)) == NULL)
		return;
	body = (size_t)(end - m->data) + 4;
	m->data += body;
	m->len -= body;
	m->total -= body;
	m->skipped = body;
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

/* Keep a copy of the member's name: the entry is cleared by the next
 * header, whose failure names the last member read. */
static int
remember_name(struct xctx *x, const char *name)
{
	size_t n = strlen(name) + 1;

	if (n > x->last_alloc) {
		char *p = realloc(x->last, n < 256 ? 256 : n);

		if (p == NULL)
			return CBP_ENOMEM;
		x->last = p;
		x->last_alloc = n < 256 ? 256 : n;
	}
	memcpy(x->last, name, n);
	return CBP_OK;
}

/*
 * Does the caller want the entry of a top-level archive it is about to
 * get (cbp_expand_ops.want)?  Entries of nested archives always are.
 */
static int
entry_wanted(struct xctx *x, const char *name)
{
	uint64_t index;
	int r;

	if (x->o->depth != 0)
		return 1;
	index = x->entries++;
	if (x->ops->want == NULL)
		return 1;
	callback_locale(x, 1);
	r = x->ops->want(x->arg, index, name);
	callback_locale(x, 0);
	return r != 0;
}

/*
 * An entry the caller passed by: its data skipped, not read (for zip, tar,
 * cpio and iso9660 a seek).  Its name is kept all the same, so that damage
 * after it is reported the same way by every phase.  What is wrong with the
 * entry is reported by the caller that reads it; only a skip that ends the
 * archive is said here (the rest is lost to this caller too).
 */
static int
pass_entry(struct xctx *x, const char *name, int hdr, int *stop)
{
	int r;

	if (hdr == ARCHIVE_FAILED)
		return CBP_OK;
	if ((r = remember_name(x, name)) != CBP_OK) {
		*stop = 1;
		return r;
	}
	if (archive_read_data_skip(x->a) == ARCHIVE_FATAL) {
		*stop = 1;
		return report_fatal(x, name);
	}
	return CBP_OK;
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
	int keep, r, code = CBP_OK, warned = 0;

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
	if (!entry_wanted(x, name))
		return pass_entry(x, name, hdr, stop);

	if (hdr == ARCHIVE_FAILED) {
		/* This entry is unusable; the next may be fine. */
		(void)report_error(x, name, 0);
		return CBP_OK;
	}
	if ((r = remember_name(x, name)) != CBP_OK) {
		*stop = 1;
		return r;
	}
	if (hdr == ARCHIVE_WARN && !x->gz_failed) {
		/* A damaged header that still named the member: say so, and
		 * scan what it holds.  One such record per member. */
		(void)report_error(x, name, 0);
		warned = 1;
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
	if (m.la == ARCHIVE_FATAL) {
		code = report_fatal(x, name);
		*stop = 1;
	} else if (m.la != 0) {
		(void)report_error(x, name, 0);	/* only this entry was lost */
	} else if (m.warn[0] != '\0' && !warned) {
		/* A bad CRC, more data than declared ...: the bytes are
		 * scanned all the same, and the member is named as damaged. */
		if (x->gz_failed && x->rd.err == 0)
			(void)gz_report(x, name);
		else
			problem(x, name, CBP_REASON_CORRUPT, m.warn);
	}
	if (keep)
		warc_http_body(x, &m);
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
cbp_expand_object(struct cbp_object *o, const struct cbp_ident *id,
    const struct cbp_expand_limits *lim, struct cbp_expand_budget *budget,
    const struct cbp_expand_ops *ops, void *arg)
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
	x.id = id;
	x.rd.fd = o->fd;
	x.rd.size = o->size;
	x.mem = o->mem;
	x.mem_len = o->mem_len;
	/* A container that starts past a stub or padding is read from there. */
	if (id != NULL && id->offset > 0) {
		uint64_t have = o->mem != NULL ? o->mem_len : o->size;

		if (id->offset >= have)
			return CBP_EINVAL;
		x.rd.base = id->offset;
		x.rd.size = o->size - id->offset;
		if (o->mem != NULL) {
			x.mem = o->mem + id->offset;
			x.mem_len = o->mem_len - (size_t)id->offset;
		}
	}

	if (budget->top_size == 0 && o->depth == 0)
		budget->top_size = o->size;
	budget->active++;
	(void)pthread_once(&names_once, names_init);
	x.names = names_locale;
	if (x.names != (locale_t)0)
		x.caller = uselocale(x.names);
	/* Spent at an inner level: already reported there. */
	if (budget_spent(&x)) {
		ret = CBP_ELIMIT;
		goto out;
	}
	if (o->depth >= lim->max_depth) {
		snprintf(msg, sizeof msg, "archive nesting deeper than %u",
		    lim->max_depth);
		problem(&x, NULL, CBP_REASON_LIMIT, msg);
		ret = CBP_ELIMIT;
		goto out;
	}

	if (o->mem == NULL && (x.rd.buf = malloc(EXPAND_READ_BUF)) == NULL) {
		ret = CBP_ENOMEM;
		goto out;
	}

	/*
	 * gzip is decoded by cbp_gunzip (it says why) when identification
	 * said gzip at the start; unidentified objects (id NULL) get
	 * libarchive's own filters, and a compressed stream with no archive
	 * inside is reopened raw below.
	 */
	x.use_gz = id != NULL && id->format == CBP_FMT_GZIP && id->offset == 0 &&
	    o->head != NULL && o->head_len >= 3 && o->head[2] == 8;
	r = open_archive(&x, id != NULL && id->kind == CBP_KIND_COMPRESSED ?
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
				archive_set_error(x.a, EXPAND_ERRNO_FILE_FORMAT,
				    "more than %d damaged blocks in a row",
				    EXPAND_MAX_HDR_RETRIES);
				ret = x.last != NULL ? report_fatal(&x, NULL) :
				    report_error(&x, NULL, 0);
				break;
			}
			continue;
		}
		if (r == ARCHIVE_FATAL) {
			/* After members were read, the rest is lost: say so. */
			ret = x.last != NULL ? report_fatal(&x, NULL) :
			    report_error(&x, NULL, headers == 0);
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
	free(x.last);
	free(x.rd.buf);
	if (x.names != (locale_t)0)
		(void)uselocale(x.caller);
	/* The top-level archive is done: count what the cap left out. */
	if (--budget->active == 0 && budget->problems_dropped > 0) {
		char more[160];

		snprintf(more, sizeof more, "%llu more unscannable records about "
		    "this archive were not written (at most %d per archive)",
		    (unsigned long long)budget->problems_dropped,
		    CBP_ARCHIVE_PROBLEMS);
		budget->problems_dropped = 0;
		ops->problem(arg, o, NULL, CBP_REASON_LIMIT, more);
	}
	return ret;
}
