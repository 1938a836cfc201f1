/*
 * fuzz_decode_tiff.c — libFuzzer target for cbp_decode() with CBP_FMT_TIFF,
 * then cbp_pdq_hash() on what it decodes.  Harness: fuzz_decode_common.h;
 * seeds: tests/fuzz/seeds/fuzz_decode_tiff/ (copies of tests/data/decode).
 */
#define FUZZ_DECODE_FMT CBP_FMT_TIFF
#include "fuzz_decode_common.h"
