#!/usr/bin/env bash
# dev-cluster.sh — bring up / tear down a real single-node SLURM cluster on
# this machine (Debian 12, root, no systemd) for benchmon's integration tests.
#
# Usage: slurm/dev-cluster.sh up|down|status
#   up      install packages if missing, configure munge + slurm, start
#           munged, slurmctld, slurmd and wait until the node is usable.
#           Idempotent: when everything is already up it only verifies.
#   down    cancel all jobs, stop slurmd, slurmctld and munged.
#   status  print daemon/node state; exit non-zero if the cluster is unusable.
#
# Environment knobs (all optional):
#   DEV_CLUSTER_TIMEOUT   seconds to wait for the node to become usable (60)
#   DEV_CLUSTER_APT_WAIT  seconds to wait for a busy dpkg/apt lock (900)
set -euo pipefail

# curl, python3 (+ pip for pyarrow and schemathesis) and procps: the examples, the tests (the seed's Python client, Parquet read-back) and pgrep here.
# chromium: the report's test loads report.html in a real headless browser.
readonly PACKAGES=(munge slurmctld slurmd slurm-client prometheus prometheus-node-exporter curl python3 python3-pip procps chromium victoria-metrics)
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

export DEBIAN_FRONTEND=noninteractive

log() { echo "dev-cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Print the tail of the daemon logs so a CI failure is diagnosable.
dump_logs() {
  local f
  for f in /var/log/munge/munged.log "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; do
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

# ---------------------------------------------------------------- packages --

missing_packages() {
  local p st
  for p in "${PACKAGES[@]}"; do
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
  local node mem
  node=$(node_name)
  # RealMemory must not exceed what slurmd detects, else the node is drained.
  mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  (( mem > 20000 )) && mem=20000
  cat <<EOF
# Generated by benchmon slurm/dev-cluster.sh — single-node dev/CI cluster.
ClusterName=benchmon-dev
# Explicit 127.0.0.1 so nothing depends on DNS for the short hostname.
SlurmctldHost=${node}(127.0.0.1)
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
SlurmdSpoolDir=${SLURMD_SPOOL}
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No MTA here; avoids "Configured MailProg is invalid".
MailProg=/bin/true
NodeName=${node} NodeAddr=127.0.0.1 NodeHostname=${node} CPUs=2 RealMemory=${mem} State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
}

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

# Non-zombie pids with this exact name. PID 1 here (not an init) reaps the
# exited half of a daemonising fork only lazily, so zombies must not count.
pids_of() {
  local pid st
  for pid in $(pgrep -x "$1" 2>/dev/null || true); do
    st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    [[ -n $st && $st != Z && $st != X ]] && echo "$pid"
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
  rm -f "$SLURMD_PID"
  log "starting slurmd"
  slurmd </dev/null >&2 9>&- || { dump_logs; die "slurmd failed to start"; }
}

node_state() { sinfo -h -n "$(node_name)" -o %T 2>/dev/null | head -n1; }

# Wait until the node can run jobs; resume it if it registered as down/drain.
wait_node_usable() {
  local node state i resumed=0
  node=$(node_name)
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    state=$(node_state || true)
    case $state in
      idle|mixed|allocated|completing) return 0 ;;
      down|drain*|fail*)
        if (( resumed < 3 )); then
          log "node $node is '$state'; resuming it"
          scontrol update nodename="$node" state=resume >&2 || true
          resumed=$((resumed + 1))
        fi ;;
    esac
    running slurmd || { dump_logs; die "slurmd exited (node state '$state')"; }
    sleep 0.5
  done
  scontrol show node "$node" >&2 || true
  dump_logs
  die "node $node not usable after ${TIMEOUT}s (state '${state:-?}')"
}

# ---------------------------------------------------------------- commands --

cmd_up() {
  local t0=$SECONDS conf_changed=0
  take_lock
  ensure_packages
  ensure_python_packages
  stop_debian_prometheus
  prepare_slurm_dirs
  write_slurm_conf && conf_changed=1
  ensure_munged

  if (( conf_changed )) && { running slurmctld || running slurmd; }; then
    log "slurm.conf changed; restarting slurm daemons"
    cancel_all_jobs
    stop_by_name slurmd "$SLURMD_PID"
    stop_by_name slurmctld "$CTLD_PID"
  fi
  # A slurmctld that is running but not answering is useless: replace it.
  if running slurmctld && ! ctld_up; then
    sleep 2
    ctld_up || stop_by_name slurmctld "$CTLD_PID"
  fi
  running slurmctld || start_slurmctld
  running slurmd || start_slurmd
  wait_node_usable
  log "up: node $(node_name) is $(node_state), partition cpu ($(( SECONDS - t0 ))s)"
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
  take_lock
  cancel_all_jobs
  stop_by_name slurmd "$SLURMD_PID"
  stop_by_name slurmctld "$CTLD_PID"
  # Step daemons left behind would keep job processes alive.
  pkill -x slurmstepd 2>/dev/null || true
  stop_by_name munged "$MUNGE_RUN/munged.pid"
  log "down"
}

cmd_status() {
  local ok=0 node state
  node=$(node_name)
  if running munged && munge_works; then echo "munge:     ok"; else echo "munge:     NOT RUNNING/WORKING"; ok=1; fi
  # Skip sinfo when slurmctld is down: clients retry for ~10 s before failing.
  if running slurmctld && ctld_up; then
    echo "slurmctld: up"; state=$(node_state || true)
  else
    echo "slurmctld: DOWN"; ok=1; state=
  fi
  if running slurmd; then echo "slurmd:    running"; else echo "slurmd:    NOT RUNNING"; ok=1; fi
  echo "node:      ${node} ${state:-unknown}"
  case $state in idle|mixed|allocated|completing) ;; *) ok=1 ;; esac
  if (( ok == 0 )); then
    sinfo 2>/dev/null || true
    squeue 2>/dev/null || true
  fi
  return $ok
}

main() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
  esac
}

main "$@"
