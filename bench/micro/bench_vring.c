// SPDX-License-Identifier: MIT
/*
 * bench_vring.c - ring micro-benchmark: a driver thread and a device thread
 * on one queue pair. The driver transmits on TX; the device pops each chain
 * and copies it once into the RX ring (vring_rx_enqueue, mergeable); the
 * driver harvests and refills RX. Event-idx suppression on both rings;
 * eventfd kicks and calls only when the other side asked for them. Prints
 * Mpps, TSC cycles per packet, kicks and calls per packet. Not a test.
 *
 * Usage: bench_vring [--seconds N] [--size BYTES]...
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "pvnet/log.h"
#include "pvnet/virtio.h"

#define QSZ		256
#define BURST		32
#define HDR		12
#define TXBUF		2048
#define RXBUF		2048
#define GPA_BASE	0x100000ULL
/* Empty polls before a side goes to sleep (NAPI-style busy poll). */
#define SPIN_POLLS	512
#define FEAT		(VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) | \
			 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | \
			 VIRTIO_BIT(VIRTIO_F_VERSION_1))

struct bench {
	/* "guest RAM": rings and buffers, one gmem region */
	uint8_t *mem;
	size_t mem_len;
	struct gmem gm;
	uint64_t tx_ring_gpa, rx_ring_gpa, tx_buf_gpa, rx_buf_gpa;
	struct vring tx_drv, rx_drv;	/* driver role */
	struct vring tx_dev, rx_dev;	/* device role */
	int tx_kick, rx_kick;		/* driver -> device */
	int tx_call, rx_call;		/* device -> driver */
	uint32_t pkt_len;
	atomic_bool stop;
	uint64_t rx_pkts, tx_pkts;
	uint64_t dev_busy_cycles, drv_busy_cycles;
	uint64_t t0, t1;		/* TSC */
	double seconds;
};

static uint64_t ring_bytes(void)
{
	return (vring_desc_bytes(QSZ) + vring_avail_bytes(QSZ) + 4095) /
	       4096 * 4096 + vring_used_bytes(QSZ);
}

static void *hva(struct bench *b, uint64_t gpa)
{
	return b->mem + (gpa - GPA_BASE);
}

static int ring_pair(struct bench *b, uint64_t gpa, struct vring *drv,
		     struct vring *dev, const char *name)
{
	uint64_t d = gpa, a = gpa + vring_desc_bytes(QSZ);
	uint64_t u = gpa + (vring_desc_bytes(QSZ) + vring_avail_bytes(QSZ) +
			    4095) / 4096 * 4096;

	memset(drv, 0, sizeof(*drv));
	memset(dev, 0, sizeof(*dev));
	if (vring_setup(drv, QSZ, hva(b, d), hva(b, a), hva(b, u), FEAT,
			NULL))
		return -1;
	if (vring_setup(dev, QSZ,
			gmem_translate_contig(&b->gm, d, vring_desc_bytes(QSZ)),
			gmem_translate_contig(&b->gm, a, vring_avail_bytes(QSZ)),
			gmem_translate_contig(&b->gm, u, vring_used_bytes(QSZ)),
			FEAT, &b->gm))
		return -1;
	drv->name = name;
	dev->name = name;
	vring_drv_init(drv);
	vring_start(dev, 0);
	return 0;
}

static void notify(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		perror("eventfd write");
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("eventfd read");
}

/* Sleeps until @fd is signalled (or the bench ends). */
static void wait_fd(struct bench *b, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		if (poll(&p, 1, 100) > 0) {
			drain(fd);
			return;
		}
	}
}

/* Builds the source iovecs of a TX chain past its net header. */
static unsigned skip_hdr(const struct vring_elem *e, struct iovec *src)
{
	size_t skip = HDR;
	unsigned n = 0;

	for (unsigned i = 0; i < e->out_num; i++) {
		size_t l = e->iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		src[n].iov_base = (uint8_t *)e->iov[i].iov_base + skip;
		src[n].iov_len = l - skip;
		skip = 0;
		n++;
	}
	return n;
}

static void *device_thread(void *arg)
{
	static struct vring_elem elems[BURST];
	struct bench *b = arg;
	struct virtio_net_hdr hdr;
	struct iovec src[VRING_ELEM_MAX_IOV];
	unsigned idle = 0;

	vring_set_kick(&b->tx_dev, false);
	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		uint64_t c0 = __rdtsc();
		unsigned n = vring_pop_burst(&b->tx_dev, elems, BURST,
					     VRING_DIR_OUT);

		if (n == 0 && ++idle < SPIN_POLLS) {
			__builtin_ia32_pause();
			continue;
		}
		if (n == 0) {
			idle = 0;
			/* Ask for a kick, then re-check: a chain published
			 * between the pop and the enable is not missed. */
			vring_set_kick(&b->tx_dev, true);
			if (vring_avail_count(&b->tx_dev) == 0)
				wait_fd(b, b->tx_kick);
			vring_set_kick(&b->tx_dev, false);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			unsigned sn;
			int ret;

			if (nethdr_read(&hdr, HDR, elems[i].iov,
					elems[i].out_num))
				continue;
			sn = skip_hdr(&elems[i], src);
			while ((ret = vring_rx_enqueue(&b->rx_dev, &hdr, HDR,
						       true, src, sn)) ==
			       -ENOBUFS) {
				/* RX full: publish what we have, wait for
				 * refills. */
				vring_flush(&b->rx_dev);
				if (vring_need_call(&b->rx_dev))
					notify(b->rx_call);
				vring_set_kick(&b->rx_dev, true);
				if (vring_avail_count(&b->rx_dev) == 0)
					wait_fd(b, b->rx_kick);
				vring_set_kick(&b->rx_dev, false);
				if (atomic_load_explicit(&b->stop,
							 memory_order_relaxed))
					break;
			}
			vring_push(&b->tx_dev, elems[i].head, 0);
		}
		/* One used->idx update and at most one call per ring per
		 * burst. */
		vring_flush(&b->rx_dev);
		vring_flush(&b->tx_dev);
		if (vring_need_call(&b->rx_dev))
			notify(b->rx_call);
		if (vring_need_call(&b->tx_dev))
			notify(b->tx_call);
		b->dev_busy_cycles += __rdtsc() - c0;
	}
	return NULL;
}

static void *driver_thread(void *arg)
{
	struct bench *b = arg;
	void *ck[BURST];
	uint32_t lens[BURST];
	uint64_t end_ns = pv_now_ns() + (uint64_t)(b->seconds * 1e9);
	unsigned iter = 0, idle = 0;

	/* Fill RX with every buffer. */
	for (uintptr_t i = 0; i < QSZ; i++) {
		struct vring_buf rb = { b->rx_buf_gpa + i * RXBUF, RXBUF };

		vring_drv_add(&b->rx_drv, &rb, 0, 1, (void *)i);
	}
	vring_drv_publish(&b->rx_drv);
	vring_drv_set_call(&b->tx_drv, false);
	vring_drv_set_call(&b->rx_drv, false);
	b->t0 = __rdtsc();
	for (;;) {
		uint64_t c0 = __rdtsc();
		unsigned n, progress = 0;

		if ((++iter & 1023) == 0 && pv_now_ns() >= end_ns)
			break;
		/* RX: count and refill. */
		n = vring_drv_get_used(&b->rx_drv, ck, lens, BURST);
		for (unsigned i = 0; i < n; i++) {
			uintptr_t k = (uintptr_t)ck[i];
			struct vring_buf rb = { b->rx_buf_gpa + k * RXBUF,
						RXBUF };

			vring_drv_add(&b->rx_drv, &rb, 0, 1, ck[i]);
		}
		if (n) {
			b->rx_pkts += n;
			vring_drv_publish(&b->rx_drv);
			if (vring_drv_need_kick(&b->rx_drv))
				notify(b->rx_kick);
			progress += n;
		}
		/* TX: recycle, then send as many as there are free slots. */
		n = vring_drv_get_used(&b->tx_drv, ck, NULL, BURST);
		progress += n;
		n = 0;
		while (b->tx_drv.num_free && n < BURST) {
			uintptr_t k = b->tx_drv.free_head;
			struct vring_buf tb = { b->tx_buf_gpa + k * TXBUF,
						HDR + b->pkt_len };

			vring_drv_add(&b->tx_drv, &tb, 1, 0, (void *)k);
			n++;
		}
		if (n) {
			b->tx_pkts += n;
			vring_drv_publish(&b->tx_drv);
			if (vring_drv_need_kick(&b->tx_drv))
				notify(b->tx_kick);
			progress += n;
		}
		b->drv_busy_cycles += __rdtsc() - c0;
		if (progress) {
			idle = 0;
		} else if (++idle < SPIN_POLLS) {
			__builtin_ia32_pause();
		} else {
			idle = 0;
			/* Nothing to do: ask for interrupts, re-check,
			 * sleep. */
			vring_drv_set_call(&b->rx_drv, true);
			vring_drv_set_call(&b->tx_drv, true);
			if (!vring_drv_has_used(&b->rx_drv) &&
			    !vring_drv_has_used(&b->tx_drv)) {
				struct pollfd p[2] = {
					{ .fd = b->rx_call, .events = POLLIN },
					{ .fd = b->tx_call, .events = POLLIN },
				};

				if (poll(p, 2, 100) > 0) {
					if (p[0].revents)
						drain(b->rx_call);
					if (p[1].revents)
						drain(b->tx_call);
				}
			}
			vring_drv_set_call(&b->rx_drv, false);
			vring_drv_set_call(&b->tx_drv, false);
		}
	}
	b->t1 = __rdtsc();
	atomic_store(&b->stop, true);
	notify(b->tx_kick);
	notify(b->rx_kick);
	return NULL;
}

static double tsc_hz(void)
{
	uint64_t n0 = pv_now_ns(), c0 = __rdtsc(), n1, c1;
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	n1 = pv_now_ns();
	c1 = __rdtsc();
	return (double)(c1 - c0) * 1e9 / (double)(n1 - n0);
}

static void pin(pthread_t t, int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(t, sizeof(set), &set);
}

static int run(uint32_t pkt_len, double seconds, double hz)
{
	struct bench *b = calloc(1, sizeof(*b));
	pthread_t dt, vt;
	double secs, pkts;

	if (!b)
		return -1;
	b->pkt_len = pkt_len;
	b->seconds = seconds;
	b->mem_len = 2 * ring_bytes() + 2 * (size_t)QSZ * TXBUF + 8192;
	b->mem = aligned_alloc(4096, (b->mem_len + 4095) / 4096 * 4096);
	if (!b->mem)
		return -1;
	memset(b->mem, 0, b->mem_len);
	gmem_init(&b->gm);
	if (gmem_add_mapped(&b->gm, GPA_BASE, b->mem_len, GPA_BASE, b->mem))
		return -1;
	b->tx_ring_gpa = GPA_BASE;
	b->rx_ring_gpa = GPA_BASE + (ring_bytes() + 4095) / 4096 * 4096;
	b->tx_buf_gpa = b->rx_ring_gpa + (ring_bytes() + 4095) / 4096 * 4096;
	b->rx_buf_gpa = b->tx_buf_gpa + (uint64_t)QSZ * TXBUF;
	if (ring_pair(b, b->tx_ring_gpa, &b->tx_drv, &b->tx_dev, "tx") ||
	    ring_pair(b, b->rx_ring_gpa, &b->rx_drv, &b->rx_dev, "rx"))
		return -1;
	for (unsigned i = 0; i < QSZ; i++)
		for (uint32_t k = 0; k < pkt_len; k++)
			((uint8_t *)hva(b, b->tx_buf_gpa + i * TXBUF))[HDR + k] =
				(uint8_t)(k + i);
	b->tx_kick = eventfd(0, EFD_NONBLOCK);
	b->rx_kick = eventfd(0, EFD_NONBLOCK);
	b->tx_call = eventfd(0, EFD_NONBLOCK);
	b->rx_call = eventfd(0, EFD_NONBLOCK);
	if (b->tx_kick < 0 || b->rx_kick < 0 || b->tx_call < 0 ||
	    b->rx_call < 0)
		return -1;

	pthread_create(&dt, NULL, device_thread, b);
	pthread_create(&vt, NULL, driver_thread, b);
	pin(dt, 0);
	pin(vt, 1);
	pthread_join(vt, NULL);
	pthread_join(dt, NULL);

	secs = (double)(b->t1 - b->t0) / hz;
	pkts = (double)b->rx_pkts;
	if (pkts == 0)
		pkts = 1;
	printf("%5u B  %7.3f Mpps  %6.2f Gbit/s  cycles/pkt: wall %6.1f  "
	       "device %6.1f  driver %6.1f  kicks/pkt %.5f  calls/pkt %.5f  "
	       "(%" PRIu64 " pkts, %.2f s)\n",
	       pkt_len, pkts / secs / 1e6, pkts * pkt_len * 8 / secs / 1e9,
	       (double)(b->t1 - b->t0) / pkts,
	       (double)b->dev_busy_cycles / pkts,
	       (double)b->drv_busy_cycles / pkts,
	       (double)(b->tx_drv.st.kicks + b->rx_drv.st.kicks) / pkts,
	       (double)(b->tx_dev.st.calls + b->rx_dev.st.calls) / pkts,
	       b->rx_pkts, secs);
	if (b->tx_dev.state != VRING_RUNNING ||
	    b->rx_dev.state != VRING_RUNNING ||
	    b->tx_drv.state != VRING_RUNNING ||
	    b->rx_drv.state != VRING_RUNNING)
		printf("  warning: a ring broke\n");
	close(b->tx_kick);
	close(b->rx_kick);
	close(b->tx_call);
	close(b->rx_call);
	vring_teardown(&b->tx_drv);
	vring_teardown(&b->rx_drv);
	vring_teardown(&b->tx_dev);
	vring_teardown(&b->rx_dev);
	gmem_clear(&b->gm);
	free(b->mem);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t sizes[8] = { 64, 1500 };
	unsigned nsizes = 0;
	double seconds = 2.5, hz;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc &&
			   nsizes < 8) {
			sizes[nsizes++] = (uint32_t)atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--seconds N] "
				"[--size BYTES]...\n", argv[0]);
			return 2;
		}
	}
	if (!nsizes)
		nsizes = 2;
	for (unsigned i = 0; i < nsizes; i++) {
		if (sizes[i] == 0 || sizes[i] > TXBUF - HDR) {
			fprintf(stderr, "size must be 1..%d\n", TXBUF - HDR);
			return 2;
		}
	}
	if (seconds <= 0)
		seconds = 2.5;
	hz = tsc_hz();
	printf("bench_vring: queue size %d, burst %d, event-idx, mergeable RX, "
	       "one copy per byte; TSC %.3f GHz; size = bytes after the "
	       "12-byte net header\n", QSZ, BURST, hz / 1e9);
	for (unsigned i = 0; i < nsizes; i++)
		if (run(sizes[i], seconds, hz))
			return 1;
	return 0;
}
