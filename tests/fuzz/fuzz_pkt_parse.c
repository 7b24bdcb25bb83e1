// SPDX-License-Identifier: MIT
/*
 * fuzz_pkt_parse.c - libFuzzer target for the packet parser, the flow hash
 * and partial-checksum completion: a guest controls every byte of a frame
 * and of its virtio-net header.
 *
 * Input: [split1][split2][12-byte net header][frame...]; the frame is cut
 * into up to three segments at the split points, as a chain over several
 * descriptors would be. Invariants: offsets lie inside the frame; the
 * checksum patch list has the frame's length and differs from it only in
 * the two patched bytes; nothing reads out of bounds (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvnet/pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[70000], out[70000];
	struct iovec patched[PKT_MAX_SEGS];
	struct pkt p;
	size_t len, a, b;
	uint16_t csum;
	uint32_t off;
	unsigned n;

	if (size < 2 + sizeof(p.vh))
		return 0;
	memset(&p, 0, sizeof(p));
	memcpy(&p.vh, data + 2, sizeof(p.vh));
	len = size - 2 - sizeof(p.vh);
	if (len > sizeof(frame))
		len = sizeof(frame);
	/* A private copy per segment, so ASan sees each segment's real end. */
	memcpy(frame, data + 2 + sizeof(p.vh), len);
	a = len ? data[0] % (len + 1) : 0;
	b = a + (len - a ? data[1] % (len - a + 1) : 0);
	{
		uint8_t *s0 = malloc(a + 1), *s1 = malloc(b - a + 1),
			*s2 = malloc(len - b + 1);

		memcpy(s0, frame, a);
		memcpy(s1, frame + a, b - a);
		memcpy(s2, frame + b, len - b);
		p.seg[0] = (struct iovec){ s0, a };
		p.seg[1] = (struct iovec){ s1, b - a };
		p.seg[2] = (struct iovec){ s2, len - b };
		p.nseg = 3;
		p.len = (uint32_t)len;

		/* The forwarding parse: its verdict and MACs are pkt_parse()'s. */
		{
			struct pkt q = p;
			enum pv_drop w2 = pkt_parse_l2(&q);

			if (w2 == PV_DROP_NONE)
				pkt_parse_l3(&q);
			if (w2 != pkt_parse(&p) ||
			    (w2 == PV_DROP_NONE &&
			     (memcmp(q.dst_mac, p.dst_mac, ETH_ALEN) ||
			      q.l3_off != p.l3_off || q.l4_off != p.l4_off ||
			      q.hash_len != p.hash_len)))
				abort();
		}
		if (pkt_parse(&p) == PV_DROP_NONE) {
			if (p.l3_off >= len || p.l4_off >= len + 1 ||
			    p.hash_len > sizeof(p.hash_in))
				abort();
			(void)pkt_flow_hash(&p);
		}
		if (pkt_csum_complete(&p, &csum, &off) == PV_DROP_NONE) {
			if (off + 2 > len)
				abort();
			n = pkt_patch_iov(&p, off, &csum, patched, PKT_MAX_SEGS);
			if (n) {
				if (pv_iov_len(patched, n) != len)
					abort();
				pv_iov_to_buf(patched, n, 0, out, len);
				if (memcmp(out, frame, off) ||
				    memcmp(out + off, &csum, 2) ||
				    memcmp(out + off + 2, frame + off + 2,
					   len - off - 2))
					abort();
			}
		}
		free(s0);
		free(s1);
		free(s2);
	}
	return 0;
}
