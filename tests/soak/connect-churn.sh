#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Soak (not part of tests/run): for MINUTES (default 10), a frontend connects
# to `pvnet switch` and goes away every second, alternately a clean exit
# and kill -9 mid-traffic, while a paced gen -> sink stream runs through the
# same switch. The switch's resident memory (VmRSS, and RssAnon: its own
# pages, without the guests' shared memory), fd count and guest-memory
# mappings are sampled every 10 s and printed. At the end, with every guest
# gone: the fd count and mappings are back to those of the switch before any
# guest came, RssAnon grew by less than 1 MB, the good stream has nothing
# corrupted or reordered, and every frame of it was delivered or counted.
#
#   tests/soak/connect-churn.sh [MINUTES]      (root: the peer test helpers)
. "$(dirname "$0")/../peer/lib.sh"

MINUTES=${1:-${SOAK_MINUTES:-10}}
secs=$(echo "$MINUTES * 60 / 1" | bc)
GEN_MAC=02:00:00:00:90:01
SINK_MAC=02:00:00:00:90:02
CHURN_MAC=02:00:00:00:90:03
DRAIN_MAC=02:00:00:00:90:04
ctl=$T/ctl.sock
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC" \
	--port "vhost,name=churn,path=$T/churn.sock,mac=$CHURN_MAC" \
	--port "vhost,name=drain,path=$T/drain.sock,mac=$DRAIN_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish
spid=$pid_switch
nfds() { ls /proc/"$spid"/fd | wc -l; }
nmaps() { grep -c 'memfd:pvnet-guest' /proc/"$spid"/maps; }
fd_empty=$(nfds); m_empty=$(nmaps)

rate=10000
count=$(( (secs + 5) * rate ))
bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
	--count $count --idle-timeout 10
bg drain "$PVNET" guest --connect "$T/drain.sock" --mac "$DRAIN_MAC" --sink \
	--idle-timeout $((secs + 30))
wait_for 10 grep -q attached "$T/sink.log"
wait_for 10 grep -q attached "$T/drain.log"
bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
	--dst "$SINK_MAC" --size 512 --count $count --rate $rate

kb() { awk -v k="$1:" '$1 == k {print $2}' /proc/"$spid"/status; }
sample() {
	printf '# t=%4ds VmRSS %6d kB RssAnon %6d kB fds %3d guest-mappings %d churn-connects %s\n' \
		"$1" "$(kb VmRSS)" "$(kb RssAnon)" "$(nfds)" "$(nmaps)" \
		"$(stat_of "$ctl" churn .vhost.connects)"
}

sleep 1
fd0=$(nfds); m0=$(nmaps); anon0=$(kb RssAnon); anon_max=$anon0; rss0=$(kb VmRSS)
sample 0
start=$(date +%s)
i=0
while [ $(( $(date +%s) - start )) -lt "$secs" ]; do
	if [ $((i % 2)) = 0 ]; then
		timeout 5 "$PVNET" guest --connect "$T/churn.sock" --mac "$CHURN_MAC" --gen \
			--dst "$DRAIN_MAC" --size 256 --rate 20000 --duration 0.7 >/dev/null 2>&1
	else
		"$PVNET" guest --connect "$T/churn.sock" --mac "$CHURN_MAC" --gen \
			--dst "$DRAIN_MAC" --size 1518 >/dev/null 2>&1 &
		cp=$!
		sleep 0.7
		kill -9 "$cp"
		wait "$cp" 2>/dev/null
	fi
	sleep 0.25
	i=$((i + 1))
	a=$(kb RssAnon)
	[ "$a" -gt "$anon_max" ] && anon_max=$a
	[ $((i % 10)) = 0 ] && sample $(( $(date +%s) - start ))
done
wait_for 10 bash -c "[ \"\$($PVNET stats --ctl $ctl --json | jq '.ports[] | select(.name==\"churn\") | .vhost.connected')\" = false ]"
sleep 1
sample $(( $(date +%s) - start ))
wait "$pid_gen" 2>/dev/null
wait "$pid_sink" 2>/dev/null
kill "$pid_drain"
wait "$pid_drain" 2>/dev/null
gone() { [ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[] | select(.vhost.connected)] | length')" = 0 ]; }
wait_for 10 gone
sleep 0.5
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
log "connects/disconnects: $i ($(stat_of "$ctl" churn .vhost.connects) counted by the switch)"
log "good stream: $sink_out"
log "VmRSS $rss0 -> $(kb VmRSS) kB; RssAnon $anon0 -> $(kb RssAnon) kB (max $anon_max); fds $fd0 with the steady guests, $fd_empty with none before, $(nfds) with none after; mappings $m0 -> $(nmaps)"
check "fd count back to $fd_empty (no guest)" [ "$(nfds)" = "$fd_empty" ]
check "guest mappings back to $m_empty (no guest)" [ "$(nmaps)" = "$m_empty" ]
check "RssAnon grew by less than 1024 kB ($((anon_max - anon0)) kB)" [ $((anon_max - anon0)) -lt 1024 ]
check "good stream: nothing corrupted or reordered" \
	[ "$(jq '.corrupted + .reordered' <<<"$sink_out")" = 0 ]
rx=$(stat_of "$ctl" gen .rx_pkts)
tx=$(stat_of "$ctl" sink .tx_pkts)
dr=$(stat_of "$ctl" sink '.drops | to_entries | map(.value) | add // 0')
log "good stream: switch gen rx $rx, sink tx $tx, sink drops $(stat_of "$ctl" sink .drops), lost at the sink $(jq .lost <<<"$sink_out")"
check "good stream: every frame delivered or counted (rx = tx + drops)" [ "$rx" = $((tx + dr)) ]
check "good stream: the sink received what the switch delivered" [ "$(jq .received <<<"$sink_out")" = "$tx" ]
check "switch still answers" switch_ready "$ctl"
finish
