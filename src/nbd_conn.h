/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD transport: one connection, served by one worker thread that owns
 * every buffer it uses (allocated at start-up). It speaks the wire format
 * (handshake, request headers, simple replies), keeps the arenas requests
 * and replies live in, and hands the I/O itself to the engine.
 *
 * The loop: receive whatever the client has queued, add all complete
 * requests to one engine batch, run it, answer everything with one
 * sendmsg(). Replies go out before the worker waits for more input, so no
 * request waits for a later one.
 */
#ifndef VS_NBD_CONN_H
#define VS_NBD_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "engine.h"
#include "handshake.h"
#include "nbd_exports.h"

/* The receive arena holds a full batch of 4 KiB writes with their headers;
 * the reply arena a batch of reads. Larger requests move in pieces. */
#define VS_IN_CAP  ((2u << 20) + (64u << 10))
#define VS_OUT_CAP (2u << 20)

struct vs_nbd_conn {
	struct vs_engine eng;
	const struct vs_nbd_source *src;
	struct vs_export exp;     /* the one this connection chose */
	struct vs_backend *bes[VS_MAX_GPUS];
	struct vs_queue *q[VS_MAX_GPUS];   /* one on each GPU */
	unsigned nq;
	uint8_t *in, *out;        /* backend staging memory */
	uint8_t *scratch;         /* and for compressed bytes (compression only) */
	size_t out_used;
	bool spin;                /* poll briefly before sleeping in recv() */
	uint8_t hdr[VS_BATCH_MAX][16];
	struct iovec iov[2 * VS_BATCH_MAX];
};

/* Buffers come from bes[0] (pinned for every device); one queue is opened
 * on each of the nbe backends, bes[i] being the chunks' GPU i. Off the I/O
 * path only: 0 or an errno (nothing logged). */
int vs_nbd_conn_init(struct vs_nbd_conn *c, struct vs_backend *const *bes, unsigned nbe,
                     const struct vs_nbd_source *src, struct vs_counters *cnt);
void vs_nbd_conn_free(struct vs_nbd_conn *c);

/* Transmission on fd, whose handshake chose and pinned exp (negotiate.c),
 * until the client leaves or breaks the protocol; unpins exp. Does not
 * close fd. */
void vs_nbd_conn_serve(struct vs_nbd_conn *c, int fd, const struct vs_export *exp);

#endif
