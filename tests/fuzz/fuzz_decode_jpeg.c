/*
 * fuzz_decode_jpeg.c — libFuzzer target for cbp_decode() with CBP_FMT_JPEG,
 * then cbp_pdq_hash() on what it decodes.  Harness: fuzz_decode_common.h;
 * seeds: tests/fuzz/seeds/fuzz_decode_jpeg/ (copies of tests/data/decode).
 */
#define FUZZ_DECODE_FMT CBP_FMT_JPEG
#include "fuzz_decode_common.h"
