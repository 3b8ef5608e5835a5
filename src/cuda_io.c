/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cuda backend's I/O path: pinned staging buffers, one stream per
 * connection worker, and the copies. Every CUDA call's result is checked:
 * a write is acknowledged only after its copy was synchronised and found
 * good.
 */
#include "cuda_be.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

struct vs_queue {
	struct cuda_be *cb;
	vs_custream stream;
	void *scratch;   /* 4 KiB pinned: where warm() copies land */
	vs_cudeviceptr dsts[VS_CUDA_BATCH_MAX], srcs[VS_CUDA_BATCH_MAX];
	size_t sizes[VS_CUDA_BATCH_MAX];
};

/* Waits for everything queued on a stream. Blocking, not spinning on
 * cuStreamQuery: the worker has nothing else to do, and spinning would
 * take a core from the processes whose pages these are. */
static vs_curesult wait_stream(const struct cuda_be *cb, vs_custream s)
{
	return cb->api.cuStreamSynchronize(s);
}

/* A copy that must work unless the device is gone. */
static vs_curesult probe_copy(struct cuda_be *cb, vs_custream s)
{
	vs_curesult r = cb->api.cuMemcpyHtoDAsync_v2(cb->probe, cb->probe_host,
	                                              VS_BLOCK, s);
	vs_curesult r2 = wait_stream(cb, s);
	return r ? r : r2;
}

/* Tries one batched copy at start-up; a driver that refuses the arguments
 * keeps the plain loop of copies. */
void vs_cuda_try_batch(struct cuda_be *cb)
{
	vs_custream s;
	vs_cudeviceptr d[2], src[2];
	size_t sz[2] = {2048, 2048}, idx = 0;
	vs_cumemcpyattributes a;

	cb->use_batch = false;
	if (!cb->api.cuMemcpyBatchAsync_v2) {
		vs_log(LOG_INFO, "cuda: driver has no cuMemcpyBatchAsync_v2; one "
		       "copy call per segment");
		return;
	}
	if (cb->api.cuStreamCreate(&s, VS_CU_STREAM_NON_BLOCKING) != 0)
		return;
	memset(&a, 0, sizeof a);
	a.src_access_order = VS_CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
	a.src_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_HOST;
	a.dst_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_DEVICE;
	a.dst_loc_hint.id = cb->ordinal;
	d[0] = cb->probe;
	d[1] = cb->probe + 2048;
	src[0] = (vs_cudeviceptr)(uintptr_t)cb->probe_host;
	src[1] = (vs_cudeviceptr)(uintptr_t)cb->probe_host + 2048;
	vs_curesult r = cb->api.cuMemcpyBatchAsync_v2(d, src, sz, 2, &a, &idx, 1, s);
	vs_curesult r2 = cb->api.cuStreamSynchronize(s);
	cb->api.cuStreamDestroy_v2(s);
	if (r || r2) {
		vs_log(LOG_NOTICE, "cuda: cuMemcpyBatchAsync_v2 refused a test copy "
		       "(%s, %d); one copy call per segment", vs_cuda_result_name(cb, r ? r : r2),
		       (int)(r ? r : r2));
		return;
	}
	cb->use_batch = true;
	vs_log(LOG_INFO, "cuda: batched copies with cuMemcpyBatchAsync_v2");
}

void *vs_cuda_buf_alloc(struct vs_backend *be, size_t len)
{
	struct cuda_be *cb = be->priv;
	void *p = NULL;

	if (vs_cuda_make_current(cb) < 0)
		return NULL;
	vs_curesult r = cb->api.cuMemHostAlloc(&p, len, VS_CU_MEMHOSTALLOC_PORTABLE);
	if (r != 0) {
		char s[32];
		vs_fmt_size(s, sizeof s, len);
		vs_log(LOG_ERR, "cuda: cannot pin %s of host memory for staging: %s "
		       "(%d); check `ulimit -l` / LimitMEMLOCK", s, vs_cuda_result_name(cb, r),
		       (int)r);
		return NULL;
	}
	return p;
}

void vs_cuda_buf_free(struct vs_backend *be, void *p, size_t len)
{
	struct cuda_be *cb = be->priv;

	(void)len;
	if (p && cb && vs_cuda_make_current(cb) == 0)
		cb->api.cuMemFreeHost(p);
}

int vs_cuda_queue_open(struct vs_backend *be, struct vs_queue **qp)
{
	struct cuda_be *cb = be->priv;
	struct vs_queue *q = calloc(1, sizeof *q);

	if (!q)
		return ENOMEM;
	if (vs_cuda_make_current(cb) < 0) {
		free(q);
		return EIO;
	}
	q->cb = cb;
	vs_curesult r = cb->api.cuStreamCreate(&q->stream, VS_CU_STREAM_NON_BLOCKING);
	if (r != 0) {
		vs_log(LOG_ERR, "cuda: cuStreamCreate failed: %s (%d)",
		       vs_cuda_result_name(cb, r), (int)r);
		free(q);
		return EIO;
	}
	r = cb->api.cuMemHostAlloc(&q->scratch, VS_BLOCK, VS_CU_MEMHOSTALLOC_PORTABLE);
	if (r != 0) {
		vs_log(LOG_ERR, "cuda: cannot pin 4 KiB of host memory: %s (%d)",
		       vs_cuda_result_name(cb, r), (int)r);
		vs_cuda_queue_close(q);
		return ENOMEM;
	}
	*qp = q;
	return 0;
}

void vs_cuda_queue_close(struct vs_queue *q)
{
	if (!q)
		return;
	if (vs_cuda_make_current(q->cb) == 0) {
		/* A warm() copy may still be landing in scratch. */
		q->cb->api.cuStreamSynchronize(q->stream);
		if (q->scratch)
			q->cb->api.cuMemFreeHost(q->scratch);
		q->cb->api.cuStreamDestroy_v2(q->stream);
	}
	free(q);
}

/* ---- the copy path ---------------------------------------------------- */

static unsigned fail_all(struct vs_seg *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		s[i].err = EIO;
	return n;
}

static void device_lost(struct cuda_be *cb, vs_curesult r)
{
	atomic_store(&cb->lost, true);
	if (atomic_flag_test_and_set(&cb->lost_logged))
		return;
	vs_log(LOG_CRIT, "cuda: GPU %d is lost: %s (%d); every page held in its "
	       "VRAM is gone. Answering every request with EIO from now on; the "
	       "daemon keeps running so that the kernel sees errors, not a "
	       "vanished device. Look for Xid lines in `dmesg`, swapoff, then "
	       "restart vram-swapd", cb->ordinal, vs_cuda_result_name(cb, r), (int)r);
}

/* Segments [i, j) that can move as one copy: same direction, adjacent in
 * the allocation and in host memory. */
static unsigned run_end(const struct vs_seg *s, unsigned i, unsigned n)
{
	unsigned j = i + 1;
	while (j < n && s[j].dir == s[i].dir && s[j].mem == s[i].mem &&
	       s[j].off == s[j - 1].off + s[j - 1].len &&
	       (char *)s[j].buf == (char *)s[j - 1].buf + s[j - 1].len &&
	       (uint64_t)s[j].off - s[i].off + s[j].len <= UINT32_MAX)
		j++;
	return j;
}

static vs_curesult copy_one(struct vs_queue *q, const struct vs_seg *s, size_t len)
{
	struct cuda_be *cb = q->cb;
	vs_cudeviceptr d = (vs_cudeviceptr)s->mem + s->off;

	return s->dir == VS_TO_BACKEND
		? cb->api.cuMemcpyHtoDAsync_v2(d, s->buf, len, q->stream)
		: cb->api.cuMemcpyDtoHAsync_v2(s->buf, d, len, q->stream);
}

/* Submits every segment; returns the first failure (later copies are not
 * submitted after one fails: the recovery pass redoes them one by one). */
static vs_curesult submit(struct vs_queue *q, const struct vs_seg *s, unsigned n)
{
	struct cuda_be *cb = q->cb;
	unsigned k = 0;

	for (unsigned i = 0; i < n;) {
		unsigned j = run_end(s, i, n);
		size_t len = (size_t)(s[j - 1].off + s[j - 1].len - s[i].off);
		if (!cb->use_batch) {
			vs_curesult r = copy_one(q, &s[i], len);
			if (r)
				return r;
		} else {
			vs_cudeviceptr d = (vs_cudeviceptr)s[i].mem + s[i].off;
			vs_cudeviceptr h = (vs_cudeviceptr)(uintptr_t)s[i].buf;
			bool w = s[i].dir == VS_TO_BACKEND;
			q->dsts[k] = w ? d : h;
			q->srcs[k] = w ? h : d;
			q->sizes[k] = len;
			if (++k == VS_CUDA_BATCH_MAX || j == n) {
				vs_cumemcpyattributes a;
				size_t idx = 0;
				memset(&a, 0, sizeof a);
				a.src_access_order = VS_CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
				a.src_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_HOST;
				a.dst_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_DEVICE;
				a.dst_loc_hint.id = cb->ordinal;
				vs_curesult r = k == 1 ? copy_one(q, &s[i], len)
					: cb->api.cuMemcpyBatchAsync_v2(q->dsts, q->srcs,
					      q->sizes, k, &a, &idx, 1, q->stream);
				if (r)
					return r;
				k = 0;
			}
		}
		i = j;
	}
	return 0;
}

/* Something in the batch failed: find what, one copy and one
 * synchronisation at a time, so that only the failed requests see EIO. */
static unsigned recover(struct vs_queue *q, struct vs_seg *s, unsigned n,
                        vs_curesult first)
{
	struct cuda_be *cb = q->cb;
	unsigned failed = 0;

	if (vs_cuda_maybe_sticky(first) && probe_copy(cb, q->stream) != 0) {
		device_lost(cb, first);
		return fail_all(s, n);
	}
	vs_log(LOG_WARNING, "cuda: a batch of %u copies failed with %s (%d); "
	       "redoing them one at a time", n, vs_cuda_result_name(cb, first), (int)first);
	for (unsigned i = 0; i < n; i++) {
		vs_curesult r = copy_one(q, &s[i], s[i].len);
		vs_curesult r2 = wait_stream(cb, q->stream);
		if (!r)
			r = r2;
		if (!r)
			continue;
		if (vs_cuda_maybe_sticky(r) && probe_copy(cb, q->stream) != 0) {
			device_lost(cb, r);
			return fail_all(s, n);
		}
		s[i].err = EIO;
		failed++;
		vs_log(LOG_ERR, "cuda: %s of %u bytes at offset %llu failed: %s (%d); "
		       "answered EIO", s[i].dir == VS_TO_BACKEND ? "write" : "read",
		       s[i].len, (unsigned long long)s[i].off, vs_cuda_result_name(cb, r), (int)r);
	}
	return failed;
}

unsigned vs_cuda_xfer(struct vs_queue *q, struct vs_seg *s, unsigned n)
{
	struct cuda_be *cb = q->cb;

	if (atomic_load_explicit(&cb->lost, memory_order_relaxed))
		return fail_all(s, n);
	if (vs_cuda_make_current(cb) < 0)
		return fail_all(s, n);
	/* Bounds were checked against the chunk's size by the core. */
	for (unsigned i = 0; i < n; i++)
		s[i].err = 0;
	vs_curesult r = submit(q, s, n);
	/* Synchronise even after a failed submission: earlier copies of the
	 * batch are in flight and own the buffers until they finish. */
	vs_curesult r2 = wait_stream(cb, q->stream);
	if (!r && !r2)
		return 0;
	return recover(q, s, n, r ? r : r2);
}

int vs_cuda_flush(struct vs_queue *q)
{
	/* xfer() synchronises before returning: nothing is ever pending. */
	return atomic_load_explicit(&q->cb->lost, memory_order_relaxed) ? EIO : 0;
}

/* Reads the 4 KiB probe into scratch without waiting: after a quiet
 * millisecond or more, the first copy takes several times as long as the
 * next one (bench/profile.md), and one small copy now and then keeps it
 * short. Its result is left to the stream: the next xfer() synchronises,
 * and a failure there is found and handled as any other. */
void vs_cuda_warm(struct vs_queue *q)
{
	struct cuda_be *cb = q->cb;

	if (atomic_load_explicit(&cb->lost, memory_order_relaxed) ||
	    vs_cuda_make_current(cb) < 0 ||
	    cb->api.cuStreamQuery(q->stream) == VS_CUDA_ERROR_NOT_READY)
		return;
	cb->api.cuMemcpyDtoHAsync_v2(q->scratch, cb->probe, VS_BLOCK, q->stream);
}
