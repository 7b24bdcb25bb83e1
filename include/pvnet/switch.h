/* SPDX-License-Identifier: MIT */
/*
 * switch.h - forwarding between ports: a burst is classified in one pass
 * (destination by MAC), then delivered per destination in a second pass
 * (netmap VALE's two-pass flush). Unknown unicast is dropped and counted
 * until an uplink exists; broadcast and multicast go to every other port
 * of the source's network (networks isolate: docs/networks.md).
 *
 * Ownership: struct sw owns its ports and its loop. The control thread
 * adds and deletes ports (also while the workers run); workers read only
 * the published port table (struct sw_table), never sw->ports.
 */
#ifndef PVNET_SWITCH_H
#define PVNET_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnet/fdb.h"
#include "pvnet/loop.h"
#include "pvnet/pkt.h"
#include "pvnet/port.h"

#define SW_MAX_PORTS	64
#define SW_MAC_LIMIT_DEFAULT	256	/* learned MACs per port (--mac-limit) */
#define SW_MAX_NETS	16	/* networks (network=NAME); 0 is "default" */
#define SW_NET_NAME_MAX	32

struct dp;

enum sw_mode {
	SW_MODE_DIRECT,		/* static MAC table, unknown unicast to the uplink */
	SW_MODE_LEARN,		/* learning bridge: ageing, unknown unicast floods */
};

/*
 * What the workers forward with: the ports by index, published whole with
 * a release store of sw->tab and never changed after (rule G, RCU style:
 * a new table replaces it and the old one is freed after dp_sync()).
 */
struct sw_table {
	struct port *port[SW_MAX_PORTS];	/* by port->idx; NULL: none */
	uint64_t fwd;		/* bit idx: the port is a destination */
	unsigned nfwd;		/* bits set in fwd */
	unsigned hi;		/* highest idx in use + 1 */
	struct port *uplink;	/* first uplink (in the order added) in fwd */
	/*
	 * Isolation: a frame stays in its source port's network. Per network
	 * the same three as above (fwd, nfwd, uplink) restricted to its
	 * ports; the switch forwards with these, the whole-switch ones are
	 * for GRO flushes and stats.
	 */
	uint8_t net[SW_MAX_PORTS];		/* by port->idx: its network */
	uint64_t net_fwd[SW_MAX_NETS];
	unsigned net_nfwd[SW_MAX_NETS];
	struct port *net_uplink[SW_MAX_NETS];
	/*
	 * 802.1Q trunks (vlan=): bit idx set for a port whose frames carry
	 * their network in pkt->net; it is in net_fwd of each network it
	 * carries, and its frames are forwarded per network.
	 */
	uint64_t trunk;
};

/*
 * Counters a network keeps for its ports that were deleted (control
 * thread only): the network's figures are its current ports' plus these.
 */
struct sw_net_gone {
	uint64_t rx_pkts, flooded, forwarded;
	uint64_t drops[PV_DROP_MAX];
};

struct sw {
	/* control thread only: the ports in the order they were added */
	struct port *ports[SW_MAX_PORTS];
	unsigned nports;
	struct sw_table *tab;		/* workers: load with acquire per burst */
	uint64_t leaving;		/* control: ports being deleted (not in fwd) */
	struct dp *dp;			/* the workers; NULL until created */
	struct pv_loop *loop;
	enum sw_mode mode;
	bool copy_double;		/* bounce through a switch buffer (benchmarks) */
	/*
	 * --check-config: port constructors check their options and open
	 * nothing (no device, socket or file), so a config is checked anywhere.
	 */
	bool check_only;
	unsigned mac_limit;		/* learned MACs per port; 0: none */
	struct fdb fdb;
	uint64_t mac_log_ns[SW_MAX_PORTS];	/* last "at its MAC limit" line */
	/* control thread: the networks named so far, by index; 0 "default" */
	char net_name[SW_MAX_NETS][SW_NET_NAME_MAX];
	unsigned nnets;
	struct sw_net_gone net_gone[SW_MAX_NETS];
};

static_assert(SW_MAX_PORTS <= FDB_MAX_PORTS, "every port has a MAC limit");
static_assert(SW_MAX_PORTS <= 64, "sw_table.fwd is one bit per port");
static_assert(SW_MAX_NETS <= PORT_MAX_VLANS, "port.vid_of_net is by network");

/* Parses "direct" or "learn"; returns 0 or -EINVAL. */
int sw_mode_parse(const char *s, enum sw_mode *out);

/*
 * Creates an empty switch with its loop; learned entries age after
 * @ageing_s seconds. NULL on failure. Free with sw_destroy().
 */
struct sw *sw_create(enum sw_mode mode, unsigned ageing_s);
/* Destroys every port, then the loop and @sw. */
void sw_destroy(struct sw *sw);
/*
 * Control thread: checks that @p could be added (no port of that name, MAC
 * or socket path, room left); 0, or -EEXIST / -EADDRINUSE / -ENOSPC with a
 * message in @err.
 */
int sw_port_check(struct sw *sw, const struct port *p, char *err,
		  size_t errlen);
/*
 * Control thread: adds @p (the switch takes ownership on success) under
 * the lowest free index; before dp_start() or while the workers run (its
 * queues go to workers and it becomes a destination, published with the
 * contract's rule G). A running port should be started (ops->start) first.
 * Returns 0, -ENOSPC, -EEXIST (name or MAC) or -ENOMEM.
 */
int sw_port_add(struct sw *sw, struct port *p);
/*
 * Control thread: deletes @p while the workers run or not. It stops being
 * a destination and polled, every worker flushes its GRO table (so each
 * chain of @p, or toward it, GRO held is delivered and returned), the MAC
 * table forgets it, and only then is it destroyed (socket file removed).
 * Other ports keep forwarding throughout. 0 or -ENOENT (not a port of @sw).
 */
int sw_port_del(struct sw *sw, struct port *p);
/*
 * Control thread, direct MAC routing with one MAC on two vhost ports (a VM
 * before and after live migration): @p's rings started (@active) or all
 * stopped; the MAC's frames go to the attachment whose rings run. Counted
 * in the receiving port's mac_moves, logged.
 */
void sw_port_mac_active(struct sw *sw, struct port *p, bool active);
/*
 * Control thread: forwards a RARP request from @mac as if @src had sent it
 * (vhost-user SEND_RARP after a migration), so the switch learns where the
 * MAC is now and every other port hears it. Counted in @src's announces.
 */
void sw_announce(struct sw *sw, struct port *src, const uint8_t *mac);
/*
 * Control thread: the index of network @name, created if new and @create
 * (networks exist by being named by a port, and are never deleted; without
 * @create, the index a new one would get). Returns it, or -EINVAL (bad
 * name) / -ENOSPC (SW_MAX_NETS exist) with a message in @err.
 */
int sw_net_get(struct sw *sw, const char *name, bool create, char *err,
	       size_t errlen);
/*
 * Control thread: forgets the networks created after the first @nnets
 * (sw->nnets before a port add that was then refused: only that port
 * named them, and it was in no table, so no worker saw their indexes).
 */
void sw_net_forget(struct sw *sw, unsigned nnets);
/* Finds a port by name; NULL if none. */
struct port *sw_port_find(struct sw *sw, const char *name);
/*
 * Forwards @n packets received on @src: classify all, then deliver per
 * destination. Every packet ends delivered or counted as a drop. The source
 * buffers may be released when this returns.
 */
void sw_forward_burst(struct sw *sw, struct port *src, struct pkt **pkts,
		      unsigned n);

#endif /* PVNET_SWITCH_H */
