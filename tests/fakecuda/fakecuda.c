/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A fake libcuda.so.1 for tests on machines without a GPU: the entry points
 * vram-swapd uses, on host memory, with faults chosen by environment. Built
 * by the tests only; never installed or packaged.
 *
 *   FAKECUDA_INIT=code          cuInit returns code
 *   FAKECUDA_DEVICES=n          number of GPUs (default 1)
 *   FAKECUDA_MEM=bytes          VRAM per GPU (default 1 GiB); free = MEM - allocated
 *   FAKECUDA_ALLOC_CAP=bytes    cuMemAlloc of more than this fails (OOM)
 *   FAKECUDA_OTHERS=path        bytes that "other processes" use on each GPU,
 *                               one number per line (line 1: GPU 0); reread
 *                               on every cuMemGetInfo and cuMemAlloc, so a
 *                               test changes it while the daemon runs
 *   FAKECUDA_FAIL_CODE=code     result of the faults below (default 1)
 *   FAKECUDA_FAIL_COPY=n        the nth copy fails (once), at submission
 *   FAKECUDA_FAIL_SYNC=n[:k]    the nth stream synchronisation fails (k times)
 *   FAKECUDA_BAD_OFFSET=off     every copy touching byte off of an allocation
 *                               of 1 MiB or more fails ...
 *   FAKECUDA_BAD_AT=sync        ... at the next synchronisation (default: at
 *                               submission)
 *   FAKECUDA_BAD_DIR=read|write ... only copies from (read) or to (write) VRAM
 *   FAKECUDA_CORRUPT_OFFSET=off reads from VRAM touching byte off of an
 *                               allocation of 1 MiB or more deliver that byte
 *                               flipped, silently
 *   FAKECUDA_STICKY=n           from the nth copy on, every call fails with
 *                               FAKECUDA_STICKY_CODE (default 700)
 *   FAKECUDA_BATCH=0            cuMemcpyBatchAsync_v2 answers NOT_SUPPORTED
 *   FAKECUDA_VMM=0              the GPU cannot export memory as a file
 *                               descriptor (cuMemAlloc is then used); with
 *                               it, exported "VRAM" is a memfd, so it
 *                               outlives the process as real VRAM does
 *   FAKECUDA_STATS=path         at exit, write call counts there
 *   FAKECUDA_UVM=ok|missing     with the library also in LD_PRELOAD: whether
 *                               access() finds /dev/nvidia-uvm usable
 *
 * Declarations come from the project's src/cuda_api.h, so the fake and the
 * daemon agree by construction; tests/cuda/apicheck.c holds both to cuda.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cuda_api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))
#define MAXDEV 8
#define MAXALLOC 64

/* Prototypes from the project's list: a fake entry point that strays from
 * it fails to compile. */
#define PROTO(sym, ret, params) API ret sym params;
VS_CUDA_FUNCS(PROTO)
VS_CUDA_OPT_FUNCS(PROTO)
#undef PROTO

struct vs_custream_st { int err; };
struct vs_cuctx_st { int dev; };

static struct vs_cuctx_st ctxs[MAXDEV];
static _Thread_local struct vs_cuctx_st *current;
static int inited;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct { uintptr_t p; size_t n; int dev; } allocs[MAXALLOC];
static size_t used[MAXDEV];
static atomic_ulong n_copy, n_sync, n_batch, n_batch_copies, sticky_on;

static unsigned long long env_u(const char *k, unsigned long long dflt)
{
	const char *v = getenv(k);
	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static int ndev(void) { return (int)env_u("FAKECUDA_DEVICES", 1); }
static int fail_code(void) { return (int)env_u("FAKECUDA_FAIL_CODE", 1); }

static void write_stats(void)
{
	const char *p = getenv("FAKECUDA_STATS");
	FILE *f = p ? fopen(p, "w") : NULL;
	if (!f)
		return;
	fprintf(f, "copies=%lu\nsyncs=%lu\nbatches=%lu\nbatch_copies=%lu\n",
	        n_copy, n_sync, n_batch, n_batch_copies);
	fclose(f);
}

static int sticky(void)
{
	return sticky_on ? (int)env_u("FAKECUDA_STICKY_CODE", 700) : 0;
}

static int ready(void)
{
	if (!inited)
		return 3;   /* NOT_INITIALIZED */
	if (sticky())
		return sticky();
	return current ? 0 : 201;   /* INVALID_CONTEXT */
}

API vs_curesult cuInit(unsigned int flags)
{
	(void)flags;
	int c = (int)env_u("FAKECUDA_INIT", 0);
	if (c)
		return c;
	if (!inited)
		atexit(write_stats);
	inited = 1;
	return 0;
}

API vs_curesult cuDriverGetVersion(int *v) { *v = 13000; return 0; }

API vs_curesult cuGetErrorName(vs_curesult e, const char **s)
{
	switch (e) {
#define NAME(name, value) case value: *s = #name; return 0;
	VS_CU_RESULTS(NAME)
#undef NAME
	default: *s = NULL; return 1;
	}
}

API vs_curesult cuDeviceGetCount(int *n)
{
	if (!inited)
		return 3;
	*n = ndev();
	return 0;
}

API vs_curesult cuDeviceGet(vs_cudevice *d, int i)
{
	if (!inited)
		return 3;
	if (i < 0 || i >= ndev() || i >= MAXDEV)
		return 101;
	*d = i;
	return 0;
}

API vs_curesult cuDeviceGetName(char *s, int len, vs_cudevice d)
{
	snprintf(s, (size_t)len, "Fake GPU %d", d);
	return 0;
}

API vs_curesult cuDeviceGetPCIBusId(char *s, int len, vs_cudevice d)
{
	snprintf(s, (size_t)len, "0000:%02X:00.0", 0x10 * (d + 1));
	return 0;
}

/* FAKECUDA_UUID_BASE: other GPUs than before in the same slots. */
API vs_curesult cuDeviceGetUuid_v2(vs_cuuuid *u, vs_cudevice d)
{
	unsigned base = (unsigned)env_u("FAKECUDA_UUID_BASE", 0xf0);
	for (int i = 0; i < 16; i++)
		u->bytes[i] = (char)(base + i);
	u->bytes[15] = (char)d;
	return 0;
}

API vs_curesult cuDeviceGetUuid(vs_cuuuid *u, vs_cudevice d)
{
	return cuDeviceGetUuid_v2(u, d);
}

API vs_curesult cuDeviceTotalMem_v2(size_t *b, vs_cudevice d)
{
	(void)d;
	*b = env_u("FAKECUDA_MEM", 1ull << 30);
	return 0;
}

API vs_curesult cuDeviceGetAttribute(int *v, vs_cudevice_attribute a, vs_cudevice d)
{
	(void)d;
	if (!inited)
		return 3;
	if (a == VS_CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED ||
	    a == VS_CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED)
		*v = (int)env_u("FAKECUDA_VMM", 1) != 0;
	else
		*v = 0;
	return 0;
}

API vs_curesult cuDevicePrimaryCtxRetain(vs_cucontext *c, vs_cudevice d)
{
	if (!inited)
		return 3;
	ctxs[d].dev = d;
	*c = &ctxs[d];
	return 0;
}

API vs_curesult cuDevicePrimaryCtxRelease_v2(vs_cudevice d) { (void)d; return 0; }

API vs_curesult cuCtxSetCurrent(vs_cucontext c)
{
	if (sticky())
		return sticky();
	current = c;
	return 0;
}

/* What other processes hold on dev, from FAKECUDA_OTHERS. */
static size_t others(int dev)
{
	const char *p = getenv("FAKECUDA_OTHERS");
	FILE *f = p ? fopen(p, "r") : NULL;
	unsigned long long v = 0;
	for (int i = 0; f && i <= dev; i++)
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
	if (f)
		fclose(f);
	return (size_t)v;
}

/* Whether n more bytes fit on dev (the caller holds mu): the one rule of
 * running out, for cuMemAlloc and cuMemCreate alike. */
static int room(int dev, size_t n)
{
	return n <= env_u("FAKECUDA_ALLOC_CAP", ~0ull) &&
	       used[dev] + others(dev) + n <= env_u("FAKECUDA_MEM", 1ull << 30);
}

API vs_curesult cuMemGetInfo_v2(size_t *fr, size_t *tot)
{
	int r = ready();
	if (r)
		return r;
	*tot = env_u("FAKECUDA_MEM", 1ull << 30);
	size_t u = used[current->dev] + others(current->dev);
	*fr = u < *tot ? *tot - u : 0;
	return 0;
}

API vs_curesult cuMemAlloc_v2(vs_cudeviceptr *p, size_t n)
{
	int r = ready(), dev;
	if (r)
		return r;
	dev = current->dev;
	if (n == 0)
		return 1;
	pthread_mutex_lock(&mu);
	if (!room(dev, n)) {
		pthread_mutex_unlock(&mu);
		return 2;
	}
	void *m = mmap(NULL, n, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		pthread_mutex_unlock(&mu);
		return 2;
	}
	for (int i = 0; i < MAXALLOC; i++)
		if (!allocs[i].p) {
			allocs[i].p = (uintptr_t)m;
			allocs[i].n = n;
			allocs[i].dev = dev;
			break;
		}
	used[dev] += n;
	pthread_mutex_unlock(&mu);
	*p = (vs_cudeviceptr)(uintptr_t)m;
	return 0;
}

API vs_curesult cuMemFree_v2(vs_cudeviceptr p)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAXALLOC; i++)
		if (allocs[i].p == p) {
			munmap((void *)allocs[i].p, allocs[i].n);
			used[allocs[i].dev] -= allocs[i].n;
			allocs[i].p = 0;
		}
	pthread_mutex_unlock(&mu);
	return 0;
}

API vs_curesult cuMemHostAlloc(void **p, size_t n, unsigned int flags)
{
	(void)flags;
	int r = ready();
	if (r)
		return r;
	*p = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
	return *p ? 0 : 2;
}

API vs_curesult cuMemFreeHost(void *p) { free(p); return 0; }

API vs_curesult cuStreamCreate(vs_custream *s, unsigned int flags)
{
	(void)flags;
	int r = ready();
	if (r)
		return r;
	*s = calloc(1, sizeof **s);
	return *s ? 0 : 2;
}

API vs_curesult cuStreamDestroy_v2(vs_custream s) { free(s); return 0; }

API vs_curesult cuStreamSynchronize(vs_custream s)
{
	unsigned long nth = ++n_sync;
	int r = ready();
	if (r)
		return r;
	if (s->err) {
		r = s->err;
		s->err = 0;
		return r;
	}
	const char *f = getenv("FAKECUDA_FAIL_SYNC");
	if (f) {
		unsigned long first = strtoul(f, NULL, 0), k = 1;
		const char *c = strchr(f, ':');
		if (c)
			k = strtoul(c + 1, NULL, 0);
		if (nth >= first && nth < first + k)
			return fail_code();
	}
	return 0;
}

/* Copies complete at submission here: a query is a synchronisation. */
API vs_curesult cuStreamQuery(vs_custream s)
{
	return cuStreamSynchronize(s);
}

/* Device memory is host memory here; the fault rules look at where in an
 * allocation a copy lands. */
static int copy(void *dst, const void *src, size_t n, uintptr_t dev, int to_dev,
                vs_custream s)
{
	unsigned long nth = ++n_copy;
	int r;

	if (env_u("FAKECUDA_STICKY", 0) && nth >= env_u("FAKECUDA_STICKY", 0))
		sticky_on = 1;
	if ((r = ready()))
		return r;
	if (nth == env_u("FAKECUDA_FAIL_COPY", 0))
		return fail_code();
	const char *bad = getenv("FAKECUDA_BAD_OFFSET"), *dir = getenv("FAKECUDA_BAD_DIR");
	if (dir && strcmp(dir, to_dev ? "write" : "read"))
		bad = NULL;
	if (bad) {
		uint64_t off = strtoull(bad, NULL, 0);
		for (int i = 0; i < MAXALLOC; i++) {
			uintptr_t a = allocs[i].p;
			if (a && allocs[i].n >= (1u << 20) && off < allocs[i].n &&
			    dev <= a + off && a + off < dev + n) {
				const char *at = getenv("FAKECUDA_BAD_AT");
				if (at && !strcmp(at, "sync")) {
					s->err = fail_code();
					return 0;
				}
				return fail_code();
			}
		}
	}
	memcpy(dst, src, n);
	const char *cor = getenv("FAKECUDA_CORRUPT_OFFSET");
	if (cor && !to_dev) {
		uint64_t off = strtoull(cor, NULL, 0);
		for (int i = 0; i < MAXALLOC; i++) {
			uintptr_t a = allocs[i].p;
			if (a && allocs[i].n >= (1u << 20) && off < allocs[i].n &&
			    dev <= a + off && a + off < dev + n)
				((unsigned char *)dst)[a + off - dev] ^= 0xff;
		}
	}
	return 0;
}

API vs_curesult cuMemcpyHtoDAsync_v2(vs_cudeviceptr d, const void *h, size_t n,
                                     vs_custream s)
{
	return copy((void *)(uintptr_t)d, h, n, (uintptr_t)d, 1, s);
}

API vs_curesult cuMemcpyDtoHAsync_v2(void *h, vs_cudeviceptr d, size_t n,
                                     vs_custream s)
{
	return copy(h, (void *)(uintptr_t)d, n, (uintptr_t)d, 0, s);
}

static int is_device(uintptr_t p)
{
	for (int i = 0; i < MAXALLOC; i++)
		if (allocs[i].p && p >= allocs[i].p && p < allocs[i].p + allocs[i].n)
			return 1;
	return 0;
}

API vs_curesult cuMemcpyBatchAsync_v2(vs_cudeviceptr *dsts, vs_cudeviceptr *srcs,
                                      size_t *sizes, size_t count,
                                      vs_cumemcpyattributes *attrs,
                                      size_t *attr_idxs, size_t num_attrs,
                                      vs_custream s)
{
	int r = ready();
	if (r)
		return r;
	if (env_u("FAKECUDA_BATCH", 1) == 0)
		return 801;
	if (!count || !num_attrs || !attrs || !attr_idxs || attr_idxs[0] != 0 ||
	    attrs[0].src_access_order < 1 || attrs[0].src_access_order > 3)
		return 1;
	n_batch++;
	for (size_t i = 0; i < count; i++) {
		uintptr_t d = (uintptr_t)dsts[i], sp = (uintptr_t)srcs[i];
		n_batch_copies++;
		r = copy((void *)d, (const void *)sp, sizes[i],
		         is_device(d) ? d : sp, is_device(d), s);
		if (r)
			return r;
	}
	return 0;
}

/* Preloaded, this stands in for the system's access() so that a test can
 * say whether /dev/nvidia-uvm is there; every other path goes to the
 * kernel. Loaded by dlopen() only, it interposes nothing. */
API int access(const char *path, int mode)
{
	const char *uvm = getenv("FAKECUDA_UVM");
	if (uvm && !strcmp(path, "/dev/nvidia-uvm")) {
		if (!strcmp(uvm, "ok"))
			return 0;
		errno = ENOENT;
		return -1;
	}
	return (int)syscall(SYS_faccessat, AT_FDCWD, path, mode);
}

/* ---- virtual memory: a handle is a memfd, a mapping maps it ------------ */

static struct { int fd; size_t n; int dev; } handles[MAXALLOC];

static int track(uintptr_t p, size_t n, int dev)
{
	for (int i = 0; i < MAXALLOC; i++)
		if (!allocs[i].p) {
			allocs[i].p = p;
			allocs[i].n = n;
			allocs[i].dev = dev;
			return 0;
		}
	return 2;
}

static int new_handle(int fd, size_t n, int dev, vs_cumemhandle *h)
{
	for (int i = 0; i < MAXALLOC; i++)
		if (!handles[i].n) {
			handles[i].fd = fd;
			handles[i].n = n;
			handles[i].dev = dev;
			used[dev] += n;
			*h = (vs_cumemhandle)i + 1;
			return 0;
		}
	return 2;
}

static int handle_ok(vs_cumemhandle h)
{
	return h >= 1 && h <= MAXALLOC && handles[h - 1].n;
}

API vs_curesult cuMemGetAllocationGranularity(size_t *g, const vs_cumemallocationprop *prop,
                                              vs_cumemgranularity option)
{
	(void)prop;
	(void)option;
	*g = 2u << 20;
	return 0;
}

API vs_curesult cuMemCreate(vs_cumemhandle *h, size_t n, const vs_cumemallocationprop *prop,
                            unsigned long long flags)
{
	(void)flags;
	int r = ready();
	if (r)
		return r;
	int dev = prop->location.id;
	if (!n || n % (2u << 20) || prop->requested_handle_types != VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
		return 1;
	pthread_mutex_lock(&mu);
	if (!room(dev, n)) {
		pthread_mutex_unlock(&mu);
		return 2;
	}
	int fd = memfd_create("fakecuda-vram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)n) || new_handle(fd, n, dev, h)) {
		if (fd >= 0)
			close(fd);
		pthread_mutex_unlock(&mu);
		return 2;
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

API vs_curesult cuMemRelease(vs_cumemhandle h)
{
	pthread_mutex_lock(&mu);
	if (!handle_ok(h)) {
		pthread_mutex_unlock(&mu);
		return 1;
	}
	close(handles[h - 1].fd);
	used[handles[h - 1].dev] -= handles[h - 1].n;
	handles[h - 1].n = 0;
	pthread_mutex_unlock(&mu);
	return 0;
}

API vs_curesult cuMemAddressReserve(vs_cudeviceptr *p, size_t n, size_t align, vs_cudeviceptr addr,
                                    unsigned long long flags)
{
	(void)align;
	(void)addr;
	(void)flags;
	void *m = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return 2;
	*p = (vs_cudeviceptr)(uintptr_t)m;
	return 0;
}

API vs_curesult cuMemAddressFree(vs_cudeviceptr p, size_t n)
{
	return munmap((void *)(uintptr_t)p, n) ? 1 : 0;
}

API vs_curesult cuMemMap(vs_cudeviceptr p, size_t n, size_t off, vs_cumemhandle h,
                         unsigned long long flags)
{
	(void)flags;
	pthread_mutex_lock(&mu);
	if (!handle_ok(h) || off || n != handles[h - 1].n) {
		pthread_mutex_unlock(&mu);
		return 1;
	}
	void *m = mmap((void *)(uintptr_t)p, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
	               handles[h - 1].fd, 0);
	int r = m == MAP_FAILED ? 2 : track((uintptr_t)p, n, handles[h - 1].dev);
	pthread_mutex_unlock(&mu);
	return r;
}

API vs_curesult cuMemSetAccess(vs_cudeviceptr p, size_t n, const vs_cumemaccessdesc *d, size_t k)
{
	(void)p;
	(void)n;
	(void)d;
	return k == 1 ? 0 : 1;
}

API vs_curesult cuMemUnmap(vs_cudeviceptr p, size_t n)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAXALLOC; i++)
		if (allocs[i].p == p)
			allocs[i].p = 0;
	pthread_mutex_unlock(&mu);
	void *m = mmap((void *)(uintptr_t)p, n, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	return m == MAP_FAILED ? 1 : 0;
}

API vs_curesult cuMemExportToShareableHandle(void *out, vs_cumemhandle h, vs_cumemhandletype t,
                                             unsigned long long flags)
{
	(void)flags;
	if (!handle_ok(h) || t != VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
		return 1;
	int fd = fcntl(handles[h - 1].fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return 304;
	*(int *)out = fd;
	return 0;
}

API vs_curesult cuMemImportFromShareableHandle(vs_cumemhandle *h, void *os, vs_cumemhandletype t)
{
	int fd = (int)(intptr_t)os;
	off_t n = lseek(fd, 0, SEEK_END);
	if (t != VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || n <= 0)
		return 1;
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0)
		return 304;
	pthread_mutex_lock(&mu);
	int r = new_handle(own, (size_t)n, current ? current->dev : 0, h);
	pthread_mutex_unlock(&mu);
	if (r)
		close(own);
	return r;
}
