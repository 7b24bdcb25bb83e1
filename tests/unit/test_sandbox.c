// SPDX-License-Identifier: MIT
/*
 * test_sandbox.c - the seccomp allowlist of `pvnet switch --sandbox`
 * (src/ctl/sandbox.c): each case forks, installs the filter in the child
 * and checks how the child ends. A forbidden call must kill the process
 * with SIGSYS, an allowed one must work, PROT_EXEC must be refused, and the
 * filter must reach threads that existed before it (TSYNC) and threads
 * created after it (the workers start behind it), a forbidden call must
 * say so on stderr before the process ends, and the default protections
 * (ctl_protect_plan) must be on unless the configuration needs them off.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../src/ctl/ctl_internal.h"

/* Runs @fn in a child behind the sandbox; returns its wait status. */
static int in_sandbox(int (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (ctl_sandbox(false) < 0)
			_exit(100);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int allowed_calls(void)
{
	int efd = eventfd(0, EFD_NONBLOCK);
	uint64_t v = 1;
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *q;

	if (efd < 0 || write(efd, &v, 8) != 8 || read(efd, &v, 8) != 8)
		return 1;
	if (p == MAP_FAILED || munmap(p, 4096))
		return 2;
	q = malloc(1 << 20);	/* the allocator: mmap without PROT_EXEC */
	if (!q)
		return 3;
	free(q);
	close(efd);
	return 0;
}

static int forbidden_call(void)
{
	/* execve is not on the list: a taken-over switch cannot run code */
	syscall(SYS_execve, "/bin/true", NULL, NULL);
	return 0;
}

static int exec_mapping(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	     -1, 0);
	return 0;
}

static int inet_socket(void)
{
	/* only AF_UNIX sockets (a client port reconnecting) */
	syscall(SYS_socket, 2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
	return 0;
}

static void *worker_like(void *arg)
{
	int efd = eventfd(0, 0);

	*(int *)arg = efd >= 0 ? 0 : 1;
	if (efd >= 0)
		close(efd);
	return NULL;
}

/* What dp_start() does behind the filter: pthread_create, join. */
static int new_thread(void)
{
	pthread_t th;
	int rc = 2;

	if (pthread_create(&th, NULL, worker_like, &rc))
		return 1;
	pthread_join(th, NULL);
	return rc;
}

static int new_process(void)
{
	/* clone without CLONE_THREAD: a new process, not a worker */
	syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	return 0;
}

static void *late_forbidden(void *arg)
{
	int *go = arg;

	while (!__atomic_load_n(go, __ATOMIC_ACQUIRE))
		usleep(1000);
	syscall(SYS_execve, "/bin/true", NULL, NULL);
	return NULL;
}

static void sandbox_allows_what_pvnet_needs(void **state)
{
	int st = in_sandbox(allowed_calls);

	(void)state;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void sandbox_kills_a_forbidden_call(void **state)
{
	int st = in_sandbox(forbidden_call);

	(void)state;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void sandbox_refuses_exec_mappings(void **state)
{
	int st = in_sandbox(exec_mapping);

	(void)state;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void sandbox_allows_only_unix_sockets(void **state)
{
	int st = in_sandbox(inet_socket);

	(void)state;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void sandbox_allows_new_threads(void **state)
{
	int st = in_sandbox(new_thread);

	(void)state;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void sandbox_refuses_new_processes(void **state)
{
	int st = in_sandbox(new_process);

	(void)state;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* The operator must read which call it was, not only "Bad system call". */
static void sandbox_says_which_call(void **state)
{
	char path[] = "/tmp/pvnet-sandbox-XXXXXX", buf[512] = "", want[64];
	int fd = mkstemp(path), st = 0;
	pid_t pid;
	ssize_t n;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, 2);
		if (ctl_sandbox(false) < 0)
			_exit(100);
		_exit(forbidden_call());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n > 0);
	snprintf(want, sizeof(want), "system call %d ", SYS_execve);
	assert_non_null(strstr(buf, want));
	assert_non_null(strstr(buf, "--no-sandbox"));
}

/* root, vhost server ports only: both protections on, by default */
static void plan_default_root(void **state)
{
	struct ctl_protect pr;
	char err[128];

	(void)state;
	assert_int_equal(ctl_protect_plan(-1, false, NULL, true, NULL, &pr,
					  err, sizeof(err)), 0);
	assert_int_equal(pr.sandbox, ctl_sandbox_unavailable() == NULL);
	assert_true(pr.drop);
	assert_int_not_equal(pr.uid, 0);
	assert_int_not_equal(pr.gid, 0);
}

/* a client port reconnects by path as the user it started as */
static void plan_client_port_keeps_user(void **state)
{
	struct ctl_protect pr;
	char err[128];

	(void)state;
	assert_int_equal(ctl_protect_plan(-1, false, NULL, true, "vm1", &pr,
					  err, sizeof(err)), 0);
	assert_false(pr.drop);
	assert_non_null(strstr(pr.drop_why, "vm1"));
	assert_int_equal(pr.sandbox, ctl_sandbox_unavailable() == NULL);
	/* asked for, the drop happens anyway */
	assert_int_equal(ctl_protect_plan(-1, false, "nobody", true, "vm1",
					  &pr, err, sizeof(err)), 0);
	assert_true(pr.drop);
}

static void plan_opt_outs(void **state)
{
	struct ctl_protect pr;
	char err[128];

	(void)state;
	assert_int_equal(ctl_protect_plan(0, false, "root", true, NULL, &pr,
					  err, sizeof(err)), 0);
	assert_false(pr.sandbox);
	assert_false(pr.drop);
	assert_non_null(strstr(pr.sandbox_why, "--no-sandbox"));
	assert_non_null(strstr(pr.drop_why, "--user root"));
	/* not root: nothing to drop */
	assert_int_equal(ctl_protect_plan(-1, false, NULL, false, NULL, &pr,
					  err, sizeof(err)), 0);
	assert_false(pr.drop);
	/* a user that does not exist is an error, not a silent root */
	assert_int_equal(ctl_protect_plan(-1, false, "no-such-user-pvnet",
					  true, NULL, &pr, err, sizeof(err)),
			 -ENOENT);
}

/* Workers start before the filter: TSYNC must cover them. */
static void sandbox_reaches_old_threads(void **state)
{
	pid_t pid;
	int st = 0;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static int go;
		pthread_t th;

		if (pthread_create(&th, NULL, late_forbidden, &go))
			_exit(101);
		if (ctl_sandbox(false) < 0)
			_exit(100);
		__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sandbox_allows_what_pvnet_needs),
		cmocka_unit_test(sandbox_kills_a_forbidden_call),
		cmocka_unit_test(sandbox_refuses_exec_mappings),
		cmocka_unit_test(sandbox_allows_only_unix_sockets),
		cmocka_unit_test(sandbox_reaches_old_threads),
		cmocka_unit_test(sandbox_allows_new_threads),
		cmocka_unit_test(sandbox_refuses_new_processes),
		cmocka_unit_test(sandbox_says_which_call),
	};
	const struct CMUnitTest plan[] = {
		cmocka_unit_test(plan_default_root),
		cmocka_unit_test(plan_client_port_keeps_user),
		cmocka_unit_test(plan_opt_outs),
	};
	int rc = cmocka_run_group_tests(plan, NULL, NULL);

#ifndef PV_HAVE_SECCOMP
	return rc;
#endif
	return rc | cmocka_run_group_tests(tests, NULL, NULL);
}
