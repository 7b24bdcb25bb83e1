/* SPDX-License-Identifier: MIT */
/*
 * pk_fixture.h - a minimal packed-ring driver (virtio 1.2 §2.8) for the
 * device-side tests: it writes descriptors and reads used ones through the
 * driver view of an fg_ring created with VIRTIO_F_RING_PACKED. Raw on
 * purpose: a test can make any flag pattern, ID or chain available.
 * Header-only; include after fg_fixture.h.
 */
#ifndef TEST_PK_FIXTURE_H
#define TEST_PK_FIXTURE_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pvnet/virtio.h"

/* The packed ring starts at position 0 with both wrap counters set. */
#define PK_START	VRING_PACKED_WRAP

struct pk_drv {
	struct vring_packed_desc *ring;
	struct vring_packed_event *drv_ev;	/* written by the driver */
	struct vring_packed_event *dev_ev;	/* written by the device */
	uint16_t size;
	uint16_t pos;		/* next position to make available */
	bool wrap;
	uint16_t used_pos;	/* next position to read a used one at */
	bool used_wrap;
};

/* Lays the driver over @r's driver view, every descriptor unavailable. */
static inline void pk_drv_init(struct pk_drv *d, struct fg_ring *r)
{
	d->ring = (struct vring_packed_desc *)r->drv.desc;
	d->drv_ev = (struct vring_packed_event *)r->drv.avail;
	d->dev_ev = (struct vring_packed_event *)r->drv.used;
	d->size = r->size;
	d->pos = d->used_pos = 0;
	d->wrap = d->used_wrap = true;
	memset(d->ring, 0, sizeof(*d->ring) * r->size);
	d->drv_ev->flags = htole16(VRING_PACKED_EVENT_F_ENABLE);
	d->drv_ev->off_wrap = 0;
	d->dev_ev->flags = 0;
}

/* The avail/used bits that make a descriptor available in lap @wrap. */
static inline uint16_t pk_avail_bits(bool wrap)
{
	return wrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}

/*
 * Makes a chain of @n descriptors available (flags[i] adds NEXT, WRITE or
 * INDIRECT), with ID @id in each; the first one's flags are stored last,
 * with release. Returns the first position.
 */
static inline uint16_t pk_drv_add(struct pk_drv *d, const uint64_t *addr,
				  const uint32_t *len, const uint16_t *flags,
				  unsigned n, uint16_t id)
{
	uint16_t first = d->pos, first_flags = 0;

	for (unsigned i = 0; i < n; i++) {
		struct vring_packed_desc *x = &d->ring[d->pos];
		uint16_t f = (uint16_t)(flags[i] | pk_avail_bits(d->wrap));

		x->addr = htole64(addr[i]);
		x->len = htole32(len[i]);
		x->id = htole16(id);
		if (i == 0)
			first_flags = f;
		else
			x->flags = htole16(f);
		if (++d->pos == d->size) {
			d->pos = 0;
			d->wrap = !d->wrap;
		}
	}
	__atomic_store_n(&d->ring[first].flags, htole16(first_flags),
			 __ATOMIC_RELEASE);
	return first;
}

/* One single-descriptor chain; returns its position. */
static inline uint16_t pk_drv_add1(struct pk_drv *d, uint64_t addr,
				   uint32_t len, uint16_t flags, uint16_t id)
{
	return pk_drv_add(d, &addr, &len, &flags, 1, id);
}

/*
 * Reads the used descriptor at the next used position, if the device wrote
 * it, and moves past the @ndesc descriptors its chain had. True if used.
 */
static inline bool pk_drv_used(struct pk_drv *d, unsigned ndesc, uint16_t *id,
			       uint32_t *len)
{
	struct vring_packed_desc *x = &d->ring[d->used_pos];
	uint16_t f = le16toh(__atomic_load_n(&x->flags, __ATOMIC_ACQUIRE));
	bool a = f & VRING_PACKED_DESC_F_AVAIL, u = f & VRING_PACKED_DESC_F_USED;

	if (a != d->used_wrap || u != d->used_wrap)
		return false;
	*id = le16toh(x->id);
	*len = le32toh(x->len);
	for (unsigned i = 0; i < ndesc; i++)
		if (++d->used_pos == d->size) {
			d->used_pos = 0;
			d->used_wrap = !d->used_wrap;
		}
	return true;
}

#endif /* TEST_PK_FIXTURE_H */
