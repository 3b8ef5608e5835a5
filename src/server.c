/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "unixsock.h"

int vs_server_listen(struct vs_server *srv, const char *path)
{
	/* A burst of connections waits in the kernel's queue, not in ours,
	 * while the negotiators are busy; past it, connect() fails (EAGAIN)
	 * or blocks. */
	srv->listen_fd = vs_listen_unix(path, 1024);
	return srv->listen_fd < 0 ? -1 : 0;
}

static void *worker(void *arg)
{
	struct vs_slot *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->fd < 0)
			pthread_cond_wait(&s->cv, &s->mu);
		int fd = s->fd;
		pthread_mutex_unlock(&s->mu);

		vs_nbd_conn_serve(&s->conn, fd, &s->exp);
		close(fd);

		pthread_mutex_lock(&s->mu);
		s->fd = -1;
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_sub(&s->srv->taken, 1);
		unsigned left = atomic_fetch_sub(&s->srv->clients, 1) - 1;
		vs_log(LOG_INFO, "client disconnected (%u attached)", left);
		uint64_t one = 1;
		if (write(s->srv->wake_fd, &one, sizeof one) < 0)
			vs_log(LOG_WARNING, "cannot wake the main thread: %m");
	}
	return NULL;
}

/* Readies slot nslots: its buffers, queues and worker thread. */
static int slot_add(struct vs_server *srv)
{
	struct vs_slot *s = &srv->slots[srv->nslots];
	s->fd = -1;
	s->srv = srv;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (vs_nbd_conn_init(&s->conn, srv->bes, srv->nbe, srv->src, &s->cnt)) {
		vs_log(LOG_ERR, "cannot allocate buffers for connection %u", srv->nslots + 1);
		return -1;
	}
	pthread_attr_t a;
	pthread_attr_init(&a);
	/* mlockall() locks every thread's whole stack: keep them small. */
	pthread_attr_setstacksize(&a, 256 << 10);
	int rc = pthread_create(&s->thread, &a, worker, s);
	pthread_attr_destroy(&a);
	if (rc) {
		vs_log(LOG_ERR, "cannot start worker thread: %s", strerror(rc));
		vs_nbd_conn_free(&s->conn);
		return -1;
	}
	srv->nslots++;
	return 0;
}

static void refuse_busy(struct vs_server *srv, int pid)
{
	if (pid)
		vs_log(LOG_WARNING, "refused a client (pid %d): all %u connection slots are busy "
		       "(raise --max-clients)", pid, srv->cap);
	else
		vs_log(LOG_WARNING, "refused a client's GO: all %u connection slots are busy "
		       "(raise --max-clients)", srv->cap);
}

/* Promises one more connection a slot, unless every slot is promised. */
static bool take_slot(struct vs_server *srv)
{
	unsigned c = atomic_load(&srv->taken);
	do {
		if (c >= srv->cap)
			return false;
	} while (!atomic_compare_exchange_weak(&srv->taken, &c, c + 1));
	return true;
}

/* The exports as the negotiators see them: a GO claims a slot with its
 * export, so one is never acknowledged without a slot to serve it. */
static int srv_find(void *ctx, const uint8_t *name, uint32_t len, struct vs_export *e)
{
	const struct vs_server *srv = ctx;
	return srv->exports.find(srv->exports.ctx, name, len, e);
}

static int srv_list(void *ctx, unsigned i, char *buf, size_t n)
{
	const struct vs_server *srv = ctx;
	return srv->exports.list(srv->exports.ctx, i, buf, n);
}

static int srv_claim(void *ctx, const struct vs_export *e)
{
	struct vs_server *srv = ctx;
	if (!take_slot(srv)) {
		refuse_busy(srv, 0);
		return EBUSY;
	}
	int rc = srv->exports.claim ? srv->exports.claim(srv->exports.ctx, e) : 0;
	if (rc)
		atomic_fetch_sub(&srv->taken, 1);
	return rc;
}

static void srv_release(void *ctx, const struct vs_export *e)
{
	struct vs_server *srv = ctx;
	if (srv->exports.release)
		srv->exports.release(srv->exports.ctx, e);
	atomic_fetch_sub(&srv->taken, 1);
}

int vs_server_start(struct vs_server *srv, struct vs_backend *const *bes, unsigned nbe,
                    const struct vs_nbd_source *src, unsigned nslots)
{
	srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&srv->given_mu, NULL);
	srv->slots = calloc(nslots, sizeof *srv->slots);
	if (srv->wake_fd < 0 || !srv->slots) {
		vs_log(LOG_ERR, "cannot allocate connection buffers: %m");
		return -1;
	}
	memcpy(srv->bes, bes, nbe * sizeof *bes);
	srv->nbe = nbe;
	srv->src = src;
	srv->cap = nslots;
	for (unsigned i = 0; i < nslots && i < VS_SLOTS_AT_START; i++)
		if (slot_add(srv))
			return -1;
	srv->exports = vs_nbd_exports(src);
	struct vs_exports x = { .find = srv_find, .list = srv_list, .claim = srv_claim,
	                        .release = srv_release, .ctx = srv };
	return vs_neg_start(&srv->neg, x, srv->wake_fd);
}

/* An idle slot, locked; else NULL. */
static struct vs_slot *idle_slot(struct vs_server *srv)
{
	for (unsigned i = 0; i < srv->nslots; i++) {
		struct vs_slot *s = &srv->slots[i];
		pthread_mutex_lock(&s->mu);
		if (s->fd < 0)
			return s;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

bool vs_server_can_accept(struct vs_server *srv, int *ms)
{
	return vs_neg_room(&srv->neg, ms);
}

void vs_server_accept(struct vs_server *srv)
{
	if (!vs_neg_idle(&srv->neg)) {
		/* The newcomer waits in the listen queue until a negotiator is
		 * free; wake_fd says when. */
		vs_neg_evict(&srv->neg);
		return;
	}
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			vs_log(LOG_WARNING, "accept: %m");
		return;
	}
	int pid = vs_peer_allowed(fd, "client");
	if (pid < 0) {
		close(fd);
		return;
	}
	/* Refused now when no slot is left; one still negotiating claims its
	 * slot only with its GO, so half-open connections keep none. */
	if (atomic_load(&srv->taken) >= srv->cap) {
		refuse_busy(srv, pid);
		close(fd);
		return;
	}
	atomic_fetch_add(&srv->clients, 1);
	vs_neg_give(&srv->neg, fd, pid);
}

/* Gives a negotiated connection to an idle slot, or to a new one (made
 * here on the main thread, never on a worker serving I/O). */
static void hand_over(struct vs_server *srv, int fd, int pid, const struct vs_export *exp)
{
	struct vs_slot *s = idle_slot(srv);
	if (!s && srv->nslots < srv->cap && slot_add(srv) == 0) {
		s = &srv->slots[srv->nslots - 1];
		pthread_mutex_lock(&s->mu);
	}
	if (!s) {
		/* Only when a slot's buffers could not be made (logged): its
		 * GO was acknowledged, and hanging up is all that is left. */
		vs_hs_release(&srv->neg.x, exp);
		close(fd);
		atomic_fetch_sub(&srv->clients, 1);
		return;
	}
	s->fd = fd;
	s->exp = *exp;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (pid)
		vs_log(LOG_INFO, "client connected (pid %d, %u attached)", pid,
		       atomic_load(&srv->clients));
	else
		vs_log(LOG_INFO, "kernel connection made (%u attached)", atomic_load(&srv->clients));
}

int vs_server_give(struct vs_server *srv, int fd, const struct vs_export *exp)
{
	pthread_mutex_lock(&srv->given_mu);
	bool room = srv->ngiven < VS_GIVEN_MAX && take_slot(srv);
	if (room) {
		srv->given[srv->ngiven].fd = fd;
		srv->given[srv->ngiven].exp = *exp;
		srv->ngiven++;
		atomic_fetch_add(&srv->clients, 1);
	}
	pthread_mutex_unlock(&srv->given_mu);
	uint64_t one = 1;
	if (room && write(srv->wake_fd, &one, sizeof one) < 0)
		vs_log(LOG_WARNING, "cannot wake the main thread: %m");
	return room ? 0 : -1;
}

void vs_server_reap(struct vs_server *srv)
{
	int fd, pid;
	enum vs_hs_result res;
	struct vs_export exp;
	pthread_mutex_lock(&srv->given_mu);
	for (unsigned i = 0; i < srv->ngiven; i++)
		hand_over(srv, srv->given[i].fd, 0, &srv->given[i].exp);
	srv->ngiven = 0;
	pthread_mutex_unlock(&srv->given_mu);
	while (vs_neg_take(&srv->neg, &fd, &pid, &res, &exp)) {
		if (res == VS_HS_GO) {
			hand_over(srv, fd, pid, &exp);
		} else {
			close(fd);
			atomic_fetch_sub(&srv->clients, 1);
		}
	}
}

void vs_server_counters(const struct vs_server *srv, uint64_t out[VS_COUNTERS])
{
	memset(out, 0, VS_COUNTERS * sizeof out[0]);
	for (unsigned i = 0; i < srv->nslots; i++) {
		const struct vs_counters *c = &srv->slots[i].cnt;
		const _Atomic uint64_t *f[VS_COUNTERS] = { &c->reads, &c->writes, &c->trims, &c->zeroes,
		                                 &c->flushes, &c->read_bytes, &c->write_bytes,
		                                 &c->io_errors, &c->proto_errors, &c->full_writes };
		for (int k = 0; k < VS_COUNTERS; k++)
			out[k] += atomic_load_explicit(f[k], memory_order_relaxed);
	}
	/* A handshake that broke the protocol is a protocol error too. */
	out[8] /* proto_errors */ += atomic_load_explicit(&srv->neg.proto_errors, memory_order_relaxed);
}
