/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "nbd_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nbd.h"
#include "request.h"
#include "sockio.h"
#include "wire.h"

/* Requests larger than the arenas move through in pieces of this size. */
#define PIECE VS_OUT_CAP

int vs_nbd_conn_init(struct vs_nbd_conn *c, struct vs_backend *const *bes, unsigned nbe,
                     const struct vs_nbd_source *src, struct vs_counters *cnt)
{
	memset(c, 0, sizeof *c);
	c->src = src;
	c->spin = sysconf(_SC_NPROCESSORS_ONLN) >= 4;
	if (nbe > VS_MAX_GPUS)
		return EINVAL;
	int rc = 0;
	for (unsigned i = 0; i < nbe && !rc; i++) {
		c->bes[i] = bes[i];
		rc = bes[i]->ops->queue_open(bes[i], &c->q[i]);
		c->nq += !rc;
	}
	unsigned alg = src->tab->shape.alg;
	if (!rc) {
		c->in = bes[0]->ops->buf_alloc(bes[0], VS_IN_CAP);
		c->out = bes[0]->ops->buf_alloc(bes[0], VS_OUT_CAP);
		/* Compressed bytes move through staging memory of their own. */
		if (alg)
			c->scratch = bes[0]->ops->buf_alloc(bes[0], VS_IN_CAP + VS_OUT_CAP);
		rc = c->in && c->out && (!alg || c->scratch) ? 0 : ENOMEM;
	}
	if (!rc)
		rc = vs_engine_init(&c->eng, cnt, VS_IN_CAP + VS_OUT_CAP, alg, c->scratch);
	if (rc)
		vs_nbd_conn_free(c);
	return rc;
}

void vs_nbd_conn_free(struct vs_nbd_conn *c)
{
	struct vs_backend *be = c->bes[0];
	if (be && c->in)
		be->ops->buf_free(be, c->in, VS_IN_CAP);
	if (be && c->out)
		be->ops->buf_free(be, c->out, VS_OUT_CAP);
	if (be && c->scratch)
		be->ops->buf_free(be, c->scratch, VS_IN_CAP + VS_OUT_CAP);
	c->in = c->out = c->scratch = NULL;
	for (unsigned i = 0; i < c->nq; i++)
		c->bes[i]->ops->queue_close(c->q[i]);
	c->nq = 0;
	vs_engine_free(&c->eng);
}

/* ---- errno <-> the wire -------------------------------------------------- */

/* The one place an errno becomes an NBD error. The spec names a few;
 * anything else is reported as EINVAL, as nbdkit does. */
static uint32_t nbd_error(int err)
{
	switch (err) {
	case 0:         return 0;
	case EPERM:     return NBD_EPERM;
	case EIO:       return NBD_EIO;
	case ENOMEM:    return NBD_ENOMEM;
	case ENOSPC:    return NBD_ENOSPC;
	case EOVERFLOW: return NBD_EOVERFLOW;
	case ENOTSUP:   return NBD_ENOTSUP;
	case ESHUTDOWN: return NBD_ESHUTDOWN;
	default:        return NBD_EINVAL;
	}
}

static enum vs_op nbd_op(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:         return VS_OP_READ;
	case NBD_CMD_WRITE:        return VS_OP_WRITE;
	case NBD_CMD_TRIM:         return VS_OP_TRIM;
	case NBD_CMD_WRITE_ZEROES: return VS_OP_ZERO;
	default:                   return VS_OP_FLUSH;
	}
}

static const char *cmd_name(uint16_t t)
{
	static const char *names[] = { "READ", "WRITE", "DISC", "FLUSH", "TRIM",
	                               "CACHE", "WRITE_ZEROES", "BLOCK_STATUS" };
	return t < sizeof names / sizeof names[0] ? names[t] : "unknown command";
}

static void put_reply(uint8_t h[16], int err, uint64_t cookie)
{
	put32(h, NBD_SIMPLE_REPLY_MAGIC);
	put32(h + 4, nbd_error(err));
	put64(h + 8, cookie);
}

static void log_refused(const struct vs_req *r, int err)
{
	vs_log(LOG_DEBUG, "%s (flags %#x) offset %" PRIu64 " length %" PRIu32
	       " refused: %s", cmd_name(r->type), r->flags, r->off, r->len, strerror(err));
}

/* ---- batches ------------------------------------------------------------- */

/* Runs the batch and answers every request in it with one sendmsg(). */
static int flush_batch(struct vs_nbd_conn *c, int fd)
{
	struct vs_engine *e = &c->eng;
	if (!e->nio)
		return 0;
	vs_engine_run(e);
	unsigned niov = 0;
	for (unsigned i = 0; i < e->nio; i++) {
		const struct vs_io *io = &e->io[i];
		put_reply(c->hdr[i], io->err, io->tag);
		c->iov[niov++] = (struct iovec){ c->hdr[i], NBD_REPLY_SIZE };
		if (io->op == VS_OP_READ && !io->err)
			c->iov[niov++] = (struct iovec){ io->buf, io->len };
	}
	vs_engine_reset(e);
	c->out_used = 0;
	return vs_sendv_full(fd, c->iov, niov);
}

/* Adds a request whose payload (if any) is at data; runs the batch first
 * when it cannot join. Returns -1 if sending failed. */
static int queue(struct vs_nbd_conn *c, int fd, const struct vs_req *r, int err, uint8_t *data)
{
	enum vs_op op = nbd_op(r->type);
	bool read = op == VS_OP_READ && !err;
	if (!vs_engine_fits(&c->eng, err ? VS_OP_FLUSH : op, err ? 0 : r->len) ||
	    (read && c->out_used + r->len > VS_OUT_CAP))
		if (flush_batch(c, fd))
			return -1;
	if (err)
		log_refused(r, err);
	uint8_t *buf = data;
	if (read) {
		buf = c->out + c->out_used;
		c->out_used += r->len;
	}
	vs_engine_add(&c->eng, op, r->off, r->len, buf, r->cookie, err);
	return 0;
}

/* A WRITE larger than the receive arena: receive and store it a piece at a
 * time (or drain it, if err says it is refused). The first `have` payload
 * bytes are already at buf. */
static int large_write(struct vs_nbd_conn *c, int fd, const struct vs_req *r, int err,
                       uint8_t *buf, size_t have)
{
	int ioerr = 0;
	memmove(c->in, buf, have);
	for (uint32_t done = 0, n; done < r->len; done += n) {
		n = r->len - done < PIECE ? r->len - done : PIECE;
		if (have < n) {
			if (vs_recv_full(fd, c->in + have, n - have))
				return -1;
			have = n;
		}
		if (!err && !ioerr)
			ioerr = vs_engine_piece(&c->eng, VS_OP_WRITE, r->off + done, n, c->in);
		have -= n;
		memmove(c->in, c->in + n, have);
	}
	if (err) {
		vs_engine_refused(&c->eng);
		log_refused(r, err);
	} else {
		vs_engine_done(&c->eng, VS_OP_WRITE, r->off, r->len, ioerr);
		err = ioerr;
	}
	uint8_t h[16];
	put_reply(h, err, r->cookie);
	return vs_send_full(fd, h, sizeof h);
}

/* A READ larger than the reply arena moves through it in pieces, so no
 * connection borrows memory another one could need while its client is
 * slow to read. The data is read twice: once to learn whether all of it
 * can be read (a simple reply carries its error in the header, before the
 * data), once to send it. A failure in the second pass, after the header
 * said success, can only be reported by hanging up. */
static int large_read(struct vs_nbd_conn *c, int fd, const struct vs_req *r)
{
	int err = 0;
	for (uint32_t done = 0; done < r->len && !err; done += PIECE) {
		uint32_t n = r->len - done < PIECE ? r->len - done : PIECE;
		err = vs_engine_piece(&c->eng, VS_OP_READ, r->off + done, n, c->out);
	}
	vs_engine_done(&c->eng, VS_OP_READ, r->off, r->len, err);
	uint8_t h[16];
	put_reply(h, err, r->cookie);
	if (vs_send_full(fd, h, sizeof h))
		return -1;
	if (err)
		return 0;
	for (uint32_t done = 0; done < r->len; done += PIECE) {
		uint32_t n = r->len - done < PIECE ? r->len - done : PIECE;
		if (vs_engine_piece(&c->eng, VS_OP_READ, r->off + done, n, c->out)) {
			vs_log(LOG_ERR, "READ of %" PRIu32 " bytes at offset %" PRIu64 " failed "
			       "after its reply header was sent: closing the connection",
			       r->len, r->off);
			return -1;
		}
		if (vs_send_full(fd, c->out, n))
			return -1;
	}
	return 0;
}

/* Before sleeping in recv(), poll the socket for a moment: at queue depth
 * 1 (a process faulting a page in waits for exactly this) the next request
 * often comes within microseconds of the reply, and catching it awake
 * saves a wake-up. It costs up to SPIN_NS of CPU after each batch, so it
 * is only done where the machine has cores to spare. */
#define SPIN_NS 50000L

/* Then, where the backend has a path that falls asleep (backend.h: warm),
 * wake every WARM_PERIOD_NS to keep it awake, for at most WARM_WINDOW_NS
 * after the last request: page faults that come one at a time a fraction
 * of a second apart then find it ready. After the window the worker sleeps in
 * recv() until a request comes, so an idle daemon uses no CPU. */
#define WARM_PERIOD_NS 1000000L
#define WARM_WINDOW_NS 1000000000L

static long ns_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* warm: a request came since the last wait (the window follows requests,
 * not connections). */
static ssize_t wait_recv(struct vs_nbd_conn *c, int fd, void *buf, size_t len, bool warm)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (c->spin) {
		do {
			ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
			if (n >= 0 || (errno != EAGAIN && errno != EINTR))
				return n;
		} while (ns_since(&t0) < SPIN_NS);
	}
	if (warm && vs_engine_can_warm(&c->eng)) {
		const struct timespec period = { 0, WARM_PERIOD_NS };
		struct pollfd p = { .fd = fd, .events = POLLIN };
		while (ns_since(&t0) < WARM_WINDOW_NS && ppoll(&p, 1, &period, NULL) == 0)
			vs_engine_warm(&c->eng);
	}
	return recv(fd, buf, len, 0);
}

static void transmission(struct vs_nbd_conn *c, int fd)
{
	size_t pos = 0, end = 0;   /* unparsed input is in[pos, end) */
	bool served = false;
	for (;;) {
		while (end - pos >= NBD_REQUEST_SIZE) {
			struct vs_req r;
			if (vs_req_parse(c->in + pos, &r)) {
				vs_engine_refused(&c->eng);
				vs_log(LOG_WARNING, "bad request magic: closing the connection");
				flush_batch(c, fd);
				return;
			}
			size_t pay = vs_req_payload(&r);
			if (pay > VS_MAX_DRAIN) {
				/* Waiting for such a payload could take forever
				 * and draining it would take minutes. */
				vs_engine_refused(&c->eng);
				vs_log(LOG_WARNING, "%s of %" PRIu32 " bytes, far over the %u "
				       "advertised: closing the connection", cmd_name(r.type),
				       r.len, VS_MAX_PAYLOAD);
				flush_batch(c, fd);
				return;
			}
			int err = vs_req_check(&r, c->exp.size);
			if (NBD_REQUEST_SIZE + pay > VS_IN_CAP) {
				/* Larger than the arena: what is queued goes first. */
				if (flush_batch(c, fd))
					return;
				pos += NBD_REQUEST_SIZE;
				served = true;
				/* end - pos < pay: nothing after it is buffered yet. */
				if (large_write(c, fd, &r, err, c->in + pos, end - pos))
					return;
				pos = end = 0;
				continue;
			}
			if (end - pos < NBD_REQUEST_SIZE + pay)
				break;  /* wait for the rest of the payload */
			/* A request has come once it is whole: the keep-warm window
			 * follows requests, not headers whose payload is on the way. */
			served = true;
			if (r.type == NBD_CMD_READ && !err && r.len > VS_OUT_CAP) {
				if (flush_batch(c, fd) || large_read(c, fd, &r))
					return;
				pos += NBD_REQUEST_SIZE;
				continue;
			}
			if (r.type == NBD_CMD_DISC && !err) {
				/* No reply: answer what came before and hang up. */
				flush_batch(c, fd);
				return;
			}
			if (queue(c, fd, &r, err, c->in + pos + NBD_REQUEST_SIZE))
				return;
			pos += NBD_REQUEST_SIZE + pay;
		}
		/* Everything complete is answered before we wait for more. */
		if (flush_batch(c, fd))
			return;
		size_t need = NBD_REQUEST_SIZE;
		if (end - pos >= NBD_REQUEST_SIZE)
			need += vs_req_payload(&(struct vs_req){ .type = get16(c->in + pos + 6),
			                                          .len = get32(c->in + pos + 24) });
		if (pos == end) {
			pos = end = 0;
		} else if (pos + need > VS_IN_CAP || end - pos <= 4096) {
			memmove(c->in, c->in + pos, end - pos);
			end -= pos;
			pos = 0;
		}
		ssize_t n = wait_recv(c, fd, c->in + end, VS_IN_CAP - end, served);
		served = false;
		if (n > 0) {
			end += (size_t)n;
		} else if (n == 0) {
			if (end != pos)
				vs_log(LOG_WARNING, "client disconnected in the middle of a request");
			return;
		} else if (errno != EINTR) {
			vs_log(LOG_WARNING, "receive failed: %m; closing the connection");
			return;
		}
	}
}

void vs_nbd_conn_serve(struct vs_nbd_conn *c, int fd, const struct vs_export *exp)
{
	c->exp = *exp;
	struct vs_store *st;
	unsigned qi;
	/* The handshake pinned the chunk before it said yes. */
	vs_chunks_pinned(c->src->tab, c->exp.cookie, &st, &qi);
	if (qi >= c->nq) {
		vs_log(LOG_ERR, "no queue for GPU %u on this connection", qi);
		vs_chunks_unpin(c->src->tab, c->exp.cookie);
		return;
	}
	vs_engine_bind(&c->eng, st, c->q[qi]);
	/* SO_SNDBUF stays at the default: with a much larger one the kernel
	 * builds huge skbs (high-order allocations, memory-cgroup charges)
	 * and the client copies replies out long after they left the cache;
	 * small skbs are read while still hot (bench/changes.md). */
	vs_engine_reset(&c->eng);
	c->out_used = 0;
	transmission(c, fd);
	vs_engine_bind(&c->eng, NULL, NULL);
	vs_chunks_unpin(c->src->tab, c->exp.cookie);
}
