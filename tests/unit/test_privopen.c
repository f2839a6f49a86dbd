/*
 * Unit test of core/privopen.c, the helper that opens files for the daemon after the
 * privilege drop: it opens what the configuration names (the file, its includes, the
 * certificates and keys), learns a file a changed configuration adds, and refuses
 * everything else, whatever the caller asks; it ends when the caller's socket closes.
 * Runs as any user: what is tested is the allow-list, not the privilege.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/privopen.h"

static char dir[64];

/* Writes s to dir/name; returns the path in a static buffer slot. */
static const char *
put(const char *name, const char *s)
{
	static char paths[8][128];
	static int k;
	char *p = paths[k++ % 8];
	snprintf(p, 128, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (f == NULL || fputs(s, f) == EOF || fclose(f) != 0) {
		perror(p);
		exit(1);
	}
	return p;
}

/* The first bytes read from fd (closed), or "" on failure. */
static const char *
slurp(int fd)
{
	static char buf[256];
	buf[0] = '\0';
	if (fd == -1)
		return buf;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* The configuration: an include naming one certificate pair. */
static void
write_conf(const char *pair)
{
	char inc[512], main_yaml[256];
	snprintf(inc, sizeof inc, "terminator:\n  certificates:\n    - {cert: %s.crt, key: %s.key}\n",
	    pair, pair);
	put("certs.yaml", inc);
	snprintf(main_yaml, sizeof main_yaml, "include: [certs.yaml]\nlisteners:\n  - name: a\n"
	    "    listen: 127.0.0.1:443\n    kind: tls\n    routes:\n      - default: {terminate: true}\n");
	put("sy.yaml", main_yaml);
}

int
main(void)
{
	char err[256], p[160];
	snprintf(dir, sizeof dir, "/tmp/sy-privopen.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	put("a.crt", "CERT A\n");
	put("a.key", "KEY A\n");
	put("b.crt", "CERT B\n");
	put("b.key", "KEY B\n");
	put("other", "NOT NAMED\n");
	write_conf("a");
	char conf[160];
	snprintf(conf, sizeof conf, "%s/sy.yaml", dir);

	/* Without a helper: a plain open. */
	snprintf(p, sizeof p, "%s/other", dir);
	CHECK(privopen_pid() == -1);
	CHECK(strcmp(slurp(privopen_open(p)), "NOT NAMED\n") == 0);

	pid_t hp = privopen_start(conf, err, sizeof err);
	CHECKF(hp > 0, "%s", err);
	CHECK(privopen_pid() == hp);

	/* What the configuration names. */
	CHECK(strncmp(slurp(privopen_open(conf)), "include:", 8) == 0);
	snprintf(p, sizeof p, "%s/certs.yaml", dir);
	CHECK(strncmp(slurp(privopen_open(p)), "terminator:", 11) == 0);
	snprintf(p, sizeof p, "%s/a.crt", dir);
	CHECK(strcmp(slurp(privopen_open(p)), "CERT A\n") == 0);
	snprintf(p, sizeof p, "%s/a.key", dir);
	FILE *f = privopen_fopen(p);
	char line[32] = "";
	CHECK(f != NULL && fgets(line, sizeof line, f) != NULL && strcmp(line, "KEY A\n") == 0);
	CHECK(f != NULL && (fcntl(fileno(f), F_GETFD) & FD_CLOEXEC) != 0);
	if (f != NULL)
		fclose(f);

	/* What it does not name: refused, whatever the file. */
	snprintf(p, sizeof p, "%s/other", dir);
	errno = 0;
	CHECK(privopen_open(p) == -1 && errno == EACCES);
	snprintf(p, sizeof p, "%s/b.key", dir);
	errno = 0;
	CHECK(privopen_open(p) == -1 && errno == EACCES);
	errno = 0;
	CHECK(privopen_open("/etc/shadow") == -1 && errno == EACCES);
	errno = 0;
	CHECK(privopen_open("/etc/passwd") == -1 && errno == EACCES);
	snprintf(p, sizeof p, "%s/../%s/a.key", dir, strrchr(dir, '/') + 1);
	errno = 0;
	CHECKF(privopen_open(p) == -1 && errno == EACCES, "another spelling of a named path");
	errno = 0;
	CHECK(privopen_open("") == -1);
	char longp[5000];
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	errno = 0;
	CHECK(privopen_open(longp) == -1 && errno == ENAMETOOLONG);
	/* Still answering after refusals. */
	snprintf(p, sizeof p, "%s/a.crt", dir);
	CHECK(strcmp(slurp(privopen_open(p)), "CERT A\n") == 0);

	/* A changed configuration: the new pair is learnt, the old one no longer opens. */
	write_conf("b");
	snprintf(p, sizeof p, "%s/b.key", dir);
	CHECK(strcmp(slurp(privopen_open(p)), "KEY B\n") == 0);
	snprintf(p, sizeof p, "%s/a.key", dir);
	errno = 0;
	CHECK(privopen_open(p) == -1 && errno == EACCES);

	/* A named path that is not a regular file is refused (a fifo would block). */
	snprintf(p, sizeof p, "%s/b.crt", dir);
	unlink(p);
	CHECK(mkfifo(p, 0600) == 0);
	errno = 0;
	CHECK(privopen_open(p) == -1 && errno == EINVAL);

	/* The helper ignores the signals meant for the daemon... */
	CHECK(kill(hp, SIGTERM) == 0 && kill(hp, SIGINT) == 0 && kill(hp, SIGHUP) == 0);
	usleep(100 * 1000);
	CHECK(waitpid(hp, NULL, WNOHANG) == 0);
	snprintf(p, sizeof p, "%s/b.key", dir);
	CHECK(strcmp(slurp(privopen_open(p)), "KEY B\n") == 0);

	/* ...and ends when the daemon's end of the socket closes. A child of ours plays a
	 * daemon that starts a helper and exits; the helper must be gone (or a zombie of
	 * whoever reaps orphans) within 2 s. */
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t d = fork();
	if (d == 0) {
		pid_t h = privopen_start(conf, err, sizeof err);
		ssize_t w = write(pfd[1], &h, sizeof h);
		_exit(w == (ssize_t)sizeof h && h > 0 ? 0 : 1);
	}
	pid_t h2 = -1;
	CHECK(d > 0 && read(pfd[0], &h2, sizeof h2) == (ssize_t)sizeof h2 && h2 > 0);
	int st = -1;
	CHECK(waitpid(d, &st, 0) == d && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	bool gone = false;
	for (int i = 0; i < 200 && !gone && h2 > 0; i++) {
		char sp[64], buf[256] = "";
		snprintf(sp, sizeof sp, "/proc/%ld/stat", (long)h2);
		FILE *sf = fopen(sp, "r");
		if (sf == NULL) {
			gone = true;
			break;
		}
		size_t n = fread(buf, 1, sizeof buf - 1, sf);
		fclose(sf);
		buf[n] = '\0';
		const char *rp = strrchr(buf, ')');
		gone = rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
		if (!gone)
			usleep(10 * 1000);
	}
	CHECKF(gone, "helper %ld still runs after its daemon exited", (long)h2);
	close(pfd[0]);
	close(pfd[1]);

	int rc = check_summary();
	const char *names[] = { "a.crt", "a.key", "b.crt", "b.key", "other", "certs.yaml", "sy.yaml" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
	return rc;
}
