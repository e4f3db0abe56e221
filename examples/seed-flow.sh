#!/usr/bin/env bash
# seed-flow.sh — the API walk-through from the service's documentation, as curl calls:
# create a session, start Prometheus as a SLURM job, register a client and a service,
# collect a window of metrics, stop the session.
#
# Runnable against the dev cluster as is (slurm/dev-cluster.sh up; benchmon serve). Knobs:
#   BENCHMON_URL   server (default http://localhost:8002)
#   RUN_ID         session id (benchmark-01)
#   PROM_PORT      fixed Prometheus port (9090)
#   PROM_HOST      host to reach Prometheus by (localhost)
#   PARTITION      SLURM partition (cpu)
#   NODE           the client node (this host; the documentation uses mel2153)
#   VLLM_ENDPOINT  the service's metrics URL (http://$NODE:8000/metrics)
#   OUT_DIR        bundle directory under the server's artifacts root (logs/metrics)
#   SETTLE         seconds of scraping before the collection (10)
#   BENCHMON_TOKEN bearer token, for servers that require one
#
# Differences from the documentation: the window is "the last minute" (the documented one is
# a fixed hour in 2025), the script waits for the session to run before collecting, and curl
# fails on an error answer (printing the problem) so the script stops there.
set -euo pipefail

BASE=${BENCHMON_URL:-http://localhost:8002}
RUN_ID=${RUN_ID:-benchmark-01}
PROM_PORT=${PROM_PORT:-9090}
PROM_HOST=${PROM_HOST:-localhost}
PARTITION=${PARTITION:-cpu}
NODE=${NODE:-$(hostname)}
VLLM_ENDPOINT=${VLLM_ENDPOINT:-http://$NODE:8000/metrics}
OUT_DIR=${OUT_DIR:-logs/metrics}
SETTLE=${SETTLE:-10}

curl_args=(-sS --fail-with-body -H "Content-Type: application/json")
if [[ -n ${BENCHMON_TOKEN:-} ]]; then
  curl_args+=(-H "Authorization: Bearer $BENCHMON_TOKEN")
fi
api() { curl "${curl_args[@]}" "$@"; echo; }

echo "== 1. Create a monitoring session"
api -X POST "$BASE/api/v1/sessions" \
  -d '{
    "run_id": "'"$RUN_ID"'",
    "prometheus_port": '"$PROM_PORT"',
    "prom_host": "'"$PROM_HOST"'"
  }'

# If a step fails after this, do not leave the Prometheus job running.
stopped=0
stop_on_error() {
  if ((!stopped)); then
    echo "== (a step failed: stopping the session)" >&2
    curl "${curl_args[@]}" -X POST "$BASE/api/v1/sessions/$RUN_ID/stop" >/dev/null || true
  fi
}
trap stop_on_error EXIT

echo "== 2. Start Prometheus"
api -X POST "$BASE/api/v1/sessions/$RUN_ID/start" \
  -d '{
    "partition": "'"$PARTITION"'",
    "time_limit": "02:00:00"
  }'

echo "== 2b. Wait until Prometheus runs"
api "$BASE/api/v1/sessions/$RUN_ID/status?wait=running&timeout=120s"

echo "== 3. Register a client"
api -X POST "$BASE/api/v1/clients" \
  -d '{
    "session_id": "'"$RUN_ID"'",
    "client_id": "client-001",
    "node": "'"$NODE"'",
    "exporters": {
      "node": "'"$NODE"':9100",
      "dcgm": "'"$NODE"':9400"
    },
    "preferences": {
      "enable_node": true,
      "enable_dcgm": true
    }
  }'

echo "== 3. Register a service"
api -X POST "$BASE/api/v1/services" \
  -d '{
    "session_id": "'"$RUN_ID"'",
    "client_id": "client-001",
    "name": "vllm",
    "endpoint": "'"$VLLM_ENDPOINT"'"
  }'

echo "== (let Prometheus scrape for ${SETTLE}s)"
sleep "$SETTLE"

echo "== 4. Collect metrics"
window_end=$(date -u +%Y-%m-%dT%H:%M:%SZ)
window_start=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)
api -X POST "$BASE/api/v1/sessions/$RUN_ID/collect" \
  -d '{
    "window_start": "'"$window_start"'",
    "window_end": "'"$window_end"'",
    "out_dir": "'"$OUT_DIR"'",
    "run_id": "run-001"
  }'

echo "== 5. Stop the session"
api -X POST "$BASE/api/v1/sessions/$RUN_ID/stop"
stopped=1
