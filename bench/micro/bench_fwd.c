// SPDX-License-Identifier: MIT
/*
 * bench_fwd.c - the switch's real forwarding path, guest to guest, in one
 * thread: two vhost ports of a real `struct sw`, set up with vhost-user
 * messages (vhu_dev_handle_msg, as QEMU would send them), and the one
 * receive loop the workers run (dp_poll: rx_burst -> sw_forward_burst ->
 * the destination's tx_burst -> rx_done). A driver in the same thread plays
 * both guests: it posts frames on A's TX ring and recycles B's RX buffers.
 *
 * Only dp_poll() is timed (TSC): the figure is the switch's cost per packet
 * (issue 14's "switch cycles/pkt"), without threads, interrupts or a peer
 * on another core, so it is repeatable enough to compare commits. For
 * instruction counts that do not depend on the machine's load, run it under
 * callgrind with collection limited to the switch:
 *
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=switch_poll \
 *       build/bench/bench_fwd --packets 200000 --size 64
 *
 * and divide the Ir total by the packets. Not a test.
 *
 * Usage: bench_fwd [--packets N] [--size BYTES] [--burst N] [--mrg] [--ports N]
 * (--ports: N ports in the switch, the ones past A and B idle, never
 * started: what a switch with more guests costs a burst toward one)
 * [--dirty CPU] (before each burst, untimed, a thread on CPU writes the
 * Ethernet addresses of A's frames and B's receive buffers, as a guest in
 * mac forwarding does: the switch then reads and writes lines another
 * core holds modified, which is what `peers` mac rows pay over io rows)
 * [--packed] (both guests negotiate VIRTIO_F_RING_PACKED; the driver here
 * is a minimal packed one: one descriptor per buffer, ID = buffer number,
 * driver events disabled as busy-polling guests do)
 * [--no-stages] (the switch's default: no stage timing, no TSC read per
 * stage; stage_cpp then prints 0)
 * [--in-order] (both guests negotiate VIRTIO_F_IN_ORDER, as DPDK's
 * virtio-user does: the switch's path is the same, used entries in order)
 * [--tcp FLOWS] (A sends what a Linux guest's bulk TCP sender does: IPv4
 * segments of MSS 1448 from FLOWS flows round-robin, in sequence, ACK set,
 * PSH on every 45th of a flow (a 64 KB write), the TCP checksum left
 * partial (NEEDS_CSUM, A negotiates VIRTIO_NET_F_CSUM); B takes them as
 * `pvnet guest --sink` does: mergeable 4 KB buffers (a Linux guest's are at
 * most a page), GUEST_CSUM and GUEST_TSO4/6, so a merged packet arrives as
 * one GSO packet over several buffers. B counts the segments it received;
 * the output adds the GRO table's aggregation (in_segs / out_pkts) and the
 * cycles per segment and per payload byte)
 * [--gro SPEC] (the switch's --gro: off, poll, every=N, adaptive, ...;
 * default off. The thread plays the one worker (dp_adopt), so the switch
 * offers TCP toward B to that worker's table; each timed poll ends as a
 * worker's round does, with gro_poll_end() (this thread is never idle:
 * adaptive holds until PSH or a full packet, and its time bound does not
 * fire, as the output's flush_timeout shows), and what is still held at
 * the end is flushed in the last timed call)
 *
 * GRO's cost per segment by function, without the machine's noise:
 *
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=switch_poll \
 *       build/bench/bench_fwd --packets 100000 --tcp 1 --gro adaptive --no-stages
 *
 * (Ir / 100000 = Ir per segment; --gro off for the same segments unmerged).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pvnet/dp.h"
#include "pvnet/gro.h"
#include "pvnet/log.h"
#include "pvnet/port.h"
#include "pvnet/switch.h"
#include "pvnet/vhost.h"

/* Not in a header: the accessor ctl/stats.c uses (port_vhost.c). */
struct vhu_dev *port_vhost_dev(struct port *p);

#define MEM_LEN		(16u << 20)
#define QSZ		256
#define BUF_LEN		2048	/* A's buffers, and B's without --tcp */
#define BUF_LEN_TCP	4096	/* B's with --tcp: a page, as Linux's at most */
#define HDR_LEN		12
/* ring areas inside guest memory, then the buffers */
#define RING_AREA	0x10000ULL
#define BUF_BASE	0x100000ULL

/* A minimal packed-ring driver (virtio 1.2 §2.8) for one ring. */
struct pk_ring {
	struct vring_packed_desc *ring;
	uint16_t pos, used_pos;	/* next to make available / to read used */
	bool wrap, used_wrap;
};

struct guest {
	const char *name;
	uint8_t mac[6];
	struct port *port;
	struct vhu_dev *dev;
	uint64_t features;
	struct vring drv[2];		/* driver view: vring 0 RX, vring 1 TX */
	struct pk_ring pk[2];		/* the same with --packed */
	bool packed;
	uint64_t ring_gpa[2];
	int kick[2], call[2];
	uint16_t free_buf[QSZ];
	unsigned nfree;
	uint64_t buf_gpa0;		/* this guest's buffers */
	uint32_t buf_len;		/* ... buf_len bytes each */
};

/* --tcp: A's flows (a Linux sender's segments, as port_gen.c writes them) */
#define TCP_MSS		1448
#define TCP_HDRS	(ETH_HLEN + 20 + 20)
#define TCP_PSH_EVERY	45
struct tcp_gen {
	unsigned flows, next;
	uint32_t seq[64];
	uint16_t ip_id[64];
	unsigned sent[64];
};
static struct tcp_gen tcp;

/* --tcp: what B received, packet by packet (a merged one spans buffers) */
struct rx_count {
	unsigned left;		/* buffers of the current packet still to come */
	uint64_t bytes;		/* ... its bytes so far, header included */
	uint64_t pkts, segs, gso;
};
static struct rx_count rxc;

static uint8_t *mem;
static int memfd;

/* --dirty: the other core's writer, driven by a sequence number */
static struct guest *dirty_g[2];
static unsigned dirty_seq, dirty_done;

static void *dirty_thread(void *arg)
{
	unsigned seen = 0;

	(void)arg;
	for (;;) {
		unsigned s = __atomic_load_n(&dirty_seq, __ATOMIC_ACQUIRE);

		if (s == seen) {
			__builtin_ia32_pause();
			continue;
		}
		if (s == ~0u)
			return NULL;
		for (unsigned g = 0; g < 2; g++)
			for (unsigned b = 0; b < QSZ; b++) {
				volatile uint8_t *p = mem + dirty_g[g]->buf_gpa0 +
						      (uint64_t)b * dirty_g[g]->buf_len;

				/* the same bytes again: the line is now ours, modified */
				for (unsigned i = 0; i < 12; i++)
					p[HDR_LEN + i] = p[HDR_LEN + i];
			}
		seen = s;
		__atomic_store_n(&dirty_done, s, __ATOMIC_RELEASE);
	}
}

static uint8_t *gpa_ptr(uint64_t gpa)
{
	return mem + gpa;
}

/* Makes buffer @id available at the next position (release on the flags). */
static void pk_add(struct pk_ring *r, uint64_t addr, uint32_t len,
		   uint16_t write, uint16_t id)
{
	struct vring_packed_desc *d = &r->ring[r->pos];
	uint16_t f = (uint16_t)(write | (r->wrap ? VRING_PACKED_DESC_F_AVAIL :
					  VRING_PACKED_DESC_F_USED));

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->id = htole16(id);
	__atomic_store_n(&d->flags, htole16(f), __ATOMIC_RELEASE);
	if (++r->pos == QSZ) {
		r->pos = 0;
		r->wrap = !r->wrap;
	}
}

/*
 * The ID of the next used descriptor, or -1 if the device has not used it;
 * its length to *@len.
 */
static int pk_used(struct pk_ring *r, uint32_t *len)
{
	struct vring_packed_desc *d = &r->ring[r->used_pos];
	uint16_t f = le16toh(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE));

	if (!!(f & VRING_PACKED_DESC_F_AVAIL) != r->used_wrap ||
	    !!(f & VRING_PACKED_DESC_F_USED) != r->used_wrap)
		return -1;
	*len = le32toh(d->len);
	if (++r->used_pos == QSZ) {
		r->used_pos = 0;
		r->used_wrap = !r->used_wrap;
	}
	return le16toh(d->id);
}

static int msg(struct vhu_dev *d, uint32_t req, const void *p, uint32_t len,
	       int fd)
{
	struct vhu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHU_FLAG_VERSION;
	m.hdr.size = len;
	if (len)
		memcpy(m.payload.bytes, p, len);
	if (fd >= 0) {
		m.fds[0] = fd;
		m.nfds = 1;
	}
	return vhu_dev_handle_msg(d, &m);
}

static int msg_u64(struct vhu_dev *d, uint32_t req, uint64_t v)
{
	return msg(d, req, &v, sizeof(v), -1);
}

static int msg_state(struct vhu_dev *d, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vhu_vring_state s = { .index = idx, .num = num };

	return msg(d, req, &s, sizeof(s), -1);
}

/* Lays ring @r of @g in guest memory and starts it, as QEMU does. */
static int ring_start(struct guest *g, unsigned r)
{
	uint64_t gpa = g->ring_gpa[r];
	uint64_t desc = gpa, avail = gpa + 16ULL * QSZ, used = gpa + 0x2000;
	struct vhu_vring_addr a = {
		.index = r,
		.desc_uva = (uintptr_t)gpa_ptr(desc),
		.avail_uva = (uintptr_t)gpa_ptr(avail),
		.used_uva = (uintptr_t)gpa_ptr(used),
	};
	int rc = 0;

	if (g->packed) {
		struct vring_packed_event *drv_ev = (void *)gpa_ptr(avail);

		memset(gpa_ptr(desc), 0, 16ULL * QSZ);
		g->pk[r] = (struct pk_ring){ .ring = (void *)gpa_ptr(desc),
					     .wrap = true, .used_wrap = true };
		drv_ev->flags = htole16(VRING_PACKED_EVENT_F_DISABLE);
	} else {
		if (vring_setup(&g->drv[r], QSZ, gpa_ptr(desc), gpa_ptr(avail),
				gpa_ptr(used), g->features, NULL))
			return -1;
		vring_drv_init(&g->drv[r]);
		g->drv[r].state = VRING_RUNNING;
	}
	g->kick[r] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g->call[r] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc |= msg_state(g->dev, VHU_REQ_SET_VRING_NUM, r, QSZ);
	rc |= msg_state(g->dev, VHU_REQ_SET_VRING_BASE, r,
			g->packed ? VRING_PACKED_WRAP : 0);
	rc |= msg(g->dev, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), -1);
	{
		uint64_t v = r;

		rc |= msg(g->dev, VHU_REQ_SET_VRING_KICK, &v, 8, dup(g->kick[r]));
		rc |= msg(g->dev, VHU_REQ_SET_VRING_CALL, &v, 8, dup(g->call[r]));
	}
	rc |= msg_state(g->dev, VHU_REQ_SET_VRING_ENABLE, r, 1);
	return rc || !vhu_dev_vring_running(g->dev, r) ? -1 : 0;
}

static int guest_connect(struct guest *g)
{
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r;
	} mt = { 1, 0, { 0, MEM_LEN, (uintptr_t)mem, 0 } };

	if (msg(g->dev, VHU_REQ_SET_OWNER, NULL, 0, -1) ||
	    msg_u64(g->dev, VHU_REQ_SET_FEATURES, g->features) ||
	    msg_u64(g->dev, VHU_REQ_SET_PROTOCOL_FEATURES, 0) ||
	    msg(g->dev, VHU_REQ_SET_MEM_TABLE, &mt, sizeof(mt), dup(memfd)))
		return -1;
	return ring_start(g, 0) || ring_start(g, 1) ? -1 : 0;
}

/* B's receive buffers, all posted. */
static void rx_refill(struct guest *g)
{
	unsigned added = 0;

	while (g->nfree) {
		uint16_t b = g->free_buf[--g->nfree];
		struct vring_buf vb = { g->buf_gpa0 + (uint64_t)b * g->buf_len,
					g->buf_len };

		if (g->packed) {	/* QSZ buffers: never more than the ring */
			pk_add(&g->pk[0], vb.addr, vb.len, VRING_DESC_F_WRITE, b);
			continue;
		}
		if (vring_drv_add(&g->drv[0], &vb, 0, 1, (void *)(uintptr_t)(b + 1))) {
			g->nfree++;
			break;
		}
		added++;
	}
	if (added && !g->packed)
		vring_drv_publish(&g->drv[0]);
}

/*
 * --tcp: one used buffer of B's, in used order. The first of a packet says
 * in num_buffers how many it spans; the segments it stands for are its TCP
 * payload in MSS pieces (its GSO header says it is merged).
 */
static void rx_count_buf(struct guest *g, uint16_t b, uint32_t len)
{
	const uint8_t *h = gpa_ptr(g->buf_gpa0 + (uint64_t)b * g->buf_len);

	if (!rxc.left) {
		struct virtio_net_hdr vh;

		memcpy(&vh, h, sizeof(vh));
		rxc.left = le16toh(vh.num_buffers) ? le16toh(vh.num_buffers) : 1;
		rxc.bytes = 0;
		rxc.pkts++;
		rxc.gso += vh.gso_type != VIRTIO_NET_HDR_GSO_NONE;
	}
	rxc.bytes += len;
	if (--rxc.left == 0 && rxc.bytes > HDR_LEN + TCP_HDRS)
		rxc.segs += (rxc.bytes - HDR_LEN - TCP_HDRS + TCP_MSS - 1) / TCP_MSS;
}

/* B's used buffers: the packets they hold (segments with --tcp). */
static unsigned rx_reap(struct guest *g)
{
	void *ck[64];
	uint32_t lens[64], len;
	unsigned n, total = 0;
	int id;

	while (g->packed && (id = pk_used(&g->pk[0], &len)) >= 0) {
		g->free_buf[g->nfree++] = (uint16_t)id;
		if (tcp.flows)
			rx_count_buf(g, (uint16_t)id, len);
		total++;
	}
	while (!g->packed && (n = vring_drv_get_used(&g->drv[0], ck, lens, 64))) {
		for (unsigned i = 0; i < n; i++) {
			uint16_t b = (uint16_t)((uintptr_t)ck[i] - 1);

			g->free_buf[g->nfree++] = b;
			if (tcp.flows)
				rx_count_buf(g, b, lens[i]);
		}
		total += n;
	}
	rx_refill(g);
	return tcp.flows ? 0 : total;
}

/* A's frames are written once, up front: the switch only reads them. */
static void tx_prepare(struct guest *a, const uint8_t *dst, uint32_t size)
{
	for (unsigned b = 0; b < QSZ; b++) {
		uint8_t *p = gpa_ptr(a->buf_gpa0 + (uint64_t)b * a->buf_len);

		memset(p, 0, HDR_LEN);
		memcpy(p + HDR_LEN, dst, 6);
		memcpy(p + HDR_LEN + 6, a->mac, 6);
		p[HDR_LEN + 12] = 0x88;
		p[HDR_LEN + 13] = 0xb5;
		for (uint32_t i = 14; i < size; i++)
			p[HDR_LEN + i] = (uint8_t)i;
		a->free_buf[a->nfree++] = (uint16_t)b;
	}
}

/*
 * --tcp: the headers of the next segment, into A's buffer @p, as Linux's
 * stack leaves them for a virtio-net with CSUM: the IPv4 checksum complete,
 * the TCP one partial (the pseudo-header's sum, NEEDS_CSUM with csum_start
 * and csum_offset). The payload bytes were written once by tx_prepare().
 */
static void tcp_frame(uint8_t *p)
{
	unsigned fl = tcp.next;
	struct virtio_net_hdr vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_NONE,
		.csum_start = htole16(ETH_HLEN + 20),
		.csum_offset = htole16(16),
	};
	uint8_t *ip = p + HDR_LEN + ETH_HLEN, *th = ip + 20, pseudo[12];
	uint16_t c, tcp_len = 20 + TCP_MSS;

	if (++tcp.next == tcp.flows)
		tcp.next = 0;
	memcpy(p, &vh, sizeof(vh));
	pv_put_be16(p + HDR_LEN + 12, 0x0800);
	ip[0] = 0x45;
	ip[1] = 0;
	pv_put_be16(ip + 2, (uint16_t)(20 + tcp_len));
	pv_put_be16(ip + 4, tcp.ip_id[fl]++);
	pv_put_be16(ip + 6, 0x4000);		/* DF */
	ip[8] = 64;
	ip[9] = 6;
	pv_put_be16(ip + 10, 0);
	pv_put_be32(ip + 12, 0xc6120101u);	/* 198.18.1.1 */
	pv_put_be32(ip + 16, 0xc6120002u);	/* 198.18.0.2 */
	c = pv_csum_fold(pv_csum_partial(ip, 20, 0));
	memcpy(ip + 10, &c, 2);
	pv_put_be16(th, (uint16_t)(10000 + fl));
	pv_put_be16(th + 2, 5201);
	pv_put_be32(th + 4, tcp.seq[fl]);
	pv_put_be32(th + 8, 1);
	th[12] = 5 << 4;
	th[13] = ++tcp.sent[fl] % TCP_PSH_EVERY == 0 ? 0x18 : 0x10;	/* PSH|ACK */
	pv_put_be16(th + 14, 0xffff);
	pv_put_be16(th + 18, 0);
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pv_put_be16(pseudo + 10, tcp_len);
	c = (uint16_t)~pv_csum_fold(pv_csum_partial(pseudo, sizeof(pseudo), 0));
	memcpy(th + 16, &c, 2);
	tcp.seq[fl] += TCP_MSS;
}

static unsigned tx_post(struct guest *a, uint32_t size, unsigned max)
{
	unsigned added = 0;

	while (a->nfree && added < max) {
		uint16_t b = a->free_buf[--a->nfree];
		struct vring_buf vb = { a->buf_gpa0 + (uint64_t)b * a->buf_len,
					HDR_LEN + size };

		if (tcp.flows)
			tcp_frame(gpa_ptr(vb.addr));

		if (a->packed) {
			pk_add(&a->pk[1], vb.addr, vb.len, 0, b);
			added++;
			continue;
		}
		if (vring_drv_add(&a->drv[1], &vb, 1, 0, (void *)(uintptr_t)(b + 1))) {
			a->nfree++;
			break;
		}
		added++;
	}
	if (added && !a->packed)
		vring_drv_publish(&a->drv[1]);
	return added;
}

static void tx_reap(struct guest *a)
{
	void *ck[64];
	unsigned n;
	uint32_t len;
	int id;

	while (a->packed && (id = pk_used(&a->pk[1], &len)) >= 0)
		a->free_buf[a->nfree++] = (uint16_t)id;
	while (!a->packed && (n = vring_drv_get_used(&a->drv[1], ck, NULL, 64)))
		for (unsigned i = 0; i < n; i++)
			a->free_buf[a->nfree++] = (uint16_t)((uintptr_t)ck[i] - 1);
}

static struct guest *guest_add(struct sw *sw, const char *name, unsigned id,
			       uint64_t features, uint32_t buf_len)
{
	struct guest *g = calloc(1, sizeof(*g));
	char spec[160], err[200];

	if (!g)
		return NULL;
	g->name = name;
	memcpy(g->mac, "\x02\x00\x00\x00\x00\x00", 6);
	g->mac[5] = (uint8_t)(0x10 + id);
	g->features = features;
	g->packed = features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	g->ring_gpa[0] = RING_AREA + 0x8000ULL * (2 * id);
	g->ring_gpa[1] = RING_AREA + 0x8000ULL * (2 * id + 1);
	/* B's (id 1) may be larger; the idle ports' are never used */
	g->buf_gpa0 = BUF_BASE + (uint64_t)id * QSZ * BUF_LEN;
	g->buf_len = buf_len;
	snprintf(spec, sizeof(spec),
		 "vhost,name=%s,path=/tmp/pvnet-bench-fwd-%d-%u.sock,"
		 "mac=02:00:00:00:00:%02x", name, (int)getpid(), id, 0x10 + id);
	g->port = port_create(sw, spec, err, sizeof(err));
	if (!g->port || sw_port_add(sw, g->port)) {
		fprintf(stderr, "bench_fwd: port %s: %s\n", name, err);
		return NULL;
	}
	return g;
}

/*
 * The timed region, and callgrind's collection window: a symbol of its own
 * (LTO inlines dp_poll() into main otherwise).
 */
static __attribute__((noinline)) unsigned
switch_poll(struct port *p, unsigned n, struct gro_table *gro, bool last)
{
	unsigned got = dp_poll(p, 0, n);

	/* a worker's round ends so (worker.c), then its next round begins */
	if (gro) {
		gro_poll_end(gro, got, pv_now_ns());
		if (last)
			gro_flush_all(gro);
	}
	return got;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_fwd [--packets N] [--size BYTES] "
		"[--burst N] [--mrg] [--ports N] [--dirty CPU] [--packed]\n"
		"  [--no-stages] [--in-order] [--tcp FLOWS] [--gro SPEC]\n"
		"  one thread: A's TX -> dp_poll (the switch) -> B's RX; prints\n"
		"  the TSC cycles per packet spent in dp_poll\n"
		"  --tcp FLOWS: A sends MSS-1448 TCP segments of FLOWS (1-64) flows\n"
		"    (checksum partial), B takes GSO packets in mergeable 4 KB\n"
		"    buffers; adds the aggregation and cycles per segment\n"
		"  --gro SPEC: the switch's --gro (off, poll, every=N, adaptive...)\n");
}

int main(int argc, char **argv)
{
	uint64_t packets = 2000000, done = 0, rcvd = 0, cycles = 0, polls = 0;
	uint32_t size = 64;
	unsigned burst = 32, nports = 2;
	bool stages_on = true;	/* as `pvnet switch --stage-cycles` */
	int dirty_cpu = -1;
	/* the switch's own stage split, as a worker keeps it (RX: the rest) */
	uint64_t stages[DP_STAGE_MAX] = { 0 };
	pthread_t dirty_tid;
	uint64_t feat = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
			VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	struct dp_cfg dcfg = { .workers = 1, .notify = DP_NOTIFY_POLL,
			       .budget = 64, .idle_us = 50 };
	const char *gro_spec = "off";
	uint64_t feat_a = 0, feat_b = 0;	/* --tcp's offloads */
	uint32_t buf_b = BUF_LEN;
	bool tcp_opt = false;
	struct gro_table *gro;
	unsigned idle = 0;
	struct guest *a, *b;
	struct sw *sw;
	struct dp *dp;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--packets") && i + 1 < argc)
			packets = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--burst") && i + 1 < argc)
			burst = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--ports") && i + 1 < argc)
			nports = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dirty") && i + 1 < argc)
			dirty_cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mrg"))
			feat |= VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
		else if (!strcmp(argv[i], "--packed"))
			feat |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
		else if (!strcmp(argv[i], "--no-stages"))
			stages_on = false;
		else if (!strcmp(argv[i], "--in-order"))
			feat |= VIRTIO_BIT(VIRTIO_F_IN_ORDER);
		else if (!strcmp(argv[i], "--tcp") && i + 1 < argc) {
			tcp.flows = (unsigned)strtoul(argv[++i], NULL, 10);
			tcp_opt = true;
		}
		else if (!strcmp(argv[i], "--gro") && i + 1 < argc)
			gro_spec = argv[++i];
		else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (gro_cfg_parse(gro_spec, &dcfg.gro) < 0) {
		fprintf(stderr, "bench_fwd: bad --gro '%s'\n", gro_spec);
		usage(stderr);
		return 2;
	}
	if (tcp.flows) {
		size = TCP_HDRS + TCP_MSS;
		feat_a = VIRTIO_BIT(VIRTIO_NET_F_CSUM);
		feat_b = VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			 VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
			 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
			 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);
		buf_b = BUF_LEN_TCP;
	}
	if (size < 60 || size > BUF_LEN - HDR_LEN || !burst || burst > QSZ / 2 ||
	    nports < 2 || nports > 64 || tcp.flows > ARRAY_SIZE(tcp.seq) ||
	    (tcp_opt && !tcp.flows)) {
		usage(stderr);
		return 2;
	}
	pv_log_set_level(PV_LOG_WARN);
	memfd = memfd_create("bench-fwd", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEM_LEN) < 0)
		return 1;
	mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		   memfd, 0);
	if (mem == MAP_FAILED)
		return 1;
	sw = sw_create(SW_MODE_DIRECT, 300);
	a = sw ? guest_add(sw, "a", 0, feat | feat_a, BUF_LEN) : NULL;
	b = a ? guest_add(sw, "b", 1, feat | feat_b, buf_b) : NULL;
	if (!b)
		return 1;
	for (unsigned i = 2; i < nports; i++) {
		static char names[64][8];

		snprintf(names[i], sizeof(names[i]), "idle%u", i);
		if (!guest_add(sw, names[i], i, feat, BUF_LEN))
			return 1;
	}
	/* the workers are never started: dp_poll runs on this thread */
	dp = dp_create(sw, &dcfg);
	if (!dp || dp_adopt(dp, 0) || a->port->ops->start(a->port, sw->loop) ||
	    b->port->ops->start(b->port, sw->loop))
		return 1;
	gro = dp_gro_table();
	a->dev = port_vhost_dev(a->port);
	b->dev = port_vhost_dev(b->port);
	if (guest_connect(a) || guest_connect(b)) {
		fprintf(stderr, "bench_fwd: vhost-user setup failed\n");
		return 1;
	}
	for (unsigned i = 0; i < QSZ; i++)
		b->free_buf[b->nfree++] = (uint16_t)i;
	rx_refill(b);
	tx_prepare(a, b->mac, size);
	if (dirty_cpu >= 0) {
		cpu_set_t set;

		dirty_g[0] = a;
		dirty_g[1] = b;
		CPU_ZERO(&set);
		CPU_SET(dirty_cpu, &set);
		if (pthread_create(&dirty_tid, NULL, dirty_thread, NULL) ||
		    pthread_setaffinity_np(dirty_tid, sizeof(set), &set))
			return 1;
	}

	dp_stage_acc = stages_on ? stages : NULL;
	while (done < packets) {
		unsigned n = tx_post(a, size, (unsigned)PV_MIN(burst, packets - done));
		uint64_t t0, got;

		if (dirty_cpu >= 0) {
			unsigned s = (unsigned)polls + 1;

			__atomic_store_n(&dirty_seq, s, __ATOMIC_RELEASE);
			while (__atomic_load_n(&dirty_done, __ATOMIC_ACQUIRE) != s)
				__builtin_ia32_pause();
		}
		t0 = dp_rdtsc();
		got = switch_poll(a->port, n, gro, false);
		cycles += dp_rdtsc() - t0;
		polls++;
		done += got;
		tx_reap(a);
		rcvd += rx_reap(b);
		/*
		 * Stuck (reported below), unless GRO holds A's buffers: a
		 * round without work lets them go (adaptive, poll), or a
		 * few (every=N).
		 */
		if (!n && !got && (!gro || !gro_held(gro) || ++idle > 1000))
			break;
		if (n || got)
			idle = 0;
	}
	if (gro) {	/* the last round: what GRO still holds goes out */
		uint64_t t0 = dp_rdtsc();

		switch_poll(a->port, 0, gro, true);
		cycles += dp_rdtsc() - t0;
		tx_reap(a);
		rcvd += rx_reap(b);
	}
	if (tcp.flows)
		rcvd = rxc.segs;
	printf("{\"bench\":\"fwd\",\"size\":%u,\"burst\":%u,\"mrg\":%s,"
	       "\"packed\":%s,\"packets\":%" PRIu64 ",\"received\":%" PRIu64 ","
	       "\"polls\":%" PRIu64 ",\"cycles_per_pkt\":%.1f,"
	       "\"stage_cpp\":{\"rx_and_done\":%.1f,\"classify\":%.1f,"
	       "\"deliver\":%.1f,\"notify\":%.1f},", size, burst,
	       (feat | feat_b) & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) ? "true" : "false",
	       feat & VIRTIO_BIT(VIRTIO_F_RING_PACKED) ? "true" : "false", done, rcvd, polls, done ? (double)cycles / (double)done : 0.0,
	       done ? (double)(cycles - stages[DP_STAGE_CLASSIFY] -
			       stages[DP_STAGE_DELIVER] - stages[DP_STAGE_NOTIFY]) /
		      (double)done : 0.0,
	       done ? (double)stages[DP_STAGE_CLASSIFY] / (double)done : 0.0,
	       done ? (double)stages[DP_STAGE_DELIVER] / (double)done : 0.0,
	       done ? (double)stages[DP_STAGE_NOTIFY] / (double)done : 0.0);
	if (tcp.flows) {
		const struct gro_stats *gs = gro ? gro_stats(gro) : NULL;

		/* what the switch sent B: segments, in packets of segs_per_pkt */
		printf("\"tcp_flows\":%u,\"gro\":\"%s\",\"cycles_per_seg\":%.1f,"
		       "\"cycles_per_byte\":%.4f,\"rx_pkts\":%" PRIu64 ","
		       "\"rx_gso_pkts\":%" PRIu64 ",\"segs_per_pkt\":%.2f,"
		       "\"gro_in_segs\":%" PRIu64 ",\"gro_out_pkts\":%" PRIu64 ","
		       "\"flush_flags\":%" PRIu64 ",\"flush_full\":%" PRIu64 ","
		       "\"flush_policy\":%" PRIu64 ",\"flush_timeout\":%" PRIu64 ",",
		       tcp.flows, gro_spec,
		       done ? (double)cycles / (double)done : 0.0,
		       done ? (double)cycles / (double)(done * TCP_MSS) : 0.0,
		       rxc.pkts, rxc.gso,
		       rxc.pkts ? (double)rxc.segs / (double)rxc.pkts : 0.0,
		       gs ? gs->in_segs : 0, gs ? gs->out_pkts : 0,
		       gs ? gs->flush_flags : 0, gs ? gs->flush_full : 0,
		       gs ? gs->flush_policy : 0, gs ? gs->flush_timeout : 0);
	}
	printf("\"tsc_hz\":%" PRIu64 "}\n", dp_tsc_hz(dp));
	if (dirty_cpu >= 0) {
		__atomic_store_n(&dirty_seq, ~0u, __ATOMIC_RELEASE);
		pthread_join(dirty_tid, NULL);
	}
	dp_stage_acc = NULL;
	dp_adopt(NULL, 0);
	dp_destroy(dp);
	sw_destroy(sw);
	return done == packets && rcvd == packets ? 0 : 1;
}
