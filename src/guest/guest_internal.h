/* SPDX-License-Identifier: MIT */
/* guest_internal.h - pieces shared by the guest/ files only */
#ifndef PVNET_GUEST_INTERNAL_H
#define PVNET_GUEST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Moves this process into /var/run/netns/@netns (NULL: stay). 0 or -errno. */
int guest_enter_netns(const char *netns);
/*
 * Creates TAP @ifname in the current netns with @nq queues (IFF_MULTI_QUEUE
 * when nq > 1), a 12-byte vnet header, the given MAC (NULL: kernel's), up,
 * with the offloads the negotiated virtio @features allow; puts the queue
 * fds (non-blocking) in @fds[0..nq-1]. Returns fds[0] or -errno (nothing
 * left open).
 */
int guest_tap_open(const char *ifname, const uint8_t *mac, uint64_t features,
		   unsigned nq, int *fds);

#endif /* PVNET_GUEST_INTERNAL_H */
