/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Start-up of the memory side: opening every GPU that VRAM_SWAP_DEVICE
 * names ("all", or a comma list of indexes, UUIDs and bus ids), and the
 * first fill of chunks. The host backend is one "GPU" (host memory).
 */
#ifndef VS_GPUS_H
#define VS_GPUS_H

#include "backend.h"
#include "chunks.h"
#include "config.h"
#include "control.h"

/* Opens the GPUs; returns 0, or an exit code after one line naming why
 * (an unknown GPU, one named twice, a reserve larger than a GPU). */
int vs_gpus_open(struct vs_backend *gpu, struct vs_config *gcfg, unsigned *n,
                 const struct vs_config *cfg);
/* Sizes the tier (VRAM_SWAP_SIZE, chunk size, policy) and allocates the
 * first chunks: the first with the back-off of --step and --min-size,
 * then as many more as the policy's target allows. */
int vs_gpus_fill(struct vs_chunks *tab, struct vs_control *ctl, const struct vs_config *cfg);
void vs_gpus_close(struct vs_backend *gpu, unsigned n);

#endif
