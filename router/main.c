/*
 * switchyard's entry point: the command line (DESIGN.md §4). It parses options, loads and
 * checks the configuration, and (once the router lands) starts the workers. It must never
 * start serving on a configuration that did not validate completely.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "core/conf.h"
#include "core/log.h"

#define MAIN_CONF_DEFAULT "/etc/switchyard/switchyard.yaml"

/* Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration. */
enum { MAIN_EXIT_OK = 0, MAIN_EXIT_FAIL = 1, MAIN_EXIT_CONFIG = 2 };

static const char main_usage[] =
"Usage: switchyard [-c FILE] [-t [-v]]\n"
"       switchyard -h | --help\n"
"       switchyard -V | --version\n";

static const char main_help[] =
"\n"
"switchyard is an edge daemon for one box. On a TLS listener it pre-reads the ClientHello\n"
"and, by SNI, passes the connection through untouched to an upstream (optionally prefixed\n"
"with a PROXY protocol v1/v2 header), hands it to its own TLS terminator, or rejects it. On an\n"
"HTTP listener it routes plain HTTP by Host. It runs in the foreground and logs to stderr.\n"
"\n"
"Options:\n"
"  -c, --config FILE  Read the configuration from FILE. Default: " MAIN_CONF_DEFAULT ",\n"
"                     or, when that does not exist, the demo configuration\n"
"                     " SY_DEMO_CONF "\n"
"  -t, --test         Check the configuration (syntax, types, limits, references and all\n"
"                     included files) and exit: 0 when it is valid, 2 with\n"
"                     \"file:line:column: key: what is wrong\" when it is not.\n"
"  -v, --verbose      With -t, also print the effective configuration after includes and\n"
"                     defaults.\n"
"  -h, --help         Print this help and exit.\n"
"  -V, --version      Print the version and the library versions and exit.\n"
"\n"
"Configuration:\n"
"  YAML; see conf.d/switchyard.yaml (commented) and conf.d/examples/. Durations are written\n"
"  500ms, 5s, 10m, 24h; sizes 4096, 16k, 1m; addresses ip:port or [v6]:port. Relative paths\n"
"  are resolved against the directory of the file that names them. Unknown keys are errors.\n"
"\n"
"Signals:\n"
"  SIGHUP             Reload: the new file is checked first; on error the old one stays.\n"
"  SIGTERM, SIGINT    Stop accepting, drain for process.shutdown_timeout, then exit.\n"
"  SIGUSR1            Reopen log files.\n"
"\n"
"Exit status:\n"
"  0  success; 1  runtime failure; 2  bad usage or invalid configuration.\n";

/* Picks the configuration path when -c was not given (DESIGN.md §4). */
static const char *
main_default_conf(void)
{
	if (access(MAIN_CONF_DEFAULT, F_OK) == 0)
		return MAIN_CONF_DEFAULT;
	return SY_DEMO_CONF;
}

/* Prints the program and library versions. */
static void
main_version(void)
{
	printf("switchyard %s\n", SY_VERSION);
	printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  libevent %s\n", event_get_version());
	printf("  libsodium %s\n", sodium_version_string());
	printf("  libyaml %s\n", yaml_get_version_string());
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	int test = 0, verbose = 0, ch;

	while ((ch = getopt_long(argc, argv, "c:tvhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(main_usage, stdout);
			fputs(main_help, stdout);
			return MAIN_EXIT_OK;
		case 'V':
			main_version();
			return MAIN_EXIT_OK;
		default:
			fputs(main_usage, stderr);
			fputs("Try 'switchyard --help' for more information.\n", stderr);
			return MAIN_EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "switchyard: unexpected argument '%s'\n", argv[optind]);
		fputs(main_usage, stderr);
		return MAIN_EXIT_CONFIG;
	}
	if (verbose && !test) {
		fputs("switchyard: -v goes with -t\n", stderr);
		return MAIN_EXIT_CONFIG;
	}
	if (path == NULL)
		path = main_default_conf();

	log_route_libevent();
	if (sodium_init() == -1) {
		fputs("switchyard: libsodium failed to initialise\n", stderr);
		return MAIN_EXIT_FAIL;
	}

	struct conf_error err;
	struct conf *conf = conf_load(path, &err);
	if (conf == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		if (test)
			fprintf(stderr, "switchyard: configuration %s test failed\n", path);
		return MAIN_EXIT_CONFIG;
	}
	if (test) {
		if (verbose)
			conf_dump(conf, stdout);
		printf("switchyard: configuration %s is valid\n", path);
		conf_free(conf);
		return MAIN_EXIT_OK;
	}

	/* Serving comes with the router (issue: SNI passthrough); until then say so plainly. */
	fprintf(stderr, "switchyard: configuration %s is valid, but this build cannot serve yet: "
	    "the router is not implemented (use -t)\n", path);
	conf_free(conf);
	return MAIN_EXIT_FAIL;
}
