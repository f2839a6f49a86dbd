/*
 * One outbound flow (see vflow.h). The egress policy is applied to every address right
 * before it is connected, so a name that resolves to a denied address is refused exactly
 * like the literal would be; a flow whose every address was denied ends DENIED, one that
 * found no usable address FAILED. The resolver's callback may run inside
 * evdns_getaddrinfo (hosts file, cache), so vflow_start never touches f after the call.
 * A cancelled lookup's callback still runs, later (libevent 2.1 defers it), when the flow
 * may be freed: so the callback's argument is a small ticket that outlives the flow; closing
 * the flow detaches it, and the callback frees it.
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

#include "core/dial.h"
#include "core/egress.h"
#include "terminator/vpn/vdns.h"

/* Monotonic milliseconds. */
uint64_t
vflow_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Readiness of the target socket: the owner's driver does the work. */
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

/* Ends the flow in a final state. */
static void
vflow_fail(struct vflow *f, enum vflow_state st, const char *why)
{
	vflow_close(f);
	f->state = st;
	f->why = why;
}

/* Tries the next resolved address the egress policy permits. */
static void
vflow_connect_next(struct vflow *f)
{
	while (f->next_addr < f->naddrs) {
		struct sockaddr_storage *a = &f->addrs[f->next_addr++];
		if (!egress_permits(&f->cv->egress, (struct sockaddr *)a)) {
			f->denied++;
			continue;
		}
		socklen_t al = a->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
		int fd;
		if (dial_start((struct sockaddr *)a, al, &fd) != DIAL_PENDING)
			continue;
		f->fd = fd;
		event_assign(&f->rev, f->base, fd, EV_READ | EV_PERSIST, vflow_io_cb, f);
		event_assign(&f->wev, f->base, fd, EV_WRITE | EV_PERSIST, vflow_io_cb, f);
		event_add(&f->wev, NULL);
		f->w_on = true;
		f->r_on = false;
		f->state = VF_CONNECT;
		f->deadline = vflow_ms() + VFLOW_CONNECT_MS;
		return;
	}
	if (f->denied > 0 && f->denied == f->naddrs)
		vflow_fail(f, VF_DENIED, "denied");
	else
		vflow_fail(f, VF_FAILED, "connect failed");
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
	f->naddrs = 0;
	for (struct evutil_addrinfo *ai = res; ai != NULL && f->naddrs < VFLOW_ADDRS_MAX;
	    ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof f->addrs[0])
			memcpy(&f->addrs[f->naddrs++], ai->ai_addr, ai->ai_addrlen);
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (err != 0 || f->naddrs == 0)
		vflow_fail(f, VF_FAILED, "resolve failed");
	else
		vflow_connect_next(f);
	f->kick(f->arg);
}

/* Starts the flow (see vflow.h). */
void
vflow_start(struct vflow *f, struct evdns_base **dns, const char *host, size_t hl,
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
	f->naddrs = f->next_addr = f->denied = 0;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&f->addrs[0];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&f->addrs[0];
	memset(&f->addrs[0], 0, sizeof f->addrs[0]);
	if (inet_pton(AF_INET, f->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, f->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
	} else {
		if (*dns == NULL && (*dns = vdns_base_new(f->base, &f->cv->dns)) == NULL) {
			vflow_fail(f, VF_FAILED, "resolve failed");
			return;
		}
		f->state = VF_RESOLVE;
		f->deadline = vflow_ms() + f->cv->dns.timeout_ms * 2 + 1000; /* two attempts */
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
		struct evdns_getaddrinfo_request *r = evdns_getaddrinfo(*dns, f->host, ps, &hints,
		    vflow_dns_cb, q);
		if (r != NULL)
			f->dreq = r; /* NULL: the callback already ran (and freed q) */
		return;
	}
	f->naddrs = 1;
	vflow_connect_next(f);
}

/* Advances a pending flow (see vflow.h). */
void
vflow_poll(struct vflow *f, uint64_t now)
{
	if (f->state == VF_CONNECT) {
		/* SO_ERROR reads 0 while a connect is still in progress: ask only once the
		 * socket is writable (or the address's time is up). */
		struct pollfd pfd = { .fd = f->fd, .events = POLLOUT };
		int pr = poll(&pfd, 1, 0);
		if (pr == 0 && now < f->deadline)
			return;
		int e = pr == 0 ? ETIMEDOUT : dial_result(f->fd);
		if (e == 0) {
			event_del(&f->wev);
			f->w_on = false;
			f->state = VF_OPEN;
			f->deadline = 0;
			return;
		}
		if ((e == EINPROGRESS || e == EALREADY) && now < f->deadline && pr > 0)
			return;
		event_del(&f->wev);
		close(f->fd);
		f->fd = -1;
		f->w_on = false;
		vflow_connect_next(f);
	} else if (f->state == VF_RESOLVE && now >= f->deadline) {
		vflow_fail(f, VF_FAILED, "resolve timeout");
	}
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
	if (f->fd != -1) {
		event_del(&f->rev);
		event_del(&f->wev);
		close(f->fd);
		f->fd = -1;
	}
	f->r_on = f->w_on = false;
}
