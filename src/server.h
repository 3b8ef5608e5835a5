/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The listening socket and the connection slots. Every slot has its worker
 * thread and buffers from start-up; accepting a connection only hands its
 * fd to an idle worker, so nothing is created while swap is in use.
 */
#ifndef VS_SERVER_H
#define VS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "nbd_conn.h"

struct vs_slot {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;                 /* -1: idle */
	struct vs_nbd_conn conn;
	struct vs_counters cnt;
	struct vs_server *srv;
};

struct vs_server {
	int listen_fd;
	int wake_fd;            /* eventfd: a worker finished a connection */
	unsigned nslots;
	struct vs_slot *slots;
	_Atomic unsigned clients;
	struct vs_store *st;
	struct vs_export exp;
};

/* Checks the socket's directory, replaces a stale socket, binds, listens. */
int vs_server_listen(struct vs_server *srv, const char *path);
/* Allocates slots and starts their workers. */
int vs_server_start(struct vs_server *srv, struct vs_store *st, const char *export_name,
                    unsigned nslots);
/* Accepts one pending connection and hands it to a worker. */
void vs_server_accept(struct vs_server *srv);
/* Sums the counters of all slots. */
void vs_server_counters(const struct vs_server *srv, uint64_t out[VS_COUNTERS]);

#endif
