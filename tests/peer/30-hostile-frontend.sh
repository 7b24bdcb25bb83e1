#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: a hostile vhost-user frontend commits one protocol fault
# after another on its own port while two good guests pass a paced, numbered
# stream through the same switch. Each fault gets an error reply or a closed
# connection and a counter; the switch stays up; the good stream loses nothing.
. "$(dirname "$0")/lib.sh"

HOSTILE=$top/build/tests/peer/hostile_front
GEN_MAC=02:00:00:00:03:01
SINK_MAC=02:00:00:00:03:02
ctl=$T/ctl.sock
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC" \
	--port "vhost,name=evil,path=$T/evil.sock,mac=02:00:00:00:03:03"
check "switch ready" wait_for 10 switch_ready "$ctl"

count=200000
bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
	--count $count --idle-timeout 5
wait_for 10 grep -q attached "$T/sink.log"
bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
	--dst "$SINK_MAC" --size 256 --count $count --rate 10000

cases="truncated stall oversize bad-version mid-handshake unknown wrong-fds
not-eventfd vring-idx vring-num nregions overlap overflow beyond-fd
ring-outside out-of-order bad-features"
for c in $cases; do
	check "hostile frontend: $c gets an error reply or a closed connection" timeout 20 "$HOSTILE" "$T/evil.sock" "$c"
	check "switch still answers after $c" switch_ready "$ctl"
done

wait "$pid_sink"
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
log "good stream during the faults: $sink_out"
sdrop=$(stat_of "$ctl" sink '.drops.rx_no_buf // 0')
check "the good stream flowed during the faults: every frame arrived or was counted" \
	[ "$(jq --argjson d "$sdrop" '.received + $d' <<<"$sink_out")" = $count ]
check "the good stream flowed during the faults: nothing reordered or corrupted" \
	[ "$(jq '.reordered + .corrupted' <<<"$sink_out")" = 0 ]
check "the good stream flowed during the faults: most frames arrived (> 50%)" \
	[ "$(jq '.received' <<<"$sink_out")" -gt $((count / 2)) ]
faults=$(stat_of "$ctl" evil '.vhost.faults | to_entries | map(.value) | add // 0')
log "faults counted on port evil: $(stat_of "$ctl" evil '.vhost.faults')"
check "every fault was counted (>= 14)" [ "$faults" -ge 14 ]
check "the good ports counted no fault" \
	[ "$(stat_of "$ctl" gen '.vhost.faults | length')" = 0 ]
finish
