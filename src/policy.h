/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How many chunks each GPU should hold, from what its memory looks like.
 * Pure arithmetic on numbers the caller samples (free and total VRAM, our
 * own chunks, the power source), so tests drive it with made-up numbers.
 *
 *   others = total - free - ours              (what other processes use)
 *   fit    = (total - others - reserve) / chunk
 *
 * More chunks than fit: release down to fit at once (someone needs the
 * memory now). Fewer: grow to fit only once free VRAM has stayed at least
 * reserve + one chunk for the grow delay, so a game that frees and takes
 * memory in waves does not make the tier flap. In all, never more than the
 * cap (VRAM_SWAP_SIZE, or what resize asked for); on battery with
 * on-battery=release, nothing. Without automatic mode the reserve and the
 * delay do not apply: the target is the cap, as far as free memory goes.
 *
 * Targets only: the daemon never frees a chunk on its own. The kernel side
 * (the watcher) swaps off and detaches a chunk first, then asks for it to
 * be freed, and the daemon refuses while a client is attached.
 */
#ifndef VS_POLICY_H
#define VS_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"   /* VS_MAX_GPUS */

struct vs_policy_gpu {
	/* sampled by the caller */
	uint64_t total, free, ours;
	unsigned chunks;
	uint64_t reserve;
	/* kept between steps */
	bool high;             /* free is at least reserve + chunk ... */
	double high_since;     /* ... since then */
	/* result */
	unsigned target;
};

struct vs_policy {
	bool automatic;
	bool release_on_battery, on_battery;
	uint64_t chunk;
	uint64_t cap;          /* most bytes to hold over all GPUs */
	double delay;          /* seconds */
	unsigned ngpus;
	struct vs_policy_gpu g[VS_MAX_GPUS];
};

/* Readies the per-GPU state (call once, after filling the settings). */
void vs_policy_init(struct vs_policy *p);
/* Forgets the wait before growing (the user asked for a size just now). */
void vs_policy_grow_now(struct vs_policy *p, double now);
/* Recomputes every target at time now; true when one changed. */
bool vs_policy_step(struct vs_policy *p, double now);
/* Sum of the targets. */
unsigned vs_policy_total(const struct vs_policy *p);

#endif
