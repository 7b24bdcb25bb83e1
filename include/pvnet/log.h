/* SPDX-License-Identifier: MIT */
/* log.h - one-line log messages to stderr, with levels and rate limiting */
#ifndef PVNET_LOG_H
#define PVNET_LOG_H

#include <stdint.h>

#include "pvnet/common.h"

enum pv_log_level { PV_LOG_ERR, PV_LOG_WARN, PV_LOG_INFO, PV_LOG_DEBUG };

/*
 * How a line is written: plain "pvnet: LEVEL: message", or for the journal
 * "<N>message" with N the syslog priority (sd-daemon(3)), so journald keeps
 * the level; neither carries a time (the journal adds its own).
 */
enum pv_log_format { PV_LOG_FMT_PLAIN, PV_LOG_FMT_JOURNAL };

/* Sets the most verbose level that is printed (default PV_LOG_INFO). */
void pv_log_set_level(enum pv_log_level lvl);
/* Sets how lines are written (default plain, see pv_log_format_auto()). */
void pv_log_set_format(enum pv_log_format fmt);
/*
 * The format stderr wants: journal if $JOURNAL_STREAM names the device and
 * inode stderr is (systemd sets it for a service's stdout/stderr), else plain.
 */
enum pv_log_format pv_log_format_auto(void);
/* Parses "plain", "journal" or "auto" into *@fmt; -1 if none of them. */
int pv_log_format_parse(const char *s, enum pv_log_format *fmt);
/* Prints one line "pvnet: LEVEL: message" to stderr if lvl is enabled. */
void pv_log(enum pv_log_level lvl, const char *fmt, ...) PV_PRINTF(2, 3);

#define pv_err(...)	pv_log(PV_LOG_ERR, __VA_ARGS__)
#define pv_warn(...)	pv_log(PV_LOG_WARN, __VA_ARGS__)
#define pv_info(...)	pv_log(PV_LOG_INFO, __VA_ARGS__)
#define pv_debug(...)	pv_log(PV_LOG_DEBUG, __VA_ARGS__)

/* A rate limiter: at most `burst` lines per second per instance. */
struct pv_ratelimit {
	uint64_t window_start_ns;
	uint32_t printed;
	uint32_t suppressed;
};

/*
 * Logs a guest-triggered event through the limiter @rl; a guest must not be
 * able to flood the log. Reports how many lines were suppressed.
 */
void pv_log_ratelimited(struct pv_ratelimit *rl, enum pv_log_level lvl,
			const char *fmt, ...) PV_PRINTF(3, 4);

/* Data-path debug lines, compiled out unless built with -DPV_DP_DEBUG. */
#ifdef PV_DP_DEBUG
#define PV_DP_DEBUG_LOG(...)	pv_log(PV_LOG_DEBUG, __VA_ARGS__)
#else
#define PV_DP_DEBUG_LOG(...)	do { } while (0)
#endif

/* Monotonic time in nanoseconds. */
uint64_t pv_now_ns(void);

#endif /* PVNET_LOG_H */
