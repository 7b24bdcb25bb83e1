// SPDX-License-Identifier: MIT
/*
 * fuzz_vhu_msg.c - libFuzzer target: a byte stream becomes vhost-user
 * messages, with real memfds and eventfds riding along, fed to one backend
 * through vhu_dev_handle_msg(). Asserts no crash and no fd or mapping leak.
 *
 * Input, repeated: [request][flags][fds][len] then len payload bytes.
 *   request: the request number (values >= 48 become 1000 + value: unknown)
 *   flags:   bit0 NEED_REPLY; bit7 set: bits 0-3 are the raw header flags
 *            instead; bit6: lie about the size (claims len + 4 * bits 0-5)
 *   fds:     bits 0-2 how many fds (up to 7), bits 3-7 per fd a memfd (1)
 *            or an eventfd (0); memfds are 64 KB
 *
 * Stream mode: an input that starts with "STRM" and a split byte goes
 * through the real socket path instead: the rest is written, in two pieces
 * split where that byte says, into a socketpair adopted with
 * vhu_dev_attach_fd(), and the loop runs after each piece (framing, partial
 * messages, replies, the peer closing mid-message).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pvnet/log.h"
#include "pvnet/loop.h"
#include "pvnet/vhost.h"

#define FUZZ_MEMFD_LEN	65536

static struct pv_loop *loop;
static struct vhu_dev *dev;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static void init_once(void)
{
	char path[64];
	struct vhu_dev_cfg cfg = {
		.name = "fuzz",
		.client = true,		/* nobody listens: no socket, no accept */
		.max_queue_pairs = 2,
		/* with live migration: SET_LOG_BASE maps logs from the memfds */
		.features = VHU_DEV_FEATURES_DEFAULT | VHU_DEV_FEATURES_MIGRATION,
		.has_mac = true,
		.mtu = 9000,
	};

	/* PVNET_FUZZ_DEBUG=1 shows what a seed reaches (rings running...) */
	pv_log_set_level(getenv("PVNET_FUZZ_DEBUG") ? PV_LOG_DEBUG : PV_LOG_ERR);
	snprintf(path, sizeof(path), "/nonexistent/pvnet-fuzz-%d.sock",
		 (int)getpid());
	cfg.path = path;
	loop = pv_loop_create();
	dev = vhu_dev_create(&cfg, NULL, NULL, loop);
	if (!loop || !dev)
		abort();
}

static int make_fd(int memfd)
{
	int fd;

	if (!memfd)
		return eventfd(0, EFD_CLOEXEC);
	fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, FUZZ_MEMFD_LEN) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void pump(void)
{
	/* bounded: the device's own timer may fire now and then */
	for (int i = 0; i < 64; i++)
		if (pv_loop_run_once(loop, 0) <= 0)
			break;
}

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void stream_mode(const uint8_t *data, size_t len)
{
	size_t split;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (vhu_dev_attach_fd(dev, sv[0]) < 0)
		abort();
	split = len ? data[0] % (len + 1) : 0;
	if (len)
		data++, len--;
	split = split > len ? len : split;
	if (split && send(sv[1], data, split, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		goto out;
	pump();
	drain(sv[1]);
	if (len > split)
		send(sv[1], data + split, len - split,
		     MSG_DONTWAIT | MSG_NOSIGNAL);
	pump();
	drain(sv[1]);
out:
	/* the peer goes away, possibly mid-message */
	close(sv[1]);
	pump();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	int fds0;

	if (!dev)
		init_once();
	fds0 = count_fds();
	if (len >= 4 && !memcmp(data, "STRM", 4)) {
		stream_mode(data + 4, len - 4);
		len = 0;
	}
	while (len >= 4) {
		struct vhu_msg m;
		uint8_t rq = data[0], fl = data[1], fb = data[2];
		size_t plen = data[3];

		data += 4;
		len -= 4;
		if (plen > len)
			plen = len;
		memset(&m, 0, sizeof(m));
		m.hdr.request = rq < 48 ? rq : 1000u + rq;
		if (fl & 0x80)
			m.hdr.flags = fl & 0xf;
		else
			m.hdr.flags = VHU_FLAG_VERSION |
				      ((fl & 1) ? VHU_FLAG_NEED_REPLY : 0);
		memcpy(m.payload.bytes, data, plen);
		m.hdr.size = (uint32_t)plen;
		if (fl & 0x40)
			m.hdr.size += 4u * (fl & 0x3f);
		data += plen;
		len -= plen;
		m.nfds = fb & 7;
		for (unsigned i = 0; i < m.nfds; i++) {
			m.fds[i] = make_fd((fb >> (3 + i % 5)) & 1);
			if (m.fds[i] < 0)
				abort();
		}
		/* takes the fds, whatever it decides */
		vhu_dev_handle_msg(dev, &m);
	}
	vhu_dev_drop(dev);
	if (count_fds() != fds0) {
		fprintf(stderr, "fd leak: %d before, %d after\n", fds0,
			count_fds());
		abort();
	}
	return 0;
}
