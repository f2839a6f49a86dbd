/*
 * switchyard-client: the process. Reads the options (client/ccfg.c), loads and checks the
 * identity and the server's bundle (its prekey signature must verify; a known-hosts pin
 * must match the bundle's key before anything is dialled), checks what --tun needs (the
 * device itself comes with the first VirtualIp, client/ctun.c), opens the listeners, then runs
 * the one event loop until SIGINT/SIGTERM or a refused server identity. `keygen` writes an
 * identity through core/keyfile.c, the code `switchyard keygen` uses.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "core/keyfile.h"
#include "core/log.h"
#include "proto/rvpn/rvpn_keys.h"

/* `switchyard-client keygen -o FILE [--force]`. */
static int
client_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	bool force = false;
	char err[KEYFILE_PATH_MAX + 128];
	uint8_t seed[32];
	int ch, rc = CLIENT_EXIT_FAIL;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:f", longopts, NULL)) != -1) {
		if (ch == 'o')
			out = optarg;
		else if (ch == 'f')
			force = true;
		else
			goto usage;
	}
	if (out == NULL || optind < argc)
		goto usage;
	randombytes_buf(seed, sizeof seed);
	if (keyfile_write_identity(out, seed, force, err, sizeof err) != 0) {
		fprintf(stderr, "switchyard-client keygen: %s\n", err);
		goto out;
	}
	printf("identity: %s\n", out);
	keyfile_print_forms(stdout, seed);
	rc = CLIENT_EXIT_OK;
out:
	sodium_memzero(seed, sizeof seed);
	return rc;
usage:
	fprintf(stderr, "switchyard-client keygen: takes -o FILE [--force]\n");
	return CLIENT_EXIT_USAGE;
}

/* Loads the identity and the bundle; checks the bundle's signature and the pin. */
static int
client_keys(const struct ccfg *c, struct rvpn_identity *id, struct rvpn_bundle *b)
{
	char err[KEYFILE_PATH_MAX + 256], text[RVPN_BUNDLE_MAX + 1], pinned[128];
	char have[RVPN_PIN_LEN + 1];
	uint8_t seed[32];
	long n;
	int k;

	if (keyfile_read_identity("switchyard-client", c->identity, seed, err, sizeof err) != 0 ||
	    rvpn_identity_from_seed(id, seed) != 0) {
		sodium_memzero(seed, sizeof seed);
		fprintf(stderr, "switchyard-client: %s\n", err);
		return CLIENT_EXIT_FAIL;
	}
	sodium_memzero(seed, sizeof seed);
	n = keyfile_read(c->bundle, text, sizeof text, err, sizeof err);
	if (n < 0) {
		fprintf(stderr, "switchyard-client: %s\n", err);
		return CLIENT_EXIT_FAIL;
	}
	if (rvpn_bundle_parse(b, text, (size_t)n) != 0) {
		fprintf(stderr, "switchyard-client: %s: not a prekey bundle\n", c->bundle);
		return CLIENT_EXIT_FAIL;
	}
	if (!rvpn_spk_verify(b->prekey_signature, b->identity_key, b->signed_prekey)) {
		fprintf(stderr, "switchyard-client: %s: the prekey signature does not verify; "
		    "refusing the bundle\n", c->bundle);
		return CLIENT_EXIT_FAIL;
	}
	if (c->known_hosts == NULL)
		return CLIENT_EXIT_OK;
	k = known_lookup(c->known_hosts, c->hostport, pinned, sizeof pinned, err, sizeof err);
	if (k < 0) {
		fprintf(stderr, "switchyard-client: %s\n", err);
		return CLIENT_EXIT_FAIL;
	}
	rvpn_pin_format(have, b->identity_key);
	if (k == 1 && !rvpn_pin_match(pinned, strlen(pinned), b->identity_key)) {
		fprintf(stderr, "switchyard-client: identity of %s changed: pinned %s (in %s), the "
		    "bundle %s holds %s; refusing. If the change is expected, remove the entry from "
		    "%s\n", c->hostport, pinned, c->known_hosts, c->bundle, have, c->known_hosts);
		return CLIENT_EXIT_PIN;
	}
	return CLIENT_EXIT_OK;
}

/* SIGINT / SIGTERM: leave the loop. */
static void
client_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct ccfg cfg;
	struct rvpn_identity id;
	struct rvpn_bundle bundle;
	struct event_base *base = NULL;
	struct event *sint = NULL, *sterm = NULL;
	struct sess *s = NULL;
	enum log_level lvl = LOG_LEVEL_INFO;
	int rc;

	memset(&id, 0, sizeof id);
	if (sodium_init() == -1) {
		fprintf(stderr, "switchyard-client: libsodium failed to start\n");
		return CLIENT_EXIT_FAIL;
	}
	if (argc > 1 && strcmp(argv[1], "keygen") == 0)
		return client_keygen(argc - 1, argv + 1);
	rc = ccfg_load(&cfg, argc, argv);
	if (rc != 0) {
		ccfg_free(&cfg);
		return rc > 0 ? CLIENT_EXIT_OK : CLIENT_EXIT_USAGE;
	}
	if (cfg.log_level != NULL && !log_level_parse(cfg.log_level, &lvl)) {
		fprintf(stderr, "switchyard-client: --log-level %s: error|warn|info|debug\n",
		    cfg.log_level);
		rc = CLIENT_EXIT_USAGE;
		goto out;
	}
	log_set_level(lvl);
	log_route_libevent();
	signal(SIGPIPE, SIG_IGN);
	rc = client_keys(&cfg, &id, &bundle);
	if (rc != CLIENT_EXIT_OK)
		goto out;
	rc = CLIENT_EXIT_FAIL;
	base = event_base_new();
	if (base == NULL)
		goto out;
	s = sess_new(base, &cfg, &id, &bundle);
	if (s == NULL) {
		fprintf(stderr, "switchyard-client: cannot set up TLS (see above)\n");
		goto out;
	}
	if (cfg.tun && ctun_init(base, s, &cfg) != 0)
		goto out;
	if ((cfg.socks != NULL && local_listen(base, s, LOCAL_SOCKS5, cfg.socks) != 0) ||
	    (cfg.http != NULL && local_listen(base, s, LOCAL_HTTP, cfg.http) != 0))
		goto out;
	sint = evsignal_new(base, SIGINT, client_signal_cb, base);
	sterm = evsignal_new(base, SIGTERM, client_signal_cb, base);
	if (sint == NULL || sterm == NULL || event_add(sint, NULL) != 0 || event_add(sterm, NULL) != 0)
		goto out;
	log_info("client: switchyard-client %s for %s%s", SY_VERSION, cfg.hostport, cfg.path);
	event_base_dispatch(base);
	rc = sess_fatal(s) >= 0 ? sess_fatal(s) : CLIENT_EXIT_OK;
	log_info("client: exiting (status %d)", rc);
out:
	local_shutdown();
	ctun_shutdown();
	sess_free(s);
	if (sint != NULL)
		event_free(sint);
	if (sterm != NULL)
		event_free(sterm);
	if (base != NULL)
		event_base_free(base);
	rvpn_identity_wipe(&id);
	ccfg_free(&cfg);
	return rc;
}
