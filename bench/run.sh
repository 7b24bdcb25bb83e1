#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh - the scenarios behind `pvnet bench` (it execs this script).
#
# Each scenario runs its variants side by side in one invocation, repeats
# each RUNS times (peers, lro and vm in rounds: each variant once per round,
# for paired ratios), and reports the median and the spread
# ((max-min)/median).
# Output in OUT: results.json ({"meta": {...}, "rows": [...]}), results.csv,
# SCENARIO.md tables and SCENARIO.png charts (gnuplot).
#
# Traffic stays on the machine: virtio-user guests on unix sockets, and
# namespaces addressed from 198.18.0.0/15 only.
set -uo pipefail

PVNET=${PVNET:-pvnet}
IPERF3=${PVNET_BENCH_IPERF3:-iperf3}	# tcp/vxlan's iperf3 (a test makes one fail)
BENCH_BIN=
OUT=bench-results
RUNS=3
SECS=3
VM_SECS=5	# an iperf3 run into the TCG guest
scenarios=()
all="copy notify mq bridge lro peers tcp vm vxlan"

usage() {
	cat <<'USAGE'
usage: pvnet bench [SCENARIO...] [--quick] [--out DIR] [--list]

Scenarios (default: all):
  copy    single vs double copy guest -> guest at 64, 1518, 9018 and 60000 B
          (seed 004: one copy from the sender's buffer into the receiver's)
  notify  poll / event / adaptive notification at full and at 10 % load:
          throughput, switch CPU, kicks and interrupts per packet (seed 003)
  mq      queue pairs 1 and N x workers 1..N, N = CPUs (2..8), 8 flows
          (seed 002)
  bridge  learn vs direct forwarding, guest -> guest and uplink -> guest
          (seed 004)
  lro     TCP bulk through the switch into a guest namespace: GRO off / poll
          + linearize / poll / every=2 / adaptive, plus a memcpy floor (000/001),
          in rounds (each variant and the floor once per round); adaptive's
          "paired ratio" to the floor and to GRO off: the median of each
          round's ratio
  peers   DPDK's vhost loopback (testpmd virtio-user guest, start tx_first 32)
          with pvnet vs DPDK testpmd (net_vhost, io) as the switch, the
          guest in io and in mac forwarding (mac: it writes every frame):
          Mpps at 64 B, Gbit/s at 1518 B, ratio pvnet/DPDK (of the
          medians; "paired ratio": the median of each round's ratio),
          switch and guest testpmd busy cycles/pkt, measured after
          PEERS_WARMUP (default 4) s of traffic (installs dpdk-dev); io
          again with packed rings (rows "packed", PEERS_PACKED=0 skips);
          PEERS_PVNET_B=PATH adds a second pvnet build ("pvnet B" rows,
          ratio to pvnet), PEERS_VARIANTS="io mac packed gen",
          PEERS_SIZES="64 1518", PEERS_RUNS=N and PEERS_SWITCH_ARGS pick
          what runs, PEERS_GUEST_ARGS adds guest testpmd options and
          PEERS_TXFIRST=N its tx_first (docs/benchmarks.md)
  tcp     iperf3 namespace -> veth -> pvnet afpacket uplink -> pvnet guest
          TAP vs the kernel's veth + bridge: Gbit/s, cycles per byte (pvnet
          switch, pvnet guest and iperf3 apart, and their total), ratio
  vm      iperf3 into a QEMU (TCG) Linux guest: pvnet --gro off / poll /
          poll + linearize / every=2 / adaptive (--quick: off / adaptive)
          with the TAP uplink at tso=off, adaptive again at tso=on, vs
          DPDK testpmd (net_tap + net_vhost): throughput, aggregation;
          one boot, then rounds of one run per backend (QEMU reconnects),
          paired ratios adaptive / off and pvnet / DPDK; VM_RUNS=N rounds
  vxlan   iperf3 pvnet guest TAP <-> pvnet vxlan port -> veth -> Linux vxlan
          vs Linux vxlan <-> Linux vxlan on the same veth, both directions:
          Gbit/s, cycles per byte (pvnet switch, pvnet guest and iperf3
          apart, total vs the kernel path's iperf3), ratio
          (tcp, vxlan: a failed iperf3 run is retried once; its output and
          the pvnet logs are kept in DIR/failed/ and the report names it)

  --quick   one run per variant, 1 s each, vm 3 s (default: 3 runs of
            3 s, vm 5 s)
  --out DIR where to write results (default: bench-results)

The report (medians of the runs, ratios, goals, tables) is computed by
`pvnet bench report` from the raw per-run results; see
`pvnet bench report --help`.
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) RUNS=1; SECS=1; VM_SECS=3 ;;
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
# the source tree (for tests/peer/qemu): next to the binary, else the script
top=$(cd "$(dirname "$PVNET")/.." 2>/dev/null && pwd)
[ -n "$top" ] && [ -d "$top/tests/peer/qemu" ] || top=$(cd "$(dirname "$0")/.." && pwd)

need() {
	local missing=()
	for c in "$@"; do command -v "$c" >/dev/null || missing+=("$c"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "pvnet bench: installing ${missing[*]}" >&2
	local pk=()
	for c in "${missing[@]}"; do
		case $c in gnuplot) pk+=(gnuplot-nox) ;; qemu-system-x86_64) pk+=(qemu-system-x86) ;; dpdk-testpmd) pk+=(dpdk-dev) ;; nc) pk+=(netcat-openbsd) ;; *) pk+=("$c") ;; esac
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
	# PVNET_BENCH_KEEP=1 keeps the logs (switch, testpmd, guest serial)
	if [ -n "${PVNET_BENCH_KEEP:-}" ]; then echo "pvnet bench: logs kept in $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/testpmd.sh"
ROWS=$T/rows.jsonl
: >"$ROWS"

# The TSC rate: the kernel's refined calibration, else its first estimate,
# else what a switch measures (pvnet stats' tsc_hz).
tsc_hz=$(dmesg 2>/dev/null | grep -o 'tsc: Refined TSC clocksource calibration: [0-9.]* MHz' |
	 grep -o '[0-9.]* MHz' | head -1 | awk '{printf "%.0f", $1 * 1e6}')
[ -n "$tsc_hz" ] || tsc_hz=$(dmesg 2>/dev/null | grep -o 'tsc: Detected [0-9.]* MHz' |
	 grep -o '[0-9.]* MHz' | head -1 | awk '{printf "%.0f", $1 * 1e6}')
if [ -z "$tsc_hz" ]; then
	"$PVNET" switch --ctl "$T/tsc.ctl" --port "vhost,name=x,path=$T/tsc.sock" 2>/dev/null &
	p=$!
	wait_ctl_early() { for _ in $(seq 100); do "$PVNET" stats --ctl "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
	wait_ctl_early "$T/tsc.ctl" && tsc_hz=$("$PVNET" stats --ctl "$T/tsc.ctl" --json | jq '.tsc_hz // 0')
	kill "$p"
	wait "$p" 2>/dev/null
fi
CLK=$(getconf CLK_TCK)

SINK_ARGS=()	# more options for the sink guest
NO_PORT_MACS=	# non-empty: vhost ports without mac= (a learning bridge's view)
PIN_SWITCH=()	# e.g. (taskset -c 0): a prefix for the switch's command
PIN_GUEST=()	# and for the guests' (pvnet has no pinning option)

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
	${PIN_GUEST[@]+"${PIN_GUEST[@]}"} "$PVNET" guest --connect "$ss" \
		--mac 02:00:00:00:be:02 --queues "$queues" --sink --idle-timeout 1 --duration $((SECS + 5)) \
		${SINK_ARGS[@]+"${SINK_ARGS[@]}"} >"$T/sink.out" 2>/dev/null &
	spid=$!
	pids+=($spid)
	sleep 0.3
	s0=$(cpu_ticks "$swpid")
	local extra=()
	[ "$flows" -gt 0 ] && extra=(--flows "$flows")
	sk0=$(cpu_ticks "$spid")
	# the generator's CPU time: `times` in a subshell reports its child's
	(${PIN_GUEST[@]+"${PIN_GUEST[@]}"} "$PVNET" guest --connect "$gs" \
		--mac 02:00:00:00:be:01 --queues "$queues" \
		--gen --dst 02:00:00:00:be:02 --size "$size" --rate "$rate" \
		--duration "$SECS" "${extra[@]}" >"$T/gen.out" 2>/dev/null
	 times >"$T/gen.times") &
	gpid=$!
	pids+=($gpid)
	wait $gpid
	g0=$(cpu_ticks "$spid")
	s1=$(cpu_ticks "$swpid")
	wait $spid
	js1=$("$PVNET" stats --ctl "$ctl" --json)
	# guest CPU: the generator's whole life + the sink's over the same time
	local gsec
	gsec=$(awk -v k="$((g0 - sk0))" -v clk="$CLK" 'NR == 2 {
		split($0, t, " "); s = 0
		for (i = 1; i <= 2; i++) { split(t[i], m, "m"); sub("s", "", m[2]); s += m[1] * 60 + m[2] }
		printf "%.4f", s + k / clk }' "$T/gen.times")
	jq -n --argjson a "$js0" --argjson b "$js1" --slurpfile g "$T/gen.out" \
		--slurpfile k "$T/sink.out" --arg sw "$((s1 - s0))" --arg clk "$CLK" \
		--arg tsc "${tsc_hz:-0}" --arg secs "$SECS" --arg gsec "${gsec:-0}" '
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
	   guest_cpb: (if $by > 0 then ($gsec | tonumber) * $hz / $by else null end),
	   agg: 1,
	   kicks_per_pkt: (if $pk > 0 then $kicks / $pk else 0 end),
	   irqs_per_pkt: (if $pk > 0 then $irqs / $pk else 0 end),
	   drops: $drops, offered_mpps: $g[0].mpps}' >"$T/m.json"
}

# The report's arithmetic (medians, ratios, goals, tables) is `pvnet bench
# report` (src/ctl/bench_report.c, unit-tested); this script orchestrates.
# add_row SCENARIO VARIANT FILE...: one row from the runs' raw figures (one
# JSON object per run, any fields): the median of every field (null where
# a side does not measure it), runs, and spread = (max - min) / median of gbps.
add_row() {
	"$PVNET" bench report row "$@" >>"$ROWS"
}

# set_ratio SCENARIO NUM-VARIANT DEN-VARIANT FIELD: the NUM row gets
# ratio = NUM.FIELD / DEN.FIELD and ratio_to = DEN-VARIANT
set_ratio() {
	"$PVNET" bench report ratio "$ROWS" "$@"
}

# set_ratio_paired SCENARIO NUM-VARIANT FIELD [NUM.json DEN.json]...: the
# NUM row gets ratio_paired = the median over the pairs (two runs of one
# round, seconds apart) of NUM.FIELD / DEN.FIELD: each ratio is taken in
# one machine state, where the ratio of the medians mixes rounds
set_ratio_paired() {
	"$PVNET" bench report paired "$ROWS" "$@"
}

start_switch() {	# start_switch NAME SWITCH-ARGS... (ports gen/sink)
	local name=$1
	shift
	${PIN_SWITCH[@]+"${PIN_SWITCH[@]}"} "$PVNET" switch --ctl "$T/$name.ctl" "$@" 2>"$T/$name.log" &
	swpid=$!
	pids+=($swpid)
	wait_ctl "$T/$name.ctl"
}

stream_variant() {	# SCENARIO VARIANT SIZE RATE QUEUES FLOWS -- SWITCH-ARGS...
	local sc=$1 var=$2 size=$3 rate=$4 queues=$5 flows=$6
	shift 7
	local files=()
	local gm=,mac=02:00:00:00:be:01 sm=,mac=02:00:00:00:be:02
	[ -n "$NO_PORT_MACS" ] && gm= sm=
	start_switch sw "$@" \
		--port "vhost,name=gen,path=$T/g.sock$gm,queues=$queues" \
		--port "vhost,name=sink,path=$T/s.sock$sm,queues=$queues"
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
	# 10 % of what the adaptive run delivered, as an offered rate in
	# packets/s (Mpps x 1e5), at least 1000
	full=$("$PVNET" bench report scale "$ROWS" notify "adaptive full" mpps 1e5 1000)
	for mode in poll event adaptive; do
		stream_variant notify "$mode 10%" 1518 "$full" 1 0 -- --notify "$mode"
	done
	# the goal: adaptive's CPU at 10 % load as a share of busy poll's
	set_ratio notify "adaptive 10%" "poll 10%" switch_cpu
	set_ratio notify "event 10%" "poll 10%" switch_cpu
}

# mq: queue pairs 1 and N x workers 1..N, N = the CPUs (at least 2, at
# most 8); 8 flows, so every queue has traffic
sc_mq() {
	local n q w qs
	n=$(nproc)
	[ "$n" -lt 2 ] && n=2
	[ "$n" -gt 8 ] && n=8
	qs="1 $n"
	for q in $qs; do
		for w in $(seq "$n"); do
			stream_variant mq "queues $q workers $w" 256 0 "$q" 8 -- --workers "$w"
		done
	done
	# scaling: Mpps of N queues x N workers over 1 x 1 (efficiency = ratio / N)
	set_ratio mq "queues $n workers $n" "queues 1 workers 1" mpps
}

sc_bridge() {
	stream_variant bridge "direct guest->guest" 1518 0 1 0 -- --mode direct
	SINK_ARGS=(--announce) NO_PORT_MACS=1
	stream_variant bridge "learn guest->guest" 1518 0 1 0 -- --mode learn
	SINK_ARGS=() NO_PORT_MACS=
	uplink_variant bridge "direct uplink->guest" 1 --mode direct --gro off
	SINK_ARGS=(--announce) NO_PORT_MACS=1
	uplink_variant bridge "learn uplink->guest" 1 --mode learn --gro off
	SINK_ARGS=() NO_PORT_MACS=
}

# lro: a gen uplink (the papers' remote sender, frames marked DATA_VALID as
# a NIC's receive checksum offload would) -> switch -> a guest that takes
# large packets; one optimisation switched at a time (seeds 000/001).
# uplink_run FLOWS OUT SWITCH-ARGS...: one run of a gen uplink port ->
# switch -> a `pvnet guest --sink`, its raw figures as JSON into OUT
uplink_run() {
	local flows=$1 out=$2 sm=,mac=02:00:00:00:be:02
	shift 2
	[ -n "$NO_PORT_MACS" ] && sm=
	local spid js0 js1 s0 s1 k0 k1
	start_switch lro "$@" \
		--port "vhost,name=sink,path=$T/ls.sock$sm" \
		--port "gen,name=gen,dst=02:00:00:00:be:02,flows=$flows,mss=1448"
	"$PVNET" guest --connect "$T/ls.sock" --mac 02:00:00:00:be:02 --sink \
		--idle-timeout 1 --duration $((SECS + 5)) \
		${SINK_ARGS[@]+"${SINK_ARGS[@]}"} >"$T/sink.out" 2>/dev/null &
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
	  # the gen port is the remote sender: its frame writing is not
	  # the switch'"'"'s work (it runs in the worker'"'"'s receive stage)
	  (sum($b.ports[].gen_cycles // 0) - sum($a.ports[].gen_cycles // 0)) as $gen |
	  (sum($b.workers[].busy_cycles) - sum($a.workers[].busy_cycles) - $gen) as $cyc |
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
	   sender_cpb: (if $by > 0 then $gen / $by else null end),
	   drops: $drops}' >"$out"
}

# uplink_variant SCENARIO VARIANT FLOWS SWITCH-ARGS...: RUNS runs of
# uplink_run, one row
uplink_variant() {
	local sc=$1 var=$2 flows=$3 files=() r
	shift 3
	for r in $(seq "$RUNS"); do
		progress "$sc: $var, run $r/$RUNS"
		uplink_run "$flows" "$T/l.$r.json" "$@"
		files+=("$T/l.$r.json")
	done
	add_row "$sc" "$var" "${files[@]}"
}

# round_order N R: the indexes 0..N-1 in round R's order: round R starts
# at index 2(R-1) mod N and even rounds run backwards, so no variant is
# always first and a pair of variants does not always run in one order
round_order() {
	local n=$1 r=$2 i k s
	s=$(((2 * (r - 1)) % n))
	for ((k = 0; k < n; k++)); do
		i=$(((s + k) % n))
		[ $((r % 2)) -eq 0 ] && i=$(((s + n - 1 - k) % n))
		echo "$i"
	done
}

# sc_lro: the variants of one flow count run in rounds (issue 14): round r
# runs each variant once, and the memcpy floor once, in round_order; the
# adaptive rows' paired ratios (to the floor, and to GRO off) are the
# median of the rounds' ratios, each taken within one round (~30 s), where
# the ratio of the medians mixes the host's speed of different minutes.
LRO_FLOOR="memcpy floor (1448 B, cold)"
sc_lro() {
	local flows r i f name floors=() pf po fl=
	local -A runs got
	local names=(off poll+linearize poll every=2 adaptive floor)
	local args=("--gro off" "--gro poll --gro-linearize" "--gro poll"
		    "--gro every=2" "--gro adaptive" "")
	[ -x "$BENCH_BIN/bench_copy" ] && fl=1
	for flows in 1 4; do
		runs=() pf=() po=()
		for r in $(seq "$RUNS"); do
			got=()
			for i in $(round_order ${#names[@]} "$r"); do
				name=${names[$i]}
				f=$T/lro.$flows.$i.$r.json
				if [ "$name" = floor ]; then
					[ -n "$fl" ] || continue
					progress "lro: memcpy floor, round $r/$RUNS"
					lro_floor_run "$f" || continue
					floors+=("$f")
				else
					progress "lro: $name, $flows flow(s), round $r/$RUNS"
					# shellcheck disable=SC2086 # the options are words
					uplink_run "$flows" "$f" ${args[$i]}
				fi
				runs[$name]+=" $f"
				got[$name]=$f
			done
			# this round's adaptive run and its two references
			[ -n "${got[adaptive]:-}" ] && [ -n "${got[floor]:-}" ] &&
				pf+=("${got[adaptive]}" "${got[floor]}")
			[ -n "${got[adaptive]:-}" ] && [ -n "${got[off]:-}" ] &&
				po+=("${got[adaptive]}" "${got[off]}")
		done
		for i in 0 1 2 3 4; do
			name=${names[$i]}
			# shellcheck disable=SC2086 # a list of file names
			[ -n "${runs[$name]:-}" ] && add_row lro "$name, $flows flow(s)" ${runs[$name]}
		done
		name="adaptive, $flows flow(s)"
		set_ratio_paired lro "$name" backend_cpb --key ratio_paired_off ${po[@]+"${po[@]}"}
		[ -n "$fl" ] && set_ratio_paired lro "$name" backend_cpb ${pf[@]+"${pf[@]}"}
	done
	# The floor: memcpy of the same segments, no switching at all; its
	# runs of both flow counts make one row.
	[ ${#floors[@]} -gt 0 ] || return 0
	add_row lro "$LRO_FLOOR" "${floors[@]}"
	# the goal: the switch's cycles per byte within 2x of the floor
	for flows in 1 4; do
		set_ratio lro "adaptive, $flows flow(s)" "$LRO_FLOOR" backend_cpb
	done
}

# lro_floor_run OUT: one run of bench_copy (memcpy of 1448 B segments, cold)
# for SECS seconds, as a run's raw figures into OUT
lro_floor_run() {
	local floor
	floor=$("$BENCH_BIN/bench_copy" 1448 "$SECS") || return 1
	jq -c '{gbps: .gbps, mpps: (.gbps * 1e9 / 8 / 1448 / 1e6),
		backend_cpb: .cycles_per_byte, backend_cpp: (.cycles_per_byte * 1448),
		guest_cpb: null, agg: null, kicks_per_pkt: null, irqs_per_pkt: null,
		drops: null, switch_cpu: null}' <<<"$floor" >"$1"
}

# peers: DPDK's own vhost loopback topology. One testpmd (the guest, on
# CPU 1) with two virtio-user ports in io forwarding, `start tx_first 32`:
# the frames circulate guest port 0 -> switch -> guest port 1 -> (io fwd)
# -> guest port 0 ... The switch (on CPU 0) is pvnet with two vhost ports
# (each port's mac= is its virtio-user port's mac=, and each port's
# eth-peer is the other port's MAC, so direct forwarding crosses them), or
# DPDK testpmd with two net_vhost ports in io forwarding.
PA_MAC=02:00:00:00:b0:01
PB_MAC=02:00:00:00:b0:02

# Seconds of traffic before a peers run is measured: pvnet maps the guest's
# memory without populating it, so its first seconds are page faults (1.1
# -> 4.4 Mpps over 3-4 s at 64 B, ~160k minor faults); measured after this,
# both switches are compared in their steady state.
PEERS_WARMUP=${PEERS_WARMUP:-4}
# PEERS_PACKED=1 (default): io forwarding is measured a second time with
# the guest testpmd's virtio-user rings packed (packed_vq=1,
# VIRTIO_F_RING_PACKED) on both switches, rows "packed ..."; 0 skips it
PEERS_PACKED=${PEERS_PACKED:-1}
PEERS_VQ=
# An A/B of two pvnet builds: PEERS_PVNET_B=/path/to/other/pvnet adds a
# third switch, "pvnet B", run in turn with pvnet and DPDK in every run
# (rows "pvnet B switch, ...", ratio to pvnet; ratio_dpdk to DPDK).
# PEERS_VARIANTS picks variants among io mac packed gen (gen: the pvnet
# guest gen->sink rows), PEERS_SIZES sizes among 64 1518: e.g.
# PEERS_VARIANTS=io PEERS_SIZES=64 for a quick A/B. PEERS_SWITCH_ARGS:
# more `pvnet switch` options for both pvnet builds (e.g. --stage-cycles).
PEERS_PVNET_B=${PEERS_PVNET_B:-}
PEERS_VARIANTS=${PEERS_VARIANTS:-}
PEERS_SIZES=${PEERS_SIZES:-64 1518}
PEERS_SWITCH_ARGS=${PEERS_SWITCH_ARGS:-}
# PEERS_GUEST_ARGS: more testpmd options for the guest testpmd, the same
# behind every switch (e.g. --record-burst-stats: with PVNET_BENCH_KEEP=1
# its log, pgu.log, shows the guest's receive burst sizes)
PEERS_GUEST_ARGS=${PEERS_GUEST_ARGS:-}
# PEERS_TXFIRST: the guest starts with `start tx_first N`, N bursts of 32
# frames circulating in the loop (default 32, DPDK's own loopback test's)
PEERS_TXFIRST=${PEERS_TXFIRST:-32}
# PEERS_RUNS: runs per switch and variant (default: RUNS, 3, --quick 1)
PEERS_RUNS=${PEERS_RUNS:-}

# peers_settle PID: returns once PID takes < 100 minor faults in 0.5 s
# (at most 60 tries)
peers_settle() {
	local f0 f1
	f1=$(awk '{print $10}' "/proc/$1/stat" 2>/dev/null) || return 0
	for _ in $(seq 60); do
		f0=$f1
		sleep 0.5
		f1=$(awk '{print $10}' "/proc/$1/stat" 2>/dev/null) || return 0
		[ $((f1 - f0)) -lt 100 ] && return 0
	done
}

# peers_run KIND SIZE OUT [FWD]: one run, raw figures as JSON into OUT; the
# guest forwards in FWD mode: io (default: frames pass untouched) or mac
# (the guest rewrites each frame's addresses: it writes every frame).
# KIND: pvnet, pvnetb (the PEERS_PVNET_B build) or dpdk
peers_run() {
	local kind=$1 size=$2 out=$3 fwd=${4:-io} sw js0=null js1=null r0 r1 t0 t1 s0 s1 k0 k1
	local gb='' sb=''
	local a=$T/pa.sock b=$T/pb.sock pv=$PVNET
	[ "$kind" = pvnetb ] && pv=$PEERS_PVNET_B kind=pvnet
	rm -f "$a" "$b"
	if [ "$kind" = pvnet ]; then
		# shellcheck disable=SC2086 # PEERS_SWITCH_ARGS: words on purpose
		taskset -c 0 "$pv" switch --ctl "$T/pw.ctl" $PEERS_SWITCH_ARGS \
			--port "vhost,name=a,path=$a,mac=$PA_MAC" \
			--port "vhost,name=b,path=$b,mac=$PB_MAC" 2>"$T/pw.log" &
		sw=$!
		pids+=($sw)
		wait_ctl "$T/pw.ctl" || { echo "peers: pvnet switch did not start" >&2; return 1; }
	else
		tp_start psw '0@0,1@0' --vdev "net_vhost0,iface=$a,queues=1" \
			--vdev "net_vhost1,iface=$b,queues=1" -- -i --nb-cores=1 \
			--rxq=1 --txq=1 --forward-mode=io --record-core-cycles ||
			{ echo "peers: testpmd switch did not start" >&2; tp_quit psw; return 1; }
		tp_cmd psw start
		sw=$tp_pid_psw
	fi
	# shellcheck disable=SC2086 # PEERS_GUEST_ARGS: words on purpose
	if ! tp_start pgu '0@1,1@1' \
		--vdev "net_virtio_user0,path=$a,queues=1,mac=$PA_MAC,mrg_rxbuf=1$PEERS_VQ" \
		--vdev "net_virtio_user1,path=$b,queues=1,mac=$PB_MAC,mrg_rxbuf=1$PEERS_VQ" \
		-- -i --nb-cores=1 --rxq=1 --txq=1 --forward-mode="$fwd" \
		--eth-peer=0,$PB_MAC --eth-peer=1,$PA_MAC --txpkts="$size" \
		--record-core-cycles $PEERS_GUEST_ARGS; then
		echo "peers: testpmd guest did not start" >&2
		tail -n 5 "$T/pgu.log" >&2
		tp_quit pgu
		[ "$kind" = pvnet ] && { kill "$sw"; wait "$sw" 2>/dev/null; } || tp_quit psw
		return 1
	fi
	tp_cmd pgu "start tx_first $PEERS_TXFIRST"
	sleep "$PEERS_WARMUP"
	# A loaded machine stretches pvnet's page faults past PEERS_WARMUP
	# (3-4 s quiet, 8+ s with other work on both CPUs): measured then, a
	# run reads 10-30x too slow. Wait (up to 30 s more) until the switch
	# stops faulting: under 100 minor faults in half a second.
	[ "$kind" = pvnet ] && peers_settle "$sw"
	[ "$kind" = pvnet ] && js0=$("$pv" stats --ctl "$T/pw.ctl" --json)
	r0=$(tp_ports pgu 2)
	# the testpmds' own busy cycles over the window: zeroed here (while
	# forwarding goes on), read after r1 (guest_busy_cpp; DPDK's busy_cpp)
	tp_cmd pgu "clear fwd stats all"
	[ "$kind" = pvnet ] || tp_cmd psw "clear fwd stats all"
	t0=$(date +%s.%N)
	s0=$(cpu_ticks "$sw")
	k0=$(cpu_ticks "$tp_pid_pgu")
	sleep "$SECS"
	r1=$(tp_ports pgu 2)
	t1=$(date +%s.%N)
	s1=$(cpu_ticks "$sw")
	k1=$(cpu_ticks "$tp_pid_pgu")
	[ "$kind" = pvnet ] && js1=$("$pv" stats --ctl "$T/pw.ctl" --json)
	gb=$(tp_fwd_cycles pgu)
	[ "$kind" = pvnet ] || sb=$(tp_fwd_cycles psw)
	tp_cmd pgu stop
	sleep 0.2
	tp_quit pgu
	if [ "$kind" = pvnet ]; then
		kill "$sw"
		wait "$sw" 2>/dev/null
	else
		tp_quit psw
	fi
	jq -n --argjson a "$js0" --argjson b "$js1" --arg r0 "$r0" --arg r1 "$r1" \
		--arg dt "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
		--arg sw "$((s1 - s0))" --arg gk "$((k1 - k0))" --arg clk "$CLK" \
		--arg hz "${tsc_hz:-0}" --arg gb "$gb" --arg sb "$sb" '
	  def sum(f): [f] | add // 0;
	  # "CYCLES PACKETS" from testpmd (tp_fwd_cycles) -> cycles/pkt, or null
	  def tp_cpp: split(" ") | map(tonumber) |
	    if length == 2 and .[1] > 0 then .[0] / .[1] else null end;
	  ($r0 | split(" ") | map(tonumber)) as $x0 |
	  ($r1 | split(" ") | map(tonumber)) as $x1 |
	  ($dt | tonumber) as $t | ($hz | tonumber) as $hz | ($clk | tonumber) as $clk |
	  ($x1[0] - $x0[0]) as $pk | ($x1[1] - $x0[1]) as $by |
	  (($sw | tonumber) / $clk * $hz) as $swc |
	  (($gk | tonumber) / $clk * $hz) as $gc |
	  {gbps: ($by * 8 / $t / 1e9), mpps: ($pk / $t / 1e6), pkts: $pk, bytes: $by,
	   backend_cpp: (if $pk > 0 then $swc / $pk else null end),
	   backend_cpb: (if $by > 0 then $swc / $by else null end),
	   guest_cpb: (if $by > 0 then $gc / $by else null end),
	   switch_cpu: (($sw | tonumber) / $clk / $t), agg: 1,
	   busy_cpp: (if $a == null then ($sb | tp_cpp) elif $pk == 0 then null else
	       (sum($b.workers[].busy_cycles) - sum($a.workers[].busy_cycles)) / $pk end),
	   guest_busy_cpp: ($gb | tp_cpp),
	   kicks_per_pkt: (if $a == null or $pk == 0 then null else
	       (sum($b.ports[].rxq_kicks[]) - sum($a.ports[].rxq_kicks[])) / $pk end),
	   stage_rx_cpp: (if $a == null or $pk == 0 then null else
	       (sum($b.workers[].stage_cycles.rx) - sum($a.workers[].stage_cycles.rx)) / $pk end),
	   stage_classify_cpp: (if $a == null or $pk == 0 then null else
	       (sum($b.workers[].stage_cycles.classify) -
	        sum($a.workers[].stage_cycles.classify)) / $pk end),
	   stage_deliver_cpp: (if $a == null or $pk == 0 then null else
	       (sum($b.workers[].stage_cycles.deliver) -
	        sum($a.workers[].stage_cycles.deliver)) / $pk end),
	   stage_notify_cpp: (if $a == null or $pk == 0 then null else
	       (sum($b.workers[].stage_cycles.notify) - sum($a.workers[].stage_cycles.notify)) / $pk end),
	   irqs_per_pkt: (if $a == null or $pk == 0 then null else
	       (sum($b.ports[].txq_irqs[]) - sum($a.ports[].txq_irqs[])) / $pk end),
	   drops: (if $a == null then (($x1[2] - $x0[2]) - $pk | if . < 0 then 0 else . end)
	           else (sum($b.ports[].dropped) - sum($a.ports[].dropped)) end)}' >"$out"
}

sc_peers() {
	need dpdk-testpmd || { echo "peers: no dpdk-testpmd, skipped" >&2; return 0; }
	local size kind r files_p files_d files_b f fwd tag variants kinds=(pvnet dpdk)
	local rp rd rb pairs_pd pairs_bp got_p got_d got_b ki
	if [ -n "$PEERS_VARIANTS" ]; then
		read -ra variants <<<"$PEERS_VARIANTS"
	else
		variants=(io mac)
		[ "$PEERS_PACKED" = 1 ] && variants+=(packed)
		variants+=(gen)
	fi
	if [ -n "$PEERS_PVNET_B" ]; then
		[ -x "$PEERS_PVNET_B" ] ||
			{ echo "peers: PEERS_PVNET_B=$PEERS_PVNET_B is not executable" >&2; return 1; }
		kinds=(pvnet pvnetb dpdk)
	fi
	for fwd in "${variants[@]}"; do
		# io keeps the rows' names of earlier runs; mac is issue 14's
		# variant; packed is io over packed rings (split vs packed)
		tag= PEERS_VQ=
		case $fwd in
		io) ;;
		mac) tag="mac " ;;
		packed) tag="packed " PEERS_VQ=,packed_vq=1 fwd=io ;;
		gen) continue ;;
		*) echo "peers: unknown variant $fwd (io mac packed gen)" >&2; continue ;;
		esac
		for size in $PEERS_SIZES; do
			files_p=() files_d=() files_b=() pairs_pd=() pairs_bp=()
			for r in $(seq "${PEERS_RUNS:-$RUNS}"); do
				# alternate the switches run by run: the same noise for all;
				# the order rotates per round (round_order): the first run of
				# a round tends to do better on a shared host
				got_p='' got_d='' got_b=''
				for ki in $(round_order "${#kinds[@]}" "$r"); do
					kind=${kinds[$ki]}
					progress "peers: $kind ${fwd} ${size}B, run $r/${PEERS_RUNS:-$RUNS}"
					f=$T/peers.$kind.${PEERS_VQ:+packed.}$fwd.$size.$r.json
					peers_run "$kind" "$size" "$f" "$fwd" || continue
					case $kind in
					pvnet) files_p+=("$f") got_p=$f ;;
					pvnetb) files_b+=("$f") got_b=$f ;;
					*) files_d+=("$f") got_d=$f ;;
					esac
				done
				# the round's runs, seconds apart, for the paired ratios
				[ -n "$got_p" ] && [ -n "$got_d" ] && pairs_pd+=("$got_p" "$got_d")
				[ -n "$got_b" ] && [ -n "$got_p" ] && pairs_bp+=("$got_b" "$got_p")
			done
			rp="pvnet switch, testpmd loopback ${tag}${size}B"
			rd="DPDK testpmd switch, testpmd loopback ${tag}${size}B"
			rb="pvnet B switch, testpmd loopback ${tag}${size}B"
			[ ${#files_p[@]} -gt 0 ] && add_row peers "$rp" "${files_p[@]}"
			[ ${#files_d[@]} -gt 0 ] && add_row peers "$rd" "${files_d[@]}"
			[ ${#files_b[@]} -gt 0 ] && add_row peers "$rb" "${files_b[@]}"
			if [ "$size" = 64 ]; then f=mpps; else f=gbps; fi
			set_ratio peers "$rp" "$rd" "$f"
			set_ratio_paired peers "$rp" "$f" ${pairs_pd[@]+"${pairs_pd[@]}"}
			if [ ${#files_b[@]} -gt 0 ]; then
				set_ratio peers "$rb" "$rp" "$f"
				set_ratio_paired peers "$rb" "$f" ${pairs_bp[@]+"${pairs_bp[@]}"}
				peers_ratio_dpdk "$rb" "$rd" "$f"
			fi
		done
	done
	case " ${variants[*]} " in *" gen "*) ;; *) return 0 ;; esac
	# (c) pvnet's own frontends in place of the virtio-user testpmd: one
	# gen -> sink stream (the copy scenario's "single" rows), same pinning
	PIN_SWITCH=(taskset -c 0) PIN_GUEST=(taskset -c 1)
	for size in $PEERS_SIZES; do
		stream_variant peers "pvnet switch, pvnet guest gen->sink ${size}B" "$size" 0 1 0 -- --copy single
	done
	PIN_SWITCH=() PIN_GUEST=()
}

# peers_ratio_dpdk NUM DEN FIELD: the NUM row (pvnet B, whose ratio is to
# pvnet) gets ratio_dpdk = NUM.FIELD / DEN.FIELD as well
peers_ratio_dpdk() {
	local tmp
	tmp=$(mktemp "$T/rows.XXXXXX") || return 1
	jq -c -s --arg n "$1" --arg d "$2" --arg f "$3" '
	  ([.[] | select(.scenario == "peers" and .variant == $d)][0][$f]) as $dv |
	  .[] | if .scenario == "peers" and .variant == $n then
	    .ratio_dpdk = (if $dv == null or $dv == 0 or .[$f] == null then null
	                   else .[$f] / $dv end)
	  else . end' "$ROWS" >"$tmp" && mv "$tmp" "$ROWS"
}

# netns_add NAME: a namespace with lo up, deleted at exit
netns_add() {
	ip netns del "$1" 2>/dev/null
	ip netns add "$1" || return 1
	netnses+=("$1")
	ip -n "$1" link set lo up
}

# tcp_iperf NS_CLIENT NS_SERVER ADDR PORT OUT [-R]: one iperf3 TCP stream
# of SECS seconds (-R: the server sends); its JSON (with both ends' CPU
# use) into OUT, the client's stderr and exit status into OUT.err and
# OUT.rc, the server's output into OUT.server (what a failure leaves)
tcp_iperf() {
	local nc=$1 ns=$2 addr=$3 port=$4 out=$5 sp rc
	ip netns exec "$ns" timeout $((SECS + 30)) "$IPERF3" -s -1 -p "$port" >"$out.server" 2>&1 &
	sp=$!
	pids+=($sp)
	sleep 0.3
	ip netns exec "$nc" timeout $((SECS + 20)) "$IPERF3" -c "$addr" -p "$port" \
		-t "$SECS" ${6:-} -J >"$out" 2>"$out.err"
	rc=$?
	echo "$rc" >"$out.rc"
	kill "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	[ $rc -eq 0 ] && jq -e '.end.sum_received.bytes > 0' "$out" >/dev/null 2>&1
}

# iperf_why OUT: why the tcp_iperf that wrote OUT failed, in one line
iperf_why() {
	local e rc
	rc=$(cat "$1.rc" 2>/dev/null)
	e=$(jq -r '.error // empty' "$1" 2>/dev/null)
	[ -n "$e" ] || e=$(head -n 1 "$1.err" 2>/dev/null)
	case $rc in
	124) echo "iperf3 client timed out (timeout $((SECS + 20)) s)${e:+: $e}" ;;
	0) echo "iperf3 received no bytes" ;;
	"") echo "iperf3 did not run" ;;
	*) echo "iperf3 client exit status $rc${e:+: $e}" ;;
	esac
}

# with_retry SCENARIO LABEL RUN PREFIX CMD...: CMD, one measured run that
# writes PREFIX.*; once more if it fails, so a transient failure (issue 15's
# missing row) costs a retry and not the row. Each failure leaves PREFIX.*,
# the logs named in KEEP_LOGS and the switch's stats (KEEP_CTL) in
# OUT/failed/, and says which run failed and why on stderr and in
# T/SCENARIO.failures (printed under the scenario's table).
with_retry() {
	local sc=$1 label=$2 run=$3 pre=$4 a why d l
	shift 4
	for a in 1 2; do
		rm -f "$pre".*
		"$@" && return 0
		why=$(iperf_why "$pre.ip.json")
		d=$OUT/failed/$(basename "$pre").$a
		mkdir -p "$d"
		cp "$pre".* "$d/" 2>/dev/null
		for l in ${KEEP_LOGS:-}; do cp "$l" "$d/" 2>/dev/null; done
		[ -n "${KEEP_CTL:-}" ] &&
			"$PVNET" stats --ctl "$KEEP_CTL" --json >"$d/stats.json" 2>&1
		echo "- $label, run $run, attempt $a of 2: $why (logs: $d)" >>"$T/$sc.failures"
		echo "$sc: $label, run $run, attempt $a of 2 failed: $why (logs: $d)" >&2
	done
	return 1
}

# tcp_row_json IPERF-JSON SWITCH-TICKS PVGUEST-TICKS STATS0 STATS1 OUT: raw
# figures of one run. The CPU ticks are the `pvnet switch`'s and the `pvnet
# guest`'s, measured apart (issue 14), "" for the kernel path, whose bridge
# work is inside the iperf3 processes' time. backend_* and switch_cpu are
# the switch's alone, pvguest_* the pvnet guest's, pvnet_cpb both (what
# backend_cpb was before they were split).
tcp_row_json() {
	jq --arg st "$2" --arg pt "$3" --argjson a "$4" --argjson b "$5" --arg clk "$CLK" \
		--arg hz "${tsc_hz:-0}" '
	  def sum(f): [f] | add // 0;
	  ($hz | tonumber) as $hz | ($clk | tonumber) as $clk |
	  .end.sum_received.bytes as $by | .end.sum_received.seconds as $t |
	  (((.end.cpu_utilization_percent.host_total / 100 * .end.sum_sent.seconds) +
	    (.end.cpu_utilization_percent.remote_total / 100 * $t)) * $hz) as $gc |
	  (if $st == "" then null else ($st | tonumber) / $clk * $hz end) as $sc |
	  (if $pt == "" then null else ($pt | tonumber) / $clk * $hz end) as $pc |
	  (if $sc == null then null else $sc + ($pc // 0) end) as $bc |
	  (if $a == null then null else
	      [$b.ports[] | select(.name == "up") | .rx_pkts][0] -
	      [$a.ports[] | select(.name == "up") | .rx_pkts][0] end) as $pk |
	  {gbps: (.end.sum_received.bits_per_second / 1e9),
	   mpps: (if $pk == null then null else $pk / $t / 1e6 end),
	   bytes: $by,
	   backend_cpb: (if $sc == null then null else $sc / $by end),
	   backend_cpp: (if $sc == null or ($pk // 0) == 0 then null else $sc / $pk end),
	   pvguest_cpb: (if $pc == null then null else $pc / $by end),
	   pvguest_cpp: (if $pc == null or ($pk // 0) == 0 then null else $pc / $pk end),
	   pvnet_cpb: (if $bc == null then null else $bc / $by end),
	   guest_cpb: ($gc / $by),
	   cpb_total: ((($bc // 0) + $gc) / $by),
	   switch_cpu: (if $sc == null then null else $sc / $hz / $t end),
	   pvguest_cpu: (if $pc == null then null else $pc / $hz / $t end),
	   agg: (if $a == null then null else
	       (sum($b.workers[].gro.in_segs) - sum($a.workers[].gro.in_segs)) as $in |
	       (sum($b.workers[].gro.out_pkts) - sum($a.workers[].gro.out_pkts)) as $o |
	       if $o > 0 then $in / $o else 1 end end),
	   kicks_per_pkt: (if ($pk // 0) == 0 then null else
	       (sum($b.ports[].rxq_kicks[]?) - sum($a.ports[].rxq_kicks[]?)) / $pk end),
	   irqs_per_pkt: (if ($pk // 0) == 0 then null else
	       (sum($b.ports[].txq_irqs[]?) - sum($a.ports[].txq_irqs[]?)) / $pk end),
	   drops: (if $a == null then null else
	       sum($b.ports[].dropped) - sum($a.ports[].dropped) end),
	   retransmits: .end.sum_sent.retransmits}' "$1" >"$6"
}

# pvnet_run CTL PREFIX ROW-JSON-FN NS_CLIENT NS_SERVER ADDR PORT [-R]: one
# tcp_iperf through a pvnet switch (CTL, PID $sw) and its `pvnet guest`
# (PID $gp), each process's CPU ticks over it apart -> PREFIX.json
pvnet_run() {
	local ctl=$1 pre=$2 fn=$3 js0 js1 s0 g0 s1 g1
	shift 3
	js0=$("$PVNET" stats --ctl "$ctl" --json)
	s0=$(cpu_ticks "$sw")
	g0=$(cpu_ticks "$gp")
	tcp_iperf "$1" "$2" "$3" "$4" "$pre.ip.json" ${5:-} || return 1
	s1=$(cpu_ticks "$sw")
	g1=$(cpu_ticks "$gp")
	js1=$("$PVNET" stats --ctl "$ctl" --json)
	"$fn" "$pre.ip.json" "$((s1 - s0))" "$((g1 - g0))" "$js0" "$js1" "$pre.json"
}

# tcp: iperf3 namespace -> veth -> pvnet afpacket uplink -> `pvnet guest
# --tap` namespace, and the kernel's veth + bridge between two namespaces.
sc_tcp() {
	local nh=pvb-th-$$ ns=pvb-ts-$$ ng=pvb-tg-$$ nb=pvb-tb-$$ k1=pvb-tk1-$$ k2=pvb-tk2-$$
	local v=pb$$ gm=02:00:00:00:b1:02 sw gp r f
	local fp=() ft=() fk=() fd=() off
	need ethtool || { echo "tcp: no ethtool, skipped" >&2; return 0; }
	for n in "$nh" "$ns" "$ng" "$nb" "$k1" "$k2"; do
		netns_add "$n" || { echo "tcp: cannot create namespaces" >&2; return 0; }
	done
	# pvnet: nh --veth--> ns (pvnet switch, afpacket) --vhost--> ng (TAP)
	ip link add "${v}h" type veth peer name "${v}s" || { echo "tcp: no veth" >&2; return 0; }
	ip link set "${v}h" netns "$nh"
	ip link set "${v}s" netns "$ns"
	ip -n "$nh" addr add 198.18.80.1/24 dev "${v}h"
	ip -n "$nh" link set "${v}h" up
	ip -n "$ns" link set "${v}s" up
	# the sender's TSO is set per run below (the uplink takes GSO frames)
	ip netns exec "$ns" "$PVNET" switch --ctl "$T/tcp.ctl" \
		--port "afpacket,name=up,ifname=${v}s" \
		--port "vhost,name=g,path=$T/tg.sock,mac=$gm" 2>"$T/tcp-switch.log" &
	sw=$!
	pids+=($sw)
	wait_ctl "$T/tcp.ctl" || { echo "tcp: switch did not start" >&2; return 0; }
	"$PVNET" guest --connect "$T/tg.sock" --mac "$gm" --tap pvbt0 --netns "$ng" \
		2>"$T/tcp-guest.log" &
	gp=$!
	pids+=($gp)
	for _ in $(seq 100); do ip -n "$ng" link show pvbt0 up >/dev/null 2>&1 && break; sleep 0.1; done
	ip -n "$ng" addr add 198.18.80.2/24 dev pvbt0
	# kernel: k1 --veth--> nb (bridge) <--veth-- k2
	ip link add "${v}a" type veth peer name "${v}b"
	ip link add "${v}c" type veth peer name "${v}d"
	ip link set "${v}a" netns "$k1"
	ip link set "${v}b" netns "$nb"
	ip link set "${v}c" netns "$k2"
	ip link set "${v}d" netns "$nb"
	ip -n "$nb" link add br0 type bridge
	ip -n "$nb" link set "${v}b" master br0
	ip -n "$nb" link set "${v}d" master br0
	for i in br0 "${v}b" "${v}d"; do ip -n "$nb" link set "$i" up; done
	ip -n "$k1" addr add 198.18.81.1/24 dev "${v}a"
	ip -n "$k2" addr add 198.18.81.2/24 dev "${v}c"
	ip -n "$k1" link set "${v}a" up
	ip -n "$k2" link set "${v}c" up
	ip netns exec "$nh" ping -c 2 -W 2 198.18.80.2 >/dev/null 2>&1
	ip netns exec "$k1" ping -c 2 -W 2 198.18.81.2 >/dev/null 2>&1
	for r in $(seq "$RUNS"); do
		# the three paths run by run: the same noise for each
		for off in same tso; do
			progress "tcp: pvnet (sender $off), run $r/$RUNS"
			if [ $off = same ]; then
				ip netns exec "$nh" ethtool -K "${v}h" tso off gso off >/dev/null 2>&1
			else
				ip netns exec "$nh" ethtool -K "${v}h" tso on gso on >/dev/null 2>&1
			fi
			f=$T/tcp.p$off.$r
			if KEEP_CTL=$T/tcp.ctl KEEP_LOGS="$T/tcp-switch.log $T/tcp-guest.log" \
				with_retry tcp "pvnet, sender $off" "$r" "$f" \
				pvnet_run "$T/tcp.ctl" "$f" tcp_row_json "$nh" "$ng" 198.18.80.2 5201; then
				if [ $off = same ]; then fp+=("$f.json"); else ft+=("$f.json"); fi
			fi
		done
		for off in same default; do
			progress "tcp: kernel ($off offloads), run $r/$RUNS"
			if [ $off = same ]; then
				ip netns exec "$k1" ethtool -K "${v}a" tso off gso off >/dev/null 2>&1
			else
				ip netns exec "$k1" ethtool -K "${v}a" tso on gso on >/dev/null 2>&1
			fi
			f=$T/tcp.k$off.$r
			if with_retry tcp "kernel, $off offloads" "$r" "$f" \
				tcp_iperf "$k1" "$k2" 198.18.81.2 5202 "$f.ip.json"; then
				tcp_row_json "$f.ip.json" "" "" null null "$f.json"
				if [ $off = same ]; then fk+=("$f.json"); else fd+=("$f.json"); fi
			fi
		done
	done
	kill "$gp" "$sw" 2>/dev/null
	wait "$gp" "$sw" 2>/dev/null
	local P="pvnet afpacket uplink -> pvnet guest TAP, sender TSO/GSO off"
	local PT="pvnet afpacket uplink -> pvnet guest TAP, sender TSO on"
	local K="kernel veth + bridge, sender TSO/GSO off"
	local KT="kernel veth + bridge, default offloads (TSO on)"
	[ ${#fp[@]} -gt 0 ] && add_row tcp "$P" "${fp[@]}"
	[ ${#ft[@]} -gt 0 ] && add_row tcp "$PT" "${ft[@]}"
	[ ${#fk[@]} -gt 0 ] && add_row tcp "$K" "${fk[@]}"
	[ ${#fd[@]} -gt 0 ] && add_row tcp "$KT" "${fd[@]}"
	set_ratio tcp "$P" "$K" cpb_total
	set_ratio tcp "$PT" "$KT" cpb_total
	for n in "$nh" "$ns" "$ng" "$nb" "$k1" "$k2"; do ip netns del "$n" 2>/dev/null; done
}

# vx_row_json IPERF-JSON SWITCH-TICKS PVGUEST-TICKS STATS0 STATS1 OUT: one
# run's raw figures. Cycles are CPU time x TSC over the bytes iperf3
# received: backend = the `pvnet switch` process, pvguest = the `pvnet
# guest` process (user + system, /proc/PID/stat, apart; "" for the kernel
# path), pvnet_cpb = both, guest = both iperf3 processes (user + system
# from iperf3 -J; without CONFIG_IRQ_TIME_ACCOUNTING a softirq is charged
# to the task it interrupts, so the kernel's vxlan, UDP, veth and TCP work
# done in their context is in it), cpb_total = all of them.
vx_row_json() {
	jq --arg st "$2" --arg pt "$3" --argjson a "$4" --argjson b "$5" --arg clk "$CLK" \
		--arg hz "${tsc_hz:-0}" '
	  def sum(f): [f] | add // 0;
	  def vx(s): [s.ports[]? | select(.vxlan) | .vxlan][0] // {};
	  ($hz | tonumber) as $hz | ($clk | tonumber) as $clk |
	  .end.sum_received.bytes as $by | .end.sum_received.seconds as $t |
	  (((.end.cpu_utilization_percent.host_total / 100 * .end.sum_sent.seconds) +
	    (.end.cpu_utilization_percent.remote_total / 100 * $t)) * $hz) as $gc |
	  (if $st == "" then null else ($st | tonumber) / $clk * $hz end) as $sc |
	  (if $pt == "" then null else ($pt | tonumber) / $clk * $hz end) as $pc |
	  (if $sc == null then null else $sc + ($pc // 0) end) as $bc |
	  (if $a == null then null else
	      ((vx($b).encap_pkts // 0) + (vx($b).decap_pkts // 0)) -
	      ((vx($a).encap_pkts // 0) + (vx($a).decap_pkts // 0)) end) as $dg |
	  {gbps: (.end.sum_received.bits_per_second / 1e9),
	   mpps: (if $dg == null then null else $dg / $t / 1e6 end),
	   bytes: $by,
	   backend_cpb: (if $sc == null then null else $sc / $by end),
	   backend_cpp: (if $sc == null or ($dg // 0) == 0 then null else $sc / $dg end),
	   pvguest_cpb: (if $pc == null then null else $pc / $by end),
	   pvguest_cpp: (if $pc == null or ($dg // 0) == 0 then null else $pc / $dg end),
	   pvnet_cpb: (if $bc == null then null else $bc / $by end),
	   guest_cpb: ($gc / $by),
	   cpb_total: ((($bc // 0) + $gc) / $by),
	   switch_cpu: (if $sc == null then null else $sc / $hz / $t end),
	   pvguest_cpu: (if $pc == null then null else $pc / $hz / $t end),
	   agg: (if $a == null then null else
	       (sum($b.workers[].gro.in_segs) - sum($a.workers[].gro.in_segs)) as $in |
	       (sum($b.workers[].gro.out_pkts) - sum($a.workers[].gro.out_pkts)) as $o |
	       if $o > 0 then $in / $o else 1 end end),
	   drops: (if $a == null then null else
	       sum($b.ports[].dropped) - sum($a.ports[].dropped) end),
	   retransmits: .end.sum_sent.retransmits}' "$1" >"$6"
}

# vxlan: iperf3 between a `pvnet guest --tap` namespace (TSO on, MTU 1450)
# and a Linux vxlan device in another namespace, through a pvnet switch's
# vxlan port over a veth underlay; against the kernel's own vxlan <-> vxlan
# over the same kind of veth (issue 15). Both directions, run by run.
sc_vxlan() {
	local n1=pvb-v1-$$ n2=pvb-v2-$$ ng=pvb-vg-$$ k1=pvb-vk1-$$ k2=pvb-vk2-$$
	local v=pv$$ gm=02:00:00:00:b2:02 sw gp r f dir R
	local fpf=() fpr=() fkf=() fkr=()
	need ethtool || { echo "vxlan: no ethtool, skipped" >&2; return 0; }
	for n in "$n1" "$n2" "$ng" "$k1" "$k2"; do
		netns_add "$n" || { echo "vxlan: cannot create namespaces" >&2; return 0; }
	done
	# pvnet: ng (TAP) --vhost--> n1 (pvnet switch, vxlan port) --veth--> n2 (vx42)
	ip link add "${v}a" type veth peer name "${v}b" || { echo "vxlan: no veth" >&2; return 0; }
	ip link set "${v}a" netns "$n1"
	ip link set "${v}b" netns "$n2"
	ip -n "$n1" addr add 198.18.82.1/24 dev "${v}a"
	ip -n "$n2" addr add 198.18.82.2/24 dev "${v}b"
	# a veth leaves the Linux vxlan's inner checksum partial on the way to
	# pvnet's socket (docs/vxlan.md): computed by its sender, as a NIC would
	ip netns exec "$n2" ethtool -K "${v}b" tx off >/dev/null 2>&1
	ip -n "$n1" link set "${v}a" up
	ip -n "$n2" link set "${v}b" up
	ip -n "$n2" link add vx42 type vxlan id 42 local 198.18.82.2 remote 198.18.82.1 \
		dstport 4789 dev "${v}b"
	ip -n "$n2" addr add 198.19.82.2/24 dev vx42
	ip -n "$n2" link set vx42 up
	ip netns exec "$n1" "$PVNET" switch --ctl "$T/vx.ctl" \
		--port "vxlan,name=vx,vni=42,local=198.18.82.1,remote=198.18.82.2" \
		--port "vhost,name=g,path=$T/vg.sock,mac=$gm" 2>"$T/vx-switch.log" &
	sw=$!
	pids+=($sw)
	wait_ctl "$T/vx.ctl" || { echo "vxlan: switch did not start" >&2; return 0; }
	"$PVNET" guest --connect "$T/vg.sock" --mac "$gm" --tap pvbv0 --netns "$ng" \
		2>"$T/vx-guest.log" &
	gp=$!
	pids+=($gp)
	for _ in $(seq 100); do ip -n "$ng" link show pvbv0 up >/dev/null 2>&1 && break; sleep 0.1; done
	ip -n "$ng" link set pvbv0 mtu 1450
	ip -n "$ng" addr add 198.19.82.1/24 dev pvbv0
	# kernel: k1 (vxa) --veth--> k2 (vxb), k2's side as n2's (tx csum off)
	ip link add "${v}c" type veth peer name "${v}d"
	ip link set "${v}c" netns "$k1"
	ip link set "${v}d" netns "$k2"
	ip -n "$k1" addr add 198.18.83.1/24 dev "${v}c"
	ip -n "$k2" addr add 198.18.83.2/24 dev "${v}d"
	ip netns exec "$k2" ethtool -K "${v}d" tx off >/dev/null 2>&1
	ip -n "$k1" link set "${v}c" up
	ip -n "$k2" link set "${v}d" up
	ip -n "$k1" link add vxa type vxlan id 42 local 198.18.83.1 remote 198.18.83.2 \
		dstport 4789 dev "${v}c"
	ip -n "$k2" link add vxb type vxlan id 42 local 198.18.83.2 remote 198.18.83.1 \
		dstport 4789 dev "${v}d"
	ip -n "$k1" addr add 198.19.83.1/24 dev vxa
	ip -n "$k2" addr add 198.19.83.2/24 dev vxb
	ip -n "$k1" link set vxa up
	ip -n "$k2" link set vxb up
	for _ in $(seq 20); do
		ip netns exec "$ng" ping -c 1 -W 1 198.19.82.2 >/dev/null 2>&1 && break
	done
	ip netns exec "$k1" ping -c 2 -W 2 198.19.83.2 >/dev/null 2>&1
	for r in $(seq "$RUNS"); do
		# the four paths run by run: the same noise for each
		for dir in fwd rev; do
			R=
			[ $dir = rev ] && R=-R
			progress "vxlan: pvnet $dir, run $r/$RUNS"
			f=$T/vx.p.$dir.$r
			if KEEP_CTL=$T/vx.ctl KEEP_LOGS="$T/vx-switch.log $T/vx-guest.log" \
				with_retry vxlan "pvnet $dir" "$r" "$f" \
				pvnet_run "$T/vx.ctl" "$f" vx_row_json "$ng" "$n2" 198.19.82.2 5203 $R; then
				if [ $dir = fwd ]; then fpf+=("$f.json"); else fpr+=("$f.json"); fi
			fi
			progress "vxlan: kernel $dir, run $r/$RUNS"
			f=$T/vx.k.$dir.$r
			if with_retry vxlan "kernel $dir" "$r" "$f" \
				tcp_iperf "$k1" "$k2" 198.19.83.2 5204 "$f.ip.json" $R; then
				vx_row_json "$f.ip.json" "" "" null null "$f.json"
				if [ $dir = fwd ]; then fkf+=("$f.json"); else fkr+=("$f.json"); fi
			fi
		done
	done
	kill "$gp" "$sw" 2>/dev/null
	wait "$gp" "$sw" 2>/dev/null
	local PF="pvnet guest -> pvnet vxlan port -> Linux vxlan"
	local PR="Linux vxlan -> pvnet vxlan port -> pvnet guest"
	local KF="Linux vxlan -> Linux vxlan"
	local KR="Linux vxlan -> Linux vxlan, reverse (sender's veth tx csum off)"
	[ ${#fpf[@]} -gt 0 ] && add_row vxlan "$PF" "${fpf[@]}"
	[ ${#fpr[@]} -gt 0 ] && add_row vxlan "$PR" "${fpr[@]}"
	[ ${#fkf[@]} -gt 0 ] && add_row vxlan "$KF" "${fkf[@]}"
	[ ${#fkr[@]} -gt 0 ] && add_row vxlan "$KR" "${fkr[@]}"
	set_ratio vxlan "$PF" "$KF" cpb_total
	set_ratio vxlan "$PR" "$KR" cpb_total
	for n in "$n1" "$n2" "$ng" "$k1" "$k2"; do ip netns del "$n" 2>/dev/null; done
}

# vm: iperf3 from a namespace through a TAP into a QEMU (TCG) Linux guest
# over vhost-user; the backend is pvnet (GRO off / adaptive: the tap uplink
# takes MSS-sized frames from the kernel, the guest takes large ones) or
# DPDK testpmd (net_tap + net_vhost, io forwarding: no aggregation).
# The guest image and the QEMU command are the peer tests'
# (tests/peer/qemu/build-guest.sh and lib.sh).
VM_MAC=52:54:00:b2:00:02

# for tests/peer/qemu/lib.sh: bg NAME CMD... and log MSG
bg() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
}
log() { echo "vm: $*" >>"$T/vm-notes.log"; }

# vm_boot NS: boot the guest (once for the whole scenario) on $T/vm.sock
# with reconnect=1: each backend in turn serves that socket and QEMU
# reconnects to it, so one TCG boot serves every variant. 0 once its iperf3
# server runs and it answers a ping from namespace NS.
vm_boot() {
	local nh=$1 i
	qemu_start vmg 1 "pvtest=iperfd,sleep@$QEMU_BOOT_TIMEOUT pv_ip=198.18.82.2/24" \
		"$T/vm.sock,$VM_MAC,reconnect"
	for ((i = 0; i < QEMU_BOOT_TIMEOUT * 2; i++)); do
		qemu_seen vmg '^PVTEST ok iperfd' && break
		kill -0 "$pid_vmg" 2>/dev/null || break
		sleep 0.5
	done
	qemu_seen vmg '^PVTEST ok iperfd' || { echo "vm: guest did not come up" >&2; return 1; }
	vm_answers "$nh"
}

# vm_answers NS: the guest answers a ping from NS (after a boot, or once
# QEMU has reconnected to a new backend: it retries every second)
vm_answers() {
	local i
	for ((i = 0; i < 40; i++)); do
		ip netns exec "$1" ping -c 1 -W 1 198.18.82.2 >/dev/null 2>&1 && return 0
		kill -0 "$pid_vmg" 2>/dev/null || break
	done
	echo "vm: guest does not answer" >&2
	return 1
}

# vm_attach NS: the guest runs and answers through the backend just
# started: boot it the first time, else wait for QEMU's reconnect
vm_attach() {
	if [ -n "${pid_vmg:-}" ] && kill -0 "$pid_vmg" 2>/dev/null; then
		vm_answers "$1"
	else
		vm_boot "$1"
	fi
}

vm_halt() {
	[ -n "${pid_vmg:-}" ] || return 0
	kill "$pid_vmg" 2>/dev/null
	wait "$pid_vmg" 2>/dev/null
	pid_vmg=
}

# vm_uplink NS IF: address the backend's TAP in NS; the same MAC for every
# backend, so the running guest's neighbour entry stays right
vm_uplink() {
	ip -n "$1" link set "$2" address 02:00:00:00:b2:01
	ip -n "$1" addr add 198.18.82.1/24 dev "$2" 2>/dev/null
	ip -n "$1" link set "$2" up
}

# vm_run BACKEND-PID CTL-OR-EMPTY NS OUT: one iperf3 run of VM_SECS into the
# guest, its raw figures as JSON into OUT; 1 if it moved nothing
vm_run() {
	local bpid=$1 ctl=$2 nh=$3 out=$4 qp js0=null js1=null b0 b1 q0 q1 f=$T/vm.ip.json
	qp=$(cat "/proc/$pid_vmg/task/$pid_vmg/children" 2>/dev/null | awk '{print $1}')
	qp=${qp:-$pid_vmg}
	[ -n "$ctl" ] && js0=$("$PVNET" stats --ctl "$ctl" --json)
	b0=$(cpu_ticks "$bpid")
	q0=$(cpu_ticks "$qp")
	ip netns exec "$nh" timeout $((VM_SECS + 30)) iperf3 -c 198.18.82.2 -p 5201 \
		-t "$VM_SECS" -J >"$f" 2>/dev/null
	b1=$(cpu_ticks "$bpid")
	q1=$(cpu_ticks "$qp")
	[ -n "$ctl" ] && js1=$("$PVNET" stats --ctl "$ctl" --json)
	jq -e '.end.sum_received.bytes > 0' "$f" >/dev/null 2>&1 || return 1
	jq --argjson a "$js0" --argjson b "$js1" --arg bt "$((b1 - b0))" \
		--arg qt "$((q1 - q0))" --arg clk "$CLK" --arg hz "${tsc_hz:-0}" '
	  def sum(f): [f] | add // 0;
	  def port(j; n): [j.ports[] | select(.name == n)][0];
	  ($hz | tonumber) as $hz | ($clk | tonumber) as $clk |
	  .end.sum_received.bytes as $by | .end.sum_received.seconds as $t |
	  (($bt | tonumber) / $clk * $hz) as $bc |
	  (($qt | tonumber) / $clk * $hz) as $qc |
	  (if $a == null then null else port($b; "up").rx_pkts - port($a; "up").rx_pkts end) as $segs |
	  (if $a == null then null else port($b; "vm").tx_pkts - port($a; "vm").tx_pkts end) as $pk |
	  {gbps: (.end.sum_received.bits_per_second / 1e9),
	   mpps: (if $segs == null then null else $segs / $t / 1e6 end),
	   bytes: $by,
	   backend_cpb: ($bc / $by),
	   backend_cpp: (if ($segs // 0) == 0 then null else $bc / $segs end),
	   guest_cpb: ($qc / $by),
	   switch_cpu: (($bt | tonumber) / $clk / $t),
	   agg: (if $a == null then null else
	       (sum($b.workers[].gro.in_segs) - sum($a.workers[].gro.in_segs)) as $in |
	       (sum($b.workers[].gro.out_pkts) - sum($a.workers[].gro.out_pkts)) as $o |
	       if $o > 0 then $in / $o else 1 end end),
	   kicks_per_pkt: (if ($pk // 0) == 0 then null else
	       (sum(port($b; "vm").rxq_kicks[]) - sum(port($a; "vm").rxq_kicks[])) / $pk end),
	   irqs_per_pkt: (if ($pk // 0) == 0 then null else
	       (sum(port($b; "vm").txq_irqs[]) - sum(port($a; "vm").txq_irqs[])) / $pk end),
	   drops: (if $a == null then null else
	       sum($b.ports[].dropped) - sum($a.ports[].dropped) end),
	   retransmits: .end.sum_sent.retransmits}' "$f" >"$out"
}

# vm_backend I NS: start backend I of vm_labels (pvnet with vm_args[I], or
# DPDK testpmd for "dpdk") on $T/vm.sock, its TAP in NS; sets vm_bpid and
# vm_ctl (empty for testpmd). 1 if it did not start.
vm_backend() {
	local i=$1 nh=$2 tso
	rm -f "$T/vm.sock"
	if [ "${vm_args[$i]}" = dpdk ]; then
		# tso=1: the guest acked HOST_TSO4/6 with pvnet, and QEMU refuses
		# a reconnect to a backend without a feature already acked (the
		# guest only sends ACKs here: no TSO frame reaches testpmd)
		tp_start vmd '0@0,1@0' --vdev "net_vhost0,iface=$T/vm.sock,queues=1,tso=1" \
			--vdev "net_tap0,iface=$vm_dtap" -- -i --nb-cores=1 --rxq=1 --txq=1 \
			--forward-mode=io || { echo "vm: testpmd did not start" >&2; tp_quit vmd; return 1; }
		ip link set "$vm_dtap" netns "$nh"
		vm_uplink "$nh" "$vm_dtap"
		tp_cmd vmd start
		vm_bpid=$tp_pid_vmd vm_ctl=
		return 0
	fi
	tso=off
	case ${vm_args[$i]} in *+tso) tso=on ;; esac
	# shellcheck disable=SC2086 # "poll --gro-linearize" is two options
	taskset -c 0 "$PVNET" switch --ctl "$T/vm.ctl" --gro ${vm_args[$i]%+tso} \
		--port "tap,name=up,ifname=$vm_tap,netns=$nh,tso=$tso" \
		--port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC" 2>"$T/vm-switch.log" &
	vm_bpid=$! vm_ctl=$T/vm.ctl
	pids+=($vm_bpid)
	wait_ctl "$T/vm.ctl" || { echo "vm: switch did not start" >&2; vm_backend_stop "$i"; return 1; }
	vm_uplink "$nh" "$vm_tap"
}

# vm_backend_stop I: stop backend I (QEMU keeps running and reconnects to
# the next one)
vm_backend_stop() {
	if [ "${vm_args[$1]}" = dpdk ]; then
		tp_quit vmd
	else
		kill "$vm_bpid" 2>/dev/null
		wait "$vm_bpid" 2>/dev/null
	fi
}

# VM_RUNS: rounds of the vm scenario (default RUNS: 3, --quick 1)
VM_RUNS=${VM_RUNS:-}

# sc_vm: the guest boots once (QEMU reconnect=1); the backends then run in
# rounds (issue 14): round r attaches each backend once, in round_order, and
# takes one iperf3 run through it, so every row's runs are spread over the
# scenario and the paired ratios (adaptive / GRO off, pvnet / DPDK) are the
# median of ratios taken within one round (about a minute) each. A round
# costs one reconnect per backend (a few seconds each), not a reboot.
sc_vm() {
	local nh=pvb-vh-$$ gro nb r i f ia io id t0
	local -A runs got
	local vm_labels=() vm_args=() vm_tap=pbv$$ vm_dtap=pbd$$ vm_bpid vm_ctl
	local vm_po=() vm_pd=() vm_pod=() rounds=${VM_RUNS:-$RUNS}
	local dpdk_label="DPDK testpmd (net_tap + net_vhost, io)"
	if [ ! -r "$top/tests/peer/qemu/lib.sh" ]; then
		echo "vm: needs the source tree's tests/peer/qemu, skipped" >&2
		return 0
	fi
	need qemu-system-x86_64 || { echo "vm: no QEMU, skipped" >&2; return 0; }
	# Every flush policy and the linearizing copy in full runs (seed 000's
	# table); --quick keeps the two ends.
	local variants=(off adaptive)
	[ "$RUNS" -gt 1 ] && variants=(off poll "poll --gro-linearize" every=2 adaptive)
	for gro in "${variants[@]}"; do
		vm_labels+=("pvnet --gro $gro") vm_args+=("$gro")
	done
	# The GRO rows take wire-size frames from the TAP (tso=off), as seed
	# 000 measures; this row lets the host's TSO frames through whole
	vm_labels+=("pvnet --gro adaptive, uplink tso=on") vm_args+=("adaptive+tso")
	if need dpdk-testpmd; then
		vm_labels+=("$dpdk_label") vm_args+=(dpdk)
	fi
	nb=${#vm_labels[@]}
	# one boot for all backends: its life covers every round
	QEMU_BOOT_TIMEOUT=$((180 + rounds * nb * (VM_SECS + 10 + 45)))
	. "$top/tests/peer/qemu/lib.sh"
	progress "vm: building or finding the guest image"
	qemu_image >/dev/null 2>&1 || { echo "vm: cannot build the guest image, skipped" >&2; return 0; }
	netns_add "$nh" || return 0
	pid_vmg=
	for r in $(seq "$rounds"); do
		got=()
		for i in $(round_order "$nb" "$r"); do
			progress "vm: ${vm_labels[$i]}, round $r/$rounds, attaching the guest"
			t0=$SECONDS
			vm_backend "$i" "$nh" || continue
			f=$T/vm.$i.$r.json
			if vm_attach "$nh"; then
				log "round $r: ${vm_labels[$i]} attached in $((SECONDS - t0)) s"
				progress "vm: ${vm_labels[$i]}, round $r/$rounds"
				vm_run "$vm_bpid" "$vm_ctl" "$nh" "$f" && runs[$i]+=" $f" got[$i]=$f
			fi
			vm_backend_stop "$i"
		done
		# the round's pairs: adaptive (tso=off) with GRO off and with DPDK
		ia=${got[$((${#variants[@]} - 1))]:-} io=${got[0]:-} id=
		[ "${vm_args[$((nb - 1))]}" = dpdk ] && id=${got[$((nb - 1))]:-}
		[ -n "$ia" ] && [ -n "$io" ] && vm_po+=("$ia" "$io")
		[ -n "$ia" ] && [ -n "$id" ] && vm_pd+=("$ia" "$id")
		[ -n "$io" ] && [ -n "$id" ] && vm_pod+=("$io" "$id")
	done
	vm_halt
	ip netns del "$nh" 2>/dev/null
	for ((i = 0; i < nb; i++)); do
		# shellcheck disable=SC2086 # a list of file names
		[ -n "${runs[$i]:-}" ] && add_row vm "${vm_labels[$i]}" ${runs[$i]}
	done
	set_ratio_paired vm "pvnet --gro adaptive" gbps --key ratio_paired_off \
		${vm_po[@]+"${vm_po[@]}"}
	[ "${vm_args[$((nb - 1))]}" = dpdk ] || return 0
	set_ratio vm "pvnet --gro off" "$dpdk_label" gbps
	set_ratio vm "pvnet --gro adaptive" "$dpdk_label" gbps
	set_ratio_paired vm "pvnet --gro off" gbps ${vm_pod[@]+"${vm_pod[@]}"}
	set_ratio_paired vm "pvnet --gro adaptive" gbps ${vm_pd[@]+"${vm_pd[@]}"}
}

ELAPSED=$T/elapsed.jsonl
: >"$ELAPSED"
for s in "${scenarios[@]}"; do
	t0=$SECONDS
	"sc_$s"
	echo "{\"$s\": $((SECONDS - t0))}" >>"$ELAPSED"
done
progress ""
echo >&2

# results.json: the run's meta and rows, and the goals (issue 7's and 14's
# targets, in src/ctl/bench_report.c: a scenario not run leaves its goals
# out), with results.csv and goals.md.
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit+dirty"
jq -n --arg m "$(uname -n)" --arg k "$(uname -r)" --arg t "${tsc_hz:-0}" \
	--arg c "$commit" --arg d "$(date -u +%FT%TZ)" --arg cpu "$(nproc)" \
	--arg runs "$RUNS" --arg secs "$SECS" --slurpfile el "$ELAPSED" \
	--argjson failed "$(for s in "${scenarios[@]}"; do
		[ -s "$T/$s.failures" ] && echo "{\"$s\": $(wc -l <"$T/$s.failures")}"; done | jq -s 'add // {}')" \
	'{machine: $m, kernel: $k, tsc_hz: ($t | tonumber), commit: $c,
	  date: $d, cpus: ($cpu | tonumber), runs: ($runs | tonumber),
	  secs: ($secs | tonumber), elapsed_s: ($el | add // {}),
	  failed_runs: $failed}' >"$T/meta.json"
"$PVNET" bench report results "$ROWS" "$T/meta.json" "$OUT" ||
	{ echo "pvnet bench: cannot write the report in $OUT" >&2; exit 1; }

# md_note SCENARIO: what the table measures and how to read it
md_note() {
	case $1 in
	copy) cat <<'EOF'
Seed 004 (domU -> domU): a `pvnet guest --gen` sends to a `pvnet guest
--sink` through the switch; `single` copies each frame once from the
sender's TX buffer into the receiver's RX buffer, `double` through a switch
buffer. Sizes are Ethernet frame lengths; 60000 B frames are one large
(TSO-style) packet. Guest cycles/byte: CPU time of both guest processes x
TSC / bytes delivered.
EOF
	;;
	notify) cat <<'EOF'
Seed 003: the switch's notification mode at full load and at a fixed
offered load of 10 % of what adaptive delivered. Compare switch CPU at 10 %
(poll spins a whole core; event and adaptive sleep) and kicks / interrupts
per packet. ratio = switch CPU at 10 % over busy poll's.
EOF
	;;
	mq) cat <<EOF
Seed 002: queue pairs x workers, 8 UDP flows of 256 B frames, one
generator and one sink with as many queues. ratio = Mpps of 2 queues x 2
workers over 1 x 1 (scaling efficiency = ratio / 2). This machine has $(nproc) CPU(s).
On 2 cores the figure is bounded by the machine, not by the switch: the
source and the sink are busy processes of their own, so two workers share
the 2 cores with them (4 busy threads on 2 CPUs), and a second worker
mostly takes time away from the traffic's source and sink. Scaling
efficiency (Mpps of N workers / (N x Mpps of 1 worker)) is meaningful only
with spare cores: at least workers + 2.
EOF
	;;
	bridge) cat <<'EOF'
Seed 004: `direct` (static MAC -> port, as netback routes) vs `learn` (a
learning bridge with a hash table and ageing, given no MAC: it learns the
sink from its --announce broadcast), guest -> guest at 1518 B, and from a
`gen` uplink port (MSS 1448 TCP segments, GRO off) into a guest.
EOF
	;;
	lro) cat <<'EOF'
Seeds 000/001: a `gen` uplink port (the papers' remote sender: MSS 1448 TCP
segments, DATA_VALID like a NIC) -> switch -> a guest that takes large
packets, one bulk stream and four. agg = segments per delivered packet.
Switch cycles are the workers' busy cycles minus the gen port's own frame
writing (the sender's work, `gen_cycles` in pvnet stats, in results.json as
`sender_cpb`).
The memcpy floor is a plain copy of the same segment size in the same run:
a copying datapath cannot go below it. ratio (adaptive rows) = switch
cycles/byte over the floor's (of the medians). The variants of one flow
count run in rounds, each variant and the floor once per round, the order
rotating: paired ratio = the median over rounds of adaptive's cycles/byte
over the floor's in that round; paired ratio to GRO off = the same against
GRO off (the goal's comparison, in one machine state each round).
EOF
	;;
	peers) cat <<'EOF'
DPDK's vhost loopback topology: one testpmd (the guest, CPU 1) with two
virtio-user ports in io forwarding (the `mac` rows: mac forwarding, the
guest rewrites each frame's addresses, so it writes every frame) started
with `start tx_first 32`, measured after PEERS_WARMUP s, so the
frames circulate through the switch (CPU 0) both ways; the switch is pvnet
(two vhost ports, direct forwarding) or DPDK testpmd (two net_vhost ports,
io forwarding). Mpps and Gbit/s are the frames the guest received per
second (every frame crossed the switch once). Switch and guest cycles are
CPU time x TSC over those frames (a busy-polling process costs its whole
core). Busy cycles are each process's own count of the polls that moved
frames, without its idle polls: switch busy = pvnet's workers' busy cycles
or the DPDK switch testpmd's --record-core-cycles, guest busy = the guest
testpmd's, each over the frames it received; at 64 B the loop runs at the
pace of whichever of the two is slower. ratio = pvnet / DPDK in the same
run (Mpps at 64 B, Gbit/s at 1518 B), the ratio of the medians; paired
ratio = the median over rounds of pvnet's run / DPDK's run of that round
(seconds apart, one machine state; pvnet B rows: B / pvnet). The last
rows are pvnet's own frontends, a `pvnet guest --gen` ->
`--sink` stream, one way, same pinning (the copy scenario's single rows).
EOF
	;;
	tcp) cat <<'EOF'
iperf3 (one TCP stream) from a namespace -> veth -> pvnet afpacket uplink
-> `pvnet guest --tap` namespace, against the kernel's veth + bridge path
between two namespaces, twice: with the sender's veth TSO/GSO off on both
paths, and with TSO on at the sender (the afpacket uplink takes and gives
GSO frames with PACKET_VNET_HDR) against the kernel with default offloads.
Cycles from CPU time (user + system) x TSC over the bytes received (per
packet: over the frames the uplink received), each process apart: switch =
the `pvnet switch` process, pvnet guest = the `pvnet guest --tap` process
(the two together replace veth + bridge; in results.json their sum is
`pvnet_cpb`), iperf3 = both iperf3 processes (their stacks, in their system
time); the kernel's bridge work runs in those processes' softirq context.
total = all of them. ratio = pvnet / kernel (same sender offloads) total
cycles per byte: lower is better. switch CPU / pvnet guest CPU: each
process's share of one core over the run.
EOF
	;;
	vxlan) cat <<'EOF'
Issue 15: iperf3 (one TCP stream) between a `pvnet guest --tap` namespace
(TSO on, MTU 1450) and a Linux `vxlan` device (VNI 42, port 4789) in
another namespace, through a `pvnet switch` vxlan port over a veth underlay
(MTU 1500); against two Linux vxlan devices over the same kind of veth.
Both directions; the side whose inner checksums would reach pvnet partial
has tx checksum offload off on its veth, in both paths.
Cycles/byte = CPU time x the TSC rate (meta.tsc_hz, as the other
scenarios) over the bytes iperf3 received (per packet: over the vxlan
datagrams), each process apart (user + system, /proc/PID/stat): switch =
the `pvnet switch` process, pvnet guest = the `pvnet guest --tap` process
(together what pvnet adds; `pvnet_cpb` in results.json); iperf3 = both
iperf3 processes' user + system time (iperf3 -J):
the kernel's vxlan encapsulation, UDP, veth and TCP work runs in their
system time or in softirqs charged to them (this kernel has no IRQ time
accounting). On the pvnet path part of the far namespace's stack runs
inside pvnet's sendmmsg() and TAP writes (a veth delivers in the sender's
context), so only the total compares like with like: ratio = pvnet /
kernel total cycles per byte, same direction; goal <= 1. Mpps = vxlan
datagrams the pvnet port sent + received per second. Softirq time spent
in ksoftirqd is in neither side.
EOF
	;;
	vm) cat <<'EOF'
The papers' setting: a CPU-bound guest. iperf3 in a namespace sends one TCP
stream through a TAP into a QEMU (TCG, 1 vCPU) Linux guest over
vhost-user; the backend between TAP and guest is pvnet (GRO off or
adaptive) or DPDK testpmd (net_tap + net_vhost, io forwarding). pvnet's
GRO rows read the TAP with tso=off (MSS-sized frames, as in seed 000); the
"uplink tso=on" row takes the host's TSO frames whole, so there is nothing
left to aggregate. Gbit/s is the guest's receive throughput (iperf3); Mpps
counts the frames from the TAP. agg = segments per packet delivered into the guest (pvnet's
GRO). Switch cycles: backend CPU time x TSC per byte and per frame from
the TAP (testpmd busy-polls: its whole core); guest cycles/byte: the QEMU
process. ratio = Gbit/s / DPDK's. The guest boots once (QEMU with
reconnect=1): each backend in turn serves its vhost-user socket and QEMU
reconnects to it, so every row runs into the same guest. The backends run
in rounds, one run each per round, the order rotating: paired ratio = the
median over rounds of the row's Gbit/s over DPDK's in that round; paired
ratio to GRO off = adaptive's over GRO off's. The backend is on CPU 0; QEMU and
iperf3 share both CPUs with it (and with whatever else runs there).
EOF
	;;
	esac
}

for s in "${scenarios[@]}"; do
	md=$OUT/$s.md
	{
		echo "# $s"
		echo
		md_note "$s"
		echo
		"$PVNET" bench report table "$OUT/results.json" "$s"
		if [ -s "$T/$s.failures" ]; then
			echo
			echo "Failed runs (each retried once; a row misses a run only if both attempts failed):"
			cat "$T/$s.failures"
		fi
	} >"$md"
	"$PVNET" bench report dat "$OUT/results.json" "$s" >"$T/$s.dat"
	if [ -s "$T/$s.dat" ]; then
		gnuplot <<GP 2>/dev/null
set terminal pngcairo size 1000,640 noenhanced
set output "$OUT/$s.png"
set title "pvnet bench: $s (median of $RUNS run(s))"
set style fill solid 0.6
set boxwidth 0.6
set ylabel "Gbit/s"
set yrange [0:*]
set xtics rotate by -30
set bmargin 15
set grid ytics
plot "$T/$s.dat" using 0:2:xtic(1) with boxes notitle
GP
	fi
	cat "$md"
	echo
done
[ "$(jq '.goals | length' "$OUT/results.json")" -gt 0 ] && cat "$OUT/goals.md"
echo "results: $OUT/results.json, $OUT/results.csv, $OUT/*.md, $OUT/*.png" >&2
