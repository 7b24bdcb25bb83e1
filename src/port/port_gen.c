// SPDX-License-Identifier: MIT
/*
 * port_gen.c - a synthetic TCP/IPv4 bulk sender: the benchmark's remote host
 *
 * flows=N TCP flows from 198.18.1.1 ports 10000.. to 198.18.0.2 port 5201,
 * frames of Ethernet + IPv4 + TCP (no options) + mss bytes of payload, sent
 * round-robin over the flows with in-order sequence numbers. Each frame is
 * written whole into a port-owned buffer on every poll, headers and payload,
 * the way a NIC's DMA would leave it, with correct IPv4 and TCP checksums
 * (computed, not reused), so the switch and the receivers do the work they
 * would do for a real sender. Payload byte j of a segment with sequence
 * number s is (s + j) & 0xff, so a receiver can verify it.
 *
 * rate=PPS paces generation with a token bucket refilled once per poll
 * (burst depth PKT_BURST_MAX); without it the port sends as fast as it is
 * polled. count=N stops after N frames. The port never receives: frames
 * the switch sends to it are counted as delivered (tx_pkts) and discarded.
 *
 * Frames live in a pool of GEN_POOL buffers. A frame the switch's GRO holds
 * keeps its buffer until the port's release op gives it back (the cookie is
 * the buffer index); the generator only writes into free buffers, so a held
 * segment is never overwritten. Like a NIC with receive checksum offload,
 * the port marks its frames DATA_VALID unless csum=verify asks GRO to check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "pvnet/switch.h"

#include "port_internal.h"

#define GEN_HDRS	(ETH_HLEN + 20 + 20)
/* Frames in flight: a burst plus what GRO may hold (45 segments a flow). */
#define GEN_POOL	2048
/* Segments per sender write: PSH on the last one (64 KB / 1448 B). */
#define GEN_PSH_EVERY	45
#define GEN_MSS_MAX	9000
#define GEN_SPORT	10000
#define GEN_DPORT	5201
#define GEN_SADDR	0xc6120101u	/* 198.18.1.1 */
#define GEN_DADDR	0xc6120002u	/* 198.18.0.2 */

struct gen_port {
	struct port port;
	unsigned flows, mss;
	uint8_t dst[ETH_ALEN], src[ETH_ALEN];
	uint64_t rate;			/* frames per second, 0: unpaced */
	uint64_t count;			/* frames to send, 0: no limit */
	/* Generator state: the one worker that polls queue 0 owns it. */
	uint64_t generated;
	uint64_t tokens, last_ns;
	unsigned next_flow;
	uint32_t *seq;			/* per flow, next sequence number */
	uint16_t *ip_id;
	uint8_t *pattern;		/* mss + 256 bytes: pattern[k] = k & 0xff */
	uint8_t *pool;			/* GEN_POOL frames */
	uint16_t free_idx[GEN_POOL];	/* bufs' storage */
	struct port_bufs bufs;		/* free pool buffers */
	bool csum_verify;		/* leave DATA_VALID off: GRO verifies */
	/*
	 * TSC cycles spent writing frames: the remote sender's work, done in
	 * the worker's receive stage; a benchmark subtracts it from the
	 * switch's busy cycles (stats: gen_cycles).
	 */
	uint64_t gen_cycles;
	struct pkt pkts[PKT_BURST_MAX];
	struct pkt *ptrs[PKT_BURST_MAX];
};

static struct gen_port *gp_of(struct port *p)
{
	return (struct gen_port *)p;
}

/* Writes frame @f of flow @fl in full; returns its length. */
static uint32_t gen_frame(struct gen_port *gp, uint8_t *f, unsigned fl)
{
	uint8_t *ip = f + ETH_HLEN, *tcp = ip + 20, pseudo[12];
	uint32_t seq = gp->seq[fl], sum;
	uint16_t tcp_len = (uint16_t)(20 + gp->mss), c;

	memcpy(f, gp->dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, gp->src, ETH_ALEN);
	pv_put_be16(f + 12, 0x0800);

	ip[0] = 0x45;
	ip[1] = 0;
	pv_put_be16(ip + 2, (uint16_t)(20 + tcp_len));
	pv_put_be16(ip + 4, gp->ip_id[fl]++);
	pv_put_be16(ip + 6, 0x4000);		/* DF */
	ip[8] = 64;
	ip[9] = 6;
	pv_put_be16(ip + 10, 0);
	pv_put_be32(ip + 12, GEN_SADDR);
	pv_put_be32(ip + 16, GEN_DADDR);
	c = pv_csum_fold(pv_csum_partial(ip, 20, 0));
	memcpy(ip + 10, &c, 2);

	pv_put_be16(tcp, (uint16_t)(GEN_SPORT + fl));
	pv_put_be16(tcp + 2, GEN_DPORT);
	pv_put_be32(tcp + 4, seq);
	pv_put_be32(tcp + 8, 1);		/* ack */
	tcp[12] = 5 << 4;
	/*
	 * ACK, and PSH where a bulk sender's 64 KB write ends (as iperf's
	 * or netperf's segments look on the wire): what GRO can merge.
	 */
	tcp[13] = (gp->ip_id[fl] % GEN_PSH_EVERY) == 0 ? 0x18 : 0x10;
	pv_put_be16(tcp + 14, 0xffff);
	pv_put_be16(tcp + 16, 0);
	pv_put_be16(tcp + 18, 0);
	memcpy(tcp + 20, gp->pattern + (seq & 0xff), gp->mss);

	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pv_put_be16(pseudo + 10, tcp_len);
	sum = pv_csum_partial(pseudo, sizeof(pseudo), 0);
	c = pv_csum_fold(pv_csum_partial(tcp, tcp_len, sum));
	memcpy(tcp + 16, &c, 2);

	gp->seq[fl] = seq + gp->mss;
	return GEN_HDRS + gp->mss;
}

/* Frames the bucket allows now; refilled once per poll, not per frame. */
static unsigned gen_allowance(struct gen_port *gp, unsigned want)
{
	uint64_t now, add;

	if (!gp->rate)
		return want;
	now = pv_now_ns();
	if (!gp->last_ns)
		gp->last_ns = now;
	add = (now - gp->last_ns) * gp->rate / 1000000000ull;
	if (add) {
		/* Advance by what was credited, so fractions are not lost. */
		gp->last_ns += add * 1000000000ull / gp->rate;
		gp->tokens = PV_MIN(gp->tokens + add, (uint64_t)PKT_BURST_MAX);
	}
	return (unsigned)PV_MIN((uint64_t)want, gp->tokens);
}

static unsigned gen_rx_burst(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned max, unsigned *taken)
{
	struct gen_port *gp = gp_of(p);
	size_t fsz = GEN_HDRS + gp->mss;
	unsigned want = max;
	uint64_t t0;

	*taken = 0;
	if (q != 0)
		return 0;
	if (gp->count)
		want = (unsigned)PV_MIN((uint64_t)want, gp->count - gp->generated);
	want = PV_MIN(want, gp->bufs.n);
	want = gen_allowance(gp, want);
	if (!want)
		return 0;
	t0 = dp_rdtsc();
	for (unsigned i = 0; i < want; i++) {
		struct pkt *pk = &gp->pkts[i];
		uint16_t b = gp->bufs.idx[--gp->bufs.n];
		uint8_t *f = gp->pool + (size_t)b * fsz;

		memset(&pk->vh, 0, sizeof(pk->vh));
		if (!gp->csum_verify)
			pk->vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
		pk->cookie = b;
		pk->held = false;
		pk->len = gen_frame(gp, f, gp->next_flow);
		gp->next_flow = (gp->next_flow + 1) % gp->flows;
		pk->seg[0].iov_base = f;
		pk->seg[0].iov_len = pk->len;
		pk->nseg = 1;
		pkts[i] = pk;
	}
	pv_stat_add(&gp->gen_cycles, dp_rdtsc() - t0);
	gp->generated += want;
	if (gp->rate)
		gp->tokens -= want;
	*taken = want;
	return want;
}

/* The burst's packets are gp->pkts[0..n): their buffers come back. */
static void gen_rx_done(struct port *p, unsigned q, struct pkt **pkts,
			unsigned n)
{
	(void)q;
	(void)pkts;
	port_bufs_put_unheld(&gp_of(p)->bufs, gp_of(p)->pkts, n);
}

static void gen_release(struct port *p, unsigned q, const uint32_t *cookies,
			unsigned n)
{
	(void)q;
	port_bufs_release(&gp_of(p)->bufs, cookies, n);
}

/* A remote host that only sends: take everything, count it, keep nothing. */
static unsigned gen_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned n)
{
	uint64_t bytes = 0;

	(void)q;
	for (unsigned i = 0; i < n; i++)
		bytes += pkts[i]->len;
	static const uint64_t no_drops[PV_DROP_MAX];

	port_count_tx(p, 0, n, bytes, 0, no_drops);
	return n;
}

static void gen_destroy(struct port *p)
{
	struct gen_port *gp = gp_of(p);

	free(gp->seq);
	free(gp->ip_id);
	free(gp->pattern);
	free(gp->pool);
	free(gp);
}

static void gen_stats_json(struct port *p, void *obj)
{
	if (obj)
		json_object_set_new(obj, "gen_cycles", json_integer((json_int_t)
			__atomic_load_n(&gp_of(p)->gen_cycles, __ATOMIC_RELAXED)));
}

static const struct port_ops gen_port_ops = {
	.type = "gen",
	.tx_burst = gen_tx_burst,
	.rx_queues = port_rx_one_queue,
	.rx_burst = gen_rx_burst,
	.rx_done = gen_rx_done,
	.release = gen_release,
	.destroy = gen_destroy,
	.stats_json = gen_stats_json,
};

/* Parses a decimal in [@min, @max]; 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s[0] || s[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* What gen_take_opt() fills: the port, and whether dst= was given. */
struct gen_opts {
	struct gen_port *gp;
	bool has_dst;
};

static bool gen_take_opt(void *ctx, const char *key, const char *val)
{
	struct gen_opts *o = ctx;
	struct gen_port *gp = o->gp;
	uint64_t v;

	if (!strcmp(key, "flows") && !parse_u64(val, 1, 65535, &v))
		gp->flows = (unsigned)v;
	else if (!strcmp(key, "mss") && !parse_u64(val, 1, GEN_MSS_MAX, &v))
		gp->mss = (unsigned)v;
	else if (!strcmp(key, "rate") && !parse_u64(val, 0, 1000000000ull, &v))
		gp->rate = v;
	else if (!strcmp(key, "count") && !parse_u64(val, 0, UINT64_MAX, &v))
		gp->count = v;
	else if (!strcmp(key, "csum") &&
		 (!strcmp(val, "valid") || !strcmp(val, "verify")))
		gp->csum_verify = !strcmp(val, "verify");
	else if (!strcmp(key, "dst") && !pv_mac_parse(val, gp->dst))
		o->has_dst = true;
	else if (strcmp(key, "src") || pv_mac_parse(val, gp->src) ||
		 pkt_mac_is_multicast(gp->src))
		return false;
	return true;
}

static_assert(GEN_MSS_MAX == 9000, "the usage text below says 9000");
static const struct port_opts_spec gen_opts_spec = {
	.type = "gen",
	.usage = "flows=1..65535, mss=1..9000, dst=MAC, src=MAC, rate=PPS, "
		 "count=N, csum=valid|verify",
	.too_long = "option too long",
	.val_max = 64,
	.take = gen_take_opt,
};

struct port *port_gen_create(struct sw *sw, const char *name, const char *opts,
			     char *err, size_t errlen)
{
	struct gen_port *gp;
	struct gen_opts o;

	(void)sw;
	gp = port_uplink_alloc(sizeof(*gp), name, &gen_port_ops, err, errlen);
	if (!gp)
		return NULL;
	gp->flows = 1;
	gp->mss = 1448;
	memcpy(gp->src, "\x02\x00\xc6\x12\x01\x01", ETH_ALEN);
	o = (struct gen_opts){ .gp = gp };
	if (port_opts_parse(&gen_opts_spec, name, opts, &o, err, errlen) < 0)
		goto fail;
	if (!o.has_dst) {
		snprintf(err, errlen, "port %s: dst=MAC is required", name);
		goto fail;
	}
	/* Replies to src= come back here and are counted, like any delivery. */
	memcpy(gp->port.mac, gp->src, ETH_ALEN);
	gp->port.has_mac = true;
	gp->seq = calloc(gp->flows, sizeof(*gp->seq));
	gp->ip_id = calloc(gp->flows, sizeof(*gp->ip_id));
	gp->pattern = malloc(gp->mss + 256);
	gp->pool = malloc((size_t)GEN_POOL * (GEN_HDRS + gp->mss));
	port_bufs_init(&gp->bufs, gp->free_idx, GEN_POOL);
	if (!gp->seq || !gp->ip_id || !gp->pattern || !gp->pool) {
		snprintf(err, errlen, "port %s: out of memory", name);
		goto fail;
	}
	for (unsigned k = 0; k < gp->mss + 256; k++)
		gp->pattern[k] = (uint8_t)k;
	/* Distinct initial sequence numbers, so flows are told apart. */
	for (unsigned f = 0; f < gp->flows; f++)
		gp->seq[f] = 0x10000000u * (f & 0xf) + 1000u * f;
	return &gp->port;

fail:
	gen_destroy(&gp->port);
	return NULL;
}
