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

static size_t map_bytes(uint64_t pages)
{
	return (pages + 63) / 64 * sizeof(uint64_t);
}

/* The map lives in a memfd of its own, sealed at its size, so that it
 * outlives the process beside the chunk it describes. */
static int map_fd(int fd, size_t bytes, struct vs_store *st)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED)
		return ENOMEM;
	st->zmap = m;
	st->zfd = fd;
	return 0;
}

int vs_store_init(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size)
{
	st->be = be;
	st->mem = mem;
	st->pages = size / PG;
	size_t bytes = map_bytes(st->pages);
	int fd = memfd_create("vram-swap-zmap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) ||
	    map_fd(fd, bytes, st)) {
		if (fd >= 0)
			close(fd);
		return ENOMEM;
	}
	/* Every page starts as zero: nothing was written yet. */
	memset((void *)st->zmap, 0xff, bytes);
	return 0;
}

int vs_store_adopt(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                   int fd)
{
	struct stat sb;
	st->be = be;
	st->mem = mem;
	st->pages = size / PG;
	size_t bytes = map_bytes(st->pages);
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &sb) || (uint64_t)sb.st_size != bytes || seals < 0 || !(seals & F_SEAL_SHRINK))
		return EINVAL;
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0)
		return errno;
	int rc = map_fd(own, bytes, st);
	if (rc)
		close(own);
	return rc;
}

void vs_store_free(struct vs_store *st)
{
	if (st->zmap)
		munmap((void *)st->zmap, map_bytes(st->pages));
	if (st->zmap)
		close(st->zfd);
	st->zmap = NULL;
}

int vs_store_fd(const struct vs_store *st)
{
	return st->zfd;
}

static inline bool is_zero(const struct vs_store *st, uint64_t pg)
{
	return atomic_load_explicit(&st->zmap[pg / 64], memory_order_acquire) &
	       (1ULL << (pg % 64));
}

/* Payloads sit wherever they landed in the receive buffer, so loads go
 * through memcpy: unaligned-safe, and compiled to plain loads. */
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

bool vs_page_is_zero(const uint8_t *p)
{
	/* Most data pages differ from zero in their first words: check a
	 * few alone before the vectorisable sweep. */
	if (load64(p) | load64(p + 8) | load64(p + 16) | load64(p + 24))
		return false;
	uint64_t acc = 0;
	for (unsigned i = 32; i < PG; i += 8)
		acc |= load64(p + i);
	return acc == 0;
}

unsigned vs_store_plan_read(struct vs_store *st, uint64_t off, uint32_t len,
                            uint8_t *buf, struct vs_seg *segs)
{
	unsigned n = 0;
	uint64_t pg = off / PG;
	for (uint32_t done = 0; done < len; done += PG, pg++) {
		if (is_zero(st, pg)) {
			memset(buf + done, 0, PG);
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
	(void)st;
	unsigned n = 0;
	for (uint32_t done = 0; done < len; done += PG) {
		if (vs_page_is_zero(buf + done))
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
	uint64_t pg = off / PG;
	for (uint32_t done = 0; done < len; done += PG, pg++) {
		uint64_t bit = 1ULL << (pg % 64);
		if (vs_page_is_zero(buf + done))
			atomic_fetch_or_explicit(&st->zmap[pg / 64], bit, memory_order_release);
		else
			atomic_fetch_and_explicit(&st->zmap[pg / 64], ~bit, memory_order_release);
	}
}

void vs_store_zero(struct vs_store *st, uint64_t off, uint64_t len)
{
	uint64_t pg = off / PG, end = (off + len) / PG;
	/* Ragged bits one by one, whole words at once: a discard of many
	 * GiB is a memset of its bitmap, not a loop over pages. */
	while (pg < end && pg % 64)
		atomic_fetch_or_explicit(&st->zmap[pg / 64], 1ULL << (pg % 64), memory_order_release), pg++;
	for (; pg + 64 <= end; pg += 64)
		atomic_store_explicit(&st->zmap[pg / 64], ~0ULL, memory_order_release);
	for (; pg < end; pg++)
		atomic_fetch_or_explicit(&st->zmap[pg / 64], 1ULL << (pg % 64), memory_order_release);
}

uint64_t vs_store_used(const struct vs_store *st)
{
	uint64_t zero = 0, words = (st->pages + 63) / 64;
	for (uint64_t i = 0; i < words; i++)
		zero += (uint64_t)__builtin_popcountll(
		    atomic_load_explicit(&st->zmap[i], memory_order_relaxed));
	/* The tail bits past the last page are set at start and never cleared. */
	zero -= words * 64 - st->pages;
	return (st->pages - zero) * PG;
}
