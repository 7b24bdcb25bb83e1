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

GEN_MAC=02:00:00:00:04:02
SINK_MAC=02:00:00:00:04:03
tp_vu_roundtrip split 02:00:00:00:04 1000
tp_quit vu
"$PVNET" stats --ctl "$T/ctl.sock"

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
