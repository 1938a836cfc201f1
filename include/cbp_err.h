/*
 * cbp_err.h — the one error vocabulary of cbpscan.
 *
 * Every module returns an int from enum cbp_err (0 = success) so callers
 * branch on a code, never on text.  A module that has more to say fills a
 * struct cbp_error slot the caller owns; it never prints and never exits.
 * Only main.c turns outcomes into messages and exit statuses.
 */
#ifndef CBP_ERR_H
#define CBP_ERR_H

#include <stddef.h>

enum cbp_err {
	CBP_OK = 0,
	CBP_ENOMEM,		/* allocation failed */
	CBP_EINVAL,		/* bad argument from the caller (a bug, or a bad option) */
	CBP_EIO,		/* read error, or the file changed under us */
	CBP_EPERM,		/* permission denied */
	CBP_ETRUNC,		/* input ends before a structure it declares */
	CBP_ECORRUPT,		/* input is malformed (bad magic, impossible length ...) */
	CBP_ELIMIT,		/* a configured cap (size, depth, count) was reached */
	CBP_EENCRYPTED,		/* encrypted content we cannot read */
	CBP_ETIMEOUT,		/* a time budget ran out */
	CBP_ESYNTAX,		/* rule or configuration error (see the error slot) */
	CBP_ENOTFOUND,		/* nothing of the requested kind is there */
	CBP_EUNSUPPORTED,	/* valid input we do not handle */
	CBP_EDELIVERY,		/* report delivery failed */
	CBP_ECHANGED,		/* the object was replaced or changed between listing and reading */
	CBP_ERR_MAX
};

/*
 * The first error of an operation, as the cause; later ones are fallout and
 * are not recorded over it (cbp_error_set keeps an existing code).
 */
struct cbp_error {
	int code;		/* enum cbp_err */
	int sys_errno;		/* errno at the failure, 0 if none */
	char message[512];	/* human text, already including file:line:col where relevant */
};

/* Static text for a code; never NULL. */
const char *cbp_strerror(int code);

/*
 * Record an error in slot (may be NULL), printf-style message.  Keeps the
 * first error: if slot->code is already set, nothing changes.  Returns code
 * so that "return cbp_error_set(e, CBP_EIO, errno, "...")" reads naturally.
 */
int cbp_error_set(struct cbp_error *slot, int code, int sys_errno,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Forget a recorded error. */
void cbp_error_clear(struct cbp_error *slot);


#endif
