#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh - the scenarios behind `pvnet bench` (it execs this script).
#
# Each scenario runs its variants side by side in one invocation, repeats
# each RUNS times, and reports the median and the spread ((max-min)/median).
# Output in OUT: results.json ({"meta": {...}, "rows": [...]}), results.csv,
# SCENARIO.md tables and SCENARIO.png charts (gnuplot).
#
# Traffic stays on the machine: virtio-user guests on unix sockets, and
# namespaces addressed from 198.18.0.0/15 only.
set -uo pipefail

PVNET=${PVNET:-pvnet}
BENCH_BIN=
OUT=bench-results
RUNS=3
SECS=3
scenarios=()
all="copy notify mq bridge lro"

usage() {
	cat <<USAGE
usage: pvnet bench [SCENARIO...] [--quick] [--out DIR] [--list]

Scenarios (default: all):
  copy    single vs double copy guest -> guest at 64, 1518, 9018 and 60000 B
          (seed 004: one copy from the sender's buffer into the receiver's)
  notify  poll / event / adaptive notification at full and at 10 % load:
          throughput, switch CPU, kicks and interrupts per packet (seed 003)
  mq      queue pairs 1..2 x workers 1..2 with 8 flows (seed 002)
  bridge  learn vs direct forwarding, guest -> guest (seed 004)
  lro     TCP bulk through the switch into a guest namespace: GRO off / poll
          + linearize / poll / every=2 / adaptive, plus a memcpy floor (000/001)

  --quick   one run per variant, 1 s each (default: 3 runs of 3 s)
  --out DIR where to write results (default: bench-results)
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) RUNS=1; SECS=1 ;;
	--out) OUT=$2; shift ;;
	--list) echo "$all"; exit 0 ;;
	-h|--help) usage; exit 0 ;;
	--pvnet) PVNET=$2; BENCH_BIN=$(dirname "$2")/bench; shift ;;
	-*) echo "pvnet bench: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) case " $all " in *" $1 "*) scenarios+=("$1") ;;
	   *) echo "pvnet bench: unknown scenario $1 (known: $all)" >&2; exit 2 ;;
	   esac ;;
	esac
	shift
done
[ ${#scenarios[@]} -eq 0 ] && read -ra scenarios <<<"$all"

need() {
	local missing=()
	for c in "$@"; do command -v "$c" >/dev/null || missing+=("$c"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "pvnet bench: installing ${missing[*]}" >&2
	local pk=()
	for c in "${missing[@]}"; do
		case $c in gnuplot) pk+=(gnuplot-nox) ;; nc) pk+=(netcat-openbsd) ;; *) pk+=("$c") ;; esac
	done
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pk[@]}" >/dev/null
}
need jq gnuplot iperf3 ip

mkdir -p "$OUT"
T=$(mktemp -d /tmp/pvnet-bench.XXXXXX)
pids=()
netnses=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	for n in "${netnses[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
ROWS=$T/rows.jsonl
: >"$ROWS"

tsc_hz=$(dmesg 2>/dev/null | grep -o 'tsc: Refined TSC clocksource calibration: [0-9.]* MHz' |
	 grep -o '[0-9.]* MHz' | head -1 | awk '{printf "%d", $1 * 1e6}')
CLK=$(getconf CLK_TCK)

progress() { printf '\r\033[K%s' "$*" >&2; }

cpu_ticks() {	# utime+stime of a PID, in clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

wait_ctl() {
	for _ in $(seq 100); do "$PVNET" stats --ctl "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}

# one_stream CTL GENSOCK SINKSOCK SIZE RATE QUEUES FLOWS -> $T/m.json
# Runs a sink and a generator for SECS seconds and measures both ends and
# the switch. Writes one JSON object of raw figures.
one_stream() {
	local ctl=$1 gs=$2 ss=$3 size=$4 rate=$5 queues=$6 flows=$7 swpid=$8
	local s0 s1 g0 sk0 js0 js1 gpid spid
	js0=$("$PVNET" stats --ctl "$ctl" --json)
	"$PVNET" guest --connect "$ss" --mac 02:00:00:00:be:02 --queues "$queues" \
		--sink --idle-timeout 1 --duration $((SECS + 5)) >"$T/sink.out" 2>/dev/null &
	spid=$!
	pids+=($spid)
	sleep 0.3
	s0=$(cpu_ticks "$swpid")
	local extra=()
	[ "$flows" -gt 0 ] && extra=(--flows "$flows")
	"$PVNET" guest --connect "$gs" --mac 02:00:00:00:be:01 --queues "$queues" \
		--gen --dst 02:00:00:00:be:02 --size "$size" --rate "$rate" \
		--duration "$SECS" "${extra[@]}" >"$T/gen.out" 2>/dev/null &
	gpid=$!
	pids+=($gpid)
	wait $gpid
	g0=$(awk '{print $14 + $15}' /proc/$spid/stat 2>/dev/null || echo 0)
	s1=$(cpu_ticks "$swpid")
	wait $spid
	js1=$("$PVNET" stats --ctl "$ctl" --json)
	jq -n --argjson a "$js0" --argjson b "$js1" --slurpfile g "$T/gen.out" \
		--slurpfile k "$T/sink.out" --arg sw "$((s1 - s0))" --arg clk "$CLK" \
		--arg tsc "${tsc_hz:-0}" --arg secs "$SECS" '
	  def sum(f): [f] | add // 0;
	  ($b.tsc_hz // ($tsc | tonumber)) as $hz |
	  ($k[0].frames) as $pk | ($k[0].frame_bytes) as $by |
	  (sum($b.workers[].busy_cycles) - sum($a.workers[].busy_cycles)) as $cyc |
	  (sum($b.ports[0].rxq_kicks[]) - sum($a.ports[0].rxq_kicks[])) as $kicks |
	  (sum($b.ports[1].txq_irqs[]) - sum($a.ports[1].txq_irqs[])) as $irqs |
	  (sum($b.ports[].dropped) - sum($a.ports[].dropped)) as $drops |
	  {gbps: $k[0].gbps, mpps: $k[0].mpps, pkts: $pk, bytes: $by,
	   backend_cpp: (if $pk > 0 then $cyc / $pk else 0 end),
	   backend_cpb: (if $by > 0 then $cyc / $by else 0 end),
	   switch_cpu: (($sw | tonumber) / ($clk | tonumber) / ($secs | tonumber)),
	   guest_cpb: 0, agg: 1,
	   kicks_per_pkt: (if $pk > 0 then $kicks / $pk else 0 end),
	   irqs_per_pkt: (if $pk > 0 then $irqs / $pk else 0 end),
	   drops: $drops, offered_mpps: $g[0].mpps}' >"$T/m.json"
}

# stat_rows SCENARIO VARIANT FILE...: median and spread over runs -> a row
add_row() {
	local scenario=$1 variant=$2
	shift 2
	jq -s --arg s "$scenario" --arg v "$variant" '
	  def med(f): (map(f) | sort) as $x | if ($x | length) == 0 then 0
	      else $x[(($x | length) - 1) / 2 | floor] end;
	  def spread(f): (map(f) | sort) as $x | med(f) as $m |
	      if $m == 0 then 0 else (($x[-1] - $x[0]) / $m) end;
	  {scenario: $s, variant: $v, gbps: med(.gbps), mpps: med(.mpps),
	   backend_cpb: med(.backend_cpb), backend_cpp: med(.backend_cpp),
	   guest_cpb: med(.guest_cpb), agg: med(.agg),
	   kicks_per_pkt: med(.kicks_per_pkt), irqs_per_pkt: med(.irqs_per_pkt),
	   drops: med(.drops), switch_cpu: med(.switch_cpu), runs: length,
	   spread: spread(.gbps)}' "$@" >>"$ROWS"
}

start_switch() {	# start_switch NAME SWITCH-ARGS... (ports gen/sink)
	local name=$1
	shift
	"$PVNET" switch --ctl "$T/$name.ctl" "$@" 2>"$T/$name.log" &
	swpid=$!
	pids+=($swpid)
	wait_ctl "$T/$name.ctl"
}

stream_variant() {	# SCENARIO VARIANT SIZE RATE QUEUES FLOWS -- SWITCH-ARGS...
	local sc=$1 var=$2 size=$3 rate=$4 queues=$5 flows=$6
	shift 7
	local files=()
	start_switch sw "$@" \
		--port "vhost,name=gen,path=$T/g.sock,mac=02:00:00:00:be:01,queues=$queues" \
		--port "vhost,name=sink,path=$T/s.sock,mac=02:00:00:00:be:02,queues=$queues"
	for r in $(seq "$RUNS"); do
		progress "$sc: $var, run $r/$RUNS"
		one_stream "$T/sw.ctl" "$T/g.sock" "$T/s.sock" "$size" "$rate" "$queues" "$flows" "$swpid"
		cp "$T/m.json" "$T/m.$r.json"
		files+=("$T/m.$r.json")
	done
	kill "$swpid"
	wait "$swpid" 2>/dev/null
	add_row "$sc" "$var" "${files[@]}"
}

sc_copy() {
	for size in 64 1518 9018 60000; do
		for copy in single double; do
			stream_variant copy "$copy ${size}B" "$size" 0 1 0 -- --copy "$copy"
		done
	done
}

sc_notify() {
	local full
	for mode in poll event adaptive; do
		stream_variant notify "$mode full" 1518 0 1 0 -- --notify "$mode"
	done
	# 10 % of what the adaptive run delivered, as an offered rate
	full=$(jq -s 'map(select(.scenario == "notify" and .variant == "adaptive full")) | .[0].mpps' "$ROWS")
	full=$(awk -v m="$full" 'BEGIN { r = m * 1e6 * 0.1; if (r < 1000) r = 1000; printf "%d", r }')
	for mode in poll event adaptive; do
		stream_variant notify "$mode 10%" 1518 "$full" 1 0 -- --notify "$mode"
	done
}

sc_mq() {
	for q in 1 2; do
		for w in 1 2; do
			stream_variant mq "queues $q workers $w" 256 0 "$q" 8 -- --workers "$w"
		done
	done
}

sc_bridge() {
	stream_variant bridge "direct guest->guest" 1518 0 1 0 -- --mode direct
	stream_variant bridge "learn guest->guest" 1518 0 1 0 -- --mode learn
}

# lro: a gen uplink (the papers' remote sender, frames marked DATA_VALID as
# a NIC's receive checksum offload would) -> switch -> a guest that takes
# large packets; one optimisation switched at a time (seeds 000/001).
lro_variant() {	# VARIANT FLOWS SWITCH-ARGS...
	local var=$1 flows=$2
	shift 2
	local files=() spid js0 js1 s0 s1 k0 k1
	for r in $(seq "$RUNS"); do
		progress "lro: $var, run $r/$RUNS"
		start_switch lro "$@" \
			--port "vhost,name=sink,path=$T/ls.sock,mac=02:00:00:00:be:02" \
			--port "gen,name=gen,dst=02:00:00:00:be:02,flows=$flows,mss=1448"
		"$PVNET" guest --connect "$T/ls.sock" --mac 02:00:00:00:be:02 --sink \
			--idle-timeout 1 --duration $((SECS + 5)) >"$T/sink.out" 2>/dev/null &
		spid=$!
		pids+=($spid)
		sleep 0.5
		js0=$("$PVNET" stats --ctl "$T/lro.ctl" --json)
		s0=$(cpu_ticks "$swpid")
		k0=$(cpu_ticks "$spid")
		sleep "$SECS"
		js1=$("$PVNET" stats --ctl "$T/lro.ctl" --json)
		s1=$(cpu_ticks "$swpid")
		k1=$(cpu_ticks "$spid")
		kill "$swpid"
		wait "$swpid" 2>/dev/null
		wait "$spid" 2>/dev/null
		jq -n --argjson a "$js0" --argjson b "$js1" --arg secs "$SECS" \
			--arg sw "$((s1 - s0))" --arg gk "$((k1 - k0))" --arg clk "$CLK" '
		  def sum(f): [f] | add // 0;
		  ($b.tsc_hz) as $hz | ($secs | tonumber) as $t |
		  ($b.ports[0].tx_pkts - $a.ports[0].tx_pkts) as $pk |
		  ($b.ports[0].tx_bytes - $a.ports[0].tx_bytes) as $by |
		  (sum($b.workers[].busy_cycles) - sum($a.workers[].busy_cycles)) as $cyc |
		  (sum($b.workers[].gro.in_segs) - sum($a.workers[].gro.in_segs)) as $in |
		  (sum($b.workers[].gro.out_pkts) - sum($a.workers[].gro.out_pkts)) as $out |
		  (sum($b.ports[1].rx_pkts) - sum($a.ports[1].rx_pkts)) as $segs |
		  (sum($b.ports[].dropped) - sum($a.ports[].dropped)) as $drops |
		  {gbps: ($by * 8 / $t / 1e9), mpps: ($segs / $t / 1e6), pkts: $pk,
		   bytes: $by,
		   backend_cpp: (if $segs > 0 then $cyc / $segs else 0 end),
		   backend_cpb: (if $by > 0 then $cyc / $by else 0 end),
		   switch_cpu: (($sw | tonumber) / ($clk | tonumber) / $t),
		   guest_cpb: (if $by > 0 then ($gk | tonumber) / ($clk | tonumber) * $hz / $by else 0 end),
		   agg: (if $out > 0 then $in / $out else 1 end),
		   kicks_per_pkt: 0,
		   irqs_per_pkt: (if $segs > 0 then (sum($b.ports[0].txq_irqs[]) - sum($a.ports[0].txq_irqs[])) / $segs else 0 end),
		   drops: $drops}' >"$T/l.$r.json"
		files+=("$T/l.$r.json")
	done
	add_row lro "$var" "${files[@]}"
}

sc_lro() {
	local floor
	for flows in 1 4; do
		lro_variant "off, $flows flow(s)" "$flows" --gro off
		lro_variant "poll+linearize, $flows flow(s)" "$flows" --gro poll --gro-linearize
		lro_variant "poll, $flows flow(s)" "$flows" --gro poll
		lro_variant "every=2, $flows flow(s)" "$flows" --gro every=2
		lro_variant "adaptive, $flows flow(s)" "$flows" --gro adaptive
	done
	# The floor: memcpy of the same segments, no switching at all.
	if [ -x "$BENCH_BIN/bench_copy" ]; then
		floor=$("$BENCH_BIN/bench_copy" 1448 "$SECS")
		jq -c '{scenario: "lro", variant: "memcpy floor (1448 B, cold)",
			gbps: .gbps, mpps: (.gbps * 1e9 / 8 / 1448 / 1e6),
			backend_cpb: .cycles_per_byte, backend_cpp: (.cycles_per_byte * 1448),
			guest_cpb: 0, agg: 1, kicks_per_pkt: 0, irqs_per_pkt: 0, drops: 0,
			switch_cpu: 0, runs: 1, spread: 0}' <<<"$floor" >>"$ROWS"
	fi
}

for s in "${scenarios[@]}"; do
	"sc_$s"
done
progress ""
echo >&2

commit=$(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
jq -s --arg m "$(uname -n)" --arg k "$(uname -r)" --arg t "${tsc_hz:-0}" \
	--arg c "$commit" --arg d "$(date -u +%FT%TZ)" --arg cpu "$(nproc)" \
	'{meta: {machine: $m, kernel: $k, tsc_hz: ($t | tonumber), commit: $c,
	  date: $d, cpus: ($cpu | tonumber)}, rows: .}' "$ROWS" >"$OUT/results.json"
jq -r '["scenario","variant","gbps","mpps","backend_cpb","backend_cpp","guest_cpb","agg","kicks_per_pkt","irqs_per_pkt","drops","runs","spread"],
       (.rows[] | [.scenario,.variant,.gbps,.mpps,.backend_cpb,.backend_cpp,.guest_cpb,.agg,.kicks_per_pkt,.irqs_per_pkt,.drops,.runs,.spread]) | @csv' \
	"$OUT/results.json" >"$OUT/results.csv"

for s in "${scenarios[@]}"; do
	md=$OUT/$s.md
	{
		echo "# $s"
		echo
		echo "| variant | Gbit/s | Mpps | switch cycles/pkt | switch cycles/byte | agg | kicks/pkt | irqs/pkt | switch CPU | drops | runs | spread |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
		jq -r --arg s "$s" '.rows[] | select(.scenario == $s) |
		  "| \(.variant) | \(.gbps * 100 | round / 100) | \(.mpps * 1000 | round / 1000) | \(.backend_cpp | round) | \(.backend_cpb * 1000 | round / 1000) | \(.agg * 100 | round / 100) | \(.kicks_per_pkt * 10000 | round / 10000) | \(.irqs_per_pkt * 10000 | round / 10000) | \(.switch_cpu * 100 | round)% | \(.drops) | \(.runs) | \(.spread * 100 | round)% |"' \
		  "$OUT/results.json"
	} >"$md"
	jq -r --arg s "$s" '.rows[] | select(.scenario == $s) | "\"\(.variant)\" \(.gbps)"' \
		"$OUT/results.json" >"$T/$s.dat"
	if [ -s "$T/$s.dat" ]; then
		gnuplot <<GP 2>/dev/null
set terminal pngcairo size 900,500 noenhanced
set output "$OUT/$s.png"
set title "pvnet bench: $s (median of $RUNS run(s))"
set style fill solid 0.6
set boxwidth 0.6
set ylabel "Gbit/s"
set xtics rotate by -30
set grid ytics
plot "$T/$s.dat" using 0:2:xtic(1) with boxes notitle
GP
	fi
	cat "$md"
	echo
done
echo "results: $OUT/results.json, $OUT/results.csv, $OUT/*.md, $OUT/*.png" >&2
