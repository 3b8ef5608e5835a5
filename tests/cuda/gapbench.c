/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a sporadic request's time goes, piece by piece, without the daemon:
 *   gap    one 4 KiB copy after the thread slept G, split into the copy
 *          call and the wait; waited by cuStreamSynchronize or by polling
 *          cuStreamQuery
 *   warm   the same after 20 ms, with the thread waking every P during the
 *          gap: only waking, or also starting a 4 KiB copy each time
 *   sock   a Unix-socket round trip (28-byte request, 16 + 4096-byte reply)
 *          between two threads after the client slept G: the two wake-ups
 *   pipe   1 MiB through Unix sockets on 1 and 4 pairs of threads: the socket
 *          alone; towards VRAM, each MiB copied after it arrived, in 256 KiB
 *          pieces received whole whose copies overlap the next piece's
 *          receive, or copied as soon as 256 KiB have come in; from VRAM,
 *          each MiB copied then sent, or in 256 KiB pieces each sent while
 *          the next one is copied
 * Prints p50 / p90 in microseconds (GB/s for pipe).
 * Usage: gapbench [device-index]      (needs libcuda.so.1; no toolkit)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cuda_api.h"

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct vs_cuda_api cu;
static vs_cucontext ctx;
static vs_cudeviceptr dmem;

#define CK(call) do { vs_curesult r_ = (call); if (r_) { \
	fprintf(stderr, "gapbench: %s failed: %d\n", #call, r_); exit(1); } } while (0)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;   /* us */
}

static void sleep_us(double us)
{
	struct timespec t = { (time_t)(us / 1e6), (long)((us - (double)(time_t)(us / 1e6) * 1e6) * 1e3) };
	nanosleep(&t, NULL);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double *v, int n, int p)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return v[n * p / 100];
}

enum { MAXS = 400 };

static void wait_copy(vs_custream s, int poll_query)
{
	if (!poll_query) {
		CK(cu.cuStreamSynchronize(s));
		return;
	}
	vs_curesult r;
	while ((r = cu.cuStreamQuery(s)) == VS_CUDA_ERROR_NOT_READY)
		;
	CK(r);
}

/* One 4 KiB copy after a gap. warm_us: wake every warm_us during the gap;
 * tick: also start a 4 KiB DtoH copy at each wake. */
static void gap_row(const char *name, vs_custream s, void *h, double gap, int n,
                    int poll_query, double warm_us, int tick)
{
	double call[MAXS], tot[MAXS];
	for (int dir = 0; dir < 2; dir++) {
		for (int i = 0; i < n; i++) {
			if (warm_us > 0) {
				double end = now() + gap;
				while (now() + warm_us < end) {
					sleep_us(warm_us);
					if (tick)
						CK(cu.cuMemcpyDtoHAsync_v2((char *)h + 8192, dmem + 8192, 4096, s));
				}
				double left = end - now();
				if (left > 0)
					sleep_us(left);
				if (tick)
					CK(cu.cuStreamSynchronize(s));   /* done long ago */
			} else if (gap > 0) {
				sleep_us(gap);
			}
			double t0 = now();
			if (dir == 0)
				CK(cu.cuMemcpyHtoDAsync_v2(dmem, h, 4096, s));
			else
				CK(cu.cuMemcpyDtoHAsync_v2(h, dmem, 4096, s));
			double t1 = now();
			wait_copy(s, poll_query);
			double t2 = now();
			call[i] = t1 - t0;
			tot[i] = t2 - t0;
		}
		printf("%-40s %s: copy+wait p50 %6.1f p90 %6.1f  (call p50 %5.1f)\n", name,
		       dir ? "DtoH" : "HtoD", pct(tot, n, 50), pct(tot, n, 90), pct(call, n, 50));
	}
}

/* ---- sockets -------------------------------------------------------------- */

struct srv { int fd; double spin_us; };

static void *echo_srv(void *arg)
{
	struct srv *sv = arg;
	static char buf[16 + 4096];
	char req[28];
	for (;;) {
		if (sv->spin_us > 0) {
			/* A worker that wakes every spin_us while it waits. */
			struct pollfd p = { .fd = sv->fd, .events = POLLIN };
			while (poll(&p, 1, 1) == 0)
				;
		}
		if (recv(sv->fd, req, sizeof req, MSG_WAITALL) != (ssize_t)sizeof req)
			return NULL;
		if (send(sv->fd, buf, sizeof buf, MSG_NOSIGNAL) != (ssize_t)sizeof buf)
			return NULL;
	}
}

static void sock_row(const char *name, double gap, int n, int warm)
{
	int sv[2];
	pthread_t t;
	static char buf[16 + 4096];
	char req[28] = {0};
	double lat[MAXS];
	struct srv s;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		exit(1);
	s.fd = sv[1];
	s.spin_us = warm;
	pthread_create(&t, NULL, echo_srv, &s);
	for (int i = 0; i < n; i++) {
		if (gap > 0)
			sleep_us(gap);
		double t0 = now();
		if (send(sv[0], req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req ||
		    recv(sv[0], buf, sizeof buf, MSG_WAITALL) != (ssize_t)sizeof buf)
			exit(1);
		lat[i] = now() - t0;
	}
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	printf("%-40s round trip p50 %6.1f p90 %6.1f\n", name, pct(lat, n, 50), pct(lat, n, 90));
}

/* ---- 1 MiB through sockets -------------------------------------------------- */

#define MB (1u << 20)
#define PIECE (256u << 10)

enum { SOCK_ONLY, TO_AFTER, TO_PIECES, TO_EAGER, FROM_AFTER, FROM_PIECES };

struct pipe_arg {
	int fd, mode, idx;
	double secs;
	unsigned long long bytes;
};

/* The client's side: sends MiB after MiB, or for the FROM modes receives
 * them. */
static void *pipe_client(void *arg)
{
	struct pipe_arg *a = arg;
	char *b = malloc(MB);
	memset(b, 0x5a, MB);
	double end = now() + a->secs * 1e6;
	if (a->mode >= FROM_AFTER) {
		while (now() < end && recv(a->fd, b, MB, MSG_WAITALL) == (ssize_t)MB)
			a->bytes += MB;
		shutdown(a->fd, SHUT_RDWR);
	} else {
		while (now() < end)
			if (send(a->fd, b, MB, MSG_NOSIGNAL) != (ssize_t)MB)
				break;
		shutdown(a->fd, SHUT_WR);
	}
	free(b);
	return NULL;
}

/* From VRAM: copy, then send, MiB after MiB; or piece k sent while piece
 * k + 1 is being copied. */
static void pipe_from(struct pipe_arg *a, vs_custream s, void *h, vs_cudeviceptr d)
{
	for (;;) {
		if (a->mode == FROM_AFTER) {
			CK(cu.cuMemcpyDtoHAsync_v2(h, d, MB, s));
			CK(cu.cuStreamSynchronize(s));
			if (send(a->fd, h, MB, MSG_NOSIGNAL) != (ssize_t)MB)
				return;
			continue;
		}
		CK(cu.cuMemcpyDtoHAsync_v2(h, d, PIECE, s));
		CK(cu.cuStreamSynchronize(s));
		for (unsigned off = 0; off < MB; off += PIECE) {
			if (off + PIECE < MB)
				CK(cu.cuMemcpyDtoHAsync_v2((char *)h + off + PIECE, d + off + PIECE,
				                           PIECE, s));
			if (send(a->fd, (char *)h + off, PIECE, MSG_NOSIGNAL) != (ssize_t)PIECE)
				return;
			CK(cu.cuStreamSynchronize(s));
		}
	}
}

/* Towards VRAM, copying each 256 KiB as soon as it is in. */
static int pipe_eager(struct pipe_arg *a, vs_custream s, void *h, vs_cudeviceptr d)
{
	size_t got = 0, sent = 0;
	while (got < MB) {
		ssize_t r = recv(a->fd, (char *)h + got, MB - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		if (got - sent >= PIECE || got == MB) {
			CK(cu.cuMemcpyHtoDAsync_v2(d + sent, (char *)h + sent, got - sent, s));
			sent = got;
		}
	}
	CK(cu.cuStreamSynchronize(s));
	return 0;
}

static void *pipe_server(void *arg)
{
	struct pipe_arg *a = arg;
	vs_custream s;
	void *h;
	CK(cu.cuCtxSetCurrent(ctx));
	CK(cu.cuStreamCreate(&s, VS_CU_STREAM_NON_BLOCKING));
	CK(cu.cuMemHostAlloc(&h, MB, VS_CU_MEMHOSTALLOC_PORTABLE));
	vs_cudeviceptr d = dmem + (vs_cudeviceptr)(a->idx + 1) * 4 * MB;
	if (a->mode >= FROM_AFTER)
		pipe_from(a, s, h, d);
	for (; a->mode < FROM_AFTER;) {
		if (a->mode == TO_EAGER) {
			if (pipe_eager(a, s, h, d))
				break;
		} else if (a->mode == TO_PIECES) {
			unsigned got = 0;
			for (unsigned off = 0; off < MB; off += PIECE) {
				ssize_t r = recv(a->fd, (char *)h + off, PIECE, MSG_WAITALL);
				if (r != (ssize_t)PIECE)
					break;
				CK(cu.cuMemcpyHtoDAsync_v2(d + off, (char *)h + off, PIECE, s));
				got += PIECE;
			}
			CK(cu.cuStreamSynchronize(s));
			if (got < MB)
				break;
		} else {
			if (recv(a->fd, h, MB, MSG_WAITALL) != (ssize_t)MB)
				break;
			if (a->mode == TO_AFTER) {
				CK(cu.cuMemcpyHtoDAsync_v2(d, h, MB, s));
				CK(cu.cuStreamSynchronize(s));
			}
		}
		a->bytes += MB;
	}
	cu.cuMemFreeHost(h);
	cu.cuStreamDestroy_v2(s);
	return NULL;
}

static void pipe_row(const char *name, int pairs, int mode)
{
	pthread_t ts[8], tr[8];
	struct pipe_arg snd[8], rcv[8];
	unsigned long long tot = 0;
	for (int i = 0; i < pairs; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			exit(1);
		snd[i] = (struct pipe_arg){ .fd = sv[0], .mode = mode, .secs = 1.0 };
		rcv[i] = (struct pipe_arg){ .fd = sv[1], .mode = mode, .idx = i };
		pthread_create(&tr[i], NULL, pipe_server, &rcv[i]);
		pthread_create(&ts[i], NULL, pipe_client, &snd[i]);
	}
	for (int i = 0; i < pairs; i++) {
		pthread_join(ts[i], NULL);
		pthread_join(tr[i], NULL);
		close(snd[i].fd);
		close(rcv[i].fd);
		tot += rcv[i].bytes + snd[i].bytes;
	}
	printf("%-40s %d pair%s: %6.2f GB/s\n", name, pairs, pairs > 1 ? "s" : "", (double)tot / 1e9);
}

int main(int argc, char **argv)
{
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	vs_cudevice dev;
	vs_custream s;
	void *h;

	if (!lib) {
		fprintf(stderr, "gapbench: %s\n", dlerror());
		return 1;
	}
#define R(sym, ret, params) cu.sym = (vs_##sym##_fn *)dlsym(lib, #sym);
	VS_CUDA_FUNCS(R)
	VS_CUDA_OPT_FUNCS(R)
	CK(cu.cuInit(0));
	CK(cu.cuDeviceGet(&dev, argc > 1 ? atoi(argv[1]) : 0));
	CK(cu.cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cu.cuCtxSetCurrent(ctx));
	CK(cu.cuMemAlloc_v2(&dmem, 64u << 20));
	CK(cu.cuMemHostAlloc(&h, 1u << 20, VS_CU_MEMHOSTALLOC_PORTABLE));
	CK(cu.cuStreamCreate(&s, VS_CU_STREAM_NON_BLOCKING));
	memset(h, 0x5a, 1u << 20);

	printf("== gap: one 4 KiB copy after the thread slept (us)\n");
	gap_row("no gap, sync", s, h, 0, 400, 0, 0, 0);
	gap_row("no gap, polled", s, h, 0, 400, 1, 0, 0);
	gap_row("1 ms, sync", s, h, 1000, 200, 0, 0, 0);
	gap_row("20 ms, sync", s, h, 20000, 40, 0, 0, 0);
	gap_row("20 ms, polled", s, h, 20000, 40, 1, 0, 0);
	gap_row("200 ms, sync", s, h, 200000, 12, 0, 0, 0);
	printf("== warm: 20 ms gap, the thread waking every P (us)\n");
	gap_row("wake every 1 ms, no copy", s, h, 20000, 40, 0, 1000, 0);
	gap_row("wake every 0.25 ms, 4K copy", s, h, 20000, 40, 0, 250, 1);
	gap_row("wake every 1 ms, 4K copy", s, h, 20000, 40, 0, 1000, 1);
	gap_row("wake every 4 ms, 4K copy", s, h, 20000, 40, 0, 4000, 1);
	gap_row("wake every 10 ms, 4K copy", s, h, 20000, 30, 0, 10000, 1);
	printf("== sock: Unix-socket round trip after the client slept (us)\n");
	sock_row("no gap", 0, 400, 0);
	sock_row("1 ms", 1000, 200, 0);
	sock_row("20 ms", 20000, 50, 0);
	sock_row("20 ms, server wakes every 1 ms", 20000, 50, 1);
	sock_row("200 ms", 200000, 12, 0);
	printf("== pipe: 1 MiB messages through Unix sockets\n");
	for (int pairs = 1; pairs <= 4; pairs += 3) {
		pipe_row("socket only", pairs, SOCK_ONLY);
		pipe_row("to VRAM: receive, then copy", pairs, TO_AFTER);
		pipe_row("to VRAM: 256 KiB pieces overlapped", pairs, TO_PIECES);
		pipe_row("to VRAM: copy each 256 KiB as it comes", pairs, TO_EAGER);
		pipe_row("from VRAM: copy, then send", pairs, FROM_AFTER);
		pipe_row("from VRAM: 256 KiB pieces overlapped", pairs, FROM_PIECES);
	}
	return 0;
}
