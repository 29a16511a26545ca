#!/usr/bin/env bash
# Installs the tools the local stack and the tests need, once: moto (AWS), cargo-lambda
# (Lambda), cfn-lint and checkov (infra checks), the official Intercom SDK (emulator
# conformance) and pytest. Everything comes from PyPI; the Rust toolchain is assumed.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp="$(scripts/target-dir.sh)/.deps-$(sha1sum tests/python/requirements.txt | cut -c1-12)"
if [ -f "$stamp" ] && command -v moto_server >/dev/null && command -v cargo-lambda >/dev/null; then
  exit 0
fi
echo "installing Python tools (tests/python/requirements.txt)..."
python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
mkdir -p "$(dirname "$stamp")" && touch "$stamp"
