// SPDX-License-Identifier: MIT
/*
 * port.c - port spec parsing ("TYPE,key=val,..."), counters, and the
 * constructor pieces every uplink port shares
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "port_internal.h"
#include "pvnet/switch.h"

int port_opt_next(const char **cursor, char *key, size_t klen, char *val,
		  size_t vlen)
{
	const char *s = *cursor, *eq, *end;
	size_t kl, vl;

	while (*s == ',')
		s++;
	if (!*s)
		return 0;
	end = s + strcspn(s, ",");
	eq = memchr(s, '=', (size_t)(end - s));
	kl = (size_t)((eq ? eq : end) - s);
	vl = eq ? (size_t)(end - eq - 1) : 0;
	if (kl >= klen || vl >= vlen)
		return -EINVAL;
	memcpy(key, s, kl);
	key[kl] = '\0';
	if (eq)
		memcpy(val, eq + 1, vl);
	val[vl] = '\0';
	*cursor = end;
	return 1;
}

void *port_uplink_alloc(size_t size, const char *name,
			const struct port_ops *ops, char *err, size_t errlen)
{
	struct port *p = calloc(1, size);

	if (!p) {
		snprintf(err, errlen, "port %s: out of memory", name);
		return NULL;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->ops = ops;
	p->uplink = true;
	p->nqueues = 1;
	return p;
}

bool port_opt_str(char *dst, size_t size, const char *val)
{
	size_t l = strlen(val);

	if (!l || l >= size)
		return false;
	memcpy(dst, val, l + 1);
	return true;
}

int port_opts_parse(const struct port_opts_spec *spec, const char *name,
		    const char *opts, void *ctx, char *err, size_t errlen)
{
	char key[32], val[PORT_OPT_VAL_MAX];
	const char *cur = opts;
	int rc;

	PV_ASSERT(spec->val_max <= sizeof(val));
	while ((rc = port_opt_next(&cur, key, sizeof(key), val,
				   spec->val_max)) > 0) {
		/* port_create() took name=, network= and the VLANs already. */
		if (!strcmp(key, "name") || !strcmp(key, "network") ||
		    !strcmp(key, "vlan") || !strcmp(key, "untagged") ||
		    spec->take(ctx, key, val))
			continue;
		snprintf(err, errlen, "port %s: bad option '%s%s%s' (%s takes %s)",
			 name, key, val[0] ? "=" : "", val, spec->type,
			 spec->usage);
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "port %s: %s", name, spec->too_long);
		return -1;
	}
	return 0;
}

/*
 * network=NAME, common to every type: its index in @sw (created if new),
 * 0 (default) without one, or -1 with the message in @err.
 */
static int port_network(struct sw *sw, const char *name, const char *opts,
			bool create, char *err, size_t errlen)
{
	char key[32], val[PORT_OPT_VAL_MAX], net[SW_NET_NAME_MAX] = "";
	const char *cur = opts;
	int rc;

	while ((rc = port_opt_next(&cur, key, sizeof(key), val, sizeof(val))) > 0) {
		if (strcmp(key, "network"))
			continue;
		if (net[0]) {
			snprintf(err, errlen, "port %s: network= given twice "
				 "(a port is in one network)", name);
			return -1;
		}
		if (!port_opt_str(net, sizeof(net), val)) {
			snprintf(err, errlen, "port %s: network= takes a name "
				 "of 1..%d characters", name, SW_NET_NAME_MAX - 1);
			return -1;
		}
	}
	/* an option too long for any type: the type's parser says so */
	if (!net[0] || !sw)
		return 0;
	rc = sw_net_get(sw, net, create, err, errlen);
	if (rc < 0) {
		char m[160];

		snprintf(m, sizeof(m), "%s", err);
		snprintf(err, errlen, "port %s: %s", name, m);
		return -1;
	}
	return rc;
}

static struct port *port_create_type(struct sw *sw, const char *type,
				     const char *name, const char *opts,
				     char *err, size_t errlen);

/*
 * vlan=NETWORK:VID (repeated) and untagged=drop, on tap and afpacket
 * ports: checked against @sw's networks (@p NULL: nothing is created,
 * the networks a port would add are counted against the bound) or
 * stored in @p (its networks created). @own: the port's network= index.
 * 0, or -1 with the message in @err.
 */
static int port_vlans(struct sw *sw, const char *type, const char *name,
		      const char *opts, int own, struct port *p, char *err,
		      size_t errlen)
{
	char key[32], val[PORT_OPT_VAL_MAX], seen[PORT_MAX_VLANS][SW_NET_NAME_MAX];
	char own_name[SW_NET_NAME_MAX] = "default";
	uint16_t vids[PORT_MAX_VLANS];
	unsigned n = 0, fresh = 0;
	bool drop = false, trunk;
	const char *cur = opts;
	int rc;

	while ((rc = port_opt_next(&cur, key, sizeof(key), val, sizeof(val))) > 0) {
		char *colon, *end;
		unsigned long vid;

		if (!strcmp(key, "untagged")) {
			if (strcmp(val, "drop")) {
				snprintf(err, errlen, "port %s: untagged= takes 'drop' "
					 "(without it, untagged frames are in the port's network=)",
					 name);
				return -1;
			}
			drop = true;
			continue;
		}
		if (!strcmp(key, "network"))	/* port_network() checked it */
			port_opt_str(own_name, sizeof(own_name), val);
		if (strcmp(key, "vlan"))
			continue;
		colon = strrchr(val, ':');
		if (!colon || colon == val) {
			snprintf(err, errlen, "port %s: vlan=%s: want vlan=NETWORK:VID", name, val);
			return -1;
		}
		*colon = '\0';
		errno = 0;
		vid = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || vid < 1 || vid > 4094) {
			snprintf(err, errlen, "port %s: vlan=%s:%s: the VID is 1..4094",
				 name, val, colon + 1);
			return -1;
		}
		if (n == PORT_MAX_VLANS) {
			snprintf(err, errlen, "port %s: too many vlan= (at most %d)",
				 name, PORT_MAX_VLANS);
			return -1;
		}
		for (unsigned i = 0; i < n; i++) {
			if (vids[i] == vid) {
				snprintf(err, errlen, "port %s: VID %lu given twice", name, vid);
				return -1;
			}
			if (!strcmp(seen[i], val)) {
				snprintf(err, errlen, "port %s: network %s given two VIDs "
					 "(one VID per network on a port)", name, val);
				return -1;
			}
		}
		if (strlen(val) >= SW_NET_NAME_MAX) {
			snprintf(err, errlen, "port %s: vlan=: network name too long "
				 "(at most %d characters)", name, SW_NET_NAME_MAX - 1);
			return -1;
		}
		port_opt_str(seen[n], sizeof(seen[n]), val);
		vids[n++] = (uint16_t)vid;
	}
	trunk = n || drop;
	if (!trunk)
		return 0;
	if (strcmp(type, "tap") && strcmp(type, "afpacket")) {
		snprintf(err, errlen, "port %s: vlan= and untagged= are for tap and "
			 "afpacket ports", name);
		return -1;
	}
	if (!sw) {
		snprintf(err, errlen, "port %s: vlan= needs a switch", name);
		return -1;
	}
	if (!p && own >= 0 && (unsigned)own >= sw->nnets)
		fresh = 1;	/* network= names a new one too */
	for (unsigned i = 0; i < n; i++) {
		int net;

		if (!drop && !strcmp(seen[i], own_name)) {
			snprintf(err, errlen, "port %s: network %s is the port's untagged "
				 "network= already (untagged=drop to carry it tagged)",
				 name, seen[i]);
			return -1;
		}
		net = sw_net_get(sw, seen[i], p != NULL, err, errlen);

		if (net < 0) {
			char m[160];

			snprintf(m, sizeof(m), "%s", err);
			snprintf(err, errlen, "port %s: %s", name, m);
			return -1;
		}
		if (!p) {
			fresh += (unsigned)net >= sw->nnets;
			if (sw->nnets + fresh > SW_MAX_NETS) {
				snprintf(err, errlen, "port %s: network '%s': too many "
					 "networks (at most %d)", name, seen[i], SW_MAX_NETS);
				return -1;
			}
			continue;
		}
		p->vlan[i].vid = vids[i];
		p->vlan[i].net = (uint8_t)net;
		p->vid_of_net[net] = vids[i];
	}
	if (p) {
		p->nvlans = (uint8_t)n;
		p->untagged_drop = drop;
	}
	return 0;
}

struct port *port_create(struct sw *sw, const char *spec, char *err,
			 size_t errlen)
{
	char type[16], name[PORT_NAME_MAX] = "";
	const char *comma = strchr(spec, ','), *opts = comma ? comma + 1 : "";
	size_t tl = comma ? (size_t)(comma - spec) : strlen(spec);
	struct port *p;
	const char *n;
	int net;

	if (tl == 0 || tl >= sizeof(type)) {
		snprintf(err, errlen, "port '%s': expected TYPE,name=NAME,...", spec);
		return NULL;
	}
	memcpy(type, spec, tl);
	type[tl] = '\0';

	/* name= is common to every type. */
	n = strstr(opts, "name=");
	if (n && (n == opts || n[-1] == ',')) {
		size_t l = strcspn(n + 5, ",");

		if (l == 0 || l >= sizeof(name)) {
			snprintf(err, errlen, "port '%s': name must be 1..%d characters",
				 spec, PORT_NAME_MAX - 1);
			return NULL;
		}
		memcpy(name, n + 5, l);
		name[l] = '\0';
	} else {
		snprintf(err, errlen, "port '%s': name= is required", spec);
		return NULL;
	}
	/* checked first, created once the port is (a refused port names none) */
	net = port_network(sw, name, opts, false, err, errlen);
	if (net < 0 || port_vlans(sw, type, name, opts, net, NULL, err, errlen) < 0)
		return NULL;
	p = port_create_type(sw, type, name, opts, err, errlen);
	if (!p)
		return NULL;
	net = port_network(sw, name, opts, true, err, errlen);
	if (net < 0 || port_vlans(sw, type, name, opts, net, p, err, errlen) < 0) {
		p->ops->destroy(p);
		return NULL;
	}
	p->net = (uint8_t)net;
	return p;
}

static struct port *port_create_type(struct sw *sw, const char *type,
				     const char *name, const char *opts,
				     char *err, size_t errlen)
{
	if (!strcmp(type, "vhost"))
		return port_vhost_create(sw, name, opts, err, errlen);
	if (!strcmp(type, "tap"))
		return port_tap_create(sw, name, opts, err, errlen);
	if (!strcmp(type, "afpacket"))
		return port_afpacket_create(sw, name, opts, err, errlen);
	if (!strcmp(type, "pcap"))
		return port_pcap_create(sw, name, opts, err, errlen);
	if (!strcmp(type, "gen"))
		return port_gen_create(sw, name, opts, err, errlen);
	if (!strcmp(type, "vxlan"))
		return port_vxlan_create(sw, name, opts, err, errlen);
	snprintf(err, errlen, "port '%s': unknown type '%s' "
		 "(known: vhost, tap, afpacket, pcap, gen, vxlan)",
		 name, type);
	return NULL;
}

enum pv_drop port_vlan_rx(const struct port *p, struct pkt *pk, int vid_stripped)
{
	uint8_t *f = pk->seg[0].iov_base;
	int vid = vid_stripped;

	if (vid < 0 && pk->seg[0].iov_len >= ETH_HLEN + 4 &&
	    f[12] == 0x81 && f[13] == 0x00) {
		vid = ((f[14] & 0x0f) << 8) | f[15];
		/* pop: the addresses move 4 bytes on, over the tag */
		memmove(f + 4, f, 2 * ETH_ALEN);
		pk->seg[0].iov_base = f + 4;
		pk->seg[0].iov_len -= 4;
		pk->len -= 4;
		if ((pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    pk->vh.csum_start >= ETH_HLEN + 4)
			pk->vh.csum_start -= 4;
		if (pk->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
		    pk->vh.hdr_len >= ETH_HLEN + 4)
			pk->vh.hdr_len -= 4;
	}
	if (vid <= 0) {
		if (p->untagged_drop)
			return PV_DROP_VLAN_UNTAGGED;
		pk->net = p->net;
		return PV_DROP_NONE;
	}
	for (unsigned i = 0; i < p->nvlans; i++) {
		if (p->vlan[i].vid == vid) {
			pk->net = p->vlan[i].net;
			return PV_DROP_NONE;
		}
	}
	return PV_DROP_VLAN_UNKNOWN;
}

uint16_t port_vlan_tx(const struct port *p, const struct pkt *pk,
		      uint8_t tag[4], struct virtio_net_hdr *h)
{
	uint16_t vid = pk->net < PORT_MAX_VLANS ? p->vid_of_net[pk->net] : 0;

	if (!vid)
		return 0;
	tag[0] = 0x81;
	tag[1] = 0x00;
	tag[2] = (uint8_t)(vid >> 8);
	tag[3] = (uint8_t)vid;
	if (h && (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		h->csum_start += 4;
	if (h && h->gso_type != VIRTIO_NET_HDR_GSO_NONE && h->hdr_len)
		h->hdr_len += 4;
	return vid;
}

unsigned port_vlan_iov(const struct iovec *src, unsigned nsrc,
		       const uint8_t *tag, struct iovec *dst, unsigned max)
{
	size_t left = 2 * ETH_ALEN;
	bool done = false;
	unsigned k = 0;

	for (unsigned i = 0; i < nsrc; i++) {
		uint8_t *b = src[i].iov_base;
		size_t l = src[i].iov_len;

		if (!done && l >= left) {
			if (k + 2 > max)
				return 0;
			if (left)
				dst[k++] = (struct iovec){ b, left };
			dst[k++] = (struct iovec){ (void *)tag, 4 };
			b += left;
			l -= left;
			done = true;
		} else if (!done) {
			left -= l;
		}
		if (!l)
			continue;
		if (k == max)
			return 0;
		dst[k++] = (struct iovec){ b, l };
	}
	return done ? k : 0;
}

void port_count_tx(struct port *p, unsigned q, uint64_t sent, uint64_t bytes,
		   uint64_t csums, const uint64_t *drops)
{
	pv_stat_add(&p->st.tx_pkts, sent);
	pv_stat_add(&p->st.tx_bytes, bytes);
	pv_stat_add(&p->st.tx_csum_done, csums);
	if (q < PORT_MAX_QUEUES)
		pv_stat_add(&p->st.txq_pkts[q], sent);
	if (!drops)
		return;
	for (unsigned r = 1; r < PV_DROP_MAX; r++)
		pv_stat_add(&p->st.drops.n[r], drops[r]);
}

void port_count_rx_drops(struct port *p, uint64_t bad, const uint64_t *drops)
{
	/* Dropped frames entered too: rx = delivered + dropped. */
	pv_stat_add(&p->st.rx_pkts, bad);
	for (unsigned r = 1; r < PV_DROP_MAX; r++)
		pv_stat_add(&p->st.drops.n[r], drops[r]);
}

unsigned port_rx_one_queue(struct port *p)
{
	(void)p;
	return 1;
}
