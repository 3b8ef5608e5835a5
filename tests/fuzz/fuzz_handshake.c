/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: arbitrary client bytes against the handshake, over the
 * chunks as the daemon names them (nbd_exports.c on a real chunk table):
 * chunks 1, 2, 10 and 63 serve, 0 was freed, so the default name reaches
 * chunk 1. The backend behind the table moves no data (nothing here
 * does). An export the client chose must pin a serving chunk of the size
 * the handshake announced. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_exports.h"

struct mem { const uint8_t *p; size_t n; };

static int fread_(void *ctx, void *buf, size_t n)
{
	struct mem *m = ctx;
	if (m->n < n)
		return -1;
	memcpy(buf, m->p, n);
	m->p += n;
	m->n -= n;
	return 0;
}

static int fwrite_(void *ctx, const void *buf, size_t n)
{
	(void)ctx;
	(void)buf;
	(void)n;
	return 0;
}

static void no_release(struct vs_backend *be, uintptr_t mem, uint64_t size)
{
	(void)be; (void)mem; (void)size;
}

static const struct vs_backend_ops ops = { .name = "fuzz", .release = no_release };
static struct vs_backend be = { .ops = &ops };
static struct vs_chunks tab;
static const struct vs_nbd_source src = { &tab, "vram-swap" };

/* Chunk i is (i + 1) pages, so a size tells which chunk was reached. */
static void setup(void)
{
	vs_chunks_init(&tab);
	tab.ngpus = 1;
	tab.gpus[0] = &be;
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
		if (vs_chunks_adopt(&tab, 0, 0x1000 * (i + 1), 4096 * (i + 1)))
			abort();
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
		if (i != 1 && i != 2 && i != 10 && i != 63 && vs_chunks_free(&tab, i))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vs_exports x;
	if (!x.find) {
		setup();
		x = vs_nbd_exports(&src);
	}
	struct mem m = { data, size };
	struct vs_hs_io io = { fread_, fwrite_, &m };
	struct vs_export e;
	const char *why;
	if (vs_handshake(&io, &x, &e, &why) != VS_HS_GO)
		return 0;
	struct vs_store *st;
	unsigned gpu;
	if (vs_chunks_pin(&tab, e.cookie, &st, &gpu) || gpu != 0 || st->pages * 4096 != e.size)
		abort();
	unsigned idx = (unsigned)(e.size / 4096 - 1);
	if (idx != 1 && idx != 2 && idx != 10 && idx != 63)
		abort();
	vs_chunks_unpin(&tab, e.cookie);
	return 0;
}
