// SPDX-License-Identifier: MIT
/*
 * test_vhost_backend.c - the vhost-user backend over real unix sockets and
 * memfds: a full handshake by pvnet's own frontend, then every hostile input
 * of issue 3 item 6 at the message level, each asserting the exact fault
 * counter, the reply or the close, and that a fresh frontend is served after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvnet/log.h"
#include "pvnet/loop.h"
#include "pvnet/vhost.h"
#include "pvnet/virtio.h"

#define MEM_LEN		(1u << 20)
#define MEM_UVA		0x7f0000000000ULL
#define QSIZE		256

struct fx {
	struct pv_loop *loop;
	struct vhu_dev *dev;
	char path[80];
	bool running[VHU_MAX_VRINGS];
	unsigned qs_on, qs_off, disc;
	unsigned quiesces;		/* grace periods the backend asked for */
	unsigned unquiesced;		/* rings stopped without one yet */
	int watch_fd;			/* checked open at each quiesce, or -1 */
	bool watch_fd_open;
	int memfd;
	uint8_t *mem;
	unsigned rarps;			/* announce() calls */
	uint8_t rarp_mac[6];
	pthread_t th;
	volatile int stop;
};

static void on_queue_state(void *opaque, unsigned idx, bool on)
{
	struct fx *fx = opaque;

	assert_true(idx < VHU_MAX_VRINGS);
	assert_true(fx->running[idx] != on);	/* strictly alternating */
	fx->running[idx] = on;
	if (on) {
		fx->qs_on++;
	} else {
		fx->qs_off++;
		fx->unquiesced++;
	}
}

/* The dataplane's grace period: every stop so far is now covered. */
static void on_quiesce(void *opaque)
{
	struct fx *fx = opaque;

	fx->quiesces++;
	fx->unquiesced = 0;
	if (fx->watch_fd >= 0)
		fx->watch_fd_open = fcntl(fx->watch_fd, F_GETFD) >= 0;
}

static void on_disconnected(void *opaque)
{
	struct fx *fx = opaque;

	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++)
		assert_false(fx->running[i]);
	fx->disc++;
}

static void on_announce(void *opaque, const uint8_t *mac)
{
	struct fx *fx = opaque;

	fx->rarps++;
	memcpy(fx->rarp_mac, mac, 6);
}

static const struct vhu_dev_ops ops = {
	.queue_state = on_queue_state,
	.quiesce = on_quiesce,
	.disconnected = on_disconnected,
	.announce = on_announce,
};

/* Features the next setup() offers on top of the default (setup_mig). */
static uint64_t extra_features;
/* The next setup()'s MTU limit (setup_mtu; 0: none). */
static uint16_t setup_mtu_limit;

static int setup(void **state)
{
	static unsigned seq;
	struct fx *fx = calloc(1, sizeof(*fx));
	struct vhu_dev_cfg cfg = {
		.name = "vm-test",
		.max_queue_pairs = 2,
		.features = VHU_DEV_FEATURES_DEFAULT | extra_features,
		.has_mac = true,
		.mtu = setup_mtu_limit,
	};

	pv_log_set_level(PV_LOG_ERR);
	assert_non_null(fx);
	fx->watch_fd = -1;
	snprintf(fx->path, sizeof(fx->path), "/tmp/pvnet-tvhu-%d-%u.sock",
		 (int)getpid(), seq++);
	cfg.path = fx->path;
	fx->loop = pv_loop_create();
	assert_non_null(fx->loop);
	fx->dev = vhu_dev_create(&cfg, &ops, fx, fx->loop);
	assert_non_null(fx->dev);
	fx->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(fx->memfd >= 0);
	assert_int_equal(ftruncate(fx->memfd, MEM_LEN), 0);
	fx->mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fx->memfd, 0);
	assert_true(fx->mem != MAP_FAILED);
	*state = fx;
	return 0;
}

/* A device offering live migration (LOG_ALL, hence LOG_SHMFD). */
static int setup_mig(void **state)
{
	int rc;

	extra_features = VHU_DEV_FEATURES_MIGRATION;
	rc = setup(state);
	extra_features = 0;
	return rc;
}

/* A device whose port says mtu=1450 (a vxlan overlay's). */
static int setup_mtu(void **state)
{
	int rc;

	setup_mtu_limit = 1450;
	rc = setup(state);
	setup_mtu_limit = 0;
	return rc;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	vhu_dev_destroy(fx->dev);
	pv_loop_destroy(fx->loop);
	munmap(fx->mem, MEM_LEN);
	close(fx->memfd);
	assert_int_equal(access(fx->path, F_OK), -1);
	free(fx);
	return 0;
}

/*
 * Runs the loop until nothing is ready. Unix sockets deliver synchronously:
 * once send(), connect() or close() returned, the backend's side is ready.
 */
static void pump(struct fx *fx)
{
	for (int i = 0; i < 200; i++)
		if (pv_loop_run_once(fx->loop, 0) <= 0)
			break;
}

static void *bg_loop(void *arg)
{
	struct fx *fx = arg;

	while (!__atomic_load_n(&fx->stop, __ATOMIC_ACQUIRE))
		pv_loop_run_once(fx->loop, 10);
	return NULL;
}

static void bg_start(struct fx *fx)
{
	fx->stop = 0;
	assert_int_equal(pthread_create(&fx->th, NULL, bg_loop, fx), 0);
}

static void bg_stop(struct fx *fx)
{
	__atomic_store_n(&fx->stop, 1, __ATOMIC_RELEASE);
	pthread_join(fx->th, NULL);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static uint64_t fault(struct fx *fx, enum pv_drop why)
{
	return vhu_dev_stats(fx->dev)->faults.n[why];
}

static uint64_t faults_total(struct fx *fx)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < PV_DROP_MAX; i++)
		n += fault(fx, i);
	return n;
}

/* ---- a raw, scriptable frontend ---- */

static int raw_connect(struct fx *fx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, fx->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	pump(fx);
	return fd;
}

static void send_bytes(int fd, const void *buf, size_t len, const int *fds,
		       unsigned nfds)
{
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
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
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_msg(struct fx *fx, int fd, uint32_t req, uint32_t flags,
		     const void *payload, uint32_t size, const int *fds,
		     unsigned nfds)
{
	uint8_t buf[12 + 1024];
	struct vhu_hdr h = { .request = req, .flags = flags, .size = size };

	assert_true(size <= 1024);
	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + 12, payload, size);
	send_bytes(fd, buf, 12 + size, fds, nfds);
	pump(fx);
}

static void send_u64(struct fx *fx, int fd, uint32_t req, uint32_t flags,
		     uint64_t v)
{
	send_msg(fx, fd, req, flags, &v, 8, NULL, 0);
}

static void send_state(struct fx *fx, int fd, uint32_t req, uint32_t flags,
		       uint32_t idx, uint32_t num)
{
	struct vhu_vring_state s = { .index = idx, .num = num };

	send_msg(fx, fd, req, flags, &s, sizeof(s), NULL, 0);
}

/* Reads one reply (already sent: the loop was pumped); returns its size. */
static uint32_t recv_reply(int fd, uint32_t req, void *payload, size_t max)
{
	struct vhu_hdr h;
	ssize_t n = recv(fd, &h, sizeof(h), MSG_DONTWAIT);

	assert_int_equal(n, (ssize_t)sizeof(h));
	assert_int_equal(h.request, req);
	assert_int_equal(h.flags, VHU_FLAG_VERSION | VHU_FLAG_REPLY);
	assert_true(h.size <= max);
	if (h.size)
		assert_int_equal(recv(fd, payload, h.size, MSG_DONTWAIT),
				 (ssize_t)h.size);
	return h.size;
}

static uint64_t recv_u64(int fd, uint32_t req)
{
	uint64_t v = ~0ULL;

	assert_int_equal(recv_reply(fd, req, &v, sizeof(v)), 8);
	return v;
}

static void assert_no_reply(int fd)
{
	char c;

	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void assert_closed(struct fx *fx, int fd)
{
	char c[64];

	pump(fx);
	/* any reply bytes first, then end of stream */
	while (recv(fd, c, sizeof(c), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(recv(fd, c, sizeof(c), MSG_DONTWAIT), 0);
	assert_false(vhu_dev_connected(fx->dev));
	close(fd);
}

#define ACK	(VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY)
#define REQ	VHU_FLAG_VERSION

/* Negotiates (REPLY_ACK when @ack) and sends a one-region memory table. */
static int raw_handshake(struct fx *fx, bool ack)
{
	int fd = raw_connect(fx);
	uint64_t f, p;
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r;
	} mt = { 1, 0, { 0, MEM_LEN, MEM_UVA, 0 } };

	send_msg(fx, fd, VHU_REQ_GET_FEATURES, REQ, NULL, 0, NULL, 0);
	f = recv_u64(fd, VHU_REQ_GET_FEATURES);
	assert_true(f & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	send_msg(fx, fd, VHU_REQ_GET_PROTOCOL_FEATURES, REQ, NULL, 0, NULL, 0);
	p = recv_u64(fd, VHU_REQ_GET_PROTOCOL_FEATURES);
	assert_true(p & VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK));
	send_u64(fx, fd, VHU_REQ_SET_PROTOCOL_FEATURES, REQ,
		 ack ? VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) : 0);
	send_msg(fx, fd, VHU_REQ_SET_OWNER, REQ, NULL, 0, NULL, 0);
	send_u64(fx, fd, VHU_REQ_SET_FEATURES, REQ,
		 VIRTIO_BIT(VIRTIO_F_VERSION_1) |
		 VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
		 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ack ? ACK : REQ, &mt,
		 sizeof(mt), &fx->memfd, 1);
	if (ack)
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 0);
	assert_no_reply(fd);
	assert_true(vhu_dev_connected(fx->dev));
	return fd;
}

/* Ring @idx laid out at 64 KB * idx in guest memory. */
static struct vhu_vring_addr ring_addr(unsigned idx)
{
	uint64_t base = MEM_UVA + 0x10000ULL * idx;
	struct vhu_vring_addr a = {
		.index = idx,
		.desc_uva = base,
		.avail_uva = base + 0x1000,
		.used_uva = base + 0x2000,
	};

	return a;
}

static void raw_vring(struct fx *fx, int fd, unsigned idx, bool ack)
{
	struct vhu_vring_addr a = ring_addr(idx);
	uint32_t fl = ack ? ACK : REQ;
	uint64_t u = idx;
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);

	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, fl, idx, QSIZE);
	if (ack)
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 0);
	send_state(fx, fd, VHU_REQ_SET_VRING_BASE, fl, idx, 0);
	if (ack)
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_BASE), 0);
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, fl, &a, sizeof(a), NULL, 0);
	if (ack)
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 0);
	send_msg(fx, fd, VHU_REQ_SET_VRING_CALL, fl, &u, 8, &call, 1);
	if (ack)
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_CALL), 0);
	send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, fl, &u, 8, &kick, 1);
	if (ack)
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_KICK), 0);
	send_state(fx, fd, VHU_REQ_SET_VRING_ENABLE, fl, idx, 1);
	if (ack)
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ENABLE), 0);
	close(kick);
	close(call);
}

/* A fresh, well-behaved frontend is served after whatever came before. */
static void assert_fresh_ok(struct fx *fx)
{
	uint64_t before = faults_total(fx);
	int fd = raw_handshake(fx, true);

	raw_vring(fx, fd, 0, true);
	assert_true(fx->running[0]);
	assert_true(vhu_dev_vring_running(fx->dev, 0));
	close(fd);
	pump(fx);
	assert_false(vhu_dev_connected(fx->dev));
	assert_false(fx->running[0]);
	assert_int_equal(faults_total(fx), before);
}

/* ---- the good path ---- */

static void front_handshake_runs_rings(void **state)
{
	struct fx *fx = *state;
	struct vhu_front_cfg cfg = {
		.path = fx->path,
		.queue_pairs = 2,
		.features = VHU_DEV_FEATURES_DEFAULT |
			    VIRTIO_BIT(VIRTIO_NET_F_MQ),
		.queue_size = QSIZE,
	};
	int fds0 = count_fds(), kick[4], call[4];
	struct vhu_front *f;
	uint16_t base = 99;

	bg_start(fx);
	f = vhu_front_connect(&cfg, 2000);
	assert_non_null(f);
	assert_true(vhu_front_protocol_features(f) &
		    VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK));
	assert_int_equal(vhu_front_queue_num(f), 2);
	assert_int_equal(vhu_front_set_mem(f, fx->memfd, fx->mem, MEM_LEN), 0);
	for (unsigned i = 0; i < 4; i++) {
		uint8_t *r = fx->mem + 0x10000 * i;

		kick[i] = eventfd(0, EFD_CLOEXEC);
		call[i] = eventfd(0, EFD_CLOEXEC);
		assert_int_equal(vhu_front_setup_vring(f, i, QSIZE, r,
						       r + 0x1000, r + 0x2000,
						       kick[i], call[i]), 0);
	}
	bg_stop(fx);

	for (unsigned i = 0; i < 4; i++) {
		struct vring *vq = vhu_dev_vring(fx->dev, i);

		assert_true(fx->running[i]);
		assert_non_null(vq);
		assert_int_equal(vq->state, VRING_RUNNING);
		assert_int_equal(vq->size, QSIZE);
		/* the backend's own mapping of the same guest page */
		fx->mem[0x10000 * i] = (uint8_t)(0xa0 + i);
		assert_int_equal(((uint8_t *)vq->desc)[0], 0xa0 + i);
		assert_true(vhu_dev_kickfd(fx->dev, i) >= 0);
		assert_true(vhu_dev_callfd(fx->dev, i) >= 0);
	}
	assert_false(fx->running[4]);
	assert_null(vhu_dev_vring(fx->dev, VHU_MAX_VRINGS));
	assert_int_equal(vhu_dev_features(fx->dev), vhu_front_features(f));
	assert_true(vhu_dev_features(fx->dev) & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_true(vhu_dev_features(fx->dev) & VIRTIO_BIT(VIRTIO_NET_F_MQ));
	assert_true(vhu_dev_features(fx->dev) &
		    VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_int_equal(vhu_dev_queue_pairs(fx->dev), 2);
	assert_int_equal(faults_total(fx), 0);

	/* an interrupt goes out through the frontend's call eventfd */
	vhu_dev_call(fx->dev, 1);
	{
		eventfd_t v = 0;

		assert_int_equal(eventfd_read(call[1], &v), 0);
		assert_int_equal(v, 1);
	}

	bg_start(fx);
	assert_int_equal(vhu_front_get_vring_base(f, 0, &base), 0);
	bg_stop(fx);
	assert_int_equal(base, 0);
	assert_false(fx->running[0]);
	assert_true(fx->running[1]);
	assert_int_equal(vhu_dev_kickfd(fx->dev, 0), -1);

	/* the same vring again, then goodbye */
	bg_start(fx);
	assert_int_equal(vhu_front_setup_vring(f, 0, QSIZE, fx->mem,
					       fx->mem + 0x1000,
					       fx->mem + 0x2000, kick[0],
					       call[0]), 0);
	bg_stop(fx);
	assert_true(fx->running[0]);
	vhu_front_destroy(f);
	pump(fx);
	assert_false(vhu_dev_connected(fx->dev));
	assert_int_equal(fx->disc, 1);
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++)
		assert_false(fx->running[i]);
	for (unsigned i = 0; i < 4; i++) {
		close(kick[i]);
		close(call[i]);
	}
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(faults_total(fx), 0);
	assert_int_equal(vhu_dev_stats(fx->dev)->connects, 1);
	assert_int_equal(vhu_dev_stats(fx->dev)->disconnects, 1);
}

/* After the handshake, a chain the driver posts is popped by the backend
 * through its own mapping, and the used entry comes back with a call. */
static void front_back_data_path(void **state)
{
	struct fx *fx = *state;
	struct vhu_front_cfg cfg = {
		.path = fx->path, .queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT, .queue_size = QSIZE,
	};
	static struct vring drv;
	static struct vring_elem elem;
	uint8_t *r = fx->mem + 0x10000, *pkt = fx->mem + 0x80000;
	struct vring_buf b = { (uintptr_t)pkt, 6 };
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	struct vhu_front *f;
	struct vring *vq;
	void *cookie = NULL;
	uint32_t len = 99;
	eventfd_t v = 0;

	bg_start(fx);
	f = vhu_front_connect(&cfg, 2000);
	assert_non_null(f);
	assert_int_equal(vhu_front_set_mem(f, fx->memfd, fx->mem, MEM_LEN), 0);
	memset(&drv, 0, sizeof(drv));
	assert_int_equal(vring_setup(&drv, QSIZE, r, r + 0x1000, r + 0x2000,
				     vhu_front_features(f), NULL), 0);
	vring_drv_init(&drv);
	assert_int_equal(vhu_front_setup_vring(f, 1, QSIZE, r, r + 0x1000,
					       r + 0x2000, kick, call), 0);
	bg_stop(fx);
	assert_true(fx->running[1]);

	memcpy(pkt, "pvnet!", 6);
	assert_int_equal(vring_drv_add(&drv, &b, 1, 0, pkt), 0);
	vring_drv_publish(&drv);
	vq = vhu_dev_vring(fx->dev, 1);
	assert_int_equal(vring_pop_burst(vq, &elem, 1, VRING_DIR_OUT), 1);
	assert_int_equal(elem.out_num, 1);
	assert_int_equal(elem.out_len, 6);
	/* the backend's own mapping, not the frontend's pointer */
	assert_ptr_not_equal(elem.iov[0].iov_base, pkt);
	assert_memory_equal(elem.iov[0].iov_base, "pvnet!", 6);
	vring_push(vq, elem.head, 0);
	vring_flush(vq);
	vhu_dev_call(fx->dev, 1);
	assert_int_equal(eventfd_read(call, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(vring_drv_get_used(&drv, &cookie, &len, 1), 1);
	assert_ptr_equal(cookie, pkt);
	assert_int_equal(len, 0);

	/* GET_VRING_BASE reports where the device got to */
	bg_start(fx);
	{
		uint16_t base = 0;

		assert_int_equal(vhu_front_get_vring_base(f, 1, &base), 0);
		assert_int_equal(base, 1);
	}
	bg_stop(fx);
	vhu_front_destroy(f);
	pump(fx);
	vring_teardown(&drv);
	close(kick);
	close(call);
	assert_int_equal(faults_total(fx), 0);
}

/* A frontend that wants more queue pairs than offered gives up cleanly. */
static void front_too_many_queues(void **state)
{
	struct fx *fx = *state;
	struct vhu_front_cfg cfg = {
		.path = fx->path, .queue_pairs = 3,
		.features = VHU_DEV_FEATURES_DEFAULT |
			    VIRTIO_BIT(VIRTIO_NET_F_MQ),
		.queue_size = QSIZE,
	};

	bg_start(fx);
	assert_null(vhu_front_connect(&cfg, 2000));
	bg_stop(fx);
	pump(fx);
	assert_false(vhu_dev_connected(fx->dev));
	assert_int_equal(faults_total(fx), 0);
	assert_fresh_ok(fx);
}

static void front_server_mode(void **state)
{
	struct fx *fx = *state;
	char path[120];
	struct vhu_front_cfg cfg = {
		.server = true, .queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT, .queue_size = 64,
	};
	struct vhu_dev_cfg dcfg = {
		.name = "vm-client", .client = true, .max_queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT,
	};
	struct vhu_dev *cdev;
	struct vhu_front *f;

	snprintf(path, sizeof(path), "%s.srv", fx->path);
	cfg.path = path;
	dcfg.path = path;
	/* the backend as client starts first: no server yet is fine */
	cdev = vhu_dev_create(&dcfg, NULL, NULL, fx->loop);
	assert_non_null(cdev);
	assert_false(vhu_dev_connected(cdev));
	bg_start(fx);
	/* the timerfd reconnects within about a second */
	f = vhu_front_connect(&cfg, 5000);
	bg_stop(fx);
	assert_non_null(f);
	assert_true(vhu_dev_connected(cdev));
	assert_true(vhu_dev_features(cdev) & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	vhu_front_destroy(f);
	pump(fx);
	assert_false(vhu_dev_connected(cdev));
	vhu_dev_destroy(cdev);
}

/*
 * pvnet as the client, the frontend as the server: the backend restarts (a
 * new device on the same path), reconnects by itself, the frontend
 * renegotiates on its kept socket and the ring resumes where it was.
 */
static void backend_restart_resumes(void **state)
{
	struct fx *fx = *state;
	char path[120];
	struct vhu_front_cfg cfg = {
		.server = true, .queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT, .queue_size = QSIZE,
	};
	struct vhu_dev_cfg dcfg = {
		.name = "vm-client", .client = true, .max_queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT,
	};
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	uint8_t *r = fx->mem;
	struct vhu_dev *cdev;
	struct vhu_front *f;
	char c;

	snprintf(path, sizeof(path), "%s.rs", fx->path);
	cfg.path = path;
	dcfg.path = path;
	cdev = vhu_dev_create(&dcfg, &ops, fx, fx->loop);
	assert_non_null(cdev);
	bg_start(fx);
	f = vhu_front_connect(&cfg, 5000);
	assert_non_null(f);
	assert_int_equal(vhu_front_set_mem(f, fx->memfd, fx->mem, MEM_LEN), 0);
	assert_int_equal(vhu_front_setup_vring(f, 1, QSIZE, r, r + 0x1000,
					       r + 0x2000, kick, call), 0);
	bg_stop(fx);
	assert_true(fx->running[1]);

	/* the backend goes away: the frontend sees its connection end */
	vhu_dev_destroy(cdev);
	assert_false(fx->running[1]);
	assert_int_equal(recv(vhu_front_fd(f), &c, 1, MSG_DONTWAIT), 0);
	assert_int_equal(access(path, F_OK), 0);	/* still listening */

	cdev = vhu_dev_create(&dcfg, &ops, fx, fx->loop);
	assert_non_null(cdev);
	bg_start(fx);
	assert_int_equal(vhu_front_reconnect(f, 5000), 0);
	assert_int_equal(vhu_front_set_mem(f, fx->memfd, fx->mem, MEM_LEN), 0);
	assert_int_equal(vhu_front_setup_vring_base(f, 1, QSIZE, 77, r,
						    r + 0x1000, r + 0x2000,
						    kick, call), 0);
	bg_stop(fx);
	assert_true(fx->running[1]);
	assert_int_equal(vhu_dev_vring(cdev, 1)->last_avail, 77);
	assert_int_equal(vhu_dev_stats(cdev)->faults.n[PV_DROP_NONE], 0);

	vhu_front_destroy(f);
	assert_int_equal(access(path, F_OK), -1);
	pump(fx);
	assert_false(vhu_dev_connected(cdev));
	vhu_dev_destroy(cdev);
	close(kick);
	close(call);
}

static void client_mode_reconnects(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhu_dev_cfg dcfg = {
		.name = "vm-client", .client = true, .max_queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT,
	};
	struct vhu_dev *cdev;
	int lfd, c;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.cli", fx->path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	dcfg.path = sa.sun_path;
	cdev = vhu_dev_create(&dcfg, NULL, NULL, fx->loop);
	assert_non_null(cdev);
	assert_true(vhu_dev_connected(cdev));
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	close(c);
	pump(fx);
	assert_false(vhu_dev_connected(cdev));
	/* not before a second has passed, then again */
	vhu_dev_tick(cdev, pv_now_ns());
	assert_false(vhu_dev_connected(cdev));
	vhu_dev_tick(cdev, pv_now_ns() + 2000000000ULL);
	assert_true(vhu_dev_connected(cdev));
	assert_int_equal(vhu_dev_stats(cdev)->connects, 2);
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	close(c);
	vhu_dev_destroy(cdev);
	close(lfd);
	unlink(sa.sun_path);
}

static void second_frontend_refused(void **state)
{
	struct fx *fx = *state;
	int a = raw_handshake(fx, false), b = raw_connect(fx);
	char c;

	pump(fx);
	assert_int_equal(recv(b, &c, 1, MSG_DONTWAIT), 0);
	assert_int_equal(vhu_dev_stats(fx->dev)->refused, 1);
	assert_true(vhu_dev_connected(fx->dev));
	close(b);
	close(a);
	pump(fx);
	assert_fresh_ok(fx);
}

static void mem_table_change_restarts_rings(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r[2];
	} mt = { 2, 0, { { 0, MEM_LEN / 2, MEM_UVA, 0 },
			 { MEM_LEN / 2, MEM_LEN / 2, MEM_UVA + MEM_LEN / 2,
			   MEM_LEN / 2 } } };
	int fds[2] = { fx->memfd, fx->memfd };
	struct vring *vq = vhu_dev_vring(fx->dev, 1);
	void *old_desc;

	raw_vring(fx, fd, 1, true);
	assert_true(fx->running[1]);
	old_desc = vq->desc;
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, sizeof(mt), fds, 2);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 0);
	assert_true(fx->running[1]);
	assert_int_equal(fx->qs_on, 2);
	assert_int_equal(fx->qs_off, 1);
	/* the hva was derived again from the stored uva */
	assert_ptr_not_equal(vq->desc, old_desc);
	assert_int_equal(faults_total(fx), 0);

	/* CONFIGURE_MEM_SLOTS path: remove and add back one region */
	send_msg(fx, fd, VHU_REQ_GET_MAX_MEM_SLOTS, REQ, NULL, 0, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_GET_MAX_MEM_SLOTS),
			 GMEM_MAX_REGIONS);
	{
		struct vhu_mem_single s = { 0, mt.r[1] };

		/* QEMU sends the fd with REM_MEM_REG: closed unused */
		send_msg(fx, fd, VHU_REQ_REM_MEM_REG, ACK, &s, sizeof(s),
			 &fx->memfd, 1);
		assert_int_equal(recv_u64(fd, VHU_REQ_REM_MEM_REG), 0);
		assert_true(fx->running[1]);	/* ring 1 is in region 0 */
		send_msg(fx, fd, VHU_REQ_REM_MEM_REG, ACK, &s, sizeof(s),
			 NULL, 0);
		assert_int_equal(recv_u64(fd, VHU_REQ_REM_MEM_REG), 1);
		assert_int_equal(fault(fx, PV_DROP_VHU_MEM_REGION), 1);
		send_msg(fx, fd, VHU_REQ_ADD_MEM_REG, ACK, &s, sizeof(s),
			 &fx->memfd, 1);
		assert_int_equal(recv_u64(fd, VHU_REQ_ADD_MEM_REG), 0);
		/* a different region over it overlaps */
		s.region.size -= 4096;
		send_msg(fx, fd, VHU_REQ_ADD_MEM_REG, ACK, &s, sizeof(s),
			 &fx->memfd, 1);
		assert_int_equal(recv_u64(fd, VHU_REQ_ADD_MEM_REG), 1);
		assert_int_equal(fault(fx, PV_DROP_VHU_MEM_REGION), 2);
	}
	/* RESET_DEVICE stops everything; the connection stays */
	send_msg(fx, fd, VHU_REQ_RESET_DEVICE, ACK, NULL, 0, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_RESET_DEVICE), 0);
	assert_false(fx->running[1]);
	assert_true(vhu_dev_connected(fx->dev));
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

static void misc_requests(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	uint64_t rarp = 0x5254001234ULL;

	send_msg(fx, fd, VHU_REQ_GET_QUEUE_NUM, REQ, NULL, 0, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_GET_QUEUE_NUM), 2);
	send_u64(fx, fd, VHU_REQ_SEND_RARP, ACK, rarp);
	assert_int_equal(recv_u64(fd, VHU_REQ_SEND_RARP), 0);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 1500);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 0);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 10);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_VALUE), 1);
	send_u64(fx, fd, VHU_REQ_SET_STATUS, ACK, 0xf);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_STATUS), 0);
	send_msg(fx, fd, VHU_REQ_GET_STATUS, REQ, NULL, 0, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_GET_STATUS), 0xf);
	/* NOFD kick: a polled ring runs without a kick fd */
	{
		struct vhu_vring_addr a = ring_addr(2);
		uint64_t u = 2 | 0x100;

		send_state(fx, fd, VHU_REQ_SET_VRING_NUM, REQ, 2, 64);
		send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, REQ, &a, sizeof(a),
			 NULL, 0);
		send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, REQ, &u, 8, NULL, 0);
		assert_false(fx->running[2]);	/* disabled: protocol features */
		send_state(fx, fd, VHU_REQ_SET_VRING_ENABLE, ACK, 2, 1);
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ENABLE), 0);
		assert_true(fx->running[2]);
		assert_int_equal(vhu_dev_kickfd(fx->dev, 2), -1);
		send_state(fx, fd, VHU_REQ_SET_VRING_ENABLE, ACK, 2, 0);
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ENABLE), 0);
		assert_false(fx->running[2]);
	}
	send_msg(fx, fd, VHU_REQ_RESET_OWNER, REQ, NULL, 0, NULL, 0);
	assert_no_reply(fd);
	assert_true(vhu_dev_connected(fx->dev));
	assert_int_equal(vhu_dev_features(fx->dev), 0);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/* Without protocol features a ring is enabled at once (vhost-user.rst). */
static void no_protocol_features_enabled_at_once(void **state)
{
	struct fx *fx = *state;
	int fd = raw_connect(fx);
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r;
	} mt = { 1, 0, { 0, MEM_LEN, MEM_UVA, 0 } };
	struct vhu_vring_addr a = ring_addr(0);
	int kick = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 0;

	send_u64(fx, fd, VHU_REQ_SET_FEATURES, REQ,
		 VIRTIO_BIT(VIRTIO_F_VERSION_1));
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, REQ, &mt, sizeof(mt),
		 &fx->memfd, 1);
	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, REQ, 0, QSIZE);
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, REQ, &a, sizeof(a), NULL, 0);
	send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, REQ, &u, 8, &kick, 1);
	assert_true(fx->running[0]);
	assert_int_equal(faults_total(fx), 0);
	close(kick);
	close(fd);
	pump(fx);
	assert_false(fx->running[0]);
	assert_fresh_ok(fx);
}

/* ---- hostile frontends: framing ---- */

static void truncated_message(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, false);
	struct vhu_hdr h = { VHU_REQ_SET_FEATURES, REQ, 8 };
	uint8_t buf[16] = { 0 };

	memcpy(buf, &h, sizeof(h));
	send_bytes(fd, buf, 12 + 4, NULL, 0);	/* 4 of 8 payload bytes */
	pump(fx);
	assert_true(vhu_dev_connected(fx->dev));	/* waiting, not blocked */
	close(fd);
	pump(fx);
	assert_false(vhu_dev_connected(fx->dev));
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_TRUNC), 1);
	assert_int_equal(fx->disc, 1);
	assert_fresh_ok(fx);
}

static void stalled_payload_times_out(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, false);
	struct vhu_hdr h = { VHU_REQ_SET_VRING_NUM, REQ, 8 };
	int ev = eventfd(0, EFD_CLOEXEC), fds0;

	raw_vring(fx, fd, 0, false);
	assert_true(fx->running[0]);
	/* a header (with an fd riding on it) and then nothing */
	send_bytes(fd, &h, 6, &ev, 1);
	close(ev);
	fds0 = count_fds();
	pump(fx);
	vhu_dev_tick(fx->dev, pv_now_ns());
	assert_true(vhu_dev_connected(fx->dev));
	vhu_dev_tick(fx->dev, pv_now_ns() + 3000000000ULL);
	assert_int_equal(fault(fx, PV_DROP_VHU_TIMEOUT), 1);
	assert_false(fx->running[0]);
	assert_closed(fx, fd);
	assert_true(count_fds() < fds0);	/* the stray fd was closed */
	assert_fresh_ok(fx);
}

static void oversize_payload(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	struct vhu_hdr h = { VHU_REQ_SET_MEM_TABLE, ACK, 4096 };

	send_bytes(fd, &h, sizeof(h), NULL, 0);
	pump(fx);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_SIZE), 1);
	assert_closed(fx, fd);
	assert_fresh_ok(fx);
}

static void wrong_payload_size(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	uint32_t four = 1;

	/* SET_FEATURES with 4 bytes: an error ack keeps the connection */
	send_msg(fx, fd, VHU_REQ_SET_FEATURES, ACK, &four, 4, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_FEATURES), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_SIZE), 1);
	assert_true(vhu_dev_connected(fx->dev));
	/* without an ack to carry the error, the connection closes */
	send_msg(fx, fd, VHU_REQ_SET_VRING_NUM, REQ, &four, 4, NULL, 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_SIZE), 2);
	assert_closed(fx, fd);
	assert_fresh_ok(fx);
}

static void bad_flags(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);

	send_msg(fx, fd, VHU_REQ_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_FLAGS), 1);
	assert_closed(fx, fd);
	fd = raw_handshake(fx, true);
	send_msg(fx, fd, VHU_REQ_GET_FEATURES, REQ | VHU_FLAG_REPLY, NULL, 0,
		 NULL, 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_FLAGS), 2);
	assert_closed(fx, fd);
	assert_fresh_ok(fx);
}

static void unknown_requests(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	uint64_t v = 0;

	/* with an ack requested: error reply, connection kept */
	send_msg(fx, fd, 99, ACK, NULL, 0, NULL, 0);
	assert_int_equal(recv_u64(fd, 99), 1);
	send_u64(fx, fd, VHU_REQ_SET_LOG_FD, ACK, v);	/* obsolete, never offered */
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_LOG_FD), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_UNKNOWN), 2);
	assert_true(vhu_dev_connected(fx->dev));
	/* without: closed */
	send_msg(fx, fd, 0xdeadbeef, REQ, NULL, 0, NULL, 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_UNKNOWN), 3);
	assert_closed(fx, fd);
	assert_fresh_ok(fx);
}

static void wrong_fd_counts(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	int ev = eventfd(0, EFD_CLOEXEC), fds0 = count_fds();
	int many[10];
	uint64_t u = 0;

	/* KICK without fd and without NOFD */
	send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, ACK, &u, 8, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_KICK), 1);
	/* SET_FEATURES with an fd: the fd is closed by the backend */
	u = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	send_msg(fx, fd, VHU_REQ_SET_FEATURES, ACK, &u, 8, &ev, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_FEATURES), 1);
	/* KICK with NOFD and an fd anyway */
	u = 0x100;
	send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, ACK, &u, 8, &ev, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_KICK), 1);
	/* ADD_MEM_REG without its fd */
	{
		struct vhu_mem_single s = { 0, { 0x200000, 4096, 0x200000, 0 } };

		send_msg(fx, fd, VHU_REQ_ADD_MEM_REG, ACK, &s, sizeof(s),
			 NULL, 0);
		assert_int_equal(recv_u64(fd, VHU_REQ_ADD_MEM_REG), 1);
	}
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_FDS), 4);
	assert_int_equal(count_fds(), fds0);
	assert_true(vhu_dev_connected(fx->dev));
	/* more fds than any message may carry: closed, connection too */
	for (int i = 0; i < 10; i++)
		many[i] = ev;
	u = 0;
	send_msg(fx, fd, VHU_REQ_SET_VRING_CALL, ACK, &u, 8, many, 10);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_FDS), 5);
	assert_closed(fx, fd);
	/* both ends of the connection are gone, nothing else */
	assert_int_equal(count_fds(), fds0 - 2);
	close(ev);
	assert_fresh_ok(fx);
}

/* ---- hostile frontends: memory tables ---- */

static void mem_table_hostile(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true), fds0;
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r[9];
	} mt;
	int fds[9];

	raw_vring(fx, fd, 0, true);
	assert_true(fx->running[0]);
	for (int i = 0; i < 9; i++)
		fds[i] = fx->memfd;
	fds0 = count_fds();
	memset(&mt, 0, sizeof(mt));
	for (int i = 0; i < 9; i++)
		mt.r[i] = (struct vhu_mem_region){ 0x10000ULL * i, 0x1000,
						   0x10000ULL * i, 0 };

	/* nregions above 8 (with 8 fds, as many as one message holds) */
	mt.n = 9;
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, 8 + 9 * 32, fds, 8);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_NREGIONS), 1);
	/* nregions != nfds */
	mt.n = 3;
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, 8 + 3 * 32, fds, 2);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_FDS), 1);
	/* overlapping regions */
	mt.n = 2;
	mt.r[1].gpa = 0x800;
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, 8 + 2 * 32, fds, 2);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_REGION), 1);
	/* overflowing region: gpa + size wraps */
	mt.n = 1;
	mt.r[0] = (struct vhu_mem_region){ ~0ULL - 0xfff, 0x2000, 0, 0 };
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, 8 + 32, fds, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_REGION), 2);
	/* mmap_offset + size wraps */
	mt.r[0] = (struct vhu_mem_region){ 0, 0x2000, 0, ~0ULL - 0xfff };
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, 8 + 32, fds, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_REGION), 3);
	/* beyond the end of its fd */
	mt.r[0] = (struct vhu_mem_region){ 0, 2 * MEM_LEN, 0, 0 };
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, 8 + 32, fds, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_REGION), 4);
	/* a payload size that disagrees with nregions */
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, 8 + 64, fds, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_SIZE), 1);

	/* every fd closed, the old table still in force, the ring back up */
	assert_int_equal(count_fds(), fds0);
	assert_true(fx->running[0]);
	assert_ptr_not_equal(vhu_dev_vring(fx->dev, 0)->desc, NULL);
	assert_true(vhu_dev_connected(fx->dev));
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/* ---- hostile frontends: vrings ---- */

static void vring_index_out_of_range(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	struct vhu_vring_addr a = ring_addr(0);
	int ev = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 4;		/* 2 queue pairs: vrings 0..3 */

	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 4, QSIZE);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 1);
	send_state(fx, fd, VHU_REQ_SET_VRING_BASE, ACK, 0xffffffffu, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_BASE), 1);
	a.index = 1000;
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, ACK, &a, sizeof(a), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 1);
	send_msg(fx, fd, VHU_REQ_SET_VRING_CALL, ACK, &u, 8, &ev, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_CALL), 1);
	u = 0x10000;	/* reserved bits above NOFD */
	send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, ACK, &u, 8, &ev, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_KICK), 1);
	send_state(fx, fd, VHU_REQ_SET_VRING_ENABLE, ACK, 32, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ENABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_VRING_IDX), 6);
	/* GET_VRING_BASE cannot carry an error: closed */
	send_state(fx, fd, VHU_REQ_GET_VRING_BASE, REQ, 7, 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_VRING_IDX), 7);
	assert_closed(fx, fd);
	close(ev);
	assert_fresh_ok(fx);
}

static void vring_num_bad(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);

	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 0, 1000);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 1);
	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 0, 65536);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 1);
	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 0, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_VRING_NUM), 3);
	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 0, 32768);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 0);
	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, REQ, 0, 3);
	assert_int_equal(fault(fx, PV_DROP_VHU_VRING_NUM), 4);
	assert_closed(fx, fd);
	assert_fresh_ok(fx);
}

static void vring_addr_outside_memory(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	struct vhu_vring_addr a = ring_addr(0);

	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 0, QSIZE);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 0);
	a.used_uva = MEM_UVA + MEM_LEN + 0x1000;	/* past the region */
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, ACK, &a, sizeof(a), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_VRING_ADDR), 1);
	a = ring_addr(0);
	a.desc_uva = MEM_UVA + MEM_LEN - 16;	/* runs off the end */
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, ACK, &a, sizeof(a), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 1);
	assert_int_equal(fault(fx, PV_DROP_RING_LAYOUT), 1);
	a = ring_addr(0);
	a.avail_uva += 1;			/* misaligned */
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, ACK, &a, sizeof(a), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_VRING_ADDR), 2);

	/* ADDR first, then a NUM that makes the ring reach past memory */
	a = ring_addr(0);
	a.used_uva = MEM_UVA + MEM_LEN - 0x1000;
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, ACK, &a, sizeof(a), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 0);
	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 0, 4096);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 0);
	{
		int ev = eventfd(0, EFD_CLOEXEC);
		uint64_t u = 0;

		send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, ACK, &u, 8, &ev, 1);
		assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_KICK), 0);
		close(ev);
	}
	/* the start is refused when the ring is enabled */
	send_state(fx, fd, VHU_REQ_SET_VRING_ENABLE, ACK, 0, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ENABLE), 1);
	assert_int_equal(fault(fx, PV_DROP_RING_LAYOUT), 2);
	assert_false(fx->running[0]);
	assert_true(vhu_dev_connected(fx->dev));
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

static void vring_fds_not_eventfds(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true), p[2], fds0;
	char tmpl[] = "/tmp/pvnet-tvhu-file-XXXXXX";
	int file = mkstemp(tmpl);
	uint64_t u = 0;

	assert_true(file >= 0);
	unlink(tmpl);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds0 = count_fds();
	send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, ACK, &u, 8, &p[0], 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_KICK), 1);
	send_msg(fx, fd, VHU_REQ_SET_VRING_CALL, ACK, &u, 8, &file, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_CALL), 1);
	send_msg(fx, fd, VHU_REQ_SET_VRING_ERR, ACK, &u, 8, &fd, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ERR), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_VRING_FD), 3);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(vhu_dev_kickfd(fx->dev, 0), -1);
	close(p[0]);
	close(p[1]);
	close(file);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

static void out_of_order(void **state)
{
	struct fx *fx = *state;
	int fd = raw_connect(fx);
	struct vhu_vring_addr a = ring_addr(0);
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r;
	} mt = { 1, 0, { 0, MEM_LEN, MEM_UVA, 0 } };
	int ev = eventfd(0, EFD_CLOEXEC);
	uint64_t u = VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK);

	send_u64(fx, fd, VHU_REQ_SET_PROTOCOL_FEATURES, REQ, u);
	/* SET_FEATURES with bits never offered */
	send_u64(fx, fd, VHU_REQ_SET_FEATURES, ACK,
		 VIRTIO_BIT(VIRTIO_F_VERSION_1) |
		 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4));
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_FEATURES), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_FEATURES), 1);
	send_u64(fx, fd, VHU_REQ_SET_PROTOCOL_FEATURES, ACK, 1ULL << 40);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_PROTOCOL_FEATURES), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_FEATURES), 2);
	/* SET_VRING_ADDR before SET_MEM_TABLE, then everything to start */
	send_state(fx, fd, VHU_REQ_SET_VRING_NUM, ACK, 0, QSIZE);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_NUM), 0);
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, ACK, &a, sizeof(a), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_ORDER), 1);
	u = 0;
	send_msg(fx, fd, VHU_REQ_SET_VRING_KICK, ACK, &u, 8, &ev, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_KICK), 0);
	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, sizeof(mt),
		 &fx->memfd, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 0);
	assert_false(fx->running[0]);	/* no address: never started */
	/* GET_VRING_BASE of a ring that never ran: its base, no harm */
	send_state(fx, fd, VHU_REQ_GET_VRING_BASE, REQ, 0, 0);
	{
		struct vhu_vring_state s;

		assert_int_equal(recv_reply(fd, VHU_REQ_GET_VRING_BASE, &s,
					    sizeof(s)), 8);
		assert_int_equal(s.index, 0);
		assert_int_equal(s.num, 0);
	}
	close(ev);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

static void disconnect_mid_handshake(void **state)
{
	struct fx *fx = *state;
	int fds0 = count_fds(), maps0 = count_maps();
	int fd = raw_handshake(fx, false);

	raw_vring(fx, fd, 0, false);
	raw_vring(fx, fd, 3, false);
	assert_true(fx->running[0] && fx->running[3]);
	assert_true(count_maps() > maps0);
	close(fd);
	pump(fx);
	assert_false(fx->running[0] || fx->running[3]);
	assert_int_equal(fx->disc, 1);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(count_maps(), maps0);
	/* and one that leaves right after GET_FEATURES */
	fd = raw_connect(fx);
	send_msg(fx, fd, VHU_REQ_GET_FEATURES, REQ, NULL, 0, NULL, 0);
	close(fd);
	pump(fx);
	assert_int_equal(fx->disc, 2);
	assert_int_equal(faults_total(fx), 0);
	assert_fresh_ok(fx);
}

static void no_leak_after_50_sessions(void **state)
{
	struct fx *fx = *state;
	int fds0, maps0;

	assert_fresh_ok(fx);	/* warm up allocator and log state */
	fds0 = count_fds();
	maps0 = count_maps();
	for (int i = 0; i < 50; i++) {
		int fd = raw_handshake(fx, i & 1);

		raw_vring(fx, fd, 0, i & 1);
		raw_vring(fx, fd, 1, i & 1);
		if (i % 3 == 0) {
			struct vhu_hdr h = { VHU_REQ_SET_VRING_NUM, REQ, 8 };

			send_bytes(fd, &h, 12, NULL, 0);	/* mid-message */
		}
		close(fd);
		pump(fx);
		assert_false(vhu_dev_connected(fx->dev));
	}
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(count_maps(), maps0);
	assert_int_equal(fx->qs_on, fx->qs_off);
}

/* A port configured without protocol features refuses their requests. */
static void protocol_features_not_offered(void **state)
{
	struct fx *fx = *state;
	char path[120];
	struct vhu_dev_cfg cfg = {
		.name = "vm-legacy", .max_queue_pairs = 1,
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1),
	};
	struct vhu_msg m = { 0 };
	struct vhu_dev *d;

	snprintf(path, sizeof(path), "%s.legacy", fx->path);
	cfg.path = path;
	d = vhu_dev_create(&cfg, NULL, NULL, fx->loop);
	assert_non_null(d);
	assert_int_equal(vhu_dev_offered_features(&cfg),
			 VIRTIO_BIT(VIRTIO_F_VERSION_1));
	m.hdr = (struct vhu_hdr){ VHU_REQ_GET_PROTOCOL_FEATURES, REQ, 0 };
	assert_true(vhu_dev_handle_msg(d, &m) < 0);
	assert_int_equal(vhu_dev_stats(d)->faults.n[PV_DROP_VHU_MSG_ORDER], 1);
	vhu_dev_destroy(d);
}

/* vhu_dev_handle_msg(): the fuzzer's entry, without a socket. */
static void handle_msg_direct(void **state)
{
	struct fx *fx = *state;
	struct vhu_msg m = { 0 };
	int ev = eventfd(0, EFD_CLOEXEC), fds0 = count_fds();

	m.hdr = (struct vhu_hdr){ VHU_REQ_SET_FEATURES, REQ, 8 };
	m.payload.u64 = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	assert_int_equal(vhu_dev_handle_msg(fx->dev, &m), 0);
	assert_int_equal(vhu_dev_features(fx->dev),
			 VIRTIO_BIT(VIRTIO_F_VERSION_1));
	m.hdr = (struct vhu_hdr){ VHU_REQ_SET_OWNER, REQ, 0 };
	m.fds[0] = ev;
	m.nfds = 1;
	assert_true(vhu_dev_handle_msg(fx->dev, &m) < 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_FDS), 1);
	assert_int_equal(count_fds(), fds0 - 1);	/* ev was taken and closed */
	assert_int_equal(vhu_dev_features(fx->dev), 0);	/* session reset */
	assert_fresh_ok(fx);
}

/*
 * memslots=off (issue 4): a port can refuse CONFIGURE_MEM_SLOTS, so that a
 * frontend like QEMU falls back from ADD_MEM_REG to SET_MEM_TABLE and both
 * paths get exercised; the per-request counters say which one was used.
 */
static void mem_slots_can_be_refused(void **state)
{
	struct fx *fx = *state;
	struct vhu_dev_cfg cfg = {
		.name = "vm-test", .path = fx->path, .max_queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT, .no_mem_slots = true,
	};
	const struct vhu_dev_stats *st;
	uint64_t p;
	int fd;

	/* the default offers it */
	fd = raw_connect(fx);
	send_msg(fx, fd, VHU_REQ_GET_PROTOCOL_FEATURES, REQ, NULL, 0, NULL, 0);
	p = recv_u64(fd, VHU_REQ_GET_PROTOCOL_FEATURES);
	assert_true(p & VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS));
	close(fd);
	pump(fx);
	assert_int_equal(vhu_dev_stats(fx->dev)->reqs[VHU_REQ_GET_PROTOCOL_FEATURES], 1);

	vhu_dev_destroy(fx->dev);
	fx->dev = vhu_dev_create(&cfg, &ops, fx, fx->loop);
	assert_non_null(fx->dev);
	fd = raw_connect(fx);
	send_msg(fx, fd, VHU_REQ_GET_PROTOCOL_FEATURES, REQ, NULL, 0, NULL, 0);
	p = recv_u64(fd, VHU_REQ_GET_PROTOCOL_FEATURES);
	assert_false(p & VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS));
	assert_true(p & VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK));
	/* asking for it anyway is refused like any feature not offered */
	send_u64(fx, fd, VHU_REQ_SET_PROTOCOL_FEATURES, REQ,
		 VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS));
	close(fd);
	pump(fx);
	/* the handshake with SET_MEM_TABLE works and is counted by type */
	fd = raw_handshake(fx, true);
	st = vhu_dev_stats(fx->dev);
	assert_int_equal(st->reqs[VHU_REQ_SET_MEM_TABLE], 1);
	assert_int_equal(st->reqs[VHU_REQ_ADD_MEM_REG], 0);
	assert_int_equal(st->reqs[VHU_REQ_GET_PROTOCOL_FEATURES], 2);
	close(fd);
	pump(fx);
}

/*
 * Found with QEMU 7.2 (issue 4, queues=2): vhost-user net has one vhost_dev
 * per queue pair on one connection, each keeping its own shadow of the
 * regions it added, so every region arrives once per queue pair through
 * ADD_MEM_REG. The second one used to be refused as an overlap (fault
 * vhu_mem_region) and the guest's second queue pair never ran. The same
 * region again is now counted; each queue pair's REM_MEM_REG takes one
 * count and the last one unmaps.
 */
static void add_mem_reg_once_per_queue_pair(void **state)
{
	struct fx *fx = *state;
	int fd = raw_connect(fx);
	struct vhu_mem_single r0 = { 0, { 0, MEM_LEN / 2, MEM_UVA, 0 } };
	struct vhu_mem_single r1 = { 0, { MEM_LEN / 2, MEM_LEN / 2,
					  MEM_UVA + MEM_LEN / 2, MEM_LEN / 2 } };
	int maps0;

	send_u64(fx, fd, VHU_REQ_SET_PROTOCOL_FEATURES, REQ,
		 VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |
		 VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS) |
		 VIRTIO_BIT(VHU_PROTO_F_MQ));
	send_msg(fx, fd, VHU_REQ_SET_OWNER, REQ, NULL, 0, NULL, 0);
	send_u64(fx, fd, VHU_REQ_SET_FEATURES, REQ,
		 VIRTIO_BIT(VIRTIO_F_VERSION_1) |
		 VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
		 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	maps0 = count_maps();
	/* queue pair 0's vhost_dev, then queue pair 1's: same regions */
	for (int qp = 0; qp < 2; qp++) {
		send_msg(fx, fd, VHU_REQ_ADD_MEM_REG, ACK, &r0, sizeof(r0),
			 &fx->memfd, 1);
		assert_int_equal(recv_u64(fd, VHU_REQ_ADD_MEM_REG), 0);
		send_msg(fx, fd, VHU_REQ_ADD_MEM_REG, ACK, &r1, sizeof(r1),
			 &fx->memfd, 1);
		assert_int_equal(recv_u64(fd, VHU_REQ_ADD_MEM_REG), 0);
	}
	assert_int_equal(faults_total(fx), 0);
	assert_true(count_maps() <= maps0 + 2);	/* mapped once each */
	/* both pairs' rings run, in the first region */
	raw_vring(fx, fd, 1, true);
	raw_vring(fx, fd, 3, true);
	assert_true(fx->running[1] && fx->running[3]);
	assert_int_equal(faults_total(fx), 0);

	/* one pair lets go of region 1: still mapped for the other */
	send_msg(fx, fd, VHU_REQ_REM_MEM_REG, ACK, &r1, sizeof(r1), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_REM_MEM_REG), 0);
	send_msg(fx, fd, VHU_REQ_REM_MEM_REG, ACK, &r1, sizeof(r1), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_REM_MEM_REG), 0);
	assert_int_equal(faults_total(fx), 0);
	/* the last one unmapped it: a third is an error */
	send_msg(fx, fd, VHU_REQ_REM_MEM_REG, ACK, &r1, sizeof(r1), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_REM_MEM_REG), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_REGION), 1);
	assert_true(fx->running[1] && fx->running[3]);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/*
 * Issue 12 finding 3: ADD_MEM_REG edited the region table that workers
 * translate through while rings ran. Now every running ring stops first,
 * behind one grace period for all of them, and restarts after.
 */
static void add_mem_reg_quiesces_running_rings(void **state)
{
	struct fx *fx = *state;
	int fd = raw_connect(fx);
	struct vhu_mem_single r0 = { 0, { 0, MEM_LEN / 2, MEM_UVA, 0 } };
	struct vhu_mem_single r1 = { 0, { MEM_LEN / 2, MEM_LEN / 2,
					  MEM_UVA + MEM_LEN / 2, MEM_LEN / 2 } };
	unsigned off0, q0;

	send_u64(fx, fd, VHU_REQ_SET_PROTOCOL_FEATURES, REQ,
		 VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |
		 VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS) |
		 VIRTIO_BIT(VHU_PROTO_F_MQ));
	send_msg(fx, fd, VHU_REQ_SET_OWNER, REQ, NULL, 0, NULL, 0);
	send_u64(fx, fd, VHU_REQ_SET_FEATURES, REQ,
		 VIRTIO_BIT(VIRTIO_F_VERSION_1) |
		 VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
		 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	send_msg(fx, fd, VHU_REQ_ADD_MEM_REG, ACK, &r0, sizeof(r0),
		 &fx->memfd, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_ADD_MEM_REG), 0);
	raw_vring(fx, fd, 0, true);
	raw_vring(fx, fd, 1, true);
	assert_true(fx->running[0] && fx->running[1]);
	off0 = fx->qs_off;
	q0 = fx->quiesces;

	/* hot-plug: both running rings stop, one grace period, both restart */
	send_msg(fx, fd, VHU_REQ_ADD_MEM_REG, ACK, &r1, sizeof(r1),
		 &fx->memfd, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_ADD_MEM_REG), 0);
	assert_int_equal(fx->qs_off - off0, 2);
	assert_int_equal(fx->quiesces - q0, 1);
	assert_int_equal(fx->unquiesced, 0);
	assert_true(fx->running[0] && fx->running[1]);
	/* and unplug */
	send_msg(fx, fd, VHU_REQ_REM_MEM_REG, ACK, &r1, sizeof(r1), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_REM_MEM_REG), 0);
	assert_int_equal(fx->qs_off - off0, 4);
	assert_int_equal(fx->quiesces - q0, 2);
	assert_true(fx->running[0] && fx->running[1]);
	assert_int_equal(faults_total(fx), 0);
	close(fd);
	pump(fx);
	assert_int_equal(fx->unquiesced, 0);	/* the disconnect's stops too */
	assert_fresh_ok(fx);
}

/*
 * Issue 12 finding 4: SET_VRING_CALL closed the fd a worker might be
 * writing. The new fd is published first and the old one stays open
 * through the grace period.
 */
static void set_vring_call_closes_old_after_grace(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	int call2 = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 0;
	unsigned q0;
	int old;

	raw_vring(fx, fd, 0, true);
	assert_true(fx->running[0]);
	old = vhu_dev_callfd(fx->dev, 0);
	assert_true(old >= 0);
	fx->watch_fd = old;
	fx->watch_fd_open = false;
	q0 = fx->quiesces;
	send_msg(fx, fd, VHU_REQ_SET_VRING_CALL, ACK, &u, 8, &call2, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_CALL), 0);
	assert_int_equal(fx->quiesces - q0, 1);
	assert_true(fx->watch_fd_open);		/* open during the grace period */
	assert_true(fx->running[0]);		/* and the ring never stopped */
	assert_true(vhu_dev_callfd(fx->dev, 0) >= 0);
	/* the old number is closed now (or reused by the new fd) */
	assert_true(fcntl(old, F_GETFD) < 0 ||
		    vhu_dev_callfd(fx->dev, 0) == old);
	fx->watch_fd = -1;
	close(call2);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/*
 * Issue 12 finding 5: a frontend that restarts its running rings in a loop
 * cost every worker a pause each time. Past the burst its messages wait
 * (the connection is not read) and go at the sustained rate: nothing is
 * refused, every request is answered, the fault is counted.
 */
static void ring_restart_storm_is_throttled(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);
	struct timeval tv = { 5, 0 };
	unsigned acks = 0;

	raw_vring(fx, fd, 0, true);
	assert_true(fx->running[0]);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof(tv)), 0);
	bg_start(fx);
	for (unsigned i = 0; i < 140; i++) {
		struct vhu_vring_state st = { .index = 0, .num = 0 };
		struct vhu_hdr h = { .request = VHU_REQ_SET_VRING_ENABLE,
				     .flags = ACK, .size = sizeof(st) };
		uint8_t buf[sizeof(h) + sizeof(st)];
		uint8_t rep[sizeof(h) + 8];

		for (unsigned on = 0; on < 2; on++) {
			st.num = on;
			memcpy(buf, &h, sizeof(h));
			memcpy(buf + sizeof(h), &st, sizeof(st));
			send_bytes(fd, buf, sizeof(buf), NULL, 0);
			/* blocking: a held request is answered later */
			assert_int_equal(recv(fd, rep, sizeof(rep), MSG_WAITALL),
					 (ssize_t)sizeof(rep));
			acks += rep[sizeof(h)] == 0;
		}
	}
	bg_stop(fx);
	assert_int_equal(acks, 280);		/* every one answered, none refused */
	assert_true(fault(fx, PV_DROP_VHU_RESTART_RATE) >= 1);	/* once per throttled spell */
	assert_true(fx->running[0]);
	assert_true(vhu_dev_connected(fx->dev));
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/* A fresh memfd of MEM_LEN whose seals are frozen without F_SEAL_SHRINK. */
static int shrinkable_memfd(void)
{
	int fd = memfd_create("guest-shrinkable", MFD_CLOEXEC);

	/* without MFD_ALLOW_SEALING the memfd comes with F_SEAL_SEAL only */
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MEM_LEN), 0);
	return fd;
}

static void send_mem_table(struct fx *fx, int fd, int memfd)
{
	struct {
		uint32_t n, pad;
		struct vhu_mem_region r;
	} mt = { 1, 0, { 0, MEM_LEN, MEM_UVA, 0 } };

	send_msg(fx, fd, VHU_REQ_SET_MEM_TABLE, ACK, &mt, sizeof(mt), &memfd, 1);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_MEM_TABLE), 0);
}

/* The device reads its ring as a worker would: the avail index. */
static void touch_ring(struct fx *fx, unsigned idx)
{
	struct vring *vq = vhu_dev_vring(fx->dev, idx);

	assert_true(vhu_dev_vring_running(fx->dev, idx));
	(void)vring_avail_count(vq);
}

/*
 * Issue 12 finding 2: the frontend shrinks its memory file while the rings
 * run. The next access raises SIGBUS; the guard contains it, the device
 * says its memory faulted (the port stops using it), the control thread
 * counts VHU_MEM_FAULT once, and a new memory table or a new session clear
 * the state.
 */
static void truncated_memory_faults_the_port(void **state)
{
	struct fx *fx = *state;
	const struct vhu_dev_stats *st = vhu_dev_stats(fx->dev);
	int m2 = shrinkable_memfd(), m3 = shrinkable_memfd(), fd;

	/* cmocka has its own SIGBUS handler around each test */
	assert_int_equal(gmem_guard_install(), 0);
	fd = raw_handshake(fx, true);
	raw_vring(fx, fd, 0, true);
	touch_ring(fx, 0);
	assert_false(vhu_dev_mem_faulted(fx->dev));

	assert_int_equal(ftruncate(fx->memfd, 0), 0);
	touch_ring(fx, 0);			/* SIGBUS, contained */
	assert_true(vhu_dev_mem_faulted(fx->dev));
	assert_int_equal(__atomic_load_n(&st->mem_faults, __ATOMIC_RELAXED), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_FAULT), 0);
	vhu_dev_tick(fx->dev, pv_now_ns());	/* the control thread counts it */
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_FAULT), 1);
	vhu_dev_tick(fx->dev, pv_now_ns());
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_FAULT), 1);
	assert_true(vhu_dev_connected(fx->dev));	/* not a protocol error */

	/* a new memory table: usable again, the ring restarted on it */
	send_mem_table(fx, fd, m2);
	assert_false(vhu_dev_mem_faulted(fx->dev));
	touch_ring(fx, 0);
	assert_false(vhu_dev_mem_faulted(fx->dev));

	/* again, then a new session clears it */
	assert_int_equal(ftruncate(m2, 4096), 0);
	touch_ring(fx, 0);
	assert_true(vhu_dev_mem_faulted(fx->dev));
	assert_int_equal(__atomic_load_n(&st->mem_faults, __ATOMIC_RELAXED), 2);
	close(fd);
	pump(fx);
	assert_false(vhu_dev_connected(fx->dev));
	assert_false(vhu_dev_mem_faulted(fx->dev));
	vhu_dev_tick(fx->dev, pv_now_ns());
	assert_int_equal(fault(fx, PV_DROP_VHU_MEM_FAULT), 2);

	close(fx->memfd);
	fx->memfd = m3;		/* teardown closes it; fx->mem stays mapped */
	fd = raw_handshake(fx, true);
	raw_vring(fx, fd, 0, true);
	touch_ring(fx, 0);
	assert_false(vhu_dev_mem_faulted(fx->dev));
	close(fd);
	close(m2);
	pump(fx);
	assert_int_equal(faults_total(fx), 2);
}

/*
 * Issue 12: the listening socket is 0600 whatever the umask, or exactly
 * the mode= the operator asked for; nothing in between is ever on disk.
 */
static void socket_mode_ignores_umask(void **state)
{
	struct fx *fx = *state;
	char path[120];
	struct vhu_dev_cfg cfg = {
		.name = "vm-mode", .max_queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT,
	};
	mode_t old = umask(0);
	struct stat st;
	struct vhu_dev *d;

	snprintf(path, sizeof(path), "%s.mode", fx->path);
	cfg.path = path;
	d = vhu_dev_create(&cfg, NULL, NULL, fx->loop);
	assert_non_null(d);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	vhu_dev_destroy(d);

	cfg.sock_mode = 0660;
	cfg.has_sock_gid = true;
	cfg.sock_gid = (unsigned)getgid();
	d = vhu_dev_create(&cfg, NULL, NULL, fx->loop);
	umask(old);
	assert_non_null(d);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, getgid());
	vhu_dev_destroy(d);
}

/*
 * Out of fds at accept(): the pending connection keeps the listening socket
 * readable, so the loop used to spin on it. It is taken off the loop (one
 * error counted, the loop idle), and the next tick serves the frontend.
 */
static void accept_out_of_fds_pauses(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rlimit old, low;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rounds = 0;

	assert_true(fd >= 0);
	strcpy(sa.sun_path, fx->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	{
		int probe = dup(0);	/* the lowest free fd number */

		assert_true(probe >= 0);
		close(probe);
		low.rlim_cur = (rlim_t)probe;	/* no fd number left */
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int i = 0; i < 100; i++)
		rounds += pv_loop_run_once(fx->loop, 0) > 0;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(vhu_dev_stats(fx->dev)->accept_errors, 1);
	assert_true(rounds <= 2);		/* not 100: it did not spin */
	assert_false(vhu_dev_connected(fx->dev));
	vhu_dev_tick(fx->dev, pv_now_ns());
	pump(fx);
	assert_true(vhu_dev_connected(fx->dev));
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/* ---- live migration (issue 13) ---- */

#define LOG_FEATURES	(VIRTIO_BIT(VIRTIO_F_VERSION_1) |		\
			 VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |		\
			 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |		\
			 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))

/* As QEMU: REPLY_ACK and LOG_SHMFD, then a one-region memory table. */
static int mig_handshake(struct fx *fx)
{
	int fd = raw_connect(fx);
	uint64_t p;

	send_msg(fx, fd, VHU_REQ_GET_PROTOCOL_FEATURES, REQ, NULL, 0, NULL, 0);
	p = recv_u64(fd, VHU_REQ_GET_PROTOCOL_FEATURES);
	assert_true(p & VIRTIO_BIT(VHU_PROTO_F_LOG_SHMFD));
	assert_true(p & VIRTIO_BIT(VHU_PROTO_F_RARP));
	send_u64(fx, fd, VHU_REQ_SET_PROTOCOL_FEATURES, REQ,
		 VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |
		 VIRTIO_BIT(VHU_PROTO_F_LOG_SHMFD) | VIRTIO_BIT(VHU_PROTO_F_RARP));
	send_msg(fx, fd, VHU_REQ_SET_OWNER, REQ, NULL, 0, NULL, 0);
	send_u64(fx, fd, VHU_REQ_SET_FEATURES, ACK, LOG_FEATURES);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_FEATURES), 0);
	send_mem_table(fx, fd, fx->memfd);
	return fd;
}

/* A memfd of @len bytes for a dirty log (zeroed). */
static int log_memfd(size_t len)
{
	int fd = memfd_create("dirty-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	return fd;
}

/* SET_LOG_BASE; QEMU waits for a reply with an empty payload. */
static void send_log_base(struct fx *fx, int fd, int logfd, uint64_t size,
			  uint64_t offset)
{
	struct vhu_log l = { .mmap_size = size, .mmap_offset = offset };

	send_msg(fx, fd, VHU_REQ_SET_LOG_BASE, REQ, &l, sizeof(l),
		 logfd >= 0 ? &logfd : NULL, logfd >= 0 ? 1 : 0);
}

/*
 * Hostile logs: each refused with VHU_LOG (or the rule it breaks), the
 * connection closed (the frontend waits for a reply it cannot be given
 * honestly), and the next frontend served.
 */
static void log_base_hostile(void **state)
{
	struct fx *fx = *state;
	int logfd = log_memfd(4096), fd, maps0 = count_maps();
	struct { uint64_t size, off; } bad[] = {
		{ 0, 0 },				/* empty */
		{ 4096, UINT64_MAX - 100 },		/* offset + size overflows */
		{ 8192, 0 },				/* the fd is smaller */
		{ 4096, 4096 },				/* past its end */
		{ 1ULL << 40, 0 },			/* absurd */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t before = fault(fx, PV_DROP_VHU_LOG);

		fd = mig_handshake(fx);
		send_log_base(fx, fd, logfd, bad[i].size, bad[i].off);
		assert_int_equal(fault(fx, PV_DROP_VHU_LOG), before + 1);
		assert_closed(fx, fd);
	}
	/* without its fd */
	fd = mig_handshake(fx);
	send_log_base(fx, fd, -1, 4096, 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_FDS), 1);
	assert_closed(fx, fd);
	/* LOG_SHMFD not negotiated */
	fd = raw_handshake(fx, true);
	send_log_base(fx, fd, logfd, 4096, 0);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_ORDER), 1);
	assert_closed(fx, fd);
	assert_int_equal(vhu_dev_stats(fx->dev)->log_bases, 0);
	assert_int_equal(count_maps(), maps0);
	close(logfd);
	assert_fresh_ok(fx);
}

/*
 * A log sent twice replaces the first (rings stopped once for it, the old
 * mapping gone); LOG_ALL without a log is said once and the rings run.
 */
static void log_base_twice_and_missing(void **state)
{
	struct fx *fx = *state;
	int fd = mig_handshake(fx), logfd = log_memfd(8192), maps0;
	struct vhu_hdr h;
	unsigned q0;

	raw_vring(fx, fd, 0, true);
	assert_true(fx->running[0]);
	/* LOG_ALL before any log: counted once, rings keep running */
	send_u64(fx, fd, VHU_REQ_SET_FEATURES, ACK,
		 LOG_FEATURES | VIRTIO_BIT(VHOST_F_LOG_ALL));
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_FEATURES), 0);
	assert_true(fx->running[0]);
	assert_int_equal(fault(fx, PV_DROP_VHU_LOG), 1);
	assert_false(vhu_dev_logging(fx->dev));
	maps0 = count_maps();
	q0 = fx->quiesces;
	send_log_base(fx, fd, logfd, 4096, 0);
	assert_int_equal(recv(fd, &h, sizeof(h), MSG_DONTWAIT), (ssize_t)sizeof(h));
	assert_int_equal(h.request, VHU_REQ_SET_LOG_BASE);
	assert_int_equal(h.flags, VHU_FLAG_VERSION | VHU_FLAG_REPLY);
	assert_int_equal(h.size, 0);
	assert_int_equal(fx->quiesces - q0, 1);	/* the running ring stopped */
	assert_true(fx->running[0]);
	assert_true(vhu_dev_logging(fx->dev));
	assert_int_equal(vhu_dev_log_bytes(fx->dev), 4096);
	assert_int_equal(vhu_dev_vring(fx->dev, 0)->log_bytes, 4096);
	/* again, at another offset: replaced, not added */
	send_log_base(fx, fd, logfd, 4096, 4096);
	assert_int_equal(recv_reply(fd, VHU_REQ_SET_LOG_BASE, NULL, 0), 0);
	assert_int_equal(vhu_dev_stats(fx->dev)->log_bases, 2);
	assert_int_equal(count_maps(), maps0 + 1);
	/* logging off: the rings stop writing the log, the mapping stays */
	send_u64(fx, fd, VHU_REQ_SET_FEATURES, ACK, LOG_FEATURES);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_FEATURES), 0);
	assert_false(vhu_dev_logging(fx->dev));
	assert_null(vhu_dev_vring(fx->dev, 0)->log);
	assert_int_equal(fault(fx, PV_DROP_VHU_LOG), 1);
	close(fd);
	pump(fx);
	assert_int_equal(count_maps(), maps0 - 1);	/* log unmapped */
	close(logfd);
	assert_fresh_ok(fx);
}

/* Bit @page of the log mapped at @log. */
static bool page_dirty(const uint8_t *log, uint64_t page)
{
	return log[page / 8] & (1u << (page % 8));
}

/* Pages set in the first @bytes of @log. */
static unsigned dirty_count(const uint8_t *log, size_t bytes)
{
	unsigned n = 0;

	for (size_t i = 0; i < bytes; i++)
		n += (unsigned)__builtin_popcount(log[i]);
	return n;
}

/*
 * Every write into guest memory is logged at 4 KiB granularity: the
 * packet's buffers (mergeable: both of them), the used entries, used->idx
 * and avail_event; reads (descriptors, avail ring, the TX chain) are not.
 * VHU_VRING_F_LOG's log_gpa says where the used ring is logged.
 */
static void dirty_log_marks_written_pages(void **state)
{
	struct fx *fx = *state;
	int fd = mig_handshake(fx), logfd = log_memfd(4096);
	struct vhu_vring_addr a = ring_addr(0);
	uint8_t *log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	struct virtio_net_hdr hdr = { 0 };
	static uint8_t payload[3000];
	struct iovec src = { payload, sizeof(payload) };
	struct vring drv = { 0 }, *vq;
	struct vring_elem el[2];
	uint32_t lens[2];
	uint16_t slot;
	int n;

	vring_elems_init(el, 2, NULL);	/* one-descriptor buffers only */
	assert_true(log != MAP_FAILED);
	memset(payload, 0x5a, sizeof(payload));
	/* ring 0 (RX) at gpa 0: desc 0x0, avail 0x1000, used 0x2000; its used
	 * ring logged at 0x5000 (as if the frontend mapped it elsewhere) */
	raw_vring(fx, fd, 0, true);
	send_log_base(fx, fd, logfd, 4096, 0);
	assert_int_equal(recv_reply(fd, VHU_REQ_SET_LOG_BASE, NULL, 0), 0);
	a.flags = VHU_VRING_F_LOG;
	a.log_gpa = 0x5000;
	send_msg(fx, fd, VHU_REQ_SET_VRING_ADDR, ACK, &a, sizeof(a), NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_VRING_ADDR), 0);
	assert_true(fx->running[0]);
	vq = vhu_dev_vring(fx->dev, 0);
	assert_null(vq->log);		/* LOG_ALL not negotiated yet */

	/* the guest's side of ring 0, in the same memory */
	assert_int_equal(vring_setup(&drv, QSIZE, fx->mem, fx->mem + 0x1000,
				     fx->mem + 0x2000, LOG_FEATURES, NULL), 0);
	vring_drv_init(&drv);
	drv.state = VRING_RUNNING;
	for (unsigned i = 0; i < 6; i++) {
		struct vring_buf one = { 0x80000 + 0x10000ULL * i, 2048 };

		assert_int_equal(vring_drv_add(&drv, &one, 0, 1, NULL), 0);
	}
	vring_drv_publish(&drv);

	/* not logging: a packet leaves the log clean */
	assert_int_equal(vring_rx_enqueue(vq, &hdr, 12, true, &src, 1), 0);
	vring_flush(vq);
	assert_int_equal(dirty_count(log, 4096), 0);

	send_u64(fx, fd, VHU_REQ_SET_FEATURES, ACK,
		 LOG_FEATURES | VIRTIO_BIT(VHOST_F_LOG_ALL));
	assert_int_equal(recv_u64(fd, VHU_REQ_SET_FEATURES), 0);
	vq = vhu_dev_vring(fx->dev, 0);
	assert_non_null(vq->log);
	assert_int_equal(vq->log_used_gpa, 0x5000);

	/* vring_rx_enqueue: 3012 bytes over the buffers at 0xa0000, 0xb0000 */
	assert_int_equal(vring_rx_enqueue(vq, &hdr, 12, true, &src, 1), 0);
	vring_flush(vq);
	assert_true(page_dirty(log, 0xa0));
	assert_true(page_dirty(log, 0xb0));
	assert_true(page_dirty(log, 0x5));	/* used entries and idx */
	assert_int_equal(dirty_count(log, 4096), 3);
	memset(log, 0, 4096);

	/* the switch's path: reserve, fill, log, used entries, publish */
	n = vring_rx_reserve(vq, 12 + 100, true, el, 2);
	assert_int_equal(n, 1);
	src.iov_len = 100;
	vring_rx_fill(el, 1, &hdr, 12, &src, 1, lens);
	vring_log_rx(vq, el, 1, lens);
	slot = vring_used_reserve(vq, 1);
	vring_used_write(vq, slot, el[0].head, lens[0]);
	vring_used_publish(vq, (uint16_t)(slot + 1));
	assert_true(page_dirty(log, 0xc0));
	assert_true(page_dirty(log, 0x5));
	assert_int_equal(dirty_count(log, 4096), 2);
	memset(log, 0, 4096);

	/* avail_event (event idx) lives in the used ring: logged too */
	vring_set_kick(vq, true);
	assert_true(page_dirty(log, 0x5));
	assert_int_equal(dirty_count(log, 4096), 1);
	/* nothing in the ring's own pages: the log said elsewhere */
	assert_false(page_dirty(log, 0x2));

	vring_teardown(&drv);
	munmap(log, 4096);
	close(logfd);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/* SEND_RARP reaches the owner with its MAC; a multicast MAC is refused. */
static void send_rarp_announces(void **state)
{
	struct fx *fx = *state;
	int fd = mig_handshake(fx);
	uint8_t mac[8] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 0 };

	send_msg(fx, fd, VHU_REQ_SEND_RARP, ACK, mac, 8, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SEND_RARP), 0);
	assert_int_equal(fx->rarps, 1);
	assert_memory_equal(fx->rarp_mac, mac, 6);
	assert_int_equal(vhu_dev_stats(fx->dev)->rarps, 1);
	mac[0] = 0x01;
	send_msg(fx, fd, VHU_REQ_SEND_RARP, ACK, mac, 8, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_SEND_RARP), 1);
	assert_int_equal(fx->rarps, 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_VALUE), 1);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/*
 * NET_SET_MTU within the port's mtu= is taken and shown; above it, below
 * 68 or short is NACKed and counted, and the last good MTU stays.
 */
static void net_set_mtu_limit(void **state)
{
	struct fx *fx = *state;
	int fd = raw_connect(fx);
	uint32_t four = 1400;

	send_msg(fx, fd, VHU_REQ_GET_FEATURES, REQ, NULL, 0, NULL, 0);
	assert_true(recv_u64(fd, VHU_REQ_GET_FEATURES) &
		    VIRTIO_BIT(VIRTIO_NET_F_MTU));
	send_msg(fx, fd, VHU_REQ_GET_PROTOCOL_FEATURES, REQ, NULL, 0, NULL, 0);
	assert_true(recv_u64(fd, VHU_REQ_GET_PROTOCOL_FEATURES) &
		    VIRTIO_BIT(VHU_PROTO_F_NET_MTU));
	close(fd);
	pump(fx);
	fd = raw_handshake(fx, true);
	assert_int_equal(vhu_dev_mtu(fx->dev), 0);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 1450);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 0);
	assert_int_equal(vhu_dev_mtu(fx->dev), 1450);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 1451);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 1);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 67);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 1);
	assert_int_equal(vhu_dev_stats(fx->dev)->mtu_refused, 2);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_VALUE), 2);
	send_msg(fx, fd, VHU_REQ_NET_SET_MTU, ACK, &four, 4, NULL, 0);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 1);
	assert_int_equal(fault(fx, PV_DROP_VHU_MSG_SIZE), 1);
	assert_int_equal(vhu_dev_mtu(fx->dev), 1450);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 68);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 0);
	assert_int_equal(vhu_dev_mtu(fx->dev), 68);
	/* without REPLY_ACK a refusal cannot be told: the session ends */
	close(fd);
	pump(fx);
	assert_int_equal(vhu_dev_mtu(fx->dev), 0);
	fd = raw_handshake(fx, false);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, REQ, 9000);
	assert_false(vhu_dev_connected(fx->dev));
	assert_int_equal(vhu_dev_stats(fx->dev)->mtu_refused, 3);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

/* Without mtu= on the port, any MTU up to 65535 is taken. */
static void net_set_mtu_no_limit(void **state)
{
	struct fx *fx = *state;
	int fd = raw_handshake(fx, true);

	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 65535);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 0);
	assert_int_equal(vhu_dev_mtu(fx->dev), 65535);
	send_u64(fx, fd, VHU_REQ_NET_SET_MTU, ACK, 65536);
	assert_int_equal(recv_u64(fd, VHU_REQ_NET_SET_MTU), 1);
	assert_int_equal(vhu_dev_stats(fx->dev)->mtu_refused, 1);
	close(fd);
	pump(fx);
	assert_fresh_ok(fx);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(front_handshake_runs_rings),
		T(front_back_data_path),
		T(front_too_many_queues),
		T(front_server_mode),
		T(client_mode_reconnects),
		T(backend_restart_resumes),
		T(second_frontend_refused),
		T(mem_table_change_restarts_rings),
		T(misc_requests),
		T(no_protocol_features_enabled_at_once),
		T(truncated_message),
		T(stalled_payload_times_out),
		T(oversize_payload),
		T(wrong_payload_size),
		T(bad_flags),
		T(unknown_requests),
		T(wrong_fd_counts),
		T(mem_table_hostile),
		T(vring_index_out_of_range),
		T(vring_num_bad),
		T(vring_addr_outside_memory),
		T(vring_fds_not_eventfds),
		T(out_of_order),
		T(disconnect_mid_handshake),
		T(no_leak_after_50_sessions),
		T(handle_msg_direct),
		T(mem_slots_can_be_refused),
		T(add_mem_reg_once_per_queue_pair),
		T(protocol_features_not_offered),
		T(add_mem_reg_quiesces_running_rings),
		T(set_vring_call_closes_old_after_grace),
		T(ring_restart_storm_is_throttled),
		T(truncated_memory_faults_the_port),
		T(socket_mode_ignores_umask),
		T(accept_out_of_fds_pauses),
		cmocka_unit_test_setup_teardown(log_base_hostile, setup_mig, teardown),
		cmocka_unit_test_setup_teardown(log_base_twice_and_missing, setup_mig, teardown),
		cmocka_unit_test_setup_teardown(dirty_log_marks_written_pages, setup_mig, teardown),
		cmocka_unit_test_setup_teardown(send_rarp_announces, setup_mig, teardown),
		cmocka_unit_test_setup_teardown(net_set_mtu_limit, setup_mtu, teardown),
		T(net_set_mtu_no_limit),
	};
#undef T
	return cmocka_run_group_tests_name("vhost_backend", tests, NULL, NULL);
}
