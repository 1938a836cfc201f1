/*
 * finding.c — names of the record enums, and the violation test.
 *
 * The names are the contract's words (docs/contract.md): rules, the JSON
 * Lines records and the text sink all spell severities, dispositions and
 * reasons through these tables, so there is one place that can drift.
 * Out-of-range values are a bug in the caller; they get "unknown" rather
 * than a real name so the bug shows in the output instead of hiding as a
 * plausible value.
 */
#include <string.h>

#include "cbp_err.h"
#include "cbp_finding.h"

static const char *const severity_names[] = {
	[CBP_SEV_INFO] = "info",
	[CBP_SEV_LOW] = "low",
	[CBP_SEV_MEDIUM] = "medium",
	[CBP_SEV_HIGH] = "high",
	[CBP_SEV_CRITICAL] = "critical",
};

static const char *const disposition_names[] = {
	[CBP_DISP_VIOLATION] = "violation",
	[CBP_DISP_RETENTION] = "retention",
	[CBP_DISP_AUTHORIZED] = "authorized",
};

static const char *const reason_names[] = {
	[CBP_REASON_ENCRYPTED] = "encrypted",
	[CBP_REASON_LIMIT] = "limit",
	[CBP_REASON_CORRUPT] = "corrupt",
	[CBP_REASON_PERMISSION] = "permission",
	[CBP_REASON_IO] = "io",
	[CBP_REASON_TIMEOUT] = "timeout",
	[CBP_REASON_CHANGED] = "changed",
	[CBP_REASON_NOMEM] = "nomem",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Enums may be signed or unsigned; compare through unsigned so both work. */
static const char *
name_of(const char *const *names, size_t n, unsigned v)
{
	if (v >= n || names[v] == NULL)
		return "unknown";
	return names[v];
}

const char *
cbp_severity_name(enum cbp_severity s)
{
	return name_of(severity_names, NELEM(severity_names), (unsigned)s);
}

/* Exact, lower-case names only: rule files are checked, not guessed at. */
int
cbp_severity_parse(const char *s, enum cbp_severity *out)
{
	size_t i;

	if (s == NULL)
		return CBP_EINVAL;
	for (i = 0; i < NELEM(severity_names); i++) {
		if (strcmp(s, severity_names[i]) == 0) {
			*out = (enum cbp_severity)i;
			return CBP_OK;
		}
	}
	return CBP_EINVAL;
}

const char *
cbp_disposition_name(enum cbp_disposition d)
{
	return name_of(disposition_names, NELEM(disposition_names), (unsigned)d);
}

const char *
cbp_reason_name(enum cbp_reason r)
{
	return name_of(reason_names, NELEM(reason_names), (unsigned)r);
}

/*
 * ENOMEM is "nomem" (docs/contract.md): memory ran out, whatever asked for
 * it; a cap that an object reached is ELIMIT.  Every code without a closer
 * reason (EIO, EINVAL, EUNSUPPORTED ...) is "io".
 */
enum cbp_reason
cbp_reason_from_err(int code)
{
	switch (code) {
	case CBP_EPERM:
		return CBP_REASON_PERMISSION;
	case CBP_ETRUNC:
	case CBP_ECORRUPT:
		return CBP_REASON_CORRUPT;
	case CBP_ELIMIT:
		return CBP_REASON_LIMIT;
	case CBP_ENOMEM:
		return CBP_REASON_NOMEM;
	case CBP_ECHANGED:
		return CBP_REASON_CHANGED;
	case CBP_EENCRYPTED:
		return CBP_REASON_ENCRYPTED;
	case CBP_ETIMEOUT:
		return CBP_REASON_TIMEOUT;
	default:
		return CBP_REASON_IO;
	}
}

/*
 * Medium and above is a violation wherever it is found, except where the
 * location is authorized and within retention; an authorized location
 * past its retention ("retention") still counts.
 */
int
cbp_finding_is_violation(const struct cbp_finding *f)
{
	return f->severity >= CBP_SEV_VIOLATION &&
	    f->disposition != CBP_DISP_AUTHORIZED;
}
