/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: arbitrary client bytes against the handshake. */
#include <stdint.h>
#include <string.h>

#include "handshake.h"

struct mem { const uint8_t *p; size_t n; };

static int fread_(void *ctx, void *buf, size_t n)
{
	struct mem *m = ctx;
	if (m->n < n)
		return -1;
	memcpy(buf, m->p, n);
	m->p += n;
	m->n -= n;
	return 0;
}

static int fwrite_(void *ctx, const void *buf, size_t n)
{
	(void)ctx;
	(void)buf;
	(void)n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct vs_export e = { .name = "vram-swap", .size = 1 << 30, .flags = 0x97d };
	struct mem m = { data, size };
	struct vs_hs_io io = { fread_, fwrite_, &m };
	const char *why;
	vs_handshake(&io, &e, &why);
	return 0;
}
