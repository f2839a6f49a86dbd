/*
 * The error-page table (see http_status.h). The page shape is the one every visitor of a
 * default nginx has seen: a title and an h1 with "code reason", a rule, the server name,
 * lines ended by CRLF. The reason phrases are nginx's (the older RFC 2616 wording for
 * 408, 413, 414, 416, 504, and "Not Allowed" for 405), not RFC 9110's: the point is to be
 * indistinguishable from nginx, and tests/integration/errors.sh checks every row that can
 * be provoked against a real one, byte for byte.
 */
#include "proto/http_status.h"

/* An ordinary page for the text t ("404 Not Found"). */
#define HS_PAGE(t) \
	"<html>\r\n<head><title>" t "</title></head>\r\n<body>\r\n<center><h1>" t \
	"</h1></center>\r\n<hr><center>" HTTP_STATUS_SERVER "</center>\r\n</body>\r\n</html>\r\n"

/* A row answered under its own code with the ordinary page. */
#define HS_ROW(c, reason) { c, c, #c " " reason, HS_PAGE(#c " " reason), sizeof HS_PAGE(#c " " reason) - 1 }

/* A row without a body. */
#define HS_BARE(c, reason) { c, c, #c " " reason, NULL, 0 }

/* nginx's page for a head over its buffers: the cause in the title and one more line. */
#define HS_HEAD_TOO_LARGE \
	"<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n" \
	"<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n" \
	"<center>Request Header Or Cookie Too Large</center>\r\n" \
	"<hr><center>" HTTP_STATUS_SERVER "</center>\r\n</body>\r\n</html>\r\n"

static const struct http_status rows[] = {
	HS_BARE(200, "OK"),
	HS_BARE(206, "Partial Content"),
	HS_ROW(301, "Moved Permanently"),
	HS_BARE(304, "Not Modified"),
	HS_ROW(400, "Bad Request"),
	HS_ROW(403, "Forbidden"),
	HS_ROW(404, "Not Found"),
	HS_ROW(405, "Not Allowed"),
	HS_ROW(408, "Request Time-out"),
	HS_ROW(413, "Request Entity Too Large"),
	HS_ROW(414, "Request-URI Too Large"),
	HS_ROW(416, "Requested Range Not Satisfiable"),
	HS_ROW(421, "Misdirected Request"),
	{ 431, 400, "400 Bad Request", HS_HEAD_TOO_LARGE, sizeof HS_HEAD_TOO_LARGE - 1 },
	HS_ROW(500, "Internal Server Error"),
	HS_ROW(501, "Not Implemented"),
	HS_ROW(502, "Bad Gateway"),
	HS_ROW(503, "Service Temporarily Unavailable"),
	HS_ROW(504, "Gateway Time-out"),
	HS_ROW(505, "HTTP Version Not Supported"),
};

#define HS_ROWS (sizeof rows / sizeof rows[0])

/* The row of code (see http_status.h). */
const struct http_status *
http_status_get(int code)
{
	for (size_t i = 0; i < HS_ROWS; i++) {
		if (rows[i].code == code)
			return &rows[i];
	}
	return http_status_get(500); /* in the table: test_http_status checks it */
}
