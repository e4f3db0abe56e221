#!/usr/bin/env bash
#SBATCH --job-name=benchmon-example
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=00:10:00
#SBATCH --signal=B:USR1@60
#SBATCH --output=benchmon-example-%j.out
#
# An example benchmark job monitored by benchmon: the node's exporter is registered with the
# session, a named window covers the benchmark, and both are undone when the job ends — also
# on scancel or at the time limit (--signal above gives the benchmark a 60 s grace period).
#
#   benchmon session create bench-01 && benchmon session start bench-01 --wait
#   BENCHMON_SESSION=bench-01 sbatch examples/benchmark-job.sh
#   benchmon targets --session bench-01          # the job's client, while it runs
#   benchmon collect --session bench-01 --window benchmark-<jobid>
#
# sbatch passes the submitting shell's environment to the job. Knobs:
#   BENCHMON_SESSION     the session (required)
#   BENCHMON_URL         the benchmon server (default http://127.0.0.1:8002)
#   BENCHMON_BIN         the benchmon binary (default: benchmon on PATH)
#   BENCHMON_WRAP        slurm/benchmon-wrap.sh (default: under the directory sbatch ran in)
#   NODE_EXPORTER_PORT   port of the node's exporter to register (9100; empty: none)
#   BENCHMON_WINDOW      window name (default benchmark-$SLURM_JOB_ID)
#   LOAD_SECONDS         how long "the benchmark" (a CPU load) runs (20)
set -euo pipefail

# sbatch runs a copy of this script from its spool directory: find the wrapper by the submit dir.
wrap=${BENCHMON_WRAP:-${SLURM_SUBMIT_DIR:-.}/slurm/benchmon-wrap.sh}
seconds=${LOAD_SECONDS:-20}
cpus=${SLURM_CPUS_PER_TASK:-1}

args=(
  --window "${BENCHMON_WINDOW:-benchmark-${SLURM_JOB_ID:-local}}"
  --label benchmark=cpu-load
)
if [[ -n ${NODE_EXPORTER_PORT-9100} ]]; then
  args+=(--exporter "node=${NODE_EXPORTER_PORT:-9100}")
fi

# "The benchmark": stress-ng when installed, else sha256 of /dev/zero on each CPU for a while.
if command -v stress-ng >/dev/null; then
  load=(stress-ng --cpu "$cpus" --timeout "${seconds}s" --metrics-brief)
else
  # --foreground keeps timeout in the job's process group: the wrapper ends the command's group
  # on scancel, and a timeout in a group of its own (its default) would outlive the job.
  # shellcheck disable=SC2016 # expanded by the inner bash
  load=(bash -c '
    for ((i = 0; i < $2; i++)); do timeout --foreground "$1" sha256sum /dev/zero & done
    wait
    echo "cpu load: $2 x sha256sum for $1 s"
  ' cpu-load "$seconds" "$cpus")
fi

# exec: the wrapper becomes the batch shell, so it gets --signal's USR1 and scancel's TERM.
exec "$wrap" "${args[@]}" -- "${load[@]}"
