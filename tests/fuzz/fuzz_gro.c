// SPDX-License-Identifier: MIT
/*
 * fuzz_gro.c - libFuzzer target for the GRO table and GSO: the input is a
 * sequence of TCP segments (flows, flags, sequence jumps, sizes, options,
 * checksums, split points, corrupted header bytes) offered to one table with
 * poll ends and clock steps in between. Invariants: every segment the table
 * took comes back exactly once; a delivered packet's payload is exactly its
 * segments' payloads in order, all with one TCP window; within a flow
 * nothing is reordered; GSO of a merged packet, a burst at a time, gives
 * back the same payload. ASan/UBSan do the rest.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../unit/gro_frames.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REC	8		/* bytes per segment record */
#define NSEG	160

struct fz {
	struct tf_frame f[NSEG];
	bool corrupt[NSEG];
	bool taken[NSEG];
	bool back[NSEG];
	int last[8][2];		/* last delivered index per (flow, dst) */
	unsigned n;
	bool v6;
	uint8_t gso_partial;
};

static struct pkt gso_out[PKT_BURST_MAX];
static uint8_t gso_hdr[PKT_BURST_MAX * GRO_HDR_MAX];
static uint8_t flat[GRO_HDR_MAX + 70000], flat2[GRO_HDR_MAX + 70000];

static void order(struct fz *z, unsigned i)
{
	int *l;

	if (z->corrupt[i])
		return;
	l = &z->last[z->f[i].s.flow & 7][z->f[i].s.dst & 1];
	CHECK((int)i > *l);
	*l = (int)i;
}

/*
 * Segments @p a burst of at most @chunk at a time, as the switch does;
 * calls @fn on each segment. The total, or -(drop reason).
 */
static int gso_chunked(const struct pkt *p, bool partial, unsigned chunk,
		       void (*fn)(const struct pkt *, void *), void *arg)
{
	struct gso_state g;
	int total = gso_begin(&g, p, partial), n, done = 0;

	if (total < 0)
		return total;
	CHECK(total <= GSO_MAX_SEGS);
	while ((n = gso_next(&g, gso_out, chunk, gso_hdr)) > 0) {
		CHECK((unsigned)n <= chunk);
		for (int i = 0; i < n; i++)
			if (fn)
				fn(&gso_out[i], arg);
		done += n;
	}
	if (n < 0)
		return n;
	CHECK(done == total);
	return total;
}

struct gso_walk {
	size_t hdr_len, pos, mss;
};

static void gso_piece(const struct pkt *o, void *arg)
{
	struct gso_walk *w = arg;
	size_t l = o->len - w->hdr_len;

	CHECK(o->len > w->hdr_len);
	CHECK(l <= w->mss);
	CHECK(w->pos + l <= sizeof(flat2));
	CHECK(pv_iov_to_buf(o->seg, o->nseg, w->hdr_len, flat2 + w->pos, l) == l);
	w->pos += l;
}

/* GSO of a merged packet: the same payload, cut at gso_size. */
static void check_gso(struct fz *z, const struct pkt *p, size_t hdr_len)
{
	struct gso_walk w = { hdr_len, 0, le16toh(p->vh.gso_size) };
	int n = gso_chunked(p, z->gso_partial & 1,
			    1 + (z->gso_partial >> 1) % PKT_BURST_MAX,
			    gso_piece, &w);

	/* GRO merges any MSS; software GSO cuts no finer than its minimum. */
	if (w.mss < GSO_MIN_MSS) {
		CHECK(n == -PV_DROP_PKT_GSO_MSS);
		return;
	}
	CHECK(n > 0);
	CHECK(w.pos == p->len - hdr_len);
	CHECK(!memcmp(flat2, flat + hdr_len, w.pos));
}

static void deliver(void *arg, struct gro_out *o)
{
	struct fz *z = arg;
	const struct pkt *p = &o->pkt;
	size_t pos;

	CHECK(o->segs == o->nrefs && o->segs >= 1);
	CHECK(p->len <= sizeof(flat));
	CHECK(pv_iov_to_buf(p->seg, p->nseg, 0, flat, p->len) == p->len);
	for (unsigned i = 0; i < o->nrefs; i++) {
		unsigned c = o->refs[i].cookie;

		CHECK(c < z->n && z->taken[c] && !z->back[c]);
		z->back[c] = true;
		order(z, c);
	}
	if (o->segs == 1) {
		const struct tf_frame *f = &z->f[o->refs[0].cookie];

		CHECK(p->len == f->len && !memcmp(flat, f->buf, f->len));
		return;
	}
	pos = le16toh(p->vh.hdr_len);
	CHECK(p->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE);
	CHECK(pos == p->seg[0].iov_len || p->nseg == 1);
	for (unsigned i = 0; i < o->nrefs; i++) {
		const struct tf_frame *f = &z->f[o->refs[i].cookie];
		/* the payload as the IP header of the segment bounds it */
		struct pkt fq = f->p;
		const struct pkt *fp = &fq;
		size_t hl;
		size_t l;

		/* GRO may have left an l2_only frame's layers 3-4 unparsed */
		pkt_parse_l3(&fq);
		hl = fp->l4_off + ((f->buf[fp->l4_off + 12] >> 4) * 4u);

		if (z->v6)
			l = 40u + pv_get_be16(f->buf + fp->l3_off + 4) - (hl - fp->l3_off);
		else
			l = pv_get_be16(f->buf + fp->l3_off + 2) - (hl - fp->l3_off);
		CHECK(pos + l <= p->len);
		CHECK(!memcmp(flat + pos, f->buf + hl, l));
		/* one header stands for all: no window update hides inside */
		CHECK(!memcmp(f->buf + fp->l4_off + 14,
			      z->f[o->refs[0].cookie].buf + fp->l4_off + 14, 2));
		pos += l;
	}
	CHECK(pos == p->len);
	check_gso(z, p, le16toh(p->vh.hdr_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t sizes[8] = { 1448, 1448, 1448, 1000, 0, 1, 100, 1448 };
	struct tf_flowstate fs[8][2];
	/* adaptive's cap at 3 gaps: a flow fed faster than the gap reaches it */
	struct gro_cfg cfg = { .policy = GRO_ADAPTIVE, .timeout_ns = 20000,
			       .max_ns = 60000 };
	struct gro_table *t;
	struct fz *z;
	uint64_t now = 1000;
	bool l2_only;

	if (size < 2)
		return 0;
	z = calloc(1, sizeof(*z));
	z->v6 = data[0] & 1;
	z->gso_partial = data[0] >> 1;
	cfg.linearize = data[0] & 0x80;
	/* As the switch offers them: MACs parsed, layers 3-4 left to GRO. A
	 * bit of its own (the input's length), crossed with every config bit. */
	l2_only = size & 1;
	cfg.policy = (data[0] >> 2) & 1 ? GRO_EVERY : GRO_ADAPTIVE;
	cfg.every = 2;
	memset(z->last, 0xff, sizeof(z->last));
	memset(fs, 0, sizeof(fs));
	t = gro_table_create(&cfg, deliver, z);
	data++;
	size--;

	for (; size >= REC && z->n < NSEG; data += REC, size -= REC) {
		struct tf_seg s = { 0 };
		struct tf_flowstate *st;
		struct tf_frame *f = &z->f[z->n];
		struct gro_ref ref = { .cookie = z->n };
		unsigned i = z->n;

		s.flow = data[0] & 7;
		s.dst = (data[0] >> 3) & 1;
		s.flags = 0x10 | (data[1] & 0x01 ? 0x08 : 0) |
			  (data[1] & 0x02 ? 0x01 : 0) |
			  ((data[1] & 0xfc) == 0xfc ? (data[2] & 0xe6) : 0);
		s.len = sizes[data[2] & 7];
		if ((data[2] & 0x38) == 0x38)
			s.len = (uint16_t)(data[3] * 7);
		s.ttl = s.hop = data[4] & 1 ? 63 : 64;
		s.ts = data[4] & 2 ? 2 : 1;
		s.nots = (data[4] & 0x0c) == 0x0c;
		s.bad = (data[4] & 0x30) == 0x30;
		s.vhflags = (data[4] >> 6) == 1 ? VIRTIO_NET_HDR_F_DATA_VALID :
			    (data[4] >> 6) == 2 ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0;
		s.ipopt = (data[5] & 0x0f) == 0x0f;
		s.frag = (data[5] & 0xf0) == 0xf0;
		s.df = 1;
		s.ack = 1000;
		s.win = (data[1] & 0xfc) == 0x80 ? 1024 : 512;	/* an update */
		st = &fs[s.flow][s.dst];
		if (!st->used) {
			st->used = true;
			st->seq = 1000000u * (s.flow + 1);
		}
		switch (data[3] & 7) {
		case 6: s.seq = st->seq - s.len; break;	/* retransmit */
		case 7: s.seq = st->seq + 1; break;	/* gap */
		default: s.seq = st->seq; break;
		}
		st->seq = s.seq + s.len;
		s.id = st->id++;
		tf_build(f, &s, z->v6, data[6] * 2u + 1);
		if (data[5] == 0x5a || data[5] == 0xa5) {
			/* a corrupted header byte: parsed again, flow unknown */
			f->buf[data[6] % f->len] = data[7];
			tf_sync(f);
			pkt_parse(&f->p);
			z->corrupt[i] = true;
		}
		if (l2_only)
			CHECK(pkt_parse_l2(&f->p) == PV_DROP_NONE);
		z->n++;
		/* taken before the call: it may come back inside it */
		z->taken[i] = true;
		if (!gro_receive(t, &f->p, ref, s.dst, 0, now)) {
			CHECK(!z->back[i]);
			z->taken[i] = false;
			order(z, i);
			/* lying GSO claims on a packet the table refused */
			if (data[7] & 1) {
				struct pkt p = f->p;

				p.vh.gso_type = data[7] & 2 ? VIRTIO_NET_HDR_GSO_TCPV6 :
							     VIRTIO_NET_HDR_GSO_TCPV4;
				p.vh.gso_size = htole16((uint16_t)(data[3] * 13));
				p.vh.hdr_len = htole16((uint16_t)(data[6] * 3));
				(void)gso_chunked(&p, data[7] & 4,
						  1 + data[5] % PKT_BURST_MAX,
						  NULL, NULL);
			}
		}
		now += (data[7] >> 4) * 3000u;
		if (data[0] & 0x80) {
			gro_poll_end(t, data[0] & 0x40 ? 0 : 1, now);
			/* the time bound: no flow is held past its due time (too-early
			 * flushes are the unit tests' business) */
			CHECK(gro_next_deadline(t) > now);
		}
	}
	gro_table_destroy(t);
	for (unsigned i = 0; i < z->n; i++)
		CHECK(z->taken[i] == z->back[i]);
	tf_free(z->f, z->n);
	free(z);
	return 0;
}
