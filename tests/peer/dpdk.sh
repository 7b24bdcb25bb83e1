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

# tp_vu_roundtrip TAG MACBASE TXMIN [virtio-user devargs...]: DPDK testpmd's
# virtio-user as a guest of a fresh `pvnet switch` (ports dpdk, gen, sink),
# both ways, counts checked on every side:
#  a. testpmd txonly -> switch -> `pvnet guest --sink` (more than TXMIN frames)
#  b. `pvnet guest --gen` (50000 x 1518 B) -> switch -> testpmd rxonly
# MACBASE is the first five octets of the three MACs (:01 dpdk, :02 gen,
# :03 sink). Leaves testpmd "vu" and the switch (ctl socket $T/ctl.sock)
# running for the caller's own checks; the caller runs tp_quit vu.
tp_vu_roundtrip() {
	local tag=$1 dpdk_mac=$2:01 gen_mac=$2:02 sink_mac=$2:03 txmin=$3 \
		ctl=$T/ctl.sock devargs tp_tx tp_rx sw_rx sw_tx sw_drop sink_out feats
	shift 3
	devargs=$(IFS=,; echo "$*")
	bg switch "$PVNET" switch --ctl "$ctl" \
		--port "vhost,name=dpdk,path=$T/dpdk.sock,mac=$dpdk_mac" \
		--port "vhost,name=gen,path=$T/gen.sock,mac=$gen_mac" \
		--port "vhost,name=sink,path=$T/sink.sock,mac=$sink_mac"
	check "switch ready" wait_for 10 switch_ready "$ctl"
	check "$tag: testpmd virtio-user attaches to pvnet switch" \
		tp_start vu 1 "net_virtio_user0,path=$T/dpdk.sock,queues=1,${devargs:+$devargs,}mac=$dpdk_mac" \
		--forward-mode=txonly --eth-peer=0,$sink_mac --txpkts=64
	feats=$(stat_of "$ctl" dpdk .vhost.features)
	log "$tag: negotiated features $feats"
	# virtio-user takes VIRTIO_F_IN_ORDER (bit 35) by default: its
	# in-order paths run against pvnet (docs/virtio.md, "In-order use")
	case ",$devargs," in
	*,in_order=0,*) ;;
	*) check "$tag: testpmd negotiated VIRTIO_F_IN_ORDER" \
		[ $(( ${feats:-0} >> 35 & 1 )) = 1 ] ;;
	esac

	bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$sink_mac" --sink --idle-timeout 2
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
	log "$tag: testpmd sent $tp_tx; switch rx $sw_rx, to sink $sw_tx, dropped $sw_drop; sink $sink_out"
	check "$tag testpmd -> switch: the switch counted every frame testpmd sent" [ "$tp_tx" = "$sw_rx" ]
	check "$tag testpmd -> switch: frames moved (> $txmin)" [ "${tp_tx:-0}" -gt "$txmin" ]
	check "$tag switch -> sink: sink received what the switch delivered" \
		[ "$(jq .frames <<<"$sink_out")" = "$sw_tx" ]
	check "$tag switch accounting: rx = delivered + dropped" [ "$sw_rx" = $((sw_tx + sw_drop)) ]

	tp_cmd vu "set fwd rxonly"
	tp_cmd vu "clear port stats all"
	tp_cmd vu "start"
	sleep 0.5
	"$PVNET" guest --connect "$T/gen.sock" --mac "$gen_mac" --gen --dst "$dpdk_mac" \
		--size 1518 --count 50000 --rate 100000 >"$T/gen.out" 2>"$T/gen.err"
	sleep 1
	read -r tp_rx _ < <(tp_stats vu)
	sw_tx=$(stat_of "$ctl" dpdk .tx_pkts)
	sw_drop=$(stat_of "$ctl" dpdk .dropped)
	log "$tag: gen sent $(jq .sent "$T/gen.out"); switch delivered $sw_tx, dropped $sw_drop; testpmd received $tp_rx"
	check "$tag switch -> testpmd: testpmd received every frame the switch delivered" [ "$tp_rx" = "$sw_tx" ]
	# testpmd's rxonly loses the race on a loaded 2-core machine (rx_no_buf,
	# counted); what matters is that every delivered frame arrived
	check "$tag switch -> testpmd: frames delivered (> 1000)" [ "${sw_tx:-0}" -gt 1000 ]
	check "$tag switch -> testpmd: all 50000 delivered or counted as drops" \
		[ $((sw_tx + sw_drop)) = 50000 ]
}
