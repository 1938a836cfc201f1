/*
 * confine.c — no_new_privs, Landlock read-only access, a seccomp allow-list.
 *
 * Design.  A worker parses hostile bytes with code that is not ours
 * (libarchive, libmagic, image libraries); when one of them is subverted,
 * what the process can still do is what this file leaves it.  The aim is
 * the smallest set that still parses: read files anywhere (an audit reads
 * the whole host), write only into the channel to the parent and stderr,
 * and nothing else that leaves the process.
 *
 * Landlock (the kernel's samples/landlock/sandboxer.c shows the idea): ask
 * the kernel its ABI, handle every file access right that ABI knows, and
 * grant only READ_FILE|READ_DIR beneath "/".  Rights are added by later
 * ABIs (REFER 2, TRUNCATE 3, IOCTL_DEV 5; network 4; scopes 6), so the
 * handled set is masked down to what the running kernel knows: asking an
 * older kernel to handle a right it does not know is EINVAL.  The system
 * headers of the build host may be older than the kernel, hence the local
 * definitions below with the values of the kernel's uapi.
 *
 * seccomp: an allow-list through libseccomp, one entry per syscall with
 * the reason.  The default is to kill the process: a parser that makes a
 * syscall outside the list is either subverted or does something we did
 * not plan for, and either way the object in flight is reported (the
 * supervisor sees SIGSYS) rather than the syscall quietly refused.  A few
 * entries return an error instead, each for a stated reason (probes that
 * have a fallback, mappings whose refusal is handled by their callers).
 */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <langinfo.h>
#include <linux/landlock.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cbp_confine.h"

#if defined(__SANITIZE_ADDRESS__)
#define CBP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define CBP_SANITIZED 1
#endif
#endif
#ifndef CBP_SANITIZED
#define CBP_SANITIZED 0
#endif

/* Landlock uapi values newer than some build hosts' headers (Debian 12's
 * linux-libc-dev stops at ABI 2 for access rights). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/*
 * struct landlock_ruleset_attr as the newest kernels define it.  The size
 * passed tells the kernel which fields we mean: 8 bytes (fs) before ABI 4,
 * 16 (fs, net) for ABI 4 and 5, 24 (fs, net, scoped) from ABI 6.
 */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/* Every file access right, by the ABI that introduced it. */
static uint64_t
ll_fs_rights(int abi)
{
	uint64_t r = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
	    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
	    LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
	    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
	    LANDLOCK_ACCESS_FS_MAKE_SYM;

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

int
cbp_confine_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

static int
apply_landlock(const struct cbp_confine_opts *o, struct cbp_confine_info *info,
    struct cbp_error *err)
{
	/* Where reading is granted: everything, or with no_files nothing
	 * (sanitizer builds: /proc, for their maps and thread lists). */
	const char *beneath_path = !o->no_files ? "/" :
	    CBP_SANITIZED ? "/proc" : NULL;
	struct ll_ruleset_attr attr;
	struct landlock_path_beneath_attr beneath;
	size_t attr_size;
	int abi, rfd = -1, root = -1, r = CBP_EIO;

	abi = cbp_confine_landlock_abi();
	if (abi <= 0)
		return CBP_OK;	/* no Landlock here: degrade, said in info */
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = ll_fs_rights(abi);
	attr_size = sizeof(attr.handled_access_fs);
	if (abi >= 4) {
		/* Handled and never granted: no TCP bind or connect at all. */
		attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
		    LANDLOCK_ACCESS_NET_CONNECT_TCP;
		attr_size += sizeof(attr.handled_access_net);
	}
	if (abi >= 6) {
		/* No signals to, no abstract sockets of, processes outside the
		 * worker's domain: the parent and the rest of the host. */
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET |
		    LANDLOCK_SCOPE_SIGNAL;
		attr_size += sizeof(attr.scoped);
	}
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (rfd < 0) {
		cbp_error_set(err, CBP_EIO, errno,
		    "landlock_create_ruleset (ABI %d): %s", abi, strerror(errno));
		goto out;
	}
	if (beneath_path != NULL) {
		root = open(beneath_path, O_PATH | O_CLOEXEC);
		if (root < 0) {
			cbp_error_set(err, CBP_EIO, errno, "open %s: %s",
			    beneath_path, strerror(errno));
			goto out;
		}
		memset(&beneath, 0, sizeof(beneath));
		beneath.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE |
		    LANDLOCK_ACCESS_FS_READ_DIR;
		beneath.parent_fd = root;
		if (syscall(SYS_landlock_add_rule, rfd,
		    LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) != 0) {
			cbp_error_set(err, CBP_EIO, errno,
			    "landlock_add_rule %s: %s", beneath_path,
			    strerror(errno));
			goto out;
		}
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) != 0) {
		cbp_error_set(err, CBP_EPERM, errno, "landlock_restrict_self: %s",
		    strerror(errno));
		goto out;
	}
	info->landlock_abi = abi;
	info->landlock_net = abi >= 4;
	info->landlock_scoped = abi >= 6;
	r = CBP_OK;
out:
	if (root >= 0)
		close(root);
	if (rfd >= 0)
		close(rfd);
	return r;
}

/* ---- seccomp ------------------------------------------------------------ */

/*
 * Unconditional entries of the allow-list.  Each is allowed with any
 * arguments because whatever it is asked to do stays inside the process or
 * only reads.  Conditional entries (arguments compared) are in
 * seccomp_rules() below.
 */
static const struct allow {
	int nr;
	const char *why;
} allow_always[] = {
	/* Reading what is already open: files, the job channel. */
	{ SCMP_SYS(read), "read files and the channel" },
	{ SCMP_SYS(readv), "scatter reads (stdio, libarchive)" },
	{ SCMP_SYS(pread64), "head-first and windowed reads (read.c)" },
	{ SCMP_SYS(preadv), "as pread64" },
	{ SCMP_SYS(lseek), "libarchive seeks inside archives" },
	{ SCMP_SYS(getdents64), "directory reads (readdir)" },
	/* Metadata of what is readable anyway. */
	{ SCMP_SYS(fstat), "size and type of an open object" },
	{ SCMP_SYS(newfstatat), "glibc's stat family (fstatat)" },
	{ SCMP_SYS(statx), "stat of newer callers" },
	{ SCMP_SYS(fstatfs), "filesystem type (the walk skips pseudo filesystems)" },
	{ SCMP_SYS(close), "closing what a job opened" },
	/* Memory.  mmap and mprotect are conditional (no new executable
	 * pages); these only shrink, move or advise existing mappings. */
	{ SCMP_SYS(munmap), "free large allocations" },
	{ SCMP_SYS(mremap), "realloc of large allocations" },
	{ SCMP_SYS(brk), "malloc's main heap" },
	{ SCMP_SYS(madvise), "malloc returns memory (MADV_DONTNEED)" },
	/* Waiting and time. */
	{ SCMP_SYS(futex), "glibc locks (stdio, malloc) even single-threaded" },
	{ SCMP_SYS(poll), "wait for the channel" },
	{ SCMP_SYS(ppoll), "as poll" },
	{ SCMP_SYS(sched_yield), "spin-wait back-off in libraries" },
	{ SCMP_SYS(clock_gettime), "timestamps, when the vDSO is not used" },
	{ SCMP_SYS(clock_getres), "as clock_gettime" },
	{ SCMP_SYS(gettimeofday), "as clock_gettime" },
	/* Process-local bookkeeping. */
	{ SCMP_SYS(exit), "thread exit" },
	{ SCMP_SYS(exit_group), "process exit" },
	{ SCMP_SYS(restart_syscall), "resume a syscall after a stop signal" },
	{ SCMP_SYS(rt_sigreturn), "return from a signal handler" },
	{ SCMP_SYS(rt_sigprocmask), "glibc blocks signals around abort, fork-free paths" },
	{ SCMP_SYS(rt_sigaction), "abort() resets SIGABRT so the crash is reported as one" },
	{ SCMP_SYS(getrandom), "hash seeds, malloc's tcache randomisation" },
	{ SCMP_SYS(getpid), "own identity (raise, logging)" },
	{ SCMP_SYS(gettid), "as getpid" },
	{ SCMP_SYS(getuid), "read-only identity queries of libraries" },
	{ SCMP_SYS(geteuid), "as getuid" },
	{ SCMP_SYS(getgid), "as getuid" },
	{ SCMP_SYS(getegid), "as getuid" },
	{ SCMP_SYS(uname), "read-only system identification" },
	{ SCMP_SYS(sysinfo), "glibc's qsort asks for physical memory (_SC_PHYS_PAGES)" },
	{ SCMP_SYS(sched_getaffinity), "glibc's get_nprocs (sysconf)" },
};

/* Syscalls refused with an errno instead of a kill, and why. */
static const struct deny {
	int nr;
	int err;
	const char *why;
} deny_soft[] = {
	/* The arguments of these live in a struct that seccomp cannot read,
	 * so they cannot be checked; ENOSYS makes glibc fall back to the old
	 * call, which is checked (openat) or refused (clone). */
	{ SCMP_SYS(openat2), ENOSYS, "flags unreadable by seccomp; fall back to openat" },
	{ SCMP_SYS(clone3), ENOSYS, "flags unreadable by seccomp; fall back to clone" },
	/* isatty() and friends probe with TCGETS; no request ever reaches a
	 * driver (TIOCSTI on an inherited terminal is a known escape). */
	{ SCMP_SYS(ioctl), ENOTTY, "isatty probes; no ioctl reaches a driver" },
};

/*
 * One argument comparison, every field set (libseccomp's SCMP_A* macros
 * leave datum_b out, which clang's -Wmissing-field-initializers refuses).
 * MASKED_EQ: (arg & a) == b; EQ: arg == a, over the whole 64-bit register,
 * so stray upper bits in an int argument make it refused, never allowed.
 */
static struct scmp_arg_cmp
arg_cmp(unsigned arg, enum scmp_compare op, uint64_t a, uint64_t b)
{
	struct scmp_arg_cmp c;

	memset(&c, 0, sizeof(c));
	c.arg = arg;
	c.op = op;
	c.datum_a = a;
	c.datum_b = b;
	return c;
}

static int
rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
    const struct scmp_arg_cmp *cmp, const char *what, struct cbp_error *err)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);

	/* -EDOM: a syscall this architecture lacks; nothing to allow. */
	if (rc == 0 || rc == -EDOM)
		return CBP_OK;
	return cbp_error_set(err, CBP_EIO, -rc, "seccomp rule %s: %s", what,
	    strerror(-rc));
}

static int
seccomp_rules(scmp_filter_ctx ctx, const struct cbp_confine_opts *o,
    struct cbp_error *err)
{
	const uint64_t write_flags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC;
	struct scmp_arg_cmp c[2];
	pid_t self = getpid();
	size_t i;
	int r;

	for (i = 0; i < sizeof(allow_always) / sizeof(allow_always[0]); i++)
		if ((r = rule(ctx, SCMP_ACT_ALLOW, allow_always[i].nr, 0, NULL,
		    allow_always[i].why, err)) != CBP_OK)
			return r;
	for (i = 0; i < sizeof(deny_soft) / sizeof(deny_soft[0]); i++)
		if ((r = rule(ctx, SCMP_ACT_ERRNO(deny_soft[i].err),
		    deny_soft[i].nr, 0, NULL, deny_soft[i].why, err)) != CBP_OK)
			return r;

	/*
	 * openat: read-only opens only.  Any of O_WRONLY, O_RDWR, O_CREAT,
	 * O_TRUNC (O_TMPFILE needs a write mode, so it is covered) kills: a
	 * parser never writes, so the attempt is a subverted worker.  Landlock
	 * refuses the same with EACCES where seccomp is not loaded.
	 */
	c[0] = arg_cmp(2, SCMP_CMP_MASKED_EQ, write_flags, 0);
	if (o->no_files && !CBP_SANITIZED) {
		/* No opens at all: descriptors come over the channel.  A
		 * read-only attempt fails like a permission problem; a write
		 * attempt still kills. */
		if ((r = rule(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
		    c, "openat refused", err)) != CBP_OK)
			return r;
	} else if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, c,
	    "openat read-only", err)) != CBP_OK) {
		return r;
	}

	/*
	 * mmap and mprotect: any mapping without PROT_EXEC.  A new executable
	 * mapping fails with EPERM instead of killing: every caller that makes
	 * one (dlopen of a gconv or NSS module, a JIT compiling late) handles
	 * the failure and goes on without it, and the code it would have
	 * mapped is exactly what an attacker would want.  Executable pages
	 * mapped before confinement (the program, its libraries, PCRE2 JIT code
	 * compiled at rule load) keep working.
	 */
	c[0] = arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, c, "mmap", err)) ||
	    (r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, c, "mprotect",
	    err)))
		return r;
	c[0] = arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC);
	if ((r = rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1, c,
	    "mmap exec", err)) ||
	    (r = rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1, c,
	    "mprotect exec", err)))
		return r;

	/* write/writev: only to the listed descriptors (channel, stderr). */
	for (i = 0; i < o->nwrite_fds; i++) {
		c[0] = arg_cmp(0, SCMP_CMP_EQ, (uint32_t)o->write_fds[i], 0);
		if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, c,
		    "write", err)) ||
		    (r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(writev), 1, c,
		    "writev", err)))
			return r;
	}
	/* recvmsg: a job and its descriptor arrive on the channel. */
	if (o->read_fd > 0) {
		c[0] = arg_cmp(0, SCMP_CMP_EQ, (uint32_t)o->read_fd, 0);
		if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(recvmsg), 1, c,
		    "recvmsg", err)))
			return r;
	}

	/* fcntl: descriptor and status flags only (O_NONBLOCK, FD_CLOEXEC);
	 * no locks, no leases, no duplicates, no pipe resizing. */
	{
		static const int cmds[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL };

		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			c[0] = arg_cmp(1, SCMP_CMP_EQ, (uint32_t)cmds[i], 0);
			if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, c,
			    "fcntl", err)))
				return r;
		}
	}

	/* prctl: naming the process only (shows in ps and crash reports). */
	c[0] = arg_cmp(0, SCMP_CMP_EQ, PR_SET_NAME, 0);
	if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, c, "prctl", err)))
		return r;
	c[0] = arg_cmp(0, SCMP_CMP_EQ, PR_GET_NAME, 0);
	if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, c, "prctl", err)))
		return r;

	/* prlimit64: read our own limits (pid 0, no new value); raising the
	 * memory cap is not possible (the hard limit is set) but not asked. */
	c[0] = arg_cmp(0, SCMP_CMP_EQ, 0, 0);
	c[1] = arg_cmp(2, SCMP_CMP_EQ, 0, 0);
	if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, c,
	    "prlimit64", err)))
		return r;

	if (!CBP_SANITIZED) {
		/* Signals to ourselves only: raise() and abort() use tgkill,
		 * so a crash is still reported with its signal. */
		c[0] = arg_cmp(0, SCMP_CMP_EQ, (uint32_t)self, 0);
		if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, c,
		    "tgkill self", err)) ||
		    (r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, c,
		    "kill self", err)))
			return r;
		return CBP_OK;
	}

	/*
	 * Sanitizer builds only.  LeakSanitizer checks at exit by stopping
	 * the world: it clones a tracer that shares our memory (CLONE_VM) and
	 * ptraces every thread, waits for it, and names it our ptracer for
	 * Yama.  AddressSanitizer uses an alternate signal stack, reads
	 * /proc/self/exe for reports, and may signal its tracer.  None of this
	 * is in release builds; exec and sockets stay refused here too, and
	 * Landlock (ABI >= 6) still scopes signals to the worker's domain.
	 */
	/* The sanitizer runtime makes raw syscalls, some of them the old
	 * forms that glibc no longer uses: open (read-only, as openat above),
	 * stat, lstat, getdents. */
	c[0] = arg_cmp(1, SCMP_CMP_MASKED_EQ, write_flags, 0);
	if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1, c,
	    "open read-only (sanitizer)", err)))
		return r;
	c[0] = arg_cmp(0, SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM);
	if ((r = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, c,
	    "clone (lsan tracer)", err)))
		return r;
	/* A clone that would make a real process (an external symbolizer)
	 * fails, so a report stays unsymbolized rather than killing it. */
	c[0] = arg_cmp(0, SCMP_CMP_MASKED_EQ, CLONE_VM, 0);
	if ((r = rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, c,
	    "clone (refused)", err)) ||
	    (r = rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(vfork), 0, NULL,
	    "vfork (refused)", err)))
		return r;
	{
		static const int san[] = {
			SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(waitid),
			SCMP_SYS(prctl), SCMP_SYS(sigaltstack), SCMP_SYS(getppid),
			SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(tkill),
			SCMP_SYS(readlink), SCMP_SYS(readlinkat),
			SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
			SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
			SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(getdents),
		};

		for (i = 0; i < sizeof(san) / sizeof(san[0]); i++)
			if ((r = rule(ctx, SCMP_ACT_ALLOW, san[i], 0, NULL,
			    "sanitizer", err)))
				return r;
	}
	return CBP_OK;
}

/*
 * Not in the list, so killed: execve/execveat, fork/vfork/clone (workers
 * are single-threaded and make no processes; in sanitizer builds only
 * CLONE_VM clones), ptrace, process_vm_readv/writev, socket, socketpair,
 * connect, bind, listen, accept, sendto/sendmsg, kill/tgkill of any other
 * process, open (the old call; glibc uses openat), chmod/chown/unlink/
 * rename/mkdir/link/symlink and their *at forms, truncate/ftruncate,
 * mount, setuid and friends, setrlimit, pipe, dup, io_uring, bpf, perf,
 * keyctl, memfd_create, userfaultfd ...
 */
static int
apply_seccomp(const struct cbp_confine_opts *o, struct cbp_confine_info *info,
    struct cbp_error *err)
{
	scmp_filter_ctx ctx;
	int r, rc;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "seccomp_init failed");
	/* A syscall of another architecture (i386 int 0x80 on x86_64) kills
	 * too: it would bypass every number above. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0) {
		r = cbp_error_set(err, CBP_EIO, -rc, "seccomp badarch: %s",
		    strerror(-rc));
		goto out;
	}
	if ((r = seccomp_rules(ctx, o, err)) != CBP_OK)
		goto out;
	if ((rc = seccomp_load(ctx)) != 0) {
		r = cbp_error_set(err, CBP_EPERM, -rc, "seccomp_load: %s",
		    strerror(-rc));
		goto out;
	}
	info->seccomp = 1;
	info->seccomp_loose = CBP_SANITIZED;
	r = CBP_OK;
out:
	seccomp_release(ctx);
	return r;
}

int
cbp_confine_apply(const struct cbp_confine_opts *o,
    struct cbp_confine_info *info, struct cbp_error *err)
{
	struct cbp_confine_info scratch;
	unsigned layers = o->layers ? o->layers : CBP_CONFINE_ALL;
	size_t i;
	int r;

	if (info == NULL)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	if (o->nwrite_fds > CBP_CONFINE_MAX_FDS)
		return cbp_error_set(err, CBP_EINVAL, 0, "too many write fds");
	for (i = 0; i < o->nwrite_fds; i++)
		if (o->write_fds[i] < 0)
			return cbp_error_set(err, CBP_EINVAL, 0, "bad write fd");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return cbp_error_set(err, CBP_EPERM, errno,
		    "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	info->no_new_privs = 1;
	/* Landlock first: its setup syscalls are not in the allow-list. */
	if ((layers & CBP_CONFINE_LANDLOCK) &&
	    (r = apply_landlock(o, info, err)) != CBP_OK)
		return r;
	if ((layers & CBP_CONFINE_SECCOMP) &&
	    (r = apply_seccomp(o, info, err)) != CBP_OK)
		return r;
	/* Enforced by either layer (seccomp alone suffices in release
	 * builds; sanitizer builds rely on Landlock for it). */
	info->no_files = o->no_files && ((info->seccomp && !CBP_SANITIZED) ||
	    info->landlock_abi > 0);
	return CBP_OK;
}

void
cbp_confine_describe(const struct cbp_confine_info *info, char *buf,
    size_t len)
{
	char ll[64];

	if (info->landlock_abi > 0)
		snprintf(ll, sizeof(ll), "landlock ABI %d%s%s", info->landlock_abi,
		    info->landlock_net ? " (net" : "",
		    info->landlock_net ? (info->landlock_scoped ? ", scoped)" :
		    ")") : "");
	else
		snprintf(ll, sizeof(ll), "no landlock");
	snprintf(buf, len, "%s%s, %s%s",
	    info->seccomp ? "seccomp" : "no seccomp",
	    info->seccomp_loose ? " (sanitizer filter)" : "", ll,
	    info->no_files ? ", no file opens" : "");
}

/* ---- preload ------------------------------------------------------------ */

/*
 * Charsets libarchive converts member names from (archive_string.c): zip
 * and lha legacy names (CP437, CP932, CP1252 and the UTF-8 flag), Joliet,
 * 7-Zip, CAB and RAR names (UTF-16BE/LE).  libarchive converts them to the
 * current locale's codeset, so each is opened from and to UTF-8 and to
 * that codeset (set the locale before preloading), and kept open: glibc
 * unloads a gconv module some releases after its last user closes it.
 */
static const char *const preload_charsets[] = {
	"CP932", "CP437", "CP850", "CP1252", "UTF-16LE", "UTF-16BE",
	"ISO-8859-1", "ASCII",
};
#define NPRELOAD (sizeof(preload_charsets) / sizeof(preload_charsets[0]))
static iconv_t preload_cd[3 * NPRELOAD];
static pthread_once_t preload_once = PTHREAD_ONCE_INIT;
static int preload_missing = -1;		/* index of one failed charset */

static void
preload_run(void)
{
	struct tm tm;
	time_t now = time(NULL);
	size_t i;

	/* The time zone is read on first use; localtime_r alone may not
	 * load it (glibc calls tzset only in localtime). */
	tzset();
	(void)localtime_r(&now, &tm);
	(void)localtime(&now);
	for (i = 0; i < NPRELOAD; i++) {
		preload_cd[3 * i] = iconv_open("UTF-8", preload_charsets[i]);
		preload_cd[3 * i + 1] = iconv_open(preload_charsets[i], "UTF-8");
		/* The locale's codeset (ANSI_X3.4-1968 in the C locale);
		 * failing here is not missing a module. */
		preload_cd[3 * i + 2] = iconv_open(nl_langinfo(CODESET),
		    preload_charsets[i]);
		if (preload_cd[3 * i] == (iconv_t)-1 ||
		    preload_cd[3 * i + 1] == (iconv_t)-1)
			preload_missing = (int)i;
	}
}

int
cbp_confine_preload(struct cbp_error *err)
{
	pthread_once(&preload_once, preload_run);
	if (preload_missing >= 0)
		return cbp_error_set(err, CBP_EUNSUPPORTED, 0,
		    "iconv: no converter for %s",
		    preload_charsets[preload_missing]);
	return CBP_OK;
}
