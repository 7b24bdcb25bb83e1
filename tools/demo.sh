#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - the README's main command on a fresh Debian 12 machine: install
# what is missing, build, then `pvnet demo` (quick lro, copy and notify
# benchmarks: the seed papers' effects as tables; charts in ./pvnet-demo)
# and the ring micro-benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh build
for c in jq gnuplot; do
	command -v "$c" >/dev/null && continue
	[ "$(id -u)" -eq 0 ] || { echo "demo.sh: $c is missing (run as root to install it)" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		"$([ "$c" = gnuplot ] && echo gnuplot-nox || echo "$c")" >/dev/null
done
make -j"$(nproc)" >/dev/null
build/pvnet demo "$@"
echo "== ring micro-benchmark (driver and device threads, one queue pair)"
build/bench/bench_vring --seconds 1
