/* SPDX-License-Identifier: MIT */
/* fuzz.h - what the libFuzzer targets share: the invariant check and a
 * reader that turns the fuzzer's bytes into numbers. */
#ifndef PVNET_FUZZ_H
#define PVNET_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A check failed: a real bug in pvnet, never the input's fault. */
#define CHECK(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", \
				#c, __FILE__, __LINE__);		\
			__builtin_trap();				\
		}							\
	} while (0)

/* The input not consumed yet. */
struct reader {
	const uint8_t *p;
	size_t left;
};

/* The next @bytes bytes, big-endian; an exhausted input reads as zeros so
 * that every input is a whole scenario. */
static inline uint64_t take(struct reader *r, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (r->left) {
			v |= *r->p++;
			r->left--;
		}
	}
	return v;
}

#endif
