/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whole-buffer socket transfers, blocking or bounded by a deadline. */
#ifndef VS_SOCKIO_H
#define VS_SOCKIO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/* 0 once all n bytes moved; -1 on EOF, error, or (the _by variants) when
 * the CLOCK_MONOTONIC deadline passes first. */
int vs_recv_full(int fd, void *buf, size_t n);
int vs_send_full(int fd, const void *buf, size_t n);
int vs_sendv_full(int fd, struct iovec *iov, unsigned n);
int vs_recv_by(int fd, void *buf, size_t n, const struct timespec *deadline);
int vs_send_by(int fd, const void *buf, size_t n, const struct timespec *deadline);
/* What has arrived, 1 to n bytes, once something has; -1 as above. */
ssize_t vs_recv_some_by(int fd, void *buf, size_t n, const struct timespec *deadline);

#endif
