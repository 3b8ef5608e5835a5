/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "tier.h"

#include <string.h>

#include "log.h"

/* --chunk auto: the tier in eighths (see below); 8 like VS_MAX_GPUS by
 * chance, not by meaning. At least VS_MIN_CHUNK. */
#define VS_AUTO_CHUNKS 8
#define VS_MIN_CHUNK (1ull << 30)

int vs_tier_size(struct vs_chunks *tab, struct vs_control *ctl, const struct vs_config *cfg)
{
	struct vs_policy *p = &ctl->pol;
	uint64_t want = 0;
	/* A percentage is of each GPU's free memory; a size is the total. */
	for (unsigned i = 0; i < tab->ngpus; i++) {
		uint64_t w = vs_backend_want(tab->gpus[i], cfg);
		want = cfg->size.percent ? want + w : w;
	}
	if (want < cfg->min_size) {
		vs_backend_log_too_small(tab->gpus[0], cfg, want);
		return VS_EXIT_FAIL;
	}
	if (!want)
		return VS_EXIT_FAIL;   /* no GPU could say how much is free: each said why */
	/* auto: an eighth of the tier, so it can give back in steps of an
	 * eighth while needing few nbd devices (the nbd module makes 16 by
	 * default) and few connections; at least 1 GiB, below which a chunk
	 * is not worth a device of its own (a small tier is one chunk). */
	uint64_t chunk = cfg->chunk;
	if (!chunk) {
		chunk = want / VS_AUTO_CHUNKS & ~((2ull << 20) - 1);
		if (chunk < VS_MIN_CHUNK)
			chunk = VS_MIN_CHUNK;
	}
	if (want < chunk)
		chunk = want;   /* a small tier is one chunk of its size */
	ctl->chunk = chunk;
	ctl->max_cap = want;
	/* The reserve policy shares a GPU's memory with its other users; a
	 * backend serving the RAM that swap relieves never follows it. */
	bool automatic = cfg->automatic && !tab->gpus[0]->ops->system_ram;
	*p = (struct vs_policy){
		.automatic = automatic, .release_on_battery = cfg->release_on_battery,
		.chunk = chunk ? chunk : VS_BLOCK, .cap = want, .delay = cfg->grow_delay,
		.ngpus = tab->ngpus,
	};
	vs_policy_init(p);
	vs_policy_grow_now(p, vs_now());
	vs_control_sample(ctl, vs_now());
	return 0;
}

int vs_tier_fill(struct vs_chunks *tab, struct vs_control *ctl, const struct vs_config *cfg)
{
	const struct vs_policy *p = &ctl->pol;
	uint64_t chunk = ctl->chunk;
	/* The first chunk always, where the policy wants most: a daemon that
	 * starts serves something, and what --min-size means stays true. */
	unsigned first = 0;
	for (unsigned i = 1; i < tab->ngpus; i++)
		if (p->g[i].target > p->g[first].target)
			first = i;
	uintptr_t mem;
	uint64_t got;
	struct vs_config c1 = *cfg;
	if (c1.min_size > chunk)
		c1.min_size = chunk;
	if (vs_backend_alloc_sized(tab->gpus[first], &c1, chunk, &mem, &got))
		return VS_EXIT_FAIL;
	if (vs_chunks_adopt(tab, first, mem, got)) {
		tab->gpus[first]->ops->release(tab->gpus[first], mem, got);
		vs_log(LOG_ERR, "cannot allocate the page map");
		return VS_EXIT_FAIL;
	}
	for (;;) {
		vs_control_sample(ctl, vs_now());
		/* The GPU furthest from its target, so the chunks spread. */
		unsigned g = tab->ngpus, most = 0;
		for (unsigned i = 0; i < tab->ngpus; i++)
			if (p->g[i].target > p->g[i].chunks + most) {
				most = p->g[i].target - p->g[i].chunks;
				g = i;
			}
		if (g == tab->ngpus)
			break;
		char why[160] = "";
		unsigned idx;
		if (vs_chunks_add(tab, g, chunk, &idx, why, sizeof why)) {
			vs_log(LOG_WARNING, "%s: no more chunks at start%s (%s); the policy adds "
			       "them later when memory allows", tab->gpus[g]->ops->name,
			       tab->gpus[g]->where, why);
			break;
		}
	}
	/* --min-size is of the tier: the least worth serving, however many
	 * chunks make it. */
	unsigned n;
	uint64_t held = vs_chunks_held(tab, &n);
	if (held < cfg->min_size) {
		char s1[32], s2[32];
		vs_fmt_size(s1, sizeof s1, held);
		vs_fmt_size(s2, sizeof s2, cfg->min_size);
		vs_log(LOG_ERR, "%s: only %s of %s could be allocated at start (%u chunk(s)), "
		       "below --min-size %s: lower --min-size or free %s", tab->gpus[first]->ops->name,
		       s1, tab->gpus[first]->ops->memory, n, s2, tab->gpus[first]->ops->memory);
		vs_chunks_free_all(tab);
		return VS_EXIT_FAIL;
	}
	vs_control_sample(ctl, vs_now());
	return 0;
}
