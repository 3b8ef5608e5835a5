/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One chunk as the engine sees it: a backend allocation plus a page map.
 * Like zram, a page whose 4 KiB is one machine word repeated (most often
 * zero) is kept as that word: it costs no backend memory and no copy in
 * either direction. A page never written, or discarded, reads as zeros
 * without the backend having been cleared.
 *
 * The map, per page: a "same" bit (the page is its word), the word, and a
 * "stored" bit (written since its last discard: what zram counts as a
 * page stored). 8 bytes and 2 bits a page, in a sealed memfd so that it
 * outlives the process beside the chunk it describes.
 *
 * Requests become backend segments in two steps: plan (decide which pages
 * move, fill same-filled pages of reads) before the batch runs, commit
 * (update the map) after its copies completed. A page's same bit is
 * cleared only after its data reached the backend, so no reader sees stale
 * backend contents; its word is written before its same bit is set.
 */
#ifndef VS_STORE_H
#define VS_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

struct vs_store {
	struct vs_backend *be;
	uintptr_t mem;            /* the backend allocation behind it */
	uint64_t pages;
	_Atomic uint64_t *same;   /* bit set: page reads as word[page] repeated */
	_Atomic uint64_t *stored; /* bit set: written since the last discard */
	_Atomic uint64_t *word;   /* a same-filled page's word */
	int fd;                   /* the memfd holding all three */
};

/* What a chunk holds, in pages, counted as zram counts them. */
struct vs_store_count {
	uint64_t stored;   /* written since their last discard */
	uint64_t same;     /* of those, same-filled (no backend memory) */
};

/* A store over one allocation of be (a chunk): 0 or ENOMEM. */
int vs_store_init(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size);
/* The same over a map an earlier process left in memfd fd (a copy of fd
 * is kept): 0, EINVAL when fd is not a sealed map of that many pages. */
int vs_store_adopt(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                   int fd);
void vs_store_free(struct vs_store *st);
/* The memfd holding the map, to hand to whoever keeps it past this process. */
int vs_store_fd(const struct vs_store *st);

/* Appends the segments a READ needs to segs (at most len/8192+1 of them)
 * and fills buf where the map holds a same-filled page. Returns the number
 * added. */
unsigned vs_store_plan_read(struct vs_store *st, uint64_t off, uint32_t len,
                            uint8_t *buf, struct vs_seg *segs);
/* Same for a WRITE: segments for the pages that are not same-filled. */
unsigned vs_store_plan_write(struct vs_store *st, uint64_t off, uint32_t len,
                             uint8_t *buf, struct vs_seg *segs);
/* After a WRITE's segments all succeeded. */
void vs_store_commit_write(struct vs_store *st, uint64_t off, uint32_t len,
                           const uint8_t *buf);
/* WRITE_ZEROES: the range is stored, as zeros. */
void vs_store_zero(struct vs_store *st, uint64_t off, uint64_t len);
/* TRIM: the range is no longer stored and reads as zeros. */
void vs_store_discard(struct vs_store *st, uint64_t off, uint64_t len);

/* Counts the map (for status; a sweep of its bits, never on the I/O path). */
void vs_store_count(const struct vs_store *st, struct vs_store_count *c);

/* Whether the page is one 8-byte word repeated, and which. */
bool vs_page_same(const uint8_t *p, uint64_t *word);

#endif
