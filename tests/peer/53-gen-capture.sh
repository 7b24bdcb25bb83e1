#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: the gen port's frames, as a capture sees them after the
# switch: every IPv4 header and TCP checksum valid, every frame TCP/IPv4 of
# the configured size, the count exact and paced; then a gen port -> vhost
# -> `pvnet guest --sink` run is counted end to end (frames delivered or
# dropped, none lost without a count).
. "$(dirname "$0")/lib.sh"

CHK=${PVNET_BUILD:-$top/build}/tests/peer/pcapcheck
N=20000
stat_is() { [ "$(stat_of "$1" "$2" ".$3")" = "$4" ]; }
check "pcapcheck helper built" test -x "$CHK"

for mss in 1448 1 535; do
	bg sw "$PVNET" switch --ctl "$T/ctl.sock" \
		--port "pcap,name=cap,out=$T/gen.pcap" \
		--port "gen,name=gen,flows=8,mss=$mss,dst=02:00:00:00:53:02,count=$N"
	wait_for 10 switch_ready "$T/ctl.sock"
	check "mss $mss: $N frames captured" \
		wait_for 30 stat_is "$T/ctl.sock" cap tx_pkts $N
	kill "$pid_sw"; wait "$pid_sw" 2>/dev/null
	s=$("$CHK" "$T/gen.pcap")
	log "mss $mss: $s"
	check "mss $mss: all $N frames TCP/IPv4" [ "$(jq .tcp <<<"$s")" = "$N" ]
	check "mss $mss: no bad IPv4 or TCP checksum" \
		[ "$(jq '.bad_ip_csum + .bad_l4_csum' <<<"$s")" = 0 ]
	check "mss $mss: frame bytes = N * (54 + mss)" \
		[ "$(jq .bytes <<<"$s")" = $((N * (54 + mss))) ]
	rm -f "$T/gen.pcap" "$T/ctl.sock"
done

# Paced: 2000 frames at 10000/s take about 0.2 s, far from unpaced.
SINK_MAC=02:00:00:00:53:02
bg sw "$PVNET" switch --ctl "$T/ctl.sock" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC" \
	--port "gen,name=gen,flows=4,mss=1448,dst=$SINK_MAC,rate=1000,count=2000"
check "switch with gen and a sink ready" wait_for 10 switch_ready "$T/ctl.sock"
bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
	--count 100000000 --idle-timeout 3
check "gen's 2000 frames entered the switch" \
	wait_for 30 stat_is "$T/ctl.sock" gen rx_pkts 2000
rx=$(stat_of "$T/ctl.sock" gen .rx_pkts)
tx=$(stat_of "$T/ctl.sock" sink .tx_pkts)
dr=$(stat_of "$T/ctl.sock" sink .dropped)
mg=$(stat_of "$T/ctl.sock" sink .merged)
drg=$(stat_of "$T/ctl.sock" gen .dropped)
log "gen rx $rx, sink tx $tx, sink dropped $dr, merged by GRO $mg, gen dropped $drg"
# GRO folds segments into fewer packets toward the sink (it takes TSO).
check "accounting adds up: gen rx = sink delivered + dropped + merged" \
	[ "$rx" = $((tx + dr + mg + drg)) ]
# gen starts with the switch and takes 2 s at 1 kpps: the sink, started
# once the switch answers, must attach within the first second.
check "the sink got most of them (it attached before gen finished)" [ $((tx + mg)) -gt 1000 ]
# the sender's cost, which pvnet bench takes out of the switch's busy cycles
gc=$(stat_of "$T/ctl.sock" gen .gen_cycles)
bc=$("$PVNET" stats --ctl "$T/ctl.sock" --json | jq '[.workers[].busy_cycles] | add')
log "gen_cycles $gc of busy_cycles $bc"
check "gen_cycles counted, and within the workers' busy cycles" \
	[ "$gc" -gt 0 -a "$gc" -lt "$bc" ]
finish
