/*
 * main.c — commands, options and the exit status.
 *
 * The only file that prints to the user or exits.  Modules return codes and
 * fill error slots; here they become messages on stderr and one of the
 * contract's exit statuses (docs/contract.md):
 *   0 no violation, 1 at least one violation, 2 usage/config/rule error or
 *   the scan could not finish, 3 (delivery) reports spooled.
 * --help is generated from the same option table the parser uses, so the
 * two cannot drift; man/cbpscan.1 mirrors it and a test checks they agree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cbp_config.h"
#include "cbp_limits.h"
#include "cbp_output.h"
#include "cbp_rules.h"
#include "cbp_scan.h"
#include "cbp_trust.h"
#include "cbp_yaml.h"

enum cbp_exit {
	EXIT_CLEAN = 0,		/* scan finished, no violation */
	EXIT_VIOLATION = 1,	/* scan finished, at least one violation */
	EXIT_ERROR = 2,		/* usage, configuration or rule error; scan did not finish */
	EXIT_SPOOLED = 3,	/* scan finished, reports spooled (delivery) */
};

static const char *progname = "cbpscan";

/* ---- option table: parser and --help from one place ---------------------- */

enum opt_id {
	OPT_RULES = 256, OPT_KNOWN, OPT_FORMAT, OPT_OUTPUT, OPT_THREADS,
	OPT_ENDPOINT, OPT_CONFIG, OPT_EXCLUDE, OPT_MAX_DEPTH, OPT_QUIET,
	OPT_PROGRESS, OPT_STRICT, OPT_ENDPOINT_FORMAT, OPT_TOKEN_FILE,
	OPT_CA_FILE, OPT_CLIENT_CERT, OPT_CLIENT_KEY, OPT_SPOOL, OPT_HELP,
	OPT_VERSION, OPT_APPEND, OPT_ONE_FS = 'x',
};

struct opt_doc {
	struct option opt;
	const char *arg;	/* argument name for --help, NULL if none */
	const char *help;
};

static const struct opt_doc scan_opts[] = {
	{ { "rules", required_argument, NULL, OPT_RULES }, "PATH",
	  "rule file or directory (repeatable); default: the binary's build tree's, else the installed rules" },
	{ { "known", required_argument, NULL, OPT_KNOWN }, "PATH",
	  "known-image list file or directory (repeatable)" },
	{ { "format", required_argument, NULL, OPT_FORMAT }, "text|jsonl",
	  "record format; default: text on a terminal, jsonl otherwise" },
	{ { "output", required_argument, NULL, OPT_OUTPUT }, "FILE",
	  "write records to FILE instead of standard output (new files 0600; no symlink, no FIFO)" },
	{ { "append", no_argument, NULL, OPT_APPEND }, NULL,
	  "with --output, append to FILE instead of replacing it" },
	{ { "threads", required_argument, NULL, OPT_THREADS }, "N",
	  "worker threads (default: online CPUs)" },
	{ { "endpoint", required_argument, NULL, OPT_ENDPOINT }, "URL",
	  "also report to this central HTTPS endpoint" },
	{ { "config", required_argument, NULL, OPT_CONFIG }, "FILE",
	  "configuration file (cbpscan.conf(5))" },
	{ { "one-file-system", no_argument, NULL, OPT_ONE_FS }, NULL,
	  "do not descend into directories on other filesystems (-x)" },
	{ { "exclude", required_argument, NULL, OPT_EXCLUDE }, "GLOB",
	  "skip names (GLOB without /) or paths (GLOB with /) matching GLOB (repeatable)" },
	{ { "max-depth", required_argument, NULL, OPT_MAX_DEPTH }, "N",
	  "archive nesting depth limit (default 8)" },
	{ { "quiet", no_argument, NULL, OPT_QUIET }, NULL,
	  "findings only: no summary, no unscannable lines in text, no progress" },
	{ { "progress", no_argument, NULL, OPT_PROGRESS }, NULL,
	  "show progress on standard error" },
	{ { "strict", no_argument, NULL, OPT_STRICT }, NULL,
	  "unscannable objects count as violations (exit 1)" },
	{ { "endpoint-format", required_argument, NULL, OPT_ENDPOINT_FORMAT },
	  "ndjson|splunk-hec|elastic-bulk", "endpoint record format (default ndjson)" },
	{ { "token-file", required_argument, NULL, OPT_TOKEN_FILE }, "FILE",
	  "bearer token for the endpoint, read from FILE (mode 0600)" },
	{ { "ca-file", required_argument, NULL, OPT_CA_FILE }, "FILE",
	  "CA bundle to verify the endpoint" },
	{ { "client-cert", required_argument, NULL, OPT_CLIENT_CERT }, "FILE",
	  "client certificate for mutual TLS" },
	{ { "client-key", required_argument, NULL, OPT_CLIENT_KEY }, "FILE",
	  "client key for mutual TLS" },
	{ { "spool", required_argument, NULL, OPT_SPOOL }, "DIR",
	  "durable outbox for undelivered reports" },
	{ { "help", no_argument, NULL, OPT_HELP }, NULL, "show this help" },
	{ { NULL, 0, NULL, 0 }, NULL, NULL },
};

static void
usage_lines(FILE *fp)
{
	fprintf(fp,
	    "usage: %s scan [OPTIONS] PATH...\n"
	    "       %s hash [OPTIONS] FILE...\n"
	    "       %s rules check [PATH...]\n"
	    "       %s flush [OPTIONS]\n"
	    "       %s --version | --help\n",
	    progname, progname, progname, progname, progname);
}

static void
help(void)
{
	const struct opt_doc *d;
	char left[64];

	usage_lines(stdout);
	printf("\nScan files, directories and archives for protected plate and "
	    "traveler images.\n\nOptions for scan:\n");
	for (d = scan_opts; d->opt.name != NULL; d++) {
		if (d->opt.val < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->opt.val,
			    d->opt.name, d->arg ? " " : "", d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", d->opt.name,
			    d->arg ? " " : "", d->arg ? d->arg : "");
		if (strlen(left) > 28)
			printf("  %s\n  %-28s  %s\n", left, "", d->help);
		else
			printf("  %-28s  %s\n", left, d->help);
	}
	printf("\nExit status: 0 no violation, 1 violation found, 2 usage, "
	    "configuration or rule error\n(or the scan could not finish, or a "
	    "PATH could not be scanned), "
	    "3 reports spooled, not delivered.\n"
	    "See cbpscan(1), cbpscan-rules(5), cbpscan.conf(5).\n");
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage_lines(stderr);
	fprintf(stderr, "Try '%s --help' for more information.\n", progname);
	return EXIT_ERROR;
}

/* ---- rules ------------------------------------------------------------------ */

static void
print_diag(void *arg, const char *file, int line, int col, const char *msg)
{
	int *count = arg;

	(*count)++;
	if (line > 0)
		fprintf(stderr, "%s:%d:%d: %s\n", file, line, col, msg);
	else
		fprintf(stderr, "%s: %s\n", file, msg);
}

/* ---- data files: where they come from, and may root trust them ----------- */

/*
 * The rules and the compiled magic database decide what is a finding, so
 * they come only from places the person who installed the binary chose:
 *   the build tree the binary sits in (build/cbpscan beside
 *   build/cbpscan.mgc, with ../rules), found through /proc/self/exe, or
 *   the install prefix (CBP_DATADIR, fixed at build time).
 * Never the current directory and never the environment: either would let
 * whoever controls the directory cron starts in, or the environment sudo
 * passes on, make the scanner report clean.  (The unit tests name the
 * database through CBPSCAN_MAGIC; only the test programs read it.)
 * As root, whatever is loaded must also pass cbp_trust (owner and modes of
 * the file and of every directory above it).
 */
struct data_paths {
	char magic[PATH_MAX];	/* cbpscan.mgc */
	char rules[PATH_MAX];	/* default rules directory */
	uid_t owner;		/* who besides root may own them (see find_data) */
	char looked[2 * PATH_MAX + 64];	/* where we looked, for messages */
};

static int
is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Build-tree data may be owned by whoever owns the binary: root running a
 * binary trusts its owner with its code already, so the data beside it
 * adds no one new (a developer's tree, a CI checkout owned by the CI
 * user).  Installed data must be root's.
 */
static void
find_data(struct data_paths *d)
{
	char exe[PATH_MAX], *slash;
	struct stat st;
	ssize_t n;

	memset(d, 0, sizeof(*d));
	if (stat("/proc/self/exe", &st) == 0)
		d->owner = st.st_uid;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0 && (size_t)n < sizeof(exe) - 1) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			/* A build tree: both the database beside us and ../rules. */
			if ((size_t)snprintf(d->magic, sizeof(d->magic),
			    "%s/cbpscan.mgc", exe) < sizeof(d->magic) &&
			    (size_t)snprintf(d->rules, sizeof(d->rules),
			    "%s/../rules", exe) < sizeof(d->rules) &&
			    is_file(d->magic) && is_dir(d->rules))
				return;
			snprintf(d->looked, sizeof(d->looked), "%s (beside the "
			    "binary, a build tree) and ", exe);
		}
	}
	d->owner = 0;
	n = (ssize_t)strlen(d->looked);
	snprintf(d->looked + n, sizeof(d->looked) - (size_t)n, "%s (the "
	    "install prefix)", CBP_DATADIR);
	snprintf(d->magic, sizeof(d->magic), "%s/cbpscan.mgc", CBP_DATADIR);
	snprintf(d->rules, sizeof(d->rules), "%s/rules", CBP_DATADIR);
}

/*
 * Open path, and as root refuse it unless cbp_trust passes it, with owner
 * as the one user besides root who may own it and the directories above
 * (0: root only).  Returns the name to load it by: the kernel's name for
 * what was opened (in real[]), so a symbolic link named on the command
 * line is followed once, here, as sudo and ssh follow one to a file they
 * then check, and cannot be swapped between the check and the load.  The
 * YAML layer opens with O_NOFOLLOW, so links met later (inside a rules
 * directory) are refused.  Root and other users resolve alike, so a path
 * means the same whoever runs the scan.  NULL after printing why.  A
 * directory is checked as itself here; its files are checked by the caller.
 */
static const char *
trusted_path(const char *path, char real[PATH_MAX], const char *what,
    uid_t owner)
{
	struct cbp_error err = { 0 };
	char link[64];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		fprintf(stderr, "%s: %s: %s: cannot open: %s\n", progname, what,
		    path, strerror(errno));
		return NULL;
	}
	if (geteuid() == 0 &&
	    cbp_trust_check_fd_as(fd, path, owner, &err) != CBP_OK) {
		fprintf(stderr, "%s: %s: %s\n", progname, what, err.message);
		close(fd);
		return NULL;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, PATH_MAX - 1);
	close(fd);
	if (n <= 0 || n >= PATH_MAX - 1) {
		fprintf(stderr, "%s: %s: %s: cannot resolve its location\n",
		    progname, what, path);
		return NULL;
	}
	real[n] = '\0';
	return real;
}

/* The names rules.c loads from a directory (load_dir): *.yaml, *.yml, no dot files. */
static int
is_rule_file(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return 0;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/*
 * As root, every rule file a directory would give must pass cbp_trust too:
 * a root-owned directory may still hold a file another user owns or can
 * write.  0, or -1 after printing why.
 */
static int
trusted_rule_dir(const char *dir, uid_t owner)
{
	struct cbp_error err = { 0 };
	struct dirent *de;
	char p[PATH_MAX];
	DIR *d;
	int fd, bad = 0;

	if (geteuid() != 0)
		return 0;
	if ((d = opendir(dir)) == NULL)
		return 0;	/* rules.c reports why it cannot be read */
	while (!bad && (de = readdir(d)) != NULL) {
		if (!is_rule_file(de->d_name))
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= sizeof(p))
			continue;	/* rules.c reports it */
		memset(&err, 0, sizeof(err));
		if ((fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
			continue;	/* rules.c reports it */
		if (cbp_trust_check_fd_as(fd, p, owner, &err) != CBP_OK) {
			fprintf(stderr, "%s: rules: %s\n", progname, err.message);
			bad = 1;
		}
		close(fd);
	}
	closedir(d);
	return bad ? -1 : 0;
}

static int
load_rules(struct cbp_ruleset **rsp, const char *const *paths, size_t n,
    const struct data_paths *data)
{
	struct cbp_ruleset *rs;
	const char *def[1], *use;
	uid_t owner = 0;
	char real[PATH_MAX];
	struct stat st;
	int errors = 0, r = CBP_OK;
	size_t i;

	*rsp = NULL;
	if (n == 0) {
		if (!is_dir(data->rules)) {
			fprintf(stderr, "%s: no rules given and none installed: "
			    "looked in %s; give --rules, run 'make' in the source "
			    "tree or 'make install' (rules are never taken from "
			    "the current directory)\n", progname, data->looked);
			return CBP_EIO;
		}
		def[0] = data->rules;
		owner = data->owner;
		paths = def;
		n = 1;
	}
	if ((rs = cbp_ruleset_new()) == NULL) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return CBP_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		int lr;

		/* Missing or unreadable: rules.c says so with its own words. */
		use = paths[i];
		if (stat(paths[i], &st) == 0) {
			if ((use = trusted_path(paths[i], real, "rules", owner)) == NULL ||
			    (S_ISDIR(st.st_mode) && trusted_rule_dir(use, owner) != 0)) {
				cbp_ruleset_free(rs);
				return CBP_EPERM;
			}
		}
		lr = cbp_ruleset_load(rs, use, print_diag, &errors);
		if (lr != CBP_OK && r == CBP_OK)
			r = lr;
		if (lr == CBP_EIO && errors == 0)
			fprintf(stderr, "%s: %s: cannot read rules: %s\n",
			    progname, paths[i], strerror(errno));
	}
	if (r == CBP_OK)
		r = cbp_ruleset_compile(rs, print_diag, &errors);
	if (r != CBP_OK) {
		if (errors > 0)
			fprintf(stderr, "%s: %d error%s in rules; fix them and run "
			    "'%s rules check'\n", progname, errors,
			    errors == 1 ? "" : "s", progname);
		cbp_ruleset_free(rs);
		return r;
	}
	*rsp = rs;
	return CBP_OK;
}

static int
cmd_rules(int argc, char **argv)
{
	struct cbp_ruleset *rs;
	struct data_paths data;

	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return usage_error("rules: unknown subcommand '%s' (expected 'check')",
		    argc < 2 ? "" : argv[1]);
	if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
		printf("usage: %s rules check [PATH...]\n"
		    "Compile rule files or directories and report every error "
		    "as file:line:col.\n", progname);
		return EXIT_CLEAN;
	}
	find_data(&data);
	if (load_rules(&rs, (const char *const *)argv + 2, (size_t)(argc - 2),
	    &data) != CBP_OK)
		return EXIT_ERROR;
	printf("%zu rule%s compiled, no errors\n", cbp_ruleset_count(rs),
	    cbp_ruleset_count(rs) == 1 ? "" : "s");
	cbp_ruleset_free(rs);
	return EXIT_CLEAN;
}

/* ---- scan ------------------------------------------------------------------- */

struct scan_args {
	struct cbp_config cfg;		/* config file values, overridden by options */
	const char *format;
	const char *output;
	const char *config_path;
	int quiet, progress, append;
	int threads_set, depth_set, strict_set, onefs_set;
};

#if defined(__SANITIZE_ADDRESS__)
/*
 * Sanitizer builds only: a parser worker's memory cap (RLIMIT_DATA) must
 * make malloc return NULL, as it does in the real build, so the parser
 * reports "limit" instead of ASan aborting the worker.  The environment's
 * ASAN_OPTIONS still comes after these and wins.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

static volatile int cancel_flag;

static void
on_signal(int sig)
{
	(void)sig;
	cancel_flag = 1;
}

struct progress_ctx {
	const struct cbp_scan_stats *stats;
	volatile int stop;
	double start;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
progress_line(struct progress_ctx *p, int final)
{
	double el = mono_s() - p->start;
	unsigned long long files = atomic_load(&p->stats->files);
	unsigned long long bytes = atomic_load(&p->stats->bytes);

	fprintf(stderr, "\r%llu files, %.1f MB, %llu archives, %llu findings, "
	    "%llu unscannable, %.0f files/s, %.1f s%s",
	    files, (double)bytes / 1e6,
	    (unsigned long long)atomic_load(&p->stats->archives),
	    (unsigned long long)atomic_load(&p->stats->findings),
	    (unsigned long long)atomic_load(&p->stats->unscannable),
	    el > 0 ? (double)files / el : 0.0, el, final ? "\n" : "  ");
	fflush(stderr);
}

static void *
progress_thread(void *arg)
{
	struct progress_ctx *p = arg;
	struct timespec ts;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		if (!p->stop)
			progress_line(p, 0);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/*
 * A reader that goes away (cbpscan scan / | head -1) is seen at the next
 * write as EPIPE, but on a tree where findings are rare the next write
 * may be minutes away.  When records go to a pipe or socket, this thread
 * watches the descriptor instead: poll() with no events still reports
 * POLLERR on a pipe whose read end is closed (POLLHUP on a socket), and
 * then the scan is cancelled at once.
 */
struct reader_watch {
	int fd;
	volatile int stop;	/* set by main when the scan is over */
	volatile int gone;	/* the reader went away */
};

static void *
reader_watch_thread(void *arg)
{
	struct reader_watch *w = arg;
	struct pollfd pfd = { .fd = w->fd, .events = 0 };

	while (!w->stop && !cancel_flag) {
		if (poll(&pfd, 1, 200) > 0 &&
		    (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			w->gone = 1;
			cancel_flag = 1;
			break;
		}
	}
	return NULL;
}

static void
make_uuid(char out[37])
{
	unsigned char u[16];
	size_t i, k = 0;
	static const char hx[] = "0123456789abcdef";

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
		/* No entropy available: still unique enough for a scan id. */
		unsigned long long t = (unsigned long long)(now_s() * 1e6) ^
		    ((unsigned long long)getpid() << 32);
		for (i = 0; i < sizeof(u); i++)
			u[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)i;
	}
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hx[u[i] >> 4];
		out[k++] = hx[u[i] & 15];
	}
	out[k] = '\0';
}

/*
 * --output FILE.  cbpscan often runs as root and FILE may be in a directory
 * others can write (/tmp), so:
 *   O_NOFOLLOW: a symbolic link planted under the name is refused, never
 *     followed to a file root can write and the planter cannot;
 *   O_NONBLOCK, then fstat: a FIFO (or socket) is refused rather than
 *     waited on; a character device named explicitly (/dev/null, a
 *     terminal, /dev/full) is accepted, since naming one is deliberate and
 *     writing to it cannot block a scan for ever the way a FIFO nobody
 *     reads does;
 *   created with O_EXCL and mode 0600, then fchmod 0600 so the umask
 *     cannot change it: records name files and carry masked evidence and
 *     are for the auditor only.  An existing file keeps its mode; it is
 *     truncated only after it proved to be a regular file (O_TRUNC at open
 *     would empty whatever was there before the check), or appended to
 *     with --append.
 * NULL after printing why.
 */
static FILE *
open_output_file(const char *path, int append)
{
	int fd = -1, created = 0, tries, fl;
	int flags = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
	    (append ? O_APPEND : 0);
	struct stat st;
	FILE *fp;

	for (tries = 0; fd < 0 && tries < 3; tries++) {
		if ((fd = open(path, flags | O_CREAT | O_EXCL, 0600)) >= 0)
			created = 1;
		else if (errno == EEXIST)
			fd = open(path, flags);	/* ENOENT if removed meanwhile: again */
		if (fd < 0 && errno != ENOENT && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		if (errno == ELOOP)
			fprintf(stderr, "%s: %s: is a symbolic link: not followed "
			    "(name the file itself)\n", progname, path);
		else if (errno == ENXIO)
			fprintf(stderr, "%s: %s: is a FIFO or socket: records are "
			    "written only to a regular file or a character "
			    "device\n", progname, path);
		else
			fprintf(stderr, "%s: %s: cannot open for writing: %s\n",
			    progname, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		fprintf(stderr, "%s: %s: is a %s: records are written only to a "
		    "regular file or a character device\n", progname, path,
		    S_ISFIFO(st.st_mode) ? "FIFO" : S_ISDIR(st.st_mode) ?
		    "directory" : "special file");
		goto fail;
	}
	if ((created && fchmod(fd, 0600) != 0) ||
	    (S_ISREG(st.st_mode) && !append && !created && ftruncate(fd, 0) != 0)) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		goto fail;
	}
	/* Writes wait for a slow terminal rather than fail with EAGAIN. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
	    (fp = fdopen(fd, append ? "a" : "w")) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		goto fail;
	}
	return fp;
fail:
	close(fd);
	return NULL;
}

static int
open_outputs(struct cbp_output *out, const struct scan_args *a, FILE **fpp)
{
	FILE *fp = stdout;
	int text;
	unsigned flags = 0;
	struct cbp_sink *sink;
	const char *fmt = a->format;

	*fpp = NULL;
	if (a->output != NULL && strcmp(a->output, "-") != 0) {
		if ((fp = open_output_file(a->output, a->append)) == NULL)
			return EXIT_ERROR;
		*fpp = fp;
	}
	if (fmt == NULL)
		fmt = isatty(fileno(fp)) ? "text" : "jsonl";
	text = strcmp(fmt, "text") == 0;
	if (text) {
		const char *nc = getenv("NO_COLOR");
		if (isatty(fileno(fp)) && (nc == NULL || *nc == '\0'))
			flags |= CBP_TEXT_COLOR;
		if (a->quiet)
			flags |= CBP_TEXT_QUIET;
		sink = cbp_sink_text_new(fp, flags);
	} else {
		sink = cbp_sink_jsonl_new(fp);
	}
	if (sink == NULL || cbp_output_add(out, sink) != CBP_OK) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return EXIT_ERROR;
	}
	return EXIT_CLEAN;
}

/*
 * How writing records went, once the outputs are closed.  A reader that
 * went away (EPIPE: cbpscan scan / | head -1) is not an error worth a
 * word: the user stopped reading on purpose.  The exit status (2) still
 * says the scan did not finish.  Anything else (a full disk, an I/O
 * error) is said once, with how many records are missing.
 */
static void
report_output(const struct cbp_output *o, const char *output)
{
	const char *name = output != NULL && strcmp(output, "-") != 0 ?
	    output : "standard output";

	if (o->write_errno == EPIPE)
		return;
	if (o->write_errno != 0)
		fprintf(stderr, "%s: %s: cannot write records: %s; the scan "
		    "stopped and %llu record%s (the summary included) %s not "
		    "written\n", progname, name, strerror(o->write_errno),
		    o->lost, o->lost == 1 ? "" : "s", o->lost == 1 ? "was" : "were");
	else if (o->first_error != CBP_OK)
		fprintf(stderr, "%s: %s: %llu record%s not written: %s\n",
		    progname, name, o->lost, o->lost == 1 ? "" : "s",
		    o->first_error == CBP_ELIMIT ? "larger than the record "
		    "size cap" : cbp_strerror(o->first_error));
}

/*
 * A PATH that could not be scanned at all: said on stderr whatever the
 * output format or --quiet, since a typo in a cron job must not read as a
 * clean host.  Runs on a worker thread (one fprintf: one line).
 */
static void
report_root(void *arg, const char *path, enum cbp_reason reason,
    const char *detail)
{
	const char *hint, *shown = "\"\"";	/* the empty path */
	struct cbp_dynbuf b;

	(void)arg;
	switch (reason) {
	case CBP_REASON_PERMISSION:
		hint = "run cbpscan as a user allowed to read it (root)";
		break;
	case CBP_REASON_CHANGED:
		hint = "it changed while being opened; scan it again";
		break;
	case CBP_REASON_NOMEM:
		hint = "free memory or lower limits.member_max";
		break;
	default:
		hint = "check that the path exists and can be read";
		break;
	}
	/* A name from a shell glob can be a user's: never raw to a terminal. */
	cbp_dynbuf_init(&b, 4 * strlen(path) + 16);	/* \xNN per byte at most */
	if (cbp_text_escape(&b, path, strlen(path)) == CBP_OK && b.data != NULL)
		shown = (const char *)b.data;	/* NUL-terminated */
	fprintf(stderr, "%s: %s: not scanned: %s; %s (exit status 2)\n",
	    progname, shown, detail, hint);
	cbp_dynbuf_free(&b);
}

/*
 * What isolated the parsers (issue 8): the confinement workers reported
 * (older kernels lack Landlock), workers that died or were killed, and the
 * objects each worker took (the tests check the balance from it).  Said
 * with --progress, or when a worker had to be replaced (a parser failed:
 * its records say which objects); a clean run stays silent on stderr.
 */
static void
report_isolation(const struct cbp_scan *scan, int progress)
{
	struct cbp_confine_info ci;
	struct cbp_sv_stats ss;
	const uint64_t *per;
	char conf[160];
	unsigned i, n;

	cbp_scan_confinement(scan, &ci, &ss);
	if (!progress && ss.deaths == 0)
		return;
	cbp_confine_describe(&ci, conf, sizeof(conf));
	n = cbp_scan_per_worker(scan, &per);
	fprintf(stderr, "%s: parsers ran in %u worker process%s confined by %s; "
	    "%llu worker%s replaced; objects per worker:", progname, n,
	    n == 1 ? "" : "es", ss.ready > 0 ? conf : "nothing (no worker "
	    "started)", (unsigned long long)ss.deaths, ss.deaths == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		fprintf(stderr, " %llu", (unsigned long long)per[i]);
	fputc('\n', stderr);
}

static int
run_scan(struct scan_args *a, char **roots, size_t nroots)
{
	struct cbp_ruleset *rs = NULL;
	struct data_paths data;
	char magic_real[PATH_MAX];
	const char *magic;
	struct cbp_output out;
	struct cbp_scan *scan = NULL;
	struct cbp_scan_opts so;
	struct cbp_summary sum = { 0 };
	struct cbp_error err = { 0 };
	struct progress_ctx prog = { 0 };
	const struct cbp_scan_stats *st;
	pthread_t ptid;
	int have_prog = 0, status = EXIT_ERROR, outputs = 0;
	FILE *outfp = NULL;
	char host[256];
	double t0, m0;
	struct sigaction sa;
	struct reader_watch watch = { .fd = -1 };
	struct stat ost;
	pthread_t wtid;
	int have_watch = 0;

	find_data(&data);
	if (load_rules(&rs, (const char *const *)a->cfg.rules, a->cfg.nrules,
	    &data) != CBP_OK)
		return EXIT_ERROR;
	if (!is_file(data.magic)) {
		fprintf(stderr, "%s: cannot find the identification database "
		    "cbpscan.mgc: looked in %s; run 'make' in the source tree or "
		    "'make install' (it is never taken from the current "
		    "directory)\n", progname, data.looked);
		goto out;
	}
	if ((magic = trusted_path(data.magic, magic_real,
	    "magic database", data.owner)) == NULL)
		goto out;
	if (cbp_output_init(&out) != CBP_OK) {
		fprintf(stderr, "%s: cannot set up outputs\n", progname);
		goto out;
	}
	outputs = 1;
	/* A failed write stops the scan (cbp_output.h). */
	out.cancel = &cancel_flag;
	if ((status = open_outputs(&out, a, &outfp)) != EXIT_CLEAN)
		goto out;
	status = EXIT_ERROR;

	memset(&so, 0, sizeof(so));
	so.roots = (const char *const *)roots;
	so.nroots = nroots;
	so.nthreads = a->cfg.threads;
	so.one_file_system = a->cfg.one_file_system;
	so.excludes = (const char *const *)a->cfg.excludes;
	so.nexcludes = a->cfg.nexcludes;
	so.strict = a->cfg.strict;
	so.caps = a->cfg.caps;
	so.expand = a->cfg.expand;
	so.authz = a->cfg.authz;
	so.nauthz = a->cfg.nauthz;
	so.magic_db = magic;
	so.root_failed = report_root;
	so.object_timeout_ms = a->cfg.object_timeout_ms;
	so.member_timeout_ms = a->cfg.member_timeout_ms;
	so.worker_memory = a->cfg.worker_memory;
	if (cbp_scan_new(&so, rs, &out, &scan, &err) != CBP_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.message);
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	st = cbp_scan_stats(scan);
	t0 = now_s();
	m0 = mono_s();
	if (a->progress && !a->quiet) {
		prog.stats = st;
		prog.start = m0;
		pthread_mutex_init(&prog.lock, NULL);
		pthread_cond_init(&prog.cond, NULL);
		have_prog = pthread_create(&ptid, NULL, progress_thread, &prog) == 0;
	}
	watch.fd = outfp != NULL ? fileno(outfp) : STDOUT_FILENO;
	if (fstat(watch.fd, &ost) == 0 && (S_ISFIFO(ost.st_mode) || S_ISSOCK(ost.st_mode)))
		have_watch = pthread_create(&wtid, NULL, reader_watch_thread, &watch) == 0;
	if (cbp_scan_run(scan, &cancel_flag) != CBP_OK) {
		fprintf(stderr, "%s: the scan could not run (out of memory?)\n",
		    progname);
		cancel_flag = 1;
	}
	if (have_watch) {
		watch.stop = 1;
		pthread_join(wtid, NULL);
	}
	if (have_prog) {
		pthread_mutex_lock(&prog.lock);
		prog.stop = 1;
		pthread_cond_signal(&prog.cond);
		pthread_mutex_unlock(&prog.lock);
		pthread_join(ptid, NULL);
		progress_line(&prog, 1);
	}

	make_uuid(sum.scan_id);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	sum.host = host;
	sum.started = t0;
	sum.finished = now_s();
	sum.elapsed_s = mono_s() - m0;
	sum.files = atomic_load(&st->files);
	sum.bytes = atomic_load(&st->bytes);
	sum.archives = atomic_load(&st->archives);
	sum.members = atomic_load(&st->members);
	sum.findings = atomic_load(&st->findings);
	sum.violations = atomic_load(&st->violations);
	sum.unscannable = atomic_load(&st->unscannable);
	sum.skipped.symlink = atomic_load(&st->skip_symlink);
	sum.skipped.fifo = atomic_load(&st->skip_fifo);
	sum.skipped.socket = atomic_load(&st->skip_socket);
	sum.skipped.device = atomic_load(&st->skip_device);
	sum.skipped.excluded = atomic_load(&st->skip_excluded);
	sum.skipped.other_fs = atomic_load(&st->skip_other_fs);
	sum.skipped.vanished = atomic_load(&st->skip_vanished);
	/* A root that could not be scanned must never read as clean. */
	sum.complete = !cancel_flag && atomic_load(&st->roots_failed) == 0;
	if (!sum.complete)
		status = EXIT_ERROR;
	else
		status = sum.violations > 0 ? EXIT_VIOLATION : EXIT_CLEAN;
	/* A failed write means the records are incomplete: not a clean scan. */
	if (out.first_error != CBP_OK)
		status = EXIT_ERROR;
	sum.exit_status = status;
	/* After a failed write the sink that failed writes nothing more; the
	 * summary still goes to any other sink, and is counted as lost. */
	cbp_output_summary(&out, &sum);
	if (cancel_flag && out.write_errno == 0 && !watch.gone)
		fprintf(stderr, "%s: interrupted: the scan did not finish\n", progname);
	if (!a->quiet)
		report_isolation(scan, a->progress);
out:
	if (outputs) {
		if (cbp_output_close(&out) != CBP_OK)
			status = EXIT_ERROR;
		report_output(&out, a->output);
	}
	if (outfp != NULL && fclose(outfp) != 0 && outputs && out.write_errno == 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, a->output, strerror(errno));
		status = EXIT_ERROR;
	}
	cbp_scan_free(scan);
	cbp_ruleset_free(rs);
	return status;
}

static const char *
option_name(int val)
{
	const struct opt_doc *d;

	for (d = scan_opts; d->opt.name != NULL; d++)
		if (d->opt.val == val)
			return d->opt.name;
	return "?";
}

static struct option *
long_options(void)
{
	static struct option opts[sizeof(scan_opts) / sizeof(scan_opts[0])];
	size_t i;

	for (i = 0; i < sizeof(scan_opts) / sizeof(scan_opts[0]); i++)
		opts[i] = scan_opts[i].opt;
	return opts;
}

static int
cmd_scan(int argc, char **argv)
{
	struct scan_args a;
	struct cbp_config_diag diag = { 0 };
	uint64_t v;
	int c, r, status;
	/* Options are applied after the config file, so gather them first. */
	const char *rules[CBP_CONFIG_LIST_MAX], *excludes[CBP_CONFIG_LIST_MAX];
	size_t nrules = 0, nexcludes = 0;
	unsigned long long threads = 0, depth = 0;
	char cfg_real[PATH_MAX];

	memset(&a, 0, sizeof(a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "+x", long_options(), NULL)) != -1) {
		switch (c) {
		case OPT_RULES:
			if (nrules == CBP_CONFIG_LIST_MAX)
				return usage_error("too many --rules (at most %s)", "64");
			rules[nrules++] = optarg;
			break;
		case OPT_EXCLUDE:
			if (nexcludes == CBP_CONFIG_LIST_MAX)
				return usage_error("too many --exclude (at most %s)", "64");
			excludes[nexcludes++] = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") != 0 && strcmp(optarg, "jsonl") != 0)
				return usage_error("--format: '%s' is not text or jsonl", optarg);
			a.format = optarg;
			break;
		case OPT_OUTPUT:
			a.output = optarg;
			break;
		case OPT_APPEND:
			a.append = 1;
			break;
		case OPT_THREADS:
			/* The grammar and range of the config's threads key. */
			if (cbp_parse_uint(optarg, 1, 1024, &v, NULL, 0) != CBP_OK)
				return usage_error("--threads: '%s' is not a number from 1 "
				    "to 1024 (leave it out for one per online CPU)", optarg);
			threads = v;
			break;
		case OPT_MAX_DEPTH:
			if (cbp_parse_uint(optarg, 0, 64, &v, NULL, 0) != CBP_OK)
				return usage_error("--max-depth: '%s' is not a number from 0 to 64", optarg);
			depth = v;
			a.depth_set = 1;
			break;
		case OPT_CONFIG:
			a.config_path = optarg;
			break;
		case OPT_ONE_FS:
			a.onefs_set = 1;
			break;
		case OPT_QUIET:
			a.quiet = 1;
			break;
		case OPT_PROGRESS:
			a.progress = 1;
			break;
		case OPT_STRICT:
			a.strict_set = 1;
			break;
		case OPT_HELP:
			help();
			return EXIT_CLEAN;
		case OPT_KNOWN:
			fprintf(stderr, "%s: --known: known-image matching (SHA-256 "
			    "and PDQ lists) is not in this version yet\n", progname);
			return EXIT_ERROR;
		case OPT_ENDPOINT:
		case OPT_ENDPOINT_FORMAT:
		case OPT_TOKEN_FILE:
		case OPT_CA_FILE:
		case OPT_CLIENT_CERT:
		case OPT_CLIENT_KEY:
		case OPT_SPOOL:
			fprintf(stderr, "%s: --%s: delivery to a central endpoint is "
			    "not in this version yet; write records with --output "
			    "and --format jsonl instead\n", progname, option_name(c));
			return EXIT_ERROR;
		case '?':
		default:
			return usage_error("scan: invalid option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("scan: %s", "no PATH given (what should be scanned?)");
	if (a.append && (a.output == NULL || strcmp(a.output, "-") == 0))
		return usage_error("--append: %s", "needs --output FILE");

	cbp_config_defaults(&a.cfg);
	if (a.config_path != NULL) {
		const char *cfg = a.config_path;
		struct stat st;

		/* As root, a config another user can change is refused (cbp_trust.h);
		 * a missing one is left to the loader to report. */
		if (stat(cfg, &st) == 0 &&
		    (cfg = trusted_path(a.config_path, cfg_real, "config", 0)) == NULL) {
			cbp_config_free(&a.cfg);
			return EXIT_ERROR;
		}
		r = cbp_config_load(&a.cfg, cfg, &diag);
		if (r != CBP_OK) {
			fprintf(stderr, "%s: %s\n", progname, diag.message);
			cbp_config_free(&a.cfg);
			return EXIT_ERROR;
		}
	}
	/* The command line wins over the file. */
	if (nrules > 0 && cbp_config_set_list(&a.cfg.rules, &a.cfg.nrules, rules, nrules) != CBP_OK)
		goto nomem;
	if (nexcludes > 0 && cbp_config_add_list(&a.cfg.excludes, &a.cfg.nexcludes,
	    excludes, nexcludes) != CBP_OK)
		goto nomem;
	if (threads > 0)
		a.cfg.threads = (unsigned)threads;
	if (a.depth_set)
		a.cfg.expand.max_depth = (unsigned)depth;
	if (a.onefs_set)
		a.cfg.one_file_system = 1;
	if (a.strict_set)
		a.cfg.strict = 1;
	if (a.cfg.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		a.cfg.threads = n > 0 ? (unsigned)n : 1;
	}
	status = run_scan(&a, argv + optind, (size_t)(argc - optind));
	cbp_config_free(&a.cfg);
	return status;
nomem:
	fprintf(stderr, "%s: out of memory\n", progname);
	cbp_config_free(&a.cfg);
	return EXIT_ERROR;
}

int
main(int argc, char **argv)
{
	/*
	 * libarchive turns every zip member's DOS time into a time_t with
	 * mktime(), and glibc's mktime() with TZ unset stats /etc/localtime on
	 * every call, under a process-wide lock: 2 syscalls per member, a
	 * third of the time of a zip of small files (a JDK's ct.sym).  Naming
	 * the same zone file once lets glibc keep what it loaded.
	 */
	if (getenv("TZ") == NULL)
		(void)setenv("TZ", ":/etc/localtime", 0);
	if (argc < 2)
		return usage_error("%s", "no command given");
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("cbpscan %s\n", CBP_VERSION);
		return EXIT_CLEAN;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		help();
		return EXIT_CLEAN;
	}
	if (strcmp(argv[1], "scan") == 0)
		return cmd_scan(argc - 1, argv + 1);
	if (strcmp(argv[1], "rules") == 0)
		return cmd_rules(argc - 1, argv + 1);
	if (strcmp(argv[1], "hash") == 0 || strcmp(argv[1], "flush") == 0) {
		fprintf(stderr, "%s: '%s' is not in this version yet (it arrives "
		    "with known-image hashing and delivery)\n", progname, argv[1]);
		return EXIT_ERROR;
	}
	return usage_error("unknown command '%s'", argv[1]);
}
