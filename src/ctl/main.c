// SPDX-License-Identifier: MIT
/* main.c - the pvnet binary: subcommand dispatch, --help and version */
#include <stdio.h>
#include <string.h>

#include "pvnet/ctl.h"
#include "pvnet/log.h"

#ifndef PVNET_VERSION
#define PVNET_VERSION "unknown"
#endif

struct subcmd {
	const char *name;
	int (*run)(int argc, char **argv);	/* NULL: not built yet */
	const char *summary;
};

static int version_main(int argc, char **argv);
static int help_main(int argc, char **argv);

static const struct subcmd subcmds[] = {
	{ "switch", ctl_switch_main,
	  "run the switch: vhost-user guest ports, MAC forwarding, stats" },
	{ "guest", ctl_guest_main,
	  "virtio-user frontend: attach a TAP in a namespace, or gen/sink" },
	{ "stats", ctl_stats_main,
	  "print a running switch's per-port counters and drops" },
	{ "port", ctl_port_main,
	  "add, delete or list a running switch's ports (add|del|list)" },
	{ "top", ctl_top_main,
	  "show a running switch's packet, byte and drop rates, refreshed" },
	{ "evpn", ctl_evpn_main,
	  "BGP EVPN for a vxlan port through GoBGP: no remote= lists" },
	{ "bench", ctl_bench_main,
	  "run benchmark scenarios and write results" },
	{ "demo", ctl_demo_main,
	  "show the seed papers' optimisations end to end" },
	{ "version", version_main, "print the version" },
	{ "help", help_main, "print this help" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet COMMAND [OPTIONS]\n"
		"\n"
		"pvnet is a userspace paravirtual network switch: VMs and containers\n"
		"attach over vhost-user virtqueues.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		fprintf(f, "  %-8s %s%s\n", subcmds[i].name, subcmds[i].summary,
			subcmds[i].run ? "" : " (not built yet)");
	fprintf(f, "\n'pvnet COMMAND --help' describes a command's options.\n");
}

static int version_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("pvnet %s\n", PVNET_VERSION);
	return 0;
}

static int help_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	/* Under systemd, lines keep their level in the journal. */
	pv_log_set_format(pv_log_format_auto());
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return help_main(argc, argv);
	if (!strcmp(argv[1], "--version"))
		return version_main(argc, argv);

	for (size_t i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++) {
		if (strcmp(argv[1], subcmds[i].name))
			continue;
		if (!subcmds[i].run) {
			fprintf(stderr, "pvnet: '%s' is not built yet\n",
				subcmds[i].name);
			return 3;
		}
		return subcmds[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "pvnet: unknown command '%s' (see pvnet --help)\n",
		argv[1]);
	return 2;
}
