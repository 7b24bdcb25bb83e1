// SPDX-License-Identifier: MIT
/*
 * vhu_frontend.c - the driver side of vhost-user (what pvnet guest uses):
 * connect or accept, negotiate, send the memory table and set up vrings.
 *
 * Blocking with poll() timeouts: it runs before the guest's dataplane does.
 * The backend is not trusted either (style §6.13): every reply must carry
 * the REPLY flag and version 1, answer the request we sent, have the exact
 * payload size we expect and no fds; anything else fails the call.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vhu_internal.h"

struct vhu_front {
	int fd;
	int lfd;		/* server mode: kept listening for a new backend */
	int timeout_ms;
	struct vhu_front_cfg cfg;	/* cfg.path points at path below */
	char path[108];
	uint64_t features;
	uint64_t backend_features;
	uint64_t proto;
	unsigned queue_num;
	unsigned queue_pairs;
	struct vhu_rx rx;
};

#define FRONT_PROTO_WANTED						\
	(VIRTIO_BIT(VHU_PROTO_F_MQ) | VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |	\
	 VIRTIO_BIT(VHU_PROTO_F_RARP) | VIRTIO_BIT(VHU_PROTO_F_NET_MTU))

static int deadline_left(uint64_t deadline_ns)
{
	uint64_t now = pv_now_ns();

	if (now >= deadline_ns)
		return 0;
	return (int)((deadline_ns - now + 999999) / 1000000);
}

/* Waits for one reply to @req with exactly @size payload bytes. */
static int recv_reply(struct vhu_front *f, uint32_t req, uint32_t size,
		      struct vhu_msg *out)
{
	uint64_t deadline = pv_now_ns() + (uint64_t)f->timeout_ms * 1000000;
	enum pv_drop why;
	int rc;

	vhu_rx_reset(&f->rx);
	for (;;) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		int left = deadline_left(deadline);

		rc = vhu_rx_step(f->fd, &f->rx, true, pv_now_ns(), &why);
		if (rc == 1)
			break;
		if (rc < 0) {
			pv_err("vhost-user frontend %s: reply to %s: %s",
			       f->path, vhu_req_name(req),
			       why != PV_DROP_NONE ? pv_drop_text(why) :
			       "connection closed");
			vhu_rx_reset(&f->rx);
			return rc == -EPIPE ? -ECONNRESET : rc;
		}
		if (!left || poll(&p, 1, left) == 0) {
			pv_err("vhost-user frontend %s: no reply to %s",
			       f->path, vhu_req_name(req));
			vhu_rx_reset(&f->rx);
			return -ETIMEDOUT;
		}
	}
	if (f->rx.msg.hdr.request != req || f->rx.msg.hdr.size != size ||
	    f->rx.msg.nfds) {
		pv_err("vhost-user frontend %s: bad reply to %s (request %u, size %u, %u fds)",
		       f->path, vhu_req_name(req), f->rx.msg.hdr.request,
		       f->rx.msg.hdr.size, f->rx.msg.nfds);
		vhu_rx_reset(&f->rx);
		return -EPROTO;
	}
	*out = f->rx.msg;
	out->nfds = 0;
	f->rx.msg.nfds = 0;
	vhu_rx_reset(&f->rx);
	return 0;
}

/*
 * Sends one request. GET_* requests (@reply_size > 0) wait for their answer
 * in @reply; others ask for an ack when REPLY_ACK was negotiated.
 */
static int request(struct vhu_front *f, uint32_t req, const void *payload,
		   uint32_t size, const int *fds, unsigned nfds,
		   struct vhu_msg *reply, uint32_t reply_size)
{
	struct vhu_msg m = { 0 };
	bool ack = !reply_size &&
		   (f->proto & VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK));
	int rc;

	m.hdr.request = req;
	m.hdr.flags = VHU_FLAG_VERSION | (ack ? VHU_FLAG_NEED_REPLY : 0);
	m.hdr.size = size;
	if (size)
		memcpy(m.payload.bytes, payload, size);
	rc = vhu_msg_send(f->fd, &m, fds, nfds, f->timeout_ms);
	if (rc) {
		pv_err("vhost-user frontend %s: send %s: %s", f->path,
		       vhu_req_name(req), strerror(-rc));
		return rc;
	}
	if (reply_size)
		return recv_reply(f, req, reply_size, reply);
	if (!ack)
		return 0;
	rc = recv_reply(f, req, sizeof(uint64_t), &m);
	if (rc)
		return rc;
	if (m.payload.u64) {
		pv_err("vhost-user frontend %s: backend rejected %s (%llu)",
		       f->path, vhu_req_name(req),
		       (unsigned long long)m.payload.u64);
		return -EIO;
	}
	return 0;
}

static int get_u64(struct vhu_front *f, uint32_t req, uint64_t *v)
{
	struct vhu_msg r;
	int rc = request(f, req, NULL, 0, NULL, 0, &r, sizeof(uint64_t));

	if (!rc)
		*v = r.payload.u64;
	return rc;
}

static int set_u64(struct vhu_front *f, uint32_t req, uint64_t v)
{
	return request(f, req, &v, sizeof(v), NULL, 0, NULL, 0);
}

static int sock_path(struct sockaddr_un *sa, const char *path)
{
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Client: connect, retrying while the backend's socket is not there yet. */
static int open_client(const char *path, int timeout_ms)
{
	uint64_t deadline = pv_now_ns() + (uint64_t)timeout_ms * 1000000;
	struct sockaddr_un sa;
	int rc = sock_path(&sa, path);

	if (rc)
		return rc;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timespec ts = { 0, 50 * 1000000 };

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		rc = -errno;
		close(fd);
		if ((rc != -ENOENT && rc != -ECONNREFUSED) ||
		    !deadline_left(deadline))
			return rc;
		nanosleep(&ts, NULL);
	}
}

/* Server: listen on @path (a stale socket is replaced). Returns the fd. */
static int open_listener(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int lfd, rc = sock_path(&sa, path);

	if (rc)
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1) < 0) {
		rc = -errno;
		close(lfd);
		unlink(path);
		return rc;
	}
	return lfd;
}

/* Server: waits up to @timeout_ms for one backend on @lfd. */
static int accept_one(int lfd, int timeout_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int rc = poll(&p, 1, timeout_ms), fd;

	if (rc <= 0)
		return rc < 0 ? -errno : -ETIMEDOUT;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int handshake(struct vhu_front *f, const struct vhu_front_cfg *cfg)
{
	uint64_t bf, bp = 0, qn = 1, want;
	int rc;

	rc = get_u64(f, VHU_REQ_GET_FEATURES, &bf);
	if (rc)
		return rc;
	f->backend_features = bf;
	if (bf & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		rc = get_u64(f, VHU_REQ_GET_PROTOCOL_FEATURES, &bp);
		if (rc)
			return rc;
		rc = set_u64(f, VHU_REQ_SET_PROTOCOL_FEATURES,
			     bp & FRONT_PROTO_WANTED);
		if (rc)
			return rc;
		/* acks apply from the next request on */
		f->proto = bp & FRONT_PROTO_WANTED;
	}
	if (f->proto & VIRTIO_BIT(VHU_PROTO_F_MQ)) {
		rc = get_u64(f, VHU_REQ_GET_QUEUE_NUM, &qn);
		if (rc)
			return rc;
	}
	if (qn < 1 || qn > VHU_MAX_QUEUE_PAIRS)
		qn = qn < 1 ? 1 : VHU_MAX_QUEUE_PAIRS;
	f->queue_num = (unsigned)qn;
	if (cfg->queue_pairs > f->queue_num ||
	    (cfg->queue_pairs > 1 && !(bf & VIRTIO_BIT(VIRTIO_NET_F_MQ)))) {
		pv_err("vhost-user frontend %s: backend has %u queue pairs, %u wanted",
		       f->path, f->queue_num, cfg->queue_pairs);
		return -EOPNOTSUPP;
	}
	rc = request(f, VHU_REQ_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (rc)
		return rc;
	want = (cfg->features & bf) |
	       (bf & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	if (cfg->queue_pairs <= 1)
		want &= ~VIRTIO_BIT(VIRTIO_NET_F_MQ);
	/* the layout is the caller's: packed only when it lays them out so */
	if (!cfg->packed)
		want &= ~VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	else
		want |= bf & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	rc = set_u64(f, VHU_REQ_SET_FEATURES, want);
	if (rc)
		return rc;
	f->features = want;
	return 0;
}

/* Opens the connection (connect, or accept on the kept listener). */
static int front_open(struct vhu_front *f, int timeout_ms)
{
	int fd = f->cfg.server ? accept_one(f->lfd, timeout_ms) :
				 open_client(f->path, timeout_ms);

	if (fd < 0) {
		pv_err("vhost-user frontend %s: %s: %s", f->path,
		       f->cfg.server ? "accept" : "connect", strerror(-fd));
		return fd;
	}
	f->fd = fd;
	return 0;
}

struct vhu_front *vhu_front_connect(const struct vhu_front_cfg *cfg,
				    int timeout_ms)
{
	struct vhu_front *f;

	if (!cfg || !cfg->path || cfg->queue_pairs < 1 ||
	    cfg->queue_pairs > VHU_MAX_QUEUE_PAIRS ||
	    !pv_is_pow2(cfg->queue_size) || cfg->queue_size > VRING_MAX_SIZE ||
	    strlen(cfg->path) >= sizeof(f->path)) {
		pv_err("vhost-user frontend: bad configuration");
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->fd = f->lfd = -1;
	f->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	f->cfg = *cfg;
	snprintf(f->path, sizeof(f->path), "%s", cfg->path);
	f->cfg.path = f->path;
	for (unsigned i = 0; i < VHU_MAX_FDS; i++)
		f->rx.msg.fds[i] = -1;
	if (cfg->server) {
		f->lfd = open_listener(f->path);
		if (f->lfd < 0) {
			pv_err("vhost-user frontend %s: listen: %s", f->path,
			       strerror(-f->lfd));
			free(f);
			return NULL;
		}
	}
	if (front_open(f, f->timeout_ms) || handshake(f, &f->cfg)) {
		vhu_front_destroy(f);
		return NULL;
	}
	return f;
}

int vhu_front_reconnect(struct vhu_front *f, int timeout_ms)
{
	int rc;

	vhu_rx_reset(&f->rx);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->features = f->proto = 0;
	f->queue_num = 0;
	rc = front_open(f, timeout_ms > 0 ? timeout_ms : f->timeout_ms);
	if (rc)
		return rc;
	rc = handshake(f, &f->cfg);
	if (rc) {
		close(f->fd);
		f->fd = -1;
	}
	return rc;
}

void vhu_front_destroy(struct vhu_front *f)
{
	if (!f)
		return;
	vhu_rx_reset(&f->rx);
	if (f->fd >= 0)
		close(f->fd);
	if (f->lfd >= 0) {
		close(f->lfd);
		unlink(f->path);
	}
	free(f);
}

uint64_t vhu_front_features(const struct vhu_front *f)
{
	return f->features;
}

uint64_t vhu_front_protocol_features(const struct vhu_front *f)
{
	return f->proto;
}

unsigned vhu_front_queue_num(const struct vhu_front *f)
{
	return f->queue_num;
}

int vhu_front_fd(const struct vhu_front *f)
{
	return f->fd;
}

int vhu_front_set_mem(struct vhu_front *f, int fd, void *base, uint64_t size)
{
	struct {
		uint32_t nregions;
		uint32_t padding;
		struct vhu_mem_region r;
	} mt = {
		.nregions = 1,
		.r = { .gpa = (uintptr_t)base, .size = size,
		       .uva = (uintptr_t)base, .mmap_offset = 0 },
	};

	return request(f, VHU_REQ_SET_MEM_TABLE, &mt, sizeof(mt), &fd, 1,
		       NULL, 0);
}

static int vring_file(struct vhu_front *f, uint32_t req, unsigned idx, int fd)
{
	uint64_t v = idx & VHU_VRING_IDX_MASK;

	if (fd < 0) {
		v |= VHU_VRING_NOFD;
		return request(f, req, &v, sizeof(v), NULL, 0, NULL, 0);
	}
	return request(f, req, &v, sizeof(v), &fd, 1, NULL, 0);
}

static int vring_state(struct vhu_front *f, uint32_t req, unsigned idx,
		       uint32_t num)
{
	struct vhu_vring_state s = { .index = idx, .num = num };

	return request(f, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

int vhu_front_send_rarp(struct vhu_front *f, const uint8_t *mac)
{
	uint8_t p[8] = { 0 };

	if (!(f->proto & VIRTIO_BIT(VHU_PROTO_F_RARP)))
		return 0;
	memcpy(p, mac, 6);
	return request(f, VHU_REQ_SEND_RARP, p, sizeof(p), NULL, 0, NULL, 0);
}

int vhu_front_set_mtu(struct vhu_front *f, unsigned mtu)
{
	uint64_t v = mtu;

	if (!(f->proto & VIRTIO_BIT(VHU_PROTO_F_NET_MTU)))
		return -EOPNOTSUPP;
	return request(f, VHU_REQ_NET_SET_MTU, &v, sizeof(v), NULL, 0, NULL, 0);
}

int vhu_front_enable_vring(struct vhu_front *f, unsigned idx, bool on)
{
	if (!(f->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		return 0;
	return vring_state(f, VHU_REQ_SET_VRING_ENABLE, idx, on);
}

int vhu_front_setup_vring(struct vhu_front *f, unsigned idx, uint16_t num,
			  void *desc, void *avail, void *used, int kickfd,
			  int callfd)
{
	/* §2.8.1: a packed ring starts at position 0 with wrap counter 1 */
	uint16_t base = (f->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED)) ?
			VRING_PACKED_WRAP : 0;

	return vhu_front_setup_vring_base(f, idx, num, base, desc, avail, used,
					  kickfd, callfd);
}

int vhu_front_setup_vring_base(struct vhu_front *f, unsigned idx,
			       uint16_t num, uint16_t base, void *desc,
			       void *avail, void *used, int kickfd, int callfd)
{
	struct vhu_vring_addr a = {
		.index = idx,
		.desc_uva = (uintptr_t)desc,
		.used_uva = (uintptr_t)used,
		.avail_uva = (uintptr_t)avail,
	};
	int rc;

	if (f->fd < 0 || idx >= 2 * f->queue_num)
		return -EINVAL;
	rc = vring_state(f, VHU_REQ_SET_VRING_NUM, idx, num);
	if (!rc)
		rc = vring_state(f, VHU_REQ_SET_VRING_BASE, idx, base);
	if (!rc)
		rc = request(f, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0,
			     NULL, 0);
	if (!rc)
		rc = vring_file(f, VHU_REQ_SET_VRING_CALL, idx, callfd);
	if (!rc)
		rc = vring_file(f, VHU_REQ_SET_VRING_KICK, idx, kickfd);
	if (!rc)
		rc = vhu_front_enable_vring(f, idx, true);
	return rc;
}

int vhu_front_get_vring_base(struct vhu_front *f, unsigned idx,
			     uint16_t *base)
{
	struct vhu_vring_state s = { .index = idx };
	struct vhu_msg r;
	int rc;

	rc = request(f, VHU_REQ_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &r,
		     sizeof(struct vhu_vring_state));
	if (rc)
		return rc;
	if (r.payload.state.index != idx || r.payload.state.num > UINT16_MAX) {
		pv_err("vhost-user frontend %s: GET_VRING_BASE reply for vring %u: index %u base %u",
		       f->path, idx, r.payload.state.index,
		       r.payload.state.num);
		return -EPROTO;
	}
	*base = (uint16_t)r.payload.state.num;
	return 0;
}
