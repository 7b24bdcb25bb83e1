// SPDX-License-Identifier: MIT
/* bench_main.c - `pvnet bench` (scenarios arrive with the bench issue) */
#include <stdio.h>

#include "pvnet/ctl.h"

int ctl_bench_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "pvnet: 'bench' is not built yet; the ring micro-benchmark "
		"is build/bench/bench_vring\n");
	return 3;
}
