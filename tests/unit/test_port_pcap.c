// SPDX-License-Identifier: MIT
/*
 * test_port_pcap.c - pcap round trip: a file written here is replayed by one
 * pcap port through the switch into another pcap port's out= file, which
 * must hold the same frames byte for byte, in order; a record cut short by
 * its snaplen is dropped and counted. The capture completes a partial
 * checksum and takes GSO packets only with gso=on.
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvnet/dp.h"
#include "pvnet/switch.h"

#define NFRAMES	100

static char dir[64];
static char in_path[128], out_path[128];

static size_t frame_len(unsigned i)
{
	return 60 + (i * 97) % 1455;
}

static void fill_frame(uint8_t *f, unsigned i)
{
	size_t len = frame_len(i);

	/* Unknown unicast destinations: they go to the uplink (out). */
	memcpy(f, "\x02\x00\x00\x00\x07\x00", 6);
	f[5] = (uint8_t)i;
	memcpy(f + 6, "\x02\x00\x00\x00\x08\x01", 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (size_t j = 14; j < len; j++)
		f[j] = (uint8_t)(i * 31 + j);
}

static int setup(void **state)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
	pcap_dumper_t *d;
	uint8_t f[2048];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pvnet-pcap.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(in_path, sizeof(in_path), "%s/in.pcap", dir);
	snprintf(out_path, sizeof(out_path), "%s/out.pcap", dir);
	d = pcap_dump_open(dead, in_path);
	assert_non_null(d);
	for (unsigned i = 0; i < NFRAMES; i++) {
		struct pcap_pkthdr h = { .ts = { (time_t)i, 0 } };

		fill_frame(f, i);
		h.caplen = h.len = (bpf_u_int32)frame_len(i);
		pcap_dump((u_char *)d, &h, f);
		if (i == 50) {
			/* A record cut short by a capture's snaplen. */
			h.caplen = 40;
			h.len = 100;
			pcap_dump((u_char *)d, &h, f);
		}
	}
	pcap_dump_close(d);
	pcap_close(dead);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(in_path);
	unlink(out_path);
	rmdir(dir);
	return 0;
}

static struct port *mk(struct sw *sw, const char *spec)
{
	char err[512] = "";
	struct port *p = port_create(sw, spec, err, sizeof(err));

	if (!p)
		fail_msg("port_create %s: %s", spec, err);
	assert_int_equal(sw_port_add(sw, p), 0);
	return p;
}

static void test_pcap_round_trip(void **state)
{
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	char spec[300], ebuf[PCAP_ERRBUF_SIZE];
	struct port *out, *in;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint8_t f[2048];
	unsigned n = 0, total = 0, r;
	pcap_t *rd;

	(void)state;
	/* out first: the first uplink gets the unknown unicast. */
	snprintf(spec, sizeof(spec), "pcap,name=out,out=%s", out_path);
	out = mk(sw, spec);
	snprintf(spec, sizeof(spec), "pcap,name=in,in=%s", in_path);
	in = mk(sw, spec);
	assert_int_equal(out->ops->rx_queues(out), 0);
	assert_int_equal(in->ops->rx_queues(in), 1);
	while ((r = dp_poll(in, 0, 13)) > 0)
		total += r;
	assert_int_equal(total, NFRAMES + 1);
	assert_int_equal(in->st.rx_pkts, NFRAMES + 1);
	assert_int_equal(in->st.drops.n[PV_DROP_PKT_TRUNC], 1);
	assert_int_equal(out->st.tx_pkts, NFRAMES);
	/* Destroying the switch must flush the capture. */
	sw_destroy(sw);

	rd = pcap_open_offline(out_path, ebuf);
	assert_non_null(rd);
	assert_int_equal(pcap_datalink(rd), DLT_EN10MB);
	while (pcap_next_ex(rd, &h, &data) == 1) {
		assert_true(n < NFRAMES);
		fill_frame(f, n);
		assert_int_equal(h->caplen, frame_len(n));
		assert_int_equal(h->len, frame_len(n));
		assert_memory_equal(data, f, frame_len(n));
		n++;
	}
	pcap_close(rd);
	assert_int_equal(n, NFRAMES);
}

/* A UDP/IPv4 frame whose checksum field holds the pseudo-header sum. */
static size_t partial_udp(uint8_t *f, struct pkt *pk)
{
	size_t len = 14 + 20 + 8 + 33;
	uint8_t ph[12];
	uint16_t v;

	memset(f, 0, len);
	memcpy(f, "\x02\x00\x00\x00\x07\x01\x02\x00\x00\x00\x08\x01\x08\x00", 14);
	f[14] = 0x45;
	v = htons(20 + 8 + 33);
	memcpy(f + 16, &v, 2);
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8);
	v = pv_csum_fold(pv_csum_partial(f + 14, 20, 0));
	memcpy(f + 24, &v, 2);
	v = htons(1000);
	memcpy(f + 34, &v, 2);
	memcpy(f + 36, &v, 2);
	v = htons(8 + 33);
	memcpy(f + 38, &v, 2);
	for (size_t j = 42; j < len; j++)
		f[j] = (uint8_t)j;
	memcpy(ph, f + 26, 8);
	ph[8] = 0;
	ph[9] = 17;
	memcpy(ph + 10, f + 38, 2);
	/* Not folded to its complement: the sender's partial sum. */
	v = (uint16_t)~pv_csum_fold(pv_csum_partial(ph, 12, 0));
	memcpy(f + 40, &v, 2);
	memset(pk, 0, sizeof(*pk));
	pk->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	pk->vh.csum_start = 34;
	pk->vh.csum_offset = 6;
	pk->len = (uint32_t)len;
	/* Two segments, split inside the UDP header. */
	pk->seg[0].iov_base = f;
	pk->seg[0].iov_len = 37;
	pk->seg[1].iov_base = f + 37;
	pk->seg[1].iov_len = len - 37;
	pk->nseg = 2;
	return len;
}

static void test_pcap_completes_partial_csum_and_gso(void **state)
{
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	char spec[300], ebuf[PCAP_ERRBUF_SIZE];
	uint8_t f[128], before[128];
	struct pkt pk, gso, *pp[2] = { &pk, &gso };
	struct port *out;
	struct pcap_pkthdr *h;
	const u_char *data;
	size_t len;
	pcap_t *rd;

	(void)state;
	snprintf(spec, sizeof(spec), "pcap,name=out,out=%s", out_path);
	out = mk(sw, spec);
	len = partial_udp(f, &pk);
	memcpy(before, f, len);
	gso = pk;
	gso.vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	gso.vh.gso_size = 10;
	/* Without gso=on the GSO packet is too big for the port: counted. */
	assert_int_equal(out->ops->tx_burst(out, 0, pp, 2), 1);
	assert_int_equal(out->st.drops.n[PV_DROP_PKT_TOO_BIG], 1);
	assert_int_equal(out->st.tx_csum_done, 1);
	/* The source buffer was only read. */
	assert_memory_equal(f, before, len);
	sw_destroy(sw);

	rd = pcap_open_offline(out_path, ebuf);
	assert_non_null(rd);
	assert_int_equal(pcap_next_ex(rd, &h, &data), 1);
	assert_int_equal(h->caplen, len);
	/* Verified as a receiver would: the UDP checksum sums to zero. */
	{
		uint8_t ph[12];
		uint32_t s;

		memcpy(ph, data + 26, 8);
		ph[8] = 0;
		ph[9] = 17;
		memcpy(ph + 10, data + 38, 2);
		s = pv_csum_partial(ph, 12, 0);
		assert_int_equal(pv_csum_fold(pv_csum_partial(data + 34, len - 34, s)), 0);
	}
	assert_int_equal(pcap_next_ex(rd, &h, &data), PCAP_ERROR_BREAK);
	pcap_close(rd);

	/* With gso=on both are captured. */
	sw = sw_create(SW_MODE_DIRECT, 300);
	snprintf(spec, sizeof(spec), "pcap,name=out,out=%s,gso=on", out_path);
	out = mk(sw, spec);
	assert_true(out->gso_offload);
	assert_int_equal(out->ops->tx_burst(out, 0, pp, 2), 2);
	sw_destroy(sw);
}

static void test_pcap_bad_specs(void **state)
{
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	char err[512], spec[300];
	FILE *fp;

	(void)state;
	err[0] = '\0';
	assert_null(port_create(sw, "pcap,name=p", err, sizeof(err)));
	assert_true(err[0]);
	assert_null(port_create(sw, "pcap,name=p,in=/nonexistent/x.pcap", err,
				sizeof(err)));
	assert_null(port_create(sw, "pcap,name=p,out=/nonexistent/x.pcap", err,
				sizeof(err)));
	assert_null(port_create(sw, "pcap,name=p,out=/tmp/x,gso=maybe", err,
				sizeof(err)));
	/* Not a capture file at all. */
	fp = fopen(in_path, "w");
	assert_non_null(fp);
	fputs("this is not a pcap file, it is text\n", fp);
	fclose(fp);
	snprintf(spec, sizeof(spec), "pcap,name=p,in=%s", in_path);
	assert_null(port_create(sw, spec, err, sizeof(err)));
	sw_destroy(sw);
}


/*
 * Records longer than the frame limit are dropped by name before the port
 * copies them; one at the limit passes. The file's snaplen is large, so
 * libpcap hands the records over whole.
 */
static void test_pcap_too_long(void **state)
{
	static const size_t lens[] = { PV_FRAME_MAX, PV_FRAME_MAX + 1, 70000 };
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
	char spec[300];
	struct port *out, *in;
	pcap_dumper_t *d;
	uint8_t *f = calloc(1, 70000);

	(void)state;
	d = pcap_dump_open(dead, in_path);
	assert_non_null(d);
	for (unsigned i = 0; i < ARRAY_SIZE(lens); i++) {
		struct pcap_pkthdr h = { .ts = { (time_t)i, 0 } };

		fill_frame(f, i);
		h.caplen = h.len = (bpf_u_int32)lens[i];
		pcap_dump((u_char *)d, &h, f);
	}
	pcap_dump_close(d);
	pcap_close(dead);
	snprintf(spec, sizeof(spec), "pcap,name=out,out=%s", out_path);
	out = mk(sw, spec);
	snprintf(spec, sizeof(spec), "pcap,name=in,in=%s", in_path);
	in = mk(sw, spec);
	while (dp_poll(in, 0, 32) > 0)
		;
	assert_int_equal(in->st.drops.n[PV_DROP_PKT_TOO_LONG], 2);
	assert_int_equal(in->st.drops.n[PV_DROP_PKT_TOO_BIG], 0);
	assert_int_equal(out->st.tx_pkts, 1);
	sw_destroy(sw);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pcap_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcap_completes_partial_csum_and_gso,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcap_bad_specs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcap_too_long, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
