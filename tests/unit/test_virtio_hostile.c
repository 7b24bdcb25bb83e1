// SPDX-License-Identifier: MIT
/*
 * test_virtio_hostile.c - one test per ring rule (style §6, issue 2 item 6):
 * build the hostile case, assert the exact reason, that only that queue is
 * BROKEN, and that a second queue in the same guest memory keeps working.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <endian.h>
#include <errno.h>
#include <cmocka.h>

#include "pvnet/virtio.h"
#include "../lib/fakeguest.h"
#include "pk_fixture.h"

#define S	(256 * 1024ULL)
#define QSZ	256
#define FEAT	(VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) | \
		 VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | \
		 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | \
		 VIRTIO_BIT(VIRTIO_F_VERSION_1))
#define W	VRING_DESC_F_WRITE
#define N	VRING_DESC_F_NEXT
#define I	VRING_DESC_F_INDIRECT

struct hctx {
	struct fakeguest fg;
	struct fg_ring a;	/* the victim */
	struct fg_ring b;	/* the bystander */
	uint64_t buf;		/* 4 KB of valid buffer space in region 0 */
};

static struct vring_elem elems[8];
/* the elements' overflow areas, for chains past the inline segments */
static struct iovec elems_ovf[8 * VRING_ELEM_MAX_IOV];

static int hsetup_feat(void **state, uint64_t feat)
{
	struct hctx *h = calloc(1, sizeof(*h));

	if (!h || fg_create(&h->fg, S))
		return -1;
	vring_elems_init(elems, 8, elems_ovf);
	if (fg_ring_create(&h->fg, &h->a, 2, QSZ, feat, 0) ||
	    fg_ring_create(&h->fg, &h->b, 2, 64, FEAT, 0))
		return -1;
	h->buf = fg_alloc(&h->fg, 0, 4096, 64);
	*state = h;
	return 0;
}

static int hsetup(void **state)
{
	return hsetup_feat(state, FEAT);
}

static int hsetup_noind(void **state)
{
	return hsetup_feat(state, FEAT &
			   ~VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC));
}

static int hsetup_packed_feat(void **state, uint64_t feat)
{
	struct hctx *h = calloc(1, sizeof(*h));

	if (!h || fg_create(&h->fg, S))
		return -1;
	vring_elems_init(elems, 8, elems_ovf);
	if (fg_ring_create(&h->fg, &h->a, 2, QSZ,
			   feat | VIRTIO_BIT(VIRTIO_F_RING_PACKED), PK_START) ||
	    fg_ring_create(&h->fg, &h->b, 2, 64, FEAT, 0))
		return -1;
	h->buf = fg_alloc(&h->fg, 0, 4096, 64);
	*state = h;
	return 0;
}

static int hsetup_packed(void **state)
{
	return hsetup_packed_feat(state, FEAT);
}

static int hsetup_packed_noind(void **state)
{
	return hsetup_packed_feat(state, FEAT &
				  ~VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC));
}

static int hteardown(void **state)
{
	struct hctx *h = *state;

	fg_ring_destroy(&h->a);
	fg_ring_destroy(&h->b);
	fg_destroy(&h->fg);
	free(h);
	return 0;
}

static uint64_t total_drops(const struct vring *vq)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < PV_DROP_MAX; i++)
		t += vq->st.drops.n[i];
	return t;
}

/* The victim is broken for @why, counted once; the bystander works. */
static void expect_broken(struct hctx *h, struct vring *vq, enum pv_drop why)
{
	assert_int_equal(vq->state, VRING_BROKEN);
	assert_string_equal(pv_drop_name(vq->broken_reason), pv_drop_name(why));
	assert_int_equal(vq->st.drops.n[why], 1);
	assert_int_equal(total_drops(vq), 1);
	/* Every entry point is inert now and counts nothing more. */
	assert_int_equal(vring_pop_burst(vq, elems, 8, VRING_DIR_OUT), 0);
	assert_int_equal(vring_avail_count(vq), 0);
	assert_false(vring_need_call(vq));
	assert_int_equal(vring_drv_get_used(vq, NULL, NULL, 8), 0);
	assert_int_equal(total_drops(vq), 1);
	/* The other queue in the same memory keeps working. */
	assert_true(vring_ready(&h->b.dev));
	assert_true(fg_ring_roundtrip(&h->fg, &h->b, 0, 64));
	assert_true(fg_ring_roundtrip(&h->fg, &h->b, 1, 1500));
	assert_int_equal(total_drops(&h->b.dev), 0);
}

/* Publishes @head on the victim and pops it in direction @dir. */
static unsigned pop_one(struct hctx *h, uint16_t head, enum vring_dir dir)
{
	fg_ring_avail_push(&h->a, head);
	return vring_pop_burst(&h->a.dev, elems, 8, dir);
}

static void head_oor(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 64, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 1);	/* fine */
	assert_int_equal(pop_one(h, QSZ, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_HEAD_OOR);
}

/*
 * A bad head in the middle of a burst: the burst reads every head ahead of
 * its pops (and prefetches their descriptors, bounded by the table); the
 * chains before the bad one come out, the ring breaks at it, counted once.
 * Both burst entries (TX pop, RX reserve), and the largest 16-bit head.
 */
static void head_oor_mid_burst(void **state)
{
	struct hctx *h = *state;
	const uint16_t bad[] = { QSZ, QSZ + 7, 0xffff };
	uint32_t totals[8] = { 64, 64, 64, 64, 64, 64, 64, 64 };

	for (unsigned i = 0; i < 4; i++)
		fg_ring_desc(&h->fg, &h->a, (uint16_t)i, h->buf + i * 128, 128,
			     0, 0);
	fg_ring_avail_push(&h->a, 0);
	fg_ring_avail_push(&h->a, 1);
	fg_ring_avail_push(&h->a, bad[0]);
	fg_ring_avail_push(&h->a, 2);
	assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8, VRING_DIR_OUT), 2);
	assert_int_equal(elems[0].head, 0);
	assert_int_equal(elems[1].head, 1);
	expect_broken(h, &h->a.dev, PV_DROP_RING_HEAD_OOR);

	for (unsigned k = 1; k < 3; k++) {
		vring_stop(&h->a.dev);
		vring_drv_init(&h->a.drv);
		vring_start(&h->a.dev, 0);
		for (unsigned i = 0; i < 4; i++)
			fg_ring_desc(&h->fg, &h->a, (uint16_t)i,
				     h->buf + i * 128, 128, W, 0);
		fg_ring_avail_push(&h->a, 3);
		fg_ring_avail_push(&h->a, bad[k]);
		fg_ring_avail_push(&h->a, 0);
		assert_int_equal(vring_rx_reserve_burst(&h->a.dev, totals, 3,
							elems), 1);
		assert_int_equal(elems[0].head, 3);
		assert_int_equal(h->a.dev.state, VRING_BROKEN);
		assert_int_equal(h->a.dev.st.drops.n[PV_DROP_RING_HEAD_OOR], k + 1);
	}
}

/*
 * One split-ring burst call takes at most VRING_BURST_MAX chains (their
 * heads are read ahead into a local array); the rest stay available for
 * the next call, in order.
 */
static void burst_max(void **state)
{
	struct hctx *h = *state;
	static struct vring_elem many[VRING_BURST_MAX + 16];
	unsigned total = VRING_BURST_MAX + 6;

	vring_elems_init(many, VRING_BURST_MAX + 16, NULL);
	for (unsigned i = 0; i < total; i++) {
		fg_ring_desc(&h->fg, &h->a, (uint16_t)i, h->buf, 64, 0, 0);
		fg_ring_avail_push(&h->a, (uint16_t)i);
	}
	assert_int_equal(vring_pop_burst(&h->a.dev, many, VRING_BURST_MAX + 16,
					 VRING_DIR_OUT), VRING_BURST_MAX);
	for (unsigned i = 0; i < VRING_BURST_MAX; i++)
		assert_int_equal(many[i].head, i);
	assert_int_equal(vring_pop_burst(&h->a.dev, many, VRING_BURST_MAX + 16,
					 VRING_DIR_OUT), 6);
	assert_int_equal(many[0].head, VRING_BURST_MAX);
	assert_int_equal(total_drops(&h->a.dev), 0);
	assert_true(vring_ready(&h->a.dev));
}

static void next_oor(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 3, h->buf, 64, N, QSZ);
	assert_int_equal(pop_one(h, 3, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_NEXT_OOR);
}

static void desc_loop(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 64, N, 1);
	fg_ring_desc(&h->fg, &h->a, 1, h->buf, 64, N, 2);
	fg_ring_desc(&h->fg, &h->a, 2, h->buf, 64, N, 0);
	assert_int_equal(pop_one(h, 1, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_LOOP);
}

static void self_loop(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 7, h->buf, 1, N, 7);
	assert_int_equal(pop_one(h, 7, VRING_DIR_OUT), 0);
	/* the segment bound is hit first, the loop is still named */
	expect_broken(h, &h->a.dev, PV_DROP_RING_LOOP);
}

static void indirect_loop(void **state)
{
	struct hctx *h = *state;
	uint64_t t = fg_alloc(&h->fg, 2, 64, 16);

	fg_desc_write(&h->fg, t, 0, h->buf, 64, N, 1);
	fg_desc_write(&h->fg, t, 1, h->buf, 64, N, 0);
	fg_ring_desc(&h->fg, &h->a, 0, t, 32, I, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_LOOP);
}

static void indirect_nested(void **state)
{
	struct hctx *h = *state;
	uint64_t t = fg_alloc(&h->fg, 2, 64, 16);

	fg_desc_write(&h->fg, t, 0, h->buf, 64, N, 1);
	fg_desc_write(&h->fg, t, 1, t, 32, I, 0);
	fg_ring_desc(&h->fg, &h->a, 0, t, 32, I, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_INDIRECT_NESTED);
}

static void indirect_len_not_16(void **state)
{
	struct hctx *h = *state;
	uint64_t t = fg_alloc(&h->fg, 2, 64, 16);

	fg_desc_write(&h->fg, t, 0, h->buf, 64, 0, 0);
	fg_ring_desc(&h->fg, &h->a, 0, t, 24, I, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_INDIRECT_LEN);
}

static void indirect_len_zero(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 0, I, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_INDIRECT_LEN);
}

static void indirect_len_huge(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf,
		     (VRING_MAX_SIZE + 1) * 16, I, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_INDIRECT_LEN);
}

static void indirect_with_next(void **state)
{
	struct hctx *h = *state;
	uint64_t t = fg_alloc(&h->fg, 2, 16, 16);

	fg_desc_write(&h->fg, t, 0, h->buf, 64, 0, 0);
	fg_ring_desc(&h->fg, &h->a, 0, t, 16, I | N, 1);
	fg_ring_desc(&h->fg, &h->a, 1, h->buf, 64, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_INDIRECT_NEXT);
}

static void indirect_not_negotiated(void **state)
{
	struct hctx *h = *state;
	uint64_t t = fg_alloc(&h->fg, 2, 16, 16);

	fg_desc_write(&h->fg, t, 0, h->buf, 64, 0, 0);
	fg_ring_desc(&h->fg, &h->a, 0, t, 16, I, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_INDIRECT_OFF);
}

static void indirect_table_in_gap(void **state)
{
	struct hctx *h = *state;

	/* starts in region 1, runs into the gap after it */
	fg_ring_desc(&h->fg, &h->a, 0, h->fg.reg[1].gpa + S - 32, 64, I, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_ADDR);
}

static void zero_len_desc(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 64, N, 1);
	fg_ring_desc(&h->fg, &h->a, 1, h->buf, 0, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_DESC_ZERO_LEN);
}

/* The same rules on a one-descriptor chain (pop's no-walk path). */
static void single_desc_rules(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 0, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_DESC_ZERO_LEN);
}

static void single_desc_writable_on_tx(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 1500, W, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_READ_WO);
}

static void buffer_outside_memory(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, 0x10, 64, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_ADDR);
}

static void buffer_wraps_address_space(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, UINT64_MAX - 3, 16, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_ADDR);
}

static void buffer_into_gap(void **state)
{
	struct hctx *h = *state;

	/* region 1's last 10 bytes and 10 bytes of the gap after it */
	fg_ring_desc(&h->fg, &h->a, 0, h->fg.reg[1].gpa + S - 10, 20, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_ADDR);
}

static void avail_idx_too_far(void **state)
{
	struct hctx *h = *state;

	fg_ring_set_avail_idx(&h->a, QSZ + 1);
	assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8, VRING_DIR_OUT),
			 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_AVAIL_IDX);
}

static void avail_idx_backwards(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 64, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 1);
	fg_ring_set_avail_idx(&h->a, 0);	/* behind last_avail = 1 */
	assert_int_equal(vring_avail_count(&h->a.dev), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_AVAIL_IDX);
}

/*
 * A guest keeps re-adding a chain the device still holds (as GRO holds a TX
 * chain, its used entry staged but not published): more than a ring's
 * worth of chains would be in flight, and staged used entries would wrap
 * onto ones not yet published. The ring breaks when the guest makes the
 * (size + 1)th chain available past the last published used entry.
 */
static void split_inflight_over_ring(void **state)
{
	struct hctx *h = *state;
	unsigned popped = 0;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 64, 0, 0);
	for (unsigned i = 0; i <= QSZ; i++) {
		unsigned n;

		fg_ring_avail_push(&h->a, 0);	/* the held head, again */
		n = vring_pop_burst(&h->a.dev, elems, 8, VRING_DIR_OUT);
		for (unsigned k = 0; k < n; k++)
			vring_push(&h->a.dev, elems[k].head, 0);
		popped += n;
		if (i < QSZ)
			assert_int_equal(n, 1);
	}
	assert_int_equal(popped, QSZ);
	expect_broken(h, &h->a.dev, PV_DROP_RING_AVAIL_IDX);
}

/* The same head re-added once its used entry is published: no fault. */
static void split_reuse_after_used(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 64, 0, 0);
	for (unsigned i = 0; i < 3 * QSZ; i++) {
		fg_ring_avail_push(&h->a, 0);
		assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8,
						 VRING_DIR_OUT), 1);
		vring_push(&h->a.dev, elems[0].head, 0);
		vring_flush(&h->a.dev);
	}
	assert_int_equal(total_drops(&h->a.dev), 0);
	assert_true(vring_ready(&h->a.dev));
}

static void write_into_readable(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 1500, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_IN), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_WRITE_RO);
}

static void rx_enqueue_into_readable(void **state)
{
	struct hctx *h = *state;
	struct virtio_net_hdr hdr = { 0 };
	uint8_t pay[64] = { 0 };
	struct iovec src = { pay, sizeof(pay) };

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 1500, 0, 0);
	fg_ring_avail_push(&h->a, 0);
	assert_int_equal(vring_rx_enqueue(&h->a.dev, &hdr, 12, true, &src, 1),
			 -EIO);
	assert_int_equal(vring_rx_enqueue(&h->a.dev, &hdr, 12, true, &src, 1),
			 -EIO);
	expect_broken(h, &h->a.dev, PV_DROP_RING_WRITE_RO);
}

static void read_from_writable(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 12, N, 1);
	fg_ring_desc(&h->fg, &h->a, 1, h->buf + 64, 1500, W, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_READ_WO);
}

static void readable_after_writable(void **state)
{
	struct hctx *h = *state;

	fg_ring_desc(&h->fg, &h->a, 0, h->buf, 100, W | N, 1);
	fg_ring_desc(&h->fg, &h->a, 1, h->buf + 128, 100, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_ANY), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_ORDER);
}

static void too_many_segments(void **state)
{
	struct hctx *h = *state;
	uint16_t n = VRING_ELEM_MAX_IOV + 1;

	for (uint16_t i = 0; i < n; i++)
		fg_ring_desc(&h->fg, &h->a, i, h->buf + i, 1,
			     i + 1 < n ? N : 0, (uint16_t)(i + 1));
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_TOO_MANY_SEGS);
}

/* 127 descriptors, then one that splits into two pieces: 129 > 128. The
 * bound must be checked inside the region-split loop. */
static void too_many_segments_on_split(void **state)
{
	struct hctx *h = *state;
	uint16_t n = VRING_ELEM_MAX_IOV;	/* descriptors */
	uint64_t st = fg_alloc_straddle(&h->fg, 8, 16);

	for (uint16_t i = 0; i + 1 < n; i++)
		fg_ring_desc(&h->fg, &h->a, i, h->buf + i, 1, N,
			     (uint16_t)(i + 1));
	fg_ring_desc(&h->fg, &h->a, n - 1, st, 16, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_TOO_MANY_SEGS);
}

/* The same chain with one descriptor fewer is exactly 128 pieces: fine. */
static void max_segments_ok(void **state)
{
	struct hctx *h = *state;
	uint16_t n = VRING_ELEM_MAX_IOV - 1;
	uint64_t st = fg_alloc_straddle(&h->fg, 8, 16);

	for (uint16_t i = 0; i + 1 < n; i++)
		fg_ring_desc(&h->fg, &h->a, i, h->buf + i, 1, N,
			     (uint16_t)(i + 1));
	fg_ring_desc(&h->fg, &h->a, n - 1, st, 16, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 1);
	assert_int_equal(elems[0].out_num, VRING_ELEM_MAX_IOV);
	assert_int_equal(elems[0].out_len, n - 1 + 16);
	assert_true(vring_ready(&h->a.dev));
	/* the long chain went to the overflow area, every piece in order */
	assert_ptr_equal(elems[0].iov, elems[0].ovf);
	for (uint16_t i = 0; i + 1 < n; i++) {
		assert_int_equal(elems[0].iov[i].iov_len, 1);
		/* consecutive guest bytes: the device's mapping is its own */
		assert_ptr_equal(elems[0].iov[i].iov_base,
				 (uint8_t *)elems[0].iov[0].iov_base + i);
	}
	assert_int_equal(elems[0].iov[n - 1].iov_len +
			 elems[0].iov[n].iov_len, 16);
	/* the next short chain in the same element is inline again */
	fg_ring_desc(&h->fg, &h->a, 200, h->buf, 64, 0, 0);
	assert_int_equal(pop_one(h, 200, VRING_DIR_OUT), 1);
	assert_ptr_equal(elems[0].iov, elems[0].iov_inl);
	assert_int_equal(elems[0].iov[0].iov_len, 64);
}

/*
 * Compact elements: a burst of them stays in a few cache lines; only a
 * chain past the inline segments touches the overflow area.
 */
static void elem_is_compact(void **state)
{
	(void)state;
	assert_true(sizeof(struct vring_elem) <= 128);
}

/* An element whose owner gave no overflow area refuses a long chain. */
static void no_overflow_refuses_long_chain(void **state)
{
	struct hctx *h = *state;
	uint16_t n = VRING_ELEM_INLINE_IOV + 1;

	vring_elems_init(elems, 8, NULL);
	for (uint16_t i = 0; i < n; i++)
		fg_ring_desc(&h->fg, &h->a, i, h->buf + i, 1,
			     i + 1 < n ? N : 0, (uint16_t)(i + 1));
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_TOO_MANY_SEGS);
	vring_elems_init(elems, 8, elems_ovf);
}

static void chain_over_4g(void **state)
{
	struct hctx *h = *state;
	uint64_t big = 3ULL << 30, gpa = 1ULL << 40;

	/* A fake region that is never dereferenced: pop only translates. */
	assert_int_equal(gmem_add_mapped(&h->fg.gm, gpa, 2 * big, 1ULL << 44,
					 (void *)(uintptr_t)0x100000000ULL), 0);
	fg_ring_desc(&h->fg, &h->a, 0, gpa, (uint32_t)big, N, 1);
	fg_ring_desc(&h->fg, &h->a, 1, gpa + big, (uint32_t)big, 0, 0);
	assert_int_equal(pop_one(h, 0, VRING_DIR_OUT), 0);
	assert_int_equal(gmem_remove_region(&h->fg.gm, gpa, 2 * big), 0);
	expect_broken(h, &h->a.dev, PV_DROP_RING_CHAIN_LEN);
}

/* Driver side: the device is not trusted either. */
static void used_idx_too_far(void **state)
{
	struct hctx *h = *state;

	fg_ring_set_used_idx(&h->a, QSZ + 1);
	assert_int_equal(vring_drv_get_used(&h->a.drv, NULL, NULL, 8), 0);
	expect_broken(h, &h->a.drv, PV_DROP_RING_USED_IDX);
}

static void used_id_bogus(void **state)
{
	struct hctx *h = *state;
	struct vring_buf b = { h->buf, 64 };

	assert_int_equal(vring_drv_add(&h->a.drv, &b, 1, 0, NULL), 0);
	vring_drv_publish(&h->a.drv);
	/* id in range but never made available */
	fg_ring_used_write(&h->a, 0, 5, 0);
	fg_ring_set_used_idx(&h->a, 1);
	assert_int_equal(vring_drv_get_used(&h->a.drv, NULL, NULL, 8), 0);
	expect_broken(h, &h->a.drv, PV_DROP_RING_USED_ID);
}

static void used_id_out_of_range(void **state)
{
	struct hctx *h = *state;
	struct vring_buf b = { h->buf, 64 };

	/* two published: the index covers both entries */
	assert_int_equal(vring_drv_add(&h->a.drv, &b, 1, 0, NULL), 0);
	assert_int_equal(vring_drv_add(&h->a.drv, &b, 1, 0, NULL), 0);
	vring_drv_publish(&h->a.drv);
	fg_ring_used_write(&h->a, 0, 0, 0);
	fg_ring_used_write(&h->a, 1, QSZ, 0);
	fg_ring_set_used_idx(&h->a, 2);
	/* the good one is harvested, then the bad one breaks the ring */
	assert_int_equal(vring_drv_get_used(&h->a.drv, NULL, NULL, 8), 1);
	expect_broken(h, &h->a.drv, PV_DROP_RING_USED_ID);
}

static void used_id_twice(void **state)
{
	struct hctx *h = *state;
	struct vring_buf b = { h->buf, 64 };

	/* two published: the index covers both entries */
	assert_int_equal(vring_drv_add(&h->a.drv, &b, 1, 0, NULL), 0);
	assert_int_equal(vring_drv_add(&h->a.drv, &b, 1, 0, NULL), 0);
	vring_drv_publish(&h->a.drv);
	fg_ring_used_write(&h->a, 0, 0, 0);
	fg_ring_used_write(&h->a, 1, 0, 0);
	fg_ring_set_used_idx(&h->a, 2);
	assert_int_equal(vring_drv_get_used(&h->a.drv, NULL, NULL, 8), 1);
	expect_broken(h, &h->a.drv, PV_DROP_RING_USED_ID);
}

static void used_len_too_big(void **state)
{
	struct hctx *h = *state;
	struct vring_buf b[2] = { { h->buf, 12 }, { h->buf + 64, 100 } };
	uint32_t len = 0;

	assert_int_equal(vring_drv_add(&h->a.drv, b, 1, 1, NULL), 0);
	assert_int_equal(vring_drv_add(&h->a.drv, b, 1, 1, NULL), 0);
	vring_drv_publish(&h->a.drv);
	fg_ring_used_write(&h->a, 0, 0, 100);	/* exactly the in bytes */
	fg_ring_used_write(&h->a, 1, 2, 101);
	fg_ring_set_used_idx(&h->a, 2);
	assert_int_equal(vring_drv_get_used(&h->a.drv, NULL, &len, 8), 1);
	assert_int_equal(len, 100);
	expect_broken(h, &h->a.drv, PV_DROP_RING_USED_LEN);
}

/*
 * Without IN_ORDER (harvest by id) the device may name only chains we
 * published: used->idx past avail->idx as published, or an entry naming a
 * chain added since (its descriptors are written, its avail entry too, but
 * avail->idx does not cover it), is a lie, as on the in-order and packed
 * paths. @wrap: first many honest laps, so the indices cross 2^16 and the
 * heads named are reused ones.
 */
static void drv_honest_laps(struct hctx *h, unsigned n)
{
	struct vring *d = &h->a.drv;
	struct vring_buf b = { h->buf, 64 };

	for (unsigned k = 0; k < n; k++) {
		uint16_t head = d->free_head, u = fg_ring_used_idx(&h->a);

		assert_int_equal(vring_drv_add(d, &b, 1, 0, NULL), 0);
		vring_drv_publish(d);
		fg_ring_used_write(&h->a, u, head, 0);
		fg_ring_set_used_idx(&h->a, (uint16_t)(u + 1));
		assert_int_equal(vring_drv_get_used(d, NULL, NULL, 8), 1);
	}
	assert_true(vring_ready(d));
}

/* Adds one chain of 64 readable bytes; returns its head. */
static uint16_t drv_add_one(struct hctx *h, void *cookie)
{
	struct vring_buf b = { h->buf, 64 };
	uint16_t head = h->a.drv.free_head;

	assert_int_equal(vring_drv_add(&h->a.drv, &b, 1, 0, cookie), 0);
	return head;
}

static void used_idx_past_published_case(struct hctx *h, bool wrap)
{
	struct vring *d = &h->a.drv;
	uint16_t u, a, c;

	if (wrap)
		drv_honest_laps(h, 65536 + 3 * QSZ / 2);
	u = fg_ring_used_idx(&h->a);
	a = drv_add_one(h, NULL);
	vring_drv_publish(d);
	c = drv_add_one(h, NULL);	/* not published */
	fg_ring_used_write(&h->a, u, a, 0);
	fg_ring_used_write(&h->a, (uint16_t)(u + 1), c, 0);
	fg_ring_set_used_idx(&h->a, (uint16_t)(u + 2));
	assert_int_equal(vring_drv_get_used(d, NULL, NULL, 8), 0);
	expect_broken(h, d, PV_DROP_RING_USED_IDX);
}

static void used_idx_past_published(void **state)
{
	used_idx_past_published_case(*state, false);
}

static void used_idx_past_published_wrap(void **state)
{
	used_idx_past_published_case(*state, true);
}

static void used_id_unpublished_case(struct hctx *h, bool wrap)
{
	struct vring *d = &h->a.drv;
	void *ck[8] = { NULL };
	uint16_t u, a, c;

	if (wrap)
		drv_honest_laps(h, 65536 + 3 * QSZ / 2);
	u = fg_ring_used_idx(&h->a);
	a = drv_add_one(h, (void *)1);
	drv_add_one(h, (void *)2);
	vring_drv_publish(d);
	c = drv_add_one(h, (void *)3);	/* not published */
	/* the index covers what was published; the second entry names the
	 * unpublished chain instead of the second published one */
	fg_ring_used_write(&h->a, u, a, 0);
	fg_ring_used_write(&h->a, (uint16_t)(u + 1), c, 0);
	fg_ring_set_used_idx(&h->a, (uint16_t)(u + 2));
	assert_int_equal(vring_drv_get_used(d, ck, NULL, 8), 1);
	assert_ptr_equal(ck[0], (void *)1);
	expect_broken(h, d, PV_DROP_RING_USED_ID);
}

static void used_id_unpublished(void **state)
{
	used_id_unpublished_case(*state, false);
}

static void used_id_unpublished_wrap(void **state)
{
	used_id_unpublished_case(*state, true);
}

/* After a frontend reset, a broken ring runs again. */
static void reset_after_broken(void **state)
{
	struct hctx *h = *state;

	fg_ring_avail_push(&h->a, QSZ + 5);
	assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8, VRING_DIR_OUT),
			 0);
	assert_int_equal(h->a.dev.state, VRING_BROKEN);
	vring_stop(&h->a.dev);
	vring_drv_init(&h->a.drv);
	vring_start(&h->a.dev, 0);
	assert_true(fg_ring_roundtrip(&h->fg, &h->a, 0, 64));
	assert_int_equal(h->a.dev.st.drops.n[PV_DROP_RING_HEAD_OOR], 1);
}

#define HT(f)	cmocka_unit_test_setup_teardown(f, hsetup, hteardown)

/* ---- packed ring (§2.8): the same rules, and its own ---- */

/* Pops from the packed victim and expects it broken for @why. */
static void pk_expect(struct hctx *h, enum vring_dir dir, enum pv_drop why)
{
	assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8, dir), 0);
	expect_broken(h, &h->a.dev, why);
}

static void packed_id_out_of_range(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, h->buf, 64, 0, QSZ);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_PK_ID_OOR);
}

/* An ID made available again before the device used it: two completions. */
static void packed_id_reused(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, h->buf, 64, 0, 5);
	pk_drv_add1(&d, h->buf + 64, 64, 0, 5);
	assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8, VRING_DIR_OUT), 1);
	expect_broken(h, &h->a.dev, PV_DROP_RING_PK_ID_REUSED);
}

/* Once used, the same ID is fine again. */
static void packed_id_reuse_after_used(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;
	uint16_t id;
	uint32_t len;

	pk_drv_init(&d, &h->a);
	for (unsigned i = 0; i < 3 * QSZ; i++) {
		pk_drv_add1(&d, h->buf, 64, 0, 7);
		assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8,
						 VRING_DIR_OUT), 1);
		assert_int_equal(elems[0].head, 7);
		vring_push(&h->a.dev, elems[0].head, 0);
		vring_flush(&h->a.dev);
		assert_true(pk_drv_used(&d, 1, &id, &len));
		assert_int_equal(id, 7);
	}
	assert_int_equal(total_drops(&h->a.dev), 0);
}

/* Every descriptor says NEXT: the chain never ends (a flag pattern loop). */
static void packed_chain_never_ends(void **state)
{
	struct hctx *h = *state;
	uint64_t a[QSZ];
	uint32_t l[QSZ];
	uint16_t f[QSZ];
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	for (unsigned i = 0; i < QSZ; i++) {
		a[i] = h->buf;
		l[i] = 1;
		f[i] = N;
	}
	pk_drv_add(&d, a, l, f, QSZ, 1);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_PK_CHAIN);
}

static void packed_indirect_not_negotiated(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, h->buf, 32, I, 1);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_INDIRECT_OFF);
}

static void packed_indirect_with_next(void **state)
{
	struct hctx *h = *state;
	uint64_t a[2] = { h->buf, h->buf + 64 };
	uint32_t l[2] = { 32, 64 };
	uint16_t f[2] = { I | N, 0 };
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add(&d, a, l, f, 2, 1);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_INDIRECT_NEXT);
}

static void packed_indirect_nested(void **state)
{
	struct hctx *h = *state;
	struct vring_packed_desc t[2] = {
		{ htole64(h->buf + 1024), htole32(64), 0, 0 },
		{ htole64(h->buf + 2048), htole32(32), 0, htole16(I) },
	};
	struct pk_drv d;

	assert_true(fg_write(&h->fg, h->buf, t, sizeof(t)));
	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, h->buf, sizeof(t), I, 1);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_INDIRECT_NESTED);
}

static void packed_indirect_bad_len(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, h->buf, 24, I, 1);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_INDIRECT_LEN);
}

static void packed_buffer_outside_memory(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, fg_gap_gpa(&h->fg, 1), 64, 0, 1);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_ADDR);
}

static void packed_zero_len(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, h->buf, 0, 0, 1);
	pk_expect(h, VRING_DIR_OUT, PV_DROP_RING_DESC_ZERO_LEN);
}

static void packed_write_into_readable(void **state)
{
	struct hctx *h = *state;
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add1(&d, h->buf, 64, 0, 1);
	pk_expect(h, VRING_DIR_IN, PV_DROP_RING_WRITE_RO);
}

static void packed_readable_after_writable(void **state)
{
	struct hctx *h = *state;
	uint64_t a[2] = { h->buf, h->buf + 64 };
	uint32_t l[2] = { 64, 64 };
	uint16_t f[2] = { W | N, 0 };
	struct pk_drv d;

	pk_drv_init(&d, &h->a);
	pk_drv_add(&d, a, l, f, 2, 1);
	pk_expect(h, VRING_DIR_ANY, PV_DROP_RING_ORDER);
}

/* A resume position beyond the ring (SET_VRING_BASE from a hostile peer). */
static void packed_base_beyond_ring(void **state)
{
	struct hctx *h = *state;

	vring_stop(&h->a.dev);
	vring_start(&h->a.dev, VRING_PACKED_WRAP | QSZ);
	expect_broken(h, &h->a.dev, PV_DROP_RING_PK_BASE);
}

/*
 * Wrap-counter abuse: descriptors marked for the wrong lap (AVAIL == USED,
 * or the previous lap's pattern) are not available; nothing is read.
 */
static void packed_wrong_lap_not_avail(void **state)
{
	struct hctx *h = *state;
	struct vring_packed_desc *r = (struct vring_packed_desc *)h->a.drv.desc;
	struct pk_drv d;
	const uint16_t pat[3] = {
		VRING_PACKED_DESC_F_USED,
		VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED, 0,
	};

	pk_drv_init(&d, &h->a);
	for (unsigned i = 0; i < 3; i++) {
		r[0].addr = htole64(fg_gap_gpa(&h->fg, 1));	/* never read */
		r[0].len = htole32(64);
		r[0].flags = htole16(pat[i]);
		assert_int_equal(vring_avail_count(&h->a.dev), 0);
		assert_int_equal(vring_pop_burst(&h->a.dev, elems, 8,
						 VRING_DIR_OUT), 0);
	}
	assert_true(vring_ready(&h->a.dev));
	assert_int_equal(total_drops(&h->a.dev), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HT(head_oor),
		HT(head_oor_mid_burst),
		HT(burst_max),
		HT(next_oor),
		HT(desc_loop),
		HT(self_loop),
		HT(indirect_loop),
		HT(indirect_nested),
		HT(indirect_len_not_16),
		HT(indirect_len_zero),
		HT(indirect_len_huge),
		HT(indirect_with_next),
		cmocka_unit_test_setup_teardown(indirect_not_negotiated,
						hsetup_noind, hteardown),
		HT(indirect_table_in_gap),
		HT(zero_len_desc),
		HT(single_desc_rules),
		HT(single_desc_writable_on_tx),
		HT(buffer_outside_memory),
		HT(buffer_wraps_address_space),
		HT(buffer_into_gap),
		HT(avail_idx_too_far),
		HT(avail_idx_backwards),
		HT(split_inflight_over_ring),
		HT(split_reuse_after_used),
		HT(write_into_readable),
		HT(rx_enqueue_into_readable),
		HT(read_from_writable),
		HT(readable_after_writable),
		HT(too_many_segments),
		HT(too_many_segments_on_split),
		HT(max_segments_ok),
		HT(elem_is_compact),
		HT(no_overflow_refuses_long_chain),
		HT(chain_over_4g),
		HT(used_idx_too_far),
		HT(used_id_bogus),
		HT(used_id_out_of_range),
		HT(used_id_twice),
		HT(used_len_too_big),
		HT(used_idx_past_published),
		HT(used_idx_past_published_wrap),
		HT(used_id_unpublished),
		HT(used_id_unpublished_wrap),
		HT(reset_after_broken),
		cmocka_unit_test_setup_teardown(packed_id_out_of_range,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_id_reused,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_id_reuse_after_used,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_chain_never_ends,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_indirect_not_negotiated,
						hsetup_packed_noind, hteardown),
		cmocka_unit_test_setup_teardown(packed_indirect_with_next,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_indirect_nested,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_indirect_bad_len,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_buffer_outside_memory,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_zero_len,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_write_into_readable,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_readable_after_writable,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_base_beyond_ring,
						hsetup_packed, hteardown),
		cmocka_unit_test_setup_teardown(packed_wrong_lap_not_avail,
						hsetup_packed, hteardown),
	};

	pv_log_set_level(PV_LOG_ERR);	/* the breaks are expected */
	return cmocka_run_group_tests_name("virtio_hostile", tests, NULL,
					   NULL);
}
