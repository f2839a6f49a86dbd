/*
 * Unit test of proto/http_status: every row's status line and page for the statuses
 * switchyard answers itself (the words are nginx's; tests/integration/errors.sh compares
 * them with a running nginx), the 431 row answered as nginx's 400, unknown codes as 500.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "proto/http_status.h"

/* The ordinary page for text, as nginx prints it. */
static void
page(char *out, size_t cap, const char *text)
{
	snprintf(out, cap, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
	    "<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
	    "</html>\r\n", text, text);
}

int
main(void)
{
	static const struct {
		int code;
		const char *line;
	} v[] = {
		{ 301, "301 Moved Permanently" },
		{ 400, "400 Bad Request" },
		{ 403, "403 Forbidden" },
		{ 404, "404 Not Found" },
		{ 405, "405 Not Allowed" },
		{ 408, "408 Request Time-out" },
		{ 413, "413 Request Entity Too Large" },
		{ 414, "414 Request-URI Too Large" },
		{ 416, "416 Requested Range Not Satisfiable" },
		{ 421, "421 Misdirected Request" },
		{ 500, "500 Internal Server Error" },
		{ 501, "501 Not Implemented" },
		{ 502, "502 Bad Gateway" },
		{ 503, "503 Service Temporarily Unavailable" },
		{ 504, "504 Gateway Time-out" },
		{ 505, "505 HTTP Version Not Supported" },
	};
	char want[512];
	const struct http_status *s;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		s = http_status_get(v[i].code);
		CHECKF(s->code == v[i].code && s->wire == v[i].code, "%d", v[i].code);
		CHECKF(strcmp(s->line, v[i].line) == 0, "%d: %s", v[i].code, s->line);
		page(want, sizeof want, v[i].line);
		CHECKF(s->page != NULL && s->page_len == strlen(want) &&
		    memcmp(s->page, want, s->page_len) == 0, "%d page", v[i].code);
	}
	/* Bodiless statuses. */
	CHECK(http_status_get(200)->page == NULL && strcmp(http_status_get(200)->line, "200 OK") == 0);
	CHECK(http_status_get(206)->page == NULL && http_status_get(206)->wire == 206);
	CHECK(http_status_get(304)->page == NULL && strcmp(http_status_get(304)->line, "304 Not Modified") == 0);
	/* A head too large: nginx's 400 with its own page (150 + 76 bytes, as nginx sends). */
	s = http_status_get(431);
	CHECK(s->code == 431 && s->wire == 400 && strcmp(s->line, "400 Bad Request") == 0);
	CHECK(s->page_len == 226 && s->page_len == strlen(s->page));
	CHECK(strcmp(s->page, "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title>"
	    "</head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request "
	    "Header Or Cookie Too Large</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
	    "</html>\r\n") == 0);
	/* The lengths nginx prints in Content-Length for a few pages. */
	CHECK(http_status_get(400)->page_len == 150);
	CHECK(http_status_get(404)->page_len == 146);
	CHECK(http_status_get(413)->page_len == 176);
	CHECK(http_status_get(414)->page_len == 170);
	/* Unknown codes (and nonsense) are 500. */
	CHECK(http_status_get(599)->code == 500);
	CHECK(http_status_get(0)->code == 500);
	CHECK(http_status_get(-1)->wire == 500);
	return check_summary();
}
