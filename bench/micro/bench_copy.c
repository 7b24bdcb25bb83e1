// SPDX-License-Identifier: MIT
/*
 * bench_copy.c - the floor of a copy-based datapath: memcpy of the same
 * bytes the benchmark moves, in segment-sized pieces from one large buffer
 * into another (cold caches: 64 MB each way). Prints one JSON line:
 * {"gbps":..,"cycles_per_byte":..,"seg":..}.
 *   bench_copy [SEGMENT_BYTES] [SECONDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AREA (64u << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: bench_copy [SEGMENT_BYTES [SECONDS]]\n"
		"  memcpy of SEGMENT_BYTES pieces (default 1448, at most %u) from\n"
		"  one 64 MB area to another for SECONDS (default 1); prints JSON\n",
		AREA);
	return rc;
}

int main(int argc, char **argv)
{
	size_t seg = 1448;
	double secs = 1.0;
	uint8_t *src, *dst;
	uint64_t t0, c0, c1, t1, bytes = 0;
	size_t off = 0;
	char *end;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return usage(stdout, 0);
	if (argc > 3)
		return usage(stderr, 2);
	if (argc > 1) {
		unsigned long v = strtoul(argv[1], &end, 10);

		if (*end || end == argv[1] || v == 0 || v > AREA)
			return usage(stderr, 2);
		seg = v;
	}
	if (argc > 2) {
		secs = strtod(argv[2], &end);
		if (*end || end == argv[2] || !(secs > 0 && secs <= 3600))
			return usage(stderr, 2);
	}
	src = malloc(AREA);
	dst = malloc(AREA);
	if (!src || !dst)
		return 1;
	memset(src, 1, AREA);
	memset(dst, 2, AREA);
	t0 = now_ns();
	c0 = rdtsc();
	do {
		for (int i = 0; i < 1024; i++) {
			if (off + seg > AREA)
				off = 0;
			memcpy(dst + off, src + off, seg);
			off += seg;
			bytes += seg;
		}
		t1 = now_ns();
	} while ((double)(t1 - t0) < secs * 1e9);
	c1 = rdtsc();
	printf("{\"gbps\":%.3f,\"cycles_per_byte\":%.4f,\"seg\":%zu,\"check\":%u}\n",
	       (double)bytes * 8 / ((double)(t1 - t0)), (double)(c1 - c0) / (double)bytes,
	       seg, dst[AREA / 2]);
	free(src);
	free(dst);
	return 0;
}
