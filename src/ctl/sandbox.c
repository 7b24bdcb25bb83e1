// SPDX-License-Identifier: MIT
/*
 * sandbox.c - least privilege for `pvnet switch` once it is set up
 *
 * Theory of operation: every port, its sockets and fds, the control socket
 * and the worker threads exist before this runs. Then (1) --user: drop the
 * supplementary groups, the gid and the uid (glibc applies setuid to every
 * thread; a root process that becomes another user loses every
 * capability); (2) --sandbox: install a seccomp allowlist on every thread
 * (TSYNC) with no_new_privs. What is left is what the data path and the
 * vhost-user control path need (style.md §6.14, passt's #syscalls):
 *
 *   workers      epoll_wait, read/write (eventfds), readv/writev (TAP),
 *                sendmmsg (AF_PACKET), getsockopt (afpacket socket errors),
 *                dup2 + eventfd2 (a TAP that disappeared), futex,
 *                clock_gettime, sched_yield; in the SIGBUS guard (any
 *                thread): mmap MAP_FIXED of zero pages, rt_sigaction,
 *                tgkill, rt_sigreturn
 *   control      accept4, recvmsg/sendmsg (vhost-user fd passing, the
 *                control socket), socket(AF_UNIX) + connect (a client port
 *                reconnecting), fstat (a region's file size), mmap/munmap
 *                (SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG: gmem_add_region,
 *                unmap_region), close, fcntl (and F_GET_SEALS/F_ADD_SEALS
 *                on a region's memfd), epoll_ctl, timerfd_*, unlink,
 *                readlink (vhu_fd_is_eventfd: /proc/self/fd/N)
 *   allocator    brk, mmap/munmap/mremap/madvise, mprotect
 *
 * mmap and mprotect are allowed only without PROT_EXEC: nothing pvnet maps
 * is code. Anything else kills the process (SCMP_ACT_KILL_PROCESS), or,
 * with --sandbox=log, is allowed and logged by the kernel (audit type 1326
 * in dmesg) to find what a new code path needs.
 *
 * Out of scope: a sanitizer runtime needs more calls (run those builds
 * without --sandbox); new ports cannot be created after the drop (none are:
 * the port list is fixed at start).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef PV_HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "pvnet/log.h"
#include "ctl_internal.h"

int ctl_user_lookup(const char *name, unsigned *uid, unsigned *gid)
{
	struct passwd *pw = getpwnam(name);

	if (!pw)
		return -ENOENT;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int ctl_drop_user(unsigned uid, unsigned gid)
{
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return -errno;
	/* A way back would mean the drop did not happen. */
	if (uid != 0 && setuid(0) == 0)
		return -EPERM;
	return 0;
}

#ifdef PV_HAVE_SECCOMP
static const char *const allowed[] = {
	/* data path */
	"read", "write", "readv", "writev", "sendmmsg", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "getsockopt", "futex", "clock_gettime",
	"clock_nanosleep", "nanosleep", "sched_yield", "dup2", "dup3",
	"eventfd2", "gettid", "getpid",
	/* control path */
	"accept4", "accept", "recvmsg", "sendmsg", "recvfrom", "sendto",
	"connect", "shutdown", "getsockname", "getpeername", "setsockopt",
	"fstat", "newfstatat", "statx", "close", "fcntl", "epoll_ctl",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "unlink",
	"unlinkat", "poll", "ppoll", "lseek", "getrandom",
	/* vhu_fd_is_eventfd(): readlink of /proc/self/fd/N */
	"readlink", "readlinkat",
	/* memory (mmap/mprotect: see below) */
	"munmap", "mremap", "madvise", "brk",
	/* signals, threads, exit */
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "tgkill",
	"restart_syscall", "exit", "exit_group", "set_robust_list", "rseq",
	"sigaltstack",
};

int ctl_sandbox(bool log_only)
{
	scmp_filter_ctx ctx = seccomp_init(log_only ? SCMP_ACT_LOG :
					   SCMP_ACT_KILL_PROCESS);
	/* Spelled out: clang -Wextra rejects SCMP_A2()'s partial initializer. */
	const struct scmp_arg_cmp no_exec = {
		.arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = 0,
	};
	const struct scmp_arg_cmp unix_only = {
		.arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX, .datum_b = 0,
	};
	int rc = -ENOMEM;

	if (!ctx)
		return rc;
	/* Every thread, workers included, gets the same filter. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; !rc && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	/* Nothing pvnet maps is code. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				      no_exec);
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				      no_exec);
	/* A client port reconnects over AF_UNIX only. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      unix_only);
	if (!rc)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}
#else
int ctl_sandbox(bool log_only)
{
	(void)log_only;
	return -ENOSYS;	/* built without libseccomp */
}
#endif
