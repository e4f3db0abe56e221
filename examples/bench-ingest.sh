#!/usr/bin/env bash
# Benchmark: ingestion of sharded sessions (`store: "victoriametrics"`) on real SLURM, in one run.
#
# Synthetic exporters (examples/synth-exporter.rs: one process serving TARGETS ports with SERIES
# series each, values changing at every scrape) are registered as a session's targets, one
# client per target, and the session is started through `benchmon serve` on the dev cluster:
#
# 1. Ingest steps. For every scraper count in SCRAPERS (default "1 3"; "prom" adds the default
#    single Prometheus as a reference) and every load in STEPS (TARGETSxSERIES, default
#    "50x1000 100x1000 200x1000 400x1000"), scraped every INTERVAL s (default 1): a session,
#    every target up in the store, SETTLE s (default 20), then MEASURE s (default 30) between
#    two readings of the jobs' own /metrics:
#      offered    — targets × (series + the 5 series Prometheus adds per target) / interval;
#      ingested   — the store's rate: VictoriaMetrics `vm_rows_inserted_total`, a Prometheus'
#                   `prometheus_tsdb_head_samples_appended_total`;
#      p99        — the worst scraper's `prometheus_target_interval_length_seconds{quantile="0.99"}`
#                   (each agent's own /metrics, at the node and port of its `scraper_jobs` entry);
#      lag        — the worst scraper's remote-write lag (newest sample appended − newest sent);
#      CPU        — µs of CPU per ingested sample of the scrapers (all together) and the store
#                   (`process_cpu_seconds_total`), and the cores the rest of the machine used
#                   meanwhile (/proc/stat minus the session's jobs, the exporters and benchmon);
#    A step is within its interval when p99 ≤ 1.1 × INTERVAL and the store ingests ≥ 90 % of
#    what is offered; the first step that is not ends that scraper count's steps. The knee is the
#    last step within.
# 2. Memory and disk, at the same steps: the store's RSS (`process_resident_memory_bytes`) over
#    its active series (VictoriaMetrics `vm_cache_entries{type="storage/hour_metric_ids"}`, a
#    Prometheus' `prometheus_tsdb_head_series`), the scrapers' RSS over theirs, and the store's
#    data bytes per sample inserted (VictoriaMetrics `vm_data_size_bytes` / `vm_rows`: a short
#    run's parts are young, merges later make them smaller).
# 3. Collection time, store vs a single Prometheus: the same exporters (COLLECT, default
#    100x1000) scraped every COLLECT_INTERVAL s (default 5) by a `prometheus` session and a
#    `victoriametrics` session with COLLECT_SCRAPERS (default 3) at once; after WINDOW s
#    (default 60) `benchmon collect` (the default path: profile queries, raw Parquet, report) of
#    the same window from each, COLLECT_RUNS times (default 1) alternating; the raw samples,
#    raw.parquet bytes per sample and the whole bundle's size.
#
# Every job runs in PARTITION (default cpu); the exporters listen on EXPORTER_LISTEN (default
# 127.0.0.1; 10.77.0.1 for partition multi, whose nodes reach the host there). The dev cluster
# is used as it is: `slurm/dev-cluster.sh up` runs only when sinfo finds no cluster.
# Default settings take ≈ 15–20 min on a busy 2-core machine (≈ 100 s a step, 6 min for
# part 3). Figures on a machine that other work shares are noisy: the rest-of-machine column
# of the first table says how much CPU the rest of the machine took.
#
# Needs prometheus, victoria-metrics, curl, python3, cargo.
# Usage: examples/bench-ingest.sh
#   (env: STEPS SCRAPERS INTERVAL SETTLE MEASURE COLLECT COLLECT_SCRAPERS COLLECT_INTERVAL WINDOW
#    COLLECT_RUNS PARTITION EXPORTER_LISTEN PORT KEEP=1; COLLECT=0 skips part 3)
# A quick check: STEPS="20x500 40x500" SETTLE=10 MEASURE=15 COLLECT=20x500 WINDOW=30 examples/bench-ingest.sh
set -euo pipefail
shopt -s inherit_errexit

STEPS=${STEPS:-50x1000 100x1000 200x1000 400x1000}
SCRAPERS=${SCRAPERS:-1 3}
INTERVAL=${INTERVAL:-1}
SETTLE=${SETTLE:-20}
MEASURE=${MEASURE:-30}
COLLECT=${COLLECT:-100x1000}
COLLECT_SCRAPERS=${COLLECT_SCRAPERS:-3}
COLLECT_INTERVAL=${COLLECT_INTERVAL:-5}
WINDOW=${WINDOW:-60}
COLLECT_RUNS=${COLLECT_RUNS:-1}
PARTITION=${PARTITION:-cpu}
EXPORTER_LISTEN=${EXPORTER_LISTEN:-127.0.0.1}
PORT=${PORT:-18403}

# shellcheck source=examples/bench-common.sh
source "$(dirname "$0")/bench-common.sh"
bench_setup prometheus victoria-metrics curl python3 cargo sinfo
echo "building the synthetic exporter (release)…" >&2
(cd "$repo" && cargo build --release --quiet --example synth-exporter)
exporter_bin=${CARGO_TARGET_DIR:-$repo/target}/release/examples/synth-exporter
if ! sinfo -h -o %a 2>/dev/null | grep -q up; then
  echo "no SLURM cluster answers: starting the dev cluster…" >&2
  "$repo/slurm/dev-cluster.sh" up >&2
fi

export BENCHMON_URL="http://127.0.0.1:$PORT"
"$bin" serve --listen "127.0.0.1:$PORT" --state-dir "$work/state" \
  --artifacts-dir "$work/artifacts" >"$work/server.log" 2>&1 &
server_pid=$!; PIDS+=("$server_pid")
for _ in $(seq 100); do curl -sf "$BENCHMON_URL/health" >/dev/null && break; sleep 0.1; done
curl -sf "$BENCHMON_URL/health" >/dev/null || { echo "benchmon serve did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
clk=$(getconf CLK_TCK)
began=$(date +%s)
SESSIONS=()

# Sessions still live when the script ends are deleted (their jobs cancelled) before the
# processes go.
on_exit() {
  local rc=$? id
  for id in "${SESSIONS[@]}"; do [ -n "$id" ] && { "$bin" session delete "$id" >/dev/null 2>&1 || true; }; done
  set +e; (exit "$rc"); bench_cleanup
}
trap on_exit EXIT

# start_exporters TARGETS SERIES: the exporter process; its target addresses in $work/targets.
exporter_pid=
start_exporters() {
  "$exporter_bin" --listen "$EXPORTER_LISTEN" --targets "$1" --series "$2" >"$work/targets" &
  exporter_pid=$!; PIDS+=("$exporter_pid")
  for _ in $(seq 600); do grep -qx ready "$work/targets" && return 0; sleep 0.1; done
  echo "the synthetic exporter did not start" >&2; exit 1
}
stop_exporters() { kill "$exporter_pid" 2>/dev/null || true; wait "$exporter_pid" 2>/dev/null || true; }

view() { curl -sf "$BENCHMON_URL/api/v1/sessions/$1"; }

# new_session ID STORE SCRAPERS INTERVAL_S (run in $(…): the caller adds ID to SESSIONS): created, every exporter target registered (one
# client each), started and running; prints the store's URL.
new_session() {
  local id=$1 store=$2 scrapers=$3 interval=$4 body
  body=$(python3 -c 'import json,sys; b={"run_id":sys.argv[1],"scrape_interval":sys.argv[3]+"s","store":sys.argv[2]}
if sys.argv[2]!="prometheus": b["scrapers"]=int(sys.argv[4])
print(json.dumps(b))' "$id" "$store" "$interval" "$scrapers")
  curl -sf -o /dev/null -H 'Content-Type: application/json' -X POST "$BENCHMON_URL/api/v1/sessions" -d "$body"
  local i=0 address
  while read -r address; do
    [ "$address" = ready ] && continue
    i=$((i + 1))
    curl -sf -o /dev/null -H 'Content-Type: application/json' -X POST "$BENCHMON_URL/api/v1/clients" \
      -d "{\"session_id\":\"$id\",\"client_id\":\"c$i\",\"node\":\"synth-$i\",\"exporters\":{\"synth\":\"$address\"}}"
  done <"$work/targets"
  "$bin" session start "$id" --wait --wait-timeout 5m --time-limit 01:00:00 --partition "$PARTITION" >/dev/null
  view "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prometheus_url"])'
}

# instant QUERY_URL PROMQL: the first value of an instant query (0 when empty, or when a
# saturated store does not answer within 20 s).
instant() {
  { curl -sf --max-time 20 "$1/api/v1/query" --data-urlencode "query=$2" || true; } |
    python3 -c 'import json,sys
try: r = json.load(sys.stdin)["data"]["result"]
except ValueError: r = []
print(r[0]["value"][1] if r else 0)'
}

# await_up STORE ID N: until N targets of the session are up in the store, at most 3 min (a
# step past what the machine handles may never get there: it is measured all the same).
await_up() {
  local up=0
  for _ in $(seq 360); do
    up=$(instant "$1" "count(up{session=\"$2\",job!=\"prometheus\"} == 1)")
    [ "$up" -ge "$3" ] && return 0
    sleep 0.5
  done
  echo "session $2: $up of $3 targets up after 3 min; measuring it as it is" >&2
}

# The /metrics of the session's scrapers (a Prometheus session: itself), one URL a line.
scraper_urls() {
  view "$1" | python3 -c 'import json,sys
s=json.load(sys.stdin)
if s["scraper_jobs"]:
    for j in s["scraper_jobs"]: print("http://%s:%d/metrics" % (j["node"], j["port"]))
else:
    print(s["prometheus_url"] + "/metrics")'
}

# proc_cpu PID: CPU seconds (user + system) of a process so far.
proc_cpu() { awk -v t="$clk" '{ print ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# snapshot DIR STORE ID: the store's and every scraper's /metrics, the machine's busy CPU
# seconds, the exporter's and benchmon's CPU seconds, and the time.
snapshot() {
  local dir=$1 i=0 url
  mkdir -p "$dir"
  curl -sf "$2/metrics" >"$dir/store"
  while read -r url; do
    curl -sf "$url" >"$dir/scraper.$i"; i=$((i + 1))
  done < <(scraper_urls "$3")
  awk '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8 + $9) }' /proc/stat >"$dir/machine"
  echo "$(proc_cpu "$exporter_pid") $(proc_cpu "$server_pid")" >"$dir/ours"
  date +%s.%N >"$dir/time"
}

# msum FILE… REGEX: the sum of the samples whose `name{labels}` matches REGEX.
msum() {
  RE=${*: -1} awk '$0 !~ /^#/ && $1 ~ ENVIRON["RE"] { s += $NF } END { printf "%.6f\n", s }' "${@:1:$#-1}"
}
# mmax FILE… REGEX: the largest (NaN counts as 0).
mmax() {
  RE=${*: -1} awk '$0 !~ /^#/ && $1 ~ ENVIRON["RE"] && $NF != "NaN" { if ($NF + 0 > m) m = $NF + 0 } END { printf "%.6f\n", m }' "${@:1:$#-1}"
}
# The worst remote-write lag of the scrapers (newest appended − newest sent, s).
lag_of() {
  local f worst=0 lag
  for f in "$@"; do
    lag=$(awk '$1 ~ /^prometheus_remote_storage_highest_timestamp_in_seconds/ { a = $NF }
      $1 ~ /^prometheus_remote_storage_queue_highest_sent_timestamp_seconds/ { s = $NF }
      END { printf "%.3f\n", (a && s) ? a - s : 0 }' "$f")
    worst=$(awk -v a="$worst" -v b="$lag" 'BEGIN { print (b > a) ? b : a }')
  done
  echo "$worst"
}

rows_re='^(vm_rows_inserted_total[{]type="promremotewrite"[}]|prometheus_tsdb_head_samples_appended_total)'
p99_re='^prometheus_target_interval_length_seconds[{].*quantile="0.99"'

# measure_step MODE TARGETS SERIES: one step; appends its figures as a line to $work/steps.
measure_step() {
  local mode=$1 n=$2 per=$3 id store a b
  id="ingest-$mode-$n-$per-$$"
  start_exporters "$n" "$per"
  SESSIONS+=("$id")
  if [ "$mode" = prom ]; then store=$(new_session "$id" prometheus 0 "$INTERVAL")
  else store=$(new_session "$id" victoriametrics "$mode" "$INTERVAL"); fi
  await_up "$store" "$id" "$n"
  sleep "$SETTLE"
  # The previous step's session is gone before anything is measured.
  [ -n "$deleting" ] && { wait "$deleting" || true; deleting=; }
  a=$work/snap-$id-0; b=$work/snap-$id-1
  snapshot "$a" "$store" "$id"
  sleep "$MEASURE"
  snapshot "$b" "$store" "$id"
  local series dt rows cpu_store cpu_scrapers p99 lag rss_store rss_scrapers machine ours disk stored
  # Active series as the store counts them: no query over every series of a busy store.
  series=$(msum "$b/store" '^(vm_cache_entries[{]type="storage/hour_metric_ids"[}]|prometheus_tsdb_head_series$)')
  dt=$(awk 'NR == 1 { a = $1 } NR == 2 { print $1 - a }' "$a/time" "$b/time")
  rows=$(awk -v b="$(msum "$b/store" "$rows_re")" -v a="$(msum "$a/store" "$rows_re")" 'BEGIN { print b - a }')
  cpu_store=$(awk -v b="$(msum "$b/store" '^process_cpu_seconds_total')" -v a="$(msum "$a/store" '^process_cpu_seconds_total')" 'BEGIN { print b - a }')
  if [ "$mode" = prom ]; then
    cpu_scrapers=0 rss_scrapers=0 lag=0   # one process scrapes and stores: counted as the store
  else
    cpu_scrapers=$(awk -v b="$(msum "$b"/scraper.* '^process_cpu_seconds_total')" -v a="$(msum "$a"/scraper.* '^process_cpu_seconds_total')" 'BEGIN { print b - a }')
    rss_scrapers=$(msum "$b"/scraper.* '^process_resident_memory_bytes')
    lag=$(lag_of "$b"/scraper.*)
  fi
  p99=$(mmax "$b"/scraper.* "$p99_re")
  rss_store=$(msum "$b/store" '^process_resident_memory_bytes')
  disk=$(msum "$b/store" '^vm_data_size_bytes')
  stored=$(msum "$b/store" '^vm_rows[{]type="storage/')
  machine=$(awk -v b="$(cat "$b/machine")" -v a="$(cat "$a/machine")" -v t="$clk" 'BEGIN { print (b - a) / t }')
  ours=$(paste "$a/ours" "$b/ours" | awk '{ print ($3 - $1) + ($4 - $2) }')
  echo "$mode $n $per $series $dt $rows $cpu_store $cpu_scrapers $p99 $lag $rss_store $rss_scrapers $machine $ours $disk $stored" >>"$work/steps"
  stop_exporters
  # Deleted (stopped, the store's data copied back, removed) while the next step starts.
  "$bin" session delete "$id" >/dev/null &
  deleting=$!
}
deleting=

# within: whether a line of $work/steps (on stdin) was within the interval: p99 ≤ 1.1 ×
# INTERVAL and the store ingested ≥ 90 % of the offered samples.
within() {
  awk -v iv="$INTERVAL" '{ offered = $2 * ($3 + 5) / iv; print ($9 > 0 && $9 <= 1.1 * iv && $6 / $5 >= 0.9 * offered) ? "yes" : "no" }'
}

: >"$work/steps"
for mode in $SCRAPERS; do
  for step in $STEPS; do
    n=${step%x*}; per=${step#*x}
    echo "scrapers $mode: $n targets × $per series every ${INTERVAL}s…" >&2
    measure_step "$mode" "$n" "$per"
    [ "$(tail -n1 "$work/steps" | within)" = yes ] || break
  done
done
[ -n "$deleting" ] && wait "$deleting"

printf '\n## 1. Ingest (interval %s s, partition %s, settle %s s, measured over %s s)\n\n' "$INTERVAL" "$PARTITION" "$SETTLE" "$MEASURE"
printf '| scrapers | targets × series | offered samples/s | ingested samples/s | p99 interval s | remote-write lag s | scrapers µs CPU/sample | store µs CPU/sample | rest of machine, cores | within |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
awk -v iv="$INTERVAL" '{
  mode = $1; n = $2; per = $3; dt = $5; rows = $6; offered = n * (per + 5) / iv; rate = rows / dt
  ok = ($9 > 0 && $9 <= 1.1 * iv && rate >= 0.9 * offered)
  rest = ($13 - $7 - $8 - $14) / dt; if (rest < 0) rest = 0
  printf "| %s | %d × %d | %.0f | %.0f | %.3f | %s | %s | %.2f | %.2f | %s |\n", (mode == "prom" ? "Prometheus" : mode), n, per, offered, rate, $9,
    (mode == "prom" ? "–" : sprintf("%.2f", $10)), (mode == "prom" ? "–" : sprintf("%.2f", $8 / rows * 1e6)), $7 / rows * 1e6, rest, ok ? "yes" : "**no**"
}' "$work/steps"
printf '\nKnee (the last step within the interval):\n'
for mode in $SCRAPERS; do
  awk -v m="$mode" -v iv="$INTERVAL" '$1 == m {
    offered = $2 * ($3 + 5) / iv; rate = $6 / $5
    if ($9 > 0 && $9 <= 1.1 * iv && rate >= 0.9 * offered) { knee = rate; at = $2 " × " $3 } else { slipped = $2 " × " $3; exit } }
    END { printf "  %s: %s samples/s (%s)%s\n", (m == "prom" ? "Prometheus" : m " scraper(s)"), knee ? sprintf("%.0f", knee) : "none", knee ? at : "no step within",
      slipped ? "; slipped at " slipped : "; never slipped: add steps" }' "$work/steps"
done

printf '\n## 2. Memory and disk at the same steps\n\n'
printf '| scrapers | targets × series | active series | store RSS MB | store B/series | scrapers RSS MB | scrapers B/series | store data B/sample |\n'
printf '|---|---|---|---|---|---|---|---|\n'
awk '{
  mode = $1; s = $4
  printf "| %s | %d × %d | %d | %.0f | %.0f | %s | %s | %s |\n", (mode == "prom" ? "Prometheus" : mode), $2, $3, s, $11 / 1048576, $11 / s,
    (mode == "prom" ? "–" : sprintf("%.0f", $12 / 1048576)), (mode == "prom" ? "–" : sprintf("%.0f", $12 / s)),
    ($16 > 0 ? sprintf("%.2f", $15 / $16) : "–")
}' "$work/steps"
# Per series added from one step to the next: the base RSS of the processes drops out.
awk '{ if ($1 == m && $4 > s) printf "  %s, %d → %d series: store +%.0f B/series%s\n", ($1 == "prom" ? "Prometheus" : $1 " scraper(s)"), s, $4, ($11 - r) / ($4 - s),
         ($1 == "prom" ? "" : sprintf(", scrapers +%.0f B/series", ($12 - q) / ($4 - s)))
       m = $1; s = $4; r = $11; q = $12 }' "$work/steps" | sed '1s/^/\nMarginal RSS:\n/'

# Per sample added from one step to the next: the processes' idle CPU drops out.
awk '{ if ($1 == m && $6 / $5 > r) printf "  %s, %.0f → %.0f samples/s: store %.2f µs/sample%s\n", ($1 == "prom" ? "Prometheus" : $1 " scraper(s)"), r, $6 / $5,
         ($7 / $5 - c) / ($6 / $5 - r) * 1e6, ($1 == "prom" ? "" : sprintf(", scrapers %.2f µs/sample", ($8 / $5 - q) / ($6 / $5 - r) * 1e6))
       m = $1; r = $6 / $5; c = $7 / $5; q = $8 / $5 }' "$work/steps" | sed '1s/^/\nMarginal CPU:\n/'

if [ "$COLLECT" = 0 ]; then printf '\n%d s in all.\n' $(( $(date +%s) - began )); exit 0; fi

# 3. Both topologies over the same exporters and window.
n=${COLLECT%x*}; per=${COLLECT#*x}
echo "collection: $n targets × $per series every ${COLLECT_INTERVAL}s, a prometheus and a victoriametrics session…" >&2
start_exporters "$n" "$per"
prom_id="collect-prom-$$"; vm_id="collect-vm-$$"
SESSIONS+=("$prom_id" "$vm_id")
prom_url=$(new_session "$prom_id" prometheus 0 "$COLLECT_INTERVAL")
vm_url=$(new_session "$vm_id" victoriametrics "$COLLECT_SCRAPERS" "$COLLECT_INTERVAL")
await_up "$prom_url" "$prom_id" "$n"
await_up "$vm_url" "$vm_id" "$n"
# The window ends one scrape interval and a second ago: both stores have its last scrape.
sleep $(( WINDOW + COLLECT_INTERVAL + 1 ))
end=$(( $(date +%s) - COLLECT_INTERVAL - 1 )); start=$(( end - WINDOW ))
: >"$work/collects"
for run in $(seq "$COLLECT_RUNS"); do
  for id in "$prom_id" "$vm_id"; do
    t0=$(date +%s.%N)
    "$bin" collect --session "$id" --start "$start" --end "$end" --json --allow-partial --quiet >"$work/out.json"
    t1=$(date +%s.%N)
    python3 - "$id" "$run" "$t0" "$t1" "$work/out.json" >>"$work/collects" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[5]))
d = r["bundle_dir"]
size = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(d) for f in fs)
parquet = os.path.join(d, "raw.parquet")
print(sys.argv[1], sys.argv[2], "%.3f" % (float(sys.argv[4]) - float(sys.argv[3])), r["raw_samples"],
      os.path.getsize(parquet) if os.path.exists(parquet) else 0, size)
PY
  done
done
series_prom=$(instant "$prom_url" "count({session=\"$prom_id\",job!=\"prometheus\"})")
series_vm=$(instant "$vm_url" "count({session=\"$vm_id\"})")
printf '\n## 3. Collection of the same %s s window, %s targets × %s series every %s s\n\n' "$WINDOW" "$n" "$per" "$COLLECT_INTERVAL"
printf '| store | run | series | raw samples | benchmon collect s | raw.parquet B/sample | bundle MB |\n'
printf '|---|---|---|---|---|---|---|\n'
awk -v p="$prom_id" -v sp="$series_prom" -v sv="$series_vm" -v k="$COLLECT_SCRAPERS" '{
  printf "| %s | %d | %d | %d | %.2f | %.2f | %.1f |\n", ($1 == p ? "Prometheus" : "VictoriaMetrics, " k " scrapers"), $2, ($1 == p ? sp : sv), $4, $3, $5 / $4, $6 / 1048576
}' "$work/collects"
printf '\n(Prometheus series exclude its self-scrape, which its bundle also holds.)\n'
for id in "$prom_id" "$vm_id"; do "$bin" session delete "$id" >/dev/null; done
stop_exporters
printf '\n%d s in all.\n' $(( $(date +%s) - began ))
