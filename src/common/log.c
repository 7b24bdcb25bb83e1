// SPDX-License-Identifier: MIT
/* log.c - one-line messages to stderr, levels and a per-source rate limiter */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pvnet/log.h"

static enum pv_log_level log_level = PV_LOG_INFO;
static enum pv_log_format log_format = PV_LOG_FMT_PLAIN;

static const char *const level_names[] = {
	[PV_LOG_ERR] = "error", [PV_LOG_WARN] = "warning",
	[PV_LOG_INFO] = "info", [PV_LOG_DEBUG] = "debug",
};

/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const char syslog_prio[] = {
	[PV_LOG_ERR] = '3', [PV_LOG_WARN] = '4',
	[PV_LOG_INFO] = '6', [PV_LOG_DEBUG] = '7',
};

void pv_log_set_level(enum pv_log_level lvl)
{
	log_level = lvl;
}

void pv_log_set_format(enum pv_log_format fmt)
{
	log_format = fmt;
}

enum pv_log_format pv_log_format_auto(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/*
	 * The variable is inherited by children whose stderr may go
	 * elsewhere (a shell started from a unit): it counts only if stderr
	 * is the very stream it names, as sd_journal_stream_fd(3) says.
	 */
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(2, &st) < 0)
		return PV_LOG_FMT_PLAIN;
	if ((unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		return PV_LOG_FMT_JOURNAL;
	return PV_LOG_FMT_PLAIN;
}

int pv_log_format_parse(const char *s, enum pv_log_format *fmt)
{
	if (!strcmp(s, "plain"))
		*fmt = PV_LOG_FMT_PLAIN;
	else if (!strcmp(s, "journal"))
		*fmt = PV_LOG_FMT_JOURNAL;
	else if (!strcmp(s, "auto"))
		*fmt = pv_log_format_auto();
	else
		return -1;
	return 0;
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
	if (log_format == PV_LOG_FMT_JOURNAL)
		fprintf(stderr, "<%c>%s\n", syslog_prio[lvl], line);
	else
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
	fprintf(stderr, "%spvnet: ASSERTION FAILED in %s (%s:%d): %s\n",
		log_format == PV_LOG_FMT_JOURNAL ? "<2>" : "", func, file, line,
		expr);
	abort();
}
