#!/usr/bin/env bash
# harness.sh — an end-to-end benchmark run with the benchmon CLI: start a session (Prometheus
# as a SLURM job), register a real node exporter, run "the benchmark" (a CPU load) inside a
# named window, collect that window, print where the report is, stop the session.
#
#   BENCHMON_URL=http://127.0.0.1:8002 examples/harness.sh
#
# Needs `prometheus-node-exporter` (slurm/dev-cluster.sh up installs it). Knobs:
#   BENCHMON_BIN     the benchmon binary (default: benchmon on PATH)
#   BENCHMON_URL     the server (default http://127.0.0.1:8002)
#   RUN_ID           session id (default harness-<date>-<pid>)
#   PARTITION        SLURM partition for Prometheus (site default)
#   EXPORTER_HOST    host name Prometheus reaches this machine by (default: hostname)
#   LOAD_SECONDS     how long the CPU load runs (15)
#   WINDOW           window name (benchmark)
set -euo pipefail

BENCHMON=${BENCHMON_BIN:-benchmon}
export BENCHMON_URL=${BENCHMON_URL:-http://127.0.0.1:8002}
run_id=${RUN_ID:-harness-$(date +%Y%m%d-%H%M%S)-$$}
exporter_host=${EXPORTER_HOST:-$(hostname)}
seconds=${LOAD_SECONDS:-15}
window=${WINDOW:-benchmark}

say() { printf '\n== %s\n' "$*"; }
bm() { "$BENCHMON" "$@"; }

exporter_pid=""
started=0
finish() {
  local rc=$?
  if ((started)); then
    say "stop the session"
    bm session stop "$run_id" >/dev/null || rc=1
  fi
  if [[ -n $exporter_pid ]]; then
    kill "$exporter_pid" 2>/dev/null || true
    wait "$exporter_pid" 2>/dev/null || true
  fi
  exit "$rc"
}
trap finish EXIT

# A node exporter on a free port: pick a port nothing answers on, start, check, else retry.
start_exporter() {
  local try port
  for try in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 20000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      continue # taken
    fi
    prometheus-node-exporter --web.listen-address=":$port" \
      --collector.disable-defaults --collector.cpu --collector.meminfo \
      --collector.loadavg --collector.netdev --collector.diskstats >/dev/null 2>&1 &
    exporter_pid=$!
    for _ in $(seq 30); do
      if curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null; then
        exporter_port=$port
        return 0
      fi
      kill -0 "$exporter_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill "$exporter_pid" 2>/dev/null || true
    wait "$exporter_pid" 2>/dev/null || true
    exporter_pid=""
  done
  echo "harness: could not start prometheus-node-exporter" >&2
  return 1
}

say "create session $run_id"
bm session create "$run_id" --scrape-interval 1s --label harness=example

say "start Prometheus (a SLURM job) and wait until it runs"
started=1
bm session start "$run_id" --wait --wait-timeout 5m --time-limit 00:30:00 \
  ${PARTITION:+--partition "$PARTITION"}

say "start a node exporter and register it"
start_exporter
bm register client --session "$run_id" --client-id harness --node "$exporter_host" \
  --exporter "node=$exporter_host:$exporter_port"

# Wait until Prometheus has scraped the exporter, so the window has data from its start.
for _ in $(seq 60); do
  if bm targets --session "$run_id" --json | grep -q '"health": "up"'; then
    break
  fi
  sleep 1
done
bm targets --session "$run_id"

say "the benchmark: ${seconds}s of CPU load in window $window"
bm window open --session "$run_id" "$window"
timeout "$seconds" sha256sum /dev/zero || [[ $? == 124 ]]
bm window close --session "$run_id" "$window"
sleep 2 # one more scrape after the window's end

say "collect window $window"
# Exit 3 would mean a partial verdict (say, a scrape gap under load): still worth a report;
# exit 4 (empty) ends the harness.
summary=$(bm collect --session "$run_id" --window "$window" --allow-partial)
echo "$summary"
report=$(awk '$1 == "report:" { print $2 }' <<<"$summary")

say "done"
echo "report: ${report:-(the server wrote no report; see the bundle above)}"
