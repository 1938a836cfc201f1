/*
 * fuzz_tiff.c — libFuzzer target for cbp_meta_extract() on TIFF / BigTIFF (IFD walk).
 *
 * The harness is in fuzz_meta_common.h; this target's seed corpus,
 * tests/fuzz/seeds/fuzz_tiff/, steers it to the format.
 */
#include "fuzz_meta_common.h"
