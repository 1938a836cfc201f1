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
#include <errno.h>
#include <getopt.h>
#include <limits.h>
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
	OPT_VERSION, OPT_ONE_FS = 'x',
};

struct opt_doc {
	struct option opt;
	const char *arg;	/* argument name for --help, NULL if none */
	const char *help;
};

static const struct opt_doc scan_opts[] = {
	{ { "rules", required_argument, NULL, OPT_RULES }, "PATH",
	  "rule file or directory (repeatable); default: ./rules from a build tree, else the installed rules" },
	{ { "known", required_argument, NULL, OPT_KNOWN }, "PATH",
	  "known-image list file or directory (repeatable)" },
	{ { "format", required_argument, NULL, OPT_FORMAT }, "text|jsonl",
	  "record format; default: text on a terminal, jsonl otherwise" },
	{ { "output", required_argument, NULL, OPT_OUTPUT }, "FILE",
	  "write records to FILE instead of standard output" },
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
	    "configuration or rule error\n(or the scan could not finish), "
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

/* ---- numbers ------------------------------------------------------------- */

static int
parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
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

/* ./rules beside a build tree (build/cbpscan -> ../rules), else installed. */
static const char *
default_rules_path(void)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX];
	struct stat st;
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(path, sizeof(path), "%s/../rules",
			    exe) < sizeof(path) && stat(path, &st) == 0 &&
			    S_ISDIR(st.st_mode))
				return path;
		}
	}
	if (stat("rules", &st) == 0 && S_ISDIR(st.st_mode) &&
	    stat("rules/cbpscan.magic", &st) == 0)
		return "rules";
	return CBP_DATADIR "/rules";
}

static int
load_rules(struct cbp_ruleset **rsp, const char *const *paths, size_t n)
{
	struct cbp_ruleset *rs;
	const char *def[1];
	int errors = 0, r = CBP_OK;
	size_t i;

	*rsp = NULL;
	if (n == 0) {
		def[0] = default_rules_path();
		paths = def;
		n = 1;
	}
	if ((rs = cbp_ruleset_new()) == NULL) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return CBP_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		int lr = cbp_ruleset_load(rs, paths[i], print_diag, &errors);
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

	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return usage_error("rules: unknown subcommand '%s' (expected 'check')",
		    argc < 2 ? "" : argv[1]);
	if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
		printf("usage: %s rules check [PATH...]\n"
		    "Compile rule files or directories and report every error "
		    "as file:line:col.\n", progname);
		return EXIT_CLEAN;
	}
	if (load_rules(&rs, (const char *const *)argv + 2, (size_t)(argc - 2)) != CBP_OK)
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
	int quiet, progress;
	int threads_set, depth_set, strict_set, onefs_set;
};

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
		if ((fp = fopen(a->output, "w")) == NULL) {
			fprintf(stderr, "%s: %s: cannot open for writing: %s\n",
			    progname, a->output, strerror(errno));
			return EXIT_ERROR;
		}
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

static int
run_scan(struct scan_args *a, char **roots, size_t nroots)
{
	struct cbp_ruleset *rs = NULL;
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

	if (load_rules(&rs, (const char *const *)a->cfg.rules, a->cfg.nrules) != CBP_OK)
		return EXIT_ERROR;
	if (cbp_output_init(&out) != CBP_OK) {
		fprintf(stderr, "%s: cannot set up outputs\n", progname);
		goto out;
	}
	outputs = 1;
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
	if (cbp_scan_run(scan, &cancel_flag) != CBP_OK) {
		fprintf(stderr, "%s: the scan could not run (out of memory?)\n",
		    progname);
		cancel_flag = 1;
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
	cbp_output_summary(&out, &sum);
	if (cancel_flag)
		fprintf(stderr, "%s: interrupted: the scan did not finish\n", progname);
out:
	if (outputs && cbp_output_close(&out) != CBP_OK) {
		fprintf(stderr, "%s: writing records failed: %s\n", progname,
		    strerror(errno));
		status = EXIT_ERROR;
	}
	if (outfp != NULL && fclose(outfp) != 0) {
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
	unsigned long long v;
	int c, r, status;
	/* Options are applied after the config file, so gather them first. */
	const char *rules[CBP_CONFIG_LIST_MAX], *excludes[CBP_CONFIG_LIST_MAX];
	size_t nrules = 0, nexcludes = 0;
	unsigned long long threads = 0, depth = 0;

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
		case OPT_THREADS:
			if (parse_uint(optarg, 1, 1024, &v) != 0)
				return usage_error("--threads: '%s' is not a number from 1 to 1024", optarg);
			threads = v;
			break;
		case OPT_MAX_DEPTH:
			if (parse_uint(optarg, 0, 64, &v) != 0)
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

	cbp_config_defaults(&a.cfg);
	if (a.config_path != NULL) {
		r = cbp_config_load(&a.cfg, a.config_path, &diag);
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
