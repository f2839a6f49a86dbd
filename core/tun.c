/*
 * The TUN device (see tun.h). Configuration goes through the classic interface ioctls on
 * an AF_INET datagram socket (SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFMTU, SIOCSIFFLAGS): the
 * kernel then adds the prefix route itself, so no netlink and no `ip` command are needed.
 */
#include "core/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TUN_DEV "/dev/net/tun"

/* True when the effective capability set holds CAP_NET_ADMIN. */
static int
tun_has_net_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) == -1)
		return -1;
	return (d[CAP_NET_ADMIN / 32].effective >> (CAP_NET_ADMIN % 32)) & 1u;
}

/* Checks what tun_open needs (see tun.h). */
int
tun_probe(char *err, size_t cap)
{
	int fd = open(TUN_DEV, O_RDWR | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, cap, "tun: cannot open %s: %s (the full tunnel needs the TUN driver)",
		    TUN_DEV, strerror(errno));
		return -1;
	}
	close(fd);
	if (tun_has_net_admin() != 1) {
		snprintf(err, cap, "tun: the process lacks CAP_NET_ADMIN (needed to create the TUN "
		    "device; run as root or grant the capability)");
		return -1;
	}
	return 0;
}

/* Fills an ifreq with an IPv4 address. */
static void
tun_sin(struct ifreq *r, uint32_t a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(a) };
	memcpy(&r->ifr_addr, &sin, sizeof sin);
}

/* Creates and configures the device (see tun.h). */
int
tun_open(const char *name, uint32_t addr, unsigned prefix, unsigned mtu, char *err, size_t cap)
{
	int s = -1;
	if (tun_probe(err, cap) == -1)
		return -1;
	int fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, cap, "tun: cannot open %s: %s", TUN_DEV, strerror(errno));
		return -1;
	}
	struct ifreq r;
	memset(&r, 0, sizeof r);
	r.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
	if (ioctl(fd, TUNSETIFF, &r) == -1) {
		snprintf(err, cap, "tun: cannot create device %s: %s%s", name, strerror(errno),
		    errno == EBUSY ? " (another process holds it)" :
		    errno == EPERM ? " (CAP_NET_ADMIN needed)" : "");
		goto fail;
	}
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, cap, "tun: socket: %s", strerror(errno));
		goto fail;
	}
	const char *step = "address";
	tun_sin(&r, addr);
	if (ioctl(s, SIOCSIFADDR, &r) == -1)
		goto fail_step;
	step = "netmask";
	tun_sin(&r, prefix == 0 ? 0 : UINT32_MAX << (32 - prefix));
	if (ioctl(s, SIOCSIFNETMASK, &r) == -1)
		goto fail_step;
	step = "mtu";
	r.ifr_mtu = (int)mtu;
	if (ioctl(s, SIOCSIFMTU, &r) == -1)
		goto fail_step;
	step = "flags";
	if (ioctl(s, SIOCGIFFLAGS, &r) == -1)
		goto fail_step;
	r.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &r) == -1)
		goto fail_step;
	close(s);
	return fd;
fail_step:
	snprintf(err, cap, "tun: %s: setting the %s: %s", name, step, strerror(errno));
fail:
	if (s != -1)
		close(s);
	close(fd);
	return -1;
}

/* Adds a device route (see tun.h). */
int
tun_route_add(const char *name, uint32_t net, unsigned prefix, char *err, size_t cap)
{
	char dev[IFNAMSIZ];
	struct rtentry rt;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	uint32_t mask = prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s == -1) {
		snprintf(err, cap, "tun: socket: %s", strerror(errno));
		return -1;
	}
	memset(&rt, 0, sizeof rt);
	sin.sin_addr.s_addr = htonl(net & mask);
	memcpy(&rt.rt_dst, &sin, sizeof sin);
	sin.sin_addr.s_addr = htonl(mask);
	memcpy(&rt.rt_genmask, &sin, sizeof sin);
	rt.rt_flags = RTF_UP;
	snprintf(dev, sizeof dev, "%s", name);
	rt.rt_dev = dev;
	int rc = ioctl(s, SIOCADDRT, &rt);
	if (rc == -1)
		snprintf(err, cap, "tun: %s: adding the route %u.%u.%u.%u/%u: %s", name,
		    (net & mask) >> 24, ((net & mask) >> 16) & 255, ((net & mask) >> 8) & 255,
		    net & mask & 255, prefix, strerror(errno));
	close(s);
	return rc == -1 ? -1 : 0;
}

/* Closes the device (see tun.h). */
void
tun_close(int fd)
{
	if (fd != -1)
		close(fd);
}
