/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The I/O engine under every transport. A transport turns what arrives on
 * its wire into requests (op, offset, length, buffer, tag), adds them to a
 * batch, runs the batch and answers each request from its errno result.
 * The engine knows nothing of any wire format; it owns the order of
 * events that keeps the store correct:
 *
 *   plan   -> which pages move (same-filled pages of a READ are filled
 *             here, written pages compressed and placed)
 *   xfer   -> one backend call for the whole batch
 *   commit -> decompression, the page map, the counters, the log
 *
 * A page's same bit clears only after its data reached the backend, so no
 * reader ever sees stale backend contents; that rule lives in commit().
 */
#ifndef VS_ENGINE_H
#define VS_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "store.h"

enum vs_op { VS_OP_READ, VS_OP_WRITE, VS_OP_TRIM, VS_OP_ZERO, VS_OP_FLUSH };

/* Written by one worker, read by the status writer: relaxed atomics. */
struct vs_counters {
	_Atomic uint64_t reads, writes, trims, zeroes, flushes;
	_Atomic uint64_t read_bytes, write_bytes;
	_Atomic uint64_t io_errors, proto_errors;
	_Atomic uint64_t full_writes;   /* of the io_errors: no room (ENOSPC) */
} __attribute__((aligned(64)));

#define VS_COUNTERS 10

struct vs_io {
	uint8_t op;         /* enum vs_op */
	uint64_t off;
	uint32_t len;
	uint8_t *buf;       /* READ: where the data goes; WRITE: the payload */
	uint64_t tag;       /* the transport's own (an NBD cookie, a ublk tag) */
	int err;            /* 0 or an errno, once the batch has run */
	unsigned seg0, nseg;
	unsigned pp0;       /* its pages' plans: e->pp[pp0 ..] */
	uint8_t *scratch;   /* its room for compressed bytes */
};

/* Most requests one batch holds. */
#define VS_BATCH_MAX 256

struct vs_engine {
	struct vs_store *st;
	struct vs_queue *q;
	struct vs_counters *cnt;
	struct vs_seg *segs;
	unsigned seg_cap, nsegs;
	struct vs_page_plan *pp;
	unsigned pp_cap, npp;
	struct vs_pager pg;
	uint8_t *scratch;   /* pp_cap pages of host memory (compression only) */
	unsigned nio;
	bool reads_only;    /* the batch holds only READs so far */
	struct vs_io io[VS_BATCH_MAX];
};

/* max_bytes: the most payload one batch carries (reads and writes
 * together); sizes the segment list and the page plans. alg: the
 * compression of the stores it will serve; scratch, with one, host memory
 * of max_bytes from the backend for compressed bytes (NULL without).
 * vs_engine_bind() says what it serves. Start-up only: 0 or ENOMEM. */
int vs_engine_init(struct vs_engine *e, struct vs_counters *cnt, size_t max_bytes,
                   unsigned alg, uint8_t *scratch);
/* Serves st through q (owned by the caller) from now on; between batches. */
void vs_engine_bind(struct vs_engine *e, struct vs_store *st, struct vs_queue *q);
void vs_engine_free(struct vs_engine *e);

/* Whether a valid request can join the current batch; when it cannot, run
 * and answer the batch first. A READ is planned when it is added, from the
 * page map as it is then, so it never joins a batch holding a request
 * whose map update is still to come. */
bool vs_engine_fits(const struct vs_engine *e, enum vs_op op, uint32_t len);

/* Adds a request to the batch (after vs_engine_fits() said yes). err != 0
 * adds one the transport refused: it is answered with err, counted as a
 * protocol error, and moves no data. */
struct vs_io *vs_engine_add(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                            uint8_t *buf, uint64_t tag, int err);

/* Runs the batch: after it every request's err is final. The transport
 * answers e->io[0 .. e->nio) and then calls vs_engine_reset(). */
void vs_engine_run(struct vs_engine *e);
void vs_engine_reset(struct vs_engine *e);

/* One READ or WRITE piece outside any batch (requests larger than a
 * transport's buffers move in pieces): plan, xfer, commit. Returns 0 or an
 * errno; counts nothing (vs_engine_done() counts the whole request). */
int vs_engine_piece(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                    uint8_t *buf);
/* Whether the backend wants vs_engine_warm() calls while the transport
 * waits for requests, and the call itself (backend.h: warm). */
bool vs_engine_can_warm(const struct vs_engine *e);
void vs_engine_warm(struct vs_engine *e);
/* Counts and logs a request that moved in pieces, with its result. */
void vs_engine_done(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len, int err);
/* Counts a request the transport refused. */
void vs_engine_refused(struct vs_engine *e);

const char *vs_op_name(enum vs_op op);

#endif
