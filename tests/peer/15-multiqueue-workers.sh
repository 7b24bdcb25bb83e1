#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: multiqueue with several workers and every notification
# mode. A guest with 2 queue pairs sends 8 UDP flows (a flow keeps its TX
# queue) through a 2-worker switch to a 2-queue sink: every frame arrives,
# in order per flow; both queues of both guests carry traffic; each sink RX
# queue raises its own interrupts (its own callfd); both workers poll.
# Then the plain stream under --notify poll, event and adaptive.
. "$(dirname "$0")/lib.sh"

GEN_MAC=02:00:00:00:15:01
SINK_MAC=02:00:00:00:15:02

start_switch() {	# start_switch NAME ARGS...
	local name=$1
	shift
	bg "$name" "$PVNET" switch --ctl "$T/$name.ctl" "$@" \
		--port "vhost,name=gen,path=$T/$name-gen.sock,mac=$GEN_MAC,queues=2" \
		--port "vhost,name=sink,path=$T/$name-sink.sock,mac=$SINK_MAC,queues=2"
	wait_for 10 switch_ready "$T/$name.ctl"
}

run_stream() {	# run_stream SWITCH COUNT RATE QUEUES [gen args...]
	local sw=$1 count=$2 rate=$3 queues=$4
	shift 4
	bg sink "$PVNET" guest --connect "$T/$sw-sink.sock" --mac "$SINK_MAC" \
		--queues "$queues" --sink --count "$count" --idle-timeout 3
	wait_for 10 grep -q attached "$T/sink.log"
	"$PVNET" guest --connect "$T/$sw-gen.sock" --mac "$GEN_MAC" --queues "$queues" \
		--gen --dst "$SINK_MAC" --count "$count" --rate "$rate" "$@" \
		>"$T/gen.out" 2>"$T/gen.err"
	wait "$pid_sink"
	sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
	log "$sw: sink $sink_out"
}

check "2-worker switch ready" start_switch mq --workers 2 --notify adaptive
run_stream mq 40000 20000 2 --flows 8 --size 128
check "mq: all 40000 frames of 8 flows arrived" [ "$(jq .received <<<"$sink_out")" = 40000 ]
check "mq: none lost, reordered within a flow, or corrupted" \
	[ "$(jq '.lost + .reordered + .corrupted' <<<"$sink_out")" = 0 ]
js=$("$PVNET" stats --ctl "$T/mq.ctl" --json)
log "mq: gen rxq $(jq -c '.ports[0].rxq_pkts[0:2]' <<<"$js"), sink txq $(jq -c '.ports[1].txq_pkts[0:2]' <<<"$js")"
log "mq: workers $(jq -c '[.workers[] | {queues, pkts, cycles_per_pkt}]' <<<"$js")"
check "mq: both gen TX queues carried traffic" \
	[ "$(jq '[.ports[0].rxq_pkts[0:2][] | select(. > 0)] | length' <<<"$js")" = 2 ]
check "mq: both sink RX queues carried traffic (RSS)" \
	[ "$(jq '[.ports[1].txq_pkts[0:2][] | select(. > 0)] | length' <<<"$js")" = 2 ]
check "mq: both workers polled packets" \
	[ "$(jq '[.workers[] | select(.pkts > 0)] | length' <<<"$js")" = 2 ]
check "mq: each sink RX vring raised its own interrupts" \
	[ "$(jq '[.ports[1].txq_irqs[0:2][] | select(. > 0)] | length' <<<"$js")" = 2 ]
log "mq: sink interrupts per queue $(jq -c '.ports[1].txq_irqs[0:2]' <<<"$js"), gen kicks per queue $(jq -c '.ports[0].rxq_kicks[0:2]' <<<"$js")"
kill "$pid_mq"; wait "$pid_mq" 2>/dev/null

for mode in poll event adaptive; do
	start_switch "n$mode" --notify "$mode"
	# The gen guest without EVENT_IDX: only the ring flags tell it
	# whether to kick (a busy-polling switch must turn them off).
	run_stream "n$mode" 20000 20000 1 --size 256 --no-event-idx
	# A sink stalled past its 1024 buffers loses frames at the switch:
	# then every missing frame must be a counted drop (never silent).
	sdrop=$("$PVNET" stats --ctl "$T/n$mode.ctl" --json | jq '.ports[1].drops.rx_no_buf // 0')
	check "notify $mode: every frame arrived in order or was counted as a drop" \
		[ "$(jq --argjson d "$sdrop" '.received + $d == 20000 and .reordered + .corrupted == 0' <<<"$sink_out")" = true ]
	js=$("$PVNET" stats --ctl "$T/n$mode.ctl" --json)
	log "notify $mode: gen kicks $(jq '.ports[0].rxq_kicks[0]' <<<"$js"), sink irqs $(jq '.ports[1].txq_irqs[0]' <<<"$js"), worker sleeps $(jq '.workers[0].sleeps' <<<"$js")"
	gkicks=$(grep '^{' "$T/gen.out" | tail -n1 | jq '.kicks')
	log "notify $mode: the gen guest kicked $gkicks times"
	if [ "$mode" = poll ]; then
		check "notify poll: the worker never slept" [ "$(jq '.workers[0].sleeps' <<<"$js")" = 0 ]
		# A busy-polling switch turns the guest's kicks off when the
		# ring starts: the guest never needs to kick (issue 12 item 9).
		check "notify poll: the guest was told not to kick (kicks $gkicks <= 2)" \
			[ "${gkicks:-999}" -le 2 ]
	else
		check "notify $mode: the worker slept when idle" [ "$(jq '.workers[0].sleeps' <<<"$js")" -gt 0 ]
	fi
	eval "kill \$pid_n$mode"
done
finish
