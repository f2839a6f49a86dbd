/*
 * Tests of the decoy static site (terminator/site.c) against a real directory tree made in
 * /tmp: every status it produces, the exact validator formats, conditionals, Range
 * boundaries, symlinks in and out of the root, and every path traversal attempt we know,
 * each checked to open nothing outside the root. Removes its tree at the end; never
 * touches anything else on the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "proto/http1.h"
#include "terminator/site.h"

/* The test hook of site.c (not in site.h on purpose). */
void site_test_no_openat2(struct site *s, bool on);

#define NOW       ((time_t)1800000000)          /* Fri, 15 Jan 2027 08:00:00 GMT */
#define NOW_DATE  "Fri, 15 Jan 2027 08:00:00 GMT"
#define MTIME     ((time_t)1700000000)          /* 0x6553f100 */
#define MTIME_LM  "Tue, 14 Nov 2023 22:13:20 GMT"
#define MTIME_M1  "Tue, 14 Nov 2023 22:13:19 GMT"
#define MTIME_P1  "Tue, 14 Nov 2023 22:13:21 GMT"
#define BIG_SIZE  100000u
#define SECRET    "TOP-SECRET-OUTSIDE-THE-ROOT"
#define INDEX     "<h1>home</h1>\n"
#define CSS       "body{color:red}\n"
#define SUBINDEX  "sub index\n"
#define MY404     "<p>custom not found</p>\n"

static char base[64], root[128];
static uint8_t reqbuf[HTTP1_HEAD_MAX + 1];
static struct http1_req req;
static char valbuf[SITE_HEAD_MAX + 1];

/* Writes len bytes of data to root-relative (or absolute) path p, mtime MTIME. */
static void
put_file(const char *p, const void *data, size_t len)
{
	char path[512];
	struct timespec ts[2] = { { MTIME, 0 }, { MTIME, 0 } };
	int fd;

	snprintf(path, sizeof path, "%s/%s", p[0] == '/' ? "" : root, p);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	close(fd);
	utimensat(AT_FDCWD, path, ts, 0);
}

/* Exits when a setup call (mkdir, symlink, mkfifo, ...) returned -1. */
static void
must(int rc, const char *what)
{
	if (rc == -1) {
		perror(what);
		exit(2);
	}
}

/* A root-relative path in a static buffer. */
static const char *
rp(const char *p)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", root, p);
	return path;
}

/* Builds the tree: index, css, sub/, sub2/, 404.html, big file, links, fifo, secret. */
static void
make_tree(void)
{
	static uint8_t big[BIG_SIZE];

	snprintf(base, sizeof base, "/tmp/sy_site_XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(root, sizeof root, "%s/root", base);
	must(mkdir(root, 0755), "root");
	must(mkdir(rp("sub"), 0755), "sub");
	must(mkdir(rp("sub2"), 0755), "sub2");
	must(mkdir(rp("idxdir"), 0755), "idxdir");
	must(mkdir(rp("idxdir/index.html"), 0755), "idxdir/index.html");
	put_file("index.html", INDEX, strlen(INDEX));
	put_file("a.css", CSS, strlen(CSS));
	put_file("sub/index.html", SUBINDEX, strlen(SUBINDEX));
	put_file("404.html", MY404, strlen(MY404));
	put_file("empty.txt", "", 0);
	put_file("PIC.PNG", "png", 3);
	put_file("noext", "x", 1);
	put_file("data.weird", "x", 1);
	put_file("app.webmanifest", "{}", 2);
	put_file("caf\xc3\xa9.txt", "utf8\n", 5);
	for (size_t i = 0; i < BIG_SIZE; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	put_file("big.bin", big, BIG_SIZE);
	must(symlink("a.css", rp("link_in")), "link_in");
	must(symlink("sub", rp("link_in_dir")), "link_in_dir");
	must(symlink("/etc/passwd", rp("link_out")), "link_out");
	must(symlink("../secret", rp("link_secret")), "link_secret");
	must(symlink("/", rp("link_root")), "link_root");
	must(symlink("..", rp("link_up")), "link_up");
	must(mkfifo(rp("fifo"), 0644), "fifo");
	{
		char p[256];
		snprintf(p, sizeof p, "%s/secret", base);
		put_file(p, SECRET, strlen(SECRET));
	}
}

/* Removes one entry of the tree (nftw callback, children first, links not followed). */
static int
rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(p) : unlink(p);
}

/* Removes the tree made by make_tree (and whatever 404.html variant is left). */
static void
remove_tree(void)
{
	if (nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == -1)
		fprintf(stderr, "could not remove %s\n", base);
}

/* How many fds this process has open (to catch leaks). */
static int
fd_count(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	}
	return n;
}

/* Parses head (must be a complete request head) and asks the site. */
static void
ask(const struct site *s, const char *head, bool ka, struct site_resp *out)
{
	size_t n = strlen(head);
	enum http1_verdict v;

	memcpy(reqbuf, head, n);
	http1_req_init(&req);
	v = http1_req_feed(&req, reqbuf, n);
	CHECKF(v == HTTP1_DONE, "parse of %.60s: %s", head, http1_verdict_str(v));
	memset(out, 0xa5, sizeof *out);
	site_respond(s, reqbuf, &req, ka, NOW, out);
}

/* GET (or method) target with extra header lines ("Name: v\r\n..."), keep-alive. */
static void
req_m(const struct site *s, const char *method, const char *target, const char *extra,
    struct site_resp *out)
{
	static char head[HTTP1_HEAD_MAX];

	snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: example.com\r\n%s\r\n", method,
	    target, extra != NULL ? extra : "");
	ask(s, head, true, out);
}

/* GET target with extra header lines. */
static void
get(const struct site *s, const char *target, const char *extra, struct site_resp *out)
{
	req_m(s, "GET", target, extra, out);
}

/* The value of header name in the response head (copied), or NULL. */
static const char *
hdr(const struct site_resp *o, const char *name)
{
	char pat[64];
	const char *h = o->head, *end = o->head + o->head_len, *p, *e;
	size_t pl;

	pl = (size_t)snprintf(pat, sizeof pat, "\r\n%s: ", name);
	for (p = h; p + pl <= end; p++) {
		if (memcmp(p, pat, pl) == 0) {
			p += pl;
			for (e = p; e + 1 < end && !(e[0] == '\r' && e[1] == '\n'); e++)
				;
			snprintf(valbuf, sizeof valbuf, "%.*s", (int)(e - p), p);
			return valbuf;
		}
	}
	return NULL;
}

/* True when header name has exactly value v. */
static bool
hdr_is(const struct site_resp *o, const char *name, const char *v)
{
	const char *got = hdr(o, name);
	return got != NULL && strcmp(got, v) == 0;
}

/* True when the head is well-formed: status line, Server, Date, ends in CRLFCRLF. */
static bool
head_ok(const struct site_resp *o)
{
	char line[64];
	int n = snprintf(line, sizeof line, "HTTP/1.1 %d ", o->status);

	return o->head_len >= 4 && o->head_len <= SITE_HEAD_MAX &&
	    memcmp(o->head, line, (size_t)n) == 0 &&
	    memcmp(o->head + o->head_len - 4, "\r\n\r\n", 4) == 0 &&
	    hdr_is(o, "Server", "nginx") && hdr_is(o, "Date", NOW_DATE);
}

/* Reads the response's file range (closing its fd) into out; returns the byte count. */
static size_t
take_file(struct site_resp *o, uint8_t *out, size_t cap)
{
	ssize_t n;

	if (o->fd < 0)
		return 0;
	CHECK(o->len <= cap);
	n = pread(o->fd, out, o->len < cap ? o->len : cap, o->off);
	close(o->fd);
	o->fd = -1;
	return n < 0 ? 0 : (size_t)n;
}

/* The response's whole body (memory or file) equals s. */
static bool
body_is(struct site_resp *o, const char *s)
{
	static uint8_t b[BIG_SIZE + 16];
	size_t n;

	if (o->fd >= 0) {
		n = take_file(o, b, sizeof b);
		return n == strlen(s) && memcmp(b, s, n) == 0;
	}
	return o->body_len == strlen(s) && memcmp(o->body, s, o->body_len) == 0;
}

/* True when any bytes the response would send contain the outside secret. */
static bool
leaks_secret(struct site_resp *o)
{
	static uint8_t b[BIG_SIZE + 16];
	size_t n = 0;

	if (o->fd >= 0)
		n = take_file(o, b, sizeof b);
	else if (o->body != NULL && o->body_len <= sizeof b)
		memcpy(b, o->body, n = o->body_len);
	return memmem(b, n, SECRET, strlen(SECRET)) != NULL ||
	    memmem(o->head, o->head_len, SECRET, strlen(SECRET)) != NULL ||
	    memmem(b, n, "root:", 5) != NULL;
}

/* Expects status st for target and nothing from outside the root. */
static void
expect_status(const struct site *s, const char *target, int st)
{
	struct site_resp o;

	get(s, target, NULL, &o);
	CHECKF(o.status == st, "%s: status %d, want %d", target, o.status, st);
	CHECKF(head_ok(&o), "%s: bad head", target);
	CHECKF(!leaks_secret(&o), "%s: leaked", target);
	if (o.fd >= 0)
		close(o.fd);
}

/* The basic 200s: index, css, sub index, validators, exact head layout. */
static void
test_basic(const struct site *s)
{
	struct site_resp o, h;
	char want[SITE_HEAD_MAX];
	int n;

	get(s, "/", NULL, &o);
	CHECK(o.status == 200);
	CHECK(head_ok(&o));
	n = snprintf(want, sizeof want, "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: " NOW_DATE
	    "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
	    "Last-Modified: " MTIME_LM "\r\nETag: \"6553f100-%zx\"\r\n"
	    "Accept-Ranges: bytes\r\nConnection: keep-alive\r\n\r\n", strlen(INDEX),
	    strlen(INDEX));
	CHECKF(o.head_len == (size_t)n && memcmp(o.head, want, (size_t)n) == 0, "head:\n%.*s",
	    (int)o.head_len, o.head);
	CHECK(o.fd >= 0 && o.off == 0 && o.len == strlen(INDEX));
	CHECK(!o.close);
	CHECK(body_is(&o, INDEX));

	/* HEAD: the same head, no body. */
	req_m(s, "HEAD", "/", NULL, &h);
	CHECK(h.status == 200 && h.fd == -1 && h.body_len == 0);
	CHECK(h.head_len == (size_t)n && memcmp(h.head, want, (size_t)n) == 0);

	get(s, "/a.css", NULL, &o);
	CHECK(o.status == 200 && hdr_is(&o, "Content-Type", "text/css; charset=utf-8"));
	CHECK(hdr_is(&o, "ETag", "\"6553f100-10\""));
	CHECK(body_is(&o, CSS));

	get(s, "/sub/", NULL, &o);
	CHECK(o.status == 200 && hdr_is(&o, "Content-Type", "text/html; charset=utf-8"));
	CHECK(body_is(&o, SUBINDEX));
	get(s, "/sub//", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, SUBINDEX));
	get(s, "///sub///index.html", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, SUBINDEX));
	get(s, "/%73ub/index%2Ehtml", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, SUBINDEX));
	get(s, "/a.css?x=../../secret#frag", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, CSS));
	get(s, "/caf%C3%A9.txt", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, "utf8\n"));

	/* Empty file: 200, Content-Length 0, no fd. */
	get(s, "/empty.txt", NULL, &o);
	CHECK(o.status == 200 && hdr_is(&o, "Content-Length", "0") && o.fd == -1 &&
	    o.body_len == 0);
	CHECK(hdr_is(&o, "ETag", "\"6553f100-0\""));

	/* Big file: the whole range. */
	get(s, "/big.bin", NULL, &o);
	CHECK(o.status == 200 && o.off == 0 && o.len == BIG_SIZE);
	CHECK(hdr_is(&o, "ETag", "\"6553f100-186a0\""));
	CHECK(hdr_is(&o, "Content-Type", "application/octet-stream"));
	if (o.fd >= 0)
		close(o.fd);

	/* Connection: close when the HTTP layer says so. */
	ask(s, "GET /a.css HTTP/1.1\r\nHost: x\r\n\r\n", false, &o);
	CHECK(o.status == 200 && o.close && hdr_is(&o, "Connection", "close"));
	if (o.fd >= 0)
		close(o.fd);
}

/* Content types by extension, case-insensitively. */
static void
test_mime(const struct site *s)
{
	static const struct {
		const char *target, *type;
	} v[] = {
		{ "/PIC.PNG", "image/png" },
		{ "/noext", "application/octet-stream" },
		{ "/data.weird", "application/octet-stream" },
		{ "/app.webmanifest", "application/manifest+json" },
		{ "/caf%c3%a9.txt", "text/plain; charset=utf-8" },
		{ "/link_in", "application/octet-stream" }, /* the name asked for decides */
	};
	struct site_resp o;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		get(s, v[i].target, NULL, &o);
		CHECKF(o.status == 200 && hdr_is(&o, "Content-Type", v[i].type), "%s: %d %s",
		    v[i].target, o.status, hdr(&o, "Content-Type"));
		if (o.fd >= 0)
			close(o.fd);
	}
}

/* Directories: redirect, index, no listing. */
static void
test_dirs(const struct site *s)
{
	struct site_resp o;

	get(s, "/sub", NULL, &o);
	CHECK(o.status == 301 && head_ok(&o) && hdr_is(&o, "Location", "/sub/"));
	CHECK(hdr_is(&o, "Content-Type", "text/html") && o.fd == -1);
	CHECK(o.body_len > 0 && memmem(o.body, o.body_len, "301 Moved Permanently", 21) != NULL);
	CHECK(!o.close);
	get(s, "/sub?a=1&b=%2F", NULL, &o);
	CHECK(o.status == 301 && hdr_is(&o, "Location", "/sub/?a=1&b=%2F"));
	/* Never a protocol-relative Location: "//sub" must not become "//sub/". */
	get(s, "//sub", NULL, &o);
	CHECK(o.status == 301 && hdr_is(&o, "Location", "/sub/"));
	get(s, "/%73ub", NULL, &o);
	CHECK(o.status == 301 && hdr_is(&o, "Location", "/sub/"));
	get(s, "/link_in_dir", NULL, &o);
	CHECK(o.status == 301 && hdr_is(&o, "Location", "/link_in_dir/"));
	get(s, "/link_in_dir/", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, SUBINDEX));
	req_m(s, "HEAD", "/sub", NULL, &o);
	CHECK(o.status == 301 && o.body_len == 0 && hdr_is(&o, "Location", "/sub/"));

	get(s, "/sub2", NULL, &o);
	CHECK(o.status == 301 && hdr_is(&o, "Location", "/sub2/"));
	get(s, "/sub2/", NULL, &o);
	CHECK(o.status == 404 && body_is(&o, MY404));
	get(s, "/idxdir/", NULL, &o); /* index.html is itself a directory */
	CHECK(o.status == 404);
	get(s, "/a.css/", NULL, &o);
	CHECK(o.status == 404);
	get(s, "/fifo", NULL, &o); /* must not block either */
	CHECK(o.status == 404 && o.fd == -1);
	get(s, "/nope.html", NULL, &o);
	CHECK(o.status == 404 && head_ok(&o) && body_is(&o, MY404));
	CHECK(hdr_is(&o, "Content-Type", "text/html") && !o.close);
	CHECK(hdr_is(&o, "Content-Length", "24"));
}

/* Every traversal attempt, one by one: 400 or 404, never a byte from outside. follows:
 * symlinks inside the root are followed (openat2), not (the fallback). */
static void
test_traversal(const struct site *s, bool follows)
{
	static const struct {
		const char *target;
		int status;
	} v[] = {
		{ "/../secret", 404 },
		{ "/%2e%2e/secret", 404 },
		{ "/%2E%2E%2Fsecret", 404 },
		{ "/sub/..%2f..%2fsecret", 404 },
		{ "/..\\secret", 404 },
		{ "/%5c..%5csecret", 404 },
		{ "/%00", 404 },
		{ "/index.html%00.png", 404 },
		{ "/%c0%ae%c0%ae/secret", 404 },
		{ "/%e0%80%ae%e0%80%ae/secret", 404 },
		{ "/%ed%a0%80", 404 },            /* a surrogate */
		{ "/%f4%90%80%80", 404 },         /* over U+10FFFF */
		{ "/%ff", 404 },
		{ "/%c3", 404 },                  /* truncated sequence */
		{ "/%01", 404 },
		{ "/a%7f", 404 },
		{ "/link_out", 404 },
		{ "/link_secret", 404 },
		{ "/link_root/etc/passwd", 404 },
		{ "/link_root/", 404 },
		{ "/link_up/secret", 404 },
		{ "//../secret", 404 },
		{ "/./index.html", 404 },         /* "." segments are refused too */
		{ "/sub/.", 404 },
		{ "/sub/..", 404 },
		{ "/..", 404 },
		{ "/.%2e/secret", 404 },
		{ "/%2e/index.html", 404 },
		{ "http://x/../secret", 404 },
		{ "http://x/%2e%2e/secret", 404 },
		{ "/%zz", 400 },
		{ "/%4", 400 },
		{ "/%", 400 },
		{ "/a%g0", 400 },
	};
	struct site_resp o;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		get(s, v[i].target, NULL, &o);
		CHECKF(o.status == v[i].status, "%s: status %d, want %d", v[i].target, o.status,
		    v[i].status);
		CHECKF(o.fd == -1, "%s: a file was opened", v[i].target);
		CHECKF(head_ok(&o), "%s: bad head", v[i].target);
		CHECKF(!leaks_secret(&o), "%s: leaked", v[i].target);
		CHECKF(o.close == (v[i].status == 400), "%s: close %d", v[i].target, o.close);
		if (o.fd >= 0)
			close(o.fd);
	}
	get(s, "/link_in", NULL, &o); /* a symlink inside the root: followed with openat2 */
	CHECK(follows ? o.status == 200 && body_is(&o, CSS) : o.status == 404);
	if (o.fd >= 0)
		close(o.fd);
}

/* Request-target forms and methods. */
static void
test_forms(const struct site *s)
{
	struct site_resp o;

	get(s, "http://example.com/a.css", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, CSS));
	get(s, "HTTPS://example.com:443/sub", NULL, &o);
	CHECK(o.status == 301 && hdr_is(&o, "Location", "/sub/"));
	get(s, "http://example.com", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, INDEX));
	get(s, "http://example.com?q", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, INDEX));
	expect_status(s, "*", 400);
	expect_status(s, "example.com:443", 400);
	expect_status(s, "ftp://example.com/a.css", 400);
	expect_status(s, "a.css", 400);
	get(s, "*", NULL, &o);
	CHECK(o.close && hdr_is(&o, "Connection", "close"));
	CHECK(memmem(o.body, o.body_len, "<title>400 Bad Request</title>", 30) != NULL);

	req_m(s, "POST", "/", "Content-Length: 0\r\n", &o);
	CHECK(o.status == 405 && head_ok(&o) && hdr_is(&o, "Allow", "GET, HEAD"));
	CHECK(!o.close && o.fd == -1 && o.body_len > 0);
	req_m(s, "OPTIONS", "*", NULL, &o);
	CHECK(o.status == 405 && hdr_is(&o, "Allow", "GET, HEAD"));
	req_m(s, "DELETE", "/a.css", NULL, &o);
	CHECK(o.status == 405);
	req_m(s, "BREW", "/", NULL, &o);
	CHECK(o.status == 405);
}

/* Conditional requests: If-None-Match lists, weak compare, If-Modified-Since. */
static void
test_conditional(const struct site *s)
{
	static const struct {
		const char *extra;
		int status;
	} v[] = {
		{ "If-None-Match: \"6553f100-10\"\r\n", 304 },
		{ "If-None-Match: W/\"6553f100-10\"\r\n", 304 },
		{ "If-None-Match: \"a\", \"6553f100-10\"\r\n", 304 },
		{ "If-None-Match: \"a\",W/\"b\" ,  \"6553f100-10\"\r\n", 304 },
		{ "If-None-Match: \"a\"\r\nIf-None-Match: \"6553f100-10\"\r\n", 304 },
		{ "If-None-Match: *\r\n", 304 },
		{ "If-None-Match: \"6553f100-11\"\r\n", 200 },
		{ "If-None-Match: \"6553f100-10\r\n", 200 },        /* unterminated */
		{ "If-None-Match: 6553f100-10\r\n", 200 },          /* not quoted */
		{ "If-None-Match: \"x\"\r\nIf-Modified-Since: " MTIME_P1 "\r\n", 200 },
		{ "If-Modified-Since: " MTIME_LM "\r\n", 304 },     /* equal */
		{ "If-Modified-Since: " MTIME_P1 "\r\n", 304 },     /* newer */
		{ "If-Modified-Since: " MTIME_M1 "\r\n", 200 },     /* older */
		{ "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 UTC\r\n", 200 },
		{ "If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT\r\n", 200 },
		{ "If-Modified-Since: Tue, 31 Feb 2030 00:00:00 GMT\r\n", 200 },
		{ "If-Modified-Since: Tue, 14 Xyz 2030 00:00:00 GMT\r\n", 200 },
		{ "If-Modified-Since: Tue, 14 Nov 2030 24:00:00 GMT\r\n", 200 },
		{ "If-Modified-Since: garbage\r\n", 200 },
		{ "If-Modified-Since: " MTIME_P1 "\r\nIf-Modified-Since: " MTIME_P1 "\r\n", 200 },
	};
	struct site_resp o;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		get(s, "/a.css", v[i].extra, &o);
		CHECKF(o.status == v[i].status, "%s: %d, want %d", v[i].extra, o.status,
		    v[i].status);
		CHECK(head_ok(&o));
		if (o.status == 304) {
			CHECK(o.fd == -1 && o.body_len == 0);
			CHECK(hdr(&o, "Content-Length") == NULL && hdr(&o, "Content-Type") == NULL);
			CHECK(hdr_is(&o, "ETag", "\"6553f100-10\""));
			CHECK(hdr_is(&o, "Last-Modified", MTIME_LM));
			CHECK(!o.close);
		} else {
			CHECK(body_is(&o, CSS));
		}
		if (o.fd >= 0)
			close(o.fd);
	}
	req_m(s, "HEAD", "/a.css", "If-None-Match: \"6553f100-10\"\r\n", &o);
	CHECK(o.status == 304 && o.fd == -1);
	/* A 304 wins over Range. */
	get(s, "/big.bin", "If-None-Match: *\r\nRange: bytes=0-0\r\n", &o);
	CHECK(o.status == 304 && o.fd == -1);
}

/* Expects a 206 of [first, last] of big.bin with the right Content-Range and bytes. */
static void
expect_range(const struct site *s, const char *extra, uint64_t first, uint64_t last)
{
	static uint8_t b[BIG_SIZE + 16];
	struct site_resp o;
	char cr[96], cl[32];
	size_t n;
	bool same = true;

	get(s, "/big.bin", extra, &o);
	CHECKF(o.status == 206, "%s: %d", extra, o.status);
	snprintf(cr, sizeof cr, "bytes %llu-%llu/%u", (unsigned long long)first,
	    (unsigned long long)last, BIG_SIZE);
	snprintf(cl, sizeof cl, "%llu", (unsigned long long)(last - first + 1));
	CHECKF(hdr_is(&o, "Content-Range", cr), "%s: %s", extra, hdr(&o, "Content-Range"));
	CHECK(hdr_is(&o, "Content-Length", cl) && hdr_is(&o, "Accept-Ranges", "bytes"));
	CHECK(hdr_is(&o, "ETag", "\"6553f100-186a0\""));
	CHECK(o.off == (off_t)first && o.len == last - first + 1);
	n = take_file(&o, b, sizeof b);
	CHECK(n == last - first + 1);
	for (size_t i = 0; i < n; i++)
		same = same && b[i] == (uint8_t)((first + i) * 7 + 3);
	CHECK(same);
}

/* Expects the whole file (200) or 416 for extra on file target. */
static void
expect_range_status(const struct site *s, const char *target, const char *extra, int st,
    const char *content_range)
{
	struct site_resp o;

	get(s, target, extra, &o);
	CHECKF(o.status == st, "%s %s: %d, want %d", target, extra, o.status, st);
	CHECK(head_ok(&o));
	if (st == 416) {
		CHECKF(hdr_is(&o, "Content-Range", content_range), "%s: %s", extra,
		    hdr(&o, "Content-Range"));
		CHECK(o.fd == -1 && !o.close);
		CHECK(o.body_len > 0 && memmem(o.body, o.body_len, "416", 3) != NULL);
	} else {
		CHECK(hdr(&o, "Content-Range") == NULL);
	}
	if (o.fd >= 0)
		close(o.fd);
}

/* Range at the size-1 / size / size+1 boundaries, If-Range, ignored forms. */
static void
test_range(const struct site *s)
{
	char e[128];
	struct site_resp o;

	expect_range(s, "Range: bytes=0-0\r\n", 0, 0);
	expect_range(s, "Range: bytes=0-99\r\n", 0, 99);
	expect_range(s, "Range: BYTES=10-19\r\n", 10, 19);
	expect_range(s, "Range: bytes=99999-\r\n", BIG_SIZE - 1, BIG_SIZE - 1);  /* size-1 */
	expect_range(s, "Range: bytes=0-99998\r\n", 0, BIG_SIZE - 2);
	expect_range(s, "Range: bytes=0-99999\r\n", 0, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=0-100000\r\n", 0, BIG_SIZE - 1);           /* clamped */
	expect_range(s, "Range: bytes=0-100001\r\n", 0, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=50000-99999999999999999999999\r\n", 50000, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=-1\r\n", BIG_SIZE - 1, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=-99999\r\n", 1, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=-100000\r\n", 0, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=-100001\r\n", 0, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=-99999999999999999999999\r\n", 0, BIG_SIZE - 1);
	expect_range(s, "Range: bytes=5-5\r\n", 5, 5);

	expect_range_status(s, "/big.bin", "Range: bytes=100000-\r\n", 416, "bytes */100000");
	expect_range_status(s, "/big.bin", "Range: bytes=100001-\r\n", 416, "bytes */100000");
	expect_range_status(s, "/big.bin", "Range: bytes=100000-100005\r\n", 416,
	    "bytes */100000");
	expect_range_status(s, "/big.bin", "Range: bytes=99999999999999999999999-\r\n", 416,
	    "bytes */100000");
	expect_range_status(s, "/big.bin", "Range: bytes=-0\r\n", 416, "bytes */100000");
	expect_range_status(s, "/empty.txt", "Range: bytes=0-\r\n", 416, "bytes */0");
	expect_range_status(s, "/empty.txt", "Range: bytes=-1\r\n", 416, "bytes */0");

	/* Invalid or several ranges: ignored, 200. */
	expect_range_status(s, "/big.bin", "Range: bytes=5-3\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=0-1,3-4\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=0-1, 200000-\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=abc\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=-\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes= 0-1\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=0-1x\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: items=0-1\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=0-1\r\nRange: bytes=2-3\r\n", 200,
	    NULL);

	/* HEAD ignores Range. */
	req_m(s, "HEAD", "/big.bin", "Range: bytes=0-0\r\n", &o);
	CHECK(o.status == 200 && o.fd == -1 && hdr_is(&o, "Content-Length", "100000"));

	/* If-Range: the ETag (strong only) or the exact date; otherwise the whole file. */
	expect_range(s, "Range: bytes=1-2\r\nIf-Range: \"6553f100-186a0\"\r\n", 1, 2);
	expect_range(s, "Range: bytes=1-2\r\nIf-Range: " MTIME_LM "\r\n", 1, 2);
	expect_range_status(s, "/big.bin", "Range: bytes=1-2\r\nIf-Range: \"6553f100-1\"\r\n",
	    200, NULL);
	expect_range_status(s, "/big.bin",
	    "Range: bytes=1-2\r\nIf-Range: W/\"6553f100-186a0\"\r\n", 200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=1-2\r\nIf-Range: " MTIME_P1 "\r\n",
	    200, NULL);
	expect_range_status(s, "/big.bin", "Range: bytes=1-2\r\nIf-Range: nonsense\r\n", 200,
	    NULL);
	snprintf(e, sizeof e, "Range: bytes=100000-\r\nIf-Range: \"other\"\r\n");
	expect_range_status(s, "/big.bin", e, 200, NULL); /* no 416 when If-Range fails */
}

/* The health path: exact match only, when configured. */
static void
test_health(void)
{
	struct conf_site cs = { .root = root, .health_path = "/healthz" };
	struct site_resp o;
	struct site *s;
	char err[256];

	s = site_open(&cs, err, sizeof err);
	CHECK(s != NULL);
	if (s == NULL)
		return;
	get(s, "/healthz", NULL, &o);
	CHECK(o.status == 200 && head_ok(&o) && hdr_is(&o, "Content-Type", "text/plain"));
	CHECK(hdr_is(&o, "Content-Length", "3") && body_is(&o, "ok\n") && o.fd == -1);
	get(s, "/healthz?probe=1", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, "ok\n"));
	get(s, "http://lb/healthz", NULL, &o);
	CHECK(o.status == 200);
	req_m(s, "HEAD", "/healthz", NULL, &o);
	CHECK(o.status == 200 && o.body_len == 0 && hdr_is(&o, "Content-Length", "3"));
	expect_status(s, "/healthz/", 404);
	expect_status(s, "/healthzz", 404);
	expect_status(s, "/Healthz", 404);
	expect_status(s, "/", 200);
	site_free(s);

	/* Not configured: an ordinary lookup (404 here). */
	cs.health_path = NULL;
	s = site_open(&cs, err, sizeof err);
	CHECK(s != NULL);
	if (s == NULL)
		return;
	expect_status(s, "/healthz", 404);
	site_free(s);

	/* No root: only error pages (and the health path). */
	cs.root = NULL;
	cs.health_path = "/hc";
	s = site_open(&cs, err, sizeof err);
	CHECK(s != NULL);
	if (s == NULL)
		return;
	expect_status(s, "/", 404);
	expect_status(s, "/index.html", 404);
	expect_status(s, "/hc", 200);
	site_free(s);
}

/* site_open errors and the SITE_PAGE_MAX limit of 404.html at N and N+1. */
static void
test_open(void)
{
	static char page[SITE_PAGE_MAX + 1];
	struct conf_site cs = { 0 };
	struct site_resp o;
	struct site *s;
	char err[256];

	cs.root = "/nonexistent-sy-site";
	s = site_open(&cs, err, sizeof err);
	CHECK(s == NULL);
	CHECKF(strcmp(err, "terminator.site.root: /nonexistent-sy-site: No such file or "
	    "directory") == 0, "%s", err);
	cs.root = (char *)rp("a.css");
	s = site_open(&cs, err, sizeof err);
	CHECK(s == NULL && strstr(err, ": Not a directory") != NULL);
	CHECK(strncmp(err, "terminator.site.root: /tmp/", 27) == 0);

	cs.root = root;
	memset(page, 'p', sizeof page);
	put_file("404.html", page, SITE_PAGE_MAX);
	s = site_open(&cs, err, sizeof err);
	CHECK(s != NULL);
	if (s != NULL) {
		get(s, "/missing", NULL, &o);
		CHECK(o.status == 404 && o.body_len == SITE_PAGE_MAX);
		CHECK(hdr_is(&o, "Content-Length", "65536"));
		site_free(s);
	}
	put_file("404.html", page, SITE_PAGE_MAX + 1);
	s = site_open(&cs, err, sizeof err);
	CHECK(s != NULL);
	if (s != NULL) {
		get(s, "/missing", NULL, &o);
		CHECK(o.status == 404 && o.body_len < 1000);
		CHECK(memmem(o.body, o.body_len, "<center><h1>404 Not Found</h1></center>", 39) !=
		    NULL);
		site_free(s);
	}
	/* A 404.html that is a directory is not used either. */
	must(unlink(rp("404.html")), "unlink 404");
	must(mkdir(rp("404.html"), 0755), "mkdir 404");
	s = site_open(&cs, err, sizeof err);
	CHECK(s != NULL);
	if (s != NULL) {
		get(s, "/missing", NULL, &o);
		CHECK(o.status == 404 && memmem(o.body, o.body_len, "nginx", 5) != NULL);
		site_free(s);
	}
	must(rmdir(rp("404.html")), "rmdir 404");
	put_file("404.html", MY404, strlen(MY404));
}

/* SITE_HEAD_MAX with a long Location: a head of exactly N bytes is sent, N+1 is a 404. */
static void
test_head_max(const struct site *s)
{
	static char target[SITE_HEAD_MAX + 64];
	struct site_resp o;
	size_t base_len, k;

	get(s, "/sub2?q", NULL, &o);
	CHECK(o.status == 301);
	base_len = o.head_len - 1; /* the head with an empty query after "?" */

	k = SITE_HEAD_MAX - base_len;
	snprintf(target, sizeof target, "/sub2?%0*d", (int)k, 0);
	get(s, target, NULL, &o);
	CHECKF(o.status == 301 && o.head_len == SITE_HEAD_MAX, "N: %d %zu", o.status,
	    o.head_len);
	CHECK(head_ok(&o));

	snprintf(target, sizeof target, "/sub2?%0*d", (int)k + 1, 0);
	get(s, target, NULL, &o);
	CHECKF(o.status == 404 && head_ok(&o), "N+1: %d", o.status);
	CHECK(hdr(&o, "Location") == NULL);
}

/* Every status of site_error: reason, page, forced close, HEAD without body. */
static void
test_errors(const struct site *s)
{
	static const struct {
		int status;
		const char *title;
		bool close;
	} v[] = {
		{ 400, "400 Bad Request", true },
		{ 404, NULL, false },
		{ 405, "405 Not Allowed", false },
		{ 408, "408 Request Time-out", true },
		{ 413, "413 Request Entity Too Large", true },
		{ 414, "414 Request-URI Too Large", true },
		{ 421, "421 Misdirected Request", false },
		{ 500, "500 Internal Server Error", true },
		{ 501, "501 Not Implemented", true },
		{ 505, "505 HTTP Version Not Supported", true },
	};
	char want[512], cl[32];
	struct site_resp o;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		site_error(s, v[i].status, false, true, NOW, &o);
		CHECK(o.status == v[i].status && head_ok(&o) && o.fd == -1);
		CHECKF(o.close == v[i].close, "%d: close %d", v[i].status, o.close);
		CHECK(hdr_is(&o, "Connection", v[i].close ? "close" : "keep-alive"));
		snprintf(cl, sizeof cl, "%zu", o.body_len);
		CHECK(hdr_is(&o, "Content-Length", cl));
		if (v[i].title != NULL) {
			snprintf(want, sizeof want, "<html>\r\n<head><title>%s</title></head>\r\n"
			    "<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>"
			    "\r\n</body>\r\n</html>\r\n", v[i].title, v[i].title);
			CHECKF(body_is(&o, want), "%d page", v[i].status);
			snprintf(want, sizeof want, "HTTP/1.1 %s\r\n", v[i].title);
			CHECK(memcmp(o.head, want, strlen(want)) == 0);
		} else {
			CHECK(body_is(&o, MY404));
		}
		site_error(s, v[i].status, true, false, NOW, &o);
		CHECK(o.body_len == 0 && o.close && hdr_is(&o, "Content-Length", cl));
	}
	/* A head too large: nginx's 400 with its own page, from proto/http_status. */
	site_error(s, 431, false, true, NOW, &o);
	CHECK(o.status == 400 && head_ok(&o) && o.close);
	CHECK(memcmp(o.head, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	CHECK(o.body_len == http_status_get(431)->page_len &&
	    memcmp(o.body, http_status_get(431)->page, o.body_len) == 0);
	site_error(NULL, 404, false, true, NOW, &o); /* no site yet: built-in page */
	CHECK(o.status == 404 && o.body_len > 0 && head_ok(&o));
	site_error(s, 599, false, true, NOW, &o);    /* unknown: 500 */
	CHECK(o.status == 500 && o.close);
}

/* 500: a file that exists but cannot be opened (out of descriptors: works as root too). */
static void
test_500(const struct site *s)
{
	struct rlimit old, lim;
	struct site_resp o;
	int lowest;

	lowest = dup(0);
	if (lowest == -1 || getrlimit(RLIMIT_NOFILE, &old) == -1) {
		CHECK(0);
		return;
	}
	close(lowest);
	lim = old;
	lim.rlim_cur = (rlim_t)lowest;
	if (setrlimit(RLIMIT_NOFILE, &lim) == -1) {
		CHECK(0);
		return;
	}
	get(s, "/a.css", NULL, &o);
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK(o.status == 500 && o.close && o.fd == -1 && head_ok(&o));
	CHECK(hdr_is(&o, "Connection", "close"));
	CHECK(memmem(o.body, o.body_len, "500 Internal Server Error", 25) != NULL);
	get(s, "/a.css", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, CSS));
	if (geteuid() != 0) {
		/* As a normal user, an unreadable file is a 500 too. */
		put_file("locked.txt", "x", 1);
		chmod(rp("locked.txt"), 0);
		get(s, "/locked.txt", NULL, &o);
		CHECK(o.status == 500);
	}
}

/* The openat(2) fallback of kernels without openat2: no symlink is followed at all. */
static void
test_fallback(struct site *s)
{
	struct site_resp o;

	site_test_no_openat2(s, true);
	get(s, "/a.css", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, CSS));
	get(s, "/sub/", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, SUBINDEX));
	get(s, "/sub", NULL, &o);
	CHECK(o.status == 301);
	get(s, "/sub/index.html", NULL, &o);
	CHECK(o.status == 200 && body_is(&o, SUBINDEX));
	expect_status(s, "/link_in", 404);
	expect_status(s, "/link_in_dir/", 404);
	expect_status(s, "/link_out", 404);
	expect_status(s, "/link_secret", 404);
	expect_status(s, "/link_root/etc/passwd", 404);
	expect_status(s, "/link_up/secret", 404);
	expect_status(s, "/fifo", 404);
	expect_status(s, "/nope/x", 404);
	expect_status(s, "/a.css/x", 404);
	test_traversal(s, false);
	site_test_no_openat2(s, false);
}

/* Runs everything against a fresh tree. */
int
main(void)
{
	struct conf_site cs = { 0 };
	struct site *s;
	char err[256];
	int fds0;

	make_tree();
	fds0 = fd_count();
	cs.root = root;
	s = site_open(&cs, err, sizeof err);
	CHECKF(s != NULL, "site_open: %s", err);
	if (s == NULL) {
		remove_tree();
		return check_summary();
	}
	test_basic(s);
	test_mime(s);
	test_dirs(s);
	test_traversal(s, true);
	test_forms(s);
	test_conditional(s);
	test_range(s);
	test_head_max(s);
	test_errors(s);
	test_500(s);
	test_fallback(s);
	site_free(s);
	test_health();
	test_open();
	CHECKF(fd_count() == fds0, "fd leak: %d open, %d before", fd_count(), fds0);
	remove_tree();
	return check_summary();
}
