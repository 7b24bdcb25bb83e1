#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: pcap replay and capture through `pvnet switch`. A capture
# of real TCP (gen's frames, written by one switch to a pcap out= port) is
# replayed by a pcap in= port of a second switch into a pcap out= port: the
# output holds the same frames, byte for byte and in order, and the
# switch's counters agree with both files. Uses the helper pcapcheck.
. "$(dirname "$0")/lib.sh"

CHK=${PVNET_BUILD:-$top/build}/tests/peer/pcapcheck
N=5000
stat_is() { [ "$(stat_of "$1" "$2" ".$3")" = "$4" ]; }
check "pcapcheck helper built" test -x "$CHK"

# 1. Make an input file: gen -> switch -> pcap out.
bg sw1 "$PVNET" switch --ctl "$T/ctl1.sock" \
	--port "pcap,name=cap,out=$T/in.pcap" \
	--port "gen,name=gen,flows=4,mss=1200,dst=02:00:00:00:52:02,count=$N,rate=200000"
check "first switch ready" wait_for 10 switch_ready "$T/ctl1.sock"
check "gen sent $N frames into the capture" \
	wait_for 30 stat_is "$T/ctl1.sock" cap tx_pkts $N
kill "$pid_sw1"; wait "$pid_sw1" 2>/dev/null
in_sum=$("$CHK" "$T/in.pcap")
log "input: $in_sum"
check "input capture flushed on exit: $N frames" [ "$(jq .packets <<<"$in_sum")" = "$N" ]

# 2. Replay it through a second switch into another capture.
bg sw2 "$PVNET" switch --ctl "$T/ctl2.sock" \
	--port "pcap,name=out,out=$T/out.pcap" \
	--port "pcap,name=in,in=$T/in.pcap"
check "second switch ready" wait_for 10 switch_ready "$T/ctl2.sock"
check "replay read all $N records" \
	wait_for 30 stat_is "$T/ctl2.sock" in rx_pkts $N
rx_bytes=$(stat_of "$T/ctl2.sock" in .rx_bytes)
tx=$(stat_of "$T/ctl2.sock" out .tx_pkts)
drops=$(stat_of "$T/ctl2.sock" in .dropped)
kill "$pid_sw2"; wait "$pid_sw2" 2>/dev/null
out_sum=$("$CHK" "$T/out.pcap")
log "output: $out_sum; switch: in rx_bytes $rx_bytes, out tx $tx, in dropped $drops"
check "output has as many frames as the input" \
	[ "$(jq .packets <<<"$out_sum")" = "$(jq .packets <<<"$in_sum")" ]
check "output has as many bytes as the input" \
	[ "$(jq .bytes <<<"$out_sum")" = "$(jq .bytes <<<"$in_sum")" ]
check "switch counted the input's bytes" [ "$rx_bytes" = "$(jq .bytes <<<"$in_sum")" ]
check "accounting adds up: in rx = out tx + in dropped" [ "$N" = $((tx + drops)) ]
check "output frames equal the input, byte for byte, in order" \
	"$CHK" --same "$T/in.pcap" "$T/out.pcap"
finish
