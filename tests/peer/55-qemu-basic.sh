#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: a real Linux guest (Debian's kernel, virtio-net driver,
# QEMU under TCG) on `pvnet switch`, with two namespaces behind `pvnet guest
# --tap` as the far end; one boot runs every check:
#  a. ping and ping6 from the guest; iperf3 guest -> namespace and -R;
#  m. QEMU's host_mtu=1450 reaches the guest (VIRTIO_NET_F_MTU offered by
#     the port, eth0 MTU 1450) and the switch (NET_SET_MTU, vhost.mtu);
#  e. QEMU negotiates CONFIGURE_MEM_SLOTS and maps memory with ADD_MEM_REG
#     (the SET_MEM_TABLE path is 56-qemu-two-guests.sh's memslots=off port);
#  g. (issue 6) namespace B sends wire-sized segments (no TSO): the switch's
#     GRO hands the guest fewer, larger packets with a GSO header;
#  f. the guest sends TCP with partial checksums (ethtool: tx-checksumming
#     on; with HOST_TSO offered, as large TSO frames): a file reaches
#     namespace A (GUEST_CSUM: NEEDS_CSUM passed through) and namespace B
#     (`--no-offload`: the switch completes each checksum, or segments with
#     full checksums; B's kernel verifies them) with the same SHA-256.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

VM_MAC=52:54:00:00:50:0a
A_MAC=02:00:00:00:50:01
B_MAC=02:00:00:00:50:02
FILE_BYTES=4000000
ctl=$T/ctl.sock

check "guest image built" qemu_image || finish
nsa=$(netns_new qa) && nsb=$(netns_new qb) || { not_ok "create namespaces"; finish; }
bg switch "$PVNET" switch --ctl "$ctl" \
	--port "vhost,name=vm,path=$T/vm.sock,mac=$VM_MAC,mtu=1450" \
	--port "vhost,name=a,path=$T/a.sock,mac=$A_MAC" \
	--port "vhost,name=b,path=$T/b.sock,mac=$B_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl"
bg guest_a "$PVNET" guest --connect "$T/a.sock" --mac "$A_MAC" --tap pv0 --netns "$nsa"
bg guest_b "$PVNET" guest --connect "$T/b.sock" --mac "$B_MAC" --tap pv0 --netns "$nsb" --no-offload
check "TAP up in namespace A" wait_for 10 ip -n "$nsa" link show pv0 up
check "TAP up in namespace B (no offload)" wait_for 10 ip -n "$nsb" link show pv0 up
ip -n "$nsa" addr add 198.18.50.1/24 dev pv0
ip -n "$nsa" addr add fd00:50::1/64 dev pv0 nodad
ip -n "$nsb" addr add 198.18.50.2/24 dev pv0
ip -n "$nsb" addr add fd00:50::2/64 dev pv0 nodad

bg iperf_a ip netns exec "$nsa" iperf3 -s -p 5201
bg iperf_b ip netns exec "$nsb" iperf3 -s -p 5201
# receivers: what arrives is in $T/rcv_a.log and $T/rcv_b.log
bg rcv_a ip netns exec "$nsa" timeout 170 nc -d -l -p 7001
bg rcv_b ip netns exec "$nsb" timeout 170 nc -d -l -p 7002
ip netns exec "$nsb" nstat -n >/dev/null 2>&1	# counters from now on

t0=$SECONDS
# host_mtu: QEMU offers VIRTIO_NET_F_MTU (if the backend does) and sends
# NET_SET_MTU; the guest's eth0 takes 1450.
QEMU_NIC_OPTS=,host_mtu=1450 qemu_start vm 1 "pv_ip=198.18.50.10/24 pv_ip6=fd00:50::10/64 pvtest=\
mtu@1450,ethtool,ping@198.18.50.1,ping6@fd00:50::1,ping@198.18.50.2,ping6@fd00:50::2,\
iperf@198.18.50.1@5201@3,iperfR@198.18.50.1@5201@3,\
file@198.18.50.1@7001@$FILE_BYTES,file@198.18.50.2@7002@$FILE_BYTES,\
iperf@198.18.50.2@5201@2,iperfR@198.18.50.2@5201@3" "$T/vm.sock,$VM_MAC"
qemu_wait vm
log "guest boot + checks: $((SECONDS - t0)) s (up after $(grep -n 'PVTEST up' "$T/vm.serial" >/dev/null && echo seen || echo never))"
qemu_report vm "guest"

# f: the files arrived whole, through both paths
sha=($(tr -d '\r' <"$T/vm.serial" | awk '/^PVTEST info file-sha256/ {print $4}'))
wait_for 10 test "$(stat -c %s "$T/rcv_a.log")" -ge $FILE_BYTES
wait_for 10 test "$(stat -c %s "$T/rcv_b.log")" -ge $FILE_BYTES
check "file guest -> A (NEEDS_CSUM passed through) has the guest's SHA-256" \
	[ "${sha[0]:-none}" = "$(sha256sum <"$T/rcv_a.log" | cut -d' ' -f1)" ]
check "file guest -> B (checksums completed by the switch) has the guest's SHA-256" \
	[ "${sha[1]:-none}" = "$(sha256sum <"$T/rcv_b.log" | cut -d' ' -f1)" ]
done_b=$(stat_of "$ctl" b .tx_csum_done)
done_a=$(stat_of "$ctl" a .tx_csum_done)
log "partial checksums completed by the switch: toward A $done_a, toward B $done_b;" \
	"segmented (TSO from the guest) toward A $(stat_of "$ctl" a .segmented), toward B $(stat_of "$ctl" b .segmented)"
check "switch completed partial checksums toward B (tx_csum_done > 0)" [ "${done_b:-0}" -gt 0 ]
check "nothing completed toward A: NEEDS_CSUM passed through" [ "${done_a:-1}" = 0 ]
bad=$(ip netns exec "$nsb" nstat -az TcpInCsumErrors 2>/dev/null | awk '$1 == "TcpInCsumErrors" {print $2}')
check "namespace B's kernel saw no TCP checksum error" [ "${bad:-0}" = 0 ]

# e: QEMU took CONFIGURE_MEM_SLOTS and sent ADD_MEM_REG, not SET_MEM_TABLE
# the VM is gone by now (vhost.mtu is per session): its log line and counters
check "QEMU announced host_mtu 1450 to the switch (NET_SET_MTU)" \
	grep -q "port vm: vhost-user: guest MTU 1450" "$T/switch.log"
check "NET_SET_MTU received, none refused" \
	[ "$(stat_of "$ctl" vm '[.vhost.requests.NET_SET_MTU > 0, .vhost.mtu_refused]')" = "[true,0]" ]
reqs=$(stat_of "$ctl" vm .vhost.requests)
log "vhost-user requests from QEMU: $reqs"
check "QEMU mapped guest memory with ADD_MEM_REG" [ "$(jq '.ADD_MEM_REG // 0' <<<"$reqs")" -gt 0 ]
check "QEMU sent no SET_MEM_TABLE to a port offering CONFIGURE_MEM_SLOTS" \
	[ "$(jq '.SET_MEM_TABLE // 0' <<<"$reqs")" = 0 ]
"$PVNET" stats --ctl "$ctl"
check "no port was cut off for a protocol fault" \
	[ "$("$PVNET" stats --ctl "$ctl" --json | jq '[.ports[].vhost.faults | length] | add')" = 0 ]
js=$("$PVNET" stats --ctl "$ctl" --json)
log "GRO toward the guest: $(jq -c '[.workers[].gro | {in_segs, out_pkts, agg}]' <<<"$js"), vm port $(jq -c '.ports[0] | {tx_pkts, tx_gso_pkts, merged}' <<<"$js")"
check "GRO: B's wire-sized segments reached the guest aggregated (GSO packets, agg > 1.5)" \
	[ "$(jq '.ports[0].tx_gso_pkts > 0 and ([.workers[].gro.agg] | max) > 1.5' <<<"$js")" = true ]
for d in "guest -> A:iperf@198.18.50.1" "A -> guest:iperfR@198.18.50.1" "guest -> B (no offload):iperf@198.18.50.2" "B -> guest (GRO):iperfR@198.18.50.2"; do
	log "iperf3 ${d%%:*}: $(qemu_rate vm "${d#*:}")"
done
finish
