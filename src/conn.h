/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One NBD connection, served by one worker thread that owns every buffer it
 * uses (allocated at start-up). The loop: receive whatever the client has
 * queued, turn all complete requests into one batch of backend segments,
 * run the batch with one xfer() call, answer everything with one sendmsg().
 * Replies go out before the worker waits for more input, so no request
 * waits for a later one.
 */
#ifndef VS_CONN_H
#define VS_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend.h"
#include "handshake.h"
#include "request.h"
#include "store.h"

/* Written by one worker, read by the status writer: relaxed atomics. */
struct vs_counters {
	_Atomic uint64_t reads, writes, trims, zeroes, flushes;
	_Atomic uint64_t read_bytes, write_bytes;
	_Atomic uint64_t io_errors, proto_errors;
} __attribute__((aligned(64)));

/* Requests larger than a worker's arenas (up to 32 MiB reads) borrow this
 * one buffer, shared by all workers. */
struct vs_bigbuf {
	pthread_mutex_t mu;
	uint8_t *buf;
};

#define VS_IN_CAP  ((2u << 20) + (64u << 10))
#define VS_OUT_CAP (2u << 20)
#define VS_MAX_ITEMS 256

struct vs_item {
	struct vs_req r;
	uint32_t err;
	uint8_t *data;
	unsigned seg0, nseg;
};

struct vs_conn {
	struct vs_store *st;
	struct vs_queue *q;
	const struct vs_export *exp;
	struct vs_bigbuf *big;
	struct vs_counters *cnt;
	uint8_t *in, *out;        /* backend staging memory */
	size_t out_used;
	unsigned nitems, nsegs, seg_cap;
	unsigned reads_only;      /* batch holds only READs so far */
	struct vs_item items[VS_MAX_ITEMS];
	uint8_t hdr[VS_MAX_ITEMS][16];
	struct iovec iov[2 * VS_MAX_ITEMS];
	struct vs_seg *segs;
};

int vs_conn_init(struct vs_conn *c, struct vs_store *st, const struct vs_export *exp,
                 struct vs_bigbuf *big, struct vs_counters *cnt);
void vs_conn_free(struct vs_conn *c);

/* Handshake and transmission on fd until the client leaves or breaks the
 * protocol. Does not close fd. */
void vs_conn_serve(struct vs_conn *c, int fd);

#endif
