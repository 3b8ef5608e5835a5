/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cuda backend's parts, shared between its files:
 *   backend_cuda.c  open/close, allocations (the chunks), the ops table
 *   cuda_lib.c      loading libcuda.so.1, naming results
 *   cuda_diag.c     start-up diagnostics, what nvidia-smi says holds VRAM
 *   cuda_device.c   choosing the GPU (index, UUID, PCI bus id)
 *   cuda_io.c       staging buffers, streams, the copy path and its recovery
 *   cuda_vmm.c      memory that outlives the process (exported allocations)
 */
#ifndef VS_CUDA_BE_H
#define VS_CUDA_BE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cuda_api.h"

/* Copies handed to one cuMemcpyBatchAsync call; longer batches are split. */
#define VS_CUDA_BATCH_MAX 256u

struct cuda_be {
	void *lib;
	struct vs_cuda_api api;
	char lib_path[256];
	int driver_version;
	int ordinal;
	vs_cudevice dev;
	vs_cucontext ctx;
	vs_cudeviceptr probe;    /* 4 KiB of scratch VRAM to tell a lost device */
	void *probe_host;        /* 4 KiB pinned */
	bool use_batch;
	atomic_bool lost;
	atomic_flag lost_logged;
	/* Allocations through the virtual memory calls (cuda_vmm.c), each
	 * exportable as a descriptor; cuMemAlloc where the GPU cannot. */
	bool vmm;
	size_t gran;
	pthread_mutex_t vmm_mu;
	struct cuda_vmm_alloc {
		vs_cudeviceptr ptr;
		vs_cumemhandle handle;
		size_t span;          /* the size rounded up to the granularity */
	} vmm_allocs[128];        /* the tier's chunks, and room to spare */
};

/* cuda_lib.c */
int vs_cuda_load(struct cuda_be *cb);
const char *vs_cuda_result_name(const struct cuda_be *cb, vs_curesult r);
/* Results after which the context may be unusable until the process ends. */
bool vs_cuda_maybe_sticky(vs_curesult r);
/* Makes the backend's context current on the calling thread (once each). */
int vs_cuda_make_current(struct cuda_be *cb);

/* cuda_diag.c */
/* Logs one line for a failed start-up call: what, the result, the likely
 * cause and what to do about it. */
void vs_cuda_startup_error(const struct cuda_be *cb, const char *what, vs_curesult r);
/* Names what holds the GPU's memory, as far as nvidia-smi can tell. */
void vs_cuda_holders(const char *uuid, char *out, size_t n);

/* cuda_device.c */
void vs_cuda_uuid(const struct cuda_be *cb, vs_cudevice d, char *out, size_t n);
int vs_cuda_pick_device(struct cuda_be *cb, const char *spec);

/* cuda_vmm.c */
/* Whether this GPU's memory can outlive the process; if not, why (in
 * be->durable_why). At open(). */
void vs_cuda_vmm_probe(struct vs_backend *be);
int vs_cuda_vmm_alloc(struct vs_backend *be, uint64_t size, uintptr_t *mem, char *why,
                      size_t n);
/* false when mem is not a virtual-memory allocation. */
bool vs_cuda_vmm_release(struct vs_backend *be, uintptr_t mem);
int vs_cuda_vmm_share(struct vs_backend *be, uintptr_t mem, int *fd);
int vs_cuda_vmm_adopt(struct vs_backend *be, int fd, uint64_t size, uintptr_t *mem, char *why,
                      size_t n);

/* cuda_io.c */
void vs_cuda_try_batch(struct cuda_be *cb);
void *vs_cuda_buf_alloc(struct vs_backend *be, size_t len);
void vs_cuda_buf_free(struct vs_backend *be, void *p, size_t len);
int vs_cuda_queue_open(struct vs_backend *be, struct vs_queue **q);
void vs_cuda_queue_close(struct vs_queue *q);
unsigned vs_cuda_xfer(struct vs_queue *q, struct vs_seg *segs, unsigned n);
int vs_cuda_flush(struct vs_queue *q);
void vs_cuda_warm(struct vs_queue *q);

#endif
