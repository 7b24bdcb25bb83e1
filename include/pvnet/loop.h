/* SPDX-License-Identifier: MIT */
/*
 * loop.h - a small epoll event loop: fds with callbacks, one thread.
 *
 * Modules that own fds (vhost connections, kick eventfds, ports) register
 * them here; the loop owns nothing but its epoll fd. Callbacks may add and
 * delete watches, including their own, while being called.
 */
#ifndef PVNET_LOOP_H
#define PVNET_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct pv_loop;

/* Called with the epoll events that fired (EPOLLIN, EPOLLHUP, ...). */
typedef void (*pv_loop_cb)(void *opaque, int fd, uint32_t events);

/* Creates a loop; NULL on failure. Caller frees with pv_loop_destroy(). */
struct pv_loop *pv_loop_create(void);
/* Closes the epoll fd and frees the watches; does not close watched fds. */
void pv_loop_destroy(struct pv_loop *loop);
/* Watches @fd for @events (EPOLLIN...). Returns 0 or -errno. */
int pv_loop_add(struct pv_loop *loop, int fd, uint32_t events, pv_loop_cb cb,
		void *opaque);
/* Stops watching @fd (before closing it). Returns 0 or -ENOENT. */
int pv_loop_del(struct pv_loop *loop, int fd);
/*
 * Waits up to @timeout_ms (-1: forever, 0: poll) and runs the callbacks of
 * the fds that are ready. Returns the number of callbacks run or -errno.
 */
int pv_loop_run_once(struct pv_loop *loop, int timeout_ms);

#endif /* PVNET_LOOP_H */
