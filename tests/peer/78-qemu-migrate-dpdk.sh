#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 13, the reference): the live migration of
# 77-qemu-migrate.sh with DPDK testpmd's vhost-user (net_vhost) as the
# backend instead of pvnet, so that both backends' downtime, ping loss and
# announce delay can be compared on this machine (qemu/migrate.sh says
# what is run and checked).
# testpmd has no MAC learning: it runs in the namespace with four ports in
# io forwarding, pairs (0,1) and (2,3): socket A <-> TAP mta and socket B
# <-> TAP mtb, and a Linux bridge over mta and mtb learns where the VM is.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"
. "$(dirname "$0")/dpdk.sh"
. "$(dirname "$0")/qemu/migrate.sh"

MIG_NET=198.18.78
MIG_SOCK_A=$T/vm_a.sock
MIG_SOCK_B=$T/vm_b.sock
MIG_NSIF=br0
check "guest image built" qemu_image || finish
MIG_NS=$(netns_new mig) || { not_ok "create namespace"; finish; }
TP_NETNS=$MIG_NS
ports="net_vhost0,iface=$MIG_SOCK_A,queues=1 net_tap0,iface=mta"
ports+=" net_vhost1,iface=$MIG_SOCK_B,queues=1 net_tap1,iface=mtb"
check "testpmd starts with two net_vhost and two net_tap ports" \
	tp_start tp 1 "$ports" --forward-mode=io || finish
tp_cmd tp start
ip -n "$MIG_NS" link add br0 type bridge
for i in mta mtb; do ip -n "$MIG_NS" link set "$i" master br0; done
ip -n "$MIG_NS" link set br0 up

# mig_on_port A|B LABEL: the bridge learned the VM's MAC behind that TAP
mig_on_port() {
	local want=mta
	[ "$1" = B ] && want=mtb
	check "$2: the VM's MAC is now behind socket $1 ($want)" wait_for 5 \
		eval "bridge -n '$MIG_NS' fdb show br br0 | grep -q '^$MIG_VM_MAC dev $want '"
}

mig_run
tp_cmd tp "show port stats all"
sleep 0.5
tp_quit tp
finish
