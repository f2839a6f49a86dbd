/*
 * Admin HTTP endpoint (see admin.h). Reads at most ADMIN_HEAD_MAX bytes of request head,
 * answers, closes. Must never block the main loop: responses go out through a bufferevent.
 * GET / is the dashboard, router/admin_page.html compiled in (no file is read at request
 * time); it holds no data of its own and reads /metrics and /status like any client. The
 * listener may face a network: every answer says nosniff and no-store, and the page's CSP
 * lets it run only its own inline script and style and talk only to this origin.
 */
#include "router/admin.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/confval.h"
#include "core/deadline.h"
#include "core/stats.h"
#include "router/worker.h"

#define ADMIN_HEAD_MAX   4096
#define ADMIN_TIMEOUT_S  5
#define ADMIN_BACKOFF_MS 100 /* accept pause after EMFILE and the like */

/* Headers of every answer: never sniffed as another type, never cached (the numbers are
 * live; a shared cache must not keep them). */
#define ADMIN_HDR_COMMON "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
/* Headers of the dashboard: inline script and style only, fetches to this origin only, no
 * framing (clickjacking), no referrer leaked to anywhere. */
#define ADMIN_HDR_PAGE \
	"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; " \
	"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'\r\n" \
	"X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"

/* The dashboard, generated from router/admin_page.html at build time (CMakeLists.txt). */
extern const unsigned char admin_page[];
extern const size_t admin_page_len;

static struct event *admin_ev;
static int admin_fd = -1;
static struct admin_state *admin_st;

/*
 * One admin connection: its bufferevent and one deadline of our own. Not bufferevent's
 * read/write timeouts: libevent re-arms those itself from the time it cached when the loop
 * woke, so a connection handled late in a busy iteration (or a thread descheduled before
 * the re-arm) got a timeout that fired before ADMIN_TIMEOUT_S had passed; a timer armed
 * through deadline_add never fires early (core/deadline.h).
 */
struct admin_conn {
	struct bufferevent *bev;
	struct event        tmo; /* ADMIN_TIMEOUT_S for the request head, again for the answer */
};

/* Closes the connection and frees everything it holds. */
static void
admin_conn_free(struct admin_conn *ac)
{
	event_del(&ac->tmo);
	bufferevent_free(ac->bev);
	free(ac);
}

/* The request head or the answer took longer than ADMIN_TIMEOUT_S: close. */
static void
admin_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	admin_conn_free(arg);
}

/* Closes once the response is written. */
static void
admin_written_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		admin_conn_free(arg);
}

/* EOF or an error: close. */
static void
admin_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	admin_conn_free(arg);
}

/* Queues a whole response with extra header lines (each ending in CRLF) and arranges the
 * close. A HEAD response has the GET response's headers and no content (RFC 9110 §9.3.2). */
static void
admin_respond_hdr(struct admin_conn *ac, bool head, int status, const char *reason,
    const char *ctype, const char *extra, const void *body, size_t len)
{
	struct bufferevent *bev = ac->bev;
	struct evbuffer *out = bufferevent_get_output(bev);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "%s%sConnection: close\r\n\r\n", status, reason, ctype, len, ADMIN_HDR_COMMON, extra);
	if (!head)
		evbuffer_add(out, body, len);
	bufferevent_setcb(bev, NULL, admin_written_cb, admin_event_cb, ac);
	bufferevent_disable(bev, EV_READ);
	bufferevent_enable(bev, EV_WRITE);
	/* The answer gets its own ADMIN_TIMEOUT_S; if even the timer cannot be armed, the
	 * head's deadline stays armed and still bounds the connection. */
	(void)deadline_add(&ac->tmo, ADMIN_TIMEOUT_S * 1000u);
}

/* Queues a whole response with the common headers only. */
static void
admin_respond(struct admin_conn *ac, bool head, int status, const char *reason,
    const char *ctype, const char *body, size_t len)
{
	admin_respond_hdr(ac, head, status, reason, ctype, "", body, len);
}

/* Answers one request line. */
static void
admin_route(struct admin_conn *ac, const char *method, const char *path)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		admin_respond(ac, false, 405, "Method Not Allowed", "text/plain",
		    "method not allowed\n", 19);
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (strcmp(path, "/") == 0) {
		admin_respond_hdr(ac, head, 200, "OK", "text/html; charset=utf-8", ADMIN_HDR_PAGE,
		    admin_page, admin_page_len);
	} else if (strcmp(path, "/metrics") == 0) {
		char *body = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);
		if (f == NULL) {
			admin_respond(ac, head, 500, "Internal Server Error", "text/plain", "no memory\n", 10);
			return;
		}
		stats_render(f);
		fclose(f);
		admin_respond(ac, head, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
		free(body);
	} else if (strcmp(path, "/healthz") == 0) {
		if (admin_st->draining)
			admin_respond(ac, head, 503, "Service Unavailable", "text/plain", "draining\n", 9);
		else
			admin_respond(ac, head, 200, "OK", "text/plain", "ok\n", 3);
	} else if (strcmp(path, "/status") == 0) {
		/* Sized to fit: the configuration path alone may be up to PATH_MAX long. */
		char *body = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);
		if (f == NULL) {
			admin_respond(ac, head, 500, "Internal Server Error", "text/plain", "no memory\n", 10);
			return;
		}
		fprintf(f, "config: %s\ngeneration: %llu\nworkers: %u\nconnections: %u\nstate: %s\n",
		    admin_st->config_path, admin_st->generation, admin_st->workers,
		    __atomic_load_n(&worker_conns_total, __ATOMIC_RELAXED),
		    admin_st->draining ? "draining" : "running");
		if (fclose(f) != 0) {
			free(body);
			admin_respond(ac, head, 500, "Internal Server Error", "text/plain", "no memory\n", 10);
			return;
		}
		admin_respond(ac, head, 200, "OK", "text/plain", body, len);
		free(body);
	} else {
		admin_respond(ac, head, 404, "Not Found", "text/plain", "not found\n", 10);
	}
}

/* Waits for a complete request head, then answers. */
static void
admin_read_cb(struct bufferevent *bev, void *arg)
{
	struct admin_conn *ac = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) >= ADMIN_HEAD_MAX)
			admin_respond(ac, false, 431, "Request Header Fields Too Large", "text/plain",
			    "request head too large\n", 23);
		return;
	}
	char *line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF_STRICT);
	char method[8], path[256], version[16];
	if (line == NULL || sscanf(line, "%7s %255s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		admin_respond(ac, false, 400, "Bad Request", "text/plain", "bad request\n", 12);
	} else {
		char *q = strchr(path, '?');
		if (q != NULL)
			*q = '\0';
		admin_route(ac, method, path);
	}
	free(line);
}

/* Accept pause over: listen again (the listener may have been replaced meanwhile). */
static void
admin_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (admin_ev != NULL)
		event_add(admin_ev, NULL);
}

static void
admin_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct event_base *base = arg;
	(void)what;
	for (int budget = 16; budget > 0; budget--) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/*
			 * Out of descriptors: the connection stays queued, so the level-triggered
			 * event would fire again at once and spin the main loop. Pause instead.
			 */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				event_del(admin_ev);
				if (deadline_once(base, admin_backoff_cb, NULL, ADMIN_BACKOFF_MS) == -1)
					event_add(admin_ev, NULL);
			}
			return;
		}
		struct admin_conn *ac = calloc(1, sizeof *ac);
		if (ac == NULL) {
			close(fd);
			return;
		}
		ac->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (ac->bev == NULL) {
			free(ac);
			close(fd);
			return;
		}
		event_assign(&ac->tmo, base, -1, 0, admin_timeout_cb, ac);
		if (deadline_add(&ac->tmo, ADMIN_TIMEOUT_S * 1000u) == -1) {
			admin_conn_free(ac); /* unbounded is worse than refused */
			return;
		}
		bufferevent_setwatermark(ac->bev, EV_READ, 0, ADMIN_HEAD_MAX);
		bufferevent_setcb(ac->bev, admin_read_cb, NULL, admin_event_cb, ac);
		bufferevent_enable(ac->bev, EV_READ);
	}
}

bool
admin_start(struct event_base *base, const struct conf_addr *addr, struct admin_state *st,
    char *err, size_t cap)
{
	int one = 1;
	admin_st = st;
	admin_fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (admin_fd == -1)
		goto fail;
	setsockopt(admin_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(admin_fd, (const struct sockaddr *)&addr->ss, addr->len) == -1 ||
	    listen(admin_fd, 64) == -1)
		goto fail;
	admin_ev = event_new(base, admin_fd, EV_READ | EV_PERSIST, admin_accept_cb, base);
	if (admin_ev == NULL || event_add(admin_ev, NULL) == -1)
		goto fail;
	return true;
fail:;
	char label[64];
	int e = errno;
	confval_addr_format(addr, label, sizeof label);
	snprintf(err, cap, "admin listener: cannot listen on %s: %s", label, strerror(e));
	errno = e;
	if (admin_fd != -1)
		close(admin_fd);
	admin_fd = -1;
	return false;
}

void
admin_stop(void)
{
	if (admin_ev != NULL) {
		event_free(admin_ev);
		admin_ev = NULL;
	}
	if (admin_fd != -1) {
		close(admin_fd);
		admin_fd = -1;
	}
}
