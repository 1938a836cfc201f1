/*
 * fuzz_decode_gif.c — libFuzzer target for cbp_decode() with CBP_FMT_GIF,
 * then cbp_pdq_hash() on what it decodes.  Harness: fuzz_decode_common.h;
 * seeds: tests/fuzz/seeds/fuzz_decode_gif/ (copies of tests/data/decode).
 */
#define FUZZ_DECODE_FMT CBP_FMT_GIF
#include "fuzz_decode_common.h"
