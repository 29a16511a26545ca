#!/usr/bin/env bash
# Stop what scripts/local-up.sh started (`make local-down`): the ticker, cargo
# lambda watch and the function processes it spawned, the Intercom emulator
# and moto.
#
# Which stack: the one on LOCAL_AWS_PORT / LOCAL_INTERCOM_PORT /
# LOCAL_LAMBDA_PORT (defaults 5000 / 4010 / 9000), as for local-up; with
# `--all`, every stack local-up started from this checkout. Only processes
# with a pid file in $REPO/.local/ are touched; a service that local-up found
# already running is left alone. Idempotent.
#
# Each service was started in its own process group (setsid): the group is
# sent TERM, then KILL after a bounded wait. cargo lambda watch runs each
# function instance in a process group of its own, so its descendants are
# collected first and signalled too.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$REPO/.local"
LOCAL_AWS_PORT="${LOCAL_AWS_PORT:-5000}"
LOCAL_INTERCOM_PORT="${LOCAL_INTERCOM_PORT:-4010}"
LOCAL_LAMBDA_PORT="${LOCAL_LAMBDA_PORT:-9000}"

say() { printf 'local-down: %s\n' "$*"; }

# All descendants of a pid (children first found, then theirs).
descendants() {
  local frontier=("$1") next=() p child
  while ((${#frontier[@]})); do
    next=()
    for p in "${frontier[@]}"; do
      for child in $(ps -o pid= --ppid "$p" 2>/dev/null); do
        echo "$child"
        next+=("$child")
      done
    done
    frontier=("${next[@]+"${next[@]}"}")
  done
}

# "pid:start-time" of a process (start time: field 22 of /proc/PID/stat), so a
# pid recycled while we wait is never mistaken for the process we meant.
ident() { echo "$1:$(awk '{print $22}' "/proc/$1/stat" 2>/dev/null)"; }
same() { [[ $(ident "${1%%:*}") == "$1" ]]; }

alive() { # any of the given pid:start-time identities still running?
  local id
  for id in "$@"; do same "$id" && return 0; done
  return 1
}

# stop PIDFILE EXPECTED: EXPECTED is a substring of the process's command
# line, checked so that a recycled pid is never signalled.
stop() {
  local pidfile=$1 expected=$2 name pid i cmdline
  name=$(basename "$pidfile" .pid)
  if [[ ! -f $pidfile ]]; then
    say "$name: not started by local-up (no pid file)"
    return 0
  fi
  pid=$(cat "$pidfile")
  if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    say "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [[ $cmdline != *"$expected"* ]]; then
    say "$name: pid $pid is no longer $expected; leaving it"
    rm -f "$pidfile"
    return 0
  fi
  local procs=() kid
  procs+=("$(ident "$pid")")
  while read -r kid; do procs+=("$(ident "$kid")"); done < <(descendants "$pid")
  # local-up made the process a group leader (setsid): signal its group.
  if [[ $(ps -o pgid= -p "$pid" | tr -d ' ') == "$pid" ]]; then
    kill -TERM -- "-$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  # Up to 10 s for the watcher to stop its function instances itself.
  for ((i = 0; i < 100; i++)); do
    alive "${procs[@]}" || break
    sleep 0.1
  done
  for kid in "${procs[@]}"; do
    if same "$kid"; then kill -KILL "${kid%%:*}" 2>/dev/null || true; fi
  done
  rm -f "$pidfile"
  say "$name: stopped (pid $pid)"
}

# The ticker first, so it does not invoke a function being stopped.
if [[ ${1:-} == --all ]]; then
  shopt -s nullglob
  for f in "$LOCAL_DIR"/ticker-*.pid; do stop "$f" ticker.py; done
  for f in "$LOCAL_DIR"/lambda-*.pid; do stop "$f" "lambda watch"; done
  for f in "$LOCAL_DIR"/emulator-*.pid; do stop "$f" intercom-emulator; done
  for f in "$LOCAL_DIR"/moto-*.pid; do stop "$f" moto_server.py; done
else
  stop "$LOCAL_DIR/ticker-$LOCAL_LAMBDA_PORT.pid" ticker.py
  stop "$LOCAL_DIR/lambda-$LOCAL_LAMBDA_PORT.pid" "lambda watch"
  stop "$LOCAL_DIR/emulator-$LOCAL_INTERCOM_PORT.pid" intercom-emulator
  stop "$LOCAL_DIR/moto-$LOCAL_AWS_PORT.pid" moto_server.py
fi
