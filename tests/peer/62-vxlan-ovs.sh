#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: a vxlan port talks to Open vSwitch. Host H1 runs `pvnet
# switch` (inside its namespace) with a `pvnet guest --tap` guest (MTU 1450,
# TSO on) and a vxlan port; host H2 runs Open vSwitch with a vxlan port
# (options:remote_ip=H1 options:key=42) on bridge br-int, whose internal
# port carries the overlay address. Ping, iperf3 TCP and an 8 MB file both
# ways; OVS's MAC is learned behind H2.
#
# This kernel has no openvswitch module, so OVS runs its userspace datapath
# (datapath_type=netdev, OVS's own VXLAN code: "userspace tunneling"): the
# underlay address sits on a second bridge, br-phy, that holds the veth.
# The OVS daemons are a private instance of this test (database, sockets
# and logs under $T, started inside H2, stopped by PID at the end), so the
# host's own Open vSwitch, running or not, is neither used nor touched.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uplink.sh"

G_MAC=02:00:00:00:62:01
ctl=$T/ctl.sock
ns1=$(netns_new h1) && ns2=$(netns_new h2) && nsg=$(netns_new g) ||
	{ not_ok "create namespaces"; finish; }
netnses+=("$ns1" "$ns2" "$nsg")

ip link add u62a netns "$ns1" type veth peer name u62b netns "$ns2"
ip -n "$ns1" addr add 198.18.62.1/24 dev u62a
ip -n "$ns1" link set u62a up
ip -n "$ns2" link set u62b up
# OVS reads the veth with a packet socket: no offloads that it would have
# to undo (partial checksums, GSO) on the way in or out.
for ns_if in "$ns1 u62a" "$ns2 u62b"; do
	set -- $ns_if
	ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1
done

# A private Open vSwitch inside H2.
export OVS_RUNDIR=$T/ovs OVS_LOGDIR=$T/ovs OVS_DBDIR=$T/ovs OVS_SYSCONFDIR=$T/ovs
mkdir -p "$T/ovs"
ovsdb-tool create "$T/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
bg ovsdb ip netns exec "$ns2" ovsdb-server "$T/ovs/conf.db" \
	--remote="punix:$T/ovs/db.sock" --pidfile="$T/ovs/ovsdb.pid" \
	--unixctl="$T/ovs/ovsdb.ctl" --log-file="$T/ovs/ovsdb.log"
check "ovsdb-server up" wait_for 10 test -S "$T/ovs/db.sock"
vsctl() { ovs-vsctl --db="unix:$T/ovs/db.sock" --timeout=10 "$@"; }
vsctl --no-wait init
bg vswitchd ip netns exec "$ns2" ovs-vswitchd "unix:$T/ovs/db.sock" \
	--pidfile="$T/ovs/vswitchd.pid" --unixctl="$T/ovs/vswitchd.ctl" \
	--log-file="$T/ovs/vswitchd.log"
check "ovs-vswitchd up" wait_for 10 test -S "$T/ovs/vswitchd.ctl"
appctl() { ovs-appctl -t "$T/ovs/vswitchd.ctl" "$@"; }

vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev \
	-- add-port br-phy u62b
ip -n "$ns2" addr add 198.18.62.2/24 dev br-phy
ip -n "$ns2" link set br-phy up
vsctl add-br br-int -- set bridge br-int datapath_type=netdev \
	-- add-port br-int vx0 -- set interface vx0 type=vxlan \
	options:remote_ip=198.18.62.1 options:key=42
ip -n "$ns2" addr add 198.19.62.2/24 dev br-int
ip -n "$ns2" link set br-int mtu 1450 up
check "OVS has a route to H1 over br-phy" \
	wait_for 10 bash -c "ovs-appctl -t $T/ovs/vswitchd.ctl ovs/route/show | grep -q 198.18.62.0/24"
log "OVS: $(vsctl show | tr '\n' ' ' | tr -s ' ')"

bg switch ip netns exec "$ns1" "$PVNET" switch --ctl "$ctl" \
	--port "vxlan,name=vx,vni=42,local=198.18.62.1,remote=198.18.62.2" \
	--port "vhost,name=g,path=$T/g.sock,mac=$G_MAC"
check "switch with a vxlan port ready" wait_for 10 switch_ready "$ctl"
bg guest "$PVNET" guest --connect "$T/g.sock" --mac "$G_MAC" --tap pv0 --netns "$nsg"
check "guest TAP up" wait_for 10 ip -n "$nsg" link show pv0 up
ip -n "$nsg" link set pv0 mtu 1450
ip -n "$nsg" addr add 198.19.62.1/24 dev pv0

# OVS resolves H1's MAC on br-phy before its first encapsulation.
ip netns exec "$ns2" ping -c 1 -W 1 198.18.62.1 >/dev/null
uplink_traffic "$ns2" 198.19.62.2 "$nsg" 198.19.62.1 "$ctl" vx

js=$("$PVNET" stats --ctl "$ctl" --json)
vx() { jq -c ".ports[] | select(.name == \"vx\") | $1" <<<"$js"; }
log "vxlan: $(vx .vxlan)"
check "encapsulated and decapsulated > 1000 ($(vx .vxlan.encap_pkts), $(vx .vxlan.decap_pkts))" \
	[ "$(vx '.vxlan.encap_pkts > 1000 and .vxlan.decap_pkts > 1000')" = true ]
check "OVS's br-int MAC learned behind H2" \
	[ "$(vx '.vxlan.macs >= 1 and .vxlan.macs_refused == 0')" = true ]
check "the guest's TSO sends were segmented for the vxlan port ($(vx .segmented) segments)" \
	[ "$(vx '.segmented > 100')" = true ]
check "no frame toward the vxlan port dropped" [ "$(vx .dropped)" = 0 ]
log "OVS datapath flows: $(appctl dpctl/dump-flows 2>/dev/null | grep -c tnl)"

# Stop OVS cleanly: the bridges first (their TAPs go with the namespace anyway).
vsctl --if-exists del-br br-int
vsctl --if-exists del-br br-phy
appctl exit >/dev/null 2>&1
ovs-appctl -t "$T/ovs/ovsdb.ctl" exit >/dev/null 2>&1
finish
