#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue #12): one frontend must not stop or crash the whole
# switch. For each hostile case of tests/peer/evil_guest.c below, a fresh
# switch carries a paced, numbered stream between two good guests (gen ->
# sink, 5 kpps) and a feeder's stream into the evil guest's RX ring, while
# the evil guest:
#   blocking-kick      makes its TX kick eventfd blocking and never kicks
#   preloaded-call-rx  sets its RX call eventfd to the maximum, blocking
#   preloaded-call-tx  the same with its TX call eventfd
#   truncate-mem       truncates its memfd to 0 under running rings
#   truncate-bufs      truncates it to the rings only (the buffers go)
#   memreg-loop        ADD/REM_MEM_REG of an unused region in a loop while
#                      it streams numbered frames both ways
#   callfd-loop        replaces its RX call eventfd in a loop while frames
#                      are delivered to it, and watches for lost interrupts
#   restart-storm      restarts its rings in a loop
# Then, each bounded by a timeout: the switch process is alive, `pvnet
# stats` answers, the good stream still moves, a new `pvnet guest` pair on
# two spare ports connects and passes frames, stats still answers after
# that (a frozen dataplane freezes the control thread at the next ring
# change), the case's own counters; at the end the good stream lost
# nothing uncounted and nothing was corrupted, and SIGTERM stops the
# switch within 10 s. --workers 1 puts the evil queue and the good ones on
# one worker; two cases run again with --workers 2.
. "$(dirname "$0")/lib.sh"

EVIL=${EVIL:-$top/build/tests/peer/evil_guest}
ACTIVE=${ACTIVE:-2}		# seconds of a case's active phase (loops: more)
GEN_MAC=02:00:00:00:75:01
SINK_MAC=02:00:00:00:75:02
FEED_MAC=02:00:00:00:75:03
ESINK_MAC=02:00:00:00:75:04	# memreg-loop's stream goes here
SP1_MAC=02:00:00:00:75:05	# spare ports for the new client
SP2_MAC=02:00:00:00:75:06
EVIL_MAC=02:00:00:00:75:66

# Every read of the switch is bounded: a hung switch must not hang us.
# Once it did not answer (hung=1), the reads that depend on it fail at once.
stats() { [ "$hung" = 0 ] && timeout 5 "$PVNET" stats --ctl "$ctl" --json 2>/dev/null; }
sstat() {	# sstat PORT FIELD
	local j
	j=$(stats) || return 1
	jq -c -r --arg p "$1" ".ports[] | select(.name == \$p) | $2" <<<"$j"
}
answers() {	# answers SECONDS
	timeout "$1" "$PVNET" stats --ctl "$ctl" >/dev/null 2>&1 || { hung=1; return 1; }
}
alive() { kill -0 "$1" 2>/dev/null; }
is() { [ "$1" = "$2" ]; }
atleast() { [ -n "$1" ] && [ "$1" -ge "$2" ] 2>/dev/null; }
# wait_gone PID SECONDS: true once PID has exited
wait_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		alive "$1" || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	return 1
}
stop() {	# stop PID...: SIGTERM, then SIGKILL after 2 s
	local p
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do wait_gone "$p" 2 || { kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; }; done
}
sink_moved() {	# sink_moved N0: the switch gave the sink more than N0 frames
	local n
	n=$(sstat sink .tx_pkts) && [ "$n" -gt "$1" ]
}
within() {	# within SECONDS CMD...: CMD succeeds before the deadline
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -le "$end" ]; do
		"$@" 2>/dev/null && return 0
		[ "$hung" = 0 ] || return 1
		sleep 0.2
	done
	return 1
}
stream_moves() {
	local n0
	n0=$(sstat sink .tx_pkts) || return 1
	within 4 sink_moved "$n0"
}
# A new client pair on the spare ports: 1000 frames, some must arrive intact.
new_client() {
	local out
	bg csink "$PVNET" guest --connect "$d/sp2.sock" --mac "$SP2_MAC" --sink \
		--count 1000 --idle-timeout 2 --connect-timeout 8
	if ! wait_for 6 grep -q attached "$T/csink.log"; then
		stop "$pid_csink"
		return 1
	fi
	timeout 10 "$PVNET" guest --connect "$d/sp1.sock" --mac "$SP1_MAC" --gen \
		--dst "$SP2_MAC" --size 128 --count 1000 --rate 5000 \
		--connect-timeout 8 >"$T/cgen.log" 2>&1
	wait_gone "$pid_csink" 5 || stop "$pid_csink"
	out=$(grep '^{' "$T/csink.log" | tail -n1)
	log "$tag: new client pair: sink ${out:-no report}"
	[ -n "$out" ] && [ "$(jq '.received > 0 and .corrupted == 0' <<<"$out")" = true ]
}
evil_fault() { sstat evil ".vhost.faults.$1 // 0"; }
mem_faulted() { atleast "$(evil_fault vhu_mem_fault)" 1; }
evil_ring_faults() {	# ring_* drops counted on the evil port's vrings, broken ones
	sstat evil '"\([.vhost.vrings[].drops | to_entries[] | select(.key | startswith("ring_")) | .value] | add // 0) \([.vhost.vrings[] | select(.state == "broken")] | length)"'
}
result() {	# result KEY: a value from the evil guest's RESULT line
	grep '^# RESULT' "$T/evil.log" | tail -n1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# run_case NAME WORKERS
run_case() {
	local name=$1 workers=$2 j sink_out rx tx dr
	tag="$name (--workers $workers)"
	hung=0
	d=$T/$name-$workers
	ctl=$d/ctl.sock
	mkdir -p "$d"
	log "---- $tag"
	bg sw "$PVNET" switch --ctl "$ctl" --workers "$workers" \
		--port "vhost,name=gen,path=$d/gen.sock,mac=$GEN_MAC" \
		--port "vhost,name=sink,path=$d/sink.sock,mac=$SINK_MAC" \
		--port "vhost,name=feed,path=$d/feed.sock,mac=$FEED_MAC" \
		--port "vhost,name=evil,path=$d/evil.sock,mac=$EVIL_MAC" \
		--port "vhost,name=esink,path=$d/esink.sock,mac=$ESINK_MAC" \
		--port "vhost,name=sp1,path=$d/sp1.sock,mac=$SP1_MAC" \
		--port "vhost,name=sp2,path=$d/sp2.sock,mac=$SP2_MAC"
	if ! wait_for 10 switch_ready "$ctl"; then
		not_ok "$tag: switch ready"
		stop "$pid_sw"
		return
	fi
	bg sink "$PVNET" guest --connect "$d/sink.sock" --mac "$SINK_MAC" --sink \
		--idle-timeout 60
	wait_for 10 grep -q attached "$T/sink.log"
	extra=()
	if [ "$name" = memreg-loop ]; then
		bg esink "$PVNET" guest --connect "$d/esink.sock" --mac "$ESINK_MAC" \
			--sink --idle-timeout 60
		wait_for 10 grep -q attached "$T/esink.log"
		# 50 kpps from the evil guest: many translations race each ADD.
		extra=(--dst "$ESINK_MAC" --rate 50000 --active 5)
	fi
	[ "$name" = callfd-loop ] || [ "$name" = restart-storm ] && extra=(--active 3)
	bg gen "$PVNET" guest --connect "$d/gen.sock" --mac "$GEN_MAC" --gen \
		--dst "$SINK_MAC" --size 256 --rate 5000 --duration 120
	bg feed "$PVNET" guest --connect "$d/feed.sock" --mac "$FEED_MAC" --gen \
		--dst "$EVIL_MAC" --size 512 --rate 2000 --duration 120
	check "$tag: good stream flows before the case" within 10 sink_moved 500

	bg evil "$EVIL" "$d/evil.sock" "$name" --mac "$EVIL_MAC" --hold 60 \
		--active "$ACTIVE" "${extra[@]}"
	if ! wait_for 20 grep -q "^done $name" "$T/evil.log"; then
		not_ok "$tag: the evil guest committed its case"
		sed 's/^/    /' "$T/evil.log" | tail -n 5
	fi
	grep '^# ' "$T/evil.log" | grep -v '^# attached' | sed "s/^# \(RESULT \)*/# evil: /"

	check "$tag: switch process alive" alive "$pid_sw" || hung=1
	check "$tag: pvnet stats answers" answers 10
	check "$tag: the good stream still moves" stream_moves
	check "$tag: a new client connects to a spare port and its frames get through" new_client
	check "$tag: pvnet stats answers after the new client" answers 5

	case $name in
	truncate-*)
		check "$tag: the evil port counted a memory fault (vhu_mem_fault >= 1)" \
			within 5 mem_faulted
		;;
	memreg-loop)
		check "$tag: the region loop ran (ADD_MEM_REG accepted >= 1)" atleast "$(result adds)" 1
		check "$tag: the evil guest received its stream" atleast "$(result rx)" 1
		check "$tag: no corrupted frame reached the evil guest" [ "$(result rx_corrupt)" = 0 ]
		j=$(evil_ring_faults)
		log "$tag: evil port ring_* drops, broken vrings: ${j:-no answer}"
		check "$tag: no ring fault on the evil port" [ "$j" = "0 0" ]
		;;
	callfd-loop)
		check "$tag: the call fd was replaced (>= 100 times)" atleast "$(result switches)" 100
		check "$tag: interrupts came" atleast "$(result irqs)" 1
		check "$tag: no lost interrupt" [ "$(result lost_irqs)" = 0 ]
		check "$tag: no corrupted frame reached the evil guest" [ "$(result rx_corrupt)" = 0 ]
		;;
	restart-storm)
		j=$(evil_fault vhu_restart_rate)
		log "$tag: evil port faults: $(sstat evil .vhost.faults)"
		check "$tag: excess restarts counted (vhu_restart_rate >= 1)" atleast "$j" 1
		;;
	esac
	stop "$pid_evil"

	# The good stream: stop it, then what arrived must be whole and counted.
	stop "$pid_gen" "$pid_feed"
	sleep 0.5
	stop "$pid_sink"
	sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
	log "$tag: good stream: sink ${sink_out:-no report}"
	check "$tag: good stream: nothing corrupted or reordered" \
		is "$(jq '.corrupted + .reordered' <<<"${sink_out:-null}")" 0
	rx=$(sstat gen .rx_pkts) tx=$(sstat sink .tx_pkts) \
		dr=$(sstat sink '.drops | to_entries | map(.value) | add // 0')
	log "$tag: good stream: switch gen rx ${rx:-?}, sink tx ${tx:-?}, sink drops ${dr:-?}"
	check "$tag: good stream: every frame delivered or counted (rx = tx + drops)" \
		is "${rx:-x}" "$((${tx:-0} + ${dr:-0}))"
	check "$tag: good stream: the sink received what the switch delivered" \
		is "$(jq .received <<<"${sink_out:-null}")" "${tx:-x}"
	if [ "$name" = restart-storm ]; then
		check "$tag: good stream: no loss (no drop at the sink, none lost)" \
			is "${dr:-x} $(jq .lost <<<"${sink_out:-null}")" "0 0"
	fi
	if [ "$name" = memreg-loop ]; then
		stop "$pid_esink"
		j=$(grep '^{' "$T/esink.log" | tail -n1)
		log "$tag: evil guest's stream: sink ${j:-no report}"
		check "$tag: the evil guest's stream arrived, nothing corrupted or reordered" \
			is "$(jq '.received > 0 and .corrupted + .reordered == 0' <<<"${j:-null}")" true
	fi

	kill -TERM "$pid_sw" 2>/dev/null
	check "$tag: SIGTERM stops the switch within 10 s" wait_gone "$pid_sw" 10 ||
		{ kill -9 "$pid_sw"; wait "$pid_sw" 2>/dev/null; }
	grep -E 'SIGBUS|signal|warn|error' "$T/sw.log" | head -n 5 | sed "s/^/# switch: /"
}

[ -x "$EVIL" ] || { not_ok "evil_guest built ($EVIL)"; finish; }
# CASES / CASES2 (the --workers 2 runs) narrow a run by hand.
for c in ${CASES-blocking-kick preloaded-call-rx preloaded-call-tx truncate-mem
	truncate-bufs memreg-loop callfd-loop restart-storm}; do
	run_case "$c" 1
done
for c in ${CASES2-blocking-kick memreg-loop}; do
	run_case "$c" 2
done
finish
