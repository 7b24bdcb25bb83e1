/* SPDX-License-Identifier: MIT */
/* vhu_internal.h - state shared by the vhost/ files; not for other modules */
#ifndef PVNET_VHU_INTERNAL_H
#define PVNET_VHU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnet/log.h"
#include "pvnet/vhost.h"

/* Largest payload we accept: the union in struct vhu_msg. */
#define VHU_MAX_PAYLOAD		sizeof(((struct vhu_msg *)0)->payload)
/* A message that stays incomplete this long closes the connection. */
#define VHU_MSG_TIMEOUT_NS	1500000000ULL
/* Running-ring restarts per connection: a burst, then a sustained rate. */
#define VHU_RESTART_BURST	128u
#define VHU_RESTART_RATE	32u
/* Client mode: delay between connection attempts. */
#define VHU_RECONNECT_NS	1000000000ULL
/* SET_VRING_KICK/CALL/ERR u64: bits 0-7 index, bit 8 "no fd" (vhost-user.rst). */
#define VHU_VRING_IDX_MASK	0xffULL
#define VHU_VRING_NOFD		0x100ULL

/* Incremental receive of one message on a non-blocking stream socket. */
struct vhu_rx {
	struct vhu_msg msg;	/* fds in msg are owned here until handed on */
	size_t got;		/* header + payload bytes received so far */
	uint64_t start_ns;	/* arrival of the first byte; 0 when idle */
	bool extra_fds;		/* fds beyond VHU_MAX_FDS came (and were closed) */
};

/* Empties @rx, closing any fds it still holds. */
void vhu_rx_reset(struct vhu_rx *rx);
/*
 * Reads what the socket has for the current message, never blocking.
 * Returns 1 when rx->msg is complete (fds now owned by the caller of the
 * next vhu_rx_reset(), or taken out), 0 when more bytes are needed, -EPIPE
 * on a clean close between messages, or another negative errno with *why
 * set (VHU_MSG_*) when the connection must close. @reply: expect replies
 * (frontend) instead of requests (backend).
 */
int vhu_rx_step(int fd, struct vhu_rx *rx, bool reply, uint64_t now_ns,
		enum pv_drop *why);
/*
 * Header check shared by the socket path and vhu_dev_handle_msg():
 * version 1, no unknown flag bits, REPLY set only when @reply, size within
 * the payload. Returns PV_DROP_NONE or the reason.
 */
enum pv_drop vhu_hdr_check(const struct vhu_hdr *hdr, bool reply);
/* Closes every fd in @msg and sets nfds to 0. */
void vhu_msg_close_fds(struct vhu_msg *msg);
/*
 * Sends header + msg->hdr.size payload bytes and @nfds fds (not closed).
 * @timeout_ms 0: never wait (a full socket is an error). Returns 0 or -errno.
 */
int vhu_msg_send(int fd, const struct vhu_msg *msg, const int *fds,
		 unsigned nfds, int timeout_ms);
/* True if @fd is an eventfd (the only kind of kick/call/err fd we accept). */
bool vhu_fd_is_eventfd(int fd);

/* Per-vring control state of the backend; vq is what the dataplane polls. */
struct vhu_vring_ctl {
	struct vring vq;
	uint32_t num;
	uint16_t base;		/* where the ring resumes (SET/GET_VRING_BASE) */
	struct vhu_vring_addr addr;
	int kickfd;		/* -1: none or polling (NOFD) */
	int callfd;
	int errfd;
	bool has_num;
	bool has_addr;
	bool kick_set;		/* SET_VRING_KICK seen since the last stop */
	bool enabled;		/* SET_VRING_ENABLE 1 */
	bool running;		/* vring_setup + vring_start done, told the owner */
};

struct vhu_dev {
	char name[64];
	char path[108];
	bool client;
	unsigned max_qp;
	uint64_t offered;	/* virtio features we offer */
	uint64_t offered_proto;
	uint16_t cfg_mtu;
	struct vhu_dev_ops ops;
	void *opaque;
	struct pv_loop *loop;

	int listen_fd;		/* server mode */
	bool accept_paused;	/* listen_fd off the loop until the next tick */
	int conn_fd;		/* the one frontend, or -1 */
	int timer_fd;		/* drives vhu_dev_tick() */
	uint64_t next_connect_ns;	/* client mode */
	bool connect_failed_logged;
	struct vhu_rx rx;

	/* per-session state, reset on disconnect */
	bool session;		/* a frontend (or handle_msg) has talked to us */
	bool owner;
	uint64_t features;
	uint64_t proto;
	uint8_t status;
	uint16_t mtu;		/* NET_SET_MTU */
	unsigned rs_tokens;	/* ring restarts left in the burst */
	bool throttled;		/* a message waits in rx for a token */
	uint64_t rs_last_ns;	/* last refill of rs_tokens */
	struct gmem gm;
	/*
	 * The dirty log (SET_LOG_BASE), mapped while a session lasts. Rings
	 * get it at start when LOG_ALL is negotiated; it changes or goes only
	 * with every ring stopped (Q_ALL), so no worker holds the old one.
	 */
	struct gmem_map log;
	bool log_missing_said;	/* LOG_ALL without a log: said once */
	struct vhu_vring_ctl vr[VHU_MAX_VRINGS];

	struct vhu_dev_stats st;
	struct pv_ratelimit rl;
	/* st.mem_faults when the memory table last changed: equal = usable */
	uint32_t mem_faults_base;
	/* st.mem_faults already counted and logged by vhu_dev_tick() */
	uint32_t mem_faults_seen;
};

/* Counts @why and logs it (rate limited) with the port name. */
void vhu_fault(struct vhu_dev *dev, enum pv_drop why, const char *fmt, ...)
	PV_PRINTF(3, 4);
/* Ends the session: stops rings, tells the owner, unmaps, closes, resets. */
void vhu_dev_disconnect(struct vhu_dev *dev);
/* Dispatches one complete message (socket or handle_msg). <0: close. */
int vhu_dev_dispatch(struct vhu_dev *dev, struct vhu_msg *msg);
/*
 * A restart over the rate waits (request @req): counts the fault and marks
 * the device throttled; true if it was not throttled already.
 */
bool vhu_throttle_start(struct vhu_dev *dev, uint32_t req);
/* Stops the running rings in @mask with one grace period (see vhu_backend.c). */
void vhu_stop_rings(struct vhu_dev *dev, uint64_t mask);
/* Initialises the per-session state (fds -1, empty memory). */
void vhu_dev_session_init(struct vhu_dev *dev);
/* Memory is usable again (new table, new session): forget earlier faults. */
void vhu_dev_mem_renew(struct vhu_dev *dev);
/* Counts and logs SIGBUS faults the handler recorded since the last call. */
void vhu_dev_mem_check(struct vhu_dev *dev);

#endif /* PVNET_VHU_INTERNAL_H */
