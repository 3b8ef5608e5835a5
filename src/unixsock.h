/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unix listening sockets under the daemon's rules, for the export socket
 * and the control socket alike: a directory only the daemon's uid may
 * enter, a stale socket replaced but a live daemon's or a non-socket never,
 * and peers limited to root and that uid.
 */
#ifndef VS_UNIXSOCK_H
#define VS_UNIXSOCK_H

#include <stddef.h>

/* Checks the socket's directory, replaces a stale socket, binds, listens
 * (backlog: connections the kernel queues); returns the fd or -1 (logged). */
int vs_listen_unix(const char *path, int backlog);
/* Whether the peer of an accepted connection may talk to us (root or our
 * own uid): its pid, or -1 (logged, as a `what`). */
int vs_peer_allowed(int fd, const char *what);
/* The control socket's path next to the export socket's: "<dir>/<name>.ctl"
 * for "<dir>/<name>.sock", else the path with ".ctl" appended; -1 if it
 * does not fit out (n bytes) or a Unix socket address. */
int vs_ctl_path(const char *sock, char *out, size_t n);

#endif
