/*
 * cbp_output_int.h — what the output sinks share, not for other modules.
 *
 * output.c owns these; output_jsonl.c and output_text.c use them so that
 * every sink writes a record the same way (built whole, one fwrite, one
 * fflush) and reports a failed write with the same code.
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
 * Write b (one or more whole lines) to fp with one fwrite and one fflush,
 * then empty b.  0, or CBP_EIO if the stream reports an error (ENOSPC,
 * EPIPE with SIGPIPE ignored ...); the stream's error indicator stays set,
 * so every later record on it fails the same way.
 */
int cbp_output_emit(FILE *fp, struct cbp_dynbuf *b);

/*
 * Append t as "YYYY-MM-DDThh:mm:ss.mmmZ" (UTC, t rounded to the
 * nearest millisecond).  Non-finite t is written as the epoch; the year is
 * clamped like cbp_format_time().
 */
void cbp_format_time_ms(double t, char out[32]);

#endif
