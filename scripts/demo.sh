#!/usr/bin/env bash
# `make demo`: the whole pipeline on the local stack, no AWS account needed.
#   1. seed the quickstart SQLite warehouse (examples/quickstart/seed.py);
#   2. scripts/local-up.sh (moto, Intercom emulator, cargo lambda watch; idempotent);
#   3. scripts/demo.py: run every sync through the HTTP API, print the run
#      records and refused rows, then what the Intercom emulator holds, the
#      warehouse audiences synced as tags (who carries which), and a re-run of
#      the tagged sync with nothing changed (its Intercom calls counted).
# The warehouse is seeded before the functions start so that no function
# instance holds the file that seed.py replaces. Re-running the demo re-runs
# the syncs against the same stack: the second time, rows are "unchanged".
# Knobs: those of local-up.sh (LOCAL_*_PORT, EMULATOR_ARGS, INTERCOM_ACCESS_TOKEN,
# BACKFLOW_CONFIG, ...) and DEMO_RUN_TIMEOUT (300 s per run).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/python.sh" # BACKFLOW_PYTHON: the project's venv, never the active python3
export LOCAL_LAMBDA_PORT="${LOCAL_LAMBDA_PORT:-9000}"
export LOCAL_INTERCOM_PORT="${LOCAL_INTERCOM_PORT:-4010}"
export INTERCOM_ACCESS_TOKEN="${INTERCOM_ACCESS_TOKEN:-local-token}"

SEED="$REPO/examples/quickstart/seed.py"
if [[ -f $SEED ]]; then
  echo "demo: seeding the quickstart warehouse ($SEED)"
  "$BACKFLOW_PYTHON" "$SEED"
else
  echo "demo: $SEED not found; using the warehouse as it is"
fi

"$REPO/scripts/local-up.sh"

exec "$BACKFLOW_PYTHON" "$REPO/scripts/demo.py"
