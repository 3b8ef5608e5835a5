/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vram-swapd: serves GPU memory as an NBD export for the kernel's swap.
 * Start-up order matters: harden the process, allocate everything, listen,
 * then say READY. After that nothing is allocated and the daemon does not
 * exit while a client is attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "chunks.h"
#include "codec.h"
#include "control.h"
#include "unixsock.h"
#include "gpus.h"
#include "handover.h"
#include "server.h"
#include "tier.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

/* The daemon sits in the kernel's writeback path: if it had to wait for
 * memory to write a page out, and memory needed that page written out, the
 * machine would hang. Each measure that cannot be applied is named once. */
#if defined(__SANITIZE_ADDRESS__)
#define VS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VS_ASAN 1
#endif
#endif

/* Appends ", what (why)" to the list of measures not applied. */
static void lacking(char *buf, size_t size, const char *what, const char *why)
{
	size_t n = strlen(buf);
	snprintf(buf + n, size - n, "%s%s (%s)", n ? ", " : "", what, why);
}

static void harden(void)
{
	char missing[512] = "";
#ifdef VS_ASAN
	/* The sanitizer's shadow memory is terabytes of reserved space. */
	lacking(missing, sizeof missing, "mlockall", "AddressSanitizer build");
#else
	struct rlimit rl;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    geteuid() != 0) {
		/* MCL_FUTURE under a finite limit makes later allocations
		 * fail at random; better not to lock at all. */
		char why[96];
		snprintf(why, sizeof why, "memlock limit %llu KiB; needs root or "
		         "LimitMEMLOCK=infinity", (unsigned long long)rl.rlim_cur / 1024);
		lacking(missing, sizeof missing, "mlockall", why);
	} else if (mlockall(MCL_CURRENT | MCL_FUTURE)) {
		lacking(missing, sizeof missing, "mlockall", strerror(errno));
	}
#endif
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0))
		lacking(missing, sizeof missing, "PR_SET_IO_FLUSHER", strerror(errno));
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "-1000", 5) != 5)
		lacking(missing, sizeof missing, "oom_score_adj -1000", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (*missing)
		vs_log(LOG_WARNING, "running without %s: fine for tests, but swap through "
		       "this daemon could deadlock or lose pages under memory pressure; "
		       "run it as root through vram-swap.service", missing);
}

struct daemon {
	struct vs_config cfg;
	struct vs_config gcfg[VS_MAX_GPUS];   /* cfg with one GPU each */
	struct vs_backend gpu[VS_MAX_GPUS];
	struct vs_backend *gp[VS_MAX_GPUS];
	unsigned ngpus;
	struct vs_chunks tab;
	struct vs_handover ho;
	struct vs_control ctl;
	struct vs_nbd_source src;
	struct vs_server srv;
	struct vs_attach att;
	const char *state;
	time_t started;
};

static void write_status(struct daemon *d)
{
	static char buf[16384];
	static char tmp[4200];
	static struct vs_chunk_info ci[VS_MAX_CHUNKS];
	uint64_t c[VS_COUNTERS], size = 0, used = 0, stored = 0, same = 0, compr = 0, exported = 0;
	vs_server_counters(&d->srv, c);
	unsigned clients = atomic_load(&d->srv.clients);
	unsigned nc = vs_chunks_list(&d->tab, ci);
	for (unsigned i = 0; i < nc; i++) {
		size += ci[i].size;
		used += ci[i].used;
		stored += ci[i].stored;
		same += ci[i].same;
		compr += ci[i].compr;
		exported += ci[i].exported;
	}
	const struct vs_backend *g0 = d->gp[0];
	size_t n = (size_t)snprintf(buf, sizeof buf,
		"version=%s\npid=%d\nstate=%s\nbackend=%s\ndevice=%s\nuuid=%s\nbus_id=%s\n"
		"export=%s\nsocket=%s\nsize_bytes=%" PRIu64 "\nused_bytes=%" PRIu64 "\n"
		"stored_pages=%" PRIu64 "\nsame_pages=%" PRIu64 "\ncompr_bytes=%" PRIu64
		"\nexport_bytes=%" PRIu64 "\ncompress=%s\nclients=%u\nreads=%" PRIu64
		"\nwrites=%" PRIu64 "\ntrims=%" PRIu64 "\n"
		"zeroes=%" PRIu64 "\nflushes=%" PRIu64 "\nread_bytes=%" PRIu64 "\n"
		"write_bytes=%" PRIu64 "\nio_errors=%" PRIu64 "\nproto_errors=%" PRIu64 "\n"
		"full_writes=%" PRIu64 "\n"
		"uptime_s=%lld\ncrash_safe=%s\ncrash_safe_why=%s\n",
		VS_VERSION, (int)getpid(), d->state, g0->ops->name, g0->device_name,
		g0->device_uuid, g0->device_bus_id, d->cfg.export_name, d->cfg.socket_path,
		size, used, stored, same, compr, exported, d->cfg.compress, clients, c[0], c[1],
		c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], (long long)(time(NULL) - d->started),
		d->ho.durable ? "yes" : "no", d->ho.why);
	/* The chunks and GPUs: one line each, values in a fixed order so the
	 * scripts read them with `read`. */
	pthread_mutex_lock(&d->ctl.mu);
	const struct vs_policy *p = &d->ctl.pol;
	n += (size_t)snprintf(buf + n, sizeof buf - n,
		"chunk_bytes=%" PRIu64 "\nchunks=%u\ntarget_chunks=%u\ncap_bytes=%" PRIu64
		"\nauto=%s\ngpus=%u\n", p->chunk, nc, vs_policy_total(p), p->cap,
		p->automatic ? "on" : "off", d->ngpus);
	for (unsigned i = 0; i < d->ngpus && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n,
			"gpu.%u=%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %u %s\n", i,
			p->g[i].free, p->g[i].total, p->g[i].ours, p->g[i].reserve,
			p->g[i].chunks, p->g[i].target, d->gp[i]->device_name);
	pthread_mutex_unlock(&d->ctl.mu);
	for (unsigned i = 0; i < nc && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n,
			"chunk.%u=%u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %" PRIu64
			" %" PRIu64 " %s.%u\n", ci[i].idx, ci[i].gpu, ci[i].size, ci[i].used,
			ci[i].stored, ci[i].same, ci[i].clients, ci[i].compr, ci[i].exported,
			d->cfg.export_name, ci[i].idx);
	if (n >= sizeof buf)
		n = sizeof buf - 1;

	static char last[96];
	char note[96];
	snprintf(note, sizeof note, "STATUS=%s: %" PRIu64 " MiB in %u chunk(s), %u client(s)",
	         d->state, size >> 20, nc, clients);
	if (strcmp(note, last)) {
		vs_notify(note);
		memcpy(last, note, sizeof last);
	}

	if (!*d->cfg.status_file)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", d->cfg.status_file);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, n) != (ssize_t)n || close(fd) ||
	    rename(tmp, d->cfg.status_file)) {
		static int warned;
		if (!warned++)
			vs_log(LOG_WARNING, "cannot write status file %s: %m", d->cfg.status_file);
	}
}

static void cleanup(struct daemon *d)
{
	if (d->srv.listen_fd >= 0)
		unlink(d->cfg.socket_path);
	char path[128];
	if (d->ctl.listen_fd >= 0 && vs_ctl_path(d->cfg.socket_path, path, sizeof path) == 0)
		unlink(path);
	if (*d->cfg.status_file)
		unlink(d->cfg.status_file);
}

/* Exits leaving every page, page map and the record with the keeper, as
 * a crash would, but at a moment of the daemon's choosing: nothing is
 * freed, so nothing a client was told is lost. Requests the kernel sent
 * and got no answer to are sent again to the next daemon. */
static _Noreturn void hand_over(struct daemon *d)
{
	vs_log(LOG_NOTICE, "handing over: exiting with %u client(s) attached; the next "
	       "daemon serves the same pages", atomic_load(&d->srv.clients));
	vs_notify("STOPPING=1");
	vs_log_stop();
	_exit(VS_EXIT_HANDOVER);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	bool done;
	int rc = vs_config_load(&d.cfg, argc, argv, &done);
	if (done)
		return rc;
	if (d.cfg.ctl)
		return vs_ctl_client(&d.cfg);
	vs_log_init(d.cfg.verbose);
	d.srv.listen_fd = -1;
	d.ctl.listen_fd = -1;
	d.state = "starting";
	d.started = time(NULL);

	/* Blocked before any thread exists, so only signalfd sees them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	vs_log(LOG_INFO, "vram-swapd %s starting (backend %s)", VS_VERSION, d.cfg.backend);
	harden();
	{
		char why[256];
		if (vs_codec_load(vs_store_shape_of(&d.cfg).alg, why, sizeof why)) {
			vs_log(LOG_ERR, "%s", why);
			return VS_EXIT_FAIL;
		}
	}

	rc = vs_gpus_open(d.gpu, d.gcfg, &d.ngpus, &d.cfg);
	if (rc)
		return rc;
	for (unsigned i = 0; i < d.ngpus; i++)
		d.gp[i] = &d.gpu[i];
	rc = vs_handover_open(&d.ho, &d.cfg, d.gp, d.ngpus);
	if (rc) {
		vs_gpus_close(d.gpu, d.ngpus);
		return rc;
	}
	vs_chunks_init(&d.tab);
	d.tab.ngpus = d.ngpus;
	d.tab.shape = vs_store_shape_of(&d.cfg);
	d.tab.served = vs_handover_keep;
	d.tab.freeing = vs_handover_drop;
	d.tab.hook_arg = &d.ho;
	memcpy(d.tab.gpus, d.gp, sizeof d.gp);
	d.ctl.cfg = &d.cfg;
	d.ctl.tab = &d.tab;
	pthread_mutex_init(&d.ctl.mu, NULL);
	rc = vs_tier_size(&d.tab, &d.ctl, &d.cfg);
	/* Pages handed over are served again as they are; a new tier only
	 * where none was. */
	bool fresh = !vs_handover_pending(&d.ho);
	if (!rc && !fresh)
		rc = vs_handover_adopt(&d.ho, &d.tab);
	else if (!rc)
		rc = vs_tier_fill(&d.tab, &d.ctl, &d.cfg);
	if (rc) {
		/* A new tier that never served leaves the keeper nothing to keep
		 * (adopted pages refused stay with it for the right daemon). */
		if (fresh)
			vs_handover_release(&d.ho);
		vs_gpus_close(d.gpu, d.ngpus);
		return rc;
	}
	d.src = (struct vs_nbd_source){ &d.tab, d.cfg.export_name };
	d.att = (struct vs_attach){ .srv = &d.srv, .src = &d.src, .ho = &d.ho,
	                           .wait_s = d.cfg.restart_wait };
	d.ctl.attach = &d.att;
	d.ctl.wake_fd = -1;
	bool up = !vs_server_start(&d.srv, d.gp, d.ngpus, &d.src, d.cfg.max_clients) &&
	          !vs_server_listen(&d.srv, d.cfg.socket_path);
	/* The kernel's devices wait for the adopted chunks: give them new
	 * connections first, before anything else is let in. */
	if (up && d.ho.adopted)
		vs_attach_resume(&d.att);
	d.ctl.wake_fd = d.srv.wake_fd;
	if (!up || vs_control_start(&d.ctl, d.cfg.socket_path)) {
		vs_control_stop(&d.ctl);
		cleanup(&d);
		/* Pages handed over stay with the keeper for the next try. */
		if (d.ho.adopted)
			d.tab.freeing = NULL;
		vs_chunks_free_all(&d.tab);
		if (fresh)
			vs_handover_release(&d.ho);
		vs_gpus_close(d.gpu, d.ngpus);
		return VS_EXIT_FAIL;
	}
	if (sfd < 0 || vs_log_start()) {
		vs_log(LOG_ERR, "cannot set up signal handling or logging: %m");
		cleanup(&d);
		return VS_EXIT_FAIL;
	}
	d.state = "serving";
	write_status(&d);
	vs_notify("READY=1");
	{
		unsigned n;
		uint64_t total = vs_chunks_held(&d.tab, &n);
		char how[64] = "";
		if (d.tab.shape.alg)
			snprintf(how, sizeof how, ", offered as %" PRIu64 " MiB compressed with %s",
			         (total >> 20) * d.tab.shape.ratio, d.cfg.compress);
		vs_log(LOG_NOTICE, "serving %" PRIu64 " MiB of %s in %u chunk(s)%s (exports "
		       "'%s.0'...) on %s%s", total >> 20, d.gp[0]->device_name, n, how,
		       d.cfg.export_name, d.cfg.socket_path,
		       d.ho.adopted ? ": the pages an earlier daemon left, handed over" : "");
		if (!d.ho.durable)
			vs_log(LOG_NOTICE, "not crash-safe: %s", d.ho.why);
	}

	bool draining = false;
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = d.srv.wake_fd, .events = POLLIN },
			{ .fd = d.srv.listen_fd, .events = POLLIN },
		};
		int ms = 1000;
		bool listening = !draining && vs_server_can_accept(&d.srv, &ms);
		int np = poll(p, listening ? 3 : 2, ms);
		if (np < 0 && errno != EINTR) {
			vs_log(LOG_ERR, "poll: %m");
			continue;   /* never exit while pages may be held */
		}
		if (p[1].revents & POLLIN) {
			uint64_t v;   /* only a wake-up: the count is not needed */
			if (read(d.srv.wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
				vs_log(LOG_WARNING, "reading the wake-up event: %m");
		}
		if (atomic_load(&d.ctl.handover))
			hand_over(&d);
		vs_server_reap(&d.srv);
		if (listening && (p[2].revents & POLLIN))
			vs_server_accept(&d.srv);
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGHUP) {
				unsigned n = atomic_load(&d.srv.clients);
				if (!draining && n) {
					draining = true;
					atomic_store(&d.ctl.draining, true);
					close(d.srv.listen_fd);
					unlink(d.cfg.socket_path);
					d.srv.listen_fd = -1;
					d.state = "draining";
					vs_notify("STOPPING=1");
				}
				if (n)
					vs_log(LOG_NOTICE, "%s: draining, %u client(s) attached; "
					       "serving until they disconnect, since exiting would lose "
					       "the pages they hold (detach with vram-swap-teardown; "
					       "SIGKILL forces an exit and loses them)",
					       strsignal((int)si.ssi_signo), n);
				else
					break;
			}
		}
		if (draining && atomic_load(&d.srv.clients) == 0)
			break;
		write_status(&d);
	}
	vs_log(LOG_NOTICE, "no client attached: exiting");
	vs_notify("STOPPING=1");
	vs_control_stop(&d.ctl);
	cleanup(&d);
	vs_chunks_free_all(&d.tab);
	vs_handover_release(&d.ho);
	vs_gpus_close(d.gpu, d.ngpus);
	vs_log_stop();
	return VS_EXIT_OK;
}
