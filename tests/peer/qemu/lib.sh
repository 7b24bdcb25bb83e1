# SPDX-License-Identifier: MIT
# qemu/lib.sh - boot the test guest (build-guest.sh) under QEMU (TCG) with
# its NICs on vhost-user sockets, and read its markers. Source after
# tests/peer/lib.sh.
#
# Recipe (QEMU 7.2 on a machine without a usable KVM): -accel tcg; guest RAM
# from a shared memfd (the backend maps it); vectors=0 on virtio-net-pci, as
# QEMU 7.2 under TCG segfaults with vhost-user and MSI-X; mq=on and -smp 2
# for two queue pairs (Linux enables min(pairs, vCPUs)).

QEMU_GUEST_DIR=${QEMU_GUEST_DIR:-$top/build/qemu-guest}
QEMU_BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-180}

# qemu_image: build (or reuse) the guest image; sets QEMU_KERNEL, QEMU_INITRD
qemu_image() {
	local d
	d=$("$top/tests/peer/qemu/build-guest.sh" "$QEMU_GUEST_DIR") || return 1
	QEMU_KERNEL=$d/vmlinuz
	QEMU_INITRD=$d/initramfs.cpio.gz
	log "guest image: $d (kernel $(cat "$d/kernel-version"))"
}

# qemu_start NAME SMP PVTEST NIC [NIC]: boot a guest in the background.
#   PVTEST is the kernel command line's test part, e.g.
#     "pvtest=ping@198.18.4.1,iperf@198.18.4.1@5201@3 pv_ip=198.18.4.10/24"
#   NIC is SOCK,MAC[,queues=N][,reconnect]: a vhost-user netdev on SOCK
#   (QEMU is the socket client; with reconnect it retries every second).
# Serial console in $T/NAME.serial; the run ends after QEMU_BOOT_TIMEOUT s.
# With QEMU_REBOOT=1 in the environment (e.g. `QEMU_REBOOT=1 qemu_start ...`)
# the guest may reboot (no -no-reboot: a reset or reboot boots it again and
# its /init runs the checks again; poweroff still ends QEMU) and QEMU has a
# monitor on $T/NAME.mon for qemu_hmp.
# For live migration (see qemu/migrate.sh), also from the environment:
#   QEMU_MEM=SIZE       guest RAM and its memfd (default 512M)
#   QEMU_QMP=1          a QMP socket on $T/NAME.qmp for qemu/qmp.py
#   QEMU_INCOMING=URI   start as a migration destination (-incoming URI,
#                       e.g. defer, then QMP migrate-incoming)
#   QEMU_NIC_OPTS=,P=V  more virtio-net-pci properties (e.g. ,mrg_rxbuf=off)
qemu_start() {
	local name=$1 smp=$2 test=$3 i=0 nic sock mac q rc opt args=()
	local mode=(-no-reboot -monitor none) mem=${QEMU_MEM:-512M}
	shift 3
	for nic; do
		IFS=, read -r sock mac opt <<<"$nic"
		q=1
		rc=
		for o in ${opt//,/ }; do
			case $o in
			queues=*) q=${o#queues=} ;;
			reconnect) rc=,reconnect=1 ;;
			esac
		done
		args+=(-chardev "socket,id=c$i,path=$sock$rc"
		       -netdev "vhost-user,id=n$i,chardev=c$i,queues=$q"
		       -device "virtio-net-pci,netdev=n$i,mac=$mac,vectors=0$([ "$q" -gt 1 ] && echo ,mq=on)${QEMU_NIC_OPTS:-}")
		i=$((i + 1))
	done
	[ "${QEMU_REBOOT:-0}" = 1 ] &&
		mode=(-monitor "unix:$T/$name.mon,server=on,wait=off")
	[ "${QEMU_QMP:-0}" = 1 ] &&
		args+=(-qmp "unix:$T/$name.qmp,server=on,wait=off")
	[ -n "${QEMU_INCOMING:-}" ] && args+=(-incoming "$QEMU_INCOMING")
	: >"$T/$name.serial"
	bg "$name" timeout -k 5 "$QEMU_BOOT_TIMEOUT" qemu-system-x86_64 \
		-accel tcg -m "$mem" -smp "$smp" -nodefaults -no-user-config \
		-display none "${mode[@]}" \
		-serial "file:$T/$name.serial" \
		-kernel "$QEMU_KERNEL" -initrd "$QEMU_INITRD" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 $test" \
		-object "memory-backend-memfd,id=mem,size=$mem,share=on" \
		-numa node,memdev=mem "${args[@]}"
	eval "qemu_t0_$name=$SECONDS"
}

# qemu_wait NAME: until the guest powers off (or its timeout ends it);
# logs the boot time and the run time
qemu_wait() {
	local name=$1 p t0
	eval "p=\$pid_$name t0=\$qemu_t0_$name"
	wait "$p"
	log "$name: QEMU exited $? after $((SECONDS - t0)) s"
}

# qemu_hmp NAME COMMAND: one human monitor command to a guest started with
# QEMU_REBOOT=1 (e.g. system_reset); prints the monitor's answer
qemu_hmp() {
	local rc
	printf '%s\n' "$2" | timeout 10 nc -U -q 2 "$T/$1.mon" >"$T/$1.hmp"
	rc=$?
	# drop the banner and the prompt line with its line-editing echo
	tr -d '\r' <"$T/$1.hmp" | grep -av '^QEMU .* monitor\|^(qemu)'
	return $rc
}

# qemu_seen NAME PATTERN: the serial console has a line matching PATTERN
qemu_seen() { grep -q -- "$2" "$T/$1.serial" 2>/dev/null; }

# qemu_report NAME LABEL: one ok / not ok per check the guest ran, and a
# not ok for a guest that never said "PVTEST done"; rates go to the log
qemu_report() {
	local name=$1 label=$2 l
	tr -d '\r' <"$T/$name.serial" | grep '^PVTEST \(info\|rate\)' |
		grep -v '^PVTEST info pingwatch [0-9]* ok' | sed "s/^/# $name: /"
	while read -r l; do
		case $l in
		"PVTEST ok "*) ok "$label: ${l#PVTEST ok }" ;;
		"PVTEST fail "*) not_ok "$label: ${l#PVTEST fail }" ;;
		esac
	done < <(tr -d '\r' <"$T/$name.serial" | grep '^PVTEST \(ok\|fail\) ')
	if ! qemu_seen "$name" '^PVTEST done'; then
		not_ok "$label: guest ran to the end (PVTEST done)"
		log "$name: serial console tail:"
		tail -n 30 "$T/$name.serial" | sed 's/^/#   /'
	fi
}

# qemu_rate NAME CHECK: "N Mbits/sec" the guest reported for CHECK
qemu_rate() {
	tr -d '\r' <"$T/$1.serial" | awk -v c="$2" '$1 == "PVTEST" && $2 == "rate" && $3 == c {print $4, $5}'
}
