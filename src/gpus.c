/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gpus.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define VS_AUTO_CHUNKS 8
#define VS_MIN_CHUNK (1ull << 30)

/* The specs VRAM_SWAP_DEVICE lists, each into its own buffer. */
static unsigned split(const char *list, char out[VS_MAX_GPUS][80])
{
	unsigned n = 0;
	const char *p = list;
	while (*p && n < VS_MAX_GPUS) {
		size_t k = strcspn(p, ",");
		snprintf(out[n++], 80, "%.*s", (int)k, p);
		p += k + (p[k] == ',');
	}
	return n;
}

static bool same_gpu(const struct vs_backend *a, const struct vs_backend *b)
{
	return (*a->device_uuid && !strcmp(a->device_uuid, b->device_uuid)) ||
	       (*a->device_bus_id && !strcmp(a->device_bus_id, b->device_bus_id));
}

int vs_gpus_open(struct vs_backend *gpu, struct vs_config *gcfg, unsigned *n,
                 const struct vs_config *cfg)
{
	static char spec[VS_MAX_GPUS][80];
	const struct vs_backend_ops *ops = vs_backend_find(cfg->backend);
	bool all = !strcmp(cfg->device, "all");
	unsigned want = all ? 1 : split(cfg->device, spec);
	if (all)
		snprintf(spec[0], sizeof spec[0], "0");
	if (!ops->count)
		want = 1;   /* one device (host memory), whatever the list says */
	*n = 0;
	for (unsigned i = 0; i < want; i++) {
		gcfg[i] = *cfg;
		gcfg[i].device = spec[i];
		gpu[i].ops = ops;
		if (ops->open(&gpu[i], &gcfg[i])) {
			vs_gpus_close(gpu, *n);
			return VS_EXIT_FAIL;
		}
		(*n)++;
		if (all && i == 0 && ops->count) {
			int c = ops->count(&gpu[0]);
			want = c > VS_MAX_GPUS ? VS_MAX_GPUS : (unsigned)(c < 1 ? 1 : c);
			for (unsigned k = 1; k < want; k++)
				snprintf(spec[k], sizeof spec[k], "%u", k);
		}
		for (unsigned k = 0; k < i; k++)
			if (same_gpu(&gpu[k], &gpu[i])) {
				vs_log(LOG_ERR, "invalid VRAM_SWAP_DEVICE '%s': '%s' and '%s' are the "
				       "same GPU (%s)", cfg->device, spec[k], spec[i],
				       gpu[i].device_uuid);
				vs_gpus_close(gpu, *n);
				return VS_EXIT_USAGE;
			}
	}
	for (unsigned i = 0; i < *n; i++) {
		uint64_t f = 0, t = 0;
		char s1[32];
		gpu[i].ops->mem_info(&gpu[i], &f, &t);
		if (!cfg->reserve.percent && cfg->reserve.bytes >= t) {
			vs_fmt_size(s1, sizeof s1, t);
			vs_log(LOG_ERR, "invalid VRAM_SWAP_RESERVE: it is more than the %s of %s%s",
			       s1, gpu[i].ops->memory, gpu[i].where);
			vs_gpus_close(gpu, *n);
			return VS_EXIT_USAGE;
		}
	}
	return 0;
}

void vs_gpus_close(struct vs_backend *gpu, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		gpu[i].ops->close(&gpu[i]);
}

int vs_gpus_fill(struct vs_chunks *tab, struct vs_control *ctl, const struct vs_config *cfg)
{
	struct vs_policy *p = &ctl->pol;
	uint64_t want = 0;
	/* A percentage is of each GPU's free memory; a size is the total. */
	for (unsigned i = 0; i < tab->ngpus; i++) {
		uint64_t w = vs_backend_want(tab->gpus[i], cfg);
		want = cfg->size.percent ? want + w : w;
	}
	if (want < cfg->min_size) {
		/* Always refused there (want is below the minimum), with the
		 * message that names the memory free. */
		uintptr_t m;
		uint64_t g;
		vs_backend_alloc_sized(tab->gpus[0], cfg, want, &m, &g);
		return -1;
	}
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
	if (!want || vs_backend_alloc_sized(tab->gpus[first], &c1, chunk, &mem, &got))
		return -1;
	if (vs_chunks_adopt(tab, first, mem, got)) {
		tab->gpus[first]->ops->release(tab->gpus[first], mem, got);
		vs_log(LOG_ERR, "cannot allocate the zero-page map");
		return -1;
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
	vs_control_sample(ctl, vs_now());
	return 0;
}
