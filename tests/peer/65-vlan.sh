#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: one afpacket uplink carrying two networks as 802.1Q VLANs
# (vlan=red:10, vlan=blue:20), a `pvnet guest --tap` in red (198.18.64.2)
# and one in blue (198.18.65.2). The kernels this runs on may lack 8021q
# and bridge VLAN filtering, so the far end of the veth is a raw packet
# socket (python3) that sends tagged frames, and tcpdump that reads the
# tags: a ping to red's guest on VID 10 is answered on VID 10 and one to
# blue's on VID 20 on VID 20; a guest's ARP leaves with its network's VID;
# a broadcast on VID 10 reaches red's guest and never blue's; VID 30 is
# dropped and counted (vlan_unknown). ~15 s.
. "$(dirname "$0")/lib.sh"

R_MAC=02:00:00:00:64:0a
B_MAC=02:00:00:00:64:14
H_MAC=02:00:00:00:64:01
ctl=$T/ctl.sock
nss=$(netns_new s) && nsh=$(netns_new h) && nsr=$(netns_new r) &&
	nsb=$(netns_new b) || { not_ok "create namespaces"; finish; }
netnses+=("$nss" "$nsh" "$nsr" "$nsb")
ip link add pvu64h type veth peer name pvu64s || { not_ok "create veth"; finish; }
ip link set pvu64h netns "$nsh"
ip link set pvu64s netns "$nss"
ip -n "$nsh" link set pvu64h up
ip -n "$nss" link set pvu64s up

# vsend VID DST_MAC DST_IP SRC_IP [COUNT]: ICMP echo requests from H_MAC
# tagged VID, written to pvu64h by a raw packet socket.
cat >"$T/vsend.py" <<'PY'
import socket, struct, sys
vid, dmac, dip, sip = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
count = int(sys.argv[5]) if len(sys.argv) > 5 else 3
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("pvu64h", 0))
for seq in range(count):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x6464, seq) + b"pvnet-vlan" * 4
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                     socket.inet_aton(sip), socket.inet_aton(dip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(mac(dmac) + mac("02:00:00:00:64:01") + struct.pack("!HH", 0x8100, vid)
           + b"\x08\x00" + ip + icmp)
PY
vsend() { ip netns exec "$nsh" python3 "$T/vsend.py" "$@"; }

bg switch ip netns exec "$nss" timeout 120 "$PVNET" switch --ctl "$ctl" \
	--port "afpacket,name=up,ifname=pvu64s,vlan=red:10,vlan=blue:20" \
	--port "vhost,name=gr,path=$T/gr.sock,mac=$R_MAC,network=red" \
	--port "vhost,name=gb,path=$T/gb.sock,mac=$B_MAC,network=blue"
check "switch with a VLAN trunk uplink ready" wait_for 10 switch_ready "$ctl"
bg guest_r timeout 120 "$PVNET" guest --connect "$T/gr.sock" --mac "$R_MAC" --tap pv0 --netns "$nsr"
bg guest_b timeout 120 "$PVNET" guest --connect "$T/gb.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
check "red guest TAP up" wait_for 10 ip -n "$nsr" link show pv0 up
check "blue guest TAP up" wait_for 10 ip -n "$nsb" link show pv0 up
ip -n "$nsr" addr add 198.18.64.2/24 dev pv0
ip -n "$nsb" addr add 198.18.65.2/24 dev pv0
ip -n "$nsr" neigh replace 198.18.64.1 lladdr "$H_MAC" dev pv0
ip -n "$nsb" neigh replace 198.18.65.1 lladdr "$H_MAC" dev pv0

# The wire side: every frame with its tag.
bg dump_h ip netns exec "$nsh" tcpdump -i pvu64h -n -e -l -U -w "$T/h.pcap"
for g in r b; do
	eval "ns=\$ns$g"
	bg "dump_$g" ip netns exec "$ns" tcpdump -i pv0 -n -l -U -w "$T/$g.pcap" \
		'ether broadcast and icmp'
done
sleep 1.5	# tcpdump attaches
vsend 10 "$R_MAC" 198.18.64.2 198.18.64.1 3
vsend 20 "$B_MAC" 198.18.65.2 198.18.65.1 3
# a guest's ARP for an unknown neighbour: broadcast, out with its VID
ip netns exec "$nsr" ping -c 1 -W 1 198.18.64.9 >/dev/null 2>&1
# broadcasts on VID 10, and frames on VID 30 (no network)
vsend 10 ff:ff:ff:ff:ff:ff 198.18.64.255 198.18.64.1 5
vsend 30 ff:ff:ff:ff:ff:ff 198.18.66.255 198.18.66.1 3
sleep 1
kill "$pid_dump_h" "$pid_dump_r" "$pid_dump_b"
sleep 0.5
hc() { tcpdump -r "$T/h.pcap" -n -e "$@" 2>/dev/null | wc -l; }
check "red's guest answered on VID 10 ($(hc 'vlan 10 and icmp[icmptype] == icmp-echoreply'))" \
	[ "$(hc 'vlan 10 and icmp[icmptype] == icmp-echoreply')" -ge 3 ]
check "blue's guest answered on VID 20 ($(hc 'vlan 20 and icmp[icmptype] == icmp-echoreply'))" \
	[ "$(hc 'vlan 20 and icmp[icmptype] == icmp-echoreply')" -ge 3 ]
check "no echo reply left untagged ($(hc 'not vlan and icmp'))" \
	[ "$(hc 'not vlan and icmp')" = 0 ]
check "red's guest's ARP left on VID 10 ($(hc 'vlan 10 and arp'))" \
	[ "$(hc 'vlan 10 and arp')" -ge 1 ]
check "nothing of red's left on VID 20 ($(hc "vlan 20 and ether src $R_MAC"))" \
	[ "$(hc "vlan 20 and ether src $R_MAC")" = 0 ]
check "no ICMP broadcast on VID 20 ($(hc 'vlan 20 and ether broadcast and icmp'))" \
	[ "$(hc 'vlan 20 and ether broadcast and icmp')" = 0 ]
count() { tcpdump -r "$T/$1.pcap" -n 2>/dev/null | wc -l; }
check "VID 10's broadcasts reached red's guest ($(count r) seen)" [ "$(count r)" -ge 5 ]
check "no broadcast of VID 10 reached blue's guest ($(count b) seen)" [ "$(count b)" = 0 ]

unk=$(stat_of "$ctl" up '.drops.vlan_unknown // 0')
check "frames on VID 30 dropped as vlan_unknown ($unk)" [ "${unk:-0}" -ge 3 ]
check "the uplink's stats show its VLANs" \
	[ "$(stat_of "$ctl" up '.vlans | tostring')" = '{"red":10,"blue":20}' ]
"$PVNET" stats --ctl "$ctl" --format openmetrics >"$T/om.txt"
check "OpenMetrics: the uplink's VLANs" \
	grep -q '^pvnet_port_vlan{network="default",port="up",vlan_network="blue"} 20$' "$T/om.txt"
check "OpenMetrics: the uplink's vlan_unknown drops" \
	grep -q '^pvnet_port_drops_total{network="default",port="up",reason="vlan_unknown"} [1-9]' "$T/om.txt"
"$PVNET" stats --ctl "$ctl"
finish
