// SPDX-License-Identifier: MIT
/*
 * stats.c - the switch's counters as JSON (control socket) and `pvnet stats`
 *
 * The accounting adds up per port: rx_pkts = forwarded + dropped at the
 * source (by reason); every destination's tx_pkts + its drops cover what it
 * was handed, and flooding adds `replicated` extra copies.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvnet/ctl.h"
#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "ctl_internal.h"
#include "pvnet/switch.h"
#include "pvnet/vhost.h"

struct vhu_dev *port_vhost_dev(struct port *p);

static json_t *drops_json(const struct pv_drop_stats *d)
{
	json_t *o = json_object();

	for (unsigned r = 1; r < PV_DROP_MAX; r++)
		if (d->n[r])
			json_object_set_new(o, pv_drop_name(r),
					    json_integer((json_int_t)d->n[r]));
	return o;
}

/*
 * Per network (docs/networks.md): its ports now, the MACs in its table,
 * and the sums of its ports' source counters (frames that entered, were
 * flooded in it or sent to one port, were dropped, by reason), deleted
 * ports' included. The MAC table walk is a few microseconds.
 */
static json_t *networks_json(struct sw *sw)
{
	unsigned macs[SW_MAX_NETS] = { 0 }, nports[SW_MAX_NETS] = { 0 };
	struct sw_net_gone sum[SW_MAX_NETS];
	json_t *o = json_object();

	memcpy(sum, sw->net_gone, sizeof(sum));
	fdb_count_nets(&sw->fdb, pv_now_ns(), macs, SW_MAX_NETS);
	for (unsigned i = 0; i < sw->nports; i++) {
		const struct port *p = sw->ports[i];
		struct sw_net_gone *g = &sum[p->net];

		nports[p->net]++;
		g->rx_pkts += __atomic_load_n(&p->st.rx_pkts, __ATOMIC_RELAXED);
		g->flooded += __atomic_load_n(&p->st.flooded, __ATOMIC_RELAXED);
		g->forwarded += __atomic_load_n(&p->st.forwarded, __ATOMIC_RELAXED);
		for (unsigned r = 1; r < PV_DROP_MAX; r++)
			g->drops[r] += __atomic_load_n(&p->st.drops.n[r],
						       __ATOMIC_RELAXED);
	}
	for (unsigned n = 0; n < sw->nnets; n++) {
		json_t *no = json_object(), *d = json_object();
		uint64_t dropped = 0;

		for (unsigned r = 1; r < PV_DROP_MAX; r++) {
			dropped += sum[n].drops[r];
			if (sum[n].drops[r])
				json_object_set_new(d, pv_drop_name(r), json_integer(
					(json_int_t)sum[n].drops[r]));
		}
		json_object_set_new(no, "ports", json_integer(nports[n]));
		json_object_set_new(no, "macs", json_integer(macs[n]));
		json_object_set_new(no, "rx_pkts", json_integer((json_int_t)sum[n].rx_pkts));
		json_object_set_new(no, "flooded", json_integer((json_int_t)sum[n].flooded));
		json_object_set_new(no, "forwarded",
				    json_integer((json_int_t)sum[n].forwarded));
		json_object_set_new(no, "dropped", json_integer((json_int_t)dropped));
		json_object_set_new(no, "drops", d);
		json_object_set_new(o, sw->net_name[n], no);
	}
	return o;
}

static const char *state_name(const struct vring *vq)
{
	switch (vq->state) {
	case VRING_RUNNING:
		return "running";
	case VRING_RUNNING_PACKED:
		return "running packed";
	case VRING_BROKEN:
		return "broken";
	default:
		return "stopped";
	}
}

static json_t *vhost_json(struct vhu_dev *dev)
{
	const struct vhu_dev_stats *st = vhu_dev_stats(dev);
	json_t *o = json_object(), *qs = json_array(), *reqs;
	char feat[24];

	snprintf(feat, sizeof(feat), "0x%llx",
		 (unsigned long long)vhu_dev_features(dev));
	json_object_set_new(o, "connected", json_boolean(vhu_dev_connected(dev)));
	json_object_set_new(o, "features", json_string(feat));
	json_object_set_new(o, "msgs", json_integer((json_int_t)st->msgs));
	json_object_set_new(o, "connects", json_integer((json_int_t)st->connects));
	json_object_set_new(o, "disconnects",
			    json_integer((json_int_t)st->disconnects));
	json_object_set_new(o, "faults", drops_json(&st->faults));
	/* SIGBUS in guest memory, live (the handler's counter) */
	json_object_set_new(o, "mem_faults", json_integer(
		__atomic_load_n(&st->mem_faults, __ATOMIC_RELAXED)));
	json_object_set_new(o, "mem_faulted",
			    json_boolean(vhu_dev_mem_faulted(dev)));
	/* live migration: the dirty log, and whether the rings write it */
	json_object_set_new(o, "log_bytes",
			    json_integer((json_int_t)vhu_dev_log_bytes(dev)));
	json_object_set_new(o, "logging", json_boolean(vhu_dev_logging(dev)));
	json_object_set_new(o, "log_bases", json_integer((json_int_t)st->log_bases));
	json_object_set_new(o, "rarps", json_integer((json_int_t)st->rarps));
	json_object_set_new(o, "mtu", json_integer(vhu_dev_mtu(dev)));
	json_object_set_new(o, "mtu_refused",
			    json_integer((json_int_t)st->mtu_refused));
	json_object_set_new(o, "accept_errors",
			    json_integer((json_int_t)st->accept_errors));
	reqs = json_object();
	for (unsigned r = 1; r < VHU_REQ_MAX; r++)
		if (st->reqs[r])
			json_object_set_new(reqs, vhu_req_name(r),
					    json_integer((json_int_t)st->reqs[r]));
	json_object_set_new(o, "requests", reqs);
	for (unsigned i = 0; i < VHU_MAX_VRINGS; i++) {
		struct vring *vq = vhu_dev_vring(dev, i);
		json_t *q;

		if (!vq || (vq->state == VRING_STOPPED && !vq->st.pkts &&
			    !vq->size))
			continue;
		q = json_object();
		json_object_set_new(q, "vring", json_integer(i));
		json_object_set_new(q, "dir", json_string(i & 1 ? "tx" : "rx"));
		json_object_set_new(q, "state", json_string(state_name(vq)));
		json_object_set_new(q, "size", json_integer(vq->size));
		json_object_set_new(q, "pkts", json_integer((json_int_t)vq->st.pkts));
		json_object_set_new(q, "kicks", json_integer((json_int_t)vq->st.kicks));
		json_object_set_new(q, "calls", json_integer((json_int_t)vq->st.calls));
		json_object_set_new(q, "calls_suppressed",
				    json_integer((json_int_t)vq->st.calls_suppressed));
		if (vq->state == VRING_BROKEN)
			json_object_set_new(q, "broken_reason",
					    json_string(pv_drop_name(vq->broken_reason)));
		json_object_set_new(q, "drops", drops_json(&vq->st.drops));
		json_array_append_new(qs, q);
	}
	json_object_set_new(o, "vrings", qs);
	return o;
}

/* Only the control thread adds, removes and runs sources. */
static struct {
	ctl_stats_source_fn fn;
	void *opaque;
} sources[CTL_STATS_SOURCES];

int ctl_stats_source_add(ctl_stats_source_fn fn, void *opaque)
{
	for (unsigned i = 0; i < CTL_STATS_SOURCES; i++)
		if (!sources[i].fn) {
			sources[i].fn = fn;
			sources[i].opaque = opaque;
			return 0;
		}
	return -ENOSPC;
}

void ctl_stats_source_del(void *opaque)
{
	for (unsigned i = 0; i < CTL_STATS_SOURCES; i++)
		if (sources[i].fn && sources[i].opaque == opaque)
			sources[i].fn = NULL;
}

json_t *ctl_stats_json(struct sw *sw)
{
	json_t *root = json_object(), *ports = json_array();

	for (unsigned i = 0; i < sw->nports; i++) {
		struct port *p = sw->ports[i];
		json_t *o = json_object(), *rq = json_array(), *tq = json_array();
		json_t *rk = json_array(), *ti = json_array();
		uint64_t dropped = 0;
		char mac[18];

		for (unsigned r = 1; r < PV_DROP_MAX; r++)
			dropped += p->st.drops.n[r];
		json_object_set_new(o, "name", json_string(p->name));
		json_object_set_new(o, "type", json_string(p->ops->type));
		json_object_set_new(o, "network", json_string(sw->net_name[p->net]));
		if (p->has_mac)
			json_object_set_new(o, "mac", json_string(pv_mac_fmt(p->mac, mac)));
		json_object_set_new(o, "rx_pkts", json_integer((json_int_t)p->st.rx_pkts));
		json_object_set_new(o, "rx_bytes", json_integer((json_int_t)p->st.rx_bytes));
		json_object_set_new(o, "tx_pkts", json_integer((json_int_t)p->st.tx_pkts));
		json_object_set_new(o, "tx_bytes", json_integer((json_int_t)p->st.tx_bytes));
		json_object_set_new(o, "tx_csum_done",
				    json_integer((json_int_t)p->st.tx_csum_done));
		json_object_set_new(o, "rx_gso_pkts",
				    json_integer((json_int_t)p->st.rx_gso_pkts));
		json_object_set_new(o, "tx_gso_pkts",
				    json_integer((json_int_t)p->st.tx_gso_pkts));
		json_object_set_new(o, "segmented",
				    json_integer((json_int_t)p->st.segmented));
		json_object_set_new(o, "merged", json_integer((json_int_t)p->st.merged));
		json_object_set_new(o, "replicated",
				    json_integer((json_int_t)p->st.replicated));
		json_object_set_new(o, "flooded", json_integer((json_int_t)p->st.flooded));
		json_object_set_new(o, "forwarded",
				    json_integer((json_int_t)p->st.forwarded));
		json_object_set_new(o, "mac_refused",
				    json_integer((json_int_t)p->st.mac_refused));
		json_object_set_new(o, "mac_learned",
				    json_integer(fdb_port_learned(&sw->fdb, p->idx)));
		json_object_set_new(o, "dropped", json_integer((json_int_t)dropped));
		json_object_set_new(o, "drops", drops_json(&p->st.drops));
		for (unsigned q = 0; q < PORT_MAX_QUEUES; q++) {
			json_array_append_new(rq, json_integer((json_int_t)p->st.rxq_pkts[q]));
			json_array_append_new(tq, json_integer((json_int_t)p->st.txq_pkts[q]));
			json_array_append_new(rk, json_integer((json_int_t)p->st.rxq_kicks[q]));
			json_array_append_new(ti, json_integer((json_int_t)p->st.txq_irqs[q]));
		}
		json_object_set_new(o, "rxq_pkts", rq);
		json_object_set_new(o, "txq_pkts", tq);
		json_object_set_new(o, "rxq_kicks", rk);
		json_object_set_new(o, "txq_irqs", ti);
		json_object_set_new(o, "irq_blocked",
				    json_integer((json_int_t)p->st.irq_blocked));
		json_object_set_new(o, "mac_moves",
				    json_integer((json_int_t)p->st.mac_moves));
		json_object_set_new(o, "announces",
				    json_integer((json_int_t)p->st.announces));
		/* a vxlan port of several VNIs is a trunk too, without VIDs */
		if (port_is_trunk(p) && strcmp(p->ops->type, "vxlan")) {
			json_t *vl = json_object();

			for (unsigned v = 0; v < p->nvlans; v++)
				json_object_set_new(vl, sw->net_name[p->vlan[v].net],
						    json_integer(p->vlan[v].vid));
			json_object_set_new(o, "vlans", vl);
			json_object_set_new(o, "untagged_drop",
					    json_boolean(p->untagged_drop));
		}
		if (port_vhost_dev(p))
			json_object_set_new(o, "vhost", vhost_json(port_vhost_dev(p)));
		if (p->ops->stats_json)
			p->ops->stats_json(p, o);
		json_array_append_new(ports, o);
	}
	json_object_set_new(root, "ports", ports);
	json_object_set_new(root, "networks", networks_json(sw));
	json_object_set_new(root, "mode", json_string(sw->mode == SW_MODE_LEARN ?
						      "learn" : "direct"));
	json_object_set_new(root, "copy", json_string(sw->copy_double ? "double" :
						      "single"));
	json_object_set_new(root, "fdb_entries",
			    json_integer(fdb_count(&sw->fdb, pv_now_ns())));
	json_object_set_new(root, "fdb_learned",
			    json_integer((json_int_t)sw->fdb.learned));
	json_object_set_new(root, "fdb_full", json_integer((json_int_t)sw->fdb.full));
	json_object_set_new(root, "fdb_refused",
			    json_integer((json_int_t)sw->fdb.refused));
	json_object_set_new(root, "mac_limit", json_integer(sw->mac_limit));
	if (sw->dp) {
		json_t *ws = json_array();

		json_object_set_new(root, "tsc_hz",
				    json_integer((json_int_t)dp_tsc_hz(sw->dp)));
		for (unsigned w = 0; w < dp_nworkers(sw->dp); w++) {
			const struct dp_worker_stats *st = dp_worker_stats(sw->dp, w);
			json_t *o = json_object();

			json_object_set_new(o, "queues", json_integer(st->nqueues));
			json_object_set_new(o, "pkts", json_integer((json_int_t)st->pkts));
			json_object_set_new(o, "loops", json_integer((json_int_t)st->loops));
			json_object_set_new(o, "busy_loops",
					    json_integer((json_int_t)st->busy_loops));
			json_object_set_new(o, "sleeps", json_integer((json_int_t)st->sleeps));
			json_object_set_new(o, "guard_breaks",
					    json_integer((json_int_t)st->guard_breaks));
			json_object_set_new(o, "notify_deferred",
					    json_integer((json_int_t)st->notify_deferred));
			json_object_set_new(o, "irq_coalesced",
					    json_integer((json_int_t)st->irq_coalesced));
			json_object_set_new(o, "busy_cycles",
					    json_integer((json_int_t)st->busy_cycles));
			json_object_set_new(o, "total_cycles",
					    json_integer((json_int_t)st->total_cycles));
			if (dp_worker_gro(sw->dp, w)) {
				const struct gro_table *g = dp_worker_gro(sw->dp, w);
				const struct gro_stats *gs = gro_stats(g);
				json_t *go = json_object();

				json_object_set_new(go, "held", json_integer(gro_held(g)));
				json_object_set_new(go, "in_segs", json_integer((json_int_t)gs->in_segs));
				json_object_set_new(go, "fast_path",
						    json_integer((json_int_t)gs->fast_path));
				json_object_set_new(go, "out_pkts", json_integer((json_int_t)gs->out_pkts));
				json_object_set_new(go, "out_merged", json_integer((json_int_t)gs->out_merged));
				json_object_set_new(go, "not_eligible",
						    json_integer((json_int_t)gs->not_eligible));
				json_object_set_new(go, "flush_policy",
						    json_integer((json_int_t)gs->flush_policy));
				json_object_set_new(go, "flush_timeout",
						    json_integer((json_int_t)gs->flush_timeout));
				json_object_set_new(go, "flush_flags",
						    json_integer((json_int_t)gs->flush_flags));
				json_object_set_new(go, "flush_full",
						    json_integer((json_int_t)gs->flush_full));
				json_object_set_new(go, "csum_bad", json_integer((json_int_t)gs->csum_bad));
				/* Segments per delivered packet: the papers' "LRO rate". */
				json_object_set_new(go, "agg", json_real(gs->out_pkts ?
					(double)gs->in_segs / (double)gs->out_pkts : 0.0));
				json_object_set_new(o, "gro", go);
			}
			{
				static const char *const names[DP_STAGE_MAX] = {
					"rx", "classify", "deliver", "notify" };
				json_t *sc = json_object(), *sp = json_object();

				for (unsigned k = 0; k < DP_STAGE_MAX; k++) {
					json_object_set_new(sc, names[k], json_integer(
						(json_int_t)st->stage_cycles[k]));
					json_object_set_new(sp, names[k], json_real(st->pkts ?
						(double)st->stage_cycles[k] / (double)st->pkts : 0.0));
				}
				json_object_set_new(o, "stage_cycles", sc);
				json_object_set_new(o, "stage_cycles_per_pkt", sp);
			}
			/* Cycles per packet of the rounds that moved packets. */
			json_object_set_new(o, "cycles_per_pkt",
					    json_real(st->pkts ? (double)st->busy_cycles /
						      (double)st->pkts : 0.0));
			json_array_append_new(ws, o);
		}
		json_object_set_new(root, "workers", ws);
	}
	for (unsigned i = 0; i < CTL_STATS_SOURCES; i++)
		if (sources[i].fn)
			sources[i].fn(sources[i].opaque, root);
	return root;
}

/* A field of a stats object; 0 or NULL when it is missing, as jansson does. */
static json_int_t jint(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static const char *jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static void print_text(json_t *root)
{
	json_t *ports = json_object_get(root, "ports"), *p, *w, *nv;
	const char *nk;
	size_t i;

	json_array_foreach(json_object_get(root, "workers"), i, w)
		printf("worker %zu: %lld queues, %lld pkts, %.0f cycles/pkt, %lld sleeps, busy %.1f%%\n",
		       i, jint(w, "queues"), jint(w, "pkts"),
		       json_real_value(json_object_get(w, "cycles_per_pkt")),
		       jint(w, "sleeps"),
		       jint(w, "total_cycles") ?
		       100.0 * (double)jint(w, "busy_cycles") /
		       (double)jint(w, "total_cycles") : 0.0);

	json_object_foreach(json_object_get(root, "networks"), nk, nv)
		printf("network %s: %lld ports, %lld MACs, %lld rx_pkts, %lld flooded, "
		       "%lld forwarded, %lld dropped\n", nk, jint(nv, "ports"),
		       jint(nv, "macs"), jint(nv, "rx_pkts"), jint(nv, "flooded"),
		       jint(nv, "forwarded"), jint(nv, "dropped"));
	printf("%-12s %-6s %-17s %12s %12s %12s %12s %10s\n", "port", "type",
	       "mac", "rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes", "dropped");
	json_array_foreach(ports, i, p) {
		json_t *drops = json_object_get(p, "drops"), *v, *vh, *vx;
		const char *k, *mac = jstr(p, "mac");

		printf("%-12s %-6s %-17s %12lld %12lld %12lld %12lld %10lld\n",
		       jstr(p, "name"), jstr(p, "type"), mac ? mac : "-",
		       jint(p, "rx_pkts"), jint(p, "rx_bytes"),
		       jint(p, "tx_pkts"), jint(p, "tx_bytes"),
		       jint(p, "dropped"));
		json_object_foreach(drops, k, v)
			printf("    drop %-28s %lld\n", k, json_integer_value(v));
		vx = json_object_get(p, "vxlan");
		if (vx)
			printf("    vxlan: vni %lld, local %s, %zu remote(s), %lld MACs learned "
			       "(%lld refused), %lld encapsulated, %lld decapsulated\n",
			       jint(vx, "vni"), jstr(vx, "local"),
			       json_array_size(json_object_get(vx, "remotes")),
			       jint(vx, "macs"), jint(vx, "macs_refused"),
			       jint(vx, "encap_pkts"), jint(vx, "decap_pkts"));
		if (json_array_size(json_object_get(vx, "vnis")) > 1) {
			json_t *vo;
			size_t vk;

			json_array_foreach(json_object_get(vx, "vnis"), vk, vo)
				printf("      vni %lld (network %s): %zu remote(s), %lld MACs, "
				       "%lld encapsulated, %lld decapsulated, %lld not sent\n",
				       jint(vo, "vni"), jstr(vo, "network"),
				       json_array_size(json_object_get(vo, "remotes")),
				       jint(vo, "macs"), jint(vo, "encap_pkts"),
				       jint(vo, "decap_pkts"), jint(vo, "tx_drops"));
		}
		vh = json_object_get(p, "vhost");
		if (vh) {
			json_t *q, *f;
			size_t j;

			printf("    vhost: %s, features %s, %lld msgs, %lld connects\n",
			       json_is_true(json_object_get(vh, "connected")) ?
			       "connected" : "not connected",
			       jstr(vh, "features"), jint(vh, "msgs"),
			       jint(vh, "connects"));
			if (jint(vh, "mem_faults"))
				printf("    vhost: guest memory faulted %lld time(s)%s\n",
				       jint(vh, "mem_faults"),
				       json_is_true(json_object_get(vh, "mem_faulted")) ?
				       ", port stopped until a new memory table" : "");
			json_object_foreach(json_object_get(vh, "faults"), k, f)
				printf("    fault %-27s %lld\n", k, json_integer_value(f));
			json_array_foreach(json_object_get(vh, "vrings"), j, q) {
				json_t *qd = json_object_get(q, "drops"), *dv;
				const char *dk;

				printf("    vring %2lld %s %-8s size %5lld pkts %10lld kicks %8lld calls %8lld suppressed %8lld\n",
				       jint(q, "vring"), jstr(q, "dir"),
				       jstr(q, "state"), jint(q, "size"),
				       jint(q, "pkts"), jint(q, "kicks"),
				       jint(q, "calls"), jint(q, "calls_suppressed"));
				json_object_foreach(qd, dk, dv)
					printf("      drop %-26s %lld\n", dk, json_integer_value(dv));
			}
		}
	}
}

static void stats_usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet stats --ctl PATH [--format text|json|openmetrics] [--json]\n"
		"\n"
		"Asks a running `pvnet switch` for its counters: per port packets and\n"
		"bytes in and out, drops by reason, vhost-user state, per-vring counts,\n"
		"per worker packets and cycles (docs/stats.md).\n"
		"\n"
		"  --ctl PATH   the switch's control socket (its --ctl)\n"
		"  --format F   text (default): a table; json: the raw JSON document;\n"
		"               openmetrics: the same counters in the Prometheus text\n"
		"               exposition (pvnet_* names, counters ending in _total,\n"
		"               labels network, port, queue, worker, reason; what\n"
		"               `pvnet switch --metrics` serves at /metrics)\n"
		"  --json       the same as --format json\n"
		"\n"
		"Rates, refreshed every second: pvnet top --ctl PATH.\n");
}

enum stats_format { FMT_TEXT, FMT_JSON, FMT_METRICS };

int ctl_stats_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL;
	enum stats_format fmt = FMT_TEXT;
	char *reply = NULL;
	json_t *root;
	json_error_t jerr;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:jf:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			fmt = FMT_JSON;
			break;
		case 'f':
			if (!strcmp(optarg, "text")) {
				fmt = FMT_TEXT;
			} else if (!strcmp(optarg, "json")) {
				fmt = FMT_JSON;
			} else if (!strcmp(optarg, "openmetrics")) {
				fmt = FMT_METRICS;
			} else {
				fprintf(stderr, "pvnet stats: --format wants text, json or openmetrics\n");
				return 2;
			}
			break;
		case 'h':
			stats_usage(stdout);
			return 0;
		default:
			stats_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvnet stats: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!path) {
		fprintf(stderr, "pvnet stats: --ctl PATH is required\n");
		return 2;
	}
	rc = ctl_request(path, "stats", &reply);
	if (rc < 0) {
		fprintf(stderr, "pvnet stats: %s: %s\n", path, strerror(-rc));
		return 1;
	}
	if (fmt == FMT_JSON) {
		printf("%s\n", reply);
		free(reply);
		return 0;
	}
	root = json_loads(reply, 0, &jerr);
	free(reply);
	if (!root || json_object_get(root, "error")) {
		fprintf(stderr, "pvnet stats: bad reply: %s\n", root ?
			json_string_value(json_object_get(root, "error")) :
			jerr.text);
		json_decref(root);
		return 1;
	}
	if (fmt == FMT_METRICS) {
		/*
		 * The text 0.0.4 dialect: promtool lints it, and Prometheus
		 * reads it under either content type.
		 */
		size_t len;
		char *text = ctl_metrics_text(root, false, &len);

		json_decref(root);
		if (!text) {
			fprintf(stderr, "pvnet stats: out of memory\n");
			return 1;
		}
		fwrite(text, 1, len, stdout);
		free(text);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	print_text(root);
	json_decref(root);
	return 0;
}
