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
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cbp_config.h"
#include "cbp_deliver.h"
#include "cbp_limits.h"
#include "cbp_output.h"
#include "cbp_known.h"
#include "cbp_known_cache.h"
#include "cbp_rules.h"
#include "cbp_scan.h"
#include "cbp_spool.h"
#include "cbp_state.h"
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

/* Options with a short form use its letter; the others count from 256. */
enum opt_id {
	OPT_ONE_FS = 'x', OPT_QUIET = 'q', OPT_HELP = 'h',
	OPT_RULES = 256, OPT_KNOWN, OPT_FORMAT, OPT_OUTPUT, OPT_THREADS,
	OPT_ENDPOINT, OPT_CONFIG, OPT_EXCLUDE, OPT_MAX_DEPTH,
	OPT_PROGRESS, OPT_STRICT, OPT_ENDPOINT_FORMAT, OPT_TOKEN_FILE,
	OPT_CA_FILE, OPT_CLIENT_CERT, OPT_CLIENT_KEY, OPT_SPOOL,
	OPT_APPEND, OPT_NO_COLOR, OPT_STATE, OPT_NO_KNOWN_CACHE,
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
	{ { "no-known-cache", no_argument, NULL, OPT_NO_KNOWN_CACHE }, NULL,
	  "read the known-image lists' text every run: neither use nor write the built index kept in the state directory" },
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
	  "do not descend into directories on other filesystems" },
	{ { "exclude", required_argument, NULL, OPT_EXCLUDE }, "GLOB",
	  "skip names (GLOB without /) or paths (GLOB with /) matching GLOB (repeatable)" },
	{ { "max-depth", required_argument, NULL, OPT_MAX_DEPTH }, "N",
	  "archive nesting depth limit (default 8)" },
	{ { "quiet", no_argument, NULL, OPT_QUIET }, NULL,
	  "findings only: no summary, no unscannable lines in text, no progress" },
	{ { "progress", no_argument, NULL, OPT_PROGRESS }, NULL,
	  "show a progress line on standard error, when it is a terminal" },
	{ { "no-color", no_argument, NULL, OPT_NO_COLOR }, NULL,
	  "no colours in text output (also NO_COLOR set, or TERM=dumb)" },
	{ { "strict", no_argument, NULL, OPT_STRICT }, NULL,
	  "unscannable objects make the exit status 1 (counted as unscannable, not as violations)" },
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
	{ { "state", required_argument, NULL, OPT_STATE }, "DIR",
	  "state directory: the host id (default " CBP_STATE_DEFAULT "; other "
	  "users than root fall back to ~/.local/state/cbpscan)" },
	{ { "help", no_argument, NULL, OPT_HELP }, NULL, "show this help" },
	{ { NULL, 0, NULL, 0 }, NULL, NULL },
};

static void
usage_lines(FILE *fp)
{
	fprintf(fp,
	    "usage: %s scan [OPTIONS] PATH...\n"
	    "       %s hash --category plate|traveler [OPTIONS] FILE|DIR...\n"
	    "       %s rules check [PATH...]\n"
	    "       %s rules list [PATH...]\n"
	    "       %s flush [OPTIONS]\n"
	    "       %s --version | --help\n",
	    progname, progname, progname, progname, progname, progname);
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
	printf("\nOptions for hash: --category plate|traveler (required), "
	    "--id-from hash|seq|name,\n--threads, --max-depth, --strict "
	    "(%s hash --help).\n", progname);
	printf("\nExit status: 0 no violation, 1 violation found, 2 usage, "
	    "configuration or rule error\n(or the scan could not finish, or a "
	    "PATH could not be scanned), "
	    "3 reports spooled, not delivered.\n"
	    "The rules commands: %s rules --help.  "
	    "See cbpscan(1), cbpscan-rules(5), cbpscan.conf(5).\n", progname);
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

/*
 * The one message for an option getopt_long refused.  getopt's own
 * messages are off (opterr = 0 and a leading ':' in every optstring):
 * they came first and ours, which could not tell a missing argument from
 * an unknown option, said the wrong thing second.  Here c is what
 * getopt_long returned (':' for a missing argument, '?' otherwise),
 * optopt and argv[optind - 1] what it left behind:
 *   ':'                    the option named by optopt lacks its argument;
 *   '?', optopt in table   a long option given an argument it does not take;
 *   '?', other optopt      an unknown short option;
 *   '?', optopt 0          an unknown or ambiguous long option (glibc has
 *                          stepped past it, so it is argv[optind - 1]).
 */
static int
option_error(const char *cmd, const struct opt_doc *table, int c, int argc,
    char **argv)
{
	const struct opt_doc *d, *found = NULL;
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	char given[64], list[512];
	size_t n, len = 0, matches = 0;

	for (d = table; d->opt.name != NULL; d++)
		if (optopt != 0 && d->opt.val == optopt)
			found = d;
	if (c == ':' && found != NULL)
		return usage_error("%s: option '--%s' requires an argument (%s)",
		    cmd, found->opt.name, found->arg != NULL ? found->arg : "a value");
	if (c == ':')
		return usage_error("%s: option '-%c' requires an argument", cmd, optopt);
	if (found != NULL)
		return usage_error("%s: option '--%s' takes no argument", cmd,
		    found->opt.name);
	if (optopt != 0)
		return usage_error("%s: unrecognized option '-%c'", cmd, optopt);
	/* A long option: the name as typed, without any =VALUE. */
	if (strncmp(arg, "--", 2) != 0)
		return usage_error("%s: unrecognized option '%s'", cmd, arg);
	n = strcspn(arg + 2, "=");
	snprintf(given, sizeof(given), "--%.*s%s", n > 40 ? 40 : (int)n, arg + 2,
	    n > 40 ? "..." : "");
	list[0] = '\0';
	for (d = table; d->opt.name != NULL; d++) {
		if (n == 0 || strncmp(d->opt.name, arg + 2, n) != 0)
			continue;
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s--%s", matches ? ", " : "", d->opt.name);
		matches++;
	}
	if (matches > 1)
		return usage_error("%s: option '%s' is ambiguous: %s", cmd, given, list);
	return usage_error("%s: unrecognized option '%s'", cmd, given);
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
		if (!cbp_rules_is_rule_file(de->d_name))
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
		int lr, before = errors;

		/*
		 * A path that is not there is a mistyped name, not an error in
		 * the rules: say that, and not "fix them and run rules check".
		 */
		if (stat(paths[i], &st) != 0) {
			if (errno == ENOENT)
				fprintf(stderr, "%s: rules: %s: no such file or "
				    "directory\n", progname, paths[i]);
			else
				fprintf(stderr, "%s: rules: %s: cannot read: %s\n",
				    progname, paths[i], strerror(errno));
			if (r == CBP_OK)
				r = CBP_EIO;
			continue;
		}
		if ((use = trusted_path(paths[i], real, "rules", owner)) == NULL ||
		    (S_ISDIR(st.st_mode) && trusted_rule_dir(use, owner) != 0)) {
			cbp_ruleset_free(rs);
			return CBP_EPERM;
		}
		lr = cbp_ruleset_load(rs, use, print_diag, &errors);
		if (lr != CBP_OK && r == CBP_OK)
			r = lr;
		if (lr == CBP_EIO && errors == before)
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

static const struct opt_doc rules_opts[] = {
	{ { "help", no_argument, NULL, OPT_HELP }, NULL, "show this help" },
	{ { NULL, 0, NULL, 0 }, NULL, NULL },
};

static void
rules_help(void)
{
	printf("usage: %s rules check [PATH...]\n"
	    "       %s rules list [PATH...]\n"
	    "\n"
	    "  check  compile rule files or directories and report every error "
	    "as file:line:col\n"
	    "  list   one line per rule in force: id, category, severity, title "
	    "(tab-separated)\n"
	    "\n"
	    "With no PATH, the default rules (those scan uses without --rules).\n"
	    "See cbpscan-rules(5).\n", progname, progname);
}

/*
 * The rules in force, one a line: id, category, severity and title
 * separated by tabs, so that `cut -f1` gives the ids.  Disabled rules
 * (enabled: false) are left out, as they are from the count `rules check`
 * prints.  The strings come from rule files, so they are escaped as names
 * are in text output: a tab or an escape sequence in a title shows as \xNN
 * and cannot shift a column or drive the terminal.
 */
static int
list_rules(const struct cbp_ruleset *rs)
{
	struct cbp_rule_info ri;
	struct cbp_dynbuf b;
	size_t i;
	int r = CBP_OK;

	cbp_dynbuf_init(&b, 64 * 1024);
	for (i = 0; r == CBP_OK && cbp_ruleset_rule(rs, i, &ri) == CBP_OK; i++) {
		if (!ri.enabled)
			continue;
		cbp_dynbuf_reset(&b);
		if ((r = cbp_text_escape(&b, ri.id, strlen(ri.id))) != CBP_OK ||
		    (r = cbp_dynbuf_addc(&b, '\t')) != CBP_OK ||
		    (r = cbp_text_escape(&b, ri.category, strlen(ri.category))) != CBP_OK ||
		    (r = cbp_dynbuf_printf(&b, "\t%s\t",
		    cbp_severity_name(ri.severity))) != CBP_OK ||
		    (r = cbp_text_escape(&b, ri.title, strlen(ri.title))) != CBP_OK ||
		    (r = cbp_dynbuf_addc(&b, '\n')) != CBP_OK)
			break;
		if (fwrite(b.data, 1, b.len, stdout) != b.len)
			r = CBP_EIO;
	}
	cbp_dynbuf_free(&b);
	if (r == CBP_OK && fflush(stdout) != 0)
		r = CBP_EIO;
	if (r != CBP_OK)
		fprintf(stderr, "%s: rules list: %s\n", progname,
		    r == CBP_EIO ? strerror(errno) : cbp_strerror(r));
	return r;
}

static int
cmd_rules(int argc, char **argv)
{
	struct cbp_ruleset *rs;
	struct data_paths data;
	struct option lo[2] = { rules_opts[0].opt, { NULL, 0, NULL, 0 } };
	const char *sub;
	int c, status = EXIT_CLEAN, list;

	/* `rules --help` and `rules -h`, before any subcommand. */
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
		if (c != OPT_HELP)
			return option_error("rules", rules_opts, c, argc, argv);
		rules_help();
		return EXIT_CLEAN;
	}
	if (optind >= argc)
		return usage_error("rules: no subcommand given (expected 'check' "
		    "or 'list')");
	sub = argv[optind];
	if (strcmp(sub, "check") != 0 && strcmp(sub, "list") != 0)
		return usage_error("rules: unknown subcommand '%s' (expected "
		    "'check' or 'list')", sub);
	list = sub[0] == 'l';
	argc -= optind;
	argv += optind;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
		char cmd[16];

		snprintf(cmd, sizeof(cmd), "rules %s", sub);
		if (c != OPT_HELP)
			return option_error(cmd, rules_opts, c, argc, argv);
		rules_help();
		return EXIT_CLEAN;
	}
	find_data(&data);
	if (load_rules(&rs, (const char *const *)argv + optind,
	    (size_t)(argc - optind), &data) != CBP_OK)
		return EXIT_ERROR;
	if (list)
		status = list_rules(rs) == CBP_OK ? EXIT_CLEAN : EXIT_ERROR;
	else
		printf("%zu rule%s compiled, no errors\n", cbp_ruleset_count(rs),
		    cbp_ruleset_count(rs) == 1 ? "" : "s");
	cbp_ruleset_free(rs);
	return status;
}

/* ---- known-image lists --------------------------------------------------- */

/* Malformed list lines shown on stderr; the rest are counted. */
#define KNOWN_WARN_MAX 20

/* As root, every list file and directory must pass cbp_trust, as rules do:
 * a list another user could write decides what is reported. */
static int
known_check_fd(void *arg, int fd, const char *path, struct cbp_error *err)
{
	(void)arg;
	return cbp_trust_check_fd(fd, path, err);
}

/*
 * Malformed list lines on stderr, from the builder (b) or from an index
 * read from the cache (arr), so that a cached index warns exactly as the
 * text did.  With strict they are fatal: -1 after saying so.
 */
static int
known_problems(const struct cbp_known_builder *b,
    const struct cbp_known_problem *arr, size_t kept, uint64_t total,
    int strict)
{
	const struct cbp_known_problem *p;
	size_t i;

	for (i = 0; i < kept && i < KNOWN_WARN_MAX; i++) {
		p = arr != NULL ? &arr[i] : cbp_known_problem(b, i);
		fprintf(stderr, "%s: %s: %s:%llu:%u: %s%s\n", progname,
		    strict ? "error" : "warning", p->file,
		    (unsigned long long)p->line, p->column, p->message,
		    strict ? "" : " (line skipped)");
	}
	if (total > i)
		fprintf(stderr, "%s: ... and %llu more malformed line%s in "
		    "known-image lists\n", progname,
		    (unsigned long long)(total - i), total - i == 1 ? "" : "s");
	if (strict && total > 0) {
		fprintf(stderr, "%s: --strict: malformed lines in known-image "
		    "lists are fatal\n", progname);
		return -1;
	}
	return 0;
}

/*
 * The key of cfg's lists and the index from the cache for it
 * (cbp_known_cache.h).  1: *out is the cached index; 0: build from the
 * text (*have_key says whether the built index can be stored).  A cache
 * that exists but is refused or inconsistent is said on stderr: someone
 * or something tampered with the state directory.
 */
static int
known_from_cache(const struct cbp_config *cfg, const struct cbp_state *st,
    struct cbp_known_cache_key *key, int *have_key, struct cbp_known **out)
{
	struct cbp_known_cache_list l[CBP_CONFIG_KNOWN_MAX];
	struct cbp_error err = { 0 };
	size_t i;
	int r;

	*have_key = 0;
	for (i = 0; i < cfg->nknown && i < CBP_CONFIG_KNOWN_MAX; i++) {
		l[i].path = cfg->known[i].path;
		l[i].name = cfg->known[i].name;
		l[i].threshold = cfg->known[i].threshold;
	}
	/* A list that cannot be looked at fails the text load, which says
	 * why; no need to say it twice. */
	if (cbp_known_cache_key(l, i, 0, known_check_fd, NULL, key, &err) !=
	    CBP_OK)
		return 0;
	*have_key = 1;
	if ((r = cbp_known_cache_load(st->dirfd, key, out, &err)) == CBP_OK)
		return 1;
	if (r != CBP_ENOTFOUND)
		fprintf(stderr, "%s: notice: known-image cache in %s not used: "
		    "%s; building the index from the lists\n", progname,
		    st->dir, err.message);
	return 0;
}

/*
 * Load every list of cfg (known: and --known) into one index, before the
 * workers are forked so they share it: from the cache in the state
 * directory when it matches the lists, else from the text (then stored in
 * the cache for the next run).  *out NULL when there is none; *how says
 * where the index came from ("hit", "built", "off": the summary's
 * lists_cache).  Malformed lines are warnings naming file:line:column and
 * skipped; with strict they are fatal.  0, or -1 after printing why.
 */
static int
load_known(const struct cbp_config *cfg, int strict,
    const struct cbp_state *st, struct cbp_known **out, const char **how)
{
	struct cbp_known_builder *b = NULL;
	struct cbp_known_list_opts lo;
	struct cbp_known_cache_key key;
	const struct cbp_known_problem *pr;
	struct cbp_error err = { 0 };
	uint64_t total;
	size_t i, kept;
	int r = -1, have_key = 0;

	*out = NULL;
	*how = NULL;
	if (cfg->nknown == 0)
		return 0;
	if (cfg->known_cache && st->dirfd >= 0 &&
	    known_from_cache(cfg, st, &key, &have_key, out)) {
		*how = "hit";
		pr = cbp_known_index_problems(*out, &kept, &total);
		if (known_problems(NULL, pr, kept, total, strict) != 0) {
			cbp_known_free(*out);
			*out = NULL;
			return -1;
		}
		return 0;
	}
	*how = cfg->known_cache ? "built" : "off";
	if ((b = cbp_known_builder_new()) == NULL) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return -1;
	}
	for (i = 0; i < cfg->nknown; i++) {
		memset(&lo, 0, sizeof(lo));
		lo.name = cfg->known[i].name;
		lo.threshold = cfg->known[i].threshold;
		lo.check_fd = known_check_fd;
		if (cbp_known_add_path(b, cfg->known[i].path, &lo, &err) != CBP_OK) {
			fprintf(stderr, "%s: known: %s\n", progname, err.message);
			goto out;
		}
	}
	if (known_problems(b, NULL, cbp_known_problems_kept(b),
	    cbp_known_problems_total(b), strict) != 0)
		goto out;
	if (cbp_known_build(b, out, &err) != CBP_OK) {
		fprintf(stderr, "%s: known: %s\n", progname, err.message);
		goto out;
	}
	/* Not storing is never fatal: the next run builds again. */
	if (have_key && (r = cbp_known_cache_store(st->dirfd, &key, *out,
	    &err)) != CBP_OK && r != CBP_ECHANGED)
		fprintf(stderr, "%s: notice: known-image cache not written in "
		    "%s: %s\n", progname, st->dir, err.message);
	r = 0;
out:
	cbp_known_builder_free(b);
	return r;
}

/* ---- scan ------------------------------------------------------------------- */

/* The delivery options (scan and flush), applied over the config file's. */
struct delivery_opts {
	const char *endpoint, *format, *token_file, *ca_file;
	const char *client_cert, *client_key, *spool;
};

struct scan_args {
	struct cbp_config cfg;		/* config file values, overridden by options */
	struct delivery_opts dopt;
	const char *format;
	const char *output;
	const char *config_path;
	const char *state;		/* --state DIR; NULL: the default */
	int quiet, progress, append, no_color;
	int threads_set, depth_set, strict_set, onefs_set, no_known_cache;
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
/* A signal, not a failed write: delivery stops too (records stay spooled). */
static volatile int interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	cancel_flag = 1;
	interrupted = 1;
}

/* ---- progress on a terminal ---------------------------------------------- */

/*
 * --progress keeps one status line on standard error, and only when that
 * is a terminal: in a log file or a pipe a line redrawn every second is
 * noise.  Records may go to the same terminal (text output is the default
 * there), and so do report_root's messages; neither may start in the
 * middle of the status line.  So the line is erased before each of them
 * and drawn again after, all under one lock, st->lock, which the progress
 * thread takes to redraw:
 *   records: the output fan-out's lock, then st->lock (status_sink);
 *   report_root and the progress thread: st->lock alone.
 * Nothing takes them the other way round, so they cannot deadlock.
 * Writes go straight to the descriptor with write(2): no stdio buffer can
 * hold half a line past the unlock.
 */
struct status {
	pthread_mutex_t lock;
	int active;		/* a line is kept: redraw after each record */
	int ansi;		/* the terminal knows \033[K (TERM is not dumb) */
	int shown;		/* the line is on the screen now */
	size_t len;		/* bytes of line */
	char line[256];		/* the last text drawn, cut to the width */
};

static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return;		/* a closed terminal: nothing to tell */
		}
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Erase the line, cursor back to its start.  A dumb terminal has no
 * "erase to end of line" (\033[K), so it is overwritten with spaces.
 * st->lock held.
 */
static void
status_erase(struct status *st)
{
	static const char spaces[] = "                                ";
	size_t n, k;

	if (!st->shown)
		return;
	if (st->ansi) {
		write_all(STDERR_FILENO, "\r\033[K", 4);
	} else {
		write_all(STDERR_FILENO, "\r", 1);
		for (n = st->len; n > 0; n -= k) {
			k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
			write_all(STDERR_FILENO, spaces, k);
		}
		write_all(STDERR_FILENO, "\r", 1);
	}
	st->shown = 0;
}

/* Draw st->line, the cursor left at its end.  st->lock held. */
static void
status_redraw(struct status *st)
{
	if (st->active && !st->shown && st->len > 0) {
		write_all(STDERR_FILENO, st->line, st->len);
		st->shown = 1;
	}
}

/*
 * Replace the line with text, cut to the terminal's width less one
 * column: a line that wrapped could not be erased from its start.  The
 * new text is written over the old in one write, not after erasing it,
 * so the line does not flicker; on a dumb terminal a shorter text is
 * padded with spaces to cover the old one.
 */
static void
status_set(struct status *st, const char *text)
{
	struct winsize ws;
	size_t width = 80, n = strlen(text), k = 0;
	char buf[sizeof(st->line) + 8];

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		width = ws.ws_col;
	if (n > width - 1)
		n = width - 1;
	if (n > sizeof(st->line))
		n = sizeof(st->line);
	pthread_mutex_lock(&st->lock);
	if (st->active) {
		memcpy(st->line, text, n);
		if (!st->ansi && st->shown && n < st->len) {
			memset(st->line + n, ' ', st->len - n);
			n = st->len;
		}
		if (st->shown)
			buf[k++] = '\r';
		memcpy(buf + k, st->line, n);
		k += n;
		if (st->ansi && st->shown) {
			memcpy(buf + k, "\033[K", 3);
			k += 3;
		}
		write_all(STDERR_FILENO, buf, k);
		st->len = n;
		st->shown = n > 0;
	}
	pthread_mutex_unlock(&st->lock);
}

/* Around anything else written to the terminal: erase, write, redraw. */
static void
status_hide(struct status *st)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->lock);
	status_erase(st);
}

static void
status_show(struct status *st)
{
	int e = errno;		/* the fan-out reads a failed sink's errno */

	if (st == NULL)
		return;
	status_redraw(st);
	pthread_mutex_unlock(&st->lock);
	errno = e;
}

/* The last line stays on the screen, ended: the summary follows it. */
static void
status_finish(struct status *st, const char *text)
{
	status_set(st, text);
	pthread_mutex_lock(&st->lock);
	if (st->active && st->shown)
		write_all(STDERR_FILENO, "\n", 1);
	st->active = st->shown = 0;
	pthread_mutex_unlock(&st->lock);
}

/*
 * A sink in front of one that writes to the status line's terminal: the
 * records it passes on are written with the line erased.
 */
struct status_sink {
	struct cbp_sink base;
	struct cbp_sink *inner;
	struct status *st;
};

static int
status_sink_finding(struct cbp_sink *s, const struct cbp_finding *f)
{
	struct status_sink *ss = (struct status_sink *)s;
	int r;

	if (ss->inner->ops->finding == NULL)
		return CBP_OK;
	status_hide(ss->st);
	r = ss->inner->ops->finding(ss->inner, f);
	status_show(ss->st);
	return r;
}

static int
status_sink_problem(struct cbp_sink *s, const struct cbp_problem *p)
{
	struct status_sink *ss = (struct status_sink *)s;
	int r;

	if (ss->inner->ops->problem == NULL)
		return CBP_OK;
	status_hide(ss->st);
	r = ss->inner->ops->problem(ss->inner, p);
	status_show(ss->st);
	return r;
}

static int
status_sink_summary(struct cbp_sink *s, const struct cbp_summary *sum)
{
	struct status_sink *ss = (struct status_sink *)s;
	int r;

	if (ss->inner->ops->summary == NULL)
		return CBP_OK;
	status_hide(ss->st);
	r = ss->inner->ops->summary(ss->inner, sum);
	status_show(ss->st);
	return r;
}

static int
status_sink_close(struct cbp_sink *s)
{
	struct status_sink *ss = (struct status_sink *)s;
	int r = ss->inner->ops->close(ss->inner);

	free(ss);
	return r;
}

static const struct cbp_sink_ops status_sink_ops = {
	.finding = status_sink_finding,
	.problem = status_sink_problem,
	.summary = status_sink_summary,
	.close = status_sink_close,
};

/* inner, or inner behind a status_sink; NULL (inner closed) if memory is short. */
static struct cbp_sink *
status_sink_new(struct cbp_sink *inner, struct status *st)
{
	struct status_sink *ss;

	if (inner == NULL || st == NULL)
		return inner;
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		inner->ops->close(inner);
		return NULL;
	}
	ss->base.ops = &status_sink_ops;
	ss->inner = inner;
	ss->st = st;
	return &ss->base;
}

/* Whether descriptors a and b are the same terminal. */
static int
same_terminal(int a, int b)
{
	struct stat sa, sb;

	return isatty(a) && isatty(b) && fstat(a, &sa) == 0 &&
	    fstat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev;
}

/* TERM unset or "dumb": a terminal that shows escape sequences as text. */
static int
dumb_terminal(void)
{
	const char *t = getenv("TERM");

	return t == NULL || *t == '\0' || strcmp(t, "dumb") == 0;
}

struct progress_ctx {
	const struct cbp_scan_stats *stats;
	struct status *st;
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
	char text[256];

	snprintf(text, sizeof(text), "%llu files, %.1f MB, %llu archives, "
	    "%llu findings, %llu unscannable, %.0f files/s, %.1f s",
	    files, (double)bytes / 1e6,
	    (unsigned long long)atomic_load(&p->stats->archives),
	    (unsigned long long)atomic_load(&p->stats->findings),
	    (unsigned long long)atomic_load(&p->stats->unscannable),
	    el > 0 ? (double)files / el : 0.0, el);
	if (final)
		status_finish(p->st, text);
	else
		status_set(p->st, text);
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
	int wake[2];		/* main writes to wake[1] when the scan is over */
	volatile int stop;	/* set by main when the scan is over */
	volatile int gone;	/* the reader went away */
};

static void *
reader_watch_thread(void *arg)
{
	struct reader_watch *w = arg;
	struct pollfd pfd[2] = {
		{ .fd = w->fd, .events = 0 },
		{ .fd = w->wake[0], .events = POLLIN },
	};

	/* The timeout only bounds how late a signal's cancel_flag is seen. */
	while (!w->stop && !cancel_flag) {
		if (poll(pfd, 2, 200) > 0 &&
		    (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))) {
			w->gone = 1;
			cancel_flag = 1;
			break;
		}
	}
	return NULL;
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

/*
 * Colour is for a person at a terminal that shows it: never into a file or
 * a pipe, and not with --no-color, with NO_COLOR set to anything but ""
 * (no-color.org), or on a terminal that prints escape sequences as text
 * (TERM=dumb, as in an editor's shell buffer, or TERM unset).
 */
static int
use_color(int fd, const struct scan_args *a)
{
	const char *nc = getenv("NO_COLOR");

	return !a->no_color && (nc == NULL || *nc == '\0') && !dumb_terminal() &&
	    isatty(fd);
}

/* st: the progress line, or NULL when there is none. */
static int
open_outputs(struct cbp_output *out, const struct scan_args *a, FILE **fpp,
    struct status *st)
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
		if (use_color(fileno(fp), a))
			flags |= CBP_TEXT_COLOR;
		if (a->quiet)
			flags |= CBP_TEXT_QUIET;
		sink = cbp_sink_text_new(fp, flags);
	} else {
		sink = cbp_sink_jsonl_new(fp);
	}
	/* Records on the progress line's terminal (text or JSON): erase it first. */
	if (st != NULL && same_terminal(fileno(fp), STDERR_FILENO))
		sink = status_sink_new(sink, st);
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

	/* A record the spool refused is said by finish_delivery. */
	if (o->write_errno == EPIPE || (o->write_errno == 0 &&
	    o->first_error == CBP_EDELIVERY))
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
	struct status *st = arg;	/* the progress line, or NULL */
	struct cbp_dynbuf b;

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
	status_hide(st);
	fprintf(stderr, "%s: %s: not scanned: %s; %s (exit status 2)\n",
	    progname, shown, detail, hint);
	status_show(st);
	cbp_dynbuf_free(&b);
}

/*
 * The state directory and the host id (cbp_state.h), before anything is
 * scanned: every record carries the host id, so a run that cannot have
 * one does not start.  0, or -1 after saying why.
 */
static int
open_state(const struct scan_args *a, struct cbp_state *st)
{
	struct cbp_error err = { 0 };

	if (cbp_state_open(st, a->state, &err) != CBP_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.message);
		if (a->state == NULL)
			fprintf(stderr, "%s: give --state DIR for a directory "
			    "this user can keep the host id in\n", progname);
		return -1;
	}
	if (st->fell_back && !a->quiet)
		fprintf(stderr, "%s: notice: keeping the host id in %s (%s)\n",
		    progname, st->dir, st->why);
	return 0;
}

/*
 * The walk holds an fd for each queued directory while its children wait;
 * a deep or wide tree needs more than the usual soft limit of 1024.
 * Raising the soft limit to the hard limit is what the process is allowed
 * anyway.  It is process-wide, so it is decided here and not in a library
 * module (the walk copes with EMFILE, only more slowly).
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		/* RLIM_INFINITY is refused above fs.nr_open; 1M is its default. */
		rl.rlim_cur = 1024 * 1024;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * What isolated the parsers (issue 8), for the summary: older kernels lack
 * Landlock, and a worker replaced means a parser failed (its records say
 * on which objects).  The objects each worker took show the balance.
 */
static void
fill_confinement(const struct cbp_scan *scan, struct cbp_confinement *c)
{
	struct cbp_confine_info ci;
	struct cbp_sv_stats ss;

	cbp_scan_confinement(scan, &ci, &ss);
	c->workers = cbp_scan_per_worker(scan, &c->objects);
	c->nobjects = c->workers;
	c->replaced = ss.deaths;
	if (ss.ready == 0)
		return;		/* no worker started: nothing was in force */
	c->seccomp = ci.seccomp;
	c->seccomp_loose = ci.seccomp_loose;
	c->landlock_abi = ci.landlock_abi;
	c->no_new_privs = ci.no_new_privs;
}

/* ---- delivery (cbp_deliver.h, cbp_spool.h) ----------------------------- */

static int
set_str(char **dst, const char *v)
{
	char *c;

	if (v == NULL)
		return 0;
	if ((c = strdup(v)) == NULL)
		return -1;
	free(*dst);
	*dst = c;
	return 0;
}

/* Options over the config file.  0, or -1 out of memory. */
static int
apply_delivery_opts(struct cbp_deliver_config *d, const struct delivery_opts *o)
{
	if (o->format != NULL)
		d->format = cbp_deliver_format_parse(o->format);
	return set_str(&d->endpoint, o->endpoint) | set_str(&d->token_file, o->token_file) |
	    set_str(&d->ca_file, o->ca_file) | set_str(&d->client_cert, o->client_cert) |
	    set_str(&d->client_key, o->client_key) | set_str(&d->spool, o->spool);
}

/* One delivery option of scan or flush into o; 0, or 2 (said why). */
static int
delivery_opt(struct delivery_opts *o, int c, const char *arg, const char *cmd)
{
	switch (c) {
	case OPT_ENDPOINT:
		o->endpoint = arg;
		break;
	case OPT_ENDPOINT_FORMAT:
		if (cbp_deliver_format_parse(arg) < 0)
			return usage_error("%s: --endpoint-format: '%s' is not "
			    "ndjson, splunk-hec or elastic-bulk", cmd, arg);
		o->format = arg;
		break;
	case OPT_TOKEN_FILE:
		o->token_file = arg;
		break;
	case OPT_CA_FILE:
		o->ca_file = arg;
		break;
	case OPT_CLIENT_CERT:
		o->client_cert = arg;
		break;
	case OPT_CLIENT_KEY:
		o->client_key = arg;
		break;
	case OPT_SPOOL:
		o->spool = arg;
		break;
	}
	return 0;
}

/* A delivery option given without an endpoint (its id), or 0. */
static int
lone_delivery_opt(const struct delivery_opts *o)
{
	return o->format ? OPT_ENDPOINT_FORMAT : o->token_file ? OPT_TOKEN_FILE :
	    o->ca_file ? OPT_CA_FILE : o->client_cert ? OPT_CLIENT_CERT :
	    o->client_key ? OPT_CLIENT_KEY : o->spool ? OPT_SPOOL : 0;
}

/*
 * The spool (default STATE/spool) and the sender.  0, or -1 after saying
 * why.  A crashed run's torn tail is reported here, once.
 */
static int
open_delivery(struct cbp_deliver_config *d, const struct cbp_state *st,
    struct cbp_spool **sp, struct cbp_deliver **dv)
{
	struct cbp_spool_opts so = { .max_bytes = d->spool_max };
	struct cbp_spool_recovery rec;
	struct cbp_error err = { 0 };
	char dir[PATH_MAX + 8];

	*sp = NULL;
	*dv = NULL;
	if (d->client_cert != NULL && d->client_key == NULL) {
		fprintf(stderr, "%s: --client-cert needs --client-key (mutual "
		    "TLS)\n", progname);
		return -1;
	}
	/* One HEC channel per host, kept across runs: flush polls its acks. */
	snprintf(d->channel, sizeof(d->channel), "%s", st->host_id);
	if (d->spool != NULL)
		snprintf(dir, sizeof(dir), "%s", d->spool);
	else
		snprintf(dir, sizeof(dir), "%s/spool", st->dir);
	if (cbp_deliver_check_url(d->endpoint, &err) != CBP_OK ||
	    cbp_spool_open(sp, dir, &so, &rec, &err) != CBP_OK ||
	    cbp_deliver_new(dv, d, *sp, &err) != CBP_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.message);
		cbp_spool_close(*sp);
		*sp = NULL;
		return -1;
	}
	if (rec.torn_bytes > 0)
		fprintf(stderr, "%s: spool %s: an earlier run stopped while "
		    "writing; %llu byte(s) of a torn record were skipped\n",
		    progname, dir, (unsigned long long)rec.torn_bytes);
	return 0;
}

/*
 * Wait (at most wait_ms) for the spool to empty.  1 if records remain
 * spooled (said why), 0 if everything was delivered.
 */
static int
finish_delivery(struct cbp_deliver *dv, struct cbp_spool *sp, unsigned wait_ms,
    unsigned rate)
{
	struct cbp_deliver_stats ds;
	int r = cbp_deliver_finish(dv, wait_ms, rate);

	cbp_deliver_get_stats(dv, &ds);
	if (ds.torn_bytes > 0)
		fprintf(stderr, "%s: spool: %llu byte(s) of damaged records "
		    "were skipped\n", progname, (unsigned long long)ds.torn_bytes);
	if (cbp_spool_dropped(sp) > 0)
		fprintf(stderr, "%s: spool full: %llu unscannable record(s) "
		    "were dropped (counted in the summary)\n", progname,
		    (unsigned long long)cbp_spool_dropped(sp));
	if (cbp_spool_refused(sp) > 0)
		fprintf(stderr, "%s: %llu record(s) could not be spooled for the "
		    "endpoint (spool full or not writable: %s; see spool_max)\n",
		    progname, (unsigned long long)cbp_spool_refused(sp),
		    cbp_spool_dir(sp));
	if (ds.rejected > 0)
		fprintf(stderr, "%s: %s\n", progname, ds.last_error);
	if (r == CBP_OK)
		return 0;
	fprintf(stderr, "%s: reports not delivered yet, kept in %s (run "
	    "'%s flush' later)%s%s\n", progname, cbp_spool_dir(sp), progname,
	    ds.last_error[0] ? ": " : "", ds.last_error);
	return 1;
}

static int
run_scan(struct scan_args *a, char **roots, size_t nroots)
{
	struct cbp_ruleset *rs = NULL;
	struct cbp_known *known = NULL;
	const char *lists_cache = NULL;
	struct data_paths data;
	char magic_real[PATH_MAX];
	const char *magic;
	struct cbp_output out;
	struct cbp_scan *scan = NULL;
	struct cbp_scan_opts so;
	struct cbp_summary sum = { 0 };
	struct cbp_output_counts counts;
	struct cbp_state state = { .dirfd = -1 };
	char scan_id[37];
	struct cbp_error err = { 0 };
	struct progress_ctx prog = { 0 };
	struct status sline = { 0 }, *sl = NULL;
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
	struct cbp_spool *spool = NULL;
	struct cbp_deliver *dv = NULL;
	struct cbp_summary run = { 0 };

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
	if (open_state(a, &state) != 0)
		goto out;
	/* After the state directory: the index may come from its cache. */
	if (load_known(&a->cfg, a->cfg.strict, &state, &known,
	    &lists_cache) != 0)
		goto out;
	if (cbp_output_init(&out) != CBP_OK) {
		fprintf(stderr, "%s: cannot set up outputs\n", progname);
		goto out;
	}
	outputs = 1;
	/* Every record names this run and this host (cbp_output.h). */
	cbp_uuid_v4(scan_id);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	if (cbp_output_identify(&out, scan_id, host, state.host_id) != CBP_OK) {
		fprintf(stderr, "%s: out of memory\n", progname);
		goto out;
	}
	/* A failed write stops the scan (cbp_output.h). */
	out.cancel = &cancel_flag;
	/* A progress line only on a terminal (see struct status). */
	if (a->progress && !a->quiet && isatty(STDERR_FILENO) &&
	    pthread_mutex_init(&sline.lock, NULL) == 0) {
		sline.active = 1;
		sline.ansi = !dumb_terminal();
		sl = &sline;
	}

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
	so.root_failed_arg = sl;
	raise_nofile();
	so.object_timeout_ms = a->cfg.object_timeout_ms;
	so.member_timeout_ms = a->cfg.member_timeout_ms;
	so.worker_memory = a->cfg.worker_memory;
	so.split_min = a->cfg.split_min;
	so.known = known;
	if (cbp_scan_new(&so, rs, &out, &scan, &err) != CBP_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.message);
		goto out;
	}
	/*
	 * Only now the delivery token and keys, the outputs and the sender
	 * thread: cbp_scan_new forked the zygote every worker comes from, so
	 * no worker holds a secret or inherits a thread (SECURITY.md).
	 */
	/*
	 * The spool sink goes first: a record the local output shows was
	 * spooled before it, so a crash never loses one the auditor saw.
	 */
	if (a->cfg.delivery.endpoint != NULL) {
		if (open_delivery(&a->cfg.delivery, &state, &spool, &dv) != 0)
			goto out;
		if (cbp_output_add(&out, cbp_sink_spool_new(spool,
		    a->cfg.delivery.mask_paths)) != CBP_OK) {
			fprintf(stderr, "%s: out of memory\n", progname);
			goto out;
		}
	}
	if ((status = open_outputs(&out, a, &outfp, sl)) != EXIT_CLEAN)
		goto out;
	status = EXIT_ERROR;
	if (dv != NULL)
		cbp_deliver_set_abort(dv, &interrupted);
	if (dv != NULL && cbp_deliver_start(dv, a->cfg.delivery.replay_rate) != CBP_OK) {
		fprintf(stderr, "%s: cannot start the sender\n", progname);
		goto out;
	}
	/* "This run began": the centre tells a run that died from one that never ran. */
	run.version = CBP_VERSION;
	run.rules = cbp_ruleset_digest(rs);
	run.lists = known != NULL ? cbp_known_digest(known) : NULL;
	run.roots = (const char *const *)roots;
	run.nroots = nroots;
	run.started = now_s();
	cbp_output_run(&out, &run);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	st = cbp_scan_stats(scan);
	t0 = now_s();
	m0 = mono_s();
	if (sl != NULL) {
		prog.stats = st;
		prog.st = sl;
		prog.start = m0;
		pthread_mutex_init(&prog.lock, NULL);
		pthread_cond_init(&prog.cond, NULL);
		/* Drawn before the first record, so that each record finds it. */
		progress_line(&prog, 0);
		have_prog = pthread_create(&ptid, NULL, progress_thread, &prog) == 0;
	}
	watch.fd = outfp != NULL ? fileno(outfp) : STDOUT_FILENO;
	/* A wake pipe, so the end of a scan does not wait out a poll. */
	if (fstat(watch.fd, &ost) == 0 && (S_ISFIFO(ost.st_mode) ||
	    S_ISSOCK(ost.st_mode)) && pipe2(watch.wake, O_CLOEXEC) == 0) {
		have_watch = pthread_create(&wtid, NULL, reader_watch_thread,
		    &watch) == 0;
		if (!have_watch) {
			close(watch.wake[0]);
			close(watch.wake[1]);
		}
	}
	if (cbp_scan_run(scan, &cancel_flag) != CBP_OK) {
		status_hide(sl);
		fprintf(stderr, "%s: the scan could not run (out of memory?)\n",
		    progname);
		status_show(sl);
		cancel_flag = 1;
	}
	if (have_watch) {
		watch.stop = 1;
		(void)!write(watch.wake[1], "", 1);
		pthread_join(wtid, NULL);
		close(watch.wake[0]);
		close(watch.wake[1]);
	}
	if (have_prog) {
		pthread_mutex_lock(&prog.lock);
		prog.stop = 1;
		pthread_cond_signal(&prog.cond);
		pthread_mutex_unlock(&prog.lock);
		pthread_join(ptid, NULL);
	}
	if (sl != NULL) {
		progress_line(&prog, 1);
		pthread_mutex_destroy(&prog.lock);
		pthread_cond_destroy(&prog.cond);
	}

	sum.version = CBP_VERSION;
	sum.rules = cbp_ruleset_digest(rs);
	if (known != NULL) {
		sum.lists = cbp_known_digest(known);
		sum.known_entries = cbp_known_entries(known);
		sum.lists_cache = lists_cache;
	}
	sum.roots = (const char *const *)roots;
	sum.nroots = nroots;
	sum.started = t0;
	sum.finished = now_s();
	sum.elapsed_s = mono_s() - m0;
	sum.files = atomic_load(&st->files);
	sum.bytes = atomic_load(&st->bytes);
	sum.archives = atomic_load(&st->archives);
	sum.members = atomic_load(&st->members);
	/*
	 * What the records said, counted where they were written: the
	 * summary's counts agree with the records before it by construction.
	 */
	cbp_output_get_counts(&out, &counts);
	sum.findings = counts.findings;
	sum.violations = counts.violations;
	sum.unscannable = counts.unscannable;
	memcpy(sum.severity, counts.severity, sizeof(sum.severity));
	sum.skipped.symlink = atomic_load(&st->skip_symlink);
	sum.skipped.fifo = atomic_load(&st->skip_fifo);
	sum.skipped.socket = atomic_load(&st->skip_socket);
	sum.skipped.device = atomic_load(&st->skip_device);
	sum.skipped.excluded = atomic_load(&st->skip_excluded);
	sum.skipped.other_fs = atomic_load(&st->skip_other_fs);
	sum.skipped.vanished = atomic_load(&st->skip_vanished);
	/* A root that could not be scanned must never read as clean. */
	sum.complete = !cancel_flag && atomic_load(&st->roots_failed) == 0;
	/* --strict: unscannable objects raise the exit status, but stay out
	 * of "violations" (docs/contract.md). */
	if (!sum.complete)
		status = EXIT_ERROR;
	else if (sum.violations > 0 || (a->cfg.strict && sum.unscannable > 0))
		status = EXIT_VIOLATION;
	else
		status = EXIT_CLEAN;
	/* A failed write means the records are incomplete: not a clean scan. */
	if (out.first_error != CBP_OK)
		status = EXIT_ERROR;
	sum.exit_status = status;
	fill_confinement(scan, &sum.confinement);
	if (spool != NULL) {
		sum.delivery_format = cbp_deliver_format_name(a->cfg.delivery.format);
		sum.spool_dropped = cbp_spool_dropped(spool);
	}
	/* After a failed write the sink that failed writes nothing more; the
	 * summary still goes to any other sink, and is counted as lost. */
	cbp_output_summary(&out, &sum);
	if (cancel_flag && out.write_errno == 0 && !watch.gone)
		fprintf(stderr, "%s: interrupted: the scan did not finish\n", progname);
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
	/* Exit 3 only says delivery is pending; 2 wins over it (contract.md). */
	if (dv != NULL && finish_delivery(dv, spool, a->cfg.delivery.exit_wait_ms,
	    0) != 0 && status != EXIT_ERROR)
		status = EXIT_SPOOLED;
	cbp_deliver_free(dv);
	cbp_spool_close(spool);
	if (sl != NULL)
		pthread_mutex_destroy(&sline.lock);	/* its sink is closed */
	cbp_scan_free(scan);
	cbp_known_free(known);
	cbp_ruleset_free(rs);
	cbp_state_close(&state);
	return status;
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

/*
 * "+:" then the short forms in the table: stop at the first PATH (a file
 * may be named like an option after it), and ':' tells a missing argument
 * apart from an unknown option (option_error).
 */
static const char *
short_options(void)
{
	static char opts[16];
	const struct opt_doc *d;
	size_t n = 0;

	opts[n++] = '+';
	opts[n++] = ':';
	for (d = scan_opts; d->opt.name != NULL && n + 1 < sizeof(opts); d++)
		if (d->opt.val < 256)
			opts[n++] = (char)d->opt.val;
	opts[n] = '\0';
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
	const char *known[CBP_CONFIG_KNOWN_MAX];
	size_t nknown = 0, ki;
	unsigned long long threads = 0, depth = 0;
	char cfg_real[PATH_MAX];

	memset(&a, 0, sizeof(a));
	optind = 1;
	opterr = 0;		/* option_error says it, once */
	while ((c = getopt_long(argc, argv, short_options(), long_options(),
	    NULL)) != -1) {
		switch (c) {
		case OPT_RULES:
			if (nrules == CBP_CONFIG_LIST_MAX)
				return usage_error("scan: too many --rules (at most %s)", "64");
			rules[nrules++] = optarg;
			break;
		case OPT_EXCLUDE:
			if (nexcludes == CBP_CONFIG_LIST_MAX)
				return usage_error("scan: too many --exclude (at most %s)", "64");
			excludes[nexcludes++] = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") != 0 && strcmp(optarg, "jsonl") != 0)
				return usage_error("scan: --format: '%s' is not text or jsonl", optarg);
			a.format = optarg;
			break;
		case OPT_OUTPUT:
			a.output = optarg;
			break;
		case OPT_APPEND:
			a.append = 1;
			break;
		case OPT_STATE:
			a.state = optarg;
			break;
		case OPT_THREADS:
			/* The grammar and range of the config's threads key. */
			if (cbp_parse_uint(optarg, 1, 1024, &v, NULL, 0) != CBP_OK)
				return usage_error("scan: --threads: '%s' is not a number from 1 "
				    "to 1024 (leave it out for one per online CPU)", optarg);
			threads = v;
			break;
		case OPT_MAX_DEPTH:
			if (cbp_parse_uint(optarg, 0, 64, &v, NULL, 0) != CBP_OK)
				return usage_error("scan: --max-depth: '%s' is not a number from 0 to 64", optarg);
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
		case OPT_NO_COLOR:
			a.no_color = 1;
			break;
		case OPT_PROGRESS:
			a.progress = 1;
			break;
		case OPT_STRICT:
			a.strict_set = 1;
			break;
		case OPT_NO_KNOWN_CACHE:
			a.no_known_cache = 1;
			break;
		case OPT_HELP:
			help();
			return EXIT_CLEAN;
		case OPT_KNOWN:
			if (nknown == CBP_CONFIG_KNOWN_MAX)
				return usage_error("scan: too many --known (at most %s)", "64");
			known[nknown++] = optarg;
			break;
		case OPT_ENDPOINT:
		case OPT_ENDPOINT_FORMAT:
		case OPT_TOKEN_FILE:
		case OPT_CA_FILE:
		case OPT_CLIENT_CERT:
		case OPT_CLIENT_KEY:
		case OPT_SPOOL:
			if (delivery_opt(&a.dopt, c, optarg, "scan") != 0)
				return EXIT_ERROR;
			break;
		default:	/* ':' or '?' */
			return option_error("scan", scan_opts, c, argc, argv);
		}
	}
	if (optind >= argc)
		return usage_error("scan: %s", "no PATH given (what should be scanned?)");
	if (a.append && (a.output == NULL || strcmp(a.output, "-") == 0))
		return usage_error("scan: --append: %s", "needs --output FILE");

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
	/* --known adds to the config file's lists (defaults: name, threshold). */
	for (ki = 0; ki < nknown; ki++) {
		r = cbp_config_add_known(&a.cfg, known[ki], NULL, -1);
		if (r == CBP_ELIMIT) {
			fprintf(stderr, "%s: scan: too many known-image lists "
			    "(config and --known together: at most %d)\n",
			    progname, CBP_CONFIG_KNOWN_MAX);
			cbp_config_free(&a.cfg);
			return EXIT_ERROR;
		}
		if (r != CBP_OK)
			goto nomem;
	}
	if (threads > 0)
		a.cfg.threads = (unsigned)threads;
	if (a.depth_set)
		a.cfg.expand.max_depth = (unsigned)depth;
	if (a.onefs_set)
		a.cfg.one_file_system = 1;
	if (a.strict_set)
		a.cfg.strict = 1;
	if (a.no_known_cache)
		a.cfg.known_cache = 0;
	if (apply_delivery_opts(&a.cfg.delivery, &a.dopt) != 0)
		goto nomem;
	if (a.cfg.delivery.endpoint == NULL && (r = lone_delivery_opt(&a.dopt)) != 0) {
		cbp_config_free(&a.cfg);
		return usage_error("scan: --%s needs an endpoint (--endpoint URL, "
		    "or delivery: endpoint in the config file)",
		    r == OPT_ENDPOINT_FORMAT ? "endpoint-format" :
		    r == OPT_TOKEN_FILE ? "token-file" : r == OPT_CA_FILE ? "ca-file" :
		    r == OPT_CLIENT_CERT ? "client-cert" :
		    r == OPT_CLIENT_KEY ? "client-key" : "spool");
	}
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

/* ---- flush ------------------------------------------------------------------ */

static const struct opt_doc flush_opts[] = {
	{ { "endpoint", required_argument, NULL, OPT_ENDPOINT }, "URL",
	  "the central HTTPS endpoint (or delivery: endpoint in the config)" },
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
	  "durable outbox (default STATE/spool)" },
	{ { "state", required_argument, NULL, OPT_STATE }, "DIR",
	  "state directory (default " CBP_STATE_DEFAULT ")" },
	{ { "config", required_argument, NULL, OPT_CONFIG }, "FILE",
	  "configuration file (cbpscan.conf(5))" },
	{ { "help", no_argument, NULL, OPT_HELP }, NULL, "show this help" },
	{ { NULL, 0, NULL, 0 }, NULL, NULL },
};

/*
 * cbpscan flush: deliver what earlier runs left in the spool, at the
 * configured replay rate (a fleet back from an outage must not flood the
 * centre), for at most flush_wait_ms.  0 all delivered, 3 records remain,
 * 2 usage or setup error.
 */
static int
cmd_flush(int argc, char **argv)
{
	struct cbp_error diag_err_slot = { 0 };
	struct option lo[sizeof(flush_opts) / sizeof(flush_opts[0])];
	struct delivery_opts dopt = { 0 };
	struct cbp_config cfg;
	struct cbp_config_diag diag = { 0 };
	struct cbp_state state = { .dirfd = -1 };
	struct cbp_spool *sp = NULL;
	struct cbp_deliver *dv = NULL;
	const char *config = NULL, *statedir = NULL;
	char cfg_real[PATH_MAX];
	size_t i;
	int c, status = EXIT_ERROR;

	for (i = 0; i < sizeof(lo) / sizeof(lo[0]); i++)
		lo[i] = flush_opts[i].opt;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			printf("usage: %s flush [OPTIONS]\n\nDeliver the reports "
			    "kept in the spool to the endpoint.\n", progname);
			for (i = 0; flush_opts[i].opt.name != NULL; i++)
				printf("  --%s%s%s\n      %s\n", flush_opts[i].opt.name,
				    flush_opts[i].arg ? " " : "",
				    flush_opts[i].arg ? flush_opts[i].arg : "",
				    flush_opts[i].help);
			printf("\nExit status: 0 delivered, 2 usage or setup "
			    "error, 3 reports still spooled.\n");
			return EXIT_CLEAN;
		case OPT_STATE:
			statedir = optarg;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_ENDPOINT:
		case OPT_ENDPOINT_FORMAT:
		case OPT_TOKEN_FILE:
		case OPT_CA_FILE:
		case OPT_CLIENT_CERT:
		case OPT_CLIENT_KEY:
		case OPT_SPOOL:
			if (delivery_opt(&dopt, c, optarg, "flush") != 0)
				return EXIT_ERROR;
			break;
		default:
			return option_error("flush", flush_opts, c, argc, argv);
		}
	}
	if (optind < argc)
		return usage_error("flush: unexpected argument '%s'", argv[optind]);
	cbp_config_defaults(&cfg);
	if (config != NULL) {
		struct stat st;
		const char *cp = config;

		if (stat(cp, &st) == 0 &&
		    (cp = trusted_path(config, cfg_real, "config", 0)) == NULL)
			goto out;
		if (cbp_config_load(&cfg, cp, &diag) != CBP_OK) {
			fprintf(stderr, "%s: %s\n", progname, diag.message);
			goto out;
		}
	}
	if (apply_delivery_opts(&cfg.delivery, &dopt) != 0) {
		fprintf(stderr, "%s: out of memory\n", progname);
		goto out;
	}
	if (cfg.delivery.endpoint == NULL) {
		cbp_config_free(&cfg);
		return usage_error("flush: %s", "no endpoint: give --endpoint URL "
		    "or delivery: endpoint in the config file");
	}
	if (cbp_state_open(&state, statedir, &diag_err_slot) != CBP_OK) {
		fprintf(stderr, "%s: %s\n", progname, diag_err_slot.message);
		goto out;
	}
	if (open_delivery(&cfg.delivery, &state, &sp, &dv) != 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	status = finish_delivery(dv, sp, cfg.delivery.flush_wait_ms,
	    cfg.delivery.replay_rate) != 0 ? EXIT_SPOOLED : EXIT_CLEAN;
out:
	cbp_deliver_free(dv);
	cbp_spool_close(sp);
	cbp_state_close(&state);
	cbp_config_free(&cfg);
	return status;
}

/* ---- hash: list lines for known-image lists ------------------------------- */

/*
 * cbpscan hash FILE|DIR...: the scan's own walk, archives, workers and
 * confinement in hash mode (struct cbp_scan_opts hash_mode), so an agency
 * hashes its image store through the same parsers and limits, and what it
 * lists is what a scan computes.  Images are decoded at full scale, so the
 * PDQ hashes are the reference's.  Lines are written sorted by location
 * (path, then member names) after the run: workers finish in any order, and
 * running numbers (--id-from seq) must not depend on it.
 */

enum hash_id_from { ID_FROM_HASH = 0, ID_FROM_SEQ, ID_FROM_NAME };

/* Long options only (values past any letter), so option_error names them. */
enum hash_opt { HOPT_CATEGORY = 256, HOPT_ID_FROM, HOPT_THREADS,
	HOPT_MAX_DEPTH, HOPT_STRICT, HOPT_HELP };

/* One image hashed. */
struct hash_line {
	char *where;		/* path and member names, NUL-separated, for sorting */
	size_t where_len;
	char *name;		/* base name of the innermost object (--id-from name) */
	char sha[65], pdq[65];
	int quality;
};

struct hash_sink {
	struct cbp_sink base;
	struct hash_line *v;
	size_t n, cap;
	uint64_t problems;
	int nomem;
};

static int
hash_sink_finding(struct cbp_sink *s, const struct cbp_finding *f)
{
	struct hash_sink *hs = (struct hash_sink *)s;
	struct hash_line *l;
	const char *base;
	size_t i, len, off;

	if (strcmp(f->rule, CBP_SCAN_HASH_RULE) != 0)
		return 0;
	if (hs->n == hs->cap) {
		size_t nc = hs->cap ? hs->cap * 2 : 256;
		struct hash_line *nv = realloc(hs->v, nc * sizeof(*nv));

		if (nv == NULL)
			return hs->nomem = 1, 0;
		hs->v = nv;
		hs->cap = nc;
	}
	l = &hs->v[hs->n];
	memset(l, 0, sizeof(*l));
	len = strlen(f->path) + 1;
	for (i = 0; i < f->nmember; i++)
		len += strlen(f->member[i]) + 1;
	if ((l->where = malloc(len)) == NULL)
		return hs->nomem = 1, 0;
	off = 0;
	memcpy(l->where, f->path, strlen(f->path) + 1);
	off += strlen(f->path) + 1;
	for (i = 0; i < f->nmember; i++) {
		memcpy(l->where + off, f->member[i], strlen(f->member[i]) + 1);
		off += strlen(f->member[i]) + 1;
	}
	l->where_len = len;
	base = f->nmember > 0 ? f->member[f->nmember - 1] : f->path;
	if (strrchr(base, '/') != NULL && strrchr(base, '/')[1] != '\0')
		base = strrchr(base, '/') + 1;
	if ((l->name = strdup(base)) == NULL) {
		free(l->where);
		return hs->nomem = 1, 0;
	}
	snprintf(l->sha, sizeof(l->sha), "%s", f->sha256);
	snprintf(l->pdq, sizeof(l->pdq), "%s", f->pdq);
	l->quality = f->pdq_quality;
	hs->n++;
	return 0;
}

/* Objects that could not be hashed: on stderr, location escaped. */
static int
hash_sink_problem(struct cbp_sink *s, const struct cbp_problem *p)
{
	struct hash_sink *hs = (struct hash_sink *)s;
	struct cbp_dynbuf b;
	size_t i;
	int r;

	hs->problems++;
	cbp_dynbuf_init(&b, 1 << 20);
	r = cbp_text_escape(&b, p->path, strlen(p->path));
	for (i = 0; r == CBP_OK && i < p->nmember; i++)
		if ((r = cbp_dynbuf_addc(&b, '/')) == CBP_OK)
			r = cbp_text_escape(&b, p->member[i], strlen(p->member[i]));
	if (r == CBP_OK)
		r = cbp_dynbuf_addc(&b, '\0');
	fprintf(stderr, "%s: hash: %s: %s: %s\n", progname,
	    r == CBP_OK ? (const char *)b.data : "(name too long)",
	    cbp_reason_name(p->reason), p->detail != NULL ? p->detail : "");
	cbp_dynbuf_free(&b);
	return 0;
}

static int
hash_sink_summary(struct cbp_sink *s, const struct cbp_summary *sum)
{
	(void)s;
	(void)sum;
	return 0;
}

static int
hash_sink_close(struct cbp_sink *s)
{
	(void)s;	/* main frees the lines after printing them */
	return 0;
}

static const struct cbp_sink_ops hash_sink_ops = {
	.finding = hash_sink_finding,
	.problem = hash_sink_problem,
	.summary = hash_sink_summary,
	.close = hash_sink_close,
	.run = NULL,		/* no run record: nothing leaves this process */
};

static int
hash_line_cmp(const void *a, const void *b)
{
	const struct hash_line *x = a, *y = b;
	size_t n = x->where_len < y->where_len ? x->where_len : y->where_len;
	int c = memcmp(x->where, y->where, n);

	if (c != 0)
		return c;
	if (x->where_len != y->where_len)
		return x->where_len < y->where_len ? -1 : 1;
	if ((c = strcmp(x->sha, y->sha)) != 0)
		return c;
	return strcmp(x->pdq, y->pdq);
}

/*
 * The id of line number seq (1-based): by default the first 16 hex digits
 * of the SHA-256 (of the PDQ hash when there is none): stable across runs
 * and telling nothing about the image's name, which for LPR exports holds
 * the plate number.  The name only when asked, made a valid id (blanks and
 * control bytes become '_', cut to CBP_KNOWN_ID_MAX bytes).
 */
static void
hash_id(const struct hash_line *l, enum hash_id_from from, size_t seq,
    char out[CBP_KNOWN_ID_MAX + 1])
{
	size_t i;

	switch (from) {
	case ID_FROM_SEQ:
		snprintf(out, CBP_KNOWN_ID_MAX + 1, "%zu", seq);
		return;
	case ID_FROM_NAME:
		snprintf(out, CBP_KNOWN_ID_MAX + 1, "%s", l->name);
		for (i = 0; out[i] != '\0'; i++)
			if ((unsigned char)out[i] <= ' ' || out[i] == 0x7f)
				out[i] = '_';
		if (out[0] == '\0')
			snprintf(out, CBP_KNOWN_ID_MAX + 1, "%zu", seq);
		return;
	default:
		snprintf(out, CBP_KNOWN_ID_MAX + 1, "%.16s",
		    l->sha[0] != '\0' ? l->sha : l->pdq);
		return;
	}
}

/* Print the lines; CBP_OK or CBP_EIO when standard output failed. */
static int
hash_print(struct hash_sink *hs, const char *category, enum hash_id_from from)
{
	char id[CBP_KNOWN_ID_MAX + 1];
	size_t i, seq = 0;

	if (hs->n > 1)	/* qsort(NULL, 0, ...) is undefined behaviour */
		qsort(hs->v, hs->n, sizeof(*hs->v), hash_line_cmp);
	for (i = 0; i < hs->n; i++) {
		const struct hash_line *l = &hs->v[i];
		/* Below the quality threshold a PDQ hash is not listed: the
		 * reference advises it, and the scan would not match it. */
		int pdq_ok = l->pdq[0] != '\0' &&
		    l->quality >= CBP_KNOWN_PDQ_MIN_QUALITY;

		if (l->sha[0] == '\0' && !pdq_ok)
			continue;
		hash_id(l, from, ++seq, id);
		printf("%s\t%s\t%s\t%s\n", l->sha[0] ? l->sha : "-",
		    pdq_ok ? l->pdq : "-", category, id);
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? CBP_OK : CBP_EIO;
}

static void
hash_sink_free(struct hash_sink *hs)
{
	size_t i;

	for (i = 0; i < hs->n; i++) {
		free(hs->v[i].where);
		free(hs->v[i].name);
	}
	free(hs->v);
}

static const struct opt_doc hash_opts[] = {
	{ { "category", required_argument, NULL, HOPT_CATEGORY }, "plate|traveler",
	  "category written on every line (required)" },
	{ { "id-from", required_argument, NULL, HOPT_ID_FROM }, "hash|seq|name",
	  "id of each line: the SHA-256's first 16 hex digits (default), a running number in output order, or the file name" },
	{ { "threads", required_argument, NULL, HOPT_THREADS }, "N",
	  "worker processes (default: online CPUs)" },
	{ { "max-depth", required_argument, NULL, HOPT_MAX_DEPTH }, "N",
	  "archive nesting depth limit (default 8)" },
	{ { "strict", no_argument, NULL, HOPT_STRICT }, NULL,
	  "objects that could not be hashed make the exit status 1" },
	{ { "help", no_argument, NULL, HOPT_HELP }, NULL, "show this help" },
	{ { NULL, 0, NULL, 0 }, NULL, NULL },
};

static void
hash_help(void)
{
	const struct opt_doc *d;
	char left[64];

	printf("usage: %s hash --category plate|traveler [OPTIONS] FILE|DIR...\n\n"
	    "Print a known-image list line (sha256<TAB>pdq<TAB>category<TAB>id) "
	    "for every image\nfound, in files, directories and archives, sorted "
	    "by location.\n\nOptions:\n", progname);
	for (d = hash_opts; d->opt.name != NULL; d++) {
		snprintf(left, sizeof(left), "--%s%s%s", d->opt.name,
		    d->arg ? " " : "", d->arg ? d->arg : "");
		printf("  %-28s  %s\n", left, d->help);
	}
	printf("\nExit status: 0 done, 1 with --strict when an object could not "
	    "be hashed,\n2 usage error, or a FILE could not be read, or the run "
	    "did not finish.\nSee cbpscan(1).\n");
}

/* Run the scan in hash mode over roots, into hs. */
static int
hash_run(struct hash_sink *hs, const struct cbp_config *cfg, char **roots,
    size_t nroots, int *complete, int *unscannable)
{
	struct cbp_ruleset *rs = NULL;
	struct data_paths data;
	char magic_real[PATH_MAX], scan_id[37], host_id[37];
	const char *magic;
	struct cbp_output out;
	struct cbp_scan *scan = NULL;
	struct cbp_scan_opts so;
	struct cbp_error err = { 0 };
	struct cbp_output_counts counts;
	int outputs = 0, r = -1;

	find_data(&data);
	if (!is_file(data.magic)) {
		fprintf(stderr, "%s: cannot find the identification database "
		    "cbpscan.mgc: looked in %s\n", progname, data.looked);
		return -1;
	}
	if ((magic = trusted_path(data.magic, magic_real, "magic database",
	    data.owner)) == NULL)
		return -1;
	/*
	 * Hash mode matches no rule, but a scan needs a compiled ruleset (an
	 * empty one does not compile): the default rules, as scan loads them.
	 */
	if (load_rules(&rs, NULL, 0, &data) != CBP_OK)
		return -1;
	if (cbp_output_init(&out) != CBP_OK)
		goto nomem;
	outputs = 1;
	/* Records are stamped with a run id; none leaves this process. */
	cbp_uuid_v4(scan_id);
	cbp_uuid_v4(host_id);
	if (cbp_output_identify(&out, scan_id, "localhost", host_id) != CBP_OK)
		goto nomem;
	out.cancel = &cancel_flag;
	hs->base.ops = &hash_sink_ops;
	if (cbp_output_add(&out, &hs->base) != CBP_OK)
		goto nomem;
	memset(&so, 0, sizeof(so));
	so.roots = (const char *const *)roots;
	so.nroots = nroots;
	so.nthreads = cfg->threads;
	so.caps = cfg->caps;
	so.caps.pdq_full_scale = 1;
	so.expand = cfg->expand;
	so.magic_db = magic;
	so.root_failed = report_root;
	so.object_timeout_ms = cfg->object_timeout_ms;
	so.member_timeout_ms = cfg->member_timeout_ms;
	so.worker_memory = cfg->worker_memory;
	so.split_min = cfg->split_min;
	so.hash_mode = 1;
	raise_nofile();
	if (cbp_scan_new(&so, rs, &out, &scan, &err) != CBP_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.message);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cbp_scan_run(scan, &cancel_flag) != CBP_OK)
		cancel_flag = 1;
	*complete = !cancel_flag &&
	    atomic_load(&cbp_scan_stats(scan)->roots_failed) == 0;
	cbp_output_get_counts(&out, &counts);
	*unscannable = counts.unscannable > 0;
	r = hs->nomem ? -1 : 0;
	if (hs->nomem)
		fprintf(stderr, "%s: out of memory\n", progname);
	goto out;
nomem:
	fprintf(stderr, "%s: out of memory\n", progname);
out:
	cbp_scan_free(scan);
	/* Closing hs frees nothing: the caller prints and frees its lines. */
	if (outputs)
		(void)cbp_output_close(&out);
	cbp_ruleset_free(rs);
	return r;
}

static int
cmd_hash(int argc, char **argv)
{
	struct option lo[sizeof(hash_opts) / sizeof(hash_opts[0])];
	struct hash_sink hs;
	struct cbp_config cfg;
	const char *category = NULL;
	enum hash_id_from from = ID_FROM_HASH;
	uint64_t v;
	int c, strict = 0, complete = 0, unscannable = 0, status;
	size_t i;

	for (i = 0; i < sizeof(lo) / sizeof(lo[0]); i++)
		lo[i] = hash_opts[i].opt;
	cbp_config_defaults(&cfg);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case HOPT_CATEGORY:
			if (strcmp(optarg, "plate") != 0 &&
			    strcmp(optarg, "traveler") != 0)
				return usage_error("hash: --category: '%s' is "
				    "not plate or traveler", optarg);
			category = optarg;
			break;
		case HOPT_ID_FROM:
			if (strcmp(optarg, "hash") == 0)
				from = ID_FROM_HASH;
			else if (strcmp(optarg, "seq") == 0)
				from = ID_FROM_SEQ;
			else if (strcmp(optarg, "name") == 0)
				from = ID_FROM_NAME;
			else
				return usage_error("hash: --id-from: '%s' is not "
				    "hash, seq or name", optarg);
			break;
		case HOPT_THREADS:
			if (cbp_parse_uint(optarg, 1, 1024, &v, NULL, 0) != CBP_OK)
				return usage_error("hash: --threads: '%s' is not "
				    "a number from 1 to 1024", optarg);
			cfg.threads = (unsigned)v;
			break;
		case HOPT_MAX_DEPTH:
			if (cbp_parse_uint(optarg, 0, 64, &v, NULL, 0) != CBP_OK)
				return usage_error("hash: --max-depth: '%s' is not "
				    "a number from 0 to 64", optarg);
			cfg.expand.max_depth = (unsigned)v;
			break;
		case HOPT_STRICT:
			strict = 1;
			break;
		case 'h':
		case HOPT_HELP:
			hash_help();
			return EXIT_CLEAN;
		default:
			return option_error("hash", hash_opts, c, argc, argv);
		}
	}
	/*
	 * Required: a list goes to contractors labelled with what it holds,
	 * and a wrong default would mislabel every line of it.
	 */
	if (category == NULL)
		return usage_error("hash: %s", "--category plate|traveler is "
		    "required (what the images are)");
	if (optind >= argc)
		return usage_error("hash: %s", "no FILE or DIR given");
	if (cfg.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.threads = n > 0 ? (unsigned)n : 1;
	}
	memset(&hs, 0, sizeof(hs));
	if (hash_run(&hs, &cfg, argv + optind, (size_t)(argc - optind),
	    &complete, &unscannable) != 0) {
		status = EXIT_ERROR;
	} else if (hash_print(&hs, category, from) != CBP_OK) {
		fprintf(stderr, "%s: hash: standard output: %s\n", progname,
		    strerror(errno));
		status = EXIT_ERROR;
	} else if (!complete) {
		status = EXIT_ERROR;
	} else {
		status = strict && unscannable ? EXIT_VIOLATION : EXIT_CLEAN;
	}
	hash_sink_free(&hs);
	cbp_config_free(&cfg);
	return status;
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
	/*
	 * Decoding an image for PDQ allocates a few buffers of 0.5-2 MiB and
	 * frees them, thousands of times a scan.  glibc's defaults hand such
	 * blocks back to the kernel on free (mmap, or trimming the heap top),
	 * and the next image faults fresh, zeroed pages in again: a third of
	 * a JPEG's decode time (perf).  Blocks below 4 MiB come from the heap,
	 * and up to 16 MiB of free heap is kept, per process (workers inherit
	 * it): a bounded cost against the per-worker memory cap.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 4 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 16 << 20);
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
	if (strcmp(argv[1], "flush") == 0)
		return cmd_flush(argc - 1, argv + 1);
	if (strcmp(argv[1], "hash") == 0)
		return cmd_hash(argc - 1, argv + 1);
	if (argv[1][0] == '-' && argv[1][1] != '\0')
		return usage_error("unrecognized option '%s' (options follow the "
		    "command: %s scan [OPTIONS] PATH...)", argv[1], progname);
	return usage_error("unknown command '%s'", argv[1]);
}
