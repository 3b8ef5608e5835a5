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
 * Without compression page n lives at byte n * 4096 of the chunk. With
 * it the chunk offers ratio times as many pages as its memory holds, and
 * the map has one more word a page: where its compressed bytes are
 * (pack.h). The word is part of the memfd, so compressed pages outlive
 * the daemon as the others do.
 *
 * Requests become backend segments in steps: plan (decide which pages
 * move, fill same-filled pages of reads, compress and place written
 * pages) before the batch runs, then after its copies completed finish
 * (decompress what a READ fetched) or commit (update the map). A page's
 * same bit is cleared only after its data reached the backend, so no
 * reader sees stale backend contents; its word is written before its
 * same bit is set; a rewritten page's old blocks are freed only after its
 * new place is in the map, so a crash between the two loses nothing.
 */
#ifndef VS_STORE_H
#define VS_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "codec.h"
#include "pack.h"

struct vs_store {
	struct vs_backend *be;
	uintptr_t mem;            /* the backend allocation behind it */
	uint64_t pages;
	_Atomic uint64_t *same;   /* bit set: page reads as word[page] repeated */
	_Atomic uint64_t *stored; /* bit set: written since the last discard */
	_Atomic uint64_t *word;   /* a same-filled page's word */
	_Atomic uint64_t *loc;    /* with compression: where the page is, or 0 */
	int fd;                   /* the memfd holding them */
	unsigned alg;             /* enum vs_alg the pages were stored with */
	struct vs_pack pack;      /* with compression: the memory's blocks */
	_Atomic uint64_t zbytes;  /* compressed bytes of the pages in blocks */
};

/* How a store is laid out: its compression and how many pages it offers
 * per page of memory (1 without compression). */
struct vs_store_shape {
	unsigned alg;
	unsigned ratio;
};

struct vs_config;
/* The shape the settings ask for (a ratio only with compression). */
struct vs_store_shape vs_store_shape_of(const struct vs_config *cfg);

/* One page of a request between plan and finish or commit. */
struct vs_page_plan {
	uint64_t v;      /* same: the word; otherwise its place (compression) */
	bool same;
};

/* What one worker brings to a request: its codec, where its last page
 * went, and host memory for compressed bytes (as many as the request's
 * payload). */
struct vs_pager {
	struct vs_codec codec;
	uint64_t cursor;
	uint8_t *scratch;
};

/* What a chunk holds, in pages, counted as zram counts them. */
struct vs_store_count {
	uint64_t stored;   /* written since their last discard */
	uint64_t same;     /* of those, same-filled (no backend memory) */
	uint64_t used;     /* bytes of memory holding them */
	uint64_t compr;    /* their bytes after compression */
};

/* A store over one allocation of be (a chunk) of size bytes: 0 or ENOMEM. */
int vs_store_init(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                  struct vs_store_shape shape);
/* The same over a map an earlier process left in memfd fd (a copy of fd
 * is kept): 0, EINVAL when fd is not a sealed map of that shape or places
 * pages outside the memory or over each other. */
int vs_store_adopt(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                   struct vs_store_shape shape, int fd);
void vs_store_free(struct vs_store *st);
/* The memfd holding the map, to hand to whoever keeps it past this process. */
int vs_store_fd(const struct vs_store *st);
/* The bytes the store offers (its export's size). */
uint64_t vs_store_bytes(const struct vs_store *st);

/* Appends the segments a READ needs to segs (at most one a page) and
 * fills buf where the map holds a same-filled page; pp gets one entry a
 * page. Returns the number of segments added. */
unsigned vs_store_plan_read(struct vs_store *st, struct vs_pager *pg, uint64_t off,
                            uint32_t len, uint8_t *buf, struct vs_seg *segs,
                            struct vs_page_plan *pp);
/* After a READ's segments succeeded: decompresses what they fetched into
 * buf. 0, or EIO when stored bytes do not decompress to a page. */
int vs_store_finish_read(struct vs_store *st, struct vs_pager *pg, uint64_t off,
                         uint32_t len, uint8_t *buf, const struct vs_page_plan *pp);
/* Same for a WRITE: segments for the pages that are not same-filled,
 * compressed and placed when the store compresses. 0, or ENOSPC when the
 * memory has no room for them (nothing is then claimed or planned). */
int vs_store_plan_write(struct vs_store *st, struct vs_pager *pg, uint64_t off, uint32_t len,
                        uint8_t *buf, struct vs_seg *segs, unsigned *nseg,
                        struct vs_page_plan *pp);
/* After a WRITE's segments all succeeded, or (ok false) after one failed. */
void vs_store_commit_write(struct vs_store *st, uint64_t off, uint32_t len,
                           const struct vs_page_plan *pp, bool ok);
/* WRITE_ZEROES: the range is stored, as zeros. */
void vs_store_zero(struct vs_store *st, uint64_t off, uint64_t len);
/* TRIM: the range is no longer stored and reads as zeros. */
void vs_store_discard(struct vs_store *st, uint64_t off, uint64_t len);

/* Counts the map (for status; a sweep of its bits, never on the I/O path). */
void vs_store_count(const struct vs_store *st, struct vs_store_count *c);

/* Whether the page is one 8-byte word repeated, and which. */
bool vs_page_same(const uint8_t *p, uint64_t *word);

#endif
