#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: two network namespaces, each attached by `pvnet guest
# --tap` to `pvnet switch`: ping both ways over IPv4 and IPv6, iperf3 TCP
# both ways, and a file sent over TCP arrives with the same hash. The TAPs
# use checksum offload, so the guests' TCP carries partial checksums.
. "$(dirname "$0")/lib.sh"

A_MAC=02:00:00:00:02:01
B_MAC=02:00:00:00:02:02
ctl=$T/ctl.sock
nsa=$(netns_new a) && nsb=$(netns_new b) || { not_ok "create namespaces"; finish; }

bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl"
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
bg guest_b "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
check "TAP pv0 up in namespace a" wait_for 10 ip -n "$nsa" link show pv0 up
check "TAP pv0 up in namespace b" wait_for 10 ip -n "$nsb" link show pv0 up

ip -n "$nsa" addr add 198.18.2.1/24 dev pv0
ip -n "$nsb" addr add 198.18.2.2/24 dev pv0
ip -n "$nsa" addr add fd00:2::1/64 dev pv0 nodad
ip -n "$nsb" addr add fd00:2::2/64 dev pv0 nodad

check "ping a -> b" ip netns exec "$nsa" ping -c 3 -i 0.2 -W 2 198.18.2.2
check "ping b -> a" ip netns exec "$nsb" ping -c 3 -i 0.2 -W 2 198.18.2.1
check "ping6 a -> b" ip netns exec "$nsa" ping -6 -c 3 -i 0.2 -W 2 fd00:2::2
check "ping6 b -> a" ip netns exec "$nsb" ping -6 -c 3 -i 0.2 -W 2 fd00:2::1

bg "iperf_5201" ip netns exec "$nsb" iperf3 -s -1 -p 5201
bg "iperf_5202" ip netns exec "$nsa" iperf3 -s -1 -p 5202
sleep 0.5
if ip netns exec "$nsa" iperf3 -c 198.18.2.2 -p 5201 -t 3 -J >"$T/ab.json"; then
	ok "iperf3 TCP a -> b"
	log "iperf3 a -> b: $(jq '.end.sum_received.bits_per_second / 1e9' "$T/ab.json") Gbit/s"
else
	not_ok "iperf3 TCP a -> b"
fi
if ip netns exec "$nsb" iperf3 -c 198.18.2.1 -p 5202 -t 3 -J >"$T/ba.json"; then
	ok "iperf3 TCP b -> a"
	log "iperf3 b -> a: $(jq '.end.sum_received.bits_per_second / 1e9' "$T/ba.json") Gbit/s"
else
	not_ok "iperf3 TCP b -> a"
fi

head -c 8000000 /dev/urandom >"$T/file.bin"
ip netns exec "$nsb" timeout 20 nc -l -p 7000 >"$T/file.rcv" &
rcv=$!
sleep 0.5
ip netns exec "$nsa" timeout 20 nc -N 198.18.2.2 7000 <"$T/file.bin"
wait $rcv
check "an 8 MB file over TCP arrives with the same hash" \
	[ "$(sha256sum <"$T/file.bin")" = "$(sha256sum <"$T/file.rcv")" ]

# each pvnet guest tells the switch where its MAC is (SEND_RARP) on attach
check "pvnet guest a announced its MAC (SEND_RARP -> announces 1)" \
	[ "$(stat_of "$ctl" a .announces)" = 1 ]
check "pvnet guest b announced its MAC (the backend counted one rarp)" \
	[ "$(stat_of "$ctl" b .vhost.rarps)" = 1 ]
csum=$(stat_of "$ctl" a .tx_csum_done)
log "partial checksums completed by the switch toward a: $csum"
"$PVNET" stats --ctl "$ctl"
check "no port was cut off for a protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
finish
