/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "negotiate.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sockio.h"

long long vs_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Every byte that arrives counts as the client speaking, so one that is
 * in the middle of a long option is not taken for a silent one. */
static int hs_read(void *ctx, void *buf, size_t n)
{
	struct vs_negotiator *g = ctx;
	uint8_t *b = buf;
	while (n) {
		ssize_t r = vs_recv_some_by(g->fd, b, n, &g->deadline);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
		atomic_store_explicit(&g->heard_ms, vs_now_ms(), memory_order_relaxed);
		atomic_store_explicit(&g->spoke, true, memory_order_relaxed);
	}
	return 0;
}

static int hs_write(void *ctx, const void *buf, size_t n)
{
	struct vs_negotiator *g = ctx;
	return vs_send_by(g->fd, buf, n, &g->deadline);
}

static void *negotiator(void *arg)
{
	struct vs_negotiator *g = arg;
	struct vs_negotiators *p = g->pool;
	const struct vs_hs_io io = { hs_read, hs_write, g };
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (g->state != VS_NEG_BUSY)
			pthread_cond_wait(&g->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);

		const char *why = "";
		struct vs_export e = { 0 };
		enum vs_hs_result res = vs_handshake(&io, &p->x, &e, &why);
		if (res == VS_HS_ERROR)
			atomic_fetch_add_explicit(&p->proto_errors, 1, memory_order_relaxed);
		if (res != VS_HS_GO)
			vs_log(res == VS_HS_ERROR ? LOG_WARNING : LOG_DEBUG,
			       "negotiation ended: %s", g->evicted ? "dropped for a newcomer" : why);

		pthread_mutex_lock(&p->mu);
		g->res = res;
		g->exp = e;
		g->state = VS_NEG_DONE;
		pthread_mutex_unlock(&p->mu);
		uint64_t one = 1;
		if (write(p->wake_fd, &one, sizeof one) < 0)
			vs_log(LOG_WARNING, "cannot wake the main thread: %m");
	}
	return NULL;
}

int vs_neg_start(struct vs_negotiators *p, struct vs_exports x, int wake_fd)
{
	pthread_mutex_init(&p->mu, NULL);
	p->x = x;
	p->wake_fd = wake_fd;
	p->warned_ms = vs_now_ms() - 10000;
	pthread_attr_t a;
	pthread_attr_init(&a);
	/* mlockall() locks each stack whole; a handshake needs about 12 KiB. */
	pthread_attr_setstacksize(&a, 128 << 10);
	int rc = 0;
	for (unsigned i = 0; i < VS_NEGOTIATORS && !rc; i++) {
		struct vs_negotiator *g = &p->n[i];
		g->pool = p;
		g->fd = -1;
		pthread_cond_init(&g->cv, NULL);
		rc = pthread_create(&g->thread, &a, negotiator, g);
	}
	pthread_attr_destroy(&a);
	if (rc)
		vs_log(LOG_ERR, "cannot start a negotiator thread: %s", strerror(rc));
	return rc ? -1 : 0;
}

/* How long g's client may stay silent before g can be taken. */
static long long patience(const struct vs_negotiator *g)
{
	return atomic_load_explicit(&g->spoke, memory_order_relaxed) ? VS_NEG_SPOKEN_MS
	                                                              : VS_NEG_QUIET_MS;
}

/* Under p->mu: an idle negotiator, else NULL with *quiet the busy one
 * silent longest past its patience (NULL if none) and *wait_ms how long
 * until the next one is. */
static struct vs_negotiator *find(struct vs_negotiators *p, struct vs_negotiator **quiet,
                                  long long *wait_ms)
{
	long long now = vs_now_ms(), best = 0;
	*quiet = NULL;
	*wait_ms = 1000;
	for (unsigned i = 0; i < VS_NEGOTIATORS; i++) {
		struct vs_negotiator *g = &p->n[i];
		if (g->state == VS_NEG_IDLE)
			return g;
		if (g->state != VS_NEG_BUSY || g->evicted)
			continue;
		long long over = now - atomic_load_explicit(&g->heard_ms, memory_order_relaxed) -
		                 patience(g);
		if (over >= 0 && (!*quiet || over > best)) {
			*quiet = g;
			best = over;
		} else if (over < 0 && -over < *wait_ms) {
			*wait_ms = -over;
		}
	}
	return NULL;
}

int vs_neg_room(struct vs_negotiators *p, int *ms)
{
	struct vs_negotiator *quiet;
	long long wait_ms;
	pthread_mutex_lock(&p->mu);
	int room = find(p, &quiet, &wait_ms) || (!p->evicting && quiet);
	if (!room && !p->evicting && wait_ms + 1 < *ms)
		*ms = (int)wait_ms + 1;
	pthread_mutex_unlock(&p->mu);
	return room;
}

bool vs_neg_idle(struct vs_negotiators *p)
{
	struct vs_negotiator *quiet;
	long long wait_ms;
	pthread_mutex_lock(&p->mu);
	bool idle = find(p, &quiet, &wait_ms) != NULL;
	pthread_mutex_unlock(&p->mu);
	return idle;
}

void vs_neg_give(struct vs_negotiators *p, int fd, int pid)
{
	struct vs_negotiator *quiet;
	long long wait_ms;
	pthread_mutex_lock(&p->mu);
	struct vs_negotiator *g = find(p, &quiet, &wait_ms);
	g->fd = fd;
	g->pid = pid;
	g->evicted = false;
	g->res = VS_HS_CLOSED;
	clock_gettime(CLOCK_MONOTONIC, &g->deadline);
	g->deadline.tv_sec += VS_HANDSHAKE_S;
	atomic_store_explicit(&g->heard_ms, vs_now_ms(), memory_order_relaxed);
	atomic_store_explicit(&g->spoke, false, memory_order_relaxed);
	g->state = VS_NEG_BUSY;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&p->mu);
}

void vs_neg_evict(struct vs_negotiators *p)
{
	struct vs_negotiator *quiet;
	long long wait_ms;
	pthread_mutex_lock(&p->mu);
	if (!find(p, &quiet, &wait_ms) && quiet && !p->evicting) {
		/* Its thread sees end-of-file at once; the fd stays open (the
		 * main thread closes it on take), so it cannot be reused. */
		quiet->evicted = true;
		p->evicting = true;
		shutdown(quiet->fd, SHUT_RDWR);
		long long now = vs_now_ms();
		p->evictions++;
		if (now - p->warned_ms >= 10000) {
			vs_log(LOG_WARNING, "all %u negotiators busy: dropped %u client(s) that "
			       "stayed silent in their handshake, so that others get in",
			       VS_NEGOTIATORS, p->evictions);
			p->evictions = 0;
			p->warned_ms = now;
		}
	}
	pthread_mutex_unlock(&p->mu);
}

int vs_neg_take(struct vs_negotiators *p, int *fd, int *pid, enum vs_hs_result *res,
                struct vs_export *exp)
{
	int found = 0;
	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < VS_NEGOTIATORS && !found; i++) {
		struct vs_negotiator *g = &p->n[i];
		if (g->state != VS_NEG_DONE)
			continue;
		*fd = g->fd;
		*pid = g->pid;
		*res = g->evicted && g->res == VS_HS_GO ? VS_HS_CLOSED : g->res;
		*exp = g->exp;
		if (g->evicted)
			p->evicting = false;
		g->fd = -1;
		g->state = VS_NEG_IDLE;
		found = 1;
	}
	pthread_mutex_unlock(&p->mu);
	return found;
}
