/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The zero-page map and request planning, over the host backend. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "store.h"

int main(void)
{
	vs_log_init(false);
	struct vs_config cfg = { 0 };
	struct vs_backend be = { .ops = &vs_backend_host };
	uintptr_t mem = 0;
	char why[128];
	CHECK(be.ops->open(&be, &cfg) == 0);
	CHECK(be.ops->alloc(&be, 1 << 20, &mem, why, sizeof why) == 0);
	struct vs_store st;
	CHECK(vs_store_init(&st, &be, mem, 1 << 20) == 0);
	CHECK_EQ(vs_store_used(&st), 0);

	struct vs_queue *q;
	CHECK(be.ops->queue_open(&be, &q) == 0);
	static uint8_t buf[65536] __attribute__((aligned(64)));
	struct vs_seg segs[64];

	/* pages: data, zero, data, data -> two segments, one zero page */
	memset(buf, 0, sizeof buf);
	memset(buf, 1, 4096);
	memset(buf + 8192, 2, 8192);
	buf[4096 * 3 + 4095] = 9;
	unsigned n = vs_store_plan_write(&st, 4096, 16384, buf, segs);
	CHECK_EQ(n, 2);
	CHECK(segs[0].off == 4096 && segs[0].len == 4096 && segs[1].off == 12288 && segs[1].len == 8192);
	CHECK_EQ(be.ops->xfer(q, segs, n), 0);
	vs_store_commit_write(&st, 4096, 16384, buf);
	CHECK_EQ(vs_store_used(&st), 3 * 4096);

	static uint8_t rd[65536];
	memset(rd, 0xee, sizeof rd);
	n = vs_store_plan_read(&st, 0, 20480, rd, segs);
	CHECK_EQ(n, 2);
	CHECK_EQ(be.ops->xfer(q, segs, n), 0);
	CHECK(rd[0] == 0 && rd[4095] == 0);           /* never written */
	CHECK(memcmp(rd + 4096, buf, 16384) == 0);

	/* zero a range crossing a 64-page word boundary */
	vs_store_zero(&st, 0, 1 << 20);
	CHECK_EQ(vs_store_used(&st), 0);
	memset(rd, 0xee, sizeof rd);
	CHECK_EQ(vs_store_plan_read(&st, 4096, 16384, rd, segs), 0);
	CHECK(rd[0] == 0 && rd[16383] == 0);

	/* an all-zero write over data makes the page read as zero */
	memset(buf, 3, 4096);
	CHECK_EQ(vs_store_plan_write(&st, 65 * 4096, 4096, buf, segs), 1);
	CHECK_EQ(be.ops->xfer(q, segs, 1), 0);
	vs_store_commit_write(&st, 65 * 4096, 4096, buf);
	CHECK_EQ(vs_store_used(&st), 4096);
	memset(buf, 0, 4096);
	CHECK_EQ(vs_store_plan_write(&st, 65 * 4096, 4096, buf, segs), 0);
	vs_store_commit_write(&st, 65 * 4096, 4096, buf);
	CHECK_EQ(vs_store_used(&st), 0);
	vs_store_zero(&st, 63 * 4096, 3 * 4096);
	CHECK_EQ(vs_store_used(&st), 0);

	CHECK(vs_page_is_zero(buf));
	buf[4095] = 1;
	CHECK(!vs_page_is_zero(buf));

	be.ops->queue_close(q);
	vs_store_free(&st);
	be.ops->release(&be, mem, 1 << 20);
	be.ops->close(&be);
	if (failures)
		fprintf(stderr, "test_store: %d failure(s)\n", failures);
	return failures != 0;
}
