/*
 * The per-source-IP caps of a listener (DESIGN.md §5): `max_preread_per_ip` on connections
 * still in pre-read and `max_connections_per_ip` on all open connections. Two process-wide
 * tables of counters, one per cap, indexed by a keyed hash of the listener's name and the
 * client address, shared by all workers with atomic increments: each listener counts its own
 * clients, and a listener that keeps its name across a reload keeps its counts. Two
 * addresses (or listeners) that share a bucket share a cap: the cap can only get stricter,
 * never looser, and the key (random per process) keeps attackers from aiming collisions at
 * a victim.
 */
#ifndef SY_ROUTER_IPCAP_H
#define SY_ROUTER_IPCAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/conf-t.h"

#define IPCAP_BUCKETS 65536 /* per table; a power of two */

/* The counter tables. */
enum ipcap_table { IPCAP_PREREAD, IPCAP_CONNECTIONS, IPCAP_TABLES };

/* What one connection holds: its bucket and which counts it is in. */
struct ipcap_hold {
	uint32_t bucket;
	bool     preread;      /* counted under max_preread_per_ip */
	bool     connection;   /* counted under max_connections_per_ip */
};

/* The verdict of ipcap_admit. */
enum ipcap_verdict { IPCAP_OK, IPCAP_OVER_CONNECTIONS, IPCAP_OVER_PREREAD };

/* Draws the hash key; call once at start after sodium_init. */
void ipcap_init(void);

/* Bucket of an address on a listener (IPv4, or IPv6 by its /64 so one host cannot
 * sidestep the cap). */
uint32_t ipcap_bucket(const char *listener, const struct sockaddr_storage *ss);

/* Counts a connection into one table; false (nothing counted) when the bucket is at cap. */
bool ipcap_take(enum ipcap_table t, uint32_t bucket, uint32_t cap);

/* Counts one out. */
void ipcap_release(enum ipcap_table t, uint32_t bucket);

/*
 * Admits a new connection from src (the real client, after PROXY in) on listener l: one
 * count under max_connections_per_ip (when it is on) and one under max_preread_per_ip.
 * On a refusal h holds nothing.
 */
enum ipcap_verdict ipcap_admit(struct ipcap_hold *h, const struct conf_listener *l,
    const struct sockaddr_storage *src);

/* The connection left pre-read: gives its pre-read count back (idempotent). */
void ipcap_preread_done(struct ipcap_hold *h);

/* The connection closes: gives everything back (idempotent). */
void ipcap_close(struct ipcap_hold *h);

#endif
