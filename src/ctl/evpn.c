// SPDX-License-Identifier: MIT
/*
 * evpn.c - `pvnet evpn`: BGP EVPN for a vxlan port through GoBGP
 * (docs/evpn.md). pvnet speaks no BGP: this agent runs beside the switch
 * and a gobgpd, and every round (--interval)
 *   1. reads the switch's MAC table (`fdb list`) and the vxlan port
 *      (`vxlan list`) over the control socket;
 *   2. reads GoBGP's EVPN RIB (`gobgp global rib -a evpn -j`);
 *   3. advertises each local MAC as a type-2 route and the port's VTEP as
 *      one type-3 route, withdraws the type-2 routes of MACs that left;
 *   4. installs the other VTEPs' routes of the port's route target into
 *      the port: type-3 -> remotes (flooding), type-2 -> static MACs.
 * Everything is a difference between what is and what should be, computed
 * again from scratch each round, so a restart of gobgpd, of the switch or
 * of the agent converges by itself. The agent keeps no state between
 * rounds. gobgp runs through posix_spawn with a deadline; a failing or
 * hung one is killed, logged and tried again next round.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_internal.h"
#include "pvnet/ctl.h"
#include "pvnet/evpn.h"
#include "pvnet/log.h"
#include "pvnet/pkt.h"

extern char **environ;

#define EVPN_ROUTES_MAX	16384
#define EVPN_OUT_MAX	(32u << 20)	/* gobgp's output we read at most */
#define GOBGP_ARGS_MAX	16

struct evpn {
	const char *ctl, *port, *vtep, *gobgp;
	char *gargv[GOBGP_ARGS_MAX];	/* --gobgp-opts, split; owned */
	unsigned ngargs;
	unsigned long asn;
	char rd_opt[EVPN_RT_MAX], rt_opt[EVPN_RT_MAX];	/* --rd, --rt */
	unsigned interval_ms, timeout_ms;
	/* The VNI being worked on, its RD and RT (defaults VTEP:VNI, ASN:VNI). */
	uint32_t vni;
	char rd[EVPN_RT_MAX], rt[EVPN_RT_MAX];
	const char *vni_sfx;	/* " vni N" on the port's requests, or "" */
	char sfx[24];
	struct evpn_route *routes;	/* EVPN_ROUTES_MAX, owned */
	/* Counters, printed at exit and with each failure. */
	unsigned long rounds, gobgp_fail, ctl_fail, bad_routes;
	unsigned long advertised, withdrawn, installed, removed;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * Runs gobgp with @args after the --gobgp-opts, its stdout in *out
 * (malloc'd, NUL-ended) if @out; killed past the deadline. 0 if it exited
 * 0, else -1 (logged).
 */
static int gobgp_run(struct evpn *e, const char *const *args, char **out)
{
	char *argv[GOBGP_ARGS_MAX + 32];
	unsigned n = 0;
	posix_spawn_file_actions_t fa;
	int pfd[2], st = 0, rc = -1;
	pid_t pid;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct timespec t0;
	bool timed_out = false;

	argv[n++] = (char *)e->gobgp;
	for (unsigned i = 0; i < e->ngargs; i++)
		argv[n++] = e->gargv[i];
	for (unsigned i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	if (posix_spawnp(&pid, e->gobgp, &fa, NULL, argv, environ) != 0) {
		pv_warn("evpn: cannot run %s: %s", e->gobgp, strerror(errno));
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec t;
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		long left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = (long)e->timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
					      (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			timed_out = true;
			break;
		}
		if (cap - len < 65536) {
			char *nb;

			if (cap >= EVPN_OUT_MAX)
				break;
			nb = realloc(buf, cap ? cap * 2 : 65536);
			if (!nb)
				break;
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		r = read(pfd[0], buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(pfd[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		pv_warn("evpn: gobgp %s %s: no answer in %u ms, killed", args[0],
			args[1] ? args[1] : "", e->timeout_ms);
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		pv_warn("evpn: gobgp %s %s ... failed (status %d)", args[0],
			args[1] ? args[1] : "", st);
	else
		rc = 0;
	if (rc == 0 && out) {
		if (!buf)
			buf = calloc(1, 1);
		if (buf)
			buf[len] = '\0';
		*out = buf;
		return buf ? 0 : -1;
	}
	free(buf);
	if (rc)
		e->gobgp_fail++;
	return rc;
}

/* One request to the switch, its reply parsed (caller owns); NULL if none. */
static json_t *ctl_json(struct evpn *e, const char *req)
{
	char *reply = NULL;
	json_t *j = NULL;

	if (ctl_request(e->ctl, req, &reply) == 0 && reply)
		j = json_loads(reply, 0, NULL);
	if (!j || json_object_get(j, "error")) {
		pv_warn("evpn: ctl %s: %s", req, reply ? reply : "no answer");
		e->ctl_fail++;
		json_decref(j);
		j = NULL;
	}
	free(reply);
	return j;
}

static void mac_str(const uint8_t m[6], char *s)
{
	snprintf(s, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		 m[4], m[5]);
}

static void macadv(struct evpn *e, bool add, const char *mac)
{
	char label[16];
	const char *a[] = { "global", "rib", "-a", "evpn", add ? "add" : "del",
		"macadv", mac, "0.0.0.0", "etag", "0", "label", label, "rd", e->rd,
		"rt", e->rt, "encap", "vxlan", "nexthop", e->vtep, NULL };

	snprintf(label, sizeof(label), "%u", e->vni);
	if (!add)
		a[14] = NULL;	/* a withdraw names the route: no attributes */
	if (gobgp_run(e, a, NULL) == 0) {
		pv_info("evpn: %s type-2 %s vni %u", add ? "advertised" : "withdrew",
			mac, e->vni);
		if (add)
			e->advertised++;
		else
			e->withdrawn++;
	}
}

static void multicast(struct evpn *e)
{
	char label[16];
	const char *a[] = { "global", "rib", "-a", "evpn", "add", "multicast",
		e->vtep, "etag", "0", "rd", e->rd, "rt", e->rt, "encap", "vxlan",
		"pmsi", "ingress-repl", label, e->vtep, "nexthop", e->vtep, NULL };

	snprintf(label, sizeof(label), "%u", e->vni);
	if (gobgp_run(e, a, NULL) == 0) {
		pv_info("evpn: advertised type-3 %s vni %u", e->vtep, e->vni);
		e->advertised++;
	}
}

static bool mac_in_json(json_t *arr, const char *key, const char *mac)
{
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o) {
		const char *m = json_string_value(json_object_get(o, key));

		if (m && !strcasecmp(m, mac))
			return true;
	}
	return false;
}

static void ctl_change(struct evpn *e, const char *req, unsigned long *count)
{
	json_t *j = ctl_json(e, req);

	if (j) {
		pv_info("evpn: %s", req);
		(*count)++;
	}
	json_decref(j);
}

/*
 * One VNI of the port (@vo: its entry of `vxlan list`): routes of its
 * route target against its network's MACs, its remotes and static MACs.
 */
static void round_vni(struct evpn *e, const char *rib, json_t *fdb, json_t *vo)
{
	json_t *locals, *macs, *remotes, *o;
	char m[18], req[200];
	struct evpn_route *r = e->routes;
	const char *pnet = json_string_value(json_object_get(vo, "network"));
	unsigned n = 0, bad = 0;
	bool own3 = false;
	size_t i;

	if (evpn_rib_parse(rib, strlen(rib), e->rt, r, EVPN_ROUTES_MAX, &n,
			   &bad) < 0) {
		pv_warn("evpn: gobgp's RIB is not a JSON object; next round");
		e->gobgp_fail++;
		return;
	}
	if (bad) {
		e->bad_routes += bad;
		pv_warn("evpn: %u route(s) of gobgp's RIB skipped as malformed "
			"(%lu so far)", bad, e->bad_routes);
	}
	/* A target shared by several VNIs: each route's label places it. */
	for (unsigned k = 0, w = 0, all = n; k < all; k++) {
		if (evpn_route_in_vni(&r[k], e->vni))
			r[w++] = r[k];
		else
			n--;
	}
	locals = json_array();
	json_array_foreach(json_object_get(fdb, "macs"), i, o) {
		const char *net = json_string_value(json_object_get(o, "network"));

		/* MACs behind the tunnel are the other VTEPs' to announce. */
		if (!strcmp(json_string_value(json_object_get(o, "type")) ?: "",
			    "vxlan"))
			continue;
		/* Only the VNI's network (docs/networks.md) is the VNI's. */
		if (net && pnet && strcmp(net, pnet))
			continue;
		json_array_append(locals, o);
	}
	/* Ours in the RIB: withdraw what left, note what is there. */
	for (unsigned k = 0; k < n; k++) {
		if (strcmp(r[k].vtep, e->vtep))
			continue;
		if (r[k].type == EVPN_MULTICAST) {
			own3 = true;
			continue;
		}
		mac_str(r[k].mac, m);
		if (!mac_in_json(locals, "mac", m))
			macadv(e, false, m);
	}
	if (!own3)
		multicast(e);
	json_array_foreach(locals, i, o) {
		const char *lm = json_string_value(json_object_get(o, "mac"));
		bool there = false;

		for (unsigned k = 0; k < n && lm; k++) {
			mac_str(r[k].mac, m);
			if (r[k].type == EVPN_MACADV && !strcmp(r[k].vtep, e->vtep) &&
			    !strcasecmp(m, lm))
				there = true;
		}
		if (lm && !there)
			macadv(e, true, lm);
	}
	/* Theirs: the port's remotes and static MACs follow the RIB. */
	remotes = json_object_get(vo, "remotes");
	macs = json_object_get(vo, "macs");
	for (unsigned k = 0; k < n; k++) {
		bool have = false;

		if (!strcmp(r[k].vtep, e->vtep))
			continue;
		if (r[k].type == EVPN_MULTICAST) {
			json_t *s;
			size_t q;

			json_array_foreach(remotes, q, s)
				if (!strcmp(json_string_value(s) ?: "", r[k].vtep))
					have = true;
			if (!have) {
				snprintf(req, sizeof(req), "vxlan remote add %s %s%s",
					 e->port, r[k].vtep, e->vni_sfx);
				ctl_change(e, req, &e->installed);
			}
			continue;
		}
		mac_str(r[k].mac, m);
		if (mac_in_json(locals, "mac", m))
			continue;	/* here now: the local port wins */
		json_array_foreach(macs, i, o)
			if (!strcasecmp(json_string_value(json_object_get(o, "mac")) ?: "", m) &&
			    !strcmp(json_string_value(json_object_get(o, "vtep")) ?: "",
				    r[k].vtep))
				have = true;
		if (!have) {
			snprintf(req, sizeof(req), "vxlan mac add %s %s %s%s",
				 e->port, m, r[k].vtep, e->vni_sfx);
			ctl_change(e, req, &e->installed);
		}
	}
	{
		json_t *s;

		json_array_foreach(remotes, i, s) {
			const char *ip = json_string_value(s);
			bool want = false;

			for (unsigned k = 0; k < n && ip; k++)
				if (r[k].type == EVPN_MULTICAST &&
				    strcmp(r[k].vtep, e->vtep) && !strcmp(r[k].vtep, ip))
					want = true;
			if (ip && !want) {
				snprintf(req, sizeof(req), "vxlan remote del %s %s%s",
					 e->port, ip, e->vni_sfx);
				ctl_change(e, req, &e->removed);
			}
		}
	}
	json_array_foreach(macs, i, o) {
		const char *sm = json_string_value(json_object_get(o, "mac"));
		const char *sv = json_string_value(json_object_get(o, "vtep"));
		bool want = false;

		for (unsigned k = 0; k < n && sm && sv; k++) {
			mac_str(r[k].mac, m);
			if (r[k].type == EVPN_MACADV && !strcasecmp(m, sm) &&
			    strcmp(r[k].vtep, e->vtep) && !mac_in_json(locals, "mac", m))
				want = true;
		}
		if (sm && !want) {
			snprintf(req, sizeof(req), "vxlan mac del %s %s%s", e->port,
				 sm, e->vni_sfx);
			ctl_change(e, req, &e->removed);
		}
	}
	json_decref(locals);
}

static void round_once(struct evpn *e)
{
	json_t *vx = NULL, *fdb = NULL, *port = NULL, *vnis, *o;
	char *rib = NULL;
	const char *ribargs[] = { "-j", "global", "rib", "-a", "evpn", NULL };
	size_t i;

	e->rounds++;
	vx = ctl_json(e, "vxlan list");
	fdb = ctl_json(e, "fdb list");
	if (!vx || !fdb)
		goto out;
	json_array_foreach(json_object_get(vx, "ports"), i, o)
		if (!strcmp(json_string_value(json_object_get(o, "name")) ?: "",
			    e->port))
			port = o;
	if (!port) {
		pv_warn("evpn: the switch has no vxlan port %s", e->port);
		e->ctl_fail++;
		goto out;
	}
	vnis = json_object_get(port, "vnis");
	if (json_array_size(vnis) > 1 && (e->rd_opt[0] || e->rt_opt[0])) {
		pv_warn("evpn: port %s carries %zu VNIs: --rd and --rt name one "
			"(each VNI takes VTEP:VNI and ASN:VNI)", e->port,
			json_array_size(vnis));
		e->ctl_fail++;
		goto out;
	}
	if (gobgp_run(e, ribargs, &rib) < 0)
		goto out;
	json_array_foreach(vnis, i, o) {
		uint32_t vni = (uint32_t)json_integer_value(json_object_get(o, "vni"));

		if (e->vni != vni || !e->rd[0]) {
			e->vni = vni;
			if (e->rd_opt[0])
				snprintf(e->rd, sizeof(e->rd), "%s", e->rd_opt);
			else
				snprintf(e->rd, sizeof(e->rd), "%s:%u", e->vtep, vni);
			if (e->rt_opt[0])
				snprintf(e->rt, sizeof(e->rt), "%s", e->rt_opt);
			else
				snprintf(e->rt, sizeof(e->rt), "%lu:%u", e->asn, vni);
			if (e->rounds == 1)
				pv_info("evpn: port %s vni %u (network %s), vtep %s, "
					"rd %s, rt %s", e->port, vni,
					json_string_value(json_object_get(o, "network")) ?: "?",
					e->vtep, e->rd, e->rt);
		}
		/* A port of one VNI keeps the requests of before. */
		snprintf(e->sfx, sizeof(e->sfx), " vni %u", vni);
		e->vni_sfx = json_array_size(vnis) > 1 ? e->sfx : "";
		round_vni(e, rib, fdb, o);
	}
out:
	free(rib);
	json_decref(vx);
	json_decref(fdb);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet evpn --ctl PATH --port NAME --vtep IP --asn N [options]\n"
		"\n"
		"BGP EVPN for a vxlan port of a running switch through a GoBGP daemon\n"
		"(gobgpd) beside it: advertises the switch's MACs as type-2 routes and\n"
		"the port's VTEP as a type-3 route, and installs the other VTEPs' routes\n"
		"into the port (remotes for flooding, static MAC entries). Runs until\n"
		"SIGINT or SIGTERM; docs/evpn.md has the setup.\n"
		"\n"
		"  --ctl PATH          the switch's control socket\n"
		"  --port NAME         the vxlan port (its vni= is the VNI; a port of\n"
		"                      several VNIs: each, with its own RD and RT)\n"
		"  --vtep IP           the next hop advertised: the port's local= address\n"
		"  --asn N             the BGP AS, for the route target ASN:VNI\n"
		"  --rd RD             route distinguisher (default VTEP:VNI; one VNI only)\n"
		"  --rt RT             route target (default ASN:VNI, as FRR's auto RT;\n"
		"                      one VNI only)\n"
		"  --gobgp PATH        the gobgp CLI (default gobgp, from PATH)\n"
		"  --gobgp-opts OPTS   options for every gobgp run, split at spaces\n"
		"                      (e.g. \"-p 50051\" or \"--target unix:///run/gobgp.sock\")\n"
		"  --interval MS       time between rounds (default 1000)\n"
		"  --timeout MS        a gobgp run that takes longer is killed (default 5000)\n"
		"  --once              one round, then exit (status 1 if anything failed)\n"
		"  -h, --help          this help\n"
		"\n"
		"The agent owns the port's remotes and static MACs: it removes those no\n"
		"route asks for, so give the port no remote= when it runs.\n");
}

int ctl_evpn_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "vtep", required_argument, NULL, 'v' },
		{ "asn", required_argument, NULL, 'a' },
		{ "rd", required_argument, NULL, 'd' },
		{ "rt", required_argument, NULL, 't' },
		{ "gobgp", required_argument, NULL, 'g' },
		{ "gobgp-opts", required_argument, NULL, 'o' },
		{ "interval", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct evpn e = { .gobgp = "gobgp", .interval_ms = 1000, .timeout_ms = 5000 };
	struct sigaction sa = { .sa_handler = on_signal };
	bool once = false;
	char *gopts = NULL, *tok, *save, *end;
	uint8_t a[16];
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': e.ctl = optarg; break;
		case 'p': e.port = optarg; break;
		case 'v': e.vtep = optarg; break;
		case 'a':
			e.asn = strtoul(optarg, &end, 10);
			if (*end || !e.asn || e.asn > 65535) {
				fprintf(stderr, "pvnet evpn: --asn: 1..65535 (a 2-byte AS: "
					"the route target is ASN:VNI)\n");
				return 2;
			}
			break;
		case 'd': snprintf(e.rd_opt, sizeof(e.rd_opt), "%s", optarg); break;
		case 't': snprintf(e.rt_opt, sizeof(e.rt_opt), "%s", optarg); break;
		case 'g': e.gobgp = optarg; break;
		case 'o': gopts = optarg; break;
		case 'i':
		case 'T': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v < 10 || v > 600000) {
				fprintf(stderr, "pvnet evpn: --%s: 10..600000 ms\n",
					c == 'i' ? "interval" : "timeout");
				return 2;
			}
			*(c == 'i' ? &e.interval_ms : &e.timeout_ms) = (unsigned)v;
			break;
		}
		case '1': once = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !e.ctl || !e.port || !e.vtep || (!e.asn && !e.rt_opt[0])) {
		fprintf(stderr, "pvnet evpn: --ctl, --port, --vtep and --asn (or --rt) "
			"are required (--help)\n");
		return 2;
	}
	if (inet_pton(AF_INET, e.vtep, a) != 1 && inet_pton(AF_INET6, e.vtep, a) != 1) {
		fprintf(stderr, "pvnet evpn: --vtep %s is not an IP address\n", e.vtep);
		return 2;
	}
	if (gopts) {
		gopts = strdup(gopts);
		for (tok = strtok_r(gopts, " ", &save); tok && e.ngargs < GOBGP_ARGS_MAX;
		     tok = strtok_r(NULL, " ", &save))
			e.gargv[e.ngargs++] = tok;
	}
	e.routes = calloc(EVPN_ROUTES_MAX, sizeof(*e.routes));
	if (!e.routes) {
		free(gopts);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pv_info("evpn: port %s of %s, vtep %s, gobgp %s, every %u ms", e.port, e.ctl,
		e.vtep, e.gobgp, e.interval_ms);
	while (!stop) {
		unsigned long fails = e.gobgp_fail + e.ctl_fail;

		round_once(&e);
		if (once) {
			rc = e.gobgp_fail + e.ctl_fail > fails;
			break;
		}
		usleep(e.interval_ms * 1000);
	}
	pv_info("evpn: %lu rounds: %lu advertised, %lu withdrawn, %lu installed, "
		"%lu removed; failures: %lu gobgp, %lu ctl; %lu bad routes",
		e.rounds, e.advertised, e.withdrawn, e.installed, e.removed,
		e.gobgp_fail, e.ctl_fail, e.bad_routes);
	free(e.routes);
	free(gopts);
	return rc;
}
