// SPDX-License-Identifier: MIT
/*
 * restore_front.c - a vhost-user frontend that survives a SIGKILL of the
 * backend the way QEMU does (reconnect=1), for tests/peer/74-restore-inorder.sh.
 *
 *   restore_front SOCK SRC_MAC DST_MAC SWITCH_PID
 *
 * QEMU cannot ask a dead backend for its ring state (GET_VRING_BASE), so
 * it resumes every ring at the used index in guest memory
 * (virtio_queue_restore_last_avail_idx: "sync internal last avail idx to
 * the device used idx"). That is only right if the backend publishes used
 * entries in the order it popped the chains: a chain published before an
 * older one would be taken and returned a second time by the new backend,
 * and the older one never.
 *
 * Phase 1: one TX burst of [TCP segment (the switch's GRO holds it), UDP
 * datagram]; 200 ms later, what was published is printed and the switch
 * is killed (SIGKILL to SWITCH_PID) while the TCP chain is still in flight.
 * Phase 2: reconnect to the restarted switch, set every ring up again at
 * its used index in our memory (as QEMU), kick, and collect completions.
 * Exit 0 if each chain came back exactly once and the TX ring stayed sane;
 * 1 if not; 2 on a usage or local error. One result line on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

#include "pvnet/pkt.h"
#include "pvnet/vhost.h"
#include "pvnet/virtio.h"

#define QSIZE	256
#define MEM	(2u << 20)
#define RX_RING	0x0000		/* desc | avail | used, 4 KiB each */
#define TX_RING	0x4000
#define RX_BUFS	0x10000
#define TX_BUFS	0x80000
#define RXBUF	2048
#define NRX	32

static uint8_t *mem;
static struct vring rx, tx;
static int kick[2], call[2];
static size_t hdr_len;

static void die(const char *what, int rc)
{
	fprintf(stderr, "restore_front: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	exit(2);
}

static int parse_mac(const char *s, uint8_t *m)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2],
		      &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

/* An IPv4 frame after a virtio-net header; returns its length with header. */
static size_t frame(uint8_t *b, const uint8_t *src, const uint8_t *dst,
		    bool tcp, size_t payload)
{
	struct virtio_net_hdr *vh = (struct virtio_net_hdr *)b;
	uint8_t *e = b + hdr_len, *ip = e + 14, *l4 = ip + 20;
	size_t l4len = (tcp ? 20 : 8) + payload;
	uint16_t v;

	memset(b, 0, hdr_len + 14 + 20 + l4len);
	memcpy(e, dst, 6);
	memcpy(e + 6, src, 6);
	e[12] = 0x08;
	ip[0] = 0x45;
	v = htons((uint16_t)(20 + l4len));
	memcpy(ip + 2, &v, 2);
	ip[6] = 0x40;				/* DF */
	ip[8] = 64;
	ip[9] = tcp ? 6 : 17;
	memcpy(ip + 12, "\xc6\x12\x4a\x14", 4);	/* 198.18.74.20 */
	memcpy(ip + 16, "\xc6\x12\x4a\x02", 4);	/* 198.18.74.2 */
	v = pv_csum_fold(pv_csum_partial(ip, 20, 0));
	memcpy(ip + 10, &v, 2);
	if (tcp) {
		memcpy(l4, "\x9c\x40\x14\x51", 4);	/* 40000 -> 5201 */
		memcpy(l4 + 4, "\x00\x00\x10\x00", 4);	/* seq */
		memcpy(l4 + 8, "\x00\x00\x00\x01", 4);	/* ack */
		l4[12] = 5 << 4;
		l4[13] = 0x10;				/* ACK only: GRO holds it */
		memcpy(l4 + 14, "\x10\x00", 2);
		/* A local sender's partial checksum: trusted by GRO. */
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = 14 + 20;
		vh->csum_offset = 16;
	} else {
		memcpy(l4, "\x9c\x41\x14\x52", 4);
		v = htons((uint16_t)l4len);
		memcpy(l4 + 4, &v, 2);
	}
	memset(l4 + (tcp ? 20 : 8), 0xa5, payload);
	return hdr_len + 14 + 20 + l4len;
}

static int memfd = -1;

/* Memory table and both rings, the device resuming at the given indexes. */
static void setup_rings(struct vhu_front *f, uint16_t rx_base, uint16_t tx_base)
{
	uint8_t *r = mem + RX_RING, *t = mem + TX_RING;
	int rc;

	rc = vhu_front_set_mem(f, memfd, mem, MEM);
	if (!rc)
		rc = vhu_front_setup_vring_base(f, 0, QSIZE, rx_base, r, r + 0x1000,
						r + 0x2000, kick[0], call[0]);
	if (!rc)
		rc = vhu_front_setup_vring_base(f, 1, QSIZE, tx_base, t, t + 0x1000,
						t + 0x2000, kick[1], call[1]);
	if (rc)
		die("ring setup", rc);
}

static void kick_tx(void)
{
	uint64_t one = 1;

	if (write(kick[1], &one, sizeof(one)) != sizeof(one))
		die("kick", errno);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Harvests TX completions into done[] (1 = TCP, 2 = UDP); false on a bad one. */
static bool harvest(unsigned *done, const char *when)
{
	void *ck[8];
	unsigned n;

	while ((n = vring_drv_get_used(&tx, ck, NULL, 8)) > 0)
		for (unsigned i = 0; i < n; i++) {
			unsigned c = (unsigned)(uintptr_t)ck[i];

			printf("%s: %s chain returned\n", when, c == 1 ? "tcp" : "udp");
			done[c]++;
		}
	return tx.state != VRING_BROKEN;
}

int main(int argc, char **argv)
{
	struct vhu_front_cfg cfg = { .queue_pairs = 1, .queue_size = QSIZE };
	uint8_t src[6], dst[6];
	unsigned done[3] = { 0 };
	struct vhu_front *f;
	struct vring_buf b;
	uint16_t rx_used, tx_used;
	uint64_t t0;
	pid_t sw;
	int rc;

	if (argc != 5 || parse_mac(argv[2], src) || parse_mac(argv[3], dst) ||
	    (sw = (pid_t)atoi(argv[4])) <= 1) {
		fprintf(stderr, "usage: restore_front SOCK SRC_MAC DST_MAC SWITCH_PID\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	cfg.path = argv[1];
	cfg.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_CSUM);
	f = vhu_front_connect(&cfg, 10000);
	if (!f)
		die("connect", ECONNREFUSED);
	hdr_len = nethdr_len(vhu_front_features(f));
	memfd = memfd_create("restore-front", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEM) < 0)
		die("memfd", errno);
	mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		die("mmap", errno);
	for (int i = 0; i < 2; i++) {
		kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (kick[i] < 0 || call[i] < 0)
			die("eventfd", errno);
	}
	rc = vring_setup(&rx, QSIZE, mem + RX_RING, mem + RX_RING + 0x1000,
			 mem + RX_RING + 0x2000, vhu_front_features(f), NULL);
	if (!rc)
		rc = vring_setup(&tx, QSIZE, mem + TX_RING, mem + TX_RING + 0x1000,
				 mem + TX_RING + 0x2000, vhu_front_features(f), NULL);
	if (rc)
		die("vring_setup", rc);
	vring_drv_init(&rx);
	vring_drv_init(&tx);
	for (uintptr_t i = 0; i < NRX; i++) {
		b.addr = (uint64_t)(uintptr_t)(mem + RX_BUFS + i * RXBUF);
		b.len = RXBUF;
		vring_drv_add(&rx, &b, 0, 1, (void *)(i + 1));
	}
	vring_drv_publish(&rx);
	setup_rings(f, 0, 0);

	/* Phase 1: [TCP, UDP] in one burst. */
	b.addr = (uint64_t)(uintptr_t)(mem + TX_BUFS);
	b.len = (uint32_t)frame(mem + TX_BUFS, src, dst, true, 1000);
	vring_drv_add(&tx, &b, 1, 0, (void *)1);
	b.addr = (uint64_t)(uintptr_t)(mem + TX_BUFS + 4096);
	b.len = (uint32_t)frame(mem + TX_BUFS + 4096, src, dst, false, 32);
	vring_drv_add(&tx, &b, 1, 0, (void *)2);
	vring_drv_publish(&tx);
	kick_tx();
	usleep(200000);
	if (!harvest(done, "phase 1"))
		goto bad;
	printf("phase 1: used idx %u after 200 ms, tcp returned %u, udp returned %u; killing the switch\n",
	       le16toh(tx.used->idx), done[1], done[2]);
	if (kill(sw, SIGKILL) < 0)
		die("kill", errno);

	/* Phase 2: as QEMU, resume every ring at the used idx in our memory. */
	/* Until the new switch answers (a connect may still reach the dying
	 * one's socket, which then resets: QEMU retries too). */
	t0 = now_ms();
	while ((rc = vhu_front_reconnect(f, 2000)) != 0 && now_ms() - t0 < 15000)
		usleep(200000);
	if (rc)
		die("reconnect", rc);
	rx_used = le16toh(rx.used->idx);
	tx_used = le16toh(tx.used->idx);
	printf("phase 2: reconnected, rings resume at rx %u tx %u (used idx)\n",
	       rx_used, tx_used);
	setup_rings(f, rx_used, tx_used);
	kick_tx();
	t0 = now_ms();
	while (now_ms() - t0 < 4000) {
		if (!harvest(done, "phase 2"))
			goto bad;
		usleep(20000);
	}
	printf("result: tcp returned %u, udp returned %u (each must be 1)\n",
	       done[1], done[2]);
	vhu_front_destroy(f);
	return done[1] == 1 && done[2] == 1 ? 0 : 1;
bad:
	printf("result: the switch returned a chain that was not in flight (TX ring: %s), tcp returned %u, udp returned %u\n",
	       pv_drop_name(tx.broken_reason), done[1], done[2]);
	return 1;
}
