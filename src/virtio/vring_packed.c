// SPDX-License-Identifier: MIT
/* vring_packed.c - the packed virtqueue (virtio 1.2 §2.8), device role */

/*
 * The same security model as vring.c: the descriptor ring, both event
 * areas and every buffer are the guest's, written at any moment. So:
 *
 *  - a descriptor's flags are loaded once with acquire to see whether it is
 *    available, then the descriptor is copied once into a local and only
 *    the copy is checked and used;
 *  - a chain is walked with a hard bound: more descriptors than the ring
 *    holds means the NEXT flags never end it (RING_PK_CHAIN);
 *  - the buffer ID must be < size (RING_PK_ID_OOR) and not in flight
 *    already (RING_PK_ID_REUSED): the used descriptor we write names it,
 *    and a driver that reuses an ID would get two completions for it;
 *  - indirect tables: only if negotiated, one per chain (INDIRECT with NEXT
 *    or inside a chain is refused), a non-zero multiple of 16 bytes, no
 *    nesting; read in place or through the split ring's scratch copy;
 *  - addresses, segment bounds and directions as for the split ring.
 *
 * The device writes only the used descriptors (id, len, flags) at the
 * positions where it popped the chains, in pop order, and the device event
 * area. Positions are private (last_avail, pk_pos); nothing read back from
 * the ring decides where we write. With a dirty log both are marked
 * (through our mapping: vring_log_hva), the buffers by the RX paths as for
 * the split ring.
 */
#include <endian.h>
#include <errno.h>

#include "pvnet/virtio.h"
#include "virtio_internal.h"

static inline struct vring_packed_desc *pk_ring(const struct vring *vq)
{
	return (struct vring_packed_desc *)vq->desc;
}

static inline struct vring_packed_event *pk_driver(const struct vring *vq)
{
	return (struct vring_packed_event *)vq->avail;
}

static inline struct vring_packed_event *pk_device(const struct vring *vq)
{
	return (struct vring_packed_event *)vq->used;
}

/* §2.8.1: available when AVAIL matches our wrap counter and USED does not. */
static inline bool pk_is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VRING_PACKED_DESC_F_AVAIL) == wrap &&
	       !!(flags & VRING_PACKED_DESC_F_USED) != wrap;
}

/* The position after @pw (position | wrap << 15) in a ring of @size. */
static inline uint16_t pk_next(uint16_t pw, uint16_t size)
{
	uint16_t pos = (uint16_t)((pw & ~VRING_PACKED_WRAP) + 1);

	if (pos == size)
		return (uint16_t)((pw & VRING_PACKED_WRAP) ^ VRING_PACKED_WRAP);
	return (uint16_t)(pos | (pw & VRING_PACKED_WRAP));
}

void vring_pk_start(struct vring *vq, uint16_t base)
{
	vq->last_avail = base;
	vq->pk_used_pos = base;
	vq->pk_signalled_pos = base;
	vq->pk_popped = 0;
	vq->used_idx = 0;
	vq->used_flushed = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	memset(vq->pk_busy, 0, ((vq->size + 63) / 64) * sizeof(uint64_t));
	vq->broken_reason = PV_DROP_NONE;
	vq->state = VRING_RUNNING_PACKED;
	if ((base & ~VRING_PACKED_WRAP) >= vq->size)
		vring_fail(vq, PV_DROP_RING_PK_BASE);
}

/* One descriptor's direction, length and mapping (as map_chain's checks). */
static enum pv_drop pk_map_one(const struct vring *vq, struct vring_elem *elem,
			       unsigned *niov, unsigned *out_num,
			       uint64_t *out_len, uint64_t *in_len,
			       enum vring_dir dir, uint16_t flags, uint64_t gpa,
			       uint32_t len)
{
	enum pv_drop why;

	if (unlikely(len == 0))
		return PV_DROP_RING_DESC_ZERO_LEN;
	if (flags & VRING_DESC_F_WRITE) {
		if (unlikely(dir == VRING_DIR_OUT))
			return PV_DROP_RING_READ_WO;
		*in_len += len;
	} else {
		/* §2.8.6 as §2.7.4.2: writable after all readable ones */
		if (unlikely(*niov > *out_num))
			return PV_DROP_RING_ORDER;
		if (unlikely(dir == VRING_DIR_IN))
			return PV_DROP_RING_WRITE_RO;
		*out_len += len;
	}
	why = vring_map_desc(vq, elem, niov, gpa, len);
	if (unlikely(why != PV_DROP_NONE))
		return why;
	if (!(flags & VRING_DESC_F_WRITE))
		*out_num = *niov;
	return PV_DROP_NONE;
}

/* Walks an indirect table of packed descriptors (§2.8.19) into @elem. */
static enum pv_drop pk_map_indirect(struct vring *vq, struct vring_elem *elem,
				    enum vring_dir dir, uint64_t gpa,
				    uint32_t len, unsigned *niov,
				    unsigned *out_num, uint64_t *out_len,
				    uint64_t *in_len)
{
	const uint8_t *table;
	uint32_t n;

	if (unlikely(!vq->indirect))
		return PV_DROP_RING_INDIRECT_OFF;
	if (unlikely(len == 0 || len % sizeof(struct vring_packed_desc) ||
		     len / sizeof(struct vring_packed_desc) > VRING_MAX_SIZE))
		return PV_DROP_RING_INDIRECT_LEN;
	table = vring_indirect_table(vq, gpa, len);
	if (unlikely(!table))
		return PV_DROP_RING_ADDR;
	n = len / sizeof(struct vring_packed_desc);
	for (uint32_t i = 0; i < n; i++) {
		struct vring_packed_desc d;
		enum pv_drop why;
		uint16_t flags;

		memcpy(&d, table + (size_t)i * sizeof(d), sizeof(d));
		pv_compiler_barrier();
		flags = le16toh(d.flags);
		/* NEXT is ignored in a table: entries are sequential. */
		if (unlikely(flags & VRING_DESC_F_INDIRECT))
			return PV_DROP_RING_INDIRECT_NESTED;
		why = pk_map_one(vq, elem, niov, out_num, out_len, in_len, dir,
				 flags, le64toh(d.addr), le32toh(d.len));
		if (unlikely(why != PV_DROP_NONE))
			return why;
	}
	return PV_DROP_NONE;
}

/*
 * Cold path, only to name the reason right (as chain_loops() for split):
 * a chain that hit the segment bound is re-read to tell one whose NEXT
 * flags never end within the ring from one that is merely too long.
 */
static bool pk_chain_ends(const struct vring *vq, uint16_t pw)
{
	for (uint32_t i = 0; i < vq->size; i++) {
		uint16_t f = le16toh(READ_ONCE(pk_ring(vq)[pw & ~VRING_PACKED_WRAP].flags));

		if (!(f & VRING_DESC_F_NEXT))
			return true;
		pw = pk_next(pw, vq->size);
	}
	return false;
}

/*
 * Walks the chain at last_avail, whose first descriptor the caller saw
 * available. On success records the chain under sequence pk_popped and
 * sets *@end to the position after it.
 */
static enum pv_drop pk_map_chain(struct vring *vq, struct vring_elem *elem,
				 enum vring_dir dir, uint16_t *end)
{
	const struct vring_packed_desc *ring = pk_ring(vq);
	uint16_t pw = vq->last_avail, id = 0;
	uint64_t out_len = 0, in_len = 0;
	unsigned niov = 0, out_num = 0;
	uint32_t count = 0;

	elem->iov = elem->iov_inl;	/* vring_map_desc() may spill it */
	for (;;) {
		struct vring_packed_desc d;
		enum pv_drop why;
		uint16_t flags;

		/* §2.8.17: a chain is at most size descriptors long. */
		if (unlikely(++count > vq->size))
			return PV_DROP_RING_PK_CHAIN;
		memcpy(&d, &ring[pw & ~VRING_PACKED_WRAP], sizeof(d));
		pv_compiler_barrier();	/* the checks use the copy only */
		pw = pk_next(pw, vq->size);
		flags = le16toh(d.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			/* §2.8.19: not with NEXT; one table per chain */
			if (unlikely((flags & VRING_DESC_F_NEXT) || count > 1))
				return PV_DROP_RING_INDIRECT_NEXT;
			why = pk_map_indirect(vq, elem, dir, le64toh(d.addr),
					      le32toh(d.len), &niov, &out_num,
					      &out_len, &in_len);
			if (unlikely(why != PV_DROP_NONE))
				return why;
			id = le16toh(d.id);
			break;
		}
		why = pk_map_one(vq, elem, &niov, &out_num, &out_len, &in_len,
				 dir, flags, le64toh(d.addr), le32toh(d.len));
		if (unlikely(why != PV_DROP_NONE)) {
			if (why == PV_DROP_RING_TOO_MANY_SEGS &&
			    !pk_chain_ends(vq, vq->last_avail))
				return PV_DROP_RING_PK_CHAIN;
			return why;
		}
		if (!(flags & VRING_DESC_F_NEXT)) {
			/* §2.8.6: the buffer ID is in the last descriptor */
			id = le16toh(d.id);
			break;
		}
	}
	if (unlikely(out_len > UINT32_MAX || in_len > UINT32_MAX))
		return PV_DROP_RING_CHAIN_LEN;
	if (unlikely(id >= vq->size))
		return PV_DROP_RING_PK_ID_OOR;
	if (unlikely(vq->pk_busy[id / 64] & (1ULL << (id % 64))))
		return PV_DROP_RING_PK_ID_REUSED;
	elem->head = id;
	elem->out_num = (uint16_t)out_num;
	elem->in_num = (uint16_t)(niov - out_num);
	elem->out_len = (uint32_t)out_len;
	elem->in_len = (uint32_t)in_len;
	*end = pw;
	return PV_DROP_NONE;
}

/*
 * The common chain, one direct descriptor, from one copy of it: the checks
 * pk_map_chain() makes on such a chain, in the same order, without the
 * walk and its out-of-line calls (they cost the packed ring ~40 % more
 * instructions per packet than the split one). A descriptor whose copy
 * says NEXT or INDIRECT (the driver rewrote it since the flags were read)
 * takes the full walk.
 */
static inline __attribute__((always_inline)) enum pv_drop
pk_map_single(struct vring *vq, struct vring_elem *elem, enum vring_dir dir,
	      const struct vring_packed_desc *src, uint16_t *end)
{
	struct vring_packed_desc d;
	unsigned niov = 0;
	enum pv_drop why;
	uint16_t flags, id;
	uint32_t len;

	memcpy(&d, src, sizeof(d));
	pv_compiler_barrier();	/* the checks use the copy only */
	flags = le16toh(d.flags);
	if (unlikely(flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)))
		return pk_map_chain(vq, elem, dir, end);
	len = le32toh(d.len);
	if (unlikely(len == 0))
		return PV_DROP_RING_DESC_ZERO_LEN;
	if (flags & VRING_DESC_F_WRITE) {
		if (unlikely(dir == VRING_DIR_OUT))
			return PV_DROP_RING_READ_WO;
	} else if (unlikely(dir == VRING_DIR_IN)) {
		return PV_DROP_RING_WRITE_RO;
	}
	elem->iov = elem->iov_inl;
	why = vring_map_desc(vq, elem, &niov, le64toh(d.addr), len);
	if (unlikely(why != PV_DROP_NONE))
		return why;	/* one descriptor: its chain ends */
	id = le16toh(d.id);
	if (unlikely(id >= vq->size))
		return PV_DROP_RING_PK_ID_OOR;
	if (unlikely(vq->pk_busy[id / 64] & (1ULL << (id % 64))))
		return PV_DROP_RING_PK_ID_REUSED;
	elem->head = id;
	vring_elem_single(elem, flags, niov, len);
	*end = pk_next(vq->last_avail, vq->size);
	return PV_DROP_NONE;
}

/*
 * Inlined into each burst loop: as a call per chain it cost ~20
 * instructions of saves and restores (as pop_available() for split).
 */
static inline __attribute__((always_inline)) int
pk_pop(struct vring *vq, struct vring_elem *elem, enum vring_dir dir)
{
	struct vring_packed_desc *d;
	uint16_t flags, end = 0, s;
	enum pv_drop why;

	if (unlikely(!vring_ready(vq)))
		return -EIO;
	/* §2.7.21 for packed: a full ring of chains is the most in flight. */
	if ((uint16_t)(vq->pk_popped - vq->used_flushed) >= vq->size)
		return 0;
	d = &pk_ring(vq)[vq->last_avail & ~VRING_PACKED_WRAP];
	/* Acquire: the descriptor (and the rest of the chain) was written
	 * before the driver's release store of the first one's flags. */
	flags = le16toh(pv_load_acquire(&d->flags));
	if (!pk_is_avail(flags, vq->last_avail & VRING_PACKED_WRAP))
		return 0;
	if (likely(!(flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT))))
		why = pk_map_single(vq, elem, dir, d, &end);
	else
		why = pk_map_chain(vq, elem, dir, &end);
	if (unlikely(why != PV_DROP_NONE)) {
		vring_fail(vq, why);
		return -EIO;
	}
	s = vq->pk_popped & vq->mask;
	vq->pk_pos[s] = vq->last_avail;
	vq->pk_end[s] = end;
	vq->pk_id[s] = elem->head;
	vq->pk_len[s] = 0;
	vq->pk_busy[elem->head / 64] |= 1ULL << (elem->head % 64);
	vq->pk_popped++;
	vq->last_avail = end;
	return 1;
}

int vring_pk_pop(struct vring *vq, struct vring_elem *elem, enum vring_dir dir)
{
	return pk_pop(vq, elem, dir);
}

unsigned vring_pk_pop_burst(struct vring *vq, struct vring_elem *elems,
			    unsigned n, enum vring_dir dir)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (pk_pop(vq, &elems[i], dir) <= 0)
			break;
		/* read after the whole burst (chain_to_pkt): ask for it now */
		if (likely(elems[i].out_num))
			vring_prefetch_buf(&elems[i], elems[i].out_len, 0);
		vq->st.pkts++;
		vq->st.bytes += elems[i].out_len;
	}
	return i;
}

unsigned vring_pk_rx_reserve_burst(struct vring *vq, const uint32_t *totals,
				   unsigned n, struct vring_elem *elems)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (pk_pop(vq, &elems[i], VRING_DIR_IN) <= 0)
			break;
		if (elems[i].in_len < totals[i]) {
			vring_pk_unpop(vq, 1);	/* not this one: given back */
			break;
		}
		/* the copy writes header and frame after the whole lease */
		vring_prefetch_rxbuf(&elems[i], totals[i]);
		vq->st.pkts++;
		vq->st.bytes += totals[i];
	}
	return i;
}

uint16_t vring_pk_avail_count(struct vring *vq)
{
	const struct vring_packed_desc *d;

	if (!vring_ready(vq))
		return 0;
	d = &pk_ring(vq)[vq->last_avail & ~VRING_PACKED_WRAP];
	return pk_is_avail(le16toh(pv_load_acquire(&d->flags)),
			   vq->last_avail & VRING_PACKED_WRAP) ? 1 : 0;
}

void vring_pk_unpop(struct vring *vq, unsigned n)
{
	uint16_t s;

	/* published chains are the driver's again: never rewound */
	if (n > (uint16_t)(vq->pk_popped - vq->used_flushed))
		n = (uint16_t)(vq->pk_popped - vq->used_flushed);
	while (n--) {
		vq->pk_popped--;
		s = vq->pk_popped & vq->mask;
		vq->pk_busy[vq->pk_id[s] / 64] &= ~(1ULL << (vq->pk_id[s] % 64));
		vq->last_avail = vq->pk_pos[s];
	}
}

/*
 * Dirty log (live migration): the used descriptors of sequences [from,
 * upto) lie in the run of positions from the first one's to the end of
 * the last chain (each chain starts where the one before it ended); that
 * run of the descriptor ring is marked (one or two ranges, pages not
 * bytes, so marking the whole run costs no more). The run's length is
 * the chains' lengths added up, not its ends' distance modulo the ring: a
 * driver may make positions available again while the chains there are
 * in flight (the device has no way to tell), and then the run laps the
 * ring and the ends' distance would mark only part of it. Out of line:
 * inlined, its loop cost every publish register saves, logging or not.
 */
static __attribute__((noinline, cold)) void
pk_log_used(const struct vring *vq, uint16_t from, uint16_t upto)
{
	const struct vring_packed_desc *ring = pk_ring(vq);
	uint16_t first = vq->pk_pos[from & vq->mask] & ~VRING_PACKED_WRAP;
	uint16_t end = vq->pk_end[(uint16_t)(upto - 1) & vq->mask] &
		       ~VRING_PACKED_WRAP;
	uint32_t run = 0;

	for (uint16_t q = from; q != upto && run < vq->size; q++) {
		uint16_t s = q & vq->mask;
		uint16_t p = vq->pk_pos[s] & ~VRING_PACKED_WRAP;
		uint16_t e = vq->pk_end[s] & ~VRING_PACKED_WRAP;

		/* 1..size descriptors: a chain of size ends where it began */
		run += e > p ? (uint32_t)(e - p) : (uint32_t)(e + vq->size - p);
	}
	if (run >= vq->size) {
		vring_log_hva(vq, ring, (uint64_t)vq->size * sizeof(*ring));
	} else if (end > first) {
		vring_log_hva(vq, &ring[first], (uint64_t)(end - first) * sizeof(*ring));
	} else {
		/* wrapped: the tail, then the head */
		vring_log_hva(vq, &ring[first],
			      (uint64_t)(vq->size - first) * sizeof(*ring));
		vring_log_hva(vq, ring, (uint64_t)end * sizeof(*ring));
	}
}

void vring_pk_publish(struct vring *vq, uint16_t upto)
{
	struct vring_packed_desc *ring = pk_ring(vq);
	uint16_t from = vq->used_flushed, q;

	if (unlikely(!vring_ready(vq)) || upto == from)
		return;
	/* Only popped chains can be used: the slots are private. */
	if ((uint16_t)(upto - from) > (uint16_t)(vq->pk_popped - from))
		upto = vq->pk_popped;
	for (q = from; q != upto; q++) {
		uint16_t s = q & vq->mask, id = vq->pk_id[s];
		struct vring_packed_desc *d = &ring[vq->pk_pos[s] & ~VRING_PACKED_WRAP];

		WRITE_ONCE(d->id, htole16(id));
		WRITE_ONCE(d->len, htole32(vq->pk_len[s]));
		vq->pk_busy[id / 64] &= ~(1ULL << (id % 64));
	}
	/* Release: id, len and the buffers' bytes before any used flag
	 * (§2.8.21.2); the driver reads flags in ring order, so each
	 * chain's flag store makes it, and only it, visible. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (q = from; q != upto; q++) {
		uint16_t pw = vq->pk_pos[q & vq->mask];
		uint16_t f = (pw & VRING_PACKED_WRAP) ?
			     (uint16_t)(VRING_PACKED_DESC_F_AVAIL |
					VRING_PACKED_DESC_F_USED) : 0;

		WRITE_ONCE(ring[pw & ~VRING_PACKED_WRAP].flags, htole16(f));
	}
	/* any order: QEMU's last harvest of the log follows the ring's stop */
	if (unlikely(vq->log))
		pk_log_used(vq, from, upto);
	vq->pk_used_pos = vq->pk_end[(uint16_t)(upto - 1) & vq->mask];
	vq->used_flushed = upto;
}

void vring_pk_stage(struct vring *vq, uint16_t slot, uint32_t len)
{
	vq->pk_len[slot & vq->mask] = len;
}

bool vring_pk_need_call(struct vring *vq)
{
	uint16_t old = vq->pk_signalled_pos, new = vq->pk_used_pos;
	bool valid = vq->signalled_used_valid, need;
	uint16_t flags, off_wrap;

	if (unlikely(!vring_ready(vq)))
		return false;
	if (valid && vq->signalled_used == vq->used_flushed)
		return false;	/* nothing published since the last decision */
	/* Full barrier: the used flags before the driver's event area (pairs
	 * with the driver's barrier after it writes it). */
	pv_smp_mb();
	vq->signalled_used = vq->used_flushed;
	vq->pk_signalled_pos = new;
	vq->signalled_used_valid = true;
	flags = le16toh(READ_ONCE(pk_driver(vq)->flags));
	if (flags == VRING_PACKED_EVENT_F_DESC && vq->event_idx && valid) {
		uint16_t n = new & ~VRING_PACKED_WRAP, o = old & ~VRING_PACKED_WRAP;
		uint16_t off;

		/* off_wrap as new as the flags that said to read it (as
		 * DPDK's vhost_vring_call_packed; a no-op on x86) */
		pv_smp_rmb();
		off_wrap = le16toh(READ_ONCE(pk_driver(vq)->off_wrap));
		off = off_wrap & ~VRING_PACKED_WRAP;
		/*
		 * §2.8.10 (DPDK's vhost_vring_call_packed): positions are
		 * made one sequence modulo 2^16 by taking a ring off what lies
		 * in the previous lap.
		 */
		if (n <= o)
			o = (uint16_t)(o - vq->size);
		if ((new & VRING_PACKED_WRAP) != (off_wrap & VRING_PACKED_WRAP))
			off = (uint16_t)(off - vq->size);
		need = vring_need_event(off, n, o);
	} else {
		need = flags != VRING_PACKED_EVENT_F_DISABLE;
	}
	if (need)
		vq->st.calls++;
	else
		vq->st.calls_suppressed++;
	return need;
}

void vring_pk_set_kick(struct vring *vq, bool enable)
{
	if (unlikely(!vring_ready(vq)))
		return;
	/* ENABLE/DISABLE only: the driver kicks at most once more after a
	 * disable, and DESC would save nothing for a polling device. */
	WRITE_ONCE(pk_device(vq)->flags,
		   htole16(enable ? VRING_PACKED_EVENT_F_ENABLE :
			   VRING_PACKED_EVENT_F_DISABLE));
	if (unlikely(vq->log))
		vring_log_hva(vq, pk_device(vq), sizeof(struct vring_packed_event));
	/* Full barrier before the caller's re-check (as vring_set_kick). */
	pv_smp_mb();
}
