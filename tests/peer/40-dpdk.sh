#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: pvnet interoperates with DPDK (22.11, Debian's) both ways.
#  1. DPDK testpmd's virtio-user as a guest of `pvnet switch`: it sends to a
#     `pvnet guest --sink`, and receives from a `pvnet guest --gen`; counts
#     on all sides agree (drops are counted by reason in the switch).
#  2. `pvnet guest` against DPDK testpmd's vhost-user backend (net_vhost):
#     frames flow both ways and counts agree.
# Rates are logged for the closing notes, never asserted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dpdk.sh"

DPDK_MAC=02:00:00:00:04:01
GEN_MAC=02:00:00:00:04:02
SINK_MAC=02:00:00:00:04:03
ctl=$T/ctl.sock
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=dpdk,path=$T/dpdk.sock,mac=$DPDK_MAC" \
	--port "vhost,name=gen,path=$T/gen.sock,mac=$GEN_MAC" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl"

# --- 1a: testpmd virtio-user txonly -> pvnet switch -> pvnet guest --sink
check "testpmd virtio-user attaches to pvnet switch" \
	tp_start vu 1 "net_virtio_user0,path=$T/dpdk.sock,queues=1,mac=$DPDK_MAC" \
	--forward-mode=txonly --eth-peer=0,$SINK_MAC --txpkts=64
bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink --idle-timeout 2
wait_for 10 grep -q attached "$T/sink.log"
tp_cmd vu "start"
sleep 3
tp_cmd vu "stop"
wait "$pid_sink"
read -r _ tp_tx < <(tp_stats vu)
sink_out=$(grep '^{' "$T/sink.log" | tail -n1)
sw_rx=$(stat_of "$ctl" dpdk .rx_pkts)
sw_tx=$(stat_of "$ctl" sink .tx_pkts)
sw_drop=$(stat_of "$ctl" sink .dropped)
log "testpmd virtio-user sent $tp_tx; switch rx $sw_rx, to sink $sw_tx, dropped $sw_drop; sink $sink_out"
check "testpmd -> switch: switch counted every frame testpmd sent" [ "$tp_tx" = "$sw_rx" ] 
check "testpmd -> switch: frames moved (> 1000)" [ "${tp_tx:-0}" -gt 1000 ]
check "switch -> sink: sink received what the switch delivered" \
	[ "$(jq .frames <<<"$sink_out")" = "$sw_tx" ]
check "switch accounting: rx = delivered + dropped" [ "$sw_rx" = $((sw_tx + sw_drop)) ]

# --- 1b: pvnet guest --gen -> pvnet switch -> testpmd virtio-user rxonly
tp_cmd vu "set fwd rxonly"
tp_cmd vu "clear port stats all"
tp_cmd vu "start"
sleep 0.5
"$PVNET" guest --connect "$T/gen.sock" --mac "$GEN_MAC" --gen --dst "$DPDK_MAC" \
	--size 1518 --count 50000 --rate 100000 >"$T/gen.out" 2>"$T/gen.err"
sleep 1
read -r tp_rx _ < <(tp_stats vu)
sw_tx=$(stat_of "$ctl" dpdk .tx_pkts)
log "pvnet gen sent $(jq .sent "$T/gen.out"); switch delivered to testpmd $sw_tx; testpmd received $tp_rx"
check "switch -> testpmd: testpmd received every frame the switch delivered" [ "$tp_rx" = "$sw_tx" ]
sw_drop=$(stat_of "$ctl" dpdk .dropped)
check "switch -> testpmd: all 50000 delivered or counted as drops" \
	[ $((sw_tx + sw_drop)) = 50000 ]
log "switch -> testpmd: $sw_tx of 50000 delivered, $sw_drop counted as drops (testpmd's ring)"
tp_quit vu
"$PVNET" stats --ctl "$ctl"

# --- 2: pvnet guest against testpmd's vhost-user backend
check "testpmd net_vhost backend starts" \
	tp_start vh 1 "net_vhost0,iface=$T/vh.sock,queues=1" --forward-mode=rxonly
tp_cmd vh "start"
"$PVNET" guest --connect "$T/vh.sock" --mac "$GEN_MAC" --gen --dst "$SINK_MAC" \
	--size 64 --count 200000 >"$T/gen2.out" 2>"$T/gen2.err"
sleep 0.5
read -r tp_rx _ < <(tp_stats vh)
log "pvnet guest -> testpmd vhost: gen $(cat "$T/gen2.out"); testpmd received $tp_rx"
check "pvnet guest -> testpmd vhost: every frame arrived" [ "$tp_rx" = 200000 ]

tp_cmd vh "stop"
tp_cmd vh "set fwd txonly"
tp_cmd vh "clear port stats all"
bg sink2 "$PVNET" guest --connect "$T/vh.sock" --mac "$SINK_MAC" --sink --idle-timeout 2
wait_for 10 grep -q attached "$T/sink2.log"
sleep 0.5
tp_cmd vh "start"
sleep 3
tp_cmd vh "stop"
wait "$pid_sink2"
read -r _ tp_tx < <(tp_stats vh)
sink_out=$(grep '^{' "$T/sink2.log" | tail -n1)
log "testpmd vhost -> pvnet guest: testpmd sent $tp_tx; sink $sink_out"
check "testpmd vhost -> pvnet guest: sink received every frame testpmd sent" \
	[ "$(jq .frames <<<"$sink_out")" = "$tp_tx" ]
check "testpmd vhost -> pvnet guest: frames moved (> 1000)" [ "${tp_tx:-0}" -gt 1000 ]
tp_quit vh
finish
