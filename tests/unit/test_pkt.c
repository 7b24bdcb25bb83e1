// SPDX-License-Identifier: MIT
/* test_pkt.c - header parsing, Internet checksum, partial-checksum completion */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pvnet/pkt.h"

/* A UDP/IPv4 frame with a correct checksum, built by hand. */
static size_t build_udp4(uint8_t *f, size_t payload)
{
	size_t ip = 14, udp = ip + 20, len = udp + 8 + payload;
	uint16_t v;

	memset(f, 0, len);
	memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	f[ip] = 0x45;
	v = htons((uint16_t)(20 + 8 + payload));
	memcpy(f + ip + 2, &v, 2);
	f[ip + 8] = 64;
	f[ip + 9] = 17;
	memcpy(f + ip + 12, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8);
	v = htons(pv_csum_fold(pv_csum_partial(f + ip, 20, 0)));
	v = pv_csum_fold(pv_csum_partial(f + ip, 20, 0));
	memcpy(f + ip + 10, &v, 2);
	v = htons(1234);
	memcpy(f + udp, &v, 2);
	v = htons(5678);
	memcpy(f + udp + 2, &v, 2);
	v = htons((uint16_t)(8 + payload));
	memcpy(f + udp + 4, &v, 2);
	for (size_t i = 0; i < payload; i++)
		f[udp + 8 + i] = (uint8_t)(i * 13 + 1);
	return len;
}

/* Pseudo-header sum as a sender with NEEDS_CSUM leaves it in the field. */
static uint16_t pseudo4(const uint8_t *f, uint16_t l4len, uint8_t proto)
{
	uint8_t ph[12];
	uint16_t v = htons(l4len);

	memcpy(ph, f + 14 + 12, 8);
	ph[8] = 0;
	ph[9] = proto;
	memcpy(ph + 10, &v, 2);
	return (uint16_t)~pv_csum_fold(pv_csum_partial(ph, 12, 0));
}

static void csum_of_valid_packet_is_zero(void **state)
{
	uint8_t f[200];
	size_t len = build_udp4(f, 101);

	(void)state;
	assert_int_equal(pv_csum_fold(pv_csum_partial(f + 14, 20, 0)), 0);
	(void)len;
}

static void csum_iov_matches_flat_for_odd_splits(void **state)
{
	uint8_t buf[1000];
	uint32_t flat;

	(void)state;
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	flat = pv_csum_fold(pv_csum_partial(buf, sizeof(buf), 0));
	for (unsigned a = 1; a < 20; a++) {
		for (unsigned b = a + 1; b < 40; b += 3) {
			struct iovec iov[3] = {
				{ buf, a }, { buf + a, b - a },
				{ buf + b, sizeof(buf) - b },
			};

			assert_int_equal(pv_csum_fold(pv_csum_iov(iov, 3, 0,
								  sizeof(buf), 0)),
					 flat);
		}
	}
}

/* RFC 1071 as written: 16-bit big-endian words, one at a time. */
static uint16_t csum_ref(const uint8_t *b, size_t len, uint16_t init)
{
	uint32_t sum = init;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * The word loop is unrolled with several accumulators: every length and
 * alignment around its block size, a carried-in sum, all-ones data (the
 * most carries) and 64 KiB frames must give the reference's result.
 */
static void csum_matches_reference_any_length_and_alignment(void **state)
{
	static uint8_t buf[65536 + 64];
	uint32_t seed = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			memset(buf, 0xff, sizeof(buf));
		for (size_t off = 0; off < 8; off++) {
			for (size_t len = 0; len <= 300; len++) {
				uint16_t init = (uint16_t)(len * 977);

				assert_int_equal(pv_csum_fold(pv_csum_partial(buf + off, len,
									    htons(init))),
						 htons(csum_ref(buf + off, len, init)));
			}
			for (size_t len = 65536 - 40; len <= 65536 + 33; len += 7)
				assert_int_equal(pv_csum_fold(pv_csum_partial(buf + off, len, 0)),
						 htons(csum_ref(buf + off, len, 0)));
		}
	}
}

static void parse_udp4_and_vlan(void **state)
{
	uint8_t f[200], g[204];
	struct pkt p = { 0 };
	size_t len = build_udp4(f, 50);

	(void)state;
	p.seg[0].iov_base = f;
	p.seg[0].iov_len = len;
	p.nseg = 1;
	p.len = (uint32_t)len;
	assert_int_equal(pkt_parse(&p), PV_DROP_NONE);
	assert_int_equal(p.l3_off, 14);
	assert_int_equal(p.l4_off, 34);
	assert_int_equal(p.l4_proto, 17);
	assert_int_equal(p.ethertype, 0x0800);

	/* The same with an 802.1Q tag, split at an odd place. */
	memcpy(g, f, 12);
	memcpy(g + 12, "\x81\x00\x00\x05", 4);
	memcpy(g + 16, f + 12, len - 12);
	p.seg[0].iov_base = g;
	p.seg[0].iov_len = 15;
	p.seg[1].iov_base = g + 15;
	p.seg[1].iov_len = len + 4 - 15;
	p.nseg = 2;
	p.len = (uint32_t)len + 4;
	assert_int_equal(pkt_parse(&p), PV_DROP_NONE);
	assert_int_equal(p.l3_off, 18);
	assert_int_equal(p.l4_off, 38);
}

static void parse_truncated(void **state)
{
	uint8_t f[10] = { 0 };
	struct pkt p = { 0 };

	(void)state;
	p.seg[0].iov_base = f;
	p.seg[0].iov_len = sizeof(f);
	p.nseg = 1;
	p.len = sizeof(f);
	assert_int_equal(pkt_parse(&p), PV_DROP_PKT_TRUNC);
}

/*
 * The forwarding parse reads the MACs only and leaves L3/L4 reading "not
 * IP" (a stale offset from the slot's last packet must not reach RSS or
 * GRO); pkt_parse_l3() then finds what pkt_parse() finds, once.
 */
static void parse_l2_then_l3(void **state)
{
	uint8_t f[200], g[16];
	struct pkt p = { 0 }, full = { 0 };
	size_t len = build_udp4(f, 50);

	(void)state;
	p.l3_off = 99;	/* left over from the slot's previous packet */
	p.l4_off = 120;
	p.hash_len = 12;
	p.l3_parsed = true;
	/* Split inside the Ethernet header: the copy crosses pieces. */
	p.seg[0].iov_base = f;
	p.seg[0].iov_len = 5;
	p.seg[1].iov_base = f + 5;
	p.seg[1].iov_len = len - 5;
	p.nseg = 2;
	p.len = (uint32_t)len;
	full = p;
	assert_int_equal(pkt_parse_l2(&p), PV_DROP_NONE);
	assert_memory_equal(p.dst_mac, f, 6);
	assert_memory_equal(p.src_mac, f + 6, 6);
	assert_false(p.l3_parsed);
	assert_int_equal(p.l3_off, 0);
	assert_int_equal(p.l4_off, 0);
	assert_int_equal(p.hash_len, 0);
	pkt_parse_l3(&p);
	assert_true(p.l3_parsed);
	assert_int_equal(pkt_parse(&full), PV_DROP_NONE);
	assert_int_equal(p.l3_off, 14);
	assert_int_equal(p.l4_off, 34);
	assert_int_equal(p.l4_proto, 17);
	assert_int_equal(p.hash_len, full.hash_len);
	assert_memory_equal(p.hash_in, full.hash_in, full.hash_len);
	assert_int_equal(pkt_flow_hash(&p), pkt_flow_hash(&full));

	/* A second call does not parse again (the frame changed meanwhile). */
	f[23] = 6;
	pkt_parse_l3(&p);
	assert_int_equal(p.l4_proto, 17);

	/* Truncation: the same rule as pkt_parse(), whole or in pieces. */
	memcpy(g, f, sizeof(g));
	p.seg[0].iov_base = g;
	p.seg[0].iov_len = 13;
	p.nseg = 1;
	p.len = 13;
	assert_int_equal(pkt_parse_l2(&p), PV_DROP_PKT_TRUNC);
	p.seg[0].iov_len = 7;
	p.seg[1].iov_base = g + 7;
	p.seg[1].iov_len = 6;
	p.nseg = 2;
	assert_int_equal(pkt_parse_l2(&p), PV_DROP_PKT_TRUNC);
	p.seg[1].iov_len = 7;
	p.len = 14;
	assert_int_equal(pkt_parse_l2(&p), PV_DROP_NONE);
	p.len = 13;	/* pieces longer than the frame: the frame decides */
	assert_int_equal(pkt_parse_l2(&p), PV_DROP_PKT_TRUNC);
}

static void partial_csum_completed_without_writing_source(void **state)
{
	uint8_t f[300], orig[300], out[300];
	struct iovec patched[8];
	struct pkt p = { 0 };
	size_t len = build_udp4(f, 77);
	uint16_t good, csum, ps;
	uint32_t off;
	unsigned n;

	(void)state;
	memcpy(&good, f + 34 + 6, 2);
	/* UDP checksum over pseudo-header + UDP: compute the real one. */
	ps = pseudo4(f, (uint16_t)(len - 34), 17);
	memcpy(f + 40, &ps, 2);
	good = pv_csum_fold(pv_csum_partial(f + 34, len - 34, 0));
	memcpy(orig, f, len);

	/* Split the frame so that the checksum field straddles two pieces. */
	p.seg[0].iov_base = f;
	p.seg[0].iov_len = 41;
	p.seg[1].iov_base = f + 41;
	p.seg[1].iov_len = len - 41;
	p.nseg = 2;
	p.len = (uint32_t)len;
	p.vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	p.vh.csum_start = 34;
	p.vh.csum_offset = 6;
	assert_int_equal(pkt_csum_complete(&p, &csum, &off), PV_DROP_NONE);
	assert_int_equal(off, 40);
	assert_int_equal(csum, good);
	n = pkt_patch_iov(&p, off, &csum, patched, 8);
	assert_true(n >= 3);
	assert_int_equal(pv_iov_to_buf(patched, n, 0, out, sizeof(out)), len);
	assert_memory_equal(f, orig, len);	/* the source is untouched */
	assert_memory_equal(out, orig, 40);
	assert_memory_equal(out + 40, &csum, 2);
	assert_memory_equal(out + 42, orig + 42, len - 42);
	/* And the result verifies: sum over pseudo-header + UDP is 0. */
	memcpy(out + 40, &csum, 2);
	assert_int_equal(pv_csum_fold(pv_csum_partial(out + 34, len - 34,
						      ps)), 0);

	/* A claimed offset past the end is refused. */
	p.vh.csum_offset = (uint16_t)(len - 34);
	assert_int_equal(pkt_csum_complete(&p, &csum, &off), PV_DROP_PKT_HDR_CSUM);
}

/* Test vectors of the RSS specification ("Verifying the RSS hash"). */
static void toeplitz_matches_rss_spec(void **state)
{
	static const struct {
		uint8_t src[4], dst[4];
		uint16_t sport, dport;
		uint32_t ip, tcp;
	} v[] = {
		{ { 66, 9, 149, 187 }, { 161, 142, 100, 80 }, 2794, 1766,
		  0x323e8fc2, 0x51ccc178 },
		{ { 199, 92, 111, 2 }, { 65, 69, 140, 83 }, 14230, 4739,
		  0xd718262a, 0xc626b0ea },
		{ { 24, 19, 198, 95 }, { 12, 22, 207, 184 }, 12898, 38024,
		  0xd2d0a5de, 0x5c2b394a },
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t in[12];
		uint16_t sp = htons(v[i].sport), dp = htons(v[i].dport);

		memcpy(in, v[i].src, 4);
		memcpy(in + 4, v[i].dst, 4);
		memcpy(in + 8, &sp, 2);
		memcpy(in + 10, &dp, 2);
		assert_int_equal(pv_toeplitz(in, 8), v[i].ip);
		assert_int_equal(pv_toeplitz(in, 12), v[i].tcp);
	}
}

static void flow_hash_of_packet(void **state)
{
	uint8_t f[200];
	struct pkt p = { 0 };
	size_t len = build_udp4(f, 20);
	uint8_t in[12];
	uint32_t h;

	(void)state;
	p.seg[0].iov_base = f;
	p.seg[0].iov_len = len;
	p.nseg = 1;
	p.len = (uint32_t)len;
	assert_int_equal(pkt_parse(&p), PV_DROP_NONE);
	h = pkt_flow_hash(&p);
	memcpy(in, f + 26, 8);
	memcpy(in + 8, f + 34, 4);
	assert_int_equal(h, pv_toeplitz(in, 12));
	assert_int_not_equal(h, 0);
	/* Another source port is another flow: different hash. */
	f[35] ^= 1;
	assert_int_equal(pkt_parse(&p), PV_DROP_NONE);
	assert_int_not_equal(pkt_flow_hash(&p), h);
}

static void mac_parse_fmt(void **state)
{
	uint8_t m[6];
	char buf[18];

	(void)state;
	assert_int_equal(pv_mac_parse("52:54:00:12:34:5a", m), 0);
	assert_string_equal(pv_mac_fmt(m, buf), "52:54:00:12:34:5a");
	assert_int_equal(pv_mac_parse("52:54:00:12:34", m), -22);
	assert_int_equal(pv_mac_parse("52:54:00:12:34:56:78", m), -22);
	assert_int_equal(pv_mac_parse("zz:54:00:12:34:56", m), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csum_of_valid_packet_is_zero),
		cmocka_unit_test(csum_iov_matches_flat_for_odd_splits),
		cmocka_unit_test(csum_matches_reference_any_length_and_alignment),
		cmocka_unit_test(parse_udp4_and_vlan),
		cmocka_unit_test(parse_truncated),
		cmocka_unit_test(parse_l2_then_l3),
		cmocka_unit_test(partial_csum_completed_without_writing_source),
		cmocka_unit_test(mac_parse_fmt),
		cmocka_unit_test(toeplitz_matches_rss_spec),
		cmocka_unit_test(flow_hash_of_packet),
	};

	return cmocka_run_group_tests_name("pkt", tests, NULL, NULL);
}
