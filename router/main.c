/*
 * switchyard's entry point: the command line (DESIGN.md §4). It parses options, loads and
 * checks the configuration, starts the workers and then handles signals: reload, stop, log
 * reopen. It must never start serving on a configuration that did not validate completely.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "core/conf.h"
#include "core/confval.h"
#include "core/deadline.h"
#include "core/log.h"
#include "core/privopen.h"
#include "core/sdnotify.h"
#include "core/stats.h"
#include "router/accesslog.h"
#include "router/admin.h"
#include "router/conn.h"
#include "router/gen.h"
#include "router/health.h"
#include "router/ipcap.h"
#include "router/import.h"
#include "router/keytool.h"
#include "router/worker.h"
#include "terminator/terminator.h"

#ifndef SY_SYSCONFDIR
#define SY_SYSCONFDIR "/etc" /* CMake's SY_SYSCONFDIR */
#endif
#define MAIN_CONF_DEFAULT SY_SYSCONFDIR "/switchyard/switchyard.yaml"
#define MAIN_ADDRS_LINE_MAX 1024 /* listen addresses named in one start-up line */
#define MAIN_STATUS_INTERVAL_MS 2000 /* STATUS= to the service manager, when it changed */

/* Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration. */
enum { MAIN_EXIT_OK = 0, MAIN_EXIT_FAIL = 1, MAIN_EXIT_CONFIG = 2 };

static const char main_usage[] =
"Usage: switchyard [-c FILE] [-t [-v]]\n"
"       switchyard keygen | pubkey | prekey-bundle ... (VPN keys, below)\n"
"       switchyard import nginx|haproxy FILE (migration, below)\n"
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
"  -c, --config FILE  Read the configuration from FILE. Default: " MAIN_CONF_DEFAULT "\n";

/* The rest of the help, after the default configuration (and the build tree's fallback). */
static const char main_help_rest[] =
"  -t, --test         Check the configuration (syntax, types, limits, references and all\n"
"                     included files; certificates and keys are loaded and matched, the\n"
"                     site root opened) and exit: 0 when it is valid, 2 with\n"
"                     \"file:line:column: key: what is wrong\" (or the file at fault) when\n"
"                     it is not.\n"
"  -v, --verbose      With -t, also print the effective configuration after includes and\n"
"                     defaults.\n"
"  -h, --help         Print this help and exit.\n"
"  -V, --version      Print the version and the library versions and exit.\n"
"\n"
"Configuration:\n"
"  YAML; every key in switchyard.yaml(5), commented examples in share/switchyard/examples/\n"
"  (conf.d/examples/ in the source tree). Durations are written\n"
"  500ms, 5s, 10m, 24h; sizes 4096, 16k, 1m; addresses ip:port or [v6]:port. Relative paths\n"
"  are resolved against the directory of the file that names them. Unknown keys are errors.\n"
"\n"
"Signals:\n"
"  SIGHUP             Reload: the new file is checked first; on error the old one stays.\n"
"                     Certificates are read again.\n"
"  SIGTERM, SIGINT    Stop accepting, drain for process.shutdown_timeout, then exit.\n"
"                     The admin listener answers meanwhile (/healthz: 503).\n"
"  SIGUSR1            Reopen the access log file (after logrotate).\n"
"\n"
"Environment:\n"
"  SWITCHYARD_RELAY=copy  Relay with read/write through pooled buffers only. By default a\n"
"                     direction copies until a read fills a 64 KiB chunk, then uses splice(2).\n"
"\n"
"Exit status:\n"
"  0  success; 1  runtime failure; 2  bad usage or invalid configuration.\n";

/*
 * True when this process runs the binary the build tree made (SY_BUILD_EXE, set by CMake),
 * not an installed copy: only then may a missing default configuration fall back to the
 * demo one in the source tree. An installed daemon must never read a build tree's file.
 */
static bool
main_in_build_tree(void)
{
#ifdef SY_BUILD_EXE
	char self[PATH_MAX], built[PATH_MAX];
	if (realpath("/proc/self/exe", self) == NULL || realpath(SY_BUILD_EXE, built) == NULL)
		return false;
	return strcmp(self, built) == 0;
#else
	return false;
#endif
}

/* Picks the configuration path when -c was not given (DESIGN.md §4). */
static const char *
main_default_conf(void)
{
#ifdef SY_DEMO_CONF
	if (access(MAIN_CONF_DEFAULT, F_OK) == -1 && main_in_build_tree())
		return SY_DEMO_CONF;
#endif
	return MAIN_CONF_DEFAULT;
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

/* The process: the main thread's loop (signals, admin, health checks) and the workers. */
static struct {
	struct event_base  *base;
	struct worker      *workers;
	unsigned            nworkers;
	struct gen         *gen;       /* newest generation; main holds a reference */
	const char         *path;
	uint64_t            genid;
	struct admin_state  admin;
	bool                admin_on;
	struct conf_addr    admin_addr;
	struct stats_entry *pstats;
	struct event       *status_ev;  /* periodic STATUS= (only under a service manager) */
	unsigned            status_conns; /* connection count of the last STATUS= sent */
} m;

/* Sends "READY=1" or "STOPPING=1" (head, may be NULL) with a STATUS= line of the current
 * generation and connection count to the service manager, when one listens. */
static void
main_notify(const char *head, const char *state)
{
	char st[SDNOTIFY_MSG_MAX], msg[SDNOTIFY_MSG_MAX];
	if (!sdnotify_enabled())
		return;
	m.status_conns = __atomic_load_n(&worker_conns_total, __ATOMIC_RELAXED);
	if (sdnotify_fmt_status(st, sizeof st, state, m.genid, m.status_conns) == 0)
		return;
	int w = snprintf(msg, sizeof msg, "%s%s%s", head != NULL ? head : "",
	    head != NULL ? "\n" : "", st);
	if (w < 0 || (size_t)w >= sizeof msg)
		return;
	if (!sdnotify_send(msg))
		log_debug("service manager notification not sent: %s", strerror(errno));
}

/* Timer: refreshes STATUS= when the connection count changed since the last one. */
static void
main_status_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (__atomic_load_n(&worker_conns_total, __ATOMIC_RELAXED) != m.status_conns)
		main_notify(NULL, m.admin.draining ? "draining" : "serving");
}

/* Applies the log settings of a configuration. */
static bool
main_apply_log(const struct conf *c)
{
	static const enum log_level levels[] = { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
		LOG_LEVEL_DEBUG };
	log_set_level(levels[c->log.level]);
	if (!accesslog_open(&c->log)) {
		log_error("cannot open access log %s: %s", c->log.access_path, strerror(errno));
		return false;
	}
	return true;
}

/* (Re)starts the admin listener when its address changed; false when it cannot listen. */
static bool
main_apply_admin(const struct conf *c)
{
	char err[256];
	bool same = m.admin_on && c->admin.enabled && c->admin.listen.len == m.admin_addr.len &&
	    memcmp(&c->admin.listen.ss, &m.admin_addr.ss, m.admin_addr.len) == 0;
	if (same)
		return true;
	if (m.admin_on) {
		admin_stop();
		m.admin_on = false;
	}
	if (!c->admin.enabled)
		return true;
	if (!admin_start(m.base, &c->admin.listen, &m.admin, err, sizeof err)) {
		log_error("%s", err);
		return false;
	}
	m.admin_on = true;
	m.admin_addr = c->admin.listen;
	return true;
}

/* Drops root for process.user after the sockets are bound. */
static bool
main_drop_privileges(const char *user)
{
	if (user == NULL)
		return true;
	if (geteuid() != 0) {
		log_warn("process.user %s ignored: not started as root", user);
		return true;
	}
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		log_error("process.user %s: no such user", user);
		return false;
	}
	if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_error("cannot become %s: %s", user, strerror(errno));
		return false;
	}
	log_info("running as %s", user);
	return true;
}

/* process.user must name an existing user (checked by -t and at start, like every other
 * key); prints "file:line:column: process.user: ..." and returns false when it does not. */
static bool
main_check_user(const struct conf *c)
{
	if (c->process.user == NULL)
		return true;
	errno = 0;
	if (getpwnam(c->process.user) != NULL)
		return true;
	fprintf(stderr, "%s: process.user: `%s`: %s\n", c->process.user_at, c->process.user,
	    errno != 0 ? strerror(errno) : "no such user");
	return false;
}

/* SIGHUP: check the new file first; keep the running configuration on any error. */
static void
main_reload_apply(void)
{
	struct conf_error err;
	char berr[256];
	log_info("reload: reading %s", m.path);
	struct conf *c = conf_load(m.path, &err);
	if (c == NULL) {
		log_error("reload failed, keeping generation %llu: %s", (unsigned long long)m.genid, err.msg);
		stats_add(m.pstats, stats_main, SP_RELOADS_FAILED, 1);
		return;
	}
	unsigned want = c->process.workers == CONF_WORKERS_AUTO ? (unsigned)sysconf(_SC_NPROCESSORS_ONLN)
	    : c->process.workers;
	if (want != m.nworkers)
		log_warn("reload: process.workers changes from %u to %u only at restart", m.nworkers, want);
	struct gen *g = gen_build(c, m.gen, m.nworkers, m.genid + 1, berr, sizeof berr);
	if (g == NULL) {
		log_error("reload failed, keeping generation %llu: %s", (unsigned long long)m.genid, berr);
		conf_free(c);
		stats_add(m.pstats, stats_main, SP_RELOADS_FAILED, 1);
		return;
	}
	main_apply_log(c);
	health_stop();
	for (unsigned i = 0; i < m.nworkers; i++)
		worker_post_gen(&m.workers[i], g);
	gen_unref(m.gen);
	m.gen = g;
	m.genid++;
	m.admin.generation = m.genid;
	health_start(m.base, g);
	if (!main_apply_admin(c))
		log_error("reload: the admin listener is off until a reload can bind it");
	stats_add(m.pstats, stats_main, SP_RELOADS_OK, 1);
	stats_add(m.pstats, stats_main, SP_GENERATION, 1);
	log_info("reload: generation %llu in force", (unsigned long long)m.genid);
}

/* SIGHUP under a service manager: RELOADING=1 (with the monotonic time the reload began,
 * so the manager can order it against its own reload request), the reload, then READY=1
 * whether it worked or not: the old generation still serves after a failed one. */
static void
main_reload(void)
{
	char msg[SDNOTIFY_MSG_MAX];
	if (sdnotify_enabled() && sdnotify_fmt_reloading(msg, sizeof msg, sdnotify_mono_usec(),
	    m.genid, __atomic_load_n(&worker_conns_total, __ATOMIC_RELAXED)) > 0 &&
	    !sdnotify_send(msg))
		log_debug("service manager notification not sent: %s", strerror(errno));
	main_reload_apply();
	main_notify("READY=1", "serving");
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	switch (sig) {
	case SIGHUP:
		if (m.admin.draining)
			log_info("reload ignored: stopping");
		else
			main_reload();
		break;
	case SIGUSR1:
		if (!accesslog_reopen())
			log_error("cannot reopen access log: %s", strerror(errno));
		else
			log_info("access log reopened");
		break;
	default:
		if (m.admin.draining) {
			log_info("signal %d: already stopping", (int)sig);
			break;
		}
		log_info("signal %d: stopping; draining connections for up to %llu ms", (int)sig,
		    (unsigned long long)m.gen->conf->process.shutdown_timeout_ms);
		/* The main loop runs on: the admin listener answers /healthz with 503 (and
		 * /metrics, /status) until the last worker has drained (main_exit_cb). */
		m.admin.draining = true;
		main_notify("STOPPING=1", "draining");
		for (unsigned i = 0; i < m.nworkers; i++)
			worker_post_stop(&m.workers[i]);
		break;
	}
}

/* A worker's loop has ended; once all have, the main loop ends too. */
static void
main_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (__atomic_load_n(&worker_exited, __ATOMIC_ACQUIRE) >= m.nworkers)
		event_base_loopbreak(m.base);
}

/* Logs what the process listens on: every address of every listener, and the admin's. A
 * listener with more addresses than one line holds goes on in "also on" lines. */
static void
main_log_listeners(const struct gen *g)
{
	char addrs[MAIN_ADDRS_LINE_MAX], a[64];
	for (size_t i = 0; i < g->nlisteners; i++) {
		const struct conf_listener *cl = g->listeners[i].conf;
		const char *kind = cl->kind == CONF_LISTENER_TLS ? "tls" : "http";
		size_t n = 0;
		for (size_t j = 0; j < cl->nlisten; j++) {
			confval_addr_format(&cl->listen[j], a, sizeof a);
			if (n > 0 && n + strlen(a) + 2 >= sizeof addrs) {
				log_info("listener %s (%s) also on %s", cl->name, kind, addrs);
				n = 0;
			}
			n += (size_t)snprintf(addrs + n, sizeof addrs - n, "%s%s", n ? ", " : "", a);
		}
		log_info("listener %s (%s) on %s: %zu route(s)%s", cl->name, kind, addrs,
		    cl->nroutes, cl->has_default ? " and a default" : "");
	}
	if (m.admin_on) {
		confval_addr_format(&m.admin_addr, a, sizeof a);
		log_info("admin on %s", a);
	}
}

/* Raises the soft fd limit to the hard one: every connection costs two fds, plus pipes. */
static void
main_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open-file limit: %s", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("open-file limit: %llu", (unsigned long long)rl.rlim_cur);
}

/* Runs the daemon until SIGTERM/SIGINT and the drain are over. Takes conf. */
static int
main_serve(struct conf *conf, const char *path)
{
	char err[256];
	struct event *sigs[4];
	static const int signums[4] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };

	signal(SIGPIPE, SIG_IGN);
	main_raise_nofile();
	if (evthread_use_pthreads() == -1) {
		fputs("switchyard: libevent has no pthreads support\n", stderr);
		conf_free(conf);
		return MAIN_EXIT_FAIL;
	}
	m.path = path;
	if (conf->process.user != NULL && geteuid() == 0) {
		/* Before anything is opened or bound: the helper inherits none of it. */
		pid_t hp = privopen_start(path, err, sizeof err);
		if (hp == -1) {
			fprintf(stderr, "switchyard: %s\n", err);
			conf_free(conf);
			return MAIN_EXIT_FAIL;
		}
		log_info("privileged file helper: pid %ld (opens the configuration's files, "
		    "certificates and keys for reloads after the drop to %s)", (long)hp,
		    conf->process.user);
	}
	/* After the helper's fork (it must not hold the socket), before the drop (the socket
	 * file may need root to connect to). */
	if (sdnotify_init(err, sizeof err) == -1)
		log_warn("no readiness notifications: %s", err);
	m.nworkers = conf->process.workers == CONF_WORKERS_AUTO ? (unsigned)sysconf(_SC_NPROCESSORS_ONLN)
	    : conf->process.workers;
	if (m.nworkers == 0)
		m.nworkers = 1;
	if (!main_apply_log(conf)) {
		conf_free(conf);
		return MAIN_EXIT_FAIL;
	}
	stats_init(m.nworkers);
	m.pstats = stats_entry(STATS_PROCESS, "");
	ipcap_init();
	conn_init_process();
	/* Default clock, as in the workers: health-check timeouts are "at least" through
	 * core/deadline.h, without the timerfd re-arm per wake-up that PRECISE_TIMER costs. */
	m.base = event_base_new();
	if (m.base == NULL) {
		log_error("cannot create the main event loop");
		conf_free(conf);
		return MAIN_EXIT_FAIL;
	}
	m.genid = 1;
	m.gen = gen_build(conf, NULL, m.nworkers, m.genid, err, sizeof err);
	if (m.gen == NULL) {
		log_error("%s", err);
		conf_free(conf);
		return MAIN_EXIT_FAIL;
	}
	stats_add(m.pstats, stats_main, SP_GENERATION, 1);
	m.admin = (struct admin_state){ .generation = m.genid, .workers = m.nworkers, .config_path = path };
	if (!main_apply_admin(conf))
		return MAIN_EXIT_FAIL; /* at start, an admin port we cannot bind is a hard error */
	if (!main_drop_privileges(conf->process.user))
		return MAIN_EXIT_FAIL;
	health_start(m.base, m.gen);
	for (int i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(m.base, signums[i], main_signal_cb, NULL);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) == -1) {
			log_error("cannot install signal handlers");
			return MAIN_EXIT_FAIL;
		}
	}

	worker_exit_ev = event_new(m.base, -1, 0, main_exit_cb, NULL);
	m.workers = worker_array(m.nworkers);
	if (worker_exit_ev == NULL || m.workers == NULL)
		return MAIN_EXIT_FAIL;
	for (unsigned i = 0; i < m.nworkers; i++) {
		if (worker_init(&m.workers[i], i, m.gen, m.pstats) == -1) {
			log_error("worker %u: cannot create its event loop", i);
			return MAIN_EXIT_FAIL;
		}
	}
	for (unsigned i = 0; i < m.nworkers; i++) {
		int e = pthread_create(&m.workers[i].thread, NULL, worker_main, &m.workers[i]);
		if (e != 0) {
			log_error("worker %u: %s", i, strerror(e));
			return MAIN_EXIT_FAIL;
		}
	}
	log_info("switchyard %s: %u worker(s), pid %ld, configuration %s (generation 1)",
	    SY_VERSION, m.nworkers, (long)getpid(), path);
	main_log_listeners(m.gen);
	/* Every listening socket was bound and listens (gen_build) and the workers run: a
	 * unit ordered after this one may connect now. */
	main_notify("READY=1", "serving");
	if (sdnotify_enabled()) {
		m.status_ev = event_new(m.base, -1, EV_PERSIST, main_status_cb, NULL);
		if (m.status_ev == NULL || deadline_add(m.status_ev, MAIN_STATUS_INTERVAL_MS) == -1)
			log_warn("no periodic STATUS= for the service manager");
	}

	event_base_dispatch(m.base);

	for (unsigned i = 0; i < m.nworkers; i++)
		pthread_join(m.workers[i].thread, NULL);
	health_stop();
	admin_stop();
	log_info("stopped");
	return MAIN_EXIT_OK;
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

	if (argc > 1 && keytool_is_command(argv[1])) {
		/* The key tools: no configuration, no daemon; randomness from libsodium. */
		if (sodium_init() == -1) {
			fputs("switchyard: libsodium failed to initialise\n", stderr);
			return MAIN_EXIT_FAIL;
		}
		return keytool_main(argc - 1, argv + 1);
	}
	if (argc > 1 && import_is_command(argv[1]))
		return import_main(argc - 1, argv + 1); /* no daemon: YAML on stdout */
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
#ifdef SY_DEMO_CONF
			if (main_in_build_tree())
				fputs("                     (from the build tree, when that does not exist: "
				    "the demo\n                     configuration " SY_DEMO_CONF ")\n",
				    stdout);
#endif
			fputs(main_help_rest, stdout);
			fputs(keytool_help, stdout);
			fputs(import_help, stdout);
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
	char terr[256];
	if (term_init_process(terr, sizeof terr) == -1) {
		fprintf(stderr, "switchyard: %s\n", terr);
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
	if (!main_check_user(conf)) {
		if (test)
			fprintf(stderr, "switchyard: configuration %s test failed\n", path);
		conf_free(conf);
		return MAIN_EXIT_CONFIG;
	}
	if (test) {
		/* Certificates, keys and the site root are part of the configuration: check them
		 * the way a start or a reload would load them. */
		term_check_only(); /* a check writes no state (the VPN's replay cache) */
		struct term *t = term_build(conf, terr, sizeof terr);
		if (t == NULL) {
			fprintf(stderr, "%s: %s\nswitchyard: configuration %s test failed\n", path, terr,
			    path);
			conf_free(conf);
			return MAIN_EXIT_CONFIG;
		}
		term_free(t);
		if (verbose)
			conf_dump(conf, stdout);
		printf("switchyard: configuration %s is valid\n", path);
		conf_free(conf);
		return MAIN_EXIT_OK;
	}

	int rc = main_serve(conf, path);
	term_fini_process();
	return rc;
}
