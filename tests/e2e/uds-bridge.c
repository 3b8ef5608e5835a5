/* uds-bridge: joins stdin/stdout to a Unix stream socket.
 *
 *   uds-bridge SOCKET
 *
 * The daemon listens on a Unix socket only; qemu's user network forwards
 * each guest TCP connection to a program's stdin/stdout
 * (guestfwd=tcp:IP:PORT-cmd:uds-bridge SOCKET), one process per
 * connection, so `nbd-client -C 4` in the guest gets four daemon
 * connections. Written here because the GPU machines have no socat.
 * libslirp hands the command a loopback TCP connection, not a pipe (it
 * wants out-of-band data), so Nagle and delayed ACKs on it would add
 * ~40 ms to every NBD round trip: turn both off where they can be.
 * Quiet on purpose: qemu hands the same socket to stderr, and anything
 * printed there would land in the guest's NBD stream. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char buf[2][1 << 20];

/* Delayed ACKs come back after each ACK sent; ask again (no-op off TCP). */
static void quickack(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

/* Copies what is readable on `from` to `to`; 0 at end of stream, -1 on error. */
static int pump(int from, int to, char *b)
{
	ssize_t n = read(from, b, sizeof buf[0]);
	quickack(from);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (n == 0)
		return 0;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, b + off, (size_t)(n - off));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += w;
	}
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof sa.sun_path)
		return 2;
	strcpy(sa.sun_path, argv[1]);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
		return 1;

	int one = 1;
	setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	quickack(0);

	/* in: guest -> daemon (fd 0 -> s); out: daemon -> guest (s -> fd 1) */
	int in_open = 1, out_open = 1;
	while (in_open || out_open) {
		struct pollfd p[2] = {
			{.fd = in_open ? 0 : -1, .events = POLLIN},
			{.fd = out_open ? s : -1, .events = POLLIN},
		};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents) {
			int r = pump(0, s, buf[0]);
			if (r < 0)
				return 1;
			if (r == 0) {
				in_open = 0;
				shutdown(s, SHUT_WR);
			}
		}
		if (p[1].revents) {
			int r = pump(s, 1, buf[1]);
			if (r < 0)
				return 1;
			if (r == 0) {
				out_open = 0;
				shutdown(1, SHUT_WR);
			}
		}
	}
	return 0;
}
