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
 * traffic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/fakeguest.h"
#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "pvnet/port.h"
#include "pvnet/switch.h"
#include "pvnet/vhost.h"

/* Not in a header: the accessor ctl/stats.c uses (port_vhost.c). */
struct vhu_dev *port_vhost_dev(struct port *p);

#define RS		(1u << 20)	/* fake guest region size */
#define QSZ		256		/* every ring */
#define BUF_LEN		2048		/* one frame per buffer (no MRG_RXBUF) */
#define HDR_LEN		12		/* virtio-net header with VERSION_1 */
#define MAGIC		0x7c0ffee5u
#define MAX_GUESTS	6
#define EXTRA_LEN	65536		/* the region added and removed in (a) */
/* Liveness only: a run that needs this long is stuck, not slow. */
#define LIVENESS_NS	(60ULL * 1000000000ULL)
#define CHURN_NS	(300ULL * 1000000ULL)	/* control churn per scenario */
/* (a) under TSan: each round remaps, ~100 ms; have a few whatever the time */
#define CHURN_MIN_ROUNDS 16

#define F_BASE	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | \
		 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
#define F_EVIDX	(F_BASE | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX))

enum { RXR, TXR };	/* vring 0 is the guest's RX, vring 1 its TX */

struct guest {
	unsigned id;
	char name[16], path[80];
	struct fakeguest fg;
	struct port *port;
	struct vhu_dev *dev;
	uint64_t features;
	bool ring_on[2];
	struct fg_ring ring[2];
	int kick[2], call[2];		/* the frontend's copies */
	uint64_t buf_gpa[2][QSZ];
	uint8_t *buf[2][QSZ];		/* driver view of each buffer */
	uint16_t free_buf[2][QSZ];
	unsigned nfree[2];
	/* driver side of traffic */
	const uint8_t *dst_mac;		/* NULL: sends nothing */
	uint64_t limit;			/* frames to send at most */
	unsigned burst;			/* at most per driver round; 0: all */
	uint64_t sent, tx_done;
	uint64_t rcvd, bad;
	/*
	 * The driver refused to add a chain: its ring broke on a used entry
	 * the device got wrong. Counted, not asserted, while the control
	 * thread runs: a cmocka failure there would leave that thread behind.
	 */
	uint64_t drv_err;
	int64_t last_seq[MAX_GUESTS];	/* per source, -1: none yet */
	bool track;			/* (d): note each RX buffer filled */
	bool filled[QSZ];
};

struct world {
	struct sw *sw;
	struct dp *dp;
	struct guest *g[MAX_GUESTS];
	unsigned n;
};

static uint8_t mac_of(unsigned id)
{
	return (uint8_t)(0x10 + id);
}

/* ---- a frontend without a socket: messages straight into the device ---- */

static int send_msg(struct vhu_dev *d, uint32_t req, const void *payload,
		    uint32_t size, const int *fds, unsigned nfds)
{
	struct vhu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHU_FLAG_VERSION;
	m.hdr.size = size;
	if (size)
		memcpy(m.payload.bytes, payload, size);
	for (unsigned i = 0; i < nfds; i++)
		m.fds[i] = fds[i];
	m.nfds = nfds;
	return vhu_dev_handle_msg(d, &m);	/* takes the fds */
}

static int send_u64(struct vhu_dev *d, uint32_t req, uint64_t v)
{
	return send_msg(d, req, &v, sizeof(v), NULL, 0);
}

static int send_state(struct vhu_dev *d, uint32_t req, uint32_t idx,
		      uint32_t num)
{
	struct vhu_vring_state s = { idx, num };

	return send_msg(d, req, &s, sizeof(s), NULL, 0);
}

/* SET_VRING_KICK/CALL with a new eventfd; the frontend keeps *mine. */
static int send_vring_fd(struct vhu_dev *d, uint32_t req, uint32_t idx,
			 int *mine)
{
	uint64_t v = idx;
	int ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (ev < 0)
		return -errno;
	*mine = dup(ev);
	if (*mine < 0) {
		close(ev);
		return -errno;
	}
	return send_msg(d, req, &v, sizeof(v), &ev, 1);
}

/* SET_MEM_TABLE with the fake guest's three regions (QEMU's fallback path). */
static int send_mem_table(struct guest *g)
{
	struct vhu_mem_table mt = { .nregions = FG_NREGIONS };
	int fds[FG_NREGIONS];

	for (unsigned i = 0; i < FG_NREGIONS; i++) {
		mt.regions[i].gpa = g->fg.reg[i].gpa;
		mt.regions[i].size = g->fg.reg[i].size;
		mt.regions[i].uva = FG_UVA_BASE + g->fg.reg[i].gpa;
		mt.regions[i].mmap_offset = g->fg.reg[i].file_off;
		fds[i] = dup(g->fg.fd);
	}
	return send_msg(g->dev, VHU_REQ_SET_MEM_TABLE, &mt,
			8 + FG_NREGIONS * sizeof(struct vhu_mem_region), fds,
			FG_NREGIONS);
}

static int start_vring(struct guest *g, unsigned r)
{
	struct fg_ring *ring = &g->ring[r];
	struct vhu_vring_addr a = {
		.index = r,
		.desc_uva = FG_UVA_BASE + ring->desc_gpa,
		.used_uva = FG_UVA_BASE + ring->used_gpa,
		.avail_uva = FG_UVA_BASE + ring->avail_gpa,
	};
	int rc = 0;

	rc |= send_state(g->dev, VHU_REQ_SET_VRING_NUM, r, QSZ);
	rc |= send_state(g->dev, VHU_REQ_SET_VRING_BASE, r, 0);
	rc |= send_msg(g->dev, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	rc |= send_vring_fd(g->dev, VHU_REQ_SET_VRING_KICK, r, &g->kick[r]);
	rc |= send_vring_fd(g->dev, VHU_REQ_SET_VRING_CALL, r, &g->call[r]);
	rc |= send_state(g->dev, VHU_REQ_SET_VRING_ENABLE, r, 1);
	return rc;
}

/* The whole handshake, as QEMU sends it, for the rings the guest has. */
static void guest_connect(struct guest *g)
{
	assert_int_equal(send_msg(g->dev, VHU_REQ_SET_OWNER, NULL, 0, NULL, 0), 0);
	assert_int_equal(send_u64(g->dev, VHU_REQ_SET_FEATURES, g->features), 0);
	assert_int_equal(send_u64(g->dev, VHU_REQ_SET_PROTOCOL_FEATURES,
				  VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |
				  VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS)), 0);
	assert_int_equal(send_mem_table(g), 0);
	for (unsigned r = 0; r < 2; r++) {
		if (!g->ring_on[r])
			continue;
		assert_int_equal(start_vring(g, r), 0);
		assert_true(vhu_dev_vring_running(g->dev, r));
	}
}

/* ---- the guests ---- */

static struct guest *guest_new(struct world *w, bool rx, bool tx,
			       uint64_t features)
{
	struct guest *g = calloc(1, sizeof(*g));
	char spec[200], err[200];

	assert_non_null(g);
	g->id = w->n;
	g->features = features;
	g->ring_on[RXR] = rx;
	g->ring_on[TXR] = tx;
	g->kick[0] = g->kick[1] = g->call[0] = g->call[1] = -1;
	for (unsigned i = 0; i < MAX_GUESTS; i++)
		g->last_seq[i] = -1;
	snprintf(g->name, sizeof(g->name), "g%u", g->id);
	snprintf(g->path, sizeof(g->path), "/tmp/pvnet-tcontract-%d-%u.sock",
		 (int)getpid(), g->id);
	assert_int_equal(fg_create(&g->fg, RS), 0);
	for (unsigned r = 0; r < 2; r++) {
		if (!g->ring_on[r])
			continue;
		assert_int_equal(fg_ring_create(&g->fg, &g->ring[r], 0, QSZ,
						features, 0), 0);
		/* Buffers in every region: all of them are translated. */
		for (unsigned i = 0; i < QSZ; i++) {
			g->buf_gpa[r][i] = fg_alloc(&g->fg, i % FG_NREGIONS,
						    BUF_LEN, 64);
			assert_true(g->buf_gpa[r][i] != 0);
			g->buf[r][i] = fg_ptr(&g->fg, g->buf_gpa[r][i]);
			assert_non_null(g->buf[r][i]);
			g->free_buf[r][g->nfree[r]++] = (uint16_t)i;
		}
	}
	snprintf(spec, sizeof(spec),
		 "vhost,name=%s,path=%s,mac=02:00:00:00:00:%02x", g->name,
		 g->path, mac_of(g->id));
	g->port = port_create(w->sw, spec, err, sizeof(err));
	if (!g->port)
		fail_msg("port_create: %s", err);
	assert_int_equal(sw_port_add(w->sw, g->port), 0);
	w->g[w->n++] = g;
	return g;
}

static void guest_free(struct guest *g)
{
	for (unsigned r = 0; r < 2; r++) {
		if (g->ring_on[r])
			fg_ring_destroy(&g->ring[r]);
		if (g->kick[r] >= 0)
			close(g->kick[r]);
		if (g->call[r] >= 0)
			close(g->call[r]);
	}
	fg_destroy(&g->fg);
	free(g);
}

/* As `pvnet switch` does: ports, dp, port start, dp start; guests later. */
static void world_start(struct world *w, unsigned workers,
			enum dp_notify notify)
{
	struct dp_cfg cfg = { .workers = workers, .notify = notify,
			      .budget = 64, .idle_us = 50 };

	w->dp = dp_create(w->sw, &cfg);
	assert_non_null(w->dp);
	for (unsigned i = 0; i < w->n; i++) {
		struct port *p = w->g[i]->port;

		assert_int_equal(p->ops->start(p, w->sw->loop), 0);
		w->g[i]->dev = port_vhost_dev(p);
		assert_non_null(w->g[i]->dev);
	}
	assert_int_equal(dp_start(w->dp), 0);
	for (unsigned i = 0; i < w->n; i++)
		guest_connect(w->g[i]);
}

/* Joins the workers: after this the test may read every counter. */
static void world_stop_workers(struct world *w)
{
	dp_destroy(w->dp);
	w->dp = NULL;
}

static void world_free(struct world *w)
{
	if (w->dp)
		dp_destroy(w->dp);
	sw_destroy(w->sw);
	for (unsigned i = 0; i < w->n; i++)
		guest_free(w->g[i]);
}

/* ---- the driver: frames with a sequence number and a pattern ---- */

static uint32_t frame_len(uint64_t seq)
{
	return 60 + (uint32_t)(seq * 37 % 1400);
}

static uint8_t pattern(unsigned src, uint64_t seq, uint32_t i)
{
	return (uint8_t)(i * 31 + seq * 7 + src * 13);
}

static void build_frame(uint8_t *f, const uint8_t *dst, unsigned src,
			uint64_t seq, uint32_t len)
{
	uint32_t w[3] = { MAGIC, src, (uint32_t)seq };

	memcpy(f, dst, ETH_ALEN);
	memcpy(f + 6, "\x02\x00\x00\x00\x00", 5);
	f[11] = mac_of(src);
	f[12] = 0x88;			/* local experimental ethertype */
	f[13] = 0xb5;
	memcpy(f + 14, w, sizeof(w));
	for (uint32_t i = 26; i < len; i++)
		f[i] = pattern(src, seq, i);
}

/* True if @f is the intact frame @len bytes long; sets its source and seq. */
static bool check_frame(const uint8_t *f, uint32_t len, unsigned *src,
			uint32_t *seq)
{
	uint32_t w[3];

	if (len < 26)
		return false;
	memcpy(w, f + 14, sizeof(w));
	if (w[0] != MAGIC || w[1] >= MAX_GUESTS || len != frame_len(w[2]))
		return false;
	for (uint32_t i = 26; i < len; i++)
		if (f[i] != pattern(w[1], w[2], i))
			return false;
	*src = w[1];
	*seq = w[2];
	return true;
}

static void kick(struct guest *g, unsigned r)
{
	if (vring_drv_need_kick(&g->ring[r].drv))
		(void)eventfd_write(g->kick[r], 1);
}

/* Posts frames on the guest's TX ring while it has buffers and a budget. */
static void tx_post(struct guest *g)
{
	struct vring *vq = &g->ring[TXR].drv;
	unsigned added = 0;

	if (!g->dst_mac || !g->ring_on[TXR])
		return;
	while (g->nfree[TXR] && g->sent < g->limit &&
	       (!g->burst || added < g->burst)) {
		uint16_t b = g->free_buf[TXR][--g->nfree[TXR]];
		uint32_t len = frame_len(g->sent);
		uint8_t *p = g->buf[TXR][b];
		struct vring_buf vb = { g->buf_gpa[TXR][b], HDR_LEN + len };

		memset(p, 0, HDR_LEN);
		build_frame(p + HDR_LEN, g->dst_mac, g->id, g->sent, len);
		if (vring_drv_add(vq, &vb, 1, 0, (void *)(uintptr_t)(b + 1))) {
			g->free_buf[TXR][g->nfree[TXR]++] = b;
			g->drv_err++;
			break;
		}
		g->sent++;
		added++;
	}
	if (added) {
		vring_drv_publish(vq);
		kick(g, TXR);
	}
}

/* Takes back returned TX chains. */
static void tx_reap(struct guest *g)
{
	void *ck[64];
	unsigned n;

	if (!g->ring_on[TXR])
		return;
	while ((n = vring_drv_get_used(&g->ring[TXR].drv, ck, NULL, 64))) {
		for (unsigned i = 0; i < n; i++)
			g->free_buf[TXR][g->nfree[TXR]++] =
				(uint16_t)((uintptr_t)ck[i] - 1);
		g->tx_done += n;
	}
}

static void rx_refill(struct guest *g)
{
	struct vring *vq = &g->ring[RXR].drv;
	unsigned added = 0;

	if (!g->ring_on[RXR])
		return;
	while (g->nfree[RXR]) {
		uint16_t b = g->free_buf[RXR][--g->nfree[RXR]];
		struct vring_buf vb = { g->buf_gpa[RXR][b], BUF_LEN };

		if (vring_drv_add(vq, &vb, 0, 1, (void *)(uintptr_t)(b + 1))) {
			g->free_buf[RXR][g->nfree[RXR]++] = b;
			g->drv_err++;
			break;
		}
		added++;
	}
	if (added) {
		vring_drv_publish(vq);
		kick(g, RXR);
	}
}

/*
 * Harvests received frames, checking each: used length, header, payload,
 * and that a source's sequence numbers only grow (one worker polls a source
 * queue, so its frames arrive in order; a gap is a counted drop).
 */
static void rx_reap(struct guest *g)
{
	void *ck[64];
	uint32_t lens[64];
	unsigned n;

	if (!g->ring_on[RXR])
		return;
	while ((n = vring_drv_get_used(&g->ring[RXR].drv, ck, lens, 64))) {
		for (unsigned i = 0; i < n; i++) {
			uint16_t b = (uint16_t)((uintptr_t)ck[i] - 1);
			const uint8_t *p = g->buf[RXR][b];
			unsigned src;
			uint32_t seq;

			g->rcvd++;
			if (g->track)
				g->filled[b] = true;
			if (lens[i] < HDR_LEN ||
			    !check_frame(p + HDR_LEN, lens[i] - HDR_LEN, &src,
					 &seq) ||
			    (int64_t)seq <= g->last_seq[src])
				g->bad++;
			else
				g->last_seq[src] = seq;
			g->free_buf[RXR][g->nfree[RXR]++] = b;
		}
	}
	rx_refill(g);
}

/* One driver round over every guest. */
static void drive(struct world *w)
{
	for (unsigned i = 0; i < w->n; i++) {
		rx_reap(w->g[i]);
		tx_reap(w->g[i]);
		tx_post(w->g[i]);
	}
}

/* Drives until every posted TX chain came back (liveness bound only). */
static void drain(struct world *w)
{
	uint64_t until = pv_now_ns() + LIVENESS_NS;
	bool left = true;

	while (left && pv_now_ns() < until) {
		left = false;
		drive(w);
		for (unsigned i = 0; i < w->n; i++) {
			if (w->g[i]->drv_err)
				fail_msg("%s: the driver's ring broke on a used "
					 "entry the device wrote", w->g[i]->name);
			if (w->g[i]->tx_done != w->g[i]->sent ||
			    w->g[i]->sent < w->g[i]->limit)
				left = true;
		}
		if (left)
			usleep(100);
	}
	/* what the last returns published */
	for (unsigned i = 0; i < w->n; i++)
		rx_reap(w->g[i]);
	for (unsigned i = 0; i < w->n; i++) {
		struct guest *g = w->g[i];

		if (g->tx_done != g->sent)
			fail_msg("%s: %llu of %llu TX chains never returned",
				 g->name, (unsigned long long)g->tx_done,
				 (unsigned long long)g->sent);
	}
}

/* Ring rule violations counted on the guest's device rings. */
static uint64_t ring_faults(struct guest *g)
{
	uint64_t n = 0;

	for (unsigned r = 0; r < 2; r++) {
		const struct vring_stats *st = &vhu_dev_vring(g->dev, r)->st;

		for (unsigned k = PV_DROP_RING_HEAD_OOR; k <= PV_DROP_RING_USED_LEN; k++)
			n += st->drops.n[k];
	}
	return n;
}

static uint64_t port_drops(struct guest *g, enum pv_drop why)
{
	return g->port->st.drops.n[why];
}

static uint64_t port_drops_total(struct guest *g)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < PV_DROP_MAX; k++)
		n += g->port->st.drops.n[k];
	return n;
}

/*
 * After the workers are joined: the counters add up. What @src's guest
 * sent entered the switch; each frame toward @dst was delivered or dropped
 * for capacity (no buffer, ring stopped for a change), nothing else.
 */
static void assert_clean(struct guest *g)
{
	if (g->bad)
		fail_msg("%s: %llu of %llu received frames corrupted, misplaced "
			 "or duplicated", g->name, (unsigned long long)g->bad,
			 (unsigned long long)g->rcvd);
	if (ring_faults(g))
		fail_msg("%s: %llu ring faults", g->name,
			 (unsigned long long)ring_faults(g));
	assert_true(vring_ready(&g->ring[RXR].drv) || !g->ring_on[RXR]);
	assert_true(vring_ready(&g->ring[TXR].drv) || !g->ring_on[TXR]);
	assert_int_equal(g->port->st.rx_pkts, g->sent);
	assert_int_equal(g->port->st.tx_pkts, g->rcvd);
	/* only capacity drops, charged to the destination */
	assert_int_equal(port_drops_total(g),
			 port_drops(g, PV_DROP_RX_NO_BUF) +
			 port_drops(g, PV_DROP_RX_NOT_READY));
}

static uint64_t cap_drops(struct guest *g)
{
	return port_drops(g, PV_DROP_RX_NO_BUF) +
	       port_drops(g, PV_DROP_RX_NOT_READY);
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->sw = sw_create(SW_MODE_DIRECT, 300);
	assert_non_null(w->sw);
	return w;
}

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

static void mem_table_changes_under_traffic(void **state)
{
	struct world *w = world_new();
	struct guest *a, *b;
	struct churn c = { 0 };
	pthread_t th;

	(void)state;
	a = guest_new(w, true, true, F_EVIDX);
	b = guest_new(w, true, true, F_EVIDX);
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

static void call_fd_changes_under_traffic(void **state)
{
	struct world *w = world_new();
	struct guest *a, *b;
	struct callchurn c = { 0 };
	struct pollfd pfd;
	uint64_t v, sent0;
	pthread_t th;

	(void)state;
	/* No EVENT_IDX: the device interrupts after every burst it delivers. */
	a = guest_new(w, true, true, F_BASE);
	b = guest_new(w, true, true, F_BASE);
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

static void dirty_log_under_traffic(void **state)
{
	struct world *w = world_new();
	struct guest *a, *b;
	struct logchurn c = { .logfd = -1 };
	const uint8_t *log;
	unsigned checked = 0;
	pthread_t th;

	(void)state;
	a = guest_new(w, false, true, F_EVIDX);
	b = guest_new(w, true, false, F_EVIDX);
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
	assert_true(log_dirty(log, b->ring[RXR].used_gpa));
	/* the TX ring's buffers are only read: a's side logs nothing */
	munmap((void *)log, LOG_BYTES);
	close(c.logfd);
	world_free(w);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mem_table_changes_under_traffic),
		cmocka_unit_test(call_fd_changes_under_traffic),
		cmocka_unit_test(many_workers_fill_one_ring),
		cmocka_unit_test(dirty_log_under_traffic),
	};

	pv_log_set_level(PV_LOG_ERR);
	return cmocka_run_group_tests_name("contract", tests, NULL, NULL);
}
