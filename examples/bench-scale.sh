#!/usr/bin/env bash
# Benchmark: raw samples at scale — `benchmon export --raw` against curl fetching the same samples.
#
# Backfills a Prometheus TSDB with node-exporter-like synthetic data (NODES × PER_NODE series of
# 5 metrics, one sample every STEP s for MINUTES; default 100 × 200 × 5 = 100,000 series,
# 10 min at 15 s = 4.1 M samples) with `promtool tsdb create-blocks-from openmetrics`, starts
# Prometheus on it and prints, side by side in one run:
#   curl remote read   — POST /api/v1/read (STREAMED_XOR_CHUNKS) of every series, body to
#                        /dev/null: Prometheus's own serving of the raw data, the floor;
#   curl JSON pieces   — the same samples as range-vector queries (/api/v1/query of SEL[range]),
#                        cut into pieces of at most 25 M samples (half the default
#                        --query.max-samples), bodies to /dev/null;
#   benchmon parquet   — `benchmon export --raw SEL` (the default path: remote read, raw.parquet,
#                        manifest with sha256, fsync);
#   benchmon csv       — the same with --format csv (raw.csv + raw_series.csv).
# Each is run RUNS times (default 3): median wall time, largest peak RSS (GNU time), samples/s,
# the client's CPU (user + sys) per sample and, for benchmon, bytes per sample of the raw file.
# Short series are the hard case (each costs Prometheus an index lookup and benchmon a row of
# strings); `MINUTES=20 STEP=5` gives 241 samples per series, the shape of a 20-minute window
# of a 5 s session.
#
# Needs: promtool and prometheus (apt-get install prometheus), curl, python3, GNU time
# (apt-get install time), mawk, cargo.
# Usage: examples/bench-scale.sh   (env: NODES PER_NODE MINUTES STEP RUNS, KEEP=1 keeps the work dir)
set -euo pipefail

RUNS=${RUNS:-3}
NODES=${NODES:-100}
PER_NODE=${PER_NODE:-200}
MINUTES=${MINUTES:-10}
STEP=${STEP:-15}
PORT=${PORT:-19191}

source "$(dirname "$0")/bench-common.sh"
bench_setup promtool prometheus curl python3 /usr/bin/time cargo mawk

# Midnight UTC five days ago: in the past, so Prometheus serves it from the backfilled blocks.
start=$(( $(date -u +%s) / 86400 * 86400 - 5 * 86400 ))
end=$(( start + MINUTES * 60 ))
series=$(( NODES * PER_NODE * 5 ))
samples=$(( series * (MINUTES * 60 / STEP + 1) ))

echo "generating ${series} series × $(( MINUTES * 60 / STEP + 1 )) samples = ${samples} samples…" >&2
mawk -v start="$start" -v minutes="$MINUTES" -v step="$STEP" -v nodes="$NODES" -v per="$PER_NODE" 'BEGIN {
  n = minutes * 60 / step
  split("bench_cpu_seconds counter cpu|bench_mem_bytes gauge numa|bench_net_bytes counter device|bench_errors counter device|bench_temp_celsius gauge sensor", fams, "|")
  for (f = 1; f <= 5; f++) {
    split(fams[f], p, " "); name = p[1]; typ = p[2]; lab = p[3]
    printf "# TYPE %s %s\n", name, typ
    sname = (typ == "counter") ? name "_total" : name
    for (nd = 1; nd <= nodes; nd++) for (d = 0; d < per; d++) {
      key = sprintf("%s{instance=\"node-%03d:9100\",job=\"node\",%s=\"%d\"}", sname, nd, lab, d); c = 0
      for (i = 0; i <= n; i++) {
        # Counters grow irregularly (errors rarely), gauges move a little; scrapes jitter 0–3 ms.
        if (name == "bench_errors") { if ((nd + d + i) % 97 == 0) c += 1; v = c }
        else if (typ == "counter") { c += ((nd * 7 + d * 13 + i * 31) % 1000) / 100; v = c }
        else v = sprintf("%.1f", ((nd * 31 + d * 17 + int(i / 4) * 7) % 1000) / 10)
        printf "%s %s %d.%03d\n", key, v, start + i * step, (nd + i) % 4
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
  --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$PORT" \
  >"$work/prometheus.log" 2>&1 &
PIDS+=($!)
url="http://127.0.0.1:$PORT"
for _ in $(seq 1 600); do curl -sf "$url/-/ready" >/dev/null && break; sleep 0.2; done
curl -sf "$url/-/ready" >/dev/null || { echo "prometheus did not start" >&2; cat "$work/prometheus.log" >&2; exit 1; }

selector='{job="node"}'
# The remote-read request for job="node" over the window.
python3 "$repo/examples/remote-read-request.py" "$work/read.bin" $(( start * 1000 )) $(( end * 1000 )) job = node

# JSON pieces: series × scrapes per piece ≤ 25 M.
per_series=$(( MINUTES * 60 / STEP + 1 ))
piece_scrapes=$(( 25000000 / series )); (( piece_scrapes < 1 )) && piece_scrapes=1
piece_s=$(( piece_scrapes * STEP ))
json_pieces() {
  local t=$start from
  while (( t < end )); do
    from=$t; t=$(( t + piece_s )); (( t > end )) && t=$end
    # Closed range [from, t]: the first piece includes `start`, later ones begin 1 ms after.
    local range_ms=$(( (t - from) * 1000 + ( from == start ? 0 : -1 ) ))
    curl -sf -o /dev/null --data-urlencode "query=${selector}[${range_ms}ms]" --data-urlencode "time=$t" "$url/api/v1/query"
  done
}

measure() { # name, command…: prints "name median_wall_s largest_rss_kb median_cpu_s"
  local name=$1; shift
  local walls=() cpus=() rss=0 wall r user sys
  for _ in $(seq 1 "$RUNS"); do
    /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" >/dev/null 2>"$work/err" ||
      { echo "$name failed:" >&2; cat "$work/err" >&2; exit 1; }
    read -r wall r user sys <"$work/time"
    walls+=("$wall"); (( r > rss )) && rss=$r
    cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u + s}')")
  done
  local mid=$(( (RUNS + 1) / 2 ))
  echo "$name $(printf '%s\n' "${walls[@]}" | sort -n | sed -n "${mid}p") $rss $(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "${mid}p")"
}

export -f json_pieces
export start end piece_s selector url
results=()
results+=("$(measure curl-remote-read curl -sf -o /dev/null --data-binary @"$work/read.bin" \
  -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: snappy' \
  -H 'X-Prometheus-Remote-Read-Version: 0.1.0' "$url/api/v1/read")")
results+=("$(measure curl-json-pieces bash -c json_pieces)")
for fmt in parquet csv; do
  results+=("$(measure "benchmon-$fmt" bash -c "rm -rf '$work/out-$fmt' && '$bin' export --prometheus '$url' \
    --start $start --end $end --raw '$selector' --format $fmt --out '$work/out-$fmt' --name b --json")")
done
bytes_of() { # the raw file of the last run of a format
  case $1 in
    benchmon-parquet) stat -c %s "$work/out-parquet/b/raw.parquet" ;;
    benchmon-csv) stat -c %s "$work/out-csv/b/raw.csv" ;;
    *) echo "" ;;
  esac
}
# The samples in the window as benchmon counted them (the generator's count includes samples
# a few ms past the end, which no path reads).
samples=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["raw"]["samples"])' \
  "$work/out-parquet/b/MANIFEST.json")
printf '\n%s series, %s samples, %s runs (median wall, largest peak RSS, median CPU of the client)\n' "$series" "$samples" "$RUNS"
printf '| %-17s | %7s | %12s | %8s | %11s | %9s |\n' path "wall s" "samples/s" "RSS MB" "B/sample" "CPU ns/s"
printf '|%s|%s|%s|%s|%s|%s|\n' -------------------  --------- -------------- ---------- ------------- -----------
for r in "${results[@]}"; do
  read -r name wall rss cpu <<<"$r"
  b=$(bytes_of "$name")
  bps=$([ -n "$b" ] && awk -v b="$b" -v s="$samples" 'BEGIN{printf "%.2f", b/s}' || echo "-")
  awk -v n="$name" -v w="$wall" -v r="$rss" -v s="$samples" -v bps="$bps" \
    -v c="$cpu" 'BEGIN{printf "| %-17s | %7.2f | %12.0f | %8.1f | %11s | %9.0f |\n", n, w, s/w, r/1024, bps, c*1e9/s}'
done
