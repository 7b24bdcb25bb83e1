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
	uint8_t first[8][16];	/* each frame's first bytes */
};

static unsigned len_tx(struct port *p, unsigned q, struct pkt **pkts, unsigned n)
{
	struct len_port *l = (struct len_port *)p;

	(void)q;
	for (unsigned i = 0; i < n; i++)
		if (l->n < 8) {
			memcpy(l->first[l->n], pkts[i]->seg[0].iov_base, 16);
			l->len[l->n++] = pkts[i]->len;
		}
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

/* A recording port in network @net of @sw. */
static struct len_port *add_len(struct sw *sw, const char *name, const char *net)
{
	struct len_port *l = calloc(1, sizeof(*l));
	char err[160];
	int n = sw_net_get(sw, net, true, err, sizeof(err));

	assert_true(n >= 0);
	strcpy(l->port.name, name);
	l->port.ops = &len_ops;
	l->port.nqueues = 1;
	l->port.net = (uint8_t)n;
	assert_int_equal(sw_port_add(sw, &l->port), 0);
	return l;
}

/* Sends a broadcast from MAC ..:51:@src, tagged with @vid unless 0. */
static void send_tagged(int fd, uint16_t vid, uint8_t src)
{
	uint8_t b[12 + 64] = { 0 };
	size_t o = 12;

	memset(b + o, 0xff, 6);
	memcpy(b + o + 6, "\x02\x00\x00\x00\x51\x00", 6);
	b[o + 11] = src;
	o += 12;
	if (vid) {
		b[o++] = 0x81;
		b[o++] = 0x00;
		b[o++] = (uint8_t)(vid >> 8);
		b[o++] = (uint8_t)vid;
	}
	b[o++] = 0x88;
	b[o++] = 0xb5;
	assert_int_equal(send(fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
}

/*
 * A TAP trunk: VID 10 is red, 20 blue, untagged the port's own (default):
 * received tags are popped into the frame's network (isolation: red's
 * frame reaches red's port only), an unknown VID is dropped by name, and a
 * frame sent in red goes out tagged 10, a GSO frame with csum_start and
 * hdr_len moved by the tag's 4 bytes.
 */
static void tap_vlan_trunk(void **state)
{
	struct sw *sw = sw_create(SW_MODE_LEARN, 300);
	struct len_port *red = add_len(sw, "red", "red");
	struct len_port *blue = add_len(sw, "blue", "blue");
	struct len_port *dflt = add_len(sw, "dflt", "default");
	int sv[2];
	char err[256] = "";
	uint8_t out[12 + 128];
	struct virtio_net_hdr vh;
	struct port *tap;
	struct pkt pk, *pp = &pk;
	uint8_t frame[80] = { 0 };

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	tap = port_tap_create_fd("t", sv[0], err, sizeof(err));
	assert_non_null(tap);
	tap->vlan[0].vid = 10;
	tap->vlan[0].net = red->port.net;
	tap->vlan[1].vid = 20;
	tap->vlan[1].net = blue->port.net;
	tap->vid_of_net[red->port.net] = 10;
	tap->vid_of_net[blue->port.net] = 20;
	tap->nvlans = 2;
	tap->gso_offload = true;
	assert_int_equal(sw_port_add(sw, tap), 0);

	send_tagged(sv[1], 10, 1);
	send_tagged(sv[1], 20, 2);
	send_tagged(sv[1], 0, 3);
	send_tagged(sv[1], 30, 4);		/* no network: dropped */
	while (dp_poll(tap, 0, 32) > 0)
		;
	assert_int_equal(red->n, 1);
	assert_int_equal(blue->n, 1);
	assert_int_equal(dflt->n, 1);
	assert_int_equal(tap->st.drops.n[PV_DROP_VLAN_UNKNOWN], 1);
	/* popped: the addresses then the ethertype, 4 bytes shorter */
	assert_int_equal(red->len[0], 60);
	assert_int_equal(red->first[0][11], 1);
	assert_int_equal(red->first[0][12], 0x88);
	assert_int_equal(blue->first[0][11], 2);
	assert_int_equal(dflt->len[0], 64);

	/* red -> the trunk: tagged 10; default: untagged */
	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x52\x01\x08\x00\x45", 9);
	memset(&pk, 0, sizeof(pk));
	pk.seg[0].iov_base = frame;
	pk.seg[0].iov_len = sizeof(frame);
	pk.nseg = 1;
	pk.len = sizeof(frame);
	pk.vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	pk.vh.csum_start = 34;
	pk.vh.csum_offset = 16;
	pk.vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	pk.vh.gso_size = 1448;
	pk.vh.hdr_len = 54;
	pk.net = red->port.net;
	assert_int_equal(tap->ops->tx_burst(tap, 0, &pp, 1), 1);
	assert_int_equal(recv(sv[1], out, sizeof(out), 0), 12 + 84);
	memcpy(&vh, out, sizeof(vh));
	assert_int_equal(vh.csum_start, 38);
	assert_int_equal(vh.hdr_len, 58);
	assert_memory_equal(out + 12 + 12, "\x81\x00\x00\x0a\x08\x00\x45", 7);
	assert_memory_equal(out + 12 + 6, "\x02\x00\x00\x00\x52\x01", 6);
	pk.net = dflt->port.net;
	pk.vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	assert_int_equal(tap->ops->tx_burst(tap, 0, &pp, 1), 1);
	assert_int_equal(recv(sv[1], out, sizeof(out), 0), 12 + 80);
	memcpy(&vh, out, sizeof(vh));
	assert_int_equal(vh.csum_start, 34);
	assert_memory_equal(out + 12 + 12, "\x08\x00\x45", 3);
	close(sv[1]);
	sw_destroy(sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tap_frames_over_the_limit),
		cmocka_unit_test(tap_vlan_trunk),
	};

	return cmocka_run_group_tests_name("port_tap", tests, NULL, NULL);
}
