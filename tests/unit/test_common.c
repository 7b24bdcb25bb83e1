// SPDX-License-Identifier: MIT
/* test_common.c - the drop-reason table and the log rate limiter */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pvnet/drop.h"
#include "pvnet/log.h"

static void drop_names_unique_and_lower(void **state)
{
	(void)state;
	for (unsigned i = 0; i < PV_DROP_MAX; i++) {
		const char *a = pv_drop_name(i);

		assert_non_null(a);
		assert_true(strlen(a) > 0);
		for (const char *c = a; *c; c++)
			assert_false(*c >= 'A' && *c <= 'Z');
		assert_true(strlen(pv_drop_text(i)) > 0);
		for (unsigned j = i + 1; j < PV_DROP_MAX; j++)
			assert_string_not_equal(a, pv_drop_name(j));
	}
	assert_string_equal(pv_drop_name(PV_DROP_RING_LOOP), "ring_loop");
	assert_string_equal(pv_drop_name(PV_DROP_MAX), "invalid");
}

static void ratelimit_suppresses(void **state)
{
	struct pv_ratelimit rl = { 0 };

	(void)state;
	pv_log_set_level(PV_LOG_DEBUG);
	for (int i = 0; i < 100; i++)
		pv_log_ratelimited(&rl, PV_LOG_DEBUG, "test line %d", i);
	assert_int_equal(rl.printed, 5);
	assert_int_equal(rl.suppressed, 95);
	pv_log_set_level(PV_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(drop_names_unique_and_lower),
		cmocka_unit_test(ratelimit_suppresses),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
