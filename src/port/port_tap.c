// SPDX-License-Identifier: MIT
/*
 * port_tap.c - an uplink into a host network stack through a TAP device
 *
 * The TAP is opened (or created) with IFF_VNET_HDR and a 12-byte virtio-net
 * header, and TUN_F_CSUM: partial checksums pass through in both directions
 * as NEEDS_CSUM headers, so neither side computes a checksum it does not
 * need. With TSO (tso=on, the default; TUN_F_TSO4/6) large TCP packets
 * cross whole both ways: the host's stack hands us 64 KiB sends, and a
 * guest's TSO send goes to the host unsegmented (issue 14: bulk TCP between
 * the host and a guest is never segmented in software).
 *
 * Receive: one read() per frame into a fixed pool of port-owned buffers
 * (a TAP fd has no batched read), a burst of up to PKT_BURST_MAX per round,
 * then one sw_forward_burst(); the buffers are reused only after it returns.
 * Transmit: one writev() per packet, vnet header + the packet's own
 * segments, so the only copy is the kernel's. Any worker may transmit: a
 * writev of one whole frame needs no lock of ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pvnet/log.h"
#include "pvnet/switch.h"

#include "port_internal.h"

#define TAP_HDR_LEN	12
/*
 * A frame fits the largest GSO frame taken (which also covers the largest
 * MTU a TAP takes); the one byte more tells a read that filled the buffer
 * (a longer frame, cut) from one at the limit.
 */
#define TAP_BUF_LEN	(TAP_HDR_LEN + PV_FRAME_GSO_MAX + 1)
/*
 * Receive buffers: a burst plus what the switch's GRO may hold until its
 * flush (the cookie of a frame is its buffer index; release gives it back).
 * Pages are touched only as far as frames reach, so this costs little.
 */
#define TAP_POOL	512

struct tap_port {
	struct port port;
	int fd;
	char ifname[IFNAMSIZ];
	char netns[64];
	uint8_t *pool;			/* TAP_POOL buffers of TAP_BUF_LEN */
	uint16_t free_idx[TAP_POOL];	/* bufs' storage */
	struct port_bufs bufs;		/* free buffers (the poller's) */
	struct pv_ratelimit rl;
	/* The TAP interface was deleted under us (read: EBADFD); written by
	 * the polling worker, read by every transmitting one. */
	bool gone;
	/* Receive state: the one worker that polls queue 0 owns it. */
	struct pkt pkts[PKT_BURST_MAX];
	struct pkt *ptrs[PKT_BURST_MAX];
};

static struct tap_port *tp_of(struct port *p)
{
	return (struct tap_port *)p;
}

/*
 * Opens TAP @ifname in the current netns (TSO offered to the kernel if
 * @tso) and brings it up; fd or -errno.
 */
static int tap_open_here(const char *ifname, bool tso)
{
	struct ifreq ifr = { 0 };
	int fd, s, hdrsz = TAP_HDR_LEN, e;
	unsigned off = TUN_F_CSUM | (tso ? TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN : 0);

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, off) < 0)
		goto err;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		goto err;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) == 0) {
			close(s);
			return fd;
		}
	}
	e = errno;
	close(s);
	errno = e;
err:
	e = -errno;
	close(fd);
	return e;
}

/*
 * Opens the TAP inside /var/run/netns/@netns: only this thread enters it,
 * and returns before anything else runs here. A TAP stays in the netns it
 * was created in, whatever thread later reads it.
 */
static int tap_open_in(const char *netns, const char *ifname, bool tso,
		       char *err, size_t errlen)
{
	char path[128];
	int self, target, fd;

	if (!netns[0]) {
		fd = tap_open_here(ifname, tso);
		if (fd < 0)
			snprintf(err, errlen, "tap %s: %s", ifname, strerror(-fd));
		return fd;
	}
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0) {
		snprintf(err, errlen, "netns %s: %s", netns, strerror(errno));
		return -1;
	}
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || setns(target, CLONE_NEWNET) < 0) {
		snprintf(err, errlen, "enter netns %s: %s", netns, strerror(errno));
		if (self >= 0)
			close(self);
		close(target);
		return -1;
	}
	close(target);
	fd = tap_open_here(ifname, tso);
	if (fd < 0)
		snprintf(err, errlen, "tap %s in netns %s: %s", ifname, netns,
			 strerror(-fd));
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Staying in the wrong netns would misplace every later port. */
		snprintf(err, errlen, "cannot return from netns %s: %s", netns,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	close(self);
	return fd;
}

/*
 * Turns one frame read into buffer @buf (@n bytes) into @pk; the drop
 * reason. GSO frames are taken only if the TAP was given TSO (@tso).
 */
static enum pv_drop frame_to_pkt(uint8_t *buf, ssize_t n, struct pkt *pk,
				 bool tso)
{
	enum pv_drop why;

	if (n < TAP_HDR_LEN + ETH_HLEN)
		return PV_DROP_PKT_TRUNC;
	/* tun returns the frame's whole length even when it copied less:
	 * never describe more than the buffer holds. nethdr_check() then
	 * applies the limit for the frame's kind (GSO or not). */
	if (n > TAP_HDR_LEN + PV_FRAME_GSO_MAX)
		return PV_DROP_PKT_TOO_LONG;
	memcpy(&pk->vh, buf, sizeof(pk->vh));
	pk->len = (uint32_t)(n - TAP_HDR_LEN);
	why = port_vnet_rx(&pk->vh, pk->len, tso);
	if (why != PV_DROP_NONE)
		return why;
	pk->seg[0].iov_base = buf + TAP_HDR_LEN;
	pk->seg[0].iov_len = pk->len;
	pk->nseg = 1;
	return PV_DROP_NONE;
}

/*
 * The interface was deleted: the fd now polls EPOLLERR for ever (level-
 * triggered) and every read fails, so the worker would wake from each sleep
 * at once and spin. Put a never-ready eventfd in its place: closing the
 * detached TAP file also takes it out of the worker's epoll set, and a
 * transmit racing with this writes to a file that still exists. The port
 * stays, counting what is sent to it as TX_PORT_ERR.
 */
static void tap_gone(struct tap_port *tp)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (efd < 0 || dup2(efd, tp->fd) < 0) {
		pv_log_ratelimited(&tp->rl, PV_LOG_WARN, "port %s: %s gone, and "
				   "its fd cannot be retired: %s", tp->port.name,
				   tp->ifname, strerror(errno));
	} else {
		pv_warn("port %s: interface %s is gone; the port drops what is "
			"sent to it (tx_port_err)", tp->port.name, tp->ifname);
	}
	if (efd >= 0)
		close(efd);
	__atomic_store_n(&tp->gone, true, __ATOMIC_RELEASE);
}

static unsigned tap_rx_burst(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned max, unsigned *taken)
{
	struct tap_port *tp = tp_of(p);
	unsigned want = PV_MIN(max, tp->bufs.n), got = 0, m = 0, bad = 0, gso = 0;
	uint64_t drops[PV_DROP_MAX] = { 0 };

	*taken = 0;
	if (q != 0 || tp->gone)
		return 0;
	for (; got < want; got++) {
		uint16_t b = tp->bufs.idx[tp->bufs.n - 1];
		uint8_t *buf = tp->pool + (size_t)b * TAP_BUF_LEN;
		ssize_t n = read(tp->fd, buf, TAP_BUF_LEN);
		struct pkt *pk = &tp->pkts[m];
		enum pv_drop why;

		if (n < 0) {
			if (errno == EBADFD) {
				tap_gone(tp);
				break;
			}
			if (errno != EAGAIN && errno != EINTR)
				pv_log_ratelimited(&tp->rl, PV_LOG_WARN,
						   "port %s: read: %s",
						   p->name, strerror(errno));
			break;
		}
		why = frame_to_pkt(buf, n, pk, p->gso_offload);
		if (why == PV_DROP_NONE && unlikely(port_is_trunk(p)))
			why = port_vlan_rx(p, pk, -1);
		if (why != PV_DROP_NONE) {
			drops[why]++;
			bad++;
			continue;
		}
		pk->cookie = b;
		pk->held = false;
		tp->bufs.n--;
		gso += pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE;
		pkts[m++] = pk;
	}
	if (bad)
		port_count_rx_drops(p, bad, drops);
	if (gso)
		pv_stat_add(&p->st.rx_gso_pkts, gso);
	*taken = got;
	return m;
}

/* The burst's packets are tp->pkts[0..n): their buffers come back. */
static void tap_rx_done(struct port *p, unsigned q, struct pkt **pkts,
			unsigned n)
{
	(void)q;
	(void)pkts;
	port_bufs_put_unheld(&tp_of(p)->bufs, tp_of(p)->pkts, n);
}

static void tap_release(struct port *p, unsigned q, const uint32_t *cookies,
			unsigned n)
{
	(void)q;
	port_bufs_release(&tp_of(p)->bufs, cookies, n);
}

static unsigned tap_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned n)
{
	struct tap_port *tp = tp_of(p);
	uint64_t drops[PV_DROP_MAX] = { 0 }, bytes = 0, gso_pkts = 0;
	struct iovec iov[PKT_MAX_SEGS + 3];
	bool trunk = port_is_trunk(p);
	unsigned sent = 0;

	(void)q;
	/* Acquire: pairs with the release in tap_gone(). */
	if (__atomic_load_n(&tp->gone, __ATOMIC_ACQUIRE)) {
		pv_stat_add(&p->st.drops.n[PV_DROP_TX_PORT_ERR], n);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		struct pkt *pk = pkts[i];
		struct virtio_net_hdr h;
		unsigned nf = pk->nseg;
		uint8_t tag[4];
		ssize_t r;

		/* the switch segments for a TAP without TSO; never trust it */
		if (pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE && !p->gso_offload) {
			drops[PV_DROP_PKT_TOO_BIG]++;
			continue;
		}
		if (pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
			gso_pkts++;
		port_vnet_tx(&h, pk);
		iov[0].iov_base = &h;
		iov[0].iov_len = TAP_HDR_LEN;
		if (trunk && port_vlan_tx(p, pk, tag, &h)) {
			nf = port_vlan_iov(pk->seg, pk->nseg, tag, &iov[1],
					   PKT_MAX_SEGS + 2);
			if (!nf) {
				drops[PV_DROP_PKT_TRUNC]++;
				continue;
			}
		} else {
			memcpy(&iov[1], pk->seg, pk->nseg * sizeof(iov[0]));
		}
		r = writev(tp->fd, iov, (int)nf + 1);
		if (r < 0) {
			drops[port_tx_errno_reason(errno)]++;
			continue;
		}
		sent++;
		bytes += pk->len + (nf != pk->nseg ? 4 : 0);
	}
	if (gso_pkts)
		pv_stat_add(&p->st.tx_gso_pkts, gso_pkts);
	port_count_tx(p, 0, sent, bytes, 0, drops);
	return sent;
}

/* Level-triggered: epoll reports a readable TAP even if it filled meanwhile. */
static int tap_rx_fd(struct port *p, unsigned q)
{
	return q == 0 ? tp_of(p)->fd : -1;
}

static void tap_destroy(struct port *p)
{
	struct tap_port *tp = tp_of(p);

	if (tp->fd >= 0)
		close(tp->fd);
	free(tp->pool);
	free(tp);
}

static const struct port_ops tap_port_ops = {
	.type = "tap",
	.tx_burst = tap_tx_burst,
	.rx_queues = port_rx_one_queue,
	.rx_burst = tap_rx_burst,
	.rx_done = tap_rx_done,
	.rx_fd = tap_rx_fd,
	.release = tap_release,
	.destroy = tap_destroy,
};

static bool tap_take_opt(void *ctx, const char *key, const char *val)
{
	struct tap_port *tp = ctx;

	if (!strcmp(key, "ifname"))
		return port_opt_str(tp->ifname, sizeof(tp->ifname), val);
	/* A name under /var/run/netns/, not a path elsewhere. */
	if (!strcmp(key, "netns"))
		return !strchr(val, '/') &&
		       port_opt_str(tp->netns, sizeof(tp->netns), val);
	if (!strcmp(key, "tso") && (!strcmp(val, "on") || !strcmp(val, "off"))) {
		tp->port.gso_offload = !strcmp(val, "on");
		return true;
	}
	return false;
}

/* The "16" is IFNAMSIZ, spelt out so the message can be a constant. */
static_assert(IFNAMSIZ == 16, "the usage text below says 16");
static const struct port_opts_spec tap_opts = {
	.type = "tap",
	.usage = "ifname=NAME (< 16 chars), netns=NAME, tso=on|off",
	.too_long = "option too long",
	.val_max = 128,
	.take = tap_take_opt,
};

struct port *port_tap_create_fd(const char *name, int fd, char *err,
				size_t errlen)
{
	struct tap_port *tp;

	tp = port_uplink_alloc(sizeof(*tp), name, &tap_port_ops, err, errlen);
	if (!tp) {
		close(fd);
		return NULL;
	}
	tp->fd = fd;
	tp->port.csum_offload = true;
	tp->pool = malloc((size_t)TAP_POOL * TAP_BUF_LEN);
	port_bufs_init(&tp->bufs, tp->free_idx, TAP_POOL);
	if (!tp->pool) {
		snprintf(err, errlen, "port %s: out of memory", name);
		tap_destroy(&tp->port);
		return NULL;
	}
	return &tp->port;
}

struct port *port_tap_create(struct sw *sw, const char *name, const char *opts,
			     char *err, size_t errlen)
{
	struct tap_port *tp;
	char why[200];

	tp = port_uplink_alloc(sizeof(*tp), name, &tap_port_ops, err, errlen);
	if (!tp)
		return NULL;
	tp->fd = -1;
	tp->port.csum_offload = true;
	tp->port.gso_offload = true;	/* tso=on */
	if (port_opts_parse(&tap_opts, name, opts, tp, err, errlen) < 0)
		goto fail;
	if (!tp->ifname[0]) {
		snprintf(err, errlen, "port %s: ifname= is required", name);
		goto fail;
	}
	tp->pool = malloc((size_t)TAP_POOL * TAP_BUF_LEN);
	port_bufs_init(&tp->bufs, tp->free_idx, TAP_POOL);
	if (!tp->pool) {
		snprintf(err, errlen, "port %s: out of memory", name);
		goto fail;
	}
	if (sw && sw->check_only)
		return &tp->port;
	tp->fd = tap_open_in(tp->netns, tp->ifname, tp->port.gso_offload, why,
			     sizeof(why));
	if (tp->fd < 0) {
		snprintf(err, errlen, "port %s: %s", name, why);
		goto fail;
	}
	pv_info("port %s: tap %s%s%s, checksum offload%s", name, tp->ifname,
		tp->netns[0] ? " in netns " : "", tp->netns,
		tp->port.gso_offload ? ", TSO both ways" : "");
	return &tp->port;

fail:
	tap_destroy(&tp->port);
	return NULL;
}
