/*
 * err.c — error codes to text, and the first-error slot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cbp_err.h"

static const char *const err_text[CBP_ERR_MAX] = {
	[CBP_OK] = "success",
	[CBP_ENOMEM] = "out of memory",
	[CBP_EINVAL] = "invalid argument",
	[CBP_EIO] = "input/output error",
	[CBP_EPERM] = "permission denied",
	[CBP_ETRUNC] = "truncated input",
	[CBP_ECORRUPT] = "corrupt input",
	[CBP_ELIMIT] = "limit reached",
	[CBP_EENCRYPTED] = "encrypted",
	[CBP_ETIMEOUT] = "time limit reached",
	[CBP_ESYNTAX] = "syntax error",
	[CBP_ENOTFOUND] = "not found",
	[CBP_EUNSUPPORTED] = "unsupported",
	[CBP_EDELIVERY] = "delivery failed",
	[CBP_ECHANGED] = "changed while scanned",
};

const char *
cbp_strerror(int code)
{
	if (code < 0 || code >= CBP_ERR_MAX || err_text[code] == NULL)
		return "unknown error";
	return err_text[code];
}

int
cbp_error_set(struct cbp_error *slot, int code, int sys_errno,
    const char *fmt, ...)
{
	va_list ap;

	if (slot == NULL || slot->code != CBP_OK)
		return code;
	slot->code = code;
	slot->sys_errno = sys_errno;
	va_start(ap, fmt);
	vsnprintf(slot->message, sizeof(slot->message), fmt, ap);
	va_end(ap);
	return code;
}

void
cbp_error_clear(struct cbp_error *slot)
{
	if (slot == NULL)
		return;
	slot->code = CBP_OK;
	slot->sys_errno = 0;
	slot->message[0] = '\0';
}
