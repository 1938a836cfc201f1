/*
 * supervise.c — fork, feed, watch, kill and replace parser workers.
 *
 * Design (Postfix's master is the model for the idea: expect children to
 * fail, know what each one holds, throttle what fails at once; openssh's
 * privilege separation for the split of who may do what).  The parent
 * keeps, per worker slot, the process (pid, pidfd), its channel, and the
 * FIFO of jobs written to it: the head of that FIFO is the job in flight,
 * since a worker takes its jobs in order.  Everything a worker says is
 * checked against that state, so a confused or hostile worker cannot make
 * the parent misattribute a result; at the first bad frame it is killed.
 *
 * One poll(2) over every channel and pidfd, with a timeout that is the
 * nearest of: the caller's timeout, a job's deadline, a throttled respawn.
 * Events are queued internally (a death yields the frames still in its
 * channel, then DONE) and handed out one per cbp_sv_poll call.
 *
 * The child side (worker_main) runs after fork and never returns: it ends
 * in _exit, so nothing registered with atexit by the parent program (output
 * flushing, temp file removal) runs in a worker.
 *
 * Workers are forked by a zygote, itself forked once in cbp_sv_new, before
 * the caller starts threads or loads secrets (the delivery token).  Forking
 * from the threaded parent could copy a lock another thread held (seen
 * with ASan's allocator: workers stuck in start-up), and a worker replaced
 * late in a scan would copy whatever the parent holds by then.  The zygote
 * only forks, reaps and reports: workers are its children, so their wait
 * status reaches the parent as a message from the zygote.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cbp_supervise.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Supervisor frame types (below CBP_SV_USER). */
enum {
	FR_JOB = 1,		/* parent -> worker: u64 id, then the job bytes */
	FR_READY = 2,		/* worker -> parent: struct cbp_confine_info */
	FR_END = 3,		/* worker -> parent: u64 id, i32 status */
	FR_MARK = 4,		/* worker -> parent: payload for the caller */
	FR_MARK_MAJOR = 5	/* worker -> parent: the same, a new unit of work */
};

/* Messages read from one worker per look, so one busy worker cannot keep
 * the others waiting or queue events without bound. */
#define DRAIN_BATCH 64
/* Messages read from an overdue worker before judging it: enough for any
 * backlog of a caller that did not poll; a worker that floods frames while
 * overdue is killed all the same. */
#define OVERDUE_BATCH 1024

/*
 * Progress without a syscall: one shared page per worker slot, written by
 * the worker under a sequence lock (odd while writing), read by the parent
 * only when it judges a budget or a failed job.  Everything in it is the
 * worker's word: bounded on read, retried a few times, then ignored.
 */
struct sv_progress {
	volatile uint64_t seq;		/* odd: being written */
	volatile uint64_t majors;	/* major progress calls so far */
	volatile uint64_t job;		/* the job it belongs to */
	volatile uint32_t len;
	uint32_t pad;
	unsigned char data[CBP_SV_PROGRESS_MAX];
};

struct frame_hdr {
	uint32_t len;		/* payload bytes after this header */
	uint16_t type;
	uint16_t flags;		/* 0 */
};

struct sv_job {
	uint64_t id;
	unsigned char *data;
	size_t len;
	int fds[CBP_SV_FDS_MAX];
	unsigned nfds;
	struct sv_job *next;
};

struct sv_event {
	struct cbp_sv_event ev;
	unsigned char *data;
	struct sv_event *next;
};

enum slot_state { SLOT_DOWN, SLOT_STARTING, SLOT_UP, SLOT_DOOMED };
enum kill_reason { KILL_NONE, KILL_TIMEOUT, KILL_PROTOCOL, KILL_STOP };

struct sv_slot {
	int state;
	pid_t pid;
	int pidfd;		/* -1 without pidfd support */
	int chan;
	struct sv_job *head, *tail;	/* written to the worker, in order */
	unsigned njobs;
	int head_started;	/* the head job's budget runs */
	uint64_t job_deadline, step_deadline;	/* ms, 0: none */
	uint64_t major_deadline;		/* ms, 0: none */
	uint64_t spawned_ms, spawned_us;
	uint64_t respawn_at;	/* ms, when DOWN and throttled */
	unsigned startfails;	/* deaths in a row with no job to blame */
	int kill_reason;
	char kill_detail[96];
	uint64_t killed_job;	/* the overdue job, for KILL_TIMEOUT */
	struct sv_progress *prog;	/* shared page, mapped for the slot's life */
	uint64_t seen_seq, seen_majors;	/* progress at the last budget check */
	uint64_t next_look;		/* ms: when to look at the progress page */
	int exited;			/* the zygote reported its wait status */
	int exit_status;
};

struct cbp_sv {
	struct cbp_sv_opts o;
	struct sv_slot *slots;
	struct sv_job *pending, *pending_tail;
	size_t npending_total;	/* submitted, not DONE */
	struct sv_event *events, *events_tail;
	struct sv_event *last;	/* returned by the previous poll, freed next */
	unsigned char *rbuf;	/* one frame */
	struct cbp_confine_info confinement;
	struct cbp_sv_stats stats;
	int stopped;
	int have_pidfd;
	pid_t parent;		/* the workers' parent: the zygote, in it */
	pid_t zygote;		/* its pid, in the parent; 0: none */
	int zy_ctl;		/* the parent's end of the zygote's channel */
};

/* Parent <-> zygote messages (SOCK_SEQPACKET, one a datagram). */
enum { ZY_SPAWN = 1, ZY_SPAWNED, ZY_EXITED };
struct zy_msg {
	uint32_t type;
	uint32_t slot;
	int32_t pid;		/* -1: the fork failed */
	int32_t value;		/* ZY_SPAWNED: errno; ZY_EXITED: wait status */
};

struct cbp_sv_worker {
	int chan;
	size_t max_frame;
	unsigned char *buf;
	struct sv_progress *prog;
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t
now_ms(void)
{
	return now_us() / 1000u;
}

const char *
cbp_sv_outcome_reason(int outcome)
{
	switch (outcome) {
	case CBP_SV_OK:
		return "ok";
	case CBP_SV_TIMEOUT:
		return "timeout";
	case CBP_SV_LIMIT:
		return "limit";
	default:
		return "corrupt";
	}
}

/* ---- the worker side ---------------------------------------------------- */

static int
worker_write(struct cbp_sv_worker *w, unsigned type, const void *a,
    size_t alen, const void *b, size_t blen)
{
	struct frame_hdr h = { (uint32_t)(alen + blen), (uint16_t)type, 0 };
	struct iovec iov[3] = {
		{ &h, sizeof(h) }, { (void *)a, alen }, { (void *)b, blen }
	};
	ssize_t n;

	if (alen + blen > w->max_frame)
		return CBP_EINVAL;
	do
		n = writev(w->chan, iov, 3);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)(sizeof(h) + alen + blen) ? CBP_OK : CBP_EIO;
}

int
cbp_sv_send(struct cbp_sv_worker *w, unsigned type, const void *data,
    size_t len)
{
	if (type < CBP_SV_USER || type > UINT16_MAX)
		return CBP_EINVAL;
	return worker_write(w, type, data, len, NULL, 0);
}

int
cbp_sv_mark(struct cbp_sv_worker *w, const void *data, size_t len)
{
	return worker_write(w, FR_MARK, data, len, NULL, 0);
}

int
cbp_sv_mark_major(struct cbp_sv_worker *w, const void *data, size_t len)
{
	return worker_write(w, FR_MARK_MAJOR, data, len, NULL, 0);
}

int
cbp_sv_progress(struct cbp_sv_worker *w, const void *data, size_t len,
    int major)
{
	struct sv_progress *p = w->prog;
	uint64_t q;

	if (p == NULL || len > CBP_SV_PROGRESS_MAX)
		return CBP_EINVAL;
	q = p->seq;
	__atomic_store_n(&p->seq, q + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memcpy(p->data, data, len);
	p->len = (uint32_t)len;
	if (major)
		p->majors++;
	__atomic_store_n(&p->seq, q + 2, __ATOMIC_RELEASE);
	return CBP_OK;
}

/* Worker: the job it works on, for the parent's reading of its progress. */
static void
progress_job(struct sv_progress *p, uint64_t id)
{
	uint64_t q;

	if (p == NULL)
		return;
	q = p->seq;
	__atomic_store_n(&p->seq, q + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	p->job = id;
	p->len = 0;
	__atomic_store_n(&p->seq, q + 2, __ATOMIC_RELEASE);
}

/*
 * Parent: a consistent copy of a slot's progress, or 0 (torn by a worker
 * that died or keeps writing, or for another job).
 */
static size_t
progress_read(const struct sv_slot *sl, uint64_t job, unsigned char *out)
{
	const struct sv_progress *p = sl->prog;
	uint64_t a, b, j;
	size_t len;
	int tries;

	for (tries = 0; p != NULL && tries < 8; tries++) {
		a = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		if (a & 1)
			continue;
		j = p->job;
		len = p->len;
		if (len > CBP_SV_PROGRESS_MAX)
			return 0;
		memcpy(out, p->data, len);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		b = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		if (a == b)
			return j == job ? len : 0;
	}
	return 0;
}

/* VmData of this process in bytes (private writable memory), 0 if unknown. */
static size_t
data_size(void)
{
	char buf[4096], *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strstr(buf, "\nVmData:")) == NULL)
		return 0;
	return (size_t)strtoull(p + 8, NULL, 10) * 1024;
}

/* Receive one job and its descriptors; returns its length, 0 at EOF, -1
 * on error. */
static ssize_t
worker_recv(struct cbp_sv_worker *w, int *fds, unsigned *nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * CBP_SV_FDS_MAX)];
	} cm;
	struct iovec iov = { w->buf, sizeof(struct frame_hdr) + w->max_frame };
	struct msghdr m = { 0 };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cm.b;
	m.msg_controllen = sizeof(cm.b);
	do
		n = recvmsg(w->chan, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	c = CMSG_FIRSTHDR(&m);
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(0) &&
	    (c->cmsg_len - CMSG_LEN(0)) % sizeof(int) == 0 &&
	    (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) <= CBP_SV_FDS_MAX) {
		*nfds = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
	}
	return n;
}

static void __attribute__((noreturn))
worker_main(const struct cbp_sv *s, const struct sv_slot *self, int chan)
{
	struct cbp_confine_opts co = { 0 };
	struct cbp_confine_info info = { 0 };
	struct cbp_error e = { 0 };
	struct cbp_sv_worker w = { 0 };
	struct frame_hdr h;
	struct rlimit rl;
	sigset_t all;
	uint64_t id;
	int32_t status;
	size_t base;
	ssize_t n;
	int sig, fd, nul;
	int fds[CBP_SV_FDS_MAX];
	unsigned nfds, i;

	/* Default signal handling: the parent's handlers (SIGTERM, or a test
	 * framework's SIGSEGV catcher) are not the worker's. */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Die with the parent; if it is already gone, go now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != s->parent)
		_exit(111);
	prctl(PR_SET_NAME, "cbpscan-worker");

	/* Descriptors: the channel at 3, stdin and stdout on /dev/null,
	 * stderr kept; nothing else (another worker's channel, the scan's
	 * output, directory fds) survives. */
	if (chan != 3) {
		if (dup2(chan, 3) < 0)
			_exit(112);
		close(chan);
		chan = 3;
	}
	if ((nul = open("/dev/null", O_RDWR)) < 0 || dup2(nul, 0) < 0 ||
	    dup2(nul, 1) < 0)
		_exit(113);
	if (close_range(4, ~0U, 0) != 0) {
		for (fd = 4; fd < 1024; fd++)
			close(fd);
	}

	/* No core dumps: a crashing worker's memory is hostile input. */
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);

	w.chan = chan;
	w.max_frame = s->o.max_frame;
	/* Its own progress page only: another worker's is not its to write. */
	w.prog = self->prog;
	for (fd = 0; fd < (int)s->o.nworkers; fd++)
		if (s->slots[fd].prog != NULL && s->slots[fd].prog != self->prog)
			munmap(s->slots[fd].prog, sizeof(struct sv_progress));
	if ((w.buf = malloc(sizeof(h) + w.max_frame)) == NULL)
		_exit(114);
	if (s->o.init != NULL && s->o.init(s->o.arg) != 0)
		_exit(115);

	/* The cap counts from here: what init loaded is the worker's base. */
	if (s->o.mem_cap > 0) {
		base = data_size();
		rl.rlim_cur = rl.rlim_max = base + s->o.mem_cap;
		if (setrlimit(RLIMIT_DATA, &rl) != 0)
			_exit(116);
	}
	if (!s->o.no_confine) {
		co.layers = s->o.confine_layers;
		co.write_fds[0] = chan;
		co.write_fds[1] = 2;
		co.nwrite_fds = 2;
		co.read_fd = chan;
		co.no_files = s->o.no_files;
		if (cbp_confine_apply(&co, &info, &e) != CBP_OK) {
			fprintf(stderr, "cbpscan worker: %s\n", e.message);
			_exit(117);
		}
	}
	if (worker_write(&w, FR_READY, &info, sizeof(info), NULL, 0) != CBP_OK)
		_exit(118);

	for (;;) {
		n = worker_recv(&w, fds, &nfds);
		if (n == 0)
			_exit(0);	/* the parent closed the channel */
		if (n < (ssize_t)(sizeof(h) + sizeof(id)))
			_exit(119);
		memcpy(&h, w.buf, sizeof(h));
		if (h.type != FR_JOB || h.len != (size_t)n - sizeof(h))
			_exit(120);
		memcpy(&id, w.buf + sizeof(h), sizeof(id));
		progress_job(w.prog, id);
		status = s->o.job(&w, w.buf + sizeof(h) + sizeof(id),
		    h.len - sizeof(id), fds, nfds, s->o.arg);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (worker_write(&w, FR_END, &id, sizeof(id), &status,
		    sizeof(status)) != CBP_OK)
			_exit(121);
	}
}

/* ---- the parent side ---------------------------------------------------- */

/* ---- the zygote --------------------------------------------------------- */

static int
zy_send(int ctl, const struct zy_msg *m, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { 0 };
	ssize_t n;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
	}
	do
		n = sendmsg(ctl, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* One message and the descriptor with it (-1: none); the length, 0 at
 * EOF, -1 on error. */
static ssize_t
zy_recv(int ctl, struct zy_msg *m, int *fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { 0 };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	do
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	c = CMSG_FIRSTHDR(&mh);
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof(*m)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -1;
	}
	return n;
}

/* In the zygote: fork the worker of a slot; its channel goes back to the
 * parent with the pid. */
static void
zygote_spawn(struct cbp_sv *s, int ctl, uint32_t slot)
{
	struct zy_msg m = { ZY_SPAWNED, slot, -1, 0 };
	int sv[2];
	pid_t pid;

	if (slot >= s->o.nworkers) {
		m.value = EINVAL;
		(void)zy_send(ctl, &m, -1);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		m.value = errno;
		(void)zy_send(ctl, &m, -1);
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		close(ctl);
		worker_main(s, &s->slots[slot], sv[1]);
	}
	close(sv[1]);
	if (pid < 0)
		m.value = errno;
	m.pid = pid;
	if (zy_send(ctl, &m, pid > 0 ? sv[0] : -1) != 0 && pid > 0)
		kill(pid, SIGKILL);	/* the parent is gone: reaped below */
	close(sv[0]);
}

static void __attribute__((noreturn))
zygote_main(struct cbp_sv *s, int ctl)
{
	struct signalfd_siginfo si;
	struct pollfd p[2];
	struct zy_msg m;
	sigset_t chld;
	int sfd, st, fd, sig;
	pid_t pid;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* Die with the parent; if it is already gone, go now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != s->parent)
		_exit(101);
	prctl(PR_SET_NAME, "cbpscan-zygote");
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		_exit(102);
	/* Only the channel, the signalfd and stderr: the parent's outputs
	 * and directories are not the zygote's (nor, after fork, a worker's). */
	for (fd = 3; fd < 1024; fd++)
		if (fd != ctl && fd != sfd)
			close(fd);
	s->parent = getpid();	/* what each worker checks it was forked by */
	p[0].fd = ctl;
	p[0].events = POLLIN;
	p[1].fd = sfd;
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			_exit(103);
		if (p[1].revents & POLLIN) {
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
				m.type = ZY_EXITED;
				m.slot = 0;
				m.pid = pid;
				m.value = st;
				(void)zy_send(ctl, &m, -1);
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (zy_recv(ctl, &m, &fd) <= 0)
				_exit(0);	/* the parent closed: workers die with us */
			if (fd >= 0)
				close(fd);
			if (m.type == ZY_SPAWN)
				zygote_spawn(s, ctl, m.slot);
		}
	}
}

/* Fork the zygote (in cbp_sv_new, before any worker). */
static int
zygote_start(struct cbp_sv *s, struct cbp_error *err)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return cbp_error_set(err, CBP_EIO, errno, "socketpair: %s",
		    strerror(errno));
	fflush(NULL);	/* nothing buffered is written twice */
	s->parent = getpid();
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return cbp_error_set(err, CBP_EIO, errno, "fork: %s",
		    strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		zygote_main(s, sv[1]);
	}
	close(sv[1]);
	s->zygote = pid;
	s->zy_ctl = sv[0];
	return CBP_OK;
}

static struct sv_slot *
slot_of_pid(struct cbp_sv *s, pid_t pid)
{
	unsigned i;

	for (i = 0; i < s->o.nworkers; i++)
		if (s->slots[i].pid == pid && pid > 0)
			return &s->slots[i];
	return NULL;
}

/*
 * Read the zygote's messages for up to ms (-1: no limit) until want says
 * stop: a wait status is kept in its slot; ZY_SPAWNED is returned in *got
 * (with its descriptor) when got is not NULL.  0 when stopped by want,
 * -1 on timeout, or when the zygote is gone.
 */
static int
zy_read(struct cbp_sv *s, int ms, const struct sv_slot *want_exit,
    struct zy_msg *got, int *got_fd)
{
	uint64_t end = ms >= 0 ? now_ms() + (uint64_t)ms : 0;
	struct pollfd p = { s->zy_ctl, POLLIN, 0 };
	struct sv_slot *sl;
	struct zy_msg m;
	int fd, left;

	for (;;) {
		if (want_exit != NULL && want_exit->exited)
			return 0;
		left = -1;
		if (ms >= 0) {
			uint64_t t = now_ms();

			left = t >= end ? 0 : (int)(end - t);
		}
		if (s->zy_ctl < 0 || poll(&p, 1, left) == 0)
			return -1;
		if (zy_recv(s->zy_ctl, &m, &fd) <= 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (m.type == ZY_EXITED) {
			if (fd >= 0)
				close(fd);
			if ((sl = slot_of_pid(s, m.pid)) != NULL) {
				sl->exited = 1;
				sl->exit_status = m.value;
			}
		} else if (m.type == ZY_SPAWNED && got != NULL) {
			*got = m;
			*got_fd = fd;
			return 0;
		} else if (fd >= 0) {
			close(fd);
		}
	}
}

static int
spawn(struct cbp_sv *s, struct sv_slot *sl, struct cbp_error *err)
{
	struct zy_msg m = { ZY_SPAWN, (uint32_t)(sl - s->slots), 0, 0 };
	struct zy_msg got;
	int chan = -1;

	if (sl->prog != NULL)
		memset(sl->prog, 0, sizeof(*sl->prog));
	sl->seen_seq = sl->seen_majors = 0;
	if (s->zy_ctl < 0 || zy_send(s->zy_ctl, &m, -1) != 0)
		return cbp_error_set(err, CBP_EIO, errno, "the worker zygote "
		    "is gone");
	for (;;) {
		if (zy_read(s, CBP_SV_START_MAX_MS, NULL, &got, &chan) != 0)
			return cbp_error_set(err, CBP_EIO, ETIMEDOUT, "the "
			    "worker zygote did not answer");
		if (got.slot == m.slot)
			break;
		if (chan >= 0)	/* not ours: cannot happen, one at a time */
			close(chan);
	}
	if (got.pid <= 0 || chan < 0) {
		if (chan >= 0)
			close(chan);
		return cbp_error_set(err, CBP_EIO, got.value, "fork: %s",
		    strerror(got.value));
	}
	(void)fcntl(chan, F_SETFL, O_NONBLOCK);
	sl->pid = got.pid;
	sl->chan = chan;
	sl->exited = 0;
	sl->exit_status = 0;
	/* Not our child, but a pidfd works all the same for signals and for
	 * seeing the exit; the wait status comes from the zygote. */
	sl->pidfd = s->have_pidfd ? (int)syscall(SYS_pidfd_open, got.pid, 0) :
	    -1;
	if (sl->pidfd < 0 && s->have_pidfd && errno == ENOSYS)
		s->have_pidfd = 0;	/* old kernel: the channel's hang-up */
	sl->state = SLOT_STARTING;
	sl->head_started = 0;
	sl->kill_reason = KILL_NONE;
	sl->kill_detail[0] = '\0';
	sl->killed_job = 0;
	sl->spawned_us = now_us();
	sl->spawned_ms = sl->spawned_us / 1000u;
	s->stats.spawned++;
	return CBP_OK;
}

static void
kill_worker(struct sv_slot *sl, int reason, const char *detail)
{
	if (sl->kill_reason == KILL_NONE) {
		sl->kill_reason = reason;
		snprintf(sl->kill_detail, sizeof(sl->kill_detail), "%s", detail);
	}
	if (sl->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, sl->pidfd, SIGKILL, NULL, 0);
	else
		(void)kill(sl->pid, SIGKILL);
	/*
	 * After a bad frame nothing more is read from it.  A worker killed
	 * for time is still read to the end: the results and marks it sent
	 * before the kill are true (the members of an archive before the one
	 * that hung), and an end that crossed the kill means the job made it.
	 */
	if (reason == KILL_TIMEOUT && sl->head != NULL)
		sl->killed_job = sl->head->id;
	else
		sl->state = SLOT_DOOMED;
}

static struct sv_event *
push_event(struct cbp_sv *s, int kind, uint64_t job, const void *data,
    size_t len)
{
	struct sv_event *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	if (len > 0 && (e->data = malloc(len)) == NULL) {
		free(e);
		return NULL;
	}
	if (len > 0)
		memcpy(e->data, data, len);
	e->ev.kind = kind;
	e->ev.job = job;
	e->ev.data = e->data;
	e->ev.len = len;
	if (s->events_tail != NULL)
		s->events_tail->next = e;
	else
		s->events = e;
	s->events_tail = e;
	return e;
}

static void
job_free(struct sv_job *j)
{
	if (j == NULL)
		return;
	while (j->nfds > 0)
		close(j->fds[--j->nfds]);
	free(j->data);
	free(j);
}

/* The head job of a slot is over: DONE event, and it leaves the FIFO. */
static void
finish_head(struct cbp_sv *s, struct sv_slot *sl, int outcome, int status,
    int sig, int code, const char *detail)
{
	struct sv_job *j = sl->head;
	struct sv_event *e;

	sl->head = j->next;
	if (sl->head == NULL)
		sl->tail = NULL;
	sl->njobs--;
	sl->head_started = 0;
	s->npending_total--;
	s->stats.done[outcome]++;
	{
		unsigned char snap[CBP_SV_PROGRESS_MAX];
		size_t n = progress_read(sl, j->id, snap);

		e = push_event(s, CBP_SV_DONE, j->id, snap, n);
	}
	if (e != NULL) {
		e->ev.worker = (unsigned)(sl - s->slots);
		e->ev.outcome = outcome;
		e->ev.status = status;
		e->ev.signal = sig;
		e->ev.exit_code = code;
		snprintf(e->ev.detail, sizeof(e->ev.detail), "%s", detail);
	}
	job_free(j);
}

/*
 * The progress page is looked at every quarter of the shortest budget, so
 * progress restarts a budget at most a quarter late: a budget lasts
 * between its length and 1.25 times it.  0: no budget, no looks.
 */
static uint64_t
look_after(const struct cbp_sv *s, uint64_t t)
{
	uint64_t b = s->o.step_timeout_ms;

	if (s->o.major_timeout_ms && (b == 0 || s->o.major_timeout_ms < b))
		b = s->o.major_timeout_ms;
	return b ? t + (b / 4 ? b / 4 : 1) : 0;
}

static void
start_head(struct cbp_sv *s, struct sv_slot *sl)
{
	uint64_t t = now_ms();

	if (sl->head == NULL || sl->state != SLOT_UP || sl->head_started)
		return;
	sl->head_started = 1;
	sl->job_deadline = s->o.job_timeout_ms ? t + s->o.job_timeout_ms : 0;
	sl->step_deadline = s->o.step_timeout_ms ? t + s->o.step_timeout_ms : 0;
	sl->major_deadline = s->o.major_timeout_ms ? t + s->o.major_timeout_ms : 0;
	if (sl->prog != NULL) {
		sl->seen_seq = __atomic_load_n(&sl->prog->seq, __ATOMIC_ACQUIRE);
		sl->seen_majors = sl->prog->majors;
	}
	sl->next_look = look_after(s, t);
}

/* One message from a worker, checked against what the slot holds. */
static void
handle_frame(struct cbp_sv *s, struct sv_slot *sl, size_t n)
{
	struct frame_hdr h;
	const unsigned char *p = s->rbuf + sizeof(h);
	uint64_t id;
	int32_t status;
	char why[96];
	int outcome;

	if (n < sizeof(h)) {
		kill_worker(sl, KILL_PROTOCOL, "malformed frame: short header");
		return;
	}
	memcpy(&h, s->rbuf, sizeof(h));
	if (h.flags != 0 || h.len != n - sizeof(h) || h.len > s->o.max_frame) {
		snprintf(why, sizeof(why), "malformed frame: length %u in a "
		    "message of %zu", h.len, n);
		kill_worker(sl, KILL_PROTOCOL, why);
		return;
	}
	switch (h.type) {
	case FR_READY:
		if (sl->state != SLOT_STARTING ||
		    h.len != sizeof(struct cbp_confine_info))
			break;
		memcpy(&s->confinement, p, sizeof(s->confinement));
		sl->state = SLOT_UP;
		{
			uint64_t us = now_us() - sl->spawned_us;

			s->stats.ready++;
			s->stats.start_us_sum += us;
			if (us > s->stats.start_us_max)
				s->stats.start_us_max = us;
		}
		start_head(s, sl);
		return;
	case FR_END:
		if (sl->state != SLOT_UP || sl->head == NULL ||
		    h.len != sizeof(id) + sizeof(status))
			break;
		memcpy(&id, p, sizeof(id));
		memcpy(&status, p + sizeof(id), sizeof(status));
		if (id != sl->head->id)
			break;
		outcome = CBP_SV_OK;
		why[0] = '\0';
		if (status == CBP_ENOMEM && s->o.mem_cap > 0) {
			outcome = CBP_SV_LIMIT;
			snprintf(why, sizeof(why), "memory cap %zu MiB",
			    s->o.mem_cap >> 20);
		}
		finish_head(s, sl, outcome, status, 0, 0, why);
		sl->startfails = 0;
		start_head(s, sl);
		return;
	case FR_MARK:
	case FR_MARK_MAJOR:
		if (sl->state != SLOT_UP || sl->head == NULL)
			break;
		if (s->o.step_timeout_ms)
			sl->step_deadline = now_ms() + s->o.step_timeout_ms;
		if (h.type == FR_MARK_MAJOR && s->o.major_timeout_ms)
			sl->major_deadline = now_ms() + s->o.major_timeout_ms;
		{
			struct sv_event *e = push_event(s, CBP_SV_MARK,
			    sl->head->id, p, h.len);

			if (e != NULL)
				e->ev.type = h.type == FR_MARK_MAJOR;
		}
		return;
	default:
		if (h.type < CBP_SV_USER || sl->state != SLOT_UP ||
		    sl->head == NULL)
			break;
		{
			struct sv_event *e = push_event(s, CBP_SV_FRAME,
			    sl->head->id, p, h.len);

			if (e != NULL)
				e->ev.type = h.type;
		}
		return;
	}
	snprintf(why, sizeof(why), "malformed frame: type %u out of place",
	    (unsigned)h.type);
	kill_worker(sl, KILL_PROTOCOL, why);
}

/*
 * Read up to max messages waiting (a worker that writes without pause
 * cannot keep the parent in here, nor grow the event queue without bound);
 * returns 1 when the worker hung up.
 */
static int
drain(struct cbp_sv *s, struct sv_slot *sl, unsigned max)
{
	struct iovec iov;
	struct msghdr m;
	ssize_t n;

	while ((sl->state == SLOT_STARTING || sl->state == SLOT_UP) &&
	    max-- > 0) {
		memset(&m, 0, sizeof(m));
		iov.iov_base = s->rbuf;
		iov.iov_len = sizeof(struct frame_hdr) + s->o.max_frame;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		/* No control buffer: descriptors a worker tries to pass are
		 * discarded by the kernel and flagged with MSG_CTRUNC. */
		n = recvmsg(sl->chan, &m, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN && errno != EWOULDBLOCK;
		if (n == 0)
			return 1;
		if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			kill_worker(sl, KILL_PROTOCOL, (m.msg_flags & MSG_TRUNC) ?
			    "malformed frame: oversized" :
			    "malformed frame: carries descriptors");
			return 0;
		}
		handle_frame(s, sl, (size_t)n);
	}
	return 0;
}

/* Put a slot's unstarted jobs back at the front of the pending queue. */
static void
requeue(struct cbp_sv *s, struct sv_job *first)
{
	struct sv_job *last = first;

	if (first == NULL)
		return;
	while (last->next != NULL)
		last = last->next;
	last->next = s->pending;
	s->pending = first;
	if (s->pending_tail == NULL)
		s->pending_tail = last;
}

/* Wait up to ms (-1: no limit) for a dead or killed worker's wait status,
 * as the zygote reports it; -1 when it did not come. */
static int
reap(struct cbp_sv *s, struct sv_slot *sl, int ms)
{
	if (!sl->exited && zy_read(s, ms, sl, NULL, NULL) != 0)
		return -1;
	return sl->exit_status;
}

static unsigned
throttle_ms(unsigned fails)
{
	unsigned ms = CBP_SV_THROTTLE_MIN_MS;

	if (fails == 0)
		return 0;
	while (--fails > 0 && ms < CBP_SV_THROTTLE_MAX_MS)
		ms *= 2;
	return ms < CBP_SV_THROTTLE_MAX_MS ? ms : CBP_SV_THROTTLE_MAX_MS;
}

/* The worker is dead or dying: results first, then one DONE for the job in
 * flight, the rest back to the queue, and a respawn time. */
static void
bury(struct cbp_sv *s, struct sv_slot *sl)
{
	struct sv_job *rest;
	char detail[128];
	int st, sig = 0, code = 0, outcome;
	unsigned t;

	/* Dead or dying: what it wrote before is bounded by the socket's
	 * buffer, and all of it is read. */
	(void)drain(s, sl, UINT32_MAX);
	st = -1;
	if (sl->kill_reason == KILL_NONE) {
		/* It hung up: normally because it is dying; a worker that
		 * closed its channel and lives on is killed as a liar. */
		if ((st = reap(s, sl, 200)) < 0)
			kill_worker(sl, KILL_PROTOCOL,
			    "closed its channel and lived on");
	}
	if (st < 0)
		st = reap(s, sl, 5000);
	s->stats.deaths++;
	if (st >= 0 && WIFSIGNALED(st))
		sig = WTERMSIG(st);
	else if (st >= 0 && WIFEXITED(st))
		code = WEXITSTATUS(st);

	if (sl->kill_reason == KILL_TIMEOUT &&
	    (sl->head == NULL || sl->head->id != sl->killed_job)) {
		/* The overdue job's end crossed the kill: it made it, and
		 * the job behind it (if started) is not to blame. */
		sl->head_started = 0;
	} else if (sl->head != NULL && sl->head_started) {
		switch (sl->kill_reason) {
		case KILL_TIMEOUT:
			outcome = CBP_SV_TIMEOUT;
			snprintf(detail, sizeof(detail), "%s", sl->kill_detail);
			break;
		case KILL_PROTOCOL:
			outcome = CBP_SV_PROTOCOL;
			snprintf(detail, sizeof(detail), "%s", sl->kill_detail);
			break;
		default:
			if (sig == SIGKILL) {
				/* Not ours: the kernel's OOM killer. */
				outcome = CBP_SV_LIMIT;
				snprintf(detail, sizeof(detail),
				    "killed by SIGKILL (out of memory)");
			} else if (sig != 0) {
				outcome = CBP_SV_CRASH;
				snprintf(detail, sizeof(detail), "signal %d%s", sig,
				    sig == SIGSYS ? " (forbidden syscall)" : "");
			} else {
				outcome = CBP_SV_CRASH;
				snprintf(detail, sizeof(detail),
				    "worker exited with status %d mid-job", code);
			}
		}
		finish_head(s, sl, outcome, 0, sig, code, detail);
		sl->startfails = 0;
	} else if (sl->kill_reason == KILL_NONE ||
	    sl->kill_reason == KILL_PROTOCOL) {
		sl->startfails++;	/* died with no job to blame */
	}
	rest = sl->head;
	sl->head = sl->tail = NULL;
	sl->njobs = 0;
	requeue(s, rest);
	close(sl->chan);
	if (sl->pidfd >= 0)
		close(sl->pidfd);
	sl->chan = sl->pidfd = -1;
	sl->pid = 0;
	sl->state = SLOT_DOWN;
	sl->head_started = 0;
	t = throttle_ms(sl->startfails);
	if (t > 0)
		s->stats.throttled++;
	sl->respawn_at = now_ms() + t;
}

/*
 * The live slot with room that holds the fewest jobs (the lowest index
 * among equals), skipping those whose channel was full this round; NULL
 * when none has room.
 */
static struct sv_slot *
least_loaded(struct cbp_sv *s, const unsigned char *full)
{
	struct sv_slot *best = NULL;
	unsigned i;

	for (i = 0; i < s->o.nworkers; i++) {
		struct sv_slot *sl = &s->slots[i];

		if (full[i] || (sl->state != SLOT_UP &&
		    sl->state != SLOT_STARTING) || sl->kill_reason != KILL_NONE ||
		    sl->njobs >= s->o.depth)
			continue;
		if (best == NULL || sl->njobs < best->njobs)
			best = sl;
	}
	return best;
}

/*
 * Write queued jobs to workers with room; a full channel just waits.  Each
 * job goes to the worker holding the fewest: filling one worker's queue
 * before the next put consecutive jobs on one worker, and the phases of a
 * split archive (scan.c), submitted together, must go to different ones.
 */
static void
dispatch(struct cbp_sv *s)
{
	unsigned char full[CBP_SV_WORKERS_MAX] = { 0 };
	struct sv_slot *sl;
	struct sv_job *j;
	struct frame_hdr h;
	struct iovec iov[3];
	struct msghdr m;
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int) * CBP_SV_FDS_MAX)];
	} cm;
	ssize_t n;

	while (s->pending != NULL && (sl = least_loaded(s, full)) != NULL) {
		j = s->pending;
		h.len = (uint32_t)(sizeof(j->id) + j->len);
		h.type = FR_JOB;
		h.flags = 0;
		iov[0].iov_base = &h;
		iov[0].iov_len = sizeof(h);
		iov[1].iov_base = &j->id;
		iov[1].iov_len = sizeof(j->id);
		iov[2].iov_base = j->data;
		iov[2].iov_len = j->len;
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		m.msg_iovlen = 3;
		if (j->nfds > 0) {
			memset(&cm, 0, sizeof(cm));
			m.msg_control = cm.b;
			m.msg_controllen = CMSG_SPACE(sizeof(int) *
			    j->nfds);
			cm.c.cmsg_level = SOL_SOCKET;
			cm.c.cmsg_type = SCM_RIGHTS;
			cm.c.cmsg_len = CMSG_LEN(sizeof(int) * j->nfds);
			memcpy(CMSG_DATA(&cm.c), j->fds,
			    sizeof(int) * j->nfds);
		}
		n = sendmsg(sl->chan, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			/* Full (or dying: its death is seen). */
			full[sl - s->slots] = 1;
			continue;
		}
		s->pending = j->next;
		if (s->pending == NULL)
			s->pending_tail = NULL;
		j->next = NULL;
		if (sl->tail != NULL)
			sl->tail->next = j;
		else
			sl->head = j;
		sl->tail = j;
		sl->njobs++;
		start_head(s, sl);
	}
}

/* Close the zygote's channel: it exits (its workers die with it). */
static void
zygote_stop(struct cbp_sv *s)
{
	int st;

	if (s->zy_ctl >= 0)
		close(s->zy_ctl);
	s->zy_ctl = -1;
	if (s->zygote > 0) {
		uint64_t end = now_ms() + 1000;

		while (waitpid(s->zygote, &st, WNOHANG) == 0) {
			if (now_ms() >= end) {
				kill(s->zygote, SIGKILL);
				(void)waitpid(s->zygote, &st, 0);
				break;
			}
			usleep(1000);
		}
	}
	s->zygote = 0;
}

int
cbp_sv_new(const struct cbp_sv_opts *o, struct cbp_sv **out,
    struct cbp_error *err)
{
	struct cbp_sv *s = NULL;
	unsigned i;
	int r = CBP_ENOMEM;

	*out = NULL;
	if (o->nworkers == 0 || o->nworkers > CBP_SV_WORKERS_MAX ||
	    o->job == NULL || o->depth > CBP_SV_DEPTH_MAX ||
	    o->max_frame > CBP_SV_FRAME_MAX)
		return cbp_error_set(err, CBP_EINVAL, 0, "supervisor options");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	s->zy_ctl = -1;
	s->o = *o;
	if (s->o.depth == 0)
		s->o.depth = 1;
	if (s->o.max_frame == 0)
		s->o.max_frame = CBP_SV_FRAME_MAX;
	if (s->o.max_frame < sizeof(struct cbp_confine_info) + 16) {
		r = cbp_error_set(err, CBP_EINVAL, 0, "max_frame too small");
		goto out;
	}
	s->have_pidfd = 1;
	if ((s->slots = calloc(o->nworkers, sizeof(*s->slots))) == NULL ||
	    (s->rbuf = malloc(sizeof(struct frame_hdr) + s->o.max_frame)) ==
	    NULL) {
		r = cbp_error_set(err, CBP_ENOMEM, ENOMEM, "supervisor");
		goto out;
	}
	for (i = 0; i < o->nworkers; i++) {
		void *m = mmap(NULL, sizeof(struct sv_progress),
		    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		s->slots[i].chan = s->slots[i].pidfd = -1;
		s->slots[i].state = SLOT_DOWN;
		s->slots[i].prog = m != MAP_FAILED ? m : NULL;
	}
	if ((r = zygote_start(s, err)) != CBP_OK)
		goto out;
	for (i = 0; i < o->nworkers; i++)
		if ((r = spawn(s, &s->slots[i], err)) != CBP_OK)
			goto out;
	*out = s;
	s = NULL;
	r = CBP_OK;
out:
	cbp_sv_free(s);
	return r;
}

static void
close_fds(const int *fds, unsigned nfds)
{
	unsigned i;

	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int
cbp_sv_submit_fds(struct cbp_sv *s, uint64_t id, const void *job, size_t len,
    const int *fds, unsigned nfds, struct cbp_error *err)
{
	struct sv_job *j;
	unsigned i;

	if (s->stopped || len > s->o.max_frame - sizeof(uint64_t) ||
	    nfds > CBP_SV_FDS_MAX) {
		close_fds(fds, nfds > CBP_SV_FDS_MAX ? CBP_SV_FDS_MAX : nfds);
		return cbp_error_set(err, CBP_EINVAL, 0, s->stopped ?
		    "supervisor stopped" : nfds > CBP_SV_FDS_MAX ? "job with "
		    "%zu descriptors" : "job of %zu bytes too large",
		    nfds > CBP_SV_FDS_MAX ? (size_t)nfds : len);
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (len > 0 && (j->data = malloc(len)) == NULL)) {
		free(j);
		close_fds(fds, nfds);
		return cbp_error_set(err, CBP_ENOMEM, ENOMEM, "job");
	}
	if (len > 0)
		memcpy(j->data, job, len);
	j->id = id;
	j->len = len;
	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			j->fds[j->nfds++] = fds[i];
	if (s->pending_tail != NULL)
		s->pending_tail->next = j;
	else
		s->pending = j;
	s->pending_tail = j;
	s->npending_total++;
	dispatch(s);
	return CBP_OK;
}

int
cbp_sv_submit(struct cbp_sv *s, uint64_t id, const void *job, size_t len,
    int fd, struct cbp_error *err)
{
	return cbp_sv_submit_fds(s, id, job, len, &fd, fd >= 0 ? 1 : 0, err);
}

size_t
cbp_sv_pending(const struct cbp_sv *s)
{
	return s->npending_total;
}

static int
overdue(const struct sv_slot *sl, uint64_t t)
{
	return (sl->job_deadline && t >= sl->job_deadline) ||
	    (sl->step_deadline && t >= sl->step_deadline) ||
	    (sl->major_deadline && t >= sl->major_deadline);
}

/* Kill workers whose job overran; respawn what is down and due. */
static int
housekeeping(struct cbp_sv *s, uint64_t t, uint64_t *next,
    struct cbp_error *err)
{
	unsigned i, hopeless = 0;
	char why[96];

	for (i = 0; i < s->o.nworkers; i++) {
		struct sv_slot *sl = &s->slots[i];

		/*
		 * A worker that never says it is ready (stuck in start-up:
		 * seen under ASan, whose allocator a fork can inherit locked
		 * from another thread) would keep the jobs written to it
		 * forever: killed, it counts as a start-up death and its jobs
		 * go to another worker.
		 */
		if (sl->state == SLOT_STARTING && sl->kill_reason == KILL_NONE) {
			if (t >= sl->spawned_ms + CBP_SV_START_MAX_MS)
				kill_worker(sl, KILL_PROTOCOL, "start-up took too long");
			else if (sl->spawned_ms + CBP_SV_START_MAX_MS < *next)
				*next = sl->spawned_ms + CBP_SV_START_MAX_MS;
		}
		if (sl->state == SLOT_UP && sl->head_started &&
		    sl->kill_reason == KILL_NONE && overdue(sl, t)) {
			/* An end may be waiting unread (the caller did not
			 * poll for a while): read first, then judge. */
			if (drain(s, sl, OVERDUE_BATCH)) {
				bury(s, sl);
				continue;
			}
		}
		if (sl->state == SLOT_UP && sl->head_started &&
		    sl->kill_reason == KILL_NONE && sl->prog != NULL &&
		    (overdue(sl, t) || (sl->next_look && t >= sl->next_look))) {
			/* Progress written since the last look restarts the
			 * budgets it concerns (a budget is thus at least its
			 * length and at most 1.25 times it, see look_after). */
			uint64_t q = __atomic_load_n(&sl->prog->seq,
			    __ATOMIC_ACQUIRE), m = sl->prog->majors;

			if (q != sl->seen_seq) {
				sl->seen_seq = q;
				if (s->o.step_timeout_ms)
					sl->step_deadline = t + s->o.step_timeout_ms;
			}
			if (m != sl->seen_majors) {
				sl->seen_majors = m;
				if (s->o.major_timeout_ms)
					sl->major_deadline = t +
					    s->o.major_timeout_ms;
				if (s->o.step_timeout_ms)
					sl->step_deadline = t + s->o.step_timeout_ms;
			}
			sl->next_look = look_after(s, t);
		}
		if (sl->state == SLOT_UP && sl->head_started &&
		    sl->next_look && sl->next_look < *next)
			*next = sl->next_look;
		if (sl->state == SLOT_UP && sl->head_started &&
		    sl->kill_reason == KILL_NONE) {
			if (sl->job_deadline && t >= sl->job_deadline) {
				snprintf(why, sizeof(why), "job budget %llu ms",
				    (unsigned long long)s->o.job_timeout_ms);
				kill_worker(sl, KILL_TIMEOUT, why);
			} else if (sl->step_deadline && t >= sl->step_deadline) {
				snprintf(why, sizeof(why), "step budget %llu ms",
				    (unsigned long long)s->o.step_timeout_ms);
				kill_worker(sl, KILL_TIMEOUT, why);
			} else if (sl->major_deadline &&
			    t >= sl->major_deadline) {
				snprintf(why, sizeof(why), "object budget %llu ms",
				    (unsigned long long)s->o.major_timeout_ms);
				kill_worker(sl, KILL_TIMEOUT, why);
			} else {
				if (sl->major_deadline &&
				    sl->major_deadline < *next)
					*next = sl->major_deadline;
				if (sl->job_deadline && sl->job_deadline < *next)
					*next = sl->job_deadline;
				if (sl->step_deadline && sl->step_deadline < *next)
					*next = sl->step_deadline;
			}
		}
		if (sl->state == SLOT_DOWN) {
			if (sl->startfails >= CBP_SV_GIVE_UP) {
				hopeless++;
				continue;
			}
			if (t >= sl->respawn_at) {
				/* A failed fork (EAGAIN at the process limit)
				 * counts as a start-up death: retried later. */
				if (spawn(s, sl, NULL) != CBP_OK) {
					sl->startfails++;
					s->stats.throttled++;
					sl->respawn_at = t +
					    throttle_ms(sl->startfails);
					if (sl->respawn_at < *next)
						*next = sl->respawn_at;
				}
			} else if (sl->respawn_at < *next) {
				*next = sl->respawn_at;
			}
		}
	}
	if (hopeless == s->o.nworkers)
		return cbp_error_set(err, CBP_EIO, 0, "workers die at start-up "
		    "(%u times in a row each)", CBP_SV_GIVE_UP);
	return CBP_OK;
}

int
cbp_sv_poll(struct cbp_sv *s, int timeout_ms, struct cbp_sv_event *ev,
    struct cbp_error *err)
{
	struct pollfd pfd[2 * CBP_SV_WORKERS_MAX + 1];
	unsigned owner[2 * CBP_SV_WORKERS_MAX + 1];
	uint64_t t, end, next;
	unsigned i, n;
	int r, wait, woken = 0;

	memset(ev, 0, sizeof(*ev));
	if (s->last != NULL) {
		free(s->last->data);
		free(s->last);
		s->last = NULL;
	}
	t = now_ms();
	end = timeout_ms < 0 ? UINT64_MAX : t + (uint64_t)timeout_ms;
	while (s->events == NULL && !s->stopped) {
		t = now_ms();
		next = end;
		if ((r = housekeeping(s, t, &next, err)) != CBP_OK)
			return r;
		dispatch(s);
		if (s->events != NULL)
			break;
		n = 0;
		for (i = 0; i < s->o.nworkers; i++) {
			struct sv_slot *sl = &s->slots[i];

			if (sl->state == SLOT_DOWN)
				continue;
			if (sl->state != SLOT_DOOMED) {
				pfd[n].fd = sl->chan;
				pfd[n].events = POLLIN;
				owner[n++] = i;
			}
			if (sl->pidfd >= 0) {
				pfd[n].fd = sl->pidfd;
				pfd[n].events = POLLIN;
				owner[n++] = i;
			} else if (sl->state == SLOT_DOOMED) {
				/* No pidfd: a killed worker is reaped now. */
				bury(s, sl);
			}
		}
		if (s->events != NULL)
			break;
		if (s->o.wake_fd > 0) {
			pfd[n].fd = s->o.wake_fd;
			pfd[n].events = POLLIN;
			owner[n++] = CBP_SV_WORKERS_MAX;
		}
		/* next <= end: the caller's time, or an earlier deadline or
		 * respawn; when time is up, one last look without waiting. */
		if (t >= end)
			wait = 0;
		else if (next == UINT64_MAX)
			wait = -1;
		else
			wait = (int)(next > t ? (next - t > 60000 ? 60000 :
			    next - t) : 0);
		r = poll(pfd, n, wait);
		if (r < 0 && errno != EINTR)
			return cbp_error_set(err, CBP_EIO, errno, "poll: %s",
			    strerror(errno));
		for (i = 0; r > 0 && i < n; i++) {
			struct sv_slot *sl;

			if (owner[i] == CBP_SV_WORKERS_MAX) {
				if (pfd[i].revents != 0)
					woken = 1;
				continue;
			}
			sl = &s->slots[owner[i]];
			if (pfd[i].revents == 0 || sl->state == SLOT_DOWN)
				continue;
			if (pfd[i].fd == sl->pidfd) {
				bury(s, sl);
			} else if (sl->state != SLOT_DOOMED &&
			    drain(s, sl, DRAIN_BATCH)) {
				/* Hung up: it is exiting or closed its end. */
				bury(s, sl);
			}
		}
		if ((wait == 0 && t >= end) || woken)
			break;
	}
	if (s->events != NULL) {
		s->last = s->events;
		s->events = s->last->next;
		if (s->events == NULL)
			s->events_tail = NULL;
		*ev = s->last->ev;
	}
	return CBP_OK;
}

void
cbp_sv_stop(struct cbp_sv *s)
{
	unsigned i;
	uint64_t end;
	int left;
	struct sv_job *j;

	if (s == NULL || s->stopped)
		return;
	s->stopped = 1;
	for (i = 0; i < s->o.nworkers; i++)
		if (s->slots[i].state != SLOT_DOWN && s->slots[i].pid > 0)
			kill_worker(&s->slots[i], KILL_STOP, "stopped");
	/* Reap within about a second in all; a worker stuck in the kernel
	 * (uninterruptible I/O) is left to die on its own. */
	end = now_ms() + 1000;
	for (i = 0; i < s->o.nworkers; i++) {
		struct sv_slot *sl = &s->slots[i];
		uint64_t t = now_ms();

		if (sl->pid <= 0)
			continue;
		left = t >= end ? 0 : (int)(end - t);
		(void)reap(s, sl, left);
		if (sl->chan >= 0)
			close(sl->chan);
		if (sl->pidfd >= 0)
			close(sl->pidfd);
		sl->chan = sl->pidfd = -1;
		sl->pid = 0;
		while ((j = sl->head) != NULL) {
			sl->head = j->next;
			job_free(j);
		}
		sl->tail = NULL;
		sl->njobs = 0;
		sl->state = SLOT_DOWN;
	}
	while ((j = s->pending) != NULL) {
		s->pending = j->next;
		job_free(j);
	}
	s->pending_tail = NULL;
	s->npending_total = 0;
	zygote_stop(s);
}

void
cbp_sv_signal(struct cbp_sv *s, int sig)
{
	unsigned i;

	for (i = 0; s != NULL && !s->stopped && i < s->o.nworkers; i++) {
		struct sv_slot *sl = &s->slots[i];

		if (sl->state != SLOT_UP && sl->state != SLOT_STARTING)
			continue;
		/* The pidfd names this process and no later one. */
		if (sl->pidfd >= 0)
			(void)syscall(SYS_pidfd_send_signal, sl->pidfd, sig,
			    NULL, 0);
		else
			(void)kill(sl->pid, sig);
	}
}

void
cbp_sv_free(struct cbp_sv *s)
{
	struct sv_event *e;
	unsigned i;

	if (s == NULL)
		return;
	if (s->slots != NULL)
		cbp_sv_stop(s);
	while ((e = s->events) != NULL) {
		s->events = e->next;
		free(e->data);
		free(e);
	}
	if (s->last != NULL) {
		free(s->last->data);
		free(s->last);
	}
	free(s->rbuf);
	for (i = 0; s->slots != NULL && i < s->o.nworkers; i++)
		if (s->slots[i].prog != NULL)
			munmap(s->slots[i].prog, sizeof(struct sv_progress));
	free(s->slots);
	free(s);
}

void
cbp_sv_get_stats(const struct cbp_sv *s, struct cbp_sv_stats *st)
{
	*st = s->stats;
}

void
cbp_sv_confinement(const struct cbp_sv *s, struct cbp_confine_info *info)
{
	*info = s->confinement;
}
