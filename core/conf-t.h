/*
 * Types of the loaded configuration (DESIGN.md §3): what the router, the terminator and the
 * logging code read after core/conf.c has parsed and validated a YAML file. Everything here
 * is plain data, already checked: ranges hold, names are resolved, addresses are parsed,
 * relative paths are made absolute. Nothing here may ever point into the YAML parser's
 * memory; a struct conf owns all it points to and conf_free releases it in one go.
 */
#ifndef SY_CORE_CONF_T_H
#define SY_CORE_CONF_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Limits of the loader itself: a hostile file must not exhaust memory or stack. */
#define CONF_FILE_MAX          (1u << 20) /* bytes per YAML file */
#define CONF_TOTAL_MAX         (8u << 20) /* bytes over the main file and all its includes */
#define CONF_FILES_MAX         64         /* files loaded, main file included */
#define CONF_DEPTH_MAX         32         /* nesting of maps and lists in one file */
#define CONF_NODES_MAX         100000     /* YAML nodes over all files */
#define CONF_INCLUDE_DEPTH_MAX 8          /* main file is depth 0; depth 9 is an error */
#define CONF_NAME_MAX          64         /* listener and upstream names */
#define CONF_URL_PATH_MAX      256        /* vpn.path, site.health_path */
#define CONF_TUN_NAME_MAX      15         /* IFNAMSIZ - 1 */

/* Ranges of the values (inclusive). Durations are milliseconds, sizes bytes. */
#define CONF_WORKERS_MAX              256
#define CONF_MAX_CONNECTIONS_MAX      10000000u
#define CONF_MAX_CONNECTIONS_DEFAULT  65536u
#define CONF_SHUTDOWN_TIMEOUT_DEFAULT 30000u
#define CONF_SHUTDOWN_TIMEOUT_MAX     86400000u     /* 24h */
#define CONF_PREREAD_TIMEOUT_DEFAULT  5000u
#define CONF_PREREAD_TIMEOUT_MIN      100u
#define CONF_PREREAD_TIMEOUT_MAX      600000u       /* 10m */
#define CONF_PP_TIMEOUT_DEFAULT       3000u
#define CONF_PP_TIMEOUT_MIN           3000u         /* DESIGN.md §5: 3 s minimum */
#define CONF_PP_TIMEOUT_MAX           600000u
#define CONF_MAX_HELLO_DEFAULT        16384u
#define CONF_MAX_HELLO_MIN            1024u
#define CONF_MAX_HELLO_MAX            65536u
#define CONF_IDLE_TIMEOUT_DEFAULT     3600000u      /* 1h: VPN and WebSocket idle a lot */
#define CONF_IDLE_TIMEOUT_MIN         1000u
#define CONF_IDLE_TIMEOUT_MAX         604800000u    /* 7 days */
#define CONF_PREREAD_PER_IP_DEFAULT   32u
#define CONF_PREREAD_PER_IP_MAX       100000u
#define CONF_CONNS_PER_IP_DEFAULT     0u            /* max_connections_per_ip: 0 is off */
#define CONF_CONNS_PER_IP_MAX         CONF_MAX_CONNECTIONS_MAX
#define CONF_UPSTREAM_SERVERS_MAX     64            /* servers one upstream can balance over
                                                       (the bits of a per-connection mask) */
#define CONF_HTTPS_PORT_DEFAULT       443u
#define CONF_CONNECT_TIMEOUT_DEFAULT  5000u
#define CONF_CONNECT_TIMEOUT_MIN      100u
#define CONF_CONNECT_TIMEOUT_MAX      600000u
#define CONF_HC_INTERVAL_DEFAULT      10000u
#define CONF_HC_INTERVAL_MIN          100u
#define CONF_HC_INTERVAL_MAX          86400000u
#define CONF_HC_TIMEOUT_DEFAULT       2000u
#define CONF_HC_TIMEOUT_MIN           100u
#define CONF_HC_TIMEOUT_MAX           600000u
#define CONF_HC_RISE_DEFAULT          2u
#define CONF_HC_FALL_DEFAULT          3u
#define CONF_HC_COUNT_MAX             100u          /* rise and fall: 1..100 */
#define CONF_TUN_MTU_DEFAULT          1420u
#define CONF_TUN_MTU_MIN              576u
#define CONF_TUN_MTU_MAX              65535u
#define CONF_TUN_MTU_FRAME_MAX        8190u /* enabled: a packet fits one mux frame (§7.4) */
#define CONF_TUN_PREFIX_MIN           16   /* at most 65533 leases */
#define CONF_TUN_PREFIX_MAX           29   /* at least the .3 lease (and .4-.6) */
#define CONF_TUN_DNS_MAX              4    /* dns servers in the VirtualIp message */
#define CONF_VPN_PATH_DEFAULT         "/api/v1/ws"
#define CONF_VPN_REPLAY_DEFAULT       86400000u     /* 24h */
#define CONF_VPN_REPLAY_MIN           1000u         /* 1s */
#define CONF_VPN_REPLAY_MAX           604800000u    /* 7 days */
#define CONF_VPN_DNS_TIMEOUT_DEFAULT  5000u
#define CONF_VPN_DNS_TIMEOUT_MIN      100u
#define CONF_VPN_DNS_TIMEOUT_MAX      60000u
#define CONF_VPN_DNS_SERVERS_MAX      8
#define CONF_VPN_SESSIONS_DEFAULT     10000u
#define CONF_VPN_SESSIONS_MAX         1000000u
#define CONF_VPN_FLOWS_DEFAULT        256u
#define CONF_VPN_FLOWS_MAX            65535u
#define CONF_VPN_STALL_DEFAULT        60000u        /* §3.4: 60 s at zero credit */
#define CONF_VPN_STALL_MIN            100u
#define CONF_VPN_STALL_MAX            3600000u      /* 1h */
#define CONF_TUN_NAME_DEFAULT         "sy0"
#define CONF_TUN_ADDRESS_DEFAULT      "10.200.0.1/24"

/* A parsed listen/server address: ready for bind(2) or connect(2). */
struct conf_addr {
	struct sockaddr_storage ss;
	socklen_t               len;
};

/* A parsed CIDR: addr holds the network (AF_INET uses the first 4 bytes), prefix its length. */
struct conf_cidr {
	int     family;   /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;   /* 0..32 or 0..128 */
};

/* process: */
#define CONF_WORKERS_AUTO 0 /* workers: auto -> one per CPU, decided at start */
struct conf_process {
	unsigned  workers;          /* 1..CONF_WORKERS_MAX, or CONF_WORKERS_AUTO */
	char     *user;             /* NULL: do not drop privileges */
	char     *user_at;          /* "file:line:column" of user, for checks made after the
	                               load (switchyard -t: no such user) */
	uint32_t  max_connections;
	uint64_t  shutdown_timeout_ms;
};

/* log: */
enum conf_log_level { CONF_LOG_ERROR, CONF_LOG_WARN, CONF_LOG_INFO, CONF_LOG_DEBUG };
enum conf_log_access { CONF_ACCESS_STDERR, CONF_ACCESS_OFF, CONF_ACCESS_FILE };
enum conf_log_format { CONF_LOG_TEXT, CONF_LOG_JSON };
struct conf_log {
	enum conf_log_level  level;
	enum conf_log_access access;
	char                *access_path; /* absolute path when access == CONF_ACCESS_FILE */
	enum conf_log_format format;
	struct conf_cidr    *skip_from;   /* clients left out of the access log (still counted) */
	size_t               nskip_from;
};

/* admin: no admin listener unless enabled. */
struct conf_admin {
	bool             enabled;
	struct conf_addr listen;
};

/* One name or one-label wildcard of a route, normalised by hostname_pattern_normalize. */
struct conf_pattern {
	char   *name;     /* lowercased, no trailing dot; "*.example.com" when wildcard */
	size_t  len;
	bool    wildcard;
};

/*
 * What a route does. TLS listeners use UPSTREAM, TERMINATE, REJECT; HTTP listeners use
 * UPSTREAM, REDIRECT_HTTPS, SITE. The loader never mixes them up.
 */
enum conf_action {
	CONF_ACTION_UPSTREAM,
	CONF_ACTION_TERMINATE,
	CONF_ACTION_REJECT,
	CONF_ACTION_REDIRECT_HTTPS,
	CONF_ACTION_SITE
};

struct conf_upstream;

struct conf_route {
	struct conf_pattern  *patterns;  /* empty for the default route */
	size_t                npatterns;
	enum conf_action      action;
	size_t                upstream_index; /* into conf->upstreams, for CONF_ACTION_UPSTREAM */
	struct conf_upstream *upstream;       /* the same, as a pointer; NULL for other actions */
};

enum conf_listener_kind { CONF_LISTENER_TLS, CONF_LISTENER_HTTP };

struct conf_listener {
	char                   *name;
	struct conf_addr       *listen;
	size_t                  nlisten;
	enum conf_listener_kind kind;
	struct conf_cidr       *proxy_from;   /* proxy_protocol_from: PROXY header mandatory */
	size_t                  nproxy_from;
	uint64_t                preread_timeout_ms;
	uint64_t                proxy_protocol_timeout_ms;
	uint64_t                idle_timeout_ms;
	uint32_t                max_hello;    /* tls listeners */
	uint32_t                max_preread_per_ip;
	uint32_t                max_connections_per_ip; /* 0: off */
	uint16_t                https_port;   /* http listeners: target of redirect_https */
	struct conf_cidr       *trusted_forwarders; /* http listeners: X-Forwarded-For believed */
	size_t                  ntrusted_forwarders;
	struct conf_route      *routes;       /* in file order; the default route is not here */
	size_t                  nroutes;
	/*
	 * The fallback when no pattern matches. Without a `default:` entry has_default is
	 * false and default_route.action is CONF_ACTION_REJECT: a TLS alert for tls
	 * listeners, an error status for http listeners.
	 */
	bool                    has_default;
	struct conf_route       default_route;
};

/* upstreams: */
enum conf_proxy_protocol { CONF_PP_OFF, CONF_PP_V1, CONF_PP_V2 };
enum conf_balance {
	CONF_BALANCE_ROUND_ROBIN,
	CONF_BALANCE_RANDOM,
	CONF_BALANCE_SOURCE,
	CONF_BALANCE_LEAST_CONN
};
struct conf_health {
	bool     enabled;      /* health_check present */
	uint64_t interval_ms;
	uint64_t timeout_ms;   /* never above interval_ms */
	unsigned rise;
	unsigned fall;
};
struct conf_upstream {
	char                    *name;
	struct conf_addr        *servers;
	size_t                   nservers;
	enum conf_proxy_protocol proxy_protocol;
	enum conf_balance        balance;
	uint64_t                 connect_timeout_ms;
	bool                     fast_open; /* TCP_FASTOPEN_CONNECT (kind: tls passthrough) */
	struct conf_health       health;
};

/* terminator: */
struct conf_cert {
	char *cert;   /* absolute paths; existence is checked by the terminator at start */
	char *key;
};
struct conf_site {
	char *root;         /* NULL when not configured */
	char *health_path;  /* NULL: off; otherwise starts with '/' */
};

/* Named egress ranges (a bit each); the terminator expands them into address ranges. */
#define CONF_RANGE_LOOPBACK  (1u << 0) /* 127.0.0.0/8, ::1/128 */
#define CONF_RANGE_PRIVATE   (1u << 1) /* 10/8, 172.16/12, 192.168/16, fc00::/7 */
#define CONF_RANGE_LINK_LOCAL (1u << 2) /* 169.254/16, fe80::/10 */
#define CONF_RANGE_CGNAT     (1u << 3) /* 100.64.0.0/10 */
#define CONF_RANGE_MULTICAST (1u << 4) /* 224/4, ff00::/8 */
#define CONF_RANGE_RESERVED  (1u << 5) /* 0/8, 240/4, documentation, benchmarking, ... */
#define CONF_RANGE_UNSPECIFIED (1u << 6) /* 0.0.0.0/32, ::/128 */
#define CONF_RANGE_ALL       0x7fu

struct conf_egress {
	unsigned          deny_ranges; /* CONF_RANGE_* bits */
	struct conf_cidr *deny;        /* explicit CIDRs */
	size_t            ndeny;
	struct conf_cidr *allow;       /* allow wins over deny */
	size_t            nallow;
};
struct conf_tun {
	bool              enabled;
	char              name[CONF_TUN_NAME_MAX + 1];
	struct conf_cidr  address;     /* interface address: host bits are kept */
	uint32_t          mtu;
	struct conf_addr *dns;         /* port 53 */
	size_t            ndns;
	bool              client_to_client;
};
struct conf_vpn_dns {
	struct conf_addr *servers;     /* none: /etc/resolv.conf */
	size_t            nservers;
	uint64_t          timeout_ms;
};
struct conf_vpn {
	bool               enabled;    /* terminator.vpn present */
	char              *path;
	char              *identity_key;
	char              *prekey_bundle;
	char              *clients;    /* NULL only when open */
	bool               open;
	uint64_t           replay_window_ms;
	char              *state_dir;  /* NULL: the replay cache lives in memory only */
	struct conf_egress egress;
	struct conf_vpn_dns dns;
	uint64_t           max_sessions;
	uint64_t           max_flows;  /* per session */
	uint64_t           flow_stall_ms; /* /mux: zero credit with target bytes waiting this long closes the flow */
	struct conf_tun    tun;
};
struct conf_terminator {
	struct conf_cert *certificates;
	size_t            ncertificates;
	uint16_t          tls_min_version; /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
	bool              alpn_http11;     /* offer "http/1.1" by ALPN */
	struct conf_site  site;
	struct conf_vpn   vpn;
};

struct conf_arena;

/* The whole configuration. Arrays are never reallocated after conf_load returns. */
struct conf {
	struct conf_process     process;
	struct conf_log         log;
	struct conf_admin       admin;
	struct conf_listener   *listeners;
	size_t                  nlisteners;
	struct conf_upstream   *upstreams;  /* in file order */
	size_t                  nupstreams;
	struct conf_terminator  terminator;
	struct conf_arena      *arena;      /* owns every pointer above */
};

#endif
