#!/usr/bin/env bash
# benchmon-wrap.sh — run a benchmark command with this node's exporters and services
# registered in a benchmon session for exactly as long as the command runs.
#
# In a job script, `exec` it, so that it is the batch shell and receives SLURM's signals:
#
#   #SBATCH --signal=B:USR1@60
#   exec benchmon-wrap.sh --session bench-01 --exporter node=9100 \
#       --service vllm=http://localhost:8000/metrics --window steady -- ./bench --args
#
# What it does:
#   1. registers a client (this node and its --exporter's) and each --service,
#   2. waits (at most --scrape-wait) until the session's Prometheus has scraped each of them
#      once, so that the window does not begin with a gap before the first scrape,
#   3. opens window --window (if given),
#   4. runs the command as a child and waits for it,
#   5. closes the window and deregisters everything — also when the job is cancelled, hits its
#      time limit or gets Ctrl-C — and exits with the command's status (128+N if signal N
#      killed it).
#
# Options (values are passed to benchmon as separate arguments, never evaluated):
#   --session ID         session to register with (default: $BENCHMON_SESSION)
#   --exporter KIND=ADDR exporter of this node: host:port, or a bare port on this node
#                        (node=9100); repeatable
#   --disable KIND       register exporter KIND but do not scrape it; repeatable
#   --service NAME=URL   a service's metrics URL; repeatable
#   --label KEY=VALUE    label on the client's and the services' series; repeatable
#   --window NAME        open window NAME before the command, close it after
#   --scrape-wait DUR    longest wait for the first scrape of the registered targets (default
#                        60s; 0 = do not wait). On timeout: a warning, then on as usual
#   --client-id ID       default: job-$SLURM_JOB_ID-<node>, or <node> outside SLURM
#   --node NAME          default: $SLURMD_NODENAME, else `hostname`
#   --grace SECONDS      how long the command's process group gets after TERM before KILL
#                        (default $BENCHMON_WRAP_GRACE, else 10; keep it under SLURM's
#                        KillWait, 30 s by default, after which SLURM kills the wrapper too)
#   --strict             if registration fails, exit 1 without running the command
#                        (default: warn and run the command unmonitored — a benchmark that
#                        waited hours in the queue should not be lost to a monitoring hiccup)
#   -h, --help
#
# Multi-node jobs: run it once per node (`srun --ntasks-per-node=1 benchmon-wrap.sh …`); each
# node becomes its own client (job-<id>-<node>). Give --window to one task only, or a name per
# node: a window name is unique in a session.
#
# Environment: BENCHMON_BIN (the benchmon binary; default `benchmon` on PATH); BENCHMON_URL,
# BENCHMON_TOKEN, BENCHMON_RETRIES are read by benchmon itself.
#
# Signals: TERM, INT and HUP (scancel, the time limit, Ctrl-C) are forwarded to the command's
# process group, and the window is closed and the targets deregistered right away; whatever
# of the group is still there --grace seconds later gets KILL. SLURM sends SIGKILL KillWait
# seconds after its TERM (30 by default), but only to the processes it tracks: with
# proctrack/linuxproc (the dev cluster's, and some sites') a process reparented to init
# escapes it, so the wrapper ends the group itself. USR1 is forwarded too, and closes the
# window at once (the grace period is wind-down, not benchmark); the command then has
# --grace seconds to end on its own before its group gets TERM, then KILL. Ask SLURM for
# USR1 ahead of the time limit with `#SBATCH --signal=B:USR1@60` (B: = the batch shell only,
# which is this wrapper when the job script `exec`s it). Most programs end on USR1 unless
# they handle it. When the command ends, anything it left running in its process group is
# ended the same way (TERM, then KILL): nothing of the job outlives the wrapper, short of a
# process that left the group on purpose (setsid).
set -euo pipefail

readonly PROG=benchmon-wrap
BENCHMON=${BENCHMON_BIN:-benchmon}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

die_usage() {
  log "$*"
  log "usage: $PROG --session ID [--exporter KIND=ADDR]... [--service NAME=URL]... [--window NAME] [--scrape-wait DUR] -- COMMAND [ARGS...]"
  exit 2
}

session=${BENCHMON_SESSION:-}
grace=${BENCHMON_WRAP_GRACE:-10}
client_id=""
node=""
window=""
scrape_wait=60s
strict=0
exporters=()
disabled=()
services=()
labels=()

while (($#)); do
  # --opt=value → --opt value
  if [[ $1 == --*=* ]]; then
    set -- "${1%%=*}" "${1#*=}" "${@:2}"
  fi
  case $1 in
    --) shift; break ;;
    -h | --help) usage; exit 0 ;;
    --strict) strict=1; shift; continue ;;
    --session | --exporter | --disable | --service | --label | --window | --client-id | --node | \
      --grace | --scrape-wait)
      (($# >= 2)) || die_usage "$1 needs a value" ;;
    *) die_usage "unknown option ${1@Q} (the command goes after --)" ;;
  esac
  case $1 in
    --session) session=$2 ;;
    --exporter) exporters+=("$2") ;;
    --disable) disabled+=("$2") ;;
    --service) services+=("$2") ;;
    --label) labels+=("$2") ;;
    --window) window=$2 ;;
    --client-id) client_id=$2 ;;
    --node) node=$2 ;;
    --grace) grace=$2 ;;
    --scrape-wait) scrape_wait=$2 ;;
  esac
  shift 2
done

(($#)) || die_usage "no command given (put it after --)"
[[ $grace =~ ^[0-9]+$ ]] || die_usage "--grace ${grace@Q} is not a number of seconds"
[[ -n $session ]] || die_usage "--session (or BENCHMON_SESSION) is required"
for s in "${services[@]}"; do
  [[ $s == ?*=?* ]] || die_usage "--service ${s@Q} is not NAME=URL"
done
command -v "$BENCHMON" >/dev/null || die_usage "benchmon not found (${BENCHMON@Q}); set BENCHMON_BIN"

node=${node:-${SLURMD_NODENAME:-$(hostname)}}
client_id=${client_id:-${SLURM_JOB_ID:+job-$SLURM_JOB_ID-}$node}

label_args=()
for l in "${labels[@]}"; do label_args+=(--label "$l"); done

# What is registered, so cleanup undoes exactly that.
client_registered=0
window_open=0
registered_services=()
child=""
waiter=""
cleaned=0
got_signal=0

# benchmon's own output goes to stderr: the command's stdout stays the command's.
bm() { "$BENCHMON" "$@" >&2; }

# Each flag is set before its call: a signal that arrives during the call runs its trap only
# after the call returned, and the cleanup must then undo what that call did.
register() {
  if ((${#exporters[@]})); then
    local args=(register client --session "$session" --client-id "$client_id" --node "$node")
    local e
    for e in "${exporters[@]}"; do args+=(--exporter "$e"); done
    for e in "${disabled[@]}"; do args+=(--disable "$e"); done
    client_registered=1
    bm "${args[@]}" "${label_args[@]}" || { client_registered=0; return 1; }
  fi
  local s name
  for s in "${services[@]}"; do
    name=${s%%=*}
    registered_services+=("$name")
    bm register service --session "$session" --name "$name" --endpoint "${s#*=}" \
      --client-id "$client_id" "${label_args[@]}" || { unset 'registered_services[-1]'; return 1; }
  done
}

# The first scrape comes after file_sd picks the targets up and up to one scrape interval: a
# window opened before it would begin with a gap.
wait_first_scrape() {
  [[ $scrape_wait =~ ^0+[a-z]*$ ]] && return 0
  local args=(targets --session "$session" --wait-scraped --wait-timeout "$scrape_wait")
  ((client_registered)) && args+=(--client-id "$client_id")
  local name
  for name in "${registered_services[@]}"; do args+=(--service "$name"); done
  ((client_registered || ${#registered_services[@]})) || return 0
  log "waiting (up to $scrape_wait) until Prometheus has scraped the registered targets once"
  # In the background, so that a signal is handled at once rather than after the wait.
  bm "${args[@]}" &
  waiter=$!
  local rc=0
  wait "$waiter" || rc=$?
  waiter=""
  if ((rc == 0)); then
    log "the registered targets have been scraped once${window:+; opening window $window}"
  else
    log "warning: not every registered target was scraped within $scrape_wait${window:+; opening window $window anyway (it may begin with a gap)}"
  fi
}

open_window() {
  if [[ -n $window ]]; then
    window_open=1
    bm window open --session "$session" "$window" || { window_open=0; return 1; }
  fi
}

# Few, quick retries: after a cancel, SLURM's SIGKILL is only KillWait seconds away.
close_window() {
  if ((window_open)); then
    window_open=0
    bm window close --session "$session" "$window" --retries 2 --timeout 5s ||
      log "warning: could not close window $window"
  fi
}

cleanup() {
  ((cleaned)) && return 0
  cleaned=1
  close_window
  local name
  for name in "${registered_services[@]}"; do
    bm deregister service --session "$session" --name "$name" --retries 2 --timeout 5s ||
      log "warning: could not deregister service $name"
  done
  if ((client_registered)); then
    bm deregister client --session "$session" --client-id "$client_id" --node "$node" \
      --retries 2 --timeout 5s || log "warning: could not deregister client $client_id"
  fi
}

forward() {
  [[ -n $child ]] || return 0
  # The command runs in its own process group (set -m): signal all of it, not just its leader.
  kill -s "$1" -- "-$child" 2>/dev/null || kill -s "$1" "$child" 2>/dev/null || true
}

# Whether any process of the command's group is left (the leader may be gone already).
group_alive() { [[ -n $child ]] && kill -0 -- "-$child" 2>/dev/null; }

# Waits up to $1 seconds for the command's group to be gone; false if it is still there.
group_gone_within() {
  local deadline=$((SECONDS + $1))
  while group_alive; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Ends what is left of the command's process group: TERM, then KILL after the grace period.
end_group() {
  group_alive || return 0
  log "ending the command's process group $child (TERM, then KILL after ${grace}s)"
  kill -s TERM -- "-$child" 2>/dev/null || true
  group_gone_within "$grace" && return 0
  log "the command's process group outlived TERM by ${grace}s: KILL"
  kill -s KILL -- "-$child" 2>/dev/null || true
  group_gone_within 5 || log "warning: processes of group $child survived KILL"
}

on_signal() {
  local sig=$1
  got_signal=1
  log "caught SIG$sig${child:+, forwarding it to the command (pid $child)}"
  if [[ -z $child ]]; then
    [[ -z $waiter ]] || kill "$waiter" 2>/dev/null || true
    cleanup
    exit $((128 + $(kill -l "$sig")))
  fi
  forward "$sig"
  if [[ $sig == USR1 ]]; then
    close_window
    # Wind-down time first; the group ends by itself or is ended.
    group_gone_within "$grace" || end_group
  else
    cleanup
    end_group
  fi
}

on_exit() {
  local rc=$?
  cleanup
  end_group
  exit "$rc"
}

trap on_exit EXIT
for sig in TERM INT HUP USR1; do
  # shellcheck disable=SC2064 # expand $sig now
  trap "on_signal $sig" "$sig"
done

log "session $session, client $client_id on node $node${window:+, window $window}"
if ! { register && wait_first_scrape && open_window; }; then
  if ((strict)); then
    log "registration failed; not running the command (--strict)"
    exit 1
  fi
  log "warning: registration failed; running the command without (full) monitoring"
fi

log "running:$(printf ' %q' "$@")"
set -m # the command gets its own process group, and does not ignore SIGINT
"$@" &
child=$!
set +m

# `wait` returns early (status > 128) when a trapped signal arrives: wait again until the
# command itself has ended. A second wait for an already reported child answers 127.
status=""
while :; do
  got_signal=0
  rc=0
  wait "$child" 2>/dev/null || rc=$?
  if ((rc == 127)) && [[ -n $status ]]; then
    break
  fi
  status=$rc
  ((got_signal)) || break
done

log "command exited with status $status"
exit "$status"
