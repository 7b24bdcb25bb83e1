// SPDX-License-Identifier: MIT
/*
 * vhu_backend.c - the vhost-user backend device: request table, handlers and
 * the per-vring state machine (QEMU docs/interop/vhost-user.rst).
 *
 * Security model
 * --------------
 * The frontend (QEMU, DPDK virtio-user, pvnet guest) is untrusted: it is one
 * step removed from the guest and may be the guest's accomplice. Every field
 * of every message is hostile: sizes, counts, indexes, addresses, flags and
 * the fds that ride along. The code promises:
 *  - a message is checked against its row of req_table (payload size, fd
 *    count, vring index) before any handler sees it; the handler then reads
 *    only the payload bytes the row guarantees;
 *  - every fd received is either kept in exactly one owned slot or closed,
 *    on every path (including rejected messages and too many fds);
 *  - memory is mapped only through gmem_add_region() (overflow, overlap and
 *    file-size checks), and a new table is built aside and swapped in whole:
 *    a failed SET_MEM_TABLE leaves nothing half-applied;
 *  - ring addresses are translated and bounds-checked (contiguous in one
 *    region, aligned) each time a ring starts, so no hva survives a remap;
 *  - a mapped file that shrinks (or a hugetlbfs pool that runs dry) raises
 *    SIGBUS; the gmem guard replaces the mapping with zeros and bumps
 *    st.mem_faults, the port stops using the rings (vhu_dev_mem_faulted)
 *    until a new memory table or session, and vhu_dev_tick() counts it as
 *    VHU_MEM_FAULT and logs it;
 *  - a fault is counted in stats.faults under one VHU_* reason and logged
 *    rate-limited with the port name; then the frontend gets an error reply
 *    (when it asked for one with REPLY_ACK) or the connection is closed.
 *    Never an assert, abort or unbounded loop on a peer's value.
 * Do not assume received fields contain sensible values.
 *
 * Theory of operation
 * -------------------
 * A vring RUNS when it has NUM, ADDR, a memory table, a kick fd (or NOFD:
 * polling) and is enabled. Rings start disabled when the frontend negotiated
 * VHOST_USER_F_PROTOCOL_FEATURES, enabled otherwise (vhost-user.rst, "Ring
 * states"). GET_VRING_BASE stops a ring and forgets its kick (a new
 * SET_VRING_KICK starts it again). Requests that change what a running ring
 * points at stop it first and restart it afterwards (the "quiesce" column):
 * the owner hears queue_state(false) before and (true) after, and the ring's
 * hvas are derived again from the stored uvas.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vhu_internal.h"

void vhu_fault(struct vhu_dev *dev, enum pv_drop why, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	if ((unsigned)why < PV_DROP_MAX)
		dev->st.faults.n[why]++;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pv_log_ratelimited(&dev->rl, PV_LOG_WARN, "port %s: vhost-user: %s (%s)",
			   dev->name, detail, pv_drop_name(why));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Ownership of a message fd moves to the caller: the slot no longer has it. */
static int take_fd(struct vhu_msg *msg, unsigned i)
{
	int fd = msg->fds[i];

	msg->fds[i] = -1;
	return fd;
}

static bool ring_enabled(const struct vhu_dev *dev,
			 const struct vhu_vring_ctl *vr)
{
	if (!(dev->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		return true;
	return vr->enabled;
}

/*
 * Stops the running rings in @mask (bit i: vring i): the owner unpublishes
 * each, then one grace period (ops.quiesce) for all of them, then the
 * rings are torn down. One message costs one grace period at most, and no
 * worker is ever parked (docs/architecture.md, "The contract").
 */
void vhu_stop_rings(struct vhu_dev *dev, uint64_t mask)
{
	uint64_t stopping = 0;

	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		if (!(mask & (1ULL << i)) || !dev->vr[i].running)
			continue;
		stopping |= 1ULL << i;
		if (dev->ops.queue_state)
			dev->ops.queue_state(dev->opaque, i, false);
	}
	if (!stopping)
		return;
	if (dev->ops.quiesce)
		dev->ops.quiesce(dev->opaque);
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		struct vhu_vring_ctl *vr = &dev->vr[i];

		if (!(stopping & (1ULL << i)))
			continue;
		vr->base = vring_stop(&vr->vq);
		vring_teardown(&vr->vq);
		vr->running = false;
	}
}

static void ring_stop(struct vhu_dev *dev, unsigned idx)
{
	vhu_stop_rings(dev, 1ULL << idx);
}

static void stop_all(struct vhu_dev *dev)
{
	vhu_stop_rings(dev, ~0ULL);
}

/* Running rings a stop of @mask would stop. */
static uint64_t running_of(const struct vhu_dev *dev, uint64_t mask)
{
	uint64_t r = 0;

	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++)
		if ((mask & (1ULL << i)) && dev->vr[i].running)
			r |= 1ULL << i;
	return r;
}

/*
 * Token bucket of running-ring restarts per connection: a frontend that
 * stops and restarts its rings in a loop costs every worker a grace period
 * (and a GRO flush) each time, so past a burst that no real frontend
 * reaches (QEMU restarts a ring a few times per device reset) the excess
 * is refused. Returns false (fault counted) when the bucket is empty.
 */
static bool restart_allowed(struct vhu_dev *dev)
{
	uint64_t now = pv_now_ns();
	uint64_t add = (now - dev->rs_last_ns) / (1000000000ULL / VHU_RESTART_RATE);

	if (add) {
		dev->rs_tokens = dev->rs_tokens + add > VHU_RESTART_BURST ?
				 VHU_RESTART_BURST : dev->rs_tokens + (unsigned)add;
		dev->rs_last_ns = now;
	}
	if (dev->rs_tokens == 0)
		return false;
	dev->rs_tokens--;
	return true;
}

/*
 * Translates one ring part: it must lie in one region (contiguous in our
 * mapping) and be aligned as virtio 1.2 §2.7 requires. Counts the fault.
 */
static void *ring_part(struct vhu_dev *dev, unsigned idx, const char *what,
		       uint64_t uva, uint64_t len, uint64_t align)
{
	uint64_t got = 0;
	void *hva = gmem_uva_translate(&dev->gm, uva, len, &got);

	if (!hva) {
		vhu_fault(dev, PV_DROP_VHU_VRING_ADDR,
			  "vring %u %s uva 0x%llx+%llu outside guest memory",
			  idx, what, (unsigned long long)uva,
			  (unsigned long long)len);
		return NULL;
	}
	if (got < len) {
		vhu_fault(dev, PV_DROP_RING_LAYOUT,
			  "vring %u %s uva 0x%llx+%llu spans regions", idx,
			  what, (unsigned long long)uva,
			  (unsigned long long)len);
		return NULL;
	}
	if ((uintptr_t)hva & (align - 1)) {
		vhu_fault(dev, PV_DROP_VHU_VRING_ADDR,
			  "vring %u %s uva 0x%llx misaligned", idx, what,
			  (unsigned long long)uva);
		return NULL;
	}
	return hva;
}

static int ring_translate(struct vhu_dev *dev, unsigned idx, void **desc,
			  void **avail, void **used)
{
	struct vhu_vring_ctl *vr = &dev->vr[idx];
	/* packed (vhost-user.rst): descriptor ring, driver and device event
	 * areas, 4 bytes each */
	bool packed = dev->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);

	*desc = ring_part(dev, idx, "desc", vr->addr.desc_uva,
			  vring_desc_bytes(vr->num), 16);
	if (!*desc)
		return -EFAULT;
	*avail = ring_part(dev, idx, packed ? "driver event" : "avail",
			   vr->addr.avail_uva,
			   packed ? 4 : vring_avail_bytes(vr->num),
			   packed ? 4 : 2);
	if (!*avail)
		return -EFAULT;
	*used = ring_part(dev, idx, packed ? "device event" : "used",
			  vr->addr.used_uva,
			  packed ? 4 : vring_used_bytes(vr->num), 4);
	if (!*used)
		return -EFAULT;
	return 0;
}

/*
 * The used ring's guest-physical address, for the dirty log: log_gpa when
 * the frontend gave it (VHU_VRING_F_LOG), else found through the region
 * that maps the ring's frontend address. Returns false if neither.
 */
static bool used_gpa(const struct vhu_dev *dev, const struct vhu_vring_ctl *vr,
		     uint64_t *gpa)
{
	if (vr->addr.flags & VHU_VRING_F_LOG) {
		*gpa = vr->addr.log_gpa;
		return true;
	}
	for (unsigned i = 0; i < dev->gm.n; i++) {
		const struct gmem_region *r = &dev->gm.r[i];
		uint64_t off = vr->addr.used_uva - r->uva;

		if (off < r->size) {
			*gpa = r->gpa + off;
			return true;
		}
	}
	return false;
}

/*
 * Gives stopped ring @idx the dirty log if LOG_ALL is negotiated (set
 * before the ring is published, so workers see it with the ring). LOG_ALL
 * without a log cannot be honoured: said once and counted, and the rings
 * run unlogged (the frontend's migration would copy stale pages, which is
 * its own doing; QEMU always sends the log first).
 */
static void ring_set_log(struct vhu_dev *dev, unsigned idx)
{
	struct vhu_vring_ctl *vr = &dev->vr[idx];
	uint64_t gpa = 0;

	if (!(dev->features & VIRTIO_BIT(VHOST_F_LOG_ALL))) {
		vring_set_log(&vr->vq, NULL, 0, 0);
		return;
	}
	if (!dev->log.len) {
		if (!dev->log_missing_said)
			vhu_fault(dev, PV_DROP_VHU_LOG,
				  "LOG_ALL negotiated without SET_LOG_BASE: "
				  "writes into guest memory are not logged");
		dev->log_missing_said = true;
		vring_set_log(&vr->vq, NULL, 0, 0);
		return;
	}
	if (!used_gpa(dev, vr, &gpa))
		vhu_fault(dev, PV_DROP_VHU_LOG,
			  "vring %u: used ring in no region: its writes are not logged",
			  idx);
	vring_set_log(&vr->vq, dev->log.ptr, dev->log.size, gpa);
}

/*
 * Starts ring @idx if everything it needs is there; nothing to do is not an
 * error. Returns 0, or a negative errno (fault counted) if it cannot start.
 */
static int ring_try_start(struct vhu_dev *dev, unsigned idx)
{
	struct vhu_vring_ctl *vr = &dev->vr[idx];
	struct vring_stats keep;
	void *desc, *avail, *used;
	int rc;

	if (vr->running || !vr->has_num || !vr->has_addr || !vr->kick_set ||
	    !dev->gm.n || !ring_enabled(dev, vr))
		return 0;
	rc = ring_translate(dev, idx, &desc, &avail, &used);
	if (rc)
		return rc;
	/* the queue's counters outlive its restarts */
	keep = vr->vq.st;
	vr->vq.name = dev->name;
	rc = vring_setup(&vr->vq, (uint16_t)vr->num, desc, avail, used,
			 dev->features, &dev->gm);
	vr->vq.st = keep;
	if (rc) {
		vring_teardown(&vr->vq);
		if (rc == -EINVAL)
			vhu_fault(dev, PV_DROP_VHU_VRING_ADDR,
				  "vring %u layout rejected", idx);
		return rc;
	}
	ring_set_log(dev, idx);
	vring_start(&vr->vq, vr->base);
	vr->running = true;
	pv_log(PV_LOG_DEBUG, "port %s: vring %u running (size %u, base %u)",
	       dev->name, idx, vr->num, vr->base);
	if (dev->ops.queue_state)
		dev->ops.queue_state(dev->opaque, idx, true);
	return 0;
}

static int start_all(struct vhu_dev *dev)
{
	int ret = 0;

	for (unsigned i = 0; i < 2 * dev->max_qp; i++) {
		int rc = ring_try_start(dev, i);

		if (rc && !ret)
			ret = rc;
	}
	return ret;
}

/* Forgets the vrings' configuration and closes their fds (rings stopped). */
static void rings_reset(struct vhu_dev *dev)
{
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		struct vhu_vring_ctl *vr = &dev->vr[i];
		struct vring_stats keep = vr->vq.st;

		PV_ASSERT(!vr->running);
		close_fd(&vr->kickfd);
		close_fd(&vr->callfd);
		close_fd(&vr->errfd);
		memset(vr, 0, sizeof(*vr));
		vr->vq.st = keep;
		vr->kickfd = vr->callfd = vr->errfd = -1;
	}
}

void vhu_dev_session_init(struct vhu_dev *dev)
{
	dev->session = false;
	dev->throttled = false;
	dev->owner = false;
	dev->features = 0;
	dev->proto = 0;
	dev->status = 0;
	dev->mtu = 0;
	dev->rs_tokens = VHU_RESTART_BURST;
	dev->rs_last_ns = pv_now_ns();
	gmem_init(&dev->gm);
	gmem_set_fault_counter(&dev->gm, &dev->st.mem_faults);
	dev->gm.name = dev->name;
	memset(&dev->log, 0, sizeof(dev->log));
	dev->log.guard = -1;
	dev->log_missing_said = false;
	vhu_dev_mem_renew(dev);
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		memset(&dev->vr[i], 0, sizeof(dev->vr[i]));
		dev->vr[i].kickfd = dev->vr[i].callfd = dev->vr[i].errfd = -1;
	}
}

/* RESET_OWNER / RESET_DEVICE: back to a fresh device, same connection. */
static void device_reset(struct vhu_dev *dev)
{
	stop_all(dev);
	rings_reset(dev);
	gmem_clear(&dev->gm);
	gmem_unmap_file(&dev->log);
	dev->features = 0;
	dev->status = 0;
	dev->mtu = 0;
}

/* ---- handlers: return 0, or a negative errno after vhu_fault() ---- */

static int h_get_features(struct vhu_dev *dev, struct vhu_msg *msg,
			  unsigned idx)
{
	(void)idx;
	msg->payload.u64 = dev->offered;
	msg->hdr.size = sizeof(uint64_t);
	return 0;
}

static int h_set_features(struct vhu_dev *dev, struct vhu_msg *msg,
			  unsigned idx)
{
	uint64_t f = msg->payload.u64;

	(void)idx;
	if (f & ~dev->offered) {
		vhu_fault(dev, PV_DROP_VHU_FEATURES,
			  "SET_FEATURES 0x%llx has unoffered bits 0x%llx",
			  (unsigned long long)f,
			  (unsigned long long)(f & ~dev->offered));
		return -EINVAL;
	}
	dev->features = f;
	return 0;
}

static int h_set_owner(struct vhu_dev *dev, struct vhu_msg *msg, unsigned idx)
{
	(void)msg;
	(void)idx;
	dev->owner = true;
	return 0;
}

static int h_reset(struct vhu_dev *dev, struct vhu_msg *msg, unsigned idx)
{
	(void)msg;
	(void)idx;
	device_reset(dev);
	return 0;
}

static int mem_fault(struct vhu_dev *dev, int rc, unsigned i)
{
	enum pv_drop why = PV_DROP_VHU_MEM_MAP;

	if (rc == -EINVAL || rc == -ERANGE || rc == -EOVERFLOW)
		why = PV_DROP_VHU_MEM_REGION;
	else if (rc == -ENOSPC)
		why = PV_DROP_VHU_MEM_NREGIONS;
	vhu_fault(dev, why, "memory region %u rejected: %s", i, strerror(-rc));
	return rc;
}

static int h_set_mem_table(struct vhu_dev *dev, struct vhu_msg *msg,
			   unsigned idx)
{
	const struct vhu_mem_table *mt = &msg->payload.mem;
	uint32_t n = mt->nregions;
	struct gmem next;

	(void)idx;
	/* counts first, before touching any region (DPDK, style §6.11) */
	if (n > VHU_MEM_TABLE_MAX_REGIONS) {
		vhu_fault(dev, PV_DROP_VHU_MEM_NREGIONS,
			  "SET_MEM_TABLE with %u regions (max %u)", n,
			  VHU_MEM_TABLE_MAX_REGIONS);
		return -EINVAL;
	}
	if (n != msg->nfds) {
		vhu_fault(dev, PV_DROP_VHU_MSG_FDS,
			  "SET_MEM_TABLE: %u regions but %u fds", n, msg->nfds);
		return -EINVAL;
	}
	if (msg->hdr.size != 8 + n * sizeof(struct vhu_mem_region)) {
		vhu_fault(dev, PV_DROP_VHU_MSG_SIZE,
			  "SET_MEM_TABLE: %u regions in %u bytes", n,
			  msg->hdr.size);
		return -EINVAL;
	}
	/* built aside, swapped in whole: a failure leaves the old table */
	gmem_init(&next);
	gmem_set_fault_counter(&next, &dev->st.mem_faults);
	next.name = dev->name;
	for (uint32_t i = 0; i < n; i++) {
		const struct vhu_mem_region *r = &mt->regions[i];
		int rc = gmem_add_region(&next, r->gpa, r->size, r->uva,
					 r->mmap_offset, msg->fds[i]);

		if (rc) {
			gmem_clear(&next);
			return mem_fault(dev, rc, i);
		}
	}
	/* rings were stopped by the quiesce column; restarted afterwards */
	gmem_clear(&dev->gm);
	dev->gm = next;
	vhu_dev_mem_renew(dev);
	return 0;
}

static int h_get_max_mem_slots(struct vhu_dev *dev, struct vhu_msg *msg,
			       unsigned idx)
{
	(void)dev;
	(void)idx;
	msg->payload.u64 = GMEM_MAX_REGIONS;
	msg->hdr.size = sizeof(uint64_t);
	return 0;
}

static int h_add_mem_reg(struct vhu_dev *dev, struct vhu_msg *msg,
			 unsigned idx)
{
	const struct vhu_mem_region *r = &msg->payload.mem_single.region;
	struct gmem_region *same;
	int rc;

	(void)idx;
	/*
	 * QEMU's vhost-user net has one vhost_dev per queue pair on the same
	 * connection, each with its own shadow of the regions it added: with
	 * two queue pairs every region comes twice. The same region again is
	 * not an overlap: count it, and unmap at the last REM_MEM_REG.
	 */
	same = gmem_find_region(&dev->gm, r->gpa, r->size, r->uva);
	if (same) {
		same->dup_adds++;
		return 0;
	}
	rc = gmem_add_region(&dev->gm, r->gpa, r->size, r->uva, r->mmap_offset,
			     msg->fds[0]);
	if (rc)
		return mem_fault(dev, rc, dev->gm.n);
	/* a zeroed region that stays is harmless: garbage, not a crash */
	vhu_dev_mem_renew(dev);
	return 0;
}

static int h_rem_mem_reg(struct vhu_dev *dev, struct vhu_msg *msg,
			 unsigned idx)
{
	const struct vhu_mem_region *r = &msg->payload.mem_single.region;
	struct gmem_region *same;

	(void)idx;
	/* an fd, if QEMU sent one, is closed by the dispatcher unused */
	same = gmem_find_region(&dev->gm, r->gpa, r->size, r->uva);
	if (same && same->dup_adds) {
		same->dup_adds--;	/* another queue pair still uses it */
		return 0;
	}
	if (gmem_remove_region(&dev->gm, r->gpa, r->size)) {
		vhu_fault(dev, PV_DROP_VHU_MEM_REGION,
			  "REM_MEM_REG: no region at gpa 0x%llx size %llu",
			  (unsigned long long)r->gpa,
			  (unsigned long long)r->size);
		return -ENOENT;
	}
	return 0;
}

static int h_set_vring_num(struct vhu_dev *dev, struct vhu_msg *msg,
			   unsigned idx)
{
	uint32_t num = msg->payload.state.num;

	/* virtio 1.2 §2.7: queue size is a power of 2, at most 32768 */
	if (!pv_is_pow2(num) || num > VRING_MAX_SIZE) {
		vhu_fault(dev, PV_DROP_VHU_VRING_NUM,
			  "vring %u: SET_VRING_NUM %u", idx, num);
		return -EINVAL;
	}
	dev->vr[idx].num = num;
	dev->vr[idx].has_num = true;
	return 0;
}

static int h_set_vring_addr(struct vhu_dev *dev, struct vhu_msg *msg,
			    unsigned idx)
{
	struct vhu_vring_ctl *vr = &dev->vr[idx];
	struct vhu_vring_addr prev = vr->addr;
	bool had = vr->has_addr;

	if (!dev->gm.n) {
		vhu_fault(dev, PV_DROP_VHU_MSG_ORDER,
			  "vring %u: SET_VRING_ADDR before the memory table",
			  idx);
		return -EINVAL;
	}
	if (msg->payload.addr.flags & ~VHU_VRING_F_LOG) {
		vhu_fault(dev, PV_DROP_VHU_MSG_VALUE,
			  "vring %u: SET_VRING_ADDR flags 0x%x", idx,
			  msg->payload.addr.flags);
		return -EINVAL;
	}
	/* vhost.h: the log address of the used ring is 32-bit aligned */
	if ((msg->payload.addr.flags & VHU_VRING_F_LOG) &&
	    ((msg->payload.addr.log_gpa & 3) ||
	     msg->payload.addr.log_gpa > UINT64_MAX - vring_used_bytes(VRING_MAX_SIZE))) {
		vhu_fault(dev, PV_DROP_VHU_LOG,
			  "vring %u: used ring log address 0x%llx misaligned or overflowing",
			  idx, (unsigned long long)msg->payload.addr.log_gpa);
		return -EINVAL;
	}
	vr->addr = msg->payload.addr;
	vr->has_addr = true;
	if (vr->has_num) {
		void *d, *a, *u;

		/* fail now rather than at start, when the peer can be told */
		if (ring_translate(dev, idx, &d, &a, &u)) {
			vr->addr = prev;
			vr->has_addr = had;
			return -EFAULT;
		}
	}
	return 0;
}

static int h_set_vring_base(struct vhu_dev *dev, struct vhu_msg *msg,
			    unsigned idx)
{
	uint32_t base = msg->payload.state.num;

	/*
	 * Split: a 16-bit index. Packed: the avail position with its wrap
	 * counter in bit 15; QEMU puts the used one in bits 16-31, which is
	 * the same here (nothing is in flight across a stop), so it is
	 * dropped.
	 */
	if (dev->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED))
		base &= UINT16_MAX;
	if (base > UINT16_MAX) {
		vhu_fault(dev, PV_DROP_VHU_MSG_VALUE,
			  "vring %u: SET_VRING_BASE %u", idx, base);
		return -EINVAL;
	}
	dev->vr[idx].base = (uint16_t)base;
	return 0;
}

static int h_get_vring_base(struct vhu_dev *dev, struct vhu_msg *msg,
			    unsigned idx)
{
	struct vhu_vring_ctl *vr = &dev->vr[idx];

	/* vhost-user.rst: GET_VRING_BASE stops the ring */
	ring_stop(dev, idx);
	close_fd(&vr->kickfd);
	vr->kick_set = false;
	msg->payload.state.index = idx;
	msg->payload.state.num = vr->base;
	/* packed: QEMU reads the used position and wrap from bits 16-31;
	 * nothing is in flight after a stop, so it equals the avail one */
	if (dev->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED))
		msg->payload.state.num |= (uint32_t)vr->base << 16;
	msg->hdr.size = sizeof(msg->payload.state);
	return 0;
}

/* KICK / CALL / ERR: takes the fd (-1 for NOFD); it must be an eventfd. */
static int take_vring_fd(struct vhu_dev *dev, struct vhu_msg *msg,
			 unsigned idx, int *fd)
{
	*fd = -1;
	if (msg->payload.u64 & VHU_VRING_NOFD)
		return 0;
	if (!vhu_fd_is_eventfd(msg->fds[0])) {
		vhu_fault(dev, PV_DROP_VHU_VRING_FD,
			  "vring %u: %s fd is not an eventfd", idx,
			  vhu_req_name(msg->hdr.request));
		return -EINVAL;
	}
	*fd = take_fd(msg, 0);
	return 0;
}

/* KICK / ERR: the old fd is closed (the ring is stopped, or unused by workers). */
static int vring_fd(struct vhu_dev *dev, struct vhu_msg *msg, unsigned idx,
		    int **slot)
{
	int fd, rc = take_vring_fd(dev, msg, idx, &fd);

	if (rc)
		return rc;
	close_fd(*slot);
	**slot = fd;
	return 0;
}

static int h_set_vring_kick(struct vhu_dev *dev, struct vhu_msg *msg,
			    unsigned idx)
{
	int *slot = &dev->vr[idx].kickfd;
	int rc = vring_fd(dev, msg, idx, &slot);

	if (!rc)
		dev->vr[idx].kick_set = true;	/* NOFD: the ring is polled */
	return rc;
}

/*
 * Workers load the call fd of a running ring at any time, so the new fd is
 * published first and the old one closed only after a grace period: no
 * interrupt goes to a closed fd, or to whatever reuses its number.
 */
static int h_set_vring_call(struct vhu_dev *dev, struct vhu_msg *msg,
			    unsigned idx)
{
	struct vhu_vring_ctl *vr = &dev->vr[idx];
	int fd, old, rc = take_vring_fd(dev, msg, idx, &fd);

	if (rc)
		return rc;
	old = __atomic_exchange_n(&vr->callfd, fd, __ATOMIC_ACQ_REL);
	if (old >= 0 && vr->running && dev->ops.quiesce)
		dev->ops.quiesce(dev->opaque);
	if (old >= 0)
		close(old);
	return 0;
}

static int h_set_vring_err(struct vhu_dev *dev, struct vhu_msg *msg,
			   unsigned idx)
{
	int *slot = &dev->vr[idx].errfd;

	return vring_fd(dev, msg, idx, &slot);
}

static int h_set_vring_enable(struct vhu_dev *dev, struct vhu_msg *msg,
			      unsigned idx)
{
	uint32_t on = msg->payload.state.num;

	if (on > 1) {
		vhu_fault(dev, PV_DROP_VHU_MSG_VALUE,
			  "vring %u: SET_VRING_ENABLE %u", idx, on);
		return -EINVAL;
	}
	dev->vr[idx].enabled = on;
	if (!on)
		ring_stop(dev, idx);
	return 0;
}

static int h_get_protocol_features(struct vhu_dev *dev, struct vhu_msg *msg,
				   unsigned idx)
{
	(void)idx;
	msg->payload.u64 = dev->offered_proto;
	msg->hdr.size = sizeof(uint64_t);
	return 0;
}

static int h_set_protocol_features(struct vhu_dev *dev, struct vhu_msg *msg,
				   unsigned idx)
{
	uint64_t f = msg->payload.u64;

	(void)idx;
	if (f & ~dev->offered_proto) {
		vhu_fault(dev, PV_DROP_VHU_FEATURES,
			  "SET_PROTOCOL_FEATURES 0x%llx has unoffered bits",
			  (unsigned long long)f);
		return -EINVAL;
	}
	dev->proto = f;
	return 0;
}

static int h_get_queue_num(struct vhu_dev *dev, struct vhu_msg *msg,
			   unsigned idx)
{
	(void)idx;
	msg->payload.u64 = dev->max_qp;
	msg->hdr.size = sizeof(uint64_t);
	return 0;
}

/*
 * The largest log taken: one bit per 4 KiB page of 16 TiB of guest
 * memory. QEMU sizes it to the guest's RAM (16 KiB for 512 MiB).
 */
#define VHU_LOG_MAX	(512ULL << 20)

/*
 * SET_LOG_BASE (LOG_SHMFD): maps the frontend's dirty bitmap. Every ring
 * was stopped for it (Q_ALL: one grace period), so the old log, if any, is
 * unmapped with no worker writing into it; the rings restart with the new
 * one. QEMU waits for a reply, sent by the dispatcher (an empty payload).
 */
static int h_set_log_base(struct vhu_dev *dev, struct vhu_msg *msg,
			  unsigned idx)
{
	const struct vhu_log *l = &msg->payload.log;
	struct gmem_map m;
	int rc;

	(void)idx;
	if (!(dev->proto & VIRTIO_BIT(VHU_PROTO_F_LOG_SHMFD))) {
		vhu_fault(dev, PV_DROP_VHU_MSG_ORDER,
			  "SET_LOG_BASE without LOG_SHMFD negotiated");
		return -EINVAL;
	}
	if (l->mmap_size == 0 || l->mmap_size > VHU_LOG_MAX ||
	    l->mmap_offset > UINT64_MAX - l->mmap_size) {
		vhu_fault(dev, PV_DROP_VHU_LOG,
			  "SET_LOG_BASE: size %llu at offset %llu (want 1..%llu, no overflow)",
			  (unsigned long long)l->mmap_size,
			  (unsigned long long)l->mmap_offset, VHU_LOG_MAX);
		return -EINVAL;
	}
	rc = gmem_map_file(&m, msg->fds[0], l->mmap_size, l->mmap_offset,
			   &dev->st.mem_faults);
	if (rc) {
		vhu_fault(dev, PV_DROP_VHU_LOG,
			  "SET_LOG_BASE: cannot map %llu bytes at offset %llu: %s",
			  (unsigned long long)l->mmap_size,
			  (unsigned long long)l->mmap_offset,
			  rc == -ERANGE ? "beyond the end of the file" :
			  strerror(-rc));
		return rc;
	}
	if (dev->log.len)
		pv_info("port %s: vhost-user: dirty log replaced (%llu -> %llu bytes)",
			dev->name, (unsigned long long)dev->log.size,
			(unsigned long long)m.size);
	else
		pv_info("port %s: vhost-user: dirty log of %llu bytes (%llu MiB of guest memory)%s",
			dev->name, (unsigned long long)m.size,
			(unsigned long long)(m.size * 8 * 4096 >> 20),
			m.sealed ? "" : ", not sealable: SIGBUS guard only");
	gmem_unmap_file(&dev->log);
	dev->log = m;
	dev->log_missing_said = false;
	dev->st.log_bases++;
	msg->hdr.size = 0;	/* the reply: no payload (QEMU reads the header) */
	return 0;
}

static int h_send_rarp(struct vhu_dev *dev, struct vhu_msg *msg,
		       unsigned idx)
{
	uint8_t mac[6];

	(void)idx;
	memcpy(mac, msg->payload.bytes, sizeof(mac));
	if (mac[0] & 1) {
		vhu_fault(dev, PV_DROP_VHU_MSG_VALUE,
			  "SEND_RARP for a multicast MAC %02x:%02x:%02x:%02x:%02x:%02x",
			  mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		return -EINVAL;
	}
	dev->st.rarps++;
	pv_info("port %s: vhost-user: SEND_RARP for %02x:%02x:%02x:%02x:%02x:%02x",
		dev->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (dev->ops.announce)
		dev->ops.announce(dev->opaque, mac);
	return 0;
}

static int h_net_set_mtu(struct vhu_dev *dev, struct vhu_msg *msg,
			 unsigned idx)
{
	uint64_t mtu = msg->payload.u64;
	unsigned max = dev->cfg_mtu ? dev->cfg_mtu : 65535;

	(void)idx;
	/* virtio 1.2 5.1.4.1: at least 68; the port's mtu= is the upper bound */
	if (mtu < 68 || mtu > max) {
		dev->st.mtu_refused++;
		vhu_fault(dev, PV_DROP_VHU_MSG_VALUE,
			  "NET_SET_MTU %llu refused: the port takes 68..%u",
			  (unsigned long long)mtu, max);
		return -EINVAL;
	}
	dev->mtu = (uint16_t)mtu;
	pv_info("port %s: vhost-user: guest MTU %u", dev->name, dev->mtu);
	return 0;
}

static int h_set_status(struct vhu_dev *dev, struct vhu_msg *msg,
			unsigned idx)
{
	(void)idx;
	if (msg->payload.u64 > UINT8_MAX) {
		vhu_fault(dev, PV_DROP_VHU_MSG_VALUE, "SET_STATUS 0x%llx",
			  (unsigned long long)msg->payload.u64);
		return -EINVAL;
	}
	dev->status = (uint8_t)msg->payload.u64;
	return 0;
}

static int h_get_status(struct vhu_dev *dev, struct vhu_msg *msg,
			unsigned idx)
{
	(void)idx;
	msg->payload.u64 = dev->status;
	msg->hdr.size = sizeof(uint64_t);
	return 0;
}

/* ---- the request table (style §6.11) ---- */

enum sz_rule { SZ_EXACT, SZ_MIN };
enum fd_rule {
	FDS_NONE,	/* no fd */
	FDS_ONE,	/* exactly one */
	FDS_OPT,	/* zero or one (REM_MEM_REG: closed unused) */
	FDS_VRING,	/* one unless the NOFD bit is set in the u64 */
	FDS_MEM,	/* one per region: checked by the handler */
};
enum vidx_rule { VIDX_NONE, VIDX_STATE, VIDX_ADDR, VIDX_FILE };
enum q_rule {
	Q_NONE,
	Q_RING,		/* stop this vring if running, restart after */
	Q_ALL,		/* stop every running vring, restart after */
};

struct vhu_req_row {
	int (*fn)(struct vhu_dev *dev, struct vhu_msg *msg, unsigned idx);
	uint16_t size;
	uint8_t size_rule;
	uint8_t fds;
	uint8_t vidx;
	uint8_t quiesce;
	bool reply;		/* always answers with a payload (GET_*) */
};

#define ROW(req, f, sz, rule, fd, vi, q, rep)				\
	[VHU_REQ_##req] = { .fn = f, .size = sz, .size_rule = rule,	\
			    .fds = fd, .vidx = vi, .quiesce = q, .reply = rep }

static const struct vhu_req_row req_table[VHU_REQ_MAX] = {
	ROW(GET_FEATURES, h_get_features, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, true),
	ROW(SET_FEATURES, h_set_features, 8, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_ALL, false),
	ROW(SET_OWNER, h_set_owner, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, false),
	ROW(RESET_OWNER, h_reset, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, false),
	ROW(SET_MEM_TABLE, h_set_mem_table, 8, SZ_MIN, FDS_MEM, VIDX_NONE, Q_ALL, false),
	ROW(SET_LOG_BASE, h_set_log_base, 16, SZ_EXACT, FDS_ONE, VIDX_NONE, Q_ALL, true),
	ROW(SET_VRING_NUM, h_set_vring_num, 8, SZ_EXACT, FDS_NONE, VIDX_STATE, Q_RING, false),
	ROW(SET_VRING_ADDR, h_set_vring_addr, 40, SZ_EXACT, FDS_NONE, VIDX_ADDR, Q_RING, false),
	ROW(SET_VRING_BASE, h_set_vring_base, 8, SZ_EXACT, FDS_NONE, VIDX_STATE, Q_RING, false),
	ROW(GET_VRING_BASE, h_get_vring_base, 8, SZ_EXACT, FDS_NONE, VIDX_STATE, Q_NONE, true),
	ROW(SET_VRING_KICK, h_set_vring_kick, 8, SZ_EXACT, FDS_VRING, VIDX_FILE, Q_RING, false),
	ROW(SET_VRING_CALL, h_set_vring_call, 8, SZ_EXACT, FDS_VRING, VIDX_FILE, Q_NONE, false),
	ROW(SET_VRING_ERR, h_set_vring_err, 8, SZ_EXACT, FDS_VRING, VIDX_FILE, Q_NONE, false),
	ROW(GET_PROTOCOL_FEATURES, h_get_protocol_features, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, true),
	ROW(SET_PROTOCOL_FEATURES, h_set_protocol_features, 8, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, false),
	ROW(GET_QUEUE_NUM, h_get_queue_num, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, true),
	ROW(SET_VRING_ENABLE, h_set_vring_enable, 8, SZ_EXACT, FDS_NONE, VIDX_STATE, Q_NONE, false),
	ROW(SEND_RARP, h_send_rarp, 8, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, false),
	ROW(NET_SET_MTU, h_net_set_mtu, 8, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, false),
	ROW(RESET_DEVICE, h_reset, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, false),
	ROW(GET_MAX_MEM_SLOTS, h_get_max_mem_slots, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, true),
	ROW(ADD_MEM_REG, h_add_mem_reg, 40, SZ_EXACT, FDS_ONE, VIDX_NONE, Q_ALL, false),
	ROW(REM_MEM_REG, h_rem_mem_reg, 40, SZ_EXACT, FDS_OPT, VIDX_NONE, Q_ALL, false),
	ROW(SET_STATUS, h_set_status, 8, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, false),
	ROW(GET_STATUS, h_get_status, 0, SZ_EXACT, FDS_NONE, VIDX_NONE, Q_NONE, true),
};

/* Pulls the vring index out of a message that carries one. */
static bool msg_vring_idx(const struct vhu_req_row *row,
			  const struct vhu_msg *msg, uint64_t *idx)
{
	switch (row->vidx) {
	case VIDX_STATE:
		*idx = msg->payload.state.index;
		return true;
	case VIDX_ADDR:
		*idx = msg->payload.addr.index;
		return true;
	case VIDX_FILE:
		/* bits above NOFD are reserved: treat them as a bad index */
		*idx = msg->payload.u64 & ~VHU_VRING_NOFD;
		return true;
	default:
		return false;
	}
}

static unsigned fds_expected(const struct vhu_req_row *row,
			     const struct vhu_msg *msg, unsigned *max)
{
	switch (row->fds) {
	case FDS_ONE:
		*max = 1;
		return 1;
	case FDS_OPT:
		*max = 1;
		return 0;
	case FDS_VRING:
		*max = (msg->payload.u64 & VHU_VRING_NOFD) ? 0 : 1;
		return *max;
	case FDS_MEM:
		*max = VHU_MAX_FDS;
		return 0;
	default:
		*max = 0;
		return 0;
	}
}

static int send_reply(struct vhu_dev *dev, struct vhu_msg *msg)
{
	int rc;

	if (dev->conn_fd < 0)
		return 0;	/* vhu_dev_handle_msg() without a connection */
	msg->hdr.flags = VHU_FLAG_VERSION | VHU_FLAG_REPLY;
	rc = vhu_msg_send(dev->conn_fd, msg, NULL, 0, 0);
	if (rc)
		pv_log_ratelimited(&dev->rl, PV_LOG_WARN,
				   "port %s: vhost-user: reply to %s failed: %s",
				   dev->name, vhu_req_name(msg->hdr.request),
				   strerror(-rc));
	return rc;
}

static int send_ack(struct vhu_dev *dev, struct vhu_msg *msg, uint64_t status)
{
	msg->payload.u64 = status;
	msg->hdr.size = sizeof(uint64_t);
	return send_reply(dev, msg);
}

/*
 * QEMU adds and removes every region once per queue pair (see
 * h_add_mem_reg): a repeat leaves the table as it is, so the running rings
 * need not stop for it.
 */
static bool mem_msg_changes_table(struct vhu_dev *dev, const struct vhu_msg *msg)
{
	const struct vhu_mem_region *r = &msg->payload.mem_single.region;
	struct gmem_region *same;

	if (msg->hdr.size < sizeof(msg->payload.mem_single))
		return true;	/* refused by the size check; stop nothing */
	same = gmem_find_region(&dev->gm, r->gpa, r->size, r->uva);
	if (msg->hdr.request == VHU_REQ_ADD_MEM_REG)
		return !same;
	return !same || !same->dup_adds;
}

int vhu_dev_dispatch(struct vhu_dev *dev, struct vhu_msg *msg)
{
	uint32_t req = msg->hdr.request;
	const struct vhu_req_row *row = req < VHU_REQ_MAX ? &req_table[req] :
					NULL;
	bool ack = (msg->hdr.flags & VHU_FLAG_NEED_REPLY) &&
		   (dev->proto & VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK));
	unsigned lo, hi;
	uint64_t idx = 0;
	bool has_idx;
	enum q_rule q;
	enum pv_drop why;
	int rc;

	dev->st.msgs++;
	if (req < VHU_REQ_MAX)
		dev->st.reqs[req]++;
	dev->session = true;
	if (msg->nfds > VHU_MAX_FDS) {
		/* a caller of vhu_dev_handle_msg() lied: close what fits */
		msg->nfds = VHU_MAX_FDS;
		vhu_msg_close_fds(msg);
		vhu_fault(dev, PV_DROP_VHU_MSG_FDS, "too many fds");
		return -EPROTO;
	}
	why = vhu_hdr_check(&msg->hdr, false);
	if (why != PV_DROP_NONE) {
		vhu_fault(dev, why, "%s: header flags 0x%x size %u",
			  vhu_req_name(req), msg->hdr.flags, msg->hdr.size);
		vhu_msg_close_fds(msg);
		return -EPROTO;
	}
	if (!row || !row->fn) {
		vhu_fault(dev, PV_DROP_VHU_MSG_UNKNOWN, "request %u (%s)", req,
			  vhu_req_name(req));
		rc = -EOPNOTSUPP;
		goto fail;
	}
	ack = ack && !row->reply;
	/* vhost-user.rst: "Only legal if feature bit
	 * VHOST_USER_F_PROTOCOL_FEATURES is present in VHOST_USER_GET_FEATURES" */
	if ((req == VHU_REQ_GET_PROTOCOL_FEATURES ||
	     req == VHU_REQ_SET_PROTOCOL_FEATURES) &&
	    !(dev->offered & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))) {
		vhu_fault(dev, PV_DROP_VHU_MSG_ORDER,
			  "%s without protocol features offered",
			  vhu_req_name(req));
		rc = -EINVAL;
		goto fail;
	}
	if (msg->hdr.size < row->size ||
	    (row->size_rule == SZ_EXACT && msg->hdr.size != row->size)) {
		vhu_fault(dev, PV_DROP_VHU_MSG_SIZE, "%s: payload %u bytes",
			  vhu_req_name(req), msg->hdr.size);
		rc = -EINVAL;
		goto fail;
	}
	/* unused payload bytes must not leak old contents into handlers */
	memset(msg->payload.bytes + msg->hdr.size, 0,
	       sizeof(msg->payload) - msg->hdr.size);
	lo = fds_expected(row, msg, &hi);
	if (msg->nfds < lo || msg->nfds > hi) {
		vhu_fault(dev, PV_DROP_VHU_MSG_FDS, "%s: %u fds",
			  vhu_req_name(req), msg->nfds);
		rc = -EINVAL;
		goto fail;
	}
	has_idx = msg_vring_idx(row, msg, &idx);
	q = (enum q_rule)row->quiesce;
	if (has_idx && idx >= 2ULL * dev->max_qp) {
		vhu_fault(dev, PV_DROP_VHU_VRING_IDX, "%s: vring %llu of %u",
			  vhu_req_name(req), (unsigned long long)idx,
			  2 * dev->max_qp);
		rc = -EINVAL;
		goto fail;
	}
	/*
	 * Requests that change what a running ring points at stop it first
	 * (a ring restart, rate-limited); SET_VRING_ENABLE 0 and
	 * GET_VRING_BASE stop one in their handlers and count the same way.
	 */
	if ((req == VHU_REQ_ADD_MEM_REG || req == VHU_REQ_REM_MEM_REG) &&
	    !mem_msg_changes_table(dev, msg))
		q = Q_NONE;
	if ((q == Q_RING && running_of(dev, 1ULL << idx)) ||
	    (q == Q_ALL && running_of(dev, ~0ULL)) ||
	    ((req == VHU_REQ_GET_VRING_BASE ||
	      (req == VHU_REQ_SET_VRING_ENABLE && !msg->payload.state.num)) &&
	     has_idx && idx < VHU_MAX_VRINGS && running_of(dev, 1ULL << idx))) {
		/* not now: the caller holds the message (fds too) and retries */
		if (!restart_allowed(dev)) {
			dev->st.msgs--;
			dev->st.reqs[req]--;
			return -EAGAIN;
		}
	}
	if (q == Q_RING)
		ring_stop(dev, (unsigned)idx);
	else if (q == Q_ALL)
		stop_all(dev);

	rc = row->fn(dev, msg, (unsigned)idx);
	vhu_msg_close_fds(msg);		/* whatever the handler did not keep */

	/* restart what can run now; a ring that cannot is this request's fault */
	if (has_idx) {
		int src = ring_try_start(dev, (unsigned)idx);

		if (!rc)
			rc = src;
	} else if (q == Q_ALL) {
		int src = start_all(dev);

		if (!rc)
			rc = src;
	}
	if (rc)
		goto fail;
	if (row->reply)
		return send_reply(dev, msg);
	if (ack)
		return send_ack(dev, msg, 0);
	return 0;

fail:
	vhu_msg_close_fds(msg);
	/* an error can be reported only to a frontend that asked for acks */
	if (ack && !send_ack(dev, msg, 1))
		return 0;
	return rc < 0 ? rc : -EPROTO;
}

bool vhu_throttle_start(struct vhu_dev *dev, uint32_t req)
{
	if (dev->throttled)
		return false;
	vhu_fault(dev, PV_DROP_VHU_RESTART_RATE,
		  "%s: running rings restarted more than %u times in a burst: "
		  "throttled to %u/s", vhu_req_name(req), VHU_RESTART_BURST,
		  VHU_RESTART_RATE);
	dev->throttled = true;
	return true;
}

int vhu_dev_handle_msg(struct vhu_dev *dev, struct vhu_msg *msg)
{
	int rc;

	/* Synchronous: a throttled restart waits here for its token. */
	while ((rc = vhu_dev_dispatch(dev, msg)) == -EAGAIN) {
		struct timespec d = { 0, 1000000000L / VHU_RESTART_RATE };

		vhu_throttle_start(dev, msg->hdr.request);
		nanosleep(&d, NULL);
	}
	dev->throttled = false;

	if (rc < 0)
		vhu_dev_disconnect(dev);
	return rc;
}

/* ---- accessors for the dataplane ---- */

struct vring *vhu_dev_vring(struct vhu_dev *dev, unsigned idx)
{
	if (idx >= VHU_MAX_VRINGS)
		return NULL;
	return &dev->vr[idx].vq;
}

int vhu_dev_kickfd(struct vhu_dev *dev, unsigned idx)
{
	if (idx >= VHU_MAX_VRINGS)
		return -1;
	return dev->vr[idx].kickfd;
}

void vhu_dev_call(struct vhu_dev *dev, unsigned idx)
{
	struct vhu_vring_ctl *vr;

	if (idx >= VHU_MAX_VRINGS)
		return;
	vr = &dev->vr[idx];
	if (!vr->running || vr->callfd < 0)
		return;
	if (!vring_need_call(&vr->vq))
		return;
	/* vring_need_call() counted it; a failed write (counter overflow)
	 * still leaves the eventfd readable, so the driver wakes anyway */
	(void)eventfd_write(vr->callfd, 1);
}

uint64_t vhu_dev_features(const struct vhu_dev *dev)
{
	return dev->features;
}

unsigned vhu_dev_mtu(const struct vhu_dev *dev)
{
	return dev->mtu;
}

uint64_t vhu_dev_log_bytes(const struct vhu_dev *dev)
{
	return dev->log.len ? dev->log.size : 0;
}

bool vhu_dev_logging(const struct vhu_dev *dev)
{
	return dev->log.len && (dev->features & VIRTIO_BIT(VHOST_F_LOG_ALL));
}

unsigned vhu_dev_queue_pairs(const struct vhu_dev *dev)
{
	return dev->max_qp;
}

bool vhu_dev_connected(const struct vhu_dev *dev)
{
	return dev->conn_fd >= 0;
}

const struct vhu_dev_stats *vhu_dev_stats(const struct vhu_dev *dev)
{
	return &dev->st;
}

/* ---- guest memory faults (SIGBUS contained by the gmem guard) ---- */

void vhu_dev_mem_renew(struct vhu_dev *dev)
{
	__atomic_store_n(&dev->mem_faults_base,
			 __atomic_load_n(&dev->st.mem_faults, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
}

bool vhu_dev_mem_faulted(const struct vhu_dev *dev)
{
	return __atomic_load_n(&dev->st.mem_faults, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&dev->mem_faults_base, __ATOMIC_RELAXED);
}

void vhu_dev_mem_check(struct vhu_dev *dev)
{
	uint32_t now = __atomic_load_n(&dev->st.mem_faults, __ATOMIC_RELAXED);
	uint32_t n = now - dev->mem_faults_seen;

	if (!n)
		return;
	dev->mem_faults_seen = now;
	/* vhu_fault() counts one; the rest of a burst of faults here */
	dev->st.faults.n[PV_DROP_VHU_MEM_FAULT] += n - 1;
	vhu_fault(dev, PV_DROP_VHU_MEM_FAULT,
		  "guest memory faulted %u time(s): the frontend shrank its "
		  "memory file or hugepages ran out; port stopped until a new "
		  "memory table or reconnect", n);
}

bool vhu_dev_vring_running(const struct vhu_dev *dev, unsigned idx)
{
	return idx < VHU_MAX_VRINGS && dev->vr[idx].running;
}

int vhu_dev_callfd(struct vhu_dev *dev, unsigned idx)
{
	if (idx >= VHU_MAX_VRINGS)
		return -1;
	/* replaced by SET_VRING_CALL behind a grace period */
	return __atomic_load_n(&dev->vr[idx].callfd, __ATOMIC_ACQUIRE);
}
