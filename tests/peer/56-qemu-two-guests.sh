#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 4 b, e): two QEMU guests on `pvnet switch` ping
# each other (IPv4, IPv6) and run iperf3 both ways through the switch, guest
# to guest in one copy. Guest X's port has memslots=off, so QEMU maps its
# memory with SET_MEM_TABLE; guest Y's offers CONFIGURE_MEM_SLOTS, so QEMU
# uses ADD_MEM_REG: both paths carry the same traffic.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

X_MAC=52:54:00:00:51:01
Y_MAC=52:54:00:00:51:02
ctl=$T/ctl.sock

check "guest image built" qemu_image || finish
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=x,path=$T/x.sock,mac=$X_MAC,memslots=off" \
	--port "vhost,name=y,path=$T/y.sock,mac=$Y_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl"

t0=$SECONDS
# X serves iperf3 (Y -> X, then X -> Y with -R) and stays up until Y says
# it is done; Y drives.
qemu_start x 1 "pv_ip=198.18.51.1/24 pv_ip6=fd00:51::1/64 pvtest=\
iperfd,waitping@198.18.51.2@120,ping@198.18.51.2,ping6@fd00:51::2,waitmsg@7000@150" \
	"$T/x.sock,$X_MAC"
qemu_start y 1 "pv_ip=198.18.51.2/24 pv_ip6=fd00:51::2/64 pvtest=\
waitping@198.18.51.1@120,ping@198.18.51.1,ping6@fd00:51::1,\
iperf@198.18.51.1@5201@3,iperfR@198.18.51.1@5201@3,sendmsg@198.18.51.1@7000" \
	"$T/y.sock,$Y_MAC"
qemu_wait y
qemu_wait x
log "two guests, boot + checks: $((SECONDS - t0)) s"
qemu_report x "guest X"
qemu_report y "guest Y"

rx=$(stat_of "$ctl" x .vhost.requests)
ry=$(stat_of "$ctl" y .vhost.requests)
log "X (memslots=off) requests: $rx"
log "Y requests: $ry"
check "X: QEMU used SET_MEM_TABLE (memslots=off), no ADD_MEM_REG" \
	[ "$(jq '.SET_MEM_TABLE // 0' <<<"$rx")" -gt 0 -a "$(jq '.ADD_MEM_REG // 0' <<<"$rx")" = 0 ]
check "Y: QEMU used ADD_MEM_REG, no SET_MEM_TABLE" \
	[ "$(jq '.ADD_MEM_REG // 0' <<<"$ry")" -gt 0 -a "$(jq '.SET_MEM_TABLE // 0' <<<"$ry")" = 0 ]
check "traffic went through both ports (> 100 MB each way)" \
	[ "$(stat_of "$ctl" x .rx_bytes)" -gt 100000000 -a "$(stat_of "$ctl" y .rx_bytes)" -gt 100000000 ]
"$PVNET" stats --ctl "$ctl"
check "no port was cut off for a protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
log "iperf3 guest Y -> guest X: $(qemu_rate y iperf@198.18.51.1)"
log "iperf3 guest X -> guest Y: $(qemu_rate y iperfR@198.18.51.1)"
finish
