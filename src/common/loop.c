// SPDX-License-Identifier: MIT
/*
 * loop.c - epoll loop with fd callbacks
 *
 * A watch is freed only after the current dispatch round, so a callback that
 * deletes another fd's watch (a connection closing its kick fds) never leaves
 * a dangling pointer in the events array being walked.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "pvnet/loop.h"

struct watch {
	int fd;
	bool dead;
	pv_loop_cb cb;
	void *opaque;
	struct watch *next;
};

struct pv_loop {
	int epfd;
	struct watch *watches;	/* live and dead; dead ones reaped per round */
	bool dispatching;
};

#define LOOP_MAX_EVENTS 64

struct pv_loop *pv_loop_create(void)
{
	struct pv_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

static void reap(struct pv_loop *loop)
{
	struct watch **pp = &loop->watches;

	while (*pp) {
		struct watch *w = *pp;

		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void pv_loop_destroy(struct pv_loop *loop)
{
	if (!loop)
		return;
	for (struct watch *w = loop->watches; w; w = w->next)
		w->dead = true;
	reap(loop);
	close(loop->epfd);
	free(loop);
}

int pv_loop_add(struct pv_loop *loop, int fd, uint32_t events, pv_loop_cb cb,
		void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->opaque = opaque;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int pv_loop_del(struct pv_loop *loop, int fd)
{
	for (struct watch *w = loop->watches; w; w = w->next) {
		if (w->fd != fd || w->dead)
			continue;
		/* The fd may already be closed by its owner: ignore errors. */
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		w->dead = true;
		if (!loop->dispatching)
			reap(loop);
		return 0;
	}
	return -ENOENT;
}

int pv_loop_run_once(struct pv_loop *loop, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, ran = 0;

	n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->dispatching = true;
	for (int i = 0; i < n; i++) {
		struct watch *w = evs[i].data.ptr;

		if (w->dead)
			continue;
		w->cb(w->opaque, w->fd, evs[i].events);
		ran++;
	}
	loop->dispatching = false;
	reap(loop);
	return ran;
}
