/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "notify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* fd < 0: none attached. */
static int send_msg(const char *msg, int fd)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return ENOTCONN;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path) {
		vs_log(LOG_WARNING, "NOTIFY_SOCKET '%s' is not usable", path);
		return EINVAL;
	}
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace */
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = {
		.msg_name = &sa,
		.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	if (fd >= 0) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof ctl.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	/* A manager that does not read (a full queue: a datagram socket
	 * queues only a few) must not stall the daemon: a status line is
	 * dropped; a descriptor or READY=1, which the manager must have,
	 * waits a second. */
	bool must = fd >= 0 || !strcmp(msg, "READY=1");
	struct timeval tv = { .tv_sec = 1 };
	if (must)
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int rc = 0;
	if (sendmsg(s, &mh, MSG_NOSIGNAL | (must ? 0 : MSG_DONTWAIT)) < 0) {
		rc = errno;
		vs_log(LOG_WARNING, "cannot notify the service manager%s: %m",
		       fd >= 0 ? " (handing over a descriptor)" : "");
	}
	close(s);
	return rc;
}

void vs_notify(const char *msg)
{
	send_msg(msg, -1);
}

int vs_notify_fd(const char *msg, int fd)
{
	return send_msg(msg, fd);
}
