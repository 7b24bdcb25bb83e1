// SPDX-License-Identifier: MIT
/*
 * fuzz_vring_packed_drv.c - libFuzzer target for the driver side of the
 * packed ring (vring_packed_drv.c), the device being the fuzzer: bytes
 * decode into driver actions (add chains of 1-4 buffers, publish, kick
 * decisions, interrupt suppression, harvest) and device writes anywhere in
 * the descriptor ring and the device event area (any ID, length, flags).
 * Invariants: a harvested cookie is one that was added, published and is
 * still outstanding, its length at most the chain's writable bytes, free
 * descriptors never exceed the ring, and nothing crashes. Half the inputs
 * run the driver in order (vring_drv_set_in_order(), VIRTIO_F_IN_ORDER):
 * there every cookie must also be the oldest outstanding one.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvnet/virtio.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QSZ	16
#define MAXSEQ	4096

static struct vring_packed_desc ring[QSZ] __attribute__((aligned(16)));
static struct vring_packed_event drv_ev __attribute__((aligned(4)));
static struct vring_packed_event dev_ev __attribute__((aligned(4)));
static bool outstanding[MAXSEQ];
static uint32_t in_bytes[MAXSEQ];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t feats[] = {
		VIRTIO_BIT(VIRTIO_F_RING_PACKED),
		VIRTIO_BIT(VIRTIO_F_RING_PACKED) |
			VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX),
	};
	struct reader r = { data, size };
	struct vring vq;
	unsigned seq = 0, oldest = 0, published = 0;
	unsigned mode = (unsigned)take(&r, 1);
	bool in_order = mode & 2;

	pv_log_set_level(PV_LOG_ERR);
	memset(&vq, 0, sizeof(vq));
	memset(outstanding, 0, sizeof(outstanding));
	if (vring_setup(&vq, QSZ, ring, &drv_ev, &dev_ev,
			feats[mode & 1], NULL))
		abort();
	vring_drv_set_in_order(&vq, in_order);
	vring_drv_init(&vq);
	while (r.left) {
		unsigned op = (unsigned)take(&r, 1) % 9;

		switch (op) {
		case 0: {	/* add a chain */
			struct vring_buf b[4];
			unsigned n = 1 + (unsigned)take(&r, 1) % 4;
			unsigned out = (unsigned)take(&r, 1) % (n + 1);
			uint32_t in = 0;
			int rc;

			if (seq >= MAXSEQ)
				break;
			for (unsigned i = 0; i < n; i++) {
				b[i].addr = take(&r, 2) << 4;
				b[i].len = 1 + (uint32_t)take(&r, 2);
				if (i >= out)
					in += b[i].len;
			}
			rc = vring_drv_add(&vq, b, out, n - out,
					   (void *)(uintptr_t)(seq + 1));
			CHECK(rc == 0 || rc == -ENOSPC || rc == -EIO);
			if (rc == 0) {
				outstanding[seq] = true;
				in_bytes[seq] = in;
				seq++;
			}
			break;
		}
		case 1:
			vring_drv_publish(&vq);
			published = seq;	/* every chain added so far */
			break;
		case 2:
			(void)vring_drv_need_kick(&vq);
			break;
		case 3:
			vring_drv_set_call(&vq, take(&r, 1) & 1);
			break;
		case 4: {	/* harvest */
			void *ck[QSZ];
			uint32_t lens[QSZ];
			unsigned n = vring_drv_get_used(&vq, ck, lens,
							1 + (unsigned)take(&r, 1) % QSZ);

			CHECK(n <= QSZ);
			for (unsigned i = 0; i < n; i++) {
				uintptr_t c = (uintptr_t)ck[i];

				CHECK(c >= 1 && c <= published && outstanding[c - 1]);
				CHECK(lens[i] <= in_bytes[c - 1]);
				/* in order: the oldest, then the next */
				CHECK(!in_order || c - 1 == oldest);
				oldest++;
				outstanding[c - 1] = false;
			}
			break;
		}
		case 5:
			(void)vring_drv_has_used(&vq);
			break;
		case 6: {	/* the device writes a used descriptor */
			unsigned pos = (unsigned)take(&r, 1) % QSZ;

			ring[pos].id = htole16((uint16_t)take(&r, 2));
			ring[pos].len = htole32((uint32_t)take(&r, 4));
			__atomic_store_n(&ring[pos].flags,
					 htole16((uint16_t)take(&r, 2)),
					 __ATOMIC_RELEASE);
			break;
		}
		case 7: {	/* an honest-looking one: the next used position */
			unsigned pos = vq.last_used & (QSZ - 1);
			uint16_t w = vq.last_used & VRING_PACKED_WRAP ?
				     (VRING_PACKED_DESC_F_AVAIL |
				      VRING_PACKED_DESC_F_USED) : 0;

			ring[pos].id = htole16((uint16_t)(take(&r, 1) % QSZ));
			ring[pos].len = htole32((uint32_t)take(&r, 2));
			__atomic_store_n(&ring[pos].flags, htole16(w),
					 __ATOMIC_RELEASE);
			break;
		}
		case 8:		/* the device event area */
			dev_ev.off_wrap = htole16((uint16_t)take(&r, 2));
			dev_ev.flags = htole16((uint16_t)take(&r, 1) % 4);
			break;
		}
		CHECK(vq.num_free <= QSZ);
	}
	vring_teardown(&vq);
	return 0;
}
