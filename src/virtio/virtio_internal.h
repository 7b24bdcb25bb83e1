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

#endif /* PVNET_VIRTIO_INTERNAL_H */
