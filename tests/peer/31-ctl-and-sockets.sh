#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 12, findings 6 and 8): the switch's sockets are
# mode 0600 even under umask 000, mode=/group= open a vhost-user socket on
# purpose, every vhost-user connection logs the peer's pid, uid and gid (a
# listening port and a client port), and `pvnet stats` answers while other
# control-socket clients hold the socket: one silent, one sending a byte
# every 200 ms. Each of those is closed at its deadline with a log line and
# counted. (A client that never reads a large reply: tests/unit/test_ctl.c.)
. "$(dirname "$0")/lib.sh"

A_MAC=02:00:00:00:31:01
B_MAC=02:00:00:00:31:02
C_MAC=02:00:00:00:31:03
ctl=$T/ctl.sock
grp=daemon

# the guest that the client port connects to listens first
bg cguest "$PVNET" guest --connect "$T/c.sock" --server --mac "$C_MAC" \
	--sink --count 1000000 --idle-timeout 60
wait_for 10 test -S "$T/c.sock"

# the widest umask: nothing but pvnet itself narrows the modes
old_umask=$(umask)
umask 000
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC,mode=0660,group=$grp" \
	--port "vhost,name=c,path=$T/c.sock,mac=$C_MAC,client"
umask "$old_umask"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish

log "modes: ctl $(stat -c '%a %U:%G' "$ctl"), a $(stat -c '%a %U:%G' "$T/a.sock"), b $(stat -c '%a %U:%G' "$T/b.sock")"
check "the control socket is 0600 under umask 000" [ "$(stat -c %a "$ctl")" = 600 ]
check "a vhost-user socket is 0600 under umask 000" [ "$(stat -c %a "$T/a.sock")" = 600 ]
check "mode=0660 takes effect" [ "$(stat -c %a "$T/b.sock")" = 660 ]
check "group=$grp takes effect" [ "$(stat -c %G "$T/b.sock")" = "$grp" ]
check "mode= with client is refused at start" \
	bash -c "! timeout 10 '$PVNET' switch --port 'vhost,name=x,path=$T/x.sock,client,mode=0660' 2>'$T/bad.err'"
check "a mode without owner rw is refused" \
	bash -c "! timeout 10 '$PVNET' switch --port 'vhost,name=x,path=$T/x.sock,mode=0066' 2>>'$T/bad.err'"
check "an unknown group is refused" \
	bash -c "! timeout 10 '$PVNET' switch --port 'vhost,name=x,path=$T/x.sock,group=no-such-group-31' 2>>'$T/bad.err' && grep -q 'no such group' '$T/bad.err'"

# a guest attaches to a: the switch logs who it is
bg aguest "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --sink \
	--count 1000000 --idle-timeout 60
check "guest attached to a" wait_for 10 grep -q attached "$T/aguest.log"
grep 'peer pid' "$T/switch.log" | sed 's/^/# /'
check "the switch logged the listening port's peer: pid $pid_aguest, uid 0, gid 0" \
	wait_for 5 grep -q "a: vhost-user frontend connected: peer pid $pid_aguest uid 0 gid 0" "$T/switch.log"
check "the switch logged the client port's peer: pid $pid_cguest" \
	wait_for 10 grep -q "c: vhost-user frontend connected: peer pid $pid_cguest uid 0 gid 0" "$T/switch.log"

# Control-socket clients that hold the socket: silent and dripping.
# While both are connected, `pvnet stats` must answer; then each is
# closed by the switch at its deadline. The order is checked, not the time.
cat >"$T/holders.py" <<'EOF'
import socket, subprocess, sys, time
ctl, pvnet = sys.argv[1], sys.argv[2]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ctl)
    return s

def open_still(s):
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False

silent, drip = conn(), conn()
drip.sendall(b"s")
# pvnet stats in the background, one byte to drip every 200 ms meanwhile
p = subprocess.Popen([pvnet, "stats", "--ctl", ctl, "--json"],
                     stdout=subprocess.PIPE)
for _ in range(50):
    if p.poll() is not None:
        break
    try:
        drip.send(b"x")
    except OSError:
        pass    # closed already: reported below
    time.sleep(0.2)
else:
    p.kill()
out = p.communicate()[0]
print("stats answered:", p.returncode == 0 and out.startswith(b"{"))
print("holders open when it answered:",
      open_still(silent) and open_still(drip))
# then the switch closes each of them (bounded wait)
for _ in range(100):
    if not open_still(silent) and not open_still(drip):
        break
    time.sleep(0.1)
print("holders closed by the switch:",
      not open_still(silent) and not open_still(drip))
EOF
timeout 60 python3 "$T/holders.py" "$ctl" "$PVNET" >"$T/holders.out" 2>&1
sed 's/^/# /' "$T/holders.out"
check "pvnet stats answered while two clients held the control socket" \
	grep -q "stats answered: True" "$T/holders.out"
check "the silent and the dripping client were still open when it answered" \
	grep -q "holders open when it answered: True" "$T/holders.out"
check "the switch closed them at their deadline" \
	grep -q "holders closed by the switch: True" "$T/holders.out"
grep 'ctl: client' "$T/switch.log" | sed 's/^/# /'
check "the switch logged each deadline (2 lines)" \
	[ "$(grep -c 'closed at its 2000 ms deadline' "$T/switch.log")" = 2 ]
check "stats count them: ctl.timed_out = 2" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq .ctl.timed_out)" = 2 ]
check "the switch is still up" kill -0 "$pid_switch"
finish
