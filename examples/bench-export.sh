#!/usr/bin/env bash
# Benchmark: `benchmon export` against curl fetching the same query_range responses.
#
# Backfills a Prometheus TSDB with synthetic data (50 nodes × 11 series × 5 metrics, every 15 s,
# 12 h), starts Prometheus on it, then for a 6 h window (5 queries, ≈4 M samples) and a 12 h
# window (≈8 M samples) prints wall time and peak RSS of:
#   curl      — the 5 query_range requests one after the other, bodies to /dev/null: Prometheus's
#               own serving time, the floor for any collector;
#   benchmon  — `benchmon export` of the same 5 queries into a bundle (CSV, JSON, KPIs, report,
#               manifest with sha256, fsync).
# Each is run RUNS times (default 3); the median wall time, the largest RSS and benchmon's median
# CPU time (user + system) per sample are shown: on 2 cores that CPU competes with Prometheus.
#
# Needs: promtool and prometheus (apt-get install prometheus), curl, GNU time (apt-get install
# time), cargo. Usage: examples/bench-export.sh   (env: RUNS=3 KEEP=1 to keep the work dir)
set -euo pipefail

RUNS=${RUNS:-3}
NODES=50
PER_NODE=11
HOURS=12
STEP=15
PORT=${PORT:-19190}

source "$(dirname "$0")/bench-common.sh"
bench_setup promtool prometheus curl /usr/bin/time cargo mawk

# Midnight UTC five days ago: in the past, so Prometheus serves it from the backfilled blocks.
start=$(( $(date -u +%s) / 86400 * 86400 - 5 * 86400 ))

echo "generating ${NODES} nodes × ${PER_NODE} series × 5 metrics × ${HOURS} h at ${STEP} s…" >&2
mawk -v start="$start" -v hours="$HOURS" -v step="$STEP" -v nodes="$NODES" -v per="$PER_NODE" 'BEGIN {
  n = hours * 3600 / step
  split("bench_cpu_usage gauge cpu|bench_mem_used_bytes gauge numa|bench_net_bytes counter device|bench_disk_bytes counter device|bench_gpu_temp_celsius gauge gpu", fams, "|")
  for (f = 1; f <= 5; f++) {
    split(fams[f], p, " "); name = p[1]; typ = p[2]; lab = p[3]
    printf "# TYPE %s %s\n", name, typ
    sname = (typ == "counter") ? name "_total" : name
    for (nd = 1; nd <= nodes; nd++) for (d = 0; d < per; d++) {
      key = sprintf("%s{node=\"node-%02d\",%s=\"%d\"}", sname, nd, lab, d); c = 0
      for (i = 0; i <= n; i++) {
        if (typ == "counter") { c += (nd * 7 + d * 13 + i) % 1000; v = c }
        else v = sprintf("%.3f", ((nd * 31 + d * 17 + i * 7) % 1000) / 10)
        printf "%s %s %d\n", key, v, start + i * step
      }
    }
  }
  print "# EOF"
}' > "$work/data.om"
echo "backfilling with promtool…" >&2
promtool tsdb create-blocks-from openmetrics "$work/data.om" "$work/tsdb" >/dev/null
rm -f "$work/data.om"

echo "global: {}" > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$PORT" >"$work/prometheus.log" 2>&1 &
PIDS+=($!)
url="http://127.0.0.1:$PORT"
for _ in $(seq 300); do curl -sf "$url/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "$url/-/ready" >/dev/null || { echo "prometheus did not start" >&2; cat "$work/prometheus.log" >&2; exit 1; }

queries=(cpu=bench_cpu_usage mem=bench_mem_used_bytes net=bench_net_bytes_total disk=bench_disk_bytes_total gpu=bench_gpu_temp_celsius)

# Runs "$@" under GNU time; prints "wall_seconds max_rss_kb cpu_seconds".
measure() {
  /usr/bin/time -f "%e %M %U %S" -o "$work/time.out" "$@" >/dev/null
  read -r w r u s <"$work/time.out"
  echo "$w $r $(awk -v u="$u" -v s="$s" 'BEGIN{print u + s}')"
  cat "$work/time.out"
}

# The curl side: the same requests, one after the other, bodies to /dev/null.
{
  echo 'set -e'
  for q in "${queries[@]}"; do
    echo "curl -sf -o /dev/null --data-urlencode 'query=${q#*=}' -d \"start=\$1\" -d \"end=\$2\" -d step=$STEP '$url/api/v1/query_range'"
  done
} > "$work/curl-all.sh"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_case() { # label hours
  local label=$1 end=$(( start + $2 * 3600 ))
  local cw=() cr=() bw=() br=() bc=() samples=
  # Warm Prometheus's caches once, so neither side pays for the first read.
  bash "$work/curl-all.sh" "$start" "$end"
  for _ in $(seq "$RUNS"); do
    read -r w r _ < <(measure bash "$work/curl-all.sh" "$start" "$end")
    cw+=("$w"); cr+=("$r")
    rm -rf "$work/out"
    args=(export --prometheus "$url" --start "$start" --end "$end" --step "${STEP}s" --out "$work/out" --name bench)
    for q in "${queries[@]}"; do args+=(--query "$q"); done
    read -r w r c < <(measure "$bin" "${args[@]}")
    bw+=("$w"); br+=("$r"); bc+=("$c")
    samples=$(grep -o '"samples": [0-9]*' "$work/out/bench/MANIFEST.json" | tail -1 | grep -o '[0-9]*')
    bundle_mb=$(du -sm "$work/out/bench" | cut -f1)
  done
  local cwm bwm crm brm cwb bwb bcm
  cwm=$(printf '%s\n' "${cw[@]}" | median); bwm=$(printf '%s\n' "${bw[@]}" | median)
  cwb=$(printf '%s\n' "${cw[@]}" | sort -n | head -1); bwb=$(printf '%s\n' "${bw[@]}" | sort -n | head -1)
  bcm=$(printf '%s\n' "${bc[@]}" | median)
  crm=$(printf '%s\n' "${cr[@]}" | sort -n | tail -1); brm=$(printf '%s\n' "${br[@]}" | sort -n | tail -1)
  awk -v l="$label" -v s="$samples" -v cw="$cwm" -v cr="$crm" -v bw="$bwm" -v br="$brm" -v mb="$bundle_mb" \
      -v cb="$cwb" -v bb="$bwb" -v bc="$bcm" 'BEGIN {
    printf "%-6s %9d  %5.2f (%4.2f) %6.1f   %5.2f (%4.2f) %9.1f  %5.2fx (%4.2fx) %7d %8.0f\n",
      l, s, cw, cb, cr / 1024, bw, bb, br / 1024, bw / cw, bb / cb, mb, bc * 1e9 / s
  }'
}

echo
echo "5 query_range requests, step ${STEP}s, ${NODES} nodes × ${PER_NODE} series per metric"
echo "wall seconds: median (best) of $RUNS runs; peak RSS: largest of the runs"
printf "%-6s %9s  %-13s %6s   %-13s %9s  %-14s %7s %8s\n" window samples "curl s" "MB" "benchmon s" "MB" "ratio" "bundle" "ns/smpl"
run_case 6h 6
run_case 12h 12
echo
echo "targets: benchmon ≤ 1.2× curl to /dev/null, peak RSS ≤ 64 MB and flat from 6 h to 12 h;"
echo "ns/smpl is benchmon's CPU (user + system) per sample"
