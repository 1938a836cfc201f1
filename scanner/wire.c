/*
 * wire.c — encode records in a worker, decode them (distrustfully) in the
 * parent.  See cbp_wire.h for the layout and why.
 */
#include <string.h>

#include "cbp_err.h"
#include "cbp_wire.h"

/* ---- encoding ---------------------------------------------------------- */

struct wbuf {
	unsigned char *p;
	size_t cap, len;
	int over;		/* something did not fit */
};

static void
put(struct wbuf *b, const void *d, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = 1;
		return;
	}
	if (n == 0)
		return;		/* d may be NULL (an absent string) */
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void
put_u8(struct wbuf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(b, &c, 1);
}

static void
put_u32(struct wbuf *b, uint32_t v)
{
	unsigned char c[4] = { v, v >> 8, v >> 16, v >> 24 };

	put(b, c, 4);
}

static void
put_u64(struct wbuf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static void
put_str(struct wbuf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > UINT32_MAX) {
		b->over = 1;
		return;
	}
	put_u32(b, (uint32_t)n);
	put(b, s, n);
}

static int
put_members(struct wbuf *b, const char *const *m, size_t n)
{
	size_t i;

	if (n > CBP_WIRE_MEMBERS_MAX)
		return CBP_EINVAL;
	put_u32(b, (uint32_t)n);
	for (i = 0; i < n; i++)
		put_str(b, m[i]);
	return CBP_OK;
}

static int
done(struct wbuf *b, size_t *len)
{
	*len = b->len;
	return b->over ? CBP_ELIMIT : CBP_OK;
}

/* The known-image fields: a flag, then list, id, category, distance; the
 * PDQ hex (0 or 64 digits) and its quality. */
static void
put_known(struct wbuf *b, const struct cbp_finding *f)
{
	size_t pl = strnlen(f->pdq, sizeof(f->pdq) - 1);

	put_u8(b, f->known.list != NULL);
	if (f->known.list != NULL) {
		put_str(b, f->known.list);
		put_str(b, f->known.id);
		put_str(b, f->known.category);
		put_u32(b, (uint32_t)f->known.distance);
	}
	put_u32(b, (uint32_t)pl);
	put(b, f->pdq, pl);
	put_u8(b, pl > 0 ? (unsigned)f->pdq_quality : 0);
}

int
cbp_wire_put_finding(unsigned char *buf, size_t cap, size_t *len,
    uint32_t index, const struct cbp_finding *f)
{
	struct wbuf b = { buf, cap, 0, 0 };
	size_t sl = strnlen(f->sha256, sizeof(f->sha256) - 1);

	*len = 0;
	put_u32(&b, index);
	if (put_members(&b, f->member, f->nmember) != CBP_OK)
		return CBP_EINVAL;
	put_str(&b, f->rule);
	put_str(&b, f->title);
	put_str(&b, f->category);
	put_u8(&b, (unsigned)f->severity);
	put_u64(&b, f->size);
	put_u64(&b, (uint64_t)f->mtime);
	put_u32(&b, (uint32_t)sl);
	put(&b, f->sha256, sl);
	put_u8(&b, f->sha256_partial != 0);
	put_u64(&b, f->sha256_bytes);
	put_u8(&b, f->mime != NULL);
	put_str(&b, f->mime);
	put_u8(&b, f->evidence != NULL);
	put_str(&b, f->evidence);
	put_u8(&b, (unsigned)f->disposition);
	put_known(&b, f);
	return done(&b, len);
}

int
cbp_wire_put_problem(unsigned char *buf, size_t cap, size_t *len,
    uint32_t index, int root, const struct cbp_problem *p)
{
	struct wbuf b = { buf, cap, 0, 0 };

	*len = 0;
	put_u32(&b, index);
	if (put_members(&b, p->member, p->nmember) != CBP_OK)
		return CBP_EINVAL;
	put_u8(&b, root != 0);
	put_u8(&b, (unsigned)p->reason);
	put_str(&b, p->detail);
	return done(&b, len);
}

static void
put_stats(struct wbuf *b, const struct cbp_wire_stats *st)
{
	put_u64(b, st->files);
	put_u64(b, st->bytes);
	put_u64(b, st->archives);
	put_u64(b, st->members);
	put_u64(b, st->vanished);
}

int
cbp_wire_put_stats(unsigned char *buf, size_t cap, size_t *len,
    const struct cbp_wire_stats *st)
{
	struct wbuf b = { buf, cap, 0, 0 };

	put_stats(&b, st);
	return done(&b, len);
}

int
cbp_wire_put_mark(unsigned char *buf, size_t cap, size_t *len,
    const struct cbp_wire_mark *m)
{
	struct wbuf b = { buf, cap, 0, 0 };
	size_t n = m->name != NULL ? strnlen(m->name, CBP_WIRE_MARK_NAME_MAX) : 0;

	put_u32(&b, m->index);
	put_u64(&b, m->member);
	put_stats(&b, &m->stats);
	/* Cut, not refused: the name only says where a worker died. */
	put_u32(&b, (uint32_t)n);
	put(&b, m->name, n);
	return done(&b, len);
}

int
cbp_wire_put_split(unsigned char *buf, size_t cap, size_t *len,
    uint32_t index, uint32_t stride)
{
	struct wbuf b = { buf, cap, 0, 0 };

	put_u32(&b, index);
	put_u32(&b, stride);
	return done(&b, len);
}

/* ---- decoding ---------------------------------------------------------- */

struct rbuf {
	const unsigned char *p;
	size_t n, off;
	char *s;		/* scratch for strings */
	size_t scap, slen;
	int bad;
};

static const unsigned char *
take(struct rbuf *r, size_t n)
{
	const unsigned char *q;

	if (r->bad || n > r->n - r->off) {
		r->bad = 1;
		return NULL;
	}
	q = r->p + r->off;
	r->off += n;
	return q;
}

static unsigned
get_u8(struct rbuf *r)
{
	const unsigned char *q = take(r, 1);

	return q != NULL ? q[0] : 0;
}

static uint32_t
get_u32(struct rbuf *r)
{
	const unsigned char *q = take(r, 4);

	return q == NULL ? 0 : (uint32_t)q[0] | (uint32_t)q[1] << 8 |
	    (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}

static uint64_t
get_u64(struct rbuf *r)
{
	uint64_t lo = get_u32(r);

	return lo | (uint64_t)get_u32(r) << 32;
}

/* A string copied to scratch with its terminator; NUL inside is refused. */
static const char *
get_str_max(struct rbuf *r, size_t max)
{
	uint32_t n = get_u32(r);
	const unsigned char *q;
	char *d;

	if (r->bad || n > max || (q = take(r, n)) == NULL) {
		r->bad = 1;
		return NULL;
	}
	if (memchr(q, '\0', n) != NULL || (size_t)n + 1 > r->scap - r->slen) {
		r->bad = 1;
		return NULL;
	}
	d = r->s + r->slen;
	memcpy(d, q, n);
	d[n] = '\0';
	r->slen += (size_t)n + 1;
	return d;
}

static const char *
get_str(struct rbuf *r)
{
	return get_str_max(r, SIZE_MAX);
}

static int
get_members(struct rbuf *r, struct cbp_wire_record *rec, size_t *n)
{
	uint32_t k = get_u32(r), i;

	if (r->bad || k > CBP_WIRE_MEMBERS_MAX)
		return r->bad = 1, CBP_ECORRUPT;
	for (i = 0; i < k; i++)
		if ((rec->member[i] = get_str(r)) == NULL)
			return CBP_ECORRUPT;
	*n = k;
	return CBP_OK;
}

static void
get_stats(struct rbuf *r, struct cbp_wire_stats *st)
{
	st->files = get_u64(r);
	st->bytes = get_u64(r);
	st->archives = get_u64(r);
	st->members = get_u64(r);
	st->vanished = get_u64(r);
}

/* 1 if s[0..n) are lowercase hex digits. */
static int
lower_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* What put_known wrote, checked as everything else: a category other
 * than the two a list may name, a distance beyond 256 bits, a hash that is
 * not 64 lowercase hex digits, a quality above 100 are protocol errors. */
static int
get_known(struct rbuf *r, struct cbp_finding *f)
{
	unsigned has = get_u8(r), q;
	uint32_t d, pl;
	const char *s;

	if (has > 1)
		return CBP_ECORRUPT;
	if (has) {
		f->known.list = get_str(r);
		f->known.id = get_str(r);
		f->known.category = get_str(r);
		d = get_u32(r);
		if (r->bad || d > 256 || f->known.list[0] == '\0' ||
		    f->known.id[0] == '\0' ||
		    (strcmp(f->known.category, "plate") != 0 &&
		    strcmp(f->known.category, "traveler") != 0))
			return CBP_ECORRUPT;
		f->known.distance = (int)d;
	}
	pl = get_u32(r);
	if (pl != 0 && pl != 64)
		return CBP_ECORRUPT;
	if ((s = (const char *)take(r, pl)) != NULL) {
		if (!lower_hex(s, pl))
			return CBP_ECORRUPT;
		memcpy(f->pdq, s, pl);
		f->pdq[pl] = '\0';
	}
	q = get_u8(r);
	if (q > 100 || (pl == 0 && q != 0))
		return CBP_ECORRUPT;
	f->pdq_quality = (int)q;
	return r->bad ? CBP_ECORRUPT : CBP_OK;
}

/* Whole frame consumed, nothing malformed. */
static int
finish(const struct rbuf *r)
{
	return !r->bad && r->off == r->n ? CBP_OK : CBP_ECORRUPT;
}

int
cbp_wire_get_record(int type, const unsigned char *p, size_t n,
    char *scratch, size_t scap, struct cbp_wire_record *rec)
{
	struct rbuf r = { p, n, 0, scratch, scap, 0, 0 };
	struct cbp_finding *f = &rec->finding;
	struct cbp_problem *pb = &rec->problem;
	const char *s;
	unsigned v, has;
	uint32_t sl;

	memset(rec, 0, sizeof(*rec));
	rec->type = type;
	rec->index = get_u32(&r);
	if (type == CBP_WIRE_PROBLEM) {
		if (get_members(&r, rec, &pb->nmember) != CBP_OK)
			return CBP_ECORRUPT;
		pb->member = rec->member;
		rec->root = get_u8(&r);
		v = get_u8(&r);
		if (rec->root > 1 || v > CBP_REASON_NOMEM)
			return CBP_ECORRUPT;
		pb->reason = (enum cbp_reason)v;
		pb->detail = get_str(&r);
		return finish(&r);
	}
	if (type != CBP_WIRE_FINDING)
		return CBP_ECORRUPT;
	if (get_members(&r, rec, &f->nmember) != CBP_OK)
		return CBP_ECORRUPT;
	f->member = rec->member;
	f->rule = get_str(&r);
	f->title = get_str(&r);
	f->category = get_str(&r);
	if ((v = get_u8(&r)) > CBP_SEV_CRITICAL)
		return CBP_ECORRUPT;
	f->severity = (enum cbp_severity)v;
	f->size = get_u64(&r);
	f->mtime = (int64_t)get_u64(&r);
	sl = get_u32(&r);
	if (sl != 0 && sl != 64)
		return CBP_ECORRUPT;
	if ((s = (const char *)take(&r, sl)) != NULL) {
		memcpy(f->sha256, s, sl);
		f->sha256[sl] = '\0';
		for (v = 0; v < sl; v++)
			if (!((s[v] >= '0' && s[v] <= '9') ||
			    (s[v] >= 'a' && s[v] <= 'f')))
				return CBP_ECORRUPT;
	}
	if ((v = get_u8(&r)) > 1)
		return CBP_ECORRUPT;
	f->sha256_partial = (int)v;
	f->sha256_bytes = get_u64(&r);
	/* An absent string is sent empty: anything else is not what the
	 * encoder writes (found by fuzz_wire). */
	if ((has = get_u8(&r)) > 1)
		return CBP_ECORRUPT;
	s = get_str(&r);
	if (!has && s != NULL && s[0] != '\0')
		return CBP_ECORRUPT;
	f->mime = has ? s : NULL;
	if ((has = get_u8(&r)) > 1)
		return CBP_ECORRUPT;
	s = get_str(&r);
	if (!has && s != NULL && s[0] != '\0')
		return CBP_ECORRUPT;
	f->evidence = has ? s : NULL;
	if ((v = get_u8(&r)) > CBP_DISP_REVIEW)	/* the last disposition */
		return CBP_ECORRUPT;
	f->disposition = (enum cbp_disposition)v;
	if (get_known(&r, f) != CBP_OK)
		return CBP_ECORRUPT;
	if (f->rule == NULL || f->title == NULL || f->category == NULL)
		return CBP_ECORRUPT;
	return finish(&r);
}

int
cbp_wire_get_stats(const unsigned char *p, size_t n, struct cbp_wire_stats *st)
{
	struct rbuf r = { p, n, 0, NULL, 0, 0, 0 };

	get_stats(&r, st);
	return finish(&r);
}

int
cbp_wire_get_split(const unsigned char *p, size_t n, uint32_t *index,
    uint32_t *stride)
{
	struct rbuf r = { p, n, 0, NULL, 0, 0, 0 };

	*index = get_u32(&r);
	*stride = get_u32(&r);
	return finish(&r);
}

int
cbp_wire_get_mark(const unsigned char *p, size_t n, char *scratch,
    size_t scap, struct cbp_wire_mark *m)
{
	struct rbuf r = { p, n, 0, scratch, scap, 0, 0 };

	memset(m, 0, sizeof(*m));
	m->index = get_u32(&r);
	m->member = get_u64(&r);
	get_stats(&r, &m->stats);
	m->name = get_str_max(&r, CBP_WIRE_MARK_NAME_MAX);
	return finish(&r);
}
