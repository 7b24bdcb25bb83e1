// SPDX-License-Identifier: MIT
/*
 * vring_split_drv.c - the split virtqueue's driver role with
 * VIRTIO_F_IN_ORDER (virtio 1.2 §2.7.9); vring.c dispatches to it
 *
 * What the feature lets the driver skip, and what it must still do:
 *
 *  - §2.7.5: "If VIRTIO_F_IN_ORDER has been negotiated, driver uses
 *    descriptors in ring order: starting from offset 0 in the table, and
 *    wrapping around at the end of the table", each NEXT pointing at the
 *    following offset (0 after the last). Chains come back in the order
 *    they were added, so the descriptors come back in table order too: no
 *    free list, only a count (num_free) and the next offset (free_head).
 *  - The device uses buffers in the order they were made available, and
 *    may write one used entry for a batch: at the batch's first slot, the
 *    head of its last chain, used->idx moved by the whole batch. So
 *    used->idx alone says how many of the oldest chains are done. A ring
 *    whose chains have no writable bytes (a TX ring) never needs the
 *    entries: nothing in them is ours to learn (§2.7.8: len is the bytes
 *    written), and its chains are harvested from the index alone.
 *  - A ring with writable chains (RX) reads the entry at the next used
 *    slot: its length, and its id, which names the batch's last chain.
 *    The chains before it in the batch get their whole writable length
 *    (the device wrote no entry of their own; Linux's in-order driver
 *    does the same). pvnet's device writes one entry per chain (batches
 *    of one), DPDK's vhost batches only a packed ring's TX.
 *
 * The device is not trusted (style.md §6.13): used->idx may not pass what
 * we published (RING_USED_IDX), the id must be the head of a published
 * chain not yet harvested, at or after the oldest (RING_USED_ID: an id out
 * of order or unknown), and the length within that chain's writable bytes
 * (RING_USED_LEN). Heads are found in a private array (drv_next, indexed
 * by avail position), never in the shared avail ring, and nothing is read
 * from the used ring outside the slots the checked index covers.
 */
#include <endian.h>
#include <errno.h>

#include "pvnet/virtio.h"
#include "virtio_internal.h"

void vring_drv_set_in_order(struct vring *vq, bool in_order)
{
	vq->drv_in_order = in_order;
}

void vring_sp_drv_io_init(struct vring *vq, uint16_t idx)
{
	vq->free_head = 0;	/* §2.7.5: offset 0 first */
	vq->drv_pub = idx;
	vq->drv_io_first = idx;
	vq->drv_io_lens = false;
	vq->drv_io_pend = 0;
	vq->drv_io_pend_len = 0;
}

int vring_sp_drv_io_add(struct vring *vq, const struct vring_buf *bufs,
			unsigned out_n, unsigned in_n, void *cookie)
{
	unsigned total = out_n + in_n;
	uint64_t in_bytes = 0;
	uint16_t head = vq->free_head, i = head;

	if (unlikely(!vring_ready(vq) || !vq->drv_next))
		return -EIO;
	if (total == 0 || total > vq->size)
		return -EINVAL;
	if (total > vq->num_free)
		return -ENOSPC;
	for (unsigned k = 0; k < total; k++) {
		struct vring_desc *d = &vq->desc[i];
		uint16_t flags = 0, next = (uint16_t)((i + 1) & vq->mask);

		if (k + 1 < total)
			flags |= VRING_DESC_F_NEXT;
		if (k >= out_n) {
			flags |= VRING_DESC_F_WRITE;
			in_bytes += bufs[k].len;
		}
		d->addr = htole64(bufs[k].addr);
		d->len = htole32(bufs[k].len);
		d->flags = htole16(flags);
		d->next = htole16(next);
		i = next;
	}
	vq->free_head = i;
	vq->num_free -= (uint16_t)total;
	vq->drv_chain_len[head] = (uint16_t)total;
	vq->drv_cookie[head] = cookie;
	vq->drv_in_len[head] = in_bytes > UINT32_MAX ? UINT32_MAX :
			       (uint32_t)in_bytes;
	if (in_bytes)
		vq->drv_io_lens = true;
	/* Chains in flight <= descriptors: a slot not in flight. */
	vq->drv_next[vq->shadow_avail & vq->mask] = head;
	WRITE_ONCE(vq->avail->ring[vq->shadow_avail & vq->mask],
		   htole16(head));
	vq->shadow_avail++;
	return 0;
}

/* Hands the oldest chain, at @head, back as cookies[i] / lens[i] = @len. */
static inline void io_take(struct vring *vq, uint16_t head, void **cookies,
			   uint32_t *lens, unsigned i, uint32_t len)
{
	if (cookies)
		cookies[i] = vq->drv_cookie[head];
	if (lens)
		lens[i] = len;
	vq->drv_cookie[head] = NULL;
	/* its descriptors are the oldest in flight: table order again */
	vq->num_free += vq->drv_chain_len[head];
	vq->drv_chain_len[head] = 0;
	vq->drv_io_first++;
	vq->st.pkts++;
	vq->st.bytes += len;
}

/* Harvests what is left of a batch already read, from slot @i on. */
static unsigned io_pending(struct vring *vq, void **cookies, uint32_t *lens,
			   unsigned i, unsigned n)
{
	while (vq->drv_io_pend && i < n) {
		uint16_t head = vq->drv_next[vq->drv_io_first & vq->mask];
		uint32_t len = --vq->drv_io_pend ? vq->drv_in_len[head] :
				vq->drv_io_pend_len;

		io_take(vq, head, cookies, lens, i++, len);
	}
	return i;
}

/*
 * The entry at the next used slot names @id, not the oldest chain: a
 * batch, if @id is the head of one of the next @num chains (within what
 * the index covers). Returns the batch's size (its chains become
 * pending), or 0 after breaking the ring. Off the per-packet path.
 */
static __attribute__((noinline)) uint16_t
io_batch(struct vring *vq, uint32_t id, uint32_t len, uint16_t num)
{
	uint16_t k;

	for (k = 1; k < num; k++)
		if (vq->drv_next[(uint16_t)(vq->last_used + k) & vq->mask] == id)
			break;
	if (unlikely(k >= num)) {
		vring_fail(vq, PV_DROP_RING_USED_ID);
		return 0;
	}
	if (unlikely(len > vq->drv_in_len[id])) {
		vring_fail(vq, PV_DROP_RING_USED_LEN);
		return 0;
	}
	k++;
	vq->last_used += k;
	vq->drv_io_pend = k;
	vq->drv_io_pend_len = len;
	return k;
}

unsigned vring_sp_drv_io_get_used(struct vring *vq, void **cookies,
				  uint32_t *lens, unsigned n)
{
	uint16_t idx, num;
	unsigned i = 0;

	if (unlikely(!vring_ready(vq) || !vq->drv_next))
		return 0;
	if (unlikely(vq->drv_io_pend)) {
		i = io_pending(vq, cookies, lens, 0, n);
		if (i == n)
			return i;
	}
	/* Acquire: used entries were written before the device's release
	 * store of used->idx (vring_flush). */
	idx = le16toh(pv_load_acquire(&vq->used->idx));
	num = (uint16_t)(idx - vq->last_used);
	if (unlikely(num > (uint16_t)(vq->drv_pub - vq->last_used))) {
		vring_fail(vq, PV_DROP_RING_USED_IDX);
		return i;
	}
	if (num > n - i)
		num = (uint16_t)(n - i);
	if (!vq->drv_io_lens) {
		/* Nothing written to learn: the index says which are done. */
		vq->last_used += num;
		while (num--)
			io_take(vq, vq->drv_next[vq->drv_io_first & vq->mask],
				cookies, lens, i++, 0);
		return i;
	}
	while (num) {
		/* The fast path, one entry for the oldest chain, on locals:
		 * the caller's arrays may alias nothing of ours, but the
		 * compiler cannot know that. */
		const struct vring_used_elem *ring = vq->used->ring;
		const uint16_t *heads = vq->drv_next;
		uint16_t last = vq->last_used, nfree = vq->num_free;
		uint16_t mask = vq->mask, slot = last & mask, head = heads[slot];
		uint32_t id = le32toh(READ_ONCE(ring[slot].id));
		uint32_t len = le32toh(READ_ONCE(ring[slot].len));
		uint64_t bytes = 0;
		unsigned i0 = i;

		while (id == head && len <= vq->drv_in_len[head]) {
			if (cookies)
				cookies[i] = vq->drv_cookie[head];
			if (lens)
				lens[i] = len;
			vq->drv_cookie[head] = NULL;
			/* its descriptors are the oldest in flight */
			nfree = (uint16_t)(nfree + vq->drv_chain_len[head]);
			vq->drv_chain_len[head] = 0;
			bytes += len;
			i++;
			last++;
			if (!--num)
				break;
			slot = last & mask;
			head = heads[slot];
			id = le32toh(READ_ONCE(ring[slot].id));
			len = le32toh(READ_ONCE(ring[slot].len));
		}
		vq->last_used = last;
		vq->drv_io_first = last;	/* nothing pending here */
		vq->num_free = nfree;
		vq->st.pkts += i - i0;
		vq->st.bytes += bytes;
		if (!num)
			break;
		if (id == head) {
			vring_fail(vq, PV_DROP_RING_USED_LEN);
			break;
		}
		/* a batch: it may reach past @n (what the index covers, not
		 * what the caller takes), the rest stays pending */
		if (!io_batch(vq, id, len, (uint16_t)(idx - vq->last_used)))
			break;
		i = io_pending(vq, cookies, lens, i, n);
		num = (uint16_t)(idx - vq->last_used);
		if (num > n - i)
			num = (uint16_t)(n - i);
	}
	return i;
}
