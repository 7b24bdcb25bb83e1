// SPDX-License-Identifier: MIT
/*
 * port_afpacket.c - an uplink on a host interface (a NIC, one end of a veth)
 * through an AF_PACKET socket
 *
 * Receive: a PACKET_MMAP TPACKET_V3 ring. The kernel fills whole blocks and
 * hands each over by setting TP_STATUS_USER in its header; a poll walks the
 * ready blocks, describes up to PKT_BURST_MAX frames as pkts over the ring
 * itself (no copy), forwards them, and only then gives the finished blocks
 * back (TP_STATUS_KERNEL). A block is handed over when full or after
 * AFP_BLOCK_TOV_MS, which bounds the latency a quiet link adds.
 *
 * Transmit: one sendmmsg() per burst (seed 003 send combining), each
 * message the vnet header and the packet's own segments: the only copy is
 * the kernel's. Several workers may transmit at once: each builds its
 * messages in thread-local scratch and the socket serialises in the kernel.
 *
 * Offloads: with PACKET_VNET_HDR (offered since Linux 2.6.29, with rings
 * since 4.9) partial checksums pass through both ways as NEEDS_CSUM. Without
 * it, transmit completes them and receive drops frames whose checksum the
 * kernel left unfinished (TP_STATUS_CSUMNOTREADY), counted. With the header
 * and tso=on (the default) GSO frames cross whole both ways (issue 14): the
 * kernel writes a GSO header in front of an aggregated frame (an interface's
 * GRO, a local sender's TSO through a veth) into the ring, whose 128 KB
 * blocks hold a 64 KiB frame, and packet_snd() takes one from us and
 * segments it only if the device cannot. tso=off, or a kernel without the
 * header, keeps every frame wire-sized: the switch segments for the port
 * and the port turns GRO off on its interface.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "pvnet/log.h"
#include "pvnet/switch.h"

#include "port_internal.h"

#define AFP_BLOCK_SIZE		(1u << 17)	/* holds a 64 KB frame */
#define AFP_BLOCK_NR		32		/* 4 MB of ring */
#define AFP_FRAME_SIZE		2048		/* V3 ignores it but checks it */
#define AFP_BLOCK_TOV_MS	1
#define AFP_VNET_LEN		10		/* struct virtio_net_hdr, legacy */
/* Blocks one burst may finish: a frame per block at worst, plus one. */
#define AFP_REL_MAX		(PKT_BURST_MAX + 1)

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING	23
#endif

struct afp_port {
	struct port port;
	int fd;
	int ifindex;
	char ifname[IF_NAMESIZE];
	bool vnet;			/* PACKET_VNET_HDR accepted */
	bool tso;			/* tso=on asked for (GSO needs vnet too) */
	uint8_t *ring;
	size_t ring_len;
	struct pv_ratelimit rl;
	/* Socket errors the kernel reported (ENETDOWN when the interface goes),
	 * read and cleared by the polling worker; last_err for stats. */
	uint64_t sock_errs;
	int last_err;
	/* Receive state: the one worker that polls queue 0 owns it. */
	unsigned cur;			/* block being read */
	unsigned left;			/* its frames not read yet */
	uint8_t *next;			/* its next frame, NULL: block not opened */
	/*
	 * Frames GRO holds pin their block: it goes back to the kernel when it
	 * is finished AND its last held frame is released (cookie = block).
	 */
	uint16_t held[AFP_BLOCK_NR];
	bool finished[AFP_BLOCK_NR];
	struct pkt pkts[PKT_BURST_MAX];
	/* Blocks the last burst finished, returned by afp_rx_done(). */
	struct tpacket_block_desc *rel[AFP_REL_MAX];
	unsigned nrel;
};

/* Transmit scratch of the calling worker: one burst of messages. */
static __thread struct mmsghdr afp_msgs[PKT_BURST_MAX];
static __thread struct iovec afp_iov[PKT_BURST_MAX][PKT_MAX_SEGS + 5];
static __thread uint8_t afp_tag[PKT_BURST_MAX][4];
static __thread struct virtio_net_hdr afp_hdr[PKT_BURST_MAX];
static __thread uint16_t afp_csum[PKT_BURST_MAX];

static struct afp_port *ap_of(struct port *p)
{
	return (struct afp_port *)p;
}

static struct tpacket_block_desc *block(struct afp_port *ap, unsigned i)
{
	return (struct tpacket_block_desc *)(ap->ring + (size_t)i * AFP_BLOCK_SIZE);
}

/* Describes the frame at @h as @pk over the ring; returns the drop reason. */
static enum pv_drop frame_to_pkt(struct afp_port *ap, struct tpacket3_hdr *h,
				 struct pkt *pk)
{
	uint8_t *frame = (uint8_t *)h + h->tp_mac;
	uint32_t len = h->tp_snaplen;
	enum pv_drop why;

	/* The limit for the frame's kind is nethdr_check()'s (GSO or not). */
	if (h->tp_len > (ap->port.gso_offload ? PV_FRAME_GSO_MAX : PV_FRAME_MAX))
		return PV_DROP_PKT_TOO_LONG;
	/* The kernel writes these; still, never walk outside the block. */
	if ((size_t)h->tp_mac + len > AFP_BLOCK_SIZE)
		return PV_DROP_PKT_TOO_BIG;
	if (len < h->tp_len)
		return PV_DROP_PKT_TOO_BIG;	/* truncated to the block */
	if (len < ETH_HLEN)
		return PV_DROP_PKT_TRUNC;
	memset(&pk->vh, 0, sizeof(pk->vh));
	if (ap->vnet) {
		memcpy(&pk->vh, frame - AFP_VNET_LEN, AFP_VNET_LEN);
		why = port_vnet_rx(&pk->vh, len, ap->port.gso_offload);
		if (why != PV_DROP_NONE)
			return why;
	} else if (h->tp_status & TP_STATUS_CSUMNOTREADY) {
		/* Where the checksum starts is not said without a vnet header. */
		return PV_DROP_PKT_BAD_CSUM;
	}
	pk->len = len;
	pk->seg[0].iov_base = frame;
	pk->seg[0].iov_len = len;
	pk->nseg = 1;
	/* A tag the kernel took off (VLAN acceleration) is in tp_vlan_tci. */
	if (unlikely(port_is_trunk(&ap->port)))
		return port_vlan_rx(&ap->port, pk, (h->tp_status & TP_STATUS_VLAN_VALID) ?
				    (int)(h->hv1.tp_vlan_tci & 0x0fff) : -1);
	return PV_DROP_NONE;
}

/*
 * Finished blocks go back to the kernel once the destinations copied out
 * of them; a block GRO still reads from waits for afp_release().
 */
static void release_finished(struct afp_port *ap)
{
	for (unsigned i = 0; i < ap->nrel; i++) {
		unsigned b = (unsigned)(((uint8_t *)ap->rel[i] - ap->ring) /
					AFP_BLOCK_SIZE);

		if (ap->held[b])
			ap->finished[b] = true;
		else
			pv_store_release(&ap->rel[i]->hdr.bh1.block_status,
					 TP_STATUS_KERNEL);
	}
	ap->nrel = 0;
}

static unsigned afp_rx_burst(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned max, unsigned *taken)
{
	struct afp_port *ap = ap_of(p);
	unsigned got = 0, m = 0, bad = 0, gso = 0;
	uint64_t drops[PV_DROP_MAX] = { 0 };

	*taken = 0;
	if (q != 0)
		return 0;
	for (;;) {
		while (got < max && ap->nrel < AFP_REL_MAX) {
			struct tpacket_block_desc *bd = block(ap, ap->cur);
			struct tpacket3_hdr *h;
			struct pkt *pk;
			enum pv_drop why;

			if (!ap->next) {
				if (!(pv_load_acquire(&bd->hdr.bh1.block_status) &
				      TP_STATUS_USER))
					break;
				ap->left = bd->hdr.bh1.num_pkts;
				ap->next = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
			}
			if (ap->left == 0 ||
			    ap->next < (uint8_t *)bd ||
			    ap->next >= (uint8_t *)bd + AFP_BLOCK_SIZE) {
				/* Finished: give it back once the burst is done. */
				ap->rel[ap->nrel++] = bd;
				ap->next = NULL;
				ap->cur = (ap->cur + 1) % AFP_BLOCK_NR;
				continue;
			}
			h = (struct tpacket3_hdr *)ap->next;
			ap->pkts[m].cookie = ap->cur;
			ap->pkts[m].held = false;
			ap->next += h->tp_next_offset ? h->tp_next_offset : AFP_BLOCK_SIZE;
			ap->left--;
			got++;
			pk = &ap->pkts[m];
			why = frame_to_pkt(ap, h, pk);
			if (why != PV_DROP_NONE) {
				drops[why]++;
				bad++;
				continue;
			}
			gso += pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE;
			pkts[m++] = pk;
		}
		/* Only empty blocks so far: hand them back and look again. */
		if (got || !ap->nrel)
			break;
		release_finished(ap);
	}
	if (bad)
		port_count_rx_drops(p, bad, drops);
	if (gso)
		pv_stat_add(&p->st.rx_gso_pkts, gso);
	/*
	 * Pin every frame's block before forwarding: GRO may hold a frame
	 * and even release it again within sw_forward_burst(), so the
	 * count must already include it. afp_rx_done() unpins.
	 */
	for (unsigned i = 0; i < m; i++)
		ap->held[ap->pkts[i].cookie]++;
	*taken = got;
	return m;
}

static void afp_rx_done(struct port *p, unsigned q, struct pkt **pkts,
			unsigned n)
{
	struct afp_port *ap = ap_of(p);

	(void)q;
	(void)pkts;
	for (unsigned i = 0; i < n; i++)
		if (!ap->pkts[i].held)
			ap->held[ap->pkts[i].cookie]--;
	release_finished(ap);
}

/* GRO is done with frames it held: unpin their blocks. */
static void afp_release(struct port *p, unsigned q, const uint32_t *cookies,
			unsigned n)
{
	struct afp_port *ap = ap_of(p);

	(void)q;
	for (unsigned i = 0; i < n; i++) {
		uint32_t b = cookies[i];

		if (b >= AFP_BLOCK_NR || !ap->held[b])
			continue;
		if (--ap->held[b] == 0 && ap->finished[b]) {
			ap->finished[b] = false;
			pv_store_release(&block(ap, b)->hdr.bh1.block_status,
					 TP_STATUS_KERNEL);
		}
	}
}

/* Builds message @i for @pk in the worker's scratch; returns the drop reason. */
static enum pv_drop build_msg(struct afp_port *ap, unsigned i, struct pkt *pk,
			      bool *csum_done)
{
	struct iovec *iov = afp_iov[i];
	struct virtio_net_hdr *h = ap->vnet ? &afp_hdr[i] : NULL;
	unsigned k = 0, k0;
	uint16_t vid = 0;

	/* The switch segments for a port without TSO; never trust it. */
	if (pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE && !ap->port.gso_offload)
		return PV_DROP_PKT_TOO_BIG;
	if (h) {
		port_vnet_tx(h, pk);
		iov[k].iov_base = h;
		iov[k++].iov_len = AFP_VNET_LEN;
	}
	if (unlikely(port_is_trunk(&ap->port)))
		vid = port_vlan_tx(&ap->port, pk, afp_tag[i], h);
	k0 = k;
	if (!ap->vnet && (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		uint32_t off;
		unsigned n;

		/* Complete it on the way, never in the source's buffer. */
		if (pkt_csum_complete(pk, &afp_csum[i], &off) != PV_DROP_NONE)
			return PV_DROP_PKT_HDR_CSUM;
		n = pkt_patch_iov(pk, off, &afp_csum[i], iov + k, PKT_MAX_SEGS + 2);
		if (!n)
			return PV_DROP_PKT_TOO_BIG;
		k += n;
		*csum_done = true;
	} else {
		memcpy(iov + k, pk->seg, pk->nseg * sizeof(*iov));
		k += pk->nseg;
	}
	if (vid) {
		struct iovec fr[PKT_MAX_SEGS + 3];
		unsigned nf = k - k0;

		memcpy(fr, iov + k0, nf * sizeof(*iov));
		nf = port_vlan_iov(fr, nf, afp_tag[i], iov + k0,
				   PKT_MAX_SEGS + 5 - k0);
		if (!nf)
			return PV_DROP_PKT_TRUNC;
		k = k0 + nf;
	}
	memset(&afp_msgs[i], 0, sizeof(afp_msgs[i]));
	afp_msgs[i].msg_hdr.msg_iov = iov;
	afp_msgs[i].msg_hdr.msg_iovlen = k;
	return PV_DROP_NONE;
}

static unsigned afp_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned n)
{
	struct afp_port *ap = ap_of(p);
	uint64_t drops[PV_DROP_MAX] = { 0 }, bytes = 0, csums = 0, gso = 0;
	struct pkt *msg_pkt[PKT_BURST_MAX];
	unsigned m = 0, sent = 0, i = 0;

	(void)q;
	n = PV_MIN(n, PKT_BURST_MAX);
	for (unsigned j = 0; j < n; j++) {
		bool cd = false;
		enum pv_drop why = build_msg(ap, m, pkts[j], &cd);

		if (why != PV_DROP_NONE) {
			drops[why]++;
			continue;
		}
		csums += cd;
		msg_pkt[m++] = pkts[j];
	}
	/* One call per burst; a failed message is skipped and counted. */
	while (i < m) {
		int r = sendmmsg(ap->fd, &afp_msgs[i], m - i, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			drops[port_tx_errno_reason(errno)]++;
			pv_log_ratelimited(&ap->rl, PV_LOG_DEBUG, "port %s: sendmmsg: %s",
					   p->name, strerror(errno));
			i++;
			continue;
		}
		for (int k = 0; k < r; k++) {
			const struct pkt *pk = msg_pkt[i + (unsigned)k];

			bytes += pk->len;
			gso += pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE;
		}
		sent += (unsigned)r;
		i += (unsigned)r;
	}
	if (gso)
		pv_stat_add(&p->st.tx_gso_pkts, gso);
	port_count_tx(p, 0, sent, bytes, csums, drops);
	return sent;
}

/* The socket polls readable while a retired block waits (level-triggered). */
static int afp_rx_fd(struct port *p, unsigned q)
{
	return q == 0 ? ap_of(p)->fd : -1;
}

/*
 * After a wakeup: a pending socket error (the interface went down or was
 * deleted: the kernel sets ENETDOWN once) makes the socket poll EPOLLERR,
 * level-triggered, for as long as it is not read; the worker would wake at
 * once from every sleep and spin. Reading SO_ERROR clears it. One call per
 * wakeup, not per packet.
 */
static bool afp_rx_notify(struct port *p, unsigned q, bool enable)
{
	struct afp_port *ap = ap_of(p);
	socklen_t sl = sizeof(int);
	int err = 0;

	if (q != 0 || enable)
		return false;
	if (getsockopt(ap->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err) {
		pv_stat_add(&ap->sock_errs, 1);
		ap->last_err = err;
		pv_log_ratelimited(&ap->rl, PV_LOG_WARN, "port %s: %s: %s",
				   p->name, ap->ifname, strerror(err));
	}
	return false;
}

static void afp_stats_json(struct port *p, void *obj)
{
	struct afp_port *ap = ap_of(p);

	if (!obj)
		return;
	json_object_set_new(obj, "sock_errors",
			    json_integer((json_int_t)ap->sock_errs));
	if (ap->last_err)
		json_object_set_new(obj, "last_sock_error",
				    json_string(strerror(ap->last_err)));
}

static void afp_destroy(struct port *p)
{
	struct afp_port *ap = ap_of(p);

	if (ap->ring && ap->ring != MAP_FAILED)
		munmap(ap->ring, ap->ring_len);
	if (ap->fd >= 0)
		close(ap->fd);
	free(ap);
}

static const struct port_ops afp_port_ops = {
	.type = "afpacket",
	.tx_burst = afp_tx_burst,
	.rx_queues = port_rx_one_queue,
	.rx_burst = afp_rx_burst,
	.rx_done = afp_rx_done,
	.release = afp_release,
	.rx_fd = afp_rx_fd,
	.rx_notify = afp_rx_notify,
	.stats_json = afp_stats_json,
	.destroy = afp_destroy,
};

/*
 * Without TSO the socket must not be handed aggregated frames (they would
 * be dropped as pkt_hdr_gso); best effort, so warn only. With it, the
 * interface's GRO stays as the user set it: it saves the switch work.
 */
static void gro_off(struct afp_port *ap)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_SGRO, .data = 0 };
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ap->ifname);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(ap->fd, SIOCETHTOOL, &ifr) < 0 && errno != EOPNOTSUPP)
		pv_warn("port %s: cannot turn GRO off on %s: %s", ap->port.name,
			ap->ifname, strerror(errno));
}

/* Socket, vnet header, ring, binding, promiscuity; 0 or a message in @err. */
static int afp_open(struct afp_port *ap, char *err, size_t errlen)
{
	struct tpacket_req3 req = {
		.tp_block_size = AFP_BLOCK_SIZE,
		.tp_block_nr = AFP_BLOCK_NR,
		.tp_frame_size = AFP_FRAME_SIZE,
		.tp_frame_nr = AFP_BLOCK_SIZE / AFP_FRAME_SIZE * AFP_BLOCK_NR,
		.tp_retire_blk_tov = AFP_BLOCK_TOV_MS,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	int one = 1, v3 = TPACKET_V3, sndbuf = 4 << 20;
	const char *what;

	ap->ifindex = (int)if_nametoindex(ap->ifname);
	if (!ap->ifindex) {
		snprintf(err, errlen, "interface %s: %s", ap->ifname, strerror(errno));
		return -1;
	}
	/* Protocol 0: nothing is queued before the ring exists. */
	ap->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	what = "socket";
	if (ap->fd < 0)
		goto fail;
	what = "PACKET_VERSION";
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3)) < 0)
		goto fail;
	/* Must precede the ring; a kernel without it makes us complete sums. */
	ap->vnet = setsockopt(ap->fd, SOL_PACKET, PACKET_VNET_HDR, &one,
			      sizeof(one)) == 0;
	/* Read by workers only after the port is added (the contract). */
	ap->port.csum_offload = ap->vnet;
	ap->port.gso_offload = ap->vnet && ap->tso;
	what = "PACKET_RX_RING";
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		goto fail;
	ap->ring_len = (size_t)AFP_BLOCK_SIZE * AFP_BLOCK_NR;
	ap->ring = mmap(NULL, ap->ring_len, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_LOCKED | MAP_POPULATE, ap->fd, 0);
	if (ap->ring == MAP_FAILED)
		ap->ring = mmap(NULL, ap->ring_len, PROT_READ | PROT_WRITE,
				MAP_SHARED, ap->fd, 0);
	what = "mmap";
	if (ap->ring == MAP_FAILED) {
		ap->ring = NULL;
		goto fail;
	}
	/* Our own transmits and the host's are not input from the wire. */
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		       sizeof(one)) < 0)
		pv_warn("port %s: PACKET_IGNORE_OUTGOING: %s", ap->port.name,
			strerror(errno));
	sll.sll_ifindex = ap->ifindex;
	what = "bind";
	if (bind(ap->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	/* Frames for the guests' MACs, not only the interface's own. */
	mr.mr_ifindex = ap->ifindex;
	what = "PACKET_MR_PROMISC";
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
		       sizeof(mr)) < 0)
		goto fail;
	/* Room for bursts without ENOBUFS; FORCE needs CAP_NET_ADMIN. */
	if (setsockopt(ap->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
		       sizeof(sndbuf)) < 0)
		setsockopt(ap->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (!ap->port.gso_offload)
		gro_off(ap);
	return 0;

fail:
	snprintf(err, errlen, "%s %s: %s", what, ap->ifname, strerror(errno));
	return -1;
}

static bool afp_take_opt(void *ctx, const char *key, const char *val)
{
	struct afp_port *ap = ctx;

	if (!strcmp(key, "ifname"))
		return port_opt_str(ap->ifname, sizeof(ap->ifname), val);
	if (!strcmp(key, "tso") && (!strcmp(val, "on") || !strcmp(val, "off"))) {
		ap->tso = !strcmp(val, "on");
		return true;
	}
	return false;
}

/* The "16" is IF_NAMESIZE, spelt out so the message can be a constant. */
static_assert(IF_NAMESIZE == 16, "the usage text below says 16");
static const struct port_opts_spec afp_opts = {
	.type = "afpacket",
	.usage = "ifname=NAME (< 16 chars), tso=on|off",
	.too_long = "option too long",
	.val_max = 128,
	.take = afp_take_opt,
};

struct port *port_afpacket_create(struct sw *sw, const char *name,
				  const char *opts, char *err, size_t errlen)
{
	struct afp_port *ap;
	char why[200];

	ap = port_uplink_alloc(sizeof(*ap), name, &afp_port_ops, err, errlen);
	if (!ap)
		return NULL;
	ap->fd = -1;
	ap->tso = true;		/* tso=on, as on a tap port */
	if (port_opts_parse(&afp_opts, name, opts, ap, err, errlen) < 0)
		goto fail;
	if (!ap->ifname[0]) {
		snprintf(err, errlen, "port %s: ifname= is required", name);
		goto fail;
	}
	if (sw && sw->check_only)
		return &ap->port;
	if (afp_open(ap, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "port %s: %s", name, why);
		goto fail;
	}
	pv_info("port %s: afpacket on %s, TPACKET_V3 %u x %u KB, %s%s", name,
		ap->ifname, AFP_BLOCK_NR, AFP_BLOCK_SIZE >> 10,
		ap->vnet ? "vnet header (checksum offload)" : "no vnet header",
		ap->port.gso_offload ? ", TSO both ways" : "");
	return &ap->port;

fail:
	afp_destroy(&ap->port);
	return NULL;
}
