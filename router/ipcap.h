/*
 * The per-source-IP cap on connections still in pre-read (DESIGN.md §5): a process-wide
 * table of counters indexed by a keyed hash of the client address, shared by all workers
 * with atomic increments. Two addresses that share a bucket share a cap: the cap can only
 * get stricter, never looser, and the key (random per process) keeps attackers from aiming
 * collisions at a victim.
 */
#ifndef SY_ROUTER_IPCAP_H
#define SY_ROUTER_IPCAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define IPCAP_BUCKETS 65536 /* power of two */

/* Draws the hash key; call once at start after sodium_init. */
void ipcap_init(void);

/* Bucket of an address (IPv4, or IPv6 by its /64 so one host cannot sidestep the cap). */
uint32_t ipcap_bucket(const struct sockaddr_storage *ss);

/* Counts a connection into pre-read; false (nothing counted) when the bucket is at cap. */
bool ipcap_take(uint32_t bucket, uint32_t cap);

/* Counts one out. */
void ipcap_release(uint32_t bucket);

#endif
