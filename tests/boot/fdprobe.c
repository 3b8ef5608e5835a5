/* SPDX-License-Identifier: GPL-2.0-or-later */
/* boot-fdprobe: what systemd's file descriptor store keeps, and across
 * what. Run as a Type=notify service with FileDescriptorStoreMax=; on
 * each start it appends one line to LOG saying whether it was handed the
 * memfd it stored before (LISTEN_FDS, LISTEN_FDNAMES "probe") and the
 * number in it, then counts one more start in that memfd (or in a new
 * one, stored with FDSTORE=1, FDNAME=probe), says READY=1 and waits.
 *
 *   boot-fdprobe LOG
 *
 * The line: "start pid=P kept=0|1 starts=N" (N: starts the memfd had
 * seen, 0 for a new one). Static, so the guest needs no libraries. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int notify(const char *msg, int fd)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr h; } c;
	struct msghdr m = { .msg_name = &sa,
	                    .msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n),
	                    .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&c, 0, sizeof c);
		m.msg_control = c.b;
		m.msg_controllen = sizeof c.b;
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
	}
	int rc = sendmsg(s, &m, 0) < 0 ? -1 : 0;
	close(s);
	return rc;
}

/* The descriptor named "probe" among those handed to this process. */
static int handed(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	if (!pid || !fds || !names || strtol(pid, NULL, 10) != getpid())
		return -1;
	long count = strtol(fds, NULL, 10);
	char *list = strdup(names), *save = NULL;
	int fd = -1, i = 0;
	for (char *t = strtok_r(list, ":", &save); t && i < count; t = strtok_r(NULL, ":", &save), i++)
		if (!strcmp(t, "probe"))
			fd = 3 + i;
	free(list);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: boot-fdprobe LOG\n");
		return 2;
	}
	int fd = handed(), kept = fd >= 0;
	if (!kept && ((fd = memfd_create("probe", MFD_CLOEXEC)) < 0 || ftruncate(fd, 4096))) {
		perror("boot-fdprobe: memfd");
		return 1;
	}
	uint64_t *starts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (starts == MAP_FAILED) {
		perror("boot-fdprobe: mmap");
		return 1;
	}
	FILE *log = fopen(argv[1], "a");
	if (!log)
		return 1;
	fprintf(log, "start pid=%d kept=%d starts=%llu\n", (int)getpid(), kept,
	        (unsigned long long)*starts);
	fclose(log);
	(*starts)++;
	if ((!kept && notify("FDSTORE=1\nFDNAME=probe", fd)) || notify("READY=1", -1)) {
		fprintf(stderr, "boot-fdprobe: cannot notify the service manager\n");
		return 1;
	}
	for (;;)
		pause();
}
