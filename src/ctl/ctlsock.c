// SPDX-License-Identifier: MIT
/*
 * ctlsock.c - the switch's control socket: one command line in, one JSON
 * document out, then the connection closes. Commands: "stats".
 *
 * A client gets 200 ms to send its line; the socket is for local operators
 * (mode 0600), so a slow one costs at most that much of the loop's time.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_internal.h"
#include "pvnet/log.h"

struct ctl_server {
	int fd;
	char path[108];
	struct sw *sw;
};

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

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

static void serve(struct ctl_server *cs, int c)
{
	char line[128];
	size_t got = 0;
	struct pollfd pfd = { .fd = c, .events = POLLIN };

	while (got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			break;
		n = read(c, line + got, sizeof(line) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	line[strcspn(line, "\r\n")] = '\0';

	if (!strcmp(line, "stats")) {
		json_t *j = ctl_stats_json(cs->sw);
		char *s = json_dumps(j, JSON_COMPACT);

		if (s) {
			write_all(c, s, strlen(s));
			write_all(c, "\n", 1);
			free(s);
		}
		json_decref(j);
	} else {
		const char *e = "{\"error\":\"unknown command (known: stats)\"}\n";

		write_all(c, e, strlen(e));
	}
}

static void on_accept(void *opaque, int fd, uint32_t events)
{
	struct ctl_server *cs = opaque;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	(void)events;
	if (c < 0)
		return;
	serve(cs, c);
	close(c);
}

struct ctl_server *ctl_server_create(const char *path, struct sw *sw)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *cs;

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
	cs->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (cs->fd < 0)
		goto err;
	unlink(path);
	if (bind(cs->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(cs->fd, 8) < 0 ||
	    pv_loop_add(sw->loop, cs->fd, EPOLLIN, on_accept, cs) < 0)
		goto err;
	return cs;
err:
	pv_err("ctl: cannot listen on %s: %s", path, strerror(errno));
	if (cs->fd >= 0)
		close(cs->fd);
	free(cs);
	return NULL;
}

void ctl_server_destroy(struct ctl_server *cs)
{
	if (!cs)
		return;
	pv_loop_del(cs->sw->loop, cs->fd);
	close(cs->fd);
	unlink(cs->path);
	free(cs);
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
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write_all(fd, cmd, strlen(cmd)) < 0 || write_all(fd, "\n", 1) < 0) {
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
