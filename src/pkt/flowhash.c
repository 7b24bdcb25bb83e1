// SPDX-License-Identifier: MIT
/*
 * flowhash.c - the Toeplitz hash of RSS (Microsoft's "Receive-Side Scaling"
 * specification, also virtio 1.2 §5.1.6.4.3), so that pvnet steers a flow
 * to the same receive queue a NIC with the same key would.
 *
 * Input: IPv4 or IPv6 source and destination addresses, then TCP/UDP source
 * and destination ports when the packet has them (not for fragments).
 * Anything else hashes to 0, i.e. the first queue.
 */
#include <string.h>

#include "pvnet/pkt.h"

/* The default key of the RSS specification (and of most NIC drivers). */
static const uint8_t rss_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

/*
 * tab[i][v]: what byte value v at input position i adds to the hash, built
 * once before main(); a hash is then one lookup per input byte instead of
 * eight shifts and XORs (it runs per packet on multiqueue destinations).
 */
#define TOEPLITZ_MAX_IN	36
static uint32_t tab[TOEPLITZ_MAX_IN][256];

static uint32_t toeplitz_slow(const uint8_t *in, size_t len)
{
	uint32_t hash = 0;
	/* The 32-bit window of the key that lines up with the current bit. */
	uint32_t win = ((uint32_t)rss_key[0] << 24) | ((uint32_t)rss_key[1] << 16) |
		       ((uint32_t)rss_key[2] << 8) | rss_key[3];

	for (size_t i = 0; i < len; i++) {
		uint8_t next = rss_key[i + 4];

		for (int b = 7; b >= 0; b--) {
			if (in[i] & (1u << b))
				hash ^= win;
			win = (win << 1) | ((next >> b) & 1);
		}
	}
	return hash;
}

__attribute__((constructor)) static void toeplitz_init(void)
{
	uint8_t in[TOEPLITZ_MAX_IN] = { 0 };

	for (unsigned i = 0; i < TOEPLITZ_MAX_IN; i++) {
		for (unsigned v = 0; v < 256; v++) {
			in[i] = (uint8_t)v;
			tab[i][v] = toeplitz_slow(in, i + 1);
		}
		in[i] = 0;
	}
}

uint32_t pv_toeplitz(const uint8_t *in, size_t len)
{
	uint32_t hash = 0;

	if (len > TOEPLITZ_MAX_IN)
		len = TOEPLITZ_MAX_IN;
	for (size_t i = 0; i < len; i++)
		hash ^= tab[i][in[i]];
	return hash;
}

uint32_t pkt_flow_hash(const struct pkt *p)
{
	return pv_toeplitz(p->hash_in, p->hash_len);
}
