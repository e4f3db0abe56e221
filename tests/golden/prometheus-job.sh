#!/bin/bash
#SBATCH --job-name=benchmon-benchmark-01
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --partition=cpu
#SBATCH --time=02:00:00
#SBATCH --account=proj-1
#SBATCH --qos=normal
#SBATCH --constraint=gpu&a100
#SBATCH --nodelist=node[01-02]
#
# Prometheus for benchmon session benchmark-01, rendered by benchmon 0.1.0.
# The same script runs under sbatch (SLURM launcher) and under bash (local launcher).
# The session directory must be on a filesystem that benchmon's host and the compute node share:
# the job reads its config there and reports its port back there.
set -euo pipefail

session_dir='/shared/benchmon state/sessions/benchmark-01'
runtime_dir='/shared/benchmon state/sessions/benchmark-01/runtime'
fixed_port=0

# A port nobody listens on. Probing and binding are not atomic; if another process wins the
# race, Prometheus exits with "address already in use" and the session fails with that output.
pick_port() {
    local p
    for _ in $(seq 1 100); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "benchmon: no free port found" >&2
    return 1
}

if [ "$fixed_port" -gt 0 ]; then port=$fixed_port; else port=$(pick_port); fi
node=$(hostname -s)

# Report back atomically (write, then rename): benchmon reads these once the job runs.
mkdir -p "$runtime_dir"
printf '[{"targets":["localhost:%s"]}]\n' "$port" > "$runtime_dir/.self.json.tmp"
mv -f "$runtime_dir/.self.json.tmp" "$runtime_dir/self.json"
printf 'port=%s\nnode=%s\njob=%s\n' "$port" "$node" "${SLURM_JOB_ID:-local-$$}" > "$runtime_dir/.endpoint.tmp"
mv -f "$runtime_dir/.endpoint.tmp" "$runtime_dir/endpoint"
echo "benchmon: starting Prometheus on $node:$port"

cd "$session_dir"
exec '/opt/prometheus/bin/prometheus' \
    --config.file='/shared/benchmon state/sessions/benchmark-01/prometheus.yml' \
    --storage.tsdb.path='/shared/benchmon state/sessions/benchmark-01/tsdb' \
    --storage.tsdb.retention.time=30d \
    '--query.max-samples=1000000' \
    '--log.level=it'\''s' \
    --web.listen-address="0.0.0.0:$port" \
    --web.enable-lifecycle
