// SPDX-License-Identifier: MIT
/*
 * port_vhost.c - a guest attached over vhost-user
 *
 * Receive (guest TX ring): on a kick, pop chains in bursts with kicks off,
 * describe each as a pkt over the guest's own buffers (after a validated copy
 * of the virtio-net header), forward the burst, then return the chains with
 * one used-index update and at most one interrupt. Nothing is copied here:
 * the destination port copies each byte once, straight from these buffers
 * (seed 004, domU to domU in one copy).
 *
 * Transmit (guest RX ring): each packet is copied once into the guest's
 * (mergeable) receive buffers; a partial checksum is completed on the way if
 * the guest did not negotiate GUEST_CSUM, without writing the source.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "pvnet/log.h"
#include "pvnet/port.h"
#include "pvnet/switch.h"
#include "pvnet/vhost.h"


/* Packets one poll may take from a port before yielding to the others. */
#define VHOST_POLL_BUDGET	256

struct vhost_port {
	struct port port;
	struct vhu_dev *dev;
	struct vhu_dev_cfg cfg;
	char path[108];
	struct pv_loop *loop;
	bool tx_running[VHU_MAX_QUEUE_PAIRS];	/* guest TX rings we poll */
	int kick_watched[VHU_MAX_QUEUE_PAIRS];	/* fd in the loop, or -1 */
	struct vring_elem elems[PKT_BURST_MAX];
	struct pkt pkts[PKT_BURST_MAX];
	struct pkt *ptrs[PKT_BURST_MAX];
};

static struct vhost_port *vp_of(struct port *p)
{
	return (struct vhost_port *)p;
}

static unsigned poll_txq(struct vhost_port *vp, unsigned q, unsigned budget);

static void on_kick(void *opaque, int fd, uint32_t events)
{
	struct vhost_port *vp = opaque;
	uint64_t v;

	(void)events;
	/* Drain the eventfd: one read clears any number of kicks. */
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	for (unsigned q = 0; q < VHU_MAX_QUEUE_PAIRS; q++) {
		if (vp->kick_watched[q] == fd) {
			struct vring *vq = vhu_dev_vring(vp->dev, 2 * q + 1);

			if (vq)
				vq->st.kicks++;
			if (poll_txq(vp, q, VHOST_POLL_BUDGET) >= VHOST_POLL_BUDGET)
				vp->port.busy = true;
		}
	}
}

static void unwatch_kick(struct vhost_port *vp, unsigned q)
{
	if (vp->kick_watched[q] >= 0) {
		pv_loop_del(vp->loop, vp->kick_watched[q]);
		vp->kick_watched[q] = -1;
	}
}

static void on_queue_state(void *opaque, unsigned vidx, bool running)
{
	struct vhost_port *vp = opaque;
	unsigned q = vidx / 2;

	if (q >= VHU_MAX_QUEUE_PAIRS)
		return;
	if (vidx & 1) {
		/* TX ring of the guest: the one we poll. */
		vp->tx_running[q] = running;
		unwatch_kick(vp, q);
		if (running) {
			int fd = vhu_dev_kickfd(vp->dev, vidx);

			if (fd >= 0 && pv_loop_add(vp->loop, fd, EPOLLIN, on_kick,
						   vp) == 0)
				vp->kick_watched[q] = fd;
			/* Buffers may already wait: look now, not at the next kick. */
			vp->port.busy = true;
		}
	}
	unsigned n = 0;

	for (unsigned i = 0; i < VHU_MAX_QUEUE_PAIRS; i++) {
		struct vring *rx = vhu_dev_vring(vp->dev, 2 * i);

		if (vp->tx_running[i] || (rx && vring_ready(rx)))
			n = i + 1;
	}
	vp->port.nqueues = n;
	pv_info("port %s: vring %u %s", vp->port.name, vidx,
		running ? "started" : "stopped");
}

static void on_disconnected(void *opaque)
{
	struct vhost_port *vp = opaque;

	for (unsigned q = 0; q < VHU_MAX_QUEUE_PAIRS; q++) {
		unwatch_kick(vp, q);
		vp->tx_running[q] = false;
	}
	vp->port.nqueues = 0;
	pv_info("port %s: frontend disconnected", vp->port.name);
}

static const struct vhu_dev_ops vhost_ops = {
	.queue_state = on_queue_state,
	.disconnected = on_disconnected,
};

/* Strips the header off a popped TX chain into a pkt; returns the drop reason. */
static enum pv_drop chain_to_pkt(struct vhost_port *vp, struct vring_elem *e,
				 struct pkt *p, size_t hdr_len, uint64_t feat)
{
	size_t skip = hdr_len;
	enum pv_drop why;
	unsigned j = 0;

	if (e->out_len < hdr_len ||
	    nethdr_read(&p->vh, hdr_len, e->iov, e->out_num) < 0)
		return PV_DROP_PKT_TRUNC;
	p->len = e->out_len - (uint32_t)hdr_len;
	why = nethdr_check(&p->vh, p->len);
	if (why != PV_DROP_NONE)
		return why;
	/* Offloads are only valid if negotiated (virtio 1.2 §5.1.6.2). */
	if ((p->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    !(feat & VIRTIO_BIT(VIRTIO_NET_F_CSUM)))
		return PV_DROP_PKT_HDR_FLAGS;
	if ((p->vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE)
		return PV_DROP_PKT_HDR_GSO;	/* HOST_TSO is not offered yet */
	p->vh.flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;

	for (unsigned i = 0; i < e->out_num; i++) {
		size_t l = e->iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p->seg[j].iov_base = (uint8_t *)e->iov[i].iov_base + skip;
		p->seg[j].iov_len = l - skip;
		skip = 0;
		j++;
	}
	p->nseg = (uint16_t)j;
	p->cookie = e->head;
	(void)vp;
	return PV_DROP_NONE;
}

static unsigned poll_txq(struct vhost_port *vp, unsigned q, unsigned budget)
{
	struct vring *vq = vhu_dev_vring(vp->dev, 2 * q + 1);
	uint64_t feat = vhu_dev_features(vp->dev);
	size_t hdr_len = nethdr_len(feat);
	unsigned done = 0;

	if (!vq || !vp->tx_running[q] || !vring_ready(vq))
		return 0;

	/* NAPI style: no kicks while we poll; re-arm, then look once more. */
	vring_set_kick(vq, false);
	while (done < budget) {
		unsigned want = PV_MIN(PKT_BURST_MAX, budget - done);
		unsigned n = vring_pop_burst(vq, vp->elems, want, VRING_DIR_OUT);
		unsigned m = 0;

		if (n == 0) {
			if (!vring_ready(vq))
				break;
			vring_set_kick(vq, true);
			if (vring_avail_count(vq) == 0)
				break;
			vring_set_kick(vq, false);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			struct pkt *p = &vp->pkts[m];
			enum pv_drop why = chain_to_pkt(vp, &vp->elems[i], p,
							hdr_len, feat);

			if (why != PV_DROP_NONE) {
				vp->port.st.rx_pkts++;
				vp->port.st.drops.n[why]++;
				continue;
			}
			p->src_port = vp->port.idx;
			p->src_queue = (uint16_t)q;
			vp->ptrs[m++] = p;
		}
		vp->port.st.rxq_pkts[q] += n;
		if (m)
			sw_forward_burst(vp->port.sw, &vp->port, vp->ptrs, m);
		/* Every chain goes back only now: its packet is done. */
		for (unsigned i = 0; i < n; i++)
			vring_push(vq, vp->elems[i].head, 0);
		vring_flush(vq);
		vhu_dev_call(vp->dev, 2 * q + 1);
		done += n;
	}
	if (done >= budget)
		vring_set_kick(vq, true);
	return done;
}

static unsigned vhost_poll(struct port *p, unsigned budget)
{
	struct vhost_port *vp = vp_of(p);
	unsigned done = 0;

	p->busy = false;
	for (unsigned q = 0; q < VHU_MAX_QUEUE_PAIRS; q++) {
		unsigned d = poll_txq(vp, q, budget);

		if (d >= budget)
			p->busy = true;
		done += d;
	}
	return done;
}

static unsigned vhost_tx_burst(struct port *p, unsigned q, struct pkt **pkts,
			       unsigned n)
{
	struct vhost_port *vp = vp_of(p);
	struct vring *vq;
	uint64_t feat;
	size_t hdr_len;
	bool mrg, guest_csum;
	unsigned sent = 0;

	if (q >= VHU_MAX_QUEUE_PAIRS)
		q = 0;
	vq = vhu_dev_vring(vp->dev, 2 * q);
	if (!vq || !vring_ready(vq)) {
		p->st.drops.n[PV_DROP_RX_NOT_READY] += n;
		return 0;
	}
	feat = vhu_dev_features(vp->dev);
	hdr_len = nethdr_len(feat);
	mrg = feat & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	guest_csum = feat & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);

	for (unsigned i = 0; i < n; i++) {
		struct pkt *pk = pkts[i];
		struct virtio_net_hdr h = { 0 };
		struct iovec patched[PKT_MAX_SEGS];
		const struct iovec *src = pk->seg;
		unsigned nsrc = pk->nseg;
		uint16_t csum;
		int rc;

		if (pk->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			if (guest_csum) {
				h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
				h.csum_start = pk->vh.csum_start;
				h.csum_offset = pk->vh.csum_offset;
			} else {
				uint32_t off;
				enum pv_drop why = pkt_csum_complete(pk, &csum, &off);

				if (why == PV_DROP_NONE) {
					nsrc = pkt_patch_iov(pk, off, &csum, patched,
							     PKT_MAX_SEGS);
					if (!nsrc)
						why = PV_DROP_PKT_TOO_BIG;
				}
				if (why != PV_DROP_NONE) {
					p->st.drops.n[why]++;
					continue;
				}
				src = patched;
				p->st.tx_csum_done++;
			}
		}
		rc = vring_rx_enqueue(vq, &h, hdr_len, mrg, src, nsrc);
		if (rc == 0) {
			sent++;
			p->st.tx_pkts++;
			p->st.tx_bytes += pk->len;
			continue;
		}
		p->st.drops.n[rc == -ENOBUFS ? PV_DROP_RX_NO_BUF :
			      rc == -EMSGSIZE ? PV_DROP_PKT_TOO_BIG :
			      PV_DROP_RX_NOT_READY]++;
	}
	p->st.txq_pkts[q] += sent;
	if (sent) {
		vring_flush(vq);
		vhu_dev_call(vp->dev, 2 * q);
	}
	return sent;
}

static int vhost_start(struct port *p, struct pv_loop *loop)
{
	struct vhost_port *vp = vp_of(p);

	vp->loop = loop;
	vp->dev = vhu_dev_create(&vp->cfg, &vhost_ops, vp, loop);
	if (!vp->dev)
		return -errno ? -errno : -EIO;
	return 0;
}

static void vhost_destroy(struct port *p)
{
	struct vhost_port *vp = vp_of(p);

	if (vp->dev) {
		for (unsigned q = 0; q < VHU_MAX_QUEUE_PAIRS; q++)
			unwatch_kick(vp, q);
		vhu_dev_destroy(vp->dev);
	}
	free(vp);
}

/* Lets ctl/ read protocol state without knowing the port type's struct. */
struct vhu_dev *port_vhost_dev(struct port *p);
struct vhu_dev *port_vhost_dev(struct port *p)
{
	if (strcmp(p->ops->type, "vhost"))
		return NULL;
	return vp_of(p)->dev;
}

static const struct port_ops vhost_port_ops = {
	.type = "vhost",
	.tx_burst = vhost_tx_burst,
	.poll = vhost_poll,
	.start = vhost_start,
	.destroy = vhost_destroy,
};

struct port *port_vhost_create(struct sw *sw, const char *name,
			       const char *opts, char *err, size_t errlen)
{
	struct vhost_port *vp = calloc(1, sizeof(*vp));
	char key[32], val[128];
	const char *cur = opts;
	int rc;

	(void)sw;
	if (!vp) {
		snprintf(err, errlen, "port %s: out of memory", name);
		return NULL;
	}
	snprintf(vp->port.name, sizeof(vp->port.name), "%s", name);
	vp->port.ops = &vhost_port_ops;
	for (unsigned q = 0; q < VHU_MAX_QUEUE_PAIRS; q++)
		vp->kick_watched[q] = -1;
	vp->cfg.name = vp->port.name;
	vp->cfg.max_queue_pairs = 1;
	vp->cfg.features = VHU_DEV_FEATURES_DEFAULT;

	while ((rc = port_opt_next(&cur, key, sizeof(key), val, sizeof(val))) > 0) {
		if (!strcmp(key, "name")) {
			continue;
		} else if (!strcmp(key, "path") && val[0]) {
			size_t l = strlen(val);

			if (l >= sizeof(vp->path))
				goto bad_path;
			memcpy(vp->path, val, l + 1);
		} else if (!strcmp(key, "memslots") &&
			   (!strcmp(val, "on") || !strcmp(val, "off"))) {
			/* off: refuse CONFIGURE_MEM_SLOTS, so a frontend
			 * uses SET_MEM_TABLE instead of ADD_MEM_REG */
			vp->cfg.no_mem_slots = !strcmp(val, "off");
		} else if (!strcmp(key, "client") && !val[0]) {
			vp->cfg.client = true;
		} else if (!strcmp(key, "queues")) {
			char *end;
			long v = strtol(val, &end, 10);

			if (!val[0] || *end || v < 1 || v > VHU_MAX_QUEUE_PAIRS) {
				snprintf(err, errlen,
					 "port %s: queues=%s: want 1..%d", name,
					 val, VHU_MAX_QUEUE_PAIRS);
				goto fail;
			}
			vp->cfg.max_queue_pairs = (unsigned)v;
		} else if (!strcmp(key, "mac")) {
			if (pv_mac_parse(val, vp->port.mac) < 0 ||
			    pkt_mac_is_multicast(vp->port.mac)) {
				snprintf(err, errlen,
					 "port %s: mac=%s: want a unicast aa:bb:cc:dd:ee:ff",
					 name, val);
				goto fail;
			}
			vp->port.has_mac = true;
			memcpy(vp->cfg.mac, vp->port.mac, ETH_ALEN);
			vp->cfg.has_mac = true;
		} else {
			snprintf(err, errlen, "port %s: unknown option '%s%s%s' "
				 "(vhost takes path=, client, queues=, mac=, memslots=on|off)",
				 name, key, val[0] ? "=" : "", val);
			goto fail;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "port %s: option too long", name);
		goto fail;
	}
	if (!vp->path[0]) {
		snprintf(err, errlen, "port %s: path= is required", name);
		goto fail;
	}
	if (vp->cfg.max_queue_pairs > 1)
		vp->cfg.features |= VIRTIO_BIT(VIRTIO_NET_F_MQ);
	vp->cfg.path = vp->path;
	return &vp->port;

bad_path:
	snprintf(err, errlen, "port %s: path too long (max %zu)", name,
		 sizeof(vp->path) - 1);
fail:
	free(vp);
	return NULL;
}
