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
 * Quiesce: the control thread calls dp_pause() before it changes rings or
 * memory; each worker parks at the top of its loop, so no worker is inside
 * a port when dp_pause() returns. Workers take no lock per burst: the pause
 * flag is one atomic load per round.
 */
#include <errno.h>
#include <pthread.h>
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
#define MAX_QUEUES_PER_WORKER	(SW_MAX_PORTS * PORT_MAX_QUEUES)

struct dp_rxq {
	struct port *port;
	unsigned q;
	int fd;			/* rx_fd, or -1 */
};

struct dp_worker {
	struct dp *dp;
	unsigned id;
	pthread_t thread;
	int epfd;
	int wakefd;		/* eventfd: pause/stop wake a sleeping worker */
	unsigned nq;
	struct dp_rxq q[MAX_QUEUES_PER_WORKER];
	struct dp_worker_stats st;
	struct gro_table *gro;
} PV_CACHE_ALIGNED;

struct dp {
	struct sw *sw;
	struct dp_cfg cfg;
	uint64_t tsc_hz;
	bool started;
	int pause_req;		/* atomic: workers park while > 0 */
	int stop;		/* atomic */
	pthread_mutex_t lock;
	pthread_cond_t parked_cv, resume_cv;
	unsigned parked;
	unsigned pause_depth;	/* control thread only */
	struct dp_worker *w;
};

static __thread struct dp_worker *current;
__thread uint64_t *dp_stage_acc;

struct gro_table *dp_gro_table(void)
{
	return current ? current->gro : NULL;
}

const struct gro_table *dp_worker_gro(const struct dp *dp, unsigned w);

/*
 * A packet GRO lets go: deliver it, then give every held source buffer back
 * to its port, grouped in runs of one (port, queue) so a vhost source
 * publishes its used ring once per run.
 */
static void gro_deliver(void *arg, struct gro_out *out)
{
	struct dp_worker *w = arg;
	struct sw *sw = w->dp->sw;
	struct pkt *p = &out->pkt;
	uint32_t cookies[GRO_MAX_SEGS];

	if (out->dst_port < sw->nports) {
		struct port *d = sw->ports[out->dst_port];

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
		if (r->port < sw->nports && sw->ports[r->port]->ops->release)
			sw->ports[r->port]->ops->release(sw->ports[r->port],
							 r->queue, cookies, k);
	}
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

static void park(struct dp_worker *w)
{
	struct dp *dp = w->dp;

	/*
	 * Nothing stays held across a pause: the control thread may be about
	 * to stop the very ring a held buffer came from.
	 */
	if (w->gro)
		gro_flush_all(w->gro);
	pthread_mutex_lock(&dp->lock);
	dp->parked++;
	pthread_cond_signal(&dp->parked_cv);
	while (__atomic_load_n(&dp->pause_req, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&dp->resume_cv, &dp->lock);
	dp->parked--;
	pthread_mutex_unlock(&dp->lock);
}

/* Turns notifications on for every queue; true if any had work meanwhile. */
static bool arm_all(struct dp_worker *w)
{
	bool pending = false;

	for (unsigned i = 0; i < w->nq; i++) {
		struct dp_rxq *r = &w->q[i];

		if (r->port->ops->rx_notify &&
		    r->port->ops->rx_notify(r->port, r->q, true))
			pending = true;
	}
	return pending;
}

static void disarm_all(struct dp_worker *w)
{
	for (unsigned i = 0; i < w->nq; i++) {
		struct dp_rxq *r = &w->q[i];

		if (r->port->ops->rx_notify)
			r->port->ops->rx_notify(r->port, r->q, false);
	}
}

static void sleep_until_work(struct dp_worker *w)
{
	struct epoll_event evs[16];
	int timeout_ms = 100;
	uint64_t v;

	/* Wake for the earliest GRO deadline: no packet is held past it. */
	if (w->gro && gro_held(w->gro)) {
		uint64_t dl = gro_next_deadline(w->gro), now = pv_now_ns();

		if (dl <= now) {
			gro_flush_all(w->gro);
		} else {
			uint64_t ms = (dl - now + 999999) / 1000000;

			timeout_ms = ms < 100 ? (int)ms : 100;
		}
	}
	if (arm_all(w)) {
		disarm_all(w);
		return;
	}
	w->st.sleeps++;
	/*
	 * Queues without an fd can only be polled, so the sleep is bounded;
	 * the fds themselves are drained by rx_notify(false) in the ports.
	 */
	if (epoll_wait(w->epfd, evs, ARRAY_SIZE(evs), timeout_ms) < 0 &&
	    errno != EINTR)
		pv_debug("dp: epoll_wait: %s", strerror(errno));
	if (read(w->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pv_debug("dp: wakefd read: %s", strerror(errno));
	disarm_all(w);
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
	dp_stage_acc = w->st.stage_cycles;
	while (!__atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE)) {
		uint64_t t0, t1, t2, staged;
		unsigned work = 0;

		if (__atomic_load_n(&dp->pause_req, __ATOMIC_ACQUIRE)) {
			park(w);
			continue;
		}
		t0 = dp_rdtsc();
		staged = w->st.stage_cycles[DP_STAGE_CLASSIFY] +
			 w->st.stage_cycles[DP_STAGE_DELIVER] +
			 w->st.stage_cycles[DP_STAGE_NOTIFY];
		for (unsigned i = 0; i < w->nq; i++) {
			struct dp_rxq *r = &w->q[i];

			work += r->port->ops->poll(r->port, r->q, dp->cfg.budget);
		}
		t1 = dp_rdtsc();
		if (work) {
			uint64_t other = w->st.stage_cycles[DP_STAGE_CLASSIFY] +
					 w->st.stage_cycles[DP_STAGE_DELIVER] +
					 w->st.stage_cycles[DP_STAGE_NOTIFY] - staged;

			/* What the measured stages did not take was receive work. */
			if (t1 - t0 > other)
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
			gro_poll_end(w->gro, work, pv_now_ns());
			if (gro_stats(w->gro)->out_pkts != out0) {
				uint64_t ntf = w->st.stage_cycles[DP_STAGE_NOTIFY] -
					       staged;

				t2 = dp_rdtsc();
				w->st.busy_cycles += t2 - t1;
				if (t2 - t1 > ntf)
					w->st.stage_cycles[DP_STAGE_DELIVER] +=
						t2 - t1 - ntf;
			}
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
			sleep_until_work(w);
			idle_since = 0;
			break;
		}
	}
	return NULL;
}

/* Control thread, workers parked: spread every receive queue over workers. */
static void assign(struct dp *dp)
{
	unsigned next = 0;

	for (unsigned k = 0; k < dp->cfg.workers; k++) {
		struct dp_worker *w = &dp->w[k];

		for (unsigned i = 0; i < w->nq; i++)
			if (w->q[i].fd >= 0)
				epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->q[i].fd, NULL);
		w->nq = 0;
	}
	for (unsigned pi = 0; pi < dp->sw->nports; pi++) {
		struct port *p = dp->sw->ports[pi];
		unsigned n = p->ops->rx_queues ? p->ops->rx_queues(p) : 0;

		for (unsigned q = 0; q < n; q++) {
			struct dp_worker *w = &dp->w[next++ % dp->cfg.workers];
			struct dp_rxq *r;

			if (w->nq == MAX_QUEUES_PER_WORKER)
				continue;
			r = &w->q[w->nq++];
			r->port = p;
			r->q = q;
			r->fd = p->ops->rx_fd ? p->ops->rx_fd(p, q) : -1;
			if (r->fd >= 0) {
				struct epoll_event ev = { .events = EPOLLIN };

				ev.data.u32 = w->nq - 1;
				if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, r->fd, &ev) < 0 &&
				    errno != EEXIST)
					pv_warn("dp: worker %u: watch %s queue %u: %s",
						w->id, p->name, q, strerror(errno));
			}
		}
	}
	for (unsigned k = 0; k < dp->cfg.workers; k++)
		dp->w[k].st.nqueues = dp->w[k].nq;
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
	if (!dp->cfg.budget)
		dp->cfg.budget = 64;
	dp->tsc_hz = measure_tsc_hz();
	pthread_mutex_init(&dp->lock, NULL);
	pthread_cond_init(&dp->parked_cv, NULL);
	pthread_cond_init(&dp->resume_cv, NULL);
	if (posix_memalign((void **)&dp->w, 64,
			   sizeof(*dp->w) * dp->cfg.workers)) {
		free(dp);
		return NULL;
	}
	memset(dp->w, 0, sizeof(*dp->w) * dp->cfg.workers);
	for (unsigned k = 0; k < dp->cfg.workers; k++) {
		struct dp_worker *w = &dp->w[k];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = ~0u };

		w->dp = dp;
		w->id = k;
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
	assign(dp);
	for (unsigned k = 0; k < dp->cfg.workers; k++) {
		int rc = pthread_create(&dp->w[k].thread, NULL, worker_main,
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
	pv_info("dp: %u worker(s), notify %s, budget %u", dp->cfg.workers,
		dp_notify_name(dp->cfg.notify), dp->cfg.budget);
	return 0;
}

void dp_pause(struct dp *dp)
{
	if (!dp || !dp->started)
		return;
	if (dp->pause_depth++)
		return;
	pthread_mutex_lock(&dp->lock);
	__atomic_store_n(&dp->pause_req, 1, __ATOMIC_RELEASE);
	for (unsigned k = 0; k < dp->cfg.workers; k++)
		wake(&dp->w[k]);
	while (dp->parked < dp->cfg.workers)
		pthread_cond_wait(&dp->parked_cv, &dp->lock);
	pthread_mutex_unlock(&dp->lock);
}

void dp_resume(struct dp *dp)
{
	if (!dp || !dp->started)
		return;
	if (--dp->pause_depth)
		return;
	pthread_mutex_lock(&dp->lock);
	assign(dp);
	__atomic_store_n(&dp->pause_req, 0, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&dp->resume_cv);
	pthread_mutex_unlock(&dp->lock);
}

void dp_destroy(struct dp *dp)
{
	if (!dp)
		return;
	if (dp->started) {
		__atomic_store_n(&dp->stop, 1, __ATOMIC_RELEASE);
		pthread_mutex_lock(&dp->lock);
		pthread_cond_broadcast(&dp->resume_cv);
		pthread_mutex_unlock(&dp->lock);
		for (unsigned k = 0; k < dp->cfg.workers; k++) {
			wake(&dp->w[k]);
			pthread_join(dp->w[k].thread, NULL);
		}
	}
	for (unsigned k = 0; k < dp->cfg.workers; k++) {
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
	pthread_mutex_destroy(&dp->lock);
	pthread_cond_destroy(&dp->parked_cv);
	pthread_cond_destroy(&dp->resume_cv);
	free(dp);
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
