/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "power.h"
#include "server.h"
#include "sockio.h"

double vs_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int vs_ctl_path(const char *sock, char *out, size_t n)
{
	size_t l = strlen(sock);
	int k = l > 5 && !strcmp(sock + l - 5, ".sock")
		? snprintf(out, n, "%.*s.ctl", (int)(l - 5), sock)
		: snprintf(out, n, "%s.ctl", sock);
	return k < 0 || (size_t)k >= n || k > 107 ? -1 : 0;
}

/* ---- sampling ------------------------------------------------------------ */

static uint64_t reserve_of(const struct vs_config *cfg, uint64_t total)
{
	if (!cfg->reserve.percent)
		return cfg->reserve.bytes;
	return total / 100 * cfg->reserve.percent;
}

/* Under c->mu. */
static void sample_locked(struct vs_control *c, double now)
{
	struct vs_policy *p = &c->pol;
	for (unsigned i = 0; i < p->ngpus; i++) {
		struct vs_backend *be = c->tab->gpus[i];
		struct vs_policy_gpu *g = &p->g[i];
		uint64_t f = 0, t = 0;
		if (be->ops->mem_info(be, &f, &t) == 0) {
			g->free = f;
			g->total = t;
		}
		g->ours = vs_chunks_on(c->tab, i, &g->chunks);
		g->reserve = reserve_of(c->cfg, g->total);
	}
	p->on_battery = p->release_on_battery && vs_on_battery();
	if (vs_policy_step(p, now))
		c->gen++;
}

void vs_control_sample(struct vs_control *c, double now)
{
	pthread_mutex_lock(&c->mu);
	sample_locked(c, now);
	pthread_mutex_unlock(&c->mu);
}

/* ---- replies ------------------------------------------------------------- */

struct reply {
	char buf[16384];
	size_t n;
};

static void say(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(r->buf + r->n, sizeof r->buf - r->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->n = r->n + (size_t)k < sizeof r->buf ? r->n + (size_t)k : sizeof r->buf - 1;
}

static void send_reply(int fd, struct reply *r)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += 2;
	/* A client that does not read its answer only loses the answer. */
	if (vs_send_by(fd, r->buf, r->n, &dl))
		vs_log(LOG_DEBUG, "control: a client left before its answer");
}

/* Under c->mu. */
static void say_target(struct vs_control *c, struct reply *r)
{
	const struct vs_policy *p = &c->pol;
	say(r, "target %" PRIu64 " cap %" PRIu64 " chunk %" PRIu64 " total %u auto %s "
	    "battery %s\n", c->gen, p->cap, p->chunk, vs_policy_total(p),
	    p->automatic ? "on" : "off", p->on_battery ? "release" : "keep");
	for (unsigned i = 0; i < p->ngpus; i++)
		say(r, "gpu %u chunks %u target %u\n", i, p->g[i].chunks, p->g[i].target);
}

static void cmd_chunks(struct vs_control *c, struct reply *r)
{
	static struct vs_chunk_info ci[VS_MAX_CHUNKS];
	unsigned n = vs_chunks_list(c->tab, ci);
	for (unsigned i = 0; i < n; i++)
		say(r, "chunk %u gpu %u size %" PRIu64 " used %" PRIu64 " clients %u name %s.%u\n",
		    ci[i].idx, ci[i].gpu, ci[i].size, ci[i].used, ci[i].clients,
		    c->cfg->export_name, ci[i].idx);
	say(r, "ok\n");
}

static void cmd_gpus(struct vs_control *c, struct reply *r)
{
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < c->pol.ngpus; i++) {
		const struct vs_policy_gpu *g = &c->pol.g[i];
		const struct vs_backend *be = c->tab->gpus[i];
		say(r, "gpu %u free %" PRIu64 " total %" PRIu64 " ours %" PRIu64 " reserve %"
		    PRIu64 " chunks %u target %u uuid %s bus %s name %s\n", i, g->free, g->total,
		    g->ours, g->reserve, g->chunks, g->target,
		    *be->device_uuid ? be->device_uuid : "-",
		    *be->device_bus_id ? be->device_bus_id : "-", be->device_name);
	}
	pthread_mutex_unlock(&c->mu);
	say(r, "ok\n");
}

/* The GPU a new chunk goes to: the one the policy wants to grow most,
 * else the one with most free memory. Under c->mu. */
static unsigned pick_gpu(const struct vs_control *c)
{
	unsigned best = 0;
	long best_grow = -1000000;
	uint64_t best_free = 0;
	for (unsigned i = 0; i < c->pol.ngpus; i++) {
		const struct vs_policy_gpu *g = &c->pol.g[i];
		long grow = (long)g->target - (long)g->chunks;
		if (grow > best_grow || (grow == best_grow && g->free > best_free)) {
			best = i;
			best_grow = grow;
			best_free = g->free;
		}
	}
	return best;
}

static void cmd_add(struct vs_control *c, const char *arg, struct reply *r)
{
	unsigned gpu;
	pthread_mutex_lock(&c->mu);
	if (*arg) {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);
		if (*end || v >= c->pol.ngpus) {
			pthread_mutex_unlock(&c->mu);
			say(r, "error: no GPU %s here (the daemon serves %u; `gpus` lists them)\n",
			    arg, c->pol.ngpus);
			return;
		}
		gpu = (unsigned)v;
	} else {
		gpu = pick_gpu(c);
	}
	pthread_mutex_unlock(&c->mu);

	char why[160] = "", s1[32];
	unsigned idx;
	int rc = vs_chunks_add(c->tab, gpu, c->chunk, &idx, why, sizeof why);
	vs_fmt_size(s1, sizeof s1, c->chunk);
	if (rc) {
		vs_log(LOG_WARNING, "control: cannot add a chunk of %s on GPU %u: %s", s1, gpu,
		       *why ? why : "allocation failed");
		say(r, "error: cannot allocate a chunk of %s on GPU %u: %s\n", s1, gpu,
		    *why ? why : "allocation failed");
	} else {
		vs_log(LOG_NOTICE, "control: added chunk %u (%s on GPU %u) as export %s.%u",
		       idx, s1, gpu, c->cfg->export_name, idx);
		say(r, "chunk %u gpu %u size %" PRIu64 " name %s.%u\nok\n", idx, gpu, c->chunk,
		    c->cfg->export_name, idx);
	}
	vs_control_sample(c, vs_now());
}

static void cmd_free(struct vs_control *c, const char *arg, struct reply *r)
{
	char *end;
	unsigned long idx = strtoul(arg, &end, 10);
	if (!*arg || *end) {
		say(r, "error: free takes a chunk number\n");
		return;
	}
	static struct vs_chunk_info ci[VS_MAX_CHUNKS];
	unsigned n = vs_chunks_list(c->tab, ci), clients = 0;
	for (unsigned i = 0; i < n; i++)
		if (ci[i].idx == idx)
			clients = ci[i].clients;
	int rc = vs_chunks_free(c->tab, (unsigned)idx);
	if (rc == EBUSY)
		say(r, "error: chunk %lu has %u client(s) attached: swapoff and detach it first\n",
		    idx, clients);
	else if (rc)
		say(r, "error: there is no chunk %lu\n", idx);
	else {
		vs_log(LOG_NOTICE, "control: freed chunk %lu", idx);
		say(r, "ok\n");
	}
	vs_control_sample(c, vs_now());
}

static void cmd_cap(struct vs_control *c, const char *arg, struct reply *r)
{
	struct vs_size s;
	const char *why = NULL;
	uint64_t cap;
	char s1[32];
	pthread_mutex_lock(&c->mu);
	if (!strcmp(arg, "max")) {
		cap = c->max_cap;
	} else if (!strcmp(arg, "0")) {
		cap = 0;
	} else if ((why = vs_parse_size(arg, true, &s))) {
		pthread_mutex_unlock(&c->mu);
		say(r, "error: invalid size '%s': %s\n", arg, why);
		return;
	} else if (s.percent) {
		uint64_t base = 0;
		for (unsigned i = 0; i < c->pol.ngpus; i++)
			base += c->pol.g[i].free + c->pol.g[i].ours;
		cap = base / 100 * s.percent;
	} else {
		cap = s.bytes;
	}
	if (cap && cap < c->chunk) {
		pthread_mutex_unlock(&c->mu);
		vs_fmt_size(s1, sizeof s1, c->chunk);
		say(r, "error: '%s' is less than one chunk (%s): use 0 or at least %s\n", arg,
		    s1, s1);
		return;
	}
	c->pol.cap = cap;
	vs_policy_grow_now(&c->pol, vs_now());
	sample_locked(c, vs_now());
	c->gen++;
	say_target(c, r);
	pthread_mutex_unlock(&c->mu);
	say(r, "ok\n");
}

/* Runs one command; returns 1 when the connection waits for a change. */
static int run_command(struct vs_control *c, int fd, char *line, struct reply *r)
{
	line[strcspn(line, "\r\n")] = 0;
	char *arg = line + strcspn(line, " ");
	if (*arg)
		*arg++ = 0;
	if (!strcmp(line, "chunks")) {
		cmd_chunks(c, r);
	} else if (!strcmp(line, "gpus")) {
		cmd_gpus(c, r);
	} else if (!strcmp(line, "target") || !strcmp(line, "wait")) {
		pthread_mutex_lock(&c->mu);
		uint64_t g = strtoull(arg, NULL, 10);
		if (!strcmp(line, "wait") && g == c->gen) {
			for (unsigned i = 0; i < VS_CTL_WAITERS; i++)
				if (c->waiter[i] < 0) {
					c->waiter[i] = fd;
					c->waiter_gen[i] = g;
					pthread_mutex_unlock(&c->mu);
					return 1;
				}
			pthread_mutex_unlock(&c->mu);
			say(r, "error: too many watchers\n");
			return 0;
		}
		say_target(c, r);
		pthread_mutex_unlock(&c->mu);
		say(r, "ok\n");
	} else if (!strcmp(line, "add")) {
		cmd_add(c, arg, r);
	} else if (!strcmp(line, "free")) {
		cmd_free(c, arg, r);
	} else if (!strcmp(line, "cap")) {
		cmd_cap(c, arg, r);
	} else {
		say(r, "error: unknown command '%s' (chunks, gpus, target, wait GEN, add [GPU], "
		    "free CHUNK, cap SIZE|N%%|max)\n", line);
	}
	return 0;
}

static void serve_one(struct vs_control *c, int fd)
{
	static struct reply r;
	char line[256];
	size_t n = 0;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += 2;
	/* One short line; a client that trickles it loses the connection. */
	while (n < sizeof line - 1) {
		if (vs_recv_by(fd, line + n, 1, &dl)) {
			close(fd);
			return;
		}
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	r.n = 0;
	if (run_command(c, fd, line, &r))
		return;
	send_reply(fd, &r);
	close(fd);
}

/* Answers every waiter whose generation is out of date. */
static void wake_waiters(struct vs_control *c)
{
	static struct reply r;
	pthread_mutex_lock(&c->mu);
	r.n = 0;
	say_target(c, &r);
	say(&r, "ok\n");
	for (unsigned i = 0; i < VS_CTL_WAITERS; i++)
		if (c->waiter[i] >= 0 && c->waiter_gen[i] != c->gen) {
			send_reply(c->waiter[i], &r);
			close(c->waiter[i]);
			c->waiter[i] = -1;
		}
	pthread_mutex_unlock(&c->mu);
}

static void *control_thread(void *arg)
{
	struct vs_control *c = arg;
	double next = vs_now() + 1;
	while (!atomic_load(&c->stop)) {
		struct pollfd p[1 + VS_CTL_WAITERS];
		unsigned np = 0, who[VS_CTL_WAITERS];
		p[np++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		pthread_mutex_lock(&c->mu);
		for (unsigned i = 0; i < VS_CTL_WAITERS; i++)
			if (c->waiter[i] >= 0) {
				who[np - 1] = i;
				p[np++] = (struct pollfd){ .fd = c->waiter[i], .events = POLLIN };
			}
		pthread_mutex_unlock(&c->mu);
		double left = next - vs_now();
		int rc = poll(p, np, left > 0 ? (int)(left * 1000) + 1 : 0);
		if (rc < 0 && errno != EINTR)
			vs_log(LOG_WARNING, "control: poll: %m");
		/* A waiter that hung up (or sent more) is done waiting. */
		for (unsigned k = 1; k < np; k++)
			if (p[k].revents) {
				pthread_mutex_lock(&c->mu);
				close(c->waiter[who[k - 1]]);
				c->waiter[who[k - 1]] = -1;
				pthread_mutex_unlock(&c->mu);
			}
		if (p[0].revents & POLLIN) {
			int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && vs_peer_allowed(fd, "control client") < 0)
				close(fd);
			else if (fd >= 0)
				serve_one(c, fd);
		}
		if (vs_now() >= next) {
			vs_control_sample(c, vs_now());
			next = vs_now() + 1;
		}
		wake_waiters(c);
	}
	for (unsigned i = 0; i < VS_CTL_WAITERS; i++)
		if (c->waiter[i] >= 0)
			close(c->waiter[i]);
	return NULL;
}

void vs_control_stop(struct vs_control *c)
{
	if (!c->started)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	c->started = false;
}

int vs_control_start(struct vs_control *c, const char *sock_path)
{
	char path[128];
	for (unsigned i = 0; i < VS_CTL_WAITERS; i++)
		c->waiter[i] = -1;
	if (vs_ctl_path(sock_path, path, sizeof path)) {
		vs_log(LOG_ERR, "the control socket's path for %s is too long", sock_path);
		return -1;
	}
	c->listen_fd = vs_listen_unix(path);
	if (c->listen_fd < 0)
		return -1;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 256 << 10);
	int rc = pthread_create(&c->thread, &a, control_thread, c);
	pthread_attr_destroy(&a);
	if (rc) {
		vs_log(LOG_ERR, "cannot start the control thread: %s", strerror(rc));
		return -1;
	}
	c->started = true;
	return 0;
}
