/*
 * cbp_yaml.h — the one YAML layer of cbpscan, and the one grammar for the
 * scalars its files hold.
 *
 * Every YAML file cbpscan reads (the configuration, rule files, and later
 * list files) goes through here, so that every one of them gets the same
 * defences: the file is opened without following a symlink and must be a
 * regular file no larger than CBP_YAML_FILE_MAX; its bytes are checked to
 * be UTF-8 before libfyaml sees them (libfyaml 0.7.x loops for ever on
 * some malformed sequences); it is parsed from memory with libfyaml's
 * event parser, never its document builder, so an alias is an error and
 * is never expanded (no billion-laughs); nesting and the number of nodes
 * are capped (CBP_YAML_DEPTH, CBP_YAML_NODES).  The result is a small tree
 * in which every node knows its 1-based line and column, so every message
 * can say file:line:col.
 *
 * The grammar functions (cbp_parse_*) are also what the command line uses,
 * so `--threads 0` and `threads: 0` are judged by the same code.
 */
#ifndef CBP_YAML_H
#define CBP_YAML_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum cbp_ytype { CBP_Y_NULL, CBP_Y_SCALAR, CBP_Y_MAP, CBP_Y_SEQ, CBP_Y_BAD };

struct cbp_ynode {
	enum cbp_ytype type;	/* CBP_Y_BAD: already reported (an alias) */
	int line, col;		/* 1-based start; 0 = unknown */
	int eline, ecol;	/* 1-based end of a scalar (exclusive column) */
	char *s;		/* scalar text, escapes processed, NUL-terminated */
	size_t len;		/* may hold a NUL from an escape: check it */
	struct cbp_ynode **kid;	/* map: key, value, key, value ...; seq: items */
	size_t n, alloc;
};

/* One diagnostic: file, 1-based line and column (0 if none), message. */
typedef void (*cbp_yaml_diag_fn)(void *arg, const char *file, int line,
    int col, const char *msg);

/* Where text comes from, for messages. */
struct cbp_yaml_src {
	const char *file;	/* name used in diagnostics */
	const char *kind;	/* "rule file", "configuration file" ... */
	cbp_yaml_diag_fn diag;	/* may be NULL */
	void *arg;
};

/*
 * Read src->file whole: opened O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK,
 * fstat'ed, a regular file of at most CBP_YAML_FILE_MAX bytes, read no
 * further than the size seen then.  *text is NUL-terminated and the
 * caller frees it; *st (may be NULL) gets the fstat of the opened file.
 * CBP_OK, or CBP_EIO / CBP_EPERM / CBP_ELIMIT / CBP_ENOMEM after one
 * diagnostic (line 0: there is no position).
 */
int cbp_yaml_read_file(const struct cbp_yaml_src *src, char **text,
    size_t *len, struct stat *st);

/*
 * Check text[0..len) and parse it into *root (NULL for an empty stream;
 * free with cbp_ynode_free).  One document; no aliases; mapping keys are
 * scalars.  CBP_OK; CBP_ESYNTAX after reporting every error found (*root
 * may still hold a tree whose bad nodes are CBP_Y_BAD, so a caller can go
 * on to report more); CBP_ENOMEM.
 */
int cbp_yaml_parse(const struct cbp_yaml_src *src, const char *text,
    size_t len, struct cbp_ynode **root);

void cbp_ynode_free(struct cbp_ynode *n);

/* "a mapping", "a list", "nothing", "a scalar". */
const char *cbp_ynode_type_name(enum cbp_ytype t);

/*
 * A short printable rendering of untrusted text for a message (values
 * come from a file an attacker may have written and go to a terminal).
 */
const char *cbp_yaml_shown(const char *s, size_t len, char *buf, size_t bufsz);

/* ---- the grammar of scalars ---------------------------------------------
 *
 * Each returns CBP_OK, or CBP_EINVAL (not of the form) or CBP_ELIMIT (of
 * the form but out of range) and then, when why is not NULL, a sentence
 * saying what is wrong and what is expected (e.g. "'0' is out of range
 * (1 to 1024)"); the caller puts the setting's name and position before it.
 *
 *   boolean   true or false (also True, TRUE, False, FALSE: YAML 1.2).
 *             yes/no/on/off are refused: they are booleans in YAML 1.1
 *             only, and one spelling is what an auditor can grep for.
 *   integer   decimal digits, or 0x and hexadecimal digits; no sign, no
 *             spaces, no separators (leading zeros are still decimal).
 *   size      an integer, or decimal digits and a unit K, M, G or T
 *             (either case) optionally followed by B or iB: powers of
 *             1024 in every spelling, so 64M = 64MB = 64MiB; a bare B is
 *             bytes.
 *   duration  decimal digits and an optional unit s, m, h, d, w or y
 *             (365 days); no unit is seconds.
 */
int cbp_parse_bool(const char *s, int *out, char *why, size_t whysz);
int cbp_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    char *why, size_t whysz);
int cbp_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    char *why, size_t whysz);
int cbp_parse_duration(const char *s, int64_t *out, char *why, size_t whysz);

#endif
