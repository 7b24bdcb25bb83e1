// SPDX-License-Identifier: MIT
/*
 * test_vhost_front.c - the frontend does not trust the backend either
 * (style §6.13): a scripted fake backend answers the first request wrongly
 * in one way per case, and vhu_front_connect() must fail cleanly, within
 * its timeout, without leaking an fd. Also: vhu_front_set_mtu() against a
 * backend that acks, refuses or does not take NET_SET_MTU.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvnet/log.h"
#include "pvnet/vhost.h"

enum mode {
	WRONG_REQUEST,
	NO_REPLY_FLAG,
	BAD_VERSION,
	SHORT_SIZE,
	OVERSIZE,
	WITH_FD,
	SILENT,
	HALF_REPLY,
	CLOSE_AT_ONCE,
	NACK_OWNER,
	MTU_1450,	/* a good backend taking NET_SET_MTU up to 1450 */
	MTU_NONE,	/* a good backend without PROTOCOL_F_NET_MTU */
};

struct fake {
	char path[80];
	int lfd;
	enum mode mode;
	pthread_t th;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static bool read_req(int c, struct vhu_hdr *h, uint8_t *payload)
{
	if (recv(c, h, sizeof(*h), MSG_WAITALL) != (ssize_t)sizeof(*h))
		return false;
	if (h->size && h->size <= 512 &&
	    recv(c, payload, h->size, MSG_WAITALL) != (ssize_t)h->size)
		return false;
	return true;
}

static void reply(int c, uint32_t req, uint32_t flags, uint32_t size,
		  uint64_t v, int fd)
{
	uint8_t buf[12 + 4096] = { 0 };
	struct vhu_hdr h = { req, flags, size };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, 12 + (size <= 4096 ? size : 8) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &h, 12);
	memcpy(buf + 12, &v, 8);
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	sendmsg(c, &mh, MSG_NOSIGNAL);
}

static void *fake_backend(void *arg)
{
	struct fake *fk = arg;
	const uint32_t R = VHU_FLAG_VERSION | VHU_FLAG_REPLY;
	uint64_t feat = VHU_DEV_FEATURES_DEFAULT;
	uint8_t payload[512];
	struct vhu_hdr h;
	int c = accept(fk->lfd, NULL, NULL), ev;

	if (c < 0)
		return NULL;
	while (read_req(c, &h, payload)) {
		if (h.request == VHU_REQ_GET_PROTOCOL_FEATURES) {
			reply(c, h.request, R, 8,
			      VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |
			      (fk->mode == MTU_1450 ?
			       VIRTIO_BIT(VHU_PROTO_F_NET_MTU) : 0), -1);
			continue;
		}
		if (h.request == VHU_REQ_NET_SET_MTU) {
			uint64_t mtu;

			memcpy(&mtu, payload, 8);
			if (h.flags & VHU_FLAG_NEED_REPLY)
				reply(c, h.request, R, 8, mtu > 1450, -1);
			continue;
		}
		if (h.request == VHU_REQ_SET_OWNER && fk->mode == NACK_OWNER) {
			reply(c, h.request, R, 8, 1, -1);
			continue;
		}
		if (h.request != VHU_REQ_GET_FEATURES ||
		    fk->mode == NACK_OWNER || fk->mode == MTU_1450 ||
		    fk->mode == MTU_NONE) {
			if (h.flags & VHU_FLAG_NEED_REPLY)
				reply(c, h.request, R, 8, 0, -1);
			if (h.request == VHU_REQ_GET_FEATURES)
				reply(c, h.request, R, 8, feat, -1);
			continue;
		}
		switch (fk->mode) {
		case WRONG_REQUEST:
			reply(c, VHU_REQ_GET_QUEUE_NUM, R, 8, feat, -1);
			break;
		case NO_REPLY_FLAG:
			reply(c, h.request, VHU_FLAG_VERSION, 8, feat, -1);
			break;
		case BAD_VERSION:
			reply(c, h.request, VHU_FLAG_REPLY | 2, 8, feat, -1);
			break;
		case SHORT_SIZE:
			reply(c, h.request, R, 4, feat, -1);
			break;
		case OVERSIZE:
			reply(c, h.request, R, 4096, feat, -1);
			break;
		case WITH_FD:
			ev = eventfd(0, EFD_CLOEXEC);
			reply(c, h.request, R, 8, feat, ev);
			close(ev);
			break;
		case SILENT:
			break;
		case HALF_REPLY:
			send(c, &h, 6, MSG_NOSIGNAL);
			break;
		case CLOSE_AT_ONCE:
		default:
			goto out;
		}
	}
out:
	close(c);
	return NULL;
}

static void run_case(enum mode mode)
{
	static unsigned seq;
	struct fake fk = { .mode = mode };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhu_front_cfg cfg = {
		.queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT,
		.queue_size = 256,
	};
	uint64_t t0;
	int fds0;

	pv_log_set_level(PV_LOG_ERR);
	snprintf(fk.path, sizeof(fk.path), "/tmp/pvnet-tvfront-%d-%u.sock",
		 (int)getpid(), seq++);
	strcpy(sa.sun_path, fk.path);
	fds0 = count_fds();
	fk.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fk.lfd, 1), 0);
	assert_int_equal(pthread_create(&fk.th, NULL, fake_backend, &fk), 0);
	cfg.path = fk.path;
	t0 = pv_now_ns();
	assert_null(vhu_front_connect(&cfg, 400));
	/* bounded by the timeout, not hung */
	assert_true(pv_now_ns() - t0 < 3000000000ULL);
	pthread_join(fk.th, NULL);
	close(fk.lfd);
	unlink(fk.path);
	assert_int_equal(count_fds(), fds0);
}

static void wrong_request(void **s) { (void)s; run_case(WRONG_REQUEST); }
static void no_reply_flag(void **s) { (void)s; run_case(NO_REPLY_FLAG); }
static void bad_version(void **s) { (void)s; run_case(BAD_VERSION); }
static void short_size(void **s) { (void)s; run_case(SHORT_SIZE); }
static void oversize(void **s) { (void)s; run_case(OVERSIZE); }
static void with_fd(void **s) { (void)s; run_case(WITH_FD); }
static void silent(void **s) { (void)s; run_case(SILENT); }
static void half_reply(void **s) { (void)s; run_case(HALF_REPLY); }
static void close_at_once(void **s) { (void)s; run_case(CLOSE_AT_ONCE); }
static void nack_owner(void **s) { (void)s; run_case(NACK_OWNER); }

/*
 * vhu_front_set_mtu(): NET_SET_MTU acked, a NACK is -EIO, and a backend
 * without PROTOCOL_F_NET_MTU gets nothing (-EOPNOTSUPP).
 */
static void set_mtu(void **s)
{
	static unsigned seq;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhu_front_cfg cfg = {
		.queue_pairs = 1,
		.features = VHU_DEV_FEATURES_DEFAULT,
		.queue_size = 256,
	};

	(void)s;
	pv_log_set_level(PV_LOG_ERR);
	for (int m = MTU_1450; m <= MTU_NONE; m++) {
		struct fake fk = { .mode = (enum mode)m };
		struct vhu_front *f;

		snprintf(fk.path, sizeof(fk.path), "/tmp/pvnet-tvfront-mtu-%d-%u.sock",
			 (int)getpid(), seq++);
		strcpy(sa.sun_path, fk.path);
		fk.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(fk.lfd, 1), 0);
		assert_int_equal(pthread_create(&fk.th, NULL, fake_backend, &fk), 0);
		cfg.path = fk.path;
		f = vhu_front_connect(&cfg, 2000);
		assert_non_null(f);
		if (m == MTU_1450) {
			assert_int_equal(vhu_front_set_mtu(f, 1450), 0);
			assert_int_equal(vhu_front_set_mtu(f, 1451), -EIO);
		} else {
			assert_int_equal(vhu_front_set_mtu(f, 1450), -EOPNOTSUPP);
		}
		vhu_front_destroy(f);
		pthread_join(fk.th, NULL);
		close(fk.lfd);
		unlink(fk.path);
	}
}

static void no_backend_times_out(void **s)
{
	struct vhu_front_cfg cfg = {
		.path = "/tmp/pvnet-tvfront-nobody.sock",
		.queue_pairs = 1, .queue_size = 256,
	};
	struct vhu_front_cfg srv = cfg;
	uint64_t t0 = pv_now_ns();

	(void)s;
	assert_null(vhu_front_connect(&cfg, 200));
	assert_true(pv_now_ns() - t0 < 2000000000ULL);
	srv.server = true;
	assert_null(vhu_front_connect(&srv, 200));	/* nobody connects */
	assert_int_equal(access(srv.path, F_OK), -1);	/* socket removed */
	cfg.queue_size = 100;				/* not a power of 2 */
	assert_null(vhu_front_connect(&cfg, 200));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wrong_request),
		cmocka_unit_test(no_reply_flag),
		cmocka_unit_test(bad_version),
		cmocka_unit_test(short_size),
		cmocka_unit_test(oversize),
		cmocka_unit_test(with_fd),
		cmocka_unit_test(silent),
		cmocka_unit_test(half_reply),
		cmocka_unit_test(close_at_once),
		cmocka_unit_test(nack_owner),
		cmocka_unit_test(no_backend_times_out),
		cmocka_unit_test(set_mtu),
	};

	return cmocka_run_group_tests_name("vhost_front", tests, NULL, NULL);
}
