/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "nbd_exports.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nbd.h"

/* Never ROTATIONAL: swap must see a non-rotational device. MULTI_CONN
 * holds because every write reaches the backend before it is
 * acknowledged. */
#define EXPORT_FLAGS (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | \
                      NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | \
                      NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_CAN_MULTI_CONN)

_Static_assert(VS_MAX_CHUNKS <= 100, "a chunk's index has at most two digits");

/* "<name>.<index>" (the index in decimal, no leading zero) -> the chunk;
 * the bare name and "" -> the lowest numbered one. */
static int lookup(const struct vs_nbd_source *s, const uint8_t *name, uint32_t len,
                  struct vs_chunk_ref *r)
{
	size_t el = strlen(s->name);
	if (len == 0 || (len == el && !memcmp(name, s->name, el)))
		return vs_chunks_nth(s->tab, 0, r);
	/* Two digits at most. */
	if (len < el + 2 || len > el + 3 || memcmp(name, s->name, el) || name[el] != '.')
		return -1;
	unsigned v = 0;
	for (uint32_t k = (uint32_t)el + 1; k < len; k++) {
		if (name[k] < '0' || name[k] > '9')
			return -1;
		v = v * 10 + (unsigned)(name[k] - '0');
	}
	if (len == el + 3 && name[el + 1] == '0')
		return -1;
	return vs_chunks_ref(s->tab, v, r);
}

static int x_find(void *ctx, const uint8_t *name, uint32_t len, struct vs_export *e)
{
	const struct vs_nbd_source *s = ctx;
	struct vs_chunk_ref r;
	if (lookup(s, name, len, &r))
		return -1;
	*e = (struct vs_export){ .name = s->name, .size = r.size, .flags = EXPORT_FLAGS,
	                         .cookie = r.key };
	return 0;
}

static int x_list(void *ctx, unsigned nth, char *buf, size_t n)
{
	const struct vs_nbd_source *s = ctx;
	struct vs_chunk_ref r;
	if (vs_chunks_nth(s->tab, nth, &r))
		return -1;
	snprintf(buf, n, "%s.%u", s->name, r.idx);
	return 0;
}

static int x_claim(void *ctx, const struct vs_export *e)
{
	const struct vs_nbd_source *s = ctx;
	return vs_chunks_pin(s->tab, e->cookie) ? ENOENT : 0;
}

static void x_release(void *ctx, const struct vs_export *e)
{
	const struct vs_nbd_source *s = ctx;
	vs_chunks_unpin(s->tab, e->cookie);
}

struct vs_exports vs_nbd_exports(const struct vs_nbd_source *src)
{
	return (struct vs_exports){ .find = x_find, .list = x_list, .claim = x_claim,
	                            .release = x_release, .ctx = (void *)src };
}
