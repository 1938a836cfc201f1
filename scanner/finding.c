/*
 * finding.c — names of the record enums, the disposition and violation
 * tests, and the UUIDs records carry.
 *
 * The names are the contract's words (docs/contract.md): rules, the JSON
 * Lines records and the text sink all spell severities, dispositions and
 * reasons through these tables, so there is one place that can drift.
 * Out-of-range values are a bug in the caller; they get "unknown" rather
 * than a real name so the bug shows in the output instead of hiding as a
 * plausible value.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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
	[CBP_DISP_REVIEW] = "review",
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
 * A low heuristic (a file name, a crop shape) is a lead for a person to
 * look at, not proof: it is "review" wherever it is, so it can neither
 * count as a violation outside an authorized location nor be hidden as
 * "authorized" inside one.  Info is below low and is treated the same.
 */
enum cbp_disposition
cbp_disposition_for(enum cbp_severity sev, int authorized, int within)
{
	if (sev < CBP_SEV_VIOLATION)
		return CBP_DISP_REVIEW;
	if (!authorized)
		return CBP_DISP_VIOLATION;
	return within ? CBP_DISP_AUTHORIZED : CBP_DISP_RETENTION;
}

/*
 * The disposition alone decides (docs/contract.md: "violations" counts
 * exactly the findings whose disposition is violation or retention), so
 * the records and the summary cannot disagree.
 */
int
cbp_finding_is_violation(const struct cbp_finding *f)
{
	return f->disposition == CBP_DISP_VIOLATION ||
	    f->disposition == CBP_DISP_RETENTION;
}

/* ---- ids ------------------------------------------------------------------ */

static void
uuid_text(const unsigned char u[16], char out[37])
{
	static const char hx[] = "0123456789abcdef";
	size_t i, k = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hx[u[i] >> 4];
		out[k++] = hx[u[i] & 15];
	}
	out[k] = '\0';
}

/*
 * getrandom(2) fails only on kernels without it (ENOSYS) or seccomp
 * filters that forbid it: then the clock, the pid and the address of a
 * stack variable still make an id no other run on this host repeats.
 */
void
cbp_uuid_v4(char out[37])
{
	unsigned char u[16];
	size_t got = 0, i;
	ssize_t n;

	while (got < sizeof(u)) {
		n = getrandom(u + got, sizeof(u) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(u)) {
		struct timespec ts;
		uint64_t a, b;

		clock_gettime(CLOCK_REALTIME, &ts);
		a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		b = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&ts;
		for (i = 0; i < 8; i++) {
			u[i] = (unsigned char)(a >> (8 * i));
			u[8 + i] = (unsigned char)(b >> (8 * i));
		}
	}
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 / 9562 variant */
	uuid_text(u, out);
}

void
cbp_uuid_from_sha256(const unsigned char digest[32], char out[37])
{
	unsigned char u[16];

	memcpy(u, digest, sizeof(u));
	u[6] = (u[6] & 0x0f) | 0x80;	/* version 8 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* variant 10 */
	uuid_text(u, out);
}

int
cbp_uuid_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return s[36] == '\0';
}
