/*
 * Fuzz harness for the decoy site (terminator/site.c) behind the request-head parser: the
 * input is a method selector byte, a request-target up to the first LF, and extra header
 * lines (Range, If-None-Match, If-Modified-Since, ...). Over a fixed temporary root that holds
 * files, a directory, a symlink inside, a symlink to a file outside the root and one to "/",
 * every answer must be well formed (a bounded head ending in CRLF CRLF, a status from the
 * documented set) and every file it opens must lie inside the root: a file descriptor that
 * resolves outside aborts. Traversal is the bug class this harness hunts.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/conf-t.h"
#include "proto/http1.h"
#include "terminator/site.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct site *fz_site;
static char fz_dir[] = "/tmp/sy-fuzz-site.XXXXXX";
static char fz_root[PATH_MAX];
static size_t fz_root_len;

/* Writes a small file. */
static void
fz_file(const char *rel, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/%s", fz_dir, rel);
	FILE *f = fopen(p, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static void
fz_cleanup(void)
{
	char cmd[PATH_MAX + 16];
	site_free(fz_site);
	snprintf(cmd, sizeof cmd, "rm -rf %s", fz_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fz_dir);
}

/* The root and the site, made once per process. */
static void
fz_init(void)
{
	char p[PATH_MAX], q[PATH_MAX];
	if (mkdtemp(fz_dir) == NULL)
		abort();
	fz_file("secret", "SECRET-OUTSIDE\n");
	snprintf(p, sizeof p, "%s/root", fz_dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/root/sub", fz_dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/root/empty", fz_dir);
	mkdir(p, 0755);
	fz_file("root/index.html", "<html>index</html>\n");
	fz_file("root/a.txt", "0123456789abcdef");
	fz_file("root/sub/index.html", "<html>sub</html>\n");
	fz_file("root/404.html", "<html>gone</html>\n");
	snprintf(p, sizeof p, "%s/root/link_in", fz_dir);
	if (symlink("a.txt", p) != 0)
		abort();
	snprintf(p, sizeof p, "%s/root/link_out", fz_dir);
	snprintf(q, sizeof q, "%s/secret", fz_dir);
	if (symlink(q, p) != 0)
		abort();
	snprintf(p, sizeof p, "%s/root/link_root", fz_dir);
	if (symlink("/", p) != 0)
		abort();
	snprintf(p, sizeof p, "%s/root", fz_dir);
	if (realpath(p, fz_root) == NULL)
		abort();
	fz_root_len = strlen(fz_root);
	char err[256];
	struct conf_site cs = { .root = fz_root, .health_path = (char *)"/healthz" };
	fz_site = site_open(&cs, err, sizeof err);
	if (fz_site == NULL) {
		fprintf(stderr, "site_open: %s\n", err);
		abort();
	}
	atexit(fz_cleanup);
}

/* Aborts unless fd is a regular file inside the root. */
static void
fz_check_fd(int fd)
{
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n <= 0)
		abort();
	target[n] = '\0';
	if ((size_t)n <= fz_root_len || memcmp(target, fz_root, fz_root_len) != 0 ||
	    target[fz_root_len] != '/') {
		fprintf(stderr, "opened outside the root: %s\n", target);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "OPTIONS" };
	static uint8_t buf[HTTP1_HEAD_MAX + 64];
	static struct http1_req req;
	static struct site_resp resp;
	if (fz_site == NULL)
		fz_init();
	if (size < 1 || size > 4096)
		return 0;
	const char *m = methods[data[0] % 4];
	const uint8_t *t = data + 1, *end = data + size;
	const uint8_t *lf = memchr(t, '\n', (size_t)(end - t));
	size_t tlen = (size_t)((lf != NULL ? lf : end) - t);
	const uint8_t *hdr = lf != NULL ? lf + 1 : end;
	size_t hlen = (size_t)(end - hdr);

	/* "METHOD target HTTP/1.1\r\nHost: x\r\n" + header lines (LF -> CRLF) + "\r\n" */
	size_t n = (size_t)snprintf((char *)buf, sizeof buf, "%s ", m);
	memcpy(buf + n, t, tlen);
	n += tlen;
	memcpy(buf + n, " HTTP/1.1\r\nHost: x\r\n", 20);
	n += 20;
	for (size_t i = 0; i < hlen && n + 4 < sizeof buf; i++) {
		if (hdr[i] == '\n')
			buf[n++] = '\r';
		buf[n++] = hdr[i];
	}
	if (hlen > 0 && hdr[hlen - 1] != '\n') {
		buf[n++] = '\r';
		buf[n++] = '\n';
	}
	buf[n++] = '\r';
	buf[n++] = '\n';

	http1_req_init(&req);
	if (http1_req_feed(&req, buf, n) != HTTP1_DONE)
		return 0;
	site_respond(fz_site, buf, &req, data[0] & 4, (time_t)1700000000, &resp);

	static const int ok[] = { 200, 206, 301, 304, 400, 404, 405, 416, 500 };
	int known = 0;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		known |= resp.status == ok[i];
	if (!known || resp.head_len < 16 || resp.head_len > SITE_HEAD_MAX ||
	    memcmp(resp.head + resp.head_len - 4, "\r\n\r\n", 4) != 0)
		abort();
	if (resp.fd >= 0) {
		fz_check_fd(resp.fd);
		struct stat st;
		if (fstat(resp.fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		    resp.off < 0 || (uint64_t)resp.off + resp.len > (uint64_t)st.st_size)
			abort();
		close(resp.fd);
	}
	if (resp.body_len > 0 && resp.body == NULL)
		abort();
	return 0;
}
