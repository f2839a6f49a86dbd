/*
 * Parsers for the typed scalar values of the configuration: durations, sizes, decimal
 * integers, addresses, bare IPs and CIDRs, plus the CIDR match the router needs. Pure
 * string-to-value functions: no allocation, no I/O, no knowledge of keys. On failure they
 * write a short reason (without the key, the caller adds file:line:column and key) to why.
 * They never accept host names: the configuration names peers by IP literal only.
 */
#ifndef SY_CORE_CONFVAL_H
#define SY_CORE_CONFVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/conf-t.h"

#define CONFVAL_WHY_MAX 200 /* a reason buffer this large always holds the whole reason */

/* "500ms", "5s", "10m", "24h" -> milliseconds; a unit is required; returns 0 or -1. */
int confval_duration(const char *s, uint64_t *ms, char *why, size_t whylen);

/* "4096", "16k", "1m", "2g" (powers of 1024) -> bytes; returns 0 or -1. */
int confval_size(const char *s, uint64_t *bytes, char *why, size_t whylen);

/* A decimal integer in [min, max]; returns 0 or -1. */
int confval_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v, char *why,
    size_t whylen);

/* "ip:port" or "[v6]:port", port 1..65535; returns 0 or -1. */
int confval_addr(const char *s, struct conf_addr *out, char *why, size_t whylen);

/* A bare IP literal ("1.1.1.1", "2606:4700::1111"); out gets the given port. */
int confval_ip(const char *s, uint16_t port, struct conf_addr *out, char *why, size_t whylen);

/* "10.0.0.0/8", "::1/128", or a bare IP (/32, /128); host bits past the prefix are an error. */
int confval_cidr(const char *s, struct conf_cidr *out, char *why, size_t whylen);

/* An interface address "10.200.0.1/24": like a CIDR, but host bits are kept (required). */
int confval_ifaddr(const char *s, struct conf_cidr *out, char *why, size_t whylen);

/* True when sa falls in c; an IPv4-mapped IPv6 peer matches IPv4 CIDRs. */
bool confval_cidr_match(const struct conf_cidr *c, const struct sockaddr *sa);

/* True when sa lies in any of the n CIDRs (listener trust lists). */
bool confval_cidrs_match(const struct conf_cidr *c, size_t n, const struct sockaddr *sa);

/* Writes "ip:port" / "[v6]:port" for logs and dumps. */
void confval_addr_format(const struct conf_addr *a, char *buf, size_t len);

/* Writes "net/prefix". */
void confval_cidr_format(const struct conf_cidr *c, char *buf, size_t len);

/* Writes a duration with the largest exact unit ("1h", "1500ms"). */
void confval_duration_format(uint64_t ms, char *buf, size_t len);

/* True when two addresses are the same family, address and port. */
bool confval_addr_equal(const struct conf_addr *a, const struct conf_addr *b);

#endif
