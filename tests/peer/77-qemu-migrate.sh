#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 13): a QEMU guest on `pvnet switch` migrates live
# between two vhost ports of the switch (vm_a, vm_b: one socket per QEMU)
# while a namespace (behind `pvnet guest --tap`) streams a file to it over
# TCP and pings it; then, idle, it migrates back and its announce alone
# moves it (qemu/migrate.sh says what is run and checked). Learn mode: the
# switch follows the VM by learning. GRO stays on (the default) and the
# namespace's side has no offload, so the switch aggregates its MSS-sized
# segments and writes the merged packets into guest memory while the log is
# on. 78-qemu-migrate-dpdk.sh runs the same with DPDK's vhost as the backend.
# Other settings, from the environment (each passed here once):
#   MIG_MODE=direct     both VM ports carry the VM's mac=; the switch sends
#                       to the one whose rings run (mac_moves counts moves)
#   MIG_ANNOUNCE=rarp   no GUEST_ANNOUNCE: QEMU sends SEND_RARP and the switch
#                       sends a RARP from the VM's MAC
#   MIG_PACKED=1        the VM's NIC has packed=on: packed rings, whose used
#                       descriptors the switch logs (79-qemu-migrate-packed.sh)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"
. "$(dirname "$0")/qemu/migrate.sh"

NS_MAC=02:00:00:00:77:01
MIG_NET=198.18.77
MIG_SOCK_A=$T/vm_a.sock
MIG_SOCK_B=$T/vm_b.sock
MIG_NSIF=pv0
MIG_MODE=${MIG_MODE:-learn}
MIG_ANNOUNCE=${MIG_ANNOUNCE:-guest}
MIG_PACKED=${MIG_PACKED:-0}
[ "$MIG_PACKED" = 1 ] && MIG_NIC_OPTS="${MIG_NIC_OPTS-,mrg_rxbuf=off},packed=on"
ctl=$T/ctl.sock
vm_opts=announce=$MIG_ANNOUNCE
[ "$MIG_MODE" = direct ] && vm_opts+=,mac=$MIG_VM_MAC
log "switch in $MIG_MODE mode, VM ports $vm_opts"
check "guest image built" qemu_image || finish
MIG_NS=$(netns_new mig) || { not_ok "create namespace"; finish; }
bg switch "$PVNET" switch --ctl "$ctl" --mode "$MIG_MODE" \
	--port "vhost,name=vm_a,path=$MIG_SOCK_A,$vm_opts" \
	--port "vhost,name=vm_b,path=$MIG_SOCK_B,$vm_opts" \
	--port "vhost,name=ns,path=$T/ns.sock,mac=$NS_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish
bg guest_ns "$PVNET" guest --connect "$T/ns.sock" --mac "$NS_MAC" --tap pv0 \
	--netns "$MIG_NS" --no-offload
check "TAP up in the namespace" wait_for 10 ip -n "$MIG_NS" link show pv0 up || finish

# learned PORT OTHER: the VM's MAC is charged to PORT, none to OTHER
learned() {
	[ "$(stat_of "$ctl" "$1" .mac_learned)" = 1 ] &&
		[ "$(stat_of "$ctl" "$2" .mac_learned)" = 0 ]
}
# tx_above PORT N: the switch delivered more than N packets to PORT
tx_above() { [ "$(stat_of "$ctl" "$1" .tx_pkts)" -gt "$2" ]; }

# moved PORT N: the VM's MAC moved to PORT more than N times (direct mode)
moved() { [ "$(stat_of "$ctl" "$1" .mac_moves)" -gt "$2" ]; }

# mig_on_port A|B LABEL: the switch learned the VM on that port (or, in
# direct mode, moved its MAC there) and delivers the namespace's pings there
mig_on_port() {
	local to=vm_a from=vm_b n
	[ "$1" = B ] && to=vm_b from=vm_a
	if [ "$MIG_MODE" = direct ]; then
		eval "n=\${moves_$to:-0}"
		check "$2: the switch moved the VM's MAC to $to (mac_moves)" \
			wait_for 5 moved "$to" "$n"
		eval "moves_$to=$(stat_of "$ctl" "$to" .mac_moves)"
	else
		check "$2: the switch learned the VM's MAC on $to, not on $from" \
			wait_for 5 learned "$to" "$from"
	fi
	if [ "$MIG_PACKED" = 1 ]; then
		check "$2: the VM's rings on $to run packed" \
			[ "$(stat_of "$ctl" "$to" '[.vhost.vrings[].state] | unique | join(",")')" = "running packed" ]
	fi
	n=$(stat_of "$ctl" "$to" .tx_pkts)
	ip netns exec "$MIG_NS" ping -c 3 -i 0.2 -W 1 "$MIG_NET.10" >/dev/null
	check "$2: the namespace's pings go to $to (tx_pkts)" wait_for 2 tx_above "$to" $((n + 2))
}

mig_run
js=$("$PVNET" stats --ctl "$ctl" --json)
jq -c '.ports[] | {name, rx_pkts, tx_pkts, merged, tx_gso_pkts, mac_learned,
	announces, drops, log: {bases: .vhost.log_bases, rarps: .vhost.rarps},
	faults: .vhost.faults}' <<<"$js" | sed 's/^/# /'
log "GRO: $(jq -c '[.workers[].gro | {in_segs, out_pkts, agg}]' <<<"$js")"
check "the source ports received a dirty log (SET_LOG_BASE) for each move" \
	[ "$(jq '[.ports[] | select(.name == "vm_a" or .name == "vm_b") | .vhost.log_bases > 0] | all' <<<"$js")" = true ]
[ "$MIG_ANNOUNCE" = rarp ] &&
	check "the switch sent a RARP for each move (announces on the VM ports)" \
		[ "$(jq '[.ports[] | select(.name | startswith("vm_")) | .announces] | add' <<<"$js")" -ge 2 ]
check "GRO wrote merged packets into the guest (merged > 0 on vm_a or vm_b)" \
	[ "$(jq '[.ports[] | select(.name | startswith("vm_")) | .merged] | add' <<<"$js")" -gt 0 ]
check "no port was cut off for a protocol fault" \
	[ "$(jq '[.ports[].vhost.faults | length] | add' <<<"$js")" = 0 ]
finish
