// SPDX-License-Identifier: MIT
/*
 * fuzz_vring_split_drv.c - libFuzzer target for the driver side of the
 * split ring (vring.c, and vring_split_drv.c in order), the device being
 * the fuzzer: bytes decode into driver actions (add chains of 1-4 buffers,
 * publish, kick decisions, interrupt suppression, harvest) and device
 * writes to the used ring (any slot, id and length, used->idx to any
 * value, used->flags and avail_event), from any 16-bit starting index.
 * Invariants: a harvested cookie is one that was added, published and is
 * still outstanding, its length at most the chain's writable bytes, free
 * descriptors never exceed the ring, and nothing crashes or reads outside
 * the rings (ASan). Half the inputs run the driver in order
 * (vring_drv_set_in_order(), VIRTIO_F_IN_ORDER): there every cookie must
 * also be the oldest outstanding one.
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

static struct vring_desc desc[QSZ] __attribute__((aligned(16)));
/* flags, idx, ring[QSZ], used_event */
static uint16_t avail_mem[2 + QSZ + 1] __attribute__((aligned(2)));
/* flags, idx, ring[QSZ] (8 bytes each), avail_event */
static uint32_t used_mem[1 + 2 * QSZ + 1] __attribute__((aligned(4)));
static bool outstanding[MAXSEQ];
static uint32_t in_bytes[MAXSEQ];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t feats[] = {
		0,
		VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX),
	};
	struct reader r = { data, size };
	struct vring_avail *avail = (struct vring_avail *)avail_mem;
	struct vring_used *used = (struct vring_used *)used_mem;
	uint16_t *avail_event = (uint16_t *)&used->ring[QSZ];
	struct vring vq;
	unsigned seq = 0, oldest = 0, published = 0;
	unsigned mode = (unsigned)take(&r, 1);
	uint16_t start = (uint16_t)take(&r, 2);
	bool in_order = mode & 2;

	pv_log_set_level(PV_LOG_ERR);
	memset(&vq, 0, sizeof(vq));
	memset(outstanding, 0, sizeof(outstanding));
	memset(used_mem, 0, sizeof(used_mem));
	if (vring_setup(&vq, QSZ, desc, avail, used, feats[mode & 1], NULL))
		abort();
	vring_drv_set_in_order(&vq, in_order);
	vring_drv_init_at(&vq, start);
	while (r.left) {
		unsigned op = (unsigned)take(&r, 1) % 10;

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
		case 6: {	/* the device writes a used entry anywhere */
			unsigned slot = (unsigned)take(&r, 1) % QSZ;

			used->ring[slot].id = htole32((uint32_t)take(&r, 4));
			used->ring[slot].len = htole32((uint32_t)take(&r, 4));
			break;
		}
		case 7:		/* ... and used->idx, to any value */
			__atomic_store_n(&used->idx,
					 htole16((uint16_t)take(&r, 2)),
					 __ATOMIC_RELEASE);
			break;
		case 8: {	/* an honest-looking entry at the next used slot,
				 * the index moved by 1-4 (a batch in order) */
			uint16_t idx = le16toh(used->idx);
			unsigned slot = idx & (QSZ - 1);

			used->ring[slot].id =
				htole32((uint32_t)(take(&r, 1) % QSZ));
			used->ring[slot].len = htole32((uint32_t)take(&r, 2));
			__atomic_store_n(&used->idx,
					 htole16((uint16_t)(idx + 1 +
						 take(&r, 1) % 4)),
					 __ATOMIC_RELEASE);
			break;
		}
		case 9:		/* the device's suppression fields */
			used->flags = htole16((uint16_t)take(&r, 1) % 2);
			*avail_event = htole16((uint16_t)take(&r, 2));
			break;
		}
		CHECK(vq.num_free <= QSZ);
	}
	vring_teardown(&vq);
	return 0;
}
