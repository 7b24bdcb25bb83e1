#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: the packed virtqueue (VIRTIO_F_RING_PACKED) against a real
# driver: DPDK testpmd's virtio-user with packed_vq=1 as a guest of
# `pvnet switch` (the split version is 40-dpdk.sh, part 1).
#  a. testpmd txonly -> switch -> `pvnet guest --sink`: the switch pops
#     packed TX chains; counts agree.
#  b. `pvnet guest --gen` -> switch -> testpmd rxonly: the switch fills
#     packed RX buffers; counts agree.
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
finish
