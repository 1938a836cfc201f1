/*
 * cbp_gunzip.h — streaming gzip decompression with ISA-L.
 *
 * Why not libarchive's gzip filter (zlib): a host's /usr/share holds tens
 * of thousands of .gz files, and their decompression was a quarter of a
 * whole scan's CPU.  ISA-L's inflate decodes the same streams about twice
 * as fast (`build/microbench --gzip` on the benchmark tree's /usr/share
 * copy, 24k files, 342 MB out: ISA-L 831 MB/s, zlib 387 MB/s of CPU), so
 * expand.c decompresses gzip itself and hands libarchive the decompressed
 * bytes; every other compression, and deflate inside zip, still goes
 * through libarchive.
 *
 * The decoder pulls compressed bytes from a source callback and fills the
 * caller's buffer.  It decodes concatenated members (as gzip -d does),
 * verifies each member's CRC-32 and length, and stops at the first byte
 * after a member that does not begin another gzip member.  It never
 * allocates from a length the stream declares: its memory is the decoder
 * state, fixed in size.
 */
#ifndef CBP_GUNZIP_H
#define CBP_GUNZIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The compressed source: sets *p to the next bytes and returns how many
 * (> 0), 0 at the end of the input, or -1 when reading failed (the caller
 * knows why; the decoder only passes the failure on).  The bytes stay valid
 * until the next call.
 */
typedef ssize_t (*cbp_gunzip_source)(void *arg, const unsigned char **p);

struct cbp_gunzip;

/* NULL when out of memory. */
struct cbp_gunzip *cbp_gunzip_new(cbp_gunzip_source src, void *arg);
void cbp_gunzip_free(struct cbp_gunzip *gz);

/*
 * Decompress into out[0..cap).  Returns the bytes produced (> 0), 0 at the
 * end of the stream, or -1 on an error: cbp_gunzip_error() says what, and
 * cbp_gunzip_source_failed() whether it was the source's.  After -1 every
 * further call returns -1.
 */
ssize_t cbp_gunzip_read(struct cbp_gunzip *gz, unsigned char *out, size_t cap);
const char *cbp_gunzip_error(const struct cbp_gunzip *gz);
int cbp_gunzip_source_failed(const struct cbp_gunzip *gz);

/* Members decoded to their end so far. */
unsigned cbp_gunzip_members(const struct cbp_gunzip *gz);

/*
 * Once cbp_gunzip_read() has returned 0: 1, with *offset the input offset
 * just past the last member (where trailing bytes, if any, begin).  0
 * before the end, or after an error.
 */
int cbp_gunzip_end(const struct cbp_gunzip *gz, uint64_t *offset);

#endif /* CBP_GUNZIP_H */
