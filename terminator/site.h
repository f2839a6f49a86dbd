/*
 * The decoy website (DESIGN.md §1, issue 4 item 4): answers one parsed HTTP request from the
 * static files under terminator.site.root, looking like an ordinary web server. It decides
 * the whole response (status, head bytes, body source) but never touches a socket: the HTTP
 * server writes what it returns. No request may ever open anything outside the root.
 */
#ifndef SY_TERMINATOR_SITE_H
#define SY_TERMINATOR_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/conf-t.h"
#include "proto/http1.h"
#include "proto/http_status.h"

#define SITE_HEAD_MAX     2048          /* response head bytes, status line to final CRLF */
#define SITE_PAGE_MAX     (64u * 1024)  /* 404.html larger than this is not used */
#define SITE_SERVER       HTTP_STATUS_SERVER /* Server: what an ordinary decoy says */

struct site;

/*
 * One response. The head is complete (status line, Date, Server, Content-Type,
 * Content-Length or Content-Range, ETag, Last-Modified, Accept-Ranges, Connection: close
 * when close is set, final CRLF). The body is either memory (body, body_len; may be empty)
 * or a byte range of an open file (fd >= 0: the caller sends [off, off + len) and closes
 * fd). A HEAD request gets the same head and no body (body_len 0, fd -1).
 */
struct site_resp {
	int            status;
	char           head[SITE_HEAD_MAX];
	size_t         head_len;
	const uint8_t *body;       /* points into the struct site (lives as long as it) */
	size_t         body_len;
	int            fd;         /* -1: no file */
	off_t          off;
	size_t         len;
	bool           close;      /* the connection must close after this response */
};

/*
 * Opens the site for cs (main thread): the root directory (an error when set but missing or
 * not a directory) and the optional 404.html. cs->root NULL serves only error pages.
 * Returns NULL with a message in err (cap bytes).
 */
struct site *site_open(const struct conf_site *cs, char *err, size_t cap);

/* Closes the root and frees the site. */
void site_free(struct site *s);

/*
 * Answers the request r whose head is in buf (r is DONE). keep_alive is the HTTP layer's
 * decision before this response (the response may still force close). now is the time for
 * Date and If-Modified-Since. GET and HEAD only (others: 405 with Allow); the health path
 * (when configured) answers 200; everything else is a file under the root or 404. Never
 * fails: errors become responses (500 when a file cannot be read).
 */
void site_respond(const struct site *s, const uint8_t *buf, const struct http1_req *r,
    bool keep_alive, time_t now, struct site_resp *out);

/*
 * An error response for status (400, 404, 405, 408, 413, 414, 421, 431, 500, 501, 505)
 * with nginx's status line and page from proto/http_status (431 goes out as nginx's 400
 * "Request Header Or Cookie Too Large"; out->status is the code sent); head_only: no body
 * (a HEAD request).
 */
void site_error(const struct site *s, int status, bool head_only, bool keep_alive,
    time_t now, struct site_resp *out);

#endif
