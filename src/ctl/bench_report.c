// SPDX-License-Identifier: MIT
/*
 * bench_report.c - `pvnet bench report`: the arithmetic of the benchmark
 * report (medians of the runs, ratios between rows, goals, markdown and CSV
 * tables), so bench/run.sh keeps only orchestration. Numbers print as jq
 * printed them when run.sh did this itself, so results.json, results.csv
 * and the tables read the same.
 *
 * Adding a goal is one line in br_goals[]; adding a table column one line
 * in md_cols[]. The raw per-run results are whatever JSON objects the
 * scenario writes: every field gets its median, new fields included.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvnet/bench_report.h"


const struct br_goal br_goals[] = {
	{ "peers: pvnet / DPDK Mpps at 64 B (guest io fwd)",
	  "peers", "pvnet switch, testpmd loopback 64B", "ratio", NULL, NULL, NULL, ">=", 1.5, NULL },
	{ "peers: pvnet / DPDK Gbit/s at 1518 B (guest io fwd)",
	  "peers", "pvnet switch, testpmd loopback 1518B", "ratio", NULL, NULL, NULL, ">=", 1.5, NULL },
	{ "peers: pvnet / DPDK Mpps at 64 B (guest mac fwd)",
	  "peers", "pvnet switch, testpmd loopback mac 64B", "ratio", NULL, NULL, NULL, ">=", 1.5, NULL },
	{ "peers: pvnet / DPDK Gbit/s at 1518 B (guest mac fwd)",
	  "peers", "pvnet switch, testpmd loopback mac 1518B", "ratio", NULL, NULL, NULL, ">=", 1.5, NULL },
	{ "peers: pvnet switch cycles/pkt at 64 B (guest io fwd)",
	  "peers", "pvnet switch, testpmd loopback 64B", "backend_cpp", NULL, NULL, NULL, "<=", 200, NULL },
	{ "lro: adaptive segments per delivered packet (1 bulk flow)",
	  "lro", "adaptive, 1 flow(s)", "agg", NULL, NULL, NULL, ">=", 40, NULL },
	{ "lro: adaptive switch cycles/byte / memcpy floor (1 flow)",
	  "lro", "adaptive, 1 flow(s)", "ratio", NULL, NULL, NULL, "<=", 2, NULL },
	{ "lro: switch cycles/byte GRO adaptive / GRO off (1 flow)",
	  "lro", "adaptive, 1 flow(s)", "backend_cpb", "lro", "off, 1 flow(s)", "backend_cpb", "<=", 1,
	  "ratio_paired_off" },
	{ "lro: switch cycles/byte GRO adaptive / GRO off (4 flows)",
	  "lro", "adaptive, 4 flow(s)", "backend_cpb", "lro", "off, 4 flow(s)", "backend_cpb", "<=", 1,
	  "ratio_paired_off" },
	{ "vm: Gbit/s GRO adaptive / GRO off",
	  "vm", "pvnet --gro adaptive", "gbps", "vm", "pvnet --gro off", "gbps", ">=", 2,
	  "ratio_paired_off" },
	{ "vm: Gbit/s GRO adaptive / DPDK testpmd",
	  "vm", "pvnet --gro adaptive", "ratio", NULL, NULL, NULL, ">=", 2, NULL },
	{ "mq: Mpps 2 workers / 1 worker ({nq} queues)",
	  "mq", "queues {nq} workers 2", "mpps", "mq", "queues {nq} workers 1", "mpps", ">=", 1.8, NULL },
	{ "notify: adaptive CPU at 10 % load / busy poll CPU",
	  "notify", "adaptive 10%", "ratio", NULL, NULL, NULL, "<=", 0.15, NULL },
	{ "notify: adaptive Mpps at 10 % load / poll Mpps (equal throughput)",
	  "notify", "adaptive 10%", "mpps", "notify", "poll 10%", "mpps", ">=", 0.95, NULL },
	{ "tcp: pvnet / kernel bridge total cycles per byte",
	  "tcp", "pvnet afpacket uplink -> pvnet guest TAP, sender TSO/GSO off", "ratio",
	  NULL, NULL, NULL, "<=", 1.5, NULL },
	{ "tcp: pvnet / kernel bridge total cycles per byte, sender TSO on",
	  "tcp", "pvnet afpacket uplink -> pvnet guest TAP, sender TSO on", "ratio",
	  NULL, NULL, NULL, "<=", 1.2, NULL },
	{ "vxlan: pvnet / kernel total cycles per byte, guest -> Linux vxlan",
	  "vxlan", "pvnet guest -> pvnet vxlan port -> Linux vxlan", "ratio",
	  NULL, NULL, NULL, "<=", 1, NULL },
	{ "vxlan: pvnet / kernel total cycles per byte, Linux vxlan -> guest",
	  "vxlan", "Linux vxlan -> pvnet vxlan port -> pvnet guest", "ratio",
	  NULL, NULL, NULL, "<=", 1, NULL },
};
const size_t br_n_goals = sizeof(br_goals) / sizeof(br_goals[0]);

/* A markdown column: key, heading, and how to print it: 's' as is, '%' a
 * percentage, else 'n' rounded to dec decimals. iperf_head, if set, is the
 * heading in the iperf3 scenarios (tcp, vxlan), where the field measures
 * other processes than in the gen/sink ones. */
struct md_col {
	const char *key, *head;
	char kind;
	int dec;
	const char *iperf_head;
};

static const struct md_col md_cols[] = {
	{ "variant", "variant", 's', 0, NULL },
	{ "gbps", "Gbit/s", 'n', 2, NULL },
	{ "mpps", "Mpps", 'n', 3, NULL },
	{ "backend_cpp", "switch cycles/pkt", 'n', 0, NULL },
	/* peers: the switch's and the guest testpmd's own busy cycles (the
	 * polls that moved packets; pvnet's workers, testpmd's
	 * --record-core-cycles), where backend_cpp is their whole core */
	{ "busy_cpp", "switch busy cycles/pkt", 'n', 0, NULL },
	{ "guest_busy_cpp", "guest busy cycles/pkt", 'n', 0, NULL },
	{ "pvguest_cpp", "pvnet guest cycles/pkt", 'n', 0, NULL },
	{ "backend_cpb", "switch cycles/byte", 'n', 3, NULL },
	{ "pvguest_cpb", "pvnet guest cycles/byte", 'n', 3, NULL },
	/* tcp/vxlan: the iperf3 endpoints, not the `pvnet guest` (issue 14) */
	{ "guest_cpb", "guest cycles/byte", 'n', 3, "iperf3 cycles/byte" },
	{ "cpb_total", "total cycles/byte", 'n', 3, NULL },
	{ "agg", "agg", 'n', 2, NULL },
	{ "kicks_per_pkt", "kicks/pkt", 'n', 4, NULL },
	{ "irqs_per_pkt", "irqs/pkt", 'n', 4, NULL },
	{ "switch_cpu", "switch CPU", '%', 0, NULL },
	{ "pvguest_cpu", "pvnet guest CPU", '%', 0, NULL },
	{ "drops", "drops", 'n', 0, NULL },
	{ "ratio", "ratio", 'n', 2, NULL },
	{ "ratio_paired", "paired ratio", 'n', 2, NULL },
	/* lro, vm: adaptive against GRO off, round by round (the goal's
	 * figure; ratio and ratio to are against the floor / DPDK) */
	{ "ratio_paired_off", "paired ratio to GRO off", 'n', 2, NULL },
	{ "ratio_to", "ratio to", 's', 0, NULL },
	{ "runs", "runs", 'n', 0, NULL },
	{ "spread", "spread", '%', 0, NULL },
};

static const char *const csv_cols[] = {
	"scenario", "variant", "gbps", "mpps", "backend_cpb", "backend_cpp",
	"guest_cpb", "agg", "kicks_per_pkt", "irqs_per_pkt", "drops", "runs",
	"spread", "ratio", "ratio_to", "cpb_total", "switch_cpu",
	/* appended, so readers by position keep working */
	"pvguest_cpb", "pvguest_cpp", "pvguest_cpu", "pvnet_cpb",
	"ratio_paired", "busy_cpp", "guest_busy_cpp", "ratio_paired_off",
};

/* The figures goals and ratios are taken on: a row keeps their per-run
 * values too (FIELD_runs, run order), so an A/B can be judged from
 * results.json without rerunning. */
static const char *const runs_keys[] = {
	"gbps", "mpps", "backend_cpp", "backend_cpb", "cpb_total", "switch_cpu", "agg",
};

/* Every row has these, null where its scenario does not measure them. */
static const char *const base_keys[] = {
	"gbps", "mpps", "backend_cpb", "backend_cpp", "guest_cpb", "agg",
	"kicks_per_pkt", "irqs_per_pkt", "drops",
};

json_t *br_number(double v)
{
	if (isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

/* jq's order of values: null < false < true < numbers < strings < others. */
static int jq_rank(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL: return 0;
	case JSON_FALSE: return 1;
	case JSON_TRUE: return 2;
	case JSON_INTEGER: case JSON_REAL: return 3;
	case JSON_STRING: return 4;
	case JSON_ARRAY: return 5;
	default: return 6;
	}
}

static int jq_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int rx = jq_rank(x), ry = jq_rank(y);

	if (rx != ry)
		return rx < ry ? -1 : 1;
	if (rx == 3) {
		double dx = json_number_value(x), dy = json_number_value(y);
		return dx < dy ? -1 : dx > dy;
	}
	if (rx == 4)
		return strcmp(json_string_value(x), json_string_value(y));
	return 0;
}

/* The non-null values of FIELD, sorted; *out malloc'd (or NULL if none). */
static size_t sorted_values(json_t *const *runs, size_t n, const char *field,
			    json_t ***out)
{
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	size_t k = 0;

	*out = NULL;
	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_object_get(runs[i], field);
		if (x && !json_is_null(x))
			v[k++] = x;
	}
	if (!k) {
		free(v);
		return 0;
	}
	qsort(v, k, sizeof(*v), jq_cmp);
	*out = v;
	return k;
}

json_t *br_median(json_t *const *runs, size_t n, const char *field)
{
	json_t **v, *m;
	size_t k = sorted_values(runs, n, field, &v);

	if (!k)
		return NULL;
	m = json_incref(v[(k - 1) / 2]);
	free(v);
	return m;
}

double br_spread(json_t *const *runs, size_t n, const char *field)
{
	json_t **v;
	size_t k = sorted_values(runs, n, field, &v);
	double m, r = 0;

	if (!k)
		return 0;
	m = json_number_value(v[(k - 1) / 2]);
	if (m != 0 && json_is_number(v[0]) && json_is_number(v[k - 1]))
		r = (json_number_value(v[k - 1]) - json_number_value(v[0])) / m;
	free(v);
	return r;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ROW's KEY_SUFFIX = ARR (stolen); -1 if the name or ARR could not be made. */
static int set_suffixed(json_t *row, const char *key, const char *suffix, json_t *arr)
{
	char name[256];
	int len = snprintf(name, sizeof(name), "%s%s", key, suffix);

	if (!arr || len < 0 || (size_t)len >= sizeof(name)) {
		json_decref(arr);
		return -1;
	}
	return json_object_set_new(row, name, arr);
}

/* FIELD_runs: each run's FIELD in run order, null where a run has none; left
 * out when no run has one (a figure the scenario does not measure). */
static int set_runs(json_t *row, const char *field, json_t *const *runs, size_t n)
{
	json_t *a;
	int any = 0;

	for (size_t i = 0; i < n && !any; i++) {
		json_t *v = json_object_get(runs[i], field);
		any = v && !json_is_null(v);
	}
	if (!any)
		return 0;
	a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *v = json_object_get(runs[i], field);
		if (json_array_append(a, v ? v : json_null())) {
			json_decref(a);
			a = NULL;
		}
	}
	return set_suffixed(row, field, "_runs", a);
}

json_t *br_row(const char *scenario, const char *variant,
	       json_t *const *runs, size_t n)
{
	json_t *row = json_object(), *stats = json_object();
	const char **keys = NULL;
	size_t nkeys = 0, cap = 0;

	if (!row || !stats)
		goto fail;
	json_object_set_new(row, "scenario", json_string(scenario));
	json_object_set_new(row, "variant", json_string(variant));
	for (size_t i = 0; i < sizeof(base_keys) / sizeof(base_keys[0]); i++)
		json_object_set_new(stats, base_keys[i], json_null());
	/* jq's `map(keys_unsorted) | add | unique`: the runs' keys, sorted */
	for (size_t i = 0; i < n; i++) {
		const char *k;
		json_t *v;
		json_object_foreach(runs[i], k, v) {
			(void)v;
			if (nkeys == cap) {
				const char **nk = realloc(keys, (cap * 2 + 16) * sizeof(*keys));
				if (!nk)
					goto fail;
				keys = nk;
				cap = cap * 2 + 16;
			}
			keys[nkeys++] = k;
		}
	}
	if (nkeys)
		qsort(keys, nkeys, sizeof(*keys), str_cmp);
	for (size_t i = 0; i < nkeys; i++) {
		json_t *m;
		if (i && !strcmp(keys[i], keys[i - 1]))
			continue;
		m = br_median(runs, n, keys[i]);
		json_object_set_new(stats, keys[i], m ? m : json_null());
	}
	json_object_update(row, stats);
	json_object_set_new(row, "runs", json_integer((json_int_t)n));
	json_object_set_new(row, "spread", br_number(br_spread(runs, n, "gbps")));
	for (size_t i = 0; i < sizeof(runs_keys) / sizeof(runs_keys[0]); i++)
		if (set_runs(row, runs_keys[i], runs, n))
			goto fail;
	free(keys);
	json_decref(stats);
	return row;
fail:
	free(keys);
	json_decref(stats);
	json_decref(row);
	return NULL;
}

json_t *br_find(const json_t *rows, const char *scenario, const char *variant)
{
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r) {
		const char *s = json_string_value(json_object_get(r, "scenario"));
		const char *v = json_string_value(json_object_get(r, "variant"));
		if (s && v && !strcmp(s, scenario) && !strcmp(v, variant))
			return r;
	}
	return NULL;
}

int br_set_ratio(json_t *rows, const char *scenario, const char *num,
		 const char *den, const char *field)
{
	json_t *n = br_find(rows, scenario, num), *d = br_find(rows, scenario, den);
	json_t *nv, *dv, *ratio;

	if (!n)
		return -1;
	nv = json_object_get(n, field);
	dv = d ? json_object_get(d, field) : NULL;
	if (!json_is_number(nv) || !json_is_number(dv) || json_number_value(dv) == 0)
		ratio = json_null();
	else
		ratio = br_number(json_number_value(nv) / json_number_value(dv));
	json_object_set_new(n, "ratio", ratio);
	json_object_set_new(n, "ratio_of", json_string(field));
	json_object_set_new(n, "ratio_to", json_string(den));
	return 0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

json_t *br_paired_rounds(json_t *const *nums, json_t *const *dens, size_t n,
			 const char *field)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		json_t *nv = json_object_get(nums[i], field);
		json_t *dv = json_object_get(dens[i], field);
		json_t *r = json_null();
		if (json_is_number(nv) && json_is_number(dv) && json_number_value(dv) != 0)
			r = br_number(json_number_value(nv) / json_number_value(dv));
		if (json_array_append_new(a, r)) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* The median of ROUNDS' numbers (the lower middle), or json null. */
static json_t *rounds_median(const json_t *rounds)
{
	size_t n = json_array_size(rounds), k = 0, i;
	double *r = calloc(n ? n : 1, sizeof(*r));
	json_t *v, *m;

	if (!r)
		return json_null();
	json_array_foreach(rounds, i, v)
		if (json_is_number(v))
			r[k++] = json_number_value(v);
	qsort(r, k, sizeof(*r), dbl_cmp);
	m = k ? br_number(r[(k - 1) / 2]) : json_null();
	free(r);
	return m;
}

json_t *br_paired_ratio(json_t *const *nums, json_t *const *dens, size_t n,
			const char *field)
{
	json_t *a = br_paired_rounds(nums, dens, n, field), *m;

	m = rounds_median(a);
	json_decref(a);
	return m;
}

int br_set_paired(json_t *rows, const char *scenario, const char *num,
		  const char *field, const char *key, json_t *const *nums,
		  json_t *const *dens, size_t n)
{
	json_t *row = br_find(rows, scenario, num);
	json_t *a;

	if (!row)
		return -1;
	a = br_paired_rounds(nums, dens, n, field);
	json_object_set_new(row, key, rounds_median(a));
	/* the rounds beside the median: whether they agreed, which it hides */
	set_suffixed(row, key, "_rounds", a);
	return 0;
}

int br_set_ratio_paired(json_t *rows, const char *scenario, const char *num,
			const char *field, json_t *const *nums,
			json_t *const *dens, size_t n)
{
	return br_set_paired(rows, scenario, num, field, "ratio_paired", nums, dens, n);
}

/* S with "{nq}" replaced by NQ, into BUF. */
static const char *subst_nq(char *buf, size_t len, const char *s, int nq)
{
	const char *p = strstr(s, "{nq}");

	if (!p)
		return s;
	snprintf(buf, len, "%.*s%d%s", (int)(p - s), s, nq, p + 4);
	return buf;
}

/* row(sc, var).field as a number; 0 (and *ok = 0) if missing or null. */
static double row_field(const json_t *rows, const char *sc, const char *var,
			const char *field, int *ok)
{
	json_t *r = br_find(rows, sc, var);
	json_t *v = r ? json_object_get(r, field) : NULL;

	*ok = json_is_number(v);
	return *ok ? json_number_value(v) : 0;
}

json_t *br_eval_goals(const json_t *results)
{
	json_t *out = json_array();
	const json_t *rows = json_object_get(results, "rows");
	json_t *cpus = json_object_get(json_object_get(results, "meta"), "cpus");
	int nq = json_is_number(cpus) ? (int)json_number_value(cpus) : 2;

	if (!out)
		return NULL;
	if (nq < 2)
		nq = 2;
	if (nq > 8)
		nq = 8;
	for (size_t i = 0; i < br_n_goals; i++) {
		const struct br_goal *g = &br_goals[i];
		char b1[256], b2[256], b3[256];
		int ok, dok;
		const char *var = subst_nq(b1, sizeof(b1), g->var, nq);
		double v = row_field(rows, g->sc, var, g->field, &ok);
		json_t *vj, *o, *paired = NULL, *prow = NULL;
		const char *pkey = NULL;

		if (!ok)
			continue;
		if (g->dsc) {
			double d = row_field(rows, g->dsc,
					     subst_nq(b2, sizeof(b2), g->dvar, nq),
					     g->dfield, &dok);
			if (!dok || d == 0)
				continue;
			vj = br_number(v / d);
			v = v / d;
			/* the same two rows compared round by round (lro, vm) */
			if (g->paired) {
				json_t *r = br_find(rows, g->sc, var);
				json_t *p = json_object_get(r, g->paired);
				if (json_is_number(p)) {
					paired = p;
					prow = r;
					pkey = g->paired;
				}
			}
		} else {
			json_t *r = br_find(rows, g->sc, var);
			vj = json_incref(json_object_get(r, g->field));
			/* the same comparison taken round by round, beside it */
			if (!strcmp(g->field, "ratio") &&
			    json_is_number(json_object_get(r, "ratio_paired"))) {
				paired = json_object_get(r, "ratio_paired");
				prow = r;
				pkey = "ratio_paired";
			}
		}
		o = json_pack("{s:s, s:o, s:o, s:s, s:b}",
			      "goal", subst_nq(b3, sizeof(b3), g->name, nq),
			      "value", vj, "target", br_number(g->target),
			      "op", g->op,
			      "met", !strcmp(g->op, ">=") ? v >= g->target : v <= g->target);
		if (o && paired) {
			char rk[256];
			json_t *rounds;
			json_object_set(o, "paired", paired);
			snprintf(rk, sizeof(rk), "%s_rounds", pkey);
			rounds = json_object_get(prow, rk);
			if (json_is_array(rounds))
				json_object_set(o, "paired_rounds", rounds);
		}
		if (o)
			json_array_append_new(out, o);
	}
	return out;
}

const char *br_fmt_shortest(char *buf, size_t len, double v)
{
	if (!isfinite(v)) {
		snprintf(buf, len, "null");
		return buf;
	}
	if (v == floor(v) && fabs(v) < 1e17) {
		snprintf(buf, len, "%.0f", v);
		return buf;
	}
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, len, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

const char *br_fmt(char *buf, size_t len, double v, int d)
{
	double s = pow(10, d);

	return br_fmt_shortest(buf, len, round(v * s) / s);
}

/*
 * JSON out as jq writes it: numbers the shortest way that reads back the
 * same (jansson prints 17 digits, 0.1 as 0.10000000000000001, and 2.0 for
 * a real), INDENT 0 for one line (jq -c), else jq's pretty layout.
 */
static void put_json(FILE *f, const json_t *v, int indent, int depth)
{
	char b[64];
	const char *k;
	json_t *x;
	size_t i, n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		n = 0;
		fputc('{', f);
		json_object_foreach((json_t *)v, k, x) {
			json_t *ks = json_string(k);
			char *e = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
			if (n++)
				fputc(',', f);
			if (indent)
				fprintf(f, "\n%*s", indent * (depth + 1), "");
			fprintf(f, "%s:%s", e ? e : "\"\"", indent ? " " : "");
			free(e);
			json_decref(ks);
			put_json(f, x, indent, depth + 1);
		}
		if (n && indent)
			fprintf(f, "\n%*s", indent * depth, "");
		fputc('}', f);
		break;
	case JSON_ARRAY:
		fputc('[', f);
		json_array_foreach(v, i, x) {
			if (i)
				fputc(',', f);
			if (indent)
				fprintf(f, "\n%*s", indent * (depth + 1), "");
			put_json(f, x, indent, depth + 1);
		}
		if (json_array_size(v) && indent)
			fprintf(f, "\n%*s", indent * depth, "");
		fputc(']', f);
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		fputs(br_fmt_shortest(b, sizeof(b), json_number_value(v)), f);
		break;
	default: {
		char *e = json_dumps(v, JSON_ENCODE_ANY);
		fputs(e ? e : "null", f);
		free(e);
	}
	}
}

/* jq's string interpolation of a value: strings raw, numbers, null. */
static void put_value(FILE *f, const json_t *v)
{
	char b[64];

	if (json_is_string(v))
		fputs(json_string_value(v), f);
	else if (json_is_number(v))
		fputs(br_fmt_shortest(b, sizeof(b), json_number_value(v)), f);
	else if (json_is_true(v))
		fputs("true", f);
	else if (json_is_false(v))
		fputs("false", f);
	else if (!v || json_is_null(v))
		fputs("null", f);
	else {
		put_json(f, v, 0, 0);
	}
}

/* *BUF is only valid once the memstream is closed. */
static char *close_stream(FILE *f, char **buf)
{
	if (fclose(f)) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

/* The numbers of ROUNDS: how many, and their least and greatest. */
static size_t rounds_range(const json_t *rounds, double *min, double *max)
{
	size_t i, k = 0;
	json_t *v;

	json_array_foreach(rounds, i, v) {
		double x;
		if (!json_is_number(v))
			continue;
		x = json_number_value(v);
		if (!k || x < *min)
			*min = x;
		if (!k || x > *max)
			*max = x;
		k++;
	}
	return k;
}

/* "- VARIANT: per-round HEAD 1.2, -, 0.77 (min 0.77, max 1.2)", a list item
 * so that markdown keeps one line a row. */
static void put_rounds(FILE *f, const char *variant, const char *head,
		       const json_t *rounds, int dec)
{
	char b[64];
	double min = 0, max = 0;
	size_t i;
	json_t *v;

	fprintf(f, "- %s: per-round %s ", variant, head);
	json_array_foreach(rounds, i, v)
		fprintf(f, "%s%s", i ? ", " : "", json_is_number(v) ?
			br_fmt(b, sizeof(b), json_number_value(v), dec) : "-");
	if (!rounds_range(rounds, &min, &max)) {
		fputs(" (no round has a ratio)\n", f);
		return;
	}
	fprintf(f, " (min %s", br_fmt(b, sizeof(b), min, dec));
	fprintf(f, ", max %s)\n", br_fmt(b, sizeof(b), max, dec));
}

char *br_table_md(const json_t *results, const char *scenario)
{
	const json_t *rows = json_object_get(results, "rows");
	const size_t ncols = sizeof(md_cols) / sizeof(md_cols[0]);
	int shown[sizeof(md_cols) / sizeof(md_cols[0])] = { 0 };
	char *buf = NULL, b[64];
	size_t len = 0, i;
	json_t *r;
	int iperf, listed = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	json_array_foreach(rows, i, r) {
		const char *s = json_string_value(json_object_get(r, "scenario"));
		if (!s || strcmp(s, scenario))
			continue;
		for (size_t c = 0; c < ncols; c++) {
			json_t *v = json_object_get(r, md_cols[c].key);
			if (v && !json_is_null(v))
				shown[c] = 1;
		}
	}
	iperf = !strcmp(scenario, "tcp") || !strcmp(scenario, "vxlan");
	fputs("|", f);
	for (size_t c = 0; c < ncols; c++)
		if (shown[c])
			fprintf(f, " %s |", iperf && md_cols[c].iperf_head ?
				md_cols[c].iperf_head : md_cols[c].head);
	fputs("\n|", f);
	for (size_t c = 0, first = 1; c < ncols; c++)
		if (shown[c]) {
			fprintf(f, "%s---", first ? "" : "|");
			first = 0;
		}
	fputs("|\n", f);
	json_array_foreach(rows, i, r) {
		const char *s = json_string_value(json_object_get(r, "scenario"));
		if (!s || strcmp(s, scenario))
			continue;
		fputs("|", f);
		for (size_t c = 0; c < ncols; c++) {
			json_t *v = json_object_get(r, md_cols[c].key);
			if (!shown[c])
				continue;
			fputs(" ", f);
			if (md_cols[c].kind == 's') {
				if (!v || json_is_null(v) || json_is_false(v))
					fputs("-", f);
				else
					put_value(f, v);
			} else if (!json_is_number(v)) {
				fputs("-", f);
			} else if (md_cols[c].kind == '%') {
				fprintf(f, "%s%%", br_fmt(b, sizeof(b),
					json_number_value(v) * 100, 0));
			} else {
				fputs(br_fmt(b, sizeof(b), json_number_value(v),
					     md_cols[c].dec), f);
			}
			fputs(" |", f);
		}
		fputs("\n", f);
	}
	/* under the table, the rounds behind each paired median: a median of
	 * 1.0 may be 0.98, 1.0, 1.02 or 0.6, 1.0, 1.5 */
	json_array_foreach(rows, i, r) {
		const char *s = json_string_value(json_object_get(r, "scenario"));
		const char *var = json_string_value(json_object_get(r, "variant"));
		if (!s || strcmp(s, scenario))
			continue;
		for (size_t c = 0; c < ncols; c++) {
			char rk[256];
			json_t *a;
			snprintf(rk, sizeof(rk), "%s_rounds", md_cols[c].key);
			a = json_object_get(r, rk);
			if (!json_is_array(a) || !json_array_size(a))
				continue;
			if (!listed++)
				fputs("\n", f);
			put_rounds(f, var ? var : "-", md_cols[c].head, a, md_cols[c].dec);
		}
	}
	return close_stream(f, &buf);
}

/* The run's one-line description (goals.md's last line). */
static void meta_line(FILE *f, const json_t *meta)
{
	const char *k;
	json_t *v;
	int first = 1;

	put_value(f, json_object_get(meta, "machine"));
	fputs(", ", f);
	put_value(f, json_object_get(meta, "cpus"));
	fputs(" CPUs, kernel ", f);
	put_value(f, json_object_get(meta, "kernel"));
	fputs(", commit ", f);
	put_value(f, json_object_get(meta, "commit"));
	fputs(", ", f);
	put_value(f, json_object_get(meta, "date"));
	fputs("; ", f);
	put_value(f, json_object_get(meta, "runs"));
	fputs(" run(s) of ", f);
	put_value(f, json_object_get(meta, "secs"));
	fputs(" s per variant; scenarios took ", f);
	json_object_foreach((json_t *)json_object_get(meta, "elapsed_s"), k, v) {
		fprintf(f, "%s%s ", first ? "" : ", ", k);
		put_value(f, v);
		fputs(" s", f);
		first = 0;
	}
	fputs(" (total ", f);
	put_value(f, json_object_get(meta, "total_s"));
	fputs(" s)\n", f);
}

char *br_goals_md(const json_t *results)
{
	char *buf = NULL, b[64];
	size_t len = 0, i;
	json_t *g, *goals = json_object_get(results, "goals");
	int paired = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	/* the paired column only when some goal has one (peers, lro, vm) */
	json_array_foreach(goals, i, g)
		paired |= json_is_number(json_object_get(g, "paired"));
	fputs("# goals\n\nThe targets of issues 7, 14 and 15, computed from this run's rows (medians).\n", f);
	if (paired)
		fputs("paired: the median over rounds of the same ratio taken in each round\n"
		      "(the two runs close together: peers seconds apart, lro within ~30 s,\n"
		      "vm within a round of reconnects), beside the ratio of the medians\n"
		      "that the goal is judged on; in brackets the least and the greatest\n"
		      "of those rounds' ratios.\n", f);
	fputs(paired ? "\n| goal | measured | paired | target | met |\n|---|---|---|---|---|\n"
		     : "\n| goal | measured | target | met |\n|---|---|---|---|\n", f);
	json_array_foreach(goals, i, g) {
		json_t *p = json_object_get(g, "paired");
		fprintf(f, "| %s | ", json_string_value(json_object_get(g, "goal")));
		fputs(br_fmt(b, sizeof(b), json_number_value(json_object_get(g, "value")), 2), f);
		if (paired) {
			double min = 0, max = 0;
			fprintf(f, " | %s", json_is_number(p) ?
				br_fmt(b, sizeof(b), json_number_value(p), 2) : "-");
			/* and the range of the rounds it is the median of */
			if (json_is_number(p) &&
			    rounds_range(json_object_get(g, "paired_rounds"), &min, &max)) {
				fprintf(f, " (%s", br_fmt(b, sizeof(b), min, 2));
				fprintf(f, "-%s)", br_fmt(b, sizeof(b), max, 2));
			}
		}
		fprintf(f, " | %s ", json_string_value(json_object_get(g, "op")));
		put_value(f, json_object_get(g, "target"));
		fprintf(f, " | %s |\n", json_is_true(json_object_get(g, "met")) ? "yes" : "**no**");
	}
	fputs("\n", f);
	meta_line(f, json_object_get(results, "meta"));
	return close_stream(f, &buf);
}

static void csv_value(FILE *f, const json_t *v)
{
	char b[64];

	if (json_is_string(v)) {
		fputc('"', f);
		for (const char *p = json_string_value(v); *p; p++) {
			if (*p == '"')
				fputc('"', f);
			fputc(*p, f);
		}
		fputc('"', f);
	} else if (json_is_number(v)) {
		fputs(br_fmt_shortest(b, sizeof(b), json_number_value(v)), f);
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "true" : "false", f);
	}
}

char *br_csv(const json_t *results)
{
	const size_t n = sizeof(csv_cols) / sizeof(csv_cols[0]);
	char *buf = NULL;
	size_t len = 0, i;
	json_t *r;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (size_t c = 0; c < n; c++)
		fprintf(f, "%s\"%s\"", c ? "," : "", csv_cols[c]);
	fputs("\n", f);
	json_array_foreach(json_object_get(results, "rows"), i, r) {
		for (size_t c = 0; c < n; c++) {
			if (c)
				fputc(',', f);
			csv_value(f, json_object_get(r, csv_cols[c]));
		}
		fputs("\n", f);
	}
	return close_stream(f, &buf);
}

/* ---- the command line ---------------------------------------------- */

static void report_usage(FILE *f)
{
	fputs("usage: pvnet bench report MODE ARGS...\n"
	      "\n"
	      "The report's arithmetic, for bench/run.sh (numbers as jq prints them):\n"
	      "  row SCENARIO VARIANT RUN.json...   one row: the median of each field\n"
	      "                                     over the runs, runs, spread of gbps,\n"
	      "                                     and FIELD_runs (run order) for gbps,\n"
	      "                                     mpps, backend_cpp, backend_cpb,\n"
	      "                                     cpb_total, switch_cpu, agg\n"
	      "  ratio ROWS SCENARIO NUM DEN FIELD  NUM row's ratio = NUM.FIELD / DEN.FIELD\n"
	      "                                     (ROWS: one JSON row a line, rewritten)\n"
	      "  paired ROWS SCENARIO NUM FIELD [--key KEY] [NUM.json DEN.json]...\n"
	      "                                     NUM row's ratio_paired (or KEY) = the\n"
	      "                                     median over the pairs (runs of one\n"
	      "                                     round) of NUM.FIELD / DEN.FIELD, and\n"
	      "                                     ratio_paired_rounds (KEY_rounds): each\n"
	      "                                     pair's ratio in order, null for none\n"
	      "  scale ROWS SCENARIO VARIANT FIELD FACTOR MIN\n"
	      "                                     max(MIN, FIELD x FACTOR), an integer\n"
	      "  results ROWS META.json OUT         OUT/results.json (meta, rows, goals),\n"
	      "                                     OUT/results.csv and OUT/goals.md\n"
	      "  table RESULTS SCENARIO             the scenario's markdown table, then\n"
	      "                                     a line per row's *_rounds\n"
	      "  dat RESULTS SCENARIO               \"variant\" Gbit/s lines for gnuplot\n", f);
}

static json_t *load_file(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, JSON_DECODE_ANY, &e);

	if (!j)
		fprintf(stderr, "pvnet bench report: %s:%d: %s\n", path, e.line, e.text);
	return j;
}

/* ROWS: one JSON object a line (jq -c); empty lines skipped. */
static json_t *load_rows(const char *path)
{
	json_t *rows = json_array();
	json_error_t e;
	char *line = NULL;
	size_t cap = 0;
	int ln = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "pvnet bench report: %s: %s\n", path, strerror(errno));
		json_decref(rows);
		return NULL;
	}
	while (getline(&line, &cap, f) > 0) {
		json_t *r;
		ln++;
		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		r = json_loads(line, 0, &e);
		if (!r) {
			fprintf(stderr, "pvnet bench report: %s:%d: %s\n", path, ln, e.text);
			json_decref(rows);
			rows = NULL;
			break;
		}
		json_array_append_new(rows, r);
	}
	free(line);
	fclose(f);
	return rows;
}

/* Writes TEXT (or JSON J, one line a row if LINES) to PATH via a rename. */
static int write_file(const char *path, const char *text, const json_t *j, int lines)
{
	char tmp[4096];
	FILE *f;
	int bad = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "pvnet bench report: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (text) {
		bad |= fputs(text, f) < 0;
	} else if (lines) {
		size_t i;
		json_t *r;
		json_array_foreach(j, i, r) {
			put_json(f, r, 0, 0);
			fputc('\n', f);
		}
	} else {
		put_json(f, j, 2, 0);
		fputc('\n', f);
	}
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path)) {
		fprintf(stderr, "pvnet bench report: cannot write %s\n", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int mode_row(int argc, char **argv)
{
	json_t **runs = calloc((size_t)argc, sizeof(*runs)), *row;
	int n = 0, rc = 1;

	if (!runs)
		return 1;
	for (int i = 3; i < argc; i++) {
		runs[n] = load_file(argv[i]);
		if (!runs[n])
			goto out;
		n++;
	}
	row = br_row(argv[1], argv[2], runs, (size_t)n);
	if (row) {
		put_json(stdout, row, 0, 0);
		fputc('\n', stdout);
		rc = 0;
	}
	json_decref(row);
out:
	for (int i = 0; i < n; i++)
		json_decref(runs[i]);
	free(runs);
	return rc;
}

static int mode_ratio(char **argv)
{
	json_t *rows = load_rows(argv[1]);
	int rc = 1;

	if (!rows)
		return 1;
	/* a NUM row that was not run (a peer missing) is not an error */
	br_set_ratio(rows, argv[2], argv[3], argv[4], argv[5]);
	rc = write_file(argv[1], NULL, rows, 1) ? 1 : 0;
	json_decref(rows);
	return rc;
}

static int mode_paired(int argc, char **argv)
{
	/* argv: paired ROWS SCENARIO NUM FIELD [--key KEY], then NUM.json
	 * DEN.json pairs */
	const char *key = "ratio_paired";
	int first = 5;
	size_t n, loaded = 0;
	json_t **nums, **dens, *rows;
	int rc = 1;

	if (argc > 5 && !strcmp(argv[5], "--key")) {
		if (argc < 7 || !argv[6][0]) {
			fprintf(stderr, "pvnet bench report paired: --key wants a field name\n");
			return 2;
		}
		key = argv[6];
		first = 7;
	}
	if ((argc - first) % 2) {
		fprintf(stderr, "pvnet bench report paired: runs come in pairs (NUM.json DEN.json)\n");
		return 2;
	}
	n = (size_t)(argc - first) / 2;
	rows = load_rows(argv[1]);
	if (!rows)
		return 1;
	nums = calloc(n ? n : 1, sizeof(*nums));
	dens = calloc(n ? n : 1, sizeof(*dens));
	if (!nums || !dens)
		goto out;
	for (; loaded < n; loaded++) {
		nums[loaded] = load_file(argv[first + 2 * loaded]);
		dens[loaded] = load_file(argv[first + 1 + 2 * loaded]);
		if (!nums[loaded] || !dens[loaded]) {
			loaded++;
			goto out;
		}
	}
	/* a NUM row that was not run (a peer missing) is not an error */
	br_set_paired(rows, argv[2], argv[3], argv[4], key, nums, dens, n);
	rc = write_file(argv[1], NULL, rows, 1) ? 1 : 0;
out:
	for (size_t i = 0; i < loaded; i++) {
		json_decref(nums[i]);
		json_decref(dens[i]);
	}
	free(nums);
	free(dens);
	json_decref(rows);
	return rc;
}

static int mode_scale(char **argv)
{
	json_t *rows = load_rows(argv[1]);
	int ok;
	double v, min = strtod(argv[6], NULL);

	if (!rows)
		return 1;
	v = row_field(rows, argv[2], argv[3], argv[4], &ok) * strtod(argv[5], NULL);
	printf("%.0f\n", v < min ? min : v);
	json_decref(rows);
	return 0;
}

static int mode_results(char **argv)
{
	json_t *rows = load_rows(argv[1]), *meta = load_file(argv[2]), *res;
	char path[4096], *csv = NULL, *md = NULL;
	int rc = 1;

	if (!rows || !meta || !json_is_object(meta))
		goto out;
	if (!json_object_get(meta, "total_s")) {
		/* the scenarios' wall time, summed */
		double t = 0;
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(meta, "elapsed_s"), k, v)
			t += json_number_value(v);
		json_object_set_new(meta, "total_s", br_number(t));
	}
	res = json_pack("{s:O, s:O}", "meta", meta, "rows", rows);
	if (!res)
		goto out;
	json_object_set_new(res, "goals", br_eval_goals(res));
	csv = br_csv(res);
	md = br_goals_md(res);
	snprintf(path, sizeof(path), "%s/results.json", argv[3]);
	if (csv && md && !write_file(path, NULL, res, 0)) {
		snprintf(path, sizeof(path), "%s/results.csv", argv[3]);
		if (!write_file(path, csv, NULL, 0)) {
			snprintf(path, sizeof(path), "%s/goals.md", argv[3]);
			rc = write_file(path, md, NULL, 0) ? 1 : 0;
		}
	}
	json_decref(res);
out:
	free(csv);
	free(md);
	json_decref(rows);
	json_decref(meta);
	return rc;
}

static int mode_table(char **argv)
{
	json_t *res = load_file(argv[1]), *meta;
	char *t;

	if (!res)
		return 1;
	t = br_table_md(res, argv[2]);
	if (!t) {
		json_decref(res);
		return 1;
	}
	meta = json_object_get(res, "meta");
	fputs(t, stdout);
	fputs("\nMedian of the runs; spread = (max - min) / median of Gbit/s.\n", stdout);
	put_value(stdout, json_object_get(meta, "machine"));
	fputs(", ", stdout);
	put_value(stdout, json_object_get(meta, "cpus"));
	fputs(" CPUs, kernel ", stdout);
	put_value(stdout, json_object_get(meta, "kernel"));
	{
		char b[64];
		printf(", TSC %s MHz, commit ", br_fmt_shortest(b, sizeof(b),
			json_number_value(json_object_get(meta, "tsc_hz")) / 1e6));
	}
	put_value(stdout, json_object_get(meta, "commit"));
	fputs(", ", stdout);
	put_value(stdout, json_object_get(meta, "date"));
	fputs("\n", stdout);
	free(t);
	json_decref(res);
	return 0;
}

static int mode_dat(char **argv)
{
	json_t *res = load_file(argv[1]), *r;
	size_t i;
	char b[64];

	if (!res)
		return 1;
	json_array_foreach(json_object_get(res, "rows"), i, r) {
		const char *s = json_string_value(json_object_get(r, "scenario"));
		json_t *g = json_object_get(r, "gbps");
		if (!s || strcmp(s, argv[2]))
			continue;
		printf("\"%s\" %s\n", json_string_value(json_object_get(r, "variant")),
		       json_is_number(g) ? br_fmt_shortest(b, sizeof(b), json_number_value(g)) : "0");
	}
	json_decref(res);
	return 0;
}

int ctl_bench_report_main(int argc, char **argv)
{
	/* argv[0] is "report"; MODE and its arguments follow */
	static const struct { const char *mode; int min, max; } modes[] = {
		{ "row", 4, 1 << 20 }, { "ratio", 6, 6 }, { "scale", 7, 7 },
		{ "results", 4, 4 }, { "table", 3, 3 }, { "dat", 3, 3 },
		{ "paired", 5, 1 << 20 },
	};
	const char *m = argc > 1 ? argv[1] : "";

	if (!strcmp(m, "-h") || !strcmp(m, "--help")) {
		report_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(m, modes[i].mode))
			continue;
		if (argc - 1 < modes[i].min || argc - 1 > modes[i].max) {
			fprintf(stderr, "pvnet bench report %s: wrong number of arguments\n", m);
			report_usage(stderr);
			return 2;
		}
		argv++;
		argc--;
		switch (i) {
		case 0: return mode_row(argc, argv);
		case 1: return mode_ratio(argv);
		case 2: return mode_scale(argv);
		case 3: return mode_results(argv);
		case 4: return mode_table(argv);
		case 5: return mode_dat(argv);
		default: return mode_paired(argc, argv);
		}
	}
	fprintf(stderr, "pvnet bench report: unknown mode '%s'\n", m);
	report_usage(stderr);
	return 2;
}
