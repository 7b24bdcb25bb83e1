/* SPDX-License-Identifier: MIT */
/*
 * switch.h - forwarding between ports: a burst is classified in one pass
 * (destination by MAC), then delivered per destination in a second pass
 * (netmap VALE's two-pass flush). Unknown unicast is dropped and counted
 * until an uplink exists; broadcast and multicast go to every other port.
 *
 * Ownership: struct sw owns its ports and its loop; one thread runs it.
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

struct dp;

enum sw_mode {
	SW_MODE_DIRECT,		/* static MAC table, unknown unicast to the uplink */
	SW_MODE_LEARN,		/* learning bridge: ageing, unknown unicast floods */
};

struct sw {
	struct port *ports[SW_MAX_PORTS];
	struct dp *dp;			/* the workers; NULL until created */
	unsigned nports;
	struct pv_loop *loop;
	enum sw_mode mode;
	bool copy_double;		/* bounce through a switch buffer (benchmarks) */
	/*
	 * --check-config: port constructors check their options and open
	 * nothing (no device, socket or file), so a config is checked anywhere.
	 */
	bool check_only;
	unsigned mac_limit;		/* learned MACs per port; 0: none */
	struct port *uplink;		/* first uplink port, or NULL */
	struct fdb fdb;
	uint64_t mac_log_ns[SW_MAX_PORTS];	/* last "at its MAC limit" line */
};

static_assert(SW_MAX_PORTS <= FDB_MAX_PORTS, "every port has a MAC limit");

/* Parses "direct" or "learn"; returns 0 or -EINVAL. */
int sw_mode_parse(const char *s, enum sw_mode *out);

/*
 * Creates an empty switch with its loop; learned entries age after
 * @ageing_s seconds. NULL on failure. Free with sw_destroy().
 */
struct sw *sw_create(enum sw_mode mode, unsigned ageing_s);
/* Destroys every port, then the loop and @sw. */
void sw_destroy(struct sw *sw);
/* Adds @p (the switch takes ownership); returns 0, -ENOSPC or -EEXIST (name or MAC). */
int sw_port_add(struct sw *sw, struct port *p);
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
