/*
 * output.c — the record fan-out, and the escaping and time formatting every
 * sink shares.
 *
 * Fan-out.  struct cbp_output holds up to CBP_OUTPUT_SINKS sinks behind one
 * mutex.  Worker threads emit directly; the mutex makes one record reach
 * every sink before the next record starts, so a sink needs no lock of its
 * own and can keep a single reusable record buffer.  A failing sink returns
 * a code: the first one is kept in first_error and the other sinks still get
 * the record, because a full disk under --output must not also silence the
 * endpoint.  A failed write also sets the caller's cancel flag and every
 * record that some sink did not take is counted (lost), so main.c can say
 * how many records are missing.  Sinks never print diagnostics; main.c
 * reports first_error.
 *
 * Stamping.  Each record is copied and its meta filled here, under the
 * lock, before any sink sees it (so every sink writes the same values):
 * the run's scan_id, host and host_id, the time it was made, and the ids
 * of man/cbpscan.1 "RECORD IDS":
 *
 *   object_id = UUIDv8(SHA-256("cbpscan-object-v1" NUL host_id NUL type
 *               NUL path NUL member_1 NUL ... member_N NUL rule-or-reason))
 *   event_id  = UUIDv8(SHA-256("cbpscan-event-v1" NUL host_id NUL scan_id
 *               NUL type NUL object_id-or-empty NUL seq))
 *
 * where NUL is one zero byte between fields (no field can hold one: they
 * are C strings) and seq is how many earlier records of this run had the
 * same type and object_id, in decimal: "0" for nearly every record, so
 * anyone can recompute both ids from the record itself.  The seen table
 * that gives seq is bounded (CBP_OUTPUT_SEEN_MAX keys); a key met after it
 * is full gets "g" and the run's record number, which no counted seq can
 * equal, so event ids stay unique within a run whatever the memory.
 * The counts the summary reports are kept here too.
 *
 * Writing.  cbp_output_emit writes a record whole or not at all: one
 * write(2) of the whole line from the record buffer (continued if the
 * kernel takes less), and if a write fails after part of a record reached
 * a regular file, the file is truncated back to the end of the previous
 * record.  A sink stops at its first failure.  So a file written on a disk
 * that fills up ends with the last whole record, and a line cut in half
 * can never sit among valid ones later, when space comes back.
 *
 * Escaping.  File names on Unix are bytes, archive member names are
 * whatever the archive says, and both end up in JSON (which must be UTF-8)
 * and on a terminal (which obeys escape sequences).  No JSON library we
 * could use escapes non-UTF-8 bytes losslessly, and none appends to our
 * capped buffer in one linear pass, so both escapers are written here.
 * Both share one strict UTF-8 validator (Unicode Table 3-7) and copy runs
 * of bytes that need no escape with a single append, so the cost is linear
 * in the input with one buffer call per run or escape, never per byte.
 *
 *  - cbp_json_string: valid UTF-8 passes through; each byte that is not
 *    part of a well-formed sequence becomes \udcXX (surrogateescape).  A
 *    well-formed sequence can never encode U+DC80..U+DCFF (surrogates are
 *    rejected), so the mapping is reversible.  U+2028/U+2029 are escaped
 *    because JavaScript string literals end a line at them.
 *  - cbp_text_escape: anything that could move the cursor, change colours
 *    or reorder the line (C0/C1 controls, DEL, line/paragraph separators,
 *    the Unicode Bidi_Control characters) and any invalid byte becomes
 *    \xNN per byte; a literal backslash becomes \\ so the display can be
 *    read back unambiguously.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cbp_err.h"
#include "cbp_output.h"
#include "cbp_output_int.h"
#include "cbp_text.h"

static const char hexdigit[16] = "0123456789abcdef";

/* ---- fan-out ---------------------------------------------------------- */

int
cbp_output_init(struct cbp_output *o)
{
	memset(o, 0, sizeof(*o));
	if (pthread_mutex_init(&o->lock, NULL) != 0)
		return CBP_ENOMEM;
	return CBP_OK;
}

/* ---- record ids ----------------------------------------------------------- */

struct seen_slot {
	unsigned char key[16];		/* all zero: empty */
	uint32_t count;			/* records with this key so far */
};

struct cbp_output_seen {
	struct seen_slot *v;
	size_t size, n;			/* size: a power of two, or 0 */
};

int
cbp_output_identify(struct cbp_output *o, const char *scan_id,
    const char *host, const char *host_id)
{
	char *h;

	if (!cbp_uuid_valid(scan_id) || !cbp_uuid_valid(host_id) || host == NULL)
		return CBP_EINVAL;
	if ((h = strdup(host)) == NULL)
		return CBP_ENOMEM;
	pthread_mutex_lock(&o->lock);
	free(o->host);
	o->host = h;
	memcpy(o->scan_id, scan_id, 37);
	memcpy(o->host_id, host_id, 37);
	pthread_mutex_unlock(&o->lock);
	return CBP_OK;
}

void
cbp_output_get_counts(struct cbp_output *o, struct cbp_output_counts *c)
{
	pthread_mutex_lock(&o->lock);
	*c = o->counts;
	pthread_mutex_unlock(&o->lock);
}

/*
 * The hash of fields joined by single zero bytes.  A failure inside
 * OpenSSL (out of memory) leaves the digest all zero rather than
 * stopping the record: its ids are then wrong but the record is written,
 * and such a failure has already made the scan report "nomem" elsewhere.
 */
struct idhash {
	EVP_MD_CTX *ctx;
	int ok, nfields;
};

/*
 * The context is set up for SHA-256 once and then re-initialised with a
 * NULL type, which keeps the digest already fetched: with OpenSSL 3 a
 * fresh EVP_sha256() initialisation fetches the algorithm again each time,
 * about as costly as the hash of a record's few hundred bytes.
 */
static void
ih_begin(struct idhash *h, struct cbp_output *o)
{
	int fresh = 0;

	if (o->md == NULL && (o->md = EVP_MD_CTX_new()) != NULL)
		fresh = 1;
	h->ctx = o->md;
	h->nfields = 0;
	h->ok = h->ctx != NULL && EVP_DigestInit_ex(h->ctx,
	    fresh ? EVP_sha256() : NULL, NULL) == 1;
}

static void
ih_field(struct idhash *h, const char *s)
{
	static const unsigned char nul = 0;

	if (s == NULL)
		s = "";
	if (h->ok && h->nfields++ > 0)
		h->ok = EVP_DigestUpdate(h->ctx, &nul, 1) == 1;
	if (h->ok)
		h->ok = EVP_DigestUpdate(h->ctx, s, strlen(s)) == 1;
}

static void
ih_end(struct idhash *h, unsigned char d[32])
{
	unsigned int n = 0;

	if (!h->ok || EVP_DigestFinal_ex(h->ctx, d, &n) != 1 || n != 32)
		memset(d, 0, 32);
}

static void
seen_free(struct cbp_output_seen *t)
{
	if (t != NULL)
		free(t->v);
	free(t);
}

static uint64_t
key_hash(const unsigned char key[16])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));	/* already a hash: any 8 bytes do */
	return h;
}

/* Double the table; 0 or -1 (out of memory: the old one stays). */
static int
seen_grow(struct cbp_output_seen *t)
{
	size_t nsize = t->size ? t->size * 2 : 1024, i, j;
	struct seen_slot *nv;
	static const unsigned char zero[16];

	if ((nv = calloc(nsize, sizeof(*nv))) == NULL)
		return -1;
	for (i = 0; i < t->size; i++) {
		if (memcmp(t->v[i].key, zero, 16) == 0)
			continue;
		for (j = key_hash(t->v[i].key) & (nsize - 1);
		    memcmp(nv[j].key, zero, 16) != 0; j = (j + 1) & (nsize - 1))
			;
		nv[j] = t->v[i];
	}
	free(t->v);
	t->v = nv;
	t->size = nsize;
	return 0;
}

/*
 * seq for key: how many records of this run had it before, as decimal in
 * out; "g<record number>" when the key is new and cannot be kept.
 */
static void
next_seq(struct cbp_output *o, unsigned char key[16], char out[32])
{
	static const unsigned char zero[16];
	struct cbp_output_seen *t;
	size_t i;

	/* The all-zero key marks an empty slot; a digest that is all zero in
	 * its first 16 bytes (or a failed one) is moved off it. */
	if (memcmp(key, zero, 16) == 0)
		key[0] = 1;
	if (o->seen == NULL)
		o->seen = calloc(1, sizeof(*o->seen));
	if ((t = o->seen) == NULL)
		goto full;
	if (t->size > 0) {
		for (i = key_hash(key) & (t->size - 1);
		    memcmp(t->v[i].key, zero, 16) != 0; i = (i + 1) & (t->size - 1)) {
			if (memcmp(t->v[i].key, key, 16) == 0) {
				snprintf(out, 32, "%lu",
				    (unsigned long)t->v[i].count);
				if (t->v[i].count < UINT32_MAX)
					t->v[i].count++;
				return;
			}
		}
	}
	/* New key: keep the table at most half full. */
	if ((t->n + 1) * 2 > t->size &&
	    (t->size >= CBP_OUTPUT_SEEN_MAX * 2 || seen_grow(t) != 0))
		goto full;
	for (i = key_hash(key) & (t->size - 1);
	    memcmp(t->v[i].key, zero, 16) != 0; i = (i + 1) & (t->size - 1))
		;
	memcpy(t->v[i].key, key, 16);
	t->v[i].count = 1;
	t->n++;
	snprintf(out, 32, "0");
	return;
full:
	snprintf(out, 32, "g%llu", o->nrecords);
}

static double
wall_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Fill m for one record of type (with o->lock held).  path is NULL for a
 * record about no object (the summary): no object_id then.
 */
static void
stamp(struct cbp_output *o, struct cbp_record_meta *m, const char *type,
    const char *path, const char *const *member, size_t nmember,
    const char *what)
{
	unsigned char d[32], key[16];
	char seq[32];
	struct idhash h;
	size_t i;

	m->scan_id = o->scan_id;
	m->host = o->host;
	m->host_id = o->host_id;
	cbp_format_time_ms(o->clock != NULL ? o->clock() : wall_clock(), m->time);
	m->object_id[0] = '\0';
	if (path != NULL) {
		ih_begin(&h, o);
		ih_field(&h, "cbpscan-object-v1");
		ih_field(&h, o->host_id);
		ih_field(&h, type);
		ih_field(&h, path);
		for (i = 0; i < nmember; i++)
			ih_field(&h, member[i]);
		ih_field(&h, what);
		ih_end(&h, d);
		cbp_uuid_from_sha256(d, m->object_id);
		memcpy(key, d, sizeof(key));
	} else {
		/* Records about no object are told apart by type alone. */
		ih_begin(&h, o);
		ih_field(&h, type);
		ih_end(&h, d);
		memcpy(key, d, sizeof(key));
	}
	next_seq(o, key, seq);
	ih_begin(&h, o);
	ih_field(&h, "cbpscan-event-v1");
	ih_field(&h, o->host_id);
	ih_field(&h, o->scan_id);
	ih_field(&h, type);
	ih_field(&h, m->object_id);
	ih_field(&h, seq);
	ih_end(&h, d);
	cbp_uuid_from_sha256(d, m->event_id);
	o->nrecords++;
}

/*
 * Ownership passes to o on every call, success or not: when o is full, s is
 * closed here.  A NULL s (a failed *_new) gives CBP_ENOMEM, so callers can
 * write cbp_output_add(o, cbp_sink_jsonl_new(fp)) and check one code.
 */
int
cbp_output_add(struct cbp_output *o, struct cbp_sink *s)
{
	int r = CBP_ELIMIT;

	if (s == NULL)
		return CBP_ENOMEM;
	pthread_mutex_lock(&o->lock);
	if (o->nsinks < CBP_OUTPUT_SINKS) {
		o->sinks[o->nsinks++] = s;
		r = CBP_OK;
	}
	pthread_mutex_unlock(&o->lock);
	if (r != CBP_OK && s->ops->close != NULL)
		s->ops->close(s);
	return r;
}

/*
 * Called with o->lock held, right after a sink call returned r (so errno
 * is still the sink's).  A failed write stops the scan through o->cancel:
 * records that cannot be written are not worth producing, and a reader
 * that went away (cbpscan ... | head -1) should not wait for a whole scan.
 */
static void
keep_error(struct cbp_output *o, int r)
{
	int e = errno;

	if (r == CBP_OK)
		return;
	if (o->first_error == CBP_OK)
		o->first_error = r;
	if (r == CBP_EIO && o->write_errno == 0) {
		o->write_errno = e != 0 ? e : EIO;
		if (o->cancel != NULL)
			*o->cancel = 1;
	}
}

/*
 * One record to every sink, o->lock held; counted as lost if any sink did
 * not take it.
 */
#define FAN_OUT_LOCKED(o, op, arg) do {					\
	size_t i_;							\
	int lost_ = 0, r_;						\
									\
	for (i_ = 0; i_ < (o)->nsinks; i_++) {				\
		if ((o)->sinks[i_]->ops->op == NULL)			\
			continue;					\
		errno = 0;						\
		r_ = (o)->sinks[i_]->ops->op((o)->sinks[i_], (arg));	\
		if (r_ != CBP_OK) {					\
			keep_error((o), r_);				\
			lost_ = 1;					\
		}							\
	}								\
	(o)->lost += (unsigned long long)lost_;				\
} while (0)

/*
 * The entry points take the scan's record as it is (its meta unset: a
 * record from a worker process arrives the same way) and stamp a copy.
 */
void
cbp_output_finding(struct cbp_output *o, const struct cbp_finding *f)
{
	struct cbp_finding c = *f;

	pthread_mutex_lock(&o->lock);
	stamp(o, &c.meta, "finding", c.path != NULL ? c.path : "", c.member,
	    c.nmember, c.rule);
	o->counts.findings++;
	if ((unsigned)c.severity < CBP_SEV_COUNT)
		o->counts.severity[c.severity]++;
	if ((unsigned)c.disposition <= CBP_DISP_REVIEW)
		o->counts.disposition[c.disposition]++;
	if (cbp_finding_is_violation(&c))
		o->counts.violations++;
	FAN_OUT_LOCKED(o, finding, &c);
	pthread_mutex_unlock(&o->lock);
}

void
cbp_output_problem(struct cbp_output *o, const struct cbp_problem *p)
{
	struct cbp_problem c = *p;

	pthread_mutex_lock(&o->lock);
	stamp(o, &c.meta, "unscannable", c.path != NULL ? c.path : "",
	    c.member, c.nmember, cbp_reason_name(c.reason));
	o->counts.unscannable++;
	FAN_OUT_LOCKED(o, problem, &c);
	pthread_mutex_unlock(&o->lock);
}

void
cbp_output_summary(struct cbp_output *o, const struct cbp_summary *s)
{
	struct cbp_summary c = *s;

	pthread_mutex_lock(&o->lock);
	stamp(o, &c.meta, "summary", NULL, NULL, 0, NULL);
	FAN_OUT_LOCKED(o, summary, &c);
	pthread_mutex_unlock(&o->lock);
}

void
cbp_output_run(struct cbp_output *o, const struct cbp_summary *s)
{
	struct cbp_summary c = *s;

	pthread_mutex_lock(&o->lock);
	stamp(o, &c.meta, "run", NULL, NULL, 0, NULL);
	FAN_OUT_LOCKED(o, run, &c);
	pthread_mutex_unlock(&o->lock);
}

/* No other thread may use o once this is called (the mutex is destroyed). */
int
cbp_output_close(struct cbp_output *o)
{
	size_t i;
	int r;

	pthread_mutex_lock(&o->lock);
	for (i = 0; i < o->nsinks; i++) {
		if (o->sinks[i]->ops->close != NULL)
			keep_error(o, o->sinks[i]->ops->close(o->sinks[i]));
		o->sinks[i] = NULL;
	}
	o->nsinks = 0;
	r = o->first_error;
	EVP_MD_CTX_free(o->md);
	o->md = NULL;
	seen_free(o->seen);
	o->seen = NULL;
	free(o->host);
	o->host = NULL;
	pthread_mutex_unlock(&o->lock);
	pthread_mutex_destroy(&o->lock);
	return r;
}

void
cbp_emitter_init(struct cbp_emitter *e, FILE *fp)
{
	e->fp = fp;
	e->failed = 0;
	e->sys_errno = 0;
}

/*
 * Part of a record (done bytes) reached a regular file before a write
 * failed: cut the file back to where the record began.  The offset after
 * our last write is the end of those bytes, with or without O_APPEND.
 * Best effort: if it fails, the cut line stays and the caller still
 * reports the failure.
 */
static void
take_back(int fd, size_t done)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	if ((end = lseek(fd, 0, SEEK_CUR)) < 0 || (uintmax_t)end < done)
		return;
	if (ftruncate(fd, end - (off_t)done) == 0)
		(void)lseek(fd, end - (off_t)done, SEEK_SET);
}

/* All of p[0..n) with write(2), or 0 and *err set. */
static int
write_all(int fd, const unsigned char *p, size_t n, int *err)
{
	size_t done = 0;
	ssize_t k;

	while (done < n) {
		k = write(fd, p + done, n - done);
		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* A descriptor someone left non-blocking: wait, don't spin. */
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
				continue;
		}
		*err = k < 0 ? errno : EIO;
		if (done > 0)
			take_back(fd, done);
		return 0;
	}
	return 1;
}

int
cbp_output_emit(struct cbp_emitter *e, struct cbp_dynbuf *b)
{
	int r = CBP_EIO, err = 0, fd;

	if (e->failed) {
		err = e->sys_errno;
		goto out;
	}
	fd = fileno(e->fp);
	if (fd >= 0) {
		/* Nothing should be in stdio's buffer; if a caller left
		 * something there, it goes first, in order. */
		if (fflush(e->fp) != 0) {
			err = errno;
			goto fail;
		}
		if (b->len > 0 && !write_all(fd, b->data, b->len, &err))
			goto fail;
	} else {
		/* A memory stream: stdio is all there is. */
		if ((b->len > 0 && fwrite(b->data, 1, b->len, e->fp) != b->len) ||
		    fflush(e->fp) != 0 || ferror(e->fp)) {
			err = errno != 0 ? errno : EIO;
			goto fail;
		}
	}
	r = CBP_OK;
	goto out;
fail:
	e->failed = 1;
	e->sys_errno = err != 0 ? err : EIO;
	err = e->sys_errno;
out:
	if (b->alloc > CBP_OUTPUT_KEEP_MAX)
		cbp_dynbuf_free(b);
	else
		cbp_dynbuf_reset(b);
	errno = err;
	return r;
}

int
cbp_emitter_close(struct cbp_emitter *e)
{
	if (e->failed) {
		errno = e->sys_errno;
		return CBP_EIO;
	}
	if (fflush(e->fp) != 0 || ferror(e->fp)) {
		e->failed = 1;
		e->sys_errno = errno != 0 ? errno : EIO;
		return CBP_EIO;
	}
	return CBP_OK;
}

/* ---- JSON strings ----------------------------------------------------- */

int
cbp_json_string(struct cbp_dynbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0;
	int r;

	if (s == NULL && len > 0)
		return CBP_EINVAL;
	if ((r = cbp_dynbuf_addc(b, '"')) != CBP_OK)
		return r;
	while (i < len) {
		unsigned char c = p[i];
		char esc[8];
		size_t elen, adv = 1;
		uint32_t cp;

		if (c < 0x80) {
			if (c >= 0x20 && c != 0x7F && c != '"' && c != '\\') {
				i++;
				continue;
			}
			esc[0] = '\\';
			elen = 2;
			switch (c) {
			case '"': esc[1] = '"'; break;
			case '\\': esc[1] = '\\'; break;
			case '\b': esc[1] = 'b'; break;
			case '\f': esc[1] = 'f'; break;
			case '\n': esc[1] = 'n'; break;
			case '\r': esc[1] = 'r'; break;
			case '\t': esc[1] = 't'; break;
			default:
				memcpy(esc, "\\u00", 4);
				esc[4] = hexdigit[c >> 4];
				esc[5] = hexdigit[c & 15];
				elen = 6;
				break;
			}
		} else if ((adv = cbp_utf8_seq(p + i, len - i, &cp)) != 0) {
			if (cp != 0x2028 && cp != 0x2029) {
				i += adv;
				continue;
			}
			memcpy(esc, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
			elen = 6;
		} else {
			/* Not UTF-8: the byte itself, as a lone low surrogate. */
			memcpy(esc, "\\udc", 4);
			esc[4] = hexdigit[c >> 4];
			esc[5] = hexdigit[c & 15];
			elen = 6;
			adv = 1;
		}
		if (i > start && (r = cbp_dynbuf_add(b, p + start, i - start)) != CBP_OK)
			return r;
		if ((r = cbp_dynbuf_add(b, esc, elen)) != CBP_OK)
			return r;
		i += adv;
		start = i;
	}
	if (i > start && (r = cbp_dynbuf_add(b, p + start, i - start)) != CBP_OK)
		return r;
	return cbp_dynbuf_addc(b, '"');
}

/* ---- terminal text ---------------------------------------------------- */

/*
 * Code points shown escaped although they are valid UTF-8: C1 controls
 * (terminals may act on CSI 0x9B), the line and paragraph separators, and
 * the Bidi_Control set, which can make a name display in an order other
 * than its bytes ("Trojan Source").
 */
static int
text_unsafe_cp(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) ||
	    cp == 0x061C || cp == 0x200E || cp == 0x200F ||
	    (cp >= 0x2028 && cp <= 0x202E) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

int
cbp_text_escape(struct cbp_dynbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0, k;
	int r;

	if (s == NULL && len > 0)
		return CBP_EINVAL;
	while (i < len) {
		unsigned char c = p[i];
		char esc[16];
		size_t elen, adv = 1;
		uint32_t cp;

		if (c < 0x80) {
			if (c >= 0x20 && c != 0x7F && c != '\\') {
				i++;
				continue;
			}
			if (c == '\\') {
				memcpy(esc, "\\\\", 2);
				elen = 2;
			} else {
				memcpy(esc, "\\x", 2);
				esc[2] = hexdigit[c >> 4];
				esc[3] = hexdigit[c & 15];
				elen = 4;
			}
		} else if ((adv = cbp_utf8_seq(p + i, len - i, &cp)) != 0) {
			if (!text_unsafe_cp(cp)) {
				i += adv;
				continue;
			}
			/* Escape each byte of the sequence (at most 3 here). */
			for (k = 0, elen = 0; k < adv; k++, elen += 4) {
				esc[elen] = '\\';
				esc[elen + 1] = 'x';
				esc[elen + 2] = hexdigit[p[i + k] >> 4];
				esc[elen + 3] = hexdigit[p[i + k] & 15];
			}
		} else {
			memcpy(esc, "\\x", 2);
			esc[2] = hexdigit[c >> 4];
			esc[3] = hexdigit[c & 15];
			elen = 4;
			adv = 1;
		}
		if (i > start && (r = cbp_dynbuf_add(b, p + start, i - start)) != CBP_OK)
			return r;
		if ((r = cbp_dynbuf_add(b, esc, elen)) != CBP_OK)
			return r;
		i += adv;
		start = i;
	}
	if (i > start)
		return cbp_dynbuf_add(b, p + start, i - start);
	return CBP_OK;
}

/* ---- time ------------------------------------------------------------- */

/*
 * ISO 8601 needs a four-digit year, and consumers (Python's
 * datetime.fromisoformat, most SIEMs) reject the expanded "+10000-..." form.
 * Times outside year 0000..9999 only come from hostile or broken archive
 * headers, so they are clamped to the nearest representable instant rather
 * than printed in a form nobody can parse.
 */
#define TIME_MIN ((int64_t)-62167219200)	/* 0000-01-01T00:00:00Z */
#define TIME_MAX ((int64_t)253402300799)	/* 9999-12-31T23:59:59Z */

/* Write v as exactly w decimal digits (v < 10^w by construction). */
static char *
put_digits(char *p, unsigned v, int w)
{
	int k;

	for (k = w - 1; k >= 0; k--) {
		p[k] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + w;
}

void
cbp_format_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt;
	char *p = out;

	if (t < TIME_MIN)
		t = TIME_MIN;
	if (t > TIME_MAX)
		t = TIME_MAX;
	tt = (time_t)t;
	/* A 32-bit time_t cannot hold the clamped range: fall back to the epoch. */
	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	/* Fields are in range after clamping, so each fits its width exactly. */
	p = put_digits(p, (unsigned)(tm.tm_year + 1900), 4);
	*p++ = '-';
	p = put_digits(p, (unsigned)(tm.tm_mon + 1), 2);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	/* tm_sec may be 60 only for leap seconds, which gmtime never yields. */
	p = put_digits(p, (unsigned)tm.tm_sec % 100, 2);
	*p++ = 'Z';
	*p = '\0';
}

void
cbp_format_time_ms(double t, char out[32])
{
	int64_t ms = 0, sec, frac;
	double x;
	char *p;

	/* Beyond +-1e15 s the year is clamped anyway; stay far from INT64. */
	if (isfinite(t)) {
		if (t > 1e15)
			t = 1e15;
		if (t < -1e15)
			t = -1e15;
		x = t * 1000.0 + 0.5;
		ms = (int64_t)x;
		if ((double)ms > x)	/* conversion truncated towards zero */
			ms--;
	}
	sec = ms / 1000;
	frac = ms % 1000;
	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	if (sec < TIME_MIN || sec > TIME_MAX)
		frac = 0;
	cbp_format_time(sec, out);
	/* "YYYY-MM-DDThh:mm:ssZ" -> "YYYY-MM-DDThh:mm:ss.mmmZ" */
	p = out + 19;
	*p++ = '.';
	p = put_digits(p, (unsigned)frac, 3);
	*p++ = 'Z';
	*p = '\0';
}
