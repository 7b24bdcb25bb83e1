/* SPDX-License-Identifier: MIT */
/*
 * guest.h - `pvnet guest`, the virtio-user frontend: it owns its "guest
 * memory" (a memfd it shares with the backend), drives the rings as a
 * virtio-net driver does, and moves packets between them and a TAP device,
 * or generates / checks a numbered test stream.
 *
 * Ownership: a struct vuser owns its memfd mapping, eventfds, rings and the
 * vhost-user connection; vuser_destroy() releases all of them.
 */
#ifndef PVNET_GUEST_H
#define PVNET_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnet/pkt.h"
#include "pvnet/vhost.h"
#include "pvnet/virtio.h"

/* Deeper than QEMU's 256: a sink that wakes late still has room. */
#define VUSER_QSIZE	1024
/* A 64 KiB GSO frame takes 9 mergeable buffers of 8 KiB (33 of 2 KiB): the
 * ring holds 113 such frames (7 MiB), so a guest late to refill does not
 * make the backend drop whole GSO frames (rx_no_buf), each ~45 segments
 * for TCP to resend. Small frames waste only (sparse) memory. */
#define VUSER_RXBUF_MRG	8192
/* TX buffers (a TSO send from the TAP is up to 64 KB), and RX buffers
 * without MRG_RXBUF; the memfd is sparse, so untouched pages cost nothing. */
#define VUSER_BUF	(65536 + 256)

struct vuser_queue {
	struct vring rx, tx;
	int rx_kick, rx_call, tx_kick, tx_call;	/* eventfds we own */
	uint8_t *rx_bufs, *tx_bufs;
	uint8_t *ring_mem;
	uint16_t tx_free[VUSER_QSIZE];	/* stack of free TX buffer slots */
	uint16_t tx_nfree;
	/* a mergeable packet being gathered across used-ring harvests */
	struct iovec rx_iov[64];
	uint16_t rx_slot[64];
	unsigned rx_niov, rx_want;
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes, rx_drops, tx_drops;
	uint64_t kicks, calls;
};

struct vuser {
	struct vhu_front *f;
	struct vhu_front_cfg cfg;
	int memfd;
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t features;
	size_t hdr_len;
	unsigned nq;
	size_t rxbuf_len;
	struct vuser_queue q[VHU_MAX_QUEUE_PAIRS];
};

/*
 * Creates the memory, connects to (or waits for) the backend at cfg->path,
 * negotiates, and starts nq queue pairs with RX buffers posted (packed
 * rings with cfg->packed). NULL on failure (logged); errno EOPNOTSUPP when
 * the backend lacks a feature asked for (trying again will not help).
 * Free with vuser_destroy().
 */
struct vuser *vuser_create(const struct vhu_front_cfg *cfg, int timeout_ms);
/*
 * Creates the guest memory: a memfd of @size bytes, with @seal sealed
 * against shrinking, growing and further seals, so the backend it is
 * shared with can neither resize it nor be made to fault on a page past
 * its end (without: tests that shrink it on purpose). Returns the fd (the
 * caller owns it) or -errno.
 */
int vuser_memfd_create(uint64_t size, bool seal);
/* Disconnects and frees everything @v owns. */
void vuser_destroy(struct vuser *v);
/*
 * Adds one frame (12-byte virtio-net header included) of @len bytes, built
 * by @fill into a free TX buffer, on queue @q. Returns 0 or -ENOBUFS.
 */
int vuser_tx_one(struct vuser *v, unsigned q,
		 size_t (*fill)(void *buf, size_t cap, void *arg), void *arg);
/* Publishes added TX chains and kicks if the backend wants it. */
void vuser_tx_flush(struct vuser *v, unsigned q);
/* Recycles TX buffers the backend has used. Returns how many. */
unsigned vuser_tx_reap(struct vuser *v, unsigned q);
/*
 * Harvests received packets: calls @deliver with the packet's iovecs (the
 * first starts with the net header) and the RX buffer slot of a packet that
 * fits one buffer (-1 otherwise). If @deliver returns true the buffers are
 * reposted at once; false means it keeps the single buffer and gives it back
 * later with vuser_rx_release(). Returns packets.
 */
unsigned vuser_rx_poll(struct vuser *v, unsigned q, unsigned budget,
		       bool (*deliver)(const struct iovec *iov, unsigned n,
				       int slot, void *arg), void *arg);
/* Reposts RX buffers a deliver callback kept; publishes and kicks once. */
void vuser_rx_release(struct vuser *v, unsigned q, const uint32_t *slots,
		      unsigned n);

#endif /* PVNET_GUEST_H */
