/*
 * cbp_state.h — the state directory, and the host id kept in it.
 *
 * cbpscan keeps what must outlive one run in one directory (--state DIR,
 * default /var/lib/cbpscan): today the host id, later the delivery spool
 * and the database.  The host id is a UUID created once, on the first run
 * that finds none, and read on every later run, so records from one host
 * carry one id however often the host is renamed (docs/contract.md).
 *
 * The directory is created 0700 if it is missing (with any missing
 * parents, 0700 too).  It must be a directory owned by the user running
 * cbpscan and not writable by group or others; as root every directory
 * above it must also pass cbp_trust (cbp_trust.h), since whoever could
 * swap the directory could give this host another host's id.  The host id
 * file (DIR/host-id, 0600, one UUID and a newline) is written whole: a
 * temporary file in DIR, fsync, then link(2) to its name, which fails if a
 * concurrent run got there first (then that run's id is read and used),
 * then the directory is synced.  A host-id file that is not a UUID is an
 * error, never silently replaced: a new id would split the host's history.
 *
 * Without --state, a user other than root who cannot use the default
 * (/var/lib is root's) falls back to a per-user directory,
 * $XDG_STATE_HOME/cbpscan, or ~/.local/state/cbpscan when XDG_STATE_HOME
 * is unset or not absolute, and the caller says so (fell_back, why).  A
 * directory named with --state, or the default as root, is used or the
 * run fails: a scan on a host whose state cannot be kept is a setup error
 * to fix, not one to hide.
 *
 * The module never prints; errors come back as codes with a message that
 * names the path, the cause and what to do.
 */
#ifndef CBP_STATE_H
#define CBP_STATE_H

#include <limits.h>

#include "cbp_err.h"

#define CBP_STATE_DEFAULT "/var/lib/cbpscan"
#define CBP_STATE_HOST_ID "host-id"

struct cbp_state {
	char dir[PATH_MAX];		/* the directory in use */
	int dirfd;			/* open on it (O_DIRECTORY), -1 when closed */
	char host_id[37];		/* lowercase UUID text */
	int created;			/* this run created the host id */
	int fell_back;			/* the default was unusable: dir is the per-user one */
	char why[PATH_MAX + 256];	/* when fell_back: why the default was not used */
};

/*
 * Open (creating as above) the state directory dir, or with dir NULL the
 * default with the per-user fallback, and read or create the host id.
 * CBP_OK; CBP_EPERM (owner or mode refused, or access denied); CBP_EIO
 * (cannot create or read, with errno in err->sys_errno); CBP_ECORRUPT
 * (host-id is not a UUID); CBP_ENOMEM.  On error st->dirfd is -1.
 */
int cbp_state_open(struct cbp_state *st, const char *dir,
    struct cbp_error *err);

/* Close the directory descriptor (safe to call twice). */
void cbp_state_close(struct cbp_state *st);

#endif
