// SPDX-License-Identifier: MIT
/*
 * gmem_guard.c - contain SIGBUS in guest memory (issue 12, finding 2)
 *
 * A file-backed MAP_SHARED mapping raises SIGBUS on access to a page beyond
 * the end of the file: a frontend that ftruncate()s its memfd after the
 * rings run, or a hugetlbfs file larger than the free pool, can kill the
 * whole switch. gmem.c seals memfds against shrinking where the frontend
 * lets it (QEMU seals its own); what cannot be sealed is guarded here.
 *
 * Theory of operation: every mapping gmem_add_region() makes is registered
 * in a fixed array of slots {base, len, owner counter} that the handler
 * reads without locks. On a SIGBUS whose address lies in a registered
 * mapping, the handler maps anonymous zero pages over the WHOLE mapping at
 * the same address (MAP_FIXED) and bumps the owner's counter, then returns:
 * the faulting instruction runs again on harmless memory (reads zeros,
 * writes go nowhere). The owner sees the counter move and stops using that
 * memory (a vhost port drops its bursts until the frontend sends a new
 * memory table or reconnects). A SIGBUS anywhere else restores SIG_DFL and
 * returns, so the fault repeats and the process dies as before: a real bug
 * must still crash.
 *
 * Slot states (one atomic int each): FREE -> SETUP (the registering thread
 * owns it) -> LIVE -> FIXING (one handler is replacing it) -> FIXED; back to
 * FREE when the region is unmapped. Fields are written before the release
 * store of LIVE and read after an acquire load, so the handler never sees a
 * half-written slot. A second thread faulting on the same mapping while it
 * is FIXING just returns and faults again until the first is done: counted
 * once. Unregistering comes before munmap and only when no worker touches
 * the memory any more (the rings are stopped first), so a slot never
 * vanishes under a handler that needs it.
 *
 * Only async-signal-safe work in the handler: atomics, mmap (a bare system
 * call in glibc), sigaction, raise. No logging: the owner logs from its own
 * thread. Allowed by the --sandbox filter (mmap without PROT_EXEC,
 * rt_sigaction, tgkill).
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "pvnet/virtio.h"
#include "virtio_internal.h"

/* 64 ports of 32 regions, twice (a new table is built before the old goes). */
#define GUARD_SLOTS	4096

enum { SLOT_FREE, SLOT_SETUP, SLOT_LIVE, SLOT_FIXING, SLOT_FIXED };

struct guard_slot {
	int state;
	uintptr_t base;
	size_t len;
	uint32_t *cnt;
};

static struct guard_slot slots[GUARD_SLOTS];
/* Slots [0, hwm) may be in use: the handler scans no further. */
static unsigned hwm;

/* hwm = max(hwm, n), also when two threads register at once. */
static void raise_hwm(unsigned n)
{
	unsigned cur = __atomic_load_n(&hwm, __ATOMIC_RELAXED);

	while (cur < n &&
	       !__atomic_compare_exchange_n(&hwm, &cur, n, true,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

int gmem_guard_add(void *base, size_t len, uint32_t *cnt)
{
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *s = &slots[i];
		int expect = SLOT_FREE;

		if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_SETUP,
						 false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&s->base, (uintptr_t)base, __ATOMIC_RELAXED);
		__atomic_store_n(&s->len, len, __ATOMIC_RELAXED);
		__atomic_store_n(&s->cnt, cnt, __ATOMIC_RELAXED);
		raise_hwm(i + 1);
		__atomic_store_n(&s->state, SLOT_LIVE, __ATOMIC_RELEASE);
		return (int)i;
	}
	return -ENOSPC;
}

void gmem_guard_del(int slot)
{
	if (slot < 0 || slot >= GUARD_SLOTS)
		return;
	__atomic_store_n(&slots[slot].state, SLOT_FREE, __ATOMIC_RELEASE);
}

unsigned gmem_guard_count(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < GUARD_SLOTS; i++)
		if (__atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) != SLOT_FREE)
			n++;
	return n;
}

/* Not ours: let the fault kill the process as it would have. */
static void die_default(const siginfo_t *si)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &dfl, NULL);
	/* sent by kill(): returning would not repeat it */
	if (si->si_code <= 0)
		raise(SIGBUS);
}

/* Replaces the mapping of slot @s, if no other thread does; false: failed. */
static bool fix_slot(struct guard_slot *s, int st)
{
	int expect = SLOT_LIVE;
	uint32_t *cnt;
	void *m;

	/* another thread is fixing it, or did: run the access again */
	if (st != SLOT_LIVE ||
	    !__atomic_compare_exchange_n(&s->state, &expect, SLOT_FIXING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return true;
	m = mmap((void *)__atomic_load_n(&s->base, __ATOMIC_RELAXED),
		 __atomic_load_n(&s->len, __ATOMIC_RELAXED),
		 PROT_READ | PROT_WRITE,
		 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return false;
	cnt = __atomic_load_n(&s->cnt, __ATOMIC_RELAXED);
	if (cnt)
		__atomic_fetch_add(cnt, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, SLOT_FIXED, __ATOMIC_RELEASE);
	return true;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	unsigned n = __atomic_load_n(&hwm, __ATOMIC_ACQUIRE);
	int saved = errno;

	(void)sig;
	(void)uctx;
	if (si->si_code > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct guard_slot *s = &slots[i];
			int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

			if (st < SLOT_LIVE ||
			    a - __atomic_load_n(&s->base, __ATOMIC_RELAXED) >=
			    __atomic_load_n(&s->len, __ATOMIC_RELAXED))
				continue;
			if (fix_slot(s, st)) {
				errno = saved;
				return;
			}
			break;
		}
	}
	die_default(si);
	errno = saved;
}

int gmem_guard_install(void)
{
	struct sigaction sa;

	/* Installed again on every call: whoever replaced it (a test
	 * harness) is replaced in turn. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}
