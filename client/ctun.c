/*
 * switchyard-client --tun: the local end of the full tunnel (rvpn-protocol.md §7.5). One
 * kernel TUN device (core/tun.c: L3, no packet info, non-blocking) with the lease of the
 * session's VirtualIp as its address, in the lease's /24 (CLIENT_TUN_PREFIX: the kernel
 * then routes that subnet, gateway included, through the device) and the VirtualIp's MTU,
 * plus one device route per --tun-route. The default route is never touched.
 *
 * Packets: device -> server, one packet per flow-1 frame in its own message, read only
 * while the session is READY and its output is under CLIENT_SESS_OUT_HIGH (then the
 * device is left unread and the kernel's own queue, txqueuelen, drops); at most
 * CTUN_BATCH per wake-up so the session's input is not starved. Server -> device: written
 * at once, a full device drops the packet (counted). So no queue here grows: the only
 * buffering is the session's bounded output.
 *
 * The device outlives a dropped session (the lease is sticky, §7.5 item 6, so the next
 * session normally brings the same address and nothing changes for the apps); a VirtualIp
 * with another address or MTU makes a new device. Never: run `ip`, edit resolv.conf (the
 * VirtualIp's DNS servers are logged for the user), or block.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "core/log.h"
#include "core/tun.h"
#include "proto/rvpn/rvpn_mux.h"

#define CTUN_READ_MAX 65536 /* one read of the device: any IP packet */

static struct {
	struct event_base *base;
	struct sess       *s;
	const struct ccfg *cfg;
	int                fd;
	struct event      *rd;
	bool               reading;
	uint32_t           addr;      /* the lease, host byte order */
	uint32_t           mtu;
	uint64_t           up, down, drops;
} ctun = { .fd = -1 };

/* Host-order IPv4 of dotted text, or 0. */
static uint32_t
ctun_ip(const char *t)
{
	struct in_addr a;
	return inet_pton(AF_INET, t, &a) == 1 ? ntohl(a.s_addr) : 0;
}

/* Checks CAP_NET_ADMIN and /dev/net/tun (see client.h). */
int
ctun_init(struct event_base *base, struct sess *s, const struct ccfg *cfg)
{
	char why[256];
	if (tun_probe(why, sizeof why) != 0) {
		fprintf(stderr, "switchyard-client: --tun: %s\n", why);
		return -1;
	}
	ctun.base = base;
	ctun.s = s;
	ctun.cfg = cfg;
	return 0;
}

/* Starts or stops watching the device. */
static void
ctun_watch(bool on)
{
	if (ctun.rd == NULL || on == ctun.reading)
		return;
	if (on)
		event_add(ctun.rd, NULL);
	else
		event_del(ctun.rd);
	ctun.reading = on;
}

/* The device is readable: up to CTUN_BATCH packets go to the server while it takes them. */
static void
ctun_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t buf[CTUN_READ_MAX];
	(void)what;
	(void)arg;
	for (unsigned i = 0; i < CTUN_BATCH; i++) {
		if (!sess_writable(ctun.s)) {
			ctun_watch(false); /* ctun_on_writable resumes */
			return;
		}
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* EAGAIN: nothing left */
		if ((size_t)n > RVPN_MUX_MAX_DATA) {
			ctun.drops++; /* over any MTU the server gave: cannot be one frame */
			continue;
		}
		sess_tun_packet(ctun.s, buf, (size_t)n);
		ctun.up++;
	}
}

/* Closes the device (and its routes). */
static void
ctun_close(void)
{
	if (ctun.rd != NULL)
		event_free(ctun.rd);
	ctun.rd = NULL;
	ctun.reading = false;
	tun_close(ctun.fd);
	ctun.fd = -1;
}

/* The VirtualIp (see client.h). */
int
ctun_on_vip(const struct rvpn_vip *v)
{
	char why[256], dns[RVPN_VIP_MAX_DNS * (RVPN_VIP_ADDR_LEN + 1) + 1] = "";
	uint32_t addr = ctun_ip(v->ipv4), gw = ctun_ip(v->gateway_ip);
	const char *name = ctun.cfg->tun_name;

	if (addr == 0 || gw == 0 || v->mtu < 576 || v->mtu > RVPN_MUX_MAX_DATA) {
		log_error("client: tun: unusable VirtualIp (address %s, gateway %s, mtu %u)",
		    v->ipv4, v->gateway_ip, (unsigned)v->mtu);
		return -1;
	}
	if (ctun.fd != -1 && addr == ctun.addr && v->mtu == ctun.mtu) {
		log_info("client: tun %s: same lease %s after the reconnect", name, v->ipv4);
		ctun_watch(true);
		return 0;
	}
	if (ctun.fd != -1) {
		log_warn("client: tun %s: the lease changed to %s mtu %u; remaking the device", name,
		    v->ipv4, (unsigned)v->mtu);
		ctun_close();
	}
	ctun.fd = tun_open(name, addr, CLIENT_TUN_PREFIX, v->mtu, why, sizeof why);
	if (ctun.fd == -1) {
		log_error("client: %s", why);
		return -1;
	}
	for (size_t i = 0; i < ctun.cfg->ntun_routes; i++) {
		const struct conf_cidr *r = &ctun.cfg->tun_routes[i];
		uint32_t net = (uint32_t)r->addr[0] << 24 | (uint32_t)r->addr[1] << 16 |
		    (uint32_t)r->addr[2] << 8 | r->addr[3];
		if (tun_route_add(name, net, r->prefix, why, sizeof why) != 0) {
			log_error("client: %s", why);
			ctun_close();
			return -1;
		}
	}
	ctun.rd = event_new(ctun.base, ctun.fd, EV_READ | EV_PERSIST, ctun_read_cb, NULL);
	if (ctun.rd == NULL) {
		ctun_close();
		return -1;
	}
	ctun.addr = addr;
	ctun.mtu = v->mtu;
	for (size_t i = 0; i < v->ndns; i++)
		snprintf(dns + strlen(dns), sizeof dns - strlen(dns), "%s%s", i ? "," : "",
		    v->dns_servers[i]);
	log_info("client: tun %s up: %s/%u mtu %u, gateway %s, %zu extra route(s); the server "
	    "suggests DNS %s (not applied)", name, v->ipv4, CLIENT_TUN_PREFIX, (unsigned)v->mtu,
	    v->gateway_ip, ctun.cfg->ntun_routes, v->ndns ? dns : "none");
	ctun_watch(true);
	return 0;
}

/* One packet from the server (see client.h). */
void
ctun_on_packet(const uint8_t *p, size_t n)
{
	if (ctun.fd == -1)
		return;
	ssize_t w = write(ctun.fd, p, n);
	if (w != (ssize_t)n) {
		ctun.drops++; /* full (EAGAIN) or refused by the kernel: IP may drop */
		return;
	}
	ctun.down++;
}

/* The session dropped (see client.h). */
void
ctun_on_session_lost(void)
{
	ctun_watch(false);
}

/* The session's output drained (see client.h). */
void
ctun_on_writable(void)
{
	if (ctun.fd != -1 && sess_ready(ctun.s))
		ctun_watch(true);
}

/* Closes the device at exit (see client.h). */
void
ctun_shutdown(void)
{
	if (ctun.fd != -1)
		log_info("client: tun %s removed (%llu packets up, %llu down, %llu dropped)",
		    ctun.cfg->tun_name, (unsigned long long)ctun.up, (unsigned long long)ctun.down,
		    (unsigned long long)ctun.drops);
	ctun_close();
}
