/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdtool: load and integrity tool for an NBD export, on libnbd's C API.
 * N connections (one thread each), queue depth D on each, random or
 * sequential, reads/writes/a mix, 4 KiB..32 MiB requests. Prints IOPS,
 * MiB/s and latency p50/p99/p999.
 *
 * Verify mode (-V): every 4 KiB block written carries its offset and a
 * generation; the tool remembers each block's generation, so a read that
 * returns anything else names the block, what it expected and what it got.
 * It first writes the whole span, then runs the timed load (reads check,
 * writes bump generations), then reads the whole span back and checks it.
 * Each connection owns a slice of the span, and no two requests in flight
 * touch the same block, so every expectation is exact.
 *
 * libnbd is dlopen()ed (libnbd.so.0) and its few entry points declared
 * here, so that this builds with gcc alone on machines without libnbd-dev
 * (the GPU machines); `-DNBDTOOL_CHECK_HEADER` holds these declarations to
 * a real libnbd.h.
 *
 * Exit: 0 all good, 1 an I/O error or a mismatch, 2 usage or connect failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef NBDTOOL_CHECK_HEADER
#include <libnbd.h>
typedef nbd_completion_callback nt_completion;
#else
struct nbd_handle;
typedef struct {
	int (*callback)(void *user_data, int *error);
	void *user_data;
	void (*free)(void *user_data);
} nt_completion;
#endif

#define NBD_FUNCS(X) \
	X(nbd_create, struct nbd_handle *, (void)) \
	X(nbd_close, void, (struct nbd_handle *h)) \
	X(nbd_get_error, const char *, (void)) \
	X(nbd_set_export_name, int, (struct nbd_handle *h, const char *name)) \
	X(nbd_set_request_structured_replies, int, (struct nbd_handle *h, bool on)) \
	X(nbd_connect_unix, int, (struct nbd_handle *h, const char *path)) \
	X(nbd_connect_uri, int, (struct nbd_handle *h, const char *uri)) \
	X(nbd_get_size, int64_t, (struct nbd_handle *h)) \
	X(nbd_poll, int, (struct nbd_handle *h, int timeout)) \
	X(nbd_aio_in_flight, int, (struct nbd_handle *h)) \
	X(nbd_aio_pread, int64_t, (struct nbd_handle *h, void *buf, size_t count, \
	  uint64_t offset, nt_completion cb, uint32_t flags)) \
	X(nbd_aio_pwrite, int64_t, (struct nbd_handle *h, const void *buf, \
	  size_t count, uint64_t offset, nt_completion cb, uint32_t flags))

#define FNTYPE(sym, ret, params) typedef ret sym##_fn params;
NBD_FUNCS(FNTYPE)
#ifdef NBDTOOL_CHECK_HEADER
#define SAME(sym, ret, params) _Static_assert(__builtin_types_compatible_p( \
	sym##_fn, __typeof__(sym)), #sym " differs from libnbd.h");
NBD_FUNCS(SAME)
#endif
static struct {
#define PTR(sym, ret, params) sym##_fn *sym;
	NBD_FUNCS(PTR)
} L;

#define BLK 4096u
/* Latency histogram: 0.1 us steps up to 10 ms, then 10 us steps up to 1 s,
 * then one overflow bucket. */
#define LAT_FINE 100000
#define LAT_BUCKETS (LAT_FINE + 99000)

static const char *sock_path, *uri, *export_name = "";
static unsigned conns = 1, depth = 1, write_pct, seconds = 5;
static size_t bs = 4096;
static bool seq, verify, quiet;
static uint64_t span, export_size;
static uint32_t *gen_of;          /* verify: generation of every block */
static atomic_uchar *busy;        /* verify: block has a request in flight */
static atomic_bool stop;
static atomic_ulong errors, mismatches;

struct slot;
struct conn {
	pthread_t t;
	unsigned id;
	struct nbd_handle *h;
	uint64_t first, nblk;        /* slice, in blocks */
	uint64_t next_seq, rnd;
	unsigned inflight;
	unsigned long ops, bytes, rd, wr;
	uint32_t *lat;               /* histogram */
	struct slot *slots;
	int phase;                   /* 0 fill, 1 load, 2 read back */
};

struct slot {
	struct conn *c;
	char *buf;
	uint64_t off;
	size_t len;
	double t0;
	bool write, busy_set, inflight;
	uint32_t gen;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void stamp(char *p, uint64_t off, uint32_t gen)
{
	uint64_t g = (uint64_t)gen << 32 | 0x5653u;   /* "VS" */
	for (unsigned i = 0; i < BLK; i += 16) {
		uint64_t a = off, b = g ^ (i * 0x9e3779b97f4a7c15ull);
		memcpy(p + i, &a, 8);
		memcpy(p + i + 8, &b, 8);
	}
}

static void check_block(const char *p, uint64_t off, uint32_t gen)
{
	char want[BLK];
	uint64_t got_off, got_g;

	stamp(want, off, gen);
	if (memcmp(p, want, BLK) == 0)
		return;
	memcpy(&got_off, p, 8);
	memcpy(&got_g, p + 8, 8);
	if (atomic_fetch_add(&mismatches, 1) < 20)
		fprintf(stderr, "nbdtool: MISMATCH block at offset %llu: expected "
		        "generation %u, found data stamped offset %llu generation "
		        "%llu%s\n", (unsigned long long)off, gen,
		        (unsigned long long)got_off, (unsigned long long)(got_g >> 32),
		        (got_g & 0xffffffffu) == 0x5653u ? "" : " (not a stamp at all)");
}

static int done_cb(void *ud, int *error)
{
	struct slot *s = ud;
	struct conn *c = s->c;
	double us = (now() - s->t0) * 1e6;
	size_t b = us < 10000 ? (size_t)(us * 10) : LAT_FINE + (size_t)((us - 10000) / 10);

	c->lat[b < LAT_BUCKETS ? b : LAT_BUCKETS]++;
	c->inflight--;
	s->inflight = false;
	if (*error) {
		if (atomic_fetch_add(&errors, 1) < 20)
			fprintf(stderr, "nbdtool: %s of %zu bytes at %llu failed: %s\n",
			        s->write ? "write" : "read", s->len,
			        (unsigned long long)s->off, strerror(*error));
	} else {
		c->ops++;
		c->bytes += s->len;
		if (verify)
			for (size_t k = 0; k < s->len; k += BLK) {
				uint64_t blk = (s->off + k) / BLK;
				if (s->write)
					gen_of[blk] = s->gen;
				else
					check_block(s->buf + k, s->off + k, gen_of[blk]);
			}
	}
	if (s->busy_set)
		for (size_t k = 0; k < s->len; k += BLK)
			busy[(s->off + k) / BLK] = 0;
	s->busy_set = false;
	return 1;   /* retire the command */
}

/* Picks the next request of this connection; false when its slice is done
 * (fill and read-back phases). */
static bool pick(struct conn *c, struct slot *s)
{
	uint64_t per = bs / BLK, nreq = c->nblk / per, r;

	if (!nreq)
		return false;
	if (c->phase != 1) {
		if (c->next_seq >= nreq)
			return false;
		r = c->next_seq++;
		s->write = c->phase == 0;
	} else {
		s->write = write_pct && rnd(&c->rnd) % 100 < write_pct;
		if (seq)
			r = c->next_seq++ % nreq;
		else
			r = rnd(&c->rnd) % nreq;
		if (verify) {
			/* a request on a block already in flight: try a few others */
			for (int tries = 0; busy[c->first + r * per]; tries++) {
				if (tries > 8)
					return false;
				r = seq ? c->next_seq++ % nreq : rnd(&c->rnd) % nreq;
			}
		}
	}
	s->off = (c->first + r * per) * BLK;
	s->len = bs;
	return true;
}

static int submit(struct conn *c, struct slot *s)
{
	nt_completion cb = { .callback = done_cb, .user_data = s, .free = NULL };
	int64_t r;

	if (verify) {
		for (size_t k = 0; k < s->len; k += BLK)
			busy[(s->off + k) / BLK] = 1;
		s->busy_set = true;
		if (s->write) {
			s->gen = gen_of[s->off / BLK] + 1;
			for (size_t k = 0; k < s->len; k += BLK)
				stamp(s->buf + k, s->off + k, s->gen);
		}
	}
	s->t0 = now();
	r = s->write ? L.nbd_aio_pwrite(c->h, s->buf, s->len, s->off, cb, 0)
	             : L.nbd_aio_pread(c->h, s->buf, s->len, s->off, cb, 0);
	if (r < 0) {
		fprintf(stderr, "nbdtool: submit: %s\n", L.nbd_get_error());
		return -1;
	}
	c->inflight++;
	s->inflight = true;
	*(s->write ? &c->wr : &c->rd) += 1;
	return 0;
}

static int run_phase(struct conn *c, int phase)
{
	c->phase = phase;
	c->next_seq = 0;
	for (;;) {
		bool more = true;
		for (unsigned i = 0; i < depth && more && !(phase == 1 && stop); i++) {
			struct slot *s = &c->slots[i];
			if (s->inflight)
				continue;
			if (!pick(c, s)) {
				more = phase == 1;
				break;
			}
			if (submit(c, s) < 0)
				return -1;
		}
		if (!c->inflight && (!more || (phase == 1 && stop)))
			return 0;
		if (L.nbd_poll(c->h, 1000) < 0) {
			fprintf(stderr, "nbdtool: poll: %s\n", L.nbd_get_error());
			return -1;
		}
	}
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	if ((verify && run_phase(c, 0) < 0) || run_phase(c, 1) < 0 ||
	    (verify && run_phase(c, 2) < 0))
		atomic_fetch_add(&errors, 1);
	return NULL;
}

static struct nbd_handle *open_conn(void)
{
	struct nbd_handle *h = L.nbd_create();
	if (!h)
		return NULL;
	L.nbd_set_request_structured_replies(h, false);   /* like the kernel */
	L.nbd_set_export_name(h, export_name);
	if ((uri ? L.nbd_connect_uri(h, uri) : L.nbd_connect_unix(h, sock_path)) < 0) {
		fprintf(stderr, "nbdtool: connect: %s\n", L.nbd_get_error());
		L.nbd_close(h);
		return NULL;
	}
	return h;
}

static double pct(const uint64_t *hist, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(total * p), acc = 0;
	for (size_t i = 0; i <= LAT_BUCKETS; i++)
		if ((acc += hist[i]) > want)
			return i < LAT_FINE ? i / 10.0 : 10000.0 + (double)(i - LAT_FINE) * 10;
	return 1e6;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: nbdtool (-s SOCKET [-e EXPORT] | -u URI) [-c CONNS] [-q DEPTH]\n"
	        "               [-b BYTES] [-t SECONDS] [-w WRITE%%] [-S] [-V] [-z SPAN] [-Q]\n"
	        "  -S sequential (default random)  -V verify (fill, load, read back)\n"
	        "  -z bytes of the export to use (default all)  -Q print only the result\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int o;
	void *lib;

	while ((o = getopt(argc, argv, "s:e:u:c:q:b:t:w:SVz:Q")) != -1) {
		switch (o) {
		case 's': sock_path = optarg; break;
		case 'e': export_name = optarg; break;
		case 'u': uri = optarg; break;
		case 'c': conns = (unsigned)atoi(optarg); break;
		case 'q': depth = (unsigned)atoi(optarg); break;
		case 'b': bs = strtoull(optarg, NULL, 0); break;
		case 't': seconds = (unsigned)atoi(optarg); break;
		case 'w': write_pct = (unsigned)atoi(optarg); break;
		case 'S': seq = true; break;
		case 'V': verify = true; break;
		case 'z': span = strtoull(optarg, NULL, 0); break;
		case 'Q': quiet = true; break;
		default: usage();
		}
	}
	if ((!sock_path == !uri) || !conns || conns > 256 || !depth || depth > 1024 ||
	    bs < BLK || bs % BLK || bs > (32u << 20) || write_pct > 100)
		usage();
	lib = dlopen("libnbd.so.0", RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "nbdtool: %s (install libnbd0)\n", dlerror());
		return 2;
	}
#define RES(sym, ret, params) \
	if (!(L.sym = (sym##_fn *)dlsym(lib, #sym))) { \
		fprintf(stderr, "nbdtool: libnbd.so.0 lacks %s\n", #sym); \
		return 2; \
	}
	NBD_FUNCS(RES)

	struct conn *c = calloc(conns, sizeof *c);
	for (unsigned i = 0; i < conns; i++) {
		c[i].id = i;
		c[i].rnd = 0x9e3779b97f4a7c15ull * (i + 1);
		if (!(c[i].h = open_conn()))
			return 2;
		c[i].lat = calloc(LAT_BUCKETS + 1, sizeof *c[i].lat);
		c[i].slots = calloc(depth, sizeof *c[i].slots);
		for (unsigned k = 0; k < depth; k++) {
			c[i].slots[k].c = &c[i];
			if (posix_memalign((void **)&c[i].slots[k].buf, 4096, bs))
				return 2;
			/* Data, not zeros: a server may keep zero pages out of
			 * its store, and a benchmark must not measure that. */
			for (size_t b = 0; b < bs; b += BLK)
				stamp(c[i].slots[k].buf + b, b, 1);
		}
	}
	export_size = (uint64_t)L.nbd_get_size(c[0].h);
	if (!span || span > export_size)
		span = export_size;
	uint64_t nblk = span / BLK, slice = nblk / conns;
	if (slice < bs / BLK) {
		fprintf(stderr, "nbdtool: span too small for %u connections of %zu-byte requests\n",
		        conns, bs);
		return 2;
	}
	for (unsigned i = 0; i < conns; i++) {
		c[i].first = i * slice;
		c[i].nblk = slice;
	}
	if (verify) {
		gen_of = calloc(nblk, sizeof *gen_of);
		busy = calloc(nblk, 1);
		if (!gen_of || !busy)
			return 2;
	}

	double t0 = now();
	for (unsigned i = 0; i < conns; i++)
		pthread_create(&c[i].t, NULL, conn_main, &c[i]);
	/* Small steps, so that a failure ends the run early. In verify mode
	 * the fill is untimed: the load phase gets what is left of the time. */
	while (now() - t0 < seconds && !errors)
		usleep(10000);
	stop = true;
	uint64_t *hist = calloc(LAT_BUCKETS + 1, sizeof *hist), total = 0;
	unsigned long ops = 0, bytes = 0, rd = 0, wr = 0;
	for (unsigned i = 0; i < conns; i++) {
		pthread_join(c[i].t, NULL);
		ops += c[i].ops;
		bytes += c[i].bytes;
		rd += c[i].rd;
		wr += c[i].wr;
		for (size_t k = 0; k <= LAT_BUCKETS; k++)
			hist[k] += c[i].lat[k];
		L.nbd_close(c[i].h);
	}
	double t = now() - t0;
	for (size_t k = 0; k <= LAT_BUCKETS; k++)
		total += hist[k];
	if (!quiet)
		printf("nbdtool: %u conn x qd %u, %zu B %s, %u%% writes%s, span %llu MiB\n",
		       conns, depth, bs, seq ? "sequential" : "random", write_pct,
		       verify ? ", verify" : "", (unsigned long long)(span >> 20));
	printf("IOPS %.0f  MiB/s %.1f  MB/s %.1f  lat p50 %.1f us p99 %.1f us "
	       "p999 %.1f us  ops %lu (r %lu w %lu)  errors %lu  mismatches %lu%s\n",
	       ops / t, bytes / t / 1048576.0, bytes / t / 1e6, pct(hist, total, 0.5),
	       pct(hist, total, 0.99), pct(hist, total, 0.999), ops, rd, wr,
	       (unsigned long)errors, (unsigned long)mismatches,
	       verify ? "  (incl. fill and read-back)" : "");
	if (verify && !errors && !mismatches)
		printf("nbdtool: verified %llu MiB written and read back\n",
		       (unsigned long long)((uint64_t)slice * conns * BLK >> 20));
	return errors || mismatches ? 1 : 0;
}
