// SPDX-License-Identifier: MIT
/*
 * parse.c - parse a frame's headers once, from a private copy
 *
 * The frame lives in memory a guest can write while we read it, so the first
 * PKT_HDR_COPY bytes are copied out and only the copy is parsed (style.md
 * §6.7). Offsets point into the frame; lengths are checked at each layer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pvnet/pkt.h"

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86dd
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8

/*
 * Bytes parsed: the deepest header looked at ends at Ethernet + two tags +
 * a 60-byte IPv4 header + 4 bytes of ports (86); a longer copy changes no
 * result.
 */
#define PARSE_COPY	128
_Static_assert(PARSE_COPY >= 14 + 2 * 4 + 60 + 4 && PARSE_COPY <= PKT_HDR_COPY,
	       "PARSE_COPY covers every header parsed");

/*
 * Common start of both parses, from the private copy @h of @n bytes: the
 * L3/L4 fields read "not IP" (nothing stale from the slot's last packet),
 * then the truncation rule and the MACs.
 */
static inline enum pv_drop take_l2(struct pkt *p, const uint8_t *h, size_t n,
				   bool l3_parsed)
{
	p->l3_off = p->l4_off = 0;
	p->l4_proto = 0;
	p->ethertype = 0;
	p->hash_len = 0;
	p->l3_parsed = l3_parsed;
	if (n < ETH_HLEN || p->len < ETH_HLEN)
		return PV_DROP_PKT_TRUNC;
	memcpy(p->dst_mac, h, ETH_ALEN);
	memcpy(p->src_mac, h + ETH_ALEN, ETH_ALEN);
	return PV_DROP_NONE;
}

enum pv_drop pkt_parse(struct pkt *p)
{
	uint8_t h[PKT_HDR_COPY];
	size_t n;

	/*
	 * The first piece usually holds all we look at: plain copies, at a
	 * fixed size (vector moves) for a large frame and for the first 64
	 * bytes (all of a small frame's headers).
	 */
	if (p->nseg && (p->nseg == 1 || p->seg[0].iov_len >= PARSE_COPY)) {
		const uint8_t *b = p->seg[0].iov_base;

		n = PV_MIN(p->seg[0].iov_len, PARSE_COPY);
		if (n == PARSE_COPY) {
			memcpy(h, b, PARSE_COPY);
		} else if (n >= 64) {
			memcpy(h, b, 64);
			if (n > 64)
				memcpy(h + 64, b + 64, n - 64);
		} else {
			memcpy(h, b, n);
		}
	} else {
		n = pv_iov_to_buf(p->seg, p->nseg, 0, h, PARSE_COPY);
	}
	pv_compiler_barrier();
	return pkt_parse_copy(p, h, n);
}

enum pv_drop pkt_parse_copy(struct pkt *p, const uint8_t *h, size_t n)
{
	size_t off = 12;
	uint16_t type;

	/* What pkt_parse() reads, and no more: the same result from a longer copy. */
	n = PV_MIN(n, (size_t)PARSE_COPY);
	if (take_l2(p, h, n, true) != PV_DROP_NONE)
		return PV_DROP_PKT_TRUNC;

	type = pv_get_be16(h + off);
	off += 2;
	for (int tags = 0; (type == ETH_P_8021Q || type == ETH_P_8021AD) &&
			   tags < 2; tags++) {
		if (n < off + 4)
			return PV_DROP_NONE;
		type = pv_get_be16(h + off + 2);
		off += 4;
	}
	p->ethertype = type;

	if (type == ETH_P_IP && n >= off + 20) {
		unsigned ihl = (h[off] & 0xf) * 4u;

		if ((h[off] >> 4) != 4 || ihl < 20 || n < off + ihl)
			return PV_DROP_NONE;
		p->l3_off = (uint16_t)off;
		p->l4_proto = h[off + 9];
		/* Only the first fragment carries the L4 header. */
		if (!(pv_get_be16(h + off + 6) & 0x1fff))
			p->l4_off = (uint16_t)(off + ihl);
	} else if (type == ETH_P_IPV6 && n >= off + 40) {
		if ((h[off] >> 4) != 6)
			return PV_DROP_NONE;
		p->l3_off = (uint16_t)off;
		p->l4_proto = h[off + 6];
		/* Extension headers are left unparsed: L4 offset only when direct. */
		if (p->l4_proto == 6 || p->l4_proto == 17 || p->l4_proto == 58)
			p->l4_off = (uint16_t)(off + 40);
	}
	/* RSS input (flowhash.c): addresses, then ports for TCP and UDP. */
	if (p->l3_off) {
		unsigned k = type == ETH_P_IP ? 8 : 32;

		memcpy(p->hash_in, h + p->l3_off + (type == ETH_P_IP ? 12 : 8), k);
		if (p->l4_off && (p->l4_proto == 6 || p->l4_proto == 17) &&
		    n >= p->l4_off + 4u) {
			memcpy(p->hash_in + k, h + p->l4_off, 4);
			k += 4;
		}
		p->hash_len = (uint8_t)k;
	}
	return PV_DROP_NONE;
}

enum pv_drop pkt_parse_l2(struct pkt *p)
{
	uint8_t h[ETH_HLEN];
	size_t n;

	/* The same truncation rule as pkt_parse(), from 14 copied bytes. */
	if (likely(p->nseg && p->seg[0].iov_len >= ETH_HLEN)) {
		memcpy(h, p->seg[0].iov_base, ETH_HLEN);
		n = ETH_HLEN;
	} else {
		n = pv_iov_to_buf(p->seg, p->nseg, 0, h, ETH_HLEN);
	}
	pv_compiler_barrier();
	return take_l2(p, h, n, false);
}

int pv_mac_parse(const char *s, uint8_t mac[ETH_ALEN])
{
	unsigned v[ETH_ALEN];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &tail) != ETH_ALEN)
		return -EINVAL;
	for (int i = 0; i < ETH_ALEN; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

char *pv_mac_fmt(const uint8_t mac[ETH_ALEN], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
