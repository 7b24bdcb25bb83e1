// SPDX-License-Identifier: MIT
/* vring.c - the split virtqueue (virtio 1.2 §2.7), device and driver roles */

/*
 * Security model
 * --------------
 * The ring memory (descriptor table, avail ring, used ring) and every buffer
 * it points to belong to the guest, or to a frontend one step removed from
 * it. A guest that was taken over writes whatever it likes there, at any
 * moment, including while we read it. So, on the device side:
 *
 *  - avail->idx is read once per burst (acquire) and the distance to our
 *    private last_avail must be <= the queue size (§2.7.6);
 *  - every head and every next is checked against the table it indexes;
 *  - a chain is walked with a hard count bound: more descriptors than the
 *    table has entries is a loop (§2.7.5.3.1 forbids loops);
 *  - each descriptor is copied once into a local before it is checked and
 *    used, so a check and its use see the same value (no double fetch);
 *  - indirect tables (§2.7.5.3) are accepted only if negotiated, must be a
 *    non-zero multiple of 16 bytes, must not nest or carry NEXT, and are read
 *    in place if contiguous in our mapping, else copied through a byte cursor
 *    into a per-queue scratch table allocated at setup (never on the data
 *    path);
 *  - every buffer address goes through gmem_translate() (overflow-safe,
 *    clamped to its region) and the scatter list bound is checked on every
 *    region split;
 *  - directions are enforced: a TX chain must be device-readable, an RX
 *    chain device-writable, and writable descriptors never precede readable
 *    ones (§2.7.4.2).
 *
 * A violation calls vring_fail(): only that queue goes BROKEN until the
 * frontend resets it, the reason is counted and logged with a rate limit.
 * Nothing a guest writes can make this file read or write outside the
 * regions of its gmem, loop without bound, allocate, or abort.
 *
 * The driver side (pvnet guest, tests, benchmarks) trusts its own memory
 * but not the device: used->idx may not pass avail->idx as we published it
 * (drv_pub), a used id must name a chain in flight and published (one
 * that was added after the last publish has drv_epoch[id] == drv_epochs),
 * and the driver keeps its free list in private memory, never reading the
 * shared descriptor table back.
 *
 * Do not assume any field read from ring memory contains a sensible value.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>

#include "pvnet/log.h"
#include "pvnet/virtio.h"
#include "virtio_internal.h"

/* used_event lives after the avail ring, avail_event after the used ring. */
static inline uint16_t *used_event_ptr(const struct vring *vq)
{
	return &vq->avail->ring[vq->size];
}

static inline uint16_t *avail_event_ptr(const struct vring *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

static void free_arrays(struct vring *vq)
{
	free(vq->ind_scratch);
	free(vq->drv_chain_len);
	free(vq->drv_cookie);
	free(vq->drv_next);
	free(vq->drv_in_len);
	free(vq->pk_pos);
	free(vq->pk_end);
	free(vq->pk_id);
	free(vq->pk_len);
	free(vq->pk_busy);
	free(vq->drv_epoch);
	vq->drv_epoch = NULL;
	vq->pk_pos = vq->pk_end = vq->pk_id = NULL;
	vq->pk_len = NULL;
	vq->pk_busy = NULL;
	vq->drv_in_len = NULL;
	vq->ind_scratch = NULL;
	vq->drv_chain_len = NULL;
	vq->drv_cookie = NULL;
	vq->drv_next = NULL;
	vq->alloc_size = 0;
}

static int alloc_arrays(struct vring *vq, uint16_t size, bool device,
			bool indirect, bool packed)
{
	if (vq->alloc_size == size &&
	    (!device || !indirect || vq->ind_scratch) &&
	    (!device || !packed || vq->pk_pos) &&
	    (device || vq->drv_next))
		return 0;
	free_arrays(vq);
	if (device && indirect) {
		/* §2.7.5.3.1: a table holds at most VRING_MAX_SIZE entries. */
		vq->ind_scratch = malloc(sizeof(struct vring_desc) *
					 VRING_MAX_SIZE);
		if (!vq->ind_scratch)
			goto err;
	}
	if (device && packed) {
		vq->pk_pos = calloc(size, sizeof(*vq->pk_pos));
		vq->pk_end = calloc(size, sizeof(*vq->pk_end));
		vq->pk_id = calloc(size, sizeof(*vq->pk_id));
		vq->pk_len = calloc(size, sizeof(*vq->pk_len));
		vq->pk_busy = calloc((size + 63) / 64, sizeof(*vq->pk_busy));
		if (!vq->pk_pos || !vq->pk_end || !vq->pk_id || !vq->pk_len ||
		    !vq->pk_busy)
			goto err;
	}
	if (!device) {
		vq->drv_chain_len = calloc(size, sizeof(*vq->drv_chain_len));
		vq->drv_cookie = calloc(size, sizeof(*vq->drv_cookie));
		vq->drv_next = calloc(size, sizeof(*vq->drv_next));
		vq->drv_in_len = calloc(size, sizeof(*vq->drv_in_len));
		vq->drv_epoch = calloc(size, sizeof(*vq->drv_epoch));
		if (!vq->drv_chain_len || !vq->drv_cookie || !vq->drv_next ||
		    !vq->drv_in_len || !vq->drv_epoch)
			goto err;
	}
	vq->alloc_size = size;
	return 0;
err:
	free_arrays(vq);
	return -ENOMEM;
}

int vring_setup(struct vring *vq, uint16_t size, void *desc, void *avail,
		void *used, uint64_t features, const struct gmem *gm)
{
	/* device side: vring_packed.c; driver side: vring_packed_drv.c */
	bool packed = features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	int ret;

	/* §2.7: "Queue Size value is always a power of 2. The maximum Queue
	 * Size value is 32768." Packed rings may have any size (§2.8); ours
	 * index per-chain state by a 16-bit sequence, so a power of 2 too. */
	if (!pv_is_pow2(size) || size > VRING_MAX_SIZE)
		return -EINVAL;
	/* §2.7: alignment 16 (desc), 2 (avail), 4 (used); §2.8.10: 4 for
	 * both event areas. */
	if (!desc || !avail || !used || ((uintptr_t)desc & 15) ||
	    ((uintptr_t)avail & (packed ? 3 : 1)) || ((uintptr_t)used & 3))
		return -EINVAL;
	ret = alloc_arrays(vq, size, gm != NULL,
			   features & VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC),
			   packed);
	if (ret)
		return ret;
	vq->packed = packed;
	vq->size = size;
	vq->mask = size - 1;
	vq->event_idx = features & VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = features & VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->gm = gm;
	return 0;
}

void vring_start(struct vring *vq, uint16_t last_avail)
{
	if (!vq->desc)
		return;
	vq->call_recheck = false;
	if (vq->packed) {
		vring_pk_start(vq, last_avail);
		return;
	}
	vq->last_avail = last_avail;
	vq->avail_seen = last_avail;
	/* Nothing is in flight across a stop (design: never mark a buffer
	 * used before its packet is done), so used follows avail. */
	vq->used_idx = last_avail;
	vq->used_flushed = last_avail;
	vq->signalled_used = last_avail;
	vq->signalled_used_valid = false;
	vq->broken_reason = PV_DROP_NONE;
	vq->state = VRING_RUNNING;
}

uint16_t vring_stop(struct vring *vq)
{
	vq->state = VRING_STOPPED;
	return vq->last_avail;
}

void vring_teardown(struct vring *vq)
{
	free_arrays(vq);
	vq->state = VRING_STOPPED;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->gm = NULL;
	vring_set_log(vq, NULL, 0, 0);
}

void vring_fail(struct vring *vq, enum pv_drop why)
{
	if ((unsigned)why >= PV_DROP_MAX)
		why = PV_DROP_NONE;
	vq->st.drops.n[why]++;
	if (vq->state == VRING_BROKEN)
		return;
	vq->state = VRING_BROKEN;
	vq->broken_reason = why;
	/* vq->name is the port's, set by its backend; a frontend's has none */
	pv_log_ratelimited(&vq->rl, PV_LOG_WARN, "%s %s: queue broken: %s",
			   vq->name ? "port" : "vring", vq->name ? vq->name : "?",
			   pv_drop_text(why));
}

/* ---- dirty-page log ---- */

void vring_set_log(struct vring *vq, uint8_t *bits, uint64_t bytes,
		   uint64_t used_gpa)
{
	vq->log = bytes ? bits : NULL;
	vq->log_bytes = bits ? bytes : 0;
	vq->log_used_gpa = used_gpa;
}

void vring_log_gpa(const struct vring *vq, uint64_t gpa, uint64_t len)
{
	uint64_t page, last, limit = vq->log_bytes * 8;

	if (!len || !vq->log)
		return;
	page = gpa >> VRING_LOG_PAGE_SHIFT;
	last = (gpa + len - 1) >> VRING_LOG_PAGE_SHIFT;
	if (gpa + len - 1 < gpa)
		last = UINT64_MAX >> VRING_LOG_PAGE_SHIFT;	/* wrapped */
	/*
	 * Byte-wide atomic ORs, as QEMU and DPDK share this bitmap: QEMU
	 * harvests it with atomic exchanges while we write.
	 */
	for (; page <= last && page < limit; page++)
		__atomic_fetch_or(&vq->log[page >> 3],
				  (uint8_t)(1u << (page & 7)), __ATOMIC_RELAXED);
}

void vring_log_hva(const struct vring *vq, const void *hva, uint64_t len)
{
	const struct gmem *gm = vq->gm;
	uintptr_t a = (uintptr_t)hva;

	if (!gm)
		return;
	while (len) {
		uint64_t done = 0;

		for (unsigned i = 0; i < gm->n; i++) {
			const struct gmem_region *r = &gm->r[i];
			uint64_t off = (uint64_t)(a - (uintptr_t)r->hva);

			if (off < r->size) {
				done = r->size - off < len ? r->size - off : len;
				vring_log_gpa(vq, r->gpa + off, done);
				break;
			}
		}
		if (!done)
			return;	/* not guest memory: nothing of the guest to log */
		a += done;
		len -= done;
	}
}

void vring_log_rx(const struct vring *vq, const struct vring_elem *elems,
		  unsigned n, const uint32_t *lens)
{
	if (!vq->log)
		return;
	for (unsigned b = 0; b < n; b++) {
		const struct vring_elem *e = &elems[b];
		uint64_t left = lens[b];

		for (unsigned i = e->out_num; left && i < e->out_num + e->in_num; i++) {
			uint64_t l = e->iov[i].iov_len < left ? e->iov[i].iov_len : left;

			vring_log_hva(vq, e->iov[i].iov_base, l);
			left -= l;
		}
	}
}

/* Logs used entries [from, to) (ring order, wrapping) and used->idx. */
static void log_used(const struct vring *vq, uint16_t from, uint16_t to)
{
	uint32_t n = (uint16_t)(to - from), start = from & vq->mask, first;
	uint64_t ring = vq->log_used_gpa + offsetof(struct vring_used, ring);

	if (n > vq->size)
		n = vq->size;
	first = n < vq->size - start ? n : vq->size - start;
	vring_log_gpa(vq, ring + 8ULL * start, 8ULL * first);
	if (n > first)
		vring_log_gpa(vq, ring, 8ULL * (n - first));
	vring_log_gpa(vq, vq->log_used_gpa + offsetof(struct vring_used, idx), 2);
}

/* ---- device side ---- */

/*
 * The split ring's fast-path test: a packed ring fails it and is handled
 * on the slow path, so the split ring pays nothing for the packed one.
 */
static inline bool split_running(const struct vring *vq)
{
	return vq->state == VRING_RUNNING;
}

/*
 * Reads avail->idx and validates it. Returns the chains available now, or
 * -1 after failing the ring.
 */
static int refresh_avail(struct vring *vq)
{
	/* Acquire: the ring entries and descriptors we read next were written
	 * before the driver's release store of avail->idx (vring_drv_publish,
	 * Linux virtio_wmb + avail idx write). */
	uint16_t idx = le16toh(pv_load_acquire(&vq->avail->idx));
	uint16_t num = (uint16_t)(idx - vq->last_avail);

	/*
	 * §2.7.6: the driver can make at most size chains available, counted
	 * from the last used entry it was shown: a chain holds a descriptor
	 * until then. More means it re-added one the device still holds (a
	 * chain GRO keeps), and the used entries staged past used_flushed
	 * would wrap onto unpublished ones (the packed ring's pk_popped bound).
	 */
	if (unlikely(num > vq->size ||
		     (uint16_t)(idx - vq->used_flushed) > vq->size)) {
		vring_fail(vq, PV_DROP_RING_AVAIL_IDX);
		return -1;
	}
	vq->avail_seen = idx;
	return num;
}

uint16_t vring_avail_count(struct vring *vq)
{
	int num;

	if (unlikely(!split_running(vq)))
		return vq->state == VRING_RUNNING_PACKED ?
		       vring_pk_avail_count(vq) : 0;
	num = refresh_avail(vq);
	return num < 0 ? 0 : (uint16_t)num;
}

/* One read of a shared descriptor into a local (no double fetch). */
static inline void read_desc(struct vring_desc *d, const uint8_t *table,
			     uint32_t i)
{
	/* memcpy: an indirect table in guest memory may be misaligned. */
	memcpy(d, table + (size_t)i * sizeof(*d), sizeof(*d));
	/* The checks below must use this copy, never reload the source. */
	pv_compiler_barrier();
}

/*
 * Finds the indirect table of @d: in place if contiguous in our mapping,
 * else copied through a byte cursor into the per-queue scratch table.
 */
const uint8_t *vring_indirect_table(struct vring *vq, uint64_t gpa,
				    uint32_t len)
{
	uint8_t *dst = (uint8_t *)vq->ind_scratch;
	uint64_t left = len;
	const uint8_t *tbl;

	tbl = gmem_translate_contig(vq->gm, gpa, len);
	if (likely(tbl))
		return tbl;
	if (!dst)
		return NULL;
	while (left) {
		uint64_t got;
		const void *src = gmem_translate(vq->gm, gpa, left, &got);

		if (!src)
			return NULL;
		/* Bytes, not descriptors: the cursor moves by what was
		 * copied (libvhost-user's desc += read_len bug). */
		memcpy(dst, src, (size_t)got);
		dst += got;
		gpa += got;
		left -= got;
	}
	return (const uint8_t *)vq->ind_scratch;
}

/* Follows one next link for chain_loops(); false at the end of the chain. */
static bool next_of(const uint8_t *table, uint32_t tsize, uint32_t *i)
{
	struct vring_desc d;
	uint16_t flags;

	read_desc(&d, table, *i);
	flags = le16toh(d.flags);
	if (!(flags & VRING_DESC_F_NEXT) || (flags & VRING_DESC_F_INDIRECT) ||
	    le16toh(d.next) >= tsize)
		return false;
	*i = le16toh(d.next);
	return true;
}

/*
 * Cold path, only to name the reason right: a chain that hit the segment
 * bound is re-walked (Floyd, at most 3 * tsize reads) to tell a loop from a
 * chain that is merely too long. The guest can change the table meanwhile;
 * that only changes which reason is reported, the ring breaks either way.
 */
static bool chain_loops(const uint8_t *table, uint32_t tsize, uint32_t start)
{
	uint32_t slow = start, fast = start;

	for (uint32_t step = 0; step <= tsize; step++) {
		if (!next_of(table, tsize, &fast) ||
		    !next_of(table, tsize, &fast))
			return false;
		next_of(table, tsize, &slow);
		if (slow == fast)
			return true;
	}
	return true;	/* more links than entries */
}

/*
 * Walks the chain at @head into @elem; @first is the caller's one copy of
 * descriptor @head (read once, not again here). Returns PV_DROP_NONE or the
 * reason.
 */
/*
 * Out of line: the one-descriptor path stays small. @first by value: a
 * pointer to the caller's copy would cost every pop a stack canary.
 */
static __attribute__((noinline)) enum pv_drop
map_chain(struct vring *vq, uint16_t head, struct vring_elem *elem,
	  enum vring_dir dir, struct vring_desc first)
{
	bool have_first = true;
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t tsize = vq->size, count = 0, i = head, start = head;
	uint64_t out_len = 0, in_len = 0;
	bool in_indirect = false;
	unsigned niov = 0, out_num = 0;

	elem->head = head;
	elem->iov = elem->iov_inl;	/* vring_map_desc() may spill it */
	for (;;) {
		struct vring_desc d;
		enum pv_drop why;
		uint16_t flags;
		uint32_t len;
		uint64_t gpa;

		/* §2.7.5.3.1: no loops. A chain longer than its table has a
		 * descriptor twice. */
		if (unlikely(++count > tsize))
			return PV_DROP_RING_LOOP;
		if (have_first) {
			d = first;	/* the head, already copied */
			have_first = false;
		} else {
			read_desc(&d, table, i);
		}
		flags = le16toh(d.flags);
		len = le32toh(d.len);
		gpa = le64toh(d.addr);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (unlikely(!vq->indirect))
				return PV_DROP_RING_INDIRECT_OFF;
			/* §2.7.5.3.1: "The driver MUST NOT set the
			 * VIRTQ_DESC_F_INDIRECT flag within an indirect
			 * descriptor", nor INDIRECT together with NEXT. */
			if (unlikely(in_indirect))
				return PV_DROP_RING_INDIRECT_NESTED;
			if (unlikely(flags & VRING_DESC_F_NEXT))
				return PV_DROP_RING_INDIRECT_NEXT;
			if (unlikely(len == 0 || len % sizeof(d) ||
				     len / sizeof(d) > VRING_MAX_SIZE))
				return PV_DROP_RING_INDIRECT_LEN;
			table = vring_indirect_table(vq, gpa, len);
			if (unlikely(!table))
				return PV_DROP_RING_ADDR;
			/* The WRITE flag of this descriptor is ignored
			 * (§2.7.5.3.2); the table starts at entry 0. */
			tsize = len / sizeof(d);
			count = 0;
			i = 0;
			start = 0;
			in_indirect = true;
			continue;
		}

		if (unlikely(len == 0))
			return PV_DROP_RING_DESC_ZERO_LEN;
		if (flags & VRING_DESC_F_WRITE) {
			if (unlikely(dir == VRING_DIR_OUT))
				return PV_DROP_RING_READ_WO;
			in_len += len;
		} else {
			/* §2.7.4.2: device-writable descriptors come after
			 * all device-readable ones. */
			if (unlikely(niov > out_num))
				return PV_DROP_RING_ORDER;
			if (unlikely(dir == VRING_DIR_IN))
				return PV_DROP_RING_WRITE_RO;
			out_len += len;
		}
		why = vring_map_desc(vq, elem, &niov, gpa, len);
		if (unlikely(why != PV_DROP_NONE)) {
			/* A loop through a table larger than the segment
			 * bound hits the bound first; report it as a loop. */
			if (why == PV_DROP_RING_TOO_MANY_SEGS &&
			    chain_loops(table, tsize, start))
				return PV_DROP_RING_LOOP;
			return why;
		}
		if (!(flags & VRING_DESC_F_WRITE))
			out_num = niov;

		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
		if (unlikely(i >= tsize))
			return PV_DROP_RING_NEXT_OOR;
	}
	/* The used ring reports 32-bit lengths. */
	if (unlikely(out_len > UINT32_MAX || in_len > UINT32_MAX))
		return PV_DROP_RING_CHAIN_LEN;
	elem->out_num = (uint16_t)out_num;
	elem->in_num = (uint16_t)(niov - out_num);
	elem->out_len = (uint32_t)out_len;
	elem->in_len = (uint32_t)in_len;
	return PV_DROP_NONE;
}

/*
 * The common chain, one direct descriptor (no NEXT, no INDIRECT), from its
 * one copy @d: the checks map_chain() makes on such a descriptor, in the
 * same order, without the walk.
 */
static inline enum pv_drop map_single(struct vring *vq, uint16_t head,
				      const struct vring_desc *d, uint16_t flags,
				      struct vring_elem *elem,
				      enum vring_dir dir)
{
	uint32_t len = le32toh(d->len);
	unsigned niov = 0;
	enum pv_drop why;

	elem->head = head;
	elem->iov = elem->iov_inl;
	if (unlikely(len == 0))
		return PV_DROP_RING_DESC_ZERO_LEN;
	if (flags & VRING_DESC_F_WRITE) {
		if (unlikely(dir == VRING_DIR_OUT))
			return PV_DROP_RING_READ_WO;
	} else if (unlikely(dir == VRING_DIR_IN)) {
		return PV_DROP_RING_WRITE_RO;
	}
	/* A single descriptor cannot loop: a segment overflow stays one. */
	why = vring_map_desc(vq, elem, &niov, le64toh(d->addr), len);
	if (unlikely(why != PV_DROP_NONE))
		return why;
	vring_elem_single(elem, flags, niov, len);
	return PV_DROP_NONE;
}

/* The head of the chain @i after last_avail, as the guest wrote it (unchecked). */
static inline uint16_t avail_head(const struct vring *vq, unsigned i)
{
	return le16toh(READ_ONCE(vq->avail->ring[(uint16_t)(vq->last_avail + i) &
						 vq->mask]));
}

/*
 * Pops the chain at last_avail, whose head the caller read (@head, not yet
 * checked); the caller made sure one is available.
 * Inlined into each burst loop: a call per chain cost ~25 instructions of
 * saves and restores, a quarter of a one-descriptor pop.
 */
static inline __attribute__((always_inline)) int
pop_available(struct vring *vq, struct vring_elem *elem, enum vring_dir dir,
	      uint16_t head)
{
	struct vring_desc d;
	uint16_t flags;
	enum pv_drop why;

	if (unlikely(head >= vq->size)) {
		vring_fail(vq, PV_DROP_RING_HEAD_OOR);
		return -EIO;
	}
	/* The head descriptor is copied once, here, whichever path runs. */
	read_desc(&d, (const uint8_t *)vq->desc, head);
	flags = le16toh(d.flags);
	if (likely(!(flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT))))
		why = map_single(vq, head, &d, flags, elem, dir);
	else
		why = map_chain(vq, head, elem, dir, d);
	if (unlikely(why != PV_DROP_NONE)) {
		vring_fail(vq, why);
		return -EIO;
	}
	vq->last_avail++;
	return 1;
}

int vring_pop_one(struct vring *vq, struct vring_elem *elem,
		  enum vring_dir dir)
{
	if (unlikely(!split_running(vq)))
		return vq->state == VRING_RUNNING_PACKED ?
		       vring_pk_pop(vq, elem, dir) : -EIO;
	if (vq->last_avail == vq->avail_seen) {
		int num = refresh_avail(vq);

		if (num < 0)
			return -EIO;
		if (num == 0)
			return 0;
	}
	return pop_available(vq, elem, dir, avail_head(vq, 0));
}

/*
 * Reads the heads of the next @n available chains into @heads (each entry
 * once: the pops use these copies) and prefetches their descriptors, so
 * that the burst's descriptor lines, which the guest wrote, come in
 * together instead of one dependent miss per chain. The prefetch address is
 * bounded by the table whatever the guest wrote; the pop still checks the
 * head (a prefetch never faults, but it must not point outside the ring).
 */
static inline __attribute__((always_inline)) void
read_heads(const struct vring *vq, uint16_t *heads, unsigned n)
{
	const uint16_t *ring = vq->avail->ring;
	const struct vring_desc *desc = vq->desc;
	uint16_t at = vq->last_avail, mask = vq->mask;

	for (unsigned i = 0; i < n; i++, at++) {
		uint16_t h = le16toh(READ_ONCE(ring[at & mask]));

		heads[i] = h;
		__builtin_prefetch(&desc[h & mask], 0, 3);
	}
}

/*
 * The split ring's burst prologue (pop and RX reserve): one read of
 * avail->idx, at most @n and VRING_BURST_MAX chains, their heads read into
 * @heads; returns how many (0: none available or the ring broke).
 */
static inline __attribute__((always_inline)) unsigned
burst_heads(struct vring *vq, unsigned n, uint16_t *heads)
{
	int num = refresh_avail(vq);

	if (num <= 0)
		return 0;
	if ((unsigned)num < n)
		n = (unsigned)num;
	if (n > VRING_BURST_MAX)
		n = VRING_BURST_MAX;
	read_heads(vq, heads, n);
	return n;
}

unsigned vring_pop_burst(struct vring *vq, struct vring_elem *elems,
			 unsigned n, enum vring_dir dir)
{
	uint16_t heads[VRING_BURST_MAX];
	uint64_t bytes = 0;
	unsigned i;

	if (unlikely(!split_running(vq)))
		return vq->state == VRING_RUNNING_PACKED ?
		       vring_pk_pop_burst(vq, elems, n, dir) : 0;
	n = burst_heads(vq, n, heads);
	for (i = 0; i < n; i++) {
		if (pop_available(vq, &elems[i], dir, heads[i]) < 0)
			break;
		/* read after the whole burst (chain_to_pkt): ask for it now */
		if (likely(elems[i].out_num))
			vring_prefetch_buf(&elems[i], elems[i].out_len, 0);
		bytes += elems[i].out_len;
	}
	/* once a burst: the element writes above may alias vq->st */
	vq->st.pkts += i;
	vq->st.bytes += bytes;
	return i;
}

unsigned vring_rx_reserve_burst(struct vring *vq, const uint32_t *totals,
				unsigned n, struct vring_elem *elems)
{
	uint16_t heads[VRING_BURST_MAX];
	uint64_t bytes = 0;
	unsigned i;

	if (unlikely(!split_running(vq))) {
		return vq->state == VRING_RUNNING_PACKED ?
		       vring_pk_rx_reserve_burst(vq, totals, n, elems) : 0;
	}
	n = burst_heads(vq, n, heads);
	for (i = 0; i < n; i++) {
		if (pop_available(vq, &elems[i], VRING_DIR_IN, heads[i]) < 0)
			break;	/* broken: what was popped before stays good */
		if (elems[i].in_len < totals[i]) {
			vq->last_avail--;	/* not this one: given back */
			break;
		}
		/* the copy writes header and frame after the whole lease */
		vring_prefetch_rxbuf(&elems[i], totals[i]);
		bytes += totals[i];
	}
	vq->st.pkts += i;
	vq->st.bytes += bytes;
	return i;
}

void vring_unpop(struct vring *vq, unsigned n)
{
	if (unlikely(vq->packed)) {
		vring_pk_unpop(vq, n);
		return;
	}
	if (n > vq->size)
		n = vq->size;
	vq->last_avail -= (uint16_t)n;
}

/*
 * Writes a used entry unless it already holds these values: a driver that
 * uses its ring in order puts the same head in the same slot every lap, and
 * equal-sized frames give equal lengths, so the entry often matches. An
 * unwritten line stays shared with the driver's core, which then reads it
 * from its own cache (the driver has just read it, so the compare is a hit
 * for us). Whatever a hostile driver wrote there only decides whether we
 * store: the entry then holds our values, as it would after a store (a
 * driver storing after our compare wins either way).
 */
static inline void used_set(struct vring_used_elem *ue, uint16_t head,
			    uint32_t len)
{
	uint32_t id = htole32(head), l = htole32(len);

	if (READ_ONCE(ue->id) != id)
		WRITE_ONCE(ue->id, id);
	if (READ_ONCE(ue->len) != l)
		WRITE_ONCE(ue->len, l);
}

void vring_stage_used(struct vring *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *ue = &vq->used->ring[vq->used_idx & vq->mask];

	if (unlikely(vq->packed)) {
		vring_pk_stage(vq, vq->used_idx++, len);
		return;
	}
	/* Not visible until vring_flush() moves used->idx past it. */
	WRITE_ONCE(ue->id, htole32(head));
	WRITE_ONCE(ue->len, htole32(len));
	vq->used_idx++;
}

void vring_push(struct vring *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *ue;

	if (unlikely(!split_running(vq))) {
		if (vq->state == VRING_RUNNING_PACKED)
			vring_pk_stage(vq, vq->used_idx++, len);
		return;
	}
	ue = &vq->used->ring[vq->used_idx & vq->mask];
	WRITE_ONCE(ue->id, htole32(head));
	WRITE_ONCE(ue->len, htole32(len));
	vq->used_idx++;
}

uint16_t vring_push_burst(struct vring *vq, const struct vring_elem *elems,
			  unsigned n)
{
	uint16_t first = vq->used_idx;

	if (likely(split_running(vq))) {
		for (unsigned i = 0; i < n; i++) {
			struct vring_used_elem *ue =
				&vq->used->ring[(uint16_t)(first + i) & vq->mask];

			used_set(ue, elems[i].head, 0);
		}
	} else if (vq->state == VRING_RUNNING_PACKED) {
		for (unsigned i = 0; i < n; i++)
			vring_pk_stage(vq, (uint16_t)(first + i), 0);
	} else {
		return first;
	}
	vq->used_idx = (uint16_t)(first + n);
	return first;
}

void vring_flush(struct vring *vq)
{
	if (unlikely(!split_running(vq))) {
		if (vq->state == VRING_RUNNING_PACKED)
			vring_pk_publish(vq, vq->used_idx);
		return;
	}
	if (vq->used_idx == vq->used_flushed)
		return;
	if (unlikely(vq->log))
		log_used(vq, vq->used_flushed, vq->used_idx);
	/* Release: buffer data and used entries written before are visible
	 * before the new index (§2.7.8.2; pairs with the driver's acquire
	 * load in vring_drv_get_used). One index store per burst. */
	pv_store_release(&vq->used->idx, htole16(vq->used_idx));
	vq->used_flushed = vq->used_idx;
}

/*
 * Whether the driver's event area asks for a call for used (@from, @to].
 * !@valid: no decision since the ring started, so @from means nothing;
 * with event-idx that is a call (§2.7.10 compares against the last one).
 */
static inline bool driver_wants_call(const struct vring *vq, uint16_t to,
				     uint16_t from, bool valid)
{
	if (vq->event_idx)
		return !valid ||
		       vring_need_event(le16toh(READ_ONCE(*used_event_ptr(vq))),
					to, from);
	return !(le16toh(READ_ONCE(vq->avail->flags)) &
		 VRING_AVAIL_F_NO_INTERRUPT);
}

bool vring_need_call(struct vring *vq)
{
	uint16_t old = vq->signalled_used, new = vq->used_flushed;
	bool valid = vq->signalled_used_valid, need;

	if (unlikely(!split_running(vq)))
		return vq->state == VRING_RUNNING_PACKED &&
		       vring_pk_need_call(vq);
	if (valid && old == new)
		return false;	/* nothing flushed since the last decision */
	/* Full barrier: our used->idx store must be visible before we read
	 * the driver's used_event/flags, or we can miss its re-enable (pairs
	 * with the mb in vring_drv_set_call). */
	pv_smp_mb();
	/* a fenced decision settles what an early one left open, too */
	if (vq->call_recheck) {
		old = vq->recheck_from;
		vq->call_recheck = false;
	}
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	need = driver_wants_call(vq, new, old, valid);
	if (need)
		vq->st.calls++;
	else
		vq->st.calls_suppressed++;
	return need;
}

enum vring_call vring_need_call_early(struct vring *vq)
{
	uint16_t old = vq->signalled_used, new = vq->used_flushed;

	/* an open range never nears 2^16 entries (the event-idx compare's
	 * reach): a ring's worth decides with the barrier */
	if (unlikely(!split_running(vq) || !vq->signalled_used_valid ||
		     (vq->call_recheck &&
		      (uint16_t)(new - vq->recheck_from) >= vq->size)))
		return vring_need_call(vq) ? VRING_CALL_YES : VRING_CALL_NO;
	if (old == new)
		return VRING_CALL_NO;
	vq->signalled_used = new;
	/*
	 * A "yes" needs no barrier (the eventfd write that follows is one);
	 * a "no" read now may be older than our used->idx store: the driver
	 * may have re-enabled, fenced and read the old used->idx meanwhile
	 * (§2.7.10's race), so it stands only once re-read after a barrier.
	 */
	if (driver_wants_call(vq, new, old, true)) {
		vq->st.calls++;
		vq->call_recheck = false;	/* this call covers those too */
		return VRING_CALL_YES;
	}
	vq->st.calls_suppressed++;	/* a yes after the barrier counts a call too */
	if (!vq->call_recheck) {
		vq->call_recheck = true;
		vq->recheck_from = old;
	}
	return VRING_CALL_RECHECK;
}

bool vring_recheck_call(struct vring *vq)
{
	if (!vq->call_recheck)
		return false;
	vq->call_recheck = false;
	if (unlikely(!split_running(vq)))
		return false;
	/* every used entry since the first unchecked "no": the driver's
	 * used_event may lie anywhere in it */
	if (driver_wants_call(vq, vq->signalled_used, vq->recheck_from,
			      true)) {
		vq->st.calls++;
		return true;
	}
	return false;
}

void vring_set_kick(struct vring *vq, bool enable)
{
	if (unlikely(!split_running(vq))) {
		if (vq->state == VRING_RUNNING_PACKED)
			vring_pk_set_kick(vq, enable);
		return;
	}
	if (vq->event_idx) {
		/* §2.7.10: kick when avail->idx passes last_avail. Disabling
		 * writes nothing: the driver kicks at most once more. */
		if (enable) {
			WRITE_ONCE(*avail_event_ptr(vq),
				   htole16(vq->last_avail));
			if (unlikely(vq->log))
				vring_log_gpa(vq, vq->log_used_gpa +
					      (uint64_t)((uint8_t *)avail_event_ptr(vq) -
							 (uint8_t *)vq->used), 2);
		}
	} else {
		WRITE_ONCE(vq->used->flags,
			   htole16(enable ? 0 : VRING_USED_F_NO_NOTIFY));
		if (unlikely(vq->log))
			vring_log_gpa(vq, vq->log_used_gpa, 2);
	}
	/* Full barrier: the store above before the caller's re-check of
	 * avail->idx, or a chain published meanwhile goes unnoticed (pairs
	 * with the mb in vring_drv_need_kick). Callers re-check after
	 * enabling. */
	pv_smp_mb();
}

/* ---- driver side ---- */

void vring_drv_init_at(struct vring *vq, uint16_t idx)
{
	if (!vq->drv_next)
		return;
	if (vq->packed) {
		vring_pk_drv_init(vq, idx);
		return;
	}
	for (uint32_t i = 0; i < vq->size; i++) {
		vq->drv_next[i] = (uint16_t)(i + 1);
		vq->drv_chain_len[i] = 0;
		vq->drv_cookie[i] = NULL;
		vq->drv_epoch[i] = 0;
	}
	vq->drv_epochs = 0;
	vq->free_head = 0;
	vq->num_free = vq->size;
	vq->shadow_avail = idx;
	vq->last_used = idx;
	vq->kicked_avail = idx;
	vq->drv_pub = idx;
	if (vq->drv_in_order)
		vring_sp_drv_io_init(vq, idx);
	/* The driver owns the ring memory and sets its initial state. */
	WRITE_ONCE(vq->avail->flags, 0);
	WRITE_ONCE(vq->avail->idx, htole16(idx));
	WRITE_ONCE(*used_event_ptr(vq), htole16(idx));
	WRITE_ONCE(vq->used->flags, 0);
	WRITE_ONCE(vq->used->idx, htole16(idx));
	WRITE_ONCE(*avail_event_ptr(vq), htole16(idx));
	vq->broken_reason = PV_DROP_NONE;
	vq->state = VRING_RUNNING;
	pv_smp_mb();
}

void vring_drv_init(struct vring *vq)
{
	/* §2.8.1: a packed ring starts with both wrap counters 1 */
	vring_drv_init_at(vq, vq->packed ? VRING_PACKED_WRAP : 0);
}

int vring_drv_add(struct vring *vq, const struct vring_buf *bufs,
		  unsigned out_n, unsigned in_n, void *cookie)
{
	unsigned total = out_n + in_n;
	uint64_t in_bytes = 0;
	uint16_t head, i;

	if (vq->packed)
		return vring_pk_drv_add(vq, bufs, out_n, in_n, cookie);
	if (vq->drv_in_order)
		return vring_sp_drv_io_add(vq, bufs, out_n, in_n, cookie);
	if (unlikely(!vring_ready(vq) || !vq->drv_next))
		return -EIO;
	if (total == 0 || total > vq->size)
		return -EINVAL;
	if (total > vq->num_free)
		return -ENOSPC;
	head = i = vq->free_head;
	for (unsigned k = 0; k < total; k++) {
		struct vring_desc *d = &vq->desc[i];
		uint16_t flags = 0;

		if (k + 1 < total)
			flags |= VRING_DESC_F_NEXT;
		if (k >= out_n) {
			flags |= VRING_DESC_F_WRITE;
			in_bytes += bufs[k].len;
		}
		d->addr = htole64(bufs[k].addr);
		d->len = htole32(bufs[k].len);
		d->flags = htole16(flags);
		d->next = htole16(vq->drv_next[i]);
		i = vq->drv_next[i];
	}
	vq->free_head = i;
	vq->num_free -= (uint16_t)total;
	vq->drv_chain_len[head] = (uint16_t)total;
	vq->drv_epoch[head] = vq->drv_epochs;
	vq->drv_cookie[head] = cookie;
	vq->drv_in_len[head] = in_bytes > UINT32_MAX ? UINT32_MAX :
			       (uint32_t)in_bytes;
	/* Not visible until vring_drv_publish() stores avail->idx. */
	WRITE_ONCE(vq->avail->ring[vq->shadow_avail & vq->mask],
		   htole16(head));
	vq->shadow_avail++;
	return 0;
}

void vring_drv_publish(struct vring *vq)
{
	if (vq->packed) {
		vring_pk_drv_publish(vq);
		return;
	}
	if (unlikely(!vring_ready(vq)))
		return;
	/* Release: descriptors and avail ring entries before the index
	 * (pairs with the device's acquire load in refresh_avail). */
	pv_store_release(&vq->avail->idx, htole16(vq->shadow_avail));
	vq->drv_pub = vq->shadow_avail;
	vq->drv_epochs++;	/* every head added so far is published */
}

bool vring_drv_need_kick(struct vring *vq)
{
	uint16_t old = vq->kicked_avail, new = vq->shadow_avail;
	bool need;

	if (vq->packed)
		return vring_pk_drv_need_kick(vq);
	if (unlikely(!vring_ready(vq)) || old == new)
		return false;
	/* Full barrier: the avail->idx store before reading avail_event or
	 * the used flags (pairs with the mb in vring_set_kick). */
	pv_smp_mb();
	vq->kicked_avail = new;
	if (vq->event_idx) {
		uint16_t ev = le16toh(READ_ONCE(*avail_event_ptr(vq)));

		need = vring_need_event(ev, new, old);
	} else {
		need = !(le16toh(READ_ONCE(vq->used->flags)) &
			 VRING_USED_F_NO_NOTIFY);
	}
	if (need)
		vq->st.kicks++;
	else
		vq->st.kicks_suppressed++;
	return need;
}

bool vring_drv_has_used(struct vring *vq)
{
	if (vq->packed)
		return vring_pk_drv_has_used(vq);
	if (unlikely(!vring_ready(vq)))
		return false;
	/* in order: chains of a batch already read */
	if (vq->drv_io_pend)
		return true;
	return le16toh(READ_ONCE(vq->used->idx)) != vq->last_used;
}

/* Returns the descriptors of the chain at @head to the free list. */
static void drv_free_chain(struct vring *vq, uint16_t head)
{
	uint16_t n = vq->drv_chain_len[head], tail = head;

	for (uint16_t k = 1; k < n; k++)
		tail = vq->drv_next[tail];
	vq->drv_next[tail] = vq->free_head;
	vq->free_head = head;
	vq->num_free += n;
	vq->drv_chain_len[head] = 0;
}

unsigned vring_drv_get_used(struct vring *vq, void **cookies, uint32_t *lens,
			    unsigned n)
{
	uint16_t idx, num;
	unsigned i;

	if (vq->packed)
		return vring_pk_drv_get_used(vq, cookies, lens, n);
	if (vq->drv_in_order)
		return vring_sp_drv_io_get_used(vq, cookies, lens, n);
	if (unlikely(!vring_ready(vq) || !vq->drv_next))
		return 0;
	/* Acquire: used entries were written before the device's release
	 * store of used->idx (vring_flush). */
	idx = le16toh(pv_load_acquire(&vq->used->idx));
	num = (uint16_t)(idx - vq->last_used);
	/* published and not harvested: never more than the ring holds */
	if (unlikely(num > (uint16_t)(vq->drv_pub - vq->last_used))) {
		vring_fail(vq, PV_DROP_RING_USED_IDX);
		return 0;
	}
	if (num < n)
		n = num;
	{
		/* On locals: the caller's arrays may alias nothing of ours,
		 * but the compiler cannot know that. */
		const struct vring_used_elem *ring = vq->used->ring;
		const uint64_t *epoch = vq->drv_epoch;
		const uint64_t epochs = vq->drv_epochs;
		const uint16_t *chain_len = vq->drv_chain_len;
		const uint32_t *in_len = vq->drv_in_len;
		void **ck = vq->drv_cookie;
		uint16_t last = vq->last_used, mask = vq->mask, size = vq->size;
		uint64_t bytes = 0;

		for (i = 0; i < n; i++) {
			const struct vring_used_elem *ue = &ring[last & mask];
			uint32_t id = le32toh(READ_ONCE(ue->id));
			uint32_t len = le32toh(READ_ONCE(ue->len));

			/* in flight and published */
			if (unlikely(id >= size || !chain_len[id] ||
				     drv_unpublished(epoch, epochs, id))) {
				vring_fail(vq, PV_DROP_RING_USED_ID);
				break;
			}
			/* §2.7.8: len counts bytes written into the chain. */
			if (unlikely(len > in_len[id])) {
				vring_fail(vq, PV_DROP_RING_USED_LEN);
				break;
			}
			if (cookies)
				cookies[i] = ck[id];
			if (lens)
				lens[i] = len;
			ck[id] = NULL;
			drv_free_chain(vq, (uint16_t)id);
			last++;
			bytes += len;
		}
		vq->last_used = last;
		vq->st.pkts += i;
		vq->st.bytes += bytes;
	}
	return i;
}

void vring_drv_set_call(struct vring *vq, bool enable)
{
	if (vq->packed) {
		vring_pk_drv_set_call(vq, enable);
		return;
	}
	if (unlikely(!vring_ready(vq)))
		return;
	if (vq->event_idx) {
		/* §2.7.10: interrupt when used->idx passes last_used. */
		if (enable)
			WRITE_ONCE(*used_event_ptr(vq),
				   htole16(vq->last_used));
	} else {
		WRITE_ONCE(vq->avail->flags,
			   htole16(enable ? 0 : VRING_AVAIL_F_NO_INTERRUPT));
	}
	/* Full barrier: the store above before the caller's re-check of
	 * used->idx (pairs with the mb in vring_need_call). */
	pv_smp_mb();
}

/*
 * Used-ring leases: several workers may fill one RX ring at once. Each
 * reserves buffers and used slots under the port's short lock, copies
 * without it, and the lock holder that completes the oldest lease publishes
 * every finished slot in order (netmap VALE's leases).
 */
uint16_t vring_used_reserve(struct vring *vq, unsigned n)
{
	uint16_t slot = vq->used_idx;

	vq->used_idx = (uint16_t)(vq->used_idx + n);
	return slot;
}

void vring_used_write(struct vring *vq, uint16_t slot, uint16_t head,
		      uint32_t len)
{
	struct vring_used_elem *ue = &vq->used->ring[slot & vq->mask];

	if (unlikely(vq->packed)) {
		vring_pk_stage(vq, slot, len);	/* the ID is the popped one */
		return;
	}
	WRITE_ONCE(ue->id, htole32(head));
	WRITE_ONCE(ue->len, htole32(len));
}

void vring_used_write_burst(struct vring *vq, uint16_t slot,
			    const struct vring_elem *elems,
			    const uint32_t *lens, unsigned n)
{
	if (unlikely(vq->packed)) {
		for (unsigned i = 0; i < n; i++)
			vring_pk_stage(vq, (uint16_t)(slot + i), lens[i]);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct vring_used_elem *ue =
			&vq->used->ring[(uint16_t)(slot + i) & vq->mask];

		used_set(ue, elems[i].head, lens[i]);
	}
}

void vring_used_publish(struct vring *vq, uint16_t upto)
{
	if (unlikely(!split_running(vq))) {
		if (vq->state == VRING_RUNNING_PACKED)
			vring_pk_publish(vq, upto);
		return;
	}
	if (upto == vq->used_flushed)
		return;
	if (unlikely(vq->log))
		log_used(vq, vq->used_flushed, upto);
	/* Release: the entries and the data they describe are visible first
	 * (§2.7.8.2; pairs with the driver's acquire of used->idx). */
	pv_store_release(&vq->used->idx, htole16(upto));
	vq->used_flushed = upto;
}
