/* SPDX-License-Identifier: MIT */
/*
 * fdb.h - the forwarding table: (network, MAC) -> port, static (direct mode: from each
 * port's mac=) or learned with ageing (learn mode, the Linux-bridge
 * baseline of seed 004).
 *
 * Concurrency: any worker looks up and learns at once without a lock; each
 * entry is a seqlock, so a reader sees an entry's MAC, port and time from
 * one update, never a mix (the rules are at the top of fdb.c). The table
 * never grows: when a probe window is full, the MAC is not learned and
 * frames to it flood. Each port may hold at most its limit of learned
 * entries, so one port cannot fill the table for everyone.
 */
#ifndef PVNET_FDB_H
#define PVNET_FDB_H

#include <stdbool.h>
#include <stdint.h>

#define FDB_SLOTS	4096	/* power of two */
#define FDB_PROBE	8	/* slots tried per MAC */
#define FDB_NO_PORT	0xffff
#define FDB_MAX_PORTS	64	/* ports with a limit and a count */

struct fdb_slot {
	uint64_t key;		/* mac << 16 | network << 8 | port; 0 = never
				 * used; port 0xff = aged out and uncounted */
	uint64_t seen_ns;	/* last time learned; 0 = static (never ages) */
	uint32_t seq;		/* even: stable; odd: a writer is inside */
};

struct fdb {
	uint64_t ageing_ns;
	uint64_t learned;	/* new MACs or MACs that moved */
	uint64_t full;		/* MACs not learned: probe window full */
	uint64_t refused;	/* MACs not learned: their port's limit */
	uint64_t swept_ns;	/* last reclaim of aged entries */
	uint32_t limit[FDB_MAX_PORTS];		/* 0: no limit but the table */
	uint32_t nlearned[FDB_MAX_PORTS];	/* entries charged to the port */
	struct fdb_slot slot[FDB_SLOTS];
};

/* Initialises an empty table whose learned entries age after @ageing_ns. */
void fdb_init(struct fdb *f, uint64_t ageing_ns);
/*
 * Adds a static entry (never ages) for @mac in network @net; returns 0,
 * -EINVAL, -ENOSPC or -EBUSY.
 */
int fdb_add_static_net(struct fdb *f, const uint8_t *mac, uint8_t net,
		       uint16_t port);
/* fdb_add_static_net() in network 0 (the default network). */
static inline int fdb_add_static(struct fdb *f, const uint8_t *mac,
				 uint16_t port)
{
	return fdb_add_static_net(f, mac, 0, port);
}
/*
 * Control thread, once no worker can learn @port any more (it is not
 * polled): every entry of @port, static or learned, is dropped and its
 * count cleared, so an index reused by a later port starts empty.
 */
void fdb_forget_port(struct fdb *f, uint16_t port);
/* Limits the learned entries of @port to @limit (0: only the table's size). */
void fdb_set_limit(struct fdb *f, uint16_t port, unsigned limit);
/* Learned entries charged to @port now (aged ones until reclaimed). */
unsigned fdb_port_learned(const struct fdb *f, uint16_t port);
/*
 * Learns that @mac of network @net is behind @port at @now_ns (no-op for
 * static entries).
 * Returns 0 (learned, refreshed or nothing to do), -EDQUOT (@port is at its
 * limit; counted in refused), -ENOSPC (probe window full; counted in full)
 * or -EBUSY (another worker was writing the slot; the next frame retries).
 */
int fdb_learn_net(struct fdb *f, const uint8_t *mac, uint8_t net,
		  uint16_t port, uint64_t now_ns);
/* The port for @mac in network @net, or FDB_NO_PORT if unknown or aged out. */
uint16_t fdb_lookup_net(const struct fdb *f, const uint8_t *mac, uint8_t net,
			uint64_t now_ns);
/* fdb_learn_net() in network 0 (the default network). */
static inline int fdb_learn(struct fdb *f, const uint8_t *mac, uint16_t port,
			    uint64_t now_ns)
{
	return fdb_learn_net(f, mac, 0, port, now_ns);
}
/* fdb_lookup_net() in network 0 (the default network). */
static inline uint16_t fdb_lookup(const struct fdb *f, const uint8_t *mac,
				  uint64_t now_ns)
{
	return fdb_lookup_net(f, mac, 0, now_ns);
}
/* Entries currently valid (for stats; walks the table). */
unsigned fdb_count(const struct fdb *f, uint64_t now_ns);
/* Adds the valid entries of each network below @nnets to @n[network]. */
void fdb_count_nets(const struct fdb *f, uint64_t now_ns, unsigned *n,
		    unsigned nnets);

/*
 * Any thread: calls @fn for every valid entry (a slot a writer holds
 * through every try is skipped) with its network, for `fdb list`.
 */
void fdb_foreach(const struct fdb *f, uint64_t now_ns,
		 void (*fn)(void *ctx, const uint8_t *mac, uint8_t net,
			    uint16_t port, bool is_static),
		 void *ctx);

#endif /* PVNET_FDB_H */
