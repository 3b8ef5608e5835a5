/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The swap tier at start-up, once the GPUs are open: how big it is and how
 * big a chunk is (from VRAM_SWAP_SIZE and VRAM_SWAP_CHUNK over every GPU),
 * and its first chunks. After start-up the control thread adds and frees
 * chunks (control.c).
 */
#ifndef VS_TIER_H
#define VS_TIER_H

#include "chunks.h"
#include "config.h"
#include "control.h"

/* Start-up: both return 0, or the exit status after logging why. */

/* Resolves the tier's size and the chunk size into ctl (chunk, max_cap)
 * and readies the policy with its first targets (fails when the size is
 * below --min-size). */
int vs_tier_size(struct vs_chunks *tab, struct vs_control *ctl, const struct vs_config *cfg);
/* Allocates the first chunks: one always, on the GPU the policy wants most,
 * with the back-off of --step and --min-size; then as many more as the
 * targets allow (fails when not even the first fits). */
int vs_tier_fill(struct vs_chunks *tab, struct vs_control *ctl, const struct vs_config *cfg);

#endif
