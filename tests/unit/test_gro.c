// SPDX-License-Identifier: MIT
/*
 * test_gro.c - GRO conformance table modelled on Linux's
 * tools/testing/selftests/net/gro.c (data, ack, flags, tcp, ip, large, IPv6,
 * VLAN, flows, destinations), plus flush policies on a fake clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gro_frames.h"

#define REC_MAX		80

struct rec {
	bool direct;		/* returned false: delivered by the caller */
	uint16_t segs, nrefs, dst;
	uint32_t refs[GRO_MAX_SEGS];
	struct pkt p;		/* fields and vh as handed out */
	uint8_t *bytes;
	size_t len;
};

struct harness {
	struct rec r[REC_MAX];
	unsigned n;
	struct tf_frame f[TF_MAX];
	unsigned nf;
	bool v6;
};

static struct harness H;

static void record(struct rec *r, const struct pkt *p)
{
	r->p = *p;
	r->len = p->len;
	r->bytes = malloc(p->len ? p->len : 1);
	assert_int_equal(pv_iov_to_buf(p->seg, p->nseg, 0, r->bytes, p->len),
			 p->len);
}

static void deliver(void *arg, struct gro_out *o)
{
	struct harness *h = arg;
	struct rec *r;

	assert_true(h->n < REC_MAX);
	r = &h->r[h->n++];
	memset(r, 0, sizeof(*r));
	r->segs = o->segs;
	r->nrefs = o->nrefs;
	r->dst = o->dst_port;
	for (unsigned i = 0; i < o->nrefs; i++)
		r->refs[i] = o->refs[i].cookie;
	record(r, &o->pkt);
}

static void harness_reset(void)
{
	for (unsigned i = 0; i < H.n; i++)
		free(H.r[i].bytes);
	tf_free(H.f, H.nf);
	memset(&H, 0, sizeof(H));
}

/* Offers frame @i; a refused one is recorded as delivered directly. */
static bool offer(struct gro_table *t, unsigned i, uint64_t now)
{
	struct gro_ref ref = { .port = 1, .queue = 0, .cookie = i };
	struct tf_frame *f = &H.f[i];

	if (gro_receive(t, &f->p, ref, f->s.dst, 0, now))
		return true;
	assert_true(H.n < REC_MAX);
	memset(&H.r[H.n], 0, sizeof(H.r[0]));
	H.r[H.n].direct = true;
	H.r[H.n].segs = 1;
	H.r[H.n].nrefs = 1;
	H.r[H.n].refs[0] = i;
	record(&H.r[H.n++], &f->p);
	return false;
}

/* Everything a delivered packet must satisfy, merged or not. */
static void check_rec(const struct rec *r, bool *seen)
{
	const struct tf_frame *f0 = &H.f[r->refs[0]];
	uint8_t flags = 0;
	size_t pos;

	assert_int_equal(r->segs, r->nrefs);
	for (unsigned i = 0; i < r->nrefs; i++) {
		assert_true(r->refs[i] < H.nf);
		assert_false(seen[r->refs[i]]);
		seen[r->refs[i]] = true;
		if (i)
			assert_true(r->refs[i] > r->refs[i - 1]);
	}
	if (r->segs == 1) {
		/* Unchanged: the same bytes and net header as offered. */
		assert_int_equal(r->len, f0->len);
		assert_memory_equal(r->bytes, f0->buf, f0->len);
		assert_memory_equal(&r->p.vh, &f0->p.vh, sizeof(r->p.vh));
		return;
	}
	/* Payload: the concatenation of every segment's, byte for byte. */
	pos = f0->hdr_len;
	for (unsigned i = 0; i < r->nrefs; i++) {
		const struct tf_frame *f = &H.f[r->refs[i]];

		assert_true(pos + f->s.len <= r->len);
		assert_memory_equal(r->bytes + pos, f->buf + f->hdr_len, f->s.len);
		pos += f->s.len;
		if (i)
			flags |= f->s.flags & 0x09;
		/* One header stands for all: no window or ACK update hides
		 * inside a merged packet (tcp_gro_receive flushes on both). */
		assert_int_equal(f->s.win, f0->s.win);
		assert_int_equal(f->s.ack, f0->s.ack);
	}
	assert_int_equal(pos, r->len);
	/* Headers as tcp_gro_complete leaves them. */
	{
		const uint8_t *b = r->bytes, *ip = b + r->p.l3_off;
		const uint8_t *th = b + r->p.l4_off;
		uint32_t l4len = (uint32_t)(r->len - r->p.l4_off);
		uint16_t c;
		uint8_t *copy;

		assert_memory_equal(b, f0->buf, r->p.l3_off);
		if (H.v6) {
			assert_int_equal(pv_get_be16(ip + 4), r->len - r->p.l3_off - 40);
			assert_int_equal(r->p.vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
		} else {
			assert_int_equal(pv_get_be16(ip + 2), r->len - r->p.l3_off);
			assert_int_equal(pv_csum_fold(pv_csum_partial(ip, 20, 0)), 0);
			assert_int_equal(pv_get_be16(ip + 4), f0->s.id);
			assert_int_equal(r->p.vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
		}
		assert_int_equal(pv_get_be32(th + 4), f0->s.seq);
		assert_int_equal(pv_get_be32(th + 8), f0->s.ack);
		assert_int_equal(pv_get_be16(th + 14), f0->s.win);
		assert_int_equal(th[13], f0->s.flags | flags);
		assert_int_equal(r->p.vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(le16toh(r->p.vh.gso_size), f0->s.len);
		assert_int_equal(le16toh(r->p.vh.hdr_len), f0->hdr_len);
		assert_int_equal(le16toh(r->p.vh.csum_start), r->p.l4_off);
		assert_int_equal(le16toh(r->p.vh.csum_offset), 16);
		/* The field holds the pseudo-header sum ... */
		c = (uint16_t)~pv_csum_fold(tf_pseudo(ip, H.v6, l4len));
		assert_memory_equal(th + 16, &c, 2);
		/* ... so completing it gives a checksum that verifies. */
		copy = malloc(r->len);
		memcpy(copy, b, r->len);
		c = pv_csum_fold(pv_csum_partial(copy + r->p.l4_off, l4len, 0));
		memcpy(copy + r->p.l4_off + 16, &c, 2);
		assert_int_equal(pv_csum_fold(pv_csum_partial(
				 copy + r->p.l4_off, l4len,
				 tf_pseudo(copy + r->p.l3_off, H.v6, l4len))), 0);
		free(copy);
	}
}

struct gro_case {
	const char *name;
	const char *seq;
	const char *expect;	/* segments per delivered packet, in order */
	bool v6;
	uint16_t vid;
	unsigned split;		/* split each frame in two at this offset */
	bool linearize;
	uint64_t csum_bad;
};

static const struct gro_case cases[] = {
	/* data */
	{ .name = "data_same", .seq = "d*8", .expect = "8" },
	{ .name = "data_last_short", .seq = "d*3 d|len=1000", .expect = "4" },
	{ .name = "data_short_middle", .seq = "d d|len=1000 d", .expect = "2 1" },
	{ .name = "data_larger_second", .seq = "d|len=1000 d", .expect = "1 1" },
	{ .name = "data_split_iov", .seq = "d*8", .expect = "8", .split = 61 },
	/* Header and part of the payload in the first piece: a segment in two
	 * pieces is not the fast path's (it appends one piece); each piece is
	 * its own allocation, so reading past the first is an ASan error. */
	{ .name = "data_split_after_header", .seq = "d*8", .expect = "8", .split = 200 },
	{ .name = "v6_split_after_header", .seq = "d*8", .expect = "8", .v6 = true, .split = 200 },
	{ .name = "data_small_mss", .seq = "d|len=100*5 d|len=20", .expect = "6" },
	{ .name = "data_no_options", .seq = "d|nots*6", .expect = "6" },
	{ .name = "data_trusted_valid", .seq = "d|valid*4", .expect = "4" },
	{ .name = "data_trusted_partial", .seq = "d|partial*4", .expect = "4" },
	/* A partial checksum must point at this TCP header's field. */
	{ .name = "data_partial_csum_start_differ", .seq =
	  "d|partial d|partial d|partial|cstart=20 d|partial", .expect = "2 1 1" },
	{ .name = "data_partial_csum_start_differ_v6", .seq =
	  "d|partial d|partial d|partial|cstart=20 d|partial", .expect = "2 1 1", .v6 = true },
	/* Another source MAC is another flow (the hash does not see MACs). */
	{ .name = "data_mac_differ", .seq = "d d d|mac=9 d|mac=9", .expect = "2 2" },
	{ .name = "data_linearize", .seq = "d*5", .expect = "5", .linearize = true },
	{ .name = "data_gso_in_not_eligible", .seq = "d d|gso d", .expect = "1 1 1" },
	/* ack */
	{ .name = "ack_pure", .seq = "a a a", .expect = "1 1 1" },
	{ .name = "ack_between_data", .seq = "d d a d d", .expect = "2 1 2" },
	{ .name = "ack_different", .seq = "d d|ack+1", .expect = "1 1" },
	/* Linux flushes on any ACK number change (th->ack_seq ^ th2->ack_seq),
	 * data or not: the run splits where the ACK moves. */
	{ .name = "ack_advance_mid_run", .seq = "d d d|ack+1448 d|ack+1448", .expect = "2 2" },
	{ .name = "ack_advance_mid_run_v6", .seq = "d d d|ack+1448 d|ack+1448", .expect = "2 2", .v6 = true },
	/* flags */
	{ .name = "flags_psh", .seq = "d d d|psh d", .expect = "3 1" },
	{ .name = "flags_psh_first", .seq = "d|psh d d", .expect = "1 2" },
	{ .name = "flags_fin", .seq = "d d|fin", .expect = "2" },
	{ .name = "flags_syn", .seq = "d d d|syn d", .expect = "2 1 1" },
	{ .name = "flags_rst", .seq = "d d d|rst d", .expect = "2 1 1" },
	{ .name = "flags_urg", .seq = "d d d|urg d", .expect = "2 1 1" },
	{ .name = "flags_cwr", .seq = "d d d|cwr d", .expect = "2 1 1" },
	{ .name = "flags_ece", .seq = "d d d|ece d", .expect = "2 1 1" },
	/* tcp */
	{ .name = "tcp_bad_csum", .seq = "d d|bad d", .expect = "1 1 1", .csum_bad = 1 },
	{ .name = "tcp_bad_csum_v6", .seq = "d d|bad d", .expect = "1 1 1", .v6 = true, .csum_bad = 1 },
	{ .name = "tcp_out_of_order", .seq = "d d|seq+1448 d|seq-2896", .expect = "1 1 1" },
	{ .name = "tcp_retransmit", .seq = "d d d|seq-1448", .expect = "2 1" },
	{ .name = "tcp_gap", .seq = "d d d|seq+1", .expect = "2 1" },
	{ .name = "tcp_ts_differ", .seq = "d|ts=1 d|ts=2", .expect = "1 1" },
	{ .name = "tcp_opt_len_differ", .seq = "d d|nots", .expect = "1 1" },
	/* A window update ends the run; the second packet carries it. */
	{ .name = "tcp_window_update", .seq = "d d d|win=1024 d|win=1024 d|win=1024", .expect = "2 3" },
	{ .name = "tcp_window_update_v6", .seq = "d d d|win=1024 d|win=1024 d|win=1024", .expect = "2 3", .v6 = true },
	{ .name = "tcp_window_shrink_last", .seq = "d*4 d|win=100", .expect = "4 1" },
	/* ip */
	{ .name = "ip_ecn_differ", .seq = "d d|tos=3", .expect = "1 1" },
	{ .name = "ip_tos_differ", .seq = "d d|tos=0x10", .expect = "1 1" },
	{ .name = "ip_ttl_differ", .seq = "d d|ttl=63", .expect = "1 1" },
	{ .name = "ip_options", .seq = "d d|ipopt d", .expect = "1 1 1" },
	{ .name = "ip_fragment", .seq = "d d|frag d", .expect = "1 1 1" },
	{ .name = "ip_id_jump", .seq = "d|df=0 d|df=0|id=5000", .expect = "1 1" },
	{ .name = "ip_id_inc_no_df", .seq = "d|df=0*4", .expect = "4" },
	{ .name = "ip_id_fixed_df", .seq = "d|id=7*4", .expect = "4" },
	/* Linux 6.18 (Gobert, "remove unnecessary df checks"): a fixed ID
	 * merges without DF too; segmentation gives the run distinct IDs. */
	{ .name = "ip_id_fixed_no_df", .seq = "d|id=7|df=0*3", .expect = "3" },
	{ .name = "ip_id_fixed_no_df_then_inc", .seq = "d|id=7|df=0 d|id=7|df=0 d|id=9|df=0", .expect = "2 1" },
	{ .name = "ip_id_fixed_then_inc", .seq = "d|id=7 d|id=7 d|id=9", .expect = "2 1" },
	{ .name = "ip_df_differ", .seq = "d d|df=0", .expect = "1 1" },
	/* The next ID after 0xffff is 0; the run fixed at 0xffff is not it. */
	{ .name = "ip_id_wrap", .seq = "d|id=0xfffe d*3", .expect = "4" },
	{ .name = "ip_id_wrap_then_fixed", .seq = "d|id=0xffff d|id=0 d|id=0", .expect = "2 1" },
	/* large */
	{ .name = "large_45x1448", .seq = "d*45", .expect = "45" },
	{ .name = "large_46x1448", .seq = "d*46", .expect = "45 1" },
	{ .name = "large_v6_45x1448", .seq = "d*46", .expect = "45 1", .v6 = true },
	{ .name = "large_max_segs", .seq = "d|len=100*70", .expect = "64 6" },
	{ .name = "large_max_pieces", .seq = "d|len=100*70", .expect = "63 7", .split = 70 },
	/* IPv6 */
	{ .name = "v6_data_same", .seq = "d*8", .expect = "8", .v6 = true },
	{ .name = "v6_last_short", .seq = "d*3 d|len=7", .expect = "4", .v6 = true },
	{ .name = "v6_tc_differ", .seq = "d d|tc=4", .expect = "1 1", .v6 = true },
	{ .name = "v6_hop_differ", .seq = "d d|hop=1", .expect = "1 1", .v6 = true },
	/* Another flow label is another flow (the hash does not see it). */
	{ .name = "v6_label_differ", .seq = "d d d|label=7 d|label=7", .expect = "2 2", .v6 = true },
	{ .name = "v6_ext_header", .seq = "d d|ext d", .expect = "1 1 1", .v6 = true },
	{ .name = "v6_psh", .seq = "d d|psh d", .expect = "2 1", .v6 = true },
	/* VLAN */
	{ .name = "vlan_data_same", .seq = "d*8", .expect = "8", .vid = 10 },
	{ .name = "vlan_v6_data_same", .seq = "d*8", .expect = "8", .v6 = true, .vid = 10 },
	{ .name = "vlan_separate", .seq = "d|vid=10 d|vid=20|flow=1 d|vid=10 d|vid=20|flow=1", .expect = "2 2" },
	{ .name = "vlan_id_differ", .seq = "d|vid=10 d|vid=11", .expect = "1 1" },
	/* flows and destinations */
	{ .name = "flows_interleaved", .seq =
	  "d d|flow=1 d|flow=2 d d|flow=1 d|flow=2 d d|flow=1 d|flow=2", .expect = "3 3 3" },
	{ .name = "flows_interleaved_psh", .seq =
	  "d d|flow=1 d|psh d|flow=1 d", .expect = "2 2 1" },
	/* Fixed IDs: the two copies share one ID counter in the builder. */
	{ .name = "dst_separate", .seq = "d|dst=1|id=5 d|dst=2|id=5|seq-1448 "
	  "d|dst=1|id=5 d|dst=2|id=5|seq-1448", .expect = "2 2" },
	{ .name = "table_full", .seq =
	  "d d|flow=1 d|flow=2 d|flow=3 d|flow=4 d|flow=5 d|flow=6 d|flow=7 "
	  "d|flow=8 d|flow=9 d|flow=10 d|flow=11 d|flow=12 d|flow=13 d|flow=14 "
	  "d|flow=15 d|flow=16 d|flow=17 d|flow=18 d|flow=19 d|flow=20 "
	  "d|flow=21 d|flow=22 d|flow=23 d|flow=24 d|flow=25 d|flow=26 "
	  "d|flow=27 d|flow=28 d|flow=29 d|flow=30 d|flow=31 d|flow=32 d", .expect = "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1" },
};

/*
 * Set: every case runs on frames parsed as the switch hands them to GRO,
 * MACs only (pkt_parse_l2), and gro_receive parses layers 3-4 itself.
 */
static bool l2_only;
/*
 * Set (with l2_only): every frame without a bad checksum or a partial one
 * comes marked DATA_VALID, as from the switch's uplinks: the path
 * gro_receive takes without classify() (fast_merge) merges only these, so
 * every case must give the same packets with it.
 */
static bool trusted;
/* What the last run_case() counted: segments the fast path appended. */
static uint64_t last_fast_path;

static void run_case(void **state)
{
	const struct gro_case *c = *state;
	struct gro_cfg cfg = { .policy = GRO_POLL, .linearize = c->linearize };
	struct gro_table *t;
	bool seen[TF_MAX] = { false };
	unsigned exp[REC_MAX], nexp = 0;
	char buf[512], *save = NULL;
	int n;

	harness_reset();
	H.v6 = c->v6;
	n = tf_sequence(c->seq, c->v6, c->vid, c->split, H.f, TF_MAX);
	assert_true(n > 0);
	H.nf = (unsigned)n;
	if (l2_only)
		for (unsigned i = 0; i < H.nf; i++)
			assert_int_equal(pkt_parse_l2(&H.f[i].p), PV_DROP_NONE);
	if (trusted)
		for (unsigned i = 0; i < H.nf; i++)
			if (!H.f[i].s.bad && !H.f[i].p.vh.flags)
				H.f[i].p.vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	t = gro_table_create(&cfg, deliver, &H);
	assert_non_null(t);
	for (unsigned i = 0; i < H.nf; i++)
		offer(t, i, 1000 + i);
	gro_flush_all(t);
	assert_int_equal(gro_held(t), 0);

	snprintf(buf, sizeof(buf), "%s", c->expect);
	for (char *tok = strtok_r(buf, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		exp[nexp++] = (unsigned)atoi(tok);
	if (H.n != nexp) {
		for (unsigned i = 0; i < H.n; i++)
			print_message("out %u: segs %u%s\n", i, H.r[i].segs,
				      H.r[i].direct ? " (direct)" : "");
	}
	assert_int_equal(H.n, nexp);
	for (unsigned i = 0; i < H.n; i++) {
		if (H.r[i].segs != exp[i])
			print_message("out %u: segs %u, expected %u\n", i,
				      H.r[i].segs, exp[i]);
		assert_int_equal(H.r[i].segs, exp[i]);
		check_rec(&H.r[i], seen);
		/* What GRO held leaves parsed, whatever it was offered as. */
		if (!H.r[i].direct) {
			struct pkt q = H.r[i].p;

			assert_true(q.l3_parsed);
			q.seg[0].iov_base = H.r[i].bytes;
			q.seg[0].iov_len = q.len;
			q.nseg = 1;
			assert_int_equal(pkt_parse(&q), PV_DROP_NONE);
			assert_int_equal(q.l3_off, H.r[i].p.l3_off);
			assert_int_equal(q.l4_off, H.r[i].p.l4_off);
			assert_int_equal(q.ethertype, H.r[i].p.ethertype);
			assert_int_equal(q.l4_proto, H.r[i].p.l4_proto);
			assert_int_equal(q.hash_len, H.r[i].p.hash_len);
			assert_memory_equal(q.hash_in, H.r[i].p.hash_in, q.hash_len);
		}
		if (c->linearize && H.r[i].segs > 1)
			assert_int_equal(H.r[i].p.nseg, 1);
	}
	for (unsigned i = 0; i < H.nf; i++)
		assert_true(seen[i]);
	assert_int_equal(gro_stats(t)->csum_bad, c->csum_bad);
	/*
	 * Trusted, untagged, one piece: every merged packet's later segments
	 * may take the fast path, so a merge here without it means the fast
	 * path never ran and the case tested only the full one.
	 */
	if (trusted && !c->split) {
		bool merged = false;

		for (unsigned i = 0; i < H.n; i++)
			merged |= H.r[i].segs > 1 && !H.f[H.r[i].refs[0]].s.vid;
		if (merged)
			assert_true(gro_stats(t)->fast_path > 0);
	}
	assert_true(gro_stats(t)->fast_path <= gro_stats(t)->in_segs);
	last_fast_path = gro_stats(t)->fast_path;
	if (!strcmp(c->name, "table_full")) {
		assert_int_equal(H.r[0].refs[0], 0);
		assert_int_equal(gro_stats(t)->flush_full, 2);
	}
	gro_table_destroy(t);
	harness_reset();
}

static void run_case_l2(void **state)
{
	l2_only = true;
	run_case(state);
	l2_only = false;
}

static void run_case_trusted(void **state)
{
	l2_only = trusted = true;
	run_case(state);
	l2_only = trusted = false;
}

/*
 * The IPv4 ID rule (ip_id_next() in gro.c) as each path applies it: every
 * sequence runs parsed, checksums to verify (no merge is the fast path's:
 * classify() and merge_flush() decide), then at layer 2 with DATA_VALID,
 * where fast_merge() must decide every segment that joins a held packet
 * (fast_path counts exactly those) and decline every one that does not,
 * for the full path to flush on. Both runs must give the expected packets,
 * so the same ones. Default IDs count up from 1000, DF set.
 */
static void ip_id_rule_both_paths(void **state)
{
	static const struct { const char *seq, *expect; } v[] = {
		{ "d|id=7*4", "4" },				/* fixed, DF */
		{ "d|id=7|df=0*3", "3" },			/* fixed, no DF */
		{ "d*4", "4" },					/* incrementing */
		{ "d|id=0xfffe d*3", "4" },			/* ... past 0xffff */
		{ "d|id=0xffff*3", "3" },			/* fixed at 0xffff */
		{ "d|id=0xffff d|id=0 d|id=0", "2 1" },		/* inc, then not */
		{ "d d d|id=5000 d", "2 2" },			/* a jump */
		{ "d d d|id=1003", "2 1" },			/* one too far */
		{ "d d|id=1002", "1 1" },			/* a second, skipping one */
		{ "d|id=7 d|id=7 d|id=9", "2 1" },		/* fixed, then inc */
		{ "d|id=7 d|id=8 d|id=7", "2 1" },		/* inc, then fixed */
		{ "d|id=7 d|id=6", "1 1" },			/* one back */
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(v); i++) {
		struct gro_case c = { .name = "ip_id_rule", .seq = v[i].seq,
				      .expect = v[i].expect };
		const struct gro_case *cp = &c;
		unsigned joined = 0;

		for (const char *e = v[i].expect; *e; e++)
			if (*e >= '1' && *e <= '9' && (e == v[i].expect || e[-1] == ' '))
				joined += (unsigned)atoi(e) - 1;
		print_message("%s -> %s\n", v[i].seq, v[i].expect);
		run_case((void **)&cp);
		assert_int_equal(last_fast_path, 0);
		run_case_trusted((void **)&cp);
		assert_int_equal(last_fast_path, joined);
	}
}

/*
 * One copy, one parse: a frame the switch parsed at layer 2 only leaves
 * gro_receive with the fields pkt_parse() gives, held or not, once
 * pkt_parse_l3() ran (GRO may parse them or leave them to it).
 */
static void parse_once_same_fields(void **state)
{
	static const char *const specs[] = { "d", "d|psh", "d|ipopt", "d|frag", "d|ext" };
	struct gro_cfg cfg = { .policy = GRO_POLL };

	(void)state;
	for (unsigned v = 0; v < ARRAY_SIZE(specs) * 2; v++) {
		struct gro_table *t;
		struct pkt want;
		bool v6 = v & 1;

		if (!v6 && !strcmp(specs[v / 2], "d|ext"))
			continue;
		harness_reset();
		assert_int_equal(tf_sequence(specs[v / 2], v6, v == 2 ? 10 : 0, 0,
					     H.f, TF_MAX), 1);
		H.nf = 1;
		want = H.f[0].p;
		assert_true(want.l3_parsed);
		assert_int_equal(pkt_parse_l2(&H.f[0].p), PV_DROP_NONE);
		assert_int_equal(H.f[0].p.l3_off, 0);
		t = gro_table_create(&cfg, deliver, &H);
		offer(t, 0, 1);
		pkt_parse_l3(&H.f[0].p);
		assert_true(H.f[0].p.l3_parsed);
		assert_int_equal(H.f[0].p.l3_off, want.l3_off);
		assert_int_equal(H.f[0].p.l4_off, want.l4_off);
		assert_int_equal(H.f[0].p.l4_proto, want.l4_proto);
		assert_int_equal(H.f[0].p.ethertype, want.ethertype);
		assert_int_equal(H.f[0].p.hash_len, want.hash_len);
		assert_memory_equal(H.f[0].p.hash_in, want.hash_in, want.hash_len);
		gro_table_destroy(t);
	}
	harness_reset();
}

/* Rewrites frame @f (built as TCP) as another kind, then parses it in full. */
enum other_kind { OTHER_UDP, OTHER_ARP, OTHER_VLAN_V6, OTHER_VLAN_V6_UDP };

static void other_frame(struct tf_frame *f, enum other_kind k, bool v6)
{
	unsigned l3 = f->p.l3_off;
	uint8_t *ip = f->buf + l3;
	uint16_t c;

	switch (k) {
	case OTHER_UDP:
	case OTHER_VLAN_V6_UDP:
		if (v6) {
			ip[6] = 17;
		} else {
			ip[9] = 17;
			ip[10] = ip[11] = 0;
			c = pv_csum_fold(pv_csum_partial(ip, 20, 0));
			memcpy(ip + 10, &c, 2);
		}
		break;
	case OTHER_ARP:
		/* Ethernet ARP request, 28 bytes after the ethertype. */
		pv_put_be16(f->buf + 12, 0x0806);
		memcpy(f->buf + 14, "\x00\x01\x08\x00\x06\x04\x00\x01", 8);
		f->len = f->p.len = 14 + 28;
		f->p.seg[0].iov_len = f->len;
		f->p.nseg = 1;
		break;
	case OTHER_VLAN_V6:
		break;
	}
	memset(&f->p.l3_off, 0, sizeof(f->p) - offsetof(struct pkt, l3_off));
	f->p.len = (uint32_t)f->len;
	f->p.seg[0].iov_base = f->buf;
	f->p.seg[0].iov_len = f->len;
	f->p.nseg = 1;
	assert_int_equal(pkt_parse(&f->p), PV_DROP_NONE);
}

/*
 * The same for what is not TCP, or is tagged: UDP (v4, v6), ARP and
 * VLAN-tagged IPv6 (TCP and UDP) offered at layer 2 only leave gro_receive
 * (which takes none of them but the tagged TCP) with pkt_parse()'s fields.
 */
static void parse_once_other_frames(void **state)
{
	static const struct {
		enum other_kind k;
		bool v6;
		unsigned vid;
		bool held;
	} v[] = {
		{ OTHER_UDP, false, 0, false },
		{ OTHER_UDP, true, 0, false },
		{ OTHER_ARP, false, 0, false },
		{ OTHER_VLAN_V6, true, 10, true },
		{ OTHER_VLAN_V6_UDP, true, 10, false },
		{ OTHER_UDP, false, 10, false },
	};
	struct gro_cfg cfg = { .policy = GRO_POLL };

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(v); i++) {
		struct gro_table *t;
		struct pkt want;
		bool took;

		harness_reset();
		assert_int_equal(tf_sequence("d", v[i].v6, v[i].vid, 0, H.f,
					     TF_MAX), 1);
		H.nf = 1;
		other_frame(&H.f[0], v[i].k, v[i].v6);
		want = H.f[0].p;
		assert_true(want.l3_parsed);
		assert_int_equal(pkt_parse_l2(&H.f[0].p), PV_DROP_NONE);
		assert_int_equal(H.f[0].p.l3_off, 0);
		t = gro_table_create(&cfg, deliver, &H);
		took = offer(t, 0, 1);
		assert_int_equal(took, v[i].held);
		pkt_parse_l3(&H.f[0].p);
		assert_true(H.f[0].p.l3_parsed);
		assert_int_equal(H.f[0].p.l3_off, want.l3_off);
		assert_int_equal(H.f[0].p.l4_off, want.l4_off);
		assert_int_equal(H.f[0].p.l4_proto, want.l4_proto);
		assert_int_equal(H.f[0].p.ethertype, want.ethertype);
		assert_int_equal(H.f[0].p.hash_len, want.hash_len);
		assert_memory_equal(H.f[0].p.hash_in, want.hash_in, want.hash_len);
		/* a held one comes out parsed as pkt_parse() parses it */
		gro_flush_all(t);
		assert_int_equal(H.n, 1);
		assert_int_equal(H.r[0].p.l3_off, want.l3_off);
		assert_int_equal(H.r[0].p.l4_off, want.l4_off);
		assert_int_equal(H.r[0].p.ethertype, want.ethertype);
		gro_table_destroy(t);
	}
	harness_reset();
}

/* ---- flush policies on a fake clock ---- */

static struct gro_table *policy_table(const char *spec)
{
	struct gro_cfg cfg = { 0 };
	struct gro_table *t;
	int n;

	harness_reset();
	assert_int_equal(gro_cfg_parse(spec, &cfg), 0);
	n = tf_sequence("d*20", false, 0, 0, H.f, TF_MAX);
	assert_int_equal(n, 20);
	H.nf = 20;
	t = gro_table_create(&cfg, deliver, &H);
	assert_non_null(t);
	return t;
}

static void policy_poll(void **state)
{
	struct gro_table *t = policy_table("poll");

	(void)state;
	assert_true(offer(t, 0, 100));
	assert_true(offer(t, 1, 110));
	assert_int_equal(gro_next_deadline(t), 100 + 100000);
	gro_poll_end(t, 2, 120);
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].segs, 2);
	assert_int_equal(gro_next_deadline(t), UINT64_MAX);
	assert_true(offer(t, 2, 200));
	gro_poll_end(t, 1, 210);
	assert_int_equal(H.n, 2);
	assert_int_equal(gro_stats(t)->flush_policy, 2);
	gro_table_destroy(t);
	harness_reset();
}

static void policy_every2(void **state)
{
	struct gro_table *t = policy_table("every=2");
	unsigned k = 0;

	(void)state;
	for (unsigned round = 1; round <= 6; round++) {
		assert_true(offer(t, k++, round * 1000));
		assert_true(offer(t, k++, round * 1000 + 10));
		gro_poll_end(t, 2, round * 1000 + 20);
		/* Flushed at every second round: 4 segments each time. */
		assert_int_equal(H.n, round / 2);
		if (round % 2 == 0)
			assert_int_equal(H.r[H.n - 1].segs, 4);
	}
	gro_table_destroy(t);
	harness_reset();
}

static void policy_adaptive(void **state)
{
	struct gro_table *t = policy_table("adaptive");

	(void)state;
	assert_true(offer(t, 0, 1000));
	gro_poll_end(t, 1, 2000);
	assert_true(offer(t, 1, 3000));
	gro_poll_end(t, 1, 4000);
	assert_int_equal(H.n, 0);
	assert_int_equal(gro_held(t), 2);
	gro_poll_end(t, 0, 5000);	/* an idle round */
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].segs, 2);
	assert_int_equal(gro_held(t), 0);
	gro_table_destroy(t);
	harness_reset();
}

/* A table that never reaches its policy flush still honours the bound. */
static void timeout_bound(const char *spec, uint64_t timeout)
{
	struct gro_table *t = policy_table(spec);
	uint64_t t0 = 5000000;
	unsigned k = 0;

	assert_true(offer(t, k++, t0));
	assert_int_equal(gro_next_deadline(t), t0 + timeout);
	/* Busy rounds, each with work, until just before the deadline. */
	for (uint64_t now = t0 + timeout / 10; now < t0 + timeout;
	     now += timeout / 10) {
		assert_true(offer(t, k++, now));
		gro_poll_end(t, 1, now);
		assert_int_equal(H.n, 0);
	}
	assert_int_equal(gro_next_deadline(t), t0 + timeout);
	gro_poll_end(t, 1, t0 + timeout);
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].segs, k);
	assert_int_equal(gro_stats(t)->flush_timeout, 1);
	assert_int_equal(gro_next_deadline(t), UINT64_MAX);
	gro_table_destroy(t);
	harness_reset();
}

/*
 * adaptive: a flow whose segments keep coming is held past the timeout;
 * once its newest segment is @timeout old (the sender paused) it goes.
 */
static void adaptive_gap(const char *spec, uint64_t timeout)
{
	struct gro_table *t = policy_table(spec);
	uint64_t t0 = 5000000, now = t0;
	unsigned k = 0;

	/* A segment every timeout / 10, for twice the timeout. */
	for (; k < 20; k++) {
		now = t0 + k * (timeout / 10);
		assert_true(offer(t, k, now));
		assert_int_equal(gro_next_deadline(t), now + timeout);
		gro_poll_end(t, 1, now);
		assert_int_equal(H.n, 0);
	}
	gro_poll_end(t, 1, now + timeout - 1);
	assert_int_equal(H.n, 0);
	gro_poll_end(t, 1, now + timeout);
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].segs, k);
	assert_int_equal(gro_stats(t)->flush_timeout, 1);
	assert_int_equal(gro_next_deadline(t), UINT64_MAX);
	gro_table_destroy(t);
	harness_reset();
}

static void timeout_adaptive_default(void **state)
{
	(void)state;
	adaptive_gap("adaptive", 50000);
}

static void timeout_adaptive_set(void **state)
{
	(void)state;
	adaptive_gap("adaptive,timeout=8", 8000);
}

/*
 * @flows flows round-robin, @rounds segments each, in H.f (frame
 * r * flows + f is flow f's r-th); with @psh the last round carries PSH.
 */
static void interleaved(unsigned flows, unsigned rounds, bool psh)
{
	char spec[4096];
	size_t o = 0;
	int n;

	for (unsigned r = 0; r < rounds; r++)
		for (unsigned f = 0; f < flows; f++)
			o += (size_t)snprintf(spec + o, sizeof(spec) - o,
					      "d|flow=%u%s ", f,
					      psh && r == rounds - 1 ? "|psh" : "");
	assert_true(o < sizeof(spec));
	n = tf_sequence(spec, false, 0, 0, H.f, TF_MAX);
	assert_int_equal(n, (int)(flows * rounds));
	H.nf = (unsigned)n;
}

static struct gro_table *adaptive_table(const char *spec)
{
	struct gro_cfg cfg = { 0 };
	struct gro_table *t;

	assert_int_equal(gro_cfg_parse(spec, &cfg), 0);
	t = gro_table_create(&cfg, deliver, &H);
	assert_non_null(t);
	return t;
}

/*
 * The lead's 4-flow case: each flow gets a quarter of the input, so 45 of
 * its segments span more than the timeout from its first, but its own
 * segments keep coming: nothing is cut by the time bound, every flow
 * reaches its PSH with 45 segments.
 */
static void adaptive_interleaved_hold(void **state)
{
	uint64_t t0 = 5000000, step = 2000;	/* 2 us a segment */
	bool seen[TF_MAX] = { false };
	struct gro_table *t;

	(void)state;
	harness_reset();
	interleaved(4, 45, true);
	t = adaptive_table("adaptive");
	for (unsigned i = 0; i < H.nf; i++) {
		uint64_t now = t0 + i * step;

		assert_true(offer(t, i, now));
		gro_poll_end(t, 1, now);
		/* past the timeout from the first (i >= 25), not the max */
		if (i < H.nf - 4)
			assert_int_equal(H.n, 0);
	}
	assert_true(t0 + H.nf * step > t0 + 50000);
	assert_int_equal(H.n, 4);
	for (unsigned i = 0; i < H.n; i++) {
		assert_int_equal(H.r[i].segs, 45);
		assert_int_equal(H.r[i].refs[0], i);	/* flow i */
		check_rec(&H.r[i], seen);
	}
	assert_int_equal(gro_stats(t)->flush_timeout, 0);
	assert_int_equal(gro_stats(t)->flush_flags, 4);
	assert_int_equal(gro_held(t), 0);
	gro_table_destroy(t);
	harness_reset();
}

/*
 * One of 4 flows stops (its sender is cwnd-limited) while the others keep
 * coming: it alone is flushed, once its last segment is timeout old.
 */
static void adaptive_paused_flow(void **state)
{
	uint64_t t0 = 5000000, step = 2000, t3, now;
	bool seen[TF_MAX] = { false };
	struct gro_table *t;
	char spec[4096];
	size_t o = 0;
	unsigned i;

	(void)state;
	harness_reset();
	/* 5 rounds of flows 0-3 (frames 0-19), then 9 of flows 0-2 */
	for (unsigned r = 0; r < 14; r++)
		for (unsigned f = 0; f < (r < 5 ? 4u : 3u); f++)
			o += (size_t)snprintf(spec + o, sizeof(spec) - o,
					      "d|flow=%u ", f);
	H.nf = (unsigned)tf_sequence(spec, false, 0, 0, H.f, TF_MAX);
	assert_int_equal(H.nf, 47);
	t = adaptive_table("adaptive");
	t3 = t0 + 19 * step;	/* flow 3's last segment */
	for (i = 0; i < H.nf; i++) {
		now = t0 + i * step;
		assert_true(offer(t, i, now));
		/* once flows 1 and 2 sent again, flow 3 is the one due first */
		if (i >= 22 && now <= t3 + 50000)
			assert_int_equal(gro_next_deadline(t), t3 + 50000);
		gro_poll_end(t, 1, now);
		if (now < t3 + 50000) {
			assert_int_equal(H.n, 0);
			continue;
		}
		/* flow 3 alone, all 5 of its segments */
		assert_int_equal(H.n, 1);
		assert_int_equal(H.r[0].refs[0], 3);
		assert_int_equal(H.r[0].segs, 5);
	}
	assert_true(now >= t3 + 50000);
	assert_int_equal(gro_stats(t)->flush_timeout, 1);
	assert_int_equal(gro_held(t), 42);
	/* the others are due timeout after their own last segment */
	assert_int_equal(gro_next_deadline(t), t0 + 44 * step + 50000);
	gro_flush_all(t);
	assert_int_equal(H.n, 4);
	for (i = 0; i < H.n; i++)
		check_rec(&H.r[i], seen);
	gro_table_destroy(t);
	harness_reset();
}

/* A flow that never pauses is still flushed at max from its first. */
static void adaptive_max_caps(const char *spec, uint64_t timeout, uint64_t max,
			      uint64_t step)
{
	uint64_t t0 = 5000000, now = t0;
	struct gro_table *t;
	unsigned k;
	int n;

	harness_reset();
	/* short segments: max / step of them fit in one packet */
	n = tf_sequence("d|len=100*60", false, 0, 0, H.f, TF_MAX);
	assert_int_equal(n, 60);
	H.nf = 60;
	t = adaptive_table(spec);
	for (k = 0; t0 + k * step < t0 + max; k++) {
		now = t0 + k * step;
		assert_true(offer(t, k, now));
		assert_int_equal(gro_next_deadline(t),
				 PV_MIN(now + timeout, t0 + max));
		gro_poll_end(t, 1, now);
		assert_int_equal(H.n, 0);
	}
	assert_true(now + timeout > t0 + max);	/* the cap decides */
	gro_poll_end(t, 1, t0 + max - 1);
	assert_int_equal(H.n, 0);
	gro_poll_end(t, 1, t0 + max);
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].segs, k);
	assert_int_equal(gro_stats(t)->flush_timeout, 1);
	gro_table_destroy(t);
	harness_reset();
}

static void adaptive_max(void **state)
{
	(void)state;
	adaptive_max_caps("adaptive,timeout=50,max=200", 50000, 200000, 10000);
	/* the default: 1000 us, Linux's jiffy at HZ=1000 */
	adaptive_max_caps("adaptive", 50000, 1000000, 20000);
	adaptive_max_caps("adaptive,max=300,timeout=20", 20000, 300000, 15000);
}

/*
 * gro_next_deadline() is the earliest of every flow's two bounds, and
 * the flows go in that order, each at its own.
 */
static void adaptive_deadline_earliest(void **state)
{
	struct gro_table *t;

	(void)state;
	harness_reset();
	interleaved(2, 2, false);	/* A0 B0 A1 B1 */
	t = adaptive_table("adaptive");
	assert_true(offer(t, 0, 1000));		/* A first */
	assert_true(offer(t, 1, 101000));	/* B first */
	assert_int_equal(gro_next_deadline(t), 1000 + 50000);
	assert_true(offer(t, 3, 900000));	/* B last: due 950000 */
	assert_true(offer(t, 2, 960000));	/* A last: due 1001000 (max) */
	assert_int_equal(gro_next_deadline(t), 950000);
	gro_poll_end(t, 1, 949999);
	assert_int_equal(H.n, 0);
	gro_poll_end(t, 1, 950000);
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].refs[0], 1);
	assert_int_equal(H.r[0].segs, 2);
	assert_int_equal(gro_next_deadline(t), 1001000);
	gro_poll_end(t, 1, 1000999);
	assert_int_equal(H.n, 1);
	gro_poll_end(t, 1, 1001000);
	assert_int_equal(H.n, 2);
	assert_int_equal(H.r[1].refs[0], 0);
	assert_int_equal(H.r[1].segs, 2);
	assert_int_equal(gro_stats(t)->flush_timeout, 2);
	assert_int_equal(gro_next_deadline(t), UINT64_MAX);
	gro_table_destroy(t);
	harness_reset();
}

/* Several due at one poll end leave oldest first. */
static void adaptive_due_oldest_first(void **state)
{
	struct gro_table *t;

	(void)state;
	harness_reset();
	/* 0, 1: flow A (the second with PSH), 2: B, 3: C, 4: B again */
	assert_int_equal(tf_sequence("d|flow=0 d|flow=0|psh d|flow=1 d|flow=2 d|flow=1",
				     false, 0, 0, H.f, TF_MAX), 5);
	H.nf = 5;
	t = adaptive_table("adaptive");
	assert_true(offer(t, 0, 1000));		/* A: slot 0 */
	assert_true(offer(t, 2, 2000));		/* B: slot 1 */
	assert_true(offer(t, 1, 3000));		/* A leaves by PSH, slot 0 free */
	assert_int_equal(H.n, 1);
	assert_true(offer(t, 3, 4000));		/* C: slot 0, newer than B */
	assert_true(offer(t, 4, 30000));	/* B: due at 80 us, after C (54) */
	/*
	 * Both due at 100 us: slot order says C first, due order says C
	 * first, creation order says B: a flow's packets leave oldest first.
	 */
	gro_poll_end(t, 1, 100000);
	assert_int_equal(H.n, 3);
	assert_int_equal(H.r[1].refs[0], 2);
	assert_int_equal(H.r[1].segs, 2);
	assert_int_equal(H.r[2].refs[0], 3);
	gro_table_destroy(t);
	harness_reset();
}

static void timeout_every(void **state)
{
	(void)state;
	timeout_bound("every=1000", 100000);
	timeout_bound("every=1000,timeout=10", 10000);
}

static void timeout_poll(void **state)
{
	struct gro_table *t = policy_table("poll,timeout=5");

	(void)state;
	assert_true(offer(t, 0, 0));
	assert_int_equal(gro_next_deadline(t), 5000);
	gro_poll_end(t, 1, 100);	/* poll flushes at once anyway */
	assert_int_equal(H.n, 1);
	gro_table_destroy(t);
	harness_reset();
}

static void deadline_is_oldest(void **state)
{
	struct gro_table *t;

	(void)state;
	harness_reset();
	{
		struct gro_cfg cfg = { .policy = GRO_ADAPTIVE, .timeout_ns = 1000 };
		int n = tf_sequence("d d|flow=1 d|flow=2", false, 0, 0, H.f, TF_MAX);

		assert_int_equal(n, 3);
		H.nf = 3;
		t = gro_table_create(&cfg, deliver, &H);
	}
	assert_int_equal(gro_next_deadline(t), UINT64_MAX);
	assert_true(offer(t, 0, 500));
	assert_true(offer(t, 1, 700));
	assert_true(offer(t, 2, 900));
	assert_int_equal(gro_next_deadline(t), 1500);
	gro_poll_end(t, 1, 1600);	/* only flow 0 is due */
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].refs[0], 0);
	assert_int_equal(gro_next_deadline(t), 1700);
	gro_poll_end(t, 1, 1950);
	assert_int_equal(H.n, 3);
	assert_int_equal(H.r[1].refs[0], 1);
	assert_int_equal(H.r[2].refs[0], 2);
	gro_table_destroy(t);
	harness_reset();
}

static void flush_port_only_that_port(void **state)
{
	struct gro_cfg cfg = { .policy = GRO_POLL };
	struct gro_table *t;

	(void)state;
	harness_reset();
	assert_int_equal(tf_sequence("d|dst=1 d|dst=2|flow=1", false, 0, 0,
				     H.f, TF_MAX), 2);
	H.nf = 2;
	t = gro_table_create(&cfg, deliver, &H);
	assert_true(offer(t, 0, 1));
	assert_true(offer(t, 1, 1));
	gro_flush_port(t, 2);
	assert_int_equal(H.n, 1);
	assert_int_equal(H.r[0].dst, 2);
	assert_int_equal(gro_held(t), 1);
	gro_table_destroy(t);	/* flushes the rest */
	assert_int_equal(H.n, 2);
	harness_reset();
}

static void off_takes_nothing(void **state)
{
	struct gro_table *t = policy_table("off");

	(void)state;
	assert_false(offer(t, 0, 1));
	assert_int_equal(gro_held(t), 0);
	gro_table_destroy(t);
	harness_reset();
}

static void cfg_parse(void **state)
{
	struct gro_cfg c = { .linearize = true };

	(void)state;
	assert_int_equal(gro_cfg_parse("off", &c), 0);
	assert_int_equal(c.policy, GRO_OFF);
	assert_int_equal(gro_cfg_parse("poll", &c), 0);
	assert_int_equal(c.policy, GRO_POLL);
	assert_int_equal(c.timeout_ns, 100000);
	assert_int_equal(gro_cfg_parse("every=2", &c), 0);
	assert_int_equal(c.policy, GRO_EVERY);
	assert_int_equal(c.every, 2);
	assert_int_equal(gro_cfg_parse("adaptive", &c), 0);
	assert_int_equal(c.policy, GRO_ADAPTIVE);
	assert_int_equal(c.timeout_ns, 50000);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=30", &c), 0);
	assert_int_equal(c.timeout_ns, 30000);
	assert_int_equal(gro_cfg_parse("every=3,timeout=200", &c), 0);
	assert_int_equal(c.every, 3);
	assert_int_equal(c.timeout_ns, 200000);
	assert_true(c.linearize);	/* left as it was */
	assert_int_equal(gro_cfg_parse("every=0", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("every=", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("every=-1", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("every=2x", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("polll", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=0", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,tmo=5", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("", &c), -EINVAL);
}

static void cfg_parse_max(void **state)
{
	struct gro_cfg c = { .linearize = true };

	(void)state;
	assert_int_equal(gro_cfg_parse("adaptive", &c), 0);
	assert_int_equal(c.timeout_ns, 50000);
	assert_int_equal(c.max_ns, 1000000);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=50,max=1000", &c), 0);
	assert_int_equal(c.timeout_ns, 50000);
	assert_int_equal(c.max_ns, 1000000);
	assert_int_equal(gro_cfg_parse("adaptive,max=2000", &c), 0);
	assert_int_equal(c.timeout_ns, 50000);
	assert_int_equal(c.max_ns, 2000000);
	assert_int_equal(gro_cfg_parse("adaptive,max=300,timeout=20", &c), 0);
	assert_int_equal(c.timeout_ns, 20000);
	assert_int_equal(c.max_ns, 300000);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=80,max=80", &c), 0);
	assert_int_equal(c.max_ns, 80000);
	/* a timeout above the default max raises it: never below timeout */
	assert_int_equal(gro_cfg_parse("adaptive,timeout=2000", &c), 0);
	assert_int_equal(c.timeout_ns, 2000000);
	assert_int_equal(c.max_ns, 2000000);
	assert_true(c.linearize);	/* left as it was */
	/* max below timeout, stated or default */
	assert_int_equal(gro_cfg_parse("adaptive,timeout=100,max=50", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=49", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=49,timeout=50", &c), -EINVAL);
	/* garbage */
	assert_int_equal(gro_cfg_parse("adaptive,max=", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=0", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=-5", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=1000x", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=1000001", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=99999999999999999999", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,max=100,max=200", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=5,timeout=6", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=50,", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,,max=100", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,maximum=100", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("adaptive,timeout=50 ,max=100", &c), -EINVAL);
	/* the others keep first segment + timeout: max means nothing there */
	assert_int_equal(gro_cfg_parse("poll,max=1000", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("every=2,timeout=10,max=1000", &c), -EINVAL);
	assert_int_equal(gro_cfg_parse("off,max=1000", &c), -EINVAL);
	/* a failed parse leaves @c as it was */
	assert_int_equal(c.timeout_ns, 2000000);
	assert_int_equal(c.max_ns, 2000000);
}

/* A table made from a gro_cfg without max gets the default; one below
 * timeout is refused, as the parser refuses it. */
static void cfg_max_in_table(void **state)
{
	struct gro_cfg cfg = { .policy = GRO_ADAPTIVE, .timeout_ns = 50000,
			       .max_ns = 20000 };

	(void)state;
	harness_reset();
	assert_null(gro_table_create(&cfg, deliver, &H));
	cfg.max_ns = 0;
	{
		struct gro_table *t = gro_table_create(&cfg, deliver, &H);

		assert_non_null(t);
		interleaved(1, 30, false);
		/* every 40 us: the gap never ends it, the default cap does */
		for (unsigned i = 0; i < 30; i++) {
			assert_true(offer(t, i, (uint64_t)i * 40000));
			assert_int_equal(gro_next_deadline(t),
					 PV_MIN((uint64_t)i * 40000 + 50000,
						1000000));
		}
		gro_table_destroy(t);
	}
	/* bounds past a second are not bounds (t_first + cap would wrap) */
	cfg.max_ns = UINT64_MAX;
	assert_null(gro_table_create(&cfg, deliver, &H));
	cfg.max_ns = 0;
	cfg.timeout_ns = 1000000001;
	assert_null(gro_table_create(&cfg, deliver, &H));
	harness_reset();
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(policy_poll),
		cmocka_unit_test(policy_every2),
		cmocka_unit_test(policy_adaptive),
		cmocka_unit_test(timeout_adaptive_default),
		cmocka_unit_test(timeout_adaptive_set),
		cmocka_unit_test(adaptive_interleaved_hold),
		cmocka_unit_test(adaptive_paused_flow),
		cmocka_unit_test(adaptive_max),
		cmocka_unit_test(adaptive_deadline_earliest),
		cmocka_unit_test(adaptive_due_oldest_first),
		cmocka_unit_test(timeout_every),
		cmocka_unit_test(timeout_poll),
		cmocka_unit_test(deadline_is_oldest),
		cmocka_unit_test(flush_port_only_that_port),
		cmocka_unit_test(off_takes_nothing),
		cmocka_unit_test(cfg_parse),
		cmocka_unit_test(cfg_parse_max),
		cmocka_unit_test(cfg_max_in_table),
		cmocka_unit_test(parse_once_same_fields),
		cmocka_unit_test(parse_once_other_frames),
		cmocka_unit_test(ip_id_rule_both_paths),
	};
	struct CMUnitTest tests[3 * ARRAY_SIZE(cases) + ARRAY_SIZE(fixed)];
	static char l2_names[ARRAY_SIZE(cases)][64];
	static char tr_names[ARRAY_SIZE(cases)][64];
	unsigned n = 0;

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		tests[n] = (struct CMUnitTest){ .name = cases[i].name,
						.test_func = run_case,
						.initial_state = (void *)&cases[i] };
		n++;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(l2_names[i], sizeof(l2_names[i]), "%s_l2_only", cases[i].name);
		tests[n++] = (struct CMUnitTest){ .name = l2_names[i],
						  .test_func = run_case_l2,
						  .initial_state = (void *)&cases[i] };
	}
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(tr_names[i], sizeof(tr_names[i]), "%s_l2_trusted", cases[i].name);
		tests[n++] = (struct CMUnitTest){ .name = tr_names[i],
						  .test_func = run_case_trusted,
						  .initial_state = (void *)&cases[i] };
	}
	for (unsigned i = 0; i < ARRAY_SIZE(fixed); i++)
		tests[n++] = fixed[i];
	return _cmocka_run_group_tests("gro", tests, n, NULL, NULL);
}
