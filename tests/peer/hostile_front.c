// SPDX-License-Identifier: MIT
/*
 * hostile_front.c - a scripted hostile vhost-user frontend for the peer
 * tests: connects to a backend socket and commits one protocol fault.
 *
 *   hostile_front SOCK CASE      (CASE: see the table below; "list" lists)
 *
 * Exit status 0 means the case was delivered and the backend answered it as
 * a robust backend must (an error reply, a NACK, or closing the connection)
 * without hanging; 1 means it did not; 2 means a usage or local error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvnet/vhost.h"

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < 50; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		usleep(100000);
	}
	perror("connect");
	exit(2);
}

static void send_raw(int fd, const void *buf, size_t len, const int *fds,
		     unsigned nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)] = { 0 };
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET) {
		perror("sendmsg");
		exit(2);
	}
}

static void send_msg(int fd, uint32_t req, uint32_t flags, const void *pl,
		     uint32_t size, const int *fds, unsigned nfds)
{
	uint8_t buf[sizeof(struct vhu_hdr) + 512];
	struct vhu_hdr h = { req, flags, size };

	memcpy(buf, &h, sizeof(h));
	if (size && pl)
		memcpy(buf + sizeof(h), pl, size);
	send_raw(fd, buf, sizeof(h) + (pl ? size : 0), fds, nfds);
}

/*
 * Waits for the backend's verdict: a reply (returned in *reply), or the
 * connection closing. Returns 1 on close, 0 on a reply, -1 on a hang.
 */
static int verdict(int fd, struct vhu_hdr *reply, uint64_t *u64, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t buf[sizeof(struct vhu_hdr) + 512];
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n <= 0)
		return 1;
	if ((size_t)n < sizeof(*reply))
		return 1;
	memcpy(reply, buf, sizeof(*reply));
	if (u64 && (size_t)n >= sizeof(*reply) + 8)
		memcpy(u64, buf + sizeof(*reply), 8);
	return 0;
}

/* Error reply (REPLY_ACK NACK) or a closed connection both count. */
static int expect_rejected(int fd, int ms)
{
	struct vhu_hdr r;
	uint64_t v = 0;
	int rc = verdict(fd, &r, &v, ms);

	if (rc == 1)
		return 0;
	if (rc == 0 && (r.flags & VHU_FLAG_REPLY) && v != 0)
		return 0;
	fprintf(stderr, "backend accepted the fault (rc %d, value %llu)\n", rc,
		(unsigned long long)v);
	return 1;
}

static const uint32_t NEED = VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY;

/* Owner + protocol features with REPLY_ACK, so each fault gets a verdict. */
static void handshake(int fd)
{
	struct vhu_hdr r;
	uint64_t pf = 0, f = 0;

	send_msg(fd, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, NULL, 0, NULL, 0);
	if (verdict(fd, &r, &f, 2000) != 0)
		exit(1);
	f &= VIRTIO_BIT(VIRTIO_F_VERSION_1) |
	     VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	send_msg(fd, VHU_REQ_SET_FEATURES, VHU_FLAG_VERSION, &f, 8, NULL, 0);
	send_msg(fd, VHU_REQ_GET_PROTOCOL_FEATURES, VHU_FLAG_VERSION, NULL, 0,
		 NULL, 0);
	if (verdict(fd, &r, &pf, 2000) != 0)
		exit(1);
	pf &= (1ULL << VHU_PROTO_F_REPLY_ACK) | (1ULL << VHU_PROTO_F_MQ);
	send_msg(fd, VHU_REQ_SET_PROTOCOL_FEATURES, VHU_FLAG_VERSION, &pf, 8,
		 NULL, 0);
	send_msg(fd, VHU_REQ_SET_OWNER, VHU_FLAG_VERSION, NULL, 0, NULL, 0);
}

static int memfd_of(size_t size)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		exit(2);
	return fd;
}

static int mem_table(int fd, const struct vhu_mem_region *r, unsigned n,
		     unsigned claim, const int *fds, unsigned nfds)
{
	struct vhu_mem_table t = { .nregions = claim };

	memcpy(t.regions, r, sizeof(*r) * PV_MIN(n, 8u));
	send_msg(fd, VHU_REQ_SET_MEM_TABLE, NEED, &t,
		 (uint32_t)(8 + sizeof(*r) * PV_MIN(claim, 8u)), fds, nfds);
	return expect_rejected(fd, 2000);
}

int main(int argc, char **argv)
{
	const char *c;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: hostile_front SOCK CASE\n");
		return 2;
	}
	c = argv[2];
	fd = sock_connect(argv[1]);

	if (!strcmp(c, "truncated")) {
		/* Promise 8 payload bytes, send 4, hang up. */
		struct vhu_hdr h = { VHU_REQ_SET_FEATURES, VHU_FLAG_VERSION, 8 };
		uint8_t b[sizeof(h) + 4] = { 0 };

		memcpy(b, &h, sizeof(h));
		send_raw(fd, b, sizeof(b), NULL, 0);
		return 0;
	}
	if (!strcmp(c, "stall")) {
		/* Half a header, then silence: the backend must cut us off. */
		struct vhu_hdr h = { VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, 0 };
		struct vhu_hdr r;

		send_raw(fd, &h, 6, NULL, 0);
		return verdict(fd, &r, NULL, 10000) == 1 ? 0 : 1;
	}
	if (!strcmp(c, "oversize")) {
		send_msg(fd, VHU_REQ_SET_FEATURES, VHU_FLAG_VERSION, NULL,
			 0x100000, NULL, 0);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "bad-version")) {
		send_msg(fd, VHU_REQ_GET_FEATURES, 0, NULL, 0, NULL, 0);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "mid-handshake")) {
		struct vhu_hdr r;
		uint64_t f;

		send_msg(fd, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, NULL, 0, NULL, 0);
		return verdict(fd, &r, &f, 2000) == 0 ? 0 : 1;	/* then close */
	}

	handshake(fd);
	if (!strcmp(c, "unknown")) {
		send_msg(fd, 999, NEED, NULL, 0, NULL, 0);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "wrong-fds")) {
		int e[2] = { eventfd(0, 0), eventfd(0, 0) };
		uint64_t idx = 0;

		send_msg(fd, VHU_REQ_SET_VRING_KICK, NEED, &idx, 8, e, 2);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "not-eventfd")) {
		int p[2];
		uint64_t idx = 1;

		if (pipe(p) < 0)
			return 2;
		send_msg(fd, VHU_REQ_SET_VRING_CALL, NEED, &idx, 8, p, 1);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "vring-idx")) {
		struct vhu_vring_state s = { 200, 256 };

		send_msg(fd, VHU_REQ_SET_VRING_NUM, NEED, &s, sizeof(s), NULL, 0);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "vring-num")) {
		struct vhu_vring_state s = { 0, 300 };

		send_msg(fd, VHU_REQ_SET_VRING_NUM, NEED, &s, sizeof(s), NULL, 0);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "nregions")) {
		struct vhu_mem_region r[8] = { { 0 } };
		int fds[8];

		for (int i = 0; i < 8; i++) {
			fds[i] = memfd_of(4096);
			r[i] = (struct vhu_mem_region){ (uint64_t)i << 20, 4096,
							(uint64_t)i << 20, 0 };
		}
		return mem_table(fd, r, 8, 9, fds, 8);
	}
	if (!strcmp(c, "overlap")) {
		int fds[2] = { memfd_of(1 << 20), memfd_of(1 << 20) };
		struct vhu_mem_region r[2] = {
			{ 0, 1 << 20, 0x10000000, 0 },
			{ 0x80000, 1 << 20, 0x20000000, 0 },
		};

		return mem_table(fd, r, 2, 2, fds, 2);
	}
	if (!strcmp(c, "overflow")) {
		int m = memfd_of(1 << 20);
		struct vhu_mem_region r = { UINT64_MAX - 4095, 1 << 20, 0, 0 };

		return mem_table(fd, &r, 1, 1, &m, 1);
	}
	if (!strcmp(c, "beyond-fd")) {
		int m = memfd_of(4096);
		struct vhu_mem_region r = { 0, 1 << 20, 0x10000000, 0 };

		return mem_table(fd, &r, 1, 1, &m, 1);
	}
	if (!strcmp(c, "ring-outside")) {
		/* Valid memory, then a ring whose addresses lie outside it. */
		int m = memfd_of(1 << 20), k = eventfd(0, 0);
		struct vhu_mem_region r = { 0, 1 << 20, 0x10000000, 0 };
		struct vhu_vring_state s = { 1, 256 };
		struct vhu_vring_addr a = { .index = 1, .desc_uva = 0x50000000,
					    .avail_uva = 0x50001000,
					    .used_uva = 0x50002000 };
		struct vhu_vring_state en = { 1, 1 };
		uint64_t idx = 1;
		int bad = 0;

		if (mem_table(fd, &r, 1, 1, &m, 1) == 0) {
			fprintf(stderr, "valid memory table was rejected\n");
			return 1;
		}
		send_msg(fd, VHU_REQ_SET_VRING_NUM, VHU_FLAG_VERSION, &s, 8, NULL, 0);
		send_msg(fd, VHU_REQ_SET_VRING_ADDR, NEED, &a, sizeof(a), NULL, 0);
		bad |= expect_rejected(fd, 3000) == 0;
		if (!bad) {
			send_msg(fd, VHU_REQ_SET_VRING_KICK, VHU_FLAG_VERSION, &idx,
				 8, &k, 1);
			send_msg(fd, VHU_REQ_SET_VRING_ENABLE, NEED, &en, 8, NULL, 0);
			bad |= expect_rejected(fd, 3000) == 0;
		}
		return bad ? 0 : 1;
	}
	if (!strcmp(c, "out-of-order")) {
		/* A ring address before any memory table exists. */
		struct vhu_vring_addr a = { .index = 0, .desc_uva = 0x1000,
					    .avail_uva = 0x2000,
					    .used_uva = 0x3000 };
		struct vhu_vring_state en = { 0, 1 };
		int k = eventfd(0, 0);
		uint64_t idx = 0;

		send_msg(fd, VHU_REQ_SET_VRING_ADDR, VHU_FLAG_VERSION, &a,
			 sizeof(a), NULL, 0);
		send_msg(fd, VHU_REQ_SET_VRING_KICK, VHU_FLAG_VERSION, &idx, 8, &k, 1);
		send_msg(fd, VHU_REQ_SET_VRING_ENABLE, NEED, &en, 8, NULL, 0);
		return expect_rejected(fd, 3000);
	}
	if (!strcmp(c, "bad-features")) {
		uint64_t f = 1ULL << 60;

		send_msg(fd, VHU_REQ_SET_FEATURES, NEED, &f, 8, NULL, 0);
		return expect_rejected(fd, 3000);
	}
	fprintf(stderr, "unknown case %s\n", c);
	return 2;
}
