/*
 * fuzz_deliver.c — libFuzzer harness for what delivery reads from the
 * network and from the spool on disk:
 *  1. cbp_deliver_parse_bulk / parse_hec / parse_acks on the input as an
 *     endpoint's answer: no crash, statuses only 0 or 100..599, ack flags
 *     only 0 or 1.
 *  2. cbp_deliver_body for HEC and _bulk with the input as a record (its
 *     fields are read by hand, see record_field): no crash, no overread.
 *  3. cbp_spool_parse on the input as a segment: every record it accepts
 *     lies inside the buffer, in order, one after another from offset 0,
 *     and the accepted frames plus the skipped tail make up the input.
 * The first byte picks the item count for the bulk parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbp_buf.h"
#include "cbp_deliver.h"
#include "cbp_err.h"
#include "cbp_spool.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int status[16], code, done[4];
	long long ack, ids[4] = { 0, 1, 7, -1 };
	size_t n, i, off[64], len[64], pos = 0;
	uint64_t bad;

	if (size == 0)
		return 0;
	n = data[0] % 16;
	if (cbp_deliver_parse_bulk((const char *)data + 1, size - 1, n, status) == CBP_OK)
		for (i = 0; i < n; i++)
			CHECK(status[i] == 0 || (status[i] >= 100 && status[i] <= 599));
	(void)cbp_deliver_parse_hec((const char *)data, size, &code, &ack);
	if (cbp_deliver_parse_acks((const char *)data, size, ids, 4, done) == CBP_OK)
		for (i = 0; i < 4; i++)
			CHECK(done[i] == 0 || done[i] == 1);

	{
		struct cbp_deliver_config c;
		struct cbp_deliver_rec rec = { (const char *)data, size };
		struct cbp_dynbuf b;

		cbp_deliver_config_defaults(&c);
		cbp_dynbuf_init(&b, 1 << 20);
		(void)cbp_deliver_body(&c, CBP_FMT_HEC, &rec, 1, &b);
		cbp_dynbuf_reset(&b);
		(void)cbp_deliver_body(&c, CBP_FMT_BULK, &rec, 1, &b);
		cbp_dynbuf_free(&b);
	}
	n = cbp_spool_parse(data, size, off, len, 64, &bad);
	CHECK(n <= 64 && bad <= size);
	for (i = 0; i < n; i++) {
		CHECK(off[i] == pos + CBP_SPOOL_HDR);
		CHECK(len[i] > 0 && len[i] <= size - off[i]);
		pos = off[i] + len[i];
	}
	if (n < 64)
		CHECK(pos + bad == size);
	return 0;
}
