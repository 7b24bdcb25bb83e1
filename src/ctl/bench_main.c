// SPDX-License-Identifier: MIT
/*
 * bench_main.c - `pvnet bench`: runs the benchmark scenarios of
 * bench/run.sh, which drives this same binary (switch, guests) and the
 * peers, and writes results.json, a CSV, markdown tables and charts.
 *
 * The script is found next to the binary (BIN/../bench/run.sh, the source
 * tree layout), or where PVNET_BENCH_DIR points.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvnet/bench_report.h"
#include "pvnet/ctl.h"

static int find_script(char *out, size_t len, const char *exe)
{
	const char *dir = getenv("PVNET_BENCH_DIR");
	char base[PATH_MAX], *slash;

	if (dir) {
		snprintf(out, len, "%s/run.sh", dir);
		return access(out, R_OK);
	}
	snprintf(base, sizeof(base), "%s", exe);
	slash = strrchr(base, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	/* build/pvnet -> bench/run.sh; also an installed BIN/../share/pvnet. */
	snprintf(out, len, "%s/../bench/run.sh", base);
	if (!access(out, R_OK))
		return 0;
	snprintf(out, len, "%s/../share/pvnet/bench/run.sh", base);
	return access(out, R_OK);
}

int ctl_bench_main(int argc, char **argv)
{
	char exe[PATH_MAX], script[PATH_MAX + 64];
	char **args;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		fprintf(stderr, "pvnet bench: cannot find my own binary: %s\n",
			strerror(errno));
		return 1;
	}
	exe[n] = '\0';
	if (argc > 1 && !strcmp(argv[1], "report"))
		return ctl_bench_report_main(argc - 1, argv + 1);
	if (find_script(script, sizeof(script), exe) < 0) {
		fprintf(stderr, "pvnet bench: bench/run.sh not found next to %s "
			"(set PVNET_BENCH_DIR)\n", exe);
		return 1;
	}
	args = calloc((size_t)argc + 4, sizeof(*args));
	if (!args)
		return 1;
	args[0] = "bash";
	args[1] = script;
	args[2] = "--pvnet";
	args[3] = exe;
	for (int i = 1; i < argc; i++)
		args[3 + i] = argv[i];
	execvp("bash", args);
	fprintf(stderr, "pvnet bench: cannot run bash: %s\n", strerror(errno));
	free(args);
	return 1;
}

/*
 * `pvnet demo`: the seed papers' effects in about a minute, as quick runs
 * of three scenarios (lro, copy, notify), printed as tables; charts and
 * results.json go to ./pvnet-demo (or --out DIR).
 */
int ctl_demo_main(int argc, char **argv)
{
	char *args[16] = { "bench", "--quick", "--out", "pvnet-demo" };
	int n = 4;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: pvnet demo [--out DIR]\n\n"
			       "Runs quick versions of the lro, copy and notify benchmark\n"
			       "scenarios (see pvnet bench --help) and prints their tables;\n"
			       "results.json, CSV and charts go to DIR (default ./pvnet-demo).\n");
			return 0;
		}
		if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			args[3] = argv[++i];
			continue;
		}
		fprintf(stderr, "pvnet demo: unknown argument '%s'\n", argv[i]);
		return 2;
	}
	args[n++] = "lro";
	args[n++] = "copy";
	args[n++] = "notify";
	args[n] = NULL;
	return ctl_bench_main(n, args);
}
