#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - build pvnet, then show it working: two virtio-user guests on one
# switch, a numbered stream from one to the other at 64 and 1518 bytes, the
# receiver's report (lost / reordered / corrupted, Mpps, Gbit/s), the switch's
# counters, and the ring micro-benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh build
make -j"$(nproc)" >/dev/null
PVNET=$PWD/build/pvnet
T=$(mktemp -d /tmp/pvnet-demo.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$T"' EXIT

"$PVNET" switch --ctl "$T/ctl" \
	--port "vhost,name=a,path=$T/a.sock,mac=02:00:00:00:00:0a" \
	--port "vhost,name=b,path=$T/b.sock,mac=02:00:00:00:00:0b" 2>"$T/switch.log" &
pids+=($!)
for _ in $(seq 50); do "$PVNET" stats --ctl "$T/ctl" >/dev/null 2>&1 && break; sleep 0.1; done

for size in 64 1518; do
	echo "== $size-byte frames, guest a -> switch -> guest b, 3 seconds"
	"$PVNET" guest --connect "$T/b.sock" --mac 02:00:00:00:00:0b --sink \
		--idle-timeout 2 >"$T/sink.out" 2>/dev/null &
	sink=$!
	sleep 0.5
	"$PVNET" guest --connect "$T/a.sock" --mac 02:00:00:00:00:0a --gen \
		--dst 02:00:00:00:00:0b --size $size --duration 3 2>/dev/null
	wait $sink
	cat "$T/sink.out"
done
echo "== switch counters"
"$PVNET" stats --ctl "$T/ctl"
if [ -x build/bench/bench_vring ]; then
	echo "== ring micro-benchmark (driver and device threads, one queue pair)"
	build/bench/bench_vring --seconds 2
fi
