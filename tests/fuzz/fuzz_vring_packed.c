// SPDX-License-Identifier: MIT
/*
 * fuzz_vring_packed.c - libFuzzer target for the device side of the packed
 * ring (vring_packed.c) beside fuzz_vring_chain.c's split one: bytes decode
 * into actions that write packed descriptors (any flags, IDs, addresses),
 * indirect tables and the driver event area into a fake guest, then pop,
 * unpop, push, flush, rx_reserve with a lease, and call decisions.
 * Invariants: every popped piece lies inside a device mapping, lengths add
 * up, popped IDs are < size and never in flight twice, and nothing crashes.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>

#include "pvnet/virtio.h"
#include "../lib/fakeguest.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RS		(16 * 1024ULL)
#define QSZ		16
#define IND_MAX		32

static struct fakeguest fg;
static struct vring dev;
static uint64_t desc_gpa, drv_gpa, devev_gpa, ind_gpa, buf_gpa;
static struct vring_elem elems[8];
static struct iovec elems_ovf[8 * VRING_ELEM_MAX_IOV];

static void init_once(void)
{
	if (fg_create(&fg, RS))
		abort();
	desc_gpa = fg_alloc(&fg, 2, 16 * QSZ, 16);
	drv_gpa = fg_alloc(&fg, 2, 4, 4);
	devev_gpa = fg_alloc(&fg, 2, 4, 4);
	ind_gpa = fg_alloc_straddle(&fg, 40, IND_MAX * 16);
	buf_gpa = fg_alloc(&fg, 0, 4096, 64);
	if (!desc_gpa || !drv_gpa || !devev_gpa || !ind_gpa || !buf_gpa)
		abort();
	pv_log_set_level(PV_LOG_ERR);
}

static uint64_t pick_addr(struct reader *r)
{
	unsigned sel = (unsigned)take(r, 1) % 5;
	uint64_t off = take(r, 2);

	switch (sel) {
	case 0:
		return fg.reg[0].gpa + off % RS;
	case 1:
		return fg.reg[1].gpa - (off & 0xff);	/* across a boundary */
	case 2:
		return buf_gpa + off % 4096;
	case 3:
		return ind_gpa;
	default:
		return take(r, 8);
	}
}

static void write_pdesc(struct reader *r, uint64_t table, uint32_t entries)
{
	struct vring_packed_desc d;
	uint32_t i = (uint32_t)take(r, 1) % entries;

	d.addr = htole64(pick_addr(r));
	d.len = htole32((uint32_t)take(r, 2));
	d.id = htole16((uint16_t)(take(r, 1) % (QSZ + 2)));
	d.flags = htole16((uint16_t)take(r, 2) &
			  (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE |
			   VRING_DESC_F_INDIRECT | VRING_PACKED_DESC_F_AVAIL |
			   VRING_PACKED_DESC_F_USED));
	fg_write(&fg, table + 16ULL * i, &d, sizeof(d));
}

static void check_elem(const struct vring_elem *e)
{
	uint64_t out = 0, in = 0;

	CHECK(e->head < QSZ);
	CHECK(e->out_num + e->in_num <= VRING_ELEM_MAX_IOV);
	for (unsigned i = 0; i < e->out_num + e->in_num; i++) {
		CHECK(fg_dev_range_ok(&fg, e->iov[i].iov_base,
				      e->iov[i].iov_len));
		if (i < e->out_num)
			out += e->iov[i].iov_len;
		else
			in += e->iov[i].iov_len;
	}
	CHECK(out == e->out_len && in == e->in_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct reader r = { data, size };
	uint64_t feat;

	/* every element may take a chain up to the segment bound */
	vring_elems_init(elems, 8, elems_ovf);
	if (!ready) {
		init_once();
		ready = true;
	}
	fg_reset(&fg);
	feat = VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (take(&r, 1) & 1)
		feat |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (take(&r, 1) & 1)
		feat |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	if (vring_setup(&dev, QSZ,
			gmem_translate_contig(&fg.gm, desc_gpa, 16 * QSZ),
			gmem_translate_contig(&fg.gm, drv_gpa, 4),
			gmem_translate_contig(&fg.gm, devev_gpa, 4), feat,
			&fg.gm))
		abort();
	vring_start(&dev, (uint16_t)take(&r, 2) &
		    (VRING_PACKED_WRAP | (QSZ + 1)));
	for (unsigned steps = 0; r.left && steps < 256; steps++) {
		unsigned op = (unsigned)take(&r, 1) % 8, n;
		int rc;

		switch (op) {
		case 0:
		case 1:
			write_pdesc(&r, desc_gpa, QSZ);
			break;
		case 2:
			write_pdesc(&r, ind_gpa, IND_MAX);
			break;
		case 3: {
			struct vring_packed_event ev = {
				htole16((uint16_t)take(&r, 2)),
				htole16((uint16_t)(take(&r, 1) % 4)),
			};

			fg_write(&fg, drv_gpa, &ev, sizeof(ev));
			break;
		}
		case 4:
			n = vring_pop_burst(&dev, elems, 1 + take(&r, 1) % 8,
					    (enum vring_dir)(take(&r, 1) % 3));
			for (unsigned i = 0; i < n; i++) {
				check_elem(&elems[i]);
				for (unsigned j = 0; j < i; j++)
					CHECK(elems[j].head != elems[i].head);
			}
			if (n && (take(&r, 1) & 1)) {
				vring_unpop(&dev, n);
			} else {
				for (unsigned i = 0; i < n; i++)
					vring_push(&dev, elems[i].head,
						   (uint32_t)i);
			}
			break;
		case 5:
			vring_flush(&dev);
			(void)vring_need_call(&dev);
			break;
		case 6:
			rc = vring_rx_reserve(&dev, 1 + take(&r, 2) % 3000,
					      take(&r, 1) & 1, elems, 8);
			if (rc > 0) {
				uint16_t s = vring_used_reserve(&dev, (unsigned)rc);

				for (int i = 0; i < rc; i++) {
					check_elem(&elems[i]);
					vring_used_write(&dev, (uint16_t)(s + i),
							 elems[i].head, 1);
				}
				vring_used_publish(&dev, (uint16_t)(s + rc));
			}
			break;
		default:
			vring_set_kick(&dev, take(&r, 1) & 1);
			(void)vring_avail_count(&dev);
			break;
		}
	}
	vring_stop(&dev);
	return 0;
}
