/*
 * cbp_output_int.h — what the output sinks share, not for other modules.
 *
 * output.c owns these; output_jsonl.c and output_text.c use them so that
 * every sink writes a record the same way (built whole, written whole or
 * not at all) and reports a failed write with the same code.
 */
#ifndef CBP_OUTPUT_INT_H
#define CBP_OUTPUT_INT_H

#include <stdio.h>

#include "cbp_buf.h"

/*
 * Bytes one record may take once escaped.  A record is a path, a member
 * chain and at most CBP_EVIDENCE_MAX bytes of evidence; escaping can grow a
 * byte to six (\udcXX), so 16 MiB allows a path or member chain of well
 * over 2 MB, far past anything a file system or archive gives us, while
 * still bounding what a hostile archive can make us allocate.  A record
 * over the cap is not written and its emit call returns CBP_ELIMIT.
 */
#define CBP_OUTPUT_RECORD_MAX ((size_t)16 * 1024 * 1024)

/*
 * A record buffer that grew past this is freed after the write instead of
 * being kept for the next record, so one huge record does not pin memory
 * for the rest of the scan.
 */
#define CBP_OUTPUT_KEEP_MAX ((size_t)64 * 1024)

/*
 * Distinct record keys (type and object) the fan-out remembers per run to
 * number repeats for event_id (output.c).  16 + 4 bytes a key, at most
 * twice this many slots: about 40 MiB at the cap, reached only by a run
 * with a million distinct findings and unscannable objects; later keys
 * get a run-wide sequence instead (still unique).
 */
#define CBP_OUTPUT_SEEN_MAX ((size_t)1 << 20)

/*
 * Where a sink's records go: the stream it was given, and whether a write
 * to it has failed (then nothing more is written to it: a sink stops at
 * its first failure, so what it wrote ends with a whole record).
 */
struct cbp_emitter {
	FILE *fp;		/* not closed here */
	int failed;		/* a write failed: later records are not attempted */
	int sys_errno;		/* errno of that failure */
};

void cbp_emitter_init(struct cbp_emitter *e, FILE *fp);

/*
 * Write b (one or more whole lines) whole or not at all, then empty b.
 * A stream with a file descriptor is written with write(2) straight from
 * b, bypassing stdio's buffer (so stdio never splits a record across two
 * writes and never holds half of one): partial writes are continued;
 * when a write fails after part of the record went out to a regular file
 * (ENOSPC after a partial write), the file is truncated back to where the
 * record began, so the file never holds a cut line, even if space comes
 * back.  (On a pipe or terminal a cut record cannot be taken back; writes
 * up to PIPE_BUF are atomic on a pipe.)  A stream without a descriptor (a
 * memory stream) gets one fwrite and one fflush.
 * Returns 0, or CBP_EIO with errno set to the cause (ENOSPC, EPIPE with
 * SIGPIPE ignored, EIO ...); every later call on e returns CBP_EIO at once
 * with the same errno.
 */
int cbp_output_emit(struct cbp_emitter *e, struct cbp_dynbuf *b);

/* Flush the stream at the end: 0, or CBP_EIO if a write ever failed. */
int cbp_emitter_close(struct cbp_emitter *e);

/*
 * Append t as "YYYY-MM-DDThh:mm:ss.mmmZ" (UTC, t rounded to the
 * nearest millisecond).  Non-finite t is written as the epoch; the year is
 * clamped like cbp_format_time().
 */
void cbp_format_time_ms(double t, char out[32]);

#endif
