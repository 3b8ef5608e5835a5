/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "unixsock.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* Swap pages hold other processes' secrets: the socket lives in a
 * directory only its owner can enter. */
static int check_dir(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path);
	const char *dir = dirname(copy);
	struct stat st;
	if (lstat(dir, &st)) {
		if (errno != ENOENT) {
			vs_log(LOG_ERR, "cannot inspect socket directory %s: %m", dir);
			return -1;
		}
		if (mkdir(dir, 0700) && errno != EEXIST) {
			vs_log(LOG_ERR, "cannot create socket directory %s: %m", dir);
			return -1;
		}
		if (lstat(dir, &st)) {
			vs_log(LOG_ERR, "cannot inspect socket directory %s: %m", dir);
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		vs_log(LOG_ERR, "socket directory %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		vs_log(LOG_ERR, "socket directory %s must belong to uid %u and be closed "
		       "to others (mode 0700); it belongs to uid %u with mode %03o",
		       dir, (unsigned)geteuid(), (unsigned)st.st_uid, st.st_mode & 0777);
		return -1;
	}
	return 0;
}

/* A socket file left by a daemon that died is replaced; a live daemon's is
 * not, and anything that is not a socket is never removed. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		vs_log(LOG_ERR, "cannot inspect %s: %m", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		vs_log(LOG_ERR, "%s exists and is not a socket; not replacing it", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	int e = errno;
	close(fd);
	if (rc == 0) {
		vs_log(LOG_ERR, "another vram-swapd is already serving %s", path);
		return -1;
	}
	if (e != ECONNREFUSED) {
		vs_log(LOG_ERR, "cannot tell whether %s is in use: %s", path, strerror(e));
		return -1;
	}
	if (unlink(path) && errno != ENOENT) {
		vs_log(LOG_ERR, "cannot remove stale socket %s: %m", path);
		return -1;
	}
	vs_log(LOG_INFO, "replaced stale socket %s", path);
	return 0;
}

int vs_listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (check_dir(path) || clear_stale(path, &sa))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		vs_log(LOG_ERR, "socket: %m");
		return -1;
	}
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc || chmod(path, 0600) || listen(fd, backlog)) {
		vs_log(LOG_ERR, "cannot listen on %s: %m", path);
		close(fd);
		return -1;
	}
	return fd;
}

int vs_peer_allowed(int fd, const char *what)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		vs_log(LOG_WARNING, "cannot identify a %s (%m): closing", what);
		return -1;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		vs_log(LOG_WARNING, "refused a %s with uid %u (pid %d): only root may connect",
		       what, (unsigned)cred.uid, (int)cred.pid);
		return -1;
	}
	return (int)cred.pid;
}

int vs_ctl_path(const char *sock, char *out, size_t n)
{
	size_t l = strlen(sock);
	int k = l > 5 && !strcmp(sock + l - 5, ".sock")
		? snprintf(out, n, "%.*s.ctl", (int)(l - 5), sock)
		: snprintf(out, n, "%s.ctl", sock);
	return k < 0 || (size_t)k >= n ||
	       (size_t)k >= sizeof ((struct sockaddr_un *)0)->sun_path ? -1 : 0;
}
