// SPDX-License-Identifier: MIT
/*
 * test_port_tap.c - the TAP port's receive path over a socketpair standing
 * in for /dev/net/tun (a read returns one frame, vnet header first): frames
 * over the length limit are dropped by name, a frame at the limit passes
 * whole, nothing is ever described past the read buffer.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvnet/dp.h"
#include "pvnet/switch.h"
#include "../../src/port/port_internal.h"

struct len_port {
	struct port port;
	unsigned n;
	uint32_t len[8];
};

static unsigned len_tx(struct port *p, unsigned q, struct pkt **pkts, unsigned n)
{
	struct len_port *l = (struct len_port *)p;

	(void)q;
	for (unsigned i = 0; i < n; i++)
		if (l->n < 8)
			l->len[l->n++] = pkts[i]->len;
	return n;
}

static void len_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops len_ops = {
	.type = "len", .tx_burst = len_tx, .destroy = len_destroy,
};

static void send_frame(int fd, size_t len)
{
	uint8_t *b = calloc(1, 12 + len);

	memset(b + 12, 0xff, 6);	/* broadcast: floods to the other port */
	memcpy(b + 18, "\x02\x00\x00\x00\x51\x01\x88\xb5", 8);
	assert_int_equal(send(fd, b, 12 + len, 0), (ssize_t)(12 + len));
	free(b);
}

static void tap_frames_over_the_limit(void **state)
{
	struct sw *sw = sw_create(SW_MODE_LEARN, 300);
	struct len_port *out = calloc(1, sizeof(*out));
	int sv[2], big = 4 << 20;
	char err[256] = "";
	struct port *tap;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big,
				    sizeof(big)), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	tap = port_tap_create_fd("t", sv[0], err, sizeof(err));
	assert_non_null(tap);
	assert_int_equal(sw_port_add(sw, tap), 0);
	strcpy(out->port.name, "out");
	out->port.ops = &len_ops;
	out->port.nqueues = 1;
	assert_int_equal(sw_port_add(sw, &out->port), 0);

	send_frame(sv[1], 100);
	send_frame(sv[1], 70000);		/* the read cuts it */
	send_frame(sv[1], PV_FRAME_MAX + 1);
	send_frame(sv[1], PV_FRAME_MAX);	/* the longest there is */
	while (dp_poll(tap, 0, 32) > 0)
		;
	assert_int_equal(tap->st.drops.n[PV_DROP_PKT_TOO_LONG], 2);
	assert_int_equal(out->n, 2);
	assert_int_equal(out->len[0], 100);
	assert_int_equal(out->len[1], PV_FRAME_MAX);
	close(sv[1]);
	sw_destroy(sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tap_frames_over_the_limit),
	};

	return cmocka_run_group_tests_name("port_tap", tests, NULL, NULL);
}
