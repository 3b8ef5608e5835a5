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

/* Opens the GPUs; returns 0, or an exit code after one line naming why
 * (an unknown GPU, one named twice, a reserve larger than a GPU). */
int vs_gpus_open(struct vs_backend *gpu, struct vs_config *gcfg, unsigned *n,
                 const struct vs_config *cfg);
void vs_gpus_close(struct vs_backend *gpu, unsigned n);

#endif
