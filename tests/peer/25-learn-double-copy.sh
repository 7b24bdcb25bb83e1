#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: the baselines work end to end. (1) --mode learn with no
# mac= on any port: two namespaces find each other by flooding and
# learning (ARP, then unicast), ping and TCP pass, the switch learned both
# MACs. (2) --copy double: the same traffic through a switch buffer.
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

run_case double --copy double \
	--port "vhost,name=a,path=$T/double-a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/double-b.sock,mac=$B_MAC"
check "double: copy mode is reported" [ "$(jq -r .copy <<<"$js")" = double ]
finish
