/* SPDX-License-Identifier: MIT */
/*
 * port.h - one interface for every port type (vhost guest now; tap,
 * afpacket, pcap and gen later). The switch never knows a port's type.
 *
 * Ownership: the switch owns its ports (sw_port_add / sw_destroy). A port
 * owns its device (a vhost backend, an fd) and the buffers its received
 * packets point into, until its rx_done() returns them.
 */
#ifndef PVNET_PORT_H
#define PVNET_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnet/drop.h"
#include "pvnet/loop.h"
#include "pvnet/pkt.h"

#define PORT_NAME_MAX	32
#define PORT_MAX_QUEUES	16
#define PORT_MAX_VLANS	16	/* == SW_MAX_NETS: one VID per network at most */

struct port;
struct sw;

/* Counters of one port, written by the thread that polls it. */
struct port_stats {
	uint64_t rx_pkts;	/* entered the switch from this port */
	uint64_t rx_bytes;
	uint64_t tx_pkts;	/* delivered to this port */
	uint64_t tx_bytes;
	uint64_t tx_csum_done;	/* partial checksums completed for this port */
	uint64_t rx_gso_pkts;	/* large (GSO) packets taken whole from the port */
	uint64_t tx_gso_pkts;	/* large (GSO) packets delivered as they are */
	uint64_t segmented;	/* extra segments made by software GSO for it */
	uint64_t merged;	/* segments GRO folded into others toward it */
	uint64_t replicated;	/* extra copies made by flooding */
	uint64_t flooded;	/* frames from it flooded in its network */
	uint64_t forwarded;	/* frames from it sent to one port */
	uint64_t mac_refused;	/* source MACs not learned: the port's limit */
	struct pv_drop_stats drops;	/* by reason, charged where they happen */
	uint64_t rxq_pkts[PORT_MAX_QUEUES];
	uint64_t txq_pkts[PORT_MAX_QUEUES];
	uint64_t rxq_kicks[PORT_MAX_QUEUES];	/* wakeups by the source */
	uint64_t txq_irqs[PORT_MAX_QUEUES];	/* interrupts written to its callfd */
	uint64_t irq_blocked;	/* interrupts coalesced: the peer's eventfd was full */
	uint64_t mac_moves;	/* its MAC came to it from the other attachment */
	uint64_t announces;	/* RARPs sent for it (vhost-user SEND_RARP) */
};

struct port_ops {
	const char *type;
	/*
	 * Delivers @n packets to queue @q (the port reduces @q modulo its
	 * queues); returns how many were delivered. Each packet not delivered
	 * is counted in the port's drops by the port. The source buffers are
	 * only read. Any worker may call it, concurrently with others: a port
	 * serialises per queue as its file says (a short reservation lock).
	 */
	unsigned (*tx_burst)(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned n);
	/* Receive queues the port has now (a vhost port: what the guest set up). */
	unsigned (*rx_queues)(struct port *p);
	/*
	 * Takes up to @max frames from receive queue @q (the worker's loop,
	 * dp_poll(), calls it): the packets to forward go to @pkts, their
	 * count is returned (dp_poll() stamps src_port and src_queue);
	 * frames dropped on the way (bad contents) are counted by the port. *@taken: the frames consumed, forwarded or
	 * dropped (what the budget counts); 0 when the queue had nothing.
	 * Exactly one worker takes from a given (port, queue).
	 */
	unsigned (*rx_burst)(struct port *p, unsigned q, struct pkt **pkts,
			     unsigned max, unsigned *taken);
	/*
	 * After the burst was forwarded: gives back every source buffer of
	 * the last rx_burst() on @q that GRO does not hold (pkt->held), and
	 * tells the source (used ring, interrupt). @pkts/@n: what rx_burst()
	 * returned. NULL: nothing to give back.
	 */
	void (*rx_done)(struct port *p, unsigned q, struct pkt **pkts,
			unsigned n);
	/*
	 * The fd that becomes readable when queue @q has work while its
	 * notifications are on (a kick eventfd, a socket), or -1: poll only.
	 */
	int (*rx_fd)(struct port *p, unsigned q);
	/*
	 * rx_fd is a peer's eventfd: watched edge-triggered and never read
	 * (a read of an fd the peer controls could block the worker).
	 */
	bool rx_fd_edge;
	/*
	 * The port's mac= may be shared with one other such port (a VM's
	 * attachments on both sides of a live migration); the port reports
	 * its rings to sw_port_mac_active().
	 */
	bool mac_follows_rings;
	/* The worker woke for queue @q's fd (counts the kick; may be NULL). */
	void (*rx_kicked)(struct port *p, unsigned q);
	/*
	 * Turns queue @q's notifications on (the worker is about to sleep) or
	 * off (it polls). When turning on, returns true if work arrived
	 * meanwhile, so the worker polls again instead of sleeping.
	 */
	bool (*rx_notify)(struct port *p, unsigned q, bool enable);
	/*
	 * Gives back source buffers that GRO held past sw_forward_burst(): the
	 * cookies of packets received on queue @q. Called by the worker that
	 * polls (p, q), possibly from inside sw_forward_burst() for a packet of
	 * that very burst (GRO took it, then flushed its flow). NULL: the port
	 * releases on return, so GRO must not hold its packets.
	 */
	void (*release)(struct port *p, unsigned q, const uint32_t *cookies,
			unsigned n);
	/*
	 * After the worker's full barrier: raises the notification on @ring
	 * that a publish left open (dp_defer_notify), if the peer wants it.
	 * Called by the worker that deferred it, in the same round. NULL if
	 * the port never defers.
	 */
	void (*notify_flush)(struct port *p, unsigned ring);
	/*
	 * Raises @ring's interrupt now: one a worker held back (dp_owe_call).
	 * Called by that worker. NULL if the port never owes one.
	 */
	void (*raise_call)(struct port *p, unsigned ring);
	/* Adds the port's control fds to @loop (the control thread's; may be NULL). */
	int (*start)(struct port *p, struct pv_loop *loop);
	/* Timers (may be NULL); called by the control thread ~10 times a second. */
	void (*tick)(struct port *p, uint64_t now_ns);
	/* Frees everything the port owns. */
	void (*destroy)(struct port *p);
	/*
	 * The unix socket path the port listens on or connects to, or NULL
	 * (no such op: none). Two ports of a switch never share one.
	 */
	const char *(*sock_path)(struct port *p);
	/* Adds type-specific fields to a stats JSON object (a json_t *; may be NULL). */
	void (*stats_json)(struct port *p, void *json_obj);
};

struct port {
	/* public */
	char name[PORT_NAME_MAX];
	uint16_t idx;			/* index in the switch */
	uint8_t net;			/* its network (network=; fixed once added) */
	uint8_t mac[ETH_ALEN];
	bool has_mac;
	bool csum_offload;		/* takes NEEDS_CSUM packets as they are */
	bool gso_offload;		/* takes packets larger than the MTU (GSO) */
	bool uplink;			/* gets unknown unicast (a host interface) */
	bool reopens_by_path;		/* opens a path again after start (client) */
	unsigned nqueues;		/* queue pairs in use */
	/*
	 * 802.1Q trunk (vlan=NETWORK:VID on a tap or afpacket port), fixed
	 * before the port is added: the networks it carries tagged, and the
	 * VID of each by network index (0: untagged, i.e. its own net).
	 */
	uint8_t nvlans;
	bool untagged_drop;		/* untagged=drop: no untagged network */
	struct { uint16_t vid; uint8_t net; } vlan[PORT_MAX_VLANS];
	uint16_t vid_of_net[PORT_MAX_VLANS];
	struct port_stats st;
	/*
	 * Per RX queue: GRO kept a packet of the queue's current burst
	 * (pkt->held). Set by the switch, in the worker that polls the
	 * queue; a port's rx_done() may test it to skip its per-packet
	 * look at held, and clears it then (port_vhost does).
	 */
	uint8_t rx_held[PORT_MAX_QUEUES];
	/* read-only */
	const struct port_ops *ops;
	struct sw *sw;
	void *priv;
};

/* True for an 802.1Q trunk: vlan= or untagged=drop (tap, afpacket). */
static inline bool port_is_trunk(const struct port *p)
{
	return p->nvlans || p->untagged_drop;
}

/*
 * Parses a --port spec "TYPE,key=val,..." and creates the port for @sw.
 * Returns the port (owned by the caller until sw_port_add) or NULL with a
 * message in @err.
 */
struct port *port_create(struct sw *sw, const char *spec, char *err,
			 size_t errlen);
/*
 * Adds one transmit burst's outcome to @p's counters: @sent packets of
 * @bytes on queue @q, @csums partial checksums completed, drops by reason
 * (PV_DROP_MAX entries; NULL: none, the common burst skips the scan).
 * Safe from any worker: one atomic add per counter.
 */
void port_count_tx(struct port *p, unsigned q, uint64_t sent, uint64_t bytes,
		   uint64_t csums, const uint64_t *drops);
/* Counts @bad received frames dropped by reason before they were forwarded. */
void port_count_rx_drops(struct port *p, uint64_t bad, const uint64_t *drops);
/* rx_queues for a port with one receive queue. */
unsigned port_rx_one_queue(struct port *p);

/* Type constructor of the vhost port (port_vhost.c). */
struct port *port_vhost_create(struct sw *sw, const char *name,
			       const char *opts, char *err, size_t errlen);
/*
 * Uplink port constructors, same contract as port_vhost_create: the port
 * (its fd, ring, file and buffer pool) is owned by the caller until
 * sw_port_add; NULL with a message in @err.
 */
/* tap,ifname=NAME[,netns=NS]: a TAP with a vnet header (port_tap.c). */
struct port *port_tap_create(struct sw *sw, const char *name,
			     const char *opts, char *err, size_t errlen);
/* afpacket,ifname=NAME: a TPACKET_V3 ring on an interface (port_afpacket.c). */
struct port *port_afpacket_create(struct sw *sw, const char *name,
				  const char *opts, char *err, size_t errlen);
/* pcap,in=FILE[,out=FILE][,gso=on]: replay and capture (port_pcap.c). */
struct port *port_pcap_create(struct sw *sw, const char *name,
			      const char *opts, char *err, size_t errlen);
/* gen,flows=N,mss=M,dst=MAC[,...]: a synthetic TCP sender (port_gen.c). */
struct port *port_gen_create(struct sw *sw, const char *name,
			     const char *opts, char *err, size_t errlen);
/* vxlan,vni=N,local=IP[,remote=IP]...: a VXLAN tunnel endpoint (port_vxlan.c). */
struct port *port_vxlan_create(struct sw *sw, const char *name,
			       const char *opts, char *err, size_t errlen);

/*
 * Iterates "key=val,key,..." options: copies the next key and value (empty
 * for a bare flag) and advances *cursor. Returns 1, 0 at the end, or -EINVAL
 * if a key or value does not fit.
 */
int port_opt_next(const char **cursor, char *key, size_t klen, char *val,
		  size_t vlen);


#endif /* PVNET_PORT_H */
