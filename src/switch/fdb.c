// SPDX-License-Identifier: MIT
/*
 * fdb.c - lock-free MAC table with static and learned, ageing entries
 *
 * Who writes: every worker (fdb_learn, for the source MACs of its bursts;
 * a sweep that reclaims aged entries, at most once a second, from a worker
 * whose port hit its limit) and the control thread (fdb_add_static, when a
 * port is added). Who reads: every worker (fdb_lookup, fdb_learn's scan)
 * and the control thread (fdb_count for stats).
 *
 * An entry is three words (key = MAC, network and port, the time it was learned, a
 * sequence number), guarded as a seqlock: a writer takes the entry by
 * moving seq from the even value it read with the contents to odd (a
 * compare-and-swap, so two writers never interleave and a writer whose
 * view is stale fails instead of overwriting), stores key and time, and
 * makes seq even again. A reader copies key and time between two reads of
 * seq and keeps the copy only if seq was even and unchanged. So a reader
 * sees an entry as some single update left it, never the MAC of one with
 * the port or time of another. A reader that keeps finding a writer inside
 * (one preempted mid-update) gives up after FDB_READ_TRIES: a lookup then
 * answers "unknown" (the frame floods in learn mode, goes to the uplink in
 * direct mode), a learner skips (-EBUSY; the next frame learns).
 *
 * Every access is a C11 atomic (acquire/release, no fences), so
 * ThreadSanitizer sees no data race and the ordering proof is its model.
 *
 * Slots are never emptied again: linear probing stops at the first never
 * used slot. An aged learned entry stays until reused; the sweep marks it
 * reclaimed (port FDB_NO_PORT) to give its port's count back.
 */
#include <errno.h>
#include <string.h>

#include "pvnet/common.h"
#include "pvnet/fdb.h"

#define FDB_READ_TRIES	64
#define FDB_FRESH_NS	1000000000ULL	/* no rewrite of a fresher entry */
#define FDB_SWEEP_NS	1000000000ULL	/* at most one sweep per second */

static uint64_t mac48(const uint8_t *mac)
{
	/* The same big-endian 48-bit value as a byte loop, in two loads. */
	return ((uint64_t)pv_get_be32(mac) << 16) | pv_get_be16(mac + 4);
}

/*
 * An entry's identity: the MAC and its network, so one MAC may live in two
 * networks as two entries. 56 bits; the key adds the port's byte below.
 */
static uint64_t ident(const uint8_t *mac, uint8_t net)
{
	return mac48(mac) << 8 | net;
}

static unsigned bucket(uint64_t m)
{
	/* Fibonacci hashing: the low bits of MACs are not uniform enough. */
	return (unsigned)((m * 0x9e3779b97f4a7c15ULL) >> 52) & (FDB_SLOTS - 1);
}

void fdb_init(struct fdb *f, uint64_t ageing_ns)
{
	memset(f, 0, sizeof(*f));
	f->ageing_ns = ageing_ns;
}

static bool alive(const struct fdb *f, uint64_t seen, uint64_t now)
{
	return seen == 0 || now - seen < f->ageing_ns;
}

/* One slot as one update left it. */
struct view {
	struct fdb_slot *s;
	uint64_t key, seen;
	uint32_t seq;
};

static bool slot_read(const struct fdb_slot *s, struct view *v)
{
	for (unsigned t = 0; t < FDB_READ_TRIES; t++) {
		uint32_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if (s1 & 1)
			continue;
		v->key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		v->seen = __atomic_load_n(&s->seen_ns, __ATOMIC_ACQUIRE);
		/* Ordered after the acquire loads above. */
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == s1) {
			v->s = (struct fdb_slot *)s;
			v->seq = s1;
			return true;
		}
	}
	return false;
}

/* Writes @v's slot if nobody changed it since @v was read; false if one did. */
static bool slot_write(const struct view *v, uint64_t key, uint64_t seen)
{
	uint32_t seq = v->seq;

	if (!__atomic_compare_exchange_n(&v->s->seq, &seq, seq + 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&v->s->key, key, __ATOMIC_RELEASE);
	__atomic_store_n(&v->s->seen_ns, seen, __ATOMIC_RELEASE);
	__atomic_store_n(&v->s->seq, v->seq + 2, __ATOMIC_RELEASE);
	return true;
}

/* The key's low byte is the port index; KNONE: reclaimed, no port. */
#define KNONE	0xffu

static uint16_t kport(uint64_t key)
{
	return (key & 0xff) == KNONE ? FDB_NO_PORT : (uint16_t)(key & 0xff);
}

/* Does this entry hold one of its port's learned places? */
static bool charged(uint64_t key, uint64_t seen)
{
	return key && seen && kport(key) != FDB_NO_PORT;
}

static bool charge(struct fdb *f, uint16_t port)
{
	uint32_t lim, n;

	if (port >= FDB_MAX_PORTS)
		return true;
	lim = __atomic_load_n(&f->limit[port], __ATOMIC_RELAXED);
	n = __atomic_fetch_add(&f->nlearned[port], 1, __ATOMIC_RELAXED);
	if (lim && n >= lim) {
		__atomic_fetch_sub(&f->nlearned[port], 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void uncharge(struct fdb *f, uint16_t port)
{
	if (port < FDB_MAX_PORTS)
		__atomic_fetch_sub(&f->nlearned[port], 1, __ATOMIC_RELAXED);
}

void fdb_set_limit(struct fdb *f, uint16_t port, unsigned limit)
{
	if (port < FDB_MAX_PORTS)
		__atomic_store_n(&f->limit[port], limit, __ATOMIC_RELAXED);
}

unsigned fdb_port_learned(const struct fdb *f, uint16_t port)
{
	return port < FDB_MAX_PORTS ?
	       __atomic_load_n(&f->nlearned[port], __ATOMIC_RELAXED) : 0;
}

/*
 * Gives the places of aged learned entries back to their ports. Called by
 * a learner refused for its limit, at most once per FDB_SWEEP_NS for the
 * table (4096 slots: microseconds); true if this call swept.
 */
static bool sweep(struct fdb *f, uint64_t now)
{
	uint64_t last = __atomic_load_n(&f->swept_ns, __ATOMIC_RELAXED);

	if (last && now - last < FDB_SWEEP_NS)
		return false;
	if (!__atomic_compare_exchange_n(&f->swept_ns, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return false;
	for (unsigned i = 0; i < FDB_SLOTS; i++) {
		struct view v;

		if (!slot_read(&f->slot[i], &v) || !charged(v.key, v.seen) ||
		    alive(f, v.seen, now))
			continue;
		if (slot_write(&v, v.key | KNONE, v.seen))
			uncharge(f, kport(v.key));
	}
	return true;
}

/*
 * The window of @m: its entry (*match), else the first reusable slot
 * (reclaimed, aged or never used) in *room. False if a slot stayed busy:
 * the MAC might be in it.
 */
static bool scan(const struct fdb *f, uint64_t m, uint64_t now,
		 struct view *match, struct view *room)
{
	unsigned b = bucket(m);

	match->s = room->s = NULL;
	for (unsigned i = 0; i < FDB_PROBE; i++) {
		struct view v;

		if (!slot_read(&f->slot[(b + i) & (FDB_SLOTS - 1)], &v))
			return false;
		if (v.key == 0) {
			if (!room->s)
				*room = v;
			return true;	/* never used: the window ends */
		}
		if ((v.key >> 8) == m) {
			*match = v;
			return true;
		}
		/* now 0 (a static add, no clock): reclaimed slots only. */
		if (!room->s && v.seen &&
		    (kport(v.key) == FDB_NO_PORT ||
		     (now && !alive(f, v.seen, now))))
			*room = v;
	}
	return true;
}

int fdb_add_static_net(struct fdb *f, const uint8_t *mac, uint8_t net,
		       uint16_t port)
{
	uint64_t m = ident(mac, net);
	struct view match, room, *t;

	if (!mac48(mac) || port >= KNONE)
		return -EINVAL;
	if (!scan(f, m, 0, &match, &room))
		return -EBUSY;
	t = match.s ? &match : &room;
	if (!t->s)
		return -ENOSPC;
	if (!slot_write(t, (m << 8) | port, 0))
		return -EBUSY;
	if (charged(t->key, t->seen))
		uncharge(f, kport(t->key));
	return 0;
}

void fdb_forget_port(struct fdb *f, uint16_t port)
{
	for (unsigned i = 0; i < FDB_SLOTS; i++) {
		struct view v;

		/*
		 * A worker inside the slot (learning another port's MAC into
		 * it) finishes within a few instructions: retry until the
		 * slot is seen stable and no longer @port's.
		 */
		for (;;) {
			uint64_t key;

			if (!slot_read(&f->slot[i], &v))
				continue;
			if (!v.key || kport(v.key) != port)
				break;
			/*
			 * Reclaimed: no port, and a time that is never
			 * alive, so a static entry also becomes a slot
			 * anyone may learn into (seen 0 would keep it static).
			 */
			key = v.key | KNONE;
			if (slot_write(&v, key, v.seen ? v.seen : 1)) {
				if (charged(v.key, v.seen))
					uncharge(f, port);
				break;
			}
		}
	}
	if (port < FDB_MAX_PORTS)
		__atomic_store_n(&f->nlearned[port], 0, __ATOMIC_RELAXED);
}

int fdb_learn_net(struct fdb *f, const uint8_t *mac, uint8_t net,
		  uint16_t port, uint64_t now_ns)
{
	uint64_t m = ident(mac, net);
	struct view match, room, *t;
	bool same;

	if (!mac48(mac) || port >= KNONE)
		return 0;	/* 00:00:00:00:00:00 is no station (and our empty key) */
	if (!scan(f, m, now_ns, &match, &room))
		return -EBUSY;
	if (match.s) {
		if (match.seen == 0)
			return 0;	/* static: the configuration wins */
		if (kport(match.key) == port && now_ns - match.seen < FDB_FRESH_NS)
			return 0;	/* fresh: no write, no cache-line bounce */
		t = &match;
	} else if (room.s) {
		t = &room;
	} else {
		__atomic_fetch_add(&f->full, 1, __ATOMIC_RELAXED);
		return -ENOSPC;
	}
	/* A refresh keeps its place; anything else takes one of @port's. */
	same = t == &match && kport(t->key) == port;
	if (!same && !charge(f, port)) {
		if (!sweep(f, now_ns) || !charge(f, port)) {
			__atomic_fetch_add(&f->refused, 1, __ATOMIC_RELAXED);
			return -EDQUOT;
		}
		/* The sweep may have reclaimed this very slot: look again. */
		if (!slot_read(t->s, t) ||
		    (t->key && (t->key >> 8) != m &&
		     !(t->seen && (kport(t->key) == FDB_NO_PORT ||
				   !alive(f, t->seen, now_ns))))) {
			uncharge(f, port);
			return -EBUSY;
		}
	}
	if (!slot_write(t, (m << 8) | port, now_ns)) {
		if (!same)
			uncharge(f, port);
		return -EBUSY;
	}
	if (!same) {
		if (charged(t->key, t->seen))
			uncharge(f, kport(t->key));
		__atomic_fetch_add(&f->learned, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

uint16_t fdb_lookup_net(const struct fdb *f, const uint8_t *mac, uint8_t net,
			uint64_t now_ns)
{
	uint64_t m = ident(mac, net);
	unsigned b = bucket(m);

	for (unsigned i = 0; i < FDB_PROBE; i++) {
		struct view v;

		if (!slot_read(&f->slot[(b + i) & (FDB_SLOTS - 1)], &v))
			return FDB_NO_PORT;
		if (v.key == 0)
			return FDB_NO_PORT;
		if ((v.key >> 8) == m)
			return alive(f, v.seen, now_ns) ? kport(v.key) : FDB_NO_PORT;
	}
	return FDB_NO_PORT;
}

unsigned fdb_count(const struct fdb *f, uint64_t now_ns)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FDB_SLOTS; i++) {
		struct view v;

		if (slot_read(&f->slot[i], &v) && v.key &&
		    kport(v.key) != FDB_NO_PORT && alive(f, v.seen, now_ns))
			n++;
	}
	return n;
}

void fdb_count_nets(const struct fdb *f, uint64_t now_ns, unsigned *n,
		    unsigned nnets)
{
	for (unsigned i = 0; i < FDB_SLOTS; i++) {
		struct view v;
		unsigned net;

		if (!slot_read(&f->slot[i], &v) || !v.key ||
		    kport(v.key) == FDB_NO_PORT || !alive(f, v.seen, now_ns))
			continue;
		net = (unsigned)(v.key >> 8) & 0xff;
		if (net < nnets)
			n[net]++;
	}
}

void fdb_foreach(const struct fdb *f, uint64_t now_ns,
		 void (*fn)(void *ctx, const uint8_t *mac, uint8_t net,
			    uint16_t port, bool is_static),
		 void *ctx)
{
	for (unsigned i = 0; i < FDB_SLOTS; i++) {
		struct view v;
		uint8_t mac[6];
		uint64_t m;

		if (!slot_read(&f->slot[i], &v) || !v.key ||
		    kport(v.key) == FDB_NO_PORT || !alive(f, v.seen, now_ns))
			continue;
		m = v.key >> 16;
		for (unsigned j = 0; j < 6; j++)
			mac[j] = (uint8_t)(m >> (8 * (5 - j)));
		fn(ctx, mac, (uint8_t)(v.key >> 8), kport(v.key), v.seen == 0);
	}
}
