/*
 * fuzz_decode_png.c — libFuzzer target for cbp_decode() with CBP_FMT_PNG,
 * then cbp_pdq_hash() on what it decodes, and differential: the ISA-L fast
 * path against libspng (png_reference) must agree.  Harness:
 * fuzz_decode_common.h; seeds: tests/fuzz/seeds/fuzz_decode_png/ (copies
 * of tests/data/decode).
 */
#define FUZZ_DECODE_FMT CBP_FMT_PNG
#define FUZZ_DECODE_REFERENCE(o) ((o).png_reference = 1)
#include "fuzz_decode_common.h"
