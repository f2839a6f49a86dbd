/*
 * The client's TCP connect to its server across every address the server's name resolved
 * to (RFC 8305 "Happy Eyeballs v2" in spirit, the ideas of the server's own race in
 * terminator/vpn/vflow.c): the addresses in dial_order's order (core/dial.c: the families
 * alternate), one attempt at once, the next CLIENT_RACE_DELAY_MS later if none answered
 * yet or at once when one fails, at most CLIENT_RACE_MAX in flight, all within
 * CLIENT_CONNECT_MS. The first TCP connection wins and is handed to the session (which
 * then runs TLS on it); the others are closed. So a name whose first address is down, or
 * an IPv6 address on a network without IPv6, still connects.
 *
 * Every failed attempt is logged at info with its address and error; when none connects,
 * the owner gets one message that lists each address and what happened to it. The race
 * never calls its owner from inside crace_new (its first step runs from the loop), and it
 * frees itself before it calls the owner, which must forget its pointer then. It never
 * blocks, and it never resolves: the session does that with evdns.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "core/clock.h"
#include "core/confval.h"
#include "core/deadline.h"
#include "core/dial.h"
#include "core/log.h"

#define CRACE_WHY_MAX 1024 /* the failure message (CLIENT_ADDRS_MAX entries fit) */

/* One connect in flight, in a slot that never moves (libevent keeps the event's address). */
struct crace_try {
	int          fd;   /* -1: a free slot */
	unsigned     addr; /* its index in addrs */
	struct event ev;   /* writability: the connect ended one way or the other */
};

struct crace {
	struct event_base      *base;
	void                  (*done)(void *arg, int fd, const char *why);
	void                   *arg;
	struct sockaddr_storage addrs[CLIENT_ADDRS_MAX];
	unsigned                naddrs, next_addr, skipped;
	struct crace_try        tries[CLIENT_RACE_MAX];
	unsigned                ntries;
	struct event           *timer;   /* the next attempt, the deadline; also the first step */
	uint64_t                next_at, deadline;
	char                    label[CLIENT_HOST_MAX + 9];
	char                    why[CRACE_WHY_MAX]; /* "ADDR (error), ..." so far */
	size_t                  why_len;
};

static void crace_step(struct crace *r);

/* The socket length of an address of a's family. */
static socklen_t
crace_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* "IP:PORT" or "[IPv6]:PORT" of address i. */
static void
crace_name(const struct crace *r, unsigned i, char *buf, size_t cap)
{
	struct conf_addr a = { .ss = r->addrs[i], .len = crace_len(&r->addrs[i]) };
	confval_addr_format(&a, buf, cap);
}

/* Appends one "ADDR (what)" entry to the failure message; a full message keeps its head. */
static void
crace_note(struct crace *r, unsigned i, const char *what)
{
	char name[64];
	crace_name(r, i, name, sizeof name);
	if (r->why_len >= sizeof r->why - 1)
		return;
	int n = snprintf(r->why + r->why_len, sizeof r->why - r->why_len, "%s%s (%s)",
	    r->why_len > 0 ? ", " : "", name, what);
	if (n > 0)
		r->why_len += (size_t)n;
	if (r->why_len > sizeof r->why - 1)
		r->why_len = sizeof r->why - 1;
}

/* Closes the attempt in slot i (its fd already taken when -1). */
static void
crace_drop(struct crace *r, unsigned i)
{
	if (r->tries[i].fd == -1)
		return;
	event_del(&r->tries[i].ev);
	close(r->tries[i].fd);
	r->tries[i].fd = -1;
	r->ntries--;
}

/* Abandons a race still running: every attempt closed, done not called. */
void
crace_free(struct crace *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < CLIENT_RACE_MAX; i++)
		crace_drop(r, i);
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

/* Ends the race: slot win connected (its fd goes to the owner), or none did (win < 0).
 * Frees the race, then calls the owner: nothing may touch r after this. */
static void
crace_end(struct crace *r, int win)
{
	char why[CRACE_WHY_MAX + 256];
	int fd = -1;
	void (*done)(void *arg, int fd, const char *why) = r->done;
	void *arg = r->arg;

	why[0] = '\0';
	if (win >= 0) {
		char name[64];
		crace_name(r, r->tries[win].addr, name, sizeof name);
		fd = r->tries[win].fd;
		event_del(&r->tries[win].ev);
		r->tries[win].fd = -1;
		r->ntries--;
		log_info("client: connected to %s (address %u of %u for %s)", name,
		    r->tries[win].addr + 1, r->naddrs, r->label);
	} else {
		int n = snprintf(why, sizeof why, "no address of %s connected: %s", r->label,
		    r->why_len > 0 ? r->why : "none tried");
		unsigned left = r->naddrs - r->next_addr;
		if (n > 0 && (size_t)n < sizeof why && left > 0)
			n += snprintf(why + n, sizeof why - (size_t)n, "; %u not tried in %u ms", left,
			    (unsigned)CLIENT_CONNECT_MS);
		if (n > 0 && (size_t)n < sizeof why && r->skipped > 0)
			snprintf(why + n, sizeof why - (size_t)n, "; %u more resolved, not tried "
			    "(at most %u)", r->skipped, (unsigned)CLIENT_ADDRS_MAX);
	}
	for (unsigned i = 0; i < CLIENT_RACE_MAX; i++) {
		if (r->tries[i].fd != -1) {
			char name[64];
			crace_name(r, r->tries[i].addr, name, sizeof name);
			log_debug("client: closed the slower connect to %s", name);
		}
	}
	crace_free(r); /* closes the losers */
	done(arg, fd, why);
}

/* Writability of an attempt: connected, failed, or (spuriously) still going. */
static void
crace_try_cb(evutil_socket_t fd, short what, void *arg)
{
	struct crace *r = arg;
	unsigned i = 0;
	char name[64];
	(void)what;

	while (i < CLIENT_RACE_MAX && r->tries[i].fd != fd)
		i++;
	if (i == CLIENT_RACE_MAX)
		return; /* cannot happen: a slot's event is deleted with its fd */
	int e = dial_result(fd);
	if (e == 0) {
		crace_end(r, (int)i);
		return;
	}
	if (e == EINPROGRESS || e == EALREADY || e == EINTR) {
		event_add(&r->tries[i].ev, NULL);
		return;
	}
	crace_name(r, r->tries[i].addr, name, sizeof name);
	log_info("client: connect to %s failed: %s", name, strerror(e));
	crace_note(r, r->tries[i].addr, strerror(e));
	crace_drop(r, i);
	r->next_at = clock_mono_ms(); /* a failure starts the next attempt at once */
	crace_step(r);
}

/* The timer: the first step, the next attempt's time, or the deadline. */
static void
crace_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	crace_step(arg);
}

/* Starts a connect on the next address; false when none is left to start. An address
 * that fails at once is noted and the next one is tried at once (RFC 8305 §5). */
static bool
crace_try_next(struct crace *r, uint64_t now)
{
	while (r->next_addr < r->naddrs) {
		unsigned a = r->next_addr++;
		char name[64];
		int fd;
		crace_name(r, a, name, sizeof name);
		if (dial_start((struct sockaddr *)&r->addrs[a], crace_len(&r->addrs[a]), &fd) !=
		    DIAL_PENDING) {
			int e = errno;
			log_info("client: connect to %s failed: %s", name, strerror(e));
			crace_note(r, a, strerror(e));
			continue;
		}
		unsigned i = 0;
		while (r->tries[i].fd != -1)
			i++; /* a free slot exists: ntries < CLIENT_RACE_MAX */
		r->tries[i].fd = fd;
		r->tries[i].addr = a;
		event_assign(&r->tries[i].ev, r->base, fd, EV_WRITE, crace_try_cb, r);
		event_add(&r->tries[i].ev, NULL);
		r->ntries++;
		r->next_at = now + CLIENT_RACE_DELAY_MS;
		log_debug("client: connecting to %s (address %u of %u for %s)", name, a + 1,
		    r->naddrs, r->label);
		return true;
	}
	return false;
}

/* Runs the race: the deadline, the next attempts, the end when nothing is left, the timer. */
static void
crace_step(struct crace *r)
{
	uint64_t now = clock_mono_ms();

	if (now >= r->deadline) {
		char what[64];
		snprintf(what, sizeof what, "no answer in %u ms", (unsigned)CLIENT_CONNECT_MS);
		for (unsigned i = 0; i < CLIENT_RACE_MAX; i++) {
			if (r->tries[i].fd != -1) {
				char name[64];
				crace_name(r, r->tries[i].addr, name, sizeof name);
				log_info("client: connect to %s: %s", name, what);
				crace_note(r, r->tries[i].addr, what);
				crace_drop(r, i);
			}
		}
		crace_end(r, -1);
		return;
	}
	while (r->ntries < CLIENT_RACE_MAX && (r->ntries == 0 || now >= r->next_at) &&
	    crace_try_next(r, now))
		;
	if (r->ntries == 0) {
		crace_end(r, -1); /* every address failed at once or already */
		return;
	}
	uint64_t at = r->deadline;
	if (r->next_addr < r->naddrs && r->ntries < CLIENT_RACE_MAX && r->next_at < at)
		at = r->next_at;
	deadline_add(r->timer, at > now ? at - now : 0);
}

/* Starts a race over n addresses (see client.h). */
struct crace *
crace_new(struct event_base *base, const char *label, const struct sockaddr_storage *addrs,
    unsigned n, unsigned skipped, void (*done)(void *arg, int fd, const char *why), void *arg)
{
	struct crace *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	for (unsigned i = 0; i < CLIENT_RACE_MAX; i++)
		r->tries[i].fd = -1;
	r->timer = evtimer_new(base, crace_timer_cb, r);
	if (r->timer == NULL) {
		free(r);
		return NULL;
	}
	r->base = base;
	r->done = done;
	r->arg = arg;
	if (n > CLIENT_ADDRS_MAX) {
		skipped += n - CLIENT_ADDRS_MAX;
		n = CLIENT_ADDRS_MAX;
	}
	memcpy(r->addrs, addrs, n * sizeof *addrs);
	r->naddrs = n;
	r->skipped = skipped;
	dial_order(r->addrs, n);
	snprintf(r->label, sizeof r->label, "%s", label);
	r->deadline = clock_mono_ms() + CLIENT_CONNECT_MS;
	deadline_add(r->timer, 0); /* the first step runs from the loop, never inside here */
	return r;
}
