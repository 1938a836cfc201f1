/*
 * cbp_wire.h — the records a parser worker sends its parent, as bytes.
 *
 * A worker (scan.c, in a confined process) encodes each finding, problem,
 * progress mark and batch total into one frame; the parent decodes it and
 * calls the outputs.  The parent treats every byte as hostile: a worker
 * runs parsers over attacker-controlled files and may be anything after a
 * memory-safety bug.  So the decoder checks every length against what
 * remains and against a cap, every enum against its range, rejects NUL
 * inside strings (the outputs take C strings: a NUL would cut a name and
 * hide what follows), and copies nothing it has not checked.  A frame that
 * fails decoding is a protocol error: the parent kills the worker.
 *
 * Layout: little-endian fixed-width integers; a string is a u32 length
 * then its bytes (no terminator).  Top-level paths never travel: a record
 * names its object by its index in the batch the parent sent, and the
 * parent, which listed the names, supplies the path.  Only member chains
 * (names found inside archives and records) come from the worker.
 */
#ifndef CBP_WIRE_H
#define CBP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_finding.h"

/* Frame types, after the supervisor's own (CBP_SV_USER = 16). */
enum cbp_wire_type {
	CBP_WIRE_FINDING = 16,
	CBP_WIRE_PROBLEM = 17,
	CBP_WIRE_STATS = 18,	/* end of a batch: its totals */
	CBP_WIRE_MARK = 19,	/* payload of a cbp_sv_mark: progress */
	CBP_WIRE_SPLIT = 20	/* an object is read in parts (scan.c) */
};

/* Member names in one record: deeper nesting is refused by the depth
 * limit long before (CBP_ARCHIVE_DEPTH plus records and thumbnails). */
#define CBP_WIRE_MEMBERS_MAX 64
/* The mark's member name is cut to this many bytes (it only names where a
 * worker died). */
#define CBP_WIRE_MARK_NAME_MAX 512

/* Counters that travel in marks and in the batch's STATS frame. */
struct cbp_wire_stats {
	uint64_t files, bytes, archives, members, vanished;
};

struct cbp_wire_mark {
	uint32_t index;		/* object in the batch */
	uint64_t member;	/* top-level member ordinal, 1-based; 0: the object starts */
	struct cbp_wire_stats stats;	/* of this batch so far */
	const char *name;	/* the top-level member's name ("" at object start) */
};

/*
 * A decoded record: strings point into the decoder's scratch (valid until
 * the next decode with it), NUL-terminated.  path is left NULL: the parent
 * fills it from the batch.
 */
struct cbp_wire_record {
	int type;			/* CBP_WIRE_FINDING or CBP_WIRE_PROBLEM */
	uint32_t index;
	int root;			/* PROBLEM: the object was a root that failed */
	struct cbp_finding finding;
	struct cbp_problem problem;
	const char *member[CBP_WIRE_MEMBERS_MAX];
};

/* Encoders: write into buf[0..cap), *len the bytes used; CBP_ELIMIT when
 * it does not fit (the caller reports that instead), CBP_EINVAL when there
 * are more members than CBP_WIRE_MEMBERS_MAX. */
int cbp_wire_put_finding(unsigned char *buf, size_t cap, size_t *len,
    uint32_t index, const struct cbp_finding *f);
int cbp_wire_put_problem(unsigned char *buf, size_t cap, size_t *len,
    uint32_t index, int root, const struct cbp_problem *p);
int cbp_wire_put_stats(unsigned char *buf, size_t cap, size_t *len,
    const struct cbp_wire_stats *st);
int cbp_wire_put_mark(unsigned char *buf, size_t cap, size_t *len,
    const struct cbp_wire_mark *m);
/* Object index of the batch is read in stride parts; this worker has
 * taken part 0, the parent hands out the others. */
int cbp_wire_put_split(unsigned char *buf, size_t cap, size_t *len,
    uint32_t index, uint32_t stride);

/*
 * Decoders.  scratch (scap bytes) receives the strings; it must be at least
 * the frame's length plus CBP_WIRE_MEMBERS_MAX + 8 (the terminators).
 * CBP_OK, or CBP_ECORRUPT for anything malformed (short, long, trailing
 * bytes, an enum out of range, NUL in a string, too many members).
 */
int cbp_wire_get_record(int type, const unsigned char *p, size_t n,
    char *scratch, size_t scap, struct cbp_wire_record *r);
int cbp_wire_get_stats(const unsigned char *p, size_t n,
    struct cbp_wire_stats *st);
int cbp_wire_get_mark(const unsigned char *p, size_t n, char *scratch,
    size_t scap, struct cbp_wire_mark *m);
int cbp_wire_get_split(const unsigned char *p, size_t n, uint32_t *index,
    uint32_t *stride);

#endif
