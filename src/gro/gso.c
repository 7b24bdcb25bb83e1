// SPDX-License-Identifier: MIT
/*
 * gso.c - software segmentation of a large TCP packet (a guest's TSO, or a
 * merged GRO packet) for a destination that cannot take it.
 *
 * Like Linux tcp_gso_segment(), the GSO fields come from an untrusted sender
 * and are checked against the parsed headers before anything is believed.
 * Each segment gets its own header copy in the caller's buffer and payload
 * pieces pointing into the original: nothing of the source is written, and
 * the payload is read once, by the checksum (or not at all when partial).
 */
#include <endian.h>
#include <string.h>

#include "pvnet/gro.h"

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86dd
#define TCP_FIN		0x01
#define TCP_PSH		0x08
#define TCP_CWR		0x80

/* The TCP pseudo-header sum (unfolded) for @l4len bytes of TCP. */
static uint32_t pseudo_sum(const uint8_t *ip, bool v6, uint32_t l4len)
{
	uint8_t tail[8] = { 0 };

	if (v6) {
		pv_put_be32(tail, l4len);
		tail[7] = 6;
		return pv_csum_partial(tail, 8, pv_csum_partial(ip + 8, 32, 0));
	}
	tail[1] = 6;
	pv_put_be16(tail + 2, (uint16_t)l4len);
	return pv_csum_partial(tail, 4, pv_csum_partial(ip + 12, 8, 0));
}

/* Pieces of @p's bytes [off, off + len) into @dst (at most @max); 0 if more. */
static unsigned slice(const struct pkt *p, size_t off, size_t len,
		      struct iovec *dst, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->nseg && len; i++) {
		size_t l = p->seg[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		if (n == max)
			return 0;
		l = PV_MIN(l - off, len);
		dst[n].iov_base = (uint8_t *)p->seg[i].iov_base + off;
		dst[n++].iov_len = l;
		len -= l;
		off = 0;
	}
	return len ? 0 : n;
}

int gso_segment(const struct pkt *p, struct pkt *out, unsigned max_out,
		uint8_t *hdrbuf, bool partial_ok)
{
	uint8_t h[GRO_HDR_MAX];
	uint8_t type = p->vh.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	unsigned mss = le16toh(p->vh.gso_size);
	unsigned l3 = p->l3_off, l4 = p->l4_off, iphl, thlen, hlen, nout;
	uint32_t payload, seq;
	uint16_t id = 0;
	const uint8_t *ip;
	bool v6;
	size_t n;

	/* The claims first: family, MSS, header length, checksum offsets. */
	if (type == VIRTIO_NET_HDR_GSO_TCPV4)
		v6 = false;
	else if (type == VIRTIO_NET_HDR_GSO_TCPV6)
		v6 = true;
	else
		return -PV_DROP_PKT_HDR_GSO;
	if (!mss || le16toh(p->vh.hdr_len) > p->len)
		return -PV_DROP_PKT_HDR_GSO;
	if (p->l4_proto != 6 || !l3 || !l4 || l4 <= l3 ||
	    p->ethertype != (v6 ? ETH_P_IPV6 : ETH_P_IP))
		return -PV_DROP_PKT_HDR_GSO;
	if ((p->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (le16toh(p->vh.csum_start) != l4 ||
	     le16toh(p->vh.csum_offset) != 16))
		return -PV_DROP_PKT_HDR_CSUM;

	/* Then the headers themselves, from a private copy. */
	n = pv_iov_to_buf(p->seg, p->nseg, 0, h, PV_MIN((size_t)p->len, sizeof(h)));
	if (n < l4 + 20u)
		return -PV_DROP_PKT_TRUNC;
	thlen = (h[l4 + 12] >> 4) * 4u;
	hlen = l4 + thlen;
	if (thlen < 20 || hlen > n)
		return -PV_DROP_PKT_TRUNC;
	ip = h + l3;
	iphl = l4 - l3;
	if (v6) {
		if ((ip[0] >> 4) != 6 || iphl != 40)
			return -PV_DROP_PKT_HDR_GSO;
	} else {
		/* Fragments cannot be segmented; options are copied along. */
		if ((ip[0] >> 4) != 4 || (ip[0] & 0xf) * 4u != iphl ||
		    (pv_get_be16(ip + 6) & 0x3fff))
			return -PV_DROP_PKT_HDR_GSO;
		id = pv_get_be16(ip + 4);
	}
	payload = p->len - hlen;
	if (!payload)
		return -PV_DROP_PKT_HDR_GSO;
	/* One segment's IP length must fit its 16-bit field. */
	if ((v6 ? 0 : iphl) + thlen + PV_MIN(mss, payload) > 0xffff)
		return -PV_DROP_PKT_HDR_GSO;
	nout = (payload + mss - 1) / mss;
	if (nout > max_out)
		return -PV_DROP_PKT_HDR_GSO;
	seq = pv_get_be32(h + l4 + 4);

	for (unsigned i = 0; i < nout; i++) {
		uint8_t *hd = hdrbuf + (size_t)i * GRO_HDR_MAX;
		uint8_t *sip = hd + l3, *th = hd + l4;
		uint32_t off = hlen + i * mss;
		uint32_t sl = PV_MIN(mss, payload - i * mss);
		uint32_t sum;
		struct pkt *o = &out[i];
		unsigned np;
		uint16_t c;

		memcpy(hd, h, hlen);
		if (v6) {
			pv_put_be16(sip + 4, (uint16_t)(thlen + sl));
		} else {
			pv_put_be16(sip + 2, (uint16_t)(iphl + thlen + sl));
			pv_put_be16(sip + 4, (uint16_t)(id + i));
			sip[10] = sip[11] = 0;
			c = pv_csum_fold(pv_csum_partial(sip, iphl, 0));
			memcpy(sip + 10, &c, 2);
		}
		pv_put_be32(th + 4, seq + i * mss);
		if (i + 1 < nout)
			th[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (i)
			th[13] &= (uint8_t)~TCP_CWR;
		th[16] = th[17] = 0;

		memcpy(o, p, offsetof(struct pkt, seg));
		memset(&o->vh, 0, sizeof(o->vh));
		o->len = hlen + sl;
		o->seg[0].iov_base = hd;
		o->seg[0].iov_len = hlen;
		np = slice(p, off, sl, o->seg + 1, PKT_MAX_SEGS - 1);
		if (!np)
			return -PV_DROP_PKT_TOO_BIG;
		o->nseg = (uint16_t)(np + 1);

		sum = pseudo_sum(sip, v6, thlen + sl);
		if (partial_ok) {
			/* The receiver completes it from csum_start. */
			c = (uint16_t)~pv_csum_fold(sum);
			o->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			o->vh.csum_start = htole16((uint16_t)l4);
			o->vh.csum_offset = htole16(16);
		} else {
			/* thlen is a multiple of 4: the payload sum starts even. */
			sum = pv_csum_partial(th, thlen, sum);
			sum = pv_csum_iov(o->seg + 1, np, 0, sl, sum);
			c = pv_csum_fold(sum);
		}
		memcpy(th + 16, &c, 2);
	}
	return (int)nout;
}
