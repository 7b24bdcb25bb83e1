/* SPDX-License-Identifier: MIT */
/*
 * drop.h - the one table of drop and error reasons
 *
 * Every packet that is not delivered, and every fault a guest or a frontend
 * commits, increments exactly one of these counters (design invariant 2).
 * `pvnet stats` prints them by name, so a new reason cannot go unreported.
 *
 * Kinds: RING_* mark the queue broken until the frontend resets it (a
 * violation of the virtio ring rules); PKT_* drop one packet (bad contents);
 * TX/RX_* are capacity drops; VHU_* are vhost-user protocol faults, which get
 * an error reply or close the connection, except VHU_MEM_FAULT: the guest's
 * memory went away under a mapping (SIGBUS, contained by the gmem guard),
 * and the port drops what it would have read or written there.
 */
#ifndef PVNET_DROP_H
#define PVNET_DROP_H

#include <stdint.h>

#define PV_DROP_REASONS(X)						\
	X(NONE,			"none")					\
	/* virtio ring rule violations: the queue is marked broken */	\
	X(RING_HEAD_OOR,	"ring: head index >= queue size")	\
	X(RING_NEXT_OOR,	"ring: next index out of range")	\
	X(RING_LOOP,		"ring: chain longer than the table (loop)") \
	X(RING_INDIRECT_NESTED,	"ring: indirect descriptor inside an indirect table") \
	X(RING_INDIRECT_LEN,	"ring: indirect table length not a multiple of 16, zero or too large") \
	X(RING_INDIRECT_NEXT,	"ring: INDIRECT combined with NEXT")	\
	X(RING_INDIRECT_OFF,	"ring: indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC") \
	X(RING_DESC_ZERO_LEN,	"ring: zero-length descriptor")		\
	X(RING_ADDR,		"ring: buffer outside guest memory")	\
	X(RING_AVAIL_IDX,	"ring: avail index moved by more than the queue size") \
	X(RING_WRITE_RO,	"ring: device-readable buffer where the device must write") \
	X(RING_READ_WO,		"ring: device-writable buffer where the device must read") \
	X(RING_ORDER,		"ring: readable descriptor after a writable one") \
	X(RING_TOO_MANY_SEGS,	"ring: chain needs more segments than the bound") \
	X(RING_USED_IDX,	"ring: used index moved by more than the queue size") \
	X(RING_USED_ID,		"ring: used id not outstanding")	\
	X(RING_LAYOUT,		"ring: ring not inside one guest memory region") \
	X(RING_CHAIN_LEN,	"ring: chain bytes exceed 4 GiB (used len is 32-bit)") \
	X(RING_USED_LEN,	"ring: used len larger than the chain's writable bytes") \
	X(RING_PK_ID_OOR,	"ring: packed buffer ID >= queue size") \
	X(RING_PK_ID_REUSED,	"ring: packed buffer ID made available while in flight") \
	X(RING_PK_CHAIN,	"ring: packed chain does not end within the queue size") \
	X(RING_PK_BASE,		"ring: packed ring base position beyond the queue size") \
	X(RING_PK_USED_WRAP,	"ring: packed used flags with a wrap counter out of step (driver side)") \
	/* bad packet contents: the packet is dropped */		\
	X(PKT_TRUNC,		"pkt: shorter than its headers")	\
	X(PKT_TOO_BIG,		"pkt: larger than the port's MTU or buffers") \
	X(PKT_TOO_LONG,		"pkt: received frame over the size limit (65557 bytes, GSO 65792)") \
	X(PKT_HDR_CSUM,		"pkt: net header csum_start/csum_offset out of range") \
	X(PKT_HDR_GSO,		"pkt: net header gso fields invalid")	\
	X(PKT_GSO_MSS,		"pkt: gso_size below the segmentation minimum (48)") \
	X(PKT_GSO_TOO_BIG,	"pkt: GSO packet over 64 KiB of payload + headers") \
	X(PKT_HDR_FLAGS,	"pkt: net header flags unknown")	\
	X(PKT_BAD_CSUM,		"pkt: checksum verification failed")	\
	/* capacity and forwarding */					\
	X(RX_NO_BUF,		"rx: destination has no receive buffers") \
	X(RX_NOT_READY,		"rx: destination queue not running")	\
	X(TX_NO_DEST,		"fwd: unknown unicast and no uplink")	\
	X(TX_LOOP,		"fwd: destination is the source port")	\
	X(TX_PORT_ERR,		"fwd: port transmit error")		\
	X(VLAN_UNKNOWN,		"vlan: 802.1Q VID that maps to no network on the port") \
	X(VLAN_UNTAGGED,	"vlan: untagged frame on a port with untagged=drop") \
	/* VXLAN encapsulation (port_vxlan.c) */			\
	X(VX_TRUNC,		"vxlan: datagram shorter than VXLAN + Ethernet headers") \
	X(VX_BAD_HDR,		"vxlan: flags not exactly I (no VNI, or an unknown extension)") \
	X(VX_UNKNOWN_VNI,	"vxlan: VNI is not the port's")		\
	X(VX_TOO_LONG,		"vxlan: datagram or inner frame over the size limit") \
	X(VX_MTU,		"vxlan: frame larger than the underlay MTU minus the encapsulation (no fragmentation)") \
	X(VX_NO_REMOTE,		"vxlan: no remote VTEP to send to")	\
	/* vhost-user protocol faults */				\
	X(VHU_MSG_TRUNC,	"vhu: message truncated or connection lost mid-message") \
	X(VHU_MSG_SIZE,		"vhu: payload size wrong for the request") \
	X(VHU_MSG_FDS,		"vhu: wrong number of file descriptors") \
	X(VHU_MSG_UNKNOWN,	"vhu: unknown request")			\
	X(VHU_MSG_FLAGS,	"vhu: bad version or flags")		\
	X(VHU_MSG_ORDER,	"vhu: request not valid in this state")	\
	X(VHU_VRING_IDX,	"vhu: vring index out of range")	\
	X(VHU_VRING_NUM,	"vhu: vring size not a power of two <= 32768") \
	X(VHU_VRING_ADDR,	"vhu: vring address outside guest memory") \
	X(VHU_VRING_FD,		"vhu: kick/call fd is not usable")	\
	X(VHU_MEM_NREGIONS,	"vhu: too many memory regions")		\
	X(VHU_MEM_REGION,	"vhu: memory region overlaps, overflows or exceeds its fd") \
	X(VHU_MEM_MAP,		"vhu: memory region could not be mapped") \
	X(VHU_FEATURES,		"vhu: features not offered")		\
	X(VHU_TIMEOUT,		"vhu: peer stalled mid-message")	\
	X(VHU_MSG_VALUE,	"vhu: field value out of range")	\
	X(VHU_RESTART_RATE,	"vhu: running rings restarted faster than the limit") \
	X(VHU_LOG,		"vhu: dirty log refused (size, offset, fd) or missing under LOG_ALL") \
	/* guest memory: the port stops until a new table or reconnect */ \
	X(VHU_MEM_FAULT,	"vhu: guest memory faulted (SIGBUS: file shrank or hugepages ran out)")

enum pv_drop {
#define PV_DROP_ENUM(name, text) PV_DROP_##name,
	PV_DROP_REASONS(PV_DROP_ENUM)
#undef PV_DROP_ENUM
	PV_DROP_MAX
};

/* Short machine name of a reason ("ring_head_oor"); static storage. */
const char *pv_drop_name(enum pv_drop why);
/* Human description of a reason; static storage. */
const char *pv_drop_text(enum pv_drop why);

/* A counter per reason; embedded in ports and queues, summed by ctl/. */
struct pv_drop_stats {
	uint64_t n[PV_DROP_MAX];
};

#endif /* PVNET_DROP_H */
