// SPDX-License-Identifier: MIT
/*
 * test_ctl.c - the JSON configuration file becomes the same options; the
 * control socket serves each client on its own, from the loop, without
 * ever blocking it: a slow writer, a silent client, a reader that never
 * reads and a crowd past the client limit each cost only themselves.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../src/ctl/ctl_internal.h"
#include "pvnet/port.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/pvnet-test-cfg.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void free_argv(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

static void config_to_options(void **state)
{
	char *p = write_tmp(
		"{\"ctl\": \"/run/x.ctl\", \"workers\": 2, \"gro_linearize\": true,"
		" \"copy\": \"double\", \"ports\": [{\"type\": \"vhost\", \"name\": \"a\","
		" \"path\": \"/run/a.sock\", \"queues\": 2, \"client\": true},"
		" \"tap,name=up,ifname=t0\"]}");
	char err[256] = "", **argv = NULL;
	int argc = 0;

	(void)state;
	assert_int_equal(ctl_config_argv(p, &argc, &argv, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(argc, 12);
	assert_string_equal(argv[0], "switch");
	assert_string_equal(argv[1], "--ctl");
	assert_string_equal(argv[2], "/run/x.ctl");
	assert_string_equal(argv[3], "--workers");
	assert_string_equal(argv[4], "2");
	assert_string_equal(argv[5], "--gro-linearize");
	assert_string_equal(argv[6], "--copy");
	assert_string_equal(argv[7], "double");
	assert_string_equal(argv[8], "--port");
	assert_string_equal(argv[9], "vhost,name=a,path=/run/a.sock,queues=2,client");
	assert_string_equal(argv[11], "tap,name=up,ifname=t0");
	assert_null(argv[12]);
	free_argv(argc, argv);
}

/* "vlans": {"red": 10, ...} in a port object: repeated vlan=NETWORK:VID. */
static void config_vlans(void **state)
{
	char *p = write_tmp(
		"{\"ports\": [{\"type\": \"afpacket\", \"name\": \"up\", \"ifname\": \"e0\","
		" \"vlans\": {\"red\": 10, \"blue\": 20}, \"untagged\": \"drop\"}]}");
	char *q;
	char err[256] = "", **argv = NULL;
	int argc = 0;

	(void)state;
	assert_int_equal(ctl_config_argv(p, &argc, &argv, err, sizeof(err)), 0);
	unlink(p);
	assert_string_equal(argv[2],
			    "afpacket,name=up,ifname=e0,vlan=red:10,vlan=blue:20,untagged=drop");
	free_argv(argc, argv);
	argv = NULL;
	q = write_tmp("{\"ports\": [{\"type\": \"tap\", \"name\": \"up\","
		      " \"vlans\": {\"red\": \"ten\"}}]}");
	assert_int_not_equal(ctl_config_argv(q, &argc, &argv, err, sizeof(err)), 0);
	unlink(q);
	assert_non_null(strstr(err, "wants a VID"));
}

/* "vnis": {"red": 100, ...} on a vxlan port: one vni=NETWORK:VNI each. */
static void config_vnis(void **state)
{
	char *p = write_tmp(
		"{\"ports\": [{\"type\": \"vxlan\", \"name\": \"vx\", \"local\": \"192.0.2.1\","
		" \"vnis\": {\"red\": 100, \"blue\": 200}}]}");
	char *q;
	char err[256] = "", **argv = NULL;
	int argc = 0;

	(void)state;
	assert_int_equal(ctl_config_argv(p, &argc, &argv, err, sizeof(err)), 0);
	unlink(p);
	assert_string_equal(argv[2],
			    "vxlan,name=vx,local=192.0.2.1,vni=red:100,vni=blue:200");
	free_argv(argc, argv);
	argv = NULL;
	q = write_tmp("{\"ports\": [{\"type\": \"vxlan\", \"name\": \"vx\","
		      " \"vnis\": {\"red\": \"hundred\"}}]}");
	assert_int_not_equal(ctl_config_argv(q, &argc, &argv, err, sizeof(err)), 0);
	unlink(q);
	assert_non_null(strstr(err, "wants a VNI"));
}

static void config_mac_limit(void **state)
{
	char *p = write_tmp("{\"mode\": \"learn\", \"mac_limit\": 512}");
	char err[256] = "", **argv = NULL;
	int argc = 0;

	(void)state;
	assert_int_equal(ctl_config_argv(p, &argc, &argv, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(argc, 5);
	assert_string_equal(argv[3], "--mac-limit");
	assert_string_equal(argv[4], "512");
	free_argv(argc, argv);
}

static void config_errors_are_clear(void **state)
{
	static const char *const bad[] = {
		"{\"bogus\": 1}", "[1, 2]", "{\"ports\": [", "{\"workers\": [1]}",
		"{\"ports\": [{\"name\": \"a\"}]}", "{\"ports\": {}}",
		"{\"ctl\": \"a\", \"ctl\": \"b\"}",
	};
	char err[256], **argv = NULL;
	int argc = 0;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *p = write_tmp(bad[i]);

		err[0] = '\0';
		assert_int_not_equal(ctl_config_argv(p, &argc, &argv, err,
						     sizeof(err)), 0);
		assert_true(strlen(err) > 0);
		unlink(p);
	}
	assert_int_not_equal(ctl_config_argv("/nonexistent/pvnet.json", &argc,
					     &argv, err, sizeof(err)), 0);
}


/*
 * The control socket, served by a loop thread as in `pvnet switch`. Every
 * wait below is bounded by WAIT_MS, far beyond the client deadline
 * (CTL_DEADLINE_MS): what is asserted is the order of events (a reply came
 * while a slow client was still open; that client was then closed), never
 * how long anything took.
 */
#define WAIT_MS		10000
#define MAX_FDS		(CTL_MAX_CLIENTS + 4)

struct ctl_fx {
	struct sw *sw;
	struct ctl_server *cs;
	pthread_t thr;
	atomic_bool stop;
	char path[64];
	int fds[MAX_FDS];	/* client sockets, closed by the teardown */
};

/* A port whose stats carry a 1 MB field: a reply no socket buffer holds. */
static void big_stats(struct port *p, void *obj)
{
	static char pad[1 << 20];

	(void)p;
	memset(pad, 'x', sizeof(pad) - 1);
	json_object_set_new(obj, "padding", json_string(pad));
}

static void free_port(struct port *p)
{
	free(p);
}

static const struct port_ops big_ops = {
	.type = "test", .stats_json = big_stats, .destroy = free_port,
};

static void *loop_thread(void *arg)
{
	struct ctl_fx *fx = arg;

	while (!atomic_load(&fx->stop))
		pv_loop_run_once(fx->sw->loop, 20);
	return NULL;
}

static int fx_setup(void **state, bool big)
{
	struct ctl_fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	for (unsigned i = 0; i < MAX_FDS; i++)
		fx->fds[i] = -1;
	snprintf(fx->path, sizeof(fx->path), "/tmp/pvnet-test-ctl.%d", getpid());
	fx->sw = sw_create(SW_MODE_DIRECT, 300);
	assert_non_null(fx->sw);
	if (big) {
		struct port *p = calloc(1, sizeof(*p));

		assert_non_null(p);
		snprintf(p->name, sizeof(p->name), "big");
		p->ops = &big_ops;
		assert_int_equal(sw_port_add(fx->sw, p), 0);
	}
	fx->cs = ctl_server_create(fx->path, fx->sw);
	assert_non_null(fx->cs);
	assert_int_equal(pthread_create(&fx->thr, NULL, loop_thread, fx), 0);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return fx_setup(state, false);
}

static int setup_big(void **state)
{
	return fx_setup(state, true);
}

/* Closing the clients first frees a loop that the old code blocked. */
static int teardown(void **state)
{
	struct ctl_fx *fx = *state;

	for (unsigned i = 0; i < MAX_FDS; i++)
		if (fx->fds[i] >= 0)
			close(fx->fds[i]);
	atomic_store(&fx->stop, true);
	pthread_join(fx->thr, NULL);
	ctl_server_destroy(fx->cs);
	sw_destroy(fx->sw);
	free(fx);
	return 0;
}

/* A connected client in slot @slot of the fixture (closed by teardown). */
static int client(struct ctl_fx *fx, unsigned slot)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, fx->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fx->fds[slot] = fd;
	return fd;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* True if the server has closed @fd's connection (EOF is waiting). */
static bool closed_by_server(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

/*
 * Reads @fd until EOF, at most WAIT_MS, in 200 ms steps; at each step one
 * byte goes to @drip (if >= 0): a client that sends its line one byte at a
 * time and never ends it. Returns the bytes read (*out, caller frees) or
 * -1 if EOF did not come in time.
 */
static ssize_t read_all(int fd, char **out, int drip)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (int waited = 0; waited < WAIT_MS;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 200) == 0) {
			waited += 200;
			if (drip >= 0)
				send(drip, "x", 1, MSG_NOSIGNAL);
			continue;
		}
		if (len + 1 >= cap) {
			buf = realloc(buf, cap *= 2);
			assert_non_null(buf);
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0) {
			buf[len] = '\0';
			if (out)
				*out = buf;
			else
				free(buf);
			return (ssize_t)len;
		}
		len += (size_t)n;
	}
	free(buf);
	return -1;
}

/* One "stats" request on slot @slot: the reply parsed (caller decrefs). */
static json_t *stats(struct ctl_fx *fx, unsigned slot, int drip, size_t *len)
{
	int fd = client(fx, slot);
	char *reply = NULL;
	ssize_t n;
	json_t *j;

	send_str(fd, "stats\n");
	n = read_all(fd, &reply, drip);
	assert_true(n > 0);
	assert_int_equal(reply[n - 1], '\n');
	j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	assert_non_null(json_object_get(j, "ports"));
	free(reply);
	close(fd);
	fx->fds[slot] = -1;
	if (len)
		*len = (size_t)n;
	return j;
}

static json_int_t ctl_counter(json_t *j, const char *name)
{
	json_t *c = json_object_get(json_object_get(j, "ctl"), name);

	assert_non_null(c);
	return json_integer_value(c);
}

/* Waits (bounded) until the server has closed @fd; returns what it sent. */
static ssize_t wait_closed(int fd, int drip)
{
	ssize_t n = read_all(fd, NULL, drip);

	assert_true(n >= 0);
	return n;
}

static void slow_writer_holds_nobody(void **state)
{
	struct ctl_fx *fx = *state;
	int slow = client(fx, 0);
	json_t *j;

	/* one byte now and one every 200 ms while the other client waits */
	send_str(slow, "s");
	j = stats(fx, 1, slow, NULL);
	json_decref(j);
	assert_false(closed_by_server(slow));
	/* then closed at its deadline, without a reply */
	assert_int_equal(wait_closed(slow, slow), 0);
	j = stats(fx, 1, -1, NULL);
	assert_int_equal(ctl_counter(j, "timed_out"), 1);
	assert_int_equal(ctl_counter(j, "refused"), 0);
	json_decref(j);
}

static void silent_client_holds_nobody(void **state)
{
	struct ctl_fx *fx = *state;
	int silent = client(fx, 0);
	json_t *j;

	j = stats(fx, 1, -1, NULL);
	json_decref(j);
	assert_false(closed_by_server(silent));
	assert_int_equal(wait_closed(silent, -1), 0);
	j = stats(fx, 1, -1, NULL);
	assert_int_equal(ctl_counter(j, "timed_out"), 1);
	json_decref(j);
}

static void non_reader_holds_nobody(void **state)
{
	struct ctl_fx *fx = *state;
	int lazy = client(fx, 0);
	size_t full = 0;
	json_t *j;

	send_str(lazy, "stats\n");
	/* a full reply to another client while the first one's is stuck */
	j = stats(fx, 1, -1, &full);
	json_decref(j);
	assert_true(full > (1 << 20));
	/* the lazy one is closed at its deadline, with part of its reply */
	{
		struct pollfd p = { .fd = lazy, .events = POLLRDHUP };

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_true(p.revents & (POLLRDHUP | POLLHUP));
	}
	assert_true(wait_closed(lazy, -1) < (ssize_t)full);
	j = stats(fx, 1, -1, NULL);
	assert_int_equal(ctl_counter(j, "timed_out"), 1);
	json_decref(j);
}

static void clients_past_the_limit_are_refused(void **state)
{
	struct ctl_fx *fx = *state;
	int extra;
	json_t *j = NULL;

	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
		client(fx, i);
	/* one too many: closed at once, no reply, while the others wait */
	extra = client(fx, CTL_MAX_CLIENTS);
	assert_int_equal(wait_closed(extra, -1), 0);
	assert_false(closed_by_server(fx->fds[0]));
	for (unsigned i = 0; i <= CTL_MAX_CLIENTS; i++) {
		close(fx->fds[i]);
		fx->fds[i] = -1;
	}
	/* the slots free up as the server sees the closes; then it answers */
	for (int tries = 0; tries < WAIT_MS / 100; tries++) {
		int fd = client(fx, 0);
		char *reply = NULL;

		send_str(fd, "stats\n");
		if (read_all(fd, &reply, -1) > 0)
			j = json_loads(reply, 0, NULL);
		free(reply);
		close(fd);
		fx->fds[0] = -1;
		if (j)
			break;
		usleep(100000);
	}
	assert_non_null(j);
	assert_true(ctl_counter(j, "refused") >= 1);
	assert_int_equal(ctl_counter(j, "timed_out"), 0);
	json_decref(j);
}

/* The protocol as `pvnet stats` and scripts speak it, byte for byte. */
static void protocol_unchanged(void **state)
{
	struct ctl_fx *fx = *state;
	char *reply = NULL;
	int fd;
	json_t *j;

	assert_int_equal(ctl_request(fx->path, "bogus", &reply), 0);
	assert_string_equal(reply, "{\"error\":\"unknown command (known: version, "
			    "stats, port list, port add, port del, fdb list, vxlan list, "
			    "vxlan remote, vxlan mac)\",\"code\":\"EINVAL\"}\n");
	free(reply);
	assert_int_equal(ctl_request(fx->path, "stats", &reply), 0);
	j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "mode")), "direct");
	json_decref(j);
	free(reply);
	/* a line ended by EOF instead of a newline still counts */
	fd = client(fx, 0);
	send_str(fd, "stats");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_true(read_all(fd, &reply, -1) > 0);
	j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	json_decref(j);
	free(reply);
}

/* One request, its reply parsed; the test owns the result. */
static json_t *req_json(struct ctl_fx *fx, const char *req)
{
	char *reply = NULL;
	json_t *j;

	assert_int_equal(ctl_request(fx->path, req, &reply), 0);
	j = json_loads(reply, 0, NULL);
	if (!j)
		fail_msg("not JSON: %s", reply);
	free(reply);
	return j;
}

/* The error code of a reply, or NULL if it is no error. */
static const char *err_code(json_t *j)
{
	const char *c = json_string_value(json_object_get(j, "code"));

	return c ? c : "(no error)";
}

/*
 * Protocol 1 (docs/ctl.md): version, port list, port add, port del, with
 * their errors, the switch going on after each.
 */
static void port_requests(void **state)
{
	struct ctl_fx *fx = *state;
	char req[600], sock[80], sock2[80];
	json_t *j, *ports;

	snprintf(sock, sizeof(sock), "/tmp/pvnet-test-ctl-p.%d", getpid());
	snprintf(sock2, sizeof(sock2), "/tmp/pvnet-test-ctl-q.%d", getpid());
	j = req_json(fx, "version");
	assert_int_equal(json_integer_value(json_object_get(j, "protocol")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "requests")), 11);
	json_decref(j);

	snprintf(req, sizeof(req), "port add vhost,name=p,path=%s,mac=02:00:00:00:00:09", sock);
	j = req_json(fx, req);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(j, "port"), "name")), "p");
	json_decref(j);
	assert_int_equal(access(sock, F_OK), 0);

	/* the errors, each with its code */
	j = req_json(fx, req);
	assert_string_equal(err_code(j), "EEXIST");		/* name */
	json_decref(j);
	snprintf(req, sizeof(req), "port add vhost,name=q,path=%s", sock);
	j = req_json(fx, req);
	assert_string_equal(err_code(j), "EADDRINUSE");	/* socket path */
	json_decref(j);
	/* a MAC on two vhost ports (a VM migrating) is fine, on three not */
	snprintf(req, sizeof(req), "port add vhost,name=q,path=%s,mac=02:00:00:00:00:09",
		 sock2);
	j = req_json(fx, req);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	snprintf(req, sizeof(req), "port add vhost,name=r,path=%s.r,mac=02:00:00:00:00:09",
		 sock2);
	j = req_json(fx, req);
	assert_string_equal(err_code(j), "EEXIST");		/* MAC */
	json_decref(j);
	snprintf(req, sizeof(req), "%s.r", sock2);
	assert_int_equal(access(req, F_OK), -1);
	j = req_json(fx, "port del q");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	assert_int_equal(access(sock2, F_OK), -1);
	j = req_json(fx, "port add vhost,name=q,queues=99");
	assert_string_equal(err_code(j), "EINVAL");		/* bad spec */
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
			       "queues=99"));
	json_decref(j);
	/* a live socket of another process is not a stale one to replace */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.live", sock2);
		unlink(sa.sun_path);
		assert_true(lfd >= 0);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(lfd, 4), 0);
		snprintf(req, sizeof(req), "port add vhost,name=live,path=%s",
			 sa.sun_path);
		j = req_json(fx, req);
		assert_string_equal(err_code(j), "EADDRINUSE");
		assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
				       "another process"));
		json_decref(j);
		/* still that process's socket */
		assert_int_equal(access(sa.sun_path, F_OK), 0);
		close(lfd);
		unlink(sa.sun_path);
	}
	j = req_json(fx, "port del nosuch");
	assert_string_equal(err_code(j), "ENOENT");
	json_decref(j);
	j = req_json(fx, "port");
	assert_string_equal(err_code(j), "EINVAL");
	json_decref(j);
	/* a line cut short is never acted on */
	{
		char big[CTL_LINE_MAX + 100];

		memset(big, 'y', sizeof(big));
		memcpy(big, "port add vhost,name=long,path=", 30);
		big[sizeof(big) - 1] = '\0';
		j = req_json(fx, big);
		assert_string_equal(err_code(j), "EINVAL");
		json_decref(j);
	}

	j = req_json(fx, "port list");
	ports = json_object_get(j, "ports");
	assert_int_equal(json_array_size(ports), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(ports, 0), "path")), sock);
	json_decref(j);

	j = req_json(fx, "port del p");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	assert_int_equal(access(sock, F_OK), -1);	/* the socket file is gone */
	j = req_json(fx, "port list");
	assert_int_equal(json_array_size(json_object_get(j, "ports")), 0);
	json_decref(j);
	/* the same name and path again: nothing of the old one is left */
	snprintf(req, sizeof(req), "port add vhost,name=p,path=%s,mac=02:00:00:00:00:09", sock);
	j = req_json(fx, req);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	j = req_json(fx, "stats");
	assert_int_equal(json_array_size(json_object_get(j, "ports")), 1);
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(j, "ctl"), "port_added")), 3);
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(j, "ctl"), "port_deleted")), 2);
	json_decref(j);
}

/*
 * Out of fds at accept(): the queued client keeps the listener readable,
 * and the loop spun on it. The listener pauses (no CPU burnt meanwhile),
 * and the client is served once fds are back.
 */
static void accept_out_of_fds_pauses(void **state)
{
	struct ctl_fx *fx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), probe;
	struct rlimit old, low;
	struct rusage r0, r1;
	char *reply = NULL;
	double cpu;
	json_t *j;

	assert_true(fd >= 0);
	fx->fds[0] = fd;
	strcpy(sa.sun_path, fx->path);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	probe = dup(0);			/* the lowest free fd number */
	assert_true(probe >= 0);
	close(probe);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	usleep(20000);
	getrusage(RUSAGE_SELF, &r0);
	usleep(150000);
	getrusage(RUSAGE_SELF, &r1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec +
		       r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	      (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec +
		       r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	assert_true(cpu < 0.075);	/* a spinning loop burns the whole 150 ms */
	/* served after the pause */
	send_str(fd, "stats\n");
	assert_true(read_all(fd, &reply, 0) > 0);
	j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	assert_true(ctl_counter(j, "accept_errors") >= 1);
	json_decref(j);
	free(reply);
}

/*
 * The tables EVPN fills (docs/evpn.md): a vxlan port's remotes and static
 * MACs, added, listed, removed; every bad request refused with its code
 * and counted, the switch going on.
 */
static void vxlan_requests(void **state)
{
	struct ctl_fx *fx = *state;
	static const struct { const char *req, *code; } bad[] = {
		{ "vxlan", "EINVAL" },
		{ "vxlan remote", "EINVAL" },
		{ "vxlan remote add vx", "EINVAL" },
		{ "vxlan remote add vx 127.0.0.2 extra", "EINVAL" },
		{ "vxlan remote put vx 127.0.0.2", "EINVAL" },
		{ "vxlan mac add vx 02:00:00:00:00:0a", "EINVAL" },
		{ "vxlan remote add nope 127.0.0.2", "ENOENT" },
		{ "vxlan remote add vx 127.0.0.2", "EEXIST" },
		{ "vxlan remote add vx fd00::2", "EINVAL" },
		{ "vxlan remote add vx not-an-ip", "EINVAL" },
		{ "vxlan remote del vx 127.0.0.9", "ENOENT" },
		{ "vxlan mac add vx ff:ff:ff:ff:ff:ff 127.0.0.2", "EINVAL" },
		{ "vxlan mac add vx 02:00:00:00:00 127.0.0.2", "EINVAL" },
		{ "vxlan mac del vx 02:00:00:00:00:0b", "ENOENT" },
	};
	char req[200];
	json_t *j, *v;
	unsigned port = 20000 + (unsigned)getpid() % 20000;

	snprintf(req, sizeof(req), "port add vxlan,name=vx,vni=5,local=127.0.0.1,"
		 "dstport=%u,mtu=1500", port);
	j = req_json(fx, req);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	j = req_json(fx, "vxlan remote add vx 127.0.0.2");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	j = req_json(fx, "vxlan mac add vx 02:00:00:00:00:0a 127.0.0.3");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = req_json(fx, bad[i].req);
		if (strcmp(err_code(j), bad[i].code))
			fail_msg("%s: %s, want %s", bad[i].req, err_code(j), bad[i].code);
		json_decref(j);
	}
	j = req_json(fx, "vxlan list");
	v = json_array_get(json_object_get(j, "ports"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "name")), "vx");
	assert_int_equal(json_integer_value(json_object_get(v, "vni")), 5);
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(v, "remotes"), 0)), "127.0.0.2");
	v = json_array_get(json_object_get(v, "macs"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "mac")),
			    "02:00:00:00:00:0a");
	assert_string_equal(json_string_value(json_object_get(v, "vtep")), "127.0.0.3");
	json_decref(j);
	j = req_json(fx, "vxlan remote del vx 127.0.0.2");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	j = req_json(fx, "vxlan mac del vx 02:00:00:00:00:0a");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	j = req_json(fx, "vxlan list");
	v = json_array_get(json_object_get(j, "ports"), 0);
	assert_int_equal(json_array_size(json_object_get(v, "remotes")), 0);
	assert_int_equal(json_array_size(json_object_get(v, "macs")), 0);
	json_decref(j);
	j = req_json(fx, "fdb list");
	assert_true(json_is_array(json_object_get(j, "macs")));
	json_decref(j);
	j = req_json(fx, "stats");
	assert_int_equal(ctl_counter(j, "vxlan_changes"), 4);
	assert_int_equal(ctl_counter(j, "vxlan_errors"),
			 sizeof(bad) / sizeof(bad[0]));
	json_decref(j);
	j = req_json(fx, "port del vx");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
}

/*
 * "fdb list" names the network of each entry, not of its port: on a trunk
 * (one port, several networks) the MACs are in the trunk's networks, and
 * `pvnet evpn` advertises each in the VNI of its own network.
 */
static void fdb_list_names_the_entry_network(void **state)
{
	struct ctl_fx *fx = *state;
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 0x0b };
	char req[200], sock[80], err[80];
	struct port *p;
	json_t *j, *m;
	int red;

	snprintf(sock, sizeof(sock), "/tmp/pvnet-test-ctl-t.%d", getpid());
	snprintf(req, sizeof(req), "port add vhost,name=t,path=%s", sock);
	j = req_json(fx, req);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	snprintf(req, sizeof(req), "port add vhost,name=u,path=%s.u,network=red", sock);
	j = req_json(fx, req);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	red = sw_net_get(fx->sw, "red", false, err, sizeof(err));
	assert_true(red > 0);
	p = sw_port_find(fx->sw, "t");
	assert_non_null(p);
	/* what a trunk's receive learns: port t (in default), network red */
	assert_int_equal(fdb_learn_net(&fx->sw->fdb, mac, (uint8_t)red, p->idx,
				       pv_now_ns()), 0);
	j = req_json(fx, "fdb list");
	m = json_array_get(json_object_get(j, "macs"), 0);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "mac")),
			    "02:00:00:00:00:0b");
	assert_string_equal(json_string_value(json_object_get(m, "port")), "t");
	assert_string_equal(json_string_value(json_object_get(m, "network")), "red");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_to_options),
		cmocka_unit_test(config_vlans),
		cmocka_unit_test(config_vnis),
		cmocka_unit_test(config_errors_are_clear),
		cmocka_unit_test_setup_teardown(protocol_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_writer_holds_nobody, setup,
						teardown),
		cmocka_unit_test_setup_teardown(silent_client_holds_nobody, setup,
						teardown),
		cmocka_unit_test_setup_teardown(non_reader_holds_nobody, setup_big,
						teardown),
		cmocka_unit_test_setup_teardown(clients_past_the_limit_are_refused,
						setup, teardown),
		cmocka_unit_test(config_mac_limit),
		cmocka_unit_test_setup_teardown(port_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(vxlan_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(accept_out_of_fds_pauses, setup, teardown),
		cmocka_unit_test_setup_teardown(fdb_list_names_the_entry_network,
						setup, teardown),
	};

	/* a client the server closed must not end the test */
	signal(SIGPIPE, SIG_IGN);

	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
