/*
 * One outbound flow (see vflow.h). The egress policy is applied to every address right
 * before it is connected, so a name that resolves to a denied address is refused exactly
 * like the literal would be, and a denied address is never connected; a flow whose every
 * address was denied ends DENIED, one that found no usable address FAILED.
 *
 * The race (RFC 8305 in spirit). The addresses are ordered with the families alternating
 * (dial_order, core/dial.c, which switchyard-client's race to its server uses too);
 * an attempt starts on the first, the next one VFLOW_RACE_DELAY_MS later if none answered
 * yet or at once when one fails, at most VFLOW_RACE_MAX in flight; the first to connect is
 * the flow and the others are closed. The whole race has VFLOW_CONNECT_MS (the reference
 * connects all addresses in parallel, 5 s each). The race's state (addresses, attempts and
 * a timer for the next attempt and the deadline) is allocated only while the flow resolves
 * or connects: an open flow holds none of it. The timer only kicks the owner, like every
 * other event of the flow: the owner's driver calls vflow_poll, which does the work.
 *
 * The resolver's callback may run inside evdns_getaddrinfo (hosts file, cache), so
 * vflow_start never touches f after the call. A cancelled lookup's callback still runs,
 * later (libevent 2.1 defers it), when the flow may be freed: so the callback's argument is
 * a small ticket that outlives the flow; closing the flow detaches it, and the callback
 * frees it.
 */
#include "terminator/vpn/vflow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/deadline.h"
#include "core/dial.h"
#include "core/egress.h"
#include "terminator/vpn/vdns.h"

/* One connect in flight. */
struct vflow_try {
	int          fd;
	struct event wev;       /* writability: the connect ended one way or the other */
};

/* The resolve and connect phase of a flow. */
struct vflow_race {
	struct event            timer;   /* kicks the owner at next_at or the deadline */
	struct sockaddr_storage addrs[VFLOW_ADDRS_MAX];
	unsigned                naddrs, next_addr, denied;
	struct vflow_try        tries[VFLOW_RACE_MAX];
	unsigned                ntries;
	uint64_t                next_at; /* when the next attempt may start */
};

/* Monotonic milliseconds. */
uint64_t
vflow_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Readiness of a target socket or the race's timer: the owner's driver does the work. */
static void
vflow_io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vflow *f = arg;
	f->kick(f->arg);
}

/* Prepares a flow (see vflow.h). */
void
vflow_init(struct vflow *f, struct event_base *base, const struct conf_vpn *cv,
    void (*kick)(void *arg), void *arg)
{
	memset(f, 0, sizeof *f);
	f->base = base;
	f->cv = cv;
	f->kick = kick;
	f->arg = arg;
	f->fd = -1;
	f->state = VF_IDLE;
}

/* Closes attempt i of the race; the last one takes its slot. A live event is never copied
 * (libevent keeps its address): the moved one is assigned anew. */
static void
vflow_try_drop(struct vflow *f, unsigned i)
{
	struct vflow_race *r = f->race;
	event_del(&r->tries[i].wev);
	close(r->tries[i].fd);
	unsigned last = --r->ntries;
	if (i == last)
		return;
	int fd = r->tries[last].fd;
	event_del(&r->tries[last].wev);
	r->tries[i].fd = fd;
	event_assign(&r->tries[i].wev, f->base, fd, EV_WRITE | EV_PERSIST, vflow_io_cb, f);
	event_add(&r->tries[i].wev, NULL);
}

/* Frees the race state: every attempt still in flight is closed. */
static void
vflow_race_free(struct vflow *f)
{
	struct vflow_race *r = f->race;
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->ntries; i++) {
		if (r->tries[i].fd == -1)
			continue; /* the winner, handed to the flow */
		event_del(&r->tries[i].wev);
		close(r->tries[i].fd);
	}
	event_del(&r->timer);
	free(r);
	f->race = NULL;
}

/* Takes the race state for a new resolve or connect; false when out of memory. */
static bool
vflow_race_new(struct vflow *f)
{
	vflow_race_free(f);
	struct vflow_race *r = calloc(1, sizeof *r);
	if (r == NULL)
		return false;
	evtimer_assign(&r->timer, f->base, vflow_io_cb, f);
	f->race = r;
	return true;
}

/* Ends the flow in a final state. */
static void
vflow_fail(struct vflow *f, enum vflow_state st, const char *why)
{
	vflow_close(f);
	f->state = st;
	f->why = why;
}

/* Arms the race's timer for the earlier of the next attempt and the deadline. */
static void
vflow_race_arm(struct vflow *f, uint64_t now)
{
	struct vflow_race *r = f->race;
	uint64_t at = f->deadline;
	if (f->state == VF_CONNECT && r->next_addr < r->naddrs && r->ntries < VFLOW_RACE_MAX &&
	    r->next_at < at)
		at = r->next_at;
	uint64_t ms = at > now ? at - now : 0;
	deadline_add(&r->timer, ms);
}

/* Starts one attempt on the next address the egress policy permits; false when none is
 * left to start. */
static bool
vflow_try_next(struct vflow *f, uint64_t now)
{
	struct vflow_race *r = f->race;
	while (r->next_addr < r->naddrs) {
		struct sockaddr_storage *a = &r->addrs[r->next_addr++];
		if (!egress_permits(&f->cv->egress, (struct sockaddr *)a)) {
			r->denied++; /* never connected, not even for a moment */
			continue;
		}
		socklen_t al = a->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
		int fd;
		if (dial_start((struct sockaddr *)a, al, &fd) != DIAL_PENDING)
			continue; /* failed at once: the next address, at once (RFC 8305 §5) */
		struct vflow_try *t = &r->tries[r->ntries++];
		t->fd = fd;
		event_assign(&t->wev, f->base, fd, EV_WRITE | EV_PERSIST, vflow_io_cb, f);
		event_add(&t->wev, NULL);
		r->next_at = now + VFLOW_RACE_DELAY_MS;
		return true;
	}
	return false;
}

/* Attempt i connected: it is the flow; the others are closed. */
static void
vflow_win(struct vflow *f, unsigned i)
{
	struct vflow_race *r = f->race;
	int fd = r->tries[i].fd;
	event_del(&r->tries[i].wev);
	r->tries[i].fd = -1;
	vflow_race_free(f); /* closes the losers */
	f->fd = fd;
	event_assign(&f->rev, f->base, fd, EV_READ | EV_PERSIST, vflow_io_cb, f);
	event_assign(&f->wev, f->base, fd, EV_WRITE | EV_PERSIST, vflow_io_cb, f);
	f->r_on = f->w_on = false;
	f->state = VF_OPEN;
	f->deadline = 0;
}

/* Runs the race: finished attempts, the deadline, the next attempts, the timer. */
static void
vflow_race(struct vflow *f, uint64_t now)
{
	struct vflow_race *r = f->race;
	for (unsigned i = r->ntries; i-- > 0;) {
		/* SO_ERROR reads 0 while a connect is still in progress: ask only once the
		 * socket is writable. */
		struct pollfd pfd = { .fd = r->tries[i].fd, .events = POLLOUT };
		int pr = poll(&pfd, 1, 0);
		if (pr == 0)
			continue;
		int e = pr == -1 ? errno : dial_result(r->tries[i].fd);
		if (e == 0) {
			vflow_win(f, i);
			return;
		}
		if (e == EINPROGRESS || e == EALREADY || e == EINTR)
			continue;
		vflow_try_drop(f, i);
		r->next_at = now; /* a failure starts the next attempt at once */
	}
	if (now >= f->deadline) {
		vflow_fail(f, VF_FAILED, "connect failed");
		return;
	}
	while (r->ntries < VFLOW_RACE_MAX && (r->ntries == 0 || now >= r->next_at) &&
	    vflow_try_next(f, now))
		;
	if (r->ntries == 0) {
		if (r->denied > 0 && r->denied == r->naddrs)
			vflow_fail(f, VF_DENIED, "denied");
		else
			vflow_fail(f, VF_FAILED, "connect failed");
		return;
	}
	vflow_race_arm(f, now);
}

/* Starts the race over the addresses in f->race. */
static void
vflow_connect(struct vflow *f)
{
	uint64_t now = vflow_ms();
	f->state = VF_CONNECT;
	f->deadline = now + VFLOW_CONNECT_MS;
	f->race->next_at = now;
	vflow_race(f, now);
}

/* A lookup's ticket: f is NULL once the flow let go of it. */
struct vflow_q {
	struct vflow *f;
};

/* evdns answered. */
static void
vflow_dns_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct vflow_q *q = arg;
	struct vflow *f = q->f;
	free(q);
	if (f == NULL || err == EVUTIL_EAI_CANCEL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return; /* the flow was closed (and may be gone) */
	}
	f->dreq = NULL;
	f->q = NULL;
	struct vflow_race *r = f->race;
	r->naddrs = 0;
	for (struct evutil_addrinfo *ai = res; ai != NULL && r->naddrs < VFLOW_ADDRS_MAX;
	    ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof r->addrs[0])
			memcpy(&r->addrs[r->naddrs++], ai->ai_addr, ai->ai_addrlen);
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (err != 0 || r->naddrs == 0) {
		vflow_fail(f, VF_FAILED, "resolve failed");
	} else {
		dial_order(r->addrs, r->naddrs); /* core/dial.h: shared with the client */
		vflow_connect(f);
	}
	f->kick(f->arg);
}

/* Starts the flow (see vflow.h). */
void
vflow_start(struct vflow *f, struct vdns_res **dns, const char *host, size_t hl,
    uint16_t port)
{
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host++;
		hl -= 2; /* §7.3, §7.4: [v6] as an HTTP-CONNECT front end or a socket address */
	}
	if (hl == 0 || hl >= sizeof f->host) {
		vflow_fail(f, VF_FAILED, "bad target");
		return;
	}
	memcpy(f->host, host, hl);
	f->host[hl] = '\0';
	f->port = port;
	if (!vflow_race_new(f)) {
		vflow_fail(f, VF_FAILED, "connect failed");
		return;
	}
	struct vflow_race *r = f->race;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&r->addrs[0];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&r->addrs[0];
	if (inet_pton(AF_INET, f->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, f->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
	} else {
		if (*dns == NULL && (*dns = vdns_res_take(f->base, &f->cv->dns)) == NULL) {
			vflow_fail(f, VF_FAILED, "resolve failed");
			return;
		}
		f->state = VF_RESOLVE;
		f->deadline = vflow_ms() + f->cv->dns.timeout_ms * 2 + 1000; /* two attempts */
		vflow_race_arm(f, vflow_ms());
		char ps[8];
		snprintf(ps, sizeof ps, "%u", (unsigned)port);
		struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
			.ai_protocol = IPPROTO_TCP };
		struct vflow_q *q = malloc(sizeof *q);
		if (q == NULL) {
			vflow_fail(f, VF_FAILED, "resolve failed");
			return;
		}
		q->f = f;
		f->q = q;
		struct evdns_getaddrinfo_request *rq = evdns_getaddrinfo(vdns_res_evdns(*dns),
		    f->host, ps, &hints, vflow_dns_cb, q);
		if (rq != NULL)
			f->dreq = rq; /* NULL: the callback already ran (and freed q) */
		return;
	}
	r->naddrs = 1;
	vflow_connect(f);
}

/* Advances a pending flow (see vflow.h). */
void
vflow_poll(struct vflow *f, uint64_t now)
{
	if (f->state == VF_CONNECT)
		vflow_race(f, now);
	else if (f->state == VF_RESOLVE && now >= f->deadline)
		vflow_fail(f, VF_FAILED, "resolve timeout");
}

/* Writes to the target (see vflow.h). */
ssize_t
vflow_send(struct vflow *f, const uint8_t *p, size_t len)
{
	ssize_t n = send(f->fd, p, len, MSG_NOSIGNAL);
	if (n >= 0) {
		if ((size_t)n == len && f->w_on) {
			event_del(&f->wev);
			f->w_on = false;
		}
		return n;
	}
	if (errno == EAGAIN || errno == EINTR) {
		if (!f->w_on) {
			event_add(&f->wev, NULL);
			f->w_on = true;
		}
		return VFLOW_AGAIN;
	}
	return VFLOW_ERROR;
}

/* Reads from the target (see vflow.h). */
ssize_t
vflow_recv(struct vflow *f, uint8_t *buf, size_t cap)
{
	ssize_t n = recv(f->fd, buf, cap, 0);
	if (n >= 0)
		return n;
	return errno == EAGAIN || errno == EINTR ? VFLOW_AGAIN : VFLOW_ERROR;
}

/* Reads from the target into several buffers (see vflow.h). */
ssize_t
vflow_recvv(struct vflow *f, const struct iovec *iov, int n)
{
	ssize_t k = readv(f->fd, iov, n);
	if (k >= 0)
		return k;
	return errno == EAGAIN || errno == EINTR ? VFLOW_AGAIN : VFLOW_ERROR;
}

/* Whether target bytes wait (see vflow.h). */
bool
vflow_readable(struct vflow *f)
{
	if (f->fd == -1)
		return false;
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	return poll(&pfd, 1, 0) > 0;
}

/* Switches read interest (see vflow.h). */
void
vflow_want_read(struct vflow *f, bool on)
{
	if (f->fd == -1 || on == f->r_on)
		return;
	if (on)
		event_add(&f->rev, NULL);
	else
		event_del(&f->rev);
	f->r_on = on;
}

/* Closes (see vflow.h). */
void
vflow_close(struct vflow *f)
{
	if (f->dreq != NULL) {
		struct evdns_getaddrinfo_request *r = f->dreq;
		f->q->f = NULL; /* the callback, whenever it runs, frees the ticket only */
		f->q = NULL;
		f->dreq = NULL;
		evdns_getaddrinfo_cancel(r);
	}
	vflow_race_free(f);
	if (f->fd != -1) {
		event_del(&f->rev);
		event_del(&f->wev);
		close(f->fd);
		f->fd = -1;
	}
	f->r_on = f->w_on = false;
}
