/*
 * Unit tests for the configuration loader (core/conf.c, conf_tree.c): every error class
 * gives its exact "file:line:column: key.path: what" message (whole strings compared),
 * the same result whether libyaml reads the input whole or 1 or 7 bytes at a time; a
 * full file gives the expected typed values; includes merge as specified (lexical order,
 * lists append, maps merge, duplicate upstream, loop, depth at N and N+1, file count at
 * N and N+1); relative paths resolve against the writing file; the demo and every
 * example load; and the dump of a loaded configuration loads back to the same dump.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/conf.h"
#include "core/confval.h"

#define NAME "t.yaml"
#define VEC SY_SOURCE_DIR "/tests/vectors/conf"

/* A minimal valid tls listener, to which cases append keys (4 lines). */
#define L_TLS "listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    kind: tls\n"
#define L_HTTP "listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    kind: http\n"
#define R_DEF "    routes: [{default: {reject: true}}]\n"
#define R_HDEF "    routes: [{default: {site: true}}]\n"

/* Loads text from memory whole, then 1 and 7 bytes at a time; all three must agree. */
static struct conf *
load3(const char *text, size_t len, struct conf_error *err)
{
	struct conf_error e1, e7;
	struct conf *c = conf_load_mem(NAME, (const uint8_t *)text, len, 0, err);
	struct conf *c1 = conf_load_mem(NAME, (const uint8_t *)text, len, 1, &e1);
	struct conf *c7 = conf_load_mem(NAME, (const uint8_t *)text, len, 7, &e7);
	CHECKF((c == NULL) == (c1 == NULL) && (c == NULL) == (c7 == NULL),
	    "chunked load disagrees on success for:\n%s", text);
	if (c == NULL && c1 == NULL && c7 == NULL)
		CHECKF(strcmp(err->msg, e1.msg) == 0 && strcmp(err->msg, e7.msg) == 0,
		    "chunked errors differ: [%s] [%s] [%s]", err->msg, e1.msg, e7.msg);
	conf_free(c1);
	conf_free(c7);
	return c;
}

/* Expects text to fail with exactly msg. */
static void
bad_at(int line, const char *text, const char *msg)
{
	struct conf_error err;
	struct conf *c = load3(text, strlen(text), &err);
	if (c != NULL) {
		CHECKF(0, "line %d: loaded, want error [%s]", line, msg);
		conf_free(c);
		return;
	}
	CHECKF(strcmp(err.msg, msg) == 0, "line %d:\n  got  [%s]\n  want [%s]", line, err.msg,
	    msg);
}
#define BAD(text, msg) bad_at(__LINE__, text, msg)

/* Expects text to load; returns the configuration (caller frees). */
static struct conf *
good_at(int line, const char *text)
{
	struct conf_error err;
	struct conf *c = load3(text, strlen(text), &err);
	CHECKF(c != NULL, "line %d: %s", line, err.msg);
	return c;
}
#define GOOD(text) good_at(__LINE__, text)

/* Loads and frees; for cases where only success matters. */
static void
good_free_at(int line, const char *text)
{
	conf_free(good_at(line, text));
}
#define OK(text) good_free_at(__LINE__, text)

/* YAML-level errors: syntax, aliases, tags, documents, encoding, keys. */
static void
test_yaml_errors(void)
{
	BAD("foo: [\n", "t.yaml:2:1: foo[0]: did not find expected node content while parsing a flow node");
	BAD("a: b\n  c: d\n", "t.yaml:2:4: (document): mapping values are not allowed in this context");
	BAD("a:\n  - b\n c: d\n", "t.yaml:3:2: (document): did not find expected key while parsing a block mapping");
	BAD("a: \"x\n", "t.yaml:2:1: a: found unexpected end of stream while scanning a quoted scalar");
	BAD("a: &x 1\nb: *x\n", "t.yaml:2:4: b: aliases are not supported");
	BAD("a:\n  - b\n  -\n    - [d, e, {f: *g}]\n", "t.yaml:4:18: a[1][0][2].f: aliases are not supported");
	BAD("!!map {}\n", "t.yaml:1:1: (document): tags are not supported");
	BAD("a: !!str 1\n", "t.yaml:1:4: a: tags are not supported");
	BAD("--- {}\n--- {}\n", "t.yaml:2:1: (document): only one YAML document per file");
	BAD("[1]\n", "t.yaml:1:1: (document): expected a map of keys at the top, got a list");
	BAD("just a string\n", "t.yaml:1:1: (document): expected a map of keys at the top, got a string");
	BAD("? [a]\n: b\n", "t.yaml:1:3: (document): a key must be a plain string, not a list or a map");
	BAD("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: a: duplicate key (first at t.yaml:1:1)");
	BAD(L_TLS "    name: b\n", "t.yaml:5:5: listeners[0].name: duplicate key (first at t.yaml:2:5)");
	BAD("{b: 1, a: 2, b: 3, a: 4}\n", "t.yaml:1:14: b: duplicate key (first at t.yaml:1:2)");
	BAD("a: \"\\0\"\n", "t.yaml:1:4: a: a NUL byte is not allowed in a value");
	BAD("a: b\n\xff\n", "t.yaml:2:1: (document): invalid UTF-8 (byte 5)");
	BAD("a: \xc3\xa9\xc3\n", "t.yaml:1:5: (document): invalid UTF-8 (byte 5)");
	BAD("a: \xc0\xaf\n", "t.yaml:1:4: (document): invalid UTF-8 (byte 3)");         /* overlong */
	BAD("a: \xed\xa0\x80\n", "t.yaml:1:4: (document): invalid UTF-8 (byte 3)");     /* surrogate */
	BAD("a: \xf4\x90\x80\x80\n", "t.yaml:1:4: (document): invalid UTF-8 (byte 3)"); /* > U+10FFFF */
	BAD("a: b\x01\n", "t.yaml:1:5: (document): control characters are not allowed (byte 4)");
	BAD("a: b\n\x7f\n", "t.yaml:2:1: (document): control characters are not allowed (byte 5)");
	BAD("a: b\r\nc: \x02\n", "t.yaml:2:4: (document): control characters are not allowed (byte 9)");
	/* Unicode is fine where the schema takes free text. */
	struct conf *c = GOOD("process: {user: \"\xc3\xa9t\xc3\xa9\"}\n" L_TLS R_DEF);
	CHECK(c != NULL && strcmp(c->process.user, "\xc3\xa9t\xc3\xa9") == 0);
	/* Where the user was named, for the "no such user" check of -t and start (main.c). */
	CHECK(c != NULL && c->process.user_at != NULL && strcmp(c->process.user_at, "t.yaml:1:17") == 0);
	conf_free(c);
	/* A byte-order mark at the start is allowed. */
	OK("\xef\xbb\xbf" L_TLS R_DEF);
}

/* Bounded nesting depth, node count and document size, each at N and N+1. */
static void
test_limits(void)
{
	char *buf = malloc(CONF_FILE_MAX + 64);
	size_t n;
	/* Depth: the top map is level 1; 31 nested lists reach 32 (N), 32 lists 33. */
	n = (size_t)snprintf(buf, 64, "zz: ");
	for (int i = 0; i < CONF_DEPTH_MAX - 1; i++)
		buf[n++] = '[';
	for (int i = 0; i < CONF_DEPTH_MAX - 1; i++)
		buf[n++] = ']';
	buf[n++] = '\n';
	buf[n] = '\0';
	BAD(buf, "t.yaml:1:1: zz: unknown key");
	n = (size_t)snprintf(buf, 64, "zz: ");
	for (int i = 0; i < CONF_DEPTH_MAX; i++)
		buf[n++] = '[';
	for (int i = 0; i < CONF_DEPTH_MAX; i++)
		buf[n++] = ']';
	buf[n++] = '\n';
	buf[n] = '\0';
	BAD(buf, "t.yaml:1:36: zz[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
	    "[0][0][0][0][0][0][0][0][0][0][0]: nested deeper than 32 levels");

	/* Nodes: map + key + list + k items = k + 3. */
	n = (size_t)snprintf(buf, 64, "zz: [");
	for (int i = 0; i < CONF_NODES_MAX - 3; i++) {
		buf[n++] = '1';
		buf[n++] = ',';
	}
	buf[n++] = ']';
	buf[n++] = '\n';
	buf[n] = '\0';
	BAD(buf, "t.yaml:1:1: zz: unknown key");
	n -= 2;
	n += (size_t)snprintf(buf + n, 64, "1]\n");
	BAD(buf, "t.yaml:1:200000: zz[99997]: more than 100000 YAML nodes");

	/* Size: exactly CONF_FILE_MAX bytes (N) parses; one more is refused unread. */
	memset(buf, ' ', CONF_FILE_MAX);
	memcpy(buf, "zz: 1\n#", 7);
	buf[CONF_FILE_MAX - 1] = '\n';
	buf[CONF_FILE_MAX] = '\0';
	BAD(buf, "t.yaml:1:1: zz: unknown key");
	buf[CONF_FILE_MAX] = '\n';
	buf[CONF_FILE_MAX + 1] = '\0';
	BAD(buf, "t.yaml:1:1: (document): file is larger than 1048576 bytes");
	free(buf);
}

/* Schema errors: unknown keys, types, required keys, values. */
static void
test_schema_errors(void)
{
	/* The empty file, and a file without listeners. */
	BAD("", "t.yaml:1:1: listeners: missing (a file with no listeners is an error)");
	BAD("# only a comment\n", "t.yaml:1:1: listeners: missing (a file with no listeners is an error)");
	BAD("log: {level: warn}\n", "t.yaml:1:1: listeners: missing (a file with no listeners is an error)");
	BAD("listeners:\n", "t.yaml:1:11: listeners: has no value (a file with no listeners is an error)");
	BAD("listeners: []\n", "t.yaml:1:12: listeners: must not be empty (a file with no listeners is an error)");
	BAD("listeners: {}\n", "t.yaml:1:12: listeners: expected a list, got a map");
	/* Unknown keys, with and without a suggestion. */
	BAD("listners: []\n", "t.yaml:1:1: listners: unknown key; did you mean `listeners`?");
	BAD("zzz: 1\n", "t.yaml:1:1: zzz: unknown key");
	BAD("inclde: x\n", "t.yaml:1:1: inclde: unknown key; did you mean `include`?");
	BAD(L_TLS "    rotues: []\n", "t.yaml:5:5: listeners[0].rotues: unknown key; did you mean `routes`?");
	BAD("process: {wokrers: 2}\n", "t.yaml:1:11: process.wokrers: unknown key; did you mean `workers`?");
	BAD("upstreams: {u: {servers: [1.1.1.1:1], helth_check: {}}}\n",
	    "t.yaml:1:39: upstreams.u.helth_check: unknown key; did you mean `health_check`?");
	BAD("terminator: {vpn: {egres: {}}}\n", "t.yaml:1:20: terminator.vpn.egres: unknown key; did you mean `egress`?");
	/* Types. */
	BAD("process: [1]\n", "t.yaml:1:10: process: expected a map, got a list");
	BAD("process: {user: [a]}\n", "t.yaml:1:17: process.user: expected a string, got a list");
	BAD("process: {user: \"\"}\n", "t.yaml:1:17: process.user: must not be empty");
	BAD("log: x\n", "t.yaml:1:6: log: expected a map, got a string");
	BAD("upstreams: [a]\n", "t.yaml:1:12: upstreams: expected a map, got a list");
	BAD(L_TLS "    routes: {a: 1}\n", "t.yaml:5:13: listeners[0].routes: expected a list, got a map");
	BAD(L_TLS "    routes: [a]\n", "t.yaml:5:14: listeners[0].routes[0]: expected a map, got a string");
	BAD(L_TLS "    routes: [{sni: {a: b}, reject: true}]\n",
	    "t.yaml:5:20: listeners[0].routes[0].sni: expected a string or a list of strings, got a map");
	BAD(L_TLS "    routes: [{sni: [a.b, [c]], reject: true}]\n",
	    "t.yaml:5:26: listeners[0].routes[0].sni[1]: expected a string, got a list");
	BAD(L_TLS "    routes: [{sni: [a.b, ~], reject: true}]\n",
	    "t.yaml:5:26: listeners[0].routes[0].sni[1]: expected a string, got nothing (null)");
	/* Required keys: missing (at the map) or null (at the value). */
	BAD("listeners:\n  - listen: 127.0.0.1:80\n",
	    "t.yaml:2:5: listeners[0].name: missing (required)");
	BAD("listeners:\n  - name:\n    listen: 127.0.0.1:80\n",
	    "t.yaml:2:10: listeners[0].name: has no value (required)");
	BAD("listeners:\n  - name: a\n    kind: tls\n",
	    "t.yaml:2:5: listeners[0].listen: missing (required)");
	BAD("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n",
	    "t.yaml:2:5: listeners[0].kind: missing (required: tls or http)");
	BAD(L_TLS, "t.yaml:2:5: listeners[0].routes: missing (required)");
	BAD(L_TLS "    routes: []\n", "t.yaml:5:13: listeners[0].routes: must not be empty");
	BAD("listeners:\n  - name: a\n    listen: []\n",
	    "t.yaml:3:13: listeners[0].listen: must not be empty");
	BAD("listeners:\n  - name: a b\n    listen: 127.0.0.1:80\n    kind: tls\n" R_DEF,
	    "t.yaml:2:11: listeners[0].name: not a valid listener name (letters, digits, `_`, `-`, `.`; at most 64)");
	/* Enumerations. */
	BAD("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    kind: tcp\n",
	    "t.yaml:4:11: listeners[0].kind: `tcp`: expected one of tls, http (did you mean `tls`?)");
	BAD("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    kind: htp\n",
	    "t.yaml:4:11: listeners[0].kind: `htp`: expected one of tls, http (did you mean `http`?)");
	BAD("log: {level: debg}\n", "t.yaml:1:14: log.level: `debg`: expected one of error, warn, info, debug (did you mean `debug`?)");
	BAD("log: {level: warning}\n", "t.yaml:1:14: log.level: `warning`: expected one of error, warn, info, debug");
	BAD("log: {format: yaml}\n", "t.yaml:1:15: log.format: `yaml`: expected one of text, json");
	BAD("log: {access: \"\"}\n", "t.yaml:1:15: log.access: must not be empty");
	BAD("upstreams: {u: {servers: [1.1.1.1:1], balance: roundrobin}}\n",
	    "t.yaml:1:48: upstreams.u.balance: `roundrobin`: expected one of round_robin, random, source, least_conn (did you mean `round_robin`?)");
	BAD("upstreams: {u: {servers: [1.1.1.1:1], proxy_protocol: v3}}\n",
	    "t.yaml:1:55: upstreams.u.proxy_protocol: `v3`: expected one of off, v1, v2 (did you mean `v1`?)");
	/* Booleans are unquoted true/false. */
	BAD(L_TLS "    routes: [{default: {reject: yes}}]\n",
	    "t.yaml:5:33: listeners[0].routes[0].default.reject: `yes`: expected true or false");
	BAD(L_TLS "    routes: [{default: {reject: \"true\"}}]\n",
	    "t.yaml:5:33: listeners[0].routes[0].default.reject: `true`: expected true or false");
}

/* Ranges of every numeric key, at N and N+1 (and the lower ends). */
static void
test_ranges(void)
{
	OK("process: {workers: 256}\n" L_TLS R_DEF);
	BAD("process: {workers: 257}\n" L_TLS R_DEF,
	    "t.yaml:1:20: process.workers: `257`: expected auto or a number from 1 to 256");
	BAD("process: {workers: 0}\n" L_TLS R_DEF,
	    "t.yaml:1:20: process.workers: `0`: expected auto or a number from 1 to 256");
	BAD("process: {workers: many}\n" L_TLS R_DEF,
	    "t.yaml:1:20: process.workers: `many`: expected auto or a number from 1 to 256");
	OK("process: {max_connections: 10000000}\n" L_TLS R_DEF);
	BAD("process: {max_connections: 10000001}\n" L_TLS R_DEF,
	    "t.yaml:1:28: process.max_connections: `10000001`: must be between 1 and 10000000");
	BAD("process: {max_connections: 0}\n" L_TLS R_DEF,
	    "t.yaml:1:28: process.max_connections: `0`: must be between 1 and 10000000");
	OK("process: {shutdown_timeout: 24h}\n" L_TLS R_DEF);
	BAD("process: {shutdown_timeout: 86400001ms}\n" L_TLS R_DEF,
	    "t.yaml:1:29: process.shutdown_timeout: `86400001ms`: must be from 0ms to 24h");
	BAD("process: {shutdown_timeout: 30}\n" L_TLS R_DEF,
	    "t.yaml:1:29: process.shutdown_timeout: `30`: a duration needs a unit: ms, s, m or h");

	OK(L_TLS "    preread_timeout: 100ms\n" R_DEF);
	BAD(L_TLS "    preread_timeout: 99ms\n" R_DEF,
	    "t.yaml:5:22: listeners[0].preread_timeout: `99ms`: must be from 100ms to 10m");
	OK(L_TLS "    preread_timeout: 10m\n" R_DEF);
	BAD(L_TLS "    preread_timeout: 600001ms\n" R_DEF,
	    "t.yaml:5:22: listeners[0].preread_timeout: `600001ms`: must be from 100ms to 10m");
	OK(L_TLS "    proxy_protocol_timeout: 3s\n" R_DEF);
	BAD(L_TLS "    proxy_protocol_timeout: 2999ms\n" R_DEF,
	    "t.yaml:5:29: listeners[0].proxy_protocol_timeout: `2999ms`: must be from 3s to 10m");
	OK(L_TLS "    max_hello: 1k\n" R_DEF);
	BAD(L_TLS "    max_hello: 1023\n" R_DEF,
	    "t.yaml:5:16: listeners[0].max_hello: `1023`: must be from 1024 to 65536 bytes");
	OK(L_TLS "    max_hello: 64k\n" R_DEF);
	BAD(L_TLS "    max_hello: 65537\n" R_DEF,
	    "t.yaml:5:16: listeners[0].max_hello: `65537`: must be from 1024 to 65536 bytes");
	BAD(L_TLS "    max_hello: 16kb\n" R_DEF,
	    "t.yaml:5:16: listeners[0].max_hello: `16kb`: unknown size unit (use k, m or g, or plain bytes)");
	OK(L_TLS "    idle_timeout: 1s\n" R_DEF);
	BAD(L_TLS "    idle_timeout: 999ms\n" R_DEF,
	    "t.yaml:5:19: listeners[0].idle_timeout: `999ms`: must be from 1s to 168h");
	OK(L_TLS "    max_preread_per_ip: 100000\n" R_DEF);
	BAD(L_TLS "    max_preread_per_ip: 100001\n" R_DEF,
	    "t.yaml:5:25: listeners[0].max_preread_per_ip: `100001`: must be between 1 and 100000");
	BAD(L_TLS "    max_preread_per_ip: 0\n" R_DEF,
	    "t.yaml:5:25: listeners[0].max_preread_per_ip: `0`: must be between 1 and 100000");
	OK(L_TLS "    max_connections_per_ip: 0\n" R_DEF);
	OK(L_TLS "    max_connections_per_ip: 10000000\n" R_DEF);
	BAD(L_TLS "    max_connections_per_ip: 10000001\n" R_DEF,
	    "t.yaml:5:29: listeners[0].max_connections_per_ip: `10000001`: must be between 0 and 10000000");
	OK(L_HTTP "    https_port: 65535\n" R_HDEF);
	BAD(L_HTTP "    https_port: 65536\n" R_HDEF,
	    "t.yaml:5:17: listeners[0].https_port: `65536`: must be between 1 and 65535");
	BAD(L_HTTP "    https_port: 0\n" R_HDEF,
	    "t.yaml:5:17: listeners[0].https_port: `0`: must be between 1 and 65535");

#define UP "upstreams:\n  u:\n    servers: [1.1.1.1:1]\n"
	OK(UP "    connect_timeout: 100ms\n" L_TLS R_DEF);
	BAD(UP "    connect_timeout: 99ms\n" L_TLS R_DEF,
	    "t.yaml:4:22: upstreams.u.connect_timeout: `99ms`: must be from 100ms to 10m");
	OK(UP "    health_check: {rise: 100, fall: 1}\n" L_TLS R_DEF);
	BAD(UP "    health_check: {rise: 101}\n" L_TLS R_DEF,
	    "t.yaml:4:26: upstreams.u.health_check.rise: `101`: must be between 1 and 100");
	BAD(UP "    health_check: {fall: 0}\n" L_TLS R_DEF,
	    "t.yaml:4:26: upstreams.u.health_check.fall: `0`: must be between 1 and 100");
	OK(UP "    health_check: {interval: 100ms, timeout: 100ms}\n" L_TLS R_DEF);
	BAD(UP "    health_check: {interval: 99ms, timeout: 99ms}\n" L_TLS R_DEF,
	    "t.yaml:4:30: upstreams.u.health_check.interval: `99ms`: must be from 100ms to 24h");
	OK(UP "    health_check: {interval: 2s}\n" L_TLS R_DEF);
	BAD(UP "    health_check: {interval: 1999ms}\n" L_TLS R_DEF,
	    "t.yaml:4:19: upstreams.u.health_check: timeout (2s) must not exceed interval (1999ms)");
	BAD(UP "    health_check: [a]\n" L_TLS R_DEF,
	    "t.yaml:4:19: upstreams.u.health_check: expected a map, got a list");

	/* Servers of one upstream: CONF_UPSTREAM_SERVERS_MAX (N) and N+1, one per line. */
	char *ups = malloc(64 * 1024);
	for (int k = CONF_UPSTREAM_SERVERS_MAX; k <= CONF_UPSTREAM_SERVERS_MAX + 1; k++) {
		size_t n = (size_t)snprintf(ups, 64, "upstreams:\n  u:\n    servers:\n");
		for (int i = 0; i < k; i++)
			n += (size_t)snprintf(ups + n, 64, "      - 10.0.0.1:%d\n", 1000 + i);
		snprintf(ups + n, 64 * 1024 - n, "%s", L_TLS R_DEF);
		if (k == CONF_UPSTREAM_SERVERS_MAX) {
			struct conf *c = GOOD(ups);
			CHECK(c != NULL && c->upstreams[0].nservers == CONF_UPSTREAM_SERVERS_MAX);
			conf_free(c);
		} else {
			BAD(ups, "t.yaml:68:9: upstreams.u.servers[64]: upstream `u` has 65 servers; "
			    "at most 64 can be balanced");
		}
	}
	free(ups);

#define VPN "terminator:\n  vpn:\n    identity_key: k\n    prekey_bundle: b\n    open: true\n"
	OK(VPN "    tun: {mtu: 576}\n" L_TLS R_DEF);
	BAD(VPN "    tun: {mtu: 575}\n" L_TLS R_DEF,
	    "t.yaml:6:16: terminator.vpn.tun.mtu: `575`: must be between 576 and 65535");
	OK(VPN "    tun: {mtu: 65535}\n" L_TLS R_DEF);
	BAD(VPN "    tun: {mtu: 65536}\n" L_TLS R_DEF,
	    "t.yaml:6:16: terminator.vpn.tun.mtu: `65536`: must be between 576 and 65535");
	OK(VPN "    tun: {name: abcdefghijklmno}\n" L_TLS R_DEF);
	BAD(VPN "    tun: {name: abcdefghijklmnop}\n" L_TLS R_DEF,
	    "t.yaml:6:17: terminator.vpn.tun.name: `abcdefghijklmnop`: an interface name is 1 to 15 letters, digits, `_`, `-` or `.`");
	BAD(VPN "    tun: {name: \"a/b\"}\n" L_TLS R_DEF,
	    "t.yaml:6:17: terminator.vpn.tun.name: `a/b`: an interface name is 1 to 15 letters, digits, `_`, `-` or `.`");
	/* Names: 64 bytes (N) and 65. */
	OK("listeners:\n  - name: " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\n    listen: 127.0.0.1:80\n    kind: tls\n" R_DEF);
	BAD("listeners:\n  - name: " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\n    listen: 127.0.0.1:80\n    kind: tls\n" R_DEF,
	    "t.yaml:2:11: listeners[0].name: not a valid listener name (letters, digits, `_`, `-`, `.`; at most 64)");
}

/* Addresses and CIDRs in context, and the same address twice. */
static void
test_addresses(void)
{
	BAD("listeners:\n  - name: a\n    listen: localhost:80\n",
	    "t.yaml:3:13: listeners[0].listen: `localhost:80`: host names are not accepted, only IP literals (e.g. 192.0.2.1:443)");
	BAD("listeners:\n  - name: a\n    listen: [127.0.0.1:80, \"::1:80\"]\n",
	    "t.yaml:3:28: listeners[0].listen[1]: `::1:80`: an IPv6 address needs brackets: [addr]:port");
	BAD("listeners:\n  - name: a\n    listen: 127.0.0.1:0\n",
	    "t.yaml:3:13: listeners[0].listen: `127.0.0.1:0`: the port must be from 1 to 65535");
	BAD("upstreams: {u: {servers: [backend.lan:443]}}\n",
	    "t.yaml:1:27: upstreams.u.servers[0]: `backend.lan:443`: host names are not accepted, only IP literals (e.g. 192.0.2.1:443)");
	BAD("upstreams: {u: {servers: []}}\n", "t.yaml:1:26: upstreams.u.servers: must not be empty");
	BAD("upstreams: {u: {balance: source}}\n", "t.yaml:1:16: upstreams.u.servers: missing (required)");
	BAD("upstreams: {u: }\n", "t.yaml:1:13: upstreams.u: has no value (a map with `servers`)");
	BAD("upstreams: {\"a b\": {servers: [1.1.1.1:1]}}\n",
	    "t.yaml:1:13: upstreams.a b: not a valid upstream name (letters, digits, `_`, `-`, `.`; at most 64)");
	BAD("admin: {listen: 127.0.0.1}\n",
	    "t.yaml:1:17: admin.listen: `127.0.0.1`: missing port (write ip:port)");
	BAD(L_TLS "    proxy_protocol_from: [10.0.0.1/8]\n" R_DEF,
	    "t.yaml:5:27: listeners[0].proxy_protocol_from[0]: `10.0.0.1/8`: host bits set beyond the prefix (did you mean 10.0.0.0/8?)");
	BAD(L_TLS "    proxy_protocol_from: haproxy.lan\n" R_DEF,
	    "t.yaml:5:26: listeners[0].proxy_protocol_from: `haproxy.lan`: host names are not accepted, only IP literals");
	BAD(L_HTTP "    trusted_forwarders: [\"::1/129\"]\n" R_HDEF,
	    "t.yaml:5:26: listeners[0].trusted_forwarders[0]: `::1/129`: the prefix length must be from 0 to 128");
	/* log.skip_from: CIDRs, one or a list. */
	BAD("log: {skip_from: [10.0.0.1/8]}\n" L_TLS R_DEF,
	    "t.yaml:1:19: log.skip_from[0]: `10.0.0.1/8`: host bits set beyond the prefix (did you mean 10.0.0.0/8?)");
	BAD("log: {skip_from: lb.lan}\n" L_TLS R_DEF,
	    "t.yaml:1:18: log.skip_from: `lb.lan`: host names are not accepted, only IP literals");
	struct conf *c = GOOD("log: {skip_from: 192.0.2.7}\n" L_TLS R_DEF);
	CHECK(c != NULL && c->log.nskip_from == 1 && c->log.skip_from[0].family == AF_INET &&
	    c->log.skip_from[0].prefix == 32);
	conf_free(c);
	/* The same ip:port twice: in one list, across listeners, and with the admin. */
	BAD("listeners:\n  - name: a\n    listen: [127.0.0.1:80, \"[::1]:80\", 127.0.0.1:80]\n    kind: http\n" R_HDEF,
	    "t.yaml:3:40: listeners[0].listen[2]: address 127.0.0.1:80 is used twice (first at t.yaml:3:14)");
	BAD("listeners:\n"
	    "  - {name: a, listen: 127.0.0.1:80, kind: tls, routes: [{default: {reject: true}}]}\n"
	    "  - {name: b, listen: [\"[::1]:80\", 127.0.0.1:80], kind: tls, routes: [{default: {reject: true}}]}\n",
	    "t.yaml:3:36: listeners[1].listen[1]: address 127.0.0.1:80 is used twice (first at t.yaml:2:23)");
	BAD("listeners:\n  - {name: a, listen: 127.0.0.1:80, kind: tls, routes: [{default: {reject: true}}]}\n"
	    "admin: {listen: 127.0.0.1:80}\n",
	    "t.yaml:3:17: admin.listen: address 127.0.0.1:80 is used twice (first at t.yaml:2:23)");
	/* Different families or ports are different addresses. */
	OK("listeners:\n  - {name: a, listen: [\"0.0.0.0:80\", \"[::]:80\", \"0.0.0.0:81\"], kind: tls, "
	    "routes: [{default: {reject: true}}]}\nadmin: {listen: 127.0.0.1:80}\n");
	/* Listener names are unique. */
	BAD("listeners:\n"
	    "  - {name: a, listen: 127.0.0.1:80, kind: tls, routes: [{default: {reject: true}}]}\n"
	    "  - {name: a, listen: 127.0.0.1:81, kind: tls, routes: [{default: {reject: true}}]}\n",
	    "t.yaml:3:12: listeners[1].name: listener name `a` is used twice (first at t.yaml:2:12)");
}

/* Routes: kinds, actions, defaults, patterns, upstream names. */
static void
test_routes(void)
{
	BAD(L_HTTP "    routes: [{sni: a.b, site: true}]\n",
	    "t.yaml:5:15: listeners[0].routes[0].sni: `sni` is for tls listeners; an http listener routes by `host`");
	BAD(L_TLS "    routes: [{host: a.b, reject: true}]\n",
	    "t.yaml:5:15: listeners[0].routes[0].host: `host` is for http listeners; a tls listener routes by `sni`");
	BAD(L_TLS "    routes: [{sni: a.b, site: true}]\n",
	    "t.yaml:5:25: listeners[0].routes[0].site: is an http listener action; a tls route takes `upstream`, `terminate` or `reject`");
	BAD(L_HTTP "    routes: [{default: {reject: true}}]\n",
	    "t.yaml:5:25: listeners[0].routes[0].default.reject: is a tls listener action; an http route takes `upstream`, `redirect_https` or `site`");
	BAD(L_HTTP "    routes: [{host: a.b, terminate: true}]\n",
	    "t.yaml:5:26: listeners[0].routes[0].terminate: is a tls listener action; an http route takes `upstream`, `redirect_https` or `site`");
	BAD(L_TLS "    https_port: 1\n" R_DEF,
	    "t.yaml:5:5: listeners[0].https_port: applies to http listeners only");
	BAD(L_HTTP "    max_hello: 16k\n" R_HDEF,
	    "t.yaml:5:5: listeners[0].max_hello: applies to tls listeners only");
	BAD(L_TLS "    routes: [{sni: a.b}]\n",
	    "t.yaml:5:14: listeners[0].routes[0]: needs one action: `upstream: NAME`, `terminate: true` or `reject: true`");
	BAD(L_HTTP "    routes: [{host: a.b, site: false}]\n",
	    "t.yaml:5:14: listeners[0].routes[0]: needs one action: `upstream: NAME`, `redirect_https: true` or `site: true`");
	BAD(L_TLS "    routes: [{reject: true}]\n",
	    "t.yaml:5:14: listeners[0].routes[0].sni: missing (required)");
	BAD(L_TLS "    routes: [{sni: [], reject: true}]\n",
	    "t.yaml:5:20: listeners[0].routes[0].sni: must not be empty");
	BAD(L_TLS "    routes: [{sni: a.b, reject: true, terminate: true}]\n",
	    "t.yaml:5:39: listeners[0].routes[0].terminate: only one action per route (`reject` is already given)");
	BAD(L_TLS "    routes: [{sni: a.b, reject: }]\n",
	    "t.yaml:5:25: listeners[0].routes[0].reject: has no value (true)");
	BAD(L_TLS "    routes: [{default: {reject: true}}, {default: {reject: true}}]\n",
	    "t.yaml:5:42: listeners[0].routes[1].default: a second default (first at t.yaml:5:15)");
	BAD(L_TLS "    routes: [{default: {reject: true}, sni: x}]\n",
	    "t.yaml:5:40: listeners[0].routes[0].sni: a route item with `default` holds nothing else");
	BAD(L_TLS "    routes: [{default: }]\n",
	    "t.yaml:5:15: listeners[0].routes[0].default: has no value (a map with one action)");
	BAD(L_TLS "    routes: [{default: reject}]\n",
	    "t.yaml:5:24: listeners[0].routes[0].default: expected a map, got a string");
	BAD(L_TLS "    routes: [{default: {}}]\n",
	    "t.yaml:5:24: listeners[0].routes[0].default: needs one action: `upstream: NAME`, `terminate: true` or `reject: true`");
	/* Patterns: validated and normalised, and each at most once per listener. */
	BAD(L_TLS "    routes: [{sni: \"a.*.b\", reject: true}]\n",
	    "t.yaml:5:20: listeners[0].routes[0].sni: `a.*.b`: not a valid name pattern (wildcard)");
	BAD(L_TLS "    routes: [{sni: \"1.2.3.4\", reject: true}]\n",
	    "t.yaml:5:20: listeners[0].routes[0].sni: `1.2.3.4`: not a valid name pattern (ip_literal)");
	BAD(L_TLS "    routes: [{sni: \"a b\", reject: true}]\n",
	    "t.yaml:5:20: listeners[0].routes[0].sni: `a b`: not a valid name pattern (bad_char)");
	BAD(L_HTTP "    routes: [{host: [a.b, c.d], site: true}, {host: A.B., redirect_https: true}]\n",
	    "t.yaml:5:53: listeners[0].routes[1].host: `a.b` is already routed (first at t.yaml:5:22)");
	BAD(L_TLS "    routes:\n      - sni: [x.y, \"*.a.b\"]\n        reject: true\n"
	    "      - sni: [c.d, \"*.A.b\"]\n        reject: true\n",
	    "t.yaml:8:20: listeners[0].routes[1].sni[1]: `*.a.b` is already routed (first at t.yaml:6:20)");
	/* The same name in two listeners is fine. */
	OK("listeners:\n"
	    "  - {name: a, listen: 127.0.0.1:80, kind: tls, routes: [{sni: x.y, reject: true}]}\n"
	    "  - {name: b, listen: 127.0.0.1:81, kind: tls, routes: [{sni: x.y, reject: true}]}\n");
	/* Upstream names resolve, with a suggestion when close. */
	BAD(L_TLS "    routes: [{sni: a.b, upstream: x}]\nupstreams: {xx: {servers: 1.1.1.1:1}}\n",
	    "t.yaml:5:35: listeners[0].routes[0].upstream: unknown upstream `x`; did you mean `xx`?");
	BAD(L_TLS "    routes: [{sni: a.b, upstream: backnd_a}]\n"
	    "upstreams: {backend_a: {servers: 1.1.1.1:1}, backend_b: {servers: 1.1.1.1:2}}\n",
	    "t.yaml:5:35: listeners[0].routes[0].upstream: unknown upstream `backnd_a`; did you mean `backend_a`?");
	BAD(L_TLS "    routes: [{sni: a.b, upstream: nowhere}]\n",
	    "t.yaml:5:35: listeners[0].routes[0].upstream: unknown upstream `nowhere`");
	BAD(L_TLS "    routes: [{sni: a.b, upstream: }]\n",
	    "t.yaml:5:25: listeners[0].routes[0].upstream: has no value (an upstream name)");
	/* The message the CLI integration test expects (tests/integration/cli.sh). */
	BAD("listeners:\n  - name: a\n    listen: 127.0.0.1:8443\n    kind: tls\n    routes:\n"
	    "      - sni: a.example\n        upstream: nowhere\n",
	    "t.yaml:7:19: listeners[0].routes[0].upstream: unknown upstream `nowhere`");
}

/* terminator: versions, ALPN, site, vpn. */
static void
test_terminator(void)
{
	struct conf *c;
	c = GOOD("terminator: {tls_min_version: 1.3}\n" L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.tls_min_version == 0x0304);
	conf_free(c);
	c = GOOD("terminator: {tls_min_version: \"1.2\"}\n" L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.tls_min_version == 0x0303);
	conf_free(c);
	BAD("terminator: {tls_min_version: 1.1}\n",
	    "t.yaml:1:31: terminator.tls_min_version: `1.1`: expected \"1.2\" or \"1.3\"");
	BAD("terminator: {tls_min_version: 1.20}\n",
	    "t.yaml:1:31: terminator.tls_min_version: `1.20`: expected \"1.2\" or \"1.3\"");
	BAD("terminator: {alpn: [http/1.1, h2]}\n",
	    "t.yaml:1:31: terminator.alpn[1]: `h2`: HTTP/2 is not served; use http/1.1");
	BAD("terminator: {alpn: spdy/3}\n",
	    "t.yaml:1:20: terminator.alpn: `spdy/3`: unknown protocol; only http/1.1 is served");
	c = GOOD("terminator: {alpn: []}\n" L_TLS R_DEF);
	CHECK(c != NULL && !c->terminator.alpn_http11);
	conf_free(c);
	BAD("terminator: {certificates: [{cert: a.pem}]}\n",
	    "t.yaml:1:29: terminator.certificates[0].key: missing (required)");
	BAD("terminator: {certificates: {cert: a.pem, key: b.pem}}\n",
	    "t.yaml:1:28: terminator.certificates: expected a list, got a map");
	BAD("terminator: {site: {health_path: healthz}}\n",
	    "t.yaml:1:34: terminator.site.health_path: `healthz`: must start with `/`");
	BAD("terminator: {site: {health_path: \"/a b\"}}\n",
	    "t.yaml:1:34: terminator.site.health_path: `/a b`: only letters, digits, `/`, `-`, `_`, `.` and `~` are allowed");
	BAD("terminator: {vpn: {identity_key: a, prekey_bundle: b}}\n",
	    "t.yaml:1:19: terminator.vpn.clients: missing (required unless `open: true`)");
	BAD("terminator: {vpn: {prekey_bundle: b, open: true}}\n",
	    "t.yaml:1:19: terminator.vpn.identity_key: missing (required)");
	BAD("terminator: {vpn: {path: /api/, identity_key: a, prekey_bundle: b, open: true}}\n",
	    "t.yaml:1:26: terminator.vpn.path: `/api/`: must not end with `/`");
	BAD("terminator: {vpn: {path: /, identity_key: a, prekey_bundle: b, open: true}}\n",
	    "t.yaml:1:26: terminator.vpn.path: `/`: must not be just `/`");
	BAD(VPN "    egress: {deny: [privat]}\n",
	    "t.yaml:6:21: terminator.vpn.egress.deny[0]: `privat`: unknown range; did you mean `private`?");
	BAD(VPN "    egress: {deny: [intranet]}\n",
	    "t.yaml:6:21: terminator.vpn.egress.deny[0]: `intranet`: unknown range (loopback, private, link_local, cgnat, multicast, reserved, unspecified, or a CIDR)");
	BAD(VPN "    egress: {deny: [10.0.0.1/8]}\n",
	    "t.yaml:6:21: terminator.vpn.egress.deny[0]: `10.0.0.1/8`: host bits set beyond the prefix (did you mean 10.0.0.0/8?)");
	BAD(VPN "    tun: {address: 10.0.0.1}\n",
	    "t.yaml:6:20: terminator.vpn.tun.address: `10.0.0.1`: missing prefix length (write addr/len)");
	BAD(VPN "    tun: {dns: [dns.google]}\n",
	    "t.yaml:6:17: terminator.vpn.tun.dns[0]: `dns.google`: host names are not accepted, only IP literals");
	BAD(VPN "    tun: {enabled: on}\n",
	    "t.yaml:6:20: terminator.vpn.tun.enabled: `on`: expected true or false");
	OK(VPN "    tun: {enabled: true}\n" L_TLS R_DEF);
	OK(VPN "    tun: {enabled: true, address: 10.9.0.1/16}\n" L_TLS R_DEF);
	BAD(VPN "    tun: {enabled: true, address: 10.9.0.1/15}\n",
	    "t.yaml:6:35: terminator.vpn.tun.address: `10.9.0.1/15`: the TUN prefix must be between /16 and /29");
	OK(VPN "    tun: {enabled: true, address: 10.9.0.1/29}\n" L_TLS R_DEF);
	BAD(VPN "    tun: {enabled: true, address: 10.9.0.1/30}\n",
	    "t.yaml:6:35: terminator.vpn.tun.address: `10.9.0.1/30`: the TUN prefix must be between /16 and /29");
	BAD(VPN "    tun: {enabled: true, address: 10.9.0.0/24}\n",
	    "t.yaml:6:35: terminator.vpn.tun.address: `10.9.0.0/24`: the TUN address is the network or broadcast address");
	BAD(VPN "    tun: {enabled: true, address: 10.9.0.255/24}\n",
	    "t.yaml:6:35: terminator.vpn.tun.address: `10.9.0.255/24`: the TUN address is the network or broadcast address");
	BAD(VPN "    tun: {enabled: true, address: \"fd00::1/64\"}\n",
	    "t.yaml:6:35: terminator.vpn.tun.address: `fd00::1/64`: the TUN address must be IPv4 (leases are IPv4 only)");
	OK(VPN "    tun: {enabled: false, address: \"fd00::1/64\"}\n" L_TLS R_DEF);
	OK(VPN "    tun: {dns: [1.1.1.1, 1.0.0.1, 8.8.8.8, 8.8.4.4]}\n" L_TLS R_DEF);
	BAD(VPN "    tun: {dns: [1.1.1.1, 1.0.0.1, 8.8.8.8, 8.8.4.4, 9.9.9.9]}\n",
	    "t.yaml:6:16: terminator.vpn.tun.dns: at most 4 servers (the VirtualIp message's limit)");
	OK(VPN "    tun: {enabled: true, client_to_client: true}\n" L_TLS R_DEF);
	OK(VPN "    tun: {enabled: true, mtu: 8190}\n" L_TLS R_DEF);
	BAD(VPN "    tun: {enabled: true, mtu: 8191}\n",
	    "t.yaml:6:31: terminator.vpn.tun.mtu: `8191`: with the TUN enabled, at most 8190 (one packet per mux frame)");
	BAD(VPN "    replay_window: 999ms\n",
	    "t.yaml:6:20: terminator.vpn.replay_window: `999ms`: must be from 1s to 168h");
	BAD(VPN "    max_sessions: 0\n",
	    "t.yaml:6:19: terminator.vpn.max_sessions: `0`: must be between 1 and 1000000");
	BAD(VPN "    max_flows: 65536\n",
	    "t.yaml:6:16: terminator.vpn.max_flows: `65536`: must be between 1 and 65535");
	BAD(VPN "    flow_stall_timeout: 99ms\n",
	    "t.yaml:6:25: terminator.vpn.flow_stall_timeout: `99ms`: must be from 100ms to 1h");
	BAD(VPN "    flow_stall_timeout: 3600001ms\n",
	    "t.yaml:6:25: terminator.vpn.flow_stall_timeout: `3600001ms`: must be from 100ms to 1h");
	BAD(VPN "    dns: {servers: [dns.google]}\n",
	    "t.yaml:6:21: terminator.vpn.dns.servers[0]: `dns.google`: host names are not accepted, only IP literals");
	BAD(VPN "    dns: {servers: [\"1.2.3.4:0\"]}\n",
	    "t.yaml:6:21: terminator.vpn.dns.servers[0]: `1.2.3.4:0`: the port must be from 1 to 65535");
	BAD(VPN "    dns: {timeout: 61s}\n",
	    "t.yaml:6:20: terminator.vpn.dns.timeout: `61s`: must be from 100ms to 1m");
	BAD(VPN "    dns: {server: []}\n",
	    "t.yaml:6:11: terminator.vpn.dns.server: unknown key; did you mean `servers`?");
	c = GOOD(VPN "    egress: {deny: [unspecified]}\n" L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.vpn.egress.deny_ranges == CONF_RANGE_UNSPECIFIED);
	conf_free(c);
	c = GOOD(VPN "    replay_window: 1s\n    max_sessions: 1000000\n    max_flows: 1\n" L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.vpn.replay_window_ms == 1000 &&
	    c->terminator.vpn.max_sessions == 1000000 && c->terminator.vpn.max_flows == 1 &&
	    c->terminator.vpn.dns.timeout_ms == 5000 && c->terminator.vpn.dns.nservers == 0 &&
	    c->terminator.vpn.flow_stall_ms == 60000);
	conf_free(c);
	/* flow_stall_timeout at its bounds (N), one beyond each is refused above (N+1). */
	c = GOOD(VPN "    flow_stall_timeout: 100ms\n" L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.vpn.flow_stall_ms == 100);
	conf_free(c);
	c = GOOD(VPN "    flow_stall_timeout: 1h\n" L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.vpn.flow_stall_ms == 3600000);
	conf_free(c);
	/* deny given replaces the default; deny: [] denies nothing. */
	c = GOOD(VPN "    egress: {deny: []}\n" L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.vpn.egress.deny_ranges == 0);
	conf_free(c);
	c = GOOD(VPN L_TLS R_DEF);
	CHECK(c != NULL && c->terminator.vpn.egress.deny_ranges == CONF_RANGE_ALL);
	CHECK(c != NULL && strcmp(c->terminator.vpn.path, "/api/v1/ws") == 0);
	CHECK(c != NULL && c->terminator.vpn.clients == NULL && c->terminator.vpn.open);
	conf_free(c);
	/* Includes are refused when loading from memory. */
	BAD("include: a.yaml\n",
	    "t.yaml:1:1: include: includes are not supported when loading from memory");
	OK("include: \n" L_TLS R_DEF);
}

/* Defaults of a minimal file. */
static void
test_defaults(void)
{
	struct conf *c = GOOD(L_TLS R_DEF);
	if (c == NULL)
		return;
	CHECK(c->process.workers == 1);
	CHECK(c->process.user == NULL);
	CHECK(c->process.max_connections == 65536);
	CHECK(c->process.shutdown_timeout_ms == 30000);
	CHECK(c->log.level == CONF_LOG_INFO && c->log.access == CONF_ACCESS_STDERR &&
	    c->log.format == CONF_LOG_TEXT && c->log.access_path == NULL);
	CHECK(!c->admin.enabled);
	CHECK(c->nupstreams == 0);
	CHECK(c->nlisteners == 1);
	const struct conf_listener *l = &c->listeners[0];
	CHECK(l->preread_timeout_ms == 5000 && l->proxy_protocol_timeout_ms == 3000);
	CHECK(l->max_hello == 16384 && l->idle_timeout_ms == 3600000);
	CHECK(l->max_preread_per_ip == 32 && l->https_port == 443);
	CHECK(l->max_connections_per_ip == 0 && c->log.nskip_from == 0);
	CHECK(l->nproxy_from == 0 && l->ntrusted_forwarders == 0);
	CHECK(l->nroutes == 0 && l->has_default && l->default_route.action == CONF_ACTION_REJECT);
	CHECK(c->terminator.ncertificates == 0 && c->terminator.tls_min_version == 0x0303);
	CHECK(c->terminator.alpn_http11 && c->terminator.site.root == NULL &&
	    c->terminator.site.health_path == NULL && !c->terminator.vpn.enabled);
	conf_free(c);

	/* No default route: has_default false, action REJECT. */
	c = GOOD(L_TLS "    routes: [{sni: a.b, reject: true}]\n");
	CHECK(c != NULL && !c->listeners[0].has_default &&
	    c->listeners[0].default_route.action == CONF_ACTION_REJECT);
	conf_free(c);
	/* An upstream's defaults; health checks only when asked for. */
	c = GOOD(UP L_TLS R_DEF);
	CHECK(c != NULL && c->nupstreams == 1);
	if (c != NULL) {
		const struct conf_upstream *u = &c->upstreams[0];
		CHECK(u->proxy_protocol == CONF_PP_OFF && u->balance == CONF_BALANCE_ROUND_ROBIN);
		CHECK(u->connect_timeout_ms == 5000 && !u->health.enabled);
		CHECK(!u->fast_open);
	}
	conf_free(c);
	/* fast_open: a boolean, off unless asked for. */
	c = GOOD(UP "    fast_open: true\n" L_TLS R_DEF);
	CHECK(c != NULL && c->upstreams[0].fast_open);
	conf_free(c);
	c = GOOD(UP "    fast_open: false\n" L_TLS R_DEF);
	CHECK(c != NULL && !c->upstreams[0].fast_open);
	conf_free(c);
	BAD(UP "    fast_open: maybe\n" L_TLS R_DEF,
	    "t.yaml:4:16: upstreams.u.fast_open: `maybe`: expected true or false");
	c = GOOD(UP "    health_check: {}\n" L_TLS R_DEF);
	if (c != NULL) {
		const struct conf_health *h = &c->upstreams[0].health;
		CHECK(h->enabled && h->interval_ms == 10000 && h->timeout_ms == 2000 &&
		    h->rise == 2 && h->fall == 3);
	}
	conf_free(c);
}

/* Returns the printable form of an address. */
static const char *
addr_str(const struct conf_addr *a)
{
	static char buf[80];
	confval_addr_format(a, buf, sizeof buf);
	return buf;
}

/* Returns the printable form of a CIDR. */
static const char *
cidr_str(const struct conf_cidr *c)
{
	static char buf[80];
	confval_cidr_format(c, buf, sizeof buf);
	return buf;
}

/* Every key of good/full.yaml, read back as typed values. */
static void
test_full(void)
{
	struct conf_error err;
	const char *path = VEC "/good/full.yaml";
	struct conf *c = conf_load(path, &err);
	CHECKF(c != NULL, "%s", err.msg);
	if (c == NULL)
		return;
	char want[PATH_MAX + 64];
	CHECK(c->process.workers == CONF_WORKERS_AUTO);
	CHECK(strcmp(c->process.user, "nobody") == 0);
	CHECK(c->process.max_connections == 10000000);
	CHECK(c->process.shutdown_timeout_ms == 90000);
	CHECK(c->log.level == CONF_LOG_DEBUG && c->log.format == CONF_LOG_JSON);
	snprintf(want, sizeof want, "%s/good/logs/access.log", VEC);
	CHECK(c->log.access == CONF_ACCESS_FILE && strcmp(c->log.access_path, want) == 0);
	CHECK(c->log.nskip_from == 2 && strcmp(cidr_str(&c->log.skip_from[0]), "192.0.2.0/24") == 0 &&
	    strcmp(cidr_str(&c->log.skip_from[1]), "2001:db8::1/128") == 0);
	CHECK(c->admin.enabled && strcmp(addr_str(&c->admin.listen), "[::1]:9091") == 0);

	CHECK(c->nlisteners == 2);
	const struct conf_listener *l = &c->listeners[0];
	CHECK(strcmp(l->name, "edge-tls") == 0 && l->kind == CONF_LISTENER_TLS);
	CHECK(l->nlisten == 2 && strcmp(addr_str(&l->listen[0]), "0.0.0.0:443") == 0 &&
	    strcmp(addr_str(&l->listen[1]), "[::]:443") == 0);
	CHECK(l->listen[0].len == sizeof(struct sockaddr_in));
	CHECK(l->listen[1].len == sizeof(struct sockaddr_in6));
	CHECK(l->nproxy_from == 3);
	CHECK(strcmp(cidr_str(&l->proxy_from[0]), "10.0.0.0/8") == 0);
	CHECK(strcmp(cidr_str(&l->proxy_from[1]), "2001:db8::/32") == 0);
	CHECK(strcmp(cidr_str(&l->proxy_from[2]), "192.0.2.7/32") == 0);
	CHECK(l->proxy_from[1].family == AF_INET6 && l->proxy_from[1].prefix == 32);
	CHECK(l->preread_timeout_ms == 2500 && l->proxy_protocol_timeout_ms == 4000);
	CHECK(l->max_hello == 32768 && l->idle_timeout_ms == 7200000);
	CHECK(l->max_preread_per_ip == 100000);
	CHECK(l->max_connections_per_ip == 1000);
	CHECK(l->nroutes == 4);
	CHECK(l->routes[0].npatterns == 2);
	CHECK(strcmp(l->routes[0].patterns[0].name, "subdomain1.mydomain.org") == 0);
	CHECK(l->routes[0].patterns[0].len == strlen("subdomain1.mydomain.org"));
	CHECK(!l->routes[0].patterns[0].wildcard);
	CHECK(l->routes[0].action == CONF_ACTION_UPSTREAM && l->routes[0].upstream_index == 0 &&
	    l->routes[0].upstream == &c->upstreams[0]);
	CHECK(strcmp(l->routes[1].patterns[0].name, "*.myotherdomain.info") == 0 &&
	    l->routes[1].patterns[0].wildcard);
	CHECK(l->routes[1].upstream_index == 1 && strcmp(l->routes[1].upstream->name,
	    "backend_b") == 0);
	CHECK(l->routes[2].action == CONF_ACTION_TERMINATE && l->routes[2].upstream == NULL);
	CHECK(l->routes[3].action == CONF_ACTION_REJECT);
	CHECK(l->has_default && l->default_route.action == CONF_ACTION_UPSTREAM &&
	    l->default_route.upstream_index == 2 && l->default_route.npatterns == 0);

	l = &c->listeners[1];
	CHECK(strcmp(l->name, "edge-http") == 0 && l->kind == CONF_LISTENER_HTTP);
	CHECK(l->nlisten == 1 && strcmp(addr_str(&l->listen[0]), "0.0.0.0:80") == 0);
	CHECK(l->https_port == 8443 && l->ntrusted_forwarders == 2);
	CHECK(strcmp(cidr_str(&l->trusted_forwarders[1]), "::1/128") == 0);
	CHECK(l->nroutes == 2 && l->routes[0].upstream_index == 3);
	CHECK(l->routes[1].action == CONF_ACTION_SITE);
	CHECK(l->default_route.action == CONF_ACTION_REDIRECT_HTTPS);

	CHECK(c->nupstreams == 4);
	const struct conf_upstream *u = &c->upstreams[0];
	CHECK(strcmp(u->name, "backend_a") == 0 && u->nservers == 2);
	CHECK(strcmp(addr_str(&u->servers[1]), "192.168.99.12:443") == 0);
	CHECK(u->proxy_protocol == CONF_PP_V2 && u->balance == CONF_BALANCE_SOURCE);
	CHECK(u->connect_timeout_ms == 1500);
	CHECK(u->health.enabled && u->health.interval_ms == 20000 && u->health.rise == 5 &&
	    u->health.fall == 7 && u->health.timeout_ms == 3000);
	u = &c->upstreams[1];
	CHECK(u->nservers == 1 && strcmp(addr_str(&u->servers[0]), "[2001:db8::b]:8443") == 0);
	CHECK(u->proxy_protocol == CONF_PP_V1 && u->balance == CONF_BALANCE_LEAST_CONN);
	CHECK(c->upstreams[2].balance == CONF_BALANCE_RANDOM);

	const struct conf_terminator *t = &c->terminator;
	CHECK(t->ncertificates == 2);
	CHECK(strcmp(t->certificates[0].cert, "/etc/letsencrypt/live/example.com/fullchain.pem") == 0);
	snprintf(want, sizeof want, "%s/good/certs/other.key", VEC);
	CHECK(strcmp(t->certificates[1].key, want) == 0);
	CHECK(t->tls_min_version == 0x0304 && t->alpn_http11);
	CHECK(strcmp(t->site.root, "/var/www/html") == 0);
	CHECK(strcmp(t->site.health_path, "/healthz") == 0);
	const struct conf_vpn *v = &t->vpn;
	CHECK(v->enabled && strcmp(v->path, "/api/v2/tunnel") == 0);
	snprintf(want, sizeof want, "%s/good/keys/server_identity.key", VEC);
	CHECK(strcmp(v->identity_key, want) == 0);
	CHECK(strcmp(v->prekey_bundle, "/etc/switchyard/prekey-bundle.json") == 0);
	snprintf(want, sizeof want, "%s/good/keys/clients.allow", VEC);
	CHECK(strcmp(v->clients, want) == 0 && v->open);
	CHECK(v->egress.deny_ranges == (CONF_RANGE_LOOPBACK | CONF_RANGE_CGNAT));
	CHECK(v->egress.ndeny == 1 && strcmp(cidr_str(&v->egress.deny[0]), "198.18.0.0/15") == 0);
	CHECK(v->egress.nallow == 1 && strcmp(cidr_str(&v->egress.allow[0]), "10.1.0.0/16") == 0);
	CHECK(!v->tun.enabled && v->tun.client_to_client &&
	    strcmp(v->tun.name, "sy-tunnel-12345") == 0);
	CHECK(v->replay_window_ms == 7200000 && strcmp(v->state_dir, "/var/lib/sy-test") == 0);
	CHECK(v->dns.nservers == 2 && strcmp(addr_str(&v->dns.servers[0]), "127.0.0.1:53") == 0 &&
	    strcmp(addr_str(&v->dns.servers[1]), "[::1]:5353") == 0 && v->dns.timeout_ms == 2000);
	CHECK(v->max_sessions == 7 && v->max_flows == 3);
	CHECK(strcmp(cidr_str(&v->tun.address), "10.201.0.1/16") == 0 && v->tun.mtu == 9000);
	CHECK(v->tun.ndns == 2 && strcmp(addr_str(&v->tun.dns[1]), "[2606:4700::1111]:53") == 0);
	conf_free(c);
}

/* Loads path expecting success; returns the configuration. */
static struct conf *
load_ok(const char *path)
{
	struct conf_error err;
	struct conf *c = conf_load(path, &err);
	CHECKF(c != NULL, "%s: %s", path, err.msg);
	return c;
}

/* Loads path expecting exactly msg. */
static void
load_bad(const char *path, const char *msg)
{
	struct conf_error err;
	struct conf *c = conf_load(path, &err);
	CHECKF(c == NULL && strcmp(err.msg, msg) == 0, "%s:\n  got  [%s]\n  want [%s]", path,
	    c ? "(loaded)" : err.msg, msg);
	conf_free(c);
}

/* Includes: lexical order, appending lists, merging maps, later wins, nested paths. */
static void
test_include_merge(void)
{
	char want[PATH_MAX + 64];
	const char *dir = VEC "/include/merge";
	struct conf *c = load_ok(VEC "/include/merge/main.yaml");
	if (c == NULL)
		return;
	/* 05-a sets debug, 10-b warn: the later file wins; format only main sets. */
	CHECK(c->log.level == CONF_LOG_WARN && c->log.format == CONF_LOG_JSON);
	/* Listeners append: main's, then 05-a's, then 10-b's (README is not *.yaml). */
	CHECK(c->nlisteners == 3);
	if (c->nlisteners == 3) {
		CHECK(strcmp(c->listeners[0].name, "main-tls") == 0);
		CHECK(strcmp(c->listeners[1].name, "a-http") == 0);
		CHECK(strcmp(c->listeners[2].name, "b-tls") == 0);
		/* 10-b routes to an upstream from sub/extra.yaml, included by 20-c. */
		CHECK(strcmp(c->listeners[2].routes[0].upstream->name, "up_extra") == 0);
		CHECK(c->listeners[2].routes[0].upstream_index == 2);
		CHECK(c->listeners[1].default_route.upstream_index == 1);
	}
	/* Upstreams merge in order of appearance. */
	CHECK(c->nupstreams == 3);
	if (c->nupstreams == 3) {
		CHECK(strcmp(c->upstreams[0].name, "up_main") == 0);
		CHECK(strcmp(c->upstreams[1].name, "up_a") == 0);
		CHECK(strcmp(c->upstreams[2].name, "up_extra") == 0);
	}
	/* Certificates append; each path resolves against its own file's directory. */
	CHECK(c->terminator.ncertificates == 3);
	if (c->terminator.ncertificates == 3) {
		snprintf(want, sizeof want, "%s/certs/main.crt", dir);
		CHECKF(strcmp(c->terminator.certificates[0].cert, want) == 0, "%s",
		    c->terminator.certificates[0].cert);
		snprintf(want, sizeof want, "%s/conf.d/a.key", dir);
		CHECKF(strcmp(c->terminator.certificates[1].key, want) == 0, "%s",
		    c->terminator.certificates[1].key);
		snprintf(want, sizeof want, "%s/conf.d/../sub/extra.crt", dir);
		CHECKF(strcmp(c->terminator.certificates[2].cert, want) == 0, "%s",
		    c->terminator.certificates[2].cert);
		CHECK(strcmp(c->terminator.certificates[2].key, "/etc/extra.key") == 0);
	}
	/* site.root: 20-c's value wins over main's, resolved in conf.d/. */
	snprintf(want, sizeof want, "%s/conf.d/www", dir);
	CHECKF(c->terminator.site.root != NULL && strcmp(c->terminator.site.root, want) == 0,
	    "%s", c->terminator.site.root);
	conf_free(c);
}

/* Includes: duplicate upstream, loop, missing literal, depth at N and N+1. */
static void
test_include_errors(void)
{
	char want[2 * PATH_MAX];
	snprintf(want, sizeof want, "%s/include/dupup/more.yaml:2:3: upstreams.shared: defined "
	    "twice (first at %s/include/dupup/main.yaml:4:3)", VEC, VEC);
	load_bad(VEC "/include/dupup/main.yaml", want);

	snprintf(want, sizeof want, "%s/include/loop/b.yaml:1:10: include: include loop: "
	    "`%s/include/loop/a.yaml` is already being loaded", VEC, VEC);
	load_bad(VEC "/include/loop/a.yaml", want);

	snprintf(want, sizeof want, "%s/include/missing/main.yaml:1:26: include[1]: cannot include "
	    "`%s/include/missing/nothere.yaml`: No such file or directory", VEC, VEC);
	load_bad(VEC "/include/missing/main.yaml", want);

	/* d1 -> ... -> d9 is 8 levels of include (N); d0 -> ... -> d9 is 9 (N+1). */
	struct conf *c = load_ok(VEC "/include/depth/d1.yaml");
	CHECK(c != NULL && c->nlisteners == 1 && strcmp(c->listeners[0].name, "deep") == 0);
	conf_free(c);
	snprintf(want, sizeof want, "%s/include/depth/d8.yaml:1:10: include: includes nested "
	    "deeper than 8 files", VEC);
	load_bad(VEC "/include/depth/d0.yaml", want);

	load_bad(VEC "/include/nothere.yaml", VEC "/include/nothere.yaml:1:1: (document): "
	    "cannot open: No such file or directory");
	load_bad(VEC "/include", VEC "/include:1:1: (document): cannot read: Is a directory");
}

/* Writes a file (test helper). */
static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECKF(f != NULL, "%s: %s", path, strerror(errno));
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

/* Includes in a scratch directory: glob characters in the directory, file count limit. */
static void
test_include_tmp(void)
{
	char tmpl[] = "/tmp/sy-conf-XXXXXX";
	char *top = mkdtemp(tmpl);
	CHECK(top != NULL);
	if (top == NULL)
		return;
	char dir[PATH_MAX], path[PATH_MAX + 64], want[2 * PATH_MAX];

	/* A directory whose name holds glob characters: only the pattern may glob. */
	snprintf(dir, sizeof dir, "%s/we[i]rd*", top);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof path, "%s/main.yaml", dir);
	write_file(path, "include: \"*.inc\"\nlisteners: [{name: m, listen: 127.0.0.1:7000, "
	    "kind: tls, routes: [{default: {reject: true}}]}]\n");
	snprintf(path, sizeof path, "%s/one.inc", dir);
	write_file(path, "log: {level: error}\nterminator: {site: {root: pub}}\n");
	snprintf(path, sizeof path, "%s/main.yaml", dir);
	struct conf *c = load_ok(path);
	CHECK(c != NULL && c->log.level == CONF_LOG_ERROR);
	snprintf(want, sizeof want, "%s/pub", dir);
	CHECK(c != NULL && strcmp(c->terminator.site.root, want) == 0);
	conf_free(c);

	/* A relative main path resolves against the working directory. */
	char cwd[PATH_MAX];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(chdir(top) == 0);
	c = load_ok("we[i]rd*/main.yaml");
	snprintf(want, sizeof want, "%s/we[i]rd*/pub", top);
	CHECKF(c != NULL && strcmp(c->terminator.site.root, want) == 0, "%s",
	    c ? c->terminator.site.root : "");
	conf_free(c);
	CHECK(chdir(cwd) == 0);

	/* File count: main + 63 drop-ins = 64 files (N) loads; 65 is refused. */
	snprintf(dir, sizeof dir, "%s/many", top);
	CHECK(mkdir(dir, 0700) == 0);
	for (int i = 0; i < CONF_FILES_MAX - 1; i++) {
		snprintf(path, sizeof path, "%s/f%02d.yaml", dir, i);
		write_file(path, "log: {level: debug}\n");
	}
	snprintf(path, sizeof path, "%s/main.yaml", top);
	write_file(path, "include: many/*.yaml\nlisteners: [{name: m, listen: 127.0.0.1:7000, "
	    "kind: tls, routes: [{default: {reject: true}}]}]\n");
	c = load_ok(path);
	CHECK(c != NULL && c->log.level == CONF_LOG_DEBUG);
	conf_free(c);
	snprintf(path, sizeof path, "%s/f%02d.yaml", dir, CONF_FILES_MAX - 1);
	write_file(path, "log: {level: debug}\n");
	snprintf(path, sizeof path, "%s/main.yaml", top);
	snprintf(want, sizeof want, "%s:1:10: include: more than 64 configuration files", path);
	load_bad(path, want);

	/* An empty drop-in folder is fine; an included file with a syntax error is named. */
	snprintf(path, sizeof path, "%s/empty.yaml", top);
	write_file(path, "include: [nothing.d/*.yaml, many/none*.yaml]\nlisteners: [{name: m, "
	    "listen: 127.0.0.1:7000, kind: tls, routes: [{default: {reject: true}}]}]\n");
	c = load_ok(path);
	conf_free(c);
	snprintf(path, sizeof path, "%s/broken.inc", top);
	write_file(path, "log: [\n");
	snprintf(path, sizeof path, "%s/inc-broken.yaml", top);
	write_file(path, "include: broken.inc\n");
	snprintf(want, sizeof want, "%s/broken.inc:2:1: log[0]: did not find expected node "
	    "content while parsing a flow node", top);
	load_bad(path, want);
	/* Include values: types and emptiness. */
	snprintf(path, sizeof path, "%s/inc-type.yaml", top);
	write_file(path, "include: {a: b}\n");
	snprintf(want, sizeof want, "%s:1:10: include: expected a string or a list of strings, "
	    "got a map", path);
	load_bad(path, want);
	write_file(path, "include: [\"\"]\n");
	snprintf(want, sizeof want, "%s:1:11: include[0]: an empty include pattern", path);
	load_bad(path, want);

	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	CHECK(system(cmd) == 0);
}

/* Dumps c into a string (caller frees). */
static char *
dump_str(const struct conf *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (f == NULL)
		return NULL;
	conf_dump(c, f);
	fclose(f);
	return buf;
}

/* The demo and every example load, and each dump loads back to the same dump. */
static void
test_shipped(void)
{
	static const char *const files[] = {
		SY_SOURCE_DIR "/conf.d/switchyard.yaml",
		SY_SOURCE_DIR "/conf.d/examples/yunohost-passthrough.yaml",
		SY_SOURCE_DIR "/conf.d/examples/vpn-with-decoy.yaml",
		SY_SOURCE_DIR "/conf.d/examples/behind-haproxy.yaml",
		SY_SOURCE_DIR "/conf.d/examples/multi-backend.yaml",
		VEC "/good/full.yaml",
		VEC "/include/merge/main.yaml",
		NULL
	};
	for (size_t i = 0; files[i] != NULL; i++) {
		struct conf *c = load_ok(files[i]);
		if (c == NULL)
			continue;
		size_t n1, n2;
		char *d1 = dump_str(c, &n1);
		struct conf_error err;
		struct conf *c2 = conf_load_mem("dump.yaml", (const uint8_t *)d1, n1, 0, &err);
		CHECKF(c2 != NULL, "%s: dump does not load: %s", files[i], err.msg);
		if (c2 != NULL) {
			char *d2 = dump_str(c2, &n2);
			CHECKF(n1 == n2 && memcmp(d1, d2, n1) == 0, "%s: dump differs after reload",
			    files[i]);
			free(d2);
		}
		free(d1);
		conf_free(c2);
		conf_free(c);
	}
	/* The demo's site root resolves next to the file, in conf.d/site. */
	struct conf *c = load_ok(SY_SOURCE_DIR "/conf.d/switchyard.yaml");
	if (c != NULL) {
		CHECK(strcmp(c->terminator.site.root, SY_SOURCE_DIR "/conf.d/site") == 0);
		CHECK(c->admin.enabled && strcmp(addr_str(&c->admin.listen), "127.0.0.1:9090") == 0);
		for (size_t i = 0; i < c->nlisteners; i++)
			for (size_t j = 0; j < c->listeners[i].nlisten; j++)
				CHECKF(strncmp(addr_str(&c->listeners[i].listen[j]), "127.0.0.1:", 10) == 0,
				    "demo listens beyond loopback: %s", addr_str(&c->listeners[i].listen[j]));
	}
	conf_free(c);
	/* A NULL error pointer is allowed. */
	CHECK(conf_load_mem(NAME, (const uint8_t *)"x", 1, 0, NULL) == NULL);
	conf_free(NULL);
}

/* Runs every group; the exit status says whether all checks passed. */
int
main(void)
{
	test_yaml_errors();
	test_limits();
	test_schema_errors();
	test_ranges();
	test_addresses();
	test_routes();
	test_terminator();
	test_defaults();
	test_full();
	test_include_merge();
	test_include_errors();
	test_include_tmp();
	test_shipped();
	return check_summary();
}
