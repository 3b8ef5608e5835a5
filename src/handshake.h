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
	uint64_t cookie;  /* the server's own: which export it is */
};

/* What a server offers: any number of exports, looked up by name. */
struct vs_exports {
	/* Fills *e for the export called name[0..len) (len 0: the default
	 * export); -1 if there is none. */
	int (*find)(void *ctx, const uint8_t *name, uint32_t len, struct vs_export *e);
	/* Writes the i-th export's name (NUL-terminated) into buf; -1 past
	 * the last. */
	int (*list)(void *ctx, unsigned i, char *buf, size_t n);
	/* Optional. Holds the chosen export for the connection: 0, ENOENT
	 * if it went away since find(), EBUSY if there is no room for one
	 * more connection. Called before the client is told it may start,
	 * so nothing can take the export or its connection slot from under
	 * a client that was told yes. release() undoes it. */
	int (*claim)(void *ctx, const struct vs_export *e);
	void (*release)(void *ctx, const struct vs_export *e);
	void *ctx;
};

enum vs_hs_result {
	VS_HS_GO = 0,        /* enter transmission */
	VS_HS_CLOSED = 1,    /* client ended negotiation (OPT_ABORT, EOF, LIST only) */
	VS_HS_ERROR = -1,    /* protocol violation: drop the connection */
};

/* The longest option payload we read: a 4096-byte name plus info requests.
 * Anything longer is hostile or broken. */
#define VS_HS_MAX_OPTION 8192
/* The longest export name we list. */
#define VS_HS_MAX_NAME 96

/* Runs the handshake; on VS_HS_GO *chosen is the export the client chose;
 * on failure *why says what went wrong (for the log). */
/* On VS_HS_GO the chosen export is claimed: whoever ends the connection
 * releases it (vs_hs_release). */
enum vs_hs_result vs_handshake(const struct vs_hs_io *io, const struct vs_exports *x,
                               struct vs_export *chosen, const char **why);
void vs_hs_release(const struct vs_exports *x, const struct vs_export *e);

#endif
