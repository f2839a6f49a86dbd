/*
 * The full tunnel's address pool (see vlease.h). A flat table indexed by address: the pool
 * is at most a /16, so a linear search by key at session start is cheap next to the
 * handshake's X3DH, and the address of a packet finds its entry in O(1).
 */
#include "terminator/vpn/vlease.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sets up the pool (see vlease.h). */
int
vlease_init(struct vlease_pool *p, uint32_t gw, unsigned prefix)
{
	memset(p, 0, sizeof *p);
	if (prefix < 1 || prefix > 30)
		return -1;
	uint32_t hostmask = UINT32_MAX >> prefix;
	p->net = gw & ~hostmask;
	p->gw = gw;
	if (hostmask < VLEASE_FIRST + 1)
		return -1;
	p->n = hostmask - VLEASE_FIRST; /* net+3 .. broadcast-1 */
	p->ents = calloc(p->n, sizeof *p->ents);
	return p->ents == NULL ? -1 : 0;
}

/* Frees the table. */
void
vlease_free(struct vlease_pool *p)
{
	free(p->ents);
	p->ents = NULL;
	p->n = 0;
}

/* Index of addr, or -1 when it is not a pool address. */
static long
vlease_index(const struct vlease_pool *p, uint32_t addr)
{
	if (addr < p->net + VLEASE_FIRST || addr - p->net - VLEASE_FIRST >= p->n || addr == p->gw)
		return -1;
	return (long)(addr - p->net - VLEASE_FIRST);
}

/* The address of index i. */
static uint32_t
vlease_addr(const struct vlease_pool *p, uint32_t i)
{
	return p->net + VLEASE_FIRST + i;
}

/* Takes an address for key (see vlease.h). */
uint32_t
vlease_take(struct vlease_pool *p, const uint8_t key[32], bool *changed)
{
	*changed = false;
	long fresh = -1, old = -1;
	for (uint32_t i = 0; i < p->n; i++) {
		struct vlease_ent *e = &p->ents[i];
		if (vlease_addr(p, i) == p->gw)
			continue;
		if (e->used && memcmp(e->key, key, 32) == 0) {
			e->live++;
			e->stamp = ++p->clock;
			return vlease_addr(p, i);
		}
		if (!e->used && fresh == -1)
			fresh = (long)i;
		if (e->used && e->live == 0 && (old == -1 || e->stamp < p->ents[old].stamp))
			old = (long)i;
	}
	long i = fresh != -1 ? fresh : old;
	if (i == -1)
		return 0;
	struct vlease_ent *e = &p->ents[i];
	e->used = true;
	e->live = 1;
	e->stamp = ++p->clock;
	memcpy(e->key, key, 32);
	*changed = true;
	return vlease_addr(p, (uint32_t)i);
}

/* A session on addr ended (see vlease.h). */
void
vlease_give(struct vlease_pool *p, uint32_t addr)
{
	long i = vlease_index(p, addr);
	if (i != -1 && p->ents[i].live > 0)
		p->ents[i].live--;
}

/* True when a live session holds addr. */
bool
vlease_live(const struct vlease_pool *p, uint32_t addr)
{
	long i = vlease_index(p, addr);
	return i != -1 && p->ents[i].used && p->ents[i].live > 0;
}

/* Writes the file format (see vlease.h). */
long
vlease_format(const struct vlease_pool *p, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		const struct vlease_ent *e = &p->ents[i];
		if (!e->used)
			continue;
		char line[VLEASE_LINE_MAX + 1];
		memcpy(line, "ik:", 3);
		for (int k = 0; k < 32; k++) {
			line[3 + 2 * k] = hex[e->key[k] >> 4];
			line[4 + 2 * k] = hex[e->key[k] & 15];
		}
		uint32_t a = vlease_addr(p, i);
		int l = snprintf(line + 67, sizeof line - 67, " %u.%u.%u.%u\n", a >> 24,
		    (a >> 16) & 255, (a >> 8) & 255, a & 255);
		if (l < 0 || n + 67 + (size_t)l > cap)
			return -1;
		memcpy(out + n, line, 67 + (size_t)l);
		n += 67 + (size_t)l;
	}
	return (long)n;
}

/* One hex digit, or -1. */
static int
vlease_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A dotted IPv4 address that is exactly s[0..len). 0, or -1. */
static int
vlease_ipv4(const char *s, size_t len, uint32_t *out)
{
	uint32_t a = 0;
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 3) {
			v = v * 10 + (unsigned)(s[i++] - '0');
			digits++;
		}
		if (digits == 0 || v > 255)
			return -1;
		a = a << 8 | v;
		if (part < 3 && (i >= len || s[i++] != '.'))
			return -1;
	}
	if (i != len)
		return -1;
	*out = a;
	return 0;
}

/* Reads the file format (see vlease.h). */
long
vlease_parse(struct vlease_pool *p, const char *text, size_t len)
{
	long count = 0;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		if (nl == NULL)
			goto bad; /* the last line is cut: a torn write the rename should prevent */
		size_t ll = (size_t)(nl - (text + pos));
		const char *l = text + pos;
		pos += ll + 1;
		uint8_t key[32];
		uint32_t a;
		if (ll < 68 || memcmp(l, "ik:", 3) != 0 || l[67] != ' ')
			goto bad;
		for (int k = 0; k < 32; k++) {
			int hi = vlease_hex(l[3 + 2 * k]), lo = vlease_hex(l[4 + 2 * k]);
			if (hi < 0 || lo < 0)
				goto bad;
			key[k] = (uint8_t)(hi << 4 | lo);
		}
		if (vlease_ipv4(l + 68, ll - 68, &a) == -1)
			goto bad;
		long i = vlease_index(p, a);
		if (i == -1)
			continue; /* outside this pool: the prefix changed */
		if (p->ents[i].used)
			goto bad;
		for (uint32_t j = 0; j < p->n; j++)
			if (p->ents[j].used && memcmp(p->ents[j].key, key, 32) == 0)
				goto bad;
		p->ents[i].used = true;
		p->ents[i].stamp = ++p->clock;
		memcpy(p->ents[i].key, key, 32);
		count++;
	}
	return count;
bad:
	memset(p->ents, 0, p->n * sizeof *p->ents);
	return -1;
}

/* Saves atomically (see vlease.h). */
int
vlease_save(const struct vlease_pool *p, const char *dir, char *err, size_t cap)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t room = (size_t)p->n * VLEASE_LINE_MAX + 1;
	char *buf = malloc(room);
	int fd = -1, rc = -1;
	if (buf == NULL) {
		snprintf(err, cap, "out of memory");
		return -1;
	}
	long n = vlease_format(p, buf, room);
	if (n < 0 || snprintf(path, sizeof path, "%s/%s", dir, VLEASE_FILE) >= (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, VLEASE_FILE) >= (int)sizeof tmp) {
		snprintf(err, cap, "%s: path too long", dir);
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, cap, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	for (long off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, (size_t)(n - off));
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			snprintf(err, cap, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		off += w;
	}
	if (fsync(fd) == -1) {
		snprintf(err, cap, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, cap, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	free(buf);
	return rc;
}

/* Loads (see vlease.h). */
long
vlease_load(struct vlease_pool *p, const char *dir, char *err, size_t cap)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, VLEASE_FILE) >= (int)sizeof path) {
		snprintf(err, cap, "%s: path too long", dir);
		return -1;
	}
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t room = (size_t)p->n * VLEASE_LINE_MAX + 1;
	char *buf = malloc(room);
	long rc = -1;
	if (buf == NULL) {
		snprintf(err, cap, "out of memory");
		goto out;
	}
	size_t n = fread(buf, 1, room, f);
	if (ferror(f) || n == room) {
		snprintf(err, cap, "%s: %s", path, ferror(f) ? "read error" : "too large for the pool");
		goto out;
	}
	if ((rc = vlease_parse(p, buf, n)) == -1)
		snprintf(err, cap, "%s: malformed lease file", path);
out:
	free(buf);
	fclose(f);
	return rc;
}
