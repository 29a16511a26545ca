#!/usr/bin/env bash
# Start backflow's local stack on 127.0.0.1 (`make local-up`):
#   moto server (S3, DynamoDB, Secrets Manager, ...)   LOCAL_AWS_PORT      (5000)
#   the Intercom emulator                                LOCAL_INTERCOM_PORT (4010)
#   cargo lambda watch serving trigger/extract/load      LOCAL_LAMBDA_PORT   (9000)
#   the ticker: EventBridge's every-minute Scheduled Event to trigger
#   (scripts/ticker.py; LOCAL_TICKER=0 leaves it off)
# then creates the tables, bucket and secrets that infra/template.yaml declares
# and waits until the three functions answer and
# GET http://127.0.0.1:$LOCAL_LAMBDA_PORT/lambda-url/trigger/syncs answers 200.
#
# What the stack is — its resources, the functions' environment, the `cargo
# lambda watch` command and the warm-up — is defined once, from the template, in
# scripts/local_resources.py, which the scenario harness uses too; this script
# only starts the processes. Python is the project's venv (scripts/python.sh),
# whatever python3 is first on PATH or active.
#
# Idempotent: a service whose port already answers is left alone; the
# resources are re-applied every time (and the Intercom secret takes the
# current INTERCOM_ACCESS_TOKEN). Logs and pid files: $REPO/.local/<service>-<port>.{log,pid}.
# `scripts/local-down.sh` (same port variables) stops what this script started.
#
# Knobs (environment): LOCAL_AWS_PORT, LOCAL_INTERCOM_PORT, LOCAL_LAMBDA_PORT,
# EMULATOR_ARGS (extra intercom-emulator options; `--token $INTERCOM_ACCESS_TOKEN`
# is added unless they name a --token), INTERCOM_ACCESS_TOKEN (local-token),
# BACKFLOW_CONFIG (the quickstart config), BACKFLOW_RUN_DEADLINE_SECS (the
# template's), BACKFLOW_STATE_TABLE / BACKFLOW_RUNS_TABLE / BACKFLOW_BUCKET (the
# local names), CARGO_TARGET_DIR (scripts/target-dir.sh), LOCAL_UP_TIMEOUT (1200 s:
# the first start compiles the functions, which took 9 min for trigger alone on a
# busy 2-core machine; the scenario harness allows 20), LOCAL_LAMBDA_CONCURRENCY (4),
# LOCAL_LAMBDA_RELOAD (0; 1 = rebuild and restart a function when its code
# changes), LOCAL_LAMBDA_RELEASE (0; 1 = run the functions in release mode).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$REPO/.local"
mkdir -p "$LOCAL_DIR"

LOCAL_AWS_PORT="${LOCAL_AWS_PORT:-5000}"
LOCAL_INTERCOM_PORT="${LOCAL_INTERCOM_PORT:-4010}"
LOCAL_LAMBDA_PORT="${LOCAL_LAMBDA_PORT:-9000}"
EMULATOR_ARGS="${EMULATOR_ARGS:-}"
INTERCOM_ACCESS_TOKEN="${INTERCOM_ACCESS_TOKEN:-local-token}"
BACKFLOW_CONFIG="${BACKFLOW_CONFIG:-$REPO/examples/quickstart/backflow.yaml}"
BACKFLOW_STATE_TABLE="${BACKFLOW_STATE_TABLE:-backflow-state}"
BACKFLOW_RUNS_TABLE="${BACKFLOW_RUNS_TABLE:-backflow-runs}"
BACKFLOW_BUCKET="${BACKFLOW_BUCKET:-backflow-local}"
LOCAL_UP_TIMEOUT="${LOCAL_UP_TIMEOUT:-1200}"
LOCAL_LAMBDA_CONCURRENCY="${LOCAL_LAMBDA_CONCURRENCY:-4}"
LOCAL_LAMBDA_RELOAD="${LOCAL_LAMBDA_RELOAD:-0}"
LOCAL_LAMBDA_RELEASE="${LOCAL_LAMBDA_RELEASE:-0}"
# Shared with `make test` and CI (scripts/target-dir.sh: /work/cargo-target here).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$("$REPO/scripts/target-dir.sh")}"
source "$REPO/scripts/python.sh" # BACKFLOW_PYTHON: the project's venv

HOST=127.0.0.1
AWS_URL="http://$HOST:$LOCAL_AWS_PORT"
INTERCOM_URL="http://$HOST:$LOCAL_INTERCOM_PORT"
LAMBDA_URL="http://$HOST:$LOCAL_LAMBDA_PORT"
# One set of files per port, so stacks on different ports do not mix pid files.
LAMBDA_LOG="$LOCAL_DIR/lambda-$LOCAL_LAMBDA_PORT.log"
LAMBDA_PID="$LOCAL_DIR/lambda-$LOCAL_LAMBDA_PORT.pid"
ENV_FILE="$LOCAL_DIR/lambda-$LOCAL_LAMBDA_PORT.env"

# The one definition of the stack, and the local names of its resources.
stack=("$BACKFLOW_PYTHON" "$REPO/scripts/local_resources.py")
names=(--state-table "$BACKFLOW_STATE_TABLE" --runs-table "$BACKFLOW_RUNS_TABLE" --bucket "$BACKFLOW_BUCKET")

say() { printf 'local-up: %s\n' "$*"; }
die() { printf 'local-up: error: %s\n' "$*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# wait_port PORT SECONDS NAME PIDFILE LOGFILE: bounded wait for a port; fails
# early, with the log's tail, if the process we started has died.
wait_port() {
  local port=$1 secs=$2 name=$3 pidfile=$4 logfile=$5 deadline=$((SECONDS + $2))
  while ! port_open "$port"; do
    if [[ -f $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "$name exited before listening on $HOST:$port (log: $logfile)"
    fi
    ((SECONDS < deadline)) || { tail -n 30 "$logfile" >&2 || true; die "$name not listening on $HOST:$port after ${secs}s (log: $logfile)"; }
    sleep 0.2
  done
}

# start NAME LOGFILE CMD...: run CMD in the background in its own process
# group (setsid), so local-down can stop it and all its children at once.
start() {
  local name=$1 logfile=$2
  shift 2
  setsid nohup "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$LOCAL_DIR/$name.pid"
}

# --------------------------------------------------------------- (a) moto --
if port_open "$LOCAL_AWS_PORT"; then
  say "moto: already listening on $AWS_URL"
else
  # moto with DynamoDB's per-item atomic conditional writes (see the script).
  say "starting moto on $AWS_URL"
  start "moto-$LOCAL_AWS_PORT" "$LOCAL_DIR/moto-$LOCAL_AWS_PORT.log" \
    "$BACKFLOW_PYTHON" "$REPO/scripts/moto_server.py" -H "$HOST" -p "$LOCAL_AWS_PORT"
  wait_port "$LOCAL_AWS_PORT" 60 moto "$LOCAL_DIR/moto-$LOCAL_AWS_PORT.pid" "$LOCAL_DIR/moto-$LOCAL_AWS_PORT.log"
fi

# ------------------------------------------------------- (b) the emulator --
if port_open "$LOCAL_INTERCOM_PORT"; then
  say "intercom-emulator: already listening on $INTERCOM_URL"
else
  say "building intercom-emulator (cargo build --release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$REPO" && cargo build --release --quiet -p intercom-emulator)
  read -r -a emulator_args <<<"$EMULATOR_ARGS"
  case " $EMULATOR_ARGS " in
    *" --token "* | *" --token="*) ;;
    *) emulator_args+=(--token "$INTERCOM_ACCESS_TOKEN") ;;
  esac
  say "starting intercom-emulator on $INTERCOM_URL${EMULATOR_ARGS:+ ($EMULATOR_ARGS)}"
  start "emulator-$LOCAL_INTERCOM_PORT" "$LOCAL_DIR/emulator-$LOCAL_INTERCOM_PORT.log" \
    "$CARGO_TARGET_DIR/release/intercom-emulator" --bind "$HOST:$LOCAL_INTERCOM_PORT" "${emulator_args[@]}"
  wait_port "$LOCAL_INTERCOM_PORT" 60 intercom-emulator "$LOCAL_DIR/emulator-$LOCAL_INTERCOM_PORT.pid" "$LOCAL_DIR/emulator-$LOCAL_INTERCOM_PORT.log"
fi

# ------------------------------------- (c) tables, bucket, secrets (moto) --
say "creating tables, bucket and secrets from infra/template.yaml"
"${stack[@]}" apply --endpoint "$AWS_URL" "${names[@]}" --intercom-token "$INTERCOM_ACCESS_TOKEN" | sed 's/^/  /'

# ---------------------------------------- (d) cargo lambda watch (functions) --
# The functions' environment: the template's, pointed at the local services.
# The quickstart config names the emulator's port as ${LOCAL_INTERCOM_PORT}.
env_args=(--set "LOCAL_INTERCOM_PORT=$LOCAL_INTERCOM_PORT")
if [[ -n ${BACKFLOW_RUN_DEADLINE_SECS:-} ]]; then
  env_args+=(--set "BACKFLOW_RUN_DEADLINE_SECS=$BACKFLOW_RUN_DEADLINE_SECS")
fi
"${stack[@]}" env --endpoint "$AWS_URL" --lambda-url "$LAMBDA_URL" --config "$BACKFLOW_CONFIG" \
  "${names[@]}" "${env_args[@]}" --env-file "$ENV_FILE" >/dev/null

if port_open "$LOCAL_LAMBDA_PORT"; then
  say "cargo lambda watch: already listening on $LAMBDA_URL"
else
  watch_opts=(--port "$LOCAL_LAMBDA_PORT" --env-file "$ENV_FILE" --concurrency "$LOCAL_LAMBDA_CONCURRENCY"
              --target-dir "$CARGO_TARGET_DIR")
  if [[ $LOCAL_LAMBDA_RELOAD == 1 ]]; then watch_opts+=(--reload); fi
  if [[ $LOCAL_LAMBDA_RELEASE == 1 ]]; then watch_opts+=(--release); fi
  mapfile -t watch_cmd < <("${stack[@]}" watch "${watch_opts[@]}")
  ((${#watch_cmd[@]})) || die "scripts/local_resources.py watch printed no command"
  say "starting cargo lambda watch on $LAMBDA_URL (functions compile on their first invoke)"
  (cd "$REPO" && start "lambda-$LOCAL_LAMBDA_PORT" "$LAMBDA_LOG" "${watch_cmd[@]}")
  wait_port "$LOCAL_LAMBDA_PORT" 120 "cargo lambda watch" "$LAMBDA_PID" "$LAMBDA_LOG"
fi

# cargo lambda watch compiles (cargo run) a function on its first invoke: warm
# all three now, so the first real request does not wait for a build.
say "warming trigger, extract and load (the first start compiles them; up to ${LOCAL_UP_TIMEOUT}s)"
pid_opt=()
if [[ -f $LAMBDA_PID ]]; then pid_opt=(--pid "$(cat "$LAMBDA_PID")"); fi
if ! "${stack[@]}" warm --lambda-url "$LAMBDA_URL" --log "$LAMBDA_LOG" "${pid_opt[@]}" \
  --timeout "$LOCAL_UP_TIMEOUT" --require-function-url >/dev/null; then
  tail -n 20 "$LAMBDA_LOG" >&2 || true
  # A function that failed to compile is never respawned by cargo lambda
  # watch: stop the one we started, so the next local-up starts afresh.
  if [[ -f $LAMBDA_PID ]]; then
    kill -TERM -- "-$(cat "$LAMBDA_PID")" 2>/dev/null || true
    rm -f "$LAMBDA_PID"
  fi
  die "the functions did not come up (log: $LAMBDA_LOG)"
fi

# --------------------------------------------- (e) the schedule (ticker) --
# EventBridge's every-minute rule, locally: a Scheduled Event to trigger on
# every whole minute (scripts/ticker.py), so cron schedules and `after:`
# chains run here as deployed. LOCAL_TICKER=0 leaves it off.
TICKER_PID="$LOCAL_DIR/ticker-$LOCAL_LAMBDA_PORT.pid"
TICKER_LOG="$LOCAL_DIR/ticker-$LOCAL_LAMBDA_PORT.log"
if [[ ${LOCAL_TICKER:-1} == 0 ]]; then
  say "ticker: off (LOCAL_TICKER=0): schedules fire only when trigger is sent a Scheduled Event"
elif [[ -f $TICKER_PID ]] && kill -0 "$(cat "$TICKER_PID")" 2>/dev/null \
  && tr '\0' ' ' <"/proc/$(cat "$TICKER_PID")/cmdline" 2>/dev/null | grep -q ticker.py; then
  say "ticker: already running (pid $(cat "$TICKER_PID"))"
else
  say "starting the ticker: a Scheduled Event to trigger every minute on the minute"
  start "ticker-$LOCAL_LAMBDA_PORT" "$TICKER_LOG" \
    "$BACKFLOW_PYTHON" -u "$REPO/scripts/ticker.py" --lambda-url "$LAMBDA_URL" --stack-name backflow
fi

cat <<EOF
local-up: ready
  AWS (moto):         $AWS_URL            tables $BACKFLOW_STATE_TABLE, $BACKFLOW_RUNS_TABLE; bucket $BACKFLOW_BUCKET; secret backflow/intercom
  Intercom emulator:  $INTERCOM_URL            token: $INTERCOM_ACCESS_TOKEN
  Lambda (watch):     $LAMBDA_URL            invoke: POST $LAMBDA_URL/2015-03-31/functions/{trigger,extract,load}/invocations
  schedule (ticker):  a Scheduled Event to trigger every minute (log: $TICKER_LOG)
  backflow API:       $LAMBDA_URL/lambda-url/trigger/syncs   (/syncs/{sync}/runs, /runs/{id}, /runs/{id}/rows)
  config:             $BACKFLOW_CONFIG
  Python tools:       $BACKFLOW_PYTHON
  logs and pids:      $LOCAL_DIR/   (stop with scripts/local-down.sh)
EOF
