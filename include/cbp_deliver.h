/*
 * cbp_deliver.h — the sender: spooled records to the central endpoint.
 *
 * The scan appends records to the spool (cbp_spool.h) through a sink
 * (cbp_sink_spool_new); a sender thread beside the scan seals segments,
 * reads them back, sends them in batches (capped by count and bytes) with
 * libcurl and deletes a segment only once every record in it was
 * acknowledged.  Nothing on the record path waits for the network.
 *
 * Wire formats (man/cbpscan.1 "DELIVERY"):
 *   ndjson        POST URL, the records as JSON Lines, Content-Type
 *                 application/x-ndjson, gzip unless turned off,
 *                 Authorization: Bearer <token> when a token is given.
 *   splunk-hec    POST URL/services/collector/event, Authorization: Splunk
 *                 <token>, one envelope per record concatenated
 *                 ({"time":epoch.ms,"host":..,"source":..,"sourcetype":..,
 *                 ["index":..,] "event":<record>}).
 *   elastic-bulk  POST URL/_bulk, {"create":{["_index":..,]"_id":event_id}}
 *                 then the record, per record; the response is read item
 *                 by item: 2xx and 409 delivered, 429 and 5xx re-sent,
 *                 other 4xx set aside in the spool's rejected file.
 * Every request carries Idempotency-Key: the SHA-256 of the batch's
 * records, the same on a re-send of the same batch.
 *
 * Retries: 408, 429, 5xx and transport errors (refused, reset, timeout,
 * TLS) are retried with exponential backoff and full jitter between
 * retry_min_ms and retry_max_ms, or after Retry-After when the server gives
 * one.  A refused token (401, 403; HEC codes 1-4) or refused data (other
 * 4xx; HEC codes 5-7, 12, 13) stops delivery for this run instead of
 * looping: the records stay spooled and the reason is reported.
 *
 * Security: TLS verification is always on (libcurl's defaults, plus the
 * ca_file and an optional pinned public key); https only, except http to a
 * loopback host; no redirects; the token is read from a file (as root the
 * file must not be readable or writable by group or others) and never
 * appears in a message.
 */
#ifndef CBP_DELIVER_H
#define CBP_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_buf.h"
#include "cbp_err.h"
#include "cbp_spool.h"

enum cbp_deliver_format {
	CBP_FMT_NDJSON = 0,
	CBP_FMT_HEC,
	CBP_FMT_BULK,
};

/* Settings (config file "delivery:" and the delivery options). */
struct cbp_deliver_config {
	char *endpoint;			/* URL; NULL: no delivery */
	char *token_file, *ca_file, *client_cert, *client_key;
	char *pinned_pubkey;		/* "sha256//BASE64[;sha256//...]" */
	char *spool;			/* NULL: STATE/spool */
	char *index, *source, *sourcetype;	/* HEC / bulk fields; NULL: none/defaults */
	int format;			/* enum cbp_deliver_format */
	int gzip;			/* ndjson bodies gzip-encoded (default 1) */
	int mask_paths;			/* mask plate-like parts of names sent (default 0) */
	uint64_t spool_max;		/* bytes; 0: CBP_SPOOL_MAX_DEFAULT */
	unsigned batch_records;		/* default 500 */
	uint64_t batch_bytes;		/* default 4 MiB */
	unsigned timeout_ms;		/* one request; default 30 s */
	unsigned connect_timeout_ms;	/* default 10 s */
	unsigned retry_min_ms, retry_max_ms;	/* defaults 500 ms, 60 s */
	unsigned exit_wait_ms;		/* how long a scan waits at exit; default 60 s */
	unsigned flush_wait_ms;		/* how long flush tries; default 10 min */
	unsigned replay_rate;		/* flush: records a second; 0: no limit; default 2000 */
	unsigned linger_ms;		/* seal the open segment after this idle time; default 200 */
	/*
	 * splunk-hec indexer acknowledgement: each response's ackId is
	 * polled on /services/collector/ack in channel (a GUID, main.c gives
	 * the host id); a batch counts as delivered only when its ack reads
	 * true, and is sent again when still false after ack_wait_ms.  Acks
	 * still outstanding at exit stay in the spool (NNNN.ack beside the
	 * segment: channel and ackIds) for flush to poll.
	 */
	int hec_ack;			/* default 0: the token must have acks on */
	char channel[37];
	unsigned ack_wait_ms;		/* default 5 min */
	unsigned ack_poll_ms;		/* between polls; default 1 s */
};

void cbp_deliver_config_defaults(struct cbp_deliver_config *c);
void cbp_deliver_config_free(struct cbp_deliver_config *c);
/* "ndjson" ... -> enum, or -1. */
int cbp_deliver_format_parse(const char *s);
const char *cbp_deliver_format_name(int f);

/*
 * Check the URL (parsable, https or loopback http, no user:password in
 * it).  CBP_OK or CBP_EINVAL with err->message.
 */
int cbp_deliver_check_url(const char *url, struct cbp_error *err);

/*
 * Read the token file: one line of printable ASCII (no space, no control
 * character: it goes into a header), at most 4 KiB.  As root the file must
 * not be readable or writable by group or others.  *out is malloc'd.
 * CBP_OK; CBP_EPERM (mode); CBP_EIO; CBP_ECORRUPT (not a token).
 */
int cbp_deliver_read_token(const char *path, char **out, struct cbp_error *err);

struct cbp_deliver;

struct cbp_deliver_stats {
	uint64_t delivered;		/* records acknowledged */
	uint64_t requests;		/* HTTP requests made */
	uint64_t retries;		/* requests retried */
	uint64_t rejected;		/* records set aside (bulk items refused) */
	uint64_t torn_bytes;		/* bytes of bad frames skipped */
	int fatal;			/* delivery stopped: token or data refused */
	char last_error[512];		/* the last failure, for the report; "" if none */
};

/*
 * A sender for spool sp (not owned), with c (copied where needed).  host
 * is the host name for the HEC envelope's fallback.  CBP_OK, CBP_EINVAL
 * (URL), CBP_EPERM / CBP_EIO / CBP_ECORRUPT (token), CBP_ENOMEM.
 */
int cbp_deliver_new(struct cbp_deliver **out, const struct cbp_deliver_config *c,
    struct cbp_spool *sp, struct cbp_error *err);

/*
 * A flag a signal handler sets (SIGINT, SIGTERM): once set, the sender
 * stops within about 100 ms, a request in flight included, and what is not
 * delivered stays spooled.  Call before cbp_deliver_start.
 */
void cbp_deliver_set_abort(struct cbp_deliver *d, volatile int *flag);

/*
 * Start the sender thread (scan).  Segments an earlier run left (a
 * backlog) go at most rate records a second (0: no limit); this run's own
 * records are not held back.  CBP_OK or CBP_ENOMEM.
 */
int cbp_deliver_start(struct cbp_deliver *d, unsigned rate);

/*
 * Seal what is spooled, keep sending until the spool is empty, delivery
 * stops (fatal) or wait_ms passes, then stop the thread (if started) or
 * run the loop here (flush: the backlog at rate records/s, 0 = no limit;
 * ignored when the thread was started).
 * CBP_OK: everything delivered; CBP_EDELIVERY: records remain spooled.
 */
int cbp_deliver_finish(struct cbp_deliver *d, unsigned wait_ms, unsigned rate);

void cbp_deliver_get_stats(struct cbp_deliver *d, struct cbp_deliver_stats *st);
void cbp_deliver_free(struct cbp_deliver *d);

/*
 * Request bodies, exposed for the unit tests (exact shapes).  Append the
 * body for records recs[0..n) (each one JSON object, no newline) to b.
 */
struct cbp_deliver_rec {
	const char *p;
	size_t len;
};
int cbp_deliver_body(const struct cbp_deliver_config *c, int format,
    const struct cbp_deliver_rec *recs, size_t n, struct cbp_dynbuf *b);

/*
 * Read an Elasticsearch _bulk response: for each of the n items, status[i]
 * gets its HTTP status (0 if the response does not say).  CBP_OK, or
 * CBP_ECORRUPT when it is not a bulk response of n items.
 */
int cbp_deliver_parse_bulk(const char *body, size_t len, size_t n, int *status);

/*
 * Read a HEC ack answer ({"acks":{"ID":true|false,...}}): done[i] = 1 when
 * ids[i] reads true.  CBP_OK or CBP_ECORRUPT.
 */
int cbp_deliver_parse_acks(const char *body, size_t len, const long long *ids,
    size_t n, int *done);

/*
 * Read a HEC response body: *code the HEC code (-1 if none), *ack_id the
 * ackId (-1 if none).  CBP_OK or CBP_ECORRUPT.
 */
int cbp_deliver_parse_hec(const char *body, size_t len, int *code,
    long long *ack_id);

#endif
