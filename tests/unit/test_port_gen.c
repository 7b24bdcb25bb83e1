// SPDX-License-Identifier: MIT
/*
 * test_port_gen.c - the gen port's frames, as a receiver sees them through
 * the switch: parseable TCP/IPv4, correct IPv4 and TCP checksums, in-order
 * sequence numbers per flow, distinct flows, the payload pattern, the rate
 * limit and the count, and its options.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "pvnet/switch.h"

#define FLOWS	5
#define MSS	1000

/* A port that checks every frame it is handed, as a receiving host would. */
struct check_port {
	struct port port;
	unsigned frames, bad_ip_csum, bad_tcp_csum, bad_seq, bad_payload, bad_parse;
	uint32_t next_seq[FLOWS];
	bool seen[FLOWS];
};

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return ntohs(v);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static unsigned check_tx(struct port *p, unsigned q, struct pkt **pkts, unsigned n)
{
	struct check_port *c = (struct check_port *)p;
	static uint8_t f[65536];

	(void)q;
	for (unsigned i = 0; i < n; i++) {
		struct pkt *pk = pkts[i];
		size_t len = pv_iov_to_buf(pk->seg, pk->nseg, 0, f, sizeof(f));
		uint8_t *ip, *tcp, pseudo[12];
		unsigned fl;
		uint32_t seq, sum;

		c->frames++;
		if (pkt_parse(pk) != PV_DROP_NONE || pk->ethertype != 0x0800 ||
		    pk->l4_proto != 6 || !pk->l4_off || len != pk->len) {
			c->bad_parse++;
			continue;
		}
		ip = f + pk->l3_off;
		tcp = f + pk->l4_off;
		if (pv_csum_fold(pv_csum_partial(ip, 20, 0)) != 0)
			c->bad_ip_csum++;
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 6;
		memcpy(pseudo + 10, ip + 2, 2);
		/* TCP length = IP total length - 20. */
		{
			uint16_t tl = htons((uint16_t)(rd16(ip + 2) - 20));

			memcpy(pseudo + 10, &tl, 2);
		}
		sum = pv_csum_partial(pseudo, 12, 0);
		if (pv_csum_fold(pv_csum_partial(tcp, len - pk->l4_off, sum)) != 0)
			c->bad_tcp_csum++;
		fl = rd16(tcp) - 10000u;
		seq = rd32(tcp + 4);
		if (fl >= FLOWS || rd16(tcp + 2) != 5201) {
			c->bad_parse++;
			continue;
		}
		if (c->seen[fl] && seq != c->next_seq[fl])
			c->bad_seq++;
		c->seen[fl] = true;
		c->next_seq[fl] = seq + (uint32_t)(len - pk->l4_off - 20);
		for (size_t j = 0; j < len - pk->l4_off - 20; j++)
			if (tcp[20 + j] != (uint8_t)(seq + j)) {
				c->bad_payload++;
				break;
			}
	}
	return n;
}

static void check_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops check_ops = {
	.type = "check", .tx_burst = check_tx, .destroy = check_destroy,
};

static struct sw *setup(const char *spec, struct port **gen, struct check_port **chk)
{
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	char err[256] = "";
	struct check_port *c = calloc(1, sizeof(*c));

	assert_non_null(sw);
	*gen = port_create(sw, spec, err, sizeof(err));
	if (!*gen)
		fail_msg("port_create: %s", err);
	assert_true((*gen)->uplink);
	strcpy(c->port.name, "chk");
	c->port.ops = &check_ops;
	c->port.nqueues = 1;
	memcpy(c->port.mac, "\x02\x00\x00\x00\x00\x02", 6);
	c->port.has_mac = true;
	assert_int_equal(sw_port_add(sw, *gen), 0);
	assert_int_equal(sw_port_add(sw, &c->port), 0);
	*chk = c;
	return sw;
}

static void test_gen_frames_are_valid_tcp(void **state)
{
	struct port *gen;
	struct check_port *c;
	struct sw *sw = setup("gen,name=g,flows=5,mss=1000,dst=02:00:00:00:00:02,count=1000",
			      &gen, &c);
	unsigned total = 0, r;

	(void)state;
	/* Budgets that do not divide the burst: bursts end mid-flow. */
	while ((r = dp_poll(gen, 0, 77)) > 0)
		total += r;
	assert_int_equal(total, 1000);
	assert_int_equal(c->frames, 1000);
	assert_int_equal(c->bad_parse, 0);
	assert_int_equal(c->bad_ip_csum, 0);
	assert_int_equal(c->bad_tcp_csum, 0);
	assert_int_equal(c->bad_seq, 0);
	assert_int_equal(c->bad_payload, 0);
	for (unsigned f = 0; f < FLOWS; f++)
		assert_true(c->seen[f]);
	/* Counted where it entered: every generated frame, no drop. */
	assert_int_equal(gen->st.rx_pkts, 1000);
	assert_int_equal(gen->st.rx_bytes, 1000ull * (14 + 20 + 20 + MSS));
	assert_int_equal(c->port.st.drops.n[PV_DROP_TX_NO_DEST], 0);
	sw_destroy(sw);
}

static void test_gen_odd_mss_checksums(void **state)
{
	struct port *gen;
	struct check_port *c;
	/* An odd payload exercises the checksum's trailing byte. */
	struct sw *sw = setup("gen,name=g,flows=1,mss=1,dst=02:00:00:00:00:02,count=64",
			      &gen, &c);

	(void)state;
	while (dp_poll(gen, 0, 64) > 0)
		;
	assert_int_equal(c->frames, 64);
	assert_int_equal(c->bad_tcp_csum + c->bad_ip_csum + c->bad_seq, 0);
	sw_destroy(sw);
}

static void test_gen_rate_limit(void **state)
{
	struct port *gen;
	struct check_port *c;
	struct sw *sw = setup("gen,name=g,mss=100,dst=02:00:00:00:00:02,rate=1000",
			      &gen, &c);
	struct timespec d = { 0, 1000000 };
	uint64_t t0, ms;

	(void)state;
	/*
	 * 1000 frames/s over the loop's real time: the bucket credits one
	 * frame a ms from the first poll and holds no more than a burst, so
	 * at most one a ms elapsed, never the unpaced 64 a poll. The bound
	 * is the clock's, not 100 ms: a loaded host stretches the sleeps.
	 */
	t0 = pv_now_ns();
	for (int i = 0; i < 100; i++) {
		dp_poll(gen, 0, 64);
		nanosleep(&d, NULL);
	}
	ms = (pv_now_ns() - t0) / 1000000 + 1;
	assert_in_range(c->frames, 1, ms);
	assert_true(c->frames < 100 * 64);
	sw_destroy(sw);
}

static void test_gen_unknown_dst_goes_nowhere_counted(void **state)
{
	struct port *gen;
	struct check_port *c;
	/* The only uplink is gen itself: unknown unicast is a loop, counted. */
	struct sw *sw = setup("gen,name=g,dst=02:00:00:00:00:09,count=10", &gen, &c);

	(void)state;
	assert_int_equal(dp_poll(gen, 0, 64), 10);
	assert_int_equal(c->frames, 0);
	assert_int_equal(gen->st.rx_pkts, 10);
	assert_int_equal(gen->st.drops.n[PV_DROP_TX_LOOP] +
			 gen->st.drops.n[PV_DROP_TX_NO_DEST], 10);
	sw_destroy(sw);
}

static void test_gen_tx_counts_as_delivered(void **state)
{
	struct port *gen;
	struct check_port *c;
	struct sw *sw = setup("gen,name=g,dst=02:00:00:00:00:02,count=1", &gen, &c);
	uint8_t f[60] = { 0 };
	struct pkt pk = { .len = 60, .nseg = 1 }, *pp = &pk;

	(void)state;
	pk.seg[0].iov_base = f;
	pk.seg[0].iov_len = 60;
	assert_int_equal(gen->ops->tx_burst(gen, 0, &pp, 1), 1);
	assert_int_equal(gen->st.tx_pkts, 1);
	assert_int_equal(gen->st.tx_bytes, 60);
	sw_destroy(sw);
}

static void test_gen_bad_options(void **state)
{
	static const char *const bad[] = {
		"gen,name=g",				/* no dst */
		"gen,name=g,dst=02:00:00:00:00:02,flows=0",
		"gen,name=g,dst=02:00:00:00:00:02,mss=0",
		"gen,name=g,dst=02:00:00:00:00:02,mss=100000",
		"gen,name=g,dst=02:00:00:00:00:02,rate=-1",
		"gen,name=g,dst=zz",
		"gen,name=g,dst=02:00:00:00:00:02,src=01:00:00:00:00:01",
		"gen,name=g,dst=02:00:00:00:00:02,bogus=1",
	};
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	char err[256];

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(port_create(sw, bad[i], err, sizeof(err)));
		assert_true(err[0] != '\0');
	}
	sw_destroy(sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_frames_are_valid_tcp),
		cmocka_unit_test(test_gen_odd_mss_checksums),
		cmocka_unit_test(test_gen_rate_limit),
		cmocka_unit_test(test_gen_unknown_dst_goes_nowhere_counted),
		cmocka_unit_test(test_gen_tx_counts_as_delivered),
		cmocka_unit_test(test_gen_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
