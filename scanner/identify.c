/*
 * identify.c — libmagic on the head bytes, two databases.
 *
 * The fast handle loads only cbpscan.mgc (compiled from rules/cbpscan.magic)
 * and switches off libmagic's built-in tests that cost time per file and
 * that no shipped rule needs: decompression, ELF details, CDF, CSV, JSON,
 * tokens and application type.  The text test stays on (over the first
 * 256 bytes), so plain text still comes out as text/plain.  Measured with
 * bench/microbench.c (see README, Performance): under 4 us per file, where
 * the system database takes about 550 us.
 *
 * The full handle (system database, description mode) is opened the first
 * time a rule asks for a description, on the thread that asks: libmagic
 * handles are not thread-safe, so each worker owns its pair.
 *
 * This module is given the path of cbpscan.mgc and never looks for one:
 * where data files may come from (the binary's own build tree or the
 * install prefix, never the current directory or the environment) and the
 * ownership check on them are decided in main.c alone.
 */
#include <stdlib.h>
#include <string.h>

#include <magic.h>

#include "cbp_identify.h"
#include "cbp_limits.h"

struct cbp_identify {
	magic_t fast;
	magic_t full;
	int full_failed;	/* loading the full database failed once: don't retry per file */
	char *full_db;
};

#define FAST_FLAGS (MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | \
	MAGIC_NO_CHECK_ELF | MAGIC_NO_CHECK_CDF | MAGIC_NO_CHECK_CSV | \
	MAGIC_NO_CHECK_JSON | MAGIC_NO_CHECK_TOKENS | MAGIC_NO_CHECK_APPTYPE)
/* Decompression off in both: we never want libmagic to inflate hostile data. */
#define FULL_FLAGS (MAGIC_NO_CHECK_COMPRESS | MAGIC_RAW)

/*
 * The text test decodes the bytes it is given in several encodings; on the
 * whole 16 KiB head it dominated identification.  Measured with our
 * database on 13.7k files (/usr/share/doc, /usr/include, generated images),
 * CPU per file and files classified as text:
 *   16 KiB 27.9 us, 11011;  2 KiB 9.0 us, 11011;  512 B 4.5 us, 11012;
 *   256 B 3.6 us, 11013;  text test off 2.5 us, 0.
 * 256 bytes keeps text/plain for rules that want it at a cost of about a
 * microsecond; our own entries still see the whole head.
 */
#define FAST_TEXT_BYTES 256

static magic_t
open_handle(int flags, const char *db, int fast, struct cbp_error *err)
{
	magic_t m;
	size_t bytes = CBP_HEAD_BYTES, text_bytes = FAST_TEXT_BYTES;

	if ((m = magic_open(flags)) == NULL) {
		cbp_error_set(err, CBP_ENOMEM, 0, "libmagic: cannot open a handle");
		return NULL;
	}
	magic_setparam(m, MAGIC_PARAM_BYTES_MAX, &bytes);
	magic_setparam(m, MAGIC_PARAM_ENCODING_MAX, fast ? &text_bytes : &bytes);
	if (magic_load(m, db) != 0) {
		cbp_error_set(err, CBP_EIO, 0,
		    "libmagic: cannot load %s: %s", db ? db : "the system database",
		    magic_error(m) ? magic_error(m) : "unknown error");
		magic_close(m);
		return NULL;
	}
	return m;
}

struct cbp_identify *
cbp_identify_new(const char *fast_db, const char *full_db,
    struct cbp_error *err)
{
	struct cbp_identify *id;

	/* Where the database comes from is main.c's decision, not ours. */
	if (fast_db == NULL) {
		cbp_error_set(err, CBP_EINVAL, 0,
		    "no identification database (cbpscan.mgc) given");
		return NULL;
	}
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
		return NULL;
	}
	if (full_db != NULL && (id->full_db = strdup(full_db)) == NULL) {
		cbp_error_set(err, CBP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	if ((id->fast = open_handle(FAST_FLAGS, fast_db, 1, err)) == NULL)
		goto fail;
	return id;
fail:
	cbp_identify_free(id);
	return NULL;
}

void
cbp_identify_free(struct cbp_identify *id)
{
	if (id == NULL)
		return;
	if (id->fast != NULL)
		magic_close(id->fast);
	if (id->full != NULL)
		magic_close(id->full);
	free(id->full_db);
	free(id);
}

const char *
cbp_identify_mime(struct cbp_identify *id, const void *head, size_t len)
{
	const char *m;

	if (len == 0)
		return "application/x-empty";
	m = magic_buffer(id->fast, head, len);
	return m != NULL ? m : "application/octet-stream";
}

const char *
cbp_identify_describe(struct cbp_identify *id, const void *head, size_t len,
    struct cbp_error *err)
{
	const char *d;

	if (id->full == NULL) {
		if (id->full_failed) {
			cbp_error_set(err, CBP_EIO, 0,
			    "libmagic: the system database could not be loaded");
			return NULL;
		}
		if ((id->full = open_handle(FULL_FLAGS, id->full_db, 0, err)) == NULL) {
			id->full_failed = 1;
			return NULL;
		}
	}
	if ((d = magic_buffer(id->full, head, len)) == NULL) {
		cbp_error_set(err, CBP_EIO, 0, "libmagic: %s",
		    magic_error(id->full) ? magic_error(id->full) : "failed");
		return NULL;
	}
	return d;
}
