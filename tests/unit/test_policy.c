/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reserve policy on made-up numbers: release when others push free
 * memory under the reserve, grow back only after the delay, the cap, the
 * battery, never below zero. */
#include <string.h>

#include "../../src/policy.h"
#include "check.h"

#define G (1ull << 30)

static struct vs_policy p;

/* One GPU of 16 GiB, 2 GiB chunks, 2 GiB reserve, 60 s delay. */
static void setup(unsigned chunks, uint64_t others)
{
	memset(&p, 0, sizeof p);
	p.automatic = true;
	p.chunk = 2 * G;
	p.cap = 12 * G;
	p.delay = 60;
	p.ngpus = 1;
	p.g[0].total = 16 * G;
	p.g[0].reserve = 2 * G;
	p.g[0].chunks = chunks;
	p.g[0].ours = chunks * 2 * G;
	p.g[0].free = 16 * G - p.g[0].ours - others;
	vs_policy_init(&p);
}

/* The GPU after chunks changed or others' use did. */
static void world(unsigned chunks, uint64_t others)
{
	p.g[0].chunks = chunks;
	p.g[0].ours = chunks * 2 * G;
	uint64_t used = p.g[0].ours + others;
	p.g[0].free = used < p.g[0].total ? p.g[0].total - used : 0;
}

int main(void)
{
	/* Six chunks (12 GiB), nothing else: 4 GiB free, target stays. */
	setup(6, 0);
	CHECK(!vs_policy_step(&p, 0));
	CHECK_EQ(p.g[0].target, 6);

	/* A game takes the 4 GiB left: free is 0, under the 2 GiB reserve.
	 * Room for us is 16 - 4 - 2 = 10 GiB: 5 chunks, at once. */
	world(6, 4 * G);
	CHECK(vs_policy_step(&p, 1));
	CHECK_EQ(p.g[0].target, 5);

	/* Until the watcher freed one the target stays; once it did, the
	 * game grows into the freed chunk, and we release again. */
	CHECK(!vs_policy_step(&p, 2));
	world(5, 4 * G);
	CHECK(!vs_policy_step(&p, 3));
	CHECK_EQ(p.g[0].target, 5);
	world(5, 6 * G);
	CHECK(vs_policy_step(&p, 4));
	CHECK_EQ(p.g[0].target, 4);

	/* The game ends: free is 8 GiB, well above reserve + a chunk, but
	 * growing waits for the delay. */
	world(4, 0);
	CHECK(!vs_policy_step(&p, 10));
	CHECK_EQ(p.g[0].target, 4);
	CHECK(!vs_policy_step(&p, 69));
	CHECK_EQ(p.g[0].target, 4);
	/* A dip under the threshold restarts the wait. */
	world(4, 5 * G);
	CHECK(!vs_policy_step(&p, 69.5));
	world(4, 0);
	CHECK(!vs_policy_step(&p, 70));
	CHECK(!vs_policy_step(&p, 129));
	CHECK(vs_policy_step(&p, 131));
	CHECK_EQ(p.g[0].target, 6);   /* the cap: 12 GiB, not the 14 that fit */

	/* Others take everything: never below zero. */
	world(1, 14 * G);
	vs_policy_step(&p, 140);
	CHECK_EQ(p.g[0].target, 0);
	world(0, 40 * G);
	vs_policy_step(&p, 141);
	CHECK_EQ(p.g[0].target, 0);

	/* A smaller cap (resize): released regardless of the reserve. */
	setup(6, 0);
	p.cap = 4 * G;
	CHECK(vs_policy_step(&p, 0));
	CHECK_EQ(p.g[0].target, 2);
	/* A cap under one chunk: nothing. */
	p.cap = G;
	vs_policy_step(&p, 1);
	CHECK_EQ(p.g[0].target, 0);
	/* Raising it grows at once after grow_now (resize, end of yield). */
	setup(2, 0);
	p.cap = 8 * G;
	vs_policy_grow_now(&p, 5);
	vs_policy_step(&p, 5);
	CHECK_EQ(p.g[0].target, 4);

	/* On battery with release: nothing; back on mains: as before. */
	setup(6, 0);
	p.release_on_battery = true;
	p.on_battery = true;
	vs_policy_step(&p, 0);
	CHECK_EQ(p.g[0].target, 0);
	p.on_battery = false;
	vs_policy_grow_now(&p, 1);
	vs_policy_step(&p, 1);
	CHECK_EQ(p.g[0].target, 6);

	/* Automatic off: no release under pressure, growth up to the cap. */
	setup(4, 0);
	p.automatic = false;
	world(4, 7 * G);
	vs_policy_step(&p, 0);
	CHECK_EQ(p.g[0].target, 4);
	world(4, 0);
	vs_policy_step(&p, 1);
	CHECK_EQ(p.g[0].target, 6);

	/* Two GPUs: pressure on one releases only there; the cap cuts growth
	 * before what is held. */
	setup(3, 0);
	p.ngpus = 2;
	p.g[1] = p.g[0];
	vs_policy_init(&p);
	p.g[0].free = 16 * G - 6 * G - 9 * G;   /* 9 GiB of others on GPU 0 */
	vs_policy_step(&p, 0);
	CHECK_EQ(p.g[0].target, 2);
	CHECK_EQ(p.g[1].target, 3);
	p.cap = 4 * G;
	vs_policy_step(&p, 1);
	CHECK_EQ(p.g[0].target + p.g[1].target, 2);
	return failures != 0;
}
