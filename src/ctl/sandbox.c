// SPDX-License-Identifier: MIT
/*
 * sandbox.c - least privilege for `pvnet switch` once it is set up
 *
 * Theory of operation: every port, its sockets and fds and the control
 * socket exist before this runs; the worker threads start after it, so no
 * packet is handled with more. ctl_protect_plan() decides what is on (by
 * default, as root: both, unless a client port must reconnect by path as
 * root). Then (1) --user: drop the supplementary groups, the gid and the
 * uid (glibc applies setuid to every thread; a root process that becomes
 * another user loses every capability); (2) --sandbox: install a seccomp
 * allowlist on every thread (TSYNC) with no_new_privs; the workers are
 * created behind it (clone with CLONE_THREAD only; clone3 gets ENOSYS, so
 * glibc falls back to clone). What is left is what the data path and the
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
 *                readlink (vhu_fd_is_eventfd: /proc/self/fd/N);
 *                bind, listen, fchmod/chmod, chown (`pvnet port add` of a
 *                vhost port: its listening socket, src/ctl/ports.c)
 *   allocator    brk, mmap/munmap/mremap/madvise, mprotect
 *
 * mmap and mprotect are allowed only without PROT_EXEC: nothing pvnet maps
 * is code. Anything else traps (SCMP_ACT_TRAP): on_sigsys() names the call
 * on stderr and the process ends with SIGSYS; with --sandbox=log it is
 * allowed and logged by the kernel (audit type 1326 in dmesg) to find what
 * a new code path needs.
 *
 * Out of scope: a sanitizer runtime needs more calls (those builds run
 * without the sandbox by default). Ports added at run time (`pvnet port
 * add`) are created behind the filter and as --user: only vhost ports
 * (ports.c refuses the other types and a group name instead of letting a
 * forbidden call stop the switch).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
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

/* The default user when none is named and the system has no "nobody". */
#define CTL_NOBODY_ID	65534u

int ctl_protect_plan(int want_sandbox, bool sandbox_log, const char *user,
		     bool root, const char *reopen_port, struct ctl_protect *pr,
		     char *err, size_t errlen)
{
	const char *na = ctl_sandbox_unavailable();

	memset(pr, 0, sizeof(*pr));
	if (want_sandbox > 0 && na) {
		snprintf(err, errlen, "--sandbox: %s", na);
		return -ENOSYS;
	}
	if (want_sandbox == 0)
		snprintf(pr->sandbox_why, sizeof(pr->sandbox_why), "--no-sandbox");
	else if (na)
		snprintf(pr->sandbox_why, sizeof(pr->sandbox_why), "%s", na);
	else
		pr->sandbox = true;
	pr->sandbox_log = pr->sandbox && sandbox_log;

	if (user && !strcmp(user, "root")) {
		snprintf(pr->drop_why, sizeof(pr->drop_why), "--user root");
		return 0;
	}
	if (user) {
		if (ctl_user_lookup(user, &pr->uid, &pr->gid) < 0) {
			snprintf(err, errlen, "--user %s: no such user", user);
			return -ENOENT;
		}
		snprintf(pr->user, sizeof(pr->user), "%s", user);
		pr->drop = true;
		return 0;
	}
	if (!root)
		return 0;
	/*
	 * A client port connects again by path after every disconnect: as
	 * nobody it could not reach a socket only root may open.
	 */
	if (reopen_port) {
		snprintf(pr->drop_why, sizeof(pr->drop_why),
			 "port %s reconnects by path; --user USER drops anyway",
			 reopen_port);
		return 0;
	}
	if (ctl_user_lookup("nobody", &pr->uid, &pr->gid) < 0)
		pr->uid = pr->gid = CTL_NOBODY_ID;
	snprintf(pr->user, sizeof(pr->user), "nobody");
	pr->drop = true;
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

#if defined(__SANITIZE_ADDRESS__)
#define CTL_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define CTL_SANITIZER	1
#endif
#endif

const char *ctl_sandbox_unavailable(void)
{
#ifndef PV_HAVE_SECCOMP
	return "built without libseccomp";
#elif defined(CTL_SANITIZER)
	/* LeakSanitizer's exit report alone needs clone and ptrace */
	return "a sanitizer build";
#else
	return NULL;
#endif
}

#ifdef PV_HAVE_SECCOMP
static const char *const allowed[] = {
	/* data path */
	"read", "write", "readv", "writev", "sendmmsg", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "getsockopt", "futex", "clock_gettime",
	"clock_nanosleep", "nanosleep", "sched_yield", "dup2", "dup3",
	"eventfd2", "gettid", "getpid",
	/* a sanitizer runtime reads it when a thread starts */
	"sched_getaffinity",
	/* control path */
	"accept4", "accept", "recvmsg", "sendmsg", "recvfrom", "sendto",
	"connect", "shutdown", "getsockname", "getpeername", "setsockopt",
	"fstat", "newfstatat", "statx", "close", "fcntl", "epoll_ctl",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "unlink",
	"unlinkat", "poll", "ppoll", "lseek", "getrandom",
	/* `pvnet port add`: a vhost port's socket (make_listener) */
	"bind", "listen", "fchmod", "chmod", "fchmodat", "chown", "fchownat",
	/* vhu_fd_is_eventfd(): readlink of /proc/self/fd/N */
	"readlink", "readlinkat",
	/* memory (mmap/mprotect: see below) */
	"munmap", "mremap", "madvise", "brk",
	/* signals, threads, exit */
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "tgkill",
	"restart_syscall", "exit", "exit_group", "set_robust_list", "rseq",
	"sigaltstack",
};

/* Appends the decimal @v to @p; async-signal-safe (no stdio). */
static char *put_uint(char *p, unsigned long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

/*
 * A call off the list: say which one on stderr, then end the process with
 * SIGSYS as SCMP_ACT_KILL_PROCESS would. Only write, rt_sigaction and
 * tgkill are used, all on the list.
 */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[320], *p = msg;
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)uc;
	p = put_str(p, "pvnet switch: sandbox: system call ");
	p = put_uint(p, (unsigned long)(unsigned)si->si_syscall);
	p = put_str(p, " (`scmp_sys_resolver ");
	p = put_uint(p, (unsigned long)(unsigned)si->si_syscall);
	p = put_str(p, "` names it) is not on the allowlist of src/ctl/sandbox.c;"
		     " stopping. --sandbox=log logs such calls instead,"
		     " --no-sandbox turns the sandbox off\n");
	if (write(2, msg, (size_t)(p - msg)) < 0)
		msg[0] = 0;
	sigaction(sig, &dfl, NULL);
	raise(sig);	/* pending until this handler returns: then fatal */
}

int ctl_sandbox(bool log_only)
{
	scmp_filter_ctx ctx = seccomp_init(log_only ? SCMP_ACT_LOG :
					   SCMP_ACT_TRAP);
	/* Spelled out: clang -Wextra rejects SCMP_A2()'s partial initializer. */
	const struct scmp_arg_cmp no_exec = {
		.arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = 0,
	};
	const struct scmp_arg_cmp unix_only = {
		.arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX, .datum_b = 0,
	};
	const struct scmp_arg_cmp thread_only = {
		.arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = CLONE_THREAD,
		.datum_b = CLONE_THREAD,
	};
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	int rc = -ENOMEM, clone3;

	if (!ctx)
		return rc;
	if (!log_only && sigaction(SIGSYS, &sa, NULL) < 0) {
		seccomp_release(ctx);
		return -errno;
	}
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
	/*
	 * The workers start behind the filter: threads yes, processes no.
	 * clone3 passes its flags in memory a filter cannot read, so it
	 * fails with ENOSYS and glibc falls back to clone.
	 */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      thread_only);
	clone3 = seccomp_syscall_resolve_name("clone3");
	if (!rc && clone3 != __NR_SCMP_ERROR)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
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
