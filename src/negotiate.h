/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The negotiators: every NBD handshake runs here, outside the connection
 * slots, so a client that connects and then says nothing holds no staging
 * buffers, no GPU queues and no worker. A fixed set, made at start-up, each
 * a thread with a small stack and nothing else; a connection reaches a slot
 * only once its handshake chose an export (transmission).
 *
 * When every negotiator is busy, a newcomer waits in the listen queue and
 * the negotiator whose client has been silent longest is dropped for it,
 * once that silence passes VS_NEG_QUIET_MS (VS_NEG_SPOKEN_MS if the client
 * has sent anything): a client that answers promptly is never dropped, so
 * half-open connections cannot keep the kernel's nbd-client out.
 */
#ifndef VS_NEGOTIATE_H
#define VS_NEGOTIATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "handshake.h"

#define VS_NEGOTIATORS 16
/* The whole negotiation, not per receive: a client that trickles bytes
 * must not keep a negotiator, or a stopping daemon, for long. */
#define VS_HANDSHAKE_S 10
#define VS_NEG_QUIET_MS 250
#define VS_NEG_SPOKEN_MS 1000

enum vs_neg_state { VS_NEG_IDLE, VS_NEG_BUSY, VS_NEG_DONE };

struct vs_negotiator {
	pthread_t thread;
	pthread_cond_t cv;
	struct vs_negotiators *pool;
	unsigned state;             /* enum vs_neg_state, under pool->mu */
	int fd, pid;
	bool evicted;
	struct timespec deadline;
	_Atomic long long heard_ms; /* accept, or the last byte from the client */
	_Atomic bool spoke;
	enum vs_hs_result res;      /* on DONE */
	struct vs_export exp;       /* on DONE with VS_HS_GO */
};

struct vs_negotiators {
	pthread_mutex_t mu;
	struct vs_exports x;
	int wake_fd;                /* written when a negotiation ends */
	bool evicting;              /* a dropped negotiator has not ended yet */
	unsigned evictions;         /* since the last warning */
	long long warned_ms;
	_Atomic uint64_t proto_errors;
	struct vs_negotiator n[VS_NEGOTIATORS];
};

/* Starts the threads; exports come from x, ends are signalled on wake_fd. */
int vs_neg_start(struct vs_negotiators *p, struct vs_exports x, int wake_fd);
/* Whether a newcomer can be taken (or a negotiator dropped for it) now:
 * 1, else 0 with *ms set to when to ask again (no later than it was). */
int vs_neg_room(struct vs_negotiators *p, int *ms);
/* Whether a negotiator is idle; only the caller of vs_neg_give() makes
 * one busy. */
bool vs_neg_idle(struct vs_negotiators *p);
/* Hands fd to an idle negotiator (there must be one). */
void vs_neg_give(struct vs_negotiators *p, int fd, int pid);
/* None idle and a newcomer queued: drops the negotiator silent longest, if
 * one has been silent past its patience and no drop is under way. */
void vs_neg_evict(struct vs_negotiators *p);
/* Takes one ended negotiation: 1 with its fd, peer pid, result and export,
 * the negotiator idle again; 0 if none ended. */
int vs_neg_take(struct vs_negotiators *p, int *fd, int *pid, enum vs_hs_result *res,
                struct vs_export *exp);

/* Monotonic milliseconds. */
long long vs_now_ms(void);

#endif
