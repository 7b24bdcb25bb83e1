// SPDX-License-Identifier: MIT
/*
 * ctl_listener.c - what the control socket and the metrics listener share:
 * a listening socket served from the control thread's loop, its client
 * slots, their deadlines and the non-blocking write of a reply. The
 * control thread also runs every vhost-user socket, so a client must never
 * hold it: see struct ctl_listener for the rules, and ctlsock.c and
 * metrics_http.c for the protocols on top.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "ctl_internal.h"

int ctl_listener_init(struct ctl_listener *l, const char *who,
		      const struct ctl_listener_ops *ops, void *owner,
		      void *slots, unsigned nslots, size_t stride,
		      unsigned deadline_ms, bool peercred)
{
	l->who = who;
	l->ops = ops;
	l->owner = owner;
	l->slots = slots;
	l->nslots = nslots;
	l->stride = stride;
	l->deadline_ms = deadline_ms;
	l->peercred = peercred;
	l->fd = -1;
	for (unsigned i = 0; i < nslots; i++)
		ctl_listener_slot(l, i)->fd = -1;
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return l->timer_fd < 0 ? -errno : 0;
}

/* Arms the timer for the earliest client deadline or the end of a pause. */
static void arm_timer(struct ctl_listener *l)
{
	struct itimerspec its = { 0 };
	uint64_t first = l->resume_ns;

	for (unsigned i = 0; i < l->nslots; i++) {
		struct ctl_conn *c = ctl_listener_slot(l, i);

		if (c->fd >= 0 && (!first || c->deadline_ns < first))
			first = c->deadline_ns;
	}
	/* pv_now_ns() is CLOCK_MONOTONIC, as is the timer; 0 disarms it */
	its.it_value.tv_sec = (time_t)(first / 1000000000ULL);
	its.it_value.tv_nsec = (long)(first % 1000000000ULL);
	timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void ctl_conn_close(struct ctl_conn *c)
{
	pv_loop_del(c->l->loop, c->fd);
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
}

int ctl_conn_send(struct ctl_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -1;
		c->out_off += (size_t)n;
	}
	return 1;
}

/*
 * accept() failed with @err: out of fds or memory, the queued connection
 * keeps the level-triggered listener readable, so it leaves the loop until
 * the timer puts it back. Any other error is the client's (it went away).
 */
static void accept_failed(struct ctl_listener *l, int err)
{
	if ((err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) ||
	    pv_loop_del(l->loop, l->fd) < 0)
		return;
	l->accept_errors++;
	l->resume_ns = pv_now_ns() + CTL_ACCEPT_PAUSE_NS;
	pv_log_ratelimited(&l->rl, PV_LOG_WARN,
			   "%s: accept: %s: not accepting for 250 ms",
			   l->who, strerror(err));
}

static struct ctl_conn *free_slot(struct ctl_listener *l)
{
	for (unsigned i = 0; i < l->nslots; i++)
		if (ctl_listener_slot(l, i)->fd < 0)
			return ctl_listener_slot(l, i);
	return NULL;
}

static void on_accept(void *opaque, int fd, uint32_t events)
{
	struct ctl_listener *l = opaque;

	(void)events;
	for (unsigned k = 0; k < CTL_ACCEPTS_PER_CALL; k++) {
		struct ucred peer = { .pid = 0 };
		socklen_t plen = sizeof(peer);
		struct ctl_conn *c;
		int fdc = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fdc < 0) {
			accept_failed(l, errno);
			break;
		}
		if (l->peercred)
			getsockopt(fdc, SOL_SOCKET, SO_PEERCRED, &peer, &plen);
		c = free_slot(l);
		if (!c) {
			l->refused++;
			if (l->peercred)
				pv_log_ratelimited(&l->rl, PV_LOG_WARN,
						   "%s: %u clients already connected: client pid %d uid %u refused (%llu refused so far)",
						   l->who, l->nslots, (int)peer.pid,
						   (unsigned)peer.uid,
						   (unsigned long long)l->refused);
			else
				pv_log_ratelimited(&l->rl, PV_LOG_WARN,
						   "%s: %u clients already connected: one more refused (%llu refused so far)",
						   l->who, l->nslots,
						   (unsigned long long)l->refused);
			close(fdc);
			continue;
		}
		c->l = l;
		c->fd = fdc;
		c->peer = peer;
		c->deadline_ns = pv_now_ns() + l->deadline_ms * 1000000ULL;
		c->out = NULL;
		c->out_len = c->out_off = 0;
		l->ops->opened(c);
		/* edge-triggered: a request waiting already is reported once */
		if (pv_loop_add(l->loop, fdc, EPOLLIN | EPOLLOUT | EPOLLRDHUP |
				EPOLLET, l->ops->on_client, c) < 0) {
			close(fdc);
			c->fd = -1;
			continue;
		}
		l->accepted++;
	}
	arm_timer(l);
}

static void on_timer(void *opaque, int fd, uint32_t events)
{
	struct ctl_listener *l = opaque;
	uint64_t n, now = pv_now_ns();

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	if (l->resume_ns && now >= l->resume_ns &&
	    pv_loop_add(l->loop, l->fd, EPOLLIN, on_accept, l) == 0)
		l->resume_ns = 0;
	for (unsigned i = 0; i < l->nslots; i++) {
		struct ctl_conn *c = ctl_listener_slot(l, i);

		if (c->fd < 0 || c->deadline_ns > now)
			continue;
		if (l->ops->expired(c))
			l->timed_out++;
		ctl_conn_close(c);
	}
	arm_timer(l);
}

int ctl_listener_start(struct ctl_listener *l, struct pv_loop *loop, int fd)
{
	l->loop = loop;
	l->fd = fd;
	if (pv_loop_add(loop, l->timer_fd, EPOLLIN, on_timer, l) < 0)
		return -errno;
	if (pv_loop_add(loop, fd, EPOLLIN, on_accept, l) < 0) {
		int err = -errno;

		pv_loop_del(loop, l->timer_fd);
		return err;
	}
	return 0;
}

void ctl_listener_stop(struct ctl_listener *l)
{
	for (unsigned i = 0; i < l->nslots; i++)
		if (ctl_listener_slot(l, i)->fd >= 0)
			ctl_conn_close(ctl_listener_slot(l, i));
	if (l->loop) {
		pv_loop_del(l->loop, l->fd);
		pv_loop_del(l->loop, l->timer_fd);
	}
	if (l->fd >= 0)
		close(l->fd);
	if (l->timer_fd >= 0)
		close(l->timer_fd);
	l->fd = l->timer_fd = -1;
}
