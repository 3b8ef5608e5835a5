/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where compressed pages sit in a chunk's memory. The chunk is cut into
 * 4 KiB frames of 64 blocks of 64 bytes; a compressed page takes a run of
 * blocks inside one frame, a page that did not compress a whole frame.
 * Each frame's blocks are one 64-bit mask, claimed and released with
 * compare-and-swap, so workers share the chunk without a lock and a freed
 * run is reused by the next page that fits in it.
 *
 * The masks live in this process only: the page map says where every
 * page is, and vs_pack_mark() rebuilds them from it when a restarted
 * daemon adopts the chunk.
 */
#ifndef VS_PACK_H
#define VS_PACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VS_PACK_BLOCK 64u
#define VS_PACK_BLOCKS 64u   /* in a frame: one mask word */

struct vs_pack {
	uint64_t frames;
	_Atomic uint64_t *mask;   /* bit set: block in use */
	_Atomic uint64_t used;    /* blocks in use, over all frames */
};

/* Off the I/O path: 0 or ENOMEM. */
int vs_pack_init(struct vs_pack *p, uint64_t frames);
void vs_pack_free(struct vs_pack *p);

/* Claims n (1..64) adjacent blocks of one frame, looking from frame
 * *cursor on (the caller's, so that workers fill frames of their own and
 * a page lands beside the one before it). 0 with *frame and *start, or
 * ENOSPC when no frame has such a run. */
int vs_pack_claim(struct vs_pack *p, unsigned n, uint64_t *cursor, uint64_t *frame,
                  unsigned *start);
void vs_pack_release(struct vs_pack *p, uint64_t frame, unsigned start, unsigned n);
/* Claims exactly those blocks (rebuilding from a page map): false when
 * they are out of range or already claimed. */
bool vs_pack_mark(struct vs_pack *p, uint64_t frame, unsigned start, unsigned n);

#endif
