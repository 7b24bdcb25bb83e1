#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 4 d): sessions end and begin again.
#  1. A guest pings a namespace, reloads its virtio_net driver (QEMU stops
#     the rings with GET_VRING_BASE and starts them again from there), pings
#     and runs iperf3, and powers off; a new guest connects to the same
#     socket and works (ping, iperf3).
#  2. That second guest runs QEMU with reconnect=1 (pvnet's port is the
#     server): while it pings once a second, `pvnet switch` is killed and
#     started again on the same sockets. QEMU reconnects, the namespace's
#     `pvnet guest` reconnects, and the guest's pings succeed again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

VM_MAC=52:54:00:00:53:0a
A_MAC=02:00:00:00:53:01
ctl=$T/ctl.sock
sw_args=(switch --ctl "$ctl" --port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC"
	 --port "vhost,name=a,path=$T/a.sock,mac=$A_MAC")

check "guest image built" qemu_image || finish
nsa=$(netns_new ra) || { not_ok "create namespace"; finish; }
bg switch "$PVNET" "${sw_args[@]}"
check "switch ready" wait_for 10 switch_ready "$ctl"
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
check "TAP up in the namespace" wait_for 10 ip -n "$nsa" link show pv0 up
ip -n "$nsa" addr add 198.18.53.1/24 dev pv0
ip -n "$nsa" addr add fd00:53::1/64 dev pv0 nodad
bg iperf_a ip netns exec "$nsa" iperf3 -s -p 5201
pings_ok() { grep -c 'pingwatch [0-9]* ok' "$T/vm2.serial"; }
pinged() { [ "$(pings_ok)" -ge "$1" ]; }
stat_is() { [ "$(stat_of "$ctl" "$1" "$2")" = "$3" ]; }
stat_ge() { [ "$(stat_of "$ctl" "$1" "$2")" -ge "$3" ]; }
ipargs="pv_ip=198.18.53.10/24 pv_ip6=fd00:53::10/64"

# --- 1: one guest after another on the same socket
t0=$SECONDS
qemu_start vm1 1 "$ipargs pvtest=ping@198.18.53.1,ping6@fd00:53::1,reload,ping@198.18.53.1,iperf@198.18.53.1@5201@2" \
	"$T/vm.sock,$VM_MAC"
qemu_wait vm1
log "first guest: $((SECONDS - t0)) s"
qemu_report vm1 "first guest"
check "the switch saw the first guest go away" \
	wait_for 5 stat_is vm .vhost.disconnects 1

# --- 2: a second guest on the same socket, then the switch restarts under it
t0=$SECONDS
qemu_start vm2 1 "$ipargs pvtest=ping@198.18.53.1,iperf@198.18.53.1@5201@2,pingwatch@198.18.53.1@60" \
	"$T/vm.sock,$VM_MAC,reconnect"
if wait_for 120 pinged 3; then
	ok "second guest works on the same socket and pings"
	check "the switch counted a second connect" \
		stat_is vm .vhost.connects 2
	kill -9 "$pid_switch"
	wait "$pid_switch" 2>/dev/null
	log "switch killed at guest ping #$(grep -c 'pingwatch [0-9]* ' "$T/vm2.serial")"
	sleep 1
	mv "$T/switch.log" "$T/switch-1.log"
	bg switch "$PVNET" "${sw_args[@]}"
	check "switch restarted on the same sockets" wait_for 10 switch_ready "$ctl"
	before=$(pings_ok)
	check "QEMU reconnected (reconnect=1)" \
		wait_for 20 stat_is vm .vhost.vrings[0].state running
	check "the namespace's pvnet guest reconnected" \
		wait_for 20 stat_ge a .vhost.connects 1
	qemu_wait vm2
	after=$(pings_ok)
	log "pings answered: $before before the restart, $((after - before)) after; lost: $(grep -c 'pingwatch [0-9]* lost' "$T/vm2.serial")"
	check "the guest's pings are answered again after the restart (>= 3)" \
		[ $((after - before)) -ge 3 ]
else
	not_ok "second guest works on the same socket and pings"
fi
log "second guest: $((SECONDS - t0)) s"
qemu_report vm2 "second guest"
"$PVNET" stats --ctl "$ctl"
check "no port was cut off for a protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
finish
