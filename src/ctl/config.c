// SPDX-License-Identifier: MIT
/*
 * config.c - `pvnet switch --config FILE`: a JSON file equivalent to the
 * command line. It is turned into the same options, so both are parsed and
 * checked by one piece of code; options given on the command line after
 * --config override the file's.
 *
 *   {"ctl": "/run/pvnet.ctl", "workers": 2, "notify": "adaptive",
 *    "budget": 64, "idle_us": 50, "mode": "direct", "ageing": 300,
 *    "mac_limit": 256, "metrics": "127.0.0.1:9464",
 *    "copy": "single", "gro": "adaptive,timeout=50,max=1000",
 *    "gro_linearize": false,
 *    "ports": [ {"type": "vhost", "name": "vm1", "path": "/run/vm1.sock",
 *                "mac": "52:54:00:00:00:01", "queues": 2},
 *               "tap,name=up,ifname=tap0" ]}
 *
 * A port is an object (type plus options; true is a bare flag such as
 * "client") or the same string --port takes.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

struct argv_buf {
	char **v;
	int n, cap;
};

static int push(struct argv_buf *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		int cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, sizeof(*v) * (size_t)cap);

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n] = strdup(s);
	if (!a->v[a->n])
		return -ENOMEM;
	a->v[++a->n] = NULL;
	return 0;
}

static int push_opt(struct argv_buf *a, const char *opt, json_t *val,
		    char *err, size_t errlen)
{
	char buf[64];
	const char *s;

	if (json_is_string(val)) {
		s = json_string_value(val);
	} else if (json_is_integer(val)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(val));
		s = buf;
	} else if (json_is_true(val)) {
		return push(a, opt);	/* a flag: "gro_linearize": true */
	} else if (json_is_false(val)) {
		return 0;
	} else {
		snprintf(err, errlen, "'%s' wants a string or a number", opt + 2);
		return -EINVAL;
	}
	if (push(a, opt) < 0 || push(a, s) < 0)
		return -ENOMEM;
	return 0;
}

static int port_spec(json_t *p, char *out, size_t len, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	size_t off;

	if (json_is_string(p)) {
		snprintf(out, len, "%s", json_string_value(p));
		return 0;
	}
	if (!json_is_object(p) || !json_is_string(json_object_get(p, "type"))) {
		snprintf(err, errlen, "a port wants a string or an object with \"type\"");
		return -EINVAL;
	}
	off = (size_t)snprintf(out, len, "%s",
			       json_string_value(json_object_get(p, "type")));
	json_object_foreach(p, key, v) {
		if (!strcmp(key, "type") || off >= len)
			continue;
		/*
		 * "vlans": {"red": 10, ...}: one vlan=NETWORK:VID each;
		 * "vnis": {"red": 100, ...}: one vni=NETWORK:VNI each (vxlan)
		 */
		if ((!strcmp(key, "vlans") || !strcmp(key, "vnis")) &&
		    json_is_object(v)) {
			bool vni = !strcmp(key, "vnis");
			const char *net;
			json_t *vid;

			json_object_foreach(v, net, vid) {
				if (!json_is_integer(vid)) {
					snprintf(err, errlen, "\"%s\": network '%s' wants a "
						 "%s (a number)", key, net,
						 vni ? "VNI" : "VID");
					return -EINVAL;
				}
				off += (size_t)snprintf(out + off, len - off, ",%s=%s:%lld",
							vni ? "vni" : "vlan", net,
							(long long)json_integer_value(vid));
				if (off >= len)
					break;
			}
			continue;
		}
		if (json_is_true(v))
			off += (size_t)snprintf(out + off, len - off, ",%s", key);
		else if (json_is_string(v))
			off += (size_t)snprintf(out + off, len - off, ",%s=%s", key,
						json_string_value(v));
		else if (json_is_integer(v))
			off += (size_t)snprintf(out + off, len - off, ",%s=%lld", key,
						(long long)json_integer_value(v));
		else if (!json_is_false(v)) {
			snprintf(err, errlen, "port option '%s' wants a string, a number or true",
				 key);
			return -EINVAL;
		}
	}
	if (off >= len) {
		snprintf(err, errlen, "a port's options are too long");
		return -EINVAL;
	}
	return 0;
}

int ctl_config_argv(const char *path, int *argc, char ***argv, char *err,
		    size_t errlen)
{
	static const struct { const char *key, *opt; } map[] = {
		{ "ctl", "--ctl" }, { "workers", "--workers" },
		{ "notify", "--notify" }, { "budget", "--budget" },
		{ "idle_us", "--idle-us" }, { "mode", "--mode" },
		{ "irq_coalesce_us", "--irq-coalesce" },
		{ "ageing", "--ageing" }, { "copy", "--copy" },
		{ "gro", "--gro" }, { "gro_linearize", "--gro-linearize" },
		{ "stage_cycles", "--stage-cycles" },
		{ "mac_limit", "--mac-limit" },
		{ "metrics", "--metrics" },
	};
	struct argv_buf a = { 0 };
	json_error_t jerr;
	json_t *root, *ports, *v;
	const char *key;
	int rc = -EINVAL;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: the top level must be an object", path);
		goto out;
	}
	if (push(&a, "switch") < 0)
		goto nomem;
	json_object_foreach(root, key, v) {
		size_t i;

		if (!strcmp(key, "ports"))
			continue;
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (!strcmp(key, map[i].key))
				break;
		if (i == sizeof(map) / sizeof(map[0])) {
			snprintf(err, errlen, "%s: unknown key '%s'", path, key);
			goto out;
		}
		if (push_opt(&a, map[i].opt, v, err, errlen) < 0)
			goto out;
	}
	ports = json_object_get(root, "ports");
	if (ports && !json_is_array(ports)) {
		snprintf(err, errlen, "%s: \"ports\" must be an array", path);
		goto out;
	}
	for (size_t i = 0; ports && i < json_array_size(ports); i++) {
		char spec[512];

		if (port_spec(json_array_get(ports, i), spec, sizeof(spec), err,
			      errlen) < 0)
			goto out;
		if (push(&a, "--port") < 0 || push(&a, spec) < 0)
			goto nomem;
	}
	*argc = a.n;
	*argv = a.v;
	json_decref(root);
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
out:
	for (int i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	json_decref(root);
	return rc;
}
