#!/usr/bin/env bash
# The test command (README, CI): formatting, lints, every Rust test (unit, emulator,
# AWS adapters against moto, warehouses against the local PostgreSQL and MariaDB,
# end-to-end scenarios through cargo lambda watch), the Python tests (emulator
# conformance against Intercom's OpenAPI, the official SDK against the emulator, the
# infra checks), then the fuzz targets. Fails when any step fails.
#
# Nothing is skipped, and a test that did not run fails the command:
# - with CI set, a Rust test that cannot start what it needs fails (never returns
#   early), and pytest turns every skip into a failure (tests/python/conftest.py);
# - an `#[ignore]`d Rust test, or a "SKIPPED" line, fails the cargo test step;
# - scripts/fuzz.sh fails when it finds no fuzz target.
# Python is the project's venv (scripts/python.sh); BACKFLOW_PYTHON is exported so
# the Rust harnesses start moto and cargo lambda watch from the same venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$(scripts/target-dir.sh)"
export CARGO_TERM_COLOR=never
export CI="${CI:-1}"
source scripts/python.sh
logs="$CARGO_TARGET_DIR/backflow-test"
mkdir -p "$logs"
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (workspace; output also in $logs/cargo-test.log)"
cargo test --workspace --no-fail-fast 2>&1 | tee "$logs/cargo-test.log"
# `cargo test` does not run `#[ignore]`d tests: none may hide inside "everything".
if grep -E '^test result: ' "$logs/cargo-test.log" | grep -qvE ' 0 ignored'; then
  echo "FAILED: make test runs every test, and these are #[ignore]d (run them, or make them a bench):" >&2
  grep -E '^test .* \.\.\. ignored' "$logs/cargo-test.log" >&2 || true
  exit 1
fi
if grep -q '^SKIPPED' "$logs/cargo-test.log"; then
  echo "FAILED: tests were skipped:" >&2
  grep '^SKIPPED' "$logs/cargo-test.log" >&2
  exit 1
fi

step "pytest tests/python ($BACKFLOW_PYTHON)"
"$BACKFLOW_PYTHON" -m pytest tests/python -q -rs --no-skips

# cargo-fuzz on backflow-core's config parser and value coercion / row mapping (and
# the other targets under fuzz/), FUZZ_SECONDS per target (default 30; builds in
# <target dir>/fuzz). Fails the run on any panic, broken invariant or hang; the input
# is left in fuzz/artifacts/.
step "fuzz (scripts/fuzz.sh, ${FUZZ_SECONDS:-30}s per target)"
scripts/fuzz.sh
