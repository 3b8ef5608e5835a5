/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `vram-swapd --ctl COMMAND`: the scripts' way to the control socket, so
 * they need no socat or similar. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"

int vs_ctl_client(const struct vs_config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	/* A long-polling client (the watcher's) must not pass for the daemon
	 * with pidof, pgrep -x or the package scripts' check of comm. */
	prctl(PR_SET_NAME, "vram-swap-ctl");
	if (vs_ctl_path(cfg->socket_path, sa.sun_path, sizeof sa.sun_path)) {
		fprintf(stderr, "vram-swapd: the control socket's path for %s is too long\n",
		        cfg->socket_path);
		return 3;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		fprintf(stderr, "vram-swapd: cannot reach the daemon's control socket %s: %s\n",
		        sa.sun_path, strerror(errno));
		return 3;
	}
	char cmd[256];
	int n = snprintf(cmd, sizeof cmd, "%s\n", cfg->ctl);
	if (n <= 0 || (size_t)n >= sizeof cmd || strchr(cfg->ctl, '\n') ||
	    write(fd, cmd, (size_t)n) != n) {
		fprintf(stderr, "vram-swapd: cannot send '%s' to the daemon\n", cfg->ctl);
		close(fd);
		return 3;
	}
	/* The answer ends with "ok" or "error: why"; everything before it is
	 * the answer proper. */
	static char buf[65536];
	size_t got = 0;
	ssize_t k;
	while (got < sizeof buf - 1 && (k = read(fd, buf + got, sizeof buf - 1 - got)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)k;
	}
	close(fd);
	buf[got] = 0;
	char *last = got > 1 ? buf + got - 1 : buf;
	if (last > buf && *last == '\n')
		*last-- = 0;
	while (last > buf && last[-1] != '\n')
		last--;
	if (!strcmp(last, "ok")) {
		fwrite(buf, 1, (size_t)(last - buf), stdout);
		return 0;
	}
	fwrite(buf, 1, (size_t)(last - buf), stdout);
	if (!strncmp(last, "error: ", 7)) {
		fprintf(stderr, "vram-swapd: %s\n", last + 7);
		return 1;
	}
	fprintf(stderr, "vram-swapd: the daemon gave no answer to '%s'\n", cfg->ctl);
	return 3;
}
