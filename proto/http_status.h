/*
 * The error-page table (http_status.c): for every status switchyard answers on its own, the
 * status line and the HTML page an ordinary nginx (server_tokens off) sends for it, so that
 * the terminator's site, the plain-HTTP listeners and the decoy all answer alike. A fact
 * table and nothing else: no I/O, no allocation, no state.
 *
 * One status is answered under another code, as nginx does: a request head that is too
 * large (431 in RFC 6585, the verdict proto/http1 gives) goes out as "400 Bad Request" with
 * nginx's "Request Header Or Cookie Too Large" page; callers send `wire`, never `code`.
 * nginx never answers a slow request head (it closes silently), so neither do we; 408 is
 * in the table only so that a caller that asks for it gets nginx's words.
 */
#ifndef SY_PROTO_HTTP_STATUS_H
#define SY_PROTO_HTTP_STATUS_H

#include <stddef.h>

#define HTTP_STATUS_SERVER "nginx" /* the Server field and the page footer of a decoy */

struct http_status {
	int         code;     /* the status asked for */
	int         wire;     /* the status code that goes out (differs only for 431) */
	const char *line;     /* status line after "HTTP/1.1 ": "400 Bad Request" */
	const char *page;     /* the HTML body; NULL: the status has none (200, 206, 304) */
	size_t      page_len;
};

/* The row of code; an unknown code gets the 500 row (never NULL). */
const struct http_status *http_status_get(int code);

#endif
