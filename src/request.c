/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "request.h"

#include <errno.h>

#include "nbd.h"
#include "wire.h"

int vs_req_parse(const uint8_t *p, struct vs_req *r)
{
	if (get32(p) != NBD_REQUEST_MAGIC)
		return EPROTO;
	r->flags = get16(p + 4);
	r->type = get16(p + 6);
	r->cookie = get64(p + 8);
	r->off = get64(p + 16);
	r->len = get32(p + 24);
	return 0;
}

int vs_req_check(const struct vs_req *r, uint64_t size)
{
	uint16_t allowed = NBD_CMD_FLAG_FUA;
	bool data = true;       /* addresses the export: bounds apply */
	bool grows = false;     /* past the end is ENOSPC, not EINVAL */

	switch (r->type) {
	case NBD_CMD_READ:
		break;
	case NBD_CMD_WRITE:
		grows = true;
		break;
	case NBD_CMD_TRIM:
		break;
	case NBD_CMD_WRITE_ZEROES:
		allowed |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
		grows = true;
		break;
	case NBD_CMD_FLUSH:
	case NBD_CMD_DISC:
		data = false;
		break;
	default:
		/* CACHE and BLOCK_STATUS are not advertised; anything else is
		 * unknown. */
		return EINVAL;
	}
	if (r->flags & ~allowed)
		return EINVAL;
	if (!data)
		return 0;
	/* The spec keeps EOVERFLOW for reads; a write too long is invalid. */
	if (r->type == NBD_CMD_READ && r->len > VS_MAX_PAYLOAD)
		return EOVERFLOW;
	if (r->type == NBD_CMD_WRITE && r->len > VS_MAX_PAYLOAD)
		return EINVAL;
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) && r->len == 0)
		return EINVAL;
	/* Written this way so that off + len cannot wrap. */
	if (r->off > size || r->len > size - r->off)
		return grows ? ENOSPC : EINVAL;
	/* We advertise a 4096-byte minimum block size; the page map and
	 * the device copies work in whole pages. */
	if ((r->off | r->len) % VS_MIN_BLOCK)
		return EINVAL;
	return 0;
}
