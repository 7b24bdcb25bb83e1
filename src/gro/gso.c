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
#include <assert.h>
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

/*
 * Pieces of the next @len payload bytes, from the read position, into @dst
 * (at most @max); advances the position. 0 if they need more pieces.
 */
static unsigned slice(struct gso_state *g, size_t len, struct iovec *dst,
		      unsigned max)
{
	const struct pkt *p = g->p;
	unsigned n = 0;

	while (len && g->cur < p->nseg) {
		size_t l = p->seg[g->cur].iov_len - g->cur_off;

		if (!l) {
			g->cur++;
			g->cur_off = 0;
			continue;
		}
		if (n == max)
			return 0;
		l = PV_MIN(l, len);
		dst[n].iov_base = (uint8_t *)p->seg[g->cur].iov_base + g->cur_off;
		dst[n++].iov_len = l;
		g->cur_off += (uint32_t)l;
		len -= l;
	}
	return len ? 0 : n;
}

/*
 * True if some segment would need more payload pieces than a pkt holds:
 * only when every one of PKT_MAX_SEGS buffers holds payload and all the
 * middle ones fit in one MSS (a layout no real driver makes), so a whole
 * packet is refused before any of it is sent rather than cut short.
 */
static bool too_many_pieces(const struct gso_state *g)
{
	const struct pkt *p = g->p;
	size_t mid = 0;

	if (p->nseg < PKT_MAX_SEGS || p->seg[0].iov_len <= g->hlen)
		return false;
	for (unsigned i = 1; i + 1 < p->nseg; i++)
		mid += p->seg[i].iov_len;
	return mid + 2 <= g->mss;
}

int gso_begin(struct gso_state *g, const struct pkt *p, bool partial_ok)
{
	uint8_t type = p->vh.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	unsigned mss = le16toh(p->vh.gso_size), l3 = p->l3_off, l4 = p->l4_off;
	unsigned thlen, hlen;
	const uint8_t *ip;
	size_t n;

	/* The size first: nothing of a packet over the bound is looked at. */
	if (p->len > GSO_MAX_FRAME)
		return -PV_DROP_PKT_GSO_TOO_BIG;
	/* Then the claims: family, MSS, header length, checksum offsets. */
	if (type == VIRTIO_NET_HDR_GSO_TCPV4)
		g->v6 = false;
	else if (type == VIRTIO_NET_HDR_GSO_TCPV6)
		g->v6 = true;
	else
		return -PV_DROP_PKT_HDR_GSO;
	if (!mss || le16toh(p->vh.hdr_len) > p->len)
		return -PV_DROP_PKT_HDR_GSO;
	if (mss < GSO_MIN_MSS)
		return -PV_DROP_PKT_GSO_MSS;
	if (p->l4_proto != 6 || !l3 || !l4 || l4 <= l3 ||
	    p->ethertype != (g->v6 ? ETH_P_IPV6 : ETH_P_IP))
		return -PV_DROP_PKT_HDR_GSO;
	if ((p->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (le16toh(p->vh.csum_start) != l4 ||
	     le16toh(p->vh.csum_offset) != 16))
		return -PV_DROP_PKT_HDR_CSUM;

	/* Then the headers themselves, from a private copy. */
	n = pv_iov_to_buf(p->seg, p->nseg, 0, g->h,
			  PV_MIN((size_t)p->len, sizeof(g->h)));
	if (n < l4 + 20u)
		return -PV_DROP_PKT_TRUNC;
	thlen = (g->h[l4 + 12] >> 4) * 4u;
	hlen = l4 + thlen;
	if (thlen < 20 || hlen > n)
		return -PV_DROP_PKT_TRUNC;
	ip = g->h + l3;
	g->iphl = (uint16_t)(l4 - l3);
	g->id = 0;
	if (g->v6) {
		if ((ip[0] >> 4) != 6 || g->iphl != 40)
			return -PV_DROP_PKT_HDR_GSO;
	} else {
		/* Fragments cannot be segmented; options are copied along. */
		if ((ip[0] >> 4) != 4 || (ip[0] & 0xf) * 4u != g->iphl ||
		    (pv_get_be16(ip + 6) & 0x3fff))
			return -PV_DROP_PKT_HDR_GSO;
		g->id = pv_get_be16(ip + 4);
	}
	g->payload = p->len - hlen;
	if (!g->payload)
		return -PV_DROP_PKT_HDR_GSO;
	if (g->payload > GSO_MAX_PAYLOAD)
		return -PV_DROP_PKT_GSO_TOO_BIG;
	/* One segment's IP length must fit its 16-bit field. */
	if ((g->v6 ? 0 : g->iphl) + thlen + PV_MIN(mss, g->payload) > 0xffff)
		return -PV_DROP_PKT_HDR_GSO;

	g->p = p;
	g->mss = (uint16_t)mss;
	g->l3 = (uint16_t)l3;
	g->l4 = (uint16_t)l4;
	g->thlen = (uint16_t)thlen;
	g->hlen = (uint16_t)hlen;
	g->partial_ok = partial_ok;
	g->seq = pv_get_be32(g->h + l4 + 4);
	g->nsegs = (uint16_t)((g->payload + mss - 1) / mss);
	g->next = 0;
	g->done = 0;
	if (too_many_pieces(g))
		return -PV_DROP_PKT_TOO_BIG;
	/* The read position: the first payload byte. */
	g->cur = 0;
	g->cur_off = 0;
	for (size_t skip = hlen; skip; g->cur++) {
		size_t l = p->seg[g->cur].iov_len;

		if (skip < l) {
			g->cur_off = (uint32_t)skip;
			break;
		}
		skip -= l;
	}
	static_assert(GSO_MAX_SEGS <= UINT16_MAX, "segment counts are 16-bit");
	static_assert(PV_GSO_MAX_HDR == GRO_HDR_MAX, "one header bound");
	return g->nsegs;
}

int gso_next(struct gso_state *g, struct pkt *out, unsigned max_out,
	     uint8_t *hdrbuf)
{
	unsigned l3 = g->l3, l4 = g->l4, iphl = g->iphl, thlen = g->thlen;
	unsigned hlen = g->hlen, k;

	for (k = 0; k < max_out && g->next < g->nsegs; k++) {
		unsigned i = g->next;
		uint8_t *hd = hdrbuf + (size_t)k * GRO_HDR_MAX;
		uint8_t *sip = hd + l3, *th = hd + l4;
		uint32_t sl = PV_MIN(g->mss, g->payload - g->done);
		uint32_t sum;
		struct pkt *o = &out[k];
		unsigned np;
		uint16_t c;

		memcpy(hd, g->h, hlen);
		if (g->v6) {
			pv_put_be16(sip + 4, (uint16_t)(thlen + sl));
		} else {
			pv_put_be16(sip + 2, (uint16_t)(iphl + thlen + sl));
			pv_put_be16(sip + 4, (uint16_t)(g->id + i));
			sip[10] = sip[11] = 0;
			c = pv_csum_fold(pv_csum_partial(sip, iphl, 0));
			memcpy(sip + 10, &c, 2);
		}
		pv_put_be32(th + 4, g->seq + g->done);
		if (i + 1u < g->nsegs)
			th[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (i)
			th[13] &= (uint8_t)~TCP_CWR;
		th[16] = th[17] = 0;

		memcpy(o, g->p, offsetof(struct pkt, seg));
		memset(&o->vh, 0, sizeof(o->vh));
		o->len = hlen + sl;
		o->seg[0].iov_base = hd;
		o->seg[0].iov_len = hlen;
		np = slice(g, sl, o->seg + 1, PKT_MAX_SEGS - 1);
		if (!np) {
			/* too_many_pieces() said no segment needs this. */
			g->next = g->nsegs;
			return -PV_DROP_PKT_TOO_BIG;
		}
		o->nseg = (uint16_t)(np + 1);

		sum = pseudo_sum(sip, g->v6, thlen + sl);
		if (g->partial_ok) {
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
		g->done += sl;
		g->next++;
	}
	return (int)k;
}
