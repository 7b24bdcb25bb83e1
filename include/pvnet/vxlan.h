/* SPDX-License-Identifier: MIT */
/*
 * vxlan.h - the parts of the VXLAN port (src/port/port_vxlan.c) that need
 * no socket: the RFC 7348 header, the decapsulation check, and the table of
 * remote MACs (inner source MAC -> the VTEP it was last seen behind).
 *
 * The table has one writer (the worker that polls the port's receive
 * queue) and any number of readers (every worker transmitting to the port):
 * each entry is a seqlock, so a reader never waits and never sees a torn
 * entry; an entry it cannot read consistently counts as a miss (flood).
 * Its size is fixed at creation: a peer that sends from ever new MACs fills
 * it and is then refused (counted), it cannot grow it.
 */
#ifndef PVNET_VXLAN_H
#define PVNET_VXLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnet/drop.h"
#include "pvnet/pkt.h"

#define VXLAN_HLEN		8
#define VXLAN_PORT_DEFAULT	4789
#define VXLAN_FLAG_I		0x08	/* the VNI is valid */
#define VXLAN_VNI_MAX		0xffffffu
/*
 * Outer IP + UDP + VXLAN + inner Ethernet: what an inner IP packet loses of
 * the underlay MTU (the numbers Linux gives its vxlan devices: 1500 - 50).
 */
#define VXLAN_OVERHEAD_V4	50
#define VXLAN_OVERHEAD_V6	70
/* Default capacity of the remote MAC table (entries, all remotes together). */
#define VXLAN_FDB_DEFAULT	4096
#define VXLAN_FDB_WAYS		4

/* Writes the 8-byte VXLAN header of @vni into @h (flags I, reserved zero). */
void vxlan_hdr_build(uint8_t h[VXLAN_HLEN], uint32_t vni);

/*
 * Checks a received UDP payload of @len bytes at @buf (bytes beyond @len
 * are not read): the I flag set and no other flag (an extension this port
 * does not speak: GBP, GPE), the VNI @vni, an inner frame of at least an
 * Ethernet header and at most PV_FRAME_MAX bytes. Reserved fields are
 * ignored (RFC 7348). Returns PV_DROP_NONE with the inner frame's length in
 * *inner_len (it starts at @buf + VXLAN_HLEN), or the drop reason.
 */
enum pv_drop vxlan_decap(const uint8_t *buf, size_t len, uint32_t vni,
			 uint32_t *inner_len);
/*
 * The same checks but any VNI (a port of several VNIs looks it up): the
 * header's VNI in *vni once the flags are valid, the inner length in
 * *inner_len when PV_DROP_NONE.
 */
enum pv_drop vxlan_decap_any(const uint8_t *buf, size_t len, uint32_t *vni,
			     uint32_t *inner_len);
/*
 * The datagrams of one UDP GRO receive: @len bytes the kernel coalesced
 * from datagrams of @seg bytes each, the last maybe shorter (@seg 0 or
 * >= @len: one datagram). Sets *dlen to the length of the datagram at @off
 * and returns true; false once @off reaches @len. Never more than @len
 * bytes in all, whatever @seg says.
 */
bool vxlan_gro_next(size_t len, size_t seg, size_t off, size_t *dlen);

/* An underlay address; IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct vxlan_addr {
	uint8_t a[16];
};

/* One entry; every word is read and written atomically (seqlock). */
struct vxlan_fdb_ent {
	uint32_t seq;		/* odd while the writer changes the entry */
	uint32_t pad;
	uint64_t key;		/* MAC in the low 48 bits, bit 48: in use */
	uint64_t ip[2];		/* struct vxlan_addr */
	uint64_t seen;		/* last time the MAC was heard (ns) */
};

struct vxlan_fdb {
	struct vxlan_fdb_ent *ent;	/* nbuckets * VXLAN_FDB_WAYS, owned */
	unsigned nbuckets;		/* a power of two */
	uint64_t ageing_ns;
	uint64_t salt;			/* spreads MACs a peer picks to collide */
	/* Counters of the writer, read by stats. */
	uint64_t learned;		/* new entries */
	uint64_t moved;			/* a known MAC heard from another VTEP */
	uint64_t refused;		/* no room in the MAC's bucket */
};

/*
 * Makes @f empty with room for about @max entries (rounded up to a power
 * of two of buckets), which age after @ageing_ns. Returns 0 or -ENOMEM.
 */
int vxlan_fdb_init(struct vxlan_fdb *f, unsigned max, uint64_t ageing_ns);
/* Frees what vxlan_fdb_init() allocated. */
void vxlan_fdb_free(struct vxlan_fdb *f);
/*
 * The writer: @mac (unicast) was heard from @ip at @now. Returns 1 if the
 * entry is new or moved, 0 if it was known, -EDQUOT if refused (its bucket
 * is full of live entries; counted in @f->refused).
 */
int vxlan_fdb_learn(struct vxlan_fdb *f, const uint8_t mac[ETH_ALEN],
		    const struct vxlan_addr *ip, uint64_t now);
/*
 * Any thread: the VTEP @mac was last heard from, if it was heard within
 * the ageing time; true with it in *ip.
 */
bool vxlan_fdb_lookup(const struct vxlan_fdb *f, const uint8_t mac[ETH_ALEN],
		      uint64_t now, struct vxlan_addr *ip);
/*
 * The writer: forgets @mac (a reader sees it whole or gone). True if it
 * was there. Used on the static table, whose writer is the control thread.
 */
bool vxlan_fdb_forget(struct vxlan_fdb *f, const uint8_t mac[ETH_ALEN]);
/*
 * The writer only (it reads entries without the seqlock): calls @fn for
 * every entry in use and not aged at @now.
 */
void vxlan_fdb_foreach(const struct vxlan_fdb *f, uint64_t now,
		       void (*fn)(void *ctx, const uint8_t mac[ETH_ALEN],
				  const struct vxlan_addr *ip),
		       void *ctx);
/* Any thread: entries in use and not aged at @now. */
unsigned vxlan_fdb_count(const struct vxlan_fdb *f, uint64_t now);

struct port;
/*
 * Control thread: adds (@add) or removes the remote VTEP @ip (text) of VNI
 * @vni (< 0: the port's only VNI) of the vxlan port @p: that VNI's flood
 * list of BUM frames. A new set is published; the old one is returned in
 * *old, for the caller to free() after a grace period (dp_sync). 0, or
 * -EINVAL (not a vxlan port, not an address of local='s family), -ENOENT
 * (no such VNI, or several and @vni < 0; no such remote), -EEXIST, -ENOSPC
 * (32 remotes), -ENOMEM, with a sentence in @err.
 */
int vxlan_port_remote(struct port *p, int64_t vni, const char *ip, bool add,
		      void **old, char *err, size_t errlen);
/*
 * Control thread: the static entry @mac -> VTEP @ip of VNI @vni (< 0: the
 * port's only one; never ages; looked up before the learned ones), or
 * with @ip NULL its removal. 0, or -EINVAL, -ENOENT (no such VNI or
 * static MAC), -ENOSPC (its bucket is full).
 */
int vxlan_port_mac(struct port *p, int64_t vni, const char *mac,
		   const char *ip, char *err, size_t errlen);
/*
 * Control thread: @p's VNIs (the first as "vni", all in "vnis" with each
 * one's network, remotes and static MACs), local, remotes and static MACs
 * as a new json_t object the caller owns; NULL if @p is not a vxlan port.
 */
void *vxlan_port_json(struct port *p);

#endif /* PVNET_VXLAN_H */
