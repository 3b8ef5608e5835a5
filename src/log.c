/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A worker that hits an error must not wait for stderr (a pipe to the
 * journal can be full, the journal itself can be waiting for memory), so
 * messages go through this ring. 64 lines absorb a burst; beyond that we
 * count drops and report the count, which is better than stalling swap. */
#define RING 64
#define LINE 320

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char line[RING][LINE];
	unsigned head, tail;      /* head: next to write; tail: next to print */
	unsigned long dropped;
	bool running, stopping, verbose, journal;
	pthread_t thread;
} lg = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

void vs_log_init(bool verbose)
{
	lg.verbose = verbose;
	/* systemd sets JOURNAL_STREAM when stderr is the journal; then a
	 * "<N>" prefix carries the priority. */
	lg.journal = getenv("JOURNAL_STREAM") != NULL;
}

static void write_all(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void *logger(void *arg)
{
	(void)arg;
	char buf[LINE + 64];
	pthread_mutex_lock(&lg.mu);
	for (;;) {
		while (lg.tail == lg.head && lg.dropped == 0 && !lg.stopping)
			pthread_cond_wait(&lg.cv, &lg.mu);
		if (lg.tail == lg.head && lg.dropped == 0 && lg.stopping)
			break;
		size_t n = 0;
		if (lg.tail != lg.head) {
			n = strlen(lg.line[lg.tail % RING]);
			memcpy(buf, lg.line[lg.tail % RING], n);
			lg.tail++;
		} else {
			n = (size_t)snprintf(buf, sizeof buf,
			    "%svram-swapd: %lu log lines dropped (log ring full)\n",
			    lg.journal ? "<4>" : "", lg.dropped);
			lg.dropped = 0;
		}
		pthread_mutex_unlock(&lg.mu);
		write_all(buf, n);
		pthread_mutex_lock(&lg.mu);
	}
	pthread_mutex_unlock(&lg.mu);
	return NULL;
}

int vs_log_start(void)
{
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 128 << 10);
	int rc = pthread_create(&lg.thread, &a, logger, NULL);
	pthread_attr_destroy(&a);
	if (rc == 0)
		lg.running = true;
	return rc == 0 ? 0 : -1;
}

void vs_log_stop(void)
{
	if (!lg.running)
		return;
	pthread_mutex_lock(&lg.mu);
	lg.stopping = true;
	pthread_cond_signal(&lg.cv);
	pthread_mutex_unlock(&lg.mu);
	pthread_join(lg.thread, NULL);
	lg.running = false;
}

void vs_log(int prio, const char *fmt, ...)
{
	if (prio >= LOG_DEBUG && !lg.verbose)
		return;
	char line[LINE];
	int n = lg.journal ? snprintf(line, sizeof line, "<%d>", prio)
	                   : snprintf(line, sizeof line, "vram-swapd: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	line[len++] = '\n';
	line[len] = '\0';

	if (!lg.running) {
		write_all(line, len);
		return;
	}
	pthread_mutex_lock(&lg.mu);
	if (lg.head - lg.tail < RING) {
		memcpy(lg.line[lg.head % RING], line, len + 1);
		lg.head++;
	} else {
		lg.dropped++;
	}
	pthread_cond_signal(&lg.cv);
	pthread_mutex_unlock(&lg.mu);
}
