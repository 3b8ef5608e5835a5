/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vram-swap-excl: the interlock between the shell front and the kernel.
 *
 *   vram-swap-excl DEV             exit 0 when nothing holds DEV, 1 when the
 *                                  kernel does (swap, a mount, a device-mapper
 *                                  or md member), 3 when DEV does not exist,
 *                                  2 on any other error
 *   vram-swap-excl DEV CMD [ARG]   hold DEV exclusively while CMD runs;
 *                                  exit 1 at once when it is held, else CMD's
 *                                  exit status
 *
 * Whether a block device is in use is the kernel's own state: swapon, mount
 * and the block stacking drivers claim the device exclusively, and an
 * O_EXCL open of a claimed device fails with EBUSY. No path text is read,
 * so a swap area listed as "/nbd0" from another mount namespace is still
 * seen. Holding the claim while CMD (nbd-client -d) runs closes the window
 * in which swapon could claim the device between the check and the detach.
 * CMD also runs under the BSD lock (LOCK_EX) that udev honours (systemd's
 * block device locking): swapoff's close makes udev probe the device, and
 * a probe's read cut off by the detach is an I/O error in the kernel log.
 * Bash cannot open with O_EXCL, and no packaged tool tests a claim without
 * writing to the device, hence this small program.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *prog = "vram-swap-excl";
static volatile sig_atomic_t child;

/* A signal that ends us ends the command too: it must not run on once the
 * claim that made it safe is gone. */
static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	struct stat st;
	int fd, status;
	pid_t pid;

	if (argc < 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: %s /dev/DEVICE [COMMAND [ARG]...]\n", prog);
		return 2;
	}
	const char *dev = argv[1];
	fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int err = errno;
		if (err == EBUSY) {
			fprintf(stderr, "%s: %s is in use by the kernel (swap, a mount or "
				"another exclusive holder)\n", prog, dev);
			return 1;
		}
		fprintf(stderr, "%s: cannot open %s: %s\n", prog, dev, strerror(err));
		return err == ENOENT || err == ENXIO || err == ENODEV ? 3 : 2;
	}
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "%s: %s is not a block device\n", prog, dev);
		return 2;
	}
	if (argc == 2)
		return 0;

	/* A probe takes the lock shared for a moment: wait for it, but not
	 * for ever (a stuck probe must not block a detach). */
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		if (errno != EWOULDBLOCK || i == 1000) {
			fprintf(stderr, "%s: %s: cannot take its lock (%s); going on\n", prog, dev,
				errno == EWOULDBLOCK ? "held for 10 s" : strerror(errno));
			break;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}

	struct sigaction sa = { .sa_handler = forward };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
		return 2;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		/* O_CLOEXEC: the command never inherits the claim. */
		execvp(argv[2], argv + 2);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[2], strerror(errno));
		_exit(127);
	}
	child = pid;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "%s: waitpid: %s\n", prog, strerror(errno));
			return 2;
		}
	}
	close(fd);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
