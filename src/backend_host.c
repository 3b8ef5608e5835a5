/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host backend: the export in anonymous memory, locked in RAM. For
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
#include "log.h"

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	uint64_t kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %" SCNu64 " kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

static int host_open(struct vs_backend *be, const struct vs_config *cfg)
{
	uint64_t avail = mem_available();
	uint64_t size = vs_size_resolve(&cfg->size, avail);
	snprintf(be->device_name, sizeof be->device_name, "host memory");
	for (;;) {
		/* MAP_NORESERVE|MAP_POPULATE would defeat the point: the pages
		 * must exist now, not be found missing under memory pressure.
		 * mlockall() (when it was granted) locks them as they appear. */
		void *p = size ? mmap(NULL, size, PROT_READ | PROT_WRITE,
		                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
		               : MAP_FAILED;
		if (p != MAP_FAILED) {
			be->priv = p;
			be->size = size;
			vs_log(LOG_INFO, "host backend: %" PRIu64 " MiB of RAM", size >> 20);
			return 0;
		}
		int e = errno;
		vs_log(LOG_WARNING, "host backend: cannot allocate %" PRIu64 " MiB: %s",
		       size >> 20, strerror(e));
		if (size < cfg->min_size + cfg->step) {
			vs_log(LOG_ERR, "host backend: nothing between --min-size (%" PRIu64
			       " MiB) and %" PRIu64 " MiB could be allocated; %" PRIu64
			       " MiB available", cfg->min_size >> 20, size >> 20, avail >> 20);
			return -1;
		}
		size -= cfg->step;
	}
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
		return -1;
	(*q)->be = be;
	return 0;
}

static void host_queue_close(struct vs_queue *q) { free(q); }

static unsigned host_xfer(struct vs_queue *q, struct vs_seg *segs, unsigned n)
{
	uint8_t *mem = q->be->priv;
	for (unsigned i = 0; i < n; i++) {
		struct vs_seg *s = &segs[i];
		if (s->dir == VS_TO_BACKEND)
			memcpy(mem + s->off, s->buf, s->len);
		else
			memcpy(s->buf, mem + s->off, s->len);
		s->err = 0;
	}
	return 0;
}

static int host_flush(struct vs_queue *q) { (void)q; return 0; }

static void host_close(struct vs_backend *be)
{
	if (be->priv)
		munmap(be->priv, be->size);
	be->priv = NULL;
}

const struct vs_backend_ops vs_backend_host = {
	.name = "host",
	.open = host_open,
	.buf_alloc = host_buf_alloc,
	.buf_free = host_buf_free,
	.queue_open = host_queue_open,
	.queue_close = host_queue_close,
	.xfer = host_xfer,
	.flush = host_flush,
	.close = host_close,
};
