/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host backend: chunks in memfds, locked in RAM. For tests,
 * benchmarks and trying vram-swap on a machine without a GPU (swap to RAM
 * only makes sense for that). A memfd outlives the process for whoever
 * holds a descriptor of it, as exported VRAM does. */
#include "backend.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>

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

/* Each allocation's memfd, found by address: share() hands out copies. */
static struct host_alloc {
	uintptr_t mem;
	uint64_t size;
	int fd;
} allocs[128];   /* the tier's chunks, and room to spare */
static pthread_mutex_t allocs_mu = PTHREAD_MUTEX_INITIALIZER;

/* Maps the memfd and brings every page in now, under memory pressure
 * being the wrong time to find one missing. Transparent huge pages where
 * the kernel gives them to shared memory (random 4 KiB requests over a
 * multi-GiB chunk otherwise miss the TLB on nearly every copy): the advice
 * must come before the pages are touched, and mlockall(MCL_FUTURE) touches
 * a mapping as soon as it is accessible, so map it inaccessible, advise,
 * then open it up. */
static void *chunk_map(int fd, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_NONE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return p;
	madvise(p, size, MADV_HUGEPAGE);  /* only advice: 4 KiB pages work too */
	if (mprotect(p, size, PROT_READ | PROT_WRITE))
		goto fail;
	if (madvise(p, size, MADV_POPULATE_WRITE)) {
		if (errno != EINVAL)
			goto fail;
		/* Kernels before 5.14: touch every page (without changing it:
		 * an adopted chunk holds pages). */
		for (uint64_t o = 0; o < size; o += 4096)
			__atomic_fetch_add((uint8_t *)p + o, 0, __ATOMIC_RELAXED);
	}
	return p;
fail:;
	int e = errno;
	munmap(p, size);
	errno = e;
	return MAP_FAILED;
}

static int remember(uintptr_t mem, uint64_t size, int fd)
{
	pthread_mutex_lock(&allocs_mu);
	for (unsigned i = 0; i < sizeof allocs / sizeof *allocs; i++)
		if (!allocs[i].mem) {
			allocs[i] = (struct host_alloc){ mem, size, fd };
			pthread_mutex_unlock(&allocs_mu);
			return 0;
		}
	pthread_mutex_unlock(&allocs_mu);
	return ENOSPC;
}

/* The memfd of mem, taken out of the table when forget is set. */
static int fd_of(uintptr_t mem, bool forget)
{
	int fd = -1;
	pthread_mutex_lock(&allocs_mu);
	for (unsigned i = 0; i < sizeof allocs / sizeof *allocs; i++)
		if (allocs[i].mem == mem) {
			fd = allocs[i].fd;
			if (forget)
				allocs[i] = (struct host_alloc){ 0, 0, -1 };
			break;
		}
	pthread_mutex_unlock(&allocs_mu);
	return fd;
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

/* The size is sealed: whoever holds the memfd later finds the chunk as it
 * was. Pages must exist now, not be found missing under memory pressure;
 * mlockall() (when it was granted) locks them as they appear. */
static int host_alloc(struct vs_backend *be, uint64_t size, uintptr_t *mem, char *why,
                      size_t n)
{
	(void)be;
	/* Shared memory is not held to the commit limit: filling more than
	 * is available would end in the OOM killer, not in an error. */
	uint64_t avail = meminfo("MemAvailable");
	if (avail && size > avail) {
		char a[32];
		vs_fmt_size(a, sizeof a, avail);
		snprintf(why, n, "only %s available", a);
		return ENOMEM;
	}
	int fd = memfd_create("vram-swap-chunk", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p = MAP_FAILED;
	if (fd >= 0 && ftruncate(fd, (off_t)size) == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
		p = chunk_map(fd, size);
	if (p == MAP_FAILED) {
		snprintf(why, n, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return ENOMEM;
	}
	if (remember((uintptr_t)p, size, fd)) {
		snprintf(why, n, "too many allocations");
		munmap(p, size);
		close(fd);
		return ENOMEM;
	}
	*mem = (uintptr_t)p;
	return 0;
}

static void host_release(struct vs_backend *be, uintptr_t mem, uint64_t size)
{
	(void)be;
	int fd = fd_of(mem, true);
	munmap((void *)mem, size);
	if (fd >= 0)
		close(fd);
}

static int host_share(struct vs_backend *be, uintptr_t mem, int *out)
{
	(void)be;
	int fd = fd_of(mem, false);
	if (fd < 0)
		return ENOENT;
	*out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return *out < 0 ? errno : 0;
}

static int host_adopt(struct vs_backend *be, int fd, uint64_t size, uintptr_t *mem, char *why,
                      size_t n)
{
	(void)be;
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || seals < 0) {
		snprintf(why, n, "not a memfd");
		return EINVAL;
	}
	if ((uint64_t)st.st_size != size || !(seals & F_SEAL_SHRINK)) {
		snprintf(why, n, "it holds %lld bytes, not %llu", (long long)st.st_size,
		         (unsigned long long)size);
		return EINVAL;
	}
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	void *p = own < 0 ? MAP_FAILED : chunk_map(own, size);
	if (p == MAP_FAILED) {
		snprintf(why, n, "cannot map it: %s", strerror(errno));
		if (own >= 0)
			close(own);
		return errno == ENOMEM ? ENOMEM : EIO;
	}
	if (remember((uintptr_t)p, size, own)) {
		snprintf(why, n, "too many allocations");
		munmap(p, size);
		close(own);
		return ENOMEM;
	}
	*mem = (uintptr_t)p;
	return 0;
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
	.share = host_share,
	.adopt = host_adopt,
	.buf_alloc = host_buf_alloc,
	.buf_free = host_buf_free,
	.queue_open = host_queue_open,
	.queue_close = host_queue_close,
	.xfer = host_xfer,
	.flush = host_flush,
	.close = host_close,
};
