/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `vram-swapd --ctl COMMAND`: the scripts' way to the control socket, so
 * they need no socat or similar. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "unixsock.h"

/* Exit statuses, as man/vram-swapd.8 lists them. */
enum { CTL_OK = 0, CTL_REFUSED = 1, CTL_BAD = 2, CTL_NO_DAEMON = 3 };

int vs_ctl_client(const struct vs_config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	/* A long-polling client (the watcher's) must not pass for the daemon
	 * with pidof, pgrep -x or the package scripts' check of comm. */
	prctl(PR_SET_NAME, "vram-swap-ctl");
	/* A daemon that hangs up on us is an answer to report, not a
	 * reason to die silently. */
	signal(SIGPIPE, SIG_IGN);
	char cmd[VS_CTL_LINE];
	int n = snprintf(cmd, sizeof cmd, "%s\n", cfg->ctl);
	if (n <= 0 || (size_t)n >= sizeof cmd || strchr(cfg->ctl, '\n')) {
		fprintf(stderr, "vram-swapd: --ctl takes one command line of at most %d bytes, "
		        "not '%s'\n", VS_CTL_LINE - 2, cfg->ctl);
		return CTL_BAD;
	}
	if (vs_ctl_path(cfg->socket_path, sa.sun_path, sizeof sa.sun_path)) {
		fprintf(stderr, "vram-swapd: the control socket's path for %s is too long\n",
		        cfg->socket_path);
		return CTL_NO_DAEMON;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		fprintf(stderr, "vram-swapd: cannot reach the daemon's control socket %s: %s\n",
		        sa.sun_path, strerror(errno));
		return CTL_NO_DAEMON;
	}
	/* If sending fails the daemon may still have said why (it refuses
	 * some peers with a line): read that before judging. */
	int send_err = 0;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = send(fd, cmd + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w > 0) {
			off += w;
		} else if (errno != EINTR) {
			send_err = errno;
			break;
		}
	}
	/* The answer ends with "ok" or "error: why"; everything before it is
	 * the answer proper. */
	static char buf[65536];
	size_t got = 0;
	int recv_err = 0;
	for (;;) {
		ssize_t k = read(fd, buf + got, sizeof buf - 1 - got);
		if (k > 0) {
			got += (size_t)k;
			if (got == sizeof buf - 1)
				break;
		} else if (k == 0) {
			break;
		} else if (errno != EINTR) {
			recv_err = errno;
			break;
		}
	}
	close(fd);
	buf[got] = 0;
	char *last = got > 1 ? buf + got - 1 : buf;
	if (last > buf && *last == '\n')
		*last-- = 0;
	while (last > buf && last[-1] != '\n')
		last--;
	fwrite(buf, 1, (size_t)(last - buf), stdout);
	if (!strcmp(last, "ok"))
		return CTL_OK;
	if (!strncmp(last, "error: ", 7)) {
		fprintf(stderr, "vram-swapd: %s\n", last + 7);
		return CTL_REFUSED;
	}
	int e = send_err ? send_err : recv_err;
	if (e)
		fprintf(stderr, "vram-swapd: the daemon closed the control connection before "
		        "answering '%s' (%s)\n", cfg->ctl, strerror(e));
	else
		fprintf(stderr, "vram-swapd: the daemon gave no answer to '%s'\n", cfg->ctl);
	return CTL_NO_DAEMON;
}
