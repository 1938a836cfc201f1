/*
 * fuzz_png.c — libFuzzer target for cbp_meta_extract() on PNG (chunks, zTXt/iTXt inflate, eXIf, raw profiles).
 *
 * The harness is in fuzz_meta_common.h; this target's seed corpus,
 * tests/fuzz/seeds/fuzz_png/, steers it to the format.
 */
#include "fuzz_meta_common.h"
