// SPDX-License-Identifier: MIT
/*
 * stubs.c - subcommands whose modules are not built yet: they say so and
 * exit non-zero. Each one moves to its module when that lands.
 */
#include <stdio.h>

#include "pvnet/ctl.h"

static int not_built(const char *name)
{
	fprintf(stderr, "pvnet: '%s' is not built yet\n", name);
	return 3;
}

int ctl_switch_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_built("switch");
}

int ctl_stats_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_built("stats");
}

int ctl_guest_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_built("guest");
}

int ctl_bench_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_built("bench");
}
