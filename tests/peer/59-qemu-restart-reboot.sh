#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 8, part 3): the switch restarts and a guest reboots
# in the middle of bulk traffic; nothing in flight is lost or reused wrongly.
#  1. A QEMU guest (1 vCPU, reconnect=1) runs a long iperf3 to a namespace,
#     then one with -R; during each, `pvnet switch` is killed with SIGKILL
#     and started again on the same sockets. QEMU reconnects and gives the
#     new switch its rings from the used index in guest memory (it could
#     not ask the dead one with GET_VRING_BASE), so every chain the old
#     switch had not returned is taken again, and none it had returned is.
#     Asserted: both TCP transfers that spanned a restart complete, a
#     following iperf3 and ping work, the guest's kernel logged none of the
#     errors a lost or doubly returned descriptor causes (dmesgcheck:
#     "id N is not a head!", "id N out of range", rx errors, NETDEV
#     WATCHDOG, ...), and the new switch counted no vhost fault.
#  2. A guest with a QEMU monitor, started without -no-reboot, is reset
#     (HMP system_reset) during an iperf3 to the namespace: QEMU stops the
#     device (GET_VRING_BASE on the same connection), the guest boots again,
#     runs its checks again from the start (ping, iperf3, dmesgcheck) and
#     powers off. Asserted: two boots, the second passes, the switch saw
#     the rings stop and start again with no fault, and a second namespace
#     pinging the first through the switch lost nothing meanwhile.
# Rates are logged, never asserted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

VM_MAC=52:54:00:00:59:0a
A_MAC=02:00:00:00:59:01
B_MAC=02:00:00:00:59:02
NS=198.18.59.1
ctl=$T/ctl.sock
sw_args=(switch --ctl "$ctl" --port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC"
	 --port "vhost,name=a,path=$T/a.sock,mac=$A_MAC"
	 --port "vhost,name=b,path=$T/b.sock,mac=$B_MAC")

check "guest image built" qemu_image || finish
command -v nc >/dev/null || tools/install-deps.sh test >/dev/null
nsa=$(netns_new qa) || { not_ok "create namespace"; finish; }
nsb=$(netns_new qb) || { not_ok "create namespace"; finish; }
bg switch "$PVNET" "${sw_args[@]}"
check "switch ready" wait_for 10 switch_ready "$ctl"
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
bg guest_b "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
check "TAPs up in the namespaces" wait_for 10 ip -n "$nsa" link show pv0 up
wait_for 10 ip -n "$nsb" link show pv0 up
ip -n "$nsa" addr add $NS/24 dev pv0
ip -n "$nsb" addr add 198.18.59.2/24 dev pv0
bg iperf1 ip netns exec "$nsa" iperf3 -s -p 5201
bg iperf2 ip netns exec "$nsa" iperf3 -s -p 5202

not_seen() { ! qemu_seen "$@"; }
stat_is() { [ "$(stat_of "$ctl" "$1" "$2")" = "$3" ]; }
stat_ge() { [ "$(stat_of "$ctl" "$1" "$2")" -ge "$3" ]; }
faults() { "$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add'; }
broken() { "$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.vrings[] | select(.state == "broken")] | length'; }
req() { local n; n=$(stat_of "$ctl" vm ".vhost.requests.$1 // 0"); echo "${n:-0}"; }
# mbps PORT FIELD: the rate of a byte counter over one second
mbps() {
	local a b
	a=$(stat_of "$ctl" "$1" ".$2")
	sleep 1
	b=$(stat_of "$ctl" "$1" ".$2")
	echo $(((b - a) * 8 / 1000000))
}
# flowing PORT FIELD N: the counter grows by N within 10 s
flowing() {
	local a
	a=$(stat_of "$ctl" "$1" ".$2") || return 1
	wait_for 10 stat_ge "$1" ".$2" $((a + $3))
}
ipargs="pv_ip=198.18.59.10/24"

# restart_under NAME CHECK PORT FIELD: once the guest runs CHECK and bytes
# flow (PORT's FIELD grows), kill -9 the switch mid-transfer and start it
# again on the same sockets; QEMU and the namespace's frontend reconnect
restart_under() {
	local name=$1 c=$2 port=$3 field=$4 t0
	if ! wait_for 150 qemu_seen "$name" "^PVTEST start $c"; then
		not_ok "$c: the guest started the transfer"
		return 1
	fi
	check "$c: bytes flow before the restart" flowing "$port" "$field" 1000000
	sleep 2
	log "$c: before the restart: $(mbps "$port" "$field") Mbit/s ($port $field)"
	kill -9 "$pid_switch"
	wait "$pid_switch" 2>/dev/null
	t0=$SECONDS
	check "$c: the transfer was still running when the switch was killed" \
		not_seen "$name" "^PVTEST \(ok\|fail\) $c"
	sleep 1
	mv "$T/switch.log" "$T/switch-$c.log"
	bg switch "$PVNET" "${sw_args[@]}"
	check "$c: switch restarted on the same sockets" wait_for 10 switch_ready "$ctl"
	check "$c: QEMU reconnected and started both rings (reconnect=1)" \
		wait_for 20 eval 'stat_is vm .vhost.vrings[0].state running &&
			stat_is vm .vhost.vrings[1].state running'
	check "$c: the namespace's frontend reconnected" \
		wait_for 20 stat_ge a .vhost.connects 1
	log "$c: rings running $((SECONDS - t0)) s after the kill"
	if wait_for 30 flowing "$port" "$field" 1000000; then
		ok "$c: bytes flow again after the restart"
		log "$c: after the restart: $(mbps "$port" "$field") Mbit/s; vm rings:" \
			"$(stat_of "$ctl" vm '[.vhost.vrings[] | "\(.dir) size \(.size) pkts \(.pkts)"] | join(", ")')"
	else
		not_ok "$c: bytes flow again after the restart"
	fi
}

# --- 1: switch restarts during bulk traffic both ways
t0=$SECONDS
c1=iperf@$NS@5201@12
c2=iperfR@$NS@5202@12
qemu_start vm1 1 "$ipargs pvtest=ping@$NS,$c1,$c2,iperf@$NS@5201@3,ping@$NS,dmesgcheck" \
	"$T/vm.sock,$VM_MAC,reconnect"
restart_under vm1 "$c1" vm rx_bytes	# guest -> namespace: the guest's TX ring
restart_under vm1 "$c2" vm tx_bytes	# namespace -> guest: the guest's RX ring
qemu_wait vm1
log "part 1 (guest boot, 2 restarts): $((SECONDS - t0)) s"
check "guest -> namespace iperf3 across a switch restart completed" \
	qemu_seen vm1 "^PVTEST ok $c1"
check "namespace -> guest iperf3 (-R) across a switch restart completed" \
	qemu_seen vm1 "^PVTEST ok $c2"
check "iperf3 and ping after the restarts" \
	eval 'qemu_seen vm1 "^PVTEST ok iperf@$NS@5201@3" && qemu_seen vm1 "^PVTEST ok ping@$NS"'
check "the guest kernel logged no virtio ring or netdev error (dmesgcheck)" \
	qemu_seen vm1 "^PVTEST ok dmesgcheck"
qemu_report vm1 "restart guest"
check "the restarted switch counted no vhost fault" [ "$(faults)" = 0 ]
check "no ring broken" [ "$(broken)" = 0 ]
check "the switch saw the guest power off" wait_for 5 stat_is vm .vhost.connected false

# --- 2: a guest reboot (system_reset) during bulk traffic
t0=$SECONDS
bg pingb ip netns exec "$nsb" ping -i 0.2 -W 1 -w 170 $NS
c3=iperf@$NS@5203@5
bg iperf3 ip netns exec "$nsa" iperf3 -s -p 5203
QEMU_REBOOT=1 qemu_start vm2 1 "$ipargs pvtest=ping@$NS,$c3,dmesgcheck" \
	"$T/vm.sock,$VM_MAC,reconnect"
connects=
if wait_for 150 qemu_seen vm2 "^PVTEST start $c3" &&
	check "reboot guest: bytes flow before the reset" flowing vm rx_bytes 1000000; then
	sleep 1
	log "before the reset: $(mbps vm rx_bytes) Mbit/s guest -> namespace"
	connects=$(stat_of "$ctl" vm .vhost.connects)
	gvb=$(req GET_VRING_BASE) svb=$(req SET_VRING_BASE)
	check "reboot guest: HMP system_reset" qemu_hmp vm2 system_reset
	tr=$SECONDS
	# the first boot's client is gone without a FIN: a new server
	kill "$pid_iperf3"
	wait "$pid_iperf3" 2>/dev/null
	bg iperf3 ip netns exec "$nsa" iperf3 -s -p 5203
	check "the switch saw the device stop (GET_VRING_BASE of both rings)" \
		wait_for 20 eval '[ $(req GET_VRING_BASE) -ge $((gvb + 2)) ]'
	check "the guest booted a second time" \
		wait_for 120 eval '[ $(grep -c "^PVTEST up" "$T/vm2.serial") -ge 2 ]'
	log "second boot up $((SECONDS - tr)) s after the reset"
	check "the switch saw the rings set up again (SET_VRING_BASE of both)" \
		wait_for 20 eval '[ $(req SET_VRING_BASE) -ge $((svb + 2)) ]'
	check "both rings running again" \
		wait_for 20 eval 'stat_is vm .vhost.vrings[0].state running &&
			stat_is vm .vhost.vrings[1].state running'
else
	not_ok "reboot guest: started the transfer"
fi
qemu_wait vm2
log "part 2 (two boots): $((SECONDS - t0)) s"
ups=$(grep -c '^PVTEST up' "$T/vm2.serial")
check "two boots, one run to the end (PVTEST up x2, done x1)" \
	eval '[ "$ups" = 2 ] && [ "$(grep -c "^PVTEST done" "$T/vm2.serial")" = 1 ]'
check "the second boot's iperf3 and ping passed" \
	eval '[ $(grep -c "^PVTEST ok $c3" "$T/vm2.serial") = 1 ] &&
		[ $(grep -c "^PVTEST ok ping@$NS" "$T/vm2.serial") = 2 ]'
check "the second boot's kernel logged no virtio error (dmesgcheck)" \
	qemu_seen vm2 "^PVTEST ok dmesgcheck"
qemu_report vm2 "reboot guest"
[ -n "$connects" ] && log "vhost-user connects before the reset $connects, at the end $(stat_of "$ctl" vm .vhost.connects)"
log "vm requests: $(stat_of "$ctl" vm .vhost.requests)"
kill -INT "$pid_pingb" 2>/dev/null
wait "$pid_pingb" 2>/dev/null
log "namespace b -> a during the reboot: $(grep 'packets transmitted' "$T/pingb.log")"
check "namespace traffic through the switch went on during the reboot (no ping lost)" \
	grep -q ' 0% packet loss' "$T/pingb.log"
"$PVNET" stats --ctl "$ctl"
check "no vhost fault after the reboot" [ "$(faults)" = 0 ]
check "no ring broken after the reboot" [ "$(broken)" = 0 ]
finish
