/*
 * cbp_confine.h — lock down the calling process: a parser worker after fork.
 *
 * Three layers, each applied only to the calling process (workers are
 * single-threaded; Landlock and seccomp both bind the calling thread and
 * what it later creates, so call this before any thread exists):
 *
 *   1. PR_SET_NO_NEW_PRIVS: no exec can ever gain privileges (setuid,
 *      file capabilities).  Required by the two layers below.
 *   2. Landlock, where the kernel has it: read-only file access.  Reading
 *      files and directories is granted beneath "/" (a worker reads hostile
 *      trees anywhere) and every other file access the kernel's ABI knows is
 *      refused: execute, write, truncate, make or remove anything, rename,
 *      link, device ioctls.  With ABI >= 4 TCP bind and connect are refused
 *      too; with ABI >= 6 signals to and abstract sockets of processes
 *      outside the worker's domain (the parent) are refused.  A kernel
 *      without Landlock leaves this layer out (info->landlock_abi == 0);
 *      there the parent should hand descriptors over instead of paths.
 *   3. A seccomp allow-list (libseccomp): everything not listed kills the
 *      process (SIGSYS).  The list and the reason for each entry are in
 *      scanner/confine.c; in short: reading, read-only opens, memory without
 *      new executable mappings, writing only to the descriptors the caller
 *      lists, and nothing that makes processes, signals others, traces,
 *      opens sockets or changes the filesystem.  Sanitizer builds get a
 *      looser filter (see confine.c): LeakSanitizer stops the world with a
 *      cloned tracer and ptrace.
 *
 * What loads lazily must be loaded before: after confinement a new
 * executable mapping fails with EPERM, so a dlopen (iconv's gconv modules,
 * NSS) fails cleanly rather than killing the worker, and the work it would
 * have done is lost.  Before confining, a worker must hold everything it
 * parses with: libmagic handles with their database loaded, compiled rules
 * (PCRE2 JIT code is made at rule load), and what cbp_confine_preload()
 * forces (iconv modules for archive member names, the time zone).
 */
#ifndef CBP_CONFINE_H
#define CBP_CONFINE_H

#include <stddef.h>

#include "cbp_err.h"

/* Layers to apply (cbp_confine_opts.layers); tests apply one alone. */
#define CBP_CONFINE_LANDLOCK	0x1u
#define CBP_CONFINE_SECCOMP	0x2u
#define CBP_CONFINE_ALL		(CBP_CONFINE_LANDLOCK | CBP_CONFINE_SECCOMP)

/* Descriptors a worker may write to: its channel and stderr are enough. */
#define CBP_CONFINE_MAX_FDS 8

struct cbp_confine_opts {
	unsigned layers;		/* CBP_CONFINE_*; 0 means CBP_CONFINE_ALL */
	/*
	 * The only descriptors write/writev may use, e.g. { channel, 2 }.
	 * recvmsg is allowed on read_fd alone (the channel the jobs and their
	 * descriptors arrive on); -1 or 0 for none (a zeroed struct allows
	 * no recvmsg: stdin is never a worker's channel).
	 */
	int write_fds[CBP_CONFINE_MAX_FDS];
	size_t nwrite_fds;
	int read_fd;
	/*
	 * 1: no file may be opened at all, only descriptors already open or
	 * handed over on the channel are read.  Landlock grants nothing and
	 * seccomp answers every openat with EACCES, so this holds on kernels
	 * without Landlock too.  Sanitizer builds keep /proc readable (and
	 * openat allowed read-only) for their reports and leak checks.
	 */
	int no_files;
};

/* What is in force after cbp_confine_apply, for the scan's summary. */
struct cbp_confine_info {
	int no_new_privs;	/* 1 once PR_SET_NO_NEW_PRIVS is set */
	int landlock_abi;	/* Landlock ABI enforced, 0 when not in force */
	int landlock_net;	/* 1 when TCP bind/connect are refused (ABI >= 4) */
	int landlock_scoped;	/* 1 when signals/abstract sockets are scoped (ABI >= 6) */
	int seccomp;		/* 1 once the allow-list filter is loaded */
	int seccomp_loose;	/* 1 when it is the sanitizer builds' looser filter */
	int no_files;		/* 1 when opening files is refused (opts.no_files) */
};

/*
 * The Landlock ABI this kernel offers (1, 2 ...), or 0 when it has none
 * (ENOSYS: not built; EOPNOTSUPP: built but disabled at boot).  Cheap; the
 * parent calls it to say in the summary what workers will get.
 */
int cbp_confine_landlock_abi(void);

/*
 * Force the lazily loaded parts of glibc that a parser may reach: iconv
 * converters for the charsets libarchive converts member names from
 * (CP932, CP437, CP1252, UTF-16LE/BE, UTF-8 ...), the time zone (tzset and
 * one localtime).  Call it once in the parent before forking workers; the
 * handles are kept open for the life of the process so the modules stay
 * mapped.  Idempotent and thread-safe.  Returns CBP_OK, or CBP_EUNSUPPORTED
 * when a converter is missing (reported, not fatal: names in that charset
 * stay raw bytes).
 */
int cbp_confine_preload(struct cbp_error *err);

/*
 * Confine the calling process as described above.  Irreversible.  info
 * (may be NULL) is filled with what is in force even on failure.  Landlock
 * missing from the kernel is not an error; any other failure is
 * (CBP_EPERM or CBP_EIO, with err), and the caller must then not parse:
 * a worker exits, and its supervisor throttles respawns.
 */
int cbp_confine_apply(const struct cbp_confine_opts *o,
    struct cbp_confine_info *info, struct cbp_error *err);

/*
 * One line for the summary, e.g. "seccomp, landlock ABI 7 (net, scoped)" or
 * "seccomp (sanitizer filter), no landlock", with ", no file opens" when
 * opts.no_files was in force.  Writes at most len bytes.
 */
void cbp_confine_describe(const struct cbp_confine_info *info, char *buf,
    size_t len);

#endif
