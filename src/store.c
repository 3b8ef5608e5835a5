/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define PG VS_BLOCK

static uint64_t bit_words(uint64_t pages)
{
	return (pages + 63) / 64;
}

/* Layout of the memfd: same bits, stored bits, words. */
static size_t map_bytes(uint64_t pages)
{
	return (size_t)(2 * bit_words(pages) + pages) * sizeof(uint64_t);
}

static int map_fd(int fd, struct vs_store *st)
{
	size_t bytes = map_bytes(st->pages);
	/* Populated now: a fault on the I/O path would allocate. */
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED)
		return ENOMEM;
	st->same = m;
	st->stored = st->same + bit_words(st->pages);
	st->word = st->stored + bit_words(st->pages);
	st->fd = fd;
	return 0;
}

int vs_store_init(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size)
{
	st->be = be;
	st->mem = mem;
	st->pages = size / PG;
	int fd = memfd_create("vram-swap-map", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)map_bytes(st->pages)) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) || map_fd(fd, st)) {
		if (fd >= 0)
			close(fd);
		return ENOMEM;
	}
	/* Every page starts as zeros, not stored (a fresh memfd is all
	 * zeros): nothing was written yet. The same bits past the last page
	 * are set too, and stay so. */
	memset((void *)st->same, 0xff, bit_words(st->pages) * sizeof(uint64_t));
	return 0;
}

int vs_store_adopt(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                   int fd)
{
	struct stat sb;
	st->be = be;
	st->mem = mem;
	st->pages = size / PG;
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &sb) || (uint64_t)sb.st_size != map_bytes(st->pages) || seals < 0 ||
	    !(seals & F_SEAL_SHRINK))
		return EINVAL;
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0)
		return errno;
	int rc = map_fd(own, st);
	if (rc)
		close(own);
	return rc;
}

void vs_store_free(struct vs_store *st)
{
	if (!st->same)
		return;
	munmap((void *)st->same, map_bytes(st->pages));
	close(st->fd);
	st->same = NULL;
}

int vs_store_fd(const struct vs_store *st)
{
	return st->fd;
}

static inline uint64_t bit(uint64_t pg)
{
	return 1ULL << (pg % 64);
}

/* Payloads sit wherever they landed in the receive buffer, so loads go
 * through memcpy: unaligned-safe, and compiled to plain loads. */
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

bool vs_page_same(const uint8_t *p, uint64_t *word)
{
	uint64_t w = load64(p);
	/* Most data pages differ in their first words: check a few alone
	 * before the vectorisable sweep. */
	if ((load64(p + 8) ^ w) | (load64(p + 16) ^ w) | (load64(p + 24) ^ w))
		return false;
	uint64_t acc = 0;
	for (unsigned i = 32; i < PG; i += 8)
		acc |= load64(p + i) ^ w;
	*word = w;
	return acc == 0;
}

static void fill(uint8_t *p, uint64_t w)
{
	if (!w) {
		memset(p, 0, PG);
		return;
	}
	for (unsigned i = 0; i < PG; i += 8)
		memcpy(p + i, &w, sizeof w);
}

unsigned vs_store_plan_read(struct vs_store *st, uint64_t off, uint32_t len,
                            uint8_t *buf, struct vs_seg *segs)
{
	unsigned n = 0;
	uint64_t pg = off / PG;
	for (uint32_t done = 0; done < len; done += PG, pg++) {
		if (atomic_load_explicit(&st->same[pg / 64], memory_order_acquire) & bit(pg)) {
			fill(buf + done, atomic_load_explicit(&st->word[pg], memory_order_relaxed));
			continue;
		}
		if (n && segs[n - 1].off + segs[n - 1].len == off + done) {
			segs[n - 1].len += PG;
			continue;
		}
		segs[n++] = (struct vs_seg){ .mem = st->mem, .off = off + done, .buf = buf + done,
		                             .len = PG, .dir = VS_FROM_BACKEND };
	}
	return n;
}

unsigned vs_store_plan_write(struct vs_store *st, uint64_t off, uint32_t len,
                             uint8_t *buf, struct vs_seg *segs)
{
	unsigned n = 0;
	uint64_t w;
	for (uint32_t done = 0; done < len; done += PG) {
		if (vs_page_same(buf + done, &w))
			continue;
		if (n && segs[n - 1].off + segs[n - 1].len == off + done) {
			segs[n - 1].len += PG;
			continue;
		}
		segs[n++] = (struct vs_seg){ .mem = st->mem, .off = off + done, .buf = buf + done,
		                             .len = PG, .dir = VS_TO_BACKEND };
	}
	return n;
}

void vs_store_commit_write(struct vs_store *st, uint64_t off, uint32_t len,
                           const uint8_t *buf)
{
	uint64_t pg = off / PG, w;
	for (uint32_t done = 0; done < len; done += PG, pg++) {
		if (vs_page_same(buf + done, &w)) {
			atomic_store_explicit(&st->word[pg], w, memory_order_relaxed);
			atomic_fetch_or_explicit(&st->same[pg / 64], bit(pg), memory_order_release);
		} else {
			atomic_fetch_and_explicit(&st->same[pg / 64], ~bit(pg), memory_order_release);
		}
		atomic_fetch_or_explicit(&st->stored[pg / 64], bit(pg), memory_order_relaxed);
	}
}

/* Sets (or clears) the bits of pages [pg, end): ragged bits one by one,
 * whole words at once, so that a discard of many GiB is a sweep of its
 * bitmap, not a loop of atomic operations per page. */
static void bits(_Atomic uint64_t *map, uint64_t pg, uint64_t end, bool set)
{
	for (; pg < end && (pg % 64 || end - pg < 64); pg++)
		if (set)
			atomic_fetch_or_explicit(&map[pg / 64], bit(pg), memory_order_release);
		else
			atomic_fetch_and_explicit(&map[pg / 64], ~bit(pg), memory_order_release);
	for (; pg + 64 <= end; pg += 64)
		atomic_store_explicit(&map[pg / 64], set ? ~0ULL : 0, memory_order_release);
	for (; pg < end; pg++)
		if (set)
			atomic_fetch_or_explicit(&map[pg / 64], bit(pg), memory_order_release);
		else
			atomic_fetch_and_explicit(&map[pg / 64], ~bit(pg), memory_order_release);
}

static void zeros(struct vs_store *st, uint64_t off, uint64_t len, bool stored)
{
	uint64_t pg = off / PG, end = (off + len) / PG;
	for (uint64_t i = pg; i < end; i++)
		atomic_store_explicit(&st->word[i], 0, memory_order_relaxed);
	bits(st->same, pg, end, true);
	bits(st->stored, pg, end, stored);
}

void vs_store_zero(struct vs_store *st, uint64_t off, uint64_t len)
{
	zeros(st, off, len, true);
}

void vs_store_discard(struct vs_store *st, uint64_t off, uint64_t len)
{
	zeros(st, off, len, false);
}

void vs_store_count(const struct vs_store *st, struct vs_store_count *c)
{
	uint64_t stored = 0, same = 0, words = bit_words(st->pages);
	for (uint64_t i = 0; i < words; i++) {
		uint64_t s = atomic_load_explicit(&st->stored[i], memory_order_relaxed);
		stored += (uint64_t)__builtin_popcountll(s);
		same += (uint64_t)__builtin_popcountll(
		    s & atomic_load_explicit(&st->same[i], memory_order_relaxed));
	}
	*c = (struct vs_store_count){ .stored = stored, .same = same };
}
