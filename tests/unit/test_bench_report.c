// SPDX-License-Identifier: MIT
/*
 * test_bench_report.c - `pvnet bench report`'s arithmetic: the median and
 * spread of the runs, a row from raw per-run figures (new fields included),
 * ratios, goal evaluation, and the markdown / CSV tables printed as run.sh's
 * jq printed them (so users' tables read the same).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pvnet/bench_report.h"

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	if (!j)
		fail_msg("bad JSON in the test: %s", e.text);
	return j;
}

static void median_lower_middle_skips_nulls(void **state)
{
	json_t *r[4] = { J("{\"a\": 3, \"b\": null}"), J("{\"a\": 1}"),
			 J("{\"a\": 2, \"b\": 5}"), J("{\"a\": 10, \"b\": 7}") };
	json_t *m;

	(void)state;
	m = br_median(r, 4, "a");	/* 1 2 3 10: the lower middle, 2 */
	assert_int_equal(json_integer_value(m), 2);
	json_decref(m);
	m = br_median(r, 3, "a");	/* 1 2 3 */
	assert_int_equal(json_integer_value(m), 2);
	json_decref(m);
	m = br_median(r, 4, "b");	/* null and missing skipped: 5 7 -> 5 */
	assert_int_equal(json_integer_value(m), 5);
	json_decref(m);
	assert_null(br_median(r, 2, "b"));
	assert_null(br_median(r, 4, "nosuch"));
	for (int i = 0; i < 4; i++)
		json_decref(r[i]);
}

static void spread_is_range_over_median(void **state)
{
	json_t *r[3] = { J("{\"gbps\": 2.0}"), J("{\"gbps\": 1.0}"), J("{\"gbps\": 4.0}") };
	json_t *z[2] = { J("{\"gbps\": 0}"), J("{\"mpps\": 1}") };

	(void)state;
	assert_float_equal(br_spread(r, 3, "gbps"), (4.0 - 1.0) / 2.0, 1e-12);
	assert_float_equal(br_spread(r, 1, "gbps"), 0, 0);
	assert_float_equal(br_spread(z, 2, "gbps"), 0, 0);	/* median 0 */
	assert_float_equal(br_spread(z + 1, 1, "gbps"), 0, 0);	/* none */
	for (int i = 0; i < 3; i++)
		json_decref(r[i]);
	json_decref(z[0]);
	json_decref(z[1]);
}

static void row_has_every_field_in_order(void **state)
{
	json_t *r[2] = { J("{\"zz\": 1, \"gbps\": 1.5, \"mpps\": 0.1, \"aa\": \"x\"}"),
			 J("{\"gbps\": 0.5, \"mpps\": 0.3, \"drops\": 2}") };
	json_t *row;
	char *s;

	(void)state;
	row = br_row("sc", "v 64B", r, 2);
	assert_non_null(row);
	s = json_dumps(row, JSON_COMPACT);
	/* the fixed fields first (null where unmeasured), then the runs'
	 * other fields sorted, then runs and spread of gbps */
	assert_string_equal(s,
		"{\"scenario\":\"sc\",\"variant\":\"v 64B\",\"gbps\":0.5,\"mpps\":0.10000000000000001,"
		"\"backend_cpb\":null,\"backend_cpp\":null,\"guest_cpb\":null,\"agg\":null,"
		"\"kicks_per_pkt\":null,\"irqs_per_pkt\":null,\"drops\":2,\"aa\":\"x\",\"zz\":1,"
		"\"runs\":2,\"spread\":2,\"gbps_runs\":[1.5,0.5],\"mpps_runs\":[0.10000000000000001,0.29999999999999999]}");
	free(s);
	json_decref(row);
	json_decref(r[0]);
	json_decref(r[1]);
}

static json_t *rows_fixture(void)
{
	return J("[{\"scenario\":\"peers\",\"variant\":\"pvnet switch, testpmd loopback 64B\","
		 "\"mpps\":9,\"backend_cpp\":190.4},"
		 "{\"scenario\":\"peers\",\"variant\":\"DPDK testpmd switch, testpmd loopback 64B\","
		 "\"mpps\":6},"
		 "{\"scenario\":\"mq\",\"variant\":\"queues 4 workers 1\",\"mpps\":2},"
		 "{\"scenario\":\"mq\",\"variant\":\"queues 4 workers 2\",\"mpps\":3},"
		 "{\"scenario\":\"notify\",\"variant\":\"poll 10%\",\"mpps\":0,\"switch_cpu\":1},"
		 "{\"scenario\":\"notify\",\"variant\":\"adaptive 10%\",\"mpps\":1,\"switch_cpu\":null}]");
}

static void ratio_null_when_missing_or_zero(void **state)
{
	json_t *rows = rows_fixture(), *n;

	(void)state;
	assert_int_equal(br_set_ratio(rows, "peers", "pvnet switch, testpmd loopback 64B",
				      "DPDK testpmd switch, testpmd loopback 64B", "mpps"), 0);
	n = br_find(rows, "peers", "pvnet switch, testpmd loopback 64B");
	assert_float_equal(json_number_value(json_object_get(n, "ratio")), 1.5, 1e-12);
	assert_string_equal(json_string_value(json_object_get(n, "ratio_of")), "mpps");
	assert_string_equal(json_string_value(json_object_get(n, "ratio_to")),
			    "DPDK testpmd switch, testpmd loopback 64B");
	/* denominator 0, numerator null, denominator row missing: null */
	br_set_ratio(rows, "notify", "adaptive 10%", "poll 10%", "mpps");
	n = br_find(rows, "notify", "adaptive 10%");
	assert_true(json_is_null(json_object_get(n, "ratio")));
	br_set_ratio(rows, "notify", "adaptive 10%", "poll 10%", "switch_cpu");
	assert_true(json_is_null(json_object_get(n, "ratio")));
	br_set_ratio(rows, "notify", "adaptive 10%", "nosuch", "mpps");
	assert_true(json_is_null(json_object_get(n, "ratio")));
	assert_int_equal(br_set_ratio(rows, "notify", "nosuch", "poll 10%", "mpps"), -1);
	json_decref(rows);
}

static json_t *goal(json_t *goals, const char *prefix)
{
	size_t i;
	json_t *g;

	json_array_foreach(goals, i, g)
		if (!strncmp(json_string_value(json_object_get(g, "goal")), prefix, strlen(prefix)))
			return g;
	return NULL;
}

static void goals_met_missing_and_queue_count(void **state)
{
	json_t *res = json_object(), *rows = rows_fixture(), *goals, *g;

	(void)state;
	br_set_ratio(rows, "peers", "pvnet switch, testpmd loopback 64B",
		     "DPDK testpmd switch, testpmd loopback 64B", "mpps");
	json_object_set_new(res, "meta", J("{\"cpus\": 4}"));
	json_object_set_new(res, "rows", rows);
	goals = br_eval_goals(res);
	/* 1.5 >= 1.5: met at the target */
	g = goal(goals, "peers: pvnet / DPDK Mpps at 64 B (guest io fwd)");
	assert_non_null(g);
	assert_true(json_is_true(json_object_get(g, "met")));
	assert_string_equal(json_string_value(json_object_get(g, "op")), ">=");
	g = goal(goals, "peers: pvnet switch cycles/pkt");
	assert_true(json_is_true(json_object_get(g, "met")));	/* 190.4 <= 200 */
	/* mq with the queue count from meta.cpus, 3 / 2 = 1.5 < 1.8 */
	g = goal(goals, "mq: Mpps 2 workers / 1 worker (4 queues)");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "value")), 1.5, 1e-12);
	assert_true(json_is_false(json_object_get(g, "met")));
	/* rows not run: the goal is left out; a zero denominator too */
	assert_null(goal(goals, "lro:"));
	assert_null(goal(goals, "vm:"));
	assert_null(goal(goals, "notify: adaptive Mpps"));
	assert_null(goal(goals, "notify: adaptive CPU"));
	json_decref(goals);
	json_decref(res);
}

/* Issue 14: GRO pays for itself in the switch, a two-row ratio per flow count. */
static void goals_lro_gro_vs_off(void **state)
{
	json_t *res = json_object(), *goals, *g;

	(void)state;
	json_object_set_new(res, "meta", J("{\"cpus\": 2}"));
	json_object_set_new(res, "rows",
		J("[{\"scenario\":\"lro\",\"variant\":\"off, 1 flow(s)\",\"backend_cpb\":0.5},"
		  "{\"scenario\":\"lro\",\"variant\":\"adaptive, 1 flow(s)\",\"backend_cpb\":0.4},"
		  "{\"scenario\":\"lro\",\"variant\":\"off, 4 flow(s)\",\"backend_cpb\":0.5},"
		  "{\"scenario\":\"lro\",\"variant\":\"adaptive, 4 flow(s)\",\"backend_cpb\":0.6}]"));
	goals = br_eval_goals(res);
	g = goal(goals, "lro: switch cycles/byte GRO adaptive / GRO off (1 flow)");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "value")), 0.8, 1e-12);
	assert_string_equal(json_string_value(json_object_get(g, "op")), "<=");
	assert_true(json_is_true(json_object_get(g, "met")));
	g = goal(goals, "lro: switch cycles/byte GRO adaptive / GRO off (4 flows)");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "value")), 1.2, 1e-12);
	assert_true(json_is_false(json_object_get(g, "met")));
	/* the rows without agg or ratio leave those lro goals out */
	assert_null(goal(goals, "lro: adaptive segments"));
	json_decref(goals);
	json_decref(res);
}

/* Issue 14: pvnet and DPDK of one round ran seconds apart; the median of
 * the per-round ratios compares them in one machine state each time, where
 * the ratio of the medians mixes rounds (here 1.0 against 1.5). */
static void paired_ratio_median_of_rounds(void **state)
{
	json_t *p[5] = { J("{\"mpps\": 4}"), J("{\"mpps\": 9}"), J("{\"mpps\": 6}"),
			 J("{\"mpps\": 9}"), J("{\"mpps\": null}") };
	json_t *d[5] = { J("{\"mpps\": 8}"), J("{\"mpps\": 6}"), J("{\"mpps\": 3}"),
			 J("{\"mpps\": 3}"), J("{\"mpps\": 2}") };
	json_t *z[2] = { J("{\"mpps\": 0}"), J("{}") };
	json_t *m;

	(void)state;
	/* odd: 0.5 1.5 2 -> 1.5 (the ratio of the medians: 6 / 6 = 1) */
	m = br_paired_ratio(p, d, 3, "mpps");
	assert_true(json_is_number(m));
	assert_float_equal(json_number_value(m), 1.5, 1e-12);
	json_decref(m);
	/* even: 0.5 1.5 2 3 -> the lower middle, 1.5, as every median here */
	m = br_paired_ratio(p, d, 4, "mpps");
	assert_float_equal(json_number_value(m), 1.5, 1e-12);
	json_decref(m);
	/* two rounds: 0.5 1.5 -> 0.5 */
	m = br_paired_ratio(p, d, 2, "mpps");
	assert_float_equal(json_number_value(m), 0.5, 1e-12);
	json_decref(m);
	/* a null numerator is no pair: 0.5 1.5 2 3 as above */
	m = br_paired_ratio(p, d, 5, "mpps");
	assert_float_equal(json_number_value(m), 1.5, 1e-12);
	json_decref(m);
	/* a zero or a missing denominator: no ratio at all -> null */
	m = br_paired_ratio(p, z, 2, "mpps");
	assert_true(json_is_null(m));
	json_decref(m);
	m = br_paired_ratio(p, d, 0, "mpps");
	assert_true(json_is_null(m));
	json_decref(m);
	for (int i = 0; i < 5; i++) {
		json_decref(p[i]);
		json_decref(d[i]);
	}
	json_decref(z[0]);
	json_decref(z[1]);
}

static void paired_ratio_set_on_the_row(void **state)
{
	json_t *rows = rows_fixture(), *n;
	json_t *p[2] = { J("{\"mpps\": 3}"), J("{\"mpps\": 8}") };
	json_t *d[2] = { J("{\"mpps\": 2}"), J("{\"mpps\": 4}") };

	(void)state;
	assert_int_equal(br_set_ratio_paired(rows, "peers", "pvnet switch, testpmd loopback 64B",
					     "mpps", p, d, 2), 0);
	n = br_find(rows, "peers", "pvnet switch, testpmd loopback 64B");
	/* 1.5 2 -> 1.5 */
	assert_float_equal(json_number_value(json_object_get(n, "ratio_paired")), 1.5, 1e-12);
	/* the ratio of the medians is another field, left as it was */
	assert_null(json_object_get(n, "ratio"));
	/* no pair (the DPDK runs all failed): null, not left out */
	br_set_ratio_paired(rows, "peers", "pvnet switch, testpmd loopback 64B", "mpps", p, d, 0);
	assert_true(json_is_null(json_object_get(n, "ratio_paired")));
	assert_int_equal(br_set_ratio_paired(rows, "peers", "nosuch", "mpps", p, d, 2), -1);
	for (int i = 0; i < 2; i++) {
		json_decref(p[i]);
		json_decref(d[i]);
	}
	json_decref(rows);
}

/* A goal on a row's ratio carries the row's paired ratio beside it; the
 * goal's value and met stay the ratio of the medians. */
static void goals_carry_the_paired_ratio(void **state)
{
	json_t *res = json_object(), *rows = rows_fixture(), *goals, *g;
	json_t *p[3] = { J("{\"mpps\": 9}"), J("{\"mpps\": 4}"), J("{\"mpps\": 8}") };
	json_t *d[3] = { J("{\"mpps\": 6}"), J("{\"mpps\": 8}"), J("{\"mpps\": 4}") };
	char *t;

	(void)state;
	br_set_ratio(rows, "peers", "pvnet switch, testpmd loopback 64B",
		     "DPDK testpmd switch, testpmd loopback 64B", "mpps");
	br_set_ratio_paired(rows, "peers", "pvnet switch, testpmd loopback 64B", "mpps", p, d, 3);
	json_object_set_new(res, "meta", J("{\"cpus\": 2}"));
	json_object_set_new(res, "rows", rows);
	goals = br_eval_goals(res);
	g = goal(goals, "peers: pvnet / DPDK Mpps at 64 B (guest io fwd)");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "value")), 1.5, 1e-12);
	assert_true(json_is_true(json_object_get(g, "met")));
	/* 0.5 1.5 2 -> 1.5 */
	assert_float_equal(json_number_value(json_object_get(g, "paired")), 1.5, 1e-12);
	/* not a ratio goal: no paired figure */
	g = goal(goals, "peers: pvnet switch cycles/pkt");
	assert_non_null(g);
	assert_null(json_object_get(g, "paired"));
	json_object_set_new(res, "goals", goals);
	t = br_goals_md(res);
	assert_non_null(t);
	assert_non_null(strstr(t, "| goal | measured | paired | target | met |\n"
			       "|---|---|---|---|---|\n"
			       "| peers: pvnet / DPDK Mpps at 64 B (guest io fwd) | 1.5 | 1.5 (0.5-2) | >= 1.5 | yes |\n"
			       "| peers: pvnet switch cycles/pkt at 64 B (guest io fwd) | 190.4 | - | <= 200 | yes |\n"));
	free(t);
	for (int i = 0; i < 3; i++) {
		json_decref(p[i]);
		json_decref(d[i]);
	}
	json_decref(res);
}

/* Issue 14: lro and vm run their variants in rounds, so their goals carry a
 * paired figure too: the one-row ratio goals (adaptive / memcpy floor,
 * adaptive / DPDK) the row's ratio_paired, the two-row goals (adaptive /
 * GRO off) the adaptive row's ratio_paired_off. Each is the median of the
 * rounds' ratios, which here differs from the ratio of the medians (1.0)
 * and from the mean of the rounds' ratios (1.33): 0.5 1.5 2 -> 1.5. */
static void goals_lro_vm_carry_paired_ratios(void **state)
{
	json_t *res = json_object(), *rows, *goals, *g, *a;
	/* adaptive's and the other variant's runs, round by round */
	json_t *n[3] = { J("{\"backend_cpb\": 0.4, \"gbps\": 2}"),
			 J("{\"backend_cpb\": 0.9, \"gbps\": 4.5}"),
			 J("{\"backend_cpb\": 0.6, \"gbps\": 3}") };
	json_t *d[3] = { J("{\"backend_cpb\": 0.8, \"gbps\": 4}"),
			 J("{\"backend_cpb\": 0.6, \"gbps\": 3}"),
			 J("{\"backend_cpb\": 0.3, \"gbps\": 1.5}") };
	const char *lro1 = "adaptive, 1 flow(s)", *vma = "pvnet --gro adaptive";
	const char *floor = "memcpy floor (1448 B, cold)";
	const char *dpdk = "DPDK testpmd (net_tap + net_vhost, io)";
	char *t;

	(void)state;
	/* the rows are the runs' medians: 0.6 / 0.6 and 3 / 3 */
	rows = J("[{\"scenario\":\"lro\",\"variant\":\"off, 1 flow(s)\",\"backend_cpb\":0.6},"
		 "{\"scenario\":\"lro\",\"variant\":\"adaptive, 1 flow(s)\",\"backend_cpb\":0.6},"
		 "{\"scenario\":\"lro\",\"variant\":\"memcpy floor (1448 B, cold)\",\"backend_cpb\":0.6},"
		 "{\"scenario\":\"vm\",\"variant\":\"pvnet --gro off\",\"gbps\":3},"
		 "{\"scenario\":\"vm\",\"variant\":\"pvnet --gro adaptive\",\"gbps\":3},"
		 "{\"scenario\":\"vm\",\"variant\":\"DPDK testpmd (net_tap + net_vhost, io)\",\"gbps\":3}]");
	br_set_ratio(rows, "lro", lro1, floor, "backend_cpb");
	assert_int_equal(br_set_ratio_paired(rows, "lro", lro1, "backend_cpb", n, d, 3), 0);
	assert_int_equal(br_set_paired(rows, "lro", lro1, "backend_cpb", "ratio_paired_off",
				       n, d, 3), 0);
	br_set_ratio(rows, "vm", vma, dpdk, "gbps");
	br_set_ratio_paired(rows, "vm", vma, "gbps", n, d, 3);
	br_set_paired(rows, "vm", vma, "gbps", "ratio_paired_off", n, d, 3);
	assert_int_equal(br_set_paired(rows, "vm", "nosuch", "gbps", "ratio_paired_off",
				       n, d, 3), -1);
	/* a named key leaves ratio_paired alone, and the other way round */
	a = br_find(rows, "lro", lro1);
	assert_float_equal(json_number_value(json_object_get(a, "ratio_paired")), 1.5, 1e-12);
	assert_float_equal(json_number_value(json_object_get(a, "ratio_paired_off")), 1.5, 1e-12);
	json_object_set_new(res, "meta", J("{\"cpus\": 2}"));
	json_object_set_new(res, "rows", rows);
	goals = br_eval_goals(res);
	/* the goal is judged on the ratio of the medians; paired beside it */
	g = goal(goals, "lro: adaptive switch cycles/byte / memcpy floor (1 flow)");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "value")), 1, 1e-12);
	assert_true(json_is_true(json_object_get(g, "met")));
	assert_float_equal(json_number_value(json_object_get(g, "paired")), 1.5, 1e-12);
	g = goal(goals, "lro: switch cycles/byte GRO adaptive / GRO off (1 flow)");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "value")), 1, 1e-12);
	assert_float_equal(json_number_value(json_object_get(g, "paired")), 1.5, 1e-12);
	g = goal(goals, "vm: Gbit/s GRO adaptive / GRO off");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "value")), 1, 1e-12);
	assert_float_equal(json_number_value(json_object_get(g, "paired")), 1.5, 1e-12);
	g = goal(goals, "vm: Gbit/s GRO adaptive / DPDK testpmd");
	assert_non_null(g);
	assert_float_equal(json_number_value(json_object_get(g, "paired")), 1.5, 1e-12);
	/* 4 flows were not paired (no ratio_paired_off): no paired figure */
	json_decref(goals);
	a = br_find(json_object_get(res, "rows"), "lro", lro1);
	json_object_del(a, "ratio_paired_off");
	goals = br_eval_goals(res);
	g = goal(goals, "lro: switch cycles/byte GRO adaptive / GRO off (1 flow)");
	assert_non_null(g);
	assert_null(json_object_get(g, "paired"));
	json_object_set_new(res, "goals", goals);
	t = br_goals_md(res);
	assert_non_null(t);
	assert_non_null(strstr(t,
		"| lro: switch cycles/byte GRO adaptive / GRO off (1 flow) | 1 | - | <= 1 | yes |\n"
		"| vm: Gbit/s GRO adaptive / GRO off | 1 | 1.5 (0.5-2) | >= 2 | **no** |\n"
		"| vm: Gbit/s GRO adaptive / DPDK testpmd | 1 | 1.5 (0.5-2) | >= 2 | **no** |\n"));
	free(t);
	/* the lro and vm tables show the paired ratio to GRO off */
	t = br_table_md(res, "vm");
	assert_non_null(t);
	assert_non_null(strstr(t, "| ratio | paired ratio | paired ratio to GRO off | ratio to |"));
	assert_non_null(strstr(t, "| pvnet --gro adaptive | 3 | 1 | 1.5 | 1.5 | DPDK testpmd"));
	free(t);
	for (int i = 0; i < 3; i++) {
		json_decref(n[i]);
		json_decref(d[i]);
	}
	json_decref(res);
}

/* The runs of a row's headline figures, in run order, so an A/B can be
 * judged from results.json without rerunning: a run without the figure is
 * null in its place; a figure no run has gets no array. */
static void row_keeps_the_runs_of_headline_fields(void **state)
{
	json_t *r[3] = { J("{\"mpps\": 3, \"gbps\": 2.5, \"backend_cpb\": 0.4}"),
			 J("{\"mpps\": 1, \"backend_cpb\": null}"),
			 J("{\"mpps\": 2, \"gbps\": 0.5, \"backend_cpb\": 0.6, \"other\": 9}") };
	json_t *row, *a;
	char *s;

	(void)state;
	row = br_row("sc", "v", r, 3);
	assert_non_null(row);
	/* the median is still the row's figure */
	assert_int_equal(json_integer_value(json_object_get(row, "mpps")), 2);
	a = json_object_get(row, "mpps_runs");
	assert_true(json_is_array(a));
	s = json_dumps(a, JSON_COMPACT);
	assert_string_equal(s, "[3,1,2]");
	free(s);
	s = json_dumps(json_object_get(row, "gbps_runs"), JSON_COMPACT);
	assert_string_equal(s, "[2.5,null,0.5]");
	free(s);
	s = json_dumps(json_object_get(row, "backend_cpb_runs"), JSON_COMPACT);
	assert_string_equal(s, "[0.40000000000000002,null,0.59999999999999998]");
	free(s);
	/* not a headline field; and one no run measured */
	assert_null(json_object_get(row, "other_runs"));
	assert_null(json_object_get(row, "backend_cpp_runs"));
	json_decref(row);
	for (int i = 0; i < 3; i++)
		json_decref(r[i]);
}

/* The per-round ratios beside their median, in round order; a round
 * without a ratio (a run failed, a zero denominator) is null in its place. */
static void paired_rounds_in_order_with_nulls(void **state)
{
	json_t *rows = rows_fixture(), *n;
	json_t *p[5] = { J("{\"mpps\": 4}"), J("{\"mpps\": 9}"), J("{\"mpps\": null}"),
			 J("{\"mpps\": 6}"), J("{\"mpps\": 3}") };
	json_t *d[5] = { J("{\"mpps\": 8}"), J("{\"mpps\": 6}"), J("{\"mpps\": 2}"),
			 J("{\"mpps\": 3}"), J("{\"mpps\": 0}") };
	const char *pv = "pvnet switch, testpmd loopback 64B";
	char *s;

	(void)state;
	assert_int_equal(br_set_ratio_paired(rows, "peers", pv, "mpps", p, d, 5), 0);
	n = br_find(rows, "peers", pv);
	/* 0.5 1.5 2 -> 1.5 */
	assert_float_equal(json_number_value(json_object_get(n, "ratio_paired")), 1.5, 1e-12);
	s = json_dumps(json_object_get(n, "ratio_paired_rounds"), JSON_COMPACT);
	assert_non_null(s);
	assert_string_equal(s, "[0.5,1.5,null,2,null]");
	free(s);
	/* a named key gets its own rounds, the other left as it was */
	assert_int_equal(br_set_paired(rows, "peers", pv, "mpps", "ratio_paired_off",
				       d, p, 2), 0);
	s = json_dumps(json_object_get(n, "ratio_paired_off_rounds"), JSON_COMPACT);
	assert_string_equal(s, "[2,0.66666666666666663]");
	free(s);
	s = json_dumps(json_object_get(n, "ratio_paired_rounds"), JSON_COMPACT);
	assert_string_equal(s, "[0.5,1.5,null,2,null]");
	free(s);
	/* no round: an empty array beside the null median */
	br_set_ratio_paired(rows, "peers", pv, "mpps", p, d, 0);
	assert_true(json_is_null(json_object_get(n, "ratio_paired")));
	s = json_dumps(json_object_get(n, "ratio_paired_rounds"), JSON_COMPACT);
	assert_string_equal(s, "[]");
	free(s);
	for (int i = 0; i < 5; i++) {
		json_decref(p[i]);
		json_decref(d[i]);
	}
	json_decref(rows);
}

/* Under a scenario's table, one line per row and paired key with rounds:
 * whether the rounds agreed, which the median alone does not say. */
static void markdown_table_lists_the_rounds(void **state)
{
	json_t *res = J("{\"meta\": {}, \"rows\": ["
		"{\"scenario\":\"vm\",\"variant\":\"pvnet --gro off\",\"gbps\":3,"
		" \"ratio_paired\":1.2,\"ratio_paired_rounds\":[1.2,0.774,1.416]},"
		"{\"scenario\":\"vm\",\"variant\":\"pvnet --gro adaptive\",\"gbps\":3,"
		" \"ratio_paired\":1.1,\"ratio_paired_rounds\":[1.1,null,0.9,1.6],"
		" \"ratio_paired_off\":1,\"ratio_paired_off_rounds\":[1]},"
		"{\"scenario\":\"vm\",\"variant\":\"none\",\"gbps\":1,"
		" \"ratio_paired\":null,\"ratio_paired_rounds\":[null]},"
		"{\"scenario\":\"vm\",\"variant\":\"DPDK\",\"gbps\":2}]}");
	char *t;

	(void)state;
	t = br_table_md(res, "vm");
	assert_non_null(t);
	assert_string_equal(t,
		"| variant | Gbit/s | paired ratio | paired ratio to GRO off |\n"
		"|---|---|---|---|\n"
		"| pvnet --gro off | 3 | 1.2 | - |\n"
		"| pvnet --gro adaptive | 3 | 1.1 | 1 |\n"
		"| none | 1 | - | - |\n"
		"| DPDK | 2 | - | - |\n"
		"\n"
		"- pvnet --gro off: per-round paired ratio 1.2, 0.77, 1.42 (min 0.77, max 1.42)\n"
		"- pvnet --gro adaptive: per-round paired ratio 1.1, -, 0.9, 1.6 (min 0.9, max 1.6)\n"
		"- pvnet --gro adaptive: per-round paired ratio to GRO off 1 (min 1, max 1)\n"
		"- none: per-round paired ratio - (no round has a ratio)\n");
	free(t);
	json_decref(res);
}

/* goals.md: the paired median and, in brackets, the range of the rounds;
 * a goal whose row kept no rounds (an older results.json) just the median. */
static void goals_paired_column_with_range(void **state)
{
	json_t *res = json_object(), *rows = rows_fixture(), *goals, *g;
	json_t *p[4] = { J("{\"mpps\": 9}"), J("{\"mpps\": 4}"), J("{\"mpps\": 8}"),
			 J("{\"mpps\": 1}") };
	json_t *d[4] = { J("{\"mpps\": 6}"), J("{\"mpps\": 8}"), J("{\"mpps\": 4}"),
			 J("{\"mpps\": 0}") };
	char *t, *s;

	(void)state;
	br_set_ratio(rows, "peers", "pvnet switch, testpmd loopback 64B",
		     "DPDK testpmd switch, testpmd loopback 64B", "mpps");
	br_set_ratio_paired(rows, "peers", "pvnet switch, testpmd loopback 64B", "mpps", p, d, 4);
	json_object_set_new(res, "meta", J("{\"cpus\": 2}"));
	json_object_set_new(res, "rows", rows);
	goals = br_eval_goals(res);
	g = goal(goals, "peers: pvnet / DPDK Mpps at 64 B (guest io fwd)");
	assert_non_null(g);
	/* the goal carries the rounds beside its paired median */
	s = json_dumps(json_object_get(g, "paired_rounds"), JSON_COMPACT);
	assert_non_null(s);
	assert_string_equal(s, "[1.5,0.5,2,null]");
	free(s);
	json_object_set_new(res, "goals", goals);
	t = br_goals_md(res);
	assert_non_null(t);
	assert_non_null(strstr(t,
		"| peers: pvnet / DPDK Mpps at 64 B (guest io fwd) | 1.5 | 1.5 (0.5-2) | >= 1.5 | yes |\n"
		"| peers: pvnet switch cycles/pkt at 64 B (guest io fwd) | 190.4 | - | <= 200 | yes |\n"));
	free(t);
	/* without rounds: the median alone */
	json_object_del(goal(goals, "peers: pvnet / DPDK Mpps"), "paired_rounds");
	t = br_goals_md(res);
	assert_non_null(strstr(t, "| peers: pvnet / DPDK Mpps at 64 B (guest io fwd) | 1.5 | 1.5 | >= 1.5 | yes |\n"));
	free(t);
	for (int i = 0; i < 4; i++) {
		json_decref(p[i]);
		json_decref(d[i]);
	}
	json_decref(res);
}

static void numbers_print_as_jq_does(void **state)
{
	char b[64];

	(void)state;
	assert_string_equal(br_fmt_shortest(b, sizeof(b), 0.1), "0.1");
	assert_string_equal(br_fmt_shortest(b, sizeof(b), 0.1 + 0.2), "0.30000000000000004");
	assert_string_equal(br_fmt_shortest(b, sizeof(b), 2294608000.0), "2294608000");
	assert_string_equal(br_fmt_shortest(b, sizeof(b), 1.0 / 3), "0.3333333333333333");
	assert_string_equal(br_fmt(b, sizeof(b), 321.5, 0), "322");
	assert_string_equal(br_fmt(b, sizeof(b), 1.234567, 2), "1.23");
	assert_string_equal(br_fmt(b, sizeof(b), 2.0, 3), "2");
	assert_string_equal(br_fmt(b, sizeof(b), 0.00012, 4), "0.0001");
}

static void markdown_table_shows_measured_columns(void **state)
{
	json_t *res = J("{\"meta\": {}, \"rows\": ["
		"{\"scenario\":\"s\",\"variant\":\"a\",\"gbps\":1.234,\"mpps\":null,"
		" \"switch_cpu\":0.987,\"ratio\":null,\"runs\":3,\"spread\":0.05},"
		"{\"scenario\":\"s\",\"variant\":\"b\",\"gbps\":null,\"ratio\":0.5,"
		" \"ratio_to\":\"a\",\"runs\":1,\"spread\":0},"
		"{\"scenario\":\"other\",\"variant\":\"c\",\"mpps\":5}]}");
	char *t;

	(void)state;
	t = br_table_md(res, "s");
	assert_non_null(t);
	assert_string_equal(t,
		"| variant | Gbit/s | switch CPU | ratio | ratio to | runs | spread |\n"
		"|---|---|---|---|---|---|---|\n"
		"| a | 1.23 | 99% | - | - | 3 | 5% |\n"
		"| b | - | - | 0.5 | a | 1 | 0% |\n");
	free(t);
	json_decref(res);
}

/* tcp and vxlan measure the two pvnet processes apart (issue 14): switch,
 * pvnet guest, then the iperf3 endpoints under their own name */
static void markdown_table_splits_pvnet_processes(void **state)
{
	json_t *res = J("{\"meta\": {}, \"rows\": ["
		"{\"scenario\":\"tcp\",\"variant\":\"p\",\"backend_cpp\":1000,"
		" \"backend_cpb\":0.5,\"pvguest_cpp\":800,\"pvguest_cpb\":0.4,"
		" \"guest_cpb\":1.1,\"cpb_total\":2,\"switch_cpu\":0.5,"
		" \"pvguest_cpu\":0.25},"
		"{\"scenario\":\"copy\",\"variant\":\"c\",\"guest_cpb\":3}]}");
	char *t;

	(void)state;
	t = br_table_md(res, "tcp");
	assert_non_null(t);
	assert_string_equal(t,
		"| variant | switch cycles/pkt | pvnet guest cycles/pkt | switch cycles/byte |"
		" pvnet guest cycles/byte | iperf3 cycles/byte | total cycles/byte |"
		" switch CPU | pvnet guest CPU |\n"
		"|---|---|---|---|---|---|---|---|---|\n"
		"| p | 1000 | 800 | 0.5 | 0.4 | 1.1 | 2 | 50% | 25% |\n");
	free(t);
	/* elsewhere guest_cpb is the pvnet guests' (gen + sink): its own name */
	t = br_table_md(res, "copy");
	assert_non_null(t);
	assert_string_equal(t, "| variant | guest cycles/byte |\n|---|---|\n| c | 3 |\n");
	free(t);
	json_decref(res);
}

/* peers (issue 14): the switch's and the guest testpmd's busy cycles per
 * packet (testpmd's --record-core-cycles, pvnet's worker stats) and the
 * paired ratio; a figure a run did not get (no testpmd line) is "-". */
static void markdown_table_peers_busy_and_paired(void **state)
{
	json_t *res = J("{\"meta\": {}, \"rows\": ["
		"{\"scenario\":\"peers\",\"variant\":\"p\",\"mpps\":8,\"backend_cpp\":129.4,"
		" \"busy_cpp\":205.2,\"guest_busy_cpp\":188.6,\"ratio\":1.02,"
		" \"ratio_paired\":1.104,\"ratio_to\":\"d\",\"runs\":3,\"spread\":0.8},"
		"{\"scenario\":\"peers\",\"variant\":\"d\",\"mpps\":7.85,\"backend_cpp\":226,"
		" \"busy_cpp\":231.7,\"guest_busy_cpp\":null,\"ratio\":null,\"runs\":3,"
		" \"spread\":0.8}]}");
	char *t;

	(void)state;
	t = br_table_md(res, "peers");
	assert_non_null(t);
	assert_string_equal(t,
		"| variant | Mpps | switch cycles/pkt | switch busy cycles/pkt |"
		" guest busy cycles/pkt | ratio | paired ratio | ratio to | runs | spread |\n"
		"|---|---|---|---|---|---|---|---|---|---|\n"
		"| p | 8 | 129 | 205 | 189 | 1.02 | 1.1 | d | 3 | 80% |\n"
		"| d | 7.85 | 226 | 232 | - | - | - | - | 3 | 80% |\n");
	free(t);
	json_decref(res);
}

static void csv_quotes_strings_and_leaves_nulls_empty(void **state)
{
	json_t *res = J("{\"rows\": [{\"scenario\":\"s\",\"variant\":\"say \\\"hi\\\"\","
			"\"gbps\":0.1,\"mpps\":null,\"runs\":2}]}");
	char *c;

	(void)state;
	c = br_csv(res);
	assert_non_null(c);
	assert_string_equal(c,
		"\"scenario\",\"variant\",\"gbps\",\"mpps\",\"backend_cpb\",\"backend_cpp\","
		"\"guest_cpb\",\"agg\",\"kicks_per_pkt\",\"irqs_per_pkt\",\"drops\",\"runs\","
		"\"spread\",\"ratio\",\"ratio_to\",\"cpb_total\",\"switch_cpu\","
		"\"pvguest_cpb\",\"pvguest_cpp\",\"pvguest_cpu\",\"pvnet_cpb\","
		"\"ratio_paired\",\"busy_cpp\",\"guest_busy_cpp\",\"ratio_paired_off\"\n"
		"\"s\",\"say \"\"hi\"\"\",0.1,,,,,,,,,2,,,,,,,,,,,,,\n");
	free(c);
	json_decref(res);
}

static void goals_markdown(void **state)
{
	json_t *res = J("{\"meta\": {\"machine\":\"m\",\"cpus\":2,\"kernel\":\"k\",\"commit\":\"c\","
		"\"date\":\"d\",\"runs\":1,\"secs\":1,\"elapsed_s\":{\"peers\":5,\"mq\":7},\"total_s\":12},"
		"\"goals\": [{\"goal\":\"g\",\"value\":1.456,\"target\":1.5,\"op\":\">=\",\"met\":false}]}");
	char *t;

	(void)state;
	t = br_goals_md(res);
	assert_non_null(t);
	assert_non_null(strstr(t, "| goal | measured | target | met |\n|---|---|---|---|\n"
			       "| g | 1.46 | >= 1.5 | **no** |\n\n"));
	assert_non_null(strstr(t, "m, 2 CPUs, kernel k, commit c, d; 1 run(s) of 1 s per variant; "
			       "scenarios took peers 5 s, mq 7 s (total 12 s)\n"));
	free(t);
	json_decref(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(median_lower_middle_skips_nulls),
		cmocka_unit_test(spread_is_range_over_median),
		cmocka_unit_test(row_has_every_field_in_order),
		cmocka_unit_test(ratio_null_when_missing_or_zero),
		cmocka_unit_test(goals_met_missing_and_queue_count),
		cmocka_unit_test(goals_lro_gro_vs_off),
		cmocka_unit_test(paired_ratio_median_of_rounds),
		cmocka_unit_test(paired_ratio_set_on_the_row),
		cmocka_unit_test(goals_carry_the_paired_ratio),
		cmocka_unit_test(goals_lro_vm_carry_paired_ratios),
		cmocka_unit_test(row_keeps_the_runs_of_headline_fields),
		cmocka_unit_test(paired_rounds_in_order_with_nulls),
		cmocka_unit_test(markdown_table_lists_the_rounds),
		cmocka_unit_test(goals_paired_column_with_range),
		cmocka_unit_test(numbers_print_as_jq_does),
		cmocka_unit_test(markdown_table_shows_measured_columns),
		cmocka_unit_test(markdown_table_splits_pvnet_processes),
		cmocka_unit_test(markdown_table_peers_busy_and_paired),
		cmocka_unit_test(csv_quotes_strings_and_leaves_nulls_empty),
		cmocka_unit_test(goals_markdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
