/*
 * The decoy static website (site.h): turns one parsed HTTP request into a complete response
 * (status, head bytes, and a body in memory or a byte range of an open file) from the files
 * under terminator.site.root, looking like an ordinary nginx. It must never open anything
 * outside the root, never list a directory, never touch a socket or OpenSSL, never allocate
 * per request and never block longer than one open and one fstat.
 *
 * Path policy (decided here, documented once):
 * - The request-target is origin-form ("/...") or absolute-form ("http[s]://authority/...",
 *   whose path is used); anything else ("*", authority-form, other schemes) is 400. The
 *   query is cut off (kept only for a redirect's Location) and the fragment never looked at.
 * - A bad percent escape ("%zz", "%4") is 400: the target is not a URI.
 * - After decoding, a NUL, a backslash, a control byte, invalid UTF-8 (overlong forms,
 *   surrogates, code points over U+10FFFF) or a "." or ".." segment is 404, not 400: the
 *   decoy answers a probe as if the file simply did not exist. Repeated "/" collapse.
 * - The file is opened relative to the root's directory fd with openat2(2) and
 *   RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so symlinks that stay inside the root work
 *   and symlinks leaving it (absolute or by "..") fail. Where the kernel has no openat2
 *   (ENOSYS) each component is opened with openat(2) and O_NOFOLLOW instead: then no
 *   symlink is ever followed, which is stricter but still never leaves the root.
 * - Only regular files are served (a directory gives its index.html or a 301 to "path/";
 *   fifos, devices and sockets are 404). Files are opened O_NONBLOCK so a fifo cannot
 *   block the loop; for a regular file the flag has no effect.
 * - Open errors meaning "not there" (ENOENT, ENOTDIR, ELOOP, EXDEV, ENAMETOOLONG, ENXIO,
 *   ENODEV) are 404; every other error (EACCES, EMFILE, EIO, ...) is 500.
 */
#include "terminator/site.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/http_status.h"

#define INDEX_NAME   "index.html"
#define PAGE404_NAME "404.html"
#define ETAG_MAX     48   /* "\"" + 16 hex + "-" + 16 hex + "\"" + NUL fits */
#define DATE_LEN     29   /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
#define HEAD_LINE_MAX    256  /* one formatted head line (never holds untrusted bytes) */

/* The path buffer: a decoded target never grows, plus "/index.html" and a NUL. */
#define PATH_BUF     (HTTP1_URI_MAX + sizeof(INDEX_NAME) + 2)

struct site {
	int       rootfd;      /* O_PATH directory, -1: no root (error pages only) */
	bool      no_openat2;  /* test hook: force the per-component fallback */
	char     *health;      /* health path, or NULL: off */
	size_t    health_len;
	uint8_t  *page404;     /* root/404.html, or NULL: the built-in page */
	size_t    page404_len;
};

/* A head being written: the response and whether anything did not fit. */
struct hw {
	struct site_resp *o;
	bool              over;
};

/* Content types by extension (compared ignoring ASCII case). */
static const struct mime {
	const char *ext;
	const char *type;
} mimes[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "xml", "text/xml; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "avif", "image/avif" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "pdf", "application/pdf" },
	{ "wasm", "application/wasm" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "map", "application/json" },
	{ "webmanifest", "application/manifest+json" },
};
#define MIME_DEFAULT "application/octet-stream"

static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
	"Sep", "Oct", "Nov", "Dec" };

/* Test hook, on purpose not in site.h: forces the openat(2) fallback of an ENOSYS kernel. */
void site_test_no_openat2(struct site *s, bool on);

/* Writes "terminator.site.root: <root>: <why>" into err when there is room. */
static void
err_set(char *err, size_t cap, const char *root, const char *why)
{
	if (err != NULL && cap > 0)
		snprintf(err, cap, "terminator.site.root: %s: %s", root, why);
}

/* Opens rel under dirfd without following any symlink, one component at a time. */
static int
open_walk(int dirfd, char *rel)
{
	int cur = dirfd, fd, saved;
	char *p = rel, *slash;

	while ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		fd = openat(cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		saved = errno;
		*slash = '/';
		if (cur != dirfd)
			close(cur);
		if (fd == -1) {
			errno = saved;
			return -1;
		}
		cur = fd;
		p = slash + 1;
	}
	fd = openat(cur, p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	saved = errno;
	if (cur != dirfd)
		close(cur);
	errno = saved;
	return fd;
}

/*
 * Opens rel (no leading "/", no "." or ".." segments, no empty segments) for reading,
 * never leaving the root. Returns the fd, or -1 with errno.
 */
static int
open_beneath(const struct site *s, char *rel)
{
	struct open_how how;
	long fd;

	if (!s->no_openat2) {
		memset(&how, 0, sizeof how);
		how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, s->rootfd, rel, &how, sizeof how);
		if (fd != -1 || errno != ENOSYS)
			return (int)fd;
	}
	return open_walk(s->rootfd, rel);
}

/* Reads root/404.html into s when it is a regular file of at most SITE_PAGE_MAX bytes. */
static void
load_404(struct site *s)
{
	char rel[] = PAGE404_NAME;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = open_beneath(s, rel);
	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size > SITE_PAGE_MAX)
		goto out;
	s->page404 = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (s->page404 == NULL)
		goto out;
	while (got < (size_t)st.st_size) {
		n = read(fd, s->page404 + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)st.st_size) {
		/* Changed or unreadable while we read: the built-in page is the safe answer. */
		free(s->page404);
		s->page404 = NULL;
		goto out;
	}
	s->page404_len = got;
	log_debug("site: using %s (%zu bytes)", PAGE404_NAME, got);
out:
	close(fd);
}

/* Opens the site: the root directory (kept as an O_PATH fd) and its optional 404.html. */
struct site *
site_open(const struct conf_site *cs, char *err, size_t cap)
{
	struct site *s;

	s = calloc(1, sizeof *s);
	if (s == NULL)
		goto nomem;
	s->rootfd = -1;
	if (cs->health_path != NULL) {
		s->health = strdup(cs->health_path);
		if (s->health == NULL)
			goto nomem;
		s->health_len = strlen(s->health);
	}
	if (cs->root == NULL)
		return s;
	s->rootfd = open(cs->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd == -1) {
		err_set(err, cap, cs->root, strerror(errno));
		goto fail;
	}
	load_404(s);
	return s;

nomem:
	if (err != NULL && cap > 0)
		snprintf(err, cap, "terminator.site: out of memory");
fail:
	site_free(s);
	return NULL;
}

/* Closes the root and frees the site. */
void
site_free(struct site *s)
{
	if (s == NULL)
		return;
	if (s->rootfd != -1)
		close(s->rootfd);
	free(s->health);
	free(s->page404);
	free(s);
}

/* Test hook (see its declaration above). */
void
site_test_no_openat2(struct site *s, bool on)
{
	s->no_openat2 = on;
}

/* Statuses after which the request stream may be out of sync: the connection must close. */
static bool
status_forces_close(int status)
{
	switch (status) {
	case 400: case 408: case 413: case 414: case 431: case 500: case 501: case 505:
		return true;
	default:
		return false;
	}
}

/* Writes v as exactly n decimal digits (zero-padded) at p. */
static void
put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * Formats t as an IMF-fixdate (RFC 9110 §5.6.7) into out (at least DATE_LEN + 1 bytes), by
 * hand: it is in every response head, and printf was the largest user-space cost there.
 */
static void
imf_format(time_t t, char *out, size_t cap)
{
	struct tm tm;

	if (cap < DATE_LEN + 1)
		abort(); /* callers pass DATE_LEN + 8: an impossible state, not input */
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	memcpy(out, days[tm.tm_wday], 3);
	memcpy(out + 3, ", ", 2);
	put_digits(out + 5, (unsigned)tm.tm_mday, 2);
	out[7] = ' ';
	memcpy(out + 8, months[tm.tm_mon], 3);
	out[11] = ' ';
	put_digits(out + 12, (unsigned)(tm.tm_year + 1900), 4);
	out[16] = ' ';
	put_digits(out + 17, (unsigned)tm.tm_hour, 2);
	out[19] = ':';
	put_digits(out + 20, (unsigned)tm.tm_min, 2);
	out[22] = ':';
	put_digits(out + 23, (unsigned)tm.tm_sec, 2);
	memcpy(out + 25, " GMT", 5); /* with the NUL: DATE_LEN + 1 bytes */
}

/* The Date of now: formatted once per second per thread (workers never share it). */
static const char *
imf_now(time_t now)
{
	static _Thread_local time_t last = (time_t)-1;
	static _Thread_local char text[DATE_LEN + 8];

	if (now != last) {
		imf_format(now, text, sizeof text);
		last = now;
	}
	return text;
}

/* Reads n decimal digits at p into *v; false when any is not a digit. */
static bool
digits(const uint8_t *p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (p[i] - '0');
	}
	return true;
}

/*
 * Parses an IMF-fixdate (untrusted field value) into *t. Only the preferred format: the
 * obsolete RFC 850 and asctime forms count as invalid, so the condition is ignored.
 */
static bool
imf_parse(const uint8_t *p, size_t n, time_t *t)
{
	struct tm tm;
	int day, year, hh, mm, ss, mon = -1, wday = -1;

	if (n != DATE_LEN || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
	    p[16] != ' ' || p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4) != 0)
		return false;
	for (int i = 0; i < 7; i++) {
		if (memcmp(p, days[i], 3) == 0)
			wday = i;
	}
	for (int i = 0; i < 12; i++) {
		if (memcmp(p + 8, months[i], 3) == 0)
			mon = i;
	}
	if (wday == -1 || mon == -1 || !digits(p + 5, 2, &day) || !digits(p + 12, 4, &year) ||
	    !digits(p + 17, 2, &hh) || !digits(p + 20, 2, &mm) || !digits(p + 23, 2, &ss))
		return false;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return false;
	memset(&tm, 0, sizeof tm);
	tm.tm_mday = day;
	tm.tm_mon = mon;
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*t = timegm(&tm);
	/* timegm normalises 31 Feb into March: such a date is not a date. */
	return tm.tm_mday == day && tm.tm_mon == mon;
}

/* Appends n bytes to the head, or marks it overflowed (the head is then discarded). */
static void
hw_put(struct hw *w, const char *s, size_t n)
{
	struct site_resp *o = w->o;

	if (w->over || n > SITE_HEAD_MAX - o->head_len) {
		w->over = true;
		return;
	}
	memcpy(o->head + o->head_len, s, n);
	o->head_len += n;
}

/* Appends a NUL-terminated string of ours. */
static void
hw_str(struct hw *w, const char *s)
{
	hw_put(w, s, strlen(s));
}

/* Appends v in decimal. */
static void
hw_u64(struct hw *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	hw_put(w, d + i, sizeof d - i);
}

/* Appends one formatted line piece (never untrusted bytes: those go through hw_put). */
__attribute__((format(printf, 2, 3)))
static void
hw_fmt(struct hw *w, const char *fmt, ...)
{
	char line[HEAD_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line) {
		w->over = true;
		return;
	}
	hw_put(w, line, (size_t)n);
}

/* Starts a response: clears out, writes the status line, Server and Date. */
static void
resp_start(struct hw *w, struct site_resp *o, int status, time_t now)
{
	const struct http_status *si = http_status_get(status);

	o->status = si->wire;
	o->head_len = 0;
	o->body = NULL;
	o->body_len = 0;
	o->fd = -1;
	o->off = 0;
	o->len = 0;
	o->close = false;
	w->o = o;
	w->over = false;
	hw_put(w, "HTTP/1.1 ", 9);
	hw_str(w, si->line);
	hw_str(w, "\r\nServer: " SITE_SERVER "\r\nDate: ");
	hw_put(w, imf_now(now), DATE_LEN);
	hw_put(w, "\r\n", 2);
}

/* Ends the head with Connection and the final CRLF; false when it did not fit. */
static bool
resp_finish(struct hw *w, bool keep_alive)
{
	struct site_resp *o = w->o;

	o->close = status_forces_close(o->status) || !keep_alive;
	hw_str(w, o->close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n");
	return !w->over;
}

/* Writes an error page head (Content-Type, Content-Length) and points the body at it. */
static void
page_start(struct hw *w, const struct site *s, int status, bool head_only, time_t now,
    struct site_resp *o)
{
	const struct http_status *si = http_status_get(status);
	const uint8_t *page = (const uint8_t *)si->page;
	size_t len = si->page_len;

	resp_start(w, o, si->code, now);
	if (si->code == 404 && s != NULL && s->page404 != NULL) {
		page = s->page404;
		len = s->page404_len;
	}
	hw_str(w, "Content-Type: text/html\r\nContent-Length: ");
	hw_u64(w, len);
	hw_put(w, "\r\n", 2);
	if (si->code == 405)
		hw_fmt(w, "Allow: GET, HEAD\r\n");
	if (!head_only) {
		o->body = page;
		o->body_len = len;
	}
}

/* An error response for status with the ordinary-looking page (see site.h). */
void
site_error(const struct site *s, int status, bool head_only, bool keep_alive, time_t now,
    struct site_resp *out)
{
	struct hw w;

	page_start(&w, s, status, head_only, now, out);
	if (!resp_finish(&w, keep_alive))
		abort(); /* impossible: a fixed page head is far below SITE_HEAD_MAX */
}

/* The value of a hexadecimal digit, or -1. */
static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes p[0, n) into out (n bytes at most); false on a bad escape. */
static bool
pct_decode(const uint8_t *p, size_t n, uint8_t *out, size_t *outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%') {
			out[j++] = p[i];
			continue;
		}
		if (n - i < 3 || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
			return false;
		out[j++] = (uint8_t)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));
		i += 2;
	}
	*outlen = j;
	return true;
}

/* True when p[0, n) is well-formed UTF-8 (Unicode 15 table 3-7: no overlongs, surrogates). */
static bool
utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, need;
	uint8_t c, lo, hi;

	while (i < n) {
		c = p[i];
		lo = 0x80;
		hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c == 0xe0) {
			need = 2;
			lo = 0xa0;
		} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
			need = 2;
		} else if (c == 0xed) {
			need = 2;
			hi = 0x9f;
		} else if (c == 0xf0) {
			need = 3;
			lo = 0x90;
		} else if (c >= 0xf1 && c <= 0xf3) {
			need = 3;
		} else if (c == 0xf4) {
			need = 3;
			hi = 0x8f;
		} else {
			return false;
		}
		if (n - i - 1 < need || p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		}
		i += need + 1;
	}
	return true;
}

/*
 * Turns the decoded path d[0, n) (starts with '/') into rel: its segments joined by "/",
 * no leading slash, empty segments dropped, NUL-terminated. *dir is set when the path ends
 * in "/". False when a byte or a segment is refused (NUL, backslash, control, bad UTF-8,
 * "." or "..").
 */
static bool
path_normalise(const uint8_t *d, size_t n, char *rel, size_t *rellen, bool *dir)
{
	size_t i = 0, j = 0, seg;

	for (size_t k = 0; k < n; k++) {
		if (d[k] < 0x20 || d[k] == 0x7f || d[k] == '\\')
			return false;
	}
	if (!utf8_valid(d, n))
		return false;
	while (i < n) {
		while (i < n && d[i] == '/')
			i++;
		seg = i;
		while (i < n && d[i] != '/')
			i++;
		if (i == seg)
			break;
		if ((i - seg == 1 && d[seg] == '.') ||
		    (i - seg == 2 && d[seg] == '.' && d[seg + 1] == '.'))
			return false;
		if (j > 0)
			rel[j++] = '/';
		memcpy(rel + j, d + seg, i - seg);
		j += i - seg;
	}
	rel[j] = '\0';
	*rellen = j;
	*dir = n > 0 && d[n - 1] == '/';
	return true;
}

/* The content type for the file name rel (its last segment's extension). */
static const char *
mime_of(const char *rel)
{
	const char *base = strrchr(rel, '/'), *dot;

	base = base != NULL ? base + 1 : rel;
	dot = strrchr(base, '.');
	if (dot == NULL)
		return MIME_DEFAULT;
	for (size_t i = 0; i < sizeof mimes / sizeof mimes[0]; i++) {
		if (strcasecmp(dot + 1, mimes[i].ext) == 0)
			return mimes[i].type;
	}
	return MIME_DEFAULT;
}

/* Counts the field lines named name (lowercase) in r and puts the first one's value in *v. */
static int
field_get(const uint8_t *buf, const struct http1_req *r, const char *name,
    struct http1_view *v)
{
	int count = 0;

	for (uint16_t i = 0; i < r->nfields; i++) {
		if (http1_view_ieq(buf, r->fields[i].name, name)) {
			if (count++ == 0)
				*v = r->fields[i].value;
		}
	}
	return count;
}

/* True when the If-None-Match list p[0, n) (untrusted) weakly matches etag (RFC 9110 §13.1.2). */
static bool
inm_match(const uint8_t *p, size_t n, const char *etag)
{
	size_t i = 0, start, elen = strlen(etag);

	for (;;) {
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		if (i == n)
			return false;
		if (p[i] == '*')
			return true;
		if (n - i >= 2 && p[i] == 'W' && p[i + 1] == '/')
			i += 2;
		if (i == n || p[i] != '"')
			return false;     /* not an entity-tag: stop, nothing matches */
		start = i++;
		while (i < n && p[i] != '"')
			i++;
		if (i == n)
			return false;
		i++;
		if (i - start == elen && memcmp(p + start, etag, elen) == 0)
			return true;
	}
}

/* Reads decimal digits at p[*i..n), saturating at UINT64_MAX; false when there are none. */
static bool
read_u64(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < n && p[*i] >= '0' && p[*i] <= '9') {
		unsigned d = (unsigned)(p[*i] - '0');
		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
		(*i)++;
	}
	return *i > start;
}

enum range_res { RANGE_IGNORE, RANGE_OK, RANGE_UNSAT };

/*
 * Parses a Range value p[0, n) (untrusted) for a representation of size bytes (RFC 9110
 * §14.1.2): one "bytes=" range a-b, a- or -n. Several ranges or bad syntax: RANGE_IGNORE
 * (the whole file is sent). Sets [*first, *last] on RANGE_OK.
 */
static enum range_res
range_parse(const uint8_t *p, size_t n, uint64_t size, uint64_t *first, uint64_t *last)
{
	size_t i = 6;
	uint64_t a, b;

	if (n < 6 || strncasecmp((const char *)p, "bytes=", 6) != 0)
		return RANGE_IGNORE;
	if (i < n && p[i] == '-') {
		i++;
		if (!read_u64(p, n, &i, &b) || i != n)
			return RANGE_IGNORE;
		if (b == 0 || size == 0)
			return RANGE_UNSAT;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return RANGE_OK;
	}
	if (!read_u64(p, n, &i, &a) || i == n || p[i] != '-')
		return RANGE_IGNORE;
	i++;
	if (i == n) {
		b = UINT64_MAX;
	} else if (!read_u64(p, n, &i, &b) || i != n || b < a) {
		return RANGE_IGNORE;
	}
	if (a >= size)
		return RANGE_UNSAT;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return RANGE_OK;
}

/* True when If-Range p[0, n) (untrusted) still names this representation (§13.1.5). */
static bool
if_range_match(const uint8_t *p, size_t n, const char *etag, time_t mtime)
{
	time_t t;

	if (n > 0 && p[0] == '"')
		return n == strlen(etag) && memcmp(p, etag, n) == 0; /* strong comparison */
	if (imf_parse(p, n, &t))
		return t == mtime;
	return false; /* a weak tag or not a date: never matches */
}

/* Writes the Location of a directory redirect: "/" rel "/" percent-encoded, then the query. */
static void
put_location(struct hw *w, const char *rel, size_t rellen, const uint8_t *q, size_t qlen,
    bool has_query)
{
	static const char keep[] = "-._~!$&'()*+,;=:@/";
	static const char hex[] = "0123456789ABCDEF";
	char enc[3];

	hw_put(w, "Location: /", 11);
	for (size_t i = 0; i < rellen; i++) {
		uint8_t c = (uint8_t)rel[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr(keep, c) != NULL)) {
			hw_put(w, (const char *)&rel[i], 1);
		} else {
			enc[0] = '%';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			hw_put(w, enc, 3);
		}
	}
	hw_put(w, "/", 1);
	if (has_query) {
		hw_put(w, "?", 1);
		hw_put(w, (const char *)q, qlen);
	}
	hw_put(w, "\r\n", 2);
}

/* Maps an open(2) errno to the status of the response: "not there" 404, the rest 500. */
static int
open_errno_status(int e)
{
	switch (e) {
	case ENOENT: case ENOTDIR: case ELOOP: case EXDEV: case ENAMETOOLONG: case ENXIO:
	case ENODEV:
		return 404;
	default:
		return 500;
	}
}

/* Answers with the health body "ok\n". */
static void
resp_health(bool head_only, bool keep_alive, time_t now, struct site_resp *out)
{
	static const char ok[] = "ok\n";
	struct hw w;

	resp_start(&w, out, 200, now);
	hw_fmt(&w, "Content-Type: text/plain\r\nContent-Length: %zu\r\n", sizeof ok - 1);
	if (!head_only) {
		out->body = (const uint8_t *)ok;
		out->body_len = sizeof ok - 1;
	}
	resp_finish(&w, keep_alive);
}

/* The strong ETag "<mtime hex>-<size hex>" (quotes included) into out (ETAG_MAX bytes). */
static void
etag_format(char *out, uint64_t mtime, uint64_t size)
{
	static const char hex[] = "0123456789abcdef";
	char d[16];
	size_t o = 0, i;

	out[o++] = '"';
	for (int part = 0; part < 2; part++) {
		uint64_t v = part == 0 ? mtime : size;
		i = sizeof d;
		do {
			d[--i] = hex[v & 15];
			v >>= 4;
		} while (v != 0);
		memcpy(out + o, d + i, sizeof d - i);
		o += sizeof d - i;
		out[o++] = part == 0 ? '-' : '"';
	}
	out[o] = '\0';
}

/*
 * Answers GET/HEAD for the open regular file fd (named rel, stat st): conditionals,
 * Range, then 200/206/304/416. Takes ownership of fd.
 */
static void
resp_file(const struct site *s, const uint8_t *buf, const struct http1_req *r, int fd,
    const struct stat *st, const char *rel, bool head_only, bool keep_alive, time_t now,
    struct site_resp *out)
{
	char etag[ETAG_MAX], lm[DATE_LEN + 8];
	struct http1_view v = { 0, 0 }, vr = { 0, 0 };
	uint64_t size = (uint64_t)st->st_size, first = 0, last = 0;
	enum range_res rr = RANGE_IGNORE;
	time_t t, mtime = st->st_mtime;
	bool not_modified = false;
	struct hw w;
	int n;

	etag_format(etag, (uint64_t)mtime, size);
	imf_format(mtime, lm, sizeof lm);

	/* RFC 9110 §13.2.2: If-None-Match, else If-Modified-Since, then If-Range/Range. */
	if (field_get(buf, r, "if-none-match", &v) > 0) {
		for (uint16_t i = 0; i < r->nfields && !not_modified; i++) {
			if (http1_view_ieq(buf, r->fields[i].name, "if-none-match"))
				not_modified = inm_match(buf + r->fields[i].value.off,
				    r->fields[i].value.len, etag);
		}
	} else if (field_get(buf, r, "if-modified-since", &v) == 1 &&
	    imf_parse(buf + v.off, v.len, &t)) {
		not_modified = mtime <= t;
	}
	if (not_modified) {
		close(fd);
		resp_start(&w, out, 304, now);
		hw_str(&w, "Last-Modified: ");
		hw_str(&w, lm);
		hw_str(&w, "\r\nETag: ");
		hw_str(&w, etag);
		hw_put(&w, "\r\n", 2);
		resp_finish(&w, keep_alive);
		return;
	}

	if (!head_only && field_get(buf, r, "range", &vr) == 1) {
		n = field_get(buf, r, "if-range", &v);
		if (n == 0 || (n == 1 && if_range_match(buf + v.off, v.len, etag, mtime)))
			rr = range_parse(buf + vr.off, vr.len, size, &first, &last);
	}

	if (rr == RANGE_UNSAT) {
		close(fd);
		page_start(&w, s, 416, false, now, out);
		hw_fmt(&w, "Content-Range: bytes */%llu\r\n", (unsigned long long)size);
		resp_finish(&w, keep_alive);
		return;
	}
	if (rr == RANGE_OK) {
		resp_start(&w, out, 206, now);
		hw_fmt(&w, "Content-Type: %s\r\nContent-Length: %llu\r\n"
		    "Content-Range: bytes %llu-%llu/%llu\r\n", mime_of(rel),
		    (unsigned long long)(last - first + 1), (unsigned long long)first,
		    (unsigned long long)last, (unsigned long long)size);
	} else {
		first = 0;
		resp_start(&w, out, 200, now);
		hw_str(&w, "Content-Type: ");
		hw_str(&w, mime_of(rel));
		hw_str(&w, "\r\nContent-Length: ");
		hw_u64(&w, size);
		hw_put(&w, "\r\n", 2);
	}
	hw_str(&w, "Last-Modified: ");
	hw_str(&w, lm);
	hw_str(&w, "\r\nETag: ");
	hw_str(&w, etag);
	hw_str(&w, "\r\nAccept-Ranges: bytes\r\n");
	resp_finish(&w, keep_alive);
	if (head_only || size == 0) {
		close(fd);
		return;
	}
	out->fd = fd;
	out->off = (off_t)first;
	out->len = (size_t)(rr == RANGE_OK ? last - first + 1 : size);
}

/* Answers one parsed request (see site.h). */
void
site_respond(const struct site *s, const uint8_t *buf, const struct http1_req *r,
    bool keep_alive, time_t now, struct site_resp *out)
{
	uint8_t dec[HTTP1_URI_MAX + 1];
	char rel[PATH_BUF];
	const uint8_t *t = buf + r->target.off, *path, *q = NULL;
	size_t tlen = r->target.len, plen, qlen = 0, declen, rellen, i;
	bool head_only, dir, has_query = false;
	struct stat st;
	struct hw w;
	int fd;

	if (r->method != HTTP1_M_GET && r->method != HTTP1_M_HEAD) {
		site_error(s, 405, false, keep_alive, now, out);
		return;
	}
	head_only = r->method == HTTP1_M_HEAD;

	/* Origin-form, or absolute-form whose path we use (RFC 9112 §3.2.1, §3.2.2). */
	if (tlen > 0 && t[0] == '/') {
		path = t;
		plen = tlen;
	} else if ((tlen >= 7 && strncasecmp((const char *)t, "http://", 7) == 0) ||
	    (tlen >= 8 && strncasecmp((const char *)t, "https://", 8) == 0)) {
		i = t[4] == ':' ? 7 : 8;
		while (i < tlen && t[i] != '/' && t[i] != '?' && t[i] != '#')
			i++;
		path = t + i;
		plen = tlen - i;
	} else {
		site_error(s, 400, head_only, keep_alive, now, out);
		return;
	}
	for (i = 0; i < plen && path[i] != '#'; i++) {
		if (path[i] == '?' && !has_query) {
			has_query = true;
			q = path + i + 1;
		}
	}
	if (has_query)
		qlen = (size_t)(path + i - q);
	plen = has_query ? (size_t)(q - 1 - path) : i;
	if (plen == 0) {
		path = (const uint8_t *)"/"; /* "http://host" and "http://host?q": the root */
		plen = 1;
	}

	if (s != NULL && s->health != NULL && plen == s->health_len &&
	    memcmp(path, s->health, plen) == 0) {
		resp_health(head_only, keep_alive, now, out);
		return;
	}

	if (plen > HTTP1_URI_MAX) {
		/* The parser never lets one through; the buffers below rely on it. */
		site_error(s, 414, head_only, keep_alive, now, out);
		return;
	}
	if (!pct_decode(path, plen, dec, &declen)) {
		site_error(s, 400, head_only, keep_alive, now, out);
		return;
	}
	if (s == NULL || s->rootfd == -1 || !path_normalise(dec, declen, rel, &rellen, &dir))
		goto not_found;

	if (dir) {
		/* "dir/" names its index; the root itself too. */
		if (rellen > 0)
			rel[rellen++] = '/';
		memcpy(rel + rellen, INDEX_NAME, sizeof INDEX_NAME);
	}
	fd = open_beneath(s, rel);
	if (dir && rellen > 0)
		rel[--rellen] = '\0'; /* back to the directory name */
	if (fd == -1) {
		site_error(s, open_errno_status(errno), head_only, keep_alive, now, out);
		return;
	}
	if (fstat(fd, &st) == -1) {
		close(fd);
		site_error(s, 500, head_only, keep_alive, now, out);
		return;
	}
	if (S_ISDIR(st.st_mode) && !dir) {
		close(fd);
		page_start(&w, s, 301, head_only, now, out);
		put_location(&w, rel, rellen, q, qlen, has_query);
		if (!resp_finish(&w, keep_alive))
			site_error(s, 404, head_only, keep_alive, now, out);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		goto not_found;
	}
	if (dir)
		memcpy(rel, INDEX_NAME, sizeof INDEX_NAME); /* its type is html */
	resp_file(s, buf, r, fd, &st, rel, head_only, keep_alive, now, out);
	return;

not_found:
	site_error(s, 404, head_only, keep_alive, now, out);
}
