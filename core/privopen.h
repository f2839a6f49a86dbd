/*
 * Reading root-only files after the privilege drop. Before it drops root, the daemon forks a
 * small helper that stays root and does one thing: on request over a socketpair, open a
 * file the running configuration names (the configuration file and its includes, the
 * certificates and keys) read-only and pass the descriptor back (SCM_RIGHTS). It learns
 * which files those are by loading the configuration itself, never from the request, so a
 * daemon taken over by an attacker can read through it nothing the operator did not name.
 * The helper exits when the daemon's end of the socket closes (the daemon exited, however).
 *
 * Without a helper (not started as root, no process.user, switchyard -t, tests),
 * privopen_open is a plain open(2). Callers: the configuration loader and the terminator,
 * on the main thread only (the protocol is one request at a time).
 */
#ifndef SY_CORE_PRIVOPEN_H
#define SY_CORE_PRIVOPEN_H

#include <stdio.h>
#include <sys/types.h>

#define PRIVOPEN_ALLOWED_MAX 4096 /* paths the helper will open (64 files + 2 per certificate) */

/*
 * Forks the helper for the configuration at conf_path (which it loads itself). Call as
 * root, before any thread exists and before anything secret or any socket is open that the
 * helper should not inherit. Returns the helper's pid, or -1 with a message in err.
 */
pid_t privopen_start(const char *conf_path, char *err, size_t cap);

/* Opens path read-only (close-on-exec): through the helper when one runs, else directly.
 * Returns the fd, or -1 with errno (EACCES when the helper refuses a path). */
int privopen_open(const char *path);

/* privopen_open as a stdio stream for reading ("r", close-on-exec); NULL with errno. */
FILE *privopen_fopen(const char *path);

/* The helper's pid, or -1 when none runs. */
pid_t privopen_pid(void);

#endif
