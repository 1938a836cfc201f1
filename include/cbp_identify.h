/*
 * cbp_identify.h — identification by content with libmagic.
 *
 * Two libmagic handles per worker thread (libmagic handles are not
 * thread-safe):
 *   fast  our own compiled database (rules/cbpscan.magic -> cbpscan.mgc):
 *         only the types the rules and the expand stage need (images,
 *         biometric records, archives and compressed streams, a few common
 *         containers), with libmagic's built-in slow tests (text encoding,
 *         CDF, JSON, CSV, ELF details, tar) switched off.  Run on every
 *         object's head: this is what keeps a full scan near the speed of
 *         reading file heads.
 *   full  the system database, loaded on first use, only for rules that
 *         ask for libmagic's description (condition "magic").
 * The file name never decides the type.
 */
#ifndef CBP_IDENTIFY_H
#define CBP_IDENTIFY_H

#include <stddef.h>

#include "cbp_err.h"

struct cbp_identify;

/*
 * fast_db: path of cbpscan.mgc, required (NULL gives CBP_EINVAL; main.c
 * decides where it comes from and checks it).  full_db: NULL for the
 * system default.  Loads the fast database now, the full one lazily.
 */
struct cbp_identify *cbp_identify_new(const char *fast_db, const char *full_db,
    struct cbp_error *err);
void cbp_identify_free(struct cbp_identify *id);

/* MIME type of the head bytes; never NULL ("application/octet-stream").
 * The string is valid until the next call on this handle. */
const char *cbp_identify_mime(struct cbp_identify *id, const void *head,
    size_t len);

/* libmagic's full description (system database); NULL on error (err set).
 * Valid until the next call on this handle. */
const char *cbp_identify_describe(struct cbp_identify *id, const void *head,
    size_t len, struct cbp_error *err);

#endif
