/*
 * state.c — the state directory and the host id (see cbp_state.h for what
 * is checked and why the per-user fallback exists).
 *
 * Everything below the directory is reached through its descriptor
 * (openat, linkat), so once the directory passed its checks, a rename of
 * a directory above it cannot redirect what is read or written.  Files are
 * opened with O_NOFOLLOW: the directory is the user's own, but a link in
 * it would still be a way to make root read or overwrite something else.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbp_finding.h"
#include "cbp_state.h"
#include "cbp_trust.h"

#define OPEN_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)

/* A UUID, a newline, and room to notice anything longer. */
#define HOST_ID_READ 64

static int
access_code(int e)
{
	return e == EACCES || e == EPERM ? CBP_EPERM : CBP_EIO;
}

/*
 * Create path and any missing directory above it, each 0700 (before the
 * umask, which can only take bits away).  Errors on the way are left to
 * the final mkdir: its errno names the real cause (ENOENT, EACCES ...).
 */
static int
make_dirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(buf)) {
		errno = n == 0 ? ENOENT : ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (i = 1; i < n; i++) {
		if (buf[i] != '/' || buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		(void)mkdir(buf, 0700);
		buf[i] = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Open the directory, creating it if missing, and check owner and mode. */
static int
open_dir(struct cbp_state *st, const char *path, struct cbp_error *err)
{
	struct stat sb;
	int fd, created = 0;
	uid_t me = geteuid();

	if ((fd = open(path, OPEN_DIR_FLAGS)) < 0 && errno == ENOENT) {
		if (make_dirs(path) != 0)
			return cbp_error_set(err, access_code(errno), errno,
			    "%s: cannot create the state directory: %s", path,
			    strerror(errno));
		created = 1;
		fd = open(path, OPEN_DIR_FLAGS);
	}
	if (fd < 0)
		return cbp_error_set(err, access_code(errno), errno,
		    "%s: cannot open the state directory: %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) != 0) {
		cbp_error_set(err, CBP_EIO, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* Made here: exactly 0700, whatever the umask left. */
	if (created && sb.st_uid == me && fchmod(fd, 0700) == 0)
		sb.st_mode = (sb.st_mode & ~07777u) | 0700;
	if (sb.st_uid != me) {
		cbp_error_set(err, CBP_EPERM, 0, "%s: the state directory is "
		    "owned by uid %u, not by uid %u running cbpscan: the host id "
		    "must be kept where only this user can change it (chown it, "
		    "or give --state DIR)", path, (unsigned)sb.st_uid,
		    (unsigned)me);
		goto fail;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		cbp_error_set(err, CBP_EPERM, 0, "%s: the state directory is "
		    "writable by %s (mode %04o): others could replace the host "
		    "id (chmod go-w '%s')", path, (sb.st_mode & S_IWOTH) ?
		    "others" : "its group", (unsigned)(sb.st_mode & 07777), path);
		goto fail;
	}
	/* As root, also every directory above it (no-op for other users). */
	if (cbp_trust_check_fd(fd, path, err) != CBP_OK)
		goto fail;
	st->dirfd = fd;
	return CBP_OK;
fail:
	close(fd);
	return err->code != CBP_OK ? err->code : CBP_EIO;
}

/*
 * Read DIR/host-id.  CBP_ENOTFOUND when there is none yet; CBP_ECORRUPT
 * when it holds anything but one UUID (and an optional newline).
 */
static int
read_host_id(struct cbp_state *st, struct cbp_error *err)
{
	char buf[HOST_ID_READ + 1];
	struct stat sb;
	ssize_t n;
	size_t len = 0, i;
	int fd;

	fd = openat(st->dirfd, CBP_STATE_HOST_ID, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return CBP_ENOTFOUND;
	if (fd < 0)
		return cbp_error_set(err, access_code(errno), errno,
		    "%s/%s: cannot open the host id: %s", st->dir,
		    CBP_STATE_HOST_ID, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		cbp_error_set(err, CBP_EIO, errno, "%s/%s: the host id is not "
		    "a regular file", st->dir, CBP_STATE_HOST_ID);
		goto out;
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
		cbp_error_set(err, CBP_EPERM, 0, "%s/%s: the host id is owned "
		    "by uid %u (mode %04o): it must be the scanning user's and "
		    "writable by nobody else (chown, chmod 0600)", st->dir,
		    CBP_STATE_HOST_ID, (unsigned)sb.st_uid,
		    (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	while (len < HOST_ID_READ) {
		n = read(fd, buf + len, HOST_ID_READ - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cbp_error_set(err, CBP_EIO, errno, "%s/%s: %s", st->dir,
			    CBP_STATE_HOST_ID, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len == 37 && buf[36] == '\n')
		buf[--len] = '\0';
	for (i = 0; i < len; i++)
		if (buf[i] >= 'A' && buf[i] <= 'F')
			buf[i] = (char)(buf[i] - 'A' + 'a');
	if (len != 36 || !cbp_uuid_valid(buf)) {
		cbp_error_set(err, CBP_ECORRUPT, 0, "%s/%s: not a host id (one "
		    "UUID): it was not written by cbpscan; restore it, or remove "
		    "it to make this host a new one", st->dir, CBP_STATE_HOST_ID);
		goto out;
	}
	memcpy(st->host_id, buf, 37);
out:
	close(fd);
	return err->code;
}

/* All of p[0..n) or -1. */
static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Write a new host id: a temporary file, synced, then linked to its name.
 * link(2) never replaces: if a concurrent first run linked its id first,
 * that one is read and kept, so two runs started together still agree.
 * A file system without hard links gets renameat2(RENAME_NOREPLACE),
 * which keeps the same promise.
 */
static int
create_host_id(struct cbp_state *st, struct cbp_error *err)
{
	char tmp[64], line[38];
	int fd, e = 0, placed;

	cbp_uuid_v4(line);
	line[36] = '\n';
	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", CBP_STATE_HOST_ID,
	    (long)getpid());
	/* A leftover of a run that died with our pid is ours to remove. */
	(void)unlinkat(st->dirfd, tmp, 0);
	fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return cbp_error_set(err, access_code(errno), errno,
		    "%s: cannot create the host id: %s", st->dir, strerror(errno));
	if (fchmod(fd, 0600) != 0 || write_all(fd, line, 37) != 0 ||
	    fsync(fd) != 0)
		e = errno != 0 ? errno : EIO;
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e != 0) {
		(void)unlinkat(st->dirfd, tmp, 0);
		return cbp_error_set(err, CBP_EIO, e, "%s: cannot write the "
		    "host id: %s", st->dir, strerror(e));
	}
	placed = linkat(st->dirfd, tmp, st->dirfd, CBP_STATE_HOST_ID, 0) == 0;
	if (!placed && errno != EEXIST)
		placed = renameat2(st->dirfd, tmp, st->dirfd, CBP_STATE_HOST_ID,
		    RENAME_NOREPLACE) == 0;
	e = errno;
	(void)unlinkat(st->dirfd, tmp, 0);
	if (!placed && e != EEXIST)
		return cbp_error_set(err, CBP_EIO, e, "%s: cannot create the "
		    "host id: %s", st->dir, strerror(e));
	(void)fsync(st->dirfd);
	if (read_host_id(st, err) != CBP_OK)
		return err->code != CBP_OK ? err->code : CBP_EIO;
	st->created = placed;
	return CBP_OK;
}

/* *dir_failed: 1 when the directory itself could not be had. */
static int
open_at(struct cbp_state *st, const char *dir, struct cbp_error *err,
    int *dir_failed)
{
	int r;

	*dir_failed = 1;
	if (strlen(dir) >= sizeof(st->dir))
		return cbp_error_set(err, CBP_EINVAL, ENAMETOOLONG,
		    "state directory: path too long");
	memcpy(st->dir, dir, strlen(dir) + 1);
	if ((r = open_dir(st, dir, err)) != CBP_OK)
		return r;
	*dir_failed = 0;
	if ((r = read_host_id(st, err)) == CBP_ENOTFOUND)
		r = create_host_id(st, err);
	if (r != CBP_OK)
		cbp_state_close(st);
	return r;
}

/* $XDG_STATE_HOME/cbpscan, else ~/.local/state/cbpscan (XDG base dirs). */
static int
user_dir(char out[PATH_MAX])
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	int n;

	if (x != NULL && x[0] == '/')
		n = snprintf(out, PATH_MAX, "%s/cbpscan", x);
	else {
		if (home == NULL || home[0] != '/')
			home = (pw = getpwuid(geteuid())) != NULL ? pw->pw_dir : NULL;
		if (home == NULL || home[0] != '/')
			return -1;
		n = snprintf(out, PATH_MAX, "%s/.local/state/cbpscan", home);
	}
	return n > 0 && n < PATH_MAX ? 0 : -1;
}

int
cbp_state_open(struct cbp_state *st, const char *dir, struct cbp_error *err)
{
	struct cbp_error first = { 0 };
	char alt[PATH_MAX];
	int r, dir_failed;

	memset(st, 0, sizeof(*st));
	st->dirfd = -1;
	if (dir != NULL)
		return open_at(st, dir, err, &dir_failed);
	r = open_at(st, CBP_STATE_DEFAULT, &first, &dir_failed);
	/*
	 * Only a user who cannot have the default directory falls back; a
	 * default that opened but holds a bad host id is an error for
	 * everyone, and root's state belongs where the system keeps it.
	 */
	if (r == CBP_OK || geteuid() == 0 || !dir_failed || user_dir(alt) != 0) {
		if (r != CBP_OK)
			*err = first;
		return r;
	}
	if ((r = open_at(st, alt, err, &dir_failed)) != CBP_OK) {
		char alt_msg[sizeof(err->message)];

		/* Both causes, each cut to half the message if need be. */
		memcpy(alt_msg, err->message, sizeof(alt_msg));
		snprintf(err->message, sizeof(err->message), "%.240s; and %.240s",
		    first.message, alt_msg);
		return r;
	}
	st->fell_back = 1;
	snprintf(st->why, sizeof(st->why), "%s", first.message);
	return CBP_OK;
}

void
cbp_state_close(struct cbp_state *st)
{
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->dirfd = -1;
}
