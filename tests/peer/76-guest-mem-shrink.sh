#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: issue 12 finding 2, end to end. A guest's memory file is
# truncated to 0 under running rings (the frontend stopped, so only the
# switch touches that memory; `pvnet guest` creates its memfd without
# MFD_ALLOW_SEALING, so pvnet cannot seal it). The switch's next access
# raises SIGBUS: the switch must stay up, count the fault on that port
# (vhost.mem_faults, faults.vhu_mem_fault, frames to it dropped as
# vhu_mem_fault), log it with the port name, and another pair of guests
# must keep every frame. Before the SIGBUS guard the switch died here.
. "$(dirname "$0")/lib.sh"

V=02:00:00:00:0b:01
G=02:00:00:00:0b:02
S=02:00:00:00:0b:03
ctl=$T/ctl.sock
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=victim,path=$T/v.sock,mac=$V" \
	--port "vhost,name=gen,path=$T/g.sock,mac=$G" \
	--port "vhost,name=sink,path=$T/s.sock,mac=$S"
check "switch answers on its control socket" wait_for 10 switch_ready "$ctl"
# SIGBUS is signal 7: bit 6 of the caught-signals mask
cgt=$(awk '/^SigCgt/ {print $2}' "/proc/$pid_switch/status")
check "switch catches SIGBUS (SigCgt $cgt)" [ $((0x$cgt & 0x40)) -ne 0 ]

bg victim "$PVNET" guest --connect "$T/v.sock" --mac "$V" --sink --idle-timeout 60 \
	--unsealed-memory
check "victim attached" wait_for 10 grep -q attached "$T/victim.log"
check "victim's rings run" wait_for 10 \
	bash -c "[ \"\$(\"$PVNET\" stats --ctl $ctl --json | jq -r '.ports[] | select(.name == \"victim\") | [.vhost.vrings[].state] | join(\",\")')\" = running,running ]"
check "no memory fault yet" [ "$(stat_of "$ctl" victim .vhost.mem_faults)" = 0 ]
# stopped: the frontend must not die on its own memory before the switch
kill -STOP "$pid_victim"
memfd=$(ls -l "/proc/$pid_victim/fd" | awk '/memfd:pvnet-guest/ {print $9; exit}')
check "victim memory file found (fd ${memfd:-none})" [ -n "$memfd" ]
truncate -s 0 "/proc/$pid_victim/fd/$memfd"
check "victim memory file truncated to 0 (pvnet guest --unsealed-memory)" \
	[ "$(stat -L -c %s "/proc/$pid_victim/fd/$memfd")" = 0 ]

# frames to the victim: the switch touches its rings at the latest now
timeout 20 "$PVNET" guest --connect "$T/g.sock" --mac "$G" --gen --dst "$V" \
	--count 1000 --rate 10000 >"$T/gen1.out" 2>&1
check "switch survived the fault" kill -0 "$pid_switch"
check "fault counted by the control thread" wait_for 5 \
	bash -c "[ \"\$(\"$PVNET\" stats --ctl $ctl --json | jq '.ports[] | select(.name == \"victim\") | .vhost.faults.vhu_mem_fault // 0')\" -ge 1 ]"
vh=$(stat_of "$ctl" victim '.vhost | {mem_faults, mem_faulted, faults}')
log "victim: $vh"
log "victim drops: $(stat_of "$ctl" victim .drops)"
check "victim: mem_faults >= 1, port stopped" \
	[ "$(jq '.mem_faults >= 1 and .mem_faulted' <<<"$vh")" = true ]
check "victim: each fault counted once as vhu_mem_fault" \
	[ "$(jq '.mem_faults == .faults.vhu_mem_fault' <<<"$vh")" = true ]
drops=$(stat_of "$ctl" victim '.drops.vhu_mem_fault // 0')
check "frames to the victim: all 1000 dropped as vhu_mem_fault ($drops)" [ "$drops" = 1000 ]
check "log line names the port" grep -q "victim: vhost-user: guest memory faulted" "$T/switch.log"

# the good pair is not affected
bg sink "$PVNET" guest --connect "$T/s.sock" --mac "$S" --sink --count 5000 --idle-timeout 3
wait_for 10 grep -q attached "$T/sink.log"
timeout 30 "$PVNET" guest --connect "$T/g.sock" --mac "$G" --gen --dst "$S" \
	--count 5000 --rate 5000 >"$T/gen2.out" 2>&1
wait "$pid_sink"
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
log "sink: $sink_out"
check "good pair: all 5000 frames received, none corrupted" \
	[ "$(jq '.received == 5000 and .lost + .reordered + .corrupted == 0' <<<"$sink_out")" = true ]

# the victim goes; a new frontend on its socket gets a working port again
kill -9 "$pid_victim"
{ wait "$pid_victim"; } 2>/dev/null
check "victim disconnected" wait_for 10 \
	bash -c "[ \"\$(\"$PVNET\" stats --ctl $ctl --json | jq '.ports[] | select(.name == \"victim\") | .vhost.connected')\" = false ]"
check "victim port no longer faulted" [ "$(stat_of "$ctl" victim .vhost.mem_faulted)" = false ]
bg victim2 "$PVNET" guest --connect "$T/v.sock" --mac "$V" --sink --count 1000 --idle-timeout 3
wait_for 10 grep -q attached "$T/victim2.log"
timeout 30 "$PVNET" guest --connect "$T/g.sock" --mac "$G" --gen --dst "$V" \
	--count 1000 --rate 5000 >"$T/gen3.out" 2>&1
wait "$pid_victim2"
v2=$(grep '^{' "$T/victim2.log" | tail -n1)
log "new victim: $v2"
check "new frontend on the victim's socket receives all 1000 frames" \
	[ "$(jq '.received == 1000 and .corrupted == 0' <<<"$v2")" = true ]
"$PVNET" stats --ctl "$ctl"
finish
