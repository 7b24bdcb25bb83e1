#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 16): ports added and deleted while the switch runs,
# behind its default protections (nobody + seccomp). Two namespaces a and b
# on `pvnet guest --tap` ping each other at 200/s for the whole test. Then:
# a runtime add of port c and traffic on it (a third namespace); a duplicate
# name, MAC or socket path, a bad spec, an unknown type and an unknown name
# refused with a message and a non-zero exit, the switch going on; c
# deleted while c and b send to a: a and b lose nothing, c's socket file is
# gone, `pvnet stats` and `pvnet port list` no longer show it. Then 100
# add/delete cycles of c (a fresh guest each time) under the a <-> b
# traffic: their loss (target zero) and, per cycle, the time from `pvnet
# port add` to c's first forwarded packet (a ping reply from a).
. "$(dirname "$0")/lib.sh"

A_MAC=02:00:00:00:32:01
B_MAC=02:00:00:00:32:02
C_MAC=02:00:00:00:32:03
CYCLES=${CYCLES:-40}	# the suite: ~1.5 min; CYCLES=100 for the closing-note figure
ctl=$T/ctl.sock
# The switch creates runtime sockets as the user it runs as (nobody).
chmod 0711 "$T"
rt=$T/rt
mkdir -m 1777 "$rt"
nsa=$(netns_new a) && nsb=$(netns_new b) && nsc=$(netns_new c) ||
	{ not_ok "create namespaces"; finish; }

bg switch "$PVNET" switch --ctl "$ctl" --workers 2 \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
bg guest_b "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
check "TAP up in a" wait_for 10 ip -n "$nsa" link show pv0 up
check "TAP up in b" wait_for 10 ip -n "$nsb" link show pv0 up
ip -n "$nsa" addr add 198.18.32.1/24 dev pv0
ip -n "$nsb" addr add 198.18.32.2/24 dev pv0
check "ping a -> b" wait_for 10 ip netns exec "$nsa" ping -c 1 -W 1 198.18.32.2
ip netns exec "$nsb" ping -c 1 -W 1 198.18.32.1 >/dev/null

# a <-> b for the whole test: 200 requests a second, each answered.
bg ping_ab ip netns exec "$nsa" ping -i 0.005 198.18.32.2

# Requests whose reply never came, over the seqs a ping log saw (a gap is
# a loss; the request in flight when it was stopped is not one).
lost_of() {
	awk -F'icmp_seq=' '/icmp_seq=/ { split($2, f, " "); s = f[1] + 0;
		if (!(s in seen)) { seen[s] = 1; n++ }
		if (s > max) max = s; if (min == "" || s < min) min = s }
		END { if (n == 0) print -1; else print (max - min + 1) - n }' "$1"
}

# c's guest: a fresh process each time (it owns its TAP in namespace c).
start_c() {
	bg guest_c "$PVNET" guest --connect "$rt/c.sock" --mac "$C_MAC" \
		--tap pv0 --netns "$nsc"
	wait_for 10 ip -n "$nsc" link show pv0 up &&
		ip -n "$nsc" addr add 198.18.32.3/24 dev pv0
}
stop_c() {
	kill "$pid_guest_c" 2>/dev/null
	wait "$pid_guest_c" 2>/dev/null
	# its TAP goes with it: gone before the next guest makes pv0
	wait_for 5 bash -c "! ip -n $nsc link show pv0 >/dev/null 2>&1"
}
port() { "$PVNET" port "$@" --ctl "$ctl"; }
quiet() { "$@" >/dev/null 2>&1; }
# refused CMD... : fails, says why on stderr, and the switch still answers
refused() {
	local err=$T/refused.err
	if "$PVNET" port "$@" --ctl "$ctl" 2>"$err" >/dev/null; then
		return 1
	fi
	sed 's/^/# stderr: /' "$err"
	[ -s "$err" ] && switch_ready "$ctl"
}

# --- 1. a runtime add, traffic on the new port
check "port add c" port add "vhost,name=c,path=$rt/c.sock,mac=$C_MAC"
check "c's socket exists, owned by the switch's user" \
	[ "$(stat -c %U "$rt/c.sock" 2>/dev/null)" = nobody ]
check "c's guest attached, TAP up" start_c
check "ping c -> a" wait_for 10 ip netns exec "$nsc" ping -c 1 -W 1 198.18.32.1
check "ping b -> c" quiet ip netns exec "$nsb" ping -c 3 -i 0.1 -W 1 198.18.32.3
check "port list shows a, b, c" \
	[ "$(port list --json | jq -c '[.ports[].name]')" = '["a","b","c"]' ]
check "pvnet stats counts c's traffic" [ "$(stat_of "$ctl" c .rx_pkts)" -gt 0 ]

# --- 2. what is refused, the switch going on
check "a duplicate name is refused" \
	refused add "vhost,name=c,path=$rt/c2.sock"
check "... and says so" grep -q "port c: duplicate name" "$T/refused.err"
check "... and made no socket" [ ! -e "$rt/c2.sock" ]
# a MAC may be on two vhost ports (a VM's attachments during a live
# migration; frames follow the running rings), not on three
check "a second attachment of a's MAC is taken" \
	quiet port add "vhost,name=d,path=$rt/d.sock,mac=$A_MAC"
check "a third port with a's MAC is refused" \
	refused add "vhost,name=e,path=$rt/e.sock,mac=$A_MAC"
check "... and says so" grep -q "is on ports a and d already" "$T/refused.err"
check "the second attachment is deleted again" quiet port del d
check "... and frames to a's MAC still go to a" \
	quiet ip netns exec "$nsb" ping -c 2 -i 0.1 -W 1 198.18.32.1
check "a socket path in use is refused" \
	refused add "vhost,name=d,path=$T/a.sock"
check "... a's socket is still there and a still forwards" \
	bash -c "[ -S '$T/a.sock' ] && ip netns exec $nsb ping -c 1 -W 1 198.18.32.1 >/dev/null"
check "a bad spec is refused" refused add "vhost,name=d,path=$rt/d.sock,queues=99"
check "... and names the bad option" grep -q "queues=99" "$T/refused.err"
check "a spec without name= is refused" refused add "vhost,path=$rt/d.sock"
check "an unknown type is refused" refused add "bogus,name=d"
check "an uplink behind the sandbox is refused, not fatal" \
	refused add "tap,name=d,ifname=pvt32d"
check "deleting an unknown name is refused" refused del nosuch
check "a usage error exits 2" \
	bash -c "'$PVNET' port add --ctl '$ctl' 2>/dev/null; [ \$? = 2 ]"
check "nothing was added" [ "$(port list --json | jq '.ports | length')" = 3 ]

# --- 3. delete c under traffic: c -> a and b -> a flows, a <-> b going on
bg ping_ca ip netns exec "$nsc" ping -i 0.005 198.18.32.1
ip netns exec "$nsb" ping -i 0.005 -c 600 198.18.32.1 >"$T/ping_ba.log" 2>&1 &
ping_ba=$!
sleep 1
check "port del c under traffic" quiet port del c
wait "$ping_ba"
log "b -> a across the delete: $(grep -o '[0-9]* packets transmitted.*loss' "$T/ping_ba.log")"
check "b -> a lost nothing across c's delete" \
	grep -q ' 0% packet loss' "$T/ping_ba.log"
check "c's socket file is gone" [ ! -e "$rt/c.sock" ]
check "pvnet stats no longer shows c" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq -c '[.ports[].name]')" = '["a","b"]' ]
check "pvnet port list no longer shows c" \
	[ "$(port list --json | jq -c '[.ports[].name]')" = '["a","b"]' ]
check "c's pings get no answer any more" \
	bash -c "! ip netns exec $nsc ping -c 1 -W 1 198.18.32.1 >/dev/null 2>&1"
kill "$pid_ping_ca" 2>/dev/null
stop_c
check "a and b still forward" quiet ip netns exec "$nsa" ping -c 2 -i 0.1 -W 1 198.18.32.2

# --- 4. add/delete cycles under a <-> b traffic
fails=0
: >"$T/times"
for ((i = 1; i <= CYCLES; i++)); do
	t0=$(date +%s%N)
	if ! port add "vhost,name=c,path=$rt/c.sock,mac=$C_MAC" >/dev/null; then
		fails=$((fails + 1))
		continue
	fi
	t1=$(date +%s%N)
	start_c
	# the first reply: c's ARP and request forwarded to a, a's reply back
	if ip netns exec "$nsc" ping -c 1 -i 0.01 -w 10 198.18.32.1 >/dev/null 2>&1; then
		t2=$(date +%s%N)
		echo "$(((t1 - t0) / 1000)) $(((t2 - t0) / 1000))" >>"$T/times"
	else
		fails=$((fails + 1))
	fi
	port del c >/dev/null || fails=$((fails + 1))
	stop_c
done
kill -INT "$pid_ping_ab"
wait "$pid_ping_ab" 2>/dev/null
check "$CYCLES add/delete cycles, each with a forwarded packet" [ "$fails" = 0 ]
lost=$(lost_of "$T/ping_ab.log")
log "a <-> b over the whole test: $(grep -c icmp_seq= "$T/ping_ab.log") replies, $lost lost"
check "a <-> b lost nothing over the whole test (200 pings/s)" [ "$lost" = 0 ]
sort -n -k1 "$T/times" | awk '{ a[NR] = $1 } END { if (NR) printf "# port add command: median %.1f ms, max %.1f ms\n", a[int((NR + 1) / 2)] / 1000, a[NR] / 1000 }'
sort -n -k2 "$T/times" | awk '{ a[NR] = $2 } END { if (NR) printf "# port add to first forwarded packet: median %.1f ms, p90 %.1f ms, max %.1f ms (%d cycles)\n", a[int((NR + 1) / 2)] / 1000, a[int(NR * 0.9 + 0.5)] / 1000, a[NR] / 1000, NR }'
check "the switch is still up, with a and b" \
	[ "$(port list --json | jq -c '[.ports[].name]')" = '["a","b"]' ]
check "no port was cut off for a protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
# inside the switch (its log): the add and the delete themselves
for what in added deleted; do
	grep "ctl: port c $what" "$T/switch.log" | sed 's/.* in \([0-9.]*\) ms$/\1/' | sort -n |
		awk -v w="$what" '{ a[NR] = $1 } END { if (NR) printf "# switch side, port %s: median %.2f ms, max %.2f ms (%d)\n", w, a[int((NR + 1) / 2)], a[NR], NR }'
done
finish
