// SPDX-License-Identifier: MIT
/*
 * vhu_msg.c - vhost-user framing: header checks, incremental non-blocking
 * receive with SCM_RIGHTS fds, and sending. No request semantics here.
 *
 * A message is a 12-byte header and hdr.size payload bytes (vhost-user.rst,
 * "Message Specification"); fds ride as ancillary data on its first bytes.
 * The receive side never blocks: a peer that stops mid-message leaves its
 * bytes in struct vhu_rx and the caller's loop goes on (vhu_dev_tick() cuts
 * it off after VHU_MSG_TIMEOUT_NS).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhu_internal.h"

static const char *const req_names[VHU_REQ_MAX] = {
	[VHU_REQ_NONE] = "NONE",
	[VHU_REQ_GET_FEATURES] = "GET_FEATURES",
	[VHU_REQ_SET_FEATURES] = "SET_FEATURES",
	[VHU_REQ_SET_OWNER] = "SET_OWNER",
	[VHU_REQ_RESET_OWNER] = "RESET_OWNER",
	[VHU_REQ_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHU_REQ_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHU_REQ_SET_LOG_FD] = "SET_LOG_FD",
	[VHU_REQ_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHU_REQ_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHU_REQ_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHU_REQ_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHU_REQ_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHU_REQ_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHU_REQ_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHU_REQ_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHU_REQ_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHU_REQ_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHU_REQ_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHU_REQ_SEND_RARP] = "SEND_RARP",
	[VHU_REQ_NET_SET_MTU] = "NET_SET_MTU",
	[VHU_REQ_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VHU_REQ_IOTLB_MSG] = "IOTLB_MSG",
	[VHU_REQ_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VHU_REQ_GET_CONFIG] = "GET_CONFIG",
	[VHU_REQ_SET_CONFIG] = "SET_CONFIG",
	[VHU_REQ_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
	[VHU_REQ_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
	[VHU_REQ_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VHU_REQ_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VHU_REQ_POSTCOPY_END] = "POSTCOPY_END",
	[VHU_REQ_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VHU_REQ_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VHU_REQ_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	[VHU_REQ_RESET_DEVICE] = "RESET_DEVICE",
	[VHU_REQ_VRING_KICK] = "VRING_KICK",
	[VHU_REQ_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHU_REQ_ADD_MEM_REG] = "ADD_MEM_REG",
	[VHU_REQ_REM_MEM_REG] = "REM_MEM_REG",
	[VHU_REQ_SET_STATUS] = "SET_STATUS",
	[VHU_REQ_GET_STATUS] = "GET_STATUS",
};

const char *vhu_req_name(uint32_t req)
{
	if (req >= VHU_REQ_MAX || !req_names[req])
		return "UNKNOWN";
	return req_names[req];
}

void vhu_msg_close_fds(struct vhu_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds && i < VHU_MAX_FDS; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->nfds = 0;
}

void vhu_rx_reset(struct vhu_rx *rx)
{
	vhu_msg_close_fds(&rx->msg);
	rx->got = 0;
	rx->start_ns = 0;
	rx->extra_fds = false;
}

enum pv_drop vhu_hdr_check(const struct vhu_hdr *hdr, bool reply)
{
	const uint32_t known = 0x3 | VHU_FLAG_REPLY | VHU_FLAG_NEED_REPLY;

	/* vhost-user.rst: bits 0-1 version (0x1), bit 2 reply, bit 3 need_reply */
	if ((hdr->flags & 0x3) != VHU_FLAG_VERSION || (hdr->flags & ~known))
		return PV_DROP_VHU_MSG_FLAGS;
	if (!!(hdr->flags & VHU_FLAG_REPLY) != reply)
		return PV_DROP_VHU_MSG_FLAGS;
	if (hdr->size > VHU_MAX_PAYLOAD)
		return PV_DROP_VHU_MSG_SIZE;
	return PV_DROP_NONE;
}

/* Keeps up to VHU_MAX_FDS received fds; closes the rest (message rejected). */
static void take_fds(struct vhu_rx *rx, struct msghdr *mh)
{
	struct cmsghdr *c;

	if (mh->msg_flags & MSG_CTRUNC)
		rx->extra_fds = true;	/* the kernel dropped what did not fit */
	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			/* CMSG_DATA is not int-aligned for UBSan's liking: memcpy */
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (rx->msg.nfds < VHU_MAX_FDS) {
				rx->msg.fds[rx->msg.nfds++] = fd;
			} else {
				close(fd);
				rx->extra_fds = true;
			}
		}
	}
}

int vhu_rx_step(int fd, struct vhu_rx *rx, bool reply, uint64_t now_ns,
		enum pv_drop *why)
{
	const size_t hlen = sizeof(struct vhu_hdr);

	*why = PV_DROP_NONE;
	for (;;) {
		/* room for more fds than allowed, so that excess is seen */
		char cbuf[CMSG_SPACE(2 * VHU_MAX_FDS * sizeof(int))];
		struct msghdr mh = { 0 };
		struct iovec iov;
		ssize_t n;

		if (rx->got < hlen) {
			iov.iov_base = (uint8_t *)&rx->msg.hdr + rx->got;
			iov.iov_len = hlen - rx->got;
		} else {
			size_t have = rx->got - hlen;

			if (have == rx->msg.hdr.size)
				goto complete;
			iov.iov_base = rx->msg.payload.bytes + have;
			iov.iov_len = rx->msg.hdr.size - have;
		}
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (rx->got)
				*why = PV_DROP_VHU_MSG_TRUNC;
			return -errno;
		}
		take_fds(rx, &mh);
		if (n == 0) {
			if (rx->got || rx->msg.nfds) {
				*why = PV_DROP_VHU_MSG_TRUNC;
				return -ECONNRESET;
			}
			return -EPIPE;
		}
		if (!rx->got)
			rx->start_ns = now_ns ? now_ns : 1;
		rx->got += (size_t)n;
		if (rx->got == hlen) {
			*why = vhu_hdr_check(&rx->msg.hdr, reply);
			if (*why != PV_DROP_NONE)
				return -EPROTO;
		}
	}
complete:
	if (rx->extra_fds) {
		*why = PV_DROP_VHU_MSG_FDS;
		return -EPROTO;
	}
	return 1;
}

int vhu_msg_send(int fd, const struct vhu_msg *msg, const int *fds,
		 unsigned nfds, int timeout_ms)
{
	char cbuf[CMSG_SPACE(VHU_MAX_FDS * sizeof(int))];
	size_t total = sizeof(msg->hdr) + msg->hdr.size, sent = 0;
	bool fds_sent = false;

	if (nfds > VHU_MAX_FDS || msg->hdr.size > VHU_MAX_PAYLOAD)
		return -EINVAL;
	while (sent < total) {
		struct msghdr mh = { 0 };
		struct iovec iov[2];
		unsigned niov = 0;
		ssize_t n;

		if (sent < sizeof(msg->hdr)) {
			iov[niov].iov_base = (uint8_t *)&msg->hdr + sent;
			iov[niov++].iov_len = sizeof(msg->hdr) - sent;
			if (msg->hdr.size) {
				iov[niov].iov_base = (void *)msg->payload.bytes;
				iov[niov++].iov_len = msg->hdr.size;
			}
		} else {
			size_t off = sent - sizeof(msg->hdr);

			iov[niov].iov_base = (uint8_t *)msg->payload.bytes + off;
			iov[niov++].iov_len = msg->hdr.size - off;
		}
		mh.msg_iov = iov;
		mh.msg_iovlen = niov;
		if (nfds && !fds_sent) {
			struct cmsghdr *c;

			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int r;

			if (errno == EINTR)
				continue;
			if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
			    timeout_ms <= 0)
				return -errno;
			r = poll(&p, 1, timeout_ms);
			if (r <= 0)
				return r < 0 ? -errno : -ETIMEDOUT;
			continue;
		}
		fds_sent = true;
		sent += (size_t)n;
		/* a backend reply must go out whole: no waiting on a peer */
		if (sent < total && timeout_ms <= 0)
			return -EAGAIN;
	}
	return 0;
}

bool vhu_fd_is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	if (fd < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}
