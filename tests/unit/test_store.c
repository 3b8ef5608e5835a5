/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The page map and request planning, over the host backend: same-filled
 * pages of any word, counted as zram counts them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "store.h"

#define PG 4096u

static struct vs_store st;

static void expect(uint64_t stored, uint64_t same, int line)
{
	struct vs_store_count k;
	vs_store_count(&st, &k);
	if (k.stored != stored || k.same != same) {
		fprintf(stderr, "line %d: stored %llu same %llu, expected %llu %llu\n", line,
		        (unsigned long long)k.stored, (unsigned long long)k.same,
		        (unsigned long long)stored, (unsigned long long)same);
		failures++;
	}
}
#define EXPECT(stored, same) expect(stored, same, __LINE__)

static void fill_word(uint8_t *p, uint64_t w)
{
	for (unsigned i = 0; i < PG; i += 8)
		memcpy(p + i, &w, 8);
}

int main(void)
{
	vs_log_init(false);
	struct vs_config cfg = { 0 };
	struct vs_backend be = { .ops = &vs_backend_host };
	uintptr_t mem = 0;
	char why[128];
	CHECK(be.ops->open(&be, &cfg) == 0);
	CHECK(be.ops->alloc(&be, 1 << 20, &mem, why, sizeof why) == 0);
	CHECK(vs_store_init(&st, &be, mem, 1 << 20) == 0);
	EXPECT(0, 0);

	struct vs_queue *q;
	CHECK(be.ops->queue_open(&be, &q) == 0);
	static uint8_t buf[65536] __attribute__((aligned(64)));
	static uint8_t rd[65536];
	struct vs_seg segs[64];

	/* pages: data, zero, same-filled 0x0202..., data -> two segments */
	memset(buf, 0, sizeof buf);
	memset(buf, 1, PG);
	buf[17] = 3;
	memset(buf + 2 * PG, 2, PG);
	buf[PG * 3 + 4095] = 9;
	unsigned n = vs_store_plan_write(&st, PG, 4 * PG, buf, segs);
	CHECK_EQ(n, 2);
	CHECK(segs[0].off == PG && segs[0].len == PG && segs[1].off == 4 * PG && segs[1].len == PG);
	CHECK_EQ(be.ops->xfer(q, segs, n), 0);
	vs_store_commit_write(&st, PG, 4 * PG, buf);
	EXPECT(4, 2);

	memset(rd, 0xee, sizeof rd);
	n = vs_store_plan_read(&st, 0, 5 * PG, rd, segs);
	CHECK_EQ(n, 2);
	CHECK_EQ(be.ops->xfer(q, segs, n), 0);
	CHECK(rd[0] == 0 && rd[PG - 1] == 0);           /* never written */
	CHECK(memcmp(rd + PG, buf, 4 * PG) == 0);

	/* Any word repeated is kept as that word, whatever its bytes; one
	 * byte off in the last word and it is data. */
	static const uint64_t words[] = { 0x0123456789abcdefULL, ~0ULL, 1, 1ULL << 63 };
	for (unsigned i = 0; i < 4; i++) {
		fill_word(buf + i * PG, words[i]);
		uint64_t w = 0;
		CHECK(vs_page_same(buf + i * PG, &w) && w == words[i]);
	}
	CHECK_EQ(vs_store_plan_write(&st, 8 * PG, 4 * PG, buf, segs), 0);
	vs_store_commit_write(&st, 8 * PG, 4 * PG, buf);
	EXPECT(8, 6);
	memset(rd, 0, sizeof rd);
	CHECK_EQ(vs_store_plan_read(&st, 8 * PG, 4 * PG, rd, segs), 0);
	CHECK(memcmp(rd, buf, 4 * PG) == 0);
	buf[PG - 1] ^= 0x10;
	uint64_t w;
	CHECK(!vs_page_same(buf, &w));
	buf[PG - 1] ^= 0x10;
	buf[5] ^= 0x10;
	CHECK(!vs_page_same(buf, &w));

	/* Data over a same-filled page: it reads as data afterwards ... */
	memset(buf, 0x44, PG);
	buf[2000] = 0;
	CHECK_EQ(vs_store_plan_write(&st, 8 * PG, PG, buf, segs), 1);
	CHECK_EQ(be.ops->xfer(q, segs, 1), 0);
	vs_store_commit_write(&st, 8 * PG, PG, buf);
	EXPECT(8, 5);
	CHECK_EQ(vs_store_plan_read(&st, 8 * PG, PG, rd, segs), 1);
	CHECK_EQ(be.ops->xfer(q, segs, 1), 0);
	CHECK(memcmp(rd, buf, PG) == 0);
	/* ... and a same-filled page over data reads as its word. */
	fill_word(buf, 0x5555aaaa5555aaaaULL);
	CHECK_EQ(vs_store_plan_write(&st, 8 * PG, PG, buf, segs), 0);
	vs_store_commit_write(&st, 8 * PG, PG, buf);
	EXPECT(8, 6);
	CHECK_EQ(vs_store_plan_read(&st, 8 * PG, PG, rd, segs), 0);
	CHECK(memcmp(rd, buf, PG) == 0);

	/* WRITE_ZEROES stores zeros; TRIM stores nothing; both read zeros.
	 * Ranges cross a 64-page word. */
	vs_store_zero(&st, 60 * PG, 8 * PG);
	EXPECT(16, 14);
	vs_store_discard(&st, 0, 12 * PG);
	EXPECT(8, 8);
	memset(rd, 0xee, sizeof rd);
	CHECK_EQ(vs_store_plan_read(&st, 0, 16 * PG, rd, segs), 0);
	CHECK(rd[0] == 0 && rd[8 * PG + 8] == 0 && rd[16 * PG - 1] == 0);
	vs_store_discard(&st, 0, 1 << 20);
	EXPECT(0, 0);

	/* An all-zero write over data makes the page read as zero. */
	memset(buf, 3, PG);
	buf[0] = 4;
	CHECK_EQ(vs_store_plan_write(&st, 65 * PG, PG, buf, segs), 1);
	CHECK_EQ(be.ops->xfer(q, segs, 1), 0);
	vs_store_commit_write(&st, 65 * PG, PG, buf);
	EXPECT(1, 0);
	memset(buf, 0, PG);
	CHECK_EQ(vs_store_plan_write(&st, 65 * PG, PG, buf, segs), 0);
	vs_store_commit_write(&st, 65 * PG, PG, buf);
	EXPECT(1, 1);
	CHECK_EQ(vs_store_plan_read(&st, 65 * PG, PG, rd, segs), 0);
	CHECK(rd[0] == 0 && rd[PG - 1] == 0);

	/* The map outlives the store: adopted from its memfd, it says the same. */
	fill_word(buf, 0xfeedULL);
	vs_store_commit_write(&st, 70 * PG, PG, buf);
	int fd = dup(vs_store_fd(&st));
	vs_store_free(&st);
	CHECK(vs_store_adopt(&st, &be, mem, 1 << 20, fd) == 0);
	EXPECT(2, 2);
	CHECK_EQ(vs_store_plan_read(&st, 70 * PG, PG, rd, segs), 0);
	CHECK(memcmp(rd, buf, PG) == 0);
	vs_store_free(&st);
	struct vs_store other;
	CHECK(vs_store_adopt(&other, &be, mem, 2 << 20, fd) == EINVAL);
	close(fd);

	be.ops->queue_close(q);
	be.ops->release(&be, mem, 1 << 20);
	be.ops->close(&be);
	if (failures)
		fprintf(stderr, "test_store: %d failure(s)\n", failures);
	return failures != 0;
}
