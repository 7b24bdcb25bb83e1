/* SPDX-License-Identifier: MIT */
/*
 * virtio.h - guest memory, the virtqueue (split and packed, device and
 * driver roles) and the virtio-net header. Spec: virtio 1.2, §2.7
 * (split virtqueues), §2.8 (packed virtqueues), §5.1 (network device).
 *
 * Ownership: a struct gmem is owned by the vhost device (backend) or by the
 * virtio-user frontend; it owns its mappings and unmaps them in gmem_clear().
 * A struct vring is owned by whoever polls it (one thread at a time); it
 * points into memory it does not own, and never keeps a pointer across a
 * change of the memory table (the owner calls vring_setup() again).
 */
#ifndef PVNET_VIRTIO_H
#define PVNET_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pvnet/common.h"
#include "pvnet/drop.h"
#include "pvnet/log.h"

/* ---- feature bits (virtio 1.2 §5.1.3, §6) ---- */
#define VIRTIO_NET_F_CSUM		0
#define VIRTIO_NET_F_GUEST_CSUM		1
#define VIRTIO_NET_F_MTU		3
#define VIRTIO_NET_F_MAC		5
#define VIRTIO_NET_F_GUEST_TSO4		7
#define VIRTIO_NET_F_GUEST_TSO6		8
#define VIRTIO_NET_F_GUEST_ECN		9
#define VIRTIO_NET_F_GUEST_UFO		10
#define VIRTIO_NET_F_HOST_TSO4		11
#define VIRTIO_NET_F_HOST_TSO6		12
#define VIRTIO_NET_F_HOST_ECN		13
#define VIRTIO_NET_F_HOST_UFO		14
#define VIRTIO_NET_F_MRG_RXBUF		15
#define VIRTIO_NET_F_STATUS		16
#define VIRTIO_NET_F_CTRL_VQ		17
#define VIRTIO_NET_F_CTRL_RX		18
#define VIRTIO_NET_F_GUEST_ANNOUNCE	21
#define VIRTIO_NET_F_MQ			22
#define VIRTIO_F_NOTIFY_ON_EMPTY	24
#define VIRTIO_F_ANY_LAYOUT		27
#define VIRTIO_RING_F_INDIRECT_DESC	28
#define VIRTIO_RING_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_ACCESS_PLATFORM	33
#define VIRTIO_F_RING_PACKED		34
#define VIRTIO_F_IN_ORDER		35

#define VIRTIO_BIT(b)			(1ULL << (b))

/* ---- guest memory (the "grant check" of seed 004, mapped once) ---- */

/* vhost-user allows up to this many slots (GET_MAX_MEM_SLOTS). */
#define GMEM_MAX_REGIONS	32

struct gmem_region {
	uint64_t gpa;		/* guest physical start */
	uint64_t size;		/* bytes */
	uint64_t uva;		/* frontend (QEMU) virtual start */
	uint8_t *hva;		/* our mapping of gpa */
	void *mmap_base;	/* what mmap returned (hva - mmap_offset) */
	size_t mmap_len;	/* what to munmap; 0: not ours to unmap */
	unsigned dup_adds;	/* identical ADD_MEM_REGs on top of the first */
	int guard;		/* SIGBUS guard slot; -1: not registered */
	bool sealed;		/* F_SEAL_SHRINK: the file cannot shrink under us */
};

struct gmem {
	unsigned n;		/* regions in use, sorted by gpa */
	struct gmem_region r[GMEM_MAX_REGIONS];
	/* the owner's fault counter (outlives every mapping of this table) */
	uint32_t *fault_cnt;
	const char *name;	/* the owning port's, for log lines; may be NULL */
};

/* Initialises an empty table (no fault counter). */
void gmem_init(struct gmem *gm);
/*
 * Sets the counter the SIGBUS guard increments (atomically, from the signal
 * handler) when a region mapped into @gm from now on faults. @cnt is the
 * caller's and must outlive those mappings; it is kept by gmem_clear() and
 * copied along with the table.
 */
void gmem_set_fault_counter(struct gmem *gm, uint32_t *cnt);
/*
 * Installs the process-wide SIGBUS handler that contains faults inside
 * guest memory mapped by gmem_add_region(): the whole mapping is replaced
 * by anonymous zero pages and its owner's counter goes up. A SIGBUS anywhere
 * else still kills the process. Idempotent. Returns 0 or -errno.
 */
int gmem_guard_install(void);
/* Guest mappings registered with the SIGBUS guard right now (tests). */
unsigned gmem_guard_count(void);
/*
 * Maps @size bytes of @fd at @mmap_offset (MAP_SHARED) and adds it at
 * gpa/uva. Checks overflow, overlap with existing regions (gpa and uva) and
 * that the range lies inside the file. A memfd that allows it gets
 * F_SEAL_SHRINK first (region->sealed says whether the file is protected);
 * the mapping is registered with the SIGBUS guard either way. Does not close
 * @fd (the caller does). Returns 0, -EINVAL (bad or overlapping range),
 * -ERANGE (beyond the file), -ENOSPC (table or guard registry full) or
 * -errno from mmap.
 */
int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size,
		    uint64_t uva, uint64_t mmap_offset, int fd);
/*
 * One shared mapping of a frontend's file at an offset (guest RAM regions,
 * the dirty log): sealed against shrinking where the file allows, and
 * registered with the SIGBUS guard.
 */
struct gmem_map {
	uint8_t *ptr;		/* the bytes at the requested offset */
	uint64_t size;		/* bytes usable at ptr */
	void *base;		/* what mmap returned */
	size_t len;		/* what to munmap; 0: nothing mapped */
	int guard;		/* SIGBUS guard slot, -1: none */
	bool sealed;		/* F_SEAL_SHRINK: the file cannot shrink */
};
/*
 * Maps @size bytes of @fd at @offset (MAP_SHARED, read-write) into @m, with
 * overflow checks and the file's size checked; a SIGBUS in it bumps
 * *@fault_cnt (may be NULL). Does not close @fd. Returns 0, -EINVAL,
 * -ERANGE (beyond the file), -ENOSPC (guard registry full) or -errno.
 */
int gmem_map_file(struct gmem_map *m, int fd, uint64_t size, uint64_t offset,
		  uint32_t *fault_cnt);
/* Unmaps what gmem_map_file() mapped (no-op on an empty @m). */
void gmem_unmap_file(struct gmem_map *m);
/*
 * Adds memory the caller already mapped (virtio-user frontend, tests); the
 * table does not unmap it. Same checks and returns as gmem_add_region().
 */
int gmem_add_mapped(struct gmem *gm, uint64_t gpa, uint64_t size,
		    uint64_t uva, void *hva);
/* Removes (and unmaps) the region that starts at @gpa with @size; -ENOENT. */
int gmem_remove_region(struct gmem *gm, uint64_t gpa, uint64_t size);
/* The region with exactly this @gpa, @size and @uva, or NULL. */
struct gmem_region *gmem_find_region(struct gmem *gm, uint64_t gpa,
				     uint64_t size, uint64_t uva);
/* Unmaps and forgets every region. */
void gmem_clear(struct gmem *gm);
/*
 * Translates [gpa, gpa+len) to our address. Returns the hva of gpa and sets
 * *out_len to the bytes available in that region (<= len); NULL if gpa is in
 * no region or len is 0. Callers loop over region splits.
 */
void *gmem_translate(const struct gmem *gm, uint64_t gpa, uint64_t len,
		     uint64_t *out_len);
/* The same for a frontend virtual address (vring addresses in SET_VRING_ADDR). */
void *gmem_uva_translate(const struct gmem *gm, uint64_t uva, uint64_t len,
			 uint64_t *out_len);
/* Translates a range that must be contiguous in our mapping, or NULL. */
void *gmem_translate_contig(const struct gmem *gm, uint64_t gpa, uint64_t len);
/*
 * Appends iovecs for [gpa, gpa+len) to iov[*n..max), one per region piece.
 * Returns 0, -EFAULT (a piece is outside every region) or -ENOBUFS (more
 * than max pieces); on error *n is unspecified.
 */
int gmem_to_iov(const struct gmem *gm, uint64_t gpa, uint64_t len,
		struct iovec *iov, unsigned *n, unsigned max);

/* ---- split ring layout (virtio 1.2 §2.7) ---- */

#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY	1

/* §2.7: queue size is a power of 2, at most 32768. */
#define VRING_MAX_SIZE		32768
/* Segments one popped chain may span (descriptors times region splits). */
#define VRING_ELEM_MAX_IOV	128
/*
 * Segments an element holds inline. Almost every chain is one or two
 * descriptors in one region: the element stays ~100 bytes, so a burst of
 * them fits in L1 (with 128 inline iovecs each was 2 KiB, and a burst's
 * elements all fell on two L1 sets). Longer chains move to the owner's
 * overflow area (vring_elems_init).
 */
#define VRING_ELEM_INLINE_IOV	4

struct vring_desc {
	uint64_t addr;		/* little-endian, guest physical */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* then used_event (uint16_t) */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];	/* then avail_event (uint16_t) */
};

static_assert(sizeof(struct vring_desc) == 16, "virtio 1.2 §2.7.5");

/* ---- packed ring layout (virtio 1.2 §2.8) ---- */

#define VRING_PACKED_DESC_F_AVAIL	(1u << 7)
#define VRING_PACKED_DESC_F_USED	(1u << 15)
/* event suppression flags (§2.8.10) */
#define VRING_PACKED_EVENT_F_ENABLE	0
#define VRING_PACKED_EVENT_F_DISABLE	1
#define VRING_PACKED_EVENT_F_DESC	2
/* bit 15 of an index: the wrap counter (vhost-user SET/GET_VRING_BASE) */
#define VRING_PACKED_WRAP		(1u << 15)

struct vring_packed_desc {
	uint64_t addr;		/* little-endian, guest physical */
	uint32_t len;
	uint16_t id;		/* buffer ID */
	uint16_t flags;
};

/* The driver and device event suppression areas (§2.8.10). */
struct vring_packed_event {
	uint16_t off_wrap;	/* descriptor offset, bit 15 its wrap counter */
	uint16_t flags;
};

static_assert(sizeof(struct vring_packed_desc) == 16, "virtio 1.2 §2.8.13");
static_assert(sizeof(struct vring_used_elem) == 8, "virtio 1.2 §2.7.8");

/* Bytes of each part for a queue of @size entries, with event-idx words. */
static inline uint64_t vring_desc_bytes(uint32_t size)
{
	return 16ULL * size;
}
static inline uint64_t vring_avail_bytes(uint32_t size)
{
	return 4 + 2ULL * size + 2;
}
static inline uint64_t vring_used_bytes(uint32_t size)
{
	return 4 + 8ULL * size + 2;
}

enum vring_state {
	VRING_STOPPED = 0,	/* not set up, or stopped by the frontend */
	VRING_RUNNING = 1,	/* a split ring */
	VRING_BROKEN = 2,	/* a ring rule was violated; see broken_reason */
	/* a packed ring: odd like RUNNING, so vring_ready() stays one test,
	 * and the split ring's fast path checks RUNNING alone (the packed
	 * ring is found on its slow path at no cost to the split one) */
	VRING_RUNNING_PACKED = 3,
};

/* Which way the device moves bytes through a chain. */
enum vring_dir {
	VRING_DIR_OUT,		/* device reads (a TX queue) */
	VRING_DIR_IN,		/* device writes (an RX queue) */
	VRING_DIR_ANY,		/* readable then writable (a control queue) */
};

/*
 * One popped chain, device side: iov[0..out_num) are device-readable,
 * iov[out_num..out_num+in_num) device-writable. A pop points iov at
 * iov_inl, or, for a chain of more than VRING_ELEM_INLINE_IOV segments, at
 * ovf (VRING_ELEM_MAX_IOV entries, owned by whoever owns the element; NULL:
 * such a chain breaks the ring as PV_DROP_RING_TOO_MANY_SEGS).
 */
struct vring_elem {
	uint16_t head;
	uint16_t out_num;
	uint16_t in_num;
	uint32_t out_len;
	uint32_t in_len;
	struct iovec *iov;
	struct iovec *ovf;
	struct iovec iov_inl[VRING_ELEM_INLINE_IOV];
};

/*
 * Gives elems[i] the overflow area ovf[i * VRING_ELEM_MAX_IOV ...] for long
 * chains; @ovf (n * VRING_ELEM_MAX_IOV iovecs) stays the caller's and must
 * outlive the elements. Touched only by chains longer than the inline part.
 */
static inline void vring_elems_init(struct vring_elem *elems, unsigned n,
				    struct iovec *ovf)
{
	for (unsigned i = 0; i < n; i++) {
		elems[i].iov = elems[i].iov_inl;
		elems[i].ovf = ovf ? ovf + (size_t)i * VRING_ELEM_MAX_IOV : NULL;
	}
}

/* Per-queue counters; plain integers written only by the owning thread. */
struct vring_stats {
	/* device: chains popped by vring_pop_burst() plus packets delivered
	 * by vring_rx_enqueue(); driver: chains harvested */
	uint64_t pkts;
	/* device: readable bytes popped plus bytes delivered (header
	 * included); driver: used lengths */
	uint64_t bytes;
	uint64_t kicks;		/* notifications sent or received */
	uint64_t calls;		/* interrupts sent or received */
	uint64_t kicks_suppressed;
	uint64_t calls_suppressed;
	struct pv_drop_stats drops;
};

struct vring {
	/* hot, written by the owner */
	uint16_t last_avail;	/* device: next avail slot to consume */
	uint16_t used_idx;	/* device: used->idx we will publish next */
	uint16_t signalled_used;	/* device: used idx at the last call */
	bool signalled_used_valid;
	/* device: a call decided without the barrier, still to be re-read
	 * (vring_need_call_early); recheck_from: signalled_used before it */
	bool call_recheck;
	uint16_t recheck_from;
	uint16_t shadow_avail;	/* driver: avail->idx we will publish next */
	uint16_t last_used;	/* driver: next used slot to harvest */
	uint16_t kicked_avail;	/* driver: avail idx at the last kick */
	uint16_t free_head;	/* driver: first free descriptor */
	uint16_t num_free;	/* driver: free descriptors */
	enum vring_state state;
	enum pv_drop broken_reason;

	/* set by vring_setup() */
	bool packed;		/* VIRTIO_F_RING_PACKED (either role) */
	uint16_t size;
	uint16_t mask;
	bool event_idx;
	bool indirect;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct gmem *gm;	/* device: translation of descriptor addrs */

	/* device: scratch copy of an indirect table that is not contiguous in
	 * our mapping, allocated at setup, never on the data path */
	struct vring_desc *ind_scratch;
	uint16_t *drv_chain_len;	/* driver: descriptors per head, 0: free */
	void **drv_cookie;		/* driver: caller's token per head */
	uint32_t *drv_in_len;		/* driver: writable bytes per head */
	/* driver: private next links (free list and chains); the desc table
	 * is shared with the device, so the driver never reads it back */
	uint16_t *drv_next;
	/* driver, by id (split without IN_ORDER, packed): publishes so far;
	 * a head (buffer ID) added since the last one has drv_epoch[id]
	 * equal to it: not published, so a used entry naming it is a lie
	 * (64 bits: the count never comes round) */
	uint64_t drv_epochs;
	uint64_t *drv_epoch;		/* per head / buffer ID: drv_epochs at add */
	uint16_t alloc_size;		/* queue size the arrays above hold */

	/* device: last avail->idx read and validated (<= size ahead) */
	uint16_t avail_seen;
	/* device: used->idx as last published by vring_flush() */
	uint16_t used_flushed;

	/*
	 * Packed ring, device side. last_avail is the position of the next
	 * descriptor with the wrap counter in bit 15 (what GET_VRING_BASE
	 * returns); used_idx and used_flushed count chains (a sequence, not a
	 * position), so leases and slots work as for the split ring. Chains
	 * are used in the order popped, so chain s's used descriptor goes
	 * where it was made available (pk_pos[s & mask]).
	 */
	uint16_t pk_popped;		/* chains popped (sequence) */
	uint16_t pk_used_pos;		/* next used position | wrap << 15 */
	uint16_t pk_signalled_pos;	/* pk_used_pos at the last call decision */
	uint16_t *pk_pos;		/* per sequence: first position | wrap */
	uint16_t *pk_end;		/* per sequence: position after the chain */
	uint16_t *pk_id;		/* per sequence: the buffer ID */
	uint32_t *pk_len;		/* per sequence: bytes written */
	uint64_t *pk_busy;		/* per buffer ID: in flight (bitmap) */

	/*
	 * Packed ring, driver side (vring_packed_drv.c): shadow_avail,
	 * last_used and kicked_avail are positions with the wrap counter in
	 * bit 15; drv_next links free buffer IDs, drv_chain_len,
	 * drv_cookie and drv_in_len are per buffer ID. Every chain's head
	 * flags are stored when it is added except the first unpublished
	 * one's, which vring_drv_publish() stores (release): the device reads
	 * in ring order and stops there, so that one store publishes them all.
	 */
	uint16_t pk_drv_pub;		/* first unpublished position | wrap */
	uint16_t pk_drv_head_flags;	/* the flags its head gets at publish */
	/* descriptors published since the last vring_drv_need_kick(),
	 * capped at two laps (positions alone repeat every two laps) */
	uint32_t pk_drv_unkicked;

	/*
	 * Driver, VIRTIO_F_IN_ORDER (vring_drv_set_in_order(); split:
	 * vring_split_drv.c, packed: vring_packed_drv.c): the device uses
	 * chains in the order they were added, so they are harvested in that
	 * order, possibly several per used entry (a batch: one entry naming
	 * the batch's last chain). Split: descriptors are taken in table
	 * order (free_head is the next one) and drv_next[seq & mask] is the
	 * head added at avail position seq; packed: buffer IDs are taken in
	 * order (free_head is the next one).
	 */
	bool drv_in_order;
	/* split: a chain with writable bytes was added, so used entries are
	 * read (their lengths); until then used->idx alone says what is done */
	bool drv_io_lens;
	uint16_t drv_pub;	/* split (both ways): avail->idx as last published */
	/* the oldest chain not harvested: split its avail position, packed
	 * its buffer ID */
	uint16_t drv_io_first;
	/* chains of a batch whose used entry was read, not yet harvested
	 * (the oldest ones), and the used length of the batch's last chain */
	uint16_t drv_io_pend;
	uint32_t drv_io_pend_len;

	/*
	 * Dirty-page log (live migration): set with vring_set_log() while the
	 * ring is stopped, so the worker that runs the ring reads it with
	 * the ring (docs/architecture.md, "The contract"). NULL: not logging,
	 * and every write path pays one predictable branch per call.
	 */
	uint8_t *log;			/* bit n: guest page n (4 KiB) */
	uint64_t log_bytes;		/* bytes of the bitmap */
	uint64_t log_used_gpa;		/* guest-physical used ring */

	const char *name;		/* for log lines; set by the owner */
	struct pv_ratelimit rl;		/* one limiter per queue */
	struct vring_stats st;
};

/*
 * Lays a ring over memory the caller has translated. @size must be a power of
 * 2 <= VRING_MAX_SIZE; desc, avail and used must be aligned 16, 2 and 4
 * (§2.7). With VIRTIO_F_RING_PACKED in @features (either role) desc is
 * the descriptor ring, avail the driver and used the device event area
 * (both 4-byte aligned), and the size must still be a power of 2. @gm
 * translates descriptor addresses on the device side (NULL on the driver
 * side). Allocates the per-queue scratch once. The first call needs a
 * zeroed @vq; calling it again (new memory table) keeps indexes, state and
 * counters and reuses the scratch. Returns 0, -EINVAL or -ENOMEM.
 */
int vring_setup(struct vring *vq, uint16_t size, void *desc, void *avail,
		void *used, uint64_t features, const struct gmem *gm);
/*
 * Sets the ring to RUNNING (device: from @last_avail; the used idx follows).
 * Packed: @last_avail is a position with the wrap counter in bit 15; a
 * position beyond the ring breaks it (RING_PK_BASE).
 */
void vring_start(struct vring *vq, uint16_t last_avail);
/* Stops the ring and returns the index to resume from (GET_VRING_BASE). */
uint16_t vring_stop(struct vring *vq);
/* Frees what vring_setup() allocated; the ring memory is not ours. */
void vring_teardown(struct vring *vq);
/* Marks the ring broken for @why, counts it and logs once (rate limited). */
void vring_fail(struct vring *vq, enum pv_drop why);
/* True if the ring can be used now. */
static inline bool vring_ready(const struct vring *vq)
{
	return vq->state & 1;	/* RUNNING or RUNNING_PACKED */
}

/* ---- dirty-page log (vhost-user.rst, "Migration") ---- */

/* The log's granularity: one bit per 4 KiB guest-physical page. */
#define VRING_LOG_PAGE_SHIFT	12

/*
 * Sets the dirty log of a stopped ring (@bits NULL: off). @bits is the
 * frontend's bitmap of @bytes bytes, mapped by the caller, who keeps it
 * mapped until the ring stops or gets another log; @used_gpa is the used
 * ring's guest-physical address. Pages past the bitmap are not logged.
 */
void vring_set_log(struct vring *vq, uint8_t *bits, uint64_t bytes,
		   uint64_t used_gpa);
/* Marks guest-physical [gpa, gpa + len) dirty (atomic ORs); needs a log. */
void vring_log_gpa(const struct vring *vq, uint64_t gpa, uint64_t len);
/*
 * Marks dirty the guest pages behind [hva, hva + len) of our mapping of the
 * ring's memory table (any region); bytes outside every region are skipped.
 */
void vring_log_hva(const struct vring *vq, const void *hva, uint64_t len);
/*
 * Marks what vring_rx_fill() wrote: lens[i] bytes from the start of the
 * writable part of each of the @n buffers. No-op without a log.
 */
void vring_log_rx(const struct vring *vq, const struct vring_elem *elems,
		  unsigned n, const uint32_t *lens);

/* ---- device side ---- */

/* Chains the driver has made available and we have not popped (packed: 0 or 1). */
uint16_t vring_avail_count(struct vring *vq);
/* Most chains one split-ring burst call pops or reserves (its heads are
 * read, and their descriptors prefetched, ahead of the pops). */
#define VRING_BURST_MAX	64

/*
 * Pops up to @n chains (at most VRING_BURST_MAX on a split ring), each
 * translated and bounds-checked into @elems.
 * Every descriptor must match @dir. A ring violation breaks the queue (see
 * vring_fail) and stops the burst; chains popped before it are returned.
 * Returns the number popped.
 */
unsigned vring_pop_burst(struct vring *vq, struct vring_elem *elems,
			 unsigned n, enum vring_dir dir);
/* Gives back the last @n popped chains unused (rewinds last_avail). */
void vring_unpop(struct vring *vq, unsigned n);
/* Stages a used entry for @head with @len bytes written; not yet visible. */
void vring_push(struct vring *vq, uint16_t head, uint32_t len);
/*
 * vring_push() with length 0 for each of the @n chains just popped into
 * @elems, in pop order, with one test of the layout for the burst. Returns
 * the used index the first went to (the next ones follow).
 */
uint16_t vring_push_burst(struct vring *vq, const struct vring_elem *elems,
			  unsigned n);
/* Publishes staged used entries with one used->idx store (release). */
void vring_flush(struct vring *vq);
/*
 * True if the driver wants an interrupt for what was flushed since the last
 * call (event-idx used_event, or the NO_INTERRUPT flag); updates the state.
 */
bool vring_need_call(struct vring *vq);

/* What vring_need_call_early() could tell without the barrier. */
enum vring_call {
	VRING_CALL_NO,		/* nothing published, or certain: no call */
	VRING_CALL_YES,		/* the driver wants a call now */
	VRING_CALL_RECHECK,	/* it said no, but only a load after a full
				 * barrier may say so: vring_recheck_call() */
};
/*
 * vring_need_call() without its full barrier, for a caller that puts one
 * barrier after several rings' publishes: a "no" read before the barrier
 * may predate our used->idx store becoming visible, so it is pending until
 * the caller's pv_smp_mb() and vring_recheck_call(). Split ring only; the
 * packed ring and a ring's first decision take vring_need_call().
 */
enum vring_call vring_need_call_early(struct vring *vq);
/*
 * After the caller's full barrier: true if a call that vring_need_call_early()
 * left pending is wanted after all (the driver re-enabled meanwhile; counted
 * in calls, as the "no" was in calls_suppressed). On a ring several workers
 * publish, under the same lock as vring_need_call_early().
 */
bool vring_recheck_call(struct vring *vq);
/* Asks the driver for kicks (true) or not (false): avail_event / NO_NOTIFY. */
void vring_set_kick(struct vring *vq, bool enable);

/*
 * ---- driver side (virtio-user frontend, tests, benchmarks) ----
 * Split or packed, as vring_setup() was told; the packed ring's driver is
 * in vring_packed_drv.c (virtio 1.2 §2.8) behind these same calls.
 */

/* A buffer the driver adds; addr is what goes into the descriptor. */
struct vring_buf {
	uint64_t addr;
	uint32_t len;
};

/*
 * Initialises the free list and an empty ring (driver owns the memory).
 * Packed: position 0 with both wrap counters 1, as the device's
 * SET_VRING_BASE 0x8000 (VRING_PACKED_WRAP).
 */
void vring_drv_init(struct vring *vq);
/*
 * The same, with every index starting at @idx (tests of 16-bit wrap;
 * packed: a position with the wrap counter in bit 15, taken modulo size).
 */
void vring_drv_init_at(struct vring *vq, uint16_t idx);
/*
 * Adds a chain of @out_n device-readable then @in_n device-writable buffers,
 * remembers @cookie for it. Not visible until vring_drv_publish().
 * Returns 0 or -ENOSPC.
 */
int vring_drv_add(struct vring *vq, const struct vring_buf *bufs,
		  unsigned out_n, unsigned in_n, void *cookie);
/*
 * Driver: harvest in the order chains were added (VIRTIO_F_IN_ORDER
 * negotiated; virtio 1.2 §2.7.9, §2.8.9), taking descriptors (split) or
 * buffer IDs (packed) in ring order, and accepting one used entry for a
 * batch. Call before vring_drv_init()/_init_at(), which keep the choice.
 * A device that then completes out of order, names a chain outside the
 * published window or moves the used index past it breaks the ring
 * (RING_USED_ID, RING_USED_IDX; a length above the chain's writable bytes
 * RING_USED_LEN), as vring_drv_get_used() says.
 */
void vring_drv_set_in_order(struct vring *vq, bool in_order);
/* Makes added chains visible with one avail->idx store (release). */
void vring_drv_publish(struct vring *vq);
/*
 * True if the device wants a kick for what was published since the last
 * call (event-idx/flags); call it after vring_drv_publish().
 */
bool vring_drv_need_kick(struct vring *vq);
/*
 * Harvests up to @n used chains: cookies[i] and lens[i] (either may be NULL).
 * The device is not trusted: a used idx past what was published, an id
 * not in flight or not yet published, or a len above the chain's writable
 * bytes, breaks the ring (packed: used flags whose wrap counter is out of
 * step with ours, too). Returns the count. In order (vring_drv_set_in_order()):
 * chains come back in add order; a batch's chains before its last get
 * their writable bytes as length (the entry carries the last one's); a
 * split ring that never had a writable chain is harvested from used->idx
 * alone, without reading the entries.
 */
unsigned vring_drv_get_used(struct vring *vq, void **cookies, uint32_t *lens,
			    unsigned n);
/*
 * Asks the device for interrupts (true) or not: used_event / NO_INTERRUPT
 * (packed: the driver event area, DESC at the next used position with
 * EVENT_IDX, else ENABLE; DISABLE).
 */
void vring_drv_set_call(struct vring *vq, bool enable);
/* True if used entries wait to be harvested. */
bool vring_drv_has_used(struct vring *vq);

/* §2.7.10: true if new_idx passed event_idx since old_idx. */
static inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx,
				    uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---- virtio-net header (virtio 1.2 §5.1.6) ---- */

#define VIRTIO_NET_HDR_F_NEEDS_CSUM	1
#define VIRTIO_NET_HDR_F_DATA_VALID	2
#define VIRTIO_NET_HDR_F_RSC_INFO	4

#define VIRTIO_NET_HDR_GSO_NONE		0
#define VIRTIO_NET_HDR_GSO_TCPV4	1
#define VIRTIO_NET_HDR_GSO_UDP		3
#define VIRTIO_NET_HDR_GSO_TCPV6	4
#define VIRTIO_NET_HDR_GSO_UDP_L4	5
#define VIRTIO_NET_HDR_GSO_ECN		0x80

/*
 * The largest GSO packet taken: 64 KiB of payload (Linux's
 * GSO_LEGACY_MAX_SIZE; an IP length field cannot say more) behind at most
 * 128 bytes of headers (Ethernet, VLAN, IP and TCP with options).
 */
#define PV_GSO_MAX_PAYLOAD	65536
#define PV_GSO_MAX_HDR		128
#define PV_GSO_MAX_FRAME	(PV_GSO_MAX_PAYLOAD + PV_GSO_MAX_HDR)

/* Fields are little-endian as on the wire (le16toh to read them). */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;	/* only in the 12-byte form */
};
static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio 1.2 §5.1.6");

/* Header length for negotiated @features: 12 with VERSION_1 or MRG_RXBUF, else 10. */
size_t nethdr_len(uint64_t features);
/*
 * Copies the header out of the chain's readable iovecs into @hdr (the copy is
 * what gets parsed: the guest can change its memory meanwhile). Returns 0, or
 * -EINVAL if the chain is shorter than @hdr_len.
 */
int nethdr_read(struct virtio_net_hdr *hdr, size_t hdr_len,
		const struct iovec *iov, unsigned n);
/*
 * The longest frame the switch takes in from anyone (guest TX, uplink RX).
 * Without GSO: IP's 16-bit total length, plus Ethernet and two VLAN tags.
 * With GSO: the software segmentation bound, PV_GSO_MAX_FRAME (a TSO frame
 * is no longer than IP's total length allows, so this leaves headroom).
 * Longer frames are dropped (PV_DROP_PKT_TOO_LONG, with GSO
 * PV_DROP_PKT_GSO_TOO_BIG) before a byte of them is copied or summed.
 */
#define PV_FRAME_MAX		(65535 + 14 + 2 * 4)
#define PV_FRAME_GSO_MAX	PV_GSO_MAX_FRAME

/*
 * Checks a guest's offload claims against a frame of @frame_len bytes (after
 * the header): the length limit above, known flags and gso_type,
 * csum_start+csum_offset+2 <= len, gso_size > 0 and hdr_len <= len when GSO
 * is set. Returns PV_DROP_NONE or the reason to drop.
 */
enum pv_drop nethdr_check(const struct virtio_net_hdr *hdr, size_t frame_len);

/*
 * Delivers one packet into an RX ring (device side): pops as many buffers as
 * the packet needs (one without MRG_RXBUF), writes @hdr with num_buffers,
 * then the @src_n source pieces, each byte copied exactly once. Used entries
 * are staged (vring_push), not flushed. Returns 0; -ENOBUFS if the ring lacks
 * buffers (nothing consumed); -EMSGSIZE if it cannot fit without MRG_RXBUF;
 * -EIO if the ring broke.
 */
int vring_rx_enqueue(struct vring *vq, const struct virtio_net_hdr *hdr,
		     size_t hdr_len, bool mrg_rxbuf, const struct iovec *src,
		     unsigned src_n);

/*
 * Reserves RX buffers whose writable bytes cover @total (exactly one buffer
 * without MRG_RXBUF) into @elems, for a caller that copies outside its lock.
 * Returns the buffer count; -ENOBUFS (nothing consumed), -ENOSPC (more than
 * @max needed; nothing consumed), -EMSGSIZE, or -EIO if the ring broke.
 */
int vring_rx_reserve(struct vring *vq, size_t total, bool mrg_rxbuf,
		     struct vring_elem *elems, unsigned max);
/*
 * Copies @hdr (num_buffers = @n) and the source into @n reserved buffers,
 * each byte once; sets lens[i] to the bytes written to buffer i. Touches no
 * ring index, so it runs without the ring's lock.
 */
void vring_rx_fill(struct vring_elem *elems, unsigned n,
		   const struct virtio_net_hdr *hdr, size_t hdr_len,
		   const struct iovec *src, unsigned src_n, uint32_t *lens);
/*
 * vring_rx_fill() of the commonest packet: one source piece, the 12-byte
 * header all zero but num_buffers 1 (no offload), one reserved buffer
 * whose first writable piece holds it all. Same bytes and len; false
 * (nothing written) if the buffer is not of that shape.
 */
bool vring_rx_fill_plain(const struct vring_elem *e, const void *frame,
			 size_t len, uint32_t *lens);
/*
 * The common case of vring_rx_reserve() for a run of packets, with one read
 * of avail->idx: packet i of @n (totals[i] bytes with the header) gets one
 * buffer, elems[i], as long as each fits in the next available one. Stops
 * at the first that does not (that buffer is given back), when the ring
 * runs out or after VRING_BURST_MAX. Returns the packets reserved; 0 for a
 * ring not running (the caller then goes packet by packet with
 * vring_rx_reserve()). Split or
 * packed (the packed ring reads each descriptor's flags instead).
 */
unsigned vring_rx_reserve_burst(struct vring *vq, const uint32_t *totals,
				unsigned n, struct vring_elem *elems);
/* Reserves @n used-ring slots in order; returns the first (a lease). */
uint16_t vring_used_reserve(struct vring *vq, unsigned n);
/* Writes one used entry at reserved @slot; not visible until published. */
void vring_used_write(struct vring *vq, uint16_t slot, uint16_t head,
		      uint32_t len);
/*
 * vring_used_write() for @n buffers at once: elems[i] with lens[i] bytes at
 * slot @slot + i, one layout test for them all.
 */
void vring_used_write_burst(struct vring *vq, uint16_t slot,
			    const struct vring_elem *elems,
			    const uint32_t *lens, unsigned n);
/* Publishes used->idx = @upto (release); leases before it must be complete. */
void vring_used_publish(struct vring *vq, uint16_t upto);

/* Copies up to @len bytes from an iovec list starting at @off; returns bytes. */
size_t pv_iov_to_buf(const struct iovec *iov, unsigned n, size_t off,
		     void *buf, size_t len);
/* Copies @len bytes into an iovec list starting at @off; returns bytes. */
size_t pv_buf_to_iov(const struct iovec *iov, unsigned n, size_t off,
		     const void *buf, size_t len);
/* Total length of an iovec list. */
size_t pv_iov_len(const struct iovec *iov, unsigned n);

#endif /* PVNET_VIRTIO_H */
