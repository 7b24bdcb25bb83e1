// SPDX-License-Identifier: MIT
/*
 * ctlsock.c - the switch's control socket: one command line in, one JSON
 * document out, then the connection closes. Requests (protocol 1,
 * docs/ctl.md): "version", "stats", "port list", "port add SPEC",
 * "port del NAME", "fdb list", "vxlan list", "vxlan remote add|del",
 * "vxlan mac add|del". An error is {"error": message, "code": errno name}.
 * A port request runs on this thread, the control thread, like every
 * vhost-user message: it changes what workers read by the contract.
 *
 * The socket is served from the control thread's loop, which also runs
 * every vhost-user socket, so no client may hold it (ctl_listener.c): every
 * socket is non-blocking, a client's line is gathered and its reply written
 * as the socket becomes ready, and each client is closed CTL_DEADLINE_MS
 * after its accept whatever state it is in. At most CTL_MAX_CLIENTS are
 * served at once; one more is closed at accept. Counters: "ctl" in the
 * stats reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_internal.h"
#include "pvnet/dp.h"
#include "pvnet/log.h"
#include "pvnet/vxlan.h"

struct ctl_server;

struct ctl_client {
	struct ctl_conn conn;	/* first: the listener's slot */
	size_t got;
	char line[CTL_LINE_MAX];
};

struct ctl_server {
	struct ctl_listener l;
	char path[108];
	struct sw *sw;
	struct ctl_client cl[CTL_MAX_CLIENTS];
	uint64_t port_added, port_deleted, port_errors;
	uint64_t vxlan_changes, vxlan_errors;	/* `vxlan remote|mac add|del` */
	bool sandboxed;
};

void ctl_server_set_sandboxed(struct ctl_server *cs, bool sandboxed)
{
	if (cs)
		cs->sandboxed = sandboxed;
}

/* The socket's own counters in every stats document, under "ctl". */
static void stats_source(void *opaque, json_t *root)
{
	struct ctl_server *cs = opaque;
	json_t *o = json_object();

	json_object_set_new(o, "accepted", json_integer((json_int_t)cs->l.accepted));
	json_object_set_new(o, "refused", json_integer((json_int_t)cs->l.refused));
	json_object_set_new(o, "timed_out",
			    json_integer((json_int_t)cs->l.timed_out));
	json_object_set_new(o, "accept_errors",
			    json_integer((json_int_t)cs->l.accept_errors));
	json_object_set_new(o, "port_added",
			    json_integer((json_int_t)cs->port_added));
	json_object_set_new(o, "port_deleted",
			    json_integer((json_int_t)cs->port_deleted));
	json_object_set_new(o, "port_errors",
			    json_integer((json_int_t)cs->port_errors));
	json_object_set_new(o, "vxlan_changes",
			    json_integer((json_int_t)cs->vxlan_changes));
	json_object_set_new(o, "vxlan_errors",
			    json_integer((json_int_t)cs->vxlan_errors));
	json_object_set_new(root, "ctl", o);
}

static const char *errno_name(int e)
{
	switch (e) {
	case EEXIST: return "EEXIST";
	case EADDRINUSE: return "EADDRINUSE";
	case ENOENT: return "ENOENT";
	case ENOSPC: return "ENOSPC";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOMEM: return "ENOMEM";
	case EINVAL: return "EINVAL";
	default: return "EIO";
	}
}

static json_t *error_json(int e, const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", json_string(msg));
	json_object_set_new(o, "code", json_string(errno_name(e)));
	return o;
}

static json_t *port_list_json(struct sw *sw)
{
	json_t *o = json_object(), *a = json_array();

	for (unsigned i = 0; i < sw->nports; i++)
		json_array_append_new(a, ctl_port_json(sw->ports[i]));
	json_object_set_new(o, "protocol", json_integer(CTL_PROTOCOL));
	json_object_set_new(o, "ports", a);
	return o;
}

/* "port add SPEC" and "port del NAME": one change of the switch, logged. */
static json_t *port_request(struct ctl_server *cs, const char *line)
{
	char err[400];
	struct port *p = NULL;
	uint64_t t0 = pv_now_ns();
	json_t *o;
	int rc;

	if (!strncmp(line, "port add ", 9)) {
		rc = ctl_port_add(cs->sw, line + 9, CTL_PORT_START |
				  (cs->sandboxed ? CTL_PORT_SANDBOXED : 0), &p,
				  err, sizeof(err));
		if (rc == 0) {
			cs->port_added++;
			pv_info("ctl: port %s added (%s, index %u, %u port(s)) in %.2f ms",
				p->name, p->ops->type, p->idx, cs->sw->nports,
				(double)(pv_now_ns() - t0) / 1e6);
			o = json_object();
			json_object_set_new(o, "ok", json_true());
			json_object_set_new(o, "port", ctl_port_json(p));
			return o;
		}
	} else {
		char name[PORT_NAME_MAX + 1];

		snprintf(name, sizeof(name), "%s", line + 9);
		rc = ctl_port_del(cs->sw, line + 9, err, sizeof(err));
		if (rc == 0) {
			cs->port_deleted++;
			pv_info("ctl: port %s deleted (%u port(s) left) in %.2f ms",
				name, cs->sw->nports,
				(double)(pv_now_ns() - t0) / 1e6);
			o = json_object();
			json_object_set_new(o, "ok", json_true());
			return o;
		}
	}
	cs->port_errors++;
	pv_log_ratelimited(&cs->l.rl, PV_LOG_WARN, "ctl: %s: %s", line, err);
	return error_json(-rc, err);
}

struct fdb_list_ctx {
	struct sw *sw;
	json_t *a;
};

static void fdb_list_one(void *opaque, const uint8_t *mac, uint8_t net,
			 uint16_t idx, bool is_static)
{
	struct fdb_list_ctx *c = opaque;
	struct port *p = NULL;
	json_t *o;
	char m[18];

	for (unsigned i = 0; i < c->sw->nports; i++)
		if (c->sw->ports[i]->idx == idx)
			p = c->sw->ports[i];
	/* An entry of a port being deleted (its index not reused yet). */
	if (!p)
		return;
	o = json_object();
	snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	json_object_set_new(o, "mac", json_string(m));
	json_object_set_new(o, "port", json_string(p->name));
	json_object_set_new(o, "type", json_string(p->ops->type));
	json_object_set_new(o, "network",
			    json_string(c->sw->net_name[net % SW_MAX_NETS]));
	json_object_set_new(o, "static", json_boolean(is_static));
	json_array_append_new(c->a, o);
}

/* "fdb list": the switch's MAC table, what `pvnet evpn` advertises. */
static json_t *fdb_list_json(struct sw *sw)
{
	struct fdb_list_ctx c = { sw, json_array() };
	json_t *o = json_object();

	fdb_foreach(&sw->fdb, pv_now_ns(), fdb_list_one, &c);
	json_object_set_new(o, "protocol", json_integer(CTL_PROTOCOL));
	json_object_set_new(o, "macs", c.a);
	return o;
}

static json_t *vxlan_list_json(struct sw *sw)
{
	json_t *o = json_object(), *a = json_array();

	for (unsigned i = 0; i < sw->nports; i++) {
		json_t *v = vxlan_port_json(sw->ports[i]);

		if (v) {
			json_object_set_new(v, "network", json_string(
				sw->net_name[sw->ports[i]->net % SW_MAX_NETS]));
			json_array_append_new(a, v);
		}
	}
	json_object_set_new(o, "protocol", json_integer(CTL_PROTOCOL));
	json_object_set_new(o, "ports", a);
	return o;
}

#define VXLAN_USAGE "want: vxlan list, vxlan remote add|del PORT IP [vni N], " \
		    "vxlan mac add PORT MAC IP [vni N], vxlan mac del PORT MAC [vni N]"

/*
 * "vxlan remote add|del PORT IP", "vxlan mac add PORT MAC IP",
 * "vxlan mac del PORT MAC", each with "vni N" after it on a port of
 * several VNIs: the tables EVPN fills (docs/evpn.md).
 */
static json_t *vxlan_request(struct ctl_server *cs, const char *line)
{
	char w[7][64], extra[2], err[300];
	struct port *p;
	void *old = NULL;
	int n, rc, want;
	int64_t vni = -1;
	json_t *o;

	n = sscanf(line, "vxlan %63s %63s %63s %63s %63s %63s %63s %1s", w[0],
		   w[1], w[2], w[3], w[4], w[5], w[6], extra);
	if (n < 4 || n > 7)
		goto usage;
	if (!strcmp(w[0], "remote") || !strcmp(w[1], "del"))
		want = 4;
	else
		want = 5;
	if (n == want + 2 && !strcmp(w[want], "vni")) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(w[want + 1], &end, 10);
		if (errno || *end || w[want + 1][0] == '-' || v > VXLAN_VNI_MAX)
			goto usage;
		vni = (int64_t)v;
		n = want;
	}
	if ((strcmp(w[0], "remote") && strcmp(w[0], "mac")) ||
	    (strcmp(w[1], "add") && strcmp(w[1], "del")) || n != want)
		goto usage;
	p = sw_port_find(cs->sw, w[2]);
	if (!p) {
		snprintf(err, sizeof(err), "no port %s", w[2]);
		rc = -ENOENT;
	} else if (!strcmp(w[0], "remote")) {
		rc = vxlan_port_remote(p, vni, w[3], !strcmp(w[1], "add"), &old,
				       err, sizeof(err));
		if (old) {
			/* Workers may still flood to the old set (rule G). */
			dp_sync(cs->sw->dp, false);
			free(old);
		}
	} else {
		rc = vxlan_port_mac(p, vni, w[3], !strcmp(w[1], "add") ? w[4] : NULL,
				    err, sizeof(err));
	}
	if (rc == 0) {
		cs->vxlan_changes++;
		pv_debug("ctl: %s", line);
		o = json_object();
		json_object_set_new(o, "ok", json_true());
		return o;
	}
	cs->vxlan_errors++;
	pv_log_ratelimited(&cs->l.rl, PV_LOG_WARN, "ctl: %s: %s", line, err);
	return error_json(-rc, err);
usage:
	cs->vxlan_errors++;
	return error_json(EINVAL, VXLAN_USAGE);
}

static char *answer(struct ctl_server *cs, const char *line, size_t *len)
{
	json_t *j;
	char *s = NULL;

	if (!strcmp(line, "stats")) {
		/* the socket's own counters come in through stats_source() */
		j = ctl_stats_json(cs->sw);
	} else if (!strcmp(line, "version")) {
		static const char *const reqs[] = {
			"version", "stats", "port list", "port add", "port del",
			"fdb list", "vxlan list", "vxlan remote add",
			"vxlan remote del", "vxlan mac add", "vxlan mac del",
		};
		json_t *a = json_array();

		j = json_object();
		for (unsigned i = 0; i < ARRAY_SIZE(reqs); i++)
			json_array_append_new(a, json_string(reqs[i]));
		json_object_set_new(j, "protocol", json_integer(CTL_PROTOCOL));
		json_object_set_new(j, "requests", a);
	} else if (!strcmp(line, "port list")) {
		j = port_list_json(cs->sw);
	} else if (!strcmp(line, "fdb list")) {
		j = fdb_list_json(cs->sw);
	} else if (!strcmp(line, "vxlan list")) {
		j = vxlan_list_json(cs->sw);
	} else if (!strncmp(line, "vxlan", 5) && (!line[5] || line[5] == ' ')) {
		j = vxlan_request(cs, line);
	} else if ((!strncmp(line, "port add ", 9) ||
		    !strncmp(line, "port del ", 9)) && line[9]) {
		j = port_request(cs, line);
	} else if (!strncmp(line, "port", 4) && (!line[4] || line[4] == ' ')) {
		cs->port_errors++;
		j = error_json(EINVAL, "want: port list, port add SPEC, port del NAME");
	} else {
		j = error_json(EINVAL, "unknown command (known: version, stats, "
			       "port list, port add, port del, fdb list, "
			       "vxlan list, vxlan remote, vxlan mac)");
	}
	if (j) {
		s = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	if (!s)
		return NULL;
	/* the reply is one line: the document and its newline */
	*len = strlen(s) + 1;
	s[*len - 1] = '\n';
	return s;
}

/* Reads what is there; true once the line is complete (newline, full, EOF). */
static bool read_line(struct ctl_client *c, bool *fail)
{
	while (c->got < sizeof(c->line) - 1) {
		ssize_t n = recv(c->conn.fd, c->line + c->got,
				 sizeof(c->line) - 1 - c->got, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*fail = errno != EAGAIN;
			return false;
		}
		if (n == 0)
			return true;
		if (memchr(c->line + c->got, '\n', (size_t)n)) {
			c->got += (size_t)n;
			return true;
		}
		c->got += (size_t)n;
	}
	return true;
}

static void on_client(void *opaque, int fd, uint32_t events)
{
	struct ctl_client *c = opaque;
	struct ctl_conn *conn = &c->conn;
	bool fail = false;

	(void)fd;
	(void)events;
	if (!conn->out) {
		if (!read_line(c, &fail)) {
			if (fail)
				ctl_conn_close(conn);
			return;
		}
		c->line[c->got] = '\0';
		if (c->got == sizeof(c->line) - 1 && !strchr(c->line, '\n')) {
			/* Cut short: never act on part of a request. */
			conn->out = strdup("{\"error\":\"request line too long\",\"code\":\"EINVAL\"}\n");
			conn->out_len = conn->out ? strlen(conn->out) : 0;
		} else {
			c->line[strcspn(c->line, "\r\n")] = '\0';
			conn->out = answer(conn->l->owner, c->line,
					   &conn->out_len);
		}
		if (!conn->out) {
			ctl_conn_close(conn);
			return;
		}
	}
	if (ctl_conn_send(conn) == 0)
		return;	/* the rest when it reads: EPOLLOUT */
	ctl_conn_close(conn);	/* all sent, or it went away */
}

static void client_opened(struct ctl_conn *conn)
{
	((struct ctl_client *)(void *)conn)->got = 0;
}

static bool client_expired(struct ctl_conn *conn)
{
	struct ctl_client *c = (struct ctl_client *)(void *)conn;
	struct ctl_listener *l = conn->l;

	if (conn->out)
		pv_log_ratelimited(&l->rl, PV_LOG_WARN,
				   "ctl: client pid %d uid %u closed at its %d ms deadline: %zu of %zu reply bytes read",
				   (int)conn->peer.pid, (unsigned)conn->peer.uid,
				   CTL_DEADLINE_MS, conn->out_off, conn->out_len);
	else
		pv_log_ratelimited(&l->rl, PV_LOG_WARN,
				   "ctl: client pid %d uid %u closed at its %d ms deadline: no command line after %zu bytes",
				   (int)conn->peer.pid, (unsigned)conn->peer.uid,
				   CTL_DEADLINE_MS, c->got);
	return true;
}

static const struct ctl_listener_ops client_ops = {
	.on_client = on_client,
	.opened = client_opened,
	.expired = client_expired,
};

struct ctl_server *ctl_server_create(const char *path, struct sw *sw)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *cs;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pv_err("ctl: socket path too long: %s", path);
		return NULL;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->sw = sw;
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	strcpy(sa.sun_path, path);
	err = ctl_listener_init(&cs->l, "ctl", &client_ops, cs, cs->cl,
				CTL_MAX_CLIENTS, sizeof(cs->cl[0]),
				CTL_DEADLINE_MS, true);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (err < 0 || fd < 0)
		goto err;
	unlink(path);
	/*
	 * bind() gives the file the socket's mode minus the umask: 0600 from
	 * the start, whatever the umask (and nobody connects before listen).
	 */
	if (fchmod(fd, 0600) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, CTL_MAX_CLIENTS) < 0)
		goto err;
	err = ctl_listener_start(&cs->l, sw->loop, fd);
	fd = -1;	/* the listener's now */
	if (err < 0) {
		errno = -err;
		goto err;
	}
	if (ctl_stats_source_add(stats_source, cs) < 0) {
		errno = ENOSPC;
		goto err;
	}
	return cs;
err:
	pv_err("ctl: cannot listen on %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	ctl_listener_stop(&cs->l);
	free(cs);
	return NULL;
}

void ctl_server_destroy(struct ctl_server *cs)
{
	if (!cs)
		return;
	ctl_stats_source_del(cs);
	ctl_listener_stop(&cs->l);
	unlink(cs->path);
	free(cs);
}

/* Sends all of @buf on socket @fd; a closed peer is EPIPE, not SIGPIPE. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctl_request(const char *path, const char *cmd, char **reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t cap = 4096, len = 0;
	char *buf;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/*
	 * The server may answer and close before the whole line is written
	 * (a line too long is refused as soon as it is seen): the write then
	 * fails with EPIPE, and the answer is still there to read.
	 */
	if ((write_all(fd, cmd, strlen(cmd)) < 0 || write_all(fd, "\n", 1) < 0) &&
	    errno != EPIPE && errno != ECONNRESET) {
		rc = -errno;
		close(fd);
		return rc;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (!len) {
		free(buf);
		return -ECONNRESET;
	}
	*reply = buf;
	return 0;
}
