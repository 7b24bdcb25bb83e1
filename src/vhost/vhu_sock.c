// SPDX-License-Identifier: MIT
/*
 * vhu_sock.c - the backend's sockets: listen (one frontend at a time) or
 * connect and reconnect every second, the connection's read callback, the
 * stall timer, and the end of a session.
 *
 * Everything runs on the owner's pv_loop thread. A timerfd on the same loop
 * calls vhu_dev_tick() every VHU_TICK_NS, so neither a stalled peer nor a
 * lost server needs help from the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhu_internal.h"

#define VHU_TICK_NS		250000000ULL
/* Messages handled per readiness callback, so one peer cannot hog the loop. */
#define VHU_MSGS_PER_CALL	64

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vhu_dev_disconnect(struct vhu_dev *dev)
{
	bool had_conn = dev->conn_fd >= 0;

	/* 1. the dataplane lets go of every ring */
	vhu_stop_rings(dev, ~0ULL);
	if (had_conn) {
		pv_loop_del(dev->loop, dev->conn_fd);
		close_fd(&dev->conn_fd);
		dev->st.disconnects++;
		pv_log(PV_LOG_INFO, "port %s: vhost-user frontend disconnected",
		       dev->name);
	}
	vhu_rx_reset(&dev->rx);
	/* 2. the owner hears it before memory goes away */
	if ((had_conn || dev->session) && dev->ops.disconnected)
		dev->ops.disconnected(dev->opaque);
	/* 3. unmap, close every ring fd, forget the session */
	gmem_clear(&dev->gm);
	gmem_unmap_file(&dev->log);
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		struct vhu_vring_ctl *vr = &dev->vr[i];
		struct vring_stats keep = vr->vq.st;

		close_fd(&vr->kickfd);
		close_fd(&vr->callfd);
		close_fd(&vr->errfd);
		memset(vr, 0, sizeof(*vr));
		vr->vq.st = keep;	/* counters are cumulative over sessions */
		vr->kickfd = vr->callfd = vr->errfd = -1;
	}
	vhu_dev_session_init(dev);
	if (dev->client)
		dev->next_connect_ns = pv_now_ns() + VHU_RECONNECT_NS;
}

void vhu_dev_drop(struct vhu_dev *dev)
{
	vhu_dev_disconnect(dev);
}

static int dispatch_held(struct vhu_dev *dev);

static void on_conn(void *opaque, int fd, uint32_t events)
{
	struct vhu_dev *dev = opaque;

	(void)fd;
	(void)events;
	for (unsigned i = 0; i < VHU_MSGS_PER_CALL; i++) {
		enum pv_drop why;
		int rc = vhu_rx_step(dev->conn_fd, &dev->rx, false,
				     pv_now_ns(), &why);

		if (rc == 0)
			return;
		if (rc < 0) {
			if (why != PV_DROP_NONE)
				vhu_fault(dev, why, "connection: %s",
					  pv_drop_text(why));
			vhu_dev_disconnect(dev);
			return;
		}
		if (dispatch_held(dev) < 0)
			return;
	}
}

/*
 * Dispatches the complete message in dev->rx. A ring restart over the
 * frontend's rate (-EAGAIN from the dispatcher, the message untouched) is
 * held, and the connection is not read until vhu_dev_tick() finds a token:
 * the storm slows down to the sustained rate, nothing is refused. Returns
 * 0, 1 (held), or -1 (disconnected).
 */
static int dispatch_held(struct vhu_dev *dev)
{
	int rc = vhu_dev_dispatch(dev, &dev->rx.msg);

	if (rc == -EAGAIN) {
		/* not read again until unthrottle() dispatched this one */
		if (vhu_throttle_start(dev, dev->rx.msg.hdr.request))
			pv_loop_del(dev->loop, dev->conn_fd);
		return 1;
	}
	/* the message and its fds now belonged to the dispatcher */
	dev->rx.msg.nfds = 0;
	vhu_rx_reset(&dev->rx);
	if (rc < 0) {
		vhu_dev_disconnect(dev);
		return -1;
	}
	return 0;
}

/* Tick: a held message goes once a token is there; then reading resumes. */
static void unthrottle(struct vhu_dev *dev)
{
	if (!dev->throttled || dev->conn_fd < 0)
		return;
	dev->rx.start_ns = pv_now_ns();	/* held by us, not stalled by the peer */
	if (dispatch_held(dev) != 0)
		return;
	dev->throttled = false;
	if (pv_loop_add(dev->loop, dev->conn_fd, EPOLLIN, on_conn, dev) < 0) {
		vhu_dev_disconnect(dev);
		return;
	}
	on_conn(dev, dev->conn_fd, EPOLLIN);
}

static int attach(struct vhu_dev *dev, int fd)
{
	struct ucred peer = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t plen = sizeof(peer);
	int rc = pv_loop_add(dev->loop, fd, EPOLLIN, on_conn, dev);

	if (rc) {
		close(fd);
		return rc;
	}
	dev->conn_fd = fd;
	dev->st.connects++;
	dev->connect_failed_logged = false;
	/* who is on the other end: the socket's mode decided who may be */
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen);
	pv_log(PV_LOG_INFO,
	       "port %s: vhost-user frontend connected: peer pid %d uid %d gid %d",
	       dev->name, (int)peer.pid, (int)peer.uid, (int)peer.gid);
	return 0;
}

int vhu_dev_attach_fd(struct vhu_dev *dev, int fd)
{
	int fl;

	if (dev->conn_fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return attach(dev, fd);
}

static void on_accept(void *opaque, int fd, uint32_t events)
{
	struct vhu_dev *dev = opaque;
	int c;

	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0) {
		/*
		 * Out of fds (or kernel memory): the connection stays queued
		 * and the socket stays readable, so the loop would spin on
		 * it. Stop watching it until the next tick retries.
		 */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			dev->st.accept_errors++;
			pv_log_ratelimited(&dev->rl, PV_LOG_WARN,
					   "port %s: vhost-user: accept: %s: "
					   "not accepting for a tick", dev->name,
					   strerror(errno));
			if (pv_loop_del(dev->loop, fd) == 0)
				dev->accept_paused = true;
		}
		return;
	}
	if (dev->conn_fd >= 0) {
		/* one frontend at a time: the second one is turned away */
		dev->st.refused++;
		pv_log_ratelimited(&dev->rl, PV_LOG_WARN,
				   "port %s: vhost-user: second frontend refused",
				   dev->name);
		close(c);
		return;
	}
	attach(dev, c);
}

static int try_connect(struct vhu_dev *dev)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, dev->path, strlen(dev->path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		if (!dev->connect_failed_logged)
			pv_log(PV_LOG_INFO,
			       "port %s: vhost-user: connect %s: %s (retrying every second)",
			       dev->name, dev->path, strerror(-rc));
		dev->connect_failed_logged = true;
		return rc;
	}
	return attach(dev, fd);
}

void vhu_dev_tick(struct vhu_dev *dev, uint64_t now_ns)
{
	vhu_dev_mem_check(dev);
	if (dev->accept_paused && dev->listen_fd >= 0 &&
	    pv_loop_add(dev->loop, dev->listen_fd, EPOLLIN, on_accept, dev) == 0)
		dev->accept_paused = false;
	unthrottle(dev);
	if (dev->conn_fd >= 0 && dev->rx.got && now_ns > dev->rx.start_ns &&
	    now_ns - dev->rx.start_ns > VHU_MSG_TIMEOUT_NS) {
		vhu_fault(dev, PV_DROP_VHU_TIMEOUT,
			  "message incomplete after %llu ms (%zu bytes)",
			  (unsigned long long)(VHU_MSG_TIMEOUT_NS / 1000000),
			  dev->rx.got);
		vhu_dev_disconnect(dev);
	}
	if (dev->client && dev->conn_fd < 0 && now_ns >= dev->next_connect_ns) {
		if (try_connect(dev))
			dev->next_connect_ns = now_ns + VHU_RECONNECT_NS;
	}
}

static void on_timer(void *opaque, int fd, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	vhu_dev_tick(opaque, pv_now_ns());
}

static int make_listener(struct vhu_dev *dev, const struct vhu_dev_cfg *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t mode = cfg->sock_mode ? (mode_t)cfg->sock_mode : 0600;
	struct stat st;
	int fd, rc;

	/* a stale socket from a dead run is removed; any other file is not */
	if (lstat(dev->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			pv_err("port %s: %s exists and is not a socket", dev->name,
			       dev->path);
			return -EEXIST;
		}
		unlink(dev->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, dev->path, strlen(dev->path) + 1);
	/*
	 * bind() gives the file the socket inode's mode minus the umask, so
	 * the file is 0600 (or narrower) from its first instant whatever the
	 * umask; the group and a wider mode= follow, and nobody can connect
	 * before listen() anyway.
	 */
	if (fchmod(fd, 0600) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	if ((cfg->has_sock_gid && chown(dev->path, (uid_t)-1,
					(gid_t)cfg->sock_gid) < 0) ||
	    chmod(dev->path, mode) < 0 || listen(fd, 4) < 0) {
		int err = errno;

		unlink(dev->path);
		errno = err;
		goto fail;
	}
	if (cfg->has_sock_gid)
		pv_log(PV_LOG_INFO, "port %s: vhost-user: listening on %s (mode %04o, group %u)",
		       dev->name, dev->path, (unsigned)mode, cfg->sock_gid);
	else
		pv_log(PV_LOG_INFO, "port %s: vhost-user: listening on %s (mode %04o)",
		       dev->name, dev->path, (unsigned)mode);
	dev->listen_fd = fd;
	return 0;
fail:
	rc = -errno;
	pv_err("port %s: listen on %s: %s", dev->name, dev->path, strerror(-rc));
	close(fd);
	return rc;
}

struct vhu_dev *vhu_dev_create(const struct vhu_dev_cfg *cfg,
			       const struct vhu_dev_ops *ops, void *opaque,
			       struct pv_loop *loop)
{
	struct itimerspec its = {
		.it_interval = { 0, (long)VHU_TICK_NS },
		.it_value = { 0, (long)VHU_TICK_NS },
	};
	struct vhu_dev *dev;
	int rc = -EINVAL;

	if (!cfg || !cfg->path || !loop || cfg->max_queue_pairs < 1 ||
	    cfg->max_queue_pairs > VHU_MAX_QUEUE_PAIRS ||
	    strlen(cfg->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		pv_err("port %s: vhost-user: bad configuration",
		       cfg && cfg->name ? cfg->name : "?");
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(dev->name, sizeof(dev->name), "%.*s",
		 (int)sizeof(dev->name) - 1, cfg->name ? cfg->name : cfg->path);
	snprintf(dev->path, sizeof(dev->path), "%s", cfg->path);
	dev->client = cfg->client;
	dev->max_qp = cfg->max_queue_pairs;
	dev->offered = vhu_dev_offered_features(cfg);
	dev->offered_proto = VHU_PROTO_FEATURES_OFFERED;
	if (dev->offered & VIRTIO_BIT(VHOST_F_LOG_ALL))
		dev->offered_proto |= VIRTIO_BIT(VHU_PROTO_F_LOG_SHMFD);
	if (cfg->no_mem_slots)
		dev->offered_proto &= ~VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS);
	dev->cfg_mtu = cfg->mtu;
	if (ops)
		dev->ops = *ops;
	dev->opaque = opaque;
	dev->loop = loop;
	dev->listen_fd = dev->conn_fd = dev->timer_fd = -1;
	for (unsigned i = 0; i < VHU_MAX_FDS; i++)
		dev->rx.msg.fds[i] = -1;
	vhu_dev_session_init(dev);

	dev->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				       TFD_NONBLOCK | TFD_CLOEXEC);
	if (dev->timer_fd < 0) {
		rc = -errno;
		goto err;
	}
	if (timerfd_settime(dev->timer_fd, 0, &its, NULL) < 0) {
		rc = -errno;
		goto err_timer;
	}
	rc = pv_loop_add(loop, dev->timer_fd, EPOLLIN, on_timer, dev);
	if (rc)
		goto err_timer;
	if (dev->client) {
		/* no server yet is fine: the tick retries every second */
		if (try_connect(dev))
			dev->next_connect_ns = pv_now_ns() + VHU_RECONNECT_NS;
		return dev;
	}
	rc = make_listener(dev, cfg);
	if (rc)
		goto err_loop;
	rc = pv_loop_add(loop, dev->listen_fd, EPOLLIN, on_accept, dev);
	if (rc)
		goto err_listen;
	return dev;

err_listen:
	close(dev->listen_fd);
	unlink(dev->path);
err_loop:
	pv_loop_del(loop, dev->timer_fd);
err_timer:
	close(dev->timer_fd);
err:
	free(dev);
	errno = -rc;
	return NULL;
}

void vhu_dev_destroy(struct vhu_dev *dev)
{
	if (!dev)
		return;
	vhu_dev_disconnect(dev);
	if (dev->listen_fd >= 0) {
		pv_loop_del(dev->loop, dev->listen_fd);
		close_fd(&dev->listen_fd);
		unlink(dev->path);
	}
	if (dev->timer_fd >= 0) {
		pv_loop_del(dev->loop, dev->timer_fd);
		close_fd(&dev->timer_fd);
	}
	free(dev);
}

uint64_t vhu_dev_offered_features(const struct vhu_dev_cfg *cfg)
{
	uint64_t f = cfg->features;

	/* MQ and MAC follow the configuration, whatever the caller said */
	f &= ~(VIRTIO_BIT(VIRTIO_NET_F_MQ) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
	       VIRTIO_BIT(VIRTIO_NET_F_MTU));
	if (cfg->max_queue_pairs > 1)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MQ);
	if (cfg->has_mac)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MAC);
	/*
	 * QEMU masks VIRTIO_NET_F_MTU (its host_mtu) unless the backend
	 * offers it; the value is QEMU's, checked in NET_SET_MTU, which needs
	 * protocol features.
	 */
	if (f & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		f |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
	return f;
}
