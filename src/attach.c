/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "nbd_netlink.h"

/* How long a restarted daemon waits for the kernel to find the dead
 * daemon's connections dead (it does as soon as their peer closes). */
#define RESUME_WAIT_S 10.0

/* The kernel's request timer on the device, in ms. With no nbd timeout
 * set (none is: a slow daemon must never have its connection killed),
 * the driver only re-checks a request this old, and sends it again if its
 * connection was replaced since: so a request in flight when a daemon died
 * is sent to the next one this long after it was first sent, at the
 * latest, instead of the block layer's default 30 s. A request that old on
 * a live connection is logged ("Possible stuck request") and left alone. */
#define REQUEST_TIMER_MS 5000

/* The kernel's name for chunk idx's backend: export, index, the tier's id
 * and the chunk's generation, so no other tier or chunk shares it. */
static void backend_name(const struct vs_attach *a, unsigned idx, uint64_t key, char *buf,
                         size_t n)
{
	snprintf(buf, n, "vram-swap:%s.%u:%016" PRIx64 ":%" PRIu64, a->src->name, idx, a->ho->id,
	         key >> 8);
}

/* Chunk idx's export as its handshake would find it; -1 if none. */
static int find_export(const struct vs_attach *a, struct vs_exports *x, unsigned idx,
                       struct vs_export *e)
{
	char name[VS_HS_MAX_NAME + 8];
	int len = snprintf(name, sizeof name, "%s.%u", a->src->name, idx);
	*x = vs_nbd_exports(a->src);
	return x->find(x->ctx, (const uint8_t *)name, (uint32_t)len, e);
}

/* Why make_conn() failed, for messages. */
static const char *conn_error(int err)
{
	return err == ENOENT ? "the chunk was freed"
	       : err == EBUSY ? "every connection slot is taken (raise --max-clients)"
	                      : strerror(err);
}

/* A connection for chunk export e: its served end queued for a slot, the
 * kernel's end returned (-1, errno set, if none could be made). If probe
 * is set, *probe is a second descriptor of the served end, which tells
 * whether the kernel kept its end. */
static int make_conn(struct vs_attach *a, const struct vs_exports *x, const struct vs_export *e,
                     int *probe)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return -1;
	if (x->claim(x->ctx, e)) {
		close(sp[0]);
		close(sp[1]);
		errno = ENOENT;
		return -1;
	}
	if (probe && (*probe = fcntl(sp[0], F_DUPFD_CLOEXEC, 3)) < 0) {
		x->release(x->ctx, e);
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (vs_server_give(a->srv, sp[0], e)) {
		x->release(x->ctx, e);
		close(sp[0]);
		close(sp[1]);
		if (probe)
			close(*probe);
		errno = EBUSY;
		return -1;
	}
	return sp[1];
}

/* Whether /sys/block/nbdN/backend says name: the kernel's word on whose
 * device it is (absent once it is disconnected). */
static bool still_ours(int nbd, const char *name, char *seen, size_t n)
{
	char path[64];
	snprintf(path, sizeof path, "/sys/block/nbd%d/backend", nbd);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd < 0 ? -1 : read(fd, seen, n - 1);
	if (fd >= 0)
		close(fd);
	if (got < 0) {
		snprintf(seen, n, "not connected");
		return false;
	}
	seen[got] = 0;
	seen[strcspn(seen, "\n")] = 0;
	return !strcmp(seen, name);
}

int vs_attach_device(struct vs_attach *a, unsigned idx)
{
	struct vs_exports x;
	struct vs_export e;
	if (idx >= VS_MAX_CHUNKS || !a->nbd[idx] || find_export(a, &x, idx, &e))
		return -1;
	char name[192], seen[192];
	backend_name(a, idx, e.cookie, name, sizeof name);
	return still_ours((int)a->nbd[idx] - 1, name, seen, sizeof seen) ? (int)a->nbd[idx] - 1 : -1;
}

int vs_attach_chunk(struct vs_attach *a, unsigned idx, int nbd, unsigned conns, int *dev,
                    char *why, size_t n)
{
	struct vs_exports x;
	struct vs_export e;
	if (find_export(a, &x, idx, &e)) {
		snprintf(why, n, "there is no chunk %u", idx);
		return -1;
	}
	/* Two devices on one chunk would be two swap areas on the same pages. */
	int already = vs_attach_device(a, idx);
	if (already >= 0) {
		snprintf(why, n, "chunk %u is attached as /dev/nbd%d already", idx, already);
		return -1;
	}
	int kfd[VS_GIVEN_MAX];
	unsigned made = 0;
	for (; made < conns; made++) {
		kfd[made] = make_conn(a, &x, &e, NULL);
		if (kfd[made] < 0)
			break;
	}
	int rc = 0;
	if (made < conns) {
		snprintf(why, n, "cannot make connection %u of %u: %s", made + 1, conns,
		         conn_error(errno));
		rc = -1;
	}
	char name[192];
	backend_name(a, idx, e.cookie, name, sizeof name);
	if (!rc) {
		struct vs_nl_connect c = {
			.index = nbd, .fds = kfd, .nfds = conns, .size = e.size, .flags = e.flags,
			.dead_s = a->ho->durable ? a->wait_s : 0, .backend = name,
		};
		rc = vs_nl_connect(&c, dev, why, n) ? -1 : 0;
	}
	/* The kernel holds its own references; without them, closing these
	 * hangs up the served ends, which ends their slots. */
	for (unsigned i = 0; i < made; i++)
		close(kfd[i]);
	if (rc)
		return -1;
	char path[80];
	snprintf(path, sizeof path, "/sys/block/nbd%d/queue/io_timeout", *dev);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || dprintf(fd, "%d\n", REQUEST_TIMER_MS) < 0)
		vs_log(LOG_WARNING, "cannot set %s: requests in flight when a daemon dies are "
		       "sent again only after the kernel's default 30 s (%m)", path);
	if (fd >= 0)
		close(fd);
	vs_handover_set_device(a->ho, idx, *dev, conns);
	a->nbd[idx] = (unsigned)*dev + 1;
	vs_log(LOG_NOTICE, "chunk %u attached as /dev/nbd%d (%u connection(s), backend %s%s)",
	       idx, *dev, conns, name, a->ho->durable ? "; swap I/O waits for a restarted daemon"
	       : "");
	return 0;
}

/* One new connection into a dead slot of nbdN: 1 taken, 0 no dead slot
 * (yet), -1 refused (why[] says). */
static int reconnect_one(struct vs_attach *a, const struct vs_exports *x,
                         const struct vs_export *e, int nbd, const char *name, char *why,
                         size_t n)
{
	int probe;
	int kfd = make_conn(a, x, e, &probe);
	if (kfd < 0) {
		snprintf(why, n, "cannot make a connection: %s", conn_error(errno));
		return -1;
	}
	int rc = vs_nl_reconnect(nbd, kfd, name, why, n);
	close(kfd);
	/* Unless the kernel kept its end, closing ours released it. */
	struct pollfd p = { .fd = probe, .events = POLLRDHUP };
	bool taken = !rc && poll(&p, 1, 0) == 0;
	close(probe);
	return rc ? -1 : taken;
}

void vs_attach_resume(struct vs_attach *a)
{
	for (unsigned idx = 0; idx < VS_MAX_CHUNKS; idx++) {
		int nbd;
		unsigned conns;
		if (!vs_handover_device(a->ho, idx, &nbd, &conns))
			continue;
		struct vs_exports x;
		struct vs_export e;
		char name[192], seen[192], why[256] = "";
		if (find_export(a, &x, idx, &e))
			continue;
		backend_name(a, idx, e.cookie, name, sizeof name);
		if (!still_ours(nbd, name, seen, sizeof seen)) {
			vs_log(LOG_NOTICE, "chunk %u was attached as /dev/nbd%d, which is no longer "
			       "its own (backend: %s): not re-attached", idx, nbd, seen);
			vs_handover_set_device(a->ho, idx, -1, 0);
			continue;
		}
		unsigned given = 0;
		double until = vs_now() + RESUME_WAIT_S;
		while (given < conns) {
			int r = reconnect_one(a, &x, &e, nbd, name, why, sizeof why);
			vs_server_reap(a->srv);   /* this is the main thread, before its loop */
			if (r < 0)
				break;
			if (r > 0) {
				given++;
				continue;
			}
			if (vs_now() > until)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
		}
		if (given)
			a->nbd[idx] = (unsigned)nbd + 1;
		if (given == conns)
			vs_log(LOG_NOTICE, "chunk %u re-attached to /dev/nbd%d: %u new connection(s)",
			       idx, nbd, given);
		else if (*why)
			vs_log(LOG_ERR, "chunk %u could not be re-attached to /dev/nbd%d after %u of "
			       "%u connection(s): %s", idx, nbd, given, conns, why);
		else
			vs_log(LOG_WARNING, "chunk %u re-attached to /dev/nbd%d with %u of %u "
			       "connection(s): the kernel had no more dead ones to replace", idx, nbd,
			       given, conns);
	}
}
