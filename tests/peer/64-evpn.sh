#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: BGP EVPN with no remote= anywhere (docs/evpn.md). Three
# hosts on one underlay bridge (198.18.64.0/24): H1 and H2 run `pvnet
# switch` (a vxlan port, VNI 100, and a `pvnet guest --tap` guest), gobgpd
# and `pvnet evpn`; H3 is Linux: a bridge with a vxlan device (nolearning)
# and a veth to its "VM", zebra + bgpd (FRR) with advertise-all-vni. iBGP
# full mesh, AS 65000. Checks: each side learns the others' MACs over BGP
# (gobgp's RIB, FRR's table, the bridge's FDB, the vxlan ports' static
# MACs and remotes), pings between the three guests both ways, a guest
# started on H1 after convergence reachable from H2 and H3 (its type-2
# route reaches FRR), and its port deleted: the route leaves FRR's table
# within a bounded time; gobgpd restarted on H2: the agent advertises
# again and FRR relearns H2's guest.
. "$(dirname "$0")/lib.sh"

command -v gobgpd >/dev/null && [ -x /usr/lib/frr/bgpd ] ||
	"$top/tools/install-deps.sh" test >/dev/null
FRR=/usr/lib/frr
VNI=100
declare -A MAC=([1]=02:00:00:00:64:01 [2]=02:00:00:00:64:02 [3]=02:00:00:00:64:03
		[4]=02:00:00:00:64:04)

hub=$(netns_new hub) || { not_ok "create namespaces"; finish; }
ip -n "$hub" link add ub type bridge
ip -n "$hub" link set ub up
for i in 1 2 3; do
	eval "h$i=\$(netns_new h$i)" && eval "g$i=\$(netns_new g$i)" ||
		{ not_ok "create namespaces"; finish; }
done
g4=$(netns_new g4) || { not_ok "create namespaces"; finish; }
hns() { eval echo "\$h$1"; }
gns() { eval echo "\$g$1"; }
for i in 1 2 3; do
	ip link add "u64h$i" netns "$(hns $i)" type veth peer name "u64p$i" netns "$hub"
	ip -n "$hub" link set "u64p$i" master ub up
	ip -n "$(hns $i)" addr add "198.18.64.$i/24" dev "u64h$i"
	# A veth leaves the inner checksum partial (docs/vxlan.md): software.
	ip netns exec "$(hns $i)" ethtool -K "u64h$i" tx off >/dev/null
	ip -n "$(hns $i)" link set "u64h$i" up
done

# H3: Linux VTEP + FRR.
h3ns=$(hns 3)
ip -n "$h3ns" link add br100 type bridge
ip -n "$h3ns" link add vx100 type vxlan id $VNI local 198.18.64.3 dstport 4789 \
	nolearning dev u64h3
ip -n "$h3ns" link set vx100 master br100
ip -n "$h3ns" link set vx100 type bridge_slave learning off neigh_suppress off
ip link add v64g3 netns "$h3ns" type veth peer name eth0 netns "$g3"
ip -n "$h3ns" link set v64g3 master br100 up
ip -n "$h3ns" link set vx100 up
ip -n "$h3ns" link set br100 up
ip -n "$g3" link set eth0 address "${MAC[3]}" mtu 1450 up
ip -n "$g3" addr add 198.19.64.3/24 dev eth0

# zebra drops to the frr user (root is not in its vty group): let it in.
chmod 711 "$T"
mkdir -p "$T/frr"
chmod 777 "$T/frr"
cat >"$T/frr/frr.conf" <<CONF
frr defaults datacenter
hostname h3
log file $T/frr/frr.log
router bgp 65000
 bgp router-id 198.18.64.3
 no bgp default ipv4-unicast
 neighbor 198.18.64.1 remote-as 65000
 neighbor 198.18.64.2 remote-as 65000
 neighbor 198.18.64.1 timers connect 2
 neighbor 198.18.64.2 timers connect 2
 address-family l2vpn evpn
  neighbor 198.18.64.1 activate
  neighbor 198.18.64.2 activate
  advertise-all-vni
 exit-address-family
CONF
frr_opts=(-N "pvt64-$$" --vty_socket "$T/frr" -z "$T/frr/zserv.api" -f "$T/frr/frr.conf")
bg zebra ip netns exec "$h3ns" "$FRR/zebra" "${frr_opts[@]}" -i "$T/frr/zebra.pid"
sleep 1
bg bgpd ip netns exec "$h3ns" "$FRR/bgpd" "${frr_opts[@]}" -S -i "$T/frr/bgpd.pid" -u root -g root
vtysh3() { ip netns exec "$h3ns" vtysh --vty_socket "$T/frr" -c "$@"; }
check "FRR (zebra, bgpd) up in H3" wait_for 20 vtysh3 "show bgp summary" || finish

# H1, H2: pvnet switch + gobgpd + pvnet evpn, a guest each.
gobgp_conf() {	# gobgp_conf I PEER PEER
	cat <<CONF
[global.config]
  as = 65000
  router-id = "198.18.64.$1"
  local-address-list = ["198.18.64.$1"]
CONF
	for p in "${@:2}"; do
		cat <<CONF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.64.$p"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 2
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
CONF
	done
}
gobgp_of() { ip netns exec "$(hns $1)" gobgp -p 50051 "${@:2}"; }
for i in 1 2; do
	o=$((3 - i))
	gobgp_conf $i $o 3 >"$T/gobgpd$i.toml"
	bg "gobgpd$i" ip netns exec "$(hns $i)" gobgpd -f "$T/gobgpd$i.toml" \
		--api-hosts 127.0.0.1:50051 -l warn
	mkdir -p "$T/s$i"
	chmod 777 "$T/s$i"
	bg "switch$i" ip netns exec "$(hns $i)" "$PVNET" switch --ctl "$T/s$i/ctl" \
		--port "vxlan,name=vx,vni=$VNI,local=198.18.64.$i" \
		--port "vhost,name=g,path=$T/s$i/g.sock,mac=${MAC[$i]}"
	check "H$i: switch ready" wait_for 10 switch_ready "$T/s$i/ctl"
	bg "guest$i" "$PVNET" guest --connect "$T/s$i/g.sock" --mac "${MAC[$i]}" \
		--tap pv0 --netns "$(gns $i)"
	check "H$i: guest TAP up" wait_for 10 ip -n "$(gns $i)" link show pv0 up
	ip -n "$(gns $i)" link set pv0 mtu 1450
	ip -n "$(gns $i)" addr add "198.19.64.$i/24" dev pv0
	check "H$i: gobgpd answers" wait_for 10 gobgp_of $i global
done

# A gobgp that hangs is killed at --timeout, one that prints garbage or a
# malformed route is logged; the agent's round fails, the switch is not
# touched (the agents do not run yet).
printf '#!/bin/sh\nexec sleep 30\n' >"$T/gobgp-hung"
printf '#!/bin/sh\necho "[not a rib"\n' >"$T/gobgp-garbage"
cat >"$T/gobgp-badroute" <<'SH'
#!/bin/sh
echo '{"p": [{"nlri": {"type": 2, "value": {"mac": "zz", "labels": [100]}}, "best": true,
 "attrs": [{"type": 16, "value": [{"subtype": 2, "value": "65000:100"}]}]}]}'
SH
chmod +x "$T"/gobgp-*
evpn_once() {	# evpn_once FAKE: one round of H1's agent on a fake gobgp
	ip netns exec "$h1" timeout 10 "$PVNET" evpn --ctl "$T/s1/ctl" --port vx \
		--vtep 198.18.64.1 --asn 65000 --gobgp "$T/gobgp-$1" --timeout 300 --once \
		>"$T/once-$1.log" 2>&1
}
t0=$(date +%s%N)
fails() { ! "$@"; }
check "a hung gobgp: the round fails" fails evpn_once hung
ms=$((($(date +%s%N) - t0) / 1000000))
check "a hung gobgp is killed at --timeout (round took $ms ms)" \
	bash -c "[ $ms -lt 3000 ] && grep -q 'no answer in 300 ms, killed' $T/once-hung.log"
check "gobgp's garbage: logged, the round fails" fails evpn_once garbage
check "gobgp's garbage is logged as such" grep -q "not a JSON object" "$T/once-garbage.log"
evpn_once badroute
check "a malformed route is counted and skipped" \
	grep -q "1 route(s) of gobgp's RIB skipped as malformed" "$T/once-badroute.log"

for i in 1 2; do
	bg "evpn$i" ip netns exec "$(hns $i)" "$PVNET" evpn --ctl "$T/s$i/ctl" --port vx \
		--vtep "198.18.64.$i" --asn 65000 --gobgp-opts "-p 50051" \
		--interval 500 --timeout 3000
done

# Convergence: every host has the other two MACs.
ctlreq() {	# ctlreq CTL REQUEST: one request, its JSON reply
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode()+b"\n"); print(s.makefile().readline(), end="")' "$1" "$2"
}
in_rib() { gobgp_of "$1" global rib -a evpn | grep -q "mac:$2"; }
in_frr() { vtysh3 "show bgp l2vpn evpn route" | grep -q "$1"; }
in_br() { bridge -n "$h3ns" fdb show dev vx100 | grep -q "$1 dst $2"; }
static_of() {	# static_of I MAC: the VTEP of MAC in H_I's vxlan port
	ctlreq "$T/s$1/ctl" "vxlan list" |
		jq -r --arg m "$2" '.ports[0].macs[] | select(.mac == $m) | .vtep'
}
vx_has() { [ "$(static_of "$1" "$2")" = "$3" ]; }
remotes_of() { ctlreq "$T/s$1/ctl" "vxlan list" | jq -c '.ports[0].remotes | sort'; }
two_in_rib() { in_rib "$1" "$2" && in_rib "$1" "$3"; }
two_in_frr() { in_frr "$1" && in_frr "$2"; }
not_in_frr() { ! in_frr "$1"; }
two_in_br() { in_br "${MAC[1]}" 198.18.64.1 && in_br "${MAC[2]}" 198.18.64.2; }
two_static() { vx_has 1 "${MAC[2]}" 198.18.64.2 && vx_has 1 "${MAC[3]}" 198.18.64.3; }
remotes_are() { [ "$(remotes_of "$1")" = "$2" ]; }
no_static() { [ -z "$(static_of "$1" "$2")" ]; }
t0=$(date +%s.%N)
check "gobgp H1 has the MACs of H2 and H3 (type-2)" \
	wait_for 60 two_in_rib 1 "${MAC[2]}" "${MAC[3]}" || finish
check "FRR has the MACs of H1 and H2" wait_for 30 two_in_frr "${MAC[1]}" "${MAC[2]}" ||
	finish
log "converged in $(echo "$(date +%s.%N) - $t0" | bc) s"
check "H3's bridge: H1's MAC behind 198.18.64.1, H2's behind .2" wait_for 20 two_in_br
check "H1's vxlan port: H2's and H3's MACs static, behind their VTEPs" \
	wait_for 20 two_static
check "H1's vxlan port floods to H2 and H3 (type-3), no remote= given" \
	wait_for 20 remotes_are 1 '["198.18.64.2","198.18.64.3"]'
check "H2's vxlan port floods to H1 and H3" \
	wait_for 20 remotes_are 2 '["198.18.64.1","198.18.64.3"]'

pingn() { ip netns exec "$(gns $1)" ping -c 2 -i 0.2 -W 2 "198.19.64.$2" >/dev/null; }
for a in 1 2 3; do
	for b in 1 2 3; do
		[ $a = $b ] && continue
		check "ping guest $a -> guest $b" wait_for 10 pingn $a $b
	done
done

# A guest started on H1 after convergence.
check "H1: port g4 added at run time" \
	"$PVNET" port add --ctl "$T/s1/ctl" "vhost,name=g4,path=$T/s1/g4.sock,mac=${MAC[4]}"
bg guest4 "$PVNET" guest --connect "$T/s1/g4.sock" --mac "${MAC[4]}" --tap pv0 --netns "$g4"
check "H1: guest 4 TAP up" wait_for 10 ip -n "$g4" link show pv0 up
ip -n "$g4" link set pv0 mtu 1450
ip -n "$g4" addr add 198.19.64.4/24 dev pv0
t0=$(date +%s.%N)
check "guest 4's type-2 route reaches FRR" wait_for 20 in_frr "${MAC[4]}"
log "guest 4 on FRR after $(echo "$(date +%s.%N) - $t0" | bc) s"
check "ping guest 2 (H2) -> guest 4 (H1)" wait_for 10 pingn 2 4
check "ping guest 3 (Linux) -> guest 4 (H1)" wait_for 10 pingn 3 4
check "ping guest 4 -> guest 3" wait_for 10 ip netns exec "$g4" ping -c 2 -i 0.2 -W 2 198.19.64.3

# Withdraw: guest 4's port deleted, its route leaves FRR and H2's port.
kill "$pid_guest4"
check "H1: port g4 deleted" "$PVNET" port del --ctl "$T/s1/ctl" g4
t0=$(date +%s.%N)
check "guest 4's route withdrawn from FRR within 15 s" \
	wait_for 15 not_in_frr "${MAC[4]}"
log "withdrawn after $(echo "$(date +%s.%N) - $t0" | bc) s"
check "guest 4's MAC removed from H2's vxlan port" \
	wait_for 10 no_static 2 "${MAC[4]}"
# gobgpd on H2 restarted: it lost its routes; the agent advertises them
# again and FRR relearns H2's guest.
kill "$pid_gobgpd2"
wait "$pid_gobgpd2" 2>/dev/null
check "H2's MAC leaves FRR while H2's gobgpd is down" wait_for 20 not_in_frr "${MAC[2]}"
bg gobgpd2b ip netns exec "$h2" gobgpd -f "$T/gobgpd2.toml" --api-hosts 127.0.0.1:50051 -l warn
t0=$(date +%s.%N)
check "H2's MAC back on FRR after gobgpd's restart" wait_for 40 in_frr "${MAC[2]}"
log "readvertised after $(echo "$(date +%s.%N) - $t0" | bc) s"
check "ping guest 3 -> guest 2 after the restart" wait_for 10 pingn 3 2
check "the agents counted no bad route" \
	bash -c "! grep -h 'malformed' $T/evpn1.log $T/evpn2.log"
finish
