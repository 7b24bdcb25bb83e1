// SPDX-License-Identifier: MIT
/*
 * top.c - `pvnet top`: a running switch's counters as rates, refreshed
 * every interval: per port and queue packets and bytes per second, drops
 * per second by reason, per worker packets per second, busy share and
 * cycles per packet.
 *
 * Each refresh asks the control socket for the stats document (the one
 * `pvnet stats --json` prints) and divides the change of every counter by
 * the time between the two answers, measured here (CLOCK_MONOTONIC), not
 * the nominal interval. Ports are matched by name: a port that appeared
 * since the last sample shows its rates from the next one; a counter that
 * went backwards (a port deleted and added again) counts as no change.
 *
 * On a terminal: a full-screen view (the alternate screen, plain ANSI
 * escapes, no curses), keys read without echo; q or Ctrl-C quits and the
 * terminal is restored (also on SIGTERM and SIGHUP). Otherwise, or with
 * --lines: key=value lines, one per port, queue, drop reason and worker
 * every interval, for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl_internal.h"
#include "pvnet/common.h"
#include "pvnet/ctl.h"
#include "pvnet/log.h"

static volatile sig_atomic_t top_stop, top_winch;

static void on_stop(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	top_winch = 1;
}

struct sample {
	json_t *root;		/* the stats document */
	uint64_t t_ns;		/* when it arrived */
};

/* A counter of an object; 0 when missing (as jansson reads it). */
static double jnum(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* The change per second of @key between @prev and @cur; 0 if it went back. */
static double rate_of(json_t *cur, json_t *prev, const char *key, double dt)
{
	double d = jnum(cur, key) - jnum(prev, key);

	return d > 0 && dt > 0 ? d / dt : 0.0;
}

static double rate_arr(json_t *cur, json_t *prev, const char *key, size_t i,
		       double dt)
{
	double d = json_number_value(json_array_get(json_object_get(cur, key), i)) -
		   json_number_value(json_array_get(json_object_get(prev, key), i));

	return d > 0 && dt > 0 ? d / dt : 0.0;
}

static json_t *port_named(json_t *root, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(root, "ports"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")) ?: "",
			    name))
			return p;
	return NULL;
}

static int fetch(const char *path, struct sample *s, char *err, size_t errlen)
{
	struct timespec ts;
	json_error_t jerr;
	char *reply = NULL;
	int rc = ctl_request(path, "stats", &reply);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->t_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	s->root = json_loads(reply, 0, &jerr);
	free(reply);
	if (!s->root || !json_is_array(json_object_get(s->root, "ports"))) {
		snprintf(err, errlen, "%s: bad reply: %s", path,
			 s->root ? "no ports" : jerr.text);
		json_decref(s->root);
		s->root = NULL;
		return -EPROTO;
	}
	return 0;
}

/* An output frame: lines of text, cut to the terminal's width and height. */
struct frame {
	char *buf;
	size_t len, cap;
	unsigned lines, max_lines, cols;	/* 0: no limit */
	bool oom;
};

static bool frame_room(struct frame *f, size_t n)
{
	if (f->oom)
		return false;
	if (f->len + n > f->cap) {
		size_t cap = (f->cap + n) * 2;
		char *nb = realloc(f->buf, cap);

		if (!nb) {
			f->oom = true;
			return false;
		}
		f->buf = nb;
		f->cap = cap;
	}
	return true;
}

/* Bytes that take no line (escapes). */
static void raw(struct frame *f, const char *s)
{
	size_t n = strlen(s);

	if (frame_room(f, n)) {
		memcpy(f->buf + f->len, s, n);
		f->len += n;
	}
}

static void line(struct frame *f, const char *fmt, ...) PV_PRINTF(2, 3);

static void line(struct frame *f, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	size_t n;

	if (f->oom || (f->max_lines && f->lines >= f->max_lines))
		return;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	if (f->cols && n > f->cols)
		n = f->cols;
	if (!frame_room(f, n + 8))
		return;
	memcpy(f->buf + f->len, tmp, n);
	f->len += n;
	/* full screen: clear the rest of the row; lines: a plain newline */
	if (f->max_lines) {
		memcpy(f->buf + f->len, "\033[K\r\n", 5);
		f->len += 5;
	} else {
		f->buf[f->len++] = '\n';
	}
	f->lines++;
}

/* Key=value lines for one interval (line mode). */
static void render_lines(struct frame *f, const struct sample *cur,
			 const struct sample *prev, double elapsed)
{
	double dt = (double)(cur->t_ns - prev->t_ns) / 1e9;
	json_t *p, *w;
	size_t i;

	json_array_foreach(json_object_get(cur->root, "ports"), i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		json_t *pp = port_named(prev->root, name ?: "");
		json_t *drops = json_object_get(p, "drops"), *v;
		const char *k;

		if (!name || !pp)
			continue;	/* new since the last sample */
		line(f, "time=%.1f port=%s type=%s rx_pps=%.1f rx_bytes_ps=%.0f tx_pps=%.1f tx_bytes_ps=%.0f drops_ps=%.1f",
		     elapsed, name, json_string_value(json_object_get(p, "type")) ?: "-",
		     rate_of(p, pp, "rx_pkts", dt), rate_of(p, pp, "rx_bytes", dt),
		     rate_of(p, pp, "tx_pkts", dt), rate_of(p, pp, "tx_bytes", dt),
		     rate_of(p, pp, "dropped", dt));
		for (size_t q = 0; q < json_array_size(json_object_get(p, "rxq_pkts")); q++) {
			if (!json_integer_value(json_array_get(json_object_get(p, "rxq_pkts"), q)) &&
			    !json_integer_value(json_array_get(json_object_get(p, "txq_pkts"), q)))
				continue;
			line(f, "time=%.1f port=%s queue=%zu rx_pps=%.1f tx_pps=%.1f",
			     elapsed, name, q, rate_arr(p, pp, "rxq_pkts", q, dt),
			     rate_arr(p, pp, "txq_pkts", q, dt));
		}
		json_object_foreach(drops, k, v) {
			double r = rate_of(drops, json_object_get(pp, "drops"), k, dt);

			if (r > 0)
				line(f, "time=%.1f port=%s drop=%s rate=%.1f",
				     elapsed, name, k, r);
		}
	}
	json_array_foreach(json_object_get(cur->root, "workers"), i, w) {
		json_t *pw = json_array_get(json_object_get(prev->root, "workers"), i);
		double dp = jnum(w, "pkts") - jnum(pw, "pkts");
		double db = jnum(w, "busy_cycles") - jnum(pw, "busy_cycles");
		double dtot = jnum(w, "total_cycles") - jnum(pw, "total_cycles");

		if (!pw)
			continue;
		line(f, "time=%.1f worker=%zu pps=%.1f busy=%.2f cycles_per_pkt=%.0f",
		     elapsed, i, dp > 0 ? dp / dt : 0.0,
		     dtot > 0 ? 100.0 * db / dtot : 0.0, dp > 0 ? db / dp : 0.0);
	}
}

/* The full-screen view of one interval; @prev NULL: the first sample. */
static void render_screen(struct frame *f, const char *path, double interval,
			  const struct sample *cur, const struct sample *prev,
			  const char *err)
{
	double dt = prev ? (double)(cur->t_ns - prev->t_ns) / 1e9 : 0.0;
	char clock[16] = "";
	time_t now = time(NULL);
	struct tm tm;
	json_t *p, *w;
	size_t i;

	if (localtime_r(&now, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	line(f, "pvnet top - %s - every %.1f s - %s    (q: quit)", path,
	     interval, clock);
	if (err) {
		line(f, "ctl: %s (retrying)", err);
		return;
	}
	line(f, "mode %s, copy %s, %zu port(s), %zu worker(s)%s",
	     json_string_value(json_object_get(cur->root, "mode")) ?: "-",
	     json_string_value(json_object_get(cur->root, "copy")) ?: "-",
	     json_array_size(json_object_get(cur->root, "ports")),
	     json_array_size(json_object_get(cur->root, "workers")),
	     prev ? "" : " - rates from the next sample");
	line(f, "%s", "");
	line(f, "%-8s %12s %8s %12s", "WORKER", "PKT/S", "BUSY", "CYCLES/PKT");
	json_array_foreach(json_object_get(cur->root, "workers"), i, w) {
		json_t *pw = prev ? json_array_get(json_object_get(prev->root,
								   "workers"), i) : NULL;
		double dp = jnum(w, "pkts") - jnum(pw, "pkts");
		double db = jnum(w, "busy_cycles") - jnum(pw, "busy_cycles");
		double dtot = jnum(w, "total_cycles") - jnum(pw, "total_cycles");

		if (!pw) {
			line(f, "%-8zu %12s %8s %12s", i, "-", "-", "-");
			continue;
		}
		line(f, "%-8zu %12.0f %7.1f%% %12.0f", i, dp > 0 ? dp / dt : 0.0,
		     dtot > 0 ? 100.0 * db / dtot : 0.0, dp > 0 ? db / dp : 0.0);
	}
	line(f, "%s", "");
	line(f, "%-16s %-8s %12s %10s %12s %10s %10s", "PORT", "TYPE",
	     "RX PKT/S", "RX MBIT/S", "TX PKT/S", "TX MBIT/S", "DROP/S");
	json_array_foreach(json_object_get(cur->root, "ports"), i, p) {
		const char *name = json_string_value(json_object_get(p, "name")) ?: "?";
		json_t *pp = prev ? port_named(prev->root, name) : NULL;
		json_t *drops = json_object_get(p, "drops"), *v;
		const char *k;

		if (!pp) {
			line(f, "%-16s %-8s %12s %10s %12s %10s %10s", name,
			     json_string_value(json_object_get(p, "type")) ?: "-",
			     "-", "-", "-", "-", "-");
			continue;
		}
		line(f, "%-16s %-8s %12.0f %10.2f %12.0f %10.2f %10.0f", name,
		     json_string_value(json_object_get(p, "type")) ?: "-",
		     rate_of(p, pp, "rx_pkts", dt),
		     rate_of(p, pp, "rx_bytes", dt) * 8 / 1e6,
		     rate_of(p, pp, "tx_pkts", dt),
		     rate_of(p, pp, "tx_bytes", dt) * 8 / 1e6,
		     rate_of(p, pp, "dropped", dt));
		for (size_t q = 0; q < json_array_size(json_object_get(p, "rxq_pkts")); q++) {
			char qn[32];

			if (!json_integer_value(json_array_get(json_object_get(p, "rxq_pkts"), q)) &&
			    !json_integer_value(json_array_get(json_object_get(p, "txq_pkts"), q)))
				continue;
			snprintf(qn, sizeof(qn), "  queue %zu", q);
			line(f, "%-25s %12.0f %10s %12.0f", qn,
			     rate_arr(p, pp, "rxq_pkts", q, dt), "",
			     rate_arr(p, pp, "txq_pkts", q, dt));
		}
		json_object_foreach(drops, k, v) {
			double r = rate_of(drops, json_object_get(pp, "drops"), k, dt);
			char dn[64];

			if (r <= 0)
				continue;
			snprintf(dn, sizeof(dn), "  drop %s", k);
			line(f, "%-73s %10.0f", dn, r);
		}
	}
}

static struct termios saved_tio;
static bool tio_saved;

static void screen_restore(void)
{
	static const char leave[] = "\033[?25h\033[?1049l";

	if (!tio_saved)
		return;
	tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	if (write(STDOUT_FILENO, leave, sizeof(leave) - 1) < 0)
		return;
	tio_saved = false;
}

static int screen_enter(void)
{
	static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
	struct termios tio;

	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -errno;
	tio = saved_tio;
	/* keys one by one, no echo; ISIG stays: Ctrl-C is SIGINT */
	tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) < 0)
		return -errno;
	tio_saved = true;
	atexit(screen_restore);
	if (write(STDOUT_FILENO, enter, sizeof(enter) - 1) < 0)
		return -errno;
	return 0;
}

static void write_all_out(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Waits until @deadline_ns (CLOCK_MONOTONIC) or a stop; reads keys when
 * @keys. Returns true to go on.
 */
static bool wait_until(uint64_t deadline_ns, bool keys)
{
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		struct timespec ts;
		uint64_t now;
		int ms, n;

		if (top_stop)
			return false;
		if (top_winch)
			return true;	/* redraw now */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		if (now >= deadline_ns)
			return true;
		ms = (int)((deadline_ns - now + 999999) / 1000000);
		n = poll(&pfd, keys ? 1 : 0, ms);
		if (n < 0 && errno != EINTR)
			return false;
		if (n > 0 && (pfd.revents & POLLIN)) {
			char buf[64];
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r <= 0)
				keys = false;	/* stdin closed: only signals stop us */
			for (ssize_t k = 0; k < r; k++)
				if (buf[k] == 'q' || buf[k] == 'Q' || buf[k] == 3)
					return false;
		} else if (n > 0) {
			keys = false;
		}
	}
}

static void top_usage(FILE *f)
{
	fprintf(f,
		"usage: pvnet top --ctl PATH [--interval SEC] [--count N] [--lines]\n"
		"\n"
		"Shows a running switch's counters as rates, refreshed every interval:\n"
		"per port and queue packets and bits per second, drops per second by\n"
		"reason, per worker packets per second, busy share (cycles in rounds\n"
		"that moved packets over all cycles) and cycles per packet. On a\n"
		"terminal it is a full-screen view: q or Ctrl-C quits. Otherwise one\n"
		"key=value line per port, queue, drop reason and worker every\n"
		"interval (rx_pps, rx_bytes_ps, tx_pps, tx_bytes_ps, drops_ps, busy\n"
		"in percent, cycles_per_pkt), after a first sample.\n"
		"\n"
		"  --ctl PATH      the switch's control socket (its --ctl)\n"
		"  --interval SEC  seconds between refreshes (default 1, 0.1..3600)\n"
		"  --count N       stop after N refreshes (default: until q, Ctrl-C\n"
		"                  or SIGTERM)\n"
		"  --lines         key=value lines even on a terminal\n");
}

int ctl_top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "lines", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct sigaction sa = { .sa_handler = on_stop };
	struct sigaction sw = { .sa_handler = on_winch };
	const char *path = NULL;
	double interval = 1.0;
	long count = 0;
	bool lines = false, screen;
	struct sample cur = { 0 }, prev = { 0 };
	struct frame f = { 0 };
	uint64_t start_ns, next_ns;
	char err[300];
	long done = 0;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "c:i:n:lh", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'i':
			interval = strtod(optarg, &end);
			if (!*optarg || *end || !(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr, "pvnet top: --interval wants 0.1..3600 seconds\n");
				return 2;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (!*optarg || *end || count < 1) {
				fprintf(stderr, "pvnet top: --count wants a number >= 1\n");
				return 2;
			}
			break;
		case 'l':
			lines = true;
			break;
		case 'h':
			top_usage(stdout);
			return 0;
		default:
			top_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvnet top: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!path) {
		fprintf(stderr, "pvnet top: --ctl PATH is required\n");
		return 2;
	}
	if (fetch(path, &cur, err, sizeof(err)) < 0) {
		fprintf(stderr, "pvnet top: %s\n", err);
		return 1;
	}
	screen = !lines && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (screen) {
		sigaction(SIGWINCH, &sw, NULL);
		if (screen_enter() < 0) {
			screen_restore();
			screen = false;
		}
	}
	start_ns = cur.t_ns;
	next_ns = start_ns + (uint64_t)(interval * 1e9);
	for (;;) {
		bool have_err = false;

		if (screen) {
			struct winsize ws = { 0 };

			ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
			f.len = 0;
			f.lines = 0;
			f.max_lines = ws.ws_row ? ws.ws_row : 24;
			f.cols = ws.ws_col ? ws.ws_col : 80;
			/* home, the frame, then clear below it: no flicker */
			raw(&f, "\033[H");
			render_screen(&f, path, interval, cur.root ? &cur : &prev,
				      cur.root && prev.root ? &prev : NULL,
				      cur.root ? NULL : err);
			raw(&f, "\033[J");
			if (!f.oom)
				write_all_out(f.buf, f.len);
			top_winch = 0;
		}
		if (count && done >= count)
			break;
		if (!wait_until(next_ns, screen))
			break;
		if (top_winch)
			continue;
		next_ns += (uint64_t)(interval * 1e9);
		if (cur.root) {
			json_decref(prev.root);
			prev = cur;
			cur.root = NULL;
		}
		if (fetch(path, &cur, err, sizeof(err)) < 0) {
			if (!screen) {
				fprintf(stderr, "pvnet top: %s\n", err);
				rc = 1;
				break;
			}
			have_err = true;
			json_decref(prev.root);
			prev.root = NULL;
		}
		if (!have_err && prev.root)
			done++;
		if (!screen && prev.root && cur.root) {
			f.len = 0;
			f.lines = 0;
			f.max_lines = 0;
			f.cols = 0;
			render_lines(&f, &cur, &prev,
				     (double)(cur.t_ns - start_ns) / 1e9);
			if (f.oom) {
				rc = 1;
				break;
			}
			write_all_out(f.buf, f.len);
		}
	}
	screen_restore();
	json_decref(cur.root);
	json_decref(prev.root);
	free(f.buf);
	return rc;
}
