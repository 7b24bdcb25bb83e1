#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 4 c): multiqueue with a real guest. QEMU offers two
# queue pairs (queues=2, mq=on) to a 2-vCPU guest; Linux enables both. Two
# iperf3 clients, one pinned to each vCPU (XPS: each CPU sends on its own
# TX queue), send to a namespace and receive from it (-R). The namespace's
# `pvnet guest --queues 2` has a two-queue TAP, so its flows also use both
# of its rings. Asserted: both queue pairs negotiated (4 vrings running),
# and both of the guest's TX and RX queues carried traffic (per-queue
# counters of `pvnet stats --json`), and so did both rings of the
# namespace's TAP (1000 UDP flows from the namespace); before that the guest goes down to
# one queue pair and back (ethtool -L: QEMU disables and enables rings). Run twice: QEMU mapping memory with
# ADD_MEM_REG (each queue pair's vhost_dev adds every region: the same
# region twice), then on a memslots=off port with SET_MEM_TABLE (each
# queue pair's vhost_dev sends the table).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

VM_MAC=52:54:00:00:52:0a
VM2_MAC=52:54:00:00:52:0b
A_MAC=02:00:00:00:52:01
ctl=$T/ctl.sock

check "guest image built" qemu_image || finish
nsa=$(netns_new mq) || { not_ok "create namespace"; finish; }
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC,queues=2" \
	--port "vhost,name=vm2,path=$T/vm2.sock,mac=$VM2_MAC,queues=2,memslots=off" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC,queues=2"
check "switch ready" wait_for 10 switch_ready "$ctl"
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa" --queues 2
check "two-queue TAP up in the namespace" wait_for 10 ip -n "$nsa" link show pv0 up
ip -n "$nsa" addr add 198.18.52.1/24 dev pv0
bg iperf_1 ip netns exec "$nsa" iperf3 -s -p 5201
bg iperf_2 ip netns exec "$nsa" iperf3 -s -p 5202

running4() {	# running4 PORT
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq --arg p "$1" '[.ports[] | select(.name == $p) |
		.vhost.vrings[] | select(.state == "running")] | length')" = 4 ]
}

# mq_guest PORT MAC IP LABEL
mq_guest() {
	local port=$1 mac=$2 ip=$3 l=$4 t0=$SECONDS rxq txq arxq0 arxq
	arxq0=$(stat_of "$ctl" a .rxq_pkts)
	qemu_start "$port" 2 "pv_ip=$ip/24 pvtest=\
ping@198.18.52.1,combined@1,ping@198.18.52.1,combined@2,\
iperf2cpu@198.18.52.1@5201@4,iperf2cpu@198.18.52.1@5201@4@R" \
		"$T/$port.sock,$mac,queues=2"
	check "$l: both queue pairs negotiated: 4 vrings running" wait_for 120 running4 "$port"
	qemu_wait "$port"
	log "$l: guest (2 vCPUs, 2 queue pairs) boot + checks: $((SECONDS - t0)) s"
	qemu_report "$port" "$l"
	check "$l: the guest's eth0 has two queue pairs" qemu_seen "$port" 'queues rx-0 rx-1 tx-0 tx-1'
	rxq=$(stat_of "$ctl" "$port" .rxq_pkts)
	txq=$(stat_of "$ctl" "$port" .txq_pkts)
	arxq=$(stat_of "$ctl" a .rxq_pkts)
	log "$l: guest TX rings (switch rxq_pkts): $rxq; guest RX rings (txq_pkts): $txq; namespace TX rings: $arxq"
	check "$l: guest TX queue 0 carried traffic" [ "$(jq '.[0]' <<<"$rxq")" -gt 100 ]
	check "$l: guest TX queue 1 carried traffic" [ "$(jq '.[1]' <<<"$rxq")" -gt 100 ]
	check "$l: guest RX queue 0 carried traffic" [ "$(jq '.[0]' <<<"$txq")" -gt 100 ]
	check "$l: guest RX queue 1 carried traffic" [ "$(jq '.[1]' <<<"$txq")" -gt 100 ]
	log "$l: namespace TX rings grew by [$(($(jq '.[0]' <<<"$arxq") - $(jq '.[0]' <<<"$arxq0"))),\
$(($(jq '.[1]' <<<"$arxq") - $(jq '.[1]' <<<"$arxq0")))] (which ring a flow takes is a hash: not asserted)"
	log "$l: vhost-user requests: $(stat_of "$ctl" "$port" .vhost.requests)"
	for c in iperf2cpu-0 iperf2cpu-1; do log "$l: $c guest -> namespace: $(qemu_rate "$port" $c)"; done
	for c in iperf2cpuR-0 iperf2cpuR-1; do log "$l: $c namespace -> guest: $(qemu_rate "$port" $c)"; done
}

mq_guest vm "$VM_MAC" 198.18.52.10 "ADD_MEM_REG guest"
check "ADD_MEM_REG guest: QEMU used ADD_MEM_REG" \
	[ "$(stat_of "$ctl" vm '.vhost.requests.ADD_MEM_REG // 0')" -gt 0 ]
mq_guest vm2 "$VM2_MAC" 198.18.52.11 "SET_MEM_TABLE guest"
check "SET_MEM_TABLE guest: QEMU used SET_MEM_TABLE (memslots=off)" \
	[ "$(stat_of "$ctl" vm2 '.vhost.requests.SET_MEM_TABLE // 0')" -gt 0 ]
# The namespace side, with enough flows that the outcome is not a coin toss.
# The TAP picks a queue for each flow from its hash: the guests' eight iperf3
# flows all landed on one ring in about one run in eight (CI, 2026-11-22).
# 1000 UDP flows (a new socket and port each) to a parked neighbour leave
# each ring well over 100 packets, unless both rings are not served.
ns_flows() {
	local before after d0 d1
	ip -n "$nsa" neigh replace 198.18.52.99 lladdr 02:00:00:00:52:99 dev pv0 nud permanent
	before=$(stat_of "$ctl" a .rxq_pkts)
	ip netns exec "$nsa" bash -c 'for p in $(seq 20000 20999); do
		echo x 2>/dev/null >/dev/udp/198.18.52.99/$p; done'
	sleep 1
	after=$(stat_of "$ctl" a .rxq_pkts)
	d0=$(($(jq '.[0]' <<<"$after") - $(jq '.[0]' <<<"$before")))
	d1=$(($(jq '.[1]' <<<"$after") - $(jq '.[1]' <<<"$before")))
	log "namespace TX rings, 1000 UDP flows: [$d0,$d1]"
	[ "$d0" -gt 100 ] && [ "$d1" -gt 100 ] && [ $((d0 + d1)) -ge 1000 ]
}
check "namespace side: both TAP queues / TX rings carried traffic (1000 flows)" ns_flows
"$PVNET" stats --ctl "$ctl"
check "no port was cut off for a protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
finish
