#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: the libvirt recipe of docs/libvirt.md, run. libvirt 9.0
# (libvirtd, the system instance: started here if it does not run, and
# stopped again) defines and starts two TCG domains (type='qemu') booting the
# test guest (direct kernel boot), memory from a shared memfd, each with an
# <interface type='vhostuser'> on a pvnet switch, vectors=0 through
# <qemu:override>:
#  1. mode='client': QEMU connects to pvnet's socket, which pvnet opened to
#     QEMU's group (mode=0660,group=); pvnet runs as nobody;
#  2. mode='server': QEMU listens, a pvnet `client` port connects, with only
#     the capabilities of pvnet.service plus QEMU's group, as the unit with
#     the drop-in of docs/libvirt.md would run it.
# Each guest takes its address from its kernel command line and pings a
# namespace behind `pvnet guest --tap`; QEMU runs as libvirt's qemu user
# (the peer credentials pvnet logs say so). Domains are undefined at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/qemu/lib.sh"

VIRSH=(virsh -q -c qemu:///system)
VM1_MAC=52:54:00:00:59:01
VM2_MAC=52:54:00:00:59:02
NS1_MAC=02:00:00:00:59:11
NS2_MAC=02:00:00:00:59:12
domains=()
not() { ! "$@"; }

lv_cleanup() {
	local d
	for d in "${domains[@]}"; do
		"${VIRSH[@]}" destroy "$d" >/dev/null 2>&1
		"${VIRSH[@]}" undefine "$d" >/dev/null 2>&1
	done
	cleanup
}
trap lv_cleanup EXIT

for b in virsh libvirtd virtlogd; do
	command -v "$b" >/dev/null || { not_ok "$b installed (tools/install-deps.sh test)"; finish; }
done
check "guest image built" qemu_image || finish

# libvirt: the system daemons, started (in the foreground, stopped by PID at
# the end) only if they are not running. The default network stays off.
if ! pgrep -x virtlogd >/dev/null; then
	bg virtlogd virtlogd
	log "started virtlogd"
fi
if ! pgrep -x libvirtd >/dev/null; then
	bg libvirtd libvirtd
	log "started libvirtd"
fi
check "libvirtd answers" wait_for 20 "${VIRSH[@]}" version || finish
log "$("${VIRSH[@]}" version | tr -s ' ' | tr '\n' ';')"
# The user and group QEMU runs as (qemu.conf; Debian: libvirt-qemu).
quser=$(sed -n 's/^ *user *= *"\(.*\)"/\1/p' /etc/libvirt/qemu.conf | tail -n1)
qgroup=$(sed -n 's/^ *group *= *"\(.*\)"/\1/p' /etc/libvirt/qemu.conf | tail -n1)
quser=${quser:-libvirt-qemu}
qgroup=${qgroup:-libvirt-qemu}
quid=$(id -u "$quser") || { not_ok "qemu user $quser exists"; finish; }
log "QEMU runs as $quser:$qgroup (uid $quid)"

# The domain's files must be readable by QEMU's user: $T is opened to
# everyone and the guest image is copied in (libvirt relabels the kernel and
# initrd while the domain runs; the shared cache stays untouched).
chmod 755 "$T"
cp "$QEMU_KERNEL" "$T/vmlinuz"
cp "$QEMU_INITRD" "$T/initrd.gz"
chmod 644 "$T/vmlinuz" "$T/initrd.gz"
# mode='server': QEMU creates its socket here; pvnet reaches it by group.
install -d -o "$quser" -g "$qgroup" -m 0770 "$T/qemu"

# domain_xml NAME MAC SOCKET MODE IP PEER-IP: the recipe's domain
domain_xml() {
	cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$T/vmlinuz</kernel>
    <initrd>$T/initrd.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet loglevel=3 pv_ip=$5/24 pvtest=ping@$6</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='vhostuser'>
      <alias name='ua-pvnet0'/>
      <mac address='$2'/>
      <source type='unix' path='$3' mode='$4'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='$T/$1.serial'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
  <qemu:override>
    <qemu:device alias='ua-pvnet0'>
      <qemu:frontend>
        <qemu:property name='vectors' type='unsigned' value='0'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
EOF
}

ns1=$(netns_new l1) && ns2=$(netns_new l2) || { not_ok "create namespaces"; finish; }
netnses+=("$ns1" "$ns2")

# 1. QEMU is the client: pvnet listens, socket opened to QEMU's group.
bg sw1 "$PVNET" switch --ctl "$T/sw1.ctl" \
	--port "vhost,name=vm1,path=$T/vm1.sock,mac=$VM1_MAC,mode=0660,group=$qgroup" \
	--port "vhost,name=ns1,path=$T/ns1.sock,mac=$NS1_MAC"
check "switch 1 ready" wait_for 10 switch_ready "$T/sw1.ctl" || finish
check "switch 1 runs as nobody" grep -q 'running as nobody' "$T/sw1.log"
# 2. QEMU is the server: a pvnet client port, the unit's capabilities only,
#    plus QEMU's group to reach the socket.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$top/dist/pvnet.service.in")
set=-all
for c in $caps; do set="$set,+$(echo "${c#CAP_}" | tr A-Z a-z)"; done
bg sw2 setpriv --inh-caps=-all --bounding-set="$set" --groups="$(getent group "$qgroup" | cut -d: -f3)" \
	"$PVNET" switch --ctl "$T/sw2.ctl" \
	--port "vhost,name=vm2,path=$T/qemu/vm2.sock,client,mac=$VM2_MAC" \
	--port "vhost,name=ns2,path=$T/ns2.sock,mac=$NS2_MAC"
check "switch 2 (client port, pvnet.service's capabilities) ready" \
	wait_for 10 switch_ready "$T/sw2.ctl" || finish
check "without QEMU's group, that root could not reach QEMU's socket directory" \
	not setpriv --inh-caps=-all --bounding-set="$set" --clear-groups ls "$T/qemu/"

bg g1 "$PVNET" guest --connect "$T/ns1.sock" --mac "$NS1_MAC" --tap pv0 --netns "$ns1"
bg g2 "$PVNET" guest --connect "$T/ns2.sock" --mac "$NS2_MAC" --tap pv0 --netns "$ns2"
check "namespace 1 TAP up" wait_for 10 ip -n "$ns1" link show pv0 up
check "namespace 2 TAP up" wait_for 10 ip -n "$ns2" link show pv0 up
ip -n "$ns1" addr add 198.18.59.1/24 dev pv0
ip -n "$ns2" addr add 198.18.59.129/25 dev pv0

d1=pvnet-t59-$$-client
d2=pvnet-t59-$$-server
domain_xml "$d1" "$VM1_MAC" "$T/vm1.sock" client 198.18.59.10 198.18.59.1 >"$T/$d1.xml"
domain_xml "$d2" "$VM2_MAC" "$T/qemu/vm2.sock" server 198.18.59.130 198.18.59.129 |
	sed 's|/24 pvtest|/25 pvtest|' >"$T/$d2.xml"
for d in "$d1" "$d2"; do
	"${VIRSH[@]}" define "$T/$d.xml" >"$T/$d.define" 2>&1
	check "libvirt defines $d" [ $? -eq 0 ] && domains+=("$d")
done
t0=$SECONDS
for d in "${domains[@]}"; do
	: >"$T/$d.serial"
	"${VIRSH[@]}" start "$d" >"$T/$d.start" 2>&1
	check "libvirt starts $d" [ $? -eq 0 ] || sed 's/^/# /' "$T/$d.start"
done
# The guests power off after their checks: the domains shut off.
shut_off() { [ "$("${VIRSH[@]}" domstate "$1" 2>/dev/null)" = "shut off" ]; }
for d in "${domains[@]}"; do
	check "$d ran and powered off" wait_for 240 shut_off "$d"
done
log "both guests done after $((SECONDS - t0)) s"
for d in "${domains[@]}"; do
	tr -d '\r' <"$T/$d.serial" >"$T/$d.console"
	cp "$T/$d.console" "$T/$d.serial"
	qemu_report "$d" "$d"
done
check "QEMU (client) connected as $quser: pvnet logged uid $quid" \
	grep -q "port vm1: vhost-user frontend connected: peer pid [0-9]* uid $quid" "$T/sw1.log"
check "QEMU (server) accepted pvnet's connection as $quser" \
	grep -q "port vm2: vhost-user frontend connected: peer pid [0-9]* uid $quid" "$T/sw2.log"
check "the vm1 port forwarded the guest's packets" \
	[ "$(stat_of "$T/sw1.ctl" vm1 .rx_pkts)" -gt 0 ]
check "the vm2 port forwarded the guest's packets" \
	[ "$(stat_of "$T/sw2.ctl" vm2 .rx_pkts)" -gt 0 ]
finish
