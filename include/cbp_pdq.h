/*
 * cbp_pdq.h — the PDQ perceptual hash (Meta's published algorithm, written
 * from ../shared/docs/pdq.md) and its 8 dihedral variants.
 *
 * Bit-exact with the reference C++ CLI (pdq-photo-hasher) when fed the same
 * 8-bit pixels: tests/unit/test_pdq.c checks every published hash and
 * quality in testdata/pdq.  The hash is kept as 32 bytes, the big-endian
 * bytes of the 256-bit number whose hex text the reference prints (and
 * python-threatexchange's binary form), so hex encoding is byte by byte.
 *
 * No allocation is sized from the input: an image larger than 512 pixels on
 * a side is sampled down to 512 x 512 as the reference does (pdq.md step 1),
 * so the working buffers never exceed 2 x 1 MiB.
 */
#ifndef CBP_PDQ_H
#define CBP_PDQ_H

#include <stddef.h>
#include <stdint.h>

#define CBP_PDQ_BYTES 32		/* 256 bits */
#define CBP_PDQ_HEX 64			/* hex digits, without the NUL */

/*
 * The reference's pre-scale side: an image with a side above this is
 * nearest-neighbour sampled to exactly this many columns and rows.
 */
#define CBP_PDQ_PRESCALE 512

/* Reference thresholds (pdq.md step 11): match when distance <= 31; a hash
 * whose quality is below 50 is too featureless to trust. */
#define CBP_PDQ_MATCH_DISTANCE 31
#define CBP_PDQ_MIN_QUALITY 50

/* The dihedral variants, in the reference's --pdqdih-across order. */
enum cbp_pdq_dih {
	CBP_PDQ_ORIG,
	CBP_PDQ_ROT90,		/* 90 degrees counter-clockwise */
	CBP_PDQ_ROT180,
	CBP_PDQ_ROT270,		/* 90 degrees clockwise */
	CBP_PDQ_FLIPX,		/* top <-> bottom */
	CBP_PDQ_FLIPY,		/* left <-> right (mirror) */
	CBP_PDQ_FLIPP,		/* transpose (main diagonal) */
	CBP_PDQ_FLIPM,		/* anti-diagonal */
	CBP_PDQ_NDIH
};

/* Flag for cbp_pdq_hash: also fill dih[] (costs 8 medians, no second DCT). */
#define CBP_PDQ_DIHEDRAL 1u

struct cbp_pdq {
	uint8_t hash[CBP_PDQ_BYTES];
	int quality;			/* 0..100 */
	int has_dih;			/* dih[] is filled */
	uint8_t dih[CBP_PDQ_NDIH][CBP_PDQ_BYTES];	/* dih[CBP_PDQ_ORIG] == hash */
};

/*
 * Hash an 8-bit image: channels 1 (grey, used as luminance unchanged) or 3
 * (R,G,B; luminance 0.299R + 0.587G + 0.114B in float, as the reference).
 * stride is the bytes between row starts (>= w * channels).  Images with a
 * side below 5 get the all-zero hash and quality 0, as in the reference.
 * Returns CBP_OK, CBP_EINVAL (bad arguments) or CBP_ENOMEM.  Thread-safe.
 */
int cbp_pdq_hash(const uint8_t *px, uint32_t w, uint32_t h, unsigned channels,
    size_t stride, unsigned flags, struct cbp_pdq *out);

/*
 * Steps 1-5 alone: the 64 x 64 luminance samples after the pre-scale and
 * the blur, which the DCT then reads.  For tests that check the float
 * arithmetic itself (a hash tolerates small rounding differences, so equal
 * hashes do not prove equal arithmetic).  Sides below 5: CBP_EINVAL.
 */
int cbp_pdq_downsample(const uint8_t *px, uint32_t w, uint32_t h,
    unsigned channels, size_t stride, float out[64][64]);

/* 64 lowercase hex digits and a NUL, in the reference's text order. */
void cbp_pdq_to_hex(const uint8_t hash[CBP_PDQ_BYTES], char hex[CBP_PDQ_HEX + 1]);

/* Parse exactly 64 hex digits (either case); CBP_OK or CBP_ECORRUPT. */
int cbp_pdq_from_hex(const char *hex, size_t len, uint8_t hash[CBP_PDQ_BYTES]);

/* Hamming distance 0..256. */
int cbp_pdq_distance(const uint8_t a[CBP_PDQ_BYTES], const uint8_t b[CBP_PDQ_BYTES]);

/* "orig", "rot90", ... (the reference's names); "?" out of range. */
const char *cbp_pdq_dih_name(int k);

#endif
