// SPDX-License-Identifier: MIT
/*
 * test_gmem_guard.c - guest memory that shrinks under us (issue 12, finding
 * 2): memfd seals where the frontend allows them, and the SIGBUS guard for
 * memory that cannot be sealed: the process lives, the owner's counter says
 * what happened, and a SIGBUS outside guest memory still kills.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvnet/log.h"
#include "pvnet/virtio.h"

#define LEN	(256 * 1024ULL)
#define GPA	0x100000ULL
#define UVA	0x7f0000000000ULL

/*
 * A memfd whose seals are frozen without F_SEAL_SHRINK: a frontend that
 * keeps the right to shrink its memory, so only the guard can help.
 */
static int unsealable_memfd(void)
{
	int fd = memfd_create("guard-unsealable", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, LEN), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), 0);
	return fd;
}

/*
 * cmocka puts its own SIGBUS handler in place around every test (and puts
 * the previous one back after): each test installs the guard over it, as
 * `pvnet switch` does once at start.
 */
static void guard(void)
{
	assert_int_equal(gmem_guard_install(), 0);
}

static uint8_t peek(const uint8_t *p)
{
	return *(const volatile uint8_t *)p;
}

static void poke(uint8_t *p, uint8_t v)
{
	*(volatile uint8_t *)p = v;
}

/* The frontend truncates its memfd: reads see zeros, the owner a count. */
static void truncated_region_is_contained(void **state)
{
	uint32_t cnt = 0;
	struct gmem gm;
	uint8_t *hva;
	uint64_t got;
	int fd = unsealable_memfd();

	(void)state;
	guard();
	gmem_init(&gm);
	gmem_set_fault_counter(&gm, &cnt);
	assert_int_equal(gmem_add_region(&gm, GPA, LEN, UVA, 0, fd), 0);
	assert_false(gm.r[0].sealed);
	assert_int_equal(gmem_guard_count(), 1);
	hva = gmem_translate(&gm, GPA, LEN, &got);
	assert_non_null(hva);
	poke(hva + 100, 0xaa);
	assert_int_equal(peek(hva + 100), 0xaa);

	assert_int_equal(ftruncate(fd, 0), 0);	/* behind the device's back */
	assert_int_equal(peek(hva + 100), 0);	/* SIGBUS, contained */
	assert_int_equal(__atomic_load_n(&cnt, __ATOMIC_RELAXED), 1);
	/* the whole mapping was replaced: writes and other pages are harmless */
	poke(hva + 200, 1);
	assert_int_equal(peek(hva + LEN - 1), 0);
	poke(hva + LEN - 1, 7);
	assert_int_equal(__atomic_load_n(&cnt, __ATOMIC_RELAXED), 1);

	gmem_clear(&gm);
	assert_int_equal(gmem_guard_count(), 0);
	close(fd);
}

/* A memfd that allows sealing gets F_SEAL_SHRINK: truncation fails. */
static void sealable_memfd_is_sealed(void **state)
{
	int fd = memfd_create("guard-sealable", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint32_t cnt = 0;
	struct gmem gm;
	uint8_t *hva;
	uint64_t got;

	(void)state;
	guard();
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, LEN), 0);
	gmem_init(&gm);
	gmem_set_fault_counter(&gm, &cnt);
	assert_int_equal(gmem_add_region(&gm, GPA, LEN, UVA, 0, fd), 0);
	assert_true(gm.r[0].sealed);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	/* growing stays the frontend's business */
	assert_int_equal(ftruncate(fd, 2 * LEN), 0);
	hva = gmem_translate(&gm, GPA, LEN, &got);
	poke(hva, 3);
	assert_int_equal(peek(hva), 3);
	assert_int_equal(cnt, 0);
	gmem_clear(&gm);
	close(fd);
}

/* QEMU's memory-backend-memfd: already sealed (SHRINK|GROW|SEAL). */
static void presealed_memfd_is_sealed(void **state)
{
	int fd = memfd_create("guard-qemu", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct gmem gm;

	(void)state;
	guard();
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, LEN), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			       F_SEAL_SEAL), 0);
	gmem_init(&gm);
	assert_int_equal(gmem_add_region(&gm, GPA, LEN, UVA, 0, fd), 0);
	assert_true(gm.r[0].sealed);
	gmem_clear(&gm);
	close(fd);
}

/* Two owners: the one whose memory shrank is hit, the other is not. */
static void other_owner_unaffected(void **state)
{
	int fa = unsealable_memfd(), fb = unsealable_memfd();
	uint32_t ca = 0, cb = 0;
	struct gmem a, b;
	uint8_t *ha, *hb;
	uint64_t got;

	(void)state;
	guard();
	gmem_init(&a);
	gmem_init(&b);
	gmem_set_fault_counter(&a, &ca);
	gmem_set_fault_counter(&b, &cb);
	assert_int_equal(gmem_add_region(&a, GPA, LEN, UVA, 0, fa), 0);
	assert_int_equal(gmem_add_region(&b, GPA, LEN, UVA, 0, fb), 0);
	ha = gmem_translate(&a, GPA, LEN, &got);
	hb = gmem_translate(&b, GPA, LEN, &got);
	poke(ha + 4096, 0x11);
	poke(hb + 4096, 0x22);
	assert_int_equal(ftruncate(fa, 4096), 0);	/* a partial shrink */
	assert_int_equal(peek(ha), 0);	/* first page: still in the file, but */
	assert_int_equal(peek(ha + 4096), 0);	/* the whole mapping went */
	assert_int_equal(ca, 1);
	assert_int_equal(cb, 0);
	assert_int_equal(peek(hb + 4096), 0x22);
	gmem_clear(&a);
	gmem_clear(&b);
	close(fa);
	close(fb);
}

struct toucher {
	uint8_t *hva;
	pthread_barrier_t *bar;
};

static void *touch_all(void *arg)
{
	struct toucher *t = arg;
	unsigned sum = 0;

	pthread_barrier_wait(t->bar);
	for (uint64_t off = 0; off < LEN; off += 4096)
		sum += peek(t->hva + off);
	return (void *)(uintptr_t)sum;
}

/* Threads faulting on one mapping at once: counted once, all survive. */
static void concurrent_faults_counted_once(void **state)
{
	int fd = unsealable_memfd();
	pthread_barrier_t bar;
	struct toucher t[4];
	pthread_t th[4];
	uint32_t cnt = 0;
	struct gmem gm;
	uint64_t got;
	uint8_t *hva;

	(void)state;
	guard();
	gmem_init(&gm);
	gmem_set_fault_counter(&gm, &cnt);
	assert_int_equal(gmem_add_region(&gm, GPA, LEN, UVA, 0, fd), 0);
	hva = gmem_translate(&gm, GPA, LEN, &got);
	assert_int_equal(ftruncate(fd, 0), 0);
	pthread_barrier_init(&bar, NULL, 4);
	for (unsigned i = 0; i < 4; i++) {
		t[i].hva = hva;
		t[i].bar = &bar;
		assert_int_equal(pthread_create(&th[i], NULL, touch_all, &t[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *sum;

		pthread_join(th[i], &sum);
		assert_int_equal((uintptr_t)sum, 0);
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(cnt, 1);
	gmem_clear(&gm);
	close(fd);
}

/* Runs @fn in a child; returns the signal that ended it, or 0. */
static int child_signal(void (*fn)(void))
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

/* Our own mapping of a truncated file: a bug, not a guest. */
static void touch_unregistered(void)
{
	int fd = unsealable_memfd();
	uint8_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED || ftruncate(fd, 0) < 0)
		_exit(2);
	(void)peek(p + 100);
}

/* gmem_add_mapped(): the caller's mapping is not the guard's to replace. */
static void touch_caller_mapped(void)
{
	int fd = unsealable_memfd();
	uint8_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint32_t cnt = 0;
	struct gmem gm;

	gmem_init(&gm);
	gmem_set_fault_counter(&gm, &cnt);
	if (p == MAP_FAILED || gmem_add_mapped(&gm, GPA, LEN, UVA, p) ||
	    ftruncate(fd, 0) < 0)
		_exit(2);
	(void)peek((uint8_t *)gmem_translate_contig(&gm, GPA + 100, 1));
}

/* Guest memory of another table next to it does not save the bug either. */
static void touch_beside_guest(void)
{
	int fd = unsealable_memfd(), fd2 = unsealable_memfd();
	uint8_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	uint32_t cnt = 0;
	struct gmem gm;

	gmem_init(&gm);
	gmem_set_fault_counter(&gm, &cnt);
	if (p == MAP_FAILED || gmem_add_region(&gm, GPA, LEN, UVA, 0, fd) ||
	    ftruncate(fd2, 0) < 0)
		_exit(2);
	(void)peek(p);
}

static void raised_sigbus(void)
{
	raise(SIGBUS);
}

static void outside_guest_memory_still_kills(void **state)
{
	(void)state;
	guard();
	assert_int_equal(child_signal(touch_unregistered), SIGBUS);
	assert_int_equal(child_signal(touch_caller_mapped), SIGBUS);
	assert_int_equal(child_signal(touch_beside_guest), SIGBUS);
	assert_int_equal(child_signal(raised_sigbus), SIGBUS);
}

/* A region leaves the registry when it is unmapped, before munmap. */
static void registry_unregisters(void **state)
{
	int fd = unsealable_memfd();
	struct gmem gm;

	(void)state;
	guard();
	gmem_init(&gm);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(gmem_add_region(&gm, GPA + i * LEN, LEN,
						 UVA + i * LEN, 0, fd), 0);
	assert_int_equal(gmem_guard_count(), 8);
	assert_int_equal(gmem_remove_region(&gm, GPA + 3 * LEN, LEN), 0);
	assert_int_equal(gmem_guard_count(), 7);
	gmem_clear(&gm);
	assert_int_equal(gmem_guard_count(), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sealable_memfd_is_sealed),
		cmocka_unit_test(presealed_memfd_is_sealed),
		cmocka_unit_test(registry_unregisters),
		cmocka_unit_test(outside_guest_memory_still_kills),
		cmocka_unit_test(truncated_region_is_contained),
		cmocka_unit_test(other_owner_unaffected),
		cmocka_unit_test(concurrent_faults_counted_once),
	};

	pv_log_set_level(PV_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
