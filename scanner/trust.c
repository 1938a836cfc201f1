/*
 * trust.c — the one ownership and mode check for every file that steers a
 * verdict (see cbp_trust.h for the rules and why sticky root-owned
 * directories pass).
 *
 * How the directories above a file are found.  The caller has already
 * opened the file; the kernel's name for that descriptor
 * (/proc/self/fd/N) is its real location, with symbolic links and ".."
 * resolved.  That path is then walked from "/" down, one component at a
 * time with openat(O_PATH | O_NOFOLLOW | O_DIRECTORY), so each directory
 * checked is the one the next is looked up in, and a symbolic link planted
 * in the path is an error rather than a detour.  Last, the name is looked
 * up in its directory and must still be the open file (same device and
 * inode): a file renamed or deleted while checked is not vouched for.
 *
 * Why this cannot be raced: ownership and mode of a directory can be
 * changed only by its owner (or root).  If every directory on the path is
 * root's and not writable by anyone else (or sticky and root's), then no
 * other user could have changed what the path led to, before or after the
 * check; if one is not, the check refuses whatever it contains.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbp_trust.h"

static int
owner_ok(const struct stat *st, uid_t uid)
{
	return st->st_uid == 0 || st->st_uid == uid;
}

/* Writable by someone other than the owner, and not saved by the sticky rule. */
static int
others_can_write(const struct stat *st, int is_dir)
{
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 0;
	/* Sticky and root's: nobody else can rename or remove root's entries. */
	if (is_dir && (st->st_mode & S_ISVTX) && st->st_uid == 0)
		return 0;
	return 1;
}

static const char *
writable_by(const struct stat *st)
{
	return (st->st_mode & S_IWOTH) ? "world-writable" : "group-writable";
}

static const char *
kind(const struct stat *st)
{
	return S_ISDIR(st->st_mode) ? "directory" : "file";
}

static int
check_file(const struct stat *st, const char *path, uid_t uid,
    struct cbp_error *err)
{
	if (!owner_ok(st, uid))
		return cbp_error_set(err, CBP_EPERM, 0,
		    "%s: owned by uid %u, not by root: as root cbpscan takes no "
		    "orders from a %s another user can change (chown root "
		    "'%s', or use one root owns)", path, (unsigned)st->st_uid,
		    kind(st), path);
	if (others_can_write(st, S_ISDIR(st->st_mode)))
		return cbp_error_set(err, CBP_EPERM, 0,
		    "%s: %s (mode %04o): as root cbpscan takes no orders from "
		    "a %s others can change (chmod go-w '%s')", path,
		    writable_by(st), (unsigned)(st->st_mode & 07777), kind(st),
		    path);
	return CBP_OK;
}

static int
check_dir(const struct stat *st, const char *path, const char *dir, uid_t uid,
    struct cbp_error *err)
{
	if (!owner_ok(st, uid))
		return cbp_error_set(err, CBP_EPERM, 0,
		    "%s: the directory %s above it is owned by uid %u, not by "
		    "root, who could swap the file (chown root '%s', or move the "
		    "file to a directory only root can write)", path, dir,
		    (unsigned)st->st_uid, dir);
	if (others_can_write(st, 1))
		return cbp_error_set(err, CBP_EPERM, 0,
		    "%s: the directory %s above it is %s (mode %04o): others "
		    "could swap the file (chmod go-w '%s', or move the file to "
		    "a directory only root can write)", path, dir,
		    writable_by(st), (unsigned)(st->st_mode & 07777), dir);
	return CBP_OK;
}

int
cbp_trust_check_fd_as(int fd, const char *path, uid_t uid,
    struct cbp_error *err)
{
	char link[64], real[PATH_MAX], *comp, *slash;
	struct stat fst, st;
	ssize_t n;
	int dfd = -1, nfd, r = CBP_EIO;

	if (fstat(fd, &fst) != 0)
		return cbp_error_set(err, CBP_EIO, errno, "%s: cannot stat: %s",
		    path, strerror(errno));
	if ((r = check_file(&fst, path, uid, err)) != CBP_OK)
		return r;
	r = CBP_EIO;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n <= 0 || (size_t)n >= sizeof(real) - 1 || real[0] != '/')
		return cbp_error_set(err, CBP_EIO, n < 0 ? errno : 0,
		    "%s: cannot find where the file lives to check the "
		    "directories above it (is /proc mounted?)", path);
	real[n] = '\0';

	/* "/" itself, then each directory down to the file's own. */
	if ((dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(dfd, &st) != 0) {
		cbp_error_set(err, CBP_EIO, errno, "%s: cannot check /: %s",
		    path, strerror(errno));
		goto out;
	}
	if ((r = check_dir(&st, path, "/", uid, err)) != CBP_OK)
		goto out;
	r = CBP_EIO;
	if (real[1] == '\0') {		/* the file is "/" itself */
		r = CBP_OK;
		goto out;
	}
	comp = real + 1;
	while ((slash = strchr(comp, '/')) != NULL) {
		*slash = '\0';
		nfd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 || fstat(nfd, &st) != 0) {
			cbp_error_set(err, CBP_EIO, errno, "%s: cannot check the "
			    "directory %s above it: %s", path, real, strerror(errno));
			if (nfd >= 0)
				close(nfd);
			goto out;
		}
		close(dfd);
		dfd = nfd;
		if ((r = check_dir(&st, path, real, uid, err)) != CBP_OK)
			goto out;
		r = CBP_EIO;
		*slash = '/';
		comp = slash + 1;
	}
	/* The name must still lead to the open file. */
	if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    st.st_dev != fst.st_dev || st.st_ino != fst.st_ino) {
		cbp_error_set(err, CBP_EIO, 0, "%s: the file was moved or "
		    "removed while its location was checked (%s)", path, real);
		goto out;
	}
	r = CBP_OK;
out:
	if (dfd >= 0)
		close(dfd);
	return r;
}

int
cbp_trust_check_fd(int fd, const char *path, struct cbp_error *err)
{
	uid_t uid = geteuid();

	if (uid != 0)
		return CBP_OK;
	return cbp_trust_check_fd_as(fd, path, uid, err);
}

int
cbp_trust_open(const char *path, int *fdp, struct cbp_error *err)
{
	int fd, r;

	*fdp = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cbp_error_set(err, errno == EACCES || errno == EPERM ?
		    CBP_EPERM : CBP_EIO, errno, "%s: cannot open: %s", path,
		    strerror(errno));
	if ((r = cbp_trust_check_fd(fd, path, err)) != CBP_OK) {
		close(fd);
		return r;
	}
	*fdp = fd;
	return CBP_OK;
}
