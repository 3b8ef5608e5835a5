/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunks.h"
#include "config.h"
#include "log.h"
#include "notify.h"

/* The record's layout; another format is another daemon's, refused. */
#define FORMAT 3
static const char MAGIC[8] = "VSWAPHO";

struct ho_chunk {
	uint32_t used;
	uint32_t gen;
	uint64_t size;
	uint32_t nbd;         /* the nbd device it was attached as, plus one; 0: none */
	uint32_t conns;       /* and its connections */
	char gpu_uuid[64];    /* "" for the host backend */
};

struct ho_table {
	uint64_t seq;
	struct ho_chunk c[VS_MAX_CHUNKS];
	uint64_t sum;         /* of everything above */
};

struct vs_ho_record {
	char magic[8];
	uint32_t format;
	uint32_t bytes;       /* sizeof this record */
	char backend[16];
	char export_name[64];
	char version[32];     /* of the daemon that last wrote it (for messages) */
	uint64_t id;          /* the tier's, random: part of each device's backend name */
	/* The daemon serving it: its pid and start time, so that a pid
	 * reused by another process is not taken for it. */
	_Atomic uint64_t owner;
	_Atomic uint32_t live;   /* which table is current */
	struct ho_table t[2];
};

/* ---- descriptors handed over ----------------------------------------- */

#define MAX_FDS (2 * VS_MAX_CHUNKS + 1)
static struct { int fd; char name[32]; } got[MAX_FDS];
static unsigned ngot;

/* LISTEN_FDS as sd_listen_fds_with_names() reads it: for this process
 * only, descriptors from 3 on, names in LISTEN_FDNAMES. */
static void read_listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end;
	if (!pid || !n || strtol(pid, &end, 10) != getpid() || *end)
		return;
	long k = strtol(n, &end, 10);
	if (*end || k <= 0)
		return;
	for (long i = 0; i < k; i++) {
		int fd = 3 + (int)i;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (ngot == MAX_FDS) {
			close(fd);   /* more than any tier has: nothing of ours */
			continue;
		}
		got[ngot].fd = fd;
		const char *colon = names ? strchr(names, ':') : NULL;
		size_t len = names ? (colon ? (size_t)(colon - names) : strlen(names)) : 0;
		snprintf(got[ngot].name, sizeof got[ngot].name, "%.*s", (int)len, names ? names : "");
		names = colon ? colon + 1 : NULL;
		ngot++;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* The descriptor handed over as name, taken (the caller closes it), or -1. */
static int take(const char *name)
{
	for (unsigned i = 0; i < ngot; i++)
		if (got[i].fd >= 0 && !strcmp(got[i].name, name)) {
			int fd = got[i].fd;
			got[i].fd = -1;
			return fd;
		}
	return -1;
}

/* FDPOLL=0: systemd would otherwise poll the descriptor and drop it on an
 * error or hang-up, which an NVIDIA device descriptor can report. */
static int keep_fd(const char *name, int fd)
{
	char msg[64];
	snprintf(msg, sizeof msg, "FDSTORE=1\nFDPOLL=0\nFDNAME=%s", name);
	return vs_notify_fd(msg, fd);
}

static void unkeep(const char *name)
{
	char msg[64];
	snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	vs_notify(msg);
}

/* ---- the record ------------------------------------------------------ */

static uint64_t checksum(const struct ho_table *t)
{
	const unsigned char *p = (const unsigned char *)t;
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
	for (size_t i = 0; i < offsetof(struct ho_table, sum); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* This process as an owner: pid and the low bits of its start time. */
static uint64_t owner_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* Field 22, counted after the command name's closing parenthesis. */
	char *p = strrchr(buf, ')');
	unsigned long long start = 0;
	for (int field = 2; p && *p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	return (uint64_t)(uint32_t)pid << 32 | (uint32_t)start;
}

static bool alive(uint64_t owner)
{
	return owner && owner_of((pid_t)(owner >> 32)) == owner;
}

static struct ho_table *live(struct vs_ho_record *r)
{
	return &r->t[atomic_load_explicit(&r->live, memory_order_acquire) & 1];
}

/* Writes the other table as the live one with chunk idx changed, then
 * makes it live: a crash at any point leaves one whole table. */
static void publish(struct vs_ho_record *r, unsigned idx, const struct ho_chunk *c)
{
	unsigned cur = atomic_load_explicit(&r->live, memory_order_acquire) & 1;
	struct ho_table *next = &r->t[!cur];
	*next = r->t[cur];
	next->seq++;
	next->c[idx] = *c;
	next->sum = checksum(next);
	atomic_store_explicit(&r->live, !cur, memory_order_release);
}

static struct vs_ho_record *map_record(int fd)
{
	void *p = mmap(NULL, sizeof(struct vs_ho_record), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int new_record(struct vs_handover *ho, const struct vs_config *cfg)
{
	int fd = memfd_create("vram-swap-tier", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, sizeof(struct vs_ho_record)) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) ||
	    !(ho->rec = map_record(fd))) {
		vs_log(LOG_ERR, "cannot make the tier's record: %m");
		if (fd >= 0)
			close(fd);
		return VS_EXIT_FAIL;
	}
	struct vs_ho_record *r = ho->rec;
	memcpy(r->magic, MAGIC, sizeof MAGIC);
	r->format = FORMAT;
	r->bytes = sizeof *r;
	snprintf(r->backend, sizeof r->backend, "%s", cfg->backend);
	snprintf(r->export_name, sizeof r->export_name, "%s", cfg->export_name);
	snprintf(r->version, sizeof r->version, "%s", VS_VERSION);
	r->id = ho->id;
	atomic_store(&r->owner, owner_of(getpid()));
	r->t[0].sum = checksum(&r->t[0]);
	ho->tier_fd = fd;
	if (keep_fd("tier", fd)) {
		/* Nothing is recorded then: chunks stay this process's alone. */
		munmap(ho->rec, sizeof *ho->rec);
		ho->rec = NULL;
		ho->durable = false;
		snprintf(ho->why, sizeof ho->why, "the keeper did not take the tier's record");
	}
	return 0;
}

/* ---- start-up -------------------------------------------------------- */

static const struct vs_config *config;
static struct vs_backend *const *gpu_list;
static unsigned gpu_count;

int vs_handover_open(struct vs_handover *ho, const struct vs_config *cfg,
                     struct vs_backend *const *gpus, unsigned ngpus)
{
	*ho = (struct vs_handover){ .tier_fd = -1 };
	if (getrandom(&ho->id, sizeof ho->id, 0) != sizeof ho->id)
		ho->id = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	config = cfg;
	gpu_list = gpus;
	gpu_count = ngpus;
	read_listen_fds();
	int tier = take("tier");
	if (tier >= 0) {
		ho->tier_fd = tier;
		ho->durable = true;
		return 0;
	}
	/* Chunks without a record were never served: let them go. */
	for (unsigned i = 0; i < ngot; i++)
		if (got[i].fd >= 0) {
			vs_log(LOG_WARNING, "dropping '%s', handed over without the tier's record",
			       got[i].name);
			unkeep(got[i].name);
			close(got[i].fd);
			got[i].fd = -1;
		}
	const char *store = getenv("FDSTORE");
	for (unsigned i = 0; i < ngpus && !*ho->why; i++)
		if (*gpus[i]->durable_why || !gpus[i]->ops->share)
			snprintf(ho->why, sizeof ho->why, "%s", *gpus[i]->durable_why
			         ? gpus[i]->durable_why : "the backend cannot share its memory");
	if (!*ho->why && (!store || atoi(store) < MAX_FDS || !getenv("NOTIFY_SOCKET")))
		snprintf(ho->why, sizeof ho->why, "nothing keeps the pages while no daemon runs "
		         "(no file descriptor store: FDSTORE=%s, at least %d needed, as "
		         "vram-swap-holder gives)", store ? store : "unset", MAX_FDS);
	ho->durable = !*ho->why;
	if (!ho->durable)
		return 0;
	return new_record(ho, cfg);
}

bool vs_handover_pending(const struct vs_handover *ho)
{
	return ho->tier_fd >= 0 && !ho->rec;
}

__attribute__((format(printf, 1, 2)))
static int refuse(const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	vs_log(LOG_ERR, "refusing to serve the pages handed over by the previous daemon: %s; "
	       "nothing is served, so that the kernel's waiting devices never read "
	       "zeros where pages were", why);
	return VS_EXIT_ADOPT;
}

/* The GPU (index) whose UUID is uuid, or gpu_count. */
static unsigned gpu_by_uuid(const char *uuid)
{
	for (unsigned i = 0; i < gpu_count; i++)
		if (!strcmp(gpu_list[i]->device_uuid, uuid))
			return i;
	return gpu_count;
}

static int check_record(struct vs_ho_record *r, const struct ho_table **out)
{
	if (memcmp(r->magic, MAGIC, sizeof MAGIC))
		return refuse("the record is not a vram-swap tier record");
	if (r->format != FORMAT || r->bytes != sizeof *r)
		return refuse("the record is of another format (left by vram-swapd %.32s, format "
		              "%u, this one reads %d); run that version, or swap off and start "
		              "anew", r->version, r->format, FORMAT);
	if (strncmp(r->backend, config->backend, sizeof r->backend))
		return refuse("the pages are in backend '%.16s', not '%s'", r->backend,
		              config->backend);
	if (strncmp(r->export_name, config->export_name, sizeof r->export_name))
		return refuse("the pages were exported as '%.64s', not '%s'", r->export_name,
		              config->export_name);
	const struct ho_table *t = live(r);
	if (t->sum != checksum(t))
		return refuse("the record's checksum is wrong (table %" PRIu64 ")", t->seq);
	uint64_t was = atomic_load(&r->owner);
	if (alive(was))
		return refuse("another vram-swapd (pid %u) is serving these pages",
		              (unsigned)(was >> 32));
	/* Two daemons handed the same record: the first to swap the owner wins. */
	if (!atomic_compare_exchange_strong(&r->owner, &was, owner_of(getpid())))
		return refuse("another vram-swapd (pid %u) took these pages first",
		              (unsigned)(atomic_load(&r->owner) >> 32));
	*out = t;
	return 0;
}

int vs_handover_adopt(struct vs_handover *ho, struct vs_chunks *tab)
{
	struct stat st;
	if (fstat(ho->tier_fd, &st) || (size_t)st.st_size != sizeof(struct vs_ho_record) ||
	    !(ho->rec = map_record(ho->tier_fd)))
		return refuse("the record is not of this format's size (%zu bytes)",
		              sizeof(struct vs_ho_record));
	const struct ho_table *t = NULL;
	int rc = check_record(ho->rec, &t);
	if (rc)
		return rc;
	struct {
		unsigned gpu;
		uintptr_t mem;
		int mfd, zfd;
	} a[VS_MAX_CHUNKS] = { 0 };
	unsigned n = 0;
	char name[32], why[192] = "";
	for (unsigned i = 0; i < VS_MAX_CHUNKS && !rc; i++) {
		const struct ho_chunk *c = &t->c[i];
		a[i].mfd = a[i].zfd = -1;
		if (!c->used)
			continue;
		snprintf(name, sizeof name, "chunk.%u", i);
		a[i].mfd = take(name);
		snprintf(name, sizeof name, "map.%u", i);
		a[i].zfd = take(name);
		a[i].gpu = gpu_by_uuid(c->gpu_uuid);
		if (a[i].mfd < 0 || a[i].zfd < 0)
			rc = refuse("chunk %u's memory or page map was not handed over", i);
		else if (a[i].gpu == gpu_count)
			rc = refuse("the GPU %.64s holding chunk %u is not among this daemon's",
			            *c->gpu_uuid ? c->gpu_uuid : "(host)", i);
		else if (gpu_list[a[i].gpu]->ops->adopt(gpu_list[a[i].gpu], a[i].mfd, c->size,
		                                        &a[i].mem, why, sizeof why)) {
			rc = refuse("chunk %u's memory cannot be used: %s", i, why);
		} else {
			n++;
		}
	}
	for (unsigned i = 0; i < VS_MAX_CHUNKS && !rc; i++) {
		const struct ho_chunk *c = &t->c[i];
		if (!c->used)
			continue;
		int e = vs_chunks_place(tab, i, a[i].gpu, a[i].mem, c->size, c->gen, a[i].zfd);
		if (e == EINVAL)
			rc = refuse("chunk %u's page map is not of its size, or was stored with other "
			            "VRAM_SWAP_COMPRESS or VRAM_SWAP_RATIO settings", i);
		else if (e)
			rc = refuse("chunk %u cannot be placed in the table", i);
		else
			a[i].mem = 0;   /* the table owns it now */
	}
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++) {
		if (rc && a[i].mem)
			gpu_list[a[i].gpu]->ops->release(gpu_list[a[i].gpu], a[i].mem, t->c[i].size);
		if (a[i].mfd >= 0)
			close(a[i].mfd);
		if (a[i].zfd >= 0)
			close(a[i].zfd);
	}
	if (rc)
		return rc;
	/* What the record does not name was never served: let it go. */
	for (unsigned i = 0; i < ngot; i++)
		if (got[i].fd >= 0) {
			vs_log(LOG_NOTICE, "dropping '%s': not in the tier's record", got[i].name);
			unkeep(got[i].name);
			close(got[i].fd);
			got[i].fd = -1;
		}
	snprintf(ho->rec->version, sizeof ho->rec->version, "%s", VS_VERSION);
	ho->id = ho->rec->id;
	ho->adopted = n;
	return 0;
}

/* ---- while serving --------------------------------------------------- */

void vs_handover_keep(void *arg, struct vs_chunks *t, unsigned idx)
{
	struct vs_handover *ho = arg;
	if (!ho->rec)
		return;
	const struct vs_chunk *c = &t->c[idx];
	struct vs_backend *be = t->gpus[c->gpu];
	char name[32];
	int fd = -1;
	if (be->ops->share(be, c->mem, &fd)) {
		vs_log(LOG_ERR, "chunk %u cannot be handed to the keeper: its pages die with "
		       "this process", idx);
		return;
	}
	snprintf(name, sizeof name, "chunk.%u", idx);
	int rc = keep_fd(name, fd);
	close(fd);
	snprintf(name, sizeof name, "map.%u", idx);
	if (!rc)
		rc = keep_fd(name, vs_store_fd(&c->st));
	if (rc) {
		/* Not recorded, so a next daemon lets go of what did arrive. */
		vs_log(LOG_ERR, "chunk %u could not be handed to the keeper (%s): its pages die "
		       "with this process", idx, strerror(rc));
		ho->durable = false;
		snprintf(ho->why, sizeof ho->why, "chunk %u could not be handed to the keeper "
		         "(%s)", idx, strerror(rc));
		return;
	}
	struct ho_chunk hc = { .used = 1, .gen = c->gen, .size = c->size };
	snprintf(hc.gpu_uuid, sizeof hc.gpu_uuid, "%s", be->device_uuid);
	publish(ho->rec, idx, &hc);
}

void vs_handover_set_device(struct vs_handover *ho, unsigned idx, int nbd, unsigned conns)
{
	if (!ho->rec || idx >= VS_MAX_CHUNKS)
		return;
	struct ho_chunk c = live(ho->rec)->c[idx];
	if (!c.used)
		return;
	c.nbd = nbd < 0 ? 0 : (uint32_t)nbd + 1;
	c.conns = nbd < 0 ? 0 : conns;
	publish(ho->rec, idx, &c);
}

bool vs_handover_device(const struct vs_handover *ho, unsigned idx, int *nbd, unsigned *conns)
{
	if (!ho->rec || idx >= VS_MAX_CHUNKS)
		return false;
	const struct ho_chunk *c = live(ho->rec)->c + idx;
	if (!c->used || !c->nbd)
		return false;
	*nbd = (int)c->nbd - 1;
	*conns = c->conns;
	return true;
}

void vs_handover_drop(void *arg, unsigned idx)
{
	struct vs_handover *ho = arg;
	if (!ho->rec)
		return;
	char name[32];
	struct ho_chunk none = { 0 };
	publish(ho->rec, idx, &none);
	snprintf(name, sizeof name, "chunk.%u", idx);
	unkeep(name);
	snprintf(name, sizeof name, "map.%u", idx);
	unkeep(name);
}

void vs_handover_release(struct vs_handover *ho)
{
	if (!ho->rec)
		return;
	const struct ho_table *t = live(ho->rec);
	for (unsigned i = 0; i < VS_MAX_CHUNKS; i++)
		if (t->c[i].used)
			vs_handover_drop(ho, i);
	unkeep("tier");
}
