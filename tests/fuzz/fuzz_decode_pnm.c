/*
 * fuzz_decode_pnm.c — libFuzzer target for cbp_decode() with CBP_FMT_PNM
 * (binary P5/P6, as on disk and as the scan makes them from a PDF's
 * FlateDecode images), then cbp_pdq_hash() on what it decodes.  Harness:
 * fuzz_decode_common.h; seeds: tests/fuzz/seeds/fuzz_decode_pnm/ (copies
 * of tests/data/decode and a commented header with maxval 15).
 */
#define FUZZ_DECODE_FMT CBP_FMT_PNM
#include "fuzz_decode_common.h"
