#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: a tap uplink. `pvnet switch` creates TAP pvt51 with a vnet
# header inside a "host" namespace (netns=), which gets 198.18.51.1/24; a
# `pvnet guest --tap` namespace with 198.18.51.2/24 sits on a vhost port.
# Ping and iperf3 TCP both ways, 8 MB files both ways with the same hash;
# partial checksums pass through the TAP untouched; TSO both ways (large
# TCP packets cross the TAP whole, never segmented in software).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uplink.sh"

G_MAC=02:00:00:00:51:02
ctl=$T/ctl.sock
nsh=$(netns_new h) && nsg=$(netns_new g) || { not_ok "create namespaces"; finish; }
# netns_new runs in $(...), a subshell: register them for cleanup here.
netnses+=("$nsh" "$nsg")

bg switch "$PVNET" switch --ctl "$ctl" \
	--port "tap,name=up,ifname=pvt51,netns=$nsh" \
	--port "vhost,name=g,path=$T/g.sock,mac=$G_MAC"
check "switch with a tap uplink ready" wait_for 10 switch_ready "$ctl"
check "TAP pvt51 up in the host namespace" wait_for 10 ip -n "$nsh" link show pvt51 up
check "the TAP is not in the switch's own namespace" \
	bash -c "! ip link show pvt51 >/dev/null 2>&1"
ip -n "$nsh" addr add 198.18.51.1/24 dev pvt51
bg guest "$PVNET" guest --connect "$T/g.sock" --mac "$G_MAC" --tap pv0 --netns "$nsg"
check "guest TAP up" wait_for 10 ip -n "$nsg" link show pv0 up
ip -n "$nsg" addr add 198.18.51.2/24 dev pv0

uplink_traffic "$nsh" 198.18.51.1 "$nsg" 198.18.51.2 "$ctl" up
check "the switch completed no checksum for the TAP (it takes partial ones)" \
	[ "$(stat_of "$ctl" up .tx_csum_done)" = 0 ]
# Issue 14: TSO both ways (the TAP's default, tso=on): the host's stack
# hands the switch 64 KiB TCP sends, which the guest (GUEST_TSO) gets whole,
# and the guest's TSO sends reach the host unsegmented. (GRO of wire-sized
# uplink segments is 50-afpacket-uplink.sh's check.)
js=$("$PVNET" stats --ctl "$ctl" --json)
log "GSO packets: to the TAP $(jq '.ports[] | select(.name == "up") | .tx_gso_pkts' <<<"$js"), to the guest $(jq '.ports[] | select(.name == "g") | .tx_gso_pkts' <<<"$js"); segmented in software: $(jq -c '[.ports[] | {(.name): .segmented}] | add' <<<"$js")"
check "TSO host -> guest: the TAP handed the switch large packets (rx_gso_pkts)" \
	[ "$(jq '.ports[] | select(.name == "up") | .rx_gso_pkts > 0' <<<"$js")" = true ]
check "TSO host -> guest: the guest got the host's large packets whole" \
	[ "$(jq '.ports[] | select(.name == "g") | .tx_gso_pkts > 0' <<<"$js")" = true ]
check "TSO guest -> host: large packets went into the TAP whole" \
	[ "$(jq '.ports[] | select(.name == "up") | .tx_gso_pkts > 0' <<<"$js")" = true ]
check "nothing was segmented in software on the way" \
	[ "$(jq '[.ports[].segmented] | add' <<<"$js")" = 0 ]
finish

