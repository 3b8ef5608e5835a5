/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The two requests the daemon makes of the kernel's nbd driver, over its
 * generic netlink family "nbd": connect a device to sockets already past
 * the handshake, and give a connected device a fresh socket for one that
 * died. The daemon makes the sockets itself (socketpair), serves one end
 * and hands the other to the kernel, so no handshake runs for the kernel.
 *
 * Written by hand rather than with libnl: three small messages, and a
 * daemon restarted while swap waits for it should fault in as few pages
 * (and libraries) as it can before it serves again.
 *
 * Off the I/O path only (they block on the kernel's answer). Errors: a
 * negative errno, with why[] saying what the kernel refused.
 */
#ifndef VS_NBD_NETLINK_H
#define VS_NBD_NETLINK_H

#include <stddef.h>
#include <stdint.h>

struct vs_nl_connect {
	int index;             /* nbdN, or -1 for any free one */
	const int *fds;        /* the kernel's ends */
	unsigned nfds;
	uint64_t size;         /* bytes */
	uint64_t flags;        /* the export's transmission flags */
	unsigned dead_s;       /* NBD_ATTR_DEAD_CONN_TIMEOUT; 0: fail at once */
	const char *backend;   /* NBD_ATTR_BACKEND_IDENTIFIER */
};

/* Connects; *index is the device's number. */
int vs_nl_connect(const struct vs_nl_connect *c, int *index, char *why, size_t n);

/* Offers fd for a dead connection of nbdN, whose backend identifier must
 * be backend. The kernel answers success whether or not it had a dead
 * slot to put fd in: the caller finds out from fd itself (the kernel
 * holds it, or fd's peer sees a hang-up once the caller closes it). */
int vs_nl_reconnect(int index, int fd, const char *backend, char *why, size_t n);

#endif
