// SPDX-License-Identifier: MIT
/* test_virtio_gmem.c - guest memory table: mapping, translation, hostile ranges */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pvnet/virtio.h"
#include "fg_fixture.h"

#define S	(64 * 1024ULL)

static int setup(void **state)
{
	return fg_group_setup(state, S);
}

static void sorted_with_gaps(void **state)
{
	struct fakeguest *fg = *state;

	assert_int_equal(fg->gm.n, 3);
	assert_true(fg->gm.r[0].gpa < fg->gm.r[1].gpa);
	assert_true(fg->gm.r[1].gpa < fg->gm.r[2].gpa);
	assert_int_equal(fg->gm.r[0].gpa + fg->gm.r[0].size, fg->gm.r[1].gpa);
	assert_true(fg->gm.r[1].gpa + fg->gm.r[1].size < fg->gm.r[2].gpa);
}

static void translate_clamps_to_region_end(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t got = 0, gpa = fg->reg[0].gpa + S - 10;
	uint8_t *hva;

	hva = gmem_translate(&fg->gm, fg->reg[0].gpa, 100, &got);
	assert_ptr_equal(hva, fg->gm.r[0].hva);
	assert_int_equal(got, 100);
	hva = gmem_translate(&fg->gm, gpa, 100, &got);
	assert_ptr_equal(hva, fg->gm.r[0].hva + S - 10);
	assert_int_equal(got, 10);
	/* The device mapping and the driver view share the bytes. */
	*(uint8_t *)fg_ptr(fg, gpa) = 0x5a;
	assert_int_equal(*hva, 0x5a);
	assert_null(gmem_translate(&fg->gm, gpa, 0, &got));
	assert_null(gmem_translate_contig(&fg->gm, gpa, 11));
	assert_non_null(gmem_translate_contig(&fg->gm, gpa, 10));
}

static void gaps_and_outside_are_errors(void **state)
{
	struct fakeguest *fg = *state;
	struct iovec iov[4];
	uint64_t got;
	unsigned n = 0;

	for (unsigned g = 0; g < 3; g++)
		assert_null(gmem_translate(&fg->gm, fg_gap_gpa(fg, g), 1, &got));
	assert_null(gmem_translate(&fg->gm, 0, 1, &got));
	/* Region 1 runs into the gap before region 2. */
	assert_int_equal(gmem_to_iov(&fg->gm, fg->reg[1].gpa + S - 10, 20, iov,
				     &n, 4), -EFAULT);
	n = 0;
	assert_int_equal(gmem_to_iov(&fg->gm, fg->reg[1].gpa + S - 10, 10, iov,
				     &n, 4), 0);
	assert_int_equal(n, 1);
}

static void straddle_adjacent_is_two_pieces(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t gpa = fg->reg[0].gpa + S - 100;
	struct iovec iov[4];
	uint8_t pat[300], back[300];
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i ^ 0xa5);
	assert_true(fg_write(fg, gpa, pat, sizeof(pat)));
	assert_int_equal(gmem_to_iov(&fg->gm, gpa, 300, iov, &n, 4), 0);
	assert_int_equal(n, 2);
	assert_int_equal(iov[0].iov_len, 100);
	assert_int_equal(iov[1].iov_len, 200);
	assert_ptr_equal(iov[1].iov_base, fg->gm.r[1].hva);
	assert_int_equal(pv_iov_to_buf(iov, n, 0, back, 300), 300);
	assert_memory_equal(back, pat, 300);
	/* The bound is checked on the split. */
	n = 0;
	assert_int_equal(gmem_to_iov(&fg->gm, gpa, 300, iov, &n, 1), -ENOBUFS);
	assert_null(gmem_translate_contig(&fg->gm, gpa, 300));
}

static void overflow_values(void **state)
{
	struct fakeguest *fg = *state;
	struct iovec iov[4];
	uint64_t got = 0;
	unsigned n = 0;
	char mem[64];

	assert_null(gmem_translate(&fg->gm, UINT64_MAX - 3, 16, &got));
	assert_null(gmem_translate(&fg->gm, UINT64_MAX, UINT64_MAX, &got));
	assert_null(gmem_uva_translate(&fg->gm, UINT64_MAX - 3, 16, &got));
	assert_int_equal(gmem_to_iov(&fg->gm, UINT64_MAX - 3, 16, iov, &n, 4),
			 -EFAULT);
	/* A huge length from a valid start is clamped, never wrapped. */
	assert_non_null(gmem_translate(&fg->gm, fg->reg[2].gpa + 8,
				       UINT64_MAX, &got));
	assert_int_equal(got, S - 8);
	n = 0;
	assert_int_equal(gmem_to_iov(&fg->gm, fg->reg[2].gpa, UINT64_MAX, iov,
				     &n, 4), -EFAULT);
	assert_int_equal(gmem_add_mapped(&fg->gm, UINT64_MAX - 3, 16,
					 0x1000, mem), -EINVAL);
	assert_int_equal(gmem_add_mapped(&fg->gm, 0x100, 16,
					 UINT64_MAX - 3, mem), -EINVAL);
	assert_int_equal(gmem_add_region(&fg->gm, 0x100, 16, 0x1000,
					 UINT64_MAX - 3, fg->fd), -EINVAL);
	assert_int_equal(gmem_add_mapped(&fg->gm, 0x100, 0, 0x1000, mem),
			 -EINVAL);
	assert_int_equal(gmem_add_region(&fg->gm, 0x100, 0, 0x1000, 0,
					 fg->fd), -EINVAL);
	assert_int_equal(fg->gm.n, 3);
}

static void overlap_rejected(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t g2 = fg->reg[2].gpa;
	char mem[4096];

	/* gpa overlap (tail of region 2), distinct uva */
	assert_int_equal(gmem_add_mapped(&fg->gm, g2 + S - 1, 4096,
					 0x1000, mem), -EINVAL);
	/* gpa overlap (covers region 0 entirely) */
	assert_int_equal(gmem_add_mapped(&fg->gm, 0, 8 * S, 0x1000, mem),
			 -EINVAL);
	/* uva overlap only, gpa in a gap */
	assert_int_equal(gmem_add_mapped(&fg->gm, fg_gap_gpa(fg, 1), 64,
					 FG_UVA_BASE + g2 + 8, mem), -EINVAL);
	/* Touching is not overlapping: a region in the 3S..4S gap, exactly. */
	assert_int_equal(gmem_add_mapped(&fg->gm, 3 * S, S, 0x1000, mem), 0);
	assert_int_equal(fg->gm.n, 4);
	assert_int_equal(fg->gm.r[2].gpa, 3 * S);
	assert_int_equal(gmem_remove_region(&fg->gm, 3 * S, S), 0);
	assert_int_equal(fg->gm.n, 3);
}

static void beyond_fd_rejected(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t fsz = fg->file_size;

	assert_int_equal(gmem_add_region(&fg->gm, 100 * S, S, 0x1000,
					 fsz - 4096, fg->fd), -ERANGE);
	assert_int_equal(gmem_add_region(&fg->gm, 100 * S, 1, 0x1000, fsz,
					 fg->fd), -ERANGE);
	/* Exactly the last page is fine; unaligned offsets too. */
	assert_int_equal(gmem_add_region(&fg->gm, 100 * S, 4096, 0x1000,
					 fsz - 4096, fg->fd), 0);
	assert_int_equal(gmem_add_region(&fg->gm, 200 * S, 100, 0x10000,
					 fsz - 100, fg->fd), 0);
	assert_int_equal(fg->gm.n, 5);
	*(uint8_t *)fg_ptr(fg, fg->reg[1].gpa + S - 1) = 0x77;
	/* file offset fsz-1 is region 1's last byte (file offset 2S..3S) */
	{
		uint64_t got;
		uint8_t *p = gmem_translate(&fg->gm, 200 * S + 99, 1, &got);

		assert_non_null(p);
		assert_int_equal(*p, 0x77);
	}
	assert_int_equal(gmem_remove_region(&fg->gm, 100 * S, 4096), 0);
	assert_int_equal(gmem_remove_region(&fg->gm, 200 * S, 100), 0);
	assert_int_equal(gmem_remove_region(&fg->gm, 200 * S, 100), -ENOENT);
	assert_int_equal(gmem_add_region(&fg->gm, 300 * S, 4096, 0x1000, 0,
					 -1), -EBADF);
}

static void table_full(void **state)
{
	struct gmem gm;
	char mem[64];

	(void)state;
	gmem_init(&gm);
	for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++)
		assert_int_equal(gmem_add_mapped(&gm, (GMEM_MAX_REGIONS - i) *
						 0x1000ULL, 64, i * 0x1000ULL,
						 mem), 0);
	assert_int_equal(gmem_add_mapped(&gm, 0x100000, 64, 0x100000, mem),
			 -ENOSPC);
	for (unsigned i = 1; i < gm.n; i++)
		assert_true(gm.r[i - 1].gpa < gm.r[i].gpa);
	gmem_clear(&gm);
	assert_int_equal(gm.n, 0);
}

static void uva_translate_and_remove(void **state)
{
	struct fakeguest *fg = *state;
	uint64_t got;
	uint8_t *p;

	p = gmem_uva_translate(&fg->gm, FG_UVA_BASE + fg->reg[1].gpa + 5, 1000,
			       &got);
	assert_ptr_equal(p, fg->gm.r[1].hva + 5);
	assert_int_equal(got, 1000);
	assert_null(gmem_uva_translate(&fg->gm, fg->reg[1].gpa, 1, &got));
	assert_int_equal(gmem_remove_region(&fg->gm, fg->reg[1].gpa, S), 0);
	assert_null(gmem_translate(&fg->gm, fg->reg[1].gpa, 1, &got));
	assert_non_null(gmem_translate(&fg->gm, fg->reg[0].gpa, 1, &got));
	assert_non_null(gmem_translate(&fg->gm, fg->reg[2].gpa, 1, &got));
	/* put it back for the other tests */
	assert_int_equal(gmem_add_region(&fg->gm, fg->reg[1].gpa, S,
					 FG_UVA_BASE + fg->reg[1].gpa,
					 fg->reg[1].file_off, fg->fd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sorted_with_gaps),
		cmocka_unit_test(translate_clamps_to_region_end),
		cmocka_unit_test(gaps_and_outside_are_errors),
		cmocka_unit_test(straddle_adjacent_is_two_pieces),
		cmocka_unit_test(overflow_values),
		cmocka_unit_test(overlap_rejected),
		cmocka_unit_test(beyond_fd_rejected),
		cmocka_unit_test(table_full),
		cmocka_unit_test(uva_translate_and_remove),
	};

	return cmocka_run_group_tests_name("virtio_gmem", tests, setup,
					   fg_group_teardown);
}
