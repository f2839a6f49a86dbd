/*
 * The metrics registry. A stats entry is a block of counters for one labelled thing (a
 * listener, a route of a listener, an upstream server); each worker writes only its own
 * copy, without locks or atomic read-modify-write, and the admin thread sums the copies
 * when it renders /metrics. Entries are found by label, so a reload that keeps a name keeps
 * its counters. Entries are never freed before exit; their number is capped.
 */
#ifndef SY_CORE_STATS_H
#define SY_CORE_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STATS_ENTRIES_MAX 4096 /* labelled things over the process life; then "overflow" */
#define STATS_FIELDS_MAX  64   /* counters in one entry */
#define STATS_LABEL_MAX   320  /* bytes of one entry's rendered label set */

enum stats_kind { STATS_LISTENER, STATS_ROUTE, STATS_SERVER, STATS_PROCESS, STATS_HTTP,
	STATS_VPN, STATS_KIND_COUNT };

/* Listener counters. HELLO_* and PROXY_* are failure reasons. */
enum {
	SL_ACCEPTED,
	SL_ACTIVE,            /* gauge: +1 at accept, -1 at close */
	SL_PREREAD,           /* gauge: connections still in pre-read */
	SL_REJECT_MAXCONN,
	SL_REJECT_PER_IP,
	SL_REJECT_CONN_PER_IP, /* max_connections_per_ip */
	SL_ACCEPT_ERRORS,
	SL_HELLO_NOT_TLS, SL_HELLO_SSLV2, SL_HELLO_TOO_LARGE, SL_HELLO_MALFORMED,
	SL_HELLO_TIMEOUT, SL_HELLO_CLOSED, SL_HELLO_BAD_SNI, SL_HELLO_NO_SNI, SL_HELLO_NO_ROUTE,
	SL_PROXY_MISSING, SL_PROXY_INVALID, SL_PROXY_TIMEOUT, SL_PROXY_UNSUPPORTED, SL_PROXY_CLOSED,
	SL_FIELD_COUNT
};
/* Route counters: connections by how they ended, bytes each way. */
enum {
	SR_CONN_OK, SR_CONN_REJECTED, SR_CONN_UPSTREAM_FAILED, SR_CONN_IDLE_TIMEOUT,
	SR_CONN_ERROR, SR_CONN_SHUTDOWN,
	SR_BYTES_IN,          /* client -> upstream */
	SR_BYTES_OUT,         /* upstream -> client */
	SR_FIELD_COUNT
};
/* Server counters. */
enum {
	SS_CONNECTS, SS_CONNECT_FAILURES, SS_CONNECT_TIMEOUTS, SS_ACTIVE,
	SS_HEALTH_CHECKS, SS_HEALTH_FAILURES,
	SS_FIELD_COUNT
};
/* Process counters. */
enum {
	SP_RELOADS_OK, SP_RELOADS_FAILED, SP_GENERATION, SP_EMFILE,
	SP_FIELD_COUNT
};

/*
 * HTTP and TLS counters of a listener (the terminator's TLS handshakes, responses by status of
 * the terminator and of plain-HTTP listeners, their own and the upstreams' they forward).
 * Statuses outside the list count as "other".
 */
enum {
	ST_HANDSHAKES, ST_HANDSHAKE_FAILURES, ST_RESUMED,
	ST_STATUS_101, ST_STATUS_200, ST_STATUS_201, ST_STATUS_204, ST_STATUS_206, ST_STATUS_301,
	ST_STATUS_302, ST_STATUS_303, ST_STATUS_304, ST_STATUS_307, ST_STATUS_308, ST_STATUS_400,
	ST_STATUS_401, ST_STATUS_403, ST_STATUS_404,
	ST_STATUS_405, ST_STATUS_408, ST_STATUS_413, ST_STATUS_414, ST_STATUS_416, ST_STATUS_421,
	ST_STATUS_431, ST_STATUS_500, ST_STATUS_501, ST_STATUS_502, ST_STATUS_503, ST_STATUS_504,
	ST_STATUS_505, ST_STATUS_OTHER,
	ST_FIELD_COUNT
};

/* VPN counters of one VPN path (label path="..."): sessions, handshakes by result, flows
 * by result, payload bytes each way (in: client -> targets), /dns queries by result (the
 * order of enum vdns_result). */
enum {
	SV_SESSIONS_ACTIVE,   /* gauge */
	SV_HS_OK, SV_HS_UNKNOWN_CLIENT, SV_HS_REPLAY, SV_HS_BAD_HELLO, SV_HS_VERSION,
	SV_HS_TIMEOUT, SV_HS_LIMIT, SV_HS_REPLAY_FULL,
	SV_FLOWS_OK, SV_FLOWS_DENIED, SV_FLOWS_FAILED, SV_FLOWS_LIMIT,
	SV_BYTES_IN, SV_BYTES_OUT,
	SV_DNS_OK, SV_DNS_NXDOMAIN, SV_DNS_TIMEOUT, SV_DNS_BUSY, SV_DNS_ERROR,
	/* /tun (terminator/vpn/vtun.c): packets each way, drops by reason, refused sessions */
	SV_TUN_PKTS_IN, SV_TUN_PKTS_OUT,
	SV_TUN_DROP_SPOOF, SV_TUN_DROP_C2C, SV_TUN_DROP_EGRESS, SV_TUN_DROP_MALFORMED,
	SV_TUN_DROP_QUEUE, SV_TUN_DROP_NO_LEASE, SV_TUN_DROP_WRITE,
	SV_TUN_POOL_EXHAUSTED,
	SV_FLOW_STALLS,       /* /mux flows closed after vpn.flow_stall_timeout at zero credit */
	SV_FIELD_COUNT
};

/* The ST_STATUS_* counter of an HTTP status code. */
unsigned stats_http_status_field(int status);

struct stats_entry {
	enum stats_kind kind;
	char            labels[STATS_LABEL_MAX]; /* rendered: listener="a",route="b" */
	uint64_t       *w;                       /* workers x STATS_FIELDS_MAX counters */
	int64_t         gauge_up;                /* SS: 1 up, 0 down (written by one thread) */
};

/* Index of the main thread's own copy (health checks, reloads): one past the workers. */
extern unsigned stats_main;

/* Sets the number of workers; call once before any entry is created. Entries get one copy
 * per worker plus one for the main thread. */
int stats_init(unsigned workers);

/* Finds or creates the entry for kind+labels (main thread only). Never NULL: past the cap
 * every new label set shares one "overflow" entry of its kind. */
struct stats_entry *stats_entry(enum stats_kind kind, const char *labels);

/* This worker's counter array for an entry. */
static inline uint64_t *
stats_w(struct stats_entry *e, unsigned worker)
{
	return e->w + (size_t)worker * STATS_FIELDS_MAX;
}

/* Adds v to one counter of this worker's copy; single writer, so a relaxed store is enough
 * and readers on other threads see a torn-free value. */
static inline void
stats_add(struct stats_entry *e, unsigned worker, unsigned field, int64_t v)
{
	uint64_t *p = stats_w(e, worker) + field;
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + (uint64_t)v, __ATOMIC_RELAXED);
}

/* Sum of a counter over all workers (admin thread). */
uint64_t stats_sum(const struct stats_entry *e, unsigned field);

/* Writes every metric in Prometheus text exposition format 0.0.4, ending with the
 * per-worker families (switchyard_worker_*{worker="N"}, one line per worker thread),
 * switchyard_build_info and the process_* families (core/procstat.h). */
void stats_render(FILE *out);

/* Escapes a label value for the exposition format into out (cap bytes, NUL-terminated). */
void stats_escape(char *out, size_t cap, const char *in);

#endif
