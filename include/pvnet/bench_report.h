/* SPDX-License-Identifier: MIT */
/*
 * bench_report.h - the arithmetic of `pvnet bench`'s report: per-run raw
 * figures -> one row of medians, ratios between rows, the goals, and the
 * markdown / CSV tables. bench/run.sh only orchestrates and calls
 * `pvnet bench report MODE ...` (src/ctl/bench_report.c).
 */
#ifndef PVNET_BENCH_REPORT_H
#define PVNET_BENCH_REPORT_H

#include <stddef.h>
#include <jansson.h>

/* One goal: VALUE op TARGET, VALUE = row(sc, var).field, or divided by
 * row(dsc, dvar).dfield when dsc is set. "{nq}" in name and variants is
 * replaced by the queue count of the mq scenario (cpus, 2..8). */
struct br_goal {
	const char *name;
	const char *sc, *var, *field;
	const char *dsc, *dvar, *dfield;
	const char *op;		/* ">=" or "<=" */
	double target;
	/* a two-row goal's paired figure: this field of the (sc, var) row
	 * (lro, vm: "ratio_paired_off"); NULL: none. A one-row goal on a
	 * row's ratio takes the row's ratio_paired. */
	const char *paired;
};

/* The goals every report evaluates (a goal whose rows were not run is left out). */
extern const struct br_goal br_goals[];
extern const size_t br_n_goals;

/* Median of the non-null values of FIELD over N runs: the lower middle of
 * the sorted values (jq's order), a new reference; NULL if no run has one. */
json_t *br_median(json_t *const *runs, size_t n, const char *field);

/* (max - min) / median of FIELD's numbers over N runs; 0 without a median. */
double br_spread(json_t *const *runs, size_t n, const char *field);

/* A number as JSON: an integer when it is one (as jq prints it); new reference. */
json_t *br_number(double v);

/* One row from N runs' raw figures: scenario, variant, the median of every
 * field, runs, spread of gbps, and FIELD_runs (each run's FIELD in run
 * order, null where a run has none) for the fields goals and ratios are
 * taken on (gbps, mpps, backend_cpp, backend_cpb, cpb_total, switch_cpu,
 * agg) that some run has. New reference, NULL on allocation failure. */
json_t *br_row(const char *scenario, const char *variant,
	       json_t *const *runs, size_t n);

/* The first row of ROWS (array) with this scenario and variant, borrowed; or NULL. */
json_t *br_find(const json_t *rows, const char *scenario, const char *variant);

/* Sets ratio = num.FIELD / den.FIELD (null if either is missing or den is 0),
 * ratio_of, ratio_to on the NUM row. Returns 0, or -1 if there is no NUM row. */
int br_set_ratio(json_t *rows, const char *scenario, const char *num,
		 const char *den, const char *field);

/* The median (the lower middle, as br_median) over N paired runs of
 * NUMS[i].FIELD / DENS[i].FIELD, a pair skipped where either is not a
 * number or the DENS one is 0: a new reference, json null if no pair has a
 * ratio. Pair i is two runs of the same round (seconds apart), so each
 * ratio is taken in one machine state. */
json_t *br_paired_ratio(json_t *const *nums, json_t *const *dens, size_t n,
			const char *field);

/* The N rounds' ratios NUMS[i].FIELD / DENS[i].FIELD in round order, raw
 * (not rounded), json null for a round without one (as br_paired_ratio
 * skips it): a new array, NULL on allocation failure. */
json_t *br_paired_rounds(json_t *const *nums, json_t *const *dens, size_t n,
			 const char *field);

/* Sets ratio_paired = br_paired_ratio(NUMS, DENS, N, FIELD) on the NUM row
 * (the runs of NUM and of the row it is compared with, round by round),
 * and ratio_paired_rounds = br_paired_rounds(...).
 * Returns 0, or -1 if there is no NUM row. */
int br_set_ratio_paired(json_t *rows, const char *scenario, const char *num,
			const char *field, json_t *const *nums,
			json_t *const *dens, size_t n);

/* As br_set_ratio_paired, into the NUM row's fields KEY and KEY_rounds: a row compared
 * round by round with a second row besides its ratio_to one (lro and vm:
 * adaptive against GRO off, "ratio_paired_off"). 0, or -1 if no NUM row. */
int br_set_paired(json_t *rows, const char *scenario, const char *num,
		  const char *field, const char *key, json_t *const *nums,
		  json_t *const *dens, size_t n);

/* The goals of RESULTS ({meta, rows}) as a new JSON array of
 * {goal, value, target, op, met}, and paired: the row's ratio_paired where
 * the goal's value is a row's ratio and the row has one, or the goal's
 * paired field of its first row (two-row goals) where that is a number;
 * with paired_rounds, that field's _rounds array, where the row has one. */
json_t *br_eval_goals(const json_t *results);

/* V rounded to D decimals as jq prints it ("1.5", "200"); into BUF of LEN. */
const char *br_fmt(char *buf, size_t len, double v, int d);

/* A number the shortest way that reads back the same (jq's output); into BUF. */
const char *br_fmt_shortest(char *buf, size_t len, double v);

/* The markdown table of SCENARIO's rows (columns some row has), then a
 * blank line and one "- VARIANT: per-round HEAD r1, r2 (min, max)" line per
 * row and column KEY whose row has a non-empty KEY_rounds; a malloc'd
 * string the caller frees; NULL on allocation failure. */
char *br_table_md(const json_t *results, const char *scenario);

/* goals.md (heading, goals table, meta line; the paired column "median
 * (min-max)" where the goal has paired_rounds), malloc'd; caller frees. */
char *br_goals_md(const json_t *results);

/* results.csv (fixed columns, one line per row), malloc'd; caller frees. */
char *br_csv(const json_t *results);

/* `pvnet bench report MODE ...`: see its --help. Returns the exit code. */
int ctl_bench_report_main(int argc, char **argv);

#endif /* PVNET_BENCH_REPORT_H */
