#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective (issue 16, metrics and live view): a switch with paced
# traffic (a gen port at 200 frames/s to a `pvnet guest --sink` on a vhost
# port, and one at 50/s whose frames have no destination but their own
# port, so they are dropped as tx_loop) is watched the ways an operator
# would:
#  - `pvnet stats --format openmetrics` and GET /metrics of
#    `--metrics 127.0.0.1:0` pass `promtool check metrics`; the HTTP
#    answers 404 and 405 where it should, over IPv6 too;
#  - a counter grows between two scrapes; a client that connects and sends
#    nothing does not hold a second scrape, and is closed at its deadline;
#  - a real Prometheus scrapes the listener (OpenMetrics, its preferred
#    type) and stores the series;
#  - `pvnet top` in tmux shows the paced rates within generous bounds, q
#    and Ctrl-C leave it with the terminal as it was; its line mode prints
#    --count samples.
# Rates are checked within a factor of 1.5 of the pacing: a check of the
# arithmetic, not of speed.
. "$(dirname "$0")/lib.sh"

SINK_MAC=02:00:00:00:33:02
GEN_MAC=02:00:00:00:33:01
BAD_MAC=02:00:00:00:33:03
RATE=200
BAD_RATE=50
ctl=$T/ctl.sock

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# metric VALUE of a sample line "NAME{LABELS} VALUE" in FILE
sample() { awk -v k="$2" 'index($0, k " ") == 1 { print $NF }' "$1"; }
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }'; }

for t in promtool prometheus tmux curl python3 jq; do
	check "$t installed (tools/install-deps.sh test)" \
		bash -c "command -v $t >/dev/null" || finish
done

# gbad comes first: the first uplink gets unknown unicast, so its own
# frames come back to it and are dropped as tx_loop.
bg switch "$PVNET" switch --ctl "$ctl" --metrics 127.0.0.1:0 \
	--port "gen,name=gbad,dst=02:00:00:00:33:99,src=$BAD_MAC,rate=$BAD_RATE" \
	--port "gen,name=gen,dst=$SINK_MAC,src=$GEN_MAC,rate=$RATE" \
	--port "vhost,name=sink,path=$T/sink.sock,mac=$SINK_MAC"
check "switch ready" wait_for 10 switch_ready "$ctl" || finish
bg sink "$PVNET" guest --connect "$T/sink.sock" --mac "$SINK_MAC" --sink \
	--count 1000000000 --idle-timeout 120
check "sink attached" wait_for 10 grep -q attached "$T/sink.log"
port=$("$PVNET" stats --ctl "$ctl" --json | jq -r .metrics_http.port)
log "metrics listener on 127.0.0.1:$port"
check "the listener's port is in the stats and in the log" \
	grep -q "metrics: serving GET /metrics on 127.0.0.1:0 (port $port)" "$T/switch.log"
check "a bad --metrics address is refused" \
	bash -c "! '$PVNET' switch --metrics localhost:9464 --port gen,name=x,dst=$SINK_MAC 2>'$T/bad.err' && grep -q 'A.B.C.D:PORT' '$T/bad.err'"

# --- pvnet stats --format openmetrics
"$PVNET" stats --ctl "$ctl" --format openmetrics >"$T/om.txt"
check "pvnet stats --format openmetrics: promtool check metrics passes" \
	bash -c "promtool check metrics <'$T/om.txt' 2>'$T/promtool1.err'"
sed 's/^/# promtool: /' "$T/promtool1.err"
check "openmetrics output ends with # EOF" [ "$(tail -n 1 "$T/om.txt")" = "# EOF" ]
check "openmetrics output has the gen port's rx counter" \
	grep -q '^pvnet_port_rx_packets_total{network="default",port="gen"} [1-9]' "$T/om.txt"
check "openmetrics output has tx_loop drops for gbad" \
	grep -q '^pvnet_port_drops_total{network="default",port="gbad",reason="tx_loop"} [1-9]' "$T/om.txt"
check "openmetrics output has the vhost port connected" \
	grep -q '^pvnet_vhost_connected{network="default",port="sink"} 1$' "$T/om.txt"
check "openmetrics output has worker cycles" \
	grep -q '^pvnet_worker_busy_cycles_total{worker="0"} [1-9]' "$T/om.txt"

# --- GET /metrics
url=http://127.0.0.1:$port/metrics
curl -sS -D "$T/h1.txt" -o "$T/s1.txt" "$url"
check "GET /metrics: promtool check metrics passes" \
	bash -c "promtool check metrics <'$T/s1.txt' 2>'$T/promtool2.err'"
sed 's/^/# promtool: /' "$T/promtool2.err"
check "GET /metrics: 200, text format 0.0.4 for curl" \
	bash -c "head -1 '$T/h1.txt' | grep -q '^HTTP/1.1 200' && grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' '$T/h1.txt'"
curl -sS -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' \
	-D "$T/h2.txt" -o "$T/s2om.txt" "$url"
check "GET /metrics: OpenMetrics when asked for it, ending with # EOF" \
	bash -c "grep -qi '^Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8' '$T/h2.txt' && [ \"\$(tail -n 1 '$T/s2om.txt')\" = '# EOF' ] && grep -q '^# TYPE pvnet_port_rx_packets counter' '$T/s2om.txt'"
key='pvnet_port_rx_packets_total{network="default",port="gen"}'
a=$(sample "$T/s1.txt" "$key")
sleep 1.5
curl -sS -o "$T/s3.txt" "$url"
b=$(sample "$T/s3.txt" "$key")
log "gen rx_packets: $a, then $b 1.5 s later"
check "a counter grows between two scrapes" [ -n "$a" -a -n "$b" ] && [ "$b" -gt "$a" ]
check "GET /other: 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other")" = 404 ]
check "POST /metrics: 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$url")" = 405 ]

# --- a slow client: connects, sends nothing
exec 7<>"/dev/tcp/127.0.0.1/$port"
check "a second scrape is served while a silent client is connected" \
	curl -sS --max-time 1.5 -o "$T/s4.txt" "$url"
check "... which was still connected then" \
	bash -c "! timeout 0.2 cat <&7 >/dev/null"
check "the silent client is closed at its deadline" timeout 6 cat <&7
exec 7<&-
curl -sS -o "$T/s5.txt" "$url"
check "and counted as timed out" \
	[ "$(sample "$T/s5.txt" pvnet_metrics_http_clients_timed_out_total)" -ge 1 ]

# --- over IPv6: a second switch on [::1]
bg switch6 "$PVNET" switch --ctl "$T/ctl6.sock" --metrics '[::1]:0' \
	--port "gen,name=g6,dst=$SINK_MAC,count=10"
check "IPv6 switch ready" wait_for 10 switch_ready "$T/ctl6.sock"
port6=$("$PVNET" stats --ctl "$T/ctl6.sock" --json | jq -r .metrics_http.port)
check "GET http://[::1]:$port6/metrics passes promtool" \
	bash -c "curl -sS -g 'http://[::1]:$port6/metrics' | promtool check metrics"
kill "$pid_switch6"

# --- a real Prometheus scrapes it
pport=$(free_port)
mkdir -p "$T/prom"
cat >"$T/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pvnet
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
bg prometheus prometheus --config.file="$T/prom/prometheus.yml" \
	--storage.tsdb.path="$T/prom/data" --web.listen-address="127.0.0.1:$pport"
api=http://127.0.0.1:$pport/api/v1
target_up() {
	[ "$(curl -s "$api/targets" | jq -r '.data.activeTargets[0].health')" = up ]
}
check "Prometheus scrapes the listener: target up" wait_for 60 target_up
curl -s "$api/targets" | jq -c '.data.activeTargets[0] | {health, lastError}' | sed 's/^/# /'
prom_value() {
	curl -s -G "$api/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'
}
stored() { [ -n "$(prom_value 'pvnet_port_rx_packets_total{port="gen"}')" ]; }
check "Prometheus stored pvnet_port_rx_packets_total{port=\"gen\"}" wait_for 20 stored
check "Prometheus stored the info metric pvnet_port_info{port=\"sink\",type=\"vhost\"}" \
	[ "$(prom_value 'pvnet_port_info{port="sink",type="vhost"}')" = 1 ]
sleep 3
r=$(prom_value 'rate(pvnet_port_rx_packets_total{port="gen"}[3s])')
log "Prometheus: rate(pvnet_port_rx_packets_total{port=\"gen\"}[3s]) = $r"
check "Prometheus' rate of the gen port within 1.5x of $RATE/s" \
	within "$r" $((RATE * 2 / 3)) $((RATE * 3 / 2))
kill "$pid_prometheus"

# --- pvnet top in tmux
tsock=pvnet33-$$
tmux -L "$tsock" -f /dev/null new-session -d -s top -x 160 -y 40 \
	"stty -a >'$T/stty.before'; '$PVNET' top --ctl '$ctl'; echo \$? >'$T/top.rc'; stty -a >'$T/stty.after'; sleep 120"
pids+=("$(tmux -L "$tsock" display -p -t top '#{pid}')")
screen() { tmux -L "$tsock" capture-pane -p -t top >"$T/screen.txt" && cat "$T/screen.txt"; }
has_rates() { screen | awk '$1 == "gen" && $3 ~ /^[0-9]+$/ { f = 1 } END { exit !f }'; }
check "pvnet top shows the gen port's rate" wait_for 10 has_rates
sleep 1.2	# a second interval: rates over a whole second
screen >/dev/null
sed 's/^/# | /' "$T/screen.txt" | sed 's/ *$//' | grep -v '^# |$'
gen_pps=$(awk '$1 == "gen" { print $3 }' "$T/screen.txt")
sink_pps=$(awk '$1 == "sink" { print $5 }' "$T/screen.txt")
drop_pps=$(awk '$1 == "drop" && $2 == "tx_loop" { print $3 }' "$T/screen.txt")
log "top: gen rx $gen_pps/s, sink tx $sink_pps/s, gbad tx_loop drops $drop_pps/s"
check "top: gen rx pkt/s within 1.5x of $RATE" within "$gen_pps" $((RATE * 2 / 3)) $((RATE * 3 / 2))
check "top: sink tx pkt/s within 1.5x of $RATE (GRO may merge)" within "$sink_pps" 1 $((RATE * 3 / 2))
check "top: tx_loop drops/s within 1.5x of $BAD_RATE" within "$drop_pps" $((BAD_RATE * 2 / 3)) $((BAD_RATE * 3 / 2))
check "top: worker row with busy share and cycles/packet" \
	grep -Eq '^0 +[0-9]+ +[0-9.]+% +[0-9]+' "$T/screen.txt"
check "top: on the alternate screen" [ "$(tmux -L "$tsock" display -p -t top '#{alternate_on}')" = 1 ]
tmux -L "$tsock" send-keys -t top q
check "q quits top with status 0" wait_for 5 bash -c "[ \"\$(cat '$T/top.rc' 2>/dev/null)\" = 0 ]"
check "q: the terminal is back: primary screen" \
	[ "$(tmux -L "$tsock" display -p -t top '#{alternate_on}')" = 0 ]
check "q: the terminal modes are restored" wait_for 5 cmp -s "$T/stty.before" "$T/stty.after"
screen >/dev/null
check "q: the view is gone from the screen" bash -c "! grep -q 'RX PKT/S' '$T/screen.txt'"
tmux -L "$tsock" kill-session -t top

rm -f "$T/top.rc" "$T/stty.before" "$T/stty.after"
tmux -L "$tsock" -f /dev/null new-session -d -s top2 -x 120 -y 30 \
	"stty -a >'$T/stty.before'; '$PVNET' top --ctl '$ctl' --interval 0.5; echo \$? >'$T/top.rc'; stty -a >'$T/stty.after'; sleep 120"
pids+=("$(tmux -L "$tsock" display -p -t top2 '#{pid}')")
on_screen() { tmux -L "$tsock" capture-pane -p -t top2 | grep -q 'RX PKT/S'; }
check "top (second run) is up" wait_for 10 on_screen
tmux -L "$tsock" send-keys -t top2 C-c
check "Ctrl-C quits top with status 0" wait_for 5 bash -c "[ \"\$(cat '$T/top.rc' 2>/dev/null)\" = 0 ]"
check "Ctrl-C: primary screen, terminal modes restored" \
	bash -c "[ \"\$(tmux -L '$tsock' display -p -t top2 '#{alternate_on}')\" = 0 ] && cmp -s '$T/stty.before' '$T/stty.after'"
tmux -L "$tsock" kill-server

# --- line mode
check "top line mode: --count 4 exits 0" \
	timeout 20 "$PVNET" top --ctl "$ctl" --interval 0.5 --count 4 >"$T/lines.txt"
sed -n '1,12p' "$T/lines.txt" | sed 's/^/# /'
check "top line mode: 4 samples of the gen port" \
	[ "$(grep -c ' port=gen type=gen ' "$T/lines.txt")" = 4 ]
bad=$(awk -v lo=$((RATE * 2 / 3)) -v hi=$((RATE * 3 / 2)) '/ port=gen type=gen / {
	for (i = 1; i <= NF; i++) if ($i ~ /^rx_pps=/) { v = substr($i, 8); if (v < lo || v > hi) n++ } }
	END { print n + 0 }' "$T/lines.txt")
check "top line mode: every gen rx_pps within 1.5x of $RATE" [ "$bad" = 0 ]
check "top line mode: tx_loop drop rate of gbad" grep -q ' port=gbad drop=tx_loop rate=' "$T/lines.txt"
check "top line mode: worker busy share and cycles per packet" \
	grep -Eq ' worker=0 pps=[0-9.]+ busy=[0-9.]+ cycles_per_pkt=[0-9]+$' "$T/lines.txt"
check "top: no switch is an error, not a hang" \
	bash -c "! timeout 5 '$PVNET' top --ctl '$T/none.sock' --count 1 2>'$T/none.err' && grep -q none.sock '$T/none.err'"

check "the switch is still up" kill -0 "$pid_switch"
finish
