/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

/* Every backend, once: lookup, the check of VRAM_SWAP_BACKEND and --help
 * all ask this list. */
static const struct vs_backend_ops *const backends[] = {
	&vs_backend_cuda,
	&vs_backend_host,
};

const struct vs_backend_ops *vs_backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

void vs_backend_names(char *out, size_t n, const char *lead, const char *last,
                      bool memory)
{
	size_t nb = sizeof backends / sizeof backends[0], used = 0;
	int k = snprintf(out, n, "%s", lead);
	for (size_t i = 0; i < nb && k >= 0 && (used += (size_t)k) < n; i++) {
		const char *sep = !i ? "" : i + 1 == nb ? last : ", ";
		k = memory ? snprintf(out + used, n - used, "%s%s (%s)", sep, backends[i]->name,
		                      backends[i]->memory)
		           : snprintf(out + used, n - used, "%s%s", sep, backends[i]->name);
	}
}

void vs_fmt_size(char *b, size_t n, uint64_t v)
{
	if (v >= (1ull << 30))
		snprintf(b, n, "%.2f GiB", (double)v / (1ull << 30));
	else
		snprintf(b, n, "%llu MiB", (unsigned long long)(v >> 20));
}

static uint64_t min_of(const struct vs_config *cfg)
{
	return cfg->min_size < VS_BLOCK ? VS_BLOCK : cfg->min_size;
}

static void log_below_min(const struct vs_backend *be, uint64_t size, uint64_t min,
                          uint64_t free_b)
{
	char s1[32], s2[32], s3[32];
	vs_fmt_size(s1, sizeof s1, size);
	vs_fmt_size(s2, sizeof s2, free_b);
	vs_fmt_size(s3, sizeof s3, min);
	vs_log(LOG_ERR, "%s: the size asked for (%s) is below --min-size (%s) with "
	       "%s of %s free: lower --min-size or free %s", be->ops->name, s1, s3, s2,
	       be->ops->memory, be->ops->memory);
}

void vs_backend_log_too_small(struct vs_backend *be, const struct vs_config *cfg,
                              uint64_t size)
{
	uint64_t free_b = 0, total_b = 0;
	if (be->ops->mem_info(be, &free_b, &total_b) == 0)
		log_below_min(be, size & ~(uint64_t)(VS_BLOCK - 1), min_of(cfg), free_b);
}

/* The size policy, the same for every backend: try the size asked for,
 * then smaller by one step at a time, the minimum itself last. */
int vs_backend_alloc_sized(struct vs_backend *be, const struct vs_config *cfg, uint64_t want,
                           uintptr_t *mem, uint64_t *got)
{
	const struct vs_backend_ops *ops = be->ops;
	uint64_t free_b = 0, total_b = 0;
	char s1[32], s2[32], s3[32], why[128] = "";
	uint64_t step = cfg->step ? cfg->step : VS_DEFAULT_STEP;
	uint64_t min = min_of(cfg);
	uint64_t size = want & ~(uint64_t)(VS_BLOCK - 1);

	int rc = ops->mem_info(be, &free_b, &total_b);
	if (rc)
		return rc;
	if (size < min) {
		log_below_min(be, size, min, free_b);
		return ENOMEM;
	}
	for (;;) {
		rc = ops->alloc(be, size, mem, why, sizeof why);
		vs_fmt_size(s1, sizeof s1, size);
		if (rc == 0) {
			vs_log(LOG_INFO, "%s: allocated %s of %s%s", ops->name, s1,
			       ops->memory, be->where);
			*got = size;
			return 0;
		}
		if (rc != ENOMEM)
			return rc;
		uint64_t next = size >= min + step ? size - step : (size > min ? min : 0);
		if (!next)
			break;
		vs_fmt_size(s2, sizeof s2, next);
		vs_log(LOG_WARNING, "%s: allocating %s of %s failed (%s); trying %s",
		       ops->name, s1, ops->memory, why, s2);
		size = next;
	}
	char who[512] = "";
	free_b = total_b = 0;
	ops->mem_info(be, &free_b, &total_b);
	if (ops->holders)
		ops->holders(be, who, sizeof who);
	vs_fmt_size(s1, sizeof s1, min);
	vs_fmt_size(s2, sizeof s2, free_b);
	vs_fmt_size(s3, sizeof s3, total_b);
	vs_log(LOG_ERR, "%s: cannot allocate even --min-size %s of %s%s (%s): %s of %s "
	       "free%s%s", ops->name, s1, ops->memory, be->where, why, s2, s3,
	       *who ? "; " : "", who);
	return ENOMEM;
}

/* --size against what is free now, logged when it is a percentage. */
uint64_t vs_backend_want(struct vs_backend *be, const struct vs_config *cfg)
{
	uint64_t free_b = 0, total_b = 0;
	char s1[32], s2[32];
	if (be->ops->mem_info(be, &free_b, &total_b))
		return 0;
	uint64_t size = vs_size_resolve(&cfg->size, free_b) & ~(uint64_t)(VS_BLOCK - 1);
	if (cfg->size.percent) {
		vs_fmt_size(s1, sizeof s1, size);
		vs_fmt_size(s2, sizeof s2, free_b);
		vs_log(LOG_INFO, "%s: --size %u%% of %s free %s%s = %s", be->ops->name,
		       cfg->size.percent, s2, be->ops->memory, be->where, s1);
	}
	return size;
}
