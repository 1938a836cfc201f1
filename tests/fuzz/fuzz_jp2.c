/*
 * fuzz_jp2.c — libFuzzer target for cbp_meta_extract() on JPEG 2000 (JP2 boxes and raw codestreams).
 *
 * The harness is in fuzz_meta_common.h; this target's seed corpus,
 * tests/fuzz/seeds/fuzz_jp2/, steers it to the format.
 */
#include "fuzz_meta_common.h"
