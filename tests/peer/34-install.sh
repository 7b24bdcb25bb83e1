#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: pvnet as a package. `make install DESTDIR=... PREFIX=/usr`
# puts the binary, the systemd unit, a man page per command and the example
# config where they belong; the installed binary runs; `systemd-analyze
# verify` accepts the unit (verified, not started: the test machine may not
# run systemd) and refuses a broken one; the example config passes
# `pvnet switch --check-config` and broken ones fail it naming the file and
# the port or key; the man pages render without a warning; uninstall takes
# it all away. Then the unit's CapabilityBoundingSet is exactly what the
# set-up needs: with it, a switch with a vhost port opened to a group, a TAP
# and an afpacket uplink starts and drops to nobody; without any one of its
# capabilities it does not start. The same run writes journal-style lines
# (JOURNAL_STREAM names its stderr): each has a <N> priority and each line
# about a port begins "port NAME:".
. "$(dirname "$0")/lib.sh"

build=${PVNET_BUILD:-$top/build}
root=$T/root
make -s -C "$top" O="$build" install DESTDIR="$root" PREFIX=/usr \
	>"$T/install.log" 2>&1
check "make install DESTDIR PREFIX=/usr" [ $? -eq 0 ] || { cat "$T/install.log"; finish; }
pv=$root/usr/bin/pvnet
unit=$root/usr/lib/systemd/system/pvnet.service
example=$root/etc/pvnet/pvnet.json.example
man8=$root/usr/share/man/man8
check "binary installed, executable" [ -x "$pv" ]
check "unit installed" [ -s "$unit" ]
check "example config installed in /etc/pvnet" [ -s "$example" ]
check "documentation installed" [ -s "$root/usr/share/doc/pvnet/config.md" ]
cmds=$("$pv" --help | awk '/^commands:/ { on = 1; next }
	on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }' | grep -v -x -e help -e version)
log "commands: $(echo $cmds)"
check "pvnet(8) installed" [ -s "$man8/pvnet.8" ]
for c in $cmds; do
	check "pvnet-$c(8) installed" [ -s "$man8/pvnet-$c.8" ]
done
check "the installed binary runs --help" bash -c "'$pv' --help | grep -q '^usage: pvnet'"
check "the installed binary runs switch --help" \
	bash -c "'$pv' switch --help | grep -q -- --check-config"

# The unit: paths of this PREFIX, verified inside a copy of the tree that
# also has the host's units (the targets it orders itself after).
check "unit's ExecStart: PREFIX's binary, /etc/pvnet config, /run/pvnet ctl" \
	grep -q '^ExecStart=/usr/bin/pvnet switch --config /etc/pvnet/pvnet.json --ctl /run/pvnet/ctl.sock$' "$unit"
vroot=$T/vroot
cp -a "$root" "$vroot"
cp -an /usr/lib/systemd/system/. "$vroot/usr/lib/systemd/system/"
verify() {	# verify: systemd-analyze verify of the unit in $vroot, silent
	local out
	out=$(systemd-analyze verify --man=no --root="$vroot" pvnet.service 2>&1)
	local rc=$?
	[ -n "$out" ] && log "verify: $out"
	[ $rc -eq 0 ] && [ -z "$out" ]
}
check "systemd-analyze verify: no error, no warning" verify
cp "$vroot/usr/lib/systemd/system/pvnet.service" "$T/unit.ok"
sed -i 's|^ExecStart=/usr/bin/pvnet|ExecStart=/usr/bin/pvnet-missing|' \
	"$vroot/usr/lib/systemd/system/pvnet.service"
not() { ! "$@"; }
check "verify refuses a unit whose binary is missing" not verify
cp "$T/unit.ok" "$vroot/usr/lib/systemd/system/pvnet.service"
echo "ProtectEverything=yes" >>"$vroot/usr/lib/systemd/system/pvnet.service"
check "verify flags an unknown directive" not verify

# The config check.
check "the example config passes --check-config" \
	bash -c "'$pv' switch --check-config '$example' | grep -q ': OK, 2 port(s): vm1 (vhost) vm2 (vhost)'"
bad() {	# bad NAME SED-EXPR MESSAGE-REGEX: a broken copy fails, saying why
	sed -e "$2" "$example" >"$T/$1.json"
	"$pv" switch --check-config "$T/$1.json" >"$T/$1.out" 2>&1
	local rc=$?
	log "$1: rc $rc: $(tr '\n' ' ' <"$T/$1.out")"
	[ $rc -eq 2 ] && grep -q -E "$3" "$T/$1.out" && grep -q "$T/$1.json" "$T/$1.out"
}
check "--check-config: a bad MAC names the port" \
	bad badmac 's/52:54:00:00:00:02/52:54:00:00:00:zz/' 'port vm2: mac=52:54:00:00:00:zz'
check "--check-config: an unknown key is named" \
	bad badkey 's/"workers"/"worker"/' "unknown key 'worker'"
check "--check-config: a syntax error gives file:line" \
	bad syntax 's/"queues": 2}/"queues": 2},/' '\.json:[0-9]+: '
check "--check-config: a duplicate port name is named" \
	bad dup 's/"name": "vm2"/"name": "vm1"/' 'port vm1: duplicate name'
check "--check-config: an unknown port option is named" \
	bad badopt 's/"queues": 2/"queuez": 2/' "port vm2: unknown option 'queuez=2'"
check "--check-config: a missing file is an error" bash -c \
	"'$pv' switch --check-config '$T/none.json' 2>&1 | grep -q '$T/none.json'; [ \${PIPESTATUS[0]} -eq 2 ]"
check "--check-config opens nothing: no socket appeared" [ ! -e /run/pvnet/vm1.sock ]

# Man pages: rendered at 80 columns, groff says nothing.
for f in "$man8"/*.8; do
	w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	check "man -l $(basename "$f"): renders without warnings" [ -z "$w" ]
	[ -n "$w" ] && log "$w"
done
check "pvnet-switch(8) documents --check-config (from --help)" \
	bash -c "MANWIDTH=80 man -l '$man8/pvnet-switch.8' 2>/dev/null | grep -q -- '--check-config FILE'"
check "pvnet(8) lists the commands" \
	bash -c "MANWIDTH=80 man -l '$man8/pvnet.8' 2>/dev/null | grep -q 'pvnet-switch(8)'"

make -s -C "$top" O="$build" uninstall DESTDIR="$root" PREFIX=/usr >>"$T/install.log" 2>&1
left=$(find "$root" -type f)
check "make uninstall removes every file" [ -z "$left" ]
[ -n "$left" ] && log "left: $left"

# The bounding set: what the set-up needs, no more. pvnet runs under
# setpriv with the unit's set, as systemd would start it.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$T/unit.ok")
log "unit's capabilities: $caps"
[ -n "$caps" ] || { not_ok "unit has a CapabilityBoundingSet"; finish; }
nss=$(netns_new s) && nsu=$(netns_new u) || { not_ok "namespaces"; finish; }
netnses+=("$nss" "$nsu")
ip link add pvi34s type veth peer name pvi34u || { not_ok "veth"; finish; }
ip link set pvi34s netns "$nss"
ip link set pvi34u netns "$nsu"
ip -n "$nss" link set pvi34s up
ip -n "$nsu" link set pvi34u up
chmod 755 "$T"
grp=$(getent group daemon >/dev/null && echo daemon || echo nogroup)
run_switch() {	# run_switch NAME N CAPS: the switch under that bounding set
	local set=-all c
	local notify=${NOTIFY_SOCKET:-}
	for c in $3; do set="$set,+$(echo "${c#CAP_}" | tr A-Z a-z)"; done
	rm -f "$T/$1.sock" "$T/$1.ctl"
	: >"$T/$1.log"
	bg "$1" env JOURNAL_STREAM="$(stat -c %d:%i "$T/$1.log")" NOTIFY_SOCKET="$notify" \
		ip netns exec "$nss" setpriv --inh-caps=-all --bounding-set="$set" \
		"$pv" switch --ctl "$T/$1.ctl" \
		--port "vhost,name=vm,path=$T/$1.sock,mode=0660,group=$grp" \
		--port "tap,name=tp,ifname=pvt34t$2" \
		--port "afpacket,name=up,ifname=pvi34s"
}
make -s -C "$top" O="$build" install DESTDIR="$root" PREFIX=/usr >>"$T/install.log" 2>&1
# systemd's notification socket, played by a receiver that also looks
# whether the control socket exists when READY=1 arrives.
bg notify python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.settimeout(30)
m = s.recv(256).decode()
print(m, "ctl-exists" if os.path.exists(sys.argv[2]) else "no-ctl", flush=True)
' "$T/notify.sock" "$T/all.ctl"
wait_for 5 test -S "$T/notify.sock"
NOTIFY_SOCKET=$T/notify.sock run_switch all 0 "$caps"
check "with the unit's capabilities the switch starts" wait_for 10 switch_ready "$T/all.ctl"
check "it tells systemd READY=1 once its sockets exist (Type=notify)" \
	wait_for 5 grep -q '^READY=1 ctl-exists$' "$T/notify.log"
check "... and drops to nobody" wait_for 5 grep -q 'running as nobody' "$T/all.log"
check "... its vhost socket is opened to group $grp" \
	[ "$(stat -c %G:%a "$T/all.sock" 2>/dev/null)" = "$grp:660" ]
kill "$pid_all"
wait "$pid_all" 2>/dev/null
log "journal-style lines: $(head -n 3 "$T/all.log" | tr '\n' '|')"
check "journal lines: each has a <N> priority prefix" \
	bash -c "[ -s $T/all.log ] && ! grep -v -q '^<[0-7]>' $T/all.log"
check "journal lines: no 'pvnet: info:' doubled in" bash -c "! grep -q 'pvnet: info:' $T/all.log"
check "journal lines about a port begin 'port NAME:'" bash -c \
	"! grep -E 'vhost-user|tap |afpacket|vring' $T/all.log | grep -v -q -E '^<[0-7]>port (vm|tp|up): '"
i=0
for c in $caps; do
	i=$((i + 1))
	run_switch "no$c" $i "${caps//$c/}"
	sleep 0.2
	wait_for 5 bash -c "! kill -0 $(eval echo \$pid_no$c) 2>/dev/null"
	ready=no
	switch_ready "$T/no$c.ctl" && ready=yes
	log "without $c: ready $ready; $(grep -v -E 'info|^<6>' "$T/no$c.log" | head -n 2 | tr '\n' ' ')"
	check "without $c the switch does not start" [ "$ready" = no ]
	kill "$(eval echo \$pid_no$c)" 2>/dev/null
done
finish
