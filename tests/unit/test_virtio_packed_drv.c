// SPDX-License-Identifier: MIT
/*
 * test_virtio_packed_drv.c - the packed ring's driver side (vring_drv_* on
 * a ring set up with VIRTIO_F_RING_PACKED) against the device side over one
 * ring in fake guest memory: TX chains with the net header and RX buffers,
 * many laps, bursts that do not divide the ring size, a device that
 * completes out of order, event suppression both ways, and a hostile
 * device (an ID never given or never published, a length above the buffer,
 * a wrap counter out of step): named counters, no crash.
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
#include "fg_fixture.h"
#include "pk_fixture.h"

#define S	(1024 * 1024ULL)
#define PFEAT	(VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) | \
		 VIRTIO_BIT(VIRTIO_F_VERSION_1) | \
		 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | \
		 VIRTIO_BIT(VIRTIO_F_RING_PACKED))
#define HDR	12
#define BUFSZ	2048

static struct vring_elem elems[64];

static int setup(void **state)
{
	return fg_group_setup(state, S);
}

static uint64_t drops(const struct vring *vq)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < PV_DROP_MAX; i++)
		t += vq->st.drops.n[i];
	return t;
}

/* One driver's buffers: @n of BUFSZ in region 0, slot i at gpa[i]. */
struct bufs {
	unsigned n;
	uint64_t gpa[256];
};

static void bufs_alloc(struct fakeguest *fg, struct bufs *b, unsigned n)
{
	b->n = n;
	for (unsigned i = 0; i < n; i++) {
		b->gpa[i] = fg_alloc(fg, i % FG_NREGIONS, BUFSZ, 64);
		assert_true(b->gpa[i] != 0);
	}
}

/*
 * Guest TX over many laps of a 16-entry ring: bursts of 1..13 chains (the
 * net header in its own descriptor every third chain, as a driver without
 * ANY_LAYOUT would), published, popped by the device in bursts of another
 * size, used, harvested in order with the right cookie. A burst size that
 * does not divide 16 puts chains across the end of the ring.
 */
static void tx_chains_many_laps(void **state)
{
	static const unsigned dev_burst[] = { 1, 3, 5, 7, 11, 16 };
	struct fakeguest *fg = *state;
	struct fg_ring r;
	struct bufs b;
	uint64_t sent = 0, done = 0, popped = 0;
	uint16_t next_cookie = 0;

	fg_reset(fg);
	bufs_alloc(fg, &b, 16);
	assert_int_equal(fg_ring_create(fg, &r, 0, 16, PFEAT, VRING_PACKED_WRAP), 0);
	assert_true(r.drv.packed);
	assert_int_equal(r.drv.state, VRING_RUNNING_PACKED);
	for (unsigned round = 0; round < 400; round++) {
		unsigned want = 1 + round % 13, added = 0, k, got;
		void *ck[16];
		uint32_t lens[16];

		/* add while descriptors and buffers last */
		while (added < want) {
			unsigned slot = (unsigned)(sent % 16);
			uint8_t *p = fg_ptr(fg, b.gpa[slot]);
			uint32_t plen = 60 + (uint32_t)(sent * 37 % 1400);
			struct vring_buf vb[2];
			unsigned nb;
			int rc;

			if (sent - done >= 16)
				break;		/* every buffer in flight */
			memset(p, 0, HDR);
			fg_fill(p + HDR, plen, (unsigned)sent);
			if (sent % 3 == 0) {
				vb[0] = (struct vring_buf){ b.gpa[slot], HDR };
				vb[1] = (struct vring_buf){ b.gpa[slot] + HDR, plen };
				nb = 2;
			} else {
				vb[0] = (struct vring_buf){ b.gpa[slot], HDR + plen };
				nb = 1;
			}
			rc = vring_drv_add(&r.drv, vb, nb, 0,
					   (void *)(uintptr_t)(sent + 1));
			if (rc == -ENOSPC)
				break;		/* descriptors all in flight */
			assert_int_equal(rc, 0);
			sent++;
			added++;
		}
		/* not visible before publish */
		if (added && popped == sent - added)
			assert_int_equal(vring_avail_count(&r.dev), 0);
		vring_drv_publish(&r.drv);
		/* the device pops in its own burst size */
		k = dev_burst[round % ARRAY_SIZE(dev_burst)];
		got = vring_pop_burst(&r.dev, elems, k, VRING_DIR_OUT);
		for (unsigned i = 0; i < got; i++) {
			uint64_t seq = popped + i;
			uint32_t plen = 60 + (uint32_t)(seq * 37 % 1400);
			uint8_t want_b[1500], have[1500];

			assert_int_equal(elems[i].out_len, HDR + plen);
			assert_int_equal(elems[i].out_num, seq % 3 == 0 ? 2 : 1);
			fg_fill(want_b, plen, (unsigned)seq);
			assert_int_equal(pv_iov_to_buf(elems[i].iov,
						       elems[i].out_num, HDR,
						       have, plen), plen);
			assert_memory_equal(have, want_b, plen);
			vring_push(&r.dev, elems[i].head, 0);
		}
		popped += got;
		vring_flush(&r.dev);
		got = vring_drv_get_used(&r.drv, ck, lens, 16);
		for (unsigned i = 0; i < got; i++) {
			assert_int_equal((uintptr_t)ck[i], ++next_cookie);
			assert_int_equal(lens[i], 0);
		}
		done += got;
		assert_int_equal(done, popped);
	}
	assert_true(sent > 16 * 40);		/* many laps */
	assert_int_equal(drops(&r.drv), 0);
	assert_int_equal(drops(&r.dev), 0);
	assert_int_equal(r.drv.st.pkts, done);
	fg_ring_destroy(&r);
}

/*
 * Guest RX: the driver keeps a 32-entry ring full of 2 KiB buffers (some
 * split into two descriptors), the device delivers packets of 60..3000
 * bytes with mergeable buffers in bursts of 7, the driver gathers
 * num_buffers buffers per packet and checks every byte. 50 laps.
 */
static void rx_mergeable_many_laps(void **state)
{
	struct fakeguest *fg = *state;
	struct fg_ring r;
	struct bufs b;
	bool posted[32] = { 0 };
	uint64_t delivered = 0, checked = 0;
	uint8_t src[3000], got_pkt[3100];
	size_t have = 0;
	unsigned want_bufs = 0;

	fg_reset(fg);
	bufs_alloc(fg, &b, 32);
	assert_int_equal(fg_ring_create(fg, &r, 0, 32, PFEAT, VRING_PACKED_WRAP), 0);
	while (delivered < 32 * 50) {
		void *ck[32];
		uint32_t lens[32];
		unsigned n;

		/* refill every free buffer; every fifth as two descriptors */
		for (unsigned s = 0; s < 32; s++) {
			struct vring_buf vb[2] = {
				{ b.gpa[s], 1000 }, { b.gpa[s] + 1000, BUFSZ - 1000 },
			};
			int rc;

			if (posted[s])
				continue;
			if (s % 5 == 0)
				rc = vring_drv_add(&r.drv, vb, 0, 2,
						   (void *)(uintptr_t)(s + 1));
			else
				rc = vring_drv_add(&r.drv,
						   &(struct vring_buf){ b.gpa[s], BUFSZ },
						   0, 1, (void *)(uintptr_t)(s + 1));
			if (rc == -ENOSPC)
				break;
			assert_int_equal(rc, 0);
			posted[s] = true;
		}
		vring_drv_publish(&r.drv);
		/* the device: 7 packets or until the ring runs dry */
		for (unsigned p = 0; p < 7; p++) {
			size_t len = 60 + (size_t)(delivered * 613 % 2941);
			struct virtio_net_hdr h = { 0 };
			struct iovec iov = { src, len };
			int rc;

			fg_fill(src, len, (unsigned)delivered);
			rc = vring_rx_enqueue(&r.dev, &h, HDR, true, &iov, 1);
			if (rc == -ENOBUFS)
				break;
			assert_int_equal(rc, 0);
			delivered++;
		}
		vring_flush(&r.dev);
		/* the driver: gather num_buffers buffers per packet, check */
		n = vring_drv_get_used(&r.drv, ck, lens, 32);
		for (unsigned i = 0; i < n; i++) {
			unsigned s = (unsigned)((uintptr_t)ck[i] - 1);
			const uint8_t *p = fg_ptr(fg, b.gpa[s]);

			assert_true(s < 32 && posted[s]);
			assert_true(lens[i] <= BUFSZ);
			posted[s] = false;
			if (!want_bufs) {
				uint16_t nb;

				memcpy(&nb, p + 10, 2);
				want_bufs = le16toh(nb);
				assert_true(want_bufs >= 1 && want_bufs <= 2);
				have = 0;
			}
			memcpy(got_pkt + have, p, lens[i]);
			have += lens[i];
			if (--want_bufs == 0) {
				size_t len = 60 + (size_t)(checked * 613 % 2941);
				uint8_t want_b[3000];

				assert_int_equal(have, HDR + len);
				fg_fill(want_b, len, (unsigned)checked);
				assert_memory_equal(got_pkt + HDR, want_b, len);
				checked++;
			}
		}
	}
	/* the rest of what was delivered */
	for (unsigned tries = 0; checked < delivered && tries < 4; tries++) {
		void *ck[32];
		uint32_t lens[32];
		unsigned n = vring_drv_get_used(&r.drv, ck, lens, 32);

		for (unsigned i = 0; i < n; i++) {
			unsigned s = (unsigned)((uintptr_t)ck[i] - 1);

			posted[s] = false;
			if (!want_bufs) {
				uint16_t nb;

				memcpy(&nb, (uint8_t *)fg_ptr(fg, b.gpa[s]) + 10, 2);
				want_bufs = le16toh(nb);
			}
			if (--want_bufs == 0)
				checked++;
		}
	}
	assert_int_equal(checked, delivered);
	assert_int_equal(drops(&r.drv), 0);
	assert_int_equal(drops(&r.dev), 0);
	fg_ring_destroy(&r);
}

/* The raw view of the ring for a device the test plays by hand. */
static struct vring_packed_desc *ring_of(struct fg_ring *r)
{
	return (struct vring_packed_desc *)r->drv.desc;
}

static void raw_used(struct fg_ring *r, uint16_t pos, uint16_t id,
		     uint32_t len, uint16_t flags)
{
	struct vring_packed_desc *d = &ring_of(r)[pos];

	d->id = htole16(id);
	d->len = htole32(len);
	__atomic_store_n(&d->flags, htole16(flags), __ATOMIC_RELEASE);
}

#define USED1	(VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED)

/*
 * §2.8.9: a device may use buffers out of order; the driver moves on by
 * the length of the chain whose ID it read, and the positions still meet.
 */
static void out_of_order_device(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_buf vb[3];
	struct fg_ring r;
	struct bufs b;
	void *ck[4];
	uint32_t lens[4];

	fg_reset(fg);
	bufs_alloc(fg, &b, 3);
	assert_int_equal(fg_ring_create(fg, &r, 0, 8, PFEAT, VRING_PACKED_WRAP), 0);
	for (unsigned i = 0; i < 3; i++)
		vb[i] = (struct vring_buf){ b.gpa[i], 100 };
	/* A: 1 descriptor (ID 0, pos 0); B: 3 (ID 1, pos 1-3); C: 1 (ID 2, pos 4) */
	assert_int_equal(vring_drv_add(&r.drv, vb, 0, 1, (void *)1), 0);
	assert_int_equal(vring_drv_add(&r.drv, vb, 0, 3, (void *)2), 0);
	assert_int_equal(vring_drv_add(&r.drv, vb, 0, 1, (void *)3), 0);
	vring_drv_publish(&r.drv);
	assert_int_equal(r.drv.num_free, 3);
	/* B first (written at the device's used position 0, 3 long), then C, A */
	raw_used(&r, 0, 1, 250, USED1);
	assert_true(vring_drv_has_used(&r.drv));
	assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 1);
	assert_ptr_equal(ck[0], (void *)2);
	assert_int_equal(lens[0], 250);
	assert_false(vring_drv_has_used(&r.drv));
	raw_used(&r, 3, 2, 10, USED1);
	raw_used(&r, 4, 0, 20, USED1);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 2);
	assert_ptr_equal(ck[0], (void *)3);
	assert_ptr_equal(ck[1], (void *)1);
	assert_int_equal(r.drv.num_free, 8);
	/* IDs came back in another order: new chains take them, and the
	 * device side reads them at positions 5.. across the end */
	vring_start(&r.dev, 5 | VRING_PACKED_WRAP);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vring_drv_add(&r.drv, vb, 0, 2,
					       (void *)(uintptr_t)(10 + i)), 0);
	vring_drv_publish(&r.drv);
	assert_int_equal(vring_pop_burst(&r.dev, elems, 8, VRING_DIR_IN), 3);
	for (unsigned i = 0; i < 3; i++)
		vring_push(&r.dev, elems[i].head, 7);
	vring_flush(&r.dev);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_ptr_equal(ck[i], (void *)(uintptr_t)(10 + i));
	assert_int_equal(drops(&r.drv), 0);
	assert_int_equal(drops(&r.dev), 0);
	fg_ring_destroy(&r);
}

/*
 * Both event areas between the two sides: the device's kick suppression
 * read by vring_drv_need_kick(), the driver's interrupt suppression
 * (DESC at its next used position with EVENT_IDX) read by
 * vring_need_call(), across the end of the ring.
 */
static void event_suppression_both_ways(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_packed_event *dev_ev, *drv_ev;
	struct fg_ring r;
	struct bufs b;
	void *ck[8];

	fg_reset(fg);
	bufs_alloc(fg, &b, 1);
	assert_int_equal(fg_ring_create(fg, &r, 0, 8, PFEAT, VRING_PACKED_WRAP), 0);
	dev_ev = (struct vring_packed_event *)r.drv.used;
	drv_ev = (struct vring_packed_event *)r.drv.avail;
	for (unsigned i = 0; i < 21; i++) {
		struct vring_buf vb = { b.gpa[0], 64 };
		bool kick_on = i % 3 != 1;

		vring_set_kick(&r.dev, kick_on);
		assert_int_equal(le16toh(dev_ev->flags),
				 kick_on ? VRING_PACKED_EVENT_F_ENABLE :
					   VRING_PACKED_EVENT_F_DISABLE);
		assert_int_equal(vring_drv_add(&r.drv, &vb, 1, 0, (void *)1), 0);
		vring_drv_publish(&r.drv);
		assert_int_equal(vring_drv_need_kick(&r.drv), kick_on);
		assert_false(vring_drv_need_kick(&r.drv));	/* nothing new */
		/* interrupts: off, then on (DESC at the next used position) */
		vring_drv_set_call(&r.drv, i % 2);
		if (i % 2) {
			assert_int_equal(le16toh(drv_ev->flags),
					 VRING_PACKED_EVENT_F_DESC);
			assert_int_equal(le16toh(drv_ev->off_wrap),
					 r.drv.last_used);
		} else {
			assert_int_equal(le16toh(drv_ev->flags),
					 VRING_PACKED_EVENT_F_DISABLE);
		}
		assert_int_equal(vring_pop_burst(&r.dev, elems, 1, VRING_DIR_OUT), 1);
		vring_push(&r.dev, elems[0].head, 0);
		vring_flush(&r.dev);
		/* the first decision has no history: the device calls */
		if (i > 0)
			assert_int_equal(vring_need_call(&r.dev), i % 2);
		else
			(void)vring_need_call(&r.dev);
		assert_true(vring_drv_has_used(&r.drv));
		assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 1);
	}
	/* DESC from the device: kick when the driver makes position 2 of
	 * the next lap available (21 = 2 laps + 5: wrap 1 now, 0 next) */
	WRITE_ONCE(dev_ev->off_wrap, htole16(2));
	WRITE_ONCE(dev_ev->flags, htole16(VRING_PACKED_EVENT_F_DESC));
	for (unsigned i = 0; i < 8; i++) {
		struct vring_buf vb = { b.gpa[0], 64 };

		if (i == 6)	/* an event a lap behind never fires */
			WRITE_ONCE(dev_ev->off_wrap, htole16(4 | VRING_PACKED_WRAP));
		if (i == 7)	/* position 4 of this lap: now */
			WRITE_ONCE(dev_ev->off_wrap, htole16(4));
		assert_int_equal(vring_drv_add(&r.drv, &vb, 1, 0, (void *)1), 0);
		vring_drv_publish(&r.drv);
		/* positions 5, 6, 7 (wrap 1), then 0, 1, 2, 3, 4 (wrap 0) */
		assert_int_equal(vring_drv_need_kick(&r.drv), i == 5 || i == 7);
		assert_int_equal(vring_pop_burst(&r.dev, elems, 1, VRING_DIR_OUT), 1);
		vring_push(&r.dev, elems[0].head, 0);
		vring_flush(&r.dev);
		assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 1);
	}
	assert_int_equal(drops(&r.drv), 0);
	assert_int_equal(drops(&r.dev), 0);
	fg_ring_destroy(&r);
}

/*
 * A publish nobody asked need_kick about (`pvnet guest` fills its RX ring
 * at setup and publishes it before the backend has the kick fd): a later
 * publish of exactly one more lap brings the position back to where the
 * last decision left it, two laps on, and still needs a kick, with the
 * device's flags ENABLE or DESC at the new lap's first position (what a
 * device that sleeps until kicked asks for once it used the ring up).
 */
static void kick_after_unasked_lap(void **state)
{
	struct fakeguest *fg = *state;
	struct vring_packed_event *dev_ev;
	struct fg_ring r;
	struct bufs b;
	void *ck[16];

	for (unsigned desc = 0; desc < 2; desc++) {
		fg_reset(fg);
		bufs_alloc(fg, &b, 16);
		assert_int_equal(fg_ring_create(fg, &r, 0, 16, PFEAT,
						VRING_PACKED_WRAP), 0);
		dev_ev = (struct vring_packed_event *)r.drv.used;
		for (unsigned s = 0; s < 16; s++)
			assert_int_equal(vring_drv_add(&r.drv,
						       &(struct vring_buf){ b.gpa[s], BUFSZ },
						       0, 1, (void *)(uintptr_t)(s + 1)), 0);
		vring_drv_publish(&r.drv);	/* no need_kick: the setup */
		assert_int_equal(vring_pop_burst(&r.dev, elems, 16, VRING_DIR_IN), 16);
		for (unsigned i = 0; i < 16; i++)
			vring_push(&r.dev, elems[i].head, 0);
		vring_flush(&r.dev);
		assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 16), 16);
		if (desc) {
			/* position 0 of the second lap (wrap counter 0) */
			WRITE_ONCE(dev_ev->off_wrap, htole16(0));
			WRITE_ONCE(dev_ev->flags, htole16(VRING_PACKED_EVENT_F_DESC));
		} else {
			vring_set_kick(&r.dev, true);
		}
		for (unsigned s = 0; s < 16; s++)
			assert_int_equal(vring_drv_add(&r.drv,
						       &(struct vring_buf){ b.gpa[s], BUFSZ },
						       0, 1, (void *)(uintptr_t)(s + 1)), 0);
		vring_drv_publish(&r.drv);
		assert_true(vring_drv_need_kick(&r.drv));
		assert_false(vring_drv_need_kick(&r.drv));	/* nothing new */
		assert_int_equal(vring_pop_burst(&r.dev, elems, 16, VRING_DIR_IN), 16);
		assert_int_equal(drops(&r.drv), 0);
		assert_int_equal(drops(&r.dev), 0);
		fg_ring_destroy(&r);
	}
}

/* ---- a hostile device ---- */

/* Three RX chains published (IDs 0, 1, 2 at positions 0, 1, 2), one added
 * but not published (ID 3 at position 3). */
static void hostile_prep(struct fakeguest *fg, struct fg_ring *r)
{
	struct bufs b;

	fg_reset(fg);
	bufs_alloc(fg, &b, 4);
	assert_int_equal(fg_ring_create(fg, r, 0, 8, PFEAT, VRING_PACKED_WRAP), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vring_drv_add(&r->drv,
					       &(struct vring_buf){ b.gpa[i], 100 },
					       0, 1, (void *)(uintptr_t)(i + 1)), 0);
	vring_drv_publish(&r->drv);
	assert_int_equal(vring_drv_add(&r->drv,
				       &(struct vring_buf){ b.gpa[3], 100 },
				       0, 1, (void *)4), 0);
}

/* The driver's ring is broken for @why alone and every call is inert. */
static void expect_drv_broken(struct fg_ring *r, enum pv_drop why)
{
	void *ck[8];

	assert_int_equal(r->drv.state, VRING_BROKEN);
	assert_string_equal(pv_drop_name(r->drv.broken_reason), pv_drop_name(why));
	assert_int_equal(r->drv.st.drops.n[why], 1);
	assert_int_equal(drops(&r->drv), 1);
	assert_int_equal(vring_drv_get_used(&r->drv, ck, NULL, 8), 0);
	assert_false(vring_drv_has_used(&r->drv));
	assert_int_equal(vring_drv_add(&r->drv, &(struct vring_buf){ 4096, 64 },
				       0, 1, NULL), -EIO);
	vring_drv_publish(&r->drv);
	assert_false(vring_drv_need_kick(&r->drv));
	vring_drv_set_call(&r->drv, true);
	assert_int_equal(drops(&r->drv), 1);
	fg_ring_destroy(r);
}

static void hostile_id_out_of_range(void **state)
{
	struct fg_ring r;

	hostile_prep(*state, &r);
	raw_used(&r, 0, 8, 10, USED1);		/* the ring's size */
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 0);
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
	hostile_prep(*state, &r);
	raw_used(&r, 0, 0xffff, 10, USED1);	/* the largest */
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 0);
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
}

static void hostile_id_never_given(void **state)
{
	struct fg_ring r;

	hostile_prep(*state, &r);
	raw_used(&r, 0, 5, 10, USED1);	/* ID 5 is free */
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 0);
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
}

static void hostile_id_used_twice(void **state)
{
	struct fg_ring r;
	void *ck[8];

	hostile_prep(*state, &r);
	raw_used(&r, 0, 1, 10, USED1);
	raw_used(&r, 1, 1, 10, USED1);	/* ID 1 again */
	assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 1);
	assert_ptr_equal(ck[0], (void *)2);
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
}

static void hostile_id_not_published(void **state)
{
	struct fg_ring r;
	void *ck[8];

	hostile_prep(*state, &r);
	/* IDs 0-2 used honestly, then ID 3 that was added, not published */
	raw_used(&r, 0, 0, 10, USED1);
	raw_used(&r, 1, 1, 10, USED1);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 2);
	raw_used(&r, 2, 3, 10, USED1);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 0);
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
}

/*
 * An ID used honestly, handed out again by the next add (the free list's
 * head) and not published yet: the device naming it a second time is a
 * double completion the chain count cannot catch (one descriptor, inside
 * the published window), only the published check.
 */
static void hostile_id_readded_unpublished(void **state)
{
	struct fg_ring r;
	void *ck[8];

	hostile_prep(*state, &r);
	raw_used(&r, 0, 0, 10, USED1);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 1);
	assert_ptr_equal(ck[0], (void *)1);
	/* ID 0 again, at position 4, not published */
	assert_int_equal(vring_drv_add(&r.drv, &(struct vring_buf){ 4096, 100 },
				       0, 1, (void *)5), 0);
	raw_used(&r, 1, 0, 10, USED1);
	assert_false(vring_drv_get_used(&r.drv, ck, NULL, 8));
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
}

/* The next used position of a device that tracks it (@pw: pos | wrap). */
static void dev_use(struct fg_ring *r, uint16_t *pw, uint16_t id,
		    uint16_t chain, uint32_t len)
{
	uint16_t pos = *pw & (uint16_t)~VRING_PACKED_WRAP;
	bool w = *pw & VRING_PACKED_WRAP;

	raw_used(r, pos, id, len, w ? USED1 : 0);
	pos = (uint16_t)(pos + chain);
	if (pos >= r->drv.size) {
		pos = (uint16_t)(pos - r->drv.size);
		w = !w;
	}
	*pw = (uint16_t)(pos | (w ? VRING_PACKED_WRAP : 0));
}

/* Adds one 100-byte RX buffer with cookie @c; returns the buffer ID it got. */
static uint16_t add_rx(struct fg_ring *r, uintptr_t c)
{
	uint16_t id = r->drv.free_head;

	assert_int_equal(vring_drv_add(&r->drv, &(struct vring_buf){ 4096, 100 },
				       0, 1, (void *)c), 0);
	return id;
}

/*
 * `pvnet guest`'s RX poll: harvest, re-add each buffer at once, publish
 * every 16, so up to 15 IDs wait unpublished while published ones come
 * back out of order. 20 laps of a 64-entry ring, every cookie right; then
 * the device names an ID in the middle of 10 unpublished ones: broken,
 * nothing harvested.
 */
static void byid_harvest_while_unpublished(void **state)
{
	struct fakeguest *fg = *state;
	struct fg_ring r;
	uint16_t dpw = VRING_PACKED_WRAP, pub[64], unpub[16];
	uintptr_t cookie[64];
	unsigned npub = 0, nunpub = 0;
	void *ck[4];
	uint32_t lens[4];

	fg_reset(fg);
	assert_int_equal(fg_ring_create(fg, &r, 0, 64, PFEAT, VRING_PACKED_WRAP), 0);
	for (uintptr_t c = 1; c <= 64; c++) {
		uint16_t id = add_rx(&r, c);

		cookie[id] = c;
		pub[npub++] = id;
	}
	vring_drv_publish(&r.drv);
	for (unsigned n = 0; n < 64 * 20 + 10; n++) {
		unsigned j = n * 7 % npub;	/* out of order */
		uint16_t id = pub[j], nid;

		pub[j] = pub[--npub];
		dev_use(&r, &dpw, id, 1, 50);
		assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 1);
		assert_ptr_equal(ck[0], (void *)cookie[id]);
		assert_int_equal(lens[0], 50);
		nid = add_rx(&r, cookie[id]);
		cookie[nid] = cookie[id];
		unpub[nunpub++] = nid;
		if (nunpub == 16) {
			vring_drv_publish(&r.drv);
			while (nunpub)
				pub[npub++] = unpub[--nunpub];
		}
	}
	assert_int_equal(nunpub, 10);
	assert_int_equal(drops(&r.drv), 0);
	assert_false(vring_drv_has_used(&r.drv));
	dev_use(&r, &dpw, unpub[5], 1, 50);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 0);
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
}

/*
 * An ID published and held by the device while others go round the ring
 * for six laps: its head's position comes round again (positions repeat
 * every two laps) and lies among the unpublished ones when the device at
 * last uses it. Still published: harvested. (A check by position would
 * call it unpublished.)
 */
static void byid_held_across_laps(void **state)
{
	struct fakeguest *fg = *state;
	struct fg_ring r;
	uint16_t dpw = VRING_PACKED_WRAP, held, id;
	void *ck[4];
	uint32_t lens[4];

	fg_reset(fg);
	assert_int_equal(fg_ring_create(fg, &r, 0, 8, PFEAT, VRING_PACKED_WRAP), 0);
	held = add_rx(&r, 100);			/* position 0, wrap 1 */
	vring_drv_publish(&r.drv);
	for (unsigned n = 0; n < 46; n++) {	/* positions 1..46 */
		id = add_rx(&r, n + 1);
		vring_drv_publish(&r.drv);
		dev_use(&r, &dpw, id, 1, 10);
		assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 1);
		assert_ptr_equal(ck[0], (void *)(uintptr_t)(n + 1));
	}
	/* positions 47, 48, 49 = 7 wrap 0, 0 wrap 1, 1 wrap 1: unpublished */
	for (unsigned n = 0; n < 3; n++)
		id = add_rx(&r, 200 + n);
	assert_int_equal(r.drv.shadow_avail, 2 | VRING_PACKED_WRAP);
	dev_use(&r, &dpw, held, 1, 20);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 1);
	assert_ptr_equal(ck[0], (void *)100);
	assert_int_equal(lens[0], 20);
	assert_int_equal(drops(&r.drv), 0);
	/* and the last one added, unpublished, is refused */
	vring_drv_publish(&r.drv);
	id = add_rx(&r, 300);
	dev_use(&r, &dpw, id, 1, 20);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, lens, 4), 0);
	expect_drv_broken(&r, PV_DROP_RING_USED_ID);
}

/*
 * One struct vring set up as a split driver ring, then again (same size)
 * as a packed one, as a reconnect that negotiates the other layout does:
 * the packed driver's per-ID state is there, and a chain goes round.
 */
static void resetup_split_then_packed(void **state)
{
	static struct vring_packed_desc ring[8] __attribute__((aligned(16)));
	static uint8_t avail[64] __attribute__((aligned(16)));
	static uint8_t used[128] __attribute__((aligned(16)));
	struct vring vq;
	void *ck[2];

	(void)state;
	memset(&vq, 0, sizeof(vq));
	assert_int_equal(vring_setup(&vq, 8, ring, avail, used,
				     VIRTIO_BIT(VIRTIO_F_VERSION_1), NULL), 0);
	vring_drv_init(&vq);
	assert_int_equal(vring_setup(&vq, 8, ring, avail, used,
				     PFEAT & ~VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX),
				     NULL), 0);
	vring_drv_init(&vq);
	assert_int_equal(vring_drv_add(&vq, &(struct vring_buf){ 4096, 100 },
				       0, 1, (void *)7), 0);
	vring_drv_publish(&vq);
	ring[0].len = htole32(60);
	__atomic_store_n(&ring[0].flags, htole16(USED1), __ATOMIC_RELEASE);
	assert_int_equal(vring_drv_get_used(&vq, ck, NULL, 2), 1);
	assert_ptr_equal(ck[0], (void *)7);
	assert_int_equal(drops(&vq), 0);
	vring_teardown(&vq);
}

static void hostile_len_above_buffer(void **state)
{
	struct fg_ring r;

	hostile_prep(*state, &r);
	raw_used(&r, 0, 2, 101, USED1);
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 0);
	expect_drv_broken(&r, PV_DROP_RING_USED_LEN);
}

/*
 * §2.8.4: a used descriptor's length is reserved when the chain had no
 * writable buffer and ignored (DPDK's vhost writes the chain's length).
 */
static void tx_used_len_ignored(void **state)
{
	struct fakeguest *fg = *state;
	struct fg_ring r;
	void *ck[2];
	uint32_t len = 1;

	fg_reset(fg);
	assert_int_equal(fg_ring_create(fg, &r, 0, 8, PFEAT, VRING_PACKED_WRAP), 0);
	assert_int_equal(vring_drv_add(&r.drv, &(struct vring_buf){ 4096, 64 },
				       1, 0, (void *)9), 0);
	vring_drv_publish(&r.drv);
	raw_used(&r, 0, 0, 64, USED1);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, &len, 2), 1);
	assert_ptr_equal(ck[0], (void *)9);
	assert_int_equal(len, 0);
	assert_int_equal(drops(&r.drv), 0);
	fg_ring_destroy(&r);
}

static void hostile_wrap_out_of_step(void **state)
{
	struct fg_ring r;

	/* USED without AVAIL in lap 1: neither the driver's nor a used one */
	hostile_prep(*state, &r);
	raw_used(&r, 0, 0, 10, VRING_PACKED_DESC_F_USED);
	assert_false(vring_drv_has_used(&r.drv));
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 0);
	expect_drv_broken(&r, PV_DROP_RING_PK_USED_WRAP);
	/* "used" with the previous lap's wrap counter (both bits clear) */
	hostile_prep(*state, &r);
	raw_used(&r, 0, 0, 10, 0);
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 8), 0);
	expect_drv_broken(&r, PV_DROP_RING_PK_USED_WRAP);
}

/* A used descriptor written where nothing is published is never read. */
static void hostile_used_beyond_published(void **state)
{
	struct fg_ring r;
	void *ck[8];

	hostile_prep(*state, &r);
	raw_used(&r, 0, 0, 10, USED1);
	raw_used(&r, 1, 1, 10, USED1);
	raw_used(&r, 2, 2, 10, USED1);
	assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 3);
	raw_used(&r, 3, 3, 10, USED1);	/* unpublished position */
	raw_used(&r, 4, 5, 10, USED1);	/* nothing there at all */
	assert_false(vring_drv_has_used(&r.drv));
	assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 8), 0);
	assert_int_equal(drops(&r.drv), 0);
	assert_int_equal(r.drv.state, VRING_RUNNING_PACKED);
	fg_ring_destroy(&r);
}

/* ---- dirty logging (live migration) ---- */

static bool dirty(const uint8_t *log, uint64_t gpa)
{
	uint64_t page = gpa >> VRING_LOG_PAGE_SHIFT;

	return log[page / 8] & (1u << (page % 8));
}

/*
 * The device side of a packed ring with a dirty log: the used descriptors
 * it writes back (the descriptor ring's pages where they lie), the device
 * event area it writes for kick suppression, and the RX buffers it fills
 * are marked; the TX buffers it only reads are not.
 */
static void dirty_log_packed(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t log_bytes = (5 * S >> VRING_LOG_PAGE_SHIFT) / 8;
	uint8_t *log = calloc(1, log_bytes);
	struct fg_ring r, rx;
	uint64_t txbuf, rxbuf;
	void *ck[16];

	assert_non_null(log);
	fg_reset(fg);
	/* 512 entries: the descriptor ring spans two pages and more */
	assert_int_equal(fg_ring_create(fg, &r, 0, 512, PFEAT, VRING_PACKED_WRAP), 0);
	assert_int_equal(fg_ring_create(fg, &rx, 0, 512, PFEAT, VRING_PACKED_WRAP), 0);
	txbuf = fg_alloc(fg, 1, 4096, 4096);
	rxbuf = fg_alloc(fg, 2, 4096, 4096);
	vring_set_log(&r.dev, log, log_bytes, r.used_gpa);
	vring_set_log(&rx.dev, log, log_bytes, rx.used_gpa);
	/* TX: 300 chains through the ring, then the log is cleared and ten
	 * more are used at positions 300..309 (the ring's second page) */
	for (unsigned i = 0; i < 310; i++) {
		struct vring_buf vb = { txbuf, 64 };

		if (i == 300)
			memset(log, 0, log_bytes);
		assert_int_equal(vring_drv_add(&r.drv, &vb, 1, 0, (void *)1), 0);
		vring_drv_publish(&r.drv);
		assert_int_equal(vring_pop_burst(&r.dev, elems, 1, VRING_DIR_OUT), 1);
		vring_push(&r.dev, elems[0].head, 0);
		if (i < 300 || i == 309)	/* ten used in one publish */
			vring_flush(&r.dev);
		if (i < 300)
			assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 16), 1);
	}
	assert_int_equal(vring_drv_get_used(&r.drv, ck, NULL, 16), 10);
	for (unsigned pos = 300; pos < 310; pos++)
		if (!dirty(log, r.desc_gpa + 16ULL * pos))
			fail_msg("used descriptor at position %u not logged", pos);
	assert_false(dirty(log, txbuf));	/* only read */
	/* a whole lap and more: the span wraps */
	memset(log, 0, log_bytes);
	for (unsigned i = 0; i < 300; i++) {
		struct vring_buf vb = { txbuf, 64 };

		assert_int_equal(vring_drv_add(&r.drv, &vb, 1, 0, (void *)1), 0);
		vring_drv_publish(&r.drv);
		assert_int_equal(vring_pop_burst(&r.dev, elems, 1, VRING_DIR_OUT), 1);
		vring_push(&r.dev, elems[0].head, 0);
		if (i % 100 == 99)
			vring_flush(&r.dev);
		(void)vring_drv_get_used(&r.drv, ck, NULL, 16);
	}
	/* positions 310..511 and 0..97, the last flush across the end */
	for (unsigned k = 0; k < 300; k++) {
		unsigned pos = (310 + k) % 512;

		if (!dirty(log, r.desc_gpa + 16ULL * pos))
			fail_msg("used descriptor at position %u not logged", pos);
	}
	/* the device event area, written for kick suppression */
	memset(log, 0, log_bytes);
	vring_set_kick(&r.dev, false);
	assert_true(dirty(log, r.used_gpa));
	/* RX: the buffer and the used descriptor */
	memset(log, 0, log_bytes);
	{
		struct vring_buf vb = { rxbuf, 4096 };
		struct virtio_net_hdr h = { 0 };
		uint8_t frame[1000] = { 1 };
		struct iovec iov = { frame, sizeof(frame) };
		uint32_t len;

		assert_int_equal(vring_drv_add(&rx.drv, &vb, 0, 1, (void *)7), 0);
		vring_drv_publish(&rx.drv);
		assert_int_equal(vring_rx_enqueue(&rx.dev, &h, HDR, true, &iov, 1), 0);
		vring_flush(&rx.dev);
		assert_int_equal(vring_drv_get_used(&rx.drv, ck, &len, 16), 1);
		assert_int_equal(len, HDR + sizeof(frame));
	}
	assert_true(dirty(log, rxbuf));
	assert_true(dirty(log, rx.desc_gpa));
	assert_false(dirty(log, txbuf));
	/* without a log nothing is marked */
	vring_set_log(&r.dev, NULL, 0, 0);
	memset(log, 0, log_bytes);
	vring_set_kick(&r.dev, true);
	for (uint64_t i = 0; i < log_bytes; i++)
		assert_int_equal(log[i], 0);
	fg_ring_destroy(&r);
	fg_ring_destroy(&rx);
	free(log);
}

/*
 * A hostile driver makes positions available again while the chains there
 * are still in flight: 256 chains of two descriptors fill a lap of 512
 * positions, 100 more reuse positions 0..199 of the next lap (IDs still
 * free, fewer chains in flight than the ring holds: nothing to refuse).
 * One publish uses all 356; their used descriptors lie over the whole
 * ring, not only over the span from the first position to the end of the
 * last chain (0..199, which a position count modulo the ring reports).
 */
static void dirty_log_packed_relap(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t log_bytes = (5 * S >> VRING_LOG_PAGE_SHIFT) / 8;
	uint8_t *log = calloc(1, log_bytes);
	struct fg_ring r;
	struct pk_drv d;
	uint64_t buf;

	assert_non_null(log);
	fg_reset(fg);
	assert_int_equal(fg_ring_create(fg, &r, 0, 512, PFEAT, VRING_PACKED_WRAP), 0);
	buf = fg_alloc(fg, 1, 4096, 4096);
	vring_set_log(&r.dev, log, log_bytes, r.used_gpa);
	pk_drv_init(&d, &r);
	for (uint16_t c = 0; c < 356; c++) {
		uint64_t a[2] = { buf, buf + 64 };
		uint32_t l[2] = { 64, 64 };
		uint16_t f[2] = { VRING_DESC_F_NEXT, 0 };

		pk_drv_add(&d, a, l, f, 2, c);
		assert_int_equal(vring_pop_burst(&r.dev, elems, 1, VRING_DIR_OUT), 1);
		assert_int_equal(elems[0].head, c);
		vring_push(&r.dev, elems[0].head, 0);
	}
	vring_flush(&r.dev);
	assert_int_equal(drops(&r.dev), 0);
	for (unsigned pos = 0; pos < 512; pos += 2)
		if (!dirty(log, r.desc_gpa + 16ULL * pos))
			fail_msg("used descriptor at position %u not logged", pos);
	fg_ring_destroy(&r);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tx_chains_many_laps),
		cmocka_unit_test(rx_mergeable_many_laps),
		cmocka_unit_test(out_of_order_device),
		cmocka_unit_test(event_suppression_both_ways),
		cmocka_unit_test(kick_after_unasked_lap),
		cmocka_unit_test(hostile_id_out_of_range),
		cmocka_unit_test(hostile_id_never_given),
		cmocka_unit_test(hostile_id_used_twice),
		cmocka_unit_test(hostile_id_not_published),
		cmocka_unit_test(hostile_id_readded_unpublished),
		cmocka_unit_test(byid_harvest_while_unpublished),
		cmocka_unit_test(byid_held_across_laps),
		cmocka_unit_test(resetup_split_then_packed),
		cmocka_unit_test(hostile_len_above_buffer),
		cmocka_unit_test(tx_used_len_ignored),
		cmocka_unit_test(hostile_wrap_out_of_step),
		cmocka_unit_test(hostile_used_beyond_published),
		cmocka_unit_test(dirty_log_packed),
		cmocka_unit_test(dirty_log_packed_relap),
	};

	pv_log_set_level(PV_LOG_ERR);
	return cmocka_run_group_tests_name("virtio_packed_drv", tests, setup,
					   fg_group_teardown);
}
