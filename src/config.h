/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's configuration: defaults, then the environment (named as in
 * /etc/default/vram-swap), then flags, each setting by its row of
 * settings.h. Errors follow settings.h's convention. */
#ifndef VS_CONFIG_H
#define VS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "settings.h"

#define VS_BLOCK 4096u
#define VS_DEFAULT_STEP (512ull << 20)

/* A size setting: absolute bytes, or a percentage of what the backend
 * reports free (free VRAM for cuda, MemAvailable for host). */
struct vs_size {
	uint64_t bytes;     /* when percent == 0 */
	unsigned percent;   /* 1..100, or 0 for absolute */
};

/* The settings' fields come from their rows (settings.h). */
struct vs_config {
#define VS_FIELD_ALL(type, field) type field;
#define VS_FIELD_DAEMON(type, field) type field;
#define VS_FIELD_FILE(type, field)
#define VS_X_FIELD(id, env, flag, sh, arg, def, check, where, type, field, store, help) \
	VS_FIELD_##where(type, field)
	VS_SETTINGS(VS_X_FIELD)
#undef VS_X_FIELD
	const char *ctl;          /* --ctl COMMAND: client mode, or NULL */
	bool verbose;
};

enum { VS_EXIT_OK = 0, VS_EXIT_FAIL = 1, VS_EXIT_USAGE = 2 };

/* Parses "8G", "512M", "4096", "75%" (percent only if allow_percent).
 * Suffixes K/M/G/T are binary; NULL, or why s is not a size. */
const char *vs_parse_size(const char *s, bool allow_percent, struct vs_size *out);

/* Fills cfg from defaults, then environment, then argv. Returns
 * VS_EXIT_OK to go on, or an exit status (after printing help/version or
 * one line naming the bad setting). *done is set when the process should
 * exit with the returned status. */
int vs_config_load(struct vs_config *cfg, int argc, char **argv, bool *done);

/* Resolves a size setting against what is free; rounds percentages down to
 * a multiple of 2 MiB (the CUDA allocation granularity). */
uint64_t vs_size_resolve(const struct vs_size *s, uint64_t free_bytes);

#endif
