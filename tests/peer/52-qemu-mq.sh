#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 4 c): multiqueue with a real guest. QEMU offers two
# queue pairs (queues=2, mq=on) to a 2-vCPU guest; Linux enables both. Two
# iperf3 clients, one pinned to each vCPU (XPS: each CPU sends on its own
# TX queue), send to a namespace and receive from it (-R). The namespace's
# `pvnet guest --queues 2` has a two-queue TAP, so its flows also use both
# of its rings. Asserted: both queue pairs negotiated (4 vrings running),
# and both of the guest's TX and RX queues carried traffic (per-queue
# counters of `pvnet stats --json`).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

VM_MAC=52:54:00:00:52:0a
A_MAC=02:00:00:00:52:01
ctl=$T/ctl.sock

check "guest image built" qemu_image || finish
nsa=$(netns_new mq) || { not_ok "create namespace"; finish; }
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC,queues=2" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC,queues=2"
check "switch ready" wait_for 10 switch_ready "$ctl"
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa" --queues 2
check "two-queue TAP up in the namespace" wait_for 10 ip -n "$nsa" link show pv0 up
ip -n "$nsa" addr add 198.18.52.1/24 dev pv0
ip -n "$nsa" addr add fd00:52::1/64 dev pv0 nodad
ip netns exec "$nsa" iperf3 -s -D -p 5201 --logfile "$T/iperf-1.log"
ip netns exec "$nsa" iperf3 -s -D -p 5202 --logfile "$T/iperf-2.log"

running4() {
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[] | select(.name == "vm") |
		.vhost.vrings[] | select(.state == "running")] | length')" = 4 ]
}
t0=$SECONDS
qemu_start vm 2 "pv_ip=198.18.52.10/24 pv_ip6=fd00:52::10/64 pvtest=\
ping@198.18.52.1,iperf2cpu@198.18.52.1@5201@4,iperf2cpu@198.18.52.1@5201@4@R" \
	"$T/vm.sock,$VM_MAC,queues=2"
check "both queue pairs negotiated: 4 vrings running" wait_for 120 running4
qemu_wait vm
log "guest (2 vCPUs, 2 queue pairs) boot + checks: $((SECONDS - t0)) s"
qemu_report vm "guest"
check "the guest's eth0 has two queue pairs" qemu_seen vm 'queues rx-0 rx-1 tx-0 tx-1'

rxq=$(stat_of "$ctl" vm .rxq_pkts)
txq=$(stat_of "$ctl" vm .txq_pkts)
arxq=$(stat_of "$ctl" a .rxq_pkts)
log "guest TX rings (switch rxq_pkts): $rxq; guest RX rings (txq_pkts): $txq; namespace TX rings: $arxq"
check "guest TX queue 0 carried traffic" [ "$(jq '.[0]' <<<"$rxq")" -gt 1000 ]
check "guest TX queue 1 carried traffic" [ "$(jq '.[1]' <<<"$rxq")" -gt 1000 ]
check "guest RX queue 0 carried traffic" [ "$(jq '.[0]' <<<"$txq")" -gt 1000 ]
check "guest RX queue 1 carried traffic" [ "$(jq '.[1]' <<<"$txq")" -gt 1000 ]
check "namespace side: both TAP queues / TX rings carried traffic" \
	[ "$(jq '.[0]' <<<"$arxq")" -gt 100 -a "$(jq '.[1]' <<<"$arxq")" -gt 100 ]
"$PVNET" stats --ctl "$ctl"
check "no port was cut off for a protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
for c in iperf2cpu-0 iperf2cpu-1; do log "$c guest -> namespace: $(qemu_rate vm $c)"; done
for c in iperf2cpuR-0 iperf2cpuR-1; do log "$c namespace -> guest: $(qemu_rate vm $c)"; done
finish
