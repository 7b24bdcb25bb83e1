#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: a malicious guest (tests/peer/evil_guest.c: pvnet's own
# virtio-user driver, then raw writes to its rings) commits one fault after
# another on its port while two good guests pass a paced, numbered stream
# (gen -> sink) and a feeder sends small frames to the evil guest's MAC.
# For each case: pvnet stays up, the good stream keeps being delivered (its
# rate before and during is logged, not asserted), and the offending queue
# is broken with the named reason, or the packet is dropped with the named
# reason, as design.md "What stops a queue and what only drops" says.
. "$(dirname "$0")/lib.sh"

EVIL=${EVIL:-$top/build/tests/peer/evil_guest}
GEN_MAC=02:00:00:00:70:01
SINK_MAC=02:00:00:00:70:02
FEED_MAC=02:00:00:00:70:03
EVIL_MAC=02:00:00:00:70:66
ctl=$T/ctl.sock
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC" \
	--port "vhost,name=feed,path=$T/feed.sock,mac=$FEED_MAC" \
	--port "vhost,name=evil,path=$T/evil.sock,mac=$EVIL_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish

bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
	--idle-timeout 30
wait_for 10 grep -q attached "$T/sink.log"
bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
	--dst "$SINK_MAC" --size 256 --rate 10000 --duration 170
bg feed "$PVNET" guest --connect "$T/feed.sock" --mac "$FEED_MAC" --gen \
	--dst "$EVIL_MAC" --size 60 --rate 2000 --duration 170
check "good stream flows before any fault" \
	wait_for 10 bash -c "[ \$($PVNET stats --ctl $ctl --json | jq '.ports[] | select(.name==\"sink\") | .tx_pkts') -gt 1000 ]"

sink_tx() { stat_of "$ctl" sink .tx_pkts; }
now() { date +%s.%N; }
rate() { echo "scale=0; ($2 - $1) / ($4 - $3)" | bc; }	# rate N0 N1 T0 T1
evil_drop() { stat_of "$ctl" evil ".drops.$1 // 0"; }
evil_fault() { stat_of "$ctl" evil ".vhost.faults.$1 // 0"; }
vring() {	# vring IDX: "STATE REASON" of the evil port's vring
	stat_of "$ctl" evil ".vhost.vrings[] | select(.vring == $1) | \"\(.state) \(.broken_reason // \"-\")\""
}
is_broken() { [ "$(vring "$1")" = "broken $2" ]; }
is_running() { [ "$(vring "$1")" = "running -" ]; }
drop_grew() { [ "$(evil_drop "$1")" -ge $(($2 + $3)) ]; }	# REASON BEFORE MIN

# run_case NAME KIND ARGS: KIND is broken VRING REASON | drop REASON MIN |
# custom (the caller checks after, while the evil guest still holds on)
run_case() {
	local name=$1 kind=$2 t0 t1 t2 n0 n1 n2 before
	shift 2
	case_drop0=0
	[ "$kind" = drop ] && case_drop0=$(evil_drop "$1")
	case_rx0=$(stat_of "$ctl" evil .rx_pkts)
	t0=$(now); n0=$(sink_tx)
	sleep 0.5
	t1=$(now); n1=$(sink_tx)
	bg evil "$EVIL" "$T/evil.sock" "$name" --mac "$EVIL_MAC" --hold 30 --active 2
	if ! wait_for 20 grep -q "^done $name" "$T/evil.log"; then
		not_ok "$name: the evil guest committed the fault"
		sed 's/^/    /' "$T/evil.log" | tail -n 5
	fi
	case $kind in
	broken)
		check "$name: vring $1 broken, reason $2" wait_for 10 is_broken "$1" "$2"
		check "$name: the other vring of the evil port is not broken" \
			bash -c "[ \"\$(echo '$(vring $((1 - $1)))' | cut -d' ' -f1)\" != broken ]"
		;;
	drop)
		check "$name: dropped and counted as $1 (>= $2)" wait_for 10 drop_grew "$1" "$case_drop0" "$2"
		check "$name: the TX queue keeps running" is_running 1
		;;
	esac
	[ "$kind" = custom ] && custom_"${name//-/_}"
	t2=$(now); n2=$(sink_tx)
	before=$(rate "$n0" "$n1" "$t0" "$t1")
	log "$name: good pair before $before pps, during $(rate "$n1" "$n2" "$t1" "$t2") pps"
	grep '^#' "$T/evil.log" | sed "s/^# /# evil $name: /" | grep -v attached
	check "$name: switch still answers" switch_ready "$ctl"
	check "$name: the good pair's frames were delivered during the case" [ "$n2" -gt "$n1" ]
	kill "$pid_evil" 2>/dev/null
	wait "$pid_evil" 2>/dev/null
	wait_for 5 bash -c "[ \"\$($PVNET stats --ctl $ctl --json | jq '.ports[] | select(.name==\"evil\") | .vhost.connected')\" = false ]"
}

custom_rx_1byte() {
	check "rx-1byte: frames were delivered in 1-byte buffers" \
		wait_for 5 grep -q 'rx-1byte: [1-9][0-9]* used entries of 1 byte' "$T/evil.log"
	check "rx-1byte: then dropped as rx_no_buf" wait_for 5 drop_grew rx_no_buf "$case_nobuf0" 1
	check "rx-1byte: the RX queue keeps running" is_running 0
}
custom_double_fetch() {
	check "double-fetch: the TX queue keeps running (every shape was valid)" is_running 1
	check "double-fetch: chains were popped" [ "$(stat_of "$ctl" evil .rx_pkts)" -gt "$case_rx0" ]
}
custom_used_write() {
	check "used-write: the TX queue keeps running" is_running 1
	check "used-write: chains were popped" [ "$(stat_of "$ctl" evil .rx_pkts)" -gt "$case_rx0" ]
}
custom_kick_storm() {
	log "kick-storm: kicks counted by the switch: $(stat_of "$ctl" evil .rxq_kicks)"
	check "kick-storm: both queues keep running" bash -c "$(declare -f vring is_running stat_of); PVNET=$PVNET ctl=$ctl; is_running 0 && is_running 1"
}
custom_mem_rem() {
	# With no memory left, the rings wait stopped for a new table (no
	# fault: a frontend may remove memory); nothing maps the old region.
	check "mem-rem: both rings stopped" bash -c "$(declare -f vring stat_of); PVNET=$PVNET ctl=$ctl; [ \"\$(vring 0)\" = 'stopped -' ] && [ \"\$(vring 1)\" = 'stopped -' ]"
	check "mem-rem: the switch no longer maps the region (memfd mappings back to $case_maps0)" \
		[ "$(grep -c 'memfd:pvnet-guest' /proc/$pid_switch/maps)" = "$case_maps0" ]
	check "mem-rem: frames to it are dropped as rx_not_ready" \
		wait_for 5 drop_grew rx_not_ready "$case_nrdy0" 1
}
custom_mem_table() {
	check "mem-table: TX ring broken reading the new memory, reason ring_avail_idx" \
		wait_for 10 is_broken 1 ring_avail_idx
}

ring_cases="1:head-oor:ring_head_oor 1:next-oor:ring_next_oor 1:loop:ring_loop
1:zero-len:ring_desc_zero_len 1:addr:ring_addr 1:addr-wrap:ring_addr
1:avail-idx:ring_avail_idx 1:read-wo:ring_read_wo
1:indirect-nested:ring_indirect_nested 1:indirect-len:ring_indirect_len
1:indirect-next:ring_indirect_next 1:indirect-off:ring_indirect_off
1:too-many-segs:ring_too_many_segs 1:table-chain:ring_too_many_segs
0:write-ro:ring_write_ro 0:order:ring_order"
for c in $ring_cases; do
	IFS=: read -r vr name reason <<<"$c"
	run_case "$name" broken "$vr" "$reason"
done

drop_cases="indirect-valid:tx_no_dest:1 max-chain:tx_no_dest:1
csum-start:pkt_hdr_csum:10 gso-size0:pkt_hdr_gso:10 hdr-len:pkt_hdr_gso:10
gso-no-tso:pkt_hdr_gso:10 bad-flags:pkt_hdr_flags:10 truncated:pkt_trunc:10
no-refill:rx_no_buf:1"
for c in $drop_cases; do
	IFS=: read -r name reason min <<<"$c"
	run_case "$name" drop "$reason" "$min"
done

case_nobuf0=$(evil_drop rx_no_buf)
run_case rx-1byte custom
run_case double-fetch custom
run_case used-write custom
run_case kick-storm custom
case_nrdy0=$(evil_drop rx_not_ready)
case_maps0=$(grep -c 'memfd:pvnet-guest' /proc/$pid_switch/maps)
run_case mem-rem custom
run_case mem-table custom

# The good stream: stop it and check what arrived.
kill "$pid_gen" "$pid_feed"
wait "$pid_gen" "$pid_feed" 2>/dev/null
sleep 0.5
kill "$pid_sink"
wait "$pid_sink" 2>/dev/null
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
log "good stream: sink $sink_out"
check "good stream: nothing corrupted or reordered" \
	[ "$(jq '.corrupted + .reordered' <<<"$sink_out")" = 0 ]
rx=$(stat_of "$ctl" gen .rx_pkts)
tx=$(stat_of "$ctl" sink .tx_pkts)
dr=$(stat_of "$ctl" sink '.drops | to_entries | map(.value) | add // 0')
log "good stream: switch gen rx $rx, sink tx $tx, sink drops $dr, lost at the sink $(jq .lost <<<"$sink_out")"
check "good stream: every frame delivered or counted (rx = tx + drops)" [ "$rx" = $((tx + dr)) ]
check "good stream: the sink received what the switch delivered" \
	[ "$(jq .received <<<"$sink_out")" = "$tx" ]
check "the good ports counted no fault" \
	[ "$(stat_of "$ctl" gen '.vhost.faults | length') $(stat_of "$ctl" sink '.vhost.faults | length')" = "0 0" ]
all=$("$PVNET" stats --ctl "$ctl" --json)
sum() { jq "[.ports[] | $1] | add" <<<"$all"; }
log "all ports: rx $(sum .rx_pkts) tx $(sum .tx_pkts) dropped $(sum .dropped) replicated $(sum .replicated) segmented $(sum .segmented)"
check "accounting over all ports: rx = tx + dropped - replicated + segmented" \
	[ "$(sum .rx_pkts)" = $(($(sum .tx_pkts) + $(sum .dropped) - $(sum .replicated) + $(sum .segmented))) ]
"$PVNET" stats --ctl "$ctl" --json | jq -c '.ports[] | select(.name=="evil") | {drops, faults: .vhost.faults}'
finish
