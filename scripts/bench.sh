#!/usr/bin/env bash
# The benchmarks (`make bench`; results table in README.md):
#   emulator    cargo bench -p intercom-emulator                      requests/s of the emulator
#   throughput  cargo bench -p backflow-scenarios --bench throughput  issue 5 targets 1, 2, 3, 5:
#               rate limit, calls per changed row, the official SDK side by side, cost
#               -> benchmarks/throughput.md
#   coldstart   cargo bench -p backflow-coldstart                     init duration and artifact sizes
#               (when the crate is in the workspace)
#   scale       cargo bench -p backflow-scenarios --bench scale       dry runs over 1M rows
#               (when the bench exists) -> benchmarks/scale.md
#   tags        cargo bench -p backflow-scenarios --bench tags        Intercom calls per tag change
#               (10,000 contacts, 1,000 companies) -> benchmarks/tags.md
# Usage: scripts/bench.sh [emulator|throughput|coldstart|scale|tags]...   (default: all of them)
# Each bench's output is also kept in $CARGO_TARGET_DIR/backflow-bench/<name>.log.
# Exits 1 when any bench failed (the others still run).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$(scripts/target-dir.sh)"
export CARGO_TERM_COLOR=never
logs="$CARGO_TARGET_DIR/backflow-bench"
mkdir -p "$logs"

# moto, cargo-lambda, the official Intercom SDK (the side-by-side script): the
# project's venv, which the benches' harness runs through BACKFLOW_PYTHON.
source scripts/python.sh

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(emulator throughput coldstart scale tags)
want() { local w; for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

packages="$(cargo metadata --no-deps --format-version 1 2>/dev/null || true)"
in_workspace() { grep -q "\"name\":\"$1\"" <<<"$packages"; }
has_bench() { grep -q "\"name\":\"$1\",\"src_path\":\"[^\"]*/benches/" <<<"$packages"; }

failed=()
ran=()
bench() {
  local name=$1; shift
  printf '\n==> %s: %s\n' "$name" "$*"
  local start=$SECONDS
  if "$@" 2>&1 | tee "$logs/$name.log"; then
    ran+=("$name ($((SECONDS - start)) s)")
  else
    failed+=("$name")
  fi
}

want emulator && bench emulator cargo bench -p intercom-emulator
want throughput && bench throughput cargo bench -p backflow-scenarios --bench throughput -- all
if want coldstart; then
  if in_workspace backflow-coldstart; then
    bench coldstart cargo bench -p backflow-coldstart
  else
    echo "(cold start: tests/coldstart is not in the workspace yet; skipped)"
  fi
fi
if want scale; then
  if has_bench scale; then
    bench scale cargo bench -p backflow-scenarios --bench scale
  else
    echo "(scale: tests/scenarios/benches/scale.rs is not there yet; skipped)"
  fi
fi
if want tags; then
  bench tags cargo bench -p backflow-scenarios --bench tags
fi

printf '\n==> done: %s\n' "${ran[*]:-nothing}"
echo "results: benchmarks/*.md (throughput.md, scale.md, ...); full output: $logs/<bench>.log"
ls -1 benchmarks/*.md 2>/dev/null | sed 's/^/  /' || true
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
