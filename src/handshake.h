/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fixed-newstyle option haggling. It runs over an abstract reader/writer so
 * that the fuzzer and unit tests can drive it without sockets. */
#ifndef VS_HANDSHAKE_H
#define VS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

struct vs_hs_io {
	/* Read or write exactly n bytes; 0 on success, -1 on EOF or error. */
	int (*read)(void *ctx, void *buf, size_t n);
	int (*write)(void *ctx, const void *buf, size_t n);
	void *ctx;
};

struct vs_export {
	const char *name;
	uint64_t size;
	uint16_t flags;   /* transmission flags */
};

enum vs_hs_result {
	VS_HS_GO = 0,        /* enter transmission */
	VS_HS_CLOSED = 1,    /* client ended negotiation (OPT_ABORT, EOF, LIST only) */
	VS_HS_ERROR = -1,    /* protocol violation: drop the connection */
};

/* The longest option payload we read: a 4096-byte name plus info requests.
 * Anything longer is hostile or broken. */
#define VS_HS_MAX_OPTION 8192

/* Runs the handshake; on failure *why says what went wrong (for the log). */
enum vs_hs_result vs_handshake(const struct vs_hs_io *io, const struct vs_export *e,
                               const char **why);

#endif
