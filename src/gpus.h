/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening every GPU that VRAM_SWAP_DEVICE names ("all", or a comma list of
 * indexes, UUIDs and bus ids), at most VS_MAX_GPUS. The host backend is
 * one "GPU" (host memory).
 */
#ifndef VS_GPUS_H
#define VS_GPUS_H

#include "backend.h"
#include "config.h"

/* Opens the GPUs. Start-up: 0, or the exit status after one line naming
 * why (VS_EXIT_USAGE for a GPU named twice or a reserve larger than a GPU,
 * VS_EXIT_FAIL when one cannot be opened). */
int vs_gpus_open(struct vs_backend *gpu, struct vs_config *gcfg, unsigned *n,
                 const struct vs_config *cfg);
void vs_gpus_close(struct vs_backend *gpu, unsigned n);

#endif
