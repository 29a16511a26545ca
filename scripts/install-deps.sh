#!/usr/bin/env bash
# `make deps`: creates (once) the project's Python tools venv, .local/venv/tools:
# moto (AWS), cargo-lambda (Lambda), cfn-lint and checkov (infra checks), the
# official Intercom SDK (emulator conformance) and pytest, all pinned in
# tests/python/requirements.txt and all from PyPI. Nothing is installed into the
# machine's Python (scripts/venv.sh). The Rust toolchain is assumed.
set -euo pipefail
source "$(dirname "$0")/python.sh"
echo "Python tools: $BACKFLOW_PYTHON ($("$BACKFLOW_PYTHON" --version))"
