/*
 * cbp_trust.h — may root take orders from this file?
 *
 * cbpscan runs as root on hosts whose files other users control.  Every
 * file that steers a verdict — the configuration, rule files and
 * directories, the compiled magic database, known-image lists — must be
 * one that only root can change, or a user could make the scanner report
 * clean.  One check, used for all of them, in the spirit of OpenSSH's
 * secure_filename() and sudo's sudoers checks:
 *
 *   the file itself (fstat of the descriptor already opened, so a name
 *   swapped after the check cannot slip past it): owned by root (or by
 *   the effective uid), not writable by group or others;
 *
 *   every directory above it, up to "/", along the path the kernel gives
 *   for the open descriptor (/proc/self/fd/N, so symbolic links and ".."
 *   are already resolved): owned by root (or the effective uid), not
 *   writable by group or others — except a directory with the sticky bit
 *   that root owns (/tmp, /var/tmp).  In such a directory only root and
 *   an entry's owner can rename or remove the entry, and the entry below
 *   it is itself checked to be root's, so nobody else can swap what the
 *   path leads to; a name another user planted there first is theirs and
 *   is refused one level down.  (OpenSSH refuses these directories too;
 *   we allow them so that a root-owned tree under a root-owned 0700
 *   mkdtemp(3) directory in /tmp is usable, which is safe by the
 *   argument above.)  A sticky directory owned by anyone else is refused:
 *   its owner can rename what is in it.
 *
 * The check applies only when the effective uid is 0: a user's own run
 * reads the user's own files and cannot gain anything by them.
 * Access control lists are not read; a group-write bit in the mode (which
 * is the ACL mask when there is one) refuses the file.
 *
 * The module never prints; a refusal comes back as CBP_EPERM with a
 * message naming the file or directory, why, and what to do (chown root,
 * chmod go-w).
 */
#ifndef CBP_TRUST_H
#define CBP_TRUST_H

#include <sys/types.h>

#include "cbp_err.h"

/*
 * Check the file open on fd (any type: a regular file or a directory) and
 * every directory above it.  path is the name the caller opened, used in
 * messages only.  When geteuid() != 0, returns CBP_OK without looking.
 * Returns CBP_OK; CBP_EPERM (refused: err->message says which file or
 * directory, why, and what to do); CBP_EIO when the location cannot be
 * checked (no /proc, a deleted file, a path that changed while checked).
 * fd is not closed and its offset is not moved.
 */
int cbp_trust_check_fd(int fd, const char *path, struct cbp_error *err);

/*
 * The same check, always applied, with uid as the one user besides root
 * that may own the file and its directories (cbp_trust_check_fd passes
 * geteuid() when it is 0).  For tests that do not run as root.
 */
int cbp_trust_check_fd_as(int fd, const char *path, uid_t uid,
    struct cbp_error *err);

/*
 * Open path read-only (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK: a
 * FIFO planted under the name does not block) and check it as
 * cbp_trust_check_fd does.  On CBP_OK *fdp is the open descriptor (the
 * caller closes it); otherwise *fdp is -1 and err is set (CBP_EIO with the
 * errno when the open fails).
 */
int cbp_trust_open(const char *path, int *fdp, struct cbp_error *err);

#endif
