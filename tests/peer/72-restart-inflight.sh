#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: `pvnet switch` is killed (SIGKILL, nothing flushed) and
# started again, twice, under a paced, numbered gen -> sink stream whose
# guests reconnect (--reconnect). Chains that were in flight when the switch
# died belong to the old connection: they are lost, never delivered twice
# nor into the wrong buffer. The sink sees no corrupted, duplicated or
# reordered frame, and every frame the gen sent is received or counted lost.
. "$(dirname "$0")/lib.sh"

GEN_MAC=02:00:00:00:72:01
SINK_MAC=02:00:00:00:72:02
ctl=$T/ctl.sock
start_switch() {
	bg switch "$PVNET" switch --ctl "$ctl" \
		--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
		--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC"
	wait_for 10 switch_ready "$ctl"
}
delivered() { [ "$(stat_of "$ctl" sink .tx_pkts)" -gt "$1" ]; }

check "switch ready" start_switch || finish
count=60000
bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
	--reconnect --count $count --idle-timeout 15 --connect-timeout 20
wait_for 10 grep -q attached "$T/sink.log"
bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
	--reconnect --dst "$SINK_MAC" --size 512 --count $count --rate 10000 \
	--connect-timeout 20
for round in 1 2; do
	check "round $round: the stream flows" wait_for 10 delivered 5000
	kill -9 "$pid_switch"
	wait "$pid_switch" 2>/dev/null
	log "round $round: switch killed with SIGKILL mid-stream"
	sleep 0.5
	check "round $round: switch restarted" start_switch
	check "round $round: both guests reconnect and the stream resumes" \
		wait_for 20 delivered 1000
done
check "the gen finished its $count frames" wait_for 60 grep -q '"mode":"gen"' "$T/gen.log"
wait "$pid_gen" 2>/dev/null
wait_for 20 grep -q '"mode":"sink"' "$T/sink.log" || kill "$pid_sink"
wait "$pid_sink" 2>/dev/null
gen_out=$(grep '^{' "$T/gen.log" | tail -n1)
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
log "gen: $gen_out"
log "sink: $sink_out"
sent=$(jq .sent <<<"$gen_out")
got=$(jq .received <<<"$sink_out")
lost=$(jq .lost <<<"$sink_out")
log "across 2 switch kills: sent $sent, received $got, lost $lost (in flight at the kills)"
check "no frame corrupted" [ "$(jq .corrupted <<<"$sink_out")" = 0 ]
check "no frame duplicated or reordered" [ "$(jq .reordered <<<"$sink_out")" = 0 ]
check "every frame sent is received or counted lost" [ "$sent" = $((got + lost)) ]
check "most of the stream arrived (losses only around the kills)" [ "$got" -gt $((sent / 2)) ]
grep -c 'reconnecting' "$T/gen.log" "$T/sink.log" | sed 's/^/# reconnects: /'
finish
