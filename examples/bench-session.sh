#!/usr/bin/env bash
# Benchmark: the default collection of a live session with N registered targets, against the
# floor, in one run.
#
# For each N in TARGETS (default "10 100 500"): a session (scrape interval 5 s) whose Prometheus
# is a SLURM job on the dev cluster, one real node exporter registered N times (N clients, so N
# targets with their own labels), WINDOW seconds (default 60) of scraping, then side by side:
#   curl remote read   — POST /api/v1/read of every series of the session over the window (the
#                        raw floor: Prometheus's own serving of the same samples, to /dev/null);
#   curl + queries     — that, plus the same profile query_range requests the collection sent
#                        (read from its manifest; bodies to /dev/null, 2 at a time as benchmon
#                        fetches): the floor of the whole default collection;
#   both at once       — the remote read and the profile queries started together (benchmon
#                        overlaps them too); the best floor is the lower of the two;
#   benchmon collect   — `benchmon collect --last WINDOW` of the session: the default a user
#                        gets (profile queries + raw export as Parquet + coverage + report),
#                        through benchmon serve;
# with benchmon serve's CPU during the collection (user + system, all threads), its RSS before
# the first and after the last collection, and its peak (VmHWM). Each N measures REPEAT rounds
# (default 3) over the same window — floor, collection, floors with its manifest — and prints
# the medians, and the ratio's median and range. `RUST_LOG=benchmon::export=debug` has the
# server log when each phase of a collection ended (in the work dir's server.log, with KEEP=1).
# PERF_DIR=dir records the server during each collection (`perf record --call-graph dwarf`,
# dir/collect-N.data; the recording slows the collection, so its row is not a figure).
#
# Needs the dev cluster (slurm/dev-cluster.sh up), prometheus-node-exporter, curl, python3,
# cargo. Usage: examples/bench-session.sh   (env: TARGETS="10 100" WINDOW=60 REPEAT=3 KEEP=1
# PERF_DIR=/tmp/p)
set -euo pipefail

TARGETS=${TARGETS:-10 100 500}
REPEAT=${REPEAT:-3}
WINDOW=${WINDOW:-60}
PORT=${PORT:-18402}
EXPORTER_PORT=${EXPORTER_PORT:-19100}

source "$(dirname "$0")/bench-common.sh"
bench_setup prometheus-node-exporter curl python3 bc cargo
"$repo/slurm/dev-cluster.sh" up >&2

prometheus-node-exporter --web.listen-address="127.0.0.1:$EXPORTER_PORT" >/dev/null 2>&1 &
PIDS+=($!)
export BENCHMON_URL="http://127.0.0.1:$PORT"
"$bin" serve --listen "127.0.0.1:$PORT" --state-dir "$work/state" \
  --artifacts-dir "$work/artifacts" >"$work/server.log" 2>&1 &
server_pid=$!; PIDS+=($server_pid)
for _ in $(seq 100); do curl -sf "$BENCHMON_URL/health" >/dev/null && break; sleep 0.1; done
host=$(hostname)

rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server_pid/status"; }
# benchmon serve's CPU (user + system, all threads) in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }


# The profile queries of a bundle's manifest, as query_range requests, 2 at a time; given a
# remote-read request body too, that remote read started at the same moment. Prints seconds.
floor_of() { # prom manifest [read.bin]
  python3 - "$@" <<'PY'
import json, subprocess, sys, time, concurrent.futures as cf
prom, manifest = sys.argv[1], json.load(open(sys.argv[2]))
body = sys.argv[3] if len(sys.argv) > 3 else None
w = manifest["window"]
def one(q):
    subprocess.run(["curl", "-sf", "-o", "/dev/null", "--data-urlencode", "query=" + q["sent_promql"],
                    "--data-urlencode", "start=" + w["start"], "--data-urlencode", "end=" + w["end"],
                    "--data-urlencode", "step=%gs" % w["step_seconds"], prom + "/api/v1/query_range"], check=True)
t = time.monotonic()
raw = body and subprocess.Popen(["curl", "-sf", "-o", "/dev/null", "--data-binary", "@" + body,
                                 "-H", "Content-Type: application/x-protobuf", "-H", "Content-Encoding: snappy",
                                 "-H", "X-Prometheus-Remote-Read-Version: 0.1.0", prom + "/api/v1/read"])
with cf.ThreadPoolExecutor(2) as pool:
    list(pool.map(one, manifest["queries"]))
if raw and raw.wait() != 0:
    sys.exit("remote read failed")
print("%.3f" % (time.monotonic() - t))
PY
}

printf '| targets | series | raw samples | curl remote read s | + profile queries s | both at once s | benchmon collect s | benchmon CPU s | ratio to best floor (range) | RSS before MB | RSS after MB | peak MB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for n in $TARGETS; do
  id="bench-$n-$$"
  "$bin" session create "$id" --scrape-interval 5s >/dev/null
  "$bin" session start "$id" --wait --wait-timeout 5m --time-limit 01:00:00 >/dev/null
  prom=$(curl -sf "$BENCHMON_URL/api/v1/sessions/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prometheus_url"])')
  for i in $(seq 1 "$n"); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' -X POST "$BENCHMON_URL/api/v1/clients" \
      -d "{\"session_id\":\"$id\",\"client_id\":\"c$i\",\"node\":\"node-$i\",\"exporters\":{\"node\":\"$host:$EXPORTER_PORT\"}}"
  done
  # Every target up, then the window.
  for _ in $(seq 120); do
    up=$(curl -sf "$prom/api/v1/query" --data-urlencode 'query=count(up{job="node"} == 1)' |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
    [ "$up" -ge "$n" ] && break
    sleep 1
  done
  # The window ends one scrape interval (5 s) and a second ago, so its last scrape is in and
  # the collection does not wait for it: both sides read finished data.
  sleep $(( WINDOW + 6 ))
  end=$(( $(date +%s) - 6 )); start=$(( end - WINDOW ))
  # A regex on session, as benchmon sends it (equality on an external label is rewritten).
  python3 "$repo/examples/remote-read-request.py" "$work/read.bin" $(( start * 1000 )) $(( end * 1000 )) \
    session =~ "$(python3 -c 'import re,sys; print(re.escape(sys.argv[1]))' "$id")"
  series=$(curl -sf "$prom/api/v1/query" --data-urlencode "query=count({session=\"$id\"})" --data-urlencode "time=$end" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
  # REPEAT rounds over the same window (floor, collection, floors with its manifest): medians.
  rows=()
  before=$(rss_kb VmRSS)
  for _ in $(seq "$REPEAT"); do
    floor=$( { /usr/bin/time -f '%e' curl -sf -o /dev/null --data-binary @"$work/read.bin" \
      -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: snappy' \
      -H 'X-Prometheus-Remote-Read-Version: 0.1.0' "$prom/api/v1/read"; } 2>&1 | tail -n1)
    cpu0=$(cpu_ticks); t0=$(date +%s.%N)
    out=$(${PERF_DIR:+perf record -q -F 250 --call-graph dwarf,16384 -p "$server_pid" \
      -o "$PERF_DIR/collect-$n.data" --} \
      "$bin" collect --session "$id" --start "$start" --end "$end" --json --allow-partial)
    t1=$(date +%s.%N); cpu1=$(cpu_ticks)
    raw=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["raw_samples"])' <<<"$out")
    bundle=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle_dir"])' <<<"$out")
    qfloor=$(floor_of "$prom" "$bundle/MANIFEST.json")
    pfloor=$(floor_of "$prom" "$bundle/MANIFEST.json" "$work/read.bin")
    rows+=("$floor $(echo "$floor + $qfloor" | bc) $pfloor $(echo "$t1 - $t0" | bc) $(( cpu1 - cpu0 ))")
  done
  after=$(rss_kb VmRSS); peak=$(rss_kb VmHWM)
  printf '%s\n' "${rows[@]}" | awk -v n="$n" -v s="$series" -v raw="$raw" -v rb="$before" -v ra="$after" \
    -v pk="$peak" -v hz="$(getconf CLK_TCK)" '
    { for (c = 1; c <= 5; c++) v[c, NR] = $c; best[NR] = ($3 < $2) ? $3 : $2; ratio[NR] = $4 / best[NR] }
    function median(c,   i, j, t, a) {
      for (i = 1; i <= NR; i++) a[i] = (c == 6) ? ratio[i] : v[c, i]
      for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    }
    END {
      lo = hi = ratio[1]; for (i = 2; i <= NR; i++) { if (ratio[i] < lo) lo = ratio[i]; if (ratio[i] > hi) hi = ratio[i] }
      printf "| %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f× (%.2f–%.2f) | %.0f | %.0f | %.0f |\n", n, s, raw,
        median(1), median(2), median(3), median(4), median(5) / hz, median(6), lo, hi, rb/1024, ra/1024, pk/1024 }'
  "$bin" session delete "$id" >/dev/null
done
