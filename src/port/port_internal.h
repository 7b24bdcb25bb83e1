/* SPDX-License-Identifier: MIT */
/*
 * port_internal.h - what the uplink ports (tap, afpacket, pcap, gen) share:
 * their constructors' skeleton and option loop, the kernel's vnet header,
 * and the free-buffer stack of a receive pool. Not exported.
 */
#ifndef PVNET_PORT_INTERNAL_H
#define PVNET_PORT_INTERNAL_H

#include <errno.h>

#include "pvnet/port.h"

/*
 * Allocates a zeroed uplink port of @size bytes (a struct that begins with
 * struct port) named @name, with @ops and one queue pair. Returns it, owned
 * by the caller (freed by @ops->destroy), or NULL with the message in @err.
 */
void *port_uplink_alloc(size_t size, const char *name,
			const struct port_ops *ops, char *err, size_t errlen);

/*
 * For tests: a TAP port reading frames (vnet header first) from @fd, an
 * already open non-blocking descriptor the port owns from now on (closed
 * on failure too). NULL with the message in @err.
 */
struct port *port_tap_create_fd(const char *name, int fd, char *err,
				size_t errlen);

/* How one port type reads its options; a static const table per type. */
struct port_opts_spec {
	const char *type;	/* in the bad-option message: "TYPE takes ..." */
	const char *usage;	/* the options it takes, for that message */
	const char *too_long;	/* the message of an option that does not fit */
	size_t val_max;		/* a value's length limit + 1, <= PORT_OPT_VAL_MAX */
	/* Stores @key=@val ("" for a bare key) in @ctx; false: not valid. */
	bool (*take)(void *ctx, const char *key, const char *val);
};

#define PORT_OPT_VAL_MAX	256

/* Copies a non-empty @val that fits into @dst (@size bytes); false if not. */
bool port_opt_str(char *dst, size_t size, const char *val);

/*
 * Hands every option of @opts but name= to @spec->take(@ctx, ...) in order.
 * Returns 0, or -1 with "port NAME: ..." in @err at the first option that
 * does not fit or that take() refuses.
 */
int port_opts_parse(const struct port_opts_spec *spec, const char *name,
		    const char *opts, void *ctx, char *err, size_t errlen);

/*
 * Checks a virtio-net header the kernel wrote in front of a received frame
 * of @len bytes (TAP, PACKET_VNET_HDR) and keeps only what the switch may
 * use of it; returns the drop reason. The kernel is trusted for its own
 * fields, so its DATA_VALID stays and spares GRO a checksum. A GSO frame
 * is taken only where the socket asked for TSO (@gso_ok), and only TCP
 * with a partial checksum (what the kernel sends with TSO).
 */
static inline enum pv_drop port_vnet_rx(struct virtio_net_hdr *vh,
					uint32_t len, bool gso_ok)
{
	enum pv_drop why = nethdr_check(vh, len);
	uint8_t gso = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (why != PV_DROP_NONE)
		return why;
	if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE &&
	    (!gso_ok || (gso != VIRTIO_NET_HDR_GSO_TCPV4 &&
			 gso != VIRTIO_NET_HDR_GSO_TCPV6) ||
	     !(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
		return PV_DROP_PKT_HDR_GSO;
	vh->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	vh->num_buffers = 0;
	return PV_DROP_NONE;
}

/*
 * Fills @h, the vnet header @pk goes out with to the kernel: its partial
 * checksum, which the kernel (TUN_F_CSUM, PACKET_VNET_HDR) completes as it
 * is, and for a GSO packet (only sent to a port that took TSO) its
 * segmentation fields, so the kernel segments it or passes it on whole.
 */
static inline void port_vnet_tx(struct virtio_net_hdr *h, const struct pkt *pk)
{
	memset(h, 0, sizeof(*h));
	if (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = pk->vh.csum_start;
		h->csum_offset = pk->vh.csum_offset;
	}
	if (pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		h->gso_type = pk->vh.gso_type;
		h->gso_size = pk->vh.gso_size;
		h->hdr_len = pk->vh.hdr_len;
	}
}

/*
 * 802.1Q receive on a trunk port (@p->nvlans or untagged=drop): sets
 * @pk->net from the tag, @vid_stripped (the kernel took it off: AF_PACKET
 * tp_vlan_tci; -1: none) or the frame's own 0x8100 tag, which is popped in
 * place (the buffer is the port's), the vnet header's csum_start and
 * hdr_len moved back by 4. Untagged and VID 0 (priority) frames are in the
 * port's network=. Returns VLAN_UNKNOWN / VLAN_UNTAGGED / PKT_TRUNC or NONE.
 */
enum pv_drop port_vlan_rx(const struct port *p, struct pkt *pk, int vid_stripped);

/*
 * 802.1Q send on a trunk port: the tag @pk->net takes on @p (0: none, the
 * port's own network) into @tag, and @h (the vnet header @pk goes out with,
 * or NULL) moved forward by 4 for it. Returns the VID or 0.
 */
uint16_t port_vlan_tx(const struct port *p, const struct pkt *pk,
		      uint8_t tag[4], struct virtio_net_hdr *h);

/*
 * Copies @src (@nsrc entries, a frame) to @dst with @tag (4 bytes) between
 * the MAC addresses and the rest; returns the entries used, 0 if they are
 * more than @max or the frame is shorter than 12 bytes. @dst points into
 * @src's buffers and @tag: valid while they are.
 */
unsigned port_vlan_iov(const struct iovec *src, unsigned nsrc,
		       const uint8_t *tag, struct iovec *dst, unsigned max);

/* The drop reason of a frame a TAP or packet socket refused with errno @e. */
static inline enum pv_drop port_tx_errno_reason(int e)
{
	if (e == EAGAIN || e == ENOBUFS)
		return PV_DROP_RX_NO_BUF;
	if (e == EMSGSIZE || e == EINVAL)
		return PV_DROP_PKT_TOO_BIG;
	return PV_DROP_TX_PORT_ERR;
}

/*
 * A receive pool's free buffers as a stack of indexes; the cookie of a
 * received frame is its buffer's index. The worker that polls the port's
 * queue 0 owns it, release() included (port.h).
 */
struct port_bufs {
	uint16_t *idx;		/* cap entries, the first n free */
	unsigned n, cap;
};

/* Makes every buffer of @idx (@cap entries, owned by the port) free. */
static inline void port_bufs_init(struct port_bufs *b, uint16_t *idx,
				  unsigned cap)
{
	b->idx = idx;
	b->cap = cap;
	for (unsigned i = 0; i < cap; i++)
		idx[i] = (uint16_t)i;
	b->n = cap;
}

/*
 * After sw_forward_burst(): the buffers of the @m packets GRO did not hold
 * are free again at once; a held one waits for port_bufs_release().
 */
static inline void port_bufs_put_unheld(struct port_bufs *b,
					const struct pkt *pkts, unsigned m)
{
	for (unsigned i = 0; i < m; i++)
		if (!pkts[i].held)
			b->idx[b->n++] = (uint16_t)pkts[i].cookie;
}

/* The body of a release op: GRO is done with the buffers of @cookies. */
static inline void port_bufs_release(struct port_bufs *b,
				     const uint32_t *cookies, unsigned n)
{
	for (unsigned i = 0; i < n && b->n < b->cap; i++)
		if (cookies[i] < b->cap)
			b->idx[b->n++] = (uint16_t)cookies[i];
}

#endif /* PVNET_PORT_INTERNAL_H */
