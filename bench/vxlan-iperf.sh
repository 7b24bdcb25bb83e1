#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/vxlan-iperf.sh - iperf3 TCP over VXLAN on one machine, two ways:
#   pvnet:  a `pvnet guest --tap` guest (TSO on, MTU 1450) -> `pvnet switch`
#           vxlan port -> veth -> a Linux vxlan device (and back: -R)
#   kernel: a Linux vxlan device -> veth -> a Linux vxlan device
# Same underlay (a veth pair, MTU 1500, checksum offload off on the side
# whose inner checksums pvnet would receive, as tests/peer/61-vxlan-linux.sh
# explains), same VNI and port. Prints every run and the median, in Gbit/s.
# Not part of `pvnet bench`; needs root, iperf3, jq. Addresses: 198.18/15.
#   RUNS=3 SECS=5 bench/vxlan-iperf.sh
. "$(dirname "$0")/../tests/peer/lib.sh"

RUNS=${RUNS:-3}
SECS=${SECS:-5}
G_MAC=02:00:00:00:71:01
ctl=$T/ctl.sock

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# rate NS_CLIENT SERVER_IP PORT [-R]: one iperf3 run's received Gbit/s
rate() {
	ip netns exec "$1" iperf3 -c "$2" -p "$3" -t "$SECS" ${4:-} -J 2>/dev/null |
		jq '.end.sum_received.bits_per_second / 1e9'
}
series() {	# series LABEL NS_CLIENT SERVER_IP PORT [-R]
	local label=$1 r all=()
	shift
	for ((i = 0; i < RUNS; i++)); do
		r=$(rate "$@")
		all+=("${r:-0}")
	done
	printf '%-34s median %6.2f Gbit/s   runs: %s\n' "$label" \
		"$(printf '%s\n' "${all[@]}" | median)" "${all[*]}"
}

# pvnet: H1 (switch) - veth - H2 (Linux vx42), guest G on the switch.
ns1=$(netns_new vb1) && ns2=$(netns_new vb2) && nsg=$(netns_new vbg) || exit 1
netnses+=("$ns1" "$ns2" "$nsg")
ip link add u71a netns "$ns1" type veth peer name u71b netns "$ns2"
ip -n "$ns1" addr add 198.18.71.1/24 dev u71a
ip -n "$ns2" addr add 198.18.71.2/24 dev u71b
ip netns exec "$ns2" ethtool -K u71b tx off >/dev/null
ip -n "$ns1" link set u71a up
ip -n "$ns2" link set u71b up
ip -n "$ns2" link add vx42 type vxlan id 42 local 198.18.71.2 remote 198.18.71.1 \
	dstport 4789 dev u71b
ip -n "$ns2" addr add 198.19.71.2/24 dev vx42
ip -n "$ns2" link set vx42 up
bg switch ip netns exec "$ns1" "$PVNET" switch --ctl "$ctl" \
	--port "vxlan,name=vx,vni=42,local=198.18.71.1,remote=198.18.71.2" \
	--port "vhost,name=g,path=$T/g.sock,mac=$G_MAC"
wait_for 10 switch_ready "$ctl" || { echo "switch did not start"; exit 1; }
bg guest "$PVNET" guest --connect "$T/g.sock" --mac "$G_MAC" --tap pv0 --netns "$nsg"
wait_for 10 ip -n "$nsg" link show pv0 up || { echo "guest did not start"; exit 1; }
ip -n "$nsg" link set pv0 mtu 1450
ip -n "$nsg" addr add 198.19.71.1/24 dev pv0
wait_for 10 ip netns exec "$nsg" ping -c 1 -W 1 198.19.71.2 || { echo "no overlay"; exit 1; }
bg srv2 ip netns exec "$ns2" iperf3 -s -p 5471
sleep 0.5
series "pvnet guest -> Linux vxlan" "$nsg" 198.19.71.2 5471
series "Linux vxlan -> pvnet guest (-R)" "$nsg" 198.19.71.2 5471 -R

# kernel: K1 (vxa) - veth - K2 (vxb), the same underlay.
nk1=$(netns_new vk1) && nk2=$(netns_new vk2) || exit 1
netnses+=("$nk1" "$nk2")
ip link add u72a netns "$nk1" type veth peer name u72b netns "$nk2"
ip -n "$nk1" addr add 198.18.72.1/24 dev u72a
ip -n "$nk2" addr add 198.18.72.2/24 dev u72b
ip -n "$nk1" link set u72a up
ip -n "$nk2" link set u72b up
ip -n "$nk1" link add vxa type vxlan id 42 local 198.18.72.1 remote 198.18.72.2 \
	dstport 4789 dev u72a
ip -n "$nk2" link add vxb type vxlan id 42 local 198.18.72.2 remote 198.18.72.1 \
	dstport 4789 dev u72b
ip -n "$nk1" addr add 198.19.72.1/24 dev vxa
ip -n "$nk2" addr add 198.19.72.2/24 dev vxb
ip -n "$nk1" link set vxa up
ip -n "$nk2" link set vxb up
bg srvk ip netns exec "$nk2" iperf3 -s -p 5472
sleep 0.5
series "Linux vxlan -> Linux vxlan" "$nk1" 198.19.72.2 5472
ip netns exec "$nk2" ethtool -K u72b tx off >/dev/null
series "same, reverse, tx csum off (-R)" "$nk1" 198.19.72.2 5472 -R
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
