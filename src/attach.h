/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's side of each chunk. The daemon attaches a chunk to an nbd
 * device itself: each connection is a socketpair whose one end it serves
 * (past the handshake: the export is known) and whose other end goes to
 * the kernel over netlink (nbd_netlink.h), under a backend name that is
 * that chunk's alone. When the tier outlives the daemon (handover.h), the
 * device is connected with a dead-connection timeout, so that swap I/O
 * waits for the next daemon instead of failing, and the record says which
 * device each chunk is; the next daemon, once it has adopted the chunks,
 * gives each such device new connections. The kernel's own state decides
 * whether a device is still the chunk's: its backend name.
 */
#ifndef VS_ATTACH_H
#define VS_ATTACH_H

#include <stddef.h>

#include "handover.h"
#include "server.h"

struct vs_attach {
	struct vs_server *srv;
	const struct vs_nbd_source *src;
	struct vs_handover *ho;
	unsigned wait_s;     /* VRAM_SWAP_RESTART_WAIT */
	unsigned nbd[VS_MAX_CHUNKS];   /* chunk -> the nbd device attached, plus one */
};

/* Attaches chunk idx as nbdN (N = nbd) with conns connections: 0, with
 * the device's number in *dev, or -1 with why[] saying what failed. Off
 * the I/O path (the control thread). */
int vs_attach_chunk(struct vs_attach *a, unsigned idx, int nbd, unsigned conns, int *dev,
                    char *why, size_t n);

/* The nbd device chunk idx is attached as, by the kernel's word (the
 * device's backend name is the chunk's): its number, or -1. */
int vs_attach_device(struct vs_attach *a, unsigned idx);

/* After adoption, before the control thread starts: gives every device
 * the record names, still the chunk's by its backend name, new
 * connections in place of the dead daemon's. Logs what it did. */
void vs_attach_resume(struct vs_attach *a);

#endif
