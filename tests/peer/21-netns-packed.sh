#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: `pvnet guest --packed` (the packed virtqueue's driver
# side) through `pvnet switch` to a guest on split rings and to one on
# packed rings without EVENT_IDX: ping both ways, iperf3 TCP both ways
# and an 8 MB file with the same hash; the switch's vrings say "running
# packed" and the guests say which rings they laid out; a numbered
# stream --gen --packed -> --sink --packed arrives whole and in order;
# --packed against a port that does not offer the packed ring
# (packed=off) exits with a clear error at once.
. "$(dirname "$0")/lib.sh"

A_MAC=02:00:00:00:21:01
B_MAC=02:00:00:00:21:02
C_MAC=02:00:00:00:21:03
G_MAC=02:00:00:00:21:04
S_MAC=02:00:00:00:21:05
ctl=$T/ctl.sock
nsa=$(netns_new a) && nsb=$(netns_new b) && nsc=$(netns_new c) ||
	{ not_ok "create namespaces"; finish; }

bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC" \
	--port "vhost,name=c,path=$T/c.sock,mac=$C_MAC" \
	--port "vhost,name=g,path=$T/g.sock,mac=$G_MAC" \
	--port "vhost,name=s,path=$T/s.sock,mac=$S_MAC" \
	--port "vhost,name=nopk,path=$T/nopk.sock,packed=off"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish
bg guest_a "$PVNET" guest --packed --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
bg guest_b "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
bg guest_c "$PVNET" guest --packed --no-event-idx --connect "$T/c.sock" --mac "$C_MAC" --tap pv0 --netns "$nsc"
for n in a b c; do
	ns=ns$n
	check "TAP pv0 up in namespace $n" wait_for 10 ip -n "${!ns}" link show pv0 up || finish
done
check "guest a laid out packed rings" grep -q "packed rings" "$T/guest_a.log"
check "guest b laid out split rings" grep -q "split rings" "$T/guest_b.log"
check "guest c laid out packed rings" grep -q "packed rings" "$T/guest_c.log"
vr() { stat_of "$ctl" "$1" '[.vhost.vrings[].state] | join(",")'; }
check "switch: a's vrings run packed ($(vr a))" [ "$(vr a)" = "running packed,running packed" ]
check "switch: b's vrings run split ($(vr b))" [ "$(vr b)" = "running,running" ]
check "switch: c's vrings run packed ($(vr c))" [ "$(vr c)" = "running packed,running packed" ]

ip -n "$nsa" addr add 198.18.21.1/24 dev pv0
ip -n "$nsb" addr add 198.18.21.2/24 dev pv0
ip -n "$nsc" addr add 198.18.21.3/24 dev pv0
ip -n "$nsa" addr add fd00:21::1/64 dev pv0 nodad
ip -n "$nsb" addr add fd00:21::2/64 dev pv0 nodad

check "ping packed a -> split b" ip netns exec "$nsa" ping -c 3 -i 0.2 -W 2 198.18.21.2
check "ping split b -> packed a" ip netns exec "$nsb" ping -c 3 -i 0.2 -W 2 198.18.21.1
check "ping6 packed a -> split b" ip netns exec "$nsa" ping -6 -c 3 -i 0.2 -W 2 fd00:21::2
check "ping packed a -> packed c (no EVENT_IDX)" ip netns exec "$nsa" ping -c 3 -i 0.2 -W 2 198.18.21.3

iperf() {	# iperf NAME SERVER_NS CLIENT_NS ADDR PORT
	bg "iperf_$5" ip netns exec "$2" timeout 30 iperf3 -s -1 -p "$5"
	sleep 0.5
	if ip netns exec "$3" timeout 30 iperf3 -c "$4" -p "$5" -t 3 -J >"$T/$5.json"; then
		ok "iperf3 TCP $1"
		log "iperf3 $1: $(jq '.end.sum_received.bits_per_second / 1e9' "$T/$5.json") Gbit/s"
	else
		not_ok "iperf3 TCP $1"
	fi
}
iperf "packed a -> split b" "$nsb" "$nsa" 198.18.21.2 5201
iperf "split b -> packed a" "$nsa" "$nsb" 198.18.21.1 5202
iperf "packed c -> packed a" "$nsa" "$nsc" 198.18.21.1 5203

head -c 8000000 /dev/urandom >"$T/file.bin"
for dir in "a c 198.18.21.3" "c a 198.18.21.1"; do
	read -r from to addr <<<"$dir"
	nsf=ns$from
	nst=ns$to
	ip netns exec "${!nst}" timeout 20 nc -l -p 7000 >"$T/file.rcv" &
	rcv=$!
	sleep 0.5
	ip netns exec "${!nsf}" timeout 20 nc -N "$addr" 7000 <"$T/file.bin"
	wait $rcv
	check "an 8 MB file packed $from -> packed $to arrives with the same hash" \
		[ "$(sha256sum <"$T/file.bin")" = "$(sha256sum <"$T/file.rcv")" ]
done

# a numbered stream between two packed guests, many laps of the 1024 ring
bg sink "$PVNET" guest --packed --connect "$T/s.sock" --mac "$S_MAC" --sink --count 200000 --idle-timeout 3
wait_for 10 grep -q attached "$T/sink.log"
check "gen --packed: 200000 frames sent" timeout 30 "$PVNET" guest --packed \
	--connect "$T/g.sock" --mac "$G_MAC" --gen --dst "$S_MAC" --size 200 --count 200000 \
	--rate 100000
wait "$pid_sink"
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
log "sink: $sink_out"
drops=$(stat_of "$ctl" s .drops.rx_no_buf)
check "sink --packed: received + counted drops = 200000, none corrupted or reordered" \
	[ "$(jq -r '.received + '"${drops:-0}"' == 200000 and .corrupted == 0 and .reordered == 0' <<<"$sink_out")" = true ]

# --packed against a backend without the packed ring: a clear error, at once
start=$(date +%s)
"$PVNET" guest --packed --connect "$T/nopk.sock" --sink --idle-timeout 1 >"$T/nopk.log" 2>&1
rc=$?
check "--packed against packed=off exits with status 1 ($rc)" [ "$rc" = 1 ]
check "... saying the backend does not offer VIRTIO_F_RING_PACKED" \
	grep -q "does not offer VIRTIO_F_RING_PACKED" "$T/nopk.log"
check "... without retrying until the connect timeout" [ $(($(date +%s) - start)) -lt 5 ]

"$PVNET" stats --ctl "$ctl"
check "no ring fault or protocol fault on any port" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost | (.faults | length), ([.vrings[].drops | length] | add // 0)] | add')" = 0 ]
for g in a b c; do
	check "guest $g dropped nothing from the backend" \
		sh -c "! grep -q 'dropped:' '$T/guest_$g.log'"
done
finish
