/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PCIe copy ceiling that every cuda-backend figure is a fraction of:
 * pinned host<->VRAM copy rates on one stream at 4 KiB, 64 KiB and 1 MiB,
 * 4 KiB copies batched with cuMemcpyBatchAsync_v2 (32 per call), and the
 * latency of one 4 KiB copy plus stream synchronisation.
 * Usage: copybench [device-index]      (needs libcuda.so.1; no toolkit)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cuda_api.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct vs_cuda_api cu;
static vs_custream st;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define CK(call) do { vs_curesult r_ = (call); if (r_) { \
	fprintf(stderr, "copybench: %s failed: %d\n", #call, r_); exit(1); } } while (0)

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	vs_cudevice dev;
	vs_cucontext ctx;
	vs_cudeviceptr d;
	void *h;
	const size_t span = 256u << 20;

	if (!lib) {
		fprintf(stderr, "copybench: %s\n", dlerror());
		return 1;
	}
#define R(sym, ret, params) cu.sym = (vs_##sym##_fn *)dlsym(lib, #sym);
	VS_CUDA_FUNCS(R)
	VS_CUDA_OPT_FUNCS(R)
	CK(cu.cuInit(0));
	CK(cu.cuDeviceGet(&dev, argc > 1 ? atoi(argv[1]) : 0));
	CK(cu.cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cu.cuCtxSetCurrent(ctx));
	CK(cu.cuMemAlloc_v2(&d, span));
	CK(cu.cuMemHostAlloc(&h, span, VS_CU_MEMHOSTALLOC_PORTABLE));
	CK(cu.cuStreamCreate(&st, VS_CU_STREAM_NON_BLOCKING));
	memset(h, 0x5a, span);

	static const size_t sizes[] = {4096, 65536, 1u << 20};
	for (int dir = 0; dir < 2; dir++)
		for (unsigned k = 0; k < 3; k++) {
			size_t bs = sizes[k], n = 0, slots = span / bs;
			double t0 = now(), t;
			do {
				for (int i = 0; i < 256; i++, n++) {
					size_t o = (n * 7919 % slots) * bs;
					if (dir == 0)
						CK(cu.cuMemcpyHtoDAsync_v2(d + o, (char *)h + o, bs, st));
					else
						CK(cu.cuMemcpyDtoHAsync_v2((char *)h + o, d + o, bs, st));
				}
				CK(cu.cuStreamSynchronize(st));
			} while ((t = now() - t0) < 1.0);
			printf("copy %-4s %8zu B: %10.0f copies/s %8.2f GB/s\n",
			       dir ? "DtoH" : "HtoD", bs, (double)n / t,
			       (double)n * (double)bs / t / 1e9);
		}

	if (cu.cuMemcpyBatchAsync_v2) {
		vs_cudeviceptr ds[32], ss[32];
		size_t sz[32], idx = 0, n = 0, slots = span / 4096;
		vs_cumemcpyattributes a;
		memset(&a, 0, sizeof a);
		a.src_access_order = VS_CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
		a.src_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_HOST;
		a.dst_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_DEVICE;
		for (int dir = 0; dir < 2; dir++) {
			double t0 = now(), t;
			n = 0;
			do {
				for (int b = 0; b < 8; b++) {
					for (int i = 0; i < 32; i++, n++) {
						size_t o = (n * 7919 % slots) * 4096;
						vs_cudeviceptr hp = (vs_cudeviceptr)(uintptr_t)((char *)h + o);
						ds[i] = dir ? hp : d + o;
						ss[i] = dir ? d + o : hp;
						sz[i] = 4096;
					}
					CK(cu.cuMemcpyBatchAsync_v2(ds, ss, sz, 32, &a, &idx, 1, st));
				}
				CK(cu.cuStreamSynchronize(st));
			} while ((t = now() - t0) < 1.0);
			printf("batch %-4s 32 x 4096 B: %10.0f copies/s %8.2f GB/s\n",
			       dir ? "DtoH" : "HtoD", (double)n / t, (double)n * 4096 / t / 1e9);
		}
	}

	enum { N = 20000 };
	static double lat[N];
	for (int dir = 0; dir < 2; dir++) {
		for (int i = 0; i < N; i++) {
			double t0 = now();
			if (dir == 0)
				CK(cu.cuMemcpyHtoDAsync_v2(d, h, 4096, st));
			else
				CK(cu.cuMemcpyDtoHAsync_v2(h, d, 4096, st));
			CK(cu.cuStreamSynchronize(st));
			lat[i] = (now() - t0) * 1e6;
		}
		qsort(lat, N, sizeof lat[0], cmp);
		printf("4 KiB %s copy + sync: p50 %.1f us p99 %.1f us p999 %.1f us\n",
		       dir ? "DtoH" : "HtoD", lat[N / 2], lat[N * 99 / 100], lat[N * 999 / 1000]);
	}
	for (int dir = 0; dir < 2; dir++) {
		for (int i = 0; i < N; i++) {
			double t0 = now();
			vs_curesult r;
			if (dir == 0)
				CK(cu.cuMemcpyHtoDAsync_v2(d, h, 4096, st));
			else
				CK(cu.cuMemcpyDtoHAsync_v2(h, d, 4096, st));
			while ((r = cu.cuStreamQuery(st)) == VS_CUDA_ERROR_NOT_READY)
				;
			CK(r);
			lat[i] = (now() - t0) * 1e6;
		}
		qsort(lat, N, sizeof lat[0], cmp);
		printf("4 KiB %s copy + polled query: p50 %.1f us p99 %.1f us p999 %.1f us\n",
		       dir ? "DtoH" : "HtoD", lat[N / 2], lat[N * 99 / 100], lat[N * 999 / 1000]);
	}
	return 0;
}
