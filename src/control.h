/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket and the thread behind it. The socket sits next to
 * the export socket (".sock" becomes ".ctl") under the same rules: mode
 * 0600 in a root-only directory, root or the daemon's uid only. One line
 * in, a few lines out, the last "ok" or "error: why":
 *
 *   chunks            chunk IDX gpu G size BYTES used BYTES stored N same N
 *                         clients N device nbdN|- name NAME
 *   gpus              gpu G free BYTES total BYTES ours BYTES reserve BYTES
 *                         chunks N target N name "..."
 *   target            target GEN cap BYTES chunk BYTES total N, then per GPU
 *                         gpu G chunks N target N
 *   wait GEN          as target, once the target generation differs from GEN
 *   add [GPU]         allocates one chunk: chunk IDX gpu G size BYTES name NAME;
 *                     refused past the cap and while the daemon drains
 *   free IDX          frees a chunk; refused while a client is attached
 *   attach IDX N C    attaches chunk IDX to the kernel as /dev/nbdN with C
 *                     connections (attach.h): device nbdN
 *   cap SIZE|N%|max   the most the tier may hold (resize, yield); N% is of
 *                     the VRAM others do not use
 *   handover          the daemon exits, leaving every page to the keeper for
 *                     the next daemon (an in-place restart or upgrade);
 *                     refused where the pages cannot outlive it
 *
 * A number (IDX, GPU, GEN) is decimal digits only, without leading zeros;
 * anything else is refused, quoted. One thread serves every connection
 * from poll(), each with its own buffers and deadline (VS_CTL_IO_S to send
 * its line, and again to take its answer), so no client waits on another;
 * at most VS_CTL_CONNS at once, VS_CTL_WAITERS of them waiting.
 *
 * The same thread samples every GPU once a second and steps the policy:
 * allocation and freeing, and that sampling, never run on an I/O worker.
 */
#ifndef VS_CONTROL_H
#define VS_CONTROL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attach.h"
#include "chunks.h"
#include "config.h"
#include "policy.h"

#define VS_CTL_WAITERS 16
#define VS_CTL_CONNS 32
#define VS_CTL_LINE 256
#define VS_CTL_IO_S 2

enum vs_ctl_state { VS_CTL_FREE, VS_CTL_READ, VS_CTL_WAIT, VS_CTL_WRITE };

struct vs_ctl_reply {
	char buf[16384];
	size_t n, sent;
};

/* One control connection. */
struct vs_ctl_conn {
	int fd;
	unsigned state;           /* enum vs_ctl_state */
	double deadline;          /* READ and WRITE */
	uint64_t gen;             /* WAIT: the generation it has seen */
	size_t in_n;
	char in[VS_CTL_LINE];
	struct vs_ctl_reply out;
};

struct vs_control {
	int listen_fd;
	const struct vs_config *cfg;
	struct vs_chunks *tab;
	struct vs_attach *attach;
	uint64_t chunk;           /* bytes per new chunk */
	pthread_mutex_t mu;       /* guards pol and gen */
	struct vs_policy pol;
	uint64_t gen;             /* bumped when a target changes */
	uint64_t max_cap;         /* VRAM_SWAP_SIZE, resolved at start */
	struct vs_ctl_conn conn[VS_CTL_CONNS];
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic bool draining;    /* set by the main thread: no more chunks */
	_Atomic bool handover;    /* set here: the main thread exits, freeing nothing */
	int wake_fd;              /* the main thread's eventfd */
};

/* Samples every GPU and steps the policy (the control thread does this
 * every second; start-up once, before the first chunks). */
void vs_control_sample(struct vs_control *c, double now);
/* Listens and starts the thread. */
int vs_control_start(struct vs_control *c, const char *sock_path);
/* Ends the thread (within a second) and closes its sockets: before the
 * chunks and GPUs go at exit. */
void vs_control_stop(struct vs_control *c);

/* `vram-swapd --ctl COMMAND`: sends it, prints the answer. Exit status 0
 * ok, 1 refused (the reason on stderr), 2 a command that cannot be sent,
 * 3 no daemon answers (none listening, or it hung up without an answer). */
int vs_ctl_client(const struct vs_config *cfg);

/* Monotonic seconds. */
double vs_now(void);

#endif
