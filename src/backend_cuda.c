/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cuda backend: one GPU; each chunk of the tier is one VRAM allocation
 * on it, and each connection worker owns a stream (cuda_io.c). This file
 * opens and closes it and allocates; the parts are listed in cuda_be.h.
 */
#include "cuda_be.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static void cuda_close(struct vs_backend *be);

static int cuda_open(struct vs_backend *be, const struct vs_config *cfg)
{
	struct cuda_be *cb = calloc(1, sizeof *cb);
	char uuid[64], tot[32], fre[32];
	size_t total = 0, free_b = 0;
	vs_curesult r;

	if (!cb) {
		vs_log(LOG_ERR, "cuda: out of memory");
		return ENOMEM;
	}
	atomic_flag_clear(&cb->lost_logged);
	be->priv = cb;
	if (vs_cuda_load(cb) < 0)
		goto fail;
	r = cb->api.cuInit(0);
	if (r != 0) {
		vs_cuda_startup_error(cb, "cuInit", r);
		goto fail;
	}
	cb->api.cuDriverGetVersion(&cb->driver_version);
	if (vs_cuda_pick_device(cb, cfg->device) < 0)
		goto fail;
	r = cb->api.cuDevicePrimaryCtxRetain(&cb->ctx, cb->dev);
	if (r != 0) {
		vs_cuda_startup_error(cb, "creating a context (cuDevicePrimaryCtxRetain)", r);
		cb->ctx = NULL;
		goto fail;
	}
	if (vs_cuda_make_current(cb) < 0)
		goto fail;

	cb->api.cuDeviceGetName(be->device_name, sizeof be->device_name, cb->dev);
	cb->api.cuDeviceGetPCIBusId(be->device_bus_id, sizeof be->device_bus_id, cb->dev);
	vs_cuda_uuid(cb, cb->dev, uuid, sizeof uuid);
	snprintf(be->device_uuid, sizeof be->device_uuid, "%s", uuid);
	cb->api.cuDeviceTotalMem_v2(&total, cb->dev);
	cb->api.cuMemGetInfo_v2(&free_b, &total);
	vs_fmt_size(tot, sizeof tot, total);
	vs_fmt_size(fre, sizeof fre, free_b);
	vs_log(LOG_INFO, "cuda: GPU %d: %s, %s, bus %s, %s total, %s free; driver "
	       "CUDA %d.%d (%s)", cb->ordinal, be->device_name,
	       uuid[0] ? uuid : "no UUID", be->device_bus_id, tot, fre,
	       cb->driver_version / 1000, cb->driver_version % 1000 / 10, cb->lib_path);

	/* Scratch now, before the chunks, so that sizing sees what is left. */
	r = cb->api.cuMemAlloc_v2(&cb->probe, VS_BLOCK);
	if (r == 0)
		r = cb->api.cuMemHostAlloc(&cb->probe_host, VS_BLOCK, VS_CU_MEMHOSTALLOC_PORTABLE);
	if (r != 0) {
		vs_cuda_startup_error(cb, "allocating 4 KiB of scratch", r);
		goto fail;
	}
	memset(cb->probe_host, 0, VS_BLOCK);
	snprintf(be->where, sizeof be->where, " on GPU %d", cb->ordinal);
	vs_cuda_try_batch(cb);
	vs_cuda_vmm_probe(be);
	if (*be->durable_why)
		vs_log(LOG_WARNING, "cuda: swapped pages die with this process: %s; "
		       "a crash or restart of vram-swapd loses them", be->durable_why);
	return 0;
fail:
	cuda_close(be);
	return EIO;   /* the helper that failed said why */
}

static void cuda_close(struct vs_backend *be)
{
	struct cuda_be *cb = be->priv;

	if (!cb)
		return;
	if (cb->ctx && vs_cuda_make_current(cb) == 0) {
		if (cb->probe)
			cb->api.cuMemFree_v2(cb->probe);
		if (cb->probe_host)
			cb->api.cuMemFreeHost(cb->probe_host);
		cb->api.cuDevicePrimaryCtxRelease_v2(cb->dev);
	}
	/* libcuda stays loaded: unloading a driver library with threads of its
	 * own is not safe, and the process is ending anyway. */
	free(cb);
	be->priv = NULL;
}


static int cuda_mem_info(struct vs_backend *be, uint64_t *free_b, uint64_t *total_b)
{
	struct cuda_be *cb = be->priv;
	size_t f = 0, t = 0;
	if (vs_cuda_make_current(cb) < 0)
		return EIO;
	vs_curesult r = cb->api.cuMemGetInfo_v2(&f, &t);
	if (r != 0) {
		vs_cuda_startup_error(cb, "cuMemGetInfo", r);
		return EIO;
	}
	*free_b = f;
	*total_b = t;
	return 0;
}

static int cuda_alloc(struct vs_backend *be, uint64_t size, uintptr_t *mem, char *why,
                      size_t n)
{
	struct cuda_be *cb = be->priv;
	vs_cudeviceptr p = 0;
	if (cb->vmm)
		return vs_cuda_vmm_alloc(be, size, mem, why, n);
	if (vs_cuda_make_current(cb) < 0)
		return EIO;
	vs_curesult r = cb->api.cuMemAlloc_v2(&p, size);
	if (r == 0) {
		*mem = (uintptr_t)p;
		return 0;
	}
	if (r == VS_CUDA_ERROR_OUT_OF_MEMORY) {
		snprintf(why, n, "%s, %d", vs_cuda_result_name(cb, r), (int)r);
		return ENOMEM;
	}
	vs_cuda_startup_error(cb, "cuMemAlloc", r);
	return EIO;
}

static void cuda_release(struct vs_backend *be, uintptr_t mem, uint64_t size)
{
	struct cuda_be *cb = be->priv;
	(void)size;
	if (vs_cuda_vmm_release(be, mem) || vs_cuda_make_current(cb) < 0)
		return;
	vs_curesult r = cb->api.cuMemFree_v2((vs_cudeviceptr)mem);
	if (r != 0)
		vs_log(LOG_WARNING, "cuda: cuMemFree on GPU %d failed: %s (%d)", cb->ordinal,
		       vs_cuda_result_name(cb, r), (int)r);
}

static int cuda_count(struct vs_backend *be)
{
	struct cuda_be *cb = be->priv;
	int n = 0;
	return cb->api.cuDeviceGetCount(&n) == 0 ? n : 1;
}

static void cuda_holders(struct vs_backend *be, char *out, size_t n)
{
	vs_cuda_holders(be->device_uuid, out, n);
}

const struct vs_backend_ops vs_backend_cuda = {
	.name = "cuda",
	.memory = "VRAM",
	.open = cuda_open,
	.mem_info = cuda_mem_info,
	.alloc = cuda_alloc,
	.release = cuda_release,
	.share = vs_cuda_vmm_share,
	.adopt = vs_cuda_vmm_adopt,
	.count = cuda_count,
	.holders = cuda_holders,
	.buf_alloc = vs_cuda_buf_alloc,
	.buf_free = vs_cuda_buf_free,
	.queue_open = vs_cuda_queue_open,
	.queue_close = vs_cuda_queue_close,
	.xfer = vs_cuda_xfer,
	.flush = vs_cuda_flush,
	.warm = vs_cuda_warm,
	.close = cuda_close,
};
