/*
 * The kernel TUN device of the VPN's full tunnel (DESIGN.md §3 `vpn.tun`, rvpn-protocol.md
 * §7.5), on the server (terminator/vpn/vtun.c) and in switchyard-client --tun
 * (client/ctun.c): an L3 device without packet information (IFF_TUN | IFF_NO_PI), non-blocking, with
 * its IPv4 address, prefix and MTU set and the link up, all by ioctl(2) (never by running
 * `ip`). The device is not persistent: it disappears when its descriptor is closed, so a
 * crash cannot leave one behind. Linux only; it needs CAP_NET_ADMIN and /dev/net/tun.
 */
#ifndef SY_CORE_TUN_H
#define SY_CORE_TUN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Creates the device `name` with address addr (host byte order) / prefix and mtu, up.
 * Returns its descriptor (non-blocking, close-on-exec), or -1 with a message in err that
 * says what is missing (CAP_NET_ADMIN, /dev/net/tun, a busy name).
 */
int tun_open(const char *name, uint32_t addr, unsigned prefix, unsigned mtu, char *err,
    size_t cap);

/*
 * What `-t` can check without creating anything: /dev/net/tun opens and the process has
 * CAP_NET_ADMIN. 0, or -1 with the reason in err.
 */
int tun_probe(char *err, size_t cap);

/*
 * Routes net/prefix (host byte order) through the device `name` (a device route, no
 * gateway), by SIOCADDRT. 0, or -1 with a message in err (an existing route is an error).
 */
int tun_route_add(const char *name, uint32_t net, unsigned prefix, char *err, size_t cap);

/* Closes the descriptor; the device goes with it. -1 is fine. */
void tun_close(int fd);

#endif
