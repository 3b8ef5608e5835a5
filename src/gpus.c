/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gpus.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

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
	/* A backend that cannot count its devices has one (host memory),
	 * whatever the list says. */
	unsigned want = all ? 1 : split(cfg->device, spec);
	if (all)
		snprintf(spec[0], sizeof spec[0], "0");
	if (!ops->count)
		want = 1;
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
