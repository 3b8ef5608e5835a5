/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#define PG VS_BLOCK

#define CNT_ADD(field, v) \
	atomic_store_explicit(&e->cnt->field, \
	    atomic_load_explicit(&e->cnt->field, memory_order_relaxed) + (v), \
	    memory_order_relaxed)

int vs_engine_init(struct vs_engine *e, struct vs_counters *cnt, size_t max_bytes)
{
	memset(e, 0, sizeof *e);
	e->cnt = cnt;
	e->reads_only = true;
	/* Worst case a request of n pages alternates same-filled and data pages:
	 * n/2 + 1 segments. One per page plus one per request always fits. */
	e->seg_cap = (unsigned)(max_bytes / PG) + VS_BATCH_MAX;
	e->segs = calloc(e->seg_cap, sizeof *e->segs);
	return e->segs ? 0 : ENOMEM;
}

void vs_engine_bind(struct vs_engine *e, struct vs_store *st, struct vs_queue *q)
{
	e->st = st;
	e->q = q;
}

void vs_engine_free(struct vs_engine *e)
{
	free(e->segs);
	e->segs = NULL;
}

const char *vs_op_name(enum vs_op op)
{
	static const char *const names[] = { "READ", "WRITE", "TRIM", "WRITE_ZEROES", "FLUSH" };
	return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

static unsigned segs_needed(enum vs_op op, uint32_t len)
{
	return op == VS_OP_READ || op == VS_OP_WRITE ? len / (2 * PG) + 1 : 0;
}

bool vs_engine_fits(const struct vs_engine *e, enum vs_op op, uint32_t len)
{
	return e->nio < VS_BATCH_MAX && e->nsegs + segs_needed(op, len) <= e->seg_cap &&
	       (op != VS_OP_READ || e->reads_only);
}

static unsigned plan(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                     uint8_t *buf, struct vs_seg *segs)
{
	if (op == VS_OP_READ)
		return vs_store_plan_read(e->st, off, len, buf, segs);
	if (op == VS_OP_WRITE)
		return vs_store_plan_write(e->st, off, len, buf, segs);
	return 0;
}

struct vs_io *vs_engine_add(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                            uint8_t *buf, uint64_t tag, int err)
{
	struct vs_io *io = &e->io[e->nio++];
	*io = (struct vs_io){ .op = (uint8_t)op, .off = off, .len = len, .buf = buf,
	                      .tag = tag, .err = err, .seg0 = e->nsegs };
	if (err) {
		vs_engine_refused(e);
		return io;
	}
	io->nseg = plan(e, op, off, len, buf, e->segs + e->nsegs);
	e->nsegs += io->nseg;
	if (op != VS_OP_READ)
		e->reads_only = false;
	return io;
}

static int segs_err(const struct vs_seg *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (s[i].err)
			return s[i].err;
	return 0;
}

/* The request's data has moved (or failed to): its effect on the map. A
 * WRITE's pages stop reading as their old word only now, after they
 * reached the backend; a failed WRITE leaves the map as it was. */
static int commit(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                  const uint8_t *buf, int err)
{
	switch (op) {
	case VS_OP_READ:
		break;
	case VS_OP_WRITE:
		if (!err)
			vs_store_commit_write(e->st, off, len, buf);
		break;
	case VS_OP_TRIM:
		vs_store_discard(e->st, off, len);
		break;
	case VS_OP_ZERO:
		vs_store_zero(e->st, off, len);
		break;
	case VS_OP_FLUSH:
		err = e->st->be->ops->flush(e->q);
		break;
	}
	return err;
}

void vs_engine_done(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len, int err)
{
	switch (op) {
	case VS_OP_READ:
		CNT_ADD(reads, 1);
		CNT_ADD(read_bytes, len);
		break;
	case VS_OP_WRITE:
		CNT_ADD(writes, 1);
		CNT_ADD(write_bytes, len);
		break;
	case VS_OP_TRIM:
		CNT_ADD(trims, 1);
		break;
	case VS_OP_ZERO:
		CNT_ADD(zeroes, 1);
		break;
	case VS_OP_FLUSH:
		CNT_ADD(flushes, 1);
		break;
	}
	if (err) {
		CNT_ADD(io_errors, 1);
		vs_log(LOG_ERR, "%s of %" PRIu32 " bytes at offset %" PRIu64 " failed: answered %s",
		       vs_op_name(op), len, off, err == EIO ? "EIO" : strerror(err));
	}
}

void vs_engine_refused(struct vs_engine *e)
{
	CNT_ADD(proto_errors, 1);
}

void vs_engine_run(struct vs_engine *e)
{
	if (e->nsegs)
		e->st->be->ops->xfer(e->q, e->segs, e->nsegs);
	for (unsigned i = 0; i < e->nio; i++) {
		struct vs_io *io = &e->io[i];
		if (io->err)
			continue;   /* refused: moved nothing */
		int err = segs_err(e->segs + io->seg0, io->nseg);
		io->err = commit(e, io->op, io->off, io->len, io->buf, err);
		vs_engine_done(e, io->op, io->off, io->len, io->err);
	}
}

void vs_engine_reset(struct vs_engine *e)
{
	e->nio = e->nsegs = 0;
	e->reads_only = true;
}

int vs_engine_piece(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                    uint8_t *buf)
{
	unsigned n = plan(e, op, off, len, buf, e->segs);
	int err = 0;
	if (n && e->st->be->ops->xfer(e->q, e->segs, n)) {
		err = segs_err(e->segs, n);
		if (!err)
			err = EIO;
	}
	return commit(e, op, off, len, buf, err);
}

bool vs_engine_can_warm(const struct vs_engine *e)
{
	return e->st->be->ops->warm != NULL;
}

void vs_engine_warm(struct vs_engine *e)
{
	e->st->be->ops->warm(e->q);
}
