// SPDX-License-Identifier: MIT
/*
 * fuzz_net_hdr.c - libFuzzer target for nethdr_read() + nethdr_check(): the
 * input is a TX chain (header then frame) split into up to four pieces. An
 * accepted header's claimed ranges must really lie inside the frame.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>

#include "pvnet/virtio.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_net_hdr h;
	struct iovec iov[4];
	size_t hdr_len, frame_len, pos = 0;
	uint8_t *copy, csum[2];
	unsigned n = 0;
	enum pv_drop why;

	if (size < 3)
		return 0;
	hdr_len = data[0] & 1 ? 12 : 10;
	/* the chain's bytes, in a heap copy so ASan sees its exact end */
	size -= 3;
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 3, size);
	/* split points from bytes 1 and 2 */
	for (unsigned k = 1; k <= 2; k++) {
		size_t cut = data[k] % (size + 1);

		if (cut > pos) {
			iov[n].iov_base = copy + pos;
			iov[n++].iov_len = cut - pos;
			pos = cut;
		}
	}
	iov[n].iov_base = copy + pos;
	iov[n++].iov_len = size - pos;

	if (nethdr_read(&h, hdr_len, iov, n) != 0) {
		CHECK(size < hdr_len);
		goto out;
	}
	CHECK(size >= hdr_len);
	frame_len = size - hdr_len;
	why = nethdr_check(&h, frame_len);
	if (why != PV_DROP_NONE) {
		CHECK(why == PV_DROP_PKT_HDR_FLAGS ||
		      why == PV_DROP_PKT_HDR_CSUM || why == PV_DROP_PKT_HDR_GSO ||
		      why == PV_DROP_PKT_TOO_LONG ||
		      why == PV_DROP_PKT_GSO_TOO_BIG);
		goto out;
	}
	CHECK(frame_len <= (h.gso_type == VIRTIO_NET_HDR_GSO_NONE ?
			    PV_FRAME_MAX : PV_FRAME_GSO_MAX));
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		size_t at = (size_t)le16toh(h.csum_start) +
			    le16toh(h.csum_offset);

		CHECK(at + 2 <= frame_len);
		/* the checksum field really is inside the chain */
		CHECK(pv_iov_to_buf(iov, n, hdr_len + at, csum, 2) == 2);
	}
	if ((h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE) {
		CHECK(le16toh(h.gso_size) > 0);
		CHECK(le16toh(h.hdr_len) <= frame_len);
	} else {
		CHECK(h.gso_type == VIRTIO_NET_HDR_GSO_NONE);
	}
	CHECK(!(h.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM |
			    VIRTIO_NET_HDR_F_DATA_VALID)));
out:
	free(copy);
	return 0;
}
