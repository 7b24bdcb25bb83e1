// SPDX-License-Identifier: MIT
/*
 * guest_tap.c - the TAP device of `pvnet guest`, created inside a network
 * namespace with IFF_VNET_HDR, so that the 12-byte virtio-net header passes
 * between the kernel and the rings unchanged (checksum offload now; TSO once
 * GSO exists).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "guest_internal.h"
#include "pvnet/common.h"
#include "pvnet/log.h"
#include "pvnet/virtio.h"

int guest_enter_netns(const char *netns)
{
	char path[256];
	int fd;

	if (!netns)
		return 0;
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pv_err("guest: netns %s: %s (create it with 'ip netns add %s')",
		       netns, strerror(errno), netns);
		return -errno;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		int e = -errno;

		pv_err("guest: cannot enter netns %s: %s", netns, strerror(errno));
		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

/* Opens TAP queue @ifname (IFF_MULTI_QUEUE when @multi); returns the fd. */
static int tap_queue_open(const char *ifname, bool multi, unsigned off)
{
	struct ifreq ifr = { 0 };
	int fd, hdrsz = 12, e;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		pv_err("guest: /dev/net/tun: %s", strerror(errno));
		return -errno;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR |
			(multi ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, off) < 0) {
		e = -errno;
		pv_err("guest: tap %s: %s", ifname, strerror(errno));
		close(fd);
		return e;
	}
	return fd;
}

int guest_tap_open(const char *ifname, const uint8_t *mac, unsigned mtu,
		   uint64_t features,
		   unsigned nq, int *fds)
{
	struct ifreq ifr = { 0 };
	int fd, s, e;
	unsigned off = 0;

	/*
	 * What the kernel may hand us is what the backend accepts from us:
	 * partial checksums with CSUM, large TCP with HOST_TSO4/6. Large packets
	 * the other way (GUEST_TSO) can always be written to a vnet-hdr TAP.
	 */
	if (features & VIRTIO_BIT(VIRTIO_NET_F_CSUM)) {
		off |= TUN_F_CSUM;
		if (features & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4))
			off |= TUN_F_TSO4;
		if (features & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6))
			off |= TUN_F_TSO6;
	}

	if (strlen(ifname) >= IFNAMSIZ) {
		pv_err("guest: interface name too long: %s", ifname);
		return -EINVAL;
	}
	if (nq < 1 || nq > 16)
		return -EINVAL;
	/*
	 * One TAP queue per queue pair: the kernel picks a queue per flow
	 * (learnt from the queue our writes of that flow came in on).
	 */
	for (unsigned i = 0; i < nq; i++) {
		fds[i] = tap_queue_open(ifname, nq > 1, off);
		if (fds[i] < 0) {
			e = fds[i];
			while (i--)
				close(fds[i]);
			return e;
		}
	}
	fd = fds[0];

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		goto err;
	if (mac) {
		struct ifreq hw = { 0 };

		snprintf(hw.ifr_name, IFNAMSIZ, "%s", ifname);
		hw.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(hw.ifr_hwaddr.sa_data, mac, 6);
		if (ioctl(s, SIOCSIFHWADDR, &hw) < 0)
			goto err_s;
	}
	if (mtu) {
		struct ifreq m = { 0 };

		snprintf(m.ifr_name, IFNAMSIZ, "%s", ifname);
		m.ifr_mtu = (int)mtu;
		if (ioctl(s, SIOCSIFMTU, &m) < 0)
			goto err_s;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto err_s;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto err_s;
	close(s);
	return fd;

err_s:
	e = errno;
	close(s);
	errno = e;
err:
	e = -errno;
	pv_err("guest: tap %s setup: %s", ifname, strerror(errno));
	for (unsigned i = 0; i < nq; i++)
		close(fds[i]);
	return e;
}

enum pv_drop guest_rx_hdr(uint64_t features, size_t hdr_len,
			  const struct iovec *iov, unsigned n,
			  struct virtio_net_hdr *h)
{
	uint8_t base;
	enum pv_drop why;

	memset(h, 0, sizeof(*h));
	if (!n || iov[0].iov_len < hdr_len || hdr_len > sizeof(*h))
		return PV_DROP_PKT_TRUNC;
	/* One read of shared memory; the backend may rewrite it meanwhile. */
	memcpy(h, iov[0].iov_base, hdr_len);
	why = nethdr_check(h, pv_iov_len(iov, n) - hdr_len);
	if (why != PV_DROP_NONE)
		return why;
	/*
	 * The TAP was told (TUNSETOFFLOAD) what the kernel may send us, not
	 * what it takes: it would take any offload. Only the negotiated ones
	 * may come from the device (virtio 1.2 §5.1.6.4.1).
	 */
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    !(features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)))
		return PV_DROP_PKT_HDR_FLAGS;
	base = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    !(features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN)))
		return PV_DROP_PKT_HDR_GSO;
	switch (base) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return PV_DROP_NONE;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) ?
		       PV_DROP_NONE : PV_DROP_PKT_HDR_GSO;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) ?
		       PV_DROP_NONE : PV_DROP_PKT_HDR_GSO;
	case VIRTIO_NET_HDR_GSO_UDP:
		return features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO) ?
		       PV_DROP_NONE : PV_DROP_PKT_HDR_GSO;
	default:	/* UDP_L4: GUEST_USO is never offered */
		return PV_DROP_PKT_HDR_GSO;
	}
}

int guest_tap_write(int fd, const struct virtio_net_hdr *h, size_t hdr_len,
		    const struct iovec *iov, unsigned n)
{
	/* a mergeable packet has at most 64 buffers (struct vuser_queue) */
	struct iovec out[64 + 1];
	unsigned k = 0;

	if (!n || n > 64)
		return -EMSGSIZE;

	out[k].iov_base = (void *)h;
	out[k++].iov_len = hdr_len;
	if (iov[0].iov_len > hdr_len) {
		out[k].iov_base = (uint8_t *)iov[0].iov_base + hdr_len;
		out[k++].iov_len = iov[0].iov_len - hdr_len;
	}
	for (unsigned i = 1; i < n; i++)
		out[k++] = iov[i];
	return writev(fd, out, (int)k) < 0 ? -errno : 0;
}
