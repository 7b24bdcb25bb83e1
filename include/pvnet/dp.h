/* SPDX-License-Identifier: MIT */
/*
 * dp.h - the dataplane: worker threads that poll receive queues in bursts
 * with a budget each, and the notification modes (seed 003, seed 002):
 *
 *   poll      busy-poll, never sleep (lowest latency, one core each)
 *   event     sleep in epoll on the queues' kick fds, notifications on
 *   adaptive  poll while there is work; after idle_us without any, turn
 *             notifications on and sleep (NAPI style). The idle_us spin is
 *             skipped while fewer than 1/8 of recent spins ended in work
 *             (low load: gaps far longer than idle_us), except every 16th
 *             idle period, which spins to keep measuring (docs/gro.md)
 *
 * Ownership: struct dp is owned by `pvnet switch`; it borrows the switch's
 * ports. The control thread never parks a worker: it unpublishes what it
 * is about to change (a ring's flag, with a release store), calls
 * dp_sync(), and only then changes or frees it; workers pass a quiescent
 * point at the top of every round (docs/architecture.md, "The contract").
 */
#ifndef PVNET_DP_H
#define PVNET_DP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "pvnet/gro.h"

struct sw;
struct port;

enum dp_notify { DP_NOTIFY_POLL, DP_NOTIFY_EVENT, DP_NOTIFY_ADAPTIVE };

struct dp_cfg {
	unsigned workers;	/* 1..DP_MAX_WORKERS */
	enum dp_notify notify;
	unsigned budget;	/* packets per queue per poll */
	unsigned idle_us;	/* adaptive: idle time before sleeping */
	struct gro_cfg gro;	/* receive aggregation toward GSO-capable ports */
	bool stage_cycles;	/* time the stages (TSC reads per burst) */
	/*
	 * A guest's receive interrupt waits up to this long while the worker
	 * keeps finding work, so one call covers what arrives meanwhile; a
	 * round without work raises every waiting one (0: raised at once).
	 */
	unsigned irq_coalesce_us;
};

#define DP_MAX_WORKERS	64
/* Rings one worker round may leave a notification open on (dp_defer_notify). */
#define DP_DEFER_MAX	32
/* Interrupts one worker may hold back at a time (dp_owe_call). */
#define DP_OWED_MAX	32
/* Breaks a worker out of a sleeping write to a peer's eventfd (dp_call). */
#define DP_GUARD_SIGNAL	(SIGRTMIN + 3)

/* Where a worker's busy cycles go, measured with the TSC once per burst. */
enum dp_stage {
	DP_STAGE_RX,		/* popping chains / reading frames, headers */
	DP_STAGE_CLASSIFY,	/* pass 1: parse, look up, learn */
	DP_STAGE_DELIVER,	/* pass 2: GRO, GSO, the copy into the destination */
	DP_STAGE_NOTIFY,	/* used-ring publish and interrupts to the source */
	DP_STAGE_MAX
};

/* Per-worker counters, written only by that worker. */
struct dp_worker_stats {
	uint64_t stage_cycles[DP_STAGE_MAX];
	uint64_t loops;		/* poll rounds over the worker's queues */
	uint64_t busy_loops;	/* rounds that found work */
	uint64_t pkts;		/* packets polled */
	uint64_t sleeps;	/* times it slept in epoll */
	uint64_t busy_cycles;	/* TSC cycles spent in rounds with work */
	uint64_t total_cycles;	/* TSC cycles since start */
	uint64_t guard_breaks;	/* writes to a peer's fd the watchdog broke */
	/* rounds whose notification decisions shared one barrier at the end */
	uint64_t notify_deferred;
	/* receive interrupts held back (dp_owe_call), and raised later */
	uint64_t irq_coalesced;
	unsigned nqueues;	/* (port, queue) pairs assigned */
};

/* Parses "poll", "event" or "adaptive"; returns 0 or -EINVAL. */
int dp_notify_parse(const char *s, enum dp_notify *out);
/* Name of a notification mode; static storage. */
const char *dp_notify_name(enum dp_notify n);
/* Creates the dataplane for @sw (not started); NULL on failure. */
struct dp *dp_create(struct sw *sw, const struct dp_cfg *cfg);
/* Starts the workers; returns 0 or -errno. */
int dp_start(struct dp *dp);
/* Stops and joins the workers, frees @dp. */
void dp_destroy(struct dp *dp);
/*
 * Control thread: a grace period. Returns once every worker has passed a
 * quiescent point (the top of its loop) after the call, or sleeps; so no
 * worker still uses anything the caller unpublished before the call. With
 * @flush_gro, every worker also empties its GRO table first (waking a
 * sleeping one), so no source buffer is held. Never parks a worker; waits
 * about one round of each. Before dp_start() it returns at once.
 */
void dp_sync(struct dp *dp, bool flush_gro);
/*
 * Control thread: gives the receive queues of @p (just added to the
 * switch) to workers while they run: new per-worker queue sets published
 * with a release store, the old ones freed after a grace period. No-op
 * before dp_start() (which assigns every port's queues) or if @dp is
 * NULL. 0 or -ENOMEM (nothing changed).
 */
int dp_port_add(struct dp *dp, struct port *p);
/*
 * Control thread: no worker polls @p any more (its queues leave their
 * workers' sets, their fds are unwatched), then one grace period with a
 * GRO flush (dp_sync(dp, true)). No-op before dp_start(). 0 or -ENOMEM
 * (nothing changed).
 */
int dp_port_del(struct dp *dp, struct port *p);
/*
 * Control thread: watch @fd (-1: none) for receive queue @q of @p in the
 * epoll set of the worker that polls it; the old fd is unwatched first, so
 * unwatch (fd -1) before closing a watched fd. No-op before dp_start().
 */
void dp_watch(struct dp *dp, struct port *p, unsigned q, int fd);
/*
 * Worker: writes 1 to a peer's eventfd (an interrupt). Never blocks for
 * long: if the write sleeps (the peer preloaded the counter), the watchdog
 * interrupts it within ~40 ms. Returns false if it did not complete; the
 * eventfd is then readable already (its counter is near its maximum), so
 * the interrupt is coalesced, not lost.
 */
bool dp_call(int fd);
/*
 * From the worker's poll loop: has @p's notify_flush(@p, @ring) called after
 * the round's one full barrier, instead of a barrier per publish (the port
 * got VRING_CALL_RECHECK). False outside the poll loop or with the round's
 * list full: the caller then fences and re-checks at once.
 */
bool dp_defer_notify(struct port *p, unsigned ring);
/*
 * From a worker: takes @p's interrupt for @ring (a decided call) to raise
 * later with @p's raise_call, within dp_cfg.irq_coalesce_us while the
 * worker stays busy, at once when a round finds no work, and before any
 * quiescent point that serves dp_sync(flush). False outside a worker, with
 * coalescing off, or with the worker's list full: the caller raises it now.
 */
bool dp_owe_call(struct port *p, unsigned ring);
/* True if a write to @fd would not sleep now (poll, no wait). */
bool dp_fd_writable(int fd);
/*
 * The one receive loop of every port type: bursts of rx_burst(), each
 * forwarded with sw_forward_burst() and finished with rx_done(), until
 * @budget frames or the queue is empty. Returns the frames taken. Called
 * by the worker that owns (@p, @q) (and by tests, on a thread of their own).
 */
unsigned dp_poll(struct port *p, unsigned q, unsigned budget);
/*
 * How long a worker may sleep at @now_ns when GRO holds a packet until
 * @deadline_ns: exactly up to it (no rounding to milliseconds: the hold
 * bound is tens of microseconds), at most @max_ns.
 */
uint64_t dp_sleep_ns(uint64_t deadline_ns, uint64_t now_ns, uint64_t max_ns);
/* The notification mode of @dp (DP_NOTIFY_ADAPTIVE if @dp is NULL). */
enum dp_notify dp_notify_mode(const struct dp *dp);
/*
 * The GRO table of the calling worker thread, or NULL (GRO off, or not a
 * worker). Owned by the worker.
 */
struct gro_table *dp_gro_table(void);
/*
 * Makes the calling thread worker @w of @dp, which must never be started
 * (NULL @dp: no worker again), so that dp_poll() on it uses that worker's
 * GRO table, as the worker's own loop would: for a driver of the data path
 * on one thread (bench_fwd). 0, or -EINVAL (started, or no such worker).
 */
int dp_adopt(struct dp *dp, unsigned w);
/* One worker's GRO table (stats; NULL if GRO is off). */
const struct gro_table *dp_worker_gro(const struct dp *dp, unsigned w);
/* Number of workers, and one worker's counters (owned by @dp). */
unsigned dp_nworkers(const struct dp *dp);
const struct dp_worker_stats *dp_worker_stats(const struct dp *dp, unsigned w);
/* TSC ticks per second, measured once at dp_create(). */
uint64_t dp_tsc_hz(const struct dp *dp);
/* The calling worker's stage counters, or NULL outside a worker or with
 * dp_cfg.stage_cycles off. */
extern __thread uint64_t *dp_stage_acc;

/* Adds @cycles to @stage of the calling worker (no-op outside a worker). */
static inline void dp_stage_add(enum dp_stage stage, uint64_t cycles)
{
	if (dp_stage_acc)
		dp_stage_acc[stage] += cycles;
}

/* Reads the TSC. */
static inline uint64_t dp_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/*
 * Reads the TSC for a stage boundary, or returns 0 when the calling
 * thread does not time stages (dp_cfg.stage_cycles off): a TSC read costs
 * tens of cycles and a burst has five.
 */
static inline uint64_t dp_stage_tsc(void)
{
	return dp_stage_acc ? dp_rdtsc() : 0;
}

/*
 * The notify stage's count so far (0 without stage timing). dp_call()
 * counts itself as notify wherever it runs, so a stage window that may
 * contain one takes this at its start and ends with dp_stage_add_since().
 */
static inline uint64_t dp_stage_nested(void)
{
	return dp_stage_acc ? dp_stage_acc[DP_STAGE_NOTIFY] : 0;
}

/*
 * Adds the cycles since @t0 (dp_stage_tsc()) to @stage, less the notify
 * cycles counted inside the window (@nested: dp_stage_nested() at @t0),
 * so that a cycle is in one stage only.
 */
static inline void dp_stage_add_since(enum dp_stage stage, uint64_t t0,
				      uint64_t nested)
{
	if (dp_stage_acc) {
		uint64_t el = dp_rdtsc() - t0,
			 in = dp_stage_acc[DP_STAGE_NOTIFY] - nested;

		dp_stage_acc[stage] += el > in ? el - in : 0;
	}
}

#endif /* PVNET_DP_H */
