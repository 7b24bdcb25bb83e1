#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: after `pvnet switch` dies with SIGKILL, a frontend that
# resumes its rings at the used index in its memory (what QEMU does with
# reconnect=1: it cannot ask a dead backend for GET_VRING_BASE) gets every
# chain back exactly once. That holds only if the switch publishes used
# entries in the order it popped the chains, also when GRO holds one of
# them: a TCP segment held for aggregation must not let a later chain's
# used entry become visible first (it would be returned twice after the
# restart, and the held one never). restore_front.c sends [TCP, UDP] in
# one burst, kills the switch while GRO holds the TCP segment (the hold is
# made long with --gro every=N,timeout=1 s), reconnects like QEMU and
# counts the completions. tests/peer/59-qemu-restart-reboot.sh does the
# same with a real guest and bulk TCP, where the window is narrow.
. "$(dirname "$0")/lib.sh"

FRONT=${PVNET_BUILD:-$top/build}/tests/peer/restore_front
H_MAC=02:00:00:00:74:01
B_MAC=02:00:00:00:74:02
ctl=$T/ctl.sock
start_switch() {
	bg switch "$PVNET" switch --ctl "$ctl" --gro every=1000000,timeout=1000000 \
		--port "vhost,name=h,path=$T/h.sock,mac=$H_MAC" \
		--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC"
	wait_for 10 switch_ready "$ctl"
}

check "restore_front helper built" test -x "$FRONT" || finish
check "switch ready" start_switch || finish
nsb=$(netns_new rb) || { not_ok "create namespace"; finish; }
bg guest_b "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
check "TAP up in the namespace (a port that takes large packets)" \
	wait_for 10 ip -n "$nsb" link show pv0 up
ip -n "$nsb" addr add 198.18.74.2/24 dev pv0
"$FRONT" "$T/h.sock" "$H_MAC" "$B_MAC" "$pid_switch" >"$T/front.log" 2>&1 &
pid_front=$!
pids+=("$pid_front")
# the helper kills the switch itself, 200 ms after its burst
check "the helper killed the switch mid-flight" \
	wait_for 10 grep -q 'killing the switch' "$T/front.log"
wait "$pid_switch" 2>/dev/null
mv "$T/switch.log" "$T/switch-1.log"
check "switch restarted on the same sockets" start_switch
timeout 30 tail --pid="$pid_front" -f /dev/null
wait "$pid_front"
rc=$?
sed 's/^/# /' "$T/front.log"
check "every chain came back exactly once after a QEMU-style restore (used idx)" \
	[ "$rc" = 0 ]
check "the GRO hold was in effect (the TCP chain was still in flight at the kill)" \
	grep -q 'tcp returned 0' "$T/front.log"
check "no vhost fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
finish
