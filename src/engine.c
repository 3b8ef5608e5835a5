/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

#define PG VS_BLOCK

#define CNT_ADD(field, v) \
	atomic_store_explicit(&e->cnt->field, \
	    atomic_load_explicit(&e->cnt->field, memory_order_relaxed) + (v), \
	    memory_order_relaxed)

int vs_engine_init(struct vs_engine *e, struct vs_counters *cnt, size_t max_bytes,
                   unsigned alg, uint8_t *scratch)
{
	memset(e, 0, sizeof *e);
	e->cnt = cnt;
	e->reads_only = true;
	/* A segment and a plan per page always fit (compressed pages are a
	 * segment each), plus one per request for a page cut in two. */
	e->pp_cap = (unsigned)(max_bytes / PG);
	e->seg_cap = e->pp_cap + VS_BATCH_MAX;
	e->segs = calloc(e->seg_cap, sizeof *e->segs);
	e->pp = calloc(e->pp_cap, sizeof *e->pp);
	e->scratch = e->pg.scratch = scratch;
	if (!e->segs || !e->pp || (alg && !scratch) || vs_codec_init(&e->pg.codec, alg)) {
		vs_engine_free(e);
		return ENOMEM;
	}
	/* Workers start placing pages in different parts of a chunk. */
	e->pg.cursor = (uint64_t)(uintptr_t)e * 0x9e3779b97f4a7c15ULL >> 40;
	return 0;
}

void vs_engine_bind(struct vs_engine *e, struct vs_store *st, struct vs_queue *q)
{
	e->st = st;
	e->q = q;
}

void vs_engine_free(struct vs_engine *e)
{
	free(e->segs);
	free(e->pp);
	vs_codec_free(&e->pg.codec);
	e->segs = NULL;
	e->pp = NULL;
}

const char *vs_op_name(enum vs_op op)
{
	static const char *const names[] = { "READ", "WRITE", "TRIM", "WRITE_ZEROES", "FLUSH" };
	return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

static unsigned pages(enum vs_op op, uint32_t len)
{
	return op == VS_OP_READ || op == VS_OP_WRITE ? len / PG : 0;
}

bool vs_engine_fits(const struct vs_engine *e, enum vs_op op, uint32_t len)
{
	unsigned n = pages(op, len);
	return e->nio < VS_BATCH_MAX && e->nsegs + n + 1 <= e->seg_cap &&
	       e->npp + n <= e->pp_cap && (op != VS_OP_READ || e->reads_only);
}

/* Plans a READ or WRITE into segs and pp, with scratch for its
 * compressed bytes: 0, or the errno that refuses it before any copy. */
static int plan(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len, uint8_t *buf,
                struct vs_seg *segs, unsigned *nseg, struct vs_page_plan *pp,
                uint8_t *scratch)
{
	e->pg.scratch = scratch;
	*nseg = 0;
	if (op == VS_OP_READ)
		*nseg = vs_store_plan_read(e->st, &e->pg, off, len, buf, segs, pp);
	else if (op == VS_OP_WRITE)
		return vs_store_plan_write(e->st, &e->pg, off, len, buf, segs, nseg, pp);
	return 0;
}

struct vs_io *vs_engine_add(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                            uint8_t *buf, uint64_t tag, int err)
{
	struct vs_io *io = &e->io[e->nio++];
	*io = (struct vs_io){ .op = (uint8_t)op, .off = off, .len = len, .buf = buf,
	                      .tag = tag, .err = err, .seg0 = e->nsegs, .pp0 = e->npp };
	if (err) {
		vs_engine_refused(e);
		return io;
	}
	io->scratch = e->scratch ? e->scratch + (size_t)e->npp * PG : NULL;
	int rc = plan(e, op, off, len, buf, e->segs + e->nsegs, &io->nseg, e->pp + e->npp,
	              io->scratch);
	if (rc) {
		/* Refused before it moved anything (no room): counted and
		 * logged now, answered with the batch. */
		io->err = rc;
		vs_engine_done(e, op, off, len, rc);
		return io;
	}
	e->nsegs += io->nseg;
	e->npp += pages(op, len);
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

/* The request's data has moved (or failed to): its effect on the page
 * and the map. A WRITE's pages stop reading as their old word only now,
 * after they reached the backend; a failed WRITE leaves the map as it was. */
static int commit(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len, uint8_t *buf,
                  const struct vs_page_plan *pp, uint8_t *scratch, int err)
{
	switch (op) {
	case VS_OP_READ:
		if (!err) {
			e->pg.scratch = scratch;
			err = vs_store_finish_read(e->st, &e->pg, off, len, buf, pp);
		}
		break;
	case VS_OP_WRITE:
		vs_store_commit_write(e->st, off, len, pp, !err);
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

/* A full chunk refuses every write until pages are discarded, and the
 * kernel tries each again: one line every FULL_LOG_S seconds, not one per
 * write. */
#define FULL_LOG_S 10

static void full_log(uint32_t len, uint64_t off)
{
	static _Atomic int64_t next;
	static _Atomic uint64_t quiet;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = ts.tv_sec;
	int64_t due = atomic_load_explicit(&next, memory_order_relaxed);
	if (now < due || !atomic_compare_exchange_strong(&next, &due, now + FULL_LOG_S)) {
		atomic_fetch_add_explicit(&quiet, 1, memory_order_relaxed);
		return;
	}
	uint64_t q = atomic_exchange(&quiet, 0);
	char more[64] = "";
	if (q)
		snprintf(more, sizeof more, " (and %" PRIu64 " more since the last such line)", q);
	vs_log(LOG_WARNING, "WRITE of %" PRIu32 " bytes at offset %" PRIu64 " refused%s: the "
	       "chunk's memory is full of compressed pages. Answered ENOSPC: the kernel keeps "
	       "the page in RAM and tries again. Discarded swap frees room; a lower "
	       "VRAM_SWAP_RATIO offers less", len, off, more);
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
	if (err == ENOSPC) {
		CNT_ADD(io_errors, 1);
		CNT_ADD(full_writes, 1);
		full_log(len, off);
	} else if (err) {
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
		io->err = commit(e, io->op, io->off, io->len, io->buf, e->pp + io->pp0, io->scratch,
		                 err);
		vs_engine_done(e, io->op, io->off, io->len, io->err);
	}
}

void vs_engine_reset(struct vs_engine *e)
{
	e->nio = e->nsegs = e->npp = 0;
	e->reads_only = true;
}

int vs_engine_piece(struct vs_engine *e, enum vs_op op, uint64_t off, uint32_t len,
                    uint8_t *buf)
{
	unsigned n;
	int err = plan(e, op, off, len, buf, e->segs, &n, e->pp, e->scratch);
	if (err)
		return err;
	if (n && e->st->be->ops->xfer(e->q, e->segs, n)) {
		err = segs_err(e->segs, n);
		if (!err)
			err = EIO;
	}
	return commit(e, op, off, len, buf, e->pp, e->scratch, err);
}

bool vs_engine_can_warm(const struct vs_engine *e)
{
	return e->st->be->ops->warm != NULL;
}

void vs_engine_warm(struct vs_engine *e)
{
	e->st->be->ops->warm(e->q);
}
