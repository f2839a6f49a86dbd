/*
 * The bounded JSON cursor and writer of rvpn_json.h, written from RFC 8259. Strictness
 * that matters here: strings must be valid UTF-8 without raw control bytes (as serde_json
 * demands), integers for our fields are plain decimal without sign, fraction or exponent,
 * and nesting is capped so a hostile Hello cannot recurse deeply. Unknown values are
 * checked for well-formedness while being skipped. Never allocates; never reads past len.
 */
#include "proto/rvpn/rvpn_json.h"

#include <string.h>

/* Skips JSON whitespace (space, tab, CR, LF). */
static void
json_ws(struct rvpn_json *j)
{
	while (j->off < j->len) {
		uint8_t c = j->p[j->off];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
		j->off++;
	}
}

/* After whitespace, consumes c if it is next; returns whether it did. */
static bool
json_eat(struct rvpn_json *j, uint8_t c)
{
	json_ws(j);
	if (j->off < j->len && j->p[j->off] == c) {
		j->off++;
		return true;
	}
	return false;
}

/* Starts reading buf. */
void
rvpn_json_init(struct rvpn_json *j, const uint8_t *buf, size_t len)
{
	j->p = buf;
	j->len = len;
	j->off = 0;
	j->depth = 0;
}

/* Opens a container of kind c ('{' or '['), counting depth. */
static int
json_open(struct rvpn_json *j, uint8_t c)
{
	if (j->depth >= RVPN_JSON_MAX_DEPTH || !json_eat(j, c))
		return -1;
	j->depth++;
	return 0;
}

/* Consumes '{'. */
int
rvpn_json_obj_begin(struct rvpn_json *j)
{
	return json_open(j, '{');
}

/* Consumes '['. */
int
rvpn_json_arr_begin(struct rvpn_json *j)
{
	return json_open(j, '[');
}

/* Next array element; see rvpn_json.h. "[1,]" fails when the caller reads the element. */
int
rvpn_json_arr_next(struct rvpn_json *j, bool *first)
{
	if (json_eat(j, ']')) {
		j->depth--;
		return 0;
	}
	if (!*first && !json_eat(j, ','))
		return -1;
	*first = false;
	json_ws(j);
	return j->off < j->len ? 1 : -1;
}

/* Length of the UTF-8 sequence starting at p[0 .. n), or 0 when it is invalid. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t k;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

/* See rvpn_json.h. */
bool
rvpn_utf8_valid(const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t k = utf8_seq(p + off, len - off);
		if (k == 0)
			return false;
		off += k;
	}
	return true;
}

/* Value of one hex digit, or -1. */
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

/* Reads 4 hex digits at j->off into *v. */
static int
json_hex4(struct rvpn_json *j, uint32_t *v)
{
	if (j->len - j->off < 4)
		return -1;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(j->p[j->off + (size_t)i]);
		if (h < 0)
			return -1;
		*v = *v << 4 | (uint32_t)h;
	}
	j->off += 4;
	return 0;
}

/* Stores one decoded byte if it fits; counts it regardless. */
static void
json_put(uint8_t *buf, size_t cap, size_t *n, uint8_t c)
{
	if (buf != NULL && *n < cap)
		buf[*n] = c;
	(*n)++;
}

/* Encodes code point cp as UTF-8 through json_put. */
static void
json_put_cp(uint8_t *buf, size_t cap, size_t *n, uint32_t cp)
{
	if (cp < 0x80) {
		json_put(buf, cap, n, (uint8_t)cp);
	} else if (cp < 0x800) {
		json_put(buf, cap, n, (uint8_t)(0xc0 | cp >> 6));
		json_put(buf, cap, n, (uint8_t)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		json_put(buf, cap, n, (uint8_t)(0xe0 | cp >> 12));
		json_put(buf, cap, n, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
		json_put(buf, cap, n, (uint8_t)(0x80 | (cp & 0x3f)));
	} else {
		json_put(buf, cap, n, (uint8_t)(0xf0 | cp >> 18));
		json_put(buf, cap, n, (uint8_t)(0x80 | (cp >> 12 & 0x3f)));
		json_put(buf, cap, n, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
		json_put(buf, cap, n, (uint8_t)(0x80 | (cp & 0x3f)));
	}
}

/* Decodes one escape after the backslash. */
static int
json_escape(struct rvpn_json *j, uint8_t *buf, size_t cap, size_t *n)
{
	uint32_t cp, lo;

	if (j->off >= j->len)
		return -1;
	uint8_t c = j->p[j->off++];
	switch (c) {
	case '"': case '\\': case '/':
		json_put(buf, cap, n, c);
		return 0;
	case 'b': json_put(buf, cap, n, '\b'); return 0;
	case 'f': json_put(buf, cap, n, '\f'); return 0;
	case 'n': json_put(buf, cap, n, '\n'); return 0;
	case 'r': json_put(buf, cap, n, '\r'); return 0;
	case 't': json_put(buf, cap, n, '\t'); return 0;
	case 'u':
		break;
	default:
		return -1;
	}
	if (json_hex4(j, &cp) != 0)
		return -1;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -1; /* a lone low surrogate */
	if (cp >= 0xd800 && cp <= 0xdbff) {
		/* A high surrogate must be followed by \u and a low one (serde_json agrees). */
		if (j->len - j->off < 2 || j->p[j->off] != '\\' || j->p[j->off + 1] != 'u')
			return -1;
		j->off += 2;
		if (json_hex4(j, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return -1;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	json_put_cp(buf, cap, n, cp);
	return 0;
}

/* Reads a string, decoding into buf[0 .. cap) (buf may be NULL); *n gets the full length. */
static int
json_string_any(struct rvpn_json *j, uint8_t *buf, size_t cap, size_t *n)
{
	*n = 0;
	if (!json_eat(j, '"'))
		return -1;
	while (j->off < j->len) {
		uint8_t c = j->p[j->off];
		if (c == '"') {
			j->off++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			j->off++;
			if (json_escape(j, buf, cap, n) != 0)
				return -1;
			continue;
		}
		size_t k = utf8_seq(j->p + j->off, j->len - j->off);
		if (k == 0)
			return -1;
		for (size_t i = 0; i < k; i++)
			json_put(buf, cap, n, j->p[j->off + i]);
		j->off += k;
	}
	return -1;
}

/* See rvpn_json.h. */
int
rvpn_json_string(struct rvpn_json *j, uint8_t *buf, size_t cap, size_t *len)
{
	if (json_string_any(j, buf, cap, len) != 0 || *len > cap)
		return -1;
	return 0;
}

/* See rvpn_json.h. */
int
rvpn_json_obj_next(struct rvpn_json *j, bool *first, char key[RVPN_JSON_MAX_KEY + 1],
    size_t *klen)
{
	int r;

	if (json_eat(j, '}')) {
		j->depth--;
		return 0;
	}
	if (!*first && !json_eat(j, ','))
		return -1;
	*first = false;
	r = json_string_any(j, (uint8_t *)key, RVPN_JSON_MAX_KEY, klen);
	if (r != 0)
		return -1;
	key[*klen < RVPN_JSON_MAX_KEY ? *klen : RVPN_JSON_MAX_KEY] = '\0';
	if (!json_eat(j, ':'))
		return -1;
	json_ws(j);
	return 1;
}

/* True when c may continue a number literal (refused right after an integer). */
static bool
num_cont(uint8_t c)
{
	return c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9') || c == '-' || c == '+';
}

/* See rvpn_json.h. */
int
rvpn_json_uint(struct rvpn_json *j, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	json_ws(j);
	if (j->off >= j->len || j->p[j->off] < '0' || j->p[j->off] > '9')
		return -1;
	if (j->p[j->off] == '0') {
		j->off++;
	} else {
		while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') {
			uint64_t d = (uint64_t)(j->p[j->off] - '0');
			if (x > (max - d) / 10)
				return -1;
			x = x * 10 + d;
			j->off++;
		}
	}
	if (j->off < j->len && num_cont(j->p[j->off]))
		return -1; /* 01, 1.0, 1e3: not an integer of ours */
	*v = x;
	return 0;
}

/* Consumes the literal word w if it is next. */
static bool
json_word(struct rvpn_json *j, const char *w)
{
	size_t n = strlen(w);

	json_ws(j);
	if (j->len - j->off < n || memcmp(j->p + j->off, w, n) != 0)
		return false;
	j->off += n;
	return true;
}

/* See rvpn_json.h. */
int
rvpn_json_bool(struct rvpn_json *j, bool *v)
{
	if (json_word(j, "true")) {
		*v = true;
		return 0;
	}
	if (json_word(j, "false")) {
		*v = false;
		return 0;
	}
	return -1;
}

/* See rvpn_json.h. */
int
rvpn_json_null(struct rvpn_json *j)
{
	return json_word(j, "null") ? 1 : 0;
}

/* See rvpn_json.h. */
int
rvpn_json_bytes(struct rvpn_json *j, uint8_t *out, size_t cap, size_t *n)
{
	bool first = true;
	uint64_t v;
	int r;

	*n = 0;
	if (rvpn_json_arr_begin(j) != 0)
		return -1;
	while ((r = rvpn_json_arr_next(j, &first)) == 1) {
		if (*n >= cap || rvpn_json_uint(j, 255, &v) != 0)
			return -1;
		out[(*n)++] = (uint8_t)v;
	}
	return r;
}

/* Skips a number literal (RFC 8259 §6 grammar). */
static int
json_skip_number(struct rvpn_json *j)
{
	size_t d;

	if (j->off < j->len && j->p[j->off] == '-')
		j->off++;
	if (j->off >= j->len)
		return -1;
	if (j->p[j->off] == '0') {
		j->off++;
	} else {
		for (d = 0; j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9'; d++)
			j->off++;
		if (d == 0)
			return -1;
	}
	if (j->off < j->len && j->p[j->off] == '.') {
		j->off++;
		for (d = 0; j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9'; d++)
			j->off++;
		if (d == 0)
			return -1;
	}
	if (j->off < j->len && (j->p[j->off] == 'e' || j->p[j->off] == 'E')) {
		j->off++;
		if (j->off < j->len && (j->p[j->off] == '+' || j->p[j->off] == '-'))
			j->off++;
		for (d = 0; j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9'; d++)
			j->off++;
		if (d == 0)
			return -1;
	}
	return 0;
}

/* See rvpn_json.h. Recursion is bounded by RVPN_JSON_MAX_DEPTH through json_open. */
int
rvpn_json_skip(struct rvpn_json *j)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	bool first = true, b;
	size_t n;
	int r;

	json_ws(j);
	if (j->off >= j->len)
		return -1;
	switch (j->p[j->off]) {
	case '{':
		if (rvpn_json_obj_begin(j) != 0)
			return -1;
		while ((r = rvpn_json_obj_next(j, &first, key, &n)) == 1)
			if (rvpn_json_skip(j) != 0)
				return -1;
		return r;
	case '[':
		if (rvpn_json_arr_begin(j) != 0)
			return -1;
		while ((r = rvpn_json_arr_next(j, &first)) == 1)
			if (rvpn_json_skip(j) != 0)
				return -1;
		return r;
	case '"':
		return json_string_any(j, NULL, 0, &n);
	case 't': case 'f':
		return rvpn_json_bool(j, &b);
	case 'n':
		return rvpn_json_null(j) == 1 ? 0 : -1;
	default:
		return json_skip_number(j);
	}
}

/* See rvpn_json.h. */
int
rvpn_json_end(struct rvpn_json *j)
{
	json_ws(j);
	return j->off == j->len ? 0 : -1;
}

/* Starts a writer. */
void
rvpn_jw_init(struct rvpn_jw *w, char *out, size_t cap)
{
	w->out = out;
	w->cap = cap;
	w->len = 0;
}

/* Appends n raw bytes, counting past the end so the caller learns the size needed. */
void
rvpn_jw_raw(struct rvpn_jw *w, const char *s, size_t n)
{
	if (w->len < w->cap && n <= w->cap - w->len)
		memcpy(w->out + w->len, s, n);
	w->len += n;
	if (w->len < n) /* wrapped: impossible with our sizes, kept as overflow */
		w->len = SIZE_MAX;
}

/* Appends a literal. */
void
rvpn_jw_lit(struct rvpn_jw *w, const char *s)
{
	rvpn_jw_raw(w, s, strlen(s));
}

/* Appends an unsigned decimal. */
void
rvpn_jw_uint(struct rvpn_jw *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	rvpn_jw_raw(w, d + i, sizeof d - i);
}

/* Appends [b0,b1,...]. */
void
rvpn_jw_bytes(struct rvpn_jw *w, const uint8_t *p, size_t n)
{
	rvpn_jw_raw(w, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			rvpn_jw_raw(w, ",", 1);
		rvpn_jw_uint(w, p[i]);
	}
	rvpn_jw_raw(w, "]", 1);
}

/* Appends a quoted, escaped string (the caller passes valid UTF-8). */
void
rvpn_jw_str(struct rvpn_jw *w, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	rvpn_jw_raw(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		const char *e = NULL;
		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		default: break;
		}
		if (e != NULL) {
			rvpn_jw_lit(w, e);
		} else if (c < 0x20) {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			rvpn_jw_raw(w, u, sizeof u);
		} else {
			rvpn_jw_raw(w, (const char *)&c, 1);
		}
	}
	rvpn_jw_raw(w, "\"", 1);
}

/* See rvpn_json.h. */
int
rvpn_jw_done(struct rvpn_jw *w)
{
	if (w->cap == 0 || w->len >= w->cap || w->len > (size_t)INT32_MAX)
		return -1;
	w->out[w->len] = '\0';
	return (int)w->len;
}

/* See rvpn_json.h. */
bool
rvpn_json_key_is(const char *key, size_t klen, const char *name)
{
	return klen == strlen(name) && memcmp(key, name, klen) == 0;
}
