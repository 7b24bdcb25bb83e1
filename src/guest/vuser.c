// SPDX-License-Identifier: MIT
/*
 * vuser.c - the virtio-user driver: memfd guest memory, rings as a driver
 *
 * The memory is one memfd, shared with the backend as one region whose guest
 * physical address equals our own virtual address (as DPDK's virtio-user
 * does), so a descriptor's addr is simply a pointer. Layout per queue pair:
 * RX ring, TX ring (each desc | avail | used on 4 KiB boundaries; a packed
 * ring uses the same slots for its descriptor ring and its driver and
 * device event areas), RX buffers, TX buffers.
 *
 * The backend is not trusted either (style.md §6.13): used entries are
 * validated by vring_drv_get_used(), and a broken ring stops that queue.
 * With VIRTIO_F_IN_ORDER negotiated the rings run the driver's in-order
 * path (vring_drv_set_in_order()): chains come back in the order added,
 * a TX split ring's without reading its used entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pvnet/guest.h"
#include "pvnet/log.h"

#define PAGE_ROUND(x)	(((x) + 4095ULL) & ~4095ULL)
/* One ring of VUSER_QSIZE entries: desc | avail | used, each page aligned. */
#define RING_DESC_OFF	0ULL
#define RING_AVAIL_OFF	PAGE_ROUND(16ULL * VUSER_QSIZE)
#define RING_USED_OFF	(RING_AVAIL_OFF + PAGE_ROUND(6ULL + 2 * VUSER_QSIZE))
#define RING_BYTES	(RING_USED_OFF + PAGE_ROUND(6ULL + 8 * VUSER_QSIZE))

static uint64_t qp_bytes(size_t rxbuf_len)
{
	return 2 * RING_BYTES + (uint64_t)VUSER_QSIZE * rxbuf_len +
	       (uint64_t)VUSER_QSIZE * VUSER_BUF;
}

static int post_rx(struct vuser *v, struct vuser_queue *q, uint16_t slot)
{
	struct vring_buf b = {
		.addr = (uint64_t)(uintptr_t)(q->rx_bufs + (size_t)slot * v->rxbuf_len),
		.len = (uint32_t)v->rxbuf_len,
	};

	return vring_drv_add(&q->rx, &b, 0, 1, (void *)(uintptr_t)(slot + 1));
}

static int setup_queue(struct vuser *v, unsigned i, uint8_t *base)
{
	struct vuser_queue *q = &v->q[i];
	uint8_t *rxr = base, *txr = base + RING_BYTES;
	int rc;

	q->ring_mem = base;
	q->rx_bufs = base + 2 * RING_BYTES;
	q->tx_bufs = q->rx_bufs + (size_t)VUSER_QSIZE * v->rxbuf_len;
	q->rx_kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->rx_call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->tx_kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->tx_call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->rx_kick < 0 || q->rx_call < 0 || q->tx_kick < 0 || q->tx_call < 0)
		return -errno;

	rc = vring_setup(&q->rx, VUSER_QSIZE, rxr, rxr + RING_AVAIL_OFF,
			 rxr + RING_USED_OFF, v->features, NULL);
	if (!rc)
		rc = vring_setup(&q->tx, VUSER_QSIZE, txr, txr + RING_AVAIL_OFF,
				 txr + RING_USED_OFF, v->features, NULL);
	if (rc)
		return rc;
	/* IN_ORDER negotiated: harvest in add order (docs/virtio.md) */
	vring_drv_set_in_order(&q->rx,
			       v->features & VIRTIO_BIT(VIRTIO_F_IN_ORDER));
	vring_drv_set_in_order(&q->tx,
			       v->features & VIRTIO_BIT(VIRTIO_F_IN_ORDER));
	vring_drv_init(&q->rx);
	vring_drv_init(&q->tx);
	for (uint16_t s = 0; s < VUSER_QSIZE; s++) {
		rc = post_rx(v, q, s);
		if (rc)
			return rc;
		q->tx_free[s] = s;
	}
	q->tx_nfree = VUSER_QSIZE;
	vring_drv_publish(&q->rx);
	/* TX completions are reaped when we need buffers: no interrupts. */
	vring_drv_set_call(&q->tx, false);

	rc = vhu_front_setup_vring(v->f, 2 * i, VUSER_QSIZE, rxr,
				   rxr + RING_AVAIL_OFF, rxr + RING_USED_OFF,
				   q->rx_kick, q->rx_call);
	if (!rc)
		rc = vhu_front_setup_vring(v->f, 2 * i + 1, VUSER_QSIZE, txr,
					   txr + RING_AVAIL_OFF,
					   txr + RING_USED_OFF, q->tx_kick,
					   q->tx_call);
	return rc;
}

int vuser_memfd_create(uint64_t size, bool seal)
{
	int fd = memfd_create("pvnet-guest",
			      MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));

	if (fd < 0)
		return -errno;
	/*
	 * Sized once, then sealed: a backend maps the whole region, and a
	 * file that shrank under it would SIGBUS it; nobody can grow it or
	 * lift the seals either.
	 */
	if (ftruncate(fd, (off_t)size) < 0 ||
	    (seal && fcntl(fd, F_ADD_SEALS,
			   F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

struct vuser *vuser_create(const struct vhu_front_cfg *cfg, int timeout_ms)
{
	struct vuser *v = calloc(1, sizeof(*v));
	uint64_t per_qp;
	int rc;

	if (!v)
		return NULL;
	v->memfd = -1;
	for (unsigned i = 0; i < VHU_MAX_QUEUE_PAIRS; i++)
		v->q[i].rx_kick = v->q[i].rx_call = v->q[i].tx_kick =
			v->q[i].tx_call = -1;
	v->cfg = *cfg;
	v->f = vhu_front_connect(cfg, timeout_ms);
	if (!v->f)
		goto err;
	v->features = vhu_front_features(v->f);
	if (!(v->features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		pv_err("guest: backend did not accept VERSION_1");
		goto err;
	}
	if (cfg->packed && !(v->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED))) {
		pv_err("guest: %s does not offer VIRTIO_F_RING_PACKED (--packed): "
		       "no packed rings with this backend", cfg->path);
		vuser_destroy(v);
		errno = EOPNOTSUPP;	/* not worth a retry */
		return NULL;
	}
	v->hdr_len = nethdr_len(v->features);
	v->rxbuf_len = (v->features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)) ?
		       VUSER_RXBUF_MRG : VUSER_BUF;
	v->nq = cfg->queue_pairs ? cfg->queue_pairs : 1;
	per_qp = qp_bytes(v->rxbuf_len);
	v->mem_size = (per_qp * v->nq + (2u << 20) - 1) & ~((2ULL << 20) - 1);

	v->memfd = vuser_memfd_create(v->mem_size, !cfg->unsealed_mem);
	if (v->memfd < 0) {
		errno = -v->memfd;
		goto err_errno;
	}
	v->mem = mmap(NULL, v->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->memfd, 0);
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		goto err_errno;
	}
	rc = vhu_front_set_mem(v->f, v->memfd, v->mem, v->mem_size);
	if (rc) {
		pv_err("guest: SET_MEM_TABLE failed: %s", strerror(-rc));
		goto err;
	}
	for (unsigned i = 0; i < v->nq; i++) {
		rc = setup_queue(v, i, v->mem + per_qp * i);
		if (rc) {
			pv_err("guest: queue pair %u setup failed: %s", i,
			       strerror(-rc));
			goto err;
		}
	}
	return v;

err_errno:
	pv_err("guest: memory: %s", strerror(errno));
err:
	vuser_destroy(v);
	return NULL;
}

void vuser_destroy(struct vuser *v)
{
	if (!v)
		return;
	if (v->f)
		vhu_front_destroy(v->f);
	for (unsigned i = 0; i < VHU_MAX_QUEUE_PAIRS; i++) {
		struct vuser_queue *q = &v->q[i];
		int *fds[] = { &q->rx_kick, &q->rx_call, &q->tx_kick, &q->tx_call };

		for (unsigned k = 0; k < ARRAY_SIZE(fds); k++)
			if (*fds[k] >= 0)
				close(*fds[k]);
		if (q->rx.size)
			vring_teardown(&q->rx);
		if (q->tx.size)
			vring_teardown(&q->tx);
	}
	if (v->mem)
		munmap(v->mem, v->mem_size);
	if (v->memfd >= 0)
		close(v->memfd);
	free(v);
}

unsigned vuser_tx_reap(struct vuser *v, unsigned qi)
{
	struct vuser_queue *q = &v->q[qi];
	void *cookies[64];
	uint32_t lens[64];
	unsigned total = 0, n;

	do {
		n = vring_drv_get_used(&q->tx, cookies, lens, ARRAY_SIZE(cookies));
		for (unsigned i = 0; i < n; i++)
			q->tx_free[q->tx_nfree++] =
				(uint16_t)((uintptr_t)cookies[i] - 1);
		total += n;
	} while (n == ARRAY_SIZE(cookies));
	return total;
}

int vuser_tx_one(struct vuser *v, unsigned qi,
		 size_t (*fill)(void *buf, size_t cap, void *arg), void *arg)
{
	struct vuser_queue *q = &v->q[qi];
	struct vring_buf b;
	uint16_t slot;
	uint8_t *buf;
	size_t len;

	/*
	 * Reaped slots go back on top of the free stack and are taken first,
	 * but reaping only once the stack is empty walked all VUSER_QSIZE
	 * slots (64 MiB) before any came back: every TAP read of a TSO frame
	 * landed in memory out of cache, first touched by a page fault. A
	 * look every 32 sends keeps the slots in use few and warm.
	 */
	if ((!q->tx_nfree || !(q->tx_pkts & 31)) && !vuser_tx_reap(v, qi) &&
	    !q->tx_nfree)
		return -ENOBUFS;
	slot = q->tx_free[--q->tx_nfree];
	buf = q->tx_bufs + (size_t)slot * VUSER_BUF;
	len = fill(buf, VUSER_BUF, arg);
	if (len == 0 || len > VUSER_BUF) {
		q->tx_free[q->tx_nfree++] = slot;
		return len ? -EMSGSIZE : -EAGAIN;
	}
	b.addr = (uint64_t)(uintptr_t)buf;
	b.len = (uint32_t)len;
	if (vring_drv_add(&q->tx, &b, 1, 0, (void *)(uintptr_t)(slot + 1))) {
		q->tx_free[q->tx_nfree++] = slot;
		return -ENOBUFS;
	}
	q->tx_pkts++;
	q->tx_bytes += len - v->hdr_len;
	return 0;
}

void vuser_tx_flush(struct vuser *v, unsigned qi)
{
	struct vuser_queue *q = &v->q[qi];
	uint64_t one = 1;

	vring_drv_publish(&q->tx);
	if (vring_drv_need_kick(&q->tx)) {
		q->kicks++;
		if (write(q->tx_kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
			pv_warn("guest: kick failed: %s", strerror(errno));
	}
}

static uint16_t hdr_num_buffers(const struct vuser *v, const uint8_t *first)
{
	uint16_t nb;

	if (v->hdr_len < 12 || !(v->features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)))
		return 1;
	memcpy(&nb, first + 10, 2);
	return nb;
}

unsigned vuser_rx_poll(struct vuser *v, unsigned qi, unsigned budget,
		       bool (*deliver)(const struct iovec *iov, unsigned n,
				       int slot, void *arg), void *arg)
{
	struct vuser_queue *q = &v->q[qi];
	unsigned pkts = 0, reposted = 0;
	void *cookies[32];
	uint32_t lens[32];

	while (pkts < budget) {
		unsigned n = vring_drv_get_used(&q->rx, cookies, lens,
						ARRAY_SIZE(cookies));

		if (!n)
			break;
		for (unsigned i = 0; i < n; i++) {
			uint16_t slot = (uint16_t)((uintptr_t)cookies[i] - 1);
			uint8_t *buf = q->rx_bufs + (size_t)slot * v->rxbuf_len;
			uint32_t len = PV_MIN(lens[i], (uint32_t)v->rxbuf_len);

			if (q->rx_niov == 0) {
				uint16_t nb = len >= v->hdr_len ?
					      hdr_num_buffers(v, buf) : 0;

				/* A lying num_buffers cannot make us gather forever. */
				if (nb == 0 || nb > ARRAY_SIZE(q->rx_iov)) {
					q->rx_drops++;
					post_rx(v, q, slot);
					reposted++;
					continue;
				}
				q->rx_want = nb;
			}
			q->rx_iov[q->rx_niov].iov_base = buf;
			q->rx_iov[q->rx_niov].iov_len = len;
			q->rx_slot[q->rx_niov++] = slot;
			if (q->rx_niov < q->rx_want)
				continue;
			q->rx_pkts++;
			q->rx_bytes += pv_iov_len(q->rx_iov, q->rx_niov) - v->hdr_len;
			if (deliver(q->rx_iov, q->rx_niov,
				    q->rx_niov == 1 ? q->rx_slot[0] : -1, arg)) {
				for (unsigned k = 0; k < q->rx_niov; k++)
					post_rx(v, q, q->rx_slot[k]);
				reposted += q->rx_niov;
			}
			q->rx_niov = 0;
			pkts++;
		}
	}
	if (reposted) {
		uint64_t one = 1;

		vring_drv_publish(&q->rx);
		if (vring_drv_need_kick(&q->rx) &&
		    write(q->rx_kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
			pv_warn("guest: rx kick failed: %s", strerror(errno));
	}
	return pkts;
}

void vuser_rx_release(struct vuser *v, unsigned qi, const uint32_t *slots,
		      unsigned n)
{
	struct vuser_queue *q = &v->q[qi];
	uint64_t one = 1;

	for (unsigned i = 0; i < n; i++)
		post_rx(v, q, (uint16_t)slots[i]);
	vring_drv_publish(&q->rx);
	if (vring_drv_need_kick(&q->rx) &&
	    write(q->rx_kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pv_warn("guest: rx kick failed: %s", strerror(errno));
}
