// SPDX-License-Identifier: MIT
/*
 * pcapcheck.c - a peer-test helper: summarises a capture file, verifying
 * every IPv4 header checksum and every TCP/UDP-over-IPv4 checksum, or
 * compares two captures frame by frame.
 *
 *   pcapcheck FILE       prints {"packets":N,"bytes":N,"ipv4":N,"tcp":N,
 *                        "bad_ip_csum":N,"bad_l4_csum":N}
 *   pcapcheck --same A B exit 0 if A and B hold the same frames in order
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include "pvnet/pkt.h"

static pcap_t *open_or_die(const char *path)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, ebuf);

	if (!p)
		fprintf(stderr, "pcapcheck: %s: %s\n", path, ebuf);
	return p;
}

static int same(const char *a, const char *b)
{
	pcap_t *pa = open_or_die(a), *pb = open_or_die(b);
	struct pcap_pkthdr *ha, *hb;
	const u_char *da, *db;
	uint64_t n = 0;
	int ra, rb;

	if (!pa || !pb)
		return 2;
	for (;;) {
		ra = pcap_next_ex(pa, &ha, &da);
		rb = pcap_next_ex(pb, &hb, &db);
		if (ra != 1 || rb != 1)
			break;
		if (ha->caplen != hb->caplen || ha->len != hb->len ||
		    memcmp(da, db, ha->caplen)) {
			fprintf(stderr, "pcapcheck: frame %" PRIu64 " differs\n", n);
			return 1;
		}
		n++;
	}
	if (ra != rb) {
		fprintf(stderr, "pcapcheck: lengths differ after %" PRIu64 " frames\n", n);
		return 1;
	}
	printf("{\"same\":true,\"packets\":%" PRIu64 "}\n", n);
	return 0;
}

static int summary(const char *path)
{
	pcap_t *p = open_or_die(path);
	uint64_t pkts = 0, bytes = 0, ipv4 = 0, tcp = 0, bad_ip = 0, bad_l4 = 0;
	struct pcap_pkthdr *h;
	const u_char *d;

	if (!p)
		return 2;
	while (pcap_next_ex(p, &h, &d) == 1) {
		struct pkt pk = { .len = h->caplen, .nseg = 1 };
		const uint8_t *ip;
		uint8_t ph[12];
		uint16_t tot, l4len;

		pkts++;
		bytes += h->len;
		pk.seg[0].iov_base = (void *)d;
		pk.seg[0].iov_len = h->caplen;
		if (pkt_parse(&pk) != PV_DROP_NONE || pk.ethertype != 0x0800 ||
		    !pk.l3_off)
			continue;
		ipv4++;
		ip = d + pk.l3_off;
		if (pv_csum_fold(pv_csum_partial(ip, (ip[0] & 0xf) * 4u, 0)))
			bad_ip++;
		if (!pk.l4_off || (pk.l4_proto != 6 && pk.l4_proto != 17))
			continue;
		tcp += pk.l4_proto == 6;
		memcpy(&tot, ip + 2, 2);
		tot = ntohs(tot);
		if (pk.l3_off + (size_t)tot > h->caplen || tot < pk.l4_off - pk.l3_off) {
			bad_l4++;
			continue;
		}
		l4len = (uint16_t)(tot - (pk.l4_off - pk.l3_off));
		memcpy(ph, ip + 12, 8);
		ph[8] = 0;
		ph[9] = pk.l4_proto;
		ph[10] = (uint8_t)(l4len >> 8);
		ph[11] = (uint8_t)l4len;
		if (pv_csum_fold(pv_csum_partial(d + pk.l4_off, l4len,
						 pv_csum_partial(ph, 12, 0))))
			bad_l4++;
	}
	pcap_close(p);
	printf("{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"ipv4\":%" PRIu64
	       ",\"tcp\":%" PRIu64 ",\"bad_ip_csum\":%" PRIu64
	       ",\"bad_l4_csum\":%" PRIu64 "}\n", pkts, bytes, ipv4, tcp, bad_ip,
	       bad_l4);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--same"))
		return same(argv[2], argv[3]);
	if (argc == 2)
		return summary(argv[1]);
	fprintf(stderr, "usage: pcapcheck FILE | pcapcheck --same A B\n");
	return 2;
}
