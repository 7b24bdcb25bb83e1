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

int main(int argc, char **argv)
{
	size_t seg = argc > 1 ? strtoul(argv[1], NULL, 10) : 1448;
	double secs = argc > 2 ? atof(argv[2]) : 1.0;
	uint8_t *src = malloc(AREA), *dst = malloc(AREA);
	uint64_t t0, c0, c1, t1, bytes = 0;
	size_t off = 0;

	if (!src || !dst || seg == 0 || seg > AREA)
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
