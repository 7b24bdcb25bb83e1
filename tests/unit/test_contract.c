// SPDX-License-Identifier: MIT
/*
 * test_contract.c - the control/data contract under traffic (issue 12), in
 * one process: the real switch (struct sw, vhost ports) and real dp workers
 * forward frames between fake guests while a "frontend" changes what the
 * workers use. The test thread is both guests' driver (it fills RX rings,
 * posts TX chains and kicks through fake guest memory); a second thread is
 * the control thread and feeds vhost-user messages to the devices with
 * vhu_dev_handle_msg(), the path the real control thread takes, so every
 * quiesce goes through the port's callbacks and the dp's own API.
 *
 * The assertions are on public behaviour only (messages in, frames and
 * interrupts out, counters after the workers are joined): every frame a
 * guest posted is received intact exactly once or counted as a capacity
 * drop, no ring fault is counted, the counters add up. tests/run also runs
 * this binary under ThreadSanitizer (build-tsan), where a data race between
 * the control thread and a worker fails it even when no frame showed it.
 *
 * Scenarios: (a) memory table changes under traffic, (b) call fd changes
 * under traffic, (c) four workers filling one guest's RX ring, (d) live
 * migration's dirty log mapped, replaced and switched on and off under
 * traffic; (a), (b) and (d) again over packed rings (VIRTIO_F_RING_PACKED
 * on both the device and the fake guest's driver); (c') the fan-in with
 * VIRTIO_F_IN_ORDER, split and packed, every chain checked to come back
 * in add order, with frames the switch drops on the way.
 */
#include <sys/eventfd.h>
#include <poll.h>
#include "contract_fixture.h"

/* ---- (a) memory table changes under traffic ---- */

struct churn {
	struct guest *g;
	int extra_fd;
	unsigned iters, failed;
	int done;		/* atomic */
};

/*
 * The frontend side of a memory hotplug, in a loop: a region below every
 * other (the table's order changes) comes and goes with ADD_MEM_REG and
 * REM_MEM_REG, and now and then the whole table is sent again as
 * SET_MEM_TABLE, as QEMU does without CONFIGURE_MEM_SLOTS.
 */
static void *churn_mem(void *arg)
{
	struct churn *c = arg;
	struct vhu_mem_single r = { 0, { 0, EXTRA_LEN, FG_UVA_BASE, 0 } };
	uint64_t until = pv_now_ns() + CHURN_NS;

	while (pv_now_ns() < until || c->iters < CHURN_MIN_ROUNDS) {
		int fd = dup(c->extra_fd);

		if (send_msg(c->g->dev, VHU_REQ_ADD_MEM_REG, &r, sizeof(r),
			     &fd, 1))
			c->failed++;
		/* frames flow with each table, as between a real hotplug's steps */
		usleep(500);
		if (send_msg(c->g->dev, VHU_REQ_REM_MEM_REG, &r, sizeof(r),
			     NULL, 0))
			c->failed++;
		if (c->iters % 4 == 3 && send_mem_table(c->g))
			c->failed++;
		usleep(500);
		c->iters++;
	}
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void mem_table_run(uint64_t features)
{
	struct world *w = world_new();
	struct guest *a, *b;
	struct churn c = { 0 };
	pthread_t th;

	a = guest_new(w, true, true, features);
	b = guest_new(w, true, true, features);
	world_start(w, 2, DP_NOTIFY_POLL);
	a->dst_mac = b->port->mac;
	b->dst_mac = a->port->mac;
	a->limit = b->limit = UINT64_MAX;
	c.g = a;
	c.extra_fd = memfd_create("pvnet-extra", MFD_CLOEXEC);
	assert_true(c.extra_fd >= 0);
	assert_int_equal(ftruncate(c.extra_fd, EXTRA_LEN), 0);

	assert_int_equal(pthread_create(&th, NULL, churn_mem, &c), 0);
	while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
		drive(w);
	pthread_join(th, NULL);
	a->limit = a->sent;
	b->limit = b->sent;
	drain(w);
	world_stop_workers(w);

	print_message("mem churn: %u rounds; a->b %llu sent %llu rcvd, "
		      "b->a %llu sent %llu rcvd\n", c.iters,
		      (unsigned long long)a->sent, (unsigned long long)b->rcvd,
		      (unsigned long long)b->sent, (unsigned long long)a->rcvd);
	assert_int_equal(c.failed, 0);
	assert_true(c.iters > 0);
	assert_true(a->rcvd > 0 && b->rcvd > 0);
	assert_clean(a);
	assert_clean(b);
	assert_int_equal(b->rcvd + cap_drops(b), a->sent);
	assert_int_equal(a->rcvd + cap_drops(a), b->sent);
	close(c.extra_fd);
	world_free(w);
	free(w);
}

static void mem_table_changes_under_traffic(void **state)
{
	(void)state;
	mem_table_run(F_EVIDX);
}

static void packed_mem_table_changes_under_traffic(void **state)
{
	(void)state;
	mem_table_run(F_EVIDX | F_PACKED);
}

/* ---- (b) call fd changes under traffic ---- */

#define TRAPS	16

struct callchurn {
	struct guest *g;
	unsigned iters, failed, traps, stray;
	int last_call;		/* the frontend's copy of the last call fd */
	int done;		/* atomic */
};

/* Bytes waiting on either end of a trap socket pair. */
static bool trap_hit(const int sv[2])
{
	char buf[64];

	return recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT) > 0 ||
	       recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0;
}

/*
 * SET_VRING_CALL with a fresh eventfd on the guest's RX ring, in a loop.
 * The backend closes the call fd it had; right after, a socket pair takes
 * the lowest free numbers, usually that one: a worker that still writes
 * the old number would put 8 bytes into the socket, and the test sees them.
 */
static void *churn_call(void *arg)
{
	struct callchurn *c = arg;
	int traps[TRAPS][2], fresh[2], ntr = 0, mine = -1;
	uint64_t until = pv_now_ns() + CHURN_NS;

	while (pv_now_ns() < until) {
		int old = vhu_dev_callfd(c->g->dev, RXR), *sv;

		if (send_vring_fd(c->g->dev, VHU_REQ_SET_VRING_CALL, RXR,
				  &c->last_call))
			c->failed++;
		/* the new pair first, so it takes the number just freed */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fresh) < 0) {
			c->failed++;
			break;
		}
		c->traps += fresh[0] == old || fresh[1] == old;
		sv = traps[ntr % TRAPS];
		if (ntr >= TRAPS) {
			c->stray += trap_hit(sv);
			close(sv[0]);
			close(sv[1]);
		}
		sv[0] = fresh[0];
		sv[1] = fresh[1];
		ntr++;
		if (mine >= 0)
			close(mine);
		mine = c->last_call;
		c->iters++;
	}
	/* late writes of a stale number would still be in flight only briefly */
	usleep(20000);
	for (int i = 0; i < PV_MIN(ntr, TRAPS); i++) {
		c->stray += trap_hit(traps[i]);
		close(traps[i][0]);
		close(traps[i][1]);
	}
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void call_fd_run(uint64_t features)
{
	struct world *w = world_new();
	struct guest *a, *b;
	struct callchurn c = { 0 };
	struct pollfd pfd;
	uint64_t v, sent0;
	pthread_t th;

	/* No EVENT_IDX: the device interrupts after every burst it delivers. */
	a = guest_new(w, true, true, features);
	b = guest_new(w, true, true, features);
	world_start(w, 2, DP_NOTIFY_POLL);
	a->dst_mac = b->port->mac;
	a->limit = UINT64_MAX;
	c.g = b;
	c.last_call = -1;

	assert_int_equal(pthread_create(&th, NULL, churn_call, &c), 0);
	while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
		drive(w);
	pthread_join(th, NULL);
	a->limit = a->sent;
	drain(w);

	/* B is interrupted on its last call fd after the last change. */
	while (read(c.last_call, &v, sizeof(v)) > 0)
		;
	sent0 = a->sent;
	a->limit = a->sent + 8;
	pfd = (struct pollfd){ .fd = c.last_call, .events = POLLIN };
	for (uint64_t until = pv_now_ns() + LIVENESS_NS;
	     !poll(&pfd, 1, 0) && pv_now_ns() < until;)
		drive(w);
	assert_true(pfd.revents & POLLIN);
	drain(w);
	world_stop_workers(w);

	print_message("call churn: %u changes, %u traps set; %llu frames sent, "
		      "%llu received\n", c.iters, c.traps,
		      (unsigned long long)a->sent, (unsigned long long)b->rcvd);
	assert_int_equal(c.failed, 0);
	/* the trap was really set, so the next line can fail */
	assert_true(c.traps > 0);
	if (c.stray)
		fail_msg("%u writes landed in a closed (reused) call fd", c.stray);
	assert_true(a->sent > sent0);
	assert_clean(a);
	assert_clean(b);
	assert_int_equal(b->rcvd + cap_drops(b), a->sent);
	close(c.last_call);
	world_free(w);
	free(w);
}

static void call_fd_changes_under_traffic(void **state)
{
	(void)state;
	call_fd_run(F_BASE);
}

static void packed_call_fd_changes_under_traffic(void **state)
{
	(void)state;
	call_fd_run(F_BASE | F_PACKED);
}

/* ---- (c) many workers filling one guest ring ---- */

#define FAN_IN		4
#define FAN_FRAMES	3000

static void many_workers_fill_one_ring(void **state)
{
	struct world *w = world_new();
	struct guest *src[FAN_IN], *b;
	uint64_t sent = 0, nq = 0;

	(void)state;
	/* the sources first: each one's TX queue goes to its own worker */
	for (unsigned i = 0; i < FAN_IN; i++)
		src[i] = guest_new(w, false, true, F_EVIDX);
	b = guest_new(w, true, false, F_EVIDX);
	world_start(w, FAN_IN, DP_NOTIFY_ADAPTIVE);
	/*
	 * Every queue a port can ever have is assigned before the workers
	 * start, round-robin in port order: the four sources sit on four
	 * workers, B's (idle) TX queue shares worker 0.
	 */
	for (unsigned k = 0; k < FAN_IN; k++) {
		assert_true(dp_worker_stats(w->dp, k)->nqueues >= 1);
		nq += dp_worker_stats(w->dp, k)->nqueues;
	}
	assert_int_equal(nq, FAN_IN + 1);
	for (unsigned i = 0; i < FAN_IN; i++) {
		src[i]->dst_mac = b->port->mac;
		src[i]->limit = FAN_FRAMES;
		/* the four together about fill B's ring once per round */
		src[i]->burst = QSZ / FAN_IN / 2;
	}
	drain(w);
	world_stop_workers(w);

	for (unsigned i = 0; i < FAN_IN; i++) {
		sent += src[i]->sent;
		assert_int_equal(src[i]->sent, FAN_FRAMES);
		assert_int_equal(ring_faults(src[i]), 0);
		assert_int_equal(src[i]->port->st.rx_pkts, FAN_FRAMES);
		assert_int_equal(port_drops_total(src[i]), 0);
	}
	print_message("fan-in: %llu frames from %u sources, %llu received, "
		      "%llu dropped (no buffer)\n", (unsigned long long)sent,
		      FAN_IN, (unsigned long long)b->rcvd,
		      (unsigned long long)port_drops(b, PV_DROP_RX_NO_BUF));
	assert_clean(b);
	/* exactly once or counted: nothing lost, nothing twice */
	assert_int_equal(b->rcvd + port_drops(b, PV_DROP_RX_NO_BUF), sent);
	assert_int_equal(port_drops(b, PV_DROP_RX_NOT_READY), 0);
	assert_true(b->rcvd > 0);
	/* what the device published is what the driver harvested */
	assert_int_equal(fg_ring_used_idx(&b->ring[RXR]), (uint16_t)b->rcvd);
	world_free(w);
	free(w);
}

/*
 * (c') The same fan-in with VIRTIO_F_IN_ORDER negotiated by every guest:
 * chains come back to each driver in the order they were added, on the
 * sources' TX rings (each chain's entry in its place, the dropped ones'
 * too) and on B's RX ring, which several workers fill through leases.
 * One source sends frames the switch must drop (a bad GSO type, a chain
 * shorter than the header): counted by reason, and returned in order.
 */
#define IO_SRC		3
#define IO_BAD_EVERY	9	/* 333 bad frames: odd, GSO one more than TRUNC */

static void in_order_fan_in(uint64_t features)
{
	struct world *w = world_new();
	struct guest *src[IO_SRC], *b;
	uint64_t sent = 0, bad;

	for (unsigned i = 0; i < IO_SRC; i++)
		src[i] = guest_new(w, false, true, features);
	b = guest_new(w, true, false, features);
	world_start(w, IO_SRC, DP_NOTIFY_ADAPTIVE);
	for (unsigned i = 0; i < IO_SRC; i++) {
		assert_true(vhu_dev_features(src[i]->dev) & F_INORDER);
		src[i]->dst_mac = b->port->mac;
		src[i]->limit = FAN_FRAMES;
		src[i]->burst = QSZ / IO_SRC / 2;
	}
	assert_true(vhu_dev_features(b->dev) & F_INORDER);
	src[0]->bad_every = IO_BAD_EVERY;
	drain(w);
	world_stop_workers(w);

	bad = src[0]->bad_sent;
	assert_int_equal(bad, FAN_FRAMES / IO_BAD_EVERY);
	for (unsigned i = 0; i < IO_SRC; i++) {
		struct guest *s = src[i];

		sent += s->sent;
		assert_int_equal(s->sent, FAN_FRAMES);
		assert_int_equal(s->tx_done, FAN_FRAMES);
		if (s->order_bad)
			fail_msg("%s: %llu TX chains out of order", s->name,
				 (unsigned long long)s->order_bad);
		assert_int_equal(ring_faults(s), 0);
		assert_int_equal(s->port->st.rx_pkts, FAN_FRAMES);
	}
	/* the hostile frames: counted by reason on their port, nothing else
	 * (the first bad frame has the bad GSO type, then they alternate) */
	assert_true(bad & 1);
	assert_int_equal(port_drops(src[0], PV_DROP_PKT_HDR_GSO), (bad + 1) / 2);
	assert_int_equal(port_drops(src[0], PV_DROP_PKT_TRUNC), bad / 2);
	assert_int_equal(port_drops_total(src[0]), bad);
	print_message("in order: %llu frames from %u sources (%llu dropped "
		      "bad), %llu received, %llu dropped (no buffer)\n",
		      (unsigned long long)sent, IO_SRC, (unsigned long long)bad,
		      (unsigned long long)b->rcvd,
		      (unsigned long long)port_drops(b, PV_DROP_RX_NO_BUF));
	assert_clean(b);
	assert_int_equal(b->rcvd + port_drops(b, PV_DROP_RX_NO_BUF), sent - bad);
	assert_true(b->rcvd > 0);
	world_free(w);
	free(w);
}

static void in_order_fan_in_split(void **state)
{
	(void)state;
	in_order_fan_in(F_EVIDX | F_INORDER);
}

static void in_order_fan_in_packed(void **state)
{
	(void)state;
	in_order_fan_in(F_EVIDX | F_PACKED | F_INORDER);
}

/*
 * (c'') In order with GRO holding chains: every source sends TCP segments
 * of 3 flows (PSH on some) toward B, which takes large TCP (GUEST_TSO,
 * MRG_RXBUF); the workers' GRO (adaptive) holds source chains across
 * polls while later ones are done. Every TX chain must still come back in
 * the order it was added, and B's RX buffers too.
 */
#define F_GSO_RX	(VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | \
			 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | \
			 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | \
			 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF))

static void in_order_gro(uint64_t features)
{
	struct world *w = world_new();
	struct guest *src[IO_SRC], *b;
	uint64_t merged;

	assert_int_equal(gro_cfg_parse("adaptive", &world_gro), 0);
	for (unsigned i = 0; i < IO_SRC; i++)
		src[i] = guest_new(w, false, true, features |
				   VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	b = guest_new(w, true, false, features | F_GSO_RX);
	world_start(w, IO_SRC, DP_NOTIFY_ADAPTIVE);
	memset(&world_gro, 0, sizeof(world_gro));
	for (unsigned i = 0; i < IO_SRC; i++) {
		assert_true(vhu_dev_features(src[i]->dev) & F_INORDER);
		src[i]->dst_mac = b->port->mac;
		src[i]->limit = FAN_FRAMES;
		src[i]->burst = QSZ / IO_SRC / 2;
		src[i]->tcp = true;
		src[i]->tcp_flows = 2 + i % 2;
		src[i]->tcp_psh_every = 7 + 4 * i;
	}
	assert_true(vhu_dev_features(b->dev) & F_INORDER);
	assert_true(vhu_dev_features(b->dev) & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4));
	b->tcp = true;
	drain(w);
	world_stop_workers(w);

	for (unsigned i = 0; i < IO_SRC; i++) {
		struct guest *s = src[i];

		assert_int_equal(s->sent, FAN_FRAMES);
		assert_int_equal(s->tx_done, FAN_FRAMES);
		if (s->order_bad)
			fail_msg("%s: %llu TX chains out of order", s->name,
				 (unsigned long long)s->order_bad);
		assert_int_equal(ring_faults(s), 0);
		assert_int_equal(port_drops_total(s), 0);
	}
	merged = b->port->st.merged;
	print_message("in order, GRO: %u sources, %llu segments merged, "
		      "%llu RX buffers used, %llu dropped (no buffer)\n",
		      IO_SRC, (unsigned long long)merged,
		      (unsigned long long)b->rcvd,
		      (unsigned long long)port_drops(b, PV_DROP_RX_NO_BUF));
	/* GRO held and merged chains: the case this test is about */
	assert_true(merged > 0);
	if (b->bad)
		fail_msg("%s: %llu RX buffers with bytes not sent", b->name,
			 (unsigned long long)b->bad);
	if (b->order_bad)
		fail_msg("%s: %llu RX chains out of order", b->name,
			 (unsigned long long)b->order_bad);
	assert_int_equal(ring_faults(b), 0);
	assert_true(b->rcvd > 0);
	world_free(w);
	free(w);
}

static void in_order_gro_split(void **state)
{
	(void)state;
	in_order_gro(F_EVIDX | F_INORDER);
}

static void in_order_gro_packed(void **state)
{
	(void)state;
	in_order_gro(F_EVIDX | F_PACKED | F_INORDER);
}

/* ---- (d) the dirty log under traffic ---- */

#define LOG_BYTES	65536		/* 2 GiB of guest-physical pages */

struct logchurn {
	struct guest *g;
	int logfd;		/* the last log sent (the test reads it) */
	unsigned iters, failed;
	int done;		/* atomic */
};

static int new_log(void)
{
	int fd = memfd_create("pvnet-dirty-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && ftruncate(fd, LOG_BYTES) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* SET_FEATURES with or without LOG_ALL, then the RX ring's address with
 * the log flag, as QEMU switches logging on running rings. */
static int set_logging(struct guest *g, bool on)
{
	struct fg_ring *ring = &g->ring[RXR];
	struct vhu_vring_addr a = {
		.index = RXR,
		.flags = on ? VHU_VRING_F_LOG : 0,
		.desc_uva = FG_UVA_BASE + ring->desc_gpa,
		.used_uva = FG_UVA_BASE + ring->used_gpa,
		.avail_uva = FG_UVA_BASE + ring->avail_gpa,
		.log_gpa = on ? ring->used_gpa : 0,
	};
	int rc = send_u64(g->dev, VHU_REQ_SET_FEATURES,
			  g->features | (on ? VIRTIO_BIT(VHOST_F_LOG_ALL) : 0));

	return rc | send_msg(g->dev, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/*
 * QEMU's migration steps in a loop on the receiving guest: a log (a new
 * one every fourth round), logging on, frames, logging off. Ends with a
 * fresh log and logging on.
 */
static void *churn_log(void *arg)
{
	struct logchurn *c = arg;
	struct vhu_log l = { .mmap_size = LOG_BYTES };
	uint64_t until = pv_now_ns() + CHURN_NS;

	while (pv_now_ns() < until) {
		int fd;

		if (c->iters % 4 == 0) {
			int nfd = new_log();

			if (nfd < 0) {
				c->failed++;
				break;
			}
			close(c->logfd);
			c->logfd = nfd;
		}
		fd = dup(c->logfd);
		if (send_msg(c->g->dev, VHU_REQ_SET_LOG_BASE, &l, sizeof(l), &fd, 1) ||
		    set_logging(c->g, true))
			c->failed++;
		usleep(500);
		if (set_logging(c->g, false))
			c->failed++;
		usleep(300);
		c->iters++;
	}
	{
		int nfd = new_log(), fd;

		close(c->logfd);
		c->logfd = nfd;
		fd = nfd >= 0 ? dup(nfd) : -1;
		if (fd < 0 ||
		    send_msg(c->g->dev, VHU_REQ_SET_LOG_BASE, &l, sizeof(l), &fd, 1) ||
		    set_logging(c->g, true))
			c->failed++;
	}
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool log_dirty(const uint8_t *log, uint64_t gpa)
{
	uint64_t page = gpa >> VRING_LOG_PAGE_SHIFT;

	return page / 8 < LOG_BYTES && (log[page / 8] & (1u << (page % 8)));
}

static void dirty_log_run(uint64_t features)
{
	struct world *w = world_new();
	struct guest *a, *b;
	struct logchurn c = { .logfd = -1 };
	const uint8_t *log;
	unsigned checked = 0;
	pthread_t th;

	a = guest_new(w, false, true, features);
	b = guest_new(w, true, false, features);
	world_start(w, 2, DP_NOTIFY_POLL);
	assert_int_equal(send_u64(b->dev, VHU_REQ_SET_PROTOCOL_FEATURES,
				  VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |
				  VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS) |
				  VIRTIO_BIT(VHU_PROTO_F_LOG_SHMFD)), 0);
	a->dst_mac = b->port->mac;
	a->limit = UINT64_MAX;
	c.g = b;

	assert_int_equal(pthread_create(&th, NULL, churn_log, &c), 0);
	while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
		drive(w);
	pthread_join(th, NULL);
	assert_int_equal(c.failed, 0);
	/* everything before the last log is in; then frames under it only */
	a->limit = a->sent;
	drain(w);
	b->track = true;
	a->limit = a->sent + 2 * QSZ;
	drain(w);
	world_stop_workers(w);

	print_message("log churn: %u rounds; %llu frames sent, %llu received\n",
		      c.iters, (unsigned long long)a->sent,
		      (unsigned long long)b->rcvd);
	assert_true(c.iters > 0);
	assert_clean(a);
	assert_clean(b);
	assert_int_equal(b->rcvd + cap_drops(b), a->sent);
	assert_int_equal(vhu_dev_stats(b->dev)->faults.n[PV_DROP_VHU_LOG], 0);
	assert_int_equal(vhu_dev_stats(b->dev)->log_bases, c.iters + 1);
	assert_true(vhu_dev_logging(b->dev));
	/* every buffer written under the last log, and the used ring, marked */
	log = mmap(NULL, LOG_BYTES, PROT_READ, MAP_SHARED, c.logfd, 0);
	assert_true(log != MAP_FAILED);
	for (unsigned i = 0; i < QSZ; i++) {
		if (!b->filled[i])
			continue;
		checked++;
		if (!log_dirty(log, b->buf_gpa[RXR][i]))
			fail_msg("buffer %u at gpa 0x%llx written, not logged", i,
				 (unsigned long long)b->buf_gpa[RXR][i]);
	}
	assert_true(checked > 0);
	/* split: the used ring; packed: the used descriptors written back
	 * into the descriptor ring */
	if (features & F_PACKED)
		assert_true(log_dirty(log, b->ring[RXR].desc_gpa));
	else
		assert_true(log_dirty(log, b->ring[RXR].used_gpa));
	/* the TX ring's buffers are only read: a's side logs nothing */
	munmap((void *)log, LOG_BYTES);
	close(c.logfd);
	world_free(w);
	free(w);
}

static void dirty_log_under_traffic(void **state)
{
	(void)state;
	dirty_log_run(F_EVIDX);
}

/* LOG_ALL with RING_PACKED: refused until the packed ring was logged */
static void packed_dirty_log_under_traffic(void **state)
{
	(void)state;
	dirty_log_run(F_EVIDX | F_PACKED);
}

/*
 * A worker stalled between its lease's reservation and its copy (the host
 * preempted it) while another worker keeps delivering to the same guest RX
 * ring: the other's leases queue behind the stalled one, unpublished. Once
 * more leases wait than the lease ring holds, the newest must be refused as
 * for a full ring, never written over the stalled lease's slot (which
 * published the stalled lease's used entry before its copy: the guest read
 * a stale entry). The hook stalls the chosen thread; it exists only in
 * the PV_TEST_HOOKS object of port_vhost.c this test links (Makefile).
 */
extern void (*port_vhost_lease_hook)(struct port *p);
static __thread bool stall_me;	/* the thread to stall */
static int stall_state;	/* 1 armed, 2 stalled, 3 released */

static void stall_hook(struct port *p)
{
	(void)p;
	if (!stall_me ||
	    __atomic_load_n(&stall_state, __ATOMIC_ACQUIRE) != 1)
		return;
	__atomic_store_n(&stall_state, 2, __ATOMIC_RELEASE);
	while (__atomic_load_n(&stall_state, __ATOMIC_ACQUIRE) != 3)
		usleep(100);
}

struct stall_one {
	struct port *port;
	struct pkt *pk;
};

static void *stalled_sender(void *arg)
{
	struct stall_one *a = arg;

	stall_me = true;
	a->port->ops->tx_burst(a->port, 0, &a->pk, 1);
	return NULL;
}

#define STALL_FRAMES	200	/* > the lease ring, < the RX ring */

static void stall_pkt(struct pkt *pk, uint8_t *f, const uint8_t *dst,
		      uint64_t seq)
{
	uint32_t len = frame_len(seq);

	build_frame(f, dst, 1, seq, len);
	memset(pk, 0, sizeof(*pk));
	pk->seg[0].iov_base = f;
	pk->seg[0].iov_len = len;
	pk->nseg = 1;
	pk->len = len;
}

static void leases_queue_behind_a_stalled_worker(void **state)
{
	struct world *w = world_new();
	struct guest *b;
	static uint8_t frames[STALL_FRAMES + 1][1600];
	static struct pkt pk[STALL_FRAMES + 1];
	struct stall_one one;
	pthread_t t;
	uint64_t nobuf;

	(void)state;
	b = guest_new(w, true, false, F_EVIDX);
	world_start(w, 1, DP_NOTIFY_ADAPTIVE);
	rx_refill(b);
	for (unsigned k = 0; k <= STALL_FRAMES; k++)
		stall_pkt(&pk[k], frames[k], b->port->mac, k + 1);

	port_vhost_lease_hook = stall_hook;
	stall_state = 1;
	one.port = b->port;
	one.pk = &pk[0];
	assert_int_equal(pthread_create(&t, NULL, stalled_sender, &one), 0);
	while (__atomic_load_n(&stall_state, __ATOMIC_ACQUIRE) != 2)
		usleep(100);
	/* one packet a lease, each behind the stalled one */
	for (unsigned k = 1; k <= STALL_FRAMES; k++) {
		struct pkt *one_pk = &pk[k];

		b->port->ops->tx_burst(b->port, 0, &one_pk, 1);
	}
	/* nothing is published past the stalled lease: the guest sees none */
	rx_reap(b);
	assert_int_equal(b->rcvd, 0);
	assert_int_equal(b->bad, 0);
	__atomic_store_n(&stall_state, 3, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	port_vhost_lease_hook = NULL;
	rx_reap(b);
	world_stop_workers(w);

	nobuf = port_drops(b, PV_DROP_RX_NO_BUF);
	print_message("stalled lease: %llu delivered behind it, %llu refused\n",
		      (unsigned long long)b->rcvd, (unsigned long long)nobuf);
	assert_true(vring_ready(&b->ring[RXR].drv));
	assert_int_equal(b->bad, 0);
	assert_int_equal(ring_faults(b), 0);
	assert_int_equal(b->rcvd + nobuf, STALL_FRAMES + 1);
	assert_true(nobuf > 0);	/* the lease ring did fill */
	assert_true(b->rcvd > 100);
	world_free(w);
	free(w);
}

/*
 * The round's one notification barrier (dp_defer_notify): the driver of
 * guest b's RX ring re-enables its interrupt exactly between the worker's
 * early read of its flags (or used_event), which said no, and the round's
 * barrier, as a driver that enables, fences and reads the old used->idx
 * would; the re-check after the barrier must raise the interrupt, or that
 * driver sleeps on a frame it was never told about.
 */
extern void (*port_vhost_notify_hook)(struct port *p, unsigned vidx);
static struct guest *reen_guest;
static int reen_armed;

static void reenable_hook(struct port *p, unsigned vidx)
{
	struct vring *drv;

	if (!__atomic_load_n(&reen_armed, __ATOMIC_ACQUIRE) ||
	    p != reen_guest->port || vidx != 0)
		return;
	drv = &reen_guest->ring[RXR].drv;
	if (drv->event_idx)	/* it saw used 1, asks for a call past it */
		WRITE_ONCE(drv->avail->ring[QSZ], htole16(1));
	else
		WRITE_ONCE(drv->avail->flags, 0);
	__atomic_store_n(&reen_armed, 0, __ATOMIC_RELEASE);
}

/* Drives until guest @b received @n frames (liveness bound only). */
static void drive_until(struct world *w, struct guest *b, uint64_t n)
{
	uint64_t until = pv_now_ns() + LIVENESS_NS;

	while (b->rcvd < n && pv_now_ns() < until) {
		drive(w);
		usleep(100);
	}
	assert_int_equal(b->rcvd, n);
}

static bool readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

static void call_reenabled_before_the_barrier(void **state)
{
	const uint64_t feats[2] = { F_BASE, F_EVIDX };

	(void)state;
	for (unsigned f = 0; f < 2; f++) {
		struct world *w = world_new();
		struct guest *a, *b;
		eventfd_t v;

		a = guest_new(w, false, true, feats[f]);
		b = guest_new(w, true, false, feats[f]);
		a->dst_mac = b->port->mac;
		a->limit = 1;
		world_start(w, 1, DP_NOTIFY_POLL);
		rx_refill(b);
		vring_drv_set_call(&b->ring[RXR].drv, false);
		/* frame 1: the ring's first decision, with the barrier */
		drive_until(w, b, 1);
		if (readable(b->call[RXR], 0))
			assert_int_equal(eventfd_read(b->call[RXR], &v), 0);
		reen_guest = b;
		__atomic_store_n(&port_vhost_notify_hook, reenable_hook,
				 __ATOMIC_RELEASE);
		__atomic_store_n(&reen_armed, 1, __ATOMIC_RELEASE);
		/* frame 2: early "no", the driver re-enables, the barrier */
		a->limit = 2;
		drive_until(w, b, 2);
		assert_true(readable(b->call[RXR], 2000));
		assert_int_equal(__atomic_load_n(&reen_armed, __ATOMIC_ACQUIRE), 0);
		/* it was the round's barrier, not one per publish (read after
		 * a grace period: the worker's stats are plain counters, and
		 * with no traffic left it writes none of them meanwhile) */
		dp_sync(w->dp, false);
		assert_true(dp_worker_stats(w->dp, 0)->notify_deferred >= 1);
		world_stop_workers(w);
		__atomic_store_n(&port_vhost_notify_hook, NULL, __ATOMIC_RELEASE);
		assert_int_equal(b->bad, 0);
		world_free(w);
		free(w);
	}
}

/*
 * Every interrupt the switch raises on a guest's RX ring is counted once in
 * txq_irqs, whichever path decided it: a "yes" at the publish, or a "no"
 * read early that the round's barrier turned into a "yes" (the notify hook
 * re-enables in between, as above). The call eventfd's counter sums the
 * writes the guest received; the stat must equal it. First, a guest whose
 * counter is full: no write gets through (irq_blocked), none is counted.
 */
static void irqs_counted_once(void **state)
{
	const uint64_t feats[2] = { F_BASE, F_EVIDX };

	(void)state;
	for (unsigned f = 0; f < 2; f++) {
		struct world *w = world_new();
		struct guest *a, *b;
		eventfd_t v = 0;

		a = guest_new(w, false, true, feats[f]);
		b = guest_new(w, true, false, feats[f]);
		a->dst_mac = b->port->mac;
		a->burst = 8;
		a->limit = 64;
		world_start(w, 1, DP_NOTIFY_POLL);
		rx_refill(b);
		/* the eventfd counter at its maximum: every write would block */
		assert_int_equal(eventfd_write(b->call[RXR],
					       0xfffffffffffffffeULL), 0);
		a->limit = 16;
		while (b->rcvd < a->limit) {
			drive(w);
			vring_drv_set_call(&b->ring[RXR].drv, true);
			usleep(100);
		}
		world_stop_workers(w);
		assert_true(b->port->st.irq_blocked >= 1);
		assert_int_equal(b->port->st.txq_irqs[0], 0);
		assert_int_equal(eventfd_read(b->call[RXR], &v), 0);
		assert_true(v == 0xfffffffffffffffeULL);
		world_free(w);
		free(w);

		/* calls wanted after every harvest: one per publish or so */
		w = world_new();
		a = guest_new(w, false, true, feats[f]);
		b = guest_new(w, true, false, feats[f]);
		a->dst_mac = b->port->mac;
		a->burst = 8;
		a->limit = 64;
		world_start(w, 1, DP_NOTIFY_POLL);
		rx_refill(b);
		while (b->rcvd < a->limit) {
			drive(w);
			vring_drv_set_call(&b->ring[RXR].drv, true);
			usleep(100);
		}
		/* then a "no" that the barrier re-reads as a "yes" */
		vring_drv_set_call(&b->ring[RXR].drv, false);
		a->limit++;
		drive_until(w, b, a->limit);
		reen_guest = b;
		__atomic_store_n(&port_vhost_notify_hook, reenable_hook,
				 __ATOMIC_RELEASE);
		__atomic_store_n(&reen_armed, 1, __ATOMIC_RELEASE);
		a->limit++;
		drive_until(w, b, a->limit);
		assert_true(readable(b->call[RXR], 2000));
		assert_int_equal(__atomic_load_n(&reen_armed, __ATOMIC_ACQUIRE), 0);
		world_stop_workers(w);
		__atomic_store_n(&port_vhost_notify_hook, NULL, __ATOMIC_RELEASE);
		assert_int_equal(eventfd_read(b->call[RXR], &v), 0);
		assert_true(v >= 2);
		assert_int_equal(b->port->st.irq_blocked, 0);
		assert_int_equal(b->port->st.txq_irqs[0], v);
		assert_int_equal(b->bad, 0);
		world_free(w);
		free(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(call_reenabled_before_the_barrier),
		cmocka_unit_test(irqs_counted_once),
		cmocka_unit_test(mem_table_changes_under_traffic),
		cmocka_unit_test(call_fd_changes_under_traffic),
		cmocka_unit_test(many_workers_fill_one_ring),
		cmocka_unit_test(dirty_log_under_traffic),
		cmocka_unit_test(packed_mem_table_changes_under_traffic),
		cmocka_unit_test(packed_call_fd_changes_under_traffic),
		cmocka_unit_test(packed_dirty_log_under_traffic),
		cmocka_unit_test(in_order_fan_in_split),
		cmocka_unit_test(in_order_fan_in_packed),
		cmocka_unit_test(in_order_gro_split),
		cmocka_unit_test(in_order_gro_packed),
		cmocka_unit_test(leases_queue_behind_a_stalled_worker),
	};

	pv_log_set_level(PV_LOG_ERR);
	return cmocka_run_group_tests_name("contract", tests, NULL, NULL);
}
