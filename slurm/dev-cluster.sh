#!/usr/bin/env bash
# dev-cluster.sh — bring up / tear down a real SLURM cluster on this machine
# (Debian 12, root, no systemd) for benchmon's integration tests: one node by
# default, or N nodes, N-1 of them each a slurmd in its own network and UTS
# namespace on a private subnet.
#
# Usage: slurm/dev-cluster.sh up [--nodes N] | down | status
#                            | node-down NAME | node-kill NAME | node-up NAME
#   up      install packages if missing, configure munge + slurm, start
#           munged, slurmctld, slurmd and wait until every node is usable.
#           Idempotent: when everything is already up it only verifies.
#           --nodes N (N >= 2) adds N-1 compute nodes bmnode1..: each a slurmd
#           in network namespace bmnodeI (veth bmvethI on bridge bmdev0, address
#           10.77.0.(I+1); the host is 10.77.0.1 and runs slurmctld), its own
#           hostname, /etc/hosts entries, and TMPDIR /var/tmp/benchmon-dev-nodes/NAME
#           for its jobs (a TaskProlog); slurmd paths are per node (%n).
#           Partition cpu (the default) stays the host node alone; partition
#           multi has every node. Without --nodes, up keeps the nodes a running
#           cluster has (1 when none). Changing the node count restarts SLURM
#           with a clean state: jobs are cancelled.
#   down    cancel all jobs, stop every slurmd, slurmctld and munged, remove the
#           namespaces, links, hosts entries and node directories up made.
#   status  print daemon/node state; exit non-zero if the cluster is unusable.
#   node-down NAME  cut a namespaced node off the network (its veth down).
#   node-kill NAME  kill every process of a namespaced node (slurmd, its jobs).
#   node-up NAME    reconnect it (veth up), restart its slurmd if it was
#                   killed, wait until SLURM can use it again.
#
# Environment knobs (all optional):
#   DEV_CLUSTER_TIMEOUT   seconds to wait for the nodes to become usable (60)
#   DEV_CLUSTER_APT_WAIT  seconds to wait for a busy dpkg/apt lock (900)
set -euo pipefail

# curl, python3 (+ pip for pyarrow and schemathesis) and procps: the examples, the tests (the seed's Python client, Parquet read-back) and pgrep here.
# chromium: the report's test loads report.html in a real headless browser; chromium-driver:
# the web view's test drives it over WebDriver.
# victoria-metrics also ships vmalert, which evaluates the rules of "victoriametrics" sessions.
readonly PACKAGES=(munge slurmctld slurmd slurm-client prometheus prometheus-node-exporter curl python3 python3-pip procps chromium chromium-driver victoria-metrics)
# With namespaced nodes, also: ip (nsenter, unshare and hostname are essential).
NODE_PACKAGES=()
readonly SLURM_CONF=/etc/slurm/slurm.conf
readonly CGROUP_CONF=/etc/slurm/cgroup.conf
readonly MUNGE_KEY=/etc/munge/munge.key
readonly MUNGE_RUN=/run/munge
readonly SLURM_RUN=/run/slurm
readonly CTLD_PID=$SLURM_RUN/slurmctld.pid
readonly SLURMD_PID=$SLURM_RUN/slurmd.pid
readonly LOG_DIR=/var/log/slurm
readonly CTLD_SPOOL=/var/spool/slurmctld
readonly SLURMD_SPOOL=/var/spool/slurmd
readonly TIMEOUT=${DEV_CLUSTER_TIMEOUT:-60}
readonly APT_WAIT=${DEV_CLUSTER_APT_WAIT:-900}
readonly LOCK_FILE=/run/lock/benchmon-dev-cluster.lock
# Multi-node mode (up --nodes N, N >= 2).
readonly NET_PREFIX=10.77.0
readonly GW_ADDR=$NET_PREFIX.1
readonly BRIDGE=bmdev0
readonly NODE_PREFIX=bmnode
readonly VETH_PREFIX=bmveth
readonly MAX_NODES=16
readonly NODE_TMP_ROOT=/var/tmp/benchmon-dev-nodes
readonly TASK_PROLOG=/etc/slurm/dev-cluster-task-prolog.sh
readonly HOSTS_BEGIN="# >>> benchmon dev-cluster nodes >>>"
readonly HOSTS_END="# <<< benchmon dev-cluster nodes <<<"

export DEBIAN_FRONTEND=noninteractive

log() { echo "dev-cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Print the tail of the daemon logs so a CI failure is diagnosable.
dump_logs() {
  local f
  for f in /var/log/munge/munged.log "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" "$LOG_DIR"/slurmd-*.log; do
    [[ -f $f ]] || continue
    log "---- tail of $f ----"
    tail -n 25 "$f" >&2 || true
  done
}

# Serialise concurrent invocations (e.g. several test binaries calling `up`).
take_lock() {
  mkdir -p "$(dirname "$LOCK_FILE")"
  # Daemons we start must not inherit fd 9 (see "9>&-"), or they hold the lock.
  exec 9>"$LOCK_FILE"
  flock -w 300 9 || die "another dev-cluster.sh holds $LOCK_FILE for >300s"
}

node_name() { hostname -s; }

# The namespaced node I (1..NODES-1): its name (also its namespace's), address
# and the host end of its veth.
ns_node() { echo "$NODE_PREFIX$1"; }
ns_addr() { echo "$NET_PREFIX.$(($1 + 1))"; }
ns_veth() { echo "$VETH_PREFIX$1"; }

# ---------------------------------------------------------------- packages --

missing_packages() {
  local p st
  for p in "${PACKAGES[@]}" "${NODE_PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $st == "install ok installed" ]] || echo "$p"
  done
}

# One name per pgrep: procps warns about alternations longer than 15 chars.
apt_busy() {
  local n
  for n in apt-get apt dpkg aptitude unattended-upgr; do
    pgrep -x "$n" >/dev/null 2>&1 && return 0
  done
  return 1
}

# Another apt/dpkg (e.g. a provisioning step) may be running: wait, don't fail.
wait_for_dpkg() {
  local waited=0
  while apt_busy; do
    if (( waited == 0 )); then
      log "waiting for a running apt/dpkg to finish (see /tmp/apt.log if present)"
    fi
    (( waited >= APT_WAIT )) && die "apt/dpkg still busy after ${APT_WAIT}s"
    sleep 2; waited=$((waited + 2))
  done
}

ensure_packages() {
  local missing
  missing=$(missing_packages)
  [[ -z $missing ]] && return 0
  wait_for_dpkg
  # Re-check: the apt run we waited for may have installed them.
  missing=$(missing_packages)
  [[ -z $missing ]] && return 0
  # shellcheck disable=SC2086
  log "installing:" $missing
  # Keep postinst scripts from starting Debian's own daemons (prometheus on
  # :9090, node-exporter on :9100, munge, slurm) — we start what we need.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 0755 "$policy"; added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  local rc=0
  # shellcheck disable=SC2086
  {
    apt-get -o DPkg::Lock::Timeout="$APT_WAIT" update -qq &&
      apt-get -o DPkg::Lock::Timeout="$APT_WAIT" install -y -qq --no-install-recommends $missing
  } >&2 || rc=$?
  if (( added_policy )); then rm -f "$policy"; trap - EXIT; fi
  (( rc == 0 )) || die "apt-get failed (rc=$rc)"
  missing=$(missing_packages)
  [[ -z $missing ]] || die "packages still missing after install: $missing"
}

# PyPI packages of the tests: they read Parquet back the way users do (pyarrow into pandas),
# and fuzz the API with schemathesis (`st`; pinned, so the fixed seed means the same run).
readonly PIP_PACKAGES=(pyarrow pandas schemathesis==4.32.5)
ensure_python_packages() {
  python3 -c 'import pyarrow, pandas, schemathesis' 2>/dev/null && command -v st >/dev/null &&
    return 0
  log "installing: ${PIP_PACKAGES[*]} (pip)"
  python3 -m pip install -q "${PIP_PACKAGES[@]}" >&2 ||
    python3 -m pip install -q --break-system-packages "${PIP_PACKAGES[@]}" >&2 ||
    die "pip install ${PIP_PACKAGES[*]} failed"
}

# Debian's prometheus / node-exporter daemons (ports 9090/9100) run as the
# `prometheus` system user; benchmon's tests start their own Prometheus (as
# root, via SLURM), so kill only processes of that user. (pgrep -x can't name
# prometheus-node-exporter: process names are cut to 15 chars.)
stop_debian_prometheus() {
  local pids
  id prometheus >/dev/null 2>&1 || return 0
  pids=$(pgrep -u prometheus 2>/dev/null || true)
  [[ -n $pids ]] || return 0
  log "stopping Debian's system prometheus daemons: $(ps -o comm= -p "${pids//$'\n'/,}" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  sleep 1
  pids=$(pgrep -u prometheus 2>/dev/null || true)
  # shellcheck disable=SC2086
  [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
}

# ------------------------------------------------------------------- munge --

ensure_munge_key() {
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  install -d -o munge -g munge -m 0755 "$MUNGE_RUN"
  if [[ ! -s $MUNGE_KEY ]]; then
    log "creating $MUNGE_KEY"
    rm -f "$MUNGE_KEY"
    mungekey --create --keyfile="$MUNGE_KEY" 2>/dev/null ||
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
  fi
  chown munge:munge "$MUNGE_KEY"
  chmod 0400 "$MUNGE_KEY"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

ensure_munged() {
  ensure_munge_key
  if running munged; then
    munge_works && return 0
    log "munged running but not answering; restarting it"
    stop_by_name munged "$MUNGE_RUN/munged.pid"
  fi
  # Stale socket/lock/pid files from a killed munged make it refuse to start.
  rm -f "$MUNGE_RUN"/munge.socket.2 "$MUNGE_RUN"/munge.socket.2.lock "$MUNGE_RUN"/munged.pid
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged </dev/null >&2 9>&- || { dump_logs; die "munged failed to start"; }
  local i
  for ((i = 0; i < 50; i++)); do
    munge_works && return 0
    sleep 0.2
  done
  dump_logs
  die "munge -n | unmunge does not work"
}

# ------------------------------------------------------------------- slurm --

render_slurm_conf() {
  local node mem ctld_addr=127.0.0.1 host_addr=127.0.0.1 i
  local spool=$SLURMD_SPOOL pidfile=$SLURMD_PID logfile=$LOG_DIR/slurmd.log
  local kind="single-node dev/CI cluster" host_nodes=ALL
  node=$(node_name)
  # RealMemory must not exceed what slurmd detects, else the node is drained.
  mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  (( mem > 20000 )) && mem=20000
  if (( NODES > 1 )); then
    # The namespaced nodes reach slurmctld and the host's slurmd over the
    # bridge, and their slurmds share this filesystem: per-node paths (%n).
    kind="${NODES}-node dev cluster (namespaced nodes ${NODE_PREFIX}1..)"
    ctld_addr=$GW_ADDR host_addr=$GW_ADDR host_nodes=$node
    spool=$SLURMD_SPOOL-%n pidfile=$SLURM_RUN/slurmd-%n.pid logfile=$LOG_DIR/slurmd-%n.log
  fi
  cat <<EOF
# Generated by benchmon slurm/dev-cluster.sh — ${kind}.
ClusterName=benchmon-dev
# Explicit ${ctld_addr} so nothing depends on DNS for the short hostname.
SlurmctldHost=${node}(${ctld_addr})
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
# No cgroups: this machine has no systemd and a hybrid/virtualised hierarchy.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Cores are consumable, memory too (DefMemPerCPU keeps small jobs small) ...
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
SchedulerType=sched/backfill
# ... and OverSubscribe=FORCE:8 on the partition lets up to 8 jobs share a
# core (no gang scheduling configured, so they all really run concurrently).
PreemptType=preempt/none
PreemptMode=OFF
# Reject impossible requests at submit time instead of leaving them pending
# forever with Reason=PartitionConfig.
EnforcePartLimits=ALL
ReturnToService=2
# Finished jobs stay visible to scontrol/squeue for 5 minutes.
MinJobAge=300
# SLURM's default: between scancel's TERM and KILL a job's Prometheus (or VictoriaMetrics) shuts
# down and copies its node-local TSDB back; a job that ends sooner ends sooner.
KillWait=30
InactiveLimit=0
SlurmctldTimeout=60
SlurmdTimeout=120
MessageTimeout=10
StateSaveLocation=${CTLD_SPOOL}
SlurmdSpoolDir=${spool}
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${pidfile}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${logfile}
SlurmctldDebug=info
SlurmdDebug=info
# No MTA here; avoids "Configured MailProg is invalid".
MailProg=/bin/true
EOF
  if (( NODES > 1 )); then
    echo "# Each namespaced node's jobs get a node-local TMPDIR of their own."
    echo "TaskProlog=${TASK_PROLOG}"
  fi
  echo "NodeName=${node} NodeAddr=${host_addr} NodeHostname=${node} CPUs=2 RealMemory=${mem} State=UNKNOWN"
  for ((i = 1; i < NODES; i++)); do
    echo "NodeName=$(ns_node "$i") NodeAddr=$(ns_addr "$i") NodeHostname=$(ns_node "$i") CPUs=2 RealMemory=${mem} State=UNKNOWN"
  done
  echo "PartitionName=cpu Nodes=${host_nodes} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8"
  if (( NODES > 1 )); then
    echo "PartitionName=multi Nodes=ALL Default=NO MaxTime=INFINITE State=UP OverSubscribe=FORCE:8"
  fi
}

# Whether slurm.conf is already what render_slurm_conf makes.
slurm_conf_current() { [[ -f $SLURM_CONF ]] && cmp -s <(render_slurm_conf) "$SLURM_CONF"; }

# Writes slurm.conf; returns 0 if it changed (daemons must be restarted).
write_slurm_conf() {
  local tmp
  install -d -m 0755 /etc/slurm
  # cgroup.conf would make 22.05 try to load cgroup plugins; we use none.
  if [[ -e $CGROUP_CONF ]]; then
    log "removing $CGROUP_CONF (cgroups are not used)"
    rm -f "$CGROUP_CONF"
  fi
  tmp=$(mktemp)
  render_slurm_conf >"$tmp"
  if [[ -f $SLURM_CONF ]] && cmp -s "$tmp" "$SLURM_CONF"; then
    rm -f "$tmp"; return 1
  fi
  log "writing $SLURM_CONF"
  install -m 0644 "$tmp" "$SLURM_CONF"
  rm -f "$tmp"
  return 0
}

prepare_slurm_dirs() {
  install -d -m 0755 "$SLURM_RUN" "$LOG_DIR" "$CTLD_SPOOL" "$SLURMD_SPOOL"
  (( NODES == 1 )) || install -d -m 0755 "$SLURMD_SPOOL-$(node_name)"
}

# The host's slurmd pid file (per node, %n, with namespaced nodes).
host_slurmd_pidfile() {
  if (( NODES > 1 )); then echo "$SLURM_RUN/slurmd-$(node_name).pid"; else echo "$SLURMD_PID"; fi
}

# pid from a pid file, only if that process is alive and has the right name.
live_pid() {
  local name=$1 pidfile=$2 pid
  [[ -r $pidfile ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null || true) == "$name" ]] || return 1
  echo "$pid"
}

# Non-zombie pids with this exact name in the host's network namespace (the
# namespaced nodes' slurmds are theirs). PID 1 here (not an init) reaps the
# exited half of a daemonising fork only lazily, so zombies must not count.
pids_of() {
  local pid st host_ns
  host_ns=$(readlink /proc/$$/ns/net)
  for pid in $(pgrep -x "$1" 2>/dev/null || true); do
    st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    [[ -n $st && $st != Z && $st != X ]] || continue
    [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null || true) == "$host_ns" ]] && echo "$pid"
  done
  return 0
}

running() { [[ -n $(pids_of "$1") ]]; }

# Stop a daemon: TERM via its pid file (or by exact name), then KILL.
stop_by_name() {
  local name=$1 pidfile=$2 pids i
  pids=$(live_pid "$name" "$pidfile" || true)
  [[ -n $pids ]] || pids=$(pids_of "$name")
  if [[ -n $pids ]]; then
    log "stopping $name (pid ${pids//$'\n'/ })"
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      running "$name" || break
      sleep 0.2
    done
    if running "$name"; then
      log "$name did not exit on SIGTERM; sending SIGKILL"
      # shellcheck disable=SC2046
      kill -9 $(pids_of "$name") 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$pidfile"
}

ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }

start_slurmctld() {
  rm -f "$CTLD_PID"
  log "starting slurmctld -c (clean state)"
  slurmctld -c </dev/null >&2 9>&- || { dump_logs; die "slurmctld failed to start"; }
  local i
  for ((i = 0; i < TIMEOUT * 5; i++)); do
    ctld_up && return 0
    running slurmctld || break
    sleep 0.2
  done
  dump_logs
  die "slurmctld does not answer 'scontrol ping'"
}

start_slurmd() {
  rm -f "$(host_slurmd_pidfile)"
  log "starting slurmd"
  slurmd </dev/null >&2 9>&- || { dump_logs; die "slurmd failed to start"; }
}

# ---------------------------------------------------------- namespaced nodes --

# Indices of the namespaced nodes that exist now (namespaces bmnodeI).
existing_ns_indices() {
  local name
  for name in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
    [[ $name =~ ^${NODE_PREFIX}([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"
  done | sort -n
}

ns_exists() { [[ -e /run/netns/$1 ]]; }

# The index of namespaced node NAME, or an error naming the nodes there are.
ns_index() {
  local name=$1
  if [[ $name =~ ^${NODE_PREFIX}([0-9]+)$ ]] && ns_exists "$name"; then
    echo "${BASH_REMATCH[1]}"
    return 0
  fi
  local have
  have=$(existing_ns_indices | sed "s/^/$NODE_PREFIX/" | tr '\n' ' ')
  die "no namespaced node '$name' (there are: ${have:-none; see up --nodes N})"
}

# The /etc/hosts lines of the namespaced nodes, between markers.
hosts_block() {
  local i
  echo "$HOSTS_BEGIN"
  for ((i = 1; i < NODES; i++)); do echo "$(ns_addr "$i") $(ns_node "$i")"; done
  echo "$HOSTS_END"
}

without_hosts_block() { sed "/^$HOSTS_BEGIN\$/,/^$HOSTS_END\$/d" "$1"; }

# The host's /etc/hosts names the namespaced nodes (for benchmon, which reaches a
# job's Prometheus by its node's name). Written in place: it may be a bind mount.
write_hosts() {
  local tmp
  tmp=$(mktemp)
  without_hosts_block /etc/hosts >"$tmp"
  (( NODES > 1 )) && hosts_block >>"$tmp"
  cmp -s "$tmp" /etc/hosts || { log "updating /etc/hosts"; cat "$tmp" >/etc/hosts; }
  rm -f "$tmp"
}

# What a namespaced node sees as /etc/hosts (its slurmd's mount namespace binds
# /etc/netns/NODE/hosts over it): the host's name is the gateway, since
# 127.0.0.1 there is the node itself.
node_hosts() {
  without_hosts_block /etc/hosts | grep -vw -e "$(node_name)" || true
  echo "$GW_ADDR $(node_name)"
  hosts_block
}

# Jobs on a namespaced node get that node's own TMPDIR (its "local disk": the
# node-local TSDB of a session lands there); the host node keeps the job's.
write_task_prolog() {
  if (( NODES > 1 )); then
    install -d -m 0755 "$(dirname "$TASK_PROLOG")"
    cat >"$TASK_PROLOG" <<EOF
#!/bin/sh
# Generated by benchmon slurm/dev-cluster.sh (TaskProlog): a node-local TMPDIR
# for jobs on the namespaced nodes.
case "\$SLURMD_NODENAME" in
  ${NODE_PREFIX}[0-9]*) echo "export TMPDIR=${NODE_TMP_ROOT}/\$SLURMD_NODENAME" ;;
esac
EOF
    chmod 0755 "$TASK_PROLOG"
  else
    rm -f "$TASK_PROLOG"
  fi
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE ($GW_ADDR/24)"
    ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE"
  fi
  # (No `ip | grep -q` under pipefail: grep's early exit fails the pipe.)
  [[ $(ip -o addr show dev "$BRIDGE") == *" $GW_ADDR/24 "* ]] || ip addr add "$GW_ADDR/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# Namespace, veth pair (host end on the bridge, eth0 inside), address, default
# route via the host, hosts file, spool and TMPDIR of namespaced node I.
ensure_ns_node() {
  local i=$1 node veth addr
  node=$(ns_node "$i") veth=$(ns_veth "$i") addr=$(ns_addr "$i")
  if ! ns_exists "$node"; then
    log "creating node $node ($addr, namespace $node)"
    ip netns add "$node" || die "ip netns add $node failed"
  fi
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip -n "$node" link del eth0 2>/dev/null || true
    ip link add "$veth" type veth peer name eth0 netns "$node" || die "cannot create veth $veth for $node"
  fi
  ip link set "$veth" master "$BRIDGE"
  ip link set "$veth" up
  ip -n "$node" link set lo up
  [[ $(ip -n "$node" -o addr show dev eth0) == *" $addr/24 "* ]] ||
    ip -n "$node" addr add "$addr/24" dev eth0
  ip -n "$node" link set eth0 up
  ip -n "$node" route replace default via "$GW_ADDR"
  install -d -m 0755 "/etc/netns/$node" "$SLURMD_SPOOL-$node"
  node_hosts >"/etc/netns/$node/hosts"
  # The nodes have no DNS (no route out): a lookup of a name not in their hosts
  # file fails at once instead of waiting for a resolver that never answers.
  echo "nameserver 127.0.0.1" >"/etc/netns/$node/resolv.conf"
  install -d -m 1777 "$NODE_TMP_ROOT" "$NODE_TMP_ROOT/$node"
}

# Every process of a namespaced node (slurmd, its steps, their jobs): TERM, then KILL.
kill_ns_node() {
  local node=$1 pids i
  pids=$(ip netns pids "$node" 2>/dev/null || true)
  [[ -n $pids ]] || return 0
  log "stopping every process of node $node (pid ${pids//$'\n'/ })"
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    [[ -z $(ip netns pids "$node" 2>/dev/null || true) ]] && break
    sleep 0.2
  done
  pids=$(ip netns pids "$node" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
  rm -f "$SLURM_RUN/slurmd-$node.pid"
}

remove_ns_node() {
  local i=$1 node
  node=$(ns_node "$i")
  kill_ns_node "$node"
  log "removing node $node"
  ip link del "$(ns_veth "$i")" 2>/dev/null || true
  ip netns del "$node" 2>/dev/null || true
  rm -rf "/etc/netns/${node:?}" "$NODE_TMP_ROOT/${node:?}" "$SLURMD_SPOOL-${node:?}"
}

# The network for NODES nodes: extra namespaced nodes removed, missing ones made.
ensure_network() {
  local i
  for i in $(existing_ns_indices); do
    (( i < NODES )) || remove_ns_node "$i"
  done
  if (( NODES > 1 )); then
    ensure_bridge
    for ((i = 1; i < NODES; i++)); do ensure_ns_node "$i"; done
  else
    remove_multi_node_leftovers
  fi
  write_hosts
}

# What multi-node mode makes beyond the namespaces: the bridge, veths whose
# namespace is gone, the node directories, the host node's own spool.
remove_multi_node_leftovers() {
  local link
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
    [[ $link =~ ^${VETH_PREFIX}[0-9]+$ ]] && ip link del "$link" 2>/dev/null
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "removing bridge $BRIDGE"
    ip link del "$BRIDGE" || true
  fi
  rm -rf "${SLURMD_SPOOL:?}-$(node_name)"
  rmdir "$NODE_TMP_ROOT" /etc/netns 2>/dev/null || true
}

ns_slurmd_running() {
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null || true); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null || true) == slurmd ]] || continue
    [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true) == [ZX] ]] || return 0
  done
  return 1
}

reregister_ns_slurmd() {
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null || true); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null || true) == slurmd ]] && kill -HUP "$pid" 2>/dev/null
  done
  return 0
}

# slurmd in the node's network namespace and in UTS and mount namespaces of its
# own, so its jobs see the node's hostname, network and /etc/hosts. Not `ip
# netns exec`: it remounts /sys, hiding /sys/fs/cgroup, and slurmd 22.05 does
# not start without it (even with proctrack/linuxproc).
start_ns_slurmd() {
  local node=$1
  rm -f "$SLURM_RUN/slurmd-$node.pid"
  log "starting slurmd of $node"
  # shellcheck disable=SC2016 # $1 is expanded by that sh
  nsenter --net="/run/netns/$node" unshare --uts --mount --propagation private -- \
    sh -c 'mount --bind "/etc/netns/$1/hosts" /etc/hosts &&
      mount --bind "/etc/netns/$1/resolv.conf" /etc/resolv.conf && hostname "$1" && exec slurmd -N "$1"' sh "$node" \
    </dev/null >&2 9>&- || { dump_logs; die "slurmd of $node failed to start"; }
}

# All nodes: the host's, then the namespaced ones.
all_nodes() {
  local i
  node_name
  for ((i = 1; i < NODES; i++)); do ns_node "$i"; done
}

node_state() { sinfo -h -N -n "${1:-$(node_name)}" -o %T 2>/dev/null | head -n1; }

node_slurmd_running() {
  if [[ $1 == "$(node_name)" ]]; then running slurmd; else ns_slurmd_running "$1"; fi
}

# Wait until every node can run jobs; resume one that registered as down/drain.
wait_nodes_usable() {
  local node state i pending
  local -A resumed=()
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    pending=
    for node in "$@"; do
      state=$(node_state "$node" || true)
      case $state in
        idle|mixed|allocated|completing) continue ;;
        down|drain*|fail*)
          if (( ${resumed[$node]:-0} < 3 )); then
            log "node $node is '$state'; resuming it"
            scontrol update nodename="$node" state=resume >&2 || true
            resumed[$node]=$(( ${resumed[$node]:-0} + 1 ))
          fi ;;
      esac
      # A namespaced node that slurmctld found not responding (state with '*',
      # e.g. after node-down) waits for the next ping; a SIGHUP makes its slurmd
      # register now (ReturnToService=2 then returns it to service).
      if [[ $state == *'*' && $node != "$(node_name)" ]] && (( i % 20 == 0 )); then
        log "node $node is '$state'; asking its slurmd to register again"
        reregister_ns_slurmd "$node"
      fi
      node_slurmd_running "$node" || { dump_logs; die "slurmd of $node exited (node state '$state')"; }
      pending+=" $node($state)"
    done
    [[ -z $pending ]] && return 0
    sleep 0.5
  done
  for node in "$@"; do scontrol show node "$node" >&2 || true; done
  dump_logs
  die "not usable after ${TIMEOUT}s:${pending}"
}

# ---------------------------------------------------------------- commands --

# NODES from --nodes, else what the running cluster has (its namespaces), else 1.
resolve_nodes() {
  if [[ -n ${NODES_ARG:-} ]]; then
    NODES=$NODES_ARG
  else
    NODES=$(( $(existing_ns_indices | wc -l) + 1 ))
  fi
}

cmd_up() {
  local t0=$SECONDS conf_changed=0 i node nodes
  take_lock
  resolve_nodes
  (( NODES == 1 )) || NODE_PACKAGES=(iproute2)
  ensure_packages
  ensure_python_packages
  stop_debian_prometheus
  prepare_slurm_dirs
  slurm_conf_current || conf_changed=1
  ensure_munged

  # Stopped under the old slurm.conf, the one they run with (the node count
  # changes slurmctld's address: 127.0.0.1 alone, the bridge's with nodes).
  if (( conf_changed )) && { running slurmctld || running slurmd || [[ -n $(existing_ns_indices) ]]; }; then
    log "slurm.conf changes; restarting slurm daemons"
    cancel_all_jobs
    for i in $(existing_ns_indices); do kill_ns_node "$(ns_node "$i")"; done
    stop_by_name slurmd "$(host_slurmd_pidfile)"
    stop_by_name slurmctld "$CTLD_PID"
  fi
  write_task_prolog
  write_slurm_conf || true
  ensure_network
  # A slurmctld that is running but not answering is useless: replace it.
  if running slurmctld && ! ctld_up; then
    sleep 2
    ctld_up || stop_by_name slurmctld "$CTLD_PID"
  fi
  running slurmctld || start_slurmctld
  running slurmd || start_slurmd
  for ((i = 1; i < NODES; i++)); do
    node=$(ns_node "$i")
    ns_slurmd_running "$node" || start_ns_slurmd "$node"
  done
  mapfile -t nodes < <(all_nodes)
  wait_nodes_usable "${nodes[@]}"
  if (( NODES > 1 )); then
    log "up: ${NODES} nodes ($(sinfo -h -N -o '%N=%T' -p multi | tr '\n' ' ')); partition cpu = $(node_name), multi = all ($(( SECONDS - t0 ))s)"
  else
    log "up: node $(node_name) is $(node_state), partition cpu ($(( SECONDS - t0 ))s)"
  fi
}

# Cancel every job and wait for it to go, so its processes (e.g. Prometheus
# holding a port) do not outlive a slurmctld restart as orphans.
cancel_all_jobs() {
  local jobs i
  running slurmctld && ctld_up || return 0
  jobs=$(squeue -h -o %A 2>/dev/null || true)
  [[ -n $jobs ]] || return 0
  log "cancelling jobs: ${jobs//$'\n'/ }"
  # shellcheck disable=SC2086
  scancel $jobs 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    [[ -z $(squeue -h -o %A 2>/dev/null || true) ]] && break
    sleep 0.5
  done
}

cmd_down() {
  local i
  take_lock
  resolve_nodes
  cancel_all_jobs
  for i in $(existing_ns_indices); do remove_ns_node "$i"; done
  stop_by_name slurmd "$(host_slurmd_pidfile)"
  stop_by_name slurmctld "$CTLD_PID"
  # Step daemons left behind would keep job processes alive.
  pkill -x slurmstepd 2>/dev/null || true
  NODES=1
  remove_multi_node_leftovers
  write_hosts
  rm -f "$TASK_PROLOG"
  stop_by_name munged "$MUNGE_RUN/munged.pid"
  log "down"
}

cmd_status() {
  local ok=0 node state ctld=0 i link
  resolve_nodes
  node=$(node_name)
  if running munged && munge_works; then echo "munge:     ok"; else echo "munge:     NOT RUNNING/WORKING"; ok=1; fi
  # Skip sinfo when slurmctld is down: clients retry for ~10 s before failing.
  if running slurmctld && ctld_up; then
    echo "slurmctld: up"; state=$(node_state || true); ctld=1
  else
    echo "slurmctld: DOWN"; ok=1; state=
  fi
  if running slurmd; then echo "slurmd:    running"; else echo "slurmd:    NOT RUNNING"; ok=1; fi
  echo "node:      ${node} ${state:-unknown}"
  case $state in idle|mixed|allocated|completing) ;; *) ok=1 ;; esac
  for ((i = 1; i < NODES; i++)); do
    node=$(ns_node "$i")
    state=
    (( ctld )) && state=$(node_state "$node" || true)
    link="LINK DOWN"
    if [[ $(ip -o link show "$(ns_veth "$i")" 2>/dev/null) == *"state UP"* ]]; then link="link up"; else ok=1; fi
    if ns_slurmd_running "$node"; then
      echo "node:      ${node} ${state:-unknown} ($(ns_addr "$i"), slurmd running, $link)"
    else
      echo "node:      ${node} ${state:-unknown} ($(ns_addr "$i"), slurmd NOT RUNNING, $link)"; ok=1
    fi
    case $state in idle|mixed|allocated|completing) ;; *) ok=1 ;; esac
  done
  if (( ctld )); then
    sinfo 2>/dev/null || true
    squeue 2>/dev/null || true
  fi
  return $ok
}

# node-down NAME: the node's veth down — cut off from slurmctld, benchmon and
# the other nodes, its processes still running (as a network partition).
cmd_node_down() {
  local i
  take_lock
  i=$(ns_index "$1")
  ip link set "$(ns_veth "$i")" down
  log "node $1 cut off ($(ns_veth "$i") down)"
}

# node-kill NAME: every process of the node killed (slurmd, its jobs), as a crash.
cmd_node_kill() {
  take_lock
  ns_index "$1" >/dev/null
  kill_ns_node "$1"
  log "node $1 killed"
}

# node-up NAME: reconnect the node, restart its slurmd if it is not running,
# wait until SLURM can use it again.
cmd_node_up() {
  local i
  take_lock
  resolve_nodes
  i=$(ns_index "$1")
  ip link set "$(ns_veth "$i")" up
  ns_slurmd_running "$1" || start_ns_slurmd "$1"
  wait_nodes_usable "$1"
  log "node $1 is $(node_state "$1")"
}

usage() {
  echo "usage: $0 up [--nodes N]|down|status|node-down NAME|node-kill NAME|node-up NAME" >&2
  exit 2
}

main() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  local cmd=${1:-}
  (( $# > 0 )) && shift
  NODES_ARG=
  case $cmd in
    up)
      while (( $# > 0 )); do
        case $1 in
          --nodes) (( $# > 1 )) || usage; NODES_ARG=$2; shift 2 ;;
          --nodes=*) NODES_ARG=${1#--nodes=}; shift ;;
          *) usage ;;
        esac
      done
      if [[ -n $NODES_ARG ]] && { [[ ! $NODES_ARG =~ ^[0-9]+$ ]] || (( NODES_ARG < 1 || NODES_ARG > MAX_NODES )); }; then
        die "--nodes must be a number from 1 to $MAX_NODES, not '$NODES_ARG'"
      fi
      cmd_up ;;
    down) (( $# == 0 )) || usage; cmd_down ;;
    status) (( $# == 0 )) || usage; cmd_status ;;
    node-down) (( $# == 1 )) || usage; cmd_node_down "$1" ;;
    node-kill) (( $# == 1 )) || usage; cmd_node_kill "$1" ;;
    node-up) (( $# == 1 )) || usage; cmd_node_up "$1" ;;
    *) usage ;;
  esac
}

main "$@"
