// SPDX-License-Identifier: MIT
/*
 * vxlan.c - the VXLAN header and the remote MAC table, without sockets
 * (vxlan.h), so the unit tests and the fuzzer reach them directly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pvnet/vxlan.h"

void vxlan_hdr_build(uint8_t h[VXLAN_HLEN], uint32_t vni)
{
	memset(h, 0, VXLAN_HLEN);
	h[0] = VXLAN_FLAG_I;
	h[4] = (uint8_t)(vni >> 16);
	h[5] = (uint8_t)(vni >> 8);
	h[6] = (uint8_t)vni;
}

enum pv_drop vxlan_decap_any(const uint8_t *buf, size_t len, uint32_t *vni,
			     uint32_t *inner_len)
{
	if (len < VXLAN_HLEN + ETH_HLEN)
		return PV_DROP_VX_TRUNC;
	/* Only I: another flag is an extension whose payload may not be Ethernet. */
	if (buf[0] != VXLAN_FLAG_I)
		return PV_DROP_VX_BAD_HDR;
	*vni = ((uint32_t)buf[4] << 16) | ((uint32_t)buf[5] << 8) | buf[6];
	if (len - VXLAN_HLEN > PV_FRAME_MAX)
		return PV_DROP_VX_TOO_LONG;
	*inner_len = (uint32_t)(len - VXLAN_HLEN);
	return PV_DROP_NONE;
}

enum pv_drop vxlan_decap(const uint8_t *buf, size_t len, uint32_t vni,
			 uint32_t *inner_len)
{
	uint32_t got = 0, il = 0;
	enum pv_drop why = vxlan_decap_any(buf, len, &got, &il);

	if (why == PV_DROP_NONE && got != vni)
		return PV_DROP_VX_UNKNOWN_VNI;
	if (why == PV_DROP_NONE)
		*inner_len = il;
	return why;
}

bool vxlan_gro_next(size_t len, size_t seg, size_t off, size_t *dlen)
{
	if (off >= len)
		return false;
	*dlen = seg && seg < len - off ? seg : len - off;
	return true;
}

#define KEY_USED	(1ULL << 48)

static uint64_t mac_key(const uint8_t mac[ETH_ALEN])
{
	uint64_t k = 0;

	for (unsigned i = 0; i < ETH_ALEN; i++)
		k = (k << 8) | mac[i];
	return k | KEY_USED;
}

static unsigned bucket_of(const struct vxlan_fdb *f, uint64_t key)
{
	uint64_t h = (key ^ f->salt) * 0x9e3779b97f4a7c15ULL;

	return (unsigned)(h >> 32) & (f->nbuckets - 1);
}

int vxlan_fdb_init(struct vxlan_fdb *f, unsigned max, uint64_t ageing_ns)
{
	unsigned nb = 1;

	memset(f, 0, sizeof(*f));
	while (nb * VXLAN_FDB_WAYS < max && nb < (1u << 20))
		nb <<= 1;
	f->ent = calloc((size_t)nb * VXLAN_FDB_WAYS, sizeof(*f->ent));
	if (!f->ent)
		return -ENOMEM;
	f->nbuckets = nb;
	f->ageing_ns = ageing_ns;
	if (getrandom(&f->salt, sizeof(f->salt), GRND_NONBLOCK) != sizeof(f->salt))
		f->salt = (uint64_t)(uintptr_t)f->ent * 0x2545f4914f6cdd1dULL;
	return 0;
}

void vxlan_fdb_free(struct vxlan_fdb *f)
{
	free(f->ent);
	f->ent = NULL;
}

static bool live(const struct vxlan_fdb *f, uint64_t seen, uint64_t now)
{
	return now < seen || now - seen < f->ageing_ns;
}

/* The writer's seqlock update of @e (a single writer: no CAS needed). */
static void ent_write(struct vxlan_fdb_ent *e, uint64_t key,
		      const struct vxlan_addr *ip, uint64_t now)
{
	uint32_t s = e->seq;
	uint64_t w[2];

	memcpy(w, ip->a, sizeof(w));
	__atomic_store_n(&e->seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&e->key, key, __ATOMIC_RELAXED);
	__atomic_store_n(&e->ip[0], w[0], __ATOMIC_RELAXED);
	__atomic_store_n(&e->ip[1], w[1], __ATOMIC_RELAXED);
	__atomic_store_n(&e->seen, now, __ATOMIC_RELAXED);
	__atomic_store_n(&e->seq, s + 2, __ATOMIC_RELEASE);
}

int vxlan_fdb_learn(struct vxlan_fdb *f, const uint8_t mac[ETH_ALEN],
		    const struct vxlan_addr *ip, uint64_t now)
{
	uint64_t key = mac_key(mac);
	struct vxlan_fdb_ent *b = f->ent + (size_t)bucket_of(f, key) * VXLAN_FDB_WAYS;
	struct vxlan_fdb_ent *room = NULL;

	if (pkt_mac_is_multicast(mac))
		return 0;
	for (unsigned w = 0; w < VXLAN_FDB_WAYS; w++) {
		struct vxlan_fdb_ent *e = &b[w];

		if (e->key == key) {
			bool same = !memcmp(e->ip, ip->a, sizeof(e->ip));

			/* Refresh at most every 1/8 of the ageing time: a write
			 * per frame would bounce the line between workers. */
			if (same && live(f, e->seen, now) &&
			    now - e->seen < f->ageing_ns / 8)
				return 0;
			ent_write(e, key, ip, now);
			if (same)
				return 0;
			pv_stat_add(&f->moved, 1);
			return 1;
		}
		if (!room && (!(e->key & KEY_USED) || !live(f, e->seen, now)))
			room = e;
	}
	if (!room) {
		pv_stat_add(&f->refused, 1);
		return -EDQUOT;
	}
	ent_write(room, key, ip, now);
	pv_stat_add(&f->learned, 1);
	return 1;
}

bool vxlan_fdb_forget(struct vxlan_fdb *f, const uint8_t mac[ETH_ALEN])
{
	uint64_t key = mac_key(mac);
	struct vxlan_fdb_ent *b = f->ent + (size_t)bucket_of(f, key) * VXLAN_FDB_WAYS;
	const struct vxlan_addr none = { { 0 } };

	for (unsigned w = 0; w < VXLAN_FDB_WAYS; w++) {
		if (b[w].key == key) {
			ent_write(&b[w], 0, &none, 0);
			return true;
		}
	}
	return false;
}

bool vxlan_fdb_lookup(const struct vxlan_fdb *f, const uint8_t mac[ETH_ALEN],
		      uint64_t now, struct vxlan_addr *ip)
{
	uint64_t key = mac_key(mac);
	const struct vxlan_fdb_ent *b = f->ent +
		(size_t)bucket_of(f, key) * VXLAN_FDB_WAYS;

	for (unsigned w = 0; w < VXLAN_FDB_WAYS; w++) {
		const struct vxlan_fdb_ent *e = &b[w];

		/* A few tries; a reader that keeps losing to the writer floods. */
		for (unsigned t = 0; t < 4; t++) {
			uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE), s2;
			uint64_t k, seen, a[2];

			if (s1 & 1)
				continue;
			k = __atomic_load_n(&e->key, __ATOMIC_RELAXED);
			a[0] = __atomic_load_n(&e->ip[0], __ATOMIC_RELAXED);
			a[1] = __atomic_load_n(&e->ip[1], __ATOMIC_RELAXED);
			seen = __atomic_load_n(&e->seen, __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s2 = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
			if (s1 != s2)
				continue;
			if (k != key)
				break;
			if (!live(f, seen, now))
				return false;
			memcpy(ip->a, a, sizeof(ip->a));
			return true;
		}
	}
	return false;
}

void vxlan_fdb_foreach(const struct vxlan_fdb *f, uint64_t now,
		       void (*fn)(void *ctx, const uint8_t mac[ETH_ALEN],
				  const struct vxlan_addr *ip),
		       void *ctx)
{
	size_t n = (size_t)f->nbuckets * VXLAN_FDB_WAYS;

	for (size_t i = 0; i < n; i++) {
		const struct vxlan_fdb_ent *e = &f->ent[i];
		uint64_t k = e->key;
		struct vxlan_addr ip;
		uint8_t mac[ETH_ALEN];

		if (!(k & KEY_USED) || !live(f, e->seen, now))
			continue;
		for (unsigned j = 0; j < ETH_ALEN; j++)
			mac[j] = (uint8_t)(k >> (8 * (ETH_ALEN - 1 - j)));
		memcpy(ip.a, e->ip, sizeof(ip.a));
		fn(ctx, mac, &ip);
	}
}

unsigned vxlan_fdb_count(const struct vxlan_fdb *f, uint64_t now)
{
	size_t n = (size_t)f->nbuckets * VXLAN_FDB_WAYS;
	unsigned c = 0;

	for (size_t i = 0; i < n; i++) {
		const struct vxlan_fdb_ent *e = &f->ent[i];

		/* A count for stats: a torn read only miscounts one entry. */
		if ((__atomic_load_n(&e->key, __ATOMIC_RELAXED) & KEY_USED) &&
		    live(f, __atomic_load_n(&e->seen, __ATOMIC_RELAXED), now))
			c++;
	}
	return c;
}
