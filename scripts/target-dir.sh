#!/usr/bin/env bash
# Prints the cargo target dir to use: outside the clone, so a fresh clone (CI) on
# the same machine reuses the build instead of starting from zero.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then echo "$CARGO_TARGET_DIR"; exit 0; fi
if [ -d /work ] && [ -w /work ]; then echo /work/cargo-target; else echo "$HOME/.cache/backflow-target"; fi
