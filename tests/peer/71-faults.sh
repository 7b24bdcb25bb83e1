#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: faults around a running switch.
# (1) kill -9 of a `pvnet guest` frontend mid-traffic, three times, each
#     side: the switch keeps no fd and no mapping of it (/proc/PID/fd count
#     and memfd lines of /proc/PID/maps return to what they were).
# (2) the veth under an afpacket uplink, and a TAP uplink, are deleted: the
#     switch stays up, the uplinks count their transmit errors, the other
#     ports keep working, and the idle switch does not spin.
# (3) overload: an unpaced gen into a guest that takes 10000 frames/s: the
#     switch's RSS stays flat, the excess is dropped at the edge as
#     rx_no_buf, and ping through two other ports keeps answering (its
#     latency is logged).
. "$(dirname "$0")/lib.sh"

EVIL=${EVIL:-$top/build/tests/peer/evil_guest}
GEN_MAC=02:00:00:00:71:01
SINK_MAC=02:00:00:00:71:02
A_MAC=02:00:00:00:71:0a
B_MAC=02:00:00:00:71:0b
ctl=$T/ctl.sock
up0=pv71u0-$$
up1=pv71u1-$$
tapif=pv71t-$$
up0=${up0:0:15}
up1=${up1:0:15}
tapif=${tapif:0:15}
nsa=$(netns_new fa) && nsb=$(netns_new fb) && nsu=$(netns_new fu) ||
	{ not_ok "create namespaces"; finish; }
ip link add "$up0" type veth peer name "$up1" || { not_ok "create veth"; finish; }
ip link set "$up1" netns "$nsu"
ip link set "$up0" up
ip -n "$nsu" link set "$up1" up
ip -n "$nsu" addr add 198.18.71.100/24 dev "$up1"

bg switch "$PVNET" switch --ctl "$ctl" \
	--port "afpacket,name=up,ifname=$up0" \
	--port "tap,name=tp,ifname=$tapif" \
	--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish
spid=$pid_switch

nfds() { ls /proc/"$spid"/fd | wc -l; }
nmaps() { grep -c 'memfd:pvnet-guest' /proc/"$spid"/maps; }
connected() { [ "$(stat_of "$ctl" "$1" .vhost.connected)" = "$2" ]; }
delivered() { [ "$(stat_of "$ctl" sink .tx_pkts)" -gt "$1" ]; }

# --- 1: kill -9 a frontend mid-traffic
fd0=$(nfds); m0=$(nmaps)
log "switch with no guest: $fd0 fds, $m0 guest memory mappings"
for round in 1 2 3; do
	bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink --idle-timeout 30
	wait_for 10 connected sink true
	sleep 0.3
	fds=$(nfds); ms=$(nmaps)
	bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
		--dst "$SINK_MAC" --size 1518 --rate 50000
	n=$(stat_of "$ctl" sink .tx_pkts)
	wait_for 10 delivered $((n + 5000))
	log "round $round: sink + gen attached, traffic flowing: $(nfds) fds, $(nmaps) mappings"
	kill -9 "$pid_gen"
	wait "$pid_gen" 2>/dev/null
	check "round $round: the switch sees the killed gen go" wait_for 10 connected gen false
	check "round $round: gen's fds are gone ($fds)" wait_for 5 bash -c "[ \$(ls /proc/$spid/fd | wc -l) = $fds ]"
	check "round $round: gen's memory is unmapped ($ms)" [ "$(nmaps)" = "$ms" ]
	bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
		--dst "$SINK_MAC" --size 1518 --rate 50000
	n=$(stat_of "$ctl" sink .tx_pkts)
	wait_for 10 delivered $((n + 5000))
	kill -9 "$pid_sink"
	wait "$pid_sink" 2>/dev/null
	check "round $round: the switch sees the killed sink go" wait_for 10 connected sink false
	kill "$pid_gen"
	wait "$pid_gen" 2>/dev/null
	wait_for 10 connected gen false
	check "round $round: back to $fd0 fds" wait_for 5 bash -c "[ \$(ls /proc/$spid/fd | wc -l) = $fd0 ]"
	check "round $round: back to $m0 mappings" [ "$(nmaps)" = "$m0" ]
done
check "switch answers after the kills" switch_ready "$ctl"

# --- 2: the uplink's interface disappears
bg ga "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
bg gb "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
wait_for 10 ip -n "$nsa" link show pv0 up
wait_for 10 ip -n "$nsb" link show pv0 up
ip -n "$nsa" addr add 198.18.71.1/24 dev pv0
ip -n "$nsb" addr add 198.18.71.2/24 dev pv0
ping_ab() { ip netns exec "$nsa" ping -c 2 -i 0.2 -W 1 198.18.71.2 >/dev/null 2>&1; }
ping_up() { ip netns exec "$nsa" ping -c 2 -i 0.2 -W 1 198.18.71.100 >/dev/null 2>&1; }
check "uplink: a pings the host behind the afpacket uplink" wait_for 15 ping_up
check "uplink: a pings b" wait_for 10 ping_ab
cpu2s() {	# switch CPU ticks over 2 s
	local a b
	a=$(awk '{print $14 + $15}' /proc/"$spid"/stat)
	sleep 2
	b=$(awk '{print $14 + $15}' /proc/"$spid"/stat)
	echo $((b - a))
}
cpu_before=$(cpu2s)
err0=$(stat_of "$ctl" up '.drops.tx_port_err // 0')
tperr0=$(stat_of "$ctl" tp '.drops.tx_port_err // 0')
ip link del "$up0"
ip link del "$tapif"
log "uplink: $up0 (afpacket) and $tapif (tap) deleted"
ip netns exec "$nsa" ping -c 5 -i 0.2 -W 1 198.18.71.100 >/dev/null 2>&1
ip -n "$nsa" neigh replace 198.18.71.100 lladdr 02:00:00:00:71:99 dev pv0
ip netns exec "$nsa" ping -c 5 -i 0.2 -W 1 198.18.71.100 >/dev/null 2>&1
# an address nobody has: ARP broadcasts, flooded to both uplinks
ip netns exec "$nsa" ping -c 2 -i 0.2 -W 1 198.18.71.200 >/dev/null 2>&1
check "uplink: the switch stays up" switch_ready "$ctl"
tperr1=$(stat_of "$ctl" tp '.drops.tx_port_err // 0')
check "uplink: frames flooded to the gone TAP are counted as tx_port_err ($tperr0 -> $tperr1)" [ "$tperr1" -gt "$tperr0" ]
err1=$(stat_of "$ctl" up '.drops.tx_port_err // 0')
log "uplink: drops after the deletion: $(stat_of "$ctl" up .drops)"
check "uplink: frames toward the gone interface are counted as tx_port_err ($err0 -> $err1)" [ "$err1" -gt "$err0" ]
check "uplink: the other ports keep working (a pings b)" wait_for 10 ping_ab
cpu_after=$(cpu2s)
log "uplink: switch CPU over 2 s idle: $cpu_before ticks before the deletion, $cpu_after after (of $(($(getconf CLK_TCK) * 2)))"
check "uplink: the socket error is read and counted ($(stat_of "$ctl" up '"\(.sock_errors) \(.last_sock_error)"'))" \
	[ "$(stat_of "$ctl" up .sock_errors)" -ge 1 ]
# A socket error pending on the afpacket fd, and a detached TAP fd, kept
# waking the worker (EPOLLERR is level-triggered): an idle switch spun at
# ~35-50% CPU. Idle means idle.
check "uplink: the idle switch does not spin on the dead uplinks ($cpu_after ticks in 2 s, bound 20)" \
	[ "$cpu_after" -le 20 ]

# --- 3: overload at 10x what a guest can take
# RssAnon: the switch's own memory. VmRSS also counts the guests' shared
# memory pages the switch has touched, which grows as it reads new buffers.
rss() { awk '/RssAnon/ {print $2}' /proc/"$spid"/status; }
vmrss() { awk '/VmRSS/ {print $2}' /proc/"$spid"/status; }
bg slow "$EVIL" "$T/sink.sock" slow-sink --mac "$SINK_MAC" --rate 10000 --active 10 --hold 1
wait_for 10 connected sink true
nb0=$(stat_of "$ctl" sink '.drops.rx_no_buf // 0')
rss0=$(rss)
vm0=$(vmrss)
bg gen "$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen \
	--dst "$SINK_MAC" --size 1518 --duration 8
ip netns exec "$nsa" ping -c 60 -i 0.1 -W 1 198.18.71.2 >"$T/ping.txt" 2>&1 &
pid_ping=$!
pids+=($pid_ping)
rmax=$rss0
samples=
for i in 1 2 3 4 5 6 7 8; do
	sleep 1
	r=$(rss)
	[ "$r" -gt "$rmax" ] && rmax=$r
	samples="$samples $r"
done
wait "$pid_gen" 2>/dev/null
wait "$pid_ping" 2>/dev/null
wait "$pid_slow" 2>/dev/null
gen_out=$(grep '^{' "$T/gen.log" | tail -n1)
log "overload: gen $gen_out"
grep '^# slow-sink' "$T/slow.log" | sed 's/^# /# overload: /'
log "overload: switch RssAnon before ${rss0} kB, each second:${samples} kB (VmRSS $vm0 -> $(vmrss) kB, guest pages included)"
nb1=$(stat_of "$ctl" sink '.drops.rx_no_buf // 0')
log "overload: ping a -> b during it: $(tail -n 2 "$T/ping.txt" | tr '\n' ' ')"
sent=$(jq .sent <<<"$gen_out")
took=$(grep -o 'took [0-9]*' "$T/slow.log" | awk '{print $2}')
log "overload: offered $sent frames, the guest took $took ($(( sent / (took > 0 ? took : 1) ))x)"
check "overload: the gen offered at least 10x what the guest took" [ "$sent" -ge $((10 * took)) ]
check "overload: the excess is dropped at the edge as rx_no_buf ($nb0 -> $nb1)" [ "$nb1" -gt "$nb0" ]
check "overload: switch RssAnon stays flat (grew $((rmax - rss0)) kB, bound 2048 kB)" [ $((rmax - rss0)) -lt 2048 ]
got=$(grep -o '[0-9]* received' "$T/ping.txt" | awk '{print $1}')
check "overload: ping through two other ports keeps answering (${got:-0}/60, at least 48)" [ "${got:-0}" -ge 48 ]
all=$("$PVNET" stats --ctl "$ctl" --json)
sum() { jq "[.ports[] | $1] | add" <<<"$all"; }
check "accounting over all ports: rx = tx + dropped - replicated + segmented" \
	[ "$(sum .rx_pkts)" = $(($(sum .tx_pkts) + $(sum .dropped) - $(sum .replicated) + $(sum .segmented))) ]
finish
