/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "nbd.h"
#include "request.h"
#include "wire.h"

#define SZ (1ULL << 30)

static int chk(uint16_t type, uint16_t flags, uint64_t off, uint32_t len)
{
	struct vs_req r = { .type = type, .flags = flags, .off = off, .len = len };
	return vs_req_check(&r, SZ);
}

int main(void)
{
	uint8_t b[28];
	put32(b, NBD_REQUEST_MAGIC);
	put16(b + 4, NBD_CMD_FLAG_FUA);
	put16(b + 6, NBD_CMD_WRITE);
	put64(b + 8, 0x1122334455667788ULL);
	put64(b + 16, 8192);
	put32(b + 24, 4096);
	struct vs_req r;
	CHECK(vs_req_parse(b, &r) == 0);
	CHECK(r.type == NBD_CMD_WRITE && r.flags == 1 && r.cookie == 0x1122334455667788ULL);
	CHECK(r.off == 8192 && r.len == 4096 && vs_req_payload(&r) == 4096);
	put32(b, 0x25609514);
	CHECK(vs_req_parse(b, &r) == EPROTO);

	CHECK_EQ(chk(NBD_CMD_READ, 0, 0, 4096), 0);
	CHECK_EQ(chk(NBD_CMD_READ, NBD_CMD_FLAG_FUA, SZ - 4096, 4096), 0);
	CHECK_EQ(chk(NBD_CMD_READ, 0, SZ, 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_READ, 0, UINT64_MAX - 4095, 8192), EINVAL);
	CHECK_EQ(chk(NBD_CMD_WRITE, 0, UINT64_MAX - 4095, 8192), ENOSPC);
	CHECK_EQ(chk(NBD_CMD_WRITE, 0, SZ - 4096, 8192), ENOSPC);
	CHECK_EQ(chk(NBD_CMD_WRITE_ZEROES, 0, SZ, 4096), ENOSPC);
	CHECK_EQ(chk(NBD_CMD_TRIM, 0, SZ - 4096, 8192), EINVAL);
	CHECK_EQ(chk(NBD_CMD_TRIM, 0, 0, SZ), 0);
	CHECK_EQ(chk(NBD_CMD_TRIM, 0, 0, 0), 0);
	CHECK_EQ(chk(NBD_CMD_READ, 0, 512, 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_WRITE, 0, 0, 512), EINVAL);
	CHECK_EQ(chk(NBD_CMD_READ, 0, 0, 0), EINVAL);
	CHECK_EQ(chk(NBD_CMD_READ, 0, 0, VS_MAX_PAYLOAD), 0);
	CHECK_EQ(chk(NBD_CMD_READ, 0, 0, VS_MAX_PAYLOAD + 4096), EOVERFLOW);
	CHECK_EQ(chk(NBD_CMD_WRITE, 0, 0, UINT32_MAX), EINVAL);
	CHECK_EQ(chk(NBD_CMD_WRITE, 0, 0, VS_MAX_PAYLOAD + 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO, 0, 8192), 0);
	CHECK_EQ(chk(NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_READ, 1u << 15, 0, 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_CACHE, 0, 0, 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_BLOCK_STATUS, 0, 0, 4096), EINVAL);
	CHECK_EQ(chk(42, 0, 0, 4096), EINVAL);
	CHECK_EQ(chk(NBD_CMD_FLUSH, 0, 0, 0), 0);
	CHECK_EQ(chk(NBD_CMD_DISC, 0, 0, 0), 0);

	struct vs_req rr = { .type = NBD_CMD_READ, .len = 4096 };
	CHECK_EQ(vs_req_payload(&rr), 0);

	if (failures)
		fprintf(stderr, "test_request: %d failure(s)\n", failures);
	return failures != 0;
}
