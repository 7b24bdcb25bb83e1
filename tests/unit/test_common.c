// SPDX-License-Identifier: MIT
/* test_common.c - the drop-reason table, the log rate limiter and formats */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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

/* Runs one pv_log() line with stderr on a pipe; returns what was written. */
static void log_into(enum pv_log_level lvl, const char *msg, char *out,
		     size_t len)
{
	int pfd[2], saved = dup(2);
	ssize_t n;

	assert_int_equal(pipe(pfd), 0);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(pfd[1], 2), 2);
	pv_log(lvl, "%s", msg);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(pfd[1]);
	n = read(pfd[0], out, len - 1);
	close(pfd[0]);
	assert_true(n >= 0);
	out[n] = 0;
}

static void log_formats(void **state)
{
	char line[256], js[64];
	enum pv_log_format f;
	struct stat st;
	int pfd[2], saved = dup(2);

	(void)state;
	log_into(PV_LOG_WARN, "port vm1: hello", line, sizeof(line));
	assert_string_equal(line, "pvnet: warning: port vm1: hello\n");
	pv_log_set_format(PV_LOG_FMT_JOURNAL);
	log_into(PV_LOG_WARN, "port vm1: hello", line, sizeof(line));
	assert_string_equal(line, "<4>port vm1: hello\n");
	log_into(PV_LOG_ERR, "x", line, sizeof(line));
	assert_string_equal(line, "<3>x\n");
	log_into(PV_LOG_INFO, "x", line, sizeof(line));
	assert_string_equal(line, "<6>x\n");
	pv_log_set_format(PV_LOG_FMT_PLAIN);

	assert_int_equal(pv_log_format_parse("journal", &f), 0);
	assert_int_equal(f, PV_LOG_FMT_JOURNAL);
	assert_int_equal(pv_log_format_parse("plain", &f), 0);
	assert_int_equal(f, PV_LOG_FMT_PLAIN);
	assert_int_equal(pv_log_format_parse("syslog", &f), -1);

	/* auto: journal only when stderr is the stream JOURNAL_STREAM names */
	unsetenv("JOURNAL_STREAM");
	assert_int_equal(pv_log_format_auto(), PV_LOG_FMT_PLAIN);
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(fstat(pfd[1], &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	assert_int_equal(pv_log_format_auto(), PV_LOG_FMT_PLAIN);
	assert_int_equal(dup2(pfd[1], 2), 2);
	f = pv_log_format_auto();
	assert_int_equal(dup2(saved, 2), 2);
	assert_int_equal(f, PV_LOG_FMT_JOURNAL);
	setenv("JOURNAL_STREAM", "garbage", 1);
	assert_int_equal(pv_log_format_auto(), PV_LOG_FMT_PLAIN);
	unsetenv("JOURNAL_STREAM");
	close(saved);
	close(pfd[0]);
	close(pfd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(drop_names_unique_and_lower),
		cmocka_unit_test(ratelimit_suppresses),
		cmocka_unit_test(log_formats),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
