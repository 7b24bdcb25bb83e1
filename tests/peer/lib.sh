# SPDX-License-Identifier: MIT
# lib.sh - helpers for the real-peer tests: a scratch dir, namespaces,
# processes started in the background and always stopped (by PID), TAP-style
# "ok - NAME" / "not ok - NAME" lines that tests/run counts.
#
# Addresses: only 198.18.0.0/15 and fd00::/8, on interfaces made here.

set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PVNET=${PVNET:-$top/build/pvnet}
T=$(mktemp -d "${PEER_TMP:-/tmp}/pvnet-peer.XXXXXX")
pids=()
netnses=()
failures=0

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }
check() {	# check NAME CMD...: ok if CMD succeeds; returns CMD's success,
	# so that `check ... || finish` stops a test whose next steps need it
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
}
log() { echo "# $*"; }

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	# netns_new runs in $(...), so its list is lost: match the names by PID.
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -- "-$$\$"); do
		ip netns del "$n" 2>/dev/null
	done
	[ -n "${PEER_KEEP:-}" ] && cp -r "$T" "$PEER_KEEP"; rm -rf "$T"
}
trap cleanup EXIT

# bg NAME CMD...: start CMD in the background, stdout+stderr to $T/NAME.log
bg() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
}

# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# netns_new NAME: a fresh namespace with lo up
netns_new() {
	local n=pvt-$1-$$
	ip netns del "$n" 2>/dev/null
	ip netns add "$n" || return 1
	netnses+=("$n")
	ip -n "$n" link set lo up
	echo "$n"
}

switch_ready() { "$PVNET" stats --ctl "$1" >/dev/null 2>&1; }

# stat_of CTL PORT FIELD: one counter of a port from `pvnet stats --json`
stat_of() {
	"$PVNET" stats --ctl "$1" --json | jq -c -r --arg p "$2" \
		".ports[] | select(.name == \$p) | $3"
}

finish() {
	log "done, $failures failure(s)"
	[ "$failures" -eq 0 ]
	exit $?
}
