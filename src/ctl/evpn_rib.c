// SPDX-License-Identifier: MIT
/*
 * evpn_rib.c - GoBGP's JSON RIB to EVPN routes (evpn.h). The shape, from
 * GoBGP 3.10 (tests/unit/test_evpn.c has captured text):
 *   {"PREFIX": [{"nlri": {"type": 2, "value": {"rd": {...}, "mac": "..",
 *     "ip": "..", "labels": [VNI]}}, "best": true, "attrs": [
 *     {"type": 16, "value": [{"type": 0, "subtype": 2, "value": "ASN:VNI"}]},
 *     {"type": 22, "tunnel-id": "IP", "label": VNI},
 *     {"type": 14, "nexthop": "IP", ...}]}], ...}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "pvnet/evpn.h"
#include "pvnet/pkt.h"

static bool ip_ok(const char *s)
{
	uint8_t a[16];

	if (!s || strlen(s) >= EVPN_IP_MAX)
		return false;
	if (inet_pton(AF_INET, s, a) == 1)
		return a[0] | a[1] | a[2] | a[3];
	if (inet_pton(AF_INET6, s, a) == 1) {
		static const uint8_t zero[16];

		return memcmp(a, zero, 16) != 0;
	}
	return false;
}

/* True if the extended communities of @attrs have route target @rt. */
static bool has_rt(json_t *attrs, const char *rt)
{
	size_t i, k;
	json_t *a, *c;

	json_array_foreach(attrs, i, a) {
		if (json_integer_value(json_object_get(a, "type")) != 16)
			continue;
		json_array_foreach(json_object_get(a, "value"), k, c) {
			const char *v = json_string_value(json_object_get(c, "value"));

			/* subtype 2: route target, whatever its format type */
			if (json_integer_value(json_object_get(c, "subtype")) == 2 &&
			    v && !strcmp(v, rt))
				return true;
		}
	}
	return false;
}

static json_t *attr(json_t *attrs, json_int_t type)
{
	size_t i;
	json_t *a;

	json_array_foreach(attrs, i, a)
		if (json_integer_value(json_object_get(a, "type")) == type)
			return a;
	return NULL;
}

/* 1: a route in *r; 0: not ours to take (type, target); -1: malformed. */
static int path_parse(json_t *path, const char *rt, struct evpn_route *r)
{
	json_t *nlri = json_object_get(path, "nlri"), *v, *attrs, *rd, *a;
	json_int_t type = json_integer_value(json_object_get(nlri, "type"));
	const char *s;

	if (!json_is_object(nlri) || !json_is_integer(json_object_get(nlri, "type")))
		return -1;
	if (type != EVPN_MACADV && type != EVPN_MULTICAST)
		return 0;
	attrs = json_object_get(path, "attrs");
	v = json_object_get(nlri, "value");
	if (!json_is_array(attrs) || !json_is_object(v))
		return -1;
	if (!has_rt(attrs, rt))
		return 0;
	memset(r, 0, sizeof(*r));
	r->type = (enum evpn_type)type;
	rd = json_object_get(v, "rd");
	if (json_is_object(rd))
		snprintf(r->rd, sizeof(r->rd), "%lld:%lld",
			 (long long)json_integer_value(json_object_get(rd, "admin")),
			 (long long)json_integer_value(json_object_get(rd, "assigned")));
	if (type == EVPN_MACADV) {
		json_t *labels = json_object_get(v, "labels");
		json_int_t l;

		if (pv_mac_parse(json_string_value(json_object_get(v, "mac")) ?: "",
				 r->mac) < 0 || (r->mac[0] & 1))
			return -1;
		l = json_integer_value(json_array_get(labels, 0));
		if (!json_is_integer(json_array_get(labels, 0)) || l < 0 ||
		    l > 0xffffff)
			return -1;
		r->label = (uint32_t)l;
		s = json_string_value(json_object_get(attr(attrs, 14), "nexthop"));
	} else {
		json_t *l;

		a = attr(attrs, 22);
		s = json_string_value(json_object_get(a, "tunnel-id"));
		if (!s)
			s = json_string_value(json_object_get(v, "ip"));
		l = json_object_get(a, "label");
		if (l && (!json_is_integer(l) || json_integer_value(l) < 0 ||
			  json_integer_value(l) > 0xffffff))
			return -1;
		r->label = (uint32_t)json_integer_value(l);	/* 0 if none */
	}
	if (!ip_ok(s))
		return -1;
	snprintf(r->vtep, sizeof(r->vtep), "%s", s);
	return 1;
}

int evpn_rib_parse(const char *text, size_t len, const char *rt,
		   struct evpn_route *out, unsigned max, unsigned *n,
		   unsigned *bad)
{
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	const char *key;
	json_t *paths;

	*n = 0;
	*bad = 0;
	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	json_object_foreach(root, key, paths) {
		json_t *best = NULL, *p;
		size_t i;
		int rc;

		if (!json_is_array(paths)) {
			(*bad)++;
			continue;
		}
		/* The best path only: the others lost to it in GoBGP. */
		json_array_foreach(paths, i, p)
			if (json_is_true(json_object_get(p, "best"))) {
				best = p;
				break;
			}
		if (!best)
			best = json_array_get(paths, 0);
		if (!best)
			continue;
		if (*n == max) {
			(*bad)++;
			continue;
		}
		rc = path_parse(best, rt, &out[*n]);
		if (rc < 0)
			(*bad)++;
		else if (rc > 0)
			(*n)++;
	}
	json_decref(root);
	return 0;
}

bool evpn_route_in_vni(const struct evpn_route *r, uint32_t vni)
{
	return !r->label || r->label == vni;
}
