#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: isolated networks across two pvnet "hosts". Namespaces H1
# and H2 each run their own `pvnet switch`, joined by a veth underlay
# (198.18.63.0/24) and two vxlan ports: VNI 100 in network red, VNI 200 in
# network blue (each VNI on its own local address: one vxlan port binds
# one address and port). On each host two `pvnet guest --tap` guests, one
# in red (overlay 198.19.63.0/24) and one in blue (198.19.64.0/24); the red
# and the blue guest of a host have the SAME MAC. Checks: ping inside red
# and inside blue across the hosts; a broadcast in red reaches the other
# red guest and never a blue one (tcpdump on the blue TAPs counts 0, and
# the blue network's counters do not move on either switch); per-network
# stats and metrics; a port in an unknown network past the bound refused.
. "$(dirname "$0")/lib.sh"

MAC1=02:00:00:00:63:01	# host 1's red and blue guest
MAC2=02:00:00:00:63:02	# host 2's red and blue guest
h1=$(netns_new h1) && h2=$(netns_new h2) &&
	r1=$(netns_new r1) && b1=$(netns_new b1) &&
	r2=$(netns_new r2) && b2=$(netns_new b2) ||
	{ not_ok "create namespaces"; finish; }
netnses+=("$h1" "$h2" "$r1" "$b1" "$r2" "$b2")
# The switch creates runtime sockets as the user it runs as (nobody).
chmod 0711 "$T"
rt=$T/rt
mkdir -m 1777 "$rt"

ip link add u63a netns "$h1" type veth peer name u63b netns "$h2"
ip -n "$h1" addr add 198.18.63.1/24 dev u63a	# red VTEP
ip -n "$h1" addr add 198.18.63.3/24 dev u63a	# blue VTEP
ip -n "$h2" addr add 198.18.63.2/24 dev u63b
ip -n "$h2" addr add 198.18.63.4/24 dev u63b
ip -n "$h1" link set u63a up
ip -n "$h2" link set u63b up
# Quiet guests: no IPv6 (router solicitations, DAD) to blur the counters.
for n in "$r1" "$b1" "$r2" "$b2"; do
	ip netns exec "$n" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done

start_host() {	# start_host N NS RED_LOCAL RED_REMOTE BLUE_LOCAL BLUE_REMOTE MAC
	bg "switch$1" ip netns exec "$2" "$PVNET" switch --ctl "$T/h$1.ctl" \
		--port "vxlan,name=vr,vni=100,local=$3,remote=$4,network=red" \
		--port "vxlan,name=vb,vni=200,local=$5,remote=$6,network=blue" \
		--port "vhost,name=gr,path=$T/h$1-r.sock,mac=$7,network=red" \
		--port "vhost,name=gb,path=$T/h$1-b.sock,mac=$7,network=blue"
	wait_for 10 switch_ready "$T/h$1.ctl"
}
check "host 1's switch ready (red and blue ports, one MAC in both)" \
	start_host 1 "$h1" 198.18.63.1 198.18.63.2 198.18.63.3 198.18.63.4 $MAC1 ||
	{ cat "$T/switch1.log"; finish; }
check "host 2's switch ready" \
	start_host 2 "$h2" 198.18.63.2 198.18.63.1 198.18.63.4 198.18.63.3 $MAC2 ||
	{ cat "$T/switch2.log"; finish; }

guest() {	# guest NAME HOST COLOR NS MAC ADDR
	bg "$1" "$PVNET" guest --connect "$T/h$2-$3.sock" --mac "$5" \
		--tap pv0 --netns "$4"
	wait_for 10 ip -n "$4" link show pv0 up || return 1
	ip -n "$4" link set pv0 mtu 1450
	ip -n "$4" addr add "$6/24" dev pv0
}
guests() {
	guest gr1 1 r "$r1" $MAC1 198.19.63.1 && guest gb1 1 b "$b1" $MAC1 198.19.64.1 &&
	guest gr2 2 r "$r2" $MAC2 198.19.63.2 && guest gb2 2 b "$b2" $MAC2 198.19.64.2
}
check "the four guests' TAPs up" guests || finish

check "ping inside red across the hosts (r1 -> r2)" \
	wait_for 10 ip netns exec "$r1" ping -c 1 -W 1 198.19.63.2
check "ping inside blue across the hosts (b1 -> b2), same MACs as red" \
	wait_for 10 ip netns exec "$b1" ping -c 1 -W 1 198.19.64.2
check "ping back inside red (r2 -> r1) and blue (b2 -> b1), 5 each" \
	bash -c "ip netns exec $r2 ping -c 5 -i 0.2 -W 2 198.19.63.1 >/dev/null &&
		 ip netns exec $b2 ping -c 5 -i 0.2 -W 2 198.19.64.1 >/dev/null"
# Static neighbours from now on: no ARP probe of blue's own moves its
# counters while red broadcasts.
ip -n "$r1" neigh replace 198.19.63.2 lladdr $MAC2 dev pv0 nud permanent
ip -n "$r2" neigh replace 198.19.63.1 lladdr $MAC1 dev pv0 nud permanent
ip -n "$b1" neigh replace 198.19.64.2 lladdr $MAC2 dev pv0 nud permanent
ip -n "$b2" neigh replace 198.19.64.1 lladdr $MAC1 dev pv0 nud permanent

net() {	# net HOST NETWORK FIELD: a network's counter on a host's switch
	"$PVNET" stats --ctl "$T/h$1.ctl" --json | jq -r ".networks.$2.$3"
}
sleep 0.5
blue_before="$(net 1 blue rx_pkts) $(net 2 blue rx_pkts) $(stat_of "$T/h1.ctl" gb .tx_pkts) $(stat_of "$T/h2.ctl" gb .tx_pkts)"
red_flooded2=$(net 2 red flooded)

# Broadcasts in red, watched on every TAP.
for g in r2 b1 b2; do
	eval "ns=\$$g"
	bg "dump_$g" ip netns exec "$ns" tcpdump -i pv0 -n -l -U -w "$T/$g.pcap" \
		'ether broadcast and icmp'
done
sleep 1.5	# tcpdump attaches
ip netns exec "$r1" ping -b -c 5 -i 0.2 -W 1 198.19.63.255 >/dev/null 2>&1
sleep 1
for g in r2 b1 b2; do eval "kill \$pid_dump_$g"; done
sleep 0.5
count() { tcpdump -r "$T/$1.pcap" -n 2>/dev/null | wc -l; }
check "red's broadcasts reached the other red guest ($(count r2) seen on r2)" \
	[ "$(count r2)" -ge 5 ]
check "no broadcast of red reached blue's guest on host 1 ($(count b1))" \
	[ "$(count b1)" = 0 ]
check "no broadcast of red reached blue's guest on host 2 ($(count b2))" \
	[ "$(count b2)" = 0 ]
blue_after="$(net 1 blue rx_pkts) $(net 2 blue rx_pkts) $(stat_of "$T/h1.ctl" gb .tx_pkts) $(stat_of "$T/h2.ctl" gb .tx_pkts)"
check "blue's counters did not move on either switch ($blue_before -> $blue_after)" \
	[ "$blue_before" = "$blue_after" ]
check "host 2 flooded red's broadcasts in red ($red_flooded2 -> $(net 2 red flooded))" \
	[ "$(net 2 red flooded)" -ge $((red_flooded2 + 5)) ]

js=$("$PVNET" stats --ctl "$T/h1.ctl" --json)
log "host 1 networks: $(jq -c .networks <<<"$js")"
check "stats: networks default, red, blue with 0, 2, 2 ports" \
	[ "$(jq -c '[.networks.default.ports, .networks.red.ports, .networks.blue.ports]' <<<"$js")" = "[0,2,2]" ]
check "stats: each port's network" \
	[ "$(jq -c '[.ports[] | .network]' <<<"$js")" = '["red","blue","red","blue"]' ]
check "port list: each port's network" \
	[ "$("$PVNET" port list --ctl "$T/h1.ctl" --json | jq -c '[.ports[].network]')" = '["red","blue","red","blue"]' ]
check "stats: the MAC of both guests is in both networks' tables" \
	[ "$(jq '.networks.red.macs >= 1 and .networks.blue.macs >= 1' <<<"$js")" = true ]
# A blue guest cannot reach red's addresses even with a route to them.
ip -n "$b1" route add 198.19.63.0/24 dev pv0 2>/dev/null
check "blue cannot reach red's address (nothing crosses networks)" \
	bash -c "! ip netns exec $b1 ping -c 2 -i 0.3 -W 1 198.19.63.2 >/dev/null 2>&1"
ip -n "$b1" route del 198.19.63.0/24 dev pv0 2>/dev/null
"$PVNET" stats --ctl "$T/h1.ctl" --format openmetrics >"$T/om.txt"
check "metrics: per-network families with a network label" \
	bash -c "grep -q '^pvnet_network_flooded_total{network=\"red\"} [1-9]' $T/om.txt &&
		 grep -q '^pvnet_network_ports{network=\"blue\"} 2' $T/om.txt &&
		 grep -q '^pvnet_port_rx_packets_total{network=\"blue\",port=\"gb\"}' $T/om.txt"

# Runtime: a port added in a new network; a network name past the bound.
check "pvnet port add with network=green" \
	"$PVNET" port add --ctl "$T/h1.ctl" "vhost,name=gg,path=$rt/h1-g.sock,network=green"
check "green appears in stats with one port" \
	[ "$(net 1 green ports)" = 1 ]
for i in $(seq 4 15); do	# default, red, blue, green, n4..n15: 16
	"$PVNET" port add --ctl "$T/h1.ctl" "vhost,name=n$i,path=$rt/n$i.sock,network=n$i" >/dev/null 2>&1
done
out=$("$PVNET" port add --ctl "$T/h1.ctl" "vhost,name=n16,path=$rt/n16.sock,network=n16" 2>&1)
check "a 17th network is refused with a clear error ($out)" \
	grep -q "too many networks (at most 16)" <<<"$out"
check "both switches still run" \
	bash -c "kill -0 $pid_switch1 && kill -0 $pid_switch2"
finish
