/*
 * A worker on the calling thread (see solo.h): the same set-up as main_serve, minus what
 * needs a process (threads, signals, privileges, admin, health checks).
 */
#include "router/solo.h"

#include <event2/event.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/stats.h"
#include "router/conn.h"
#include "router/gen.h"
#include "router/ipcap.h"
#include "terminator/terminator.h"

/* The process entry the worker counts into. */
static struct stats_entry *solo_pstats;

int
solo_init_process(char *err, size_t cap)
{
	if (sodium_init() == -1) {
		snprintf(err, cap, "libsodium failed to initialise");
		return -1;
	}
	if (term_init_process(err, cap) == -1)
		return -1;
	if (stats_init(1) == -1) {
		snprintf(err, cap, "the metrics registry is already set up");
		return -1;
	}
	solo_pstats = stats_entry(STATS_PROCESS, "");
	ipcap_init();
	conn_init_process();
	return 0;
}

int
solo_start(struct solo *s, const char *yaml, size_t len, char *err, size_t cap)
{
	struct conf_error cerr;
	memset(s, 0, sizeof *s);
	struct conf *c = conf_load_mem("solo.yaml", (const uint8_t *)yaml, len, 0, &cerr);
	if (c == NULL) {
		snprintf(err, cap, "%s", cerr.msg);
		return -1;
	}
	s->gen = gen_build(c, NULL, 1, 1, err, cap); /* takes c, even on failure */
	if (s->gen == NULL)
		return -1;
	if (worker_init(&s->w, 0, s->gen, solo_pstats) == -1) {
		snprintf(err, cap, "cannot create the worker's event loop");
		gen_unref(s->gen);
		s->gen = NULL;
		return -1;
	}
	return 0;
}

bool
solo_accept(struct solo *s, const char *listener, int fd, const struct sockaddr_storage *peer)
{
	struct gen *g = s->w.gen;
	int fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		close(fd);
		return false;
	}
	for (size_t i = 0; i < g->nlisteners; i++)
		if (strcmp(g->listeners[i].conf->name, listener) == 0)
			return worker_adopt(&s->w, &g->listeners[i], fd, peer);
	close(fd);
	return false;
}

void
solo_run(struct solo *s, bool block)
{
	event_base_loop(s->w.base, block ? EVLOOP_ONCE : EVLOOP_NONBLOCK);
}

void
solo_stop(struct solo *s)
{
	if (s->gen == NULL)
		return;
	worker_fini(&s->w);
	gen_unref(s->gen);
	s->gen = NULL;
}
