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
		/* port_create() took name= and network= already. */
		if (!strcmp(key, "name") || !strcmp(key, "network") ||
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
	if (port_network(sw, name, opts, false, err, errlen) < 0)
		return NULL;
	p = port_create_type(sw, type, name, opts, err, errlen);
	if (!p)
		return NULL;
	net = port_network(sw, name, opts, true, err, errlen);
	if (net < 0) {
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
