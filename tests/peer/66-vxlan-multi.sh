#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: one vxlan port carries two VNIs on one socket
# (vni=red:100,vni=blue:200), against Linux. Host H1 runs `pvnet switch`
# with that port and two `pvnet guest --tap` guests, one in red and one in
# blue, with the SAME MAC and the SAME address (198.19.66.1). Host H2,
# across a veth underlay (198.18.66.0/24), has two Linux vxlan devices on
# one address and dstport 4789 (VNI 100 and 200), each moved into its own
# namespace (R2, B2) whose address is 198.19.66.2 in both and whose MACs
# are the same too: only the VNI tells red from blue. Checks: ping in each
# network; a broadcast in red reaches R2 and never B2 nor the blue guest;
# the per-VNI counters of `pvnet stats` move for the VNI that carried
# traffic and not for the other; metrics per VNI; the ctl verbs take
# `vni N` (and ask for it on this port); a second vxlan port on the same
# local address and port is refused naming the first; a datagram of a VNI
# the port does not carry is dropped by name.
. "$(dirname "$0")/lib.sh"

MAC=02:00:00:00:66:01		# both guests of H1
PEER=02:00:00:00:66:02		# both Linux vxlan devices
ctl=$T/ctl.sock
h1=$(netns_new h1) && h2=$(netns_new h2) && r1=$(netns_new r1) &&
	b1=$(netns_new b1) && r2=$(netns_new r2) && b2=$(netns_new b2) ||
	{ not_ok "create namespaces"; finish; }
netnses+=("$h1" "$h2" "$r1" "$b1" "$r2" "$b2")
chmod 0711 "$T"

ip link add u66a netns "$h1" type veth peer name u66b netns "$h2"
ip -n "$h1" addr add 198.18.66.1/24 dev u66a
ip -n "$h2" addr add 198.18.66.2/24 dev u66b
# The inner checksums of H2's vxlan devices, in software (see test 61).
ip netns exec "$h2" ethtool -K u66b tx off >/dev/null
ip -n "$h1" link set u66a up
ip -n "$h2" link set u66b up
for n in "$r1" "$b1" "$r2" "$b2"; do
	ip netns exec "$n" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
# Two devices, one UDP socket in H2 (Linux shares it between VNIs too);
# each device then lives in its network's namespace, its underlay in H2's.
peer_dev() {	# peer_dev VNI NS
	ip -n "$h2" link add "vx$1" type vxlan id "$1" local 198.18.66.2 \
		remote 198.18.66.1 dstport 4789 dev u66b &&
	ip -n "$h2" link set "vx$1" address $PEER &&
	ip -n "$h2" link set "vx$1" netns "$2" &&
	ip -n "$2" addr add 198.19.66.2/24 dev "vx$1" &&
	ip -n "$2" link set "vx$1" up
}
peer_devs() { peer_dev 100 "$r2" && peer_dev 200 "$b2"; }
check "two Linux vxlan devices (VNI 100, 200) on one address and dstport" \
	peer_devs || finish

bg switch ip netns exec "$h1" "$PVNET" switch --ctl "$ctl" \
	--port "vxlan,name=vx,local=198.18.66.1,vni=red:100,vni=blue:200,remote=198.18.66.2" \
	--port "vhost,name=gr,path=$T/r.sock,mac=$MAC,mtu=1450,network=red" \
	--port "vhost,name=gb,path=$T/b.sock,mac=$MAC,mtu=1450,network=blue"
check "switch with one vxlan port of two VNIs ready" wait_for 10 switch_ready "$ctl" ||
	{ cat "$T/switch.log"; finish; }
guest() {	# guest NAME SOCK NS
	bg "$1" "$PVNET" guest --connect "$T/$2.sock" --mac $MAC --tap pv0 \
		--netns "$3" --mtu 1450
	wait_for 10 ip -n "$3" link show pv0 up || return 1
	ip -n "$3" addr add 198.19.66.1/24 dev pv0
}
guests() { guest gr r "$r1" && guest gb b "$b1"; }
check "red and blue guests up (same MAC, same address)" guests || finish

check "ping in red (r1 -> Linux VNI 100)" \
	wait_for 10 ip netns exec "$r1" ping -c 1 -W 1 198.19.66.2
check "ping in blue (b1 -> Linux VNI 200)" \
	wait_for 10 ip netns exec "$b1" ping -c 1 -W 1 198.19.66.2
check "ping back in red and in blue, 5 each" \
	bash -c "ip netns exec $r2 ping -c 5 -i 0.2 -W 2 198.19.66.1 >/dev/null &&
		 ip netns exec $b2 ping -c 5 -i 0.2 -W 2 198.19.66.1 >/dev/null"

vni() {	# vni VNI FIELD: a VNI's counter of port vx
	"$PVNET" stats --ctl "$ctl" --json |
		jq -r ".ports[] | select(.name == \"vx\") | .vxlan.vnis[] | select(.vni == $1) | .$2"
}
js=$("$PVNET" stats --ctl "$ctl" --json)
log "vnis: $(jq -c '.ports[] | select(.name == "vx") | .vxlan.vnis' <<<"$js")"
check "stats: VNI 100 in red and 200 in blue, each with its remote" \
	[ "$(jq -c '[.ports[] | select(.name == "vx") | .vxlan.vnis[] | [.vni, .network, (.remotes | length)]]' <<<"$js")" = '[[100,"red",1],[200,"blue",1]]' ]
check "stats: each VNI encapsulated and decapsulated (>= 6 each way)" \
	[ "$(jq '[.ports[] | select(.name == "vx") | .vxlan.vnis[] | .encap_pkts >= 6 and .decap_pkts >= 6] | all' <<<"$js")" = true ]
check "stats: the peers' one MAC learned in both VNIs" \
	[ "$(jq -c '[.ports[] | select(.name == "vx") | .vxlan.vnis[].macs]' <<<"$js")" = '[1,1]' ]

# Static neighbours: no ARP of blue's own moves its counters meanwhile.
ip -n "$r1" neigh replace 198.19.66.2 lladdr $PEER dev pv0 nud permanent
ip -n "$b1" neigh replace 198.19.66.2 lladdr $PEER dev pv0 nud permanent
ip -n "$r2" neigh replace 198.19.66.1 lladdr $MAC dev vx100 nud permanent
ip -n "$b2" neigh replace 198.19.66.1 lladdr $MAC dev vx200 nud permanent
sleep 0.5
blue_before="$(vni 200 encap_pkts) $(vni 200 decap_pkts) $(stat_of "$ctl" gb .tx_pkts)"
red_encap=$(vni 100 encap_pkts)
bg dump_r2 ip netns exec "$r2" tcpdump -i vx100 -n -l -U -w "$T/r2.pcap" 'ether broadcast and icmp'
bg dump_b2 ip netns exec "$b2" tcpdump -i vx200 -n -l -U -w "$T/b2.pcap" 'ether broadcast and icmp'
bg dump_b1 ip netns exec "$b1" tcpdump -i pv0 -n -l -U -w "$T/b1.pcap" 'ether broadcast and icmp'
sleep 1.5	# tcpdump attaches
ip netns exec "$r1" ping -b -c 5 -i 0.2 -W 1 198.19.66.255 >/dev/null 2>&1
sleep 1
kill "$pid_dump_r2" "$pid_dump_b2" "$pid_dump_b1"
sleep 0.5
count() { tcpdump -r "$T/$1.pcap" -n 2>/dev/null | wc -l; }
check "red's broadcasts reached Linux's VNI 100 ($(count r2) seen)" [ "$(count r2)" -ge 5 ]
check "none reached Linux's VNI 200 ($(count b2))" [ "$(count b2)" = 0 ]
check "none reached the blue guest ($(count b1))" [ "$(count b1)" = 0 ]
blue_after="$(vni 200 encap_pkts) $(vni 200 decap_pkts) $(stat_of "$ctl" gb .tx_pkts)"
check "VNI 200's counters did not move ($blue_before -> $blue_after)" \
	[ "$blue_before" = "$blue_after" ]
check "VNI 100 encapsulated the broadcasts ($red_encap -> $(vni 100 encap_pkts))" \
	[ "$(vni 100 encap_pkts)" -ge $((red_encap + 5)) ]

"$PVNET" stats --ctl "$ctl" --format openmetrics >"$T/om.txt"
txt=$("$PVNET" stats --ctl "$ctl")
per_vni() { grep -q 'vni 100 (network red): 1 remote' <<<"$txt" &&
	grep -q 'vni 200 (network blue): 1 remote' <<<"$txt"; }
check "pvnet stats prints each VNI of the port" per_vni
check "metrics: per-VNI families labelled vni and vni_network" \
	bash -c "grep -q '^pvnet_vxlan_vni_decapsulated_packets_total{network=\"default\",port=\"vx\",vni=\"100\",vni_network=\"red\"} [1-9]' $T/om.txt &&
		 grep -q '^pvnet_vxlan_vni_encapsulated_packets_total{network=\"default\",port=\"vx\",vni=\"200\",vni_network=\"blue\"} [1-9]' $T/om.txt"

# Control: this port has two VNIs, so a verb says which.
ctlreq() {	# ctlreq CTL REQUEST: one request, its JSON reply
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode()+b"\n"); print(s.makefile().readline(), end="")' "$1" "$2"
}
req_ok() { ctlreq "$ctl" "$1" | jq -e .ok >/dev/null; }
out=$(ctlreq "$ctl" "vxlan remote add vx 198.18.66.9")
check "vxlan remote add without vni on a port of two VNIs: refused ($out)" \
	grep -q "say which (vni N)" <<<"$out"
check "vxlan remote add ... vni 200" req_ok "vxlan remote add vx 198.18.66.9 vni 200"
check "vxlan mac add ... vni 100" req_ok "vxlan mac add vx 02:00:00:00:66:09 198.18.66.9 vni 100"
vl=$(ctlreq "$ctl" "vxlan list")
log "vxlan list: $vl"
check "vxlan list: the remote in VNI 200 only, the MAC in VNI 100 only" \
	[ "$(jq -c '.ports[0].vnis | map([.vni, (.remotes | length), (.macs | map(.mac))])' <<<"$vl")" = '[[100,1,["02:00:00:00:66:09"]],[200,2,[]]]' ]
check "vxlan remote del ... vni 200" req_ok "vxlan remote del vx 198.18.66.9 vni 200"
check "vxlan mac del ... vni 100" req_ok "vxlan mac del vx 02:00:00:00:66:09 vni 100"

out=$(timeout 10 ip netns exec "$h1" "$PVNET" switch --ctl "$T/x.sock" \
	--port "vxlan,name=va,local=198.18.66.1,vni=1,dstport=4790" \
	--port "vxlan,name=vb,local=198.18.66.1,vni=2,dstport=4790" 2>&1)
says() { grep -q "$1" <<<"$out" && grep -q "$2" <<<"$out"; }
check "a second vxlan port on one local address and port refused, naming the first ($out)" \
	says "is vxlan port va" "vni=NETWORK:VNI"
# Behind the sandbox a vxlan port cannot open its sockets: refused, not
# fatal; without it (sanitizer builds) refused as the same socket as vx's.
out=$("$PVNET" port add --ctl "$ctl" "vxlan,name=vx2,local=198.18.66.1,vni=300,network=green" 2>&1)
refused() { says "only vhost ports" "vxlan port needs" || says "is vxlan port vx" "vni=NETWORK:VNI"; }
check "pvnet port add of a vxlan port on vx's socket refused ($out)" refused
check "the switch lives" kill -0 "$pid_switch"

# A VNI the port does not carry: Linux's VNI 300 toward pvnet.
ip -n "$h2" link add vx300 type vxlan id 300 local 198.18.66.2 remote 198.18.66.1 \
	dstport 4789 dev u66b
ip -n "$h2" link set vx300 up
ip -n "$h2" addr add 198.19.99.2/24 dev vx300
ip netns exec "$h2" ping -b -c 3 -i 0.2 -W 1 198.19.99.255 >/dev/null 2>&1
check "datagrams of VNI 300 dropped as vx_unknown_vni ($(stat_of "$ctl" vx .drops.vx_unknown_vni))" \
	wait_for 5 bash -c "[ \"\$('$PVNET' stats --ctl '$ctl' --json | jq '.ports[] | select(.name == \"vx\") | .drops.vx_unknown_vni // 0')\" -ge 3 ]"
check "ping in red and blue still works" \
	bash -c "ip netns exec $r1 ping -c 2 -i 0.2 -W 1 198.19.66.2 >/dev/null &&
		 ip netns exec $b1 ping -c 2 -i 0.2 -W 1 198.19.66.2 >/dev/null"

# pvnet evpn on this port: per VNI its own RD and RT (VTEP:VNI, ASN:VNI),
# type-3 and type-2 routes, remotes and static MACs installed in the VNI
# of the route's target. A real gobgpd on H1 with no BGP neighbour: the
# agent's routes land in its RIB, and another VTEP's routes are added to
# the same RIB by hand (test 64 runs them over BGP between daemons).
command -v gobgpd >/dev/null || "$top/tools/install-deps.sh" test >/dev/null
cat >"$T/gobgpd.toml" <<CONF
[global.config]
  as = 65000
  router-id = "198.18.66.1"
  local-address-list = ["198.18.66.1"]
  port = -1
CONF
bg gobgpd ip netns exec "$h1" gobgpd -f "$T/gobgpd.toml" \
	--api-hosts 127.0.0.1:50066 -l warn
gb() { ip netns exec "$h1" gobgp -p 50066 "$@"; }
check "gobgpd answers" wait_for 10 gb global
# VTEP 198.18.66.7 floods VNI 100, 198.18.66.8 VNI 200 and has a MAC there;
# 198.18.66.9's MAC has VNI 100's target but label 200: in neither VNI
# (the label says 200, the target says 100: installed nowhere)
check "another VTEP's routes added to gobgpd's RIB" bash -c "
	gb() { ip netns exec $h1 gobgp -p 50066 \"\$@\"; }
	gb global rib -a evpn add multicast 198.18.66.7 etag 0 rd 198.18.66.7:100 \
		rt 65000:100 encap vxlan pmsi ingress-repl 100 198.18.66.7 nexthop 198.18.66.7 &&
	gb global rib -a evpn add multicast 198.18.66.8 etag 0 rd 198.18.66.8:200 \
		rt 65000:200 encap vxlan pmsi ingress-repl 200 198.18.66.8 nexthop 198.18.66.8 &&
	gb global rib -a evpn add macadv 02:00:00:00:66:77 0.0.0.0 etag 0 label 200 \
		rd 198.18.66.8:200 rt 65000:200 encap vxlan nexthop 198.18.66.8 &&
	gb global rib -a evpn add macadv 02:00:00:00:66:78 0.0.0.0 etag 0 label 200 \
		rd 198.18.66.9:100 rt 65000:100 encap vxlan nexthop 198.18.66.9"
check "pvnet evpn --once on the port of two VNIs" \
	ip netns exec "$h1" "$PVNET" evpn --once --ctl "$ctl" --port vx \
	--vtep 198.18.66.1 --asn 65000 --gobgp-opts "-p 50066"
rib=$(gb global rib -a evpn)
log "gobgpd's RIB after the agent's round:"$'\n'"$rib"
in_rib() { grep -qiF "$1" <<<"$rib"; }	# in_rib STRING: gobgp's own words
check "type-3 advertised per VNI (rd 198.18.66.1:100 and :200)" \
	in_rib "[type:multicast][rd:198.18.66.1:100][etag:0][ip:198.18.66.1]"
check "type-3 of VNI 200" \
	in_rib "[type:multicast][rd:198.18.66.1:200][etag:0][ip:198.18.66.1]"
check "the guests' one MAC advertised in VNI 100 (type-2)" \
	in_rib "[type:macadv][rd:198.18.66.1:100][etag:0][mac:$MAC]"
check "and in VNI 200" \
	in_rib "[type:macadv][rd:198.18.66.1:200][etag:0][mac:$MAC]"
vl=$(ctlreq "$ctl" "vxlan list")
log "after evpn: $(jq -c '.ports[0].vnis' <<<"$vl")"
check "each VNI's remotes and static MACs follow its own routes" \
	[ "$(jq -c '.ports[0].vnis | map([.vni, .remotes, (.macs | map(.mac + "@" + .vtep))])' <<<"$vl")" = \
	  '[[100,["198.18.66.7"],[]],[200,["198.18.66.8"],["02:00:00:00:66:77@198.18.66.8"]]]' ]
check "the switch still runs" kill -0 "$pid_switch"
finish
