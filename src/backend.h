/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The storage behind the chunks. The core (transports, engine, zero-page
 * map) never knows what holds the bytes; a backend only moves contiguous
 * runs between host staging memory and its own memory.
 *
 * Rules every backend keeps, because the kernel's swap path depends on them:
 *  - allocation happens in open(), alloc(), buf_alloc() and queue_open(),
 *    never on the I/O path: xfer(), flush() and warm() allocate nothing,
 *    load no library and create no thread.
 *  - xfer() returns only when every segment has reached its destination
 *    (or failed): a WRITE is acknowledged right after, so "submitted" is
 *    not good enough.
 *  - per-segment errors go into seg->err (0 or an errno, normally EIO); a
 *    failure is logged by the backend with its own cause (e.g. CUresult).
 *
 * Errors: every op returns 0 or a positive errno (xfer() a count, its
 * errors in the segments). The backend logs the cause behind the errno,
 * which only it can name, except for alloc()'s ENOMEM: that one is
 * expected (the caller tries a smaller size) and is described in why.
 */
#ifndef VS_BACKEND_H
#define VS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vs_config;

enum vs_dir { VS_TO_BACKEND = 0, VS_FROM_BACKEND = 1 };

struct vs_seg {
	uintptr_t mem;     /* the allocation (from alloc()) the offset is in */
	uint64_t off;      /* byte offset in that allocation, multiple of 4096 */
	void *buf;         /* host memory from buf_alloc() */
	uint32_t len;      /* multiple of 4096 */
	uint8_t dir;       /* enum vs_dir */
	int err;           /* out: 0 or errno */
};

struct vs_backend;   /* one per GPU (the host backend: one in all) */

/* The most GPUs the daemon opens, one struct vs_backend each. Everything
 * kept per GPU counts up to it: the chunks' GPU numbers, a connection's
 * queues (one on each GPU), the policy's per-GPU state. */
#define VS_MAX_GPUS 8
struct vs_queue;     /* one per connection worker: a stream, scratch space */

struct vs_backend_ops {
	const char *name;
	const char *memory;   /* what it serves from, for messages: "VRAM", "RAM" */
	/* Its free memory is the RAM that swap relieves: the tier never
	 * follows the reserve (it would swap off just when pages have nowhere
	 * else to go). */
	bool system_ram;
	/* Find and prepare the device; no allocation yet. On failure log one
	 * clear line. */
	int (*open)(struct vs_backend *be, const struct vs_config *cfg);
	/* How much memory is free now (and in all). */
	int (*mem_info)(struct vs_backend *be, uint64_t *free_bytes, uint64_t *total_bytes);
	/* Allocate exactly size bytes into *mem (never 0): ENOMEM when a
	 * smaller size may still work (why names the failure, nothing is
	 * logged), another errno on any other failure. A backend holds any number of
	 * allocations (the chunks of the swap tier); it is called off the I/O
	 * path. The size policy (percentages, back-off, minimum) is the
	 * core's: see vs_backend_alloc_sized(). */
	int (*alloc)(struct vs_backend *be, uint64_t size, uintptr_t *mem, char *why,
	             size_t why_len);
	/* Gives an allocation back; no request may be using it. Memory that
	 * was shared lives on until every descriptor share() gave is closed. */
	void (*release)(struct vs_backend *be, uintptr_t mem, uint64_t size);
	/* Optional, with adopt(): memory that outlives the process. share()
	 * gives a new descriptor (the caller closes it) that keeps allocation
	 * mem alive whoever holds it; adopt() serves such a descriptor's
	 * memory again in this process, as an allocation of exactly size
	 * bytes: EINVAL (why says so) when the descriptor holds other memory
	 * or another size. Where the device cannot do it, open() says why in
	 * durable_why and neither is called. Off the I/O path. */
	int (*share)(struct vs_backend *be, uintptr_t mem, int *fd);
	int (*adopt)(struct vs_backend *be, int fd, uint64_t size, uintptr_t *mem, char *why,
	             size_t why_len);
	/* Optional: how many devices this backend can open (GPUs); 1 if NULL. */
	int (*count)(struct vs_backend *be);
	/* Optional: who holds the memory, after even the minimum failed. */
	void (*holders)(struct vs_backend *be, char *out, size_t len);
	/* Host staging memory (pinned for DMA where it matters). Start-up only. */
	void *(*buf_alloc)(struct vs_backend *be, size_t len);
	void (*buf_free)(struct vs_backend *be, void *p, size_t len);
	/* Per-worker context. Start-up only. */
	int (*queue_open)(struct vs_backend *be, struct vs_queue **q);
	void (*queue_close)(struct vs_queue *q);
	/* Move n segments, in order; returns the number of failed segments. */
	unsigned (*xfer)(struct vs_queue *q, struct vs_seg *segs, unsigned n);
	/* Make every acknowledged write durable (a no-op where xfer already is). */
	int (*flush)(struct vs_queue *q);
	/* Optional: a worker waiting for its next request calls this now and
	 * then, for a bounded time after its last one, so that the path to
	 * the memory is not asleep when that request comes (a GPU copy after
	 * a quiet spell is several times slower). Must not block or fail:
	 * the next xfer() on the queue sees anything it left behind. */
	void (*warm)(struct vs_queue *q);
	void (*close)(struct vs_backend *be);
};

struct vs_backend {
	const struct vs_backend_ops *ops;
	/* Shown by logs and the status file ("NVIDIA H100 80GB HBM3", "host memory"). */
	char device_name[128];
	char device_uuid[64];     /* "GPU-..." or "" */
	char device_bus_id[32];   /* "0000:65:00.0" or "" */
	char where[32];           /* for messages: " on GPU 0", or "" */
	/* Empty when allocations can outlive the process (share/adopt);
	 * otherwise why not, for status ("the driver lacks cuMemCreate"). */
	char durable_why[160];
	void *priv;
};

extern const struct vs_backend_ops vs_backend_host;
extern const struct vs_backend_ops vs_backend_cuda;

/* Looks a backend up by name; NULL if unknown. */
const struct vs_backend_ops *vs_backend_find(const char *name);
/* Every backend's name (with memory: "cuda (VRAM)"), after lead and
 * separated by commas, last before the last one: "cuda or host". */
void vs_backend_names(char *out, size_t n, const char *lead, const char *last,
                      bool memory);

/* Allocates as the settings say: want bytes (already resolved), backing
 * off by --step down to --min-size when allocation fails. Fills *mem and
 * *got; when no size works, logs why and returns ENOMEM (or the backend's
 * errno for a failure other than running out). */
int vs_backend_alloc_sized(struct vs_backend *be, const struct vs_config *cfg, uint64_t want,
                           uintptr_t *mem, uint64_t *got);

/* Logs that size is below --min-size, naming the memory free. */
void vs_backend_log_too_small(struct vs_backend *be, const struct vs_config *cfg,
                              uint64_t size);

/* --size resolved against what is free now (0 when that cannot be read). */
uint64_t vs_backend_want(struct vs_backend *be, const struct vs_config *cfg);

/* "512 MiB", "1.50 GiB": sizes in messages. */
void vs_fmt_size(char *b, size_t n, uint64_t v);

#endif
