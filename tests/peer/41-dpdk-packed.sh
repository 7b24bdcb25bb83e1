#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: the packed virtqueue (VIRTIO_F_RING_PACKED) against a real
# driver: DPDK testpmd's virtio-user with packed_vq=1 as a guest of
# `pvnet switch` (the split version is 40-dpdk.sh, part 1).
#  a. testpmd txonly -> switch -> `pvnet guest --sink`: the switch pops
#     packed TX chains; counts agree.
#  b. `pvnet guest --gen` -> switch -> testpmd rxonly: the switch fills
#     packed RX buffers; counts agree.
#  c. `pvnet guest --packed` (pvnet's packed driver side) against testpmd's
#     vhost-user backend (net_vhost, DPDK's packed device side): --gen ->
#     testpmd rxonly, testpmd txonly -> --sink; counts agree.
# The negotiated features must include bit 34, else this proves nothing.
# PACKED_VQ=0 runs the same against the split ring (for comparison).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dpdk.sh"

tp_vu_roundtrip packed 02:00:00:00:41 1000000 packed_vq=${PACKED_VQ:-1}
ctl=$T/ctl.sock
feat=$(stat_of "$ctl" dpdk .vhost.features)
check "the packed ring is negotiated (bit 34)" \
	[ $(( (${feat:-0} >> 34) & 1 )) = 1 ]
tp_quit vu
"$PVNET" stats --ctl "$ctl" | grep -iE "broken|ring_" || true
check "no ring broke" [ "$(stat_of "$ctl" dpdk '[.. | objects | to_entries[] | select(.key | test("^ring_")) | .value] | add // 0')" = 0 ]

# --- c: pvnet guest --packed against testpmd's vhost-user backend
GEN_MAC=02:00:00:00:41:12
SINK_MAC=02:00:00:00:41:13
check "testpmd net_vhost backend starts" \
	tp_start vh 1 "net_vhost0,iface=$T/vh.sock,queues=1" --forward-mode=rxonly
tp_cmd vh "start"
timeout 30 "$PVNET" guest --packed --connect "$T/vh.sock" --mac "$GEN_MAC" --gen --dst "$SINK_MAC" \
	--size 64 --count 200000 >"$T/gen3.out" 2>"$T/gen3.err"
check "pvnet guest --packed attached to testpmd vhost with packed rings" \
	grep -q "packed rings" "$T/gen3.err"
# DPDK's vhost offers VIRTIO_F_IN_ORDER and writes one used descriptor
# per dequeued batch on a packed ring: the driver's in-order batch path
# runs only if the attach line says so
log "$(grep attached "$T/gen3.err")"
check "pvnet guest --packed (gen) negotiated IN_ORDER with testpmd's vhost" \
	grep -q "packed rings, in order" "$T/gen3.err"
sleep 0.5
read -r tp_rx _ < <(tp_stats vh)
log "pvnet guest --packed -> testpmd vhost: gen $(cat "$T/gen3.out"); testpmd received $tp_rx"
check "pvnet guest --packed -> testpmd vhost: every frame arrived" [ "$tp_rx" = 200000 ]

tp_cmd vh "stop"
tp_cmd vh "set fwd txonly"
tp_cmd vh "clear port stats all"
bg sink3 timeout 30 "$PVNET" guest --packed --connect "$T/vh.sock" --mac "$SINK_MAC" --sink --idle-timeout 2
wait_for 10 grep -q attached "$T/sink3.log"
check "pvnet guest --packed (sink) negotiated IN_ORDER with testpmd's vhost" \
	grep -q "packed rings, in order" "$T/sink3.log"
sleep 0.5
tp_cmd vh "start"
sleep 3
tp_cmd vh "stop"
wait "$pid_sink3"
read -r _ tp_tx < <(tp_stats vh)
sink_out=$(grep '^{' "$T/sink3.log" | tail -n1)
log "testpmd vhost -> pvnet guest --packed: testpmd sent $tp_tx; sink $sink_out"
check "testpmd vhost -> pvnet guest --packed: sink received every frame testpmd sent" \
	[ "$(jq .frames <<<"$sink_out")" = "$tp_tx" ]
check "testpmd vhost -> pvnet guest --packed: frames moved (> 1000)" [ "${tp_tx:-0}" -gt 1000 ]
check "pvnet guest --packed: no ring broke" sh -c "! grep -q 'queue broken' '$T/sink3.log' '$T/gen3.err'"
tp_quit vh
finish
