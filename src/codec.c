/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * liblz4 and libzstd are loaded with dlopen, as libcuda is: compression is
 * opt-in, so the daemon builds with nothing but a C compiler and runs
 * without either library until one is asked for. The few functions used
 * are the libraries' stable API, declared here.
 */
#include "codec.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define ZSTD_LEVEL 3

static const char *const names[] = { "off", "lz4", "zstd" };
static const char *const libs[] = { NULL, "liblz4.so.1", "libzstd.so.1" };
static const char *const pkgs[] = { NULL, "liblz4-1 (Fedora: lz4-libs)", "libzstd1 (Fedora: libzstd)" };

static struct {
	int (*sizeof_state)(void);
	int (*compress)(void *state, const char *src, char *dst, int n, int cap, int accel);
	int (*decompress)(const char *src, char *dst, int n, int cap);
} lz4;

static struct {
	void *(*create_c)(void);
	size_t (*free_c)(void *);
	void *(*create_d)(void);
	size_t (*free_d)(void *);
	size_t (*compress)(void *c, void *dst, size_t cap, const void *src, size_t n, int level);
	size_t (*decompress)(void *d, void *dst, size_t cap, const void *src, size_t n);
	unsigned (*is_error)(size_t r);
} zstd;

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static bool loaded[3];

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

#define SYM(tab, field, name) \
	((*(void **)&tab.field = dlsym(h, name)) != NULL || (missing = name, false))

int vs_codec_load(unsigned alg, char *why, size_t n)
{
	if (!alg || alg >= sizeof libs / sizeof libs[0])
		return 0;
	pthread_mutex_lock(&load_mu);
	int rc = 0;
	if (!loaded[alg]) {
		const char *missing = NULL;
		void *h = dlopen(libs[alg], RTLD_NOW | RTLD_LOCAL);
		bool ok = h && (alg == VS_ALG_LZ4
			? SYM(lz4, sizeof_state, "LZ4_sizeofState") &&
			  SYM(lz4, compress, "LZ4_compress_fast_extState") &&
			  SYM(lz4, decompress, "LZ4_decompress_safe")
			: SYM(zstd, create_c, "ZSTD_createCCtx") && SYM(zstd, free_c, "ZSTD_freeCCtx") &&
			  SYM(zstd, create_d, "ZSTD_createDCtx") && SYM(zstd, free_d, "ZSTD_freeDCtx") &&
			  SYM(zstd, compress, "ZSTD_compressCCtx") &&
			  SYM(zstd, decompress, "ZSTD_decompressDCtx") &&
			  SYM(zstd, is_error, "ZSTD_isError"));
		if (!h)
			snprintf(why, n, "cannot load %s for compression with %s (%s): install %s",
			         libs[alg], names[alg], dlerror(), pkgs[alg]);
		else if (!ok)
			snprintf(why, n, "%s lacks %s: install %s", libs[alg], missing, pkgs[alg]);
		if (h && !ok)
			dlclose(h);
		loaded[alg] = ok;
		rc = ok ? 0 : ENOENT;
	}
	pthread_mutex_unlock(&load_mu);
	return rc;
}

int vs_codec_init(struct vs_codec *c, unsigned alg)
{
	char why[256];
	memset(c, 0, sizeof *c);
	if (vs_codec_load(alg, why, sizeof why))
		return ENOENT;
	c->alg = alg;
	if (alg == VS_ALG_LZ4) {
		c->lz4_state = malloc((size_t)lz4.sizeof_state());
		return c->lz4_state ? 0 : ENOMEM;
	}
	if (alg == VS_ALG_ZSTD) {
		c->zcctx = zstd.create_c();
		c->zdctx = zstd.create_d();
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
	if (c->zcctx)
		zstd.free_c(c->zcctx);
	if (c->zdctx)
		zstd.free_d(c->zdctx);
	memset(c, 0, sizeof *c);
}

uint32_t vs_codec_compress(struct vs_codec *c, const uint8_t *page, uint8_t *dst,
                           uint32_t cap)
{
	if (c->alg == VS_ALG_LZ4) {
		int n = lz4.compress(c->lz4_state, (const char *)page, (char *)dst, VS_BLOCK,
		                     (int)cap, 1);
		return n > 0 ? (uint32_t)n : 0;
	}
	if (c->alg == VS_ALG_ZSTD) {
		size_t n = zstd.compress(c->zcctx, dst, cap, page, VS_BLOCK, ZSTD_LEVEL);
		return zstd.is_error(n) ? 0 : (uint32_t)n;
	}
	return 0;
}

int vs_codec_decompress(struct vs_codec *c, const uint8_t *src, uint32_t len, uint8_t *page)
{
	if (c->alg == VS_ALG_LZ4) {
		int n = lz4.decompress((const char *)src, (char *)page, (int)len, VS_BLOCK);
		return n == VS_BLOCK ? 0 : EIO;
	}
	if (c->alg == VS_ALG_ZSTD) {
		size_t n = zstd.decompress(c->zdctx, page, VS_BLOCK, src, len);
		return !zstd.is_error(n) && n == VS_BLOCK ? 0 : EIO;
	}
	return EIO;
}
