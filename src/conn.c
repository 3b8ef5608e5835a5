/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "conn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"
#include "nbd.h"
#include "wire.h"

#define PG 4096u
/* Requests larger than the arenas move through in chunks of this size. */
#define CHUNK (1u << 20)

#define CNT_ADD(field, v) \
	atomic_store_explicit(&c->cnt->field, \
	    atomic_load_explicit(&c->cnt->field, memory_order_relaxed) + (v), \
	    memory_order_relaxed)

int vs_conn_init(struct vs_conn *c, struct vs_store *st, const struct vs_export *exp,
                 struct vs_bigbuf *big, struct vs_counters *cnt)
{
	const struct vs_backend_ops *ops = st->be->ops;
	memset(c, 0, sizeof *c);
	c->st = st;
	c->exp = exp;
	c->big = big;
	c->cnt = cnt;
	/* Worst case a request of n pages alternates zero and data pages:
	 * n/2 + 1 segments. One per page plus one per item always fits. */
	c->seg_cap = (VS_IN_CAP + VS_OUT_CAP) / PG + VS_MAX_ITEMS;
	c->segs = calloc(c->seg_cap, sizeof *c->segs);
	c->in = ops->buf_alloc(st->be, VS_IN_CAP);
	c->out = ops->buf_alloc(st->be, VS_OUT_CAP);
	if (!c->segs || !c->in || !c->out || ops->queue_open(st->be, &c->q)) {
		vs_conn_free(c);
		return -1;
	}
	return 0;
}

void vs_conn_free(struct vs_conn *c)
{
	const struct vs_backend_ops *ops = c->st->be->ops;
	if (c->q)
		ops->queue_close(c->q);
	if (c->in)
		ops->buf_free(c->st->be, c->in, VS_IN_CAP);
	if (c->out)
		ops->buf_free(c->st->be, c->out, VS_OUT_CAP);
	free(c->segs);
	c->q = NULL;
	c->in = c->out = NULL;
	c->segs = NULL;
}

/* ---- socket helpers ---- */

static int recv_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = recv(fd, p, n, MSG_WAITALL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0 || errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static int send_full(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static int sock_read(void *ctx, void *buf, size_t n) { return recv_full(*(int *)ctx, buf, n); }
static int sock_write(void *ctx, const void *buf, size_t n) { return send_full(*(int *)ctx, buf, n); }

static int sendv_full(int fd, struct iovec *iov, unsigned n)
{
	while (n) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
		ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t left = (size_t)r;
		while (n && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static void put_reply(uint8_t h[16], uint32_t err, uint64_t cookie)
{
	put32(h, NBD_SIMPLE_REPLY_MAGIC);
	put32(h + 4, err);
	put64(h + 8, cookie);
}

/* ---- batches ---- */

static bool segs_failed(const struct vs_conn *c, const struct vs_item *it)
{
	for (unsigned i = it->seg0; i < it->seg0 + it->nseg; i++)
		if (c->segs[i].err)
			return true;
	return false;
}

static const char *cmd_name(uint16_t t)
{
	static const char *names[] = { "READ", "WRITE", "DISC", "FLUSH", "TRIM",
	                               "CACHE", "WRITE_ZEROES", "BLOCK_STATUS" };
	return t < sizeof names / sizeof names[0] ? names[t] : "unknown command";
}

/* Runs the queued batch and answers every request in it. */
static int flush_batch(struct vs_conn *c, int fd)
{
	const struct vs_backend_ops *ops = c->st->be->ops;
	if (!c->nitems)
		return 0;
	if (c->nsegs)
		ops->xfer(c->q, c->segs, c->nsegs);

	unsigned niov = 0;
	for (unsigned i = 0; i < c->nitems; i++) {
		struct vs_item *it = &c->items[i];
		const struct vs_req *r = &it->r;
		if (!it->err) {
			switch (r->type) {
			case NBD_CMD_READ:
				if (segs_failed(c, it))
					it->err = NBD_EIO;
				CNT_ADD(reads, 1);
				CNT_ADD(read_bytes, r->len);
				break;
			case NBD_CMD_WRITE:
				if (segs_failed(c, it))
					it->err = NBD_EIO;
				else
					vs_store_commit_write(c->st, r->off, r->len, it->data);
				CNT_ADD(writes, 1);
				CNT_ADD(write_bytes, r->len);
				break;
			case NBD_CMD_TRIM:
			case NBD_CMD_WRITE_ZEROES:
				vs_store_zero(c->st, r->off, r->len);
				if (r->type == NBD_CMD_TRIM)
					CNT_ADD(trims, 1);
				else
					CNT_ADD(zeroes, 1);
				break;
			case NBD_CMD_FLUSH:
				if (ops->flush(c->q))
					it->err = NBD_EIO;
				CNT_ADD(flushes, 1);
				break;
			}
			if (it->err) {
				CNT_ADD(io_errors, 1);
				vs_log(LOG_ERR, "%s of %" PRIu32 " bytes at offset %" PRIu64
				       " failed: answered EIO", cmd_name(r->type), r->len, r->off);
			}
		}
		put_reply(c->hdr[i], it->err, r->cookie);
		c->iov[niov++] = (struct iovec){ c->hdr[i], NBD_REPLY_SIZE };
		if (r->type == NBD_CMD_READ && !it->err)
			c->iov[niov++] = (struct iovec){ it->data, r->len };
	}
	c->nitems = c->nsegs = 0;
	c->out_used = 0;
	c->reads_only = 1;
	return sendv_full(fd, c->iov, niov);
}

static void reject(struct vs_conn *c, const struct vs_req *r, uint32_t err)
{
	CNT_ADD(proto_errors, 1);
	vs_log(LOG_DEBUG, "%s (flags %#x) offset %" PRIu64 " length %" PRIu32
	       " rejected with error %" PRIu32, cmd_name(r->type), r->flags,
	       r->off, r->len, err);
}

/* Queues a request whose payload (if any) is at data. Returns -1 if the
 * batch had to be sent first and that failed. */
static int queue(struct vs_conn *c, int fd, const struct vs_req *r, uint32_t err,
                 uint8_t *data)
{
	bool is_read = r->type == NBD_CMD_READ && !err;
	unsigned need_segs = (!err && (r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE))
	                     ? r->len / (2 * PG) + 1 : 0;
	/* A READ is planned now, from the zero map as it is now; it must not
	 * overtake an earlier WRITE/TRIM of this batch whose map update only
	 * happens when the batch completes. */
	if (c->nitems == VS_MAX_ITEMS || c->nsegs + need_segs > c->seg_cap ||
	    (is_read && (!c->reads_only || c->out_used + r->len > VS_OUT_CAP)))
		if (flush_batch(c, fd))
			return -1;
	struct vs_item *it = &c->items[c->nitems++];
	it->r = *r;
	it->err = err;
	it->seg0 = c->nsegs;
	it->nseg = 0;
	if (err) {
		reject(c, r, err);
	} else if (is_read) {
		it->data = c->out + c->out_used;
		c->out_used += r->len;
		it->nseg = vs_store_plan_read(c->st, r->off, r->len, it->data, c->segs + c->nsegs);
	} else if (r->type == NBD_CMD_WRITE) {
		it->data = data;
		it->nseg = vs_store_plan_write(c->st, r->off, r->len, data, c->segs + c->nsegs);
	}
	c->nsegs += it->nseg;
	if (r->type != NBD_CMD_READ)
		c->reads_only = 0;
	return 0;
}

/* A WRITE larger than the receive arena: receive and store it a chunk at
 * a time (or drain it, if err says it is refused). The first `have`
 * payload bytes are already at buf. */
static int large_write(struct vs_conn *c, int fd, const struct vs_req *r,
                       uint32_t err, uint8_t *buf, size_t have)
{
	const struct vs_backend_ops *ops = c->st->be->ops;
	memmove(c->in, buf, have);
	for (uint32_t done = 0, n; done < r->len; done += n) {
		n = r->len - done < CHUNK ? r->len - done : CHUNK;
		if (have < n) {
			if (recv_full(fd, c->in + have, n - have))
				return -1;
			have = n;
		}
		if (!err) {
			unsigned ns = vs_store_plan_write(c->st, r->off + done, n, c->in, c->segs);
			if (ns && ops->xfer(c->q, c->segs, ns))
				err = NBD_EIO;
			else
				vs_store_commit_write(c->st, r->off + done, n, c->in);
		}
		have -= n;
		memmove(c->in, c->in + n, have);
	}
	if (err == NBD_EIO) {
		CNT_ADD(io_errors, 1);
		vs_log(LOG_ERR, "WRITE of %" PRIu32 " bytes at offset %" PRIu64
		       " failed: answered EIO", r->len, r->off);
	} else if (err) {
		reject(c, r, err);
	} else {
		CNT_ADD(writes, 1);
		CNT_ADD(write_bytes, r->len);
	}
	uint8_t h[16];
	put_reply(h, err, r->cookie);
	return send_full(fd, h, sizeof h);
}

/* A READ larger than the reply arena: into the shared big buffer, all of
 * it, before the reply header goes out (an error found after the header
 * could only be reported by hanging up). */
static int large_read(struct vs_conn *c, int fd, const struct vs_req *r)
{
	const struct vs_backend_ops *ops = c->st->be->ops;
	uint32_t err = 0;
	pthread_mutex_lock(&c->big->mu);
	for (uint32_t done = 0; done < r->len && !err; done += CHUNK) {
		uint32_t n = r->len - done < CHUNK ? r->len - done : CHUNK;
		unsigned ns = vs_store_plan_read(c->st, r->off + done, n, c->big->buf + done, c->segs);
		if (ns && ops->xfer(c->q, c->segs, ns))
			err = NBD_EIO;
	}
	uint8_t h[16];
	put_reply(h, err, r->cookie);
	struct iovec iov[2] = { { h, sizeof h }, { c->big->buf, r->len } };
	int rc = sendv_full(fd, iov, err ? 1 : 2);
	pthread_mutex_unlock(&c->big->mu);
	if (err) {
		CNT_ADD(io_errors, 1);
		vs_log(LOG_ERR, "READ of %" PRIu32 " bytes at offset %" PRIu64
		       " failed: answered EIO", r->len, r->off);
	} else {
		CNT_ADD(reads, 1);
		CNT_ADD(read_bytes, r->len);
	}
	return rc;
}

static void transmission(struct vs_conn *c, int fd)
{
	size_t pos = 0, end = 0;   /* unparsed input is in[pos, end) */
	for (;;) {
		while (end - pos >= NBD_REQUEST_SIZE) {
			struct vs_req r;
			if (vs_req_parse(c->in + pos, &r)) {
				CNT_ADD(proto_errors, 1);
				vs_log(LOG_WARNING, "bad request magic: closing the connection");
				flush_batch(c, fd);
				return;
			}
			uint32_t err = vs_req_check(&r, c->exp->size);
			size_t pay = vs_req_payload(&r);
			if (NBD_REQUEST_SIZE + pay > VS_IN_CAP) {
				/* Larger than the arena: what is queued goes first. */
				if (flush_batch(c, fd))
					return;
				pos += NBD_REQUEST_SIZE;
				/* end - pos < pay: nothing after it is buffered yet. */
				if (large_write(c, fd, &r, err, c->in + pos, end - pos))
					return;
				pos = end = 0;
				continue;
			}
			if (end - pos < NBD_REQUEST_SIZE + pay)
				break;  /* wait for the rest of the payload */
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
		ssize_t n = recv(fd, c->in + end, VS_IN_CAP - end, 0);
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

void vs_conn_serve(struct vs_conn *c, int fd)
{
	/* A client that connects and says nothing must not hold a slot. */
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	const struct vs_hs_io io = { sock_read, sock_write, &fd };
	const char *why = "";
	enum vs_hs_result hs = vs_handshake(&io, c->exp, &why);
	if (hs != VS_HS_GO) {
		if (hs == VS_HS_ERROR)
			CNT_ADD(proto_errors, 1);
		vs_log(hs == VS_HS_ERROR ? LOG_WARNING : LOG_DEBUG, "negotiation ended: %s", why);
		return;
	}
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	c->nitems = c->nsegs = 0;
	c->out_used = 0;
	c->reads_only = 1;
	transmission(c, fd);
}
