/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Page compression, one codec state per worker. Everything a codec needs
 * is made by vs_codec_init() at start-up; compressing and decompressing a
 * page allocate nothing and never block (zstd keeps the workspace its
 * first page sized: every later page is the same 4 KiB).
 *
 * The levels are zram's defaults in Linux (lz4: acceleration 1, zstd:
 * level 3), so that a page costs here what it costs there.
 */
#ifndef VS_CODEC_H
#define VS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vs_alg { VS_ALG_OFF, VS_ALG_LZ4, VS_ALG_ZSTD };

struct vs_codec {
	unsigned alg;       /* enum vs_alg */
	void *lz4_state;
	void *zcctx, *zdctx;
};

/* The algorithm named v ("off", "lz4", "zstd"): 0, or -1 if unknown. */
int vs_alg_find(const char *v, unsigned *alg);
const char *vs_alg_name(unsigned alg);

/* Loads the library alg needs (once; off the I/O path): 0, or ENOENT with
 * why saying which library is missing and what to install. */
int vs_codec_load(unsigned alg, char *why, size_t n);

/* Start-up only: 0, ENOENT (no library: vs_codec_load says why) or
 * ENOMEM. With VS_ALG_OFF it holds nothing. */
int vs_codec_init(struct vs_codec *c, unsigned alg);
void vs_codec_free(struct vs_codec *c);

/* Compresses one page into dst (cap bytes): the compressed length, or 0
 * when it does not fit in cap (the page is then kept as it is). */
uint32_t vs_codec_compress(struct vs_codec *c, const uint8_t *page, uint8_t *dst,
                           uint32_t cap);
/* Decompresses len bytes into one page: 0, or EIO unless they make
 * exactly one page. */
int vs_codec_decompress(struct vs_codec *c, const uint8_t *src, uint32_t len, uint8_t *page);

#endif
