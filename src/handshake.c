/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "handshake.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "nbd.h"
#include "wire.h"

static int reply(const struct vs_hs_io *io, uint32_t opt, uint32_t type,
                 const void *data, uint32_t len)
{
	uint8_t h[20];
	put64(h, NBD_REP_MAGIC);
	put32(h + 8, opt);
	put32(h + 12, type);
	put32(h + 16, len);
	if (io->write(io->ctx, h, sizeof h))
		return -1;
	return len ? io->write(io->ctx, data, len) : 0;
}

static int send_infos(const struct vs_hs_io *io, uint32_t opt, const struct vs_export *e)
{
	uint8_t b[14];
	put16(b, NBD_INFO_EXPORT);
	put64(b + 2, e->size);
	put16(b + 10, e->flags);
	if (reply(io, opt, NBD_REP_INFO, b, 12))
		return -1;
	/* Sent whether asked for or not: harmless, and it tells clients that
	 * do not ask (the kernel's nbd-client) nothing they could misuse. */
	put16(b, NBD_INFO_BLOCK_SIZE);
	put32(b + 2, VS_MIN_BLOCK);
	put32(b + 6, VS_MIN_BLOCK);
	put32(b + 10, VS_MAX_PAYLOAD);
	if (reply(io, opt, NBD_REP_INFO, b, 14))
		return -1;
	return reply(io, opt, NBD_REP_ACK, NULL, 0);
}

static int claim(const struct vs_exports *x, const struct vs_export *e)
{
	return x->claim ? x->claim(x->ctx, e) : 0;
}

/* The option reply for a failed claim. */
static uint32_t claim_error(int err)
{
	return err == EBUSY ? NBD_REP_ERR_POLICY : NBD_REP_ERR_UNKNOWN;
}

void vs_hs_release(const struct vs_exports *x, const struct vs_export *e)
{
	if (x->release)
		x->release(x->ctx, e);
}

enum vs_hs_result vs_handshake(const struct vs_hs_io *io, const struct vs_exports *x,
                               struct vs_export *e, const char **why)
{
	uint8_t b[18];
	static const char zeroes[124];
	put64(b, NBD_MAGIC);
	put64(b + 8, NBD_IHAVEOPT);
	put16(b + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	if (io->write(io->ctx, b, 18) || io->read(io->ctx, b, 4)) {
		*why = "client went away before negotiating";
		return VS_HS_CLOSED;
	}
	uint32_t cflags = get32(b);
	if (cflags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
		*why = "unknown client flags";
		return VS_HS_ERROR;
	}
	if (!(cflags & NBD_FLAG_C_FIXED_NEWSTYLE)) {
		*why = "client does not speak fixed newstyle";
		return VS_HS_ERROR;
	}
	bool no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

	uint8_t data[VS_HS_MAX_OPTION];
	for (;;) {
		if (io->read(io->ctx, b, 16)) {
			*why = "client went away during negotiation";
			return VS_HS_CLOSED;
		}
		if (get64(b) != NBD_IHAVEOPT) {
			*why = "bad option magic";
			return VS_HS_ERROR;
		}
		uint32_t opt = get32(b + 8), len = get32(b + 12);
		if (len > sizeof data) {
			*why = "option too long";
			return VS_HS_ERROR;
		}
		if (len && io->read(io->ctx, data, len)) {
			*why = "client went away inside an option";
			return VS_HS_CLOSED;
		}
		int rc = 0;
		switch (opt) {
		case NBD_OPT_EXPORT_NAME:
			/* No error reply exists for this option: an unknown
			 * name can only be answered by hanging up. */
			if (x->find(x->ctx, data, len, e)) {
				*why = "unknown export name";
				return VS_HS_ERROR;
			}
			if (claim(x, e)) {
				*why = "no room for the export or the connection";
				return VS_HS_ERROR;
			}
			put64(b, e->size);
			put16(b + 8, e->flags);
			if (io->write(io->ctx, b, 10) ||
			    (!no_zeroes && io->write(io->ctx, zeroes, sizeof zeroes))) {
				vs_hs_release(x, e);
				*why = "client went away";
				return VS_HS_CLOSED;
			}
			return VS_HS_GO;
		case NBD_OPT_ABORT:
			reply(io, opt, NBD_REP_ACK, NULL, 0);
			*why = "client aborted negotiation";
			return VS_HS_CLOSED;
		case NBD_OPT_LIST: {
			if (len) {
				rc = reply(io, opt, NBD_REP_ERR_INVALID, NULL, 0);
				break;
			}
			char name[VS_HS_MAX_NAME + 1];
			for (unsigned i = 0; !rc && x->list(x->ctx, i, name, sizeof name) == 0; i++) {
				uint32_t n = (uint32_t)strlen(name);
				put32(data, n);
				memcpy(data + 4, name, n);
				rc = reply(io, opt, NBD_REP_SERVER, data, n + 4);
			}
			if (!rc)
				rc = reply(io, opt, NBD_REP_ACK, NULL, 0);
			break;
		}
		case NBD_OPT_INFO:
		case NBD_OPT_GO: {
			uint32_t nlen = len >= 4 ? get32(data) : 0;
			if (len < 6 || nlen > len - 6 ||
			    len != 4 + nlen + 2 + 2u * get16(data + 4 + nlen)) {
				rc = reply(io, opt, NBD_REP_ERR_INVALID, NULL, 0);
				break;
			}
			/* A GO claims the export and a connection slot before
			 * its ACK: freed in between, the export is unknown now;
			 * with every slot taken, the server's policy refuses
			 * it. Either way the client may ask again. */
			if (x->find(x->ctx, data + 4, nlen, e)) {
				rc = reply(io, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
				break;
			}
			int cerr = opt == NBD_OPT_GO ? claim(x, e) : 0;
			if (cerr) {
				rc = reply(io, opt, claim_error(cerr), NULL, 0);
				break;
			}
			/* Info requests need no answer beyond what we always
			 * send: unknown ones are ignored, as the spec allows. */
			if (send_infos(io, opt, e)) {
				if (opt == NBD_OPT_GO)
					vs_hs_release(x, e);
				*why = "client went away";
				return VS_HS_CLOSED;
			}
			if (opt == NBD_OPT_GO)
				return VS_HS_GO;
			break;
		}
		default:
			/* STARTTLS, STRUCTURED_REPLY, meta contexts...: saying
			 * UNSUP keeps the client on simple replies. */
			rc = reply(io, opt, NBD_REP_ERR_UNSUP, NULL, 0);
			break;
		}
		if (rc) {
			*why = "client went away";
			return VS_HS_CLOSED;
		}
	}
}
