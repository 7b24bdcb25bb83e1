// SPDX-License-Identifier: MIT
/* switch_main.c - `pvnet switch`: parse ports, start them, run the loop */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"
#include "pvnet/ctl.h"
#include "pvnet/log.h"
#include "pvnet/switch.h"

#define TICK_NS		100000000ULL
#define POLL_BUDGET	256

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void switch_usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet switch --port SPEC [--port SPEC ...] [--ctl PATH] [-v]\n"
		"\n"
		"Runs the switch. Guests attach over vhost-user; frames go to the port\n"
		"whose mac= matches the destination (direct MAC routing), broadcast and\n"
		"multicast go to every other port, unknown unicast is dropped and counted.\n"
		"\n"
		"  --port vhost,name=NAME,path=SOCK[,client][,queues=N][,mac=MAC]\n"
		"        [,memslots=off]\n"
		"               a vhost-user guest port: pvnet listens on SOCK (or\n"
		"               connects to it with 'client', retrying every second);\n"
		"               queues=N offers N queue pairs (1..16); mac= is the\n"
		"               guest's address, used to forward to it\n"
		"               memslots=off: do not offer CONFIGURE_MEM_SLOTS (the\n"
		"               frontend then sends SET_MEM_TABLE, not ADD_MEM_REG)\n"
		"  --ctl PATH   control socket for `pvnet stats --ctl PATH`; created\n"
		"               after every port's socket, so it answering means ready\n"
		"  -v           debug logging\n"
		"\n"
		"Stops on SIGINT or SIGTERM.\n");
}

int ctl_switch_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *specs[SW_MAX_PORTS];
	unsigned nspecs = 0;
	const char *ctl_path = NULL;
	struct ctl_server *cs = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t next_tick;
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
		case 'v':
			pv_log_set_level(PV_LOG_DEBUG);
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

	sw = sw_create();
	if (!sw) {
		fprintf(stderr, "pvnet switch: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < nspecs; i++) {
		struct port *p = port_create(sw, specs[i], err, sizeof(err));

		if (!p) {
			fprintf(stderr, "pvnet switch: %s\n", err);
			rc = 2;
			goto out;
		}
		if (sw_port_add(sw, p) < 0) {
			fprintf(stderr, "pvnet switch: port %s: duplicate name or mac\n",
				p->name);
			p->ops->destroy(p);
			rc = 2;
			goto out;
		}
	}
	for (unsigned i = 0; i < sw->nports; i++) {
		struct port *p = sw->ports[i];
		int e = p->ops->start(p, sw->loop);

		if (e < 0) {
			fprintf(stderr, "pvnet switch: port %s: cannot start: %s\n",
				p->name, strerror(-e));
			goto out;
		}
	}
	if (ctl_path) {
		cs = ctl_server_create(ctl_path, sw);
		if (!cs)
			goto out;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pv_info("switch: %u port(s) up%s%s", sw->nports,
		ctl_path ? ", control socket " : "", ctl_path ? ctl_path : "");

	next_tick = pv_now_ns() + TICK_NS;
	while (!stop_requested) {
		bool busy = false;
		uint64_t now;

		for (unsigned i = 0; i < sw->nports; i++)
			busy |= sw->ports[i]->busy;
		if (pv_loop_run_once(sw->loop, busy ? 0 : 100) < 0)
			break;
		for (unsigned i = 0; i < sw->nports; i++) {
			struct port *p = sw->ports[i];

			if (p->busy && p->ops->poll)
				p->ops->poll(p, POLL_BUDGET);
		}
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
	sw_destroy(sw);
	return rc;
}
