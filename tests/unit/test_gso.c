// SPDX-License-Identifier: MIT
/*
 * test_gso.c - software segmentation: 64 KB TCPv4/TCPv6 packets at MSS 1448
 * and at small MSS (hundreds of segments, handed out in bursts), every
 * segment's headers and full checksums, partial checksums, GRO(GSO(x))
 * reproducing x, and lying or oversized GSO packets refused by reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gro_frames.h"

#define OUT_MAX	GSO_MAX_SEGS

static struct pkt out[OUT_MAX];
static uint8_t hdrs[OUT_MAX * GRO_HDR_MAX];

/*
 * Segments @p into out[] / hdrs[], asking gso_next for at most @chunk at a
 * time as the switch does; the total, or -(drop reason).
 */
static int segment_chunked(const struct pkt *p, bool partial_ok,
			   unsigned chunk)
{
	struct gso_state g;
	int total = gso_begin(&g, p, partial_ok), n, done = 0;

	if (total < 0)
		return total;
	assert_true(total <= GSO_MAX_SEGS);
	while ((n = gso_next(&g, out + done, chunk,
			     hdrs + (size_t)done * GRO_HDR_MAX)) > 0) {
		assert_true((unsigned)n <= chunk);
		done += n;
		assert_true(done <= total);
	}
	if (n < 0)
		return n;
	assert_int_equal(done, total);
	assert_int_equal(gso_next(&g, out, chunk, hdrs), 0);	/* stays done */
	return total;
}

static int segment_all(const struct pkt *p, bool partial_ok)
{
	return segment_chunked(p, partial_ok, PKT_BURST_MAX);
}

/* A flat copy of an output segment. */
static uint8_t *flat(const struct pkt *p)
{
	uint8_t *b = malloc(p->len);

	assert_int_equal(pv_iov_to_buf(p->seg, p->nseg, 0, b, p->len), p->len);
	return b;
}

static void check_segments(const struct tf_frame *x, int n, bool v6,
			   bool partial)
{
	uint32_t payload = (uint32_t)(x->len - x->hdr_len), done = 0;
	unsigned l3 = x->p.l3_off, l4 = x->p.l4_off;

	assert_int_equal(n, (payload + x->s.mss - 1) / x->s.mss);
	for (int i = 0; i < n; i++) {
		uint8_t *b = flat(&out[i]);
		uint32_t l4len = (uint32_t)(out[i].len - l4);

		assert_int_equal(out[i].vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		if (partial) {
			assert_int_equal(out[i].vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
			assert_int_equal(le16toh(out[i].vh.csum_start), l4);
			assert_int_equal(le16toh(out[i].vh.csum_offset), 16);
		} else {
			assert_int_equal(out[i].vh.flags, 0);
			/* the scatter list itself sums the same (odd splits) */
			assert_int_equal(pv_csum_fold(pv_csum_iov(out[i].seg,
					 out[i].nseg, l4, l4len,
					 tf_pseudo(b + l3, v6, l4len))), 0);
		}
		done += tf_check_segment(x, b, out[i].len, (unsigned)i,
					 (unsigned)n, v6, partial);
		free(b);
	}
	assert_int_equal(done, payload);
}

static void segment_case(bool v6, const char *spec, unsigned split,
			 bool partial_ok)
{
	struct tf_frame x[1];
	int n;

	assert_int_equal(tf_sequence(spec, v6, 0, split, x, 1), 1);
	n = segment_all(&x[0].p, partial_ok);
	assert_true(n > 0);
	check_segments(&x[0], n, v6, partial_ok);
	tf_free(x, 1);
}

static void gso_v4_64k(void **state)
{
	(void)state;
	segment_case(false, "d|len=65160|gso|partial", 0, false);
	segment_case(false, "d|len=65160|gso", 0, false);
}

static void gso_v6_64k(void **state)
{
	(void)state;
	segment_case(true, "d|len=65160|gso|partial", 0, false);
}

static void gso_odd_split_and_short_tail(void **state)
{
	(void)state;
	segment_case(false, "d|len=60001|gso|partial", 1001, false);
	segment_case(true, "d|len=3000|gso|partial|vid=7", 77, false);
}

static void gso_flags_first_last(void **state)
{
	(void)state;
	segment_case(false, "d|len=5000|gso|partial|psh|fin|cwr", 0, false);
}

static void gso_partial_ok(void **state)
{
	(void)state;
	segment_case(false, "d|len=65160|gso|partial", 333, true);
	segment_case(true, "d|len=10000|gso|partial", 0, true);
}

static void gso_single_segment(void **state)
{
	(void)state;
	segment_case(false, "d|len=1000|gso|partial", 0, false);
}

static void small_mss_case(bool v6, const char *spec, unsigned split,
			   bool partial_ok, unsigned chunk, int want)
{
	struct tf_frame x[1];
	int n;

	assert_int_equal(tf_sequence(spec, v6, 0, split, x, 1), 1);
	n = segment_chunked(&x[0].p, partial_ok, chunk);
	assert_int_equal(n, want);
	check_segments(&x[0], n, v6, partial_ok);
	tf_free(x, 1);
}

/*
 * A 64 KB TSO packet at a small MSS (a small MTU, a tunnel) needs far more
 * than 64 segments: 123 at MSS 536, 745 at MSS 88, and 1366 (the bound) at
 * the smallest MSS, handed out a burst at a time.
 */
static void gso_small_mss(void **state)
{
	(void)state;
	small_mss_case(false, "d|len=65483|gso|partial|mss=536|psh", 0, false, 32, 123);
	small_mss_case(true, "d|len=65483|gso|partial|mss=536|psh", 0, true, 32, 123);
	small_mss_case(false, "d|len=65483|gso|partial|mss=88|fin|cwr", 1001, false, 7, 745);
	small_mss_case(true, "d|len=65483|gso|partial|mss=88", 77, true, 32, 745);
	small_mss_case(false, "d|len=65535|gso|partial|mss=48", 0, false, 1, GSO_MAX_SEGS);
	small_mss_case(true, "d|len=65535|gso|partial|mss=48|psh", 333, true, 32, GSO_MAX_SEGS);
}

/* Below the minimum MSS: refused by name, before any work. */
static void gso_mss_below_minimum(void **state)
{
	struct tf_frame x[1];

	(void)state;
	assert_int_equal(tf_sequence("d|len=5000|gso|partial|mss=47", false, 0, 0,
				     x, 1), 1);
	assert_int_equal(segment_all(&x[0].p, false), -PV_DROP_PKT_GSO_MSS);
	x[0].p.vh.gso_size = htole16(1);
	assert_int_equal(segment_all(&x[0].p, false), -PV_DROP_PKT_GSO_MSS);
	x[0].p.vh.gso_size = htole16(GSO_MIN_MSS);
	assert_int_equal(segment_all(&x[0].p, false), (5000 + 47) / 48);
	tf_free(x, 1);
}

/*
 * More than 64 KiB of payload + headers is refused by name. The bytes past
 * the frame are a NULL buffer: any look at them would crash.
 */
static void gso_over_64k_refused(void **state)
{
	struct tf_frame x[1];
	struct pkt p;

	(void)state;
	assert_int_equal(tf_sequence("d|len=65535|gso|partial|mss=1448", false, 0,
				     0, x, 1), 1);
	assert_int_equal(segment_all(&x[0].p, false), 46);
	p = x[0].p;
	p.seg[1].iov_base = NULL;
	p.seg[1].iov_len = 1000;
	p.nseg = 2;
	p.len += 1000;		/* over GSO_MAX_FRAME */
	assert_true(p.len > GSO_MAX_FRAME);
	assert_int_equal(segment_all(&p, false), -PV_DROP_PKT_GSO_TOO_BIG);
	/* within the frame bound, but the payload is over 64 KiB */
	p.seg[1].iov_len = GSO_MAX_FRAME - x[0].len;
	p.len = GSO_MAX_FRAME;
	assert_true(p.len - x[0].hdr_len > GSO_MAX_PAYLOAD);
	assert_int_equal(segment_all(&p, false), -PV_DROP_PKT_GSO_TOO_BIG);
	tf_free(x, 1);
}

struct gro_sink {
	unsigned n;
	uint16_t segs;
	uint8_t *bytes;
	uint32_t len;
	struct virtio_net_hdr vh;
};

static void sink(void *arg, struct gro_out *o)
{
	struct gro_sink *s = arg;

	s->n++;
	s->segs = o->segs;
	s->len = o->pkt.len;
	s->vh = o->pkt.vh;
	free(s->bytes);
	s->bytes = flat(&o->pkt);
}

/* GRO(GSO(x)) is x again: the same payload, headers and GSO fields. */
static void gro_of_gso_is_identity(void **state)
{
	for (int v = 0; v < 2; v++) {
		struct gro_cfg cfg = { .policy = GRO_POLL };
		struct gro_sink s = { 0 };
		struct gro_table *t = gro_table_create(&cfg, sink, &s);
		struct tf_frame x[1];
		int n;

		(void)state;
		assert_int_equal(tf_sequence("d|len=65160|gso|partial", v, 0, 500,
					     x, 1), 1);
		n = segment_all(&x[0].p, false);
		assert_int_equal(n, 45);
		for (int i = 0; i < n; i++) {
			struct gro_ref ref = { .cookie = (uint32_t)i };

			assert_true(gro_receive(t, &out[i], ref, 0, 0, 1));
		}
		gro_flush_all(t);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.segs, 45);
		assert_int_equal(s.len, x[0].len);
		assert_int_equal(le16toh(s.vh.gso_size), TF_MSS);
		assert_int_equal(le16toh(s.vh.hdr_len), x[0].hdr_len);
		/* identical but for the TCP checksum field (partial in both) */
		assert_memory_equal(s.bytes, x[0].buf, x[0].p.l4_off + 16);
		assert_memory_equal(s.bytes + x[0].p.l4_off + 16,
				    x[0].buf + x[0].p.l4_off + 16,
				    x[0].len - x[0].p.l4_off - 16);
		assert_memory_equal(s.bytes, x[0].buf, x[0].len);
		free(s.bytes);
		gro_table_destroy(t);
		tf_free(x, 1);
	}
}

static void gso_lies_refused(void **state)
{
	struct tf_frame x[1];
	struct pkt p;

	(void)state;
	assert_int_equal(tf_sequence("d|len=5000|gso|partial", false, 0, 0, x, 1), 1);
	p = x[0].p;
	p.vh.gso_size = 0;
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.vh.hdr_len = htole16((uint16_t)(p.len + 1));
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.vh.csum_start = htole16((uint16_t)(p.len + 10));
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_CSUM);
	p = x[0].p;
	p.vh.csum_offset = htole16(6);	/* the UDP checksum's place */
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_CSUM);
	p = x[0].p;
	p.vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;	/* wrong family */
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.l4_proto = 17;	/* not TCP */
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.len = p.l4_off + 10;	/* TCP header cut */
	p.vh.hdr_len = 0;
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_TRUNC);
	p = x[0].p;
	p.len = x[0].hdr_len;	/* no payload at all */
	assert_int_equal(segment_all(&p, false),
			 -PV_DROP_PKT_HDR_GSO);
	/* in bursts of 3, the same 4 segments as in one go */
	assert_int_equal(segment_chunked(&x[0].p, false, 3), 4);
	check_segments(&x[0], 4, false, false);
	/* and the original is untouched */
	assert_int_equal(segment_all(&x[0].p, false), 4);
	tf_free(x, 1);

	/* an IPv4 fragment cannot be segmented */
	assert_int_equal(tf_sequence("d|len=5000|gso|partial|frag", false, 0, 0,
				     x, 1), 1);
	assert_int_equal(segment_all(&x[0].p, false),
			 -PV_DROP_PKT_HDR_GSO);
	tf_free(x, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gso_v4_64k),
		cmocka_unit_test(gso_v6_64k),
		cmocka_unit_test(gso_odd_split_and_short_tail),
		cmocka_unit_test(gso_flags_first_last),
		cmocka_unit_test(gso_partial_ok),
		cmocka_unit_test(gso_single_segment),
		cmocka_unit_test(gro_of_gso_is_identity),
		cmocka_unit_test(gso_lies_refused),
		cmocka_unit_test(gso_small_mss),
		cmocka_unit_test(gso_mss_below_minimum),
		cmocka_unit_test(gso_over_64k_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
