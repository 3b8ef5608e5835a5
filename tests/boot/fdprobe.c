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
 * seen, 0 for a new one). It speaks to systemd through the daemon's own
 * src/notify.c. Static, so the guest needs no libraries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

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
	if (!kept && vs_notify_fd("FDSTORE=1\nFDNAME=probe", fd)) {
		fprintf(stderr, "boot-fdprobe: cannot notify the service manager\n");
		return 1;
	}
	vs_notify("READY=1");
	for (;;)
		pause();
}
