/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One chunk as the engine sees it: a backend allocation plus a map of pages
 * known to be zero. Swap writes many zero pages and discards freed slots; like
 * zram's same-filled pages, those never touch the backend, and a page never
 * written reads back as zeros without the backend having been cleared.
 *
 * Requests become backend segments in two steps: plan (decide which pages
 * move, fill zero pages of reads) before the batch runs, commit (update the
 * map) after its copies completed. A page's bit is cleared only after its
 * data reached the backend, so no reader sees stale backend contents.
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
	_Atomic uint64_t *zmap;   /* bit set: page reads as zeros */
	int zfd;                  /* the memfd holding zmap */
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
 * and zero-fills buf where the map says zero. Returns the number added. */
unsigned vs_store_plan_read(struct vs_store *st, uint64_t off, uint32_t len,
                            uint8_t *buf, struct vs_seg *segs);
/* Same for a WRITE: segments for the pages that are not all zeros. */
unsigned vs_store_plan_write(struct vs_store *st, uint64_t off, uint32_t len,
                             uint8_t *buf, struct vs_seg *segs);
/* After a WRITE's segments all succeeded. */
void vs_store_commit_write(struct vs_store *st, uint64_t off, uint32_t len,
                           const uint8_t *buf);
/* TRIM and WRITE_ZEROES: the range reads as zeros from now on. */
void vs_store_zero(struct vs_store *st, uint64_t off, uint64_t len);

/* Bytes not known to be zero (for status). */
uint64_t vs_store_used(const struct vs_store *st);

bool vs_page_is_zero(const uint8_t *p);

#endif
