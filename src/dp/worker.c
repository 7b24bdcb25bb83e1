// SPDX-License-Identifier: MIT
/*
 * worker.c - dataplane workers: poll loop, budget, notification modes,
 * queue assignment, quiesce
 *
 * Every (port, receive queue) pair is polled by exactly one worker, spread
 * round-robin; a worker polls each of its queues for at most `budget`
 * packets per round, so a flood on one port cannot starve the others (no
 * receive livelock, seed 002). Transmit to a destination may come from any
 * worker; the port serialises that (see port_vhost.c).
 *
 * The control/data contract (docs/architecture.md): workers never park for
 * a control message. The control thread unpublishes what it will change
 * (a ring's flag), then dp_sync() waits for a grace period: every worker has
 * passed the top of its loop (a quiescent point: it holds no pointer into
 * any port) since, or sleeps. A round is bounded by the budget, so the wait
 * is one round of each worker. Workers take no lock per burst: the quiescent
 * point is one store with a full barrier per round.
 *
 * No fd of a peer can block a worker: kick eventfds are never read (edge-
 * triggered epoll), and an interrupt is written inside a guard that the
 * watchdog thread breaks with a signal when the write sleeps (a frontend
 * that preloads its call eventfd to the maximum): dp_call().
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "pvnet/switch.h"

/* Adaptive: spin while >= 1/8 of spins end in work; else probe 1 in 16. */
#define SPIN_MIN_HITS	32u
#define SPIN_PROBE	16u

struct dp_rxq {
	struct port *port;
	unsigned q;
	int fd;			/* control thread only: watched in epfd, or -1 */
};

/*
 * The (port, queue) pairs one worker polls: published whole with a release
 * store and never changed after, except each entry's fd, which only the
 * control thread uses. A port added or deleted at run time gets a new set;
 * the old one is freed after a grace period (rule G, RCU style).
 */
struct dp_qset {
	unsigned n;
	struct dp_rxq q[];
};

/* A port's ring named in a worker's list of deferred notifications or calls. */
struct ring_ref {
	struct port *p;
	unsigned ring;
};

struct dp_worker {
	struct dp *dp;
	unsigned id;
	pthread_t thread;
	int epfd;
	int wakefd;		/* eventfd: sync/stop wake a sleeping worker */
	/* Loaded with acquire after each quiescent point, never held across one. */
	struct dp_qset *qset;
	struct dp_worker_stats st;
	struct gro_table *gro;
	/*
	 * Grace periods: qs counts quiescent points (release, full barrier);
	 * idle is 1 while the worker sleeps in epoll or parks, holding nothing.
	 * flush_seen: the last GRO flush request it served (release store;
	 * dp_sync(flush) waits for it, not for qs: a quiescent point that
	 * read the request before it was made does not count).
	 */
	uint64_t qs;
	int idle;
	unsigned flush_seen;
	/* Odd while the worker writes a peer's eventfd (dp_call). */
	uint64_t guard;
	/*
	 * Notifications left open by this round's publishes (dp_defer_notify),
	 * re-checked after one full barrier at the round's end; only while
	 * `deferring` (the poll loop), so none is ever carried across a
	 * quiescent point or a sleep.
	 */
	bool deferring;
	unsigned ndefer;
	struct ring_ref defer[DP_DEFER_MAX];
	/*
	 * Interrupts held back (dp_owe_call), raised by raise_owed(). Unlike
	 * defer[], they cross rounds: see raise_owed() for when they go.
	 */
	unsigned nowed;
	uint64_t owed_since;	/* TSC of the oldest */
	uint64_t owe_cycles;	/* irq_coalesce_us in TSC cycles; 0: off */
	struct ring_ref owed[DP_OWED_MAX];
} PV_CACHE_ALIGNED;

struct dp {
	struct sw *sw;
	struct dp_cfg cfg;
	uint64_t tsc_hz;
	bool started;
	unsigned flush_gen;	/* atomic: dp_sync(flush) requests */
	pthread_t watchdog;
	bool watchdog_on;
	int stop;		/* atomic */
	int wd_stop;		/* atomic: after the workers joined */
	struct dp_worker *w;
};

static __thread struct dp_worker *current;
__thread uint64_t *dp_stage_acc;

struct gro_table *dp_gro_table(void)
{
	return current ? current->gro : NULL;
}

const struct gro_table *dp_worker_gro(const struct dp *dp, unsigned w);

int dp_adopt(struct dp *dp, unsigned w)
{
	if (!dp) {
		current = NULL;
		return 0;
	}
	if (dp->started || w >= dp->cfg.workers)
		return -EINVAL;
	current = &dp->w[w];
	return 0;
}

/*
 * A packet GRO lets go: deliver it, then give every held source buffer back
 * to its port, grouped in runs of one (port, queue) so a vhost source
 * publishes its used ring once per run.
 */
static void gro_deliver(void *arg, struct gro_out *out)
{
	struct dp_worker *w = arg;
	/*
	 * A port being deleted is still in the table (not as a destination)
	 * until every worker flushed: what GRO held toward it is delivered,
	 * what it held of its chains goes back.
	 */
	const struct sw_table *t = __atomic_load_n(&w->dp->sw->tab,
						   __ATOMIC_ACQUIRE);
	struct pkt *p = &out->pkt;
	uint32_t cookies[GRO_MAX_SEGS];

	if (out->dst_port < SW_MAX_PORTS && t->port[out->dst_port]) {
		struct port *d = t->port[out->dst_port];

		/* Delivered or dropped, a merged packet stands for segs inputs. */
		if (out->segs > 1)
			pv_stat_add(&d->st.merged, out->segs - 1u);
		d->ops->tx_burst(d, out->dst_queue, &p, 1);
	}
	for (unsigned i = 0; i < out->nrefs;) {
		const struct gro_ref *r = &out->refs[i];
		unsigned k = 0;

		while (i < out->nrefs && out->refs[i].port == r->port &&
		       out->refs[i].queue == r->queue)
			cookies[k++] = out->refs[i++].cookie;
		if (r->port < SW_MAX_PORTS && t->port[r->port] &&
		    t->port[r->port]->ops->release)
			t->port[r->port]->ops->release(t->port[r->port],
						       r->queue, cookies, k);
	}
}

/*
 * Lists (p, ring) once in @l: 0 if it was there, 1 if added, -1 if the list
 * is full (the caller then acts at once).
 */
static int ring_list_add(struct ring_ref *l, unsigned *n, unsigned max,
			 struct port *p, unsigned ring)
{
	for (unsigned i = 0; i < *n; i++)
		if (l[i].p == p && l[i].ring == ring)
			return 0;
	if (*n == max)
		return -1;
	l[*n].p = p;
	l[*n].ring = ring;
	(*n)++;
	return 1;
}

bool dp_defer_notify(struct port *p, unsigned ring)
{
	struct dp_worker *w = current;

	if (!w || !w->deferring)
		return false;
	return ring_list_add(w->defer, &w->ndefer, DP_DEFER_MAX, p, ring) >= 0;
}

bool dp_owe_call(struct port *p, unsigned ring)
{
	struct dp_worker *w = current;

	if (!w || !w->owe_cycles || !p->ops->raise_call)
		return false;
	switch (ring_list_add(w->owed, &w->nowed, DP_OWED_MAX, p, ring)) {
	case -1:
		return false;
	case 1:
		if (w->nowed == 1)
			w->owed_since = dp_rdtsc();
		w->st.irq_coalesced++;
		break;
	}
	return true;
}

/*
 * Raises the interrupts the worker held back. Called when a round found no
 * work (the worker may sleep next, and a guest must not wait on an idle
 * switch), when the oldest is irq_coalesce_us old, at a quiescent point
 * that serves dp_sync(flush) (a port is deleted only after one, so no entry
 * names a port that is gone), and when the worker stops.
 */
static void raise_owed(struct dp_worker *w)
{
	uint64_t t0 = dp_stage_tsc(), nested = dp_stage_nested();

	for (unsigned i = 0; i < w->nowed; i++)
		w->owed[i].p->ops->raise_call(w->owed[i].p, w->owed[i].ring);
	w->nowed = 0;
	dp_stage_add_since(DP_STAGE_NOTIFY, t0, nested);
}

/*
 * The round's one full barrier, between every used->idx store of the round
 * and the loads that decide the notifications those stores left open.
 */
static void flush_deferred(struct dp_worker *w)
{
	uint64_t t0, nested;

	w->deferring = false;
	if (!w->ndefer)
		return;
	t0 = dp_stage_tsc();
	nested = dp_stage_nested();
	pv_smp_mb();
	for (unsigned i = 0; i < w->ndefer; i++)
		w->defer[i].p->ops->notify_flush(w->defer[i].p, w->defer[i].ring);
	w->ndefer = 0;
	w->st.notify_deferred++;
	dp_stage_add_since(DP_STAGE_NOTIFY, t0, nested);
}

unsigned dp_poll(struct port *p, unsigned q, unsigned budget)
{
	struct pkt *pkts[PKT_BURST_MAX];
	unsigned done = 0;

	if (q >= PORT_MAX_QUEUES)
		return 0;
	while (done < budget) {
		unsigned want = PV_MIN(PKT_BURST_MAX, budget - done), taken = 0;
		unsigned m = p->ops->rx_burst(p, q, pkts, want, &taken);

		if (!taken)
			break;
		p->st.rxq_pkts[q] += taken;
		/* Where each packet came from, for GRO's release and the
		 * switch's loop check: stamped here, not in every port. */
		for (unsigned i = 0; i < m; i++) {
			pkts[i]->src_port = p->idx;
			pkts[i]->src_queue = (uint16_t)q;
		}
		if (m)
			sw_forward_burst(p->sw, p, pkts, m);
		/* Only now: the destinations have copied what they took. */
		if (p->ops->rx_done)
			p->ops->rx_done(p, q, pkts, m);
		/*
		 * A short burst is no reason to stop: what came meanwhile
		 * (or a port that hands out one frame at a time) is taken
		 * in this round, until the queue is empty or the budget
		 * spent, as GRO's per-round flush expects.
		 */
		done += taken;
	}
	return done;
}

int dp_notify_parse(const char *s, enum dp_notify *out)
{
	if (!strcmp(s, "poll"))
		*out = DP_NOTIFY_POLL;
	else if (!strcmp(s, "event"))
		*out = DP_NOTIFY_EVENT;
	else if (!strcmp(s, "adaptive"))
		*out = DP_NOTIFY_ADAPTIVE;
	else
		return -EINVAL;
	return 0;
}

const char *dp_notify_name(enum dp_notify n)
{
	static const char *const names[] = { "poll", "event", "adaptive" };

	return (unsigned)n < ARRAY_SIZE(names) ? names[n] : "?";
}

static uint64_t measure_tsc_hz(void)
{
	struct timespec a, b, d = { 0, 20000000 };
	uint64_t t0, t1, ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = dp_rdtsc();
	nanosleep(&d, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	t1 = dp_rdtsc();
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ULL +
	     (uint64_t)(b.tv_nsec - a.tv_nsec);
	return ns ? (t1 - t0) * 1000000000ULL / ns : 0;
}

static void wake(struct dp_worker *w)
{
	uint64_t one = 1;

	if (write(w->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pv_warn("dp: wake worker %u: %s", w->id, strerror(errno));
}

/*
 * A quiescent point: the worker holds no pointer into any port but its
 * owed calls' (port, ring) names. Serves a pending GRO flush request first
 * (the control thread is about to stop a ring a held buffer may come from,
 * or to delete a port), and raises the owed calls with it, so no name
 * outlives that grace period. The full barrier orders this round's
 * accesses before the count, and the count before the next round's loads
 * of ring flags (paired with the one in dp_sync()).
 */
static void quiescent(struct dp_worker *w)
{
	unsigned gen = __atomic_load_n(&w->dp->flush_gen, __ATOMIC_ACQUIRE);

	if (gen != w->flush_seen) {
		/* deliveries and calls: busy time, as in a round */
		uint64_t t0 = dp_rdtsc();

		if (w->gro) {
			/* its deliveries may owe calls: raised just below */
			gro_flush_all(w->gro);
		}
		raise_owed(w);
		w->st.busy_cycles += dp_rdtsc() - t0;
		__atomic_store_n(&w->flush_seen, gen, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&w->qs, w->qs + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The worker's queue set, right after a quiescent point. */
static const struct dp_qset *qset_load(struct dp_worker *w)
{
	return __atomic_load_n(&w->qset, __ATOMIC_ACQUIRE);
}

/* Turns notifications on for every queue; true if any had work meanwhile. */
static bool arm_all(const struct dp_qset *qs)
{
	bool pending = false;

	for (unsigned i = 0; i < qs->n; i++) {
		const struct dp_rxq *r = &qs->q[i];

		if (r->port->ops->rx_notify &&
		    r->port->ops->rx_notify(r->port, r->q, true))
			pending = true;
	}
	return pending;
}

static void disarm_all(const struct dp_qset *qs)
{
	for (unsigned i = 0; i < qs->n; i++) {
		const struct dp_rxq *r = &qs->q[i];

		if (r->port->ops->rx_notify)
			r->port->ops->rx_notify(r->port, r->q, false);
	}
}

uint64_t dp_sleep_ns(uint64_t deadline_ns, uint64_t now_ns, uint64_t max_ns)
{
	if (deadline_ns <= now_ns)
		return 0;
	return deadline_ns - now_ns < max_ns ? deadline_ns - now_ns : max_ns;
}

/*
 * An fd's epoll key: the port's index and the queue, not a position in a
 * queue set that may have changed since epoll_wait returned.
 */
static uint64_t rxq_key(const struct port *p, unsigned q)
{
	return (uint64_t)p->idx << 32 | q;
}

#define WAKE_KEY	(~0ULL)

/*
 * Counts the kicks that woke the worker against their queues, in its
 * current set (a kick of a port deleted meanwhile is not counted).
 */
static void count_kicks(const struct dp_qset *qs, const struct epoll_event *evs,
			int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t k = evs[i].data.u64;

		if (k == WAKE_KEY)
			continue;
		for (unsigned j = 0; j < qs->n; j++) {
			const struct dp_rxq *r = &qs->q[j];

			if (rxq_key(r->port, r->q) != k)
				continue;
			if (r->port->ops->rx_kicked)
				r->port->ops->rx_kicked(r->port, r->q);
			break;
		}
	}
}

static void sleep_until_work(struct dp_worker *w, const struct dp_qset *qs)
{
	struct epoll_event evs[16];
	/* Queues without an fd can only be polled, so the sleep is bounded. */
	uint64_t timeout_ns = 100000000ULL;
	struct timespec ts;
	int n;
	uint64_t v;

	/*
	 * Wake for the earliest GRO deadline, to the nanosecond: no packet
	 * (and no source chain behind it) is held past its bound, which is
	 * tens of microseconds, not a whole millisecond.
	 */
	if (w->gro && gro_held(w->gro)) {
		uint64_t dl = gro_next_deadline(w->gro), now = pv_now_ns();

		if (dl <= now)
			gro_flush_all(w->gro);
		else
			timeout_ns = dp_sleep_ns(dl, now, timeout_ns);
	}
	if (arm_all(qs)) {
		disarm_all(qs);
		return;
	}
	w->st.sleeps++;
	/*
	 * Idle: a grace period need not wait for us. Stored before the sleep;
	 * cleared with a full barrier after it, before any port is touched
	 * again (paired with the barrier in dp_sync()).
	 */
	__atomic_store_n(&w->idle, 1, __ATOMIC_RELEASE);
	ts.tv_sec = (time_t)(timeout_ns / 1000000000ULL);
	ts.tv_nsec = (long)(timeout_ns % 1000000000ULL);
	n = epoll_pwait2(w->epfd, evs, ARRAY_SIZE(evs), &ts, NULL);
	if (n < 0 && errno == ENOSYS)	/* kernels before 5.11 */
		n = epoll_wait(w->epfd, evs, ARRAY_SIZE(evs),
			       (int)((timeout_ns + 999999) / 1000000));
	__atomic_store_n(&w->idle, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (n < 0 && errno != EINTR)
		pv_debug("dp: epoll_wait: %s", strerror(errno));
	if (read(w->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pv_debug("dp: wakefd read: %s", strerror(errno));
	/*
	 * A ring may have stopped, a port gone, while we slept: the top of
	 * the loop first, then the queue set as it is now.
	 */
	quiescent(w);
	qs = qset_load(w);
	if (n > 0)
		count_kicks(qs, evs, n);
	disarm_all(qs);
}

static void *worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp *dp = w->dp;
	uint64_t start = dp_rdtsc(), idle_since = 0;
	uint64_t idle_cycles = dp->tsc_hz / 1000000 * dp->cfg.idle_us;
	/*
	 * Adaptive: `hits` averages (weight 1/8, 256 = every one) how often a
	 * spin of idle_us ended in work rather than in a sleep. An idle period
	 * spins if hits >= SPIN_MIN_HITS, else only every SPIN_PROBE-th one,
	 * so the estimate keeps coming from spins (a gap measured across a
	 * sleep includes the wakeup latency and would read long).
	 */
	unsigned hits = 256, probe = 0;
	bool spinning = false;

	current = w;
	w->owe_cycles = dp->tsc_hz / 1000000 * dp->cfg.irq_coalesce_us;
	/* NULL: the stage boundaries read no TSC (dp_stage_tsc) */
	dp_stage_acc = dp->cfg.stage_cycles ? w->st.stage_cycles : NULL;
	while (!__atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE)) {
		const struct dp_qset *qs;
		uint64_t t0, t1, t2, staged;
		unsigned work = 0;

		quiescent(w);
		qs = qset_load(w);
		t0 = dp_rdtsc();
		staged = w->st.stage_cycles[DP_STAGE_CLASSIFY] +
			 w->st.stage_cycles[DP_STAGE_DELIVER] +
			 w->st.stage_cycles[DP_STAGE_NOTIFY];
		w->deferring = true;
		for (unsigned i = 0; i < qs->n; i++) {
			const struct dp_rxq *r = &qs->q[i];

			work += dp_poll(r->port, r->q, dp->cfg.budget);
		}
		flush_deferred(w);
		t1 = dp_rdtsc();
		if (work) {
			uint64_t other = w->st.stage_cycles[DP_STAGE_CLASSIFY] +
					 w->st.stage_cycles[DP_STAGE_DELIVER] +
					 w->st.stage_cycles[DP_STAGE_NOTIFY] - staged;

			/* What the measured stages did not take was receive work. */
			if (dp_stage_acc && t1 - t0 > other)
				w->st.stage_cycles[DP_STAGE_RX] += t1 - t0 - other;
			w->st.busy_loops++;
			w->st.pkts += work;
			w->st.busy_cycles += t1 - t0;
		}
		/*
		 * The flush policy runs once per round (seed 000: every=2). A
		 * flush here delivers packets (the copy into the destination),
		 * so it is busy time and deliver-stage time like a flush inside
		 * gro_receive(): otherwise a policy that flushes at the end of
		 * its rounds (poll, every=N) would hide part of its delivery
		 * cost from busy_cycles. A poll end that delivers nothing (the
		 * clock read, the deadline check) stays out.
		 */
		t2 = t1;
		if (w->gro) {
			uint64_t out0 = gro_stats(w->gro)->out_pkts;

			staged = w->st.stage_cycles[DP_STAGE_NOTIFY];
			/* its deliveries' notifications: one barrier too */
			w->deferring = true;
			gro_poll_end(w->gro, work, pv_now_ns());
			flush_deferred(w);
			if (gro_stats(w->gro)->out_pkts != out0) {
				uint64_t ntf = w->st.stage_cycles[DP_STAGE_NOTIFY] -
					       staged;

				t2 = dp_rdtsc();
				w->st.busy_cycles += t2 - t1;
				if (dp_stage_acc && t2 - t1 > ntf)
					w->st.stage_cycles[DP_STAGE_DELIVER] +=
						t2 - t1 - ntf;
			}
		}
		/*
		 * Raising a held interrupt is the worker's work for packets it
		 * forwarded, busy time like the notify stage it is counted in
		 * (an eventfd write that wakes a guest: ~14,000 cycles here).
		 */
		if (w->nowed &&
		    (!work || dp_rdtsc() - w->owed_since >= w->owe_cycles)) {
			uint64_t t3 = dp_rdtsc();

			raise_owed(w);
			t2 = dp_rdtsc();
			w->st.busy_cycles += t2 - t3;
		}
		w->st.loops++;
		w->st.total_cycles = t2 - start;
		if (work) {
			if (idle_since && spinning)
				hits += 32u - hits / 8;
			idle_since = 0;
			continue;
		}
		switch (dp->cfg.notify) {
		case DP_NOTIFY_POLL:
			__builtin_ia32_pause();
			break;
		case DP_NOTIFY_ADAPTIVE:
			if (!idle_since) {
				idle_since = t1;
				spinning = hits >= SPIN_MIN_HITS ||
					   ++probe % SPIN_PROBE == 0;
			}
			if (spinning && t1 - idle_since < idle_cycles) {
				__builtin_ia32_pause();
				break;
			}
			if (spinning)	/* spun out: the gap was longer */
				hits -= hits / 8;
			spinning = false;
			/* fall through */
		case DP_NOTIFY_EVENT:
			sleep_until_work(w, qs);
			idle_since = 0;
			break;
		}
	}
	/* a guest must not wait for a call from a stopped worker */
	raise_owed(w);
	return NULL;
}

/* Watches @fd for queue @r of @w (edge-triggered for a peer's eventfd). */
static void watch(struct dp_worker *w, struct dp_rxq *r, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (r->fd == fd)
		return;
	if (r->fd >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, r->fd, NULL);
	r->fd = -1;
	if (fd < 0)
		return;
	if (r->port->ops->rx_fd_edge)
		ev.events |= EPOLLET;
	ev.data.u64 = rxq_key(r->port, r->q);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 &&
	    (errno != EEXIST ||
	     epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)) {
		pv_warn("port %s: queue %u: worker %u cannot watch it: %s",
			r->port->name, r->q, w->id, strerror(errno));
		return;
	}
	r->fd = fd;
}

/* Control thread: a worker's current set (it is the only writer). */
static struct dp_qset *qset_of(struct dp_worker *w)
{
	return __atomic_load_n(&w->qset, __ATOMIC_RELAXED);
}

/*
 * Control thread: gives @p's receive queues to workers, each to the one
 * with the fewest queues (the lowest id on a tie: round-robin from an
 * even start), by publishing new queue sets, then watches their fds. The
 * replaced sets go to @old[] (NULL where unchanged), for the caller to
 * free after a grace period. 0 or -ENOMEM (nothing changed).
 */
static int assign_port(struct dp *dp, struct port *p, struct dp_qset **old)
{
	unsigned nw = dp->cfg.workers, n = p->ops->rx_queues ?
					 p->ops->rx_queues(p) : 0;
	unsigned cnt[DP_MAX_WORKERS], add[DP_MAX_WORKERS] = { 0 };
	uint8_t who[PORT_MAX_QUEUES];
	struct dp_qset *nset[DP_MAX_WORKERS] = { NULL };

	n = PV_MIN(n, PORT_MAX_QUEUES);
	for (unsigned k = 0; k < nw; k++) {
		cnt[k] = qset_of(&dp->w[k])->n;
		old[k] = NULL;
	}
	for (unsigned q = 0; q < n; q++) {
		unsigned best = 0;

		for (unsigned k = 1; k < nw; k++)
			if (cnt[k] < cnt[best])
				best = k;
		who[q] = (uint8_t)best;
		cnt[best]++;
		add[best]++;
	}
	for (unsigned k = 0; k < nw; k++) {
		const struct dp_qset *cur = qset_of(&dp->w[k]);

		if (!add[k])
			continue;
		nset[k] = malloc(sizeof(*nset[k]) +
				 (cur->n + add[k]) * sizeof(nset[k]->q[0]));
		if (!nset[k]) {
			for (unsigned j = 0; j < k; j++)
				free(nset[j]);
			return -ENOMEM;
		}
		memcpy(nset[k], cur, sizeof(*cur) + cur->n * sizeof(cur->q[0]));
	}
	for (unsigned q = 0; q < n; q++) {
		struct dp_rxq *r = &nset[who[q]]->q[nset[who[q]]->n++];

		r->port = p;
		r->q = q;
		r->fd = -1;
	}
	for (unsigned k = 0; k < nw; k++) {
		struct dp_worker *w = &dp->w[k];

		if (!nset[k])
			continue;
		old[k] = __atomic_exchange_n(&w->qset, nset[k], __ATOMIC_ACQ_REL);
		w->st.nqueues = nset[k]->n;
		for (unsigned j = 0; j < nset[k]->n; j++) {
			struct dp_rxq *r = &nset[k]->q[j];

			if (r->port == p)
				watch(w, r, p->ops->rx_fd ? p->ops->rx_fd(p, r->q) : -1);
		}
	}
	return 0;
}

/*
 * Before the workers start: spread every receive queue a port can ever
 * have over the workers, round-robin in port order. While they run, a
 * ring starting or stopping needs no pause: only its fd is watched or
 * unwatched (dp_watch), and its flags say whether to poll it; a port
 * added or deleted gets or loses its queues by new queue sets
 * (dp_port_add, dp_port_del).
 */
static void assign(struct dp *dp)
{
	struct dp_qset *old[DP_MAX_WORKERS];

	for (unsigned pi = 0; pi < dp->sw->nports; pi++) {
		if (assign_port(dp, dp->sw->ports[pi], old) < 0) {
			pv_err("dp: port %s: no memory for its queues",
			       dp->sw->ports[pi]->name);
			continue;
		}
		/* No worker runs yet: nothing to wait for. */
		for (unsigned k = 0; k < dp->cfg.workers; k++)
			free(old[k]);
	}
}

int dp_port_add(struct dp *dp, struct port *p)
{
	struct dp_qset *old[DP_MAX_WORKERS];
	int rc;

	/* Before dp_start(), assign() spreads every port's queues. */
	if (!dp || !dp->started)
		return 0;
	rc = assign_port(dp, p, old);
	if (rc < 0)
		return rc;
	/* Wake the new queues' workers: they arm them before sleeping again. */
	for (unsigned k = 0; k < dp->cfg.workers; k++)
		if (old[k])
			wake(&dp->w[k]);
	dp_sync(dp, false);
	for (unsigned k = 0; k < dp->cfg.workers; k++)
		free(old[k]);
	return 0;
}

int dp_port_del(struct dp *dp, struct port *p)
{
	struct dp_qset *nset[DP_MAX_WORKERS] = { NULL };
	unsigned nw;

	if (!dp || !dp->started)
		return 0;
	nw = dp->cfg.workers;
	for (unsigned k = 0; k < nw; k++) {
		const struct dp_qset *cur = qset_of(&dp->w[k]);
		unsigned mine = 0;

		for (unsigned j = 0; j < cur->n; j++)
			mine += cur->q[j].port == p;
		if (!mine)
			continue;
		nset[k] = malloc(sizeof(*nset[k]) +
				 (cur->n - mine) * sizeof(nset[k]->q[0]));
		if (!nset[k]) {
			for (unsigned j = 0; j < k; j++)
				free(nset[j]);
			return -ENOMEM;
		}
	}
	for (unsigned k = 0; k < nw; k++) {
		struct dp_worker *w = &dp->w[k];
		struct dp_qset *cur = qset_of(w);

		if (!nset[k])
			continue;
		nset[k]->n = 0;
		for (unsigned j = 0; j < cur->n; j++) {
			if (cur->q[j].port != p)
				nset[k]->q[nset[k]->n++] = cur->q[j];
			else	/* unwatched before the port closes it */
				watch(w, &cur->q[j], -1);
		}
		nset[k] = __atomic_exchange_n(&w->qset, nset[k], __ATOMIC_ACQ_REL);
		w->st.nqueues = qset_of(w)->n;
	}
	/*
	 * Every worker has passed a quiescent point with its GRO table
	 * emptied since: none polls @p, none holds a chain of it.
	 */
	dp_sync(dp, true);
	for (unsigned k = 0; k < nw; k++)
		free(nset[k]);
	return 0;
}

/* The watchdog's signal only interrupts a sleeping write: nothing to do. */
static void on_guard_signal(int sig)
{
	(void)sig;
}

#define WATCHDOG_NS	20000000L	/* a guarded write may sleep 20-40 ms */

/*
 * Breaks a worker out of a write to a peer's eventfd that sleeps (the
 * counter is at its maximum and the peer does not read): if the same guard
 * is open on two ticks in a row, the signal makes the write return EINTR.
 * A signal that lands after the write returned is consumed harmlessly (the
 * handler does nothing and the worker's other syscalls do not sleep, or
 * take EINTR as a spurious wakeup).
 */
static void *watchdog_main(void *arg)
{
	struct dp *dp = arg;
	uint64_t seen[DP_MAX_WORKERS] = { 0 };
	struct timespec tick = { 0, WATCHDOG_NS };

	/* Until the workers joined: one may sleep in a write at shutdown too. */
	while (!__atomic_load_n(&dp->wd_stop, __ATOMIC_ACQUIRE)) {
		nanosleep(&tick, NULL);
		for (unsigned k = 0; k < dp->cfg.workers; k++) {
			uint64_t g = __atomic_load_n(&dp->w[k].guard,
						     __ATOMIC_RELAXED);

			if ((g & 1) && g == seen[k]) {
				pthread_kill(dp->w[k].thread, DP_GUARD_SIGNAL);
				__atomic_add_fetch(&dp->w[k].st.guard_breaks, 1,
						   __ATOMIC_RELAXED);
			}
			seen[k] = g;
		}
	}
	return NULL;
}

struct dp *dp_create(struct sw *sw, const struct dp_cfg *cfg)
{
	struct dp *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	dp->sw = sw;
	dp->cfg = *cfg;
	if (!dp->cfg.workers)
		dp->cfg.workers = 1;
	if (dp->cfg.workers > DP_MAX_WORKERS)
		dp->cfg.workers = DP_MAX_WORKERS;
	if (!dp->cfg.budget)
		dp->cfg.budget = 64;
	dp->tsc_hz = measure_tsc_hz();
	if (posix_memalign((void **)&dp->w, 64,
			   sizeof(*dp->w) * dp->cfg.workers)) {
		free(dp);
		return NULL;
	}
	memset(dp->w, 0, sizeof(*dp->w) * dp->cfg.workers);
	for (unsigned k = 0; k < dp->cfg.workers; k++) {
		struct dp_worker *w = &dp->w[k];
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_KEY };

		w->dp = dp;
		w->id = k;
		w->qset = calloc(1, sizeof(*w->qset));
		if (!w->qset) {
			pv_err("dp: worker %u: out of memory", k);
			dp_destroy(dp);
			return NULL;
		}
		if (dp->cfg.gro.policy != GRO_OFF) {
			w->gro = gro_table_create(&dp->cfg.gro, gro_deliver, w);
			if (!w->gro) {
				pv_err("dp: worker %u: GRO table: out of memory", k);
				dp_destroy(dp);
				return NULL;
			}
		}
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->epfd < 0 || w->wakefd < 0 ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0) {
			pv_err("dp: worker %u setup: %s", k, strerror(errno));
			dp_destroy(dp);
			return NULL;
		}
	}
	sw->dp = dp;
	return dp;
}

int dp_start(struct dp *dp)
{
	struct sigaction sa = { .sa_handler = on_guard_signal };
	int rc;

	/* No SA_RESTART: the point is that a sleeping write returns EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(DP_GUARD_SIGNAL, &sa, NULL) < 0)
		return -errno;
	assign(dp);
	for (unsigned k = 0; k < dp->cfg.workers; k++) {
		rc = pthread_create(&dp->w[k].thread, NULL, worker_main,
				    &dp->w[k]);
		if (rc) {
			pv_err("dp: start worker %u: %s", k, strerror(rc));
			__atomic_store_n(&dp->stop, 1, __ATOMIC_RELEASE);
			for (unsigned j = 0; j < k; j++) {
				wake(&dp->w[j]);
				pthread_join(dp->w[j].thread, NULL);
			}
			return -rc;
		}
	}
	dp->started = true;
	rc = pthread_create(&dp->watchdog, NULL, watchdog_main, dp);
	if (rc)
		pv_warn("dp: no watchdog thread (%s): a frontend's full call "
			"eventfd can stall a worker", strerror(rc));
	else
		dp->watchdog_on = true;
	pv_info("dp: %u worker(s), notify %s, budget %u", dp->cfg.workers,
		dp_notify_name(dp->cfg.notify), dp->cfg.budget);
	return 0;
}

void dp_sync(struct dp *dp, bool flush_gro)
{
	uint64_t snap[DP_MAX_WORKERS];
	unsigned n, spins = 0, gen = 0;

	if (!dp || !dp->started)
		return;
	n = dp->cfg.workers;
	if (flush_gro)
		gen = __atomic_add_fetch(&dp->flush_gen, 1, __ATOMIC_ACQ_REL);
	/* The caller's unpublish is visible before we read any worker state. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned k = 0; k < n; k++)
		snap[k] = __atomic_load_n(&dp->w[k].qs, __ATOMIC_ACQUIRE);
	/* A sleeping worker may hold GRO packets: it must wake to flush. */
	if (flush_gro)
		for (unsigned k = 0; k < n; k++)
			wake(&dp->w[k]);
	for (unsigned k = 0; k < n; k++) {
		struct dp_worker *w = &dp->w[k];

		for (;;) {
			/*
			 * A flush counts only from a quiescent point that read
			 * this request: one that read the flag before it (then
			 * bumped qs) may have left packets held.
			 */
			if (flush_gro) {
				if ((int)(__atomic_load_n(&w->flush_seen,
							  __ATOMIC_ACQUIRE) - gen) >= 0)
					break;
			} else if (__atomic_load_n(&w->qs, __ATOMIC_ACQUIRE) != snap[k] ||
				   __atomic_load_n(&w->idle, __ATOMIC_ACQUIRE)) {
				break;
			}
			if (__atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE))
				return;
			/* Rounds are short: spin a little, then let them run. */
			if (++spins < 64) {
				__builtin_ia32_pause();
			} else {
				struct timespec d = { 0, 20000 };

				nanosleep(&d, NULL);
			}
		}
	}
}

/* The worker polling (@p, @q) and that queue's entry in its set, or NULL. */
static struct dp_worker *owner_of(struct dp *dp, const struct port *p,
				  unsigned q, struct dp_rxq **r)
{
	for (unsigned i = 0; i < dp->cfg.workers; i++) {
		struct dp_qset *qs = qset_of(&dp->w[i]);

		for (unsigned j = 0; j < qs->n; j++)
			if (qs->q[j].port == p && qs->q[j].q == q) {
				*r = &qs->q[j];
				return &dp->w[i];
			}
	}
	return NULL;
}

void dp_watch(struct dp *dp, struct port *p, unsigned q, int fd)
{
	struct dp_worker *w;
	struct dp_rxq *r;

	/* Before dp_start(), assign() reads rx_fd() itself. */
	if (!dp || !dp->started)
		return;
	w = owner_of(dp, p, q, &r);
	if (w) {
		watch(w, r, fd);
		/* A kick that came before the fd was watched must not be lost. */
		if (fd >= 0)
			wake(w);
	}
}

bool dp_call(int fd)
{
	struct dp_worker *w = current;
	uint64_t one = 1, t0 = dp_stage_tsc();
	ssize_t r;

	if (w)
		__atomic_store_n(&w->guard, w->guard + 1, __ATOMIC_RELAXED);
	r = write(fd, &one, sizeof(one));
	if (w)
		__atomic_store_n(&w->guard, w->guard + 1, __ATOMIC_RELAXED);
	/*
	 * Notify, wherever the call is raised (most are an early "yes" in
	 * the middle of a delivery): waking a guest's sleeping thread on the
	 * other CPU is the dearest step of a packet here (docs/benchmarks.md).
	 */
	dp_stage_add(DP_STAGE_NOTIFY, dp_stage_tsc() - t0);
	return r == (ssize_t)sizeof(one);
}

bool dp_fd_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT);
}

void dp_destroy(struct dp *dp)
{
	if (!dp)
		return;
	if (dp->started) {
		__atomic_store_n(&dp->stop, 1, __ATOMIC_RELEASE);
		for (unsigned k = 0; k < dp->cfg.workers; k++) {
			wake(&dp->w[k]);
			pthread_join(dp->w[k].thread, NULL);
		}
		__atomic_store_n(&dp->wd_stop, 1, __ATOMIC_RELEASE);
		if (dp->watchdog_on)
			pthread_join(dp->watchdog, NULL);
	}
	for (unsigned k = 0; k < dp->cfg.workers; k++) {
		free(dp->w[k].qset);
		if (dp->w[k].gro)
			gro_table_destroy(dp->w[k].gro);
		if (dp->w[k].epfd > 0)
			close(dp->w[k].epfd);
		if (dp->w[k].wakefd > 0)
			close(dp->w[k].wakefd);
	}
	if (dp->sw)
		dp->sw->dp = NULL;
	free(dp->w);
	free(dp);
}

enum dp_notify dp_notify_mode(const struct dp *dp)
{
	return dp ? dp->cfg.notify : DP_NOTIFY_ADAPTIVE;
}

unsigned dp_nworkers(const struct dp *dp)
{
	return dp->cfg.workers;
}

const struct dp_worker_stats *dp_worker_stats(const struct dp *dp, unsigned w)
{
	return w < dp->cfg.workers ? &dp->w[w].st : NULL;
}

uint64_t dp_tsc_hz(const struct dp *dp)
{
	return dp->tsc_hz;
}

const struct gro_table *dp_worker_gro(const struct dp *dp, unsigned w)
{
	return w < dp->cfg.workers ? dp->w[w].gro : NULL;
}
