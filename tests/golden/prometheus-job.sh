#!/bin/bash
#SBATCH --job-name=benchmon-benchmark-01
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --partition=cpu
#SBATCH --time=02:00:00
#SBATCH --signal=B:TERM@60
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
job_output='/shared/benchmon state/sessions/benchmark-01/job.out'
fixed_port=0
node=$(hostname -s)

# Whether something accepts connections on local TCP port $1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Process $1 and its descendants: a binary that is a wrapper and does not exec (a container
# runtime, say) leaves Prometheus its child. Without `ps`, just $1.
process_tree() {
    ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            tree[root] = 1
            do {
                grew = 0
                for (p in parent) if (!(p in tree) && (parent[p] in tree)) { tree[p] = 1; grew = 1 }
            } while (grew)
            for (p in tree) print p
        }' || echo "$1"
}

# Whether process $1 or a descendant holds a socket listening on TCP port $2 (from /proc: no
# ss or lsof needed).
owns_listener() {
    local hex inode pid fd
    hex=$(printf '%04X' "$2")
    for inode in $(awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
        for pid in $(process_tree "$1"); do
            for fd in /proc/"$pid"/fd/*; do
                if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then return 0; fi
            done
        done
    done
    return 1
}

# Waits until process $1 (Prometheus) listens on port $2 (status 0) or has exited (status 1).
# Someone else listening there does not count: that is a lost race, and ours is about to exit.
await_listener() {
    local unreadable=0
    while kill -0 "$1" 2>/dev/null; do
        if owns_listener "$1" "$2"; then return 0; fi
        # A process whose file descriptors we may not read (one with file capabilities is not
        # dumpable): the port answering for 2 s while it lives is all there is to go on (one
        # that lost the race is gone within milliseconds).
        if [ -e "/proc/$1/fd" ] && [ ! -r "/proc/$1/fd" ] && listening "$2"; then
            unreadable=$((unreadable + 1))
        else
            unreadable=0
        fi
        if [ "$unreadable" -ge 20 ]; then return 0; fi
        sleep 0.1
    done
    return 1
}

# A picked port comes from below the kernel's ephemeral range: a port that is the local end of
# some outgoing connection refuses the probe above yet still fails Prometheus's bind.
read -r ephemeral_low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral_low=32768
if [ "$ephemeral_low" -gt 11000 ]; then
    port_low=10000 port_span=$(( ephemeral_low - 10000 ))
else
    # An unusual kernel setting leaves no room below it: collisions are then left to the retry.
    port_low=20000 port_span=40000
fi
pick_port() {
    local p
    for _ in $(seq 1 100); do
        p=$(( port_low + (RANDOM * 32768 + RANDOM) % port_span ))
        if ! listening "$p"; then
            echo "$p"
            return 0
        fi
    done
    echo "benchmon: no free port found on $node" >&2
    return 1
}

# Writes a file atomically (temp name, then rename): benchmon may read it at any moment.
publish() {
    printf "$2" "${@:3}" > "$runtime_dir/.$1.tmp"
    mv -f "$runtime_dir/.$1.tmp" "$runtime_dir/$1"
}

# Stop requests (scancel, a time limit, benchmon's stop) go to Prometheus, which then flushes its
# head block and exits; this script follows with Prometheus's exit status.
stopping=0
interrupted=0
prom_pid=
vmalert_pid=
stop_prometheus() {
    stopping=1
    interrupted=1
    if [ -n "$vmalert_pid" ]; then kill -TERM "$vmalert_pid" 2>/dev/null || true; fi
    if [ -n "$prom_pid" ]; then kill -TERM "$prom_pid" 2>/dev/null || true; fi
}
trap stop_prometheus TERM INT

mkdir -p "$runtime_dir"
cd "$session_dir"
tsdb='/shared/benchmon state/sessions/benchmark-01/tsdb'

# The TSDB lives on the node's own disk while Prometheus runs (Prometheus does not support
# NFS/Lustre for it), seeded from and copied back to the session directory, where collections
# after the job read it. The copy back runs when this script exits: after a stop, scancel, or
# the time limit's early TERM (--signal), once Prometheus has flushed and exited.
tsdb_shared=$tsdb
local_root=${TMPDIR:-/tmp}
tsdb="$local_root/benchmon-benchmark-01-${SLURM_JOB_ID:-local-$$}"
mkdir -p "$tsdb"
if [ -d "$tsdb_shared" ]; then cp -a "$tsdb_shared/." "$tsdb/"; fi
# Quiet when it works: the job's last output line is the failure reason benchmon reports.
copy_back() {
    [ -d "$tsdb" ] || return 0
    # No Prometheus ran (a port in use, a stop before the start): nothing new to keep.
    if [ -z "$prom_pid" ]; then rm -rf "$tsdb"; return 0; fi
    rm -rf "$tsdb_shared.incoming"
    # A complete copy under another name first: an interrupted copy never looks like the TSDB.
    if cp -a "$tsdb" "$tsdb_shared.incoming"; then
        rm -rf "$tsdb_shared.old"
        if [ -d "$tsdb_shared" ]; then mv "$tsdb_shared" "$tsdb_shared.old"; fi
        mv "$tsdb_shared.incoming" "$tsdb_shared"
        rm -rf "$tsdb_shared.old" "$tsdb"
    else
        echo "benchmon: copying the TSDB back failed; it stays in $tsdb on $node" >&2
    fi
}
trap copy_back EXIT
if [ "$fixed_port" -gt 0 ]; then
    if listening "$fixed_port"; then
        echo "benchmon: port $fixed_port on $node is already in use; choose another prometheus_port or let benchmon pick one" >&2
        exit 1
    fi
    attempts=1
else
    attempts=5
fi

# Probing a port and binding it are not atomic: when another process wins the race for a picked
# port, a new one is picked. The endpoint is published only once Prometheus itself listens.
# From here on every status is handled explicitly (no `set -e`): a stop signal reaches every
# process of the job, helpers like `mv` and `sleep` included, and must never make this script
# leave before Prometheus has shut down.
set +e
for attempt in $(seq 1 "$attempts"); do
    if [ "$stopping" = 1 ]; then exit 143; fi
    if [ "$fixed_port" -gt 0 ]; then port=$fixed_port; else port=$(pick_port) || exit 1; fi
    publish self.json '[{"targets":["localhost:%s"]}]\n' "$port"
    # Only this attempt's output tells whether it lost the port.
    output_before=$(stat -c %s "$job_output" 2>/dev/null || echo 0)
    echo "benchmon: starting Prometheus on $node:$port (attempt $attempt of $attempts)"
    '/opt/prometheus/bin/prometheus' \
        --config.file='/shared/benchmon state/sessions/benchmark-01/prometheus.yml' \
        --storage.tsdb.path="$tsdb" \
        --storage.tsdb.retention.time=30d \
        '--query.max-samples=1000000' \
        '--log.level=it'\''s' \
        --web.enable-lifecycle \
        --web.enable-remote-write-receiver \
        --web.listen-address="0.0.0.0:$port" &
    prom_pid=$!
    if await_listener "$prom_pid" "$port"; then
        publish endpoint 'port=%s\nnode=%s\njob=%s\n' "$port" "$node" "${SLURM_JOB_ID:-local-$$}"
        break
    fi
    wait "$prom_pid"
    status=$?
    if [ "$stopping" = 1 ] || [ "$attempt" = "$attempts" ] ||
        ! grep -q "bind: address already in use" < <(tail -c +$((output_before + 1)) "$job_output" 2>/dev/null); then
        exit "$status"
    fi
done

# Prometheus's exit status is the job's. `wait` returns early (status > 128) when a trapped
# signal arrives, so wait again after one; a wait on a child already collected answers 127, and
# then the status before it was the real one.
status=
while :; do
    interrupted=0
    wait "$prom_pid"
    rc=$?
    if [ "$rc" = 127 ] && [ -n "$status" ]; then break; fi
    status=$rc
    if [ "$interrupted" = 0 ]; then break; fi
done
exit "$status"
