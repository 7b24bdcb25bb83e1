#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: restarting either side resumes traffic, in both socket
# roles. (1) pvnet switch listens, pvnet guests connect: the switch is
# killed and started again; the guests reconnect and ping passes again.
# (2) the switch is the client (port option `client`), a guest listens
# (--server): the guest is restarted, then the switch; ping resumes each time.
. "$(dirname "$0")/lib.sh"

A_MAC=02:00:00:00:35:01
B_MAC=02:00:00:00:35:02
nsa=$(netns_new ra) && nsb=$(netns_new rb) || { not_ok "create namespaces"; finish; }

addr() {
	ip -n "$nsa" addr add 198.18.35.1/24 dev pv0 2>/dev/null
	ip -n "$nsb" addr add 198.18.35.2/24 dev pv0 2>/dev/null
}
pings() { ip netns exec "$nsa" ping -c 2 -i 0.2 -W 1 198.18.35.2 >/dev/null 2>&1; }

# --- 1: switch as server
start_switch1() {
	bg sw1 "$PVNET" switch --ctl "$T/sw1.ctl" \
		--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC" \
		--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC"
	wait_for 10 switch_ready "$T/sw1.ctl"
}
start_switch1
bg ga "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
bg gb "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb"
wait_for 10 ip -n "$nsa" link show pv0 up
wait_for 10 ip -n "$nsb" link show pv0 up
addr
check "server switch: ping before the restart" wait_for 10 pings
kill "$pid_sw1"
wait "$pid_sw1" 2>/dev/null
check "server switch: no ping while the switch is down" bash -c "! ip netns exec $nsa ping -c 1 -W 1 198.18.35.2 >/dev/null 2>&1"
start_switch1
check "server switch: guests reconnect and ping passes after the restart" wait_for 20 pings
check "server switch: both guests reconnected" \
	[ "$(stat_of "$T/sw1.ctl" a .vhost.connected)" = true ]
kill "$pid_sw1" "$pid_ga" "$pid_gb"
wait "$pid_sw1" "$pid_ga" "$pid_gb" 2>/dev/null

# --- 2: switch as client, guests listen
start_guest() {	# start_guest NAME MAC NS
	bg "g2$1" "$PVNET" guest --server --connect "$T/s$1.sock" --mac "$2" \
		--tap pv0 --netns "$3" --connect-timeout 60
}
start_switch2() {
	bg sw2 "$PVNET" switch --ctl "$T/sw2.ctl" \
		--port "vhost,name=a,path=$T/sa.sock,client,mac=$A_MAC" \
		--port "vhost,name=b,path=$T/sb.sock,client,mac=$B_MAC"
	wait_for 10 switch_ready "$T/sw2.ctl"
}
start_guest a "$A_MAC" "$nsa"
start_guest b "$B_MAC" "$nsb"
start_switch2
wait_for 10 ip -n "$nsa" link show pv0 up
wait_for 10 ip -n "$nsb" link show pv0 up
addr
check "client switch: ping with the switch connecting to listening guests" wait_for 20 pings
kill "$pid_g2b"
wait "$pid_g2b" 2>/dev/null
start_guest b "$B_MAC" "$nsb"
wait_for 10 ip -n "$nsb" link show pv0 up
addr
check "client switch: a restarted guest is found again and ping passes" wait_for 20 pings
kill "$pid_sw2"
wait "$pid_sw2" 2>/dev/null
start_switch2
check "client switch: after a switch restart ping passes again" wait_for 20 pings
finish
