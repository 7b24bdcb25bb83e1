// SPDX-License-Identifier: MIT
/*
 * evil_guest.c - a malicious virtio-user guest for the peer tests.
 *
 *   evil_guest SOCK CASE [--mac MAC] [--hold SECONDS] [--active SECONDS]
 *              [--rate PPS]
 *   evil_guest list
 *
 * It speaks vhost-user properly (pvnet's own frontend and virtio-user
 * driver, src/guest/vuser.c: one memfd region whose guest physical address
 * equals our virtual address), then writes its rings directly to commit
 * one fault: every ring rule of style.md §6, descriptors changed while the
 * switch reads them, the used ring scribbled on, kick storms, RX buffers
 * never refilled or one byte long, maximal chains, memory taken away under
 * running rings, and offload fields that lie.
 *
 * Output (stdout, one line each): "# ..." notes, then "done CASE" once the
 * fault is committed (for the active cases, once their active phase ended).
 * It then holds the connection for --hold seconds (default 30) so that the
 * test can read the switch's counters while the offending rings exist, and
 * exits 0. Exit 1: the case could not be set up; 2: usage.
 *
 * Frames it sends go to an unknown unicast MAC (02:de:ad:00:00:xx), so a
 * packet the switch accepts is dropped there as TX_NO_DEST and never
 * reaches another guest.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pvnet/guest.h"
#include "pvnet/log.h"

#define NOTE(...) do { printf("# " __VA_ARGS__); printf("\n"); fflush(stdout); } while (0)

static const uint8_t UNKNOWN_MAC[6] = { 0x02, 0xde, 0xad, 0x00, 0x00, 0x01 };

struct evil {
	struct vuser *v;
	struct vuser_queue *q;
	uint8_t mac[6];
	uint16_t tx_avail;	/* our avail->idx on the TX ring */
	double active;		/* seconds of an active phase */
	double rate;		/* slow-sink: frames per second it takes */
	atomic_bool stop;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t gpa_of(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* TX scratch buffer @k (VUSER_BUF bytes each, ours: vuser never sends). */
static uint8_t *txbuf(struct evil *e, unsigned k)
{
	return e->q->tx_bufs + (size_t)k * VUSER_BUF;
}

/* Writes a net header and a frame of @len bytes to the unknown MAC. */
static uint32_t put_frame(struct evil *e, uint8_t *buf,
			  const struct virtio_net_hdr *h, uint32_t len)
{
	size_t hl = e->v->hdr_len;
	uint8_t *f = buf + hl;

	memcpy(buf, h, hl);
	memset(f, 0, len);
	memcpy(f, UNKNOWN_MAC, 6);
	memcpy(f + 6, e->mac, 6);
	f[12] = 0x08;		/* IPv4 */
	f[13] = 0x00;
	f[14] = 0x45;
	for (uint32_t i = 20; i < len; i++)
		f[i] = (uint8_t)i;
	return (uint32_t)hl + len;
}

static void set_desc(struct vring *vq, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	memcpy(&vq->desc[i], &d, sizeof(d));
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		NOTE("kick: %s", strerror(errno));
}

/* Makes chain @head available on the TX ring (release) and kicks. */
static void tx_publish(struct evil *e, uint16_t head)
{
	struct vring *vq = &e->q->tx;

	WRITE_ONCE(vq->avail->ring[e->tx_avail & vq->mask], head);
	e->tx_avail++;
	/* Release: descriptors and buffer before the index (§2.7.13). */
	pv_store_release(&vq->avail->idx, e->tx_avail);
	kick(e->q->tx_kick);
}

/* Waits until the device has used everything we published (or @s pass). */
static bool tx_wait_used(struct evil *e, double s)
{
	double end = now_s() + s;

	while (now_s() < end) {
		if (pv_load_acquire(&e->q->tx.used->idx) == e->tx_avail)
			return true;
		usleep(1000);
	}
	return false;
}

/* One valid single-descriptor frame in desc @i, buffer @k. */
static void valid_desc(struct evil *e, uint16_t i, unsigned k, uint32_t len)
{
	struct virtio_net_hdr h = { 0 };
	uint32_t n = put_frame(e, txbuf(e, k), &h, len);

	set_desc(&e->q->tx, i, gpa_of(txbuf(e, k)), n, 0, 0);
}

/* ---- ring rule violations on the TX ring (the queue must break) ---- */

static int c_head_oor(struct evil *e)
{
	valid_desc(e, 0, 0, 60);
	tx_publish(e, (uint16_t)(e->q->tx.size + 3));
	return 0;
}

static int c_next_oor(struct evil *e)
{
	valid_desc(e, 0, 0, 60);
	e->q->tx.desc[0].flags = VRING_DESC_F_NEXT;
	e->q->tx.desc[0].next = 0xfff0;
	tx_publish(e, 0);
	return 0;
}

static int c_loop(struct evil *e)
{
	struct vring *vq = &e->q->tx;

	valid_desc(e, 0, 0, 60);
	set_desc(vq, 0, vq->desc[0].addr, 36, VRING_DESC_F_NEXT, 1);
	set_desc(vq, 1, vq->desc[0].addr + 36, 36, VRING_DESC_F_NEXT, 0);
	tx_publish(e, 0);
	return 0;
}

static int c_zero_len(struct evil *e)
{
	valid_desc(e, 0, 0, 60);
	e->q->tx.desc[0].len = 0;
	tx_publish(e, 0);
	return 0;
}

static int c_addr(struct evil *e)
{
	/* Straddles the end of our only region: half in, half out. */
	set_desc(&e->q->tx, 0, gpa_of(e->v->mem) + e->v->mem_size - 36, 72, 0, 0);
	tx_publish(e, 0);
	return 0;
}

static int c_addr_wrap(struct evil *e)
{
	set_desc(&e->q->tx, 0, 0xfffffffffffff000ULL, 0x2000, 0, 0);
	tx_publish(e, 0);
	return 0;
}

static int c_avail_idx(struct evil *e)
{
	struct vring *vq = &e->q->tx;

	valid_desc(e, 0, 0, 60);
	e->tx_avail = (uint16_t)(e->tx_avail + vq->size + 1);
	pv_store_release(&vq->avail->idx, e->tx_avail);
	kick(e->q->tx_kick);
	return 0;
}

static int c_read_wo(struct evil *e)
{
	valid_desc(e, 0, 0, 60);
	e->q->tx.desc[0].flags = VRING_DESC_F_WRITE;
	tx_publish(e, 0);
	return 0;
}

/* An indirect table of two valid descriptors at buffer 1; returns its gpa. */
static uint64_t ind_table(struct evil *e, struct vring_desc *t)
{
	struct virtio_net_hdr h = { 0 };
	uint32_t n = put_frame(e, txbuf(e, 2), &h, 60);

	t[0] = (struct vring_desc){ gpa_of(txbuf(e, 2)), 20, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ gpa_of(txbuf(e, 2)) + 20, n - 20, 0, 0 };
	return gpa_of(t);
}

static int c_indirect(struct evil *e, uint32_t len, uint16_t flags,
		      bool nested)
{
	struct vring_desc *t = (struct vring_desc *)txbuf(e, 1);
	uint64_t g = ind_table(e, t);

	if (nested)
		t[1] = (struct vring_desc){ g, 32, VRING_DESC_F_INDIRECT, 0 };
	set_desc(&e->q->tx, 0, g, len, flags, 1);
	valid_desc(e, 1, 3, 60);
	tx_publish(e, 0);
	return 0;
}

static int c_ind_nested(struct evil *e)
{
	return c_indirect(e, 32, VRING_DESC_F_INDIRECT, true);
}

static int c_ind_len(struct evil *e)
{
	return c_indirect(e, 24, VRING_DESC_F_INDIRECT, false);
}

static int c_ind_next(struct evil *e)
{
	return c_indirect(e, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, false);
}

/* Without VIRTIO_RING_F_INDIRECT_DESC negotiated (see case table). */
static int c_ind_off(struct evil *e)
{
	return c_indirect(e, 32, VRING_DESC_F_INDIRECT, false);
}

/* A valid indirect chain: the packet is accepted (dropped as TX_NO_DEST). */
static int c_ind_valid(struct evil *e)
{
	c_indirect(e, 32, VRING_DESC_F_INDIRECT, false);
	return tx_wait_used(e, 5) ? 0 : 1;
}

/*
 * A chain of @n descriptors over one frame: the header and the first bytes
 * one byte per descriptor, the rest in the last one.
 */
static void long_chain(struct evil *e, unsigned n, uint32_t frame_len)
{
	struct vring *vq = &e->q->tx;
	struct virtio_net_hdr h = { 0 };
	uint8_t *b = txbuf(e, 0);
	uint32_t total = put_frame(e, b, &h, frame_len);

	for (unsigned i = 0; i + 1 < n; i++)
		set_desc(vq, (uint16_t)i, gpa_of(b + i), 1, VRING_DESC_F_NEXT,
			 (uint16_t)(i + 1));
	set_desc(vq, (uint16_t)(n - 1), gpa_of(b + n - 1), total - (n - 1), 0, 0);
}

/* VRING_ELEM_MAX_IOV descriptors: legal, accepted. */
static int c_max_chain(struct evil *e)
{
	long_chain(e, VRING_ELEM_MAX_IOV, 1000);
	tx_publish(e, 0);
	return tx_wait_used(e, 5) ? 0 : 1;
}

/* One more than the scatter bound: RING_TOO_MANY_SEGS. */
static int c_too_many_segs(struct evil *e)
{
	long_chain(e, VRING_ELEM_MAX_IOV + 1, 1000);
	tx_publish(e, 0);
	return 0;
}

/* A chain through every descriptor of the table (size, no loop). */
static int c_table_chain(struct evil *e)
{
	long_chain(e, e->q->tx.size, 2000);
	tx_publish(e, 0);
	return 0;
}

/* ---- ring rule violations on the RX ring (need frames sent to us) ---- */

/* Every available RX slot now names head 0. */
static void rx_all_heads_zero(struct evil *e)
{
	struct vring *vq = &e->q->rx;

	for (unsigned i = 0; i < vq->size; i++)
		WRITE_ONCE(vq->avail->ring[i], 0);
	pv_smp_mb();
}

static int c_write_ro(struct evil *e)
{
	struct vring *vq = &e->q->rx;

	set_desc(vq, 0, gpa_of(e->q->rx_bufs), 2048, 0, 0);
	rx_all_heads_zero(e);
	return 0;
}

static int c_order(struct evil *e)
{
	struct vring *vq = &e->q->rx;

	set_desc(vq, 0, gpa_of(e->q->rx_bufs), 1024,
		 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(vq, 1, gpa_of(e->q->rx_bufs) + 1024, 1024, 0, 0);
	rx_all_heads_zero(e);
	return 0;
}

/* Never reposts an RX buffer: once the posted ones are used, RX_NO_BUF. */
static int c_no_refill(struct evil *e)
{
	(void)e;
	return 0;
}

/* Every posted RX buffer shrinks to one byte. */
static int c_rx_1byte(struct evil *e)
{
	struct vring *vq = &e->q->rx;
	uint16_t start = pv_load_acquire(&vq->used->idx), end;
	unsigned ones = 0, other = 0, pkts = 0;
	double t = now_s() + e->active;

	for (unsigned i = 0; i < vq->size; i++)
		WRITE_ONCE(vq->desc[i].len, 1);
	pv_smp_mb();
	while (now_s() < t)
		usleep(10000);
	end = pv_load_acquire(&vq->used->idx);
	/* Count what came back: each used entry of length 1 is one byte of a
	 * frame; num_buffers in a frame's first 12 bytes tells its size. */
	for (uint16_t i = start; i != end; i++) {
		struct vring_used_elem ue = vq->used->ring[i & vq->mask];

		if (ue.len == 1)
			ones++;
		else
			other++;
	}
	if (ones)
		pkts = ones / (unsigned)(e->v->hdr_len + 60);
	NOTE("rx-1byte: %u used entries of 1 byte (about %u frames), %u other",
	     ones, pkts, other);
	return 0;
}

/* ---- offload fields that lie: the packet is dropped, the queue lives ---- */

static int send_hdr_frames(struct evil *e, const struct virtio_net_hdr *h,
			   uint32_t len, unsigned count)
{
	struct vring *vq = &e->q->tx;

	for (unsigned i = 0; i < count; i++) {
		uint32_t n = put_frame(e, txbuf(e, i), h, len);

		set_desc(vq, (uint16_t)i, gpa_of(txbuf(e, i)), n, 0, 0);
		tx_publish(e, (uint16_t)i);
	}
	return tx_wait_used(e, 5) ? 0 : 1;
}

static int c_csum_start(struct evil *e)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .csum_start = 200, .csum_offset = 16 };

	return send_hdr_frames(e, &h, 60, 10);
}

static int c_gso_size0(struct evil *e)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				    .hdr_len = 54, .gso_size = 0,
				    .csum_start = 34, .csum_offset = 16 };

	return send_hdr_frames(e, &h, 1000, 10);
}

static int c_hdr_len(struct evil *e)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				    .hdr_len = 9000, .gso_size = 1448,
				    .csum_start = 34, .csum_offset = 16 };

	return send_hdr_frames(e, &h, 1000, 10);
}

/* Without HOST_TSO4 negotiated (see case table). */
static int c_gso_no_tso(struct evil *e)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				    .hdr_len = 54, .gso_size = 500,
				    .csum_start = 34, .csum_offset = 16 };

	return send_hdr_frames(e, &h, 1000, 10);
}

static int c_bad_flags(struct evil *e)
{
	struct virtio_net_hdr h = { .flags = 0x80 };

	return send_hdr_frames(e, &h, 60, 10);
}

static int c_truncated(struct evil *e)
{
	struct vring *vq = &e->q->tx;

	for (unsigned i = 0; i < 10; i++) {
		set_desc(vq, (uint16_t)i, gpa_of(txbuf(e, i)), 5, 0, 0);
		tx_publish(e, (uint16_t)i);
	}
	return tx_wait_used(e, 5) ? 0 : 1;
}

/* ---- active cases: something runs against the switch for a while ---- */

/*
 * Double fetch: desc 0 and the header/frame it points to flip between two
 * shapes that are each valid (72 or 1526 bytes, one or two descriptors,
 * a checksum offset inside or past the short frame, two unknown MACs)
 * while the main thread keeps making head 0 available. A device that
 * checked one value and used another would read or write out of bounds
 * or deliver a frame to a guest; ours may only forward, drop with a named
 * reason, and keep the ring running.
 */
static void *flipper(void *arg)
{
	struct evil *e = arg;
	struct vring *vq = &e->q->tx;
	uint8_t *a = txbuf(e, 0), *b = txbuf(e, 1);
	size_t hl = e->v->hdr_len;
	uint64_t n = 0;

	while (!atomic_load_explicit(&e->stop, memory_order_relaxed)) {
		bool odd = n & 1;
		uint16_t cs = odd ? 1400 : 20;

		WRITE_ONCE(vq->desc[0].len, odd ? (uint32_t)(hl + 1514) : (uint32_t)(hl + 60));
		WRITE_ONCE(vq->desc[0].addr, gpa_of(odd ? b : a));
		WRITE_ONCE(vq->desc[0].flags, (uint16_t)(n % 3 == 0 ? VRING_DESC_F_NEXT : 0));
		WRITE_ONCE(vq->desc[0].next, 1);
		memcpy(a + 4 + 2 * (n & 1), &cs, 2);	/* csum_start / gso_size */
		WRITE_ONCE(a[0], (uint8_t)(n % 5 == 0 ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0));
		WRITE_ONCE(a[hl + 5], (uint8_t)(n & 0xff));	/* dst MAC, stays unicast */
		WRITE_ONCE(b[hl + 5], (uint8_t)(n >> 8));
		n++;
	}
	NOTE("double-fetch: %llu flips", (unsigned long long)n);
	return NULL;
}

/*
 * Keeps head 0 (and only it) available, pacing on the used index. With the
 * used ring scribbled on there is no index to pace on: then at most size
 * chains in all, spread over secs, so that a switch descheduled for a while
 * on a loaded host never finds the avail index more than size ahead
 * (ring_avail_idx would be right, but not the fault this case is about).
 */
static uint64_t push_head0(struct evil *e, double secs, bool pace_on_used)
{
	struct vring *vq = &e->q->tx;
	double end = now_s() + secs;
	uint64_t pushed = 0;
	useconds_t gap = (useconds_t)(secs * 1e6 * 4 / vq->size);

	while (now_s() < end) {
		if (pace_on_used) {
			uint16_t used = pv_load_acquire(&vq->used->idx);

			if ((uint16_t)(e->tx_avail - used) >= vq->size / 2) {
				kick(e->q->tx_kick);
				usleep(200);
				continue;
			}
			for (int i = 0; i < 32; i++)
				WRITE_ONCE(vq->avail->ring[(e->tx_avail + i) & vq->mask], 0);
			e->tx_avail += 32;
			pushed += 32;
		} else {
			/* The used ring is scribbled on: pace by time. */
			if (pushed + 4 > vq->size)
				break;
			for (int i = 0; i < 4; i++)
				WRITE_ONCE(vq->avail->ring[(e->tx_avail + i) & vq->mask], 0);
			e->tx_avail += 4;
			pushed += 4;
			usleep(gap);
		}
		pv_store_release(&vq->avail->idx, e->tx_avail);
		kick(e->q->tx_kick);
	}
	return pushed;
}

static int c_double_fetch(struct evil *e)
{
	struct virtio_net_hdr h = { 0 };
	pthread_t th;
	uint64_t n;

	put_frame(e, txbuf(e, 0), &h, 1514);
	put_frame(e, txbuf(e, 1), &h, 1514);
	put_frame(e, txbuf(e, 2), &h, 60);
	set_desc(&e->q->tx, 1, gpa_of(txbuf(e, 2)) + e->v->hdr_len, 60, 0, 0);
	valid_desc(e, 0, 0, 60);
	if (pthread_create(&th, NULL, flipper, e))
		return 1;
	n = push_head0(e, e->active, true);
	atomic_store(&e->stop, true);
	pthread_join(th, NULL);
	NOTE("double-fetch: %llu chains made available",
	     (unsigned long long)n);
	return 0;
}

static void *scribbler(void *arg)
{
	struct evil *e = arg;
	struct vring *vq = &e->q->tx;
	uint64_t n = 0, x = 88172645463325252ULL;

	while (!atomic_load_explicit(&e->stop, memory_order_relaxed)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		WRITE_ONCE(vq->used->idx, (uint16_t)x);
		WRITE_ONCE(vq->used->flags, (uint16_t)(x >> 16));
		WRITE_ONCE(vq->used->ring[(x >> 32) & vq->mask].id, (uint32_t)(x >> 20));
		WRITE_ONCE(vq->used->ring[(x >> 40) & vq->mask].len, (uint32_t)x);
		/* avail_event, right after the used ring */
		{
			volatile uint16_t *ae = (volatile uint16_t *)(void *)
						((uint8_t *)vq->used + 4 + 8ULL * vq->size);

			*ae = (uint16_t)(x >> 48);
		}
		n++;
	}
	NOTE("used-write: %llu scribbles", (unsigned long long)n);
	return NULL;
}

static int c_used_write(struct evil *e)
{
	pthread_t th;
	uint64_t n;

	valid_desc(e, 0, 0, 60);
	if (pthread_create(&th, NULL, scribbler, e))
		return 1;
	n = push_head0(e, e->active, false);
	atomic_store(&e->stop, true);
	pthread_join(th, NULL);
	NOTE("used-write: %llu chains made available", (unsigned long long)n);
	return 0;
}

static int c_kick_storm(struct evil *e)
{
	double end = now_s() + e->active;
	uint64_t n = 0;

	while (now_s() < end) {
		for (int i = 0; i < 1000; i++) {
			kick(e->q->tx_kick);
			kick(e->q->rx_kick);
		}
		n += 2000;
	}
	NOTE("kick-storm: %llu kicks written", (unsigned long long)n);
	return 0;
}

/* ---- memory taken away under running rings ---- */

static int send_raw(int fd, uint32_t req, const void *pl, uint32_t size,
		    int sfd)
{
	uint8_t buf[sizeof(struct vhu_hdr) + 64];
	struct vhu_hdr hdr = { req, VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY, size };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { buf, sizeof(hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t ack = ~0ULL;

	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), pl, size);
	if (sfd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &sfd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	if (poll(&p, 1, 5000) == 1 && recv(fd, buf, sizeof(hdr) + 8, 0) ==
	    (ssize_t)(sizeof(hdr) + 8))
		memcpy(&ack, buf + sizeof(hdr), 8);
	NOTE("%s: ack %lld", vhu_req_name(req), (long long)ack);
	return 0;
}

/* Sends valid frames first, so that the rings' indexes are not zero. */
static void warm_up(struct evil *e)
{
	for (uint16_t i = 0; i < 50; i++) {
		valid_desc(e, i, i, 60);
		tx_publish(e, i);
	}
	tx_wait_used(e, 5);
}

static int c_mem_rem(struct evil *e)
{
	struct vhu_mem_single m = { 0, { gpa_of(e->v->mem), e->v->mem_size,
					 gpa_of(e->v->mem), 0 } };

	warm_up(e);
	return send_raw(vhu_front_fd(e->v->f), VHU_REQ_REM_MEM_REG, &m,
			sizeof(m), -1) ? 1 : 0;
}

static int c_mem_table(struct evil *e)
{
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r;
	} t = { 1, 0, { gpa_of(e->v->mem), e->v->mem_size, gpa_of(e->v->mem), 0 } };
	int fd = memfd_create("evil-other", MFD_CLOEXEC), rc;

	if (fd < 0 || ftruncate(fd, (off_t)e->v->mem_size) < 0)
		return 1;
	warm_up(e);
	rc = send_raw(vhu_front_fd(e->v->f), VHU_REQ_SET_MEM_TABLE, &t,
		      sizeof(t), fd);
	close(fd);
	/* Wake the TX ring: it now reads the new (zeroed) memory. */
	kick(e->q->tx_kick);
	return rc ? 1 : 0;
}

/* ---- not hostile: a guest that takes only --rate frames per second ---- */

static bool slow_deliver(const struct iovec *iov, unsigned n, int slot,
			 void *arg)
{
	(void)iov;
	(void)n;
	(void)slot;
	(*(uint64_t *)arg)++;
	return true;	/* repost at once */
}

static int c_slow_sink(struct evil *e)
{
	double end = now_s() + e->active, t0 = now_s();
	uint64_t got = 0;

	while (now_s() < end) {
		double due = (now_s() - t0) * e->rate;

		if ((double)got < due)
			vuser_rx_poll(e->v, 0, (unsigned)PV_MIN(due - (double)got + 1, 256.0),
				      slow_deliver, &got);
		usleep(1000);
	}
	NOTE("slow-sink: took %llu frames in %.1f s (%.0f pps)",
	     (unsigned long long)got, e->active, (double)got / e->active);
	return 0;
}

/* ---- case table ---- */

#define F_BASE	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | \
		 VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_NET_F_CSUM) | \
		 VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM))
#define F_TSO	(VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6))
#define F_IND	VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC)

static const struct evil_case {
	const char *name;
	int (*fn)(struct evil *e);
	uint64_t features;
	const char *expect;	/* what the peer script checks, for humans */
} cases[] = {
	{ "head-oor", c_head_oor, F_BASE | F_TSO | F_IND, "tx broken ring_head_oor" },
	{ "next-oor", c_next_oor, F_BASE | F_TSO | F_IND, "tx broken ring_next_oor" },
	{ "loop", c_loop, F_BASE | F_TSO | F_IND, "tx broken ring_loop" },
	{ "zero-len", c_zero_len, F_BASE | F_TSO | F_IND, "tx broken ring_desc_zero_len" },
	{ "addr", c_addr, F_BASE | F_TSO | F_IND, "tx broken ring_addr" },
	{ "addr-wrap", c_addr_wrap, F_BASE | F_TSO | F_IND, "tx broken ring_addr" },
	{ "avail-idx", c_avail_idx, F_BASE | F_TSO | F_IND, "tx broken ring_avail_idx" },
	{ "read-wo", c_read_wo, F_BASE | F_TSO | F_IND, "tx broken ring_read_wo" },
	{ "indirect-nested", c_ind_nested, F_BASE | F_TSO | F_IND, "tx broken ring_indirect_nested" },
	{ "indirect-len", c_ind_len, F_BASE | F_TSO | F_IND, "tx broken ring_indirect_len" },
	{ "indirect-next", c_ind_next, F_BASE | F_TSO | F_IND, "tx broken ring_indirect_next" },
	{ "indirect-off", c_ind_off, F_BASE | F_TSO, "tx broken ring_indirect_off" },
	{ "indirect-valid", c_ind_valid, F_BASE | F_TSO | F_IND, "drop tx_no_dest" },
	{ "max-chain", c_max_chain, F_BASE | F_TSO | F_IND, "drop tx_no_dest" },
	{ "too-many-segs", c_too_many_segs, F_BASE | F_TSO | F_IND, "tx broken ring_too_many_segs" },
	{ "table-chain", c_table_chain, F_BASE | F_TSO | F_IND, "tx broken ring_too_many_segs" },
	{ "write-ro", c_write_ro, F_BASE | F_TSO | F_IND, "rx broken ring_write_ro" },
	{ "order", c_order, F_BASE | F_TSO | F_IND, "rx broken ring_order" },
	{ "no-refill", c_no_refill, F_BASE | F_TSO | F_IND, "drop rx_no_buf" },
	{ "rx-1byte", c_rx_1byte, F_BASE | F_TSO | F_IND, "frames in 1-byte buffers, then rx_no_buf" },
	{ "csum-start", c_csum_start, F_BASE | F_TSO | F_IND, "drop pkt_hdr_csum" },
	{ "gso-size0", c_gso_size0, F_BASE | F_TSO | F_IND, "drop pkt_hdr_gso" },
	{ "hdr-len", c_hdr_len, F_BASE | F_TSO | F_IND, "drop pkt_hdr_gso" },
	{ "gso-no-tso", c_gso_no_tso, F_BASE | F_IND, "drop pkt_hdr_gso" },
	{ "bad-flags", c_bad_flags, F_BASE | F_TSO | F_IND, "drop pkt_hdr_flags" },
	{ "truncated", c_truncated, F_BASE | F_TSO | F_IND, "drop pkt_trunc" },
	{ "double-fetch", c_double_fetch, F_BASE | F_TSO | F_IND, "tx running, drops named" },
	{ "used-write", c_used_write, F_BASE | F_TSO | F_IND, "tx running" },
	{ "kick-storm", c_kick_storm, F_BASE | F_TSO | F_IND, "kicks absorbed" },
	{ "mem-rem", c_mem_rem, F_BASE | F_TSO | F_IND, "rings stopped, vhu_vring_addr" },
	{ "slow-sink", c_slow_sink, F_BASE | F_TSO | F_IND, "not hostile: takes --rate pps for --active s" },
	{ "mem-table", c_mem_table, F_BASE | F_TSO | F_IND, "ring broken ring_avail_idx" },
};

static void usage(void)
{
	fprintf(stderr, "usage: evil_guest SOCK CASE [--mac MAC] [--hold S] "
		"[--active S] [--rate PPS] | evil_guest list\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mac", required_argument, NULL, 'm' },
		{ "hold", required_argument, NULL, 'h' },
		{ "active", required_argument, NULL, 'a' },
		{ "rate", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct evil e = { .active = 2, .rate = 20000 };
	const struct evil_case *c = NULL;
	struct vhu_front_cfg cfg = { .queue_pairs = 1, .queue_size = VUSER_QSIZE };
	double hold = 30, end;
	int opt, rc;

	if (argc == 2 && !strcmp(argv[1], "list")) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			printf("%s\t%s\n", cases[i].name, cases[i].expect);
		return 0;
	}
	if (argc < 3)
		usage();
	memcpy(e.mac, (const uint8_t[6]){ 0x02, 0, 0, 0, 0x70, 0x66 }, 6);
	while ((opt = getopt_long(argc - 2, argv + 2, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (pv_mac_parse(optarg, e.mac) < 0)
				usage();
			break;
		case 'h':
			hold = atof(optarg);
			break;
		case 'a':
			e.active = atof(optarg);
			break;
		case 'r':
			e.rate = atof(optarg);
			break;
		default:
			usage();
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (!strcmp(cases[i].name, argv[2]))
			c = &cases[i];
	if (!c)
		usage();
	cfg.path = argv[1];
	cfg.features = c->features;
	e.v = vuser_create(&cfg, 10000);
	if (!e.v) {
		fprintf(stderr, "evil_guest: cannot attach to %s\n", argv[1]);
		return 1;
	}
	e.q = &e.v->q[0];
	e.tx_avail = e.q->tx.shadow_avail;
	NOTE("attached, features 0x%llx, case %s (%s)",
	     (unsigned long long)e.v->features, c->name, c->expect);
	rc = c->fn(&e);
	if (rc) {
		fprintf(stderr, "evil_guest: case %s could not be committed\n",
			c->name);
		vuser_destroy(e.v);
		return 1;
	}
	printf("done %s\n", c->name);
	fflush(stdout);
	end = now_s() + hold;
	while (now_s() < end)
		usleep(50000);
	vuser_destroy(e.v);
	return 0;
}
