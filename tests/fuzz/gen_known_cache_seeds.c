/*
 * gen_known_cache_seeds.c — write the seeds of fuzz_known_cache: small
 * real caches (8-bit substrings, so the offset tables stay small) for the
 * all-zero key, one with entries, duplicates and problems, one empty.
 *
 *   make build/libcbp.a
 *   cc -Iinclude -D_GNU_SOURCE -o /tmp/gen tests/fuzz/gen_known_cache_seeds.c \
 *       build/libcbp.a -lcrypto -pthread
 *   /tmp/gen tests/fuzz/seeds/fuzz_known_cache
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cbp_err.h"
#include "cbp_known.h"
#include "cbp_known_cache.h"

static int
seed(const char *dir, const char *name, const char *text)
{
	static const uint8_t key[32];
	struct cbp_known_builder *b = cbp_known_builder_new();
	struct cbp_known_list_opts o = { 0 };
	struct cbp_error err = { 0 };
	struct cbp_known *k = NULL;
	char path[4096];
	int fd, r;

	o.threshold = 31;
	o.name = "seed";
	if (b == NULL || cbp_known_builder_set_chunks(b, 32) != CBP_OK ||
	    cbp_known_add_buffer(b, "seed.tsv", text, strlen(text), &o,
	    &err) != CBP_OK || cbp_known_build(b, &k, &err) != CBP_OK)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return 1;
	r = cbp_known_cache_write_fd(fd, key, k, &err);
	close(fd);
	cbp_known_free(k);
	cbp_known_builder_free(b);
	return r != CBP_OK;
}

#define H1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define H2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define H3 "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

int
main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	return seed(argv[1], "entries.cache",
	    "# seed\n"
	    H1 "\t" H2 "\tplate\tone\n"
	    H1 "\t" H3 "\ttraveler\tone-again\n"
	    "-\t" H1 "\tplate\tpdq-only\n"
	    H2 "\t-\tplate\tsha-only\n"
	    H3 "\t" H1 "\tplate\tfour\n"
	    "bad line\n"
	    H1 "\tzz\tplate\tbad-pdq\n") |
	    seed(argv[1], "empty.cache", "# nothing\n");
}
