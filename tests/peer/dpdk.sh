# SPDX-License-Identifier: MIT
# dpdk.sh - drive DPDK testpmd as a peer: interactive, commands through a FIFO
# (testpmd exits when stdin closes), output line-buffered into a log.

# tp_start NAME CORE VDEV [testpmd args...]: start testpmd NAME on CORE;
# VDEV may hold several devices separated by spaces (port ids in that
# order); with TP_NETNS=NS in the environment it runs in namespace NS (its
# net_tap interfaces are made there)
tp_start() {
	local name=$1 core=$2 vdev=$3 v vdevs=() ns=()
	shift 3
	for v in $vdev; do vdevs+=(--vdev "$v"); done
	[ -n "${TP_NETNS:-}" ] && ns=(ip netns exec "$TP_NETNS")
	mkfifo "$T/$name.in"
	"${ns[@]}" stdbuf -oL dpdk-testpmd --lcores "0@$core,1@$core" --no-pci --no-huge -m 1024 \
		--file-prefix "pvt-$name-$$" --log-level=pmd.net.vhost:info \
		"${vdevs[@]}" -- -i --nb-cores=1 --rxq=1 --txq=1 --total-num-mbufs=16384 "$@" \
		<>"$T/$name.in" >"$T/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
	wait_for 20 grep -q "testpmd>" "$T/$name.log"
}

# tp_cmd NAME CMD: send one command
tp_cmd() { echo "$2" >"$T/$1.in"; }

# tp_stats NAME: prints "RX TX" packets of port 0 (from show port stats)
tp_stats() {
	local name=$1 n
	n=$(grep -c "NIC statistics for port 0" "$T/$name.log")
	tp_cmd "$name" "show port stats 0"
	wait_for 5 test "$(grep -c "NIC statistics for port 0" "$T/$name.log")" -gt "$n"
	sleep 0.2
	awk '/NIC statistics for port 0/ {rx = ""; tx = ""}
	     /RX-packets:/ {rx = $2}
	     /TX-packets:/ {tx = $2}
	     END {print rx, tx}' "$T/$name.log"
}

tp_quit() {
	tp_cmd "$1" "quit"
	local p
	eval "p=\$pid_$1"
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
	kill "$p" 2>/dev/null
}
