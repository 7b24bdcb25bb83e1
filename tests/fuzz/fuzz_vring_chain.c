// SPDX-License-Identifier: MIT
/*
 * fuzz_vring_chain.c - libFuzzer target for the device side of the split
 * ring: bytes decode into actions (QEMU virtio_net_fuzz's vq_action idea)
 * that write descriptors, indirect tables, avail entries and indexes into a
 * fake guest, then pop/push/flush/rx_enqueue, and the lease path the vhost
 * port delivers through (rx_reserve, rx_fill, used_reserve/write/publish).
 * Invariants: every popped piece lies inside a device mapping, lengths add
 * up, nothing is consumed by a failed rx_enqueue or rx_reserve, a lease
 * fills exactly the packet's bytes, and nothing crashes.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "pvnet/virtio.h"
#include "../lib/fakeguest.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RS		(16 * 1024ULL)	/* region size: small, reset per input */
#define QSZ		16
#define IND_MAX		64		/* entries per fuzzed indirect table */

static struct fakeguest fg;
static struct vring dev;
static uint64_t desc_gpa, avail_gpa, used_gpa, ind_gpa[2], buf_gpa;
static struct vring_elem elems[8];
static struct iovec elems_ovf[8 * VRING_ELEM_MAX_IOV];
static uint8_t payload[4096];

static void init_once(void)
{
	if (fg_create(&fg, RS))
		abort();
	desc_gpa = fg_alloc(&fg, 2, vring_desc_bytes(QSZ), 16);
	avail_gpa = fg_alloc(&fg, 2, vring_avail_bytes(QSZ), 2);
	used_gpa = fg_alloc(&fg, 2, vring_used_bytes(QSZ), 4);
	ind_gpa[0] = fg_alloc(&fg, 2, IND_MAX * 16, 16);
	/* the second table straddles regions 0 and 1 (copied to scratch) */
	ind_gpa[1] = fg_alloc_straddle(&fg, 40, IND_MAX * 16);
	buf_gpa = fg_alloc(&fg, 0, 4096, 64);
	if (!desc_gpa || !avail_gpa || !used_gpa || !ind_gpa[0] ||
	    !ind_gpa[1] || !buf_gpa)
		abort();
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	pv_log_set_level(PV_LOG_ERR);
}

/* An address the guest might write: mostly near regions, sometimes raw. */
static uint64_t pick_addr(struct reader *r)
{
	unsigned sel = (unsigned)take(r, 1) % 6;
	uint64_t off = take(r, 2);

	switch (sel) {
	case 0:
		return fg.reg[0].gpa + off % RS;
	case 1:
		return fg.reg[1].gpa + off % RS;
	case 2:
		return fg.reg[2].gpa + off % RS;
	case 3:	/* near the region 0/1 boundary, or region 1's end (gap) */
		return (off & 0x100 ? fg.reg[1].gpa + RS : fg.reg[1].gpa) -
		       (off & 0xff);
	case 4:
		return buf_gpa + off % 4096;
	default:
		return take(r, 8);
	}
}

static void write_desc(struct reader *r, uint64_t table, uint32_t entries)
{
	uint32_t i = (uint32_t)take(r, 1) % entries;
	uint64_t addr = pick_addr(r);
	uint32_t len = (uint32_t)take(r, 2);
	uint16_t flags = (uint16_t)take(r, 1) & 0x0f;
	uint16_t next = (uint16_t)take(r, 1);

	if (take(r, 1) == 0xff)		/* rarely: a huge length */
		len = (uint32_t)take(r, 4);
	fg_desc_write(&fg, table, i, addr, len, flags, next);
}

static void check_elem(const struct vring_elem *e, enum vring_dir dir)
{
	uint64_t out = 0, in = 0;

	CHECK((unsigned)e->out_num + e->in_num <= VRING_ELEM_MAX_IOV);
	CHECK(e->head < QSZ);
	for (unsigned i = 0; i < (unsigned)e->out_num + e->in_num; i++) {
		CHECK(e->iov[i].iov_len > 0);
		CHECK(fg_dev_range_ok(&fg, e->iov[i].iov_base,
				      e->iov[i].iov_len));
		if (i < e->out_num)
			out += e->iov[i].iov_len;
		else
			in += e->iov[i].iov_len;
	}
	CHECK(out == e->out_len && in == e->in_len);
	if (dir == VRING_DIR_OUT)
		CHECK(e->in_num == 0);
	if (dir == VRING_DIR_IN)
		CHECK(e->out_num == 0);
}

static void do_pop(struct reader *r)
{
	unsigned n = 1 + (unsigned)take(r, 1) % 8;
	enum vring_dir dir = (enum vring_dir)(take(r, 1) % 3);
	unsigned got = vring_pop_burst(&dev, elems, n, dir);

	CHECK(got <= n);
	for (unsigned i = 0; i < got; i++) {
		check_elem(&elems[i], dir);
		/* touch every byte, so ASan sees any bad piece */
		for (unsigned k = 0; k < (unsigned)elems[i].out_num +
					 elems[i].in_num; k++) {
			volatile uint8_t *b = elems[i].iov[k].iov_base;
			size_t l = elems[i].iov[k].iov_len;

			(void)b[0];
			(void)b[l - 1];
		}
	}
	if (take(r, 1) & 1) {
		vring_unpop(&dev, got);
		return;
	}
	for (unsigned i = 0; i < got; i++)
		vring_push(&dev, elems[i].head, elems[i].in_len);
}

static void do_rx(struct reader *r)
{
	struct virtio_net_hdr h = { 0 };
	size_t len = (size_t)take(r, 2) % sizeof(payload);
	bool mrg = take(r, 1) & 1;
	struct iovec src[2] = {
		{ payload, len / 3 }, { payload + len / 3, len - len / 3 },
	};
	uint16_t la = dev.last_avail, ui = dev.used_idx;
	int ret = vring_rx_enqueue(&dev, &h, mrg ? 12 : 10, mrg, src, 2);

	if (ret == -ENOBUFS || ret == -EMSGSIZE) {
		CHECK(dev.last_avail == la && dev.used_idx == ui);
		CHECK(vring_ready(&dev));
	} else if (ret == 0) {
		uint16_t used = (uint16_t)(dev.used_idx - ui);

		CHECK(used >= 1 && used <= QSZ);
		CHECK((uint16_t)(dev.last_avail - la) == used);
		CHECK(mrg || used == 1);
	} else {
		CHECK(ret == -EIO && !vring_ready(&dev));
	}
}

/* The vhost port's delivery: reserve, copy with no lock, publish. */
static void do_lease(struct reader *r)
{
	struct virtio_net_hdr h = { .flags = (uint8_t)take(r, 1),
				    .gso_type = (uint8_t)take(r, 1) };
	size_t len = (size_t)take(r, 2) % sizeof(payload);
	bool mrg = take(r, 1) & 1;
	unsigned max = 1 + (unsigned)take(r, 1) % ARRAY_SIZE(elems);
	size_t hl = mrg ? 12 : 10, total = hl + len;
	struct iovec src[3] = {
		{ payload, len / 4 }, { payload + len / 4, len / 2 - len / 4 },
		{ payload + len / 2, len - len / 2 },
	};
	uint16_t la = dev.last_avail, ui = dev.used_idx, slot;
	uint32_t lens[ARRAY_SIZE(elems)];
	size_t filled = 0, room = 0;
	int n = vring_rx_reserve(&dev, total, mrg, elems, max);

	if (n == -ENOBUFS || n == -EMSGSIZE || n == -ENOSPC) {
		CHECK(dev.last_avail == la && dev.used_idx == ui);
		CHECK(vring_ready(&dev));
		return;
	}
	if (n < 0) {
		CHECK(n == -EIO && !vring_ready(&dev));
		return;
	}
	CHECK(n >= 1 && (unsigned)n <= max);
	CHECK((uint16_t)(dev.last_avail - la) == (unsigned)n);
	CHECK(mrg || n == 1);
	for (int i = 0; i < n; i++) {
		check_elem(&elems[i], VRING_DIR_IN);
		room += elems[i].in_len;
	}
	CHECK(room >= total);
	vring_rx_fill(elems, (unsigned)n, &h, hl, src, 3, lens);
	for (int i = 0; i < n; i++) {
		CHECK(lens[i] <= elems[i].in_len);
		filled += lens[i];
	}
	CHECK(filled == total);
	slot = vring_used_reserve(&dev, (unsigned)n);
	for (int i = 0; i < n; i++)
		vring_used_write(&dev, (uint16_t)(slot + i), elems[i].head, lens[i]);
	vring_used_publish(&dev, (uint16_t)(slot + n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct reader r = { data, size };
	struct vring_avail *avail;
	uint64_t feat;
	uint16_t start;
	int ret;

	/* every element may take a chain up to the segment bound */
	vring_elems_init(elems, 8, elems_ovf);
	if (!ready) {
		init_once();
		ready = true;
	}
	fg_reset(&fg);
	feat = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (take(&r, 1) & 1)
		feat |= VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	feat |= VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	start = (uint16_t)take(&r, 2);
	ret = vring_setup(&dev, QSZ,
			  gmem_translate_contig(&fg.gm, desc_gpa,
						vring_desc_bytes(QSZ)),
			  gmem_translate_contig(&fg.gm, avail_gpa,
						vring_avail_bytes(QSZ)),
			  gmem_translate_contig(&fg.gm, used_gpa,
						vring_used_bytes(QSZ)),
			  feat, &fg.gm);
	CHECK(ret == 0);
	memset(&dev.st, 0, sizeof(dev.st));
	vring_start(&dev, start);
	avail = fg_ptr(&fg, avail_gpa);
	avail->idx = htole16(start);

	while (r.left) {
		switch (take(&r, 1) % 11) {
		case 0:
		case 1:
			write_desc(&r, desc_gpa, QSZ);
			break;
		case 2:
			write_desc(&r, ind_gpa[take(&r, 1) & 1], IND_MAX);
			break;
		case 3: {
			uint16_t idx = le16toh(avail->idx);

			avail->ring[idx % QSZ] = htole16((uint16_t)take(&r, 1));
			avail->idx = htole16((uint16_t)(idx + 1));
			break;
		}
		case 4:
			avail->idx = htole16((uint16_t)(le16toh(avail->idx) +
							 take(&r, 1) - 128));
			break;
		case 5:
		case 6:
			do_pop(&r);
			break;
		case 7:
			vring_flush(&dev);
			(void)vring_need_call(&dev);
			break;
		case 8:
			do_rx(&r);
			break;
		case 10:
			do_lease(&r);
			break;
		default:
			vring_set_kick(&dev, take(&r, 1) & 1);
			(void)vring_avail_count(&dev);
			break;
		}
	}
	/* A broken ring counted exactly one reason. */
	if (dev.state == VRING_BROKEN) {
		CHECK(dev.broken_reason != PV_DROP_NONE);
		CHECK(dev.st.drops.n[dev.broken_reason] == 1);
	}
	return 0;
}
