// SPDX-License-Identifier: MIT
/*
 * test_contract_ports.c - ports added and deleted while the workers run
 * (issue 16), in one process like test_contract.c: the real switch, vhost
 * ports and dp workers between fake guests. tests/run also runs it under
 * ThreadSanitizer: a worker that still reads a deleted port, a freed port
 * table or a freed queue set after the grace period is a race report.
 *
 * (a) Two guests A and B exchange frames without pause while a control
 *     thread adds a port C, connects a guest to it, passes frames C <-> D
 *     (a fourth, fixed guest), then deletes C with frames of C in flight,
 *     many times. A and B lose nothing (every frame received intact once,
 *     or counted as a capacity drop), each C gets traffic both ways, the
 *     MAC table forgets C at each delete, and every C reuses the index.
 * (b) A chain GRO holds when its source port is deleted comes back to the
 *     port before the port is destroyed; a packet GRO holds toward a port
 *     being deleted is delivered to it before it is destroyed.
 * (c) An index reused by a later port does not inherit the MACs the MAC
 *     table had learned behind the deleted one (learn mode); the 65th port
 *     is refused until one is deleted.
 */
#include "contract_fixture.h"
#include "gro_frames.h"

#define CYCLES		40		/* (a) add/delete rounds */
#define C_FRAMES	48		/* frames C sends each round before its delete */

/* ---- (a) add and delete under traffic ---- */

struct addel {
	struct world *w;
	struct guest *d;		/* C's peer: a fixed port */
	unsigned cycles, failed, c_rx_rounds;
	uint64_t c_sent, c_rcvd, add_ns_max, del_ns_max;
	uint16_t idx_first;
	char why[200];
	int done;			/* atomic */
};

static void addel_fail(struct addel *a, const char *why, unsigned cycle)
{
	if (!a->failed)
		snprintf(a->why, sizeof(a->why), "cycle %u: %s", cycle, why);
	a->failed++;
}

/* One C: add, connect, frames both ways with D, delete under traffic. */
static void addel_cycle(struct addel *a, unsigned cycle)
{
	struct world *w = a->w;
	struct guest *c = guest_make(w->sw, 2, true, true, F_EVIDX);
	uint8_t mac[ETH_ALEN];
	uint64_t t0, until, base = 0;
	struct port *p;

	if (!c) {
		addel_fail(a, "guest_make", cycle);
		return;
	}
	p = c->port;
	memcpy(mac, p->mac, ETH_ALEN);
	if (p->ops->start(p, w->sw->loop)) {
		addel_fail(a, "port start", cycle);
		p->ops->destroy(p);
		guest_free(c);
		return;
	}
	c->dev = port_vhost_dev(p);
	t0 = pv_now_ns();
	if (sw_port_add(w->sw, p)) {
		addel_fail(a, "sw_port_add", cycle);
		p->ops->destroy(p);
		guest_free(c);
		return;
	}
	t0 = pv_now_ns() - t0;
	if (t0 > a->add_ns_max)
		a->add_ns_max = t0;
	if (cycle == 0)
		a->idx_first = p->idx;
	else if (p->idx != a->idx_first)
		addel_fail(a, "the deleted port's index was not reused", cycle);
	if (guest_connect_rc(c)) {
		addel_fail(a, "connect", cycle);
		goto del;
	}
	/*
	 * C -> D, and D -> C (D sends to C's MAC all along). Each C goes on
	 * with the sequence numbers of the one before: D checks they grow.
	 */
	c->dst_mac = a->d->port->mac;
	c->sent = c->tx_done = (uint64_t)cycle * (C_FRAMES + 32);
	base = c->sent;
	c->limit = base + C_FRAMES;
	until = pv_now_ns() + LIVENESS_NS;
	while ((c->tx_done < base + C_FRAMES || !c->from[a->d->id]) &&
	       pv_now_ns() < until) {
		rx_reap(c);
		tx_reap(c);
		tx_post(c);
		usleep(50);
	}
	if (c->tx_done < base + C_FRAMES)
		addel_fail(a, "C's frames did not all come back", cycle);
	if (c->from[a->d->id])
		a->c_rx_rounds++;
	if (c->bad)
		addel_fail(a, "C received a bad frame", cycle);
	/* Frames of C in flight while it goes away. */
	c->limit = base + C_FRAMES + 32;
	tx_post(c);
	a->c_sent += c->sent - base;
	a->c_rcvd += c->rcvd;
del:
	t0 = pv_now_ns();
	if (sw_port_del(w->sw, p))
		addel_fail(a, "sw_port_del", cycle);
	t0 = pv_now_ns() - t0;
	if (t0 > a->del_ns_max)
		a->del_ns_max = t0;
	if (fdb_lookup(&w->sw->fdb, mac, pv_now_ns()) != FDB_NO_PORT)
		addel_fail(a, "the MAC table still knows the deleted port", cycle);
	if (access(c->path, F_OK) == 0)
		addel_fail(a, "the socket file is still there", cycle);
	guest_free(c);
}

static void *addel_main(void *arg)
{
	struct addel *a = arg;

	for (unsigned i = 0; i < CYCLES; i++) {
		addel_cycle(a, i);
		a->cycles++;
		usleep(1000);	/* A and B alone for a moment too */
	}
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void add_del_under_traffic(void **state)
{
	struct world *w = world_new();
	struct guest *ga, *gb, *gd;
	struct addel a = { .w = w };
	uint64_t sent_ab, sent_ba;
	pthread_t th;

	(void)state;
	ga = guest_new(w, true, true, F_EVIDX);
	gb = guest_new(w, true, true, F_EVIDX);
	/* id 2 is every C's; D is 3 */
	gd = guest_make(w->sw, 3, true, true, F_EVIDX);
	assert_non_null(gd);
	assert_int_equal(sw_port_add(w->sw, gd->port), 0);
	w->g[2] = gd;
	w->n = 3;
	world_start(w, 2, DP_NOTIFY_ADAPTIVE);
	a.d = gd;
	ga->dst_mac = gb->port->mac;
	gb->dst_mac = ga->port->mac;
	gd->dst_mac = (const uint8_t *)"\x02\x00\x00\x00\x00\x12";	/* C */
	ga->limit = gb->limit = gd->limit = UINT64_MAX;
	/* D's frames to an absent C are dropped at the source: pace D. */
	gd->burst = 4;

	assert_int_equal(pthread_create(&th, NULL, addel_main, &a), 0);
	while (!__atomic_load_n(&a.done, __ATOMIC_ACQUIRE))
		drive(w);
	pthread_join(th, NULL);
	ga->limit = ga->sent;
	gb->limit = gb->sent;
	gd->limit = gd->sent;
	drain(w);
	world_stop_workers(w);
	sent_ab = ga->sent;
	sent_ba = gb->sent;

	print_message("add/del: %u cycles (add <= %.2f ms, delete <= %.2f ms); "
		      "C sent %llu, received %llu from D in %u of them; "
		      "a->b %llu sent %llu rcvd %llu cap drops; b->a %llu sent "
		      "%llu rcvd %llu cap drops\n", a.cycles,
		      (double)a.add_ns_max / 1e6, (double)a.del_ns_max / 1e6,
		      (unsigned long long)a.c_sent, (unsigned long long)a.c_rcvd,
		      a.c_rx_rounds, (unsigned long long)sent_ab,
		      (unsigned long long)gb->rcvd,
		      (unsigned long long)cap_drops(gb),
		      (unsigned long long)sent_ba, (unsigned long long)ga->rcvd,
		      (unsigned long long)cap_drops(ga));
	if (a.failed)
		fail_msg("%u failures, first: %s", a.failed, a.why);
	assert_int_equal(a.cycles, CYCLES);
	/* C got traffic both ways, every time. */
	assert_int_equal(a.c_rx_rounds, CYCLES);
	/* A and B: nothing lost, nothing twice, the counters add up. */
	assert_true(ga->rcvd > 0 && gb->rcvd > 0);
	assert_clean(ga);
	assert_clean(gb);
	assert_int_equal(gb->rcvd + cap_drops(gb), sent_ab);
	assert_int_equal(ga->rcvd + cap_drops(ga), sent_ba);
	assert_int_equal(gb->from[ga->id], gb->rcvd);
	assert_int_equal(ga->from[gb->id], ga->rcvd);
	/* D: intact frames only, from C only. */
	assert_int_equal(gd->bad, 0);
	assert_int_equal(gd->from[2], gd->rcvd);
	assert_int_equal(ring_faults(gd), 0);
	world_free(w);
	free(w);
}

/* ---- (b) GRO-held chains and packets at a delete ---- */

/* A source of one TCP segment whose buffer it must get back. */
struct tcp_src {
	struct port port;
	struct tf_frame f[1];
	int sent, released;
	int *released_at_destroy;	/* what destroy saw */
};

static unsigned one_queue(struct port *p)
{
	(void)p;
	return 1;
}

static unsigned tcp_rx_burst(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned max, unsigned *taken)
{
	struct tcp_src *s = (struct tcp_src *)p;

	(void)q;
	(void)max;
	*taken = 0;
	if (__atomic_load_n(&s->sent, __ATOMIC_ACQUIRE))
		return 0;
	s->f[0].p.cookie = 0;
	s->f[0].p.held = false;
	pkts[0] = &s->f[0].p;
	__atomic_store_n(&s->sent, 1, __ATOMIC_RELEASE);
	*taken = 1;
	return 1;
}

static void tcp_rx_done(struct port *p, unsigned q, struct pkt **pkts,
			unsigned n)
{
	(void)q;
	for (unsigned i = 0; i < n; i++)
		if (!pkts[i]->held)
			__atomic_fetch_add(&((struct tcp_src *)p)->released, 1,
					   __ATOMIC_RELEASE);
}

static void tcp_release(struct port *p, unsigned q, const uint32_t *cookies,
			unsigned n)
{
	(void)q;
	(void)cookies;
	__atomic_fetch_add(&((struct tcp_src *)p)->released, (int)n,
			   __ATOMIC_RELEASE);
}

static void tcp_destroy(struct port *p)
{
	struct tcp_src *s = (struct tcp_src *)p;

	*s->released_at_destroy = __atomic_load_n(&s->released, __ATOMIC_ACQUIRE);
	tf_free(s->f, 1);
	free(s);
}

static const struct port_ops tcp_ops = {
	.type = "tcpsrc", .rx_queues = one_queue, .rx_burst = tcp_rx_burst,
	.rx_done = tcp_rx_done, .release = tcp_release, .destroy = tcp_destroy,
};

/* A destination that takes large packets and counts what it got. */
struct sink {
	struct port port;
	int got;
	int *got_at_destroy;
};

static unsigned sink_tx(struct port *p, unsigned q, struct pkt **pkts,
			unsigned n)
{
	(void)q;
	(void)pkts;
	__atomic_fetch_add(&((struct sink *)p)->got, (int)n, __ATOMIC_RELEASE);
	return n;
}

static void sink_destroy(struct port *p)
{
	struct sink *k = (struct sink *)p;

	*k->got_at_destroy = __atomic_load_n(&k->got, __ATOMIC_ACQUIRE);
	free(k);
}

static const struct port_ops sink_ops = {
	.type = "sink", .tx_burst = sink_tx, .destroy = sink_destroy,
};

static void gro_held_at_delete(bool delete_source)
{
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	struct tcp_src *s = calloc(1, sizeof(*s));
	struct sink *k = calloc(1, sizeof(*k));
	struct dp_cfg cfg = { .workers = 2, .notify = DP_NOTIFY_ADAPTIVE,
			      .budget = 32, .idle_us = 50 };
	int released = -1, got = -1;
	struct dp *dp;

	/* Held for up to a second unless a flush lets it go. */
	assert_int_equal(gro_cfg_parse("every=1000000,timeout=1000000",
				       &cfg.gro), 0);
	assert_int_equal(tf_sequence("d", false, 0, 0, s->f, 1), 1);
	strcpy(s->port.name, "src");
	s->port.ops = &tcp_ops;
	memcpy(s->port.mac, "\x02\x00\x00\x00\x00\x01", 6);
	s->port.has_mac = true;
	s->port.nqueues = 1;
	s->released_at_destroy = &released;
	strcpy(k->port.name, "dst");
	k->port.ops = &sink_ops;
	memcpy(k->port.mac, "\x02\x00\x00\x00\x00\x02", 6);
	k->port.has_mac = true;
	k->port.gso_offload = true;
	k->port.csum_offload = true;
	k->port.nqueues = 1;
	k->got_at_destroy = &got;
	dp = dp_create(sw, &cfg);
	assert_non_null(dp);
	assert_int_equal(dp_start(dp), 0);
	/* Both added while the workers run. */
	assert_int_equal(sw_port_add(sw, &k->port), 0);
	assert_int_equal(sw_port_add(sw, &s->port), 0);
	for (unsigned i = 0; i < 5000 &&
	     !__atomic_load_n(&s->sent, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&s->sent, __ATOMIC_ACQUIRE), 1);
	/* A worker took it and GRO holds it: not back, not delivered. */
	usleep(2000);
	assert_int_equal(__atomic_load_n(&s->released, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(__atomic_load_n(&k->got, __ATOMIC_ACQUIRE), 0);
	if (delete_source) {
		assert_int_equal(sw_port_del(sw, &s->port), 0);
		/* Back to its port before the port was destroyed, and delivered. */
		assert_int_equal(released, 1);
		assert_int_equal(__atomic_load_n(&k->got, __ATOMIC_ACQUIRE), 1);
	} else {
		assert_int_equal(sw_port_del(sw, &k->port), 0);
		assert_int_equal(got, 1);
		assert_int_equal(__atomic_load_n(&s->released, __ATOMIC_ACQUIRE), 1);
	}
	assert_int_equal(sw->nports, 1);
	dp_destroy(dp);
	sw_destroy(sw);
	if (delete_source)
		assert_int_equal(got, 1);
	else
		assert_int_equal(released, 1);
}

static void gro_held_chain_returned_at_source_delete(void **state)
{
	(void)state;
	gro_held_at_delete(true);
}

static void gro_held_packet_delivered_at_dest_delete(void **state)
{
	(void)state;
	gro_held_at_delete(false);
}

/* ---- (c) a reused index starts with no learned MAC ---- */

struct rec {
	struct port port;
	unsigned got;
};

static unsigned rec_tx(struct port *p, unsigned q, struct pkt **pkts,
		       unsigned n)
{
	(void)q;
	(void)pkts;
	((struct rec *)p)->got += n;
	return n;
}

static void rec_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops rec_ops = {
	.type = "rec", .tx_burst = rec_tx, .destroy = rec_destroy,
};

static struct rec *rec_new(const char *name)
{
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	snprintf(r->port.name, sizeof(r->port.name), "%s", name);
	r->port.ops = &rec_ops;
	r->port.nqueues = 1;
	return r;
}

/* One frame from @src with source MAC ...:@s to ...:@d through @sw. */
static void send_one(struct sw *sw, struct port *src, uint8_t s, uint8_t d)
{
	uint8_t b[64] = { 2, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0x88, 0xb5 };
	struct pkt p = { 0 }, *pp = &p;

	b[5] = d;
	b[11] = s;
	p.seg[0].iov_base = b;
	p.seg[0].iov_len = sizeof(b);
	p.nseg = 1;
	p.len = sizeof(b);
	p.src_port = src->idx;
	sw_forward_burst(sw, src, &pp, 1);
}

static void reused_index_forgets_learned_macs(void **state)
{
	struct sw *sw = sw_create(SW_MODE_LEARN, 300);
	struct rec *a = rec_new("a"), *b = rec_new("b"), *x = rec_new("x"), *y;
	uint8_t mx[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x77 };
	unsigned a0;
	uint16_t xi;

	(void)state;
	assert_int_equal(sw_port_add(sw, &a->port), 0);
	assert_int_equal(sw_port_add(sw, &x->port), 0);
	assert_int_equal(sw_port_add(sw, &b->port), 0);
	xi = x->port.idx;
	/* x learns ...:77; a frame to it goes to x alone. */
	send_one(sw, &x->port, 0x77, 0x01);
	assert_int_equal(fdb_lookup(&sw->fdb, mx, pv_now_ns()), xi);
	assert_int_equal(fdb_port_learned(&sw->fdb, xi), 1);
	assert_int_equal(sw_port_del(sw, &x->port), 0);
	assert_int_equal(fdb_lookup(&sw->fdb, mx, pv_now_ns()), FDB_NO_PORT);
	/* y takes x's index, and nothing x had learned. */
	y = rec_new("y");
	assert_int_equal(sw_port_add(sw, &y->port), 0);
	assert_int_equal(y->port.idx, xi);
	assert_int_equal(fdb_port_learned(&sw->fdb, xi), 0);
	assert_int_equal(fdb_lookup(&sw->fdb, mx, pv_now_ns()), FDB_NO_PORT);
	/* A frame to ...:77 floods (a and y both get it), not y alone. */
	a0 = a->got;
	send_one(sw, &b->port, 0x02, 0x77);
	assert_int_equal(a->got, a0 + 1);
	assert_int_equal(y->got, 1);
	/* The MAC can be learned again, behind another port. */
	send_one(sw, &a->port, 0x77, 0x02);
	assert_int_equal(fdb_lookup(&sw->fdb, mx, pv_now_ns()), a->port.idx);
	/* Deleting an unknown port is refused; the switch is unchanged. */
	x = rec_new("x2");
	assert_int_equal(sw_port_del(sw, &x->port), -ENOENT);
	free(x);
	assert_int_equal(sw->nports, 3);
	sw_destroy(sw);
}

/* The 65th port is refused with a message; a delete makes room again. */
static void too_many_ports(void **state)
{
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	struct rec *r[SW_MAX_PORTS], *extra = rec_new("extra");
	char name[16], err[160] = "";

	(void)state;
	for (unsigned i = 0; i < SW_MAX_PORTS; i++) {
		snprintf(name, sizeof(name), "p%u", i);
		r[i] = rec_new(name);
		assert_int_equal(sw_port_add(sw, &r[i]->port), 0);
	}
	assert_int_equal(sw_port_check(sw, &extra->port, err, sizeof(err)),
			 -ENOSPC);
	assert_non_null(strstr(err, "too many ports"));
	assert_int_equal(sw_port_add(sw, &extra->port), -ENOSPC);
	assert_int_equal(sw_port_del(sw, &r[17]->port), 0);
	assert_int_equal(sw_port_add(sw, &extra->port), 0);
	assert_int_equal(extra->port.idx, 17);
	assert_int_equal(sw->nports, SW_MAX_PORTS);
	sw_destroy(sw);
}

/* A static entry forgotten becomes a slot anyone may learn into. */
static void fdb_forget_static_and_learned(void **state)
{
	struct fdb *f = malloc(sizeof(*f));
	uint8_t m1[6] = { 2, 0, 0, 0, 0, 1 }, m2[6] = { 2, 0, 0, 0, 0, 2 };
	uint64_t now = 5000000000ULL;

	(void)state;
	fdb_init(f, 300 * 1000000000ULL);
	fdb_set_limit(f, 3, 4);
	assert_int_equal(fdb_add_static(f, m1, 3), 0);
	assert_int_equal(fdb_learn(f, m2, 3, now), 0);
	assert_int_equal(fdb_port_learned(f, 3), 1);
	fdb_forget_port(f, 3);
	assert_int_equal(fdb_lookup(f, m1, now), FDB_NO_PORT);
	assert_int_equal(fdb_lookup(f, m2, now), FDB_NO_PORT);
	assert_int_equal(fdb_port_learned(f, 3), 0);
	assert_int_equal(fdb_count(f, now), 0);
	/* m1 is no longer static: port 4 learns it. */
	assert_int_equal(fdb_learn(f, m1, 4, now), 0);
	assert_int_equal(fdb_lookup(f, m1, now), 4);
	assert_int_equal(fdb_add_static(f, m2, 5), 0);
	assert_int_equal(fdb_lookup(f, m2, now), 5);
	free(f);
}

/*
 * The guest's RX rings: pvnet never waits for their kicks (it fills what is
 * there when it has a frame), so it asks the driver not to send them (the
 * used ring's NO_NOTIFY; the packed ring's device event DISABLE). Without
 * that, a driver without EVENT_IDX (DPDK's virtio-user) made an eventfd
 * write for every RX refill: ~26,000 syscalls a second in the peers
 * loopback, half the guest's cycles per packet. (Its TX ring asks for
 * kicks whenever a worker may sleep on them: not checked here, a worker
 * that spins has them off.)
 */
static void rx_ring_asks_no_kicks(void **state)
{
	const uint64_t feats[] = { F_BASE, F_BASE | F_PACKED };

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		struct world *w = world_new();
		struct guest *g = guest_new(w, true, true, feats[i]);
		struct vring *vq = &g->ring[RXR].drv;
		struct vring_buf vb = { g->buf_gpa[RXR][0], BUF_LEN };

		world_start(w, 1, DP_NOTIFY_ADAPTIVE);
		assert_int_equal(vring_drv_add(vq, &vb, 0, 1, (void *)(uintptr_t)1), 0);
		vring_drv_publish(vq);
		assert_false(vring_drv_need_kick(vq));
		world_free(w);
		free(w);
	}
}

/*
 * VIRTIO_F_IN_ORDER is offered by default (the port uses chains in the
 * order they were made available, test_contract's in_order_* cases) and
 * not with inorder=off; nothing else changes.
 */
static void in_order_offered_unless_off(void **state)
{
	const char *opt[] = { "", ",inorder=on", ",inorder=off" };

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
		char spec[160], err[200];
		struct vhu_msg m;
		struct port *p;

		snprintf(spec, sizeof(spec),
			 "vhost,name=io,path=/tmp/pvnet-tports-io-%d.sock%s",
			 (int)getpid(), opt[i]);
		p = port_create(sw, spec, err, sizeof(err));
		assert_non_null(p);
		assert_int_equal(p->ops->start(p, sw->loop), 0);
		memset(&m, 0, sizeof(m));
		m.hdr.request = VHU_REQ_GET_FEATURES;
		m.hdr.flags = VHU_FLAG_VERSION;
		assert_int_equal(vhu_dev_handle_msg(port_vhost_dev(p), &m), 0);
		assert_int_equal(!!(m.payload.u64 & F_INORDER), i < 2);
		assert_true(m.payload.u64 & F_PACKED);
		p->ops->destroy(p);
		sw_destroy(sw);
	}
}

/*
 * What the port makes of each TX chain the guest posts: the header copied
 * and checked, the frame after it as the packet's pieces, or the drop
 * counted by reason. The common chain (one piece, a 12-byte header that
 * claims nothing) has its own path in chain_to_pkt(); these are its edges,
 * each next to the chain that leaves it for the general one.
 */
struct txcase {
	uint32_t frame;		/* bytes after the header */
	uint8_t flags, gso;	/* header bytes 0 and 1 */
	/* 0: one buffer, 1: header and frame apart, 2: across two regions,
	 * 3: a buffer shorter than the header */
	uint8_t layout;
	int32_t drop;		/* -1: becomes a packet, else the drop reason */
	uint32_t len;		/* the packet's length */
	uint16_t nseg;
};

static void tx_chain_cases(uint64_t features)
{
	static const struct txcase cs[] = {
		{ 60, 0, 0, 0, -1, 60, 1 },
		{ 1, 0, 0, 0, -1, 1, 1 },
		{ 0, 0, 0, 0, -1, 0, 0 },	/* the header alone */
		{ 60, VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, -1, 60, 1 },
		{ 60, 0, 0x7f, 0, PV_DROP_PKT_HDR_GSO, 0, 0 },
		{ 60, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, PV_DROP_PKT_HDR_FLAGS, 0, 0 },
		{ 60, 0x80, 0, 0, PV_DROP_PKT_HDR_FLAGS, 0, 0 },
		{ PV_FRAME_MAX, 0, 0, 0, -1, PV_FRAME_MAX, 1 },
		{ PV_FRAME_MAX + 1, 0, 0, 0, PV_DROP_PKT_TOO_LONG, 0, 0 },
		{ PV_FRAME_MAX + 1, 0, 0, 1, PV_DROP_PKT_TOO_LONG, 0, 0 },
		{ 60, 0, 0, 1, -1, 60, 1 },
		{ 60, 0, 0, 2, -1, 60, 2 },
		{ 0, 0, 0, 3, PV_DROP_PKT_TRUNC, 0, 0 },
	};
	enum { NC = sizeof(cs) / sizeof(cs[0]) };
	struct world *w = world_new();
	struct guest *g = guest_new(w, false, true, features);
	struct vring *vq = &g->ring[TXR].drv;
	uint64_t gpa[NC], drops[PV_DROP_MAX] = { 0 };
	struct pkt *pkts[PKT_BURST_MAX];
	unsigned m, taken, k = 0;
	void *ck[NC];

	world_start(w, 1, DP_NOTIFY_ADAPTIVE);
	/* the workers go: the burst below is this thread's alone */
	world_stop_workers(w);
	for (unsigned i = 0; i < NC; i++) {
		const struct txcase *c = &cs[i];
		uint32_t tot = HDR_LEN + c->frame;
		struct vring_buf vb[2];
		unsigned nb = 1;
		uint8_t *p;

		/* one straddling chain only: those ranges overlap */
		gpa[i] = c->layout == 2 ? fg_alloc_straddle(&g->fg, 30, tot) :
			 tot > BUF_LEN ? fg_alloc(&g->fg, 1, tot, 64) :
			 g->buf_gpa[TXR][i];
		assert_true(gpa[i] != 0);
		/* the frame: its offset's low byte, the header's two fields */
		for (uint32_t b = 0; b < c->frame; b++) {
			uint8_t v = (uint8_t)(b + i);

			assert_true(fg_write(&g->fg, gpa[i] + HDR_LEN + b, &v, 1));
		}
		p = calloc(1, HDR_LEN);
		assert_non_null(p);
		p[0] = c->flags;
		p[1] = c->gso;
		assert_true(fg_write(&g->fg, gpa[i], p, HDR_LEN));
		free(p);
		vb[0].addr = gpa[i];
		vb[0].len = tot;
		if (c->layout == 1) {
			vb[0].len = HDR_LEN;
			vb[1].addr = gpa[i] + HDR_LEN;
			vb[1].len = c->frame;
			nb = 2;
		} else if (c->layout == 3) {
			vb[0].len = HDR_LEN - 2;
		}
		assert_int_equal(vring_drv_add(vq, vb, nb, 0,
					       (void *)(uintptr_t)(i + 1)), 0);
	}
	vring_drv_publish(vq);

	m = g->port->ops->rx_burst(g->port, 0, pkts, PKT_BURST_MAX, &taken);
	assert_int_equal(taken, NC);
	for (unsigned i = 0; i < NC; i++) {
		const struct txcase *c = &cs[i];
		const struct pkt *pk;
		uint32_t off = 0;

		if (c->drop >= 0) {
			drops[c->drop]++;
			continue;
		}
		assert_true(k < m);
		pk = pkts[k++];
		assert_int_equal(pk->len, c->len);
		assert_int_equal(pk->nseg, c->nseg);
		/* DATA_VALID means nothing on transmit: cleared */
		assert_int_equal(pk->vh.flags, 0);
		assert_int_equal(pk->vh.gso_type, 0);
		assert_false(pk->held);
		for (unsigned s = 0; s < pk->nseg; s++) {
			const uint8_t *b = pk->seg[s].iov_base;

			assert_true(pk->seg[s].iov_len > 0);
			for (size_t x = 0; x < pk->seg[s].iov_len; x++, off++)
				if (b[x] != (uint8_t)(off + i))
					fail_msg("case %u: byte %u is %u", i,
						 off, b[x]);
		}
		assert_int_equal(off, c->len);
	}
	assert_int_equal(k, m);
	for (unsigned d = 0; d < PV_DROP_MAX; d++)
		assert_int_equal(port_drops(g, d), drops[d]);
	assert_int_equal(g->port->st.rx_pkts, NC - m);	/* the rest at forward */

	/* every chain comes back, in order */
	g->port->ops->rx_done(g->port, 0, pkts, m);
	assert_int_equal(vring_drv_get_used(vq, ck, NULL, NC), NC);
	for (unsigned i = 0; i < NC; i++)
		assert_int_equal((uintptr_t)ck[i], i + 1);
	world_free(w);
	free(w);
}

/*
 * A guest's TX chain becomes one frame whatever its layout: the header and
 * the frame in one buffer (what a Linux guest sends, a path of its own in
 * chain_to_pkt()), the header alone first, the header and part of the
 * frame, the header split over two buffers; and a chain of the header
 * alone is a frame of no bytes. The port's receive is called directly (no
 * workers), each chain given back with rx_done.
 */
static void tx_chain_layouts_one_frame(void **state)
{
	/* where buffer 0 is cut (0: not), and the chain's bytes in all */
	const struct { uint32_t cut, total; } lay[] = {
		{ 0, HDR_LEN + 100 }, { HDR_LEN, HDR_LEN + 100 },
		{ HDR_LEN + 10, HDR_LEN + 100 }, { 5, HDR_LEN + 100 },
		{ 0, HDR_LEN }, { 0, HDR_LEN + 1 },
	};
	struct world *w = world_new();
	struct guest *g = guest_new(w, false, true, F_BASE);
	struct vring *vq = &g->ring[TXR].drv;
	uint8_t want[HDR_LEN + 100], got[100];

	(void)state;
	assert_int_equal(g->port->ops->start(g->port, w->sw->loop), 0);
	g->dev = port_vhost_dev(g->port);
	guest_connect(g);
	memset(want, 0, HDR_LEN);
	for (unsigned i = HDR_LEN; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + 3);
	for (unsigned k = 0; k < ARRAY_SIZE(lay); k++) {
		struct vring_buf vb[2];
		struct pkt *pkts[PKT_BURST_MAX];
		uint32_t flen = lay[k].total - HDR_LEN;
		unsigned nb = lay[k].cut ? 2 : 1, taken, m;
		void *ck;

		/* two buffers of the guest's, apart in its memory */
		vb[0].addr = g->buf_gpa[TXR][0];
		vb[0].len = lay[k].cut ? lay[k].cut : lay[k].total;
		memcpy(g->buf[TXR][0], want, vb[0].len);
		if (nb == 2) {
			vb[1].addr = g->buf_gpa[TXR][1];
			vb[1].len = lay[k].total - lay[k].cut;
			memcpy(g->buf[TXR][1], want + lay[k].cut, vb[1].len);
		}
		assert_int_equal(vring_drv_add(vq, vb, nb, 0, (void *)(uintptr_t)1), 0);
		vring_drv_publish(vq);
		m = g->port->ops->rx_burst(g->port, 0, pkts, PKT_BURST_MAX, &taken);
		assert_int_equal(taken, 1);
		assert_int_equal(m, 1);
		assert_int_equal(pkts[0]->len, flen);
		/* a piece per buffer with frame bytes in it */
		assert_int_equal(pkts[0]->nseg,
				 flen == 0 ? 0 : lay[k].cut > HDR_LEN ? 2 : 1);
		assert_int_equal(pv_iov_to_buf(pkts[0]->seg, pkts[0]->nseg, 0,
					       got, sizeof(got)), flen);
		assert_memory_equal(got, want + HDR_LEN, flen);
		g->port->ops->rx_done(g->port, 0, pkts, m);
		assert_int_equal(vring_drv_get_used(vq, &ck, NULL, 1), 1);
	}
	world_free(w);
	free(w);
}

static void tx_chains_split(void **state)
{
	(void)state;
	tx_chain_cases(F_BASE);
}

static void tx_chains_packed(void **state)
{
	(void)state;
	tx_chain_cases(F_BASE | F_PACKED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fdb_forget_static_and_learned),
		cmocka_unit_test(reused_index_forgets_learned_macs),
		cmocka_unit_test(too_many_ports),
		cmocka_unit_test(gro_held_chain_returned_at_source_delete),
		cmocka_unit_test(gro_held_packet_delivered_at_dest_delete),
		cmocka_unit_test(add_del_under_traffic),
		cmocka_unit_test(rx_ring_asks_no_kicks),
		cmocka_unit_test(in_order_offered_unless_off),
		cmocka_unit_test(tx_chains_split),
		cmocka_unit_test(tx_chains_packed),
		cmocka_unit_test(tx_chain_layouts_one_frame),
	};

	pv_log_set_level(PV_LOG_ERR);
	return cmocka_run_group_tests_name("contract_ports", tests, NULL, NULL);
}
