// SPDX-License-Identifier: MIT
/*
 * test_gso.c - software segmentation: 64 KB TCPv4/TCPv6 packets at MSS 1448,
 * every segment's headers and full checksums, partial checksums, GRO(GSO(x))
 * reproducing x, and lying GSO headers refused with their reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gro_frames.h"

#define OUT_MAX	64

static struct pkt out[OUT_MAX];
static uint8_t hdrs[OUT_MAX * GRO_HDR_MAX];

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

	assert_int_equal(n, (payload + TF_MSS - 1) / TF_MSS);
	for (int i = 0; i < n; i++) {
		uint8_t *b = flat(&out[i]);
		uint8_t *ip = b + l3, *th = b + l4;
		uint32_t sl = PV_MIN(TF_MSS, payload - done);
		uint32_t l4len = (uint32_t)(out[i].len - l4);
		uint8_t fl = x->s.flags;

		assert_int_equal(out[i].len, x->hdr_len + sl);
		assert_memory_equal(b, x->buf, l3);
		assert_int_equal(out[i].vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		if (v6) {
			assert_int_equal(pv_get_be16(ip + 4), l4len);
		} else {
			assert_int_equal(pv_get_be16(ip + 2), out[i].len - l3);
			assert_int_equal(pv_get_be16(ip + 4), (uint16_t)(x->s.id + i));
			assert_int_equal(pv_csum_fold(pv_csum_partial(ip, 20, 0)), 0);
		}
		assert_int_equal(pv_get_be32(th + 4), x->s.seq + done);
		if (i + 1 < n)
			fl &= (uint8_t)~0x09;
		if (i)
			fl &= (uint8_t)~0x80;
		assert_int_equal(th[13], fl);
		assert_memory_equal(th + 18, x->buf + l4 + 18, x->hdr_len - l4 - 18);
		for (uint32_t k = 0; k < sl; k++)
			assert_int_equal(b[x->hdr_len + k],
					 tf_byte(x->s.flow, x->s.seq + done + k));
		if (partial) {
			uint16_t c;

			assert_int_equal(out[i].vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
			assert_int_equal(le16toh(out[i].vh.csum_start), l4);
			assert_int_equal(le16toh(out[i].vh.csum_offset), 16);
			c = (uint16_t)~pv_csum_fold(tf_pseudo(ip, v6, l4len));
			assert_memory_equal(th + 16, &c, 2);
			/* complete it as the receiver would */
			c = pv_csum_fold(pv_csum_partial(th, l4len, 0));
			memcpy(th + 16, &c, 2);
		} else {
			assert_int_equal(out[i].vh.flags, 0);
		}
		assert_int_equal(pv_csum_fold(pv_csum_partial(th, l4len,
					tf_pseudo(ip, v6, l4len))), 0);
		/* the scatter list itself sums the same (odd splits) */
		if (!partial)
			assert_int_equal(pv_csum_fold(pv_csum_iov(out[i].seg,
					 out[i].nseg, l4, l4len,
					 tf_pseudo(ip, v6, l4len))), 0);
		free(b);
		done += sl;
	}
	assert_int_equal(done, payload);
}

static void segment_case(bool v6, const char *spec, unsigned split,
			 bool partial_ok)
{
	struct tf_frame x[1];
	int n;

	assert_int_equal(tf_sequence(spec, v6, 0, split, x, 1), 1);
	n = gso_segment(&x[0].p, out, OUT_MAX, hdrs, partial_ok);
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
		n = gso_segment(&x[0].p, out, OUT_MAX, hdrs, false);
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
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.vh.hdr_len = htole16((uint16_t)(p.len + 1));
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.vh.csum_start = htole16((uint16_t)(p.len + 10));
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_CSUM);
	p = x[0].p;
	p.vh.csum_offset = htole16(6);	/* the UDP checksum's place */
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_CSUM);
	p = x[0].p;
	p.vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;	/* wrong family */
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	p.l4_proto = 17;	/* not TCP */
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_GSO);
	p = x[0].p;
	assert_int_equal(gso_segment(&p, out, 3, hdrs, false),
			 -PV_DROP_PKT_HDR_GSO);	/* more than max_out */
	p = x[0].p;
	p.len = p.l4_off + 10;	/* TCP header cut */
	p.vh.hdr_len = 0;
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_TRUNC);
	p = x[0].p;
	p.len = x[0].hdr_len;	/* no payload at all */
	assert_int_equal(gso_segment(&p, out, OUT_MAX, hdrs, false),
			 -PV_DROP_PKT_HDR_GSO);
	/* and the original is untouched */
	assert_int_equal(gso_segment(&x[0].p, out, OUT_MAX, hdrs, false), 4);
	tf_free(x, 1);

	/* an IPv4 fragment cannot be segmented */
	assert_int_equal(tf_sequence("d|len=5000|gso|partial|frag", false, 0, 0,
				     x, 1), 1);
	assert_int_equal(gso_segment(&x[0].p, out, OUT_MAX, hdrs, false),
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
