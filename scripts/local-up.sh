#!/usr/bin/env bash
# Start backflow's local stack on 127.0.0.1 (`make local-up`):
#   moto server (S3, DynamoDB, Secrets Manager, ...)   LOCAL_AWS_PORT      (5000)
#   the Intercom emulator                                LOCAL_INTERCOM_PORT (4010)
#   cargo lambda watch serving trigger/extract/load      LOCAL_LAMBDA_PORT   (9000)
# then creates the tables, bucket and secrets that infra/template.yaml declares
# (scripts/local_resources.py reads them from the template) and waits until
# GET http://127.0.0.1:$LOCAL_LAMBDA_PORT/lambda-url/trigger/syncs answers 200.
#
# Idempotent: a service whose port already answers is left alone; the
# resources are re-applied every time (and the Intercom secret takes the
# current INTERCOM_ACCESS_TOKEN). Logs and pid files: $REPO/.local/<service>-<port>.{log,pid}.
# `scripts/local-down.sh` (same port variables) stops what this script started.
#
# Knobs (environment): LOCAL_AWS_PORT, LOCAL_INTERCOM_PORT, LOCAL_LAMBDA_PORT,
# EMULATOR_ARGS (extra intercom-emulator options; `--token $INTERCOM_ACCESS_TOKEN`
# is added unless they name a --token), INTERCOM_ACCESS_TOKEN (local-token),
# BACKFLOW_CONFIG (the quickstart config), BACKFLOW_RUN_DEADLINE_SECS (900),
# CARGO_TARGET_DIR (scripts/target-dir.sh), LOCAL_UP_TIMEOUT (600 s: the first
# start compiles the functions), LOCAL_LAMBDA_CONCURRENCY (4),
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
BACKFLOW_RUN_DEADLINE_SECS="${BACKFLOW_RUN_DEADLINE_SECS:-900}"
BACKFLOW_STATE_TABLE="${BACKFLOW_STATE_TABLE:-backflow-state}"
BACKFLOW_RUNS_TABLE="${BACKFLOW_RUNS_TABLE:-backflow-runs}"
BACKFLOW_BUCKET="${BACKFLOW_BUCKET:-backflow-local}"
LOCAL_UP_TIMEOUT="${LOCAL_UP_TIMEOUT:-600}"
LOCAL_LAMBDA_CONCURRENCY="${LOCAL_LAMBDA_CONCURRENCY:-4}"
LOCAL_LAMBDA_RELOAD="${LOCAL_LAMBDA_RELOAD:-0}"
LOCAL_LAMBDA_RELEASE="${LOCAL_LAMBDA_RELEASE:-0}"
# Shared with `make test` and CI (scripts/target-dir.sh: /work/cargo-target here).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$("$REPO/scripts/target-dir.sh")}"

HOST=127.0.0.1
AWS_URL="http://$HOST:$LOCAL_AWS_PORT"
INTERCOM_URL="http://$HOST:$LOCAL_INTERCOM_PORT"
LAMBDA_URL="http://$HOST:$LOCAL_LAMBDA_PORT"
# One set of files per port, so stacks on different ports do not mix pid files.
LAMBDA_LOG="$LOCAL_DIR/lambda-$LOCAL_LAMBDA_PORT.log"
LAMBDA_PID="$LOCAL_DIR/lambda-$LOCAL_LAMBDA_PORT.pid"

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
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    say "installing the Python tools (scripts/install-deps.sh)"
    "$REPO/scripts/install-deps.sh"
  fi
  # moto with DynamoDB's per-item atomic conditional writes (see the script).
  say "starting moto on $AWS_URL"
  start "moto-$LOCAL_AWS_PORT" "$LOCAL_DIR/moto-$LOCAL_AWS_PORT.log" python3 "$REPO/scripts/moto_server.py" -H "$HOST" -p "$LOCAL_AWS_PORT"
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
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  INTERCOM_ACCESS_TOKEN="$INTERCOM_ACCESS_TOKEN" \
  python3 "$REPO/scripts/local_resources.py" --endpoint "$AWS_URL" \
  --state-table "$BACKFLOW_STATE_TABLE" --runs-table "$BACKFLOW_RUNS_TABLE" \
  --bucket "$BACKFLOW_BUCKET" | sed 's/^/  /'

# ---------------------------------------- (d) cargo lambda watch (functions) --
# The environment the three functions see (what the SAM template gives them
# in AWS, pointed at the local services). BACKFLOW_LOCAL_INVOKE=detach: cargo
# lambda watch runs every invoke synchronously, InvocationType=Event included,
# so the functions fire their fan-out invokes without waiting for them.
ENV_FILE="$LOCAL_DIR/lambda-$LOCAL_LAMBDA_PORT.env"
cat >"$ENV_FILE" <<EOF
BACKFLOW_CONFIG=$BACKFLOW_CONFIG
BACKFLOW_STATE_TABLE=$BACKFLOW_STATE_TABLE
BACKFLOW_RUNS_TABLE=$BACKFLOW_RUNS_TABLE
BACKFLOW_BUCKET=$BACKFLOW_BUCKET
BACKFLOW_EXTRACT_FUNCTION=extract
BACKFLOW_LOAD_FUNCTION=load
BACKFLOW_RUN_DEADLINE_SECS=$BACKFLOW_RUN_DEADLINE_SECS
BACKFLOW_LOCAL_INVOKE=detach
BACKFLOW_INTERCOM_REGION=us
LOCAL_INTERCOM_PORT=$LOCAL_INTERCOM_PORT
AWS_ENDPOINT_URL=$AWS_URL
AWS_ENDPOINT_URL_LAMBDA=$LAMBDA_URL
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_REGION=us-east-1
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=info
EOF

if port_open "$LOCAL_LAMBDA_PORT"; then
  say "cargo lambda watch: already listening on $LAMBDA_URL"
else
  if ! cargo lambda --version >/dev/null 2>&1; then
    say "installing cargo-lambda (pip)"
    python3 -m pip install --quiet cargo-lambda
  fi
  watch_args=(--invoke-address "$HOST" --invoke-port "$LOCAL_LAMBDA_PORT" --env-file "$ENV_FILE")
  # --concurrency (cargo-lambda >= 1.9): several warm instances per function,
  # so parallel loads really run in parallel. Older versions run one at a time.
  watch_help=$(cargo lambda watch --help 2>/dev/null || true)
  if [[ $watch_help == *--concurrency* ]]; then
    watch_args+=(--concurrency "$LOCAL_LAMBDA_CONCURRENCY")
  else
    say "warning: this cargo-lambda has no --concurrency; invocations of a function run one at a time"
  fi
  # Without --ignore-changes every file written under the repo that .gitignore
  # does not cover (e.g. a SQLite journal next to the quickstart warehouse)
  # restarts the functions, killing invocations in flight.
  if [[ $LOCAL_LAMBDA_RELOAD != 1 ]]; then watch_args+=(--ignore-changes); fi
  if [[ $LOCAL_LAMBDA_RELEASE == 1 ]]; then watch_args+=(--release); fi
  say "starting cargo lambda watch on $LAMBDA_URL (functions compile on their first invoke)"
  (cd "$REPO" && start "lambda-$LOCAL_LAMBDA_PORT" "$LAMBDA_LOG" cargo lambda watch "${watch_args[@]}")
  wait_port "$LOCAL_LAMBDA_PORT" 120 "cargo lambda watch" "$LAMBDA_PID" "$LAMBDA_LOG"
fi

# cargo lambda watch compiles (cargo run) a function on its first invoke.
# Warm all three now, so the first real request does not wait for a build.
deadline=$((SECONDS + LOCAL_UP_TIMEOUT))
remaining() { local r=$((deadline - SECONDS)); ((r > 0)) && echo "$r" || echo 1; }
log_offset=$(($(wc -c <"$LAMBDA_LOG" 2>/dev/null || echo 0) + 1))

# A function that fails to compile never answers: cargo lambda watch does not
# respawn it and the request waits forever. Fail fast instead, and stop the
# watch so the next local-up (after the fix) starts a fresh one.
check_build() {
  if tail -c "+$log_offset" "$LAMBDA_LOG" 2>/dev/null | grep -q -e '^error: could not compile' -e '^error\[E'; then
    tail -c "+$log_offset" "$LAMBDA_LOG" | grep -A12 -e '^error' | head -n 60 >&2
    if [[ -f $LAMBDA_PID ]]; then # we started it: stop it (its process group)
      kill -TERM -- "-$(cat "$LAMBDA_PID")" 2>/dev/null || true
      rm -f "$LAMBDA_PID"
    fi
    die "the functions do not compile (cargo lambda watch stopped; log: $LAMBDA_LOG)"
  fi
}

say "waiting for trigger: GET $LAMBDA_URL/lambda-url/trigger/syncs (first start compiles; up to ${LOCAL_UP_TIMEOUT}s)"
status=000
answers=0 # consecutive answers other than 200 (the function runs but fails)
while :; do
  # Short attempts: a request left waiting keeps its place in the queue, and
  # between attempts the build log is checked for errors.
  attempt=$(remaining)
  ((attempt > 30)) && attempt=30
  status=$(curl -s -o "$LOCAL_DIR/syncs-$LOCAL_LAMBDA_PORT.json" -w '%{http_code}' --max-time "$attempt" \
    "$LAMBDA_URL/lambda-url/trigger/syncs" || true)
  [[ $status == 200 ]] && break
  check_build
  if ((SECONDS >= deadline)); then
    tail -n 40 "$LAMBDA_LOG" >&2 || true
    die "trigger did not answer 200 within ${LOCAL_UP_TIMEOUT}s (last status $status, body: $(head -c 500 "$LOCAL_DIR/syncs-$LOCAL_LAMBDA_PORT.json" 2>/dev/null)); log: $LAMBDA_LOG"
  fi
  if [[ -f $LAMBDA_PID ]] && ! kill -0 "$(cat "$LAMBDA_PID")" 2>/dev/null; then
    tail -n 40 "$LAMBDA_LOG" >&2 || true
    die "cargo lambda watch exited; log: $LAMBDA_LOG"
  fi
  if [[ $status != 000 ]]; then # answered, but not 200
    answers=$((answers + 1))
    if ((answers >= 30)); then
      tail -n 20 "$LAMBDA_LOG" >&2 || true
      die "GET /syncs keeps answering $status: $(head -c 500 "$LOCAL_DIR/syncs-$LOCAL_LAMBDA_PORT.json" 2>/dev/null) (log: $LAMBDA_LOG)"
    fi
    sleep 1
  fi
done

for fn in extract load; do
  say "warming $fn ({\"warmup\":true})"
  while :; do
    attempt=$(remaining)
    ((attempt > 30)) && attempt=30
    code=$(curl -s -o "$LOCAL_DIR/warmup-$fn-$LOCAL_LAMBDA_PORT.json" -w '%{http_code}' --max-time "$attempt" \
      -X POST -H 'content-type: application/json' -d '{"warmup":true}' \
      "$LAMBDA_URL/2015-03-31/functions/$fn/invocations" || true)
    [[ $code != 000 ]] && break
    check_build
    ((SECONDS < deadline)) || die "$fn did not answer its warm-up within ${LOCAL_UP_TIMEOUT}s; log: $LAMBDA_LOG"
  done
  [[ $code == 200 ]] || say "warning: $fn warm-up answered $code: $(head -c 300 "$LOCAL_DIR/warmup-$fn-$LOCAL_LAMBDA_PORT.json" 2>/dev/null) (see $LAMBDA_LOG)"
done

cat <<EOF
local-up: ready
  AWS (moto):         $AWS_URL            tables $BACKFLOW_STATE_TABLE, $BACKFLOW_RUNS_TABLE; bucket $BACKFLOW_BUCKET; secret backflow/intercom
  Intercom emulator:  $INTERCOM_URL            token: $INTERCOM_ACCESS_TOKEN
  Lambda (watch):     $LAMBDA_URL            invoke: POST $LAMBDA_URL/2015-03-31/functions/{trigger,extract,load}/invocations
  backflow API:       $LAMBDA_URL/lambda-url/trigger/syncs   (/syncs/{sync}/runs, /runs/{id}, /runs/{id}/rows)
  config:             $BACKFLOW_CONFIG
  logs and pids:      $LOCAL_DIR/   (stop with scripts/local-down.sh)
EOF
