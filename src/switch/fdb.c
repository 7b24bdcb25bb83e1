// SPDX-License-Identifier: MIT
/* fdb.c - lock-free MAC table with static and learned, ageing entries */
#include <errno.h>
#include <string.h>

#include "pvnet/common.h"
#include "pvnet/fdb.h"

static uint64_t mac48(const uint8_t *mac)
{
	/* The same big-endian 48-bit value as a byte loop, in two loads. */
	return ((uint64_t)pv_get_be32(mac) << 16) | pv_get_be16(mac + 4);
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

static int insert(struct fdb *f, uint64_t m, uint16_t port, uint64_t seen)
{
	unsigned b = bucket(m);
	uint64_t key = (m << 16) | port;

	for (unsigned i = 0; i < FDB_PROBE; i++) {
		struct fdb_slot *s = &f->slot[(b + i) & (FDB_SLOTS - 1)];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);

		if (k == 0) {
			/* Claim an empty slot; a racing learner may win it. */
			__atomic_store_n(&s->seen_ns, seen, __ATOMIC_RELAXED);
			if (__atomic_compare_exchange_n(&s->key, &k, key, false,
							__ATOMIC_RELEASE,
							__ATOMIC_RELAXED))
				return 0;
		}
		if ((k >> 16) == m) {
			__atomic_store_n(&s->key, key, __ATOMIC_RELEASE);
			__atomic_store_n(&s->seen_ns, seen, __ATOMIC_RELAXED);
			return 0;
		}
	}
	return -ENOSPC;
}

int fdb_add_static(struct fdb *f, const uint8_t *mac, uint16_t port)
{
	if (!mac48(mac))
		return -EINVAL;
	return insert(f, mac48(mac), port, 0);
}

void fdb_learn(struct fdb *f, const uint8_t *mac, uint16_t port,
	       uint64_t now_ns)
{
	uint64_t m = mac48(mac);
	unsigned b = bucket(m);
	/* The oldest aged-out slot of the window, reused if the MAC is new. */
	struct fdb_slot *stale = NULL;

	if (!m)
		return;	/* 00:00:00:00:00:00 is no station (and our empty key) */
	for (unsigned i = 0; i < FDB_PROBE; i++) {
		struct fdb_slot *s = &f->slot[(b + i) & (FDB_SLOTS - 1)];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		uint64_t seen = __atomic_load_n(&s->seen_ns, __ATOMIC_RELAXED);

		if (k && (k >> 16) == m) {
			if (seen == 0)
				return;	/* static: the configuration wins */
			if ((uint16_t)k != port)
				__atomic_fetch_add(&f->learned, 1, __ATOMIC_RELAXED);
			else if (now_ns - seen < 1000000000ULL)
				return;	/* fresh: no write, no cache-line bounce */
			__atomic_store_n(&s->key, (m << 16) | port, __ATOMIC_RELEASE);
			__atomic_store_n(&s->seen_ns, now_ns, __ATOMIC_RELAXED);
			return;
		}
		if (k && !alive(f, seen, now_ns) && !stale)
			stale = s;
	}
	if (insert(f, m, port, now_ns) == 0) {
		__atomic_fetch_add(&f->learned, 1, __ATOMIC_RELAXED);
		return;
	}
	if (stale) {
		__atomic_store_n(&stale->key, (m << 16) | port, __ATOMIC_RELEASE);
		__atomic_store_n(&stale->seen_ns, now_ns, __ATOMIC_RELAXED);
		__atomic_fetch_add(&f->learned, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&f->full, 1, __ATOMIC_RELAXED);
}

uint16_t fdb_lookup(const struct fdb *f, const uint8_t *mac, uint64_t now_ns)
{
	uint64_t m = mac48(mac);
	unsigned b = bucket(m);

	for (unsigned i = 0; i < FDB_PROBE; i++) {
		const struct fdb_slot *s = &f->slot[(b + i) & (FDB_SLOTS - 1)];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);

		if (k == 0)
			return FDB_NO_PORT;
		if ((k >> 16) == m)
			return alive(f, __atomic_load_n(&s->seen_ns, __ATOMIC_RELAXED),
				     now_ns) ? (uint16_t)k : FDB_NO_PORT;
	}
	return FDB_NO_PORT;
}

unsigned fdb_count(const struct fdb *f, uint64_t now_ns)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FDB_SLOTS; i++) {
		uint64_t k = __atomic_load_n(&f->slot[i].key, __ATOMIC_ACQUIRE);

		if (k && alive(f, __atomic_load_n(&f->slot[i].seen_ns,
						  __ATOMIC_RELAXED), now_ns))
			n++;
	}
	return n;
}
