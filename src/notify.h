/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VS_NOTIFY_H
#define VS_NOTIFY_H
/* Sends one datagram to $NOTIFY_SOCKET (sd_notify's protocol, without
 * libsystemd); a no-op when the variable is unset. */
void vs_notify(const char *msg);
#endif
