/* SPDX-License-Identifier: MIT */
/*
 * fg_fixture.h - the cmocka group fixture the virtio unit tests share: one
 * fake guest (tests/lib/fakeguest.h) for all the tests of a file, and the
 * byte pattern they fill buffers with. Header-only; include after cmocka.h.
 */
#ifndef TEST_FG_FIXTURE_H
#define TEST_FG_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../lib/fakeguest.h"

/*
 * The body of a group setup: creates a fake guest with regions of
 * @region_size bytes in *@state, owned by the group until
 * fg_group_teardown(). 0, or -1 (cmocka then skips the group).
 */
static inline int fg_group_setup(void **state, uint64_t region_size)
{
	struct fakeguest *fg = calloc(1, sizeof(*fg));

	if (!fg || fg_create(fg, region_size)) {
		free(fg);
		return -1;
	}
	*state = fg;
	return 0;
}

/* Group teardown: destroys and frees the guest fg_group_setup() made. */
static inline int fg_group_teardown(void **state)
{
	fg_destroy(*state);
	free(*state);
	return 0;
}

/*
 * Fills @p with a pattern: byte i is i * 31 + @seed, so buffers filled with
 * different seeds differ at every offset and a misplaced byte shows.
 */
static inline void fg_fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

#endif /* TEST_FG_FIXTURE_H */
