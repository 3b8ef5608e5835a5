/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "policy.h"

void vs_policy_init(struct vs_policy *p)
{
	for (unsigned i = 0; i < p->ngpus; i++) {
		p->g[i].high = false;
		p->g[i].target = p->g[i].chunks;
	}
}

void vs_policy_grow_now(struct vs_policy *p, double now)
{
	for (unsigned i = 0; i < p->ngpus; i++) {
		p->g[i].high = true;
		p->g[i].high_since = now - p->delay;
	}
}

unsigned vs_policy_total(const struct vs_policy *p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->ngpus; i++)
		n += p->g[i].target;
	return n;
}

/* The chunks GPU g should hold before the cap is applied. */
static unsigned wanted(struct vs_policy *p, struct vs_policy_gpu *g, double now)
{
	uint64_t used = g->total > g->free ? g->total - g->free : 0;
	uint64_t others = used > g->ours ? used - g->ours : 0;
	if (!p->automatic) {
		/* Keep what is held; add what free memory has room for. */
		unsigned more = (unsigned)(g->free / p->chunk);
		return g->chunks + more;
	}
	uint64_t room = g->total > others + g->reserve ? g->total - others - g->reserve : 0;
	unsigned fit = (unsigned)(room / p->chunk);
	if (g->free >= g->reserve + p->chunk) {
		if (!g->high)
			g->high_since = now;
		g->high = true;
	} else {
		g->high = false;
	}
	if (g->chunks > fit)
		return fit;
	if (fit > g->chunks && g->high && now - g->high_since >= p->delay)
		return fit;
	return g->chunks;
}

bool vs_policy_step(struct vs_policy *p, double now)
{
	unsigned want[VS_MAX_GPUS], total = 0;
	for (unsigned i = 0; i < p->ngpus; i++) {
		want[i] = p->release_on_battery && p->on_battery ? 0 : wanted(p, &p->g[i], now);
		total += want[i];
	}
	unsigned cap = p->chunk ? (unsigned)(p->cap / p->chunk) : 0;
	/* Over the cap: drop growth first, then chunks held, one at a time,
	 * from the GPU that would hold most, so the tier stays spread. */
	while (total > cap) {
		unsigned best = 0;
		long best_score = -1;
		for (unsigned i = 0; i < p->ngpus; i++) {
			if (!want[i])
				continue;
			long grow = (long)want[i] - (long)p->g[i].chunks;
			long score = grow > 0 ? 1000000 + (long)want[i] : (long)want[i];
			if (score > best_score) {
				best_score = score;
				best = i;
			}
		}
		want[best]--;
		total--;
	}
	bool changed = false;
	for (unsigned i = 0; i < p->ngpus; i++) {
		changed = changed || p->g[i].target != want[i];
		p->g[i].target = want[i];
	}
	return changed;
}
