/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The swap tier as chunks. Each chunk is one backend allocation on one GPU
 * with its own page map (store.h), known by its index in the table. What a
 * transport calls a chunk on its wire (an NBD export name, a ublk device)
 * is the transport's business: this table knows no wire.
 *
 * Chunks are added and freed by the control thread only, never on the I/O
 * path. A transport looks a chunk up (vs_chunks_ref), and pins it for as
 * long as it serves it (vs_chunks_pin); a pinned chunk is never freed, so
 * a worker's store can never vanish under it. The table's lock is taken at
 * lookup, pin, unpin, add, free and status, never per request.
 */
#ifndef VS_CHUNKS_H
#define VS_CHUNKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "store.h"

#define VS_MAX_CHUNKS 64

enum vs_chunk_state { VS_CHUNK_EMPTY, VS_CHUNK_SERVING, VS_CHUNK_FREEING };

struct vs_chunk {
	unsigned state;      /* enum vs_chunk_state */
	unsigned gpu;        /* index into vs_chunks.gpus */
	uint64_t size;
	uintptr_t mem;
	uint32_t gen;        /* bumped on every free: a stale cookie cannot pin */
	unsigned clients;    /* connections that chose this chunk */
	struct vs_store st;
};

struct vs_chunks {
	pthread_mutex_t mu;
	/* Told when a chunk starts serving (under the lock) and when it is
	 * about to be freed, so that its memory can be kept past the process
	 * (handover.c); NULL: nobody. */
	void (*served)(void *arg, struct vs_chunks *t, unsigned idx);
	void (*freeing)(void *arg, unsigned idx);
	void *hook_arg;
	unsigned ngpus;
	struct vs_backend *gpus[VS_MAX_GPUS];
	struct vs_store_shape shape;   /* of every chunk's store */
	struct vs_chunk c[VS_MAX_CHUNKS];
};

/* One chunk as status and the control socket report it. */
struct vs_chunk_info {
	unsigned idx, gpu, state, clients;
	uint64_t size;     /* of its memory */
	uint64_t used;     /* bytes of the chunk's memory holding data */
	uint64_t stored;   /* pages written since their last discard */
	uint64_t same;     /* of those, same-filled: kept as one word */
	uint64_t compr;    /* bytes of the others after compression */
	uint64_t exported; /* bytes it offers (more than size when compressing) */
};

/* A chunk as a transport found it: the key pins only that chunk, not one
 * added later under the same index after it was freed. */
struct vs_chunk_ref {
	unsigned idx;
	uint64_t size;     /* what it offers: its store's bytes */
	uint64_t key;
};

void vs_chunks_init(struct vs_chunks *t);
/* Errors are 0 or a positive errno, as in the layers below. */

/* Serves an allocation already made on gpu (the first, sized one): 0,
 * ENOSPC (no free index) or ENOMEM (no room for its page map). */
int vs_chunks_adopt(struct vs_chunks *t, unsigned gpu, uintptr_t mem, uint64_t size);
/* Serves, at index idx and generation gen, memory and a page map
 * (memfd zfd, copied) that an earlier daemon handed over: 0, EEXIST (idx
 * in use), EINVAL (the map is not of that size), ENOMEM. */
int vs_chunks_place(struct vs_chunks *t, unsigned idx, unsigned gpu, uintptr_t mem,
                    uint64_t size, uint32_t gen, int zfd);
/* Allocates size bytes on gpu and serves them as a new chunk; its index
 * in *idx. 0, or an errno: ENOSPC (every index in use) and ENOMEM with why
 * saying what failed, another from the backend, which logged it. */
int vs_chunks_add(struct vs_chunks *t, unsigned gpu, uint64_t size, unsigned *idx,
                  char *why, size_t n);
/* Frees chunk idx: refused (EBUSY) while it is pinned, ENOENT if
 * there is no such chunk. */
int vs_chunks_free(struct vs_chunks *t, unsigned idx);
/* Frees every chunk nothing pins (exit). */
void vs_chunks_free_all(struct vs_chunks *t);

/* The serving chunk idx: 0, or ENOENT if there is none. */
int vs_chunks_ref(struct vs_chunks *t, unsigned idx, struct vs_chunk_ref *r);
/* The nth serving chunk in index order (0: the lowest numbered): 0, or
 * ENOENT past the last. */
int vs_chunks_nth(struct vs_chunks *t, unsigned nth, struct vs_chunk_ref *r);
/* Pins the chunk key names: 0, or ENOENT if it was freed since it was
 * looked up. */
int vs_chunks_pin(struct vs_chunks *t, uint64_t key);
void vs_chunks_unpin(struct vs_chunks *t, uint64_t key);
/* A pinned chunk's store, and the GPU whose queue moves its data. */
void vs_chunks_pinned(struct vs_chunks *t, uint64_t key, struct vs_store **st, unsigned *gpu);

/* Snapshot of the serving chunks (at most VS_MAX_CHUNKS); returns the count. */
unsigned vs_chunks_list(struct vs_chunks *t, struct vs_chunk_info *out);
/* Bytes and chunks held on one GPU. */
uint64_t vs_chunks_on(struct vs_chunks *t, unsigned gpu, unsigned *count);
/* Bytes and chunks held on all of them. */
uint64_t vs_chunks_held(struct vs_chunks *t, unsigned *count);

#endif
