// SPDX-License-Identifier: MIT
/*
 * test_vxlan.c - the VXLAN port: the header and its receive check, the
 * remote MAC table (learning, ageing, moves, its bound under a flood of new
 * MACs), and two ports talking over loopback UDP (127.0.0.1 and 127.0.0.2):
 * a broadcast goes to every remote and teaches the receiver the sender's
 * MAC; a unicast then goes to the learned VTEP only; a partial checksum is
 * completed on the way; a TSO send is segmented, not dropped; an over-MTU
 * frame and a frame with nowhere to go are dropped by name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "pvnet/port.h"
#include "pvnet/switch.h"
#include "pvnet/vxlan.h"
#include "../../src/ctl/ctl_internal.h"

static void test_hdr_roundtrip(void **state)
{
	uint8_t d[VXLAN_HLEN + 60] = { 0 };
	uint32_t il = 0;

	(void)state;
	vxlan_hdr_build(d, 0x123456);
	assert_int_equal(d[0], 0x08);
	assert_int_equal(d[4], 0x12);
	assert_int_equal(d[5], 0x34);
	assert_int_equal(d[6], 0x56);
	assert_int_equal(d[7], 0);
	assert_int_equal(vxlan_decap(d, sizeof(d), 0x123456, &il), PV_DROP_NONE);
	assert_int_equal(il, 60);
	/* Reserved fields are ignored on receipt (RFC 7348). */
	d[1] = d[2] = d[3] = d[7] = 0xff;
	assert_int_equal(vxlan_decap(d, sizeof(d), 0x123456, &il), PV_DROP_NONE);
	assert_int_equal(vxlan_decap(d, sizeof(d), 0x123457, &il),
			 PV_DROP_VX_UNKNOWN_VNI);
	assert_int_equal(vxlan_decap(d, VXLAN_HLEN + ETH_HLEN - 1, 0x123456, &il),
			 PV_DROP_VX_TRUNC);
	assert_int_equal(vxlan_decap(d, VXLAN_HLEN + ETH_HLEN, 0x123456, &il),
			 PV_DROP_NONE);
	d[0] = 0;
	assert_int_equal(vxlan_decap(d, sizeof(d), 0x123456, &il), PV_DROP_VX_BAD_HDR);
	d[0] = 0x0c;	/* I + a GPE next-protocol flag */
	assert_int_equal(vxlan_decap(d, sizeof(d), 0x123456, &il), PV_DROP_VX_BAD_HDR);
}

static void test_hdr_too_long(void **state)
{
	size_t len = VXLAN_HLEN + PV_FRAME_MAX + 1;
	uint8_t *d = calloc(1, len);
	uint32_t il = 0;

	(void)state;
	assert_non_null(d);
	vxlan_hdr_build(d, 7);
	assert_int_equal(vxlan_decap(d, len, 7, &il), PV_DROP_VX_TOO_LONG);
	assert_int_equal(vxlan_decap(d, len - 1, 7, &il), PV_DROP_NONE);
	assert_int_equal(il, PV_FRAME_MAX);
	free(d);
}

static struct vxlan_addr addr4(uint8_t last)
{
	struct vxlan_addr a = { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
				  198, 18, 0, last } };
	return a;
}

#define SEC	1000000000ULL

static void test_fdb_learn_age_move(void **state)
{
	struct vxlan_fdb f;
	struct vxlan_addr a = addr4(1), b = addr4(2), out;
	uint8_t mac[ETH_ALEN] = { 2, 0, 0, 0, 0, 1 };
	uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	(void)state;
	assert_int_equal(vxlan_fdb_init(&f, 64, 300 * SEC), 0);
	assert_false(vxlan_fdb_lookup(&f, mac, 10 * SEC, &out));
	assert_int_equal(vxlan_fdb_learn(&f, mac, &a, 10 * SEC), 1);
	assert_true(vxlan_fdb_lookup(&f, mac, 11 * SEC, &out));
	assert_memory_equal(out.a, a.a, 16);
	assert_int_equal(vxlan_fdb_learn(&f, mac, &a, 12 * SEC), 0);
	assert_int_equal(vxlan_fdb_count(&f, 12 * SEC), 1);
	/* Heard from another VTEP: it moved. */
	assert_int_equal(vxlan_fdb_learn(&f, mac, &b, 13 * SEC), 1);
	assert_int_equal(f.moved, 1);
	assert_true(vxlan_fdb_lookup(&f, mac, 14 * SEC, &out));
	assert_memory_equal(out.a, b.a, 16);
	/* Refreshed traffic keeps it; silence ages it. */
	assert_int_equal(vxlan_fdb_learn(&f, mac, &b, 200 * SEC), 0);
	assert_true(vxlan_fdb_lookup(&f, mac, 450 * SEC, &out));
	assert_false(vxlan_fdb_lookup(&f, mac, 501 * SEC, &out));
	assert_int_equal(vxlan_fdb_count(&f, 501 * SEC), 0);
	/* A group address is never a source to learn. */
	assert_int_equal(vxlan_fdb_learn(&f, bcast, &a, 10 * SEC), 0);
	assert_false(vxlan_fdb_lookup(&f, bcast, 10 * SEC, &out));
	vxlan_fdb_free(&f);
}

static void test_fdb_bounded(void **state)
{
	struct vxlan_fdb f;
	struct vxlan_addr a = addr4(9), out;
	unsigned cap, ok = 0, refused = 0;
	uint8_t mac[ETH_ALEN] = { 2, 0, 0, 0, 0, 0 };

	(void)state;
	assert_int_equal(vxlan_fdb_init(&f, 64, 300 * SEC), 0);
	cap = f.nbuckets * VXLAN_FDB_WAYS;
	assert_true(cap >= 64 && cap <= 128);
	/* A hostile peer sends from 100000 new MACs: the table stays its size. */
	for (unsigned i = 0; i < 100000; i++) {
		mac[3] = (uint8_t)(i >> 16);
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		if (vxlan_fdb_learn(&f, mac, &a, SEC) == -EDQUOT)
			refused++;
		else
			ok++;
	}
	assert_int_equal(ok, cap);
	assert_int_equal(refused, 100000 - cap);
	assert_int_equal(f.refused, refused);
	assert_int_equal(vxlan_fdb_count(&f, SEC), cap);
	/* Once they age, new MACs get their places. */
	mac[0] = 6;
	assert_int_equal(vxlan_fdb_learn(&f, mac, &a, 400 * SEC), 1);
	assert_true(vxlan_fdb_lookup(&f, mac, 400 * SEC, &out));
	vxlan_fdb_free(&f);
}

/*
 * One writer moves a MAC between two VTEPs whose addresses differ in every
 * byte while a reader looks it up: the reader sees one or the other, never
 * a mix of both (the seqlock), and never an error. TSan checks the rest.
 */
struct torn_ctx {
	struct vxlan_fdb f;
	int stop;
	unsigned long seen_a, seen_b, torn, lookups;
};

static void *torn_reader(void *arg)
{
	struct torn_ctx *c = arg;
	struct vxlan_addr a = { { 0 } }, b, out;
	uint8_t mac[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x77 };

	memset(b.a, 0xff, sizeof(b.a));
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&c->lookups, c->lookups + 1, __ATOMIC_RELAXED);
		if (!vxlan_fdb_lookup(&c->f, mac, SEC, &out))
			continue;
		if (!memcmp(out.a, a.a, 16))
			c->seen_a++;
		else if (!memcmp(out.a, b.a, 16))
			c->seen_b++;
		else
			c->torn++;
	}
	return NULL;
}

static void test_fdb_concurrent(void **state)
{
	static struct torn_ctx c;
	struct vxlan_addr a = { { 0 } }, b;
	uint8_t mac[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x77 };
	unsigned long i;
	pthread_t t;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(b.a, 0xff, sizeof(b.a));
	assert_int_equal(vxlan_fdb_init(&c.f, 64, 300 * SEC), 0);
	assert_int_equal(pthread_create(&t, NULL, torn_reader, &c), 0);
	/* Until both sides did enough while the other ran (a loaded machine
	 * may not run the reader at first), within a bound. */
	for (i = 0; i < 20000000 && (i < 200000 ||
	     __atomic_load_n(&c.lookups, __ATOMIC_RELAXED) < 1000000); i++)
		(void)vxlan_fdb_learn(&c.f, mac, i & 1 ? &b : &a, SEC);
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(c.torn, 0);
	assert_int_equal(c.f.moved, i - 1);
	vxlan_fdb_free(&c.f);
}

/* Two ports over loopback. */
struct pair {
	struct port *a, *b;
	unsigned short port;
};

static struct port *mk(const char *spec)
{
	char err[256] = "";
	struct port *p = port_create(NULL, spec, err, sizeof(err));

	if (!p)
		fprintf(stderr, "port_create(%s): %s\n", spec, err);
	return p;
}

static int pair_setup(void **state)
{
	struct pair *pp = calloc(1, sizeof(*pp));
	char spec[256];

	pp->port = (unsigned short)(40000 + getpid() % 20000);
	snprintf(spec, sizeof(spec), "vxlan,name=a,vni=77,local=127.0.0.1,"
		 "remote=127.0.0.2,dstport=%u,mtu=1500", pp->port);
	pp->a = mk(spec);
	/* b has no remote=: it sends only to VTEPs it learned. */
	snprintf(spec, sizeof(spec), "vxlan,name=b,vni=77,local=127.0.0.2,"
		 "dstport=%u,mtu=1500,udpcsum=off", pp->port);
	pp->b = mk(spec);
	if (!pp->a || !pp->b)
		return -1;
	*state = pp;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *pp = *state;

	if (pp->a)
		pp->a->ops->destroy(pp->a);
	if (pp->b)
		pp->b->ops->destroy(pp->b);
	free(pp);
	return 0;
}

static void mkframe(struct pkt *pk, uint8_t *buf, uint32_t len,
		    const uint8_t *dst, const uint8_t *src)
{
	memset(pk, 0, sizeof(*pk));
	memcpy(buf, dst, ETH_ALEN);
	memcpy(buf + ETH_ALEN, src, ETH_ALEN);
	buf[12] = 0x88;
	buf[13] = 0xb5;	/* local experimental ethertype */
	for (uint32_t i = ETH_HLEN; i < len; i++)
		buf[i] = (uint8_t)i;
	pk->len = len;
	pk->seg[0].iov_base = buf;
	pk->seg[0].iov_len = len;
	pk->nseg = 1;
}

/* Field @key of @p's "vxlan" stats object; -1 if absent. */
static long long vx_stat(struct port *p, const char *key)
{
	json_t *o = json_object(), *v;
	long long r = -1;

	p->ops->stats_json(p, o);
	v = json_object_get(json_object_get(o, "vxlan"), key);
	if (json_is_integer(v))
		r = json_integer_value(v);
	else if (json_is_boolean(v))
		r = json_is_true(v);
	json_decref(o);
	return r;
}

/* Polls @p until it returns a frame (up to a second); its length, 0 if none. */
static uint32_t recv_one(struct port *p, uint8_t *out)
{
	struct pkt *got[PKT_BURST_MAX];
	unsigned taken;

	for (int i = 0; i < 1000; i++) {
		unsigned n = p->ops->rx_burst(p, 0, got, 1, &taken);

		if (n) {
			uint32_t len = got[0]->len;

			assert_int_equal(n, 1);
			memcpy(out, got[0]->seg[0].iov_base, len);
			p->ops->rx_done(p, 0, got, n);
			return len;
		}
		usleep(1000);
	}
	return 0;
}

static void test_loopback_flood_learn(void **state)
{
	struct pair *pp = *state;
	static uint8_t buf[2000], rcv[70000];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t ma[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xa }, mb[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xb };
	const uint8_t unknown[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xc };
	struct pkt pk, *pl = &pk;

	/* a floods a broadcast from ma: b gets it whole and learns ma -> a. */
	mkframe(&pk, buf, 100, bc, ma);
	assert_int_equal(pp->a->ops->tx_burst(pp->a, 0, &pl, 1), 1);
	assert_int_equal(recv_one(pp->b, rcv), 100);
	assert_memory_equal(rcv, buf, 100);
	/* b answers ma by unicast: the learned VTEP, though b has no remote=. */
	mkframe(&pk, buf, 200, ma, mb);
	assert_int_equal(pp->b->ops->tx_burst(pp->b, 0, &pl, 1), 1);
	assert_int_equal(recv_one(pp->a, rcv), 200);
	assert_memory_equal(rcv, buf, 200);
	/* Unknown unicast and broadcast from b: nowhere to go. */
	mkframe(&pk, buf, 60, unknown, mb);
	assert_int_equal(pp->b->ops->tx_burst(pp->b, 0, &pl, 1), 0);
	mkframe(&pk, buf, 60, bc, mb);
	assert_int_equal(pp->b->ops->tx_burst(pp->b, 0, &pl, 1), 0);
	assert_int_equal(pp->b->st.drops.n[PV_DROP_VX_NO_REMOTE], 2);
	/* Over the underlay MTU (1500 - 50 + 14 = 1464 bytes of frame). */
	mkframe(&pk, buf, 1464, bc, ma);
	assert_int_equal(pp->a->ops->tx_burst(pp->a, 0, &pl, 1), 1);
	assert_int_equal(recv_one(pp->b, rcv), 1464);
	mkframe(&pk, buf, 1465, bc, ma);
	assert_int_equal(pp->a->ops->tx_burst(pp->a, 0, &pl, 1), 0);
	assert_int_equal(pp->a->st.drops.n[PV_DROP_VX_MTU], 1);
	assert_true(pp->a->gso_offload);	/* TSO sends arrive whole */
	assert_int_equal(pp->a->st.tx_pkts, 2);
	assert_int_equal(pp->b->st.tx_pkts, 1);
}

/*
 * A TSO send (3000 bytes of TCP payload, MSS 1000, checksum partial) that
 * reaches the port whole, between two small frames: three segments with
 * full checksums, in order, none dropped for size.
 */
/*
 * A TSO frame from @src to @dst in @buf (3000 bytes of TCP payload, MSS
 * 1000, checksum partial, as a guest sends it); its length.
 */
static uint32_t mktso(struct pkt *pk, uint8_t *buf, const uint8_t *dst,
		      const uint8_t *src)
{
	uint32_t len = ETH_HLEN + 20 + 20 + 3000, sum;
	uint8_t *ip = buf + ETH_HLEN, *tcp = ip + 20;
	uint16_t f;

	mkframe(pk, buf, len, dst, src);
	buf[12] = 0x08;
	buf[13] = 0x00;
	memset(ip, 0, 40);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - ETH_HLEN) >> 8);
	ip[3] = (uint8_t)(len - ETH_HLEN);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, (uint8_t[]){ 198, 19, 0, 1, 198, 19, 0, 2 }, 8);
	tcp[1] = 80;
	tcp[3] = 81;
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;
	tcp[14] = 0xff;
	sum = pv_csum_partial(ip + 12, 8, 0) + htons(6);
	f = (uint16_t)~pv_csum_fold(sum);	/* without the length, as Linux */
	memcpy(tcp + 16, &f, 2);
	pk->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	pk->vh.csum_start = ETH_HLEN + 20;
	pk->vh.csum_offset = 16;
	pk->vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	pk->vh.gso_size = 1000;
	pk->vh.hdr_len = ETH_HLEN + 40;
	return len;
}

static void test_loopback_gso(void **state)
{
	struct pair *pp = *state;
	static uint8_t buf[3200], small[100], rcv[70000];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t ma[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xa };
	struct pkt pk, sm1, sm2, *pl[3] = { &sm1, &pk, &sm2 };
	uint32_t sum;

	mkframe(&sm1, small, 60, bc, ma);
	mkframe(&sm2, small, 61, bc, ma);
	mktso(&pk, buf, bc, ma);
	assert_int_equal(pp->a->ops->tx_burst(pp->a, 0, pl, 3), 5);
	assert_int_equal(pp->a->st.segmented, 2);
	assert_int_equal(pp->a->st.drops.n[PV_DROP_PKT_TOO_BIG], 0);
	assert_int_equal(recv_one(pp->b, rcv), 60);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(recv_one(pp->b, rcv), ETH_HLEN + 40 + 1000);
		assert_int_equal(rcv[ETH_HLEN + 2] << 8 | rcv[ETH_HLEN + 3], 1040);
		sum = pv_csum_partial(rcv + ETH_HLEN + 12, 8, 0) + htons(6) +
		      htons(1020);
		assert_int_equal(pv_csum_fold(pv_csum_partial(rcv + ETH_HLEN + 20,
							      1020, sum)), 0);
		assert_memory_equal(rcv + ETH_HLEN + 40,
				    buf + ETH_HLEN + 40 + i * 1000, 1000);
	}
	assert_int_equal(recv_one(pp->b, rcv), 61);
	/*
	 * The three segments left as one UDP GSO send; b, which asked for
	 * UDP_GRO, got them as one coalesced receive over loopback and cut it
	 * back into datagrams (one frame per rx_burst: the rest waited).
	 */
	assert_int_equal(vx_stat(pp->a, "gso_sends"), 1);
	assert_int_equal(vx_stat(pp->a, "gso_segs"), 3);
	assert_int_equal(vx_stat(pp->a, "encap_pkts"), 5);
	assert_int_equal(vx_stat(pp->b, "udp_gro"), 1);
	assert_int_equal(vx_stat(pp->b, "gro_recvs"), 1);
	assert_int_equal(vx_stat(pp->b, "gro_segs"), 3);
	assert_int_equal(vx_stat(pp->b, "decap_pkts"), 5);
}

/* The datagrams of a UDP GRO receive: equal ones, a shorter last. */
static void test_gro_split(void **state)
{
	size_t off = 0, d, n = 0, sum = 0;

	(void)state;
	while (vxlan_gro_next(1000, 300, off, &d)) {
		assert_int_equal(d, n < 3 ? 300 : 100);
		off += d;
		sum += d;
		n++;
	}
	assert_int_equal(n, 4);
	assert_int_equal(sum, 1000);
	assert_true(vxlan_gro_next(1000, 0, 0, &d));
	assert_int_equal(d, 1000);	/* not coalesced: one datagram */
	assert_true(vxlan_gro_next(1000, 4000, 0, &d));
	assert_int_equal(d, 1000);
	assert_false(vxlan_gro_next(1000, 300, 1000, &d));
	assert_false(vxlan_gro_next(0, 300, 0, &d));
}

/* An IPv4/UDP frame whose UDP checksum the sender left partial. */
static void test_loopback_partial_csum(void **state)
{
	struct pair *pp = *state;
	static uint8_t buf[200], rcv[70000];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t ma[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xa };
	uint32_t len = ETH_HLEN + 20 + 8 + 32, sum;
	uint8_t *ip = buf + ETH_HLEN, *udp = ip + 20;
	struct pkt pk, *pl = &pk;

	mkframe(&pk, buf, len, bc, ma);
	buf[12] = 0x08;
	buf[13] = 0x00;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[2] = 0;
	ip[3] = (uint8_t)(len - ETH_HLEN);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, (uint8_t[]){ 198, 19, 0, 1, 198, 19, 0, 2 }, 8);
	udp[0] = 0x12; udp[1] = 0x34; udp[2] = 0x56; udp[3] = 0x78;
	udp[5] = 8 + 32;
	/* The pseudo-header sum, as a guest leaves it with NEEDS_CSUM. */
	/* Sums are in memory order (pv_csum_partial): constants as htons(). */
	sum = pv_csum_partial(ip + 12, 8, 0) + htons(17) + htons(8 + 32);
	{
		uint16_t f = (uint16_t)~pv_csum_fold(sum);

		memcpy(udp + 6, &f, 2);
	}
	pk.vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	pk.vh.csum_start = ETH_HLEN + 20;
	pk.vh.csum_offset = 6;
	assert_int_equal(pp->a->ops->tx_burst(pp->a, 0, &pl, 1), 1);
	assert_int_equal(pp->a->st.tx_csum_done, 1);
	assert_int_equal(recv_one(pp->b, rcv), len);
	/* The sender's buffer is untouched; the copy on the wire verifies. */
	assert_memory_not_equal(rcv + ETH_HLEN + 26, udp + 6, 2);
	sum = pv_csum_partial(rcv + ETH_HLEN + 12, 8, 0) + htons(17) + htons(8 + 32);
	assert_int_equal(pv_csum_fold(pv_csum_partial(rcv + ETH_HLEN + 20, 40, sum)), 0);
}

/* A frame sent by @p alone: 1 if it went out. */
static unsigned send1(struct port *p, uint8_t *buf, uint32_t len,
		      const uint8_t *dst, const uint8_t *src)
{
	struct pkt pk, *pl = &pk;

	mkframe(&pk, buf, len, dst, src);
	return p->ops->tx_burst(p, 0, &pl, 1);
}

/*
 * The tables EVPN fills through the control socket: b has no remote=, so
 * it floods nowhere until a remote is added, and reaches a MAC it never
 * heard only through a static entry; removing either stops it. Bad input
 * is refused with the errno the control socket answers.
 */
static void test_evpn_tables(void **state)
{
	struct pair *pp = *state;
	static uint8_t buf[2000], rcv[70000];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t mb[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xb };
	const uint8_t mc[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xc };
	char err[256];
	void *old = NULL;
	json_t *j;

	assert_int_equal(send1(pp->b, buf, 60, bc, mb), 0);
	assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.1", true, &old, err,
					   sizeof(err)), 0);
	assert_non_null(old);
	free(old);	/* no worker runs: the grace period is empty */
	assert_int_equal(send1(pp->b, buf, 60, bc, mb), 1);
	assert_int_equal(recv_one(pp->a, rcv), 60);
	assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.1", true, &old, err,
					   sizeof(err)), -EEXIST);
	assert_null(old);
	assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.9", false, &old, err,
					   sizeof(err)), -ENOENT);
	assert_int_equal(vxlan_port_remote(pp->b, -1, "fd00::1", true, &old, err,
					   sizeof(err)), -EINVAL);
	assert_int_equal(vxlan_port_remote(pp->b, -1, "nowhere", true, &old, err,
					   sizeof(err)), -EINVAL);
	assert_int_equal(vxlan_port_remote(NULL, -1, "127.0.0.1", true, &old, err,
					   sizeof(err)), -EINVAL);
	j = vxlan_port_json(pp->b);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "remotes")), 1);
	json_decref(j);
	assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.1", false, &old, err,
					   sizeof(err)), 0);
	free(old);
	assert_int_equal(send1(pp->b, buf, 60, bc, mb), 0);

	/* Static MAC: unicast to mc goes to a, with no remote at all. */
	assert_int_equal(send1(pp->b, buf, 70, mc, mb), 0);
	assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c", "127.0.0.1",
					err, sizeof(err)), 0);
	assert_int_equal(send1(pp->b, buf, 70, mc, mb), 1);
	assert_int_equal(recv_one(pp->a, rcv), 70);
	assert_memory_equal(rcv, buf, 70);
	j = vxlan_port_json(pp->b);
	assert_int_equal(json_array_size(json_object_get(j, "macs")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(j, "macs"), 0), "vtep")), "127.0.0.1");
	json_decref(j);
	/* Moved: the same MAC to another VTEP replaces the entry. */
	assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c", "127.0.0.3",
					err, sizeof(err)), 0);
	j = vxlan_port_json(pp->b);
	assert_int_equal(json_array_size(json_object_get(j, "macs")), 1);
	json_decref(j);
	assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c", NULL,
					err, sizeof(err)), 0);
	assert_int_equal(send1(pp->b, buf, 70, mc, mb), 0);
	assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c", NULL,
					err, sizeof(err)), -ENOENT);
	assert_int_equal(vxlan_port_mac(pp->b, -1, "01:00:5e:00:00:01", "127.0.0.1",
					err, sizeof(err)), -EINVAL);
	assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00", "127.0.0.1",
					err, sizeof(err)), -EINVAL);
	assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c", "fd00::1",
					err, sizeof(err)), -EINVAL);
	assert_int_equal(pp->b->st.drops.n[PV_DROP_VX_NO_REMOTE], 4);
}

/*
 * A guest's TSO send goes out by UDP GSO to what EVPN installed at run
 * time: a static MAC's VTEP, and for a flood the published remote set
 * (b has no remote= at all).
 */
static long long vni_stat(struct port *p, unsigned vni, const char *key);

static void test_evpn_gso(void **state)
{
	struct pair *pp = *state;
	static uint8_t buf[3200], rcv[70000];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t mb[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xb };
	const uint8_t mc[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xc };
	struct pkt pk, *pl = &pk;
	char err[256];
	void *old = NULL;

	mktso(&pk, buf, mc, mb);
	assert_int_equal(pp->b->ops->tx_burst(pp->b, 0, &pl, 1), 0);
	assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c", "127.0.0.1",
					err, sizeof(err)), 0);
	mktso(&pk, buf, mc, mb);
	assert_int_equal(pp->b->ops->tx_burst(pp->b, 0, &pl, 1), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(recv_one(pp->a, rcv), ETH_HLEN + 40 + 1000);
	assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.1", true, &old, err,
					   sizeof(err)), 0);
	free(old);	/* no worker runs: the grace period is empty */
	mktso(&pk, buf, bc, mb);
	assert_int_equal(pp->b->ops->tx_burst(pp->b, 0, &pl, 1), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(recv_one(pp->a, rcv), ETH_HLEN + 40 + 1000);
	assert_int_equal(pp->b->st.drops.n[PV_DROP_VX_NO_REMOTE], 3);
	assert_int_equal(vni_stat(pp->b, 77, "tx_drops"), 3);
	/* one datagram per segment now (udpcsum=off): its drops counted once */
	assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.1", false, &old, err,
					   sizeof(err)), 0);
	free(old);
	mktso(&pk, buf, bc, mb);
	assert_int_equal(pp->b->ops->tx_burst(pp->b, 0, &pl, 1), 0);
	assert_int_equal(pp->b->st.drops.n[PV_DROP_VX_NO_REMOTE], 6);
	assert_int_equal(vni_stat(pp->b, 77, "tx_drops"), 6);
}

/*
 * Workers flood and send to a static MAC through b while the control
 * thread adds and removes the remote and the MAC: every set a sender may
 * hold stays alive until the senders are joined (the grace period), and
 * TSan checks the publication (tests/run runs this binary under TSan).
 */
struct evpn_ctx {
	struct port *p;
	int stop;
	unsigned long sent, bursts;
	void *aux;
};

static void *evpn_sender(void *arg)
{
	struct evpn_ctx *c = arg;
	static __thread uint8_t b1[100], b2[100];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t mb[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xb };
	const uint8_t mc[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xc };
	struct pkt pk[2], *pl[2] = { &pk[0], &pk[1] };

	mkframe(&pk[0], b1, 60, bc, mb);
	mkframe(&pk[1], b2, 60, mc, mb);
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&c->sent, c->p->ops->tx_burst(c->p, 0, pl, 2),
				   __ATOMIC_RELAXED);
		__atomic_add_fetch(&c->bursts, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_evpn_concurrent(void **state)
{
	struct pair *pp = *state;
	static struct evpn_ctx c;
	void *old[2000];
	unsigned nold = 0;
	char err[256];
	pthread_t t[2];

	memset(&c, 0, sizeof(c));
	c.p = pp->b;
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, evpn_sender, &c), 0);
	for (unsigned i = 0; i < 1000 || __atomic_load_n(&c.bursts,
		     __ATOMIC_RELAXED) < 2000; i++) {
		if (i >= 100000 || nold + 2 > sizeof(old) / sizeof(old[0]))
			break;
		assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.1", true,
						   &old[nold++], err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c",
						"127.0.0.1", err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_remote(pp->b, -1, "127.0.0.1", false,
						   &old[nold++], err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_mac(pp->b, -1, "02:00:00:00:00:0c", NULL,
						err, sizeof(err)), 0);
		/* Room for the senders to see the tables empty too. */
		if (!(i & 7))
			usleep(50);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < nold; i++)
		free(old[i]);
	unsigned long drops = 0;

	for (unsigned i = 0; i < PV_DROP_MAX; i++)
		drops += pp->b->st.drops.n[i];
	assert_true(c.bursts > 0);
	/* Every frame either went out or was counted as a drop. */
	assert_int_equal(c.sent + drops, 2 * c.bursts);
	assert_true(pp->b->st.drops.n[PV_DROP_VX_NO_REMOTE] > 0);
}

static void test_bad_specs(void **state)
{
	char err[256];
	static const char *const bad[] = {
		"vxlan,name=x,local=127.0.0.1,mtu=1500",		/* no vni */
		"vxlan,name=x,vni=1,mtu=1500",				/* no local */
		"vxlan,name=x,vni=16777216,local=127.0.0.1,mtu=1500",
		"vxlan,name=x,vni=1,local=127.0.0.1,remote=fd00::1,mtu=1500",
		"vxlan,name=x,vni=1,local=127.0.0.1,remote=nowhere,mtu=1500",
		"vxlan,name=x,vni=1,local=127.0.0.1,udpcsum=maybe,mtu=1500",
		"vxlan,name=x,vni=1,local=127.0.0.1,dstport=0,mtu=1500",
		"vxlan,name=x,vni=1,local=198.18.255.254",		/* not ours */
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(port_create(NULL, bad[i], err, sizeof(err)));
		assert_true(err[0] != '\0');
	}
}

/*
 * One port of two VNIs (networks red and blue) on each side of loopback:
 * each frame goes out with its network's VNI and comes in with its
 * network in pkt->net; the same MAC is learned in both VNIs, each behind
 * its own entry; a VNI the port does not carry is a named drop.
 */
struct multi {
	struct sw *sw;
	struct port *m, *n;	/* 127.0.0.1 and 127.0.0.2, both red:100 blue:200 */
	unsigned short port;
	uint8_t red, blue;
};

static int multi_setup(void **state)
{
	struct multi *mm = calloc(1, sizeof(*mm));
	char spec[256], err[256];
	int r, b;

	mm->sw = sw_create(SW_MODE_LEARN, 300);
	mm->port = (unsigned short)(40000 + (getpid() + 7) % 20000);
	snprintf(spec, sizeof(spec), "vxlan,name=m,vni=red:100,vni=blue:200,"
		 "local=127.0.0.1,remote=127.0.0.2,dstport=%u,mtu=1500", mm->port);
	mm->m = port_create(mm->sw, spec, err, sizeof(err));
	if (!mm->m)
		fprintf(stderr, "%s: %s\n", spec, err);
	/* n floods blue only: its remote is blue's */
	snprintf(spec, sizeof(spec), "vxlan,name=n,vni=red:100,vni=blue:200,"
		 "local=127.0.0.2,remote=blue:127.0.0.1,dstport=%u,mtu=1500",
		 mm->port);
	mm->n = port_create(mm->sw, spec, err, sizeof(err));
	if (!mm->n)
		fprintf(stderr, "%s: %s\n", spec, err);
	if (!mm->m || !mm->n || sw_port_add(mm->sw, mm->m) ||
	    sw_port_add(mm->sw, mm->n))
		return -1;
	r = sw_net_get(mm->sw, "red", false, err, sizeof(err));
	b = sw_net_get(mm->sw, "blue", false, err, sizeof(err));
	if (r <= 0 || b <= 0 || r == b)
		return -1;
	mm->red = (uint8_t)r;
	mm->blue = (uint8_t)b;
	*state = mm;
	return 0;
}

static int multi_teardown(void **state)
{
	struct multi *mm = *state;

	sw_destroy(mm->sw);
	free(mm);
	return 0;
}

/* Polls @p for one frame (up to a second): its length and network. */
static uint32_t recv_net(struct port *p, uint8_t *out, uint8_t *net)
{
	struct pkt *got[PKT_BURST_MAX];
	unsigned taken;

	for (int i = 0; i < 1000; i++) {
		unsigned n = p->ops->rx_burst(p, 0, got, 1, &taken);

		if (n) {
			uint32_t len = got[0]->len;

			memcpy(out, got[0]->seg[0].iov_base, len);
			*net = got[0]->net;
			p->ops->rx_done(p, 0, got, n);
			return len;
		}
		usleep(1000);
	}
	return 0;
}

/* Field @key of VNI @vni's entry of @p's "vxlan.vnis"; -1 if absent. */
static long long vni_stat(struct port *p, unsigned vni, const char *key)
{
	json_t *o = json_object(), *v;
	long long r = -1;
	size_t i;

	p->ops->stats_json(p, o);
	json_array_foreach(json_object_get(json_object_get(o, "vxlan"), "vnis"),
			   i, v)
		if (json_integer_value(json_object_get(v, "vni")) == vni &&
		    json_is_integer(json_object_get(v, key)))
			r = json_integer_value(json_object_get(v, key));
	json_decref(o);
	return r;
}

static void test_multi_vni(void **state)
{
	struct multi *mm = *state;
	static uint8_t buf[2000], rcv[70000];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t ma[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xa };
	const uint8_t same[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x55 };
	struct pkt pk[2], *pl[2] = { &pk[0], &pk[1] };
	static uint8_t b2[2000];
	char err[256];
	void *old;
	uint8_t net = 0xff;
	json_t *j;

	assert_true(port_is_trunk(mm->m));
	/* red from m: n gets it in red (VNI 100), blue likewise */
	mkframe(&pk[0], buf, 100, bc, ma);
	pk[0].net = mm->red;
	assert_int_equal(mm->m->ops->tx_burst(mm->m, 0, pl, 1), 1);
	assert_int_equal(recv_net(mm->n, rcv, &net), 100);
	assert_int_equal(net, mm->red);
	mkframe(&pk[0], buf, 110, bc, ma);
	pk[0].net = mm->blue;
	assert_int_equal(mm->m->ops->tx_burst(mm->m, 0, pl, 1), 1);
	assert_int_equal(recv_net(mm->n, rcv, &net), 110);
	assert_int_equal(net, mm->blue);
	/* one burst of both networks: split, each in its own VNI, in order */
	mkframe(&pk[0], buf, 120, bc, ma);
	pk[0].net = mm->red;
	mkframe(&pk[1], b2, 130, bc, ma);
	pk[1].net = mm->blue;
	assert_int_equal(mm->m->ops->tx_burst(mm->m, 0, pl, 2), 2);
	assert_int_equal(recv_net(mm->n, rcv, &net), 120);
	assert_int_equal(net, mm->red);
	assert_int_equal(recv_net(mm->n, rcv, &net), 130);
	assert_int_equal(net, mm->blue);
	assert_int_equal(vni_stat(mm->m, 100, "encap_pkts"), 2);
	assert_int_equal(vni_stat(mm->m, 200, "encap_pkts"), 2);
	assert_int_equal(vni_stat(mm->n, 100, "decap_pkts"), 2);
	assert_int_equal(vni_stat(mm->n, 200, "decap_pkts"), 2);
	/* n learned ma in both VNIs: the same MAC, two tables */
	assert_int_equal(vni_stat(mm->n, 100, "macs"), 1);
	assert_int_equal(vni_stat(mm->n, 200, "macs"), 1);
	/* n's red has no remote: a broadcast in red has nowhere to go */
	mkframe(&pk[0], buf, 60, bc, same);
	pk[0].net = mm->red;
	assert_int_equal(mm->n->ops->tx_burst(mm->n, 0, pl, 1), 0);
	assert_int_equal(mm->n->st.drops.n[PV_DROP_VX_NO_REMOTE], 1);
	assert_int_equal(vni_stat(mm->n, 100, "tx_drops"), 1);
	assert_int_equal(vni_stat(mm->n, 200, "tx_drops"), 0);
	/* but unicast to ma in red goes to the VTEP learned in red */
	mkframe(&pk[0], buf, 70, ma, same);
	pk[0].net = mm->red;
	assert_int_equal(mm->n->ops->tx_burst(mm->n, 0, pl, 1), 1);
	assert_int_equal(recv_net(mm->m, rcv, &net), 70);
	assert_int_equal(net, mm->red);
	/* a network the port does not carry (default): refused, named */
	mkframe(&pk[0], buf, 60, bc, same);
	pk[0].net = 0;
	assert_int_equal(mm->m->ops->tx_burst(mm->m, 0, pl, 1), 0);
	assert_int_equal(mm->m->st.drops.n[PV_DROP_VX_UNKNOWN_VNI], 1);
	/* control: a port of several VNIs needs "vni N" */
	assert_int_equal(vxlan_port_remote(mm->n, -1, "127.0.0.1", true, &old,
					   err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "vni N"));
	assert_int_equal(vxlan_port_remote(mm->n, 300, "127.0.0.1", true, &old,
					   err, sizeof(err)), -ENOENT);
	assert_int_equal(vxlan_port_remote(mm->n, 100, "127.0.0.1", true, &old,
					   err, sizeof(err)), 0);
	free(old);
	assert_int_equal(vxlan_port_mac(mm->n, 200, "02:00:00:00:00:0c",
					"127.0.0.1", err, sizeof(err)), 0);
	assert_int_equal(vxlan_port_mac(mm->n, 100, "02:00:00:00:00:0c", NULL,
					err, sizeof(err)), -ENOENT);
	j = vxlan_port_json(mm->n);
	assert_int_equal(json_array_size(json_object_get(j, "vnis")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(j, "vnis"), 0), "network")), "red");
	assert_int_equal(json_array_size(json_object_get(json_array_get(
		json_object_get(j, "vnis"), 0), "remotes")), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(
		json_object_get(j, "vnis"), 0), "macs")), 0);
	assert_int_equal(json_array_size(json_object_get(json_array_get(
		json_object_get(j, "vnis"), 1), "macs")), 1);
	json_decref(j);
	/* now red floods from n too */
	mkframe(&pk[0], buf, 80, bc, same);
	pk[0].net = mm->red;
	assert_int_equal(mm->n->ops->tx_burst(mm->n, 0, pl, 1), 1);
	assert_int_equal(recv_net(mm->m, rcv, &net), 80);
	assert_int_equal(net, mm->red);
}

/* A datagram of a VNI the receiving port does not carry: dropped, named. */
static void test_multi_unknown_vni(void **state)
{
	struct multi *mm = *state;
	static uint8_t buf[200], rcv[70000];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t ma[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xa };
	struct pkt pk, *pl = &pk;
	char spec[200];
	struct port *u;
	uint8_t net;

	snprintf(spec, sizeof(spec), "vxlan,name=u,vni=300,local=127.0.0.3,"
		 "remote=127.0.0.2,dstport=%u,mtu=1500", mm->port);
	u = mk(spec);
	assert_non_null(u);
	mkframe(&pk, buf, 100, bc, ma);
	assert_int_equal(u->ops->tx_burst(u, 0, &pl, 1), 1);
	assert_int_equal(recv_net(mm->n, rcv, &net), 0);
	assert_int_equal(mm->n->st.drops.n[PV_DROP_VX_UNKNOWN_VNI], 1);
	assert_int_equal(vni_stat(mm->n, 100, "decap_pkts"), 0);
	u->ops->destroy(u);
}

/* A second port on the same local:dstport is refused, naming the first. */
static void test_multi_same_socket(void **state)
{
	struct multi *mm = *state;
	char spec[200], err[300] = "";

	snprintf(spec, sizeof(spec), "vxlan,name=dup,vni=300,local=127.0.0.1,"
		 "dstport=%u,mtu=1500,network=green", mm->port);
	assert_null(port_create(mm->sw, spec, err, sizeof(err)));
	assert_non_null(strstr(err, "vxlan port m"));
	assert_non_null(strstr(err, "vni=NETWORK:VNI"));
	/* and created no network */
	assert_int_equal(sw_net_get(mm->sw, "green", false, err, sizeof(err)),
			 (int)mm->sw->nnets);
}

static void test_multi_bad_specs(void **state)
{
	struct multi *mm = *state;
	char err[256];
	static const char *const bad[] = {
		"vxlan,name=x,vni=1,vni=red:2,local=127.0.0.9,mtu=1500",	/* mixed */
		"vxlan,name=x,vni=1,vni=2,local=127.0.0.9,mtu=1500",		/* no nets */
		"vxlan,name=x,vni=red:1,vni=blue:1,local=127.0.0.9,mtu=1500",	/* VNI twice */
		"vxlan,name=x,vni=red:1,vni=red:2,local=127.0.0.9,mtu=1500",	/* net twice */
		"vxlan,name=x,vni=red:1,network=red,local=127.0.0.9,mtu=1500",
		"vxlan,name=x,vni=red:1,remote=blue:127.0.0.1,local=127.0.0.9,mtu=1500",
		"vxlan,name=x,vni=red:1,remote=red:fd00::1,local=127.0.0.9,mtu=1500",
		"vxlan,name=x,vni=:1,local=127.0.0.9,mtu=1500",
		"vxlan,name=x,vni=red:16777216,local=127.0.0.9,mtu=1500",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(port_create(mm->sw, bad[i], err, sizeof(err)));
		assert_true(err[0] != '\0');
	}
	/* without a switch there are no networks to name */
	assert_null(port_create(NULL, "vxlan,name=x,vni=red:1,local=127.0.0.9,"
				"mtu=1500", err, sizeof(err)));
	assert_non_null(strstr(err, "needs a switch"));
}

/*
 * A refused add leaves the network table as it was: 20 runtime adds (as
 * `pvnet port add` runs them under --no-sandbox) of a vxlan port whose
 * name is taken, each naming a fresh network, then a good add naming
 * another new one. Networks are never deleted and there are 16: had the
 * refused adds kept theirs, the good one would find none left.
 */
static void test_multi_refused_adds_keep_no_network(void **state)
{
	struct multi *mm = *state;
	unsigned nets = mm->sw->nnets;
	char spec[200], err[400];
	struct port *p = NULL;

	for (unsigned i = 0; i < 20; i++) {
		snprintf(spec, sizeof(spec), "vxlan,name=m,vni=fresh%u:%u,"
			 "local=127.0.0.1,dstport=%u,mtu=1500", i, 1000 + i,
			 mm->port + 1);
		assert_true(ctl_port_add(mm->sw, spec, CTL_PORT_START, NULL,
					 err, sizeof(err)) < 0);
	}
	snprintf(spec, sizeof(spec), "vxlan,name=g,vni=green:500,"
		 "local=127.0.0.1,dstport=%u,mtu=1500", mm->port + 1);
	if (ctl_port_add(mm->sw, spec, CTL_PORT_START, &p, err, sizeof(err)))
		fail_msg("%s: %s", spec, err);
	assert_int_equal(mm->sw->nnets, nets + 1);
	assert_string_equal(mm->sw->net_name[nets], "green");
	assert_int_equal(sw_net_get(mm->sw, "fresh0", false, err, sizeof(err)),
			 (int)mm->sw->nnets);
}

/*
 * Workers send bursts that mix both VNIs through m while the control
 * thread adds and removes a remote of each VNI and a static MAC: each
 * VNI's flood set follows rule G by pointer on its own (TSan, tests/run).
 */
static void *multi_sender(void *arg)
{
	struct evpn_ctx *c = arg;
	struct multi *mm = (struct multi *)c->aux;
	static __thread uint8_t b1[100], b2[100], b3[100];
	const uint8_t bc[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t mb[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xb };
	const uint8_t mc[ETH_ALEN] = { 2, 0, 0, 0, 0, 0xc };
	struct pkt pk[3], *pl[3] = { &pk[0], &pk[1], &pk[2] };

	mkframe(&pk[0], b1, 60, bc, mb);
	pk[0].net = mm->red;
	mkframe(&pk[1], b2, 60, mc, mb);
	pk[1].net = mm->blue;
	mkframe(&pk[2], b3, 60, bc, mb);
	pk[2].net = mm->blue;
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&c->sent, c->p->ops->tx_burst(c->p, 0, pl, 3),
				   __ATOMIC_RELAXED);
		__atomic_add_fetch(&c->bursts, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_multi_concurrent(void **state)
{
	struct multi *mm = *state;
	static struct evpn_ctx c;
	void *old[4000];
	unsigned nold = 0;
	unsigned long drops = 0;
	char err[256];
	pthread_t t[2];

	memset(&c, 0, sizeof(c));
	c.p = mm->n;
	c.aux = mm;
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, multi_sender, &c), 0);
	for (unsigned i = 0; i < 1000 || __atomic_load_n(&c.bursts,
		     __ATOMIC_RELAXED) < 2000; i++) {
		if (i >= 100000 || nold + 4 > sizeof(old) / sizeof(old[0]))
			break;
		assert_int_equal(vxlan_port_remote(mm->n, 100, "127.0.0.1", true,
						   &old[nold++], err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_remote(mm->n, 200, "127.0.0.9", true,
						   &old[nold++], err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_mac(mm->n, 200, "02:00:00:00:00:0c",
						"127.0.0.1", err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_remote(mm->n, 100, "127.0.0.1", false,
						   &old[nold++], err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_remote(mm->n, 200, "127.0.0.9", false,
						   &old[nold++], err, sizeof(err)), 0);
		assert_int_equal(vxlan_port_mac(mm->n, 200, "02:00:00:00:00:0c", NULL,
						err, sizeof(err)), 0);
		if (!(i & 7))
			usleep(50);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < nold; i++)
		free(old[i]);
	for (unsigned i = 0; i < PV_DROP_MAX; i++)
		drops += mm->n->st.drops.n[i];
	assert_true(c.bursts > 0);
	/* Every frame either went out or was counted as a drop. */
	assert_int_equal(c.sent + drops, 3 * c.bursts);
	assert_true(mm->n->st.drops.n[PV_DROP_VX_NO_REMOTE] > 0);
	assert_int_equal(mm->n->st.drops.n[PV_DROP_VX_UNKNOWN_VNI], 0);
}

/* docs/vxlan.md: up to 32 remote= per VNI, on a port of several VNIs too. */
static void multi_remotes_per_vni(void **state)
{
	static char spec[8192];
	struct sw *sw = sw_create(SW_MODE_LEARN, 300);
	const char *nets[] = { "red", "blue", "green" };
	char err[256];
	struct port *p;
	size_t o;

	(void)state;
	o = (size_t)snprintf(spec, sizeof(spec), "vxlan,name=r,vni=red:100,"
			     "vni=blue:200,vni=green:300,local=127.0.0.1,"
			     "dstport=%u,mtu=1500",
			     (unsigned)(40000 + (getpid() + 11) % 20000));
	for (unsigned v = 0; v < 3; v++)
		for (unsigned i = 0; i < 32; i++)
			o += (size_t)snprintf(spec + o, sizeof(spec) - o,
					      ",remote=%s:127.0.%u.%u", nets[v],
					      v + 1, i + 1);
	p = port_create(sw, spec, err, sizeof(err));
	if (!p)
		fail_msg("%s", err);
	{
		json_t *js = json_object(), *v;
		size_t i;
		unsigned seen = 0;

		p->ops->stats_json(p, js);
		json_array_foreach(json_object_get(json_object_get(js, "vxlan"),
						   "vnis"), i, v) {
			assert_int_equal(json_array_size(json_object_get(v, "remotes")),
					 32);
			seen++;
		}
		assert_int_equal(seen, 3);
		json_decref(js);
	}
	p->ops->destroy(p);
	sw_destroy(sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_roundtrip),
		cmocka_unit_test(test_hdr_too_long),
		cmocka_unit_test(test_fdb_learn_age_move),
		cmocka_unit_test(test_fdb_bounded),
		cmocka_unit_test(test_fdb_concurrent),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_gro_split),
		cmocka_unit_test_setup_teardown(test_loopback_flood_learn,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_loopback_partial_csum,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_evpn_gso, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_loopback_gso,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_evpn_tables,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_multi_vni, multi_setup,
						multi_teardown),
		cmocka_unit_test(multi_remotes_per_vni),
		cmocka_unit_test_setup_teardown(test_multi_unknown_vni, multi_setup,
						multi_teardown),
		cmocka_unit_test_setup_teardown(test_multi_same_socket, multi_setup,
						multi_teardown),
		cmocka_unit_test_setup_teardown(test_multi_bad_specs, multi_setup,
						multi_teardown),
		cmocka_unit_test_setup_teardown(test_multi_refused_adds_keep_no_network,
						multi_setup, multi_teardown),
		cmocka_unit_test_setup_teardown(test_multi_concurrent, multi_setup,
						multi_teardown),
		cmocka_unit_test_setup_teardown(test_evpn_concurrent,
						pair_setup, pair_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
