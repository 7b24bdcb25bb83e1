/* SPDX-License-Identifier: MIT */
/* virtio_internal.h - helpers shared by vring.c and net_hdr.c, not exported */
#ifndef PVNET_VIRTIO_INTERNAL_H
#define PVNET_VIRTIO_INTERNAL_H

#include <string.h>

#include "pvnet/virtio.h"

/*
 * Pops one chain without touching the packet counters. Returns 1 (popped),
 * 0 (nothing available) or -EIO (the ring is, or just became, broken).
 */
int vring_pop_one(struct vring *vq, struct vring_elem *elem,
		  enum vring_dir dir);
/* Stages a used entry without touching the packet counters. */
void vring_stage_used(struct vring *vq, uint16_t head, uint32_t len);

/*
 * The indirect table at [gpa, gpa+len): in place if contiguous in our
 * mapping, else copied into vq->ind_scratch; NULL if outside guest memory.
 */
const uint8_t *vring_indirect_table(struct vring *vq, uint64_t gpa,
				    uint32_t len);

/* ---- packed ring, device side (vring_packed.c); vring.c dispatches ---- */

/* Starts at @base (position | wrap << 15); nothing in flight. */
void vring_pk_start(struct vring *vq, uint16_t base);
/* Pops one chain: 1, 0 (none available or the ring is full) or -EIO. */
int vring_pk_pop(struct vring *vq, struct vring_elem *elem, enum vring_dir dir);
/* Pops up to @n chains, counting them; returns the number. */
unsigned vring_pk_pop_burst(struct vring *vq, struct vring_elem *elems,
			    unsigned n, enum vring_dir dir);
/* vring_rx_reserve_burst() for the packed ring. */
unsigned vring_pk_rx_reserve_burst(struct vring *vq, const uint32_t *totals,
				   unsigned n, struct vring_elem *elems);
/* 1 if the next descriptor is available, else 0. */
uint16_t vring_pk_avail_count(struct vring *vq);
/* Gives back the last @n popped, unpublished chains. */
void vring_pk_unpop(struct vring *vq, unsigned n);
/* Records @len bytes written for the chain of sequence @slot. */
void vring_pk_stage(struct vring *vq, uint16_t slot, uint32_t len);
/* Writes the used descriptors of sequences [used_flushed, @upto). */
void vring_pk_publish(struct vring *vq, uint16_t upto);
/* vring_need_call() for the packed ring (driver event area). */
bool vring_pk_need_call(struct vring *vq);
/* vring_set_kick() for the packed ring (device event area). */
void vring_pk_set_kick(struct vring *vq, bool enable);

/* ---- packed ring, driver side (vring_packed_drv.c); vring.c dispatches ---- */

/* vring_drv_init_at() for the packed ring (@pw: position | wrap << 15). */
void vring_pk_drv_init(struct vring *vq, uint16_t pw);
/* vring_drv_add() for the packed ring. */
int vring_pk_drv_add(struct vring *vq, const struct vring_buf *bufs,
		     unsigned out_n, unsigned in_n, void *cookie);
/* vring_drv_publish() for the packed ring. */
void vring_pk_drv_publish(struct vring *vq);
/* vring_drv_need_kick() for the packed ring (device event area). */
bool vring_pk_drv_need_kick(struct vring *vq);
/* vring_drv_has_used() for the packed ring. */
bool vring_pk_drv_has_used(struct vring *vq);
/* vring_drv_get_used() for the packed ring. */
unsigned vring_pk_drv_get_used(struct vring *vq, void **cookies,
			       uint32_t *lens, unsigned n);
/* vring_drv_set_call() for the packed ring (driver event area). */
void vring_pk_drv_set_call(struct vring *vq, bool enable);

/* ---- split ring, driver side in order (vring_split_drv.c) ---- */

/* vring_drv_init_at()'s in-order part (@idx: the first avail position). */
void vring_sp_drv_io_init(struct vring *vq, uint16_t idx);
/* vring_drv_add() in order: descriptors in table order. */
int vring_sp_drv_io_add(struct vring *vq, const struct vring_buf *bufs,
			unsigned out_n, unsigned in_n, void *cookie);
/* vring_drv_get_used() in order (batches, or used->idx alone). */
unsigned vring_sp_drv_io_get_used(struct vring *vq, void **cookies,
				  uint32_t *lens, unsigned n);

/*
 * Registers our mapping [base, base+len) of guest memory with the SIGBUS
 * guard; a fault in it bumps *cnt (may be NULL). Returns the slot or -ENOSPC.
 */
int gmem_guard_add(void *base, size_t len, uint32_t *cnt);
/* Unregisters @slot (before the munmap); -1 is ignored. */
void gmem_guard_del(int slot);

/*
 * gmem_translate(), inlined for the ring walk: the first region whose
 * [gpa, gpa + size) holds @gpa, the length clamped to it; NULL if none.
 */
static inline void *gmem_lookup(const struct gmem *gm, uint64_t gpa,
				uint64_t len, uint64_t *out_len)
{
	if (unlikely(len == 0))
		return NULL;
	/* At most 32 regions: a linear scan beats a search at this size. */
	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_region *r = &gm->r[i];
		uint64_t off = gpa - r->gpa;	/* wraps huge if gpa < start */

		if (off < r->size) {
			uint64_t avail = r->size - off;

			*out_len = len < avail ? len : avail;
			return r->hva + off;
		}
	}
	return NULL;
}

/*
 * A chain past the inline segments: moves them to the owner's overflow
 * area, or refuses the chain if the element has none. Cold.
 */
static __attribute__((noinline, cold, unused)) enum pv_drop
vring_elem_spill(struct vring_elem *elem)
{
	if (!elem->ovf)
		return PV_DROP_RING_TOO_MANY_SEGS;
	memcpy(elem->ovf, elem->iov_inl, sizeof(elem->iov_inl));
	elem->iov = elem->ovf;
	return PV_DROP_NONE;
}

/* Appends [gpa, gpa+len) to the element, one iovec per region piece. */
static inline __attribute__((always_inline)) enum pv_drop
vring_map_desc(const struct vring *vq, struct vring_elem *elem, unsigned *niov,
	 uint64_t gpa, uint32_t len)
{
	uint64_t left = len;

	while (left) {
		uint64_t got;
		void *hva;

		/* §6.6: the bound is checked on every split. */
		if (unlikely(*niov >= VRING_ELEM_INLINE_IOV)) {
			if (*niov >= VRING_ELEM_MAX_IOV)
				return PV_DROP_RING_TOO_MANY_SEGS;
			if (elem->iov == elem->iov_inl &&
			    vring_elem_spill(elem) != PV_DROP_NONE)
				return PV_DROP_RING_TOO_MANY_SEGS;
		}
		hva = gmem_lookup(vq->gm, gpa, left, &got);
		if (unlikely(!hva))
			return PV_DROP_RING_ADDR;
		elem->iov[*niov].iov_base = hva;
		elem->iov[*niov].iov_len = (size_t)got;
		(*niov)++;
		gpa += got;
		left -= got;
	}
	return PV_DROP_NONE;
}

/* A chain of one descriptor, mapped into @niov iovecs: its lengths. */
static inline __attribute__((always_inline)) void
vring_elem_single(struct vring_elem *elem, uint16_t flags, unsigned niov,
		  uint32_t len)
{
	bool wr = flags & VRING_DESC_F_WRITE;

	elem->out_num = wr ? 0 : (uint16_t)niov;
	elem->in_num = wr ? (uint16_t)niov : 0;
	elem->out_len = wr ? 0 : len;
	elem->in_len = wr ? len : 0;
}

/*
 * Prefetches the first bytes of a popped chain's first buffer (@rw 1: for
 * writing): the virtio-net header and the Ethernet header, up to two
 * lines, which the burst reads (or writes) only after every pop.
 */
static inline __attribute__((always_inline)) void
vring_prefetch_buf(const struct vring_elem *e, uint32_t len, int rw)
{
	const uint8_t *b = e->iov[0].iov_base;
	size_t l = e->iov[0].iov_len;

	if (l > len)
		l = len;
	if (l > 128)
		l = 128;
	if (rw) {
		pv_prefetch_w(b);
		pv_prefetch_w(b + l - 1);
	} else {
		__builtin_prefetch(b, 0, 3);
		__builtin_prefetch(b + l - 1, 0, 3);
	}
}

/*
 * Prefetches the first lines of the receive buffer @e that a frame of @len
 * bytes (header included) will fill: the header's line for read, because
 * vring_rx_fill() leaves a header that already holds the same bytes
 * unwritten (a recycled buffer usually does), so that line can stay shared
 * with the driver's core; the frame's lines for write.
 */
static inline void vring_prefetch_rxbuf(const struct vring_elem *e, uint32_t len)
{
	const uint8_t *b = e->iov[0].iov_base;
	size_t l = e->iov[0].iov_len;

	if (l > len)
		l = len;
	if (l > 128)
		l = 128;
	__builtin_prefetch(b, 0, 3);
	if (l > sizeof(struct virtio_net_hdr))
		pv_prefetch_w(b + sizeof(struct virtio_net_hdr));
	pv_prefetch_w(b + l - 1);
}

/*
 * The driver's publish count (split by id and packed): a head / buffer ID
 * added since the last publish carries the current count, so a used entry
 * naming it names a chain the device cannot have seen. Arguments, not the
 * ring, so a loop on locals keeps them in registers.
 */
static inline bool drv_unpublished(const uint64_t *epoch, uint64_t epochs,
				   uint32_t id)
{
	return epoch[id] == epochs;
}

#endif /* PVNET_VIRTIO_INTERNAL_H */
