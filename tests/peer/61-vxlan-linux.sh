#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: a vxlan port talks to a Linux vxlan device. Host H1 runs
# `pvnet switch` (inside its namespace) with a `pvnet guest --tap` guest (in
# its own namespace, MTU 1450, TSO on) and a vxlan port; host H2, across a
# veth underlay 198.18.61.0/24, has `ip link add vx42 type vxlan id 42`.
# The overlay is 198.19.61.0/24. Ping, iperf3 TCP and an 8 MB file both
# ways; the guest's TSO sends are segmented and encapsulated into UDP GSO
# sends (none dropped for size; a kernel that refuses UDP GSO makes the
# port fall back to a datagram per segment, counted); H2's MAC is learned behind H2's address; datagrams
# with a bad header, a foreign VNI or too short are dropped by name. Then
# the same switch restarted with an IPv6 underlay (fd00:61::/64): ping.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uplink.sh"

G_MAC=02:00:00:00:61:01
H2_MAC=02:00:00:00:61:02
ctl=$T/ctl.sock
ns1=$(netns_new h1) && ns2=$(netns_new h2) && nsg=$(netns_new g) ||
	{ not_ok "create namespaces"; finish; }
netnses+=("$ns1" "$ns2" "$nsg")

ip link add u61a netns "$ns1" type veth peer name u61b netns "$ns2"
ip -n "$ns1" addr add 198.18.61.1/24 dev u61a
ip -n "$ns2" addr add 198.18.61.2/24 dev u61b
ip -n "$ns1" addr add fd00:61::1/64 dev u61a nodad
ip -n "$ns2" addr add fd00:61::2/64 dev u61b nodad
# A veth carries a partial checksum across namespaces as it is: the inner
# TCP checksum of H2's vxlan device would reach pvnet's UDP socket never
# computed (a NIC would compute it). Checksum in software on H2's side.
ip netns exec "$ns2" ethtool -K u61b tx off >/dev/null
ip -n "$ns1" link set u61a up
ip -n "$ns2" link set u61b up

ip -n "$ns2" link add vx42 type vxlan id 42 local 198.18.61.2 remote 198.18.61.1 \
	dstport 4789 dev u61b
ip -n "$ns2" link set vx42 address "$H2_MAC"
ip -n "$ns2" addr add 198.19.61.2/24 dev vx42
ip -n "$ns2" link set vx42 up

start_switch() {	# start_switch LOCAL REMOTE
	bg switch ip netns exec "$ns1" "$PVNET" switch --ctl "$ctl" \
		--port "vxlan,name=vx,vni=42,local=$1,remote=$2" \
		--port "vhost,name=g,path=$T/g.sock,mac=$G_MAC"
	wait_for 10 switch_ready "$ctl"
}
check "switch with a vxlan port (IPv4 underlay) ready" \
	start_switch 198.18.61.1 198.18.61.2
bg guest "$PVNET" guest --connect "$T/g.sock" --mac "$G_MAC" --tap pv0 --netns "$nsg"
check "guest TAP up" wait_for 10 ip -n "$nsg" link show pv0 up
# The encapsulation takes 50 bytes of the underlay's 1500 (docs/vxlan.md).
ip -n "$nsg" link set pv0 mtu 1450
ip -n "$nsg" addr add 198.19.61.1/24 dev pv0
check "the guest's TAP does TSO (its large sends reach the switch whole)" \
	bash -c "ip netns exec $nsg ethtool -k pv0 | grep -q '^tcp-segmentation-offload: on'"

uplink_traffic "$ns2" 198.19.61.2 "$nsg" 198.19.61.1 "$ctl" vx

js=$("$PVNET" stats --ctl "$ctl" --json)
vx() { jq -c ".ports[] | select(.name == \"vx\") | $1" <<<"$js"; }
log "vxlan: $(vx .vxlan)"
log "vxlan drops: $(vx .drops)"
check "encapsulated and decapsulated > 1000 ($(vx .vxlan.encap_pkts), $(vx .vxlan.decap_pkts))" \
	[ "$(vx '.vxlan.encap_pkts > 1000 and .vxlan.decap_pkts > 1000')" = true ]
check "H2's MAC learned behind H2 (one remote MAC, none refused)" \
	[ "$(vx '.vxlan.macs == 1 and .vxlan.macs_refused == 0')" = true ]
check "the guest's TSO sends were segmented for the vxlan port ($(vx .segmented) segments)" \
	[ "$(vx '.segmented > 100')" = true ]
check "no frame toward the vxlan port dropped for size or MTU" \
	[ "$(vx '[.drops.pkt_too_big, .drops.vx_mtu, .drops.tx_port_err] | map(. // 0) | add')" = 0 ]
# Decapsulated inner TCP goes through the switch's GRO toward the guest
check "decapsulated TCP merged by GRO before the guest ($(jq -c '[.workers[].gro | {in_segs, out_pkts}]' <<<"$js"))" \
	[ "$(jq '([.workers[].gro.in_segs] | add) > 4 * ([.workers[].gro.out_pkts] | add)' <<<"$js")" = true ]
# UDP GSO (UDP_SEGMENT): a TSO send leaves as a few sends of many datagrams
check "the guest's TSO sends went out as UDP GSO sends ($(vx .vxlan.gso_sends) sends, $(vx .vxlan.gso_segs) segments)" \
	[ "$(vx '.vxlan.udp_gso and .vxlan.gso_sends > 50 and .vxlan.gso_segs > 4 * .vxlan.gso_sends and .vxlan.gso_fallbacks == 0')" = true ]
check "outer source ports come from the kernel's ephemeral range" \
	[ "$(vx '[.vxlan.src_ports[] | select(. >= 1024)] | length')" = 16 ]

# Bad input from the underlay: each dropped under its own name.
bad_dgram() { ip netns exec "$ns2" bash -c "printf '$1' >/dev/udp/198.18.61.1/4789"; }
eth='\x02\x00\x00\x00\x61\x01\x02\x00\x00\x00\x61\x77\x08\x00'
bad_dgram "\x00\x00\x00\x00\x00\x00\x2a\x00$eth"	# no I flag
bad_dgram "\x08\x00\x00\x00\x00\x00\x63\x00$eth"	# VNI 99
bad_dgram "\x08\x00\x00\x00\x00\x00\x2a"		# 7 bytes
bad_dgram "\x0c\x00\x00\x00\x00\x00\x2a\x00$eth"	# GPE-style flag
sleep 0.5
js=$("$PVNET" stats --ctl "$ctl" --json)
check "bad flags, foreign VNI and truncated datagrams dropped by name ($(vx .drops))" \
	[ "$(vx '[.drops.vx_bad_hdr, .drops.vx_unknown_vni, .drops.vx_trunc] == [2, 1, 1]')" = true ]
check "the bad datagrams taught no MAC" [ "$(vx .vxlan.macs)" = 1 ]

# An oversized frame from the guest (DF, 1472 payload > 1450 MTU) is not
# fragmented into the underlay: raise the guest's MTU, it is dropped by name.
ip -n "$nsg" link set pv0 mtu 1500
ip netns exec "$nsg" ping -c 1 -W 1 -M do -s 1472 198.19.61.2 >/dev/null 2>&1
ip -n "$nsg" link set pv0 mtu 1450
js=$("$PVNET" stats --ctl "$ctl" --json)
check "a frame over the underlay MTU is dropped as vx_mtu ($(vx .drops.vx_mtu))" \
	[ "$(vx '.drops.vx_mtu // 0')" -ge 1 ]

# IPv6 underlay: the same switch restarted on fd00:61::1; the guest reconnects.
kill "$pid_switch"
wait "$pid_switch" 2>/dev/null
ip -n "$ns2" link del vx42
ip -n "$ns2" link add vx6 type vxlan id 42 local fd00:61::2 remote fd00:61::1 \
	dstport 4789 dev u61b
ip -n "$ns2" link set vx6 address "$H2_MAC"
ip -n "$ns2" addr add 198.19.61.2/24 dev vx6
ip -n "$ns2" link set vx6 up
check "switch with a vxlan port (IPv6 underlay) ready" \
	start_switch fd00:61::1 fd00:61::2
ip -n "$nsg" link set pv0 mtu 1430
ip netns exec "$nsg" ip neigh flush dev pv0
check "ping guest -> H2 over an IPv6 underlay" \
	wait_for 10 ip netns exec "$nsg" ping -c 1 -W 1 198.19.61.2
check "ping H2 -> guest over an IPv6 underlay" \
	ip netns exec "$ns2" ping -c 3 -i 0.2 -W 2 198.19.61.1
js=$("$PVNET" stats --ctl "$ctl" --json)
log "vxlan (IPv6): $(vx .vxlan)"
check "IPv6 underlay: max inner frame is 1500 - 70 + 14" [ "$(vx .vxlan.max_frame)" = 1444 ]
bg srv6 ip netns exec "$ns2" iperf3 -s -p 5261
sleep 0.5
check "iperf3 guest -> H2 over an IPv6 underlay" \
	timeout 20 ip netns exec "$nsg" iperf3 -c 198.19.61.2 -p 5261 -t 1
js=$("$PVNET" stats --ctl "$ctl" --json)
check "IPv6 underlay: UDP GSO sends ($(vx .vxlan.gso_sends), $(vx .vxlan.gso_segs) segments)" \
	[ "$(vx '.vxlan.gso_sends > 10 and .vxlan.gso_segs > 4 * .vxlan.gso_sends')" = true ]

# udpcsum=off: the kernel refuses UDP GSO without the outer checksum
# (EINVAL); the port falls back to a datagram per segment, once, counted,
# and loses nothing. IPv4 again, the switch restarted.
kill "$pid_switch"
wait "$pid_switch" 2>/dev/null
kill "$pid_srv6" 2>/dev/null
ip -n "$ns2" link del vx6
ip -n "$ns2" link add vx42 type vxlan id 42 local 198.18.61.2 remote 198.18.61.1 \
	dstport 4789 dev u61b
ip -n "$ns2" link set vx42 address "$H2_MAC"
ip -n "$ns2" addr add 198.19.61.2/24 dev vx42
ip -n "$ns2" link set vx42 up
bg switch ip netns exec "$ns1" "$PVNET" switch --ctl "$ctl" \
	--port "vxlan,name=vx,vni=42,local=198.18.61.1,remote=198.18.61.2,udpcsum=off" \
	--port "vhost,name=g,path=$T/g.sock,mac=$G_MAC"
check "switch with udpcsum=off ready" wait_for 10 switch_ready "$ctl"
ip -n "$nsg" link set pv0 mtu 1450
ip netns exec "$nsg" ip neigh flush dev pv0
wait_for 10 ip netns exec "$nsg" ping -c 1 -W 1 198.19.61.2 >/dev/null
bg srv4 ip netns exec "$ns2" iperf3 -s -p 5262
sleep 0.5
check "iperf3 guest -> H2 with udpcsum=off (UDP GSO refused by the kernel)" \
	timeout 20 ip netns exec "$nsg" iperf3 -c 198.19.61.2 -p 5262 -t 1
js=$("$PVNET" stats --ctl "$ctl" --json)
log "vxlan (udpcsum=off): $(vx .vxlan)"
check "UDP GSO refused: one fallback, counted, then off ($(vx .vxlan.gso_fallbacks))" \
	[ "$(vx '.vxlan.gso_fallbacks == 1 and (.vxlan.udp_gso | not) and .vxlan.gso_sends == 0')" = true ]
check "nothing dropped toward the vxlan port for the fallback ($(vx .drops))" \
	[ "$(vx '[.drops.pkt_too_big, .drops.vx_mtu, .drops.tx_port_err] | map(. // 0) | add')" = 0 ]
finish
