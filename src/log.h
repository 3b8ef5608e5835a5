/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging that never blocks an I/O worker: messages are formatted into a
 * fixed ring and written to stderr by a logger thread. When the ring is
 * full a message is dropped and counted, never waited for.
 */
#ifndef VS_LOG_H
#define VS_LOG_H

#include <stdbool.h>
#include <syslog.h>   /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

void vs_log_init(bool verbose);
/* Starts the logger thread; before this, vs_log() writes synchronously. */
int vs_log_start(void);
/* Writes what is queued and stops the thread (at exit). */
void vs_log_stop(void);

void vs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
