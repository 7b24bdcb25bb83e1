#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: an afpacket uplink. A veth pair: one end in a "host"
# namespace with 198.18.50.1/24, the other bound by `pvnet switch` (in its
# own namespace) with an AF_PACKET TPACKET_V3 ring; a `pvnet guest --tap`
# namespace with 198.18.50.2/24 on a vhost port. Ping and iperf3 TCP both
# ways, 8 MB files both ways with the same hash, uplink counters sane.
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
# The switch forwards no GSO frames yet: the host side sends MSS-sized ones.
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
finish

