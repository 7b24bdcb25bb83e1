/* SPDX-License-Identifier: MIT */
/*
 * contract_fixture.h - the in-process switch between fake guests that the
 * contract tests share (test_contract.c, test_contract_ports.c): real
 * struct sw, vhost ports and dp workers; guests whose driver is a test
 * thread and whose vhost-user messages go straight into the device
 * (vhu_dev_handle_msg, the control thread's path). Header-only, static:
 * each test binary includes it once.
 */
#ifndef PVNET_TESTS_CONTRACT_FIXTURE_H
#define PVNET_TESTS_CONTRACT_FIXTURE_H

/* A test uses only part of the fixture. */
#pragma GCC diagnostic ignored "-Wunused-function"

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
/* the packed ring (virtio 1.2 §2.8) on both sides: the scenarios again */
#define F_PACKED	VIRTIO_BIT(VIRTIO_F_RING_PACKED)
/* VIRTIO_F_IN_ORDER: the guest checks every chain comes back in add order */
#define F_INORDER	VIRTIO_BIT(VIRTIO_F_IN_ORDER)

/* Where a ring starts: index 0, or a packed ring's position 0 in lap 1. */
static uint16_t ring_base(uint64_t features)
{
	return (features & F_PACKED) ? VRING_PACKED_WRAP : 0;
}

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
	uint64_t from[MAX_GUESTS];	/* intact frames received per source */
	bool track;			/* (d): note each RX buffer filled */
	bool filled[QSZ];
	/*
	 * With F_INORDER: the buffers of each ring in the order their chains
	 * were added; a chain harvested out of that order is counted. One
	 * entry per chain in add order is what the device writes (it never
	 * batches), so the check is exact.
	 */
	uint16_t fifo[2][QSZ];
	unsigned fifo_head[2], fifo_n[2];
	uint64_t order_bad;
	/* every bad_every-th frame sent is one the switch must drop (0: none):
	 * a bad GSO type, or, every other time, a chain shorter than the header */
	unsigned bad_every;
	uint64_t bad_sent;
	/*
	 * Set: the driver sends TCP/IPv4 segments (tcp_flows flows, a partial
	 * checksum, PSH every tcp_psh_every-th) that GRO may hold and merge,
	 * and on RX only counts what comes back (merged packets span buffers).
	 */
	bool tcp;
	unsigned tcp_flows, tcp_psh_every;
	uint32_t tcp_seq[4];
	uint16_t tcp_id[4];
	/* RX with tcp: the packet being read (buffers left, where it is) */
	unsigned rx_left, rx_src, rx_flow;
	uint32_t rx_seq;
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
	rc |= send_state(g->dev, VHU_REQ_SET_VRING_BASE, r, ring_base(g->features));
	rc |= send_msg(g->dev, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	rc |= send_vring_fd(g->dev, VHU_REQ_SET_VRING_KICK, r, &g->kick[r]);
	rc |= send_vring_fd(g->dev, VHU_REQ_SET_VRING_CALL, r, &g->call[r]);
	rc |= send_state(g->dev, VHU_REQ_SET_VRING_ENABLE, r, 1);
	return rc;
}

/*
 * The whole handshake, as QEMU sends it, for the rings the guest has; 0 or
 * -1 (no cmocka assertion: a control thread of a test calls it too).
 */
static int guest_connect_rc(struct guest *g)
{
	if (send_msg(g->dev, VHU_REQ_SET_OWNER, NULL, 0, NULL, 0) ||
	    send_u64(g->dev, VHU_REQ_SET_FEATURES, g->features) ||
	    send_u64(g->dev, VHU_REQ_SET_PROTOCOL_FEATURES,
		     VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |
		     VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS)) ||
	    send_mem_table(g))
		return -1;
	for (unsigned r = 0; r < 2; r++) {
		if (!g->ring_on[r])
			continue;
		if (start_vring(g, r) || !vhu_dev_vring_running(g->dev, r))
			return -1;
	}
	return 0;
}

static void guest_connect(struct guest *g)
{
	assert_int_equal(guest_connect_rc(g), 0);
	/* the layout asked for runs on both sides */
	for (unsigned r = 0; r < 2; r++) {
		if (!g->ring_on[r])
			continue;
		assert_int_equal(vhu_dev_vring(g->dev, r)->state,
				 (g->features & F_PACKED) ? VRING_RUNNING_PACKED :
							    VRING_RUNNING);
		assert_int_equal(g->ring[r].drv.state,
				 (g->features & F_PACKED) ? VRING_RUNNING_PACKED :
							    VRING_RUNNING);
	}
}

/* ---- the guests ---- */

/*
 * A guest with id @id (its MAC and frame source) and the port for it, not
 * added to any switch. NULL on failure (no cmocka assertion: a test's
 * control thread calls it too).
 */
static struct guest *guest_make(struct sw *sw, unsigned id, bool rx, bool tx,
				uint64_t features)
{
	struct guest *g = calloc(1, sizeof(*g));
	char spec[200], err[200];

	if (!g)
		return NULL;
	g->id = id;
	g->features = features;
	g->ring_on[RXR] = rx;
	g->ring_on[TXR] = tx;
	g->kick[0] = g->kick[1] = g->call[0] = g->call[1] = -1;
	for (unsigned i = 0; i < MAX_GUESTS; i++)
		g->last_seq[i] = -1;
	snprintf(g->name, sizeof(g->name), "g%u", g->id);
	snprintf(g->path, sizeof(g->path), "/tmp/pvnet-tcontract-%d-%u.sock",
		 (int)getpid(), g->id);
	if (fg_create(&g->fg, RS)) {
		free(g);
		return NULL;
	}
	for (unsigned r = 0; r < 2; r++) {
		if (!g->ring_on[r])
			continue;
		if (fg_ring_create(&g->fg, &g->ring[r], 0, QSZ, features,
				   ring_base(features)))
			return NULL;
		/* Buffers in every region: all of them are translated. */
		for (unsigned i = 0; i < QSZ; i++) {
			g->buf_gpa[r][i] = fg_alloc(&g->fg, i % FG_NREGIONS,
						    BUF_LEN, 64);
			if (!g->buf_gpa[r][i])
				return NULL;
			g->buf[r][i] = fg_ptr(&g->fg, g->buf_gpa[r][i]);
			g->free_buf[r][g->nfree[r]++] = (uint16_t)i;
		}
	}
	snprintf(spec, sizeof(spec),
		 "vhost,name=%s,path=%s,mac=02:00:00:00:00:%02x", g->name,
		 g->path, mac_of(g->id));
	g->port = port_create(sw, spec, err, sizeof(err));
	if (!g->port) {
		fprintf(stderr, "port_create: %s\n", err);
		return NULL;
	}
	return g;
}

static struct guest *guest_new(struct world *w, bool rx, bool tx,
			       uint64_t features)
{
	struct guest *g = guest_make(w->sw, w->n, rx, tx, features);

	assert_non_null(g);
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

/* The workers' GRO policy for the next world_start() (zero: off). */
static struct gro_cfg world_gro;

/* As `pvnet switch` does: ports, dp, port start, dp start; guests later. */
static void world_start(struct world *w, unsigned workers,
			enum dp_notify notify)
{
	/* `pvnet switch`'s defaults: receive interrupts held back while a
	 * worker stays busy, so ring stops and port deletes under traffic
	 * run with calls owed (dp_owe_call) */
	struct dp_cfg cfg = { .workers = workers, .notify = notify,
			      .budget = 64, .idle_us = 50, .gro = world_gro,
			      .irq_coalesce_us = 50 };

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

/*
 * g->tcp: a TCP/IPv4 segment of flow (seq % tcp_flows) into @f (after the
 * net header @vh), 1000 bytes of payload, the checksum left partial.
 * Returns the frame's length.
 */
#define TCP_PAYLOAD	1000

/* Payload byte at TCP sequence @seq of flow @fl from source @src. */
static uint8_t tcp_byte(unsigned src, unsigned fl, uint32_t seq)
{
	return (uint8_t)((seq * 7u + (seq >> 8)) ^ (src * 31u + fl * 5u));
}

static uint32_t build_tcp(struct guest *g, uint8_t *vh, uint8_t *f,
			  const uint8_t *dst, uint64_t seq)
{
	unsigned fl = (unsigned)(seq % g->tcp_flows);
	uint8_t *ip = f + 14, *th = ip + 20;
	uint32_t len = 14 + 20 + 20 + TCP_PAYLOAD;
	uint16_t c;

	memcpy(f, dst, ETH_ALEN);
	memcpy(f + 6, "\x02\x00\x00\x00\x00", 5);
	f[11] = mac_of(g->id);
	pv_put_be16(f + 12, 0x0800);
	memset(ip, 0, 40);
	ip[0] = 0x45;
	pv_put_be16(ip + 2, (uint16_t)(len - 14));
	pv_put_be16(ip + 4, g->tcp_id[fl]++);
	ip[6] = 0x40;		/* DF */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	ip[15] = (uint8_t)g->id;
	c = pv_csum_fold(pv_csum_partial(ip, 20, 0));
	memcpy(ip + 10, &c, 2);
	pv_put_be16(th, (uint16_t)(40000 + fl));
	pv_put_be16(th + 2, 5201);
	pv_put_be32(th + 4, g->tcp_seq[fl]);
	for (uint32_t i = 0; i < TCP_PAYLOAD; i++)
		f[54 + i] = tcp_byte(g->id, fl, g->tcp_seq[fl] + i);
	g->tcp_seq[fl] += TCP_PAYLOAD;
	pv_put_be32(th + 8, 1);
	th[12] = 5 << 4;
	th[13] = 0x10;		/* ACK */
	if (g->tcp_psh_every && seq % g->tcp_psh_every == g->tcp_psh_every - 1)
		th[13] |= 0x08;
	pv_put_be16(th + 14, 512);
	/* the pseudo-header sum, as a sender with checksum offload leaves it */
	{
		uint8_t ph[12];

		memcpy(ph, ip + 12, 8);
		ph[8] = 0;
		ph[9] = 6;
		pv_put_be16(ph + 10, (uint16_t)(len - 34));
		c = (uint16_t)~pv_csum_fold(pv_csum_partial(ph, 12, 0));
		memcpy(th + 16, &c, 2);
	}
	vh[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	{
		uint16_t cs = htole16(34), co = htole16(16);

		memcpy(vh + 6, &cs, 2);		/* csum_start */
		memcpy(vh + 8, &co, 2);		/* csum_offset */
	}
	return len;
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

/* F_INORDER: notes buffer @b's chain added on ring @r. */
static void order_add(struct guest *g, unsigned r, uint16_t b)
{
	if (!(g->features & F_INORDER))
		return;
	g->fifo[r][(g->fifo_head[r] + g->fifo_n[r]) % QSZ] = b;
	g->fifo_n[r]++;
}

/* F_INORDER: buffer @b's chain came back on ring @r; counts it if early. */
static void order_done(struct guest *g, unsigned r, uint16_t b)
{
	if (!(g->features & F_INORDER))
		return;
	if (!g->fifo_n[r] || g->fifo[r][g->fifo_head[r]] != b) {
		g->order_bad++;
		return;
	}
	g->fifo_head[r] = (g->fifo_head[r] + 1) % QSZ;
	g->fifo_n[r]--;
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
		bool bad = false;
		uint8_t *p = g->buf[TXR][b];
		struct vring_buf vb = { g->buf_gpa[TXR][b], HDR_LEN + len };

		memset(p, 0, HDR_LEN);
		if (g->tcp) {
			len = build_tcp(g, p, p + HDR_LEN, g->dst_mac, g->sent);
			vb.len = HDR_LEN + len;
		} else {
			build_frame(p + HDR_LEN, g->dst_mac, g->id, g->sent, len);
		}
		if (g->bad_every && g->sent % g->bad_every == g->bad_every - 1) {
			/* dropped by the switch; its chain still comes back.
			 * Counted once added: a failed add sent nothing. */
			bad = true;
			if (g->bad_sent & 1)
				vb.len = HDR_LEN - 2;	/* PKT_TRUNC */
			else
				p[1] = 0x7f;		/* PKT_HDR_GSO */
		}
		if (vring_drv_add(vq, &vb, 1, 0, (void *)(uintptr_t)(b + 1))) {
			g->free_buf[TXR][g->nfree[TXR]++] = b;
			g->drv_err++;
			break;
		}
		order_add(g, TXR, b);
		g->bad_sent += bad;
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
		for (unsigned i = 0; i < n; i++) {
			uint16_t b = (uint16_t)((uintptr_t)ck[i] - 1);

			order_done(g, TXR, b);
			g->free_buf[TXR][g->nfree[TXR]++] = b;
		}
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
		order_add(g, RXR, b);
		added++;
	}
	if (added) {
		vring_drv_publish(vq);
		kick(g, RXR);
	}
}

/*
 * g->tcp: one RX buffer of a (perhaps merged) TCP packet, in order; every
 * payload byte must be the one its sequence number says (a chain GRO held
 * and the guest got back early would have been rewritten).
 */
static void rx_tcp(struct guest *g, const uint8_t *p, uint32_t len)
{
	const uint8_t *d = p;

	if (!g->rx_left) {
		const uint8_t *e = p + HDR_LEN;
		uint16_t nb;

		memcpy(&nb, p + 10, 2);
		nb = le16toh(nb);
		if (len < HDR_LEN + 54 || !nb || pv_get_be16(e + 12) != 0x0800) {
			g->bad++;
			return;
		}
		g->rx_src = e[14 + 15];
		g->rx_flow = pv_get_be16(e + 34) - 40000u;
		g->rx_seq = pv_get_be32(e + 38);
		g->rx_left = nb;
		d = e + 54;
		len -= HDR_LEN + 54;
	}
	for (uint32_t k = 0; k < len; k++) {
		if (d[k] != tcp_byte(g->rx_src, g->rx_flow, g->rx_seq + k)) {
			g->bad++;
			break;
		}
	}
	g->rx_seq += len;
	g->rx_left--;
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
			order_done(g, RXR, b);
			if (g->track)
				g->filled[b] = true;
			if (g->tcp) {
				rx_tcp(g, p, lens[i]);
			} else if (lens[i] < HDR_LEN ||
			    !check_frame(p + HDR_LEN, lens[i] - HDR_LEN, &src,
					 &seq) ||
			    (int64_t)seq <= g->last_seq[src]) {
				g->bad++;
			} else {
				g->last_seq[src] = seq;
				g->from[src]++;
			}
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
					 "entry the device wrote (RX: %s, TX: %s)",
					 w->g[i]->name,
					 pv_drop_name(w->g[i]->ring[RXR].drv.broken_reason),
					 pv_drop_name(w->g[i]->ring[TXR].drv.broken_reason));
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

		for (unsigned k = PV_DROP_RING_HEAD_OOR; k <= PV_DROP_RING_PK_USED_WRAP; k++)
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
	if (g->order_bad)
		fail_msg("%s: %llu chains came back out of add order (IN_ORDER)",
			 g->name, (unsigned long long)g->order_bad);
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

#endif /* PVNET_TESTS_CONTRACT_FIXTURE_H */
