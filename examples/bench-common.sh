# Sourced by the bench-*.sh scripts: checks their tools, builds the release binary, makes a work
# directory, and on exit ends the processes they started (PIDS) and removes it (unless KEEP=1).

# bench_setup TOOL…: sets repo, bin and work.
bench_setup() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      { echo "missing $tool (apt-get install prometheus prometheus-node-exporter curl python3 time mawk)" >&2; exit 1; }
  done
  repo=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
  local target=${CARGO_TARGET_DIR:-$repo/target}
  echo "building benchmon (release)…" >&2
  (cd "$repo" && cargo build --release --quiet)
  bin=$target/release/benchmon
  work=$(mktemp -d)
  PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    { kill "$pid" && wait "$pid"; } 2>/dev/null || true
  done
  [ "${KEEP:-0}" = 1 ] && echo "work dir kept: $work" >&2 || rm -rf "$work"
  exit "$rc"
}
