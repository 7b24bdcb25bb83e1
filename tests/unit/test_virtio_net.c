// SPDX-License-Identifier: MIT
/* test_virtio_net.c - virtio-net header parsing/checks and mergeable RX delivery */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <endian.h>
#include <errno.h>
#include <cmocka.h>

#include "pvnet/virtio.h"
#include "fg_fixture.h"

#define S	(256 * 1024ULL)
#define FEAT	(VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) | \
		 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | \
		 VIRTIO_BIT(VIRTIO_F_VERSION_1))

static int setup(void **state)
{
	return fg_group_setup(state, S);
}

static void hdr_len_by_features(void **state)
{
	(void)state;
	assert_int_equal(nethdr_len(0), 10);
	assert_int_equal(nethdr_len(VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), 12);
	assert_int_equal(nethdr_len(VIRTIO_BIT(VIRTIO_F_VERSION_1)), 12);
}

static void hdr_read_split_and_short(void **state)
{
	uint8_t raw[12] = { 1, 1, 0x36, 0, 0xa8, 0x05, 34, 0, 16, 0, 7, 0 };
	struct iovec iov[3] = {
		{ raw, 3 }, { raw + 3, 0 }, { raw + 3, 9 },
	};
	struct virtio_net_hdr h;

	(void)state;
	assert_int_equal(nethdr_read(&h, 12, iov, 3), 0);
	assert_int_equal(h.flags, 1);
	assert_int_equal(h.gso_type, 1);
	assert_int_equal(le16toh(h.hdr_len), 0x36);
	assert_int_equal(le16toh(h.gso_size), 1448);
	assert_int_equal(le16toh(h.csum_start), 34);
	assert_int_equal(le16toh(h.csum_offset), 16);
	assert_int_equal(le16toh(h.num_buffers), 7);
	assert_int_equal(nethdr_read(&h, 10, iov, 3), 0);
	assert_int_equal(h.num_buffers, 0);
	assert_int_equal(nethdr_read(&h, 12, iov, 1), -EINVAL);
	assert_int_equal(nethdr_read(&h, 13, iov, 3), -EINVAL);
}

static struct virtio_net_hdr mk(uint8_t flags, uint8_t gso, uint16_t hdr_len,
				uint16_t gso_size, uint16_t cs, uint16_t co)
{
	struct virtio_net_hdr h = {
		.flags = flags, .gso_type = gso, .hdr_len = htole16(hdr_len),
		.gso_size = htole16(gso_size), .csum_start = htole16(cs),
		.csum_offset = htole16(co),
	};
	return h;
}

/*
 * A guest frame over the limit is dropped on its header alone: nethdr_check
 * runs before any byte after the header is read or copied.
 */
static void hdr_check_length_limit(void **state)
{
	struct virtio_net_hdr h;

	(void)state;
	h = mk(0, 0, 0, 0, 0, 0);
	assert_int_equal(nethdr_check(&h, 70000), PV_DROP_PKT_TOO_LONG);
	assert_int_equal(nethdr_check(&h, PV_FRAME_MAX), PV_DROP_NONE);
	assert_int_equal(nethdr_check(&h, PV_FRAME_MAX + 1), PV_DROP_PKT_TOO_LONG);
	assert_int_equal(nethdr_check(&h, UINT32_MAX), PV_DROP_PKT_TOO_LONG);
	/* A partial checksum does not lift the limit. */
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
	assert_int_equal(nethdr_check(&h, 70000), PV_DROP_PKT_TOO_LONG);
	/* GSO: 64 KiB of payload plus headers. */
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 66, 1448,
	       34, 16);
	assert_int_equal(nethdr_check(&h, 65536 + 66), PV_DROP_NONE);
	assert_int_equal(nethdr_check(&h, 70000), PV_DROP_PKT_GSO_TOO_BIG);
	assert_int_equal(nethdr_check(&h, PV_FRAME_GSO_MAX), PV_DROP_NONE);
	assert_int_equal(nethdr_check(&h, PV_FRAME_GSO_MAX + 1),
			 PV_DROP_PKT_GSO_TOO_BIG);
	assert_int_equal(nethdr_check(&h, 1u << 31), PV_DROP_PKT_GSO_TOO_BIG);
}

static void hdr_check_claims(void **state)
{
	struct virtio_net_hdr h;

	(void)state;
	h = mk(0, 0, 0, 0, 0, 0);
	assert_int_equal(nethdr_check(&h, 60), PV_DROP_NONE);
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
	assert_int_equal(nethdr_check(&h, 52), PV_DROP_NONE);	/* 34+16+2 */
	assert_int_equal(nethdr_check(&h, 51), PV_DROP_PKT_HDR_CSUM);
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0xffff, 0xffff);
	assert_int_equal(nethdr_check(&h, 65535), PV_DROP_PKT_HDR_CSUM);
	/* the length first, as for any claim (a partial checksum alone has a
	 * path of its own: the same answers) */
	assert_int_equal(nethdr_check(&h, PV_FRAME_MAX + 1), PV_DROP_PKT_TOO_LONG);
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID, 0, 0,
	       0, 34, 16);
	assert_int_equal(nethdr_check(&h, 52), PV_DROP_NONE);
	assert_int_equal(nethdr_check(&h, 51), PV_DROP_PKT_HDR_CSUM);
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 34, 16);
	assert_int_equal(nethdr_check(&h, 60), PV_DROP_PKT_HDR_GSO);
	h = mk(VIRTIO_NET_HDR_F_RSC_INFO, 0, 0, 0, 0, 0);
	assert_int_equal(nethdr_check(&h, 60), PV_DROP_PKT_HDR_FLAGS);
	h = mk(0x80, 0, 0, 0, 0, 0);
	assert_int_equal(nethdr_check(&h, 60), PV_DROP_PKT_HDR_FLAGS);
	h = mk(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0);
	assert_int_equal(nethdr_check(&h, 60), PV_DROP_NONE);
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448,
	       34, 16);
	assert_int_equal(nethdr_check(&h, 3000), PV_DROP_NONE);
	assert_int_equal(nethdr_check(&h, 53), PV_DROP_PKT_HDR_GSO);
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6 |
	       VIRTIO_NET_HDR_GSO_ECN, 74, 1428, 54, 16);
	assert_int_equal(nethdr_check(&h, 3000), PV_DROP_NONE);
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 0,
	       34, 16);
	assert_int_equal(nethdr_check(&h, 3000), PV_DROP_PKT_HDR_GSO);
	h = mk(0, 2, 54, 1448, 0, 0);
	assert_int_equal(nethdr_check(&h, 3000), PV_DROP_PKT_HDR_GSO);
	h = mk(0, 6, 54, 1448, 0, 0);
	assert_int_equal(nethdr_check(&h, 3000), PV_DROP_PKT_HDR_GSO);
	h = mk(0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0);
	assert_int_equal(nethdr_check(&h, 3000), PV_DROP_PKT_HDR_GSO);
	h = mk(0, VIRTIO_NET_HDR_GSO_UDP_L4, 42, 1000, 0, 0);
	assert_int_equal(nethdr_check(&h, 3000), PV_DROP_NONE);
	/* a GSO packet: 64 KiB of payload + 128 bytes of headers at most */
	h = mk(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448,
	       34, 16);
	assert_int_equal(nethdr_check(&h, 65536 + 128), PV_DROP_NONE);
	assert_int_equal(nethdr_check(&h, 65536 + 129), PV_DROP_PKT_GSO_TOO_BIG);
	assert_int_equal(nethdr_check(&h, 1u << 20), PV_DROP_PKT_GSO_TOO_BIG);
	h = mk(0, 0, 0, 0, 0, 0);	/* not GSO: the frame limit applies */
	assert_int_equal(nethdr_check(&h, 65536 + 129), PV_DROP_PKT_TOO_LONG);
}

static void iov_helpers(void **state)
{
	uint8_t a[5] = { 0, 1, 2, 3, 4 }, b[3] = { 5, 6, 7 }, out[8];
	struct iovec iov[3] = { { a, 5 }, { NULL, 0 }, { b, 3 } };

	(void)state;
	assert_int_equal(pv_iov_len(iov, 3), 8);
	assert_int_equal(pv_iov_to_buf(iov, 3, 3, out, 8), 5);
	assert_memory_equal(out, ((uint8_t[]){ 3, 4, 5, 6, 7 }), 5);
	assert_int_equal(pv_iov_to_buf(iov, 3, 8, out, 8), 0);
	assert_int_equal(pv_iov_to_buf(iov, 3, 100, out, 8), 0);
	assert_int_equal(pv_buf_to_iov(iov, 3, 4, ((uint8_t[]){ 9, 9, 9 }), 3),
			 3);
	assert_int_equal(a[4], 9);
	assert_int_equal(b[0], 9);
	assert_int_equal(b[1], 9);
	assert_int_equal(b[2], 7);
}

/* Posts @n writable buffers of @len bytes (the last one may straddle). */
static void post_rx(struct fakeguest *fg, struct fg_ring *r, unsigned n,
		    uint32_t len, uint64_t *gpas, bool straddle_one)
{
	for (unsigned i = 0; i < n; i++) {
		struct vring_buf b = { fg_alloc(fg, 2, len, 8), len };

		if (straddle_one && i == 2)
			b.addr = fg_alloc_straddle(fg, len / 2, len);
		assert_true(b.addr != 0);
		gpas[i] = b.addr;
		assert_int_equal(vring_drv_add(&r->drv, &b, 0, 1,
					       (void *)(uintptr_t)(i + 1)), 0);
	}
	vring_drv_publish(&r->drv);
}

static void rx_mergeable_fill(void **state)
{
	struct fakeguest *fg = *state;
	uint8_t p1[123], p2[1], p3[376], want[512], got[512];
	struct iovec src[3] = { { p1, 123 }, { p2, 1 }, { p3, 376 } };
	struct virtio_net_hdr h = { .flags = 0, .num_buffers = 0xbeef };
	uint64_t gpas[8];
	void *ck[8];
	uint32_t lens[8], off = 0;
	struct fg_ring r;
	unsigned n;

	assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 0), 0);
	fg_fill(p1, sizeof(p1), 1);
	fg_fill(p2, sizeof(p2), 2);
	fg_fill(p3, sizeof(p3), 3);
	post_rx(fg, &r, 8, 100, gpas, true);
	assert_int_equal(vring_rx_enqueue(&r.dev, &h, 12, true, src, 3), 0);
	/* staged, not visible */
	assert_int_equal(fg_ring_used_idx(&r), 0);
	vring_flush(&r.dev);
	n = vring_drv_get_used(&r.drv, ck, lens, 8);
	assert_int_equal(n, 6);		/* 512 bytes in 100-byte buffers */
	memcpy(want, &h, 12);
	want[10] = 6;
	want[11] = 0;
	memcpy(want + 12, p1, 123);
	memcpy(want + 135, p2, 1);
	memcpy(want + 136, p3, 376);
	for (unsigned i = 0; i < n; i++) {
		assert_ptr_equal(ck[i], (void *)(uintptr_t)(i + 1));
		assert_int_equal(lens[i], i < 5 ? 100 : 12);
		fg_read(fg, gpas[i], got + off, lens[i]);
		off += lens[i];
	}
	assert_int_equal(off, 512);
	assert_memory_equal(got, want, 512);
	assert_int_equal(r.dev.st.pkts, 1);
	assert_int_equal(r.dev.st.bytes, 512);
	fg_ring_destroy(&r);
}

/* The ring runs out mid-packet: -ENOBUFS and nothing consumed. */
static void rx_enobufs_leaves_ring(void **state)
{
	struct fakeguest *fg = *state;
	uint8_t pay[500];
	struct iovec src = { pay, sizeof(pay) };
	struct virtio_net_hdr h = { 0 };
	uint64_t gpas[8];
	struct fg_ring r;
	uint16_t la, ui;

	assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 0), 0);
	fg_fill(pay, sizeof(pay), 9);
	post_rx(fg, &r, 3, 100, gpas, false);
	la = r.dev.last_avail;
	ui = r.dev.used_idx;
	assert_int_equal(vring_rx_enqueue(&r.dev, &h, 12, true, &src, 1),
			 -ENOBUFS);
	assert_int_equal(r.dev.last_avail, la);
	assert_int_equal(r.dev.used_idx, ui);
	vring_flush(&r.dev);
	assert_int_equal(fg_ring_used_idx(&r), 0);
	assert_true(vring_ready(&r.dev));
	assert_int_equal(vring_avail_count(&r.dev), 3);
	/* more buffers: now it fits, starting with the same first buffer */
	post_rx(fg, &r, 3, 100, gpas + 3, false);
	assert_int_equal(vring_rx_enqueue(&r.dev, &h, 12, true, &src, 1), 0);
	vring_flush(&r.dev);
	assert_int_equal(fg_ring_used_idx(&r), 6);
	fg_ring_destroy(&r);
}

/* Without MRG_RXBUF: exactly one buffer, -EMSGSIZE if it is too small. */
static void rx_single_buffer(void **state)
{
	struct fakeguest *fg = *state;
	uint8_t pay[200], got[212];
	struct iovec src = { pay, sizeof(pay) };
	struct virtio_net_hdr h = { .gso_type = 0 };
	uint64_t gpas[2];
	uint32_t len;
	struct fg_ring r;

	assert_int_equal(fg_ring_create(fg, &r, 2, 16,
					 VIRTIO_BIT(VIRTIO_F_VERSION_1), 0), 0);
	fg_fill(pay, sizeof(pay), 4);
	post_rx(fg, &r, 1, 100, gpas, false);
	assert_int_equal(vring_rx_enqueue(&r.dev, &h, 12, false, &src, 1),
			 -EMSGSIZE);
	assert_int_equal(r.dev.last_avail, 0);
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, NULL, 1), 0);

	/* A fresh ring with a big buffer, 10-byte header (legacy). */
	fg_ring_destroy(&r);
	assert_int_equal(fg_ring_create(fg, &r, 2, 16, 0, 0), 0);
	post_rx(fg, &r, 2, 2048, gpas, false);
	assert_int_equal(vring_rx_enqueue(&r.dev, &h, 10, false, &src, 1), 0);
	vring_flush(&r.dev);
	assert_int_equal(vring_drv_get_used(&r.drv, NULL, &len, 2), 1);
	assert_int_equal(len, 210);
	fg_read(fg, gpas[0], got, 210);
	assert_memory_equal(got + 10, pay, 200);
	assert_int_equal(vring_avail_count(&r.dev), 1);
	fg_ring_destroy(&r);
}

/* Tiny buffers: the header itself spans three of them, and num_buffers
 * lands in the second and third. */
static void rx_header_across_buffers(void **state)
{
	struct fakeguest *fg = *state;
	uint8_t pay[20], got[32], want[32];
	struct iovec src = { pay, sizeof(pay) };
	struct virtio_net_hdr h = { .flags = 0 };
	uint64_t gpas[8];
	uint32_t lens[8], off = 0;
	struct fg_ring r;
	unsigned n;

	assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 0), 0);
	fg_fill(pay, sizeof(pay), 5);
	post_rx(fg, &r, 8, 5, gpas, false);
	assert_int_equal(vring_rx_enqueue(&r.dev, &h, 12, true, &src, 1), 0);
	vring_flush(&r.dev);
	n = vring_drv_get_used(&r.drv, NULL, lens, 8);
	assert_int_equal(n, 7);		/* 32 bytes in 5-byte buffers */
	for (unsigned i = 0; i < n; i++) {
		fg_read(fg, gpas[i], got + off, lens[i]);
		off += lens[i];
	}
	assert_int_equal(off, 32);
	memcpy(want, &h, 12);
	want[10] = 7;
	want[11] = 0;
	memcpy(want + 12, pay, 20);
	assert_memory_equal(got, want, 32);
	fg_ring_destroy(&r);
}

/*
 * reserve + fill into one buffer (the one-piece fast path): a 3-piece
 * source, num_buffers 1 whatever the caller passed, a buffer exactly the
 * size needed; one byte short takes two buffers (the general path) with
 * the same bytes; a 10-byte header has no num_buffers.
 */
static void rx_fill_one_buffer(void **state)
{
	struct fakeguest *fg = *state;
	uint8_t p1[7], p2[1], p3[56], want[76], got[76];
	struct iovec src[3] = { { p1, 7 }, { p2, 1 }, { p3, 56 } };
	struct virtio_net_hdr h = { .flags = 1, .csum_start = htole16(3),
				    .csum_offset = htole16(4),
				    .num_buffers = 0xbeef };
	struct vring_elem el[4];
	uint32_t lens[4] = { 0 }, glen[4];
	uint64_t gpas[4];
	struct fg_ring r;
	int n;

	vring_elems_init(el, 4, NULL);	/* one-descriptor buffers only */
	fg_fill(p1, sizeof(p1), 11);
	fg_fill(p2, sizeof(p2), 12);
	fg_fill(p3, sizeof(p3), 13);
	memcpy(want, &h, 12);
	want[10] = 1;
	want[11] = 0;
	memcpy(want + 12, p1, 7);
	memcpy(want + 19, p2, 1);
	memcpy(want + 20, p3, 56);
	for (unsigned short_by = 0; short_by < 2; short_by++) {
		unsigned off = 0;

		assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 0), 0);
		post_rx(fg, &r, 2, 76 - short_by, gpas, false);
		n = vring_rx_reserve(&r.dev, 76, true, el, 4);
		assert_int_equal(n, 1 + (int)short_by);
		vring_rx_fill(el, (unsigned)n, &h, 12, src, 3, lens);
		for (int i = 0; i < n; i++)
			vring_push(&r.dev, el[i].head, lens[i]);
		vring_flush(&r.dev);
		assert_int_equal(vring_drv_get_used(&r.drv, NULL, glen, 4), n);
		for (int i = 0; i < n; i++) {
			fg_read(fg, gpas[i], got + off, glen[i]);
			off += glen[i];
		}
		assert_int_equal(off, 76);
		want[10] = (uint8_t)n;
		assert_memory_equal(got, want, 76);
		fg_ring_destroy(&r);
	}
	/* 10-byte header, one big buffer */
	assert_int_equal(fg_ring_create(fg, &r, 2, 16, 0, 0), 0);
	post_rx(fg, &r, 1, 2048, gpas, false);
	n = vring_rx_reserve(&r.dev, 74, false, el, 4);
	assert_int_equal(n, 1);
	vring_rx_fill(el, 1, &h, 10, src, 3, lens);
	assert_int_equal(lens[0], 74);
	fg_read(fg, gpas[0], got, 74);
	assert_memory_equal(got, want, 10);
	assert_memory_equal(got + 10, want + 12, 64);
	fg_ring_destroy(&r);
}

/*
 * A merged packet (a header piece and payload pieces of odd sizes, an empty
 * one among them) into mergeable buffers of an odd size: each buffer is
 * filled to its end across piece boundaries (lens all the buffer size but
 * the last), the bytes in order, num_buffers the count; with the 10-byte
 * header too (no num_buffers).
 */
static void rx_fill_across_pieces(void **state)
{
	struct fakeguest *fg = *state;
	static uint8_t p[6][1448], want[12 + 66 + 1448 + 1000 + 7 + 1448];
	const size_t plen[6] = { 66, 1448, 0, 1000, 7, 1448 };
	struct iovec src[6];
	struct virtio_net_hdr h = { .flags = 1, .gso_type = 1,
				    .hdr_len = htole16(66),
				    .gso_size = htole16(1448),
				    .csum_start = htole16(34),
				    .csum_offset = htole16(16) };
	static uint8_t got[sizeof(want)];
	struct vring_elem el[8];
	uint32_t lens[8], glen[8];
	uint64_t gpas[8];
	struct fg_ring r;
	size_t total = 0;

	vring_elems_init(el, 8, NULL);
	for (unsigned i = 0; i < 6; i++) {
		fg_fill(p[i], sizeof(p[i]), 20 + i);
		src[i].iov_base = p[i];
		src[i].iov_len = plen[i];
	}
	for (unsigned hl = 10; hl <= 12; hl += 2) {
		size_t frame = 0, off = 0;
		int n;

		memcpy(want, &h, hl);
		for (unsigned i = 0; i < 6; i++) {
			memcpy(want + hl + frame, p[i], plen[i]);
			frame += plen[i];
		}
		total = hl + frame;
		assert_int_equal(fg_ring_create(fg, &r, 2, 16,
						hl == 12 ? FEAT : 0, 0), 0);
		post_rx(fg, &r, 8, 1021, gpas, false);
		n = vring_rx_reserve(&r.dev, total, true, el, 8);
		assert_int_equal(n, (int)((total + 1020) / 1021));
		if (hl == 12)
			want[10] = (uint8_t)n, want[11] = 0;
		vring_rx_fill(el, (unsigned)n, &h, hl, src, 6, lens);
		for (int i = 0; i < n; i++) {
			assert_int_equal(lens[i], i < n - 1 ? 1021 :
					 total - 1021u * (unsigned)(n - 1));
			vring_push(&r.dev, el[i].head, lens[i]);
		}
		vring_flush(&r.dev);
		assert_int_equal(vring_drv_get_used(&r.drv, NULL, glen, 8), n);
		for (int i = 0; i < n; i++) {
			assert_int_equal(glen[i], lens[i]);
			fg_read(fg, gpas[i], got + off, glen[i]);
			off += glen[i];
		}
		assert_int_equal(off, total);
		assert_memory_equal(got, want, total);
		fg_ring_destroy(&r);
	}
}


/*
 * A receive buffer that already holds a header (a recycled one): the fill
 * leaves an identical header unwritten and rewrites any that differs, in
 * whichever of its 12 bytes; the guest always reads the packet's header.
 */
static void rx_fill_stale_header(void **state)
{
	struct fakeguest *fg = *state;
	uint8_t frame[64], got[76];
	struct iovec src[1] = { { frame, 64 } };
	struct virtio_net_hdr h = { 0 };
	uint8_t want[12] = { 0 }, stale[12];
	struct vring_elem el[1];
	uint32_t lens[1], glen[1];
	uint64_t gpas[1];
	struct fg_ring r;

	vring_elems_init(el, 1, NULL);
	fg_fill(frame, sizeof(frame), 5);
	want[10] = 1;	/* num_buffers */
	/* -1: the same header; then each of its bytes differing alone */
	for (int flip = -1; flip < 12; flip++) {
		memcpy(stale, want, sizeof(stale));
		if (flip >= 0)
			stale[flip] ^= 0x5a;
		assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 0), 0);
		post_rx(fg, &r, 1, 2048, gpas, false);
		assert_true(fg_write(fg, gpas[0], stale, sizeof(stale)));
		assert_int_equal(vring_rx_reserve(&r.dev, 76, true, el, 1), 1);
		vring_rx_fill(el, 1, &h, 12, src, 1, lens);
		vring_push(&r.dev, el[0].head, lens[0]);
		vring_flush(&r.dev);
		assert_int_equal(vring_drv_get_used(&r.drv, NULL, glen, 1), 1);
		assert_int_equal(glen[0], 76);
		fg_read(fg, gpas[0], got, 76);
		assert_memory_equal(got, want, 12);
		assert_memory_equal(got + 12, frame, 64);
		fg_ring_destroy(&r);
	}
}

/*
 * vring_rx_fill_plain() (no offload, one piece, one buffer): the bytes and
 * length vring_rx_fill() gives with a zero header (num_buffers 1, over a
 * stale header), when the buffer's first piece holds them all, exactly or
 * with room, in one region or the first of two; else false and nothing
 * written.
 */
static void rx_fill_plain_shapes(void **state)
{
	static const struct {
		uint32_t len;
		bool straddle, fits;
	} cs[] = {
		{ 76, false, true }, { 2048, false, true }, { 75, false, false },
		{ 152, true, true }, { 150, true, false },
	};
	struct fakeguest *fg = *state;
	uint8_t frame[64], got[76], want[76] = { 0 }, stale[12];

	fg_fill(frame, sizeof(frame), 9);
	want[10] = 1;	/* num_buffers */
	memcpy(want + 12, frame, sizeof(frame));
	memset(stale, 0xa5, sizeof(stale));
	for (unsigned c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
		unsigned k = cs[c].straddle ? 2 : 0;
		struct vring_elem el[3];
		uint32_t len = 0xdead;
		uint64_t gpas[3];
		struct fg_ring r;

		vring_elems_init(el, 3, NULL);
		assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 0), 0);
		post_rx(fg, &r, k + 1, cs[c].len, gpas, cs[c].straddle);
		assert_true(fg_write(fg, gpas[k], stale, sizeof(stale)));
		for (unsigned i = 0; i <= k; i++)
			assert_int_equal(vring_rx_reserve(&r.dev, 1, true,
							  &el[i], 1), 1);
		assert_int_equal(el[k].in_num, cs[c].straddle ? 2 : 1);
		assert_int_equal(vring_rx_fill_plain(&el[k], frame,
						     sizeof(frame), &len),
				 cs[c].fits);
		if (cs[c].fits) {
			assert_int_equal(len, 76);
			fg_read(fg, gpas[k], got, 76);
			assert_memory_equal(got, want, 76);
		} else {
			assert_int_equal(len, 0xdead);
			fg_read(fg, gpas[k], got, 12);
			assert_memory_equal(got, stale, 12);
		}
		fg_ring_destroy(&r);
	}
}

/*
 * A run of packets takes one buffer each with one index read: it stops at
 * the first packet its buffer cannot hold, and that buffer stays available
 * for the per-packet path; a ring with nothing available gives none.
 */
static void rx_reserve_burst_stops_at_misfit(void **state)
{
	struct fakeguest *fg = *state;
	uint32_t totals[6] = { 100, 200, 256, 257, 10, 10 };
	struct vring_elem el[6];
	uint64_t gpas[6];
	struct fg_ring r;
	unsigned n;

	vring_elems_init(el, 6, NULL);
	assert_int_equal(fg_ring_create(fg, &r, 2, 16, FEAT, 0), 0);
	assert_int_equal(vring_rx_reserve_burst(&r.dev, totals, 6, el), 0);
	post_rx(fg, &r, 6, 256, gpas, false);
	n = vring_rx_reserve_burst(&r.dev, totals, 6, el);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(el[i].in_num, 1);
		assert_int_equal(el[i].in_len, 256);
		assert_ptr_equal(el[i].iov, el[i].iov_inl);
	}
	assert_int_equal(r.dev.st.pkts, 3);
	assert_int_equal(r.dev.st.bytes, 100 + 200 + 256);
	/* the fourth buffer was given back: the general path takes it (two
	 * buffers for 257 bytes), then the run goes on */
	assert_int_equal(vring_rx_reserve(&r.dev, 257, true, &el[3], 3), 2);
	assert_int_equal(vring_rx_reserve_burst(&r.dev, totals + 5, 1,
						 &el[5]), 1);
	assert_int_equal(vring_rx_reserve_burst(&r.dev, totals, 1, el), 0);
	fg_ring_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hdr_len_by_features),
		cmocka_unit_test(hdr_read_split_and_short),
		cmocka_unit_test(hdr_check_claims),
		cmocka_unit_test(hdr_check_length_limit),
		cmocka_unit_test(iov_helpers),
		cmocka_unit_test(rx_mergeable_fill),
		cmocka_unit_test(rx_enobufs_leaves_ring),
		cmocka_unit_test(rx_single_buffer),
		cmocka_unit_test(rx_header_across_buffers),
		cmocka_unit_test(rx_fill_across_pieces),
		cmocka_unit_test(rx_fill_one_buffer),
		cmocka_unit_test(rx_reserve_burst_stops_at_misfit),
		cmocka_unit_test(rx_fill_stale_header),
		cmocka_unit_test(rx_fill_plain_shapes),
	};

	return cmocka_run_group_tests_name("virtio_net", tests, setup,
					   fg_group_teardown);
}
