/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Transmission requests: parsing and the checks that decide each one's
 * error before any data moves. Pure functions (fuzzed, unit-tested). */
#ifndef VS_REQUEST_H
#define VS_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

struct vs_req {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t off;
	uint32_t len;
};

/* Parses a 28-byte request header; EPROTO when the magic is wrong (the
 * stream is out of sync: the connection must end). */
int vs_req_parse(const uint8_t *p, struct vs_req *r);

/* 0 when the request may run, else the errno to answer with (the
 * transport maps it to the wire's error code). */
int vs_req_check(const struct vs_req *r, uint64_t export_size);

/* Bytes of payload that follow the header, whether or not the request is
 * valid: a rejected WRITE's payload must still be read and dropped. */
static inline uint32_t vs_req_payload(const struct vs_req *r)
{
	return r->type == 1 /* NBD_CMD_WRITE */ ? r->len : 0;
}

#endif
