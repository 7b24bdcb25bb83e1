#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# build-guest.sh OUTDIR - build the QEMU test guest: Debian's kernel
# (linux-image-amd64) and a busybox initramfs with that same kernel version's
# virtio-net modules, iperf3 and ethtool (with the libraries ldd lists), and
# an /init that runs the checks named on the kernel command line.
#
# Prints the directory holding vmlinuz and initramfs.cpio.gz. The image is
# cached in OUTDIR/<kernel version>-<hash of this script>, so tests reuse it;
# a changed script builds a new one. Installs what is missing (apt-get, as
# root). Works where the running kernel is not Debian's: the kernel comes
# from /boot/vmlinuz-<ver> of linux-image-amd64's dependency and the modules
# from /lib/modules/<ver>/ (decompressed if they are .ko.xz / .ko.zst).
#
# The guest's command line (see tests/peer/qemu/lib.sh):
#   pv_ip=A/N pv_ip6=A/N     addresses of eth0 (198.18.0.0/15, fd00::/8)
#   pv_ip1=A/N pv_ip61=A/N   addresses of eth1, if there is one
#   pvtest=CHECK,CHECK,...   each CHECK is NAME@ARG@ARG..., see /init below
# Markers on the serial console: "PVTEST up", "PVTEST ok CHECK",
# "PVTEST fail CHECK", "PVTEST info ...", "PVTEST rate CHECK N Mbits/sec",
# "PVTEST done"; then the guest powers off.
set -euo pipefail

out=${1:?usage: build-guest.sh OUTDIR}
need=(qemu-system-x86 linux-image-amd64 busybox-static cpio iperf3 ethtool)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "build-guest: installing ${missing[*]}" >&2
	[ "$(id -u)" -eq 0 ] || { echo "build-guest: need root for apt-get" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

# The kernel version the metapackage points at, not `uname -r`.
kver=$(dpkg-query -W -f='${Depends}' linux-image-amd64 |
	grep -o 'linux-image-[0-9][^ ,]*' | head -n1 | sed 's/^linux-image-//')
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[ -r "$kernel" ] && [ -d "$moddir" ] || {
	echo "build-guest: no $kernel or $moddir" >&2
	exit 1
}
key=$kver-$(sha256sum "$0" | cut -c1-12)
dir=$out/$key
if [ -s "$dir/initramfs.cpio.gz" ] && [ -s "$dir/vmlinuz" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$out"
exec 9>"$out/.lock"
flock -w 300 9
if [ -s "$dir/initramfs.cpio.gz" ]; then	# built while we waited
	echo "$dir"
	exit 0
fi

work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules,usr/bin,usr/sbin}

cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done

# Compressed modules (newer Debian kernels) need their decompressor.
if grep -q '\.ko\.zst:' "$moddir/modules.dep" && ! command -v zstd >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq zstd >/dev/null
fi
if grep -q '\.ko\.xz:' "$moddir/modules.dep" && ! command -v xz >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq xz-utils >/dev/null
fi

# The virtio-net stack of that kernel, in load order (modules.dep).
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net"
for m in $mods; do
	f=$(grep -o "^[^:]*/$m\.ko[^:]*" "$moddir/modules.dep" | head -n1)
	[ -n "$f" ] || { echo "build-guest: module $m not in $moddir/modules.dep" >&2; exit 1; }
	case $f in
	*.ko) cp "$moddir/$f" "$root/lib/modules/$m.ko" ;;
	*.ko.xz) xz -dc "$moddir/$f" >"$root/lib/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$moddir/$f" >"$root/lib/modules/$m.ko" ;;
	*.ko.gz) gzip -dc "$moddir/$f" >"$root/lib/modules/$m.ko" ;;
	*) echo "build-guest: unknown module format $f" >&2; exit 1 ;;
	esac
done
echo "$mods" >"$root/lib/modules/order"

# Dynamic binaries with the libraries ldd lists, at the same paths.
for b in /usr/bin/iperf3 /usr/sbin/ethtool; do
	cp "$b" "$root$b"
	for l in $(ldd "$b" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$l")"
		cp -L "$l" "$root$l"
	done
done
# ld.so is found at /lib64 through the usrmerge link on the host; keep both.
[ -e "$root/lib64" ] || ln -s lib "$root/lib64"

cat >"$root/init" <<'INIT'
#!/bin/sh
# /init of the pvnet test guest; see tests/peer/qemu/build-guest.sh.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
say() { echo "PVTEST $*" >/dev/console; }
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m.ko || say "fail insmod-$m"
done
pvtest= pv_ip= pv_ip6= pv_ip1= pv_ip61=
for w in $(cat /proc/cmdline); do
	case $w in
	pvtest=*|pv_ip=*|pv_ip6=*|pv_ip1=*|pv_ip61=*) eval "${w%%=*}='${w#*=}'" ;;
	esac
done
ip link set lo up
setup() {	# setup IF ADDR4 ADDR6
	i=0
	while [ ! -e /sys/class/net/$1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e /sys/class/net/$1 ] || { say "fail no-$1"; return 1; }
	# no duplicate address detection (busybox ip has no "nodad")
	echo 0 >/proc/sys/net/ipv6/conf/$1/accept_dad
	ip link set $1 up
	[ -n "$2" ] && { ip addr add $2 dev $1 || say "fail addr-$1"; }
	[ -n "$3" ] && { ip -6 addr add $3 dev $1 || say "fail addr6-$1"; }
	say "info $1 $(cat /sys/class/net/$1/address) queues $(ls /sys/class/net/$1/queues | tr '\n' ' ')"
}
setup eth0 "$pv_ip" "$pv_ip6"
[ -n "$pv_ip1" ] && setup eth1 "$pv_ip1" "$pv_ip61"
say up

rate() {	# rate NAME LOG: the last receiver line's rate
	r=$(grep receiver "$2" | tail -n1 | awk '{print $(NF-2), $(NF-1)}')
	[ -n "$r" ] && say "rate $1 $r"
}

# iperf NAME CPU ADDR PORT SECS STREAMS [-R]: one client, pinned to CPU (or -)
iperf() {
	n=$1 cpu=$2
	shift 2
	set -- iperf3 -c "$1" -p "$2" -t "$3" -P "$4" -f m $5
	[ "$cpu" != - ] && set -- taskset -c "$cpu" "$@"
	for try in 1 2 3 4 5; do	# a one-off server may be restarting
		"$@" >/tmp/$n.log 2>&1
		rc=$?
		[ $rc -eq 0 ] || ! grep -q "unable to connect\|refused\|busy" /tmp/$n.log && break
		sleep 1
	done
	rate "$n" /tmp/$n.log
	[ $rc -eq 0 ] || tail -n 5 /tmp/$n.log
	return $rc
}

check() {	# check TOKEN: NAME@ARG@ARG...
	IFS=@
	set -- $1
	IFS=' '
	c=$1
	shift
	case $c in
	ethtool)	# tx checksum offload is on (the guest sends NEEDS_CSUM)
		ethtool -k eth0 | grep -E '^(tx-checksumming|rx-checksumming|tcp-segmentation-offload|generic-receive-offload):' |
			while read -r l; do say "info ethtool $l"; done
		ethtool -k eth0 | grep -q '^tx-checksumming: on' ;;
	mtu)	# N: eth0 took the MTU QEMU announced (host_mtu, VIRTIO_NET_F_MTU)
		m=$(cat /sys/class/net/eth0/mtu)
		say "info mtu $m"
		[ "$m" = "$1" ] ;;
	ping)	ping -c 3 -W 3 "$1" ;;
	ping6)	ping6 -c 3 -W 3 "$1" || { ip -6 addr; ip -6 neigh; false; } ;;
	waitping)	# ADDR SECS: until one reply comes
		i=0
		while [ $i -lt "$2" ]; do
			ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0
			i=$((i + 1))
		done
		return 1 ;;
	pingwatch)	# ADDR SECS: one ping a second, each reported; ends SECS
		# later, or once 5 replies came in a row after a loss
		i=0 lost=0 run=0 last=1
		while [ $i -lt "$2" ]; do
			if ping -c 1 -W 1 "$1" >/dev/null 2>&1; then
				say "info pingwatch $i ok"; run=$((run + 1)); last=0
				sleep 1
			else
				say "info pingwatch $i lost"; lost=$((lost + 1)); run=0; last=1
			fi
			[ $lost -gt 0 ] && [ $run -ge 5 ] && break
			i=$((i + 1))
		done
		return $last ;;
	iperf)	iperf "$c@$1" - "$1" "$2" "$3" "${4:-1}" ;;
	iperfR)	iperf "$c@$1" - "$1" "$2" "$3" "${4:-1}" -R ;;
	iperf2cpu)	# ADDR PORT SECS [R]: two clients at once, on CPU 0 and 1
		# (XPS: each CPU sends on its own TX queue), to PORT and PORT+1;
		# 4 streams each, so the backend's hash spreads the flows coming
		# back over both RX queues (8 flows in all met one queue 1 in 128)
		r=; [ "${4:-}" = R ] && r=-R
		iperf "$c${4:-}-0" 0 "$1" "$2" "$3" 4 $r &
		p0=$!
		iperf "$c${4:-}-1" 1 "$1" $(($2 + 1)) "$3" 4 $r
		rc=$?
		wait $p0 && [ $rc -eq 0 ] ;;
	iperfd)	# an iperf3 server on port 5201, in the background
		iperf3 -s -D -p 5201 ;;
	waitmsg)	# PORT SECS: until a peer's sendmsg says "bye" on PORT
		timeout "$2" nc -l -p "$1" >/tmp/msg; grep -q bye /tmp/msg ;;
	sendmsg)	# ADDR PORT: tell a waitmsg peer we are done
		for i in 1 2 3 4 5; do
			echo bye | nc -w 1 "$1" "$2" && return 0
			sleep 1
		done
		return 1 ;;
	file)	# ADDR PORT BYTES: send random bytes over TCP, print their hash
		head -c "$3" /dev/urandom >/tmp/file
		say "info file-sha256 $(sha256sum </tmp/file | cut -d' ' -f1)"
		timeout 60 nc -w 5 "$1" "$2" </tmp/file ;;
	rcvfile)	# PORT SECS: receive one TCP stream on PORT (not stored),
		# print its SHA-256 and size; used across a live migration
		rm -f /tmp/cnt
		mkfifo /tmp/cnt
		wc -c </tmp/cnt >/tmp/n &
		timeout "$2" nc -l -p "$1" | tee /tmp/cnt | sha256sum >/tmp/sha &
		# the sender may connect once this is said (a refused connect
		# would lose what it had read)
		i=0
		while ! netstat -ltn | grep -q ":$1 " && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
		say "info rcvfile listening on $1"
		wait
		n=$(cat /tmp/n)
		say "info rcvfile-sha256 $(cut -d' ' -f1 /tmp/sha) ${n:-0}"
		[ "${n:-0}" -gt 0 ] ;;
	sleep)	sleep "$1" ;;
	offload)	# FEATURE on|off: ethtool -K eth0 FEATURE on|off (e.g. tso off:
		# the kernel segments in software and the device sees MSS segments)
		ethtool -K eth0 "$1" "$2" ;;
	dmesgcheck)	# the kernel logged none of the errors a lost, duplicated or
		# wrongly reused descriptor causes (virtio_ring's BAD_RING, virtio_net's
		# rx errors, a TX watchdog), nor a warning or oops
		# (the boot's timer check can say "MP-BIOS bug: 8254 timer not
		# connected" when TCG runs slowly on a busy host: not an error here)
		dmesg | grep -v 'MP-BIOS bug: 8254 timer' >/tmp/dmesg
		say "info dmesgcheck $(wc -l </tmp/dmesg) kernel log lines"
		! grep -iE 'out of range|is not a head|Bad virtqueue|Unexpected TXQ|rx error|bad gso|NETDEV WATCHDOG|timed out|virtio.*(error|fail|broken)|WARNING:|BUG:|Call Trace' /tmp/dmesg ;;
	reload)	# unload and load virtio_net: QEMU stops the device (GET_VRING_BASE)
		# and starts it again from where the rings were
		ip link set eth0 down
		rmmod virtio_net || return 1
		insmod /lib/modules/virtio_net.ko || return 1
		setup eth0 "$pv_ip" "$pv_ip6" ;;
	combined)	# N: use N queue pairs (QEMU enables / disables rings)
		ethtool -L eth0 combined "$1" &&
			say "info eth0 combined $(ethtool -l eth0 | awk '/^Combined/ {print $2}' | tail -n1)" ;;
	*)	echo "unknown check $c"; return 1 ;;
	esac
}

for t in $(echo "$pvtest" | tr ',' ' '); do
	say "start $t"
	if check "$t" >/tmp/check.out 2>&1; then
		say "ok $t"
	else
		tail -n 8 /tmp/check.out | sed 's/^/PVTEST info   /'
		say "fail $t"
	fi
done
say done
sync
poweroff -f
INIT
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.cpio.gz"
cp "$kernel" "$work/vmlinuz"
echo "$kver" >"$work/kernel-version"
rm -rf "$dir"
mkdir -p "$dir"
mv "$work/initramfs.cpio.gz" "$work/vmlinuz" "$work/kernel-version" "$dir/"
echo "$dir"
