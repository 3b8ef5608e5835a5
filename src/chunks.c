/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "chunks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nbd.h"

/* Never ROTATIONAL: swap must see a non-rotational device. MULTI_CONN
 * holds because every write reaches the backend before it is
 * acknowledged. */
#define EXPORT_FLAGS (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | \
                      NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | \
                      NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_CAN_MULTI_CONN)

void vs_chunks_init(struct vs_chunks *t, const char *export_name)
{
	pthread_mutex_init(&t->mu, NULL);
	t->export_name = export_name;
}

/* Takes a free slot and serves mem in it; under the lock. */
static int place(struct vs_chunks *t, unsigned gpu, uintptr_t mem, uint64_t size,
                 unsigned *idx)
{
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++) {
		struct vs_chunk *c = &t->c[i];
		if (c->state != VS_CHUNK_EMPTY)
			continue;
		if (vs_store_init_at(&c->st, t->gpus[gpu], mem, size))
			return -1;
		c->gpu = gpu;
		c->mem = mem;
		c->size = size;
		c->clients = 0;
		c->state = VS_CHUNK_SERVING;
		*idx = i;
		return 0;
	}
	return -1;
}

int vs_chunks_adopt(struct vs_chunks *t, unsigned gpu, uintptr_t mem, uint64_t size)
{
	unsigned idx;
	pthread_mutex_lock(&t->mu);
	int rc = place(t, gpu, mem, size, &idx);
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
		return -1;
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
		snprintf(why, n, "no room for the chunk's zero-page map");
		return -1;
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
	/* FREEING keeps the slot from attach and from reuse while the memory
	 * goes back without the lock held. */
	c->state = VS_CHUNK_FREEING;
	c->gen++;
	pthread_mutex_unlock(&t->mu);

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

/* ---- names ------------------------------------------------------------- */

/* "<export>.<index>" -> index; the bare name and "" -> the first chunk. */
static int lookup(struct vs_chunks *t, const uint8_t *name, uint32_t len)
{
	size_t el = strlen(t->export_name);
	if (len == 0 || (len == el && !memcmp(name, t->export_name, el))) {
		for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
			if (t->c[i].state == VS_CHUNK_SERVING)
				return (int)i;
		return -1;
	}
	if (len < el + 2 || len > el + 3 || memcmp(name, t->export_name, el) ||
	    name[el] != '.')
		return -1;
	unsigned v = 0;
	for (uint32_t k = (uint32_t)el + 1; k < len; k++) {
		if (name[k] < '0' || name[k] > '9')
			return -1;
		v = v * 10 + (unsigned)(name[k] - '0');
	}
	if ((len == el + 3 && name[el + 1] == '0') || v >= VS_MAX_CHUNKS ||
	    t->c[v].state != VS_CHUNK_SERVING)
		return -1;
	return (int)v;
}

static int x_find(void *ctx, const uint8_t *name, uint32_t len, struct vs_export *e)
{
	struct vs_chunks *t = ctx;
	pthread_mutex_lock(&t->mu);
	int i = lookup(t, name, len);
	if (i >= 0) {
		e->name = t->export_name;
		e->size = t->c[i].size;
		e->flags = EXPORT_FLAGS;
		e->cookie = (uint64_t)t->c[i].gen << 8 | (unsigned)i;
	}
	pthread_mutex_unlock(&t->mu);
	return i >= 0 ? 0 : -1;
}

static int x_list(void *ctx, unsigned nth, char *buf, size_t n)
{
	struct vs_chunks *t = ctx;
	int found = -1;
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0, k = 0; i < VS_MAX_CHUNKS && found < 0; i++)
		if (t->c[i].state == VS_CHUNK_SERVING && k++ == nth)
			found = (int)i;
	pthread_mutex_unlock(&t->mu);
	if (found < 0)
		return -1;
	snprintf(buf, n, "%s.%d", t->export_name, found);
	return 0;
}

struct vs_exports vs_chunks_exports(struct vs_chunks *t)
{
	return (struct vs_exports){ x_find, x_list, t };
}

int vs_chunks_attach(struct vs_chunks *t, uint64_t cookie, struct vs_store **st,
                     unsigned *gpu)
{
	struct vs_chunk *c = &t->c[cookie & 0xff];
	int rc = -1;
	pthread_mutex_lock(&t->mu);
	if (c->state == VS_CHUNK_SERVING && c->gen == (uint32_t)(cookie >> 8)) {
		c->clients++;
		*st = &c->st;
		*gpu = c->gpu;
		rc = 0;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

void vs_chunks_detach(struct vs_chunks *t, uint64_t cookie)
{
	struct vs_chunk *c = &t->c[cookie & 0xff];
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
		out[n++] = (struct vs_chunk_info){ .idx = i, .gpu = c->gpu, .state = c->state,
		                                   .clients = c->clients, .size = c->size,
		                                   .used = vs_store_used(&c->st) };
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

uint64_t vs_chunks_on(struct vs_chunks *t, unsigned gpu, unsigned *count)
{
	uint64_t b = 0;
	unsigned k = 0;
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
		if (t->c[i].state != VS_CHUNK_EMPTY && t->c[i].gpu == gpu) {
			b += t->c[i].size;
			k++;
		}
	pthread_mutex_unlock(&t->mu);
	if (count)
		*count = k;
	return b;
}
