/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VRAM that outlives the process. An allocation made with cuMemCreate and
 * a POSIX file descriptor handle type can be exported; the descriptor
 * keeps the physical memory allocated after its creator died (its CUDA
 * context with it), and a later process imports and maps it again. Used
 * wherever the GPU and driver offer it; cuMemAlloc otherwise, and status
 * says why the tier is then not crash-safe.
 */
#include "cuda_be.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define NALLOCS (sizeof ((struct cuda_be *)0)->vmm_allocs / sizeof (struct cuda_vmm_alloc))

static vs_cumemallocationprop prop_of(const struct cuda_be *cb)
{
	return (vs_cumemallocationprop){
		.type = VS_CU_MEM_ALLOCATION_TYPE_PINNED,
		.requested_handle_types = VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR,
		.location = { .type = VS_CU_MEM_LOCATION_TYPE_DEVICE, .id = cb->dev },
	};
}

void vs_cuda_vmm_probe(struct vs_backend *be)
{
	struct cuda_be *cb = be->priv;
	int vmm = 0, fd = 0;
	pthread_mutex_init(&cb->vmm_mu, NULL);
	if (!cb->api.cuMemCreate || !cb->api.cuMemExportToShareableHandle ||
	    !cb->api.cuMemImportFromShareableHandle || !cb->api.cuMemAddressReserve ||
	    !cb->api.cuMemMap || !cb->api.cuMemSetAccess || !cb->api.cuMemUnmap ||
	    !cb->api.cuMemAddressFree || !cb->api.cuMemRelease ||
	    !cb->api.cuMemGetAllocationGranularity) {
		snprintf(be->durable_why, sizeof be->durable_why, "the driver lacks the "
		         "virtual memory calls (cuMemCreate, CUDA 10.2 and later)");
		return;
	}
	cb->api.cuDeviceGetAttribute(&vmm, VS_CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED,
	                             cb->dev);
	cb->api.cuDeviceGetAttribute(&fd,
	                             VS_CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED,
	                             cb->dev);
	vs_cumemallocationprop prop = prop_of(cb);
	size_t gran = 0;
	if (!vmm || !fd) {
		snprintf(be->durable_why, sizeof be->durable_why, "GPU %d cannot export its "
		         "memory as a file descriptor (%s)", cb->ordinal,
		         !vmm ? "no virtual memory management"
		              : "HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED is 0");
		return;
	}
	vs_curesult r = cb->api.cuMemGetAllocationGranularity(&gran, &prop,
	                                                      VS_CU_MEM_ALLOC_GRANULARITY_MINIMUM);
	if (r != 0 || !gran || (gran & (gran - 1))) {
		snprintf(be->durable_why, sizeof be->durable_why, "cuMemGetAllocationGranularity "
		         "failed: %s (%d)", vs_cuda_result_name(cb, r), (int)r);
		return;
	}
	cb->gran = gran;
	cb->vmm = true;
}

/* Reserves an address range for handle, maps it and opens it to this
 * GPU: the pointer in *ptr, or the failing call in *what. */
static vs_curesult map(struct cuda_be *cb, vs_cumemhandle h, size_t span, vs_cudeviceptr *ptr,
                       const char **what)
{
	vs_cudeviceptr p = 0;
	vs_cumemaccessdesc acc = {
		.location = { .type = VS_CU_MEM_LOCATION_TYPE_DEVICE, .id = cb->dev },
		.flags = VS_CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
	};
	*what = "cuMemAddressReserve";
	vs_curesult r = cb->api.cuMemAddressReserve(&p, span, cb->gran, 0, 0);
	if (r != 0)
		return r;
	*what = "cuMemMap";
	r = cb->api.cuMemMap(p, span, 0, h, 0);
	if (r != 0) {
		cb->api.cuMemAddressFree(p, span);
		return r;
	}
	*what = "cuMemSetAccess";
	r = cb->api.cuMemSetAccess(p, span, &acc, 1);
	if (r != 0) {
		cb->api.cuMemUnmap(p, span);
		cb->api.cuMemAddressFree(p, span);
		return r;
	}
	*ptr = p;
	return 0;
}

static int remember(struct cuda_be *cb, vs_cudeviceptr p, vs_cumemhandle h, size_t span)
{
	pthread_mutex_lock(&cb->vmm_mu);
	for (size_t i = 0; i < NALLOCS; i++)
		if (!cb->vmm_allocs[i].ptr) {
			cb->vmm_allocs[i] = (struct cuda_vmm_alloc){ p, h, span };
			pthread_mutex_unlock(&cb->vmm_mu);
			return 0;
		}
	pthread_mutex_unlock(&cb->vmm_mu);
	return ENOSPC;
}

static void unmap(struct cuda_be *cb, vs_cudeviceptr p, vs_cumemhandle h, size_t span)
{
	cb->api.cuMemUnmap(p, span);
	cb->api.cuMemAddressFree(p, span);
	cb->api.cuMemRelease(h);
}

/* The allocation at mem (taken out of the table when forget is set). */
static bool find(struct cuda_be *cb, uintptr_t mem, bool forget, struct cuda_vmm_alloc *out)
{
	bool found = false;
	pthread_mutex_lock(&cb->vmm_mu);
	for (size_t i = 0; i < NALLOCS && !found; i++)
		if (cb->vmm_allocs[i].ptr == (vs_cudeviceptr)mem) {
			*out = cb->vmm_allocs[i];
			if (forget)
				cb->vmm_allocs[i] = (struct cuda_vmm_alloc){ 0 };
			found = true;
		}
	pthread_mutex_unlock(&cb->vmm_mu);
	return found;
}

static size_t span_of(const struct cuda_be *cb, uint64_t size)
{
	return (size_t)((size + cb->gran - 1) & ~(uint64_t)(cb->gran - 1));
}

int vs_cuda_vmm_alloc(struct vs_backend *be, uint64_t size, uintptr_t *mem, char *why,
                      size_t n)
{
	struct cuda_be *cb = be->priv;
	vs_cumemallocationprop prop = prop_of(cb);
	vs_cumemhandle h = 0;
	vs_cudeviceptr p = 0;
	size_t span = span_of(cb, size);
	const char *what = "cuMemCreate";
	if (vs_cuda_make_current(cb) < 0)
		return EIO;
	vs_curesult r = cb->api.cuMemCreate(&h, span, &prop, 0);
	if (r == 0) {
		r = map(cb, h, span, &p, &what);
		if (r != 0)
			cb->api.cuMemRelease(h);
	}
	if (r == VS_CUDA_ERROR_OUT_OF_MEMORY) {
		snprintf(why, n, "%s, %d", vs_cuda_result_name(cb, r), (int)r);
		return ENOMEM;
	}
	if (r != 0) {
		vs_cuda_startup_error(cb, what, r);
		return EIO;
	}
	if (remember(cb, p, h, span)) {
		unmap(cb, p, h, span);
		snprintf(why, n, "too many allocations");
		return ENOMEM;
	}
	*mem = (uintptr_t)p;
	return 0;
}

bool vs_cuda_vmm_release(struct vs_backend *be, uintptr_t mem)
{
	struct cuda_be *cb = be->priv;
	struct cuda_vmm_alloc a;
	if (!cb->vmm || !find(cb, mem, true, &a))
		return false;
	if (vs_cuda_make_current(cb) == 0)
		unmap(cb, a.ptr, a.handle, a.span);
	return true;
}

int vs_cuda_vmm_share(struct vs_backend *be, uintptr_t mem, int *fd)
{
	struct cuda_be *cb = be->priv;
	struct cuda_vmm_alloc a;
	if (!cb->vmm || !find(cb, mem, false, &a))
		return ENOENT;
	int out = -1;
	vs_curesult r = cb->api.cuMemExportToShareableHandle(&out, a.handle,
	                                                     VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
	if (r != 0) {
		vs_log(LOG_ERR, "cuda: cuMemExportToShareableHandle on GPU %d failed: %s (%d)",
		       cb->ordinal, vs_cuda_result_name(cb, r), (int)r);
		return EIO;
	}
	*fd = out;
	return 0;
}

int vs_cuda_vmm_adopt(struct vs_backend *be, int fd, uint64_t size, uintptr_t *mem, char *why,
                      size_t n)
{
	struct cuda_be *cb = be->priv;
	vs_cumemhandle h = 0;
	vs_cudeviceptr p = 0;
	size_t span = span_of(cb, size);
	const char *what = "cuMemImportFromShareableHandle";
	if (!cb->vmm) {
		snprintf(why, n, "%s", be->durable_why);
		return EINVAL;
	}
	if (vs_cuda_make_current(cb) < 0)
		return EIO;
	vs_curesult r = cb->api.cuMemImportFromShareableHandle(&h, (void *)(intptr_t)fd,
	                                                       VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
	if (r == 0) {
		/* A descriptor of a smaller allocation cannot be mapped at this
		 * size: that is how a wrong one shows. */
		r = map(cb, h, span, &p, &what);
		if (r != 0)
			cb->api.cuMemRelease(h);
	}
	if (r != 0) {
		snprintf(why, n, "%s%s failed: %s (%d)", what,
		         r == VS_CUDA_ERROR_INVALID_VALUE ? " (not VRAM of this GPU, or not "
		         "this size)" : "", vs_cuda_result_name(cb, r), (int)r);
		return EINVAL;
	}
	if (remember(cb, p, h, span)) {
		unmap(cb, p, h, span);
		snprintf(why, n, "too many allocations");
		return ENOMEM;
	}
	*mem = (uintptr_t)p;
	return 0;
}
