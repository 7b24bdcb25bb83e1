// SPDX-License-Identifier: MIT
/*
 * port_vxlan.c - a VXLAN tunnel endpoint (RFC 7348) as an uplink port,
 * interoperable with Linux vxlan devices and Open vSwitch
 *
 * The underlay is the host's own stack: kernel UDP sockets bound to the
 * port's local= address, so routing, neighbour resolution and the firewall
 * apply as to any UDP application. One socket, bound to local:dstport,
 * receives; VX_TX_SOCKS sockets bound to local with ports the kernel picks
 * from its ephemeral range send, chosen by the inner flow's hash: the outer
 * source port follows the flow (ECMP entropy, RFC 7348 §5) with
 * VX_TX_SOCKS distinct values, since a bound socket has one source port.
 *
 * Receive: one recvmmsg() per burst into a fixed pool of port-owned
 * buffers; each datagram is checked (vxlan_decap), the inner frame handed
 * to the switch as a pkt over the buffer, and its inner source MAC learned
 * behind the datagram's source address. Buffers come back after the burst
 * (or when GRO releases a frame it held), as on the TAP port.
 *
 * Transmit, flood and learn: a unicast inner destination found in the
 * remote table goes to that VTEP; broadcast, multicast and unknown unicast
 * to every remote= (head-end replication). The port takes large packets
 * (gso_offload on): a guest's TSO send is cut here to its MSS, with full
 * inner checksums, and goes out as UDP GSO sends (UDP_SEGMENT) of
 * equal-size datagrams, or a datagram per segment where the kernel
 * refuses UDP GSO; a partial checksum of a small packet is completed on
 * the way out, never in the sender's buffer.
 * Nothing is fragmented: a frame larger than the underlay MTU minus the
 * encapsulation is dropped (VX_MTU), and the sockets refuse fragmentation
 * (IP_PMTUDISC_DO) so a smaller path MTU is a drop of the same name.
 * One sendmmsg() per socket per burst; any worker may transmit at once
 * (thread-local scratch; the kernel serialises a socket).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "pvnet/gro.h"
#include "pvnet/log.h"
#include "pvnet/switch.h"
#include "pvnet/vxlan.h"

#include "port_internal.h"

#ifndef UDP_NO_CHECK6_TX
#define UDP_NO_CHECK6_TX	101
#define UDP_NO_CHECK6_RX	102
#endif

/* A UDP payload of 65535 bytes at most fits, and the flag says more. */
#define VX_BUF_LEN	65536
/* A burst plus what GRO may hold until its flush (as the TAP port). */
#define VX_POOL		512
#define VX_MAX_REMOTES	32
#define VX_TX_SOCKS	16
#define VX_MSGS		64		/* datagrams per sendmmsg() */
#define VX_RCVBUF	(4 << 20)	/* absorbs a burst while the worker polls others */
#define VX_SNDBUF	(1 << 20)

union vx_sa {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/*
 * The VTEPs that get BUM frames: published whole by pointer and never
 * edited (rule G): `vxlan remote add/del` builds a new set, publishes it,
 * and the old one is freed after a grace period.
 */
struct vx_rset {
	unsigned n;
	union vx_sa sa[VX_MAX_REMOTES];
};

/*
 * One VNI of the port (vni=NET:VNI, or the one vni=N): its network, the
 * header its datagrams carry, its flood set and MAC tables, its counters.
 * Fixed while the port exists (rule S) but for what the comments say.
 */
struct vx_vni {
	uint32_t vni;
	uint8_t net;			/* switch network index */
	uint8_t hdr[VXLAN_HLEN];	/* the same for every datagram */
	struct vx_rset *rset;		/* the flood set, owned; rule G */
	struct vxlan_fdb fdb;		/* learned; written by the receiving worker */
	struct vxlan_fdb sfdb;		/* static (EVPN): written by the control thread */
	/* Counters (any worker adds; stats reads). */
	uint64_t encap_pkts;		/* datagrams sent */
	uint64_t decap_pkts;		/* inner frames handed to the switch */
	uint64_t tx_drops;		/* frames of this VNI not sent */
};

/* remote= as given: an address, for every VNI or (net[0]) one network's. */
struct vx_rspec {
	union vx_sa sa;
	char net[SW_NET_NAME_MAX];
};

#define VX_MAX_RSPEC	(SW_MAX_NETS * VX_MAX_REMOTES)

struct vx_port {
	struct port port;
	struct sw *sw;			/* network names, other ports (control) */
	int rx_fd;
	int tx_fd[VX_TX_SOCKS];
	uint16_t tx_sport[VX_TX_SOCKS];	/* host order, for stats */
	int family;			/* of local= and every remote= */
	socklen_t salen;
	/* vni= in the order given; by_net: index in vni[] + 1, 0 none */
	struct vx_vni vni[SW_MAX_NETS];
	unsigned nvni;
	bool multi;			/* vni=NET:VNI: a trunk of networks */
	bool plain_vni;			/* a vni=N was given */
	bool bad_vni;			/* a vni= that did not parse */
	char vni_net[SW_MAX_NETS][SW_NET_NAME_MAX];	/* while parsing */
	uint8_t by_net[SW_MAX_NETS];
	uint16_t dstport;
	int udpcsum;			/* -1: default (on) */
	unsigned mtu;			/* underlay; 0: the local interface's */
	unsigned max_frame;		/* largest inner frame that fits */
	unsigned fdb_max;
	union vx_sa local;
	struct vx_rspec rspec[VX_MAX_RSPEC];	/* remote= while parsing */
	unsigned nrspec;
	struct pv_ratelimit rl;
	bool bad_opt;			/* an address that did not parse */
	/* Counters (any worker adds; stats reads). */
	uint64_t tx_copy_errs;		/* copies lost of a frame others got */
	uint64_t gso_sends;		/* UDP_SEGMENT sends (one per copy) */
	uint64_t gso_segs;		/* inner segments sent by them */
	uint64_t gso_fallbacks;		/* times the kernel refused UDP GSO */
	bool udp_gso;			/* UDP GSO on send: on until refused */
	bool udp_gro;			/* the kernel took UDP_GRO */
	uint64_t gro_recvs;		/* received messages of several datagrams */
	uint64_t gro_segs;		/* datagrams in them */
	/* Receive state: the one worker that polls queue 0 owns it. */
	uint8_t *pool;			/* VX_POOL buffers of VX_BUF_LEN */
	uint16_t free_idx[VX_POOL];
	struct port_bufs bufs;
	struct pkt pkts[PKT_BURST_MAX];
	uint16_t ref[VX_POOL];		/* frames in a buffer, +1 while split */
	struct mmsghdr rx_msgs[PKT_BURST_MAX];
	struct iovec rx_iov[PKT_BURST_MAX];
	union vx_sa rx_name[PKT_BURST_MAX];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} rx_ctl[PKT_BURST_MAX];		/* the UDP_GRO segment size */
	uint16_t rx_buf[PKT_BURST_MAX];	/* the buffer of each message */
	unsigned rx_n, rx_i;		/* messages received, next to split */
	size_t rx_off;			/* where in message rx_i */
};

/* Transmit scratch of the calling worker. */
static __thread struct mmsghdr vx_msgs[VX_MSGS];
static __thread uint8_t vx_msg_pkt[VX_MSGS];
static __thread struct iovec vx_iov[PKT_BURST_MAX][PKT_MAX_SEGS + 3];
static __thread uint16_t vx_csum[PKT_BURST_MAX];
static __thread union vx_sa vx_learned[PKT_BURST_MAX];

static struct vx_port *vp_of(struct port *p)
{
	return (struct vx_port *)p;
}

/*
 * The VNI a frame toward the port is in: the port's one, or on a port of
 * several the one of the frame's network (pkt->net, set by the switch
 * toward a trunk). NULL: a network the port does not carry.
 */
static struct vx_vni *vx_vni_tx(struct vx_port *vp, const struct pkt *pk)
{
	unsigned i;

	if (!vp->multi)
		return &vp->vni[0];
	i = pk->net < SW_MAX_NETS ? vp->by_net[pk->net] : 0;
	return i ? &vp->vni[i - 1] : NULL;
}

/* The port's VNI @vni; NULL if it has none such. */
static struct vx_vni *vx_vni_find(struct vx_port *vp, uint32_t vni)
{
	for (unsigned i = 0; i < vp->nvni; i++)
		if (vp->vni[i].vni == vni)
			return &vp->vni[i];
	return NULL;
}

static void sa_to_addr(const union vx_sa *s, struct vxlan_addr *a)
{
	if (s->sa.sa_family == AF_INET6) {
		memcpy(a->a, &s->v6.sin6_addr, 16);
		return;
	}
	memset(a->a, 0, 10);
	a->a[10] = a->a[11] = 0xff;
	memcpy(a->a + 12, &s->v4.sin_addr, 4);
}

static void addr_to_sa(const struct vx_port *vp, const struct vxlan_addr *a,
		       union vx_sa *s)
{
	memset(s, 0, sizeof(*s));
	if (vp->family == AF_INET6) {
		s->v6.sin6_family = AF_INET6;
		s->v6.sin6_port = htons(vp->dstport);
		memcpy(&s->v6.sin6_addr, a->a, 16);
		return;
	}
	s->v4.sin_family = AF_INET;
	s->v4.sin_port = htons(vp->dstport);
	memcpy(&s->v4.sin_addr, a->a + 12, 4);
}

static const char *sa_fmt(const union vx_sa *s, char *buf, size_t len)
{
	const void *a = s->sa.sa_family == AF_INET6 ?
		(const void *)&s->v6.sin6_addr : (const void *)&s->v4.sin_addr;

	if (!inet_ntop(s->sa.sa_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

/* Parses an IPv4 or IPv6 address into @s (port 0); false if it is neither. */
static bool sa_parse(const char *str, union vx_sa *s)
{
	memset(s, 0, sizeof(*s));
	if (inet_pton(AF_INET, str, &s->v4.sin_addr) == 1) {
		s->v4.sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, str, &s->v6.sin6_addr) == 1) {
		s->v6.sin6_family = AF_INET6;
		return true;
	}
	return false;
}

/* A buffer's last reference gone: it is free again. */
static void vx_buf_put(struct vx_port *vp, uint32_t b)
{
	if (b < VX_POOL && vp->ref[b] && !--vp->ref[b] && vp->bufs.n < VX_POOL)
		vp->bufs.idx[vp->bufs.n++] = (uint16_t)b;
}

/* The UDP GRO segment size of received message @i; 0 if not coalesced. */
static size_t vx_gro_size(struct vx_port *vp, unsigned i)
{
	struct msghdr *h = &vp->rx_msgs[i].msg_hdr;
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		int v;

		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO ||
		    c->cmsg_len < CMSG_LEN(sizeof(v)))
			continue;
		memcpy(&v, CMSG_DATA(c), sizeof(v));
		return v > 0 ? (size_t)v : 0;
	}
	return 0;
}

/*
 * One recvmmsg() into free buffers when the last one's messages are all
 * split; then the datagrams of the received messages, a UDP GRO message
 * cut back into its datagrams (vxlan_gro_next), each checked and its
 * inner frame handed on, up to @max frames. A message that does not fit
 * stays for the next call. Every frame of a message points into the
 * message's buffer: the buffer holds a reference per frame plus one while
 * the message is being split, and is free when the last one goes.
 */
static unsigned vx_rx_burst(struct port *p, unsigned q, struct pkt **pkts,
			    unsigned max, unsigned *taken)
{
	struct vx_port *vp = vp_of(p);
	uint64_t drops[PV_DROP_MAX] = { 0 }, now, gro_msgs = 0, gro_dgrams = 0;
	unsigned m = 0, bad = 0, done = 0;
	uint16_t vcnt[SW_MAX_NETS] = { 0 };	/* frames per VNI (index) */
	int r;

	*taken = 0;
	max = PV_MIN(max, PKT_BURST_MAX);
	if (q != 0 || !max)
		return 0;
	if (vp->rx_i == vp->rx_n) {
		unsigned want = PV_MIN(max, vp->bufs.n);

		if (!want)
			return 0;
		for (unsigned i = 0; i < want; i++) {
			uint16_t b = vp->bufs.idx[vp->bufs.n - 1 - i];
			struct msghdr *h = &vp->rx_msgs[i].msg_hdr;

			vp->rx_buf[i] = b;
			vp->rx_iov[i].iov_base = vp->pool + (size_t)b * VX_BUF_LEN;
			vp->rx_iov[i].iov_len = VX_BUF_LEN;
			memset(h, 0, sizeof(*h));
			h->msg_name = &vp->rx_name[i];
			h->msg_namelen = sizeof(vp->rx_name[i]);
			h->msg_iov = &vp->rx_iov[i];
			h->msg_iovlen = 1;
			h->msg_control = vp->rx_ctl[i].buf;
			h->msg_controllen = sizeof(vp->rx_ctl[i].buf);
		}
		r = recvmmsg(vp->rx_fd, vp->rx_msgs, want, MSG_DONTWAIT, NULL);
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				pv_log_ratelimited(&vp->rl, PV_LOG_WARN,
						   "port %s: recvmmsg: %s",
						   p->name, strerror(errno));
			return 0;
		}
		/* The r buffers on top of the stack are the messages'. */
		vp->bufs.n -= (unsigned)r;
		for (int i = 0; i < r; i++)
			vp->ref[vp->rx_buf[i]] = 1;	/* while being split */
		vp->rx_n = (unsigned)r;
		vp->rx_i = 0;
		vp->rx_off = 0;
	}
	now = pv_now_ns();
	while (vp->rx_i < vp->rx_n && m < max) {
		unsigned i = vp->rx_i;
		uint16_t b = vp->rx_buf[i];
		uint8_t *buf = vp->pool + (size_t)b * VX_BUF_LEN;
		struct msghdr *h = &vp->rx_msgs[i].msg_hdr;
		size_t len = vp->rx_msgs[i].msg_len, seg = 0, dlen;
		struct vxlan_addr from;

		if ((h->msg_flags & MSG_TRUNC) ||
		    vp->rx_name[i].sa.sa_family != vp->family) {
			/* The family cannot differ: one socket, one family. */
			drops[(h->msg_flags & MSG_TRUNC) ? PV_DROP_VX_TOO_LONG :
			      PV_DROP_VX_BAD_HDR]++;
			bad++;
			len = 0;
		} else {
			seg = vx_gro_size(vp, i);
			if (seg && seg < len && !vp->rx_off) {
				gro_msgs++;
				gro_dgrams += (len + seg - 1) / seg;
			}
		}
		sa_to_addr(&vp->rx_name[i], &from);
		while (m < max && vxlan_gro_next(len, seg, vp->rx_off, &dlen)) {
			uint8_t *d = buf + vp->rx_off;
			struct pkt *pk = &vp->pkts[m];
			uint32_t ilen = 0, vni = 0;
			struct vx_vni *v = NULL;
			enum pv_drop why;

			vp->rx_off += dlen;
			why = vxlan_decap_any(d, dlen, &vni, &ilen);
			if (why == PV_DROP_NONE) {
				v = vni == vp->vni[0].vni ? &vp->vni[0] :
				    vx_vni_find(vp, vni);
				if (!v)
					why = PV_DROP_VX_UNKNOWN_VNI;
			}
			if (why != PV_DROP_NONE) {
				drops[why]++;
				bad++;
				continue;
			}
			memset(&pk->vh, 0, sizeof(pk->vh));
			pk->len = ilen;
			pk->seg[0].iov_base = d + VXLAN_HLEN;
			pk->seg[0].iov_len = ilen;
			pk->nseg = 1;
			pk->cookie = b;
			pk->held = false;
			/* its network: the switch reads it on a port of several */
			pk->net = v->net;
			vp->ref[b]++;
			vcnt[v - vp->vni]++;
			/* The writer of the table: only this worker polls queue 0. */
			(void)vxlan_fdb_learn(&v->fdb, d + VXLAN_HLEN + ETH_ALEN,
					      &from, now);
			pkts[m++] = pk;
		}
		if (vp->rx_off < len)
			break;	/* the rest of this message next time */
		vx_buf_put(vp, b);	/* split: the frames' references stay */
		vp->rx_i++;
		vp->rx_off = 0;
		done++;
	}
	if (bad)
		port_count_rx_drops(p, bad, drops);
	for (unsigned i = 0; i < vp->nvni; i++)
		if (vcnt[i])
			pv_stat_add(&vp->vni[i].decap_pkts, vcnt[i]);
	pv_stat_add(&vp->gro_recvs, gro_msgs);
	pv_stat_add(&vp->gro_segs, gro_dgrams);
	*taken = m + bad ? m + bad : done;
	return m;
}

static void vx_rx_done(struct port *p, unsigned q, struct pkt **pkts,
		       unsigned n)
{
	struct vx_port *vp = vp_of(p);

	(void)q;
	(void)pkts;
	for (unsigned i = 0; i < n; i++)
		if (!vp->pkts[i].held)
			vx_buf_put(vp, vp->pkts[i].cookie);
}

static void vx_release(struct port *p, unsigned q, const uint32_t *cookies,
		       unsigned n)
{
	(void)q;
	for (unsigned i = 0; i < n; i++)
		vx_buf_put(vp_of(p), cookies[i]);
}

static int vx_rx_fd(struct port *p, unsigned q)
{
	return q == 0 ? vp_of(p)->rx_fd : -1;
}

/* The first @n bytes of @pk's frame (n <= its length) into @out. */
static void pkt_read(const struct pkt *pk, uint8_t *out, size_t n)
{
	for (unsigned s = 0; s < pk->nseg && n; s++) {
		size_t c = PV_MIN(n, pk->seg[s].iov_len);

		memcpy(out, pk->seg[s].iov_base, c);
		out += c;
		n -= c;
	}
}

static enum pv_drop tx_errno_reason(int e)
{
	if (e == EMSGSIZE)
		return PV_DROP_VX_MTU;
	return port_tx_errno_reason(e);
}

/*
 * Sends the @nm datagrams of the scratch on @fd; each one sent adds to
 * @ok[its packet], each refused sets @err[its packet] if unset.
 */
static void vx_flush(struct vx_port *vp, int fd, unsigned nm, uint16_t *ok,
		     uint8_t *err)
{
	unsigned i = 0;

	while (i < nm) {
		int r = sendmmsg(fd, &vx_msgs[i], nm - i, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (!err[vx_msg_pkt[i]])
				err[vx_msg_pkt[i]] = (uint8_t)tx_errno_reason(errno);
			pv_log_ratelimited(&vp->rl, PV_LOG_DEBUG,
					   "port %s: sendmmsg: %s",
					   vp->port.name, strerror(errno));
			i++;
			continue;
		}
		for (int k = 0; k < r; k++)
			ok[vx_msg_pkt[i + (unsigned)k]]++;
		i += (unsigned)r;
	}
}

static unsigned vx_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			    unsigned n);

/*
 * A guest's TSO send, whole (the port takes GSO packets): cut to the inner
 * MSS by gso_next() into headers of our own and payload pieces that point
 * into the sender's buffers, each piece behind its VXLAN header in one
 * iovec, and handed to the kernel as one UDP_SEGMENT send of equal-size
 * datagrams (the last may be shorter) per group. The kernel copies the
 * iovec once into its skb and cuts it on the device or in its own GSO.
 * Groups are bounded by what one UDP GSO send may carry: VX_GSO_SEGS
 * datagrams (the kernel's UDP_MAX_SEGMENTS before 6.x) and VX_GSO_BYTES of
 * UDP payload (the IP length limit less an IPv6 and a UDP header; IPv4
 * would allow 20 bytes more). The kernel refuses UDP GSO on a socket
 * without the outer checksum (udpcsum=off: EINVAL), and older kernels on a
 * device without checksum offload (EIO): the port then sends a datagram
 * per segment, as it learns at its first TSO send.
 */
#define VX_GSO_OUT	16		/* segments per gso_next() */
#define VX_GSO_SEGS	64
#define VX_GSO_BYTES	(65535 - 40 - 8)
#define VX_GSO_IOV	1024		/* UIO_MAXIOV */
struct vx_gso {
	struct gso_state st;
	uint8_t hdr[VX_GSO_SEGS * GRO_HDR_MAX];	/* one group's headers */
	struct pkt out[VX_GSO_OUT];
	struct iovec iov[VX_GSO_IOV];
};
static __thread struct vx_gso vx_gso;

/*
 * One UDP_SEGMENT send of @niov pieces (datagrams of @dsize bytes, the last
 * maybe shorter) to each of the @ndst destinations; how many copies went.
 * *err gets the errno of the first refused copy (0 if none).
 */
static unsigned vx_gso_send(const struct vx_port *vp, int fd,
			    const union vx_sa *dst, unsigned ndst,
			    struct iovec *iov, unsigned niov, uint16_t dsize,
			    int *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} cm;
	struct msghdr h;
	struct cmsghdr *c;
	unsigned went = 0;

	*err = 0;
	for (unsigned r = 0; r < ndst; r++) {
		ssize_t w;

		memset(&h, 0, sizeof(h));
		memset(&cm, 0, sizeof(cm));
		h.msg_name = (void *)&dst[r];
		h.msg_namelen = vp->salen;
		h.msg_iov = iov;
		h.msg_iovlen = niov;
		h.msg_control = cm.buf;
		h.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		memcpy(CMSG_DATA(c), &dsize, sizeof(dsize));
		do
			w = sendmsg(fd, &h, MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w >= 0) {
			went++;
			continue;
		}
		if (!*err)
			*err = errno;
		/* The kernel refuses UDP GSO itself: no other copy would go. */
		if (errno == EIO || errno == EINVAL)
			break;
	}
	return went;
}

/* The VTEP behind unicast @mac: a static entry (EVPN) wins over a learned one. */
static bool vx_remote_lookup(const struct vx_vni *v, const uint8_t *mac,
			     uint64_t now, struct vxlan_addr *ip)
{
	return vxlan_fdb_lookup(&v->sfdb, mac, now, ip) ||
	       vxlan_fdb_lookup(&v->fdb, mac, now, ip);
}

/* Where one segment of a group is in the group's iovec. */
struct vx_gso_seg {
	uint16_t at, cnt;	/* its pieces after its VXLAN header */
	uint32_t len;		/* its inner frame length */
};

/*
 * Segments GSO packet @pk to its MSS and sends the pieces, with UDP GSO
 * while the kernel takes it, else one datagram each through vx_tx_burst;
 * how many segments went.
 */
static unsigned vx_tx_gso(struct port *p, unsigned q, struct pkt *pk)
{
	struct vx_port *vp = vp_of(p);
	struct vx_gso *g = &vx_gso;
	struct vx_gso_seg sg[VX_GSO_SEGS];
	uint64_t drops[PV_DROP_MAX] = { 0 }, bytes = 0, dgrams = 0;
	uint64_t gsends = 0, gsegs = 0, copy_errs = 0;
	/* The caller checked it: a network the port carries. */
	struct vx_vni *v = vx_vni_tx(vp, pk);
	/* One flood set for the packet: the control thread may publish another. */
	const struct vx_rset *rs = __atomic_load_n(&v->rset, __ATOMIC_ACQUIRE);
	const union vx_sa *dst = rs->sa;
	struct pkt *ptr[VX_GSO_OUT];
	unsigned sent = 0, ndst = rs->n, per, nd = 0, niov = 0, burst_lost = 0;
	uint32_t gbytes = 0;
	union vx_sa learned;
	struct vxlan_addr ip;
	uint8_t mac[ETH_ALEN];
	uint16_t dsize;
	int total, n = 0, fd;

	pkt_parse_l3(pk);
	total = gso_begin(&g->st, pk, false);
	if (total <= 0) {
		n = total;
		goto out;
	}
	pv_stat_add(&p->st.segmented, (uint64_t)total - 1);
	if (!__atomic_load_n(&vp->udp_gso, __ATOMIC_RELAXED))
		goto one_by_one;
	/* Every segment but the last is headers + MSS: the datagram size. */
	if ((unsigned)g->st.hlen + g->st.mss > vp->max_frame) {
		drops[PV_DROP_VX_MTU] += (unsigned)total;
		goto out;
	}
	dsize = (uint16_t)(VXLAN_HLEN + g->st.hlen + g->st.mss);
	pkt_read(pk, mac, ETH_ALEN);
	if (!pkt_mac_is_multicast(mac) &&
	    vx_remote_lookup(v, mac, pv_now_ns(), &ip)) {
		addr_to_sa(vp, &ip, &learned);
		dst = &learned;
		ndst = 1;
	} else if (!ndst) {
		drops[PV_DROP_VX_NO_REMOTE] += (unsigned)total;
		goto out;
	}
	fd = vp->tx_fd[pkt_flow_hash(pk) % VX_TX_SOCKS];
	per = PV_MIN(VX_GSO_SEGS, VX_GSO_BYTES / dsize);
	if (per < 2)
		goto one_by_one;	/* mtu= near 64 KiB: nothing to batch */
	for (;;) {
		unsigned went;
		bool last;
		int e;

		n = gso_next(&g->st, g->out, PV_MIN(VX_GSO_OUT, per - nd),
			     g->hdr + (size_t)nd * GRO_HDR_MAX);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			const struct pkt *o = &g->out[i];

			/* 64 x (2 + PKT_MAX_SEGS) could pass UIO_MAXIOV. */
			if (niov + 1 + o->nseg > VX_GSO_IOV) {
				g->st.next = g->st.nsegs;
				n = -PV_DROP_PKT_TOO_BIG;
				goto out;
			}
			g->iov[niov].iov_base = v->hdr;
			g->iov[niov++].iov_len = VXLAN_HLEN;
			sg[nd].at = (uint16_t)niov;
			sg[nd].cnt = o->nseg;
			sg[nd++].len = o->len;
			memcpy(&g->iov[niov], o->seg, o->nseg * sizeof(*o->seg));
			niov += o->nseg;
			gbytes += o->len;
		}
		last = g->st.next == g->st.nsegs;
		if (nd < per && !last)
			continue;
		if (!nd)
			break;
		went = vx_gso_send(vp, fd, dst, ndst, g->iov, niov, dsize, &e);
		if (!went && (e == EIO || e == EINVAL)) {
			/*
			 * This kernel (or the route's device, or udpcsum=off)
			 * does not take UDP GSO: a datagram per segment from
			 * now on, starting with this group, cut already.
			 */
			__atomic_store_n(&vp->udp_gso, false, __ATOMIC_RELAXED);
			pv_stat_add(&vp->gso_fallbacks, 1);
			pv_warn("port %s: the kernel refuses UDP GSO (%s): one "
				"datagram per segment from now on", p->name,
				strerror(e));
			for (unsigned j = 0, k = 0; j < nd; j++) {
				struct pkt *o = &g->out[k];

				memcpy(o, pk, offsetof(struct pkt, seg));
				memset(&o->vh, 0, sizeof(o->vh));
				memcpy(o->seg, &g->iov[sg[j].at],
				       sg[j].cnt * sizeof(*o->seg));
				o->nseg = sg[j].cnt;
				o->len = sg[j].len;
				ptr[k++] = o;
				if (k == VX_GSO_OUT || j + 1 == nd) {
					unsigned w = vx_tx_burst(p, q, ptr, k);

					sent += w;
					/* it counts its own VNI drops */
					burst_lost += k - w;
					k = 0;
				}
			}
			if (last)
				goto out;
			goto one_by_one;
		}
		if (!went) {
			drops[tx_errno_reason(e)] += nd;
		} else {
			sent += nd;
			bytes += gbytes;
			dgrams += (uint64_t)nd * went;
			copy_errs += ndst - went;
			gsends += went;
			gsegs += nd;
		}
		nd = niov = 0;
		gbytes = 0;
		if (last)
			break;
	}
	goto out;

one_by_one:
	while ((n = gso_next(&g->st, g->out, VX_GSO_OUT, g->hdr)) > 0) {
		unsigned w;

		for (int i = 0; i < n; i++)
			ptr[i] = &g->out[i];
		w = vx_tx_burst(p, q, ptr, (unsigned)n);
		sent += w;
		burst_lost += (unsigned)n - w;
	}
out:
	/* Refused whole: one drop; cut short: the segments not made. */
	if (n < 0)
		drops[-n < PV_DROP_MAX ? -n : PV_DROP_PKT_HDR_GSO] +=
			total > 0 ? (uint64_t)total - g->st.next : 1;
	pv_stat_add(&vp->gso_sends, gsends);
	pv_stat_add(&vp->gso_segs, gsegs);
	pv_stat_add(&v->encap_pkts, dgrams);
	if (total > 0 && (unsigned)total > sent + burst_lost)
		pv_stat_add(&v->tx_drops, (unsigned)total - sent - burst_lost);
	else if (total <= 0)
		pv_stat_add(&v->tx_drops, 1);
	pv_stat_add(&vp->tx_copy_errs, copy_errs);
	port_count_tx(p, q, gsegs, bytes, 0, drops);
	return sent;
}

static unsigned vx_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			    unsigned n)
{
	struct vx_port *vp = vp_of(p);
	uint64_t drops[PV_DROP_MAX] = { 0 }, bytes = 0, csums = 0, dgrams = 0;
	uint64_t copy_errs = 0, now = 0;
	uint16_t ok[PKT_BURST_MAX] = { 0 };
	uint8_t err[PKT_BURST_MAX] = { 0 }, sock[PKT_BURST_MAX];
	uint8_t niov[PKT_BURST_MAX];
	bool learned[PKT_BURST_MAX], want[PKT_BURST_MAX];
	uint32_t used = 0;
	unsigned sent = 0;
	struct vx_vni *v;
	const struct vx_rset *rs;

	n = PV_MIN(n, PKT_BURST_MAX);
	if (!n)
		return 0;
	v = vx_vni_tx(vp, pkts[0]);
	if (unlikely(!v)) {
		/* The switch sends a trunk only its networks' frames. */
		drops[PV_DROP_VX_UNKNOWN_VNI] = 1;
		sent = vx_tx_burst(p, q, pkts + 1, n - 1);
		port_count_tx(p, q, 0, 0, 0, drops);
		return sent;
	}
	/* One set for the whole burst: the control thread may publish another. */
	rs = __atomic_load_n(&v->rset, __ATOMIC_ACQUIRE);
	/*
	 * A GSO packet, or a frame of another VNI, splits the burst where it
	 * is, in order: the scratch below is the thread's, and its segments
	 * go through it too. The switch hands a trunk one network per burst.
	 */
	for (unsigned j = 0; j < n; j++) {
		if (unlikely(vp->multi && j && pkts[j]->net != pkts[0]->net)) {
			sent = vx_tx_burst(p, q, pkts, j);
			return sent + vx_tx_burst(p, q, pkts + j, n - j);
		}
		if (pkts[j]->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			sent = j ? vx_tx_burst(p, q, pkts, j) : 0;
			sent += vx_tx_gso(p, q, pkts[j]);
			if (j + 1 < n)
				sent += vx_tx_burst(p, q, pkts + j + 1, n - j - 1);
			return sent;
		}
	}
	/* Pass 1: each packet's iovec (header + frame) and its destination. */
	for (unsigned j = 0; j < n; j++) {
		struct pkt *pk = pkts[j];
		struct iovec *iov = vx_iov[j];
		struct vxlan_addr ip;
		uint8_t dst[ETH_ALEN];
		unsigned k = 1;
		uint32_t h;

		want[j] = false;
		if (pk->len > vp->max_frame) {
			drops[PV_DROP_VX_MTU]++;
			continue;
		}
		if (pk->len < ETH_HLEN) {
			drops[PV_DROP_PKT_TRUNC]++;
			continue;
		}
		iov[0].iov_base = v->hdr;
		iov[0].iov_len = VXLAN_HLEN;
		if (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			uint32_t off;
			unsigned c;

			if (pkt_csum_complete(pk, &vx_csum[j], &off) != PV_DROP_NONE) {
				drops[PV_DROP_PKT_HDR_CSUM]++;
				continue;
			}
			c = pkt_patch_iov(pk, off, &vx_csum[j], iov + 1,
					  PKT_MAX_SEGS + 2);
			if (!c) {
				drops[PV_DROP_PKT_TOO_BIG]++;
				continue;
			}
			k += c;
			csums++;
		} else {
			memcpy(iov + 1, pk->seg, pk->nseg * sizeof(*iov));
			k += pk->nseg;
		}
		niov[j] = (uint8_t)k;
		pkt_read(pk, dst, ETH_ALEN);
		if (!now)
			now = pv_now_ns();
		learned[j] = !pkt_mac_is_multicast(dst) &&
			     vx_remote_lookup(v, dst, now, &ip);
		if (learned[j]) {
			addr_to_sa(vp, &ip, &vx_learned[j]);
		} else if (!rs->n) {
			drops[PV_DROP_VX_NO_REMOTE]++;
			continue;
		}
		pkt_parse_l3(pk);
		h = pkt_flow_hash(pk);
		sock[j] = (uint8_t)(h % VX_TX_SOCKS);
		used |= 1u << sock[j];
		want[j] = true;
	}
	/* Pass 2: per socket, one sendmmsg per VX_MSGS datagrams. */
	for (unsigned s = 0; s < VX_TX_SOCKS; s++) {
		unsigned nm = 0;

		if (!(used & (1u << s)))
			continue;
		for (unsigned j = 0; j < n; j++) {
			unsigned nd;

			if (!want[j] || sock[j] != s)
				continue;
			nd = learned[j] ? 1 : rs->n;
			for (unsigned r = 0; r < nd; r++) {
				struct msghdr *h = &vx_msgs[nm].msg_hdr;

				memset(h, 0, sizeof(*h));
				h->msg_name = learned[j] ? &vx_learned[j] :
					      (void *)&rs->sa[r];
				h->msg_namelen = vp->salen;
				h->msg_iov = vx_iov[j];
				h->msg_iovlen = niov[j];
				vx_msg_pkt[nm] = (uint8_t)j;
				if (++nm == VX_MSGS) {
					vx_flush(vp, vp->tx_fd[s], nm, ok, err);
					nm = 0;
				}
			}
		}
		if (nm)
			vx_flush(vp, vp->tx_fd[s], nm, ok, err);
	}
	for (unsigned j = 0; j < n; j++) {
		if (!want[j])
			continue;
		dgrams += ok[j];
		if (ok[j]) {
			sent++;
			bytes += pkts[j]->len;
			copy_errs += (learned[j] ? 1 : rs->n) - ok[j];
		} else {
			drops[err[j] ? err[j] : PV_DROP_TX_PORT_ERR]++;
		}
	}
	pv_stat_add(&v->encap_pkts, dgrams);
	if (sent < n)
		pv_stat_add(&v->tx_drops, n - sent);
	pv_stat_add(&vp->tx_copy_errs, copy_errs);
	port_count_tx(p, q, sent, bytes, csums, drops);
	return sent;
}

/* @v's network name, for the control thread. */
static const char *vx_net_name(const struct vx_port *vp, const struct vx_vni *v)
{
	unsigned net = vp->multi ? v->net : vp->port.net;

	return vp->sw ? vp->sw->net_name[net % SW_MAX_NETS] : "default";
}

/* @rs's addresses as a new json array of strings. */
static json_t *rset_json(const struct vx_rset *rs)
{
	json_t *a = json_array();
	char s[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < rs->n; i++)
		json_array_append_new(a, json_string(sa_fmt(&rs->sa[i], s, sizeof(s))));
	return a;
}

static uint64_t ld(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void vx_stats_json(struct port *p, void *obj)
{
	struct vx_port *vp = vp_of(p);
	json_t *o, *rem, *sp, *vnis;
	char a[INET6_ADDRSTRLEN];
	uint64_t now = pv_now_ns(), macs = 0, smacs = 0, learned = 0, moved = 0;
	uint64_t refused = 0, encap = 0, decap = 0, mmax = 0;

	if (!obj)
		return;
	o = json_object();
	rem = json_array();
	sp = json_array();
	vnis = json_array();
	for (unsigned i = 0; i < vp->nvni; i++) {
		const struct vx_vni *v = &vp->vni[i];
		/* The control thread publishes the sets: a plain load. */
		const struct vx_rset *rs = v->rset;
		json_t *vo = json_object();
		unsigned vm = vxlan_fdb_count(&v->fdb, now);
		unsigned vs = vxlan_fdb_count(&v->sfdb, now);

		for (unsigned r = 0; r < rs->n; r++) {
			bool dup = false;

			/* the port's remotes: every VNI's, each address once */
			for (unsigned k = 0; k < i && !dup; k++)
				for (unsigned m = 0; m < vp->vni[k].rset->n && !dup; m++)
					dup = !memcmp(&vp->vni[k].rset->sa[m],
						      &rs->sa[r], sizeof(rs->sa[r]));
			if (!dup)
				json_array_append_new(rem, json_string(
					sa_fmt(&rs->sa[r], a, sizeof(a))));
		}
		macs += vm;
		smacs += vs;
		mmax += v->fdb.nbuckets * VXLAN_FDB_WAYS;
		learned += ld(&v->fdb.learned);
		moved += ld(&v->fdb.moved);
		refused += ld(&v->fdb.refused);
		encap += ld(&v->encap_pkts);
		decap += ld(&v->decap_pkts);
		json_object_set_new(vo, "vni", json_integer(v->vni));
		json_object_set_new(vo, "network", json_string(vx_net_name(vp, v)));
		json_object_set_new(vo, "remotes", rset_json(rs));
		json_object_set_new(vo, "macs", json_integer(vm));
		json_object_set_new(vo, "static_macs", json_integer(vs));
		json_object_set_new(vo, "macs_learned",
				    json_integer((json_int_t)ld(&v->fdb.learned)));
		json_object_set_new(vo, "encap_pkts",
				    json_integer((json_int_t)ld(&v->encap_pkts)));
		json_object_set_new(vo, "decap_pkts",
				    json_integer((json_int_t)ld(&v->decap_pkts)));
		json_object_set_new(vo, "tx_drops",
				    json_integer((json_int_t)ld(&v->tx_drops)));
		json_array_append_new(vnis, vo);
	}
	for (unsigned i = 0; i < VX_TX_SOCKS; i++)
		json_array_append_new(sp, json_integer(vp->tx_sport[i]));
	/* The first VNI: the label of the port's families (its only one, mostly). */
	json_object_set_new(o, "vni", json_integer(vp->vni[0].vni));
	json_object_set_new(o, "local", json_string(sa_fmt(&vp->local, a, sizeof(a))));
	json_object_set_new(o, "dstport", json_integer(vp->dstport));
	json_object_set_new(o, "udpcsum", json_boolean(vp->udpcsum));
	json_object_set_new(o, "underlay_mtu", json_integer(vp->mtu));
	json_object_set_new(o, "max_frame", json_integer(vp->max_frame));
	json_object_set_new(o, "remotes", rem);
	json_object_set_new(o, "src_ports", sp);
	json_object_set_new(o, "macs", json_integer((json_int_t)macs));
	json_object_set_new(o, "macs_max", json_integer((json_int_t)mmax));
	json_object_set_new(o, "static_macs", json_integer((json_int_t)smacs));
	json_object_set_new(o, "macs_learned", json_integer((json_int_t)learned));
	json_object_set_new(o, "macs_moved", json_integer((json_int_t)moved));
	json_object_set_new(o, "macs_refused", json_integer((json_int_t)refused));
	json_object_set_new(o, "encap_pkts", json_integer((json_int_t)encap));
	json_object_set_new(o, "decap_pkts", json_integer((json_int_t)decap));
	json_object_set_new(o, "tx_copy_errors", json_integer((json_int_t)
			    __atomic_load_n(&vp->tx_copy_errs, __ATOMIC_RELAXED)));
	json_object_set_new(o, "udp_gso", json_boolean(
			    __atomic_load_n(&vp->udp_gso, __ATOMIC_RELAXED)));
	json_object_set_new(o, "gso_sends", json_integer((json_int_t)
			    __atomic_load_n(&vp->gso_sends, __ATOMIC_RELAXED)));
	json_object_set_new(o, "gso_segs", json_integer((json_int_t)
			    __atomic_load_n(&vp->gso_segs, __ATOMIC_RELAXED)));
	json_object_set_new(o, "gso_fallbacks", json_integer((json_int_t)
			    __atomic_load_n(&vp->gso_fallbacks, __ATOMIC_RELAXED)));
	json_object_set_new(o, "udp_gro", json_boolean(vp->udp_gro));
	json_object_set_new(o, "gro_recvs", json_integer((json_int_t)
			    __atomic_load_n(&vp->gro_recvs, __ATOMIC_RELAXED)));
	json_object_set_new(o, "gro_segs", json_integer((json_int_t)
			    __atomic_load_n(&vp->gro_segs, __ATOMIC_RELAXED)));
	json_object_set_new(o, "vnis", vnis);
	json_object_set_new(obj, "vxlan", o);
}

static void vx_destroy(struct port *p)
{
	struct vx_port *vp = vp_of(p);

	if (vp->rx_fd >= 0)
		close(vp->rx_fd);
	for (unsigned i = 0; i < VX_TX_SOCKS; i++)
		if (vp->tx_fd[i] >= 0)
			close(vp->tx_fd[i]);
	for (unsigned i = 0; i < SW_MAX_NETS; i++) {
		vxlan_fdb_free(&vp->vni[i].fdb);
		vxlan_fdb_free(&vp->vni[i].sfdb);
		free(vp->vni[i].rset);
	}
	free(vp->pool);
	free(vp);
}

static const struct port_ops vx_port_ops = {
	.type = "vxlan",
	.tx_burst = vx_tx_burst,
	.rx_queues = port_rx_one_queue,
	.rx_burst = vx_rx_burst,
	.rx_done = vx_rx_done,
	.rx_fd = vx_rx_fd,
	.release = vx_release,
	.stats_json = vx_stats_json,
	.destroy = vx_destroy,
};

/* Parses a decimal in [lo, hi] into *out; false if it is not one. */
static bool opt_uint(const char *val, unsigned long lo, unsigned long hi,
		     unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*val || *val == '-')
		return false;
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool vx_take_opt(void *ctx, const char *key, const char *val)
{
	struct vx_port *vp = ctx;
	unsigned long v;

	if (!strcmp(key, "vni")) {
		/* vni=N (the port's network=) or vni=NETWORK:N */
		const char *colon = strrchr(val, ':');
		char *net = vp->vni_net[vp->nvni];

		if (vp->nvni == SW_MAX_NETS)
			return false;
		if (!opt_uint(colon ? colon + 1 : val, 0, VXLAN_VNI_MAX, &v))
			return false;
		if (colon) {
			size_t l = (size_t)(colon - val);

			if (!l || l >= SW_NET_NAME_MAX)
				return false;
			memcpy(net, val, l);
			net[l] = '\0';
			vp->multi = true;
		} else {
			vp->plain_vni = true;
		}
		vp->vni[vp->nvni++].vni = (uint32_t)v;
		return true;
	}
	if (!strcmp(key, "local"))
		return sa_parse(val, &vp->local);
	if (!strcmp(key, "remote")) {
		/* remote=IP (every VNI) or remote=NETWORK:IP (that one's) */
		struct vx_rspec *r = &vp->rspec[vp->nrspec];
		const char *colon = strchr(val, ':');

		if (vp->nrspec == VX_MAX_RSPEC)
			return false;
		vp->nrspec++;
		if (sa_parse(val, &r->sa))
			return true;
		if (!colon || colon == val ||
		    (size_t)(colon - val) >= SW_NET_NAME_MAX)
			return false;
		memcpy(r->net, val, (size_t)(colon - val));
		r->net[colon - val] = '\0';
		return sa_parse(colon + 1, &r->sa);
	}
	if (!strcmp(key, "dstport")) {
		if (!opt_uint(val, 1, 65535, &v))
			return false;
		vp->dstport = (uint16_t)v;
		return true;
	}
	if (!strcmp(key, "udpcsum")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return false;
		vp->udpcsum = !strcmp(val, "on");
		return true;
	}
	if (!strcmp(key, "mtu")) {
		if (!opt_uint(val, 576, 65535, &v))
			return false;
		vp->mtu = (unsigned)v;
		return true;
	}
	if (!strcmp(key, "macs")) {
		if (!opt_uint(val, 1, 1u << 20, &v))
			return false;
		vp->fdb_max = (unsigned)v;
		return true;
	}
	return false;
}

static const struct port_opts_spec vx_opts = {
	.type = "vxlan",
	.usage = "vni=0..16777215 or vni=NETWORK:VNI (repeatable, one per network), "
		 "local=IP, remote=IP or remote=NETWORK:IP (repeatable, up to 32 "
		 "per VNI), dstport=N (4789), udpcsum=on|off, mtu=N (underlay), "
		 "macs=N (4096, per VNI)",
	.too_long = "option too long",
	.val_max = 64,
	.take = vx_take_opt,
};

/* The MTU of the interface that holds @local here; 0 if none does. */
static unsigned local_if_mtu(const union vx_sa *local)
{
	struct ifaddrs *ifs, *i;
	unsigned mtu = 0;

	if (getifaddrs(&ifs) < 0)
		return 0;
	for (i = ifs; i && !mtu; i = i->ifa_next) {
		struct ifreq ifr;
		int s;

		if (!i->ifa_addr || i->ifa_addr->sa_family != local->sa.sa_family)
			continue;
		if (local->sa.sa_family == AF_INET ?
		    memcmp(&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
			   &local->v4.sin_addr, 4) :
		    memcmp(&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
			   &local->v6.sin6_addr, 16))
			continue;
		s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			break;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", i->ifa_name);
		if (ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
			mtu = (unsigned)ifr.ifr_mtu;
		close(s);
	}
	freeifaddrs(ifs);
	return mtu;
}

/* A UDP socket of the port's family bound to local:@port; fd or -errno. */
static int vx_socket(struct vx_port *vp, uint16_t port, bool tx)
{
	union vx_sa a = vp->local;
	int fd, one = 1, e, sz;

	fd = socket(vp->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (vp->family == AF_INET6) {
		a.v6.sin6_port = htons(port);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			goto err;
	} else {
		a.v4.sin_port = htons(port);
	}
	if (tx) {
		/* Never fragment: a frame that does not fit is a named drop. */
		int pmtu = IP_PMTUDISC_DO, pmtu6 = IPV6_PMTUDISC_DO, off = 1;
		/* Nothing is read from a sending socket: drop what arrives. */
		struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
		struct sock_fprog prog = { .len = 1, .filter = &drop_all };

		if ((vp->family == AF_INET ?
		     setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) :
		     setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu6,
				sizeof(pmtu6))) < 0)
			goto err;
		if (!vp->udpcsum &&
		    (vp->family == AF_INET ?
		     setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &off, sizeof(off)) :
		     setsockopt(fd, IPPROTO_UDP, UDP_NO_CHECK6_TX, &off,
				sizeof(off))) < 0)
			goto err;
		(void)setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
		sz = VX_SNDBUF;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	} else {
		/* Accept IPv6 datagrams without a checksum (RFC 6935), as Linux can. */
		if (vp->family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_UDP, UDP_NO_CHECK6_RX, &one,
					 sizeof(one));
		/* Datagrams of a flow, coalesced: one receive, cut here. */
		vp->udp_gro = setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one,
					 sizeof(one)) == 0;
		sz = VX_RCVBUF;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	if (bind(fd, &a.sa, vp->salen) < 0)
		goto err;
	return fd;
err:
	e = -errno;
	close(fd);
	return e;
}

/*
 * The VNIs given: no VNI or network twice, plain and NETWORK: forms not
 * mixed, network= only with the plain form; then each VNI's flood set from
 * remote=. 0, or -1 with the message in @err.
 */
static int vx_check_vnis(struct vx_port *vp, const char *name, const char *opts,
			 char *err, size_t errlen)
{
	char key[32], val[PORT_OPT_VAL_MAX];
	const char *cur = opts;
	char a[INET6_ADDRSTRLEN];

	if (!vp->nvni || !vp->local.sa.sa_family) {
		snprintf(err, errlen, "port %s: vni= and local= are required", name);
		return -1;
	}
	if (vp->multi && vp->plain_vni) {
		snprintf(err, errlen, "port %s: vni=N and vni=NETWORK:N do not mix "
			 "(name every VNI's network)", name);
		return -1;
	}
	if (!vp->multi && vp->nvni > 1) {
		snprintf(err, errlen, "port %s: several VNIs need a network each: "
			 "vni=NETWORK:VNI", name);
		return -1;
	}
	while (vp->multi && port_opt_next(&cur, key, sizeof(key), val,
					  sizeof(val)) > 0) {
		if (!strcmp(key, "network")) {
			snprintf(err, errlen, "port %s: network= does not go with "
				 "vni=NETWORK:VNI (each VNI names its network)", name);
			return -1;
		}
	}
	for (unsigned i = 0; i < vp->nvni; i++) {
		for (unsigned k = 0; k < i; k++) {
			if (vp->vni[k].vni == vp->vni[i].vni) {
				snprintf(err, errlen, "port %s: VNI %u given twice",
					 name, vp->vni[i].vni);
				return -1;
			}
			if (vp->multi && !strcmp(vp->vni_net[k], vp->vni_net[i])) {
				snprintf(err, errlen, "port %s: network %s given two "
					 "VNIs (one VNI per network on a port)", name,
					 vp->vni_net[i]);
				return -1;
			}
		}
	}
	for (unsigned r = 0; r < vp->nrspec; r++) {
		struct vx_rspec *rs = &vp->rspec[r];
		bool found = !rs->net[0];

		if (rs->sa.sa.sa_family != vp->family) {
			snprintf(err, errlen, "port %s: remote=%s is not of local='s "
				 "address family", name, sa_fmt(&rs->sa, a, sizeof(a)));
			return -1;
		}
		if (vp->family == AF_INET6)
			rs->sa.v6.sin6_port = htons(vp->dstport);
		else
			rs->sa.v4.sin_port = htons(vp->dstport);
		for (unsigned i = 0; i < vp->nvni && !found; i++)
			found = vp->multi && !strcmp(vp->vni_net[i], rs->net);
		if (!found) {
			snprintf(err, errlen, "port %s: remote=%s:%s: the port has no "
				 "vni=%s:VNI", name, rs->net,
				 sa_fmt(&rs->sa, a, sizeof(a)), rs->net);
			return -1;
		}
	}
	for (unsigned i = 0; i < vp->nvni; i++) {
		struct vx_vni *v = &vp->vni[i];

		v->rset = calloc(1, sizeof(*v->rset));
		if (!v->rset) {
			snprintf(err, errlen, "port %s: out of memory", name);
			return -1;
		}
		for (unsigned r = 0; r < vp->nrspec; r++) {
			const struct vx_rspec *rs = &vp->rspec[r];
			bool dup = false;

			if (rs->net[0] && strcmp(rs->net, vp->vni_net[i]))
				continue;
			for (unsigned k = 0; k < v->rset->n; k++)
				dup |= !memcmp(&v->rset->sa[k], &rs->sa, sizeof(rs->sa));
			if (dup)
				continue;
			if (v->rset->n == VX_MAX_REMOTES) {
				snprintf(err, errlen, "port %s: VNI %u: more than %d "
					 "remotes", name, v->vni, VX_MAX_REMOTES);
				return -1;
			}
			v->rset->sa[v->rset->n++] = rs->sa;
		}
		vxlan_hdr_build(v->hdr, v->vni);
	}
	return 0;
}

/*
 * The networks of vni=NETWORK:VNI in @sw: checked (@create false: the
 * ones that would be new counted against the bound) or created and the
 * port made a trunk of them. 0, or -1 with the message in @err.
 */
static int vx_nets(struct vx_port *vp, struct sw *sw, const char *name,
		   bool create, char *err, size_t errlen)
{
	unsigned fresh = 0;

	if (!vp->multi)
		return 0;
	if (!sw) {
		snprintf(err, errlen, "port %s: vni=NETWORK:VNI needs a switch", name);
		return -1;
	}
	for (unsigned i = 0; i < vp->nvni; i++) {
		int net = sw_net_get(sw, vp->vni_net[i], create, err, errlen);

		if (net < 0) {
			char m[160];

			snprintf(m, sizeof(m), "%s", err);
			snprintf(err, errlen, "port %s: %s", name, m);
			return -1;
		}
		if (!create) {
			fresh += (unsigned)net >= sw->nnets;
			if (sw->nnets + fresh > SW_MAX_NETS) {
				snprintf(err, errlen, "port %s: network '%s': too many "
					 "networks (at most %d)", name, vp->vni_net[i],
					 SW_MAX_NETS);
				return -1;
			}
			continue;
		}
		vp->vni[i].net = (uint8_t)net;
		vp->by_net[net] = (uint8_t)(i + 1);
		/* The switch's trunk: in each VNI's network, none untagged. */
		vp->port.vlan[i].net = (uint8_t)net;
		vp->port.vlan[i].vid = 0;
	}
	if (create) {
		vp->port.nvlans = (uint8_t)vp->nvni;
		vp->port.untagged_drop = true;
	}
	return 0;
}

static bool is_vxlan(const struct port *p);

/* Another vxlan port of @sw on local:dstport already; NULL if none. */
static const struct vx_port *vx_same_socket(const struct vx_port *vp,
					    const struct sw *sw)
{
	for (unsigned i = 0; sw && i < sw->nports; i++) {
		const struct vx_port *o = (const struct vx_port *)sw->ports[i];

		if (is_vxlan(sw->ports[i]) && o->dstport == vp->dstport &&
		    o->family == vp->family &&
		    (vp->family == AF_INET6 ?
		     !memcmp(&o->local.v6.sin6_addr, &vp->local.v6.sin6_addr, 16) :
		     o->local.v4.sin_addr.s_addr == vp->local.v4.sin_addr.s_addr))
			return o;
	}
	return NULL;
}

struct port *port_vxlan_create(struct sw *sw, const char *name,
			       const char *opts, char *err, size_t errlen)
{
	struct vx_port *vp;
	const struct vx_port *other;
	char a[INET6_ADDRSTRLEN];
	int fd;

	vp = port_uplink_alloc(sizeof(*vp), name, &vx_port_ops, err, errlen);
	if (!vp)
		return NULL;
	vp->sw = sw;
	vp->rx_fd = -1;
	for (unsigned i = 0; i < VX_TX_SOCKS; i++)
		vp->tx_fd[i] = -1;
	vp->dstport = VXLAN_PORT_DEFAULT;
	vp->udpcsum = -1;
	vp->fdb_max = VXLAN_FDB_DEFAULT;
	if (port_opts_parse(&vx_opts, name, opts, vp, err, errlen) < 0)
		goto fail;
	vp->family = vp->local.sa.sa_family;
	vp->salen = vp->family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					      sizeof(struct sockaddr_in);
	if (vx_check_vnis(vp, name, opts, err, errlen) < 0 ||
	    vx_nets(vp, sw, name, false, err, errlen) < 0)
		goto fail;
	/* Linux's default for both families (udpcsum, udp6zerocsumtx off). */
	if (vp->udpcsum < 0)
		vp->udpcsum = 1;
	if (!vp->mtu)
		vp->mtu = local_if_mtu(&vp->local);
	if (!vp->mtu) {
		snprintf(err, errlen, "port %s: local=%s is no interface's address "
			 "here (give mtu= to bind it anyway)", name,
			 sa_fmt(&vp->local, a, sizeof(a)));
		goto fail;
	}
	vp->max_frame = vp->mtu + ETH_HLEN -
		(vp->family == AF_INET6 ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD_V4);
	/*
	 * TSO sends arrive whole. UDP GSO until the kernel refuses it (old
	 * kernels, udpcsum=off): learnt at the first send, not guessed.
	 */
	vp->port.gso_offload = true;
	vp->udp_gso = true;
	for (unsigned i = 0; i < vp->nvni; i++) {
		if (vxlan_fdb_init(&vp->vni[i].sfdb, vp->fdb_max, UINT64_MAX) < 0 ||
		    vxlan_fdb_init(&vp->vni[i].fdb, vp->fdb_max,
				   (sw ? sw->fdb.ageing_ns : 0) ?:
				   300ULL * 1000000000ULL) < 0) {
			snprintf(err, errlen, "port %s: out of memory", name);
			goto fail;
		}
	}
	vp->pool = malloc((size_t)VX_POOL * VX_BUF_LEN);
	port_bufs_init(&vp->bufs, vp->free_idx, VX_POOL);
	if (!vp->pool) {
		snprintf(err, errlen, "port %s: out of memory", name);
		goto fail;
	}
	/* One socket per local:dstport: its VNIs are one port's (vni=NET:VNI). */
	other = vx_same_socket(vp, sw);
	if (other) {
		snprintf(err, errlen, "port %s: %s port %u is vxlan port %s's "
			 "already: give that one port several VNIs "
			 "(vni=NETWORK:VNI, repeated)", name,
			 sa_fmt(&vp->local, a, sizeof(a)), vp->dstport,
			 other->port.name);
		goto fail;
	}
	fd = vx_socket(vp, vp->dstport, false);
	if (fd < 0) {
		snprintf(err, errlen, "port %s: bind %s port %u: %s%s", name,
			 sa_fmt(&vp->local, a, sizeof(a)), vp->dstport, strerror(-fd),
			 fd == -EADDRINUSE ? " (another program, or another "
			 "switch's port: several VNIs share one port, "
			 "vni=NETWORK:VNI)" : "");
		goto fail;
	}
	vp->rx_fd = fd;
	for (unsigned i = 0; i < VX_TX_SOCKS; i++) {
		union vx_sa b;
		socklen_t bl = sizeof(b);

		fd = vx_socket(vp, 0, true);
		if (fd < 0) {
			snprintf(err, errlen, "port %s: sending socket: %s", name,
				 strerror(-fd));
			goto fail;
		}
		vp->tx_fd[i] = fd;
		if (getsockname(fd, &b.sa, &bl) == 0)
			vp->tx_sport[i] = ntohs(vp->family == AF_INET6 ?
						b.v6.sin6_port : b.v4.sin_port);
	}
	/* Last: a refused port creates no network. */
	if (vx_nets(vp, sw, name, true, err, errlen) < 0)
		goto fail;
	for (unsigned i = 0; i < vp->nvni; i++)
		pv_info("port %s: vxlan vni %u%s%s, local %s port %u, %u remote(s), "
			"underlay MTU %u: inner frames up to %u bytes, udp checksum %s",
			name, vp->vni[i].vni, vp->multi ? " network " : "",
			vp->multi ? vp->vni_net[i] : "",
			sa_fmt(&vp->local, a, sizeof(a)), vp->dstport,
			vp->vni[i].rset->n, vp->mtu, vp->max_frame,
			vp->udpcsum ? "on" : "off");
	return &vp->port;

fail:
	vx_destroy(&vp->port);
	return NULL;
}

static bool is_vxlan(const struct port *p)
{
	return p && p->ops == &vx_port_ops;
}

/* Parses @str as a VTEP of @vp's family, with its dstport. */
static int remote_parse(const struct vx_port *vp, const char *str,
			union vx_sa *s, char *err, size_t errlen)
{
	if (!sa_parse(str, s)) {
		snprintf(err, errlen, "port %s: '%s' is not an IP address",
			 vp->port.name, str);
		return -EINVAL;
	}
	if (s->sa.sa_family != vp->family) {
		snprintf(err, errlen, "port %s: %s is not of local='s address family",
			 vp->port.name, str);
		return -EINVAL;
	}
	if (vp->family == AF_INET6)
		s->v6.sin6_port = htons(vp->dstport);
	else
		s->v4.sin_port = htons(vp->dstport);
	return 0;
}

static bool sa_same(const union vx_sa *a, const union vx_sa *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, 16);
	return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
}

/*
 * The VNI @vni of @vp (< 0: its only one). NULL with a sentence in @err
 * if it has none such, or several and @vni < 0.
 */
static struct vx_vni *vni_pick(struct vx_port *vp, int64_t vni, char *err,
			       size_t errlen)
{
	struct vx_vni *v;

	if (vni < 0) {
		if (vp->nvni == 1)
			return &vp->vni[0];
		snprintf(err, errlen, "port %s carries %u VNIs: say which (vni N)",
			 vp->port.name, vp->nvni);
		return NULL;
	}
	v = vni <= VXLAN_VNI_MAX ? vx_vni_find(vp, (uint32_t)vni) : NULL;
	if (!v)
		snprintf(err, errlen, "port %s has no VNI %lld", vp->port.name,
			 (long long)vni);
	return v;
}

int vxlan_port_remote(struct port *p, int64_t vni, const char *ip, bool add,
		      void **old, char *err, size_t errlen)
{
	struct vx_port *vp = vp_of(p);
	struct vx_rset *cur, *nr;
	struct vx_vni *v;
	union vx_sa s;
	unsigned at = VX_MAX_REMOTES;
	int rc;

	*old = NULL;
	if (!is_vxlan(p)) {
		snprintf(err, errlen, "port %s is not a vxlan port", p ? p->name : "?");
		return -EINVAL;
	}
	v = vni_pick(vp, vni, err, errlen);
	if (!v)
		return -ENOENT;
	rc = remote_parse(vp, ip, &s, err, errlen);
	if (rc)
		return rc;
	cur = v->rset;
	for (unsigned i = 0; i < cur->n; i++)
		if (sa_same(&cur->sa[i], &s))
			at = i;
	if (add && at < VX_MAX_REMOTES) {
		snprintf(err, errlen, "port %s: remote %s exists", p->name, ip);
		return -EEXIST;
	}
	if (!add && at == VX_MAX_REMOTES) {
		snprintf(err, errlen, "port %s: no remote %s", p->name, ip);
		return -ENOENT;
	}
	if (add && cur->n == VX_MAX_REMOTES) {
		snprintf(err, errlen, "port %s: %u remotes already", p->name,
			 VX_MAX_REMOTES);
		return -ENOSPC;
	}
	nr = malloc(sizeof(*nr));
	if (!nr) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*nr = *cur;
	if (add) {
		nr->sa[nr->n++] = s;
	} else {
		/* Order kept: a flood's copies go out in the same order. */
		memmove(&nr->sa[at], &nr->sa[at + 1],
			(nr->n - at - 1) * sizeof(nr->sa[0]));
		nr->n--;
	}
	__atomic_store_n(&v->rset, nr, __ATOMIC_RELEASE);
	*old = cur;
	return 0;
}

int vxlan_port_mac(struct port *p, int64_t vni, const char *mac,
		   const char *ip, char *err, size_t errlen)
{
	struct vx_port *vp = vp_of(p);
	struct vxlan_addr a;
	struct vx_vni *v;
	union vx_sa s;
	uint8_t m[ETH_ALEN];
	int rc;

	if (!is_vxlan(p)) {
		snprintf(err, errlen, "port %s is not a vxlan port", p ? p->name : "?");
		return -EINVAL;
	}
	v = vni_pick(vp, vni, err, errlen);
	if (!v)
		return -ENOENT;
	if (pv_mac_parse(mac, m) < 0 || pkt_mac_is_multicast(m)) {
		snprintf(err, errlen, "port %s: '%s' is not a unicast MAC",
			 p->name, mac);
		return -EINVAL;
	}
	if (!ip) {
		if (vxlan_fdb_forget(&v->sfdb, m))
			return 0;
		snprintf(err, errlen, "port %s: no static MAC %s in VNI %u",
			 p->name, mac, v->vni);
		return -ENOENT;
	}
	rc = remote_parse(vp, ip, &s, err, errlen);
	if (rc)
		return rc;
	sa_to_addr(&s, &a);
	/* Its time is 0 and the table never ages: "seen" is never refreshed. */
	if (vxlan_fdb_learn(&v->sfdb, m, &a, 0) < 0) {
		snprintf(err, errlen, "port %s: static MAC table of VNI %u full",
			 p->name, v->vni);
		return -ENOSPC;
	}
	return 0;
}

struct mac_list_ctx {
	const struct vx_port *vp;
	uint32_t vni;
	json_t *a, *all;
};

static void mac_list_one(void *opaque, const uint8_t mac[ETH_ALEN],
			 const struct vxlan_addr *ip)
{
	struct mac_list_ctx *c = opaque;
	json_t *o = json_object();
	union vx_sa s;
	char m[18], a[INET6_ADDRSTRLEN];

	addr_to_sa(c->vp, ip, &s);
	snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	json_object_set_new(o, "mac", json_string(m));
	json_object_set_new(o, "vtep", json_string(sa_fmt(&s, a, sizeof(a))));
	json_object_set_new(o, "vni", json_integer(c->vni));
	json_array_append(c->a, o);
	json_array_append_new(c->all, o);
}

void *vxlan_port_json(struct port *p)
{
	struct vx_port *vp = vp_of(p);
	struct mac_list_ctx c;
	json_t *o, *rem, *vnis;
	char a[INET6_ADDRSTRLEN];

	if (!is_vxlan(p))
		return NULL;
	o = json_object();
	rem = json_array();
	vnis = json_array();
	c.vp = vp;
	c.all = json_array();
	for (unsigned i = 0; i < vp->nvni; i++) {
		const struct vx_vni *v = &vp->vni[i];
		json_t *vo = json_object();

		for (unsigned r = 0; r < v->rset->n; r++) {
			bool dup = false;

			/* every VNI's remotes, each address once */
			for (unsigned k = 0; k < i && !dup; k++)
				for (unsigned m = 0; m < vp->vni[k].rset->n && !dup; m++)
					dup = sa_same(&vp->vni[k].rset->sa[m],
						      &v->rset->sa[r]);
			if (!dup)
				json_array_append_new(rem, json_string(
					sa_fmt(&v->rset->sa[r], a, sizeof(a))));
		}
		c.vni = v->vni;
		c.a = json_array();
		/* The control thread is the static table's writer: plain reads. */
		vxlan_fdb_foreach(&v->sfdb, 1, mac_list_one, &c);
		json_object_set_new(vo, "vni", json_integer(v->vni));
		json_object_set_new(vo, "network", json_string(vx_net_name(vp, v)));
		json_object_set_new(vo, "remotes", rset_json(v->rset));
		json_object_set_new(vo, "macs", c.a);
		json_array_append_new(vnis, vo);
	}
	json_object_set_new(o, "name", json_string(p->name));
	/* The first VNI (the only one of a port of one): as before. */
	json_object_set_new(o, "vni", json_integer(vp->vni[0].vni));
	json_object_set_new(o, "local", json_string(sa_fmt(&vp->local, a, sizeof(a))));
	json_object_set_new(o, "remotes", rem);
	json_object_set_new(o, "macs", c.all);
	json_object_set_new(o, "vnis", vnis);
	return o;
}
