// SPDX-License-Identifier: MIT
/*
 * switch.c - two-pass burst forwarding by destination MAC
 *
 * Pass one classifies the whole burst (parse once, look the destination up);
 * pass two hands each destination its list in one tx_burst call, so a
 * destination ring is reserved, filled and published once per burst (seed 003
 * send combining; netmap VALE's nm_vale_flush).
 *
 * Modes (seed 004): `direct` routes by the MACs ports were configured with,
 * sends unknown unicast to the uplink (as netback sends it to the physical
 * interface) or drops and counts it; `learn` is the Linux-bridge baseline:
 * it learns source MACs, ages them, and floods unknown unicast.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvnet/dp.h"
#include "pvnet/gro.h"
#include "pvnet/log.h"
#include "pvnet/switch.h"

int sw_mode_parse(const char *s, enum sw_mode *out)
{
	if (!strcmp(s, "direct"))
		*out = SW_MODE_DIRECT;
	else if (!strcmp(s, "learn"))
		*out = SW_MODE_LEARN;
	else
		return -EINVAL;
	return 0;
}

/* @p is a destination in network @net of @t. */
static void table_join(struct sw_table *t, struct port *p, unsigned net)
{
	t->net_fwd[net] |= 1ULL << p->idx;
	t->net_nfwd[net]++;
	if (p->uplink && !t->net_uplink[net])
		t->net_uplink[net] = p;
}

/*
 * Fills @t (zeroed) with the table the workers should see now, from the
 * control thread's list: every port; ports being deleted not as
 * destinations.
 */
static void table_fill(const struct sw *sw, struct sw_table *t)
{
	for (unsigned i = 0; i < sw->nports; i++) {
		struct port *p = sw->ports[i];

		t->port[p->idx] = p;
		if (p->idx + 1u > t->hi)
			t->hi = p->idx + 1u;
		if (sw->leaving & (1ULL << p->idx))
			continue;
		t->fwd |= 1ULL << p->idx;
		t->nfwd++;
		if (p->uplink && !t->uplink)
			t->uplink = p;
		t->net[p->idx] = p->net;
		if (!port_is_trunk(p)) {
			table_join(t, p, p->net);
			continue;
		}
		t->trunk |= 1ULL << p->idx;
		for (unsigned v = 0; v < p->nvlans; v++)
			table_join(t, p, p->vlan[v].net);
		if (!p->untagged_drop)
			table_join(t, p, p->net);
	}
}

/*
 * Fills and publishes @t (the release makes it whole before any worker
 * sees it); returns the old table, which the caller frees after a grace
 * period (dp_sync).
 */
static struct sw_table *table_swap(struct sw *sw, struct sw_table *t)
{
	table_fill(sw, t);
	return __atomic_exchange_n(&sw->tab, t, __ATOMIC_ACQ_REL);
}

struct sw *sw_create(enum sw_mode mode, unsigned ageing_s)
{
	struct sw *sw = calloc(1, sizeof(*sw));

	if (!sw)
		return NULL;
	sw->mode = mode;
	sw->mac_limit = SW_MAC_LIMIT_DEFAULT;
	snprintf(sw->net_name[0], sizeof(sw->net_name[0]), "default");
	sw->nnets = 1;
	fdb_init(&sw->fdb, (uint64_t)ageing_s * 1000000000ULL);
	sw->tab = calloc(1, sizeof(*sw->tab));
	sw->loop = pv_loop_create();
	if (!sw->loop || !sw->tab) {
		pv_loop_destroy(sw->loop);
		free(sw->tab);
		free(sw);
		return NULL;
	}
	return sw;
}

void sw_destroy(struct sw *sw)
{
	unsigned n;

	if (!sw)
		return;
	n = sw->nports;
	/* a port going away may look at the others (its MAC's other
	 * attachment): the list is empty before the first one is freed */
	sw->nports = 0;
	for (unsigned i = 0; i < n; i++)
		sw->ports[i]->ops->destroy(sw->ports[i]);
	pv_loop_destroy(sw->loop);
	free(sw->tab);
	free(sw);
}

struct port *sw_port_find(struct sw *sw, const char *name)
{
	for (unsigned i = 0; i < sw->nports; i++)
		if (!strcmp(sw->ports[i]->name, name))
			return sw->ports[i];
	return NULL;
}

int sw_net_get(struct sw *sw, const char *name, bool create, char *err,
	       size_t errlen)
{
	size_t l = strlen(name);

	if (!l || l >= SW_NET_NAME_MAX || strspn(name,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != l) {
		snprintf(err, errlen, "network '%s': a name is 1..%d letters, digits, '_', '.' or '-'",
			 name, SW_NET_NAME_MAX - 1);
		return -EINVAL;
	}
	for (unsigned i = 0; i < sw->nnets; i++)
		if (!strcmp(sw->net_name[i], name))
			return (int)i;
	if (sw->nnets >= SW_MAX_NETS) {
		snprintf(err, errlen, "network '%s': too many networks (at most %d)",
			 name, SW_MAX_NETS);
		return -ENOSPC;
	}
	if (!create)
		return (int)sw->nnets;
	memcpy(sw->net_name[sw->nnets], name, l + 1);
	return (int)sw->nnets++;
}

void sw_net_forget(struct sw *sw, unsigned nnets)
{
	while (sw->nnets > nnets && sw->nnets > 1) {
		sw->nnets--;
		memset(sw->net_name[sw->nnets], 0, sizeof(sw->net_name[0]));
		memset(&sw->net_gone[sw->nnets], 0, sizeof(sw->net_gone[0]));
	}
}

/* Same MAC in the same network: one station (a MAC may be in two networks). */
static bool same_station(const struct port *a, const struct port *b)
{
	return a->has_mac && b->has_mac && a->net == b->net &&
	       !memcmp(a->mac, b->mac, ETH_ALEN);
}

/* The other port with @p's MAC (a VM's second attachment), or NULL. */
static struct port *mac_twin(const struct sw *sw, const struct port *p)
{
	if (!p->has_mac)
		return NULL;
	for (unsigned i = 0; i < sw->nports; i++) {
		struct port *o = sw->ports[i];

		if (o != p && same_station(o, p))
			return o;
	}
	return NULL;
}

/* The port at index @idx in the control thread's list, or NULL. */
static struct port *port_at(const struct sw *sw, unsigned idx)
{
	for (unsigned i = 0; i < sw->nports; i++)
		if (sw->ports[i]->idx == idx)
			return sw->ports[i];
	return NULL;
}

int sw_port_check(struct sw *sw, const struct port *p, char *err,
		  size_t errlen)
{
	const char *path = p->ops->sock_path ?
			   p->ops->sock_path((struct port *)p) : NULL;
	const struct port *twin = NULL;
	char a[18];

	if (sw->nports >= SW_MAX_PORTS) {
		snprintf(err, errlen, "too many ports (at most %d)", SW_MAX_PORTS);
		return -ENOSPC;
	}
	for (unsigned i = 0; i < sw->nports; i++) {
		struct port *o = sw->ports[i];
		const char *op = o->ops->sock_path ? o->ops->sock_path(o) : NULL;

		if (!strcmp(o->name, p->name)) {
			snprintf(err, errlen, "port %s: duplicate name: a port of that name exists already",
				 p->name);
			return -EEXIST;
		}
		if (same_station(o, p)) {
			/*
			 * Two vhost ports may share a MAC: a VM's attachments
			 * before and after a live migration. Its frames go to
			 * the one whose rings run (sw_port_mac_active).
			 */
			if (twin) {
				snprintf(err, errlen, "port %s: mac %s is on ports %s "
					 "and %s already (two at most: a VM's "
					 "attachments during a migration)", p->name,
					 pv_mac_fmt(p->mac, a), twin->name, o->name);
				return -EEXIST;
			}
			if (!o->ops->mac_follows_rings || !p->ops->mac_follows_rings) {
				snprintf(err, errlen, "port %s: mac %s is port %s's already",
					 p->name, pv_mac_fmt(p->mac, a), o->name);
				return -EEXIST;
			}
			twin = o;
		}
		if (path && op && !strcmp(path, op)) {
			snprintf(err, errlen, "port %s: socket path %s in use by port %s",
				 p->name, path, o->name);
			return -EADDRINUSE;
		}
	}
	return 0;
}

int sw_port_add(struct sw *sw, struct port *p)
{
	struct sw_table *t, *old;
	uint64_t used = 0;
	unsigned idx = 0;
	char err[160];
	bool shared;
	int rc;

	rc = sw_port_check(sw, p, err, sizeof(err));
	if (rc < 0)
		return rc == -EADDRINUSE ? -EEXIST : rc;
	shared = mac_twin(sw, p) != NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* The lowest free index: the MAC table forgot it at its delete. */
	for (unsigned i = 0; i < sw->nports; i++)
		used |= 1ULL << sw->ports[i]->idx;
	while (used & (1ULL << idx))
		idx++;
	p->idx = (uint16_t)idx;
	p->sw = sw;
	fdb_set_limit(&sw->fdb, p->idx, sw->mac_limit);
	__atomic_store_n(&sw->mac_log_ns[idx], 0, __ATOMIC_RELAXED);
	/* a shared MAC stays with its first port until the second runs */
	if (p->has_mac && !shared &&
	    fdb_add_static_net(&sw->fdb, p->mac, p->net, p->idx) < 0) {
		free(t);
		return -ENOSPC;
	}
	/*
	 * Polled first (a source needs no table entry), then a destination:
	 * nothing that can fail comes after the workers see it.
	 */
	rc = dp_port_add(sw->dp, p);
	if (rc < 0) {
		fdb_forget_port(&sw->fdb, p->idx);
		free(t);
		return rc;
	}
	sw->ports[sw->nports++] = p;
	old = table_swap(sw, t);
	dp_sync(sw->dp, false);
	free(old);
	return 0;
}

/* A deleted port's counters stay in its network's figures. */
static void net_keep(struct sw *sw, const struct port *p)
{
	struct sw_net_gone *g = &sw->net_gone[p->net];

	g->rx_pkts += __atomic_load_n(&p->st.rx_pkts, __ATOMIC_RELAXED);
	g->flooded += __atomic_load_n(&p->st.flooded, __ATOMIC_RELAXED);
	g->forwarded += __atomic_load_n(&p->st.forwarded, __ATOMIC_RELAXED);
	for (unsigned r = 1; r < PV_DROP_MAX; r++)
		g->drops[r] += __atomic_load_n(&p->st.drops.n[r], __ATOMIC_RELAXED);
}

int sw_port_del(struct sw *sw, struct port *p)
{
	uint64_t bit = 1ULL << p->idx;
	struct sw_table *t1, *t2, *old;
	unsigned i;
	int rc;

	for (i = 0; i < sw->nports && sw->ports[i] != p; i++)
		;
	if (i == sw->nports)
		return -ENOENT;
	/* Both tables now: nothing may fail halfway through. */
	t1 = calloc(1, sizeof(*t1));
	t2 = calloc(1, sizeof(*t2));
	if (!t1 || !t2) {
		free(t1);
		free(t2);
		return -ENOMEM;
	}
	/* 1. No longer a destination (frames to its MAC: unknown unicast). */
	sw->leaving |= bit;
	old = table_swap(sw, t1);
	/*
	 * 2. No longer polled, and one grace period in which every worker
	 * empties its GRO table after it saw step 1: a held chain of @p goes
	 * back to its ring, a held packet toward @p is delivered, and nothing
	 * new toward or from @p is held after.
	 */
	rc = dp_port_del(sw->dp, p);
	if (rc < 0) {
		sw->leaving &= ~bit;
		t1 = table_swap(sw, t2);
		dp_sync(sw->dp, false);
		free(old);
		free(t1);
		return rc;
	}
	free(old);
	/*
	 * 3. No worker can learn its index any more: forget it. A MAC it
	 * shared (a VM's other attachment) now belongs to the other port.
	 */
	fdb_forget_port(&sw->fdb, p->idx);
	{
		struct port *twin = mac_twin(sw, p);

		if (twin && fdb_add_static_net(&sw->fdb, twin->mac, twin->net,
					       twin->idx) < 0)
			pv_warn("port %s: its MAC could not move back to port %s",
				p->name, twin->name);
	}
	net_keep(sw, p);
	/* 4. Out of the table; once no worker can hold it, gone. */
	memmove(&sw->ports[i], &sw->ports[i + 1],
		(sw->nports - i - 1) * sizeof(sw->ports[0]));
	sw->nports--;
	sw->leaving &= ~bit;
	old = table_swap(sw, t2);
	dp_sync(sw->dp, false);
	free(old);
	p->ops->destroy(p);
	return 0;
}

/*
 * Control thread. The static entry is rewritten under its seqlock, so a
 * worker looking the MAC up sees the old port or the new one, never a mix;
 * a frame already classified toward the old port finds its rings stopped
 * and is counted there (RX_NOT_READY).
 */
void sw_port_mac_active(struct sw *sw, struct port *p, bool active)
{
	struct port *to = NULL;
	uint16_t cur;
	char mac[18];

	if (!sw || !p->has_mac || !p->ops->mac_follows_rings)
		return;
	cur = fdb_lookup_net(&sw->fdb, p->mac, p->net, 0);
	if (active) {
		if (cur == p->idx || !port_at(sw, cur))
			return;
		to = p;
	} else {
		if (cur != p->idx)
			return;
		/* the other attachment, if its rings run */
		for (unsigned i = 0; i < sw->nports && !to; i++) {
			struct port *o = sw->ports[i];

			if (o != p && same_station(o, p) &&
			    __atomic_load_n(&o->nqueues, __ATOMIC_ACQUIRE))
				to = o;
		}
		if (!to)
			return;
	}
	if (fdb_add_static_net(&sw->fdb, to->mac, to->net, to->idx) < 0) {
		pv_log(PV_LOG_WARN, "port %s: MAC %s could not move here",
		       to->name, pv_mac_fmt(to->mac, mac));
		return;
	}
	pv_stat_add(&to->st.mac_moves, 1);
	pv_info("port %s: MAC %s moves here from port %s (its rings %s)",
		to->name, pv_mac_fmt(to->mac, mac), port_at(sw, cur)->name,
		to == p ? "run now" : "stopped there");
}

/* An Ethernet RARP request (RFC 903) announcing @mac, padded to 60 bytes. */
static void rarp_frame(uint8_t *f, const uint8_t *mac)
{
	static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 3 };

	memset(f, 0, 60);
	memset(f, 0xff, ETH_ALEN);
	memcpy(f + 6, mac, ETH_ALEN);
	f[12] = 0x80;
	f[13] = 0x35;
	memcpy(f + 14, arp_hdr, sizeof(arp_hdr));	/* Ethernet, IPv4, reverse request */
	memcpy(f + 22, mac, ETH_ALEN);			/* sender hardware address */
	memcpy(f + 32, mac, ETH_ALEN);			/* target hardware address */
}

void sw_announce(struct sw *sw, struct port *src, const uint8_t *mac)
{
	struct pkt pk, *pp = &pk;
	uint8_t frame[60];

	rarp_frame(frame, mac);
	memset(&pk, 0, sizeof(pk));
	pk.seg[0].iov_base = frame;
	pk.seg[0].iov_len = sizeof(frame);
	pk.nseg = 1;
	pk.len = sizeof(frame);
	pk.src_port = src->idx;
	pk.net = src->net;
	pv_stat_add(&src->st.announces, 1);
	/* not a worker: no GRO table, so nothing keeps the frame past this */
	sw_forward_burst(sw, src, &pp, 1);
}

/*
 * `--copy double`: copy each packet into a switch-owned buffer first, as a
 * backend with its own packet buffers does, so the benchmark can compare
 * it with the single copy from the sender's buffer (seed 004). Per thread,
 * allocated once: one burst of maximum-size packets, valid until the
 * thread's next burst (hence no GRO in this mode: see pass 2).
 */
#define BOUNCE_BYTES	(65536 + 256)
static __thread uint8_t (*bounce)[BOUNCE_BYTES];

/*
 * The per-thread scratch buffers are freed when their thread exits (a
 * worker at dp_destroy), through a key whose destructor frees them.
 */
static pthread_key_t tls_free_key[2];
static bool tls_key_ok[2];
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_keys_init(void)
{
	for (unsigned i = 0; i < 2; i++)
		tls_key_ok[i] = pthread_key_create(&tls_free_key[i], free) == 0;
}

/* Allocates a zeroed per-thread buffer freed at thread exit (slot @k). */
static void *tls_calloc(unsigned k, size_t n, size_t size)
{
	void *b = calloc(n, size);

	pthread_once(&tls_once, tls_keys_init);
	/* Without the key the buffer outlives its thread: a leak, no harm. */
	if (b && tls_key_ok[k])
		pthread_setspecific(tls_free_key[k], b);
	return b;
}

static void bounce_burst(struct pkt **pkts, const uint16_t *dest, unsigned n);

/*
 * Software GSO: a large TCP packet (a guest's TSO send) toward a port that
 * cannot take it becomes MSS-sized segments whose headers live in this
 * per-thread scratch and whose payload still points at the sender's buffer:
 * the destination copies each byte once, as for any packet. A 64 KB send at
 * a small MSS is up to GSO_MAX_SEGS segments: they go out one burst at a
 * time, the scratch reused once tx_burst has copied the previous burst.
 */
struct gso_scratch {
	struct gso_state st;
	uint8_t hdr[PKT_BURST_MAX * GRO_HDR_MAX];
	struct pkt out[PKT_BURST_MAX];
	struct pkt *ptr[PKT_BURST_MAX];
};
static __thread struct gso_scratch *gso_tls;

static void segment_to(struct port *d, unsigned q, struct pkt *p, uint8_t net)
{
	struct gso_scratch *g = gso_tls;
	int total, n, sent = 0;

	if (!g) {
		/* Once per thread, the first time a guest sends TSO. */
		g = gso_tls = tls_calloc(1, 1, sizeof(*g));
		if (!g) {
			pv_stat_add(&d->st.drops.n[PV_DROP_PKT_TOO_BIG], 1);
			return;
		}
		for (unsigned i = 0; i < PKT_BURST_MAX; i++)
			g->ptr[i] = &g->out[i];
	}
	n = total = gso_begin(&g->st, p,
				 __atomic_load_n(&d->csum_offload, __ATOMIC_RELAXED));
	if (total > 0) {
		pv_stat_add(&d->st.segmented, (uint64_t)total - 1);
		while ((n = gso_next(&g->st, g->out, PKT_BURST_MAX, g->hdr)) > 0) {
			for (int k = 0; k < n; k++)
				g->out[k].net = net;	/* a trunk tags by it */
			d->ops->tx_burst(d, q, g->ptr, (unsigned)n);
			sent += n;
		}
	}
	/* Refused whole: one drop; cut short: each segment not sent. */
	if (n < 0)
		pv_stat_add(&d->st.drops.n[-n < PV_DROP_MAX ? -n :
					   PV_DROP_PKT_HDR_GSO],
			    total > 0 ? (uint64_t)(total - sent) : 1);
}

/*
 * A port at its learned-MAC limit: counted per frame, logged at most once
 * per MAC_LOG_NS per port (the CAS picks one worker if several see it).
 */
#define MAC_LOG_NS	(10 * 1000000000ULL)

static void mac_refused(struct sw *sw, struct port *src, uint64_t n,
			uint64_t now)
{
	uint64_t *at = &sw->mac_log_ns[src->idx], last;

	pv_stat_add(&src->st.mac_refused, n);
	last = __atomic_load_n(at, __ATOMIC_RELAXED);
	if ((last && now - last < MAC_LOG_NS) ||
	    !__atomic_compare_exchange_n(at, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	pv_warn("port %s: at its limit of %u learned MACs: new source MACs "
		"not learned, frames to them flood (mac_refused %llu)",
		src->name, sw->mac_limit,
		(unsigned long long)__atomic_load_n(&src->st.mac_refused,
						    __ATOMIC_RELAXED));
}

#define DEST_FLOOD	0xffff
#define DEST_DROP	0xfffe

/*
 * Forwards @n packets of @src that are all in network @net, with table @t:
 * isolation, so the destinations, uplink and MAC entries are @net's.
 * One copy for both callers (inlined twice, it cost the one-network path
 * ~18 instructions per packet in bench_fwd: pkt_parse_l2 was no longer
 * inlined); a call per burst is less.
 */
static __attribute__((noinline)) void
forward_net(struct sw *sw, struct port *src, const struct sw_table *t,
	    const uint8_t net, struct pkt **pkts, unsigned n)
{
	uint16_t dest[PKT_BURST_MAX];
	/*
	 * The unicast destinations the burst has, noted in pass 1: pass 2
	 * visits those (every port only for a flood) instead of scanning the
	 * burst once per port of the switch.
	 */
	uint64_t dmask = 0, todo;
	struct pkt *list[PKT_BURST_MAX];
	uint64_t bytes = 0, no_dest = 0, loops = 0, replicated = 0, refused = 0;
	uint64_t nflood = 0, nfwd = 0;
	uint8_t gso_any = 0;
	const uint64_t fwd = t->net_fwd[net];
	unsigned others = t->net_nfwd[net] - ((fwd >> src->idx) & 1);
	bool flood = false, learn = sw->mode == SW_MODE_LEARN;
	uint64_t now = learn ? pv_now_ns() : 0;
	struct gro_table *gro;
	uint64_t t0 = dp_stage_tsc(), t1, nested;
	uint8_t last_src[ETH_ALEN], last_dst[ETH_ALEN];
	bool have_src = false, have_dst = false;
	struct port *last_d = NULL;

	/* Pass 1: classify the whole burst. */
	for (unsigned i = 0; i < n; i++) {
		struct pkt *p = pkts[i];
		enum pv_drop why = pkt_parse_l2(p);
		struct port *d;

		bytes += p->len;
		gso_any |= p->vh.gso_type;
		if (unlikely(why != PV_DROP_NONE)) {
			pv_stat_add(&src->st.drops.n[why], 1);
			dest[i] = DEST_DROP;
			continue;
		}
		/*
		 * A burst is mostly one flow: the previous frame's source was
		 * just learned and its destination just looked up, so the
		 * same MACs again cost a compare (the table as it was at the
		 * burst's start, which a lookup at that time would give too).
		 */
		if (learn && !pkt_mac_is_multicast(p->src_mac) &&
		    (!have_src || memcmp(last_src, p->src_mac, ETH_ALEN))) {
			int rc = fdb_learn_net(&sw->fdb, p->src_mac, net,
					       src->idx, now);

			if (rc == -EDQUOT)
				refused++;
			have_src = rc == 0;
			memcpy(last_src, p->src_mac, ETH_ALEN);
		}
		if (!pkt_mac_is_multicast(p->dst_mac)) {
			/* the same MAC as the last frame: the same port (one table) */
			if (!have_dst || memcmp(last_dst, p->dst_mac, ETH_ALEN)) {
				uint16_t di = fdb_lookup_net(&sw->fdb, p->dst_mac,
							     net, now);

				memcpy(last_dst, p->dst_mac, ETH_ALEN);
				have_dst = true;
				/*
				 * A port being deleted is no destination any
				 * more, nor is one of another network (never:
				 * the entry is the network's; this is cheap
				 * and belts the braces).
				 */
				last_d = di < SW_MAX_PORTS && ((fwd >> di) & 1) ?
					 t->port[di] : NULL;
				/* Unknown unicast: the uplink (direct) or everyone (learn). */
				if (!last_d && !learn)
					last_d = t->net_uplink[net];
			}
			d = last_d;
		} else {
			d = NULL;
		}
		if (!d && (learn || pkt_mac_is_multicast(p->dst_mac))) {
			dest[i] = DEST_FLOOD;
			flood = true;
			nflood++;
			if (others == 0)
				no_dest++;
			else
				replicated += others - 1;
			continue;
		}
		if (!d) {
			no_dest++;
			dest[i] = DEST_DROP;
		} else if (d == src) {
			loops++;
			dest[i] = DEST_DROP;
		} else {
			dest[i] = d->idx;
			dmask |= 1ULL << d->idx;
			nfwd++;
		}
	}
	pv_stat_add(&src->st.rx_pkts, n);
	pv_stat_add(&src->st.rx_bytes, bytes);
	pv_stat_add(&src->st.drops.n[PV_DROP_TX_NO_DEST], no_dest);
	pv_stat_add(&src->st.drops.n[PV_DROP_TX_LOOP], loops);
	pv_stat_add(&src->st.replicated, replicated);
	pv_stat_add(&src->st.flooded, nflood);
	pv_stat_add(&src->st.forwarded, nfwd);
	if (unlikely(refused))
		mac_refused(sw, src, refused, now);
	if (unlikely(sw->copy_double))
		bounce_burst(pkts, dest, n);

	/*
	 * Pass 2: per destination, one tx_burst per destination queue with its
	 * packets in order. A multiqueue destination gets each flow on the
	 * queue its RSS hash picks (seed 002: one interrupt per queue). On the
	 * way, unicast TCP toward a port that takes large packets is offered
	 * to the worker's GRO table (seeds 000/001), and a large packet toward
	 * a port that does not take it is segmented in software.
	 */
	t1 = dp_stage_tsc();
	dp_stage_add(DP_STAGE_CLASSIFY, t1 - t0);
	/* a call raised while delivering is notify (dp_call) */
	nested = dp_stage_nested();
	/*
	 * GRO holds a packet by its pointers (the source keeps the buffer
	 * until release). A bounced packet points into this thread's bounce
	 * buffer, which the next burst overwrites, so `--copy double` never
	 * offers packets to GRO: the baseline is the double copy without
	 * aggregation, the backend-with-its-own-buffers design it models.
	 */
	gro = src->ops->release && !sw->copy_double ? dp_gro_table() : NULL;
	/* a flood goes to the source's network, every port of it */
	todo = flood ? fwd : dmask;
	while (todo) {
		unsigned pi = (unsigned)__builtin_ctzll(todo);
		struct port *d = t->port[pi];
		/* The control thread changes these as the guest's rings start. */
		unsigned nq = __atomic_load_n(&d->nqueues, __ATOMIC_RELAXED), cnt = 0;
		bool gso_ok = __atomic_load_n(&d->gso_offload, __ATOMIC_RELAXED);
		uint8_t qsel[PKT_BURST_MAX];
		uint32_t qmask = 0;
		/*
		 * A trunk tags by pkt->net, set here for it only; GRO chains
		 * would go out without it, so none toward a trunk.
		 */
		bool to_trunk = (t->trunk >> pi) & 1;
		bool try_gro = gro && gso_ok && !to_trunk;

		todo &= todo - 1;
		if (!((fwd >> pi) & 1) || d == src)
			continue;
		/*
		 * The whole burst to this one port, one queue, and nothing
		 * below to do for any packet (no GSO, no GRO, no tag): the
		 * list would be the burst itself. 18 instructions a packet
		 * (docs/benchmarks.md, "Fewer instructions per 64 B packet").
		 */
		if (nfwd == n && !flood && !(dmask & (dmask - 1)) && nq <= 1 &&
		    !gso_any && !try_gro && !to_trunk) {
			d->ops->tx_burst(d, 0, pkts, n);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			struct pkt *p = pkts[i];
			uint8_t q;

			if (dest[i] != pi && !(flood && dest[i] == DEST_FLOOD))
				continue;
			/*
			 * Layers 3-4 only for what reads them: RSS, GSO, and
			 * GRO, which parses them from its own header copy
			 * (gro_receive): one copy and one parse, not two.
			 */
			if (nq > 1 || p->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
				pkt_parse_l3(p);
			q = nq > 1 ? (uint8_t)(pkt_flow_hash(p) % nq) : 0;
			if (p->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
			    !gso_ok) {
				segment_to(d, q, p, net);
				continue;
			}
			if (try_gro && dest[i] == pi) {
				struct gro_ref ref = { src->idx, p->src_queue,
						       p->cookie };

				if (!now)
					now = pv_now_ns();
				if (gro_receive(gro, p, ref, d->idx, q, now)) {
					p->held = true;
					src->rx_held[p->src_queue] = 1;
					continue;
				}
			}
			qsel[cnt] = q;
			qmask |= 1u << q;
			list[cnt++] = p;
		}
		if (!cnt)
			continue;
		if (unlikely(to_trunk))
			for (unsigned i = 0; i < cnt; i++)
				list[i]->net = net;
		if (qmask == 1) {
			d->ops->tx_burst(d, 0, list, cnt);
			continue;
		}
		for (unsigned q = 0; q < nq && q < 32; q++) {
			struct pkt *sub[PKT_BURST_MAX];
			unsigned m = 0;

			if (!(qmask & (1u << q)))
				continue;
			for (unsigned i = 0; i < cnt; i++)
				if (qsel[i] == q)
					sub[m++] = list[i];
			d->ops->tx_burst(d, q, sub, m);
		}
	}
	dp_stage_add_since(DP_STAGE_DELIVER, t1, nested);
}

/*
 * A trunk's burst mixes networks (pkt->net, set by its receive): each
 * network's frames are forwarded together, in their order.
 */
static void forward_trunk(struct sw *sw, struct port *src,
			  const struct sw_table *t, struct pkt **pkts,
			  unsigned n)
{
	struct pkt *sub[PKT_BURST_MAX];
	uint32_t done = 0;

	static_assert(SW_MAX_NETS <= 32, "done is one bit per network");
	for (unsigned i = 0; i < n; i++) {
		uint8_t net = pkts[i]->net;
		unsigned m = 0;

		/* the port's receive sets only networks it was given */
		PV_ASSERT(net < SW_MAX_NETS);
		if (done & (1u << net))
			continue;
		done |= 1u << net;
		for (unsigned j = i; j < n; j++)
			if (pkts[j]->net == net)
				sub[m++] = pkts[j];
		forward_net(sw, src, t, net, sub, m);
	}
}

void sw_forward_burst(struct sw *sw, struct port *src, struct pkt **pkts,
		      unsigned n)
{
	/* One table for the whole burst; it lives until our next quiescent point. */
	const struct sw_table *t = __atomic_load_n(&sw->tab, __ATOMIC_ACQUIRE);

	PV_ASSERT(n <= PKT_BURST_MAX);
	if (unlikely((t->trunk >> src->idx) & 1)) {
		forward_trunk(sw, src, t, pkts, n);
		return;
	}
	forward_net(sw, src, t, t->net[src->idx], pkts, n);
}

static void bounce_burst(struct pkt **pkts, const uint16_t *dest, unsigned n)
{
	if (!bounce) {
		bounce = tls_calloc(0, PKT_BURST_MAX, BOUNCE_BYTES);
		if (!bounce)
			return;	/* stays single-copy; only a benchmark mode */
	}
	for (unsigned i = 0; i < n; i++) {
		struct pkt *p = pkts[i];

		if (dest[i] == DEST_DROP || p->len > BOUNCE_BYTES)
			continue;
		pv_iov_to_buf(p->seg, p->nseg, 0, bounce[i], p->len);
		p->seg[0].iov_base = bounce[i];
		p->seg[0].iov_len = p->len;
		p->nseg = 1;
	}
}
