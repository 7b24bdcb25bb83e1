// SPDX-License-Identifier: MIT
/*
 * ports.c - one way from a port spec to a port of the switch: `--port`,
 * `--config` and `pvnet port add` all come through ctl_port_add(), so a
 * spec means the same thing at start and at run time; `pvnet port`, the
 * client of the control socket's port requests (docs/ctl.md).
 *
 * At run time the switch may already be behind its sandbox (docs/
 * security.md): it runs as --user (nobody by default), so a new socket's
 * directory must be writable by that user, and the seccomp allowlist has
 * what a vhost port needs (socket, bind, listen, chmod) but not what the
 * uplinks need (open of /dev/net/tun, AF_PACKET sockets, files), nor the
 * user database for a group name: those are refused with a message
 * instead of stopping the switch on a forbidden call.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_internal.h"
#include "pvnet/ctl.h"
#include "pvnet/log.h"

/* A listener of another process at @path (a connect succeeds). */
static bool path_has_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path) || lstat(path, &st) < 0 ||
	    !S_ISSOCK(st.st_mode))
		return false;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	/* Non-blocking: a full backlog (EAGAIN) is a listener too. */
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	rc = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return rc;
}

/*
 * What the sandbox would stop the process for: any type but vhost, and a
 * vhost group= that is a name (getgrnam reads /etc/group).
 */
static int sandbox_refuses(const char *spec, char *err, size_t errlen)
{
	static const char *const uplinks[] = { "tap", "afpacket", "pcap", "gen",
						"vxlan" };
	size_t tl = strcspn(spec, ",");
	const char *g;

	for (size_t i = 0; i < ARRAY_SIZE(uplinks); i++) {
		if (tl != strlen(uplinks[i]) || strncmp(spec, uplinks[i], tl))
			continue;
		snprintf(err, errlen, "only vhost ports can be added while the "
			 "switch runs behind its sandbox (a %.*s port needs system "
			 "calls the allowlist forbids): start the switch with it, or "
			 "with --no-sandbox --user root", (int)tl, spec);
		return -EPERM;
	}
	for (g = strstr(spec, "group="); g; g = strstr(g + 1, "group=")) {
		size_t l = strcspn(g + 6, ",");

		if ((g == spec || g[-1] == ',') && strspn(g + 6, "0123456789") != l) {
			snprintf(err, errlen, "group= must be a number (gid) while "
				 "the switch runs behind its sandbox");
			return -EPERM;
		}
	}
	return 0;
}

int ctl_port_add(struct sw *sw, const char *spec, unsigned flags,
		 struct port **out, char *err, size_t errlen)
{
	/* a refused port leaves the networks as they were (they are never
	 * deleted and there are 16: refused adds would use them up) */
	unsigned nets = sw->nnets;
	char why[200];
	struct port *p;
	const char *path;
	int rc;

	if ((flags & CTL_PORT_SANDBOXED) &&
	    (rc = sandbox_refuses(spec, err, errlen)) < 0)
		return rc;
	p = port_create(sw, spec, err, errlen);
	if (!p) {
		sw_net_forget(sw, nets);
		return -EINVAL;
	}
	rc = sw_port_check(sw, p, err, errlen);
	if (rc < 0)
		goto fail;
	path = p->ops->sock_path ? p->ops->sock_path(p) : NULL;
	if (flags & CTL_PORT_START) {
		/* A live socket of another process is not a stale one to replace. */
		if (path && !p->reopens_by_path && path_has_listener(path)) {
			snprintf(err, errlen, "port %s: socket path %s in use "
				 "(another process listens on it)", p->name, path);
			rc = -EADDRINUSE;
			goto fail;
		}
		rc = p->ops->start ? p->ops->start(p, sw->loop) : 0;
		if (rc < 0) {
			snprintf(why, sizeof(why), "%s", strerror(-rc));
			if (path)
				snprintf(err, errlen, "port %s: cannot start on %s: %s%s",
					 p->name, path, why, rc == -EACCES ?
					 " (the switch may run as another user: "
					 "see --user)" : "");
			else
				snprintf(err, errlen, "port %s: cannot start: %s",
					 p->name, why);
			goto fail;
		}
	}
	rc = sw_port_add(sw, p);
	if (rc < 0) {
		snprintf(err, errlen, "port %s: cannot add: %s", p->name,
			 strerror(-rc));
		goto fail;
	}
	if (out)
		*out = p;
	return 0;
fail:
	p->ops->destroy(p);
	sw_net_forget(sw, nets);
	return rc;
}

int ctl_port_del(struct sw *sw, const char *name, char *err, size_t errlen)
{
	struct port *p = sw_port_find(sw, name);
	int rc;

	if (!p) {
		snprintf(err, errlen, "no port named %s", name);
		return -ENOENT;
	}
	rc = sw_port_del(sw, p);
	if (rc < 0)
		snprintf(err, errlen, "port %s: cannot delete: %s", name,
			 strerror(-rc));
	return rc;
}

json_t *ctl_port_json(struct port *p)
{
	json_t *o = json_object();
	const char *path = p->ops->sock_path ? p->ops->sock_path(p) : NULL;
	char mac[18];

	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "type", json_string(p->ops->type));
	json_object_set_new(o, "index", json_integer(p->idx));
	if (p->sw)
		json_object_set_new(o, "network", json_string(p->sw->net_name[p->net]));
	if (p->has_mac)
		json_object_set_new(o, "mac", json_string(pv_mac_fmt(p->mac, mac)));
	if (path)
		json_object_set_new(o, "path", json_string(path));
	json_object_set_new(o, "uplink", json_boolean(p->uplink));
	json_object_set_new(o, "queues", json_integer(p->ops->rx_queues ?
						      p->ops->rx_queues(p) : 0));
	return o;
}

/* ---- `pvnet port`: the client ---- */

static void port_usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet port add --ctl PATH SPEC\n"
		"       pvnet port del --ctl PATH NAME\n"
		"       pvnet port list --ctl PATH [--json]\n"
		"\n"
		"Adds, deletes or lists the ports of a running `pvnet switch`\n"
		"through its control socket (docs/ctl.md), without disturbing the\n"
		"other ports.\n"
		"\n"
		"  add SPEC   a new port; SPEC exactly as `pvnet switch --port`\n"
		"             takes it, e.g. vhost,name=vm3,path=/run/vm3.sock,\n"
		"             mac=52:54:00:00:00:03. Its socket is created by the\n"
		"             switch as the user it runs as (--user, nobody by\n"
		"             default), so the directory must be writable by it;\n"
		"             behind the sandbox (the default) only vhost ports\n"
		"             can be added, and group= must be a number\n"
		"  del NAME   deletes the port: frames in flight are delivered or\n"
		"             returned, its connection closed, its socket file\n"
		"             removed, the MAC table forgets it\n"
		"  list       the ports: name, type, index, MAC, socket path\n"
		"  --ctl PATH the switch's control socket (its --ctl)\n"
		"  --json     list: print the raw JSON reply\n"
		"\n"
		"Errors (a duplicate name, MAC or socket path, a bad spec, an unknown\n"
		"name, too many ports) are printed on stderr and the exit status is\n"
		"1; the switch goes on. 2: a usage error.\n");
}

/* Sends @req and parses the reply; NULL with a message printed on failure. */
static json_t *port_request(const char *what, const char *path, const char *req)
{
	char *reply = NULL;
	json_error_t jerr;
	json_t *j;
	int rc = ctl_request(path, req, &reply);

	if (rc < 0) {
		fprintf(stderr, "pvnet port %s: %s: %s\n", what, path, strerror(-rc));
		return NULL;
	}
	j = json_loads(reply, 0, &jerr);
	free(reply);
	if (!j || !json_is_object(j)) {
		fprintf(stderr, "pvnet port %s: bad reply from %s\n", what, path);
		json_decref(j);
		return NULL;
	}
	if (json_object_get(j, "error")) {
		const char *e = json_string_value(json_object_get(j, "error"));

		/* A switch from before protocol 1 knows only "stats". */
		if (e && !strncmp(e, "unknown command", 15))
			fprintf(stderr, "pvnet port %s: the switch at %s does not "
				"know runtime ports (%s)\n", what, path, e);
		else
			fprintf(stderr, "pvnet port %s: %s\n", what, e ? e : "error");
		json_decref(j);
		return NULL;
	}
	return j;
}

static void print_list(json_t *j)
{
	json_t *p;
	size_t i;

	printf("%-16s %-8s %5s %-12s %-17s %s\n", "name", "type", "index", "network",
	       "mac", "path");
	json_array_foreach(json_object_get(j, "ports"), i, p) {
		const char *mac = json_string_value(json_object_get(p, "mac"));
		const char *path = json_string_value(json_object_get(p, "path"));
		const char *net = json_string_value(json_object_get(p, "network"));

		printf("%-16s %-8s %5lld %-12s %-17s %s\n",
		       json_string_value(json_object_get(p, "name")),
		       json_string_value(json_object_get(p, "type")),
		       (long long)json_integer_value(json_object_get(p, "index")),
		       net ? net : "-", mac ? mac : "-", path ? path : "-");
	}
}

int ctl_port_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *what;
	char req[CTL_LINE_MAX];
	bool as_json = false;
	json_t *j;
	int c;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		port_usage(stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "del") &&
			 strcmp(argv[1], "list"))) {
		port_usage(stderr);
		return 2;
	}
	what = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			port_usage(stdout);
			return 0;
		default:
			port_usage(stderr);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "pvnet port %s: --ctl PATH is required\n", what);
		return 2;
	}
	if (!strcmp(what, "list")) {
		if (optind != argc) {
			fprintf(stderr, "pvnet port list: unexpected argument '%s'\n",
				argv[optind]);
			return 2;
		}
		j = port_request(what, path, "port list");
		if (!j)
			return 1;
		if (as_json) {
			char *s = json_dumps(j, JSON_COMPACT);

			printf("%s\n", s ? s : "{}");
			free(s);
		} else {
			print_list(j);
		}
		json_decref(j);
		return 0;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "pvnet port %s: want exactly one %s (see pvnet port "
			"--help)\n", what, !strcmp(what, "add") ? "SPEC" : "NAME");
		return 2;
	}
	if (strchr(argv[optind], '\n') ||
	    (size_t)snprintf(req, sizeof(req), "port %s %s", what, argv[optind]) >=
	    sizeof(req)) {
		fprintf(stderr, "pvnet port %s: argument too long or has a newline\n",
			what);
		return 2;
	}
	j = port_request(what, path, req);
	if (!j)
		return 1;
	if (!strcmp(what, "add"))
		printf("port %s added\n", json_string_value(json_object_get(
		       json_object_get(j, "port"), "name")));
	else
		printf("port %s deleted\n", argv[optind]);
	json_decref(j);
	return 0;
}
