#!/bin/bash
#SBATCH --job-name=benchmon-{{ inputs.run_id }}{{ job_suffix }}
#SBATCH --ntasks=1
#SBATCH --cpus-per-task={{ cpus_per_task }}
{%- if let Some(m) = mem_mb %}
#SBATCH --mem={{ m }}M
{%- endif %}
{%- if let Some(v) = inputs.resources.partition %}
#SBATCH --partition={{ v }}
{%- endif %}
{%- if let Some(v) = inputs.resources.time_limit %}
#SBATCH --time={{ v }}
{%- if inputs.node_local %}
#SBATCH --signal=B:TERM@{{ copy_grace_s }}
{%- endif %}
{%- endif %}
{%- if let Some(v) = inputs.resources.account %}
#SBATCH --account={{ v }}
{%- endif %}
{%- if let Some(v) = inputs.resources.qos %}
#SBATCH --qos={{ v }}
{%- endif %}
{%- if let Some(v) = inputs.resources.constraint %}
#SBATCH --constraint={{ v }}
{%- endif %}
{%- if let Some(v) = inputs.resources.nodelist %}
#SBATCH --nodelist={{ v }}
{%- endif %}
#
# Prometheus for benchmon session {{ inputs.run_id }}, rendered by benchmon {{ version }}.
# The same script runs under sbatch (SLURM launcher) and under bash (local launcher).
# The session directory must be on a filesystem that benchmon's host and the compute node share:
# the job reads its config there and reports its port back there.
set -euo pipefail

session_dir={{ session_dir|shell }}
runtime_dir={{ runtime_dir|shell }}
job_output={{ job_output|shell }}
fixed_port={{ port }}
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
{%- if let Some(va) = inputs.vmalert %}

# vmalert evaluates the session's rules (and the site's rule packs) against this store: it
# reads through the query API, writes ALERTS, ALERTS_FOR_STATE and recorded series back with
# the session's labels, and restores alert state from the store after a restart. It has no
# notifier: collections read the alerts from the store. Its port is published with the
# store's, for `PUT …/rules` to ask it to reload.
rules_port=
start_vmalert() {
    local attempt output_before
    printf 'static_configs: []\n' > "$runtime_dir/vmalert-notifier.yml"
    for attempt in 1 2 3 4 5; do
        if [ "$stopping" = 1 ]; then return 1; fi
        rules_port=$(pick_port) || return 1
        output_before=$(stat -c %s "$job_output" 2>/dev/null || echo 0)
        echo "benchmon: starting vmalert on $node:$rules_port (attempt $attempt of 5)"
       {% for w in va.command %} {{ w|shell }}{% endfor %} \
{%- for f in va.rule_files %}
            -rule={{ f|shell }} \
{%- endfor %}
            -datasource.url="http://127.0.0.1:$port" \
            -remoteWrite.url="http://127.0.0.1:$port" \
            -remoteRead.url="http://127.0.0.1:$port" \
            -remoteWrite.flushInterval=1s \
            -evaluationInterval={{ vmalert_interval }} \
{%- for l in va.external_labels %}
            -external.label={{ l|shell }} \
{%- endfor %}
            -disableAlertgroupLabel \
            -notifier.config="$runtime_dir/vmalert-notifier.yml" \
            -httpListenAddr="0.0.0.0:$rules_port" &
        vmalert_pid=$!
        if await_listener "$vmalert_pid" "$rules_port"; then return 0; fi
        wait "$vmalert_pid"
        vmalert_pid=
        if ! grep -q "address already in use" < <(tail -c +$((output_before + 1)) "$job_output" 2>/dev/null); then
            return 1
        fi
    done
    return 1
}
{%- endif %}

mkdir -p "$runtime_dir"
cd "$session_dir"
tsdb={{ tsdb_dir|shell }}
{%- if inputs.node_local %}

# The TSDB lives on the node's own disk while Prometheus runs (Prometheus does not support
# NFS/Lustre for it), seeded from and copied back to the session directory, where collections
# after the job read it. The copy back runs when this script exits: after a stop, scancel, or
# the time limit's early TERM (--signal), once Prometheus has flushed and exited.
tsdb_shared=$tsdb
{%- match inputs.local_dir %}
{%- when Some with (dir) %}
local_root={{ dir|shell }}
{%- when None %}
local_root=${TMPDIR:-/tmp}
{%- endmatch %}
tsdb="$local_root/benchmon-{{ inputs.run_id }}-${SLURM_JOB_ID:-local-$$}"
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
{%- endif %}
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
   {% for w in inputs.prometheus_command %} {{ w|shell }}{% endfor %} \
{%- if is_vm %}
        -storageDataPath="$tsdb" \
{%- if let Some(r) = vm_retention %}
        -retentionPeriod={{ r }} \
{%- endif %}
        -search.latencyOffset=0s \
{%- for a in inputs.extra_args %}
        {{ a|shell }} \
{%- endfor %}
        -httpListenAddr="0.0.0.0:$port" &
{%- else %}
        --config.file={{ config_file|shell }} \
{%- if is_agent %}
        --enable-feature=agent \
        --storage.agent.path="$tsdb" \
{%- else %}
        --storage.tsdb.path="$tsdb" \
{%- if let Some(r) = inputs.retention %}
        --storage.tsdb.retention.time={{ r }} \
{%- endif %}
{%- endif %}
{%- for a in inputs.extra_args %}
        {{ a|shell }} \
{%- endfor %}
{%- if inputs.enable_lifecycle %}
        --web.enable-lifecycle \
{%- endif %}
        --web.enable-remote-write-receiver \
        --web.listen-address="0.0.0.0:$port" &
{%- endif %}
    prom_pid=$!
    if await_listener "$prom_pid" "$port"; then
{%- if inputs.vmalert.is_some() %}
        if ! start_vmalert; then
            kill -TERM "$prom_pid" 2>/dev/null
            while kill -0 "$prom_pid" 2>/dev/null; do wait "$prom_pid"; done
            # Last: the job's last output line is the failure reason benchmon reports.
            echo "benchmon: vmalert did not start on $node; the session's rules would not be evaluated, so the store stopped" >&2
            exit 1
        fi
        publish endpoint 'port=%s\nnode=%s\njob=%s\nrules_port=%s\n' "$port" "$node" "${SLURM_JOB_ID:-local-$$}" "$rules_port"
{%- else %}
        publish endpoint 'port=%s\nnode=%s\njob=%s\n' "$port" "$node" "${SLURM_JOB_ID:-local-$$}"
{%- endif %}
        break
    fi
    wait "$prom_pid"
    status=$?
    if [ "$stopping" = 1 ] || [ "$attempt" = "$attempts" ] ||
        ! grep -q "bind: address already in use" < <(tail -c +$((output_before + 1)) "$job_output" 2>/dev/null); then
        exit "$status"
    fi
done

{%- if inputs.vmalert.is_some() %}

# The store and vmalert end together. vmalert ending on its own stops the store and fails the
# job, saying so: a session whose rules are no longer evaluated must not look healthy.
while [ "$stopping" = 0 ]; do
    wait -n -p ended "$prom_pid" "$vmalert_pid"
    rc=$?
    # No pid (`wait` unsets the variable first): a trapped signal interrupted the wait, and
    # the stop is under way.
    ended=${ended:-}
    if [ -z "$ended" ]; then continue; fi
    if [ "$ended" = "$vmalert_pid" ]; then
        vmalert_pid=
        kill -TERM "$prom_pid" 2>/dev/null
        while kill -0 "$prom_pid" 2>/dev/null; do wait "$prom_pid"; done
        echo "benchmon: vmalert exited with status $rc on $node; the session's rules are no longer evaluated, so the store stopped" >&2
        exit 1
    fi
    # The store ended: vmalert has nothing left to evaluate against.
    kill -TERM "$vmalert_pid" 2>/dev/null
    while kill -0 "$vmalert_pid" 2>/dev/null; do wait "$vmalert_pid"; done
    exit "$rc"
done
{%- endif %}

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
{%- if inputs.vmalert.is_some() %}
# vmalert was asked to stop with the store; its last results may still be on their way.
while [ -n "$vmalert_pid" ] && kill -0 "$vmalert_pid" 2>/dev/null; do wait "$vmalert_pid"; done
{%- endif %}
exit "$status"
