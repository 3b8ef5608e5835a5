/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host backend: chunks in anonymous memory, locked in RAM. For
 * tests, benchmarks and trying vram-swap on a machine without a GPU (swap
 * to RAM only makes sense for that). */
#include "backend.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

/* A "Key:    1234 kB" line of /proc/meminfo, in bytes (0 if absent). */
static uint64_t meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	size_t n = strlen(key);
	uint64_t kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, key, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%" SCNu64, &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* A chunk in transparent huge pages where the kernel can give them:
 * random 4 KiB requests over a multi-GiB chunk otherwise miss the TLB on
 * nearly every copy. The advice must come before the pages exist, and
 * mlockall(MCL_FUTURE) populates a mapping as soon as it is accessible:
 * so map it inaccessible, advise, then open it up (which populates and
 * locks it under mlockall) and populate it explicitly otherwise. */
static void *chunk_map(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return p;
	madvise(p, size, MADV_HUGEPAGE);  /* only advice: 4 KiB pages work too */
	if (mprotect(p, size, PROT_READ | PROT_WRITE))
		goto fail;
	if (madvise(p, size, MADV_POPULATE_WRITE)) {
		if (errno != EINVAL)
			goto fail;
		/* Kernels before 5.14: touch every page. */
		for (uint64_t o = 0; o < size; o += 4096)
			((volatile uint8_t *)p)[o] = 0;
	}
	return p;
fail:;
	int e = errno;
	munmap(p, size);
	errno = e;
	return MAP_FAILED;
}

static int host_open(struct vs_backend *be, const struct vs_config *cfg)
{
	(void)cfg;
	snprintf(be->device_name, sizeof be->device_name, "host memory");
	return 0;
}

static int host_mem_info(struct vs_backend *be, uint64_t *free_b, uint64_t *total_b)
{
	(void)be;
	*free_b = meminfo("MemAvailable");
	*total_b = meminfo("MemTotal");
	return 0;
}

/* MAP_NORESERVE|MAP_POPULATE would defeat the point: the pages must exist
 * now, not be found missing under memory pressure. mlockall() (when it was
 * granted) locks them as they appear. */
static int host_alloc(struct vs_backend *be, uint64_t size, uintptr_t *mem, char *why,
                      size_t n)
{
	(void)be;
	void *p = chunk_map(size);
	if (p == MAP_FAILED) {
		snprintf(why, n, "%s", strerror(errno));
		return ENOMEM;
	}
	*mem = (uintptr_t)p;
	return 0;
}

static void host_release(struct vs_backend *be, uintptr_t mem, uint64_t size)
{
	(void)be;
	munmap((void *)mem, size);
}

static void *host_buf_alloc(struct vs_backend *be, size_t len)
{
	(void)be;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void host_buf_free(struct vs_backend *be, void *p, size_t len)
{
	(void)be;
	munmap(p, len);
}

struct vs_queue { struct vs_backend *be; };

static int host_queue_open(struct vs_backend *be, struct vs_queue **q)
{
	*q = calloc(1, sizeof **q);
	if (!*q)
		return ENOMEM;
	(*q)->be = be;
	return 0;
}

static void host_queue_close(struct vs_queue *q) { free(q); }

#if defined(__x86_64__)
#include <emmintrin.h>
/* Pages written to a chunk are rarely read back soon, and the chunks
 * is far larger than the caches: plain stores would first read every
 * destination line from RAM and evict hot data (the receive arena) to
 * hold it. Streaming stores skip both. SSE2 is part of x86-64, so no
 * dispatch is needed; dst and n are multiples of 4096, src is any. */
static void copy_to_chunk(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(src + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
		__m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
		_mm_stream_si128((__m128i *)(dst + i), a);
		_mm_stream_si128((__m128i *)(dst + i + 16), b);
		_mm_stream_si128((__m128i *)(dst + i + 32), c);
		_mm_stream_si128((__m128i *)(dst + i + 48), d);
	}
}
/* Streaming stores are weakly ordered: fence them before the write is
 * acknowledged or its zero-map bit is published to other workers. */
static void copies_done(void) { _mm_sfence(); }
#else
static void copy_to_chunk(uint8_t *dst, const uint8_t *src, size_t n) { memcpy(dst, src, n); }
static void copies_done(void) { }
#endif

static unsigned host_xfer(struct vs_queue *q, struct vs_seg *segs, unsigned n)
{
	(void)q;
	for (unsigned i = 0; i < n; i++) {
		struct vs_seg *s = &segs[i];
		uint8_t *mem = (uint8_t *)s->mem;
		if (s->dir == VS_TO_BACKEND)
			copy_to_chunk(mem + s->off, s->buf, s->len);
		else
			memcpy(s->buf, mem + s->off, s->len);
		s->err = 0;
	}
	copies_done();
	return 0;
}

static int host_flush(struct vs_queue *q) { (void)q; return 0; }

static void host_close(struct vs_backend *be) { (void)be; }

const struct vs_backend_ops vs_backend_host = {
	.name = "host",
	.memory = "RAM",
	.system_ram = true,
	.open = host_open,
	.mem_info = host_mem_info,
	.alloc = host_alloc,
	.release = host_release,
	.buf_alloc = host_buf_alloc,
	.buf_free = host_buf_free,
	.queue_open = host_queue_open,
	.queue_close = host_queue_close,
	.xfer = host_xfer,
	.flush = host_flush,
	.close = host_close,
};
