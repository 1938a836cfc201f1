/*
 * deliver.c — the sender (cbp_deliver.h): spool segments to the endpoint
 * with libcurl, bodies gzip'd with zlib, responses read with jansson (a
 * well-kept Debian JSON library: HEC and _bulk responses come from the
 * network and are parsed with a size cap, never by hand).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "cbp_deliver.h"

#define TOKEN_MAX 4096
#define RESPONSE_MAX ((size_t)16 * 1024 * 1024)	/* a _bulk answer for a big batch */
#define BODY_MAX ((size_t)256 * 1024 * 1024)

void
cbp_deliver_config_defaults(struct cbp_deliver_config *c)
{
	memset(c, 0, sizeof(*c));
	c->format = CBP_FMT_NDJSON;
	c->gzip = 1;
	c->batch_records = 500;
	c->batch_bytes = 4 * 1024 * 1024;
	c->timeout_ms = 30000;
	c->connect_timeout_ms = 10000;
	c->retry_min_ms = 500;
	c->retry_max_ms = 60000;
	c->exit_wait_ms = 60000;
	c->flush_wait_ms = 600000;
	c->replay_rate = 2000;
	c->linger_ms = 200;
	c->ack_wait_ms = 300000;
	c->ack_poll_ms = 1000;
}

void
cbp_deliver_config_free(struct cbp_deliver_config *c)
{
	free(c->endpoint);
	free(c->token_file);
	free(c->ca_file);
	free(c->client_cert);
	free(c->client_key);
	free(c->pinned_pubkey);
	free(c->spool);
	free(c->index);
	free(c->source);
	free(c->sourcetype);
	c->endpoint = c->token_file = c->ca_file = c->client_cert = NULL;
	c->client_key = c->pinned_pubkey = c->spool = NULL;
	c->index = c->source = c->sourcetype = NULL;
}

static const char *const format_names[] = { "ndjson", "splunk-hec", "elastic-bulk" };

int
cbp_deliver_format_parse(const char *s)
{
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(s, format_names[i]) == 0)
			return i;
	return -1;
}

const char *
cbp_deliver_format_name(int f)
{
	return f >= 0 && f < 3 ? format_names[f] : "?";
}

/* ---- URL and token ---------------------------------------------------- */

static int
loopback_host(const char *h)
{
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 ||
	    strcmp(h, "[::1]") == 0 || strcmp(h, "::1") == 0;
}

int
cbp_deliver_check_url(const char *url, struct cbp_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	int r = CBP_EINVAL;

	if (u == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		cbp_error_set(err, CBP_EINVAL, 0, "endpoint: not a URL (expected "
		    "https://HOST[:PORT]/PATH)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		cbp_error_set(err, CBP_EINVAL, 0, "endpoint: a user or password "
		    "in the URL would show in process lists and logs; put the "
		    "token in a file (--token-file)");
		goto out;
	}
	if (strcmp(scheme, "https") != 0 &&
	    !(strcmp(scheme, "http") == 0 && loopback_host(host))) {
		cbp_error_set(err, CBP_EINVAL, 0, "endpoint: only https is "
		    "allowed (plain http only to a loopback host), not '%s'",
		    scheme);
		goto out;
	}
	r = CBP_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return r;
}

int
cbp_deliver_read_token(const char *path, char **out, struct cbp_error *err)
{
	char buf[TOKEN_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len, i;
	int fd, rc;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return cbp_error_set(err, CBP_EIO, errno, "token file %s: %s",
		    path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cbp_error_set(err, CBP_EIO, errno, "token file %s: not a "
		    "regular file", path);
	}
	/* As root, a token others can read is a leaked token, and one that
	 * another user owns is one they can swap (chmod is theirs). */
	if (geteuid() == 0 && (st.st_mode & 077) != 0) {
		close(fd);
		return cbp_error_set(err, CBP_EPERM, 0, "token file %s: mode %04o "
		    "lets group or others read or change it; chmod 600 it",
		    path, (unsigned)(st.st_mode & 07777));
	}
	if (geteuid() == 0 && st.st_uid != 0) {
		close(fd);
		return cbp_error_set(err, CBP_EPERM, 0, "token file %s: owned by "
		    "uid %u, who can replace it; chown root it", path,
		    (unsigned)st.st_uid);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return cbp_error_set(err, CBP_EIO, errno, "token file %s: %s",
		    path, strerror(errno));
	len = (size_t)n;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0 || len > TOKEN_MAX) {
		rc = cbp_error_set(err, CBP_ECORRUPT, 0, "token file %s: expected "
		    "one token of 1 to %d characters", path, TOKEN_MAX);
		goto refuse;
	}
	/* It goes into a header: no space, no control byte, no newline. */
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			rc = cbp_error_set(err, CBP_ECORRUPT, 0, "token file %s: "
			    "the token may hold only printable ASCII without "
			    "spaces, on one line", path);
			goto refuse;
		}
	if ((*out = strndup(buf, len)) == NULL) {
		rc = cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
		goto refuse;
	}
	explicit_bzero(buf, sizeof(buf));
	return CBP_OK;
refuse:
	/* Whatever was read may still be most of a secret. */
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* ---- request bodies --------------------------------------------------- */

/* "2026-12-07T03:17:43.123Z" -> epoch seconds with milliseconds. */
static int
rfc3339_epoch(const char *s, double *out)
{
	struct tm tm;
	int ms = 0, n = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	if (s[n] == '.' && sscanf(s + n + 1, "%3d", &ms) != 1)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (double)timegm(&tm) + ms / 1000.0;
	return 0;
}

static int
add_json_str(struct cbp_dynbuf *b, const char *s)
{
	/* Config values: valid UTF-8 (the YAML layer checked it). */
	json_t *j = json_string(s);
	char *e = j != NULL ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	int r;

	json_decref(j);
	if (e == NULL)
		return CBP_ENOMEM;
	r = cbp_dynbuf_add(b, e, strlen(e));
	free(e);
	return r;
}

/*
 * The raw (still escaped) text of the top-level string field key of one of
 * our own records.  Hand-written rather than jansson: a path that is not
 * UTF-8 is written as lone-surrogate escapes (\udcXX, cbp_json_string),
 * which jansson refuses, and such a record must still be sent.  The fields
 * read here (type, time, host, event_id) come first, before any path, from
 * the one JSON writer, and the bytes come checksummed from the spool.  A
 * bare "key":" can only be a key: inside a JSON string every quote is
 * escaped.  0, or -1 if the field is missing.
 */
static int
record_field(const struct cbp_deliver_rec *rec, const char *key,
    const char **val, size_t *vlen)
{
	char pat[32];
	size_t pl, i;
	const char *p = rec->p, *end = rec->p + rec->len;

	pl = (size_t)snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	for (; (size_t)(end - p) >= pl; p++)
		if (memcmp(p, pat, pl) == 0)
			break;
	if ((size_t)(end - p) < pl)
		return -1;
	p += pl;
	for (i = 0; p + i < end && p[i] != '"'; i++)
		if (p[i] == '\\' && p + i + 1 < end)
			i++;
	if (p + i >= end)
		return -1;
	*val = p;
	*vlen = i;
	return 0;
}

static int
hec_envelope(const struct cbp_deliver_config *c, const struct cbp_deliver_rec *rec,
    struct cbp_dynbuf *b)
{
	const char *t, *host, *type;
	size_t tl, hl, yl;
	char num[96], ts[40];
	double epoch = 0;
	int r;

	if (record_field(rec, "time", &t, &tl) != 0 || tl >= sizeof(ts) ||
	    record_field(rec, "host", &host, &hl) != 0 ||
	    record_field(rec, "type", &type, &yl) != 0 || yl > 32)
		return CBP_ECORRUPT;
	memcpy(ts, t, tl);
	ts[tl] = '\0';
	if (rfc3339_epoch(ts, &epoch) != 0)
		return CBP_ECORRUPT;
	/* host is copied as the record has it: already a JSON string's text. */
	snprintf(num, sizeof(num), "{\"time\":%.3f,\"host\":\"", epoch);
	if ((r = cbp_dynbuf_add(b, num, strlen(num))) != CBP_OK ||
	    (r = cbp_dynbuf_add(b, host, hl)) != CBP_OK ||
	    (r = cbp_dynbuf_add(b, "\",\"source\":", 11)) != CBP_OK ||
	    (r = add_json_str(b, c->source != NULL ? c->source : "cbpscan")) != CBP_OK ||
	    (r = cbp_dynbuf_add(b, ",\"sourcetype\":", 14)) != CBP_OK)
		return r;
	if (c->sourcetype != NULL) {
		r = add_json_str(b, c->sourcetype);
	} else {
		/* One sourcetype per record type, so searches can tell them apart. */
		snprintf(num, sizeof(num), "cbpscan:%.*s", (int)yl, type);
		r = add_json_str(b, num);
	}
	if (r != CBP_OK)
		return r;
	if (c->index != NULL && ((r = cbp_dynbuf_add(b, ",\"index\":", 9)) != CBP_OK ||
	    (r = add_json_str(b, c->index)) != CBP_OK))
		return r;
	if ((r = cbp_dynbuf_add(b, ",\"event\":", 9)) != CBP_OK ||
	    (r = cbp_dynbuf_add(b, rec->p, rec->len)) != CBP_OK)
		return r;
	return cbp_dynbuf_addc(b, '}');
}

static int
bulk_action(const struct cbp_deliver_config *c, const struct cbp_deliver_rec *rec,
    struct cbp_dynbuf *b)
{
	const char *id;
	size_t il;
	int r;

	if (record_field(rec, "event_id", &id, &il) != 0)
		return CBP_ECORRUPT;
	if ((r = cbp_dynbuf_add(b, "{\"create\":{", 11)) != CBP_OK)
		return r;
	if (c->index != NULL && ((r = cbp_dynbuf_add(b, "\"_index\":", 9)) != CBP_OK ||
	    (r = add_json_str(b, c->index)) != CBP_OK ||
	    (r = cbp_dynbuf_addc(b, ',')) != CBP_OK))
		return r;
	/* _id = event_id: a re-sent record gives 409, counted as delivered. */
	if ((r = cbp_dynbuf_add(b, "\"_id\":\"", 7)) != CBP_OK ||
	    (r = cbp_dynbuf_add(b, id, il)) != CBP_OK ||
	    (r = cbp_dynbuf_add(b, "\"}}\n", 4)) != CBP_OK)
		return r;
	return CBP_OK;
}

int
cbp_deliver_body(const struct cbp_deliver_config *c, int format,
    const struct cbp_deliver_rec *recs, size_t n, struct cbp_dynbuf *b)
{
	size_t i;
	int r = CBP_OK;

	for (i = 0; i < n && r == CBP_OK; i++) {
		switch (format) {
		case CBP_FMT_HEC:
			r = hec_envelope(c, &recs[i], b);
			break;
		case CBP_FMT_BULK:
			if ((r = bulk_action(c, &recs[i], b)) == CBP_OK &&
			    (r = cbp_dynbuf_add(b, recs[i].p, recs[i].len)) == CBP_OK)
				r = cbp_dynbuf_addc(b, '\n');
			break;
		default:
			if ((r = cbp_dynbuf_add(b, recs[i].p, recs[i].len)) == CBP_OK)
				r = cbp_dynbuf_addc(b, '\n');
			break;
		}
	}
	return r;
}

/* ---- responses -------------------------------------------------------- */

int
cbp_deliver_parse_bulk(const char *body, size_t len, size_t n, int *status)
{
	json_t *j = json_loadb(body, len, 0, NULL), *items;
	size_t i;
	int r = CBP_ECORRUPT;

	if (j == NULL || !json_is_object(j))
		goto out;
	items = json_object_get(j, "items");
	if (!json_is_array(items) || json_array_size(items) != n)
		goto out;
	for (i = 0; i < n; i++) {
		json_t *it = json_array_get(items, i), *op, *st;

		status[i] = 0;
		/* One key: the action ("create"), whatever the server calls it. */
		if (!json_is_object(it) || json_object_size(it) != 1)
			goto out;
		op = json_object_iter_value(json_object_iter(it));
		st = json_object_get(op, "status");
		if (json_is_integer(st) && json_integer_value(st) >= 100 &&
		    json_integer_value(st) <= 599)
			status[i] = (int)json_integer_value(st);
	}
	r = CBP_OK;
out:
	json_decref(j);
	return r;
}

int
cbp_deliver_parse_hec(const char *body, size_t len, int *code, long long *ack_id)
{
	json_t *j = json_loadb(body, len, 0, NULL), *v;
	int r = CBP_ECORRUPT;

	*code = -1;
	*ack_id = -1;
	if (j == NULL || !json_is_object(j))
		goto out;
	if (json_is_integer(v = json_object_get(j, "code")))
		*code = (int)json_integer_value(v);
	if (json_is_integer(v = json_object_get(j, "ackId")))
		*ack_id = json_integer_value(v);
	r = CBP_OK;
out:
	json_decref(j);
	return r;
}

int
cbp_deliver_parse_acks(const char *body, size_t len, const long long *ids,
    size_t n, int *done)
{
	json_t *j = json_loadb(body, len, 0, NULL), *acks;
	char key[32];
	size_t i;
	int r = CBP_ECORRUPT;

	if (j == NULL || !json_is_object(acks = json_object_get(j, "acks")))
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%lld", ids[i]);
		done[i] = json_is_true(json_object_get(acks, key));
	}
	r = CBP_OK;
out:
	json_decref(j);
	return r;
}

/* ---- the sender ------------------------------------------------------- */

struct cbp_deliver {
	struct cbp_deliver_config c;	/* shallow copy: strings owned by the caller */
	struct cbp_spool *sp;
	char *token;
	char *url;			/* endpoint with the format's path */
	char *ack_url;			/* HEC: /services/collector/ack?channel= */
	long long last_ack;		/* HEC: the ackId of the last batch sent, -1 none */
	CURL *curl;
	struct curl_slist *hdrs;
	struct cbp_dynbuf body, gz, resp;
	pthread_t tid;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Guarded by lock: */
	int draining, stop;
	double deadline;		/* monotonic; 0: none */
	unsigned rate;
	double rate_next;		/* monotonic time the next record may go */
	volatile int *abort;		/* set by a signal handler: stop now */
	int backlog;			/* the segment being sent is an earlier run's */
	struct cbp_deliver_stats st;
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
aborted(const struct cbp_deliver *d)
{
	return d->abort != NULL && *d->abort;
}

/* libcurl's progress callback: a request in flight ends when aborted. */
static int
on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t e)
{
	(void)a; (void)b; (void)c; (void)e;
	return aborted(arg);
}

void
cbp_deliver_set_abort(struct cbp_deliver *d, volatile int *flag)
{
	d->abort = flag;
}

static void __attribute__((format(printf, 2, 3)))
set_error(struct cbp_deliver *d, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&d->lock);
	va_start(ap, fmt);
	vsnprintf(d->st.last_error, sizeof(d->st.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&d->lock);
}

static char *
format_url(const char *endpoint, int format)
{
	const char *suffix = format == CBP_FMT_HEC ? "/services/collector/event" :
	    format == CBP_FMT_BULK ? "/_bulk" : "";
	size_t el = strlen(endpoint), sl = strlen(suffix);
	char *u;

	/* An endpoint already naming the path is taken as it is. */
	if (sl == 0 || (el >= sl && strcmp(endpoint + el - sl, suffix) == 0))
		return strdup(endpoint);
	while (el > 0 && endpoint[el - 1] == '/')
		el--;
	if ((u = malloc(el + sl + 1)) == NULL)
		return NULL;
	memcpy(u, endpoint, el);
	memcpy(u + el, suffix, sl + 1);
	return u;
}

/* URL/services/collector/event -> URL/services/collector/ack?channel=C */
static char *
hec_ack_url(const char *event_url, const char *channel)
{
	size_t n = strlen(event_url) - strlen("/event");
	char *u;

	if (asprintf(&u, "%.*s/ack?channel=%s", (int)n, event_url, channel) < 0)
		return NULL;
	return u;
}

int
cbp_deliver_new(struct cbp_deliver **out, const struct cbp_deliver_config *c,
    struct cbp_spool *sp, struct cbp_error *err)
{
	struct cbp_deliver *d;
	struct stat st;
	int r;

	*out = NULL;
	if ((r = cbp_deliver_check_url(c->endpoint, err)) != CBP_OK)
		return r;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "out of memory");
	d->c = *c;
	d->sp = sp;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	cbp_dynbuf_init(&d->body, BODY_MAX);
	cbp_dynbuf_init(&d->gz, BODY_MAX);
	cbp_dynbuf_init(&d->resp, RESPONSE_MAX);
	if (c->token_file != NULL &&
	    (r = cbp_deliver_read_token(c->token_file, &d->token, err)) != CBP_OK)
		goto fail;
	/* As root, a client key others can read is as leaked as a token. */
	if (c->client_key != NULL && geteuid() == 0 &&
	    stat(c->client_key, &st) == 0 && (st.st_mode & 077) != 0) {
		r = cbp_error_set(err, CBP_EPERM, 0, "client key %s: mode %04o "
		    "lets group or others read or change it; chmod 600 it",
		    c->client_key, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if (c->client_key != NULL && geteuid() == 0 &&
	    stat(c->client_key, &st) == 0 && st.st_uid != 0) {
		r = cbp_error_set(err, CBP_EPERM, 0, "client key %s: owned by uid "
		    "%u, who can replace it; chown root it", c->client_key,
		    (unsigned)st.st_uid);
		goto fail;
	}
	r = CBP_ENOMEM;
	if ((d->url = format_url(c->endpoint, c->format)) == NULL ||
	    (d->curl = curl_easy_init()) == NULL) {
		cbp_error_set(err, r, ENOMEM, "out of memory");
		goto fail;
	}
	if (c->format == CBP_FMT_HEC && c->hec_ack && (d->ack_url =
	    hec_ack_url(d->url, c->channel)) == NULL) {
		cbp_error_set(err, r, ENOMEM, "out of memory");
		goto fail;
	}
	*out = d;
	return CBP_OK;
fail:
	cbp_deliver_free(d);
	return r;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct cbp_dynbuf *b = arg;

	/* Over the cap: stop reading (the request fails, and is retried). */
	if (cbp_dynbuf_add(b, p, size * n) != CBP_OK)
		return 0;
	return size * n;
}

static int
add_header(struct curl_slist **l, const char *h)
{
	struct curl_slist *n = curl_slist_append(*l, h);

	if (n == NULL)
		return CBP_ENOMEM;
	*l = n;
	return CBP_OK;
}

static int
gzip_body(const struct cbp_dynbuf *in, struct cbp_dynbuf *out)
{
	z_stream z;
	size_t bound;
	int r, zr;

	memset(&z, 0, sizeof(z));
	/* 15 + 16: a gzip wrapper, what Content-Encoding: gzip means. */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return CBP_ENOMEM;
	cbp_dynbuf_reset(out);
	bound = deflateBound(&z, in->len);
	if ((r = cbp_dynbuf_reserve(out, bound)) != CBP_OK)
		goto out;
	z.next_in = in->data;
	z.avail_in = (uInt)in->len;
	z.next_out = out->data;
	z.avail_out = (uInt)bound;
	zr = deflate(&z, Z_FINISH);
	r = zr == Z_STREAM_END ? CBP_OK : CBP_ENOMEM;
	out->len = z.total_out;
out:
	deflateEnd(&z);
	return r;
}

static void
idempotency_key(const struct cbp_dynbuf *b, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	static const char hx[] = "0123456789abcdef";
	int i;

	EVP_Digest(b->data, b->len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = '\0';
}

enum outcome { SENT, RETRY, FATAL };

/* The outcome of one request: classify and keep what the report needs. */
struct reply {
	long status;
	long retry_after_ms;		/* -1: none given */
	CURLcode cc;
	char cerr[CURL_ERROR_SIZE];
};

static int
do_post(struct cbp_deliver *d, const char *url, const struct cbp_dynbuf *payload,
    int gz, const char *key, struct reply *rp)
{
	struct curl_slist *h = NULL;
	char line[TOKEN_MAX + 64];
	curl_off_t ra = -1;
	CURL *c = d->curl;
	int r;

	memset(rp, 0, sizeof(*rp));
	rp->retry_after_ms = -1;
	cbp_dynbuf_reset(&d->resp);
	r = add_header(&h, d->c.format == CBP_FMT_HEC ?
	    "Content-Type: application/json" : "Content-Type: application/x-ndjson");
	if (r == CBP_OK && gz)
		r = add_header(&h, "Content-Encoding: gzip");
	if (r == CBP_OK && key != NULL) {
		snprintf(line, sizeof(line), "Idempotency-Key: %s", key);
		r = add_header(&h, line);
	}
	if (r == CBP_OK && d->token != NULL) {
		snprintf(line, sizeof(line), "Authorization: %s %s",
		    d->c.format == CBP_FMT_HEC ? "Splunk" :
		    d->c.format == CBP_FMT_BULK ? "ApiKey" : "Bearer", d->token);
		r = add_header(&h, line);
		explicit_bzero(line, sizeof(line));
	}
	if (r == CBP_OK && d->ack_url != NULL) {
		snprintf(line, sizeof(line), "X-Splunk-Request-Channel: %s",
		    d->c.channel);
		r = add_header(&h, line);
	}
	if (r == CBP_OK)
		r = add_header(&h, "Expect:");	/* no 100-continue round trip */
	if (r != CBP_OK) {
		curl_slist_free_all(h);
		return r;
	}
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (d->c.ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, d->c.ca_file);
	if (d->c.pinned_pubkey != NULL)
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, d->c.pinned_pubkey);
	if (d->c.client_cert != NULL)
		curl_easy_setopt(c, CURLOPT_SSLCERT, d->c.client_cert);
	if (d->c.client_key != NULL)
		curl_easy_setopt(c, CURLOPT_SSLKEY, d->c.client_key);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->c.timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)d->c.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)payload->data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload->len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d->resp);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rp->cerr);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cbpscan/" CBP_VERSION);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
	rp->cc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rp->cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rp->status);
		/* Seconds or an HTTP date, as libcurl reads Retry-After. */
		if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
		    ra >= 0)
			rp->retry_after_ms = ra > 3600 ? 3600000L : (long)ra * 1000L;
	}
	pthread_mutex_lock(&d->lock);
	d->st.requests++;
	pthread_mutex_unlock(&d->lock);
	return CBP_OK;
}

/* HEC codes a retry cannot fix: token (1-4), data (5-7, 12, 13). */
static int
hec_fatal_code(int code)
{
	return (code >= 1 && code <= 7) || code == 12 || code == 13;
}

static enum outcome
classify(struct cbp_deliver *d, const struct reply *rp)
{
	int code = -1;
	long long ack = -1;

	if (rp->cc != CURLE_OK) {
		set_error(d, "%s (curl error %ld)", rp->cerr[0] ? rp->cerr :
		    curl_easy_strerror(rp->cc), (long)rp->cc);
		return RETRY;
	}
	if (d->c.format == CBP_FMT_HEC && d->resp.len > 0)
		(void)cbp_deliver_parse_hec((const char *)d->resp.data,
		    d->resp.len, &code, &ack);
	if (rp->status >= 200 && rp->status < 300) {
		d->last_ack = ack;
		return SENT;
	}
	if (rp->status == 401 || rp->status == 403 ||
	    (code >= 1 && code <= 4)) {
		set_error(d, "the endpoint refused the token (HTTP %ld); "
		    "records stay spooled", rp->status);
		return FATAL;
	}
	if (rp->status == 408 || rp->status == 429 || rp->status >= 500) {
		set_error(d, "the endpoint is busy or failing (%sHTTP %ld)",
		    code == 9 ? "HEC code 9, " : "", rp->status);
		return RETRY;
	}
	set_error(d, "the endpoint refused the records (%sHTTP %ld); they stay "
	    "spooled", hec_fatal_code(code) ? "HEC data error, " : "", rp->status);
	return FATAL;
}

/* Wait up to ms, or less if stopped or past the deadline.  0, or -1: give up. */
static int
pause_ms(struct cbp_deliver *d, double ms)
{
	struct timespec ts;
	double until = mono() + ms / 1000.0, wall;
	int give_up;

	pthread_mutex_lock(&d->lock);
	if (d->deadline > 0 && until > d->deadline)
		until = d->deadline;
	while (!d->stop && mono() < until && !aborted(d)) {
		double left = until - mono();

		/* A signal cannot wake a condition: look at the flag often. */
		if (d->abort != NULL && left > 0.1)
			left = 0.1;
		clock_gettime(CLOCK_REALTIME, &ts);
		wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + left;
		ts.tv_sec = (time_t)wall;
		ts.tv_nsec = (long)((wall - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	give_up = d->stop || aborted(d) || (d->deadline > 0 && mono() >= d->deadline);
	pthread_mutex_unlock(&d->lock);
	return give_up ? -1 : 0;
}

static double
backoff_ms(const struct cbp_deliver *d, unsigned attempt)
{
	double cap = d->c.retry_min_ms * pow(2.0, attempt > 30 ? 30 : attempt);
	unsigned int rnd = 0;

	if (cap > d->c.retry_max_ms)
		cap = d->c.retry_max_ms;
	/* Full jitter: a fleet back from an outage does not retry in step. */
	(void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	return d->c.retry_min_ms + (cap - d->c.retry_min_ms) * (rnd / 4294967296.0);
}

/* Flush's replay rate: n more records may go when this returns 0. */
static int
rate_wait(struct cbp_deliver *d, size_t n)
{
	double now = mono(), wait;

	/* Only a backlog is paced: this run's own records go at once. */
	if (d->rate == 0 || !d->backlog)
		return 0;
	if (d->rate_next < now)
		d->rate_next = now;
	wait = d->rate_next - now;
	d->rate_next += (double)n / d->rate;
	return wait > 0 ? pause_ms(d, wait * 1000.0) : 0;
}

/*
 * Send recs[0..n) until they are delivered.  For _bulk, items answered
 * 429 or 5xx are sent again alone; refused items are set aside.  CBP_OK,
 * CBP_EDELIVERY (fatal: stop this run), CBP_ETIMEOUT (deadline or stop).
 */
static int
send_batch(struct cbp_deliver *d, struct cbp_deliver_rec *recs, size_t n)
{
	struct reply rp;
	char key[65];
	unsigned attempt = 0;
	int *status = NULL, r;
	size_t i, keep;
	const struct cbp_dynbuf *payload;
	int gz;

	if (rate_wait(d, n) != 0)
		return CBP_ETIMEOUT;
	while (n > 0) {
		cbp_dynbuf_reset(&d->body);
		if ((r = cbp_deliver_body(&d->c, d->c.format, recs, n, &d->body)) != CBP_OK) {
			if (r != CBP_ECORRUPT)
				return r;
			/* Not one of our records: stop rather than loop on it. */
			pthread_mutex_lock(&d->lock);
			d->st.fatal = 1;
			snprintf(d->st.last_error, sizeof(d->st.last_error),
			    "a spooled record lacks the fields %s needs; it stays "
			    "in the spool", cbp_deliver_format_name(d->c.format));
			pthread_mutex_unlock(&d->lock);
			return CBP_EDELIVERY;
		}
		idempotency_key(&d->body, key);
		payload = &d->body;
		gz = d->c.format == CBP_FMT_NDJSON && d->c.gzip;
		if (gz && (r = gzip_body(&d->body, &d->gz)) == CBP_OK)
			payload = &d->gz;
		else
			gz = 0;
		if ((r = do_post(d, d->url, payload, gz, key, &rp)) != CBP_OK)
			return r;
		switch (classify(d, &rp)) {
		case FATAL:
			pthread_mutex_lock(&d->lock);
			d->st.fatal = 1;
			pthread_mutex_unlock(&d->lock);
			return CBP_EDELIVERY;
		case RETRY:
			pthread_mutex_lock(&d->lock);
			d->st.retries++;
			pthread_mutex_unlock(&d->lock);
			if (pause_ms(d, rp.retry_after_ms >= 0 ?
			    (double)rp.retry_after_ms : backoff_ms(d, attempt++)) != 0)
				return CBP_ETIMEOUT;
			continue;
		case SENT:
			break;
		}
		if (d->c.format != CBP_FMT_BULK)
			break;
		/* _bulk answers 200 and says per item what happened. */
		free(status);
		if ((status = calloc(n, sizeof(int))) == NULL)
			return CBP_ENOMEM;
		if (cbp_deliver_parse_bulk((const char *)d->resp.data, d->resp.len,
		    n, status) != CBP_OK) {
			set_error(d, "the endpoint's _bulk answer could not be "
			    "read (HTTP %ld); the batch is sent again", rp.status);
			if (pause_ms(d, backoff_ms(d, attempt++)) != 0) {
				free(status);
				return CBP_ETIMEOUT;
			}
			continue;
		}
		for (i = keep = 0; i < n; i++) {
			int s = status[i];

			if ((s >= 200 && s < 300) || s == 409)
				continue;
			if (s == 429 || s >= 500 || s == 0) {
				recs[keep++] = recs[i];
				continue;
			}
			/* Refused for good: kept aside, not retried in a loop. */
			pthread_mutex_lock(&d->lock);
			d->st.rejected++;
			snprintf(d->st.last_error, sizeof(d->st.last_error),
			    "the endpoint refused %llu record(s) (item status %d); "
			    "they are kept in %s/rejected",
			    (unsigned long long)d->st.rejected, s,
			    cbp_spool_dir(d->sp));
			pthread_mutex_unlock(&d->lock);
			(void)cbp_spool_reject(d->sp, recs[i].p, recs[i].len);
		}
		pthread_mutex_lock(&d->lock);
		d->st.delivered += n - keep;
		pthread_mutex_unlock(&d->lock);
		free(status);
		status = NULL;
		/* What is left goes again, alone (a new batch, a new key). */
		n = keep;
		if (n > 0) {
			pthread_mutex_lock(&d->lock);
			d->st.retries++;
			pthread_mutex_unlock(&d->lock);
			if (pause_ms(d, rp.retry_after_ms >= 0 ?
			    (double)rp.retry_after_ms : backoff_ms(d, attempt++)) != 0)
				return CBP_ETIMEOUT;
		}
	}
	free(status);
	if (d->c.format != CBP_FMT_BULK && d->ack_url == NULL) {
		pthread_mutex_lock(&d->lock);
		d->st.delivered += n;
		pthread_mutex_unlock(&d->lock);
	}
	return CBP_OK;
}

/* ---- HEC indexer acknowledgement ---------------------------------------- */

/* One batch of a segment and its ack. */
struct ackb {
	size_t first, n;
	long long ack;			/* -1: (re)send */
	double sent;			/* wall clock, so a later flush can age it */
	int done;
};

#define SIDE_MAX (64 * 1024)

static double
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "channel GUID\n" then "first n ackId sent\n" per batch sent, not yet acked. */
static int
save_acks(struct cbp_deliver *d, uint64_t seq, const struct ackb *b, size_t nb)
{
	struct cbp_dynbuf t;
	size_t i;
	int r;

	cbp_dynbuf_init(&t, SIDE_MAX);
	r = cbp_dynbuf_printf(&t, "channel %s\n", d->c.channel);
	for (i = 0; i < nb && r == CBP_OK; i++)
		if (!b[i].done && b[i].ack >= 0)
			r = cbp_dynbuf_printf(&t, "%zu %zu %lld %.3f\n", b[i].first,
			    b[i].n, b[i].ack, b[i].sent);
	if (r == CBP_OK)
		r = cbp_spool_put_side(d->sp, seq, "ack", t.data, t.len);
	cbp_dynbuf_free(&t);
	return r;
}

/* What an earlier run left outstanding for this segment, on this channel. */
static void
load_acks(struct cbp_deliver *d, uint64_t seq, struct ackb *b, size_t nb)
{
	char buf[SIDE_MAX], ch[64], *line, *save = NULL;
	size_t len, first, n, i;
	long long ack;
	double sent;

	if (cbp_spool_get_side(d->sp, seq, "ack", buf, sizeof(buf) - 1, &len) != CBP_OK)
		return;
	buf[len] = '\0';
	line = strtok_r(buf, "\n", &save);
	/* Acks are per channel: another channel's ids mean nothing here. */
	if (line == NULL || sscanf(line, "channel %63s", ch) != 1 ||
	    strcmp(ch, d->c.channel) != 0)
		return;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		if (sscanf(line, "%zu %zu %lld %lf", &first, &n, &ack, &sent) != 4 ||
		    ack < 0)
			continue;
		for (i = 0; i < nb; i++)
			if (b[i].first == first && b[i].n == n) {
				b[i].ack = ack;
				b[i].sent = sent;
			}
	}
}

/* Ask for the acks of every batch sent and not yet acknowledged. */
static int
poll_acks(struct cbp_deliver *d, struct ackb *b, size_t nb)
{
	struct cbp_dynbuf q;
	struct reply rp;
	long long *ids = NULL;
	int *done = NULL, r = CBP_ENOMEM;
	size_t i, n = 0, k;

	cbp_dynbuf_init(&q, SIDE_MAX);
	if ((ids = calloc(nb + 1, sizeof(*ids))) == NULL ||
	    (done = calloc(nb + 1, sizeof(*done))) == NULL)
		goto out;
	r = cbp_dynbuf_add(&q, "{\"acks\":[", 9);
	for (i = 0; i < nb && r == CBP_OK; i++)
		if (!b[i].done && b[i].ack >= 0) {
			r = cbp_dynbuf_printf(&q, "%s%lld", n ? "," : "", b[i].ack);
			ids[n++] = b[i].ack;
		}
	if (r != CBP_OK || (r = cbp_dynbuf_add(&q, "]}", 2)) != CBP_OK || n == 0)
		goto out;
	if ((r = do_post(d, d->ack_url, &q, 0, NULL, &rp)) != CBP_OK)
		goto out;
	if (rp.cc == CURLE_OK && (rp.status == 401 || rp.status == 403)) {
		(void)classify(d, &rp);
		pthread_mutex_lock(&d->lock);
		d->st.fatal = 1;
		pthread_mutex_unlock(&d->lock);
		r = CBP_EDELIVERY;
		goto out;
	}
	/* A failed poll is asked again later; an ack never read true re-sends. */
	if (rp.cc != CURLE_OK || rp.status != 200 ||
	    cbp_deliver_parse_acks((const char *)d->resp.data, d->resp.len, ids,
	    n, done) != CBP_OK)
		goto out;
	for (i = 0; i < nb; i++)
		for (k = 0; k < n; k++)
			if (!b[i].done && b[i].ack == ids[k] && done[k]) {
				b[i].done = 1;
				pthread_mutex_lock(&d->lock);
				d->st.delivered += b[i].n;
				pthread_mutex_unlock(&d->lock);
			}
out:
	free(ids);
	free(done);
	cbp_dynbuf_free(&q);
	return r == CBP_EDELIVERY ? r : CBP_OK;
}

/*
 * A segment over HEC with acks: send each batch, keep its ackId (on disk,
 * for a later flush), poll until every ack reads true; a batch whose ack
 * is still false after ack_wait_ms is sent again.
 */
static int
send_segment_acked(struct cbp_deliver *d, struct cbp_spool_seg *seg,
    struct cbp_deliver_rec *recs, struct ackb *b, size_t nb)
{
	size_t i, k, open_;
	int r;

	load_acks(d, seg->seq, b, nb);
	for (;;) {
		for (i = 0; i < nb; i++) {
			if (b[i].done || b[i].ack >= 0)
				continue;
			for (k = 0; k < b[i].n; k++) {
				recs[k].p = (const char *)seg->data + seg->off[b[i].first + k];
				recs[k].len = seg->len[b[i].first + k];
			}
			d->last_ack = -1;
			if ((r = send_batch(d, recs, b[i].n)) != CBP_OK)
				goto save;
			b[i].ack = d->last_ack;
			b[i].sent = wall();
			if (b[i].ack < 0) {
				/* No ackId: acks are off for this token; 200 is all we get. */
				b[i].done = 1;
				pthread_mutex_lock(&d->lock);
				d->st.delivered += b[i].n;
				pthread_mutex_unlock(&d->lock);
			}
		}
		if ((r = save_acks(d, seg->seq, b, nb)) != CBP_OK)
			return r;
		if ((r = poll_acks(d, b, nb)) != CBP_OK)
			return r;
		for (i = open_ = 0; i < nb; i++) {
			if (b[i].done)
				continue;
			open_++;
			if (wall() - b[i].sent > d->c.ack_wait_ms / 1000.0) {
				b[i].ack = -1;		/* never acknowledged: send again */
				pthread_mutex_lock(&d->lock);
				d->st.retries++;
				snprintf(d->st.last_error, sizeof(d->st.last_error),
				    "HEC acknowledgement still false after %u ms; "
				    "batch sent again", d->c.ack_wait_ms);
				pthread_mutex_unlock(&d->lock);
			}
		}
		if (open_ == 0)
			return CBP_OK;
		if (pause_ms(d, d->c.ack_poll_ms) != 0) {
			pthread_mutex_lock(&d->lock);
			snprintf(d->st.last_error, sizeof(d->st.last_error),
			    "HEC acknowledgements outstanding (channel %s); "
			    "flush polls them later", d->c.channel);
			pthread_mutex_unlock(&d->lock);
			r = CBP_ETIMEOUT;
			goto save;
		}
	}
save:
	(void)save_acks(d, seg->seq, b, nb);
	return r;
}

/* Every record of one sealed segment, in batches; removed once all are in. */
static int
send_segment(struct cbp_deliver *d, uint64_t seq)
{
	struct cbp_spool_seg seg;
	struct cbp_deliver_rec *recs = NULL;
	struct ackb *b = NULL;
	size_t i = 0, j, n, nb = 0;
	uint64_t bytes;
	int r;

	if ((r = cbp_spool_load(d->sp, seq, &seg)) != CBP_OK)
		return r == CBP_ENOTFOUND ? CBP_OK : r;
	d->backlog = seq < cbp_spool_first_seq(d->sp);
	if (seg.bad_bytes > 0) {
		pthread_mutex_lock(&d->lock);
		d->st.torn_bytes += seg.bad_bytes;
		pthread_mutex_unlock(&d->lock);
	}
	if ((recs = calloc(d->c.batch_records ? d->c.batch_records : 1,
	    sizeof(*recs))) == NULL) {
		r = CBP_ENOMEM;
		goto out;
	}
	if ((b = calloc(seg.n + 1, sizeof(*b))) == NULL) {
		r = CBP_ENOMEM;
		goto out;
	}
	/* The same cut every time, so a re-send repeats a batch (and its key). */
	while (i < seg.n) {
		for (j = i, n = 0, bytes = 0; j < seg.n && n < d->c.batch_records &&
		    (n == 0 || bytes + seg.len[j] <= d->c.batch_bytes); j++, n++)
			bytes += seg.len[j];
		b[nb].first = i;
		b[nb].n = n;
		b[nb].ack = -1;
		nb++;
		i = j;
	}
	if (d->ack_url != NULL) {
		if ((r = send_segment_acked(d, &seg, recs, b, nb)) != CBP_OK)
			goto out;
	} else {
		for (i = 0; i < nb; i++) {
			for (j = 0; j < b[i].n; j++) {
				recs[j].p = (const char *)seg.data + seg.off[b[i].first + j];
				recs[j].len = seg.len[b[i].first + j];
			}
			if ((r = send_batch(d, recs, b[i].n)) != CBP_OK)
				goto out;
		}
	}
	r = cbp_spool_remove(d->sp, seq);
out:
	free(b);
	free(recs);
	cbp_spool_seg_free(&seg);
	return r;
}

/*
 * The sender's loop.  Returns when stopped, at the deadline, after a fatal
 * refusal, or (draining) once the spool is empty.
 */
static void
pump(struct cbp_deliver *d)
{
	uint64_t seq;
	int r, draining;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		draining = d->draining;
		r = d->stop || d->st.fatal || aborted(d) ||
		    (d->deadline > 0 && mono() >= d->deadline);
		pthread_mutex_unlock(&d->lock);
		if (r)
			return;
		r = cbp_spool_next(d->sp, UINT64_MAX, &seq);
		if (r == CBP_OK) {
			r = send_segment(d, seq);
			if (r == CBP_EIO || r == CBP_ENOMEM)
				set_error(d, "spool: %s", strerror(errno));
			if (r != CBP_OK && pause_ms(d, d->c.retry_min_ms) != 0)
				return;
			continue;
		}
		if (r != CBP_ENOTFOUND) {
			set_error(d, "spool: cannot list: %s", strerror(errno));
			return;
		}
		if (cbp_spool_open_bytes(d->sp) > 0) {
			/* Idle a moment first, so a busy scan seals big segments. */
			if (!draining && pause_ms(d, d->c.linger_ms) != 0)
				return;
			if (cbp_spool_seal(d->sp) != CBP_OK) {
				set_error(d, "spool: cannot seal a segment: %s",
				    strerror(errno));
				if (pause_ms(d, d->c.retry_min_ms) != 0)
					return;
			}
			continue;
		}
		if (draining) {
			/* Segments a full append retired, then nothing left. */
			if (cbp_spool_seal(d->sp) == CBP_OK &&
			    cbp_spool_next(d->sp, UINT64_MAX, &seq) == CBP_ENOTFOUND)
				return;
			continue;
		}
		if (pause_ms(d, d->c.linger_ms) != 0)
			return;
	}
}

static void *
sender_thread(void *arg)
{
	pump(arg);
	return NULL;
}

int
cbp_deliver_start(struct cbp_deliver *d, unsigned rate)
{
	d->rate = rate;
	if (pthread_create(&d->tid, NULL, sender_thread, d) != 0)
		return CBP_ENOMEM;
	d->started = 1;
	return CBP_OK;
}

int
cbp_deliver_finish(struct cbp_deliver *d, unsigned wait_ms, unsigned rate)
{
	uint64_t seq;

	pthread_mutex_lock(&d->lock);
	d->draining = 1;
	d->deadline = mono() + wait_ms / 1000.0;
	if (!d->started)
		d->rate = rate;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->started) {
		pthread_join(d->tid, NULL);
		d->started = 0;
	} else {
		pump(d);
	}
	/* Whatever is left is durable for the next flush. */
	(void)cbp_spool_seal(d->sp);
	return cbp_spool_next(d->sp, UINT64_MAX, &seq) == CBP_ENOTFOUND ?
	    CBP_OK : CBP_EDELIVERY;
}

void
cbp_deliver_get_stats(struct cbp_deliver *d, struct cbp_deliver_stats *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	pthread_mutex_unlock(&d->lock);
}

void
cbp_deliver_free(struct cbp_deliver *d)
{
	if (d == NULL)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->lock);
		d->stop = 1;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->tid, NULL);
	}
	if (d->token != NULL) {
		explicit_bzero(d->token, strlen(d->token));
		free(d->token);
	}
	free(d->url);
	free(d->ack_url);
	if (d->curl != NULL)
		curl_easy_cleanup(d->curl);
	cbp_dynbuf_free(&d->body);
	cbp_dynbuf_free(&d->gz);
	cbp_dynbuf_free(&d->resp);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}
