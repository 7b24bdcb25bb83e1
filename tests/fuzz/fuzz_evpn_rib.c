// SPDX-License-Identifier: MIT
/*
 * fuzz_evpn_rib.c - libFuzzer target for the parser of GoBGP's JSON RIB
 * (evpn_rib_parse): the routes in it are any BGP peer's. Invariants: the
 * count stays within the output's room, every route taken has a type 2 or
 * 3, a VTEP that is a nonzero address, a unicast MAC (type 2) and a label
 * of at most 24 bits.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvnet/evpn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evpn_route r[8];
	unsigned n = 99, bad = 99;
	uint8_t a[16];

	if (evpn_rib_parse((const char *)data, size, "65000:100", r, 8, &n,
			   &bad) < 0) {
		if (n || bad)
			abort();
		return 0;
	}
	if (n > 8)
		abort();
	for (unsigned i = 0; i < n; i++) {
		if (r[i].type != EVPN_MACADV && r[i].type != EVPN_MULTICAST)
			abort();
		if (inet_pton(AF_INET, r[i].vtep, a) != 1 &&
		    inet_pton(AF_INET6, r[i].vtep, a) != 1)
			abort();
		if (r[i].type == EVPN_MACADV &&
		    ((r[i].mac[0] & 1) || r[i].label > 0xffffff))
			abort();
	}
	return 0;
}
