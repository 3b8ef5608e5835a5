/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VS_NOTIFY_H
#define VS_NOTIFY_H
/* Sends one datagram to $NOTIFY_SOCKET (sd_notify's protocol, without
 * libsystemd); a no-op when the variable is unset. */
void vs_notify(const char *msg);
/* The same with a file descriptor attached (FDSTORE=1): 0, or an errno
 * (logged) when it could not be sent. */
int vs_notify_fd(const char *msg, int fd);
#endif
