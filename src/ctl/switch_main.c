// SPDX-License-Identifier: MIT
/* switch_main.c - `pvnet switch`: parse ports, start them, run the loop */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_internal.h"
#include "pvnet/ctl.h"
#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "pvnet/switch.h"
#include "pvnet/virtio.h"

#define TICK_NS		100000000ULL

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void switch_usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet switch --port SPEC [--port SPEC ...] [--ctl PATH] [OPTIONS]\n"
		"\n"
		"Runs the switch. Guests attach over vhost-user; in the default mode\n"
		"(direct) frames go to the port whose mac= matches the destination,\n"
		"broadcast and multicast go to every other port, unknown unicast goes to\n"
		"the uplink port if there is one, else it is dropped and counted.\n"
		"\n"
		"  --port vhost,name=NAME,path=SOCK[,client][,queues=N][,mac=MAC]\n"
		"        [,mtu=N][,memslots=off][,tso=off][,packed=off][,inorder=off]\n"
		"        [,mode=0660][,group=GROUP][,migration=off][,announce=rarp]\n"
		"               a vhost-user guest port: pvnet listens on SOCK (or\n"
		"               connects to it with 'client', retrying every second);\n"
		"               queues=N offers N queue pairs (1..16); mac= is the\n"
		"               guest's address, used to forward to it; mtu=N (68..\n"
		"               65535) is the largest MTU the frontend may announce\n"
		"               to the guest (QEMU's host_mtu; NET_SET_MTU above it\n"
		"               is refused and counted in vhost.mtu_refused);\n"
		"               tso=off hides TSO both ways; memslots=off refuses\n"
		"               ADD_MEM_REG; packed=off does not offer packed rings\n"
		"               (VIRTIO_F_RING_PACKED): frontends use split ones;\n"
		"               inorder=off does not offer VIRTIO_F_IN_ORDER (chains\n"
		"               are used in the order made available either way);\n"
		"               SOCK is created mode 0600 whatever the umask: mode=\n"
		"               (octal) and group= open it to QEMU running as another\n"
		"               user; each connection logs the peer's pid, uid, gid;\n"
		"               live migration is offered (dirty logging, the guest\n"
		"               announces itself after the move) unless migration=off;\n"
		"               announce=rarp: the switch sends a RARP for it instead;\n"
		"               in direct mode two vhost ports may share a mac= (both\n"
		"               sides of a migration): frames go to the running one\n"
		"  --port tap,name=NAME,ifname=IF[,netns=NS][,tso=off]   an uplink TAP\n"
		"               (vnet header; large TCP packets cross it whole unless\n"
		"               tso=off)\n"
		"  --port afpacket,name=NAME,ifname=IF[,tso=off]   an uplink on a host\n"
		"               interface (AF_PACKET; large TCP packets cross it whole\n"
		"               unless tso=off, which also turns GRO off on IF)\n"
		"  --port pcap,name=NAME,in=FILE[,out=FILE][,gso=on]  replay / capture\n"
		"  --port gen,name=NAME,dst=MAC[,flows=N][,mss=M][,rate=PPS][,count=N]\n"
		"               [,csum=valid|verify]   a synthetic TCP sender (benchmarks)\n"
		"  --port vxlan,name=NAME,vni=N,local=IP[,remote=IP]...[,dstport=4789]\n"
		"               [,udpcsum=on|off][,mtu=N][,macs=N]   a VXLAN tunnel endpoint\n"
		"               over the host's UDP (IPv4 or IPv6): floods to every remote,\n"
		"               learns remote MACs; inner frames up to the underlay MTU\n"
		"               - 50 (IPv4) / - 70 (IPv6) + 14 (docs/vxlan.md)\n"
		"               Several VNIs on one port and socket: vni=NETWORK:VNI\n"
		"               (repeated, one per network, no network=), remote=IP for\n"
		"               every VNI or remote=NETWORK:IP for one\n"
		"               Uplinks (tap, afpacket, pcap, gen, vxlan) get unknown unicast:\n"
		"               the first one on the command line (of the frame's network)\n"
		"               tap and afpacket also take vlan=NETWORK:VID (repeated,\n"
		"               VID 1..4094): an 802.1Q trunk, NETWORK's frames tagged\n"
		"               VID, untagged ones in network= (untagged=drop: none);\n"
		"               an unknown VID is dropped (vlan_unknown; docs/networks.md)\n"
		"  Every port takes network=NAME (default: default): broadcast, multicast,\n"
		"               unknown unicast and the MAC table are per network, the\n"
		"               same MAC may be in two; up to 16 networks (docs/networks.md)\n"
		"  --ctl PATH   control socket for `pvnet stats` and `pvnet port`\n"
		"               (mode 0600; protocol: docs/ctl.md); created after\n"
		"               every port's socket, so it answering means ready.\n"
		"               Ports can be added and deleted at run time with\n"
		"               `pvnet port add|del --ctl PATH` (see pvnet port --help)\n"
		"  --metrics ADDR:PORT  serve the counters over HTTP at GET /metrics\n"
		"               for Prometheus (off by default): 127.0.0.1:9464,\n"
		"               [::1]:9464, 0.0.0.0:9464 for every interface; the\n"
		"               same text as `pvnet stats --format openmetrics`\n"
		"               (docs/stats.md). Unauthenticated and plain HTTP: bind\n"
		"               it to loopback or a management network\n"
		"  --workers N  dataplane threads polling the ports' queues (default 1)\n"
		"  --notify MODE  poll: busy-poll; event: sleep until a kick;\n"
		"               adaptive (default): poll while busy, sleep after\n"
		"               --idle-us microseconds without work (default 50)\n"
		"  --irq-coalesce US  a guest's receive interrupt waits up to US\n"
		"               microseconds while the worker keeps finding work, so\n"
		"               one call covers what arrives meanwhile; a round without\n"
		"               work raises it at once (default 50; 0: no wait)\n"
		"  --budget N   packets per queue per poll round (default 64)\n"
		"  --mode MODE  direct (default): static MAC table from the ports' mac=;\n"
		"               learn: a learning bridge (ageing, unknown unicast floods)\n"
		"  --ageing S   learn mode: forget a MAC after S seconds (default 300)\n"
		"  --mac-limit N  learn mode: at most N learned MACs per port (default\n"
		"               256 of the table's 4096; 0: only the table's size);\n"
		"               refused source MACs count in the port's mac_refused\n"
		"  --copy MODE  single (default): each byte copied once, sender's buffer\n"
		"               to receiver's; double: through a switch buffer (baseline;\n"
		"               no GRO: a held packet would point into that buffer)\n"
		"  --gro POLICY  TCP receive aggregation toward guests that take\n"
		"               large packets: off, poll (flush when each poll round ends),\n"
		"               every=N (every N rounds), adaptive (default: hold while\n"
		"               input keeps coming); add ,timeout=US to bound the hold\n"
		"               (poll, every=N: from a flow's first segment, default\n"
		"               100; adaptive: from its newest, default 50, and\n"
		"               ,max=US from its first, default 1000 or the timeout\n"
		"               if larger, >= timeout)\n"
		"  --gro-linearize  copy each aggregated packet into one buffer first,\n"
		"               as the original LRO did at the bridge (baseline)\n"
		"  --stage-cycles  time each worker's stages (stage_cycles in stats and\n"
		"               metrics; five TSC reads per burst; off: those stay 0)\n"
		"  --config FILE  a JSON file with the same settings (see docs/config.md);\n"
		"               options after it on the command line override it\n"
		"  --check-config FILE  check FILE (and any other options) as the\n"
		"               switch would, without starting anything or opening a\n"
		"               device, socket or file; prints OK and exits 0, or the\n"
		"               file, port or key at fault and exits 2\n"
		"  --user USER  once every port and the control socket exist and\n"
		"               before the workers start, run as USER (groups, gid,\n"
		"               uid dropped; no capability left). Default when started\n"
		"               as root: nobody, unless a vhost port is a client (it\n"
		"               reconnects by path); --user root keeps root\n"
		"  --sandbox[=log]  then install a seccomp allowlist on every thread\n"
		"               (docs/security.md): on by default; a forbidden call is\n"
		"               named on stderr and stops the process; =log: the\n"
		"               kernel logs it (dmesg) and allows it\n"
		"  --no-sandbox  no seccomp allowlist\n"
		"  --log-format FMT  plain: \"pvnet: LEVEL: message\"; journal: \"<N>message\"\n"
		"               with N the syslog priority, which journald keeps as\n"
		"               the line's level; auto (default): journal when stderr\n"
		"               is the stream $JOURNAL_STREAM names (a systemd service)\n"
		"  -v           debug logging\n"
		"\n"
		"Stops on SIGINT or SIGTERM.\n");
}

static int switch_run(int argc, char **argv, const char *check);

/* One line: which protections are on, and why any is off. */
/* Called behind the filter: @euid was read before it. */
static void protect_log(const struct ctl_protect *pr, unsigned euid)
{
	char who[256];

	if (pr->drop)
		snprintf(who, sizeof(who), "running as %s (uid %u, gid %u)",
			 pr->user, pr->uid, pr->gid);
	else if (euid == 0)
		snprintf(who, sizeof(who), "root kept (%s)", pr->drop_why);
	else
		snprintf(who, sizeof(who), "running as uid %u", euid);
	if (pr->sandbox)
		pv_info("switch: protections: seccomp allowlist installed%s, %s",
			pr->sandbox_log ? " (log only)" : "", who);
	else
		pv_info("switch: protections: sandbox off (%s), %s",
			pr->sandbox_why, who);
}

int ctl_switch_main(int argc, char **argv)
{
	char **cargv = NULL, **all;
	int cargc = 0, rc, n = 0;
	const char *cfg = NULL, *check = NULL;
	char err[256];

	/* --config FILE becomes the options it stands for, placed first. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			cfg = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			cfg = argv[i] + 9;
		else if (!strcmp(argv[i], "--check-config") && i + 1 < argc)
			check = argv[i + 1];
		else if (!strncmp(argv[i], "--check-config=", 15))
			check = argv[i] + 15;
	}
	if (check) {
		if (cfg && strcmp(cfg, check)) {
			fprintf(stderr, "pvnet switch: --check-config checks one file, "
				"not --config %s as well\n", cfg);
			return 2;
		}
		cfg = check;
	}
	if (!cfg)
		return switch_run(argc, argv, NULL);
	if (ctl_config_argv(cfg, &cargc, &cargv, err, sizeof(err)) < 0) {
		fprintf(stderr, "pvnet switch: %s: %s\n",
			check ? "--check-config" : "--config", err);
		return 2;
	}
	all = calloc((size_t)(cargc + argc + 1), sizeof(*all));
	if (!all)
		return 1;
	for (int i = 0; i < cargc; i++)
		all[n++] = cargv[i];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") ||
		    !strcmp(argv[i], "--check-config")) {
			i++;
			continue;
		}
		if (!strncmp(argv[i], "--config=", 9) ||
		    !strncmp(argv[i], "--check-config=", 15))
			continue;
		all[n++] = argv[i];
	}
	rc = switch_run(n, all, check);
	if (check && rc)
		fprintf(stderr, "pvnet switch: --check-config: %s is not valid "
			"(the line above says why)\n", check);
	for (int i = 0; i < cargc; i++)
		free(cargv[i]);
	free(cargv);
	free(all);
	return rc;
}

/*
 * Runs the switch, or with @check (the file being checked) stops once the
 * options and every port's spec are checked, before anything is opened.
 */
static int switch_run(int argc, char **argv, const char *check)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "notify", required_argument, NULL, 'n' },
		{ "budget", required_argument, NULL, 'b' },
		{ "idle-us", required_argument, NULL, 'i' },
		{ "irq-coalesce", required_argument, NULL, 'Q' },
		{ "mode", required_argument, NULL, 'M' },
		{ "ageing", required_argument, NULL, 'A' },
		{ "mac-limit", required_argument, NULL, 'K' },
		{ "copy", required_argument, NULL, 'C' },
		{ "gro", required_argument, NULL, 'G' },
		{ "gro-linearize", no_argument, NULL, 'L' },
		{ "stage-cycles", no_argument, NULL, 'T' },
		{ "user", required_argument, NULL, 'U' },
		{ "sandbox", optional_argument, NULL, 'S' },
		{ "no-sandbox", no_argument, NULL, 'N' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *specs[SW_MAX_PORTS];
	unsigned nspecs = 0;
	const char *ctl_path = NULL;
	struct ctl_server *cs = NULL;
	const char *metrics_addr = NULL;
	struct ctl_metrics *ms = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t next_tick;
	struct dp_cfg dcfg = { .workers = 1, .notify = DP_NOTIFY_ADAPTIVE,
			       .budget = 64, .idle_us = 50,
			       .irq_coalesce_us = 50 };
	struct dp *dp = NULL;
	enum sw_mode mode = SW_MODE_DIRECT;
	unsigned ageing_s = 300, mac_limit = SW_MAC_LIMIT_DEFAULT;
	bool copy_double = false, linearize = false, gro_set = false;
	int want_sandbox = -1;
	bool sandbox_log = false;
	const char *user = NULL, *reopen_port = NULL;
	struct ctl_protect pr;
	unsigned euid = (unsigned)geteuid();
	struct sw *sw;
	char err[256];
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "p:c:hv", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (nspecs == SW_MAX_PORTS) {
				fprintf(stderr, "pvnet switch: at most %d ports\n",
					SW_MAX_PORTS);
				return 2;
			}
			specs[nspecs++] = optarg;
			break;
		case 'c':
			ctl_path = optarg;
			break;
		case 'm': {
			struct sockaddr_storage ss;
			unsigned sslen;

			if (ctl_metrics_parse_addr(optarg, &ss, &sslen) < 0) {
				fprintf(stderr, "pvnet switch: --metrics wants A.B.C.D:PORT or [IPV6]:PORT, not '%s'\n",
					optarg);
				return 2;
			}
			metrics_addr = optarg;
			break;
		}
		case 'v':
			pv_log_set_level(PV_LOG_DEBUG);
			break;
		case 'w':
		case 'b':
		case 'i':
		case 'Q': {
			char *end;
			long v = strtol(optarg, &end, 10);
			long max = c == 'w' ? DP_MAX_WORKERS : c == 'b' ? 4096 :
				   c == 'Q' ? 10000 : 1000000;
			long min = c == 'i' || c == 'Q' ? 0 : 1;

			if (!*optarg || *end || v < min || v > max) {
				fprintf(stderr, "pvnet switch: --%s wants %ld..%ld\n",
					c == 'w' ? "workers" : c == 'b' ? "budget" :
					c == 'Q' ? "irq-coalesce" : "idle-us",
					min, max);
				return 2;
			}
			if (c == 'w')
				dcfg.workers = (unsigned)v;
			else if (c == 'b')
				dcfg.budget = (unsigned)v;
			else if (c == 'Q')
				dcfg.irq_coalesce_us = (unsigned)v;
			else
				dcfg.idle_us = (unsigned)v;
			break;
		}
		case 'M':
			if (sw_mode_parse(optarg, &mode) < 0) {
				fprintf(stderr, "pvnet switch: --mode wants direct or learn\n");
				return 2;
			}
			break;
		case 'A': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (!*optarg || *end || v < 1 || v > 1000000) {
				fprintf(stderr, "pvnet switch: --ageing wants 1..1000000 seconds\n");
				return 2;
			}
			ageing_s = (unsigned)v;
			break;
		}
		case 'K': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (!*optarg || *end || v < 0 || v > FDB_SLOTS) {
				fprintf(stderr, "pvnet switch: --mac-limit wants 0..%d MACs\n",
					FDB_SLOTS);
				return 2;
			}
			mac_limit = (unsigned)v;
			break;
		}
		case 'G':
			gro_set = true;
			if (gro_cfg_parse(optarg, &dcfg.gro) < 0) {
				fprintf(stderr, "pvnet switch: --gro wants off, poll[,timeout=US], every=N[,timeout=US]\n"
					"  or adaptive[,timeout=US][,max=US] (1..1000000 us, max >= timeout)\n");
				return 2;
			}
			break;
		case 'L':
			linearize = true;
			break;
		case 'T':
			dcfg.stage_cycles = true;
			break;
		case 'U':
			user = optarg;
			break;
		case 'S':
			if (optarg && strcmp(optarg, "log")) {
				fprintf(stderr, "pvnet switch: --sandbox takes no value or =log\n");
				return 2;
			}
			want_sandbox = 1;
			sandbox_log = optarg != NULL;
			break;
		case 'N':
			want_sandbox = 0;
			break;
		case 'F': {
			enum pv_log_format f;

			if (pv_log_format_parse(optarg, &f) < 0) {
				fprintf(stderr, "pvnet switch: --log-format wants plain, journal or auto\n");
				return 2;
			}
			pv_log_set_format(f);
			break;
		}
		case 'C':
			if (strcmp(optarg, "single") && strcmp(optarg, "double")) {
				fprintf(stderr, "pvnet switch: --copy wants single or double\n");
				return 2;
			}
			copy_double = !strcmp(optarg, "double");
			break;
		case 'n':
			if (dp_notify_parse(optarg, &dcfg.notify) < 0) {
				fprintf(stderr, "pvnet switch: --notify wants poll, event or adaptive\n");
				return 2;
			}
			break;
		case 'h':
			switch_usage(stdout);
			return 0;
		default:
			switch_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvnet switch: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!nspecs) {
		fprintf(stderr, "pvnet switch: at least one --port is required "
			"(see pvnet switch --help)\n");
		return 2;
	}

	if (!gro_set && gro_cfg_parse("adaptive", &dcfg.gro) < 0)
		return 1;
	dcfg.gro.linearize = linearize;
	sw = sw_create(mode, ageing_s);
	if (!sw) {
		fprintf(stderr, "pvnet switch: out of memory\n");
		return 1;
	}
	sw->copy_double = copy_double;
	sw->mac_limit = mac_limit;	/* before the ports: each gets it */
	sw->check_only = check != NULL;
	/* The same path as `pvnet port add`; started below, with the dp. */
	for (unsigned i = 0; i < nspecs; i++) {
		if (ctl_port_add(sw, specs[i], 0, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "pvnet switch: %s\n", err);
			rc = 2;
			goto out;
		}
	}
	/*
	 * Before any guest memory is mapped and any worker runs: a frontend
	 * that shrinks its memory file stops its own port, not the switch.
	 */
	if (gmem_guard_install() < 0) {
		fprintf(stderr, "pvnet switch: cannot install the SIGBUS guard: %s\n",
			strerror(errno));
		rc = 2;
		goto out;
	}
	for (unsigned i = 0; i < sw->nports && !reopen_port; i++)
		if (sw->ports[i]->reopens_by_path)
			reopen_port = sw->ports[i]->name;
	if (ctl_protect_plan(want_sandbox, sandbox_log, user, euid == 0,
			     reopen_port, &pr, err, sizeof(err)) < 0) {
		fprintf(stderr, "pvnet switch: %s\n", err);
		rc = 2;
		goto out;
	}
	if (check) {
		printf("pvnet switch: %s: OK, %u port(s):", check, sw->nports);
		for (unsigned i = 0; i < sw->nports; i++)
			printf(" %s (%s)", sw->ports[i]->name,
			       sw->ports[i]->ops->type);
		printf("\n");
		rc = 0;
		goto out;
	}
	dp = dp_create(sw, &dcfg);
	if (!dp) {
		fprintf(stderr, "pvnet switch: cannot create the dataplane\n");
		goto out;
	}
	for (unsigned i = 0; i < sw->nports; i++) {
		struct port *p = sw->ports[i];
		int e = p->ops->start ? p->ops->start(p, sw->loop) : 0;

		if (e < 0) {
			fprintf(stderr, "pvnet switch: port %s: cannot start: %s\n",
				p->name, strerror(-e));
			goto out;
		}
	}
	/* before the control socket: it answering means ready */
	if (metrics_addr) {
		ms = ctl_metrics_create(metrics_addr, sw);
		if (!ms)
			goto out;
		pv_info("metrics: serving GET /metrics on %s (port %u)",
			metrics_addr, ctl_metrics_port(ms));
	}
	if (ctl_path) {
		cs = ctl_server_create(ctl_path, sw);
		if (!cs)
			goto out;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Every socket listens now (connections wait in their backlog until
	 * the loop runs): ready for systemd, told while still allowed to
	 * reach its socket whatever the user and the allowlist.
	 */
	{
		int e = ctl_sd_notify("READY=1");

		if (e < 0)
			pv_warn("switch: cannot tell systemd it is ready "
				"($NOTIFY_SOCKET): %s", strerror(-e));
	}
	/*
	 * Least privilege, once everything that needed privilege exists and
	 * before the workers start: no packet is handled with more.
	 */
	if (pr.sandbox)
		json_object_seed(0);	/* jansson reads /dev/urandom once: now */
	if (pr.drop) {
		int e = ctl_drop_user(pr.uid, pr.gid);

		if (e < 0) {
			fprintf(stderr, "pvnet switch: --user %s: %s\n", pr.user,
				strerror(-e));
			goto out;
		}
	}
	if (pr.sandbox) {
		int e = ctl_sandbox(pr.sandbox_log);

		if (e < 0) {
			fprintf(stderr, "pvnet switch: --sandbox: %s\n", strerror(-e));
			goto out;
		}
	}
	protect_log(&pr, euid);
	/* `pvnet port add` from now on: only what the allowlist lets through. */
	ctl_server_set_sandboxed(cs, pr.sandbox);
	if (dp_start(dp) < 0)
		goto out;
	pv_info("switch: %u port(s) up, mode %s, %s copy%s%s", sw->nports,
		mode == SW_MODE_LEARN ? "learn" : "direct",
		copy_double ? "double" : "single",
		ctl_path ? ", control socket " : "", ctl_path ? ctl_path : "");

	/* The control thread: vhost-user sockets, control socket, timers. */
	next_tick = pv_now_ns() + TICK_NS;
	while (!stop_requested) {
		uint64_t now;

		if (pv_loop_run_once(sw->loop, 100) < 0)
			break;
		now = pv_now_ns();
		if (now >= next_tick) {
			for (unsigned i = 0; i < sw->nports; i++)
				if (sw->ports[i]->ops->tick)
					sw->ports[i]->ops->tick(sw->ports[i], now);
			next_tick = now + TICK_NS;
		}
	}
	pv_info("switch: stopping");
	rc = 0;
out:
	ctl_server_destroy(cs);
	ctl_metrics_destroy(ms);
	/* Workers first: ports must outlive every poll. */
	dp_destroy(dp);
	sw_destroy(sw);
	return rc;
}
