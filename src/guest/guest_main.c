// SPDX-License-Identifier: MIT
/*
 * guest_main.c - `pvnet guest`: a virtio-user frontend in three modes
 *
 *   --tap IFNAME   bridge the rings to a TAP device (in --netns)
 *   --gen          send a numbered, patterned test stream to --dst
 *   --sink         receive it and count lost, reordered and corrupted frames
 *
 * NAPI style on receive: interrupts (call eventfd) off while we poll, on
 * again when the ring is empty, then one more look to close the race.
 * The TX ring raises no interrupts: buffers are reaped when we need them,
 * and only a full ring turns TX interrupts on until it drains.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "guest_internal.h"
#include "pvnet/ctl.h"
#include "pvnet/gro.h"
#include "pvnet/guest.h"
#include "pvnet/log.h"

#define ETHERTYPE_PVNET_TEST	0x88b5	/* IEEE local experimental */
#define TEST_MAGIC		0x50564e54u	/* "PVNT" */
#define TEST_HDR		(ETH_HLEN + 4 + 8)
/* With --flows: Ethernet + IPv4 + UDP to the discard port, then the same. */
#define TEST_UDP_OFF		(ETH_HLEN + 20 + 8)
#define TEST_UDP_PORT		9
#define TEST_UDP_SPORT0		10000
#define MAX_FLOWS		256
/* A frame of the test stream, IPv4 length included, stays below 64 KB. */
#define GEN_MAX_SIZE		65000
#define PATTERN_LEN		(VUSER_BUF + 256)
#define RX_BUDGET		256
#define ANNOUNCE_LEN		60	/* the shortest Ethernet frame, no FCS */

enum mode { MODE_TAP, MODE_GEN, MODE_SINK };

struct guest_opts {
	struct vhu_front_cfg cfg;
	enum mode mode;
	const char *tap, *netns;
	uint8_t mac[ETH_ALEN], dst[ETH_ALEN];
	bool has_dst;
	unsigned size;
	unsigned flows;		/* 0: raw test ethertype; N: IPv4/UDP flows */
	uint64_t count;
	double rate, duration, idle_timeout, connect_timeout;
	bool reconnect;		/* gen/sink: attach again when the backend goes */
	bool announce;		/* sink: one broadcast frame after attaching */
	unsigned mtu;		/* --mtu: NET_SET_MTU and the TAP's; 0: none */
};

struct guest_run {
	struct guest_opts *o;
	struct vuser *v;
	int tapfd[VHU_MAX_QUEUE_PAIRS];	/* TAP queue i feeds ring i % nq */
	unsigned ntap;
	unsigned tap_cur;		/* the TAP queue being read or written */
	int epfd;
	bool tx_blocked[VHU_MAX_QUEUE_PAIRS];
	/* gen / sink */
	uint64_t seq;
	uint64_t received, lost, reordered, corrupted, bytes, max_seq;
	uint64_t frames, frame_bytes;	/* everything, test stream or not */
	uint64_t flow_max[MAX_FLOWS];	/* highest seq + 1 seen per flow */
	bool any;
	uint64_t first_ns, last_ns;
	uint64_t gen_t0, gen_bytes;	/* gen: over every connection */
	uint8_t pattern[PATTERN_LEN];
	uint64_t tap_write_errs;
	struct pv_drop_stats rx_drops;	/* frames from the backend refused */
	struct pv_ratelimit rx_rl;
	struct gro_table *gro;	/* LRO before the TAP; NULL: off */
	struct pkt gro_pkt;
	unsigned cur_q;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void guest_usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet guest --connect SOCK [--server] [--queues N] [--mac MAC]\n"
		"                   (--tap IFNAME [--netns NAME] | --gen --dst MAC | --sink)\n"
		"\n"
		"A virtio-user frontend: it owns its memory (a memfd shared with the\n"
		"backend), drives the virtqueues as a virtio-net driver, and attaches them\n"
		"to a TAP device, or sends / checks a numbered test stream.\n"
		"\n"
		"  --connect SOCK     the backend's vhost-user socket\n"
		"  --server           listen on SOCK and wait for the backend instead\n"
		"  --queues N         queue pairs (1..16, default 1); with --tap, a\n"
		"                     multiqueue TAP with one queue per pair\n"
		"  --mac MAC          this guest's address (default: random, local)\n"
		"  --tap IFNAME       create TAP IFNAME with --mac, up, checksum offload\n"
		"  --netns NAME       create the TAP inside /var/run/netns/NAME\n"
		"  --mtu N            announce MTU N (68..65535) to the backend with\n"
		"                     NET_SET_MTU, as QEMU's host_mtu does (a refusal is\n"
		"                     an error), and give the TAP that MTU\n"
		"  --gen              send frames: --dst MAC --size BYTES (frame length,\n"
		"                     60..%d, default 60) --rate PPS (0: as fast as the\n"
		"                     ring goes) --count N and/or --duration SECONDS;\n"
		"                     --flows N sends IPv4/UDP in N flows (by source\n"
		"                     port), each flow on TX queue flow %% queues\n"
		"  --sink             receive frames; stop after --count N, --duration S,\n"
		"                     or --idle-timeout S (default 2) without traffic;\n"
		"                     --announce first sends one broadcast frame from\n"
		"                     --mac, as a guest's ARP would, so that a learning\n"
		"                     switch knows where the sink is\n"
		"  --connect-timeout S  give up connecting after S seconds (default 10)\n"
		"  --no-offload       do not negotiate CSUM, GUEST_CSUM or TSO: every frame\n"
		"                     carries a complete checksum both ways (the backend\n"
		"                     must complete partial ones); the TAP gets no offload\n"
		"  --no-gro           with --tap: do not aggregate received TCP segments\n"
		"                     before the TAP (LRO on the virtual interface)\n"
		"  --no-event-idx     do not negotiate VIRTIO_RING_F_EVENT_IDX: notifications\n"
		"                     are suppressed with the ring flags only, as older drivers do\n"
		"  --no-in-order      do not negotiate VIRTIO_F_IN_ORDER: used chains are\n"
		"                     harvested by id (by default it is taken when the\n"
		"                     backend offers it, and chains come back in the order\n"
		"                     they were added, several per used entry if the\n"
		"                     backend batches; one out of order breaks the queue)\n"
		"  --packed           lay out packed virtqueues (VIRTIO_F_RING_PACKED, virtio\n"
		"                     1.2 section 2.8) instead of split ones; a backend that\n"
		"                     does not offer it is an error (exit status 1)\n"
		"  --unsealed-memory  (tests) leave the guest memory unsealed, so a test can\n"
		"                     shrink it under the backend (default: sealed)\n"
		"\n"
		"--gen and --sink print one JSON line when they end, e.g.\n"
		"  {\"mode\":\"sink\",\"received\":N,\"lost\":N,\"reordered\":N,\"corrupted\":N,...}\n"
		"With --tap the frontend reconnects when the backend goes away;\n"
		"with --gen or --sink only if --reconnect is given (the stream's\n"
		"numbering and counters go on across connections). With --tap,\n"
		"each attach ends with SEND_RARP for --mac when the backend takes\n"
		"it, so a switch knows at once where the station is.\n",
		GEN_MAX_SIZE);
}

static uint64_t now_ns(void)
{
	return pv_now_ns();
}

/* ---- gen / sink ---- */

struct gen_arg {
	struct guest_run *r;
};

static size_t fill_gen(void *buf, size_t cap, void *arg)
{
	struct guest_run *r = ((struct gen_arg *)arg)->r;
	struct guest_opts *o = r->o;
	size_t hl = r->v->hdr_len, flen = o->size, off = ETH_HLEN;
	uint8_t *b = buf, *f = b + hl;
	uint16_t et = htobe16(o->flows ? 0x0800 : ETHERTYPE_PVNET_TEST);
	uint32_t magic = htobe32(TEST_MAGIC);
	uint64_t seq = htobe64(r->seq);

	if (hl + flen > cap)
		return cap + 1;
	memset(b, 0, hl);
	memcpy(f, o->dst, ETH_ALEN);
	memcpy(f + 6, o->mac, ETH_ALEN);
	memcpy(f + 12, &et, 2);
	if (o->flows) {
		/* 198.18.255.1 -> 198.18.255.2, UDP from 10000 + flow to port 9. */
		uint8_t *ip = f + ETH_HLEN, *udp = ip + 20;
		uint16_t v, csum;

		memset(ip, 0, 28);
		ip[0] = 0x45;
		v = htobe16((uint16_t)(flen - ETH_HLEN));
		memcpy(ip + 2, &v, 2);
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, "\xc6\x12\xff\x01\xc6\x12\xff\x02", 8);
		csum = pv_csum_fold(pv_csum_partial(ip, 20, 0));
		memcpy(ip + 10, &csum, 2);
		v = htobe16((uint16_t)(TEST_UDP_SPORT0 + r->seq % o->flows));
		memcpy(udp, &v, 2);
		v = htobe16(TEST_UDP_PORT);
		memcpy(udp + 2, &v, 2);
		v = htobe16((uint16_t)(flen - ETH_HLEN - 20));
		memcpy(udp + 4, &v, 2);
		off = TEST_UDP_OFF;	/* UDP checksum 0: none (RFC 768) */
	}
	memcpy(f + off, &magic, 4);
	memcpy(f + off + 4, &seq, 8);
	memcpy(f + off + 12, r->pattern + (r->seq & 0xff), flen - off - 12);
	r->seq++;
	return hl + flen;
}

static bool sink_deliver(const struct iovec *iov, unsigned n, int slot,
			 void *arg)
{
	struct guest_run *r = arg;

	(void)slot;
	static __thread uint8_t frame[VUSER_BUF];
	size_t hl = r->v->hdr_len;
	size_t len = pv_iov_to_buf(iov, n, hl, frame, sizeof(frame));
	size_t off = ETH_HLEN;
	unsigned flow = 0;
	uint16_t et, port;
	uint32_t magic;
	uint64_t seq;

	r->frames++;
	r->frame_bytes += len;
	r->last_ns = now_ns();
	if (!r->first_ns)
		r->first_ns = r->last_ns;
	if (len < TEST_HDR)
		return true;
	memcpy(&et, frame + 12, 2);
	if (be16toh(et) == 0x0800 && len >= TEST_UDP_OFF + 12 &&
	    frame[ETH_HLEN] == 0x45 && frame[ETH_HLEN + 9] == 17) {
		memcpy(&port, frame + ETH_HLEN + 22, 2);
		if (be16toh(port) != TEST_UDP_PORT)
			return true;
		memcpy(&port, frame + ETH_HLEN + 20, 2);
		port = be16toh(port);
		memcpy(&magic, frame + TEST_UDP_OFF, 4);
		/* Someone else's UDP to port 9 (testpmd's txonly) is not ours. */
		if (port < TEST_UDP_SPORT0 || port >= TEST_UDP_SPORT0 + MAX_FLOWS ||
		    be32toh(magic) != TEST_MAGIC)
			return true;
		flow = (uint16_t)(port - TEST_UDP_SPORT0);
		off = TEST_UDP_OFF;
	} else if (be16toh(et) != ETHERTYPE_PVNET_TEST) {
		return true;	/* not our stream (ARP, IPv6 ND, a peer's traffic) */
	}
	memcpy(&magic, frame + off, 4);
	if (be32toh(magic) != TEST_MAGIC) {
		r->corrupted++;
		r->any = true;
		return true;
	}
	memcpy(&seq, frame + off + 4, 8);
	seq = be64toh(seq);
	if (len - off - 12 > PATTERN_LEN - 256 ||
	    memcmp(frame + off + 12, r->pattern + (seq & 0xff), len - off - 12)) {
		r->corrupted++;
		r->any = true;
		return true;
	}
	r->received++;
	r->bytes += len;
	/* Order holds per flow: different flows may take different queues. */
	if (seq < r->flow_max[flow])
		r->reordered++;
	else
		r->flow_max[flow] = seq + 1;
	if (!r->any || seq > r->max_seq)
		r->max_seq = seq;
	r->any = true;
	return true;
}

static void print_report(struct guest_run *r, const char *mode, uint64_t pkts,
			 uint64_t bytes, uint64_t t0, uint64_t t1)
{
	double secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
	double mpps = secs > 0 ? (double)pkts / secs / 1e6 : 0;
	double gbps = secs > 0 ? (double)bytes * 8 / secs / 1e9 : 0;

	if (!strcmp(mode, "sink")) {
		uint64_t expect = r->any ? r->max_seq + 1 : 0;

		r->lost = expect > r->received - r->reordered ?
			  expect - (r->received - r->reordered) : 0;
		printf("{\"mode\":\"sink\",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
		       ",\"reordered\":%" PRIu64 ",\"corrupted\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"frames\":%" PRIu64
		       ",\"frame_bytes\":%" PRIu64 ",\"seconds\":%.3f,"
		       "\"mpps\":%.3f,\"gbps\":%.3f}\n", r->received, r->lost,
		       r->reordered, r->corrupted, r->bytes, r->frames,
		       r->frame_bytes, secs, mpps, gbps);
	} else {
		printf("{\"mode\":\"gen\",\"sent\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"size\":%u,\"seconds\":%.3f,\"mpps\":%.3f,\"gbps\":%.3f,"
		       "\"kicks\":%" PRIu64 "}\n", pkts, bytes, r->o->size, secs,
		       mpps, gbps, r->v->q[0].kicks);
	}
	fflush(stdout);
}

/* ---- TAP bridging ---- */

static size_t fill_from_tap(void *buf, size_t cap, void *arg)
{
	struct guest_run *r = arg;
	ssize_t n = read(r->tapfd[r->tap_cur], buf, cap);

	if (n <= 0)
		return 0;	/* EAGAIN: nothing more to read */
	if ((size_t)n <= r->v->hdr_len)
		return 0;
	return (size_t)n;
}

static bool tap_deliver(const struct iovec *iov, unsigned n, int slot,
			void *arg)
{
	struct guest_run *r = arg;
	struct virtio_net_hdr h;
	enum pv_drop why;
	int e;

	/*
	 * The backend wrote this header; the kernel would act on its offsets.
	 * It is checked on a copy, and the copy is what the TAP gets.
	 */
	why = guest_rx_hdr(r->v->features, r->v->hdr_len, iov, n, &h);
	if (why != PV_DROP_NONE) {
		r->rx_drops.n[why]++;
		pv_log_ratelimited(&r->rx_rl, PV_LOG_WARN,
				   "guest: frame from the backend dropped (%s): %s",
				   pv_drop_name(why), pv_drop_text(why));
		return true;
	}
	/*
	 * LRO on the virtual interface (seed 001): a TCP segment that came
	 * unaggregated is offered to the guest's own GRO table first; what it
	 * keeps leaves merged, with one GSO header, at the end of the poll.
	 */
	if (r->gro && slot >= 0 && iov[0].iov_len > r->v->hdr_len) {
		struct pkt *p = &r->gro_pkt;
		struct gro_ref ref = { 0, (uint16_t)r->cur_q, (uint32_t)slot };

		p->vh = h;
		p->seg[0].iov_base = (uint8_t *)iov[0].iov_base + r->v->hdr_len;
		p->seg[0].iov_len = iov[0].iov_len - r->v->hdr_len;
		p->nseg = 1;
		p->len = (uint32_t)p->seg[0].iov_len;
		if (p->vh.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
		    pkt_parse(p) == PV_DROP_NONE &&
		    gro_receive(r->gro, p, ref, 0, 0, now_ns()))
			return false;	/* held: the buffer comes back on flush */
	}
	/* Straight from shared memory into the kernel: no copy of ours. */
	e = guest_tap_write(r->tapfd[r->tap_cur], &h, r->v->hdr_len, iov, n);
	if (e < 0)
		r->tap_write_errs++;
	return true;
}

/* A packet the guest's GRO table lets go: one write, then the buffers back. */
static void guest_gro_deliver(void *arg, struct gro_out *out)
{
	struct guest_run *r = arg;
	struct iovec iov[PKT_MAX_SEGS + 1];
	struct virtio_net_hdr h = out->pkt.vh;
	uint32_t slots[GRO_MAX_SEGS];
	unsigned n = 0;

	h.num_buffers = 0;
	iov[n].iov_base = &h;
	iov[n++].iov_len = r->v->hdr_len;
	for (unsigned i = 0; i < out->pkt.nseg && n < ARRAY_SIZE(iov); i++)
		iov[n++] = out->pkt.seg[i];
	/* back into the TAP queue its frames came from (same flow, same queue) */
	if (writev(r->tapfd[r->ntap && out->nrefs ? out->refs[0].queue % r->ntap :
			    r->tap_cur], iov, (int)n) < 0)
		r->tap_write_errs++;
	for (unsigned i = 0; i < out->nrefs; i++)
		slots[i] = out->refs[i].cookie;
	if (out->nrefs)
		vuser_rx_release(r->v, out->refs[0].queue, slots, out->nrefs);
}

/* ---- the loop ---- */

#define TAG_CONN	0x100
#define TAG_TAP		0x200
#define TAG_RXCALL	0x300
#define TAG_TXCALL	0x400

static int ep_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pv_debug("guest: eventfd read: %s", strerror(errno));
}

static void rx_napi(struct guest_run *r, unsigned q)
{
	struct vuser *v = r->v;
	bool (*deliver)(const struct iovec *, unsigned, int, void *) =
		r->o->mode == MODE_TAP ? tap_deliver : sink_deliver;

	/*
	 * Ring q's frames go into TAP queue q: a multiqueue TAP learns each
	 * flow's queue from the writes, and sends its replies back on it.
	 */
	r->cur_q = q;
	if (r->ntap)
		r->tap_cur = q % r->ntap;
	vring_drv_set_call(&v->q[q].rx, false);
	for (;;) {
		unsigned got;

		do {
			got = vuser_rx_poll(v, q, RX_BUDGET, deliver, r);
			/* The guest's LRO flushes when each poll ends (seed 001). */
			if (r->gro)
				gro_poll_end(r->gro, 0, now_ns());
		} while (got == RX_BUDGET);
		vring_drv_set_call(&v->q[q].rx, true);
		pv_smp_mb();
		if (!vring_drv_has_used(&v->q[q].rx))
			break;
		vring_drv_set_call(&v->q[q].rx, false);
	}
}

static void tap_watch(struct guest_run *r, unsigned t, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0,
				  .data.u64 = TAG_TAP | t };

	epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->tapfd[t], &ev);
}

static void tx_unblock(struct guest_run *r, unsigned q);

/* TAP queue @t -> TX ring t % nq (the kernel chose the TAP queue by flow). */
static void tap_to_ring(struct guest_run *r, unsigned t)
{
	struct vuser *v = r->v;
	unsigned q = t % v->nq, added = 0;

	r->tap_cur = t;
	for (;;) {
		int rc = vuser_tx_one(v, q, fill_from_tap, r);

		if (rc == -ENOBUFS) {
			/* Ring full: stop reading its TAP queues until TX drains. */
			if (added % 32)
				vuser_tx_flush(v, q);
			added = 0;
			for (unsigned i = q; i < r->ntap; i += v->nq)
				tap_watch(r, i, false);
			r->tx_blocked[q] = true;
			vring_drv_set_call(&v->q[q].tx, true);
			/*
			 * Look once more after asking for the interrupt: the
			 * backend may have used buffers while it was off, and
			 * then no interrupt would ever come (a lost wakeup).
			 */
			pv_smp_mb();
			if (!vuser_tx_reap(v, q))
				break;
			tx_unblock(r, q);
			r->tap_cur = t;
			continue;
		}
		if (rc)
			break;
		if (++added % 32 == 0)
			vuser_tx_flush(v, q);
	}
	if (added % 32)
		vuser_tx_flush(v, q);
}

static void tx_unblock(struct guest_run *r, unsigned q)
{
	vuser_tx_reap(r->v, q);
	if (!r->tx_blocked[q] || !r->v->q[q].tx_nfree)
		return;
	vring_drv_set_call(&r->v->q[q].tx, false);
	r->tx_blocked[q] = false;
	for (unsigned i = q; i < r->ntap; i += r->v->nq)
		tap_watch(r, i, true);
}

static int attach(struct guest_run *r)
{
	struct vuser *v = r->v;

	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return -errno;
	ep_add(r->epfd, vhu_front_fd(v->f), TAG_CONN);
	for (unsigned q = 0; q < v->nq; q++) {
		ep_add(r->epfd, v->q[q].rx_call, TAG_RXCALL | q);
		ep_add(r->epfd, v->q[q].tx_call, TAG_TXCALL | q);
	}
	for (unsigned t = 0; t < r->ntap; t++)
		ep_add(r->epfd, r->tapfd[t], TAG_TAP | t);
	return 0;
}

/* One broadcast frame from our MAC, of the test ethertype. */
static size_t fill_announce(void *buf, size_t cap, void *arg)
{
	struct guest_run *r = ((struct gen_arg *)arg)->r;
	size_t hl = r->v->hdr_len;
	uint8_t *f = (uint8_t *)buf + hl;
	uint16_t et = htobe16(ETHERTYPE_PVNET_TEST);

	if (hl + ANNOUNCE_LEN > cap)
		return cap + 1;
	memset(buf, 0, hl + ANNOUNCE_LEN);
	memset(f, 0xff, ETH_ALEN);
	memcpy(f + 6, r->o->mac, ETH_ALEN);
	memcpy(f + 12, &et, 2);
	return hl + ANNOUNCE_LEN;
}

/* Runs until stop, the end of a gen/sink run, or the backend leaving (1). */
static int run(struct guest_run *r)
{
	struct guest_opts *o = r->o;
	struct vuser *v = r->v;
	struct epoll_event evs[32];
	uint64_t t0, deadline = 0, pace_t0 = now_ns(), pace_seq0 = r->seq;
	struct gen_arg ga = { r };

	/* --duration runs over every connection (--reconnect); pacing starts
	 * again with each, so no backlog is sent in a burst after a gap. */
	if (!r->gen_t0)
		r->gen_t0 = now_ns();
	t0 = r->gen_t0;

	if (o->duration > 0)
		deadline = t0 + (uint64_t)(o->duration * 1e9);
	/* Packets may already wait: the backend filled RX before we watched. */
	for (unsigned q = 0; q < v->nq; q++)
		if (o->mode != MODE_GEN)
			rx_napi(r, q);
	if (o->announce && !vuser_tx_one(v, 0, fill_announce, &ga))
		vuser_tx_flush(v, 0);

	while (!stop_requested) {
		int timeout = 100, n;
		uint64_t now;

		if (o->mode == MODE_GEN) {
			unsigned burst = 0;
			uint32_t dirty = 0;

			now = now_ns();
			while (burst < 32 && (!o->count || r->seq < o->count)) {
				/* A flow keeps its TX queue, as a driver's XPS would. */
				unsigned q = o->flows ? (unsigned)(r->seq % o->flows) % v->nq : 0;

				if (o->rate > 0 &&
				    (double)(r->seq - pace_seq0) >
				    (double)(now - pace_t0) / 1e9 * o->rate)
					break;
				if (vuser_tx_one(v, q, fill_gen, &ga)) {
					/* Full: wait for the backend to use buffers. */
					vring_drv_set_call(&v->q[q].tx, true);
					pv_smp_mb();
					if (!vuser_tx_reap(v, q))
						timeout = 1;
					break;
				}
				dirty |= 1u << q;
				r->gen_bytes += o->size;
				burst++;
			}
			for (unsigned q = 0; q < v->nq; q++) {
				if (!(dirty & (1u << q)))
					continue;
				vuser_tx_flush(v, q);
				vring_drv_set_call(&v->q[q].tx, false);
				timeout = 0;
			}
			if (!burst && timeout == 100)
				timeout = o->rate > 0 ? 1 : 0;
			if ((o->count && r->seq >= o->count) ||
			    (deadline && now >= deadline)) {
				/* Wait (bounded) until the backend took every frame. */
				uint64_t until = now_ns() + 2000000000ULL;
				bool pending = true;

				while (pending && now_ns() < until) {
					pending = false;
					for (unsigned q = 0; q < v->nq; q++) {
						vuser_tx_reap(v, q);
						pending |= v->q[q].tx_nfree < VUSER_QSIZE;
					}
					if (pending)
						usleep(1000);
				}
				print_report(r, "gen", r->seq, r->gen_bytes, t0, now_ns());
				return 0;
			}
		}

		n = epoll_wait(r->epfd, evs, ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			unsigned q = tag & 0xff;

			switch (tag & ~0xffULL) {
			case TAG_CONN:
				pv_warn("guest: backend closed the connection");
				/* What it delivered before it went is ours: count it. */
				for (unsigned k = 0; k < v->nq && o->mode == MODE_SINK; k++)
					rx_napi(r, k);
				return 1;
			case TAG_RXCALL:
				drain(v->q[q].rx_call);
				v->q[q].calls++;
				rx_napi(r, q);
				break;
			case TAG_TXCALL:
				drain(v->q[q].tx_call);
				if (o->mode == MODE_TAP)
					tx_unblock(r, q);
				break;
			case TAG_TAP:
				if (q < r->ntap)
					tap_to_ring(r, q);
				break;
			}
		}
		now = now_ns();
		if (o->mode == MODE_SINK) {
			bool done = (o->count && r->received + r->corrupted >= o->count) ||
				    (deadline && now >= deadline) ||
				    (r->frames && o->idle_timeout > 0 &&
				     now - r->last_ns > (uint64_t)(o->idle_timeout * 1e9));

			if (done)
				break;
		}
	}
	if (o->mode == MODE_SINK)
		print_report(r, "sink", r->frames, r->frame_bytes, r->first_ns,
			     r->last_ns);
	else if (o->mode == MODE_GEN)	/* stopped by a signal */
		print_report(r, "gen", r->seq, r->gen_bytes, t0, now_ns());
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	*out = strtod(s, &end);
	return (*s && !*end && *out >= 0) ? 0 : -1;
}

int ctl_guest_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'C' },
		{ "server", no_argument, NULL, 'S' },
		{ "queues", required_argument, NULL, 'q' },
		{ "mac", required_argument, NULL, 'm' },
		{ "tap", required_argument, NULL, 't' },
		{ "netns", required_argument, NULL, 'n' },
		{ "mtu", required_argument, NULL, 'M' },
		{ "gen", no_argument, NULL, 'g' },
		{ "sink", no_argument, NULL, 'k' },
		{ "dst", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "flows", required_argument, NULL, 'F' },
		{ "rate", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'D' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "no-offload", no_argument, NULL, 'O' },
		{ "no-gro", no_argument, NULL, 'R' },
		{ "no-event-idx", no_argument, NULL, 'E' },
		{ "no-in-order", no_argument, NULL, 'I' },
		{ "packed", no_argument, NULL, 'P' },
		{ "unsealed-memory", no_argument, NULL, 'U' },
		{ "reconnect", no_argument, NULL, 'X' },
		{ "announce", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct guest_opts o = {
		.cfg = { .queue_pairs = 1, .queue_size = VUSER_QSIZE },
		.size = 60, .idle_timeout = 2, .connect_timeout = 10,
	};
	struct guest_run *r;
	struct sigaction sa = { .sa_handler = on_signal };
	bool gen = false, sink = false, mac_set = false, offload = true;
	bool evidx = true, in_order = true;
	bool no_gro = false;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			o.cfg.path = optarg;
			break;
		case 'S':
			o.cfg.server = true;
			break;
		case 'q': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > VHU_MAX_QUEUE_PAIRS) {
				fprintf(stderr, "pvnet guest: --queues wants 1..%d\n",
					VHU_MAX_QUEUE_PAIRS);
				return 2;
			}
			o.cfg.queue_pairs = (unsigned)v;
			break;
		}
		case 'm':
			if (pv_mac_parse(optarg, o.mac) < 0 ||
			    pkt_mac_is_multicast(o.mac)) {
				fprintf(stderr, "pvnet guest: --mac wants a unicast aa:bb:cc:dd:ee:ff\n");
				return 2;
			}
			mac_set = true;
			break;
		case 'd':
			if (pv_mac_parse(optarg, o.dst) < 0) {
				fprintf(stderr, "pvnet guest: --dst wants aa:bb:cc:dd:ee:ff\n");
				return 2;
			}
			o.has_dst = true;
			break;
		case 't':
			o.tap = optarg;
			break;
		case 'n':
			o.netns = optarg;
			break;
		case 'M': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (!*optarg || *end || v < 68 || v > 65535) {
				fprintf(stderr, "pvnet guest: --mtu wants 68..65535\n");
				return 2;
			}
			o.mtu = (unsigned)v;
			break;
		}
		case 'g':
			gen = true;
			break;
		case 'k':
			sink = true;
			break;
		case 's': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 60 || v > GEN_MAX_SIZE) {
				fprintf(stderr, "pvnet guest: --size wants 60..%d\n",
					GEN_MAX_SIZE);
				return 2;
			}
			o.size = (unsigned)v;
			break;
		}
		case 'c':
			o.count = strtoull(optarg, NULL, 10);
			break;
		case 'F': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > MAX_FLOWS) {
				fprintf(stderr, "pvnet guest: --flows wants 1..%d\n", MAX_FLOWS);
				return 2;
			}
			o.flows = (unsigned)v;
			break;
		}
		case 'r':
		case 'D':
		case 'i':
		case 'T': {
			double *dst = c == 'r' ? &o.rate : c == 'D' ? &o.duration :
				      c == 'i' ? &o.idle_timeout : &o.connect_timeout;

			if (parse_double(optarg, dst) < 0) {
				fprintf(stderr, "pvnet guest: bad number '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'O':
			offload = false;
			break;
		case 'A':
			o.announce = true;
			break;
		case 'X':
			o.reconnect = true;
			break;
		case 'R':
			no_gro = true;
			break;
		case 'E':
			evidx = false;
			break;
		case 'I':
			in_order = false;
			break;
		case 'P':
			o.cfg.packed = true;
			break;
		case 'U':
			o.cfg.unsealed_mem = true;
			break;
		case 'h':
			guest_usage(stdout);
			return 0;
		default:
			guest_usage(stderr);
			return 2;
		}
	}
	if (!o.cfg.path) {
		fprintf(stderr, "pvnet guest: --connect SOCK is required\n");
		return 2;
	}
	if ((gen + sink + !!o.tap) != 1) {
		fprintf(stderr, "pvnet guest: choose exactly one of --tap, --gen, --sink\n");
		return 2;
	}
	if (gen && !o.has_dst) {
		fprintf(stderr, "pvnet guest: --gen needs --dst MAC\n");
		return 2;
	}
	o.mode = gen ? MODE_GEN : sink ? MODE_SINK : MODE_TAP;
	if (!mac_set) {
		if (getrandom(o.mac, ETH_ALEN, 0) != ETH_ALEN)
			memset(o.mac, 0x5a, ETH_ALEN);
		o.mac[0] = (uint8_t)((o.mac[0] & 0xfe) | 0x02);
	}
	o.cfg.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			 (evidx ? VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) : 0) |
			 (in_order ? VIRTIO_BIT(VIRTIO_F_IN_ORDER) : 0) |
			 (offload ? VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
				    VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
				    VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
				    VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
				    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
				    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) : 0) |
			 (o.cfg.queue_pairs > 1 ? VIRTIO_BIT(VIRTIO_NET_F_MQ) : 0);

	r = calloc(1, sizeof(*r));
	if (!r)
		return 1;
	r->o = &o;
	for (unsigned t = 0; t < VHU_MAX_QUEUE_PAIRS; t++)
		r->tapfd[t] = -1;
	r->epfd = -1;
	for (unsigned i = 0; i < PATTERN_LEN; i++)
		r->pattern[i] = (uint8_t)(i * 31 + 7);

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o.mode == MODE_TAP && guest_enter_netns(o.netns) < 0)
		goto out;
	if (o.mode == MODE_TAP && !no_gro) {
		/* zeroed: the parse fills only the policy's fields, and an
		 * indeterminate linearize would copy every packet */
		struct gro_cfg gc = { 0 };

		/* One poll round is the bound; the timeout only backs it up. */
		if (gro_cfg_parse("poll,timeout=100", &gc) < 0 ||
		    !(r->gro = gro_table_create(&gc, guest_gro_deliver, r))) {
			pv_err("guest: cannot set up GRO");
			goto out;
		}
	}

	for (;;) {
		uint64_t give_up = now_ns() + (uint64_t)(o.connect_timeout * 1e9);
		int res;

		while (!stop_requested) {
			r->v = vuser_create(&o.cfg, 2000);
			if (r->v || now_ns() >= give_up || errno == EOPNOTSUPP)
				break;
			sleep(1);
		}
		if (!r->v) {
			if (!stop_requested && errno != EOPNOTSUPP)
				pv_err("guest: could not attach to %s", o.cfg.path);
			goto out;
		}
		if (o.mtu) {
			int e = vhu_front_set_mtu(r->v->f, o.mtu);

			if (e == -EOPNOTSUPP) {
				pv_warn("guest: %s does not take NET_SET_MTU: MTU %u not announced",
					o.cfg.path, o.mtu);
			} else if (e < 0) {
				pv_err("guest: %s refused MTU %u (NET_SET_MTU)",
				       o.cfg.path, o.mtu);
				rc = 1;
				goto out;
			}
		}
		if (o.mode == MODE_TAP && !r->ntap) {
			/*
			 * The TAP's offloads follow what the backend accepted;
			 * one TAP queue per queue pair (kept across reconnects).
			 */
			int e = guest_tap_open(o.tap, o.mac, o.mtu,
					       r->v->features,
					       r->v->nq, r->tapfd);

			if (e < 0)
				goto out;
			r->ntap = r->v->nq;
		}
		pv_info("guest: attached to %s, features 0x%" PRIx64 ", %u queue pair(s), %s rings%s",
			o.cfg.path, r->v->features, r->v->nq,
			(r->v->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED)) ?
			"packed" : "split",
			(r->v->features & VIRTIO_BIT(VIRTIO_F_IN_ORDER)) ?
			", in order" : "");
		if (attach(r) < 0)
			goto out;
		/*
		 * Behind a TAP the station is ours: tell the switch where it
		 * is now (after a backend restart its table is empty), as QEMU
		 * does for a migrated guest.
		 */
		if (o.mode == MODE_TAP && vhu_front_send_rarp(r->v->f, o.mac) < 0)
			pv_warn("guest: SEND_RARP to %s failed", o.cfg.path);
		res = run(r);
		/* Held buffers belong to this connection's memory: flush first. */
		if (r->gro)
			gro_flush_all(r->gro);
		close(r->epfd);
		r->epfd = -1;
		vuser_destroy(r->v);
		r->v = NULL;
		if (res != 1 || (o.mode != MODE_TAP && !o.reconnect) ||
		    stop_requested) {
			rc = res < 0 ? 1 : res == 1 ? 1 : 0;
			goto out;
		}
		pv_info("guest: reconnecting to %s", o.cfg.path);
	}
out:
	/* Empty by now: every run ends with a flush while r->v is alive. */
	if (r->gro) {
		const struct gro_stats *gs = gro_stats(r->gro);

		pv_info("guest: gro: %" PRIu64 " segments in, %" PRIu64
			" packets out, %" PRIu64 " merged, %.2f segments per packet",
			gs->in_segs, gs->out_pkts, gs->out_merged,
			gs->out_pkts ? (double)gs->in_segs / (double)gs->out_pkts : 0.0);
		gro_table_destroy(r->gro);
	}
	for (unsigned i = 0; i < PV_DROP_MAX; i++)
		if (r->rx_drops.n[i])
			pv_warn("guest: %" PRIu64 " frame(s) from the backend dropped: %s",
				r->rx_drops.n[i], pv_drop_name((enum pv_drop)i));
	if (r->v)
		vuser_destroy(r->v);
	for (unsigned t = 0; t < r->ntap; t++)
		close(r->tapfd[t]);
	if (stop_requested)
		rc = 0;
	free(r);
	return rc;
}
