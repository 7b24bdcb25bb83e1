// SPDX-License-Identifier: MIT
/*
 * evil_guest.c - a malicious virtio-user guest for the peer tests.
 *
 *   evil_guest SOCK CASE [--mac MAC] [--hold SECONDS] [--active SECONDS]
 *              [--rate PPS] [--dst MAC]
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
 *
 * The running-switch cases (issue #12, tests/peer/75-hostile-running.sh)
 * attack the switch as a whole rather than one ring: eventfds made
 * blocking or preloaded to the counter's maximum, guest memory truncated
 * under running rings, the region table edited, call fds replaced and
 * rings restarted in loops. memreg-loop sends the numbered test stream of
 * `pvnet guest --gen` to --dst and checks the one it receives. Their
 * outcome is one "# RESULT CASE key=value ..." line before "done CASE".
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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
	uint8_t dst[6];		/* memreg-loop: where its numbered stream goes */
	/* a thread that keeps at it during --hold; joined before exit */
	pthread_t keeper;
	bool has_keeper;
	atomic_bool keeper_stop;
	int keep_fd;		/* the eventfd it keeps blocking */
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

/* ---- the running switch as a whole (issue #12) ---- */

/*
 * Sends one request asking for an ack (or, for GET_*, its answer) and
 * waits for it. Returns 0 with the ack's u64 (the reply's payload) in
 * *@ack, -ETIMEDOUT without an answer, or -errno when the send failed
 * (the switch closed the connection).
 */
static int req_ack(struct evil *e, uint32_t req, const void *pl,
		   uint32_t size, int sfd, uint64_t *ack)
{
	int fd = vhu_front_fd(e->v->f);
	uint8_t buf[sizeof(struct vhu_hdr) + 64];
	struct vhu_hdr hdr = { req, VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY, size };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { buf, sizeof(hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

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
	/* Every answer the switch sends us is a header and 8 bytes. */
	while (got < sizeof(hdr) + 8) {
		ssize_t n;

		if (poll(&p, 1, 5000) != 1)
			return -ETIMEDOUT;
		n = recv(fd, buf + got, sizeof(hdr) + 8 - got, 0);
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		got += (size_t)n;
	}
	memcpy(ack, buf + sizeof(hdr), 8);
	return 0;
}

static void set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/*
 * O_NONBLOCK belongs to the open file description, which the switch shares
 * with us since SCM_RIGHTS: clearing it here makes the switch's copy
 * blocking too, and keeping at it undoes a backend that sets it once.
 */
static void *keeper_main(void *arg)
{
	struct evil *e = arg;

	while (!atomic_load(&e->keeper_stop)) {
		set_blocking(e->keep_fd);
		usleep(1000);
	}
	return NULL;
}

static int start_keeper(struct evil *e, int fd)
{
	e->keep_fd = fd;
	set_blocking(fd);
	if (pthread_create(&e->keeper, NULL, keeper_main, e))
		return 1;
	e->has_keeper = true;
	return 0;
}

/*
 * Never kicks, with the TX kick eventfd blocking: a worker that reads it
 * after it slept (to clear kicks) waits for a kick that never comes.
 */
static int c_blocking_kick(struct evil *e)
{
	double end = now_s() + e->active;

	if (start_keeper(e, e->q->tx_kick))
		return 1;
	while (now_s() < end)
		usleep(10000);
	NOTE("RESULT blocking-kick kick_fd_blocking=%d",
	     !(fcntl(e->q->tx_kick, F_GETFL) & O_NONBLOCK));
	return 0;
}

static bool count_deliver(const struct iovec *iov, unsigned n, int slot,
			  void *arg)
{
	(void)iov;
	(void)n;
	(void)slot;
	(*(uint64_t *)arg)++;
	return true;
}

/*
 * Sets the call eventfd @fd to its maximum (0xfffffffffffffffe: one more
 * would overflow) and makes it blocking: the switch's next interrupt
 * write blocks the worker that delivers it.
 */
static int preload_call(struct evil *e, int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 1;
	v = 0xfffffffffffffffeULL;
	if (write(fd, &v, sizeof(v)) != sizeof(v))
		return 1;
	return start_keeper(e, fd);
}

/* Frames to us (the feeder's) make the switch raise RX interrupts. */
static int c_preloaded_call_rx(struct evil *e)
{
	double end = now_s() + e->active;
	uint64_t got = 0;

	if (preload_call(e, e->q->rx_call))
		return 1;
	while (now_s() < end) {
		vuser_rx_poll(e->v, 0, 256, count_deliver, &got);
		vring_drv_set_call(&e->q->rx, true);
		usleep(1000);
	}
	NOTE("RESULT preloaded-call-rx rx=%llu", (unsigned long long)got);
	return 0;
}

static size_t fill_unknown(void *buf, size_t cap, void *arg)
{
	struct evil *e = arg;
	struct virtio_net_hdr h = { 0 };

	if (cap < e->v->hdr_len + 60)
		return 0;
	return put_frame(e, buf, &h, 60);
}

/* Our own frames, with TX interrupts asked for, make it raise TX ones. */
static int c_preloaded_call_tx(struct evil *e)
{
	double end = now_s() + e->active;
	uint64_t sent = 0;

	if (preload_call(e, e->q->tx_call))
		return 1;
	while (now_s() < end) {
		vuser_tx_reap(e->v, 0);
		vring_drv_set_call(&e->q->tx, true);
		for (int i = 0; i < 8 && !vuser_tx_one(e->v, 0, fill_unknown, e); i++)
			sent++;
		vuser_tx_flush(e->v, 0);
		usleep(1000);
	}
	NOTE("RESULT preloaded-call-tx tx=%llu", (unsigned long long)sent);
	return 0;
}

/*
 * Shrinks the memfd under running rings to @keep bytes: the switch's
 * mapping then raises SIGBUS wherever it touches what is gone. A frame is
 * made ready first, published after (the TX path reads it), and the
 * feeder's frames make the RX path write into what is gone.
 */
static int truncate_case(struct evil *e, off_t keep)
{
	uint16_t slot = 100;

	warm_up(e);
	valid_desc(e, slot, slot, 60);
	if (ftruncate(e->v->memfd, keep) < 0) {
		NOTE("ftruncate: %s", strerror(errno));
		return 1;
	}
	NOTE("RESULT truncate memfd_bytes=%lld", (long long)keep);
	if (keep > 0)
		tx_publish(e, slot);	/* the rings are still there */
	else
		kick(e->q->tx_kick);	/* nothing of ours may be touched */
	return 0;
}

static int c_truncate_mem(struct evil *e)
{
	return truncate_case(e, 0);
}

/* The rings stay, every buffer goes: only the copies fault. */
static int c_truncate_bufs(struct evil *e)
{
	return truncate_case(e, (off_t)(e->q->rx_bufs - e->v->mem));
}

/* ---- the numbered test stream of `pvnet guest --gen/--sink` ---- */

#define NUM_ETHERTYPE	0x88b5
#define NUM_MAGIC	0x50564e54u	/* "PVNT" */
#define NUM_HDR		(14 + 4 + 8)
#define NUM_SIZE	512

static uint8_t num_pattern(size_t i)
{
	return (uint8_t)(i * 31 + 7);	/* guest_main.c's pattern */
}

struct numstream {
	struct evil *e;
	uint64_t seq;		/* TX: next to send */
	uint64_t ok, corrupt, other, reordered, max;	/* RX */
};

static size_t fill_numbered(void *buf, size_t cap, void *arg)
{
	struct numstream *s = arg;
	size_t hl = s->e->v->hdr_len;
	uint8_t *f = (uint8_t *)buf + hl;
	uint32_t magic = htobe32(NUM_MAGIC);
	uint64_t seq = htobe64(s->seq);

	if (hl + NUM_SIZE > cap)
		return 0;
	memset(buf, 0, hl);
	memcpy(f, s->e->dst, 6);
	memcpy(f + 6, s->e->mac, 6);
	f[12] = NUM_ETHERTYPE >> 8;
	f[13] = NUM_ETHERTYPE & 0xff;
	memcpy(f + 14, &magic, 4);
	memcpy(f + 18, &seq, 8);
	for (size_t i = 0; i < NUM_SIZE - NUM_HDR; i++)
		f[NUM_HDR + i] = num_pattern((s->seq & 0xff) + i);
	s->seq++;
	return hl + NUM_SIZE;
}

/* Checks a frame of the feeder's numbered stream, byte by byte. */
static bool check_numbered(const struct iovec *iov, unsigned n, int slot,
			   void *arg)
{
	static uint8_t f[VUSER_BUF];
	struct numstream *s = arg;
	size_t len = pv_iov_to_buf(iov, n, s->e->v->hdr_len, f, sizeof(f));
	uint32_t magic;
	uint64_t seq;
	bool bad = false;

	(void)slot;
	if (len < NUM_HDR || f[12] != NUM_ETHERTYPE >> 8 ||
	    f[13] != (NUM_ETHERTYPE & 0xff)) {
		s->other++;	/* not the stream (a broadcast, say) */
		return true;
	}
	memcpy(&magic, f + 14, 4);
	memcpy(&seq, f + 18, 8);
	seq = be64toh(seq);
	if (be32toh(magic) != NUM_MAGIC || memcmp(f, s->e->mac, 6))
		bad = true;
	for (size_t i = NUM_HDR; i < len && !bad; i++)
		if (f[i] != num_pattern((seq & 0xff) + i - NUM_HDR))
			bad = true;
	if (bad) {
		s->corrupt++;
		return true;
	}
	s->ok++;
	if (s->ok > 1 && seq < s->max)
		s->reordered++;
	else
		s->max = seq;
	return true;
}

/*
 * Extra regions that no ring uses are added and removed in a loop (QEMU's
 * memory hot-plug path) while the main thread streams both ways. Each one
 * lies below the previous one and below our main region, so every
 * ADD_MEM_REG moves the whole table up by one in the switch, the main
 * region last.
 */
#define MEMREG_N	24
#define MEMREG_SIZE	(64ULL << 10)

struct memreg {
	struct evil *e;
	uint64_t adds, rems, rejects;
	int err;
};

static int memreg_one(struct memreg *m, uint32_t req, uint8_t *map,
		      unsigned i, int fd)
{
	struct vhu_mem_single r = { 0 };
	uint64_t ack = 0;
	int rc;

	r.region = (struct vhu_mem_region){
		0x10000000ULL - (i + 1) * MEMREG_SIZE, MEMREG_SIZE,
		gpa_of(map + i * MEMREG_SIZE), i * MEMREG_SIZE };
	rc = req_ack(m->e, req, &r, sizeof(r), fd, &ack);
	if (rc)
		m->err = rc;
	else if (ack)
		m->rejects++;
	else if (req == VHU_REQ_ADD_MEM_REG)
		m->adds++;
	else
		m->rems++;
	return rc;
}

static void *memreg_main(void *arg)
{
	struct memreg *m = arg;
	struct evil *e = m->e;
	const uint64_t size = MEMREG_N * MEMREG_SIZE;
	int fd = memfd_create("evil-extra", MFD_CLOEXEC);
	uint8_t *map;

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		m->err = -errno;
		return NULL;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		m->err = -errno;
		close(fd);
		return NULL;
	}
	/* Something no frame holds: a stray read of it shows as corruption. */
	memset(map, 0xa5, size);
	while (!atomic_load(&e->stop) && !m->err) {
		unsigned n = 0;

		while (n < MEMREG_N && !memreg_one(m, VHU_REQ_ADD_MEM_REG, map, n, fd))
			n++;
		while (n > 0 && !memreg_one(m, VHU_REQ_REM_MEM_REG, map, n - 1, -1))
			n--;
	}
	munmap(map, size);
	close(fd);
	return NULL;
}

static int c_memreg_loop(struct evil *e)
{
	struct numstream tx = { .e = e }, rx = { .e = e };
	struct memreg m = { .e = e };
	double t0 = now_s(), end = t0 + e->active;
	pthread_t th;

	if (pthread_create(&th, NULL, memreg_main, &m))
		return 1;
	while (now_s() < end) {
		double due = (now_s() - t0) * e->rate;
		unsigned burst = 0;

		while ((double)tx.seq < due && burst < 32 &&
		       !vuser_tx_one(e->v, 0, fill_numbered, &tx))
			burst++;
		if (burst)
			vuser_tx_flush(e->v, 0);
		vuser_rx_poll(e->v, 0, 256, check_numbered, &rx);
		usleep(200);
	}
	atomic_store(&e->stop, true);
	pthread_join(th, NULL);
	/* What is still in flight to us arrives within a moment. */
	for (int i = 0; i < 100; i++) {
		vuser_rx_poll(e->v, 0, 256, check_numbered, &rx);
		usleep(1000);
	}
	NOTE("RESULT memreg-loop adds=%llu rems=%llu rejects=%llu err=%d tx=%llu rx=%llu rx_corrupt=%llu rx_reordered=%llu rx_other=%llu",
	     (unsigned long long)m.adds, (unsigned long long)m.rems,
	     (unsigned long long)m.rejects, m.err, (unsigned long long)tx.seq,
	     (unsigned long long)rx.ok, (unsigned long long)rx.corrupt,
	     (unsigned long long)rx.reordered, (unsigned long long)rx.other);
	return 0;
}

static bool drain_fd(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == sizeof(v) && v;
}

/*
 * An interrupt-driven RX queue (event idx: one interrupt each time used
 * passes what we harvested) whose call eventfd is replaced by a fresh one
 * in a loop, as QEMU does when it masks and unmasks a vector: after each
 * ack, whatever was signalled on the old eventfd is taken as an interrupt
 * (QEMU tests and clears it), and later ones must come on the new one. A
 * used index that moves with no interrupt on either for 2 s is a lost
 * interrupt: a real guest would stall there.
 */
static int c_callfd_loop(struct evil *e)
{
	struct numstream rx = { .e = e };
	double end = now_s() + e->active, pending = 0;
	int cur = e->q->rx_call, err = 0;
	uint64_t switches = 0, irqs = 0, lost = 0, rejects = 0;

	drain_fd(cur);
	do {
		vuser_rx_poll(e->v, 0, 1024, check_numbered, &rx);
		vring_drv_set_call(&e->q->rx, true);
	} while (vring_drv_has_used(&e->q->rx));
	while (now_s() < end) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		uint64_t idx = 0, ack = 0;
		bool irq;

		if (fd < 0) {
			err = -errno;
			break;
		}
		err = req_ack(e, VHU_REQ_SET_VRING_CALL, &idx, sizeof(idx), fd,
			      &ack);
		if (err) {
			close(fd);
			break;
		}
		if (ack) {
			rejects++;
			close(fd);
			continue;
		}
		switches++;
		irq = drain_fd(cur);
		if (cur != e->q->rx_call)
			close(cur);
		cur = fd;
		irq |= drain_fd(cur);
		if (irq) {
			irqs++;
			pending = 0;
			do {
				vuser_rx_poll(e->v, 0, 1024, check_numbered, &rx);
				vring_drv_set_call(&e->q->rx, true);
			} while (vring_drv_has_used(&e->q->rx));
		} else if (vring_drv_has_used(&e->q->rx)) {
			if (!pending) {
				pending = now_s();
			} else if (now_s() - pending > 2) {
				lost++;
				NOTE("callfd-loop: used idx %u (harvested %u, used_event %u), no interrupt for 2 s, %.1f s before the end",
				     pv_load_acquire(&e->q->rx.used->idx),
				     e->q->rx.last_used,
				     e->q->rx.avail->ring[e->q->rx.size],
				     end - now_s());
				pending = 0;
				do {
					vuser_rx_poll(e->v, 0, 1024, check_numbered, &rx);
					vring_drv_set_call(&e->q->rx, true);
				} while (vring_drv_has_used(&e->q->rx));
			}
		}
	}
	if (cur != e->q->rx_call)
		close(cur);
	NOTE("RESULT callfd-loop switches=%llu rejects=%llu err=%d irqs=%llu rx=%llu rx_corrupt=%llu lost_irqs=%llu",
	     (unsigned long long)switches, (unsigned long long)rejects, err,
	     (unsigned long long)irqs, (unsigned long long)rx.ok,
	     (unsigned long long)rx.corrupt, (unsigned long long)lost);
	return 0;
}

/*
 * Restarts both rings in a loop: SET_VRING_ENABLE 0 then 1, and
 * GET_VRING_BASE then SET_VRING_BASE (the same base) and SET_VRING_KICK.
 * Each restart makes the switch stop and start the ring. Stops at the
 * first request the switch does not answer (it may cut us off).
 */
static int c_restart_storm(struct evil *e)
{
	double end = now_s() + e->active;
	uint64_t msgs = 0, rejects = 0, restarts = 0;
	int err = 0;

	while (now_s() < end && !err) {
		for (uint32_t i = 0; i < 2 && !err; i++) {
			struct vhu_vring_state s = { i, 0 };
			uint64_t ack = 0, kidx = i;
			int kick = i ? e->q->tx_kick : e->q->rx_kick;

			err = req_ack(e, VHU_REQ_SET_VRING_ENABLE, &s, sizeof(s), -1, &ack);
			rejects += !err && ack;
			s.num = 1;
			if (!err)
				err = req_ack(e, VHU_REQ_SET_VRING_ENABLE, &s, sizeof(s), -1, &ack);
			rejects += !err && ack;
			if (!err)
				err = req_ack(e, VHU_REQ_GET_VRING_BASE, &s, sizeof(s), -1, &ack);
			if (!err) {
				/* the reply's payload: index, then the base */
				s.num = (uint32_t)(ack >> 32);
				err = req_ack(e, VHU_REQ_SET_VRING_BASE, &s, sizeof(s), -1, &ack);
				rejects += !err && ack;
			}
			if (!err)
				err = req_ack(e, VHU_REQ_SET_VRING_KICK, &kidx, sizeof(kidx), kick, &ack);
			rejects += !err && ack;
			msgs += 5;
			restarts++;
		}
	}
	NOTE("RESULT restart-storm msgs=%llu restart_rounds=%llu rejects=%llu err=%d",
	     (unsigned long long)msgs, (unsigned long long)restarts,
	     (unsigned long long)rejects, err);
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
	{ "blocking-kick", c_blocking_kick, F_BASE | F_TSO | F_IND, "switch runs on: no worker blocks on our kick fd" },
	{ "preloaded-call-rx", c_preloaded_call_rx, F_BASE | F_TSO | F_IND, "switch runs on: no worker blocks on our RX call fd" },
	{ "preloaded-call-tx", c_preloaded_call_tx, F_BASE | F_TSO | F_IND, "switch runs on: no worker blocks on our TX call fd" },
	{ "truncate-mem", c_truncate_mem, F_BASE | F_TSO | F_IND, "switch runs on, vhu_mem_fault" },
	{ "truncate-bufs", c_truncate_bufs, F_BASE | F_TSO | F_IND, "switch runs on, vhu_mem_fault" },
	{ "memreg-loop", c_memreg_loop, F_BASE | F_TSO | F_IND, "no ring fault, no corrupted frame either way" },
	{ "callfd-loop", c_callfd_loop, F_BASE | F_TSO | F_IND, "no lost interrupt" },
	{ "restart-storm", c_restart_storm, F_BASE | F_TSO | F_IND, "vhu_restart_rate, the others' stream unharmed" },
};

static void usage(void)
{
	fprintf(stderr, "usage: evil_guest SOCK CASE [--mac MAC] [--hold S] "
		"[--active S] [--rate PPS] [--dst MAC] | evil_guest list\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mac", required_argument, NULL, 'm' },
		{ "hold", required_argument, NULL, 'h' },
		{ "active", required_argument, NULL, 'a' },
		{ "rate", required_argument, NULL, 'r' },
		{ "dst", required_argument, NULL, 'd' },
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
	memcpy(e.dst, UNKNOWN_MAC, 6);
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
		case 'd':
			if (pv_mac_parse(optarg, e.dst) < 0)
				usage();
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
	/* the truncate cases shrink their own memory: it must not be sealed */
	cfg.unsealed_mem = !strncmp(c->name, "truncate", 8);
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
		if (e.has_keeper) {
			atomic_store(&e.keeper_stop, true);
			pthread_join(e.keeper, NULL);
		}
		vuser_destroy(e.v);
		return 1;
	}
	printf("done %s\n", c->name);
	fflush(stdout);
	end = now_s() + hold;
	while (now_s() < end)
		usleep(50000);
	if (e.has_keeper) {
		atomic_store(&e.keeper_stop, true);
		pthread_join(e.keeper, NULL);
	}
	vuser_destroy(e.v);
	return 0;
}
