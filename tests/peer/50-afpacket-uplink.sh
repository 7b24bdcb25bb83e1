#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: an afpacket uplink. A veth pair: one end in a "host"
# namespace with 198.18.50.1/24, the other bound by `pvnet switch` (in its
# own namespace) with an AF_PACKET TPACKET_V3 ring; a `pvnet guest --tap`
# namespace with 198.18.50.2/24 on a vhost port. Ping and iperf3 TCP both
# ways, 8 MB files both ways with the same hash, uplink counters sane; then
# TSO both ways (tso=on, the default: PACKET_VNET_HDR with GSO): 64 KiB sends
# cross the uplink whole, never segmented in software.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uplink.sh"

G_MAC=02:00:00:00:50:02
ctl=$T/ctl.sock
nss=$(netns_new s) && nsh=$(netns_new h) && nsg=$(netns_new g) ||
	{ not_ok "create namespaces"; finish; }
# netns_new runs in $(...), a subshell: register them for cleanup here.
netnses+=("$nss" "$nsh" "$nsg")
ip link add pvu50h type veth peer name pvu50s || { not_ok "create veth"; finish; }
ip link set pvu50h netns "$nsh"
ip link set pvu50s netns "$nss"
ip -n "$nsh" addr add 198.18.50.1/24 dev pvu50h
ip -n "$nsh" link set pvu50h up
ip -n "$nss" link set pvu50s up
# First wire-sized frames from the host (the switch's GRO aggregates them);
# TSO comes back on for the second half.
ip netns exec "$nsh" ethtool -K pvu50h tso off gso off >/dev/null 2>&1

bg switch ip netns exec "$nss" "$PVNET" switch --ctl "$ctl" \
	--port "afpacket,name=up,ifname=pvu50s" \
	--port "vhost,name=g,path=$T/g.sock,mac=$G_MAC"
check "switch with an afpacket uplink ready" wait_for 10 switch_ready "$ctl"
check "afpacket port took a vnet header (checksum offload)" \
	grep -q "vnet header (checksum offload)" "$T/switch.log"
bg guest "$PVNET" guest --connect "$T/g.sock" --mac "$G_MAC" --tap pv0 --netns "$nsg"
check "guest TAP up" wait_for 10 ip -n "$nsg" link show pv0 up
ip -n "$nsg" addr add 198.18.50.2/24 dev pv0

uplink_traffic "$nsh" 198.18.50.1 "$nsg" 198.18.50.2 "$ctl" up
# Seeds 000/001: the uplink delivers wire-sized TCP segments; the switch's
# GRO hands the guest fewer, larger packets (it took GUEST_TSO).
js=$("$PVNET" stats --ctl "$ctl" --json)
log "uplink GRO: $(jq -c '[.workers[].gro | {in_segs, out_pkts, agg}]' <<<"$js")"
check "uplink GRO: the guest got aggregated packets (agg > 1.5, GSO headers)" \
	[ "$(jq '([.workers[].gro.agg] | max) > 1.5 and ([.ports[].tx_gso_pkts] | add) > 0' <<<"$js")" = true ]

# Issue 14: TSO on at the host's sender. Its 64 KiB sends reach the socket
# whole (a GSO vnet header), the guest (GUEST_TSO) gets them whole, and the
# guest's TSO sends go into the socket whole for the kernel to pass on.
ip netns exec "$nsh" ethtool -K pvu50h tso on gso on >/dev/null 2>&1
gso_of() { jq "[.ports[] | select(.name == \"$1\") | .$2 // 0] | add" <<<"$3"; }
bg "iperf_5203" ip netns exec "$nsg" iperf3 -s -1 -p 5203
bg "iperf_5204" ip netns exec "$nsh" iperf3 -s -1 -p 5204
sleep 0.5
check "iperf3 TCP host -> guest, 64 KiB sends, host TSO on" \
	timeout 30 ip netns exec "$nsh" iperf3 -c 198.18.50.2 -p 5203 -t 2 -l 64K
check "iperf3 TCP guest -> host, 64 KiB sends" \
	timeout 30 ip netns exec "$nsg" iperf3 -c 198.18.50.1 -p 5204 -t 2 -l 64K
# The guest's TX buffers (1024 slots of 64 KiB, sparse shared memory) are
# reused from the top of the free stack: a bulk send keeps a few of them in
# use, not all 64 MiB (each first touched by a page fault, then out of cache).
shm=$(awk '/^RssShmem:/ {print $2}' "/proc/$pid_guest/status")
log "guest RssShmem after the bulk sends: ${shm} kB"
check "TSO guest -> host: the guest reused a few warm TX buffers (RssShmem < 32 MiB)" \
	[ "${shm:-999999}" -lt 32768 ]
js2=$("$PVNET" stats --ctl "$ctl" --json)
log "uplink GSO frames: in $(( $(gso_of up rx_gso_pkts "$js2") - $(gso_of up rx_gso_pkts "$js") )), out $(( $(gso_of up tx_gso_pkts "$js2") - $(gso_of up tx_gso_pkts "$js") )); segmented in software: $(jq -c '[.ports[] | {(.name): .segmented}] | add' <<<"$js2")"
check "TSO host -> guest: the uplink took the host's GSO frames whole" \
	[ "$(gso_of up rx_gso_pkts "$js2")" -gt "$(gso_of up rx_gso_pkts "$js")" ]
check "TSO host -> guest: the guest got large packets" \
	[ "$(gso_of g tx_gso_pkts "$js2")" -gt "$(gso_of g tx_gso_pkts "$js")" ]
check "TSO guest -> host: large packets went into the socket whole" \
	[ "$(gso_of up tx_gso_pkts "$js2")" -gt "$(gso_of up tx_gso_pkts "$js")" ]
check "nothing was segmented in software, the whole test" \
	[ "$(jq '[.ports[].segmented] | add' <<<"$js2")" = 0 ]
# 64 KiB frames in 2 KiB mergeable buffers took 33 descriptors each: the
# guest's 1024-entry RX ring held 31 of them, and a late refill dropped
# whole frames (rx_no_buf), each ~45 TCP segments to retransmit.
log "guest port drops: $(stat_of "$ctl" g '.drops' | tr -d ' \n')"
check "TSO host -> guest: no frame dropped for want of guest RX buffers" \
	[ "$(stat_of "$ctl" g '.drops.rx_no_buf // 0')" = 0 ]
check "no GSO frame dropped on the uplink" \
	[ "$(stat_of "$ctl" up '[.drops.pkt_hdr_gso, .drops.pkt_gso_too_big, .drops.pkt_too_big] | map(. // 0) | add')" = 0 ]
finish

