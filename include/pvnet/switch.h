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

#include "pvnet/loop.h"
#include "pvnet/pkt.h"
#include "pvnet/port.h"

#define SW_MAX_PORTS	64

struct dp;

struct sw {
	struct port *ports[SW_MAX_PORTS];
	struct dp *dp;			/* the workers; NULL until created */
	unsigned nports;
	struct pv_loop *loop;
	uint64_t bursts;
	uint64_t flood_pkts;
};

/* Creates an empty switch with its loop; NULL on failure. Free with sw_destroy(). */
struct sw *sw_create(void);
/* Destroys every port, then the loop and @sw. */
void sw_destroy(struct sw *sw);
/* Adds @p (the switch takes ownership); returns 0, -ENOSPC or -EEXIST (name or MAC). */
int sw_port_add(struct sw *sw, struct port *p);
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
