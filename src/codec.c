/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "codec.h"

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "config.h"

#define ZSTD_LEVEL 3

static const char *const names[] = { "off", "lz4", "zstd" };

int vs_alg_find(const char *v, unsigned *alg)
{
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(v, names[i])) {
			*alg = i;
			return 0;
		}
	return -1;
}

const char *vs_alg_name(unsigned alg)
{
	return alg < sizeof names / sizeof names[0] ? names[alg] : "?";
}

int vs_codec_init(struct vs_codec *c, unsigned alg)
{
	memset(c, 0, sizeof *c);
	c->alg = alg;
	if (alg == VS_ALG_LZ4) {
		c->lz4_state = malloc((size_t)LZ4_sizeofState());
		return c->lz4_state ? 0 : ENOMEM;
	}
	if (alg == VS_ALG_ZSTD) {
		c->zcctx = ZSTD_createCCtx();
		c->zdctx = ZSTD_createDCtx();
		if (!c->zcctx || !c->zdctx) {
			vs_codec_free(c);
			return ENOMEM;
		}
		/* One page now sizes the workspaces for every page after it. */
		static uint8_t page[VS_BLOCK], out[VS_BLOCK];
		uint32_t n = vs_codec_compress(c, page, out, sizeof out);
		if (!n || vs_codec_decompress(c, out, n, page)) {
			vs_codec_free(c);
			return ENOMEM;
		}
	}
	return 0;
}

void vs_codec_free(struct vs_codec *c)
{
	free(c->lz4_state);
	ZSTD_freeCCtx(c->zcctx);
	ZSTD_freeDCtx(c->zdctx);
	memset(c, 0, sizeof *c);
}

uint32_t vs_codec_compress(struct vs_codec *c, const uint8_t *page, uint8_t *dst,
                           uint32_t cap)
{
	if (c->alg == VS_ALG_LZ4) {
		int n = LZ4_compress_fast_extState(c->lz4_state, (const char *)page, (char *)dst,
		                                   VS_BLOCK, (int)cap, 1);
		return n > 0 ? (uint32_t)n : 0;
	}
	if (c->alg == VS_ALG_ZSTD) {
		size_t n = ZSTD_compressCCtx(c->zcctx, dst, cap, page, VS_BLOCK, ZSTD_LEVEL);
		return ZSTD_isError(n) ? 0 : (uint32_t)n;
	}
	return 0;
}

int vs_codec_decompress(struct vs_codec *c, const uint8_t *src, uint32_t len, uint8_t *page)
{
	if (c->alg == VS_ALG_LZ4) {
		int n = LZ4_decompress_safe((const char *)src, (char *)page, (int)len, VS_BLOCK);
		return n == VS_BLOCK ? 0 : EIO;
	}
	if (c->alg == VS_ALG_ZSTD) {
		size_t n = ZSTD_decompressDCtx(c->zdctx, page, VS_BLOCK, src, len);
		return !ZSTD_isError(n) && n == VS_BLOCK ? 0 : EIO;
	}
	return EIO;
}
