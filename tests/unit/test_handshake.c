/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The handshake against scripted client bytes, without sockets. */
#include <string.h>

#include "check.h"
#include "handshake.h"
#include "nbd.h"
#include "wire.h"

struct mem { const uint8_t *in; size_t in_len, in_pos; uint8_t out[65536]; size_t out_len; };

static int mread(void *ctx, void *buf, size_t n)
{
	struct mem *m = ctx;
	if (m->in_len - m->in_pos < n)
		return -1;
	memcpy(buf, m->in + m->in_pos, n);
	m->in_pos += n;
	return 0;
}

static int mwrite(void *ctx, const void *buf, size_t n)
{
	struct mem *m = ctx;
	if (sizeof m->out - m->out_len < n)
		return -1;
	memcpy(m->out + m->out_len, buf, n);
	m->out_len += n;
	return 0;
}

static size_t opt(uint8_t *p, uint32_t o, const void *data, uint32_t len)
{
	put64(p, NBD_IHAVEOPT);
	put32(p + 8, o);
	put32(p + 12, len);
	if (len)
		memcpy(p + 16, data, len);
	return 16 + len;
}

/* One export, answering to its own name and to the default (empty) one:
 * the haggling alone (test_nbd_exports has the chunks' names). */
static const struct vs_export the_export = { .name = "vram-swap", .size = 1 << 20,
                                             .flags = 0x123 };

static int one_find(void *ctx, const uint8_t *name, uint32_t len, struct vs_export *out)
{
	const struct vs_export *e = ctx;
	if (len && (len != strlen(e->name) || memcmp(name, e->name, len)))
		return -1;
	*out = *e;
	return 0;
}

static int one_list(void *ctx, unsigned i, char *buf, size_t n)
{
	const struct vs_export *e = ctx;
	if (i)
		return -1;
	snprintf(buf, n, "%s", e->name);
	return 0;
}

static enum vs_hs_result run(const uint8_t *in, size_t n, struct mem *m)
{
	static const struct vs_exports x = { one_find, one_list, (void *)&the_export };
	struct vs_export chosen;
	memset(m, 0, sizeof *m);
	m->in = in;
	m->in_len = n;
	struct vs_hs_io io = { mread, mwrite, m };
	const char *why = "";
	return vs_handshake(&io, &x, &chosen, &why);
}

/* Option reply types in the order the server sent them. */
static int reply_types(const struct mem *m, uint32_t *types, int max)
{
	size_t p = 18;
	int n = 0;
	while (p + 20 <= m->out_len && n < max && get64(m->out + p) == NBD_REP_MAGIC) {
		types[n++] = get32(m->out + p + 12);
		p += 20 + get32(m->out + p + 16);
	}
	return n;
}

int main(void)
{
	uint8_t in[1024];
	struct mem m;
	uint32_t t[16];
	size_t n;

	/* greeting */
	put32(in, 3);
	CHECK(run(in, 4, &m) == VS_HS_CLOSED);
	CHECK(get64(m.out) == NBD_MAGIC && get64(m.out + 8) == NBD_IHAVEOPT);
	CHECK(get16(m.out + 16) == 3);

	/* unknown client flag, missing fixed newstyle */
	put32(in, 3 | 4);
	CHECK(run(in, 4, &m) == VS_HS_ERROR);
	put32(in, 2);
	CHECK(run(in, 4, &m) == VS_HS_ERROR);

	/* unsupported, list, info, go */
	uint8_t go[64];
	put32(go, 0);
	put16(go + 4, 1);
	put16(go + 6, NBD_INFO_BLOCK_SIZE);
	put32(in, 3);
	n = 4;
	n += opt(in + n, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	n += opt(in + n, NBD_OPT_LIST, NULL, 0);
	n += opt(in + n, NBD_OPT_INFO, go, 8);
	n += opt(in + n, NBD_OPT_GO, go, 8);
	CHECK(run(in, n, &m) == VS_HS_GO);
	int k = reply_types(&m, t, 16);
	CHECK_EQ(k, 9);
	CHECK(t[0] == NBD_REP_ERR_UNSUP && t[1] == NBD_REP_SERVER && t[2] == NBD_REP_ACK);
	CHECK(t[3] == NBD_REP_INFO && t[4] == NBD_REP_INFO && t[5] == NBD_REP_ACK);
	CHECK(t[6] == NBD_REP_INFO && t[7] == NBD_REP_INFO && t[8] == NBD_REP_ACK);

	/* unknown name, then malformed GO */
	uint8_t bad[16];
	put32(bad, 3);
	memcpy(bad + 4, "abc", 3);
	put16(bad + 7, 0);
	n = 4;
	n += opt(in + n, NBD_OPT_GO, bad, 9);
	n += opt(in + n, NBD_OPT_GO, bad, 8);
	CHECK(run(in, n, &m) == VS_HS_CLOSED);
	k = reply_types(&m, t, 16);
	CHECK(k == 2 && t[0] == NBD_REP_ERR_UNKNOWN && t[1] == NBD_REP_ERR_INVALID);

	/* EXPORT_NAME with and without NO_ZEROES */
	n = 4;
	n += opt(in + n, NBD_OPT_EXPORT_NAME, "vram-swap", 9);
	CHECK(run(in, n, &m) == VS_HS_GO && m.out_len == 18 + 10);
	CHECK(get64(m.out + 18) == 1 << 20 && get16(m.out + 26) == 0x123);
	put32(in, 1);
	CHECK(run(in, n, &m) == VS_HS_GO && m.out_len == 18 + 10 + 124);
	put32(in, 3);
	n = 4 + opt(in + 4, NBD_OPT_EXPORT_NAME, "other", 5);
	CHECK(run(in, n, &m) == VS_HS_ERROR);

	/* hostile lengths and magic */
	n = 4 + opt(in + 4, NBD_OPT_GO, NULL, 0);
	put32(in + 4 + 12, 0xffffffff);
	CHECK(run(in, n, &m) == VS_HS_ERROR);
	n = 4 + opt(in + 4, NBD_OPT_GO, NULL, 0);
	in[5] ^= 1;
	CHECK(run(in, n, &m) == VS_HS_ERROR);

	/* abort */
	n = 4 + opt(in + 4, NBD_OPT_ABORT, NULL, 0);
	CHECK(run(in, n, &m) == VS_HS_CLOSED);
	k = reply_types(&m, t, 16);
	CHECK(k == 1 && t[0] == NBD_REP_ACK);

	if (failures)
		fprintf(stderr, "test_handshake: %d failure(s)\n", failures);
	return failures != 0;
}
