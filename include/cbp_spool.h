/*
 * cbp_spool.h — the durable outbox of records waiting for the endpoint.
 *
 * A directory (0700, owned by the user running cbpscan) of append-only
 * segment files (0600).  Each record is framed as
 *
 *     u32 magic "CBS1" | u32 length | u32 crc32(payload) | payload
 *
 * (little endian), so a torn tail after a crash, or a flipped bit, is
 * detected and the rest of the segment skipped with a report, never sent.
 * The segment being written is NNNN.open; sealing it fsyncs it, renames it
 * to NNNN.seg and syncs the directory: only sealed segments are handed to
 * the sender.  A segment is deleted (then the directory synced) only after
 * every record in it was acknowledged: a crash between send and delete
 * re-sends it (same event_id), it never loses it.
 *
 * One process uses a spool at a time: cbp_spool_open takes an exclusive
 * flock(2) on DIR/lock, held until cbp_spool_close.  What a crashed run
 * left open is sealed by the next open (torn tail cut off and counted).
 *
 * Thread safety: cbp_spool_append may be called from the record path while
 * the sender thread seals, loads and removes; a mutex guards the open
 * segment and the byte count, and no fsync is done under it, so a slow
 * disk sync never holds up the record path.
 */
#ifndef CBP_SPOOL_H
#define CBP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_err.h"

#define CBP_SPOOL_MAGIC 0x31534243u		/* "CBS1" little endian */
#define CBP_SPOOL_HDR 12u
/* One record's payload: the output layer's record cap. */
#define CBP_SPOOL_RECORD_MAX ((size_t)16 * 1024 * 1024)
/* A segment is started afresh once it holds this much. */
#define CBP_SPOOL_SEGMENT_DEFAULT ((size_t)1024 * 1024)
/* Default byte cap of the whole spool. */
#define CBP_SPOOL_MAX_DEFAULT ((uint64_t)1024 * 1024 * 1024)

struct cbp_spool;

struct cbp_spool_opts {
	uint64_t max_bytes;		/* byte cap over all segments; 0: default */
	size_t segment_bytes;		/* rotate after this; 0: default */
};

/* What opening found of a crashed run. */
struct cbp_spool_recovery {
	unsigned segments;		/* .open segments sealed */
	uint64_t torn_bytes;		/* bytes cut off their tails */
};

/*
 * Open (creating 0700) the spool directory dir, lock it, seal what a
 * crashed run left open.  CBP_OK; CBP_EPERM (owned by another user, or
 * group/other may write it); CBP_EIO; CBP_ELIMIT (another process holds
 * the lock); CBP_ENOMEM.
 */
int cbp_spool_open(struct cbp_spool **out, const char *dir,
    const struct cbp_spool_opts *o, struct cbp_spool_recovery *rec,
    struct cbp_error *err);

/*
 * Append one record.  droppable: a record the cap may drop (not a finding
 * nor a summary).  A droppable record that would take the spool past 7/8
 * of the byte cap is dropped (counted, *dropped = 1, CBP_OK), leaving the
 * last eighth to the others; any other record past the cap gives
 * CBP_ELIMIT (counted as refused).  CBP_EIO (errno
 * kept) if the write failed; the segment is cut back to the last whole
 * record.  Never fsyncs.
 */
int cbp_spool_append(struct cbp_spool *s, const void *rec, size_t len,
    int droppable, int *dropped);

/* Records dropped for the cap so far. */
uint64_t cbp_spool_dropped(struct cbp_spool *s);
/* Records that could not be spooled (over the cap, or a failed write). */
uint64_t cbp_spool_refused(struct cbp_spool *s);
/* Bytes in the spool (all segments, framing included). */
uint64_t cbp_spool_bytes(struct cbp_spool *s);
/* Bytes in the segment still being written (not yet sealed). */
uint64_t cbp_spool_open_bytes(struct cbp_spool *s);

/*
 * Seal every open segment that holds records (fsync, rename, directory
 * sync), the one being written included.  CBP_OK or CBP_EIO.
 */
int cbp_spool_seal(struct cbp_spool *s);

/*
 * The oldest sealed segment with a number above after: *seq set, CBP_OK;
 * CBP_ENOTFOUND if there is none; CBP_EIO.
 */
int cbp_spool_next(struct cbp_spool *s, uint64_t after, uint64_t *seq);

/* A sealed segment read whole. */
struct cbp_spool_seg {
	uint64_t seq;
	unsigned char *data;		/* the file */
	size_t size;
	size_t n;			/* good records */
	size_t *off, *len;		/* each record's payload in data */
	uint64_t bad_bytes;		/* bytes after the first bad frame, skipped */
};

/*
 * Load segment seq: CBP_OK (check seg->bad_bytes), CBP_ENOTFOUND, CBP_EIO,
 * CBP_ELIMIT (larger than a segment can be), CBP_ENOMEM.
 */
int cbp_spool_load(struct cbp_spool *s, uint64_t seq, struct cbp_spool_seg *seg);
void cbp_spool_seg_free(struct cbp_spool_seg *seg);

/*
 * A small side file of segment seq (NNNN.ext, e.g. the HEC acks still
 * outstanding), replaced whole (temporary file, fsync, rename) and
 * deleted with the segment.  put: CBP_OK or CBP_EIO.  get: CBP_OK with
 * *len set, CBP_ENOTFOUND, CBP_ELIMIT (over cap), CBP_EIO.
 */
int cbp_spool_put_side(struct cbp_spool *s, uint64_t seq, const char *ext,
    const void *data, size_t len);
int cbp_spool_get_side(struct cbp_spool *s, uint64_t seq, const char *ext,
    char *buf, size_t cap, size_t *len);

/* Every record of segment seq was acknowledged: delete it (and its side
 * files), durably. */
int cbp_spool_remove(struct cbp_spool *s, uint64_t seq);

/*
 * Set a record the endpoint refused for good aside: appended, with a
 * newline, to DIR/rejected (0600), for an operator to look at.  CBP_OK or
 * CBP_EIO.
 */
int cbp_spool_reject(struct cbp_spool *s, const void *rec, size_t len);

/* Seal nothing, unlock, free.  Records not sealed stay as .open. */
void cbp_spool_close(struct cbp_spool *s);

/*
 * Parse the frames of buf (exposed for the unit tests and the fuzzer):
 * fills off/len (arrays of cap entries) and returns the number of good
 * records; *bad gets the bytes after the first bad frame.
 */
size_t cbp_spool_parse(const unsigned char *buf, size_t size, size_t *off,
    size_t *len, size_t cap, uint64_t *bad);

/*
 * The first segment number of this process: a segment numbered below it
 * was left by an earlier run (a backlog, sent at the replay rate).
 */
uint64_t cbp_spool_first_seq(const struct cbp_spool *s);

/* The directory the spool is in. */
const char *cbp_spool_dir(const struct cbp_spool *s);

#endif
