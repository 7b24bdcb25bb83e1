// SPDX-License-Identifier: MIT
/*
 * port_vhost.c - a guest attached over vhost-user
 *
 * Receive (guest TX ring): on a kick, pop chains in bursts with kicks off,
 * describe each as a pkt over the guest's own buffers (after a validated copy
 * of the virtio-net header), forward the burst, then return the chains with
 * one used-index update and at most one interrupt. Nothing is copied here:
 * the destination port copies each byte once, straight from these buffers
 * (seed 004, domU to domU in one copy).
 *
 * Transmit (guest RX ring): each packet is copied once into the guest's
 * (mergeable) receive buffers; a partial checksum is completed on the way if
 * the guest did not negotiate GUEST_CSUM, without writing the source.
 *
 * Several workers may transmit to one guest RX ring at once. They share it
 * through leases (netmap VALE): under the queue's spinlock a worker only
 * reserves descriptors and used-ring slots; it copies with the lock
 * released; then, under the lock again, the oldest finished leases are
 * published with one used->idx store. The lock is never held across a copy
 * (design invariant 3), and with one worker it is never contended.
 *
 * Order (VIRTIO_F_IN_ORDER, offered unless inorder=off): on every ring,
 * used entry k is the chain made available at avail position k. A guest TX
 * chain's entry is written when it is popped, also for a packet that is
 * then dropped, and used->idx never passes one GRO holds; guest RX buffers
 * and their used slots are reserved together under the lease lock, and
 * every reserved buffer gets its entry (with its length: a driver's
 * in-order receive path reads each one). Nothing is batched: one entry per
 * chain is also in order, and the spec's batch is only a permission.
 *
 * Ring changes come from the control thread (vhost-user messages), under
 * the contract of docs/architecture.md: a ring is unpublished (its flag
 * cleared with a release store) and the backend's quiesce call waits for a
 * grace period (dp_sync) before the ring, its fds or the memory behind it
 * change; a ring is published (flag set with a release store) only once it
 * is whole. Workers load the flags with acquire at the start of a burst and
 * never park. The kick eventfd is watched edge-triggered and never read;
 * interrupts go through dp_call(), which a full eventfd cannot block.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <pthread.h>

#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "pvnet/port.h"
#include "pvnet/switch.h"
#include "pvnet/vhost.h"


/*
 * Leases outstanding on one RX ring: one per worker copying, and the
 * finished ones queued behind the oldest until it publishes (a worker
 * preempted mid-copy holds up every lease after its own: past this many,
 * vhost_tx_burst refuses as for a full ring).
 */
#define LEASE_MAX	(DP_MAX_WORKERS * 2)
/* RX buffers one lease may reserve; a worker's scratch, thread-local. */
#define LEASE_BUFS	256

struct vhost_rxq {
	int lock;			/* rxq_lock(): 0 free, 1 held */
	uint16_t head, tail;		/* lease ring indexes */
	uint16_t end[LEASE_MAX];	/* used idx after each lease */
	bool done[LEASE_MAX];
} PV_CACHE_ALIGNED;

/*
 * The lease lock, inline: taken twice per burst toward a guest and almost
 * never contended (one worker per ring unless several send to it), so a
 * call into libc per lock and unlock was most of its cost.
 */
static inline void rxq_lock(struct vhost_rxq *rq)
{
	while (__atomic_exchange_n(&rq->lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&rq->lock, __ATOMIC_RELAXED))
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#else
			;
#endif
}

static inline void rxq_unlock(struct vhost_rxq *rq)
{
	__atomic_store_n(&rq->lock, 0, __ATOMIC_RELEASE);
}

struct vhost_port {
	struct port port;
	struct vhost_rxq rxq[VHU_MAX_QUEUE_PAIRS];
	struct vhu_dev *dev;
	struct vhu_dev_cfg cfg;
	char path[108];
	struct pv_loop *loop;
	/*
	 * Ring flags: stored by the control thread (release), loaded by
	 * workers (acquire). tx_poll: the worker may pop the guest's TX ring;
	 * tx_running: chains popped from it may still be returned (cleared
	 * after the grace period that follows tx_poll's clearing, in which
	 * every held chain came back); rx_running: workers may fill the
	 * guest's RX ring.
	 */
	uint8_t tx_poll[VHU_MAX_QUEUE_PAIRS];
	uint8_t tx_running[VHU_MAX_QUEUE_PAIRS];
	uint8_t rx_running[VHU_MAX_QUEUE_PAIRS];
	/* An interrupt write slept once: poll before the next (any worker). */
	uint8_t call_stuck[VHU_MAX_VRINGS];
	/* Per guest TX queue: one worker polls it, so these are its own. */
	struct vhost_txq {
		struct vring_elem elems[PKT_BURST_MAX];
		struct pkt pkts[PKT_BURST_MAX];
		unsigned n;				/* chains of the last burst */
		struct pkt *of_elem[PKT_BURST_MAX];	/* NULL: dropped */
		/*
		 * Chains not returned yet. Every chain's used entry is written
		 * when it is popped, in that order. While its burst is being
		 * forwarded (inflight: the used slots from burst_used on, n of
		 * them) used->idx stays before it; at rx_done() each chain that
		 * GRO still holds is marked here, and the mark goes when GRO
		 * lets it go (vhost_release()). A release that comes first,
		 * during the forward, goes to `gone` instead. used->idx
		 * never passes a marked one (publish_txq): a frontend that
		 * resumes at the used idx after we die (QEMU with reconnect=1)
		 * takes again exactly the chains we had not returned, none twice
		 * and none lost. A guest that makes a head available again
		 * while GRO holds it only stalls its own queue (until it resets
		 * the ring): the older mark stays.
		 */
		bool inflight;
		uint16_t burst_used;	/* used idx of the burst's first chain */
		/* chains of the burst GRO let go during the forward (bit i:
		 * elems[i]); GRO may do so before it says it holds one */
		uint32_t gone;
		unsigned nheld;
		uint16_t slot_of[VRING_MAX_SIZE];	/* used slot of a head */
		uint64_t held[VRING_MAX_SIZE / 64];	/* marked used slots (& mask) */
		/* where elems[i] spills a chain of many segments (cold) */
		struct iovec ovf[PKT_BURST_MAX * VRING_ELEM_MAX_IOV];
	} *txq;
};

static struct vhost_port *vp_of(struct port *p)
{
	return (struct vhost_port *)p;
}

static bool flag(const uint8_t *f)
{
	return __atomic_load_n(f, __ATOMIC_ACQUIRE);
}

static void set_flag(uint8_t *f, bool v)
{
	__atomic_store_n(f, v, __ATOMIC_RELEASE);
}

static void update_nqueues(struct vhost_port *vp)
{
	unsigned n = 0;

	for (unsigned i = 0; i < VHU_MAX_QUEUE_PAIRS; i++)
		if (flag(&vp->tx_poll[i]) || flag(&vp->rx_running[i]))
			n = i + 1;
	__atomic_store_n(&vp->port.nqueues, n, __ATOMIC_RELEASE);
}

/*
 * Control thread. A stop only unpublishes: the backend calls on_quiesce()
 * before it touches the ring, its fds or the memory. A start publishes a
 * ring no worker can be using (it was stopped behind a grace period).
 */
static void on_queue_state(void *opaque, unsigned vidx, bool running)
{
	struct vhost_port *vp = opaque;
	struct dp *dp = vp->port.sw ? vp->port.sw->dp : NULL;
	unsigned q = vidx / 2;

	if (q >= VHU_MAX_QUEUE_PAIRS)
		return;
	if (!running) {
		if (vidx & 1) {
			set_flag(&vp->tx_poll[q], false);
			/* unwatched before the backend closes the kick fd */
			dp_watch(dp, &vp->port, q, -1);
		} else {
			set_flag(&vp->rx_running[q], false);
		}
		update_nqueues(vp);
		pv_info("port %s: vring %u stopped", vp->port.name, vidx);
		return;
	}
	{
		uint64_t f = vhu_dev_features(vp->dev);
		bool csum = f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);

		/* What the guest takes as it is: partial checksums, large TCP. */
		__atomic_store_n(&vp->port.csum_offload, csum, __ATOMIC_RELAXED);
		__atomic_store_n(&vp->port.gso_offload, csum &&
				 (f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4)) &&
				 (f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6)),
				 __ATOMIC_RELAXED);
	}
	__atomic_store_n(&vp->call_stuck[vidx], 0, __ATOMIC_RELAXED);
	/* A restarted ring starts with no lease and no held chain outstanding. */
	if (!(vidx & 1)) {
		struct vring *vq = vhu_dev_vring(vp->dev, vidx);

		vp->rxq[q].head = vp->rxq[q].tail = 0;
		/*
		 * The guest's RX ring is filled when a frame comes and its
		 * kicks are never watched: ask the driver not to send them.
		 * A driver without EVENT_IDX (DPDK's virtio-user) otherwise
		 * writes the kick eventfd at every refill, a syscall per
		 * burst that cost the guest more than its forwarding.
		 */
		if (vq)
			vring_set_kick(vq, false);
		set_flag(&vp->rx_running[q], true);
	} else if (vp->txq && q < vp->cfg.max_queue_pairs) {
		struct vring *vq = vhu_dev_vring(vp->dev, vidx);

		vp->txq[q].nheld = 0;
		vp->txq[q].inflight = false;
		memset(vp->txq[q].held, 0, sizeof(vp->txq[q].held));
		/* A busy-polling worker never needs the guest's kicks. */
		if (dp_notify_mode(dp) == DP_NOTIFY_POLL && vq)
			vring_set_kick(vq, false);
		set_flag(&vp->tx_running[q], true);
		set_flag(&vp->tx_poll[q], true);
		dp_watch(dp, &vp->port, q, vhu_dev_kickfd(vp->dev, vidx));
	}
	update_nqueues(vp);
	pv_info("port %s: vring %u started", vp->port.name, vidx);
	if (!(vidx & 1))
		sw_port_mac_active(vp->port.sw, &vp->port, true);
}

/*
 * Control thread, after on_queue_state(false) for one or more rings and
 * before the backend changes any of them: one grace period, in which every
 * worker also flushes its GRO table, so each chain popped from a stopping
 * TX ring comes back (tx_running still set) before the ring goes away.
 */
static void on_quiesce(void *opaque)
{
	struct vhost_port *vp = opaque;

	dp_sync(vp->port.sw ? vp->port.sw->dp : NULL, true);
	for (unsigned q = 0; q < VHU_MAX_QUEUE_PAIRS; q++)
		if (!flag(&vp->tx_poll[q]))
			set_flag(&vp->tx_running[q], false);
}

static void on_disconnected(void *opaque)
{
	struct vhost_port *vp = opaque;

	/* The backend stopped every ring (with a grace period) before this. */
	for (unsigned q = 0; q < VHU_MAX_QUEUE_PAIRS; q++) {
		set_flag(&vp->tx_poll[q], false);
		set_flag(&vp->tx_running[q], false);
		set_flag(&vp->rx_running[q], false);
	}
	update_nqueues(vp);
	pv_info("port %s: frontend disconnected", vp->port.name);
	sw_port_mac_active(vp->port.sw, &vp->port, false);
}

/* SEND_RARP: QEMU asks us to announce a migrated guest that cannot. */
static void on_announce(void *opaque, const uint8_t *mac)
{
	struct vhost_port *vp = opaque;

	if (vp->port.sw)
		sw_announce(vp->port.sw, &vp->port, mac);
}

static const struct vhu_dev_ops vhost_ops = {
	.queue_state = on_queue_state,
	.quiesce = on_quiesce,
	.disconnected = on_disconnected,
	.announce = on_announce,
};

/*
 * Raises vring @vidx's interrupt if the driver wants one. Any worker: the
 * call fd is loaded once (the backend replaces it behind a grace period),
 * and a write that slept once makes the next ones poll first, so a
 * frontend that keeps its counter full costs a poll, not a stall. An RX
 * ring's interrupt is counted here, once the write went through, whichever
 * decision (at the publish, or the round's re-check) asked for it: a
 * blocked one is irq_blocked only, no call fd is nothing.
 */
static void raise_irq_now(struct vhost_port *vp, unsigned vidx)
{
	int fd = vhu_dev_callfd(vp->dev, vidx);

	if (fd < 0)
		return;
	if (__atomic_load_n(&vp->call_stuck[vidx], __ATOMIC_RELAXED)) {
		if (!dp_fd_writable(fd)) {
			pv_stat_add(&vp->port.st.irq_blocked, 1);
			return;
		}
		__atomic_store_n(&vp->call_stuck[vidx], 0, __ATOMIC_RELAXED);
	}
	if (!dp_call(fd)) {
		__atomic_store_n(&vp->call_stuck[vidx], 1, __ATOMIC_RELAXED);
		pv_stat_add(&vp->port.st.irq_blocked, 1);
	} else if (!(vidx & 1)) {
		pv_stat_add(&vp->port.st.txq_irqs[vidx / 2], 1);
	}
}

/*
 * A receive ring's interrupt may wait while the worker stays busy
 * (dp_owe_call, --irq-coalesce): waking a sleeping guest is the dearest
 * step of a delivery, and one call covers every packet that came
 * meanwhile. A TX ring's is raised at once: a guest that asked for it is
 * waiting for ring space to send.
 */
static void raise_irq(struct vhost_port *vp, unsigned vidx)
{
	if (!(vidx & 1) && dp_owe_call(&vp->port, vidx))
		return;
	raise_irq_now(vp, vidx);
}

/* The worker's held-back interrupt (port op raise_call). */
static void vhost_raise_call(struct port *p, unsigned vidx)
{
	raise_irq_now(vp_of(p), vidx);
}

/*
 * After a full barrier: raises ring @vidx's interrupt if a "no" that
 * vring_need_call_early() left open turns out to be a "yes". The RX ring
 * under its queue's lock (its call state is shared by the workers that
 * lease from it), the TX ring by the one worker that polls it.
 */
static void vhost_notify_flush(struct port *p, unsigned vidx)
{
	struct vhost_port *vp = vp_of(p);
	struct vring *vq = vhu_dev_vring(vp->dev, vidx);
	unsigned q = vidx / 2;
	bool call = false;

	if (q >= VHU_MAX_QUEUE_PAIRS || !vq)
		return;
	if (vidx & 1) {
		call = vring_ready(vq) && vring_recheck_call(vq);
	} else {
		/*
		 * Not rx_running: a ring stopped since the publish still owes
		 * the driver its decision (a stop waits for this round, so the
		 * ring, its memory and call fd are still those of the publish).
		 */
		rxq_lock(&vp->rxq[q]);
		if (vring_ready(vq))
			call = vring_recheck_call(vq);
		rxq_unlock(&vp->rxq[q]);
	}
	if (call)
		raise_irq(vp, vidx);
}

#ifdef PV_TEST_HOOKS
/*
 * Tests only: called when a publish's "no" is left open for a re-check
 * (VRING_CALL_RECHECK), to let a driver re-enable its interrupts exactly
 * between our early read and the round's barrier.
 */
extern void (*port_vhost_notify_hook)(struct port *p, unsigned vidx);
void (*port_vhost_notify_hook)(struct port *p, unsigned vidx);
#endif

static inline void notify_hook(struct port *p, unsigned vidx)
{
#ifdef PV_TEST_HOOKS
	/* atomic: a test sets it while the workers run */
	void (*hook)(struct port *, unsigned) =
		__atomic_load_n(&port_vhost_notify_hook, __ATOMIC_ACQUIRE);

	if (unlikely(hook))
		hook(p, vidx);
#else
	(void)p;
	(void)vidx;
#endif
}


/*
 * The end of a publish's notification: a call now, none, or (the driver
 * said no, before any barrier) a re-check after the worker round's one
 * barrier, or at once if it cannot wait (outside a worker round).
 */
static void publish_notify(struct vhost_port *vp, unsigned vidx,
			   enum vring_call c)
{
	if (c == VRING_CALL_NO)
		return;
	if (c == VRING_CALL_YES) {
		raise_irq(vp, vidx);
		return;
	}
	notify_hook(&vp->port, vidx);
	if (!dp_defer_notify(&vp->port, vidx)) {
		pv_smp_mb();
		vhost_notify_flush(&vp->port, vidx);
	}
}

/* Strips the header off a popped TX chain into a pkt; returns the drop reason. */
static enum pv_drop chain_to_pkt(struct vhost_port *vp, struct vring_elem *e,
				 struct pkt *p, size_t hdr_len, uint64_t feat)
{
	size_t skip = hdr_len;
	enum pv_drop why;
	unsigned j = 0;

	/*
	 * The common chain: one piece, the 12-byte header and a frame after
	 * it, a header that claims nothing. The same copy, checks and result
	 * as below (nethdr_check() of such a header looks at the length
	 * alone, the offload tests pass, the flags stay 0) without their
	 * general form: 63 instructions a packet (docs/benchmarks.md,
	 * "Fewer instructions per 64 B packet").
	 */
	if (likely(e->out_num == 1 && hdr_len == sizeof(p->vh) &&
		   e->out_len > sizeof(p->vh))) {
		const uint8_t *b = e->iov[0].iov_base;

		memcpy(&p->vh, b, sizeof(p->vh));
		/* Copy before parse (§6.7): only the copy is looked at. */
		pv_compiler_barrier();
		if (likely((p->vh.flags | p->vh.gso_type) == 0)) {
			p->len = e->out_len - (uint32_t)sizeof(p->vh);
			if (unlikely(p->len > PV_FRAME_MAX))
				return PV_DROP_PKT_TOO_LONG;
			p->held = false;
			p->seg[0].iov_base = (uint8_t *)b + sizeof(p->vh);
			p->seg[0].iov_len = p->len;
			p->nseg = 1;
			p->cookie = e->head;
			return PV_DROP_NONE;
		}
		/* the header is copied: only the checks below are left */
	} else if (e->out_len < hdr_len ||
		   nethdr_read(&p->vh, hdr_len, e->iov, e->out_num) < 0) {
		return PV_DROP_PKT_TRUNC;
	}
	p->len = e->out_len - (uint32_t)hdr_len;
	why = nethdr_check(&p->vh, p->len);
	if (why != PV_DROP_NONE)
		return why;
	/* Offloads are only valid if negotiated (virtio 1.2 §5.1.6.2). */
	if ((p->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    !(feat & VIRTIO_BIT(VIRTIO_NET_F_CSUM)))
		return PV_DROP_PKT_HDR_FLAGS;
	switch (p->vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(feat & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4)))
			return PV_DROP_PKT_HDR_GSO;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(feat & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6)))
			return PV_DROP_PKT_HDR_GSO;
		break;
	default:
		return PV_DROP_PKT_HDR_GSO;	/* UFO and USO are not offered */
	}
	/* A guest's DATA_VALID means nothing on transmit; keep NEEDS_CSUM only. */
	p->vh.flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	p->held = false;

	/*
	 * The usual chain: one buffer, the header and the frame in it (a
	 * Linux guest pushes the header into the skb's headroom). The same
	 * segment the loop below makes, without the loop (~20 instructions
	 * a frame).
	 */
	if (likely(e->out_num == 1 && e->iov[0].iov_len > skip)) {
		p->seg[0].iov_base = (uint8_t *)e->iov[0].iov_base + skip;
		p->seg[0].iov_len = e->iov[0].iov_len - skip;
		p->nseg = 1;
		p->cookie = e->head;
		return PV_DROP_NONE;
	}
	for (unsigned i = 0; i < e->out_num; i++) {
		size_t l = e->iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p->seg[j].iov_base = (uint8_t *)e->iov[i].iov_base + skip;
		p->seg[j].iov_len = l - skip;
		skip = 0;
		j++;
	}
	p->nseg = (uint16_t)j;
	p->cookie = e->head;
	(void)vp;
	return PV_DROP_NONE;
}

/*
 * Publishes the used entries up to the oldest chain still marked or still
 * being forwarded (all of them when none is): used->idx only ever covers
 * chains returned, in the order they were popped.
 */
static void publish_txq(struct vring *vq, struct vhost_txq *t)
{
	uint16_t p = vq->used_flushed, end, s;

	if (!t->nheld && !t->inflight) {
		vring_flush(vq);
		return;
	}
	end = t->inflight ? t->burst_used : vq->used_idx;
	for (; p != end && t->nheld; p++) {
		s = p & vq->mask;
		if (t->held[s / 64] & (1ULL << (s & 63)))
			break;
	}
	if (!t->nheld)
		p = end;
	vring_used_publish(vq, p);
}

_Static_assert(PKT_BURST_MAX <= 32, "vhost_txq.gone has a bit per chain of a burst");

/* Marks used slot @s as a chain GRO holds. */
static void txq_hold(struct vhost_txq *t, uint16_t s)
{
	if (!(t->held[s / 64] & (1ULL << (s & 63)))) {
		t->held[s / 64] |= 1ULL << (s & 63);
		t->nheld++;
	}
}

/* Clears the mark of used slot @s, if it has one. */
static void txq_done(struct vhost_txq *t, uint16_t s)
{
	if (t->held[s / 64] & (1ULL << (s & 63))) {
		t->held[s / 64] &= ~(1ULL << (s & 63));
		t->nheld--;
	}
}

/* Pops a burst of the guest's TX chains and describes each as a pkt. */
static unsigned vhost_rx_burst(struct port *p, unsigned q, struct pkt **pkts,
			       unsigned max, unsigned *taken)
{
	struct vhost_port *vp = vp_of(p);
	struct vring *vq;
	struct vhost_txq *t;
	uint64_t feat;
	size_t hdr_len;
	unsigned n, m = 0;

	*taken = 0;
	/* The flag first: features change while the ring is unpublished. */
	if (q >= vp->cfg.max_queue_pairs || !flag(&vp->tx_poll[q]))
		return 0;
	vq = vhu_dev_vring(vp->dev, 2 * q + 1);
	/* Memory zeroed by the SIGBUS guard holds nothing of the guest's. */
	if (!vq || !vring_ready(vq) || unlikely(vhu_dev_mem_faulted(vp->dev)))
		return 0;
	t = &vp->txq[q];
	feat = vhu_dev_features(vp->dev);
	hdr_len = nethdr_len(feat);
	n = vring_pop_burst(vq, t->elems, PV_MIN(max, PKT_BURST_MAX),
			    VRING_DIR_OUT);
	t->n = n;
	if (n == 0)
		return 0;
	/* Used entries in pop order, unpublished until the packets are done. */
	t->inflight = false;	/* not staged if the ring broke */
	if (likely(vring_ready(vq))) {
		uint16_t u = vring_push_burst(vq, t->elems, n);

		for (unsigned i = 0; i < n; i++)
			t->slot_of[t->elems[i].head] = (uint16_t)(u + i) & vq->mask;
		t->burst_used = u;
		t->gone = 0;
		t->inflight = true;
	}
	for (unsigned i = 0; i < n; i++) {
		struct pkt *pk = &t->pkts[m];
		enum pv_drop why = chain_to_pkt(vp, &t->elems[i], pk, hdr_len,
						feat);

		t->of_elem[i] = NULL;
		if (why != PV_DROP_NONE) {
			pv_stat_add(&vp->port.st.rx_pkts, 1);
			pv_stat_add(&vp->port.st.drops.n[why], 1);
			continue;
		}
		t->of_elem[i] = pk;
		pkts[m++] = pk;
	}
	*taken = n;
	return m;
}

/*
 * Every chain goes back only now that its packet is done; one that GRO
 * holds keeps its mark until vhost_release() (which may already have run,
 * if GRO flushed it during the forward).
 */
static void vhost_rx_done(struct port *p, unsigned q, struct pkt **pkts,
			  unsigned m)
{
	struct vhost_port *vp = vp_of(p);
	struct vhost_txq *t = &vp->txq[q];
	struct vring *vq = vhu_dev_vring(vp->dev, 2 * q + 1);
	uint64_t t0 = dp_stage_tsc(), nested = dp_stage_nested();

	(void)pkts;
	(void)m;
	/* GRO kept none of the burst: no chain to look at */
	if (unlikely(p->rx_held[q])) {
		/*
		 * A bulk TCP burst, most of it held: the burst's fields in
		 * locals, loaded once, not per chain around the mark stores.
		 */
		const unsigned nb = t->inflight ? t->n : 0;
		const uint32_t gone = t->gone;
		const uint16_t first = t->burst_used, mask = vq->mask;

		p->rx_held[q] = 0;
		for (unsigned i = 0; i < nb; i++) {
			const struct pkt *pk = t->of_elem[i];

			if (!(gone & (1u << i)) && pk && pk->held)
				txq_hold(t, (uint16_t)(first + i) & mask);
		}
	}
	t->inflight = false;
	publish_txq(vq, t);
	publish_notify(vp, 2 * q + 1, vring_need_call_early(vq));
	dp_stage_add_since(DP_STAGE_NOTIFY, t0, nested);
}

static void vhost_release(struct port *p, unsigned q, const uint32_t *cookies,
			  unsigned n)
{
	struct vhost_port *vp = vp_of(p);
	struct vhost_txq *t;
	struct vring *vq;

	/*
	 * A stopping ring stays running until every worker flushed its GRO
	 * table (on_quiesce), so a held chain always comes back to its ring.
	 */
	if (q >= VHU_MAX_QUEUE_PAIRS || !flag(&vp->tx_running[q]))
		return;
	vq = vhu_dev_vring(vp->dev, 2 * q + 1);
	if (!vq || !vring_ready(vq))
		return;
	t = &vp->txq[q];
	{
		/*
		 * One call per packet GRO lets go, a cookie per segment: the
		 * ring's and the burst's fields in locals, loaded once (the
		 * compiler reloaded them per cookie around the mark stores).
		 */
		const uint16_t size = vq->size, mask = vq->mask;
		const uint16_t first = t->burst_used;
		const unsigned nb = t->inflight ? t->n : 0;
		uint32_t gone = 0;

		for (unsigned i = 0; i < n; i++) {
			uint32_t c = cookies[i];
			uint16_t s, k;

			if (c >= size)
				continue;
			s = t->slot_of[c];
			k = (uint16_t)(s - first) & mask;
			/* a chain of the burst being forwarded: not marked yet,
			 * and rx_done() must not mark it (GRO took it and let
			 * it go) */
			if (k < nb)
				gone |= 1u << k;
			else
				txq_done(t, s);
		}
		t->gone |= gone;
	}
	publish_txq(vq, t);
	if (vring_need_call(vq))
		raise_irq(vp, 2 * q + 1);
}

/*
 * Every queue the guest may ever start: the workers' assignment is made
 * once, and a stopped queue's poll is one flag load.
 */
static unsigned vhost_rx_queues(struct port *p)
{
	return vp_of(p)->cfg.max_queue_pairs;
}

/* Before dp_start() only; afterwards on_queue_state() calls dp_watch(). */
static int vhost_rx_fd(struct port *p, unsigned q)
{
	struct vhost_port *vp = vp_of(p);

	if (q >= VHU_MAX_QUEUE_PAIRS || !flag(&vp->tx_poll[q]))
		return -1;
	return vhu_dev_kickfd(vp->dev, 2 * q + 1);
}

static void vhost_rx_kicked(struct port *p, unsigned q)
{
	struct vhost_port *vp = vp_of(p);
	struct vring *vq;

	if (q >= VHU_MAX_QUEUE_PAIRS || !flag(&vp->tx_poll[q]))
		return;
	vq = vhu_dev_vring(vp->dev, 2 * q + 1);
	if (vq)
		vq->st.kicks++;
	vp->port.st.rxq_kicks[q]++;
}

static bool vhost_rx_notify(struct port *p, unsigned q, bool enable)
{
	struct vhost_port *vp = vp_of(p);
	struct vring *vq;

	if (q >= VHU_MAX_QUEUE_PAIRS || !flag(&vp->tx_poll[q]))
		return false;
	vq = vhu_dev_vring(vp->dev, 2 * q + 1);
	if (!vq || !vring_ready(vq))
		return false;
	/*
	 * The kick fd is never read: it is watched edge-triggered, and a read
	 * of an eventfd whose flags the peer controls could block.
	 */
	if (!enable) {
		vring_set_kick(vq, false);
		return false;
	}
	/* Re-arm, then look once more: a buffer made available before the
	 * driver saw the re-arm raises no kick (virtio 1.2 §2.7.10). */
	vring_set_kick(vq, true);
	return vring_avail_count(vq) > 0;
}

#ifdef PV_TEST_HOOKS
/*
 * Tests only: called between a lease's reservation and its copy, to stall
 * a worker there as a preempted one would be. Compiled only into the test
 * object of this file (PV_TEST_HOOKS, Makefile TEST_HOOK_OBJS): the switch
 * has neither the pointer nor its load and branch per lease.
 */
extern void (*port_vhost_lease_hook)(struct port *p);
void (*port_vhost_lease_hook)(struct port *p);
#endif

static inline void lease_hook(struct port *p)
{
#ifdef PV_TEST_HOOKS
	if (unlikely(port_vhost_lease_hook))
		port_vhost_lease_hook(p);
#else
	(void)p;
#endif
}

/* What one packet of a lease needs, kept between reservation and copy. */
struct lease_pkt {
	uint16_t first;		/* index of its first buffer in the scratch */
	uint16_t nbufs;		/* 0: dropped, see why */
	enum pv_drop why;
};

static __thread struct vring_elem lease_bufs[LEASE_BUFS];
static __thread uint32_t lease_lens[LEASE_BUFS];
/* Long RX chains (e.g. a guest's big-packet buffers without mergeable
 * ones) spill here; only such chains touch it. */
static __thread struct iovec lease_ovf[LEASE_BUFS * VRING_ELEM_MAX_IOV];
static __thread bool lease_ready;

/* Copies one packet into its reserved buffers (no lock held). */
static void fill_one(struct vhost_port *vp, struct pkt *pk, struct lease_pkt *lp,
		     size_t hdr_len, bool guest_csum)
{
	struct virtio_net_hdr h = { 0 };
	struct iovec patched[PKT_MAX_SEGS];
	const struct iovec *src = pk->seg;
	unsigned nsrc = pk->nseg;
	uint16_t csum;

	if (pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		/* The switch sends large packets only to guests that took GSO. */
		h = pk->vh;
		h.num_buffers = 0;
	} else if (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (guest_csum) {
			h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			h.csum_start = pk->vh.csum_start;
			h.csum_offset = pk->vh.csum_offset;
		} else {
			uint32_t off;

			/* Checked when reserving; the source is read-only here. */
			if (pkt_csum_complete(pk, &csum, &off) == PV_DROP_NONE) {
				unsigned m = pkt_patch_iov(pk, off, &csum, patched,
							   PKT_MAX_SEGS);

				if (m) {
					src = patched;
					nsrc = m;
				}
			}
		}
	}
	vring_rx_fill(&lease_bufs[lp->first], lp->nbufs, &h, hdr_len, src, nsrc,
		      &lease_lens[lp->first]);
	(void)vp;
}

/* A partial checksum this guest cannot take and we cannot complete. */
static inline bool csum_bad(const struct pkt *pk, bool guest_csum)
{
	return (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !guest_csum &&
	       (uint32_t)pk->vh.csum_start + pk->vh.csum_offset + 2 > pk->len;
}

static unsigned vhost_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			       unsigned n)
{
	struct vhost_port *vp = vp_of(p);
	struct lease_pkt lp[PKT_BURST_MAX];
	uint32_t totals[PKT_BURST_MAX];
	struct vhost_rxq *rq;
	struct vring *vq;
	uint64_t feat;
	size_t hdr_len;
	bool mrg, guest_csum, hdr12;
	unsigned sent = 0, i = 0, nq;
	uint64_t drops[PV_DROP_MAX], bytes = 0, csum_done = 0, gso_pkts = 0;
	bool dropped = false;	/* drops[] is zeroed at the first drop only */

	nq = __atomic_load_n(&vp->port.nqueues, __ATOMIC_ACQUIRE);
	if (nq == 0) {
		pv_stat_add(&p->st.drops.n[PV_DROP_RX_NOT_READY], n);
		return 0;
	}
	/* zeroed by the SIGBUS guard: the guest's buffers are gone */
	if (unlikely(vhu_dev_mem_faulted(vp->dev))) {
		pv_stat_add(&p->st.drops.n[PV_DROP_VHU_MEM_FAULT], n);
		return 0;
	}
	q %= nq;
	vq = vhu_dev_vring(vp->dev, 2 * q);
	if (!flag(&vp->rx_running[q]) || !vq || !vring_ready(vq)) {
		pv_stat_add(&p->st.drops.n[PV_DROP_RX_NOT_READY], n);
		return 0;
	}
	rq = &vp->rxq[q];
	feat = vhu_dev_features(vp->dev);
	hdr_len = nethdr_len(feat);
	mrg = feat & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	guest_csum = feat & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	hdr12 = hdr_len == sizeof(struct virtio_net_hdr);
	if (unlikely(!lease_ready)) {
		vring_elems_init(lease_bufs, LEASE_BUFS, lease_ovf);
		lease_ready = true;
	}

	while (i < n) {
		unsigned first = i, used = 0, lease;
		uint16_t slot;
		enum vring_call call;
		bool burst = true;

		/* Reserve: descriptors and used slots, nothing copied. */
		rxq_lock(rq);
		if (unlikely((uint16_t)(rq->tail - rq->head) >= LEASE_MAX)) {
			/*
			 * Every lease slot waits behind an older lease still
			 * copying (its worker preempted): the rest is refused
			 * as for a full ring, never given a slot in use.
			 */
			rxq_unlock(rq);
			if (!dropped) {
				memset(drops, 0, sizeof(drops));
				dropped = true;
			}
			drops[PV_DROP_RX_NO_BUF] += n - i;
			break;
		}
		for (; i < n; i++) {
			struct pkt *pk = pkts[i];
			int rc;

			/*
			 * A run of packets that each fit in one buffer takes its
			 * buffers with one read of the ring's index; the first
			 * that does not goes packet by packet below, and so does
			 * the rest of the lease.
			 */
			if (burst) {
				unsigned got, run = 0;

				while (i + run < n && used + run < LEASE_BUFS &&
				       !csum_bad(pkts[i + run], guest_csum)) {
					totals[run] = (uint32_t)hdr_len +
						      pkts[i + run]->len;
					run++;
				}
				got = run ? vring_rx_reserve_burst(vq, totals, run,
								   &lease_bufs[used]) : 0;
				for (unsigned x = 0; x < got; x++) {
					lp[i + x].first = (uint16_t)(used + x);
					lp[i + x].nbufs = 1;
					lp[i + x].why = PV_DROP_NONE;
				}
				used += got;
				i += got;
				burst = got == run;
				if (i == n || used == LEASE_BUFS)
					break;
				pk = pkts[i];
			}
			lp[i].first = (uint16_t)used;
			lp[i].nbufs = 0;
			lp[i].why = PV_DROP_NONE;
			if (csum_bad(pk, guest_csum)) {
				lp[i].why = PV_DROP_PKT_HDR_CSUM;
				continue;
			}
			rc = vring_rx_reserve(vq, hdr_len + pk->len, mrg,
					      &lease_bufs[used], LEASE_BUFS - used);
			if (rc == -ENOSPC && used)
				break;	/* scratch full: next lease */
			if (rc < 0) {
				lp[i].why = rc == -ENOBUFS ? PV_DROP_RX_NO_BUF :
					    rc == -EMSGSIZE || rc == -ENOSPC ?
					    PV_DROP_PKT_TOO_BIG : PV_DROP_RX_NOT_READY;
				continue;
			}
			lp[i].nbufs = (uint16_t)rc;
			used += (unsigned)rc;
		}
		slot = vring_used_reserve(vq, used);
		lease = rq->tail++ % LEASE_MAX;
		rq->end[lease] = (uint16_t)(slot + used);
		rq->done[lease] = false;
		rxq_unlock(rq);
		lease_hook(p);

		/* Copy, each byte once, with the lock released. */
		for (unsigned j = first; j < i; j++) {
			struct pkt *pk = pkts[j];

			if (!lp[j].nbufs) {
				if (!dropped) {
					memset(drops, 0, sizeof(drops));
					dropped = true;
				}
				drops[lp[j].why]++;
				continue;
			}
			sent++;
			bytes += pk->len;
			/*
			 * No offload, one piece, one buffer: the header is a
			 * constant (vring_rx_fill_plain) and there is nothing
			 * to count; 44 instructions a packet less than the
			 * general form (docs/benchmarks.md, "Fewer
			 * instructions per 64 B packet").
			 */
			if (likely(hdr12 && lp[j].nbufs == 1 && pk->nseg == 1 &&
				   pk->vh.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
				   !(pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) &&
			    vring_rx_fill_plain(&lease_bufs[lp[j].first],
						pk->seg[0].iov_base,
						pk->seg[0].iov_len,
						&lease_lens[lp[j].first]))
				continue;
			fill_one(vp, pk, &lp[j], hdr_len, guest_csum);
			if (pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
				gso_pkts++;
			else if (!guest_csum &&
				 (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
				csum_done++;
		}
		/* live migration: one branch per lease when not logging */
		if (unlikely(vq->log))
			vring_log_rx(vq, lease_bufs, used, lease_lens);
		vring_used_write_burst(vq, slot, lease_bufs, lease_lens, used);

		/* Complete: publish every finished lease from the oldest on. */
		rxq_lock(rq);
		rq->done[lease] = true;
		while (rq->head != rq->tail && rq->done[rq->head % LEASE_MAX]) {
			vring_used_publish(vq, rq->end[rq->head % LEASE_MAX]);
			rq->head++;
		}
		call = vring_need_call_early(vq);
		rxq_unlock(rq);
		publish_notify(vp, 2 * q, call);
	}
	pv_stat_add(&p->st.tx_gso_pkts, gso_pkts);
	port_count_tx(p, q, sent, bytes, csum_done, dropped ? drops : NULL);
	return sent;
}

static int vhost_start(struct port *p, struct pv_loop *loop)
{
	struct vhost_port *vp = vp_of(p);

	vp->loop = loop;
	vp->dev = vhu_dev_create(&vp->cfg, &vhost_ops, vp, loop);
	if (!vp->dev)
		return -errno ? -errno : -EIO;
	return 0;
}

static void vhost_destroy(struct port *p)
{
	struct vhost_port *vp = vp_of(p);

	if (vp->dev)
		vhu_dev_destroy(vp->dev);
	free(vp->txq);
	free(vp);
}

/* Lets ctl/ read protocol state without knowing the port type's struct. */
struct vhu_dev *port_vhost_dev(struct port *p);
struct vhu_dev *port_vhost_dev(struct port *p)
{
	if (strcmp(p->ops->type, "vhost"))
		return NULL;
	return vp_of(p)->dev;
}

static const char *vhost_sock_path(struct port *p)
{
	return vp_of(p)->path;
}

static const struct port_ops vhost_port_ops = {
	.type = "vhost",
	.tx_burst = vhost_tx_burst,
	.rx_queues = vhost_rx_queues,
	.rx_burst = vhost_rx_burst,
	.rx_done = vhost_rx_done,
	.rx_fd = vhost_rx_fd,
	.rx_fd_edge = true,
	.mac_follows_rings = true,
	.rx_kicked = vhost_rx_kicked,
	.rx_notify = vhost_rx_notify,
	.release = vhost_release,
	.notify_flush = vhost_notify_flush,
	.raise_call = vhost_raise_call,
	.start = vhost_start,
	.destroy = vhost_destroy,
	.sock_path = vhost_sock_path,
};

struct port *port_vhost_create(struct sw *sw, const char *name,
			       const char *opts, char *err, size_t errlen)
{
	struct vhost_port *vp = calloc(1, sizeof(*vp));
	char key[32], val[128];
	const char *cur = opts;
	bool tso = true, migration = true, guest_announce = true, packed = true;
	bool in_order = true;
	int rc;

	(void)sw;
	if (!vp) {
		snprintf(err, errlen, "port %s: out of memory", name);
		return NULL;
	}
	snprintf(vp->port.name, sizeof(vp->port.name), "%s", name);
	vp->port.ops = &vhost_port_ops;
	vp->cfg.name = vp->port.name;
	vp->cfg.max_queue_pairs = 1;
	vp->cfg.features = VHU_DEV_FEATURES_DEFAULT;

	while ((rc = port_opt_next(&cur, key, sizeof(key), val, sizeof(val))) > 0) {
		if (!strcmp(key, "name") || !strcmp(key, "network")) {
			continue;
		} else if (!strcmp(key, "path") && val[0]) {
			size_t l = strlen(val);

			if (l >= sizeof(vp->path))
				goto bad_path;
			memcpy(vp->path, val, l + 1);
		} else if (!strcmp(key, "memslots") &&
			   (!strcmp(val, "on") || !strcmp(val, "off"))) {
			/* off: refuse CONFIGURE_MEM_SLOTS, so a frontend
			 * uses SET_MEM_TABLE instead of ADD_MEM_REG */
			vp->cfg.no_mem_slots = !strcmp(val, "off");
		} else if (!strcmp(key, "tso") && (!strcmp(val, "on") ||
						     !strcmp(val, "off"))) {
			tso = !strcmp(val, "on");
		} else if (!strcmp(key, "migration") && (!strcmp(val, "on") ||
							   !strcmp(val, "off"))) {
			/* off: no dirty logging offered (QEMU then refuses
			 * to migrate the VM) and no announce */
			migration = !strcmp(val, "on");
		} else if (!strcmp(key, "packed") && (!strcmp(val, "on") ||
							!strcmp(val, "off"))) {
			/* off: frontends get split rings only */
			packed = !strcmp(val, "on");
		} else if (!strcmp(key, "inorder") && (!strcmp(val, "on") ||
							 !strcmp(val, "off"))) {
			/* off: VIRTIO_F_IN_ORDER not offered (a driver then
			 * runs its general paths) */
			in_order = !strcmp(val, "on");
		} else if (!strcmp(key, "announce") && (!strcmp(val, "guest") ||
							  !strcmp(val, "rarp"))) {
			/* rarp: the guest is not asked to announce itself
			 * after a migration; QEMU sends SEND_RARP and the
			 * switch announces it instead */
			guest_announce = !strcmp(val, "guest");
		} else if (!strcmp(key, "client") && !val[0]) {
			vp->cfg.client = true;
			vp->port.reopens_by_path = true;
		} else if (!strcmp(key, "queues")) {
			char *end;
			long v = strtol(val, &end, 10);

			if (!val[0] || *end || v < 1 || v > VHU_MAX_QUEUE_PAIRS) {
				snprintf(err, errlen,
					 "port %s: queues=%s: want 1..%d", name,
					 val, VHU_MAX_QUEUE_PAIRS);
				goto fail;
			}
			vp->cfg.max_queue_pairs = (unsigned)v;
		} else if (!strcmp(key, "mtu")) {
			/* the largest MTU a frontend may announce to its guest
			 * (NET_SET_MTU), e.g. a vxlan overlay's */
			char *end;
			long v = strtol(val, &end, 10);

			if (!val[0] || *end || v < 68 || v > 65535) {
				snprintf(err, errlen,
					 "port %s: mtu=%s: want 68..65535", name,
					 val);
				goto fail;
			}
			vp->cfg.mtu = (uint16_t)v;
		} else if (!strcmp(key, "mode")) {
			/* the listening socket's mode (default 0600) */
			char *end;
			long v = strtol(val, &end, 8);

			if (!val[0] || *end || v > 0777 || (v & 0600) != 0600) {
				snprintf(err, errlen,
					 "port %s: mode=%s: want an octal mode with owner rw, e.g. 0660",
					 name, val);
				goto fail;
			}
			vp->cfg.sock_mode = (unsigned)v;
		} else if (!strcmp(key, "group")) {
			struct group *g = val[0] ? getgrnam(val) : NULL;
			char *end;
			long v = strtol(val, &end, 10);

			if (!g && (!val[0] || *end || v < 0 || v > 0x7fffffff)) {
				snprintf(err, errlen, "port %s: group=%s: no such group",
					 name, val);
				goto fail;
			}
			vp->cfg.sock_gid = g ? (unsigned)g->gr_gid : (unsigned)v;
			vp->cfg.has_sock_gid = true;
		} else if (!strcmp(key, "mac")) {
			if (pv_mac_parse(val, vp->port.mac) < 0 ||
			    pkt_mac_is_multicast(vp->port.mac)) {
				snprintf(err, errlen,
					 "port %s: mac=%s: want a unicast aa:bb:cc:dd:ee:ff",
					 name, val);
				goto fail;
			}
			vp->port.has_mac = true;
			memcpy(vp->cfg.mac, vp->port.mac, ETH_ALEN);
			vp->cfg.has_mac = true;
		} else {
			snprintf(err, errlen, "port %s: unknown option '%s%s%s' "
				 "(vhost takes path=, client, queues=, mac=, mtu=, memslots=on|off, tso=on|off, packed=on|off, inorder=on|off, mode=, group=, migration=on|off, announce=guest|rarp)",
				 name, key, val[0] ? "=" : "", val);
			goto fail;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "port %s: option too long", name);
		goto fail;
	}
	if (!vp->path[0]) {
		snprintf(err, errlen, "port %s: path= is required", name);
		goto fail;
	}
	if (vp->cfg.client && (vp->cfg.sock_mode || vp->cfg.has_sock_gid)) {
		snprintf(err, errlen, "port %s: mode= and group= are for the socket "
			 "pvnet listens on, not with client", name);
		goto fail;
	}
	if (migration)
		vp->cfg.features |= VHU_DEV_FEATURES_MIGRATION;
	if (!guest_announce)
		vp->cfg.features &= ~VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
	if (!packed)
		vp->cfg.features &= ~VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	if (!in_order)
		vp->cfg.features &= ~VIRTIO_BIT(VIRTIO_F_IN_ORDER);
	if (vp->cfg.max_queue_pairs > 1)
		vp->cfg.features |= VIRTIO_BIT(VIRTIO_NET_F_MQ);
	/* Large sends from the guest: segmented in software where needed. */
	if (tso)
		vp->cfg.features |= VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
				    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6);
	else
		vp->cfg.features &= ~(VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
				      VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) |
				      VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
				      VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6));
	vp->cfg.path = vp->path;
	vp->txq = calloc(vp->cfg.max_queue_pairs, sizeof(*vp->txq));
	if (!vp->txq) {
		snprintf(err, errlen, "port %s: out of memory", name);
		goto fail;
	}
	for (unsigned q = 0; q < vp->cfg.max_queue_pairs; q++)
		vring_elems_init(vp->txq[q].elems, PKT_BURST_MAX,
				 vp->txq[q].ovf);
	return &vp->port;

bad_path:
	snprintf(err, errlen, "port %s: path too long (max %zu)", name,
		 sizeof(vp->path) - 1);
fail:
	free(vp);
	return NULL;
}
