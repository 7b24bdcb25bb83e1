/* SPDX-License-Identifier: MIT */
/* virtio_internal.h - helpers shared by vring.c and net_hdr.c, not exported */
#ifndef PVNET_VIRTIO_INTERNAL_H
#define PVNET_VIRTIO_INTERNAL_H

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

#endif /* PVNET_VIRTIO_INTERNAL_H */
