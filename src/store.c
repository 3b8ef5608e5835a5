/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define PG VS_BLOCK

/* A place: the frame, the first block and the compressed length (4096:
 * kept as it is, the whole frame). 0 is no place. */
#define LOC_VALID (1ULL << 63)
#define LOC(frame, start, clen) (LOC_VALID | (uint64_t)(clen) << 46 | \
                                 (uint64_t)(start) << 40 | (frame))
#define LOC_FRAME(l) ((l) & ((1ULL << 40) - 1))
#define LOC_START(l) ((unsigned)((l) >> 40) & 63)
#define LOC_CLEN(l) ((uint32_t)((l) >> 46) & 0x1fff)
#define BLOCKS(clen) (((clen) + VS_PACK_BLOCK - 1) / VS_PACK_BLOCK)

/* A page that compresses to more than this is kept as it is: the few
 * blocks it would save are not worth decompressing it on every read. */
#define CLEN_MAX (VS_BLOCK - 8 * VS_PACK_BLOCK)

static uint64_t bit_words(uint64_t pages)
{
	return (pages + 63) / 64;
}

/* Layout of the memfd: same bits, stored bits, words, and with
 * compression the places and one word naming how they were made (the
 * layout without compression is that of the versions before it, so that
 * their maps are adopted as they are). */
static size_t map_bytes(uint64_t pages, unsigned alg)
{
	return (size_t)(2 * bit_words(pages) + pages * (alg ? 2 : 1) + (alg ? 1 : 0)) *
	       sizeof(uint64_t);
}

/* The last word of a compressed map: its compressor and ratio. */
#define SHAPE_MAGIC 0x5653504bULL   /* "VSPK" */
static uint64_t shape_word(const struct vs_store *st)
{
	return SHAPE_MAGIC << 32 | (uint64_t)st->alg << 8 | (st->pages / (st->pack.frames ?
	       st->pack.frames : 1));
}

static int map_fd(int fd, struct vs_store *st)
{
	size_t bytes = map_bytes(st->pages, st->alg);
	/* Populated now: a fault on the I/O path would allocate. */
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED)
		return ENOMEM;
	st->same = m;
	st->stored = st->same + bit_words(st->pages);
	st->word = st->stored + bit_words(st->pages);
	st->loc = st->alg ? st->word + st->pages : NULL;
	st->fd = fd;
	return 0;
}

static _Atomic uint64_t *shape_slot(struct vs_store *st)
{
	return st->loc + st->pages;
}

struct vs_store_shape vs_store_shape_of(const struct vs_config *cfg)
{
	struct vs_store_shape sh = { .alg = VS_ALG_OFF, .ratio = 1 };
	if (!vs_alg_find(cfg->compress, &sh.alg) && sh.alg)
		sh.ratio = cfg->ratio;
	return sh;
}

static int shape(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                 struct vs_store_shape sh)
{
	memset(st, 0, sizeof *st);
	st->be = be;
	st->mem = mem;
	st->alg = sh.alg;
	st->pages = size / PG * (sh.alg && sh.ratio ? sh.ratio : 1);
	st->fd = -1;
	return sh.alg ? vs_pack_init(&st->pack, size / PG) : 0;
}

int vs_store_init(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                  struct vs_store_shape sh)
{
	if (shape(st, be, mem, size, sh))
		return ENOMEM;
	int fd = memfd_create("vram-swap-map", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)map_bytes(st->pages, st->alg)) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) || map_fd(fd, st)) {
		if (fd >= 0)
			close(fd);
		vs_pack_free(&st->pack);
		return ENOMEM;
	}
	/* Every page starts as zeros, not stored (a fresh memfd is all
	 * zeros): nothing was written yet. The same bits past the last page
	 * are set too, and stay so. */
	memset((void *)st->same, 0xff, bit_words(st->pages) * sizeof(uint64_t));
	if (st->alg)
		atomic_store(shape_slot(st), shape_word(st));
	return 0;
}

/* The blocks the places of an adopted map claim, as this process's masks. */
static bool rebuild(struct vs_store *st)
{
	uint64_t z = 0;
	for (uint64_t i = 0; i < st->pages; i++) {
		uint64_t l = atomic_load_explicit(&st->loc[i], memory_order_relaxed);
		if (!l)
			continue;
		uint32_t clen = LOC_CLEN(l);
		if (!(l & LOC_VALID) || !clen || clen > VS_BLOCK ||
		    (clen == VS_BLOCK && LOC_START(l)) ||
		    !vs_pack_mark(&st->pack, LOC_FRAME(l), LOC_START(l), BLOCKS(clen)))
			return false;
		z += clen;
	}
	atomic_store(&st->zbytes, z);
	return true;
}

int vs_store_adopt(struct vs_store *st, struct vs_backend *be, uintptr_t mem, uint64_t size,
                   struct vs_store_shape sh, int fd)
{
	struct stat sb;
	if (shape(st, be, mem, size, sh))
		return ENOMEM;
	int seals = fcntl(fd, F_GET_SEALS);
	int rc = EINVAL;
	if (fstat(fd, &sb) || (uint64_t)sb.st_size != map_bytes(st->pages, st->alg) ||
	    seals < 0 || !(seals & F_SEAL_SHRINK))
		goto fail;
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0) {
		rc = errno;
		goto fail;
	}
	rc = map_fd(own, st);
	if (rc) {
		close(own);
		goto fail;
	}
	if (st->alg && (atomic_load(shape_slot(st)) != shape_word(st) || !rebuild(st))) {
		vs_store_free(st);
		return EINVAL;
	}
	return 0;
fail:
	vs_pack_free(&st->pack);
	return rc;
}

void vs_store_free(struct vs_store *st)
{
	vs_pack_free(&st->pack);
	if (!st->same)
		return;
	munmap((void *)st->same, map_bytes(st->pages, st->alg));
	close(st->fd);
	st->same = NULL;
}

int vs_store_fd(const struct vs_store *st)
{
	return st->fd;
}

uint64_t vs_store_bytes(const struct vs_store *st)
{
	return st->pages * PG;
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

static inline bool is_same(const struct vs_store *st, uint64_t pg)
{
	return atomic_load_explicit(&st->same[pg / 64], memory_order_acquire) & bit(pg);
}

/* Adds a segment, or grows the last one when this one continues it in
 * the chunk and in host memory. */
static unsigned add_seg(struct vs_seg *segs, unsigned n, uintptr_t mem, uint64_t off,
                        uint8_t *buf, uint32_t len, uint8_t dir)
{
	struct vs_seg *l = n ? &segs[n - 1] : NULL;
	if (l && l->off + l->len == off && (uint8_t *)l->buf + l->len == buf) {
		l->len += len;
		return n;
	}
	segs[n] = (struct vs_seg){ .mem = mem, .off = off, .buf = buf, .len = len, .dir = dir };
	return n + 1;
}

static inline uint64_t loc_off(uint64_t l)
{
	return LOC_FRAME(l) * PG + LOC_START(l) * VS_PACK_BLOCK;
}

unsigned vs_store_plan_read(struct vs_store *st, struct vs_pager *pg, uint64_t off,
                            uint32_t len, uint8_t *buf, struct vs_seg *segs,
                            struct vs_page_plan *pp)
{
	unsigned n = 0;
	uint64_t p = off / PG;
	for (uint32_t done = 0, i = 0; done < len; done += PG, p++, i++) {
		pp[i] = (struct vs_page_plan){ .same = true };
		if (is_same(st, p)) {
			fill(buf + done, atomic_load_explicit(&st->word[p], memory_order_relaxed));
			continue;
		}
		if (!st->alg) {
			pp[i].same = false;
			n = add_seg(segs, n, st->mem, off + done, buf + done, PG, VS_FROM_BACKEND);
			continue;
		}
		uint64_t l = atomic_load_explicit(&st->loc[p], memory_order_acquire);
		if (!l) {
			/* Not met: commit places a page before its same bit
			 * clears. Zeros rather than a copy from nowhere. */
			fill(buf + done, 0);
			continue;
		}
		pp[i] = (struct vs_page_plan){ .v = l };
		uint32_t clen = LOC_CLEN(l);
		uint8_t *dst = clen == VS_BLOCK ? buf + done : pg->scratch + done;
		n = add_seg(segs, n, st->mem, loc_off(l), dst, BLOCKS(clen) * VS_PACK_BLOCK,
		            VS_FROM_BACKEND);
	}
	return n;
}

int vs_store_finish_read(struct vs_store *st, struct vs_pager *pg, uint64_t off,
                         uint32_t len, uint8_t *buf, const struct vs_page_plan *pp)
{
	if (!st->alg)
		return 0;
	int err = 0;
	for (uint32_t done = 0, i = 0; done < len; done += PG, i++) {
		uint32_t clen = LOC_CLEN(pp[i].v);
		if (pp[i].same || clen == VS_BLOCK)
			continue;
		if (vs_codec_decompress(&pg->codec, pg->scratch + done, clen, buf + done)) {
			vs_log(LOG_ERR, "page at offset %" PRIu64 " (%" PRIu32 " bytes at %" PRIu64
			       " in the chunk) does not decompress with %s", off + done, clen,
			       loc_off(pp[i].v), vs_alg_name(st->alg));
			err = EIO;
		}
	}
	return err;
}

/* Gives a place's blocks back. */
static void unplace(struct vs_store *st, uint64_t l)
{
	if (!l)
		return;
	uint32_t clen = LOC_CLEN(l);
	vs_pack_release(&st->pack, LOC_FRAME(l), LOC_START(l), BLOCKS(clen));
	atomic_fetch_sub_explicit(&st->zbytes, clen, memory_order_relaxed);
}

int vs_store_plan_write(struct vs_store *st, struct vs_pager *pg, uint64_t off, uint32_t len,
                        uint8_t *buf, struct vs_seg *segs, unsigned *nseg,
                        struct vs_page_plan *pp)
{
	unsigned n = 0;
	uint32_t done = 0, i = 0;
	for (; done < len; done += PG, i++) {
		uint64_t w;
		if (vs_page_same(buf + done, &w)) {
			pp[i] = (struct vs_page_plan){ .v = w, .same = true };
			continue;
		}
		pp[i] = (struct vs_page_plan){ 0 };
		if (!st->alg) {
			n = add_seg(segs, n, st->mem, off + done, buf + done, PG, VS_TO_BACKEND);
			continue;
		}
		uint8_t *src = pg->scratch + done;
		uint32_t clen = vs_codec_compress(&pg->codec, buf + done, src, CLEN_MAX);
		if (!clen) {
			clen = VS_BLOCK;
			src = buf + done;
		}
		uint64_t frame;
		unsigned start;
		if (vs_pack_claim(&st->pack, BLOCKS(clen), &pg->cursor, &frame, &start))
			goto full;
		pp[i].v = LOC(frame, start, clen);
		atomic_fetch_add_explicit(&st->zbytes, clen, memory_order_relaxed);
		n = add_seg(segs, n, st->mem, loc_off(pp[i].v), src, BLOCKS(clen) * VS_PACK_BLOCK,
		            VS_TO_BACKEND);
	}
	*nseg = n;
	return 0;
full:
	while (i--)
		if (!pp[i].same)
			unplace(st, pp[i].v);
	*nseg = 0;
	return ENOSPC;
}

void vs_store_commit_write(struct vs_store *st, uint64_t off, uint32_t len,
                           const struct vs_page_plan *pp, bool ok)
{
	uint64_t p = off / PG;
	for (uint32_t done = 0, i = 0; done < len; done += PG, p++, i++) {
		if (!ok) {
			if (st->alg && !pp[i].same)
				unplace(st, pp[i].v);
			continue;
		}
		if (pp[i].same) {
			atomic_store_explicit(&st->word[p], pp[i].v, memory_order_relaxed);
			atomic_fetch_or_explicit(&st->same[p / 64], bit(p), memory_order_release);
			if (st->alg)
				unplace(st, atomic_exchange(&st->loc[p], 0));
		} else {
			/* The new place is in the map before the same bit clears,
			 * the old one is freed only after. */
			uint64_t old = st->alg ? atomic_exchange(&st->loc[p], pp[i].v) : 0;
			atomic_fetch_and_explicit(&st->same[p / 64], ~bit(p), memory_order_release);
			if (old)
				unplace(st, old);
		}
		atomic_fetch_or_explicit(&st->stored[p / 64], bit(p), memory_order_relaxed);
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
	/* The pages read as zeros now; only then are their blocks free. */
	if (st->alg)
		for (uint64_t i = pg; i < end; i++)
			if (atomic_load_explicit(&st->loc[i], memory_order_relaxed))
				unplace(st, atomic_exchange(&st->loc[i], 0));
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
	if (st->alg) {
		c->used = atomic_load_explicit(&st->pack.used, memory_order_relaxed) * VS_PACK_BLOCK;
		c->compr = atomic_load_explicit(&st->zbytes, memory_order_relaxed);
	} else {
		c->used = c->compr = (stored - same) * PG;
	}
}
