#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: TCP aggregation and segmentation end to end, between two
# namespaces attached by `pvnet guest --tap`, each case moving an 8 MB file
# whose hash must match and running iperf3:
#  tso   both guests take large packets: a's 64 KB TSO sends pass through
#        untouched (GSO header kept) to b.
#  gso   b does not take large packets (port tso=off): the switch segments
#        a's TSO sends in software (counted in b's `segmented`).
#  gso_mss88  the same with b advertising MSS 88 (a route's advmss): a's
#        64 KB TSO sends need hundreds of segments each (once dropped
#        beyond 64); Linux's own TCP on both ends must still agree.
#  gro   a cannot send large packets (tso=off on a): its MTU segments are
#        aggregated by the switch's GRO toward b (worker gro agg > 1).
#  lro   b does not take large packets and a sends MTU segments: pvnet guest
#        b aggregates before its TAP (its own GRO, logged at exit).
. "$(dirname "$0")/lib.sh"

A_MAC=02:00:00:00:60:01
B_MAC=02:00:00:00:60:02
nsa=$(netns_new ga) && nsb=$(netns_new gb) || { not_ok "create namespaces"; finish; }
head -c 8000000 /dev/urandom >"$T/file.bin"

run_case() {	# run_case NAME A-OPTS B-OPTS [switch args...]
	local name=$1 aopt=$2 bopt=$3 ctl=$T/$1.ctl
	shift 3
	bg "sw_$name" "$PVNET" switch --ctl "$ctl" "$@" \
		--port "vhost,name=a,path=$T/$name-a.sock,mac=$A_MAC$aopt" \
		--port "vhost,name=b,path=$T/$name-b.sock,mac=$B_MAC$bopt"
	wait_for 10 switch_ready "$ctl" || { not_ok "$name: switch ready"; return; }
	bg "ga_$name" "$PVNET" guest --connect "$T/$name-a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
	bg "gb_$name" "$PVNET" guest --connect "$T/$name-b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
	wait_for 10 ip -n "$nsa" link show pv0 up
	wait_for 10 ip -n "$nsb" link show pv0 up
	ip -n "$nsa" addr add 198.18.60.1/24 dev pv0
	ip -n "$nsb" addr add 198.18.60.2/24 dev pv0
	# b's SYN then tells a to send segments of ADVMSS at most
	[ -z "${ADVMSS:-}" ] ||
		ip -n "$nsb" route add 198.18.60.1/32 dev pv0 advmss "$ADVMSS"
	wait_for 10 ip netns exec "$nsa" ping -c 1 -W 1 198.18.60.2
	ip netns exec "$nsb" timeout 30 nc -l -p 7060 >"$T/$name.rcv" &
	local rcv=$!
	sleep 0.3
	ip netns exec "$nsa" timeout 30 nc -N 198.18.60.2 7060 <"$T/file.bin"
	wait $rcv
	check "$name: an 8 MB file a -> b arrives with the same hash" \
		[ "$(sha256sum <"$T/file.bin")" = "$(sha256sum <"$T/$name.rcv")" ]
	bg "iperf_${name}" ip netns exec "$nsb" iperf3 -s -1 -p 5360
	sleep 0.3
	if ip netns exec "$nsa" iperf3 -c 198.18.60.2 -p 5360 -t 2 -J >"$T/$name.json"; then
		ok "$name: iperf3 a -> b"
		log "$name: iperf3 a -> b $(jq '.end.sum_received.bits_per_second / 1e9' "$T/$name.json") Gbit/s"
	else
		not_ok "$name: iperf3 a -> b"
	fi
	js=$("$PVNET" stats --ctl "$ctl" --json)
	log "$name: a $(jq -c '.ports[0] | {rx_pkts, drops}' <<<"$js")"
	log "$name: b $(jq -c '.ports[1] | {tx_pkts, tx_gso_pkts, segmented, tx_csum_done, drops}' <<<"$js")"
	log "$name: gro $(jq -c '[.workers[].gro]' <<<"$js")"
	eval "kill \$pid_ga_$name \$pid_gb_$name; wait \$pid_ga_$name \$pid_gb_$name"
	eval "kill \$pid_sw_$name; wait \$pid_sw_$name" 2>/dev/null
}

run_case tso "" "" --gro off
check "tso: large packets reached b with their GSO header" \
	[ "$(jq '.ports[1].tx_gso_pkts' <<<"$js")" -gt 0 ]
check "tso: nothing was segmented" [ "$(jq '.ports[1].segmented' <<<"$js")" = 0 ]

run_case gso "" ",tso=off" --gro off
check "gso: the switch segmented a's large sends for b" \
	[ "$(jq '.ports[1].segmented' <<<"$js")" -gt 0 ]
check "gso: no large packet reached b" [ "$(jq '.ports[1].tx_gso_pkts' <<<"$js")" = 0 ]

ADVMSS=88 run_case gso_mss88 "" ",tso=off" --gro off
check "gso_mss88: the switch segmented a's large sends for b" \
	[ "$(jq '.ports[1].segmented' <<<"$js")" -gt 0 ]
check "gso_mss88: more segments than 64 per large send (segmented > 64 x a's rx)" \
	[ "$(jq '.ports[1].segmented > 64 * .ports[0].rx_pkts' <<<"$js")" = true ]
check "gso_mss88: no GSO drop at b" \
	[ "$(jq '[.ports[1].drops // {} | to_entries[] | select(.key | test("gso")) | .value] | add // 0' <<<"$js")" = 0 ]

run_case gro ",tso=off" "" --gro adaptive
check "gro: the switch aggregated a's segments toward b (agg > 1.5)" \
	[ "$(jq '[.workers[].gro.agg] | max > 1.5' <<<"$js")" = true ]
check "gro: merged packets reached b with a GSO header" \
	[ "$(jq '.ports[1].tx_gso_pkts' <<<"$js")" -gt 0 ]

run_case lro ",tso=off" ",tso=off" --gro off
agg=$(grep -o '[0-9.]* segments per packet' "$T/gb_lro.log" | tail -1 | cut -d' ' -f1)
log "lro: pvnet guest b aggregated ${agg:-?} segments per packet before its TAP"
check "lro: pvnet guest b aggregated before its TAP (> 1.5 segments per packet)" \
	awk -v a="${agg:-0}" 'BEGIN { exit !(a > 1.5) }'
finish
