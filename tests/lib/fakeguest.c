// SPDX-License-Identifier: MIT
/* fakeguest.c - memfd guest RAM with gapped regions and a ring builder for tests */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fakeguest.h"

int fg_create(struct fakeguest *fg, uint64_t region_size)
{
	static const uint64_t gpa_mul[FG_NREGIONS] = { 1, 2, 4 };
	static const uint64_t off_mul[FG_NREGIONS] = { 0, 2, 1 };
	int ret;

	memset(fg, 0, sizeof(*fg));
	fg->fd = -1;
	if (region_size == 0 || region_size % 4096)
		return -EINVAL;
	fg->region_size = region_size;
	fg->file_size = (size_t)(FG_NREGIONS * region_size);
	fg->fd = memfd_create("pvnet-fakeguest", MFD_CLOEXEC);
	if (fg->fd < 0)
		return -errno;
	if (ftruncate(fg->fd, (off_t)fg->file_size) < 0) {
		ret = -errno;
		goto err;
	}
	fg->base = mmap(NULL, fg->file_size, PROT_READ | PROT_WRITE,
			MAP_SHARED, fg->fd, 0);
	if (fg->base == MAP_FAILED) {
		fg->base = NULL;
		ret = -errno;
		goto err;
	}
	gmem_init(&fg->gm);
	for (unsigned i = 0; i < FG_NREGIONS; i++) {
		struct fg_region *r = &fg->reg[i];

		r->gpa = gpa_mul[i] * region_size;
		r->size = region_size;
		r->file_off = off_mul[i] * region_size;
		r->next_free = r->gpa;
		if (i == 1)
			r->next_free += fg_straddle_reserve(fg);
		ret = gmem_add_region(&fg->gm, r->gpa, r->size,
				      FG_UVA_BASE + r->gpa, r->file_off, fg->fd);
		if (ret)
			goto err;
	}
	return 0;
err:
	fg_destroy(fg);
	return ret;
}

void fg_destroy(struct fakeguest *fg)
{
	gmem_clear(&fg->gm);
	if (fg->base)
		munmap(fg->base, fg->file_size);
	if (fg->fd >= 0)
		close(fg->fd);
	fg->base = NULL;
	fg->fd = -1;
}

void fg_reset(struct fakeguest *fg)
{
	memset(fg->base, 0, fg->file_size);
	for (unsigned i = 0; i < FG_NREGIONS; i++)
		fg->reg[i].next_free = fg->reg[i].gpa;
	fg->reg[1].next_free += fg_straddle_reserve(fg);
}

uint64_t fg_straddle_reserve(const struct fakeguest *fg)
{
	return fg->region_size / 4;
}

uint64_t fg_gap_gpa(const struct fakeguest *fg, unsigned which)
{
	switch (which) {
	case 0:
		return fg->region_size / 2;
	case 1:
		return 3 * fg->region_size + 64;
	default:
		return 5 * fg->region_size + 64;
	}
}

uint64_t fg_alloc(struct fakeguest *fg, unsigned r, uint64_t len,
		  uint64_t align)
{
	struct fg_region *reg;
	uint64_t gpa;

	if (r >= FG_NREGIONS || !align)
		return 0;
	reg = &fg->reg[r];
	gpa = (reg->next_free + align - 1) / align * align;
	if (gpa - reg->gpa > reg->size || reg->size - (gpa - reg->gpa) < len)
		return 0;
	reg->next_free = gpa + len;
	return gpa;
}

uint64_t fg_alloc_straddle(struct fakeguest *fg, uint64_t before,
			   uint64_t len)
{
	/* Region 0's tail (its allocator must not have reached it) and the
	 * head of region 1, which fg_alloc() leaves free for this. */
	uint64_t gpa = fg->reg[0].gpa + fg->reg[0].size - before;

	if (before == 0 || before >= len || before > fg->reg[0].size ||
	    fg->reg[0].next_free > gpa || len - before > fg_straddle_reserve(fg))
		return 0;
	return gpa;
}

/* Finds the region of @gpa and the bytes left in it. */
static const struct fg_region *find(const struct fakeguest *fg, uint64_t gpa,
				    uint64_t *off)
{
	for (unsigned i = 0; i < FG_NREGIONS; i++) {
		uint64_t o = gpa - fg->reg[i].gpa;

		if (o < fg->reg[i].size) {
			*off = o;
			return &fg->reg[i];
		}
	}
	return NULL;
}

void *fg_ptr(const struct fakeguest *fg, uint64_t gpa)
{
	uint64_t off;
	const struct fg_region *r = find(fg, gpa, &off);

	return r ? fg->base + r->file_off + off : NULL;
}

static bool fg_copy(const struct fakeguest *fg, uint64_t gpa, void *buf,
		    size_t len, bool to_guest)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t off;
		const struct fg_region *r = find(fg, gpa, &off);
		size_t k;

		if (!r)
			return false;
		k = (size_t)PV_MIN((uint64_t)len, r->size - off);
		if (to_guest)
			memcpy(fg->base + r->file_off + off, p, k);
		else
			memcpy(p, fg->base + r->file_off + off, k);
		p += k;
		gpa += k;
		len -= k;
	}
	return true;
}

bool fg_write(struct fakeguest *fg, uint64_t gpa, const void *buf, size_t len)
{
	return fg_copy(fg, gpa, (void *)buf, len, true);
}

bool fg_read(const struct fakeguest *fg, uint64_t gpa, void *buf, size_t len)
{
	return fg_copy(fg, gpa, buf, len, false);
}

bool fg_dev_range_ok(const struct fakeguest *fg, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (unsigned i = 0; i < fg->gm.n; i++) {
		uintptr_t s = (uintptr_t)fg->gm.r[i].hva;
		uint64_t sz = fg->gm.r[i].size;

		if (a - s < sz && len <= sz - (a - s))
			return true;
	}
	return false;
}

int fg_ring_create(struct fakeguest *fg, struct fg_ring *ring, unsigned r,
		   uint16_t size, uint64_t features, uint16_t start_idx)
{
	void *ddesc, *davail, *dused;
	int ret;

	memset(ring, 0, sizeof(*ring));
	ring->size = size;
	ring->features = features;
	ring->desc_gpa = fg_alloc(fg, r, vring_desc_bytes(size), 16);
	ring->avail_gpa = fg_alloc(fg, r, vring_avail_bytes(size), 2);
	ring->used_gpa = fg_alloc(fg, r, vring_used_bytes(size), 4);
	if (!ring->desc_gpa || !ring->avail_gpa || !ring->used_gpa)
		return -ENOSPC;
	ret = vring_setup(&ring->drv, size, fg_ptr(fg, ring->desc_gpa),
			  fg_ptr(fg, ring->avail_gpa),
			  fg_ptr(fg, ring->used_gpa), features, NULL);
	if (ret)
		return ret;
	ddesc = gmem_translate_contig(&fg->gm, ring->desc_gpa,
				      vring_desc_bytes(size));
	davail = gmem_translate_contig(&fg->gm, ring->avail_gpa,
				       vring_avail_bytes(size));
	dused = gmem_translate_contig(&fg->gm, ring->used_gpa,
				      vring_used_bytes(size));
	ret = vring_setup(&ring->dev, size, ddesc, davail, dused, features,
			  &fg->gm);
	if (ret) {
		vring_teardown(&ring->drv);
		return ret;
	}
	ring->drv.name = "fg-drv";
	ring->dev.name = "fg-dev";
	vring_drv_init_at(&ring->drv, start_idx);
	vring_start(&ring->dev, start_idx);
	return 0;
}

void fg_ring_destroy(struct fg_ring *ring)
{
	vring_teardown(&ring->drv);
	vring_teardown(&ring->dev);
}

bool fg_desc_write(struct fakeguest *fg, uint64_t table_gpa, uint32_t i,
		   uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = htole64(addr), .len = htole32(len),
		.flags = htole16(flags), .next = htole16(next),
	};

	return fg_write(fg, table_gpa + (uint64_t)i * sizeof(d), &d,
			sizeof(d));
}

void fg_ring_desc(struct fakeguest *fg, struct fg_ring *ring, uint16_t i,
		  uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	fg_desc_write(fg, ring->desc_gpa, i % ring->size, addr, len, flags,
		      next);
}

void fg_ring_avail_push(struct fg_ring *ring, uint16_t head)
{
	struct vring_avail *a = ring->drv.avail;
	uint16_t idx = le16toh(a->idx);

	a->ring[idx & (ring->size - 1)] = htole16(head);
	pv_store_release(&a->idx, htole16((uint16_t)(idx + 1)));
}

void fg_ring_set_avail_idx(struct fg_ring *ring, uint16_t idx)
{
	pv_store_release(&ring->drv.avail->idx, htole16(idx));
}

uint16_t fg_ring_avail_idx(const struct fg_ring *ring)
{
	return le16toh(pv_load_acquire(&ring->drv.avail->idx));
}

uint16_t fg_ring_used_idx(const struct fg_ring *ring)
{
	return le16toh(pv_load_acquire(&ring->drv.used->idx));
}

void fg_ring_used_write(struct fg_ring *ring, uint16_t slot, uint32_t id,
			uint32_t len)
{
	struct vring_used_elem *e = &ring->drv.used->ring[slot &
							  (ring->size - 1)];

	e->id = htole32(id);
	e->len = htole32(len);
}

void fg_ring_set_used_idx(struct fg_ring *ring, uint16_t idx)
{
	pv_store_release(&ring->drv.used->idx, htole16(idx));
}

bool fg_ring_roundtrip(struct fakeguest *fg, struct fg_ring *ring,
		       unsigned r, uint32_t len)
{
	struct vring_elem *elem;
	struct vring_buf b;
	uint8_t *pat = NULL, *got = NULL;
	void *cookie = NULL;
	uint32_t ulen = 0;
	bool ok = false;

	/* the element, then its overflow area for a chain of many pieces */
	elem = calloc(1, sizeof(*elem) + VRING_ELEM_MAX_IOV * sizeof(struct iovec));
	if (elem)
		vring_elems_init(elem, 1, (struct iovec *)(elem + 1));
	pat = malloc(len);
	got = malloc(len);
	if (!elem || !pat || !got || !len)
		goto out;
	b.addr = fg_alloc(fg, r, len, 64);
	b.len = len;
	if (!b.addr)
		goto out;
	for (uint32_t i = 0; i < len; i++)
		pat[i] = (uint8_t)(i * 7 + len);
	if (!fg_write(fg, b.addr, pat, len))
		goto out;
	if (vring_drv_add(&ring->drv, &b, 1, 0, pat))
		goto out;
	vring_drv_publish(&ring->drv);
	if (vring_pop_burst(&ring->dev, elem, 1, VRING_DIR_OUT) != 1)
		goto out;
	if (elem->out_len != len || elem->in_num != 0 ||
	    pv_iov_to_buf(elem->iov, elem->out_num, 0, got, len) != len ||
	    memcmp(got, pat, len))
		goto out;
	vring_push(&ring->dev, elem->head, 0);
	vring_flush(&ring->dev);
	if (vring_drv_get_used(&ring->drv, &cookie, &ulen, 1) != 1)
		goto out;
	ok = cookie == pat && ulen == 0 && vring_ready(&ring->dev) &&
	     vring_ready(&ring->drv);
out:
	free(elem);
	free(pat);
	free(got);
	return ok;
}
