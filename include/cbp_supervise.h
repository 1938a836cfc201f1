/*
 * cbp_supervise.h — a supervisor for N confined parser worker processes.
 *
 * The parent submits jobs (opaque bytes, optionally one descriptor), each
 * with the caller's 64-bit id; the supervisor hands them to idle workers,
 * and the caller polls for events: the frames a worker sends while it
 * works on a job, and exactly one DONE per job with its outcome:
 *
 *   ok        the worker function returned (its int is in status)
 *   timeout   the job overran its budget (whole job, or since its last
 *             mark): the worker was killed with SIGKILL
 *   limit     the job ran into the memory cap (the function returned
 *             CBP_ENOMEM under a cap), or the worker was killed by a
 *             SIGKILL we did not send (the kernel's OOM killer)
 *   crash     the worker died on a signal (signal in ev->signal, SIGSYS
 *             for a syscall its seccomp filter refused) or exited mid-job
 *   protocol  the worker sent a malformed frame and was killed
 *
 * A dead or killed worker is replaced; jobs it had been given but not
 * started go to another worker, so only the job in flight pays.  A worker
 * that dies before it took a job (at start-up, or idle) is respawned with
 * a growing delay (50 ms doubling to 5 s); when every worker keeps doing
 * that, cbp_sv_poll fails with CBP_EIO instead of forking in a loop.
 *
 * Workers are forked from the caller: each closes every descriptor but its
 * channel and stderr (stdin and stdout become /dev/null), restores default
 * signal handling, dies with its parent (PR_SET_PDEATHSIG), gets no core
 * dumps, the memory cap (RLIMIT_DATA, see below), runs opts.init, confines
 * itself (cbp_confine_apply: channel and stderr are its only write fds),
 * says it is ready, then runs opts.job for each job.  A worker inherits
 * the parent's memory as it is at that fork, and replacements are forked
 * later, during the scan: the parent must hold nothing secret (delivery
 * token, keys) while it supervises, until workers come from a clean zygote
 * forked at start (not done yet).
 *
 * Memory cap: RLIMIT_DATA, set to the worker's own data size at start plus
 * mem_cap.  RLIMIT_DATA counts private writable memory (heap, anonymous
 * mappings, what malloc gets) and not shared or read-only file mappings, so
 * large read-only data mapped once in the parent is not charged to each
 * worker.  RLIMIT_AS would count every reservation, and AddressSanitizer
 * reserves terabytes of shadow at start-up, so no absolute cap works under
 * ASan; a cap relative to the start works under both.  With the cap
 * reached, malloc returns NULL: code that checks returns CBP_ENOMEM (a
 * "limit" outcome), code that does not crashes (a "crash" outcome); the
 * host's memory is untouched either way.  ASan's quarantine (freed memory
 * held back) counts against the cap in sanitizer builds, and ASan aborts
 * on a failed allocation unless allocator_may_return_null=1.
 *
 * Channel: an AF_UNIX SOCK_SEQPACKET pair, so each frame arrives whole or
 * not at all.  Frames carry a header (payload length, type, flags = 0) that
 * must agree with the message's size; the parent reads without blocking,
 * never trusts a worker's bytes, and kills a worker whose frame is
 * truncated, oversized, of an unknown type, out of place (a result with no
 * job in flight, an end for another job), or carries descriptors.
 *
 * Death is seen through a pidfd per worker (pidfd_open, Linux 5.3), polled
 * with the channels: no SIGCHLD handler, which would be process-wide state
 * shared with the rest of the scan and its threads, and no PID reuse race
 * when killing.  Without pidfds the channel's hang-up says the same and the
 * pid is reaped with waitpid.
 *
 * Thread-safety: a supervisor belongs to the thread that created it; all
 * calls on one supervisor come from that thread.  Several supervisors in
 * one process are independent.  Forking from a threaded process is safe for
 * the worker as long as opts.init and opts.job take no lock another thread
 * may have held at fork (glibc's malloc and stdio reset theirs).
 */
#ifndef CBP_SUPERVISE_H
#define CBP_SUPERVISE_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_confine.h"
#include "cbp_err.h"

/*
 * Largest frame payload in either direction.  A frame is one record or one
 * job description (a path, offsets), far below this; the socket's send
 * buffer (about 208 KiB by default) must hold one whole frame.
 */
#define CBP_SV_FRAME_MAX (64 * 1024)
/* Descriptors one job may carry (SCM_RIGHTS allows up to 253). */
#define CBP_SV_FDS_MAX 16
/* Workers per supervisor, and jobs written ahead to one worker. */
#define CBP_SV_WORKERS_MAX 256
#define CBP_SV_DEPTH_MAX 64
/* Start-up deaths in a row, per worker slot, before its respawn waits:
 * 50 ms, doubled each time up to 5 s; at CBP_SV_GIVE_UP in every slot the
 * supervisor fails instead. */
#define CBP_SV_THROTTLE_MIN_MS 50
#define CBP_SV_THROTTLE_MAX_MS 5000
#define CBP_SV_GIVE_UP 6
/* A worker not ready this long after its fork is killed (a start-up death). */
#define CBP_SV_START_MAX_MS 10000

/* Bytes of progress a worker can leave in its shared page. */
#define CBP_SV_PROGRESS_MAX 1024

/* Frame types 0..15 are the supervisor's; the caller's are 16 and up. */
#define CBP_SV_USER 16

struct cbp_sv;
struct cbp_sv_worker;

/*
 * The job function, in a worker: job bytes as submitted, the descriptors
 * submitted with them, in order (nfds 0 .. CBP_SV_FDS_MAX; closed by the
 * supervisor afterwards), arg from the options.  It sends results with cbp_sv_send and returns a
 * status (enum cbp_err by convention) that reaches the parent in DONE.
 */
typedef int (*cbp_sv_job_fn)(struct cbp_sv_worker *w, const unsigned char *job,
    size_t len, const int *fds, unsigned nfds, void *arg);

struct cbp_sv_opts {
	unsigned nworkers;		/* 1 .. CBP_SV_WORKERS_MAX */
	unsigned depth;			/* jobs written ahead per worker; 0 means 1 */
	uint64_t job_timeout_ms;	/* budget of one whole job; 0: none */
	uint64_t step_timeout_ms;	/* budget since the job's last mark; 0: none */
	uint64_t major_timeout_ms;	/* budget since the last major mark (or
					 * the job's start); 0: none.  A job that
					 * is a batch of objects marks each object
					 * major, each archive member minor. */
	size_t mem_cap;			/* bytes a worker may add after start; 0: none */
	size_t max_frame;		/* payload cap; 0 means CBP_SV_FRAME_MAX */
	unsigned confine_layers;	/* CBP_CONFINE_*; 0 means all */
	int no_confine;			/* 1: do not confine (debugging only) */
	int no_files;			/* 1: workers open nothing, jobs bring
					 * descriptors (cbp_confine_opts.no_files) */
	/* In the worker before confinement (open libmagic, map data ...);
	 * non-zero makes the worker exit, which counts as a start-up death. */
	int (*init)(void *arg);
	/*
	 * Readable descriptor (an eventfd) that makes cbp_sv_poll return
	 * CBP_SV_NONE early when it becomes readable, so a caller waiting
	 * on workers also hears of new jobs; the caller drains it.  0 or
	 * -1: none (so a zeroed struct has none; never pass standard input).
	 */
	int wake_fd;
	cbp_sv_job_fn job;
	void *arg;
};

enum cbp_sv_kind {
	CBP_SV_NONE = 0,	/* nothing happened within the timeout */
	CBP_SV_FRAME,		/* a result frame of a job (type >= CBP_SV_USER) */
	CBP_SV_MARK,		/* the job passed a mark (cbp_sv_mark) */
	CBP_SV_DONE		/* the job is over; outcome says how */
};

enum cbp_sv_outcome {
	CBP_SV_OK = 0,
	CBP_SV_TIMEOUT,
	CBP_SV_LIMIT,
	CBP_SV_CRASH,
	CBP_SV_PROTOCOL
};

struct cbp_sv_event {
	int kind;		/* enum cbp_sv_kind */
	uint64_t job;		/* the caller's id */
	unsigned type;		/* FRAME: the worker's frame type */
	const unsigned char *data;	/* FRAME, MARK: payload, valid until the next poll;
					 * DONE: the job's last progress
					 * (cbp_sv_progress), if any */
	/* MARK: type is 1 for a major mark (cbp_sv_mark_major), else 0 */
	size_t len;
	int outcome;		/* DONE: enum cbp_sv_outcome */
	unsigned worker;	/* DONE: the worker slot (0 .. nworkers-1) that ran it */
	int status;		/* DONE ok: the job function's return value */
	int signal;		/* DONE crash: the signal, 0 for an exit */
	int exit_code;		/* DONE crash by exit: its status */
	char detail[128];	/* DONE not ok: "signal 11", "job budget 2000 ms" ... */
};

struct cbp_sv_stats {
	uint64_t spawned;	/* workers forked, the first ones included */
	uint64_t deaths;	/* workers that died or were killed */
	uint64_t throttled;	/* respawns that had to wait */
	uint64_t done[CBP_SV_PROTOCOL + 1];	/* DONE events by outcome */
	uint64_t start_us_max;	/* longest fork-to-ready (fork, init, confine) */
	uint64_t start_us_sum;	/* their sum, over `ready` workers */
	uint64_t ready;
};

/*
 * Create the supervisor and fork its workers.  *out is owned by the caller
 * and released with cbp_sv_free.  CBP_EINVAL for bad options, CBP_EIO when
 * a worker cannot be forked.
 */
int cbp_sv_new(const struct cbp_sv_opts *o, struct cbp_sv **out,
    struct cbp_error *err);

/*
 * Queue a job: len bytes (<= max_frame - 8) copied, and fd (-1 for none)
 * whose ownership passes to the supervisor, which sends it to the worker
 * and closes its own copy when the job is DONE.  Jobs are handed out in
 * submission order; ids are the caller's and should be unique among jobs
 * not yet DONE.  Never blocks.
 */
int cbp_sv_submit(struct cbp_sv *s, uint64_t id, const void *job, size_t len,
    int fd, struct cbp_error *err);
/* The same with several descriptors (nfds <= CBP_SV_FDS_MAX), all owned
 * from here on, closed on every path. */
int cbp_sv_submit_fds(struct cbp_sv *s, uint64_t id, const void *job,
    size_t len, const int *fds, unsigned nfds, struct cbp_error *err);

/*
 * Wait up to timeout_ms (-1: until something happens) for the next event,
 * doing the supervisor's work meanwhile (reading channels, enforcing
 * budgets, reaping and respawning).  ev->data is borrowed until the next
 * call.  Every frame and mark a job sent before it failed comes before its
 * DONE, for a timeout too (a worker killed for time is read to the end),
 * but nothing after a malformed frame: the caller decides whether partial
 * results count.  A budget is judged only after what the worker already
 * sent is read, so a caller that polls late does not cause timeouts.
 * Returns CBP_OK (ev->kind CBP_SV_NONE on timeout) or CBP_EIO when
 * workers cannot be kept alive.
 */
int cbp_sv_poll(struct cbp_sv *s, int timeout_ms, struct cbp_sv_event *ev,
    struct cbp_error *err);

/* Jobs submitted and not yet DONE. */
size_t cbp_sv_pending(const struct cbp_sv *s);

/*
 * Kill every worker (SIGKILL) and reap them, waiting at most about a
 * second in all.  Jobs not DONE get no event; further submits fail.
 * Safe to call twice.
 */
void cbp_sv_stop(struct cbp_sv *s);

/*
 * Send sig to every live worker (a polite stop: a worker whose opts.init
 * installed a handler finishes what it can and ends its job; call
 * cbp_sv_poll to read what it sends, then cbp_sv_stop all the same).
 */
void cbp_sv_signal(struct cbp_sv *s, int sig);

/* Stop if needed and release everything; NULL is fine. */
void cbp_sv_free(struct cbp_sv *s);

void cbp_sv_get_stats(const struct cbp_sv *s, struct cbp_sv_stats *st);

/* What confinement the last worker to start reported (for the summary). */
void cbp_sv_confinement(const struct cbp_sv *s, struct cbp_confine_info *info);

/* The contract's reason for an outcome: ok, timeout, limit, corrupt. */
const char *cbp_sv_outcome_reason(int outcome);

/* ---- in the worker ---- */

/*
 * Send one result frame of the current job to the parent: type >=
 * CBP_SV_USER, len <= max_frame.  Blocks while the channel is full.
 * CBP_EINVAL for a bad type or size, CBP_EIO when the parent is gone.
 */
int cbp_sv_send(struct cbp_sv_worker *w, unsigned type, const void *data,
    size_t len);

/*
 * Mark progress inside a job (an archive member begins): restarts the
 * step budget and reaches the parent as a CBP_SV_MARK event with the
 * payload, so the parent knows where the job was when it failed.
 */
int cbp_sv_mark(struct cbp_sv_worker *w, const void *data, size_t len);

/* The same, and a new unit of work begins: restarts the major budget too. */
int cbp_sv_mark_major(struct cbp_sv_worker *w, const void *data, size_t len);

/*
 * A mark without a syscall, for work units too small to pay a frame each
 * (one file of a batch): len <= CBP_SV_PROGRESS_MAX bytes go to a page
 * shared with the parent (one per worker slot; others' are unmapped in
 * each worker).  The parent looks every quarter of the shortest budget,
 * and progress restarts the step budget (major: the major budget too) at
 * that look: a budget lasts between its length and 1.25 times it.  The job's DONE event
 * carries the last progress written during it (where a failed job was;
 * what a finished one counted, without a frame of its own).
 */
int cbp_sv_progress(struct cbp_sv_worker *w, const void *data, size_t len,
    int major);

#endif
