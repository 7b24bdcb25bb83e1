// SPDX-License-Identifier: MIT
/*
 * metrics.c - the stats document (ctl_stats_json) as the Prometheus text
 * exposition, for `pvnet stats --format openmetrics` and the switch's
 * --metrics HTTP listener.
 *
 * One source of truth: this file reads the JSON document the control
 * socket answers and never the switch's structures, so every figure here is
 * one `pvnet stats --json` shows. A family is a row of the table below:
 * its name, type, the scope it repeats over (switch, port, queue, drop
 * reason, vring, worker...) and the JSON key it comes from. Families are
 * written whole, one after the other, as the text format requires (all
 * samples of a name under its one HELP and TYPE).
 *
 * Dialects: Prometheus text 0.0.4 names a counter's family with its
 * `_total` suffix (what promtool lints and every Prometheus reads), and an
 * info metric is a gauge named `_info` of value 1; OpenMetrics 1.0 names
 * those families without the suffix (types counter and info) and their
 * samples with it. Both end with "# EOF", which 0.0.4 reads as a comment.
 *
 * Values that are not monotonic (sizes, states, lifetime averages, what is
 * held now) are gauges; the rest are counters. Per-port drops list every
 * reason, zeros included, so increase() sees a reason's first drop; the
 * rarer per-vring drops, vhost-user faults and requests list only the
 * reasons that occurred, as the JSON does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"
#include "pvnet/common.h"
#include "pvnet/drop.h"

enum scope {
	SC_SWITCH,	/* the document's top level, per network */
	SC_ROOT,	/* the document's top level, per process */
	SC_CTL,		/* root.ctl */
	SC_HTTP,	/* root.metrics_http */
	SC_NET,		/* root.networks.<name> */
	SC_NET_DROP,	/* root.networks.<name>.drops, every reason */
	SC_PORT,	/* root.ports[] */
	SC_PORT_QUEUE,	/* ports[].<array>[q] */
	SC_PORT_DROP,	/* ports[].drops, every reason */
	SC_PORT_VLAN,	/* ports[].vlans: network -> VID (a trunk) */
	SC_VHOST,	/* ports[].vhost */
	SC_VHOST_FAULT,	/* ports[].vhost.faults */
	SC_VHOST_REQ,	/* ports[].vhost.requests */
	SC_VRING,	/* ports[].vhost.vrings[] */
	SC_VRING_DROP,	/* ports[].vhost.vrings[].drops */
	SC_VXLAN,	/* ports[].vxlan, labelled with its VNI */
	SC_VXLAN_COUNT,	/* ports[].vxlan.<array>: its length */
	SC_VXLAN_VNI,	/* ports[].vxlan.vnis[], labelled vni, vni_network */
	SC_WORKER,	/* root.workers[] */
	SC_STAGE,	/* workers[].stage_cycles (or _per_pkt) */
	SC_GRO,		/* workers[].gro */
	SC_GRO_FLUSH,	/* workers[].gro.flush_* */
	/* info gauges: value 1, the strings as labels */
	SC_SWITCH_INFO, SC_PORT_INFO, SC_PORT_SOCKERR, SC_VHOST_INFO,
	SC_VRING_STATE, SC_VRING_BROKEN, SC_VXLAN_INFO,
};

struct family {
	const char *name;	/* without the pvnet_ prefix and _total */
	bool counter;
	enum scope sc;
	const char *key;	/* the JSON field (or array, or object) */
	const char *help;
};

#define C true
#define G false
static const struct family families[] = {
	{ "switch_info", G, SC_SWITCH_INFO, NULL,
	  "Forwarding mode and copy mode of the switch (value 1)" },
	{ "fdb_entries", G, SC_SWITCH, "fdb_entries",
	  "Valid MAC table entries now" },
	{ "fdb_learned", C, SC_SWITCH, "fdb_learned",
	  "MACs learned or moved" },
	{ "fdb_full", C, SC_SWITCH, "fdb_full",
	  "MACs not learned because their probe window was full" },
	{ "fdb_refused", C, SC_SWITCH, "fdb_refused",
	  "MACs not learned because the port was at its limit" },
	{ "mac_limit", G, SC_SWITCH, "mac_limit",
	  "Learned MACs allowed per port (0: only the table size)" },
	{ "tsc_hz", G, SC_ROOT, "tsc_hz",
	  "TSC ticks per second, the unit of the cycle counters" },

	{ "network_ports", G, SC_NET, "ports",
	  "Ports in the network now" },
	{ "network_macs", G, SC_NET, "macs",
	  "Valid MAC table entries of the network now" },
	{ "network_rx_packets", C, SC_NET, "rx_pkts",
	  "Packets that entered the switch from the network's ports" },
	{ "network_flooded", C, SC_NET, "flooded",
	  "Packets flooded to the network's other ports" },
	{ "network_forwarded", C, SC_NET, "forwarded",
	  "Packets sent to one port of the network" },
	{ "network_dropped", C, SC_NET, "dropped",
	  "Packets dropped at the network's ports, all reasons" },
	{ "network_drops", C, SC_NET_DROP, "drops",
	  "Packets dropped at the network's ports, by reason" },

	{ "port_info", G, SC_PORT_INFO, NULL,
	  "A port, its type and MAC (value 1)" },
	{ "port_rx_packets", C, SC_PORT, "rx_pkts",
	  "Packets that entered the switch from the port" },
	{ "port_rx_bytes", C, SC_PORT, "rx_bytes",
	  "Frame bytes that entered the switch from the port" },
	{ "port_tx_packets", C, SC_PORT, "tx_pkts",
	  "Packets delivered to the port" },
	{ "port_tx_bytes", C, SC_PORT, "tx_bytes",
	  "Frame bytes delivered to the port" },
	{ "port_dropped", C, SC_PORT, "dropped",
	  "Packets dropped at the port, all reasons" },
	{ "port_drops", C, SC_PORT_DROP, "drops",
	  "Packets dropped at the port, by reason" },
	{ "port_tx_csum_done", C, SC_PORT, "tx_csum_done",
	  "Partial checksums completed because the port could not take them" },
	{ "port_rx_gso_packets", C, SC_PORT, "rx_gso_pkts",
	  "Large packets taken whole from the port, with a GSO header" },
	{ "port_tx_gso_packets", C, SC_PORT, "tx_gso_pkts",
	  "Large packets delivered as they are, with a GSO header" },
	{ "port_segmented", C, SC_PORT, "segmented",
	  "Extra segments made by software GSO for the port" },
	{ "port_merged", C, SC_PORT, "merged",
	  "Segments GRO folded into other packets toward the port" },
	{ "port_replicated", C, SC_PORT, "replicated",
	  "Extra copies made by flooding" },
	{ "port_flooded", C, SC_PORT, "flooded",
	  "Packets from the port flooded in its network" },
	{ "port_forwarded", C, SC_PORT, "forwarded",
	  "Packets from the port sent to one port" },
	{ "port_mac_refused", C, SC_PORT, "mac_refused",
	  "Frames whose new source MAC was not learned: the port's limit" },
	{ "port_mac_learned", G, SC_PORT, "mac_learned",
	  "MAC table entries charged to the port now" },
	{ "port_irq_blocked", C, SC_PORT, "irq_blocked",
	  "Interrupts coalesced because the peer's call eventfd was full" },
	{ "port_mac_moves", C, SC_PORT, "mac_moves",
	  "Times a MAC on two vhost ports moved its frames to this port" },
	{ "port_announces", C, SC_PORT, "announces",
	  "RARPs sent for the port's guest after a migration" },
	{ "port_queue_rx_packets", C, SC_PORT_QUEUE, "rxq_pkts",
	  "Packets that entered the switch from the port, per queue" },
	{ "port_queue_tx_packets", C, SC_PORT_QUEUE, "txq_pkts",
	  "Packets delivered to the port, per queue" },
	{ "port_queue_rx_kicks", C, SC_PORT_QUEUE, "rxq_kicks",
	  "Notifications received from the port's peer, per queue" },
	{ "port_queue_tx_interrupts", C, SC_PORT_QUEUE, "txq_irqs",
	  "Interrupts sent to the port's peer, per queue" },
	{ "port_vlan", G, SC_PORT_VLAN, "vlans",
	  "802.1Q VID a trunk port carries a network with (label vlan_network)" },
	{ "port_untagged_drop", G, SC_PORT, "untagged_drop",
	  "1: the trunk port drops untagged frames (untagged=drop)" },
	{ "port_sock_errors", C, SC_PORT, "sock_errors",
	  "Errors the kernel reported on an afpacket port's socket" },
	{ "port_last_sock_error_info", G, SC_PORT_SOCKERR, "last_sock_error",
	  "The last socket error of an afpacket port (value 1)" },
	{ "port_gen_cycles", C, SC_PORT, "gen_cycles",
	  "TSC cycles a gen port spent writing frames" },

	{ "vhost_info", G, SC_VHOST_INFO, NULL,
	  "A vhost-user port's negotiated features (value 1)" },
	{ "vhost_connected", G, SC_VHOST, "connected",
	  "1 while a vhost-user frontend is connected" },
	{ "vhost_messages", C, SC_VHOST, "msgs",
	  "vhost-user messages received" },
	{ "vhost_connects", C, SC_VHOST, "connects",
	  "vhost-user connections" },
	{ "vhost_disconnects", C, SC_VHOST, "disconnects",
	  "vhost-user disconnections" },
	{ "vhost_faults", C, SC_VHOST_FAULT, "faults",
	  "vhost-user protocol faults by reason" },
	{ "vhost_requests", C, SC_VHOST_REQ, "requests",
	  "vhost-user requests by type" },
	{ "vhost_mem_faults", C, SC_VHOST, "mem_faults",
	  "SIGBUS faults in the guest's memory" },
	{ "vhost_mem_faulted", G, SC_VHOST, "mem_faulted",
	  "1 while the port does not use its faulted guest memory" },
	{ "vhost_log_bytes", G, SC_VHOST, "log_bytes",
	  "Live migration: bytes of the dirty log mapped now" },
	{ "vhost_logging", G, SC_VHOST, "logging",
	  "Live migration: 1 while the rings write the dirty log" },
	{ "vhost_log_bases", C, SC_VHOST, "log_bases",
	  "Live migration: dirty logs received (SET_LOG_BASE)" },
	{ "vhost_rarps", C, SC_VHOST, "rarps",
	  "SEND_RARP requests received" },
	{ "vhost_mtu", G, SC_VHOST, "mtu",
	  "The MTU the frontend set (NET_SET_MTU; 0: none)" },
	{ "vhost_mtu_refused", C, SC_VHOST, "mtu_refused",
	  "NET_SET_MTU requests refused (out of 68..the port's mtu=)" },
	{ "vhost_accept_errors", C, SC_VHOST, "accept_errors",
	  "accept() out of fds: the socket paused for a tick" },
	{ "vring_state", G, SC_VRING_STATE, "state",
	  "A vring's state (1 for the current one)" },
	{ "vring_broken_reason_info", G, SC_VRING_BROKEN, "broken_reason",
	  "Why a broken vring was stopped (value 1)" },
	{ "vring_size", G, SC_VRING, "size", "Descriptors in the vring" },
	{ "vring_packets", C, SC_VRING, "pkts", "Packets through the vring" },
	{ "vring_kicks", C, SC_VRING, "kicks",
	  "Notifications received on the vring" },
	{ "vring_calls", C, SC_VRING, "calls",
	  "Interrupts sent for the vring" },
	{ "vring_calls_suppressed", C, SC_VRING, "calls_suppressed",
	  "Interrupts not needed: the guest did not ask for them" },
	{ "vring_drops", C, SC_VRING_DROP, "drops",
	  "Packets and faults counted on the vring, by reason" },

	{ "vxlan_info", G, SC_VXLAN_INFO, "local",
	  "A vxlan port's VNI and local underlay address (value 1)" },
	{ "vxlan_dstport", G, SC_VXLAN, "dstport",
	  "The UDP port a vxlan port sends to and receives on" },
	{ "vxlan_udp_checksum", G, SC_VXLAN, "udpcsum",
	  "1 if the outer UDP checksum is computed on transmit" },
	{ "vxlan_underlay_mtu", G, SC_VXLAN, "underlay_mtu",
	  "The underlay MTU of a vxlan port" },
	{ "vxlan_max_frame_bytes", G, SC_VXLAN, "max_frame",
	  "The largest inner frame a vxlan port sends" },
	{ "vxlan_remotes", G, SC_VXLAN_COUNT, "remotes",
	  "Configured remote VTEPs (head-end replication)" },
	{ "vxlan_macs", G, SC_VXLAN, "macs",
	  "Remote MACs known and not aged now" },
	{ "vxlan_static_macs", G, SC_VXLAN, "static_macs",
	  "Static remote MACs of a vxlan port (installed by pvnet evpn)" },
	{ "vxlan_macs_max", G, SC_VXLAN, "macs_max",
	  "Capacity of the remote MAC table" },
	{ "vxlan_macs_learned", C, SC_VXLAN, "macs_learned",
	  "Remote MACs learned (new entries)" },
	{ "vxlan_macs_moved", C, SC_VXLAN, "macs_moved",
	  "Remote MACs that moved to another VTEP" },
	{ "vxlan_macs_refused", C, SC_VXLAN, "macs_refused",
	  "Remote MACs not learned: their bucket was full" },
	{ "vxlan_encapsulated_packets", C, SC_VXLAN, "encap_pkts",
	  "Datagrams sent (a flooded frame once per remote)" },
	{ "vxlan_decapsulated_packets", C, SC_VXLAN, "decap_pkts",
	  "Inner frames received and handed to the switch" },
	{ "vxlan_tx_copy_errors", C, SC_VXLAN, "tx_copy_errors",
	  "Copies of a replicated frame the socket refused while others went" },
	{ "vxlan_udp_gso", G, SC_VXLAN, "udp_gso",
	  "1 while TSO sends go out as UDP GSO sends (0 once the kernel refused)" },
	{ "vxlan_gso_sends", C, SC_VXLAN, "gso_sends",
	  "UDP GSO sends (UDP_SEGMENT), one per destination" },
	{ "vxlan_gso_segments", C, SC_VXLAN, "gso_segs",
	  "Inner segments sent in UDP GSO sends" },
	{ "vxlan_gso_fallbacks", C, SC_VXLAN, "gso_fallbacks",
	  "Times the kernel refused UDP GSO and the port fell back" },
	{ "vxlan_udp_gro", G, SC_VXLAN, "udp_gro",
	  "1 if the receiving socket takes coalesced datagrams (UDP_GRO)" },
	{ "vxlan_gro_receives", C, SC_VXLAN, "gro_recvs",
	  "Receives that held several coalesced datagrams" },
	{ "vxlan_gro_segments", C, SC_VXLAN, "gro_segs",
	  "Datagrams in coalesced receives" },
	{ "vxlan_vni_remotes", G, SC_VXLAN_VNI, "remotes",
	  "Remote VTEPs flooded to, per VNI of a vxlan port" },
	{ "vxlan_vni_macs", G, SC_VXLAN_VNI, "macs",
	  "Remote MACs learned and not aged, per VNI" },
	{ "vxlan_vni_static_macs", G, SC_VXLAN_VNI, "static_macs",
	  "Static remote MACs (pvnet evpn), per VNI" },
	{ "vxlan_vni_macs_learned", C, SC_VXLAN_VNI, "macs_learned",
	  "Remote MACs learned, per VNI" },
	{ "vxlan_vni_encapsulated_packets", C, SC_VXLAN_VNI, "encap_pkts",
	  "Datagrams sent, per VNI (a flood once per remote)" },
	{ "vxlan_vni_decapsulated_packets", C, SC_VXLAN_VNI, "decap_pkts",
	  "Inner frames handed to the switch, per VNI" },
	{ "vxlan_vni_tx_drops", C, SC_VXLAN_VNI, "tx_drops",
	  "Frames toward a VNI not sent (any reason; the port's drops say which)" },

	{ "worker_queues", G, SC_WORKER, "queues",
	  "Port queues assigned to the worker" },
	{ "worker_packets", C, SC_WORKER, "pkts", "Packets the worker polled" },
	{ "worker_loops", C, SC_WORKER, "loops", "Poll rounds" },
	{ "worker_busy_loops", C, SC_WORKER, "busy_loops",
	  "Poll rounds that found work" },
	{ "worker_sleeps", C, SC_WORKER, "sleeps", "Times the worker slept" },
	{ "worker_guard_breaks", C, SC_WORKER, "guard_breaks",
	  "Writes to a peer's eventfd the watchdog interrupted" },
	{ "worker_notify_deferred", C, SC_WORKER, "notify_deferred",
	  "Rounds whose interrupt decisions shared one barrier at the end" },
	{ "worker_irq_coalesced", C, SC_WORKER, "irq_coalesced",
	  "Receive interrupts held back to be raised later (--irq-coalesce)" },
	{ "worker_busy_cycles", C, SC_WORKER, "busy_cycles",
	  "TSC cycles spent in rounds that moved packets" },
	{ "worker_cycles", C, SC_WORKER, "total_cycles",
	  "TSC cycles since the worker started" },
	{ "worker_stage_cycles", C, SC_STAGE, "stage_cycles",
	  "TSC cycles by stage of the packet path" },
	{ "worker_cycles_per_packet", G, SC_WORKER, "cycles_per_pkt",
	  "Busy cycles per packet since start (rates: busy_cycles over packets)" },
	{ "worker_stage_cycles_per_packet", G, SC_STAGE, "stage_cycles_per_pkt",
	  "Cycles per packet by stage since start" },
	{ "gro_held", G, SC_GRO, "held", "Segments held in the GRO table now" },
	{ "gro_segments_in", C, SC_GRO, "in_segs",
	  "Segments GRO took in" },
	{ "gro_fast_path_segments", C, SC_GRO, "fast_path",
	  "Segments GRO appended to a held flow by its fast path" },
	{ "gro_packets_out", C, SC_GRO, "out_pkts",
	  "Packets delivered out of the GRO table" },
	{ "gro_merged_packets_out", C, SC_GRO, "out_merged",
	  "Packets out of the GRO table that hold more than one segment" },
	{ "gro_not_eligible", C, SC_GRO, "not_eligible",
	  "Segments offered to GRO that it cannot merge" },
	{ "gro_flushes", C, SC_GRO_FLUSH, NULL, "GRO flow flushes by cause" },
	{ "gro_csum_bad", C, SC_GRO, "csum_bad",
	  "Segments whose checksum did not verify" },
	{ "gro_aggregation", G, SC_GRO, "agg",
	  "Segments per packet delivered out of GRO since start" },

	{ "ctl_clients_accepted", C, SC_CTL, "accepted",
	  "Control socket clients served" },
	{ "ctl_clients_refused", C, SC_CTL, "refused",
	  "Control socket clients closed at accept: the client limit" },
	{ "ctl_clients_timed_out", C, SC_CTL, "timed_out",
	  "Control socket clients closed at their deadline" },
	{ "ctl_accept_errors", C, SC_CTL, "accept_errors",
	  "Control socket accept() out of fds: paused 250 ms" },
	{ "ctl_ports_added", C, SC_CTL, "port_added",
	  "Ports added at run time (pvnet port add)" },
	{ "ctl_ports_deleted", C, SC_CTL, "port_deleted",
	  "Ports deleted at run time (pvnet port del)" },
	{ "ctl_port_requests_refused", C, SC_CTL, "port_errors",
	  "Runtime port requests refused (duplicate, bad spec, unknown name...)" },
	{ "ctl_vxlan_changes", C, SC_CTL, "vxlan_changes",
	  "vxlan remotes and static MACs added or removed (BGP EVPN)" },
	{ "ctl_vxlan_requests_refused", C, SC_CTL, "vxlan_errors",
	  "vxlan remote/mac requests refused (bad address, MAC, port...)" },
	{ "metrics_http_clients_accepted", C, SC_HTTP, "accepted",
	  "HTTP clients of the metrics listener served" },
	{ "metrics_http_clients_refused", C, SC_HTTP, "refused",
	  "HTTP clients closed at accept: the client limit" },
	{ "metrics_http_clients_timed_out", C, SC_HTTP, "timed_out",
	  "HTTP clients closed at their deadline before their reply was read" },
	{ "metrics_http_accept_errors", C, SC_HTTP, "accept_errors",
	  "Metrics listener accept() out of fds: paused 250 ms" },
	{ "metrics_http_requests", C, SC_HTTP, "requests",
	  "HTTP requests answered by the metrics listener, all statuses" },
	{ "metrics_http_scrapes", C, SC_HTTP, "scrapes",
	  "HTTP requests answered with the metrics" },
	{ "metrics_http_bad_requests", C, SC_HTTP, "bad_requests",
	  "HTTP requests answered 400, 404 or 405" },
};
#undef C
#undef G

static const struct { const char *key, *cause; } gro_flush_keys[] = {
	{ "flush_policy", "policy" }, { "flush_timeout", "timeout" },
	{ "flush_flags", "flags" }, { "flush_full", "full" },
};

/* The JSON fields a family does not come from, and why. */
static const char *const not_exported[] = {
	"name", "type", "mac", "features", "vring", "dir",	/* labels */
	"network",
	"mode", "copy",			/* pvnet_switch_info labels */
	"port",		/* metrics_http.port: the scraper knows it already */
	"vni",		/* a label of every pvnet_vxlan_* sample */
	"src_ports",	/* the vxlan sending sockets' ports: in the JSON only */
	"vnis",		/* its entries are the pvnet_vxlan_vni_* families */
};

bool ctl_metrics_key_exported(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++)
		if (families[i].key && !strcmp(families[i].key, key))
			return true;
	for (size_t i = 0; i < ARRAY_SIZE(gro_flush_keys); i++)
		if (!strcmp(gro_flush_keys[i].key, key))
			return true;
	for (size_t i = 0; i < ARRAY_SIZE(not_exported); i++)
		if (!strcmp(not_exported[i], key))
			return true;
	return false;
}

/* A growing output buffer; on allocation failure it stops and remembers. */
struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void put(struct out *o, const char *fmt, ...) PV_PRINTF(2, 3);

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		size_t room = o->cap - o->len;

		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t cap = o->cap * 2 > o->len + (size_t)n + 1 ?
				     o->cap * 2 : o->len + (size_t)n + 1;
			char *nb = realloc(o->buf, cap);

			if (!nb) {
				o->oom = true;
				return;
			}
			o->buf = nb;
			o->cap = cap;
		}
	}
}

/* A label value with \, " and newline escaped (text format 0.0.4 and OM). */
static void put_escaped(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '"')
			put(o, "\\\"");
		else if (*s == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *s);
	}
}

/*
 * Labels: name/value pairs, NULL-terminated; a NULL value ends it too.
 * Kept small: the deepest scope (a vring's drop reason) has five.
 */
#define MAX_LABELS	6
struct labels {
	const char *k[MAX_LABELS];
	const char *v[MAX_LABELS];
	unsigned n;
};

static struct labels lab_push(struct labels l, const char *k, const char *v)
{
	if (l.n < MAX_LABELS && v) {
		l.k[l.n] = k;
		l.v[l.n] = v;
		l.n++;
	}
	return l;
}

static void put_sample(struct out *o, const struct family *f,
		       const struct labels *l, json_t *val)
{
	put(o, "pvnet_%s%s", f->name, f->counter ? "_total" : "");
	if (l->n) {
		put(o, "{");
		for (unsigned i = 0; i < l->n; i++) {
			put(o, "%s%s=\"", i ? "," : "", l->k[i]);
			put_escaped(o, l->v[i]);
			put(o, "\"");
		}
		put(o, "}");
	}
	if (json_is_integer(val))
		put(o, " %lld\n", (long long)json_integer_value(val));
	else if (json_is_real(val))
		put(o, " %.17g\n", json_real_value(val));
	else if (json_is_boolean(val))
		put(o, " %d\n", json_is_true(val) ? 1 : 0);
	else
		put(o, " 0\n");	/* a missing field reads 0, as in jansson */
}

static void put_one(struct out *o, const struct family *f,
		    const struct labels *l, json_int_t v)
{
	json_t *j = json_integer(v);

	put_sample(o, f, l, j);
	json_decref(j);
}

/* A field the family reads, or NULL where this object does not have it. */
static json_t *field(json_t *obj, const char *key)
{
	return key ? json_object_get(obj, key) : NULL;
}

/* Every key/value of a counters object, as samples with label @lk. */
static void put_map(struct out *o, const struct family *f, struct labels l,
		    json_t *map, const char *lk)
{
	const char *k;
	json_t *v;

	json_object_foreach(map, k, v) {
		struct labels ll = lab_push(l, lk, k);

		put_sample(o, f, &ll, v);
	}
}

static void put_port_family(struct out *o, const struct family *f,
			    json_t *port, struct labels l)
{
	json_t *vh = json_object_get(port, "vhost"), *q;
	size_t i;

	switch (f->sc) {
	case SC_PORT:
		if (field(port, f->key))
			put_sample(o, f, &l, field(port, f->key));
		break;
	case SC_PORT_INFO: {
		const char *mac = json_string_value(json_object_get(port, "mac"));
		struct labels ll = lab_push(l, "type", json_string_value(
						    json_object_get(port, "type")));

		ll = lab_push(ll, "mac", mac ? mac : "");
		put_one(o, f, &ll, 1);
		break;
	}
	case SC_PORT_SOCKERR:
		if (json_is_string(field(port, f->key))) {
			struct labels ll = lab_push(l, "error", json_string_value(
							    field(port, f->key)));

			put_one(o, f, &ll, 1);
		}
		break;
	case SC_PORT_VLAN: {
		const char *k;
		json_t *v;

		json_object_foreach(field(port, f->key), k, v) {
			struct labels ll = lab_push(l, "vlan_network", k);

			put_sample(o, f, &ll, v);
		}
		break;
	}
	case SC_PORT_DROP: {
		json_t *d = field(port, f->key);

		for (unsigned r = 1; r < PV_DROP_MAX; r++) {
			struct labels ll = lab_push(l, "reason", pv_drop_name(r));

			put_one(o, f, &ll, json_integer_value(
					json_object_get(d, pv_drop_name(r))));
		}
		break;
	}
	case SC_PORT_QUEUE: {
		json_t *arr = field(port, f->key);
		static const char *const qkeys[] = {
			"rxq_pkts", "txq_pkts", "rxq_kicks", "txq_irqs" };

		for (i = 0; i < json_array_size(arr); i++) {
			bool used = i == 0;
			char qs[24];
			struct labels ll;

			/* a queue appears once any of its counters moved */
			for (unsigned k = 0; k < 4; k++)
				used |= json_integer_value(json_array_get(
					json_object_get(port, qkeys[k]), i)) != 0;
			if (!used)
				continue;
			snprintf(qs, sizeof(qs), "%zu", i);
			ll = lab_push(l, "queue", qs);
			put_sample(o, f, &ll, json_array_get(arr, i));
		}
		break;
	}
	case SC_VHOST:
		if (vh && field(vh, f->key))
			put_sample(o, f, &l, field(vh, f->key));
		break;
	case SC_VXLAN_VNI: {
		json_t *vx = json_object_get(port, "vxlan"), *v;

		json_array_foreach(json_object_get(vx, "vnis"), i, v) {
			char vni[16];
			const char *net = json_string_value(json_object_get(v, "network"));
			struct labels ll;
			json_t *x = field(v, f->key);

			snprintf(vni, sizeof(vni), "%lld", (long long)
				 json_integer_value(json_object_get(v, "vni")));
			ll = lab_push(l, "vni", vni);
			ll = lab_push(ll, "vni_network", net ? net : "");
			if (json_is_array(x))
				put_one(o, f, &ll, (json_int_t)json_array_size(x));
			else if (x)
				put_sample(o, f, &ll, x);
		}
		break;
	}
	case SC_VXLAN:
	case SC_VXLAN_COUNT:
	case SC_VXLAN_INFO: {
		json_t *vx = json_object_get(port, "vxlan");
		char vni[16];
		struct labels ll;

		if (!vx)
			break;
		snprintf(vni, sizeof(vni), "%lld", (long long)json_integer_value(
				 json_object_get(vx, "vni")));
		ll = lab_push(l, "vni", vni);
		if (f->sc == SC_VXLAN_INFO) {
			const char *a = json_string_value(field(vx, f->key));

			ll = lab_push(ll, "local", a ? a : "");
			put_one(o, f, &ll, 1);
		} else if (f->sc == SC_VXLAN_COUNT) {
			put_one(o, f, &ll, (json_int_t)json_array_size(
					field(vx, f->key)));
		} else if (field(vx, f->key)) {
			put_sample(o, f, &ll, field(vx, f->key));
		}
		break;
	}
	case SC_VHOST_INFO:
		if (vh) {
			struct labels ll = lab_push(l, "features", json_string_value(
							    json_object_get(vh, "features")));

			put_one(o, f, &ll, 1);
		}
		break;
	case SC_VHOST_FAULT:
		if (vh)
			put_map(o, f, l, field(vh, f->key), "reason");
		break;
	case SC_VHOST_REQ:
		if (vh)
			put_map(o, f, l, field(vh, f->key), "request");
		break;
	case SC_VRING:
	case SC_VRING_DROP:
	case SC_VRING_STATE:
	case SC_VRING_BROKEN:
		json_array_foreach(json_object_get(vh, "vrings"), i, q) {
			static const char *const states[] = {
				"running", "stopped", "broken" };
			char vs[24];
			struct labels ll;

			snprintf(vs, sizeof(vs), "%lld", (long long)
				 json_integer_value(json_object_get(q, "vring")));
			ll = lab_push(l, "vring", vs);
			ll = lab_push(ll, "dir", json_string_value(
					      json_object_get(q, "dir")));
			if (f->sc == SC_VRING && field(q, f->key)) {
				put_sample(o, f, &ll, field(q, f->key));
			} else if (f->sc == SC_VRING_DROP) {
				put_map(o, f, ll, field(q, f->key), "reason");
			} else if (f->sc == SC_VRING_STATE) {
				const char *st = json_string_value(field(q, f->key));

				for (unsigned k = 0; k < 3; k++) {
					struct labels sl = lab_push(ll, "state",
								    states[k]);

					put_one(o, f, &sl, st && !strcmp(st, states[k]));
				}
			} else if (f->sc == SC_VRING_BROKEN &&
				   json_is_string(field(q, f->key))) {
				struct labels sl = lab_push(ll, "reason",
					json_string_value(field(q, f->key)));

				put_one(o, f, &sl, 1);
			}
		}
		break;
	default:
		break;
	}
}

static void put_worker_family(struct out *o, const struct family *f,
			      json_t *w, struct labels l)
{
	json_t *gro = json_object_get(w, "gro");

	switch (f->sc) {
	case SC_WORKER:
		if (field(w, f->key))
			put_sample(o, f, &l, field(w, f->key));
		break;
	case SC_STAGE:
		put_map(o, f, l, field(w, f->key), "stage");
		break;
	case SC_GRO:
		if (gro && field(gro, f->key))
			put_sample(o, f, &l, field(gro, f->key));
		break;
	case SC_GRO_FLUSH:
		for (size_t k = 0; gro && k < ARRAY_SIZE(gro_flush_keys); k++) {
			struct labels ll = lab_push(l, "cause",
						    gro_flush_keys[k].cause);

			put_sample(o, f, &ll, json_object_get(
					   gro, gro_flush_keys[k].key));
		}
		break;
	default:
		break;
	}
}

static bool is_port_scope(enum scope sc)
{
	switch (sc) {
	case SC_PORT: case SC_PORT_QUEUE: case SC_PORT_DROP: case SC_PORT_VLAN:
	case SC_VHOST:
	case SC_VHOST_FAULT: case SC_VHOST_REQ: case SC_VRING:
	case SC_VRING_DROP: case SC_PORT_INFO: case SC_PORT_SOCKERR:
	case SC_VHOST_INFO: case SC_VRING_STATE: case SC_VRING_BROKEN:
	case SC_VXLAN: case SC_VXLAN_COUNT: case SC_VXLAN_INFO: case SC_VXLAN_VNI:
		return true;
	default:
		return false;
	}
}

static bool is_worker_scope(enum scope sc)
{
	return sc == SC_WORKER || sc == SC_STAGE || sc == SC_GRO ||
	       sc == SC_GRO_FLUSH;
}

/* Writes one family's samples (none where no object has its field). */
static void put_family(struct out *o, const struct family *f, json_t *root)
{
	struct labels net = lab_push((struct labels){ .n = 0 }, "network",
				     CTL_METRICS_NETWORK);
	json_t *v;
	size_t i;

	if (is_port_scope(f->sc)) {
		json_array_foreach(json_object_get(root, "ports"), i, v) {
			const char *pn = json_string_value(json_object_get(v, "network"));
			struct labels pl = lab_push((struct labels){ .n = 0 }, "network",
						    pn ? pn : CTL_METRICS_NETWORK);

			put_port_family(o, f, v, lab_push(pl, "port",
				json_string_value(json_object_get(v, "name"))));
		}
	} else if (f->sc == SC_NET || f->sc == SC_NET_DROP) {
		const char *k;

		json_object_foreach(json_object_get(root, "networks"), k, v) {
			struct labels nl = lab_push((struct labels){ .n = 0 },
						    "network", k);

			if (f->sc == SC_NET) {
				if (field(v, f->key))
					put_sample(o, f, &nl, field(v, f->key));
				continue;
			}
			for (unsigned r = 1; r < PV_DROP_MAX; r++) {
				struct labels ll = lab_push(nl, "reason",
							    pv_drop_name(r));

				put_one(o, f, &ll, json_integer_value(json_object_get(
					field(v, f->key), pv_drop_name(r))));
			}
		}
	} else if (is_worker_scope(f->sc)) {
		json_array_foreach(json_object_get(root, "workers"), i, v) {
			char ws[24];
			struct labels wl;

			snprintf(ws, sizeof(ws), "%zu", i);
			wl = lab_push((struct labels){ .n = 0 }, "worker", ws);
			put_worker_family(o, f, v, wl);
		}
	} else if (f->sc == SC_SWITCH_INFO) {
		struct labels l = lab_push(net, "mode", json_string_value(
						   json_object_get(root, "mode")));

		l = lab_push(l, "copy", json_string_value(
				     json_object_get(root, "copy")));
		put_one(o, f, &l, 1);
	} else {
		json_t *obj = f->sc == SC_CTL ? json_object_get(root, "ctl") :
			      f->sc == SC_HTTP ?
			      json_object_get(root, "metrics_http") : root;
		/* the MAC table is per network; the servers are per switch */
		struct labels none = { .n = 0 };

		if (field(obj, f->key))
			put_sample(o, f, f->sc == SC_SWITCH ? &net : &none,
				   field(obj, f->key));
	}
}

char *ctl_metrics_text(json_t *stats, bool openmetrics, size_t *len)
{
	struct out o = { .cap = 16384 };

	o.buf = malloc(o.cap);
	if (!o.buf)
		return NULL;
	o.buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct family *f = &families[i];
		/*
		 * OpenMetrics: a counter family is named without _total, an
		 * info family without _info (its samples keep both).
		 */
		size_t nlen = strlen(f->name);
		bool info = nlen > 5 && !strcmp(f->name + nlen - 5, "_info");
		const char *sfx = f->counter && !openmetrics ? "_total" : "";
		const char *type = f->counter ? "counter" : "gauge";
		size_t mark = o.len;

		if (openmetrics && info) {
			nlen -= 5;
			type = "info";
		}
		put(&o, "# HELP pvnet_%.*s%s %s.\n", (int)nlen, f->name, sfx,
		    f->help);
		put(&o, "# TYPE pvnet_%.*s%s %s\n", (int)nlen, f->name, sfx, type);
		{
			size_t body = o.len;

			put_family(&o, f, stats);
			/* no sample: no HELP and TYPE (an empty family) */
			if (!o.oom && o.len == body) {
				o.len = mark;
				o.buf[mark] = '\0';
			}
		}
	}
	put(&o, "# EOF\n");
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.buf;
}
