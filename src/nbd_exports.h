/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The chunks as NBD exports. Chunk N is the export "<name>.N" (the kernel
 * attaches each as its own nbd device and swap area); the bare name and the
 * default (empty) name reach the lowest numbered chunk, so a one-chunk
 * daemon looks as a single export always did. An export's cookie is its
 * chunk's key (chunks.h), which the connection pins after GO.
 */
#ifndef VS_NBD_EXPORTS_H
#define VS_NBD_EXPORTS_H

#include "chunks.h"
#include "handshake.h"

/* What the NBD transport serves: the table, under the export name. */
struct vs_nbd_source {
	struct vs_chunks *tab;
	const char *name;   /* VRAM_SWAP_EXPORT */
};

/* The handshake's view of src (which must outlive it). */
struct vs_exports vs_nbd_exports(const struct vs_nbd_source *src);

#endif
