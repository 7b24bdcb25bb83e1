#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: the baselines work end to end. (1) --mode learn with no
# mac= on any port: two namespaces find each other by flooding and
# learning (ARP, then unicast), ping and TCP pass, the switch learned both
# MACs. (2) --copy double: the same traffic through a switch buffer.
# (3) --mode learn with three virtio-user guests: a sink started with
# --announce is learned from its broadcast, so a gen's stream to it goes
# to it alone, not flooded to the third guest (the bench's bridge rows
# rely on this).
. "$(dirname "$0")/lib.sh"

A_MAC=02:00:00:00:25:01
B_MAC=02:00:00:00:25:02
nsa=$(netns_new la) && nsb=$(netns_new lb) || { not_ok "create namespaces"; finish; }

run_case() {	# run_case NAME SWITCH-ARGS...
	local name=$1 ctl=$T/$1.ctl
	shift
	bg "sw_$name" "$PVNET" switch --ctl "$ctl" "$@"
	wait_for 10 switch_ready "$ctl" || { not_ok "$name: switch ready"; return; }
	bg "ga_$name" "$PVNET" guest --connect "$T/$name-a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
	bg "gb_$name" "$PVNET" guest --connect "$T/$name-b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
	wait_for 10 ip -n "$nsa" link show pv0 up
	wait_for 10 ip -n "$nsb" link show pv0 up
	ip -n "$nsa" addr add 198.18.25.1/24 dev pv0
	ip -n "$nsb" addr add 198.18.25.2/24 dev pv0
	check "$name: ping a -> b" ip netns exec "$nsa" ping -c 3 -i 0.2 -W 2 198.18.25.2
	check "$name: ping b -> a" ip netns exec "$nsb" ping -c 3 -i 0.2 -W 2 198.18.25.1
	bg "iperf_${name}" ip netns exec "$nsb" iperf3 -s -1 -p 5301
	sleep 0.5
	if ip netns exec "$nsa" iperf3 -c 198.18.25.2 -p 5301 -t 2 -J >"$T/$name.json"; then
		ok "$name: iperf3 TCP a -> b"
		log "$name: iperf3 a -> b $(jq '.end.sum_received.bits_per_second / 1e9' "$T/$name.json") Gbit/s"
	else
		not_ok "$name: iperf3 TCP a -> b"
	fi
	js=$("$PVNET" stats --ctl "$ctl" --json)
	eval "kill \$pid_ga_$name \$pid_gb_$name"
	sleep 0.5
}

run_case learn --mode learn --ageing 60 \
	--port "vhost,name=a,path=$T/learn-a.sock" --port "vhost,name=b,path=$T/learn-b.sock"
log "learn: fdb $(jq -c '{mode, fdb_entries, fdb_learned}' <<<"$js")"
check "learn: the switch learned both guests' MACs" [ "$(jq .fdb_entries <<<"$js")" -ge 2 ]
check "learn: mode is reported" [ "$(jq -r .mode <<<"$js")" = learn ]
check "learn: the default MAC limit is reported, nothing refused" \
	[ "$(jq -c '[.mac_limit, .fdb_refused]' <<<"$js")" = "[256,0]" ]

run_case double --copy double \
	--port "vhost,name=a,path=$T/double-a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/double-b.sock,mac=$B_MAC"
check "double: copy mode is reported" [ "$(jq -r .copy <<<"$js")" = double ]

# (3) a learned sink gets the stream, a bystander does not
G_MAC=02:00:00:00:25:11 S_MAC=02:00:00:00:25:12 X_MAC=02:00:00:00:25:13
ctl=$T/ann.ctl
bg sw_ann "$PVNET" switch --ctl "$ctl" --mode learn \
	--port "vhost,name=g,path=$T/ann-g.sock" --port "vhost,name=s,path=$T/ann-s.sock" \
	--port "vhost,name=x,path=$T/ann-x.sock"
check "announce: switch ready" wait_for 10 switch_ready "$ctl" || finish
bg ann_x "$PVNET" guest --connect "$T/ann-x.sock" --mac "$X_MAC" --sink --idle-timeout 8
bg ann_s "$PVNET" guest --connect "$T/ann-s.sock" --mac "$S_MAC" --sink --announce \
	--count 5000 --idle-timeout 8
wait_for 10 grep -q attached "$T/ann_s.log"
wait_for 10 grep -q attached "$T/ann_x.log"
check "announce: the sink's MAC is learned before any traffic" \
	wait_for 5 bash -c "[ \$($PVNET stats --ctl $ctl --json | jq .fdb_entries) -ge 1 ]"
check "announce: gen sends 5000 frames" "$PVNET" guest --connect "$T/ann-g.sock" \
	--mac "$G_MAC" --gen --dst "$S_MAC" --size 256 --count 5000 --rate 10000
check "announce: the sink received all 5000" wait_for 10 grep -q '"received":5000' "$T/ann_s.log"
x_tx=$(stat_of "$ctl" x .tx_pkts)
log "announce: bystander got $x_tx frame(s) (the sink's broadcast)"
check "announce: the stream was not flooded to the bystander (<= 1 frame)" [ "$x_tx" -le 1 ]
finish
