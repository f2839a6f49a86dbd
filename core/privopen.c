/*
 * The privileged open helper (see privopen.h). The helper is a forked copy of the daemon
 * that keeps root, closes everything it inherited but the socket and stdio, ignores the
 * signals an operator or a terminal sends the daemon (Ctrl-C reaches the whole process
 * group) and serves one request at a time until the socket says EOF. It must never open a
 * path its own load of the configuration did not name, never open anything but a regular
 * file, and never write: requests carry a path, answers an errno and at most one descriptor.
 *
 * Wire (SOCK_SEQPACKET, so a message is a message):
 *   request   the path, 1..PATH_MAX bytes, no NUL
 *   answer    int32 errno (0: success) [+ SCM_RIGHTS: one O_RDONLY descriptor when 0]
 */
#include "core/privopen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conf.h"

static int privopen_sock = -1;      /* daemon: our end of the socketpair; -1: no helper */
static pid_t privopen_child = -1;

/* Helper state: what it may open. files: read by its last load of the configuration;
 * certs: named by its last successful load. Both owned strings. */
static const char *privopen_conf;
static char **privopen_files, **privopen_certs;
static size_t privopen_nfiles, privopen_ncerts;
static bool privopen_recording;     /* helper: its own conf_load is running */

/* Appends a copy of s to a list unless full; the list is bounded by PRIVOPEN_ALLOWED_MAX. */
static void
privopen_list_add(char ***v, size_t *n, const char *s)
{
	if (*n >= PRIVOPEN_ALLOWED_MAX)
		return;
	char **nv = realloc(*v, (*n + 1) * sizeof **v);
	char *c = strdup(s);
	if (nv == NULL || c == NULL) {
		free(c);
		if (nv != NULL)
			*v = nv;
		return; /* out of memory: the path is not allowed, the open will be refused */
	}
	*v = nv;
	(*v)[(*n)++] = c;
}

/* Frees a list. */
static void
privopen_list_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* True when path is in the list. */
static bool
privopen_list_has(char **v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], path) == 0)
			return true;
	return false;
}

/* Helper: loads the configuration as the daemon would, recording every file the loader
 * opens (main file and includes) and, when it loads, every certificate and key it names. */
static void
privopen_learn(void)
{
	struct conf_error err;
	privopen_list_free(&privopen_files, &privopen_nfiles);
	privopen_recording = true;
	struct conf *c = conf_load(privopen_conf, &err);
	privopen_recording = false;
	if (c == NULL)
		return; /* keep the certificates of the last good load; the daemon's load fails too */
	privopen_list_free(&privopen_certs, &privopen_ncerts);
	for (size_t i = 0; i < c->terminator.ncertificates; i++) {
		privopen_list_add(&privopen_certs, &privopen_ncerts, c->terminator.certificates[i].cert);
		privopen_list_add(&privopen_certs, &privopen_ncerts, c->terminator.certificates[i].key);
	}
	conf_free(c);
}

/* Helper: true when the configuration names path (learning it again once on a miss, so
 * files a new configuration adds become readable on the reload that adds them). */
static bool
privopen_allowed(const char *path)
{
	for (int round = 0; round < 2; round++) {
		if (privopen_list_has(privopen_files, privopen_nfiles, path) ||
		    privopen_list_has(privopen_certs, privopen_ncerts, path))
			return true;
		if (round == 0)
			privopen_learn();
	}
	return false;
}

/* Helper: opens an allowed regular file; returns the fd or -1 with errno. */
static int
privopen_do_open(const char *path)
{
	struct stat st;
	/* O_NONBLOCK: a fifo put where a certificate was named must not hang the helper. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return -1;
	int e = fstat(fd, &st) == -1 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
	if (e != 0) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Helper: sends an answer (and fd when err is 0). */
static void
privopen_answer(int s, int32_t err, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof err };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (err == 0) {
		memset(&u, 0, sizeof u);
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	while (sendmsg(s, &msg, MSG_NOSIGNAL) == -1 && errno == EINTR)
		;
	/* Any other failure: the daemon is gone, and the next recv says so. */
}

/* Helper: the request loop; exits when the daemon's end closes. */
static void __attribute__((noreturn))
privopen_serve(int s)
{
	char path[PATH_MAX + 2];
	for (;;) {
		ssize_t n = recv(s, path, sizeof path - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		path[n] = '\0';
		int32_t err = 0;
		int fd = -1;
		if ((size_t)n > PATH_MAX)
			err = ENAMETOOLONG;
		else if (memchr(path, '\0', (size_t)n) != NULL)
			err = EINVAL;
		else if (!privopen_allowed(path))
			err = EACCES;
		else if ((fd = privopen_do_open(path)) == -1)
			err = errno;
		privopen_answer(s, err, fd);
		if (fd != -1)
			close(fd);
	}
}

pid_t
privopen_start(const char *conf_path, char *err, size_t cap)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, cap, "privileged helper: socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == -1) {
		snprintf(err, cap, "privileged helper: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* The helper. Signals meant for the daemon (a terminal's Ctrl-C, a kill of the
		 * process group) must not end it in the daemon's place: it ends on EOF. */
		static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE,
			SIGQUIT };
		for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
			signal(ignored[i], SIG_IGN);
		/* Belt and braces: the kernel also ends us when the daemon dies. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(0); /* the daemon died before the line above */
		int s = sv[1];
		close(sv[0]);
		/* Nothing inherited but stdio and the socket. */
		if (s > 3)
			(void)close_range(3, (unsigned)s - 1, 0);
		(void)close_range((unsigned)s + 1, ~0u, 0);
		privopen_sock = -1;
		privopen_conf = conf_path;
		privopen_learn();
		privopen_serve(s);
	}
	close(sv[1]);
	privopen_sock = sv[0];
	privopen_child = pid;
	return pid;
}

pid_t
privopen_pid(void)
{
	return privopen_child;
}

/* Asks the helper for path; returns the fd or -1 with errno. */
static int
privopen_ask(const char *path)
{
	size_t len = strlen(path);
	if (len == 0 || len > PATH_MAX) {
		errno = len == 0 ? ENOENT : ENAMETOOLONG;
		return -1;
	}
	ssize_t n;
	while ((n = send(privopen_sock, path, len, MSG_NOSIGNAL)) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)len) {
		errno = EIO; /* the helper is gone */
		return -1;
	}
	int32_t err;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof err };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
		.msg_controllen = sizeof u.buf };
	while ((n = recvmsg(privopen_sock, &msg, MSG_CMSG_CLOEXEC)) == -1 && errno == EINTR)
		;
	int fd = -1;
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	if (n != (ssize_t)sizeof err || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    (err == 0) != (fd != -1)) {
		if (fd != -1)
			close(fd);
		errno = EIO;
		return -1;
	}
	if (err != 0) {
		errno = err;
		return -1;
	}
	return fd;
}

int
privopen_open(const char *path)
{
	if (privopen_sock != -1)
		return privopen_ask(path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd != -1 && privopen_recording)
		privopen_list_add(&privopen_files, &privopen_nfiles, path);
	return fd;
}

FILE *
privopen_fopen(const char *path)
{
	int fd = privopen_open(path);
	if (fd == -1)
		return NULL;
	FILE *f = fdopen(fd, "re");
	if (f == NULL) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}
