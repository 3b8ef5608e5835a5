/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The swap tier as chunks. Each chunk is one backend allocation on one GPU
 * with its own zero-page map, served as its own NBD export named
 * "<export>.<index>" (the kernel attaches each as its own nbd device and
 * swap area). The bare export name and the default name reach the lowest
 * numbered chunk, so a one-chunk daemon looks as a single export always did.
 *
 * Chunks are added and freed by the control thread only, never on the I/O
 * path. A connection pins its chunk from handshake to disconnect; a pinned
 * chunk is never freed, so a worker's store can never vanish under it.
 * The table's lock is taken at handshake, disconnect, add, free and status,
 * never per request.
 */
#ifndef VS_CHUNKS_H
#define VS_CHUNKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "handshake.h"
#include "store.h"

#define VS_MAX_GPUS 8
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
	const char *export_name;
	unsigned ngpus;
	struct vs_backend *gpus[VS_MAX_GPUS];
	struct vs_chunk c[VS_MAX_CHUNKS];
};

/* One chunk as status and the control socket report it. */
struct vs_chunk_info {
	unsigned idx, gpu, state, clients;
	uint64_t size, used;
};

void vs_chunks_init(struct vs_chunks *t, const char *export_name);
/* Serves an allocation already made on gpu (the first, sized one). */
int vs_chunks_adopt(struct vs_chunks *t, unsigned gpu, uintptr_t mem, uint64_t size);
/* Allocates size bytes on gpu and serves them as a new chunk; its index
 * in *idx. 0, ENOMEM (why says what failed) or -1 (logged / why). */
int vs_chunks_add(struct vs_chunks *t, unsigned gpu, uint64_t size, unsigned *idx,
                  char *why, size_t n);
/* Frees chunk idx: refused (EBUSY) while a client is attached, ENOENT if
 * there is no such chunk. */
int vs_chunks_free(struct vs_chunks *t, unsigned idx);
/* Frees every chunk nobody is attached to (exit). */
void vs_chunks_free_all(struct vs_chunks *t);

/* For the handshake: chunk names, lookups (cookie = which chunk, which
 * generation). */
struct vs_exports vs_chunks_exports(struct vs_chunks *t);
/* Pins the chunk a handshake chose; -1 if it was freed meanwhile. */
int vs_chunks_attach(struct vs_chunks *t, uint64_t cookie, struct vs_store **st,
                     unsigned *gpu);
void vs_chunks_detach(struct vs_chunks *t, uint64_t cookie);

/* Snapshot of the serving chunks (at most VS_MAX_CHUNKS); returns the count. */
unsigned vs_chunks_list(struct vs_chunks *t, struct vs_chunk_info *out);
/* Bytes and chunks held on one GPU. */
uint64_t vs_chunks_on(struct vs_chunks *t, unsigned gpu, unsigned *count);

#endif
