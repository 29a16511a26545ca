#!/usr/bin/env bash
# Usage: eval "$(scripts/stand-ins.sh)"
#
# Builds (once) the project-local virtual environments of the warehouse
# stand-ins and prints the variables the warehouse tests read to find them:
#   BACKFLOW_FAKESNOW_VENV  Snowflake: fakesnow's server mode (.local/venv/fakesnow)
#   BACKFLOW_CRUCIBLE_VENV  BigQuery: crucible-emulator (.local/venv/crucible)
# Each stand-in has its own venv because their DuckDB pins conflict. The tests
# start the servers themselves (one per test binary, on a free loopback port);
# without these variables they call scripts/venv.sh on first use instead.
set -euo pipefail
cd "$(dirname "$0")/.."
fakesnow="$(scripts/venv.sh fakesnow tests/python/requirements-fakesnow.txt)"
crucible="$(scripts/venv.sh crucible tests/python/requirements-crucible.txt)"
"$fakesnow/bin/fakesnow" --help >/dev/null
"$crucible/bin/crucible" serve --help >/dev/null
printf 'export BACKFLOW_FAKESNOW_VENV=%q\n' "$fakesnow"
printf 'export BACKFLOW_CRUCIBLE_VENV=%q\n' "$crucible"
