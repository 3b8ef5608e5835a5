/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pages that outlive the daemon. Everything a daemon needs to serve the
 * same pages again is a file descriptor: each chunk's memory (exported
 * VRAM, a memfd for the host backend), each chunk's page map (a
 * memfd) and the tier's record (a memfd: which chunks, their sizes, GPUs
 * and generations). A keeper holds them while no daemon runs: systemd's
 * file descriptor store, or vram-swap-holder where systemd is not used;
 * both are spoken to in sd_notify's protocol (FDSTORE=1, FDNAME=) and hand
 * the descriptors back to the next daemon in LISTEN_FDS/LISTEN_FDNAMES.
 *
 * Names: "tier", "chunk.N", "map.N". A chunk is in the record only while
 * its descriptors are with the keeper: sent before it is recorded, removed
 * after it is forgotten; a chunk's descriptors without a record were never
 * served (a crash in between) and are dropped at adoption. The record is
 * kept twice, the live copy named by an index flipped after the other was
 * written, so a crash while it changes leaves one whole copy.
 *
 * Adoption is all or nothing: a record that does not check out (another
 * format, a bad checksum, a chunk missing or of another size, a GPU that
 * is not there, another daemon alive and serving it) is refused with one
 * line naming why, and the daemon exits VS_EXIT_ADOPT without serving:
 * never zeros where pages were.
 */
#ifndef VS_HANDOVER_H
#define VS_HANDOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

struct vs_chunks;
struct vs_config;

/* The exit status of a daemon that could not adopt what it was handed. */
#define VS_EXIT_ADOPT 4
/* The exit status of a daemon that handed its pages to the next one
 * (`handover`): the keeper starts the installed binary again at once
 * (vram-swap-holder, under systemd too). */
#define VS_EXIT_HANDOVER 75

struct vs_handover {
	bool durable;          /* every GPU can share its memory, and a keeper listens */
	char why[192];         /* if not durable: why not, for status */
	int tier_fd;           /* the record's memfd, -1 if none */
	struct vs_ho_record *rec;
	unsigned adopted;      /* chunks served again at start */
	uint64_t id;           /* the tier's (the record's, once adopted) */
};

/* Reads what the keeper handed over (LISTEN_FDS) and says whether this
 * tier can outlive the process. Returns 0, or VS_EXIT_ADOPT (logged) when
 * descriptors were handed over that cannot be used. */
int vs_handover_open(struct vs_handover *ho, const struct vs_config *cfg,
                     struct vs_backend *const *gpus, unsigned ngpus);
/* Whether a record was handed over: then vs_handover_adopt() must serve
 * it, and no new tier may be made. */
bool vs_handover_pending(const struct vs_handover *ho);
/* Serves every chunk of the record handed over again: 0, or VS_EXIT_ADOPT
 * (logged, nothing served). */
int vs_handover_adopt(struct vs_handover *ho, struct vs_chunks *t);

/* The chunk table's hooks (its served and freeing, arg the handover):
 * idx now serves (its descriptors go to the keeper, then it is recorded),
 * idx is going (forgotten, then its descriptors leave the keeper). No-ops
 * when the tier is not durable. */
void vs_handover_keep(void *ho, struct vs_chunks *t, unsigned idx);
void vs_handover_drop(void *ho, unsigned idx);

/* Chunk idx is attached to the kernel as nbdN with conns connections (N
 * -1: no longer), for the next daemon to re-attach; the chunk table's
 * thread only. */
void vs_handover_set_device(struct vs_handover *ho, unsigned idx, int nbd, unsigned conns);
/* The device the record says chunk idx is attached as: false if none. */
bool vs_handover_device(const struct vs_handover *ho, unsigned idx, int *nbd, unsigned *conns);

/* A clean exit: nothing is left to serve, so the keeper lets go of it all. */
void vs_handover_release(struct vs_handover *ho);

#endif
