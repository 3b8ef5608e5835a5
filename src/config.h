/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Daemon settings: flags, with environment variables named as in
 * /etc/default/vram-swap as fallbacks. */
#ifndef VS_CONFIG_H
#define VS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define VS_BLOCK 4096u
#define VS_DEFAULT_STEP (512ull << 20)

/* A size setting: absolute bytes, or a percentage of what the backend
 * reports free (free VRAM for cuda, MemAvailable for host). */
struct vs_size {
	uint64_t bytes;     /* when percent == 0 */
	unsigned percent;   /* 1..100, or 0 for absolute */
};

struct vs_config {
	const char *backend;      /* "cuda" or "host" */
	struct vs_size size;
	uint64_t min_size;
	uint64_t step;
	const char *device;       /* index, GPU-UUID or PCI bus id */
	const char *socket_path;
	const char *export_name;
	const char *status_file;  /* "" disables */
	unsigned max_clients;
	uint64_t chunk;           /* bytes per chunk of the swap tier; 0: auto */
	struct vs_size reserve;   /* VRAM kept free for others, per GPU */
	bool automatic;           /* follow the reserve policy */
	unsigned grow_delay;      /* seconds free VRAM must stay high to grow */
	bool release_on_battery;
	const char *ctl;          /* --ctl COMMAND: client mode, or NULL */
	bool verbose;
};

enum { VS_EXIT_OK = 0, VS_EXIT_FAIL = 1, VS_EXIT_USAGE = 2 };

/* Parses "8G", "512M", "4096", "75%" (percent only if allow_percent).
 * Suffixes K/M/G/T are binary; returns 0 or -1 with *why set. */
int vs_parse_size(const char *s, bool allow_percent, struct vs_size *out,
                  const char **why);

/* Fills cfg from defaults, then environment, then argv. Returns
 * VS_EXIT_OK to go on, or an exit code (after printing help/version or one
 * line naming the bad setting). *done is set when the process should exit
 * with the returned code. */
int vs_config_load(struct vs_config *cfg, int argc, char **argv, bool *done);

/* Resolves a size setting against what is free; rounds percentages down to
 * a multiple of 2 MiB (the CUDA allocation granularity). */
uint64_t vs_size_resolve(const struct vs_size *s, uint64_t free_bytes);

#endif
