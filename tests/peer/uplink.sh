# SPDX-License-Identifier: MIT
# uplink.sh - the traffic half of the uplink peer tests (50-, 51-): a host
# namespace behind an uplink port and a `pvnet guest --tap` namespace talk
# through `pvnet switch`. Sourced after lib.sh; not a test by itself.

# uplink_traffic NS_HOST HOST_IP NS_GUEST GUEST_IP CTL UPLINK_PORT
uplink_traffic() {
	local nsh=$1 hip=$2 nsg=$3 gip=$4 ctl=$5 up=$6 rcv

	check "ping host -> guest" ip netns exec "$nsh" ping -c 3 -i 0.2 -W 2 "$gip"
	check "ping guest -> host" ip netns exec "$nsg" ping -c 3 -i 0.2 -W 2 "$hip"

	bg "iperf_5201" ip netns exec "$nsg" iperf3 -s -1 -p 5201
	bg "iperf_5202" ip netns exec "$nsh" iperf3 -s -1 -p 5202
	sleep 0.5
	if timeout 30 ip netns exec "$nsh" iperf3 -c "$gip" -p 5201 -t 3 -J >"$T/hg.json"; then
		ok "iperf3 TCP host -> guest"
		log "iperf3 host -> guest: $(jq '.end.sum_received.bits_per_second / 1e9' "$T/hg.json") Gbit/s"
	else
		not_ok "iperf3 TCP host -> guest"
	fi
	if timeout 30 ip netns exec "$nsg" iperf3 -c "$hip" -p 5202 -t 3 -J >"$T/gh.json"; then
		ok "iperf3 TCP guest -> host"
		log "iperf3 guest -> host: $(jq '.end.sum_received.bits_per_second / 1e9' "$T/gh.json") Gbit/s"
	else
		not_ok "iperf3 TCP guest -> host"
	fi

	head -c 8000000 /dev/urandom >"$T/file.bin"
	ip netns exec "$nsg" timeout 20 nc -l -p 7000 >"$T/file.rcv" &
	rcv=$!
	sleep 0.5
	ip netns exec "$nsh" timeout 20 nc -N "$gip" 7000 <"$T/file.bin"
	wait $rcv
	check "an 8 MB file host -> guest over TCP arrives with the same hash" \
		[ "$(sha256sum <"$T/file.bin")" = "$(sha256sum <"$T/file.rcv")" ]
	ip netns exec "$nsh" timeout 20 nc -l -p 7001 >"$T/file2.rcv" &
	rcv=$!
	sleep 0.5
	ip netns exec "$nsg" timeout 20 nc -N "$hip" 7001 <"$T/file.bin"
	wait $rcv
	check "an 8 MB file guest -> host over TCP arrives with the same hash" \
		[ "$(sha256sum <"$T/file.bin")" = "$(sha256sum <"$T/file2.rcv")" ]

	"$PVNET" stats --ctl "$ctl"
	local rx tx
	rx=$(stat_of "$ctl" "$up" .rx_pkts)
	tx=$(stat_of "$ctl" "$up" .tx_pkts)
	log "uplink $up: rx $rx, tx $tx, drops $(stat_of "$ctl" "$up" .drops)"
	check "uplink received and sent frames (rx $rx, tx $tx)" \
		[ "${rx:-0}" -gt 1000 ] && [ "${tx:-0}" -gt 1000 ]
	check "no frame from the uplink dropped as GSO or bad header" \
		[ "$(stat_of "$ctl" "$up" '[.drops.pkt_hdr_gso, .drops.pkt_hdr_csum, .drops.pkt_bad_csum] | map(. // 0) | add')" = 0 ]
}
