/* SPDX-License-Identifier: MIT */
/*
 * fdb.h - the forwarding table: MAC -> port, static (direct mode: from each
 * port's mac=) or learned with ageing (learn mode, the Linux-bridge
 * baseline of seed 004).
 *
 * Concurrency: any worker looks up and learns at once without a lock. An
 * entry is one 64-bit word (48-bit MAC, 16-bit port) written atomically, so
 * a reader sees an old or a new entry, never half of one; a new MAC claims
 * an empty slot with a compare-and-swap. The table never grows: when a
 * probe window is full, the MAC is not learned and frames to it flood.
 */
#ifndef PVNET_FDB_H
#define PVNET_FDB_H

#include <stdbool.h>
#include <stdint.h>

#define FDB_SLOTS	4096	/* power of two */
#define FDB_PROBE	8	/* slots tried per MAC */
#define FDB_NO_PORT	0xffff

struct fdb_slot {
	uint64_t key;		/* mac << 16 | port; 0 = empty */
	uint64_t seen_ns;	/* last time learned; 0 = static (never ages) */
};

struct fdb {
	uint64_t ageing_ns;
	uint64_t learned;	/* new MACs or MACs that moved */
	uint64_t full;		/* MACs not learned: probe window full */
	struct fdb_slot slot[FDB_SLOTS];
};

/* Initialises an empty table whose learned entries age after @ageing_ns. */
void fdb_init(struct fdb *f, uint64_t ageing_ns);
/* Adds a static entry (never ages); returns 0 or -ENOSPC. */
int fdb_add_static(struct fdb *f, const uint8_t *mac, uint16_t port);
/* Learns that @mac is behind @port at @now_ns (no-op for static entries). */
void fdb_learn(struct fdb *f, const uint8_t *mac, uint16_t port,
	       uint64_t now_ns);
/* The port for @mac, or FDB_NO_PORT if unknown or aged out. */
uint16_t fdb_lookup(const struct fdb *f, const uint8_t *mac, uint64_t now_ns);
/* Entries currently valid (for stats; walks the table). */
unsigned fdb_count(const struct fdb *f, uint64_t now_ns);

#endif /* PVNET_FDB_H */
