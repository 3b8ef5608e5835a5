/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The engine over a scripted backend: a page's same bit clears only after
 * its data reached the backend, a failed WRITE leaves the map alone, a
 * READ never joins a batch whose map updates are pending, counters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "log.h"

#define PG 4096u
#define SIZE (1u << 20)

static uint8_t mem[SIZE];
static int fail_off = -1;           /* segments touching this offset fail */
static int zero_bit_during_xfer;    /* page 1's bit, seen from inside xfer */
static struct vs_store *the_store;

static int t_open(struct vs_backend *be, const struct vs_config *cfg) { (void)be; (void)cfg; return 0; }
static int t_info(struct vs_backend *be, uint64_t *f, uint64_t *t) { (void)be; *f = *t = SIZE; return 0; }
static int t_alloc(struct vs_backend *be, uint64_t size, uintptr_t *m, char *why, size_t n)
{
	(void)be; (void)size; (void)why; (void)n;
	*m = (uintptr_t)mem;
	return 0;
}
static void *t_buf_alloc(struct vs_backend *be, size_t len) { (void)be; return calloc(1, len); }
static void t_buf_free(struct vs_backend *be, void *p, size_t len) { (void)be; (void)len; free(p); }
static int t_qopen(struct vs_backend *be, struct vs_queue **q) { (void)be; *q = (struct vs_queue *)mem; return 0; }
static void t_qclose(struct vs_queue *q) { (void)q; }
static int t_flush(struct vs_queue *q) { (void)q; return 0; }
static void t_close(struct vs_backend *be) { (void)be; }

static unsigned t_xfer(struct vs_queue *q, struct vs_seg *s, unsigned n)
{
	(void)q;
	unsigned failed = 0;
	zero_bit_during_xfer = (int)(atomic_load(&the_store->same[0]) >> 1 & 1);
	for (unsigned i = 0; i < n; i++) {
		s[i].err = 0;
		if (fail_off >= 0 && (uint64_t)fail_off >= s[i].off && (uint64_t)fail_off < s[i].off + s[i].len) {
			s[i].err = EIO;
			failed++;
			continue;
		}
		if (s[i].dir == VS_TO_BACKEND)
			memcpy(mem + s[i].off, s[i].buf, s[i].len);
		else
			memcpy(s[i].buf, mem + s[i].off, s[i].len);
	}
	return failed;
}

static const struct vs_backend_ops test_ops = {
	.name = "test", .memory = "RAM", .open = t_open, .mem_info = t_info, .alloc = t_alloc,
	.buf_alloc = t_buf_alloc, .buf_free = t_buf_free, .queue_open = t_qopen,
	.queue_close = t_qclose, .xfer = t_xfer, .flush = t_flush, .close = t_close,
};

static uint64_t used(const struct vs_store *st)
{
	struct vs_store_count k;
	vs_store_count(st, &k);
	return (k.stored - k.same) * PG;
}

int main(void)
{
	vs_log_init(false);
	struct vs_backend be = { .ops = &test_ops };
	struct vs_store st;
	struct vs_queue *q;
	struct vs_counters cnt = { 0 };
	struct vs_engine e;
	CHECK(vs_store_init(&st, &be, (uintptr_t)mem, SIZE, (struct vs_store_shape){ 0, 1 }) == 0);
	the_store = &st;
	CHECK(be.ops->queue_open(&be, &q) == 0);
	CHECK(vs_engine_init(&e, &cnt, 64 * PG, VS_ALG_OFF, NULL) == 0);
	vs_engine_bind(&e, &st, q);

	static uint8_t page[PG], back[PG];
	memset(page, 0x5a, sizeof page);
	page[100] = 1;   /* not same-filled: it must reach the backend */

	/* A WRITE of page 1: during xfer the page still reads as zero; after
	 * the batch it holds data. */
	CHECK(vs_engine_fits(&e, VS_OP_WRITE, PG));
	vs_engine_add(&e, VS_OP_WRITE, PG, PG, page, 7, 0);
	/* A READ must not join a batch with a pending map update. */
	CHECK(!vs_engine_fits(&e, VS_OP_READ, PG));
	vs_engine_run(&e);
	CHECK_EQ(e.io[0].err, 0);
	CHECK_EQ(e.io[0].tag, 7);
	CHECK_EQ(zero_bit_during_xfer, 1);
	CHECK_EQ(used(&st), PG);
	vs_engine_reset(&e);

	/* A READ gets the data back; READs batch together. */
	vs_engine_add(&e, VS_OP_READ, PG, PG, back, 8, 0);
	CHECK(vs_engine_fits(&e, VS_OP_READ, PG));
	vs_engine_run(&e);
	CHECK(e.io[0].err == 0 && !memcmp(back, page, PG));
	vs_engine_reset(&e);

	/* A failed WRITE over a zero page: EIO, and the page still reads zero. */
	fail_off = 2 * PG;
	vs_engine_add(&e, VS_OP_WRITE, 2 * PG, PG, page, 9, 0);
	vs_engine_add(&e, VS_OP_WRITE, 3 * PG, PG, page, 10, 0);
	vs_engine_run(&e);
	CHECK_EQ(e.io[0].err, EIO);
	CHECK_EQ(e.io[1].err, 0);
	CHECK_EQ(used(&st), 2 * PG);
	vs_engine_reset(&e);
	fail_off = -1;

	/* TRIM takes effect at commit; a refused request moves nothing. */
	vs_engine_add(&e, VS_OP_TRIM, PG, PG, NULL, 11, 0);
	vs_engine_add(&e, VS_OP_WRITE, 5 * PG, PG, page, 12, EINVAL);
	vs_engine_run(&e);
	CHECK(e.io[0].err == 0 && e.io[1].err == EINVAL);
	CHECK_EQ(used(&st), PG);
	vs_engine_reset(&e);

	/* Pieces: the same rule outside a batch. */
	CHECK_EQ(vs_engine_piece(&e, VS_OP_WRITE, 6 * PG, PG, page), 0);
	CHECK_EQ(used(&st), 2 * PG);
	fail_off = 7 * PG;
	CHECK_EQ(vs_engine_piece(&e, VS_OP_WRITE, 7 * PG, PG, page), EIO);
	CHECK_EQ(used(&st), 2 * PG);
	fail_off = -1;

	CHECK_EQ(cnt.writes, 3);
	CHECK_EQ(cnt.reads, 1);
	CHECK_EQ(cnt.trims, 1);
	CHECK_EQ(cnt.io_errors, 1);
	CHECK_EQ(cnt.proto_errors, 1);

	vs_engine_free(&e);
	vs_store_free(&st);

	/* Compressed: 4 frames offering 8 pages. Noise fills them; the fifth
	 * WRITE is refused with ENOSPC before any copy, counted as a write, an
	 * I/O error and a full write; READs of what was stored still work. */
	static uint8_t scratch[64 * PG];
	struct vs_counters c2 = { 0 };
	memset(mem, 0, SIZE);
	CHECK(vs_store_init(&st, &be, (uintptr_t)mem, 4 * PG,
	                    (struct vs_store_shape){ VS_ALG_LZ4, 2 }) == 0);
	CHECK(vs_engine_init(&e, &c2, 64 * PG, VS_ALG_LZ4, scratch) == 0);
	vs_engine_bind(&e, &st, q);
	static uint8_t noise[5][PG];
	uint64_t x = 88172645463325252ULL;
	for (unsigned p = 0; p < 5; p++)
		for (unsigned i = 0; i < PG; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(&noise[p][i], &x, 8);
		}
	for (unsigned p = 0; p < 5; p++)
		vs_engine_add(&e, VS_OP_WRITE, (uint64_t)p * PG, PG, noise[p], p, 0);
	vs_engine_run(&e);
	for (unsigned p = 0; p < 4; p++)
		CHECK_EQ(e.io[p].err, 0);
	CHECK_EQ(e.io[4].err, ENOSPC);
	CHECK_EQ(c2.writes, 5);
	CHECK_EQ(c2.io_errors, 1);
	CHECK_EQ(c2.full_writes, 1);
	vs_engine_reset(&e);
	for (unsigned p = 0; p < 4; p++) {
		memset(back, 0, PG);
		CHECK_EQ(vs_engine_piece(&e, VS_OP_READ, (uint64_t)p * PG, PG, back), 0);
		CHECK(!memcmp(back, noise[p], PG));
	}
	/* A text page that compresses, with its bytes spoiled in memory: the
	 * READ answers EIO rather than wrong data. */
	vs_store_discard(&st, 0, 4 * PG);
	memset(page, 'a', PG);
	memcpy(page + 100, "not same-filled", 15);
	CHECK_EQ(vs_engine_piece(&e, VS_OP_WRITE, 6 * PG, PG, page), 0);
	CHECK_EQ(vs_engine_piece(&e, VS_OP_READ, 6 * PG, PG, back), 0);
	CHECK(!memcmp(back, page, PG));
	uint64_t l = atomic_load(&st.loc[6]);
	memset(mem + (l & ((1ULL << 40) - 1)) * PG + ((l >> 40) & 63) * 64, 0xff, 64);
	CHECK_EQ(vs_engine_piece(&e, VS_OP_READ, 6 * PG, PG, back), EIO);
	vs_engine_free(&e);
	vs_store_free(&st);
	be.ops->queue_close(q);
	if (failures)
		fprintf(stderr, "test_engine: %d failure(s)\n", failures);
	return failures != 0;
}
