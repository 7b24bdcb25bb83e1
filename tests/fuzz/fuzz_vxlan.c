// SPDX-License-Identifier: MIT
/*
 * fuzz_vxlan.c - libFuzzer target for the VXLAN receive check and the
 * remote MAC table: any host on the underlay controls every byte of a
 * datagram sent to the port.
 *
 * Input: [vni selector][UDP payload...]. The payload is copied into a
 * buffer of exactly its length, so ASan sees any read past it. Invariants:
 * an accepted datagram has the I flag alone, the port's VNI, and an inner
 * frame of ETH_HLEN..PV_FRAME_MAX bytes that is the rest of the datagram;
 * learning its source MAC keeps the table within its capacity, and a
 * learned unicast MAC is found again. The same bytes cut as a UDP GRO
 * receive (vxlan_gro_next) give pieces that cover them exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvnet/vxlan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vxlan_fdb fdb;
	static uint64_t now;
	struct vxlan_addr from = { { 0 } }, out;
	uint32_t vni, ilen = 0;
	enum pv_drop why;
	uint8_t *buf;
	size_t len;

	if (size < 1)
		return 0;
	if (!fdb.ent && vxlan_fdb_init(&fdb, 64, 1000000000ULL) < 0)
		abort();
	/* Mostly VNI 42 (the seeds' VNI), sometimes one from the input. */
	vni = data[0] < 200 ? 42 : (uint32_t)data[0] << 12;
	len = size - 1;
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	why = vxlan_decap(buf, len, vni, &ilen);
	{
		/* A port of several VNIs: the same checks, the VNI returned. */
		uint32_t any = 0, il2 = 0;
		enum pv_drop w2 = vxlan_decap_any(buf, len, &any, &il2);

		if (why == PV_DROP_NONE && (w2 != PV_DROP_NONE || any != vni ||
					    il2 != ilen))
			abort();
		if (w2 == PV_DROP_NONE && why != PV_DROP_NONE &&
		    (why != PV_DROP_VX_UNKNOWN_VNI || any == vni))
			abort();
	}
	if (why == PV_DROP_NONE) {
		if (buf[0] != VXLAN_FLAG_I || ilen != len - VXLAN_HLEN ||
		    ilen < ETH_HLEN || ilen > PV_FRAME_MAX ||
		    (((uint32_t)buf[4] << 16) | ((uint32_t)buf[5] << 8) | buf[6]) != vni)
			abort();
		/* The outer source: a few addresses, from the input. */
		from.a[15] = buf[ilen + VXLAN_HLEN - 1] & 3;
		now += 1000000;	/* 1 ms per datagram: entries age within a run */
		if (vxlan_fdb_learn(&fdb, buf + VXLAN_HLEN + ETH_ALEN, &from, now) >= 0 &&
		    !pkt_mac_is_multicast(buf + VXLAN_HLEN + ETH_ALEN) &&
		    (!vxlan_fdb_lookup(&fdb, buf + VXLAN_HLEN + ETH_ALEN, now, &out) ||
		     memcmp(out.a, from.a, sizeof(out.a))))
			abort();
		if (vxlan_fdb_count(&fdb, now) > fdb.nbuckets * VXLAN_FDB_WAYS)
			abort();
	} else if (why != PV_DROP_VX_TRUNC && why != PV_DROP_VX_BAD_HDR &&
		   why != PV_DROP_VX_UNKNOWN_VNI && why != PV_DROP_VX_TOO_LONG) {
		abort();
	}
	/*
	 * The same bytes as a UDP GRO receive (segment size from the input,
	 * as a hostile peer's datagrams may be coalesced): the pieces cover
	 * the buffer exactly, none longer than the segment size, and each is
	 * checked on its own within its bounds.
	 */
	{
		size_t seg = (size_t)data[0] * 7 % 1600, off = 0, d, n = 0;

		while (vxlan_gro_next(len, seg, off, &d)) {
			if (!d || off + d > len || (seg && d > seg))
				abort();
			why = vxlan_decap(buf + off, d, vni, &ilen);
			if (why == PV_DROP_NONE && ilen != d - VXLAN_HLEN)
				abort();
			off += d;
			if (++n > len)
				abort();
		}
		if (off != len)
			abort();
	}
	free(buf);
	return 0;
}
