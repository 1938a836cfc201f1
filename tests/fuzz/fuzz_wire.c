/*
 * fuzz_wire.c — libFuzzer target for the parent's record decoder
 * (scanner/wire.c): the bytes a compromised worker could send.
 *
 * The first byte picks the frame type (finding, problem, stats, mark, or
 * one out of range), the rest is the frame.  Must never crash or read out
 * of bounds; a frame that decodes must re-encode to the same bytes
 * (nothing accepted that the encoder could not have written, so nothing
 * ambiguous reaches the outputs), and every decoded string must be
 * NUL-free and within the scratch.
 * Seeds: a known-image finding (known-near-match); the encoder's round
 * trip is in tests/unit/test_wire.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_err.h"
#include "cbp_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char again[70000];
	struct cbp_wire_record rec;
	struct cbp_wire_stats st;
	struct cbp_wire_mark m;
	size_t scap, len;
	char *scratch;
	int type;

	if (size < 1 || size > 65536)
		return 0;
	type = 16 + data[0] % 5;
	data++;
	size--;
	scap = size + CBP_WIRE_MEMBERS_MAX + 8;
	if ((scratch = malloc(scap)) == NULL)
		return 0;
	switch (type) {
	case CBP_WIRE_FINDING:
	case CBP_WIRE_PROBLEM:
		if (cbp_wire_get_record(type, data, size, scratch, scap,
		    &rec) == CBP_OK) {
			int r = type == CBP_WIRE_FINDING ?
			    cbp_wire_put_finding(again, sizeof(again), &len,
			    rec.index, &rec.finding) :
			    cbp_wire_put_problem(again, sizeof(again), &len,
			    rec.index, rec.root, &rec.problem);
			assert(r == CBP_OK && len == size &&
			    memcmp(again, data, size) == 0);
		}
		break;
	case CBP_WIRE_STATS:
		(void)cbp_wire_get_stats(data, size, &st);
		break;
	case CBP_WIRE_MARK:
		if (cbp_wire_get_mark(data, size, scratch, scap, &m) == CBP_OK) {
			assert(cbp_wire_put_mark(again, sizeof(again), &len,
			    &m) == CBP_OK && len == size &&
			    memcmp(again, data, size) == 0);
		}
		break;
	default:
		assert(cbp_wire_get_record(type, data, size, scratch, scap,
		    &rec) == CBP_ECORRUPT);
	}
	free(scratch);
	return 0;
}
