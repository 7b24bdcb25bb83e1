// SPDX-License-Identifier: MIT
/*
 * metrics_http.c - `pvnet switch --metrics ADDR:PORT`: the stats document
 * as the Prometheus text exposition at GET /metrics, for Prometheus to
 * scrape the switch directly.
 *
 * Theory of operation. The listener runs from the control thread's loop,
 * like the control socket, and shares its rules (ctl_listener.c): every
 * socket is non-blocking, a client's request head is gathered and its reply
 * written as the socket becomes ready, and each client is closed
 * CTL_METRICS_DEADLINE_MS after its accept whatever state it is in. At most
 * CTL_METRICS_MAX_CLIENTS are served at once; one more is closed at accept.
 * A request head longer than CTL_METRICS_REQ_MAX bytes is answered 400.
 *
 * HTTP/1.0 and 1.1, one request per connection ("Connection: close"):
 * GET or HEAD /metrics (a query string is ignored) is answered 200, any
 * other path 404, any other method 405. The body is rendered when the
 * request is complete, from ctl_stats_json(), the document `pvnet stats
 * --json` shows. A scraper whose Accept header names
 * application/openmetrics-text gets OpenMetrics 1.0; any other client
 * (curl, promtool) the Prometheus text format 0.0.4. After the reply the
 * write side is shut down and what the client still sends is read and
 * dropped until it closes or its deadline: closing with unread input would
 * reset the connection and could cut the reply short at the client.
 *
 * The listener's own counters are in every stats document under
 * "metrics_http" (and so in its own output).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_internal.h"
#include "pvnet/log.h"

enum mh_state {
	MH_READ,	/* gathering the request head */
	MH_WRITE,	/* writing the reply */
	MH_DRAIN,	/* reply written, write side shut: reading until EOF */
};

struct mh_client {
	struct ctl_conn conn;	/* first: the listener's slot */
	enum mh_state state;
	size_t got;
	char req[CTL_METRICS_REQ_MAX + 1];
};

struct ctl_metrics {
	struct ctl_listener l;
	unsigned port;
	char addr[64];		/* as given, for the logs */
	struct sw *sw;
	struct mh_client cl[CTL_METRICS_MAX_CLIENTS];
	uint64_t requests, scrapes, bad;
};

int ctl_metrics_parse_addr(const char *s, struct sockaddr_storage *ss,
			   unsigned *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs = s;
	size_t hlen;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hs = s + 1;
		hlen = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (!hlen || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 0 || port > 65535 ||
	    colon[1] == '-' || colon[1] == '+' || colon[1] == ' ')
		return -EINVAL;
	if (*s == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		/* inet_pton takes only dotted quads: no "localhost", no 010 */
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	}
	return 0;
}

/* The reply: status line, headers and (unless HEAD) @body; NULL on ENOMEM. */
static char *reply(int status, const char *ctype, const char *extra,
		   const char *body, size_t body_len, bool head, size_t *len)
{
	const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" :
			     status == 405 ? "Method Not Allowed" : "Bad Request";
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "%s"
			 "Cache-Control: no-store\r\n"
			 "Connection: close\r\n\r\n",
			 status, reason, ctype, body_len, extra);
	char *out;

	if (n < 0 || (size_t)n >= sizeof(hdr))
		return NULL;
	*len = (size_t)n + (head ? 0 : body_len);
	out = malloc(*len + 1);
	if (!out)
		return NULL;
	memcpy(out, hdr, (size_t)n);
	if (!head)
		memcpy(out + n, body, body_len);
	return out;
}

/* An error reply with a short text body. */
static char *reply_text(int status, const char *extra, const char *text,
			bool head, size_t *len)
{
	return reply(status, "text/plain; charset=utf-8", extra, text,
		     strlen(text), head, len);
}

/* The value of header @name in the head @req (NUL-terminated), or NULL. */
static const char *header(const char *req, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *l = strchr(req, '\n');

	while (l && l[1]) {
		const char *line = l + 1, *eol = strchr(line, '\n');

		if (!eol)
			break;
		if (!strncasecmp(line, name, nlen) && line[nlen] == ':') {
			const char *v = line + nlen + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			*vlen = (size_t)(eol - v);
			if (*vlen && v[*vlen - 1] == '\r')
				(*vlen)--;
			return v;
		}
		l = eol;
	}
	return NULL;
}

/*
 * Whether the client asks for OpenMetrics: Prometheus lists it first in
 * Accept, and "q=0" refuses a type (RFC 9110 §12.4.2).
 */
static bool wants_openmetrics(const char *req)
{
	size_t vlen;
	const char *v = header(req, "Accept", &vlen), *p;
	char acc[512];

	if (!v || vlen >= sizeof(acc))
		return false;
	memcpy(acc, v, vlen);
	acc[vlen] = '\0';
	p = strstr(acc, "application/openmetrics-text");
	if (!p)
		return false;
	{
		const char *comma = strchr(p, ',');
		const char *q = strstr(p, "q=");

		if (q && (!comma || q < comma) && strtod(q + 2, NULL) <= 0.0)
			return false;
	}
	return true;
}

static char *answer(struct ctl_metrics *m, char *req, size_t *len)
{
	char *sp1 = strchr(req, ' '), *sp2, *path;
	bool head;

	m->requests++;
	if (!sp1)
		goto bad;
	*sp1 = '\0';
	path = sp1 + 1;
	sp2 = strchr(path, ' ');
	if (!sp2 || strncmp(sp2 + 1, "HTTP/1.", 7))
		goto bad;
	*sp2 = '\0';
	path[strcspn(path, "?")] = '\0';
	head = !strcmp(req, "HEAD");
	if (strcmp(req, "GET") && !head) {
		m->bad++;
		return reply_text(405, "Allow: GET, HEAD\r\n",
				  "method not allowed: GET /metrics\n", false, len);
	}
	if (strcmp(path, "/metrics")) {
		m->bad++;
		return reply_text(404, "", "not found: GET /metrics\n", head, len);
	}
	{
		/* after the request line's NULs: the headers are intact */
		bool om = wants_openmetrics(sp2 + 1);
		json_t *j;
		size_t blen;
		char *body, *out;

		m->scrapes++;	/* before: this scrape counts in its own output */
		j = ctl_stats_json(m->sw);
		body = j ? ctl_metrics_text(j, om, &blen) : NULL;
		json_decref(j);
		if (!body)
			return NULL;
		out = reply(200, om ?
			    "application/openmetrics-text; version=1.0.0; charset=utf-8" :
			    "text/plain; version=0.0.4; charset=utf-8",
			    "", body, blen, head, len);
		free(body);
		return out;
	}
bad:
	m->bad++;
	return reply_text(400, "", "bad request\n", false, len);
}

/*
 * Reads what is there; true once the head is complete (an empty line),
 * too long, or the client stopped sending.
 */
static bool read_head(struct mh_client *c, bool *fail)
{
	while (c->got < CTL_METRICS_REQ_MAX) {
		ssize_t n = recv(c->conn.fd, c->req + c->got,
				 CTL_METRICS_REQ_MAX - c->got, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*fail = errno != EAGAIN;
			return false;
		}
		if (n == 0) {
			*fail = true;	/* closed before a whole request */
			return false;
		}
		c->got += (size_t)n;
		c->req[c->got] = '\0';
		if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
			return true;
	}
	return true;
}

static void drain(struct mh_client *c)
{
	char buf[512];

	for (;;) {
		ssize_t n = recv(c->conn.fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		ctl_conn_close(&c->conn);	/* EOF or an error: done */
		return;
	}
}

static void on_client(void *opaque, int fd, uint32_t events)
{
	struct mh_client *c = opaque;
	struct ctl_conn *conn = &c->conn;
	struct ctl_metrics *m = conn->l->owner;
	bool fail = false;
	int sent;

	(void)fd;
	(void)events;
	if (c->state == MH_DRAIN) {
		drain(c);
		return;
	}
	if (c->state == MH_READ) {
		bool whole = read_head(c, &fail);

		if (!whole) {
			if (fail)
				ctl_conn_close(conn);
			return;
		}
		if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n")) {
			/* CTL_METRICS_REQ_MAX bytes and no end of the head */
			m->requests++;
			m->bad++;
			conn->out = reply_text(400, "", "request head too long\n",
					       false, &conn->out_len);
		} else {
			conn->out = answer(m, c->req, &conn->out_len);
		}
		if (!conn->out) {
			ctl_conn_close(conn);
			return;
		}
		c->state = MH_WRITE;
	}
	sent = ctl_conn_send(conn);
	if (sent == 0)
		return;	/* the rest when it reads: EPOLLOUT */
	if (sent < 0) {
		ctl_conn_close(conn);	/* it went away */
		return;
	}
	free(conn->out);
	conn->out = NULL;
	shutdown(conn->fd, SHUT_WR);
	c->state = MH_DRAIN;
	drain(c);
}

static void client_opened(struct ctl_conn *conn)
{
	struct mh_client *c = (struct mh_client *)(void *)conn;

	c->state = MH_READ;
	c->got = 0;
	c->req[0] = '\0';
}

static bool client_expired(struct ctl_conn *conn)
{
	struct mh_client *c = (struct mh_client *)(void *)conn;

	/* a client that has its reply and lingers is not late */
	if (c->state == MH_DRAIN)
		return false;
	pv_log_ratelimited(&conn->l->rl, PV_LOG_WARN,
			   "metrics: HTTP client closed at its %d ms deadline: %s",
			   CTL_METRICS_DEADLINE_MS,
			   c->state == MH_READ ? "no whole request" :
			   "reply not read");
	return true;
}

static const struct ctl_listener_ops client_ops = {
	.on_client = on_client,
	.opened = client_opened,
	.expired = client_expired,
};

/* The listener's counters in every stats document, under "metrics_http". */
static void stats_source(void *opaque, json_t *root)
{
	struct ctl_metrics *m = opaque;
	json_t *o = json_object();

	json_object_set_new(o, "port", json_integer(m->port));
	json_object_set_new(o, "accepted", json_integer((json_int_t)m->l.accepted));
	json_object_set_new(o, "requests", json_integer((json_int_t)m->requests));
	json_object_set_new(o, "scrapes", json_integer((json_int_t)m->scrapes));
	json_object_set_new(o, "bad_requests", json_integer((json_int_t)m->bad));
	json_object_set_new(o, "refused", json_integer((json_int_t)m->l.refused));
	json_object_set_new(o, "timed_out", json_integer((json_int_t)m->l.timed_out));
	json_object_set_new(o, "accept_errors",
			    json_integer((json_int_t)m->l.accept_errors));
	json_object_set_new(root, "metrics_http", o);
}

struct ctl_metrics *ctl_metrics_create(const char *addr, struct sw *sw)
{
	struct sockaddr_storage ss, got;
	socklen_t glen = sizeof(got);
	unsigned sslen;
	struct ctl_metrics *m;
	int one = 1, fd, err;

	if (ctl_metrics_parse_addr(addr, &ss, &sslen) < 0) {
		pv_err("metrics: bad address %s: want A.B.C.D:PORT or [IPV6]:PORT",
		       addr);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->sw = sw;
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	err = ctl_listener_init(&m->l, "metrics", &client_ops, m, m->cl,
				CTL_METRICS_MAX_CLIENTS, sizeof(m->cl[0]),
				CTL_METRICS_DEADLINE_MS, false);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (err < 0 || fd < 0)
		goto err;
	/* a restarted switch binds again while old connections linger */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::]:PORT means IPv6 only: an IPv4 listener is its own --metrics */
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 ||
	    listen(fd, CTL_METRICS_MAX_CLIENTS) < 0 ||
	    getsockname(fd, (struct sockaddr *)&got, &glen) < 0)
		goto err;
	m->port = ntohs(got.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&got)->sin6_port :
			((struct sockaddr_in *)&got)->sin_port);
	err = ctl_listener_start(&m->l, sw->loop, fd);
	fd = -1;	/* the listener's now */
	if (err < 0) {
		errno = -err;
		goto err;
	}
	if (ctl_stats_source_add(stats_source, m) < 0) {
		errno = ENOSPC;
		goto err;
	}
	return m;
err:
	pv_err("metrics: cannot listen on %s: %s", addr, strerror(errno));
	if (fd >= 0)
		close(fd);
	ctl_listener_stop(&m->l);
	free(m);
	return NULL;
}

unsigned ctl_metrics_port(const struct ctl_metrics *m)
{
	return m->port;
}

void ctl_metrics_destroy(struct ctl_metrics *m)
{
	if (!m)
		return;
	ctl_stats_source_del(m);
	ctl_listener_stop(&m->l);
	free(m);
}
