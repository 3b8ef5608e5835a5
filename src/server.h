/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The listening socket and the connection slots. A connection negotiates
 * first (negotiate.h) and reaches a slot only once its handshake chose an
 * export. Every slot has its worker thread and buffers from the moment it
 * exists; serving a connection allocates nothing. Slots beyond the first
 * few are made when a negotiated connection finds none idle (a chunk being
 * attached), on the main thread.
 */
#ifndef VS_SERVER_H
#define VS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "nbd_conn.h"
#include "negotiate.h"

struct vs_slot {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;                 /* -1: idle */
	struct vs_export exp;   /* what fd's handshake chose */
	struct vs_nbd_conn conn;
	struct vs_counters cnt;
	struct vs_server *srv;
};

/* Slots made at start; more are made as connections arrive, up to
 * --max-clients, so a daemon with few chunks holds few staging buffers. */
#define VS_SLOTS_AT_START 8
#define VS_GIVEN_MAX 64

struct vs_server {
	int listen_fd;
	int wake_fd;            /* eventfd: a worker or a negotiator finished */
	unsigned nslots;        /* ready, with a worker each */
	unsigned cap;           /* --max-clients */
	struct vs_backend *bes[VS_MAX_GPUS];
	unsigned nbe;
	const struct vs_nbd_source *src;
	struct vs_slot *slots;
	struct vs_negotiators neg;
	_Atomic unsigned clients;   /* negotiating or served */
	/* Slots promised: from a GO's claim (or a connection given) to the
	 * slot's release. Never more than cap, so a client told yes always
	 * finds a slot. */
	_Atomic unsigned taken;
	struct vs_exports exports;  /* the source's, which neg.x wraps */
	/* Connections made by the daemon itself for the kernel (already in
	 * transmission), waiting for the main thread to give them slots. */
	pthread_mutex_t given_mu;
	struct { int fd; struct vs_export exp; } given[VS_GIVEN_MAX];
	unsigned ngiven;
};

/* The export socket, through vs_listen_unix(). */
int vs_server_listen(struct vs_server *srv, const char *path);
/* Allocates slots (staging from bes[0], a queue on each backend) and
 * starts their workers; exports come from src. */
int vs_server_start(struct vs_server *srv, struct vs_backend *const *bes, unsigned nbe,
                    const struct vs_nbd_source *src, unsigned nslots);
/* Whether to poll the listening socket now; else *ms is lowered to when
 * to ask again. */
bool vs_server_can_accept(struct vs_server *srv, int *ms);
/* Accepts one pending connection for a negotiator (or, when all are busy,
 * drops a silent one for it and leaves it queued). */
void vs_server_accept(struct vs_server *srv);
/* Queues fd, past its handshake with exp claimed, for a slot (any thread):
 * 0, or -1 when the queue is full (fd and exp untouched). */
int vs_server_give(struct vs_server *srv, int fd, const struct vs_export *exp);
/* Hands every negotiated or given connection to a slot (after wake_fd). */
void vs_server_reap(struct vs_server *srv);
/* Sums the counters of all slots. */
void vs_server_counters(const struct vs_server *srv, uint64_t out[VS_COUNTERS]);

#endif
