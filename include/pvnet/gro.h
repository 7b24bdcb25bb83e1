/* SPDX-License-Identifier: MIT */
/*
 * gro.h - TCP receive aggregation (GRO/LRO, seeds 000 and 001) and its
 * inverse, software segmentation (GSO).
 *
 * One table per dataplane worker: a flow's segments all arrive through the
 * worker that polls their source queue, so flows never span tables and no
 * table needs a lock. Entries are keyed by flow AND destination (port,
 * queue), so the table serves every destination queue the worker feeds.
 *
 * A merged packet is a list of fragments in the source buffers, plus one
 * rewritten header the table owns; it is copied once, straight into the
 * guest's receive buffers (no linearizing copy unless cfg.linearize asks
 * for it, to reproduce the original LRO's copy at the bridge).
 *
 * Ownership: the table owns its flows and header copies. While it holds a
 * segment, the segment's source buffer stays owned by its port, which must
 * not reuse it until the segment's gro_ref comes back in a gro_out.
 */
#ifndef PVNET_GRO_H
#define PVNET_GRO_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnet/pkt.h"

#define GRO_MAX_FLOWS	32	/* held flows per table; the oldest is flushed */
#define GRO_MAX_SEGS	64	/* segments per merged packet: 45 x 1448 fit */
#define GRO_MAX_LEN	65535	/* IP packet length bound of a merged packet */
#define GRO_HDR_MAX	128	/* Ethernet + VLAN + IPv6 + TCP with options */

enum gro_policy {
	GRO_OFF,		/* no aggregation */
	GRO_POLL,		/* flush when each poll round ends (original LRO) */
	GRO_EVERY,		/* flush every N poll rounds (seed 000: N = 2) */
	GRO_ADAPTIVE,		/* hold while input keeps coming; flush when a
				 * round finds no work */
};

/*
 * The time bound, checked at every gro_poll_end(). poll and every=N flush
 * a flow once its first segment is timeout_ns old. adaptive flushes it
 * once its newest segment is timeout_ns old (the flow paused) or its first
 * is max_ns old: with several flows interleaved, a bound from the first
 * segment would cut every flow's packet at timeout x its share of the rate.
 */
struct gro_cfg {
	enum gro_policy policy;
	unsigned every;		/* GRO_EVERY: rounds between flushes (>= 1) */
	uint64_t timeout_ns;	/* 0: the policy's default (50 or 100 us) */
	uint64_t max_ns;	/* GRO_ADAPTIVE, >= timeout_ns; 0: 1000 us or
				 * timeout_ns if larger */
	bool linearize;		/* copy a merged packet into one buffer first */
};

/* Where a held segment's buffer came from, to give it back after delivery. */
struct gro_ref {
	uint16_t port;
	uint16_t queue;
	uint32_t cookie;
};

/* A packet the table hands back for delivery: merged, or one segment. */
struct gro_out {
	struct pkt pkt;		/* vh carries the GSO header when merged */
	uint16_t dst_port;
	uint16_t dst_queue;
	uint16_t segs;		/* segments in it (1: not merged) */
	uint16_t nrefs;
	struct gro_ref refs[GRO_MAX_SEGS];
};

/*
 * Called for every packet the table lets go; @out is valid only during the
 * call. The callee delivers out->pkt to (dst_port, dst_queue), then gives
 * every ref back to its source.
 */
typedef void (*gro_deliver_fn)(void *arg, struct gro_out *out);

struct gro_stats {
	uint64_t in_segs;	/* segments offered and taken */
	uint64_t fast_path;	/* ... of which appended by the fast path */
	uint64_t not_eligible;	/* offered but not TCP, flags, options... */
	uint64_t out_pkts;	/* packets delivered out of the table */
	uint64_t out_merged;	/* ... of which hold more than one segment */
	uint64_t flush_policy;	/* flows flushed by the policy */
	uint64_t flush_timeout;	/* ... by the time bound */
	uint64_t flush_flags;	/* ... by PSH/FIN, a short segment, a gap */
	uint64_t flush_full;	/* ... because the table or a packet was full */
	uint64_t csum_bad;	/* segments whose checksum did not verify */
};

struct gro_table;

/*
 * Parses "off", "poll", "every=N" with ",timeout=US", or "adaptive" with
 * ",timeout=US" and ",max=US" (either order, max >= timeout); fills @cfg's
 * policy, every, timeout_ns and max_ns; 0 or -EINVAL (@cfg unchanged).
 */
int gro_cfg_parse(const char *s, struct gro_cfg *cfg);
/* Creates a table (allocated once, never on the data path); NULL on failure. */
struct gro_table *gro_table_create(const struct gro_cfg *cfg,
				   gro_deliver_fn deliver, void *arg);
/* Flushes and frees @t. */
void gro_table_destroy(struct gro_table *t);
/*
 * Offers packet @p (from @ref) for destination (@dst, @q) at @now_ns. @p
 * needs only pkt_parse_l2(): if its layers 3-4 are not parsed yet, the
 * table reads them from its own header copy, and may parse them into @p
 * (pkt_parse_copy) or leave them unparsed for pkt_parse_l3().
 * Returns true if the table keeps it: the caller must not release @ref's
 * buffer, and @p itself may be reused at once (the table copied what it
 * needs). Returns false if @p is not eligible: the caller delivers it now;
 * any held packet of the same flow has already been delivered first, so
 * order within a flow holds.
 */
bool gro_receive(struct gro_table *t, struct pkt *p, struct gro_ref ref,
		 uint16_t dst, uint16_t q, uint64_t now_ns);
/*
 * The end of a poll round that found @work packets: flushes what the policy
 * says, and every flow due by the time bound (struct gro_cfg), oldest first.
 */
void gro_poll_end(struct gro_table *t, unsigned work, uint64_t now_ns);
/* Flushes every held flow (a ring stopping, shutdown). */
void gro_flush_all(struct gro_table *t);
/* Flushes the flows whose destination is port @dst (it is going away). */
void gro_flush_port(struct gro_table *t, uint16_t dst);
/* The earliest moment a held flow is due by the time bound; UINT64_MAX if none. */
uint64_t gro_next_deadline(const struct gro_table *t);
/* Held segments right now (the "held" term of the accounting). */
unsigned gro_held(const struct gro_table *t);
/* The table's counters (owned by @t). */
const struct gro_stats *gro_stats(const struct gro_table *t);

/*
 * Software segmentation limits. The smallest MSS is Linux's TCP_MIN_SND_MSS
 * (the floor of net.ipv4.tcp_min_snd_mss): no Linux sender goes below it,
 * and it bounds the work per packet (1366 segments at most). The size bound
 * is virtio.h's, which nethdr_check() applies to every GSO packet on entry.
 */
#define GSO_MIN_MSS	48
#define GSO_MAX_PAYLOAD	PV_GSO_MAX_PAYLOAD
#define GSO_MAX_FRAME	PV_GSO_MAX_FRAME
#define GSO_MAX_SEGS	((GSO_MAX_PAYLOAD + GSO_MIN_MSS - 1) / GSO_MIN_MSS)

/* One packet being segmented: what gso_begin checked, and where it is. */
struct gso_state {
	const struct pkt *p;
	uint32_t payload;	/* TCP payload bytes of @p */
	uint32_t seq;		/* @p's first sequence number */
	uint32_t done;		/* payload bytes already handed out */
	uint32_t cur_off;	/* read position: byte cur_off of p->seg[cur] */
	uint16_t cur;
	uint16_t mss, hlen, l3, l4, iphl, thlen, id;
	uint16_t nsegs, next;	/* segments in all, index of the next one */
	bool v6, partial_ok;
	uint8_t h[GRO_HDR_MAX];	/* private copy of @p's headers */
};

/*
 * Software segmentation, step 1: checks @p, a TCP packet larger than its
 * MSS (vh.gso_type TCPV4/TCPV6, vh.gso_size = MSS, headers parsed), and
 * readies @g to cut it into segments of at most MSS payload, their TCP
 * checksums computed in full or left partial (pseudo-header sum with
 * NEEDS_CSUM) when @partial_ok. Reads only @p's headers: a packet that lies
 * is refused before any payload is touched. @p and its buffers must stay
 * as they are until the last gso_next(). Returns the segment count (at most
 * GSO_MAX_SEGS), or -(enum pv_drop).
 */
int gso_begin(struct gso_state *g, const struct pkt *p, bool partial_ok);
/*
 * Step 2, repeated until it returns 0: writes the next segments, at most
 * @max_out, into out[0..] with their headers at @hdrbuf + i * GRO_HDR_MAX
 * (IP length, IPv4 ID + index and header checksum, TCP sequence advanced,
 * FIN/PSH only on the last, CWR only on the first) and payload pieces that
 * point into @p's buffers; nothing of @p is written. The caller owns @out
 * and @hdrbuf and may reuse them for the next call once it is done with
 * these segments. Returns how many it wrote, 0 when none are left, or
 * -(enum pv_drop) (the rest of the packet is then lost).
 */
int gso_next(struct gso_state *g, struct pkt *out, unsigned max_out,
	     uint8_t *hdrbuf);

#endif /* PVNET_GRO_H */
