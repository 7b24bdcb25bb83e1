/* SPDX-License-Identifier: MIT */
/*
 * gro_frames.h - builds TCP/IPv4 and TCP/IPv6 frames (VLAN, options,
 * fragments, bad checksums) from a one-line description, for the GRO and
 * GSO tests. Header-only: each test binary includes it once.
 *
 * A sequence is tokens separated by spaces; a token is "d" (a data segment
 * of the current flow) or "a" (a pure ACK), with modifiers after '|':
 * len=N seq+N seq-N ack+N psh fin syn rst urg cwr ece ttl=N tos=N id=N df=0
 * ts=N nots ipopt frag bad flow=N vid=N dst=N tc=N hop=N ext valid partial
 * gso mss=N (gso_size, default TF_MSS) win=N (TCP window, default 512)
 * label=N (IPv6 flow label, default 0x12345) mac=N (last byte of the source
 * MAC, default 1) cstart=N (csum_start of a partial checksum, default the
 * TCP header's offset); "TOKEN*N" repeats a token.
 */
#ifndef TEST_GRO_FRAMES_H
#define TEST_GRO_FRAMES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvnet/common.h"
#include "pvnet/gro.h"

#define TF_MAX		256
#define TF_FLOWS	64
#define TF_MSS		1448

struct tf_seg {
	uint8_t flow, flags, ttl, tos, df, ipopt, frag, bad, ext, tc, hop;
	uint8_t vhflags, gso, nots;
	uint16_t vid, dst, id, len, mss, win, cstart;
	uint32_t seq, ack, ts, label;
	uint8_t mac;
};

struct tf_frame {
	struct tf_seg s;
	uint8_t *buf;		/* malloc'd, exact length: ASan sees the end */
	/* A split frame's two pieces (copies of buf), each its own exact-size
	 * allocation: a read past the first piece is an ASan error, not the
	 * right bytes from the next. NULL when not split. */
	uint8_t *piece[2];
	size_t len;
	uint16_t hdr_len;	/* up to the payload */
	struct pkt p;
};

struct tf_flowstate {
	uint32_t seq;
	uint16_t id;
	bool used;
};

/* Payload byte at sequence number @seq of flow @flow. */
static inline uint8_t tf_byte(unsigned flow, uint32_t seq)
{
	return (uint8_t)((seq * 7u + (seq >> 8)) ^ (flow * 31u));
}

static inline uint32_t tf_pseudo(const uint8_t *ip, bool v6, uint32_t l4len)
{
	uint8_t t[8] = { 0 };

	if (v6) {
		pv_put_be32(t, l4len);
		t[7] = 6;
		return pv_csum_partial(t, 8, pv_csum_partial(ip + 8, 32, 0));
	}
	t[1] = 6;
	pv_put_be16(t + 2, (uint16_t)l4len);
	return pv_csum_partial(t, 4, pv_csum_partial(ip + 12, 8, 0));
}

/* Copies f->buf into a split frame's pieces (after f->buf changed). */
static inline void tf_sync(struct tf_frame *f)
{
	if (!f->piece[0])
		return;
	memcpy(f->piece[0], f->buf, f->p.seg[0].iov_len);
	memcpy(f->piece[1], f->buf + f->p.seg[0].iov_len, f->p.seg[1].iov_len);
}

/* Builds the frame of @s into f (allocates f->buf, and f->piece[] when
 * split). */
static inline void tf_build(struct tf_frame *f, const struct tf_seg *s, bool v6,
		     unsigned split)
{
	uint8_t h[256];
	size_t off = 12, l3, l4, thlen = s->nots ? 20 : 32;
	size_t iphl = v6 ? 40 + (s->ext ? 8 : 0) : 20 + (s->ipopt ? 4 : 0);
	uint8_t *ip, *th;
	uint16_t c;

	memset(h, 0, sizeof(h));
	memcpy(h, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	h[5] = (uint8_t)(s->dst + 2);
	if (s->mac)
		h[11] = s->mac;
	if (s->vid) {
		pv_put_be16(h + off, 0x8100);
		pv_put_be16(h + off + 2, s->vid);
		off += 4;
	}
	pv_put_be16(h + off, v6 ? 0x86dd : 0x0800);
	l3 = off + 2;
	l4 = l3 + iphl;
	ip = h + l3;
	th = h + l4;
	if (v6) {
		pv_put_be32(ip, 0x60000000u | (uint32_t)s->tc << 20 |
			       (s->label ? s->label & 0xfffff : 0x12345));
		pv_put_be16(ip + 4, (uint16_t)(iphl - 40 + thlen + s->len));
		ip[6] = s->ext ? 0 : 6;
		ip[7] = s->hop;
		memcpy(ip + 8, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
		memcpy(ip + 24, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
		if (s->ext) {
			ip[40] = 6;
			ip[42] = 1;	/* PadN */
			ip[43] = 4;
		}
	} else {
		ip[0] = (uint8_t)(0x40 | iphl / 4);
		ip[1] = s->tos;
		pv_put_be16(ip + 2, (uint16_t)(iphl + thlen + s->len));
		pv_put_be16(ip + 4, s->id);
		pv_put_be16(ip + 6, (uint16_t)((s->df ? 0x4000 : 0) |
					    (s->frag ? 0x2000 : 0)));
		ip[8] = s->ttl;
		ip[9] = 6;
		memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		if (s->ipopt)
			memset(ip + 20, 1, 4);	/* NOPs */
		c = pv_csum_fold(pv_csum_partial(ip, iphl, 0));
		memcpy(ip + 10, &c, 2);
	}
	pv_put_be16(th, (uint16_t)(40000 + s->flow));
	pv_put_be16(th + 2, 5201);
	pv_put_be32(th + 4, s->seq);
	pv_put_be32(th + 8, s->ack);
	th[12] = (uint8_t)(thlen / 4 << 4);
	th[13] = s->flags;
	pv_put_be16(th + 14, s->win);
	if (!s->nots) {
		memcpy(th + 20, "\x01\x01\x08\x0a", 4);
		pv_put_be32(th + 24, s->ts);
		pv_put_be32(th + 28, 77);
	}
	f->hdr_len = (uint16_t)(l4 + thlen);
	f->len = f->hdr_len + s->len;
	f->buf = malloc(f->len);
	memcpy(f->buf, h, f->hdr_len);
	for (unsigned i = 0; i < s->len; i++)
		f->buf[f->hdr_len + i] = tf_byte(s->flow, s->seq + i);
	if (s->vhflags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		c = (uint16_t)~pv_csum_fold(tf_pseudo(f->buf + l3, v6,
						      (uint32_t)(f->len - l4)));
	} else {
		c = pv_csum_fold(pv_csum_partial(f->buf + l4, f->len - l4,
						 tf_pseudo(f->buf + l3, v6,
							   (uint32_t)(f->len - l4))));
		if (s->bad)
			c ^= 0x0101;
	}
	memcpy(f->buf + l4 + 16, &c, 2);
	f->s = *s;

	memset(&f->p, 0, sizeof(f->p));
	f->p.len = (uint32_t)f->len;
	f->piece[0] = f->piece[1] = NULL;
	if (split && split < f->len) {
		f->piece[0] = malloc(split);
		f->piece[1] = malloc(f->len - split);
		f->p.seg[0].iov_base = f->piece[0];
		f->p.seg[0].iov_len = split;
		f->p.seg[1].iov_base = f->piece[1];
		f->p.seg[1].iov_len = f->len - split;
		f->p.nseg = 2;
	} else {
		f->p.seg[0].iov_base = f->buf;
		f->p.seg[0].iov_len = f->len;
		f->p.nseg = 1;
	}
	f->p.vh.flags = s->vhflags;
	if (s->vhflags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		f->p.vh.csum_start = htole16((uint16_t)(s->cstart ? s->cstart : l4));
		f->p.vh.csum_offset = htole16(16);
	}
	if (s->gso) {
		f->p.vh.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
					VIRTIO_NET_HDR_GSO_TCPV4;
		f->p.vh.gso_size = htole16(s->mss);
		f->p.vh.hdr_len = htole16(f->hdr_len);
	}
	tf_sync(f);
	pkt_parse(&f->p);
}

/* Parses one token into @s, advancing per-flow sequence and ID state. */
static inline int tf_token(const char *tok, struct tf_seg *s,
		    struct tf_flowstate *fs, unsigned vid)
{
	char buf[128], *save = NULL, *m;
	int32_t dseq = 0;
	bool id_set = false;
	struct tf_flowstate *st;

	memset(s, 0, sizeof(*s));
	snprintf(buf, sizeof(buf), "%s", tok);
	m = strtok_r(buf, "|", &save);
	if (!m || (strcmp(m, "d") && strcmp(m, "a")))
		return -1;
	s->len = m[0] == 'a' ? 0 : TF_MSS;
	s->flags = 0x10;
	s->ttl = s->hop = 64;
	s->df = 1;
	s->ts = 1;
	s->ack = 1000;
	s->mss = TF_MSS;
	s->win = 512;
	s->vid = (uint16_t)vid;
	while ((m = strtok_r(NULL, "|", &save))) {
		unsigned long v = 0;
		char *eq = strchr(m, '=');

		if (eq)
			v = strtoul(eq + 1, NULL, 0);
		if (!strncmp(m, "len=", 4)) s->len = (uint16_t)v;
		else if (!strncmp(m, "seq+", 4)) dseq = (int32_t)strtol(m + 4, NULL, 0);
		else if (!strncmp(m, "seq-", 4)) dseq = -(int32_t)strtol(m + 4, NULL, 0);
		else if (!strncmp(m, "ack+", 4)) s->ack += (uint32_t)strtoul(m + 4, NULL, 0);
		else if (!strcmp(m, "psh")) s->flags |= 0x08;
		else if (!strcmp(m, "fin")) s->flags |= 0x01;
		else if (!strcmp(m, "syn")) s->flags |= 0x02;
		else if (!strcmp(m, "rst")) s->flags |= 0x04;
		else if (!strcmp(m, "urg")) s->flags |= 0x20;
		else if (!strcmp(m, "ece")) s->flags |= 0x40;
		else if (!strcmp(m, "cwr")) s->flags |= 0x80;
		else if (!strncmp(m, "ttl=", 4)) s->ttl = (uint8_t)v;
		else if (!strncmp(m, "tos=", 4)) s->tos = (uint8_t)v;
		else if (!strncmp(m, "id=", 3)) { s->id = (uint16_t)v; id_set = true; }
		else if (!strncmp(m, "df=", 3)) s->df = (uint8_t)v;
		else if (!strncmp(m, "ts=", 3)) s->ts = (uint32_t)v;
		else if (!strcmp(m, "nots")) s->nots = 1;
		else if (!strcmp(m, "ipopt")) s->ipopt = 1;
		else if (!strcmp(m, "frag")) s->frag = 1;
		else if (!strcmp(m, "bad")) s->bad = 1;
		else if (!strncmp(m, "flow=", 5)) s->flow = (uint8_t)v;
		else if (!strncmp(m, "vid=", 4)) s->vid = (uint16_t)v;
		else if (!strncmp(m, "dst=", 4)) s->dst = (uint16_t)v;
		else if (!strncmp(m, "tc=", 3)) s->tc = (uint8_t)v;
		else if (!strncmp(m, "hop=", 4)) s->hop = (uint8_t)v;
		else if (!strcmp(m, "ext")) s->ext = 1;
		else if (!strcmp(m, "valid")) s->vhflags = VIRTIO_NET_HDR_F_DATA_VALID;
		else if (!strcmp(m, "partial")) s->vhflags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		else if (!strcmp(m, "gso")) s->gso = 1;
		else if (!strncmp(m, "mss=", 4)) s->mss = (uint16_t)v;
		else if (!strncmp(m, "win=", 4)) s->win = (uint16_t)v;
		else if (!strncmp(m, "label=", 6)) s->label = (uint32_t)v;
		else if (!strncmp(m, "mac=", 4)) s->mac = (uint8_t)v;
		else if (!strncmp(m, "cstart=", 7)) s->cstart = (uint16_t)v;
		else return -1;
	}
	st = &fs[s->flow % TF_FLOWS];
	if (!st->used) {
		st->used = true;
		st->seq = 100000u * (s->flow + 1);
		st->id = (uint16_t)(1000 + s->flow);
	}
	s->seq = st->seq + (uint32_t)dseq;
	st->seq = s->seq + s->len;
	if (!id_set)
		s->id = st->id;
	st->id = (uint16_t)(s->id + 1);
	return 0;
}

/* Builds every frame of @seq into @f; returns the count or -1. */
static inline int tf_sequence(const char *seq, bool v6, unsigned vid, unsigned split,
		       struct tf_frame *f, unsigned max)
{
	struct tf_flowstate fs[TF_FLOWS];
	char buf[4096], *save = NULL, *tok;
	unsigned n = 0;

	memset(fs, 0, sizeof(fs));
	snprintf(buf, sizeof(buf), "%s", seq);
	for (tok = strtok_r(buf, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		char *star = strchr(tok, '*');
		unsigned rep = 1;

		if (star) {
			*star = 0;
			rep = (unsigned)strtoul(star + 1, NULL, 10);
		}
		for (unsigned r = 0; r < rep; r++) {
			struct tf_seg s;

			if (n == max || tf_token(tok, &s, fs, vid))
				return -1;
			tf_build(&f[n], &s, v6, split);
			n++;
		}
	}
	return (int)n;
}

#ifdef cmocka_unit_test
/*
 * Checks @b (@len bytes, flat), segment @i of @n that GSO made of TSO frame
 * @x with its gso_size: headers as Linux tcp_gso_segment writes them, the
 * payload piece at its place in @x's, and the TCP checksum recomputed here
 * (@partial: the field holds the pseudo-header sum, completed before the
 * check). Returns the segment's payload length.
 */
static inline uint32_t tf_check_segment(const struct tf_frame *x,
					const uint8_t *b, size_t len,
					unsigned i, unsigned n, bool v6,
					bool partial)
{
	uint32_t payload = (uint32_t)(x->len - x->hdr_len);
	unsigned mss = x->s.mss, l3 = x->p.l3_off, l4 = x->p.l4_off;
	uint32_t done = i * mss, sl, l4len = (uint32_t)(len - l4);
	uint8_t *th = malloc(len - l4);
	const uint8_t *ip = b + l3;
	uint8_t fl = x->s.flags;
	uint16_t c;

	assert_int_equal(n, (payload + mss - 1) / mss);
	assert_true(done < payload);
	sl = PV_MIN(mss, payload - done);
	assert_int_equal(len, x->hdr_len + sl);
	assert_memory_equal(b, x->buf, l3);
	if (v6) {
		assert_int_equal(pv_get_be16(ip + 4), l4len);
		assert_memory_equal(ip, x->buf + l3, 4);
		assert_memory_equal(ip + 6, x->buf + l3 + 6, 34);
	} else {
		assert_int_equal(pv_get_be16(ip + 2), len - l3);
		assert_int_equal(pv_get_be16(ip + 4), (uint16_t)(x->s.id + i));
		assert_memory_equal(ip + 6, x->buf + l3 + 6, 4);	/* frag, TTL, proto */
		assert_memory_equal(ip + 12, x->buf + l3 + 12, l4 - l3 - 12);
		assert_int_equal(pv_csum_fold(pv_csum_partial(ip, l4 - l3, 0)), 0);
	}
	memcpy(th, b + l4, len - l4);
	assert_memory_equal(th, x->buf + l4, 4);		/* ports */
	assert_int_equal(pv_get_be32(th + 4), x->s.seq + done);
	assert_memory_equal(th + 8, x->buf + l4 + 8, 5);	/* ack, offset */
	if (i + 1 < n)
		fl &= (uint8_t)~0x09;
	if (i)
		fl &= (uint8_t)~0x80;
	assert_int_equal(th[13], fl);
	assert_memory_equal(th + 14, x->buf + l4 + 14, 2);	/* window */
	assert_memory_equal(th + 18, x->buf + l4 + 18, x->hdr_len - l4 - 18);
	/* this piece of the original payload, at its place */
	assert_memory_equal(b + x->hdr_len, x->buf + x->hdr_len + done, sl);
	if (partial) {
		c = (uint16_t)~pv_csum_fold(tf_pseudo(ip, v6, l4len));
		assert_memory_equal(th + 16, &c, 2);
		c = pv_csum_fold(pv_csum_partial(th, l4len, 0));
		memcpy(th + 16, &c, 2);
	}
	/* recomputed from scratch: zero the field, sum, compare */
	memcpy(&c, th + 16, 2);
	th[16] = th[17] = 0;
	{
		uint16_t want = pv_csum_fold(pv_csum_partial(th, l4len,
					     tf_pseudo(ip, v6, l4len)));

		assert_int_equal(c, want);
	}
	free(th);
	return sl;
}
#endif

static inline void tf_free(struct tf_frame *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(f[i].buf);
		free(f[i].piece[0]);
		free(f[i].piece[1]);
	}
}

#endif /* TEST_GRO_FRAMES_H */
