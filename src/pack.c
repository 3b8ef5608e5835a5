/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pack.h"

#include <errno.h>
#include <stdlib.h>

int vs_pack_init(struct vs_pack *p, uint64_t frames)
{
	p->frames = frames;
	p->mask = calloc(frames ? frames : 1, sizeof *p->mask);
	atomic_init(&p->used, 0);
	return p->mask ? 0 : ENOMEM;
}

void vs_pack_free(struct vs_pack *p)
{
	free((void *)p->mask);
	p->mask = NULL;
}

static inline uint64_t run_bits(unsigned start, unsigned n)
{
	return (n >= 64 ? ~0ULL : (1ULL << n) - 1) << start;
}

/* Bit i of the result: the n blocks from i on are all free. Each step
 * doubles the run length the bits stand for, so n = 64 is 6 steps. */
static inline uint64_t run_starts(uint64_t mask, unsigned n)
{
	uint64_t y = ~mask;
	for (unsigned have = 1; have < n && y;) {
		unsigned s = have < n - have ? have : n - have;
		y &= y >> s;
		have += s;
	}
	return y;
}

int vs_pack_claim(struct vs_pack *p, unsigned n, uint64_t *cursor, uint64_t *frame,
                  unsigned *start)
{
	if (atomic_load_explicit(&p->used, memory_order_relaxed) + n >
	    p->frames * VS_PACK_BLOCKS)
		return ENOSPC;
	uint64_t f = *cursor % p->frames;
	for (uint64_t tried = 0; tried < p->frames; tried++) {
		uint64_t old = atomic_load_explicit(&p->mask[f], memory_order_relaxed);
		uint64_t y;
		while ((y = run_starts(old, n))) {
			unsigned s = (unsigned)__builtin_ctzll(y);
			if (atomic_compare_exchange_weak_explicit(&p->mask[f], &old,
			                                          old | run_bits(s, n),
			                                          memory_order_acquire,
			                                          memory_order_relaxed)) {
				atomic_fetch_add_explicit(&p->used, n, memory_order_relaxed);
				*cursor = f;
				*frame = f;
				*start = s;
				return 0;
			}
		}
		if (++f == p->frames)
			f = 0;
	}
	return ENOSPC;
}

void vs_pack_release(struct vs_pack *p, uint64_t frame, unsigned start, unsigned n)
{
	atomic_fetch_and_explicit(&p->mask[frame], ~run_bits(start, n), memory_order_release);
	atomic_fetch_sub_explicit(&p->used, n, memory_order_relaxed);
}

bool vs_pack_mark(struct vs_pack *p, uint64_t frame, unsigned start, unsigned n)
{
	if (frame >= p->frames || !n || start + n > VS_PACK_BLOCKS)
		return false;
	uint64_t bits = run_bits(start, n);
	if (atomic_fetch_or_explicit(&p->mask[frame], bits, memory_order_relaxed) & bits)
		return false;
	atomic_fetch_add_explicit(&p->used, n, memory_order_relaxed);
	return true;
}
