#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-deps.sh - install what pvnet needs on Debian 12, if it is missing.
#   tools/install-deps.sh build   compilers and libraries
#   tools/install-deps.sh test    + test tools and the real peers (DPDK, iperf3)
set -euo pipefail

# libclang-rt-14-dev: clang's libFuzzer and sanitizer runtimes (ASan, TSan).
want=(make gcc clang pkg-config libcmocka-dev libjansson-dev libpcap-dev
      libclang-rt-14-dev libseccomp-dev)
if [ "${1:-build}" = test ]; then
	want+=(dpdk-dev iperf3 iputils-ping iproute2 ethtool procps psmisc netcat-openbsd jq
	       coreutils valgrind python3 systemd man-db groff-base util-linux
	       libvirt-daemon-system libvirt-clients prometheus tmux curl openvswitch-switch
	       tcpdump gobgpd frr)
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root for apt-get (run as root or with sudo)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
