#!/usr/bin/env bash
# Stop what scripts/local-up.sh started (`make local-down`): cargo lambda watch
# (and the function processes it spawned), the Intercom emulator and moto.
# Each was started in its own process group (setsid); the whole group is
# signalled, TERM first, KILL after a bounded wait. Services local-up found
# already running (no pid file) are left alone. Idempotent.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$REPO/.local"

say() { printf 'local-down: %s\n' "$*"; }

# stop NAME EXPECTED: EXPECTED is a substring of the process's command line,
# checked so that a recycled pid is never signalled.
stop() {
  local name=$1 expected=$2 pidfile="$LOCAL_DIR/$1.pid" pid pgid i
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
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$expected"; then
    say "$name: pid $pid is no longer $expected; leaving it"
    rm -f "$pidfile"
    return 0
  fi
  pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
  # local-up made the process a group leader (setsid); only then signal the group.
  if [[ $pgid == "$pid" ]]; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < 100; i++)); do # up to 10 s
    if [[ $pgid == "$pid" ]]; then
      kill -0 -- "-$pgid" 2>/dev/null || break
    else
      kill -0 "$pid" 2>/dev/null || break
    fi
    sleep 0.1
  done
  if [[ $pgid == "$pid" ]] && kill -0 -- "-$pgid" 2>/dev/null; then
    kill -KILL -- "-$pgid" 2>/dev/null || true
  elif kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  say "$name: stopped (pid $pid)"
}

stop lambda "lambda watch"
stop emulator intercom-emulator
stop moto moto_server
