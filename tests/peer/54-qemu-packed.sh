#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: the packed virtqueue with a real Linux guest: QEMU's
# virtio-net-pci with packed=on (Linux's packed-ring driver) on `pvnet
# switch`, a namespace behind `pvnet guest --tap` as the far end. The ring
# must really be packed (feature bit 34 negotiated) and carry ping, ping6
# and TCP both ways with no ring broken. Kept short: the split ring's full
# QEMU checks are 55-qemu-basic.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

VM_MAC=52:54:00:00:54:0a
A_MAC=02:00:00:00:54:01
ctl=$T/ctl.sock

check "guest image built" qemu_image || finish
nsa=$(netns_new pa) || { not_ok "create namespace"; finish; }
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl"
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
check "TAP up in namespace A" wait_for 10 ip -n "$nsa" link show pv0 up
ip -n "$nsa" addr add 198.18.54.1/24 dev pv0
ip -n "$nsa" addr add fd00:54::1/64 dev pv0 nodad
bg iperf_a ip netns exec "$nsa" iperf3 -s -p 5201

t0=$SECONDS
QEMU_NIC_OPTS=,packed=on qemu_start vm 1 "pv_ip=198.18.54.10/24 pv_ip6=fd00:54::10/64 pvtest=\
ping@198.18.54.1,ping6@fd00:54::1,iperf@198.18.54.1@5201@2,iperfR@198.18.54.1@5201@2" \
	"$T/vm.sock,$VM_MAC"
# read while the guest runs: a disconnect forgets the features
vm_feat() { feat=$(stat_of "$ctl" vm .vhost.features); [ $(( ${feat:-0} & (1 << 32) )) != 0 ]; }
wait_for 150 vm_feat
log "negotiated features $feat"
qemu_wait vm
log "packed guest boot + checks: $((SECONDS - t0)) s"
check "QEMU negotiated the packed ring (bit 34)" [ $(( (${feat:-0} >> 34) & 1 )) = 1 ]
qemu_report vm "packed guest"
"$PVNET" stats --ctl "$ctl"
check "no ring broke, no protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[] | (.vhost.faults | length), ([.drops // {} | to_entries[] | select(.key | test("^ring_")) | .value] | add // 0)] | add')" = 0 ]
for d in "guest -> A:iperf@198.18.54.1" "A -> guest:iperfR@198.18.54.1"; do
	log "packed iperf3 ${d%%:*}: $(qemu_rate vm "${d#*:}")"
done
finish
