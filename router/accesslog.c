/*
 * Access log lines (see accesslog.h). Field values that come from the network (SNI, ALPN)
 * were validated before they got here, but are still escaped for JSON and never trusted to
 * be short: the line is cut at ACCESSLOG_LINE_MAX.
 */
#include "router/accesslog.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/confval.h"

static int accesslog_fd = -1;          /* what workers write to; -1: off */
static int accesslog_own = -1;         /* our descriptor once a file was opened: kept for the
                                          process's life, retargeted by dup2, never closed, so
                                          a worker holding its number never writes elsewhere */
static enum conf_log_format accesslog_format;
static char *accesslog_path;           /* the file target, NULL when not a file */

/* Points our own descriptor at fd (closing what it referred to) or makes fd ours. */
static void
accesslog_take(int fd)
{
	if (accesslog_own == -1) {
		accesslog_own = fd;
		return;
	}
	if (fd != accesslog_own) {
		/* dup2 closes the old file atomically; it fails only on a bad fd (not here). */
		(void)dup2(fd, accesslog_own);
		close(fd);
	}
}

/* Releases the file a previous target held: our number then refers to fd (stderr or
 * /dev/null), so nothing stays open on a log that is no longer configured. */
static void
accesslog_release(int fd)
{
	free(accesslog_path);
	accesslog_path = NULL;
	if (accesslog_own != -1 && fd != -1)
		(void)dup2(fd, accesslog_own);
}

bool
accesslog_open(const struct conf_log *c)
{
	int fd;
	accesslog_format = c->format;
	switch (c->access) {
	case CONF_ACCESS_OFF:
		accesslog_fd = -1;
		if (accesslog_own != -1) {
			fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
			accesslog_release(fd);
			if (fd != -1)
				close(fd);
		}
		return true;
	case CONF_ACCESS_STDERR:
		accesslog_fd = STDERR_FILENO;
		accesslog_release(STDERR_FILENO);
		return true;
	case CONF_ACCESS_FILE:
		/* Same file as now: keep the descriptor. Reopening is SIGUSR1's job, and after a
		 * privilege drop the file root created may not be ours to open again. */
		if (accesslog_path != NULL && accesslog_fd == accesslog_own &&
		    strcmp(accesslog_path, c->access_path) == 0)
			return true;
		fd = open(c->access_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1)
			return false;
		char *p = strdup(c->access_path);
		if (p == NULL) {
			close(fd);
			errno = ENOMEM;
			return false;
		}
		free(accesslog_path);
		accesslog_path = p;
		accesslog_take(fd);
		accesslog_fd = accesslog_own;
		return true;
	}
	return false;
}

bool
accesslog_reopen(void)
{
	if (accesslog_path == NULL || accesslog_fd != accesslog_own || accesslog_own == -1)
		return true;
	int fd = open(accesslog_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return false;
	accesslog_take(fd);
	return true;
}

bool
accesslog_enabled(void)
{
	return accesslog_fd != -1;
}

bool
accesslog_skip(const struct conf_log *c, const struct sockaddr_storage *client)
{
	return c->nskip_from > 0 &&
	    confval_cidrs_match(c->skip_from, c->nskip_from, (const struct sockaddr *)client);
}

/* Appends s as a JSON string body (no quotes) at line+*n, cut at cap. */
static void
accesslog_json_str(char *line, size_t *n, size_t cap, const char *s)
{
	for (; *s != '\0' && *n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			line[(*n)++] = '\\';
			line[(*n)++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			*n += (size_t)snprintf(line + *n, cap - *n, "\\u%04x", c);
		} else {
			line[(*n)++] = (char)c;
		}
	}
}

/* Appends formatted text, clamping at cap. */
static void
accesslog_add(char *line, size_t *n, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
accesslog_add(char *line, size_t *n, size_t cap, const char *fmt, ...)
{
	va_list ap;
	if (*n >= cap)
		return;
	va_start(ap, fmt);
	int w = vsnprintf(line + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n = *n + (size_t)w < cap ? *n + (size_t)w : cap - 1;
}

void
accesslog_write(const struct accesslog_rec *r)
{
	char line[ACCESSLOG_LINE_MAX], ts[40];
	size_t n = 0, cap = sizeof line - 1;
	struct timeval tv;
	struct tm tm;

	if (accesslog_fd == -1)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t t = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + t, sizeof ts - t, ".%03ldZ", (long)(tv.tv_usec / 1000));

	if (accesslog_format == CONF_LOG_JSON) {
		const char *keys[] = { "time", "client", "listener", "sni", "alpn", "route",
			"upstream", "server", "proxy", "end", "alpn_offered" };
		const char *vals[] = { ts, r->client, r->listener, r->sni, r->alpn, r->route,
			r->upstream, r->server, r->proxy, r->end, r->alpn_offered };
		line[n++] = '{';
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			accesslog_add(line, &n, cap, "%s\"%s\":", i ? "," : "", keys[i]);
			if (vals[i] == NULL) {
				accesslog_add(line, &n, cap, "null");
				continue;
			}
			accesslog_add(line, &n, cap, "\"");
			accesslog_json_str(line, &n, cap, vals[i]);
			accesslog_add(line, &n, cap, "\"");
		}
		accesslog_add(line, &n, cap, ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_ms\":%llu",
		    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
		    (unsigned long long)r->duration_ms);
		if (r->vpn != NULL) {
			/* The key name is checked at load: no `"`, `\\` or control characters. */
			accesslog_add(line, &n, cap, ",\"vpn\":{\"path\":\"%s\",\"key\":", r->vpn->path);
			if (r->vpn->key != NULL)
				accesslog_add(line, &n, cap, "\"%s\"", r->vpn->key);
			else
				accesslog_add(line, &n, cap, "null");
			if (r->vpn->lease != NULL) /* dotted IPv4: nothing to escape */
				accesslog_add(line, &n, cap, ",\"lease\":\"%s\"", r->vpn->lease);
			accesslog_add(line, &n, cap, ",\"flows\":%u,\"bytes_in\":%llu,\"bytes_out\":%llu,"
			    "\"duration_ms\":%llu}", (unsigned)r->vpn->flows,
			    (unsigned long long)r->vpn->bytes_in, (unsigned long long)r->vpn->bytes_out,
			    (unsigned long long)r->vpn->duration_ms);
		}
		accesslog_add(line, &n, cap, "}");
	} else {
		accesslog_add(line, &n, cap,
		    "%s client=%s listener=%s sni=%s alpn=%s route=%s upstream=%s server=%s proxy=%s "
		    "in=%llu out=%llu ms=%llu end=%s alpn_offered=%s",
		    ts, r->client, r->listener, r->sni ? r->sni : "-", r->alpn ? r->alpn : "-",
		    r->route ? r->route : "-", r->upstream ? r->upstream : "-", r->server ? r->server : "-", r->proxy,
		    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
		    (unsigned long long)r->duration_ms, r->end,
		    r->alpn_offered ? r->alpn_offered : "-");
		if (r->vpn != NULL) /* the name may hold blanks: quoted, as it holds no `"` */
			accesslog_add(line, &n, cap, " vpn_path=%s vpn_key=\"%s\" vpn_flows=%u vpn_in=%llu "
			    "vpn_out=%llu vpn_ms=%llu", r->vpn->path, r->vpn->key ? r->vpn->key : "-",
			    (unsigned)r->vpn->flows, (unsigned long long)r->vpn->bytes_in,
			    (unsigned long long)r->vpn->bytes_out, (unsigned long long)r->vpn->duration_ms);
		if (r->vpn != NULL && r->vpn->lease != NULL)
			accesslog_add(line, &n, cap, " vpn_lease=%s", r->vpn->lease);
	}
	if (n > cap)
		n = cap;
	line[n++] = '\n';
	ssize_t rc = write(accesslog_fd, line, n);
	(void)rc; /* nowhere better to report a failed log write */
}

/* Appends s for a text line: bytes outside printable ASCII, space and '"' as %XX, so one
 * field never reads as two (the request-target comes from the network). */
static void
accesslog_text_str(char *line, size_t *n, size_t cap, const char *s)
{
	for (; *s != '\0' && *n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '"')
			*n += (size_t)snprintf(line + *n, cap - *n, "%%%02X", c);
		else
			line[(*n)++] = (char)c;
	}
}

/* Writes one request line of a kind: http connection, in one write(2) like the others. */
void
accesslog_write_req(const struct accesslog_req *r)
{
	char line[ACCESSLOG_LINE_MAX], ts[40], st[8], ust[8];
	size_t n = 0, cap = sizeof line - 1;
	struct timeval tv;
	struct tm tm;

	if (accesslog_fd == -1)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t t = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + t, sizeof ts - t, ".%03ldZ", (long)(tv.tv_usec / 1000));
	snprintf(st, sizeof st, "%d", r->status);
	snprintf(ust, sizeof ust, "%d", r->upstream_status);

	const char *keys[] = { "time", "client", "listener", "host", "route", "upstream", "server",
		"proxy", "method", "path" };
	const char *vals[] = { ts, r->client, r->listener, r->host, r->route, r->upstream,
		r->server, r->proxy, r->method, r->path };
	if (accesslog_format == CONF_LOG_JSON) {
		accesslog_add(line, &n, cap, "{\"type\":\"request\"");
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			accesslog_add(line, &n, cap, ",\"%s\":", keys[i]);
			if (vals[i] == NULL) {
				accesslog_add(line, &n, cap, "null");
				continue;
			}
			accesslog_add(line, &n, cap, "\"");
			accesslog_json_str(line, &n, cap, vals[i]);
			accesslog_add(line, &n, cap, "\"");
		}
		accesslog_add(line, &n, cap, ",\"status\":%s,\"upstream_status\":%s,\"bytes_in\":%llu,"
		    "\"bytes_out\":%llu,\"duration_ms\":%llu}", r->status ? st : "null",
		    r->upstream_status ? ust : "null", (unsigned long long)r->bytes_in,
		    (unsigned long long)r->bytes_out, (unsigned long long)r->duration_ms);
	} else {
		accesslog_add(line, &n, cap, "%s request", ts);
		for (size_t i = 1; i < sizeof keys / sizeof keys[0]; i++) {
			accesslog_add(line, &n, cap, " %s=", keys[i]);
			accesslog_text_str(line, &n, cap, vals[i] != NULL ? vals[i] : "-");
		}
		accesslog_add(line, &n, cap, " status=%s upstream_status=%s in=%llu out=%llu ms=%llu",
		    r->status ? st : "-", r->upstream_status ? ust : "-",
		    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
		    (unsigned long long)r->duration_ms);
	}
	if (n > cap)
		n = cap;
	line[n++] = '\n';
	ssize_t rc = write(accesslog_fd, line, n);
	(void)rc; /* nowhere better to report a failed log write */
}
