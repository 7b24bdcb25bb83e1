// SPDX-License-Identifier: MIT
/*
 * gro.c - TCP receive aggregation (IPv4, IPv6, VLAN) with Linux-compatible
 * merge rules, held as fragment lists over the source buffers.
 *
 * Layout follows Linux net/core/gro.c + net/ipv4/tcp_offload.c: a segment is
 * matched to a held flow by its key (L2 addresses and tags, L3 addresses,
 * ports, destination), then every difference that forbids merging is ORed
 * into one flush word (inet_gro_receive, tcp_gro_receive) and tested once.
 * A mismatch flushes the held packet and the segment starts a new one; a
 * segment that can never merge (SYN, RST, URG, CWR, ECE, IP options,
 * fragments, a GSO packet, a pure ACK) flushes its flow first and goes back
 * to the caller, so order within a flow always holds.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvnet/gro.h"

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86dd

#define TCP_FIN		0x01
#define TCP_SYN		0x02
#define TCP_RST		0x04
#define TCP_PSH		0x08
#define TCP_ACK		0x10
#define TCP_URG		0x20
#define TCP_ECE		0x40
#define TCP_CWR		0x80

/* Flags that make a segment ineligible (tcp_gro_receive flushes on them). */
#define TCP_NO_MERGE	(TCP_SYN | TCP_RST | TCP_URG | TCP_ECE | TCP_CWR)

/* Payload pieces of a merged packet: seg[0] of the output is the header. */
#define GRO_PIECES_MAX	(PKT_MAX_SEGS - 1)

/* Defaults of the time bound when the configuration leaves it 0. */
#define GRO_TIMEOUT_ADAPTIVE_NS	50000ull
#define GRO_TIMEOUT_DEFAULT_NS	100000ull
/* adaptive's cap from the first segment: one jiffy at HZ=1000, Linux's own
 * bound under load (napi_gro_flush(n, HZ >= 1000) flushes what is older
 * than the current jiffy) */
#define GRO_MAX_ADAPTIVE_NS	1000000ull
/* Either bound, as the spec string takes it: up to one second, a bound and
 * not a way to park packets. */
#define GRO_BOUND_MAX_US	1000000ull

/*
 * What makes two segments the same flow to the same place: the destination
 * (port, queue), the header bytes [0, l3_off) (MACs, tags, ethertype), the
 * IP addresses, the TCP ports and, for IPv6, the version + flow label word
 * (Linux: the same flow). There is no key built per segment: the identity
 * is compared in place, between the segment's private header copy and the
 * held flow's (flow_same), behind a hash of a few header words.
 */
#define L2_MAX	24	/* Ethernet + two tags */
/* Flow hints by hash (fast_merge, flow_find): two flows that share one
 * take turns evicting each other and both go the full way, so with room
 * for 8 hints a flow (4 flows collide ~2 % of the time, not ~9 % as in 64). */
#define GRO_BUCKETS	256

/* How a held IPv4 flow's IDs go (ip_id_next); IPv6 keeps ID_ONE. */
enum ip_id_mode {
	ID_ONE,		/* one segment held: no mode yet */
	ID_INC,		/* +1 a segment from the first's, modulo 2^16 */
	ID_FIXED,	/* every segment repeats the first's */
	ID_OTHER,	/* neither: never merges */
};

struct gro_flow {
	uint32_t hash;
	uint16_t dst;
	uint16_t q;
	uint8_t v6;
	uint16_t hdr_len;	/* l4_off + TCP header length */
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t mss;		/* the first segment's payload */
	uint16_t segs;
	uint16_t npieces;
	uint16_t ip_id;		/* the first segment's IPv4 ID */
	uint8_t id_mode;	/* enum ip_id_mode: ID_ONE until a merge */
	uint8_t flags_or;	/* PSH/FIN of the later segments */
	uint32_t next_seq;
	uint32_t payload;	/* merged payload bytes */
	uint64_t t_first;	/* arrival of the first segment */
	uint64_t t_last;	/* ... of the newest (adaptive's gap) */
	uint64_t born;		/* creation order: the oldest is flushed first */
	uint8_t nwords;		/* fast path: 64-bit words of hdr compared */
	uint8_t hdr[GRO_HDR_MAX];	/* private copy of the first's headers */
	/*
	 * Fast path (fast_merge): the bits of hdr[0, hdr_len) a later segment
	 * must repeat exactly; zero where they may differ (IP length, ID and
	 * checksum, TCP sequence, PSH/FIN, checksum, urgent pointer) and past
	 * hdr_len. Only for plain flows (untagged, l3_off ETH_HLEN).
	 */
	uint64_t mask[GRO_HDR_MAX / 8];
	struct gro_ref refs[GRO_MAX_SEGS];
	struct iovec pieces[GRO_PIECES_MAX];
	struct pkt first;	/* fields + first.nseg iovecs (lone output) */
};

struct gro_table {
	/*
	 * cfg with the defaults filled in. The time bound is one rule for
	 * every policy (flow_due): a flow is due at min(t_last + timeout_ns,
	 * t_first + max_ns). poll and every=N get max_ns = timeout_ns, which
	 * is t_first + timeout, as t_last >= t_first (the clock does not go
	 * back).
	 */
	struct gro_cfg cfg;
	gro_deliver_fn deliver;
	void *arg;
	uint32_t used;		/* bit i: flows[i] holds a packet */
	/* flows[bucket[gro_bucket(hash)] - 1] last had that hash (0: none):
	 * a hint, checked, so a stale entry only costs the full search */
	uint8_t bucket[GRO_BUCKETS];
	unsigned held;		/* segments held */
	unsigned rounds;	/* GRO_EVERY: rounds since the last flush */
	uint64_t born;
	struct gro_stats st;
	uint8_t *linbuf;	/* cfg.linearize: one packet, during the callback */
	struct gro_out out;	/* handed to deliver(), valid during the call */
	struct gro_flow flows[GRO_MAX_FLOWS];
};

/* What gro_receive learns about an offered segment, from a private copy. */
struct seg_info {
	uint32_t hash;
	uint16_t dst;
	uint16_t q;
	bool keyed;		/* key valid: a held flow can be found */
	bool addr_only;		/* key without ports (fragment, IPv6 ext) */
	bool eligible;
	bool v6;
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t thlen;
	uint16_t hdr_len;
	uint16_t npieces;
	uint8_t flags;
	uint32_t seq;
	uint32_t payload;
	uint8_t hdr[GRO_HDR_MAX];
};

static inline uint64_t ld64(const uint8_t *b)
{
	uint64_t v;

	memcpy(&v, b, 8);
	return v;
}

static inline uint32_t ld32(const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return v;
}

/*
 * Only a filter in front of flow_same(): the addresses, ports and
 * destination of header copy @h, in one multiply (a key of 72 bytes built,
 * hashed and compared per segment cost ~170 instructions, callgrind).
 */
static uint32_t flow_hash(const uint8_t *h, unsigned l3, unsigned l4, bool v6,
			  uint16_t dst, uint16_t q)
{
	const uint8_t *ip = h + l3;
	uint64_t a = v6 ? ld64(ip + 8) ^ ld64(ip + 16) ^ ld64(ip + 24) ^
			  ld64(ip + 32) : ld64(ip + 12);

	a ^= (uint64_t)ld32(h + l4) << 32 ^ (uint32_t)dst << 16 ^ q;
	return (uint32_t)((a * 0x9e3779b97f4a7c15ull) >> 32);
}

/* A hash's hint slot: its top 8 bits (a multiply mixes upward only, so the
 * low bits of the hash miss the ports). */
static inline unsigned gro_bucket(uint32_t hash)
{
	static_assert(GRO_BUCKETS == 256, "8 bits");
	return hash >> 24;
}

/*
 * The identity of two flows from their header copies: destination, layer-2
 * bytes, addresses and (with @ports) ports and IPv6 flow label, as 64-bit
 * word XORs in place. @l3 is at least ETH_HLEN and at most L2_MAX, so the
 * words at 0, 8 (for tags) and l3 - 8 cover [0, l3).
 */
static inline __attribute__((always_inline)) bool
flow_same(const struct gro_flow *f, const struct seg_info *s, bool ports)
{
	const uint8_t *a = f->hdr, *b = s->hdr;
	unsigned l3 = s->l3_off;
	uint64_t d;

	if (f->dst != s->dst || f->q != s->q || f->l3_off != l3 ||
	    f->v6 != s->v6)
		return false;
	d = ld64(a) ^ ld64(b);
	d |= ld64(a + l3 - 8) ^ ld64(b + l3 - 8);
	if (l3 > 16)
		d |= ld64(a + 8) ^ ld64(b + 8);
	a += l3;
	b += l3;
	if (s->v6) {
		d |= ld64(a + 8) ^ ld64(b + 8);
		d |= ld64(a + 16) ^ ld64(b + 16);
		d |= ld64(a + 24) ^ ld64(b + 24);
		d |= ld64(a + 32) ^ ld64(b + 32);
		if (ports)
			d |= (pv_get_be32(a) ^ pv_get_be32(b)) & 0xf00fffff;
	} else {
		d |= ld64(a + 12) ^ ld64(b + 12);
	}
	/* Eligible segments of one IP version have l4 = l3 + 20 or 40. */
	if (ports)
		d |= ld32(f->hdr + f->l4_off) ^ ld32(s->hdr + s->l4_off);
	return !d;
}

/* Pieces of @p's bytes [off, off + len), skipping empty iovecs. */
static unsigned count_pieces(const struct pkt *p, size_t off, size_t len)
{
	unsigned n = 0;

	/* The usual frame: one buffer holds it all (~25 instructions less). */
	if (likely(p->nseg && p->seg[0].iov_len >= off + len))
		return len ? 1 : 0;
	for (unsigned i = 0; i < p->nseg && len; i++) {
		size_t l = p->seg[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l = PV_MIN(l - off, len);
		n++;
		len -= l;
		off = 0;
	}
	return n;
}

static unsigned add_pieces(struct iovec *dst, const struct pkt *p, size_t off,
			   size_t len)
{
	unsigned n = 0;

	if (likely(p->nseg && p->seg[0].iov_len >= off + len)) {
		if (!len)
			return 0;
		dst[0].iov_base = (uint8_t *)p->seg[0].iov_base + off;
		dst[0].iov_len = len;
		return 1;
	}
	for (unsigned i = 0; i < p->nseg && len; i++) {
		size_t l = p->seg[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l = PV_MIN(l - off, len);
		dst[n].iov_base = (uint8_t *)p->seg[i].iov_base + off;
		dst[n++].iov_len = l;
		len -= l;
		off = 0;
	}
	return n;
}

/* The TCP pseudo-header sum (unfolded) for @l4len bytes of TCP. */
static uint32_t pseudo_sum(const uint8_t *ip, bool v6, uint32_t l4len)
{
	uint8_t tail[8] = { 0 };

	if (v6) {
		tail[0] = (uint8_t)(l4len >> 24);
		tail[1] = (uint8_t)(l4len >> 16);
		tail[2] = (uint8_t)(l4len >> 8);
		tail[3] = (uint8_t)l4len;
		tail[7] = 6;
		return pv_csum_partial(tail, 8, pv_csum_partial(ip + 8, 32, 0));
	}
	tail[1] = 6;
	tail[2] = (uint8_t)(l4len >> 8);
	tail[3] = (uint8_t)l4len;
	return pv_csum_partial(tail, 4, pv_csum_partial(ip + 12, 8, 0));
}

/*
 * The private copy of @p's first bytes in s->hdr (the source may be guest
 * memory that changes under us), of a constant size when the first
 * segment holds it: a few vector moves instead of the iovec walk (~60
 * instructions a segment). Returns the bytes copied.
 */
static size_t hdr_copy(const struct pkt *p, struct seg_info *s)
{
	if (p->nseg && p->seg[0].iov_len >= sizeof(s->hdr) &&
	    p->len >= sizeof(s->hdr)) {
		memcpy(s->hdr, p->seg[0].iov_base, sizeof(s->hdr));
		return sizeof(s->hdr);
	}
	return pv_iov_to_buf(p->seg, p->nseg, 0, s->hdr,
			     PV_MIN((size_t)p->len, sizeof(s->hdr)));
}

/*
 * The bulk of what the switch offers, parsed at layer 2 only: untagged
 * IPv4 TCP without options or fragmentation, or IPv6 TCP without extension
 * headers, read from the header copy @h of @n bytes with what pkt_parse()
 * would find. @p's own layers 3-4 stay unparsed (l3_parsed false: a port
 * that needs them parses them, pkt_parse_l3). False for anything else,
 * which pkt_parse_copy() parses in full (~70 instructions a segment more).
 */
static bool plain_tcp(const uint8_t *h, size_t n, struct seg_info *s)
{
	uint16_t type = pv_get_be16(h + 12);

	if (type == ETH_P_IP && n >= ETH_HLEN + 20 + 20) {
		if (h[ETH_HLEN] != 0x45 || h[ETH_HLEN + 9] != 6 ||
		    (pv_get_be16(h + ETH_HLEN + 6) & 0x3fff))
			return false;
		s->l4_off = ETH_HLEN + 20;
		s->v6 = false;
	} else if (type == ETH_P_IPV6 && n >= ETH_HLEN + 40 + 20) {
		if ((h[ETH_HLEN] >> 4) != 6 || h[ETH_HLEN + 6] != 6)
			return false;
		s->l4_off = ETH_HLEN + 40;
		s->v6 = true;
	} else {
		return false;
	}
	s->l3_off = ETH_HLEN;
	return true;
}

/*
 * What pkt_parse() would have set in a packet plain_tcp() read, once per
 * held flow (not per segment): what GRO delivers is parsed, as before.
 */
static void plain_tcp_fields(struct pkt *p, const struct seg_info *s)
{
	const uint8_t *ip = s->hdr + s->l3_off;
	unsigned k = s->v6 ? 32 : 8;

	p->ethertype = s->v6 ? ETH_P_IPV6 : ETH_P_IP;
	p->l3_off = s->l3_off;
	p->l4_off = s->l4_off;
	p->l4_proto = 6;
	memcpy(p->hash_in, ip + (s->v6 ? 8 : 12), k);
	memcpy(p->hash_in + k, s->hdr + s->l4_off, 4);
	p->hash_len = (uint8_t)(k + 4);
	p->l3_parsed = true;
}

/*
 * An IP packet whose TCP header pkt_parse could not locate (a later IPv4
 * fragment, IPv6 extension headers) may still belong to a held flow: key it
 * by addresses alone, so every such flow is flushed before it (order).
 */
static void addr_key(const struct pkt *p, size_t n, struct seg_info *s)
{
	bool v6 = p->ethertype == ETH_P_IPV6;

	if ((!v6 && p->ethertype != ETH_P_IP) || p->l3_off < ETH_HLEN ||
	    n < p->l3_off + (v6 ? 40u : 20u))
		return;
	s->l3_off = p->l3_off;
	s->v6 = v6;
	s->addr_only = true;
}

/*
 * Reads @p's headers into @s. Sets s->keyed once the flow key is known and
 * s->eligible if the segment may be held at all. No checksum work here.
 */
static void classify(struct pkt *p, uint16_t dst, uint16_t q,
		     struct seg_info *s)
{
	size_t n = 0;
	const uint8_t *ip, *th;
	uint32_t l3len, l4len;
	uint8_t vf = p->vh.flags;
	bool copied = false;

	s->keyed = s->eligible = s->addr_only = false;
	s->dst = dst;
	s->q = q;
	/*
	 * The switch leaves layers 3-4 to us (pkt_parse_l2 only): they are
	 * parsed from the header copy below, not from a second one.
	 */
	if (!p->l3_parsed) {
		n = hdr_copy(p, s);
		copied = true;
		if (plain_tcp(s->hdr, n, s))
			goto tcp;
		if (pkt_parse_copy(p, s->hdr, n) != PV_DROP_NONE)
			return;
	}
	if (p->l3_off && !p->l4_off && p->l3_off <= L2_MAX) {
		addr_key(p, copied ? n : hdr_copy(p, s), s);
		return;
	}
	if (p->l4_proto != 6 || !p->l4_off || p->l3_off < ETH_HLEN ||
	    p->l3_off > L2_MAX ||
	    (p->ethertype != ETH_P_IP && p->ethertype != ETH_P_IPV6))
		return;
	if (!copied)
		n = hdr_copy(p, s);
	s->l3_off = p->l3_off;
	s->l4_off = p->l4_off;
	s->v6 = p->ethertype == ETH_P_IPV6;
tcp:
	if (n < s->l4_off + 20u || s->l4_off <= s->l3_off)
		return;
	ip = s->hdr + s->l3_off;
	th = s->hdr + s->l4_off;

	s->hash = flow_hash(s->hdr, s->l3_off, s->l4_off, s->v6, dst, q);
	s->keyed = true;

	/* From here on an ineligible segment still flushes its flow. */
	if (p->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return;
	s->thlen = (uint16_t)((th[12] >> 4) * 4);
	s->hdr_len = (uint16_t)(s->l4_off + s->thlen);
	if (s->thlen < 20 || s->hdr_len > n)
		return;
	if (s->v6) {
		/* pkt_parse set l4_off only for TCP right after the header. */
		l3len = 40u + pv_get_be16(ip + 4);
		if ((ip[0] >> 4) != 6 || s->l4_off != s->l3_off + 40)
			return;
	} else {
		l3len = pv_get_be16(ip + 2);
		/* No options (ihl 5), no fragment (MF or offset). */
		if (ip[0] != 0x45 || (pv_get_be16(ip + 6) & 0x3fff) ||
		    s->l4_off != s->l3_off + 20)
			return;
	}
	if (l3len > p->len - s->l3_off)
		return;
	l4len = l3len - (s->l4_off - s->l3_off);
	if (l3len < (uint32_t)(s->l4_off - s->l3_off) || l4len <= s->thlen)
		return;		/* truncated, or a pure ACK */
	s->payload = l4len - s->thlen;
	s->flags = th[13];
	s->seq = pv_get_be32(th + 4);
	if (s->flags & TCP_NO_MERGE)
		return;
	/* The merged packet claims csum_start = l4_off, offset 16. */
	if ((vf & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (le16toh(p->vh.csum_start) != s->l4_off ||
	     le16toh(p->vh.csum_offset) != 16))
		return;
	s->npieces = (uint16_t)count_pieces(p, s->hdr_len, s->payload);
	if (s->npieces > GRO_PIECES_MAX)
		return;
	s->eligible = true;
}

/*
 * Checks what the port did not: the IPv4 header checksum and the TCP
 * checksum over the whole segment. DATA_VALID (a port verified it) and
 * NEEDS_CSUM (a local sender, partial by design) are trusted.
 */
static bool csum_ok(const struct pkt *p, const struct seg_info *s)
{
	const uint8_t *ip = s->hdr + s->l3_off;
	uint32_t l4len = s->thlen + s->payload, sum;

	if (p->vh.flags & (VIRTIO_NET_HDR_F_DATA_VALID |
			   VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return true;
	if (!s->v6 && pv_csum_fold(pv_csum_partial(ip, 20, 0)) != 0)
		return false;
	sum = pv_csum_iov(p->seg, p->nseg, s->l4_off, l4len,
			  pseudo_sum(ip, s->v6, l4len));
	return pv_csum_fold(sum) == 0;
}

static struct gro_flow *flow_find(struct gro_table *t,
				  const struct seg_info *s)
{
	unsigned b = t->bucket[gro_bucket(s->hash)];

	/* The hint first: with several flows the search visits them all. */
	if (b && (t->used >> (b - 1) & 1)) {
		struct gro_flow *f = &t->flows[b - 1];

		if (f->hash == s->hash && flow_same(f, s, true))
			return f;
	}
	for (uint32_t m = t->used; m; m &= m - 1) {
		struct gro_flow *f = &t->flows[__builtin_ctz(m)];

		if (f->hash == s->hash && flow_same(f, s, true)) {
			t->bucket[gro_bucket(s->hash)] =
				(uint8_t)(f - t->flows + 1);
			return f;
		}
	}
	return NULL;
}

static void flow_free(struct gro_table *t, struct gro_flow *f)
{
	t->used &= ~(1u << (f - t->flows));
	t->held -= f->segs;
}

/* Rewrites the held header for the merged length, as tcp_gro_complete. */
static void finish_header(struct gro_flow *f, bool v6)
{
	uint8_t *ip = f->hdr + f->l3_off, *th = f->hdr + f->l4_off;
	uint32_t l4len = f->hdr_len - f->l4_off + f->payload;
	uint16_t c;

	if (v6) {
		pv_put_be16(ip + 4, (uint16_t)l4len);
	} else {
		pv_put_be16(ip + 2, (uint16_t)(20 + l4len));
		ip[10] = ip[11] = 0;
		c = pv_csum_fold(pv_csum_partial(ip, 20, 0));
		memcpy(ip + 10, &c, 2);
	}
	th[13] |= f->flags_or;
	/* CHECKSUM_PARTIAL: the field holds the pseudo-header sum. */
	c = (uint16_t)~pv_csum_fold(pseudo_sum(ip, v6, l4len));
	memcpy(th + 16, &c, 2);
}

/* Hands @f's packet to the callback and frees the flow. */
static void flow_flush(struct gro_table *t, struct gro_flow *f)
{
	struct gro_out *o = &t->out;
	struct pkt *op = &o->pkt;
	bool v6 = f->v6;

	memcpy(op, &f->first, offsetof(struct pkt, seg));
	if (f->segs == 1) {
		memcpy(op->seg, f->first.seg, f->first.nseg * sizeof(op->seg[0]));
	} else {
		finish_header(f, v6);
		op->len = f->hdr_len + f->payload;
		op->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		op->vh.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
				       VIRTIO_NET_HDR_GSO_TCPV4;
		op->vh.gso_size = htole16(f->mss);
		op->vh.hdr_len = htole16(f->hdr_len);
		op->vh.csum_start = htole16(f->l4_off);
		op->vh.csum_offset = htole16(16);
		op->vh.num_buffers = 0;
		if (t->linbuf) {
			/* The original LRO's copy at the bridge (benchmarks). */
			memcpy(t->linbuf, f->hdr, f->hdr_len);
			pv_iov_to_buf(f->pieces, f->npieces, 0,
				      t->linbuf + f->hdr_len, f->payload);
			op->seg[0].iov_base = t->linbuf;
			op->seg[0].iov_len = op->len;
			op->nseg = 1;
		} else {
			op->seg[0].iov_base = f->hdr;
			op->seg[0].iov_len = f->hdr_len;
			memcpy(op->seg + 1, f->pieces,
			       f->npieces * sizeof(f->pieces[0]));
			op->nseg = (uint16_t)(f->npieces + 1);
		}
		t->st.out_merged++;
	}
	o->dst_port = f->dst;
	o->dst_queue = f->q;
	o->segs = f->segs;
	o->nrefs = f->segs;
	memcpy(o->refs, f->refs, f->segs * sizeof(f->refs[0]));
	t->st.out_pkts++;
	/* Free first: the table is consistent while the callback runs. */
	flow_free(t, f);
	t->deliver(t->arg, o);
}

static struct gro_flow *flow_oldest(struct gro_table *t)
{
	struct gro_flow *old = NULL;

	for (uint32_t m = t->used; m; m &= m - 1) {
		struct gro_flow *f = &t->flows[__builtin_ctz(m)];

		if (!old || f->born < old->born)
			old = f;
	}
	return old;
}

/*
 * The fast path's mask for a new flow (see gro_flow.mask): every header bit
 * that merge_flush(), flow_same() or classify() would look at must repeat.
 * Plain flows only (l3_off ETH_HLEN); others keep nwords 0 (no fast path).
 */
static void flow_mask(struct gro_flow *f)
{
	uint8_t *m = (uint8_t *)f->mask;
	unsigned l3 = f->l3_off, l4 = f->l4_off;

	f->nwords = 0;
	if (l3 != ETH_HLEN)
		return;
	memset(f->mask, 0, sizeof(f->mask));
	memset(m, 0xff, f->hdr_len);
	if (f->v6) {
		m[l3 + 4] = m[l3 + 5] = 0;		/* payload length */
	} else {
		m[l3 + 2] = m[l3 + 3] = 0;		/* total length */
		m[l3 + 4] = m[l3 + 5] = 0;		/* ID: checked apart */
		m[l3 + 10] = m[l3 + 11] = 0;		/* header checksum */
	}
	memset(m + l4 + 4, 0, 4);			/* sequence: apart */
	m[l4 + 13] = (uint8_t)~(TCP_PSH | TCP_FIN);	/* may end the run */
	memset(m + l4 + 16, 0, 4);			/* checksum, urgent ptr */
	f->nwords = (uint8_t)((f->hdr_len + 7) / 8);
}

static struct gro_flow *flow_new(struct gro_table *t, const struct pkt *p,
				 const struct seg_info *s, struct gro_ref ref,
				 uint64_t now)
{
	struct gro_flow *f;
	unsigned i;

	if (t->used == UINT32_MAX >> (32 - GRO_MAX_FLOWS)) {
		t->st.flush_full++;
		flow_flush(t, flow_oldest(t));
	}
	i = (unsigned)__builtin_ctz(~t->used);
	f = &t->flows[i];
	t->used |= 1u << i;
	f->hash = s->hash;
	f->dst = s->dst;
	f->q = s->q;
	f->v6 = s->v6;
	f->hdr_len = s->hdr_len;
	f->l3_off = s->l3_off;
	f->l4_off = s->l4_off;
	f->mss = (uint16_t)s->payload;
	f->segs = 1;
	f->ip_id = s->v6 ? 0 : pv_get_be16(s->hdr + s->l3_off + 4);
	f->id_mode = ID_ONE;
	f->flags_or = 0;
	f->next_seq = s->seq + s->payload;
	f->payload = s->payload;
	f->t_first = now;
	f->t_last = now;
	f->born = t->born++;
	memcpy(f->hdr, s->hdr, s->hdr_len);
	t->bucket[gro_bucket(s->hash)] = (uint8_t)(i + 1);
	flow_mask(f);
	f->refs[0] = ref;
	f->npieces = (uint16_t)add_pieces(f->pieces, p, s->hdr_len, s->payload);
	memcpy(&f->first, p, offsetof(struct pkt, seg));
	memcpy(f->first.seg, p->seg, p->nseg * sizeof(p->seg[0]));
	if (!f->first.l3_parsed)
		plain_tcp_fields(&f->first, s);
	t->held++;
	return f;
}

/*
 * The one IPv4 ID rule, for merge_flush() and fast_merge() alike (Linux
 * inet_gro_flush): the mode @f, holding f->segs segments from ID f->ip_id,
 * has once a segment with ID @id joins it: ID_INC if @id is the first's +
 * f->segs (modulo 2^16), ID_FIXED if it repeats the first's; ID_OTHER, the
 * merge forbidden, if it is neither or not the mode the flow already has.
 * A fixed ID merges with or without DF, as since Linux 6.18: segmentation
 * gives the run distinct IDs, which only makes reassembly of later
 * fragments less ambiguous (a DF change flushes: merge_flush() compares
 * it, the fast path's mask keeps it).
 */
static inline __attribute__((always_inline)) uint8_t
ip_id_next(const struct gro_flow *f, uint16_t id)
{
	uint8_t mode = id == (uint16_t)(f->ip_id + f->segs) ? ID_INC :
		       id == f->ip_id ? ID_FIXED : ID_OTHER;

	return f->id_mode == ID_ONE || mode == f->id_mode ? mode : ID_OTHER;
}

/*
 * Every reason @s cannot join @f, ORed into one word (tcp_gro_receive,
 * inet_gro_receive, ipv6_gro_receive). Sets *id_mode for IPv4.
 */
static uint32_t merge_flush(const struct gro_flow *f, const struct seg_info *s,
			    uint8_t *id_mode)
{
	const uint8_t *a = f->hdr + f->l3_off, *b = s->hdr + s->l3_off;
	const uint8_t *ta = f->hdr + f->l4_off, *tb = s->hdr + s->l4_off;
	unsigned thlen = PV_MIN(s->thlen, f->hdr_len - f->l4_off);
	uint32_t flush = 0;

	if (s->v6) {
		flush |= (pv_get_be32(a) ^ pv_get_be32(b)) & 0x0ff00000;	/* traffic class */
		flush |= a[7] ^ b[7];				/* hop limit */
	} else {
		flush |= a[1] ^ b[1];				/* TOS, ECN */
		flush |= a[8] ^ b[8];				/* TTL */
		flush |= (a[6] ^ b[6]) & 0x40;			/* DF */
		*id_mode = ip_id_next(f, pv_get_be16(b + 4));
		flush |= *id_mode == ID_OTHER;
	}
	/*
	 * The whole word at byte 12 - data offset, flags and window - must
	 * match but for FIN/PSH/CWR, as in Linux tcp_gro_receive(): a window
	 * update in a merged packet would be lost behind the first header.
	 * CWR never gets here (TCP_NO_MERGE). Any ACK number change flushes.
	 */
	flush |= (pv_get_be32(ta + 12) ^ pv_get_be32(tb + 12)) &
		 ~((uint32_t)(TCP_FIN | TCP_PSH | TCP_CWR) << 16);
	flush |= pv_get_be32(ta + 8) ^ pv_get_be32(tb + 8);		/* ACK number */
	/* Options, byte-exact: 8 bytes at a time (timestamps: 12 bytes). */
	{
		unsigned i = 20;
		uint64_t d = 0;

		for (; i + 8 <= thlen; i += 8)
			d |= ld64(ta + i) ^ ld64(tb + i);
		for (; i < thlen; i += 4)
			d |= ld32(ta + i) ^ ld32(tb + i);
		flush |= (uint32_t)(d | d >> 32);
	}
	flush |= s->seq ^ f->next_seq;			/* in order only */
	flush |= s->payload > f->mss;
	return flush;
}

/*
 * The common case without classify(): a segment of a held plain flow whose
 * header copy repeats the flow's under its mask, in sequence, trusted
 * checksum, one piece, room left. Returns the flow and fills what the
 * append needs in @s (payload, flags, hdr_len, *id_mode); NULL when any of
 * it does not hold: gro_receive() then decides in full, as before, so this
 * path only ever merges what the full path would merge.
 */
#define FAST_HEAD	64

/*
 * A flow's hash, destination port and queue as one word: the fast path's
 * identity test is one compare, not three (they sit together at the head
 * of struct gro_flow, so its side is one load).
 */
static_assert(offsetof(struct gro_flow, dst) == 4 &&
	      offsetof(struct gro_flow, q) == 6, "flow_key's word");
static inline uint64_t flow_key(uint32_t hash, uint16_t dst, uint16_t q)
{
	return (uint64_t)hash | (uint64_t)dst << 32 | (uint64_t)q << 48;
}
static_assert(FAST_HEAD >= ETH_HLEN + 40 + 4 && FAST_HEAD >= ETH_HLEN + 20 + 20 &&
	      FAST_HEAD % 8 == 0 && FAST_HEAD <= GRO_HDR_MAX,
	      "the hash's bytes (IPv6 addresses, ports) and a plain IPv4 header");

static inline __attribute__((always_inline)) struct gro_flow *
fast_merge(struct gro_table *t, const struct pkt *p, uint16_t dst, uint16_t q,
	   struct seg_info *s, uint8_t *id_mode)
{
	const uint8_t *h = s->hdr, *ip = h + ETH_HLEN;
	struct gro_flow *f;
	unsigned b, l4, hl;
	uint32_t l3len, payload, iplen;
	uint64_t d = 0;
	uint16_t type;
	bool v6;

	if (!p->nseg || p->seg[0].iov_len < sizeof(s->hdr) ||
	    p->len < sizeof(s->hdr) || p->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return NULL;
	/*
	 * The first FAST_HEAD bytes of the private copy: all a plain IPv4
	 * flow's header (54) and what the hash reads for either version; the
	 * rest below, only for a flow whose header is longer (IPv6, TCP
	 * options), before any of it is read. A copy of 128 bytes a segment
	 * was ~10 instructions more (bench_fwd --tcp).
	 */
	memcpy(s->hdr, p->seg[0].iov_base, FAST_HEAD);
	type = pv_get_be16(h + 12);
	if (type == ETH_P_IP)
		v6 = false;
	else if (type == ETH_P_IPV6)
		v6 = true;
	else
		return NULL;
	l4 = ETH_HLEN + (v6 ? 40 : 20);
	s->hash = flow_hash(h, ETH_HLEN, l4, v6, dst, q);
	b = t->bucket[gro_bucket(s->hash)];
	if (!b || !(t->used >> (b - 1) & 1))
		return NULL;
	f = &t->flows[b - 1];
	if (!f->nwords || flow_key(f->hash, f->dst, f->q) !=
			  flow_key(s->hash, dst, q) ||
	    f->v6 != v6 || f->l4_off != l4)
		return NULL;
	if (f->nwords > FAST_HEAD / 8)
		memcpy(s->hdr + FAST_HEAD,
		       (const uint8_t *)p->seg[0].iov_base + FAST_HEAD,
		       sizeof(s->hdr) - FAST_HEAD);
	/* MACs, ethertype, IP header but lengths/ID/checksum, ports, ACK,
	 * data offset, flags but PSH/FIN, window, options: as the first's. */
	/* every plain header has at least 7 words (54 bytes): the first 8
	 * unrolled, the mask is zero past hdr_len */
	for (unsigned i = 0; i < 8; i++)
		d |= (ld64(h + 8 * i) ^ ld64(f->hdr + 8 * i)) & f->mask[i];
	for (unsigned i = 8; i < f->nwords; i++)
		d |= (ld64(h + 8 * i) ^ ld64(f->hdr + 8 * i)) & f->mask[i];
	if (d)
		return NULL;
	hl = f->hdr_len;
	l3len = v6 ? 40u + pv_get_be16(ip + 4) : pv_get_be16(ip + 2);
	/* classify(): not truncated, not a pure ACK; merge_flush(): MSS */
	if (l3len > p->len - ETH_HLEN || l3len <= hl - ETH_HLEN)
		return NULL;
	payload = l3len - (hl - ETH_HLEN);
	if (payload > f->mss || pv_get_be32(h + l4 + 4) != f->next_seq)
		return NULL;
	if (!v6) {
		uint8_t mode = ip_id_next(f, pv_get_be16(ip + 4));

		if (mode == ID_OTHER)
			return NULL;
		*id_mode = mode;
	}
	/* csum_ok() trusts these; a partial one must point at this TCP. */
	if (p->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (le16toh(p->vh.csum_start) != l4 ||
		    le16toh(p->vh.csum_offset) != 16)
			return NULL;
	} else if (!(p->vh.flags & VIRTIO_NET_HDR_F_DATA_VALID)) {
		return NULL;
	}
	/* one piece (count_pieces), and the limits of gro_receive() */
	iplen = (uint32_t)(hl - ETH_HLEN) + f->payload + payload;
	if (p->seg[0].iov_len < hl + payload || iplen > GRO_MAX_LEN ||
	    f->segs >= GRO_MAX_SEGS || f->npieces + 1u > GRO_PIECES_MAX)
		return NULL;
	s->hdr_len = (uint16_t)hl;
	s->payload = payload;
	s->flags = h[l4 + 13];
	return f;
}

bool gro_receive(struct gro_table *t, struct pkt *p, struct gro_ref ref,
		 uint16_t dst, uint16_t q, uint64_t now_ns)
{
	struct seg_info s;
	struct gro_flow *f;
	uint8_t id_mode = ID_ONE;

	if (t->cfg.policy == GRO_OFF)
		return false;
	f = fast_merge(t, p, dst, q, &s, &id_mode);
	if (f) {
		/* one piece, checked by fast_merge() */
		f->pieces[f->npieces].iov_base =
			(uint8_t *)p->seg[0].iov_base + s.hdr_len;
		f->pieces[f->npieces++].iov_len = s.payload;
		t->st.in_segs++;
		t->st.fast_path++;
		goto append;
	}
	classify(p, dst, q, &s);
	f = s.keyed ? flow_find(t, &s) : NULL;
	if (!s.eligible)
		goto not_eligible;

	if (f) {
		uint32_t iplen = (uint32_t)(f->hdr_len - f->l3_off) +
				 f->payload + s.payload;

		if (merge_flush(f, &s, &id_mode)) {
			t->st.flush_flags++;
			flow_flush(t, f);
			f = NULL;
		} else if (iplen > GRO_MAX_LEN || f->segs >= GRO_MAX_SEGS ||
			   f->npieces + s.npieces > GRO_PIECES_MAX) {
			t->st.flush_full++;
			flow_flush(t, f);
			f = NULL;
		}
	}
	/* A flow's first segment with PSH/FIN would be flushed at once. */
	if (!f && (s.flags & (TCP_PSH | TCP_FIN)))
		goto not_eligible;
	/* Verify only what will be held (Linux: not what flushes anyway). */
	if (!csum_ok(p, &s)) {
		if (f) {
			t->st.flush_flags++;
			flow_flush(t, f);
		}
		t->st.csum_bad++;
		return false;
	}
	t->st.in_segs++;
	if (!f) {
		flow_new(t, p, &s, ref, now_ns);
		return true;
	}
	f->npieces += (uint16_t)add_pieces(f->pieces + f->npieces, p,
					   s.hdr_len, s.payload);
append:
	f->refs[f->segs++] = ref;
	/* both paths: the gap counts from here (a store on a line written
	 * anyway: payload and next_seq sit next to it) */
	f->t_last = now_ns;
	f->payload += s.payload;
	f->next_seq += s.payload;
	f->flags_or |= s.flags & (TCP_PSH | TCP_FIN);
	f->id_mode = id_mode;
	t->held++;
	/* A short last segment, PSH or FIN ends the packet (out_check_final). */
	if (s.payload < f->mss || (s.flags & (TCP_PSH | TCP_FIN))) {
		t->st.flush_flags++;
		flow_flush(t, f);
	}
	return true;

not_eligible:
	if (s.addr_only) {
		for (uint32_t m = t->used; m; m &= m - 1) {
			struct gro_flow *g = &t->flows[__builtin_ctz(m)];

			/* Ports and IPv6 label aside, the same flow. */
			if (flow_same(g, &s, false)) {
				t->st.flush_flags++;
				flow_flush(t, g);
			}
		}
	}
	if (f) {
		t->st.flush_flags++;
		flow_flush(t, f);
	}
	t->st.not_eligible++;
	return false;
}

static inline uint64_t flow_due(const struct gro_table *t,
				const struct gro_flow *f)
{
	return PV_MIN(f->t_last + t->cfg.timeout_ns,
		      f->t_first + t->cfg.max_ns);
}

typedef bool flush_pred(const struct gro_table *t, const struct gro_flow *f,
			uint64_t arg);

static void flush_if(struct gro_table *t, flush_pred *pred, uint64_t arg,
		     uint64_t *counter)
{
	/* Oldest first: a flow's packets leave in the order they came. */
	for (;;) {
		struct gro_flow *old = NULL;

		for (uint32_t m = t->used; m; m &= m - 1) {
			struct gro_flow *f = &t->flows[__builtin_ctz(m)];

			if (pred(t, f, arg) && (!old || f->born < old->born))
				old = f;
		}
		if (!old)
			return;
		(*counter)++;
		flow_flush(t, old);
	}
}

static bool pred_all(const struct gro_table *t, const struct gro_flow *f,
		     uint64_t arg)
{
	(void)t;
	(void)f;
	(void)arg;
	return true;
}

static bool pred_due(const struct gro_table *t, const struct gro_flow *f,
		     uint64_t now)
{
	return flow_due(t, f) <= now;
}

static bool pred_port(const struct gro_table *t, const struct gro_flow *f,
		      uint64_t dst)
{
	(void)t;
	return f->dst == dst;
}

void gro_poll_end(struct gro_table *t, unsigned work, uint64_t now_ns)
{
	bool all = false;

	if (!t->used) {
		t->rounds = 0;
		return;
	}
	switch (t->cfg.policy) {
	case GRO_POLL:
		all = true;
		break;
	case GRO_EVERY:
		all = ++t->rounds >= t->cfg.every;
		break;
	case GRO_ADAPTIVE:
		all = work == 0;
		break;
	case GRO_OFF:
		all = true;
		break;
	}
	if (all) {
		t->rounds = 0;
		flush_if(t, pred_all, 0, &t->st.flush_policy);
		return;
	}
	/* The time bound (flow_due). */
	if (gro_next_deadline(t) <= now_ns)
		flush_if(t, pred_due, now_ns, &t->st.flush_timeout);
}

void gro_flush_all(struct gro_table *t)
{
	t->rounds = 0;
	flush_if(t, pred_all, 0, &t->st.flush_policy);
}

void gro_flush_port(struct gro_table *t, uint16_t dst)
{
	flush_if(t, pred_port, dst, &t->st.flush_policy);
}

uint64_t gro_next_deadline(const struct gro_table *t)
{
	uint64_t first = UINT64_MAX, last = UINT64_MAX;

	if (!t->used)
		return UINT64_MAX;
	/* The earliest flow_due(): a min of mins is the min of each
	 * term's min (two cmovs a flow, every poll round). */
	for (uint32_t m = t->used; m; m &= m - 1) {
		const struct gro_flow *f = &t->flows[__builtin_ctz(m)];

		first = PV_MIN(first, f->t_first);
		last = PV_MIN(last, f->t_last);
	}
	return PV_MIN(last + t->cfg.timeout_ns, first + t->cfg.max_ns);
}

unsigned gro_held(const struct gro_table *t)
{
	return t->held;
}

const struct gro_stats *gro_stats(const struct gro_table *t)
{
	return &t->st;
}

static uint64_t default_timeout(enum gro_policy p)
{
	return p == GRO_ADAPTIVE ? GRO_TIMEOUT_ADAPTIVE_NS :
				   GRO_TIMEOUT_DEFAULT_NS;
}

/* adaptive's max when none is given: never below the timeout. */
static uint64_t default_max(uint64_t timeout_ns)
{
	return PV_MAX(GRO_MAX_ADAPTIVE_NS, timeout_ns);
}

/*
 * A bound in microseconds at @v, up to the next ',' or the end: 1 to
 * GRO_BOUND_MAX_US, digits only. Sets *ns and *next (the ',' or the end).
 */
static int parse_us(const char *v, uint64_t *ns, const char **next)
{
	unsigned long long us;
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	us = strtoull(v, &end, 10);
	if (errno || (*end && *end != ',') || us < 1 || us > GRO_BOUND_MAX_US)
		return -EINVAL;
	*ns = us * 1000;
	*next = end;
	return 0;
}

int gro_cfg_parse(const char *s, struct gro_cfg *cfg)
{
	struct gro_cfg c = { .every = 1 };
	const char *opt = strchr(s, ',');
	size_t n = opt ? (size_t)(opt - s) : strlen(s);
	bool have_timeout = false, have_max = false;
	char *end;

	if (n == 3 && !strncmp(s, "off", 3)) {
		c.policy = GRO_OFF;
	} else if (n == 4 && !strncmp(s, "poll", 4)) {
		c.policy = GRO_POLL;
	} else if (n == 8 && !strncmp(s, "adaptive", 8)) {
		c.policy = GRO_ADAPTIVE;
	} else if (n > 6 && !strncmp(s, "every=", 6)) {
		unsigned long v;

		if (s[6] < '0' || s[6] > '9')
			return -EINVAL;
		errno = 0;
		v = strtoul(s + 6, &end, 10);
		if (errno || end != s + n || v < 1 || v > 1000000)
			return -EINVAL;
		c.policy = GRO_EVERY;
		c.every = (unsigned)v;
	} else {
		return -EINVAL;
	}
	c.timeout_ns = default_timeout(c.policy);
	/* ",timeout=US" for all, ",max=US" for adaptive: each once. */
	while (opt && *opt) {
		bool is_max = c.policy == GRO_ADAPTIVE &&
			      !strncmp(opt, ",max=", 5);

		if (is_max ? have_max : have_timeout)
			return -EINVAL;
		if (is_max) {
			if (parse_us(opt + 5, &c.max_ns, &opt))
				return -EINVAL;
			have_max = true;
		} else if (!strncmp(opt, ",timeout=", 9)) {
			if (parse_us(opt + 9, &c.timeout_ns, &opt))
				return -EINVAL;
			have_timeout = true;
		} else {
			return -EINVAL;
		}
	}
	if (c.policy == GRO_ADAPTIVE) {
		if (!have_max)
			c.max_ns = default_max(c.timeout_ns);
		else if (c.max_ns < c.timeout_ns)
			return -EINVAL;
	}
	cfg->policy = c.policy;
	cfg->every = c.every;
	cfg->timeout_ns = c.timeout_ns;
	cfg->max_ns = c.max_ns;
	return 0;
}

struct gro_table *gro_table_create(const struct gro_cfg *cfg,
				   gro_deliver_fn deliver, void *arg)
{
	struct gro_table *t;
	uint64_t timeout = cfg->timeout_ns ? cfg->timeout_ns :
					     default_timeout(cfg->policy);
	uint64_t max = cfg->max_ns ? cfg->max_ns : default_max(timeout);
	bool adaptive = cfg->policy == GRO_ADAPTIVE;

	static_assert(GRO_MAX_FLOWS <= 32, "flows are tracked in a 32-bit mask");
	static_assert(GRO_MAX_SEGS <= UINT16_MAX, "segment counts are 16-bit");
	/* the parser's limits, for callers that fill the cfg themselves:
	 * t_first + cap must not wrap */
	if (!deliver || (cfg->policy == GRO_EVERY && cfg->every < 1) ||
	    (adaptive && max < timeout) || timeout > GRO_BOUND_MAX_US * 1000 ||
	    max > GRO_BOUND_MAX_US * 1000)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->cfg.timeout_ns = timeout;
	t->cfg.max_ns = adaptive ? max : timeout;
	t->deliver = deliver;
	t->arg = arg;
	if (cfg->linearize) {
		t->linbuf = malloc(GRO_HDR_MAX + GRO_MAX_LEN);
		if (!t->linbuf) {
			free(t);
			return NULL;
		}
	}
	return t;
}

void gro_table_destroy(struct gro_table *t)
{
	if (!t)
		return;
	gro_flush_all(t);
	free(t->linbuf);
	free(t);
}
