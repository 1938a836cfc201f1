/*
 * fuzz_jpeg.c — libFuzzer target for cbp_meta_extract() on JPEG (markers, Exif, XMP, IPTC).
 *
 * The harness is in fuzz_meta_common.h; this target's seed corpus,
 * tests/fuzz/seeds/fuzz_jpeg/, steers it to the format.
 */
#include "fuzz_meta_common.h"
