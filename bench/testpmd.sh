# SPDX-License-Identifier: MIT
# bench/testpmd.sh - drive DPDK testpmd from bench/run.sh (sourced): started
# interactive with stdin on a FIFO opened read-write (testpmd exits when its
# stdin closes), output line-buffered into $T/NAME.log, bounded by timeout.
# Needs from run.sh: $T, pids.

TP_LIMIT=${TP_LIMIT:-300}	# seconds any one testpmd may live

# tp_start NAME LCORES EAL-ARGS... -- TESTPMD-ARGS...: start testpmd NAME
# (pass -i after --); sets tp_pid_NAME to testpmd's own PID (for /proc/PID/stat)
tp_start() {
	local name=$1 lcores=$2 p c
	shift 2
	rm -f "$T/$name.in"
	mkfifo "$T/$name.in"
	: >"$T/$name.log"
	stdbuf -oL timeout -k 5 "$TP_LIMIT" dpdk-testpmd --lcores "$lcores" \
		--no-pci --no-huge -m 1024 --file-prefix "pvb-$name-$$" "$@" \
		<>"$T/$name.in" >"$T/$name.log" 2>&1 &
	p=$!
	pids+=($p)
	eval "tp_wrap_$name=$p"
	for _ in $(seq 200); do
		grep -q "testpmd>" "$T/$name.log" && break
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	# timeout's child is testpmd (stdbuf execs it)
	c=$(cat "/proc/$p/task/$p/children" 2>/dev/null | awk '{print $1}')
	eval "tp_pid_$name=${c:-$p}"
	grep -q "testpmd>" "$T/$name.log"
}

# tp_cmd NAME CMD: one command (bounded: a FIFO without a reader blocks)
tp_cmd() { timeout 2 bash -c 'echo "$1" >"$2"' _ "$2" "$T/$1.in"; }

# tp_ports NAME NPORTS: "RXPKTS RXBYTES TXPKTS" summed over ports 0..N-1
# (%.0f: mawk's %d stops at 2^31 - 1, and byte counters pass that),
# from one `show port stats all`
tp_ports() {
	local name=$1 n=$2 off
	off=$(stat -c %s "$T/$name.log")
	tp_cmd "$name" "show port stats all"
	for _ in $(seq 50); do
		[ "$(tail -c +"$((off + 1))" "$T/$name.log" | grep -c 'Tx-pps')" -ge "$n" ] && break
		sleep 0.05
	done
	tail -c +"$((off + 1))" "$T/$name.log" | awk '
	  /RX-packets:/ {rp += $2; rb += $NF}
	  /TX-packets:/ {tp += $2}
	  END {printf "%.0f %.0f %.0f\n", rp, rb, tp}'
}

# tp_fwd_cycles NAME: "CYCLES PACKETS", the forwarding lcore's TSC cycles
# and the packets it received since the last `clear fwd stats all`, from
# one `show fwd stats all` (testpmd started with --record-core-cycles, which
# counts only the polls that received something: its busy cycles); empty if
# testpmd printed no "CPU cycles/packet=" line within 2.5 s (it prints none
# when nothing was forwarded)
tp_fwd_cycles() {
	local name=$1 off
	off=$(stat -c %s "$T/$name.log")
	tp_cmd "$name" "show fwd stats all"
	for _ in $(seq 50); do
		tail -c +"$((off + 1))" "$T/$name.log" | grep -q 'CPU cycles/packet=' && break
		sleep 0.05
	done
	# CPU cycles/packet=187.74 (total cycles=5796271044 / total io packets=30874688) at 2100 MHz Clock
	# (22.11; later testpmds may call them "busy cycles=")
	tail -c +"$((off + 1))" "$T/$name.log" |
		sed -n 's|.*CPU cycles/packet=.*([a-z]* cycles=\([0-9][0-9]*\) / total [a-z]* packets=\([0-9][0-9]*\)).*|\1 \2|p' |
		head -n 1
}

# tp_quit NAME: quit, then make sure it is gone (by its PID)
tp_quit() {
	local p
	eval "p=\${tp_wrap_$1:-}"
	[ -n "$p" ] || return 0
	tp_cmd "$1" "quit" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	eval "tp_wrap_$1="
}
