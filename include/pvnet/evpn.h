/* SPDX-License-Identifier: MIT */
/*
 * evpn.h - what `pvnet evpn` reads from GoBGP: the EVPN routes of
 * `gobgp global rib -a evpn -j` (GoBGP 3.10's JSON), reduced to what the
 * vxlan port needs. No sockets, no processes: the unit tests and the fuzzer
 * call it on captured text. The text is a peer's (any BGP speaker's routes
 * pass through it): every field is checked, a bad route is counted and
 * skipped, never trusted.
 */
#ifndef PVNET_EVPN_H
#define PVNET_EVPN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVPN_RT_MAX	32	/* "ASN:N" / "IP:N" as GoBGP prints it */
#define EVPN_IP_MAX	46	/* INET6_ADDRSTRLEN */

enum evpn_type { EVPN_MACADV = 2, EVPN_MULTICAST = 3 };

struct evpn_route {
	enum evpn_type type;
	uint8_t mac[6];			/* EVPN_MACADV */
	char vtep[EVPN_IP_MAX];		/* MACADV: the next hop; MULTICAST: the
					 * PMSI tunnel id, else the route's IP */
	uint32_t label;			/* the VNI: MACADV's first label, MULTICAST's
					 * PMSI label (0: the route has none) */
	char rd[EVPN_RT_MAX];
};

/*
 * Parses @len bytes of @text, GoBGP's JSON RIB (an object of prefix ->
 * array of paths), into at most @max routes at @out (*n of them): the best
 * path of each type-2 and type-3 prefix that carries the route target @rt
 * (as GoBGP prints it, "65000:42"). Other route types and other targets
 * are skipped silently; a path that is malformed (a missing or mistyped
 * field, an address or MAC that does not parse, a next hop 0.0.0.0) is
 * skipped and counted in *bad; past @max too. Returns 0, or -EINVAL if
 * @text is not a JSON object (nothing parsed). The caller owns @out.
 */
int evpn_rib_parse(const char *text, size_t len, const char *rt,
		   struct evpn_route *out, unsigned max, unsigned *n,
		   unsigned *bad);

/*
 * True if @r belongs in VNI @vni: its label is that VNI, or it has none
 * (then its route target alone placed it).
 */
bool evpn_route_in_vni(const struct evpn_route *r, uint32_t vni);

#endif /* PVNET_EVPN_H */
