// SPDX-License-Identifier: MIT
/*
 * test_evpn.c - the parser of GoBGP's JSON RIB (evpn_rib_parse) on text
 * captured from the real gobgp 3.10 (`gobgp global rib -a evpn -j`), and
 * on the same text broken in the ways a peer's routes could be.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pvnet/evpn.h"

/*
 * gobgp 3.10, four local routes: macadv 52:54:00:00:00:01 with nexthop
 * 198.18.64.1, macadv ..:02 with ip 198.18.9.9 and no nexthop (0.0.0.0),
 * multicast 198.18.64.1 with a PMSI (rt 65000:100), and one of rt 65000:101.
 */
static const char mixed[] =
	"{\"[type:macadv][rd:65000:100][etag:0][mac:52:54:00:00:00:01]"
	"[ip:\\u003cnil\\u003e]\":[{\"nlri\":{\"type\":2,\"value\":{\"rd\":{\"typ"
	"e\":0,\"admin\":65000,\"assigned\":100},\"esi\":\"single-homed\",\"eta"
	"g\":0,\"mac\":\"52:54:00:00:00:01\",\"ip\":\"\\u003cnil\\u003e\",\"label"
	"s\":[100]}},\"age\":1796228804,\"best\":true,\"attrs\":[{\"type\":1,\""
	"value\":2},{\"type\":16,\"value\":[{\"type\":0,\"subtype\":2,\"value\":"
	"\"65000:100\"},{\"type\":3,\"subtype\":12,\"tunnel_type\":8}]},{\"typ"
	"e\":14,\"nexthop\":\"198.18.64.1\",\"afi\":25,\"safi\":70,\"value\":[{\""
	"type\":2,\"value\":{\"rd\":{\"type\":0,\"admin\":65000,\"assigned\":100"
	"},\"esi\":\"single-homed\",\"etag\":0,\"mac\":\"52:54:00:00:00:01\",\"i"
	"p\":\"\\u003cnil\\u003e\",\"labels\":[100]}}]}],\"stale\":false}],\"[t"
	"ype:macadv][rd:65000:100][etag:0][mac:52:54:00:00:00:02][ip:"
	"198.18.9.9]\":[{\"nlri\":{\"type\":2,\"value\":{\"rd\":{\"type\":0,\"adm"
	"in\":65000,\"assigned\":100},\"esi\":\"single-homed\",\"etag\":0,\"mac"
	"\":\"52:54:00:00:00:02\",\"ip\":\"198.18.9.9\",\"labels\":[100]}},\"ag"
	"e\":1796228804,\"best\":true,\"attrs\":[{\"type\":1,\"value\":2},{\"ty"
	"pe\":16,\"value\":[{\"type\":0,\"subtype\":2,\"value\":\"65000:100\"},{"
	"\"type\":3,\"subtype\":12,\"tunnel_type\":8}]},{\"type\":14,\"nexthop"
	"\":\"0.0.0.0\",\"afi\":25,\"safi\":70,\"value\":[{\"type\":2,\"value\":{\""
	"rd\":{\"type\":0,\"admin\":65000,\"assigned\":100},\"esi\":\"single-ho"
	"med\",\"etag\":0,\"mac\":\"52:54:00:00:00:02\",\"ip\":\"198.18.9.9\",\"l"
	"abels\":[100]}}]}],\"stale\":false}],\"[type:multicast][rd:65000"
	":100][etag:0][ip:198.18.64.1]\":[{\"nlri\":{\"type\":3,\"value\":{\""
	"rd\":{\"type\":0,\"admin\":65000,\"assigned\":100},\"etag\":0,\"ip\":\"1"
	"98.18.64.1\"}},\"age\":1796228804,\"best\":true,\"attrs\":[{\"type\":"
	"1,\"value\":2},{\"type\":16,\"value\":[{\"type\":0,\"subtype\":2,\"valu"
	"e\":\"65000:100\"},{\"type\":3,\"subtype\":12,\"tunnel_type\":8}]},{\""
	"type\":22,\"is-leaf-info-required\":false,\"tunnel-type\":6,\"labe"
	"l\":100,\"tunnel-id\":\"198.18.64.1\"},{\"type\":14,\"nexthop\":\"0.0."
	"0.0\",\"afi\":25,\"safi\":70,\"value\":[{\"type\":3,\"value\":{\"rd\":{\"t"
	"ype\":0,\"admin\":65000,\"assigned\":100},\"etag\":0,\"ip\":\"198.18.6"
	"4.1\"}}]}],\"stale\":false}],\"[type:multicast][rd:65000:101][et"
	"ag:0][ip:198.18.64.1]\":[{\"nlri\":{\"type\":3,\"value\":{\"rd\":{\"ty"
	"pe\":0,\"admin\":65000,\"assigned\":101},\"etag\":0,\"ip\":\"198.18.64"
	".1\"}},\"age\":1796228805,\"best\":true,\"attrs\":[{\"type\":1,\"value"
	"\":2},{\"type\":16,\"value\":[{\"type\":0,\"subtype\":2,\"value\":\"6500"
	"0:101\"},{\"type\":3,\"subtype\":12,\"tunnel_type\":8}]},{\"type\":14"
	",\"nexthop\":\"0.0.0.0\",\"afi\":25,\"safi\":70,\"value\":[{\"type\":3,\""
	"value\":{\"rd\":{\"type\":0,\"admin\":65000,\"assigned\":101},\"etag\":"
	"0,\"ip\":\"198.18.64.1\"}}]}],\"stale\":false}]}";

static unsigned parse(const char *text, const char *rt, struct evpn_route *r,
		      unsigned max, unsigned *bad)
{
	unsigned n = 0;

	assert_int_equal(evpn_rib_parse(text, strlen(text), rt, r, max, &n, bad), 0);
	return n;
}

static void captured(void **state)
{
	struct evpn_route r[8];
	unsigned bad, n;
	const uint8_t mac1[6] = { 0x52, 0x54, 0, 0, 0, 1 };

	(void)state;
	n = parse(mixed, "65000:100", r, 8, &bad);
	/* ..:02 has no next hop: counted, not taken */
	assert_int_equal(bad, 1);
	assert_int_equal(n, 2);
	for (unsigned i = 0; i < n; i++) {
		if (r[i].type == EVPN_MACADV) {
			assert_memory_equal(r[i].mac, mac1, 6);
			assert_string_equal(r[i].vtep, "198.18.64.1");
			assert_int_equal(r[i].label, 100);
			assert_string_equal(r[i].rd, "65000:100");
		} else {
			assert_int_equal(r[i].type, EVPN_MULTICAST);
			assert_string_equal(r[i].vtep, "198.18.64.1");
			/* the PMSI attribute's label: the VNI (RFC 8365 5.1.3) */
			assert_int_equal(r[i].label, 100);
		}
		assert_true(evpn_route_in_vni(&r[i], 100));
		assert_false(evpn_route_in_vni(&r[i], 200));
	}
	/* the other VNI's target: its type-3 only, without a PMSI label */
	n = parse(mixed, "65000:101", r, 8, &bad);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].type, EVPN_MULTICAST);
	assert_int_equal(r[0].label, 0);
	assert_true(evpn_route_in_vni(&r[0], 101));	/* no label: the RT decides */
	/* no room: counted */
	n = parse(mixed, "65000:100", r, 1, &bad);
	assert_int_equal(n, 1);
	assert_true(bad >= 2);
	n = parse("{}", "65000:100", r, 8, &bad);
	assert_int_equal(n + bad, 0);
}

static void broken(void **state)
{
	static const char *const bad_paths[] = {
		/* not an array of paths */
		"{\"p\": 3}",
		/* nlri without a type */
		"{\"p\": [{\"nlri\": {}, \"best\": true, \"attrs\": []}]}",
		/* a multicast MAC */
		"{\"p\": [{\"nlri\": {\"type\": 2, \"value\": {\"mac\": \"01:00:5e:00:00:01\","
		" \"labels\": [100]}}, \"best\": true, \"attrs\": [{\"type\": 16, \"value\":"
		" [{\"subtype\": 2, \"value\": \"65000:100\"}]}, {\"type\": 14, \"nexthop\":"
		" \"198.18.0.1\"}]}]}",
		/* a MAC that is not one */
		"{\"p\": [{\"nlri\": {\"type\": 2, \"value\": {\"mac\": 5,"
		" \"labels\": [100]}}, \"best\": true, \"attrs\": [{\"type\": 16, \"value\":"
		" [{\"subtype\": 2, \"value\": \"65000:100\"}]}, {\"type\": 14, \"nexthop\":"
		" \"198.18.0.1\"}]}]}",
		/* a label past 24 bits */
		"{\"p\": [{\"nlri\": {\"type\": 2, \"value\": {\"mac\": \"02:00:00:00:00:01\","
		" \"labels\": [16777216]}}, \"best\": true, \"attrs\": [{\"type\": 16, \"value\":"
		" [{\"subtype\": 2, \"value\": \"65000:100\"}]}, {\"type\": 14, \"nexthop\":"
		" \"198.18.0.1\"}]}]}",
		/* a next hop that is no address */
		"{\"p\": [{\"nlri\": {\"type\": 2, \"value\": {\"mac\": \"02:00:00:00:00:01\","
		" \"labels\": [100]}}, \"best\": true, \"attrs\": [{\"type\": 16, \"value\":"
		" [{\"subtype\": 2, \"value\": \"65000:100\"}]}, {\"type\": 14, \"nexthop\":"
		" \"198.18.0.1; rm -rf /\"}]}]}",
		/* a type-3 without any address */
		("{\"p\": [{\"nlri\": {\"type\": 3, \"value\": {}}, \"best\": true, \"attrs\":"
		 " [{\"type\": 16, \"value\": [{\"subtype\": 2, \"value\": \"65000:100\"}]}]}]}"),
	};
	struct evpn_route r[4];
	unsigned n = 1, bad = 1;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		n = parse(bad_paths[i], "65000:100", r, 4, &bad);
		if (n != 0 || bad != 1)
			fail_msg("case %u: %u routes, %u bad", i, n, bad);
	}
	/* not an object: nothing */
	assert_int_equal(evpn_rib_parse("[1]", 3, "65000:100", r, 4, &n, &bad),
			 -EINVAL);
	assert_int_equal(evpn_rib_parse("{\"a\":", 5, "65000:100", r, 4, &n, &bad),
			 -EINVAL);
	assert_int_equal(n + bad, 0);
	/* the best path wins over a first one that is not */
	n = parse("{\"p\": [{\"nlri\": {\"type\": 3, \"value\": {\"ip\": \"198.18.0.1\"}},"
		  " \"attrs\": [{\"type\": 16, \"value\": [{\"subtype\": 2, \"value\":"
		  " \"65000:100\"}]}]}, {\"nlri\": {\"type\": 3, \"value\": {\"ip\":"
		  " \"198.18.0.2\"}}, \"best\": true, \"attrs\": [{\"type\": 16, \"value\":"
		  " [{\"subtype\": 2, \"value\": \"65000:100\"}]}]}]}", "65000:100", r, 4, &bad);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].vtep, "198.18.0.2");
}

/*
 * A vxlan port of two VNIs (pvnet evpn parses the RIB once per VNI's
 * target): the same MAC advertised in VNI 100 behind one VTEP and in VNI
 * 200 behind another is one route of each target, with its own label.
 */
#define MACADV(vni, vtep) \
	"\"a" #vni "\": [{\"nlri\": {\"type\": 2, \"value\": {\"mac\":" \
	" \"52:54:00:00:00:09\", \"labels\": [" #vni "]}}, \"best\": true," \
	" \"attrs\": [{\"type\": 16, \"value\": [{\"subtype\": 2, \"value\":" \
	" \"65000:" #vni "\"}]}, {\"type\": 14, \"nexthop\": \"" vtep "\"}]}]"

static void same_mac_two_vnis(void **state)
{
	static const char rib[] = "{" MACADV(100, "198.18.0.1") ", "
				  MACADV(200, "198.18.0.2") "}";
	const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 9 };
	struct evpn_route r[4];
	unsigned n, bad;

	(void)state;
	n = parse(rib, "65000:100", r, 4, &bad);
	assert_int_equal(n, 1);
	assert_int_equal(bad, 0);
	assert_memory_equal(r[0].mac, mac, 6);
	assert_int_equal(r[0].label, 100);
	assert_string_equal(r[0].vtep, "198.18.0.1");
	n = parse(rib, "65000:200", r, 4, &bad);
	assert_int_equal(n, 1);
	assert_memory_equal(r[0].mac, mac, 6);
	assert_int_equal(r[0].label, 200);
	assert_string_equal(r[0].vtep, "198.18.0.2");
	assert_int_equal(parse(rib, "65000:300", r, 4, &bad), 0);
}

/*
 * One route target for two VNIs (a hand-set RT, or a remote that shares
 * one): each route's label says its VNI, and it is installed there only.
 */
static void one_rt_two_vnis(void **state)
{
	static const char rib[] = "{" MACADV(100, "198.18.0.1") "}";
	struct evpn_route r[2];
	unsigned n, bad;

	(void)state;
	n = parse(rib, "65000:100", r, 2, &bad);
	assert_int_equal(n, 1);
	assert_true(evpn_route_in_vni(&r[0], 100));
	assert_false(evpn_route_in_vni(&r[0], 200));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(captured),
		cmocka_unit_test(broken),
		cmocka_unit_test(same_mac_two_vnis),
		cmocka_unit_test(one_rt_two_vnis),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
