#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: `pvnet switch` started as root with no option about it
# (docs/security.md, least privilege on by default): once its sockets exist
# and before its workers start it runs as nobody, with no capability,
# no_new_privs and the seccomp allowlist on every thread, and
# still does its whole job: a paced stream passes, guests attach, go and come
# back (kill -9 included), memory tables are added, replaced and removed,
# ring and protocol faults are counted, stats answer. Any call it needed and
# the list lacked would have killed it (SIGSYS, named in its log). Then the
# opt-outs: --no-sandbox --user root keeps root and installs no filter.
. "$(dirname "$0")/lib.sh"

EVIL=${EVIL:-$top/build/tests/peer/evil_guest}
HOSTILE=$top/build/tests/peer/hostile_front
GEN_MAC=02:00:00:00:73:01
SINK_MAC=02:00:00:00:73:02
ctl=$T/ctl.sock
chmod 755 "$T"
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC" \
	--port "vhost,name=evil,path=$T/evil.sock,mac=02:00:00:00:73:66"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish
spid=$pid_switch
check "one line says what is on" wait_for 5 \
	grep -q 'protections: seccomp allowlist installed, running as nobody' "$T/switch.log"
check "protections on before the workers start" bash -c \
	"grep -n -e 'protections:' -e 'worker(s)' $T/switch.log | head -n1 | grep -q protections"
st() { awk -v k="$1:" '$1 == k {print $2}' /proc/"$spid"/status; }
log "switch status: Uid $(st Uid) Gid $(st Gid) CapEff $(st CapEff) NoNewPrivs $(st NoNewPrivs) Seccomp $(st Seccomp)"
check "runs as nobody" [ "$(st Uid)" = "$(id -u nobody)" ]
check "no effective capability" [ "$(st CapEff)" = 0000000000000000 ]
check "no_new_privs" [ "$(st NoNewPrivs)" = 1 ]
check "every thread is filtered (Seccomp: 2)" \
	bash -c "! grep -h '^Seccomp:' /proc/$spid/task/*/status | grep -qv '2$'"

count=30000
bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
	--count $count --idle-timeout 10
wait_for 10 grep -q attached "$T/sink.log"
bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
	--dst "$SINK_MAC" --size 512 --count $count --rate 10000
for c in head-oor csum-start mem-table mem-rem; do
	"$EVIL" "$T/evil.sock" "$c" --hold 1 >"$T/evil-$c.log" 2>&1
	check "evil guest $c: committed, the switch lives" \
		bash -c "grep -q '^done $c' $T/evil-$c.log && kill -0 $spid"
done
for c in not-eventfd wrong-fds overlap; do
	check "hostile frontend $c: refused, the switch lives" \
		bash -c "timeout 20 $HOSTILE $T/evil.sock $c && kill -0 $spid"
done
log "evil port: $(stat_of "$ctl" evil '{drops, faults: .vhost.faults}' | tr -d '\n')"
check "the ring fault broke the queue (logged)" grep -q 'queue broken: ring: head index' "$T/switch.log"
check "the offload lie was counted" [ "$(stat_of "$ctl" evil '.drops.pkt_hdr_csum // 0')" -ge 10 ]
wait "$pid_gen" 2>/dev/null
wait "$pid_sink" 2>/dev/null
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
log "stream: $sink_out"
check "the stream passed whole" [ "$(jq '.received' <<<"$sink_out")" = $count ]
# a frontend killed mid-traffic, then a new one: close, munmap, accept
bg gen2 "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
	--dst "$SINK_MAC" --size 512 --rate 10000
sleep 1
kill -9 "$pid_gen2"
wait "$pid_gen2" 2>/dev/null
check "a killed frontend is cleaned up" wait_for 10 \
	bash -c "[ \"\$($PVNET stats --ctl $ctl --json | jq '.ports[0].vhost.connected')\" = false ]"
check "the switch is alive after everything" bash -c "kill -0 $spid && $PVNET stats --ctl $ctl >/dev/null"
check "it was never killed by the filter" bash -c "! grep -q -e 'Bad system call' -e 'sandbox: system call' $T/switch.log"

bg optout "$PVNET" switch --ctl "$T/optout.ctl" --no-sandbox --user root \
	--port "vhost,name=o,path=$T/optout.sock"
check "opt-out switch ready" wait_for 10 switch_ready "$T/optout.ctl"
spid=$pid_optout
check "--no-sandbox --user root: said so" \
	grep -q 'protections: sandbox off (--no-sandbox), root kept (--user root)' "$T/optout.log"
check "--no-sandbox --user root: root, no filter" \
	bash -c "[ \"\$(awk '/^Uid:/ {print \$2}' /proc/$spid/status)\" = 0 ] &&
		! grep -h '^Seccomp:' /proc/$spid/task/*/status | grep -qv '0\$'"
finish
