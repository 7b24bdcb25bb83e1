/* SPDX-License-Identifier: MIT */
/* ctl_internal.h - pieces shared by the ctl/ files only */
#ifndef PVNET_CTL_INTERNAL_H
#define PVNET_CTL_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "pvnet/log.h"
#include "pvnet/loop.h"
#include "pvnet/switch.h"

/*
 * The switch's counters as a new JSON object (caller decrefs), with every
 * registered source's object under its key.
 */
json_t *ctl_stats_json(struct sw *sw);

/* A server's own counters, added to @root under its key (ctl_stats_json). */
typedef void (*ctl_stats_source_fn)(void *opaque, json_t *root);
/*
 * Registers @fn to run on every stats document (the control socket's
 * clients, the metrics listener's): at most CTL_STATS_SOURCES at once.
 * 0 or -ENOSPC.
 */
#define CTL_STATS_SOURCES	4
int ctl_stats_source_add(ctl_stats_source_fn fn, void *opaque);
/* Unregisters what ctl_stats_source_add registered with @opaque. */
void ctl_stats_source_del(void *opaque);

/*
 * The metrics' network label until ports belong to networks: every series
 * of a port or of the MAC table carries network="default".
 */
#define CTL_METRICS_NETWORK	"default"
/*
 * Renders a stats document (ctl_stats_json) as the text exposition:
 * Prometheus text 0.0.4, or OpenMetrics 1.0 with @openmetrics (counter
 * families named without _total); both end with "# EOF". Returns a
 * NUL-terminated string of *len bytes (caller frees), NULL out of memory.
 */
char *ctl_metrics_text(json_t *stats, bool openmetrics, size_t *len);
/* Whether a stats document's field @key is exported (or is a label). */
bool ctl_metrics_key_exported(const char *key);

/*
 * The --metrics HTTP listener: GET /metrics from the switch's loop, at most
 * CTL_METRICS_MAX_CLIENTS at once, each closed CTL_METRICS_DEADLINE_MS after
 * its accept, a request head at most CTL_METRICS_REQ_MAX bytes.
 */
#define CTL_METRICS_MAX_CLIENTS	16
#define CTL_METRICS_DEADLINE_MS	2000
#define CTL_METRICS_REQ_MAX	4096
struct ctl_metrics;
struct sockaddr_storage;
/*
 * Parses "A.B.C.D:PORT" or "[IPV6]:PORT" (PORT 0..65535, 0: any free one)
 * into @ss and *len; 0 or -EINVAL.
 */
int ctl_metrics_parse_addr(const char *s, struct sockaddr_storage *ss,
			   unsigned *len);
/*
 * Listens on @addr (ctl_metrics_parse_addr) and serves from @sw's loop;
 * NULL on failure (logged). Free with ctl_metrics_destroy.
 */
struct ctl_metrics *ctl_metrics_create(const char *addr, struct sw *sw);
/* The port it listens on (the kernel's choice for port 0). */
unsigned ctl_metrics_port(const struct ctl_metrics *m);
/* Closes the listener and every client, frees @m. */
void ctl_metrics_destroy(struct ctl_metrics *m);

/*
 * Control-socket clients: at most CTL_MAX_CLIENTS at once (more are closed
 * at accept), each closed CTL_DEADLINE_MS after its accept whatever it has
 * sent or read by then.
 */
/*
 * accept() found no fd (or no memory) for a queued connection: the
 * listener stays readable, so a level-triggered loop would spin on it. A
 * listener takes itself off the loop for this long instead.
 */
#define CTL_ACCEPT_PAUSE_NS	(250ULL * 1000000ULL)
/* Accepts per listener callback; the listener is level-triggered. */
#define CTL_ACCEPTS_PER_CALL	8

/*
 * One client of a ctl_listener: the head of each of its client slots (the
 * protocol's own state follows it). The loop calls the listener's
 * on_client with the slot when the socket is ready.
 */
struct ctl_conn {
	struct ctl_listener *l;
	int fd;			/* -1: free slot */
	struct ucred peer;	/* SO_PEERCRED (peercred listeners), for the logs */
	uint64_t deadline_ns;
	char *out;		/* the reply being sent (malloc'd) */
	size_t out_len, out_off;
};

/* What a listener's owner does with its clients. */
struct ctl_listener_ops {
	/* A client's socket is ready (edge-triggered); opaque is its slot. */
	pv_loop_cb on_client;
	/* A slot was just taken by a new client: reset the protocol's state. */
	void (*opened)(struct ctl_conn *c);
	/*
	 * @c's deadline passed and it is about to be closed: log it; true if
	 * it counts in timed_out.
	 */
	bool (*expired)(struct ctl_conn *c);
};

/*
 * A listening socket served from the control thread's loop (the ctl
 * socket, the metrics listener), so no client may hold it: sockets are
 * non-blocking and edge-triggered, at most @nslots clients at once (one
 * more is closed at accept), each closed @deadline_ms after its accept
 * whatever state it is in (a timerfd fires at the earliest deadline), and
 * accept() out of fds or memory takes the listener off the loop for
 * CTL_ACCEPT_PAUSE_NS instead of spinning.
 */
struct ctl_listener {
	const char *who;	/* the logs' prefix: "ctl", "metrics" */
	const struct ctl_listener_ops *ops;
	void *owner;
	struct pv_loop *loop;
	int fd, timer_fd;
	unsigned char *slots;	/* nslots of stride bytes, a ctl_conn first */
	unsigned nslots;
	size_t stride;
	unsigned deadline_ms;
	bool peercred;		/* read SO_PEERCRED at accept (unix sockets) */
	uint64_t resume_ns;	/* off the loop (accept paused) until then */
	uint64_t accepted, refused, timed_out, accept_errors;
	struct pv_ratelimit rl;
};

/*
 * Sets up @l (zeroed by the caller) for @nslots client slots of @stride
 * bytes at @slots, each starting with a struct ctl_conn, and creates its
 * timerfd; 0 or -errno. The owner then binds and listens a socket and
 * hands it to ctl_listener_start.
 */
int ctl_listener_init(struct ctl_listener *l, const char *who,
		      const struct ctl_listener_ops *ops, void *owner,
		      void *slots, unsigned nslots, size_t stride,
		      unsigned deadline_ms, bool peercred);
/* Serves listening socket @fd (now owned by @l) from @loop; 0 or -errno. */
int ctl_listener_start(struct ctl_listener *l, struct pv_loop *loop, int fd);
/* Closes every client, takes @l off its loop, closes its fds. */
void ctl_listener_stop(struct ctl_listener *l);
/* Slot @i of @l's clients. */
static inline struct ctl_conn *ctl_listener_slot(struct ctl_listener *l,
						 unsigned i)
{
	return (struct ctl_conn *)(void *)(l->slots + (size_t)i * l->stride);
}
/* Closes client @c, frees its reply; the slot is free after. */
void ctl_conn_close(struct ctl_conn *c);
/*
 * Sends what is left of @c's reply without blocking: 1 all of it sent, 0
 * the socket is full (the rest on EPOLLOUT), -1 the client went away.
 */
int ctl_conn_send(struct ctl_conn *c);

#define CTL_MAX_CLIENTS		16
#define CTL_DEADLINE_MS		2000
/* A request line, newline included (a port spec is up to ~500 bytes). */
#define CTL_LINE_MAX		1024
/* The control socket protocol's version (docs/ctl.md); "version" says it. */
#define CTL_PROTOCOL		1

struct ctl_server;
/*
 * Listens on @path (replacing a stale socket) and answers one-line commands
 * from the switch's loop. NULL on failure (logged). Free with ctl_server_destroy.
 */
struct ctl_server *ctl_server_create(const char *path, struct sw *sw);
/* Stops listening, removes the socket file and frees @cs. */
void ctl_server_destroy(struct ctl_server *cs);
/* Runtime `port add` requests are checked for the sandbox (CTL_PORT_SANDBOXED). */
void ctl_server_set_sandboxed(struct ctl_server *cs, bool sandboxed);

/* ctl_port_add flags */
#define CTL_PORT_START		1u	/* the switch runs: start the port now */
#define CTL_PORT_SANDBOXED	2u	/* refuse what the seccomp allowlist forbids */
/*
 * The one way from a spec (as --port takes it) to a port of @sw: parse,
 * check (name, MAC, socket path, room), start it if CTL_PORT_START, add it
 * (published to running workers). The switch owns the port (*@out, may be
 * NULL). Returns 0, or -errno with the message in @err (nothing changed).
 */
int ctl_port_add(struct sw *sw, const char *spec, unsigned flags,
		 struct port **out, char *err, size_t errlen);
/* Deletes the port named @name (sw_port_del); 0 or -ENOENT with @err. */
int ctl_port_del(struct sw *sw, const char *name, char *err, size_t errlen);
/* A port's identity as a new JSON object (caller decrefs). */
json_t *ctl_port_json(struct port *p);
/*
 * Sends @cmd to the control socket at @path and returns the whole reply in
 * *reply (caller frees). Returns 0 or -errno.
 */
int ctl_request(const char *path, const char *cmd, char **reply);

/*
 * Reads a switch configuration file (JSON) and returns the equivalent
 * argument vector in argc and argv, starting with "switch" (caller frees each
 * string and the array). Returns 0, or -errno with a message in @err.
 */
int ctl_config_argv(const char *path, int *argc, char ***argv, char *err,
		    size_t errlen);

/* Looks up @name in the user database: 0, or -ENOENT. (sandbox.c) */
int ctl_user_lookup(const char *name, unsigned *uid, unsigned *gid);
/* Drops groups, gid and uid for the whole process; 0 or -errno. */
int ctl_drop_user(unsigned uid, unsigned gid);
/*
 * Installs the seccomp allowlist on every thread (no_new_privs, TSYNC);
 * with @log_only, forbidden calls are logged, not fatal. 0, -errno, or
 * -ENOSYS when built without libseccomp.
 */
int ctl_sandbox(bool log_only);
/*
 * Why this build cannot sandbox (a static string: no libseccomp, a
 * sanitizer runtime), or NULL when it can.
 */
const char *ctl_sandbox_unavailable(void);

/* What `pvnet switch` turns on before its workers start (ctl_protect_plan). */
struct ctl_protect {
	bool sandbox;		/* install the seccomp allowlist */
	bool sandbox_log;	/* ... logging forbidden calls instead */
	bool drop;		/* become uid/gid */
	unsigned uid, gid;
	char user[64];		/* the name dropped to */
	char sandbox_why[160];	/* why the sandbox is off ("" when on) */
	char drop_why[160];	/* why root is kept ("" when dropped or not root) */
};
/*
 * Decides the protections: @want_sandbox is -1 (default: on when the build
 * can), 0 (--no-sandbox) or 1 (--sandbox[=log], @sandbox_log); @user is
 * --user or NULL (default when @root: nobody, unless @reopen_port names a
 * port that opens a path after start; "root" keeps root). Fills @pr;
 * returns 0, or -errno with a message in @err (an unknown user, a sandbox
 * asked for that this build lacks).
 */
int ctl_protect_plan(int want_sandbox, bool sandbox_log, const char *user,
		     bool root, const char *reopen_port, struct ctl_protect *pr,
		     char *err, size_t errlen);

/*
 * Sends @state (e.g. "READY=1") to systemd's $NOTIFY_SOCKET; 0 when sent or
 * when there is no such socket (not a Type=notify service), else -errno.
 */
int ctl_sd_notify(const char *state);

#endif /* PVNET_CTL_INTERNAL_H */
