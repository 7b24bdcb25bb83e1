/* SPDX-License-Identifier: MIT */
/*
 * vhost.h - the vhost-user protocol (QEMU docs/interop/vhost-user.rst), both
 * sides: the backend device (what `pvnet switch` serves to a QEMU guest, DPDK
 * virtio-user or `pvnet guest`) and the frontend (what `pvnet guest` uses).
 *
 * Threading: a vhu_dev / vhu_front is driven from one pv_loop thread. The
 * vrings it exposes are polled by that same thread (issue 3's single worker);
 * the dataplane learns about ring changes through the queue_state callback.
 */
#ifndef PVNET_VHOST_H
#define PVNET_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnet/common.h"
#include "pvnet/drop.h"
#include "pvnet/loop.h"
#include "pvnet/virtio.h"

/* Up to 16 queue pairs: vring 2*i is RX (device writes), 2*i+1 is TX. */
#define VHU_MAX_QUEUE_PAIRS	16
#define VHU_MAX_VRINGS		(2 * VHU_MAX_QUEUE_PAIRS)

/* ---- requests (vhost-user.rst, "Front-end message types") ---- */
enum vhu_req {
	VHU_REQ_NONE = 0,
	VHU_REQ_GET_FEATURES = 1,
	VHU_REQ_SET_FEATURES = 2,
	VHU_REQ_SET_OWNER = 3,
	VHU_REQ_RESET_OWNER = 4,
	VHU_REQ_SET_MEM_TABLE = 5,
	VHU_REQ_SET_LOG_BASE = 6,
	VHU_REQ_SET_LOG_FD = 7,
	VHU_REQ_SET_VRING_NUM = 8,
	VHU_REQ_SET_VRING_ADDR = 9,
	VHU_REQ_SET_VRING_BASE = 10,
	VHU_REQ_GET_VRING_BASE = 11,
	VHU_REQ_SET_VRING_KICK = 12,
	VHU_REQ_SET_VRING_CALL = 13,
	VHU_REQ_SET_VRING_ERR = 14,
	VHU_REQ_GET_PROTOCOL_FEATURES = 15,
	VHU_REQ_SET_PROTOCOL_FEATURES = 16,
	VHU_REQ_GET_QUEUE_NUM = 17,
	VHU_REQ_SET_VRING_ENABLE = 18,
	VHU_REQ_SEND_RARP = 19,
	VHU_REQ_NET_SET_MTU = 20,
	VHU_REQ_SET_BACKEND_REQ_FD = 21,
	VHU_REQ_IOTLB_MSG = 22,
	VHU_REQ_SET_VRING_ENDIAN = 23,
	VHU_REQ_GET_CONFIG = 24,
	VHU_REQ_SET_CONFIG = 25,
	VHU_REQ_CREATE_CRYPTO_SESSION = 26,
	VHU_REQ_CLOSE_CRYPTO_SESSION = 27,
	VHU_REQ_POSTCOPY_ADVISE = 28,
	VHU_REQ_POSTCOPY_LISTEN = 29,
	VHU_REQ_POSTCOPY_END = 30,
	VHU_REQ_GET_INFLIGHT_FD = 31,
	VHU_REQ_SET_INFLIGHT_FD = 32,
	VHU_REQ_GPU_SET_SOCKET = 33,
	VHU_REQ_RESET_DEVICE = 34,
	VHU_REQ_VRING_KICK = 35,
	VHU_REQ_GET_MAX_MEM_SLOTS = 36,
	VHU_REQ_ADD_MEM_REG = 37,
	VHU_REQ_REM_MEM_REG = 38,
	VHU_REQ_SET_STATUS = 39,
	VHU_REQ_GET_STATUS = 40,
	VHU_REQ_MAX
};

/* Protocol feature bits. */
#define VHU_PROTO_F_MQ			0
#define VHU_PROTO_F_LOG_SHMFD		1
#define VHU_PROTO_F_RARP		2
#define VHU_PROTO_F_REPLY_ACK		3
#define VHU_PROTO_F_NET_MTU		4
#define VHU_PROTO_F_BACKEND_REQ		5
#define VHU_PROTO_F_CROSS_ENDIAN	6
#define VHU_PROTO_F_CRYPTO_SESSION	7
#define VHU_PROTO_F_PAGEFAULT		8
#define VHU_PROTO_F_CONFIG		9
#define VHU_PROTO_F_BACKEND_SEND_FD	10
#define VHU_PROTO_F_HOST_NOTIFIER	11
#define VHU_PROTO_F_INFLIGHT_SHMFD	12
#define VHU_PROTO_F_RESET_DEVICE	13
#define VHU_PROTO_F_INBAND_NOTIFICATIONS 14
#define VHU_PROTO_F_CONFIGURE_MEM_SLOTS	15
#define VHU_PROTO_F_STATUS		16

/* Feature bit 30: the frontend supports protocol features. */
#define VHOST_USER_F_PROTOCOL_FEATURES	30
/* The frontend logs dirty pages (live migration): the backend must too. */
#define VHOST_F_LOG_ALL			26
/* SET_VRING_ADDR flags: log_gpa is valid, log used-ring writes there. */
#define VHU_VRING_F_LOG			(1u << 0)

#define VHU_FLAG_VERSION	0x1
#define VHU_FLAG_REPLY		(1u << 2)
#define VHU_FLAG_NEED_REPLY	(1u << 3)

/* SET_MEM_TABLE carries at most 8 regions; ADD_MEM_REG up to the slots. */
#define VHU_MEM_TABLE_MAX_REGIONS	8
#define VHU_MAX_FDS			8

struct vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};
static_assert(sizeof(struct vhu_hdr) == 12, "vhost-user.rst: header");

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_uva;
	uint64_t used_uva;
	uint64_t avail_uva;
	uint64_t log_gpa;
};
static_assert(sizeof(struct vhu_vring_addr) == 40, "vhost-user.rst");

struct vhu_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct vhu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region regions[VHU_MEM_TABLE_MAX_REGIONS];
};

struct vhu_mem_single {
	uint64_t padding;
	struct vhu_mem_region region;
};

/* SET_LOG_BASE with LOG_SHMFD: the bitmap's size and offset in the fd. */
struct vhu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct vhu_log) == 16, "vhost-user.rst: log description");

/* A whole message as read off the socket; fds owned by whoever holds it. */
struct vhu_msg {
	struct vhu_hdr hdr;
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_vring_addr addr;
		struct vhu_mem_table mem;
		struct vhu_mem_single mem_single;
		struct vhu_log log;
		uint8_t bytes[512];
	} payload;
	int fds[VHU_MAX_FDS];
	unsigned nfds;
};

/* Name of a request for logs ("SET_MEM_TABLE"); static storage. */
const char *vhu_req_name(uint32_t req);

/* ---- backend device ---- */

struct vhu_dev;

struct vhu_dev_ops {
	/*
	 * A vring became usable (started, enabled, addresses valid) or is
	 * stopping; the dataplane starts or stops using it. A stop only
	 * unpublishes the ring: the backend then calls quiesce() once (for
	 * all the rings it stops with one message) before it changes any of
	 * them, their fds or the memory behind them.
	 */
	void (*queue_state)(void *opaque, unsigned vring_idx, bool running);
	/*
	 * Returns once no worker uses anything unpublished before the call
	 * (a grace period; docs/architecture.md). NULL: nothing to wait for.
	 */
	void (*quiesce)(void *opaque);
	/* The frontend went away (or was cut off for a protocol fault). */
	void (*disconnected)(void *opaque);
	/*
	 * SEND_RARP (after a live migration, for a guest that cannot announce
	 * itself): tell the network that @mac is now behind this port. NULL:
	 * accepted and ignored.
	 */
	void (*announce)(void *opaque, const uint8_t *mac);
};

struct vhu_dev_cfg {
	const char *name;		/* port name, for logs */
	const char *path;		/* unix socket path */
	bool client;			/* connect (and reconnect) instead of listen */
	unsigned max_queue_pairs;	/* 1..VHU_MAX_QUEUE_PAIRS */
	/* virtio features offered; with VHOST_F_LOG_ALL, LOG_SHMFD is offered
	 * too and SET_LOG_BASE taken (live migration) */
	uint64_t features;
	uint8_t mac[6];
	bool has_mac;
	uint16_t mtu;			/* largest MTU NET_SET_MTU may set;
					   0: 65535 */
	bool no_mem_slots;		/* do not offer CONFIGURE_MEM_SLOTS: the
					   frontend then sends SET_MEM_TABLE */
	unsigned sock_mode;		/* the listening socket's mode; 0: 0600 */
	bool has_sock_gid;		/* chgrp the listening socket to sock_gid */
	unsigned sock_gid;
};

/*
 * The virtio features a pvnet port offers by default (issue 3); pass as
 * cfg->features. MQ and MAC are added from max_queue_pairs and has_mac, MTU
 * with protocol features, by vhu_dev_create() (vhu_dev_offered_features()).
 * VIRTIO_F_IN_ORDER: the device side uses every ring's chains in the order
 * they were made available (docs/virtio.md, "In-order use").
 */
#define VHU_DEV_FEATURES_DEFAULT					\
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) |				\
	 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |				\
	 VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |				\
	 VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |			\
	 VIRTIO_BIT(VIRTIO_NET_F_STATUS) |				\
	 VIRTIO_BIT(VIRTIO_NET_F_CSUM) |				\
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |				\
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |				\
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |				\
	 VIRTIO_BIT(VIRTIO_F_RING_PACKED) |				\
	 VIRTIO_BIT(VIRTIO_F_IN_ORDER) |				\
	 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))

/*
 * What a switch port adds to the default for live migration: dirty-page
 * logging, and the guest announcing itself after the move.
 */
#define VHU_DEV_FEATURES_MIGRATION					\
	(VIRTIO_BIT(VHOST_F_LOG_ALL) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE))

/*
 * Protocol features the backend offers (GET_PROTOCOL_FEATURES); LOG_SHMFD
 * is added when VHOST_F_LOG_ALL is offered.
 */
#define VHU_PROTO_FEATURES_OFFERED					\
	(VIRTIO_BIT(VHU_PROTO_F_MQ) | VIRTIO_BIT(VHU_PROTO_F_REPLY_ACK) |	\
	 VIRTIO_BIT(VHU_PROTO_F_NET_MTU) | VIRTIO_BIT(VHU_PROTO_F_RARP) |	\
	 VIRTIO_BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS) |			\
	 VIRTIO_BIT(VHU_PROTO_F_RESET_DEVICE) |				\
	 VIRTIO_BIT(VHU_PROTO_F_STATUS))

/* Per-connection protocol counters, read by stats. */
struct vhu_dev_stats {
	uint64_t msgs;
	uint64_t reqs[VHU_REQ_MAX];	/* messages by request type, all sessions */
	uint64_t connects;
	uint64_t disconnects;
	uint64_t refused;		/* second frontends turned away */
	uint64_t accept_errors;		/* accept() out of fds: paused a tick */
	struct pv_drop_stats faults;	/* VHU_* reasons */
	uint64_t log_bases;		/* dirty logs mapped (SET_LOG_BASE) */
	uint64_t rarps;			/* SEND_RARP announces */
	uint64_t mtu_refused;		/* NET_SET_MTU out of 68..cfg mtu */
	/*
	 * SIGBUS in this device's guest memory, all sessions: bumped by the
	 * signal handler (read it with __atomic_load_n); counted and logged
	 * as VHU_MEM_FAULT in faults by the control thread.
	 */
	uint32_t mem_faults;
};

/*
 * Creates a backend on @cfg->path (listening, or connecting when client) and
 * registers its fds on @loop. Returns the device or NULL (errno set, logged).
 * Caller frees with vhu_dev_destroy().
 */
struct vhu_dev *vhu_dev_create(const struct vhu_dev_cfg *cfg,
			       const struct vhu_dev_ops *ops, void *opaque,
			       struct pv_loop *loop);
/*
 * Disconnects (running rings get queue_state(false) and a connected frontend
 * disconnected(), before this returns), unmaps, closes every fd, removes the
 * socket; frees @dev.
 */
void vhu_dev_destroy(struct vhu_dev *dev);
/* The vring of index @idx (owned by @dev); NULL if out of range. */
struct vring *vhu_dev_vring(struct vhu_dev *dev, unsigned idx);
/*
 * The kick eventfd of vring @idx, or -1. Owned by @dev. -1 on a running ring
 * means the frontend sent SET_VRING_KICK with NOFD: poll that ring.
 */
int vhu_dev_kickfd(struct vhu_dev *dev, unsigned idx);
/*
 * Writes the vring's call eventfd if vring_need_call() says the driver
 * waits. A plain write that a full eventfd can block: for tests and the
 * control thread only; the dataplane raises interrupts through dp_call().
 */
void vhu_dev_call(struct vhu_dev *dev, unsigned idx);
/* Negotiated virtio features (0 before SET_FEATURES). */
uint64_t vhu_dev_features(const struct vhu_dev *dev);
/* Queue pairs the frontend may use (config), and whether one is connected. */
unsigned vhu_dev_queue_pairs(const struct vhu_dev *dev);
bool vhu_dev_connected(const struct vhu_dev *dev);
/* Protocol counters (owned by @dev). */
const struct vhu_dev_stats *vhu_dev_stats(const struct vhu_dev *dev);
/*
 * True if the guest memory faulted (SIGBUS) since the frontend last sent a
 * memory table or connected: the rings point at zeroed memory, do not use
 * them. One relaxed load each; any thread.
 */
bool vhu_dev_mem_faulted(const struct vhu_dev *dev);
/*
 * Feeds one complete message to the state machine, as if read from the
 * connection; used by the fuzzer and unit tests. Takes ownership of msg fds.
 * Returns 0, or a negative errno when the connection would be closed.
 */
int vhu_dev_handle_msg(struct vhu_dev *dev, struct vhu_msg *msg);
/*
 * Periodic work at time @now_ns (pv_now_ns()): counts and logs guest memory
 * faults (VHU_MEM_FAULT), closes a connection whose message stayed
 * incomplete for over 1.5 s (VHU_TIMEOUT) and, in client mode, reconnects
 * once a second. An internal timerfd on the loop already
 * calls it every 250 ms; tests call it to move time on.
 */
void vhu_dev_tick(struct vhu_dev *dev, uint64_t now_ns);
/*
 * Adopts an already connected stream socket @fd as the frontend connection
 * (tests, inherited sockets). Takes ownership of @fd (closed on error).
 * Returns 0, -EBUSY if a frontend is connected, or -errno.
 */
int vhu_dev_attach_fd(struct vhu_dev *dev, int fd);
/*
 * Ends the current session as a disconnect would (rings stopped and
 * reported, memory unmapped, fds closed); a server keeps listening, a client
 * reconnects. For an operator's "kick out", tests and the fuzzer.
 */
void vhu_dev_drop(struct vhu_dev *dev);
/* Features vhu_dev_create() will offer for @cfg (cfg->features + MQ/MAC/MTU). */
uint64_t vhu_dev_offered_features(const struct vhu_dev_cfg *cfg);
/* True if vring @idx is RUNNING (queue_state(true) was the last word). */
bool vhu_dev_vring_running(const struct vhu_dev *dev, unsigned idx);
/* The call eventfd of vring @idx, or -1 (none, or NOFD). Owned by @dev. */
int vhu_dev_callfd(struct vhu_dev *dev, unsigned idx);
/* The MTU this session's frontend set with NET_SET_MTU (0: none). */
unsigned vhu_dev_mtu(const struct vhu_dev *dev);
/* Bytes of the dirty log mapped now (0: none), and whether rings log into it. */
uint64_t vhu_dev_log_bytes(const struct vhu_dev *dev);
bool vhu_dev_logging(const struct vhu_dev *dev);

/* ---- frontend (driver side, used by pvnet guest) ---- */

struct vhu_front;

struct vhu_front_cfg {
	const char *path;
	bool server;			/* listen and wait for the backend */
	unsigned queue_pairs;
	uint64_t features;		/* virtio features wanted */
	uint16_t queue_size;		/* power of 2 */
	/*
	 * The caller's rings are packed (virtio 1.2 §2.8): negotiate
	 * VIRTIO_F_RING_PACKED if the backend offers it (the caller checks
	 * vhu_front_features()). Without it the bit is never negotiated,
	 * whatever @features says: the rings are split.
	 */
	bool packed;
	/*
	 * pvnet guest: leave the guest memory unsealed (by default it is
	 * sealed against shrinking and growing). Only for tests that shrink
	 * it on purpose to exercise a backend's SIGBUS containment.
	 */
	bool unsealed_mem;
};

/*
 * Connects (or accepts, with server) and completes the handshake up to
 * features and protocol features. Blocking, with a timeout; returns NULL
 * and logs on failure. Caller frees with vhu_front_destroy().
 */
struct vhu_front *vhu_front_connect(const struct vhu_front_cfg *cfg,
				    int timeout_ms);
/*
 * Closes the connection (and, with server, the listening socket, removing
 * its path) and frees @f (the caller's memory is its own).
 */
void vhu_front_destroy(struct vhu_front *f);
/* Negotiated virtio features. */
uint64_t vhu_front_features(const struct vhu_front *f);
/* Sends the memory table: one region mapped from @fd, gpa == uva == @base. */
int vhu_front_set_mem(struct vhu_front *f, int fd, void *base, uint64_t size);
/*
 * Sets up vring @idx: NUM, BASE 0 (packed: position 0 with the wrap
 * counter set, 0x8000), ADDR (uva of desc/avail/used; packed: descriptor
 * ring, driver and device event areas), KICK and CALL eventfds (the
 * frontend keeps its copies), then ENABLE.
 */
int vhu_front_setup_vring(struct vhu_front *f, unsigned idx, uint16_t num,
			  void *desc, void *avail, void *used, int kickfd,
			  int callfd);
/*
 * The same, resuming at @base (after vhu_front_reconnect(): the index the
 * device is to continue from, e.g. the driver's used idx when nothing is in
 * flight).
 */
int vhu_front_setup_vring_base(struct vhu_front *f, unsigned idx,
			       uint16_t num, uint16_t base, void *desc,
			       void *avail, void *used, int kickfd, int callfd);
/*
 * After the backend went away (vhu_front_fd() hung up): closes the old
 * connection, connects again (or, with server, accepts the next backend on
 * the socket kept listening since vhu_front_connect()) and negotiates as
 * vhu_front_connect() did. The caller then sends the memory table and sets
 * up its vrings again. Returns 0 or -errno (f stays usable for a retry).
 */
int vhu_front_reconnect(struct vhu_front *f, int timeout_ms);
/* GET_VRING_BASE for @idx (stops it at the backend); sets *base. */
int vhu_front_get_vring_base(struct vhu_front *f, unsigned idx,
			     uint16_t *base);
/* The connection fd, to watch for the backend going away. */
int vhu_front_fd(const struct vhu_front *f);
/* Negotiated protocol features (0 if the backend offers none). */
uint64_t vhu_front_protocol_features(const struct vhu_front *f);
/* Queue pairs the backend supports (GET_QUEUE_NUM; 1 without MQ). */
unsigned vhu_front_queue_num(const struct vhu_front *f);
/*
 * Sends SET_VRING_ENABLE @on for vring @idx (only with protocol features;
 * a no-op otherwise). Returns 0 or -errno.
 */
int vhu_front_enable_vring(struct vhu_front *f, unsigned idx, bool on);
/*
 * Sends SEND_RARP for @mac when the backend took PROTOCOL_F_RARP (a no-op
 * otherwise): the backend announces that the station moved (behind it).
 * Returns 0 or -errno.
 */
int vhu_front_send_rarp(struct vhu_front *f, const uint8_t *mac);
/*
 * Sends NET_SET_MTU @mtu (what QEMU does for host_mtu). Returns 0, -EIO when
 * the backend refused it (acked with an error), -EOPNOTSUPP when it does not
 * take PROTOCOL_F_NET_MTU, or -errno.
 */
int vhu_front_set_mtu(struct vhu_front *f, unsigned mtu);

#endif /* PVNET_VHOST_H */
