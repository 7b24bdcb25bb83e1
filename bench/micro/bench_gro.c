// SPDX-License-Identifier: MIT
/*
 * bench_gro.c - GRO micro-benchmark: TSC cycles per 1448-byte TCP segment
 * through a GRO table (1 and 4 interleaved flows), against GRO off, with a
 * no-op delivery (the engine's own cost) and with one copy of every
 * delivered packet into a destination buffer (what a guest receive costs
 * on top). Frames are pre-built and pre-parsed, as the switch parses once.
 * Each cell is the best of 3 runs. Not a test: prints a table.
 *
 * Usage: bench_gro [SEGMENTS [POLICY FLOWS]]: with POLICY and FLOWS one
 * cell only (trusted checksums, no copy, one run): what callgrind counts
 * (instructions per segment, docs/gro.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

#include "../../tests/unit/gro_frames.h"

#define NFRAMES		2880	/* 64 packets of 45 per flow, 4 flows */
#define BURST		32

static uint8_t dstbuf[GRO_HDR_MAX + GRO_MAX_LEN];
static struct tf_frame frames[NFRAMES];
static bool do_copy;
static uint64_t delivered;

static void deliver_pkt(const struct pkt *p)
{
	delivered++;
	if (do_copy)
		pv_iov_to_buf(p->seg, p->nseg, 0, dstbuf, sizeof(dstbuf));
}

static void deliver(void *arg, struct gro_out *o)
{
	(void)arg;
	deliver_pkt(&o->pkt);
}

static void build(unsigned flows, bool trusted)
{
	char spec[64];

	tf_free(frames, NFRAMES);
	memset(frames, 0, sizeof(frames));
	for (unsigned i = 0; i < NFRAMES; i++) {
		static struct tf_flowstate fs[TF_FLOWS];
		struct tf_seg s;

		if (!i)
			memset(fs, 0, sizeof(fs));
		snprintf(spec, sizeof(spec), "d|flow=%u%s", i % flows,
			 trusted ? "|valid" : "");
		if (tf_token(spec, &s, fs, 0))
			exit(1);
		tf_build(&frames[i], &s, false, 0);
	}
}

static double run(const char *policy, bool linearize, uint64_t segs,
		  double *segs_per_pkt)
{
	struct gro_cfg cfg = { .linearize = linearize };
	struct gro_table *t;
	uint64_t t0, t1, now = 0;
	unsigned k = 0;

	if (gro_cfg_parse(policy, &cfg))
		exit(1);
	t = gro_table_create(&cfg, deliver, NULL);
	delivered = 0;
	t0 = __rdtsc();
	for (uint64_t n = 0; n < segs; n += BURST) {
		for (unsigned b = 0; b < BURST; b++) {
			struct gro_ref ref = { .cookie = k };
			struct tf_frame *f = &frames[k];

			if (!gro_receive(t, &f->p, ref, 0, 0, now))
				deliver_pkt(&f->p);
			if (++k == NFRAMES)
				k = 0;
		}
		now += 2000;	/* 32 x 1.5 KB at ~25 Gbit/s */
		gro_poll_end(t, BURST, now);
	}
	gro_flush_all(t);
	t1 = __rdtsc();
	gro_table_destroy(t);
	*segs_per_pkt = (double)segs / (double)delivered;
	return (double)(t1 - t0) / (double)segs;
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: bench_gro [SEGMENTS [POLICY FLOWS]]\n"
		"  cycles per 1448 B segment through a GRO table, every policy,\n"
		"  1 and 4 flows (default 2000000 segments); with POLICY (a --gro\n"
		"  spec) and FLOWS (1..%u) one cell, one run (for callgrind)\n",
		TF_FLOWS);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t segs = 2000000;
	static const struct {
		const char *policy;
		bool linearize;
	} rows[] = {
		{ "off", false }, { "poll", false }, { "every=2", false },
		{ "adaptive", false }, { "adaptive", true },
	};
	char *end;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return usage(stdout, 0);
	if (argc == 3 || argc > 4)
		return usage(stderr, 2);
	if (argc > 1) {
		segs = strtoull(argv[1], &end, 0);
		if (*end || end == argv[1] || segs == 0 || argv[1][0] == '-')
			return usage(stderr, 2);
	}
	if (argc > 3) {
		unsigned long flows = strtoul(argv[3], &end, 0);
		struct gro_cfg cfg = { 0 };
		double spp, c;

		if (*end || end == argv[3] || flows < 1 || flows > TF_FLOWS ||
		    gro_cfg_parse(argv[2], &cfg))
			return usage(stderr, 2);
		build((unsigned)flows, true);
		c = run(argv[2], false, segs, &spp);
		printf("%lu flow(s) %s: %.1f segs/pkt, %.1f cyc/seg\n", flows,
		       argv[2], spp, c);
		tf_free(frames, NFRAMES);
		return 0;
	}
	printf("%-6s %-5s %-9s %-9s %10s %12s %12s\n", "flows", "csum",
	       "policy", "linearize", "segs/pkt", "cyc/seg", "+copy cyc/seg");
	for (unsigned flows = 1; flows <= 4; flows += 3) {
		for (int trusted = 1; trusted >= 0; trusted--) {
			build(flows, trusted);
			for (unsigned r = 0; r < ARRAY_SIZE(rows); r++) {
				double spp, c0, c1;

				/* the best of 3: other work on the box only adds */
				c0 = c1 = 1e30;
				for (int k = 0; k < 3; k++) {
					do_copy = false;
					c0 = PV_MIN(c0, run(rows[r].policy,
							    rows[r].linearize, segs, &spp));
					do_copy = true;
					c1 = PV_MIN(c1, run(rows[r].policy,
							    rows[r].linearize, segs, &spp));
				}
				printf("%-6u %-5s %-9s %-9s %10.1f %12.1f %12.1f\n",
				       flows, trusted ? "valid" : "verify",
				       rows[r].policy, rows[r].linearize ? "on" : "off",
				       spp, c0, c1);
			}
		}
	}
	tf_free(frames, NFRAMES);
	return 0;
}
