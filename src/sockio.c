/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sockio.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>

int vs_recv_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = recv(fd, p, n, MSG_WAITALL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0 || errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

int vs_send_full(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

int vs_sendv_full(int fd, struct iovec *iov, unsigned n)
{
	while (n) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
		ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t left = (size_t)r;
		while (n && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Milliseconds left until the deadline (0 when it has passed). */
static int ms_left(const struct timespec *d)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	long long ms = (long long)(d->tv_sec - t.tv_sec) * 1000 + (d->tv_nsec - t.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_ready(int fd, short events, const struct timespec *d)
{
	for (;;) {
		int ms = ms_left(d);
		if (!ms)
			return -1;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int vs_recv_by(int fd, void *buf, size_t n, const struct timespec *deadline)
{
	uint8_t *p = buf;
	while (n) {
		if (wait_ready(fd, POLLIN, deadline))
			return -1;
		ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
			return -1;
		}
	}
	return 0;
}

ssize_t vs_recv_some_by(int fd, void *buf, size_t n, const struct timespec *deadline)
{
	for (;;) {
		if (wait_ready(fd, POLLIN, deadline))
			return -1;
		ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
		if (r > 0)
			return r;
		if (r == 0 || (errno != EINTR && errno != EAGAIN))
			return -1;
	}
}

int vs_send_by(int fd, const void *buf, size_t n, const struct timespec *deadline)
{
	const uint8_t *p = buf;
	while (n) {
		if (wait_ready(fd, POLLOUT, deadline))
			return -1;
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && errno != EINTR && errno != EAGAIN) {
			return -1;
		}
	}
	return 0;
}
