// SPDX-License-Identifier: MIT
/* test_virtio_ring.c - device and driver sides against each other: round trips, wrap, indirect, suppression */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <endian.h>
#include <errno.h>
#include <cmocka.h>

#include "pvnet/virtio.h"
#include "fg_fixture.h"
#include "pk_fixture.h"

#define S	(256 * 1024ULL)
#define FEAT	(VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) | \
		 VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | \
		 VIRTIO_BIT(VIRTIO_F_VERSION_1))

static struct vring_elem elems[64];
/* their overflow areas: a chain past the inline segments goes there */
static struct iovec elems_ovf[64 * VRING_ELEM_MAX_IOV];

static uint64_t total_drops_ring(const struct vring *vq)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < PV_DROP_MAX; i++)
		t += vq->st.drops.n[i];
	return t;
}

static int setup(void **state)
{
	vring_elems_init(elems, 64, elems_ovf);
	return fg_group_setup(state, S);
}

static void setup_rejects_bad_layout(void **state)
{
	struct fakeguest *fg = *state;
	struct vring vq = { 0 };
	uint8_t *p = fg_ptr(fg, fg->reg[2].gpa);

	assert_int_equal(vring_setup(&vq, 3, p, p + 4096, p + 8192, 0, NULL),
			 -EINVAL);
	assert_int_equal(vring_setup(&vq, 0, p, p + 4096, p + 8192, 0, NULL),
			 -EINVAL);
	assert_int_equal(vring_setup(&vq, 8, p + 8, p + 4096, p + 8192, 0,
				     NULL), -EINVAL);
	assert_int_equal(vring_setup(&vq, 8, p, p + 4097, p + 8192, 0, NULL),
			 -EINVAL);
	assert_int_equal(vring_setup(&vq, 8, p, p + 4096, p + 8194, 0, NULL),
			 -EINVAL);
	assert_int_equal(vring_setup(&vq, 32768, p, p + 4096, p + 8192, 0,
				     NULL), 0);
	assert_int_equal(vring_setup(&vq, 8, p, p + 4096, p + 8192, 0, NULL),
			 0);
	vring_teardown(&vq);
}

static void roundtrip_64_1500(void **state)
{
	struct fakeguest *fg = *state;
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 256, FEAT, 0), 0);
	assert_true(fg_ring_roundtrip(fg, &r, 0, 64));
	assert_true(fg_ring_roundtrip(fg, &r, 1, 1500));
	assert_int_equal(r.dev.st.pkts, 2);
	assert_int_equal(r.dev.st.bytes, 1564);
	assert_int_equal(r.drv.st.pkts, 2);
	assert_int_equal(r.drv.num_free, 256);
	fg_ring_destroy(&r);
}

/* A TX chain of header + payload, and an RX chain the device fills. */
static void chains_out_and_in(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b[3];
	uint8_t hdr[12], pay[1500], got[1512];
	struct fg_ring tx, rx;
	void *ck = NULL;
	uint32_t len = 0;

	assert_int_equal(fg_ring_create(fg, &tx, 2, 64, FEAT, 0), 0);
	assert_int_equal(fg_ring_create(fg, &rx, 2, 64, FEAT, 0), 0);
	fg_fill(hdr, sizeof(hdr), 1);
	fg_fill(pay, sizeof(pay), 2);
	b[0].addr = fg_alloc(fg, 0, 12, 2);
	b[0].len = 12;
	/* payload straddles regions 0 and 1: two pieces */
	b[1].addr = fg_alloc_straddle(fg, 700, 1500);
	b[1].len = 1500;
	fg_write(fg, b[0].addr, hdr, 12);
	fg_write(fg, b[1].addr, pay, 1500);
	assert_int_equal(vring_drv_add(&tx.drv, b, 2, 0, &tx), 0);
	vring_drv_publish(&tx.drv);
	assert_int_equal(vring_pop_burst(&tx.dev, elems, 8, VRING_DIR_OUT), 1);
	assert_int_equal(elems[0].out_num, 3);
	assert_int_equal(elems[0].in_num, 0);
	assert_int_equal(elems[0].out_len, 1512);
	assert_int_equal(elems[0].iov[1].iov_len, 700);
	assert_int_equal(pv_iov_to_buf(elems[0].iov, 3, 0, got, 1512), 1512);
	assert_memory_equal(got, hdr, 12);
	assert_memory_equal(got + 12, pay, 1500);

	/* RX: the device writes into the driver's writable buffer. */
	b[2].addr = fg_alloc(fg, 1, 2048, 64);
	b[2].len = 2048;
	assert_int_equal(vring_drv_add(&rx.drv, &b[2], 0, 1, &rx), 0);
	vring_drv_publish(&rx.drv);
	assert_int_equal(vring_pop_burst(&rx.dev, &elems[1], 8, VRING_DIR_IN),
			 1);
	assert_int_equal(elems[1].in_num, 1);
	assert_int_equal(elems[1].in_len, 2048);
	assert_int_equal(pv_buf_to_iov(&elems[1].iov[0], 1, 0, got, 1512),
			 1512);
	vring_push(&rx.dev, elems[1].head, 1512);
	vring_push(&tx.dev, elems[0].head, 0);
	vring_flush(&rx.dev);
	vring_flush(&tx.dev);
	assert_int_equal(vring_drv_get_used(&rx.drv, &ck, &len, 4), 1);
	assert_ptr_equal(ck, &rx);
	assert_int_equal(len, 1512);
	fg_read(fg, b[2].addr, got, 1512);
	assert_memory_equal(got + 12, pay, 1500);
	assert_int_equal(vring_drv_get_used(&tx.drv, &ck, &len, 4), 1);
	assert_ptr_equal(ck, &tx);
	fg_ring_destroy(&tx);
	fg_ring_destroy(&rx);
}

/* Bursts, one used->idx update per burst, and 16-bit index wrap. */
static void bursts_and_wrap(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t buf = fg_alloc(fg, 2, 16 * 64, 64);
	void *cookies[16];
	uint32_t lens[16];
	struct fg_ring r;
	uintptr_t seq = 1, want = 1;

	assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 65500), 0);
	for (unsigned round = 0; round < 40; round++) {
		unsigned n = 3 + round % 14, got, h;
		uint16_t before = fg_ring_used_idx(&r);

		for (unsigned i = 0; i < n; i++) {
			struct vring_buf b = { buf + 64 * i, 64 };

			/* writable, so the device may report i bytes */
			assert_int_equal(vring_drv_add(&r.drv, &b, 0, 1,
						       (void *)seq++), 0);
		}
		/* the ring is full at 16 */
		if (n == 16) {
			struct vring_buf b = { buf, 64 };

			assert_int_equal(vring_drv_add(&r.drv, &b, 1, 0, NULL),
					 -ENOSPC);
		}
		vring_drv_publish(&r.drv);
		assert_int_equal(vring_avail_count(&r.dev), n);
		got = vring_pop_burst(&r.dev, elems, 64, VRING_DIR_IN);
		assert_int_equal(got, n);
		for (unsigned i = 0; i < got; i++)
			vring_push(&r.dev, elems[i].head, i);
		/* staged entries are invisible until the flush */
		assert_int_equal(fg_ring_used_idx(&r), before);
		vring_flush(&r.dev);
		assert_int_equal(fg_ring_used_idx(&r), (uint16_t)(before + n));
		h = vring_drv_get_used(&r.drv, cookies, lens, 16);
		assert_int_equal(h, n);
		for (unsigned i = 0; i < h; i++) {
			assert_int_equal((uintptr_t)cookies[i], want++);
			assert_int_equal(lens[i], i);
		}
	}
	/* We went past 65535. */
	assert_true(r.dev.last_avail < 65500);
	assert_int_equal(r.dev.last_avail, r.drv.shadow_avail);
	assert_int_equal(r.drv.num_free, 16);
	assert_true(vring_ready(&r.dev) && vring_ready(&r.drv));
	fg_ring_destroy(&r);
}

/*
 * The burst forms of staging used entries, across the 16-bit wrap: a TX
 * burst's chains with length 0 (vring_push_burst), and an RX lease's
 * buffers with their lengths (vring_used_write_burst); the driver sees the
 * chains in pop order with those lengths, and nothing before the publish.
 */
static void push_and_write_bursts(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t buf = fg_alloc(fg, 2, 16 * 64, 64);
	void *cookies[16];
	uint32_t lens[16], wlens[16];
	struct fg_ring r;
	uintptr_t seq = 1, want = 1;

	assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 65530), 0);
	for (unsigned round = 0; round < 12; round++) {
		unsigned n = 1 + round % 16, got;
		uint16_t before = fg_ring_used_idx(&r), first;

		for (unsigned i = 0; i < n; i++) {
			struct vring_buf b = { buf + 64 * i, 64 };

			assert_int_equal(vring_drv_add(&r.drv, &b, 0, 1,
						       (void *)seq++), 0);
		}
		vring_drv_publish(&r.drv);
		got = vring_pop_burst(&r.dev, elems, 16, VRING_DIR_IN);
		assert_int_equal(got, n);
		if (round % 2) {
			for (unsigned i = 0; i < n; i++)
				wlens[i] = 3 * i + 1;	/* <= 64 */
			first = vring_used_reserve(&r.dev, n);
			vring_used_write_burst(&r.dev, first, elems, wlens, n);
			assert_int_equal(fg_ring_used_idx(&r), before);
			vring_used_publish(&r.dev, (uint16_t)(first + n));
		} else {
			first = vring_push_burst(&r.dev, elems, n);
			assert_int_equal(fg_ring_used_idx(&r), before);
			vring_flush(&r.dev);
		}
		assert_int_equal(first, before);
		assert_int_equal(fg_ring_used_idx(&r), (uint16_t)(before + n));
		assert_int_equal(vring_drv_get_used(&r.drv, cookies, lens, 16), n);
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal((uintptr_t)cookies[i], want++);
			assert_int_equal(lens[i], round % 2 ? 3 * i + 1 : 0);
		}
	}
	assert_true(r.dev.used_idx < 65530);	/* went past 65535 */
	assert_true(vring_ready(&r.dev) && vring_ready(&r.drv));
	fg_ring_destroy(&r);
}

/*
 * Used entries that already hold values (the last lap's, or a hostile
 * driver's): the device stores only what differs, so an entry with the
 * right id and a stale length, or the right length and a stale id, must
 * still end up right; the driver sees every chain with its length.
 */
static void used_entries_over_stale(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t buf = fg_alloc(fg, 2, 8 * 64, 64);
	void *cookies[8];
	uint32_t lens[8], wlens[8];
	struct fg_ring r;
	uintptr_t seq = 1, want = 1;

	assert_int_equal(fg_ring_create(fg, &r, 2, 8, FEAT, 0), 0);
	for (unsigned round = 0; round < 8; round++) {
		unsigned n = 4;
		uint16_t first = fg_ring_used_idx(&r);

		for (unsigned i = 0; i < n; i++) {
			struct vring_buf b = { buf + 64 * i, 64 };

			assert_int_equal(vring_drv_add(&r.drv, &b, 0, 1,
						       (void *)seq++), 0);
		}
		vring_drv_publish(&r.drv);
		assert_int_equal(vring_pop_burst(&r.dev, elems, 8,
						 VRING_DIR_IN), n);
		for (unsigned i = 0; i < n; i++) {
			/* entry i: right id / stale len, stale id / right len,
			 * both right, both stale (the heads pop in order) */
			uint32_t e[2] = {
				htole32(i % 2 ? elems[i].head ^ 1 : elems[i].head),
				htole32(i % 2 ? 10 * i + round : 10 * i + round + 1),
			};

			if (i == 2)
				e[1] = htole32(10 * i + round);
			if (i == 3)
				e[0] = htole32(elems[i].head ^ 2);
			wlens[i] = 10 * i + round;
			assert_true(fg_write(fg, r.used_gpa + 4 +
					     8 * ((uint16_t)(first + i) & 7),
					     e, sizeof(e)));
		}
		if (round % 2) {
			uint16_t s = vring_used_reserve(&r.dev, n);

			vring_used_write_burst(&r.dev, s, elems, wlens, n);
			vring_used_publish(&r.dev, (uint16_t)(s + n));
		} else {
			for (unsigned i = 0; i < n; i++)
				wlens[i] = 0;
			vring_push_burst(&r.dev, elems, n);
			vring_flush(&r.dev);
		}
		assert_int_equal(vring_drv_get_used(&r.drv, cookies, lens, 8), n);
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal((uintptr_t)cookies[i], want++);
			assert_int_equal(lens[i], wlens[i]);
		}
	}
	assert_true(vring_ready(&r.dev) && vring_ready(&r.drv));
	fg_ring_destroy(&r);
}

/* Indirect tables: in place, and copied when split across two regions. */
static void indirect_tables(void **state)
{
	struct fakeguest *fg = *state;
	uint8_t pay[4][300], got[1200];
	uint64_t tbl_a, tbl_b, bufs[4];
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 32, FEAT, 0), 0);
	for (unsigned i = 0; i < 4; i++) {
		fg_fill(pay[i], 300, i + 10);
		bufs[i] = fg_alloc(fg, i & 1, 300, 8);
		fg_write(fg, bufs[i], pay[i], 300);
	}
	/* A: 4 entries in region 2, chained 0 -> 2 -> 1 -> 3 */
	tbl_a = fg_alloc(fg, 2, 64, 16);
	fg_desc_write(fg, tbl_a, 0, bufs[0], 300, VRING_DESC_F_NEXT, 2);
	fg_desc_write(fg, tbl_a, 2, bufs[1], 300, VRING_DESC_F_NEXT, 1);
	fg_desc_write(fg, tbl_a, 1, bufs[2], 300, VRING_DESC_F_NEXT, 3);
	fg_desc_write(fg, tbl_a, 3, bufs[3], 300, 0, 0);
	/* B: the same table, straddling regions 0/1 mid-descriptor */
	tbl_b = fg_alloc_straddle(fg, 16 * 2 + 5, 64);
	assert_true(tbl_b != 0);
	for (unsigned i = 0; i < 4; i++)
		fg_desc_write(fg, tbl_b, i, bufs[i], 300,
			      i < 3 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	assert_null(gmem_translate_contig(&fg->gm, tbl_b, 64));

	fg_ring_desc(fg, &r, 5, tbl_a, 64, VRING_DESC_F_INDIRECT, 0);
	fg_ring_desc(fg, &r, 9, tbl_b, 64,
		     VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	fg_ring_avail_push(&r, 5);
	fg_ring_avail_push(&r, 9);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 4, VRING_DIR_OUT), 2);
	assert_int_equal(elems[0].head, 5);
	assert_int_equal(elems[0].out_num, 4);
	assert_int_equal(elems[0].out_len, 1200);
	pv_iov_to_buf(elems[0].iov, 4, 0, got, 1200);
	assert_memory_equal(got, pay[0], 300);
	assert_memory_equal(got + 300, pay[1], 300);
	assert_memory_equal(got + 600, pay[2], 300);
	assert_memory_equal(got + 900, pay[3], 300);
	assert_int_equal(elems[1].head, 9);
	assert_int_equal(elems[1].out_num, 4);
	pv_iov_to_buf(elems[1].iov, 4, 0, got, 1200);
	for (unsigned i = 0; i < 4; i++)
		assert_memory_equal(got + 300 * i, pay[i], 300);
	/* every piece points into the device's mappings, not the scratch */
	for (unsigned i = 0; i < 4; i++)
		assert_true(fg_dev_range_ok(fg, elems[1].iov[i].iov_base, 300));
	vring_push(&r.dev, 5, 0);
	vring_push(&r.dev, 9, 0);
	vring_flush(&r.dev);
	assert_int_equal(fg_ring_used_idx(&r), 2);
	assert_true(vring_ready(&r.dev));
	fg_ring_destroy(&r);
}

/* VRING_DIR_ANY: a control-queue chain, readable then writable. */
static void dir_any_chain(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b[2] = {
		{ fg_alloc(fg, 0, 16, 8), 16 },
		{ fg_alloc(fg, 0, 1, 8), 1 },
	};
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 8, FEAT, 0), 0);
	assert_int_equal(vring_drv_add(&r.drv, b, 1, 1, NULL), 0);
	vring_drv_publish(&r.drv);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 4, VRING_DIR_ANY), 1);
	assert_int_equal(elems[0].out_num, 1);
	assert_int_equal(elems[0].in_num, 1);
	assert_int_equal(elems[0].out_len, 16);
	assert_int_equal(elems[0].in_len, 1);
	fg_ring_destroy(&r);
}

/* Event-idx: used_event (device calls) and avail_event (driver kicks). */
static void event_idx_suppression(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b = { fg_alloc(fg, 0, 64, 64), 64 };
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 64, FEAT, 0), 0);
	assert_true(r.dev.event_idx && r.drv.event_idx);
	/* kicks */
	vring_set_kick(&r.dev, true);		/* avail_event = 0 */
	vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_true(vring_drv_need_kick(&r.drv));	/* 0 -> 1 crosses 0 */
	vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_false(vring_drv_need_kick(&r.drv));	/* device not done */
	assert_false(vring_drv_need_kick(&r.drv));	/* nothing new */
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_OUT), 2);
	vring_set_kick(&r.dev, true);		/* avail_event = 2 */
	vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_true(vring_drv_need_kick(&r.drv));
	assert_int_equal(r.drv.st.kicks, 2);
	assert_int_equal(r.drv.st.kicks_suppressed, 1);
	assert_int_equal(vring_pop_burst(&r.dev, &elems[2], 8, VRING_DIR_OUT),
			 1);

	/* calls */
	vring_drv_set_call(&r.drv, true);		/* used_event = 0 */
	vring_push(&r.dev, elems[0].head, 0);
	vring_flush(&r.dev);
	assert_true(vring_need_call(&r.dev));	/* first: always */
	vring_push(&r.dev, elems[1].head, 0);
	vring_flush(&r.dev);
	assert_false(vring_need_call(&r.dev));	/* driver still at 0 */
	assert_false(vring_need_call(&r.dev));	/* nothing flushed */
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 2);
	vring_drv_set_call(&r.drv, true);		/* used_event = 2 */
	vring_push(&r.dev, elems[2].head, 0);
	vring_flush(&r.dev);
	assert_true(vring_need_call(&r.dev));
	assert_int_equal(r.dev.st.calls, 2);
	assert_int_equal(r.dev.st.calls_suppressed, 1);
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 1);
	assert_int_equal(r.drv.num_free, 64);
	fg_ring_destroy(&r);
}

/*
 * vring_need_call_early(): a "no" read before the barrier stays open until
 * vring_recheck_call(), which must see a driver that re-enabled meanwhile
 * (the race the barrier closes); a "yes" closes what was open.
 */
static void call_early_recheck(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b = { fg_alloc(fg, 0, 64, 64), 64 };
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 64,
					 VIRTIO_BIT(VIRTIO_F_VERSION_1), 0), 0);
	for (int i = 0; i < 6; i++)
		vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_OUT), 6);

	/* the first decision takes the fenced path: a certain no */
	vring_drv_set_call(&r.drv, false);
	vring_push(&r.dev, elems[0].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_NO);
	assert_false(vring_recheck_call(&r.dev));

	/* driver says no, and still does after the barrier */
	vring_push(&r.dev, elems[1].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_NO);
	assert_false(vring_recheck_call(&r.dev));
	assert_false(vring_recheck_call(&r.dev));	/* closed */

	/* driver re-enables between our read and the recheck: a call */
	vring_push(&r.dev, elems[2].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	vring_drv_set_call(&r.drv, true);
	assert_true(vring_recheck_call(&r.dev));

	/* a "yes" covers what an earlier "no" left open */
	vring_drv_set_call(&r.drv, false);
	vring_push(&r.dev, elems[3].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	vring_drv_set_call(&r.drv, true);
	vring_push(&r.dev, elems[4].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_YES);
	assert_false(vring_recheck_call(&r.dev));

	/* a ring restarted drops what was open */
	vring_drv_set_call(&r.drv, false);
	vring_push(&r.dev, elems[5].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	vring_start(&r.dev, r.dev.last_avail);
	assert_false(vring_recheck_call(&r.dev));
	/* every "no" decided is counted, a recheck's "yes" as a call too */
	assert_int_equal(r.dev.st.calls, 2);
	assert_int_equal(r.dev.st.calls_suppressed, 5);

	/* a ring stopped between the "no" and the recheck owes nothing */
	vring_push(&r.dev, elems[0].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_NO);
	vring_push(&r.dev, elems[1].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	vring_drv_set_call(&r.drv, true);
	vring_stop(&r.dev);
	assert_false(vring_recheck_call(&r.dev));
	fg_ring_destroy(&r);
}

/* With event-idx: the recheck covers every entry since the first open "no". */
static void call_early_recheck_event_idx(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b = { fg_alloc(fg, 0, 64, 64), 64 };
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 64, FEAT, 0), 0);
	assert_true(r.dev.event_idx);
	for (int i = 0; i < 8; i++)
		vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_OUT), 8);
	vring_drv_set_call(&r.drv, true);		/* used_event = 0 */
	vring_push(&r.dev, elems[0].head, 0);
	vring_flush(&r.dev);				/* used 1 */
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_YES);
	/* used 1 -> 2 and 2 -> 3, the driver's used_event still 0: no, open */
	vring_push(&r.dev, elems[1].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	vring_push(&r.dev, elems[2].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	/* the driver moves used_event to 1 (inside 1..3) before the recheck */
	*(uint16_t *)&r.drv.avail->ring[64] = htole16(1);
	assert_true(vring_recheck_call(&r.dev));
	/* used_event 5, past what we published: still no after the barrier */
	*(uint16_t *)&r.drv.avail->ring[64] = htole16(5);
	vring_push(&r.dev, elems[3].head, 0);
	vring_flush(&r.dev);				/* used 4 */
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	assert_false(vring_recheck_call(&r.dev));
	vring_push(&r.dev, elems[4].head, 0);
	vring_push(&r.dev, elems[5].head, 0);
	vring_flush(&r.dev);				/* used 6: crosses 5 */
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_YES);
	/* a fenced decision settles an open range: no second call after */
	vring_push(&r.dev, elems[6].head, 0);
	vring_flush(&r.dev);				/* used 7, event 5 */
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	*(uint16_t *)&r.drv.avail->ring[64] = htole16(6);
	vring_push(&r.dev, elems[7].head, 0);
	vring_flush(&r.dev);				/* used 8 */
	assert_true(vring_need_call(&r.dev));		/* 6..7 crossed */
	assert_false(vring_recheck_call(&r.dev));
	fg_ring_destroy(&r);
}

/* The open range across the 16-bit wrap of the used index. */
static void call_early_recheck_wrap(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b = { fg_alloc(fg, 0, 64, 64), 64 };
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 64, FEAT, 65534), 0);
	for (int i = 0; i < 4; i++)
		vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_OUT), 4);
	vring_push(&r.dev, elems[0].head, 0);
	vring_flush(&r.dev);				/* used 65535 */
	assert_true(vring_need_call(&r.dev));		/* first: always */
	*(uint16_t *)&r.drv.avail->ring[64] = htole16(100);
	vring_push(&r.dev, elems[1].head, 0);
	vring_flush(&r.dev);				/* used 0 */
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	vring_push(&r.dev, elems[2].head, 0);
	vring_flush(&r.dev);				/* used 1 */
	assert_int_equal(vring_need_call_early(&r.dev), VRING_CALL_RECHECK);
	/* the driver asks for a call at 65535 -> 0, inside the open range */
	*(uint16_t *)&r.drv.avail->ring[64] = htole16(65535);
	assert_true(vring_recheck_call(&r.dev));
	fg_ring_destroy(&r);
}

/* Without event-idx: used->flags NO_NOTIFY and avail->flags NO_INTERRUPT. */
static void flags_suppression(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b = { fg_alloc(fg, 0, 64, 64), 64 };
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 64,
					 VIRTIO_BIT(VIRTIO_F_VERSION_1), 0), 0);
	assert_false(r.dev.event_idx);
	vring_set_kick(&r.dev, false);
	assert_int_equal(le16toh(r.drv.used->flags), VRING_USED_F_NO_NOTIFY);
	vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_false(vring_drv_need_kick(&r.drv));
	vring_set_kick(&r.dev, true);
	vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_true(vring_drv_need_kick(&r.drv));
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_OUT), 2);

	vring_drv_set_call(&r.drv, false);
	assert_int_equal(le16toh(r.drv.avail->flags),
			 VRING_AVAIL_F_NO_INTERRUPT);
	vring_push(&r.dev, elems[0].head, 0);
	vring_flush(&r.dev);
	assert_false(vring_need_call(&r.dev));
	vring_drv_set_call(&r.drv, true);
	vring_push(&r.dev, elems[1].head, 0);
	vring_flush(&r.dev);
	assert_true(vring_need_call(&r.dev));
	assert_int_equal(r.dev.st.calls, 1);
	assert_int_equal(r.dev.st.calls_suppressed, 1);
	assert_int_equal(r.drv.st.kicks, 1);
	assert_int_equal(r.drv.st.kicks_suppressed, 1);
	fg_ring_destroy(&r);
}

static void stop_and_restart(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf b = { fg_alloc(fg, 0, 64, 64), 64 };
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 8, FEAT, 0), 0);
	assert_true(fg_ring_roundtrip(fg, &r, 0, 64));
	vring_drv_add(&r.drv, &b, 1, 0, NULL);
	vring_drv_publish(&r.drv);
	assert_int_equal(vring_stop(&r.dev), 1);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_OUT), 0);
	vring_start(&r.dev, 1);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_OUT), 1);
	vring_push(&r.dev, elems[0].head, 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 1);
	fg_ring_destroy(&r);
}

/* A new memory table: vring_setup() again keeps indexes, state, counters. */
static void resetup_keeps_state(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_desc *scratch;
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 8, FEAT, 0), 0);
	assert_true(fg_ring_roundtrip(fg, &r, 0, 64));
	scratch = r.dev.ind_scratch;
	assert_int_equal(vring_setup(&r.dev, 8, r.dev.desc, r.dev.avail,
				     r.dev.used, FEAT, &fg->gm), 0);
	assert_ptr_equal(r.dev.ind_scratch, scratch);
	assert_int_equal(r.dev.last_avail, 1);
	assert_int_equal(r.dev.st.pkts, 1);
	assert_true(vring_ready(&r.dev));
	assert_true(fg_ring_roundtrip(fg, &r, 1, 1500));
	assert_int_equal(r.dev.last_avail, 2);
	fg_ring_destroy(&r);
}

/* ---- packed ring, device side (§2.8) ---- */

#define PFEAT	(FEAT | VIRTIO_BIT(VIRTIO_F_RING_PACKED))

/*
 * Chains of 1 and 2 descriptors over five laps of an 8-entry ring: each
 * used descriptor lands where its chain started, with the chain's ID
 * (from its last descriptor), and the resume index carries the wrap.
 */
static void packed_roundtrip_wrap(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t buf = fg_alloc(fg, 0, 4096, 64);
	struct fg_ring r;
	struct pk_drv d;
	unsigned ndesc_total = 0;

	assert_int_equal(fg_ring_create(fg, &r, 2, 8, PFEAT, PK_START), 0);
	assert_true(r.dev.packed);
	pk_drv_init(&d, &r);
	for (unsigned i = 0; i < 30; i++) {
		unsigned n = 1 + i % 2;
		uint64_t a[2] = { buf, buf + 100 };
		uint32_t l[2] = { 12, 60 };
		uint16_t f[2] = { (uint16_t)(n == 2 ? VRING_DESC_F_NEXT : 0), 0 };
		uint16_t id = (uint16_t)(i % 8), got_id;
		uint32_t got_len;

		fg_fill(fg_ptr(fg, buf), 160, i);
		pk_drv_add(&d, a, l, f, n, id);
		assert_int_equal(vring_avail_count(&r.dev), 1);
		assert_int_equal(vring_pop_burst(&r.dev, elems, 4,
						 VRING_DIR_OUT), 1);
		assert_int_equal(elems[0].head, id);
		assert_int_equal(elems[0].out_num, n);
		assert_int_equal(elems[0].out_len, n == 2 ? 72 : 12);
		assert_memory_equal(elems[0].iov[0].iov_base, fg_ptr(fg, buf), 12);
		assert_false(pk_drv_used(&d, n, &got_id, &got_len));
		if (i % 2) {	/* the burst form stages the same entry */
			uint16_t u = r.dev.used_idx;

			assert_int_equal(vring_push_burst(&r.dev, elems, 1), u);
		} else {
			vring_push(&r.dev, elems[0].head, 0);
		}
		assert_false(pk_drv_used(&d, n, &got_id, &got_len));
		vring_flush(&r.dev);
		assert_true(pk_drv_used(&d, n, &got_id, &got_len));
		assert_int_equal(got_id, id);
		ndesc_total += n;
	}
	assert_int_equal(vring_avail_count(&r.dev), 0);
	/* 45 descriptors: position 5 of lap 6 (wrap counter 0 after 5 laps) */
	assert_int_equal(ndesc_total, 45);
	assert_int_equal(vring_stop(&r.dev), 45 % 8);
	assert_int_equal(r.dev.st.pkts, 30);
	fg_ring_destroy(&r);
}

/* Leases over a packed RX ring, mergeable buffers, completed out of order. */
static void packed_rx_leases(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t buf = fg_alloc(fg, 0, 8 * 256, 64);
	struct vring_elem e[8];
	struct fg_ring r;
	struct pk_drv d;
	uint16_t s1, s2, id;
	uint32_t len;
	int n1, n2;

	vring_elems_init(e, 8, NULL);	/* one-descriptor buffers only */
	assert_int_equal(fg_ring_create(fg, &r, 2, 8, PFEAT, PK_START), 0);
	pk_drv_init(&d, &r);
	for (uint16_t i = 0; i < 6; i++)
		pk_drv_add1(&d, buf + 256 * i, 256, VRING_DESC_F_WRITE,
			    (uint16_t)(10 - i) % 8);
	/* -ENOBUFS gives back what it took: the same buffers come next. */
	assert_int_equal(vring_rx_reserve(&r.dev, 7 * 256, true, e, 8),
			 -ENOBUFS);
	n1 = vring_rx_reserve(&r.dev, 300, true, e, 8);
	assert_int_equal(n1, 2);
	assert_int_equal(e[0].head, 2);
	s1 = vring_used_reserve(&r.dev, 2);
	n2 = vring_rx_reserve(&r.dev, 100, true, &e[2], 6);
	assert_int_equal(n2, 1);
	s2 = vring_used_reserve(&r.dev, 1);
	/* the second lease finishes first: nothing visible before the first */
	vring_used_write(&r.dev, s2, e[2].head, 100);
	len = 256;
	vring_used_write_burst(&r.dev, s1, e, &len, 1);
	vring_used_publish(&r.dev, s1 + 1);
	assert_true(pk_drv_used(&d, 1, &id, &len));
	assert_int_equal(id, 2);
	assert_int_equal(len, 256);
	assert_false(pk_drv_used(&d, 1, &id, &len));
	vring_used_write(&r.dev, (uint16_t)(s1 + 1), e[1].head, 44);
	vring_used_publish(&r.dev, (uint16_t)(s2 + 1));
	assert_true(pk_drv_used(&d, 1, &id, &len));
	assert_int_equal(id, 1);
	assert_int_equal(len, 44);
	assert_true(pk_drv_used(&d, 1, &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, 100);
	assert_int_equal(total_drops_ring(&r.dev), 0);
	fg_ring_destroy(&r);
}

/*
 * RX runs on a packed ring: one buffer per packet while each fits; the
 * first that does not is given back and is the next one popped.
 */
static void packed_rx_reserve_burst(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t buf = fg_alloc(fg, 0, 4 * 256, 64);
	uint32_t totals[3] = { 100, 256, 300 };
	struct vring_elem e[4];
	struct fg_ring r;
	struct pk_drv d;

	vring_elems_init(e, 4, NULL);
	assert_int_equal(fg_ring_create(fg, &r, 2, 8, PFEAT, PK_START), 0);
	pk_drv_init(&d, &r);
	assert_int_equal(vring_rx_reserve_burst(&r.dev, totals, 3, e), 0);
	for (uint16_t i = 0; i < 4; i++)
		pk_drv_add1(&d, buf + 256 * i, 256, VRING_DESC_F_WRITE,
			    (uint16_t)(7 - i));
	assert_int_equal(vring_rx_reserve_burst(&r.dev, totals, 3, e), 2);
	assert_int_equal(e[0].head, 7);
	assert_int_equal(e[1].head, 6);
	assert_int_equal(r.dev.st.pkts, 2);
	assert_int_equal(r.dev.st.bytes, 356);
	/* the third buffer came back: 300 bytes take it and the fourth */
	assert_int_equal(vring_rx_reserve(&r.dev, 300, true, &e[2], 2), 2);
	assert_int_equal(e[2].head, 5);
	assert_int_equal(e[3].head, 4);
	assert_true(vring_ready(&r.dev));
	fg_ring_destroy(&r);
}

/* Driver event area: DISABLE, ENABLE, and DESC with EVENT_IDX's off_wrap. */
static void packed_event_suppression(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t buf = fg_alloc(fg, 0, 4096, 64);
	struct fg_ring r;
	struct pk_drv d;
	uint16_t id;
	uint32_t len;

	assert_int_equal(fg_ring_create(fg, &r, 2, 8, PFEAT, PK_START), 0);
	pk_drv_init(&d, &r);
	/* one used chain at position p, then the call decision */
#define PK_ONE(p)							\
	do {								\
		pk_drv_add1(&d, buf, 64, 0, 1);				\
		assert_int_equal(vring_pop_burst(&r.dev, elems, 1,	\
						 VRING_DIR_OUT), 1);	\
		vring_push(&r.dev, 1, 0);				\
		vring_flush(&r.dev);					\
		assert_true(pk_drv_used(&d, 1, &id, &len));		\
	} while (0)
	PK_ONE(0);
	assert_true(vring_need_call(&r.dev));	/* first, and ENABLE */
	assert_false(vring_need_call(&r.dev));	/* nothing new */
	d.drv_ev->flags = htole16(VRING_PACKED_EVENT_F_DISABLE);
	PK_ONE(1);
	assert_false(vring_need_call(&r.dev));
	/* DESC: call once the used position passes 3 in this lap */
	d.drv_ev->off_wrap = htole16(3 | VRING_PACKED_WRAP);
	d.drv_ev->flags = htole16(VRING_PACKED_EVENT_F_DESC);
	PK_ONE(2);
	assert_false(vring_need_call(&r.dev));
	PK_ONE(3);
	assert_true(vring_need_call(&r.dev));
	/* an event in the next lap (wrap 0) at position 1 */
	d.drv_ev->off_wrap = htole16(1);
	for (unsigned i = 4; i < 8; i++) {
		PK_ONE(i);
		assert_false(vring_need_call(&r.dev));
	}
	PK_ONE(8);	/* position 0 of lap 2 */
	assert_false(vring_need_call(&r.dev));
	PK_ONE(9);	/* position 1 of lap 2 */
	assert_true(vring_need_call(&r.dev));
#undef PK_ONE
	/* device event area: kicks on and off */
	vring_set_kick(&r.dev, false);
	assert_int_equal(le16toh(d.dev_ev->flags), VRING_PACKED_EVENT_F_DISABLE);
	vring_set_kick(&r.dev, true);
	assert_int_equal(le16toh(d.dev_ev->flags), VRING_PACKED_EVENT_F_ENABLE);
	fg_ring_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(setup_rejects_bad_layout),
		cmocka_unit_test(roundtrip_64_1500),
		cmocka_unit_test(chains_out_and_in),
		cmocka_unit_test(bursts_and_wrap),
		cmocka_unit_test(push_and_write_bursts),
		cmocka_unit_test(used_entries_over_stale),
		cmocka_unit_test(packed_rx_reserve_burst),
		cmocka_unit_test(indirect_tables),
		cmocka_unit_test(dir_any_chain),
		cmocka_unit_test(event_idx_suppression),
		cmocka_unit_test(call_early_recheck),
		cmocka_unit_test(call_early_recheck_event_idx),
		cmocka_unit_test(call_early_recheck_wrap),
		cmocka_unit_test(flags_suppression),
		cmocka_unit_test(stop_and_restart),
		cmocka_unit_test(resetup_keeps_state),
		cmocka_unit_test(packed_roundtrip_wrap),
		cmocka_unit_test(packed_rx_leases),
		cmocka_unit_test(packed_event_suppression),
	};

	return cmocka_run_group_tests_name("virtio_ring", tests, setup,
					   fg_group_teardown);
}
