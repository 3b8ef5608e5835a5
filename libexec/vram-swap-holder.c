/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vram-swap-holder: keeps vram-swapd's pages while no daemon runs, where
 * systemd does not. It runs the daemon as its child and plays the part of
 * systemd's file descriptor store: the daemon hands it every chunk's
 * memory, page map and the tier's record (sd_notify's FDSTORE=1 on
 * $NOTIFY_SOCKET), and when the daemon dies other than by a clean exit
 * the holder starts it again with them (LISTEN_FDS, LISTEN_FDNAMES).
 *
 * A memfd it holds is also mapped and locked here: with nobody mapping
 * them, a dead daemon's pages in RAM could be swapped out to the very
 * device that waits for the daemon to come back. Exported VRAM cannot be
 * swapped; its descriptor is only held.
 *
 *   vram-swap-holder [--quiet] [--argv0 NAME] -- COMMAND [ARG...]
 *
 * Under systemd it is the unit's main process (vram-swap.service): a
 * restart after a crash then needs nothing of PID 1, whose own memory may
 * be in the very swap that waits for the daemon. The daemon's READY=1 and
 * STATUS= go on to the holder's own $NOTIFY_SOCKET. --argv0 names the
 * daemon's argv[0] ("@vram-swapd": spared at shutdown, as the holder is).
 *
 * A daemon that hands its pages over (exit status 75) is started again at
 * once: the binary on disk, which an upgrade may have replaced.
 *
 * Exits with the daemon's status once it exits by itself (0 after a
 * drain, 4 when it refused what it was handed), 1 on its own errors, when
 * the daemon failed to start five times in a row, or when it died having
 * handed over nothing (a GPU whose memory cannot be exported).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 256           /* the daemon needs 2 per chunk and 1 */
#define MAX_FAILS 5           /* starts in a row that never got READY */

static struct held {
	int fd;
	char name[64];
	void *map;                /* a memfd's pages, locked here */
	size_t len;
} held[MAX_FDS];
static unsigned nheld;
static bool quiet;
static const char *argv0;        /* the daemon's argv[0], if not its path */
/* The manager's notification socket (systemd's $NOTIFY_SOCKET), if any:
 * the daemon's readiness and status go on to it. */
static int up_fd = -1;
static struct sockaddr_un up_sa;
static socklen_t up_len;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("vram-swap-holder: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void drop(unsigned i)
{
	if (held[i].map)
		munmap(held[i].map, held[i].len);
	close(held[i].fd);
	held[i] = held[--nheld];
}

static void hold(int fd, const char *name)
{
	struct stat st;
	if (nheld == MAX_FDS) {
		say("more than %d descriptors handed over: closing '%s'", MAX_FDS, name);
		close(fd);
		return;
	}
	struct held *h = &held[nheld++];
	*h = (struct held){ .fd = fd };
	snprintf(h->name, sizeof h->name, "%s", name);
	if (fcntl(fd, F_GET_SEALS) >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
		h->len = (size_t)st.st_size;
		h->map = mmap(NULL, h->len, PROT_READ, MAP_SHARED, fd, 0);
		if (h->map == MAP_FAILED || mlock(h->map, h->len)) {
			say("cannot lock '%s' (%zu bytes) in memory: %s; its pages could be swapped "
			    "out while the daemon is away", name, h->len, strerror(errno));
			if (h->map != MAP_FAILED)
				munmap(h->map, h->len);
			h->map = NULL;
		}
	}
}

static bool holds(const char *name)
{
	for (unsigned i = 0; i < nheld; i++)
		if (!strcmp(held[i].name, name))
			return true;
	return false;
}

/* One datagram of sd_notify's protocol: fills *ready, stores or removes
 * descriptors. Only the daemon's own messages count: the socket is in the
 * abstract namespace, where any local process could send. */
static void on_message(int sock, pid_t child, bool *ready)
{
	char buf[4096];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 16) + CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { buf, sizeof buf - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
	                     .msg_controllen = sizeof ctl.b };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return;
	buf[n] = 0;
	int fds[16], nfds = 0;
	pid_t from = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (nfds < 16)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cr;
			memcpy(&cr, CMSG_DATA(c), sizeof cr);
			from = cr.pid;
		}
	}
	if (from != child) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return;
	}
	bool store = false, remove = false;
	char name[64] = "stored", up[sizeof buf];
	size_t nup = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strcmp(line, "READY=1"))
			*ready = true;
		else if (!strcmp(line, "FDSTORE=1"))
			store = true;
		else if (!strcmp(line, "FDSTOREREMOVE=1"))
			remove = true;
		else if (!strncmp(line, "FDNAME=", 7))
			snprintf(name, sizeof name, "%s", line + 7);
		/* Readiness and status only: the daemon's STOPPING=1 at a
		 * handover or a drain is not the unit's, which the holder keeps
		 * running. */
		if (!strcmp(line, "READY=1") || !strncmp(line, "STATUS=", 7))
			nup += (size_t)snprintf(up + nup, sizeof up - nup, "%s\n", line);
	}
	/* As the daemon does: a status line may be dropped, READY=1 waits up
	 * to the socket's second. */
	if (up_fd >= 0 && nup)
		(void)sendto(up_fd, up, nup, MSG_NOSIGNAL | (strstr(up, "READY=1") ? 0 : MSG_DONTWAIT),
		             (struct sockaddr *)&up_sa, up_len);
	if (store)
		for (int i = 0; i < nfds; i++)
			hold(fds[i], name);
	else
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	if (remove)
		for (unsigned i = nheld; i-- > 0;)
			if (!strcmp(held[i].name, name))
				drop(i);
}

/* In the child: the held descriptors as 3, 4, ... and the daemon. */
static void exec_daemon(char **argv, const char *sock_name)
{
	static char names[MAX_FDS * 65];
	char num[32];
	size_t off = 0;
	int tmp[MAX_FDS];
	/* Out of the way first, so that moving one down overwrites nothing. */
	for (unsigned i = 0; i < nheld; i++)
		tmp[i] = fcntl(held[i].fd, F_DUPFD, 3 + (int)nheld);
	for (unsigned i = 0; i < nheld; i++) {
		dup2(tmp[i], 3 + (int)i);
		close(tmp[i]);
		off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ":" : "",
		                        held[i].name);
	}
	if (nheld) {
		snprintf(num, sizeof num, "%u", nheld);
		setenv("LISTEN_FDS", num, 1);
		setenv("LISTEN_FDNAMES", names, 1);
		snprintf(num, sizeof num, "%d", (int)getpid());
		setenv("LISTEN_PID", num, 1);
	}
	setenv("NOTIFY_SOCKET", sock_name, 1);
	snprintf(num, sizeof num, "%d", MAX_FDS);
	setenv("FDSTORE", num, 1);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	const char *path = argv[0];
	if (argv0)
		argv[0] = (char *)argv0;
	execvp(path, argv);
	say("cannot run %s: %s", path, strerror(errno));
	_exit(127);
}

static pid_t start(char **argv, const char *sock_name)
{
	pid_t pid = fork();
	if (pid == 0)
		exec_daemon(argv, sock_name);
	if (pid < 0)
		say("fork: %s", strerror(errno));
	return pid;
}

int main(int argc, char **argv)
{
	int a = 1;
	for (; a < argc && strcmp(argv[a], "--"); a++) {
		if (!strcmp(argv[a], "--quiet")) {
			quiet = true;
		} else if (!strcmp(argv[a], "--argv0") && a + 1 < argc) {
			argv0 = argv[++a];
		} else {
			say("unknown option '%s'; usage: vram-swap-holder [--quiet] [--argv0 NAME] -- "
			    "COMMAND [ARG...]", argv[a]);
			return 2;
		}
	}
	if (a + 1 >= argc) {
		say("usage: vram-swap-holder [--quiet] [--argv0 NAME] -- COMMAND [ARG...]");
		return 2;
	}
	const char *up = getenv("NOTIFY_SOCKET");
	if (up && (*up == '/' || *up == '@') && strlen(up) < sizeof up_sa.sun_path) {
		up_sa.sun_family = AF_UNIX;
		memcpy(up_sa.sun_path, up, strlen(up));
		if (*up == '@')
			up_sa.sun_path[0] = 0;
		up_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(up));
		up_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct timeval tv = { .tv_sec = 1 };
		if (up_fd >= 0)
			setsockopt(up_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	char **cmd = argv + a + 1;
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		say("mlockall: %s (continuing)", strerror(errno));

	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char sock_name[64];
	snprintf(sock_name, sizeof sock_name, "@vram-swap-holder/%d", (int)getpid());
	memcpy(sa.sun_path + 1, sock_name + 1, strlen(sock_name) - 1);
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sock_name));
	int on = 1;
	if (sock < 0 || bind(sock, (struct sockaddr *)&sa, salen) ||
	    setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof on)) {
		say("cannot make the notification socket: %s", strerror(errno));
		return 1;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	bool ready = false;
	unsigned fails = 0;
	pid_t child = start(cmd, sock_name);
	if (child < 0)
		return 1;
	for (;;) {
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents & POLLIN)
			on_message(sock, child, &ready);
		if (!(p[1].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof si) != sizeof si)
			continue;
		if (si.ssi_signo != SIGCHLD) {
			if (child > 0)
				kill(child, (int)si.ssi_signo);   /* the daemon drains, then exits */
			continue;
		}
		int st;
		pid_t w;
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			if (w != child)
				continue;
			/* Messages sent just before it died still count. */
			while (poll(p, 1, 0) == 1)
				on_message(sock, child, &ready);
			if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 2 ||
			                      WEXITSTATUS(st) == 4)) {
				if (WEXITSTATUS(st) == 4)
					say("the daemon refused the pages it was handed (it said why); "
					    "letting them go");
				return WEXITSTATUS(st);
			}
			if (!holds("tier") && !ready)
				/* It failed at start, and said why. */
				return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
			if (!holds("tier")) {
				/* It kept nothing past itself (memory that cannot be
				 * exported): a new daemon would serve a new, empty tier
				 * where the old one's pages were. */
				say("the daemon (pid %d) died, and it had handed over no pages (not "
				    "crash-safe: see its status): not starting it again", (int)child);
				return 1;
			}
			/* Handed over (an in-place restart or upgrade): the binary on
			 * disk now takes the same pages. */
			bool handed = WIFEXITED(st) && WEXITSTATUS(st) == 75 && ready;
			fails = ready ? 0 : fails + 1;
			if (fails >= MAX_FAILS) {
				say("the daemon failed to start %d times in a row: giving up, and with "
				    "it the %u descriptors held", MAX_FAILS, nheld);
				return 1;
			}
			if (handed)
				say("the daemon (pid %d) handed its pages over: starting %s with the %u "
				    "descriptors held", (int)child, cmd[0], nheld);
			else if (!quiet)
				say("the daemon (pid %d) %s %d: starting it again with %u descriptors "
				    "held", (int)child, WIFSIGNALED(st) ? "was killed by signal" :
				    "exited with status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
				    nheld);
			ready = false;
			struct timespec pause = { 0, 100 * 1000 * 1000 * (long)(fails + 1) };
			if (!handed)
				nanosleep(&pause, NULL);
			child = start(cmd, sock_name);
			if (child < 0)
				return 1;
		}
	}
}
