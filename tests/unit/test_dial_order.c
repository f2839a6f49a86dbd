/*
 * core/dial: dial_order, the race order of resolved addresses (RFC 8305 §4) that the VPN's
 * flows (terminator/vpn/vflow.c) and switchyard-client (client/race.c) both use: the first
 * address's family first, then the families alternate, each family in the resolver's
 * order; one family only, or fewer than three addresses, keep their order. It has no
 * limit of its own: more addresses than either caller keeps are ordered the same way.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/dial.h"

#define ORDER_MAX 10 /* addresses in one case: tags are single digits */

/* Address i: family by the letter spec[i] ('4' or '6'), and a tag i in its address. */
static unsigned
make(struct sockaddr_storage *a, const char *spec)
{
	unsigned n = (unsigned)strlen(spec);
	memset(a, 0, ORDER_MAX * sizeof *a);
	for (unsigned i = 0; i < n; i++) {
		if (spec[i] == '4') {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&a[i];
			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(0x7f000000u + i);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a[i];
			s6->sin6_family = AF_INET6;
			s6->sin6_addr.s6_addr[15] = (uint8_t)i;
		}
	}
	return n;
}

/* The tags of the addresses, in order, as a string of digits. */
static const char *
tags(const struct sockaddr_storage *a, unsigned n)
{
	static char out[ORDER_MAX + 1];
	for (unsigned i = 0; i < n; i++) {
		unsigned t = a[i].ss_family == AF_INET ?
		    ntohl(((const struct sockaddr_in *)&a[i])->sin_addr.s_addr) & 0xff :
		    ((const struct sockaddr_in6 *)&a[i])->sin6_addr.s6_addr[15];
		out[i] = (char)('0' + t);
	}
	out[n] = '\0';
	return out;
}

/* Orders spec and compares the tags with want. */
static void
order(const char *spec, const char *want)
{
	struct sockaddr_storage a[ORDER_MAX];
	unsigned n = make(a, spec);
	dial_order(a, n);
	CHECKF(strcmp(tags(a, n), want) == 0, "%s: got %s, want %s", spec, tags(a, n), want);
}

int
main(void)
{
	order("44", "01");
	order("46", "01");
	order("4466", "0213");
	order("6644", "0213");
	order("444666", "031425");
	order("46464", "01234"); /* already alternating */
	order("46644", "01324");
	order("64444", "01234");
	order("6444", "0123");
	order("4446", "0312");
	order("44444444", "01234567");
	order("66664444", "04152637");
	order("", "");
	order("6", "0");
	order("4444466666", "0516273849"); /* more than any caller keeps (8) */
	order("6666666664", "0912345678");
	return check_summary();
}
