/*
 * Metrics registry and Prometheus rendering (see stats.h). Workers only ever add to their
 * own copy of a counter; this file's render path only reads. Nothing here may take a lock
 * that a worker could wait on.
 */
#include "core/stats.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/pad.h"
#include "core/procstat.h"

_Static_assert(STATS_FIELDS_MAX * sizeof(uint64_t) % PAD_LINE == 0,
    "a worker's copy of an entry spans whole cache lines");

static unsigned stats_workers; /* copies per entry: workers + the main thread */
unsigned stats_main;
static struct stats_entry *stats_entries[STATS_ENTRIES_MAX];
static size_t stats_nentries;
static struct stats_entry *stats_overflow[STATS_KIND_COUNT];

/* Sets the worker count; entries are sized by it. */
int
stats_init(unsigned workers)
{
	if (workers == 0 || stats_workers != 0)
		return -1;
	stats_workers = workers + 1;
	stats_main = workers;
	return 0;
}

/* Allocates a zeroed entry. */
static struct stats_entry *
stats_new(enum stats_kind kind, const char *labels)
{
	struct stats_entry *e = calloc(1, sizeof *e);
	if (e == NULL)
		abort(); /* allocation failure policy: at configuration time, fatal */
	/* Each copy is STATS_FIELDS_MAX * 8 = 512 bytes, a whole number of cache lines; aligned,
	 * no two workers' copies share a line whatever fields a kind uses (with calloc's 16-byte
	 * alignment a copy's first line also held the previous copy's last two fields). */
	e->w = pad_calloc((size_t)stats_workers, STATS_FIELDS_MAX * sizeof *e->w);
	if (e->w == NULL)
		abort();
	e->kind = kind;
	snprintf(e->labels, sizeof e->labels, "%s", labels);
	e->gauge_up = 1;
	return e;
}

/* Finds or creates an entry by kind and rendered labels (main thread only). */
struct stats_entry *
stats_entry(enum stats_kind kind, const char *labels)
{
	for (size_t i = 0; i < stats_nentries; i++)
		if (stats_entries[i]->kind == kind && strcmp(stats_entries[i]->labels, labels) == 0)
			return stats_entries[i];
	if (stats_nentries == STATS_ENTRIES_MAX) {
		if (stats_overflow[kind] == NULL)
			stats_overflow[kind] = stats_new(kind, "overflow=\"true\"");
		return stats_overflow[kind];
	}
	struct stats_entry *e = stats_new(kind, labels);
	stats_entries[stats_nentries++] = e;
	return e;
}

/* Sums one counter over all workers. */
uint64_t
stats_sum(const struct stats_entry *e, unsigned field)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < stats_workers; w++)
		s += __atomic_load_n(&e->w[(size_t)w * STATS_FIELDS_MAX + field], __ATOMIC_RELAXED);
	return s;
}

/* Escapes backslash, double quote and newline as the exposition format requires. */
void
stats_escape(char *out, size_t cap, const char *in)
{
	size_t o = 0;
	for (; *in != '\0' && o + 3 < cap; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* One metric: a field of one kind, with the extra label it adds (may be NULL). */
struct stats_metric {
	enum stats_kind kind;
	unsigned        field;
	const char     *name;
	const char     *type;
	const char     *help;
	const char     *extra;   /* e.g. reason="not_tls" */
};

#define SM(k, f, n, t, h, x) { k, f, n, t, h, x }
static const struct stats_metric stats_metrics[] = {
	SM(STATS_LISTENER, SL_ACCEPTED, "switchyard_accepted_connections_total", "counter",
	    "Connections accepted by a listener.", NULL),
	SM(STATS_LISTENER, SL_ACTIVE, "switchyard_active_connections", "gauge",
	    "Connections open now.", NULL),
	SM(STATS_LISTENER, SL_PREREAD, "switchyard_preread_connections", "gauge",
	    "Connections still in PROXY or ClientHello pre-read.", NULL),
	SM(STATS_LISTENER, SL_REJECT_MAXCONN, "switchyard_limit_rejects_total", "counter",
	    "Connections closed at accept by a limit.", "limit=\"max_connections\""),
	SM(STATS_LISTENER, SL_REJECT_PER_IP, "switchyard_limit_rejects_total", "counter",
	    NULL, "limit=\"max_preread_per_ip\""),
	SM(STATS_LISTENER, SL_REJECT_CONN_PER_IP, "switchyard_limit_rejects_total", "counter",
	    NULL, "limit=\"max_connections_per_ip\""),
	SM(STATS_LISTENER, SL_ACCEPT_ERRORS, "switchyard_accept_errors_total", "counter",
	    "accept(2) failures (EMFILE and the like).", NULL),
	SM(STATS_LISTENER, SL_HELLO_NOT_TLS, "switchyard_hello_failures_total", "counter",
	    "ClientHello pre-reads that did not yield a routable name, by reason.", "reason=\"not_tls\""),
	SM(STATS_LISTENER, SL_HELLO_SSLV2, "switchyard_hello_failures_total", "counter", NULL, "reason=\"sslv2\""),
	SM(STATS_LISTENER, SL_HELLO_TOO_LARGE, "switchyard_hello_failures_total", "counter", NULL, "reason=\"too_large\""),
	SM(STATS_LISTENER, SL_HELLO_MALFORMED, "switchyard_hello_failures_total", "counter", NULL, "reason=\"malformed\""),
	SM(STATS_LISTENER, SL_HELLO_TIMEOUT, "switchyard_hello_failures_total", "counter", NULL, "reason=\"timeout\""),
	SM(STATS_LISTENER, SL_HELLO_CLOSED, "switchyard_hello_failures_total", "counter", NULL, "reason=\"closed\""),
	SM(STATS_LISTENER, SL_HELLO_BAD_SNI, "switchyard_hello_failures_total", "counter", NULL, "reason=\"bad_sni\""),
	SM(STATS_LISTENER, SL_HELLO_NO_SNI, "switchyard_hello_failures_total", "counter", NULL, "reason=\"no_sni\""),
	SM(STATS_LISTENER, SL_HELLO_NO_ROUTE, "switchyard_hello_failures_total", "counter", NULL, "reason=\"no_route\""),
	SM(STATS_LISTENER, SL_PROXY_MISSING, "switchyard_proxy_rejects_total", "counter",
	    "Connections from proxy_protocol_from peers refused for their PROXY header, by reason.",
	    "reason=\"missing\""),
	SM(STATS_LISTENER, SL_PROXY_INVALID, "switchyard_proxy_rejects_total", "counter", NULL, "reason=\"invalid\""),
	SM(STATS_LISTENER, SL_PROXY_TIMEOUT, "switchyard_proxy_rejects_total", "counter", NULL, "reason=\"timeout\""),
	SM(STATS_LISTENER, SL_PROXY_UNSUPPORTED, "switchyard_proxy_rejects_total", "counter", NULL, "reason=\"unsupported\""),
	SM(STATS_LISTENER, SL_PROXY_CLOSED, "switchyard_proxy_rejects_total", "counter", NULL, "reason=\"closed\""),
	SM(STATS_ROUTE, SR_CONN_OK, "switchyard_connections_total", "counter",
	    "Connections at close, by listener, route and result.", "result=\"ok\""),
	SM(STATS_ROUTE, SR_CONN_REJECTED, "switchyard_connections_total", "counter", NULL, "result=\"rejected\""),
	SM(STATS_ROUTE, SR_CONN_UPSTREAM_FAILED, "switchyard_connections_total", "counter", NULL, "result=\"upstream_failed\""),
	SM(STATS_ROUTE, SR_CONN_IDLE_TIMEOUT, "switchyard_connections_total", "counter", NULL, "result=\"idle_timeout\""),
	SM(STATS_ROUTE, SR_CONN_ERROR, "switchyard_connections_total", "counter", NULL, "result=\"error\""),
	SM(STATS_ROUTE, SR_CONN_SHUTDOWN, "switchyard_connections_total", "counter", NULL, "result=\"shutdown\""),
	SM(STATS_ROUTE, SR_BYTES_IN, "switchyard_bytes_total", "counter",
	    "Bytes relayed, by direction (in: client to upstream).", "direction=\"in\""),
	SM(STATS_ROUTE, SR_BYTES_OUT, "switchyard_bytes_total", "counter", NULL, "direction=\"out\""),
	SM(STATS_SERVER, SS_CONNECTS, "switchyard_upstream_connects_total", "counter",
	    "Upstream connections established.", NULL),
	SM(STATS_SERVER, SS_CONNECT_FAILURES, "switchyard_upstream_connect_failures_total", "counter",
	    "Upstream connect attempts that failed, by reason.", "reason=\"error\""),
	SM(STATS_SERVER, SS_CONNECT_TIMEOUTS, "switchyard_upstream_connect_failures_total", "counter",
	    NULL, "reason=\"timeout\""),
	SM(STATS_SERVER, SS_ACTIVE, "switchyard_upstream_active_connections", "gauge",
	    "Connections open to an upstream server now.", NULL),
	SM(STATS_SERVER, SS_HEALTH_CHECKS, "switchyard_health_checks_total", "counter",
	    "Active health checks run.", NULL),
	SM(STATS_SERVER, SS_HEALTH_FAILURES, "switchyard_health_check_failures_total", "counter",
	    "Active health checks that failed.", NULL),
	SM(STATS_PROCESS, SP_RELOADS_OK, "switchyard_reloads_total", "counter",
	    "Configuration reloads, by result.", "result=\"ok\""),
	SM(STATS_PROCESS, SP_RELOADS_FAILED, "switchyard_reloads_total", "counter", NULL, "result=\"failed\""),
	SM(STATS_PROCESS, SP_GENERATION, "switchyard_config_generation", "gauge",
	    "Generation of the configuration in force (1 at start, +1 per successful reload).", NULL),
	SM(STATS_PROCESS, SP_EMFILE, "switchyard_accept_backoffs_total", "counter",
	    "Times accepting paused because the process ran out of file descriptors.", NULL),
	SM(STATS_HTTP, ST_HANDSHAKES, "switchyard_tls_handshakes_total", "counter",
	    "TLS handshakes of the in-process terminator, by result.", "result=\"ok\""),
	SM(STATS_HTTP, ST_RESUMED, "switchyard_tls_handshakes_total", "counter", NULL, "result=\"resumed\""),
	SM(STATS_HTTP, ST_HANDSHAKE_FAILURES, "switchyard_tls_handshakes_total", "counter", NULL,
	    "result=\"failed\""),
#define SM_STATUS(code, first) SM(STATS_HTTP, ST_STATUS_##code, "switchyard_http_responses_total", \
	"counter", first ? "HTTP responses sent to clients (switchyard's own and forwarded), by status." : NULL, \
	"status=\"" #code "\"")
	SM_STATUS(101, 1), SM_STATUS(200, 0), SM_STATUS(201, 0), SM_STATUS(204, 0), SM_STATUS(206, 0),
	SM_STATUS(301, 0), SM_STATUS(302, 0), SM_STATUS(303, 0), SM_STATUS(304, 0), SM_STATUS(307, 0),
	SM_STATUS(308, 0), SM_STATUS(400, 0), SM_STATUS(401, 0), SM_STATUS(403, 0),
	SM_STATUS(404, 0), SM_STATUS(405, 0), SM_STATUS(408, 0), SM_STATUS(413, 0), SM_STATUS(414, 0),
	SM_STATUS(416, 0), SM_STATUS(421, 0), SM_STATUS(431, 0), SM_STATUS(500, 0), SM_STATUS(501, 0),
	SM_STATUS(502, 0), SM_STATUS(503, 0), SM_STATUS(504, 0), SM_STATUS(505, 0),
	SM(STATS_HTTP, ST_STATUS_OTHER, "switchyard_http_responses_total", "counter", NULL,
	    "status=\"other\""),
	SM(STATS_VPN, SV_SESSIONS_ACTIVE, "switchyard_vpn_sessions_active", "gauge",
	    "VPN sessions open now.", NULL),
#define SM_HS(f, r, first) SM(STATS_VPN, f, "switchyard_vpn_handshakes_total", "counter", \
	first ? "VPN handshakes by result." : NULL, "result=\"" r "\"")
	SM_HS(SV_HS_OK, "ok", 1), SM_HS(SV_HS_UNKNOWN_CLIENT, "unknown_client", 0),
	SM_HS(SV_HS_REPLAY, "replay", 0), SM_HS(SV_HS_BAD_HELLO, "bad_hello", 0),
	SM_HS(SV_HS_VERSION, "version", 0), SM_HS(SV_HS_TIMEOUT, "timeout", 0),
	SM_HS(SV_HS_LIMIT, "limit", 0), SM_HS(SV_HS_REPLAY_FULL, "replay_full", 0),
#undef SM_HS
#define SM_FL(f, r, first) SM(STATS_VPN, f, "switchyard_vpn_flows_total", "counter", \
	first ? "VPN flows (outbound connections) by result." : NULL, "result=\"" r "\"")
	SM_FL(SV_FLOWS_OK, "ok", 1), SM_FL(SV_FLOWS_DENIED, "denied", 0),
	SM_FL(SV_FLOWS_FAILED, "failed", 0), SM_FL(SV_FLOWS_LIMIT, "limit", 0),
#undef SM_FL
	SM(STATS_VPN, SV_BYTES_IN, "switchyard_vpn_bytes_total", "counter",
	    "VPN payload bytes (in: from clients to targets).", "direction=\"in\""),
	SM(STATS_VPN, SV_BYTES_OUT, "switchyard_vpn_bytes_total", "counter", NULL,
	    "direction=\"out\""),
#define SM_DNS(f, r, first) SM(STATS_VPN, f, "switchyard_vpn_dns_queries_total", "counter", \
	first ? "VPN /dns queries by result." : NULL, "result=\"" r "\"")
	SM_DNS(SV_DNS_OK, "ok", 1), SM_DNS(SV_DNS_NXDOMAIN, "nxdomain", 0),
	SM_DNS(SV_DNS_TIMEOUT, "timeout", 0), SM_DNS(SV_DNS_BUSY, "busy", 0),
	SM_DNS(SV_DNS_ERROR, "error", 0),
#undef SM_DNS
	SM(STATS_VPN, SV_TUN_PKTS_IN, "switchyard_vpn_tun_packets_total", "counter",
	    "/tun IP packets relayed (in: from clients to the TUN device).", "direction=\"in\""),
	SM(STATS_VPN, SV_TUN_PKTS_OUT, "switchyard_vpn_tun_packets_total", "counter", NULL,
	    "direction=\"out\""),
#define SM_TD(f, r, first) SM(STATS_VPN, f, "switchyard_vpn_tun_dropped_total", "counter", \
	first ? "/tun IP packets dropped by reason." : NULL, "reason=\"" r "\"")
	SM_TD(SV_TUN_DROP_SPOOF, "spoofed_source", 1), SM_TD(SV_TUN_DROP_C2C, "client_to_client", 0),
	SM_TD(SV_TUN_DROP_EGRESS, "egress_denied", 0), SM_TD(SV_TUN_DROP_MALFORMED, "malformed", 0),
	SM_TD(SV_TUN_DROP_QUEUE, "queue_full", 0), SM_TD(SV_TUN_DROP_NO_LEASE, "no_session", 0),
	SM_TD(SV_TUN_DROP_WRITE, "device_busy", 0),
#undef SM_TD
	SM(STATS_VPN, SV_TUN_POOL_EXHAUSTED, "switchyard_vpn_tun_pool_exhausted_total", "counter",
	    "/tun sessions refused because every address was held by a live session.", NULL),
	SM(STATS_VPN, SV_FLOW_STALLS, "switchyard_vpn_flow_stalls_total", "counter",
	    "VPN /mux flows closed because the client granted no credit for vpn.flow_stall_timeout while target bytes waited.", NULL),
#undef SM_STATUS
};

/* Maps a status code to its counter; a switch keeps it branch-cheap and obvious. */
unsigned
stats_http_status_field(int status)
{
	switch (status) {
	case 101: return ST_STATUS_101;
	case 200: return ST_STATUS_200;
	case 201: return ST_STATUS_201;
	case 204: return ST_STATUS_204;
	case 206: return ST_STATUS_206;
	case 301: return ST_STATUS_301;
	case 302: return ST_STATUS_302;
	case 303: return ST_STATUS_303;
	case 304: return ST_STATUS_304;
	case 307: return ST_STATUS_307;
	case 308: return ST_STATUS_308;
	case 400: return ST_STATUS_400;
	case 401: return ST_STATUS_401;
	case 403: return ST_STATUS_403;
	case 404: return ST_STATUS_404;
	case 405: return ST_STATUS_405;
	case 408: return ST_STATUS_408;
	case 413: return ST_STATUS_413;
	case 414: return ST_STATUS_414;
	case 416: return ST_STATUS_416;
	case 421: return ST_STATUS_421;
	case 431: return ST_STATUS_431;
	case 500: return ST_STATUS_500;
	case 501: return ST_STATUS_501;
	case 502: return ST_STATUS_502;
	case 503: return ST_STATUS_503;
	case 504: return ST_STATUS_504;
	case 505: return ST_STATUS_505;
	default:  return ST_STATUS_OTHER;
	}
}

/* Writes "name{labels,extra} value" with the right comma placement. */
static void
stats_line(FILE *out, const char *name, const char *labels, const char *extra, long long v)
{
	int has_l = labels[0] != '\0', has_x = extra != NULL;
	fprintf(out, "%s%s%s%s%s%s %lld\n", name, has_l || has_x ? "{" : "", labels,
	    has_l && has_x ? "," : "", has_x ? extra : "", has_l || has_x ? "}" : "", v);
}

/* Writes switchyard_build_info: the versions this process runs with (the libraries' as
 * loaded at run time, which may differ from the headers it was built against). No commit
 * label: a value baked in at configure time would go stale between builds. */
static void
stats_render_build_info(FILE *out)
{
	char ssl[64], ev[64];
	stats_escape(ssl, sizeof ssl, OpenSSL_version(OPENSSL_VERSION_STRING));
	stats_escape(ev, sizeof ev, event_get_version());
	fprintf(out, "# HELP switchyard_build_info Versions of switchyard and of the libraries it runs "
	    "with; the value is always 1.\n# TYPE switchyard_build_info gauge\n"
	    "switchyard_build_info{version=\"%s\",openssl=\"%s\",libevent=\"%s\"} 1\n",
	    SY_VERSION, ssl, ev);
}

/* Sum of one listener counter over every listener entry (and the overflow one), in one
 * worker's copy only. */
static uint64_t
stats_worker_sum(unsigned worker, unsigned field)
{
	uint64_t s = 0;
	for (size_t j = 0; j < stats_nentries; j++)
		if (stats_entries[j]->kind == STATS_LISTENER)
			s += __atomic_load_n(stats_w(stats_entries[j], worker) + field, __ATOMIC_RELAXED);
	if (stats_overflow[STATS_LISTENER] != NULL)
		s += __atomic_load_n(stats_w(stats_overflow[STATS_LISTENER], worker) + field,
		    __ATOMIC_RELAXED);
	return s;
}

/* Writes the per-worker families: connections each worker accepted, and holds now, over all
 * listeners. Read from the copies the workers keep anyway (no counter of their own, nothing
 * more on the data path); they show how evenly SO_REUSEPORT spreads connections. */
static void
stats_render_workers(FILE *out)
{
	static const struct { unsigned field; const char *name, *type, *help; } fams[] = {
		{ SL_ACCEPTED, "switchyard_worker_accepted_connections_total", "counter",
		  "Connections accepted by each worker thread, over all listeners." },
		{ SL_ACTIVE, "switchyard_worker_active_connections", "gauge",
		  "Connections each worker thread holds now, over all listeners." },
	};
	for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", fams[i].name, fams[i].help,
		    fams[i].name, fams[i].type);
		for (unsigned w = 0; w < stats_main; w++)
			fprintf(out, "%s{worker=\"%u\"} %lld\n", fams[i].name, w,
			    (long long)stats_worker_sum(w, fams[i].field));
	}
}

/* Renders all metrics; HELP/TYPE once per family, families contiguous. */
void
stats_render(FILE *out)
{
	size_t n = sizeof stats_metrics / sizeof stats_metrics[0];
	for (size_t i = 0; i < n; i++) {
		const struct stats_metric *m = &stats_metrics[i];
		if (m->help != NULL)
			fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
		for (size_t j = 0; j < stats_nentries; j++) {
			struct stats_entry *e = stats_entries[j];
			if (e->kind == m->kind)
				stats_line(out, m->name, e->labels, m->extra, (long long)stats_sum(e, m->field));
		}
		if (stats_overflow[m->kind] != NULL)
			stats_line(out, m->name, stats_overflow[m->kind]->labels, m->extra,
			    (long long)stats_sum(stats_overflow[m->kind], m->field));
	}
	fputs("# HELP switchyard_upstream_up Health of an upstream server (1 up, 0 down).\n"
	      "# TYPE switchyard_upstream_up gauge\n", out);
	for (size_t j = 0; j < stats_nentries; j++)
		if (stats_entries[j]->kind == STATS_SERVER)
			stats_line(out, "switchyard_upstream_up", stats_entries[j]->labels, NULL,
			    (long long)__atomic_load_n(&stats_entries[j]->gauge_up, __ATOMIC_RELAXED));
	stats_render_workers(out);
	stats_render_build_info(out);
	procstat_render(out);
}
