/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "chunks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* A key is the index under the generation: a freed chunk's key pins
 * nothing, even once its slot serves again. */
_Static_assert(VS_MAX_CHUNKS <= 256, "a key holds the index in 8 bits");
#define KEY(i, gen) ((uint64_t)(gen) << 8 | (i))
#define KEY_IDX(key) ((unsigned)((key) & 0xff))
#define KEY_GEN(key) ((uint32_t)((key) >> 8))

void vs_chunks_init(struct vs_chunks *t)
{
	pthread_mutex_init(&t->mu, NULL);
}

/* Takes a free slot and serves mem in it; under the lock. */
static int place(struct vs_chunks *t, unsigned gpu, uintptr_t mem, uint64_t size,
                 unsigned *idx)
{
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++) {
		struct vs_chunk *c = &t->c[i];
		if (c->state != VS_CHUNK_EMPTY)
			continue;
		if (vs_store_init(&c->st, t->gpus[gpu], mem, size, t->shape))
			return ENOMEM;
		c->gpu = gpu;
		c->mem = mem;
		c->size = size;
		c->clients = 0;
		c->state = VS_CHUNK_SERVING;
		*idx = i;
		if (t->served)
			t->served(t->hook_arg, t, i);
		return 0;
	}
	return ENOSPC;
}

int vs_chunks_adopt(struct vs_chunks *t, unsigned gpu, uintptr_t mem, uint64_t size)
{
	unsigned idx;
	pthread_mutex_lock(&t->mu);
	int rc = place(t, gpu, mem, size, &idx);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int vs_chunks_place(struct vs_chunks *t, unsigned idx, unsigned gpu, uintptr_t mem,
                    uint64_t size, uint32_t gen, int zfd)
{
	if (idx >= VS_MAX_CHUNKS)
		return EINVAL;
	struct vs_chunk *c = &t->c[idx];
	pthread_mutex_lock(&t->mu);
	int rc = c->state != VS_CHUNK_EMPTY ? EEXIST
	         : vs_store_adopt(&c->st, t->gpus[gpu], mem, size, t->shape, zfd);
	if (!rc) {
		*c = (struct vs_chunk){ .state = VS_CHUNK_SERVING, .gpu = gpu, .size = size,
		                        .mem = mem, .gen = gen, .st = c->st };
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int vs_chunks_add(struct vs_chunks *t, unsigned gpu, uint64_t size, unsigned *idx,
                  char *why, size_t n)
{
	struct vs_backend *be = t->gpus[gpu];
	uintptr_t mem = 0;
	unsigned used = 0;
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
		used += t->c[i].state != VS_CHUNK_EMPTY;
	pthread_mutex_unlock(&t->mu);
	if (used >= VS_MAX_CHUNKS) {
		snprintf(why, n, "all %d chunks are in use: raise VRAM_SWAP_CHUNK", VS_MAX_CHUNKS);
		return ENOSPC;
	}
	/* The allocation runs without the lock: cuMemAlloc of gigabytes can
	 * take a while, and handshakes must not wait for it. */
	int rc = be->ops->alloc(be, size, &mem, why, n);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->mu);
	rc = place(t, gpu, mem, size, idx);
	pthread_mutex_unlock(&t->mu);
	if (rc) {
		be->ops->release(be, mem, size);
		snprintf(why, n, "no room for the chunk's page map");
		return rc;
	}
	return 0;
}

int vs_chunks_free(struct vs_chunks *t, unsigned idx)
{
	if (idx >= VS_MAX_CHUNKS)
		return ENOENT;
	struct vs_chunk *c = &t->c[idx];
	pthread_mutex_lock(&t->mu);
	if (c->state != VS_CHUNK_SERVING) {
		pthread_mutex_unlock(&t->mu);
		return ENOENT;
	}
	if (c->clients) {
		pthread_mutex_unlock(&t->mu);
		return EBUSY;
	}
	/* FREEING keeps the slot from pinning and from reuse while the memory
	 * goes back without the lock held. */
	c->state = VS_CHUNK_FREEING;
	c->gen++;
	pthread_mutex_unlock(&t->mu);
	if (t->freeing)
		t->freeing(t->hook_arg, idx);

	struct vs_backend *be = t->gpus[c->gpu];
	vs_store_free(&c->st);
	be->ops->release(be, c->mem, c->size);

	pthread_mutex_lock(&t->mu);
	c->mem = 0;
	c->state = VS_CHUNK_EMPTY;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

void vs_chunks_free_all(struct vs_chunks *t)
{
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
		vs_chunks_free(t, i);
}

/* ---- lookup and pinning ---------------------------------------------- */

/* Under the lock. */
static void ref_of(const struct vs_chunks *t, unsigned i, struct vs_chunk_ref *r)
{
	*r = (struct vs_chunk_ref){ .idx = i, .size = vs_store_bytes(&t->c[i].st),
	                            .key = KEY(i, t->c[i].gen) };
}

int vs_chunks_ref(struct vs_chunks *t, unsigned idx, struct vs_chunk_ref *r)
{
	int rc = ENOENT;
	if (idx >= VS_MAX_CHUNKS)
		return rc;
	pthread_mutex_lock(&t->mu);
	if (t->c[idx].state == VS_CHUNK_SERVING) {
		ref_of(t, idx, r);
		rc = 0;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int vs_chunks_nth(struct vs_chunks *t, unsigned nth, struct vs_chunk_ref *r)
{
	int rc = ENOENT;
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0, k = 0; i < VS_MAX_CHUNKS; i++)
		if (t->c[i].state == VS_CHUNK_SERVING && k++ == nth) {
			ref_of(t, i, r);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int vs_chunks_pin(struct vs_chunks *t, uint64_t key)
{
	if (KEY_IDX(key) >= VS_MAX_CHUNKS)
		return ENOENT;
	struct vs_chunk *c = &t->c[KEY_IDX(key)];
	int rc = ENOENT;
	pthread_mutex_lock(&t->mu);
	if (c->state == VS_CHUNK_SERVING && c->gen == KEY_GEN(key)) {
		c->clients++;
		rc = 0;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

void vs_chunks_pinned(struct vs_chunks *t, uint64_t key, struct vs_store **st, unsigned *gpu)
{
	/* Pinned, so neither freed nor moved: no lock needed. */
	struct vs_chunk *c = &t->c[KEY_IDX(key)];
	*st = &c->st;
	*gpu = c->gpu;
}

void vs_chunks_unpin(struct vs_chunks *t, uint64_t key)
{
	if (KEY_IDX(key) >= VS_MAX_CHUNKS)
		return;
	struct vs_chunk *c = &t->c[KEY_IDX(key)];
	pthread_mutex_lock(&t->mu);
	if (c->clients)
		c->clients--;
	pthread_mutex_unlock(&t->mu);
}

unsigned vs_chunks_list(struct vs_chunks *t, struct vs_chunk_info *out)
{
	unsigned n = 0;
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++) {
		struct vs_chunk *c = &t->c[i];
		if (c->state != VS_CHUNK_SERVING)
			continue;
		struct vs_store_count k;
		vs_store_count(&c->st, &k);
		out[n++] = (struct vs_chunk_info){ .idx = i, .gpu = c->gpu, .state = c->state,
		                                   .clients = c->clients, .size = c->size,
		                                   .used = k.used, .stored = k.stored,
		                                   .same = k.same, .compr = k.compr,
		                                   .exported = vs_store_bytes(&c->st) };
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* Bytes and chunks held on GPU gpu, or on every GPU when all is set. */
static uint64_t held(struct vs_chunks *t, bool all, unsigned gpu, unsigned *count)
{
	uint64_t b = 0;
	unsigned k = 0;
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
		if (t->c[i].state != VS_CHUNK_EMPTY && (all || t->c[i].gpu == gpu)) {
			b += t->c[i].size;
			k++;
		}
	pthread_mutex_unlock(&t->mu);
	if (count)
		*count = k;
	return b;
}

uint64_t vs_chunks_on(struct vs_chunks *t, unsigned gpu, unsigned *count)
{
	return held(t, false, gpu, count);
}

uint64_t vs_chunks_held(struct vs_chunks *t, unsigned *count)
{
	return held(t, true, 0, count);
}
