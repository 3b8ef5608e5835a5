/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The page map and request planning, over the host backend: same-filled
 * pages of any word, counted as zram counts them; compressed pages placed
 * in blocks, read back, freed by rewrites and discards, refused when the
 * memory is full, and adopted from the map's memfd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "store.h"

#define PG 4096u

static struct vs_store st;

static void expect(uint64_t stored, uint64_t same, int line)
{
	struct vs_store_count k;
	vs_store_count(&st, &k);
	if (k.stored != stored || k.same != same) {
		fprintf(stderr, "line %d: stored %llu same %llu, expected %llu %llu\n", line,
		        (unsigned long long)k.stored, (unsigned long long)k.same,
		        (unsigned long long)stored, (unsigned long long)same);
		failures++;
	}
}
#define EXPECT(stored, same) expect(stored, same, __LINE__)

static struct vs_queue *q;
static struct vs_pager pg;
static struct vs_seg segs[64];
static struct vs_page_plan pp[16];
static uint8_t scratch[65536] __attribute__((aligned(64)));

/* A WRITE through plan, copy and commit: the segments it needed, or -1
 * when it was refused. */
static int wr(uint64_t off, uint32_t len, uint8_t *buf)
{
	unsigned n;
	pg.scratch = scratch;
	if (vs_store_plan_write(&st, &pg, off, len, buf, segs, &n, pp))
		return -1;
	if (n && st.be->ops->xfer(q, segs, n))
		failures++;
	vs_store_commit_write(&st, off, len, pp, true);
	return (int)n;
}

/* A READ through plan, copy and finish: the segments it needed. */
static unsigned rdp(uint64_t off, uint32_t len, uint8_t *buf)
{
	pg.scratch = scratch;
	unsigned n = vs_store_plan_read(&st, &pg, off, len, buf, segs, pp);
	if (n && st.be->ops->xfer(q, segs, n))
		failures++;
	if (vs_store_finish_read(&st, &pg, off, len, buf, pp))
		failures++;
	return n;
}

static void fill_word(uint8_t *p, uint64_t w)
{
	for (unsigned i = 0; i < PG; i += 8)
		memcpy(p + i, &w, 8);
}

/* Text-like data: compresses, but is not same-filled. */
static void text_page(uint8_t *p, unsigned seed)
{
	for (unsigned i = 0; i < PG; i++)
		p[i] = (uint8_t)("the quick brown fox jumps over the lazy dog "[(i + seed) % 44] +
		                 (i % 97 == 0 ? seed : 0));
}

/* Random bytes: do not compress, kept as they are. */
static void noise_page(uint8_t *p, unsigned seed)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
	for (unsigned i = 0; i < PG; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static uint64_t used_bytes(void)
{
	struct vs_store_count k;
	vs_store_count(&st, &k);
	return k.used;
}

/* A store of 64 KiB of memory offering 128 KiB (ratio 2), with alg. */
static void compressed(struct vs_backend *be, uintptr_t mem, unsigned alg)
{
	const struct vs_store_shape sh = { alg, 2 };
	static uint8_t buf[8 * PG], rd[8 * PG];
	CHECK(vs_codec_init(&pg.codec, alg) == 0);
	CHECK(vs_store_init(&st, be, mem, 16 * PG, sh) == 0);
	CHECK_EQ(vs_store_bytes(&st), 32 * PG);

	/* Text, a same-filled page, noise: the text in a few blocks, the
	 * noise in a whole frame, the word in none. */
	text_page(buf, 1);
	fill_word(buf + PG, 0x77);
	noise_page(buf + 2 * PG, 1);
	text_page(buf + 3 * PG, 2);
	CHECK_EQ(wr(0, 4 * PG, buf), 3);
	struct vs_store_count k;
	vs_store_count(&st, &k);
	CHECK_EQ(k.stored, 4);
	CHECK_EQ(k.same, 1);
	CHECK(k.compr > PG && k.compr < PG + 1024);     /* the noise, and little text */
	CHECK(k.used >= k.compr && k.used < k.compr + 3 * VS_PACK_BLOCK);
	memset(rd, 0xee, sizeof rd);
	CHECK_EQ(rdp(0, 4 * PG, rd), 3);
	CHECK(memcmp(rd, buf, 4 * PG) == 0);

	/* A rewrite frees the old blocks; a same-filled page over data and a
	 * discard free theirs. */
	uint64_t before = used_bytes();
	text_page(buf, 3);
	CHECK_EQ(wr(0, PG, buf), 1);
	CHECK_EQ(used_bytes(), before);
	fill_word(buf + 3 * PG, 0);
	CHECK_EQ(wr(3 * PG, PG, buf + 3 * PG), 0);
	CHECK(used_bytes() < before);
	vs_store_discard(&st, 2 * PG, PG);
	CHECK(used_bytes() < PG);
	EXPECT(3, 2);
	CHECK_EQ(rdp(0, 4 * PG, rd), 1);
	CHECK(memcmp(rd, buf, 2 * PG) == 0);
	CHECK(rd[2 * PG] == 0 && rd[3 * PG + 5] == 0);

	/* Noise fills the 16 frames; the 17th page is refused and nothing
	 * else changes: the claim it made is given back. */
	vs_store_discard(&st, 0, 32 * PG);
	CHECK_EQ(used_bytes(), 0);
	for (unsigned i = 0; i < 16; i++) {
		noise_page(buf, 10 + i);
		CHECK_EQ(wr((uint64_t)i * PG, PG, buf), 1);
	}
	CHECK_EQ(used_bytes(), 16 * PG);
	noise_page(buf, 99);
	text_page(buf + PG, 9);
	CHECK_EQ(wr(16 * PG, 2 * PG, buf), -1);
	CHECK_EQ(used_bytes(), 16 * PG);
	EXPECT(16, 0);
	/* Free one frame: the text page fits again, in blocks of it. */
	vs_store_discard(&st, 5 * PG, PG);
	CHECK_EQ(wr(17 * PG, PG, buf + PG), 1);
	CHECK_EQ(rdp(17 * PG, PG, rd), 1);
	CHECK(memcmp(rd, buf + PG, PG) == 0);
	for (unsigned i = 0; i < 16; i++) {
		if (i == 5)
			continue;
		noise_page(buf, 10 + i);
		CHECK_EQ(rdp((uint64_t)i * PG, PG, rd), 1);
		CHECK(memcmp(rd, buf, PG) == 0);
	}

	/* A failed copy gives its claim back and leaves the page as it was. */
	before = used_bytes();
	unsigned n;
	text_page(buf, 4);
	pg.scratch = scratch;
	CHECK_EQ(vs_store_plan_write(&st, &pg, 20 * PG, PG, buf, segs, &n, pp), 0);
	CHECK(used_bytes() > before);
	vs_store_commit_write(&st, 20 * PG, PG, pp, false);
	CHECK_EQ(used_bytes(), before);
	EXPECT(16, 0);

	/* The places are part of the map: adopted, every page reads back and
	 * the blocks in use are counted again; a map whose places overlap is
	 * refused. */
	int fd = dup(vs_store_fd(&st));
	vs_store_free(&st);
	CHECK(vs_store_adopt(&st, be, mem, 16 * PG, sh, fd) == 0);
	CHECK_EQ(used_bytes(), before);
	text_page(buf + PG, 9);
	CHECK_EQ(rdp(17 * PG, PG, rd), 1);
	CHECK(memcmp(rd, buf + PG, PG) == 0);
	noise_page(buf, 10);
	CHECK_EQ(rdp(0, PG, rd), 1);
	CHECK(memcmp(rd, buf, PG) == 0);
	/* A map made with the other compressor is refused: its pages would
	 * not decompress. */
	vs_store_free(&st);
	struct vs_store bad;
	const struct vs_store_shape other = { alg == VS_ALG_LZ4 ? VS_ALG_ZSTD : VS_ALG_LZ4, 2 };
	CHECK(vs_store_adopt(&bad, be, mem, 16 * PG, other, fd) == EINVAL);
	CHECK(vs_store_adopt(&st, be, mem, 16 * PG, sh, fd) == 0);
	atomic_store(&st.loc[30], atomic_load(&st.loc[0]));
	vs_store_free(&st);
	CHECK(vs_store_adopt(&bad, be, mem, 16 * PG, sh, fd) == EINVAL);
	/* Nor is it taken as an uncompressed map, or one of another ratio. */
	CHECK(vs_store_adopt(&bad, be, mem, 16 * PG, (struct vs_store_shape){ VS_ALG_OFF, 1 },
	                     fd) == EINVAL);
	CHECK(vs_store_adopt(&bad, be, mem, 16 * PG, (struct vs_store_shape){ alg, 3 },
	                     fd) == EINVAL);
	close(fd);
	vs_codec_free(&pg.codec);
}

int main(void)
{
	vs_log_init(false);
	struct vs_config cfg = { 0 };
	struct vs_backend be = { .ops = &vs_backend_host };
	uintptr_t mem = 0;
	char why[128];
	CHECK(be.ops->open(&be, &cfg) == 0);
	CHECK(be.ops->alloc(&be, 1 << 20, &mem, why, sizeof why) == 0);
	const struct vs_store_shape off = { VS_ALG_OFF, 1 };
	CHECK(vs_store_init(&st, &be, mem, 1 << 20, off) == 0);
	EXPECT(0, 0);
	CHECK_EQ(vs_store_bytes(&st), 1 << 20);

	CHECK(be.ops->queue_open(&be, &q) == 0);
	static uint8_t buf[65536] __attribute__((aligned(64)));
	static uint8_t rd[65536];

	/* pages: data, zero, same-filled 0x0202..., data -> two segments */
	memset(buf, 0, sizeof buf);
	memset(buf, 1, PG);
	buf[17] = 3;
	memset(buf + 2 * PG, 2, PG);
	buf[PG * 3 + 4095] = 9;
	CHECK_EQ(wr(PG, 4 * PG, buf), 2);
	CHECK(segs[0].off == PG && segs[0].len == PG && segs[1].off == 4 * PG && segs[1].len == PG);
	EXPECT(4, 2);

	memset(rd, 0xee, sizeof rd);
	CHECK_EQ(rdp(0, 5 * PG, rd), 2);
	CHECK(rd[0] == 0 && rd[PG - 1] == 0);           /* never written */
	CHECK(memcmp(rd + PG, buf, 4 * PG) == 0);

	/* Any word repeated is kept as that word, whatever its bytes; one
	 * byte off in the last word and it is data. */
	static const uint64_t words[] = { 0x0123456789abcdefULL, ~0ULL, 1, 1ULL << 63 };
	for (unsigned i = 0; i < 4; i++) {
		fill_word(buf + i * PG, words[i]);
		uint64_t w = 0;
		CHECK(vs_page_same(buf + i * PG, &w) && w == words[i]);
	}
	CHECK_EQ(wr(8 * PG, 4 * PG, buf), 0);
	EXPECT(8, 6);
	memset(rd, 0, sizeof rd);
	CHECK_EQ(rdp(8 * PG, 4 * PG, rd), 0);
	CHECK(memcmp(rd, buf, 4 * PG) == 0);
	buf[PG - 1] ^= 0x10;
	uint64_t w;
	CHECK(!vs_page_same(buf, &w));
	buf[PG - 1] ^= 0x10;
	buf[5] ^= 0x10;
	CHECK(!vs_page_same(buf, &w));

	/* Data over a same-filled page: it reads as data afterwards ... */
	memset(buf, 0x44, PG);
	buf[2000] = 0;
	CHECK_EQ(wr(8 * PG, PG, buf), 1);
	EXPECT(8, 5);
	CHECK_EQ(rdp(8 * PG, PG, rd), 1);
	CHECK(memcmp(rd, buf, PG) == 0);
	/* ... and a same-filled page over data reads as its word. */
	fill_word(buf, 0x5555aaaa5555aaaaULL);
	CHECK_EQ(wr(8 * PG, PG, buf), 0);
	EXPECT(8, 6);
	CHECK_EQ(rdp(8 * PG, PG, rd), 0);
	CHECK(memcmp(rd, buf, PG) == 0);

	/* WRITE_ZEROES stores zeros; TRIM stores nothing; both read zeros.
	 * Ranges cross a 64-page word. */
	vs_store_zero(&st, 60 * PG, 8 * PG);
	EXPECT(16, 14);
	vs_store_discard(&st, 0, 12 * PG);
	EXPECT(8, 8);
	memset(rd, 0xee, sizeof rd);
	CHECK_EQ(rdp(0, 16 * PG, rd), 0);
	CHECK(rd[0] == 0 && rd[8 * PG + 8] == 0 && rd[16 * PG - 1] == 0);
	vs_store_discard(&st, 0, 1 << 20);
	EXPECT(0, 0);

	/* An all-zero write over data makes the page read as zero. */
	memset(buf, 3, PG);
	buf[0] = 4;
	CHECK_EQ(wr(65 * PG, PG, buf), 1);
	EXPECT(1, 0);
	memset(buf, 0, PG);
	CHECK_EQ(wr(65 * PG, PG, buf), 0);
	EXPECT(1, 1);
	CHECK_EQ(rdp(65 * PG, PG, rd), 0);
	CHECK(rd[0] == 0 && rd[PG - 1] == 0);

	/* The map outlives the store: adopted from its memfd, it says the same. */
	fill_word(buf, 0xfeedULL);
	CHECK_EQ(wr(70 * PG, PG, buf), 0);
	int fd = dup(vs_store_fd(&st));
	vs_store_free(&st);
	CHECK(vs_store_adopt(&st, &be, mem, 1 << 20, off, fd) == 0);
	EXPECT(2, 2);
	CHECK_EQ(rdp(70 * PG, PG, rd), 0);
	CHECK(memcmp(rd, buf, PG) == 0);
	vs_store_free(&st);
	struct vs_store other;
	CHECK(vs_store_adopt(&other, &be, mem, 2 << 20, off, fd) == EINVAL);
	/* A map of another shape (compressed) is refused too. */
	CHECK(vs_store_adopt(&other, &be, mem, 1 << 20, (struct vs_store_shape){ VS_ALG_LZ4, 2 },
	                     fd) == EINVAL);
	close(fd);

	compressed(&be, mem, VS_ALG_LZ4);
	compressed(&be, mem, VS_ALG_ZSTD);

	be.ops->queue_close(q);
	be.ops->release(&be, mem, 1 << 20);
	be.ops->close(&be);
	if (failures)
		fprintf(stderr, "test_store: %d failure(s)\n", failures);
	return failures != 0;
}
