#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: pvnet guest --gen -> pvnet switch -> pvnet guest --sink.
# Every frame arrives intact and in order, at several sizes; the switch's
# counters agree with both ends. Both guests negotiate VIRTIO_F_IN_ORDER
# with the switch (its in-order driver paths, split and packed) unless told
# --no-in-order. Also reports the unpaced rate (not asserted).
. "$(dirname "$0")/lib.sh"

GEN_MAC=02:00:00:00:01:01
SINK_MAC=02:00:00:00:01:02
ctl=$T/ctl.sock
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC"
check "switch answers on its control socket" wait_for 10 switch_ready "$ctl"

# run_pair SIZE COUNT RATE [GUEST-ARGS...] -> sets gen_out, sink_out and
# sink_feats (the sink port's negotiated features, read while attached)
run_pair() {
	local size=$1 count=$2 rate=$3
	shift 3
	bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
		--count "$count" --idle-timeout 3 "$@"
	wait_for 10 grep -q "attached" "$T/sink.log"
	sink_feats=$(stat_of "$ctl" sink .vhost.features)
	"$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
		--dst "$SINK_MAC" --size "$size" --count "$count" --rate "$rate" \
		"$@" >"$T/gen.out" 2>"$T/gen.err"
	wait "$pid_sink"
	gen_out=$(tail -n1 "$T/gen.out")
	sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
	log "size $size: gen $gen_out"
	log "size $size: sink $sink_out"
}

# Paced so that the sink's 1024 receive buffers cover a 100 ms stall of the
# sink process (a shared machine: at 20 kpps, i.e. 50 ms, a busy neighbour
# on the other core cost frames once): 10 kpps, or 2 kpps for 9018-byte
# frames, which take five 2 KB buffers each. Loss here would be a bug.
total=0
for size in 60 1518 9018; do
	count=20000
	rate=10000
	[ $size = 9018 ] && count=10000 && rate=2000
	total=$((total + count))
	run_pair $size $count $rate
	check "size $size: sink received all $count frames" \
		[ "$(jq .received <<<"$sink_out")" = "$count" ]
	check "size $size: none lost, reordered or corrupted" \
		[ "$(jq '.lost + .reordered + .corrupted' <<<"$sink_out")" = 0 ]
done
# IN_ORDER (bit 35), the switch's view and both guests' own
check "sink port negotiated VIRTIO_F_IN_ORDER" \
	[ $(( ${sink_feats:-0} >> 35 & 1 )) = 1 ]
check "sink runs its rings in order" grep -q "split rings, in order" "$T/sink.log"
check "gen runs its rings in order" grep -q "split rings, in order" "$T/gen.err"
# the same stream with packed rings in order, and split rings not in order
for args in --packed --no-in-order; do
	count=20000
	total=$((total + count))
	run_pair 1518 $count 10000 $args
	check "$args: sink received all $count frames" \
		[ "$(jq .received <<<"$sink_out")" = "$count" ]
	check "$args: none lost, reordered or corrupted" \
		[ "$(jq '.lost + .reordered + .corrupted' <<<"$sink_out")" = 0 ]
	case $args in
	--packed)
		check "$args: IN_ORDER negotiated" [ $(( ${sink_feats:-0} >> 35 & 1 )) = 1 ]
		check "$args: gen's packed rings in order" \
			grep -q "packed rings, in order" "$T/gen.err" ;;
	*)
		check "$args: IN_ORDER not negotiated" [ $(( ${sink_feats:-0} >> 35 & 1 )) = 0 ]
		check "$args: gen's rings not in order" \
			grep -q "split rings\$" "$T/gen.err" ;;
	esac
done
check "switch counted $total frames in from gen" \
	[ "$(stat_of "$ctl" gen .rx_pkts)" = $total ]
check "switch delivered $total frames to sink" \
	[ "$(stat_of "$ctl" sink .tx_pkts)" = $total ]

# Unpaced: frames the sink could not take are drops the switch counts.
for size in 64 1518; do
	run_pair $size 1000000 0
	sent=$(jq .sent <<<"$gen_out")
	got=$(jq .received <<<"$sink_out")
	log "unpaced $size B: gen $(jq .mpps <<<"$gen_out") Mpps, sink $(jq .mpps <<<"$sink_out") Mpps $(jq .gbps <<<"$sink_out") Gbit/s, received $got of $sent"
	check "unpaced $size B: nothing corrupted or reordered" \
		[ "$(jq '.reordered + .corrupted' <<<"$sink_out")" = 0 ]
done
rx=$(stat_of "$ctl" gen .rx_pkts)
tx=$(stat_of "$ctl" sink .tx_pkts)
dr=$(stat_of "$ctl" sink '.dropped')
drg=$(stat_of "$ctl" gen '.dropped')
log "switch: gen rx $rx, sink tx $tx, sink drops $dr, gen drops $drg"
check "accounting adds up: rx = delivered + dropped" [ "$rx" = $((tx + dr + drg)) ]
"$PVNET" stats --ctl "$ctl"
finish
