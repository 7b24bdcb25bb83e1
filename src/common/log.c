// SPDX-License-Identifier: MIT
/* log.c - one-line messages to stderr, levels and a per-source rate limiter */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pvnet/log.h"

static enum pv_log_level log_level = PV_LOG_INFO;

static const char *const level_names[] = {
	[PV_LOG_ERR] = "error", [PV_LOG_WARN] = "warning",
	[PV_LOG_INFO] = "info", [PV_LOG_DEBUG] = "debug",
};

void pv_log_set_level(enum pv_log_level lvl)
{
	log_level = lvl;
}

uint64_t pv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void log_v(enum pv_log_level lvl, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* One write per line so lines from two threads never interleave. */
	fprintf(stderr, "pvnet: %s: %s\n", level_names[lvl], line);
}

void pv_log(enum pv_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	log_v(lvl, fmt, ap);
	va_end(ap);
}

#define RATELIMIT_BURST		5
#define RATELIMIT_WINDOW_NS	1000000000ULL

void pv_log_ratelimited(struct pv_ratelimit *rl, enum pv_log_level lvl,
			const char *fmt, ...)
{
	uint64_t now = pv_now_ns();
	va_list ap;

	if (lvl > log_level)
		return;
	if (now - rl->window_start_ns >= RATELIMIT_WINDOW_NS) {
		if (rl->suppressed)
			pv_log(lvl, "(%u similar messages suppressed)",
			       rl->suppressed);
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= RATELIMIT_BURST) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	log_v(lvl, fmt, ap);
	va_end(ap);
}

void pv_assert_fail(const char *expr, const char *file, int line,
		    const char *func)
{
	fprintf(stderr, "pvnet: ASSERTION FAILED in %s (%s:%d): %s\n",
		func, file, line, expr);
	abort();
}
