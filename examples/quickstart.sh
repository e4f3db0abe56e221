#!/usr/bin/env bash
# quickstart.sh — the main job end to end, from nothing: a single-node SLURM cluster on this
# machine, benchmon serving, a session whose Prometheus runs as a real SLURM job, a real node
# exporter registered, a CPU load measured inside a named window, the window collected into an
# artifact bundle, and the report's path printed.
#
#   examples/quickstart.sh
#
# Needs root on Debian 12 (the dev cluster installs SLURM, munge, Prometheus and the node
# exporter with apt when they are missing). Knobs:
#   QUICKSTART_DIR   where state and artifacts go (default ./benchmon-quickstart)
#   BENCHMON_PORT    the server's port (default 8002)
#   LOAD_SECONDS     length of the benchmark's CPU load (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${QUICKSTART_DIR:-$PWD/benchmon-quickstart}
port=${BENCHMON_PORT:-8002}
mkdir -p "$dir"

echo "== dev cluster"
slurm/dev-cluster.sh up

echo "== build"
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/benchmon

echo "== benchmon serve on 127.0.0.1:$port (log: $dir/serve.log)"
"$bin" serve --listen "127.0.0.1:$port" --state-dir "$dir/state" --artifacts-dir "$dir/artifacts" \
  --launcher slurm >"$dir/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/serve.log"; exit 1; }
  sleep 0.1
done

echo "== harness"
BENCHMON_BIN=$bin BENCHMON_URL=http://127.0.0.1:$port LOAD_SECONDS=${LOAD_SECONDS:-15} \
  examples/harness.sh

echo
echo "Artifacts are under $dir/artifacts; the server log is $dir/serve.log."
