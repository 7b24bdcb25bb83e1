/* SPDX-License-Identifier: MIT */
/* common.h - compiler helpers, barriers and small utilities shared by every module */
#ifndef PVNET_COMMON_H
#define PVNET_COMMON_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pvnet assumes a little-endian host (virtio 1.x rings are little-endian)"
#endif

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define PV_MIN(a, b)	((a) < (b) ? (a) : (b))
#define PV_MAX(a, b)	((a) > (b) ? (a) : (b))

#define PV_UNUSED		__attribute__((unused))
#define PV_PACKED		__attribute__((packed))
#define PV_ALIGNED(n)		__attribute__((aligned(n)))
#define PV_CACHE_ALIGNED	PV_ALIGNED(64)
#define PV_PRINTF(f, a)		__attribute__((format(printf, f, a)))
#define PV_NORETURN		__attribute__((noreturn))

/*
 * Shared-memory accesses. A field the other side of a ring can change is read
 * exactly once into a local (READ_ONCE) so that check and use see one value.
 */
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))

#define pv_compiler_barrier()	__asm__ __volatile__("" ::: "memory")
/* Full fence: orders a store before a later load (event-idx re-check). */
#define pv_smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)
/* Loads before later loads (x86: compiler barrier only). */
#define pv_smp_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
/* Stores before later stores (x86: compiler barrier only). */
#define pv_smp_wmb()		__atomic_thread_fence(__ATOMIC_RELEASE)

/*
 * Prefetches the line at @p for writing: asks for it exclusive, so a line
 * another core holds modified (a guest's buffer) moves once instead of
 * being shared, then invalidated by our store. gcc and clang emit
 * __builtin_prefetch(p, 1, 3) as a plain prefetcht0 unless built with
 * -mprfchw, which the generic x86-64 target is not; PREFETCHW (0F 0D /1)
 * is in every AMD64 CPU (3DNow! prefetch) and Intel's since Broadwell, and
 * the earlier Intel 64 ones execute it as a NOP. A prefetch never faults.
 */
#if defined(__x86_64__)
#define pv_prefetch_w(p)	__asm__ __volatile__("prefetchw %0" :: "m"(*(const char *)(p)))
#else
#define pv_prefetch_w(p)	__builtin_prefetch((p), 1, 3)
#endif

#define pv_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define pv_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Our own invariants only: never on a value a guest or peer chose. */
#define PV_ASSERT(cond)							\
	do {								\
		if (unlikely(!(cond)))					\
			pv_assert_fail(#cond, __FILE__, __LINE__, __func__); \
	} while (0)

/* Logs the failed assertion and aborts; for pvnet's own bugs only. */
PV_NORETURN void pv_assert_fail(const char *expr, const char *file, int line,
				const char *func);

/*
 * Adds to a counter that more than one worker may update (a port whose
 * queues are spread over workers). Called once per burst, not per packet;
 * readers (stats) load it without a lock.
 */
static inline void pv_stat_add(uint64_t *c, uint64_t v)
{
	if (v)
		__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/*
 * Network-order fields at any alignment: packet headers are read and
 * written through memcpy (UBSan flags unaligned loads, and so would some
 * CPUs).
 */
static inline uint16_t pv_get_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return __builtin_bswap16(v);
}

static inline uint32_t pv_get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static inline void pv_put_be16(uint8_t *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	memcpy(p, &v, 2);
}

static inline void pv_put_be32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static inline bool pv_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

#endif /* PVNET_COMMON_H */
