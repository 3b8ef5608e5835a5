/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drives a backend directly, without sockets: open it like the daemon does,
 * then from T threads (each with its own queue, as connection workers have)
 * write the whole export in batches of scattered 4 KiB segments, each block
 * stamped with its offset and a generation, read it back and verify; then
 * time batches of 32 random 4 KiB reads and writes and single 4 KiB copies.
 * Runs against the fake libcuda in `make check` and on a real GPU.
 *
 * Usage: betest [-b cuda|host] [-d DEVICE] [-s SIZE] [-m MIN] [-p STEP]
 *               [-t THREADS] [-T SECONDS] [-r] [-g GAP_US]
 *   -r: the single-copy latency loop uses random offsets (GPU TLB misses)
 *   -g: and sleeps GAP_US between copies (an idle CPU, as between requests)
 * Exit: 0 verified, 1 a mismatch or an I/O error, 2 the backend did not open.
 */
#include "backend.h"
#include "config.h"
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32u

static struct vs_backend be;
static uintptr_t mem;       /* the one allocation every thread writes */
static uint64_t size;
static unsigned nthreads = 4;
static double seconds = 1.0;
static bool lat_random;
static unsigned gap_us;
static volatile unsigned long errors;
/* Speed runs write anywhere: none starts before every thread verified. */
static pthread_barrier_t verified;

struct worker {
	pthread_t t;
	unsigned id;
	struct vs_queue *q;
	char *buf;
	unsigned long ops_r, ops_w;
	double lat_w, lat_r;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
	return *s;
}

static void stamp(char *p, uint64_t off, uint64_t gen)
{
	for (unsigned i = 0; i < VS_BLOCK; i += 16) {
		uint64_t a = off + i, b = gen ^ (off * 31 + i);
		memcpy(p + i, &a, 8);
		memcpy(p + i + 8, &b, 8);
	}
}

static int check(const char *p, uint64_t off, uint64_t gen)
{
	char want[VS_BLOCK];
	stamp(want, off, gen);
	if (memcmp(p, want, VS_BLOCK) == 0)
		return 0;
	uint64_t got;
	memcpy(&got, p, 8);
	fprintf(stderr, "betest: block at %llu (gen %llu) holds the stamp of "
	        "offset %llu\n", (unsigned long long)off, (unsigned long long)gen,
	        (unsigned long long)got);
	return 1;
}

/* The blocks of a thread's slice, visited in a scattered order so that a
 * batch's segments are rarely adjacent; a permutation because the
 * multiplier is prime. */
static uint64_t block_of(uint64_t i, uint64_t n)
{
	return (i * 2654435761u) % n;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t nblk = size / VS_BLOCK / nthreads, first = w->id * nblk;
	uint64_t gen = 0x1234 + w->id, seed = 88172645463325252ull + w->id;
	struct vs_seg seg[BATCH];

	for (int pass = 0; pass < 2; pass++)
		for (uint64_t i = 0; i < nblk; i += BATCH) {
			unsigned n = (unsigned)(nblk - i < BATCH ? nblk - i : BATCH);
			for (unsigned k = 0; k < n; k++) {
				uint64_t off = (first + block_of(i + k, nblk)) * VS_BLOCK;
				seg[k] = (struct vs_seg){ .mem = mem, .off = off, .buf = w->buf + k * VS_BLOCK,
					.len = VS_BLOCK, .dir = pass ? VS_FROM_BACKEND : VS_TO_BACKEND };
				if (!pass)
					stamp(seg[k].buf, off, gen);
			}
			if (be.ops->xfer(w->q, seg, n))
				__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
			for (unsigned k = 0; pass && k < n; k++)
				if (check(seg[k].buf, seg[k].off, gen))
					__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
		}

	pthread_barrier_wait(&verified);
	/* speed: batches of 32 random 4 KiB segments, reads then writes */
	for (int dir = 1; dir >= 0; dir--) {
		double t0 = now();
		unsigned long ops = 0;
		do {
			for (unsigned k = 0; k < BATCH; k++)
				seg[k] = (struct vs_seg){ .mem = mem, .off = (rnd(&seed) % (size / VS_BLOCK)) * VS_BLOCK,
					.buf = w->buf + k * VS_BLOCK, .len = VS_BLOCK, .dir = (uint8_t)dir };
			if (be.ops->xfer(w->q, seg, BATCH))
				__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
			ops += BATCH;
		} while (now() - t0 < seconds);
		*(dir ? &w->ops_r : &w->ops_w) = ops;
	}
	return NULL;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct vs_config cfg = { .backend = "cuda", .device = "0",
		.size = { .bytes = 64u << 20 }, .min_size = 4u << 20, .step = 16u << 20 };
	int c;

	while ((c = getopt(argc, argv, "b:d:s:m:p:t:T:rg:")) != -1) {
		switch (c) {
		case 'b': cfg.backend = optarg; break;
		case 'd': cfg.device = optarg; break;
		case 's': if (vs_parse_size(optarg, true, &cfg.size)) goto usage; break;
		case 'm': case 'p': {
			struct vs_size s;
			if (vs_parse_size(optarg, false, &s))
				goto usage;
			*(c == 'm' ? &cfg.min_size : &cfg.step) = s.bytes;
			break;
		}
		case 't': nthreads = (unsigned)atoi(optarg); break;
		case 'T': seconds = atof(optarg); break;
		case 'r': lat_random = true; break;
		case 'g': gap_us = (unsigned)atoi(optarg); break;
		default: goto usage;
		}
	}
	vs_log_init(false);
	be.ops = vs_backend_find(cfg.backend);
	if (!be.ops || nthreads < 1 || nthreads > 64)
		goto usage;
	/* As the daemon sizes its first chunk: --size, backing off by --step
	 * down to --min-size. */
	if (be.ops->open(&be, &cfg))
		return 2;
	uint64_t want = vs_backend_want(&be, &cfg);
	if (!want || vs_backend_alloc_sized(&be, &cfg, want, &mem, &size)) {
		be.ops->close(&be);
		return 2;
	}
	printf("betest: %s backend, %s, %llu MiB\n", be.ops->name, be.device_name,
	       (unsigned long long)(size >> 20));

	struct worker *w = calloc(nthreads, sizeof *w);
	for (unsigned i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].buf = be.ops->buf_alloc(&be, BATCH * VS_BLOCK);
		if (!w[i].buf || be.ops->queue_open(&be, &w[i].q))
			return 2;
	}
	double t0 = now();
	pthread_barrier_init(&verified, NULL, nthreads);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&w[i].t, NULL, run, &w[i]);
	unsigned long r = 0, wr = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(w[i].t, NULL);
		r += w[i].ops_r;
		wr += w[i].ops_w;
	}
	printf("betest: wrote and verified %llu MiB from %u threads in %.2f s "
	       "(incl. speed runs), %lu errors\n",
	       (unsigned long long)(size / nthreads / VS_BLOCK * nthreads * VS_BLOCK >> 20),
	       nthreads, now() - t0, errors);
	printf("betest: %u threads x batches of %u random 4 KiB: %.0f reads/s, "
	       "%.0f writes/s\n", nthreads, BATCH, r / seconds, wr / seconds);

	/* one 4 KiB segment per xfer: the floor under queue-depth-1 latency */
	enum { N = 5000 };
	static double lat[N];
	for (int dir = 0; dir < 2; dir++) {
		struct vs_seg s = { .mem = mem, .off = 0, .buf = w[0].buf, .len = VS_BLOCK, .dir = (uint8_t)dir };
		uint64_t seed = 12345;
		for (int i = 0; i < N; i++) {
			if (lat_random)
				s.off = (rnd(&seed) % (size / VS_BLOCK)) * VS_BLOCK;
			if (gap_us) {
				struct timespec ts = { 0, (long)gap_us * 1000 };
				nanosleep(&ts, NULL);
			}
			double a = now();
			if (be.ops->xfer(w[0].q, &s, 1))
				errors++;
			lat[i] = (now() - a) * 1e6;
		}
		qsort(lat, N, sizeof lat[0], cmpd);
		printf("betest: one 4 KiB %s per xfer%s%s: p50 %.1f us p99 %.1f us\n",
		       dir ? "read" : "write", lat_random ? ", random offsets" : "",
		       gap_us ? ", idle gaps" : "", lat[N / 2], lat[N * 99 / 100]);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		be.ops->queue_close(w[i].q);
		be.ops->buf_free(&be, w[i].buf, BATCH * VS_BLOCK);
	}
	free(w);
	be.ops->release(&be, mem, size);
	be.ops->close(&be);
	vs_log_stop();
	return errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: betest [-b cuda|host] [-d DEVICE] [-s SIZE] [-m MIN] "
	        "[-p STEP] [-t THREADS] [-T SECONDS]\n");
	return 2;
}
