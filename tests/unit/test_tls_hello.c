/*
 * Unit test for proto/tls_hello.rl. Every vector in tests/vectors/tls_hello/ (captured from
 * real clients, or written by gen_synthetic.py) is checked against its line in
 * expected-captured.txt / expected-synthetic.txt: fed whole, one byte at a time, split at
 * every offset, and (for good hellos) re-framed into records of many sizes; every way must
 * give the same verdict and the same results. It must never decide an expectation from the
 * parser's own output: a vector without an expected line is a failure.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/rd.h"
#include "proto/tls_hello.h"

#define VEC_DIR SY_SOURCE_DIR "/tests/vectors/tls_hello"
#define VEC_MAX (1u << 20)
#define LIST_MAX 4096
#define REFRAME_SPLIT_MAX 6000	/* re-framed copies longer than this skip the splits */

/* One vector's expected outcome, read from an expected-*.txt line. */
struct expect {
	char		 file[128];
	enum tls_hello_verdict verdict;
	enum tls_hello_malformed malformed;
	uint32_t	 max_hello;
	bool		 has_sni;
	char		 sni[1024];
	bool		 has_alpn;
	uint8_t		 alpn[LIST_MAX];	/* the ProtocolNameList the client sent */
	size_t		 alpn_len;
	uint16_t	 versions[256];
	size_t		 n_versions;
	uint16_t	 groups[LIST_MAX];
	size_t		 n_groups;
	bool		 ech;
	uint16_t	 record_version, legacy_version;
	uint32_t	 hello_end;
	size_t		 at;		/* 0: decision point not stated */
	bool		 seen;
};

#define EXPECT_MAX 200
static struct expect expects[EXPECT_MAX];
static size_t n_expects;

/* Finds the verdict whose string is s; VERDICT_COUNT when none. */
static enum tls_hello_verdict
verdict_from(const char *s)
{
	for (int v = 0; v < TLS_HELLO_VERDICT_COUNT; v++)
		if (strcmp(tls_hello_verdict_str((enum tls_hello_verdict)v), s) == 0)
			return (enum tls_hello_verdict)v;
	return TLS_HELLO_VERDICT_COUNT;
}

/* Finds the malformed reason whose string is s; TLS_MAL_COUNT when none. */
static enum tls_hello_malformed
malformed_from(const char *s)
{
	for (int m = 0; m < TLS_MAL_COUNT; m++)
		if (strcmp(tls_hello_malformed_str((enum tls_hello_malformed)m), s) == 0)
			return (enum tls_hello_malformed)m;
	return TLS_MAL_COUNT;
}

/* Parses "0304,0303" into out; "-" is the empty list. Returns the count. */
static size_t
hex_list(const char *s, uint16_t *out, size_t max)
{
	size_t n = 0;

	if (strcmp(s, "-") == 0)
		return 0;
	while (*s != '\0' && n < max) {
		char *end;
		out[n++] = (uint16_t)strtoul(s, &end, 16);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Parses "h2,http/1.1" into a wire ProtocolNameList (without its u16 length). */
static size_t
alpn_list(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (*s != '\0') {
		const char *comma = strchr(s, ',');
		size_t l = comma ? (size_t)(comma - s) : strlen(s);
		if (n + 1 + l > max)
			break;
		out[n++] = (uint8_t)l;
		memcpy(out + n, s, l);
		n += l;
		s += l;
		if (*s == ',')
			s++;
	}
	return n;
}

/* Reads one expected file into expects[]; returns false when it cannot be read. */
static bool
load_expected(const char *name)
{
	char path[512], line[8192];
	snprintf(path, sizeof path, "%s/%s", VEC_DIR, name);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (n_expects >= EXPECT_MAX) {
			CHECKF(false, "too many expected lines");
			break;
		}
		struct expect *e = &expects[n_expects++];
		memset(e, 0, sizeof *e);
		e->verdict = TLS_HELLO_VERDICT_COUNT;
		for (char *save = NULL, *tok = strtok_r(line, " \n", &save); tok != NULL;
		    tok = strtok_r(NULL, " \n", &save)) {
			char *val = strchr(tok, '=');
			if (val == NULL)
				continue;
			*val++ = '\0';
			if (strcmp(tok, "file") == 0)
				snprintf(e->file, sizeof e->file, "%s", val);
			else if (strcmp(tok, "verdict") == 0)
				e->verdict = verdict_from(val);
			else if (strcmp(tok, "malformed") == 0)
				e->malformed = malformed_from(val);
			else if (strcmp(tok, "max") == 0)
				e->max_hello = (uint32_t)strtoul(val, NULL, 10);
			else if (strcmp(tok, "sni") == 0) {
				e->has_sni = strcmp(val, "-") != 0;
				snprintf(e->sni, sizeof e->sni, "%s", e->has_sni ? val : "");
			} else if (strcmp(tok, "alpn") == 0) {
				e->has_alpn = strcmp(val, "-") != 0;
				if (e->has_alpn)
					e->alpn_len = alpn_list(val, e->alpn, sizeof e->alpn);
			} else if (strcmp(tok, "versions") == 0)
				e->n_versions = hex_list(val, e->versions, 256);
			else if (strcmp(tok, "groups") == 0)
				e->n_groups = hex_list(val, e->groups, LIST_MAX);
			else if (strcmp(tok, "ech") == 0)
				e->ech = strcmp(val, "1") == 0;
			else if (strcmp(tok, "record_version") == 0)
				e->record_version = (uint16_t)strtoul(val, NULL, 16);
			else if (strcmp(tok, "legacy_version") == 0)
				e->legacy_version = (uint16_t)strtoul(val, NULL, 16);
			else if (strcmp(tok, "hello_end") == 0)
				e->hello_end = (uint32_t)strtoul(val, NULL, 10);
			else if (strcmp(tok, "at") == 0)
				e->at = strtoul(val, NULL, 10);
			else
				CHECKF(false, "%s: unknown key %s", name, tok);
		}
		CHECKF(e->file[0] != '\0' && e->verdict != TLS_HELLO_VERDICT_COUNT &&
		    e->malformed != TLS_MAL_COUNT, "%s: bad line for %s", name, e->file);
	}
	fclose(f);
	return true;
}

/* Checks h's results against e; what names the feeding mode in failure messages. */
static void
check_results(const struct tls_hello *h, enum tls_hello_verdict v, const struct expect *e,
    uint32_t hello_end, const char *what)
{
	CHECKF(v == e->verdict, "%s %s: verdict %s, want %s", e->file, what,
	    tls_hello_verdict_str(v), tls_hello_verdict_str(e->verdict));
	if (v != e->verdict)
		return;
	if (v == TLS_HELLO_ERR_MALFORMED)
		CHECKF(h->malformed == e->malformed, "%s %s: reason %s, want %s", e->file, what,
		    tls_hello_malformed_str(h->malformed), tls_hello_malformed_str(e->malformed));
	else
		CHECKF(h->malformed == TLS_MAL_NONE, "%s %s: reason set", e->file, what);
	if (v != TLS_HELLO_DONE)
		return;

	/* SNI: the true length, and the first SNI_MAX bytes. */
	size_t sl = strlen(e->sni);
	CHECKF(h->has_sni == e->has_sni, "%s %s: has_sni", e->file, what);
	CHECKF(h->sni_len == (e->has_sni ? sl : 0), "%s %s: sni_len %u want %zu", e->file, what,
	    h->sni_len, sl);
	size_t keep = sl < TLS_HELLO_SNI_MAX ? sl : TLS_HELLO_SNI_MAX;
	CHECKF(memcmp(h->sni, e->sni, keep) == 0, "%s %s: sni %.*s want %s", e->file, what,
	    (int)keep, (const char *)h->sni, e->sni);

	/* ALPN: the true list length, the raw copy, and the names that fit. */
	CHECKF(h->has_alpn == e->has_alpn, "%s %s: has_alpn", e->file, what);
	CHECKF(h->alpn_len == e->alpn_len, "%s %s: alpn_len %u want %zu", e->file, what,
	    h->alpn_len, e->alpn_len);
	keep = e->alpn_len < TLS_HELLO_ALPN_MAX ? e->alpn_len : TLS_HELLO_ALPN_MAX;
	CHECKF(memcmp(h->alpn, e->alpn, keep) == 0, "%s %s: alpn copy", e->file, what);
	size_t off = 0, eoff = 0, got = 0, want = 0;
	const uint8_t *name;
	size_t nlen;
	while (eoff < e->alpn_len && eoff + 1 + e->alpn[eoff] <= TLS_HELLO_ALPN_MAX) {
		want++;
		eoff += 1 + e->alpn[eoff];
	}
	eoff = 0;
	while (tls_hello_alpn_next(h, &off, &name, &nlen)) {
		CHECKF(got < want && nlen == e->alpn[eoff] &&
		    memcmp(name, e->alpn + eoff + 1, nlen) == 0, "%s %s: alpn name %zu", e->file,
		    what, got);
		eoff += 1 + e->alpn[eoff];
		got++;
		if (got > want)
			break;
	}
	CHECKF(got == want, "%s %s: %zu alpn names, want %zu", e->file, what, got, want);

	CHECKF(h->versions_total == e->n_versions, "%s %s: versions_total %u want %zu",
	    e->file, what, h->versions_total, e->n_versions);
	keep = e->n_versions < TLS_HELLO_VERSIONS_MAX ? e->n_versions : TLS_HELLO_VERSIONS_MAX;
	CHECKF(h->n_versions == keep, "%s %s: n_versions", e->file, what);
	for (size_t i = 0; i < keep && i < h->n_versions; i++)
		CHECKF(h->versions[i] == e->versions[i], "%s %s: versions[%zu] %04x", e->file,
		    what, i, h->versions[i]);

	CHECKF(h->groups_total == e->n_groups, "%s %s: groups_total %u want %zu", e->file,
	    what, h->groups_total, e->n_groups);
	keep = e->n_groups < TLS_HELLO_GROUPS_MAX ? e->n_groups : TLS_HELLO_GROUPS_MAX;
	CHECKF(h->n_groups == keep, "%s %s: n_groups", e->file, what);
	for (size_t i = 0; i < keep && i < h->n_groups; i++)
		CHECKF(h->groups[i] == e->groups[i], "%s %s: groups[%zu] %04x", e->file, what, i,
		    h->groups[i]);

	CHECKF(h->has_ech == e->ech, "%s %s: has_ech", e->file, what);
	CHECKF(h->record_version == e->record_version, "%s %s: record_version %04x", e->file,
	    what, h->record_version);
	CHECKF(h->legacy_version == e->legacy_version, "%s %s: legacy_version %04x", e->file,
	    what, h->legacy_version);
	CHECKF(h->hello_end == hello_end, "%s %s: hello_end %u want %u", e->file, what,
	    h->hello_end, hello_end);
}

/* The public results of two parses are byte-identical (init zeroes padding too). */
static bool
same_results(const struct tls_hello *a, const struct tls_hello *b)
{
	return memcmp(a, b, offsetof(struct tls_hello, st)) == 0;
}

/* Feeds data in chunks cut at cuts[0..ncuts) (ascending), then the rest. */
static enum tls_hello_verdict
feed_cuts(struct tls_hello *h, uint32_t max, const uint8_t *data, size_t len, const size_t *cuts,
    size_t ncuts)
{
	enum tls_hello_verdict v = TLS_HELLO_MORE;
	size_t at = 0;

	tls_hello_init(h, max);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		v = tls_hello_feed(h, data + at, to - at);
		at = to;
	}
	return v;
}

/* Runs every feeding mode over one vector and checks each against e; splits false
 * leaves out the every-offset and three-chunk splits (for large re-framed copies). */
static void
check_vector(const struct expect *e, const uint8_t *data, size_t len, uint32_t hello_end,
    const char *label, bool splits)
{
	static struct tls_hello whole, h;
	char what[96];

	snprintf(what, sizeof what, "%s whole", label);
	enum tls_hello_verdict v = feed_cuts(&whole, e->max_hello, data, len, NULL, 0);
	check_results(&whole, v, e, hello_end, what);

	/* One byte at a time: the verdict must arrive after exactly `at` bytes when stated,
	 * and stay (sticky) for every byte after it. */
	tls_hello_init(&h, e->max_hello);
	size_t decided = 0;
	enum tls_hello_verdict bv = TLS_HELLO_MORE;
	for (size_t i = 0; i < len; i++) {
		enum tls_hello_verdict b = tls_hello_feed(&h, data + i, 1);
		if (decided == 0 && b != TLS_HELLO_MORE) {
			decided = i + 1;
			bv = b;
		} else if (decided != 0) {
			CHECKF(b == bv, "%s %s: verdict not sticky at %zu", e->file, label, i);
		}
	}
	if (decided == 0)
		bv = TLS_HELLO_MORE;
	snprintf(what, sizeof what, "%s bytewise", label);
	check_results(&h, bv, e, hello_end, what);
	CHECKF(same_results(&h, &whole), "%s %s: bytewise results differ", e->file, label);
	if (e->at != 0 && hello_end == e->hello_end)
		CHECKF(decided == e->at, "%s %s: decided after %zu bytes, want %zu", e->file,
		    label, decided, e->at);

	if (!splits)
		return;

	/* Every split into two chunks. */
	size_t bad = 0;
	for (size_t cut = 0; cut <= len; cut++) {
		v = feed_cuts(&h, e->max_hello, data, len, &cut, 1);
		if (v != whole.st.verdict || !same_results(&h, &whole)) {
			if (bad++ == 0)
				CHECKF(false, "%s %s: split at %zu differs", e->file, label, cut);
		}
	}
	CHECK(bad == 0);

	/* Three chunks at a few strides (cheap coverage of cuts inside both records). */
	for (size_t a = 1; a < len; a += 1 + len / 16) {
		for (size_t b = a; b < len; b += 7) {
			size_t cuts[2] = { a, b };
			v = feed_cuts(&h, e->max_hello, data, len, cuts, 2);
			if (v != whole.st.verdict || !same_results(&h, &whole)) {
				if (bad++ == 0)
					CHECKF(false, "%s %s: cuts %zu,%zu differ", e->file, label, a,
					    b);
			}
		}
	}
	CHECK(bad == 0);
}

/* Pulls the handshake stream out of well-formed records; returns the message length. */
static size_t
extract_message(const uint8_t *data, size_t len, uint8_t *msg, size_t max)
{
	size_t n = 0, i = 0;

	while (i + 5 <= len && data[i] == 22) {
		size_t rl = rd_u16be(data + i + 3);
		if (i + 5 + rl > len || n + rl > max)
			return 0;
		memcpy(msg + n, data + i + 5, rl);
		n += rl;
		i += 5 + rl;
		if (n >= 4 && n >= 4 + rd_u24be(msg + 1))
			return 4 + rd_u24be(msg + 1);
	}
	return 0;
}

/* Frames msg into handshake records of at most rsize payload bytes. */
static size_t
reframe(const uint8_t *msg, size_t mlen, size_t rsize, uint16_t version, uint8_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < mlen; i += rsize) {
		size_t l = mlen - i < rsize ? mlen - i : rsize;
		out[n] = 22;
		wr_u16be(out + n + 1, version);
		wr_u16be(out + n + 3, (uint16_t)l);
		memcpy(out + n + 5, msg + i, l);
		n += 5 + l;
	}
	return n;
}

/* A good hello re-framed into records of several sizes parses to the same results. */
static void
check_reframed(const struct expect *e, const uint8_t *data, size_t len)
{
	static uint8_t msg[VEC_MAX], out[VEC_MAX * 6];
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 33, 100, 512, 4096 };
	size_t mlen = extract_message(data, len, msg, sizeof msg);

	CHECKF(mlen > 0, "%s: cannot extract the message", e->file);
	if (mlen == 0)
		return;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		char label[32];
		size_t olen = reframe(msg, mlen, sizes[k], e->record_version, out);
		snprintf(label, sizeof label, "records of %zu", sizes[k]);
		/* Splitting every offset of a re-framed 16 KiB hello is quadratic: the stored
		 * framing of those is split at every offset already. */
		check_vector(e, out, olen, (uint32_t)olen, label, olen <= REFRAME_SPLIT_MAX);
	}
}

/* Loads one vector file; returns its length, or (size_t)-1 when it cannot be read. */
static size_t
load_file(const char *name, uint8_t *buf, size_t max)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", VEC_DIR, name);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return (size_t)-1;
	size_t n = fread(buf, 1, max, f);
	fclose(f);
	return n;
}

/* Checks every .bin in the vector directory against its expected line. */
static void
test_vectors(void)
{
	static uint8_t data[VEC_MAX];
	size_t files = 0;

	CHECKF(load_expected("expected-synthetic.txt"), "expected-synthetic.txt missing");
	CHECKF(load_expected("expected-captured.txt"), "expected-captured.txt missing");
	DIR *d = opendir(VEC_DIR);
	CHECKF(d != NULL, "cannot open %s", VEC_DIR);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".bin") != 0)
			continue;
		struct expect *e = NULL;
		for (size_t i = 0; i < n_expects; i++)
			if (strcmp(expects[i].file, de->d_name) == 0)
				e = &expects[i];
		CHECKF(e != NULL, "%s has no expected line", de->d_name);
		if (e == NULL)
			continue;
		e->seen = true;
		size_t len = load_file(de->d_name, data, sizeof data);
		CHECKF(len != (size_t)-1, "cannot read %s", de->d_name);
		if (len == (size_t)-1)
			continue;
		files++;
		check_vector(e, data, len, e->hello_end, "as stored", true);
		if (e->verdict == TLS_HELLO_DONE)
			check_reframed(e, data, len);
	}
	closedir(d);
	for (size_t i = 0; i < n_expects; i++)
		CHECKF(expects[i].seen, "%s: expected but no such file", expects[i].file);
	printf("checked %zu vector files\n", files);
	CHECK(files >= 60);
}

/* The string tables are complete, stable and lowercase. */
static void
test_strings(void)
{
	CHECK(strcmp(tls_hello_verdict_str(TLS_HELLO_DONE), "done") == 0);
	CHECK(strcmp(tls_hello_verdict_str(TLS_HELLO_MORE), "more") == 0);
	CHECK(strcmp(tls_hello_verdict_str(TLS_HELLO_ERR_NOT_TLS), "not_tls") == 0);
	CHECK(strcmp(tls_hello_verdict_str(TLS_HELLO_ERR_SSLV2), "sslv2") == 0);
	CHECK(strcmp(tls_hello_verdict_str(TLS_HELLO_ERR_TOO_LARGE), "too_large") == 0);
	CHECK(strcmp(tls_hello_verdict_str(TLS_HELLO_ERR_MALFORMED), "malformed") == 0);
	CHECK(strcmp(tls_hello_verdict_str(TLS_HELLO_VERDICT_COUNT), "unknown") == 0);
	for (int m = 0; m < TLS_MAL_COUNT; m++) {
		const char *s = tls_hello_malformed_str((enum tls_hello_malformed)m);
		CHECKF(s != NULL && strcmp(s, "unknown") != 0, "reason %d has no name", m);
		for (const char *c = s; c && *c; c++)
			CHECKF((*c >= 'a' && *c <= 'z') || *c == '_', "reason %s", s);
	}
	CHECK(strcmp(tls_hello_malformed_str(TLS_MAL_BAD_SNI), "bad_sni") == 0);
	CHECK(strcmp(tls_hello_malformed_str(TLS_MAL_COUNT), "unknown") == 0);
}

/* Empty feeds, sticky verdicts, and the max_hello clamp. */
static void
test_api(void)
{
	static struct tls_hello h;
	static const uint8_t get[] = "GET / HTTP/1.1\r\n";

	tls_hello_init(&h, 0);
	CHECK(tls_hello_feed(&h, get, 0) == TLS_HELLO_MORE);
	CHECK(tls_hello_feed(&h, NULL, 0) == TLS_HELLO_MORE);
	CHECK(tls_hello_feed(&h, get, 1) == TLS_HELLO_ERR_NOT_TLS);
	/* Sticky: a valid record start afterwards changes nothing. */
	static const uint8_t rec[] = { 0x16, 0x03, 0x01 };
	CHECK(tls_hello_feed(&h, rec, sizeof rec) == TLS_HELLO_ERR_NOT_TLS);
	CHECK(h.st.max_hello == TLS_HELLO_MAX_DEFAULT);

	tls_hello_init(&h, 0xffffffffu);
	CHECK(h.st.max_hello == TLS_HELLO_MAX_LIMIT);
	tls_hello_init(&h, TLS_HELLO_MAX_LIMIT);
	CHECK(h.st.max_hello == TLS_HELLO_MAX_LIMIT);
	tls_hello_init(&h, TLS_HELLO_MAX_LIMIT + 1);
	CHECK(h.st.max_hello == TLS_HELLO_MAX_LIMIT);
	tls_hello_init(&h, 100);
	CHECK(h.st.max_hello == 100);

	/* alpn_next without ALPN. */
	size_t off = 0;
	const uint8_t *name;
	size_t len;
	tls_hello_init(&h, 0);
	CHECK(!tls_hello_alpn_next(&h, &off, &name, &len));

	/* Every prefix of a record header is MORE. */
	static const uint8_t hdr[] = { 0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c };
	tls_hello_init(&h, 0);
	for (size_t i = 0; i < sizeof hdr; i++)
		CHECKF(tls_hello_feed(&h, hdr + i, 1) == TLS_HELLO_MORE, "header byte %zu", i);

	printf("sizeof(struct tls_hello) = %zu\n", sizeof(struct tls_hello));
	CHECK(sizeof(struct tls_hello) < 800);
}

int
main(void)
{
	test_strings();
	test_api();
	test_vectors();
	return check_summary();
}
