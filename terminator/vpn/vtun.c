/*
 * The `/tun` full tunnel (see vtun.h). Process-wide state lives here under vtun_mu: the
 * device descriptor, the lease pool, the address -> port table and the per-worker device
 * watches. Packets in a port's queue are malloc'd one by one (at most VTUN_QUEUE_PKTS per
 * port) and freed when sealed or when the port goes.
 */
#include "terminator/vpn/vtun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/egress.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/tun.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_vip.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "terminator/vpn/vlease.h"
#include "terminator/vpn/vsess.h"

_Static_assert(CONF_TUN_DNS_MAX <= RVPN_VIP_MAX_DNS, "the dns servers fit the VirtualIp");
_Static_assert(CONF_TUN_MTU_FRAME_MAX <= RVPN_MUX_MAX_DATA, "a packet fits one mux frame");

#define VTUN_READ_MAX 65536 /* one read of the device: any IP packet */

struct vtun_pkt {
	size_t  len;
	uint8_t data[];
};

/* One worker's watch of the device. */
struct vtun_reader {
	struct vtun_reader *next;
	struct event_base  *base;
	struct event       *ev;
	unsigned            worker;
	unsigned            refs;   /* ports on this worker */
};

struct vtun_port {
	struct vsess       *s;
	struct stats_entry *st;
	struct vtun_reader *rd;
	uint32_t            addr;   /* the lease, host byte order */
	char                addr_s[INET_ADDRSTRLEN];
	struct event        kick;   /* in the session's loop: packets arrived */
	/* under vtun_mu */
	struct vtun_pkt    *q[VTUN_QUEUE_PKTS];
	unsigned            qhead, qlen;
	size_t              qbytes;
};

static pthread_mutex_t vtun_mu = PTHREAD_MUTEX_INITIALIZER;
static int vtun_fd = -1;
static uint32_t vtun_gw, vtun_net, vtun_mask; /* host byte order */
static struct vlease_pool vtun_pool;
static struct vtun_port **vtun_route;         /* vtun_pool.n, by pool index */
static char *vtun_dir;                        /* state_dir copy; NULL: memory only */
static struct vtun_reader *vtun_readers;
static struct stats_entry *vtun_stats;        /* drops outside any session */
static struct conf_tun vtun_conf;             /* the settings the device was made with */

/* The conf address as a host-order IPv4 address. */
static uint32_t
vtun_conf_addr(const struct conf_tun *t)
{
	return (uint32_t)t->address.addr[0] << 24 | (uint32_t)t->address.addr[1] << 16 |
	    (uint32_t)t->address.addr[2] << 8 | t->address.addr[3];
}

/* Opens the device once (see vtun.h). */
int
vtun_open_process(const struct conf_vpn *cv, struct stats_entry *stats, bool check_only,
    char *err, size_t cap)
{
	const struct conf_tun *t = &cv->tun;
	if (check_only) {
		char why[256];
		if (tun_probe(why, sizeof why) == -1) {
			snprintf(err, cap, "terminator.vpn.tun.enabled: %s", why);
			return -1;
		}
		return 0;
	}
	pthread_mutex_lock(&vtun_mu);
	int rc = -1;
	if (vtun_fd != -1) {
		if (strcmp(t->name, vtun_conf.name) != 0 || vtun_conf_addr(t) != vtun_gw ||
		    t->address.prefix != vtun_conf.address.prefix || t->mtu != vtun_conf.mtu)
			log_write(LOG_LEVEL_WARN, "vpn: tun name, address and mtu change only at "
			    "restart; the device stays %s", vtun_conf.name);
		rc = 0;
		goto out;
	}
	uint32_t gw = vtun_conf_addr(t);
	if (vlease_init(&vtun_pool, gw, t->address.prefix) == -1 ||
	    (vtun_route = calloc(vtun_pool.n, sizeof *vtun_route)) == NULL) {
		snprintf(err, cap, "terminator.vpn.tun: out of memory for the address pool");
		goto fail;
	}
	if (cv->state_dir != NULL) {
		char why[512];
		long n = vlease_load(&vtun_pool, cv->state_dir, why, sizeof why);
		if (n == -1) {
			snprintf(err, cap, "terminator.vpn.state_dir: %s", why);
			goto fail;
		}
		if ((vtun_dir = strdup(cv->state_dir)) == NULL) {
			snprintf(err, cap, "terminator.vpn.tun: out of memory");
			goto fail;
		}
		log_write(LOG_LEVEL_INFO, "vpn: %ld tun lease(s) loaded from %s/%s", n,
		    cv->state_dir, VLEASE_FILE);
	}
	char why[256];
	vtun_fd = tun_open(t->name, gw, t->address.prefix, t->mtu, why, sizeof why);
	if (vtun_fd == -1) {
		snprintf(err, cap, "terminator.vpn.tun.enabled: %s", why);
		goto fail;
	}
	vtun_gw = gw;
	vtun_mask = t->address.prefix == 0 ? 0 : UINT32_MAX << (32 - t->address.prefix);
	vtun_net = gw & vtun_mask;
	vtun_conf = *t;
	vtun_conf.dns = NULL; /* the generation's array: read from the session's cv instead */
	vtun_conf.ndns = 0;
	vtun_stats = stats;
	log_write(LOG_LEVEL_INFO, "vpn: tun device %s up, %u.%u.%u.%u/%u mtu %u, %u leases",
	    t->name, gw >> 24, (gw >> 16) & 255, (gw >> 8) & 255, gw & 255,
	    (unsigned)t->address.prefix, (unsigned)t->mtu, (unsigned)vtun_pool.n);
	rc = 0;
	goto out;
fail:
	free(vtun_route);
	vtun_route = NULL;
	vlease_free(&vtun_pool);
	free(vtun_dir);
	vtun_dir = NULL;
out:
	pthread_mutex_unlock(&vtun_mu);
	return rc;
}

/* True when the device is open. */
bool
vtun_ready(void)
{
	pthread_mutex_lock(&vtun_mu);
	bool ok = vtun_fd != -1;
	pthread_mutex_unlock(&vtun_mu);
	return ok;
}

/* Closes the device at exit (no session is left). */
void
vtun_fini_process(void)
{
	pthread_mutex_lock(&vtun_mu);
	if (vtun_fd != -1) {
		tun_close(vtun_fd);
		log_write(LOG_LEVEL_INFO, "vpn: tun device %s removed", vtun_conf.name);
	}
	vtun_fd = -1;
	free(vtun_route);
	vtun_route = NULL;
	vlease_free(&vtun_pool);
	free(vtun_dir);
	vtun_dir = NULL;
	pthread_mutex_unlock(&vtun_mu);
}

/* The port routed to addr, or NULL (under vtun_mu). */
static struct vtun_port *
vtun_port_of(uint32_t addr)
{
	if (vtun_route == NULL || addr < vtun_pool.net + VLEASE_FIRST ||
	    addr - vtun_pool.net - VLEASE_FIRST >= vtun_pool.n)
		return NULL;
	return vtun_route[addr - vtun_pool.net - VLEASE_FIRST];
}

/* Queues a copy of a packet for port p and wakes its session; false when the queue is
 * full (under vtun_mu). */
static bool
vtun_push(struct vtun_port *p, const uint8_t *pkt, size_t len)
{
	if (p->qlen == VTUN_QUEUE_PKTS || p->qbytes + len > VTUN_QUEUE_BYTES)
		return false;
	struct vtun_pkt *k = malloc(sizeof *k + len);
	if (k == NULL)
		return false;
	k->len = len;
	memcpy(k->data, pkt, len);
	p->q[(p->qhead + p->qlen) % VTUN_QUEUE_PKTS] = k;
	if (p->qlen++ == 0)
		event_active(&p->kick, EV_TIMEOUT, 1); /* thread-safe: evthread_use_pthreads */
	p->qbytes += len;
	return true;
}

/* The destination of an IPv4 packet read from the device, or 0 when it is not one. */
static uint32_t
vtun_dst(const uint8_t *pkt, size_t len)
{
	if (len < VTUN_IP_MIN || pkt[0] >> 4 != 4)
		return 0;
	return (uint32_t)pkt[16] << 24 | (uint32_t)pkt[17] << 16 | (uint32_t)pkt[18] << 8 | pkt[19];
}

/* The device is readable: at most VTUN_BATCH packets go to their ports. */
static void
vtun_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct vtun_reader *rd = arg;
	static _Thread_local uint8_t buf[VTUN_READ_MAX];
	for (unsigned i = 0; i < VTUN_BATCH; i++) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* EAGAIN: another worker took it, or nothing left */
		uint32_t dst = vtun_dst(buf, (size_t)n);
		pthread_mutex_lock(&vtun_mu);
		struct vtun_port *p = dst != 0 ? vtun_port_of(dst) : NULL;
		if (p == NULL) {
			/* IPv6 (no leases), broadcast, or a lease nobody holds now */
			if (vtun_stats != NULL)
				stats_add(vtun_stats, rd->worker, SV_TUN_DROP_NO_LEASE, 1);
		} else if (!vtun_push(p, buf, (size_t)n)) {
			stats_add(p->st, rd->worker, SV_TUN_DROP_QUEUE, 1);
		}
		pthread_mutex_unlock(&vtun_mu);
	}
}

/* Packets arrived for the port: run its session (on its own thread). */
static void
vtun_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vtun_port *p = arg;
	vsess_kick(p->s);
}

/* A port (see vtun.h). */
struct vtun_port *
vtun_attach(struct vsess *s, struct event_base *base, unsigned worker, struct stats_entry *st,
    const uint8_t key[32], bool *exhausted)
{
	*exhausted = false;
	struct vtun_port *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->s = s;
	p->st = st;
	event_assign(&p->kick, base, -1, 0, vtun_kick_cb, p);
	pthread_mutex_lock(&vtun_mu);
	if (vtun_fd == -1)
		goto fail;
	struct vtun_reader *rd;
	for (rd = vtun_readers; rd != NULL && rd->base != base; rd = rd->next)
		;
	if (rd == NULL) {
		if ((rd = calloc(1, sizeof *rd)) == NULL)
			goto fail;
		rd->base = base;
		rd->worker = worker;
		rd->ev = event_new(base, vtun_fd, EV_READ | EV_PERSIST, vtun_read_cb, rd);
		if (rd->ev == NULL || event_add(rd->ev, NULL) == -1) {
			if (rd->ev != NULL)
				event_free(rd->ev);
			free(rd);
			goto fail;
		}
		rd->next = vtun_readers;
		vtun_readers = rd;
	}
	bool changed;
	uint32_t a = vlease_take(&vtun_pool, key, &changed);
	if (a == 0) {
		*exhausted = true;
		if (rd->refs == 0) {
			/* made just now for nobody: unlinked again */
			vtun_readers = rd->next;
			event_free(rd->ev);
			free(rd);
		}
		goto fail;
	}
	rd->refs++;
	p->rd = rd;
	p->addr = a;
	/* a reconnect before the old session noticed: the newest session gets the packets */
	vtun_route[a - vtun_pool.net - VLEASE_FIRST] = p;
	if (changed && vtun_dir != NULL) {
		char why[512];
		if (vlease_save(&vtun_pool, vtun_dir, why, sizeof why) == -1)
			log_write(LOG_LEVEL_WARN, "vpn: cannot save the tun leases: %s", why);
	}
	pthread_mutex_unlock(&vtun_mu);
	struct in_addr ia = { .s_addr = htonl(a) };
	inet_ntop(AF_INET, &ia, p->addr_s, sizeof p->addr_s);
	return p;
fail:
	pthread_mutex_unlock(&vtun_mu);
	free(p);
	return NULL;
}

/* Frees a port (see vtun.h). */
void
vtun_detach(struct vtun_port *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&vtun_mu);
	if (vtun_route != NULL) {
		struct vtun_port **slot = &vtun_route[p->addr - vtun_pool.net - VLEASE_FIRST];
		if (*slot == p)
			*slot = NULL;
		vlease_give(&vtun_pool, p->addr);
	}
	while (p->qlen > 0) {
		free(p->q[p->qhead]);
		p->qhead = (p->qhead + 1) % VTUN_QUEUE_PKTS;
		p->qlen--;
	}
	event_del(&p->kick); /* under the mutex: no reader can activate it any more */
	struct vtun_reader *rd = p->rd;
	if (--rd->refs == 0) {
		struct vtun_reader **pp = &vtun_readers;
		while (*pp != rd)
			pp = &(*pp)->next;
		*pp = rd->next;
		event_free(rd->ev);
		free(rd);
	}
	pthread_mutex_unlock(&vtun_mu);
	free(p);
}

/* The lease, dotted. */
const char *
vtun_lease(const struct vtun_port *p)
{
	return p->addr_s;
}

/* The VirtualIp JSON (see vtun.h). */
int
vtun_vip(const struct vtun_port *p, const struct conf_vpn *cv, char *out, size_t cap)
{
	struct rvpn_vip v;
	memset(&v, 0, sizeof v);
	snprintf(v.ipv4, sizeof v.ipv4, "%s", p->addr_s);
	struct in_addr gw = { .s_addr = htonl(vtun_gw) };
	inet_ntop(AF_INET, &gw, v.gateway_ip, sizeof v.gateway_ip);
	for (size_t i = 0; i < cv->tun.ndns && i < RVPN_VIP_MAX_DNS; i++) {
		const struct sockaddr_storage *ss = &cv->tun.dns[i].ss;
		const void *a = ss->ss_family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (inet_ntop(ss->ss_family, a, v.dns_servers[v.ndns], RVPN_VIP_ADDR_LEN) != NULL)
			v.ndns++;
	}
	v.mtu = vtun_conf.mtu;
	return rvpn_vip_emit(out, cap, &v);
}

/* Counts one dropped packet of the session. */
static void
vtun_drop(struct vtun_port *p, unsigned field)
{
	vsess_stat(p->s, field, 1);
}

/* True when an IPv4 header is well formed for a packet of len bytes. */
static bool
vtun_ipv4_ok(const uint8_t *pkt, size_t len)
{
	if (len < VTUN_IP_MIN || len > vtun_conf.mtu || pkt[0] >> 4 != 4)
		return false;
	size_t ihl = (size_t)(pkt[0] & 15) * 4;
	size_t total = (size_t)pkt[2] << 8 | pkt[3];
	return ihl >= VTUN_IP_MIN && ihl <= total && total == len;
}

/* One packet from the client (see vtun.h). */
void
vtun_uplink(struct vtun_port *p, const struct conf_vpn *cv, const uint8_t *pkt, size_t len)
{
	if (len > 0 && pkt[0] >> 4 == 6) {
		vtun_drop(p, SV_TUN_DROP_SPOOF); /* no IPv6 lease: no IPv6 source is ours */
		return;
	}
	if (!vtun_ipv4_ok(pkt, len)) {
		vtun_drop(p, SV_TUN_DROP_MALFORMED);
		return;
	}
	uint32_t src = (uint32_t)pkt[12] << 24 | (uint32_t)pkt[13] << 16 |
	    (uint32_t)pkt[14] << 8 | pkt[15];
	uint32_t dst = (uint32_t)pkt[16] << 24 | (uint32_t)pkt[17] << 16 |
	    (uint32_t)pkt[18] << 8 | pkt[19];
	if (src != p->addr) {
		vtun_drop(p, SV_TUN_DROP_SPOOF);
		return;
	}
	if (dst != vtun_gw && (dst & vtun_mask) == vtun_net) {
		/* inside the tunnel subnet: another client, or nobody */
		bool sent = false;
		if (cv->tun.client_to_client) {
			pthread_mutex_lock(&vtun_mu);
			struct vtun_port *to = vtun_port_of(dst);
			sent = to != NULL && vtun_push(to, pkt, len);
			pthread_mutex_unlock(&vtun_mu);
		}
		if (!sent)
			vtun_drop(p, SV_TUN_DROP_C2C);
		else
			vsess_stat(p->s, SV_TUN_PKTS_IN, 1);
		return;
	}
	if (dst != vtun_gw) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(dst) };
		if (!egress_permits(&cv->egress, (const struct sockaddr *)&sin)) {
			vtun_drop(p, SV_TUN_DROP_EGRESS);
			return;
		}
	}
	ssize_t n = write(vtun_fd, pkt, len);
	if (n != (ssize_t)len) {
		vtun_drop(p, SV_TUN_DROP_WRITE); /* full (EAGAIN) or refused: IP may drop */
		return;
	}
	vsess_stat(p->s, SV_TUN_PKTS_IN, 1);
}

/* Moves queued packets into the session's output (see vtun.h). */
void
vtun_step(struct vtun_port *p)
{
	for (;;) {
		uint8_t *slot = vsess_slot(p->s, false);
		if (slot == NULL)
			return; /* the client reads slowly: the queue holds, then drops */
		pthread_mutex_lock(&vtun_mu);
		struct vtun_pkt *k = NULL;
		if (p->qlen > 0) {
			k = p->q[p->qhead];
			p->qhead = (p->qhead + 1) % VTUN_QUEUE_PKTS;
			p->qlen--;
			p->qbytes -= k->len;
		}
		pthread_mutex_unlock(&vtun_mu);
		if (k == NULL)
			return;
		size_t len = k->len;
		bool ok = len <= RVPN_MUX_MAX_DATA &&
		    rvpn_mux_header(slot, RVPN_MUX_HDR_LEN, VTUN_FLOW, len) == RVPN_MUX_HDR_LEN;
		if (ok)
			memcpy(slot + RVPN_MUX_HDR_LEN, k->data, len);
		free(k);
		if (!ok) {
			vtun_drop(p, SV_TUN_DROP_MALFORMED);
			continue;
		}
		if (vsess_seal(p->s, RVPN_PT_DATA, RVPN_MUX_HDR_LEN + len) == -1)
			return;
		vsess_account(p->s, 0, len);
		vsess_stat(p->s, SV_TUN_PKTS_OUT, 1);
	}
}
