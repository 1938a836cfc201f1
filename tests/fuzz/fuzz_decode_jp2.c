/*
 * fuzz_decode_jp2.c — libFuzzer target for cbp_decode() with CBP_FMT_JP2,
 * then cbp_pdq_hash() on what it decodes.  Harness: fuzz_decode_common.h;
 * seeds: tests/fuzz/seeds/fuzz_decode_jp2/ (copies of tests/data/decode).
 */
#define FUZZ_DECODE_FMT CBP_FMT_JP2
#include "fuzz_decode_common.h"
