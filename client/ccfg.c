/*
 * switchyard-client's options: the command-line flags and the small YAML file of -c with
 * the same names (flags win), the wss:// URL split into host, port and /mux (or, with
 * --tun, /tun) path, and the --help text. YAML through libyaml's event parser: one mapping
 * of scalar values (tun-route may also be a list); an unknown key or another non-scalar is
 * an error naming file:line:column and the key.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "client/client.h"
#include "core/conf-t.h"
#include "core/confval.h"

const char ccfg_help[] =
"NAME\n"
"    switchyard-client - local SOCKS5 / HTTP CONNECT proxy and full tunnel over a\n"
"    switchyard VPN\n"
"\n"
"SYNOPSIS\n"
"    switchyard-client --server wss://HOST[:PORT]/api/v1/ws --identity FILE --bundle FILE\n"
"                      [--cafile FILE] [--connect IP:PORT] [--known-hosts FILE]\n"
"                      [--socks ADDR:PORT] [--http ADDR:PORT] [--log-level LEVEL]\n"
"                      [--tun [--tun-name NAME] [--tun-route CIDR]...]\n"
"    switchyard-client -c FILE [flags]\n"
"    switchyard-client keygen -o FILE [--force]\n"
"    switchyard-client --help\n"
"\n"
"DESCRIPTION\n"
"    Opens one VPN session (rvpn-protocol.md, the /mux path) to a switchyard or r-vpn\n"
"    server over TLS 1.3 and WebSocket, and serves local apps through it: every SOCKS5\n"
"    CONNECT or HTTP CONNECT request becomes one flow of that session. The reply to the\n"
"    app carries the real outcome: the server's FlowCreated gives SOCKS 00 / HTTP 200,\n"
"    its FlowFailed the SOCKS code that fits (02 denied, 04 host unreachable, 05 refused,\n"
"    01 otherwise) / HTTP 502. Flow control follows the protocol: 256 KiB of credit each\n"
"    way per flow, WindowUpdates as the local app takes the bytes. An encrypted Ping goes\n"
"    out every 3-7 s; 21 s without a message from the server ends the session. A dropped\n"
"    session is reopened with exponential backoff (250 ms doubling to 30 s, jittered);\n"
"    its local connections are closed, new ones wait for the next session (15 s at most).\n"
"\n"
"OPTIONS\n"
"    --server wss://HOST[:PORT]/PATH\n"
"        The server's VPN URL (PORT 443 by default; HOST may be [IPv6]). The session\n"
"        uses PATH/mux. HOST is the TLS SNI, the name the certificate must match and\n"
"        the Host header.\n"
"    --identity FILE\n"
"        This client's identity file (R-VPN-IDENTITY-v1, as `keygen` writes it). Its\n"
"        X25519 key is what the server's vpn.clients must list.\n"
"    --bundle FILE\n"
"        The server's prekey bundle (prekey-bundle.json). Its signature is checked at\n"
"        start; the server must present the bundle's identity key.\n"
"    --cafile FILE\n"
"        Trust the CA certificates in FILE (PEM) instead of the system store.\n"
"    --connect IP:PORT\n"
"        Dial this address instead of resolving HOST; SNI and Host stay HOST.\n"
"        Without it, HOST is resolved (/etc/hosts, then DNS; A and AAAA) and every\n"
"        address is tried as RFC 8305 (Happy Eyeballs) describes: the first 8, the\n"
"        families alternating, the next one 250 ms after the last while none has\n"
"        answered (at once when one fails), at most 4 at once, 5 s in all; the first\n"
"        TCP connection wins and TLS runs on it. Each failed address is logged with\n"
"        its error; when none connects, one error lists them all.\n"
"    --known-hosts FILE\n"
"        Pin the server's identity (rvpn-protocol.md §4.3): a JSON object\n"
"        {\"host:port\": \"ik:1:...\"}. The first session writes the pin (mode 0600);\n"
"        later a different identity is refused with both pins named, and the client\n"
"        exits with status 3.\n"
"    --socks ADDR:PORT\n"
"        SOCKS5 listener (CONNECT only, no authentication; IPv4, IPv6 and domain\n"
"        names). Default 127.0.0.1:1080 when neither --socks nor --http is given.\n"
"    --http ADDR:PORT\n"
"        HTTP CONNECT listener: `CONNECT host:port HTTP/1.1` gets 200 and a tunnel,\n"
"        502 when the flow fails, 400 for a bad request, 405 for another method; the\n"
"        request head is limited to 8 KiB (431).\n"
"    --log-level error|warn|info|debug\n"
"        Default info: one line per local connection at its close.\n"
"    --tun\n"
"        Linux, CAP_NET_ADMIN: a full tunnel over PATH/tun instead of PATH/mux. The\n"
"        server's first message, VirtualIp (within 5 s), gives the lease, gateway and\n"
"        MTU; the client makes a TUN device with the lease in its /24, so that subnet\n"
"        and the gateway go through the tunnel, one IP packet per message each way.\n"
"        The default route is never changed; --tun-route adds more. The device stays\n"
"        across reconnects (the lease is sticky) and goes at exit. The VirtualIp's DNS\n"
"        servers are logged, not applied. No SOCKS/HTTP listener unless asked for.\n"
"    --tun-name NAME\n"
"        The device's name (default sytun0, at most 15 characters).\n"
"    --tun-route CIDR\n"
"        Also route this IPv4 CIDR through the device (repeatable, at most 32), e.g.\n"
"        --tun-route 0.0.0.0/1 --tun-route 128.0.0.0/1 for everything (keep the\n"
"        server itself reachable outside the tunnel then).\n"
"    -c FILE\n"
"        Read the options from a YAML mapping with the same names (server, identity,\n"
"        bundle, cafile, connect, known-hosts, socks, http, log-level, tun (true or\n"
"        false), tun-name, tun-route (a list)); flags given on\n"
"        the command line win.\n"
"\n"
"    keygen -o FILE [--force]\n"
"        Make a new identity and write it to FILE (mode 0600; an existing FILE is kept\n"
"        unless --force), then print its public forms; give the x25519_hex line to the\n"
"        server's operator for vpn.clients. Same code and format as `switchyard keygen`.\n"
"\n"
"EXIT STATUS\n"
"    0 stopped by SIGINT/SIGTERM; 1 a file or listener unusable; 2 bad usage or\n"
"    configuration; 3 the server's identity is not the pinned or bundled one.\n"
"\n"
"EXAMPLE\n"
"    switchyard-client --server wss://vpn.example.com/api/v1/ws --identity me.key \\\n"
"        --bundle prekey-bundle.json --known-hosts ~/.config/switchyard/known_hosts.json\n"
"    curl --socks5-hostname 127.0.0.1:1080 https://example.org/\n";

/* The option names, shared by the flags and the YAML keys; the string-valued ones first,
 * then tun (a boolean) and tun-route (repeatable: a list in YAML). */
static const char *const ccfg_names[] = { "server", "identity", "bundle", "cafile", "connect",
	"known-hosts", "socks", "http", "log-level", "tun-name", "tun", "tun-route" };
#define CCFG_TUN   10u /* options 0..10 are strings (tun keeps its text) */
#define CCFG_ROUTE 11u
#define CCFG_NOPTS (sizeof ccfg_names / sizeof ccfg_names[0])

/* The slot of option i in c. */
static char **
ccfg_slot(struct ccfg *c, size_t i)
{
	char **slots[CCFG_NOPTS] = { &c->server, &c->identity, &c->bundle, &c->cafile, &c->connect,
		&c->known_hosts, &c->socks, &c->http, &c->log_level, &c->tun_name, &c->tun_s, NULL };
	return slots[i];
}

/* Adds one --tun-route CIDR (IPv4; at most CLIENT_TUN_ROUTES_MAX). 0 or -1 (printed). */
static int
ccfg_route(struct ccfg *c, const char *v)
{
	char why[128] = "";
	struct conf_cidr r = { .family = AF_INET };
	if (confval_cidr(v, &r, why, sizeof why) != 0 || r.family != AF_INET) {
		fprintf(stderr, "switchyard-client: tun-route %s: wants an IPv4 CIDR (%s)\n", v,
		    r.family != AF_INET ? "IPv4 only" : why);
		return -1;
	}
	if (c->ntun_routes == CLIENT_TUN_ROUTES_MAX) {
		fprintf(stderr, "switchyard-client: tun-route: at most %u routes\n",
		    CLIENT_TUN_ROUTES_MAX);
		return -1;
	}
	c->tun_routes[c->ntun_routes++] = r;
	return 0;
}

/* Sets option i to v unless already set (flags are read first and win); tun-route
 * appends. */
static int
ccfg_set(struct ccfg *c, size_t i, const char *v, bool over)
{
	if (i == CCFG_ROUTE)
		return ccfg_route(c, v);
	char **p = ccfg_slot(c, i);
	if (*p != NULL && !over)
		return 0;
	free(*p);
	*p = strdup(v);
	return *p == NULL ? -1 : 0;
}

/* Reads the YAML file: one mapping of option names to scalars. Returns 0 or -1. */
static int
ccfg_yaml(struct ccfg *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = -1, depth = 0;
	char key[64] = "";
	bool have_key = false, done = false, in_seq = false, routes_from_flags = c->ntun_routes > 0;

	if (f == NULL) {
		fprintf(stderr, "switchyard-client: %s: cannot open\n", path);
		return -1;
	}
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			fprintf(stderr, "switchyard-client: %s:%zu:%zu: %s\n", path,
			    p.problem_mark.line + 1, p.problem_mark.column + 1, p.problem);
			goto out;
		}
		size_t line = ev.start_mark.line + 1, col = ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
			if (++depth > 1) {
				fprintf(stderr, "switchyard-client: %s:%zu:%zu: %s: wants a single value\n",
				    path, line, col, key);
				goto fail_ev;
			}
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (have_key && !in_seq && strcmp(key, "tun-route") == 0) {
				in_seq = true;
				break;
			}
			fprintf(stderr, "switchyard-client: %s:%zu:%zu: %s: wants a single value\n", path,
			    line, col, have_key ? key : "(top)");
			goto fail_ev;
		case YAML_SEQUENCE_END_EVENT:
			in_seq = have_key = false;
			break;
		case YAML_SCALAR_EVENT: {
			const char *v = (const char *)ev.data.scalar.value;
			if (in_seq) {
				if (!routes_from_flags && ccfg_route(c, v) != 0)
					goto fail_ev;
				break;
			}
			if (depth != 1) {
				fprintf(stderr, "switchyard-client: %s:%zu:%zu: wants a mapping of options\n",
				    path, line, col);
				goto fail_ev;
			}
			if (!have_key) {
				snprintf(key, sizeof key, "%s", v);
				have_key = true;
				break;
			}
			have_key = false;
			size_t i;
			for (i = 0; i < CCFG_NOPTS; i++)
				if (strcmp(key, ccfg_names[i]) == 0)
					break;
			if (i == CCFG_NOPTS) {
				fprintf(stderr, "switchyard-client: %s:%zu:%zu: unknown key %s (known: server, "
				    "identity, bundle, cafile, connect, known-hosts, socks, http, log-level, "
				    "tun, tun-name, tun-route)\n", path, line, col, key);
				goto fail_ev;
			}
			if (i == CCFG_ROUTE && routes_from_flags)
				break; /* the flags' routes win */
			if (ccfg_set(c, i, v, false) != 0) {
				fprintf(stderr, "switchyard-client: %s:%zu:%zu: %s: bad value\n", path, line,
				    col, key);
				goto fail_ev;
			}
			break;
		}
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	rc = 0;
	goto out;
fail_ev:
	yaml_event_delete(&ev);
out:
	yaml_parser_delete(&p);
	fclose(f);
	return rc;
}

int
ccfg_addr(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
	struct conf_addr a;
	char why[128];

	if (confval_addr(s, &a, why, sizeof why) != 0)
		return -1;
	memcpy(sa, &a.ss, sizeof a.ss);
	*len = a.len;
	return 0;
}

int
ccfg_url(struct ccfg *c, char *err, size_t errlen)
{
	const char *u = c->server, *h, *he, *p;
	unsigned long port = 443;

	if (strncmp(u, "wss://", 6) != 0) {
		snprintf(err, errlen, "--server %s: wants wss://HOST[:PORT]/PATH", u);
		return -1;
	}
	h = u + 6;
	p = strchr(h, '/');
	if (p == NULL) {
		snprintf(err, errlen, "--server %s: no path (e.g. /api/v1/ws)", u);
		return -1;
	}
	if (*h == '[') {
		he = memchr(h, ']', (size_t)(p - h));
		if (he == NULL) {
			snprintf(err, errlen, "--server %s: unclosed [", u);
			return -1;
		}
		h++;
		const char *after = he + 1;
		if (after < p && *after != ':')
			goto bad;
		if (after < p)
			port = strtoul(after + 1, NULL, 10);
	} else {
		he = memchr(h, ':', (size_t)(p - h));
		if (he != NULL)
			port = strtoul(he + 1, NULL, 10);
		else
			he = p;
	}
	if (he == h || (size_t)(he - h) > CLIENT_HOST_MAX || port == 0 || port > 65535)
		goto bad;
	memcpy(c->host, h, (size_t)(he - h));
	c->host[he - h] = '\0';
	c->port = (uint16_t)port;
	size_t pl = strlen(p);
	while (pl > 1 && p[pl - 1] == '/')
		pl--;
	if (pl >= 4 && (memcmp(p + pl - 4, "/mux", 4) == 0 || memcmp(p + pl - 4, "/tun", 4) == 0))
		pl -= 4; /* the base path: the mode picks the suffix */
	if (pl + 4 > CLIENT_PATH_MAX || strpbrk(p, " \r\n") != NULL)
		goto bad;
	snprintf(c->path, sizeof c->path, "%.*s%s", (int)pl, p, c->tun ? "/tun" : "/mux");
	bool v6 = strchr(c->host, ':') != NULL;
	snprintf(c->hostport, sizeof c->hostport, "%s%s%s:%u", v6 ? "[" : "", c->host, v6 ? "]" : "",
	    c->port);
	return 0;
bad:
	snprintf(err, errlen, "--server %s: wants wss://HOST[:PORT]/PATH", u);
	return -1;
}

int
ccfg_load(struct ccfg *c, int argc, char **argv)
{
	enum { OPT_BASE = 256 };
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, OPT_BASE + 0 },
		{ "identity", required_argument, NULL, OPT_BASE + 1 },
		{ "bundle", required_argument, NULL, OPT_BASE + 2 },
		{ "cafile", required_argument, NULL, OPT_BASE + 3 },
		{ "connect", required_argument, NULL, OPT_BASE + 4 },
		{ "known-hosts", required_argument, NULL, OPT_BASE + 5 },
		{ "socks", required_argument, NULL, OPT_BASE + 6 },
		{ "http", required_argument, NULL, OPT_BASE + 7 },
		{ "log-level", required_argument, NULL, OPT_BASE + 8 },
		{ "tun-name", required_argument, NULL, OPT_BASE + 9 },
		{ "tun", no_argument, NULL, OPT_BASE + 10 },
		{ "tun-route", required_argument, NULL, OPT_BASE + 11 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	char err[512];
	int ch;

	memset(c, 0, sizeof *c);
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(ccfg_help, stdout);
			return 1;
		}
		if (ch == 'c') {
			file = optarg;
			continue;
		}
		if (ch < OPT_BASE || ch >= OPT_BASE + (int)CCFG_NOPTS)
			goto usage;
		if (ccfg_set(c, (size_t)(ch - OPT_BASE), ch == OPT_BASE + (int)CCFG_TUN ? "true" :
		    optarg, true) != 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "switchyard-client: unexpected argument %s\n", argv[optind]);
		goto usage;
	}
	if (file != NULL && ccfg_yaml(c, file) != 0)
		return -1;
	if (c->server == NULL || c->identity == NULL || c->bundle == NULL) {
		fprintf(stderr, "switchyard-client: --server, --identity and --bundle are required\n");
		goto usage;
	}
	if (c->tun_s != NULL && strcmp(c->tun_s, "true") != 0 && strcmp(c->tun_s, "false") != 0) {
		fprintf(stderr, "switchyard-client: tun: true or false\n");
		return -1;
	}
	c->tun = c->tun_s != NULL && strcmp(c->tun_s, "true") == 0;
	if (!c->tun && (c->tun_name != NULL || c->ntun_routes > 0)) {
		fprintf(stderr, "switchyard-client: --tun-name and --tun-route need --tun\n");
		goto usage;
	}
	if (c->tun_name != NULL && (c->tun_name[0] == '\0' || strlen(c->tun_name) >= 16)) {
		fprintf(stderr, "switchyard-client: --tun-name: 1 to 15 characters\n");
		return -1;
	}
	if (c->tun && c->tun_name == NULL && ccfg_set(c, 9, CLIENT_TUN_NAME, true) != 0)
		return -1;
	if (ccfg_url(c, err, sizeof err) != 0) {
		fprintf(stderr, "switchyard-client: %s\n", err);
		return -1;
	}
	if (!c->tun && c->socks == NULL && c->http == NULL &&
	    ccfg_set(c, 6, "127.0.0.1:1080", true) != 0)
		return -1;
	return 0;
usage:
	fprintf(stderr, "Try 'switchyard-client --help' for more information.\n");
	return -1;
}

void
ccfg_free(struct ccfg *c)
{
	for (size_t i = 0; i < CCFG_ROUTE; i++) {
		free(*ccfg_slot(c, i));
		*ccfg_slot(c, i) = NULL;
	}
	c->ntun_routes = 0;
}
