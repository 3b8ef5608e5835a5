/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vramhog: stands in for a game or a training run on a GPU machine. It
 * allocates VRAM in steps until it holds TARGET, retrying a step that
 * fails (the memory may be on its way back from vram-swapd), prints when
 * each step succeeded, holds it all for HOLD seconds, then exits. Driver
 * API through dlopen, like the daemon: no toolkit needed to build it.
 *
 *   cc -O2 -o vramhog tests/cuda/vramhog.c -ldl
 *   vramhog TARGET_GIB STEP_GIB HOLD_S [GPU]
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*fn_init)(unsigned);
typedef int (*fn_dev)(int *, int);
typedef int (*fn_ctx)(void **, int);
typedef int (*fn_set)(void *);
typedef int (*fn_alloc)(uint64_t *, size_t);
typedef int (*fn_info)(size_t *, size_t *);

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: vramhog TARGET_GIB STEP_GIB HOLD_S [GPU]\n");
		return 2;
	}
	double target = atof(argv[1]), step = atof(argv[2]);
	int hold = atoi(argv[3]), gpu = argc > 4 ? atoi(argv[4]) : 0;
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "vramhog: %s\n", dlerror());
		return 1;
	}
	fn_init init = (fn_init)dlsym(lib, "cuInit");
	fn_dev dev = (fn_dev)dlsym(lib, "cuDeviceGet");
	fn_ctx retain = (fn_ctx)dlsym(lib, "cuDevicePrimaryCtxRetain");
	fn_set set = (fn_set)dlsym(lib, "cuCtxSetCurrent");
	fn_alloc alloc = (fn_alloc)dlsym(lib, "cuMemAlloc_v2");
	fn_info info = (fn_info)dlsym(lib, "cuMemGetInfo_v2");
	int d;
	void *ctx;
	if (!init || init(0) || dev(&d, gpu) || retain(&ctx, d) || set(ctx)) {
		fprintf(stderr, "vramhog: cannot open GPU %d\n", gpu);
		return 1;
	}
	size_t sz = (size_t)(step * (1 << 30)), fr, tot;
	double held = 0, t0 = now(), first_fail = 0;
	unsigned fails = 0;
	info(&fr, &tot);
	printf("%.3f hog start: want %.1f GiB in %.1f GiB steps; %.1f GiB free\n", t0, target, step,
	       (double)fr / (1 << 30));
	fflush(stdout);
	while (held + step <= target + 1e-9) {
		uint64_t p;
		if (alloc(&p, sz) == 0) {
			held += step;
			info(&fr, &tot);
			printf("%.3f hog holds %.1f GiB (+%.1f s; %.1f GiB free)\n", now(), held,
			       now() - t0, (double)fr / (1 << 30));
			fflush(stdout);
			continue;
		}
		if (!fails++) {
			first_fail = now();
			printf("%.3f hog step failed at %.1f GiB: waiting for VRAM\n", first_fail, held);
			fflush(stdout);
		}
		usleep(20000);
	}
	printf("%.3f hog done: %.1f GiB after %.2f s (%.2f s after its first failed step)\n",
	       now(), held, now() - t0, first_fail ? now() - first_fail : 0.0);
	fflush(stdout);
	sleep((unsigned)hold);
	printf("%.3f hog exits\n", now());
	return 0;
}
