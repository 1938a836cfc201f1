/*
 * fuzz_ansinist.c — libFuzzer target for cbp_record_parse() on ANSI/NIST-ITL
 * transactions (Type-1, tagged and binary records, Type-10 and 10.999).
 *
 * The harness is in fuzz_record_common.h.
 */
#define FUZZ_RECORD_KEY "10.003"
#include "fuzz_record_common.h"
