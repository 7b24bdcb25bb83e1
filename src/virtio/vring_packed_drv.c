// SPDX-License-Identifier: MIT
/* vring_packed_drv.c - the packed virtqueue (virtio 1.2 §2.8), driver role */

/*
 * The driver trusts its own memory but not the device (as the split
 * driver in vring.c): the descriptor ring is shared, so nothing read back
 * from it decides where we write or what we free. Positions, wrap
 * counters, chain lengths and the free list of buffer IDs are private.
 * From a used descriptor only its flags, ID and length are read, once,
 * and checked:
 *
 *  - the flags at our next used position must be "available" or "used" in
 *    the lap we wrote that position in; any other pattern is a wrap
 *    counter out of step (RING_PK_USED_WRAP);
 *  - the ID must be < size, outstanding and published (RING_USED_ID:
 *    an ID added since the last publish carries that publish count in
 *    drv_epoch, one check whatever the number of them), and its chain
 *    must fit in what we published and did not get back yet;
 *  - the length must not exceed the chain's writable bytes
 *    (RING_USED_LEN); a chain without any is read as 0 (§2.8.4: the
 *    field is reserved there and ignored by drivers).
 *
 * The used position then moves by the chain's length as we recorded it
 * (§2.8.9: "the driver needs to keep track of the size of the list
 * corresponding to each buffer ID"), so a device that completes out of
 * order is followed and a lying one cannot move us past what we made
 * available. Nothing is read where nothing is outstanding and published.
 */
#include <endian.h>
#include <errno.h>

#include "pvnet/virtio.h"
#include "virtio_internal.h"

static inline struct vring_packed_desc *pkd_ring(const struct vring *vq)
{
	return (struct vring_packed_desc *)vq->desc;
}

/* The driver event area: we write it (interrupt suppression). */
static inline struct vring_packed_event *pkd_driver(const struct vring *vq)
{
	return (struct vring_packed_event *)vq->avail;
}

/* The device event area: the device writes it (kick suppression). */
static inline struct vring_packed_event *pkd_device(const struct vring *vq)
{
	return (struct vring_packed_event *)vq->used;
}

static inline uint16_t pkd_pos(uint16_t pw)
{
	return pw & (uint16_t)~VRING_PACKED_WRAP;
}

static inline bool pkd_wrap(uint16_t pw)
{
	return pw & VRING_PACKED_WRAP;
}

/* @pw moved on by @n <= size positions, flipping the wrap at the end. */
static inline uint16_t pkd_advance(uint16_t pw, uint32_t n, uint16_t size)
{
	uint32_t pos = pkd_pos(pw) + n;
	uint16_t w = pw & VRING_PACKED_WRAP;

	if (pos >= size) {
		pos -= size;
		w ^= VRING_PACKED_WRAP;
	}
	return (uint16_t)(pos | w);
}

/*
 * Positions from @a to @b (0..size): laps alternate the wrap counter, so
 * two laps make one sequence of 2 * size positions.
 */
static inline uint32_t pkd_dist(uint16_t a, uint16_t b, uint16_t size)
{
	uint32_t two = 2u * size;
	uint32_t la = pkd_pos(a) + (pkd_wrap(a) ? 0 : size);
	uint32_t lb = pkd_pos(b) + (pkd_wrap(b) ? 0 : size);

	return (lb + two - la) % two;
}

/* AVAIL and USED as a driver writes them to make a descriptor available. */
static inline uint16_t pkd_avail_bits(bool wrap)
{
	return wrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}

void vring_pk_drv_init(struct vring *vq, uint16_t pw)
{
	struct vring_packed_desc *ring = pkd_ring(vq);
	/* "used in the previous lap": neither available nor used in ours */
	uint16_t old = pkd_wrap(pw) ? 0 :
		       (uint16_t)(VRING_PACKED_DESC_F_AVAIL |
				  VRING_PACKED_DESC_F_USED);

	if (!vq->drv_next)
		return;
	pw = (uint16_t)((pkd_pos(pw) % vq->size) | (pw & VRING_PACKED_WRAP));
	for (uint32_t i = 0; i < vq->size; i++) {
		vq->drv_next[i] = (uint16_t)(i + 1);	/* free buffer IDs */
		vq->drv_chain_len[i] = 0;
		vq->drv_cookie[i] = NULL;
		vq->drv_epoch[i] = 0;
		ring[i].addr = 0;
		ring[i].len = 0;
		ring[i].id = 0;
		WRITE_ONCE(ring[i].flags, htole16(old));
	}
	vq->free_head = 0;
	vq->num_free = vq->size;
	vq->shadow_avail = vq->last_used = vq->kicked_avail = pw;
	vq->pk_drv_pub = pw;
	vq->pk_drv_unkicked = 0;
	vq->pk_drv_head_flags = 0;
	vq->drv_epochs = 0;
	/* in order: IDs taken from 0 up (free_head the next one) */
	vq->drv_io_first = 0;
	vq->drv_io_pend = 0;
	vq->drv_io_pend_len = 0;
	WRITE_ONCE(pkd_driver(vq)->off_wrap, 0);
	WRITE_ONCE(pkd_driver(vq)->flags, htole16(VRING_PACKED_EVENT_F_ENABLE));
	WRITE_ONCE(pkd_device(vq)->off_wrap, 0);
	WRITE_ONCE(pkd_device(vq)->flags, htole16(VRING_PACKED_EVENT_F_ENABLE));
	vq->broken_reason = PV_DROP_NONE;
	vq->state = VRING_RUNNING_PACKED;
	pv_smp_mb();
}

int vring_pk_drv_add(struct vring *vq, const struct vring_buf *bufs,
		     unsigned out_n, unsigned in_n, void *cookie)
{
	struct vring_packed_desc *ring = pkd_ring(vq);
	unsigned total = out_n + in_n;
	uint16_t pw = vq->shadow_avail, head = pw, id, head_flags = 0;
	uint64_t in_bytes = 0;

	if (unlikely(!vring_ready(vq) || !vq->drv_next))
		return -EIO;
	if (total == 0 || total > vq->size)
		return -EINVAL;
	if (total > vq->num_free)
		return -ENOSPC;
	/* Chains in flight <= descriptors in flight: a free ID exists. In
	 * order, IDs come back in the order taken: the next one is free. */
	id = vq->free_head;
	vq->free_head = vq->drv_in_order ? (uint16_t)((id + 1) & vq->mask) :
			vq->drv_next[id];
	for (unsigned k = 0; k < total; k++) {
		struct vring_packed_desc *d = &ring[pkd_pos(pw)];
		uint16_t flags = pkd_avail_bits(pkd_wrap(pw));

		if (k + 1 < total)
			flags |= VRING_DESC_F_NEXT;
		if (k >= out_n) {
			flags |= VRING_DESC_F_WRITE;
			in_bytes += bufs[k].len;
		}
		d->addr = htole64(bufs[k].addr);
		d->len = htole32(bufs[k].len);
		/* §2.8.6: the ID is read from the last one; all carry it */
		d->id = htole16(id);
		if (k == 0)
			head_flags = flags;
		else
			WRITE_ONCE(d->flags, htole16(flags));
		pw = pkd_advance(pw, 1, vq->size);
	}
	/*
	 * The device stops at the first descriptor that is not available, so
	 * a head behind an unpublished one can be stored now; the first
	 * unpublished head waits for vring_drv_publish().
	 */
	if (head == vq->pk_drv_pub)
		vq->pk_drv_head_flags = head_flags;
	else
		WRITE_ONCE(ring[pkd_pos(head)].flags, htole16(head_flags));
	vq->shadow_avail = pw;
	vq->num_free -= (uint16_t)total;
	vq->drv_chain_len[id] = (uint16_t)total;
	vq->drv_epoch[id] = vq->drv_epochs;
	vq->drv_cookie[id] = cookie;
	vq->drv_in_len[id] = in_bytes > UINT32_MAX ? UINT32_MAX :
			     (uint32_t)in_bytes;
	return 0;
}

void vring_pk_drv_publish(struct vring *vq)
{
	uint16_t pub = vq->pk_drv_pub;
	uint32_t unkicked;

	if (unlikely(!vring_ready(vq)) || pub == vq->shadow_avail)
		return;
	/* at most a lap per publish (descriptors in flight); capped: past
	 * a lap need_kick() knows all it needs */
	unkicked = vq->pk_drv_unkicked + pkd_dist(pub, vq->shadow_avail, vq->size);
	vq->pk_drv_unkicked = unkicked < 2u * vq->size ? unkicked : 2u * vq->size;
	/* Release: every descriptor added since, and the heads behind this
	 * one, before the flags that make the first available (§2.8.21.1;
	 * pairs with the device's acquire load in vring_pk_pop). */
	pv_store_release(&pkd_ring(vq)[pkd_pos(pub)].flags,
			 htole16(vq->pk_drv_head_flags));
	vq->pk_drv_pub = vq->shadow_avail;
	vq->drv_epochs++;	/* every ID added so far is published */
}

bool vring_pk_drv_need_kick(struct vring *vq)
{
	uint16_t new = vq->pk_drv_pub;
	uint32_t unkicked = vq->pk_drv_unkicked;
	uint16_t flags;
	bool need;

	/*
	 * Positions repeat every two laps: a caller that published without
	 * asking (`pvnet guest` fills its RX ring at setup) and then
	 * published one more lap is back where the last decision left it:
	 * the count, not the positions, says what is new.
	 */
	if (unlikely(!vring_ready(vq)) || !unkicked)
		return false;
	/* Full barrier: the flags that published before the device's event
	 * area (pairs with the mb in vring_pk_set_kick). */
	pv_smp_mb();
	vq->kicked_avail = new;
	vq->pk_drv_unkicked = 0;
	flags = le16toh(READ_ONCE(pkd_device(vq)->flags));
	if (flags == VRING_PACKED_EVENT_F_DESC && vq->event_idx &&
	    unkicked > vq->size) {
		/* more than a lap since the last decision: the event's
		 * position names two of them, and a kick too many only
		 * wakes the device, one too few stalls one that sleeps */
		need = true;
	} else if (flags == VRING_PACKED_EVENT_F_DESC && vq->event_idx) {
		uint16_t ow, n = pkd_pos(new), off;
		uint16_t o = (uint16_t)(n - unkicked);

		pv_smp_rmb();	/* off_wrap as new as the flags */
		ow = le16toh(READ_ONCE(pkd_device(vq)->off_wrap));
		off = pkd_pos(ow);

		/* §2.8.10 (Linux's virtqueue_kick_prepare_packed): an event
		 * position in the other lap is a ring size earlier */
		if (pkd_wrap(ow) != pkd_wrap(new))
			off = (uint16_t)(off - vq->size);
		need = vring_need_event(off, n, o);
	} else {
		need = flags != VRING_PACKED_EVENT_F_DISABLE;
	}
	if (need)
		vq->st.kicks++;
	else
		vq->st.kicks_suppressed++;
	return need;
}

/* Published and not harvested: the only range where a used one can be. */
static inline bool pkd_outstanding(const struct vring *vq)
{
	return vq->last_used != vq->pk_drv_pub;
}

/*
 * The descriptor at our next used position, where something is
 * outstanding: 1 if the device used it (*id and *len read after its
 * flags), 0 if it is still the device's, -1 if its flags are neither
 * (RING_PK_USED_WRAP, the ring is broken).
 */
static inline int pkd_used_read(struct vring *vq, uint16_t *id, uint32_t *len)
{
	const struct vring_packed_desc *d = &pkd_ring(vq)[pkd_pos(vq->last_used)];
	bool w = pkd_wrap(vq->last_used), a, u;
	uint16_t f;

	/* Acquire: id and len were written before the flags (§2.8.21.2;
	 * pairs with vring_pk_publish's release). */
	f = le16toh(pv_load_acquire(&d->flags));
	a = f & VRING_PACKED_DESC_F_AVAIL;
	u = f & VRING_PACKED_DESC_F_USED;
	if (a == w && u != w)
		return 0;
	if (unlikely(a != w || u != w)) {
		vring_fail(vq, PV_DROP_RING_PK_USED_WRAP);
		return -1;
	}
	*id = le16toh(READ_ONCE(d->id));
	*len = le32toh(READ_ONCE(d->len));
	return 1;
}

/*
 * The used length of chain @id checked: §2.8.4, len counts bytes written
 * into the buffer and is "reserved for used descriptors without
 * VIRTQ_DESC_F_WRITE, and is ignored by drivers" (DPDK's vhost writes the
 * chain's length there), so 0 then; else at most its writable bytes.
 * False if more (RING_USED_LEN, the ring is broken).
 */
static inline bool pkd_used_len(struct vring *vq, uint16_t id, uint32_t *len)
{
	if (!vq->drv_in_len[id])
		*len = 0;
	else if (unlikely(*len > vq->drv_in_len[id])) {
		vring_fail(vq, PV_DROP_RING_USED_LEN);
		return false;
	}
	return true;
}

bool vring_pk_drv_has_used(struct vring *vq)
{
	uint16_t f;
	bool w = pkd_wrap(vq->last_used);

	if (unlikely(!vring_ready(vq)))
		return false;
	/* in order: chains of a batch already read */
	if (vq->drv_io_pend)
		return true;
	if (!pkd_outstanding(vq))
		return false;
	f = le16toh(READ_ONCE(pkd_ring(vq)[pkd_pos(vq->last_used)].flags));
	return !!(f & VRING_PACKED_DESC_F_AVAIL) == w &&
	       !!(f & VRING_PACKED_DESC_F_USED) == w;
}

/*
 * In order (VIRTIO_F_IN_ORDER, §2.8.9 "In-order use of descriptors"): the
 * device "may" write one used descriptor for a batch, with the buffer ID
 * of the batch's last buffer, where the batch's first descriptor was, and
 * skip the rest of the batch's descriptors. IDs were taken in order, so
 * the batch is every ID from the oldest outstanding one (drv_io_first) to
 * the one named: each must be outstanding and all of them published
 * (their descriptors within what we published and did not get back,
 * RING_USED_ID otherwise: an ID out of order, unknown or not published).
 * The used position moves past the whole batch at once; its chains are
 * handed out oldest first (drv_io_pend, also across calls when @n is
 * short), the last with the descriptor's length, the others with their
 * writable bytes (they have no used descriptor of their own).
 */

/* Hands the oldest chain back as cookies[i] / lens[i] = @len. */
static inline void pkd_io_take(struct vring *vq, void **cookies,
			       uint32_t *lens, unsigned i, uint32_t len)
{
	uint16_t id = vq->drv_io_first;

	if (cookies)
		cookies[i] = vq->drv_cookie[id];
	if (lens)
		lens[i] = len;
	vq->num_free += vq->drv_chain_len[id];
	vq->drv_cookie[id] = NULL;
	vq->drv_chain_len[id] = 0;
	vq->drv_io_first = (uint16_t)((id + 1) & vq->mask);
	vq->st.pkts++;
	vq->st.bytes += len;
}

/* Harvests what is left of a batch already read, from slot @i on. */
static unsigned pkd_io_pending(struct vring *vq, void **cookies,
			       uint32_t *lens, unsigned i, unsigned n)
{
	while (vq->drv_io_pend && i < n) {
		uint16_t id = vq->drv_io_first;
		uint32_t len = --vq->drv_io_pend ? vq->drv_in_len[id] :
				vq->drv_io_pend_len;

		pkd_io_take(vq, cookies, lens, i++, len);
	}
	return i;
}

static unsigned pkd_io_get_used(struct vring *vq, void **cookies,
				uint32_t *lens, unsigned n)
{
	unsigned i = 0;

	if (unlikely(vq->drv_io_pend))
		i = pkd_io_pending(vq, cookies, lens, 0, n);

	while (i < n && pkd_outstanding(vq)) {
		uint32_t len, descs = 0, room;
		uint16_t id, k, cnt;

		if (pkd_used_read(vq, &id, &len) <= 0)
			break;
		if (unlikely(id >= vq->size)) {
			vring_fail(vq, PV_DROP_RING_USED_ID);
			break;
		}
		room = pkd_dist(vq->last_used, vq->pk_drv_pub, vq->size);
		if (likely(id == vq->drv_io_first)) {
			/* one descriptor for one chain, the oldest */
			descs = vq->drv_chain_len[id];
			if (unlikely(!descs || descs > room)) {
				vring_fail(vq, PV_DROP_RING_USED_ID);
				break;
			}
			if (!pkd_used_len(vq, id, &len))
				break;
			vq->last_used = pkd_advance(vq->last_used, descs,
						    vq->size);
			pkd_io_take(vq, cookies, lens, i++, len);
			continue;
		}
		/* The batch: IDs drv_io_first..id. */
		cnt = (uint16_t)(((id - vq->drv_io_first) & vq->mask) + 1);
		for (k = 0; k < cnt; k++) {
			uint16_t c = vq->drv_chain_len[(vq->drv_io_first + k) &
						       vq->mask];

			descs += c;
			if (!c || descs > room)
				break;
		}
		if (unlikely(k < cnt)) {
			vring_fail(vq, PV_DROP_RING_USED_ID);
			break;
		}
		if (!pkd_used_len(vq, id, &len))
			break;
		vq->last_used = pkd_advance(vq->last_used, descs, vq->size);
		vq->drv_io_pend = cnt;
		vq->drv_io_pend_len = len;
		i = pkd_io_pending(vq, cookies, lens, i, n);
	}
	return i;
}

unsigned vring_pk_drv_get_used(struct vring *vq, void **cookies,
			       uint32_t *lens, unsigned n)
{
	unsigned i;

	if (unlikely(!vring_ready(vq) || !vq->drv_next))
		return 0;
	if (vq->drv_in_order)
		return pkd_io_get_used(vq, cookies, lens, n);
	for (i = 0; i < n && pkd_outstanding(vq); i++) {
		uint16_t id, clen;
		uint32_t len;

		if (pkd_used_read(vq, &id, &len) <= 0)
			break;
		if (unlikely(id >= vq->size || !vq->drv_chain_len[id] ||
			     vq->drv_chain_len[id] >
			     pkd_dist(vq->last_used, vq->pk_drv_pub, vq->size) ||
			     drv_unpublished(vq->drv_epoch, vq->drv_epochs, id))) {
			vring_fail(vq, PV_DROP_RING_USED_ID);
			break;
		}
		if (!pkd_used_len(vq, id, &len))
			break;
		if (cookies)
			cookies[i] = vq->drv_cookie[id];
		if (lens)
			lens[i] = len;
		clen = vq->drv_chain_len[id];
		vq->last_used = pkd_advance(vq->last_used, clen, vq->size);
		vq->drv_cookie[id] = NULL;
		vq->drv_chain_len[id] = 0;
		vq->drv_next[id] = vq->free_head;
		vq->free_head = id;
		vq->num_free += clen;
		vq->st.pkts++;
		vq->st.bytes += len;
	}
	return i;
}

void vring_pk_drv_set_call(struct vring *vq, bool enable)
{
	struct vring_packed_event *ev = pkd_driver(vq);

	if (unlikely(!vring_ready(vq)))
		return;
	if (!enable) {
		WRITE_ONCE(ev->flags, htole16(VRING_PACKED_EVENT_F_DISABLE));
	} else if (vq->event_idx) {
		/* §2.8.10: interrupt once the next used position is written */
		WRITE_ONCE(ev->off_wrap, htole16(vq->last_used));
		__atomic_thread_fence(__ATOMIC_RELEASE);	/* before DESC */
		WRITE_ONCE(ev->flags, htole16(VRING_PACKED_EVENT_F_DESC));
	} else {
		WRITE_ONCE(ev->flags, htole16(VRING_PACKED_EVENT_F_ENABLE));
	}
	/* Full barrier: the store above before the caller's re-check of the
	 * used flags (pairs with the mb in vring_pk_need_call). */
	pv_smp_mb();
}
