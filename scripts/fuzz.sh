#!/usr/bin/env bash
# Fuzzes backflow-core for a bounded time (fuzz/, cargo-fuzz + libFuzzer):
#   config_parse  bytes -> config::parse, the functions' config entry point
#   coerce        warehouse cells -> value coercion and row mapping
#   http_request  an HTTP event -> the trigger's routing and request parsing
#   payloads      extract/load invocation payloads and S3 batches -> their types
# Each target starts from its committed seeds (fuzz/seeds/<target>) plus the corpus
# kept from earlier runs on this machine (<target dir>/fuzz/corpus/<target>), and
# runs for FUZZ_SECONDS (default 30). Exits non-zero when a target panics, breaks an
# invariant or hangs (> FUZZ_TIMEOUT seconds on one input, default 10); the input is
# then in fuzz/artifacts/<target>/ and the reproduce command is printed.
#
# Usage: scripts/fuzz.sh [target...]   (default: every target)
# Works on the stable toolchain: `--sanitizer none` needs no nightly flag
# (backflow-core forbids `unsafe`, so AddressSanitizer would add little).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-10}"
# The fuzz build has its own flags (instrumentation, cfg(fuzzing)): keep it apart
# from the workspace's build, beside it.
export CARGO_TARGET_DIR="$(scripts/target-dir.sh)/fuzz"
corpus_root="$CARGO_TARGET_DIR/corpus"
say() { printf 'fuzz: %s\n' "$*"; }

if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (crates.io)"
  cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  # A listing that fails, or finds nothing, fails the run: fuzzing nothing must
  # never look like a pass.
  listed="$(cargo fuzz list --fuzz-dir fuzz)"
  mapfile -t targets < <(grep -v '^[[:space:]]*$' <<<"$listed" || true)
fi
if [ "${#targets[@]}" -eq 0 ]; then
  say "FAILED: no fuzz target (cargo fuzz list --fuzz-dir fuzz found none)"
  exit 1
fi

say "building ${targets[*]} (sanitizer none, debug assertions on)"
for target in "${targets[@]}"; do
  cargo fuzz build --fuzz-dir fuzz --sanitizer none "$target"
done

failed=()
for target in "${targets[@]}"; do
  corpus="$corpus_root/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  say "running $target for ${FUZZ_SECONDS}s (seeds: fuzz/seeds/$target, corpus: $corpus)"
  log="$CARGO_TARGET_DIR/fuzz-$target.log"
  if cargo fuzz run --fuzz-dir fuzz --sanitizer none "$target" "$corpus" "fuzz/seeds/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
    cov=$(grep -oE 'DONE +cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 | sed 's/DONE *//' || true)
    say "$target: ok (${runs:-?}; ${cov:-?})"
  else
    say "$target: FAILED (full log: $log)"
    grep -m1 -A4 -E 'panicked at|ERROR: libFuzzer' "$log" || tail -20 "$log"
    grep -E 'Test unit written to' "$log" || true
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  say "crash or hang found in: ${failed[*]} (inputs in fuzz/artifacts/<target>/;"
  say "reproduce: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>)"
  exit 1
fi
say "no crash in ${targets[*]}"
