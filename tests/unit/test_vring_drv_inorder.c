// SPDX-License-Identifier: MIT
/*
 * test_vring_drv_inorder.c - the driver side's VIRTIO_F_IN_ORDER harvest
 * (vring_drv_set_in_order(); split: vring_split_drv.c, packed:
 * vring_packed_drv.c), against a device played by hand: one used entry per
 * chain, batches (one entry for several chains, split and packed), many
 * laps, and a hostile device that completes out of order, skips, names an
 * unknown or unpublished chain, lies about a length or the used index.
 * Each hostile case breaks only the ring, with the exact reason, and reads
 * nothing outside it (ASan builds check the last part).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <errno.h>
#include <cmocka.h>

#include "pvnet/virtio.h"

#define QSZ	8
#define BUFLEN	100

struct ring {
	uint8_t *mem;
	struct vring vq;
	uint16_t seq;		/* chains added, the cookie of the next is seq+1 */
	uint16_t pos;		/* packed: our own count of descriptors added */
};

static void ring_make(struct ring *r, bool packed)
{
	uint64_t feat = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_F_IN_ORDER) |
			(packed ? VIRTIO_BIT(VIRTIO_F_RING_PACKED) : 0);

	memset(r, 0, sizeof(*r));
	r->mem = aligned_alloc(4096, 3 * 4096);
	assert_non_null(r->mem);
	memset(r->mem, 0, 3 * 4096);
	assert_int_equal(vring_setup(&r->vq, QSZ, r->mem, r->mem + 4096,
				     r->mem + 8192, feat, NULL), 0);
	vring_drv_set_in_order(&r->vq, true);
	vring_drv_init(&r->vq);
}

static void ring_free(struct ring *r)
{
	vring_teardown(&r->vq);
	free(r->mem);
}

/* Adds one chain of @segs writable (RX) or readable (TX) buffers. */
static void add(struct ring *r, bool rx, unsigned segs)
{
	struct vring_buf b[4];

	for (unsigned k = 0; k < segs; k++)
		b[k] = (struct vring_buf){ .addr = 0x1000 + k, .len = BUFLEN };
	assert_int_equal(vring_drv_add(&r->vq, b, rx ? 0 : segs, rx ? segs : 0,
				       (void *)(uintptr_t)(++r->seq)), 0);
	r->pos = (uint16_t)(r->pos + segs);
}

/* ---- split: the device's side written by hand ---- */

static struct vring_used *sp_used(struct ring *r)
{
	return (struct vring_used *)(r->mem + 8192);
}

static void sp_put(struct ring *r, uint16_t slot, uint32_t id, uint32_t len)
{
	sp_used(r)->ring[slot & (QSZ - 1)].id = htole32(id);
	sp_used(r)->ring[slot & (QSZ - 1)].len = htole32(len);
}

static void sp_idx(struct ring *r, uint16_t idx)
{
	__atomic_store_n(&sp_used(r)->idx, htole16(idx), __ATOMIC_RELEASE);
}

/* The head the driver put in avail slot @s (it must be table order). */
static uint16_t sp_head(struct ring *r, uint16_t s)
{
	return le16toh(r->vq.avail->ring[s & (QSZ - 1)]);
}

static void expect(struct ring *r, unsigned n, unsigned want,
		   const uintptr_t *cookies, const uint32_t *lens)
{
	void *c[QSZ * 2];
	uint32_t l[QSZ * 2];

	assert_int_equal(vring_drv_get_used(&r->vq, c, l, n), want);
	for (unsigned i = 0; i < want; i++) {
		assert_int_equal((uintptr_t)c[i], cookies[i]);
		assert_int_equal(l[i], lens[i]);
	}
}

static void split_one_entry_per_chain(void **state)
{
	struct ring r;
	uint16_t used = 0;

	(void)state;
	ring_make(&r, false);
	/* laps of chains of 1..3 descriptors: table order, NEXT = x + 1 */
	for (unsigned lap = 0; lap < 40; lap++) {
		unsigned segs = 1 + lap % 3, n = QSZ / segs;
		uint16_t first = r.seq;
		uintptr_t ck[QSZ];
		uint32_t ln[QSZ];

		for (unsigned k = 0; k < n; k++)
			add(&r, true, segs);
		vring_drv_publish(&r.vq);
		for (unsigned k = 0; k < n; k++) {
			uint16_t head = sp_head(&r, (uint16_t)(first + k));

			/* descriptors in ring order: this chain starts where
			 * the previous one ended */
			assert_int_equal(head, (uint16_t)(r.pos - (n - k) * segs) &
					 (QSZ - 1));
			for (unsigned d = 0; d + 1 < segs; d++)
				assert_int_equal(le16toh(r.vq.desc[(head + d) & (QSZ - 1)].next),
						 (head + d + 1) & (QSZ - 1));
			sp_put(&r, used++, head, 10 + k);
			ck[k] = (uintptr_t)(first + k + 1);
			ln[k] = 10 + k;
		}
		sp_idx(&r, used);
		assert_true(vring_drv_has_used(&r.vq));
		expect(&r, QSZ, n, ck, ln);
		assert_false(vring_drv_has_used(&r.vq));
		assert_int_equal(r.vq.num_free, QSZ);
	}
	assert_int_equal(r.vq.state, VRING_RUNNING);
	ring_free(&r);
}

/* §2.7.9: one entry at the batch's first slot, the head of its last chain. */
static void split_batch(void **state)
{
	struct ring r;

	(void)state;
	ring_make(&r, false);
	for (unsigned k = 0; k < 5; k++)
		add(&r, true, 1);
	vring_drv_publish(&r.vq);
	/* a batch of 3 (chains 1..3), then one of 2 */
	sp_put(&r, 0, sp_head(&r, 2), 33);
	sp_put(&r, 1, 0xdead, 0xdead);	/* skipped slots: stale, never read */
	sp_put(&r, 2, 0xdead, 0xdead);
	sp_put(&r, 3, sp_head(&r, 4), 55);
	sp_idx(&r, 5);
	/* a short caller array: the batch goes on in the next call */
	expect(&r, 2, 2, (uintptr_t[]){ 1, 2 }, (uint32_t[]){ BUFLEN, BUFLEN });
	assert_true(vring_drv_has_used(&r.vq));
	expect(&r, 8, 3, (uintptr_t[]){ 3, 4, 5 }, (uint32_t[]){ 33, BUFLEN, 55 });
	assert_false(vring_drv_has_used(&r.vq));
	assert_int_equal(r.vq.num_free, QSZ);
	assert_int_equal(r.vq.state, VRING_RUNNING);
	ring_free(&r);
}

/* TX: no writable bytes, the entries are not read; used->idx says it all. */
static void split_tx_from_index_alone(void **state)
{
	struct ring r;

	(void)state;
	ring_make(&r, false);
	for (unsigned k = 0; k < 5; k++)
		add(&r, false, 1 + k % 2);	/* 7 descriptors */
	vring_drv_publish(&r.vq);
	for (unsigned s = 0; s < QSZ; s++)
		sp_put(&r, (uint16_t)s, 0xdead, 0xdead);
	sp_idx(&r, 4);
	expect(&r, 8, 4, (uintptr_t[]){ 1, 2, 3, 4 }, (uint32_t[]){ 0, 0, 0, 0 });
	sp_idx(&r, 5);
	expect(&r, 8, 1, (uintptr_t[]){ 5 }, (uint32_t[]){ 0 });
	assert_int_equal(r.vq.num_free, QSZ);
	/* ... but not past what was published */
	add(&r, false, 1);
	vring_drv_publish(&r.vq);
	add(&r, false, 1);	/* not published */
	sp_idx(&r, 7);
	assert_int_equal(vring_drv_get_used(&r.vq, NULL, NULL, 8), 0);
	assert_int_equal(r.vq.state, VRING_BROKEN);
	assert_int_equal(r.vq.broken_reason, PV_DROP_RING_USED_IDX);
	assert_int_equal(r.vq.st.drops.n[PV_DROP_RING_USED_IDX], 1);
	ring_free(&r);
}

/* A hostile split device: each case breaks the ring with its reason. */
static void split_hostile_case(unsigned which, enum pv_drop why)
{
	struct ring r;
	void *c[8];
	uint32_t l[8];

	ring_make(&r, false);
	for (unsigned k = 0; k < 4; k++)
		add(&r, true, 1);
	vring_drv_publish(&r.vq);
	switch (which) {
	case 0:	/* out of order: the second chain's head, one used */
		sp_put(&r, 0, sp_head(&r, 1), 1);
		sp_idx(&r, 1);
		break;
	case 1:	/* skips back: an already harvested chain */
		sp_put(&r, 0, sp_head(&r, 0), 1);
		sp_idx(&r, 1);
		assert_int_equal(vring_drv_get_used(&r.vq, c, l, 8), 1);
		sp_put(&r, 1, sp_head(&r, 0), 1);
		sp_idx(&r, 2);
		break;
	case 2:	/* an id past the table */
		sp_put(&r, 0, 0x7fffffff, 1);
		sp_idx(&r, 1);
		break;
	case 3:	/* a length past the chain's writable bytes */
		sp_put(&r, 0, sp_head(&r, 0), BUFLEN + 1);
		sp_idx(&r, 1);
		break;
	case 4:	/* the used index past what was published */
		sp_put(&r, 0, sp_head(&r, 0), 1);
		sp_idx(&r, 5);
		break;
	case 5:	/* a batch naming a chain past the index */
		sp_put(&r, 0, sp_head(&r, 3), 1);
		sp_idx(&r, 2);
		break;
	case 6:	/* a batch of 3 whose length is past its last chain's */
		sp_put(&r, 0, sp_head(&r, 2), BUFLEN + 1);
		sp_idx(&r, 3);
		break;
	}
	vring_drv_get_used(&r.vq, c, l, 8);
	assert_int_equal(r.vq.state, VRING_BROKEN);
	assert_int_equal(r.vq.broken_reason, why);
	assert_int_equal(r.vq.st.drops.n[why], 1);
	/* and stays so: nothing more is handed out */
	assert_int_equal(vring_drv_get_used(&r.vq, c, l, 8), 0);
	ring_free(&r);
}

static void split_hostile(void **state)
{
	(void)state;
	split_hostile_case(0, PV_DROP_RING_USED_ID);
	split_hostile_case(1, PV_DROP_RING_USED_ID);
	split_hostile_case(2, PV_DROP_RING_USED_ID);
	split_hostile_case(3, PV_DROP_RING_USED_LEN);
	split_hostile_case(4, PV_DROP_RING_USED_IDX);
	split_hostile_case(5, PV_DROP_RING_USED_ID);
	split_hostile_case(6, PV_DROP_RING_USED_LEN);
}

/* ---- packed ---- */

static struct vring_packed_desc *pk_desc(struct ring *r, uint16_t pos)
{
	return &((struct vring_packed_desc *)r->mem)[pos % QSZ];
}

/* Writes a used descriptor at descriptor count @at (lap from it). */
static void pk_put(struct ring *r, uint32_t at, uint16_t id, uint32_t len)
{
	struct vring_packed_desc *d = pk_desc(r, (uint16_t)(at % QSZ));
	/* lap 0 has wrap counter 1 (§2.8.1), then it flips every lap */
	bool w = !((at / QSZ) & 1);
	uint16_t f = w ? (VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED) : 0;

	d->id = htole16(id);
	d->len = htole32(len);
	__atomic_store_n(&d->flags, htole16(f), __ATOMIC_RELEASE);
}

static void packed_one_per_chain_and_batches(void **state)
{
	struct ring r;
	uint32_t at = 0;	/* descriptors used so far: the next used spot */
	uint16_t id = 0;	/* IDs are taken in order */

	(void)state;
	ring_make(&r, true);
	for (unsigned lap = 0; lap < 60; lap++) {
		/* 1 or 2 descriptors a chain, rings full or not */
		unsigned segs = 1 + lap % 2, n = QSZ / segs - lap % 3;
		unsigned batch = 1 + lap % 4;	/* chains per used descriptor */
		uint16_t first = r.seq;
		uintptr_t ck[QSZ];
		uint32_t ln[QSZ];

		for (unsigned k = 0; k < n; k++) {
			add(&r, true, segs);
			/* the ID is the same in all of a chain's descriptors */
			assert_int_equal(le16toh(pk_desc(&r, (uint16_t)((r.pos - 1) % QSZ))->id),
					 (uint16_t)((id + k) % QSZ));
		}
		vring_drv_publish(&r.vq);
		for (unsigned k = 0; k < n; k += batch) {
			unsigned m = k + batch <= n ? batch : n - k;

			pk_put(&r, at, (uint16_t)((id + k + m - 1) % QSZ), 7 + k);
			for (unsigned j = 0; j < m; j++) {
				ck[k + j] = (uintptr_t)(first + k + j + 1);
				ln[k + j] = j + 1 < m ? BUFLEN * segs : 7 + k;
			}
			at += m * segs;
		}
		id = (uint16_t)((id + n) % QSZ);
		assert_true(vring_drv_has_used(&r.vq));
		/* in two calls, so that a batch is split across them */
		expect(&r, 3, n < 3 ? n : 3, ck, ln);
		if (n > 3)
			expect(&r, QSZ, n - 3, ck + 3, ln + 3);
		assert_false(vring_drv_has_used(&r.vq));
		assert_int_equal(r.vq.num_free, QSZ);
	}
	assert_int_equal(r.vq.state, VRING_RUNNING_PACKED);
	ring_free(&r);
}

/* TX chains: the length field is reserved there (§2.8.4) and reads 0. */
static void packed_tx_len_ignored(void **state)
{
	struct ring r;

	(void)state;
	ring_make(&r, true);
	add(&r, false, 1);
	add(&r, false, 2);
	vring_drv_publish(&r.vq);
	pk_put(&r, 0, 1, 0xdead);	/* a batch of both */
	expect(&r, 8, 2, (uintptr_t[]){ 1, 2 }, (uint32_t[]){ 0, 0 });
	assert_int_equal(r.vq.num_free, QSZ);
	ring_free(&r);
}

static void packed_hostile_case(unsigned which, enum pv_drop why)
{
	struct ring r;
	void *c[8];
	uint32_t l[8];

	ring_make(&r, true);
	for (unsigned k = 0; k < 3; k++)
		add(&r, true, 1);
	vring_drv_publish(&r.vq);
	switch (which) {
	case 0:	/* skips back: an ID already harvested */
		pk_put(&r, 0, 0, 1);
		assert_int_equal(vring_drv_get_used(&r.vq, c, l, 8), 1);
		pk_put(&r, 1, 0, 1);
		break;
	case 1:	/* an ID never added (out of order past the last) */
		pk_put(&r, 0, 5, 1);
		break;
	case 2:	/* an ID past the ring */
		pk_put(&r, 0, QSZ + 3, 1);
		break;
	case 3:	/* an ID added but not published */
		add(&r, true, 1);
		pk_put(&r, 0, 3, 1);
		break;
	case 4:	/* a length past the chain's writable bytes */
		pk_put(&r, 0, 0, BUFLEN + 1);
		break;
	case 5:	/* a used descriptor in the wrong lap */
		pk_put(&r, 0, 0, 1);
		/* avail 0, used 1: no lap's "used" */
		pk_desc(&r, 0)->flags = htole16(VRING_PACKED_DESC_F_USED);
		break;
	case 6:	/* a batch of 3 whose length is past its last chain's */
		pk_put(&r, 0, 2, BUFLEN + 1);
		break;
	}
	vring_drv_get_used(&r.vq, c, l, 8);
	assert_int_equal(r.vq.state, VRING_BROKEN);
	assert_int_equal(r.vq.broken_reason, why);
	assert_int_equal(r.vq.st.drops.n[why], 1);
	assert_int_equal(vring_drv_get_used(&r.vq, c, l, 8), 0);
	ring_free(&r);
}

static void packed_hostile(void **state)
{
	(void)state;
	packed_hostile_case(0, PV_DROP_RING_USED_ID);
	packed_hostile_case(1, PV_DROP_RING_USED_ID);
	packed_hostile_case(2, PV_DROP_RING_USED_ID);
	packed_hostile_case(3, PV_DROP_RING_USED_ID);
	packed_hostile_case(4, PV_DROP_RING_USED_LEN);
	packed_hostile_case(5, PV_DROP_RING_PK_USED_WRAP);
	packed_hostile_case(6, PV_DROP_RING_USED_LEN);
}

/* Without the call the driver is unchanged: free list, harvest by id. */
static void split_default_by_id(void **state)
{
	struct ring r;

	(void)state;
	ring_make(&r, false);
	vring_drv_set_in_order(&r.vq, false);
	vring_drv_init(&r.vq);
	for (unsigned k = 0; k < 3; k++)
		add(&r, true, 1);
	vring_drv_publish(&r.vq);
	/* out of order is fine by id */
	sp_put(&r, 0, sp_head(&r, 2), 3);
	sp_put(&r, 1, sp_head(&r, 0), 1);
	sp_idx(&r, 2);
	expect(&r, 8, 2, (uintptr_t[]){ 3, 1 }, (uint32_t[]){ 3, 1 });
	assert_int_equal(r.vq.state, VRING_RUNNING);
	ring_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(split_one_entry_per_chain),
		cmocka_unit_test(split_batch),
		cmocka_unit_test(split_tx_from_index_alone),
		cmocka_unit_test(split_hostile),
		cmocka_unit_test(packed_one_per_chain_and_batches),
		cmocka_unit_test(packed_tx_len_ignored),
		cmocka_unit_test(packed_hostile),
		cmocka_unit_test(split_default_by_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
