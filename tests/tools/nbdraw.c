/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdraw: NBD load generator on raw sockets, the way the kernel's client
 * talks (fixed newstyle, NBD_OPT_GO, simple replies, requests pipelined on
 * each connection). The benchmarks' second tool next to nbdtool (libnbd):
 * no library between the load and the socket.
 *
 *   nbdraw -s SOCKET [-e EXPORT] [-c CONNS] [-q DEPTH] [-b BYTES] [-t SECONDS]
 *          [-w WRITE%] [-S] [-V] [-z SPAN] [-i GAP_US] [-F FILE]
 *
 * -c connections (one thread each), -q requests in flight per connection,
 * -S sequential (else random), -V write a pattern over the span first and
 * check every read against it, -z bytes of the export to use (default
 * all), -i pause after each reply (sporadic load, with -q 1), -F take the
 * pages written from FILE (page n of the export gets page n mod the
 * file's pages, its first 8 bytes replaced by its offset) instead of a
 * pattern that does not compress. Prints one
 * line: iops, MBps, p50/p99/p999 latency in microseconds, errors (error
 * replies and, with -V, mismatching blocks; exit 1 if any).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAXQ 256
#define MAXLAT (1u << 22)

static const char *sock_path, *export_name = "";
static int conns = 1, depth = 1, bs = 4096, seconds = 5, write_pct, seq, verify, gap_us;
static uint64_t span, export_size;
static volatile int stop;
/* The timed part starts when every connection has done its prefill. */
static pthread_barrier_t started;

struct worker {
	pthread_t t;
	int id, fd;
	uint64_t lo, hi, next;   /* this connection's slice, next sequential offset */
	uint64_t ops, errors, nlat;
	float *lat;
	unsigned seed;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void rd(int fd, void *b, size_t n)
{
	for (char *p = b; n;) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			die("nbdraw: read");
		p += r;
		n -= (size_t)r;
	}
}

static void wr(int fd, const void *b, size_t n)
{
	for (const char *p = b; n;) {
		ssize_t r = write(fd, p, n);
		if (r <= 0)
			die("nbdraw: write");
		p += r;
		n -= (size_t)r;
	}
}

static uint64_t be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static uint32_t be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }

/* Connects and negotiates with NBD_OPT_GO; returns the socket. */
static int nbd_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa))
		die("nbdraw: connect");
	uint8_t g[18], b[20];
	rd(fd, g, sizeof g);
	uint32_t cflags = htobe32(3);   /* FIXED_NEWSTYLE | NO_ZEROES */
	wr(fd, &cflags, 4);
	uint32_t nlen = (uint32_t)strlen(export_name);
	uint8_t opt[16];
	uint64_t magic = htobe64(0x49484156454F5054ULL);
	uint32_t o = htobe32(7), len = htobe32(4 + nlen + 2), nl = htobe32(nlen);
	uint16_t ninfo = 0;
	memcpy(opt, &magic, 8);
	memcpy(opt + 8, &o, 4);
	memcpy(opt + 12, &len, 4);
	wr(fd, opt, 16);
	wr(fd, &nl, 4);
	wr(fd, export_name, nlen);
	wr(fd, &ninfo, 2);
	for (;;) {
		rd(fd, b, 20);
		uint32_t type = be32(b + 12), n = be32(b + 16);
		uint8_t data[1024];
		if (n > sizeof data) {
			fprintf(stderr, "nbdraw: option reply of %u bytes\n", n);
			exit(2);
		}
		rd(fd, data, n);
		if (type & 0x80000000u) {
			fprintf(stderr, "nbdraw: NBD_OPT_GO refused (%#x)\n", type);
			exit(2);
		}
		if (type == 3 && n >= 12 && data[0] == 0 && data[1] == 0)   /* INFO_EXPORT */
			export_size = be64(data + 2);
		if (type == 1)   /* ACK */
			return fd;
	}
}

static void request(int fd, uint16_t type, uint64_t cookie, uint64_t off, uint32_t n)
{
	uint8_t h[28];
	uint32_t magic = htobe32(0x25609513u), l = htobe32(n);
	uint16_t flags = 0, t = htobe16(type);
	uint64_t c = htobe64(cookie), of = htobe64(off);
	memcpy(h, &magic, 4);
	memcpy(h + 4, &flags, 2);
	memcpy(h + 6, &t, 2);
	memcpy(h + 8, &c, 8);
	memcpy(h + 16, &of, 8);
	memcpy(h + 24, &l, 4);
	wr(fd, h, sizeof h);
}

static uint8_t *data;      /* -F: the file's pages */
static uint64_t data_pages;

/* The pattern of the block at off: its offset in every word, or (-F) the
 * file's pages, each led by its offset. */
static void fill(uint8_t *b, uint64_t off, size_t n)
{
	if (data) {
		for (size_t i = 0; i < n; i += 4096) {
			uint64_t v = off + i;
			memcpy(b + i, data + (v / 4096 % data_pages) * 4096, 4096);
			memcpy(b + i, &v, 8);
		}
		return;
	}
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = off + i;
		memcpy(b + i, &v, 8);
	}
}

static void load_data(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END))
		die("cannot read the -F file");
	long n = ftell(f);
	data_pages = n > 0 ? (uint64_t)n / 4096 : 0;
	data = malloc(data_pages * 4096 + 1);
	rewind(f);
	if (!data_pages || !data || fread(data, 4096, data_pages, f) != data_pages)
		die("the -F file holds no whole page");
	fclose(f);
}

static uint64_t pick(struct worker *w)
{
	uint64_t blocks = (w->hi - w->lo) / (uint64_t)bs;
	if (seq) {
		uint64_t off = w->next;
		w->next = w->next + (uint64_t)bs >= w->hi ? w->lo : w->next + (uint64_t)bs;
		return off;
	}
	uint64_t r = ((uint64_t)rand_r(&w->seed) << 31) ^ (uint64_t)rand_r(&w->seed);
	return w->lo + r % blocks * (uint64_t)bs;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct { double t0; uint64_t off; int write; uint8_t *buf; } slot[MAXQ];
	uint8_t *check = malloc((size_t)bs);
	for (int i = 0; i < depth; i++)
		slot[i].buf = malloc((size_t)bs);
	if (verify) {   /* the slice holds the pattern before any read */
		for (uint64_t off = w->lo; off < w->hi; off += (uint64_t)bs) {
			uint8_t rep[16];
			fill(slot[0].buf, off, (size_t)bs);
			request(w->fd, 1, 0, off, (uint32_t)bs);
			wr(w->fd, slot[0].buf, (size_t)bs);
			rd(w->fd, rep, 16);
			if (be32(rep + 4))
				w->errors++;
		}
	}
	pthread_barrier_wait(&started);
	for (int i = 0; i < depth; i++) {
		slot[i].off = pick(w);
		slot[i].write = (int)(rand_r(&w->seed) % 100) < write_pct;
		slot[i].t0 = now();
		request(w->fd, slot[i].write ? 1 : 0, (uint64_t)i, slot[i].off, (uint32_t)bs);
		if (slot[i].write) {
			fill(slot[i].buf, slot[i].off, (size_t)bs);
			wr(w->fd, slot[i].buf, (size_t)bs);
		}
	}
	for (int inflight = depth; inflight;) {
		uint8_t rep[16];
		rd(w->fd, rep, 16);
		uint64_t i = be64(rep + 8);
		if (i >= (uint64_t)depth) {
			fprintf(stderr, "nbdraw: reply with unknown cookie %llu\n", (unsigned long long)i);
			exit(2);
		}
		int err = be32(rep + 4) != 0;
		if (!slot[i].write && !err) {
			rd(w->fd, slot[i].buf, (size_t)bs);
			if (verify) {
				fill(check, slot[i].off, (size_t)bs);
				err = memcmp(check, slot[i].buf, (size_t)bs) != 0;
			}
		}
		w->errors += (uint64_t)err;
		if (w->nlat < MAXLAT)
			w->lat[w->nlat++] = (float)((now() - slot[i].t0) * 1e6);
		w->ops++;
		if (stop) {
			inflight--;
			continue;
		}
		if (gap_us)
			usleep((useconds_t)gap_us);
		slot[i].off = pick(w);
		slot[i].write = (int)(rand_r(&w->seed) % 100) < write_pct;
		slot[i].t0 = now();
		request(w->fd, slot[i].write ? 1 : 0, i, slot[i].off, (uint32_t)bs);
		if (slot[i].write) {
			fill(slot[i].buf, slot[i].off, (size_t)bs);
			wr(w->fd, slot[i].buf, (size_t)bs);
		}
	}
	request(w->fd, 2, 0, 0, 0);   /* NBD_CMD_DISC */
	return NULL;
}

static int cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "s:e:c:q:b:t:w:SVz:i:F:")) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'e': export_name = optarg; break;
		case 'c': conns = atoi(optarg); break;
		case 'q': depth = atoi(optarg); break;
		case 'b': bs = atoi(optarg); break;
		case 't': seconds = atoi(optarg); break;
		case 'w': write_pct = atoi(optarg); break;
		case 'S': seq = 1; break;
		case 'V': verify = 1; break;
		case 'z': span = strtoull(optarg, NULL, 0); break;
		case 'i': gap_us = atoi(optarg); break;
		case 'F': load_data(optarg); break;
		default: goto usage;
		}
	}
	if (!sock_path || conns < 1 || conns > 256 || depth < 1 || depth > MAXQ ||
	    bs < 4096 || bs % 4096 || seconds < 1 || write_pct < 0 || write_pct > 100)
		goto usage;
	struct worker *w = calloc((size_t)conns, sizeof *w);
	for (int i = 0; i < conns; i++)
		w[i].fd = nbd_connect();
	if (!span || span > export_size)
		span = export_size;
	uint64_t slice = span / (uint64_t)conns / (uint64_t)bs * (uint64_t)bs;
	if (slice < (uint64_t)bs) {
		fprintf(stderr, "nbdraw: span too small for %d connections of %d-byte requests\n",
		        conns, bs);
		return 2;
	}
	for (int i = 0; i < conns; i++) {
		w[i].id = i;
		w[i].lo = w[i].next = (uint64_t)i * slice;
		w[i].hi = w[i].lo + slice;
		w[i].seed = 12345u + (unsigned)i * 7919u;
		w[i].lat = malloc(MAXLAT * sizeof(float));
	}
	pthread_barrier_init(&started, NULL, (unsigned)conns + 1);
	for (int i = 0; i < conns; i++)
		pthread_create(&w[i].t, NULL, run, &w[i]);
	pthread_barrier_wait(&started);
	double t0 = now();
	sleep((unsigned)seconds);
	stop = 1;
	uint64_t ops = 0, errors = 0, n = 0;
	for (int i = 0; i < conns; i++) {
		pthread_join(w[i].t, NULL);
		ops += w[i].ops;
		errors += w[i].errors;
		n += w[i].nlat;
	}
	double dt = now() - t0;
	float *all = malloc((n ? n : 1) * sizeof(float));
	for (int i = 0, k = 0; i < conns; i++)
		for (uint64_t j = 0; j < w[i].nlat; j++)
			all[k++] = w[i].lat[j];
	qsort(all, n, sizeof(float), cmpf);
#define PCT(p) (n ? all[(size_t)((double)(n - 1) * (p))] : 0.0)
	printf("conns=%d qd=%d bs=%d write%%=%d %s%s iops=%.0f MBps=%.1f p50_us=%.1f "
	       "p99_us=%.1f p999_us=%.1f errors=%llu\n", conns, depth, bs, write_pct,
	       seq ? "seq" : "rand", verify ? " verify" : "", ops / dt,
	       ops * (double)bs / dt / 1e6, PCT(0.5), PCT(0.99), PCT(0.999),
	       (unsigned long long)errors);
	return errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: nbdraw -s SOCKET [-e EXPORT] [-c CONNS] [-q DEPTH] [-b BYTES] "
	        "[-t SECONDS] [-w WRITE%%] [-S] [-V] [-z SPAN] [-i GAP_US] [-F FILE]\n");
	return 2;
}
