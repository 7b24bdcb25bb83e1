/* SPDX-License-Identifier: MIT */
/*
 * pkt.h - a packet as the switch sees it: a copied virtio-net header plus a
 * scatter list over source buffers (a guest's TX buffers, a port's own
 * buffers), the headers parsed once, and where it came from.
 *
 * Ownership: a struct pkt lives in its source port's burst array; its iovecs
 * point into memory the source port owns until it calls its rx_done.
 */
#ifndef PVNET_PKT_H
#define PVNET_PKT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pvnet/common.h"
#include "pvnet/virtio.h"

#define PKT_BURST_MAX	32
#define PKT_MAX_SEGS	VRING_ELEM_MAX_IOV
#define ETH_ALEN	6
#define ETH_HLEN	14
/* Headers copied out for parsing: Ethernet + 2 VLAN tags + IPv6 + TCP with options. */
#define PKT_HDR_COPY	192

struct pkt {
	struct virtio_net_hdr vh;	/* copied out, validated */
	uint32_t len;			/* frame bytes (after the net header) */
	uint16_t nseg;
	uint16_t src_port;
	uint16_t src_queue;
	uint16_t l3_off;		/* 0: not parsed / not IP */
	uint16_t l4_off;
	uint16_t ethertype;		/* innermost, host order */
	uint8_t l4_proto;
	uint8_t net;			/* its network, only where a VLAN trunk port
					 * is involved: set by the trunk's receive,
					 * and by the switch toward one */
	uint8_t dst_mac[ETH_ALEN];
	uint8_t src_mac[ETH_ALEN];
	uint32_t cookie;		/* source port's token (vring head) */
	bool held;			/* GRO kept it: the source must not release
					 * its buffer until the port's release op */
	bool l3_parsed;			/* pkt_parse ran; pkt_parse_l2 clears it */
	uint8_t hash_len;		/* RSS input saved by pkt_parse */
	uint8_t hash_in[36];		/* addresses, then TCP/UDP ports */
	struct iovec seg[PKT_MAX_SEGS];
};

/* True for broadcast and multicast destination addresses. */
static inline bool pkt_mac_is_multicast(const uint8_t *mac)
{
	return mac[0] & 1;
}

/* Parses "aa:bb:cc:dd:ee:ff"; returns 0 or -EINVAL. */
int pv_mac_parse(const char *s, uint8_t mac[ETH_ALEN]);
/* Formats a MAC into @buf (at least 18 bytes); returns @buf. */
char *pv_mac_fmt(const uint8_t mac[ETH_ALEN], char *buf);

/*
 * Reads the Ethernet addresses and parses L2/L3/L4 offsets from a private
 * copy of the first bytes (the source may change underneath). Returns
 * PV_DROP_NONE, or PKT_TRUNC if the frame is shorter than an Ethernet header.
 */
enum pv_drop pkt_parse(struct pkt *p);

/*
 * pkt_parse() from a private copy @h of @p's first @n bytes the caller
 * already made (GRO's header copy: one copy, one parse). Same result.
 */
enum pv_drop pkt_parse_copy(struct pkt *p, const uint8_t *h, size_t n);

/*
 * What forwarding needs and nothing more: the Ethernet addresses, from a
 * private copy. The L3/L4 fields read as "not IP" until pkt_parse_l3().
 * Returns PV_DROP_NONE, or PKT_TRUNC if shorter than an Ethernet header.
 */
enum pv_drop pkt_parse_l2(struct pkt *p);

/*
 * The rest of pkt_parse() for a packet pkt_parse_l2() let through, once:
 * for RSS, GSO and ports that need layers 3-4 (vxlan), which most packets
 * (one-queue destinations without large-packet offloads) never reach. GRO
 * parses from its own header copy (pkt_parse_copy()).
 */
static inline void pkt_parse_l3(struct pkt *p)
{
	if (!p->l3_parsed)
		(void)pkt_parse(p);	/* cannot fail where pkt_parse_l2 passed */
}

/* The RSS Toeplitz hash of @len bytes with the specification's default key. */
uint32_t pv_toeplitz(const uint8_t *in, size_t len);
/*
 * The RSS hash of a parsed packet: addresses, then ports for TCP/UDP; 0 for
 * anything else. A flow always maps to the same value.
 */
uint32_t pkt_flow_hash(const struct pkt *p);

/* Internet checksum over @len bytes of @iov from @off, folded into 16 bits, added to @sum. */
uint32_t pv_csum_iov(const struct iovec *iov, unsigned n, size_t off,
		     size_t len, uint32_t sum);
/* Internet checksum of a flat buffer, unfolded partial sum. */
uint32_t pv_csum_partial(const void *buf, size_t len, uint32_t sum);
/* Folds a partial sum into the final one's-complement 16-bit checksum. */
uint16_t pv_csum_fold(uint32_t sum);

/*
 * Completes a NEEDS_CSUM packet without writing its source: computes the
 * checksum from csum_start (seeded with the pseudo-header sum the sender left
 * in the field) and returns it in *csum (network order) with the offset it
 * goes to. Returns PV_DROP_NONE or PKT_HDR_CSUM.
 */
enum pv_drop pkt_csum_complete(const struct pkt *p, uint16_t *csum,
			       uint32_t *off);
/*
 * Builds in @out a scatter list equal to @p's but with the 2 bytes at @off
 * taken from @patch (which must outlive @out). Returns the count or 0 if
 * more than @max segments would be needed.
 */
unsigned pkt_patch_iov(const struct pkt *p, uint32_t off, const void *patch,
		       struct iovec *out, unsigned max);

#endif /* PVNET_PKT_H */
