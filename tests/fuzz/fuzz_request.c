/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: a stream of request headers through parse and check,
 * asserting the invariants the connection loop relies on. */
#include <stdint.h>
#include <stdlib.h>

#include "nbd.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t export_size = 1ULL << 30;
	while (size >= NBD_REQUEST_SIZE) {
		struct vs_req r;
		if (vs_req_parse(data, &r) == 0) {
			int err = vs_req_check(&r, export_size);
			/* An accepted data request lies inside the export, whole pages. */
			if (!err && (r.type == NBD_CMD_READ || r.type == NBD_CMD_WRITE ||
			             r.type == NBD_CMD_TRIM || r.type == NBD_CMD_WRITE_ZEROES)) {
				if (r.off + r.len > export_size || r.off % 4096 || r.len % 4096)
					abort();
				if ((r.type == NBD_CMD_READ || r.type == NBD_CMD_WRITE) &&
				    (r.len == 0 || r.len > VS_MAX_PAYLOAD))
					abort();
			}
			if (vs_req_payload(&r) && r.type != NBD_CMD_WRITE)
				abort();
		}
		data += NBD_REQUEST_SIZE;
		size -= NBD_REQUEST_SIZE;
	}
	return 0;
}
