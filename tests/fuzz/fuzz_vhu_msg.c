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
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
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
		.features = VHU_DEV_FEATURES_DEFAULT,
		.has_mac = true,
		.mtu = 9000,
	};

	pv_log_set_level(PV_LOG_ERR);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	int fds0;

	if (!dev)
		init_once();
	fds0 = count_fds();
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
