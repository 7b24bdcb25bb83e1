// SPDX-License-Identifier: MIT
/*
 * port_pcap.c - replay a capture file into the switch and capture what the
 * switch sends out, through libpcap
 *
 * in=FILE is read once, as fast as the port is polled: each round copies up
 * to PKT_BURST_MAX records into port-owned buffers (libpcap's own buffer
 * holds only the last record) and forwards them. out=FILE gets every frame
 * the switch delivers, with pcap_dump, as it would appear on a wire: a
 * partial checksum is completed in the port's copy. gso=on marks the port as
 * taking packets larger than the MTU, so aggregated (GRO) output is captured
 * whole for inspection.
 *
 * A capture file is no fast path: workers that transmit here serialise on
 * one mutex per burst, and the file is flushed on every tick and on destroy.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pvnet/log.h"
#include "pvnet/switch.h"

#include "port_internal.h"

/* Largest frame replayed or captured: a 64 KB GSO packet plus headers. */
#define PCAP_BUF_LEN	(65536 + 256)
static_assert(PV_FRAME_MAX <= PCAP_BUF_LEN, "a record at the limit fits");
#define PCAP_SNAPLEN	262144

struct pcap_port {
	struct port port;
	char in_path[256], out_path[256];
	pcap_t *in;
	bool in_done;
	pcap_t *dead;
	pcap_dumper_t *out;
	pthread_mutex_t out_lock;	/* serialises writers of out */
	uint8_t *linear;		/* under out_lock: one frame to dump */
	uint8_t *pool;			/* PKT_BURST_MAX receive buffers */
	uint64_t replayed;		/* records read from in */
	struct pkt pkts[PKT_BURST_MAX];
	struct pkt *ptrs[PKT_BURST_MAX];
};

static struct pcap_port *pp_of(struct port *p)
{
	return (struct pcap_port *)p;
}

/* Replays the next records; their buffers are reused by the next burst. */
static unsigned pcap_rx_burst(struct port *p, unsigned q, struct pkt **pkts,
			      unsigned max, unsigned *taken)
{
	struct pcap_port *pp = pp_of(p);
	unsigned got = 0, m = 0;
	uint64_t drops[PV_DROP_MAX] = { 0 }, bad = 0;

	*taken = 0;
	if (q != 0 || !pp->in || pp->in_done)
		return 0;
	for (; got < max; got++) {
		struct pcap_pkthdr *h;
		const u_char *data;
		struct pkt *pk = &pp->pkts[m];
		uint8_t *buf = pp->pool + (size_t)m * PCAP_BUF_LEN;
		int rc = pcap_next_ex(pp->in, &h, &data);

		if (rc != 1) {
			if (rc != PCAP_ERROR_BREAK)
				pv_warn("port %s: %s: %s", p->name, pp->in_path,
					pcap_geterr(pp->in));
			pv_info("port %s: replay of %s done, %llu records",
				p->name, pp->in_path,
				(unsigned long long)pp->replayed);
			pp->in_done = true;
			break;
		}
		pp->replayed++;
		/* A record cut short by the capture's snaplen is no frame. */
		if (h->caplen < h->len || h->caplen < ETH_HLEN) {
			drops[PV_DROP_PKT_TRUNC]++;
			bad++;
			continue;
		}
		if (h->caplen > PV_FRAME_MAX) {
			drops[PV_DROP_PKT_TOO_LONG]++;
			bad++;
			continue;
		}
		memcpy(buf, data, h->caplen);
		memset(&pk->vh, 0, sizeof(pk->vh));
		pk->len = h->caplen;
		pk->seg[0].iov_base = buf;
		pk->seg[0].iov_len = h->caplen;
		pk->nseg = 1;
		pkts[m++] = pk;
	}
	if (bad)
		port_count_rx_drops(p, bad, drops);
	*taken = got;
	return m;
}

static unsigned pcap_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			      unsigned n)
{
	struct pcap_port *pp = pp_of(p);
	uint64_t drops[PV_DROP_MAX] = { 0 }, bytes = 0, csums = 0;
	struct pcap_pkthdr h = { 0 };
	struct timespec ts;
	unsigned sent = 0;

	(void)q;
	if (!pp->out) {
		/* No out=: a replay-only port swallows what it is sent. */
		pv_stat_add(&p->st.drops.n[PV_DROP_RX_NOT_READY], n);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	h.ts.tv_sec = ts.tv_sec;
	h.ts.tv_usec = ts.tv_nsec / 1000;
	pthread_mutex_lock(&pp->out_lock);
	for (unsigned i = 0; i < n; i++) {
		struct pkt *pk = pkts[i];

		if ((pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
		     !p->gso_offload) || pk->len > PCAP_BUF_LEN) {
			drops[PV_DROP_PKT_TOO_BIG]++;
			continue;
		}
		pv_iov_to_buf(pk->seg, pk->nseg, 0, pp->linear, pk->len);
		if (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			uint32_t start = pk->vh.csum_start;
			uint32_t field = start + pk->vh.csum_offset;
			uint16_t c;

			if (field + 2 > pk->len || start >= pk->len) {
				drops[PV_DROP_PKT_HDR_CSUM]++;
				continue;
			}
			/* The field holds the pseudo-header sum (virtio 1.2 §5.1.6.2). */
			c = pv_csum_fold(pv_csum_partial(pp->linear + start,
							 pk->len - start, 0));
			memcpy(pp->linear + field, &c, 2);
			csums++;
		}
		h.caplen = h.len = pk->len;
		pcap_dump((u_char *)pp->out, &h, pp->linear);
		sent++;
		bytes += pk->len;
	}
	pthread_mutex_unlock(&pp->out_lock);
	port_count_tx(p, 0, sent, bytes, csums, drops);
	return sent;
}

static unsigned pcap_rx_queues(struct port *p)
{
	return pp_of(p)->in ? 1 : 0;
}

/* So that a reader sees the capture while the switch runs. */
static void pcap_tick(struct port *p, uint64_t now_ns)
{
	struct pcap_port *pp = pp_of(p);

	(void)now_ns;
	if (!pp->out)
		return;
	pthread_mutex_lock(&pp->out_lock);
	pcap_dump_flush(pp->out);
	pthread_mutex_unlock(&pp->out_lock);
}

static void pcap_destroy(struct port *p)
{
	struct pcap_port *pp = pp_of(p);

	if (pp->out) {
		if (pcap_dump_flush(pp->out) < 0)
			pv_err("port %s: %s: flush failed", p->name, pp->out_path);
		pcap_dump_close(pp->out);
	}
	if (pp->dead)
		pcap_close(pp->dead);
	if (pp->in)
		pcap_close(pp->in);
	pthread_mutex_destroy(&pp->out_lock);
	free(pp->linear);
	free(pp->pool);
	free(pp);
}

static const struct port_ops pcap_port_ops = {
	.type = "pcap",
	.tx_burst = pcap_tx_burst,
	.rx_queues = pcap_rx_queues,
	.rx_burst = pcap_rx_burst,
	.tick = pcap_tick,
	.destroy = pcap_destroy,
};

static int pcap_open_files(struct pcap_port *pp, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";

	if (pp->in_path[0]) {
		pp->in = pcap_open_offline(pp->in_path, ebuf);
		if (!pp->in) {
			snprintf(err, errlen, "in=%s: %s", pp->in_path, ebuf);
			return -1;
		}
		if (pcap_datalink(pp->in) != DLT_EN10MB) {
			snprintf(err, errlen, "in=%s: link type %s, want EN10MB",
				 pp->in_path,
				 pcap_datalink_val_to_name(pcap_datalink(pp->in)));
			return -1;
		}
	}
	if (pp->out_path[0]) {
		pp->dead = pcap_open_dead(DLT_EN10MB, PCAP_SNAPLEN);
		if (!pp->dead) {
			snprintf(err, errlen, "out=%s: out of memory", pp->out_path);
			return -1;
		}
		pp->out = pcap_dump_open(pp->dead, pp->out_path);
		if (!pp->out) {
			snprintf(err, errlen, "out=%s: %s", pp->out_path,
				 pcap_geterr(pp->dead));
			return -1;
		}
	}
	return 0;
}

static bool pcap_take_opt(void *ctx, const char *key, const char *val)
{
	struct pcap_port *pp = ctx;

	if (!strcmp(key, "in"))
		return port_opt_str(pp->in_path, sizeof(pp->in_path), val);
	if (!strcmp(key, "out"))
		return port_opt_str(pp->out_path, sizeof(pp->out_path), val);
	if (strcmp(key, "gso") || (strcmp(val, "on") && strcmp(val, "off")))
		return false;
	pp->port.gso_offload = !strcmp(val, "on");
	return true;
}

static const struct port_opts_spec pcap_opts = {
	.type = "pcap",
	.usage = "in=FILE, out=FILE, gso=on|off",
	.too_long = "option too long (paths < 256 chars)",
	.val_max = 256,		/* the size of in_path and out_path */
	.take = pcap_take_opt,
};

struct port *port_pcap_create(struct sw *sw, const char *name, const char *opts,
			      char *err, size_t errlen)
{
	struct pcap_port *pp;
	char why[1024];

	pp = port_uplink_alloc(sizeof(*pp), name, &pcap_port_ops, err, errlen);
	if (!pp)
		return NULL;
	pthread_mutex_init(&pp->out_lock, NULL);
	if (port_opts_parse(&pcap_opts, name, opts, pp, err, errlen) < 0)
		goto fail;
	if (!pp->in_path[0] && !pp->out_path[0]) {
		snprintf(err, errlen, "port %s: in=FILE or out=FILE is required",
			 name);
		goto fail;
	}
	pp->pool = malloc((size_t)PKT_BURST_MAX * PCAP_BUF_LEN);
	pp->linear = malloc(PCAP_BUF_LEN);
	if (!pp->pool || !pp->linear) {
		snprintf(err, errlen, "port %s: out of memory", name);
		goto fail;
	}
	if (sw && sw->check_only)
		return &pp->port;
	if (pcap_open_files(pp, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "port %s: %s", name, why);
		goto fail;
	}
	return &pp->port;

fail:
	pcap_destroy(&pp->port);
	return NULL;
}
