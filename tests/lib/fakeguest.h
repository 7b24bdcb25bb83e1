/* SPDX-License-Identifier: MIT */
/*
 * fakeguest.h - a fake guest for tests and fuzzers: memfd "RAM" split into
 * three regions with gaps, seen by the device through a struct gmem (its own
 * mappings, as a vhost backend would) and by the driver through one mapping
 * of the whole file. A driver-style ring builder on top, plus raw writers
 * for hostile descriptors and indexes.
 *
 * Guest physical layout for a region size S (a multiple of the page size):
 *
 *   [0, S)       gap
 *   [S, 2S)      region 0   file offset 0
 *   [2S, 3S)     region 1   file offset 2S  (gpa-adjacent to region 0, not
 *                                            file-adjacent: separate maps)
 *   [3S, 4S)     gap
 *   [4S, 5S)     region 2   file offset S
 *
 * The frontend uva of each region is FG_UVA_BASE + gpa.
 *
 * Not thread-safe; one owner. No cmocka dependency: fuzzers link it too.
 */
#ifndef PVNET_TESTS_FAKEGUEST_H
#define PVNET_TESTS_FAKEGUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvnet/virtio.h"

#define FG_NREGIONS	3
#define FG_UVA_BASE	0x7e0000000000ULL

struct fg_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t file_off;
	uint64_t next_free;	/* bump allocator, gpa */
};

struct fakeguest {
	int fd;
	uint8_t *base;		/* driver view: the whole memfd */
	size_t file_size;
	uint64_t region_size;
	struct fg_region reg[FG_NREGIONS];
	struct gmem gm;		/* device view: gmem_add_region() mappings */
};

/* A ring pair over fake guest memory: one driver view, one device view. */
struct fg_ring {
	uint16_t size;
	uint64_t features;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring drv;	/* driver role, pointers into fg->base */
	struct vring dev;	/* device role, pointers via fg->gm */
};

/* Creates the guest with regions of @region_size bytes. 0 or -errno. */
int fg_create(struct fakeguest *fg, uint64_t region_size);
/* Unmaps and closes everything. */
void fg_destroy(struct fakeguest *fg);
/* Zeroes guest RAM and resets the allocators (keeps the mappings). */
void fg_reset(struct fakeguest *fg);

/* Gap gpas: before region 0, between regions 1 and 2, after region 2. */
uint64_t fg_gap_gpa(const struct fakeguest *fg, unsigned which);
/* Allocates @len bytes aligned @align in region @r; returns gpa or 0. */
uint64_t fg_alloc(struct fakeguest *fg, unsigned r, uint64_t len,
		  uint64_t align);
/*
 * Returns a gpa for @len bytes straddling the region 0 / region 1 boundary,
 * @before of them in region 0, or 0. Not reserved: repeated calls return
 * overlapping ranges. fg_alloc() keeps the first fg_straddle_reserve() bytes
 * of region 1 free for this.
 */
uint64_t fg_alloc_straddle(struct fakeguest *fg, uint64_t before,
			   uint64_t len);
/* Bytes at the head of region 1 that fg_alloc() does not hand out. */
uint64_t fg_straddle_reserve(const struct fakeguest *fg);
/* Driver view of one byte at @gpa, or NULL in a gap. */
void *fg_ptr(const struct fakeguest *fg, uint64_t gpa);
/* Writes/reads guest memory through the driver view, across adjacent
 * regions; false if any byte is in a gap. */
bool fg_write(struct fakeguest *fg, uint64_t gpa, const void *buf,
	      size_t len);
bool fg_read(const struct fakeguest *fg, uint64_t gpa, void *buf, size_t len);
/* True if [p, p+len) lies inside one of the device's gmem mappings. */
bool fg_dev_range_ok(const struct fakeguest *fg, const void *p, size_t len);

/*
 * Allocates a ring of @size in region @r, sets up both roles with
 * @features, initialises the driver side with every index at @start_idx and
 * starts the device side there. 0 or -errno.
 */
int fg_ring_create(struct fakeguest *fg, struct fg_ring *ring, unsigned r,
		   uint16_t size, uint64_t features, uint16_t start_idx);
/* Frees both roles' allocations. */
void fg_ring_destroy(struct fg_ring *ring);

/* ---- raw writers: what a hostile driver or device can do ---- */

/* Writes descriptor @i of the table at @table_gpa (may straddle regions). */
bool fg_desc_write(struct fakeguest *fg, uint64_t table_gpa, uint32_t i,
		   uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Writes descriptor @i of the ring's own table. */
void fg_ring_desc(struct fakeguest *fg, struct fg_ring *ring, uint16_t i,
		  uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Appends @head to the avail ring and bumps avail->idx (raw, release). */
void fg_ring_avail_push(struct fg_ring *ring, uint16_t head);
/* Sets avail->idx to @idx (raw). */
void fg_ring_set_avail_idx(struct fg_ring *ring, uint16_t idx);
/* Reads avail->idx / used->idx as stored in memory. */
uint16_t fg_ring_avail_idx(const struct fg_ring *ring);
uint16_t fg_ring_used_idx(const struct fg_ring *ring);
/* Writes used entry @slot and/or used->idx (a hostile device). */
void fg_ring_used_write(struct fg_ring *ring, uint16_t slot, uint32_t id,
			uint32_t len);
void fg_ring_set_used_idx(struct fg_ring *ring, uint16_t idx);

/*
 * One honest round trip on @ring: the driver adds a @len-byte TX buffer
 * (gpa from region @r), the device pops it (VRING_DIR_OUT), checks the bytes,
 * pushes and flushes, the driver harvests it. True if all of that worked.
 */
bool fg_ring_roundtrip(struct fakeguest *fg, struct fg_ring *ring,
		       unsigned r, uint32_t len);

#endif /* PVNET_TESTS_FAKEGUEST_H */
