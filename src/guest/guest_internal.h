/* SPDX-License-Identifier: MIT */
/* guest_internal.h - pieces shared by the guest/ files only */
#ifndef PVNET_GUEST_INTERNAL_H
#define PVNET_GUEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pvnet/drop.h"
#include "pvnet/virtio.h"

/* Moves this process into /var/run/netns/@netns (NULL: stay). 0 or -errno. */
int guest_enter_netns(const char *netns);
/*
 * Creates TAP @ifname in the current netns with @nq queues (IFF_MULTI_QUEUE
 * when nq > 1), a 12-byte vnet header, the given MAC (NULL: kernel's), up,
 * with the offloads the negotiated virtio @features allow; puts the queue
 * fds (non-blocking) in @fds[0..nq-1]; @mtu (0: the kernel's default) is
 * the interface MTU. Returns fds[0] or -errno (nothing left open).
 */
int guest_tap_open(const char *ifname, const uint8_t *mac, unsigned mtu,
		   uint64_t features,
		   unsigned nq, int *fds);

/*
 * Copies the virtio-net header (@hdr_len bytes at the start of @iov[0])
 * of a frame the backend put in the RX ring into @h and checks the copy:
 * nethdr_check() against the frame's length, and only offloads @features
 * negotiated. Returns PV_DROP_NONE or why the frame must be dropped.
 */
enum pv_drop guest_rx_hdr(uint64_t features, size_t hdr_len,
			  const struct iovec *iov, unsigned n,
			  struct virtio_net_hdr *h);
/*
 * Writes one frame to TAP queue @fd: the checked header @h, then @iov past
 * its first @hdr_len bytes (the backend's own header is never written).
 * 0 or -errno.
 */
int guest_tap_write(int fd, const struct virtio_net_hdr *h, size_t hdr_len,
		    const struct iovec *iov, unsigned n);

#endif /* PVNET_GUEST_INTERNAL_H */
