// SPDX-License-Identifier: MIT
/* net_hdr.c - the virtio-net header (virtio 1.2 §5.1.6) and RX delivery into a ring */
#include <endian.h>
#include <errno.h>

#include "pvnet/virtio.h"
#include "virtio_internal.h"

size_t pv_iov_len(const struct iovec *iov, unsigned n)
{
	size_t len = 0;

	for (unsigned i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

size_t pv_iov_to_buf(const struct iovec *iov, unsigned n, size_t off,
		     void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t done = 0;
	unsigned i = 0;

	while (i < n && off >= iov[i].iov_len)
		off -= iov[i++].iov_len;
	for (; i < n && done < len; i++) {
		size_t k = PV_MIN(iov[i].iov_len - off, len - done);

		if (k)
			memcpy(dst + done,
			       (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t pv_buf_to_iov(const struct iovec *iov, unsigned n, size_t off,
		     const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0;
	unsigned i = 0;

	while (i < n && off >= iov[i].iov_len)
		off -= iov[i++].iov_len;
	for (; i < n && done < len; i++) {
		size_t k = PV_MIN(iov[i].iov_len - off, len - done);

		if (k)
			memcpy((uint8_t *)iov[i].iov_base + off, src + done,
			       k);
		done += k;
		off = 0;
	}
	return done;
}

size_t nethdr_len(uint64_t features)
{
	/* §5.1.6: num_buffers is present with VERSION_1 or MRG_RXBUF. */
	if (features & (VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)))
		return sizeof(struct virtio_net_hdr);
	return 10;
}

int nethdr_read(struct virtio_net_hdr *hdr, size_t hdr_len,
		const struct iovec *iov, unsigned n)
{
	if (hdr_len > sizeof(*hdr))
		return -EINVAL;
	memset(hdr, 0, sizeof(*hdr));
	if (n && iov[0].iov_len >= sizeof(*hdr) && hdr_len == sizeof(*hdr))
		memcpy(hdr, iov[0].iov_base, sizeof(*hdr));	/* one piece */
	else if (pv_iov_to_buf(iov, n, 0, hdr, hdr_len) != hdr_len)
		return -EINVAL;
	/* Copy before parse (§6.7): the guest may rewrite its buffer now;
	 * only the local copy is looked at from here on. */
	pv_compiler_barrier();
	return 0;
}

enum pv_drop nethdr_check(const struct virtio_net_hdr *hdr, size_t frame_len)
{
	uint8_t flags = hdr->flags, gso = hdr->gso_type;
	uint8_t base = gso & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	/* Most frames claim nothing: only their length is left to check. */
	if (likely((flags | gso) == 0))
		return frame_len > PV_FRAME_MAX ? PV_DROP_PKT_TOO_LONG : PV_DROP_NONE;
	/*
	 * Then what a Linux guest with checksum offload sends (every TCP
	 * segment): a partial checksum alone. The same checks in the same
	 * order as below, without the general path's tests (~15 instructions
	 * a segment, bench_fwd --tcp).
	 */
	if (likely(gso == 0 && flags == VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		if (frame_len > PV_FRAME_MAX)
			return PV_DROP_PKT_TOO_LONG;
		return (uint32_t)le16toh(hdr->csum_start) +
		       le16toh(hdr->csum_offset) + 2 > frame_len ?
		       PV_DROP_PKT_HDR_CSUM : PV_DROP_NONE;
	}
	/* First: the length is all a guest needs to make a worker checksum
	 * and copy gigabytes (a chain may sum to 4 GiB); the header copy is
	 * all that was read of the frame so far. */
	if (base == VIRTIO_NET_HDR_GSO_NONE && frame_len > PV_FRAME_MAX)
		return PV_DROP_PKT_TOO_LONG;
	/* Whether it is segmented here or passed on as it is. */
	if (base != VIRTIO_NET_HDR_GSO_NONE && frame_len > PV_FRAME_GSO_MAX)
		return PV_DROP_PKT_GSO_TOO_BIG;
	/* §5.1.6.2.1: a driver never sets RSC_INFO (device to driver only);
	 * DATA_VALID is tolerated and ignored. Anything else is unknown. */
	if (flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return PV_DROP_PKT_HDR_FLAGS;
	if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* The checksum field (2 bytes at start + offset) must lie in
		 * the frame; 32-bit sums of 16-bit values cannot wrap. */
		uint32_t end = (uint32_t)le16toh(hdr->csum_start) +
			       le16toh(hdr->csum_offset) + 2;

		if (end > frame_len)
			return PV_DROP_PKT_HDR_CSUM;
	}
	switch (base) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (gso & VIRTIO_NET_HDR_GSO_ECN)
			return PV_DROP_PKT_HDR_GSO;
		return PV_DROP_NONE;
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_UDP:
	case VIRTIO_NET_HDR_GSO_TCPV6:
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		break;
	default:
		return PV_DROP_PKT_HDR_GSO;
	}
	if (le16toh(hdr->gso_size) == 0 || le16toh(hdr->hdr_len) > frame_len)
		return PV_DROP_PKT_HDR_GSO;
	return PV_DROP_NONE;
}

/* A read position in the source of one packet: header bytes, then iovecs. */
struct src_cursor {
	const uint8_t *hdr;
	size_t hdr_len, hdr_off;
	const struct iovec *iov;
	unsigned n, i;
	size_t off;
};

/* Copies up to @len bytes from the cursor to @dst; returns bytes copied. */
static size_t cursor_copy(struct src_cursor *c, uint8_t *dst, size_t len)
{
	size_t done = 0;

	if (c->hdr_off < c->hdr_len) {
		size_t k = PV_MIN(c->hdr_len - c->hdr_off, len);

		memcpy(dst, c->hdr + c->hdr_off, k);
		c->hdr_off += k;
		done += k;
	}
	while (done < len && c->i < c->n) {
		size_t k = PV_MIN(c->iov[c->i].iov_len - c->off, len - done);

		if (k)
			memcpy(dst + done,
			       (const uint8_t *)c->iov[c->i].iov_base + c->off,
			       k);
		done += k;
		c->off += k;
		if (c->off == c->iov[c->i].iov_len) {
			c->i++;
			c->off = 0;
		}
	}
	return done;
}

/*
 * Copies the next bytes of @c into one popped RX buffer, at most *left, and
 * remembers where the first @hdr_len output bytes landed (the header, whose
 * num_buffers is patched once the buffer count is known). Returns the bytes
 * written to this buffer.
 */
static size_t fill_buffer(const struct vring_elem *e, struct src_cursor *c,
			  size_t *left, size_t hdr_len, struct iovec *hdr_iov,
			  unsigned *nhdr, size_t *hdr_seen)
{
	size_t wrote = 0;

	for (unsigned k = 0; k < e->in_num && *left; k++) {
		const struct iovec *d = &e->iov[e->out_num + k];
		size_t n = PV_MIN(d->iov_len, *left);

		if (*hdr_seen < hdr_len) {
			size_t h = PV_MIN(n, hdr_len - *hdr_seen);

			hdr_iov[*nhdr].iov_base = d->iov_base;
			hdr_iov[*nhdr].iov_len = h;
			(*nhdr)++;
			*hdr_seen += h;
		}
		cursor_copy(c, d->iov_base, n);
		wrote += n;
		*left -= n;
	}
	return wrote;
}

int vring_rx_enqueue(struct vring *vq, const struct virtio_net_hdr *hdr,
		     size_t hdr_len, bool mrg_rxbuf, const struct iovec *src,
		     unsigned src_n)
{
	/* Where the header landed, to patch num_buffers once it is known;
	 * every piece holds at least one byte, so 12 pieces suffice. */
	struct iovec hdr_iov[sizeof(struct virtio_net_hdr)];
	struct src_cursor c = {
		.hdr = (const uint8_t *)hdr, .hdr_len = hdr_len,
		.iov = src, .n = src_n,
	};
	/* a long RX chain spills here (this path is for tests and tools) */
	struct iovec ovf[VRING_ELEM_MAX_IOV];
	struct vring_elem elem = { .ovf = ovf };
	unsigned nbufs = 0, nhdr = 0;
	size_t total, left, hdr_seen = 0;
	uint16_t nb_le;

	if (unlikely(!vring_ready(vq)))
		return -EIO;
	if (hdr_len > sizeof(*hdr))
		return -EINVAL;
	total = hdr_len + pv_iov_len(src, src_n);
	if (total == 0)
		return -EINVAL;
	/* Every buffer carries at least one byte and the ring holds at most
	 * size of them; num_buffers is 16-bit. */
	left = total;
	while (left) {
		size_t wrote = 0;
		int ret;

		if (nbufs == vq->size) {
			ret = 0;	/* cannot fit even in a full ring */
		} else {
			ret = vring_pop_one(vq, &elem, VRING_DIR_IN);
		}
		if (ret < 0)
			return -EIO;	/* broken: nothing to give back */
		if (ret == 0) {
			vring_unpop(vq, nbufs);
			vq->used_idx -= (uint16_t)nbufs;
			return -ENOBUFS;
		}
		if (!mrg_rxbuf && elem.in_len < total) {
			vring_unpop(vq, 1);
			return -EMSGSIZE;
		}
		nbufs++;
		wrote = fill_buffer(&elem, &c, &left, hdr_len, hdr_iov, &nhdr,
				    &hdr_seen);
		if (unlikely(vq->log)) {
			uint32_t w = (uint32_t)wrote;

			vring_log_rx(vq, &elem, 1, &w);
		}
		/* Staged, not visible: an -ENOBUFS below rewinds it. */
		vring_stage_used(vq, elem.head, (uint32_t)wrote);
	}
	if (hdr_len >= sizeof(*hdr)) {
		nb_le = htole16((uint16_t)nbufs);
		pv_buf_to_iov(hdr_iov, nhdr,
			      offsetof(struct virtio_net_hdr, num_buffers),
			      &nb_le, sizeof(nb_le));
	}
	vq->st.pkts++;
	vq->st.bytes += total;
	return 0;
}

int vring_rx_reserve(struct vring *vq, size_t total, bool mrg_rxbuf,
		     struct vring_elem *elems, unsigned max)
{
	size_t have = 0;
	unsigned n = 0;

	if (unlikely(!vring_ready(vq)))
		return -EIO;
	if (total == 0)
		return -EINVAL;
	while (have < total) {
		int ret;

		if (n == max || n == vq->size) {
			vring_unpop(vq, n);
			return n == max ? -ENOSPC : -ENOBUFS;
		}
		ret = vring_pop_one(vq, &elems[n], VRING_DIR_IN);
		if (ret < 0)
			return -EIO;	/* broken: nothing to give back */
		if (ret == 0) {
			vring_unpop(vq, n);
			return -ENOBUFS;
		}
		if (!mrg_rxbuf && elems[n].in_len < total) {
			vring_unpop(vq, n + 1);
			return -EMSGSIZE;
		}
		have += elems[n].in_len;
		n++;
	}
	vq->st.pkts++;
	vq->st.bytes += total;
	return (int)n;
}

/* Any number of buffers and pieces: through the cursor. */
static __attribute__((noinline)) void
rx_fill_cursor(struct vring_elem *elems, unsigned n,
	       const struct virtio_net_hdr *hdr, size_t hdr_len,
	       const struct iovec *src, unsigned src_n, uint32_t *lens)
{
	struct iovec hdr_iov[sizeof(struct virtio_net_hdr)];
	struct src_cursor c = {
		.hdr = (const uint8_t *)hdr, .hdr_len = hdr_len,
		.iov = src, .n = src_n,
	};
	size_t left = hdr_len + pv_iov_len(src, src_n), hdr_seen = 0;
	unsigned nhdr = 0;
	uint16_t nb_le;

	for (unsigned b = 0; b < n; b++) {
		lens[b] = (uint32_t)fill_buffer(&elems[b], &c, &left, hdr_len,
						hdr_iov, &nhdr, &hdr_seen);
	}
	if (hdr_len >= sizeof(*hdr)) {
		nb_le = htole16((uint16_t)n);
		pv_buf_to_iov(hdr_iov, nhdr,
			      offsetof(struct virtio_net_hdr, num_buffers),
			      &nb_le, sizeof(nb_le));
	}
}

/*
 * The mergeable case (a large packet, e.g. GRO's, into a driver's 4 KB
 * buffers): every buffer one writable piece, the header within the first.
 * Each buffer is filled to its end across source pieces, one copy per
 * (piece, buffer) overlap, without the cursor's per-byte-range
 * bookkeeping. Same bytes and lens as rx_fill_cursor(); false (nothing
 * written) for any other layout.
 */
static bool rx_fill_flat(struct vring_elem *elems, unsigned n,
			 const struct virtio_net_hdr *hdr, size_t hdr_len,
			 const struct iovec *src, unsigned src_n, uint32_t *lens,
			 size_t left)
{
	struct virtio_net_hdr h1;
	unsigned si = 0;
	size_t soff = 0;

	if (hdr_len > sizeof(*hdr) || elems[0].in_num != 1 ||
	    elems[0].iov[elems[0].out_num].iov_len < hdr_len)
		return false;
	for (unsigned b = 1; b < n; b++)
		if (elems[b].in_num != 1)
			return false;
	h1 = *hdr;
	if (hdr_len >= sizeof(*hdr))
		h1.num_buffers = htole16((uint16_t)n);
	for (unsigned b = 0; b < n; b++) {
		const struct iovec *d = &elems[b].iov[elems[b].out_num];
		uint8_t *dst = d->iov_base;
		size_t room = PV_MIN(d->iov_len, left), w = 0;

		if (b == 0) {
			memcpy(dst, &h1, hdr_len);
			w = hdr_len;
		}
		/* left counts the source: it runs out with the room */
		while (w < room && si < src_n) {
			size_t k = PV_MIN(src[si].iov_len - soff, room - w);

			memcpy(dst + w, (const uint8_t *)src[si].iov_base + soff,
			       k);
			w += k;
			soff += k;
			if (soff == src[si].iov_len) {
				si++;
				soff = 0;
			}
		}
		lens[b] = (uint32_t)w;
		left -= w;
	}
	return true;
}

/* Whether the 12-byte header at @dst (guest memory) equals @h: two loads. */
static inline bool hdr12_same(const uint8_t *dst, const struct virtio_net_hdr *h)
{
	uint64_t a, b;
	uint32_t c, d;

	_Static_assert(sizeof(*h) == 12, "virtio_net_hdr with num_buffers");
	memcpy(&a, dst, 8);
	memcpy(&b, h, 8);
	memcpy(&c, dst + 8, 4);
	memcpy(&d, (const uint8_t *)h + 8, 4);
	return a == b && c == d;
}

void vring_rx_fill(struct vring_elem *elems, unsigned n,
		   const struct virtio_net_hdr *hdr, size_t hdr_len,
		   const struct iovec *src, unsigned src_n, uint32_t *lens)
{
	size_t left = hdr_len + pv_iov_len(src, src_n);

	/*
	 * The common case, a frame that fits in the first writable piece of
	 * one buffer: the header (num_buffers already 1) and the source go
	 * straight in, without the cursor. Same bytes, same bounds: the piece
	 * holds at least @left bytes (its length came from a validated
	 * descriptor).
	 */
	if (n == 1 && elems[0].in_num && hdr_len <= sizeof(*hdr) &&
	    elems[0].iov[elems[0].out_num].iov_len >= left) {
		uint8_t *dst = elems[0].iov[elems[0].out_num].iov_base;
		struct virtio_net_hdr h1 = *hdr;

		if (hdr_len >= sizeof(*hdr)) {
			h1.num_buffers = htole16(1);
			/*
			 * A recycled buffer usually holds this very header
			 * already (no offload, one buffer): leaving it
			 * unwritten keeps its line shared with the driver's
			 * core, so neither core takes a miss on it (DPDK's
			 * virtio does the same, ASSIGN_UNLESS_EQUAL). Only
			 * where the header has its line to itself (DPDK's
			 * mbufs): else the frame copy writes it anyway.
			 */
			if (!hdr12_same(dst, &h1))
				memcpy(dst, &h1, sizeof(h1));
		} else {
			memcpy(dst, &h1, hdr_len);
		}
		dst += hdr_len;
		for (unsigned i = 0; i < src_n; i++) {
			memcpy(dst, src[i].iov_base, src[i].iov_len);
			dst += src[i].iov_len;
		}
		lens[0] = (uint32_t)left;
		return;
	}
	if (n > 1 && rx_fill_flat(elems, n, hdr, hdr_len, src, src_n, lens,
				  left))
		return;
	rx_fill_cursor(elems, n, hdr, hdr_len, src, src_n, lens);
}

bool vring_rx_fill_plain(const struct vring_elem *e, const void *frame,
			 size_t len, uint32_t *lens)
{
	const struct iovec *d = &e->iov[e->out_num];
	struct virtio_net_hdr h1 = { .num_buffers = htole16(1) };
	uint8_t *dst = d->iov_base;

	if (unlikely(!e->in_num || d->iov_len < sizeof(h1) + len))
		return false;
	/* unwritten if unchanged: vring_rx_fill() says why */
	if (!hdr12_same(dst, &h1))
		memcpy(dst, &h1, sizeof(h1));
	memcpy(dst + sizeof(h1), frame, len);
	*lens = (uint32_t)(sizeof(h1) + len);
	return true;
}
