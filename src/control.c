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

#include "handover.h"
#include "log.h"
#include "power.h"
#include "unixsock.h"

double vs_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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

static void say(struct vs_ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct vs_ctl_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(r->buf + r->n, sizeof r->buf - r->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->n = r->n + (size_t)k < sizeof r->buf ? r->n + (size_t)k : sizeof r->buf - 1;
}

/* Under c->mu. */
static void say_target(struct vs_control *c, struct vs_ctl_reply *r)
{
	const struct vs_policy *p = &c->pol;
	say(r, "target %" PRIu64 " cap %" PRIu64 " chunk %" PRIu64 " total %u auto %s "
	    "battery %s\n", c->gen, p->cap, p->chunk, vs_policy_total(p),
	    p->automatic ? "on" : "off", p->on_battery ? "release" : "keep");
	for (unsigned i = 0; i < p->ngpus; i++)
		say(r, "gpu %u chunks %u target %u\n", i, p->g[i].chunks, p->g[i].target);
}

/* ---- arguments ----------------------------------------------------------- */

/* The one reading of a number on the control socket: decimal digits only,
 * no sign, space or leading zero, at most max. 0 or -1. */
static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* ---- commands ------------------------------------------------------------ */

static void cmd_chunks(struct vs_control *c, struct vs_ctl_reply *r)
{
	static struct vs_chunk_info ci[VS_MAX_CHUNKS];
	unsigned n = vs_chunks_list(c->tab, ci);
	for (unsigned i = 0; i < n; i++) {
		char dev[16] = "-";
		int nbd = vs_attach_device(c->attach, ci[i].idx);
		if (nbd >= 0)
			snprintf(dev, sizeof dev, "nbd%d", nbd);
		say(r, "chunk %u gpu %u size %" PRIu64 " used %" PRIu64 " stored %" PRIu64
		    " same %" PRIu64 " clients %u device %s name %s.%u\n", ci[i].idx, ci[i].gpu,
		    ci[i].size, ci[i].used, ci[i].stored, ci[i].same, ci[i].clients, dev,
		    c->cfg->export_name, ci[i].idx);
	}
	say(r, "ok\n");
}

static void cmd_gpus(struct vs_control *c, struct vs_ctl_reply *r)
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

/* Whether one more chunk stays within the cap; else says why. Under c->mu. */
static bool within_cap(struct vs_control *c, struct vs_ctl_reply *r)
{
	static struct vs_chunk_info ci[VS_MAX_CHUNKS];
	uint64_t held = 0;
	unsigned n = vs_chunks_list(c->tab, ci);
	for (unsigned i = 0; i < n; i++)
		held += ci[i].size;
	if (held + c->chunk <= c->pol.cap)
		return true;
	char s1[32], s2[32], s3[32];
	vs_fmt_size(s1, sizeof s1, c->pol.cap);
	vs_fmt_size(s2, sizeof s2, held);
	vs_fmt_size(s3, sizeof s3, c->chunk);
	say(r, "error: the cap is %s and the tier holds %s in %u chunk(s): one more chunk "
	    "of %s would pass it (raise it with `cap` first)\n", s1, s2, n, s3);
	return false;
}

static void cmd_add(struct vs_control *c, const char *arg, struct vs_ctl_reply *r)
{
	uint64_t gpu;
	if (atomic_load(&c->draining)) {
		say(r, "error: the daemon is stopping (it drains until its clients detach): "
		    "no chunk is added\n");
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (arg && parse_num(arg, UINT32_MAX, &gpu)) {
		pthread_mutex_unlock(&c->mu);
		say(r, "error: add: '%s' is not a GPU number (`gpus` lists them)\n", arg);
		return;
	}
	if (arg && gpu >= c->pol.ngpus) {
		pthread_mutex_unlock(&c->mu);
		say(r, "error: no GPU %s here (the daemon serves %u; `gpus` lists them)\n",
		    arg, c->pol.ngpus);
		return;
	}
	if (!arg)
		gpu = pick_gpu(c);
	if (!within_cap(c, r)) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	pthread_mutex_unlock(&c->mu);

	char why[160] = "", s1[32];
	unsigned idx;
	int rc = vs_chunks_add(c->tab, (unsigned)gpu, c->chunk, &idx, why, sizeof why);
	vs_fmt_size(s1, sizeof s1, c->chunk);
	if (rc) {
		vs_log(LOG_WARNING, "control: cannot add a chunk of %s on GPU %u: %s", s1,
		       (unsigned)gpu, *why ? why : "allocation failed");
		say(r, "error: cannot allocate a chunk of %s on GPU %u: %s\n", s1, (unsigned)gpu,
		    *why ? why : "allocation failed");
	} else {
		vs_log(LOG_NOTICE, "control: added chunk %u (%s on GPU %u) as export %s.%u",
		       idx, s1, (unsigned)gpu, c->cfg->export_name, idx);
		say(r, "chunk %u gpu %u size %" PRIu64 " name %s.%u\nok\n", idx, (unsigned)gpu,
		    c->chunk, c->cfg->export_name, idx);
	}
	vs_control_sample(c, vs_now());
}

static void cmd_free(struct vs_control *c, const char *arg, struct vs_ctl_reply *r)
{
	uint64_t idx;
	if (!arg) {
		say(r, "error: free takes a chunk number (0 to %u)\n", VS_MAX_CHUNKS - 1);
		return;
	}
	if (parse_num(arg, VS_MAX_CHUNKS - 1, &idx)) {
		say(r, "error: free: '%s' is not a chunk number (0 to %u)\n", arg,
		    VS_MAX_CHUNKS - 1);
		return;
	}
	static struct vs_chunk_info ci[VS_MAX_CHUNKS];
	unsigned n = vs_chunks_list(c->tab, ci), clients = 0;
	for (unsigned i = 0; i < n; i++)
		if (ci[i].idx == idx)
			clients = ci[i].clients;
	int rc = vs_chunks_free(c->tab, (unsigned)idx);
	if (rc == EBUSY)
		say(r, "error: chunk %u has %u client(s) attached: swapoff and detach it first\n",
		    (unsigned)idx, clients);
	else if (rc)
		say(r, "error: there is no chunk %u\n", (unsigned)idx);
	else {
		vs_log(LOG_NOTICE, "control: freed chunk %u", (unsigned)idx);
		say(r, "ok\n");
	}
	vs_control_sample(c, vs_now());
}

static void cmd_attach(struct vs_control *c, const char *arg, struct vs_ctl_reply *r)
{
	char a[VS_CTL_LINE], *f[3];
	const char *usage = "attach takes a chunk, an nbd device number and a connection count";
	snprintf(a, sizeof a, "%s", arg ? arg : "");
	f[0] = a;
	/* One space between the numbers; parse_num refuses anything else. */
	for (int k = 1; k < 3; k++) {
		f[k] = strchr(f[k - 1], ' ');
		if (f[k])
			*f[k]++ = 0;
		else
			f[k] = "";
	}
	uint64_t v[3];
	if (parse_num(f[0], VS_MAX_CHUNKS - 1, &v[0]) || parse_num(f[1], 1u << 20, &v[1]) ||
	    parse_num(f[2], VS_GIVEN_MAX, &v[2]) || !v[2]) {
		say(r, "error: %s (0-%u, 0-%u, 1-%u), not '%s'\n", usage, VS_MAX_CHUNKS - 1,
		    1u << 20, VS_GIVEN_MAX, arg);
		return;
	}
	if (atomic_load(&c->draining)) {
		say(r, "error: the daemon is stopping: no new attachments\n");
		return;
	}
	char why[256];
	int dev;
	if (vs_attach_chunk(c->attach, (unsigned)v[0], (int)v[1], (unsigned)v[2], &dev, why,
	                    sizeof why)) {
		vs_log(LOG_ERR, "control: cannot attach chunk %u to /dev/nbd%u: %s", (unsigned)v[0],
		       (unsigned)v[1], why);
		say(r, "error: cannot attach chunk %u to /dev/nbd%u: %s\n", (unsigned)v[0],
		    (unsigned)v[1], why);
		return;
	}
	say(r, "device nbd%d\nok\n", dev);
}

static void cmd_handover(struct vs_control *c, const char *arg, struct vs_ctl_reply *r)
{
	const struct vs_handover *ho = c->attach->ho;
	if (arg) {
		say(r, "error: handover takes no argument, not '%s'\n", arg);
	} else if (!ho->durable) {
		say(r, "error: the pages cannot outlive this daemon (%s): it is replaced only "
		    "by vram-swap-teardown and vram-swap-setup\n", ho->why);
	} else if (atomic_load(&c->draining)) {
		say(r, "error: the daemon is stopping: it drains until its clients detach\n");
	} else {
		vs_log(LOG_NOTICE, "control: handing every page over to the next daemon");
		atomic_store(&c->handover, true);
		say(r, "ok\n");
	}
}

static void cmd_cap(struct vs_control *c, const char *arg, struct vs_ctl_reply *r)
{
	struct vs_size s;
	const char *why = NULL;
	uint64_t cap;
	char s1[32];
	if (!arg) {
		say(r, "error: cap takes a size, N%% or max\n");
		return;
	}
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

/* ---- connections --------------------------------------------------------- */

static unsigned count_state(const struct vs_control *c, unsigned state)
{
	unsigned n = 0;
	for (unsigned i = 0; i < VS_CTL_CONNS; i++)
		n += c->conn[i].state == state;
	return n;
}

static void drop(struct vs_ctl_conn *k)
{
	close(k->fd);
	k->fd = -1;
	k->state = VS_CTL_FREE;
}

/* Sends what it can of k's answer; closes k once all of it went, or the
 * client hung up (a client that does not read only loses its answer). */
static void push(struct vs_ctl_conn *k)
{
	while (k->out.sent < k->out.n) {
		ssize_t w = send(k->fd, k->out.buf + k->out.sent, k->out.n - k->out.sent,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			k->out.sent += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			return;
		} else {
			vs_log(LOG_DEBUG, "control: a client left before its answer");
			break;
		}
	}
	drop(k);
}

static void answer(struct vs_ctl_conn *k)
{
	k->state = VS_CTL_WRITE;
	k->out.sent = 0;
	k->deadline = vs_now() + VS_CTL_IO_S;
	push(k);
}

/* Runs the line in k->in (NUL-terminated, without its newline): k then
 * answers, or waits for a new target. */
static void run_command(struct vs_control *c, struct vs_ctl_conn *k)
{
	struct vs_ctl_reply *r = &k->out;
	char *line = k->in;
	r->n = 0;
	/* Exactly one space between the command and its argument: anything
	 * else is part of the argument, and refused with it. */
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = 0;
	if (!strcmp(line, "chunks") || !strcmp(line, "gpus") || !strcmp(line, "target")) {
		if (arg)
			say(r, "error: %s takes no argument, not '%s'\n", line, arg);
		else if (!strcmp(line, "chunks"))
			cmd_chunks(c, r);
		else if (!strcmp(line, "gpus"))
			cmd_gpus(c, r);
		else {
			pthread_mutex_lock(&c->mu);
			say_target(c, r);
			pthread_mutex_unlock(&c->mu);
			say(r, "ok\n");
		}
	} else if (!strcmp(line, "wait")) {
		uint64_t g;
		if (!arg || parse_num(arg, UINT64_MAX, &g)) {
			say(r, "error: wait takes a generation as `target` prints it, not '%s'\n",
			    arg ? arg : "");
		} else {
			pthread_mutex_lock(&c->mu);
			if (g != c->gen) {
				say_target(c, r);
				say(r, "ok\n");
			} else if (count_state(c, VS_CTL_WAIT) < VS_CTL_WAITERS) {
				k->state = VS_CTL_WAIT;
				k->gen = g;
			} else {
				say(r, "error: too many watchers (%u)\n", VS_CTL_WAITERS);
			}
			pthread_mutex_unlock(&c->mu);
			if (k->state == VS_CTL_WAIT)
				return;
		}
	} else if (!strcmp(line, "add")) {
		cmd_add(c, arg, r);
	} else if (!strcmp(line, "free")) {
		cmd_free(c, arg, r);
	} else if (!strcmp(line, "cap")) {
		cmd_cap(c, arg, r);
	} else if (!strcmp(line, "attach")) {
		cmd_attach(c, arg, r);
	} else if (!strcmp(line, "handover")) {
		cmd_handover(c, arg, r);
	} else {
		say(r, "error: unknown command '%s' (chunks, gpus, target, wait GEN, add [GPU], "
		    "free CHUNK, cap SIZE|N%%|max, attach CHUNK NBD CONNS, handover)\n", line);
	}
	answer(k);
	/* The answer is on its way (a few bytes, sent at once): now wake the
	 * main thread, which exits. */
	uint64_t one = 1;
	if (atomic_load(&c->handover) && write(c->wake_fd, &one, sizeof one) < 0)
		vs_log(LOG_WARNING, "control: waking the main thread: %m");
}

/* Reads what k's client sent; runs the line once it is whole. */
static void pull(struct vs_control *c, struct vs_ctl_conn *k)
{
	for (;;) {
		ssize_t got = recv(k->fd, k->in + k->in_n, sizeof k->in - 1 - k->in_n, MSG_DONTWAIT);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			return;
		if (got <= 0) {
			drop(k);
			return;
		}
		k->in_n += (size_t)got;
		k->in[k->in_n] = 0;
		char *nl = memchr(k->in, '\n', k->in_n);
		if (nl) {
			*nl = 0;
			if (nl > k->in && nl[-1] == '\r')
				nl[-1] = 0;
			run_command(c, k);
			return;
		}
		if (k->in_n == sizeof k->in - 1) {
			k->out.n = 0;
			say(&k->out, "error: a command is one line of at most %u bytes\n",
			    VS_CTL_LINE - 1);
			answer(k);
			return;
		}
	}
}

/* A slot for a new connection: a free one, else the one that has waited
 * longest for its client's line (a real client sends it with the connect,
 * so only a silent one is ever taken); NULL when every slot is answering
 * or long-polling. */
static struct vs_ctl_conn *slot_for_new(struct vs_control *c)
{
	struct vs_ctl_conn *old = NULL;
	for (unsigned i = 0; i < VS_CTL_CONNS; i++) {
		struct vs_ctl_conn *k = &c->conn[i];
		if (k->state == VS_CTL_FREE)
			return k;
		if (k->state == VS_CTL_READ && (!old || k->deadline < old->deadline))
			old = k;
	}
	if (old) {
		vs_log(LOG_DEBUG, "control: dropped a silent client for a new one");
		drop(old);
	}
	return old;
}

static void refuse(int fd, const char *why)
{
	char line[160];
	int n = snprintf(line, sizeof line, "error: %s\n", why);
	/* Read what the client sent first, so that closing does not reset
	 * the connection before it has read this line. */
	char junk[VS_CTL_LINE];
	while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
		;
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		vs_log(LOG_DEBUG, "control: a refused client left first");
	close(fd);
}

static void take_new(struct vs_control *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			vs_log(LOG_WARNING, "control: accept: %m");
		return;
	}
	if (vs_peer_allowed(fd, "control client") < 0) {
		refuse(fd, "only root and the daemon's own user may use the control socket");
		return;
	}
	struct vs_ctl_conn *k = slot_for_new(c);
	if (!k) {
		refuse(fd, "too many control connections at once: try again");
		return;
	}
	k->fd = fd;
	k->state = VS_CTL_READ;
	k->in_n = 0;
	k->out.n = k->out.sent = 0;
	k->deadline = vs_now() + VS_CTL_IO_S;
	pull(c, k);   /* the line is usually there already */
}

/* Answers every waiter whose generation is out of date. */
static void wake_waiters(struct vs_control *c)
{
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < VS_CTL_CONNS; i++) {
		struct vs_ctl_conn *k = &c->conn[i];
		if (k->state != VS_CTL_WAIT || k->gen == c->gen)
			continue;
		k->out.n = 0;
		say_target(c, &k->out);
		say(&k->out, "ok\n");
		answer(k);
	}
	pthread_mutex_unlock(&c->mu);
}

static void *control_thread(void *arg)
{
	struct vs_control *c = arg;
	double next = vs_now() + 1;
	while (!atomic_load(&c->stop)) {
		struct pollfd p[1 + VS_CTL_CONNS];
		unsigned np = 0, who[VS_CTL_CONNS];
		double wake = next;
		p[np++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		for (unsigned i = 0; i < VS_CTL_CONNS; i++) {
			struct vs_ctl_conn *k = &c->conn[i];
			if (k->state == VS_CTL_FREE)
				continue;
			who[np - 1] = i;
			p[np++] = (struct pollfd){ .fd = k->fd,
			                           .events = k->state == VS_CTL_WRITE ? POLLOUT : POLLIN };
			if (k->state != VS_CTL_WAIT && k->deadline < wake)
				wake = k->deadline;
		}
		double left = wake - vs_now();
		int rc = poll(p, np, left > 0 ? (int)(left * 1000) + 1 : 0);
		if (rc < 0 && errno != EINTR)
			vs_log(LOG_WARNING, "control: poll: %m");
		for (unsigned j = 1; j < np; j++) {
			struct vs_ctl_conn *k = &c->conn[who[j - 1]];
			if (!p[j].revents || k->state == VS_CTL_FREE)
				continue;
			if (k->state == VS_CTL_READ)
				pull(c, k);
			else if (k->state == VS_CTL_WRITE)
				push(k);
			else
				drop(k);   /* a waiter that hung up (or sent more) is done */
		}
		double now = vs_now();
		for (unsigned i = 0; i < VS_CTL_CONNS; i++) {
			struct vs_ctl_conn *k = &c->conn[i];
			if ((k->state == VS_CTL_READ || k->state == VS_CTL_WRITE) && now >= k->deadline) {
				vs_log(LOG_DEBUG, "control: a client took over %d s %s", VS_CTL_IO_S,
				       k->state == VS_CTL_READ ? "to send its line" :
				       "to take its answer");
				drop(k);
			}
		}
		if (p[0].revents & POLLIN)
			take_new(c);
		if (vs_now() >= next) {
			vs_control_sample(c, vs_now());
			next = vs_now() + 1;
		}
		wake_waiters(c);
	}
	for (unsigned i = 0; i < VS_CTL_CONNS; i++)
		if (c->conn[i].state != VS_CTL_FREE)
			drop(&c->conn[i]);
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
	for (unsigned i = 0; i < VS_CTL_CONNS; i++) {
		c->conn[i].fd = -1;
		c->conn[i].state = VS_CTL_FREE;
	}
	if (vs_ctl_path(sock_path, path, sizeof path)) {
		vs_log(LOG_ERR, "the control socket's path for %s is too long", sock_path);
		return -1;
	}
	c->listen_fd = vs_listen_unix(path, 16);
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
