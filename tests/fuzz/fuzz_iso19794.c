/*
 * fuzz_iso19794.c — libFuzzer target for cbp_record_parse() on ISO/IEC
 * 19794-5 records (2005 and 2011) and their DG2 / ISO 7816-11 wrapper.
 *
 * The harness is in fuzz_record_common.h.
 */
#define FUZZ_RECORD_KEY "image_type"
#include "fuzz_record_common.h"
