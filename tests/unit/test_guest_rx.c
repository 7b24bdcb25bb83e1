// SPDX-License-Identifier: MIT
/*
 * test_guest_rx.c - `pvnet guest` does not trust its backend (style §6.13):
 * a virtio-net header the backend wrote is checked on a private copy before
 * the frame reaches a TAP with IFF_VNET_HDR (the kernel would act on its
 * offsets), and the frontend's memory is a memfd sealed against shrinking
 * and growing, so the backend it is shared with cannot be made to fault on
 * it (SIGBUS) and cannot resize it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pvnet/drop.h"
#include "pvnet/guest.h"
#include "pvnet/virtio.h"
#include "../../src/guest/guest_internal.h"

#define HDR	12
#define ALL	(VIRTIO_BIT(VIRTIO_F_VERSION_1) |			\
		 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |			\
		 VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |			\
		 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |			\
		 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6))

/* A 100-byte frame after the header, in two buffers as MRG_RXBUF gives. */
static uint8_t buf0[HDR + 60], buf1[40];

static enum pv_drop check(const struct virtio_net_hdr *in, uint64_t features)
{
	struct iovec iov[2] = { { buf0, sizeof(buf0) }, { buf1, sizeof(buf1) } };
	struct virtio_net_hdr out;

	memset(buf0, 0x5a, sizeof(buf0));
	memcpy(buf0, in, HDR);
	return guest_rx_hdr(features, HDR, iov, 2, &out);
}

static void good_headers_pass(void **state)
{
	struct virtio_net_hdr h = { .num_buffers = htole16(2) };

	(void)state;
	assert_int_equal(check(&h, ALL), PV_DROP_NONE);
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = htole16(34);
	h.csum_offset = htole16(16);
	assert_int_equal(check(&h, ALL), PV_DROP_NONE);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = htole16(1448);
	h.hdr_len = htole16(54);
	assert_int_equal(check(&h, ALL), PV_DROP_NONE);
}

static void bad_headers_are_refused(void **state)
{
	struct virtio_net_hdr h;

	(void)state;
	/* a flag a device never sets toward a driver here */
	h = (struct virtio_net_hdr){ .flags = 0x80 };
	assert_int_equal(check(&h, ALL), PV_DROP_PKT_HDR_FLAGS);
	/* the checksum field past the end of the frame (100 bytes) */
	h = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				     .csum_start = htole16(90),
				     .csum_offset = htole16(16) };
	assert_int_equal(check(&h, ALL), PV_DROP_PKT_HDR_CSUM);
	/* an unknown GSO type */
	h = (struct virtio_net_hdr){ .gso_type = 7, .gso_size = htole16(1000),
				     .hdr_len = htole16(54) };
	assert_int_equal(check(&h, ALL), PV_DROP_PKT_HDR_GSO);
	/* gso_size 0 */
	h = (struct virtio_net_hdr){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				     .hdr_len = htole16(54) };
	assert_int_equal(check(&h, ALL), PV_DROP_PKT_HDR_GSO);
	/* hdr_len past the frame */
	h = (struct virtio_net_hdr){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
				     .gso_size = htole16(1000),
				     .hdr_len = htole16(101) };
	assert_int_equal(check(&h, ALL), PV_DROP_PKT_HDR_GSO);
}

/* What was not negotiated must not come: the TAP would take it anyway. */
static void unnegotiated_offloads_are_refused(void **state)
{
	struct virtio_net_hdr h = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				    .gso_size = htole16(1448),
				    .hdr_len = htole16(54) };
	uint64_t no_tso4 = ALL & ~VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4);

	(void)state;
	assert_int_equal(check(&h, no_tso4), PV_DROP_PKT_HDR_GSO);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(check(&h, ALL), PV_DROP_PKT_HDR_GSO);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(check(&h, ALL), PV_DROP_PKT_HDR_GSO);
	h = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				     .csum_start = htole16(34),
				     .csum_offset = htole16(16) };
	assert_int_equal(check(&h, ALL & ~VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)),
			 PV_DROP_PKT_HDR_FLAGS);
}

/* The TAP gets the checked copy, not what the backend writes meanwhile. */
static void the_checked_copy_is_written(void **state)
{
	struct iovec iov[2] = { { buf0, sizeof(buf0) }, { buf1, sizeof(buf1) } };
	struct virtio_net_hdr h = { 0 }, got;
	uint8_t out[HDR + 100 + 8];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	memset(buf0, 0x5a, sizeof(buf0));
	memset(buf1, 0xa5, sizeof(buf1));
	memset(buf0, 0, HDR);
	assert_int_equal(guest_rx_hdr(ALL, HDR, iov, 2, &h), PV_DROP_NONE);
	buf0[0] = 0xff;		/* the backend scribbles after the check */
	assert_int_equal(guest_tap_write(sv[0], &h, HDR, iov, 2), 0);
	assert_int_equal(read(sv[1], out, sizeof(out)), HDR + 100);
	memcpy(&got, out, HDR);
	assert_int_equal(got.flags, 0);
	assert_int_equal(out[HDR], 0x5a);
	assert_int_equal(out[HDR + 60], 0xa5);
	close(sv[0]);
	close(sv[1]);
}

static void memfd_is_sealed(void **state)
{
	uint64_t size = 2u << 20;
	int fd = vuser_memfd_create(size, true), seals;
	struct stat st;

	(void)state;
	assert_true(fd >= 0);
	seals = fcntl(fd, F_GET_SEALS);
	assert_true(seals >= 0);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_true(seals & F_SEAL_SEAL);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	/* neither end of the connection can change the size any more */
	assert_int_equal(ftruncate(fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, (off_t)size * 2), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_headers_pass),
		cmocka_unit_test(bad_headers_are_refused),
		cmocka_unit_test(unnegotiated_offloads_are_refused),
		cmocka_unit_test(the_checked_copy_is_written),
		cmocka_unit_test(memfd_is_sealed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
