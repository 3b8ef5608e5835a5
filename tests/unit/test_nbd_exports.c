/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The chunks as NBD exports: names to chunks (EXPORT.N, the bare and the
 * empty name), the list, and a freed chunk's key pinning nothing. The
 * table is the real one; its backend moves no data (nothing here does). */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "nbd.h"
#include "nbd_exports.h"

#define MiB (1u << 20)

static void t_release(struct vs_backend *be, uintptr_t mem, uint64_t size)
{
	(void)be; (void)mem; (void)size;
}

static const struct vs_backend_ops ops = { .name = "test", .release = t_release };

/* Size of the chunk name reaches, or 0 if it reaches none. */
static uint64_t find(const struct vs_exports *x, const char *name, struct vs_export *e)
{
	struct vs_export tmp;
	if (!e)
		e = &tmp;
	return x->find(x->ctx, (const uint8_t *)name, (uint32_t)strlen(name), e) ? 0 : e->size;
}

int main(void)
{
	static struct vs_chunks tab;
	struct vs_backend be = { .ops = &ops };
	vs_chunks_init(&tab);
	tab.ngpus = 1;
	tab.gpus[0] = &be;
	/* Chunk i is (i + 1) MiB, so a lookup shows which one it reached;
	 * 0, 1 and 12 serve, 2 to 11 were freed. */
	for (unsigned i = 0; i < 13; i++)
		CHECK(vs_chunks_adopt(&tab, 0, 0x1000 * (i + 1), (i + 1) * MiB) == 0);
	for (unsigned i = 2; i < 12; i++)
		CHECK(vs_chunks_free(&tab, i) == 0);
	const struct vs_nbd_source src = { &tab, "vram-swap" };
	const struct vs_exports x = vs_nbd_exports(&src);

	struct vs_export e;
	CHECK_EQ(find(&x, "", &e), 1 * MiB);
	CHECK_EQ(find(&x, "vram-swap", NULL), 1 * MiB);
	CHECK_EQ(find(&x, "vram-swap.0", NULL), 1 * MiB);
	CHECK_EQ(find(&x, "vram-swap.1", NULL), 2 * MiB);
	CHECK_EQ(find(&x, "vram-swap.12", NULL), 13 * MiB);
	/* Swap needs a device that is not rotational, and several
	 * connections to one export (MULTI_CONN). */
	CHECK(!(e.flags & NBD_FLAG_ROTATIONAL) && (e.flags & NBD_FLAG_CAN_MULTI_CONN) &&
	      (e.flags & NBD_FLAG_SEND_TRIM) && (e.flags & NBD_FLAG_SEND_FLUSH));

	static const char *const none[] = {
		"vram-swap.2", "vram-swap.11", "vram-swap.13", "vram-swap.63", "vram-swap.64",
		"vram-swap.99", "vram-swap.01", "vram-swap.00", "vram-swap.012",
		"vram-swap.100", "vram-swap.4294967296", "vram-swap.18446744073709551617",
		"vram-swap.", "vram-swap.-1", "vram-swap.1x", "vram-swap.x1", "vram-swap. 1",
		"vram-swapX1", "vram-swap1", "vram-swa", "vram-swap ", "other", "other.1",
		".1", "1",
	};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
		if (find(&x, none[i], NULL)) {
			failures++;
			fprintf(stderr, "'%s' reached a chunk\n", none[i]);
		}
	/* A name with a NUL inside is not the name before it. */
	CHECK(x.find(x.ctx, (const uint8_t *)"vram-swap.1\0", 12, &e) != 0);

	char name[VS_HS_MAX_NAME + 1];
	CHECK(x.list(x.ctx, 0, name, sizeof name) == 0 && !strcmp(name, "vram-swap.0"));
	CHECK(x.list(x.ctx, 1, name, sizeof name) == 0 && !strcmp(name, "vram-swap.1"));
	CHECK(x.list(x.ctx, 2, name, sizeof name) == 0 && !strcmp(name, "vram-swap.12"));
	CHECK(x.list(x.ctx, 3, name, sizeof name) != 0);

	/* A chunk freed after the handshake chose it, and added again under
	 * the same index: the old key pins nothing. */
	CHECK_EQ(find(&x, "vram-swap.1", &e), 2 * MiB);
	uint64_t old = e.cookie;
	CHECK(vs_chunks_free(&tab, 1) == 0);
	CHECK(vs_chunks_adopt(&tab, 0, 0x99000, 5 * MiB) == 0);
	CHECK_EQ(find(&x, "vram-swap.1", &e), 5 * MiB);
	struct vs_store *st;
	unsigned gpu = 9;
	CHECK_EQ(vs_chunks_pin(&tab, old, &st, &gpu), ENOENT);
	CHECK_EQ(vs_chunks_pin(&tab, e.cookie, &st, &gpu), 0);
	CHECK(gpu == 0 && st->mem == 0x99000);
	CHECK_EQ(vs_chunks_free(&tab, 1), EBUSY);
	vs_chunks_unpin(&tab, e.cookie);
	CHECK_EQ(vs_chunks_free(&tab, 1), 0);
	CHECK_EQ(vs_chunks_pin(&tab, e.cookie, &st, &gpu), ENOENT);

	/* The default name follows the lowest numbered chunk. */
	CHECK(vs_chunks_free(&tab, 0) == 0);
	CHECK_EQ(find(&x, "", NULL), 13 * MiB);
	CHECK_EQ(find(&x, "vram-swap", NULL), 13 * MiB);
	CHECK(vs_chunks_free(&tab, 12) == 0);
	CHECK_EQ(find(&x, "", NULL), 0);
	CHECK(x.list(x.ctx, 0, name, sizeof name) != 0);

	/* Errors are errnos: a full table is ENOSPC, a chunk that is not
	 * there ENOENT. */
	unsigned n = 0;
	while (n <= VS_MAX_CHUNKS && vs_chunks_adopt(&tab, 0, 0x1000, MiB) == 0)
		n++;
	CHECK_EQ(n, VS_MAX_CHUNKS);
	CHECK_EQ(vs_chunks_adopt(&tab, 0, 0x1000, MiB), ENOSPC);
	char why[128] = "";
	unsigned idx;
	CHECK_EQ(vs_chunks_add(&tab, 0, MiB, &idx, why, sizeof why), ENOSPC);
	CHECK(strstr(why, "chunks are in use") != NULL);
	vs_chunks_free_all(&tab);
	CHECK_EQ(vs_chunks_free(&tab, 0), ENOENT);
	CHECK_EQ(vs_chunks_free(&tab, VS_MAX_CHUNKS), ENOENT);
	if (failures)
		fprintf(stderr, "test_nbd_exports: %d failure(s)\n", failures);
	return failures != 0;
}
