#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench.sh [SECONDS] - iperf3 rates of the QEMU test guest (TCG, one vCPU)
# to and from a namespace, with two backends in the same session:
#   pvnet:  QEMU -> pvnet switch -> pvnet guest --tap (namespace)
#   DPDK:   QEMU -> testpmd (net_vhost <-> net_tap, io forwarding, one
#           forwarding core), testpmd's TAP in the namespace
# Not a pass/fail test (tests/run does not run it): it prints the rates.
# The guest's emulated CPU is the bottleneck here, so the figures compare
# what each backend costs a CPU-bound guest, not the backends' peak.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

SECS=${1:-10}
VM_MAC=52:54:00:00:59:0a
A_MAC=02:00:00:00:59:01
GUEST="pv_ip=198.18.59.10/24 pvtest=ping@198.18.59.1,iperf@198.18.59.1@5201@$SECS,iperfR@198.18.59.1@5201@$SECS"
command -v dpdk-testpmd >/dev/null || "$top/tools/install-deps.sh" test
qemu_image || exit 1
ns=$(netns_new bench) || exit 1
results=()

# --- pvnet
ctl=$T/ctl.sock
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC"
wait_for 10 switch_ready "$ctl" || { echo "switch did not start"; exit 1; }
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$ns"
wait_for 10 ip -n "$ns" link show pv0 up || { echo "no TAP"; exit 1; }
ip -n "$ns" addr add 198.18.59.1/24 dev pv0
bg iperf_pvnet ip netns exec "$ns" iperf3 -s -p 5201
qemu_start pv 1 "$GUEST" "$T/vm.sock,$VM_MAC"
qemu_wait pv
qemu_report pv "pvnet guest"
results+=("pvnet        guest -> namespace: $(qemu_rate pv iperf@198.18.59.1)"
	  "pvnet        namespace -> guest: $(qemu_rate pv iperfR@198.18.59.1)")
"$PVNET" stats --ctl "$ctl" | sed 's/^/# /'
kill "$pid_guest_a" "$pid_switch"
wait "$pid_guest_a" "$pid_switch" 2>/dev/null
ip netns pids "$ns" | xargs -r kill
sleep 0.5

# --- DPDK testpmd: vhost-user port 0 <-> TAP port 1, io forwarding, run
# inside the namespace so that its TAP (dtap0) is created there
mkfifo "$T/tp.in"
ip netns exec "$ns" stdbuf -oL dpdk-testpmd --lcores '0@0,1@1' --no-pci --no-huge -m 1024 \
	--file-prefix "pvq-bench-$$" \
	--vdev "net_vhost0,iface=$T/dpdk.sock,queues=1" --vdev "net_tap0,iface=dtap0" \
	-- -i --nb-cores=1 --forward-mode=io --total-num-mbufs=32768 \
	<>"$T/tp.in" >"$T/testpmd.log" 2>&1 &
pids+=($!)
tp=$!
wait_for 30 grep -q "testpmd>" "$T/testpmd.log" || { echo "testpmd did not start"; tail "$T/testpmd.log"; exit 1; }
echo "start" >"$T/tp.in"
wait_for 10 ip -n "$ns" link show dtap0 || { echo "no dtap0"; exit 1; }
ip -n "$ns" link set dtap0 up
ip -n "$ns" addr add 198.18.59.1/24 dev dtap0
bg iperf_dpdk ip netns exec "$ns" iperf3 -s -p 5201
qemu_start dp 1 "$GUEST" "$T/dpdk.sock,$VM_MAC"
qemu_wait dp
qemu_report dp "DPDK guest"
results+=("DPDK testpmd guest -> namespace: $(qemu_rate dp iperf@198.18.59.1)"
	  "DPDK testpmd namespace -> guest: $(qemu_rate dp iperfR@198.18.59.1)")
echo "show port stats all" >"$T/tp.in"
echo "quit" >"$T/tp.in"
sleep 1
grep -E "RX-packets|TX-packets|RX-errors|RX-missed" "$T/testpmd.log" | tail -n 8 | sed 's/^/# testpmd: /'
kill "$tp" 2>/dev/null

echo "== iperf3, QEMU TCG guest (1 vCPU) <-> namespace, ${SECS}s each, $(date -u +%F)"
printf '%s\n' "${results[@]}"
finish
